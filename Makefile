# refquant: every target bootstraps .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed
export HYPOTHESIS_PROFILE ?= ci

.PHONY: demo test lint types pytest docs bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEMO_STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP): $(PY)
	$(PY) -m pip install --quiet -e ".[test,conformance,docs]"
	touch $@

demo: $(DEMO_STAMP)
	$(VENV)/bin/refquant demo

test: lint types pytest docs

lint: $(STAMP)
	$(VENV)/bin/ruff check refquant tests benchmarks docs/conf.py conftest.py
	$(VENV)/bin/ruff format --check refquant tests benchmarks docs/conf.py conftest.py

types: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf docs/_build .pytest_cache .mypy_cache .ruff_cache
