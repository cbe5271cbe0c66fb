"""Hostile arguments to the gradient checks: clear errors, not misleading verdicts (issue 8)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.check import check_vjp, check_vjp_against


def test_check_vjp_bad_arguments() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return 2.0 * x

    def f_vjp(g: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (2.0 * g,)

    with pytest.raises(ValueError, match=r"args\[0\] .* holds \[nan\]: central differences need finite"):
        check_vjp(f, f_vjp, (np.array([np.nan, 1.0]),))  # an AssertionError ("disagrees") before
    with pytest.raises(TypeError, match=r"f must accept 1 positional argument\(s\) \(the args; args has 1"):
        check_vjp(lambda: 1.0, f_vjp, (np.ones(2),))
    with pytest.raises(ValueError, match="eps must be finite and > 0, got 0"):
        check_vjp(f, f_vjp, (np.ones(2),), eps=0)


def test_check_vjp_against_bad_arguments() -> None:
    def ste(g: np.ndarray, x: np.ndarray) -> np.ndarray:
        return g

    with pytest.raises(TypeError, match="reference_vjp must be callable, got 3"):
        check_vjp_against(ste, 3, (np.ones(2),))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"f_vjp must accept 2 positional argument\(s\) \(the cotangent g, then"
    ):
        check_vjp_against(lambda g: g, ste, (np.ones(2),))
    with pytest.raises(ValueError, match="rtol must be finite and >= 0, got nan"):
        check_vjp_against(ste, ste, (np.ones(2),), rtol=float("nan"))
