"""The hostile-input harness: registry records, case generation, one guarded call, the verdict.

A registry :class:`Entry` gives a public function's valid baseline call and,
per argument, an :class:`Arg`: its kind (array, scale, zero point, range,
amount, axis, ...), which hostile catalogue feeds it, and the documented
contract for the catalogue's values (``policy``: label or tag -> accept,
reject or either). :func:`cases` turns entries into :class:`Case` objects
(one hostile value in one argument, or a documented combination);
:func:`run_case` calls the function twice under a memory and time limit and
returns the failures, each in one of :data:`CLASSES`.

The code is in four modules, re-exported here: ``harness_args`` (the argument
kinds), ``harness_cases`` (entries and case generation), ``harness_call`` (the
guarded call and comparing values) and ``harness_verdict`` (the failure classes
and the checks of one case).
"""

from __future__ import annotations

from tests.hostile.harness_args import (
    ACCEPT,
    EITHER,
    REJECT,
    SKIP,
    TAG_ORDER,
    Arg,
    aka,
    amount,
    array,
    axis,
    block,
    block_shape,
    choice,
    codes,
    flag,
    float_dtype,
    generator,
    int_dtype,
    integer,
    mask,
    opaque,
    qrange,
    real,
    refit,
    scale,
    seq,
    zero_point,
)
from tests.hostile.harness_call import (
    MEMORY_LIMIT,
    TIMEOUT,
    CallTimeout,
    Outcome,
    call,
    describe,
    guard,
    leaves,
    short,
)
from tests.hostile.harness_cases import Case, Combo, Entry, cases
from tests.hostile.harness_verdict import CLASSES, NO_REF, REF_REJECT, Failure, run_case

__all__ = [
    "ACCEPT",
    "CLASSES",
    "EITHER",
    "MEMORY_LIMIT",
    "NO_REF",
    "REF_REJECT",
    "REJECT",
    "SKIP",
    "TAG_ORDER",
    "TIMEOUT",
    "Arg",
    "CallTimeout",
    "Case",
    "Combo",
    "Entry",
    "Failure",
    "Outcome",
    "aka",
    "amount",
    "array",
    "axis",
    "block",
    "block_shape",
    "call",
    "cases",
    "choice",
    "codes",
    "describe",
    "flag",
    "float_dtype",
    "generator",
    "guard",
    "int_dtype",
    "integer",
    "leaves",
    "mask",
    "opaque",
    "qrange",
    "real",
    "refit",
    "run_case",
    "scale",
    "seq",
    "short",
    "zero_point",
]
