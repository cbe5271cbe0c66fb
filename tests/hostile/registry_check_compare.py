"""Registry: ``refquant.check.compare`` and ``refquant.check.coverage`` (compare, the asserts, coverage).

A comparison that finds differences is a result (``compare``) or an
``AssertionError`` naming ``actual`` and showing the values (the asserts):
those are documented outcomes, listed in ``ok_exceptions``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.check.strategies import Hostile
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Arg,
    Combo,
    Entry,
    array,
    axis,
    block,
    choice,
    codes,
    flag,
    float_dtype,
    integer,
    qrange,
    refit,
    scale,
    zero_point,
)
from tests.hostile.registry_core import X_POLICY, per_axis_adjust, per_block_adjust, x23, x24, x33

ASSERT_FAILS = (AssertionError,)  # documented: a comparison beyond the tolerance raises AssertionError


def q23() -> np.ndarray:
    return np.array([[-3, 0, 5], [127, -128, 1]], np.int8)


def b23() -> np.ndarray:
    # 0/1 codes: their bool and float variants hold the same values (the assert then passes)
    return np.array([[1, 0, 1], [1, 1, 0]], np.int8)


def f23() -> np.ndarray:
    # values of every grid compared here (float8_e4m3fn, bfloat16, float16, float32)
    return np.array([[0.25, -1.5, 448.0], [0.0, 2.0, -0.0078125]], np.float32)


def _h(label: str, value: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
    return Hostile(label, value, valid, frozenset(tags.split()), shows)


def inputs_cases(base: Any) -> list[Hostile]:
    """``inputs`` mappings: valid, per-element, wrong shapes, wrong types, a quantizer's arguments.

    The quantizer's ``x`` holds ties of ``x/s`` with an even and an odd floor and its scales are
    powers of two, so that a passing comparison on them does not warn (CoverageWarning).
    """
    x = f23()
    xq = np.array([[0.0625, 0.1875, -0.0625], [0.3125, 0.0, 1.0]], np.float32)  # x/s = .5 1.5 -.5 | 2.5 0 8
    xa = np.array([[0.25, 0.375, -0.0625], [0.3125, 0.0, 0.5]], np.float32)  # per column: .5, 1.5, ...
    return [
        _h("None", None, True, "finite"),
        _h("empty dict", {}, True, "finite"),
        _h("x of actual's shape", {"x": x}, True, "finite"),
        _h("scalar and row", {"s": 0.5, "row": np.arange(3)}, True, "finite"),
        _h("NaN input", {"x": np.full((2, 3), np.nan)}, True, "nan"),
        _h("wrong shape", {"x": np.zeros((3, 2))}, False, "shape", ("(3, 2)", "inputs['x']")),
        _h("ragged", {"x": [[1.0, 2.0], [3.0]]}, False, "shape", ("inputs['x']",)),
        _h("non-str key", {1: x}, False, "type", ("1", "keys")),
        _h("a list", [x], False, "type", ("list", "mapping")),
        _h(
            "quantizer arguments",
            {"x": xq, "scale": 0.125, "zero_point": 0, "quant_min": -128, "quant_max": 127},
            True,
            "finite",
        ),
        _h(
            "quantizer with a bad scale",
            {"x": xq, "scale": -1.0, "quant_min": -128, "quant_max": 127},
            False,
            "finite",
            ("-1.0", "scale"),
        ),
        _h(
            "quantizer per axis",
            {"x": xa, "scale": np.float32([0.5, 0.25, 0.125]), "quant_min": -8, "quant_max": 7, "axis": 1},
            True,
            "finite",
        ),
    ]


def inputs_arg(**policy: str) -> Arg:
    return Arg("inputs", inputs_cases, dict(policy), names=("inputs",))


CODES_POLICY = {"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": ACCEPT}
# expected follows actual's shape when actual's changes; its own empty array is another shape
EXPECTED_CODES = {"empty": REJECT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": ACCEPT}
FLOATS_POLICY = {
    "nan": ACCEPT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
}
EXPECTED_FLOATS = {**FLOATS_POLICY, "empty": REJECT}
# the asserts: a value that differs from the other argument's is a failed assertion (AssertionError
# naming actual and showing the values), not an invalid argument; both are documented outcomes
ASSERT_CODES = {**CODES_POLICY, "extreme": EITHER, "finite": EITHER, "0-d": EITHER, "scalar": EITHER}
ASSERT_FLOATS = {
    **FLOATS_POLICY,
    "nan": EITHER,
    "inf": EITHER,
    "extreme": EITHER,
    "big": EITHER,
    "finite": EITHER,
    "zeros": EITHER,
    "0-d": EITHER,
    "scalar": EITHER,
}
FMTS = ("float32", "float16", "bfloat16", "float8_e4m3fn")
NO_WARNING = {"None": ACCEPT}  # fmt=None is valid

ENTRIES: list[Entry] = [
    Entry(
        "check:compare",
        lambda: dict(actual=q23(), expected=q23() + np.int8(1) * (q23() < 100), kind="quantized"),
        {
            "actual": codes(**CODES_POLICY),
            "expected": codes(like="actual", **EXPECTED_CODES),
            "kind": choice(("quantized", "float")),
            "max_examples": integer(0, None),
            "inputs": inputs_arg(),
            "check_coverage": flag(),
        },
        related=("actual", "expected"),
        contract="a Comparison of exact LSB distances; shapes equal (or expected 0-d); codes integral",
        extra=[
            Combo("fmt with kind='quantized'", {"fmt": "bfloat16"}, REJECT, ("fmt",), ("bfloat16",)),
            Combo(
                "expected of another shape",
                {"expected": lambda: np.zeros((3, 2), np.int8)},
                REJECT,
                ("expected",),
                ("(3, 2)",),
            ),
            Combo(
                "int64 extremes",
                {
                    "actual": lambda: np.array([np.iinfo(np.int64).min, 0]),
                    "expected": lambda: np.array([np.iinfo(np.int64).max, 0]),
                },
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:compare",
        lambda: dict(actual=f23(), expected=f23(), kind="float"),
        {
            "actual": array(**FLOATS_POLICY),
            "expected": array(like="actual", **EXPECTED_FLOATS),
            "fmt": choice(FMTS, **NO_WARNING),
            "max_examples": integer(0, None),
        },
        variant="float",
        related=("actual", "expected", "fmt"),
        finite=False,
        contract="a Comparison of exact ULP distances on fmt's grid; values off the grid raise",
        extra=[
            Combo(
                "off the bfloat16 grid",
                {"actual": lambda: np.float32([[1.0000001, 0, 0], [0, 0, 0]]), "fmt": "bfloat16"},
                REJECT,
                ("actual",),
                ("1.0000001",),
            ),
            Combo("NaN on both sides", {"actual": lambda: np.full((2, 3), np.nan, np.float32)}, ACCEPT),
        ],
    ),
    Entry(
        "check:assert_quantized_equal",
        lambda: dict(actual=b23(), expected=b23()),
        {
            "actual": codes(**ASSERT_CODES),
            "expected": codes(like="actual", **{**ASSERT_CODES, "empty": REJECT}),
            "max_lsb": integer(0, None),
            "inputs": inputs_arg(),
            "max_examples": integer(0, None),
            "check_coverage": flag(),
        },
        related=("actual", "expected"),
        ok_exceptions={"actual": ASSERT_FAILS, "expected": ASSERT_FAILS},
        contract="returns the Comparison when |actual - expected| <= max_lsb, else AssertionError",
        extra=[
            Combo(
                "one code off by 1, max_lsb=0",
                {"expected": lambda: b23() + np.int8(1) * (b23() == 0)},
                REJECT,
                ("max_lsb",),
                ("difference -1 LSB",),
                ok_exceptions=ASSERT_FAILS,
            ),
            Combo(
                "codes off by 1, max_lsb=1",
                {"expected": lambda: b23() + np.int8(1) * (b23() == 0), "max_lsb": 1},
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:assert_float_close",
        lambda: dict(actual=f23(), expected=f23()),
        {
            "actual": array(dtypes=False, **ASSERT_FLOATS),
            "expected": array(like="actual", dtypes=False, **{**ASSERT_FLOATS, "empty": REJECT}),
            "max_ulp": integer(0, None),
            "fmt": choice(FMTS, **NO_WARNING),
            "max_examples": integer(0, None),
        },
        related=("actual", "expected", "fmt"),
        finite=False,
        ok_exceptions={"actual": ASSERT_FAILS, "expected": ASSERT_FAILS},
        contract="returns the Comparison within max_ulp (NaN == NaN, +0 == -0), else AssertionError",
        extra=[
            Combo(
                "NaN on one side",
                {"actual": lambda: np.where(f23() == 2.0, np.nan, f23()).astype(np.float32)},
                REJECT,
                ("actual", "max_ulp"),
                ("nan",),
                ok_exceptions=ASSERT_FAILS,
            ),
        ],
    ),
    Entry(
        "check:coverage",
        lambda: dict(x=x23(), scale=0.1, zero_point=3, quant_min=-128, quant_max=127),
        {
            "x": array(nan=ACCEPT, **X_POLICY),
            "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
            "zero_point": zero_point(-128, 127, **{"None": REJECT}),
            "range": qrange(
                "quant_min",
                "quant_max",
                -128,
                127,
                **{"±2**53": REJECT, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT},
            ),
            "compute_dtype": float_dtype(),
        },
        variant="per-tensor",
        contract="counts (Python ints) of ties, clamp edges, inexact reciprocals; quantize's argument rules",
    ),
    Entry(
        "check:coverage",
        lambda: dict(
            x=x33(), scale=np.full(3, 0.1), zero_point=np.full(3, 3), quant_min=-128, quant_max=127, axis=1
        ),
        {
            "x": array(nan=ACCEPT, **{**X_POLICY, "0-d": EITHER, "scalar": EITHER}),
            "scale": scale(shape=(3,)),
            "axis": refit(axis(2), per_axis_adjust),
        },
        variant="per-axis",
    ),
    Entry(
        "check:coverage",
        lambda: dict(
            x=x24(),
            scale=np.full((2, 2), 0.1),
            zero_point=np.full((2, 2), 3),
            quant_min=-128,
            quant_max=127,
            axis=1,
            block_size=2,
        ),
        {
            "x": array(nan=ACCEPT, structure=False, dtypes=False, **X_POLICY),
            "block_size": refit(block(4), per_block_adjust),
        },
        variant="per-block",
    ),
]
EXEMPT: dict[str, str] = {
    "check:Comparison": "a frozen dataclass, the result of compare",
    "check:Mismatch": "a frozen dataclass, one element of a Comparison",
    "check:Coverage": "a frozen dataclass, the result of coverage",
    "check:CoverageWarning": "a UserWarning subclass",
}
