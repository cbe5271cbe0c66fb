"""Registry: ``refquant.interop.onnx_integer`` (MatMulInteger, QLinearMatMul, ORT's QGemm).

The namespace prefix ``onnx_integer`` maps to ``refquant.interop.onnx_integer``
(``tests/hostile/api.py``: ``SHORT`` and ``NAMESPACES``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.interop.onnx_integer import OVERFLOW, REQUANTIZE
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    choice,
    codes,
    flag,
    real,
    scale,
    zero_point,
)

F32, U8, I8 = np.float32, np.uint8, np.int8


def _a() -> np.ndarray:
    return np.array([[3, 200, 17], [255, 0, 9]], U8)


def _b() -> np.ndarray:
    return np.array([[1, -7], [127, -128], [0, 5]], I8)


def _square_a() -> np.ndarray:
    return np.array([[3, 200, 17], [255, 0, 9], [1, 2, 250]], U8)


def _square_b() -> np.ndarray:
    return np.array([[1, -7, 0], [127, -128, 3], [0, 5, -1]], I8)


# a and b: NumPy int8/uint8 arrays of rank >= 1; their dtype is the ONNX type. Every other integer
# dtype, floats, bools, Python numbers and lists raise TypeError; a 0-d array raises ValueError.
OPERAND: dict[str, str] = {
    **{
        f"{t} {e} ({v})": REJECT
        for t, e, v in [
            ("int64", "max", 2**63 - 1),
            ("int64", "min", -(2**63)),
            ("uint64", "max", 2**64 - 1),
            ("uint64", "min", 0),
            ("int32", "max", 2**31 - 1),
            ("int32", "min", -(2**31)),
        ]
    },
    **{f"{t} {e} ({v})": ACCEPT for t, e, v in [("int8", "max", 127), ("int8", "min", -128)]},
    **{f"uint8 {e} ({v})": ACCEPT for e, v in [("max", 255), ("min", 0)]},
    "float codes (integral)": REJECT,
    "bool codes": REJECT,
    "empty": ACCEPT,
    "0-d": REJECT,
    "Python int": REJECT,
    "Python list": REJECT,
}
# b: an empty b has K = 0 rows, a K mismatch with a; as uint8 it clashes with the base b_zero_point -1
OPERAND_B = {**OPERAND, "empty": EITHER, "uint8 max (255)": EITHER, "uint8 min (0)": EITHER}
# a_zero_point / b_zero_point: Python ints (and integral floats) in the operand's range, or NumPy arrays of
# the operand's dtype; None is 0; a NumPy integer of another dtype (np.int64) raises TypeError
ZP = {"None": ACCEPT, "integral float": ACCEPT, "np.int64 min": REJECT, "np.int64 max": REJECT}
# y_zero_point: its NumPy dtype (int8/uint8) is the output type, so Python values raise TypeError
YZP = {"None": REJECT, "integral float": REJECT, "np.int64 min": REJECT, "np.int64 max": REJECT}
# scales: finite and > 0 after rounding to float32 (float16 kept); per tensor here. A float16 scale
# beside float32 ones raises (one type TS); bools raise
SCALE = {
    "5e-324": REJECT,
    "1e-45": ACCEPT,
    "1e-40": ACCEPT,
    "3e+38": ACCEPT,
    "1.7e+308": REJECT,
    "float16 0.1": REJECT,
    "True": REJECT,
    "1-element list": ACCEPT,
    "1-element array": ACCEPT,
}
# ONNX Runtime's arithmetic needs a finite, non-zero float32 multiplier: extreme scales may raise
SCALE_ORT = {**SCALE, "1e-45": EITHER, "1e-40": EITHER, "3e+38": EITHER, "float32 smallest normal": EITHER,
             "1e-30": EITHER, "1e+30": EITHER}  # fmt: skip


def _shape(kw: dict[str, Any]) -> Any:
    try:
        return np.matmul(np.zeros(np.shape(kw["a"])), np.zeros(np.shape(kw["b"]))).shape
    except ValueError:
        return None


def _qgemm_shape(kw: dict[str, Any]) -> Any:
    a, b = np.shape(kw["a"]), np.shape(kw["b"])
    if len(a) != 2 or len(b) != 2:
        return None
    return (a[1] if kw.get("trans_a") is True else a[0], b[0] if kw.get("trans_b") is True else b[1])


def _y_dtype(kw: dict[str, Any]) -> Any:
    zp = kw.get("y_zero_point")
    return zp.dtype if isinstance(zp, (np.ndarray, np.generic)) else None


def _qlm_base() -> dict[str, Any]:
    return dict(a=_a(), a_scale=F32(0.02), a_zero_point=3, b=_b(), b_scale=F32(0.01), b_zero_point=-1,
                y_scale=F32(0.3), y_zero_point=U8(128))  # fmt: skip


def _qgemm_base() -> dict[str, Any]:
    return {**_qlm_base(), "a": _square_a(), "b": _square_b(), "c": np.array([5, -9, 1], np.int32)}


QLM_ARGS = {
    "a": codes(**OPERAND),
    "a_scale": scale(**SCALE),
    "a_zero_point": zero_point(0, 255, **ZP),
    "b": codes(**OPERAND_B),
    "b_scale": scale(**SCALE),
    "b_zero_point": zero_point(-128, 127, **ZP),
    "y_scale": scale(**SCALE),
    "y_zero_point": zero_point(0, 255, **YZP),
    "overflow": choice(OVERFLOW),
}
PER_COLUMN = Combo(
    "per-column b_scale and b_zero_point",
    {"b_scale": lambda: np.array([0.01, 0.3], F32), "b_zero_point": lambda: np.array([-1, 4], I8)},
    ACCEPT,
)
PER_COLUMN_3 = Combo(
    "per-column b_scale and b_zero_point (N = 3)",
    {"b_scale": lambda: np.array([0.01, 0.3, 2.0], F32), "b_zero_point": lambda: np.array([-1, 4, 0], I8)},
    ACCEPT,
)
SHAPES_DIFFER = Combo(
    "b_scale per column, b_zero_point per tensor (broadcast separately, as ORT and onnx.reference)",
    {"b_scale": lambda: np.array([0.01, 0.3], F32)},
    ACCEPT,
)
K_MISMATCH = Combo("K mismatch", {"b": lambda: np.zeros((4, 2), I8)}, REJECT, ("a", "b"), ("(4, 2)",))
BATCHED = Combo(
    "batched a (2, 2, 3) with b (3, 2)",
    {"a": lambda: np.stack([_a(), _a()[::-1]])},
    ACCEPT,
)

ENTRIES: list[Entry] = [
    Entry(
        "onnx_integer:matmul_integer",
        lambda: dict(a=_a(), b=_b(), a_zero_point=None, b_zero_point=None),
        {
            "a": codes(**OPERAND),
            "b": codes(**{**OPERAND, "empty": EITHER}),
            "a_zero_point": zero_point(0, 255, **ZP),
            "b_zero_point": zero_point(-128, 127, **ZP),
            "overflow": choice(OVERFLOW),
        },
        dtype=lambda kw: np.dtype(np.int32),
        shape=_shape,
        extra=[
            Combo("per-row a_zero_point (M,)", {"a_zero_point": lambda: np.array([3, 250], U8)}, ACCEPT),
            Combo(
                "per-row a_zero_point (M, 1)", {"a_zero_point": lambda: np.array([[3], [250]], U8)}, ACCEPT
            ),
            Combo(
                "per-column b_zero_point (1, N)", {"b_zero_point": lambda: np.array([[1, -1]], I8)}, ACCEPT
            ),
            Combo(
                "zero point of another type", {"a_zero_point": I8(3)}, REJECT, ("a_zero_point",), ("int8",)
            ),
            Combo("1-D a and b", {"a": lambda: _a()[0], "b": lambda: _b()[:, 0]}, ACCEPT),
            Combo(
                "int32 overflow, raise",
                {
                    "a": lambda: np.full((1, 70000), 255, U8),
                    "b": lambda: np.full((70000, 1), -128, I8),
                    "overflow": "raise",
                },
                REJECT,
                ("int32",),
                ("-2284800000",),
            ),
            Combo(
                "int32 overflow, wrap (documented: modulo 2**32)",
                {"a": lambda: np.full((1, 70000), 255, U8), "b": lambda: np.full((70000, 1), -128, I8)},
                ACCEPT,
            ),
            K_MISMATCH,
            BATCHED,
        ],
        contract="ONNX MatMulInteger; int32, wraps modulo 2**32 (or overflow='raise')",
    ),
    Entry(
        "onnx_integer:qlinear_matmul",
        _qlm_base,
        {**QLM_ARGS, "requantize": choice(REQUANTIZE)},
        dtype=_y_dtype,
        shape=_shape,
        extra=[
            PER_COLUMN,
            SHAPES_DIFFER,
            K_MISMATCH,
            BATCHED,
            Combo(
                "float16 scales",
                {"a_scale": np.float16(0.02), "b_scale": np.float16(0.01), "y_scale": np.float16(0.3)},
                ACCEPT,
            ),
            Combo(
                "per-row a_scale (M, 1)",
                {
                    "a_scale": lambda: np.array([[0.02], [0.5]], F32),
                    "a_zero_point": lambda: np.array([[3], [0]], U8),
                },
                ACCEPT,
            ),
            Combo("y_scale per column", {"y_scale": lambda: np.array([0.3, 0.1], F32)}, REJECT, ("y_scale",)),
        ],
        contract="ONNX QLinearMatMul, exact real arithmetic (requantize='spec')",
    ),
    Entry(
        "onnx_integer:qlinear_matmul",
        lambda: {**_qlm_base(), "requantize": "onnxruntime"},
        {
            **{k: v for k, v in QLM_ARGS.items() if "scale" not in k},
            **{k: scale(**SCALE_ORT) for k in ("a_scale", "b_scale", "y_scale")},
        },
        variant="onnxruntime",
        dtype=_y_dtype,
        shape=_shape,
        extra=[PER_COLUMN, SHAPES_DIFFER],
        contract="ONNX Runtime's float32 requantization; a multiplier of 0 or inf in float32 raises",
    ),
    Entry(
        "onnx_integer:qgemm",
        _qgemm_base,
        {
            **QLM_ARGS,
            "alpha": real(None, None, **{"True": REJECT, "0-d array": REJECT, "1e300": REJECT}),
            "trans_a": flag(),
            "trans_b": flag(),
            "requantize": choice(("spec", "onnxruntime")),
        },
        dtype=_y_dtype,
        shape=_qgemm_shape,
        extra=[
            PER_COLUMN_3,
            Combo("float output", {"y_scale": None, "y_zero_point": None}, ACCEPT),
            Combo(
                "y_scale without y_zero_point", {"y_zero_point": None}, REJECT, ("y_scale", "y_zero_point")
            ),
            Combo("bias int64", {"c": lambda: np.array([5, -9, 1])}, REJECT, ("c",)),
            Combo("bias (M, 1)", {"c": lambda: np.array([[5], [-9], [0]], np.int32)}, ACCEPT),
            Combo("bias (2,)", {"c": lambda: np.array([5, -9], np.int32)}, REJECT, ("c",), ("(2,)",)),
            Combo("3-D a", {"a": lambda: np.stack([_square_a()] * 2)}, REJECT, ("a", "b"), ("2-D",)),
            Combo("negative alpha", {"alpha": -1.5}, ACCEPT),
        ],
        contract="ORT QGemm (com.microsoft), exact (requantize='spec'); float32 output without y_scale",
    ),
]
EXEMPT: dict[str, str] = {}
