"""PyTorch's ``HistogramObserver`` in NumPy: ``torch.histc``, the streaming combine rule and the L2 search.

Internal kernels of :mod:`refquant.interop.torch.calibration` and of
:func:`refquant.calibrate.streaming.histogram_update` (``rule="torch"``);
torch is never imported. Everything is the float32 (or Python-float)
arithmetic of torch 2.13's CPU kernels, operation for operation, from
``torch/ao/quantization/observer.py`` (``HistogramObserver``) and ATen's
``HistogramKernel.cpp`` (``histc``), ``RangeFactoriesKernel.cpp``
(``linspace``), ``Bucketization.cpp``, ``SummaryOps.cpp`` (``bincount``),
``ReduceOpsKernel.cpp`` (``cumsum``) and ``SumKernel.cpp`` (``sum``).

Float arithmetic, as torch evaluates it (``f()`` rounds to float32):

* ``torch.histc(x, B, min=lo, max=hi)``: ``lo == hi`` takes ``[min x, max x]``
  instead, and if still equal ``[lo - 1, hi + 1]`` (in double); the outer
  edges are ``l = f(lo)``, ``h = f(hi)`` (``linspace``'s first and last
  element); ``x`` outside ``[l, h]`` and NaN are skipped; the bin is
  ``trunc(f(f(f(x - l) * B) / f(h - l)))``, ``B`` for ``x = h`` going to
  ``B - 1``. Counts are float32 sums of 1.0: exact up to ``2**24`` per bin.
* ``torch.cumsum`` of float32 on CPU accumulates in double (its
  ``acc_type``) and rounds each prefix to float32.
* ``torch.sum`` of float32 accumulates in float32 in the cascade order of
  ``SumKernel.cpp`` (``vectorized_inner_sum``, ``row_sum``,
  ``multi_row_sum`` with 4 accumulator rows of SIMD vectors and 4 cascade
  levels), reproduced by :func:`torch_sum_float32`: 8 lanes (what torch 2.13
  x86-64 runs here, though it reports AVX512), and from 32768 elements on the
  chunks of ``torch.get_num_threads()`` threads (``threads=``).
* ``torch.bincount(idx, weights)`` with float32 weights adds them one by one,
  in index order, in float32.
* A comparison of a float32 tensor element with a Python float (``cSum[l] <
  next_alpha * total``) rounds the Python float to float32 first; ``alpha +
  stepsize`` and ``next_alpha * total`` are Python (double) arithmetic.
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_int, show_values
from refquant.calibrate.histogram import HistogramState
from refquant.floats._nf4_kernels import torch_linspace_float32

__all__ = ["torch_histc", "torch_histogram_update", "torch_l2_search", "torch_sum_float32"]

F32 = np.float32
_FLT_MAX = float(np.finfo(np.float32).max)
_BLOCK = 1 << 16
LANES = 8  # Vectorized<float>::size() of torch.sum's dispatched kernel (established empirically)
_GRAIN_SIZE = 32768  # at::internal::GRAIN_SIZE
MAX_BINS = 1 << 16  # the upsampled histogram has 16 * bins points
UPSAMPLE_RATE = 16  # HistogramObserver.upsample_rate
STEPSIZE = 1e-5  # _non_linear_param_search's granularity


# --------------------------------------------------------------------------------------------- histc
def _check_bins(bins: Any) -> int:
    bins = check_int("bins", bins)
    if not 1 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be in [1, {MAX_BINS}], got {bins}")
    return bins


def _histc_range(x: NDArray[np.float32], lo: float, hi: float) -> tuple[float, float]:
    """``histc_select_outer_bin_edges``: the double range, widened as torch widens it, then checked."""
    if lo == hi and x.size:
        lo, hi = float(np.min(x)), float(np.max(x))  # torch.aminmax (NaN propagates)
    if lo == hi:
        lo, hi = lo - 1.0, hi + 1.0
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"torch.histc: range of [{lo}, {hi}] is not finite (torch raises RuntimeError)")
    if not lo < hi:
        raise ValueError(f"torch.histc: max must be larger than min, got min={lo}, max={hi}")
    return lo, hi


def torch_histc(x: ArrayLike, bins: int, lo: float, hi: float) -> NDArray[np.float32]:
    """``torch.histc(x, bins, min=lo, max=hi)`` for float32 ``x``: float32 counts of shape ``(bins,)``.

    ``x`` is flattened and rounded to float32; ``lo``/``hi`` are Python floats
    (torch's double Scalars). See the module docstring for the bin formula.
    Torch's index is NaN (undefined behaviour) when ``f(lo) == f(hi)`` after
    the widening (``|lo| >= 2**24`` constant data) or when ``f(h - l) * bins``
    overflows float32; refquant raises ``ValueError`` there.
    """
    bins = _check_bins(bins)
    xa = as_float_array("x", x).reshape(-1)
    with np.errstate(over="ignore"):
        xa = xa.astype(F32, copy=False)
    lo, hi = _histc_range(xa, float(lo), float(hi))
    with np.errstate(over="ignore"):
        left, right = F32(lo), F32(hi)
        width = F32(right - left)
        top = F32(width * F32(bins))
    if not (width > 0 and np.isfinite(top)):
        raise ValueError(
            f"torch.histc's bin index is NaN or overflows for [{lo}, {hi}] with bins={bins} (float32 edges "
            f"[{left}, {right}]): undefined in torch, refquant raises"
        )
    nb = F32(bins)
    counts = np.zeros(bins, np.int64)
    for i in range(0, xa.size, _BLOCK):
        c = xa[i : i + _BLOCK]
        inside = (c >= left) & (c <= right)  # NaN fails both
        if not inside.all():
            c = c[inside]
        pos = ((c - left) * nb / width).astype(np.int64)  # float32 ops, truncation
        np.minimum(pos, bins - 1, out=pos)  # x == h lands on bins, which torch moves to bins - 1
        counts += np.bincount(pos, minlength=bins)
    return counts.astype(F32)


# ----------------------------------------------------------------------------------- float32 sums
def _ceil_log2(n: int) -> int:
    return 1 if n <= 2 else (n - 1).bit_length()


def _multi_row_sum(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """``multi_row_sum``: ``rows`` is ``(size, 4, lanes)``; 4 cascade levels of float32 accumulators."""
    size = rows.shape[0]
    level_power = max(4, _ceil_log2(size) // 4)
    step = 1 << level_power
    mask = step - 1
    acc = np.zeros((4, *rows.shape[1:]), F32)
    nblocks = size // step
    if nblocks:
        block_sums = np.cumsum(
            rows[: nblocks * step].reshape(nblocks, step, *rows.shape[1:]), axis=1, dtype=F32
        )
        for b in range(nblocks):
            acc[0] = block_sums[b, -1]  # acc[0] is 0 at the start of every block
            i = (b + 1) * step
            for j in range(1, 4):
                acc[j] = acc[j] + acc[j - 1]
                acc[j - 1] = 0
                if i & (mask << (j * level_power)):
                    break
    if nblocks * step < size:
        acc[0] = acc[0] + np.cumsum(rows[nblocks * step :], axis=0, dtype=F32)[-1]
    for j in range(1, 4):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def torch_sum_float32(x: NDArray[np.float32], threads: int = 1, lanes: int = LANES) -> np.float32:
    """``torch.sum`` of a 1-D contiguous float32 array on CPU, in its float32 order.

    ``threads`` is ``torch.get_num_threads()``: from ``GRAIN_SIZE = 32768``
    elements on, ``two_pass_reduction`` sums ``min(threads, ceil(n / 32768))``
    equal chunks (``parallel_for``'s split) and then the ``threads`` partial
    sums (unused ones 0). ``lanes`` is the width of ``Vectorized<float>`` in
    the dispatched kernel: 8 on torch 2.13 x86-64 (16 mismatches torch).
    """
    n = x.size
    if threads > 1 and n >= _GRAIN_SIZE:
        used = min(threads, -(-n // _GRAIN_SIZE))
        chunk = -(-n // used)
        parts = np.zeros(threads, F32)
        for t, s in enumerate(range(0, n, chunk)):
            parts[t] = torch_sum_float32(x[s : s + chunk], 1, lanes)
        return torch_sum_float32(parts, 1, lanes)
    return _cascade_sum(x, lanes)


def _cascade_sum(x: NDArray[np.float32], lanes: int) -> np.float32:
    """One thread's ``cascade_sum``: ``vectorized_inner_sum``, or the scalar path below ``lanes`` elements."""
    n = x.size
    if n < lanes:  # scalar path (scalar_inner_sum): the same cascade over single floats
        k = n // 4
        part = _multi_row_sum(x[: 4 * k].reshape(k, 4, 1))[:, 0] if k else np.zeros(4, F32)
        for v in x[4 * k :]:
            part[0] = part[0] + v
        for j in range(1, 4):
            part[0] = part[0] + part[j]
        return F32(part[0])
    vec_size = n // lanes
    vecs = x[: vec_size * lanes].reshape(vec_size, lanes)
    k = vec_size // 4
    part = _multi_row_sum(vecs[: 4 * k].reshape(k, 4, lanes)) if k else np.zeros((4, lanes), F32)
    for v in vecs[4 * k :]:
        part[0] = part[0] + v
    vec_acc = part[0]
    for j in range(1, 4):
        vec_acc = vec_acc + part[j]
    final = F32(0)
    for v in x[vec_size * lanes :]:
        final = F32(final + v)
    for v in vec_acc:
        final = F32(final + v)
    return final


# ------------------------------------------------------------------------------- combine / upscale
def _sequential_bincount(idx: NDArray[np.int64], w: NDArray[np.float32], bins: int) -> NDArray[np.float32]:
    """``torch.bincount(idx, weights=w, minlength=bins)`` with float32 weights: one float32 add per element.

    Exact sums are used where every prefix of a bin's run is a float32 value
    (then the sequential float32 sum has no rounding); the other bins are
    accumulated step by step across bins.
    """
    order = np.argsort(idx, kind="stable") if np.any(idx[1:] < idx[:-1]) else None
    si, sw = (idx, w) if order is None else (idx[order], w[order])
    starts = np.flatnonzero(np.r_[True, si[1:] != si[:-1]])
    lengths = np.diff(np.r_[starts, si.size])
    out = np.zeros(bins, F32)
    w64 = sw.astype(np.float64)
    nz = w64[w64 > 0]
    exact = True
    if nz.size:  # all prefixes exact in float64: multiples of the smallest ulp, total < 2**53 ulps
        ulp = 2.0 ** (math.floor(math.log2(float(nz.min()))) - 23)
        exact = float(w64.sum()) / ulp < 2.0**52
    prefix = np.cumsum(w64)
    seg_base = np.repeat(prefix[starts] - w64[starts], lengths)
    local = prefix - seg_base
    fits = local.astype(F32).astype(np.float64) == local
    seg_ok = np.logical_and.reduceat(fits, starts) if exact else np.zeros(starts.size, bool)
    ends = starts + lengths - 1
    out[si[starts[seg_ok]]] = local[ends[seg_ok]].astype(F32)
    bad = np.flatnonzero(~seg_ok)
    if bad.size:
        b_starts, b_len = starts[bad], lengths[bad]
        acc = np.zeros(bad.size, F32)
        for t in range(int(b_len.max())):
            act = b_len > t
            acc[act] = acc[act] + sw[b_starts[act] + t]
        out[si[b_starts]] = acc
    return out


def _upscale(counts: NDArray[np.float32], omin: F32, omax: F32, nmin: F32, nmax: F32) -> NDArray[np.float32]:
    """``HistogramObserver._upscale_histogram``: old bins split in 16, their midpoints re-binned."""
    bins = counts.size
    r = UPSAMPLE_RATE
    fine = np.repeat(counts, r) / F32(r)
    bin_size = F32(F32(omax - omin) / F32(bins * r))
    mids = torch_linspace_float32(float(omin), float(omax), bins * r + 1)[:-1] + F32(F32(0.5) * bin_size)
    bounds = torch_linspace_float32(float(nmin), float(nmax), bins + 1)
    idx = np.searchsorted(bounds, mids, side="right").astype(np.int64) - 1  # bucketize(right=True) - 1
    np.clip(idx, 0, bins - 1, out=idx)
    return _sequential_bincount(idx, fine.astype(F32), bins)


def _check_state(state: Any, bins: int) -> HistogramState | None:
    if state is None:
        return None
    if not isinstance(state, HistogramState):
        raise TypeError(f"state must be a HistogramState or None, got {type(state).__name__}")
    c = np.asarray(state.counts)
    if c.shape != (bins,):
        raise ValueError(f"state.counts must have shape ({bins},) for bins={bins}, got {c.shape}")
    if not (np.isfinite(state.min) and np.isfinite(state.max) and state.min <= state.max):
        raise ValueError(f"state must have finite min <= max, got [{state.min}, {state.max}]")
    return state


def torch_histogram_update(
    state: HistogramState | None, batch: ArrayLike, bins: int
) -> HistogramState | None:
    """One ``HistogramObserver.forward(batch)``: a new state (the given one is never modified).

    ``batch`` is flattened and rounded to float32 (the observer's dtype). An
    empty batch, or one holding only ``±inf``, returns ``state`` unchanged
    (``None`` stays ``None``: an observer that saw nothing). If the batch has
    ``-inf`` or ``+inf``, those elements are dropped (torch's rule, with its
    warning). NaN raises ``ValueError`` (torch's ``histc`` raises on the NaN
    range). The state holds float32 ``counts``, ``edges =
    torch.linspace(min, max, bins + 1)`` in float32 (all equal to ``min`` while
    ``min == max``: torch then histograms over ``[min - 1, max + 1]``, with
    the counts in bin ``bins // 2``), and ``min``/``max`` as Python floats
    holding float32 values.
    """
    bins = _check_bins(bins)
    st = _check_state(state, bins)
    x = as_float_array("batch", batch).reshape(-1)
    with np.errstate(over="ignore"):
        x = x.astype(F32, copy=False)
    if x.size == 0:
        return st
    nan = np.isnan(x)
    if nan.any():
        raise ValueError(
            f"batch must not contain NaN (torch.histc raises on its NaN range), got {show_values(x[nan])}"
        )
    x_min, x_max = F32(x.min()), F32(x.max())
    if x_min == -np.inf or x_max == np.inf:
        x = x[np.abs(x) != np.inf]
        if x.size == 0:
            return st
        x_min, x_max = F32(x.min()), F32(x.max())
    if st is None:
        counts = torch_histc(x, bins, float(x_min), float(x_max))
        return _state(counts, x_min, x_max)
    cur_min, cur_max = F32(st.min), F32(st.max)
    orig = np.asarray(st.counts, F32)
    new_min, new_max = min(cur_min, x_min), max(cur_max, x_max)
    update = torch_histc(x, bins, float(new_min), float(new_max))
    if new_min == cur_min and new_max == cur_max:
        return _state(orig + update, cur_min, cur_max)
    if cur_min == cur_max:  # torch: histc of the old single value over the new range, times sum(orig)
        one = torch_histc(np.array([cur_min], F32), bins, float(new_min), float(new_max))
        return _state(one * torch_sum_float32(orig) + update, new_min, new_max)
    return _state(update + _upscale(orig, cur_min, cur_max, new_min, new_max), new_min, new_max)


def _state(counts: NDArray[np.float32], lo: F32, hi: F32) -> HistogramState:
    edges = torch_linspace_float32(float(lo), float(hi), counts.size + 1)
    return HistogramState(counts.astype(F32), edges, float(lo), float(hi))


# --------------------------------------------------------------------------------------- L2 search
@lru_cache(maxsize=1)
def _steps() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``alpha`` and ``-beta`` after k steps: ``alpha += 1e-5`` / ``beta -= 1e-5`` in double, in sequence."""
    n = 100_002  # alpha < beta fails after about 50,000 steps of each
    a = np.full(n, STEPSIZE)
    a[0] = 0.0
    b = np.full(n, STEPSIZE)
    b[0] = 1.0
    return np.add.accumulate(a), -np.subtract.accumulate(b)


def _quantization_error(
    h: NDArray[np.float32], lo: float, hi: float, dst_nbins: int, s: int, e: int, threads: int
) -> float:
    """``HistogramObserver._compute_quantization_error(s, e)``, each tensor op in float32."""
    bins = h.size
    bin_width = (hi - lo) / bins  # Python floats (.item())
    dst_w = bin_width * (e - s + 1) / dst_nbins
    if dst_w == 0.0:
        return 0.0
    bw32, dw32 = F32(bin_width), F32(dst_w)
    half = F32(dst_w / 2)
    begin = (np.arange(bins, dtype=np.int64) - s).astype(F32) * bw32
    end = begin + bw32
    top = F32(dst_nbins - 1)
    d_begin = np.clip(np.floor_divide(begin, dw32), F32(0), top)
    d_end = np.clip(np.floor_divide(end, dw32), F32(0), top)
    density = h / bw32
    cube_half = half * half * half
    neg_half = F32(-dst_w / 2)
    cube_neg = neg_half * neg_half * neg_half
    delta = begin - (d_begin + F32(0.5)) * dw32
    norm = np.zeros(bins, F32)
    norm = norm + density * ((half * half * half - delta * delta * delta) / F32(3))
    norm = norm + (d_end - d_begin - F32(1)) * (density * ((cube_half - cube_neg) / F32(3)))
    delta = end - (d_end * dw32 + half)
    norm = norm + density * ((delta * delta * delta - cube_neg) / F32(3))
    return float(torch_sum_float32(norm.astype(F32), threads))


def torch_l2_search(
    counts: ArrayLike, lo: float, hi: float, *, dst_nbins: int = 256, threads: int = 1
) -> tuple[np.float32, np.float32]:
    """``HistogramObserver._non_linear_param_search`` on ``counts`` over ``[lo, hi]``: ``(new_min, new_max)``.

    The same result as torch's loop of up to ``10**5`` steps, faster: the
    left and right moves are ``searchsorted`` on the float32 cumulative sum,
    and a run of steps that only lowers ``beta`` is skipped in one jump (a
    bisection for the first ``k`` with ``f(beta_k * total) < cSum[end]``, on
    the exact double sequence of ``beta``); the error is evaluated only when a
    bin changes.
    """
    h = np.asarray(counts, F32).reshape(-1)
    bins = h.size
    lo32, hi32 = F32(lo), F32(hi)
    lo_d, hi_d = float(lo32), float(hi32)
    bw_t = F32(F32(hi32 - lo32) / F32(bins))
    with np.errstate(over="ignore"):
        total = float(torch_sum_float32(h, threads))
    csum = np.cumsum(h, dtype=np.float64).astype(F32)
    alphas, neg_betas = _steps()
    betas = -neg_betas
    i = j = 0  # alpha = alphas[i], beta = betas[j]
    start, end = 0, bins - 1
    norm_min = math.inf
    while alphas[i] < betas[j]:
        ta, tb = F32(alphas[i + 1] * total), F32(betas[j + 1] * total)  # double products, float32 compares
        left = min(end, max(start, int(np.searchsorted(csum, ta, side="left"))))
        r = max(start, min(end, int(np.searchsorted(csum, tb, side="right")) - 1))
        if left - start > end - r:
            i += 1
            ns, ne = left, end
        else:
            j += 1
            if r == end:  # no move: beta keeps falling until f(beta * total) < csum[end]
                j_stop = int(np.searchsorted(neg_betas, -alphas[i], side="left"))  # first j: beta <= alpha
                if start == end:  # r stays at end: nothing moves until the loop ends
                    j = j_stop
                    continue
                c_end = csum[end]  # the first k > j with f(beta_k * total) < csum[end] (monotone in k)
                k = bisect.bisect_left(
                    range(betas.size), True, j + 1, key=lambda m: F32(betas[m] * total) < c_end
                )
                j = min(k - 1, j_stop)
                continue
            ns, ne = start, r
        with np.errstate(all="ignore"):  # wide ranges overflow float32 cubes: inf/NaN, as in torch
            norm = _quantization_error(h, lo_d, hi_d, dst_nbins, ns, ne, threads)
        if norm > norm_min:
            break
        norm_min = norm
        start, end = ns, ne
    new_min = F32(lo32 + F32(bw_t * F32(start)))
    new_max = F32(lo32 + F32(bw_t * F32(end + 1)))
    return new_min, new_max
