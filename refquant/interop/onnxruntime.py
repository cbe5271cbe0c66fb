"""ONNX Runtime's histogram calibration (``onnxruntime.quantization.calibrate.HistogramCollector``).

The functions take ONNX Runtime's argument names and defaults and pin the knobs
of :mod:`refquant.calibrate` that reproduce it bit for bit (ONNX Runtime 1.32):

* :func:`collect_histogram` -- ``HistogramCollector.collect``: a signed histogram
  over ``[-t, t]`` that grows by whole bins on both sides (``collect_value``,
  methods "entropy" and "distribution", and "percentile" when not symmetric),
  or a histogram of ``|x|`` that appends bins (``collect_absolute_value``,
  "percentile" with ``symmetric=True``);
* :func:`compute_entropy` -- ``compute_entropy`` / ``get_entropy_threshold``;
* :func:`compute_percentile` -- ``compute_percentile``;
* :func:`compute_distribution` -- ``compute_distribution`` (``_avg_std``).

Their defaults are those of ``create_calibrator``: 128 bins and 128 quantized
bins for entropy, 2048 bins and 99.999 for percentile (symmetric), 2048 bins and
scenario "same" for distribution. Where ONNX Runtime departs from the other
tools (int64-truncated candidate distribution, smoothing, float32 divergences
and the first of equal minima, the left edge of the percentile bin, values
below the first absolute histogram's range dropped), the functions of
:mod:`refquant.calibrate` say so; the calibration page of the docs compares them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice
from refquant.calibrate.entropy import entropy_range
from refquant.calibrate.histogram import HistogramState, histogram_moments, histogram_percentile
from refquant.calibrate.streaming import histogram_of_batches

__all__ = ["collect_histogram", "compute_distribution", "compute_entropy", "compute_percentile"]

METHODS = ("entropy", "percentile", "distribution")
SCENARIOS = ("same", "p3")


def collect_histogram(
    batches: Iterable[ArrayLike],
    *,
    method: str = "entropy",
    symmetric: bool = False,
    num_bins: int = 128,
) -> HistogramState:
    """``HistogramCollector(method, symmetric, num_bins, ...).collect`` on ``batches`` in order.

    Parameters
    ----------
    batches : iterable of array_like
        One tensor's values per batch (float32 or float16, as ONNX Runtime
        requires); at least one.
    method : {"entropy", "percentile", "distribution"}
    symmetric : bool
        With ``method="percentile"``: a histogram of ``|x|``.
    num_bins : int
        Bins of the first histogram (more when the range grows).

    Returns
    -------
    HistogramState
        ``(counts, edges, min, max)``: ONNX Runtime's ``histogram_dict[name]``
        (int64 counts, float edges, the data's min and max; the signed
        collector's threshold is ``edges[-1]``).

    Notes
    -----
    Signed (``collect_value``): the first batch's histogram covers
    :math:`[-t, t]`, :math:`t = \\max(|\\min x|, |\\max x|)`; a later batch with a
    larger :math:`t'` adds :math:`k = \\lfloor (t' - t) / w \\rfloor + 1` bins of
    width :math:`w` on each side. Absolute (``collect_absolute_value``): the
    first histogram covers :math:`[\\min |x|, \\max |x|]` and later batches append
    bins of the same width with ``np.arange``. Source: ONNX Runtime
    ``onnxruntime/quantization/calibrate.py``, ``HistogramCollector.collect``,
    ``collect_value``, ``merge_histogram``, ``collect_absolute_value``
    (:func:`refquant.calibrate.streaming.histogram_update`, rules
    ``"onnxruntime"`` and ``"onnxruntime_absolute"``).

    Examples
    --------
    >>> s = collect_histogram([np.array([-1.0, 0.5, 1.0], np.float32)], num_bins=4)
    >>> s.counts.tolist(), s.edges.tolist()
    ([1, 0, 0, 2], [-1.0, -0.5, 0.0, 0.5, 1.0])
    """
    check_choice("method", method, METHODS)
    if not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"symmetric must be a bool, got {symmetric!r}")
    absolute = method == "percentile" and bool(symmetric)
    return histogram_of_batches(
        batches, bins=num_bins, rule="onnxruntime_absolute" if absolute else "onnxruntime"
    )


def compute_entropy(histogram: HistogramState, num_quantized_bins: int = 128) -> tuple[Any, Any]:
    """``HistogramCollector.compute_entropy``: the ``(lo, hi)`` threshold of least KL divergence.

    Parameters
    ----------
    histogram : HistogramState
        A signed histogram from :func:`collect_histogram` (``method="entropy"``).
    num_quantized_bins : int

    Returns
    -------
    (lo, hi) : NumPy scalars of the edges' dtype
        ``get_entropy_threshold``'s result (the first two entries of ONNX
        Runtime's tuple; it appends ``hist, hist_edges``).

    Notes
    -----
    .. math:: i^* = \\operatorname{argmin}_i \\operatorname{KL}(P_i \\,\\|\\, Q_i), \\quad
        (lo, hi) = \\operatorname{clamp}(e_{z - i^*}, e_{z + i^* + 1})

    :func:`refquant.calibrate.entropy.entropy_range` with
    ``convention="onnxruntime"`` (floor merge, int64 truncation of ``q``,
    ``smooth_distribution`` with ``eps = 1e-4``, float32 divergences, the first
    minimum), clamped to the data's min and max. Source: ONNX Runtime
    ``calibrate.py``, ``get_entropy_threshold``.

    Examples
    --------
    >>> s = collect_histogram([np.array([-1.0, -0.1, 0.0, 0.2, 0.3, 2.0], np.float32)], num_bins=8)
    >>> lo, hi = compute_entropy(s, num_quantized_bins=2)
    >>> float(lo), float(hi)
    (-1.0, 2.0)
    """
    bins = _state(histogram).size
    if isinstance(num_quantized_bins, (int, np.integer)) and not isinstance(
        num_quantized_bins, (bool, np.bool_)
    ):
        if not 2 <= num_quantized_bins <= bins:
            raise ValueError(
                f"num_quantized_bins must be in [2, {bins}] (the histogram), got {num_quantized_bins!r}"
            )
    return entropy_range(
        histogram.counts,
        histogram.edges,
        num_quantized_bins=num_quantized_bins,
        min_value=histogram.min,
        max_value=histogram.max,
        convention="onnxruntime",
    )


def compute_percentile(
    histogram: HistogramState, percentile: float = 99.999, *, symmetric: bool = True
) -> tuple[Any, Any]:
    """``HistogramCollector.compute_percentile``: the bin edges where the CDF reaches the percentile.

    Parameters
    ----------
    histogram : HistogramState
        From :func:`collect_histogram` with ``method="percentile"`` and the same ``symmetric``.
    percentile : float
        In ``[0, 100]``.
    symmetric : bool
        ``(-a, a)`` with ``a`` the edge at ``p`` of the absolute histogram, or the
        edges at ``(100 - p) / 200`` and ``1 - (100 - p) / 200`` of the signed one.

    Returns
    -------
    (lo, hi) : 0-d arrays of the edges' dtype
        Clamped to the data's ``(min, max)`` as ONNX Runtime does.

    Notes
    -----
    .. math:: F_j = \\sum_{k \\le j} c_k / \\sum c, \\quad a = e_{\\min\\{j : F_j \\ge p/100\\}}

    :func:`refquant.calibrate.histogram.histogram_percentile` with ``side`` and
    ``clip_to``. The edge is the *left* edge of the bin where the CDF reaches
    ``p`` (an under-estimate by up to one bin). Source: ONNX Runtime
    ``calibrate.py``, ``compute_percentile``.

    Examples
    --------
    >>> s = collect_histogram([np.array([0.0, 1.0, 2.0, 3.0], np.float32)], method="percentile",
    ...                       symmetric=True, num_bins=3)
    >>> [float(v) for v in compute_percentile(s, 50.0)]  # -1 clamped to the data's min, 0
    [0.0, 1.0]
    """
    _state(histogram)
    if not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"symmetric must be a bool, got {symmetric!r}")
    return histogram_percentile(
        histogram.counts,
        histogram.edges,
        percentile,
        side="symmetric" if symmetric else "two_sided",
        clip_to=(float(histogram.min), float(histogram.max)),
    )


def compute_distribution(histogram: HistogramState, scenario: str = "same") -> tuple[Any, Any]:
    """``HistogramCollector.compute_distribution``: ``(avg, std)`` of the bin centres.

    Parameters
    ----------
    histogram : HistogramState
        From :func:`collect_histogram` (``method="distribution"``), at least 512 bins.
    scenario : {"same", "p3"}
        "same": the plain moments; "p3": of ``sign(v)|v|**(1/3)``.

    Returns
    -------
    (avg, std) : 0-d arrays of the edges' dtype

    Notes
    -----
    .. math:: \\mu = \\frac{\\sum_j c_j\\, t(v_j)}{\\sum_j c_j}, \\quad
        \\sigma = \\Big(\\frac{\\sum_j c_j\\, t(v_j)^2}{\\sum_j c_j} - \\mu^2\\Big)^{1/2}

    :func:`refquant.calibrate.histogram.histogram_moments` (``power=1`` or
    ``1/3``). ONNX Runtime refuses fewer than 512 bins (``ValueError``, here
    too). Source: ONNX Runtime ``calibrate.py``, ``compute_distribution``,
    ``_avg_std``.

    Examples
    --------
    >>> s = collect_histogram([np.array([-1.0, 1.0], np.float32)], method="distribution", num_bins=512)
    >>> [round(float(v), 4) for v in compute_distribution(s)]
    [0.0, 0.998]
    """
    _state(histogram)
    check_choice("scenario", scenario, SCENARIOS)
    if histogram.counts.size < 512:
        raise ValueError(f"histogram must have at least 512 bins (ONNX Runtime), got {histogram.counts.size}")
    return histogram_moments(histogram.counts, histogram.edges, power=1 if scenario == "same" else 1.0 / 3.0)


def _state(histogram: object) -> NDArray[Any]:
    if not isinstance(histogram, HistogramState):
        raise TypeError(
            f"histogram must be a HistogramState (from collect_histogram), got {type(histogram).__name__}"
        )
    return np.asarray(histogram.counts)
