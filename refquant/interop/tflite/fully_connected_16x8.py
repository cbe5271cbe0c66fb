"""TFLite's 16x8 fully-connected kernels (int16 activations, int8 weights, int64 bias) and the 16x8 node.

``reference_integer_ops::FullyConnected`` / ``FullyConnectedPerChannel``
(``tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h``,
LiteRT ``tflite/kernels/internal/reference/integer_ops/fully_connected.h``)
are templates over the input, weight, output and bias types, and the
accumulator has the bias type: with int16 input and output, int8 weights and
an int64 bias they accumulate in int64. Their integer form rescales with the
int64 overload of MultiplyByQuantizedMultiplier
(:func:`~refquant.interop.tflite.multiply_by_quantized_multiplier_int64`);
their float-scale form with ``round(double(acc) * M)``.

What tensorflow 2.21's interpreter runs for a 16x8 ``FULLY_CONNECTED`` node
(``tensorflow/lite/kernels/fully_connected.cc``, ``EvalQuantized``, the int16
output case; measured on x86-64 in
``tests/conformance/test_tflite_16x8_conformance.py``):

* with an int64 bias tensor (the converter's 16x8 default,
  ``quantized_bias_type = INT64``), every CPU resolver runs the float-scale
  reference kernel: ``kGenericOptimized`` falls back to it for an int64 bias
  tensor (its ruy path takes an int32 bias only), and XNNPACK does not take
  int16 tensors, so ``AUTO`` leaves the node to that builtin kernel. The int64
  MultiplyByQuantizedMultiplier is not on this path (the 16x8 ``CONV_2D`` is
  where the interpreter uses it);
* without a bias tensor, or with ``quantized_bias_type = INT32`` (the
  converter's option), the optimized resolvers run ruy (an int32 accumulator,
  QuantizeMultiplier's fixed point, ``rounding="double_up"``) since 16x8 zero
  points are 0; ``BUILTIN_REF`` still runs the float-scale kernel (with an
  int32 accumulator for an int32 bias).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import show_values
from refquant.integer._checks import INT32_MAX, INT32_MIN, as_integers
from refquant.integer.matmul import integer_matmul
from refquant.integer.requantize import requantization_multiplier, requantize_fixed
from refquant.interop.tflite._output import _add_output_offset, _float64_requantize_x86
from refquant.interop.tflite.arithmetic import (
    _int,
    _mbqm64,
    _real,
    _scales,
    calculate_activation_range_quantized,
    get_quantized_convolution_multiplier,
    populate_convolution_quantization_params,
    quantize_multiplier,
)

__all__ = ["fully_connected_16x8", "fully_connected_per_channel_16x8"]

BIAS_TYPES = ("int64", "int32")
_I16_MIN, _I16_MAX = -32768, 32767
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_ACC = "the accumulator (of input_data, filter_data and bias_data)"


def _check_terms(x: NDArray[Any], w: NDArray[Any], io: int, wo: int) -> None:
    """TFLite forms ``input + input_offset``, ``filter + weights_offset`` and their product in int32."""
    if x.size == 0 or w.size == 0:
        return
    xs = x.reshape(-1, x.shape[-1]).astype(np.int64)
    w64 = w.astype(np.int64)
    a_lo, a_hi, b_lo, b_hi = xs.min(0) + io, xs.max(0) + io, w64.min(0) + wo, w64.max(0) + wo
    corners = np.stack([a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi])  # < 2**63: exact
    bad = (a_lo < INT32_MIN) | (a_hi > INT32_MAX) | (b_lo < INT32_MIN) | (b_hi > INT32_MAX)
    bad |= (corners.min(0) < INT32_MIN) | (corners.max(0) > INT32_MAX)
    if np.any(bad):
        raise ValueError(
            f"input_offset={io} and weights_offset={wo}: TFLite computes (filter + weights_offset) * "
            "(input + input_offset) in int32, which overflows (and wraps silently) for these codes: "
            f"input + input_offset in [{show_values(a_lo[bad])}, {show_values(a_hi[bad])}], "
            f"filter + weights_offset in [{show_values(b_lo[bad])}, {show_values(b_hi[bad])}]"
        )


def _accumulate(
    input_data: ArrayLike,
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    input_offset: int,
    weights_offset: int,
    acc_type: str = "int64",
) -> NDArray[np.int64]:
    """``acc = sum_d (filter + weights_offset)(input + input_offset) + bias``, exact, checked."""
    x = np.asarray(input_data)
    if x.dtype != np.int16:
        raise TypeError(
            f"input_data must be an int16 array (TFLite's 16x8 kernels), got {x.dtype} of shape {x.shape}"
        )
    w = np.asarray(filter_data)
    if w.dtype != np.int8 or w.ndim != 2:
        raise TypeError(
            f"filter_data must be a 2-D int8 array (output_depth, accum_depth), got {w.dtype} {w.shape}"
        )
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"input_data's last dimension must equal filter_data's accum_depth {w.shape[1]}, got shape "
            f"{x.shape}"
        )
    io, wo = _int("input_offset", input_offset), _int("weights_offset", weights_offset)
    _check_terms(x, w, io, wo)
    acc = integer_matmul(x, w.T, -io, -wo, accumulate="int64").astype(np.int64)
    if bias_data is not None:
        lo, hi = (INT32_MIN, INT32_MAX) if acc_type == "int32" else (_I64_MIN, _I64_MAX)
        what = f"int64's range [{lo}, {hi}]"
        if acc_type == "int32":
            what = f"int32's range [{lo}, {hi}] (an int32 bias: quantized_bias_type='int32')"
        b = as_integers("bias_data", bias_data, lo, hi, what)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias_data must have shape (output_depth,) = ({w.shape[0]},), got {b.shape}")
        over = (acc > _I64_MAX - np.maximum(b, 0)) | (acc < _I64_MIN - np.minimum(b, 0))
        if np.any(over):
            raise ValueError(
                f"bias_data: {_ACC} overflows int64 (TFLite would wrap silently): bias "
                f"{show_values(np.broadcast_to(b, acc.shape)[over])}"
            )
        acc = acc + b
    if acc_type == "int32":
        over = (acc < INT32_MIN) | (acc > INT32_MAX)
        if np.any(over):
            raise ValueError(
                f"input_data, filter_data and bias_data: the int32 accumulator of this path overflows "
                f"(TFLite would wrap silently): accumulators {show_values(acc[over])}"
            )
    return acc


def _requantize(
    acc: NDArray[np.int64],
    output_offset: int,
    lo: int,
    hi: int,
    multiplier: tuple[Any, Any] | None,
    scales: tuple[Any, Any, Any] | None,
) -> NDArray[np.int16]:
    lo, hi = _int("quantized_activation_min", lo), _int("quantized_activation_max", hi)
    if not _I16_MIN <= lo <= hi <= _I16_MAX:
        raise ValueError(
            f"quantized_activation_min and quantized_activation_max must satisfy {_I16_MIN} <= min <= max "
            f"<= {_I16_MAX} (the int16 output), got {lo} and {hi}"
        )
    zo = _int("output_offset", output_offset)
    if (multiplier is None) == (scales is None):
        raise TypeError(
            "give either output_multiplier and output_shift, or input_scale, filter_scale and output_scale"
        )
    if lo == hi:  # a one-code clamp: every output is that code
        return np.full(acc.shape, lo, np.int16)
    if multiplier is not None:
        y = _mbqm64(acc, multiplier[0], multiplier[1], _ACC, ("output_multiplier", "output_shift"))
    else:
        assert scales is not None
        m = requantization_multiplier(scales[0], scales[1], scales[2], arithmetic="float64")
        return _float64_requantize_x86(acc, m, zo, lo, hi).astype(np.int16)
    return _add_output_offset(y, zo, lo, hi).astype(np.int16)


def fully_connected_16x8(
    input_data: ArrayLike,
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    *,
    input_offset: int,
    weights_offset: int,
    output_offset: int,
    quantized_activation_min: int,
    quantized_activation_max: int,
    output_multiplier: int | None = None,
    output_shift: int | None = None,
    input_scale: float | None = None,
    filter_scale: float | None = None,
    output_scale: float | None = None,
) -> NDArray[np.int16]:
    """``reference_integer_ops::FullyConnected``, 16x8: ``y = clamp(R(sum (w + wo)(x + io) + b) + oo)``.

    Parameters
    ----------
    input_data : int16 array, shape (..., accum_depth)
    filter_data : int8 array, shape (output_depth, accum_depth)
    bias_data : int64 array_like of shape (output_depth,), or None
    input_offset, weights_offset, output_offset : int
        ``-input_zero_point``, ``-filter_zero_point``, ``output_zero_point``
        (all 0 in a 16x8 model; the kernel takes any int32).
    quantized_activation_min, quantized_activation_max : int
        The clamp, within int16.
    output_multiplier, output_shift : int
        The integer form: :func:`~refquant.interop.tflite.multiply_by_quantized_multiplier_int64`
        (``q`` in ``[0, 2**31)``, shift in ``[-31, 7]``).
    input_scale, filter_scale, output_scale : float
        Instead of the multiplier, the float-scale form (what the interpreter
        runs, module docstring): ``int32(round(double(acc) * M))``, ties away,
        ``M = double(s_in) * double(s_w) / double(s_out)``.

    Returns
    -------
    numpy.ndarray of int16, shape (..., output_depth)

    Raises
    ------
    ValueError
        An int32 product of the offsets or the int64 sum would overflow (TFLite
        wraps), the accumulator leaves ``[-2**47, 2**47)`` (integer form), or a
        parameter is out of range. (A rescaled value beyond int32 in the
        float-scale form, undefined in TFLite, gives x86-64's result: ``-2**31``
        before the clamp, as :func:`fully_connected` documents.)

    Notes
    -----
    .. math::

        \\text{acc}_{bc} = \\sum_d (w_{cd} + w_o)(x_{bd} + i_o) + \\text{bias}_c \\;(\\text{int64}), \\qquad
        y_{bc} = \\operatorname{clamp}(R(\\text{acc}_{bc}) + o_o, \\text{min}, \\text{max})

    The template with ``BiasType = int64_t``
    (``tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h``):
    each product is formed in int32, the sum in int64 (exact here,
    :func:`refquant.integer.integer_matmul`), the rescaled value is an int32
    to which the output offset is added (exactly here) before the clamp.

    Examples
    --------
    acc = [2 * 1000 - 4 * 1000 + 1, -2000 + 1000 + 7] = [-1999, -993]; times 0.25: -499.75, -248.25:

    >>> x, w = np.array([[2000, -1000]], np.int16), np.array([[1, 4], [-1, -1]], np.int8)
    >>> kw = dict(input_offset=0, weights_offset=0, output_offset=0)
    >>> kw.update(quantized_activation_min=-32768, quantized_activation_max=32767)
    >>> fully_connected_16x8(x, w, [1, 7], output_multiplier=2**30, output_shift=-1, **kw).tolist()
    [[-500, -248]]
    >>> fully_connected_16x8(x, w, [1, 7], input_scale=0.5, filter_scale=0.5, output_scale=1.0, **kw).tolist()
    [[-500, -248]]
    """
    acc = _accumulate(input_data, filter_data, bias_data, input_offset, weights_offset)
    mult = None if output_multiplier is None and output_shift is None else (output_multiplier, output_shift)
    if mult is not None and (np.ndim(mult[0]) or np.ndim(mult[1])):  # type: ignore[arg-type]
        raise TypeError(
            "output_multiplier and output_shift must be ints (per tensor); see "
            "fully_connected_per_channel_16x8"
        )
    scales = (
        None
        if input_scale is None and filter_scale is None and output_scale is None
        else (input_scale, filter_scale, output_scale)
    )
    if scales is not None and np.ndim(filter_scale):  # type: ignore[arg-type]
        raise TypeError("filter_scale must be one scale (per tensor); see fully_connected_per_channel_16x8")
    return _requantize(acc, output_offset, quantized_activation_min, quantized_activation_max, mult, scales)


def fully_connected_per_channel_16x8(
    input_data: ArrayLike,
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    *,
    input_offset: int,
    output_offset: int,
    quantized_activation_min: int,
    quantized_activation_max: int,
    output_multiplier: ArrayLike | None = None,
    output_shift: ArrayLike | None = None,
    input_scale: float | None = None,
    filter_scales: ArrayLike | None = None,
    output_scale: float | None = None,
) -> NDArray[np.int16]:
    """``reference_integer_ops::FullyConnectedPerChannel`` in 16x8: :func:`fully_connected_16x8` per channel.

    Parameters
    ----------
    input_data, filter_data, bias_data
        As :func:`fully_connected_16x8`.
    input_offset, output_offset : int
        ``-input_zero_point`` and ``output_zero_point``. No ``weights_offset``:
        the per-channel kernel assumes symmetric weights.
    quantized_activation_min, quantized_activation_max : int
    output_multiplier, output_shift : array_like of int, shape (output_depth,)
        ``per_channel_multiplier`` and ``per_channel_shift``
        (:func:`~refquant.interop.tflite.populate_convolution_quantization_params`,
        which is how tensorflow 2.21's ``Prepare`` computes them in 16x8 too:
        QuantizeMultiplier of ``double(s_in) * double(s_w[c]) / double(s_out)``).
    input_scale, filter_scales, output_scale
        Instead: the float-scale form, ``filter_scales`` of shape (output_depth,).

    Returns
    -------
    numpy.ndarray of int16, shape (..., output_depth)

    Notes
    -----
    .. math::

        y_{bc} = \\operatorname{clamp}\\big(R_c\\big(\\textstyle\\sum_d w_{cd}(x_{bd} + i_o)
        + \\text{bias}_c\\big) + o_o,\\; \\text{min}, \\text{max}\\big)

    With the integer form this is also what tensorflow 2.21 computes for a
    16x8 ``CONV_2D`` with a 1x1 filter on a 1x1 image
    (``reference_integer_ops::ConvPerChannel`` with an int64 bias, in every CPU
    resolver; checked in ``tests/conformance/test_tflite_16x8_conformance.py``).

    Examples
    --------
    The second channel's multiplier is 0.5 (shift 0): -993 * 0.5 = -496.5, a tie, rounds up:

    >>> x, w = np.array([[2000, -1000]], np.int16), np.array([[1, 4], [-1, -1]], np.int8)
    >>> kw = dict(input_offset=0, output_offset=0, quantized_activation_min=-32768)
    >>> kw.update(quantized_activation_max=32767)
    >>> kw.update(output_multiplier=[2**30, 2**30], output_shift=[-1, 0])
    >>> fully_connected_per_channel_16x8(x, w, [1, 7], **kw).tolist()
    [[-500, -496]]
    """
    acc = _accumulate(input_data, filter_data, bias_data, input_offset, 0)
    mult, scales = _per_channel_requantization(
        acc.shape[-1], output_multiplier, output_shift, input_scale, filter_scales, output_scale
    )
    return _requantize(acc, output_offset, quantized_activation_min, quantized_activation_max, mult, scales)


def _per_channel_requantization(
    depth: int,
    output_multiplier: Any,
    output_shift: Any,
    input_scale: Any,
    filter_scales: Any,
    output_scale: Any,
) -> tuple[tuple[Any, Any] | None, tuple[Any, Any, Any] | None]:
    """A per-channel kernel's ``(multipliers, shifts)`` and scales (either may be None), shapes checked."""
    mult = None
    if output_multiplier is not None or output_shift is not None:
        mult = (np.asarray(output_multiplier), np.asarray(output_shift))
        if mult[0].shape != (depth,) or mult[1].shape != (depth,):
            raise ValueError(
                f"output_multiplier and output_shift must have shape (output_depth,) = ({depth},), "
                f"got {mult[0].shape} and {mult[1].shape}"
            )
    scales = None
    if input_scale is not None or filter_scales is not None or output_scale is not None:
        fs = np.asarray(filter_scales)
        if fs.shape != (depth,):
            raise ValueError(f"filter_scales must have shape (output_depth,) = ({depth},), got {fs.shape}")
        scales = (input_scale, fs, output_scale)
    return mult, scales


def _filter_scales(filter_scale: ArrayLike, filter_data: ArrayLike) -> NDArray[Any]:
    """The node's filter scales as a 1-D array of 1 (per tensor) or ``output_depth`` (per channel) values."""
    fs = np.atleast_1d(_scales("filter_scale", filter_scale))
    if fs.ndim != 1:
        raise ValueError(f"filter_scale must be a scale or a 1-D array of them, got shape {fs.shape}")
    depth = np.shape(filter_data)[0] if np.ndim(filter_data) == 2 else fs.size
    if fs.size not in (1, depth):
        raise ValueError(f"filter_scale must have 1 or output_depth = {depth} values, got shape {fs.shape}")
    return fs


def _fully_connected_op_16x8(
    x: NDArray[Any],
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    *,
    input_scale: float,
    input_zero_point: int,
    filter_scale: ArrayLike,
    output_scale: float,
    output_zero_point: int,
    activation: str,
    kernel: str,
    quantized_bias_type: str | None,
) -> NDArray[np.int16]:
    """The 16x8 ``FULLY_CONNECTED`` node (int16 ``x``): :func:`refquant.interop.tflite.fully_connected_op`.

    Prepare requires both zero points to be 0 (``TF_LITE_ENSURE_EQ``); Eval
    dispatches as the module docstring says: the float-scale kernel unless an
    optimized resolver meets no int64 bias tensor, then ruy (``"double_up"``).
    """
    for name, z in (("input_zero_point", input_zero_point), ("output_zero_point", output_zero_point)):
        if _int(name, z) != 0:
            raise ValueError(f"{name} must be 0 for int16 activations (TFLite's 16x8 Prepare), got {z}")
    bias_type = "int64" if quantized_bias_type is None else quantized_bias_type
    s_in, s_out = _real("input_scale", input_scale), _real("output_scale", output_scale)
    fs = _filter_scales(filter_scale, filter_data)
    lo, hi = calculate_activation_range_quantized(activation, s_out, 0, "int16")
    if kernel == "reference" or (bias_data is not None and bias_type == "int64"):
        acc = _accumulate(x, filter_data, bias_data, 0, 0, bias_type)
        return _requantize(acc, 0, lo, hi, None, (s_in, fs if fs.size > 1 else fs[0], s_out))
    acc = _accumulate(x, filter_data, bias_data, 0, 0, "int32")  # ruy: an int32 accumulator
    if lo == hi:
        return np.full(acc.shape, lo, np.int16)
    q: Any
    s: Any
    if fs.size > 1:
        q, s = populate_convolution_quantization_params(s_in, fs, s_out)
    else:
        q, s = quantize_multiplier(get_quantized_convolution_multiplier(s_in, fs[0], s_out))
    return requantize_fixed(acc, q, s, 0, lo, hi, rounding="double_up").astype(np.int16)
