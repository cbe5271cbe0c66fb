"""Exact floating-point building blocks (internal)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def fma_float32(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> NDArray[np.float32]:
    """Correctly rounded float32 ``a * b + c`` (one rounding, as an FMA instruction).

    ``a`` and ``b`` are float32, so ``a * b`` is exact in float64 (48 bits).
    ``p + c`` is computed in float64 with its rounding error (TwoSum), and the
    error breaks the tie when the float64 sum falls exactly halfway between
    two float32 values; elsewhere the error is too small to matter.
    """
    p = np.multiply(np.asarray(a, np.float32), np.asarray(b, np.float32), dtype=np.float64)
    c64 = np.asarray(np.asarray(c, np.float32), dtype=np.float64)
    s = p + c64
    bb = s - p
    err = (p - (s - bb)) + (c64 - bb)
    r = s.astype(np.float32)
    with np.errstate(invalid="ignore"):
        off = (r.astype(np.float64) != s) & (err != 0) & np.isfinite(s)
    if not off.any():
        return r
    idx = np.nonzero(off)
    sv, rv, ev = s[idx], r[idx], err[idx]
    toward = np.where(sv > rv, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    nb = np.nextafter(rv, toward)
    mid = (rv.astype(np.float64) + nb.astype(np.float64)) / 2 == sv
    # at an exact float64 midpoint the sign of the error decides the rounding
    up = np.where(ev > 0, np.maximum(rv, nb), np.minimum(rv, nb))
    r[idx] = np.where(mid, up, rv)
    return r
