"""The floors (docs/architecture.md): imports go one way, no circle, no source file over 600 lines.

The map is read from the source with :mod:`ast` (every ``import`` and
``from ... import``, also those inside functions), so a new module is checked
the day it lands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "refquant"
MAX_LINES = 600

# floor of each top-level part of the package; a module may import only from floors below its own
# (and from its own part). The base (private helpers) is floor 0.
FLOORS: dict[str, float] = {
    "_validate": 0,
    "_types": 0,
    "_exact": 0,
    "_version": 0,
    "_granularity": 0.5,
    "formats": 1,
    "rounding": 2,
    "qparams": 3,
    "quantize": 4,
    "floats": 4.5,  # low-precision floats, block formats, NF4, fixed point, codebooks
    "grad": 5,
    "calibrate": 5,  # range estimators, histograms (may use floats for the float-format MSE search)
    "integer": 5,  # integer-only arithmetic: fixed-point requantization, integer matmul
    "prune": 5,
    "datasets": 5,
    "interop": 6,
    "nn": 7,
    "recipes": 8,
    "check": 8.5,  # the oracle: compares, diagnoses against the systems of interop, inputs for other suites
    "cli": 9,
    "__main__": 10,
    "__init__": 10,
}
# the math (core, gradients, pruning, calibration) knows no network, no framework profile, no CLI
MATH = ("formats", "rounding", "qparams", "quantize", "grad", "prune", "calibrate", "integer")
FORBIDDEN_FOR_MATH = ("nn", "recipes", "interop", "cli", "datasets")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            submodules = {f"{mod}.{a.name}" for a in node.names} & set(MODULES)
            found.update(submodules or {mod})  # ``from refquant import _granularity`` imports the module
    return {m for m in found if m == "refquant" or m.startswith("refquant.")}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_part_has_a_floor() -> None:
    missing = sorted({_part(m) for m in MODULES} - set(FLOORS))
    assert not missing, f"add these parts of refquant to FLOORS and docs/architecture.md: {missing}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_floors(module: str) -> None:
    part = _part(module)
    bad = []
    for target in sorted(GRAPH[module]):
        tpart = _part(target)
        if target == "refquant" and part != "__init__":
            bad.append(f"{target} (the top-level namespace; import the module)")
        elif tpart != part and FLOORS[tpart] >= FLOORS[part]:
            bad.append(f"{target} (floor {FLOORS[tpart]} >= {part}'s {FLOORS[part]})")
        elif part in MATH and tpart in FORBIDDEN_FOR_MATH:
            bad.append(f"{target} (the math knows no {tpart})")
    assert not bad, f"{module} imports upward: {bad}"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH.get(m, ())):
            if t not in GRAPH:
                continue
            if state.get(t) == 1:
                cycle = [*stack[stack.index(t) :], t]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


SOURCES = sorted(
    p
    for d in ("refquant", "tests", "benchmarks")
    for p in (ROOT.parent / d).rglob("*.py")
    if ".venv" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_module_is_short(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path} has {n} lines (> {MAX_LINES}): split it"


def test_the_checker_sees_a_bad_import(tmp_path: Path) -> None:
    """The parser itself: a function-level upward import is found."""
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from refquant.nn.layers import relu\n    return relu\n")
    assert "refquant.nn.layers" in _imports("refquant.prune.m", p)
    p.write_text("from .masks import unstructured_mask\n")
    assert "refquant.prune.masks" in _imports("refquant.prune.m", p)
