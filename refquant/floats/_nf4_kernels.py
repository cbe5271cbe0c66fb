"""bitsandbytes' 4-bit and 8-bit blockwise kernels, and its table builders, in NumPy (internal).

Used by :mod:`refquant.floats.nf4`, which documents the semantics;
everything here is float32 arithmetic, element for element as the
C++/CUDA/PyTorch source computes it (the sources are cited at each
function). The kernels trust their callers (1-D float32 arrays, a positive
block size); the boundary checks at the end validate the public arguments.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtri  # type: ignore[import-untyped]  # no stubs installed

from refquant._exact import fma_float32
from refquant._validate import as_float_array, as_int_array, check_choice, check_int, show_values

F32 = np.float32
_FLT_MAX = F32(np.finfo(np.float32).max)
_CLAMP_MIN = F32(1e-38)  # bnb's default backend: absmax.clamp(min=1e-38) (a float32 subnormal)

# bnb's FP4 magnitudes before normalization, in code order 0b000 .. 0b111 (functional.get_4bit_type)
FP4_MAGNITUDES = (0.0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0)
# dQuantizeFP4's pivots (csrc/kernels.cu), float literals as the CUDA compiler rounds them
FP4_CUDA_PIVOTS = np.array(
    [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333], F32
)
# the 3-bit magnitude code of the k-th smallest magnitude (0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1)
FP4_RANK_TO_CODE = np.array([0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011], np.uint8)
# torch.argsort of bnb's FP4 table, as bnb 0.50's default backend uses it (+0 sorts before -0)
FP4_CPU_ORDER = np.array([11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3], np.uint8)


def torch_linspace_float32(start: float, end: float, steps: int) -> NDArray[np.float32]:
    """``torch.linspace(start, end, steps)`` in float32, as torch's CPU kernel computes it (steps >= 2).

    ``aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp`` (``linspace_kernel``):
    ``start`` and ``end`` are rounded to float32, ``step = (end - start) /
    (steps - 1)`` in float32, and element ``k`` is ``start + step * k`` for
    ``k < steps // 2`` and ``end - step * (steps - 1 - k)`` after, each
    evaluated as one fused multiply-add (the compiler contracts the
    expression; torch 2.13's CPU build does, and an unfused product differs
    on about half of random linspaces).
    """
    s, e = F32(start), F32(end)
    step = F32(e - s) / F32(steps - 1)
    k = np.arange(steps)
    first = fma_float32(step, k.astype(F32), s)
    second = fma_float32(-step, (steps - 1 - k).astype(F32), e)
    return np.where(k < steps // 2, first, second).astype(F32)


def normal_map_float32(bits: int, offset: float, use_extra_value: bool) -> NDArray[np.float32]:
    """bnb's ``create_normal_map`` in its float32 arithmetic, generalized to ``bits`` (sorted, distinct)."""
    half = 2 ** (bits - 1)
    n_pos = half + 1 if use_extra_value else half
    pos = ndtri(torch_linspace_float32(offset, 0.5, n_pos)[:-1].astype(np.float64)).astype(F32)
    neg = (-ndtri(torch_linspace_float32(offset, 0.5, half)[:-1].astype(np.float64))).astype(F32)
    v = np.sort(np.concatenate([neg, np.zeros(1, F32), pos]))
    return (v / v.max()).astype(F32)


def normal_map_exact(bits: int, offset: float, use_extra_value: bool) -> NDArray[np.float64]:
    """The same quantiles in float64: ``numpy.linspace``, ``ndtri`` and the division in float64."""
    half = 2 ** (bits - 1)
    n_pos = half + 1 if use_extra_value else half
    pos = ndtri(np.linspace(offset, 0.5, n_pos)[:-1])
    neg = -ndtri(np.linspace(offset, 0.5, half)[:-1])
    v = np.sort(np.concatenate([neg, np.zeros(1), pos]))
    return v / v.max()


def dynamic_map_float32(signed: bool, max_exponent_bits: int) -> NDArray[np.float32]:
    """bnb's ``create_dynamic_map(signed, max_exponent_bits, total_bits=8)``, in its float32 arithmetic.

    Decade ``i`` holds the midpoints of ``torch.linspace(0.1, 1, items + 1)``
    (float32 sum, halved) times ``float32(10.0 ** (i - max_exponent_bits + 1))``
    (torch multiplies a float32 tensor by a Python float in float32); then 0
    and 1, sorted. The loop runs over the decades (at most 7), not elements.
    """
    non_sign = 7
    data: list[NDArray[np.float32]] = []
    i = 0

    def decade(i: int, items: int) -> None:
        b = torch_linspace_float32(0.1, 1.0, items + 1)
        means = (b[:-1] + b[1:]) / F32(2)
        scaled = (F32(10.0 ** (-(max_exponent_bits - 1) + i)) * means).astype(F32)
        data.append(scaled)
        if signed:
            data.append(-scaled)

    for i in range(max_exponent_bits):
        decade(i, 2 ** (i + non_sign - max_exponent_bits + (0 if signed else 1)))
    additional = 2 ** (non_sign - max_exponent_bits) - 1
    if additional > 0:  # bnb reuses the last decade's i here
        decade(i, additional)
    data.append(np.array([0.0, 1.0], F32))
    return np.sort(np.concatenate(data)).astype(F32)


# ----------------------------------------------------------------------------- blocks


def as_blocks(flat: NDArray[np.float32], block_size: int) -> NDArray[np.float32]:
    """``flat`` as ``(n_blocks, w)`` rows, the partial last block padded with zeros.

    ``w = min(block_size, n)``: a block longer than the data is one row of
    the data (no padding allocated, whatever ``block_size``).
    """
    n = flat.size
    w = max(1, min(block_size, n))
    nb = -(-n // w)
    out = np.zeros(nb * w, F32)
    out[:n] = flat
    return out.reshape(nb, w)


def absmax_cuda(blocks: NDArray[np.float32], partial: bool) -> NDArray[np.float32]:
    """kQuantizeBlockwise's absmax: ``fmaxf`` from ``-FLT_MAX`` over ``|x|``; NaN skipped.

    The kernel loads a partial last block padded with zeros, which enter the
    maximum (only visible when every element of that block is NaN).
    """
    if blocks.shape[0] == 0:
        return np.zeros(0, F32)
    m = np.fmax.reduce(np.abs(blocks), axis=1, initial=-_FLT_MAX).astype(F32)
    if partial:
        m[-1] = np.fmax(m[-1], F32(0))
    return m


def normalize_cuda(blocks: NDArray[np.float32], absmax: NDArray[np.float32]) -> NDArray[np.float32]:
    """``x * (1.0f / absmax)`` in float32 (``absmax = 0`` gives ``0 * inf = NaN``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = F32(1) / absmax
        return (blocks * inv[:, None]).astype(F32)


def normalize_cpu(
    blocks: NDArray[np.float32], partial: bool
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """bnb's default (PyTorch) backend: the normalized values and the absmax it reports.

    ``backends/default/ops.py``: full blocks ``x * (1 / absmax.clamp(min=1e-38))``
    and report the unclamped absmax; the partial last block ``x / am`` with
    ``am = absmax.clamp(min=1e-38)``, reported clamped. ``torch.max`` and
    ``clamp`` propagate NaN.
    """
    absmax = np.abs(blocks).max(axis=1) if blocks.shape[0] else np.zeros(0, F32)
    absmax = absmax.astype(F32)
    clamped = np.maximum(absmax, _CLAMP_MIN)  # NaN stays NaN, as torch.clamp
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = blocks * (F32(1) / clamped)[:, None]
        if partial:
            v[-1] = blocks[-1] / clamped[-1]
            absmax[-1] = clamped[-1]
    return v.astype(F32), absmax


# ----------------------------------------------------------------------------- 4-bit codes


def nf4_codes(v: NDArray[np.float32], midpoints: NDArray[np.float32], nan_code: int) -> NDArray[np.uint8]:
    """Number of midpoints strictly below ``v`` (ties go to the lower code); NaN gets ``nan_code``.

    dQuantizeNF4's tree (``x > threshold`` at each node) and the default
    backend's ``torch.bucketize(v, midpoints)`` (``right=False``) both count
    the thresholds strictly below ``v``; the tree sends NaN down its
    all-false branch (code 0), bucketize past the end (code 15).
    """
    k = np.searchsorted(midpoints, v, side="left")
    return np.where(np.isnan(v), nan_code, k).astype(np.uint8)


def fp4_codes_cuda(v: NDArray[np.float32]) -> NDArray[np.uint8]:
    """dQuantizeFP4: sign bit for ``v < 0``, then ``|v|`` against the kernel's pivot literals."""
    a = np.abs(v)
    k = np.where(np.isnan(a), 0, np.searchsorted(FP4_CUDA_PIVOTS, a, side="left"))
    sign = np.where(v < 0, 8, 0).astype(np.uint8)
    return (FP4_RANK_TO_CODE[k] | sign).astype(np.uint8)


def fp4_codes_cpu(v: NDArray[np.float32], table: NDArray[np.float32]) -> NDArray[np.uint8]:
    """The default backend: bucketize against the float32 midpoints of the sorted table, then ``order[k]``."""
    srt = table[FP4_CPU_ORDER]
    mid = ((srt[:-1] + srt[1:]) / F32(2)).astype(F32)
    k = np.where(np.isnan(v), 15, np.searchsorted(mid, v, side="left"))
    return FP4_CPU_ORDER[k]


# ----------------------------------------------------------------------------- 8-bit codes


def dquantize_cuda(v: NDArray[np.float32], code: NDArray[np.float32]) -> NDArray[np.uint8]:
    """dQuantize<0> (csrc/kernels.cu): its binary search over the 256 sorted codes, step for step.

    Seven halvings from pivot 127 (64, 32, ..., 1) track the last codes seen
    above and below; the final choice compares ``v`` with the float32
    midpoint ``(neighbour + code[pivot]) * 0.5f``: strictly beyond it picks
    the neighbour, so a tie stays on the pivot. The loop is over the seven
    steps, vectorized over the elements.
    """
    pivot = np.full(v.shape, 127, np.int64)
    lo_p = np.zeros(v.shape, np.int64)
    up_p = np.full(v.shape, 255, np.int64)
    lo = np.full(v.shape, F32(-1), F32)
    up = np.full(v.shape, F32(1), F32)
    val = code[pivot]
    for i in (64, 32, 16, 8, 4, 2, 1):
        gt = v > val
        lo_p, lo = np.where(gt, pivot, lo_p), np.where(gt, val, lo)
        up_p, up = np.where(gt, up_p, pivot), np.where(gt, up, val)
        pivot = np.where(gt, pivot + i, pivot - i)
        val = code[pivot]
    up = np.where(up_p == 255, code[255], up)
    lo = np.where(lo_p == 0, code[0], lo)
    gt = v > val
    above = np.where(v > (up + val) * F32(0.5), up_p, pivot)
    below = np.where(v < (lo + val) * F32(0.5), lo_p, pivot)
    return np.where(gt, above, below).astype(np.uint8)


_LUT_SIZE = 65536


def cpu_lut(code: NDArray[np.float32]) -> NDArray[np.uint8]:
    """build_quantize_lut (csrc/cpu_ops.cpp): entry ``i`` is the code nearest ``-1 + 2i / 65535``.

    ``val_i = -1.0f + (2.0f * i) / 65535`` in float32; the entry is the
    number of float32 midpoints ``0.5f * (code[j] + code[j + 1])`` strictly
    below ``val_i``.
    """
    i = np.arange(_LUT_SIZE)
    val = (F32(-1) + (F32(2) * i.astype(F32)) / F32(_LUT_SIZE - 1)).astype(F32)
    mid = (F32(0.5) * (code[:-1] + code[1:])).astype(F32)
    return np.searchsorted(mid, val, side="left").astype(np.uint8)


def quantize_lut_cpu(v: NDArray[np.float32], lut: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """quantize_cpu_impl's lookup: ``lut[uint16((clamp(v, -1, 1) + 1) * 0.5 * 65535 + 0.5)]`` in float32.

    The index truncates toward zero. Whether the compiler fuses the last
    multiply-add does not matter: ``p + 0.5`` is exact for every rounded
    product ``p`` below 65536, and a fused result can only differ from it
    by less than half an ulp of a value below 65536 next to an integer, so
    both truncate alike.
    """
    c = np.clip(v, F32(-1), F32(1))
    t = (c + F32(1)) * F32(0.5) * F32(_LUT_SIZE - 1) + F32(0.5)
    # a NaN (0 * inf, from a subnormal absmax) converts to 0 on x86 (cvttss2si's 0x80000000, truncated)
    idx = np.where(np.isnan(t), F32(0), t).astype(np.uint16)
    return lut[idx]


def blockwise_8bit(
    flat: NDArray[np.float32], code: NDArray[np.float32], block_size: int, backend: str
) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """bnb's ``quantize_blockwise`` of finite float32 values: (codes, absmax per block)."""
    n = flat.size
    blocks = as_blocks(flat, block_size)
    absmax = np.abs(blocks).max(axis=1).astype(F32) if blocks.shape[0] else np.zeros(0, F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (blocks * (F32(1) / absmax)[:, None]).astype(F32)
    if backend == "cuda":
        q = dquantize_cuda(v, code)  # absmax 0: v = 0 * inf = NaN, which the search sends to code 0
    else:
        q = quantize_lut_cpu(v, cpu_lut(code))
        q = np.where(absmax[:, None] == 0, np.uint8(0), q)  # quantize_cpu_impl writes 0 for a zero block
    return q.reshape(-1)[:n].astype(np.uint8), absmax


def per_element(absmax: NDArray[np.float32], n: int, block_size: int) -> NDArray[np.float32]:
    """Each element's block absmax, for a flat array of ``n`` elements."""
    return absmax[np.arange(n) // block_size]


def lookup_times(
    table: NDArray[np.float32], codes: NDArray[Any], absmax: NDArray[np.float32], block_size: int
) -> NDArray[np.float32]:
    """``table[code] * absmax[block]`` in float32 (dequantization, flat C order)."""
    flat = codes.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        return (table[flat] * per_element(absmax, flat.size, block_size)).astype(F32)


# ----------------------------------------------------------------------------- boundary checks

BACKENDS = ("cuda", "cpu")


def real(name: str, value: Any) -> float:
    """A finite Python or NumPy real number, or a 0-d real array (as ``DoubleQuantized.offset``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}"[:300])
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def float32_scalar(name: str, value: Any) -> np.float32:
    """A finite real number (:func:`real`) rounded to float32, finite there too."""
    v = real(name, value)
    with np.errstate(over="ignore"):
        out = F32(v)
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite in float32 (|v| <= 3.4028235e+38), got {value!r}")
    return out


def block_size_arg(block_size: Any) -> int:
    bs = check_int("block_size", block_size)
    if bs < 1:
        raise ValueError(f"block_size must be >= 1, got {bs}")
    return bs


def float32_arg(name: str, x: ArrayLike) -> NDArray[np.float32]:
    """``x`` rounded to float32; finite values beyond float32's range raise ``ValueError``."""
    xa = as_float_array(name, x)
    with np.errstate(over="ignore"):
        out = xa.astype(np.float32, copy=False)
    big = np.isinf(out) & np.isfinite(xa)
    if np.any(big):
        raise ValueError(
            f"{name} must be within float32's range (|v| <= 3.4028235e+38; the arithmetic is float32's), "
            f"got {show_values(xa[big])}"
        )
    return out


def prepare_4bit(
    x: ArrayLike, block_size: Any, backend: Any
) -> tuple[NDArray[np.float32], tuple[int, ...], int]:
    xa = float32_arg("x", x)
    bs = block_size_arg(block_size)
    check_choice("backend", backend, BACKENDS)
    return xa.reshape(-1), xa.shape, bs


def normalize(
    flat: NDArray[np.float32], bs: int, backend: str
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The normalized blocks ``(n_blocks, bs)`` and the absmaxes, as ``backend`` computes them."""
    blocks = as_blocks(flat, bs)
    partial = flat.size % bs != 0
    if backend == "cuda":
        absmax = absmax_cuda(blocks, partial)
        return normalize_cuda(blocks, absmax), absmax
    return normalize_cpu(blocks, partial)


def prepare_dequant(
    codes: ArrayLike, absmax: ArrayLike, block_size: Any, top: int
) -> tuple[NDArray[np.int64], NDArray[np.float32], int]:
    c = as_int_array("codes", codes)
    if c.size and (c.min() < 0 or c.max() > top):
        raise ValueError(f"codes must lie in [0, {top}], got {show_values(c[(c < 0) | (c > top)])}")
    bs = block_size_arg(block_size)
    a = float32_arg("absmax", absmax)
    nb = -(-c.size // bs)
    if a.shape != (nb,):
        raise ValueError(
            f"absmax must have shape ({nb},), one per block of {bs} of {c.size} codes; got {a.shape}"
        )
    return c, a, bs
