"""Registry: ``refquant.floats`` (float formats, casts, encode/decode)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import ACCEPT, EITHER, REJECT, Combo, Entry, array, choice, codes, flag, generator
from tests.hostile.registry_core import ROUNDING, shape_of

FORMATS = (
    "bfloat16",
    "float16",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float6_e2m3fn",
    "float4_e2m1fn",
    "float8_e8m0fnu",
)

# cast's documented contract for hostile x: NaN, ±inf and out-of-range values follow the tables
# (ml_dtypes' or ONNX's), so non-finite results from non-finite or huge inputs are the contract
X_CAST = {
    "nan": ACCEPT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
    "all zeros": ACCEPT,
}


def _cast_dtype(kw: dict[str, Any]) -> Any:
    a = np.asarray(kw["x"])
    return np.dtype(np.float32) if a.dtype in (np.float16, np.float32) else np.dtype(np.float64)


def _x() -> np.ndarray:
    return np.array([[0.3, -1.7, 2.5], [100.0, -0.01, 7.0]], np.float32)


def _cast_entry(fmt: str) -> Entry:
    return Entry(
        "floats:cast",
        lambda: dict(x=_x(), fmt=fmt),
        {
            "x": array(**X_CAST),
            "fmt": choice(FORMATS),
            "saturate": flag(),
            "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),  # needs rng (documented)
            "rng": generator(**{"None": ACCEPT, "RandomState": REJECT, "int seed 0": REJECT, "str": REJECT}),
        },
        variant=fmt,
        dtype=_cast_dtype,
        shape=shape_of("x"),
        finite=False,  # documented: finite overflow is NaN in fn/fnuz/e8m0 and inf in ieee formats
        contract="values on fmt's grid; overflow/inf/NaN by the documented tables",
        extra=[
            Combo(
                "stochastic with rng",
                {"rounding": "stochastic", "rng": lambda: np.random.default_rng(3)},
                ACCEPT,
            ),
            Combo("saturate", {"saturate": True}, ACCEPT),
            Combo("float64 input", {"x": lambda: _x().astype(np.float64)}, ACCEPT),
            Combo("unknown format", {"fmt": "float8_e4m3fx"}, REJECT, ("fmt",), ("float8_e4m3fx",)),
            Combo("format not a name", {"fmt": 8}, REJECT, ("fmt",), ("8",)),
        ],
    )


def _codes_of(fmt: str) -> Any:
    return lambda: np.array([[0, 1, 7], [8, 9, 15]], np.uint8)


ENTRIES: list[Entry] = [
    *[_cast_entry(f) for f in ("float8_e4m3fn", "float4_e2m1fn", "float8_e8m0fnu", "bfloat16")],
    Entry(
        "floats:encode",
        lambda: dict(x=_x(), fmt="float8_e4m3fn"),
        {
            "x": array(**X_CAST),
            "fmt": choice(FORMATS),
            "saturate": flag(),
            "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),
        },
        dtype=lambda kw: np.dtype(np.uint16) if kw["fmt"] in ("bfloat16", "float16") else np.dtype(np.uint8),
        shape=shape_of("x"),
        finite=False,
        contract="codes of cast(x, fmt): uint8, uint16 for 16-bit formats",
    ),
    Entry(
        "floats:decode",
        lambda: dict(codes=np.array([[0, 1, 7], [8, 9, 15]], np.uint8), fmt="float4_e2m1fn"),
        {
            "codes": codes(),
            "fmt": choice(FORMATS, **{"'float8_e8m0fnu'": EITHER}),
        },
        dtype=lambda kw: np.dtype(kw.get("dtype", np.float32)),
        shape=shape_of("codes"),
        finite=False,  # NaN codes decode to NaN
        contract="the value of each code; codes outside [0, 2**bits) raise",
        extra=[
            Combo("float64 output", {"dtype": np.float64}, ACCEPT),
            Combo("float16 output", {"dtype": np.float16}, REJECT, ("dtype",), ("float16",)),
            Combo("code too big", {"codes": lambda: np.array([16, 3])}, REJECT, ("codes",), ("16",)),
            Combo("negative code", {"codes": lambda: np.array([-1, 3])}, REJECT, ("codes",), ("-1",)),
        ],
    ),
    Entry(
        "floats:float_format",
        lambda: dict(fmt="float8_e5m2"),
        {"fmt": choice(FORMATS)},
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="the FloatFormat of a name; unknown names raise ValueError, non-strings TypeError",
    ),
]

EXEMPT: dict[str, str] = {
    "floats:FloatFormat": "a frozen dataclass of four fields, each checked in __post_init__ "
    "(tests/floats/test_cast.py::test_float_format_lookup_errors and the spec tests)",
    "floats:FLOAT_FORMATS": "a dict of constants",
}
