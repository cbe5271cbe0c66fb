"""Learned step size quantization: LSQ (Esser et al. 2020) and LSQ+ (Bhalgat et al. 2020).

The step ``s`` (and, in LSQ+, an offset ``beta``) is trained with the task
loss. The forward clips in the integer domain and rounds:

.. math::

    \\hat x = s \\cdot R\\big(\\operatorname{clip}((x - \\beta)/s,\\, q_{min},\\, q_{max})\\big)
    + \\beta

(``beta = 0`` for LSQ). The gradients use the straight-through estimator
for ``R`` and the exact derivative of everything else; the paper's
boundary convention: ``v = (x - beta)/s`` is *inside* when
``q_min < v < q_max`` (strict), so ``v = q_max`` exactly counts as clipped.
The step gradient is multiplied by the gradient scale
``g = 1 / sqrt(N * q_max)`` (``N`` = number of elements quantized with this
step), which LSQ found necessary for the step to train at the same rate as
the weights. Every step is evaluated in ``x``'s float dtype.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_range, cotangent, normalize_axis
from refquant.rounding import round_unchecked

__all__ = [
    "LSQGrads",
    "LSQPlusGrads",
    "lsq_fake_quantize",
    "lsq_fake_quantize_vjp",
    "lsq_grad_scale",
    "lsq_plus_fake_quantize_vjp",
]


class LSQGrads(NamedTuple):
    """Gradients of LSQ: input and step."""

    grad_x: NDArray[Any]
    grad_step: NDArray[Any]


class LSQPlusGrads(NamedTuple):
    """Gradients of LSQ+: input, step and offset."""

    grad_x: NDArray[Any]
    grad_step: NDArray[Any]
    grad_offset: NDArray[Any]


def lsq_grad_scale(n: int, quant_max: int) -> float:
    """LSQ's step-gradient scale ``g = 1 / sqrt(n * quant_max)``.

    Parameters
    ----------
    n : int
        Number of elements that share the step (>= 1).
    quant_max : int
        ``Q_P``, the largest code (>= 1).

    Returns
    -------
    float

    Notes
    -----
    .. math:: g = \\frac{1}{\\sqrt{N\\, Q_P}}

    Source: Esser et al., "Learned Step Size Quantization", ICLR 2020, section 2.2.

    Examples
    --------
    >>> lsq_grad_scale(100, 127) == 1 / (100 * 127) ** 0.5
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or isinstance(quant_max, bool):
        raise TypeError(f"n and quant_max must be ints, got n={n!r}, quant_max={quant_max!r}")
    if not isinstance(quant_max, (int, np.integer)):
        raise TypeError(f"quant_max must be an int, got {quant_max!r}")
    if n < 1 or quant_max < 1:
        raise ValueError(f"n and quant_max must be >= 1, got n={n}, quant_max={quant_max}")
    return 1.0 / math.sqrt(n * quant_max)


def lsq_fake_quantize(
    x: ArrayLike,
    step: ArrayLike,
    quant_min: int,
    quant_max: int,
    offset: ArrayLike = 0.0,
    *,
    axis: int | None = None,
) -> NDArray[Any]:
    """LSQ / LSQ+ forward: ``x_hat = s * round(clip((x - beta) / s, qmin, qmax)) + beta``.

    Parameters
    ----------
    x : array_like of float, any shape
    step : float, or array of shape ``(x.shape[axis],)``
        The step size ``s > 0``: one per tensor, or one per channel along ``axis``.
    quant_min, quant_max : int
        Integer range, e.g. ``-Q_N = -128`` and ``Q_P = 127`` for signed 8 bits.
    offset : float
        LSQ+'s learned offset ``beta`` (0 for LSQ), per tensor.
    axis : int, optional
        The channel axis of a per-channel ``step``.

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math:: \\hat x = s \\cdot \\big\\lfloor \\operatorname{clip}((x - \\beta)/s,\\, q_{min},\\,
              q_{max}) \\big\\rceil + \\beta

    with ``⌊·⌉`` half to even; NaN inputs give NaN outputs (the vjps raise on
    NaN). Source: Esser et al., "Learned Step Size Quantization", ICLR 2020,
    eq. 1; Bhalgat et al., "LSQ+", CVPR-W 2020, eq. 2.

    Examples
    --------
    >>> lsq_fake_quantize([-3.0, 0.26, 0.74, 9.0], 0.5, -4, 3).tolist()
    [-2.0, 0.5, 0.5, 1.5]
    """
    xa, s, b, _ = _args(x, step, offset, quant_min, quant_max, axis)
    v = np.clip((xa - b) / s, quant_min, quant_max)
    return (s * round_unchecked(v, "half_even", None) + b).astype(xa.dtype, copy=False)


def lsq_fake_quantize_vjp(
    g: ArrayLike,
    x: ArrayLike,
    step: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    grad_scale: float | None = None,
    axis: int | None = None,
) -> LSQGrads:
    """LSQ gradients ``(dx, ds)``: STE inside the range, the LSQ step gradient, scaled.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of the output.
    x, step, quant_min, quant_max
        As in :func:`lsq_fake_quantize`.
    grad_scale : float, optional
        Multiplies the step gradient; default ``1 / sqrt(N * quant_max)`` with
        ``N`` the number of elements sharing a step (:func:`lsq_grad_scale`).
        Pass 1.0 for the unscaled derivative.
    axis : int, optional
        The channel axis of a per-channel ``step``; ``grad_step`` then sums
        over every other axis.

    Returns
    -------
    LSQGrads
        ``grad_x`` (shape of ``x``) and ``grad_step`` (0-d, or ``(C,)`` per
        channel), ``x``'s dtype.

    Notes
    -----
    With ``v = x / s``:

    .. math::

        \\frac{\\partial \\hat x}{\\partial x} = \\mathbb{1}[q_{min} < v < q_{max}], \\qquad
        \\frac{\\partial \\hat x}{\\partial s} =
        \\begin{cases} -v + \\lfloor v \\rceil & q_{min} < v < q_{max} \\\\
        q_{min} & v \\le q_{min} \\\\ q_{max} & v \\ge q_{max} \\end{cases}

    and ``grad_step = grad_scale * sum(g * d x_hat / d s)``. Source: Esser et
    al. (2020), eq. 3 and section 2.2 (gradient scale).

    Examples
    --------
    >>> r = lsq_fake_quantize_vjp([1.0, 1.0, 1.0], [0.3, 0.5, 9.0], 0.5, -4, 3, grad_scale=1.0)
    >>> r.grad_x.tolist(), float(r.grad_step)
    ([1.0, 1.0, 0.0], 3.4)
    """
    r = _lsq_grads(g, x, step, 0.0, quant_min, quant_max, grad_scale, axis)
    return LSQGrads(r.grad_x, r.grad_step)


def lsq_plus_fake_quantize_vjp(
    g: ArrayLike,
    x: ArrayLike,
    step: ArrayLike,
    offset: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    grad_scale: float | None = None,
) -> LSQPlusGrads:
    """LSQ+ gradients ``(dx, ds, d beta)``: LSQ's, plus the offset's, which flows where ``x`` is clipped.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x, step, quant_min, quant_max
        As in :func:`lsq_fake_quantize`.
    offset : float
        The offset ``beta``.
    grad_scale : float, optional
        Multiplies the step *and* offset gradients (LSQ+ scales both);
        default ``1 / sqrt(x.size * quant_max)``.

    Returns
    -------
    LSQPlusGrads
        ``grad_x``, ``grad_step`` (0-d), ``grad_offset`` (0-d).

    Notes
    -----
    With ``v = (x - beta) / s``, inside ``q_min < v < q_max``:
    ``d x_hat / d beta = -1 + 1 = 0``; outside: 1 (the clipped output is
    ``s * q + beta``). The step gradient is LSQ's with this ``v``.

    .. math:: \\frac{\\partial \\hat x}{\\partial \\beta} = 1 - \\mathbb{1}[q_{min} < v < q_{max}]

    Source: Bhalgat et al., "LSQ+: Improving low-bit quantization through
    learnable offsets and better initialization", CVPR-W 2020, eqs. 4-5.

    Examples
    --------
    >>> r = lsq_plus_fake_quantize_vjp([1.0, 1.0], [0.3, 9.0], 0.5, -1.0, 0, 7, grad_scale=1.0)
    >>> r.grad_x.tolist(), float(r.grad_step), float(r.grad_offset)
    ([1.0, 0.0], 7.4, 1.0)
    """
    return _lsq_grads(g, x, step, offset, quant_min, quant_max, grad_scale, None)


def _lsq_grads(
    g: ArrayLike,
    x: ArrayLike,
    step: ArrayLike,
    offset: ArrayLike,
    quant_min: int,
    quant_max: int,
    grad_scale: float | None,
    axis: int | None,
) -> LSQPlusGrads:
    xa, s, b, others = _args(x, step, offset, quant_min, quant_max, axis)
    ga = cotangent(g, xa)
    if np.isnan(xa).any():
        raise ValueError("x contains NaN: LSQ's step gradient is undefined there")
    per_step = max(xa.size // max(np.size(s), 1), 1)
    gs = lsq_grad_scale(per_step, quant_max) if grad_scale is None else float(grad_scale)
    if not (np.isfinite(gs) and gs > 0):
        raise ValueError(f"grad_scale must be finite and > 0, got {grad_scale!r}")
    v = (xa - b) / s
    inside = (v > quant_min) & (v < quant_max)
    ds_elem = np.where(
        inside, round_unchecked(v, "half_even", None) - v, np.where(v <= quant_min, quant_min, quant_max)
    )
    dtype = xa.dtype
    grad_step = np.asarray(gs * np.sum(ga * ds_elem, axis=others), dtype=dtype)
    grad_offset = np.asarray(gs * np.sum(ga * ~inside), dtype=dtype)
    return LSQPlusGrads((ga * inside).astype(dtype), grad_step, grad_offset)


def _args(
    x: ArrayLike, step: ArrayLike, offset: ArrayLike, quant_min: int, quant_max: int, axis: int | None
) -> tuple[NDArray[Any], Any, Any, tuple[int, ...] | None]:
    """Validated ``x``, ``step`` (scalar, or shaped to broadcast along ``axis``), offset, reduce axes."""
    check_range(quant_min, quant_max)
    xa = as_float_array("x", x)
    st = as_float_array("step", step).astype(xa.dtype)
    b = as_float_array("offset", offset)
    if b.size != 1:
        raise ValueError(f"offset must be a scalar, got shape {b.shape}")
    bv = xa.dtype.type(b.reshape(()))
    if not np.isfinite(bv):
        raise ValueError(f"offset must be finite, got {bv}")
    if not np.all(np.isfinite(st) & (st > 0)):
        raise ValueError(f"step must be finite and > 0, got {st}")
    if axis is None:
        if st.size != 1:
            raise ValueError(f"step must be a scalar without an axis, got shape {st.shape}")
        return xa, xa.dtype.type(st.reshape(())), bv, None
    ax = normalize_axis("axis", axis, xa.ndim)
    if st.shape != (xa.shape[ax],):
        raise ValueError(f"step must have shape ({xa.shape[ax]},) for axis={ax}, got {st.shape}")
    shape = [1] * xa.ndim
    shape[ax] = -1
    return xa, st.reshape(shape), bv, tuple(i for i in range(xa.ndim) if i != ax)
