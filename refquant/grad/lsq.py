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
the weights. Every elementwise step is evaluated in ``x``'s float dtype
(float64 for integer and bool inputs), as the frameworks do; the sums of
the backward (``grad_step``, ``grad_offset``) are accumulated in float64 and
rounded once, so no partial sum overflows where the total fits.

NaN and infinity: a NaN in ``x`` raises ``ValueError`` in the forward and
in both vjps (LSQ's step gradient is undefined there, and the vjp rejects
what the forward rejects); ``±inf`` clip to the range ends (``x - beta``
overflowing to ``±inf`` clips the same way). ``step``, ``offset`` and
``grad_scale`` must be finite, and ``step`` > 0, after rounding to ``x``'s
dtype. A finite input gives a finite output: a step or offset gradient
whose value lies beyond the range of ``x``'s dtype (a huge ``grad_scale``
or cotangent) raises ``ValueError`` rather than returning ``inf``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_range, normalize_axis
from refquant.grad._args import cotangent, positive, real_array, reduced, scalar
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
        LSQ+'s learned offset ``beta`` (0 for LSQ), per tensor: a real
        scalar or a 0-d array.
    axis : int, optional
        The channel axis of a per-channel ``step``.

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math:: \\hat x = s \\cdot \\big\\lfloor \\operatorname{clip}((x - \\beta)/s,\\, q_{min},\\,
              q_{max}) \\big\\rceil + \\beta

    with ``⌊·⌉`` half to even. A NaN in ``x`` raises ``ValueError`` (module
    docstring). Source: Esser et al., "Learned Step Size Quantization", ICLR 2020,
    eq. 1; Bhalgat et al., "LSQ+", CVPR-W 2020, eq. 2.

    Examples
    --------
    >>> lsq_fake_quantize([-3.0, 0.26, 0.74, 9.0], 0.5, -4, 3).tolist()
    [-2.0, 0.5, 0.5, 1.5]
    """
    xa, s, b, _ = _args(x, step, offset, quant_min, quant_max, axis)
    with np.errstate(over="ignore"):
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
    per_step = max(xa.size // max(np.size(s), 1), 1)
    if grad_scale is None:
        gs = lsq_grad_scale(per_step, quant_max)
    else:
        gs = float(positive("grad_scale", grad_scale, np.dtype(np.float64)))
    with np.errstate(over="ignore", invalid="ignore"):
        v = (xa - b) / s
        inside = (v > quant_min) & (v < quant_max)
        ds_elem = np.where(
            inside, round_unchecked(v, "half_even", None) - v, np.where(v <= quant_min, quant_min, quant_max)
        )
        g64 = ga.astype(np.float64)
        dtype = xa.dtype
        step64, offset64 = gs * np.sum(g64 * ds_elem, axis=others), gs * np.sum(g64, where=~inside)
    why = f"grad_scale={gs!r}, max |g| = {np.max(np.abs(ga), initial=0)!s}"
    grad_step = reduced("the step gradient", step64, dtype, why)
    grad_offset = reduced("the offset gradient", offset64, dtype, why)
    return LSQPlusGrads(np.where(inside, ga, dtype.type(0)), grad_step, grad_offset)


def _args(
    x: ArrayLike, step: ArrayLike, offset: object, quant_min: int, quant_max: int, axis: int | None
) -> tuple[NDArray[Any], Any, Any, tuple[int, ...] | None]:
    """Validated ``x``, ``step`` (scalar, or shaped to broadcast along ``axis``), offset, reduce axes."""
    check_range(quant_min, quant_max)
    xa = real_array("x", x)
    if np.isnan(np.min(xa, initial=0.0)):
        raise ValueError(
            f"x contains NaN (at flat index {int(np.argmax(np.isnan(xa)))}): LSQ is undefined there"
        )
    bv = scalar("offset", offset, xa.dtype)
    st64 = real_array("step", step)
    if axis is None:
        if st64.ndim != 0:
            raise ValueError(f"step must be a scalar without an axis, got shape {st64.shape}")
        return xa, positive("step", st64, xa.dtype), bv, None
    ax = normalize_axis("axis", axis, xa.ndim)
    if st64.shape != (xa.shape[ax],):
        raise ValueError(f"step must have shape ({xa.shape[ax]},) for axis={ax}, got shape {st64.shape}")
    with np.errstate(over="ignore", under="ignore"):
        st = st64.astype(xa.dtype)
    bad = ~(np.isfinite(st64) & (st64 > 0) & np.isfinite(st) & (st > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"step must be finite and > 0 in x's dtype {xa.dtype}, got step[{i}]={float(st64[i])!r} "
            f"({st[i]} in {xa.dtype})"
        )
    shape = [1] * xa.ndim
    shape[ax] = -1
    return xa, st.reshape(shape), bv, tuple(i for i in range(xa.ndim) if i != ax)
