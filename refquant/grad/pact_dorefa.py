"""PACT (learned activation clipping) and DoReFa-Net weight and activation quantizers.

Both quantize a value in a known interval on a uniform grid,
``quantize_k(r) = round((2**k - 1) r) / (2**k - 1)`` for ``r`` in [0, 1]
(rounding half to even, as ``tf.round``), and train through the rounding
with the straight-through estimator. Boundary conventions (each element's
gradient goes to exactly one place):

* PACT: ``dx`` flows for ``0 <= x < alpha``; ``d alpha`` collects ``g`` for
  ``x >= alpha`` (Choi et al. 2018, eq. 3); nothing flows for ``x < 0``.
* DoReFa activations: ``da`` flows for ``0 <= a <= 1`` (``tf.clip_by_value``'s
  gradient, inclusive at both ends).
* DoReFa weights (k >= 2): the STE for the rounding, then the exact
  derivative of ``tanh`` and of the normalization by ``max |tanh(w)|``
  (ties of the max share its gradient equally, as TF's ``reduce_max``), as
  in the authors' TensorFlow code; ``through_max=False`` treats the max as a
  constant instead. k = 1: ``sign(w) * mean|w|`` with ``sign(0) = 1``, the
  mean held constant and the identity gradient.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, cotangent
from refquant.rounding import round_unchecked

__all__ = [
    "PACTGrads",
    "dorefa_activation",
    "dorefa_activation_vjp",
    "dorefa_weight",
    "dorefa_weight_vjp",
    "pact",
    "pact_vjp",
    "quantize_k",
]


class PACTGrads(NamedTuple):
    """Gradients of PACT: input and clipping level."""

    grad_x: NDArray[Any]
    grad_alpha: NDArray[Any]


def quantize_k(r: ArrayLike, bits: int) -> NDArray[Any]:
    """DoReFa's ``quantize_k(r) = round((2**k - 1) r) / (2**k - 1)``, for ``r`` in [0, 1].

    Parameters
    ----------
    r : array_like of float
    bits : int
        ``k``, from 1 to 32.

    Returns
    -------
    ndarray, shape and float dtype of ``r``

    Notes
    -----
    .. math:: q_k(r) = \\frac{\\lfloor (2^k - 1)\\, r \\rceil}{2^k - 1}

    Source: Zhou et al., "DoReFa-Net" (2016), eq. 5. Half to even, like
    ``tf.round``. NaN gives NaN; values outside [0, 1] are not clipped here.

    Examples
    --------
    >>> quantize_k([0.0, 0.3, 0.5, 1.0], 2).tolist()
    [0.0, 0.3333333333333333, 0.6666666666666666, 1.0]
    """
    ra = as_float_array("r", r)
    n = ra.dtype.type(_levels(bits))
    return round_unchecked(ra * n, "half_even", None) / n


def pact(x: ArrayLike, alpha: ArrayLike, bits: int) -> NDArray[Any]:
    """PACT forward: ``y = clip(x, 0, alpha)`` quantized to ``bits`` on ``[0, alpha]``.

    Parameters
    ----------
    x : array_like of float, any shape
    alpha : float
        Learned clipping level, ``alpha > 0``.
    bits : int
        From 1 to 32.

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math:: y_q = \\frac{\\alpha}{2^k - 1}\\Big\\lfloor \\operatorname{clip}(x, 0, \\alpha)
              \\frac{2^k - 1}{\\alpha} \\Big\\rceil

    Source: Choi et al., "PACT: Parameterized clipping activation for
    quantized neural networks" (2018), eqs. 1-2. NaN gives NaN (and, in
    :func:`pact_vjp`, no gradient to ``x`` or ``alpha``: every comparison is false).

    Examples
    --------
    >>> pact([-1.0, 0.2, 0.9, 5.0], 2.0, 2).tolist()
    [0.0, 0.0, 0.6666666666666666, 2.0]
    """
    xa, a = _pact_args(x, alpha)
    n = xa.dtype.type(_levels(bits))
    return round_unchecked(np.clip(xa, 0, a) * (n / a), "half_even", None) * (a / n)


def pact_vjp(g: ArrayLike, x: ArrayLike, alpha: ArrayLike, bits: int) -> PACTGrads:
    """PACT gradients: ``dx = g [0 <= x < alpha]``, ``d alpha = sum(g [x >= alpha])``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x, alpha, bits
        As in :func:`pact`.

    Returns
    -------
    PACTGrads
        ``grad_x`` (shape of ``x``) and ``grad_alpha`` (0-d).

    Notes
    -----
    .. math:: \\frac{\\partial y_q}{\\partial x} = \\mathbb{1}[0 \\le x < \\alpha], \\qquad
              \\frac{\\partial y_q}{\\partial \\alpha} = \\mathbb{1}[x \\ge \\alpha]

    The STE for the rounding makes ``y_q`` look like ``clip(x, 0, alpha)``;
    PACT ignores the rounding error's dependence on ``alpha`` (that is LSQ's
    term). Source: Choi et al. (2018), eq. 3.

    Examples
    --------
    >>> r = pact_vjp([1.0, 1.0, 1.0, 1.0], [-1.0, 0.5, 2.0, 3.0], 2.0, 4)
    >>> r.grad_x.tolist(), float(r.grad_alpha)
    ([0.0, 1.0, 0.0, 0.0], 2.0)
    """
    xa, a = _pact_args(x, alpha)
    _levels(bits)
    ga = cotangent(g, xa, "the input")
    inside = (xa >= 0) & (xa < a)
    return PACTGrads(ga * inside, np.asarray(np.sum(ga * (xa >= a)), dtype=xa.dtype))


def dorefa_activation(a: ArrayLike, bits: int) -> NDArray[Any]:
    """DoReFa activation quantizer: ``quantize_k(clip(a, 0, 1))``.

    Parameters
    ----------
    a : array_like of float
    bits : int

    Returns
    -------
    ndarray, shape and float dtype of ``a``

    Notes
    -----
    .. math:: a_q = q_k(\\operatorname{clip}(a, 0, 1))

    Source: Zhou et al. (2016), section 2.4 (the clip to [0, 1] precedes it).
    NaN gives NaN, and no gradient in :func:`dorefa_activation_vjp`.

    Examples
    --------
    >>> dorefa_activation([-0.5, 0.4, 2.0], 1).tolist()
    [0.0, 0.0, 1.0]
    """
    aa = as_float_array("a", a)
    return quantize_k(np.clip(aa, 0, 1), bits)


def dorefa_activation_vjp(g: ArrayLike, a: ArrayLike, bits: int) -> NDArray[Any]:
    """DoReFa activation gradient: ``da = g * [0 <= a <= 1]``.

    Parameters
    ----------
    g : array_like of float, shape of ``a``
    a : array_like of float
    bits : int

    Returns
    -------
    ndarray
        ``grad_a``, shape of ``a``.

    Notes
    -----
    .. math:: \\bar a = \\bar y\\, \\mathbb{1}[0 \\le a \\le 1]

    Source: Zhou et al. (2016), eq. 6 (STE) with ``tf.clip_by_value``'s gradient.

    Examples
    --------
    >>> dorefa_activation_vjp([1.0, 1.0, 1.0], [-0.5, 1.0, 2.0], 2).tolist()
    [0.0, 1.0, 0.0]
    """
    aa = as_float_array("a", a)
    _levels(bits)
    ga = cotangent(g, aa, "the input")
    return ga * ((aa >= 0) & (aa <= 1))


def dorefa_weight(w: ArrayLike, bits: int) -> NDArray[Any]:
    """DoReFa weight quantizer: ``2 quantize_k(tanh(w) / (2 max|tanh(w)|) + 1/2) - 1``.

    Parameters
    ----------
    w : array_like of float, non-empty
        For ``2 <= bits <= 31``, an all-zero ``w`` or a NaN makes
        ``max |tanh(w)|`` 0 or NaN and raises ``ValueError`` (the authors' code
        returns NaN); for bits 1 and 32 NaN propagates.
    bits : int
        1 gives ``sign(w) * mean|w|`` (``sign(0) = 1``); 32 returns ``w``.

    Returns
    -------
    ndarray, shape and float dtype of ``w``

    Notes
    -----
    .. math:: w_q = 2\\, q_k\\Big(\\frac{\\tanh w}{2 \\max_j |\\tanh w_j|} + \\frac12\\Big) - 1

    Source: Zhou et al. (2016), eq. 9 (k >= 2) and eq. 7 (k = 1); the
    authors' ``dorefa.py`` in tensorpack for ``sign(0)`` and bits = 32.

    Examples
    --------
    >>> dorefa_weight([-2.0, 0.0, 0.5, 2.0], 2).tolist()
    [-1.0, 0.33333333333333326, 0.33333333333333326, 1.0]
    """
    wa = _weights(w)
    _levels(bits)
    if bits == 32:
        return wa.copy()
    if bits == 1:
        return np.where(wa == 0, 1, np.sign(wa)) * np.mean(np.abs(wa))
    t = np.tanh(wa)
    return 2 * quantize_k(t / (2 * _max_abs(t)) + 0.5, bits) - 1


def dorefa_weight_vjp(g: ArrayLike, w: ArrayLike, bits: int, *, through_max: bool = True) -> NDArray[Any]:
    """DoReFa weight gradient: the STE through ``quantize_k``, exact through ``tanh`` and the max.

    Parameters
    ----------
    g : array_like of float, shape of ``w``
    w : array_like of float
    bits : int
    through_max : bool
        Differentiate the normalization by ``max |tanh(w)|`` (default, as the
        authors' code does) or hold it constant.

    Returns
    -------
    ndarray
        ``grad_w``, shape of ``w``.

    Notes
    -----
    With ``t = tanh(w)``, ``M = max |t|``, ``u = t / (2M) + 1/2`` and the STE
    ``d q_k(u) / du = 1``:

    .. math::

        \\bar u = 2 \\bar y, \\quad
        \\bar t_i = \\frac{\\bar u_i}{2M} - \\frac{\\partial M}{\\partial t_i}
        \\sum_j \\frac{\\bar u_j t_j}{2M^2}, \\quad
        \\bar w = \\bar t\\, (1 - t^2)

    where ``dM/dt_i = sign(t_i) / m`` on the ``m`` tied maximizers of ``|t|``
    and 0 elsewhere. k = 1 and k = 32: ``grad_w = g``. Source: Zhou et al.
    (2016), section 2.3; TF's ``reduce_max`` gradient for ties.

    Examples
    --------
    >>> [round(v, 12) for v in dorefa_weight_vjp([1.0, 0.0], [0.0, 1.0], 2, through_max=False).tolist()]
    [1.313035285499, 0.0]
    """
    wa = _weights(w)
    ga = cotangent(g, wa, "the input")
    _levels(bits)
    if bits in (1, 32):
        return ga.copy()
    t = np.tanh(wa)
    at = np.abs(t)
    m = _max_abs(t)
    gu = 2 * ga
    gt = gu / (2 * m)
    if through_max:
        top = at == m
        dm_dt = np.sign(t) * top / np.count_nonzero(top)
        gt = gt - dm_dt * np.sum(gu * t) / (2 * m * m)
    return gt * (1 - t * t)


def _levels(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"bits must be an int, got {bits!r}")
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in [1, 32], got {bits}")
    return int(2**bits - 1)


def _max_abs(t: NDArray[Any]) -> Any:
    """``max |tanh(w)|``, the normalizer of DoReFa's weights; 0 (all-zero ``w``) or NaN raise."""
    m = np.max(np.abs(t))
    if not m > 0:
        raise ValueError(
            f"w must not be all zero or hold NaN for bits in [2, 31]: max|tanh(w)| = {m}, "
            "so the normalization tanh(w) / max|tanh(w)| is undefined"
        )
    return m


def _pact_args(x: ArrayLike, alpha: ArrayLike) -> tuple[NDArray[Any], Any]:
    xa = as_float_array("x", x)
    al = as_float_array("alpha", alpha)
    if al.size != 1:
        raise ValueError(f"alpha must be a scalar, got shape {al.shape}")
    a = xa.dtype.type(al.reshape(()))
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"alpha must be finite and > 0, got {a}")
    return xa, a


def _weights(w: ArrayLike) -> NDArray[Any]:
    wa = as_float_array("w", w)
    if wa.size == 0:
        raise ValueError("w must not be empty (DoReFa normalizes by its maximum)")
    return wa
