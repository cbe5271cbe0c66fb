"""Checks other projects import to test their own gradients against refquant's rules.

* :func:`check_vjp` -- a ``_vjp`` against central differences of its forward
  (inner-product test in random directions, full Jacobian for small inputs);
* :func:`check_vjp_against` -- a ``_vjp`` against a reference ``_vjp`` on the
  same cotangents (straight-through estimators, bit-exact ports);
* :mod:`refquant.check.hostile` and :mod:`refquant.check.hostile_params` --
  hostile values (NaN, subnormals, bad scales, zero points, ranges, amounts,
  axes, block sizes, views and dtypes) as plain lists, NumPy only;
* :mod:`refquant.check.strategies` -- the same as hypothesis strategies;
  loaded on first access, so that importing :mod:`refquant.check` does not
  import hypothesis.
"""

from refquant.check.gradcheck import ArgumentCheck, GradcheckResult, check_vjp, check_vjp_against

__all__ = ["ArgumentCheck", "GradcheckResult", "check_vjp", "check_vjp_against"]


def __getattr__(name: str) -> object:
    """Load :mod:`refquant.check.strategies` (hypothesis, a test dependency) on first use."""
    if name == "strategies":
        import importlib

        return importlib.import_module("refquant.check.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
