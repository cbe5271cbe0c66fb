"""No public namespace escapes the hostile layer: a new module with ``__all__`` is covered the day it lands.

Every module of the package whose dotted name has no private part and that
declares ``__all__`` is found by walking the package. Each callable it lists
must be reachable, as the same object, from a namespace the hostile layer
enumerates (``tests/hostile/api.py``), so that the registry coverage test
asks for its entry; or the module is exempt below, with the reason.
"""

from __future__ import annotations

import importlib
import pkgutil

import refquant
from tests.hostile.api import modules, public_callables

# modules whose public callables are not array math fed the hostile set, and why
EXEMPT_MODULES = {
    "refquant.cli": "the command line: every argument is checked by argparse (tests/test_cli.py)",
    "refquant.cli.args": "the command line's argparse type functions (tests/test_cli.py)",
    "refquant.cli.check": "`refquant check`, `refquant vectors`: case files (tests/test_cli_check.py)",
    "refquant.recipes.demo": "the pipeline behind `refquant demo` (tests/test_demo.py, tests/test_cli.py)",
    "refquant.recipes.demo_plot": "the demo's figure (tests/test_demo.py)",
    "refquant.recipes.integer": "the demo row integer-only-int8 (tests/test_demo.py)",
    "refquant.recipes.integer_onnx": "the integer MLP as ONNX graph data (tests/recipes, tests/conformance)",
    "refquant.check.hostile": "the hostile catalogues themselves (doctests and tests/hostile use them)",
    "refquant.check.hostile_params": "the hostile catalogues themselves",
    "refquant.check.strategies": "hypothesis strategies over the hostile catalogues",
}


def _public_modules() -> list[str]:
    out = []
    for info in pkgutil.walk_packages(refquant.__path__, "refquant."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        out.append(info.name)
    return sorted(out)


def test_every_public_module_is_enumerated_or_reexported() -> None:
    covered = {id(obj) for _, _, obj in public_callables()}
    enumerated = set(modules())
    missing = []
    for name in _public_modules():
        if name in enumerated or name in EXEMPT_MODULES:
            continue
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", ()):
            obj = getattr(mod, attr)
            if callable(obj) and type(obj).__module__ != "typing" and id(obj) not in covered:  # not an alias
                missing.append(f"{name}.{attr}")
    assert not missing, (
        "public callables that no namespace of tests/hostile/api.py hands on (add the namespace to "
        f"NAMESPACES and SHORT, then registry entries; or exempt the module with the reason): {missing}"
    )


def test_the_walk_finds_the_namespaces() -> None:
    found = _public_modules()
    assert "refquant.prune.masks" in found and "refquant.interop.torch.fake_quant" in found
    assert not any("._" in m for m in found)
