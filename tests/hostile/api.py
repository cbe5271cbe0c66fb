"""The public API, enumerated from the ``__all__`` lists of the public namespaces.

Only public namespaces are imported (modules move underneath them). The
gradient layer is ``refquant.grad`` when it exists, else its four former
flat modules.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

GRAD_FALLBACK = ("refquant.ste", "refquant.lsq", "refquant.pact_dorefa", "refquant.normalize")

NAMESPACES = (
    "refquant",
    "grad",
    "refquant.prune",
    "refquant.nn",
    "refquant.nn.mlp",
    "refquant.nn.optim",
    "refquant.nn.train",
    "refquant.nn.qat",
    "refquant.check",
    "refquant.interop.torch",
    "refquant.interop.onnx",
    "refquant.interop.tf",
    "refquant.interop.tfmot",
    "refquant.datasets",
    "refquant.recipes.ptq",
    "refquant.recipes.pruning",
    "refquant.recipes.formats",
    "refquant.floats",
    "refquant.calibrate",
    "refquant.calibrate.ranges",
    "refquant.calibrate.histogram",
    "refquant.calibrate.streaming",
    "refquant.calibrate.entropy",
    "refquant.calibrate.mse",
    "refquant.interop.modelopt",
    "refquant.interop.onnxruntime",
    "refquant.recipes.calibration",
    "refquant.integer",
    "refquant.nn.integer",
    "refquant.interop.tflite",
    "refquant.interop.onnx_integer",
)

# short prefixes used by the registry's targets ("prune:block_mask")
SHORT = {
    "refquant": "refquant",
    "prune": "refquant.prune",
    "nn": "refquant.nn",
    "nn.mlp": "refquant.nn.mlp",
    "nn.optim": "refquant.nn.optim",
    "nn.train": "refquant.nn.train",
    "nn.qat": "refquant.nn.qat",
    "check": "refquant.check",
    "torch": "refquant.interop.torch",
    "onnx": "refquant.interop.onnx",
    "tf": "refquant.interop.tf",
    "tfmot": "refquant.interop.tfmot",
    "datasets": "refquant.datasets",
    "ptq": "refquant.recipes.ptq",
    "pruning": "refquant.recipes.pruning",
    "formats": "refquant.recipes.formats",
    "floats": "refquant.floats",
    "calibrate": "refquant.calibrate",
    "integer": "refquant.integer",
    "nn.integer": "refquant.nn.integer",
    "tflite": "refquant.interop.tflite",
    "onnx_integer": "refquant.interop.onnx_integer",
    "calibrate.ranges": "refquant.calibrate.ranges",
    "calibrate.histogram": "refquant.calibrate.histogram",
    "calibrate.streaming": "refquant.calibrate.streaming",
    "calibrate.entropy": "refquant.calibrate.entropy",
    "calibrate.mse": "refquant.calibrate.mse",
    "modelopt": "refquant.interop.modelopt",
    "onnxruntime": "refquant.interop.onnxruntime",
    "calibration": "refquant.recipes.calibration",
}


def grad_modules() -> tuple[str, ...]:
    """``("refquant.grad",)`` once it exists, else the flat modules that still exist."""
    try:
        importlib.import_module("refquant.grad")
        return ("refquant.grad",)
    except ImportError:
        out = []
        for m in GRAD_FALLBACK:
            try:
                importlib.import_module(m)
                out.append(m)
            except ImportError:
                pass
        return tuple(out)


def modules() -> list[str]:
    out: list[str] = []
    for ns in NAMESPACES:
        out += list(grad_modules()) if ns == "grad" else [ns]
    return out


def public_api() -> list[tuple[str, str, Any]]:
    """``(module, name, object)`` for every name in every public ``__all__``."""
    out = []
    for m in modules():
        mod = importlib.import_module(m)
        for name in getattr(mod, "__all__", ()):
            out.append((m, name, getattr(mod, name)))
    return out


def public_callables() -> list[tuple[str, str, Any]]:
    return [(m, n, o) for m, n, o in public_api() if callable(o)]


def resolve(target: str) -> Any:
    """The object a registry target names: ``"prune:block_mask"``, ``"grad:pact"``, ...."""
    prefix, _, name = target.partition(":")
    if prefix == "grad":
        for m in grad_modules():
            mod = importlib.import_module(m)
            if name in getattr(mod, "__all__", ()):
                return getattr(mod, name)
        raise LookupError(f"{name!r} is in no gradient module's __all__ ({grad_modules()})")
    mod = importlib.import_module(SHORT[prefix])
    if name not in getattr(mod, "__all__", ()):
        raise LookupError(f"{name!r} is not in {SHORT[prefix]}.__all__")
    return getattr(mod, name)


def is_plain_class(obj: Any) -> bool:
    return inspect.isclass(obj)
