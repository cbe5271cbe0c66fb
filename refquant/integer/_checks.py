"""Argument checks of :mod:`refquant.integer` (internal): integer arrays, never floats.

The fixed-point functions take integer arrays only (a float array, even one
holding integers, is a ``TypeError``: the arithmetic they mirror has no float
in it) and return their values as int64 arrays, so that every intermediate
product of two int32 values is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import check_scale, show_values

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def as_integers(
    name: str, value: Any, lo: int, hi: int, what: str = "", *, keep_dtype: bool = False
) -> NDArray[Any]:
    """``value`` (an integer array, Python ints or a list of them) as int64; every value in ``[lo, hi]``.

    Floats, bools, strings, complex and objects that are not Python ints raise
    ``TypeError``; values outside ``[lo, hi]`` raise ``ValueError`` naming ``name``.
    ``lo`` and ``hi`` must lie within int64. ``keep_dtype``: return the checked
    array in its own integer dtype (no int64 copy).
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer array, got the bool {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name} must be a (rectangular) array of integers, got {value!r}"[:300]) from None
    bounds = what or f"[{lo}, {hi}]"
    if arr.dtype.kind == "O":  # Python ints beyond int64
        flat = arr.ravel().tolist()
        if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
            raise ValueError(f"{name} must lie in {bounds}, got {show_values(arr)}")
        raise TypeError(f"{name} must be an integer array, got {value!r}"[:300])
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be an integer array (no float, bool or other dtype), got dtype {arr.dtype}: "
            f"{show_values(arr)}"
        )
    if arr.size:
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            bad = arr[(arr < lo) | (arr > hi)] if arr.dtype != np.uint64 else arr[arr > hi]
            raise ValueError(f"{name} must lie in {bounds}, got {show_values(bad)}")
    return arr if keep_dtype else arr.astype(np.int64, copy=False)


def as_int32(name: str, value: Any) -> NDArray[np.int64]:
    """Integer array with every value in int32's range, as int64."""
    return as_integers(name, value, INT32_MIN, INT32_MAX, "int32's range [-2**31, 2**31 - 1]")


def as_multiplier(name: str, value: Any) -> NDArray[np.int64]:
    """A quantized multiplier: 0 or in ``[2**30, 2**31 - 1]`` (Q0.31 in [0.5, 1))."""
    q = as_int32(name, value)
    bad = (q != 0) & (q < 2**30)
    if np.any(bad):
        raise ValueError(
            f"{name} must be 0 or lie in [2**30, 2**31 - 1] (a Q0.31 fraction in [0.5, 1), as "
            f"quantize_multiplier returns), got {show_values(q[bad])}"
        )
    return q


def as_shift(name: str, value: Any, lo: int = -31, hi: int = 30) -> NDArray[np.int64]:
    """A shift (an int or an integer array) in ``[lo, hi]``."""
    return as_integers(name, value, lo, hi)


def broadcast(names: tuple[str, ...], *arrays: NDArray[Any]) -> tuple[NDArray[Any], ...]:
    """``numpy.broadcast_arrays`` with a ``ValueError`` naming the arguments."""
    try:
        return tuple(np.broadcast_arrays(*arrays))
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays, strict=True))
        raise ValueError(f"{' and '.join(names)} do not broadcast together: {shapes}") from None


def as_scale32(name: str, value: Any) -> NDArray[np.float32]:
    """A positive finite scale array, rounded to float32 (where it must stay finite and > 0)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive real scale, got {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name} must be a rectangular array of scales, got {value!r}"[:300]) from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real (float) scale, got dtype {arr.dtype}: {show_values(arr)}")
    check_scale(name, arr)
    with np.errstate(over="ignore", under="ignore"):
        s = arr.astype(np.float32)
    ok = np.isfinite(s) & (s > 0)
    if not np.all(ok):
        raise ValueError(f"{name} must stay finite and > 0 in float32, got {show_values(arr[~ok])}")
    return s
