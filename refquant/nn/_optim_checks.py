"""Argument checks of :mod:`refquant.nn.optim` (torch's hyperparameter ranges); read-only state buffers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[Any]


def frozen(a: Array) -> Array:
    """``a`` made read-only (state buffers are never written after a step returns them)."""
    a.flags.writeable = False
    return a


def param_list(params: Sequence[ArrayLike]) -> list[Array]:
    """``params`` as a list of float32/float64 arrays (``TypeError`` otherwise)."""
    if isinstance(params, (np.ndarray, str, bytes)) or not isinstance(params, Sequence):
        raise TypeError(f"params must be a sequence of arrays, got {type(params).__name__}")
    out = [np.asarray(p) for p in params]
    for i, p in enumerate(out):
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(f"params[{i}] must be float32 or float64, got dtype {p.dtype}")
    return out


def grad_list(grads: Sequence[ArrayLike], params: list[Array]) -> list[Array]:
    """``grads`` as arrays of the shapes and dtypes of ``params``, one each."""
    if isinstance(grads, (np.ndarray, str, bytes)) or not isinstance(grads, Sequence):
        raise TypeError(f"grads must be a sequence of arrays, got {type(grads).__name__}")
    if len(grads) != len(params):
        raise ValueError(
            f"grads must have one array per parameter (params has {len(params)}), got {len(grads)}"
        )
    # a list or scalar has no dtype of its own: it takes its parameter's
    out = [
        g if isinstance(g, np.ndarray) else _as_param_dtype(i, g, p)
        for i, (g, p) in enumerate(zip(grads, params, strict=True))
    ]
    for i, (g, p) in enumerate(zip(out, params, strict=True)):
        if g.shape != p.shape:
            raise ValueError(f"grads[{i}] must have shape {p.shape} (params[{i}]), got {g.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"grads[{i}] must have dtype {p.dtype} (params[{i}]), got {g.dtype}")
    return out


def _as_param_dtype(i: int, g: object, p: Array) -> Array:
    try:
        a = np.asarray(g)
    except (TypeError, ValueError):
        raise TypeError(f"grads[{i}] must be an array, got {type(g).__name__}") from None
    if a.dtype.kind not in "iuf":
        raise TypeError(f"grads[{i}] must hold real numbers, got dtype {a.dtype}")
    with np.errstate(over="ignore"):
        out = a.astype(p.dtype)
    if np.any(np.isfinite(a) & ~np.isfinite(out)):
        raise ValueError(f"grads[{i}] holds values beyond params[{i}]'s dtype {p.dtype}")
    return out


def flag(name: str, value: object) -> bool:
    """A bool (Python or NumPy); anything else is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def representable(name: str, value: float, params: list[Array]) -> None:
    """``value`` (a hyperparameter, rounded to each parameter's dtype by the kernels) must stay finite."""
    for p in params:
        if p.dtype == np.float32 and abs(value) > float(np.finfo(np.float32).max):
            raise ValueError(f"{name}={value!r} overflows the parameters' dtype float32")


def check_overflow(fname: str, inputs: list[Array], outputs: list[Array]) -> None:
    """``ValueError`` when an update overflows: a non-finite output although every input is finite."""
    if all(np.isfinite(o).all() for o in outputs):
        return
    if not all(np.isfinite(a).all() for a in inputs):
        return  # NaN and inf in the inputs propagate, as in torch
    raise ValueError(
        f"{fname} overflows: a new parameter or state buffer is not finite although params, grads and "
        "the state are (e.g. Adam's g**2 beyond the float32 maximum, or a huge lr); torch returns inf "
        "or NaN here"
    )


def check_buffers(name: str, bufs: tuple[Array | None, ...], params: list[Array], optional: bool) -> None:
    """State buffers ``name`` must be arrays like ``params`` (``None`` allowed when ``optional``)."""
    if len(bufs) != len(params):
        raise ValueError(f"{name} must have one buffer per parameter ({len(params)}), got {len(bufs)}")
    for i, (b, p) in enumerate(zip(bufs, params, strict=True)):
        if b is None and optional:
            continue
        if not isinstance(b, np.ndarray) or b.shape != p.shape or b.dtype != p.dtype:
            got = f"{b.shape} {b.dtype}" if isinstance(b, np.ndarray) else type(b).__name__
            raise ValueError(f"{name}[{i}] must be a {p.shape} {p.dtype} array like params[{i}], got {got}")


def real_number(name: str, value: object) -> float:
    """A finite real hyperparameter as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def nonnegative(name: str, value: object) -> float:
    """A finite hyperparameter >= 0 as a float."""
    x = real_number(name, value)
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {x}")
    return x
