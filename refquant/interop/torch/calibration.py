"""PyTorch's calibration observers: ``MovingAverage[PerChannel]MinMaxObserver`` and ``HistogramObserver``.

Each function observes a list of batches in order, as the observer's
``forward`` would, and returns what torch 2.13 (CPU) returns, bit for bit
(``tests/conformance/test_torch_calibration_conformance.py``). The kernels are
in :mod:`refquant.calibrate._torch_histogram` (``torch.histc``, the combine
rule, ``_non_linear_param_search``) and
:func:`refquant.calibrate.ranges.moving_average_minmax`; the last step is
:func:`refquant.interop.torch.observers.calculate_qparams`.

Where refquant departs from torch (each is an input torch mishandles):

* NaN in a batch raises ``ValueError``. ``HistogramObserver`` raises too
  (``histc``'s range is NaN); the moving-average observers carry NaN on
  forever.
* ``HistogramObserver`` on a constant batch ``c`` with ``|c| >= 2**24``:
  ``histc`` widens the range to ``[c - 1, c + 1]`` in double, which float32
  rounds back to ``[c, c]``; its bin index is then ``0 * B / 0`` (NaN cast to
  an integer, undefined; torch 2.13 puts the count in bin 0 or ``B // 2``
  depending on the call). refquant raises ``ValueError``.
* ``HistogramObserver(dtype=quint8, qscheme=per_tensor_symmetric,
  reduce_range=True)`` is accepted by torch (only ``MinMaxObserver`` rejects
  it) and returns the zero point 128 with the range ``[0, 127]``: a zero point
  outside its own range. Reproduced, as torch returns it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, check_int
from refquant.calibrate._torch_histogram import _check_bins, torch_histogram_update, torch_l2_search
from refquant.calibrate.histogram import HistogramState
from refquant.calibrate.ranges import moving_average_minmax
from refquant.interop.torch._checks import show
from refquant.interop.torch.observers import F32_EPS, calculate_qparams

__all__ = [
    "ObserverRange",
    "histogram_observer_qparams",
    "histogram_observer_range",
    "histogram_observer_state",
    "moving_average_min_max",
]

_DST_BITS = {"quint8": 8, "qint8": 8, "qint32": 32}  # torch.iinfo(dtype).bits
_PER_TENSOR = ("per_tensor_affine", "per_tensor_symmetric")


class ObserverRange(NamedTuple):
    """``(min_val, max_val)``: float32 arrays (0-d per tensor, 1-D per channel)."""

    min_val: NDArray[np.float32]
    max_val: NDArray[np.float32]


def _batch_list(batches: Any) -> list[Any]:
    if (
        isinstance(batches, np.ndarray)
        or not isinstance(batches, Iterable)
        or isinstance(batches, (str, bytes))
    ):
        raise TypeError(f"batches must be an iterable of arrays (a list), got {type(batches).__name__}")
    return list(batches)


def moving_average_min_max(
    batches: Iterable[ArrayLike], averaging_constant: float = 0.01, *, ch_axis: int | None = None
) -> ObserverRange:
    """``MovingAverage[PerChannel]MinMaxObserver`` fed ``batches``: ``m + c * (min x - m)`` in float32.

    Parameters
    ----------
    batches : iterable of array_like
        The observed tensors in order, each rounded to float32 (the
        observer's ``x.to(min_val.dtype)``); empty ones are skipped, as torch.
    averaging_constant : float
        ``c`` in ``(0, 1]``; torch multiplies a float32 tensor by it, so it is
        rounded to float32.
    ch_axis : int or None
        The channel axis of the per-channel observer (torch's default is 0);
        None for the per-tensor observer. Every batch needs the same number
        of channels.

    Returns
    -------
    ObserverRange
        ``min_val``, ``max_val``: float32, 0-d or ``(channels,)``, the
        observer's buffers after the last batch.

    Notes
    -----
    .. math::

        m_1 = \\min x^{(1)}, \\qquad m_t = m_{t-1} + c\\,(\\min x^{(t)} - m_{t-1})

    and the same for the maximum; each of the three operations is rounded to
    float32 (separate tensor ops, no fused multiply-add). Source:
    ``torch/ao/quantization/observer.py``, ``MovingAverageMinMaxObserver.forward``
    and ``MovingAveragePerChannelMinMaxObserver.forward``. NaN raises
    ``ValueError`` (torch propagates it); ``±inf`` are kept as torch keeps
    them (a later ``inf - inf`` is NaN, as in torch). At least one batch must
    be non-empty (torch would keep ``[inf, -inf]``). Scale and zero point:
    :func:`refquant.interop.torch.observers.calculate_qparams`.

    Examples
    --------
    >>> r = moving_average_min_max([[0.0, 4.0], [-2.0, 2.0]], 0.5)
    >>> float(r.min_val), float(r.max_val)
    (-1.0, 3.0)
    >>> moving_average_min_max([[[0.0, 4.0]], [[2.0, 8.0]]], 0.25, ch_axis=1).max_val.tolist()
    [0.5, 5.0]
    """
    blist = _batch_list(batches)
    if ch_axis is not None:
        ch_axis = check_int("ch_axis", ch_axis)
    lo, hi = moving_average_minmax(blist, averaging_constant=averaging_constant, axis=ch_axis)
    if ch_axis is not None and lo.ndim != 1:
        raise ValueError(f"ch_axis={ch_axis} must select one axis of the batches, got kept shape {lo.shape}")
    return ObserverRange(np.asarray(lo, np.float32), np.asarray(hi, np.float32))


def histogram_observer_state(batches: Iterable[ArrayLike], bins: int = 2048) -> HistogramState | None:
    """``HistogramObserver(bins)``'s ``histogram``, ``min_val``, ``max_val`` after ``forward`` on each batch.

    Parameters
    ----------
    batches : iterable of array_like
        The observed tensors in order, flattened, rounded to float32.
    bins : int
        The observer's ``bins``, in ``[1, 65536]``.

    Returns
    -------
    HistogramState or None
        ``counts`` (float32, the ``histogram`` buffer), ``edges`` (float32
        ``torch.linspace(min, max, bins + 1)``), ``min``, ``max`` (the
        buffers, float32 values as Python floats); None if no batch held a
        finite value (the observer is uninitialized).

    Notes
    -----
    The first batch: ``h = histc(x, bins, min x, max x)``. Then, with
    ``[m', M'] = [\\min(m, \\min x), \\max(M, \\max x)]`` and ``u = histc(x,
    bins, m', M')``:

    .. math::

        h' = \\begin{cases} h + u & [m', M'] = [m, M] \\\\
        \\mathrm{histc}(m, m', M') \\textstyle\\sum h + u & m = M \\\\
        \\mathrm{bincount}(\\mathrm{bucket}(\\mu), h_{\\lfloor k/16 \\rfloor}/16) + u & \\text{otherwise}
        \\end{cases}

    where ``mu`` are the midpoints of the old bins split 16 ways and
    ``bucket`` places them among the new edges (``_upscale_histogram``). Source:
    ``torch/ao/quantization/observer.py`` (``HistogramObserver.forward``,
    ``reset_histogram``, ``_combine_histograms``, ``_upscale_histogram``); the
    float32 arithmetic of each kernel is listed in
    :mod:`refquant.calibrate._torch_histogram`. Batches with ``±inf`` lose
    those elements (torch's rule, with its warning); empty or all-infinite
    batches are skipped; NaN raises ``ValueError`` (torch's ``histc`` raises).
    Counts are exact while no bin passes ``2**24``; the weighted
    ``bincount`` is reproduced in its sequential float32 order.

    Examples
    --------
    >>> s = histogram_observer_state([[0.0, 1.0, 2.0, 4.0]], bins=4)
    >>> s.counts.tolist(), s.min, s.max
    ([1.0, 1.0, 1.0, 1.0], 0.0, 4.0)
    >>> histogram_observer_state([[0.0, 4.0], [8.0]], bins=4).counts.tolist()
    [1.0, 1.0, 0.0, 1.0]
    """
    blist = _batch_list(batches)
    bins = _check_bins(bins)
    state: HistogramState | None = None
    for i, b in enumerate(blist):
        try:
            state = torch_histogram_update(state, b, bins)
        except (ValueError, TypeError) as err:
            raise type(err)(f"batches[{i}]: {err}") from None
    return state


def histogram_observer_range(
    batches: Iterable[ArrayLike], bins: int = 2048, dtype: str = "quint8", *, num_threads: int = 1
) -> ObserverRange | None:
    """The range ``HistogramObserver`` hands to its qparams: ``_non_linear_param_search`` after the batches.

    Parameters
    ----------
    batches : iterable of array_like
        As :func:`histogram_observer_state`.
    bins : int
        The observer's ``bins``.
    dtype : {"quint8", "qint8", "qint32"}
        Sets ``dst_nbins = 2 ** bits`` (256, 256, ``2**32``); ``reduce_range``
        and custom ranges do not change it.
    num_threads : int
        torch's ``torch.get_num_threads()``, ``>= 1``: from ``bins = 32768`` on,
        ``torch.sum`` splits its float32 sums between the threads (another
        rounding order); below, it does not matter.

    Returns
    -------
    ObserverRange or None
        0-d float32 ``(new_min, new_max)``; None if the observer saw nothing.

    Notes
    -----
    Starting from ``[0, B - 1]``, each step raises ``alpha`` or lowers ``beta``
    by ``10^{-5}`` and moves the side whose quantile bin moved further; the
    error of bins ``[s, e]`` quantized to ``D = dst_nbins`` levels is

    .. math::

        E(s, e) = \\sum_j \\frac{h_j}{w} \\int_{\\text{bin } j} (x - q_{s,e}(x))^2 \\, dx ,

    the uniform density of each bin against the centre of its destination bin
    (``_compute_quantization_error``, ``_get_norm``). The search stops at the
    first move whose error exceeds the smallest so far. Result: ``m + w s``,
    ``m + w (e + 1)`` with ``w = (M - m) / B``. Every expression in torch's
    float mix: ``alpha + stepsize`` and ``next_alpha * total`` in double, each
    comparison with ``cSum`` (``torch.cumsum``, double accumulator) in
    float32, the error in float32 tensor ops summed in ``torch.sum``'s float32
    order (8-lane cascade, established on torch 2.13 x86-64). Source:
    ``HistogramObserver._non_linear_param_search``, after caffe2's
    ``NormMinimization::NonlinearQuantizationParamsSearch``. Same result as
    torch's loop (up to ``10**5`` Python steps), skipping the steps that move
    no bin.

    Examples
    --------
    >>> r = histogram_observer_range([[0.0, 1.0, 2.0, 3.0]], bins=4)
    >>> float(r.min_val), float(r.max_val)
    (0.0, 2.25)
    """
    check_choice("dtype", dtype, tuple(_DST_BITS))
    num_threads = check_int("num_threads", num_threads)
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    state = histogram_observer_state(batches, bins)
    if state is None:
        return None
    lo, hi = torch_l2_search(
        state.counts, state.min, state.max, dst_nbins=2 ** _DST_BITS[dtype], threads=num_threads
    )
    return ObserverRange(np.asarray(lo, np.float32), np.asarray(hi, np.float32))


def histogram_observer_qparams(
    batches: Iterable[ArrayLike],
    bins: int = 2048,
    dtype: str = "quint8",
    qscheme: str = "per_tensor_affine",
    reduce_range: bool = False,
    *,
    quant_min: int | None = None,
    quant_max: int | None = None,
    eps: float = F32_EPS,
    num_threads: int = 1,
) -> tuple[NDArray[np.float32], NDArray[Any]]:
    """``HistogramObserver(bins, dtype, qscheme, reduce_range)`` fed ``batches``, then ``calculate_qparams``.

    Parameters
    ----------
    batches : iterable of array_like
        The observed tensors in order (see :func:`histogram_observer_state`).
    bins : int
    dtype : {"quint8", "qint8", "qint32"}
    qscheme : {"per_tensor_affine", "per_tensor_symmetric"}
        The only two ``HistogramObserver`` accepts.
    reduce_range : bool
    quant_min, quant_max : int, optional
        A custom range, as the observer's (both or neither).
    eps : float
    num_threads : int
        As :func:`histogram_observer_range` (only matters for ``bins >= 32768``).

    Returns
    -------
    scale : ndarray of float32, shape (1,)
    zero_point : ndarray of int32 (affine) or int64 (symmetric), shape (1,)
        ``([1.0], [0])`` if no batch held a finite value (torch warns).

    Notes
    -----
    .. math:: (m^*, M^*) = \\mathrm{search}(h, m, M), \\qquad (s, z) = \\mathrm{qparams}(m^*, M^*)

    with the search of :func:`histogram_observer_range` and the rules of
    :func:`refquant.interop.torch.observers.calculate_qparams`
    (``_calculate_qparams``). One torch quirk kept: quint8, symmetric,
    ``reduce_range=True`` gives the range ``[0, 127]`` and zero point 128.
    Source: ``torch/ao/quantization/observer.py``,
    ``HistogramObserver.calculate_qparams``.

    Examples
    --------
    >>> s, z = histogram_observer_qparams([[0.0, 1.0, 2.0, 3.0]], bins=4)
    >>> s.tolist(), z.tolist()
    ([0.008823529817163944], [0])
    """
    check_choice("qscheme", qscheme, _PER_TENSOR)
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise TypeError(f"reduce_range must be a bool, got {show(reduce_range)}")
    quirk = dtype == "quint8" and qscheme == "per_tensor_symmetric" and bool(reduce_range)
    if quirk and quant_min is None and quant_max is None:
        kw: dict[str, Any] = {"quant_min": 0, "quant_max": 127, "reduce_range": False}
    else:
        kw = {"quant_min": quant_min, "quant_max": quant_max, "reduce_range": reduce_range}
    calculate_qparams(0.0, 1.0, dtype=dtype, qscheme=qscheme, eps=eps, **kw)  # validate the arguments first
    r = histogram_observer_range(batches, bins, dtype, num_threads=num_threads)
    if r is None:
        return np.array([1.0], np.float32), np.array([0], np.int64)
    scale, zp = calculate_qparams(r.min_val, r.max_val, dtype=dtype, qscheme=qscheme, eps=eps, **kw)
    if quirk and quant_min is None and quant_max is None:
        zp = np.full(zp.shape, 128, np.int64)  # torch: 128 for quint8 symmetric without a custom range
    return scale, zp
