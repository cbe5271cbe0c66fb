"""Losses and the softmax family, each with its ``_vjp``.

* :func:`softmax` and :func:`log_softmax` along one axis, shifted by the
  maximum (log-sum-exp), so no ``exp`` overflows;
* :func:`softmax_cross_entropy`: the mean over the batch of
  ``-log softmax(logits)[label]``, PyTorch's ``cross_entropy`` with integer
  class targets and ``reduction="mean"`` (no class weights, no
  ``ignore_index``, no label smoothing);
* :func:`mse_loss`: the mean of the squared error over all elements.

The losses return a 0-d ndarray (not a Python float), in the float dtype of
their inputs, so that a float32 loss stays float32 and ``loss.shape == ()``.
float16 is computed in float32 and rounded once (as the activations are).
Logits must be finite (``ValueError`` otherwise: a NaN or infinite logit has
no softmax); ``mse_loss`` propagates NaN and inf by IEEE arithmetic.

Overflow: ``mse_loss`` and its vjp work in float64 (halving the differences
when they overflow it, and scaling the sum of squares by the largest), so
every result that the output dtype can hold is returned, correctly rounded;
a result beyond it (``mse_loss`` of ``pred = 3e38`` in float32) raises
``ValueError``, as does a log-probability or gradient that overflows (logits
spread by more than the float maximum), and a finite cotangent ``g`` that
the logits' dtype cannot hold. Never a silent ``inf`` or NaN from finite
inputs, and no NumPy warnings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._types import InputGrad
from refquant._validate import normalize_axis, show_values
from refquant.grad._args import check_overflow, cotangent, real_array

__all__ = [
    "MSELossGrads",
    "log_softmax",
    "log_softmax_vjp",
    "mse_loss",
    "mse_loss_vjp",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
    "softmax_vjp",
]


class MSELossGrads(NamedTuple):
    """Gradients of :func:`mse_loss`: prediction and target."""

    grad_pred: NDArray[Any]
    grad_target: NDArray[Any]


def softmax(logits: ArrayLike, axis: int = -1) -> NDArray[Any]:
    """``y = exp(z - max z) / sum(exp(z - max z))`` along ``axis``.

    Parameters
    ----------
    logits : array_like of float, at least 1-d, finite
    axis : int
        The axis normalized over (length >= 1).

    Returns
    -------
    ndarray, shape and float dtype of ``logits``
        Values in [0, 1], summing to 1 along ``axis`` (to rounding).

    Notes
    -----
    .. math:: y_i = \\frac{e^{z_i - m}}{\\sum_j e^{z_j - m}}, \\quad m = \\max_j z_j

    Subtracting ``m`` changes nothing mathematically and bounds every
    exponent by 0 (the largest term is exactly 1, so the sum is >= 1).

    Examples
    --------
    >>> softmax([[0.0, 0.0], [1000.0, 0.0]]).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    z, ax = _logits(logits, axis)
    return _softmax(z, ax).astype(z.dtype)


def softmax_vjp(g: ArrayLike, logits: ArrayLike, axis: int = -1) -> InputGrad:
    """``dz = y * (g - sum(g * y))`` along ``axis``, with ``y = softmax(z)``.

    Parameters
    ----------
    g : array_like of float, shape of ``logits``
        Cotangent of ``y``.
    logits, axis
        As in :func:`softmax`.

    Returns
    -------
    InputGrad
        ``grad_x``, the gradient with respect to ``logits`` (its shape and dtype).

    Notes
    -----
    .. math:: \\bar z_i = y_i \\Big(g_i - \\sum_j g_j y_j\\Big)
              \\quad\\text{since}\\quad \\frac{\\partial y_j}{\\partial z_i} = y_j (\\delta_{ij} - y_i)

    Examples
    --------
    >>> softmax_vjp([1.0, 0.0], [0.0, 0.0]).grad_x.tolist()
    [0.25, -0.25]
    """
    z, ax = _logits(logits, axis)
    ga = cotangent(g, z, "logits")
    gc = _compute(ga)
    y = _softmax(z, ax)
    with np.errstate(over="ignore", invalid="ignore"):
        d = (y * (gc - np.sum(gc * y, axis=ax, keepdims=True))).astype(z.dtype)
    check_overflow("softmax_vjp", (d,), g=ga, logits=z)
    return InputGrad(d)


def log_softmax(logits: ArrayLike, axis: int = -1) -> NDArray[Any]:
    """``y = z - logsumexp(z)`` along ``axis``, computed as ``(z - m) - log(sum(exp(z - m)))``.

    Parameters
    ----------
    logits : array_like of float, at least 1-d, finite
    axis : int

    Returns
    -------
    ndarray, shape and float dtype of ``logits``, values <= 0

    Notes
    -----
    .. math:: y_i = (z_i - m) - \\log \\sum_j e^{z_j - m}, \\quad m = \\max_j z_j

    The sum is in [1, n], so its logarithm neither overflows nor loses the
    small probabilities (``log(softmax(z))`` would give ``-inf`` for them).

    Examples
    --------
    >>> log_softmax([0.0, 0.0]).round(6).tolist()
    [-0.693147, -0.693147]
    >>> log_softmax([0.0, -1000.0]).tolist()
    [0.0, -1000.0]
    """
    z, ax = _logits(logits, axis)
    y = _log_softmax(_compute(z), ax).astype(z.dtype)
    check_overflow("log_softmax", (y,), logits=z)
    return y


def log_softmax_vjp(g: ArrayLike, logits: ArrayLike, axis: int = -1) -> InputGrad:
    """``dz = g - softmax(z) * sum(g)`` along ``axis``.

    Parameters
    ----------
    g : array_like of float, shape of ``logits``
        Cotangent of ``y``.
    logits, axis
        As in :func:`log_softmax`.

    Returns
    -------
    InputGrad
        ``grad_x``, the gradient with respect to ``logits``.

    Notes
    -----
    .. math:: \\bar z_i = g_i - \\mathrm{softmax}(z)_i \\sum_j g_j
              \\quad\\text{since}\\quad
              \\frac{\\partial y_j}{\\partial z_i} = \\delta_{ij} - \\mathrm{softmax}(z)_i

    Examples
    --------
    >>> log_softmax_vjp([1.0, 0.0], [0.0, 0.0]).grad_x.tolist()
    [0.5, -0.5]
    """
    z, ax = _logits(logits, axis)
    ga = cotangent(g, z, "logits")
    gc = _compute(ga)
    with np.errstate(over="ignore", invalid="ignore"):
        d = (gc - _softmax(z, ax) * np.sum(gc, axis=ax, keepdims=True)).astype(z.dtype)
    check_overflow("log_softmax_vjp", (d,), g=ga, logits=z)
    return InputGrad(d)


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> NDArray[Any]:
    """``L = mean_n (logsumexp(z_n) - z_n[labels_n])``, the softmax cross-entropy with class indices.

    Parameters
    ----------
    logits : array_like of float, shape (N, C), N >= 1, C >= 1, finite
        Unnormalized scores.
    labels : array_like of int, shape (N,)
        Class indices in ``[0, C)``; an integer dtype is required (float or
        bool labels raise ``TypeError``).

    Returns
    -------
    ndarray, shape (), float dtype of ``logits``
        The loss, >= 0 (0 only in the limit of a certain prediction).

    Notes
    -----
    .. math:: L = -\\frac{1}{N} \\sum_{n=1}^{N} \\log \\mathrm{softmax}(z_n)_{y_n}
              = \\frac{1}{N} \\sum_n \\Big(\\log \\sum_c e^{z_{nc}} - z_{n y_n}\\Big)

    Source: ``torch.nn.functional.cross_entropy(logits, labels)`` (defaults:
    ``reduction="mean"``, no weights); the log-softmax is :func:`log_softmax`.
    All-equal logits give ``log C``.

    Examples
    --------
    >>> float(softmax_cross_entropy([[0.0, 0.0], [5.0, 5.0]], [0, 1]).round(6))
    0.693147
    >>> float(softmax_cross_entropy([[1000.0, 0.0]], [0]))
    0.0
    """
    z, y = _cross_entropy_args(logits, labels)
    n = z.shape[0]
    zc = _compute(z)
    picked = _log_softmax(zc, 1)[np.arange(n), y]
    # 0 - sum, not -sum: a certain prediction (every picked log-probability 0) gives +0.0, as torch
    with np.errstate(over="ignore", invalid="ignore"):
        loss = np.asarray((zc.dtype.type(0) - np.sum(picked)) / n, dtype=z.dtype)
    check_overflow("softmax_cross_entropy", (loss,), logits=z)
    return loss


def softmax_cross_entropy_vjp(g: ArrayLike, logits: ArrayLike, labels: ArrayLike) -> InputGrad:
    """``dz = g * (softmax(z) - onehot(labels)) / N``.

    Parameters
    ----------
    g : float or array_like of shape ()
        Cotangent of the (scalar) loss.
    logits, labels
        As in :func:`softmax_cross_entropy`; ``labels`` is not differentiable.

    Returns
    -------
    InputGrad
        ``grad_x``, the gradient with respect to ``logits``, shape (N, C),
        dtype of ``logits``.

    Notes
    -----
    .. math:: \\bar z_{nc} = \\frac{g}{N}\\,\\big(\\mathrm{softmax}(z_n)_c - [c = y_n]\\big)

    Each row sums to 0 (to rounding).

    Examples
    --------
    >>> softmax_cross_entropy_vjp(1.0, [[0.0, 0.0]], [0]).grad_x.tolist()
    [[-0.5, 0.5]]
    """
    z, y = _cross_entropy_args(logits, labels)
    ga = cotangent(g, np.zeros((), dtype=z.dtype), "the loss (a scalar)")
    n = z.shape[0]
    d = _softmax(z, 1)
    d[np.arange(n), y] -= 1
    with np.errstate(over="ignore", invalid="ignore"):
        out = (d * (_compute(ga) / n)).astype(z.dtype)
    check_overflow("softmax_cross_entropy_vjp", (out,), g=ga, logits=z)
    return InputGrad(out)


def mse_loss(pred: ArrayLike, target: ArrayLike) -> NDArray[Any]:
    """``L = mean((pred - target)**2)`` over all elements.

    Parameters
    ----------
    pred, target : array_like of float, the same shape, at least one element
        No broadcasting (PyTorch broadcasts with a warning; a shape mismatch
        is almost always a bug, so it raises ``ValueError`` here).

    Returns
    -------
    ndarray, shape ()
        In the promoted float dtype of ``pred`` and ``target``. NaN and inf
        inputs propagate by IEEE arithmetic (``inf - inf`` is NaN). Computed
        in float64 with the differences scaled by the largest (exact up to
        rounding for any finite inputs); a loss beyond the dtype's range
        raises ``ValueError``.

    Notes
    -----
    .. math:: L = \\frac{1}{n} \\sum_i (p_i - t_i)^2

    Source: ``torch.nn.functional.mse_loss(pred, target)`` (``reduction="mean"``).

    Examples
    --------
    >>> float(mse_loss([1.0, 2.0], [0.0, 0.0]))
    2.5
    """
    p, t = _mse_args(pred, target)
    dtype = np.result_type(p, t)
    d, halved = _difference(p, t)
    with np.errstate(over="ignore", invalid="ignore"):
        top = np.max(np.abs(d))
        if np.isfinite(top) and top > 0:  # sum((d / top)**2) lies in [1, n]: no overflow, no underflow
            u = d / top
            value = np.sum(u * u) / d.size * top * top * (4.0 if halved else 1.0)
        else:
            value = np.sum(d * d) / d.size  # zero, or NaN / inf from the inputs
        loss = np.asarray(value, dtype=dtype)
    check_overflow("mse_loss", (loss,), pred=p, target=t)
    return loss


def mse_loss_vjp(g: ArrayLike, pred: ArrayLike, target: ArrayLike) -> MSELossGrads:
    """``(dpred, dtarget) = (2 g (pred - target) / n, -2 g (pred - target) / n)``.

    Parameters
    ----------
    g : float or array_like of shape ()
        Cotangent of the loss.
    pred, target
        As in :func:`mse_loss`.

    Returns
    -------
    MSELossGrads
        ``grad_pred`` and ``grad_target``, each of its argument's shape and
        float dtype (computed in the promoted dtype).

    Notes
    -----
    .. math:: \\bar p_i = \\frac{2g}{n}(p_i - t_i), \\qquad \\bar t_i = -\\bar p_i

    Examples
    --------
    >>> r = mse_loss_vjp(1.0, [1.0, 2.0], [0.0, 0.0])
    >>> r.grad_pred.tolist(), r.grad_target.tolist()
    ([1.0, 2.0], [-1.0, -2.0])
    """
    p, t = _mse_args(pred, target)
    dtype = np.result_type(p, t)
    ga = cotangent(g, np.zeros((), dtype=dtype), "the loss (a scalar)")
    diff, halved = _difference(p, t)
    with np.errstate(over="ignore", invalid="ignore"):
        d = diff * ((4.0 if halved else 2.0) * float(ga) / p.size)
        gp, gt = d.astype(p.dtype), (-d).astype(t.dtype)
    check_overflow("mse_loss_vjp", (gp, gt), g=ga, pred=p, target=t)
    return MSELossGrads(gp, gt)


def _compute(a: NDArray[Any]) -> NDArray[Any]:
    """float16 is computed in float32 (rounded once at the end); other floats in their own dtype."""
    return a.astype(np.float32) if a.dtype == np.float16 else a


def _softmax(z: NDArray[Any], axis: int) -> NDArray[Any]:
    """Softmax in the compute dtype (float32 for float16), not yet rounded to ``z``'s dtype."""
    e = np.exp(_shifted(_compute(z), axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _difference(p: NDArray[Any], t: NDArray[Any]) -> tuple[NDArray[np.float64], bool]:
    """``p - t`` in float64, halved (exactly, but for subnormals) when it overflows: ``(d, halved)``."""
    with np.errstate(over="ignore", invalid="ignore"):
        d = p.astype(np.float64) - t.astype(np.float64)
        if np.isinf(d).any() and np.isfinite(p).all() and np.isfinite(t).all():
            return p.astype(np.float64) * 0.5 - t.astype(np.float64) * 0.5, True
    return d, False


def _log_softmax(z: NDArray[Any], axis: int) -> NDArray[Any]:
    t = _shifted(z, axis)
    return t - np.log(np.sum(np.exp(t), axis=axis, keepdims=True))


def _shifted(z: NDArray[Any], axis: int) -> NDArray[Any]:
    """``z - max(z)``; a spread beyond the float range gives ``-inf`` (correctly rounded), silently."""
    with np.errstate(over="ignore"):
        return z - np.max(z, axis=axis, keepdims=True)


def _logits(logits: ArrayLike, axis: int) -> tuple[NDArray[Any], int]:
    z = real_array("logits", logits)
    if z.ndim < 1:
        raise ValueError(f"logits must have at least one dimension, got shape {z.shape}")
    ax = normalize_axis("axis", axis, z.ndim)
    if z.shape[ax] < 1:
        raise ValueError(f"logits must have at least one class along axis {axis}, got shape {z.shape}")
    _check_finite(z)
    return z, ax


def _cross_entropy_args(logits: ArrayLike, labels: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    z = real_array("logits", logits)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, C) with N >= 1 and C >= 1, got shape {z.shape}")
    _check_finite(z)
    n, c = z.shape
    y = np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise TypeError(f"labels must be an integer array of class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"labels must have shape (N,) = ({n},) to match logits {z.shape}, got {y.shape}")
    bad = (y < 0) | (y >= c)
    if bad.any():
        raise ValueError(f"labels must lie in [0, {c}) for C = {c} classes, got {show_values(y[bad])}")
    return z, y


def _mse_args(pred: ArrayLike, target: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    p, t = real_array("pred", pred), real_array("target", target)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {p.shape} and {t.shape}")
    if p.size == 0:
        raise ValueError(f"pred must have at least one element (the mean of nothing), got shape {p.shape}")
    return p, t


def _check_finite(z: NDArray[Any]) -> None:
    if not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be finite, got {show_values(z[~np.isfinite(z)])}")
