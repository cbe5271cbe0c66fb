"""Checks other projects import to test their own gradients against refquant's rules.

* :func:`check_vjp` -- a ``_vjp`` against central differences of its forward
  (inner-product test in random directions, full Jacobian for small inputs);
* :func:`check_vjp_against` -- a ``_vjp`` against a reference ``_vjp`` on the
  same cotangents (straight-through estimators, bit-exact ports).
"""

from refquant.check.gradcheck import ArgumentCheck, GradcheckResult, check_vjp, check_vjp_against

__all__ = ["ArgumentCheck", "GradcheckResult", "check_vjp", "check_vjp_against"]
