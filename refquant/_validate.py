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
    their dtype. Complex and object inputs raise ``TypeError``; ragged nested
    lists raise ``ValueError`` naming ``name`` (not NumPy's text).
    """
    arr = _asarray(name, value)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be a real floating-point array, got dtype {arr.dtype}: {show_values(arr)}")


def as_int_array(name: str, value: ArrayLike) -> NDArray[np.int64]:
    """Return ``value`` as an int64 array; floats must hold integer values; all must fit int64.

    Python integers beyond int64 (which NumPy stores as objects) raise ``ValueError``;
    other object, string, complex and boolean inputs raise ``TypeError``.
    """
    arr = _asarray(name, value)
    if arr.dtype.kind == "O":
        flat = arr.ravel().tolist()
        if flat and all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
            raise ValueError(f"{name} must fit in int64, got {show_values(arr)}")
        raise TypeError(f"{name} must be an integer array, got {value!r}"[:300])
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
    raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}: {show_values(arr)}")


def _asarray(name: str, value: Any) -> NDArray[Any]:
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name} must be a (rectangular) array of numbers, got {value!r}"[:300]) from None


def check_scale(name: str, scale: NDArray[Any]) -> None:
    """Scales must be finite and strictly positive."""
    if scale.size and not np.all(np.isfinite(scale) & (scale > 0)):
        bad = scale[~(np.isfinite(scale) & (scale > 0))]
        raise ValueError(f"{name} must be finite and > 0, got {show_values(bad)}")


def check_scale_cast(name: str, given: NDArray[Any], cast: NDArray[Any]) -> None:
    """``given``, valid, must stay finite and > 0 when rounded to ``cast``'s dtype."""
    ok = np.isfinite(cast) & (cast > 0)
    if cast.size and not np.all(ok):
        raise ValueError(
            f"{name} (rounded to the compute dtype) must be finite and > 0, got {show_values(given[~ok])} "
            f"(as {cast.dtype}: {show_values(cast[~ok])})"
        )


def check_reciprocal(name: str, scale: NDArray[Any]) -> NDArray[Any]:
    """``1 / scale`` in ``scale``'s dtype; ``ValueError`` where it overflows (subnormal scales)."""
    one = np.ones((), scale.dtype)
    with np.errstate(over="ignore", divide="ignore"):
        inv = np.divide(one, scale, dtype=scale.dtype)
    bad = ~np.isfinite(inv)
    if np.any(bad):
        raise ValueError(
            f"{name} must have a finite reciprocal in the compute dtype {scale.dtype} for "
            f"op_order='multiply', got {show_values(scale[bad])} (1/{name} overflows {scale.dtype}); "
            "use op_order='divide' or a wider compute_dtype"
        )
    return inv


def check_int(name: str, value: Any) -> int:
    """``value`` as a Python int (Python or NumPy integers; not bools), ``TypeError`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool (``bool`` or ``numpy.bool_``), ``TypeError`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def as_dtype(
    name: str, value: Any, allowed: tuple[str, ...] = FLOAT_DTYPES, what: str = "a float dtype"
) -> np.dtype[Any]:
    """``value`` as one of the ``allowed`` NumPy dtypes (names); ``TypeError`` naming ``name`` otherwise.

    ``None``, Python numbers and anything ``numpy.dtype`` does not understand
    are rejected with the value in the message (not NumPy's own text).
    """
    try:
        dt = np.dtype(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {what} {allowed}, got {value!r}") from None
    if value is None or isinstance(value, (bool, int, float, np.generic)) or dt.name not in allowed:
        raise TypeError(f"{name} must be {what} {allowed}, got {value!r}")
    return dt


def check_out(name: str, out: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    """``out`` must be a writable ndarray of ``shape`` and ``dtype``."""
    if not isinstance(out, np.ndarray):
        got = f"{type(out).__name__} {out!r}"[:200]
        raise TypeError(f"{name} must be a numpy.ndarray of shape {shape} and dtype {dtype}, got {got}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(
            f"{name} must be an array of shape {shape} and dtype {dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable, got a read-only array of shape {out.shape}")


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
    qmin, qmax = int(qmin), int(qmax)  # NumPy integers of mixed signedness would promote to float64
    if not qmin < qmax:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={qmin}, quant_max={qmax}")
    if qmin < -(2**53) or qmax > 2**53 or qmax - qmin > 2**53:
        raise ValueError(
            f"quant_min={qmin}, quant_max={qmax}: the range must lie within [-2**53, 2**53] and span "
            "at most 2**53 (codes are computed in float64, exact only up to 2**53)"
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


def show_values(arr: Any) -> str:
    """The first five values of ``arr``, each printed as NumPy prints that scalar (``[1e-40, 3]``)."""
    flat = np.asarray(arr).ravel()
    items = [repr(str(v)) if isinstance(v, (str, bytes)) else str(v) for v in flat[:5].tolist()]
    if flat.dtype.kind == "f":  # the shortest repr in the array's own precision: 0.1 in float32
        items = [str(v) for v in flat[:5]]
    return "[" + ", ".join(items) + (", ...]" if flat.size > 5 else "]")


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
