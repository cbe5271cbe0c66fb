"""Gradient sparsification: dropping small gradient entries, with and without error feedback.

This is *gradient dropping*, not weight pruning: the weights stay dense and
only the update is sparse (to save communication in distributed training).
The seed document's ``Pruner`` (its example 4.2) is an identity whose
backward zeroes every gradient entry below 1% of the largest magnitude; see
the docs page "Errata of the seed examples".

* :func:`relative_gradient_threshold` -- the seed's rule:
  ``g * (|g| >= ratio * max|g|)``; :func:`gradient_dropping_identity` and
  :func:`gradient_dropping_identity_vjp` are the seed's ``Pruner`` as a
  forward/backward pair;
* :func:`topk_error_feedback` -- send the ``k`` largest entries of
  ``residual + grad``, keep the rest as the next residual (Aji & Heafield 2017);
* :func:`dgc_momentum_correction` -- Deep Gradient Compression's momentum
  correction and momentum factor masking (Lin et al. 2018).

The state (residual, velocity, accumulation) is passed in and returned
explicitly; nothing is modified in place. The top-k selection is O(n)
(``np.partition``) and deterministic: among entries of equal magnitude at
the cut, the ones with the higher flat index are sent, i.e. the sent set is
the ``k`` largest under the total order ``(|v|, flat index)``, the order of
refquant's masks (which prune the lowest flat index first among ties).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._types import InputGrad
from refquant._validate import as_float_array, cotangent
from refquant.prune._checks import check_int, check_real, no_nan

__all__ = [
    "DGCStep",
    "ErrorFeedbackStep",
    "dgc_momentum_correction",
    "gradient_dropping_identity",
    "gradient_dropping_identity_vjp",
    "relative_gradient_threshold",
    "topk_error_feedback",
]

Array = NDArray[Any]


class ErrorFeedbackStep(NamedTuple):
    """One step of top-k sparsification with error feedback: what is sent, what is kept."""

    sent: Array
    residual: Array


class DGCStep(NamedTuple):
    """One step of Deep Gradient Compression: what is sent, and the two buffers after masking."""

    sent: Array
    velocity: Array
    accumulation: Array


def relative_gradient_threshold(grad: ArrayLike, ratio: float = 0.01) -> Array:
    """``where(|g| < ratio * max|g|, 0, g)``: drop the entries below a fraction of the largest magnitude.

    Parameters
    ----------
    grad : array_like of float, any shape
    ratio : float
        In [0, 1] (default 0.01, the seed's 1%). 0 drops nothing; 1 keeps only
        the entries of the largest magnitude.

    Returns
    -------
    ndarray, shape and float dtype of ``grad``
        A new array: the kept entries unchanged (bit for bit), the dropped
        ones ``+0.0``.

    Notes
    -----
    .. math::

        \\tilde g_i = \\begin{cases} 0 & |g_i| < r \\max_j |g_j| \\\\
        g_i & \\text{otherwise} \\end{cases}

    Source: the seed document, example 4.2 (``Pruner.backward``:
    ``threshold = torch.max(abs_grad_input) * 0.01; grad_input[abs_grad_input
    < threshold] = 0``), with its behaviour at the edges kept, as torch
    computes it:

    * the threshold is ``max|g| * ratio`` rounded to ``grad``'s dtype, computed
      in float32 for float16 (torch's "opmath" for a tensor times a Python
      scalar) and in the dtype itself for float32 and float64;
    * the comparison is strict: entries equal to the threshold are kept;
    * all zeros: the threshold is 0, nothing is strictly below it, the
      output is all zeros; an empty ``grad`` gives an empty array;
    * NaN anywhere: ``max`` is NaN, every comparison is false, so *nothing*
      is dropped and the NaNs pass through;
    * ``±inf``: the threshold is ``inf`` (for ``ratio > 0``), every finite
      entry is dropped and the infinities are kept (``ratio = 0`` gives
      ``0 * inf = NaN``: nothing dropped);
    * a dropped ``-0.0`` or negative entry becomes ``+0.0`` (torch's masked
      assignment of ``0``).

    Examples
    --------
    >>> relative_gradient_threshold([4.0, -0.03, 0.04, -2.0, 0.0]).tolist()  # threshold 0.04
    [4.0, 0.0, 0.04, -2.0, 0.0]
    >>> relative_gradient_threshold([1.0, 0.2, -0.5], ratio=0.5).tolist()
    [1.0, 0.0, -0.5]
    """
    g = as_float_array("grad", grad)
    r = _ratio(ratio)
    if g.size == 0:
        return g.copy()
    absg = np.abs(g)
    absmax = np.max(absg)  # NaN if any entry is NaN (np.max propagates it, like torch.max)
    opmath = np.float32 if g.dtype.itemsize < 4 else g.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        threshold = (opmath(absmax) * opmath(r)).astype(g.dtype)
    with np.errstate(invalid="ignore"):
        drop = absg < threshold
    return np.where(drop, g.dtype.type(0), g)


def gradient_dropping_identity(x: ArrayLike) -> Array:
    """``y = x``: the forward of the seed's ``Pruner`` (a copy of ``x``).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, a copy of ``x`` with its float dtype

    Notes
    -----
    .. math:: y = x

    Source: the seed document, example 4.2 (``Pruner.forward`` returns its
    input). The layer changes only the backward:
    :func:`gradient_dropping_identity_vjp`.

    Examples
    --------
    >>> gradient_dropping_identity([1.0, -2.0]).tolist()
    [1.0, -2.0]
    """
    return as_float_array("x", x).copy()


def gradient_dropping_identity_vjp(g: ArrayLike, x: ArrayLike, *, ratio: float = 0.01) -> InputGrad:
    """``grad_x = relative_gradient_threshold(g, ratio)``: the seed's ``Pruner.backward``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of ``y``; cast to ``x``'s dtype first.
    x : array_like of float
        The forward's input (only its shape and dtype are used).
    ratio : float
        In [0, 1], default 0.01.

    Returns
    -------
    InputGrad
        ``grad_x``, shape and dtype of ``x``.

    Notes
    -----
    .. math:: \\bar x_i = \\bar y_i \\, [\\,|\\bar y_i| \\ge r \\max_j |\\bar y_j|\\,]

    This is *not* the gradient of the identity (that is ``g`` itself): it
    is a deliberately biased, sparsified gradient ("gradient dropping"),
    which is what the seed's example implements under the name "pruning".
    The weights it flows into are not pruned; only the update is sparse.
    Source: the seed document, example 4.2; rules in
    :func:`relative_gradient_threshold`.

    Examples
    --------
    >>> gradient_dropping_identity_vjp([0.5, -100.0, 1.0], [0.0, 0.0, 0.0]).grad_x.tolist()
    [0.0, -100.0, 1.0]
    """
    xa = as_float_array("x", x)
    ga = cotangent(g, xa)
    return InputGrad(relative_gradient_threshold(ga, ratio=ratio))


def topk_error_feedback(grad: ArrayLike, residual: ArrayLike | None = None, *, k: int) -> ErrorFeedbackStep:
    """``v = residual + grad``; send the ``k`` largest ``|v|``, keep the rest as the new residual.

    Parameters
    ----------
    grad : array_like of float, any shape
        This step's gradient.
    residual : array_like of float, shape of ``grad``, optional
        What previous steps did not send; None means none (then ``v = grad``).
    k : int
        Entries sent, ``0 <= k <= grad.size``.

    Returns
    -------
    ErrorFeedbackStep
        ``sent`` (``v`` on the ``k`` selected entries, ``+0.0`` elsewhere) and
        ``residual`` (``v`` elsewhere, ``+0.0`` on the selected entries), both
        of ``grad``'s shape, in the promoted float dtype. They partition
        ``v``: every entry of ``v`` is, bit for bit, in exactly one of them,
        so ``sent + residual == v`` exactly.

    Raises
    ------
    ValueError
        If ``grad`` or ``residual`` holds NaN, or ``v`` gets one from
        ``inf - inf`` (it would stay in the residual forever; the message
        names the argument and shows the values), for a bad ``k`` or shape.
        ``±inf`` in an input is allowed and ranks above every number; a sum
        of finite inputs beyond the dtype's range raises (it would be sent
        or kept as ``inf``). Empty ``grad`` with ``k = 0`` gives empty arrays.

    Notes
    -----
    .. math:: v_t = r_{t-1} + g_t, \\quad \\mathrm{sent}_t = v_t \\odot m_t, \\quad
              r_t = v_t \\odot (1 - m_t), \\quad m_t = \\mathrm{topk}(|v_t|, k)

    Source: Aji & Heafield 2017, "Sparse Communication for Distributed
    Gradient Descent" (EMNLP): gradient dropping with the dropped values
    accumulated locally and added to the next gradient. They pick a
    threshold that drops a fixed fraction ``R`` (99%) of the entries,
    estimated on a sample; here the ``k`` largest are selected exactly
    (``k = ceil((1 - R) n)`` for their rule without sampling). Ties at the
    cut: the higher flat index is sent (module docstring). The receiver
    applies ``sent`` as the gradient.

    Examples
    --------
    >>> s = topk_error_feedback([0.5, -3.0, 1.0, 0.25], k=2)
    >>> s.sent.tolist(), s.residual.tolist()
    ([0.0, -3.0, 1.0, 0.0], [0.5, 0.0, 0.0, 0.25])
    >>> s = topk_error_feedback([0.75, 0.0, 0.5, -1.0], s.residual, k=2)  # v = [1.25, 0, 0.5, -0.75]
    >>> s.sent.tolist(), s.residual.tolist()
    ([1.25, 0.0, 0.0, -0.75], [0.0, 0.0, 0.5, 0.0])
    """
    g = as_float_array("grad", grad)
    no_nan("grad", g, "top-k selection needs comparable values")
    r = None if residual is None else _state("residual", residual, g)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is reported below; overflow gives inf
        v = g.copy() if r is None else r + g
    kk = _k(k, v.size)
    _no_new_nan(v, "grad + residual", {"grad": g, "residual": r})
    _no_overflow(v, "grad + residual", {"grad": g, "residual": r})
    sel = _topk_mask(v, kk)
    zero = v.dtype.type(0)
    return ErrorFeedbackStep(np.where(sel, v, zero), np.where(sel, zero, v))


def dgc_momentum_correction(
    grad: ArrayLike,
    velocity: ArrayLike | None = None,
    accumulation: ArrayLike | None = None,
    *,
    k: int,
    momentum: float = 0.9,
) -> DGCStep:
    """``u = m u + g; v = v + u``; send the top-``k`` of ``|v|``, zero those entries of ``u`` and ``v``.

    Parameters
    ----------
    grad : array_like of float, any shape
        This step's (local) gradient.
    velocity : array_like of float, shape of ``grad``, optional
        ``u``, the local momentum buffer; None means zeros (then ``u = g``).
    accumulation : array_like of float, shape of ``grad``, optional
        ``v``, the accumulated velocity not yet sent; None means zeros (then
        ``v = u``).
    k : int
        Entries sent, ``0 <= k <= grad.size``.
    momentum : float
        ``m``, in [0, 1] (default 0.9), applied in the arrays' dtype.

    Returns
    -------
    DGCStep
        ``sent`` (``v`` on the selected entries, ``+0.0`` elsewhere),
        ``velocity`` (``u`` with the selected entries set to ``+0.0``) and
        ``accumulation`` (``v`` with them set to ``+0.0``), all of ``grad``'s
        shape, promoted float dtype. ``sent + accumulation`` equals ``v``
        exactly, entry by entry (a partition, as in :func:`topk_error_feedback`).

    Raises
    ------
    ValueError
        If an input holds NaN or ``v`` gets one (``inf - inf``, ``0 * inf``;
        the message names the arguments and shows their values), for a bad
        ``k``, ``momentum`` or shape, and if finite inputs overflow the dtype.

    Notes
    -----
    .. math::

        u_t = m\\,u_{t-1} + g_t, \\quad v_t = v_{t-1} + u_t, \\quad
        \\mathrm{sent}_t = v_t \\odot M_t, \\quad
        v_t \\leftarrow v_t \\odot \\lnot M_t, \\quad u_t \\leftarrow u_t \\odot \\lnot M_t

    with ``M_t`` the top-``k`` entries of ``|v_t|``. Source: Lin, Han, Mao,
    Wang & Dally 2018, "Deep Gradient Compression" (ICLR), section 3.2:
    *momentum correction* accumulates the velocity ``u`` instead of the raw
    gradient (so that a sparse update behaves like dense momentum SGD) and
    *momentum factor masking* clears ``u`` where ``v`` was sent, to stop stale
    momentum. The receiver applies ``w -= lr * sum over workers of sent``,
    with no further momentum. DGC's other parts (local gradient clipping,
    the warm-up of the sparsity, the sampled threshold) are not included.
    Ties as in :func:`topk_error_feedback`.

    Examples
    --------
    >>> s = dgc_momentum_correction([1.0, -4.0, 2.0], k=1, momentum=0.5)
    >>> s.sent.tolist(), s.velocity.tolist(), s.accumulation.tolist()
    ([0.0, -4.0, 0.0], [1.0, 0.0, 2.0], [1.0, 0.0, 2.0])
    >>> s = dgc_momentum_correction([1.0, 1.0, 0.0], s.velocity, s.accumulation, k=1, momentum=0.5)
    >>> s.sent.tolist(), s.velocity.tolist(), s.accumulation.tolist()  # u = [1.5, 1, 1], v = [2.5, 1, 3]
    ([0.0, 0.0, 3.0], [1.5, 1.0, 0.0], [2.5, 1.0, 0.0])
    """
    g = as_float_array("grad", grad)
    m = _momentum(momentum)
    no_nan("grad", g, "top-k selection needs comparable values")
    vel = None if velocity is None else _state("velocity", velocity, g)
    acc = None if accumulation is None else _state("accumulation", accumulation, g)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN is reported below; overflow gives inf
        u = g.copy() if vel is None else m * vel + g
        v = u.copy() if acc is None else acc + u
    u = u.astype(np.result_type(u, v), copy=False)
    kk = _k(k, v.size)
    parts = {"grad": g, "velocity": vel, "accumulation": acc}
    _no_new_nan(v, "accumulation + momentum * velocity + grad", parts)
    _no_overflow(v, "accumulation + momentum * velocity + grad", parts)
    sel = _topk_mask(v, kk)
    zero = v.dtype.type(0)
    return DGCStep(np.where(sel, v, zero), np.where(sel, zero, u), np.where(sel, zero, v))


def _no_new_nan(v: Array, what: str, parts: dict[str, Array | None]) -> None:
    """``ValueError`` naming the arguments whose values at the first NaN of ``v`` produced it."""
    if not (v.size and np.isnan(np.max(v))):
        return
    for name, a in parts.items():
        if a is not None:
            no_nan(name, a, "top-k selection needs comparable values")
    i = int(np.flatnonzero(np.isnan(v.reshape(-1)))[0])
    shown = ", ".join(f"{name}={float(a.reshape(-1)[i])!r}" for name, a in parts.items() if a is not None)
    raise ValueError(
        f"{what} is NaN at flat index {i} ({shown}: inf - inf or 0 * inf); top-k needs comparable values"
    )


def _no_overflow(v: Array, what: str, parts: dict[str, Array | None]) -> None:
    """``ValueError`` if ``v`` is infinite where every part is finite: the exact sum overflows the dtype."""
    if v.size and not np.all(np.isfinite(v)):
        arrays = {k: a for k, a in parts.items() if a is not None}
        if all(np.all(np.isfinite(a)) for a in arrays.values()):
            i = int(np.flatnonzero(~np.isfinite(v.reshape(-1)))[0])
            shown = ", ".join(f"{name}={float(a.reshape(-1)[i])!r}" for name, a in arrays.items())
            raise ValueError(
                f"{what} overflows {v.dtype} to inf at flat index {i} ({shown}): "
                "rescale the gradients or pass float64"
            )


def _topk_mask(v: Array, k: int) -> NDArray[np.bool_]:
    """The ``k`` largest ``|v|``, ties at the cut going to the higher flat index, in O(n)."""
    mag = np.abs(v).ravel()
    n = mag.size
    sel = np.zeros(n, dtype=bool)
    if k == n:
        sel[:] = True
    elif k > 0:
        cut = np.partition(mag, n - k)[n - k]  # the k-th largest magnitude
        sel = mag > cut
        need = k - int(np.count_nonzero(sel))
        ties = np.flatnonzero(mag == cut)
        sel[ties[ties.size - need :]] = True
    return sel.reshape(v.shape)


def _state(name: str, value: ArrayLike, like: Array) -> Array:
    arr = as_float_array(name, value)
    if arr.shape != like.shape:
        raise ValueError(f"{name} must have the shape of grad {like.shape}, got {arr.shape}")
    return arr


def _k(k: int, n: int) -> int:
    kk = check_int("k", k)
    if not 0 <= kk <= n:
        raise ValueError(f"k must be in [0, {n}] (the number of entries), got {kk}")
    return kk


def _ratio(ratio: float) -> float:
    return check_real("ratio", ratio, 0.0, 1.0)


def _momentum(momentum: float) -> float:
    return check_real("momentum", momentum, 0.0, 1.0)
