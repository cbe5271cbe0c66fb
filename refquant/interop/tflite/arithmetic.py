"""TFLite's fixed-point helpers under their C++ names: multipliers, SRDHM, RDBPOT, activation ranges.

Thin wrappers of :mod:`refquant.integer` with TFLite's names and argument
order (``tensorflow/lite/kernels/internal/quantization_util.cc``, ``common.cc``,
``tensorflow/lite/kernels/kernel_util.cc``; gemmlowp ``fixedpoint/fixedpoint.h``),
and the int64 overload of MultiplyByQuantizedMultiplier
(:func:`multiply_by_quantized_multiplier_int64`, the 16x8 kernels' rescaling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, show_values
from refquant.integer import fixedpoint
from refquant.integer._checks import INT32_MAX, INT32_MIN, as_integers, as_scale32, broadcast
from refquant.integer.requantize import requantization_multiplier
from refquant.rounding import round_to_integer

__all__ = [
    "ACTIVATIONS",
    "calculate_activation_range_quantized",
    "get_quantized_convolution_multiplier",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_int64",
    "populate_convolution_quantization_params",
    "quantize_multiplier",
    "quantize_multiplier_greater_than_one",
    "quantize_multiplier_smaller_than_one_exp",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

ACTIVATIONS = ("none", "relu", "relu_n1_to_1", "relu6")
_TYPES = {"int8": (-128, 127), "uint8": (0, 255)}
_OUTPUT_TYPES = {**_TYPES, "int16": (-32768, 32767)}  # CalculateActivationRangeQuantized's types
_X64_MIN, _X64_MAX = -(2**47), 2**47 - 1  # the int64 overload's stated range of x
_REDUCED_MAX = 0x7FFF  # the largest 16-bit reduced multiplier (Q0.15 just below 1)


def _real(name: str, value: Any) -> float:
    """A real scalar (Python or NumPy number, or a 0-d real array) as a float; ``TypeError`` otherwise."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        a = np.asarray(value)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must be a real number, got {value!r}"[:300]) from None
    if a.ndim != 0 or a.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real number (one value), got {type(value).__name__} of shape {a.shape} and "
            f"dtype {a.dtype}: {value!r}"[:300]
        )
    return float(a)


def _int(name: str, value: Any, lo: int = -(2**31), hi: int = 2**31 - 1) -> int:
    """A Python or NumPy integer in ``[lo, hi]``; ``TypeError`` (other types) or ``ValueError`` (range)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        shape = (
            f" of shape {np.shape(value)} and dtype {np.asarray(value).dtype}"
            if isinstance(value, np.ndarray)
            else ""
        )
        raise TypeError(f"{name} must be an int, got {type(value).__name__}{shape}: {value!r}"[:300])
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {int(value)}")
    return int(value)


def _scales(name: str, value: Any) -> NDArray[Any]:
    """A real array of scales (values checked later); ``TypeError`` for other dtypes."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be real scales, got {value!r}")
    try:
        a = np.asarray(value)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must be a rectangular array of real scales, got {value!r}"[:300]) from None
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real scales, got dtype {a.dtype}: {value!r}"[:300])
    return a


def quantize_multiplier(double_multiplier: float, *, rounding: str = "double") -> tuple[int, int]:
    """``QuantizeMultiplier(double_multiplier, &quantized_multiplier, &shift)``: ``M = q * 2**(shift - 31)``.

    Parameters
    ----------
    double_multiplier : float
        ``M``, finite and >= 0.
    rounding : {"double", "single", "double_up"}
        The build (``"single"``: ``TFLITE_SINGLE_ROUNDING``, which saturates
        shifts above 30).

    Returns
    -------
    (int, int)
        ``(quantized_multiplier, shift)``.

    Notes
    -----
    :func:`refquant.integer.quantize_multiplier` on one value (the formula,
    the carry, the flush to zero and the limits are documented there).

    Examples
    --------
    0.3 = 0.6 * 2**-1 and round(0.6 * 2**31) = 1288490189:

    >>> quantize_multiplier(0.3)
    (1288490189, -1)
    """
    m = _real("double_multiplier", double_multiplier)
    if not (np.isfinite(m) and m >= 0):
        raise ValueError(f"double_multiplier must be finite and >= 0, got {m!r}")
    q, s = fixedpoint.quantize_multiplier(m, rounding=rounding)
    return int(q), int(s)


def quantize_multiplier_smaller_than_one_exp(double_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierSmallerThanOneExp``: :func:`quantize_multiplier` for ``0 < M < 1`` (shift <= 0).

    Parameters
    ----------
    double_multiplier : float
        In ``(0, 1)``; other values raise ``ValueError`` (TFLite's ``TFLITE_CHECK``).

    Returns
    -------
    (int, int)
        ``(quantized_multiplier, left_shift)``, ``left_shift <= 0``.

    Notes
    -----
    .. math:: M = q \\cdot 2^{\\text{left\\_shift} - 31}, \\quad 0 < M < 1

    Examples
    --------
    >>> quantize_multiplier_smaller_than_one_exp(0.3)
    (1288490189, -1)
    """
    m = _real("double_multiplier", double_multiplier)
    if not 0 < m < 1:
        raise ValueError(f"double_multiplier must lie in (0, 1), got {m!r}")
    return quantize_multiplier(m)


def quantize_multiplier_greater_than_one(double_multiplier: float) -> tuple[int, int]:
    """``QuantizeMultiplierGreaterThanOne``: :func:`quantize_multiplier` for ``M > 1`` (``shift >= 0``).

    Parameters
    ----------
    double_multiplier : float
        Finite and > 1; other values raise ``ValueError`` (TFLite's ``TFLITE_CHECK``).

    Returns
    -------
    (int, int)
        ``(quantized_multiplier, left_shift)``, ``left_shift >= 1``.

    Notes
    -----
    .. math:: M = q \\cdot 2^{\\text{left\\_shift} - 31}, \\quad M > 1

    Examples
    --------
    2.5 = 0.625 * 2**2 and 0.625 * 2**31 = 1342177280:

    >>> quantize_multiplier_greater_than_one(2.5)
    (1342177280, 2)
    """
    m = _real("double_multiplier", double_multiplier)
    if not (np.isfinite(m) and m > 1):
        raise ValueError(f"double_multiplier must be finite and > 1, got {m!r}")
    return quantize_multiplier(m)


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> NDArray[np.int32]:
    """gemmlowp's ``SaturatingRoundingDoublingHighMul(a, b)``, the high half of ``2ab`` rounded, saturated.

    Parameters
    ----------
    a, b : array_like of int
        int32 values; they broadcast.

    Returns
    -------
    numpy.ndarray of int32

    Notes
    -----
    :func:`refquant.integer.saturating_rounding_doubling_high_mul`:

    .. math:: \\operatorname{trunc}\\big((ab + \\nu) / 2^{31}\\big), \\quad \\nu \\in \\{2^{30}, 1 - 2^{30}\\}

    Examples
    --------
    >>> saturating_rounding_doubling_high_mul(-(2**31), -(2**31)).tolist()
    2147483647
    """
    return fixedpoint.saturating_rounding_doubling_high_mul(a, b)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> NDArray[np.int32]:
    """gemmlowp's ``RoundingDivideByPOT(x, exponent)``: :func:`refquant.integer.rounding_divide_by_pot`.

    Parameters
    ----------
    x : array_like of int
        int32 values.
    exponent : int or array_like of int
        In ``[0, 31]``; broadcasts.

    Returns
    -------
    numpy.ndarray of int32

    Notes
    -----
    .. math:: x / 2^{e} \\text{ rounded to nearest, ties away from zero}

    Examples
    --------
    >>> rounding_divide_by_pot([5, -5], 1).tolist()
    [3, -3]
    """
    return fixedpoint.rounding_divide_by_pot(x, exponent)


def multiply_by_quantized_multiplier(
    x: ArrayLike, quantized_multiplier: ArrayLike, shift: ArrayLike, *, rounding: str = "double"
) -> NDArray[np.int32]:
    """``MultiplyByQuantizedMultiplier(x, quantized_multiplier, shift)``: ``x * q * 2**(shift - 31)`` rounded.

    Parameters
    ----------
    x : array_like of int
        int32 accumulators.
    quantized_multiplier, shift : int or array_like of int
        0 or ``[2**30, 2**31)``, and ``[-31, 30]``; broadcast.
    rounding : {"double", "single", "double_up"}
        ``"double"``: TFLite's default build; ``"single"``:
        ``TFLITE_SINGLE_ROUNDING``; ``"double_up"``: ruy's x86 kernels.

    Returns
    -------
    numpy.ndarray of int32

    Notes
    -----
    .. math:: y \\approx x \\cdot q \\cdot 2^{\\text{shift} - 31}

    Examples
    --------
    ``x = 5`` times 0.25 (``q = 2**30``, shift -1) is 1.25; double rounding gives 2:

    >>> [multiply_by_quantized_multiplier(5, 2**30, -1, rounding=r).tolist() for r in ("double", "single")]
    [2, 1]
    """
    return fixedpoint.multiply_by_quantized_multiplier(x, quantized_multiplier, shift, rounding=rounding)


def _reduce_multiplier(q: NDArray[np.int64]) -> NDArray[np.int64]:
    """The int64 overload's 16-bit multiplier: ``(q + 2**15) >> 16``, saturated to ``0x7FFF``.

    The saturation (TFLite tests ``q < 0x7FFF0000``) only changes
    ``q >= 0x7FFF8000``, whose rounding would give ``0x8000``.
    """
    return np.where(q < 0x7FFF0000, (q + (1 << 15)) >> 16, _REDUCED_MAX)


def _in_range(name: str, value: ArrayLike, lo: int, hi: int, what: str) -> NDArray[np.int64]:
    """An integer array with values in ``[lo, hi]``, as int64; the error shows the values, dtype and shape."""
    a = as_integers(name, value, -(2**63), 2**63 - 1)
    bad = (a < lo) | (a > hi)
    if np.any(bad):
        arr = np.asarray(value)
        raise ValueError(
            f"{name} must lie in {what}, got {show_values(a[bad])} (in a {arr.dtype} array of shape "
            f"{arr.shape})"
        )
    return a


def _mbqm64(
    x: NDArray[np.int64],
    q: ArrayLike,
    s: ArrayLike,
    name: str,
    names: tuple[str, str] = ("quantized_multiplier", "shift"),
) -> NDArray[np.int64]:
    """:func:`multiply_by_quantized_multiplier_int64` on int64 ``x``; errors name ``name`` and ``names``."""
    x, qq, ss = broadcast(
        (name, *names),
        x,
        _in_range(names[0], q, 0, INT32_MAX, "[0, 2**31 - 1] (TFLite: >= 0, an int32)"),
        _in_range(names[1], s, -31, 7, "[-31, 7] (the int64 overload's TFLITE_DCHECK)"),
    )
    over_x = (x < _X64_MIN) | (x > _X64_MAX)
    if np.any(over_x):
        raise ValueError(
            f"{name} must lie in [-2**47, 2**47) (the stated range of TFLite's int64 "
            f"MultiplyByQuantizedMultiplier), got {show_values(x[over_x])} (int64 values)"
        )
    total = 15 - ss  # in [8, 46]
    out = (x * _reduce_multiplier(qq) + (np.int64(1) << (total - 1))) >> total  # |x r| < 2**62: exact
    over = (out < INT32_MIN) | (out > INT32_MAX)
    if np.any(over):
        raise ValueError(
            "the result must fit int32 (TFLite's TFLITE_DCHECK; release builds truncate it to int32 "
            f"silently), got {name} = {show_values(x[over])} with {names[0]} = {show_values(qq[over])} "
            f"and {names[1]} = {show_values(ss[over])}: {show_values(out[over])}"
        )
    return out


def multiply_by_quantized_multiplier_int64(
    x: ArrayLike, quantized_multiplier: ArrayLike, shift: ArrayLike
) -> NDArray[np.int32]:
    """``MultiplyByQuantizedMultiplier(int64_t x, ...)``: ``floor(x r 2**(shift - 15) + 1/2)``, ``r`` 16-bit.

    Parameters
    ----------
    x : array_like of int
        The int64 accumulators (any integer dtype or Python ints), in
        ``[-2**47, 2**47)``.
    quantized_multiplier : int or array_like of int
        ``q``, a Q0.31 multiplier in ``[0, 2**31 - 1]`` (TFLite asserts only
        ``q >= 0``; :func:`quantize_multiplier` gives 0 or ``[2**30, 2**31)``);
        broadcasts with ``x`` (per channel on the last axis).
    shift : int or array_like of int
        In ``[-31, 7]``; broadcasts.

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape of the three arrays.

    Raises
    ------
    ValueError
        Outside TFLite's stated assumptions, each naming the argument and
        its values: ``x`` outside ``[-2**47, 2**47)``, ``quantized_multiplier``
        negative or beyond int32, ``shift`` outside ``[-31, 7]``, or a result
        that does not fit int32. TFLite only asserts these (``TFLITE_DCHECK``
        or ``assert``, compiled out of release builds); beyond them its int64
        product or its int32 conversion would wrap silently, so this reference
        refuses instead of inventing a value. ``TypeError`` for non-integers.

    Notes
    -----
    The overload of ``tensorflow/lite/kernels/internal/common.cc`` (declared
    in ``common.h``; LiteRT ``tflite/kernels/internal/common.cc``) that the
    16x8 kernels call on their int64 accumulators (for example
    ``reference_integer_ops::ConvPerChannel`` with an int64 bias, which every
    CPU resolver of tensorflow 2.21 runs for a 16x8 ``CONV_2D``). First the
    multiplier is reduced to 16 bits with rounding, then one rounding shift:

    .. math::

        r = \\begin{cases} \\lfloor (q + 2^{15}) / 2^{16} \\rfloor & q < \\mathtt{0x7FFF0000} \\\\
        \\mathtt{0x7FFF} & \\text{otherwise} \\end{cases}, \\qquad
        y = \\Big\\lfloor \\frac{x r + 2^{14 - \\text{shift}}}{2^{15 - \\text{shift}}} \\Big\\rfloor

    The saturation changes only ``q >= 0x7FFF8000`` (whose rounding would give
    ``0x8000``, beyond Q0.15). The shift rounds once, ties toward +inf
    (``>>`` floors): ``-0.5 -> 0``. Both builds compute the same thing
    (``TFLITE_SINGLE_ROUNDING`` does not change this overload; they differ only
    beyond the assumptions: a ``TFLITE_DCHECK`` against a silent truncation).
    All of it is exact int64 arithmetic (``|x r| < 2**62``).

    Error bound, proved from the reduction: with ``e = r * 2**16 - q``,
    ``|e| <= 2**15`` (the rounding), except where the saturation acts,
    ``q >= 0x7FFF8000 = 2**15 (2**16 - 1)``, where ``|e| <= 2**16 - 1``; so
    ``|e| / q <= 2**-15`` whenever ``q >= 2**30``. Since
    ``x r 2**(shift - 15) = y* + x e 2**(shift - 31)`` with the exact
    ``y* = x q 2**(shift - 31)``,

    .. math:: |y - y^*| \\le \\tfrac12 + |x e| \\, 2^{\\text{shift} - 31} \\le \\tfrac12 + 2^{-15} |y^*|

    (``tests/interop/test_tflite_16x8.py`` checks it with exact rationals).
    The int32 overload (:func:`multiply_by_quantized_multiplier`, gemmlowp's
    double rounding) keeps all 31 bits of ``q``: its error is at most 1, but it
    rounds twice, so the two differ both on large ``|y|`` and on ties.

    A separate function rather than an ``accumulator=`` keyword of
    :func:`multiply_by_quantized_multiplier`: C++ picks the overload from the
    type of ``x``, which a NumPy array's dtype should not do silently here,
    and the two differ in algorithm, in the domain of every argument (``x``
    to ``2**47``, ``shift`` to 7, any ``q >= 0``) and in having no
    ``rounding`` variants.

    Examples
    --------
    ``q = 2**30, shift = -1`` (``M = 0.25``) reduces exactly to ``r = 2**14``:
    ``5 * 0.25 = 1.25 -> 1`` and the tie ``-2 * 0.25 = -0.5 -> 0`` (the int32
    overload's double rounding gives 2 and -1):

    >>> multiply_by_quantized_multiplier_int64([5, -2], 2**30, -1).tolist()
    [1, 0]

    ``M = 0.3`` is ``q = 1288490189``, shift -1; ``r = 19661`` (``19661 / 2**16 =
    0.30000305...``): ``x = 2**20 + 3`` gives 314577 where the exact value is
    314573.70 (the int32 overload: 314574). ``q = 2**31 - 1`` saturates to
    ``r = 0x7FFF``: ``32768 * (1 - 2**-31)`` gives 32767, not 32768:

    >>> multiply_by_quantized_multiplier_int64([2**20 + 3, 1000], 1288490189, -1).tolist()
    [314577, 300]
    >>> multiply_by_quantized_multiplier_int64(32768, 2**31 - 1, 0).tolist()
    32767
    """
    x64 = as_integers("x", x, -(2**63), 2**63 - 1)
    return _mbqm64(x64, quantized_multiplier, shift, "x").astype(np.int32)


def get_quantized_convolution_multiplier(
    input_scale: float, filter_scale: float, output_scale: float
) -> float:
    """``GetQuantizedConvolutionMultipler``: ``M = double(fl32(s_in * s_w)) / double(s_out)``, per tensor.

    Parameters
    ----------
    input_scale, filter_scale, output_scale : float
        The tensors' scales (float32 in the model), finite and > 0.

    Returns
    -------
    float
        The real multiplier, as TFLite's per-tensor ``Prepare`` computes it.

    Notes
    -----
    .. math:: M = \\operatorname{fl}_{32}(s_{\\text{in}} s_w) / s_{\\text{out}} \\text{ (division in double)}

    ``input->params.scale * filter->params.scale`` multiplies two ``float``
    fields, so the product is rounded to float32 before the double division
    (``tensorflow/lite/kernels/kernel_util.cc``; C++ spells it "Multipler").
    The per-channel :func:`populate_convolution_quantization_params` and the
    float-scale reference kernels multiply in double.

    Examples
    --------
    ``(1 + 2**-12)**2 = 1 + 2**-11 + 2**-24`` rounds to ``1 + 2**-11`` in float32 (a tie, to even):

    >>> get_quantized_convolution_multiplier(1 + 2**-12, 1 + 2**-12, 1.0) == 1 + 2**-11
    True
    """
    m = requantization_multiplier(
        _real("input_scale", input_scale),
        _real("filter_scale", filter_scale),
        _real("output_scale", output_scale),
        arithmetic="float32_product",
    )
    return float(m)


def populate_convolution_quantization_params(
    input_scale: float, filter_scales: ArrayLike, output_scale: float, *, rounding: str = "double"
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """``PopulateConvolutionQuantizationParams``: QuantizeMultiplier of ``s_in * s_w[c] / s_out`` per channel.

    Parameters
    ----------
    input_scale, output_scale : float
        The input and output tensors' scales, finite and > 0.
    filter_scales : array_like of float, shape (C,)
        The filter's per-channel scales (one value: per-tensor), finite and > 0.
    rounding : {"double", "single", "double_up"}
        The build, for :func:`quantize_multiplier`.

    Returns
    -------
    (numpy.ndarray of int32, numpy.ndarray of int32)
        ``per_channel_multiplier`` and ``per_channel_shift``, shape ``(C,)``.

    Notes
    -----
    .. math:: M_c = \\operatorname{double}(s_{\\text{in}}) \\operatorname{double}(s_{w,c}) / s_{\\text{out}}

    (``tensorflow/lite/kernels/kernel_util.cc``), then
    :func:`refquant.integer.quantize_multiplier` per channel.

    Examples
    --------
    0.5 * 0.25 = 0.125 = 0.5 * 2**-2; 0.5 * fl32(0.3) = 0.60000002384185791015625 * 2**-2, whose
    mantissa times 2**31 is exactly 1288490240:

    >>> q, s = populate_convolution_quantization_params(0.5, [0.25, 0.3], 1.0)
    >>> q.tolist(), s.tolist()
    ([1073741824, 1288490240], [-2, -2])
    """
    fs = _scales("filter_scales", filter_scales)
    if fs.ndim != 1 or fs.size == 0:
        raise ValueError(f"filter_scales must be a non-empty 1-D array, got shape {fs.shape}")
    m = requantization_multiplier(
        _real("input_scale", input_scale), fs, _real("output_scale", output_scale), arithmetic="float64"
    )
    q, s = fixedpoint.quantize_multiplier(m, rounding=rounding)
    return q, s


def calculate_activation_range_quantized(
    activation: str, output_scale: float, output_zero_point: int, output_type: str = "int8"
) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized``: the fused activation's clamp in output codes.

    Parameters
    ----------
    activation : {"none", "relu", "relu_n1_to_1", "relu6"}
        TFLite's ``kTfLiteActNone``, ``kTfLiteActRelu``, ``kTfLiteActReluN1To1``, ``kTfLiteActRelu6``.
    output_scale : float
        The output scale (float32), finite and > 0.
    output_zero_point : int
        The output zero point, in the type's range.
    output_type : {"int8", "uint8", "int16"}
        The output tensor's type (int16: the 16x8 kernels).

    Returns
    -------
    (int, int)
        ``(quantized_activation_min, quantized_activation_max)``.

    Notes
    -----
    .. math:: q(f) = z + \\operatorname{round}_{\\text{half away}}(\\operatorname{fl}_{32}(f / s))

    ReLU: ``[max(qmin, q(0)), qmax]``; ReLU6: ``[max(qmin, q(0)), min(qmax, q(6))]``;
    ReLU-1..1: ``[max(qmin, q(-1)), min(qmax, q(1))]``; none: the type's range
    (``tensorflow/lite/kernels/kernel_util.cc``). The division is in float32.

    Examples
    --------
    ``6 / fl32(0.05)`` rounds to 120.0 in float32, ``-128 + 120 = -8``:

    >>> calculate_activation_range_quantized("relu6", 0.05, -128)
    (-128, -8)
    """
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("output_type", output_type, tuple(_OUTPUT_TYPES))
    qmin, qmax = _OUTPUT_TYPES[output_type]
    s = as_scale32("output_scale", _real("output_scale", output_scale))
    z = _int("output_zero_point", output_zero_point)
    if not qmin <= z <= qmax:
        raise ValueError(
            f"output_zero_point must lie in the range of output_type={output_type!r}, [{qmin}, {qmax}], "
            f"got {z}"
        )

    def quantize(f: float) -> int:
        with np.errstate(over="ignore"):
            v = np.float32(f) / s
        r = round_to_integer(v, "half_away")  # TfLiteRound, std::round: exact
        return z + int(np.clip(r, INT32_MIN, INT32_MAX))

    if activation == "relu":
        return max(qmin, quantize(0.0)), qmax
    if activation == "relu6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "relu_n1_to_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    return qmin, qmax
