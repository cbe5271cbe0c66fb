"""Registry: ``refquant.check.inputs``, the tie-dense generators (plain NumPy functions).

The hypothesis strategies built on them (``refquant.check.strategies``) are
exempt from the hostile layer like the hostile strategies themselves
(``tests/hostile/test_namespaces.py``): their arguments are checked at draw
time, in ``tests/check/test_strategies_inputs.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    axis,
    choice,
    flag,
    float_dtype,
    generator,
    integer,
    qrange,
    scale,
    zero_point,
)

FORMATS = ("float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "bfloat16", "float8_e8m0fnu")
INT_FORMATS = ("int8", "uint8", "int4", "uint4", "int2", "uint2", "int16", "uint16", "int32", "uint32")
RNG_POLICY = {"None": REJECT}  # documented: rng is a required numpy.random.Generator
COUNT = {"None": ACCEPT, "hi": "skip"}  # None: every class in full; 2**24 values: the documented size
F32_64 = ("float32", "float64")


def _quantizer() -> dict[str, Any]:
    return dict(scale=0.1, zero_point=3, quant_min=-128, quant_max=127)


def _shape(kw: dict[str, Any]) -> Any:
    """``(count,)``, or ``(C, count)`` / ``(count, C)`` per channel."""
    n = kw.get("count")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        return None
    if kw.get("axis") is None:
        return (int(n),)
    c = np.size(kw["scale"])
    return (c, int(n)) if kw["axis"] in (0, -2) else (int(n), c)


def _as_shape(kw: dict[str, Any]) -> Any:
    s = kw["shape"]
    return (s,) if isinstance(s, int) else tuple(s)


def _flags(entry: Entry) -> Entry:
    """The same call with NaN and ±inf requested: documented non-finite values in the result."""
    return Entry(
        entry.target,
        lambda: {**entry.base(), "nan": True, "inf": True},
        {"nan": flag(), "inf": flag()},
        variant="nan-inf",
        finite=False,
    )


QUANT_ARGS = {
    "scale": scale(np.float32),
    "zero_point": zero_point(-128, 127),
    "quant_min+quant_max": qrange("quant_min", "quant_max", -128, 127),
    "dtype": float_dtype(),
}
ENTRIES: list[Entry] = [
    Entry(
        "check:quantize_input_classes",
        _quantizer,
        QUANT_ARGS,
        contract="a dict of 1-D arrays of dtype; the quantizer validated as refquant.quantize validates it",
        extra=[
            Combo("codes of a wide range", {"codes": lambda: np.arange(-3000, 3000)}, ACCEPT),
            Combo("codes beyond 2**53", {"codes": [2**60]}, REJECT, ("codes",), ("1152921504606846976",)),
            Combo("codes fractional", {"codes": [0.5]}, REJECT, ("codes",), ("0.5",)),
            Combo(
                "int32 range, float16",
                {"quant_min": -(2**31), "quant_max": 2**31 - 1, "dtype": "float16"},
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:quantize_inputs",
        lambda: {**_quantizer(), "rng": np.random.default_rng(0), "count": 200},
        {**QUANT_ARGS, "rng": generator(**RNG_POLICY), "count": integer(44, 2**24, **COUNT)},
        shape=_shape,
        dtype=lambda kw: kw.get("dtype", np.float32),
        contract="(count,) values of dtype; a count below the edge values (44) raises ValueError",
        extra=[
            Combo(
                "per-channel",
                {"scale": [0.1, 0.5], "zero_point": [0, 5], "axis": 1},
                ACCEPT,
            ),
            Combo(
                "per-channel, axis 2",
                {"scale": [0.1, 0.5], "zero_point": [0, 5], "axis": 2},
                REJECT,
                ("axis",),
                ("2",),
            ),
            Combo("two scales without axis", {"scale": [0.1, 0.5]}, REJECT, ("scale",), ("(2,)",)),
            Combo(
                "scale and zero_point lengths differ",
                {"scale": [0.1, 0.5], "zero_point": [0, 1, 2], "axis": 0},
                REJECT,
                ("scale", "zero_point"),
                ("(2,)", "(3,)"),
            ),
            Combo(
                "count None, int32 range",
                {"count": None, "quant_min": -(2**31), "quant_max": 2**31 - 1},
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:cast_input_classes",
        lambda: {"fmt": "float8_e4m3fn"},
        {"fmt": choice(FORMATS), "dtype": float_dtype(F32_64)},
        contract="a dict of 1-D arrays of dtype",
    ),
    Entry(
        "check:cast_inputs",
        lambda: {"fmt": "float8_e4m3fn", "rng": np.random.default_rng(0), "count": 100},
        {
            "fmt": choice(FORMATS),
            "rng": generator(**RNG_POLICY),
            "dtype": float_dtype(F32_64),
            "count": integer(30, 2**24, **COUNT),
        },
        shape=_shape,
        contract="(count,) values of dtype; count below the edge values raises ValueError naming count",
    ),
    Entry(
        "check:mask_inputs",
        lambda: {"shape": (4, 6), "rng": np.random.default_rng(0)},
        {
            "rng": generator(**RNG_POLICY),
            "dtype": float_dtype(),
            "levels": integer(1, 64),
            "axis": axis(2),
        },
        shape=_as_shape,
        extra=[
            Combo("shape an int", {"shape": 5}, ACCEPT),
            Combo("shape empty", {"shape": (0, 3)}, ACCEPT),
            Combo("shape 0-d", {"shape": ()}, ACCEPT),
            Combo("shape negative", {"shape": (-1, 3)}, REJECT, ("shape",), ("-1",)),
            Combo("shape huge", {"shape": (2**20, 2**20)}, REJECT, ("shape",), ("1048576",)),
            Combo("shape str", {"shape": "4x6"}, REJECT, ("shape",), ("4x6",)),
            Combo("shape float", {"shape": (4.0, 6)}, REJECT, ("shape",), ("4.0",)),
            Combo("0-d with axis", {"shape": (), "axis": 0}, REJECT, ("shape",), ("()",)),
        ],
    ),
    Entry(
        "check:nm_inputs",
        lambda: {"shape": (3, 8), "n": 2, "m": 4, "rng": np.random.default_rng(0)},
        {
            "n": integer(0, 4),
            "m": integer(2, 2**16, **{"lo - 1": EITHER}),  # m=1 is valid, with n in [0, 1]
            "rng": generator(**RNG_POLICY),
            "axis": axis(2),
            "dtype": float_dtype(),
        },
        shape=_as_shape,
        extra=[
            Combo("tail group", {"shape": (3, 10)}, ACCEPT),
            Combo("n > m", {"n": 5}, REJECT, ("n",), ("5",)),
            Combo("shape 0-d", {"shape": ()}, REJECT, ("shape",), ("()",)),
        ],
    ),
    Entry(
        "check:quant_params",
        lambda: {"fmt": "int8", "rng": np.random.default_rng(0), "count": 6},
        {
            "fmt": choice(INT_FORMATS),
            "rng": generator(**RNG_POLICY),
            "count": integer(0, 2**24, **{"hi": "skip"}),  # 2**24 parameter sets: the documented size
            "dtype": float_dtype(),
            "narrow_range": flag(),
            "channels": integer(1, 2**16, **{"None": ACCEPT}),  # None: per-tensor
        },
        contract="a list of count QParams, valid for the format",
    ),
    Entry(
        "check:awkward_scales",
        lambda: {"rng": np.random.default_rng(0), "count": 5},
        {"rng": generator(**RNG_POLICY), "count": integer(0, 2**24), "dtype": float_dtype()},
        shape=lambda kw: (8 + kw["count"],) if isinstance(kw.get("count"), int) else None,
        dtype=lambda kw: kw.get("dtype", np.float32),
    ),
]
ENTRIES += [_flags(e) for e in ENTRIES if e.target.endswith(("quantize_input_classes", "quantize_inputs"))]
ENTRIES += [_flags(e) for e in ENTRIES if e.target.endswith(("cast_input_classes", "cast_inputs"))]
EXEMPT: dict[str, str] = {}
