"""Exact distances for :mod:`refquant.check.compare` (internal): codes in LSB, floats in ULP on a grid.

Both distances are differences of *order keys*: integers that increase with
the value, one per step, so that two values ``d`` keys apart are ``d`` steps
apart. For 64-bit keys the difference is taken as the larger minus the
smaller in uint64, modulo ``2**64``, which is exact (the true difference lies
in ``[0, 2**64)``): the distance between ``-2**63`` and ``2**63 - 1``, or
between ``-DBL_MAX`` and ``+DBL_MAX``, is exact.

* integer codes are their own keys; a pair of a uint64 code above
  ``2**63 - 1`` and a negative code (a span beyond 64 bits) is done with
  Python integers;
* floats on a grid: the magnitude code ``M`` of a value (its bit pattern
  without the sign bit, or its code in a :class:`~refquant.floats.FloatFormat`)
  counts the grid's values between 0 and it, so the key is ``+M`` for a
  positive value and ``-M`` for a negative one: ``+0`` and ``-0`` share the
  key 0 (0 ULP apart), ``+inf`` is one step beyond the largest finite value,
  and NaN has no key (the caller sets NaN aside).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import show_values
from refquant.floats import FLOAT_FORMATS, FloatFormat, float_format

_IEEE = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
_CHUNK = 1 << 16
_INT: dict[int, Any] = {2: np.int16, 4: np.int32, 8: np.int64}
_MAG = {2: (1 << 15) - 1, 4: (1 << 31) - 1, 8: (1 << 63) - 1}


@dataclass(frozen=True)
class Grid:
    """The set of values a float comparison counts ULPs on.

    ``kind`` is ``"ieee"`` (a NumPy float dtype: float16, float32, float64),
    ``"bfloat16"`` (bfloat16 values held in float32: the upper half of the
    float32 pattern) or ``"format"`` (a :class:`~refquant.floats.FloatFormat`,
    values held in float32).
    """

    name: str
    kind: str
    dtype: np.dtype[Any]
    fmt: FloatFormat | None = None


def resolve_grid(fmt: Any, a: np.dtype[Any], b: np.dtype[Any]) -> Grid:
    """The grid of ``fmt``, or, for ``fmt=None``, the narrower float dtype of ``a`` and ``b``."""
    if fmt is None:
        narrow = a if a.itemsize <= b.itemsize else b
        return Grid(narrow.name, "ieee", narrow)
    if isinstance(fmt, str) and fmt in _IEEE:
        return Grid(fmt, "ieee", np.dtype(_IEEE[fmt]))
    if isinstance(fmt, (type, np.dtype)) and not isinstance(fmt, FloatFormat):
        try:
            dt = np.dtype(fmt)
        except TypeError:
            dt = None
        if dt is None or dt.name not in _IEEE:
            raise TypeError(
                f"fmt must be a float format name ({sorted([*_IEEE, *FLOAT_FORMATS])}), a FloatFormat or "
                f"a float16/float32/float64 dtype, got {fmt!r}"
            )
        return Grid(dt.name, "ieee", dt)
    f = float_format(fmt, "fmt")
    if f == FLOAT_FORMATS["float16"]:
        return Grid("float16", "ieee", np.dtype(np.float16))
    if f == FLOAT_FORMATS["bfloat16"]:
        return Grid("bfloat16", "bfloat16", np.dtype(np.float32), f)
    return Grid(f.name, "format", np.dtype(np.float32), f)


def off_grid(v: NDArray[Any], grid: Grid) -> NDArray[np.bool_]:
    """Where ``v`` (a float array) holds no value of ``grid`` (NaN counts as a value if the grid has one)."""
    if grid.kind == "ieee":
        if v.dtype.itemsize <= grid.dtype.itemsize:
            return np.zeros(v.shape, bool)
        with np.errstate(over="ignore", invalid="ignore"):
            back = v.astype(grid.dtype).astype(v.dtype)
        return (back != v) & ~np.isnan(v)
    with np.errstate(over="ignore", invalid="ignore"):
        v32 = v.astype(np.float32, copy=False)
        bad = ((v32 != v) & ~np.isnan(v)) if v.dtype.itemsize > 4 else np.zeros(v.shape, bool)
    if grid.kind == "bfloat16":
        return bad | (((v32.view(np.uint32) & 0xFFFF) != 0) & ~np.isnan(v32))
    f = grid.fmt
    assert f is not None
    return bad | _off_format(v32, f)


def _off_format(v32: NDArray[np.float32], f: FloatFormat) -> NDArray[np.bool_]:
    """Where float32 values are no value of ``f``, from their bit patterns.

    A finite nonzero ``v = 1.b * 2**e`` is on the grid when ``|v| <= max`` and
    at most ``k = min(m, e - emin + m)`` bits after its leading one are set
    (``emin`` the exponent of the smallest normal, ``m`` the mantissa bits):
    ``k = m`` for normals, fewer for subnormals, negative below the smallest
    subnormal. Values of a format whose smallest subnormal is a float32
    subnormal (e8m0's ``2**-127``) are checked in float64, where they are normal.
    """
    if f.min_subnormal < 2.0**-126:
        v: NDArray[Any] = v32.astype(np.float64)
        bits, width, bias, ebits = v.view(np.uint64), 52, 1023, 0x7FF
    else:
        v, bits, width, bias, ebits = v32, v32.view(np.uint32), 23, 127, 0xFF
    one = bits.dtype.type(1)
    e = ((bits >> width) & ebits).astype(np.int32) - bias
    emin = int(np.log2(f.min_normal))
    k = np.minimum(e - (emin - f.mantissa_bits), f.mantissa_bits)
    low = bits & ((one << (width - np.clip(k, 0, width)).astype(bits.dtype)) - one)
    with np.errstate(invalid="ignore"):
        mag = np.abs(v)
        ok = (k >= 0) & (low == 0) & (mag <= f.max_finite)
    if not f.signed:
        ok &= ~np.signbit(v)
    if f.has_zero:
        ok |= mag == 0
    if f.has_inf:
        ok |= np.isinf(v)
    if f.has_nan:
        ok |= np.isnan(v)
    return ~ok


def as_grid_values(name: str, v: NDArray[Any], grid: Grid) -> NDArray[Any]:
    """``v`` in the grid's holding dtype, exactly; ``ValueError`` naming ``name`` for values off the grid.

    Checked over cache-sized chunks (the temporaries of a whole array would
    make the check memory-bound).
    """
    flat = v.reshape(-1)
    count, shown = 0, []
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK]
        bad = off_grid(part, grid)
        if bad.any():
            count += int(np.count_nonzero(bad))
            shown.append(part[bad][:5])
    if count:
        held = " (held in float32)" if grid.kind != "ieee" else ""
        raise ValueError(
            f"{name} holds {count} values that are not {grid.name} values{held}: "
            f"{show_values(np.concatenate(shown))}; cast it to the grid first, or pass the fmt it is on"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return v.astype(grid.dtype, copy=False)


def float_keys(v: NDArray[Any], grid: Grid) -> NDArray[Any]:
    """Signed ordinals ``K(v) = ±M(v)`` of non-NaN grid values held in ``grid.dtype``.

    ``M`` is the magnitude code; ``+0`` and ``-0`` are both 0. int16/int32
    for float16/float32, int64 otherwise. For the IEEE dtypes the ordinal
    is ``(b ^ (m & s)) - s`` on the signed bit pattern ``b``, with ``s = b
    >> (width - 1)`` (0 or -1) and ``m`` the mask of the magnitude bits: ``b``
    itself when positive, ``-M`` when negative.
    """
    if grid.kind == "ieee":
        b = v.view(_INT[v.dtype.itemsize])
        s = b >> (8 * v.dtype.itemsize - 1)
        return (b ^ (s & _INT[v.dtype.itemsize](_MAG[v.dtype.itemsize]))) - s
    if grid.kind == "bfloat16":
        codes = (v.view(np.uint32) >> 16).astype(np.int64)
        sign_mask, mag_mask = 1 << 15, (1 << 15) - 1
    else:
        assert grid.fmt is not None
        mag = _magnitude_codes(v, grid.fmt)
        return np.where(np.signbit(v), -mag, mag)
    mag = codes & mag_mask
    return np.where(codes & sign_mask, -mag, mag)


def _magnitude_codes(v: NDArray[Any], f: FloatFormat) -> NDArray[np.int64]:
    """The code of ``|v|`` in ``f`` (non-NaN values of ``f``), as :func:`refquant.floats.encode` gives it.

    For ``|v| = (1 + t) 2**e`` with ``e >= emin``: ``(e - emin + 1) * 2**m + t 2**m``
    (the exponent field is ``e + bias``); below: ``|v| / min_subnormal``;
    e8m0 (no subnormals): ``e + 127``; ``inf``: one past the largest finite code.
    """
    a = np.abs(v.astype(np.float64))
    fr, ex = np.frexp(a)  # a = fr 2**ex, fr in [1/2, 1)
    m, emin = f.mantissa_bits, int(np.log2(f.min_normal))
    if f.special == "e8m0":
        mag = (ex - 1 + f.bias).astype(np.float64)
    else:
        normal = (ex - emin) * 2.0**m + (2 * fr - 1) * 2.0**m
        mag = np.where(a >= f.min_normal, normal, a / f.min_subnormal)
    mag = np.where(np.isinf(a), f.max_code + 1, mag)
    return mag.astype(np.int64)


def int_keys(a: NDArray[Any], b: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Two integer arrays on one scale: as they are, or uint64, or (a span beyond 64 bits) Python ints."""
    ua, ub = a.dtype == np.uint64, b.dtype == np.uint64
    if ua == ub:
        return a, b
    u, s = (a, b) if ua else (b, a)
    if u.size == 0 or int(u.max()) <= np.iinfo(np.int64).max:
        u = u.astype(np.int64)
    elif s.size == 0 or int(s.min()) >= 0:
        s = s.astype(np.uint64)
    else:
        return np.array(a.tolist(), dtype=object), np.array(b.tolist(), dtype=object)
    return (u, s) if ua else (s, u)


def key_distance(ka: NDArray[Any], kb: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """``|ka - kb|`` exactly and where ``ka > kb``, for integer arrays (or object arrays of ints).

    Narrower than 64 bits: the difference in int64. 64-bit: the larger minus
    the smaller in uint64, modulo ``2**64``, which is exact because the true
    difference lies in ``[0, 2**64)``.
    """
    above = np.asarray(ka > kb, dtype=bool)
    if ka.dtype == object or kb.dtype == object:
        return np.abs(np.asarray(ka, object) - np.asarray(kb, object)), above
    if max(ka.dtype.itemsize, kb.dtype.itemsize) < 8:
        return np.abs(np.subtract(ka, kb, dtype=np.int64)), above
    wide = np.uint64 if np.uint64 in (ka.dtype, kb.dtype) else np.int64  # int_keys made them compatible
    ua, ub = (k.astype(wide, copy=False).view(np.uint64) for k in (ka, kb))
    return np.where(above, ua - ub, ub - ua), above


def as_codes(name: str, a: NDArray[Any]) -> NDArray[Any]:
    if a.dtype.kind == "b":
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        return a
    if a.dtype.kind != "f":
        raise TypeError(
            f"{name} must hold integer codes (an integer array, or floats holding integers) for "
            f"kind='quantized', got dtype {a.dtype}: {show_values(a)}"
        )
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(a) | (a != np.floor(a))
    if bad.any():
        raise ValueError(
            f"{name} must hold integers for kind='quantized', got {int(bad.sum())} other values: "
            f"{show_values(a[bad])} (use kind='float' to compare floats)"
        )
    if a.size == 0 or (a.min() >= -(2.0**63) and a.max() < 2.0**63):
        return a.astype(np.int64)
    if a.min() >= 0 and a.max() < 2.0**64:
        return a.astype(np.uint64)
    big = (a < -(2.0**63)) | (a >= 2.0**64)
    raise ValueError(
        f"{name} must hold codes within int64 or uint64, got {show_values(a[big] if big.any() else a)}"
    )


def as_floats(name: str, a: NDArray[Any]) -> NDArray[Any]:
    if a.dtype.kind == "f" and a.dtype.itemsize <= 8:
        return a
    if a.dtype.kind in "iub":
        f = a.astype(np.float64)
        with np.errstate(invalid="ignore"):
            inexact = f.astype(a.dtype) != a if a.dtype.kind != "b" else np.zeros(a.shape, bool)
        if np.any(inexact | (np.abs(f) >= 2.0**63)):
            raise ValueError(
                f"{name} holds integers that float64 does not represent exactly: {show_values(a)}"
            )
        return f
    raise TypeError(
        f"{name} must be a float16, float32 or float64 array for kind='float', got dtype {a.dtype}"
    )


Diff = tuple[NDArray[np.intp], NDArray[Any], NDArray[np.bool_], NDArray[np.intp], int, Any]


def flat_take(v: NDArray[Any], idx: NDArray[np.intp], shape: tuple[int, ...]) -> NDArray[Any]:
    """Elements ``idx`` (flat, C order) of ``v``, which has ``shape`` or is 0-d, without copying ``v``."""
    if v.ndim == 0:
        return np.full(idx.size, v[()], v.dtype)
    return v[np.unravel_index(idx, shape)] if v.ndim > 1 else v[idx]


def int_diff(a: NDArray[Any], e: NDArray[Any], shape: tuple[int, ...]) -> Diff:
    mixed = (a.dtype == np.uint64) != (e.dtype == np.uint64) and "i" in (a.dtype.kind, e.dtype.kind)
    if mixed:  # NumPy may compare int64 with uint64 through float64: compare the order keys
        ka, ke = int_keys(a.reshape(-1), e.reshape(-1))
        idx = np.flatnonzero(ka != (ke if e.ndim else ke[0]))
    else:
        idx = np.flatnonzero(a != e)
    va, ve = flat_take(a, idx, shape), flat_take(e, idx, shape)
    dist, above = key_distance(*int_keys(va, ve))

    def pick(j: int) -> tuple[Any, Any, int]:
        x, y = int(va[j]), int(ve[j])
        return x, y, x - y

    return idx, dist, above, np.zeros(0, np.intp), 0, pick


def float_diff(a: NDArray[Any], e: NDArray[Any], shape: tuple[int, ...], grid: Grid) -> Diff:
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    diff = np.flatnonzero(a.view(uint) != e.view(uint))  # then set aside NaN/NaN and +0/-0 pairs
    va, ve = flat_take(a, diff, shape), flat_take(e, diff, shape)
    na, ne = np.isnan(va), np.isnan(ve)
    zeros = (va == 0) & (ve == 0)
    real = ~(na | ne) & ~zeros
    one_nan = np.flatnonzero(na ^ ne)
    ra, re = va[real], ve[real]
    ka, ke = float_keys(ra, grid), float_keys(re, grid)
    dist, above = key_distance(ka, ke)
    nan_a, nan_e = va[one_nan], ve[one_nan]

    def pick(j: int) -> tuple[Any, Any, int | None]:
        if j < 0:  # the -1 - j th NaN mismatch
            return nan_a[-1 - j], nan_e[-1 - j], None
        return ra[j], re[j], int(ka[j]) - int(ke[j])

    return diff[real], dist, above, diff[one_nan], int(np.count_nonzero(zeros)), pick


def worst_positions(
    idx: NDArray[np.intp], dist: NDArray[Any], nan_idx: NDArray[np.intp], k: int
) -> list[tuple[int, int]]:
    """``(flat index, position)`` of the worst ``k``: NaN ones first (position ``-1 - i`` for the
    ``i``-th), then by decreasing distance (position in ``idx``), ties by increasing index."""
    out: list[tuple[int, int]] = [(int(f), -1 - i) for i, f in enumerate(nan_idx[:k].tolist())]
    need = k - len(out)
    if need <= 0 or idx.size == 0:
        return out
    if idx.size > need:
        t = np.partition(dist, idx.size - need)[idx.size - need]
        cand = np.concatenate([np.flatnonzero(dist > t), np.flatnonzero(dist == t)[:need]])
    else:
        cand = np.arange(idx.size)
    order = sorted(cand.tolist(), key=lambda j: (-int(dist[j]), int(idx[j])))[:need]
    return out + [(int(idx[j]), j) for j in order]
