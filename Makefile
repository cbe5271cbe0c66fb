# refquant: every target bootstraps .venv itself on a fresh machine, and installs
# only the extras (setup.cfg) that it runs. Each set of extras has its own stamp,
# named after the target and keyed on the content of setup.cfg and pyproject.toml:
# editing either re-installs that set on the next run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KEY := $(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
stamp = $(VENV)/.installed-$(1)-$(KEY)
export HYPOTHESIS_PROFILE ?= ci

# The extras each target installs (empty: the package alone, numpy and scipy).
EXTRAS_demo :=
EXTRAS_lint := lint,plot,check
EXTRAS_pytest := test,conformance
EXTRAS_docs := docs
EXTRAS_bench := bench

# One pip at a time into the one .venv.
.NOTPARALLEL:
.PHONY: demo test lint types pytest docs bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# PYTHONWARNINGS hides setuptools' notice that an editable install of a flat
# layout uses a finder ("Editable installation. Please be careful with folders
# ..."): informational, printed on every install; a plain install prints nothing.
$(VENV)/.installed-%-$(KEY): $(PY)
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet -e ".$(if $(EXTRAS_$*),[$(EXTRAS_$*)])"
	touch $@

demo: $(call stamp,demo)
	$(VENV)/bin/refquant demo

test: lint types pytest docs

lint: $(call stamp,lint)
	$(VENV)/bin/ruff check refquant tests benchmarks docs/conf.py docs/check_offline.py conftest.py
	$(VENV)/bin/ruff format --check refquant tests benchmarks docs/conf.py docs/check_offline.py conftest.py

types: $(call stamp,lint)
	$(VENV)/bin/mypy

pytest: $(call stamp,pytest)
	$(PY) -m pytest

# The notebooks are executed during the build (myst-nb); then no page may load a
# script or stylesheet from the network (MathJax is bundled).
docs: $(call stamp,docs)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(PY) docs/check_offline.py docs/_build/html

bench: $(call stamp,bench)
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf docs/_build .pytest_cache .mypy_cache .ruff_cache
