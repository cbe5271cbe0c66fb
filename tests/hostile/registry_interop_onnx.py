"""Registry: other systems' semantics: ``refquant.interop.onnx``."""

from __future__ import annotations

from typing import Any

import numpy as np

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


EXEMPT: dict[str, str] = {}
