"""Registry: other systems' semantics: ``refquant.interop.torch``.

ONNX is in ``registry_interop_onnx.py``, TF and TF-MOT in ``registry_interop_tf.py``.
"""

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
    amount,
    array,
    axis,
    choice,
    flag,
    mask,
    qrange,
    real,
    scale,
    seq,
    zero_point,
)
from tests.hostile.registry_core import X_POLICY, shape_of

F32 = lambda kw: np.dtype(np.float32)  # noqa: E731
QDT = {"quint8": np.uint8, "qint8": np.int8, "qint32": np.int32}
NO_WIDE = {"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT}


def x23() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3], [0.5, 12.6, -0.04]], dtype=np.float32)


def x33() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3], [0.5, 12.6, -0.04], [2.5, -0.35, 7.0]], dtype=np.float32)


def g23() -> np.ndarray:
    return np.array([[1.0, -0.5, 2.0], [0.25, 1.0, -1.0]], np.float32)


def w34() -> np.ndarray:
    return np.array([[0.5, -0.1, 0.3, -0.7], [0.9, -0.2, 0.05, 0.4], [-0.6, 0.8, -0.15, 0.25]], np.float32)


def m34() -> np.ndarray:
    return np.array([[True, False, True, True], [True, True, True, False], [True, True, True, True]])


F32_ONLY = {
    "float16": EITHER,
    "float64": EITHER,
    "int64": EITHER,
    "uint8": EITHER,
    "Python list": EITHER,
    "0-d": ACCEPT,
    "scalar": EITHER,
}  # documented: array_like of float32
G_F32 = {k: v for k, v in F32_ONLY.items() if k not in ("0-d", "scalar")}  # a cotangent keeps input's shape
TORCH_X = array(
    nan=ACCEPT, **{**X_POLICY, **F32_ONLY}
)  # NaN and inf have documented results in every torch op
TORCH_SCALAR_SCALE = scale(**{"1-element list": EITHER, "1-element array": EITHER})
TORCH_ZP = zero_point(0, 255, **{"None": REJECT})
# torch forms fl(1/s) = inf for a subnormal float32 scale and saturates (x > 0 -> quant_max, x < 0 ->
# quant_min, x = 0 -> the NaN code); refquant mirrors it (interop.torch._checks docstring) and
# tests/conformance/test_torch_grad_conformance.py checks it against the real torch.
TORCH_SUBNORMAL = "interop.torch docstrings; real torch in tests/conformance/test_torch_grad_conformance.py"
SUBNORMAL = Combo(
    "subnormal scale 1e-40 with x = 1e-40 (x/s = 1; fl(1/s) = inf)",
    {"input": lambda: np.full((2, 3), 1e-40, np.float32), "scale": 1e-40},
    EITHER,
    ("scale",),
    ("1e-40",),
)


def _per_tensor(target: str, vjp: bool) -> Entry:
    def base() -> dict[str, Any]:
        kw: dict[str, Any] = dict(input=x23(), scale=0.1, zero_point=3, quant_min=0, quant_max=255)
        return {"grad": g23(), **kw} if vjp else kw

    args = {
        "input": TORCH_X,
        "scale": TORCH_SCALAR_SCALE,
        "zero_point": TORCH_ZP,
        "range": qrange("quant_min", "quant_max", 0, 255, **NO_WIDE),
    }
    if vjp:
        args = {"grad": array(like="input", nan=ACCEPT, inf=ACCEPT, **G_F32), **args}
    return Entry(
        target,
        base,
        args,
        dtype=F32 if not vjp else (lambda kw: {".grad_input": np.dtype(np.float32)}),
        shape=shape_of("input"),
        reference=None if vjp else refs.torch_fake_quantize_per_tensor,
        extra=[
            SUBNORMAL,
            Combo(
                "quant_min == quant_max (documented: refquant raises)",
                {"quant_min": 3, "quant_max": 3},
                REJECT,
                ("quant_min", "quant_max"),
                ("3",),
            ),
            Combo("zero_point=3.5", {"zero_point": 3.5}, REJECT, ("zero_point",), ("3.5",)),
            Combo("scale='0.1'", {"scale": "0.1"}, REJECT, ("scale",), ("'0.1'",)),
            Combo(
                "float64 input (documented float32 only)",
                {"input": lambda: x23().astype(np.float64)},
                EITHER,
                ("input",),
                ("float64",),
            ),
        ],
        contract="torch's per-tensor fake-quant in float32; z integral in range; qmin < qmax",
        mirrored={f"combo: {SUBNORMAL.label}": TORCH_SUBNORMAL},
    )


def _per_channel(target: str, vjp: bool, learnable: bool = False) -> Entry:
    def base() -> dict[str, Any]:
        kw: dict[str, Any] = dict(
            input=x33(),
            scale=np.array([0.1, 0.2, 0.05]),
            zero_point=np.array([3, 0, 128]) if not learnable else np.array([3.0, 0.0, 128.0]),
            axis=1,
            quant_min=0,
            quant_max=255,
        )
        return {"grad": x33()[::-1].copy(), **kw} if vjp else kw

    zp = zero_point(0, 255, shape=(3,), **{"None": REJECT})
    if learnable:
        zp = zero_point(
            0,
            255,
            shape=(3,),
            **{
                "3.5": ACCEPT,
                "-0.5": ACCEPT,
                "integral float": ACCEPT,
                "range max + 1": ACCEPT,
                "range min - 1": ACCEPT,
                "None": REJECT,
                "2**63": EITHER,
                "-2**63 - 1": EITHER,
                "uint64 max": EITHER,
            },
        )
    args = {
        "input": array(nan=ACCEPT, **{**X_POLICY, **F32_ONLY, "0-d": EITHER, "scalar": EITHER}),
        "scale": scale(shape=(3,)),
        "zero_point": zp,
        "axis": axis(2, **{"np.int64 0": ACCEPT, "-1": ACCEPT}),
        "range": qrange("quant_min", "quant_max", 0, 255, **NO_WIDE),
    }
    if vjp:
        args = {"grad": array(like="input", nan=ACCEPT, inf=ACCEPT, **G_F32), **args}
    out_dt: Any = F32 if not vjp else (lambda kw: np.dtype(np.float32))
    return Entry(
        target,
        base,
        args,
        dtype=out_dt,
        shape=shape_of("input") if not vjp else None,
        extra=[
            Combo(
                "quant_min == quant_max",
                {"quant_min": 3, "quant_max": 3},
                REJECT,
                ("quant_min", "quant_max"),
                ("3",),
            )
        ],
        contract="torch's per-channel op; (C,) scales and zero points",
    )


def _learnable_pt(target: str, vjp: bool) -> Entry:
    def base() -> dict[str, Any]:
        kw: dict[str, Any] = dict(
            input=x23(), scale=np.array([0.1]), zero_point=np.array([3.0]), quant_min=0, quant_max=255
        )
        return {"grad": g23(), **kw} if vjp else kw

    args = {
        "input": TORCH_X,
        "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
        "zero_point": zero_point(
            0,
            255,
            **{
                "3.5": ACCEPT,
                "-0.5": ACCEPT,
                "integral float": ACCEPT,
                "range max + 1": ACCEPT,
                "range min - 1": ACCEPT,
                "None": REJECT,
                "2**63": EITHER,
                "-2**63 - 1": EITHER,
                "uint64 max": EITHER,
            },
        ),
        "range": qrange("quant_min", "quant_max", 0, 255, **NO_WIDE),
        "grad_factor": real(None, None, **{"1e300": EITHER}),
    }
    if vjp:
        args = {"grad": array(like="input", nan=ACCEPT, inf=ACCEPT, **G_F32), **args}
    return Entry(
        target,
        base,
        args,
        dtype=F32,
        shape=shape_of("input") if not vjp else None,
        extra=[
            Combo(
                "quant_min == quant_max",
                {"quant_min": 3, "quant_max": 3},
                REJECT,
                ("quant_min", "quant_max"),
                ("3",),
            ),
            Combo(
                "subnormal scale",
                {"scale": lambda: np.array([1e-40]), "input": lambda: np.full((2, 3), 1e-40, np.float32)},
                EITHER,
                ("scale",),
                ("1e-40",),
            ),
        ],
        contract="learnable fake-quant: float zero point rounded and clamped; scale > 0",
    )


def _qpt_dtype(kw: dict[str, Any]) -> Any:
    return np.dtype(QDT[kw["dtype"]]) if kw.get("dtype") in QDT else None


ENTRIES: list[Entry] = [
    _per_tensor("torch:fake_quantize_per_tensor_affine", vjp=False),
    _per_tensor("torch:fake_quantize_per_tensor_affine_vjp", vjp=True),
    _per_channel("torch:fake_quantize_per_channel_affine", vjp=False),
    _per_channel("torch:fake_quantize_per_channel_affine_vjp", vjp=True),
    _per_channel("torch:learnable_fake_quantize_per_channel_affine", vjp=False, learnable=True),
    _per_channel("torch:learnable_fake_quantize_per_channel_affine_vjp", vjp=True, learnable=True),
    _learnable_pt("torch:learnable_fake_quantize_per_tensor_affine", vjp=False),
    _learnable_pt("torch:learnable_fake_quantize_per_tensor_affine_vjp", vjp=True),
    Entry(
        "torch:quantize_per_tensor",
        lambda: dict(input=x23(), scale=0.1, zero_point=3, dtype="quint8"),
        {
            "input": TORCH_X,
            "scale": TORCH_SCALAR_SCALE,
            "zero_point": TORCH_ZP,
            "dtype": choice(("quint8", "qint8", "qint32")),
        },
        dtype=_qpt_dtype,
        shape=shape_of("input"),
        reference=refs.torch_quantize_per_tensor,
        extra=[
            SUBNORMAL,
            Combo("zero_point=3.5 (torch truncates)", {"zero_point": 3.5}, REJECT, ("zero_point",), ("3.5",)),
            Combo("scale='0.1'", {"scale": "0.1"}, REJECT, ("scale",), ("'0.1'",)),
            Combo("scale=np.array([0.1])", {"scale": lambda: np.array([0.1])}, EITHER, ("scale",), ("(1,)",)),
            Combo(
                "qint32, |x/s| >= 2**31",
                {
                    "dtype": "qint32",
                    "zero_point": 0,
                    "scale": 1.0,
                    "input": lambda: np.array([3e9, -3e9, 2.0**31], np.float32),
                },
                ACCEPT,
            ),
            Combo(
                "qint8 with zero point 200",
                {"dtype": "qint8", "zero_point": 200},
                REJECT,
                ("zero_point",),
                ("200",),
            ),
        ],
        contract="torch.quantize_per_tensor codes; zero point an int in the dtype's range; scale a float > 0",
        mirrored={f"combo: {SUBNORMAL.label}": TORCH_SUBNORMAL},
    ),
    Entry(
        "torch:quantize_per_channel",
        lambda: dict(
            input=x33(),
            scales=np.array([0.1, 0.2, 0.05]),
            zero_points=np.array([3, 0, 128]),
            axis=1,
            dtype="quint8",
        ),
        {
            "input": array(nan=ACCEPT, **{**X_POLICY, **F32_ONLY, "0-d": EITHER, "scalar": EITHER}),
            "scales": scale(shape=(3,)),
            "zero_points": zero_point(0, 255, shape=(3,), **{"None": REJECT}),
            "axis": axis(2),
            "dtype": choice(("quint8", "qint8", "qint32")),
        },
        dtype=_qpt_dtype,
        shape=shape_of("input"),
    ),
    Entry(
        "torch:calculate_qparams",
        lambda: dict(min_val=-1.0, max_val=3.0),
        {
            "min_val": array(
                values=False, **{"0-d": ACCEPT, "scalar": ACCEPT, "Python list": ACCEPT, "empty": EITHER}
            ),
            "max_val": array(
                values=False, **{"0-d": ACCEPT, "scalar": ACCEPT, "Python list": ACCEPT, "empty": EITHER}
            ),
            "dtype": choice(("quint8", "qint8", "qint32")),
            "qscheme": choice(
                ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric")
            ),
            "reduce_range": flag(),
            "eps": real(0.0, None, lo_open=True, **{"1e300": EITHER}),
        },
        dtype=lambda kw: {"[0]": np.dtype(np.float32)},
        extra=[
            Combo(
                "±3e38", {"min_val": -3e38, "max_val": 3e38}, EITHER, ("min_val", "max_val"), ("3e+38", "inf")
            ),
            Combo(
                "0-d ±inf (an observer that saw nothing)",
                {"min_val": float("inf"), "max_val": float("-inf")},
                ACCEPT,
                finite_in=False,
            ),
            Combo("NaN range", {"min_val": float("nan")}, REJECT, ("min_val",), ("nan",), finite_in=False),
            Combo(
                "min > max",
                {"min_val": 3.0, "max_val": -1.0},
                REJECT,
                ("min_val", "max_val"),
                ("3.0", "-1.0", "3.", "-1."),
            ),
            Combo(
                "custom range without 0",
                {"quant_min": 5, "quant_max": 10},
                REJECT,
                ("quant_min", "quant_max"),
                ("5",),
            ),
            Combo("only quant_min", {"quant_min": 0}, REJECT, ("quant_min", "quant_max"), ()),
            Combo(
                "per-channel",
                {
                    "min_val": lambda: np.array([-1.0, 0.0]),
                    "max_val": lambda: np.array([1.0, 2.0]),
                    "qscheme": "per_channel_affine",
                },
                ACCEPT,
            ),
        ],
        contract="torch observers' qparams in float32",
    ),
    Entry(
        "torch:l1_unstructured_mask",
        lambda: dict(t=w34(), amount=0.5),
        {
            "t": array(nan=EITHER, inf=EITHER, **{"empty": ACCEPT, "Python list": ACCEPT}),
            "amount": amount(**{"True": REJECT, "0-d array 0.5": EITHER}),
            "importance_scores": array(like="t", seed=w34, nan=EITHER, inf=EITHER),
            "default_mask": mask(like="t", seed=m34),
            "iterative": flag(),
        },
        dtype=lambda kw: np.dtype(bool),
        shape=shape_of("t"),
        extra=[
            Combo(
                "empty t with a default mask",
                {"t": lambda: np.zeros((0, 4), np.float32), "default_mask": lambda: np.zeros((0, 4), bool)},
                ACCEPT,
            )
        ],
        contract="torch's L1Unstructured mask",
    ),
    Entry(
        "torch:ln_structured_mask",
        lambda: dict(t=w34(), amount=0.5, n=2, dim=0),
        {
            "t": array(nan=EITHER, inf=EITHER, **{"0-d": REJECT, "scalar": REJECT, "Python list": ACCEPT}),
            "amount": amount(**{"True": REJECT, "0-d array 0.5": EITHER}),
            "n": real(0.0, None, lo_open=True, inf_ok=True, **{"lo": ACCEPT, "-inf": ACCEPT}),
            "dim": axis(2),
            "importance_scores": array(like="t", seed=w34, nan=EITHER, inf=EITHER),
            "default_mask": mask(like="t", seed=m34),
            "iterative": flag(),
        },
        dtype=lambda kw: np.dtype(bool),
        shape=shape_of("t"),
        ok_exceptions={"dim": (IndexError,)},
        extra=[
            Combo("n='fro'", {"n": "fro"}, ACCEPT),
            Combo("n=-1", {"n": -1}, REJECT, ("n",), ("-1",)),
            Combo("huge weights (norm overflows)", {"t": lambda: w34() * 3e38}, ACCEPT),
        ],
        contract="torch's LnStructured mask; dim out of range raises IndexError (documented)",
    ),
    Entry(
        "torch:global_unstructured_masks",
        lambda: dict(tensors=[w34(), np.array([5.0, -0.2, 0.05], np.float32)], amount=3),
        {
            "tensors": seq(
                array(nan=EITHER, inf=EITHER, **{"empty": ACCEPT, "Python list": ACCEPT}), **{"[]": EITHER}
            ),
            "amount": amount(**{"True": REJECT, "0-d array 0.5": EITHER}),
        },
        dtype=lambda kw: np.dtype(bool),
        extra=[
            Combo(
                "importance_scores of the wrong length",
                {"importance_scores": lambda: [None]},
                REJECT,
                ("importance_scores",),
                ("1",),
            ),
            Combo(
                "default_masks of the wrong shape",
                {"default_masks": lambda: [np.ones((2, 2), bool), None]},
                REJECT,
                ("default_masks",),
                ("(2, 2)",),
            ),
        ],
        contract="torch's global_unstructured masks",
    ),
]


EXEMPT: dict[str, str] = {
    "torch:FakeQuantizeGrads": "NamedTuple of one gradient (a plain container)",
    "torch:LearnableFakeQuantizeGrads": "NamedTuple of three gradients (a plain container)",
}
