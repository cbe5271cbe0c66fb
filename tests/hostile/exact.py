"""Exact arithmetic for the references: rationals rounded once to a float format.

``fl(q, dtype)`` rounds a :class:`fractions.Fraction` to the nearest value of
``dtype`` (ties to even, subnormals, overflow to ±inf), exactly as IEEE 754
does for one operation; ``rnd(q, mode)`` is an exact integer rounding mode.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

INF = float("inf")


def frac(v: Any) -> Fraction:
    return Fraction(float(v)) if not isinstance(v, (int, Fraction)) else Fraction(v)


def fl(q: Fraction | float | int, dtype: Any) -> float:
    """``q`` rounded to the nearest ``dtype`` value (ties to even); returned as a Python float."""
    if isinstance(q, float):
        if not math.isfinite(q):
            return q
        q = Fraction(q)
    q = Fraction(q)
    if q == 0:
        return 0.0
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    emin = fi.minexp
    emax = fi.maxexp
    sign = -1 if q < 0 else 1
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, emin)
    quantum = Fraction(2) ** (e - p + 1)
    n = round(a / quantum)  # Fraction.__round__: half to even
    v = n * quantum
    if v >= Fraction(2) ** emax:
        return sign * INF
    return sign * float(v)


def rnd(q: Fraction, mode: str) -> int:
    """Exact integer rounding of a rational."""
    if mode == "half_even":
        return round(q)
    if mode == "floor":
        return math.floor(q)
    if mode == "ceil":
        return math.ceil(q)
    if mode == "trunc":
        return math.trunc(q)
    if mode == "half_away":
        r = math.floor(abs(q) + Fraction(1, 2))
        return r if q >= 0 else -r
    if mode == "half_up":
        return math.floor(q + Fraction(1, 2))
    if mode == "half_down":
        return math.ceil(q - Fraction(1, 2))
    raise ValueError(mode)


def expand_param(p: Any, shape: tuple[int, ...], axis: int | None, block: int | None) -> np.ndarray:
    """A per-tensor / per-axis / per-block parameter repeated to ``shape``."""
    a = np.asarray(p)
    if axis is None:
        return np.broadcast_to(a.reshape(()), shape)
    ax = axis % len(shape)
    if block is None:
        sh = [1] * len(shape)
        sh[ax] = shape[ax]
        return np.broadcast_to(a.reshape(sh), shape)
    return np.repeat(a, block, axis=ax).take(range(shape[ax]), axis=ax)


def float_dtype_of(v: Any) -> np.dtype:
    a = np.asarray(v)
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
