"""TFLite's fully-connected int8 kernels: integer kernels, their float-scale overloads, the interpreter node.

``reference_integer_ops::FullyConnected`` / ``FullyConnectedPerChannel``
(``tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h``)
and what the interpreter's resolvers run for an int8 ``FULLY_CONNECTED``
node (:func:`fully_connected_op`; the table in :mod:`refquant.interop.tflite`),
or for a 16x8 one (int16 input: :mod:`refquant.interop.tflite.fully_connected_16x8`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, show_values
from refquant.integer import fixedpoint
from refquant.integer._checks import INT32_MAX, INT32_MIN, as_integers
from refquant.integer.matmul import integer_matmul
from refquant.integer.requantize import requantization_multiplier, requantize_fixed, requantize_float
from refquant.interop.tflite._output import _add_output_offset, _float64_requantize_x86
from refquant.interop.tflite.arithmetic import (
    _TYPES,
    _int,
    _real,
    calculate_activation_range_quantized,
    get_quantized_convolution_multiplier,
    populate_convolution_quantization_params,
    quantize_multiplier,
)
from refquant.interop.tflite.fully_connected_16x8 import (
    BIAS_TYPES,
    _filter_scales,
    _fully_connected_op_16x8,
    _per_channel_requantization,
)

__all__ = ["KERNELS", "fully_connected", "fully_connected_op", "fully_connected_per_channel"]

KERNELS = ("reference", "optimized", "xnnpack")


def _accumulate(
    input_data: ArrayLike,
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    input_offset: int,
    weights_offset: int,
) -> tuple[NDArray[np.int64], str]:
    """``acc = sum_d (filter + weights_offset)(input + input_offset) + bias``, exact, checked for int32."""
    x = np.asarray(input_data)
    if x.dtype.name not in _TYPES:
        raise TypeError(
            f"input_data must be an int8 or uint8 array (TFLite's int8 and uint8 kernels), got {x.dtype} "
            f"of shape {x.shape}"
        )
    w = np.asarray(filter_data)
    if w.dtype.name not in _TYPES or w.ndim != 2:
        raise TypeError(
            f"filter_data must be a 2-D int8 or uint8 array (output_depth, accum_depth), got {w.dtype} "
            f"{w.shape}"
        )
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"input_data's last dimension must equal filter_data's accum_depth {w.shape[1]}, got shape "
            f"{x.shape}"
        )
    io, wo = _int("input_offset", input_offset), _int("weights_offset", weights_offset)
    acc = integer_matmul(x, w.T, -io, -wo, accumulate="int64").astype(np.int64)
    if bias_data is not None:
        b = as_integers("bias_data", bias_data, INT32_MIN, INT32_MAX, "int32's range")
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias_data must have shape (output_depth,) = ({w.shape[0]},), got {b.shape}")
        acc = acc + b
    over = (acc < INT32_MIN) | (acc > INT32_MAX)
    if np.any(over):
        raise ValueError(
            "input_data, filter_data, bias_data and the offsets: the int32 accumulator overflows (TFLite's "
            f"kernel would wrap silently): accumulators {show_values(acc[over])} with input_offset={io}, "
            f"weights_offset={wo}"
        )
    return acc, x.dtype.name


def _requantize(
    acc: NDArray[np.int64],
    out_type: str,
    output_offset: int,
    lo: int,
    hi: int,
    multiplier: tuple[Any, Any] | None,
    scales: tuple[Any, Any, Any] | None,
    rounding: str,
) -> NDArray[Any]:
    qmin, qmax = _TYPES[out_type]
    lo, hi = _int("quantized_activation_min", lo), _int("quantized_activation_max", hi)
    if not qmin <= lo <= hi <= qmax:
        raise ValueError(
            f"quantized_activation_min and quantized_activation_max must satisfy {qmin} <= min <= max <= "
            f"{qmax} (the output type, input_data's dtype {out_type}), got {lo} and {hi}"
        )
    zo = _int("output_offset", output_offset)
    if (multiplier is None) == (scales is None):
        raise TypeError(
            "give either output_multiplier and output_shift, or input_scale, filter_scale and output_scale"
        )
    if lo == hi:  # a one-code clamp: every output is that code
        return np.full(acc.shape, lo, np.dtype(out_type))
    if multiplier is not None:
        y = requantize_fixed(acc, multiplier[0], multiplier[1], 0, INT32_MIN, INT32_MAX, rounding=rounding)
        y = _add_output_offset(y.astype(np.int64), zo, lo, hi)
    else:
        assert scales is not None
        m = requantization_multiplier(scales[0], scales[1], scales[2], arithmetic="float64")
        y = _float64_requantize_x86(acc, m, zo, lo, hi)
    return y.astype(np.dtype(out_type))


def fully_connected(
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
    rounding: str = "double",
) -> NDArray[Any]:
    """``reference_integer_ops::FullyConnected``: ``y = clamp(R(sum (w + wo)(x + io) + b) + oo, min, max)``.

    Parameters
    ----------
    input_data : int8 or uint8 array, shape (..., accum_depth)
        The input codes; the output has its dtype (TFLite's ``OutputType``).
    filter_data : int8 or uint8 array, shape (output_depth, accum_depth)
        The weight codes (TFLite's layout: one row per output channel).
    bias_data : int32 array_like of shape (output_depth,), or None
    input_offset, weights_offset, output_offset : int
        ``-input_zero_point``, ``-filter_zero_point``, ``output_zero_point``.
    quantized_activation_min, quantized_activation_max : int
        The clamp, within the output type.
    output_multiplier, output_shift : int
        The integer kernel (``FullyConnected(params, ...)``): the requantization
        :func:`multiply_by_quantized_multiplier` with ``rounding``.
    input_scale, filter_scale, output_scale : float
        Instead of the multiplier: the float-scale overload of the reference
        kernel (``FullyConnected(..., input_scale, output_scale, filter_scale)``,
        the interpreter's ``BUILTIN_REF`` kernel): ``int32(round(double(acc) * M))``,
        ties away, ``M = double(s_in) * double(s_w) / double(s_out)``.
    rounding : {"double", "single", "double_up"}
        With the multiplier only.

    Returns
    -------
    numpy.ndarray, shape (..., output_depth), input_data's dtype

    Raises
    ------
    ValueError
        The int32 accumulator would overflow (TFLite wraps), or a parameter is out of range.

    Notes
    -----
    .. math::

        \\text{acc}_{bc} = \\sum_d (w_{cd} + w_o)(x_{bd} + i_o) + \\text{bias}_c, \\qquad
        y_{bc} = \\operatorname{clamp}(R(\\text{acc}_{bc}) + o_o, \\text{min}, \\text{max})

    The accumulation is exact (:func:`refquant.integer.integer_matmul`). Where
    the float-scale path's ``round(double(acc) * M)`` leaves int32 (only a
    multiplier above 1 reaches it), TFLite's ``static_cast<int32_t>`` is
    undefined; refquant gives x86-64's result, measured against the
    interpreter: ``-2**31``, then the int32 sum with ``output_offset`` (which
    wraps), then the clamp, so a large positive value comes out as the minimum
    code (the maximum when ``output_offset < 0``).

    Examples
    --------
    acc = [2 - 4 - 4, -2 + 1 + 7] = [-6, 6]; times 0.25 is -1.5 and 1.5:

    >>> x, w = np.array([[2, -1]], np.int8), np.array([[1, 4], [-1, -1]], np.int8)
    >>> kw = dict(input_offset=0, weights_offset=0, output_offset=0)
    >>> kw.update(quantized_activation_min=-128, quantized_activation_max=127)
    >>> fully_connected(x, w, [-4, 7], output_multiplier=2**30, output_shift=-1, **kw).tolist()
    [[-2, 2]]
    >>> kw.update(output_multiplier=2**30, output_shift=-1)
    >>> fully_connected(x, w, [-4, 7], rounding="double_up", **kw).tolist()
    [[-1, 2]]
    >>> del kw["output_multiplier"], kw["output_shift"]
    >>> fully_connected(x, w, [-4, 7], input_scale=0.5, filter_scale=0.5, output_scale=1.0, **kw).tolist()
    [[-2, 2]]
    """
    check_choice("rounding", rounding, fixedpoint.ROUNDINGS)
    acc, out_type = _accumulate(input_data, filter_data, bias_data, input_offset, weights_offset)
    mult = None if output_multiplier is None and output_shift is None else (output_multiplier, output_shift)
    if mult is not None and (np.ndim(mult[0]) or np.ndim(mult[1])):  # type: ignore[arg-type]
        raise TypeError(
            "output_multiplier and output_shift must be ints (per tensor); see fully_connected_per_channel"
        )
    scales = (
        None
        if input_scale is None and filter_scale is None and output_scale is None
        else (input_scale, filter_scale, output_scale)
    )
    return _requantize(
        acc,
        out_type,
        output_offset,
        quantized_activation_min,
        quantized_activation_max,
        mult,
        scales,
        rounding,
    )


def fully_connected_per_channel(
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
    rounding: str = "double",
) -> NDArray[Any]:
    """``reference_integer_ops::FullyConnectedPerChannel``: :func:`fully_connected`, per-channel multipliers.

    Parameters
    ----------
    input_data, filter_data, bias_data
        As :func:`fully_connected` (int8 only in TFLite's per-channel kernel;
        uint8 is accepted here).
    input_offset, output_offset : int
        ``-input_zero_point`` and ``output_zero_point``. There is no
        ``weights_offset``: the per-channel kernel assumes symmetric weights
        (zero point 0) and ignores the filter's zero point.
    quantized_activation_min, quantized_activation_max : int
    output_multiplier, output_shift : array_like of int, shape (output_depth,)
        ``per_channel_multiplier`` and ``per_channel_shift``
        (:func:`populate_convolution_quantization_params`).
    input_scale, filter_scales, output_scale
        Instead: the float-scale overload (the ``BUILTIN_REF`` kernel), ``filter_scales`` of shape
        (output_depth,).
    rounding : {"double", "single", "double_up"}

    Returns
    -------
    numpy.ndarray, shape (..., output_depth), input_data's dtype

    Notes
    -----
    .. math::

        y_{bc} = \\operatorname{clamp}\\big(R_c\\big(\\textstyle\\sum_d w_{cd}(x_{bd} + i_o)
        + \\text{bias}_c\\big) + o_o,\\; \\text{min}, \\text{max}\\big)

    Examples
    --------
    The second channel's multiplier is 0.5 (shift 0): 6 * 0.5 = 3:

    >>> x, w = np.array([[2, -1]], np.int8), np.array([[1, 4], [-1, -1]], np.int8)
    >>> kw = dict(input_offset=0, output_offset=0, quantized_activation_min=-128)
    >>> kw.update(quantized_activation_max=127)
    >>> kw.update(output_multiplier=[2**30, 2**30], output_shift=[-1, 0])
    >>> fully_connected_per_channel(x, w, [-4, 7], **kw).tolist()
    [[-2, 3]]
    """
    check_choice("rounding", rounding, fixedpoint.ROUNDINGS)
    acc, out_type = _accumulate(input_data, filter_data, bias_data, input_offset, 0)
    mult, scales = _per_channel_requantization(
        acc.shape[-1], output_multiplier, output_shift, input_scale, filter_scales, output_scale
    )
    return _requantize(
        acc,
        out_type,
        output_offset,
        quantized_activation_min,
        quantized_activation_max,
        mult,
        scales,
        rounding,
    )


def fully_connected_op(
    input_data: ArrayLike,
    filter_data: ArrayLike,
    bias_data: ArrayLike | None,
    *,
    input_scale: float,
    input_zero_point: int,
    filter_scale: ArrayLike,
    output_scale: float,
    output_zero_point: int,
    activation: str = "none",
    kernel: str = "reference",
    quantized_bias_type: str | None = None,
) -> NDArray[Any]:
    """The interpreter's ``FULLY_CONNECTED`` node (int8, or 16x8 for int16 input): Prepare, then Eval.

    Parameters
    ----------
    input_data : int8 or int16 array, shape (..., accum_depth)
        int16 selects the 16x8 node (int16 activations, int8 weights).
    filter_data : int8 array, shape (output_depth, accum_depth)
        Symmetric weights (zero point 0, as TFLite's int8 spec requires).
    bias_data : array_like of int, shape (output_depth,), or None
        int32 values (int8 node), int64 (16x8 node, by default).
    input_scale, input_zero_point : float, int
        The input tensor's quantization (the zero point 0 for int16).
    filter_scale : float or array_like of float
        One scale (per tensor) or ``output_depth`` scales (per channel: more
        than one value selects the per-channel kernel, as TFLite does).
    output_scale, output_zero_point : float, int
        The output tensor's quantization (the zero point 0 for int16).
    activation : {"none", "relu", "relu_n1_to_1", "relu6"}
        The fused activation (:func:`calculate_activation_range_quantized`).
    kernel : {"reference", "optimized", "xnnpack"}
        The resolver's kernel (module docstring): ``"reference"``
        (``BUILTIN_REF``: the float64 reference kernels), ``"optimized"``
        (``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` on x86-64: ruy, fixed point,
        ``"double_up"``, with the multipliers of
        :func:`populate_convolution_quantization_params` per channel or
        :func:`get_quantized_convolution_multiplier` per tensor), ``"xnnpack"``
        (the default ``AUTO``: float32 multiplier, ties to even). In 16x8,
        XNNPACK takes no int16 node, so ``"xnnpack"`` is ``"optimized"``, and
        with an int64 bias tensor both are ``"reference"``.
    quantized_bias_type : {None, "int64", "int32"}
        ``FullyConnectedOptions.quantized_bias_type`` of a 16x8 node: None is
        ``"int64"`` (the converter's 16x8 default); ``"int32"`` (the
        converter's ``_experimental_full_integer_quantization_bias_type``)
        takes an int32 bias and accumulates in int32. The int8 node takes
        None or ``"int32"``.

    Returns
    -------
    numpy.ndarray of int8 (int16 for int16 input), shape (..., output_depth)

    Raises
    ------
    ValueError
        For ``kernel="xnnpack"`` when a requantization scale
        ``fl32(fl32(s_in s_w) / s_out)`` is 256 or more: XNNPACK refuses it and
        the interpreter fails to prepare the node (measured). Where ruy's left
        shift ``acc * 2**shift`` leaves int32 (``"optimized"``, a multiplier
        above 1), as :func:`multiply_by_quantized_multiplier` documents. A
        ``"reference"`` product beyond int32 does not raise: it gives x86-64's
        result (:func:`fully_connected`).

    Notes
    -----
    .. math::

        y = \\operatorname{clamp}\\big(R(\\text{acc} \\cdot M) + z_{\\text{out}},\\;
        q_{\\text{act,min}}, q_{\\text{act,max}}\\big), \\quad M = s_{\\text{in}} s_w / s_{\\text{out}}

    with ``R`` and ``M`` as the kernel computes them (the table in the module
    docstring), measured bit for bit against tensorflow 2.21 on x86-64.

    Examples
    --------
    Powers of two: ``M = 0.5 * 0.5 / 1 = 0.25`` exactly, acc = [-6, 6] = [-1.5, 1.5] after scaling;
    the float64 reference rounds ties away, ruy's fixed point ties up, XNNPACK ties to even:

    >>> x, w = np.array([[2, -1]], np.int8), np.array([[1, 4], [-1, -1]], np.int8)
    >>> q = dict(input_scale=0.5, input_zero_point=0, filter_scale=0.5, output_scale=1.0, output_zero_point=0)
    >>> [fully_connected_op(x, w, [-4, 7], kernel=k, **q).tolist() for k in KERNELS]
    [[[-2, 2]], [[-1, 2]], [[-2, 2]]]

    In 16x8 with an int64 bias every resolver runs the float64 reference; without a bias
    (acc = [-2, -1], times 0.25) the optimized ones run ruy, which rounds the tie -0.5 up:

    >>> x16 = x.astype(np.int16)
    >>> [fully_connected_op(x16, w, [-4, 7], kernel=k, **q).tolist() for k in KERNELS]
    [[[-2, 2]], [[-2, 2]], [[-2, 2]]]
    >>> [fully_connected_op(x16, w, None, kernel=k, **q).tolist() for k in KERNELS]
    [[[-1, 0]], [[0, 0]], [[0, 0]]]
    """
    check_choice("kernel", kernel, KERNELS)
    x = np.asarray(input_data)
    if x.dtype not in (np.int8, np.int16):
        raise TypeError(
            f"input_data must be an int8 array (TFLite's int8 FULLY_CONNECTED) or an int16 one (16x8), got "
            f"dtype {x.dtype} and shape {x.shape}"
        )
    if quantized_bias_type is not None:
        check_choice("quantized_bias_type", quantized_bias_type, BIAS_TYPES)
    if x.dtype == np.int16:
        return _fully_connected_op_16x8(
            x,
            filter_data,
            bias_data,
            input_scale=input_scale,
            input_zero_point=input_zero_point,
            filter_scale=filter_scale,
            output_scale=output_scale,
            output_zero_point=output_zero_point,
            activation=activation,
            kernel=kernel,
            quantized_bias_type=quantized_bias_type,
        )
    if quantized_bias_type == "int64":
        raise ValueError(
            "quantized_bias_type must be None or 'int32' for int8 input (the int8 FULLY_CONNECTED reads an "
            "int32 bias), got 'int64'"
        )
    zin, zout = (
        _int("input_zero_point", input_zero_point),
        _int("output_zero_point", output_zero_point),
    )
    for name, z in (("input_zero_point", zin), ("output_zero_point", zout)):
        if not -128 <= z <= 127:
            raise ValueError(f"{name} must lie in int8's range [-128, 127], got {z}")
    s_in, s_out = _real("input_scale", input_scale), _real("output_scale", output_scale)
    fs = _filter_scales(filter_scale, filter_data)
    lo, hi = calculate_activation_range_quantized(activation, s_out, zout, "int8")
    kw: dict[str, Any] = dict(input_offset=-zin, output_offset=zout)
    kw.update(quantized_activation_min=lo, quantized_activation_max=hi)
    if kernel == "xnnpack":
        acc, _ = _accumulate(x, filter_data, bias_data, -zin, 0)
        m = requantization_multiplier(s_in, fs, s_out, arithmetic="float32")
        if np.any(m >= 256):  # XNNPACK's fully-connected operator refuses it: the node fails to prepare
            raise ValueError(
                "input_scale, filter_scale and output_scale: XNNPACK takes a requantization scale "
                "fl32(fl32(s_in s_w) / s_out) below 256 only (the interpreter fails to prepare the node), "
                f"got {show_values(m[m >= 256])}; kernel='reference' or 'optimized' runs it"
            )
        return requantize_float(acc, m, zout, lo, hi).astype(np.int8)
    if fs.size > 1:
        if kernel == "reference":
            return fully_connected_per_channel(
                x, filter_data, bias_data, input_scale=s_in, filter_scales=fs, output_scale=s_out, **kw
            )
        q, s = populate_convolution_quantization_params(s_in, fs, s_out)
        return fully_connected_per_channel(
            x, filter_data, bias_data, output_multiplier=q, output_shift=s, rounding="double_up", **kw
        )
    if kernel == "reference":
        return fully_connected(
            x,
            filter_data,
            bias_data,
            weights_offset=0,
            input_scale=s_in,
            filter_scale=float(fs[0]),
            output_scale=s_out,
            **kw,
        )
    qm, sh = quantize_multiplier(get_quantized_convolution_multiplier(s_in, float(fs[0]), s_out))
    return fully_connected(
        x,
        filter_data,
        bias_data,
        weights_offset=0,
        output_multiplier=qm,
        output_shift=sh,
        rounding="double_up",
        **kw,
    )
