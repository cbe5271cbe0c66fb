"""Registry: ``refquant.floats`` fixed point Qm.n (``refquant.floats.fixed``), and the codebook knobs
that ``registry_floats_codebook`` leaves out (``tol``, ``init="random"``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    REJECT,
    Combo,
    Entry,
    array,
    choice,
    codes,
    flag,
    float_dtype,
    generator,
    integer,
    real,
)
from tests.hostile.registry_core import ROUNDING, shape_of

OVERFLOW = ("saturate", "wrap")
RNG = generator(**{"None": ACCEPT, "RandomState": REJECT, "int seed 0": REJECT, "str": REJECT})
# documented: NaN raises (encode; quantize with wrap), ±inf saturate (raise with wrap), huge values saturate
X_POLICY = {
    "nan": REJECT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
    "all zeros": ACCEPT,
}


def _x() -> np.ndarray:
    return np.array([[0.3, -1.7, 0.5], [100.0, -0.01, 0.99999]], np.float32)


def _base() -> dict[str, Any]:
    return dict(x=_x(), integer_bits=0, fraction_bits=7)


def _knobs(nan: str) -> dict[str, Any]:
    return {
        "x": array(**{**X_POLICY, "nan": nan}),
        "integer_bits": integer(-7, 56),  # Q?.7 signed: 1 <= total_bits <= 64
        "fraction_bits": integer(0, 63),  # Q0.? signed
        "signed": flag(),
        "rounding": choice(ROUNDING, **{"'stochastic'": REJECT}),  # needs rng (documented)
        "overflow": choice(OVERFLOW),
        "rng": RNG,
    }


def _extra() -> list[Combo]:
    return [
        Combo(
            "stochastic with rng", {"rounding": "stochastic", "rng": lambda: np.random.default_rng(3)}, ACCEPT
        ),
        Combo("wrap", {"overflow": "wrap"}, ACCEPT),
        Combo(
            "wrap of inf",
            {"overflow": "wrap", "x": lambda: np.array([np.inf, 0.5])},
            REJECT,
            ("x",),
            ("inf",),
        ),
        Combo("unsigned", {"signed": False}, ACCEPT),
        Combo("65 bits", {"integer_bits": 57}, REJECT, ("total_bits",), ("65",)),
        Combo("0 bits unsigned", {"signed": False, "fraction_bits": 0}, REJECT, ("total_bits",), ("0",)),
    ]


def _quantize_dtype(kw: dict[str, Any]) -> Any:
    if kw.get("dtype") is not None:
        return np.dtype(kw["dtype"])
    a = np.asarray(kw["x"])
    return np.dtype(np.float32) if a.dtype in (np.float16, np.float32) else np.dtype(np.float64)


def _code_dtype(kw: dict[str, Any]) -> Any:
    from refquant.floats.fixed import FixedFormat

    return FixedFormat(kw["integer_bits"], kw["fraction_bits"], kw.get("signed", True)).code_dtype


ENTRIES: list[Entry] = [
    Entry(
        "floats:fixed_encode",
        _base,
        _knobs(REJECT),
        dtype=_code_dtype,
        shape=shape_of("x"),
        contract="Qm.n codes k = O(R(x * 2**n)) in the smallest int dtype; NaN raises",
        extra=_extra(),
    ),
    Entry(
        "floats:fixed_quantize",
        _base,
        {
            **_knobs(ACCEPT),
            "integer_bits": integer(-7, 17),  # float32 output (x's dtype): at most 24 magnitude bits
            "fraction_bits": integer(0, 24),
            "dtype": float_dtype(("float32", "float64")),
        },
        dtype=_quantize_dtype,
        shape=shape_of("x"),
        finite=False,  # NaN stays NaN under saturate (documented)
        contract="x on the Qm.n grid, fixed_decode(fixed_encode(x)); NaN kept (saturate) or raises (wrap)",
        extra=[
            *_extra(),
            Combo(
                "wrap of NaN", {"overflow": "wrap", "x": lambda: np.array([np.nan])}, REJECT, ("x",), ("nan",)
            ),
            Combo(
                "float32 out of Q0.31",
                {"fraction_bits": 31, "dtype": "float32"},
                REJECT,
                ("dtype",),
                ("float32",),
            ),
        ],
    ),
    Entry(
        "floats:fixed_decode",
        lambda: dict(
            codes=np.array([[0, 1, 127], [-128, -5, 64]], np.int16), integer_bits=0, fraction_bits=7
        ),
        {
            "codes": codes(),
            "integer_bits": integer(0, 46),  # the codes need 8 bits; float64 output at most 53 magnitude bits
            "fraction_bits": integer(7, 53),
            "dtype": float_dtype(("float32", "float64")),
        },
        dtype=lambda kw: np.dtype(kw.get("dtype", np.float64)),
        shape=shape_of("codes"),
        contract="k * 2**-n; codes outside [qmin, qmax] raise",
        extra=[
            Combo("code too big", {"codes": lambda: np.array([128, 3])}, REJECT, ("codes",), ("128",)),
            Combo("code too small", {"codes": lambda: np.array([-129, 3])}, REJECT, ("codes",), ("-129",)),
            Combo(
                "unsigned, negative code",
                {"signed": False, "codes": lambda: np.array([-1])},
                REJECT,
                ("codes",),
                ("-1",),
            ),
        ],
    ),
]


def _w() -> np.ndarray:
    return np.array([[0.3, -1.7, 2.5], [1.0, -0.01, 0.7]], np.float32)


ENTRIES.append(
    Entry(
        "floats:kmeans_codebook",
        lambda: dict(w=_w(), k=3, init="random", rng=np.random.default_rng(0), tol=1e-3),
        {
            "tol": real(0, None, **{"1e300": ACCEPT}),
            "init": choice(("linear", "density", "kmeans++", "random")),
            "rng": generator(**{"None": REJECT, "RandomState": REJECT, "int seed 0": REJECT, "str": REJECT}),
        },
        variant="random-tol",
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="Forgy init needs rng; tol finite >= 0 stops on a small relative decrease",
        extra=[Combo("tol 0", {"tol": 0.0}, ACCEPT), Combo("k above n", {"k": 9}, ACCEPT)],
    )
)

EXEMPT: dict[str, str] = {
    "floats:FixedFormat": "a frozen dataclass of three fields, each checked in __post_init__ "
    "(tests/floats/test_fixed.py)",
    "floats:OVERFLOW_MODES": "a tuple of constants",
}
