"""Registry: ``refquant.interop.tflite`` (TFLite's fixed-point names, the fully-connected kernels, the node).

The fixed-point wrappers share the baselines and contracts of
``registry_integer``; the kernels take int8 (or uint8) codes only, TFLite's
offsets (``input_offset = -zero_point``) and an activation clamp inside the
output type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.integer.fixedpoint import ROUNDINGS
from refquant.interop.tflite import ACTIVATIONS, KERNELS
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
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
        "output_offset": integer(I32_MIN, I32_MAX, **OFFSET),
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
            "output_type": choice(("int8", "uint8")),
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
]
EXEMPT: dict[str, str] = {}
