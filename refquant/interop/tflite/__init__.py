"""TensorFlow Lite's integer arithmetic and its fully-connected int8 and 16x8 kernels, in NumPy.

Names and argument order follow TFLite's C++ (snake_case), so each call reads
beside its source; TFLite is never imported. Sources: TensorFlow Lite
(``tensorflow/lite/kernels/internal/quantization_util.cc``, ``common.cc``,
``kernel_util.cc``, ``reference/integer_ops/fully_connected.h``, ``fully_connected.cc``;
LiteRT's ``tflite/`` tree holds the same files), gemmlowp ``fixedpoint/fixedpoint.h``,
ruy ``kernel_avx512.cc``. The kernels are checked bit for bit against the
interpreter of tensorflow 2.21 in ``tests/conformance/test_tflite_integer_conformance.py``
and ``test_tflite_16x8_conformance.py``.

**Which arithmetic each interpreter kernel uses** (int8 ``FULLY_CONNECTED``,
x86-64, tensorflow 2.21, measured on tie-dense inputs), as :func:`fully_connected_op`'s ``kernel``:

=============  =======================================  ==================================================
``kernel``     resolver                                 requantization
=============  =======================================  ==================================================
"reference"    ``BUILTIN_REF``                          float64: ``round(double(acc) * M)``, ties away,
                                                        ``M = double(s_in) * double(s_w) / double(s_out)``
"optimized"    ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``    fixed point (QuantizeMultiplier), ruy's double
                                                        rounding with both ties upward (``"double_up"``)
"xnnpack"      ``AUTO`` or ``BUILTIN`` (the default,    float32: ``fl32(acc) * fl32(fl32(s_in s_w) / s_out)``,
               XNNPACK delegate)                        ties to even (as ONNX Runtime)
=============  =======================================  ==================================================

The multiplier of the fixed-point kernel is QuantizeMultiplier of
``double(s_in) * double(s_w[c]) / double(s_out)`` per channel, of
``double(fl32(s_in * s_w)) / double(s_out)`` per tensor (each order checked
where it changes an output).

**16x8** (int16 activations with zero point 0, int8 weights, int64 bias;
:func:`fully_connected_op` with int16 input, measured the same way):

=============  ==================================  ==================================================
``kernel``     with an int64 bias tensor           without a bias, or ``quantized_bias_type="int32"``
=============  ==================================  ==================================================
"reference"    float64, ties away (as int8)        the same (int32 accumulator for an int32 bias)
"optimized"    the same: falls back to reference   ruy: int32 accumulator, ``"double_up"``
"xnnpack"      the same (XNNPACK takes no int16)   as "optimized"
=============  ==================================  ==================================================

The int64 MultiplyByQuantizedMultiplier
(:func:`multiply_by_quantized_multiplier_int64`: the multiplier rounded to 16
bits, one rounding shift) is the integer form of the 16x8 kernels
(:func:`fully_connected_16x8`, :func:`fully_connected_per_channel_16x8` with
``output_multiplier``), which the interpreter runs for a 16x8 ``CONV_2D``, not
for ``FULLY_CONNECTED``.

None of the interpreter's int8 kernels is the gemmlowp double rounding of TFLite's
``MultiplyByQuantizedMultiplier`` (``rounding="double"``, still the default of
:func:`multiply_by_quantized_multiplier` and of the integer kernels
:func:`fully_connected` / :func:`fully_connected_per_channel`, and what the
other reference integer kernels and TFLite Micro use). Sign convention of the
kernels' parameters: ``input_offset = -input_zero_point``,
``weights_offset = -filter_zero_point``, ``output_offset = +output_zero_point``.
"""

from refquant.interop.tflite.arithmetic import (
    ACTIVATIONS,
    calculate_activation_range_quantized,
    get_quantized_convolution_multiplier,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    populate_convolution_quantization_params,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from refquant.interop.tflite.fully_connected import (
    KERNELS,
    fully_connected,
    fully_connected_op,
    fully_connected_per_channel,
)
from refquant.interop.tflite.fully_connected_16x8 import (
    fully_connected_16x8,
    fully_connected_per_channel_16x8,
)

__all__ = [
    "ACTIVATIONS",
    "KERNELS",
    "calculate_activation_range_quantized",
    "fully_connected",
    "fully_connected_16x8",
    "fully_connected_op",
    "fully_connected_per_channel",
    "fully_connected_per_channel_16x8",
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
