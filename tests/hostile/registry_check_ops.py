"""Registry: ``refquant.check.ops`` (the ops of ``refquant check`` and ``refquant vectors``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.check.ops import OPS
from tests.hostile.harness import Entry, aka, choice, generator, opaque


def _case() -> dict[str, Any]:
    """A quantize case whose implementation rounds half away from zero (x / s = 0.5, 1.5, 2.5, -0.5)."""
    return {
        "x": np.float32([0.5, 1.5, 2.5, -0.5]),
        "scale": np.array(1.0, np.float32),
        "zero_point": np.array(0, np.int32),
        "quant_min": np.array(-128, np.int32),
        "quant_max": np.array(127, np.int32),
        "actual": np.int8([1, 2, 3, -1]),
    }


NAMES = tuple(OPS)
ENTRIES: list[Entry] = [
    # an unknown name is a ValueError that says "unknown op", a non-string a TypeError naming "name"
    Entry("check:get_op", lambda: {"name": "quantize"}, {"name": aka(choice(NAMES), "op")}),
    Entry(
        "check:make_case",
        lambda: {"op": "quantize", "rng": np.random.default_rng(0)},
        {"op": aka(choice(NAMES), "name"), "rng": generator()},
    ),
    # every op name is tried on the quantize case: the others reject its keys (CaseError, a ValueError)
    Entry(
        "check:check_case",
        lambda: {"op": "quantize", "arrays": _case()},
        {"op": aka(choice(NAMES), "name"), "arrays": opaque()},
    ),
]
EXEMPT: dict[str, str] = {
    "check:CaseError": "an exception class (a ValueError): what check_case raises for an unusable case",
    "check:CaseResult": "NamedTuple of the comparison, the diagnosis and notes (a plain container)",
    "check:CheckOp": "frozen dataclass of one registry row (a plain container; its methods run in "
    "tests/test_cli_check.py on good and bad cases)",
    "check:OpArg": "frozen dataclass describing one argument (a plain container)",
}
