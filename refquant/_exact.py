"""Exact floating-point building blocks, shared across the package: FMAs in float32 and float64, TwoSum."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_LOW29 = np.uint64((1 << 29) - 1)  # the float64 mantissa bits below float32's precision
_HALF = np.uint64(1 << 28)  # ... holding exactly half a float32 ulp
_F32_MIN_NORMAL = float(np.finfo(np.float32).tiny)


def fma_float32(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> NDArray[np.float32]:
    """Correctly rounded float32 ``a * b + c`` (one rounding, as an FMA instruction).

    ``a`` and ``b`` are rounded to float32, so ``a * b`` is exact in float64
    (48 bits). ``s = fl64(p + c)`` rounded to float32 is the correct result
    unless ``s`` lies exactly halfway between two float32 values (only then
    can the first rounding have moved it onto the tie) or in float32's
    subnormal range (where the halfway bits sit elsewhere); for those few
    elements the rounding error of ``p + c`` (TwoSum) decides the direction.
    A result rounded to ``±inf`` counts ``±2**128`` as the float32 beyond
    ``±FLT_MAX``, so a sum just below the overflow threshold stays finite.
    """
    a32, b32, c32 = (np.asarray(v, np.float32) for v in (a, b, c))
    if a32.ndim == b32.ndim == c32.ndim == 0:  # the fix-up below indexes arrays
        return fma_float32(a32.reshape(1), b32.reshape(1), c32.reshape(1)).reshape(())
    p = np.multiply(a32, b32, dtype=np.float64)
    c64 = c32.astype(np.float64)
    s = p + c64
    with np.errstate(over="ignore"):
        r = s.astype(np.float32)
    suspect = ((s.view(np.uint64) & _LOW29) == _HALF) | (np.abs(s) < _F32_MIN_NORMAL)
    if not suspect.any():
        return r
    p, c64 = np.broadcast_arrays(p, c64)
    idx = np.nonzero(suspect)
    sv, pv, cv = s[idx], p[idx], c64[idx]
    err = two_sum(pv, cv)[1]  # sv + err == pv + cv exactly
    with np.errstate(over="ignore"):
        rv = sv.astype(np.float32)
    # rv as float64, with an overflow to inf read as 2**128 (the next power of two after FLT_MAX)
    rv64 = np.where(np.isinf(rv) & np.isfinite(sv), np.copysign(2.0**128, sv), rv.astype(np.float64))
    toward = np.where(sv > rv64, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    nb = np.nextafter(rv, toward)
    mid = ((rv64 + nb.astype(np.float64)) / 2 == sv) & (rv64 != sv)
    up = np.where(err > 0, np.maximum(rv, nb), np.minimum(rv, nb))
    r[idx] = np.where(mid & (err != 0), up, rv)
    return r


_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for float64


def fma_float64(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> NDArray[np.float64]:
    """Float64 FMA, exact except when ``a * b`` underflows or overflows (then ``a * b + c``).

    Boldo & Melquiond, "Emulation of FMA and correctly rounded sums: proved
    algorithms using rounding to odd", IEEE Trans. Computers 57(4), 2008:
    ``a * b = uh + ul`` (Dekker), ``c + uh = th + tl`` (TwoSum), then
    ``RN(th + RO(tl + ul))`` with ``RO`` rounding to odd.
    """
    a, b, c = np.broadcast_arrays(
        np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(c, np.float64)
    )
    with np.errstate(over="ignore", invalid="ignore"):
        uh = a * b
        t = _SPLIT * a
        ah = t - (t - a)
        t = _SPLIT * b
        bh = t - (t - b)
        al, bl = a - ah, b - bh
        ul = ((ah * bh - uh) + ah * bl + al * bh) + al * bl
        th, tl = two_sum(c, uh)
        s, e = two_sum(tl, ul)
        odd = (s.view(np.int64) & 1) == 1
        s = np.where((e != 0) & ~odd, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
        r = th + s
        plain = uh + c
    # a zero result is exactly a*b + c (a or b zero, or exact cancellation): keep its sign
    return np.where(np.isfinite(r) & (r != 0), r, plain)


def two_sum(a: NDArray[Any], b: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Knuth's TwoSum: ``s = fl(a + b)`` and the exact error ``e``, ``s + e == a + b``."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)
