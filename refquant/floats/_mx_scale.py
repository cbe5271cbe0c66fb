"""Block maxima and shared exponents of OCP MX blocks (internal to :mod:`refquant.floats.mx`).

Callers validate; everything here trusts its arguments. Exponents are exact
integer arithmetic on ``numpy.frexp`` of the block maxima (float64 holds every
float32 exactly), never a floating-point ``log2``, except where torchao's own
float32 ``log2`` is reproduced (``convention="torchao"``, ``scale_mode="rceil"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import check_int

E8M0_MIN, E8M0_MAX = -127, 127
_NONE = -(1 << 20)  # the "exponent" of a zero maximum: below every clamp


@dataclass(frozen=True)
class ElementSpec:
    """An MX element type: ``emax`` (exponent of its largest normal), ``max`` (its largest value),
    ``mbits`` (fraction bits of its top binade, what ``"even"`` rounds the maximum to)."""

    name: str
    emax: int
    max: float
    mbits: int


ELEMENTS: dict[str, ElementSpec] = {
    s.name: s
    for s in (
        ElementSpec("float8_e4m3fn", 8, 448.0, 3),
        ElementSpec("float8_e5m2", 15, 57344.0, 2),
        ElementSpec("float6_e2m3fn", 2, 7.5, 3),
        ElementSpec("float6_e3m2fn", 4, 28.0, 2),
        ElementSpec("float4_e2m1fn", 2, 6.0, 1),
        ElementSpec("int8", 0, 127 / 64, 6),
    )
}


def block_size_arg(block_size: Any) -> int:
    """``block_size`` as an int ``>= 1`` (``TypeError``/``ValueError`` otherwise)."""
    bs = check_int("block_size", block_size)
    if bs < 1:
        raise ValueError(f"block_size must be >= 1, got {bs}")
    return bs


def times_blocks(xm: NDArray[Any], per_block: NDArray[Any], bs: int) -> NDArray[Any]:
    """``xm * per_block`` repeated along the last axis (block ``j`` covers ``[j*bs, (j+1)*bs)``)."""
    n = xm.shape[-1]
    if n % bs == 0:
        shaped = xm.reshape(*xm.shape[:-1], n // bs, bs)
        return np.asarray((shaped * per_block[..., None]).reshape(xm.shape))
    return np.asarray(xm * per_block[..., np.arange(n) // bs])


_CHUNK = 1 << 16  # elements per chunk (block maxima, scale-and-cast): cache-sized temporaries


def scaled_apply(
    xa: NDArray[Any],
    ax: int,
    bs: int,
    per_block: NDArray[Any],
    fn: Callable[[NDArray[Any]], NDArray[np.float32]],
) -> NDArray[np.float32]:
    """``fn(x * per_block)`` in ``x``'s shape; ``per_block`` is laid out with ``ax`` last.

    ``fn`` sees C-ordered pieces of ``x`` (a stochastic rounding draws in C
    order, the same numbers as one call): chunks of whole blocks when the
    blocks run along the last axis of a C-contiguous ``x`` and are all full
    (the temporaries stay cache-sized), else the whole scaled array.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # e.g. inf * 0 in NaN blocks
        if ax == xa.ndim - 1 and xa.shape[-1] % bs == 0 and xa.flags.c_contiguous:
            blocks = xa.reshape(-1, bs)
            m = per_block.reshape(-1, 1)
            out = np.empty(blocks.shape, np.float32)
            rows = max(1, _CHUNK // bs)
            for i in range(0, blocks.shape[0], rows):
                out[i : i + rows] = fn(blocks[i : i + rows] * m[i : i + rows])
            return out.reshape(xa.shape)
        v = np.moveaxis(times_blocks(np.moveaxis(xa, ax, -1), per_block, bs), -1, ax)
        return fn(np.ascontiguousarray(v))


def block_amax(xm: NDArray[Any], block_size: int) -> NDArray[Any]:
    """``max |x|`` over each block of the last axis (NaN propagates); the last block may be partial.

    Full blocks are reduced chunk by chunk, halving the block with ``np.maximum``
    while its width is even (vectorized across blocks; a short-axis ``max`` is
    slower), so the temporary is one chunk, not a copy of ``x``.
    """
    n = xm.shape[-1]
    if n % block_size or xm.size == 0:
        if xm.size == 0:
            return np.zeros((*xm.shape[:-1], -(-n // block_size)), xm.dtype)
        return np.maximum.reduceat(np.abs(xm), np.arange(0, n, block_size), axis=-1)
    flat = xm.reshape(-1, block_size)
    out = np.empty(flat.shape[0], xm.dtype)
    rows = max(1, _CHUNK // block_size)
    for i in range(0, flat.shape[0], rows):
        a = np.abs(flat[i : i + rows])
        w = block_size
        while w % 2 == 0:
            w //= 2
            np.maximum(a[:, :w], a[:, w : 2 * w], out=a[:, :w])
        out[i : i + rows] = a[:, :w].max(axis=1)
    return out.reshape(*xm.shape[:-1], n // block_size)


def _floor_log2(a: NDArray[np.float64]) -> NDArray[np.int64]:
    """``floor(log2 a)`` for finite ``a >= 0`` (``_NONE`` for 0), exactly."""
    _, ex = np.frexp(a)
    return np.where(a > 0, ex.astype(np.int64) - 1, _NONE)


def _ceil_log2(a: NDArray[np.float64]) -> NDArray[np.int64]:
    """``ceil(log2 a)`` for finite ``a >= 0`` (``_NONE`` for 0), exactly."""
    m, ex = np.frexp(a)
    e = ex.astype(np.int64) - (m == 0.5)
    return np.where(a > 0, e, _NONE)


def _even_log2(a: NDArray[np.float64], mbits: int) -> NDArray[np.int64]:
    """``floor(log2 a')``, ``a'`` = ``a`` rounded to ``mbits`` fraction bits, ties up (torchao's EVEN)."""
    m, ex = np.frexp(
        a
    )  # a = m * 2**ex, m in [0.5, 1): the fraction 2m - 1 rounds up to 2 iff m >= 1 - 2**-(mbits+2)
    e = ex.astype(np.int64) - 1 + (m >= 1.0 - 2.0 ** -(mbits + 2))
    return np.where(a > 0, e, _NONE)


def shared_exponents(
    amax: NDArray[Any], spec: ElementSpec, mode: str, convention: str
) -> tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[Any]]:
    """``(e, nan, mult)``: the scale exponent of each block, where the scale is NaN, and the
    multiplier applied to the block's values before the element cast (``amax``'s dtype).

    ``convention="ocp"``: a NaN or ±inf maximum makes the scale NaN (multiplier 0,
    so finite values give ±0); ``e`` is clamped to [-127, 127] and the multiplier
    is ``2**-e`` exactly. ``convention="torchao"``: torchao 0.18's ``to_mx``
    (module docstring of :mod:`refquant.floats.mx`).
    """
    dt = amax.dtype
    a64 = amax.astype(np.float64)
    nan = np.isnan(a64)
    inf = np.isinf(a64)
    fin = np.where(nan | inf, 0.0, a64)
    if mode == "rceil":
        with np.errstate(over="ignore", under="ignore"):
            d = (amax / dt.type(spec.max)).astype(
                np.float64
            )  # rounded in the compute dtype, as cuBLAS and torchao
        d = np.where(nan | inf, 0.0, d)
        if (
            convention == "torchao"
        ):  # torch.ceil(torch.log2(d)) in float32: the log2 rounds to k just above 2**k
            lg = np.ceil(np.log2(np.where(d > 0, d, 1.0)).astype(np.float32)).astype(np.int64)
            e = np.where(d > 0, lg, _NONE)
        else:
            e = _ceil_log2(d)
    else:
        if mode == "floor":
            e = _floor_log2(fin)
        elif mode == "ceil":
            e = _ceil_log2(fin)
        else:
            e = _even_log2(fin, spec.mbits)
        e = e - spec.emax
    if convention == "torchao":
        # inf's exponent field (255) reads as 2**128: a finite scale, not NaN; rceil saturates it to 2**127
        e = np.where(inf, E8M0_MAX if mode == "rceil" else 128 - spec.emax, e)
        e = np.clip(e, E8M0_MIN, E8M0_MAX)
        if mode == "rceil":  # torchao's reciprocal: 1.0 for the code 0 (2**-127), NaN for a NaN block
            mult = np.where(e == E8M0_MIN, 1.0, np.ldexp(1.0, -e))
            mult = np.where(nan, np.nan, mult)
        else:  # torchao divides by max(scale, 2**-126): the code 0 (2**-127) divides by 2**-126
            mult = np.where(nan, 0.0, np.ldexp(1.0, -np.maximum(e, E8M0_MIN + 1)))
        return e, nan, mult.astype(dt)
    e = np.clip(e, E8M0_MIN, E8M0_MAX)
    bad = nan | inf
    mult = np.where(bad, 0.0, np.ldexp(1.0, -e))
    return e, bad, mult.astype(dt)
