"""Registry: ``refquant.floats`` block formats (OCP MX, NVFP4)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    axis,
    block,
    choice,
    generator,
    real,
    refit,
    scale,
)
from tests.hostile.registry_core import ROUNDING

ELEMS = ("float8_e4m3fn", "float8_e5m2", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "int8")
MODES = ("floor", "ceil", "even", "rceil")
RNG = {"None": ACCEPT, "RandomState": REJECT, "int seed 0": REJECT, "str": REJECT}
# a float data array: NaN/inf/huge values are defined (NaN scales, saturation), structure needs >= 1-d
X_BLOCKS = {"nan": ACCEPT, "inf": ACCEPT, "extreme": ACCEPT, "empty": ACCEPT, "0-d": REJECT, "scalar": REJECT}


def _x() -> np.ndarray:
    return np.array(
        [[0.5, -1.0, 0.25, 0.03, 2.0, 0.0, 7.0, -0.1], [-0.3, 1.2, 0.7, -2.5, 0.01, 0.125, 3.0, 1e-3]],
        np.float32,
    )


def _int(v: Any, default: int) -> int | None:
    if v is None:
        return default
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return None
    return int(v)


def _block_shape(shape: tuple[int, ...], bs: Any, ax: Any, default_bs: int) -> tuple[int, ...] | None:
    """The per-block shape, or None when block_size or axis is invalid (the call must raise)."""
    b, a = _int(bs, default_bs), _int(ax, -1)
    if b is None or a is None or b < 1 or not shape or not -len(shape) <= a < len(shape):
        return None
    a %= len(shape)
    return (*shape[:a], -(-shape[a] // b), *shape[a + 1 :])


def _mx_shape(kw: dict[str, Any]) -> dict[str, Any]:
    x = np.shape(kw["x"])
    return {".scales": _block_shape(x, kw.get("block_size", 32), kw.get("axis", -1), 32), ".elements": x}


def _fit(scales: str, fill: float, default_bs: int) -> Any:
    """After elements, block_size or axis change: one valid scale per block."""

    def fn(kw: dict[str, Any]) -> None:
        e = kw["elements"]
        if isinstance(e, str) or np.asarray(e).dtype.kind not in "fiub":
            return
        want = _block_shape(np.shape(e), kw.get("block_size", default_bs), kw.get("axis", -1), default_bs)
        if want is not None:
            kw[scales] = np.full(want, fill, np.float32)

    return fn


def _repeat(per_block: np.ndarray, shape: tuple[int, ...], bs: int, ax: int) -> np.ndarray:
    ax %= len(shape)
    idx = np.arange(shape[ax]) // bs
    return np.take(per_block, idx, axis=ax)


def _mx_dequant_ref(kw: dict[str, Any]) -> Any:
    p = np.asarray(kw["elements"])
    s = np.asarray(kw["scales"])
    if p.dtype.kind not in "fiu" or s.dtype.kind not in "fiu":
        return None
    dt = np.result_type(p.dtype if p.dtype.kind == "f" else np.float64, s.dtype, np.float32)
    bs, ax = int(kw.get("block_size", 32)), int(kw.get("axis", -1))
    prod = p.astype(np.float64) * _repeat(s.astype(np.float64), p.shape, bs, ax)  # exact: few bits each
    return prod.astype(dt)


def _nv_dequant_ref(kw: dict[str, Any]) -> Any:
    p = np.asarray(kw["elements"], np.float64).astype(np.float32)
    s = np.asarray(kw["block_scales"], np.float64).astype(np.float32)
    g = np.float32(np.asarray(kw["per_tensor_scale"], np.float64))
    hp = (np.float64(g) * s.astype(np.float64)).astype(np.float32)  # float32 products, each exact in float64
    bs, ax = int(kw.get("block_size", 16)), int(kw.get("axis", -1))
    return (p.astype(np.float64) * _repeat(hp, p.shape, bs, ax).astype(np.float64)).astype(np.float32)


def _mx_entries() -> list[Entry]:
    f32 = np.float32
    return [
        Entry(
            "floats:mx_quantize",
            lambda: dict(x=_x(), elem_format="float8_e4m3fn", block_size=4),
            {
                "x": array(**X_BLOCKS),
                "elem_format": choice(ELEMS),
                "block_size": block(8),
                "axis": axis(2),
                "scale_mode": choice(MODES),
                "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),  # needs rng (documented)
                "rng": generator(**RNG),
                "convention": choice(("ocp", "torchao")),
            },
            dtype=lambda kw: {".scales": f32, ".elements": f32},
            shape=_mx_shape,
            contract="e8m0 scales (NaN for NaN/inf blocks) and saturated elements, float32",
            extra=[
                Combo(
                    "int8 elements, stochastic",
                    {
                        "elem_format": "int8",
                        "rounding": "stochastic",
                        "rng": lambda: np.random.default_rng(0),
                    },
                    ACCEPT,
                ),
                Combo("axis 0, partial block", {"axis": 0, "block_size": 3}, ACCEPT),
                Combo("float64 beyond float32", {"x": lambda: np.array([[1.0, 1e300]])}, ACCEPT),
                Combo(
                    "torchao, float64 beyond float32",
                    {"x": lambda: np.array([[1.0, 1e300]]), "convention": "torchao"},
                    ACCEPT,
                ),
                Combo("a zero block", {"x": lambda: np.zeros((2, 8), f32)}, ACCEPT),
                Combo(
                    "fp4 rceil torchao",
                    {"elem_format": "float4_e2m1fn", "scale_mode": "rceil", "convention": "torchao"},
                    ACCEPT,
                ),
            ],
        ),
        Entry(
            "floats:mx_dequantize",
            lambda: dict(
                scales=np.array([[1.0, 0.5], [2.0**-14, 2.0**10]], f32),  # also exact in float16
                elements=np.array([[1.0, -2.0, 448.0, 0.0, 3.5, -0.125, 6.0, 1.0]] * 2, f32),
                block_size=4,
            ),
            {
                "scales": array(
                    nan=ACCEPT,
                    inf=REJECT,
                    extreme=EITHER,  # 2**31 ... 2**64 are scales, 3e38 is not
                    **{
                        "empty": REJECT,
                        "0-d": REJECT,
                        "scalar": REJECT,
                        "all zeros": REJECT,
                        "0.0 at [0, 1]": REJECT,
                        "-0.0 at [0, 1]": REJECT,
                        "int64": REJECT,
                        "uint8": REJECT,
                        "bool": ACCEPT,
                        "object": EITHER,
                        "finite": EITHER,  # other values: powers of two in range are scales, the rest raise
                    },
                ),
                "elements": refit(
                    array(
                        nan=ACCEPT,
                        inf=ACCEPT,
                        extreme=EITHER,
                        empty=ACCEPT,
                        **{"0-d": REJECT, "scalar": REJECT},
                    ),
                    _fit("scales", 0.5, 32),
                ),
                "block_size": refit(block(8), _fit("scales", 0.5, 32)),
                "axis": refit(axis(2), _fit("scales", 0.5, 32)),
            },
            dtype=lambda kw: None,
            shape=lambda kw: np.shape(kw["elements"]),
            reference=_mx_dequant_ref,
            related=("scales", "elements", "block_size", "axis"),
            contract="elements * scale of the block, float32 (float64 if an input is); overflow raises",
            extra=[
                Combo(
                    "NaN scale: a NaN block",
                    {"scales": lambda: np.array([[np.nan, 1.0], [1.0, 1.0]], f32)},
                    ACCEPT,
                    finite_in=False,
                ),
                Combo(
                    "scale 3.0",
                    {"scales": lambda: np.array([[3.0, 1.0], [1.0, 1.0]], f32)},
                    REJECT,
                    ("scales",),
                    ("3.0",),
                ),
                Combo(
                    "scale 2**-128",
                    {"scales": lambda: np.array([[2.0**-128, 1.0], [1.0, 1.0]])},
                    REJECT,
                    ("scales",),
                    ("2.938",),
                ),
                Combo(
                    "scales of the wrong shape",
                    {"scales": lambda: np.ones((2, 3), f32)},
                    REJECT,
                    ("scales",),
                    ("(2, 3)",),
                ),
                Combo(
                    "overflow",
                    {"scales": lambda: np.full((2, 2), 2.0**127, f32)},
                    REJECT,
                    ("elements",),
                    ("448",),
                ),
                Combo("float64 scales: no overflow", {"scales": lambda: np.full((2, 2), 2.0**127)}, ACCEPT),
            ],
        ),
    ]


def _nv_shape(kw: dict[str, Any]) -> dict[str, Any]:
    x = np.shape(kw["x"])
    bs = _block_shape(x, kw.get("block_size", 16), kw.get("axis", -1), 16)
    return {".per_tensor_scale": (), ".block_scales": bs, ".elements": x}


def _nv_entries() -> list[Entry]:
    f32 = np.float32
    base_d = lambda: dict(  # noqa: E731
        per_tensor_scale=0.5,
        block_scales=np.array([[1.0, 2.0], [0.5, 448.0]], f32),
        elements=np.array([[0.5, -1.0, 6.0, 0.0, 1.5, -3.0, 4.0, 2.0] * 2] * 2, f32),
        block_size=8,
    )
    return [
        Entry(
            "floats:nvfp4_quantize",
            lambda: dict(x=np.concatenate([_x(), _x()[::-1]], axis=1), block_size=8),
            {
                "x": array(**{**X_BLOCKS, "extreme": EITHER}),  # finite float64 beyond float32 raises
                "block_size": block(16),
                "axis": axis(2),
                "per_tensor_scale": scale(
                    np.float32,
                    **{
                        "float32 smallest normal": REJECT,
                        "1e-40": REJECT,
                        "1e-45": REJECT,
                        "5e-324": REJECT,
                        "None": ACCEPT,
                        "3e+38": ACCEPT,
                    },
                ),
                "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),
                "rng": generator(**RNG),
            },
            dtype=lambda kw: {".per_tensor_scale": f32, ".block_scales": f32, ".elements": f32},
            shape=_nv_shape,
            contract="float32 tensor scale, e4m3 block scales in [2**-6, 448] or NaN, e2m1 elements",
            extra=[
                Combo("single level", {"per_tensor_scale": 1.0}, ACCEPT),
                Combo("all zeros", {"x": lambda: np.zeros((2, 16), f32)}, ACCEPT),
                Combo(
                    "per_tensor_scale 2**-122",
                    {"per_tensor_scale": 2.0**-122},
                    REJECT,
                    ("per_tensor_scale",),
                    ("1.88",),
                ),
                Combo(
                    "float64 beyond float32",
                    {"x": lambda: np.array([[1.0, 1e300]])},
                    REJECT,
                    ("x",),
                    ("1e+300",),
                ),
                Combo(
                    "stochastic", {"rounding": "stochastic", "rng": lambda: np.random.default_rng(2)}, ACCEPT
                ),
            ],
        ),
        Entry(
            "floats:nvfp4_dequantize",
            base_d,
            {
                "per_tensor_scale": scale(np.float32, **{"1e-45": EITHER, "1e-40": EITHER, "3e+38": REJECT}),
                "block_scales": array(
                    nan=ACCEPT,
                    inf=REJECT,
                    extreme=EITHER,
                    **{
                        "empty": REJECT,
                        "0-d": REJECT,
                        "scalar": REJECT,
                        "all zeros": ACCEPT,
                        "bool": ACCEPT,
                        "finite": EITHER,
                    },  # negative values raise
                ),
                "elements": refit(
                    array(
                        nan=ACCEPT,
                        inf=ACCEPT,
                        extreme=EITHER,
                        empty=ACCEPT,
                        **{"0-d": REJECT, "scalar": REJECT},
                    ),
                    _fit("block_scales", 2.0, 16),
                ),
                "block_size": refit(block(16), _fit("block_scales", 2.0, 16)),
                "axis": refit(axis(2), _fit("block_scales", 2.0, 16)),
            },
            dtype=lambda kw: f32,
            shape=lambda kw: np.shape(kw["elements"]),
            reference=_nv_dequant_ref,
            related=("block_scales", "elements", "block_size", "axis", "per_tensor_scale"),
            contract="elements * fl32(g * block scale), float32; overflow raises",
            extra=[
                Combo(
                    "a NaN block",
                    {"block_scales": lambda: np.array([[np.nan, 2.0], [0.5, 448.0]], f32)},
                    ACCEPT,
                    finite_in=False,
                ),
                Combo(
                    "negative block scale",
                    {"block_scales": lambda: np.array([[-1.0, 2.0], [0.5, 1.0]], f32)},
                    REJECT,
                    ("block_scales",),
                    ("-1.0",),
                ),
                Combo("overflow", {"per_tensor_scale": 3e38}, REJECT, ("per_tensor_scale",), ("3e+38",)),
            ],
        ),
        Entry(
            "floats:nvfp4_per_tensor_scale",
            lambda: dict(amax=2.5),
            {"amax": real(0, None, **{"1e300": REJECT, "True": ACCEPT})},
            dtype=lambda kw: f32,
            shape=lambda kw: (),
            contract="fl32(amax / 2688), floored at 2**-121",
            reference=lambda kw: np.maximum(np.float32(kw["amax"]) / np.float32(2688), np.float32(2.0**-121)),
            extra=[Combo("zero", {"amax": 0.0}, ACCEPT)],
        ),
    ]


ENTRIES: list[Entry] = [*_mx_entries(), *_nv_entries()]

EXEMPT: dict[str, str] = {
    "floats:MXQuantized": "NamedTuple (scales, elements) (a plain container)",
    "floats:NVFP4Quantized": "NamedTuple (per_tensor_scale, block_scales, elements) (a plain container)",
}
