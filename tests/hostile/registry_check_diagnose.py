"""Registry: ``refquant.check.diagnose.diagnose_quantize`` (why an implementation's codes differ).

``x`` keeps its shape (``actual`` must have it: structural attacks on ``x``
are attacks on the pair, covered by ``actual``'s). Documented: NaN elements of
``x`` are left out of the comparison; NaN or inf in ``actual`` and codes
outside the range count as different (a result, not an error); ``actual``
of another shape, fractional float codes (with ``dequantized=False``) and
non-numeric dtypes raise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.quantize import fake_quantize, quantize
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
    codes,
    flag,
    qrange,
    refit,
    scale,
    zero_point,
)
from tests.hostile.registry_core import X_POLICY, per_axis_adjust, per_block_adjust, x23, x24, x33

# x: NaN is left out of the comparison (documented), the rest as quantize
DIAG_X = {**X_POLICY, "nan": ACCEPT}
# actual: codes of x's shape; any integer values (out of range: "different"), integral or NaN floats
ACTUAL_CODES = {
    "empty": REJECT,
    "0-d": REJECT,
    "scalar": REJECT,
    "float codes (integral)": ACCEPT,
    "float codes (nan)": ACCEPT,
    "bool codes": ACCEPT,
    "extreme": ACCEPT,
    "finite": ACCEPT,
}
# the code range: wide ranges are valid (the int8 actual then simply differs or not)
RANGE = {"±2**53": EITHER, "±2**60": REJECT, "0 .. 2**53 + 1": REJECT}
# dequantized floats: NaN and inf in actual count as different; structure follows x
ACTUAL_FLOATS = {
    "nan": ACCEPT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "big": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
}


def _base_t() -> dict[str, Any]:
    x = x23()
    return dict(
        x=x, actual=quantize(x, 0.1, 3, -128, 127, rounding="half_away"), scale=0.1, zero_point=3,
        quant_min=-128, quant_max=127,
    )  # fmt: skip


def _base_a() -> dict[str, Any]:
    x = x33()
    s, z = np.full(3, 0.1), np.full(3, 3)
    return dict(
        x=x, actual=quantize(x, s, z, -128, 127, axis=1, op_order="multiply"), scale=s, zero_point=z,
        quant_min=-128, quant_max=127, axis=1,
    )  # fmt: skip


def _base_b() -> dict[str, Any]:
    x = x24()
    s, z = np.full((2, 2), 0.1), np.full((2, 2), 3)
    return dict(
        x=x, actual=quantize(x, s, z, -128, 127, axis=1, block_size=2), scale=s, zero_point=z,
        quant_min=-128, quant_max=127, axis=1, block_size=2,
    )  # fmt: skip


def _base_d() -> dict[str, Any]:
    x = x23()
    y = fake_quantize(x, 0.1, 3, -128, 127, op_order="multiply", zero_point_add="after_rounding")
    return dict(x=x, actual=y, scale=0.1, zero_point=3, quant_min=-128, quant_max=127, dequantized=True)


def _common() -> dict[str, Arg]:
    return {
        "x": array(structure=False, **DIAG_X),
        "actual": codes(like="x", **ACTUAL_CODES),
        "dequantized": flag(),
    }


CONTRACT = (
    "a Diagnosis: settings that reproduce actual exactly, or findings; x's NaN left out; actual of x's "
    "shape (codes, or floats with dequantized=True); the quantizer validated as in quantize"
)
ENTRIES: list[Entry] = [
    Entry(
        "check:diagnose_quantize",
        _base_t,
        {
            **_common(),
            "scale": scale(**{"1-element list": ACCEPT, "1-element array": ACCEPT}),
            "zero_point": zero_point(-128, 127, **{"None": REJECT}),
            "range": qrange("quant_min", "quant_max", -128, 127, **RANGE),
        },
        variant="per-tensor",
        contract=CONTRACT,
        extra=[
            Combo(
                "actual of another shape",
                {"actual": lambda: np.zeros((3, 2), np.int8)},
                REJECT,
                ("actual",),
                ("(3, 2)",),
            ),
            Combo(
                "fractional float codes without dequantized=True",
                {"actual": lambda: np.full((2, 3), 0.5)},
                REJECT,
                ("actual", "dequantized"),
                ("0.5",),
            ),
            Combo("codes outside the range", {"actual": lambda: np.full((2, 3), 300, np.int16)}, ACCEPT),
            Combo(
                "NaN everywhere in x",
                {"x": lambda: np.full((2, 3), np.nan, np.float32)},
                ACCEPT,
                finite_in=False,
            ),
            Combo(
                "empty x and actual",
                {"x": lambda: np.zeros((0, 3), np.float32), "actual": lambda: np.zeros((0, 3), np.int8)},
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:diagnose_quantize",
        _base_a,
        {
            **_common(),
            "scale": scale(shape=(3,)),
            "zero_point": zero_point(-128, 127, shape=(3,), **{"None": REJECT}),
            "axis": refit(axis(2), per_axis_adjust),
        },
        variant="per-axis",
        contract=CONTRACT,
    ),
    Entry(
        "check:diagnose_quantize",
        _base_b,
        {
            "x": array(structure=False, **DIAG_X),
            "scale": scale(shape=(2, 2)),
            "zero_point": zero_point(-128, 127, shape=(2, 2), **{"None": REJECT}),
            "block_size": refit(block(4), per_block_adjust),
        },
        variant="per-block",
        contract=CONTRACT,
    ),
    Entry(
        "check:diagnose_quantize",
        _base_d,
        {
            "x": array(structure=False, **DIAG_X),
            "actual": array(like="x", **ACTUAL_FLOATS),
            "scale": scale(),
        },
        variant="dequantized",
        contract=CONTRACT + "; dequantized values are mapped back to codes, off-grid ones count as different",
    ),
]
EXEMPT: dict[str, str] = {
    "check:Diagnosis": "a frozen result container, no array math (its __str__: the doctest in diagnosis.py)",
}
