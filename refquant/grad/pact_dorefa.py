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

Arithmetic: every function computes in float64 and rounds its result once
to the input's float dtype (float64 for integer and bool inputs), so that
``2**k - 1`` is exact for every ``k`` up to 32 (float16 cannot even hold
``2**16 - 1``, float32 rounds ``2**25 - 1``), no intermediate overflows
for finite inputs (``clip(x, 0, alpha) / alpha`` lies in [0, 1]; a
subnormal ``alpha`` is fine), and the reductions of the backward passes
(``grad_alpha``, the normalization term of DoReFa's weights) are summed
once, in float64. A finite input gives a finite output; NaN policies are
stated per function.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.grad._args import cotangent, flag, levels, positive, real_array, reduced
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
    ``tf.round``. NaN gives NaN and ``±inf`` gives ``±inf``; values outside
    [0, 1] are not clipped here (``|r| >= 2**52`` is already an integer
    multiple of ``1 / (2**k - 1)`` after the product, and is returned as
    is, so nothing overflows). Computed in float64 (``2**k - 1`` exact),
    then rounded once to ``r``'s dtype.

    Examples
    --------
    >>> quantize_k([0.0, 0.3, 0.5, 1.0], 2).tolist()
    [0.0, 0.3333333333333333, 0.6666666666666666, 1.0]
    """
    ra = real_array("r", r)
    n = levels(bits)
    return _quantize_k64(ra.astype(np.float64), n).astype(ra.dtype)


def pact(x: ArrayLike, alpha: float, bits: int) -> NDArray[Any]:
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
    quantized neural networks" (2018), eqs. 1-2. Evaluated in float64 as
    ``round(clip(x, 0, alpha) / alpha * n) / n * alpha`` (every step bounded
    by ``alpha`` or ``n``, so a subnormal ``alpha`` does not overflow), then
    rounded once to ``x``'s dtype. ``alpha`` must be finite and > 0 in
    ``x``'s dtype. NaN gives NaN (and, in :func:`pact_vjp`, no gradient to
    ``x`` or ``alpha``: every comparison is false); ``±inf`` clip to
    ``alpha`` and 0.

    Examples
    --------
    >>> pact([-1.0, 0.2, 0.9, 5.0], 2.0, 2).tolist()
    [0.0, 0.0, 0.6666666666666666, 2.0]
    """
    xa, a = _pact_args(x, alpha)
    n = levels(bits)
    a64 = np.float64(a)
    u = np.clip(xa.astype(np.float64), 0, a64) / a64
    return (round_unchecked(u * n, "half_even", None) / n * a64).astype(xa.dtype)


def pact_vjp(g: ArrayLike, x: ArrayLike, alpha: float, bits: int) -> PACTGrads:
    """PACT gradients: ``dx = g [0 <= x < alpha]``, ``d alpha = sum(g [x >= alpha])``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x, alpha, bits
        As in :func:`pact`.

    Returns
    -------
    PACTGrads
        ``grad_x`` (shape of ``x``) and ``grad_alpha`` (0-d), both in ``x``'s
        float dtype; ``grad_alpha`` is summed in float64 and rounded once
        (a finite sum beyond the dtype's range raises ``ValueError``).

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
    levels(bits)
    ga = cotangent(g, xa)
    inside = (xa >= 0) & (xa < a)
    total = np.sum(ga, where=xa >= a, dtype=np.float64)
    why = f"the sum of g over x >= alpha; max |g| = {np.max(np.abs(ga), initial=0)!s}"
    grad_alpha = reduced("the alpha gradient", total, xa.dtype, why)
    return PACTGrads(np.where(inside, ga, xa.dtype.type(0)), grad_alpha)


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
    aa = real_array("a", a)
    n = levels(bits)
    return _quantize_k64(np.clip(aa.astype(np.float64), 0, 1), n).astype(aa.dtype)


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
        ``grad_a``, shape and float dtype of ``a``; 0 where ``a`` is NaN.

    Notes
    -----
    .. math:: \\bar a = \\bar y\\, \\mathbb{1}[0 \\le a \\le 1]

    Source: Zhou et al. (2016), eq. 6 (STE) with ``tf.clip_by_value``'s gradient.

    Examples
    --------
    >>> dorefa_activation_vjp([1.0, 1.0, 1.0], [-0.5, 1.0, 2.0], 2).tolist()
    [0.0, 1.0, 0.0]
    """
    aa = real_array("a", a)
    levels(bits)
    ga = cotangent(g, aa, "a")
    return np.where((aa >= 0) & (aa <= 1), ga, aa.dtype.type(0))


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
        Computed in float64 and rounded once. ``mean|w|`` (k = 1) is formed
        without overflow, so a finite ``w`` gives a finite result.

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
    n = levels(bits)
    if bits == 32:
        return wa.copy()
    w64 = wa.astype(np.float64)
    if bits == 1:
        return (np.where(w64 == 0, 1.0, np.sign(w64)) * _mean_abs(w64)).astype(wa.dtype)
    t = np.tanh(w64)
    return (2 * _quantize_k64(t / (2 * _max_abs(t)) + 0.5, n) - 1).astype(wa.dtype)


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
        ``grad_w``, shape and float dtype of ``w`` (computed in float64,
        rounded once).

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
    and 0 elsewhere. k = 1 and k = 32: ``grad_w = g``. Computed in float64,
    rounded once: a finite ``g`` and ``w`` give a finite gradient unless its
    true value exceeds the range of ``w``'s dtype (``g`` near the float32
    maximum, say), which rounds to ``±inf`` (IEEE overflow); an infinite
    ``g`` gives ``±inf`` (NaN where it meets a zero factor). Source: Zhou et al.
    (2016), section 2.3; TF's ``reduce_max`` gradient for ties.

    Examples
    --------
    >>> [round(v, 12) for v in dorefa_weight_vjp([1.0, 0.0], [0.0, 1.0], 2, through_max=False).tolist()]
    [1.313035285499, 0.0]
    """
    wa = _weights(w)
    ga = cotangent(g, wa, "w")
    levels(bits)
    tm = flag("through_max", through_max)
    if bits in (1, 32):
        return ga.copy()
    t = np.tanh(wa.astype(np.float64))
    m = _max_abs(t)
    g64 = ga.astype(np.float64)
    gt = g64 / m  # d/dt of 2 * (t / (2M)): the STE's 1, times 2, over 2M
    if tm:
        top = np.abs(t) == m
        # dM/dt_i = sign(t_i) / count on the tied maximizers; sum_j g_j t_j / M^2 (2s cancel)
        with np.errstate(over="ignore", invalid="ignore"):
            coupling = np.sum(g64 * t) / m / m / np.count_nonzero(top)
            gt = np.where(top, gt - np.sign(t) * coupling, gt)
    with np.errstate(over="ignore", invalid="ignore"):
        return (gt * (1 - t * t)).astype(wa.dtype)


def _quantize_k64(r: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """``round(n r) / n`` in float64; ``|r| >= 2**52`` (already a multiple of ``1/n``) kept as is."""
    with np.errstate(over="ignore", invalid="ignore"):
        q = round_unchecked(r * n, "half_even", None) / n
    return np.where(np.abs(r) >= 2.0**52, r, q)


def _mean_abs(w: NDArray[np.float64]) -> Any:
    """``mean |w|`` without overflow: scaled by ``max |w|`` when the plain sum is not finite."""
    a = np.abs(w)
    with np.errstate(over="ignore"):
        mean = np.mean(a)
    if np.isinf(mean) and np.all(np.isfinite(a)):
        top = np.max(a)
        mean = top * np.mean(a / top)
    return mean


def _max_abs(t: NDArray[Any]) -> Any:
    """``max |tanh(w)|``, the normalizer of DoReFa's weights; 0 (all-zero ``w``) or NaN raise."""
    m = np.max(np.abs(t))
    if not m > 0:
        raise ValueError(
            f"w must not be all zero or hold NaN for bits in [2, 31]: max|tanh(w)| = {m}, "
            "so the normalization tanh(w) / max|tanh(w)| is undefined"
        )
    return m


def _pact_args(x: ArrayLike, alpha: object) -> tuple[NDArray[Any], Any]:
    xa = real_array("x", x)
    return xa, positive("alpha", alpha, xa.dtype)


def _weights(w: ArrayLike) -> NDArray[Any]:
    wa = real_array("w", w)
    if wa.size == 0:
        raise ValueError(f"w must not be empty (DoReFa normalizes by its maximum), got shape {wa.shape}")
    return wa
