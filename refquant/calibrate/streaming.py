"""Streaming histograms: merge batch after batch, growing the range by each tool's rule.

Functional and pure: :func:`histogram_update` returns a new
:class:`~refquant.calibrate.histogram.HistogramState` and never modifies the
state or the batch it is given. The rules (``rule=``):

* ``"exact"`` (refquant's): edges ``(a + j) * w`` with ``w`` a power of two and
  ``a`` an integer, so every edge is exact in float64; the range grows by
  doubling ``w`` (old bins merge whole into new ones) until the data fit. It is
  lossless: the state equals the histogram of the concatenation of the batches
  under the final edges. All bins are half-open ``[e_j, e_{j+1})`` and the data
  always stay below the top edge. Counts int64, edges float64.
* ``"onnxruntime"``: ``HistogramCollector.collect_value`` and
  ``merge_histogram``: a signed histogram over ``[-t, t]``, ``t = max|x|`` of
  the first batch; a batch with a larger ``t`` adds whole bins of the old width
  on both sides and re-histograms only that batch (the old counts are added
  bin for bin). Edges in the data's dtype.
* ``"onnxruntime_absolute"``: ``collect_absolute_value``: ``|x|`` over
  ``[min|x|, max|x|]`` of the first batch; later maxima append bins of the old
  width with ``np.arange``; values of ``|x|`` below the first edge are then
  dropped (ORT's histogram over given edges ignores them).
* ``"modelopt"``: ``HistogramCalibrator.collect`` (its default
  ``torch_hist=True``): ``|x|`` when any ``x < 0``, ``torch.histc`` over
  ``[0, max]`` (float32 counts), ``torch.linspace`` edges; growth re-derives the
  number of bins as ``ceil(max / width)`` and the edges by ``torch.arange``.
  ``skip_zeros`` drops exact zeros first.
* ``"modelopt_numpy"``: the same calibrator with ``torch_hist=False``
  (``np.histogram``, int64 counts, growth by ``np.arange`` as ORT's absolute rule).
* ``"torch"``: PyTorch's ``HistogramObserver`` (its combine rule), from
  :mod:`refquant.calibrate._torch_histogram`.

``min`` and ``max`` are the smallest and largest values seen (of ``|x|`` for the
absolute ModelOpt rules; ORT's min and max of the signed data, its empty batch
counting as ``[0, 0]``). NaN in a batch raises ``ValueError`` for every rule
(ORT's ``nanmin`` would skip it, ModelOpt's histogram would lose it); ``±inf``
raise too (no finite range holds them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_bool, check_choice, check_int, show_values
from refquant.calibrate import _growth
from refquant.calibrate.histogram import HistogramState, histogram

__all__ = ["MAX_BINS", "RULES", "histogram_of_batches", "histogram_update"]

Rule = Literal["exact", "onnxruntime", "onnxruntime_absolute", "modelopt", "modelopt_numpy", "torch"]

#: The largest number of bins accepted (2**20 bins: 8 MiB of int64 counts).
MAX_BINS = 1 << 20

#: The growth rules of :func:`histogram_update`.
RULES: tuple[str, ...] = (
    "exact",
    "onnxruntime",
    "onnxruntime_absolute",
    "modelopt",
    "modelopt_numpy",
    "torch",
)


def _check_state(state: Any) -> HistogramState | None:
    if state is None:
        return None
    if not isinstance(state, HistogramState):
        raise TypeError(f"state must be a HistogramState or None, got {type(state).__name__}")
    c, e = np.asarray(state.counts), np.asarray(state.edges)
    if c.ndim != 1 or e.ndim != 1 or c.size == 0 or e.size < 2:
        raise ValueError(f"state must hold 1-D counts and edges, got shapes {c.shape} and {e.shape}")
    if not np.all(np.isfinite(e)) or not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError("state counts must be finite and >= 0 and its edges finite")
    return state


def histogram_update(
    state: HistogramState | None,
    batch: ArrayLike,
    *,
    bins: int = 2048,
    rule: Rule = "exact",
    skip_zeros: bool = False,
    _name: str = "batch",
) -> HistogramState:
    """The histogram ``state`` with ``batch`` merged in, growing the range by ``rule`` (a new state).

    Parameters
    ----------
    state : HistogramState or None
        The state after the earlier batches, as this function returned it with
        the same ``rule`` and ``bins``; None before the first batch.
    batch : array_like of float
        The new values (any shape, flattened).
    bins : int
        Number of bins of the first histogram (>= 1; ORT's ``num_bins``,
        ModelOpt's ``num_bins``, PyTorch's ``bins``).
    rule : str
        One of :data:`RULES` (module docstring).
    skip_zeros : bool
        Drop exact zeros first (ModelOpt's ``skip_zeros``; any rule).

    Returns
    -------
    HistogramState

    Notes
    -----
    The ``"exact"`` rule, with ``w = 2**k`` and integer ``a``:

    .. math:: e_j = (a + j)\\,w, \\quad a = \\lfloor m / w \\rfloor, \\quad
        k = \\min\\{k : \\lfloor M / w \\rfloor - \\lfloor m / w \\rfloor < B\\}

    over the running ``[m, M]``; growing from ``w`` to ``2^d w`` sends old bin
    ``j`` to new bin ``floor((a + j) / 2^d) - a'``. ``w`` is at least
    ``2**-40 max(|m|, |M|)`` so that ``|a| < 2**53``. Sources for the other
    rules: ONNX Runtime ``onnxruntime/quantization/calibrate.py``
    (``HistogramCollector``); ModelOpt
    ``modelopt/torch/quantization/calib/histogram.py``
    (``HistogramCalibrator.collect``); PyTorch
    ``torch/ao/quantization/observer.py`` (``HistogramObserver``). An empty
    batch returns the state unchanged (ORT: counted as ``[0, 0]``; an empty
    first batch raises), NaN and ``±inf`` raise ``ValueError``.

    Examples
    --------
    >>> s = histogram_update(None, [0.0, 1.0, 3.0], bins=4)
    >>> s.edges.tolist(), s.counts.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1])
    >>> s = histogram_update(s, [7.5], bins=4)
    >>> s.edges.tolist(), s.counts.tolist()
    ([0.0, 2.0, 4.0, 6.0, 8.0], [2, 1, 0, 1])
    """
    check_choice("rule", rule, RULES)
    bins = check_int("bins", bins)
    if not 1 <= bins <= MAX_BINS or (rule == "exact" and bins < 2):
        raise ValueError(f"bins must be in [{1 + (rule == 'exact')}, {MAX_BINS}] (rule={rule!r}), got {bins}")
    skip_zeros = check_bool("skip_zeros", skip_zeros)
    st = _check_state(state)
    x = as_float_array(_name, batch).reshape(-1)
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"{_name} must be finite (no NaN or inf), got {show_values(x[bad])}")
    if skip_zeros:
        x = x[x != 0]
    if x.size == 0:
        if rule == "onnxruntime" and st is not None:
            return _growth.onnxruntime_update(st, x)
        if st is None:
            raise ValueError(f"{_name}: the first batch must not be empty, got shape {np.shape(batch)}")
        return st
    if rule == "exact":
        return _exact_update(st, x, bins)
    if rule == "onnxruntime":
        return _growth.onnxruntime_first(x, bins) if st is None else _growth.onnxruntime_update(st, x)
    if rule in ("onnxruntime_absolute", "modelopt_numpy"):
        return _growth.absolute_update(st, x, bins, signed_minmax=rule == "onnxruntime_absolute")
    if rule == "modelopt":
        return _growth.modelopt_torch_update(st, x, bins)
    from refquant.calibrate import _torch_histogram

    fn: Any = getattr(_torch_histogram, "torch_histogram_update", None)
    if fn is None:
        raise NotImplementedError("rule='torch' needs refquant.calibrate._torch_histogram (not there yet)")
    out: HistogramState = fn(st, x.astype(np.float32), bins)
    return out


def histogram_of_batches(
    batches: Iterable[ArrayLike], *, bins: int = 2048, rule: Rule = "exact", skip_zeros: bool = False
) -> HistogramState:
    """:func:`histogram_update` over ``batches`` in order, from no state.

    Parameters
    ----------
    batches : iterable of array_like
        At least one batch; the first non-empty.
    bins, rule, skip_zeros
        As :func:`histogram_update`.

    Returns
    -------
    HistogramState

    Notes
    -----
    .. math:: S_t = \\operatorname{update}(S_{t-1}, x^{(t)}), \\quad S_0 = \\varnothing

    Examples
    --------
    >>> s = histogram_of_batches([[0.0, 1.0], [3.0]], bins=4)
    >>> s.counts.tolist(), float(s.min), float(s.max)
    ([1, 1, 0, 1], 0.0, 3.0)
    """
    if isinstance(batches, np.ndarray) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of arrays (a list), got {type(batches).__name__}")
    state: HistogramState | None = None
    for i, b in enumerate(batches):
        state = histogram_update(state, b, bins=bins, rule=rule, skip_zeros=skip_zeros, _name=f"batches[{i}]")
    if state is None:
        raise ValueError("batches must hold at least one batch, got none (empty [])")
    return state


# --------------------------------------------------------------------------- the exact rule


def _exact_width(lo: float, hi: float, bins: int, k: int | None = None) -> tuple[int, int]:
    """The smallest exponent ``k`` (at least the given one) with ``[lo, hi]`` in ``bins`` bins; and ``a``."""
    span = hi - lo
    big = max(abs(lo), abs(hi))
    floor_k = math.frexp(big)[1] - 41 if big > 0 else 0  # all zeros: unit bins
    if k is None:
        k = math.frexp(span / bins)[1] - 1 if span > 0 else floor_k
    k = max(k, floor_k, -1074)
    while True:
        w = math.ldexp(1.0, k)
        a = math.floor(lo / w)
        if math.floor(hi / w) - a < bins and (a + bins) * w > hi:
            return k, a
        k += 1


def _exact_update(st: HistogramState | None, x: NDArray[Any], bins: int) -> HistogramState:
    x64 = x.astype(np.float64, copy=False)
    bmin, bmax = float(x64.min()), float(x64.max())
    if st is None:
        k, a = _exact_width(bmin, bmax, bins)
        counts = np.zeros(bins, np.int64)
        lo_all, hi_all = bmin, bmax
    else:
        e = np.asarray(st.edges, dtype=np.float64)
        nb = e.size - 1
        w_old = float(e[1] - e[0])
        k_old = math.frexp(w_old)[1] - 1
        a_old = round(float(e[0]) / w_old)
        lo_all, hi_all = min(st.min, bmin), max(st.max, bmax)
        k, a = _exact_width(lo_all, hi_all, nb, k_old)
        if k == k_old and a == a_old:
            counts = np.array(st.counts, dtype=np.int64)
        else:
            old = np.asarray(st.counts)
            j = np.nonzero(old)[0]
            dest = np.floor_divide(a_old + j, 1 << (k - k_old)) - a
            counts = np.zeros(nb, np.int64)
            np.add.at(counts, dest, old[j].astype(np.int64))
        bins = nb
    w = math.ldexp(1.0, k)
    edges = (a + np.arange(bins + 1, dtype=np.float64)) * w
    if not np.all(np.isfinite(edges)):
        raise ValueError(f"the range [{lo_all}, {hi_all}] overflows float64 edges")
    counts += histogram(x64, edges).counts
    return HistogramState(counts, edges, lo_all, hi_all)
