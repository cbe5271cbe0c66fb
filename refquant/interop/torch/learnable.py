"""PyTorch's learnable fake-quantize (``_fake_quantize_learnable_per_*_affine``): forward and backward.

See :mod:`refquant.interop.torch` for torch's zero-point rounding (half to even
forward, ``int(z + 0.5)`` backward per tensor), the FMA contractions of its
backward and how its float32 sums are mirrored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._exact import fma_float32
from refquant.interop.torch._checks import (
    channel_values,
    check_axis,
    check_extent,
    check_grad_shape,
    float32_input,
    grad_factor_value,
    one_value,
    quant_range,
)
from refquant.interop.torch.fake_quant import (
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
)

__all__ = [
    "LearnableFakeQuantizeGrads",
    "learnable_fake_quantize_per_channel_affine",
    "learnable_fake_quantize_per_channel_affine_vjp",
    "learnable_fake_quantize_per_tensor_affine",
    "learnable_fake_quantize_per_tensor_affine_vjp",
]

_F32 = np.float32


class LearnableFakeQuantizeGrads(NamedTuple):
    """Gradients of a learnable fake-quantize op: input, scale, zero point."""

    grad_input: NDArray[np.float32]
    grad_scale: NDArray[np.float32]
    grad_zero_point: NDArray[np.float32]


def learnable_fake_quantize_per_tensor_affine(
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    grad_factor: float = 1.0,
) -> NDArray[np.float32]:
    """``torch._fake_quantize_learnable_per_tensor_affine`` (forward): LSQ-style fake-quant.

    Parameters
    ----------
    input : array_like of float32, any shape
    scale : array_like of float, one element
        The learnable step size (rounded to float32).
    zero_point : array_like of float, one element
        The learnable (float) zero point; the forward uses
        ``clamp(nearbyint(zero_point), quant_min, quant_max)``.
    quant_min, quant_max : int
        ``quant_min < quant_max`` and the range must include 0 (torch's
        backward requires it; refquant's forward too, so that both accept
        the same arguments).
    grad_factor : float
        A finite real number. Only scales the gradients (unused in the
        forward; checked there so that the forward and the vjp accept the
        same arguments).

    Raises
    ------
    TypeError, ValueError
        ``scale`` must be one real number (a scalar, a 0-d or a 1-element
        array; torch takes a 1-element tensor), finite and ``> 0`` in
        float32; ``zero_point`` one finite real number (torch clamps an
        infinite one; refquant raises); the rules of
        :mod:`refquant.interop.torch._checks` for the rest.

    Returns
    -------
    ndarray of float32, shape of ``input``

    Notes
    -----
    .. math:: \\hat x = \\big(\\operatorname{clamp}(\\mathrm{fl}(\\tilde z + \\operatorname{rint}(x
              \\cdot \\mathrm{fl}(1/s))), q_{min}, q_{max}) - \\tilde z\\big)\\, s, \\quad
              \\tilde z = \\operatorname{clamp}(\\operatorname{rint}(z), q_{min}, q_{max})

    i.e. ``fake_quantize_per_tensor_affine`` with the rounded zero point.
    Source: ATen ``_fake_quantize_learnable_per_tensor_affine`` (Esser et al.,
    "Learned Step Size Quantization", ICLR 2020).

    Examples
    --------
    >>> learnable_fake_quantize_per_tensor_affine([0.3, 1.0, 9.0], [0.5], [2.5], 0, 15).tolist()
    [0.5, 1.0, 6.5]
    """

    x, s, z, qmin, qmax, _ = _tensor_args(input, scale, zero_point, quant_min, quant_max, grad_factor)
    zf = _learnable_zero_point_forward(z, qmin, qmax)
    return fake_quantize_per_tensor_affine(x, float(s), int(zf), qmin, qmax)


def learnable_fake_quantize_per_tensor_affine_vjp(
    grad: ArrayLike,
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    grad_factor: float = 1.0,
) -> LearnableFakeQuantizeGrads:
    """Backward of ``torch._fake_quantize_learnable_per_tensor_affine``: (dx, d scale, d zero point).

    Parameters
    ----------
    grad : array_like of float32, shape of ``input``
    input, scale, zero_point, quant_min, quant_max, grad_factor
        As in :func:`learnable_fake_quantize_per_tensor_affine`.

    Returns
    -------
    LearnableFakeQuantizeGrads
        ``grad_input`` (float32, shape of ``input``), ``grad_scale`` and
        ``grad_zero_point`` (float32, shape ``(1,)``).

    Notes
    -----
    With ``z_b = int(clamp(z + 0.5, q_min, q_max))`` (the backward's own
    rounding, half up) and ``q = rint(fma(x, fl(1/s), z_b))``:

    .. math::

        \\bar x = \\bar y\\,\\mathbb{1}[q_{min} \\le q \\le q_{max}], \\quad
        \\bar s = \\gamma \\sum \\bar y \\cdot
        \\begin{cases} (\\hat x - x)/s & \\text{inside} \\\\ q_{min} - z_b & q < q_{min} \\\\
        q_{max} - z_b & q > q_{max}\\end{cases}, \\quad
        \\bar z = \\gamma \\sum_{\\text{outside}} -\\bar y\\, s

    with ``gamma = grad_factor``. Source: ATen
    ``_fake_quantize_learnable_per_tensor_affine_backward`` and
    ``fake_quantize_learnable_tensor_grad_kernel_cpu``; the LSQ gradient of
    Esser et al. (2020), eq. 3, without its ``1/sqrt(N Q_P)`` scale (pass it
    as ``grad_factor``).

    Examples
    --------
    >>> r = learnable_fake_quantize_per_tensor_affine_vjp([1.0, 1.0], [0.3, 9.0], [0.5], [0.0], 0, 15)
    >>> r.grad_input.tolist(), r.grad_scale.tolist(), r.grad_zero_point.tolist()
    ([1.0, 0.0], [15.399999618530273], [-0.5])
    """
    x, s, z, qmin, qmax, gf = _tensor_args(input, scale, zero_point, quant_min, quant_max, grad_factor)
    g = float32_input("grad", grad)
    check_grad_shape(g, x)
    return _learnable_tensor_grads(g, x, float(s), float(z), qmin, qmax, gf)


def learnable_fake_quantize_per_channel_affine(
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    axis: int,
    quant_min: int,
    quant_max: int,
    grad_factor: float = 1.0,
) -> NDArray[np.float32]:
    """``torch._fake_quantize_learnable_per_channel_affine`` (forward).

    Parameters
    ----------
    input : array_like of float32, any shape
    scale : array_like of float, shape ``(input.shape[axis],)``
    zero_point : array_like of float, shape ``(input.shape[axis],)``
        Finite; rounded half to even and clamped, in the forward and the
        backward.
    axis, quant_min, quant_max : int
        As in :func:`learnable_fake_quantize_per_tensor_affine` (the range
        must include 0).
    grad_factor : float
        Finite; unused in the forward.

    Returns
    -------
    ndarray of float32, shape of ``input``

    Notes
    -----
    .. math:: \\hat x = \\operatorname{fake\\_quantize\\_per\\_channel\\_affine}(x, s,
              \\operatorname{clamp}(\\operatorname{rint}(z), q_{min}, q_{max}), \\text{axis})

    Source: ATen ``_fake_quantize_learnable_per_channel_affine``.

    Examples
    --------
    >>> learnable_fake_quantize_per_channel_affine([[0.3, 9.0]], [0.5], [2.5], 0, 0, 15).tolist()
    [[0.5, 6.5]]
    """

    x, s, zc, ax, qmin, qmax, _ = _channel_args(
        input, scale, zero_point, axis, quant_min, quant_max, grad_factor
    )
    z = _learnable_zero_point_forward(zc, qmin, qmax)
    return fake_quantize_per_channel_affine(x, s, z.astype(np.int64), ax, qmin, qmax)


def learnable_fake_quantize_per_channel_affine_vjp(
    grad: ArrayLike,
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    axis: int,
    quant_min: int,
    quant_max: int,
    grad_factor: float = 1.0,
) -> LearnableFakeQuantizeGrads:
    """Backward of ``torch._fake_quantize_learnable_per_channel_affine``.

    Parameters
    ----------
    grad : array_like of float32, shape of ``input``
    input, scale, zero_point, axis, quant_min, quant_max, grad_factor
        As in :func:`learnable_fake_quantize_per_channel_affine`.

    Returns
    -------
    LearnableFakeQuantizeGrads
        ``grad_input`` (shape of ``input``), ``grad_scale`` and
        ``grad_zero_point`` (shape ``(C,)``), float32.

    Notes
    -----
    The per-tensor formulas (see
    :func:`learnable_fake_quantize_per_tensor_affine_vjp`) per channel, with
    ``z_c = clamp(rint(z_c))`` (half to even, as in the forward), summed over
    every axis but ``axis``. Source: ATen
    ``_fake_quantize_learnable_per_channel_affine_backward`` and
    ``fake_quantize_learnable_channel_grad_kernel_cpu``.

    Examples
    --------
    >>> r = learnable_fake_quantize_per_channel_affine_vjp([[1.0, 1.0]], [[0.3, 9.0]], [0.5], [0.0], 0, 0, 15)
    >>> r.grad_scale.tolist(), r.grad_zero_point.tolist()
    ([15.399999618530273], [-0.5])
    """
    x, s, z, ax, qmin, qmax, gf = _channel_args(
        input, scale, zero_point, axis, quant_min, quant_max, grad_factor
    )
    g = float32_input("grad", grad)
    check_grad_shape(g, x)
    return _learnable_channel_grads(g, x, s, z, ax, qmin, qmax, gf)


def _tensor_args(
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    grad_factor: float,
) -> tuple[NDArray[np.float32], np.float32, np.float32, int, int, np.float32]:
    """The per-tensor arguments, checked alike for the forward and the vjp."""
    x = float32_input("input", input)
    qmin, qmax = quant_range(quant_min, quant_max, zero_in_range=True)
    s = one_value("scale", scale, positive=True)
    check_extent(s, qmin, qmax)
    z = one_value("zero_point", zero_point, positive=False)
    return x, s, z, qmin, qmax, grad_factor_value(grad_factor)


def _channel_args(
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    axis: int,
    quant_min: int,
    quant_max: int,
    grad_factor: float,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], int, int, int, np.float32]:
    """The per-channel arguments, checked alike for the forward and the vjp."""
    x = float32_input("input", input)
    qmin, qmax = quant_range(quant_min, quant_max, zero_in_range=True)
    ax = check_axis(axis, x.ndim)
    s = channel_values("scale", scale, x, ax, positive=True)
    check_extent(s, qmin, qmax)
    z = channel_values("zero_point", zero_point, x, ax, positive=False)
    return x, s, z, ax, qmin, qmax, grad_factor_value(grad_factor)


def _learnable_zero_point_forward(zero_point: ArrayLike, qmin: int, qmax: int) -> NDArray[np.float32]:
    """Forward rounding of the zero point: ``clamp(nearbyint(z), qmin, qmax)`` (half to even)."""
    z = np.asarray(zero_point, dtype=_F32)
    return np.clip(np.rint(z), _F32(qmin), _F32(qmax))


def _learnable_tensor_grads(
    grad: NDArray[np.float32],
    x: NDArray[np.float32],
    scale: float,
    zero_point: float,
    qmin: int,
    qmax: int,
    grad_factor: np.float32,
) -> LearnableFakeQuantizeGrads:
    """Torch's per-tensor learnable backward; the zero point is ``int(clamp(z + 0.5))``."""
    s = _F32(scale)
    with np.errstate(over="ignore"):
        inv = _F32(1.0) / s  # inf for a subnormal scale, as in torch
    z = int(np.clip(_F32(zero_point) + _F32(0.5), _F32(qmin), _F32(qmax)))  # truncation toward 0
    gf = _F32(grad_factor)
    with np.errstate(invalid="ignore", over="ignore"):
        xq = np.rint(fma_float32(x, inv, _F32(z)))  # compiled with FMA contraction on x86
    dx, ds_vec, dz_vec = _learnable_elementwise(
        grad, x, xq, s, inv, _F32(z), _F32(qmin - z), _F32(qmax - z), qmin, qmax, gf
    )
    return LearnableFakeQuantizeGrads(dx, _sum32(ds_vec, None), _sum32(dz_vec, None))


def _learnable_channel_grads(
    grad: NDArray[np.float32],
    x: NDArray[np.float32],
    scale: NDArray[np.float32],
    zero_point: NDArray[np.float32],
    axis: int,
    qmin: int,
    qmax: int,
    grad_factor: np.float32,
) -> LearnableFakeQuantizeGrads:
    """Torch's per-channel learnable backward; the zero point is ``clamp(round(z))`` (half to even)."""
    ax = axis
    shape = [1] * x.ndim
    shape[ax] = -1
    s = scale.reshape(shape)
    z = _learnable_zero_point_forward(zero_point, qmin, qmax).reshape(shape)
    with np.errstate(over="ignore", divide="ignore"):
        inv = _F32(1.0) / s
    with np.errstate(invalid="ignore", over="ignore"):
        xq = np.rint(fma_float32(x, inv, z))
    lo, hi = _F32(qmin) - z, _F32(qmax) - z
    dx, ds_vec, dz_vec = _learnable_elementwise(grad, x, xq, s, inv, z, lo, hi, qmin, qmax, _F32(grad_factor))
    others = tuple(i for i in range(x.ndim) if i != ax)
    return LearnableFakeQuantizeGrads(dx, _sum32(ds_vec, others), _sum32(dz_vec, others))


def _learnable_elementwise(
    dy: NDArray[np.float32],
    x: NDArray[np.float32],
    xq: NDArray[np.float32],
    s: Any,
    inv: Any,
    z: Any,
    dscale_small: Any,
    dscale_big: Any,
    qmin: int,
    qmax: int,
    gf: np.float32,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """The per-element terms of ``fake_quantize_learnable_*_grad_kernel_cpu``, in float32."""
    with np.errstate(invalid="ignore", over="ignore"):
        xq = np.where(np.abs(xq) < _F32(2.0**63), xq, _F32(-(2.0**63)))  # torch's int64 cast
        below, above = xq < np.float64(qmin), xq > np.float64(qmax)  # exact bounds, as torch's int compare
        inside = ~(below | above)
        dx = dy * inside.astype(_F32)
        # ``xfqi - x`` with ``xfqi = (q - z) * s`` is contracted into fma(q - z, s, -x)
        diff = fma_float32((np.clip(xq, qmin, qmax) - z).astype(_F32), np.broadcast_to(s, x.shape), -x)
        ds_inside = dy * diff * inv * gf
        ds_outside = np.where(below, dy * dscale_small, dy * dscale_big) * gf
        ds = np.where(inside, ds_inside, ds_outside).astype(_F32)
        dz = np.where(inside, _F32(0), (dy * _F32(-1)) * s * gf).astype(_F32)
    return dx.astype(_F32), ds, dz


def _sum32(v: NDArray[np.float32], axes: tuple[int, ...] | None) -> NDArray[np.float32]:
    """Accumulated in float64 and rounded once to float32 (torch sums in float32: module note)."""
    total = v.astype(np.float64).sum(axis=axes)
    return np.atleast_1d(np.asarray(total, dtype=_F32))
