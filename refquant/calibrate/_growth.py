"""The tools' histogram growth rules (internal; :mod:`refquant.calibrate.streaming` checks and dispatches).

Each function mirrors one collector step by step, in the dtypes the tool uses,
and returns a new :class:`~refquant.calibrate.histogram.HistogramState`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.calibrate.histogram import HistogramState, histogram


def _ort_threshold(st: HistogramState) -> Any:
    """ORT's stored threshold: ``edges[-1]``, except 0 while every value seen was 0 (edges then ±0.5)."""
    e = np.asarray(st.edges)
    return e.dtype.type(0) if st.min == 0 and st.max == 0 else e[-1]


def onnxruntime_first(x: NDArray[Any], bins: int) -> HistogramState:
    """``collect_value`` on the first batch: ``np.histogram(x, bins, range=(-t, t))``, ``t = max|x|``."""
    mn, mx = x.min(), x.max()
    t = np.array(max(abs(mn), abs(mx)), dtype=x.dtype)
    h = histogram(x, bins, range=(-t, t))
    return HistogramState(h.counts, h.edges, float(mn), float(mx))


def onnxruntime_update(st: HistogramState, x: NDArray[Any]) -> HistogramState:
    """``collect_value`` + ``merge_histogram`` (an empty batch counts as ``[0, 0]``, as in ORT)."""
    if x.size:
        mn, mx = x.min(), x.max()
    else:
        mn = mx = np.array(0, dtype=x.dtype)
    t_new = np.array(max(abs(mn), abs(mx)), dtype=x.dtype)
    old_c = np.asarray(st.counts)
    t_old = _ort_threshold(st)
    lo, hi = min(st.min, float(mn)), max(st.max, float(mx))
    if t_new <= t_old:
        h = histogram(x, old_c.size, range=(-t_old, t_old))
        return HistogramState(h.counts + old_c, np.asarray(st.edges), lo, hi)
    if t_old == 0:
        h = histogram(x, old_c.size, range=(-t_new, t_new))
        return HistogramState(h.counts + old_c, h.edges, lo, hi)
    n_old = old_c.size
    stride = 2 * t_old / n_old
    half = int((t_new - t_old) // stride + 1)
    n_new = n_old + 2 * half
    t = half * stride + t_old
    h = histogram(x, n_new, range=(-t, t))
    counts = h.counts.copy()
    counts[half : n_new - half] += old_c
    return HistogramState(counts, h.edges, lo, hi)


def absolute_update(
    st: HistogramState | None, x: NDArray[Any], bins: int, *, signed_minmax: bool
) -> HistogramState:
    """ORT's ``collect_absolute_value`` (``signed_minmax``), or ModelOpt's ``collect`` (``torch_hist=False``).

    ModelOpt casts to float32 first (``x.float()``) and takes ``|x|`` only when
    some ``x < 0`` (the same counts); its min and max here are of ``|x|``.
    """
    if not signed_minmax:
        x = x.astype(np.float32)
    a = np.abs(x)
    mn, mx = (float(x.min()), float(x.max())) if signed_minmax else (float(a.min()), float(a.max()))
    if st is None:
        h = histogram(a, bins)
        return HistogramState(h.counts, h.edges.astype(a.dtype), mn, mx)
    edges = np.asarray(st.edges)
    amax = a.max()
    if amax > edges[-1]:
        width = edges[1] - edges[0]
        edges = np.hstack((edges, np.arange(edges[-1] + width, amax + width, width)))
    counts = histogram(a, edges).counts
    old = np.asarray(st.counts)
    counts[: old.size] += old.astype(counts.dtype)
    if signed_minmax:  # ORT casts the edges back to the data's dtype; ModelOpt keeps np.hstack's float64
        edges = edges.astype(a.dtype)
    return HistogramState(counts, edges, min(st.min, mn), max(st.max, mx))


def torch_linspace(start: Any, end: Any, steps: int) -> NDArray[np.float32]:
    """``torch.linspace(start, end, steps)`` in float32 on CPU.

    ``step = (end - start) / (steps - 1)``; value ``i`` is ``start + step * i``
    for ``i < steps // 2`` and ``end - step * (steps - 1 - i)`` after, each a
    fused multiply-add (one rounding; the product of two float32 numbers is
    exact in float64, so rounding the float64 result once is the FMA), as
    measured against torch 2.13 on x86-64.
    """
    s, e = np.float32(start), np.float32(end)
    if steps == 1:
        return np.array([s], np.float32)
    step = np.float64(np.float32((e - s) / np.float32(steps - 1)))
    i = np.arange(steps)
    fused = np.where(i < steps // 2, np.float64(s) + step * i, np.float64(e) - step * (steps - 1 - i))
    return fused.astype(np.float32)


def torch_arange(start: float, end: float, step: float, vector: int = 8) -> NDArray[np.float32]:
    """``torch.arange(start, end, step)`` for float32 on CPU, with fewer than 32768 values (one thread).

    ``n = ceil((end - start) / step)`` in double; torch's kernel
    (``RangeFactoriesKernel.cpp``) fills pairs of ``vector``-wide registers
    with ``float(base) + k * step`` (``base = start + step * i0`` rounded to
    float32, the sum in double, then rounded), and the tail (fewer than
    ``2 * vector`` values) with ``start + step * i`` in double. Beyond 32768
    values torch splits the range across threads and the split points move.
    """
    n = max(math.ceil((float(end) - float(start)) / float(step)), 0)
    i = np.arange(n)
    n_vec = n // (2 * vector) * 2 * vector
    i0 = i // vector * vector
    base = (float(start) + float(step) * i0).astype(np.float32).astype(np.float64)
    vec = (base + (i - i0) * float(step)).astype(np.float32)
    tail = (float(start) + float(step) * i).astype(np.float32)
    return np.where(i < n_vec, vec, tail).astype(np.float32)


def modelopt_torch_update(st: HistogramState | None, x: NDArray[Any], bins: int) -> HistogramState:
    """ModelOpt ``HistogramCalibrator.collect`` with ``torch_hist=True`` (float32 throughout)."""
    from refquant.calibrate import _torch_histogram

    histc: Any = getattr(_torch_histogram, "torch_histc", None)
    if histc is None:
        raise NotImplementedError("rule='modelopt' needs refquant.calibrate._torch_histogram.torch_histc")
    x = x.astype(np.float32)
    if x.min() < 0:
        x = np.abs(x)
    x_max = x.max()
    if st is None:
        counts = np.asarray(histc(x, bins, np.float32(0), x_max), dtype=np.float32)
        return HistogramState(counts, torch_linspace(0, x_max, bins + 1), float(x.min()), float(x_max))
    edges = np.asarray(st.edges, dtype=np.float32)
    old = np.asarray(st.counts, dtype=np.float32)
    n = old.size
    if x_max > edges[-1]:
        width = np.float32(edges[1] - edges[0])
        if not width > 0:
            raise ValueError("the ModelOpt histogram has zero-width bins (its first batch was all zeros)")
        n = int(np.ceil(np.float32(x_max / width)))
        edges = torch_arange(0.0, float(np.float32(x_max + width)), float(width))
    counts = np.array(histc(x, n, np.float32(0), edges[-1]), dtype=np.float32)
    counts[: old.size] += old
    return HistogramState(counts, edges, min(st.min, float(x.min())), max(st.max, float(x_max)))
