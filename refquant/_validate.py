"""Argument checks shared by the public functions (internal).

Every public function validates at its boundary and raises ``ValueError`` or
``TypeError`` naming the argument and the offending value; helpers called
after validation trust their callers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_float_array(name: str, value: ArrayLike) -> NDArray[np.floating[Any]]:
    """Return ``value`` as a floating-point array without copying floats.

    Integer and boolean inputs are converted to float64; float16/32/64 keep
    their dtype. Complex and object inputs raise ``TypeError``.
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be a real floating-point array, got dtype {arr.dtype}")


def as_int_array(name: str, value: ArrayLike) -> NDArray[np.int64]:
    """Return ``value`` as an int64 array; floats must hold integer values; all must fit int64."""
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(
                f"{name} must fit in int64, got {show_values(arr[arr > np.iinfo(np.int64).max])}"
            )
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integers, got {show_values(arr)}")
        big = (arr < -(2.0**63)) | (arr >= 2.0**63)
        if np.any(big):
            raise ValueError(f"{name} must fit in int64, got {show_values(arr[big])}")
        return arr.astype(np.int64)
    raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")


def check_scale(name: str, scale: NDArray[Any]) -> None:
    """Scales must be finite and strictly positive."""
    if scale.size and not np.all(np.isfinite(scale) & (scale > 0)):
        bad = scale[~(np.isfinite(scale) & (scale > 0))]
        raise ValueError(f"{name} must be finite and > 0, got {show_values(bad)}")


def check_range(qmin: int, qmax: int) -> None:
    """The integer range must be non-empty and exact in float64.

    Codes are computed and clipped in floating point (float64 at the widest),
    whose integers are exact up to ``2**53``: both bounds, and their distance
    (which bounds ``|q - z|``), must lie within it, or codes beyond the range
    could be returned.
    """
    for label, v in (("quant_min", qmin), ("quant_max", qmax)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{label} must be an int, got {v!r}")
    if not qmin < qmax:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={qmin}, quant_max={qmax}")
    if qmin < -(2**53) or qmax > 2**53 or qmax - qmin > 2**53:
        raise ValueError(
            f"the range [{qmin}, {qmax}] must lie within [-2**53, 2**53] and span at most 2**53 "
            "(codes are computed in float64, exact only up to 2**53)"
        )


def check_zero_point(name: str, zero_point: NDArray[np.int64], qmin: int, qmax: int) -> None:
    """Zero points must lie inside [qmin, qmax]."""
    if zero_point.size and (zero_point.min() < qmin or zero_point.max() > qmax):
        bad = zero_point[(zero_point < qmin) | (zero_point > qmax)]
        raise ValueError(f"{name} must lie in [{qmin}, {qmax}], got {show_values(bad)}")


def normalize_axis(name: str, axis: int, ndim: int) -> int:
    """Return a non-negative axis, raising ``ValueError`` when out of range."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an array of {ndim} dimensions")
    return int(axis) % ndim


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def show_values(arr: NDArray[Any]) -> str:
    flat = np.asarray(arr).ravel()
    text = np.array2string(flat[:5], separator=", ")
    return text if flat.size <= 5 else text[:-1] + ", ...]"


def cotangent(g: ArrayLike, like: NDArray[Any], what: str = "x") -> NDArray[Any]:
    """The cotangent ``g`` as an array of ``like``'s shape and float dtype (``ValueError`` otherwise)."""
    ga = np.asarray(as_float_array("g", g), dtype=like.dtype)
    if ga.shape != like.shape:
        raise ValueError(f"g must have the shape of {what} {like.shape}, got {ga.shape}")
    return ga


def grad_and_input(g: ArrayLike, x: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    """``x`` as a float array and ``g`` as a cotangent of its shape and dtype."""
    xa = as_float_array("x", x)
    return xa, cotangent(g, xa)
