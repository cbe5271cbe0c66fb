"""Registry: the core (``refquant.__all__``): quantize, fake_quantize, dequantize.

Rounding, qparams and formats are in ``registry_qparams.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile import refs
from tests.hostile.exact import float_dtype_of
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Arg,
    Combo,
    Entry,
    amount,  # noqa: F401 - kept for symmetry with the other registries
    array,
    axis,
    block,
    choice,
    codes,
    float_dtype,
    generator,
    int_dtype,
    qrange,
    scale,
    zero_point,
)
from tests.hostile.harness import (
    refit as with_adjust,
)

ROUNDING = ("half_even", "half_away", "half_up", "half_down", "floor", "ceil", "trunc", "stochastic")


def x23() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3], [0.5, 12.6, -0.04]], dtype=np.float32)


def x33() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3], [0.5, 12.6, -0.04], [2.5, -0.35, 7.0]], dtype=np.float32)


def x24() -> np.ndarray:
    return np.array([[-1.0, 0.25, 0.3, 0.45], [0.5, 12.6, -0.04, -3.0]], dtype=np.float32)


def float_of(name: str) -> Any:
    return lambda kw: float_dtype_of(kw[name])


def shape_of(name: str) -> Any:
    return lambda kw: np.shape(kw[name])


# --- knob arguments shared by quantize / fake_quantize / fake_quantize_vjp

X_POLICY: dict[str, str] = {
    "inf": ACCEPT,  # documented: ±inf saturate
    "extreme": ACCEPT,  # values far outside the range saturate
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,  # "integer inputs are converted to float64"
    "uint8": ACCEPT,
    "all zeros": ACCEPT,
}


def knobs(rounding: bool = True, nan: bool = True, zp_add: bool = True) -> dict[str, Arg]:
    out: dict[str, Arg] = {}
    if rounding:
        out["rounding"] = choice(ROUNDING, **{"'stochastic'": REJECT})  # needs rng (documented)
    out["op_order"] = choice(("divide", "multiply"))
    out["compute_dtype"] = float_dtype()
    if zp_add:
        # "fused" needs op_order="multiply" (documented): rejected with the default divide
        out["zero_point_add"] = choice(
            ("exact", "after_rounding", "before_rounding", "fused"), **{"'fused'": REJECT}
        )
    if nan:
        out["nan"] = choice(("raise", "zero_point", "quant_min", "quant_max"))
    return out


def per_axis_adjust(kw: dict[str, Any]) -> None:
    """Refit per-axis parameters after ``axis`` changed (valid axes only)."""
    ax = kw.get("axis")
    x = np.asarray(kw["x"] if "x" in kw else kw["q"])
    if isinstance(ax, (int, np.integer)) and not isinstance(ax, bool) and -x.ndim <= ax < x.ndim:
        n = x.shape[ax]
        kw["scale"] = np.full(n, 0.1)
        kw["zero_point"] = np.full(n, 3)


def per_block_adjust(kw: dict[str, Any]) -> None:
    bs = kw.get("block_size")
    x = np.asarray(kw["x"] if "x" in kw else kw["q"])
    if isinstance(bs, (int, np.integer)) and not isinstance(bs, bool) and bs >= 1:
        shape = list(x.shape)
        shape[1] = -(-shape[1] // int(bs))
        kw["scale"] = np.full(shape, 0.1)
        kw["zero_point"] = np.full(shape, 3)


def quant_entries(target: str, reference: Any, dtype: Any, *, fake: bool) -> list[Entry]:
    common_x = array(nan=REJECT, **X_POLICY)
    extra_common = [
        Combo(
            "subnormal scale 1e-40, op_order='multiply', x=1e-40 (x/s = 1)",
            {"x": lambda: np.full((2, 3), 1e-40, np.float32), "scale": 1e-40, "op_order": "multiply"},
            EITHER,
            ("scale",),
            ("1e-40",),
        ),
        Combo(
            "subnormal scale 1e-40, op_order='multiply', x with zeros (0 * fl(1/s) = 0 * inf)",
            {
                "x": lambda: np.array([[0.0, -0.0, 1e-40], [2e-40, 0.0, -1e-40]], np.float32),
                "scale": 1e-40,
                "op_order": "multiply",
            },
            EITHER,
            ("scale",),
            ("1e-40",),
        ),
        Combo(
            "subnormal scale 1e-40, op_order='divide', x=1e-40",
            {"x": lambda: np.full((2, 3), 1e-40, np.float32), "scale": 1e-40},
            ACCEPT,
        ),
        Combo(
            "x float64, compute_dtype float16, large codes",
            {
                "x": lambda: np.array([[1000.0, -1000.0, 65000.0], [1.0, 2.0, 3.0]]),
                "scale": 1.0,
                "zero_point": 0,
                "quant_min": -(2**31),
                "quant_max": 2**31 - 1,
                "compute_dtype": np.float16,
            },
            EITHER,
            ("compute_dtype", "x", "scale"),
            (),
        ),
        Combo(
            "x float64 beyond float16, compute_dtype float16 ((q - z) s formed in float16)",
            {
                "x": lambda: np.array([[7e4, -1e5, 3.0], [1.0, 2.0, 3.0]]),
                "scale": 1.0,
                "zero_point": 0,
                "quant_min": -(2**31),
                "quant_max": 2**31 - 1,
                "compute_dtype": np.float16,
            },
            EITHER,
            ("compute_dtype", "x", "scale"),
            (),
        ),
        Combo(
            "|x/s| >= 2**31 in an int32 range",
            {
                "x": lambda: np.array([[3e9, -3e9, 2.0**31], [-(2.0**31), 2.0**31 - 128, 1.0]], np.float32),
                "scale": 1.0,
                "zero_point": 0,
                "quant_min": -(2**31),
                "quant_max": 2**31 - 1,
            },
            ACCEPT,
        ),
        Combo(
            "int64 range near 2**53 (float64 x)",
            {
                "x": lambda: np.array([[2.0**52, -(2.0**52), 1.5], [2.0**52 + 1, 3.0, -2.5]]),
                "scale": 1.0,
                "zero_point": 0,
                "quant_min": -(2**52),
                "quant_max": 2**52,
            },
            ACCEPT,
        ),
        Combo(
            "stochastic rounding with an rng",
            {"rounding": "stochastic", "rng": lambda: np.random.default_rng(5)},
            ACCEPT,
        ),
        Combo(
            "zero_point_add='fused', op_order='multiply'",
            {"zero_point_add": "fused", "op_order": "multiply"},
            ACCEPT,
        ),
        Combo(
            "zero_point_add='fused', op_order='multiply', compute_dtype=float64 (documented invalid)",
            {"zero_point_add": "fused", "op_order": "multiply", "compute_dtype": np.float64},
            REJECT,
            ("zero_point_add", "compute_dtype"),
            ("fused", "float64"),
        ),
        Combo(
            "NaN in x with nan='zero_point'",
            {
                "x": lambda: np.array([[np.nan, 1.0, -np.nan], [0.5, np.inf, -np.inf]], np.float32),
                "nan": "zero_point",
            },
            ACCEPT,
            finite_in=False,
        ),
        Combo(
            "NaN in x with nan='quant_max'",
            {"x": lambda: np.array([[np.nan, 1.0, 2.0], [0.5, 0.1, -0.1]], np.float32), "nan": "quant_max"},
            ACCEPT,
            finite_in=False,
        ),
        Combo(
            "float16 x, tiny scale (x/s overflows float16)",
            {"x": lambda: np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -0.0]], np.float16), "scale": 1e-7},
            EITHER,
            ("scale", "x", "compute_dtype"),
            (),
        ),
        Combo(
            "ties with an odd zero point, before_rounding",
            {
                "x": lambda: np.array([[-7.65, 0.05, 0.15], [0.25, -0.05, 1.25]], np.float32),
                "zero_point": 77,
                "zero_point_add": "before_rounding",
                "quant_min": 0,
                "quant_max": 255,
            },
            ACCEPT,
        ),
        Combo("uint64 full range", {"quant_min": 0, "quant_max": 2**64 - 1}, REJECT, ("quant_max",), ()),
    ]
    base_t = lambda: dict(x=x23(), scale=0.1, zero_point=3, quant_min=-128, quant_max=127)  # noqa: E731
    args_t: dict[str, Arg] = {
        "x": common_x,
        "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
        "zero_point": zero_point(-128, 127, **{"None": REJECT}),
        "range": qrange(
            "quant_min",
            "quant_max",
            -128,
            127,
            **{"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT},
        ),
        **knobs(),
        "rng": generator(**{"None": ACCEPT, "RandomState": EITHER, "int seed 0": EITHER, "str": EITHER}),
    }
    if not fake:
        args_t["out_dtype"] = int_dtype(**{"uint8 (too small?)": REJECT})
    entries = [
        Entry(
            target,
            base_t,
            args_t,
            variant="per-tensor",
            dtype=dtype,
            shape=shape_of("x"),
            reference=reference,
            extra=extra_common,
            contract="NaN in x raises unless nan=...; ±inf saturate; scale finite > 0 (also rounded to "
            "the compute dtype); zero point integral in range; exact codes",
        )
    ]
    base_a = lambda: dict(  # noqa: E731
        x=x33(),
        scale=np.full(3, 0.1),
        zero_point=np.full(3, 3),
        quant_min=-128,
        quant_max=127,
        axis=1,
    )
    args_a: dict[str, Arg] = {
        "x": array(nan=REJECT, **{**X_POLICY, "0-d": EITHER, "scalar": EITHER}),
        "scale": scale(shape=(3,)),
        "zero_point": zero_point(-128, 127, shape=(3,), **{"None": REJECT}),
        "axis": with_adjust(axis(2), per_axis_adjust),
    }
    entries.append(
        Entry(
            target, base_a, args_a, variant="per-axis", dtype=dtype, shape=shape_of("x"), reference=reference
        )
    )
    base_b = lambda: dict(  # noqa: E731
        x=x24(),
        scale=np.full((2, 2), 0.1),
        zero_point=np.full((2, 2), 3),
        quant_min=-128,
        quant_max=127,
        axis=1,
        block_size=2,
    )
    args_b: dict[str, Arg] = {
        "x": array(nan=REJECT, structure=False, dtypes=False, **X_POLICY),
        "scale": scale(shape=(2, 2)),
        "block_size": with_adjust(block(4), per_block_adjust),
    }
    entries.append(
        Entry(
            target,
            base_b,
            args_b,
            variant="per-block",
            dtype=dtype,
            shape=shape_of("x"),
            reference=reference,
            extra=[
                Combo(
                    "block_size=10**5 on a (2, 4) input",
                    {
                        "block_size": 10**5,
                        "scale": lambda: np.full((2, 1), 0.1),
                        "zero_point": lambda: np.full((2, 1), 3),
                    },
                    ACCEPT,
                )
            ],
        )
    )
    return entries


def _quantize_dtype(kw: dict[str, Any]) -> Any:
    if kw.get("out_dtype") is not None:
        return np.dtype(kw["out_dtype"])
    return refs.storage(int(kw["quant_min"]), int(kw["quant_max"]))


def _deq_entries() -> list[Entry]:
    q = lambda: np.array([[0, 3, 255], [7, 128, 1]], dtype=np.uint8)  # noqa: E731
    extra = [
        Combo(
            "int64 codes near the limits, zero point -1 (q - z overflows int64)",
            {
                "q": lambda: np.array([[2**63 - 1, -(2**63), 0], [1, 2, 3]], np.int64),
                "zero_point": -1,
                "dtype": np.float64,
            },
            EITHER,
            ("q", "zero_point"),
            (),
        ),
        Combo(
            "uint64 codes near the limit",
            {
                "q": lambda: np.array([[2**64 - 1, 2**63, 0], [1, 2, 3]], np.uint64),
                "zero_point": 0,
                "dtype": np.float64,
            },
            ACCEPT,
        ),
        Combo(
            "int64 codes, zero point 2**62, float64",
            {
                "q": lambda: np.array([[-(2**62), 2**62, 0], [1, 2, 3]], np.int64),
                "zero_point": 2**62,
                "dtype": np.float64,
            },
            ACCEPT,
        ),
        Combo(
            "float16 output, codes*scale within float16 range",
            {
                "q": lambda: np.array([[-32768, 32767, 0], [1, 2, 3]], np.int16),
                "zero_point": 0,
                "scale": 1.5,
                "dtype": np.float16,
            },
            ACCEPT,
        ),
        Combo(
            "float16 output, product beyond float16",
            {
                "q": lambda: np.array([[-32768, 32767, 0], [1, 2, 3]], np.int16),
                "zero_point": 0,
                "scale": 4.0,
                "dtype": np.float16,
            },
            EITHER,
            ("q", "scale", "dtype"),
            (),
        ),
        Combo(
            "int32 codes, float32 output (rounded once)",
            {
                "q": lambda: np.array([[2**31 - 1, -(2**31), 16777217], [1, 2, 3]], np.int32),
                "zero_point": 0,
                "scale": 1.0,
            },
            ACCEPT,
        ),
    ]
    base = lambda: dict(q=q(), scale=0.1, zero_point=3)  # noqa: E731
    args = {
        "q": codes(**{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": EITHER}),
        "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
        "zero_point": zero_point(
            0, 255, **{"range max + 1": ACCEPT, "range min - 1": ACCEPT, "2**63": REJECT, "None": REJECT}
        ),
        "dtype": float_dtype(**{"float16": ACCEPT}),
    }
    e = [
        Entry(
            "refquant:dequantize",
            base,
            args,
            variant="per-tensor",
            dtype=lambda kw: np.dtype(kw.get("dtype", "f4")),
            shape=shape_of("q"),
            reference=refs.dequantize,
            extra=extra,
            contract="(q - z) * s exactly in int64 then one rounding; scale finite > 0",
        )
    ]
    base_a = lambda: dict(  # noqa: E731
        q=np.array([[0, 3, 255], [7, 128, 1], [4, 5, 6]], np.uint8),
        scale=np.full(3, 0.1),
        zero_point=np.full(3, 3),
        axis=0,
    )
    e.append(
        Entry(
            "refquant:dequantize",
            base_a,
            {
                "scale": scale(shape=(3,)),
                "zero_point": zero_point(
                    0, 255, shape=(3,), **{"range max + 1": ACCEPT, "range min - 1": ACCEPT, "None": REJECT}
                ),
                "axis": with_adjust(axis(2), per_axis_adjust),
            },
            variant="per-axis",
            dtype=lambda kw: np.dtype(kw.get("dtype", "f4")),
            shape=shape_of("q"),
            reference=refs.dequantize,
        )
    )
    return e


ENTRIES: list[Entry] = [
    *quant_entries("refquant:quantize", refs.quantize, _quantize_dtype, fake=False),
    *quant_entries("refquant:fake_quantize", refs.fake_quantize, float_of("x"), fake=True),
    *_deq_entries(),
]

EXEMPT: dict[str, str] = {}

_unused = (REJECT, block, float_dtype)
