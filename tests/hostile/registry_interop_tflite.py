"""Registry: ``refquant.interop.tflite`` (TFLite's fixed-point names, the fully-connected kernels, the node).

The fixed-point wrappers share the baselines and contracts of
``registry_integer``; the kernels take int8 (or uint8) codes only, TFLite's
offsets (``input_offset = -zero_point``) and an activation clamp inside the
output type. The 16x8 kernels take int16 codes, int8 weights and an int64
bias; the int64 MultiplyByQuantizedMultiplier is checked against a Python-int
reference that rejects whatever lies outside TFLite's stated assumptions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.integer.fixedpoint import ROUNDINGS
from refquant.interop.tflite import ACTIVATIONS, KERNELS
from refquant.interop.tflite.fully_connected_16x8 import BIAS_TYPES
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REF_REJECT,
    REJECT,
    Combo,
    Entry,
    aka,
    choice,
    codes,
    integer,
    qrange,
    real,
    scale,
    zero_point,
)
from tests.hostile.harness_verdict import NO_REF
from tests.hostile.registry_integer import (
    INT_POLICY,
    MULT_POLICY,
    SHIFT_POLICY,
    _broadcast_shape,
    _int32,
    _mbqm_base,
    _rdbpot_ref,
    _srdhm_ref,
)

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
REAL = {"0-d array": ACCEPT, "True": REJECT, "1e300": ACCEPT}
SCALE = {"0-d array": ACCEPT, "1-element list": REJECT, "1-element array": REJECT, "True": REJECT}
SCALE_32 = {**SCALE, "5e-324": REJECT, "1e-45": EITHER, "1e-40": EITHER, "3e+38": EITHER, "1.7e+308": REJECT}
ZP8 = {"integral float": REJECT, "True": REJECT, "None": REJECT}
OFFSET = {"integral float": REJECT, "bool": REJECT}
OVERFLOWS = {**OFFSET, "lo": REJECT, "hi": REJECT, "np.int64": REJECT}  # +-2**31 offsets overflow int32 sums
# the output offset's int32 sum with the rescaled accumulator: the integer path raises where it overflows,
# the float-scale path gives x86-64's wrapped sum (measured): which one depends on the values
OUT_OFFSET = {**OFFSET, "lo": EITHER, "hi": EITHER, "np.int64": EITHER}
CODES8 = {"empty": ACCEPT, "bool codes": REJECT, "float codes (integral)": REJECT, "Python list": REJECT}
ACT = {"equal": ACCEPT, "integral floats": REJECT, "np.int64 bounds": ACCEPT}


def _x() -> np.ndarray:
    return np.array([[2, -1], [-3, 4]], np.int8)


def _w() -> np.ndarray:
    return np.array([[1, 4], [-1, -1], [2, 0]], np.int8)


def _fc_base() -> dict[str, Any]:
    return dict(
        input_data=_x(),
        filter_data=_w(),
        bias_data=np.array([-4, 7, 1], np.int32),
        input_offset=1,
        weights_offset=-1,
        output_offset=2,
        quantized_activation_min=-128,
        quantized_activation_max=127,
        output_multiplier=2**30,
        output_shift=-1,
    )


def _fc_pc_base() -> dict[str, Any]:
    kw = _fc_base()
    del kw["weights_offset"]
    kw.update(output_multiplier=np.array([2**30, 2**30, 3 * 2**29]), output_shift=np.array([-1, 0, 0]))
    return kw


def _op_base() -> dict[str, Any]:
    return dict(
        input_data=_x(),
        filter_data=_w(),
        bias_data=np.array([-4, 7, 1], np.int32),
        input_scale=0.5,
        input_zero_point=-1,
        filter_scale=np.array([0.25, 0.3, 0.1], np.float32),
        output_scale=0.4,
        output_zero_point=3,
    )


def _kernel_args(per_channel: bool) -> dict[str, Any]:
    args = {
        "input_data": codes(**CODES8),
        "filter_data": codes(**{**CODES8, "empty": REJECT, "0-d": REJECT, "scalar": REJECT}),
        "bias_data": codes(**{"bool codes": REJECT, "float codes (integral)": REJECT, "0-d": REJECT}),
        "input_offset": integer(I32_MIN, I32_MAX, **OVERFLOWS),
        "output_offset": integer(I32_MIN, I32_MAX, **OUT_OFFSET),
        "quantized_activation_min+quantized_activation_max": qrange(
            "quantized_activation_min", "quantized_activation_max", -128, 127, **ACT
        ),
        "rounding": choice(ROUNDINGS),
    }
    if per_channel:
        args["output_multiplier"] = aka(
            codes(**{**MULT_POLICY, "0-d": REJECT, "scalar": REJECT}), "quantized_multiplier"
        )
        args["output_shift"] = aka(codes(**{**SHIFT_POLICY, "0-d": REJECT, "scalar": REJECT}), "shift")
    else:
        args["weights_offset"] = integer(I32_MIN, I32_MAX, **OVERFLOWS)
        args["output_multiplier"] = aka(integer(2**30, I32_MAX, **OFFSET), "quantized_multiplier")
        args["output_shift"] = aka(
            integer(-31, 30, **{**OFFSET, "hi": REJECT}), "shift"
        )  # acc << 30 overflows
    return args


def _mbqm64_base() -> dict[str, Any]:
    x = np.array([[5, -2, 1000], [2**32, -(2**47), 2**47 - 1]], np.int64)
    q = np.array([2**30, 3 * 2**29, 2**31 - 129])  # the last one saturates
    return dict(x=x, quantized_multiplier=q, shift=np.array([-31, -20, -31]))  # a scalar shift: the first


def _mbqm64_ref(kw: dict[str, Any]) -> Any:
    """Python ints, from TFLite's common.cc: the 16-bit multiplier, one rounding shift; REF_REJECT outside."""
    try:
        arrs = [np.asarray(kw[k]) for k in ("x", "quantized_multiplier", "shift")]
        if any(a.dtype.kind not in "iu" for a in arrs):
            return NO_REF
        x, q, s = np.broadcast_arrays(*arrs)
    except ValueError:
        return NO_REF
    out = []
    for xi, qi, si in zip(x.ravel().tolist(), q.ravel().tolist(), s.ravel().tolist(), strict=True):
        if not (-(2**47) <= xi < 2**47 and 0 <= qi <= I32_MAX and -31 <= si <= 7):
            return REF_REJECT
        r = (qi + 2**15) >> 16 if qi < 0x7FFF0000 else 0x7FFF
        y = (xi * r + 2 ** (14 - si)) >> (15 - si)
        if not I32_MIN <= y <= I32_MAX:
            return REF_REJECT
        out.append(y)
    return np.array(out, np.int32).reshape(x.shape)


def _x16() -> np.ndarray:
    return np.array([[2000, -1000], [-3000, 32767]], np.int16)


def _fc16_base() -> dict[str, Any]:
    return dict(
        input_data=_x16(),
        filter_data=_w(),
        bias_data=np.array([-4, 7, 2**40], np.int64),
        input_offset=1,
        weights_offset=-1,
        output_offset=2,
        quantized_activation_min=-32768,
        quantized_activation_max=32767,
        output_multiplier=2**30,
        output_shift=-20,
    )


def _fc16_pc_base() -> dict[str, Any]:
    kw = _fc16_base()
    del kw["weights_offset"]
    kw.update(output_multiplier=np.array([2**30, 2**30, 3 * 2**29]), output_shift=np.array([-1, 0, -25]))
    return kw


def _op16_base() -> dict[str, Any]:
    return dict(
        input_data=_x16() // 100,  # small accumulators: most scales keep round(acc * M) within int32
        filter_data=_w(),
        bias_data=np.array([-4, 7, 100], np.int64),
        input_scale=2.0**-12,
        input_zero_point=0,
        filter_scale=np.array([0.25, 0.3, 0.1], np.float32),
        output_scale=0.4,
        output_zero_point=0,
    )


# a product round(double(acc) * M) beyond int32 is undefined in TFLite: x86-64's -2**31, then the clamp
SCALE_16 = {**SCALE_32, "1e+30": EITHER}
CODES16 = {"empty": ACCEPT, "bool codes": REJECT, "float codes (integral)": REJECT, "Python list": REJECT}


def _kernel16_args(per_channel: bool) -> dict[str, Any]:
    args = {
        "input_data": codes(**CODES16),
        "filter_data": codes(**{**CODES8, "empty": REJECT, "0-d": REJECT, "scalar": REJECT}),
        "bias_data": codes(**{"bool codes": REJECT, "float codes (integral)": REJECT, "0-d": REJECT}),
        "input_offset": integer(I32_MIN, I32_MAX, **OVERFLOWS),
        "output_offset": integer(I32_MIN, I32_MAX, **OUT_OFFSET),
        "quantized_activation_min+quantized_activation_max": qrange(
            "quantized_activation_min", "quantized_activation_max", -32768, 32767, **ACT
        ),
    }
    if per_channel:
        args["output_multiplier"] = codes(**{**MULT_POLICY, "0-d": REJECT, "scalar": REJECT})
        args["output_shift"] = codes(**{**SHIFT_POLICY, "0-d": REJECT, "scalar": REJECT})
    else:
        args["weights_offset"] = integer(I32_MIN, I32_MAX, **OVERFLOWS)
        args["output_multiplier"] = integer(0, I32_MAX, **OFFSET)
        args["output_shift"] = integer(-31, 7, **{**OFFSET, "hi": REJECT})  # acc * 2**7 leaves int32
    return args


ENTRIES: list[Entry] = [
    Entry(
        "tflite:quantize_multiplier",
        lambda: dict(double_multiplier=0.3),
        {"double_multiplier": real(0, None, **REAL), "rounding": choice(ROUNDINGS)},
        contract="(q, shift) Python ints; NaN, inf, negative raise",
    ),
    Entry(
        "tflite:quantize_multiplier_smaller_than_one_exp",
        lambda: dict(double_multiplier=0.3),
        {"double_multiplier": real(0, 1, lo_open=True, hi_open=True, **REAL)},
        contract="0 < M < 1",
    ),
    Entry(
        "tflite:quantize_multiplier_greater_than_one",
        lambda: dict(double_multiplier=2.5),
        {"double_multiplier": real(1, None, lo_open=True, **REAL)},
        contract="M > 1, finite",
    ),
    Entry(
        "tflite:saturating_rounding_doubling_high_mul",
        lambda: dict(
            a=np.array([[2**30, 1, -1, I32_MIN]], np.int32), b=np.array([2**30, 2**30, 2**30, I32_MIN])
        ),
        {"a": codes(**INT_POLICY), "b": codes(**{**INT_POLICY, "empty": REJECT})},
        dtype=_int32,
        shape=_broadcast_shape("a", "b"),
        reference=_srdhm_ref,
        contract="as refquant.integer",
    ),
    Entry(
        "tflite:rounding_divide_by_pot",
        lambda: dict(x=np.array([[5, -5, 6], [-6, I32_MIN, I32_MAX]], np.int32), exponent=1),
        {"x": codes(**INT_POLICY), "exponent": integer(0, 31, **{"integral float": REJECT, "bool": REJECT})},
        dtype=_int32,
        shape=_broadcast_shape("x", "exponent"),
        reference=_rdbpot_ref,
        contract="as refquant.integer",
    ),
    Entry(
        "tflite:multiply_by_quantized_multiplier",
        _mbqm_base,
        {
            "x": codes(**INT_POLICY),
            "quantized_multiplier": codes(**MULT_POLICY),
            "shift": codes(**SHIFT_POLICY),
            "rounding": choice(ROUNDINGS),
        },
        dtype=_int32,
        shape=_broadcast_shape("x", "quantized_multiplier", "shift"),
        contract="as refquant.integer",
    ),
    Entry(
        "tflite:get_quantized_convolution_multiplier",
        lambda: dict(input_scale=0.1, filter_scale=0.02, output_scale=0.7),
        {
            "input_scale": scale(**SCALE_32),
            "filter_scale": aka(scale(**SCALE_32), "weight_scale"),
            "output_scale": scale(**{**SCALE_32, "1e-30": EITHER}),
        },
        contract="double(fl32(s_in s_w)) / double(s_out); scalars, float32-representable and > 0",
    ),
    Entry(
        "tflite:populate_convolution_quantization_params",
        lambda: dict(input_scale=0.1, filter_scales=np.array([0.02, 0.03], np.float32), output_scale=0.7),
        {
            "input_scale": scale(**SCALE_32),
            "filter_scales": aka(
                scale(shape=(2,), **{**SCALE_32, "0-d array": REJECT, "wrong shape (7,)": ACCEPT}),
                "weight_scale",
            ),
            "output_scale": scale(**{**SCALE_32, "1e-30": EITHER}),
            "rounding": choice(ROUNDINGS),
        },
        dtype=_int32,
        contract="per-channel (q, shift) of double(s_in) double(s_w) / double(s_out)",
    ),
    Entry(
        "tflite:calculate_activation_range_quantized",
        lambda: dict(activation="relu6", output_scale=0.05, output_zero_point=-128),
        {
            "activation": choice(ACTIVATIONS),
            "output_scale": scale(**SCALE_32),
            "output_zero_point": zero_point(-128, 127, **ZP8),
            "output_type": choice(("int8", "uint8", "int16")),
        },
        contract="the fused activation's clamp in codes",
        extra=[
            Combo("uint8", {"output_type": "uint8", "output_zero_point": 10}, ACCEPT),
            Combo(
                "uint8, zero point -128", {"output_type": "uint8"}, REJECT, ("output_zero_point",), ("-128",)
            ),
        ],
    ),
    Entry(
        "tflite:fully_connected",
        _fc_base,
        _kernel_args(False),
        dtype=lambda kw: np.asarray(kw["input_data"]).dtype,
        related=("input_data", "filter_data", "bias_data"),
        contract="clamp(R(sum (w + wo)(x + io) + b) + oo); int32 overflow raises",
        extra=[
            Combo(
                "float scales",
                lambda kw: kw.update(
                    output_multiplier=None,
                    output_shift=None,
                    input_scale=0.5,
                    filter_scale=0.25,
                    output_scale=0.5,
                ),
                ACCEPT,
            ),
            Combo("both", {"input_scale": 0.5}, REJECT, ("output_multiplier",), ()),
            Combo("no bias", {"bias_data": None}, ACCEPT),
            Combo(
                "uint8", {"input_data": lambda: _x().astype(np.uint8), "quantized_activation_min": 0}, ACCEPT
            ),
        ],
    ),
    Entry(
        "tflite:fully_connected_per_channel",
        _fc_pc_base,
        _kernel_args(True),
        dtype=lambda kw: np.asarray(kw["input_data"]).dtype,
        related=("input_data", "filter_data", "bias_data", "output_multiplier", "output_shift"),
        contract="per-channel multipliers (output_depth,); symmetric weights",
        extra=[
            Combo(
                "float scales",
                lambda kw: kw.update(
                    output_multiplier=None,
                    output_shift=None,
                    input_scale=0.5,
                    filter_scales=np.array([0.25, 0.5, 0.75]),
                    output_scale=0.5,
                ),
                ACCEPT,
            ),
            Combo(
                "wrong count",
                {"output_shift": lambda: np.array([0, 0])},
                REJECT,
                ("output_shift",),
                ("(2,)",),
            ),
        ],
    ),
    Entry(
        "tflite:multiply_by_quantized_multiplier_int64",
        _mbqm64_base,
        {
            "x": codes(**INT_POLICY),
            "quantized_multiplier": codes(**MULT_POLICY),
            "shift": codes(**SHIFT_POLICY),
        },
        dtype=_int32,
        shape=_broadcast_shape("x", "quantized_multiplier", "shift"),
        reference=_mbqm64_ref,
        contract="floor(x r 2**(shift - 15) + 1/2), r the 16-bit multiplier; x in [-2**47, 2**47), "
        "q in [0, 2**31), shift in [-31, 7], an int32 result; else ValueError",
        extra=[Combo("a saturated multiplier", {"quantized_multiplier": 0x7FFF8000}, ACCEPT)],
    ),
    Entry(
        "tflite:fully_connected_16x8",
        _fc16_base,
        _kernel16_args(False),
        dtype=lambda kw: np.dtype(np.int16),
        related=("input_data", "filter_data", "bias_data"),
        contract="clamp(R(sum (w + wo)(x + io) + b) + oo), int64 accumulator; overflows raise",
        extra=[
            Combo(
                "float scales",
                lambda kw: kw.update(
                    output_multiplier=None,
                    output_shift=None,
                    input_scale=2.0**-12,
                    filter_scale=0.25,
                    output_scale=0.5,
                ),
                ACCEPT,
            ),
            Combo("both", {"input_scale": 0.5}, REJECT, ("output_multiplier",), ()),
            Combo("no bias", {"bias_data": None}, ACCEPT),
            Combo("int8 input", {"input_data": lambda: _x()}, REJECT, ("input_data",), ("int8",)),
        ],
    ),
    Entry(
        "tflite:fully_connected_per_channel_16x8",
        _fc16_pc_base,
        _kernel16_args(True),
        dtype=lambda kw: np.dtype(np.int16),
        related=("input_data", "filter_data", "bias_data", "output_multiplier", "output_shift"),
        contract="per-channel multipliers (output_depth,); symmetric weights; int64 accumulator",
        extra=[
            Combo(
                "float scales",
                lambda kw: kw.update(
                    output_multiplier=None,
                    output_shift=None,
                    input_scale=2.0**-12,
                    filter_scales=np.array([0.25, 0.5, 0.75]),
                    output_scale=0.5,
                ),
                ACCEPT,
            ),
            Combo(
                "wrong count",
                {"output_shift": lambda: np.array([0, 0])},
                REJECT,
                ("output_shift",),
                ("(2,)",),
            ),
        ],
    ),
    Entry(
        "tflite:fully_connected_op",
        _op_base,
        {
            "input_data": codes(**{**CODES8, "Python list": REJECT}),
            "input_scale": scale(**SCALE_32),
            "input_zero_point": zero_point(-128, 127, **ZP8),
            "filter_scale": aka(
                scale(shape=(3,), **{**SCALE_32, "0-d array": ACCEPT, "1-element list": ACCEPT}),
                "weight_scale",
            ),
            "output_scale": scale(**SCALE_32),
            "output_zero_point": zero_point(-128, 127, **ZP8),
            "activation": choice(ACTIVATIONS),
            "kernel": choice(KERNELS),
            "quantized_bias_type": choice(BIAS_TYPES, **{"None": ACCEPT, "'int64'": REJECT}),
        },
        dtype=lambda kw: np.dtype(np.int8),
        related=("input_data", "filter_data", "filter_scale"),
        contract="Prepare + Eval of one resolver's int8 FULLY_CONNECTED",
        extra=[
            Combo("per tensor", {"filter_scale": 0.25}, ACCEPT),
            Combo("optimized", {"kernel": "optimized"}, ACCEPT),
            Combo("xnnpack per tensor", {"kernel": "xnnpack", "filter_scale": 0.25}, ACCEPT),
        ],
    ),
    Entry(
        "tflite:fully_connected_op",
        _op16_base,
        {
            "input_data": codes(**CODES16),
            "bias_data": codes(**{"bool codes": REJECT, "float codes (integral)": REJECT, "0-d": REJECT}),
            "input_scale": scale(**SCALE_16),
            "input_zero_point": zero_point(0, 0, **ZP8),
            "filter_scale": aka(
                scale(shape=(3,), **{**SCALE_16, "0-d array": ACCEPT, "1-element list": ACCEPT}),
                "weight_scale",
            ),
            "output_scale": scale(**{**SCALE_16, "float32 smallest normal": EITHER, "1e-30": EITHER}),
            "output_zero_point": zero_point(0, 0, **ZP8),
            "activation": choice(ACTIVATIONS),
            "kernel": choice(KERNELS),
            "quantized_bias_type": choice(BIAS_TYPES, **{"None": ACCEPT}),
        },
        variant="16x8",
        dtype=lambda kw: np.dtype(np.int16 if np.asarray(kw["input_data"]).dtype == np.int16 else np.int8),
        related=("input_data", "filter_data", "filter_scale", "bias_data"),
        contract="Prepare + Eval of one resolver's 16x8 FULLY_CONNECTED; zero points 0",
        extra=[
            Combo("per tensor", {"filter_scale": 0.25}, ACCEPT),
            Combo("optimized, no bias", {"kernel": "optimized", "bias_data": None}, ACCEPT),
            Combo(
                "xnnpack, int32 bias",
                {
                    "kernel": "xnnpack",
                    "quantized_bias_type": "int32",
                    "bias_data": lambda: np.array([1, 2, 3]),
                },
                ACCEPT,
            ),
            Combo("zero point 1", {"input_zero_point": 1}, REJECT, ("input_zero_point",), ("1",)),
        ],
    ),
]
EXEMPT: dict[str, str] = {}
