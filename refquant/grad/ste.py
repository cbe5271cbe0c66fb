"""Straight-through estimators: the gradients people use for fake quantization.

Rounding has derivative 0 almost everywhere, so quantization-aware training
replaces it by a surrogate in the backward pass. The variants, and where each
puts the boundary of the clipped range:

* ``identity``: ``dx = g``, no boundary (Bengio et al. 2013, the plain STE);
* ``clipped_float``: ``dx = g * [lo <= x <= hi]`` with ``lo = (qmin - z) s``
  and ``hi = (qmax - z) s``: the boundary is the last grid points, inclusive
  (TF FakeQuant, on its nudged range);
* ``clipped_code``: ``dx = g * [qmin <= R(x / s) + z <= qmax]``: the boundary
  is half a step beyond the last grid points, ``x`` up to about
  ``(qmax - z + 0.5) s`` passes (PyTorch).

With ``clipped_code`` the gradient flows on ``((qmax - z) s, (qmax - z + 0.5) s)``
although the output is clamped (constant) there; with ``clipped_float`` it
stops exactly at the last grid point. At ``x = hi`` both pass the gradient.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _granularity as gran
from refquant._types import InputGrad
from refquant._validate import check_choice, show_values
from refquant.grad._args import cotangent, real_array
from refquant.quantize import NAN_POLICIES, OP_ORDERS, NanPolicy, OpOrder, prepare_arguments
from refquant.rounding import ROUNDING_MODES, RoundingMode, round_unchecked

__all__ = ["clipped_ste_vjp", "fake_quantize_vjp", "ste_vjp"]

Estimator = Literal["identity", "clipped_float", "clipped_code"]
ESTIMATORS = ("identity", "clipped_float", "clipped_code")


def ste_vjp(g: ArrayLike, x: ArrayLike) -> InputGrad:
    """Plain straight-through estimator: ``dx = g`` (rounding treated as the identity).

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of the quantizer's output.
    x : array_like of float
        The quantizer's input (only its shape is used).

    Returns
    -------
    InputGrad
        ``grad_x``: a copy of ``g`` in ``x``'s float dtype.

    Notes
    -----
    .. math:: \\frac{\\partial \\hat x}{\\partial x} := 1

    Source: Bengio, Léonard and Courville, "Estimating or propagating
    gradients through stochastic neurons" (2013); Hinton's lectures (2012).

    Examples
    --------
    >>> ste_vjp([1.0, -2.0], [0.3, 7.0]).grad_x.tolist()
    [1.0, -2.0]
    """
    xa = real_array("x", x)
    return InputGrad(cotangent(g, xa).copy())


def clipped_ste_vjp(g: ArrayLike, x: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> InputGrad:
    """Clipped STE in the float domain: ``dx = g * [lo <= x <= hi]`` (both ends inclusive).

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x : array_like of float
    lo, hi : array_like of float, broadcastable to ``x``
        The clipping range, ``lo <= hi``.

    Returns
    -------
    InputGrad

    Notes
    -----
    .. math:: \\bar x = \\bar y \\cdot \\mathbb{1}[\\ell \\le x \\le h]

    NaN inputs get 0. The mask multiplies ``g`` (``inf * 0`` is NaN, as in the
    frameworks' ``dY * mask``). ``lo`` and ``hi`` may be ``-inf`` and ``inf``
    (no bound) but not NaN; ``lo > hi`` raises ``ValueError``. Source: Hubara et al., "Binarized neural
    networks" (2016), the "hard tanh" STE; TF ``FakeQuantWithMinMaxVarsGradient``.

    Examples
    --------
    >>> clipped_ste_vjp([1.0, 1.0, 1.0, 1.0], [-1.5, -1.0, 1.0, 1.5], -1.0, 1.0).grad_x.tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    xa = real_array("x", x)
    ga = cotangent(g, xa)
    la, ha = real_array("lo", lo), real_array("hi", hi)
    for name, bound in (("lo", la), ("hi", ha)):
        try:
            fits = np.broadcast_shapes(bound.shape, xa.shape) == xa.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{name} must broadcast to x's shape {xa.shape}, got shape {bound.shape}")
        if np.isnan(bound).any():
            raise ValueError(f"{name} must not be NaN, got {show_values(bound)}")
    if np.any(la > ha):
        shape = np.broadcast_shapes(la.shape, ha.shape)
        i = int(np.argmax(np.broadcast_to(la > ha, shape)))
        lo_i, hi_i = float(np.broadcast_to(la, shape).flat[i]), float(np.broadcast_to(ha, shape).flat[i])
        where = "" if shape == () else f" (at flat index {i} of the bounds' shape {shape})"
        raise ValueError(f"lo must be <= hi, got lo={lo_i!r} > hi={hi_i!r}{where}")
    with np.errstate(invalid="ignore"):
        mask = (xa >= la) & (xa <= ha)
    return InputGrad(_masked(ga, mask))


def fake_quantize_vjp(
    g: ArrayLike,
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    estimator: Estimator = "clipped_code",
    axis: int | None = None,
    block_size: int | None = None,
    rounding: RoundingMode = "half_even",
    op_order: OpOrder = "divide",
    compute_dtype: Any = None,
    nan: NanPolicy = "raise",
) -> InputGrad:
    """Straight-through gradient of :func:`refquant.quantize.fake_quantize` with respect to ``x``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of the fake-quantized output.
    x, scale, zero_point, quant_min, quant_max, axis, block_size, rounding, op_order, compute_dtype
        As in :func:`refquant.quantize.fake_quantize`, validated as there
        (so the vjp accepts and rejects what the forward does). ``rounding``
        and ``op_order`` matter only for ``estimator="clipped_code"``;
        ``rounding="stochastic"`` is accepted by the other estimators (whose
        mask does not depend on the rounding) and rejected by
        ``"clipped_code"`` (the mask would need the forward's draws).
    estimator : {"identity", "clipped_float", "clipped_code"}
        Module docstring. Default ``"clipped_code"``, PyTorch's.
    nan : {"raise", "zero_point", "quant_min", "quant_max"}
        The forward's NaN policy. ``"raise"`` (default, as the forward)
        raises ``ValueError`` on a NaN in ``x``; the others map NaN to a
        constant code, whose gradient is 0 (``g`` itself for ``"identity"``).

    Returns
    -------
    InputGrad
        ``grad_x`` in ``x``'s float dtype.

    Notes
    -----
    .. math::

        \\bar x = \\bar y \\cdot
        \\begin{cases}
        1 & \\text{identity} \\\\
        \\mathbb{1}[(q_{min} - z) s \\le x \\le (q_{max} - z) s] & \\text{clipped\\_float} \\\\
        \\mathbb{1}[q_{min} \\le R(x / s) + z \\le q_{max}] & \\text{clipped\\_code}
        \\end{cases}

    ``clipped_float`` evaluates its bounds in float64. ``±inf`` in ``x`` get 0
    from the clipped estimators (they are clipped); NaN, unless
    ``nan="raise"``, too. Source: Jacob et al. (2018), section 3.1 (clipped
    STE); PyTorch ``fake_quantize_per_tensor_affine_cachemask_backward``.

    Examples
    --------
    >>> x = [-0.2, 0.0, 1.2, 1.24, 1.6]
    >>> fake_quantize_vjp([1.0] * 5, x, 0.1, 0, 0, 12).grad_x.tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    >>> fake_quantize_vjp([1.0] * 5, x, 0.1, 0, 0, 12, estimator="clipped_float").grad_x.tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    check_choice("estimator", estimator, ESTIMATORS)
    check_choice("rounding", rounding, ROUNDING_MODES)
    if rounding == "stochastic" and estimator == "clipped_code":
        raise ValueError(
            "rounding='stochastic' is not supported by estimator='clipped_code' (its mask needs the "
            "forward's random draws); use estimator='clipped_float' or 'identity'"
        )
    check_choice("op_order", op_order, OP_ORDERS)
    check_choice("nan", nan, NAN_POLICIES)
    _check_compute_dtype(compute_dtype)
    xa, s, z, g_layout, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype, op_order=op_order
    )  # the forward's checks, including a finite 1/s in the compute dtype for op_order="multiply"
    ga = cotangent(g, xa)
    if nan == "raise" and np.isnan(np.min(xa, initial=0.0)):
        raise ValueError(
            f"x contains NaN (at flat index {int(np.argmax(np.isnan(xa)))}); pass nan='zero_point', "
            "'quant_min' or 'quant_max' to map it, as in the forward"
        )
    if estimator == "identity":
        return InputGrad(ga.copy())
    sb = gran.broadcast_param(s, g_layout, xa.shape)
    zb = gran.broadcast_param(z, g_layout, xa.shape)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if estimator == "clipped_float":
            s64 = sb.astype(np.float64)
            mask = (xa >= (quant_min - zb) * s64) & (xa <= (quant_max - zb) * s64)
        else:
            inv_or_s = np.divide(np.ones((), cd), sb, dtype=cd) if op_order == "multiply" else sb
            op = np.multiply if op_order == "multiply" else np.divide
            t = round_unchecked(op(xa, inv_or_s, dtype=cd), rounding, None)
            mask = (t >= quant_min - zb) & (t <= quant_max - zb)
    return InputGrad(_masked(ga, mask))


def _check_compute_dtype(compute_dtype: Any) -> None:
    """``compute_dtype`` must name a float dtype (checked before NumPy sees it, for the message)."""
    if compute_dtype is None:
        return
    try:
        dt = np.dtype(compute_dtype)
    except TypeError:
        raise TypeError(f"compute_dtype must be a float dtype, got {compute_dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"compute_dtype must be a float dtype, got {compute_dtype!r} ({dt})")


def _masked(g: NDArray[Any], mask: NDArray[Any]) -> NDArray[Any]:
    with np.errstate(invalid="ignore"):
        return g * mask.astype(g.dtype)
