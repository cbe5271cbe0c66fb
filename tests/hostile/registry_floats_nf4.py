"""Registry: ``refquant.floats`` (NF4, bitsandbytes FP4, double quantization, their tables)."""

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
    block,
    choice,
    codes,
    flag,
    integer,
    real,
    refit,
)

BACKENDS = ("cuda", "cpu")
_NF4 = np.array(
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
     -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
     0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0],
    np.float32,
)  # fmt: skip  # bitsandbytes' published NF4 values
_FP4 = (
    np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3], np.float32) / 12
).astype(np.float32)  # bitsandbytes' get_4bit_type("fp4")


def _x() -> np.ndarray:
    return np.array([[0.5, -1.0, 0.25, 0.03, 2.0, 0.0], [-0.3, 1.2, 0.7, -2.5, 0.01, 0.125]], np.float32)


def _n_blocks(n: int, block_size: Any) -> int:
    return -(-n // int(block_size))


def _quantize_shape(kw: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    x = np.asarray(kw["x"])
    return {".codes": x.shape, ".absmax": (_n_blocks(x.size, kw.get("block_size", 64)),)}


def _fit_absmax(kw: dict[str, Any]) -> None:
    """After codes or block_size change: one absmax (1.5) per block (the base's absmax when it fits)."""
    c = np.asarray(kw["codes"]) if not isinstance(kw["codes"], str) else np.zeros(1)
    bs = kw.get("block_size", 64)
    if isinstance(bs, (int, np.integer)) and not isinstance(bs, bool) and bs >= 1:
        kw["absmax"] = np.full(_n_blocks(c.size, bs), 1.5, np.float32)


def _dequant_ref(table: np.ndarray, top: int) -> Any:
    def ref(kw: dict[str, Any]) -> Any:
        c = np.asarray(kw["codes"]).astype(np.int64)
        a = np.asarray(kw["absmax"], np.float64).astype(np.float32)
        bs = int(kw.get("block_size", 64))
        per = a[np.arange(c.size) // bs].astype(np.float64)
        t = table.copy()
        if kw.get("backend", "cuda") == "cuda" and table is _FP4:
            t[8] = -0.0
        # the product of two float32 values is exact in float64, so this is the float32 product
        return (t[c.reshape(-1)].astype(np.float64) * per).astype(np.float32).reshape(c.shape)

    return ref


def _quantize_entries(target: str) -> list[Entry]:
    base = lambda: dict(x=_x(), block_size=4)  # noqa: E731
    return [
        Entry(
            target,
            base,
            {
                "x": array(
                    nan=ACCEPT, inf=ACCEPT, extreme=EITHER, empty=ACCEPT, **{"0-d": ACCEPT, "scalar": ACCEPT}
                ),
                "block_size": block(4),
                "backend": choice(BACKENDS),
            },
            dtype=lambda kw: {".codes": np.uint8, ".absmax": np.float32},
            shape=_quantize_shape,
            contract="codes uint8 in x's shape, absmax float32 per block; NaN/inf defined per backend",
            finite=True,
            extra=[
                Combo("backend='cpu'", {"backend": "cpu"}, ACCEPT),
                Combo("block_size=10**18 on 12 values", {"block_size": 10**18}, ACCEPT),
                Combo("a zero block", {"x": lambda: np.zeros(9, np.float32)}, ACCEPT),
                Combo(
                    "float64 beyond float32",
                    {"x": lambda: np.array([1.0, 1e300])},
                    REJECT,
                    ("x",),
                    ("1e+300",),
                ),
            ],
        )
    ]


def _dequantize_entries(target: str, table: np.ndarray) -> list[Entry]:
    base = lambda: dict(  # noqa: E731
        codes=np.array([[12, 0, 10, 7], [15, 7, 5, 13]], np.uint8),
        absmax=np.array([1.0, 2.0], np.float32),
        block_size=4,
    )
    args = {
        "codes": refit(codes(), _fit_absmax),
        "absmax": array(
            nan=ACCEPT,
            inf=ACCEPT,
            extreme=EITHER,
            **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT, "all zeros": ACCEPT},
        ),
        "block_size": refit(block(4), _fit_absmax),
    }
    if table is _FP4:
        args["backend"] = choice(BACKENDS)
    return [
        Entry(
            target,
            base,
            args,
            dtype=lambda kw: np.float32,
            shape=lambda kw: np.shape(kw["codes"]),
            reference=_dequant_ref(table, 15),
            related=("codes", "absmax", "block_size"),
            contract="table[codes] * absmax[block] in float32, codes' shape",
            finite=True,
            extra=[
                Combo(
                    "codes 16",
                    {"codes": lambda: np.array([16], np.uint8), "absmax": lambda: np.ones(1)},
                    REJECT,
                    ("codes",),
                    ("16",),
                ),
                Combo(
                    "codes -1",
                    {"codes": lambda: np.array([-1]), "absmax": lambda: np.ones(1)},
                    REJECT,
                    ("codes",),
                    ("-1",),
                ),
                Combo(
                    "absmax of the wrong length",
                    {"absmax": lambda: np.ones(3, np.float32)},
                    REJECT,
                    ("absmax",),
                    ("(3,)",),
                ),
                Combo(
                    "block_size 8: one absmax",
                    {"block_size": 8, "absmax": lambda: np.ones(1, np.float32)},
                    ACCEPT,
                ),
                Combo(
                    "block_size=10**18",
                    {"block_size": 10**18, "absmax": lambda: np.ones(1, np.float32)},
                    ACCEPT,
                ),
                Combo(
                    "empty codes, no absmax",
                    {"codes": lambda: np.zeros((0, 4), np.uint8), "absmax": lambda: np.zeros(0, np.float32)},
                    ACCEPT,
                ),
            ],
        )
    ]


def _double_entries() -> list[Entry]:
    base_q = lambda: dict(absmax=np.array([1.0, 2.0, 3.0, 0.5, 2.5], np.float32), block_size=2)  # noqa: E731
    base_d = lambda: dict(  # noqa: E731
        codes=np.array([0, 127, 100, 5, 64], np.uint8),  # below 128: int8 codes keep them
        absmax=np.array([1.0, 0.5, 2.0], np.float32),
        offset=2.0,
        block_size=2,
    )

    def dq_shape(kw: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        a = np.asarray(kw["absmax"])
        return {".codes": a.shape, ".absmax": (_n_blocks(a.size, kw.get("block_size", 256)),), ".offset": ()}

    def dd_ref(kw: dict[str, Any]) -> Any:
        from refquant.floats import bnb_dynamic_map  # the table itself is checked against bitsandbytes

        c = np.asarray(kw["codes"]).astype(np.int64)
        a = np.asarray(kw["absmax"], np.float64).astype(np.float32)
        bs = int(kw.get("block_size", 256))
        prod = (bnb_dynamic_map()[c.reshape(-1)].astype(np.float64) * a[np.arange(c.size) // bs]).astype(
            np.float32
        )
        return (prod.astype(np.float64) + float(np.float32(kw["offset"]))).astype(np.float32).reshape(c.shape)

    return [
        Entry(
            "floats:double_quantize_absmax",
            base_q,
            {
                "absmax": array(
                    nan=REJECT, inf=REJECT, extreme=EITHER, empty=ACCEPT, **{"0-d": ACCEPT, "scalar": ACCEPT}
                ),
                "block_size": block(5),
                "offset": real(None, None, **{"None": ACCEPT, "0-d array": ACCEPT, "True": REJECT}),
                "backend": choice(BACKENDS),
            },
            dtype=lambda kw: {".codes": np.uint8, ".absmax": np.float32, ".offset": np.float32},
            shape=dq_shape,
            contract="8-bit dynamic codes of absmax - offset in blocks; non-finite absmax rejected",
            extra=[
                Combo("backend='cpu'", {"backend": "cpu"}, ACCEPT),
                Combo(
                    "offset 3e38 overflows",
                    {"offset": -3e38, "absmax": lambda: np.array([3e38], np.float32)},
                    REJECT,
                    ("offset", "absmax"),
                    ("3e+38", "offset"),
                ),
                Combo("all equal: a zero block", {"absmax": lambda: np.full(4, 0.7, np.float32)}, ACCEPT),
            ],
        ),
        Entry(
            "floats:double_dequantize_absmax",
            base_d,
            {
                "codes": refit(codes(), _fit_absmax),
                "absmax": array(
                    nan=ACCEPT,
                    inf=ACCEPT,
                    extreme=EITHER,
                    **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT},
                ),
                "offset": real(None, None, **{"0-d array": ACCEPT, "True": REJECT}),
                "block_size": refit(block(5), _fit_absmax),
            },
            dtype=lambda kw: np.float32,
            shape=lambda kw: np.shape(kw["codes"]),
            reference=dd_ref,
            related=("codes", "absmax", "block_size"),
            contract="dynamic_map[codes] * absmax[block] + offset in float32; an overflow raises",
            extra=[
                Combo(
                    "codes 256", {"codes": lambda: np.array([256, 0, 0, 0, 0])}, REJECT, ("codes",), ("256",)
                ),
                Combo(
                    "overflowing sum",
                    {
                        "codes": lambda: np.full(5, 255, np.uint8),
                        "absmax": lambda: np.full(3, 3e38, np.float32),
                        "offset": 3e38,
                    },
                    REJECT,
                    ("offset",),
                    ("3e+38",),
                ),
            ],
        ),
    ]


def _table_entries() -> list[Entry]:
    return [
        Entry(
            "floats:normal_float_table",
            lambda: dict(bits=4, offset=0.9677083, use_extra_value=True, emulate="bitsandbytes"),
            {
                "bits": integer(2, 8),
                "offset": real(
                    0.5,
                    1.0,
                    lo_open=True,
                    hi_open=True,
                    **{"0-d array": ACCEPT, "True": REJECT, "just above lo": REJECT, "just below hi": REJECT},
                ),
                "use_extra_value": flag(**{"int 1": REJECT, "None": REJECT}),
                "emulate": choice(("bitsandbytes", "exact")),
            },
            shape=lambda kw: (2 ** kw["bits"] - (0 if kw["use_extra_value"] else 1),),
            contract="the sorted NormalFloat values in [-1, 1]",
            extra=[
                Combo("the published table", {}, ACCEPT),
                Combo("exact, float64", {"emulate": "exact"}, ACCEPT),
                Combo(
                    "exact, offset just above 0.5", {"emulate": "exact", "offset": 0.5000000000000001}, ACCEPT
                ),
                Combo(
                    "offset rounding to 1 in float32",
                    {"offset": 1 - 1e-9},
                    REJECT,
                    ("offset",),
                    ("0.999999999",),
                ),
            ],
            reference=lambda kw: (
                _NF4
                if kw == dict(bits=4, offset=0.9677083, use_extra_value=True, emulate="bitsandbytes")
                else None
            ),
        ),
        Entry(
            "floats:bnb_dynamic_map",
            lambda: dict(signed=True, max_exponent_bits=7),
            {
                "signed": flag(**{"int 1": REJECT, "None": REJECT}),
                "max_exponent_bits": integer(1, 7),
            },
            dtype=lambda kw: np.float32,
            shape=lambda kw: (256,),
            contract="bitsandbytes' 256-entry dynamic map, sorted",
            extra=[
                Combo("unsigned, 7 bits", {"signed": False}, ACCEPT),
                Combo(
                    "unsigned, 6 bits",
                    {"signed": False, "max_exponent_bits": 6},
                    REJECT,
                    ("max_exponent_bits",),
                    ("6",),
                ),
            ],
        ),
    ]


ENTRIES: list[Entry] = [
    *_quantize_entries("floats:nf4_quantize"),
    *_quantize_entries("floats:fp4_bnb_quantize"),
    *_dequantize_entries("floats:nf4_dequantize", _NF4),
    *_dequantize_entries("floats:fp4_bnb_dequantize", _FP4),
    *_double_entries(),
    *_table_entries(),
]

EXEMPT: dict[str, str] = {
    "floats:Quantized4bit": "NamedTuple (codes, absmax) (a plain container)",
    "floats:DoubleQuantized": "NamedTuple (codes, absmax, offset) (a plain container)",
}
