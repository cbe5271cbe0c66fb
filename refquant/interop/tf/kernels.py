"""The kernels behind :mod:`refquant.interop.tf`: TF's nudge, forward, gradient and Eigen's float32 sums.

Unchecked: the ops in :mod:`refquant.interop.tf.fake_quant` validate and call
these. Every arithmetic result is flushed (:func:`ftz`), as TF's CPU kernels
run with FTZ and DAZ set.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.qparams import nudge_kernel

_F32 = np.float32
_HALF = np.float32(0.5)
_TINY = np.finfo(np.float32).tiny  # smallest normal float32


class Nudged(NamedTuple):
    """The nudged range of TF's FakeQuant kernels, with the two constants the forward uses."""

    nudged_min: NDArray[np.float32]
    nudged_max: NDArray[np.float32]
    scale: NDArray[np.float32]
    inv_scale: NDArray[np.float32]
    quant_zero: NDArray[np.float32]


def nudge(lo: NDArray[np.float32], hi: NDArray[np.float32], qmin: int, qmax: int) -> Nudged:
    """TF's ``Nudge`` plus ``inv_scale`` and ``quant_zero``, elementwise in float32, with FTZ.

    The nudge itself is :func:`refquant.qparams.nudge_kernel` (the one source,
    also behind :func:`refquant.qparams.nudge_range`), run with TF's flush of
    subnormals after every operation and on the ranges ``nudge_range``
    rejects (empty, reversed, non-finite).
    """
    qmin_f, qmax_f = _F32(qmin), _F32(qmax)
    lo, hi = ftz(lo), ftz(hi)
    nudged_min, nudged_max, scale, _ = nudge_kernel(lo, hi, qmin, qmax, np.dtype(_F32), flush=ftz)
    with np.errstate(all="ignore"):
        inv_scale = ftz((qmax_f - qmin_f) / (hi - lo))
        quant_zero = np.floor(ftz(-nudged_min * inv_scale) + _HALF)
    return Nudged(nudged_min, nudged_max, scale, inv_scale, quant_zero)


def forward(
    x: NDArray[np.float32],
    lo: NDArray[np.float32],
    hi: NDArray[np.float32],
    qmin: int,
    qmax: int,
    *,
    divide: bool,
) -> NDArray[np.float32]:
    """The forward kernel; ``lo``/``hi`` are 0-d or broadcast along the last axis."""
    n = nudge(lo, hi, qmin, qmax)
    x = ftz(x)
    with np.errstate(all="ignore"):
        # Eigen's cwiseMin/cwiseMax: std::min(x, M) = (M < x) ? M : x, so a NaN x stays NaN.
        clamped = np.where(n.nudged_max < x, n.nudged_max, x)
        clamped = np.where(clamped < n.nudged_min, n.nudged_min, clamped)
        shifted = ftz(clamped - n.nudged_min)
        t = ftz(shifted / n.scale if divide else shifted * n.inv_scale)
        t = ftz(t - n.quant_zero) + _HALF  # t + 0.5 is never subnormal
        out = ftz(np.floor(t) * n.scale)
    zero_range = (ftz(lo) == 0) & (ftz(hi) == 0)
    if np.any(zero_range):
        out = np.where(zero_range, _F32(0), out)
    return np.asarray(out, dtype=_F32).reshape(x.shape)


def backward(
    g: NDArray[np.float32],
    x: NDArray[np.float32],
    lo: NDArray[np.float32],
    hi: NDArray[np.float32],
    qmin: int,
    qmax: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Gradient kernel: ``grad_inputs``, and min/max sums per channel or (0-d ``lo``) over all, shape (1,)."""
    n = nudge(lo, hi, qmin, qmax)
    xf, gf = ftz(x), ftz(g)
    inside = ((xf >= n.nudged_min) & (xf <= n.nudged_max)).astype(_F32)
    below = (xf < n.nudged_min).astype(_F32)
    above = (xf > n.nudged_max).astype(_F32)
    with np.errstate(all="ignore"):
        grad_inputs = gf * inside  # a product, as in TF: inf * 0 is NaN
        grad_min = sum_last_axis(gf * below, lo.ndim)
        grad_max = sum_last_axis(gf * above, lo.ndim)
    zero_range = (ftz(lo) == 0) & (ftz(hi) == 0)  # never for the _args op (min < max)
    if np.any(zero_range):
        grad_inputs = np.where(zero_range, g, grad_inputs)  # a copy: subnormals survive
        grad_min = np.where(zero_range, _F32(0), grad_min).astype(_F32)
        grad_max = np.where(zero_range, _F32(0), grad_max).astype(_F32)
    return np.asarray(grad_inputs, dtype=_F32).reshape(x.shape), grad_min, grad_max


def sum_last_axis(v: NDArray[np.float32], param_ndim: int) -> NDArray[np.float32]:
    """Float32 sums in Eigen's order, per channel (last axis) or over everything (shape ``(1,)``)."""
    cols = v.shape[-1] if param_ndim else 1
    flat = v.reshape(v.size // cols if cols else 0, cols)
    with np.errstate(all="ignore"):
        return eigen_sum(flat, 0, flat.shape[0])


_PACKET = 8  # floats per AVX packet: TF's x86-64 wheels are built with AVX
_LEAF = 1024


def eigen_sum(v: NDArray[np.float32], first: int, n: int) -> NDArray[np.float32]:
    """Column sums of ``v[first:first + n]`` in the order of Eigen's single-threaded full reduction.

    ``InnerMostDimReducer`` (vectorized, tree): above 8 * 1024 values, split at
    a packet boundary near the middle. A leaf has four packet accumulators,
    folded ``((p0 + p1) + p2) + p3``, then the whole packets left, then
    ``tail + hsum(p0)`` with the tail added one by one and
    ``hsum = (h0 + h2) + (h1 + h3)`` for ``h = p0[:4] + p0[4:]``. Partial sums
    start from +0.0, in float32, with subnormals flushed.
    """
    p = _PACKET
    if n > p * _LEAF:
        split = p * -(-(first + -(-n // 2)) // p)
        left = min(split - first, n)
        acc = _F32(0) + eigen_sum(v, first, left)
        if left < n:
            acc = ftz(acc + eigen_sum(v, split, n - left))
        return acc
    x = v[first : first + n]
    cols = v.shape[1]
    n4 = n // (4 * p) * (4 * p)
    p0 = np.zeros((p, cols), _F32)
    if n4:
        # four sequential packet accumulators; reducing axis 0 adds the rows in order
        rows = x[:n4].reshape(-1, 4 * p, cols)
        if np.any((np.abs(rows) < _F32(2.0**-102)) & (rows != 0)):  # a partial sum may be subnormal
            acc4 = np.zeros((4 * p, cols), _F32)
            for row in rows:
                acc4 = ftz(acc4 + row)
        else:
            acc4 = _F32(0) + np.add.reduce(rows, axis=0, dtype=_F32)
        p0 = ftz(ftz(ftz(acc4[:p] + acc4[p : 2 * p]) + acc4[2 * p : 3 * p]) + acc4[3 * p :])
    start = n4
    if start <= n - p:
        whole = n // p * p
        for j in range(start, whole, p):
            p0 = ftz(p0 + x[j : j + p])
        start = whole
    tail = np.zeros(cols, _F32)
    for j in range(start, n):
        tail = ftz(tail + x[j])
    h = ftz(p0[:4] + p0[4:])
    return ftz(tail + ftz(ftz(h[0] + h[2]) + ftz(h[1] + h[3])))


def ftz(a: ArrayLike) -> NDArray[np.float32]:
    """Flush float32 subnormals to a zero of the same sign.

    TF runs its CPU kernels with FTZ and DAZ set (``port::ScopedFlushDenormal``).
    Applying this to every operand and to every arithmetic result reproduces that.
    """
    arr = np.asarray(a, dtype=_F32)
    with np.errstate(invalid="ignore"):
        tiny = np.abs(arr) < _TINY
    if not tiny.any():
        return arr
    return np.where(tiny, np.copysign(_F32(0), arr), arr)
