"""Range estimators on data: min-max, PyTorch's moving-average min-max, exact percentiles, range -> qparams.

Every estimator returns ``(lo, hi)``: 0-d arrays per tensor, or arrays of the
kept axes' shape per axis (``axis`` names the *kept* channel axis or axes; every
other axis is reduced). :func:`range_to_qparams` turns any range into the
foundation's :class:`~refquant.qparams.QParams`.

Common policies: NaN anywhere raises ``ValueError`` (a calibration batch with
NaN is a bug upstream; NumPy's ``min`` would return NaN, ONNX Runtime's
``nanmin`` would hide it); ``±inf`` are ordinary values (the range is then not
finite and :func:`range_to_qparams` rejects it); an empty input (or an empty
reduction) raises ``ValueError``. Inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_bool, check_choice, normalize_axis, show_values
from refquant.formats import IntFormat, int_format
from refquant.qparams import QParams, qparams_from_range

__all__ = [
    "PERCENTILE_METHODS",
    "minmax_range",
    "moving_average_minmax",
    "percentile_range",
    "range_to_qparams",
]

#: The interpolations of :func:`percentile_range`: NumPy's ``method=`` names (Hyndman & Fan 1996).
PERCENTILE_METHODS: tuple[str, ...] = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)


def _axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """The kept axes (sorted, unique, non-negative) or None for per tensor."""
    if axis is None:
        return None
    items = axis if isinstance(axis, tuple) else (axis,)
    kept = tuple(normalize_axis("axis", a, ndim) for a in items)
    if len(set(kept)) != len(kept):
        raise ValueError(f"axis must not repeat an axis, got axis={axis!r}")
    return tuple(sorted(kept))


def _as_rows(
    name: str, x: ArrayLike, axis: Any, check_nan: bool = True
) -> tuple[NDArray[Any], tuple[int, ...]]:
    """``x`` as a float array ``(channels, reduced)`` (a view or copy; never written) and the kept shape."""
    xa = as_float_array(name, x)
    if check_nan and np.isnan(xa).any():
        _raise_nan(name, xa)
    kept = _axes(axis, xa.ndim)
    if kept is None:
        rows, shape = xa.reshape(1, -1), ()
    else:
        rest = tuple(i for i in range(xa.ndim) if i not in kept)
        shape = tuple(xa.shape[i] for i in kept)
        rows = np.transpose(xa, kept + rest).reshape(int(np.prod(shape, dtype=np.int64)), -1)
    if rows.shape[1] == 0 or rows.shape[0] == 0:
        raise ValueError(f"{name} has no values to take a range of (shape {xa.shape}, axis={axis!r})")
    return rows, shape


def _raise_nan(name: str, xa: NDArray[Any]) -> None:
    raise ValueError(f"{name} must not contain NaN, got {show_values(xa[np.isnan(xa)])}")


def minmax_range(
    x: ArrayLike, *, axis: int | tuple[int, ...] | None = None, symmetric: bool = False
) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(min x, max x)``, per tensor or per kept axis; ``(-amax, amax)`` with ``amax = max|x|`` if symmetric.

    Parameters
    ----------
    x : array_like of float or int
        The data; float16/32/64 keep their dtype, integers become float64.
    axis : int, tuple of int or None
        The kept (channel) axis or axes; the others are reduced. None: per tensor.
    symmetric : bool
        Return ``(-amax, amax)``.

    Returns
    -------
    lo, hi : ndarray
        0-d (per tensor) or of the kept axes' shape, in ``x``'s float dtype.

    Notes
    -----
    .. math::

        [\\ell, h] = [\\min_i x_i, \\max_i x_i], \\qquad
        [\\ell, h]_{sym} = [-\\max_i |x_i|, \\max_i |x_i|]

    Source: PyTorch ``MinMaxObserver`` / ``PerChannelMinMaxObserver``
    (``torch.aminmax``), ModelOpt ``MaxCalibrator`` (``amax``). NaN raises
    ``ValueError``; ``±inf`` are kept (a non-finite range); empty input raises.

    Examples
    --------
    >>> lo, hi = minmax_range([[1.0, -2.0], [3.0, 0.5]], axis=0)
    >>> lo.tolist(), hi.tolist()
    ([-2.0, 0.5], [1.0, 3.0])
    >>> [float(v) for v in minmax_range([1.0, -2.0], symmetric=True)]
    [-2.0, 2.0]
    """
    return _minmax("x", x, axis, check_bool("symmetric", symmetric))


def _minmax(name: str, x: ArrayLike, axis: Any, symmetric: bool) -> tuple[NDArray[Any], NDArray[Any]]:
    rows, shape = _as_rows(name, x, axis)
    if symmetric:
        amax = np.max(np.abs(rows), axis=1).reshape(shape)
        return -amax, amax
    return np.min(rows, axis=1).reshape(shape), np.max(rows, axis=1).reshape(shape)


def moving_average_minmax(
    batches: Iterable[ArrayLike],
    *,
    averaging_constant: float = 0.01,
    axis: int | tuple[int, ...] | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """PyTorch's moving-average min-max: the first batch sets ``(lo, hi)``, then ``lo += c * (min_b - lo)``.

    Parameters
    ----------
    batches : iterable of array_like
        The batches in observation order, each cast to float32 first (as the
        observer's ``x.to(self.min_val.dtype)``). Empty batches are skipped
        (the observer returns early on ``numel() == 0``).
    averaging_constant : float
        ``c`` in ``(0, 1]``, rounded to float32 (torch's scalar in a float32 op).
    axis : int, tuple of int or None
        Kept (channel) axis: ``MovingAveragePerChannelMinMaxObserver``'s
        ``ch_axis``; every batch must have the same kept shape.

    Returns
    -------
    lo, hi : ndarray of float32
        0-d or of the kept shape.

    Notes
    -----
    .. math::

        \\ell_1 = \\min x^{(1)}, \\qquad \\ell_t = \\ell_{t-1} + c\\,(\\min x^{(t)} - \\ell_{t-1})
        \\quad (\\text{same for } h \\text{ with } \\max)

    Every step is one float32 operation, in this order, as
    ``torch.ao.quantization.observer.MovingAverageMinMaxObserver.forward``:
    ``min_val + averaging_constant * (min_val_cur - min_val)``. NaN raises
    ``ValueError`` (torch would propagate it); no non-empty batch raises.

    Examples
    --------
    >>> lo, hi = moving_average_minmax([[0.0, 1.0], [-1.0, 3.0]], averaging_constant=0.5)
    >>> float(lo), float(hi)
    (-0.5, 2.0)
    """
    c = _check_constant(averaging_constant)
    if isinstance(batches, np.ndarray) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of arrays (a list), got {type(batches).__name__}")
    lo: NDArray[np.float32] | None = None
    hi: NDArray[np.float32] | None = None
    for i, b in enumerate(batches):
        arr = as_float_array(f"batches[{i}]", b)
        if arr.size == 0:
            continue
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float32)
        bl, bh = _minmax(f"batches[{i}]", arr, axis, False)
        if lo is None or hi is None:
            lo, hi = bl, bh
            continue
        if bl.shape != lo.shape:
            raise ValueError(f"batches[{i}] has kept shape {bl.shape}, the earlier batches {lo.shape}")
        with np.errstate(invalid="ignore", over="ignore"):
            lo = np.asarray(lo + c * (bl - lo), dtype=np.float32)
            hi = np.asarray(hi + c * (bh - hi), dtype=np.float32)
    if lo is None or hi is None:
        raise ValueError("batches must hold at least one non-empty batch, got none")
    return lo, hi


def _check_constant(c: Any) -> np.float32:
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise TypeError(f"averaging_constant must be a float, got {c!r}")
    if not 0 < c <= 1:
        raise ValueError(f"averaging_constant must be in (0, 1], got {c!r}")
    return np.float32(c)


def percentile_range(
    x: ArrayLike,
    percentile: float,
    *,
    symmetric: bool = False,
    method: str = "linear",
    axis: int | tuple[int, ...] | None = None,
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Exact order statistics: the ``(100-p)/2`` and ``100-(100-p)/2`` percentiles, or ``±P_p(|x|)``.

    Parameters
    ----------
    x : array_like of float or int
        The data (float dtypes kept, integers become float64).
    percentile : float
        ``p`` in ``[0, 100]``: the share of the data kept inside the range.
    symmetric : bool
        ``(-a, a)`` with ``a`` the ``p``-th percentile of ``|x|``; otherwise
        two-sided, cutting ``(100 - p) / 2`` percent on each side.
    method : str
        One of :data:`PERCENTILE_METHODS`, NumPy's ``np.percentile`` names.
    axis : int, tuple of int or None
        Kept (channel) axes; the others are reduced.

    Returns
    -------
    lo, hi : ndarray
        In ``x``'s float dtype, equal bit for bit to ``np.percentile(x, q)`` with
        ``q`` a Python float, per kept index.

    Notes
    -----
    .. math::

        \\ell = Q\\big(\\tfrac{100 - p}{2}\\big), \\quad h = Q\\big(100 - \\tfrac{100 - p}{2}\\big), \\quad
        Q(q) = (1 - \\gamma)\\, x_{(j)} + \\gamma\\, x_{(j+1)}

    with ``j`` and ``gamma`` from the virtual index of ``method`` (Hyndman &
    Fan, "Sample quantiles in statistical packages", 1996; ``linear`` is
    their type 7, ``(n - 1) q``). The order statistics are exact: per tensor,
    for 2**17 values or more, a strided sample brackets the needed ranks, one
    pass counts the values below each bracket and keeps those inside, and only
    those are partitioned (the whole row if a bracket misses); otherwise one
    ``np.partition`` (O(n) introselect) at the needed ranks. The
    interpolation is NumPy's ``_lerp`` (``b - (b - a)(1 - g)`` for ``g >= 0.5``),
    so the result equals ``np.percentile``. NaN raises ``ValueError``;
    ``±inf`` are ordinary order statistics (an interpolation between two
    infinities gives NaN, as NumPy); empty input raises.

    Examples
    --------
    >>> lo, hi = percentile_range([0.0, 1.0, 2.0, 3.0, 4.0], 50.0)
    >>> float(lo), float(hi)
    (1.0, 3.0)
    >>> [float(v) for v in percentile_range([-4.0, 1.0, 2.0], 50.0, symmetric=True, method="lower")]
    [-2.0, 2.0]
    """
    symmetric = check_bool("symmetric", symmetric)
    check_choice("method", method, PERCENTILE_METHODS)
    p = _check_percentile(percentile)
    rows, shape = _as_rows("x", x, axis, check_nan=False)  # _select raises on NaN
    if symmetric:
        (a,) = _quantiles(np.abs(rows), (p,), method)
        a = a.reshape(shape)
        return -a, a
    cut = (100.0 - p) / 2.0
    lo, hi = _quantiles(rows, (cut, 100.0 - cut), method)
    return lo.reshape(shape), hi.reshape(shape)


def _check_percentile(p: Any) -> float:
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"percentile must be a float in [0, 100], got {p!r}")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {p!r}")
    return float(p)


def _virtual(n: int, q: NDArray[np.float64], method: str) -> tuple[NDArray[Any], NDArray[Any], Any]:
    """NumPy's ``(previous index, next index, gamma)`` for quantile ``q`` (0-d float64) of ``n`` values."""
    nq = n * q
    if method in ("lower", "higher", "nearest", "inverted_cdf", "closest_observation"):
        if method == "lower":
            idx = np.floor((n - 1) * q)
        elif method == "higher":
            idx = np.ceil((n - 1) * q)
        elif method == "nearest":
            idx = np.around((n - 1) * q)
        else:
            v = nq - 1 - (0.5 if method == "closest_observation" else 0.0)
            prev = np.floor(v)
            g = v - prev
            at_prev = (g == 0) & (np.floor(v) % 2 == 1) if method == "closest_observation" else g == 0
            idx = np.maximum(np.where(at_prev, prev, prev + 1), 0)
        i = np.asarray(idx).astype(np.intp)
        return i, i, None
    if method == "linear":
        v = (n - 1) * q
    elif method == "averaged_inverted_cdf":
        v = nq - 1
    elif method == "midpoint":
        v = 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q))
    else:
        alpha = {"interpolated_inverted_cdf": 0.0, "hazen": 0.5, "weibull": 0.0}.get(method)
        if alpha is None:
            alpha = 1 / 3.0 if method == "median_unbiased" else 3 / 8.0
        beta = 1.0 if method == "interpolated_inverted_cdf" else alpha
        v = nq + (alpha + q * (1 - alpha - beta)) - 1
    v = np.asarray(v, dtype=np.float64)
    prev = np.floor(v)
    nxt = prev + 1
    if v >= n - 1:
        prev, nxt = np.asarray(-1.0), np.asarray(-1.0)
    elif v < 0:
        prev, nxt = np.asarray(0.0), np.asarray(0.0)
    gamma = np.asarray(v - prev)
    if method == "averaged_inverted_cdf":
        gamma = np.asarray(0.5 if gamma == 0 else 1.0)
    elif method == "midpoint":
        gamma = np.asarray(0.0 if v % 1 == 0 else 0.5)
    return prev.astype(np.intp) % n, nxt.astype(np.intp) % n, float(gamma)


def _quantiles(rows: NDArray[Any], percents: tuple[float, ...], method: str) -> list[NDArray[Any]]:
    """The ``percents`` of each row of ``rows``, NumPy's arithmetic, one selection for all of them."""
    n = rows.shape[1]
    plans = [_virtual(n, np.true_divide(p, 100, out=np.empty((), np.float64)), method) for p in percents]
    kth = np.unique(np.concatenate([np.concatenate([np.ravel(a), np.ravel(b)]) for a, b, _ in plans]))
    sel = _select(rows, kth)
    at = {int(k): i for i, k in enumerate(kth.tolist())}
    out = []
    for prev, nxt, gamma in plans:
        a = sel[:, at[int(prev)]]
        if gamma is None:
            out.append(np.array(a))
            continue
        b = sel[:, at[int(nxt)]]
        with np.errstate(invalid="ignore", over="ignore"):
            diff = b - a
            res = np.add(a, diff * gamma)
            if gamma >= 0.5:
                res = np.asarray(np.subtract(b, diff * (1 - gamma)), dtype=res.dtype)
        out.append(res)
    return out


_SAMPLE = 1 << 14  # values in the sample that brackets the wanted ranks of a long row


def _select(rows: NDArray[Any], kth: NDArray[np.intp]) -> NDArray[Any]:
    """The order statistics of ranks ``kth`` (sorted, unique) of each row, ``(rows, len(kth))``; NaN raises.

    A long single row is bracketed first: a strided sample (deterministic)
    gives bounds ``L <= U`` around each cluster of ranks; one pass counts the
    values below ``L`` and keeps those in ``[L, U]``, and only those are
    partitioned. Where a bracket misses its ranks (it cannot on a sample this
    size but for adversarial data) the whole row is partitioned instead.
    """
    n = rows.shape[1]
    if rows.shape[0] == 1 and n >= 1 << 17:
        v = rows[0]
        top = np.max(v)  # NaN propagates; the brackets' comparisons would skip it
        if np.isnan(top):
            _raise_nan("x", v)
        got = _select_bracketed(v, kth)
        if got is not None:
            return got[None, :]
    part = np.partition(rows, np.union1d(kth, [n - 1]), axis=1)  # NaN sorts last
    if np.isnan(part[:, -1]).any():
        _raise_nan("x", rows)
    return part[:, kth]


def _select_bracketed(v: NDArray[Any], kth: NDArray[np.intp]) -> NDArray[Any] | None:
    n = v.size
    sample = np.sort(v[:: n // _SAMPLE])
    m = sample.size
    slack = int(4 * math.sqrt(m)) + 8  # about 8 standard deviations of a sample rank (at most sqrt(m) / 2)
    # clusters of ranks whose windows in the sample overlap share one pass
    groups: list[list[int]] = []
    for k in kth.tolist():
        if groups and (k - groups[-1][-1]) * m <= 4 * slack * n:
            groups[-1].append(k)
        else:
            groups.append([k])
    out = np.empty(kth.size, v.dtype)
    i = 0
    for g in groups:
        j_lo = g[0] * m // n - slack
        j_hi = g[-1] * m // n + slack
        below = 0
        keep: NDArray[np.bool_] | None = None
        if j_lo > 0:
            low = sample[j_lo]
            below = int(np.count_nonzero(v < low))
            keep = v >= low
        if j_hi < m - 1:
            high = v <= sample[j_hi]
            keep = high if keep is None else np.logical_and(keep, high, out=keep)
        cand = v if keep is None else v[keep]
        if not (below <= g[0] and g[-1] < below + cand.size):
            return None
        ranks = np.asarray(g, np.intp) - below
        out[i : i + len(g)] = np.partition(cand, ranks)[ranks]
        i += len(g)
    return out


def range_to_qparams(
    lo: ArrayLike,
    hi: ArrayLike,
    fmt: str | IntFormat = "int8",
    *,
    quant_min: int | None = None,
    quant_max: int | None = None,
    narrow_range: bool = False,
    symmetric: bool = False,
    **options: Any,
) -> QParams:
    """A range ``[lo, hi]`` to the foundation's ``(scale, zero_point)``; for a float format ``amax / max``.

    Parameters
    ----------
    lo, hi : array_like of float
        The range of any estimator (0-d or per channel), finite, ``lo <= hi``.
    fmt : str or IntFormat
        An integer format (``"int8"``, ``"uint4"``, an :class:`IntFormat`)
        or a float format name of :data:`refquant.floats.spec.FLOAT_FORMATS`
        (``"float8_e4m3fn"``, ...).
    quant_min, quant_max : int or None
        A custom code range (both or neither), instead of ``fmt``'s.
    narrow_range : bool
        Drop the most negative code (``[-127, 127]`` for int8).
    symmetric : bool
        The symmetric scheme of :func:`refquant.qparams.qparams_from_range`.
    **options
        Passed on to :func:`~refquant.qparams.qparams_from_range`
        (``symmetric_divisor``, ``include_zero``, ``eps``, ``zero_point_rounding``,
        ``zero_point_formula``, ``dtype``).

    Returns
    -------
    QParams
        For a float format: ``scale = amax / max_finite`` (float32, ``amax =
        max(|lo|, |hi|)``), zero point 0, and ``quant_min, quant_max`` the
        format's ``-max_finite, max_finite`` as integers (the codes are not integers).

    Notes
    -----
    .. math:: s = \\frac{\\max(|\\ell|, |h|)}{\\text{fmt}_{max}} \\ \\text{(float formats)}, \\qquad
        (s, z) = \\operatorname{qparams\\_from\\_range}(\\ell, h, q_{min}, q_{max}) \\ \\text{(integers)}

    Source: the float rule is ModelOpt's fp8 scaling (``scaled_e4m3``:
    ``scale = amax / 448``); the integer rules are the foundation's
    (:mod:`refquant.qparams`). A float format's ``amax`` of 0, NaN or ``±inf``
    raises ``ValueError`` (the integer path raises for non-finite ranges and
    guards the scale with ``eps``).

    Examples
    --------
    >>> p = range_to_qparams(-1.0, 3.0, "uint8")
    >>> float(p.scale), int(p.zero_point), p.quant_min, p.quant_max
    (0.01568627543747425, 64, 0, 255)
    >>> float(range_to_qparams(-1.0, 448.0, "float8_e4m3fn").scale)
    1.0
    """
    narrow_range = check_bool("narrow_range", narrow_range)
    if isinstance(fmt, str) and not fmt.lstrip("u").startswith("int"):
        from refquant.floats.spec import float_format

        ff = float_format(fmt, "fmt")
        if quant_min is not None or quant_max is not None or options:
            raise ValueError(f"fmt={fmt!r} is a float format: quant_min, quant_max and options do not apply")
        lo_a, hi_a = as_float_array("lo", lo), as_float_array("hi", hi)
        if lo_a.shape != hi_a.shape:
            raise ValueError(f"lo and hi must have the same shape, got {lo_a.shape} and {hi_a.shape}")
        amax = np.maximum(np.abs(lo_a), np.abs(hi_a)).astype(np.float32)
        if not np.all(np.isfinite(amax) & (amax > 0)):
            raise ValueError(f"a float format needs a finite amax > 0, got amax={show_values(amax)}")
        scale = np.asarray(amax / np.float32(ff.max_finite), dtype=np.float32)
        m = int(ff.max_finite)
        return QParams(scale, np.zeros(scale.shape, np.int64), -m, m)
    if quant_min is not None or quant_max is not None:
        if quant_min is None or quant_max is None:
            raise ValueError(f"give both quant_min and quant_max, got {quant_min!r} and {quant_max!r}")
        qmin, qmax = quant_min, quant_max
    else:
        if not isinstance(fmt, (str, IntFormat)):
            raise TypeError(f"fmt must be a format name or an IntFormat, got {fmt!r}")
        f = fmt if isinstance(fmt, IntFormat) else int_format(fmt)
        qmin, qmax = f.qmin, f.qmax
    if narrow_range:
        qmin += 1
    return qparams_from_range(lo, hi, qmin, qmax, symmetric=symmetric, **options)
