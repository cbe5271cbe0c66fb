"""Integer-only arithmetic: fixed-point and float requantization, integer matmul, int16 pair saturation.

* :mod:`refquant.integer.fixedpoint` -- TFLite's quantized multipliers and
  gemmlowp's (and ruy's) rounding primitives: exact integer arithmetic, no float;
* :mod:`refquant.integer.requantize` -- int32 accumulators to codes, through
  the fixed-point multiplier (TFLite, ruy) or a float multiplier (ONNX Runtime,
  XNNPACK, TFLite's reference kernels);
* :mod:`refquant.integer.matmul` -- integer matmul with zero points and the
  int32 overflow bound;
* :mod:`refquant.integer.pairs` -- the u8 x s8 matmul of x86 kernels without
  VNNI (``vpmaddubsw``: pairs of products saturated to int16), the count of
  saturated pairs and the ranges that cannot saturate.

:mod:`refquant.interop.tflite` exposes them under TFLite's names.
"""

from refquant.integer.fixedpoint import (
    ROUNDINGS,
    QuantizedMultiplier,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from refquant.integer.matmul import ACCUMULATORS, integer_matmul, overflow_bound
from refquant.integer.pairs import (
    OVERFLOWS,
    max_unsaturated_activation,
    max_unsaturated_weight,
    saturated_pairs,
    saturating_pair_matmul,
)
from refquant.integer.requantize import (
    ARITHMETICS,
    requantization_multiplier,
    requantize_fixed,
    requantize_float,
)

__all__ = [
    "ACCUMULATORS",
    "ARITHMETICS",
    "OVERFLOWS",
    "ROUNDINGS",
    "QuantizedMultiplier",
    "integer_matmul",
    "max_unsaturated_activation",
    "max_unsaturated_weight",
    "multiply_by_quantized_multiplier",
    "overflow_bound",
    "quantize_multiplier",
    "requantization_multiplier",
    "requantize_fixed",
    "requantize_float",
    "rounding_divide_by_pot",
    "saturated_pairs",
    "saturating_pair_matmul",
    "saturating_rounding_doubling_high_mul",
]
