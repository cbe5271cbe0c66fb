"""Registry: the gradient layer (``refquant.grad``: STE, LSQ, PACT, DoReFa, min-max normalization)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.exact import float_dtype_of
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    axis,
    choice,
    flag,
    float_dtype,
    integer,
    qrange,
    real,
    scale,
    zero_point,
)
from tests.hostile.registry_core import ROUNDING, X_POLICY, shape_of


def u23() -> np.ndarray:
    return np.array([[0.1, 0.25, 0.8], [0.5, 1.0, 0.0]], dtype=np.float32)


def w23() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3], [0.5, 2.0, -0.04]], dtype=np.float32)


def g23() -> np.ndarray:
    return np.array([[1.0, -0.5, 2.0], [0.25, 1.0, -1.0]], dtype=np.float32)


def fx(name: str) -> Any:
    """Every float output has the float dtype of argument ``name``."""
    return lambda kw: float_dtype_of(kw[name])


def first(name: str, path: str) -> Any:
    return lambda kw: {path: float_dtype_of(kw[name])}


NAN_OK = {"nan": ACCEPT, "inf": ACCEPT}
STRUCT_OK = {"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "int64": ACCEPT, "uint8": ACCEPT}
BITS = integer(1, 32)


ENTRIES: list[Entry] = [
    Entry(
        "grad:ste_vjp",
        lambda: dict(g=g23(), x=w23()),
        {"g": array(like="x", **NAN_OK), "x": array(**NAN_OK, **STRUCT_OK)},
        dtype=fx("x"),
        shape=shape_of("x"),
        contract="grad_x = g in x's float dtype",
    ),
    Entry(
        "grad:clipped_ste_vjp",
        lambda: dict(g=g23(), x=w23(), lo=-1.0, hi=1.0),
        {
            "g": array(like="x", **NAN_OK),
            "x": array(**NAN_OK, **STRUCT_OK),
            "lo": real(None, None, **{"-inf": EITHER, "list [0.5]": ACCEPT, "0-d array": ACCEPT}),
            "hi": real(None, None, **{"inf": EITHER, "list [0.5]": ACCEPT, "0-d array": ACCEPT}),
        },
        dtype=first("x", ".grad_x"),
        shape=shape_of("x"),
        extra=[Combo("lo > hi", {"lo": 1.0, "hi": -1.0}, REJECT, ("lo", "hi"), ("1.0", "-1.0"))],
        contract="g * [lo <= x <= hi]; NaN x gets 0",
    ),
    Entry(
        "grad:quantize_k",
        lambda: dict(r=u23(), bits=4),
        {"r": array(**NAN_OK, **STRUCT_OK, extreme=EITHER), "bits": BITS},
        dtype=fx("r"),
        shape=shape_of("r"),
        extra=[
            Combo(f"float16 r, bits={k}", {"r": lambda: u23().astype(np.float16), "bits": k}, ACCEPT)
            for k in (16, 24, 32)
        ],
        contract="round((2**k - 1) r) / (2**k - 1), r's float dtype, bits 1..32",
    ),
    Entry(
        "grad:dorefa_activation",
        lambda: dict(a=u23(), bits=4),
        {"a": array(**NAN_OK, **STRUCT_OK), "bits": BITS},
        dtype=fx("a"),
        shape=shape_of("a"),
        extra=[
            Combo(f"float16 a, bits={k}", {"a": lambda: u23().astype(np.float16), "bits": k}, ACCEPT)
            for k in (16, 24, 32)
        ],
        contract="quantize_k(clip(a, 0, 1)); NaN gives NaN",
    ),
    Entry(
        "grad:dorefa_activation_vjp",
        lambda: dict(g=g23(), a=u23(), bits=4),
        {"g": array(like="a", **NAN_OK), "a": array(**NAN_OK, **STRUCT_OK), "bits": BITS},
        dtype=fx("a"),
        shape=shape_of("a"),
        contract="g * [0 <= a <= 1]",
    ),
    Entry(
        "grad:dorefa_weight",
        lambda: dict(w=w23(), bits=4),
        {
            "w": array(
                nan=REJECT,
                inf=EITHER,
                **{"all zeros": REJECT, "empty": REJECT, "0-d": ACCEPT, "scalar": ACCEPT, "int64": ACCEPT},
            ),
            "bits": BITS,
        },
        dtype=fx("w"),
        shape=shape_of("w"),
        extra=[
            Combo(f"float16 w, bits={k}", {"w": lambda: w23().astype(np.float16), "bits": k}, ACCEPT)
            for k in (16, 24, 31)
        ]
        + [
            Combo("bits=1 (sign * mean|w|)", {"bits": 1}, ACCEPT),
            Combo("bits=32 (identity)", {"bits": 32}, ACCEPT),
            Combo(
                "NaN with bits=32 propagates",
                {"bits": 32, "w": lambda: np.array([np.nan, 1.0], np.float32)},
                ACCEPT,
                finite_in=False,
            ),
        ],
        contract="2 q_k(tanh w / (2 max|tanh w|) + 1/2) - 1; NaN / all-zero raise for bits 2..31",
    ),
    Entry(
        "grad:dorefa_weight_vjp",
        lambda: dict(g=g23(), w=w23(), bits=4),
        {
            "g": array(like="w", **NAN_OK),
            "w": array(nan=EITHER, **{"all zeros": EITHER, "empty": EITHER}),
            "bits": BITS,
            "through_max": flag(),
        },
        dtype=fx("w"),
        shape=shape_of("w"),
        extra=[
            Combo(
                f"float16 w, bits={k}",
                {"w": lambda: w23().astype(np.float16), "g": lambda: g23().astype(np.float16), "bits": k},
                ACCEPT,
            )
            for k in (8, 16)
        ],
        contract="grad_w in w's float dtype",
    ),
    Entry(
        "grad:pact",
        lambda: dict(x=w23(), alpha=2.0, bits=4),
        {"x": array(**NAN_OK, **STRUCT_OK, extreme=ACCEPT), "alpha": scale(np.float32), "bits": BITS},
        dtype=fx("x"),
        shape=shape_of("x"),
        extra=[
            Combo(f"float16 x, bits={k}", {"x": lambda: w23().astype(np.float16), "bits": k}, ACCEPT)
            for k in (16, 24, 32)
        ]
        + [Combo("alpha=1e-40 (subnormal in float32)", {"alpha": 1e-40}, EITHER, ("alpha",), ("1e-40",))],
        contract="clip(x, 0, alpha) quantized on [0, alpha] in x's dtype; alpha > 0; NaN gives NaN",
    ),
    Entry(
        "grad:pact_vjp",
        lambda: dict(g=g23(), x=w23(), alpha=2.0, bits=4),
        {
            "g": array(like="x", **NAN_OK),
            "x": array(**NAN_OK, **STRUCT_OK),
            "alpha": scale(np.float32),
            "bits": BITS,
        },
        dtype=first("x", ".grad_x"),
        shape=lambda kw: {".grad_x": np.shape(kw["x"]), ".grad_alpha": ()},
        contract="dx = g [0 <= x < alpha], d alpha = sum g [x >= alpha]",
    ),
    Entry(
        "grad:lsq_fake_quantize",
        lambda: dict(x=w23(), step=0.5, quant_min=-4, quant_max=3),
        {
            "x": array(**{**NAN_OK, "nan": EITHER}, **STRUCT_OK, extreme=ACCEPT),
            "step": scale(np.float32),
            "range": qrange(
                "quant_min",
                "quant_max",
                -4,
                3,
                **{"±2**53": EITHER, "±2**60": EITHER, "0 .. 2**53 + 1": EITHER},
            ),
            "offset": real(None, None),
        },
        dtype=fx("x"),
        shape=shape_of("x"),
        extra=[
            Combo("per-channel step", {"step": lambda: np.array([0.5, 0.25, 1.0]), "axis": 1}, ACCEPT),
            Combo(
                "per-channel step, bad axis",
                {"step": lambda: np.array([0.5, 0.25, 1.0]), "axis": 2},
                REJECT,
                ("axis",),
                ("2",),
            ),
            Combo(
                "step=1e-40 with x=1e-40",
                {"step": 1e-40, "x": lambda: np.full((2, 3), 1e-40, np.float32)},
                EITHER,
                ("step",),
                ("1e-40",),
            ),
        ],
        contract="s round(clip((x - beta)/s, qmin, qmax)) + beta; NaN gives NaN; step > 0",
    ),
    Entry(
        "grad:lsq_fake_quantize_vjp",
        lambda: dict(g=g23(), x=w23(), step=0.5, quant_min=-4, quant_max=3),
        {
            "g": array(like="x", **NAN_OK),
            "x": array(nan=REJECT, inf=EITHER, **STRUCT_OK),
            "step": scale(np.float32),
            "range": qrange(
                "quant_min",
                "quant_max",
                -4,
                3,
                **{"±2**53": EITHER, "±2**60": EITHER, "0 .. 2**53 + 1": EITHER},
            ),
            "grad_scale": real(0.0, None, lo_open=True, **{"None": ACCEPT, "lo": EITHER}),
        },
        dtype=fx("x"),
        shape=lambda kw: {".grad_x": np.shape(kw["x"]), ".grad_step": np.shape(kw["step"])},
        extra=[
            Combo("per-channel step", {"step": lambda: np.array([0.5, 0.25, 1.0]), "axis": 1}, ACCEPT),
            Combo(
                "quant_min == quant_max (its forward's range rule)",
                {"quant_min": 3, "quant_max": 3},
                REJECT,
                ("quant_min", "quant_max"),
                ("3",),
            ),
        ],
        contract="the vjps raise on NaN; grad_x and grad_step in x's dtype",
    ),
    Entry(
        "grad:lsq_plus_fake_quantize_vjp",
        lambda: dict(g=g23(), x=w23(), step=0.5, offset=-0.25, quant_min=0, quant_max=7),
        {
            "g": array(like="x", **NAN_OK),
            "x": array(nan=REJECT, inf=EITHER, **STRUCT_OK),
            "step": scale(np.float32),
            "offset": real(None, None),
            "range": qrange(
                "quant_min",
                "quant_max",
                0,
                7,
                **{"±2**53": EITHER, "±2**60": EITHER, "0 .. 2**53 + 1": EITHER},
            ),
            "grad_scale": real(0.0, None, lo_open=True, **{"None": ACCEPT, "lo": EITHER}),
        },
        dtype=fx("x"),
        shape=lambda kw: {".grad_x": np.shape(kw["x"]), ".grad_step": (), ".grad_offset": ()},
        contract="LSQ+ gradients in x's dtype; NaN raises",
    ),
    Entry(
        "grad:lsq_grad_scale",
        lambda: dict(n=100, quant_max=127),
        {"n": integer(1, None), "quant_max": integer(1, None)},
        contract="1 / sqrt(n * quant_max), n >= 1, quant_max >= 1",
        extra=[Combo("huge n * quant_max", {"n": 2**62, "quant_max": 2**62}, ACCEPT)],
    ),
    Entry(
        "grad:minmax_normalize",
        lambda: dict(x=w23()),
        {
            "x": array(
                nan=REJECT,
                inf=REJECT,
                extreme=EITHER,
                **{"all zeros": REJECT, "0-d": REJECT, "scalar": REJECT, "empty": EITHER},
            )
        },
        dtype=fx("x"),
        shape=shape_of("x"),
        extra=[
            Combo(
                "range overflows (±3e38 in float32)",
                {"x": lambda: np.array([-3e38, 0.0, 3e38], np.float32)},
                EITHER,
                ("x",),
                ("3e+38", "inf"),
            ),
            Combo("subnormal range", {"x": lambda: np.array([0.0, 1e-45, 2e-45], np.float32)}, ACCEPT),
        ],
        contract="(x - min) / (max - min) in [0, 1]; finite, non-constant x",
    ),
    Entry(
        "grad:minmax_normalize_vjp",
        lambda: dict(g=g23(), x=w23()),
        {
            "g": array(like="x", **NAN_OK),
            "x": array(
                nan=REJECT,
                inf=REJECT,
                extreme=EITHER,
                **{"all zeros": REJECT, "0-d": REJECT, "scalar": REJECT, "empty": EITHER},
            ),
            "through_range": flag(),
        },
        dtype=fx("x"),
        shape=lambda kw: {".grad_x": np.shape(kw["x"])},
        extra=[
            Combo(
                "range overflows (±3e38 in float32)",
                {"x": lambda: np.array([-3e38, 0.0, 3e38], np.float32), "g": lambda: np.ones(3, np.float32)},
                EITHER,
                ("x",),
                ("3e+38", "inf"),
            )
        ],
        contract="exact gradient of minmax_normalize; finite non-constant x",
    ),
]


def _fqvjp_base() -> dict[str, Any]:
    return dict(g=g23(), x=w23(), scale=0.1, zero_point=3, quant_min=-128, quant_max=127)


ENTRIES.append(
    Entry(
        "grad:fake_quantize_vjp",
        _fqvjp_base,
        {
            "g": array(like="x", **NAN_OK),
            "x": array(nan=EITHER, **X_POLICY),
            "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
            "zero_point": zero_point(-128, 127, **{"None": REJECT}),
            "range": qrange(
                "quant_min",
                "quant_max",
                -128,
                127,
                **{"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT},
            ),
            "estimator": choice(("identity", "clipped_float", "clipped_code")),
            "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),
            "op_order": choice(("divide", "multiply")),
            "compute_dtype": float_dtype(),
        },
        dtype=first("x", ".grad_x"),
        shape=shape_of("x"),
        extra=[
            Combo(
                "per-axis",
                {"scale": lambda: np.full(3, 0.1), "zero_point": lambda: np.full(3, 3), "axis": 1},
                ACCEPT,
            ),
            Combo(
                "quant_min == quant_max (its forward rejects)",
                {"quant_min": 3, "quant_max": 3},
                REJECT,
                ("quant_min", "quant_max"),
                ("3",),
            ),
            Combo(
                "float zero point 3.5 (its forward rejects)",
                {"zero_point": 3.5},
                REJECT,
                ("zero_point",),
                ("3.5",),
            ),
            Combo(
                "subnormal scale, multiply",
                {"scale": 1e-40, "op_order": "multiply", "x": lambda: np.full((2, 3), 1e-40, np.float32)},
                EITHER,
                ("scale",),
                ("1e-40",),
            ),
        ],
        contract="straight-through gradient of fake_quantize; its forward's validation; x's dtype",
    ),
)

_unused = axis

EXEMPT: dict[str, str] = {
    "grad:LSQGrads": "NamedTuple of the LSQ gradients (a plain container)",
    "grad:LSQPlusGrads": "NamedTuple of the LSQ+ gradients (a plain container)",
    "grad:MinMaxNormalizeGrad": "NamedTuple of one gradient (a plain container)",
    "grad:PACTGrads": "NamedTuple of the PACT gradients (a plain container)",
}
