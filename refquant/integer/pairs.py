"""The u8 x s8 matmul of x86 kernels without VNNI: pairs of products saturated to int16 (``vpmaddubsw``).

On x86 without VNNI (AVX2, AVX-512BW), the integer GEMMs of ONNX Runtime (MLAS
U8S8), FBGEMM (PyTorch's ``fbgemm`` and ``x86`` engines) and oneDNN multiply
uint8 activations by int8 weights with ``vpmaddubsw`` (``_mm256_maddubs_epi16``):
the products of adjacent depth indices ``2i`` and ``2i + 1`` are added into an
int16 **with saturation** to ``[-32768, 32767]``; ``vpmaddwd`` with ones adds
pairs of those exactly into int32, ``vpaddd`` accumulates. One product
(``255 * (-128) = -32640``) fits int16, a pair (``-65280`` to ``64770``) need
not, so these kernels depart from exact arithmetic where large activations
meet large weights of one sign.

:func:`saturating_pair_matmul` computes that result exactly (zero points
applied as the kernels apply them: exactly, after the saturation, which acts
on the raw codes); :func:`saturated_pairs` counts the saturating pairs of each
output, which explains a difference from :func:`refquant.integer.integer_matmul`;
:func:`max_unsaturated_weight` and :func:`max_unsaturated_activation` give the
ranges for which no pair can saturate (7-bit weights, ONNX Runtime's
``reduce_range``; or 7-bit activations, PyTorch's ``reduce_range=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, show_values
from refquant.integer._checks import as_integers

__all__ = [
    "INT16_MAX",
    "INT16_MIN",
    "OVERFLOWS",
    "max_unsaturated_activation",
    "max_unsaturated_weight",
    "saturated_pairs",
    "saturating_pair_matmul",
]

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
OVERFLOWS = ("raise", "wrap")
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1
_BLOCK = 2**20  # pair sums formed per step: (batch, rows, pairs, columns) blocks of about this many


def _operand(name: str, value: Any, dtype: type[np.generic], role: str) -> NDArray[Any]:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(
            f"{name} must be a rectangular {np.dtype(dtype).name} array, got {value!r}"[:300]
        ) from None
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a 0-d {arr.dtype} array: {arr!r}")
    if arr.dtype != np.dtype(dtype):
        raise TypeError(
            f"{name} must be a {np.dtype(dtype).name} array ({role}; convert codes explicitly), "
            f"got dtype {arr.dtype}: {show_values(arr)}"
        )
    return arr


def _operands(a: Any, b: Any) -> tuple[NDArray[np.uint8], NDArray[np.int8], tuple[int, ...]]:
    """``a`` (..., M, K) uint8 and ``b`` (..., K, N) int8 (1-D promoted), and the output's shape."""
    x = _operand("a", a, np.uint8, "vpmaddubsw's unsigned operand")
    y = _operand("b", b, np.int8, "vpmaddubsw's signed operand")
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    if y2.shape[-2] != x2.shape[-1]:
        raise ValueError(
            f"a and b: a.shape[-1] must equal b.shape[-2] (K), got shapes {x.shape} and {y.shape}"
        )
    try:
        batch = np.broadcast_shapes(x2.shape[:-2], y2.shape[:-2])
    except ValueError:
        raise ValueError(
            f"a and b: the batch dimensions do not broadcast, got shapes {x.shape} and {y.shape}"
        ) from None
    return x2, y2, batch


def _squeeze(c: NDArray[Any], a_ndim: int, b_ndim: int) -> NDArray[Any]:
    if a_ndim == 1:
        c = c[..., 0, :]
    if b_ndim == 1:
        c = c[..., 0]
    return c


def _pair_reduce(
    x: NDArray[np.uint8], y: NDArray[np.int8], batch: tuple[int, ...], count: bool
) -> NDArray[np.int64]:
    """Per output, ``sum_i sat16(s_i)`` (or the number of ``s_i`` outside int16), ``s_i`` the i-th pair's sum.

    ``s_i = x[..., 2i] y[2i, :] + x[..., 2i + 1] y[2i + 1, :]`` over K zero-padded
    to even, formed in int32 (``|s_i| <= 65280``) for blocks of pairs, rows and
    batch elements at a time; the clipped sums are added in int64.
    """
    m, k, n = x.shape[-2], x.shape[-1], y.shape[-1]
    out = np.zeros((*batch, m, n), np.int64)
    if not out.size or k == 0:
        return out
    if k % 2:  # the kernels' zero padding of K (to a multiple of 4 in MLAS and FBGEMM): a zero product
        x = np.concatenate([x, np.zeros((*x.shape[:-1], 1), x.dtype)], axis=-1)
        y = np.concatenate([y, np.zeros((*y.shape[:-2], 1, n), y.dtype)], axis=-2)
    pairs = x.shape[-1] // 2
    xs = np.broadcast_to(x, (*batch, m, 2 * pairs)).reshape(-1, m, 2 * pairs)
    ys = np.broadcast_to(y, (*batch, 2 * pairs, n)).reshape(-1, 2 * pairs, n)
    flat = out.reshape(-1, m, n)
    if m * n <= _BLOCK:
        rows, step = m, max(1, _BLOCK // (m * n))
    else:
        rows, step = max(1, _BLOCK // n), 1
    chunk = max(1, _BLOCK // (step * rows * n))
    for b0 in range(0, flat.shape[0], step):
        for r0 in range(0, m, rows):
            acc = flat[b0 : b0 + step, r0 : r0 + rows]
            for p0 in range(0, pairs, chunk):
                xa = xs[b0 : b0 + step, r0 : r0 + rows, 2 * p0 : 2 * (p0 + chunk)].astype(np.int32)
                yb = ys[b0 : b0 + step, 2 * p0 : 2 * (p0 + chunk)].astype(np.int32)
                s = xa[..., 0::2, None] * yb[:, None, 0::2, :]  # (step, rows, chunk, n)
                s += xa[..., 1::2, None] * yb[:, None, 1::2, :]
                if count:
                    acc += np.count_nonzero((s < INT16_MIN) | (s > INT16_MAX), axis=-2)
                else:
                    np.clip(s, INT16_MIN, INT16_MAX, out=s)
                    acc += s.sum(axis=-2, dtype=np.int64)
    return out


def saturating_pair_matmul(
    a: ArrayLike,
    b: ArrayLike,
    a_zero_point: ArrayLike = 0,
    b_zero_point: ArrayLike = 0,
    *,
    overflow: str = "raise",
) -> NDArray[np.int32]:
    """``C = sum_i sat16(a[2i] b[2i] + a[2i+1] b[2i+1]) - z_b sum_k a - z_a sum_k b + K z_a z_b`` (int32).

    Parameters
    ----------
    a : numpy.ndarray of uint8, shape (..., M, K) or (K,)
        The activation codes, ``vpmaddubsw``'s unsigned operand. Any other
        dtype (int8, int64, Python ints, floats) raises ``TypeError``: convert
        explicitly, choosing what a code means.
    b : numpy.ndarray of int8, shape (..., K, N) or (K,)
        The weight codes, the signed operand. Batch dimensions broadcast and
        1-D operands are promoted as in :func:`numpy.matmul`.
    a_zero_point : int or array_like of int
        In ``[0, 255]``, broadcastable to ``a.shape[:-1]`` (MLAS takes one per
        tensor; one per row is the same algebra).
    b_zero_point : int or array_like of int
        In ``[-128, 127]``, broadcastable to ``b.shape[:-2] + b.shape[-1:]``:
        one per tensor or one per column (output channel).
    overflow : {"raise", "wrap"}
        What to do when an exact result lies outside int32. ``"raise"``
        (default, refquant's policy, as in :func:`~refquant.integer.integer_matmul`):
        ``ValueError``. ``"wrap"``: the value modulo ``2**32`` in two's
        complement, which is what the kernels return (their ``vpaddd`` and
        ``vpmulld`` wrap; every step is an addition or a multiplication, so
        the wrapped result does not depend on their order).

    Returns
    -------
    numpy.ndarray of int32, shape (..., M, N)
        The kernels' int32 accumulators, before requantization.

    Raises
    ------
    TypeError
        If ``a`` is not uint8 or ``b`` is not int8, or a zero point is not an integer.
    ValueError
        Shapes that do not multiply, zero points out of range, or (``overflow="raise"``)
        a result outside int32: with zero points 0 that needs ``K > 131072``
        (each pair is within ``[-32768, 32767]``; ``65536 * (-32768) = -2**31``).

    Notes
    -----
    With K zero-padded to even and ``s_i = a_{m,2i} b_{2i,n} + a_{m,2i+1} b_{2i+1,n}``,

    .. math::

        C_{mn} = \\sum_{i} \\operatorname{clip}(s_i, -2^{15}, 2^{15} - 1)
        - z_b \\sum_k a_{mk} - z_a \\sum_k b_{kn} + K z_a z_b .

    Without the clip this is :func:`~refquant.integer.integer_matmul`'s
    four-term expansion of ``(a - z_a)(b - z_b)``; the clip acts on the raw
    codes, never on ``a - z_a`` or ``b - z_b``, and only on pairs of large
    products of one sign. The pairs are fixed by the kernels' packing:

    * ONNX Runtime MLAS, ``onnxruntime/core/mlas/lib/x86_64/QgemmU8S8KernelAvx2.S``
      and ``QgemmU8X8KernelAvx2.S`` (``MultiplyAccumulateRowU8S8Avx2``:
      ``vpmaddubsw``, ``vpmaddwd`` with words of 1, ``vpaddd``): ``CopyPackA``
      copies rows of A as they are, CountK rounded up to a multiple of 4 with
      zero bytes; ``CopyPackB`` interleaves four consecutive rows of B per
      column, zero rows padding the last group; the kernel broadcasts four
      bytes of A against them, so the pairs are ``(4j, 4j+1)`` and
      ``(4j+2, 4j+3)``, i.e. ``(2i, 2i+1)``. K is cut into slices of 128 (384
      for prepacked B, ``MLAS_GEMM_U8S8_KERNEL_AVX2::Strides`` and
      ``PackedStrides`` in ``qgemm_kernel_avx2.cpp``), multiples of 4, so the
      pairs never straddle them. ``qgemm.h`` (``MlasGemmQuantOperation``)
      applies the zero points exactly after the products: the row sums of A
      less ``K z_a`` times ``-z_b`` (per tensor, or per column in the kernel
      with ``vpmulld``), the column sums of B times ``-z_a``, added into the
      int32 accumulators before the products. The M = 1 path
      (``QgemvU8S8KernelAvx2.S``, zero points 0) pairs the same indices.
    * FBGEMM, ``src/GenerateKernelU8S8S32ACC32.cc`` (``genComputeBlock``:
      ``vpbroadcastd`` of four A bytes, ``vpmaddubsw``, ``vpmaddwd`` with ones,
      ``vpaddd``), B packed with ``ROW_INTERLEAVE`` 4 and K padded to a
      multiple of it; the zero points enter in the output pipeline through
      row and column offsets. oneDNN's non-VNNI int8 kernels use the same
      three instructions (``jit_avx512_core_gemm_s8u8s32_kern::dot_product``).

    With VNNI (``vpdpbusd``) the products go to int32 directly and the result
    is exact (:func:`~refquant.integer.integer_matmul`); ONNX Runtime's AVX2
    U8U8 kernel widens both operands to int16 (``vpmaddwd``) and is exact too.
    tests/integer/test_pairs_kernel.py checks this function bit for bit against
    a compiled AVX2 kernel, tests/conformance/test_pairs_conformance.py against
    PyTorch's FBGEMM forced onto AVX2 (``FBGEMM_ENABLE_INSTRUCTIONS=AVX2``).
    The pair sums are formed in int32 and added in int64, in blocks (no loop
    over elements): exact, deterministic, the inputs unmodified.

    Examples
    --------
    ``255 * (-128) * 2 = -65280`` saturates to ``-32768``:

    >>> from refquant.integer import integer_matmul
    >>> a = np.array([[255, 255]], np.uint8)
    >>> b = np.array([[-128], [-128]], np.int8)
    >>> saturating_pair_matmul(a, b).tolist(), integer_matmul(a, b).tolist()
    ([[-32768]], [[-65280]])

    Odd K is padded with a zero: ``(255*100 + 255*100) -> 32767``, then ``255*100``:

    >>> a, b = np.full((1, 3), 255, np.uint8), np.full((3, 1), 100, np.int8)
    >>> saturating_pair_matmul(a, b).tolist()
    [[58267]]

    Zero points are applied exactly, after the saturation: ``-32768 - 2*510 - 1*(-256) + 2*1*2``:

    >>> saturating_pair_matmul(np.array([255, 255], np.uint8), np.array([-128, -128], np.int8), 1, 2).tolist()
    -33528
    """
    check_choice("overflow", overflow, OVERFLOWS)
    x, y, batch = _operands(a, b)
    k = x.shape[-1]
    za = _zero_point("a_zero_point", a_zero_point, 0, 255, x.shape[:-1], "a.shape[:-1]")
    zb = _zero_point(
        "b_zero_point", b_zero_point, -128, 127, (*y.shape[:-2], y.shape[-1]), "b.shape[:-2] + b.shape[-1:]"
    )
    c = _pair_reduce(x, y, batch, count=False)
    za_col, zb_row = za[..., :, None], zb[..., None, :]
    if np.any(zb):
        c = c - zb_row * x.sum(axis=-1, dtype=np.int64)[..., :, None]
    if np.any(za):
        c = c - za_col * y.sum(axis=-2, dtype=np.int64)[..., None, :]
        c = c + k * za_col * zb_row
    bad = (c < _I32_MIN) | (c > _I32_MAX)
    if np.any(bad):
        if overflow == "raise":
            raise ValueError(
                f"a and b: {int(np.count_nonzero(bad))} result(s) leave int32, e.g. {show_values(c[bad])} "
                f"(K = {k}); the kernels' int32 accumulators wrap them modulo 2**32: pass overflow='wrap' "
                "for that value (with zero points 0, K <= 131072 cannot overflow)"
            )
        c = (c - _I32_MIN) % 2**32 + _I32_MIN
    return _squeeze(c.astype(np.int32), np.ndim(a), np.ndim(b))


def _zero_point(
    name: str, value: ArrayLike, lo: int, hi: int, shape: tuple[int, ...], what: str
) -> NDArray[np.int64]:
    z = as_integers(name, value, lo, hi, f"[{lo}, {hi}]")
    try:
        return np.broadcast_to(z, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to {what} {shape}, got shape {z.shape}") from None


def saturated_pairs(a: ArrayLike, b: ArrayLike) -> NDArray[np.int64]:
    """The number of pairs ``a[2i] b[2i] + a[2i+1] b[2i+1]`` outside int16, per output (int64).

    Parameters
    ----------
    a : numpy.ndarray of uint8, shape (..., M, K) or (K,)
        As in :func:`saturating_pair_matmul`.
    b : numpy.ndarray of int8, shape (..., K, N) or (K,)
        As there.

    Returns
    -------
    numpy.ndarray of int64, shape (..., M, N)
        ``#{i : s_i < -32768 or s_i > 32767}`` (K zero-padded to even; the
        pairing and sources of :func:`saturating_pair_matmul`). Where it is 0,
        :func:`saturating_pair_matmul` equals :func:`~refquant.integer.integer_matmul`
        for any zero points (the raw codes saturate, not ``a - z_a``); else
        they differ by ``sum_i (clip(s_i) - s_i)`` over those pairs (which may
        cancel: a count > 0 does not by itself mean a different result).

    Notes
    -----
    .. math::

        n_{mn} = \\#\\{\\, i : s_i \\notin [-2^{15}, 2^{15} - 1] \\,\\}, \\qquad
        s_i = a_{m,2i}\\, b_{2i,n} + a_{m,2i+1}\\, b_{2i+1,n}

    Source: the saturation of ``vpmaddubsw`` (Intel's instruction reference,
    ``PMADDUBSW``: "saturate to signed words"), as the kernels of
    :func:`saturating_pair_matmul` use it; a diagnostic of refquant, no
    system computes it.

    Examples
    --------
    >>> a = np.array([[255, 255, 1, 1], [200, 200, 255, 255], [127, 127, 127, 127]], np.uint8)
    >>> b = np.array([[-128], [-128], [127], [127]], np.int8)
    >>> saturated_pairs(a, b).tolist()  # -65280 and 254; -51200 and 64770; -32512 and 32258
    [[1], [2], [0]]
    """
    x, y, batch = _operands(a, b)
    return _squeeze(_pair_reduce(x, y, batch, count=True), np.ndim(a), np.ndim(b))


def _int_arg(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return int(value)


def max_unsaturated_weight(a_max: int = 255) -> int:
    """The largest ``W`` for which no pair saturates: activations in ``[0, a_max]``, weights in ``[-W, W]``.

    Parameters
    ----------
    a_max : int
        The largest activation code, in ``[1, 255]``.

    Returns
    -------
    int
        ``min(128, 32767 // (2 a_max))``: a pair lies in ``[-2 a_max W, 2 a_max W]``,
        which must fit ``[-32768, 32767]``.

    Notes
    -----
    .. math::

        W_{\\max} = \\min\\big(128, \\lfloor 32767 / (2 a_{\\max}) \\rfloor\\big)

    For uint8 activations ``W = 64`` (``2 * 255 * 64 = 32640``; ``65`` gives
    ``33150``): 7-bit weights ``[-64, 63]``, which is ONNX Runtime's
    ``reduce_range=True`` for U8S8 on machines without VNNI
    (``onnxruntime.quantization.quantize_static`` and ``quantize_dynamic``).
    With 127 for the weights' largest value the symmetric int8 range
    ``[-127, 127]`` saturates (``2 * 255 * 127 = 64770``).

    Examples
    --------
    >>> max_unsaturated_weight(), max_unsaturated_weight(127), max_unsaturated_weight(128)
    (64, 128, 127)
    """
    a_max = _int_arg("a_max", a_max, 1, 255)
    return min(128, INT16_MAX // (2 * a_max))


def max_unsaturated_activation(b_min: int = -128, b_max: int = 127) -> int:
    """The largest ``A`` for which no pair saturates: activations in ``[0, A]``, weights ``[b_min, b_max]``.

    Parameters
    ----------
    b_min, b_max : int
        The weights' range, ``-128 <= b_min <= b_max <= 127``.

    Returns
    -------
    int
        The largest ``A <= 255`` with ``2 A b_max <= 32767`` and ``2 A b_min >= -32768``.

    Notes
    -----
    .. math::

        A_{\\max} = \\min\\big(255,\\; \\lfloor 32767 / (2 b_{\\max}) \\rfloor,\\;
        \\lfloor 32768 / (-2 b_{\\min}) \\rfloor\\big)

    (a term only where ``b_max > 0``, resp. ``b_min < 0``). For int8 weights
    ``A = 128`` (``2 * 128 * (-128) = -32768`` just fits, ``2 * 129 * 127 =
    32766`` does too, but ``2 * 129 * (-128) = -33024`` does not): 7-bit
    activations ``[0, 127]``, PyTorch's ``reduce_range=True`` in the observers
    of its ``fbgemm`` and ``x86`` default qconfigs
    (``torch.ao.quantization.get_default_qconfig``).

    Examples
    --------
    >>> max_unsaturated_activation(), max_unsaturated_activation(-64, 63), max_unsaturated_activation(0, 127)
    (128, 255, 129)
    """
    lo, hi = _int_arg("b_min", b_min, -128, 127), _int_arg("b_max", b_max, -128, 127)
    if lo > hi:
        raise ValueError(f"b_min and b_max must satisfy -128 <= b_min <= b_max <= 127, got {lo} and {hi}")
    bounds = [255]
    if hi > 0:
        bounds.append(INT16_MAX // (2 * hi))
    if lo < 0:
        bounds.append(-INT16_MIN // (-2 * lo))
    return min(bounds)
