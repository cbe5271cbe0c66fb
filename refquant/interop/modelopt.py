"""NVIDIA ModelOpt's histogram calibration (``modelopt.torch.quantization.calib.histogram``).

The functions take ModelOpt's names, argument names and defaults (ModelOpt
0.47.0) and pin the knobs of :mod:`refquant.calibrate` that reproduce it:

* :func:`compute_amax_entropy` -- ``_compute_amax_entropy`` (float32 bit-identical);
* :func:`compute_amax_mse` -- ``_compute_amax_mse`` as ModelOpt intends it, or
  with ``shipped=True`` as the installed 0.47.0 computes it;
* :func:`compute_amax_percentile` -- ``_compute_amax_percentile``;
* :func:`collect_histogram` -- ``HistogramCalibrator.collect``: a histogram of
  ``|x|`` from 0 that appends bins of the same width when the range grows.

Departures of ModelOpt 0.47.0, each checked in ``tests/conformance``:

1. ``_compute_amax_mse`` calls ``fake_tensor_quant(centers, amax, num_bits,
   unsigned)`` positionally, but the third parameter of ``fake_tensor_quant`` is
   ``bias``: the quantizer runs with ``bias=num_bits`` and ``num_bits=unsigned``.
   Unsigned, the bound is 0, every output is 0/0 = NaN and the search returns
   the first candidate ``centers[start_bin]`` whatever the histogram; signed,
   the output is ``amax + num_bits`` and the search minimizes that error
   instead (see :func:`refquant.calibrate.mse.mse_amax`). Its fp8 path
   (``num_bits=(4, 3)``) raises ``TypeError``: ``scaled_e4m3`` is called
   positionally too.
2. ``_compute_amax_entropy`` writes ``bins[0] = bins[1]`` into a *view* of the
   histogram it is given: the caller's ``calib_hist[0]`` is overwritten.
   refquant never modifies its inputs.
3. The entropy search takes the *last* of equal divergences, the percentile
   the *left* edge of the bin where the CDF reaches ``p``; the histogram
   counts are float32 (torch.histc), exact only up to ``2**24`` per bin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refquant._validate import check_bool, check_choice, check_int
from refquant.calibrate.entropy import entropy_amax
from refquant.calibrate.histogram import HistogramState, histogram_percentile
from refquant.calibrate.mse import mse_amax
from refquant.calibrate.streaming import histogram_of_batches

__all__ = [
    "collect_histogram",
    "compute_amax",
    "compute_amax_entropy",
    "compute_amax_mse",
    "compute_amax_percentile",
]

METHODS = ("entropy", "mse", "percentile")


def compute_amax_entropy(
    calib_hist: ArrayLike,
    calib_bin_edges: ArrayLike,
    num_bits: int = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
) -> np.float32:
    """``_compute_amax_entropy``: the threshold edge of least KL divergence (TensorRT's algorithm).

    Parameters
    ----------
    calib_hist : array_like, shape (B,)
        Counts of ``|x|`` (ModelOpt's ``_calib_hist``); not modified.
    calib_bin_edges : array_like, shape (B + 1,)
        Its edges, from 0.
    num_bits : int
        ``2**(num_bits - 1 + unsigned)`` quantized bins.
    unsigned : bool
    stride, start_bin : int
        Candidates ``i = start_bin, start_bin + stride, ..., B``.

    Returns
    -------
    numpy.float32
        ``calib_bin_edges[i*]`` as ModelOpt returns it (``torch.tensor(edge.item())``).

    Notes
    -----
    .. math:: i^* = \\max \\operatorname{argmin}_i \\operatorname{KL}(P_i \\,\\|\\, Q_i)

    with :math:`P_i` the first :math:`i` bins (the first bin replaced by the
    second, the outliers added to the last) and :math:`Q_i` its merge into the
    quantized bins spread back over the non-zero bins, no smoothing.
    :func:`refquant.calibrate.entropy.entropy_amax` with ``convention="modelopt"``.
    Source: ModelOpt 0.47.0, ``calib/histogram.py``, ``_compute_amax_entropy``.

    Examples
    --------
    >>> hist = np.array([5, 1, 1, 1, 0, 0, 0, 0])
    >>> float(compute_amax_entropy(hist, np.arange(9.0), num_bits=2, start_bin=2))  # the last of equal minima
    8.0
    >>> hist.tolist()  # untouched (ModelOpt sets hist[0] = hist[1])
    [5, 1, 1, 1, 0, 0, 0, 0]
    """
    return np.float32(
        entropy_amax(
            calib_hist,
            calib_bin_edges,
            num_bits=num_bits,
            unsigned=unsigned,
            stride=stride,
            start_bin=start_bin,
            convention="modelopt",
        )
    )


def compute_amax_mse(
    calib_hist: ArrayLike,
    calib_bin_edges: ArrayLike,
    num_bits: int | tuple[int, int] = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
    *,
    shipped: bool = False,
) -> np.float32:
    """``_compute_amax_mse``: the bin centre whose fake quantization of the centres has least MSE.

    Parameters
    ----------
    calib_hist, calib_bin_edges : array_like
        As :func:`compute_amax_entropy`.
    num_bits : int or (4, 3)
        Integer bits, or ``(4, 3)`` for ModelOpt's fp8 e4m3 search.
    unsigned : bool
    stride, start_bin : int
        Candidates ``amax = centers[i]``, ``i = start_bin, start_bin + stride, ... < B``.
    shipped : bool
        False: the search ModelOpt's code intends (its quantizer called with
        ``bias=None``, ``num_bits`` and ``unsigned``). True: what ModelOpt 0.47.0
        computes as installed, where ``num_bits`` lands on ``bias`` (module
        docstring, item 1): unsigned, ``centers[start_bin]`` for every histogram.

    Returns
    -------
    numpy.float32

    Notes
    -----
    .. math:: i^* = \\operatorname{argmin}_i \\frac1B \\sum_j n_j \\big(Q(c_j; c_i) - c_j\\big)^2

    in float32, :math:`c_j` the bin centres, :math:`Q` ModelOpt's
    ``fake_tensor_quant`` (scale :math:`q_{max}/a`, round half to even, clamp)
    or ``scaled_e4m3``. :func:`refquant.calibrate.mse.mse_amax` with
    ``convention="modelopt"``. Source: ModelOpt 0.47.0, ``calib/histogram.py``,
    ``_compute_amax_mse``; ``tensor_quant.py``.

    Examples
    --------
    >>> hist = np.bincount(np.minimum(np.abs(np.random.default_rng(0).standard_normal(10**5)) * 100,
    ...                    299).astype(int), minlength=300)
    >>> edges = np.linspace(0, 3, 301, dtype=np.float32)
    >>> round(float(compute_amax_mse(hist, edges, 4, True, start_bin=50)), 3)
    2.755
    >>> compute_amax_mse(hist, edges, 4, True, start_bin=50, shipped=True) == (edges[50] + edges[51]) / 2
    np.True_
    """
    return np.float32(
        mse_amax(
            calib_hist,
            calib_bin_edges,
            num_bits=num_bits,
            unsigned=unsigned,
            stride=stride,
            start_bin=start_bin,
            convention="modelopt",
            shipped=shipped,
        )
    )


def compute_amax_percentile(
    calib_hist: ArrayLike, calib_bin_edges: ArrayLike, percentile: float
) -> np.float32:
    """``_compute_amax_percentile``: the edge where the CDF of the histogram reaches the percentile.

    Parameters
    ----------
    calib_hist, calib_bin_edges : array_like
        As :func:`compute_amax_entropy`.
    percentile : float
        In ``[0, 100]`` (``ValueError`` otherwise, as ModelOpt).

    Returns
    -------
    numpy.float32
        ``calib_bin_edges[searchsorted(cumsum(hist / total), p / 100)]``: the
        left edge of the bin in which the CDF reaches ``p``.

    Notes
    -----
    .. math:: a = e_{\\min\\{j : \\sum_{k \\le j} n_k / N \\ge p/100\\}}

    :func:`refquant.calibrate.histogram.histogram_percentile` with
    ``side="upper"``. Source: ModelOpt 0.47.0, ``calib/histogram.py``,
    ``_compute_amax_percentile``.

    Examples
    --------
    >>> float(compute_amax_percentile([1, 2, 1], [0.0, 1.0, 2.0, 3.0], 50.0))
    1.0
    """
    return np.float32(histogram_percentile(calib_hist, calib_bin_edges, percentile, side="upper")[1])


def collect_histogram(
    batches: Iterable[ArrayLike], *, num_bins: int = 2048, skip_zeros: bool = False, torch_hist: bool = True
) -> HistogramState:
    """``HistogramCalibrator(num_bins, skip_zeros, torch_hist=...).collect`` on ``batches`` in order.

    Parameters
    ----------
    batches : iterable of array_like
        One tensor's values per batch; at least one.
    num_bins : int
    skip_zeros : bool
        Leave exact zeros out (ModelOpt's ``skip_zeros``).
    torch_hist : bool
        ModelOpt's default torch path (``torch.histc``, float32 counts), or its
        NumPy path (``np.histogram``; its edges become float64 after a growth).

    Returns
    -------
    HistogramState
        ``counts`` is ModelOpt's ``_calib_hist`` and ``edges`` its ``_calib_bin_edges``.

    Notes
    -----
    The first batch's histogram covers :math:`[0, \\max |x|]` in ``num_bins``
    bins of width :math:`w`; a batch with a larger maximum appends bins of
    width :math:`w` up to it. :func:`refquant.calibrate.streaming.histogram_update`
    with rule ``"modelopt"`` (torch path) or ``"modelopt_numpy"``. Source:
    ModelOpt 0.47.0, ``calib/histogram.py``, ``HistogramCalibrator.collect``.

    Examples
    --------
    >>> s = collect_histogram([np.array([-1.0, 0.5, 1.0], np.float32)], num_bins=4)
    >>> s.counts.tolist(), s.edges.tolist()
    ([0.0, 0.0, 1.0, 2.0], [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    if not isinstance(torch_hist, (bool, np.bool_)):
        raise TypeError(f"torch_hist must be a bool, got {torch_hist!r}")
    rule: Any = "modelopt" if torch_hist else "modelopt_numpy"
    return histogram_of_batches(batches, bins=num_bins, rule=rule, skip_zeros=skip_zeros)


def compute_amax(
    histogram: HistogramState,
    method: str,
    *,
    num_bits: int | tuple[int, int] = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
    percentile: float = 99.99,
) -> np.float32:
    """``HistogramCalibrator(num_bits, unsigned=...).compute_amax(method, ...)`` on a collected histogram.

    Parameters
    ----------
    histogram : HistogramState
        From :func:`collect_histogram`.
    method : {"entropy", "mse", "percentile"}
    num_bits, unsigned : int or (4, 3), bool
        The calibrator's quantizer.
    stride, start_bin, percentile
        As ModelOpt's keyword arguments (defaults 1, 128, 99.99).

    Returns
    -------
    numpy.float32

    Notes
    -----
    ModelOpt converts float32 torch counts with ``.int()`` (int32, truncation)
    before the search; then :func:`compute_amax_entropy`,
    :func:`compute_amax_mse` (as installed: ``shipped=True``) or
    :func:`compute_amax_percentile`.

    .. math:: a = \\operatorname{method}(\\lfloor n \\rfloor, e)

    Source: ModelOpt 0.47.0, ``calib/histogram.py``, ``HistogramCalibrator.compute_amax``.

    Examples
    --------
    >>> s = collect_histogram([np.abs(np.linspace(-3, 3, 1001, dtype=np.float32))], num_bins=256)
    >>> float(compute_amax(s, "percentile", percentile=50.0))
    1.5
    """
    if not isinstance(histogram, HistogramState):
        raise TypeError(
            f"histogram must be a HistogramState (from collect_histogram), got {type(histogram).__name__}"
        )
    check_choice("method", method, METHODS)
    unsigned = check_bool("unsigned", unsigned)
    for name, v, least in (("stride", stride, 1), ("start_bin", start_bin, 0)):
        if check_int(name, v) < least:
            raise ValueError(f"{name} must be an int >= {least}, got {v!r}")
    counts = np.asarray(histogram.counts)
    if counts.dtype.kind == "f":
        counts = counts.astype(np.int32)  # torch's .int(): truncation of the float32 counts
    if method == "entropy":
        if isinstance(num_bits, tuple):
            raise ValueError(f"num_bits must be an int for method='entropy', got {num_bits!r}")
        return compute_amax_entropy(counts, histogram.edges, num_bits, unsigned, stride, start_bin)
    if method == "mse":
        return compute_amax_mse(counts, histogram.edges, num_bits, unsigned, stride, start_bin, shipped=True)
    return compute_amax_percentile(counts, histogram.edges, percentile)
