"""Hostile values for testing array functions: the catalogues of values and arrays.

A catalogue is a plain function returning a list of :class:`Hostile` values
(deterministic, cheap, fresh objects on every call, so a test may pass them to
the function under test and compare them afterwards). NumPy only; the
hypothesis strategies over them are in :mod:`refquant.check.strategies`, the
parameter catalogues (scales, zero points, ranges, ...) in
:mod:`refquant.check.hostile_params`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Hostile", "hostile_array_cases", "hostile_finite_values", "hostile_float_values"]


class Hostile(NamedTuple):
    """One hostile value, with what a function owes it.

    Attributes
    ----------
    label : str
        Short description, e.g. ``"nan at [1]"`` or ``"read-only view"``.
    value : object
        The value itself (a fresh object on every call of the catalogue).
    valid : bool or None
        True: a valid input every function taking this kind of argument must
        accept; False: invalid, it must be rejected with ``ValueError`` or
        ``TypeError``; None: it depends on the function's documented contract
        (a defined result, or a clear error).
    tags : frozenset of str
        What kind of hostility: ``"nan"``, ``"inf"``, ``"finite"`` (a finite
        value inside an array), ``"extreme"`` (finite, near the dtype's max),
        ``"empty"``, ``"0-d"``, ``"scalar"``, ``"list"``, ``"view"`` (same
        values, another memory layout), ``"dtype"``, ``"shape"``, ``"type"``.
    shows : tuple of str
        Substrings (compared case-insensitively) one of which an error
        message about this value should contain to show it.
    """

    label: str
    value: Any
    valid: bool | None
    tags: frozenset[str]
    shows: tuple[str, ...]


def hostile_case(label: str, value: Any, valid: bool | None, tags: str, shows: Sequence[str] = ()) -> Hostile:
    """A :class:`Hostile` from space-separated ``tags`` (the catalogues' shorthand)."""
    return Hostile(label, value, valid, frozenset(tags.split()), tuple(shows))


def number_shows(v: Any) -> tuple[str, ...]:
    """Ways a message may print the number ``v``."""
    out: list[str] = []
    if isinstance(v, (bool, np.bool_)):
        return (str(bool(v)),)
    if isinstance(v, (int, np.integer)):
        return (str(int(v)),)
    f = float(v)
    if np.isnan(f):
        return ("nan",)
    if np.isinf(f):
        return ("inf",)
    out += [repr(f), str(f), f"{f:g}", f"{f:.6g}", np.format_float_positional(f, trim="-")]
    out += [np.format_float_scientific(f, trim="-"), str(np.asarray(f))]
    for t in (np.float32, np.float16):
        with np.errstate(over="ignore", under="ignore"):
            g = t(f)
        if np.isfinite(g) and g != 0:
            out += [str(g), repr(float(g)), np.format_float_scientific(g, trim="-")]
        elif g == 0 and f != 0:  # a message may show the value rounded to that dtype
            out += ["0.", "0.0", "-0."]
        elif np.isinf(g):
            out += ["inf"]
    if f == 0:
        out += ["0"]
    if f == int(f) and abs(f) < 2**64:
        out += [str(int(f))]
    return tuple(dict.fromkeys(out))


def value_shows(v: Any) -> tuple[str, ...]:
    """Ways a message may print the value ``v`` (a string, None, a number, or an array's shape and dtype)."""
    if isinstance(v, str):
        return (repr(v), v) if v else ("''", '""', "empty")
    if v is None:
        return ("None",)
    if isinstance(v, (int, float, np.number, np.bool_, bool)):
        return number_shows(v)
    a = np.asarray(v)
    return (str(a.shape), a.dtype.name)


# --------------------------------------------------------------------------- floats


def hostile_float_values(dtype: Any = np.float64) -> list[Any]:
    """The hostile floats of ``dtype``, each once, as NumPy scalars of that dtype.

    NaN, ±inf, ±0, the smallest and largest subnormals, the smallest normal,
    the largest finite value and its neighbours, 1 and its neighbours, ties
    ``±0.5, 1.5, 2.5, -2.5``, the float just below 0.5 (``0.49999997`` in
    float32), and the integers ``2**24 + 1``, ``2**31``, ``-2**31``,
    ``2**53``, ``2**63``, ``2**64`` where the dtype holds them.

    Parameters
    ----------
    dtype : numpy float dtype
        float16, float32 or float64.

    Returns
    -------
    list of numpy floating scalars
        In a fixed order, without repeated bit patterns.

    Examples
    --------
    >>> [str(v) for v in hostile_float_values(np.float16)][:8]
    ['nan', 'inf', '-inf', '0.0', '-0.0', '6e-08', '-6e-08', '6.1e-05']
    >>> np.float32(0.49999997) in hostile_float_values(np.float32)
    True
    >>> len(hostile_float_values(np.float16)), len(hostile_float_values(np.float64))
    (25, 31)
    """
    fi = np.finfo(dtype)
    t = fi.dtype.type
    tiny = t(fi.smallest_normal)
    sub = t(fi.smallest_subnormal)
    half_below = np.nextafter(t(0.5), t(0))
    one_below = np.nextafter(t(1), t(0))
    one_above = np.nextafter(t(1), t(2))
    raw: list[Any] = [
        t(np.nan),
        t(np.inf),
        t(-np.inf),
        t(0.0),
        t(-0.0),
        sub,
        -sub,
        t(tiny - sub),  # largest subnormal
        tiny,
        -tiny,
        t(fi.max),
        t(-fi.max),
        np.nextafter(t(fi.max), t(0)),
        t(fi.max / t(2)),
        one_below,
        t(1.0),
        one_above,
        t(-1.0),
        t(0.5),
        t(-0.5),
        t(1.5),
        t(2.5),
        t(-2.5),
        half_below,
        -half_below,
    ]
    for big in (2.0**24 + 1, 2.0**31, -(2.0**31), 2.0**53, 2.0**63, 2.0**64):
        with np.errstate(over="ignore"):
            v = t(big)
        if np.isfinite(v) and v < fi.max / 2:
            raw.append(v)
    seen: set[bytes] = set()
    out: list[Any] = []
    for v in raw:
        key = np.asarray(v, dtype=fi.dtype).tobytes()
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def hostile_finite_values(dtype: Any = np.float64) -> list[Any]:
    """:func:`hostile_float_values` without NaN and ±inf.

    Examples
    --------
    >>> vals = hostile_finite_values(np.float32)
    >>> bool(np.all(np.isfinite(vals))), len(vals)
    (True, 28)
    """
    return [v for v in hostile_float_values(dtype) if np.isfinite(v)]


def _float_tags(v: Any) -> tuple[str, bool | None]:
    """Tags and validity of a float placed inside a data array."""
    if np.isnan(v):
        return "nan", None
    if np.isinf(v):
        return "inf", None
    fi = np.finfo(np.asarray(v).dtype)
    if abs(v) >= fi.max / 4:
        return "finite extreme", None
    if abs(v) >= 2.0**31:  # |v| >= 2**31: products and squares may leave the dtype's range
        return "finite big", None
    return "finite", True


# --------------------------------------------------------------------------- arrays


def _with(base: NDArray[Any], index: int, v: Any) -> NDArray[Any]:
    a = np.array(base, copy=True)
    a.reshape(-1)[index] = v
    return a


def strided_view(base: NDArray[Any]) -> NDArray[Any]:
    """A non-contiguous view holding ``base``'s values."""
    if base.ndim == 0:
        return base.copy()
    big = np.zeros((*base.shape[:-1], 2 * base.shape[-1]), dtype=base.dtype)
    big[..., ::2] = base
    return big[..., ::2]


def readonly_view(base: NDArray[Any]) -> NDArray[Any]:
    a = np.array(base, copy=True)
    a.flags.writeable = False
    return a


def _empty_like(base: NDArray[Any]) -> NDArray[Any]:
    shape = (0, *base.shape[1:]) if base.ndim else (0,)
    return np.zeros(shape, dtype=base.dtype)


def hostile_array_cases(
    base: Any,
    *,
    values: bool = True,
    structure: bool = True,
    dtypes: bool = True,
) -> list[Hostile]:
    """Hostile variants of a valid float array ``base``.

    Parameters
    ----------
    base : array_like of float
        A valid input (at least one element); its dtype is the dtype of the
        value variants.
    values : bool
        Include ``base`` with one element replaced by each of
        :func:`hostile_float_values` (at flat index 1, or 0 for one element),
        and ``base`` all zeros.
    structure : bool
        Include the empty array (``base``'s shape with 0 rows), the 0-d array,
        the Python float, the Python list, and read-only, strided and
        Fortran-ordered views of the same values.
    dtypes : bool
        Include ``base`` in the other float dtypes (valid), as int64, uint8
        and bool (function-dependent), complex64 and strings (invalid), and
        an object array of floats (function-dependent).

    Returns
    -------
    list of Hostile
        Views hold exactly ``base``'s values (tag ``"view"``) and lists hold
        them as Python floats (tag ``"list"``), so a function must give them
        the same result as ``np.array(value)``.

    Examples
    --------
    >>> cases = hostile_array_cases(np.array([[0.25, -1.0, 2.0]], np.float32))
    >>> [c.label for c in cases if "view" in c.tags]
    ['read-only view', 'strided view', 'Fortran-ordered view']
    >>> [c.valid for c in cases if c.label in ("nan at [0, 1]", "-0.0 at [0, 1]", "complex64")]
    [None, True, False]
    """
    b = np.asarray(base)
    if b.dtype.kind != "f":
        b = b.astype(np.float64)
    out: list[Hostile] = []
    idx = 1 if b.size > 1 else 0
    where = f"[{', '.join(str(i) for i in np.unravel_index(idx, b.shape))}]" if b.ndim else "[()]"
    if values:
        for v in hostile_float_values(b.dtype):
            tags, valid = _float_tags(v)
            shows = ("nan",) if "nan" in tags else ("inf",) if "inf" in tags else number_shows(v)
            out.append(hostile_case(f"{v!s} at {where}", _with(b, idx, v), valid, tags, shows))
        out.append(hostile_case("all zeros", np.zeros_like(b), None, "finite zeros", ("zero", "0")))
    if structure:
        out.append(
            hostile_case("empty", _empty_like(b), None, "empty", ("empty", "(0", "size 0", "0 elements"))
        )
        first = b.reshape(-1)[0]
        dims = ("0-d", "()", "ndim", "dimension", "scalar", *number_shows(first))
        out.append(hostile_case("0-d array", np.array(first), None, "0-d", dims))
        out.append(hostile_case("Python float", float(first), None, "scalar", dims))
        out.append(hostile_case("Python list", b.tolist(), True, "list"))
        out.append(hostile_case("read-only view", readonly_view(b), True, "view"))
        out.append(hostile_case("strided view", strided_view(b), True, "view"))
        if b.ndim >= 2:
            out.append(hostile_case("Fortran-ordered view", np.asfortranarray(b), True, "view"))
    if dtypes:
        for name in ("float16", "float32", "float64"):
            if b.dtype != np.dtype(name):
                with np.errstate(over="ignore"):
                    conv = b.astype(name)
                out.append(hostile_case(name, conv, True, "dtype", (name,)))
        ints = np.round(np.clip(b, -100, 100))
        out.append(hostile_case("int64", ints.astype(np.int64), None, "dtype", ("int64", "integer")))
        out.append(hostile_case("uint8", np.abs(ints).astype(np.uint8), None, "dtype", ("uint8", "integer")))
        out.append(hostile_case("bool", b != 0, None, "dtype", ("bool",)))
        out.append(hostile_case("complex64", b.astype(np.complex64), False, "dtype", ("complex",)))
        out.append(hostile_case("object", b.astype(object), None, "dtype", ("object",)))
        out.append(hostile_case("strings", b.astype(str), False, "dtype", ("<U", "str")))
    return out


# --------------------------------------------------------------------------- parameters
