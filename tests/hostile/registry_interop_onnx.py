"""Registry: other systems' semantics: ``refquant.interop.onnx``."""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.interop.onnx import CAST_TYPES, FLOAT_TYPES
from tests.hostile import refs
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    axis,
    choice,
    codes,
    flag,
    scale,
    zero_point,
)
from tests.hostile.registry_core import X_POLICY, shape_of
from tests.hostile.registry_interop import x23

# ------------------------------------------------------------------------------------------- ONNX


ONNX_ZP = {
    "None": ACCEPT,
    "range max + 1": EITHER,
    "range min - 1": EITHER,
    "np.int64 min": EITHER,
    "np.int64 max": EITHER,
}  # the zero point's dtype is the output type (an ONNX quantized type)


def _onnx_dtype_q(kw: dict[str, Any]) -> Any:
    if kw.get("output_dtype") is not None:
        return None
    zp = kw.get("y_zero_point")
    return np.asarray(zp).dtype if zp is not None else np.dtype(np.uint8)


def _onnx_dtype_dq(kw: dict[str, Any]) -> Any:
    s = kw["x_scale"]
    return (
        s.dtype if isinstance(s, (np.ndarray, np.generic)) and s.dtype.kind == "f" else np.dtype(np.float32)
    )


ENTRIES: list[Entry] = [
    Entry(
        "onnx:quantize_linear",
        lambda: dict(x=x23(), y_scale=np.float32(0.1), y_zero_point=np.uint8(3)),
        {
            "x": array(nan=ACCEPT, **X_POLICY),
            "y_scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
            "y_zero_point": zero_point(0, 255, **ONNX_ZP),
            "output_dtype": choice(
                ("uint8", "int8", "uint16", "int16", "uint4", "int4", "uint2", "int2"), **{"None": ACCEPT}
            ),
            "saturate": flag(),
        },
        dtype=_onnx_dtype_q,
        shape=shape_of("x"),
        reference=refs.onnx_quantize_linear,
        extra=[
            Combo("float16 scale (division in float16)", {"y_scale": lambda: np.float16(0.1)}, ACCEPT),
            Combo(
                "float16 scale, x/s overflows float16",
                {"y_scale": lambda: np.array(1e-7, np.float16), "x": lambda: x23() * 1000},
                EITHER,
                ("y_scale",),
                (),
            ),
            Combo(
                "per-axis",
                {
                    "y_scale": lambda: np.array([0.1, 0.2], np.float32),
                    "y_zero_point": lambda: np.array([3, 0], np.uint8),
                    "axis": 0,
                },
                ACCEPT,
            ),
            Combo(
                "blocked, block_size=10**5",
                {
                    "y_scale": lambda: np.full((2, 1), 0.1, np.float32),
                    "y_zero_point": lambda: np.full((2, 1), 3, np.uint8),
                    "axis": 1,
                    "block_size": 10**5,
                },
                ACCEPT,
            ),
            Combo(
                "block_size=-1",
                {
                    "y_scale": lambda: np.full((2, 1), 0.1, np.float32),
                    "axis": 1,
                    "block_size": -1,
                    "y_zero_point": None,
                },
                REJECT,
                ("block_size",),
                ("-1",),
            ),
            Combo(
                "subnormal float32 scale, x = 1e-40",
                {"y_scale": lambda: np.float32(1e-40), "x": lambda: np.full((2, 3), 1e-40, np.float32)},
                ACCEPT,
            ),
            Combo("int32 x", {"x": lambda: np.array([[1, -2, 300], [4, 5, 6]], np.int32)}, ACCEPT),
            *[
                Combo(
                    f"float output {t}",
                    {"output_dtype": t, "y_zero_point": lambda: np.uint8(0), "x": lambda: x23() * 1e4},
                    ACCEPT,
                    finite_in=False,
                )
                for t in FLOAT_TYPES
            ],
            Combo(
                "float output, no saturation",
                {
                    "output_dtype": "float8e5m2",
                    "y_zero_point": None,
                    "saturate": False,
                    "x": lambda: x23() * 1e6,
                },
                ACCEPT,
                finite_in=False,
            ),
            Combo(
                "float output, nonzero zero point code",
                {"output_dtype": "float8e4m3fn", "y_zero_point": lambda: np.uint8(0x38)},
                REJECT,
                ("y_zero_point",),
                ("1.0",),
            ),
            Combo(
                "float zero point code beyond float4",
                {"output_dtype": "float4e2m1", "y_zero_point": lambda: np.uint8(16)},
                REJECT,
                ("y_zero_point",),
                ("16",),
            ),
        ],
        contract="ONNX QuantizeLinear; division in the scale's dtype; NaN -> qmin; saturate",
    ),
    Entry(
        "onnx:dequantize_linear",
        lambda: dict(
            x=np.array([[0, 3, 255], [7, 128, 1]], np.uint8),
            x_scale=np.float32(0.1),
            x_zero_point=np.uint8(3),
        ),
        {
            "x": codes(
                **{
                    "empty": ACCEPT,
                    "0-d": ACCEPT,
                    "scalar": EITHER,
                    "Python list": EITHER,
                    "bool codes": EITHER,
                }
            ),
            "x_scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
            "x_zero_point": zero_point(0, 255, **ONNX_ZP),
            "axis": axis(2, **{"ndim": EITHER, "-ndim - 1": EITHER, "2**63": EITHER}),
        },
        dtype=_onnx_dtype_dq,
        shape=shape_of("x"),
        reference=refs.onnx_dequantize_linear,
        extra=[
            Combo(
                "int32 codes near the limits",
                {"x": lambda: np.array([2**31 - 1, -(2**31), 0], np.int32), "x_zero_point": None},
                ACCEPT,
            ),
            Combo(
                "float16 scale, product beyond float16 (documented inf)",
                {"x_scale": lambda: np.float16(1000.0)},
                EITHER,
                ("x_scale", "x"),
                ("1e+03", "1000"),
                finite_in=False,
            ),
            *[
                Combo(
                    f"{t} codes",
                    {
                        "x": lambda: np.array([[0, 1, 7], [8, 9, 15]], np.uint8),
                        "x_type": t,
                        "x_zero_point": None,
                    },
                    ACCEPT,
                    finite_in=False,
                    reference=False,  # checked against onnx.reference in tests/conformance
                )
                for t in FLOAT_TYPES
            ],
            Combo(
                "float8 codes with NaN and inf codes",
                {
                    "x": lambda: np.array([[0x7F, 0x7C, 0xFC], [0, 1, 0x80]], np.uint8),
                    "x_type": "float8e5m2",
                    "x_zero_point": None,
                },
                ACCEPT,
                finite_in=False,
                reference=False,
            ),
            Combo(
                "float4 code 16",
                {"x": lambda: np.array([[16, 0, 1], [2, 3, 4]], np.uint8), "x_type": "float4e2m1"},
                REJECT,
                ("x",),
                ("16",),
            ),
            Combo("unknown x_type", {"x_type": "float8e4m3"}, REJECT, ("x_type",), ("float8e4m3",)),
            Combo(
                "zero point dtype differs from x",
                {"x_zero_point": np.int8(3)},
                REJECT,
                ("x_zero_point",),
                ("int8",),
            ),
        ],
        contract="ONNX DequantizeLinear; output dtype = scale dtype (float32 for Python floats)",
    ),
    Entry(
        "onnx:dynamic_quantize_linear",
        lambda: dict(x=x23()),
        {
            "x": array(
                nan=REJECT,
                inf=REJECT,
                **{
                    "all zeros": ACCEPT,
                    "empty": ACCEPT,
                    "0-d": ACCEPT,
                    "scalar": ACCEPT,
                    "Python list": ACCEPT,
                    "float16": EITHER,
                    "float64": EITHER,
                },
            )
        },
        dtype=lambda kw: {"[0]": np.dtype(np.uint8), "[1]": np.dtype(np.float32), "[2]": np.dtype(np.uint8)},
        extra=[
            Combo(
                "range overflows float32",
                {"x": lambda: np.array([-3e38, 3e38], np.float32)},
                REJECT,
                ("x",),
                ("3e+38", "inf"),
            ),
            Combo("subnormal range", {"x": lambda: np.array([0.0, 1e-45], np.float32)}, REJECT, ("x",), ()),
        ],
        contract="uint8 (y, scale, zero point); NaN/inf and overflowing ranges raise",
    ),
]


def _cast_dtype(kw: dict[str, Any]) -> Any:
    to = kw["to"]
    if to in ("float16", "float32", "float64"):
        return np.dtype(to)
    return np.dtype(np.float32) if to == "bfloat16" else np.dtype(np.uint8)


def _cast_entry(to: str) -> Entry:
    return Entry(
        "onnx:cast",
        lambda: dict(x=x23(), to=to),
        {
            "x": array(nan=ACCEPT, **X_POLICY),
            "to": choice(CAST_TYPES),
            "saturate": flag(),
            "round_mode": choice(("up", "down", "nearest")),
            "x_type": choice(
                FLOAT_TYPES, **{"None": ACCEPT}, **{repr(t): REJECT for t in FLOAT_TYPES}
            ),  # float x
        },
        variant=to,
        dtype=_cast_dtype,
        shape=shape_of("x"),
        finite=False,  # documented: NaN/inf codes and float16 inf on overflow are the contract
        extra=[
            Combo(
                "float8 codes in",
                {
                    "x": lambda: np.array([[0, 0x38, 0x7F], [0x80, 1, 0xFE]], np.uint8),
                    "x_type": "float8e4m3fn",
                },
                ACCEPT,
                finite_in=False,
            ),
            Combo(
                "float4 code 16 in",
                {"x": lambda: np.array([[16, 0, 1], [2, 3, 4]], np.uint8), "x_type": "float4e2m1"},
                REJECT,
                ("x",),
                ("16",),
            ),
            Combo("float x with x_type", {"x_type": "float8e4m3fn"}, REJECT, ("x",), ("float",)),
            Combo("e8m0 round down", {"to": "float8e8m0", "round_mode": "down"}, ACCEPT, finite_in=False),
            Combo("unknown to", {"to": "float8e4m3"}, REJECT, ("to",), ("float8e4m3",)),
            Combo("to not a name", {"to": 17}, REJECT, ("to",), ("17",)),
        ],
        contract="ONNX Cast: codes (uint8) for low-precision types, values for standard ones",
    )


ENTRIES += [
    _cast_entry(t)
    for t in ("float8e4m3fn", "float8e5m2fnuz", "float4e2m1", "float8e8m0", "float16", "bfloat16")
]


EXEMPT: dict[str, str] = {}
