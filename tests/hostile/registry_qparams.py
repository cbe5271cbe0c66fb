"""Registry: the core (``refquant.__all__``): rounding, qparams and formats."""

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
    amount,  # noqa: F401 - kept for symmetry with the other registries
    array,
    choice,
    flag,
    float_dtype,
    generator,
    integer,
    qrange,
    real,
)
from tests.hostile.harness import (
    aka as with_names,
)
from tests.hostile.registry_core import ROUNDING, float_of, shape_of


def _round_entries() -> list[Entry]:
    base = lambda: dict(x=np.array([[-2.5, -1.5, -0.5], [0.5, 0.49999997, 2.5]], np.float32))  # noqa: E731
    return [
        Entry(
            "refquant:round_to_integer",
            lambda: {**base(), "mode": "half_even"},
            {
                "x": array(
                    nan=ACCEPT,
                    inf=ACCEPT,
                    extreme=ACCEPT,
                    empty=ACCEPT,
                    **{"0-d": ACCEPT, "scalar": ACCEPT, "int64": ACCEPT, "uint8": ACCEPT},
                ),
                "mode": choice(ROUNDING, **{"'stochastic'": REJECT}),
                "rng": generator(
                    **{"None": ACCEPT, "RandomState": EITHER, "int seed 0": EITHER, "str": EITHER}
                ),
            },
            dtype=float_of("x"),
            shape=shape_of("x"),
            reference=refs.round_to_integer,
            contract="exact rounding; NaN/inf pass through; dtype of x",
            extra=[Combo(f"mode={m!r}", {"mode": m}, ACCEPT) for m in ROUNDING[:-1]]
            + [
                Combo(
                    "stochastic with rng",
                    {"mode": "stochastic", "rng": lambda: np.random.default_rng(3)},
                    ACCEPT,
                ),
                Combo(
                    "read-only out",
                    {"out": lambda: _ro(np.zeros((2, 3), np.float32))},
                    REJECT,
                    ("out",),
                    ("read-only", "writeable", "read only"),
                ),
                Combo(
                    "out of the wrong dtype",
                    {"out": lambda: np.zeros((2, 3), np.float64)},
                    REJECT,
                    ("out",),
                    ("float64",),
                ),
                Combo(
                    "out of the wrong shape",
                    {"out": lambda: np.zeros((3, 2), np.float32)},
                    REJECT,
                    ("out",),
                    ("(3, 2)",),
                ),
                Combo("out not an array", {"out": lambda: [[0.0] * 3] * 2}, REJECT, ("out",), ("list",)),
                Combo(
                    "huge values in every mode (float64)",
                    {
                        "x": lambda: np.array(
                            [[2.0**52 + 0.5, -(2.0**52) - 0.5, 2.0**53], [1e300, -1e300, 4.5]]
                        ),
                        "mode": "half_away",
                    },
                    ACCEPT,
                ),
            ],
        ),
    ]


def _ro(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _qparams_entries() -> list[Entry]:
    base = lambda: dict(min_val=-1.0, max_val=3.0, quant_min=0, quant_max=255)  # noqa: E731
    rng_args = {
        "min_val": array(
            nan=REJECT,
            inf=REJECT,
            **{"empty": EITHER, "0-d": ACCEPT, "scalar": ACCEPT, "Python list": ACCEPT},
            values=False,
        ),
        "max_val": array(
            nan=REJECT,
            inf=REJECT,
            values=False,
            **{"empty": EITHER, "0-d": ACCEPT, "scalar": ACCEPT, "Python list": ACCEPT},
        ),
        "range": qrange(
            "quant_min", "quant_max", 0, 255, **{"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT}
        ),
        "symmetric": flag(),
        "symmetric_divisor": choice(("half_range", "qmax")),
        "include_zero": flag(),
        "eps": real(0.0, None, lo_open=True, **{"None": ACCEPT, "1e300": EITHER}),
        "zero_point_rounding": choice(ROUNDING[:-1]),
        "zero_point_formula": choice(("qmin_minus_round", "round_of_difference", "tflite")),
        "dtype": float_dtype(),
    }
    dt = lambda kw: {".scale": np.dtype(kw.get("dtype", np.float32)), ".zero_point": np.dtype(np.int64)}  # noqa: E731
    range_values = [
        ("±3e38", -3e38, 3e38),
        ("±float32 max", -3.4028234e38, 3.4028234e38),
        ("[0, 3e38]", 0.0, 3e38),
        ("subnormal range", -1e-45, 1e-45),
        ("[1e-40, 2e-40] with eps=None", 1e-40, 2e-40),
        ("[-2.5, 2.5]", -2.5, 2.5),
        ("[5, 7] (widened to 0)", 5.0, 7.0),
        ("[-0.0, 0.0]", -0.0, 0.0),
        ("min > max", 3.0, -1.0),
        ("nan", float("nan"), 1.0),
        ("inf", -1.0, float("inf")),
    ]
    extra = []
    for label, lo, hi in range_values:
        upd: dict[str, Any] = {"min_val": lo, "max_val": hi}
        if "eps=None" in label:
            upd["eps"] = None
        bad = label in ("min > max", "nan", "inf")
        loose = "subnormal" in label or "3e38" in label or "max" in label  # a finite scale, or a clear error
        extra.append(
            Combo(
                label,
                upd,
                REJECT if bad else (EITHER if loose else ACCEPT),
                ("min_val", "max_val"),
                ("nan",)
                if label == "nan"
                else ("inf",)
                if label == "inf"
                else ("3.0", "-1.0", "3.", "-1.")
                if bad
                else (),
                finite_in=not bad,
            )
        )
        extra.append(
            Combo(
                label + ", symmetric",
                {**upd, "symmetric": True},
                REJECT if bad else (EITHER if loose else ACCEPT),
                ("min_val", "max_val"),
                ("nan",)
                if label == "nan"
                else ("inf",)
                if label == "inf"
                else ("3.0", "-1.0", "3.", "-1.")
                if bad
                else (),
                finite_in=not bad,
            )
        )
    extra.append(
        Combo(
            "per-channel ranges",
            {"min_val": lambda: np.array([-1.0, 0.0, -3e38]), "max_val": lambda: np.array([1.0, 0.0, 3e38])},
            ACCEPT,
        )
    )
    extra.append(
        Combo(
            "float16 compute dtype, range beyond float16",
            {"min_val": -1e5, "max_val": 1e5, "dtype": np.float16},
            EITHER,
            ("min_val", "max_val", "dtype"),
            ("1e+05", "100000", "inf"),
        )
    )
    extra.append(
        Combo(
            "symmetric_divisor='qmax' with quant_max=0",
            {"symmetric": True, "symmetric_divisor": "qmax", "quant_min": -255, "quant_max": 0},
            REJECT,
            ("quant_max", "symmetric_divisor"),
            ("0",),
        )
    )
    ent = [
        Entry(
            "refquant:qparams_from_range",
            base,
            rng_args,
            dtype=dt,
            reference=refs.qparams_from_range,
            extra=extra,
            contract="finite min <= max; scale finite > 0 (eps) in dtype; zero point clipped",
        )
    ]
    # nudge_range: TF's nudging
    nbase = lambda: dict(min_val=-0.1, max_val=1.0, quant_min=0, quant_max=255)  # noqa: E731
    nextra = [
        Combo(
            label,
            {"min_val": lo, "max_val": hi},
            REJECT
            if label in ("min > max", "nan", "inf")
            else (EITHER if any(k in label for k in ("subnormal", "0.0", "eps", "3e38", "max")) else ACCEPT),
            ("min_val", "max_val"),
            ("nan",) if label == "nan" else ("inf",) if label == "inf" else (),
            finite_in=label not in ("nan", "inf"),
        )
        for label, lo, hi in range_values
    ]
    ent.append(
        Entry(
            "refquant:nudge_range",
            nbase,
            {
                "min_val": array(nan=REJECT, inf=REJECT, values=False, **{"0-d": ACCEPT, "scalar": ACCEPT}),
                "range": qrange(
                    "quant_min",
                    "quant_max",
                    0,
                    255,
                    **{"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT},
                ),
                "dtype": float_dtype(),
            },
            dtype=lambda kw: {
                "[0]": np.dtype(kw.get("dtype", np.float32)),
                "[1]": np.dtype(kw.get("dtype", np.float32)),
                "[2]": np.dtype(kw.get("dtype", np.float32)),
                "[3]": np.dtype(np.int64),
            },
            extra=nextra,
            contract="finite min < max; nudged range contains 0; finite scale",
        )
    )
    ent.append(
        Entry(
            "refquant:reduce_range",
            lambda: dict(quant_min=0, quant_max=255),
            {
                "range": qrange(
                    "quant_min",
                    "quant_max",
                    0,
                    255,
                    **{"±2**53": EITHER, "±2**60": EITHER, "0 .. 2**53 + 1": EITHER},
                )
            },
            contract="quant_min < quant_max ints",
        )
    )
    return ent


def _format_entries() -> list[Entry]:
    return [
        Entry(
            "refquant:storage_dtype",
            lambda: dict(qmin=-8, qmax=7),
            {
                "range": qrange(
                    "qmin",
                    "qmax",
                    -8,
                    7,
                    **{
                        "±2**53": ACCEPT,
                        "±2**60": ACCEPT,
                        "0 .. 2**53 + 1": ACCEPT,
                        "quant_max 2**64": REJECT,
                    },
                )
            },
            extra=[
                Combo("storage_dtype(5, 3)", {"qmin": 5, "qmax": 3}, REJECT, ("qmin", "qmax"), ("5", "3")),
                Combo("uint64 range", {"qmin": 0, "qmax": 2**64 - 1}, ACCEPT),
                Combo("int64 range", {"qmin": -(2**63), "qmax": 2**63 - 1}, ACCEPT),
                Combo(
                    "beyond int64 and uint64",
                    {"qmin": -1, "qmax": 2**64 - 1},
                    REJECT,
                    ("qmin", "qmax"),
                    ("-1", str(2**64 - 1)),
                ),
            ],
            contract="smallest integer dtype holding [qmin, qmax]; qmin <= qmax ints",
        ),
        Entry(
            "refquant:int_format",
            lambda: dict(name="int8"),
            {
                "name": with_names(
                    choice(
                        (
                            "int2",
                            "uint2",
                            "int4",
                            "uint4",
                            "int8",
                            "uint8",
                            "int16",
                            "uint16",
                            "int32",
                            "uint32",
                        )
                    ),
                    "format",
                )
            },
            contract="known names only (ValueError naming the name)",
        ),
        Entry(
            "refquant:IntFormat",
            lambda: dict(bits=8, signed=True, narrow_range=False),
            {
                "bits": integer(2, 32),
                "signed": flag(**{"int 1": REJECT, "None": REJECT}),
                "narrow_range": flag(**{"int 1": REJECT, "None": REJECT}),
            },
            contract="bits int in [2, 32]; signed and narrow_range bools",
        ),
    ]


ENTRIES: list[Entry] = [
    *_round_entries(),
    *_qparams_entries(),
    *_format_entries(),
]

EXEMPT: dict[str, str] = {
    "refquant:QParams": "frozen dataclass, a plain container of (scale, zero_point, quant_min, quant_max)",
}
