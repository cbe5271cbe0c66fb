"""Tie-dense inputs for casts to a float format: :func:`cast_input_classes` and :func:`cast_inputs`
(re-exported by :mod:`refquant.check.inputs`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import as_dtype, check_bool, check_int
from refquant.check._inputs_masks import check_generator
from refquant.check._inputs_ties import assemble, next_down, next_up
from refquant.floats.cast import decode
from refquant.floats.spec import FloatFormat, float_format

__all__ = ["cast_input_classes", "cast_inputs"]

_FIXED = ("zeros", "subnormal_boundary", "overflow", "huge", "nan", "inf")
_BULK = ("grid", "midpoints", "near_midpoint", "double_rounding")
_MAX_COUNT = 2**24


def _grid(f: FloatFormat) -> NDArray[np.float64]:
    """The finite values of ``f``, sorted, each once (``-0`` merged into ``0``)."""
    v = decode(np.arange(2**f.bits), f, dtype=np.float64)
    return np.unique(v[np.isfinite(v)] + 0.0)  # + 0.0 turns -0 into +0


def _exact(v: NDArray[np.float64], dt: np.dtype[Any]) -> NDArray[Any]:
    """The values of ``v`` exact in ``dt``, as ``dt``."""
    with np.errstate(all="ignore"):
        c = v.astype(dt)
    return c[c.astype(np.float64) == v]


def _threshold(f: FloatFormat, grid: NDArray[np.float64]) -> float:
    """Midpoint between the largest finite value and the next value the format would have."""
    top = f.max_finite
    if f.mantissa_bits == 0:  # e8m0: the next power of two
        return 1.5 * top
    step = top - float(grid[grid < top].max())
    return top + step / 2


def cast_input_classes(
    fmt: str | FloatFormat, *, dtype: Any = np.float32, nan: bool = False, inf: bool = False
) -> dict[str, NDArray[Any]]:
    """The adversarial values of a cast to the float format ``fmt``, by class.

    Parameters
    ----------
    fmt : str or FloatFormat
        A name of :data:`refquant.floats.FLOAT_FORMATS` (``"float8_e4m3fn"``, ``"bfloat16"``, ...).
    dtype : float32 or float64
        The dtype of the source values (what a cast receives).
    nan, inf : bool
        Include NaN and -NaN, and ±inf (classes ``"nan"``, ``"inf"``; empty otherwise).

    Returns
    -------
    dict of str to 1-D ndarray of ``dtype``
        In this order (sorted, duplicates removed, except ``"zeros"``):

        ======================  ==============================================================
        class                   values
        ======================  ==============================================================
        ``zeros``               ``0.0``, ``-0.0``
        ``subnormal_boundary``  ± the smallest normal and one ulp (of ``dtype``) either side,
                                the largest and the smallest subnormal, half the smallest
                                subnormal (a tie with 0) and one ulp either side
        ``overflow``            ± the largest finite value, the overflow threshold (midpoint
                                to the next value the format would have), one ulp either side
                                of it, twice the largest value
        ``huge``                ± the largest finite value of ``dtype``
        ``grid``                every finite value of the format
        ``midpoints``           every midpoint between two adjacent grid values
        ``near_midpoint``       one ulp (of ``dtype``) either side of every midpoint
        ``double_rounding``     float64 only: ``m ± h/2`` and ``m ± h`` for every midpoint
                                ``m``, with ``h`` half the float32 spacing at ``m``: rounded
                                to float32 first they land on ``m`` (or stay a float32 tie),
                                then round to even, where one direct rounding goes away
                                from ``m``
        ``nan``, ``inf``        on request
        ======================  ==============================================================

    Notes
    -----
    The grid is :func:`refquant.floats.decode` of every code (the finite
    values). A value not exact in ``dtype`` is left out (only half the
    smallest subnormal of a format reaching ``2**-149`` in float32). For
    ``float8_e8m0fnu`` (powers of two) the midpoints are ``1.5 * 2**k``. For a
    16-bit format the grid and midpoints hold about 65,000 values each.
    Deterministic; ``fmt`` is not modified.

    Examples
    --------
    >>> c = cast_input_classes("float4_e2m1fn")
    >>> c["grid"].tolist()
    [-6.0, -4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    >>> c["midpoints"][c["midpoints"] > 0].tolist()
    [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]
    >>> c["overflow"][c["overflow"] > 0][:3].tolist()
    [6.0, 6.999999523162842, 7.0]
    """
    f = float_format(fmt)
    dt = as_dtype("dtype", dtype, ("float32", "float64"))
    nan_, inf_ = check_bool("nan", nan), check_bool("inf", inf)
    grid = _grid(f)
    sign = np.array([1.0, -1.0]) if f.signed else np.array([1.0])
    out: dict[str, NDArray[Any]] = {"zeros": np.array([0.0, -0.0], dt)}
    tiny, sub = f.min_normal, f.min_subnormal
    pts = _exact(np.array([tiny, sub / 2]), dt)
    bound = [pts, next_up(pts), next_down(pts), _exact(np.array([tiny - sub, sub]), dt)]
    out["subnormal_boundary"] = _both(np.concatenate(bound), sign, dt)
    th = _exact(np.array([_threshold(f, grid)]), dt)
    top = _exact(np.array([f.max_finite, 2 * f.max_finite]), dt)
    out["overflow"] = _both(np.concatenate([top, th, next_up(th), next_down(th)]), sign, dt)
    out["huge"] = _both(np.array([np.finfo(dt).max], dt), sign, dt)
    out["grid"] = _exact(grid, dt)
    mids = _exact((grid[:-1] + grid[1:]) / 2, dt)
    out["midpoints"] = mids
    out["near_midpoint"] = np.unique(np.concatenate([next_up(mids), next_down(mids)]))
    out["double_rounding"] = np.zeros(0, dt)
    if dt == np.float64:
        m32 = mids.astype(np.float32)
        hu = (next_up(m32).astype(np.float64) - mids) / 2
        hd = (mids - next_down(m32).astype(np.float64)) / 2
        out["double_rounding"] = np.unique(
            np.concatenate([mids + hu / 2, mids - hd / 2, mids + hu, mids - hd])
        )
    out["nan"] = np.array([np.nan, -np.nan] if nan_ else [], dt)
    out["inf"] = np.array([np.inf, -np.inf] if inf_ else [], dt)
    return out


def _both(v: NDArray[Any], sign: NDArray[np.float64], dt: np.dtype[Any]) -> NDArray[Any]:
    """``v`` with each sign of ``sign``, sorted, each once."""
    return np.unique(np.concatenate([v.astype(dt) * dt.type(s) for s in sign]))


def cast_inputs(
    fmt: str | FloatFormat,
    *,
    rng: np.random.Generator,
    dtype: Any = np.float32,
    count: int | None = None,
    nan: bool = False,
    inf: bool = False,
) -> NDArray[Any]:
    """Tie-dense inputs for a cast to the float format ``fmt``: midpoints, their neighbours, the edges.

    Parameters
    ----------
    fmt : str or FloatFormat
        A name of :data:`refquant.floats.FLOAT_FORMATS` or a ``FloatFormat``.
    rng : numpy.random.Generator
        For the subset (``count`` smaller than the classes) and the random fill.
    dtype : float32 or float64
        The dtype of the result (the source of the cast); float64 adds the
        double-rounding class.
    count : int, optional
        Number of values, at most ``2**24`` and at least the number of edge
        values (about 30). Default: every class in full, plus as many random
        values as there are midpoints.
    nan, inf : bool
        Include NaN and -NaN, and ±inf.

    Returns
    -------
    ndarray of ``dtype``, shape ``(count,)``
        In order: the edge classes of :func:`cast_input_classes` (zeros, the
        subnormal boundary, overflow, huge, NaN/inf), then the grid, the
        midpoints, their neighbours and the double-rounding values (a random
        subset when they do not fit in ``count``), then random values with
        log-uniform magnitudes from half the smallest subnormal to twice the
        largest value (positive only for the unsigned ``float8_e8m0fnu``).

    Notes
    -----
    The classes: :func:`cast_input_classes`. Deterministic in ``rng``'s state.

    Examples
    --------
    >>> x = cast_inputs("float8_e4m3fn", rng=np.random.default_rng(0), count=1000)
    >>> x.shape, bool(np.any(x == 464.0)), bool(np.any(x == 1.0625))  # overflow threshold, a midpoint
    ((1000,), True, True)
    """
    gen = check_generator(rng)
    classes = cast_input_classes(fmt, dtype=dtype, nan=nan, inf=inf)
    n = None
    if count is not None:
        n = check_int("count", count)
        if not 0 <= n <= _MAX_COUNT:
            raise ValueError(f"count must lie in [0, {_MAX_COUNT}], got {n}")
    f = float_format(fmt)
    dt = classes["zeros"].dtype
    lo, hi = np.log2(f.min_subnormal / 2), np.log2(2 * f.max_finite)

    def fill(r: np.random.Generator, k: int) -> NDArray[Any]:
        mag = np.minimum(2.0 ** r.uniform(lo, hi, k), float(np.finfo(dt).max))
        sign = np.where(r.random(k) < 0.5, -1.0, 1.0) if f.signed else 1.0
        return (sign * mag).astype(dt)

    return assemble(classes, _FIXED, _BULK, n, classes["midpoints"].size, fill, gen)
