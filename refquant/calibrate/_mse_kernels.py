"""Kernels of :mod:`refquant.calibrate.mse`: ModelOpt's float32 quantizers, torch's sum, the data search.

Internal: callers validate. Every kernel works on a block of candidates at
once (rows) and is exact in the arithmetic it names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.floats.cast import cast
from refquant.floats.spec import FloatFormat

F32 = np.float32
TORCH_LANES = 8  # float32 lanes of torch's vectorized CPU sum kernel as dispatched here (AVX2 width)
_EPS24 = F32(1.0 / (1 << 24))  # ModelOpt's "amax is zero" threshold
BUDGET = 1 << 21  # elements per block of candidates x values (data); histograms use BUDGET // 8
CACHE = 1 << 15  # elements per piece of the data search (256 KiB of float64)


def _multi_row_sum(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """torch ``multi_row_sum``: 4-level cascade over axis 1 of ``(m, size, ...)``, float32."""
    size = rows.shape[1]
    power = max(4, (max(size - 1, 0).bit_length() if size > 1 else 0) // 4)
    step, mask = 1 << power, (1 << power) - 1
    acc = [np.zeros((rows.shape[0], *rows.shape[2:]), rows.dtype) for _ in range(4)]
    i = 0
    while i + step <= size:
        for j in range(step):  # sequential float32 adds, in torch's order
            acc[0] += rows[:, i + j]
        i += step
        for lev in range(1, 4):
            acc[lev] += acc[lev - 1]
            acc[lev - 1][...] = 0
            if i & (mask << (lev * power)):
                break
    for j in range(i, size):
        acc[0] += rows[:, j]
    for lev in range(1, 4):
        acc[0] += acc[lev]
    return acc[0]


def _row_sum(v: NDArray[np.float32]) -> NDArray[np.float32]:
    """torch ``row_sum``: 4 interleaved partial sums (ILP), then their sum."""
    size = v.shape[1]
    n4 = size // 4
    parts = _multi_row_sum(v[:, : n4 * 4].reshape(v.shape[0], n4, 4, *v.shape[2:]))
    total = parts[:, 0].copy()
    for i in range(n4 * 4, size):
        total += v[:, i]
    for k in range(1, 4):
        total += parts[:, k]
    return total


def torch_sum_f32(a: NDArray[np.float32], lanes: int = TORCH_LANES) -> NDArray[np.float32]:
    """Row sums of a float32 ``(m, n)`` array in the order of torch's CPU ``cascade_sum`` (n <= 32768).

    The accumulators take ``a``'s dtype, so an object array of counters traces the order.
    """
    m, n = a.shape
    if n < lanes:
        return _row_sum(a)
    nv = n // lanes
    vec = _row_sum(a[:, : nv * lanes].reshape(m, nv, lanes))
    total = np.zeros(m, a.dtype)
    for k in range(nv * lanes, n):
        total += a[:, k]
    for k in range(lanes):
        total += vec[:, k]
    return total


def modelopt_int(c: NDArray[np.float32], amax: NDArray[np.float32], num_bits: int, unsigned: bool) -> Any:
    """ModelOpt ``_tensor_quant`` (narrow range) of the row ``c`` for each ``amax``: ``(m, n)`` float32."""
    qmax = F32(2.0 ** (num_bits - 1 + int(unsigned)) - 1.0)
    qmin = F32(0.0) if unsigned else -qmax
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny amax: the zero branch
        scale = (qmax / amax)[:, None]
        zero = amax <= _EPS24
        if zero.any():
            scale[zero] = 0
        t = c[None, :] * scale
        np.rint(t, out=t)
        np.clip(t, qmin, qmax, out=t)
        if zero.any():
            scale[zero] = 1
        t /= scale
        return t


def modelopt_int_shipped(
    c: NDArray[np.float32], amax: NDArray[np.float32], num_bits: int, unsigned: bool
) -> Any:
    """``fake_tensor_quant(c, amax, num_bits, unsigned)`` as called: bias=num_bits, num_bits=unsigned."""
    x = c - F32(num_bits)  # inputs - bias
    qmax = F32(2.0 ** (int(unsigned) - 1) - 1.0)  # -0.5 (False) or 0.0 (True); unsigned=False, narrow range
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # tiny amax: the zero branch
        scale = (qmax / amax)[:, None]
        zero = (amax <= _EPS24)[:, None]
        scale = np.where(zero, F32(0.0), scale)
        t = x[None, :] * scale
        np.rint(t, out=t)
        # torch.clamp(t, -qmax, qmax): max with the lower bound, then min with the upper (NaN propagates)
        np.maximum(t, -qmax, out=t)
        np.minimum(t, qmax, out=t)
        t /= np.where(zero, F32(1.0), scale)
        t += F32(num_bits)
    return t


def modelopt_e4m3(c: NDArray[np.float32], amax: NDArray[np.float32]) -> Any:
    """ModelOpt ``_fp8_eager``: ``e4m3fn(clamp(c * s, ±448)) * (1/s)``, ``s = fl(fl(1/amax) * 448)``, float32.

    ``448.0 / amax`` with a Python float numerator is torch's ``Tensor.__rtruediv__``,
    ``amax.reciprocal() * 448``: two roundings (``amax = 3`` gives ``s = 149.33334``, not ``149.33333``).
    """
    safe = np.where(amax <= _EPS24, F32(1.0), amax)
    scale = ((F32(1.0) / safe) * F32(448.0))[:, None]
    inv = F32(1.0) / scale
    y = np.clip(c[None, :] * scale, F32(-448.0), F32(448.0))
    return cast(y, "float8_e4m3fn") * inv


def modelopt_errors(q: NDArray[np.float32], c: NDArray[np.float32], counts: NDArray[np.float32]) -> Any:
    """``((q - c) ** 2 * counts).mean()`` per row, in torch's float32 order (``q`` is overwritten)."""
    with np.errstate(over="ignore", invalid="ignore"):
        q -= c
        np.multiply(q, q, out=q)
        q *= counts
        return torch_sum_f32(q) / F32(c.size)


def int_fake(x: NDArray[np.float64], scale: Any, zp: Any, qmin: int, qmax: int) -> Any:
    """``refquant.quantize.fake_quantize`` in float64 (divide, half-even, exact zero point), broadcast."""
    return np.clip(np.rint(x / scale), qmin - zp, qmax - zp) * scale


def float_fake(x: NDArray[np.float64], scale: Any, fmt: FloatFormat) -> Any:
    """``cast(x / s, fmt, saturate=True) * s`` in float64, broadcast."""
    return (
        cast(
            np.broadcast_to(x / scale, np.broadcast_shapes(np.shape(x), np.shape(scale))), fmt, saturate=True
        )
        * scale
    )


def _fq_into(out: NDArray[np.float64], x: Any, s: Any, z: Any, quant: tuple[Any, ...]) -> None:
    """``out = (fq(x; s, z) - x) ** 2`` with ``fq`` as :func:`int_fake` or :func:`float_fake`."""
    if quant[0] == "int":
        np.divide(x, s, out=out)
        np.rint(out, out=out)
        np.clip(out, quant[1] - z, quant[2] - z, out=out)
        out *= s
    else:
        out[...] = float_fake(x, s, quant[1])
    out -= x
    np.multiply(out, out, out=out)


def data_errors(
    x: NDArray[np.float64], scale: NDArray[np.float64], zp: NDArray[np.float64], quant: tuple[Any, ...]
) -> NDArray[np.float64]:
    """``mean((fq(x; s_k, z_k) - x)**2)`` for x ``(C, N)``, scale/zp ``(C, K)``: ``(C, K)`` float64.

    Each error is NumPy's pairwise sum of that row's squared errors alone (``np.mean`` of the row), so a
    channel's errors do not depend on the others. Short rows: blocks of channels x candidates under
    :data:`CACHE` elements; long rows: one candidate at a time, the squared errors computed in
    cache-sized pieces into one row buffer, then summed.
    """
    nc, n = x.shape
    kk = scale.shape[1]
    out = np.empty((nc, kk))
    if n > CACHE:
        buf = np.empty(n)
        for c in range(nc):
            for j in range(kk):
                s, z = scale[c, j], zp[c, j]
                for i0 in range(0, n, CACHE):
                    _fq_into(buf[i0 : i0 + CACHE], x[c, i0 : i0 + CACHE], s, z, quant)
                out[c, j] = buf.sum() / n
        return out
    kb = max(1, min(kk, CACHE // n))
    cb = max(1, CACHE // (n * kb))
    for c0 in range(0, nc, cb):
        xs = x[c0 : c0 + cb, None, :]
        for k0 in range(0, kk, kb):
            s = scale[c0 : c0 + cb, k0 : k0 + kb, None]
            z = zp[c0 : c0 + cb, k0 : k0 + kb, None]
            d = np.empty(np.broadcast_shapes(xs.shape, s.shape))
            _fq_into(d, xs, s, z, quant)
            out[c0 : c0 + cb, k0 : k0 + kb] = d.sum(-1) / n
    return out
