"""4-bit NormalFloat (NF4), bitsandbytes' FP4, and double quantization of the block scales.

QLoRA (Dettmers et al. 2023, arXiv 2305.14314) stores weights as 4-bit
indices into a 16-value table, one float32 ``absmax`` per block of 64
values (of the tensor flattened in C order):

.. math::

    c_i = \\arg\\min_k \\big| T_k - x_i / m_b \\big|, \\qquad
    m_b = \\max_{j \\in b} |x_j|, \\qquad \\hat x_i = T_{c_i}\\, m_b

with ``T`` :data:`NF4_TABLE` (:func:`nf4_quantize`) or :data:`FP4_BNB_TABLE`
(:func:`fp4_bnb_quantize`). Double quantization (QLoRA section 3,
bitsandbytes' ``compress_statistics=True``) stores the absmaxes themselves as
8-bit codes of :func:`bnb_dynamic_map`, in blocks of 256, after subtracting
their mean (:func:`double_quantize_absmax`).

Everything is float32 arithmetic, as in bitsandbytes 0.50 (``quantize_4bit``,
``dequantize_4bit``, ``quantize_blockwise``), including which side a value
exactly halfway between two table entries goes to. bitsandbytes has two
implementations that differ on edge cases; ``backend`` picks one:

=====================  =========================================  =========================================
case                   ``"cuda"`` (kQuantizeBlockwise, default)   ``"cpu"`` (bnb's CPU / default backend)
=====================  =========================================  =========================================
normalized value       ``x * (1.0f / m)``                         full blocks ``x * (1 / m')``, the partial
                                                                  last block ``x / m'`` (``m' = m`` or
                                                                  ``1e-38`` if smaller)
NF4 code, ties         count of midpoints ``< v``: a tie goes to  the same (``torch.bucketize``,
                       the lower entry (dQuantizeNF4's ``>``)     ``right=False``)
NaN element            code 0 (the tree's all-false branch)       code 15 (NF4), 3 (FP4); the block's
                                                                  absmax is NaN (``torch.max``)
absmax ``m``           ``fmaxf`` from ``-FLT_MAX``: NaN skipped;  ``max |x|``, NaN propagates; a zero
                       a partial block's padding zeros count      partial last block reports ``1e-38``
zero block             ``0 * inf = NaN``: code 0 (NF4 -1.0 times  code 7 (NF4) / 0 (FP4): the value 0
                       absmax 0 dequantizes to -0.0)
FP4 thresholds         the kernel's literals (``0.583333f`` ...,  the float32 midpoints of the sorted
                       5 of 7 off the midpoints, by <= 3.6e-7)    table
FP4 zero codes (0, 8)  ``v < 0`` sets the sign bit: tiny          tiny negatives give 0, tiny positives 8
                       negatives give 8, which dequantizes to     (argsort keeps code 0 first of the two
                       -0.0                                       equal zeros); both dequantize to +0.0
8-bit codes (double    dQuantize<0>: binary search, nearest;      a 65536-entry lookup table on
quantization)          a tie stays on the search's pivot          ``(v + 1) / 2``: nearest to the bin
=====================  =========================================  =========================================

``"cpu"`` is checked bit for bit against bitsandbytes 0.50.2 on CPU
(``tests/conformance/test_nf4_conformance.py``); ``"cuda"`` follows the CUDA
kernels' source (csrc/kernels.cu), which cannot run here: on finite inputs
in full blocks its NF4 codes equal the CPU ones (same thresholds, same tie
side), which the conformance test checks. Dequantization is
``T[c] * m`` in float32 in both. ``±inf`` in a block makes ``m = inf``:
finite values normalize to 0 (and dequantize to ``0 * inf = NaN``), the
infinities to NaN (so to code 15, ``+inf``, with ``"cpu"``; code 0, ``-inf``
for NF4, with ``"cuda"``).

Inputs are rounded to float32 first (bitsandbytes takes float16, bfloat16
and float32 and computes in float32; float64 and integers are rounded here;
finite values beyond float32's range raise ``ValueError``). Codes are
returned one per uint8 in the input's shape (bitsandbytes packs two per
byte, the first element in the high nibble). Any block size >= 1 is
accepted (bitsandbytes' kernels take 32, 64, ..., 4096). Inputs are never
modified; the same inputs give bit-identical outputs.

**bitsandbytes' FP4 is not OCP ``float4_e2m1fn``.** Its codes ``s e1 e0 m``
hold, before normalization by 12: ``000`` 0, ``001`` 0.0625, ``010`` 8,
``011`` 12, ``100`` 4, ``101`` 6, ``110`` 2, ``111`` 3 (e2m1: 0, 0.5, 1,
1.5, 2, 3, 4, 6). The normal values are e2m1's times 2 with the exponent
field reversed (bnb's exponent field ``E`` is e2m1's ``4 - E``), and the
subnormal ``001`` is 1/192 of the maximum instead of e2m1's 1/12. Values
are normalized to ``[-1, 1]`` and reached by nearest-entry search, not by a
cast with round-half-even.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_bool, check_choice, check_int, show_values
from refquant.floats import _nf4_kernels as k

__all__ = [
    "FP4_BNB_TABLE",
    "NF4_TABLE",
    "DoubleQuantized",
    "Quantized4bit",
    "bnb_dynamic_map",
    "double_dequantize_absmax",
    "double_quantize_absmax",
    "fp4_bnb_dequantize",
    "fp4_bnb_quantize",
    "nf4_dequantize",
    "nf4_quantize",
    "normal_float_table",
]

Backend = Literal["cuda", "cpu"]
BACKENDS = k.BACKENDS


def _frozen(a: NDArray[np.float32]) -> NDArray[np.float32]:
    a.flags.writeable = False
    return a


#: The 16 NF4 values as bitsandbytes publishes them (``get_4bit_type("nf4")``,
#: ``nf4_dequantization_lut`` in csrc/kernels.cu), float32, sorted; code ``k``
#: is ``NF4_TABLE[k]``. :func:`normal_float_table` derives them bit for bit.
NF4_TABLE: NDArray[np.float32] = _frozen(
    np.array(
        [
            -1.0,
            -0.6961928009986877,
            -0.5250730514526367,
            -0.39491748809814453,
            -0.28444138169288635,
            -0.18477343022823334,
            -0.09105003625154495,
            0.0,
            0.07958029955625534,
            0.16093020141124725,
            0.24611230194568634,
            0.33791524171829224,
            0.44070982933044434,
            0.5626170039176941,
            0.7229568362236023,
            1.0,
        ],
        np.float32,
    )
)

#: bitsandbytes' FP4 values in code order (``get_4bit_type("fp4")``): the
#: magnitudes 0, 0.0625, 8, 12, 4, 6, 2, 3 and their negatives, divided by 12
#: in float32. Code 8 is +0 here, as in bitsandbytes' table (its list says
#: ``-0``, which Python reads as the integer 0); see :func:`fp4_bnb_dequantize`.
FP4_BNB_TABLE: NDArray[np.float32] = _frozen(
    (np.array([*k.FP4_MAGNITUDES, *(-m for m in k.FP4_MAGNITUDES)], np.float32) / np.float32(12)).astype(
        np.float32
    )
    + np.float32(0)  # -0.0 + 0.0 = +0.0: code 8 as get_4bit_type holds it
)
_FP4_CUDA_TABLE = _frozen(np.where(np.arange(16) == 8, np.float32(-0.0), FP4_BNB_TABLE).astype(np.float32))

_NF4_MID = _frozen(((NF4_TABLE[:-1] + NF4_TABLE[1:]) / np.float32(2)).astype(np.float32))


class Quantized4bit(NamedTuple):
    """``(codes, absmax)`` of :func:`nf4_quantize` and :func:`fp4_bnb_quantize`.

    ``codes``: uint8 in ``[0, 15]``, the input's shape; ``absmax``: float32,
    shape ``(ceil(x.size / block_size),)``, one per block of the flattened input.
    """

    codes: NDArray[np.uint8]
    absmax: NDArray[np.float32]


class DoubleQuantized(NamedTuple):
    """``(codes, absmax, offset)`` of :func:`double_quantize_absmax`.

    ``codes``: uint8 indices into :func:`bnb_dynamic_map`, the shape of the
    absmaxes given; ``absmax``: float32, one per block of 256 (the
    second-level scales); ``offset``: float32 0-d, the mean subtracted first.
    """

    codes: NDArray[np.uint8]
    absmax: NDArray[np.float32]
    offset: NDArray[np.float32]


def normal_float_table(
    bits: int = 4,
    offset: float = 0.9677083,
    use_extra_value: bool = True,
    *,
    emulate: Literal["bitsandbytes", "exact"] = "bitsandbytes",
) -> NDArray[Any]:
    """The NormalFloat values ``Φ⁻¹(p_k) / Φ⁻¹(offset)`` at evenly spaced probabilities ``p_k``.

    Parameters
    ----------
    bits : int
        2 to 8; 4 is NF4 (bitsandbytes defines only 4).
    offset : float
        The outermost probability, in ``(0.5, 1)``; QLoRA's 0.9677083.
    use_extra_value : bool
        True (NF4): ``2**(bits-1)`` positive values, ``2**(bits-1) - 1``
        negative and 0, so ``2**bits`` values. False: as many of each sign,
        ``2**bits - 1`` values (bitsandbytes pads with extra zeros).
    emulate : {"bitsandbytes", "exact"}
        ``"bitsandbytes"``: float32 arithmetic as ``create_normal_map`` does
        it (Notes), returned as float32; ``"exact"``: float64 throughout.

    Returns
    -------
    ndarray, shape ``(2**bits,)`` or ``(2**bits - 1,)``, sorted, from -1 to 1

    Notes
    -----
    .. math::

        T = \\operatorname{sort}\\Big(\\{\\Phi^{-1}(p_k)\\}_{k < n_+} \\cup \\{0\\}
        \\cup \\{-\\Phi^{-1}(q_k)\\}_{k < n_-}\\Big) \\,\\big/\\, \\Phi^{-1}(\\text{offset})

    with ``p`` = ``linspace(offset, 0.5, n_+ + 1)`` and ``q`` =
    ``linspace(offset, 0.5, n_- + 1)``, each without its last point (0.5).
    Source: QLoRA appendix E; bitsandbytes' ``create_normal_map(offset,
    use_extra_value)``, whose arithmetic ``"bitsandbytes"`` reproduces:
    (1) ``torch.linspace`` in float32 as torch's CPU kernel computes it:
    ``offset`` rounded to float32, ``step = float32(0.5 - offset) / (n - 1)``,
    point ``k`` = ``fma(step, k, offset)`` in the first half and
    ``fma(-step, n - 1 - k, 0.5)`` in the second; (2) ``Φ⁻¹`` of those
    float32 points by scipy's ``ndtri``, rounded to float32 (``torch.Tensor``
    of the list); (3) the float32 division by the largest value. For the
    defaults this is :data:`NF4_TABLE` bit for bit (the unfused linspace
    gives the same table). ``"exact"`` (``numpy.linspace``, ``ndtri`` and the
    division in float64) differs from it by up to 1.1e-7 (entry 14, under
    one float32 ulp of 1); rounded to float32, 10 of its 16 entries differ
    from the published ones.

    Examples
    --------
    >>> t = normal_float_table()
    >>> t.dtype.name, t.size, t[8].item(), bool((t == NF4_TABLE).all())
    ('float32', 16, 0.07958029955625534, True)
    >>> normal_float_table(2).tolist()
    [-1.0, 0.0, 0.33791524171829224, 1.0]
    """
    bits = check_int("bits", bits)
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be in [2, 8], got {bits}")
    off = k.real("offset", offset)
    extra = check_bool("use_extra_value", use_extra_value)
    check_choice("emulate", emulate, ("bitsandbytes", "exact"))
    if not 0.5 < off < 1.0 or (emulate == "bitsandbytes" and not 0.5 < float(np.float32(off)) < 1.0):
        where = " (also once rounded to float32, for emulate='bitsandbytes')" if 0.5 < off < 1.0 else ""
        raise ValueError(f"offset must lie in (0.5, 1){where}, got {offset!r}")
    if emulate == "exact":
        return k.normal_map_exact(bits, off, extra)
    return k.normal_map_float32(bits, off, extra)


def bnb_dynamic_map(signed: bool = True, max_exponent_bits: int = 7) -> NDArray[np.float32]:
    """bitsandbytes' 8-bit dynamic map: ``±10**(i - e + 1) * mid(linspace(0.1, 1, 2**(i + 7 - e) + 1))``.

    Parameters
    ----------
    signed : bool
        Signed map (the default, used for double quantization) or unsigned.
    max_exponent_bits : int
        ``e``, 1 to 7 (only 7 when unsigned: bitsandbytes asserts 256 values).

    Returns
    -------
    ndarray of float32, shape ``(256,)``, sorted (the signed default runs from float32(-0.99296875) to 1)

    Notes
    -----
    .. math::

        \\text{decade } i < e:\\quad \\pm 10^{\\,i-e+1} \\cdot
        \\tfrac12\\big(b_j + b_{j+1}\\big), \\quad b = \\operatorname{linspace}(0.1, 1, n_i + 1)

    with ``n_i = 2**(i + 7 - e)`` (``2**(i + 8 - e)`` unsigned), the extra
    ``2**(7 - e) - 1`` items of the last decade, 0 and 1. Source: Dettmers,
    "8-Bit Approximations for Parallelism in Deep Learning" (arXiv
    1511.04561); bitsandbytes' ``create_dynamic_map(signed, max_exponent_bits,
    total_bits=8)``, in its float32 arithmetic: torch's float32 linspace (see
    :func:`normal_float_table`), the midpoints as float32 sums halved, times
    ``float32(10.0 ** k)``.

    Examples
    --------
    >>> m = bnb_dynamic_map()
    >>> m.size, m[0].item(), m[127].item(), m[128].item(), m[255].item()
    (256, -0.992968738079071, 0.0, 5.500000384017767e-07, 1.0)
    """
    signed = check_bool("signed", signed)
    e = check_int("max_exponent_bits", max_exponent_bits)
    if not 1 <= e <= 7 or (not signed and e != 7):
        raise ValueError(
            f"max_exponent_bits must be in [1, 7] (only 7 for an unsigned map, which bitsandbytes "
            f"asserts has 256 values), got {max_exponent_bits!r} with signed={signed}"
        )
    return k.dynamic_map_float32(signed, e)


def nf4_quantize(x: ArrayLike, *, block_size: int = 64, backend: Backend = "cuda") -> Quantized4bit:
    """NF4 codes ``c = argmin_k |NF4_TABLE[k] - x / absmax|`` per block, and the block absmaxes.

    Parameters
    ----------
    x : array_like of float, any shape
        Rounded to float32 first; blocks run over ``x`` flattened in C order.
    block_size : int
        Elements per block, >= 1 (QLoRA: 64); the last block may be partial.
    backend : {"cuda", "cpu"}
        Which bitsandbytes implementation to mirror on edge cases (module
        docstring's table); they agree on finite inputs in full blocks.

    Returns
    -------
    Quantized4bit
        ``codes`` (uint8 in [0, 15], ``x``'s shape) and ``absmax`` (float32,
        ``(ceil(x.size / block_size),)``).

    Notes
    -----
    .. math:: c_i = \\#\\{\\,j : \\mu_j < x_i \\cdot \\mathrm{fl}(1/m_b)\\,\\}, \\qquad
              \\mu_j = \\mathrm{fl}\\big((T_j + T_{j+1})/2\\big)

    A value exactly on a midpoint goes to the lower code (toward -1), as
    dQuantizeNF4's ``x > threshold`` decisions and the default backend's
    ``torch.bucketize`` do; the float32 midpoints are the constants of
    dQuantizeNF4. NaN, ``±inf`` and zero blocks as in the module docstring.
    Source: QLoRA (Dettmers et al. 2023), section 3 and appendix E;
    bitsandbytes' ``quantize_4bit(quant_type="nf4")``.

    Examples
    --------
    >>> q = nf4_quantize([0.5, -1.0, 0.25, 0.03, 2.0, 0.0], block_size=4)
    >>> q.codes.tolist(), q.absmax.tolist()
    ([12, 0, 10, 7, 15, 7], [1.0, 2.0])
    """
    flat, shape, bs = k.prepare_4bit(x, block_size, backend)
    v, absmax = k.normalize(flat, bs, backend)
    codes = k.nf4_codes(v, _NF4_MID, 0 if backend == "cuda" else 15)
    return Quantized4bit(codes.reshape(-1)[: flat.size].reshape(shape), absmax)


def nf4_dequantize(codes: ArrayLike, absmax: ArrayLike, *, block_size: int = 64) -> NDArray[np.float32]:
    """Values ``NF4_TABLE[codes] * absmax[block]``, in float32.

    Parameters
    ----------
    codes : array_like of int, any shape
        NF4 codes in ``[0, 15]`` (any integer dtype).
    absmax : array_like of float, shape ``(ceil(codes.size / block_size),)``
        The block absmaxes (rounded to float32; any value, NaN included, is
        used as given).
    block_size : int
        As in :func:`nf4_quantize`.

    Returns
    -------
    ndarray of float32, shape of ``codes``

    Notes
    -----
    .. math:: \\hat x_i = \\mathrm{fl}(T_{c_i} \\cdot m_b)

    One float32 product, as bitsandbytes' ``dequantize_4bit`` (CUDA and CPU)
    computes it. Source: QLoRA eq. (5) (without double quantization; see
    :func:`double_dequantize_absmax` for the absmaxes of
    ``compress_statistics=True``).

    Examples
    --------
    >>> nf4_dequantize([12, 0, 10, 7, 15, 7], [1.0, 2.0], block_size=4).tolist()
    [0.44070982933044434, -1.0, 0.24611230194568634, 0.0, 2.0, 0.0]
    """
    c, a, bs = k.prepare_dequant(codes, absmax, block_size, 15)
    return k.lookup_times(NF4_TABLE, c, a, bs).reshape(c.shape)


def fp4_bnb_quantize(x: ArrayLike, *, block_size: int = 64, backend: Backend = "cuda") -> Quantized4bit:
    """bitsandbytes FP4 codes ``c = argmin_k |FP4_BNB_TABLE[k] - x / absmax|`` per block, and the absmaxes.

    Parameters
    ----------
    x : array_like of float, any shape
        Rounded to float32 first; blocks run over ``x`` flattened in C order.
    block_size : int
        Elements per block, >= 1 (bitsandbytes' default 64).
    backend : {"cuda", "cpu"}
        The CUDA kernel's decision tree, or bitsandbytes' CPU (default,
        PyTorch) backend (module docstring's table).

    Returns
    -------
    Quantized4bit
        ``codes`` (uint8 in [0, 15], code order of :data:`FP4_BNB_TABLE`,
        ``x``'s shape) and ``absmax`` (float32, one per block).

    Notes
    -----
    .. math::

        c_i = \\mathrm{code}\\big(\\#\\{\\,j : \\pi_j < v_i\\,\\}\\big), \\qquad
        v_i = x_i \\cdot \\mathrm{fl}(1/m_b)

    ``"cuda"`` (dQuantizeFP4): the sign bit is ``v < 0``; ``|v|`` is
    compared (``>``) with the literals 0.00260417, 0.0859375, 0.20833333,
    0.29166667, 0.4166667, 0.583333 and 0.8333333 (as float32), so a value on
    a pivot takes the smaller magnitude. ``"cpu"``: ``torch.bucketize`` of
    ``v`` against the float32 midpoints of the sorted table (a tie goes to
    the lower value), mapped back through ``torch.argsort`` of the table.
    This is not a cast to OCP ``float4_e2m1fn`` (module docstring). Source:
    bitsandbytes ``quantize_4bit(quant_type="fp4")``, csrc/kernels.cu.

    Examples
    --------
    >>> q = fp4_bnb_quantize([1.0, -0.5, 0.3, 0.004, -0.001, 0.0], block_size=6)
    >>> q.codes.tolist(), q.absmax.tolist()
    ([3, 13, 4, 1, 8, 0], [1.0])
    """
    flat, shape, bs = k.prepare_4bit(x, block_size, backend)
    v, absmax = k.normalize(flat, bs, backend)
    codes = k.fp4_codes_cuda(v) if backend == "cuda" else k.fp4_codes_cpu(v, FP4_BNB_TABLE)
    return Quantized4bit(codes.reshape(-1)[: flat.size].reshape(shape), absmax)


def fp4_bnb_dequantize(
    codes: ArrayLike, absmax: ArrayLike, *, block_size: int = 64, backend: Backend = "cuda"
) -> NDArray[np.float32]:
    """Values ``FP4_BNB_TABLE[codes] * absmax[block]``, in float32.

    Parameters
    ----------
    codes : array_like of int, any shape
        bitsandbytes FP4 codes in ``[0, 15]``.
    absmax : array_like of float, shape ``(ceil(codes.size / block_size),)``
        The block absmaxes (rounded to float32, used as given).
    block_size : int
        As in :func:`fp4_bnb_quantize`.
    backend : {"cuda", "cpu"}
        Only the sign of code 8's zero depends on it (Notes).

    Returns
    -------
    ndarray of float32, shape of ``codes``

    Notes
    -----
    .. math:: \\hat x_i = \\mathrm{fl}(T_{c_i} \\cdot m_b)

    Code 8, the negative zero of the format, is ``-0.0`` times absmax with
    ``"cuda"`` (dDequantizeFP4Tree: the magnitude 0 times the sign -1) and
    ``+0.0`` times absmax with ``"cpu"``: :data:`FP4_BNB_TABLE`, as
    bitsandbytes' PyTorch path and its AVX512 and NEON C++ paths hold it
    (its scalar C++ path, on x86 CPUs without AVX512, holds -0 like CUDA).
    Source: bitsandbytes ``dequantize_4bit(quant_type="fp4")``.

    Examples
    --------
    >>> fp4_bnb_dequantize([3, 13, 4, 1, 8, 0], [1.0], block_size=6).tolist()
    [1.0, -0.5, 0.3333333432674408, 0.0052083334885537624, -0.0, 0.0]
    >>> fp4_bnb_dequantize([8], [1.0], block_size=6, backend="cpu").tolist()
    [0.0]
    """
    c, a, bs = k.prepare_dequant(codes, absmax, block_size, 15)
    check_choice("backend", backend, BACKENDS)
    table = _FP4_CUDA_TABLE if backend == "cuda" else FP4_BNB_TABLE
    return k.lookup_times(table, c, a, bs).reshape(c.shape)


def double_quantize_absmax(
    absmax: ArrayLike,
    *,
    block_size: int = 256,
    offset: float | None = None,
    backend: Backend = "cuda",
) -> DoubleQuantized:
    """8-bit dynamic codes of ``absmax - offset`` in blocks of 256, with their own absmaxes.

    Parameters
    ----------
    absmax : array_like of float, any shape
        The first-level absmaxes (:attr:`Quantized4bit.absmax`), finite,
        rounded to float32; blocks run over them flattened.
    block_size : int
        Second-level block length, >= 1 (bitsandbytes: 256).
    offset : float, optional
        The value subtracted first. Default: the mean,
        ``float32(math.fsum(absmax) / absmax.size)`` (0 for no absmaxes).
        bitsandbytes uses ``absmax.mean()``, torch's float32 cascade sum,
        which differs from it by up to 2 ulps (in about half of random
        cases); pass torch's value to reproduce bitsandbytes bit for bit.
    backend : {"cuda", "cpu"}
        dQuantize<0>'s binary search (nearest code; a tie stays on the
        search's pivot), or the CPU kernel's 65536-entry lookup table (the
        code nearest to the table bin of ``(v + 1) / 2``, which for values
        near 0 need not be the nearest code to ``v``).

    Returns
    -------
    DoubleQuantized
        ``codes`` (uint8, ``absmax``'s shape), ``absmax`` (float32, one per
        second-level block), ``offset`` (float32, 0-d).

    Notes
    -----
    .. math:: r = \\mathrm{fl}(a - \\bar a), \\quad s_b = \\max_{j \\in b} |r_j|, \\quad
              c_j = Q_{\\text{dyn}}\\big(\\mathrm{fl}(r_j \\cdot \\mathrm{fl}(1/s_b))\\big)

    A block with ``s_b = 0`` gets code 0 (both backends). Non-finite
    ``absmax`` raises ``ValueError`` (bitsandbytes' result there is
    undefined). Source: QLoRA section 3 ("Double Quantization");
    bitsandbytes ``quantize_4bit(compress_statistics=True)``, which calls
    ``quantize_blockwise(absmax - absmax.mean(), blocksize=256)`` with
    :func:`bnb_dynamic_map`.

    Examples
    --------
    >>> d = double_quantize_absmax([1.0, 2.0, 3.0], offset=2.0)
    >>> d.codes.tolist(), d.absmax.tolist(), d.offset.item()
    ([0, 127, 255], [1.0], 2.0)
    """
    a = k.float32_arg("absmax", absmax)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"absmax must be finite, got {show_values(a[~np.isfinite(a)])}")
    bs = k.block_size_arg(block_size)
    check_choice("backend", backend, BACKENDS)
    if offset is None:
        off = np.float32(math.fsum(a.ravel().tolist()) / a.size) if a.size else np.float32(0)
    else:
        off = k.float32_scalar("offset", offset)
    with np.errstate(over="ignore"):
        r = (a.ravel() - off).astype(np.float32)
    if not np.all(np.isfinite(r)):
        raise ValueError(
            f"absmax - offset overflows float32 for offset={offset!r}: "
            f"{show_values(a.ravel()[~np.isfinite(r)])}"
        )
    codes, absmax2 = k.blockwise_8bit(r, k.dynamic_map_float32(True, 7), bs, backend)
    return DoubleQuantized(codes.reshape(a.shape), absmax2, np.asarray(off, np.float32))


def double_dequantize_absmax(
    codes: ArrayLike, absmax: ArrayLike, offset: float, *, block_size: int = 256
) -> NDArray[np.float32]:
    """The first-level absmaxes ``dynamic_map[codes] * absmax[block] + offset``, in float32.

    Parameters
    ----------
    codes : array_like of int, any shape
        Indices into :func:`bnb_dynamic_map` (signed, default), in ``[0, 255]``.
    absmax : array_like of float, shape ``(ceil(codes.size / block_size),)``
        The second-level absmaxes (rounded to float32, used as given).
    offset : float
        The mean that :func:`double_quantize_absmax` subtracted (finite).
    block_size : int
        As in :func:`double_quantize_absmax`.

    Returns
    -------
    ndarray of float32, shape of ``codes``

    Notes
    -----
    .. math:: \\hat a_j = \\mathrm{fl}\\big(\\mathrm{fl}(D_{c_j} \\cdot s_b) + \\bar a\\big)

    Two float32 roundings, as bitsandbytes' ``dequantize_blockwise`` followed
    by ``absmax += offset`` (``dequantize_4bit`` of a nested state). Feed the
    result to :func:`nf4_dequantize` or :func:`fp4_bnb_dequantize`.

    Examples
    --------
    >>> double_dequantize_absmax([0, 127, 255], [1.0], 2.0).tolist()
    [1.0070312023162842, 2.0, 3.0]
    """
    c, a, bs = k.prepare_dequant(codes, absmax, block_size, 255)
    off = k.float32_scalar("offset", offset)
    vals = k.lookup_times(k.dynamic_map_float32(True, 7), c, a, bs)
    with np.errstate(over="ignore", invalid="ignore"):
        out = (vals + off).astype(np.float32).reshape(c.shape)
    big = np.isinf(out) & np.isfinite(vals.reshape(c.shape))
    if np.any(big):
        raise ValueError(
            f"dynamic_map[codes] * absmax + offset overflows float32 for offset={offset!r}: "
            f"{show_values(vals.reshape(c.shape)[big])} + {off}"
        )
    return out
