"""Argument checks of the gradient layer (internal): scalar knobs, flags, bits.

The array checks are the core's (:mod:`refquant._validate`); these cover the
scalar parameters the gradient quantizers add (PACT's ``alpha``, LSQ's
``step``, ``offset`` and ``grad_scale``, DoReFa's ``bits``, the boolean
switches), with messages that name the argument and show the value as given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, show_values

_REAL = (int, float, np.integer, np.floating)


def real_array(name: str, value: ArrayLike) -> NDArray[Any]:
    """``value`` as a float array (:func:`refquant._validate.as_float_array`), showing a bad value."""
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a real number or array, got {value!r}")
    try:
        return as_float_array(name, value)
    except TypeError as e:
        raise TypeError(f"{e} ({name}={_short(value)})") from None


def scalar(name: str, value: object, dtype: np.dtype[Any], what: str = "finite") -> Any:
    """A real scalar (Python or NumPy number, or a 0-d array) as a ``dtype`` scalar; not bool."""
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, _REAL) or (isinstance(value, np.ndarray) and value.ndim == 0)
    ):
        raise TypeError(f"{name} must be a real scalar, got {_short(value)}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real scalar, got {_short(value)}")
    v = float(arr)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be {what}, got {v}")
    with np.errstate(over="ignore", under="ignore"):
        out = dtype.type(v)
    if not np.isfinite(out):
        raise ValueError(f"{name}={v!r} overflows x's dtype {dtype} (it rounds to {out})")
    return out


def positive(name: str, value: object, dtype: np.dtype[Any]) -> Any:
    """A finite scalar > 0, still > 0 and finite when rounded to ``dtype``."""
    out = scalar(name, value, dtype, "finite and > 0")
    v = float(np.asarray(value))
    if not v > 0:
        raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    if not out > 0:
        raise ValueError(f"{name}={v!r} underflows to 0 in x's dtype {dtype}")
    return out


def flag(name: str, value: object) -> bool:
    """A bool (Python or NumPy); anything else is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_short(value)}")
    return bool(value)


def levels(bits: object) -> int:
    """``2**bits - 1`` for ``bits`` in [1, 32], an exact Python int."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"bits must be an int, got {_short(bits)}")
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in [1, 32], got {bits}")
    return int(2 ** int(bits) - 1)


def reduced(name: str, total: Any, dtype: np.dtype[Any], why: str) -> NDArray[Any]:
    """A float64 reduction rounded to ``dtype``; ``ValueError`` when a finite total overflows it."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(total, dtype=dtype)
    t = np.asarray(total)
    bad = np.isfinite(t) & ~np.isfinite(out) if out.ndim else (np.isfinite(t) and not np.isfinite(out))
    if np.any(bad):
        v = float(t.flat[int(np.argmax(bad))]) if t.ndim else float(t)
        raise ValueError(f"{name} = {v!r} overflows x's dtype {dtype} ({why})")
    return out


def cotangent(g: ArrayLike, like: NDArray[Any], what: str = "x") -> NDArray[Any]:
    """``g`` as an array of ``like``'s shape and float dtype; a finite value it cannot hold is an error."""
    ga = real_array("g", g)
    if ga.shape != like.shape:
        shown = f" ({show_values(ga)})" if 0 < ga.size <= 5 else ""
        raise ValueError(f"g must have the shape of {what} {like.shape}, got shape {ga.shape}{shown}")
    if ga.dtype == like.dtype:
        return ga
    with np.errstate(over="ignore"):
        out = ga.astype(like.dtype)
    if out.size and not np.isfinite(out).all():
        lost = np.isfinite(ga) & ~np.isfinite(out)
        if lost.any():
            raise ValueError(
                f"g holds {show_values(ga[lost])}, beyond the range of {what}'s dtype {like.dtype} "
                "(the cotangent is cast to it)"
            )
    return out


def check_overflow(fname: str, results: tuple[Any, ...], **inputs: Any) -> None:
    """``ValueError`` when a result is not finite although every input is (an overflow of its dtype).

    ``inputs`` are the arrays (or scalars) the results were computed from, by argument name;
    the message names each with its largest magnitude.
    """
    if all(np.isfinite(np.asarray(r)).all() for r in results if r is not None):
        return
    arrays = {k: np.asarray(v) for k, v in inputs.items() if v is not None}
    if not all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind in "fc"):
        return
    dtypes = sorted({str(np.asarray(r).dtype) for r in results if r is not None})
    sizes = ", ".join(
        f"max |{k}| = {str(np.max(np.abs(a))) if a.size else 0}"
        for k, a in arrays.items()
        if a.dtype.kind in "fiu"
    )
    raise ValueError(
        f"{fname} overflows {'/'.join(dtypes)}: its exact result is beyond the dtype's range "
        f"for these finite inputs ({sizes})"
    )


def _short(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
