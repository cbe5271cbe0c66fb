"""Registry: ``refquant.check.diagnose_cast``, ``diagnose_mask`` and ``diagnose_vjp`` (issue 11, section 2).

Each returns a :class:`refquant.check.diagnosis.Diagnosis`; its ``max_error``
may be inf (a NaN or inf that differs, shapes that differ), so the entries
are not ``finite``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.floats import FLOAT_FORMATS
from tests.hostile.api import resolve
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    SKIP,
    Arg,
    Combo,
    Entry,
    amount,
    array,
    axis,
    choice,
    generator,
    integer,
    mask,
    real,
)
from tests.hostile.registry_misc import argnums_cases, args_cases, x64


def _cast_base() -> dict[str, Any]:
    x = np.array([[1.0625, -1.0625, 300.0], [500.0, 1e-3, -0.0]], np.float32)
    actual = np.array([[1.125, -1.125, 288.0], [448.0, 0.001953125, -0.0]], np.float32)
    return dict(x=x, actual=actual, fmt="float8_e4m3fn")


def _mask_base() -> dict[str, Any]:
    w = np.array([[0.5, -0.1, 0.3, -0.2, 0.9], [0.05, 0.7, -0.6, 0.8, 0.4]])
    return dict(weights=w, actual_mask=np.abs(w) > 0.2, amount=0.25)


def _vjp_base() -> dict[str, Any]:
    return dict(f=resolve("nn:tanh"), f_vjp=resolve("nn:tanh_vjp"), args=(x64(),))


# x: any float values (NaN, inf and empty arrays are diagnosed, not rejected)
CAST_X = {"nan": ACCEPT, "inf": ACCEPT, "empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT}
# actual: the cast values as floats, of x's shape; integer codes are rejected (decode them first)
CAST_ACTUAL = {"nan": ACCEPT, "inf": ACCEPT, "dtype": EITHER}
# weights: NaN cannot be ranked (rejected, naming weights); inf ranks as a large magnitude
MASK_W = {"nan": REJECT, "inf": ACCEPT, "empty": ACCEPT, "0-d": EITHER, "scalar": EITHER}
ENTRIES: list[Entry] = [
    Entry(
        "check:diagnose_cast",
        _cast_base,
        {
            "x": array(**CAST_X),
            "actual": array(like="x", **CAST_ACTUAL),
            "fmt": choice(tuple(FLOAT_FORMATS)),
            "max_examples": integer(0, None, **{"2**31": ACCEPT}),
        },
        finite=False,
        contract="a Diagnosis; max_error is inf where a NaN or inf differs",
        extra=[
            Combo("bfloat16", {"fmt": "bfloat16"}, ACCEPT),
            Combo("fp4", {"fmt": "float4_e2m1fn"}, ACCEPT),
        ],
    ),
    Entry(
        "check:diagnose_mask",
        _mask_base,
        {
            "weights": array(**MASK_W),
            "actual_mask": mask(like="weights"),
            "amount": amount(),
            "kind": choice(("unstructured", "structured", "nm", "global"), **{"None": ACCEPT}),
            "axis": axis(2, **{"None": ACCEPT}),
            "max_examples": integer(0, None, **{"2**31": ACCEPT}),
        },
        finite=False,
        contract="a Diagnosis; NaN weights raise ValueError naming weights",
        extra=[
            Combo("structured p=1", {"kind": "structured", "p": 1, "amount": 1}, ACCEPT),
            Combo("nm 2:4", {"kind": "nm", "amount": "2:4", "weights": np.ones((2, 8))}, EITHER),
            Combo(
                "global",
                lambda kw: kw.update(weights=[kw["weights"]], actual_mask=[kw["actual_mask"]]),
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "check:diagnose_vjp",
        _vjp_base,
        {
            "args": Arg("args", args_cases, {"NaN in the argument": REJECT}),
            "argnums": Arg("argnums", argnums_cases),
            "eps": real(0.0, None, lo_open=True, **{"1e300": EITHER, "just above lo": EITHER, "mid": EITHER}),
            "rtol": real(0.0, None, **{"1e300": EITHER, "None": ACCEPT}),  # None: the default
            "atol": real(0.0, None, **{"1e300": EITHER, "None": ACCEPT}),
            "rng": generator(**{"None": ACCEPT}),
            "n_cotangents": integer(1, None, **{"2**31": SKIP}),
            # a small max_size raises ValueError naming it (the arguments are larger): documented
            "max_size": integer(1, None, **{"2**31": ACCEPT, "lo": EITHER, "np.int64": EITHER}),
            "max_examples": integer(0, None, **{"2**31": ACCEPT}),
        },
        finite=False,
        contract="a Diagnosis; NaN in a differentiated argument raises (central differences)",
        extra=[
            Combo("f not callable", {"f": 3}, REJECT, ("f",), ("3", "int")),
            Combo("wrong vjp", {"f_vjp": lambda: resolve("nn:sigmoid_vjp")}, ACCEPT),
        ],
    ),
]
EXEMPT: dict[str, str] = {}
