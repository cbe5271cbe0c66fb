"""Min-max normalization, the seed document's ``Quantizer`` example, with its correct gradient.

The seed's ``Quantizer`` (section 4.1) computes ``y = (x - min x) / (max x - min x)``
and claims the backward ``grad * (max - min)``. That is wrong twice: the
derivative of the division is ``1 / (max - min)``, not ``max - min``; and
``min x`` and ``max x`` depend on ``x``, which adds a term on the elements
that attain them. :func:`minmax_normalize_vjp` gives both the exact gradient
and, with ``through_range=False``, the one that treats the range as constant.
See the docs page "Errata of the seed examples".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.grad._args import cotangent, flag, real_array

__all__ = ["MinMaxNormalizeGrad", "minmax_normalize", "minmax_normalize_vjp"]


class MinMaxNormalizeGrad(NamedTuple):
    """Gradient of :func:`minmax_normalize` with respect to ``x``."""

    grad_x: NDArray[Any]


def minmax_normalize(x: ArrayLike) -> NDArray[Any]:
    """``y = (x - min(x)) / (max(x) - min(x))``, over the whole array.

    Parameters
    ----------
    x : array_like of float, any shape, not constant
        Finite values.

    Returns
    -------
    ndarray, shape and float dtype of ``x``, values in [0, 1]

    Notes
    -----
    .. math:: y_i = \\frac{x_i - m}{M - m}, \\quad m = \\min_j x_j,\\ M = \\max_j x_j

    Source: the seed document, section 4.1 (``Quantizer.forward``). A
    constant ``x`` (one element included) raises ``ValueError`` (0 / 0), and
    so do NaN and ``±inf`` (no range). Computed in float64 and rounded once
    to ``x``'s dtype; a range ``M - m`` beyond the float64 maximum (e.g.
    ``[-1e308, 1e308]``) is handled by halving every term first (exact
    but for subnormal elements, far below the rounding), so a finite ``x``
    always gives values in [0, 1].

    Examples
    --------
    >>> minmax_normalize([2.0, 4.0, 3.0, 6.0]).tolist()
    [0.0, 0.5, 0.25, 1.0]
    """
    xa, x64, m, d, _ = _checked(x)
    return ((x64 - m) / d).astype(xa.dtype)


def minmax_normalize_vjp(g: ArrayLike, x: ArrayLike, *, through_range: bool = True) -> MinMaxNormalizeGrad:
    """Gradient of :func:`minmax_normalize`: ``g / (M - m)`` plus the paths through ``m`` and ``M``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of ``y``.
    x : array_like of float
    through_range : bool
        Include the dependence of ``m = min x`` and ``M = max x`` on ``x``
        (default: the exact gradient); False treats them as constants.

    Returns
    -------
    MinMaxNormalizeGrad
        ``grad_x``, shape and float dtype of ``x`` (computed in float64, with
        the range halved as in :func:`minmax_normalize` when it overflows,
        then rounded once).

    Notes
    -----
    With ``D = M - m``, ``S = sum(g)`` and ``T = sum(g * y)``:

    .. math::

        \\bar x = \\frac{g}{D} + \\frac{T - S}{D}\\,\\frac{\\partial m}{\\partial x}
        - \\frac{T}{D}\\,\\frac{\\partial M}{\\partial x}

    since ``dL/dm = sum_i g_i (y_i - 1) / D`` and ``dL/dM = -sum_i g_i y_i / D``.
    ``dm/dx`` is ``1/k`` on each of the ``k`` elements tied for the minimum and
    0 elsewhere (likewise ``dM/dx``): splitting equally is the gradient of
    the mean of the tied elements, a valid subgradient, the one torch's
    ``min()``/``max()`` backward uses, and it keeps the gradient
    symmetric in the tied inputs. Sums: ``sum(grad_x) = 0`` when
    ``through_range`` (``y`` does not change when ``x`` shifts). Source:
    derived here (quotient rule plus the subgradients of min and max); it
    corrects the seed document's section 4.1 backward, and agrees with torch
    autograd of the same expression (``tests/conformance``).

    Examples
    --------
    >>> x = [2.0, 4.0, 3.0, 6.0]
    >>> minmax_normalize_vjp([1.0, 0.0, 0.0, 0.0], x, through_range=False).grad_x.tolist()
    [0.25, 0.0, 0.0, 0.0]
    >>> minmax_normalize_vjp([0.0, 1.0, 0.0, 0.0], x).grad_x.tolist()
    [-0.125, 0.25, 0.0, -0.125]
    """
    xa, x64, m, d, halved = _checked(x)
    tr = flag("through_range", through_range)
    ga = cotangent(g, xa)
    g64 = ga.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        grad = g64 / d
        if tr:
            y = (x64 - m) / d
            s, t = np.sum(g64), np.sum(g64 * y)
            at_min, at_max = x64 == m, x64 == x64.max()
            grad = grad + (t - s) / d * at_min / np.count_nonzero(at_min)
            grad = grad - t / d * at_max / np.count_nonzero(at_max)
        if halved:  # d is half the true range
            grad = grad * 0.5
    return MinMaxNormalizeGrad(grad.astype(xa.dtype))


def _checked(x: ArrayLike) -> tuple[NDArray[Any], NDArray[np.float64], Any, Any, bool]:
    """``x``; ``x`` in float64, its minimum and range ``M - m``, all halved when the range overflows."""
    xa = real_array("x", x)
    if xa.size == 0:
        raise ValueError(f"x must not be empty, got shape {xa.shape}")
    if not np.all(np.isfinite(xa)):
        bad = xa[~np.isfinite(xa)].ravel()[:3].tolist()
        raise ValueError(f"x must be finite (min and max of NaN or inf are not a range), got {bad}")
    x64 = xa.astype(np.float64)
    m, big_m = x64.min(), x64.max()
    if m == big_m:
        raise ValueError(
            f"x is constant (every element {m}, shape {xa.shape}): max(x) - min(x) = 0, "
            "the normalization is 0 / 0"
        )
    with np.errstate(over="ignore"):
        d = big_m - m
    if not np.isinf(d):
        return xa, x64, m, d, False
    x64 = x64 * 0.5  # only for float64 x; exact but for subnormal elements (far below the rounding)
    m = x64.min()
    return xa, x64, m, x64.max() - m, True
