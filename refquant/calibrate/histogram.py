"""Histograms of calibration data, and the thresholds the tools read off them.

:func:`histogram` gives the counts and edges of ``np.histogram`` (faster, by a
fixed-point bin position, an exact look-up only near bin ends, and ``np.bincount``);
:func:`histogram_percentile` the percentile amax of ModelOpt and ONNX Runtime
(and an interpolating one); :func:`histogram_moments` ONNX Runtime's
distribution statistics. :class:`HistogramState` is the state of the streaming
histograms of :mod:`refquant.calibrate.streaming`. Nothing here modifies the
histogram it is given.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_bool, check_choice, show_values

__all__ = ["Histogram", "HistogramState", "histogram", "histogram_moments", "histogram_percentile"]

_BLOCK = 1 << 15  # elements per chunk: the temporaries (about 0.5 MiB in all) stay in cache


class HistogramState(NamedTuple):
    """A streaming histogram: ``counts`` over ``edges`` (``len(edges) == len(counts) + 1``) and the
    smallest and largest value seen (``min``, ``max``; NaN-free), as each tool keeps them."""

    counts: NDArray[Any]
    edges: NDArray[Any]
    min: float
    max: float


class Histogram(NamedTuple):
    """``counts`` (int64, ``(bins,)``) over ``edges`` (``(bins + 1,)``), as ``np.histogram`` returns them."""

    counts: NDArray[np.int64]
    edges: NDArray[Any]


def _edges(xa: NDArray[Any], bins: Any, range: Any, lo: Any, hi: Any) -> tuple[NDArray[Any], bool]:
    """The edges as ``np.histogram`` builds them, and whether they are uniform (from an int ``bins``)."""
    if np.ndim(bins) == 0:
        if isinstance(bins, (bool, np.bool_)):
            raise TypeError(f"bins must be an int or an array of edges, got {bins!r}")
        try:
            n = operator.index(bins)
        except TypeError:
            raise TypeError(f"bins must be an int or an array of edges, got {bins!r}") from None
        if not 1 <= n <= 1 << 20:
            raise ValueError(f"bins must be in [1, 2**20], got {n}")
        if range is not None:
            try:
                first, last = range
            except (TypeError, ValueError):
                raise ValueError(f"range must be a pair (lo, hi), got {range!r}") from None
            for v in (first, last):
                if isinstance(v, (bool, np.bool_)) or np.asarray(v).dtype.kind not in "fiu" or np.ndim(v):
                    raise TypeError(f"range must hold two real numbers, got {range!r}")
            if not (np.isfinite(first) and np.isfinite(last)):
                raise ValueError(f"range must be finite, got {range!r}")
            if first > last:
                raise ValueError(f"range must have lo <= hi, got {range!r}")
        elif xa.size == 0:
            first, last = 0, 1
        else:
            first, last = lo, hi
            if not (np.isfinite(first) and np.isfinite(last)):
                raise ValueError(
                    f"x must be finite when range is None (the range is taken from it), got [{first}, {last}]"
                )
        if first == last:
            first, last = first - 0.5, last + 0.5
        bin_type = np.result_type(first, last, xa)
        edges = np.linspace(first, last, n + 1, endpoint=True, dtype=bin_type)
        if np.any(edges[:-1] >= edges[1:]):
            raise ValueError(f"bins={n} is too many for the range [{first}, {last}]: some bins are empty")
        return edges, True
    if range is not None:
        raise ValueError(f"range must be None when bins is an array of edges, got range={range!r}")
    edges = as_float_array("bins", bins)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(f"bins must be an int or a 1-D array of at least 2 edges, got shape {edges.shape}")
    if not np.all(np.isfinite(edges)):
        raise ValueError(f"bins (edges) must be finite, got {show_values(edges[~np.isfinite(edges)])}")
    if np.any(edges[:-1] > edges[1:]):
        raise ValueError(f"bins (edges) must be non-decreasing, got {show_values(edges)}")
    return edges, False


def histogram(
    x: ArrayLike,
    bins: int | ArrayLike = 2048,
    *,
    range: tuple[Any, Any] | None = None,
    absolute: bool = False,
) -> Histogram:
    """Counts of ``x`` in ``[e_j, e_{j+1})`` (last bin closed), as ``np.histogram(x, bins, range)``.

    Parameters
    ----------
    x : array_like of float or int
        The data, flattened (float dtypes kept, integers as float64).
    bins : int or array_like
        The number of equal bins over ``range`` (or over ``[min x, max x]``),
        or the edges themselves (non-decreasing, finite).
    range : (float, float) or None
        ``(lo, hi)``, finite, ``lo <= hi``; values outside are not counted. A
        zero-width range is widened to ``(lo - 0.5, hi + 0.5)``, as NumPy.
    absolute : bool
        Histogram ``|x|`` instead (ONNX Runtime's ``collect_absolute_value``).

    Returns
    -------
    Histogram
        ``counts`` int64; ``edges`` as NumPy builds them:
        ``np.linspace(lo, hi, bins + 1, dtype=np.result_type(lo, hi, x))``
        (float32 for float32 data and Python or float32 bounds).

    Notes
    -----
    .. math::

        c_j = \\#\\{i : e_j \\le x_i < e_{j+1}\\}, \\quad
        c_{B-1} = \\#\\{i : e_{B-1} \\le x_i \\le e_B\\}

    Source: ``numpy.histogram`` (``numpy/lib/_histograms_impl.py``), whose
    bins these are; the counting differs. For equal bins (and for given edges
    within a small fraction of a bin of equal ones, as ``np.arange`` grows
    them), each chunk computes the position ``(x - lo) * (n / (hi - lo))`` in
    the edges' dtype and adds ``2**K + 1``, which puts the bin and ``2**-s`` of a
    bin into the float's bits; a proven error bound (the position's roundings
    plus the edges' measured distance from equal spacing) leaves only values
    within that bound of a bin end to be looked up in the edges
    (``searchsorted``), then ``np.bincount``. Other edges: NumPy's own method
    (sort each chunk, search the edges in it). The result is the definition
    above, hence NumPy's wherever NumPy's one-bin correction holds; where
    NumPy's own estimate overflows (a range wider than float32's max) NumPy
    fails and this counts by the definition. NaN raises ``ValueError`` (NumPy
    drops it when ``range`` is given and raises otherwise); ``±inf`` are outside
    every range and not counted (with ``range=None`` they raise, as in NumPy).
    Empty ``x``: zero counts over ``[0, 1]``.

    Examples
    --------
    >>> h = histogram([0.0, 0.5, 1.0, 1.0, 3.0], 3)
    >>> h.counts.tolist(), h.edges.tolist()
    ([2, 2, 1], [0.0, 1.0, 2.0, 3.0])
    >>> histogram([-2.0, 1.0], 2, absolute=True).counts.tolist()
    [1, 1]
    """
    absolute = check_bool("absolute", absolute)
    xa = as_float_array("x", x).reshape(-1)
    if absolute:
        xa = np.abs(xa)
    lo = hi = None
    if xa.size:
        lo, hi = xa.min(), xa.max()  # one pass each; NaN propagates into both
        if np.isnan(lo) or np.isnan(hi):
            nan = np.isnan(xa)
            raise ValueError(f"x must not contain NaN, got {show_values(xa[nan])}")
    edges, uniform = _edges(xa, bins, range, lo, hi)
    n = edges.size - 1
    if xa.size == 0:
        return Histogram(np.zeros(n, np.int64), edges)
    # given edges compare with x in their common dtype (as NumPy's searchsorted); equal bins are in x's dtype
    e = edges if uniform else edges.astype(np.result_type(edges, xa), copy=False)
    outside = bool(lo < e[0] or hi > e[-1])
    plan = _fixed_point_plan(e)  # given edges qualify when they are near-uniform (np.arange's)
    if plan is not None:
        return Histogram(_count_fixed_point(xa, e, plan, outside), edges)
    return Histogram(_count_sorted_edges(xa, e), edges)  # float16, uneven edges, ranges beyond the dtype


class _Plan(NamedTuple):
    factor: Any  # n / (hi - lo) in the edges' dtype
    itype: Any  # the unsigned-free integer view of the edges' dtype
    shift: int  # fraction bits of a bin in the fixed-point position
    tol: int  # fraction units within which an estimate is checked against the edges
    offset: Any  # 2**K + 1 in the edges' dtype: f + offset lies in [2**K, 2**(K+1))
    base: int  # bits(2**K) >> shift


def _fixed_point_plan(edges: NDArray[Any]) -> _Plan | None:
    """The constants of :func:`_count_fixed_point`, or None where its error bound does not hold.

    The position ``f = (x - e_0) * (n / (e_n - e_0))`` (three roundings and the
    rounding of ``n / D``) is within ``eps1 = 5 u (n + 1)`` bins of the exact
    ``n (x - e_0) / D``; each edge is within ``eps2`` bins of ``e_0 + j D / n``
    (measured on these edges, plus the float64 model's own error). Adding
    ``2**K + 1`` rounds ``f`` to ``2**-shift`` of a bin and puts bin and fraction
    in the float's bits. A fraction farther than ``2 (eps1 + eps2) + 2**-shift``
    from both bin ends proves the bin; the others are looked up in the edges.
    """
    dt = edges.dtype
    itype: Any
    if dt == np.float32:
        itype, mant, u = np.int32, 23, 2.0**-24
    elif dt == np.float64:
        itype, mant, u = np.int64, 52, 2.0**-53
    else:
        return None
    n = edges.size - 1
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        denom = edges[-1] - edges[0]
        factor = np.asarray(n / denom, dtype=dt)
    if not (np.isfinite(denom) and denom > 0 and np.isfinite(factor) and factor > 0):
        return None
    k = (n + 2).bit_length()  # 2**k > n + 2 >= f + 1 (f is clipped to [-0.5, n + 0.5])
    shift = mant - k
    if shift < 8:
        return None
    e64 = edges.astype(np.float64)
    width = float(e64[-1] - e64[0])
    ideal = e64[0] + np.arange(n + 1, dtype=np.float64) * (width / n)
    big = max(abs(float(e64[0])), abs(float(e64[-1])))
    eps2 = (float(np.max(np.abs(e64 - ideal))) + 4 * 2.0**-53 * (big + width)) * n / width
    eps1 = 5 * u * (n + 1)
    tol = math.ceil((2 * (eps1 + eps2) + 2.0**-shift) * 2**shift) + 1
    if not (np.isfinite(eps2) and 4 * tol <= 1 << (shift - 2)):
        return None
    offset = np.asarray(2.0**k + 1, dtype=dt)
    base = int(np.asarray(2.0**k, dtype=dt).view(itype)) >> shift
    return _Plan(factor, itype, shift, tol, offset, base)


def _count_fixed_point(
    xa: NDArray[Any], edges: NDArray[Any], plan: _Plan, outside: bool
) -> NDArray[np.int64]:
    """Counts over uniform ``edges``: bin ``j`` is category ``j + 1``, 0 below, ``n + 1`` above."""
    n = edges.size - 1
    first, last = edges[0], edges[-1]
    block = min(_BLOCK, xa.size)
    f = np.empty(block, edges.dtype)
    bits = f.view(plan.itype)
    work = np.empty(block, plan.itype)
    flag = np.empty(block, np.bool_)
    cat = np.empty(block, np.intp)
    counts = np.zeros(n + 2, np.int64)
    mask, tol = (1 << plan.shift) - 1, plan.tol
    for i in np.arange(0, xa.size, block).tolist():
        chunk = xa[i : i + block]
        m = chunk.size
        fv, bv, wv, gv, cv = f[:m], bits[:m], work[:m], flag[:m], cat[:m]
        np.subtract(chunk, first, out=fv)
        np.multiply(fv, plan.factor, out=fv)
        if outside:
            np.clip(fv, -0.5, n + 0.5, out=fv)
        np.add(fv, plan.offset, out=fv)
        np.add(bv, tol, out=wv)
        np.bitwise_and(wv, mask, out=wv)
        np.less(wv, 2 * tol, out=gv)  # the fraction is within tol of a bin end
        np.right_shift(bv, plan.shift, out=bv)
        np.subtract(bv, plan.base, out=bv)
        np.copyto(cv, bv)  # bincount counts intp
        near = np.flatnonzero(gv)
        if near.size:
            vals = chunk[near].astype(edges.dtype, copy=False)
            exact = np.searchsorted(edges, vals, side="right")  # [e_j, e_{j+1}) -> j + 1
            exact[vals == last] = n  # the last bin is closed
            cv[near] = exact
        counts += np.bincount(cv, minlength=n + 2)
    return counts[1 : n + 1].copy()


def _count_sorted_edges(xa: NDArray[Any], edges: NDArray[Any]) -> NDArray[np.int64]:
    """Counts in ``[e_j, e_{j+1})``, the last bin closed, values outside not counted (NumPy's rule).

    NumPy's own method for given edges: sort each chunk, find the edges in it.
    """
    cum = np.zeros(edges.size, np.int64)
    block = max(_BLOCK, 64 * edges.size)  # the edges' look-ups per chunk stay a small share of the sort
    for i in np.arange(0, xa.size, block).tolist():
        c = np.sort(xa[i : i + block]).astype(edges.dtype, copy=False)
        cum[:-1] += np.searchsorted(c, edges[:-1], side="left")
        cum[-1] += np.searchsorted(c, edges[-1], side="right")
    return np.diff(cum)


def _check_hist(counts: ArrayLike, edges: ArrayLike) -> tuple[NDArray[Any], NDArray[Any], Any]:
    """``counts``, ``edges`` as arrays and ``counts.sum()``, after the checks of the histogram functions.

    The values are checked by reductions (``c.min() >= 0``, ``isfinite(e).all()``
    and the sum, which is the total and is ``inf`` for a ``+inf`` count); only
    when one fails are the element-wise checks run, counts first, to name the
    bad values. The errors are those of the element-wise checks alone.
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iuf":
        raise TypeError(f"counts must be an array of numbers, got dtype {c.dtype}")
    e = as_float_array("edges", edges)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {c.shape}")
    if e.ndim != 1 or e.size < c.size + 1:
        raise ValueError(
            f"edges must be 1-D with at least len(counts) + 1 = {c.size + 1} values, got {e.shape}"
        )
    if not (c.min() >= 0 and np.isfinite(e).all()):  # NaN fails the comparison
        _raise_bad_values(c, e)
    total = c.sum()
    if total == np.inf:  # a +inf count (or float counts whose sum overflows); NaN failed the min
        _raise_bad_values(c, e)
    if total <= 0:
        raise ValueError("counts must not all be 0 (an empty histogram has no percentile or moments)")
    return c, e, total


def _raise_bad_values(c: NDArray[Any], e: NDArray[Any]) -> None:
    """The element-wise checks: raise ``ValueError`` naming the first bad values (counts, then edges)."""
    ok = np.isfinite(c) & (c >= 0)
    if not np.all(ok):
        raise ValueError(f"counts must be finite and >= 0, got {show_values(c[~ok])}")
    if not np.all(np.isfinite(e)):
        raise ValueError(f"edges must be finite, got {show_values(e[~np.isfinite(e)])}")


Side = Literal["upper", "symmetric", "two_sided"]


def histogram_percentile(
    counts: ArrayLike,
    edges: ArrayLike,
    percentile: float,
    *,
    side: Side = "upper",
    interpolate: bool = False,
    clip_to: tuple[float, float] | None = None,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """The edge where the histogram's CDF reaches ``p``: ``edges[searchsorted(cumsum(c / sum c), p / 100)]``.

    Parameters
    ----------
    counts : array_like, shape (B,)
        Counts (any non-negative numbers; int64 or float32 as the tools keep them).
    edges : array_like of float, shape (B + 1,) or longer
        Bin edges (ModelOpt's may be longer than ``B + 1`` after growing; only
        the first ``B + 1`` can be chosen).
    percentile : float
        In ``[0, 100]``.
    side : {"upper", "symmetric", "two_sided"}
        ``"upper"``: ``(edges[0], a)`` with ``a`` the edge at ``p`` (ModelOpt's
        ``_compute_amax_percentile`` returns ``a``); ``"symmetric"``: ``(-a, a)``
        (ONNX Runtime's ``compute_percentile`` with ``symmetric=True``, on an
        absolute histogram); ``"two_sided"``: the edges at ``(100 - p) / 200``
        and ``1 - (100 - p) / 200`` (ONNX Runtime, asymmetric).
    interpolate : bool
        Instead of the bin's *left* edge (what both tools return: the bin where
        the CDF reaches ``p`` starts there), the point inside that bin where the
        CDF, linear within each bin, equals ``p`` (float64 arithmetic, rounded to
        the edges' dtype).
    clip_to : (float, float) or None
        ONNX Runtime's clamp to the observed ``(min, max)``: a ``lo`` below
        ``min`` becomes ``min``, a ``hi`` above ``max`` becomes ``max``.

    Returns
    -------
    lo, hi : 0-d ndarray
        In the edges' dtype (float32 for the tools' histograms).

    Notes
    -----
    .. math:: F_j = \\sum_{k \\le j} c_k / \\sum_k c_k, \\qquad
        j^* = \\min\\{j : F_j \\ge p / 100\\}, \\qquad a = e_{j^*}

    ``F`` is computed as the tools do: ``np.cumsum(counts / total)`` (float64
    for integer counts, float32 for float32 counts), so the chosen bin is
    theirs bit for bit. Sources: ModelOpt
    ``modelopt/torch/quantization/calib/histogram.py``,
    ``_compute_amax_percentile``; ONNX Runtime
    ``onnxruntime/quantization/calibrate.py``,
    ``HistogramCollector.compute_percentile``. The histogram is not modified.
    All-zero counts, negative or non-finite counts or edges raise ``ValueError``.

    Examples
    --------
    >>> lo, hi = histogram_percentile([1, 2, 1], [0.0, 1.0, 2.0, 3.0], 50.0)
    >>> float(lo), float(hi)
    (0.0, 1.0)
    >>> float(histogram_percentile([1, 2, 1], [0.0, 1.0, 2.0, 3.0], 50.0, interpolate=True)[1])
    1.5
    """
    check_choice("side", side, ("upper", "symmetric", "two_sided"))
    interpolate = check_bool("interpolate", interpolate)
    if isinstance(percentile, (bool, np.bool_)) or not isinstance(
        percentile, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"percentile must be a float in [0, 100], got {percentile!r}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    c, e, total = _check_hist(counts, edges)
    cdf = np.cumsum(c / total)

    def at(q: float) -> NDArray[Any]:
        j = min(int(np.searchsorted(cdf, q)), c.size - 1 if interpolate else e.size - 1)
        if not interpolate:
            return np.array(e[j], dtype=e.dtype)
        before = float(c[:j].sum())
        need = q * float(total) - before
        frac = min(max(need / float(c[j]), 0.0), 1.0) if c[j] > 0 else 0.0
        return np.array(float(e[j]) + frac * (float(e[j + 1]) - float(e[j])), dtype=e.dtype)

    p = float(percentile)
    if side == "two_sided":
        cut = (100.0 - p) / 200.0
        lo, hi = at(cut), at(1.0 - cut)
    else:
        hi = at(p / 100)
        lo = -hi if side == "symmetric" else np.array(e[0], dtype=e.dtype)
    if clip_to is not None:
        try:
            mn, mx = (float(v) for v in clip_to)
        except (TypeError, ValueError):
            raise TypeError(f"clip_to must be a pair of floats (min, max) or None, got {clip_to!r}") from None
        if math.isnan(mn) or math.isnan(mx) or mn > mx:
            raise ValueError(f"clip_to must be (min, max) with min <= max, got {clip_to!r}")
        if lo < mn:
            lo = np.array(mn, dtype=e.dtype)
        if hi > mx:
            hi = np.array(mx, dtype=e.dtype)
    return lo, hi


def histogram_moments(
    counts: ArrayLike, edges: ArrayLike, *, power: float = 1
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Mean and standard deviation of ``sign(v) |v|**power`` over the bin centres ``v`` (ORT ``_avg_std``).

    Parameters
    ----------
    counts : array_like, shape (B,)
        Counts (int64 as ONNX Runtime keeps them).
    edges : array_like of float, shape (B + 1,)
        Edges (float32 in ONNX Runtime).
    power : float
        ``> 0``. 1: the plain moments (ORT scenario ``"same"``); an odd integer:
        ``mean(v**k)`` and ``std`` about it; any other: the signed power
        ``sign(v)|v|**power`` (ORT scenario ``"p3"`` is ``power=1/3``; a centre
        at 0 gets sign +1).

    Returns
    -------
    avg, std : 0-d ndarray in the edges' dtype
        Accumulated as ORT does (``counts * values`` promotes int64 counts with
        float32 values to float64), then rounded to the edges' dtype.

    Notes
    -----
    .. math:: v_j = \\tfrac{e_j + e_{j+1}}{2}, \\quad \\mu = \\frac{\\sum c_j\\, t(v_j)}{\\sum c_j}, \\quad
        \\sigma = \\Big(\\frac{\\sum c_j\\, t(v_j)^2}{\\sum c_j} - \\mu^2\\Big)^{1/2}

    (for odd integer powers ``sigma = (sum c (t - mu)**2 / sum c)**0.5``). Source:
    ONNX Runtime ``onnxruntime/quantization/calibrate.py``,
    ``HistogramCollector._avg_std`` and ``compute_distribution``. A negative
    variance from cancellation gives NaN, as in ORT. Not modified; all-zero
    counts raise ``ValueError``.

    Examples
    --------
    >>> avg, std = histogram_moments([1, 1], [-1.0, 0.0, 1.0])
    >>> float(avg), float(std)
    (0.0, 0.5)
    """
    if isinstance(power, (bool, np.bool_)) or not isinstance(power, (int, float, np.integer, np.floating)):
        raise TypeError(f"power must be a float > 0, got {power!r}")
    if not (np.isfinite(power) and power > 0):
        raise ValueError(f"power must be finite and > 0, got {power!r}")
    c, e, _ = _check_hist(counts, edges)
    if e.size != c.size + 1:
        raise ValueError(f"edges must have len(counts) + 1 = {c.size + 1} values, got {e.size}")
    values = (e[:-1] + e[1:]) * 0.5
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if power == 1:
            avg = (c * values).sum() / c.sum()
            std = ((c * values**2).sum() / c.sum() - avg**2) ** 0.5
        elif int(power) == power and int(power) % 2 == 1:
            avg = (c * values**power).sum() / c.sum()
            std = ((c * (values**power - avg) ** 2).sum() / c.sum()) ** 0.5
        else:
            fact = np.abs(values) / values
            fact[~np.isfinite(fact)] = 1
            values = np.abs(values) ** power * fact
            avg = (c * values).sum() / c.sum()
            std = ((c * values**2).sum() / c.sum() - avg**2) ** 0.5
    return np.array(avg, dtype=e.dtype), np.array(std, dtype=e.dtype)
