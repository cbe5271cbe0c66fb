"""The check_vjp reports quoted in docs/errata.md are what the code prints today."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from refquant.check import check_vjp
from refquant.grad.normalize import minmax_normalize, minmax_normalize_vjp

ERRATA = Path(__file__).resolve().parents[1] / "docs" / "errata.md"


def _report(vjp) -> str:
    x = np.random.default_rng(0).standard_normal((5, 5))
    try:
        return str(check_vjp(minmax_normalize, vjp, (x,)))
    except AssertionError as exc:
        return str(exc)


@pytest.mark.parametrize(
    "vjp",
    [
        lambda g, x: g * (x.max() - x.min()),
        lambda g, x: minmax_normalize_vjp(g, x, through_range=False),
        minmax_normalize_vjp,
    ],
    ids=["seed", "constant-range", "exact"],
)
def test_errata_reports_are_current(vjp) -> None:
    assert _report(vjp) in ERRATA.read_text(encoding="utf-8")
