"""Backward passes of PyTorch's fake-quantize ops, and its learnable fake-quantize.

Every public name here is re-exported by :mod:`refquant.interop.torch`, so
``refquant.interop.torch.fake_quantize_per_tensor_affine_vjp`` sits beside
the forward it differentiates. What torch 2.13 computes on x86-64 CPU
(ATen ``FakeQuantPerTensorAffine.cpp``, ``FakeQuantPerChannelAffine.cpp`` and
the kernels in ``QuantizedOpKernels.cpp``):

* ``fake_quantize_per_*_affine`` backward: ``grad * mask``, with the mask of
  the forward kernel (the code before clamping lies in ``[quant_min,
  quant_max]``, boundaries included). It is a multiplication, so an infinite
  or NaN ``grad`` where the mask is 0 gives NaN, not 0.
* ``_fake_quantize_learnable_per_tensor_affine``: the forward rounds the
  float zero point half to even and clamps it; the **backward** uses
  ``int(clamp(z + 0.5))`` (truncation: half up for ``z >= -0.5``), so
  ``z = 2.5`` is 2 in the forward and 3 in the backward. The per-channel op
  rounds half to even in both passes. The backward's code is
  ``nearbyint(z + x * inv_scale)``, which the compiler contracts into a
  fused multiply-add on x86 (established empirically: the unfused form
  mismatches torch on 53 of 380,800 tie-dense inputs, the fused none), and
  likewise ``fq(x) - x = (q - z) * s - x`` into ``fma(q - z, s, -x)`` (the
  unfused product mismatches by up to hundreds of ulps of the difference).
  Inside the range ``d scale = g * (fq(x) - x) / s``, outside it
  ``g * (q_bound - z)``; ``d z = -g * s`` outside, 0 inside; each times
  ``grad_factor``; then summed over all elements (per tensor) or all but
  the channel axis (per channel).
* The sums: torch accumulates in float32 (a vectorized cascade sum); refquant
  accumulates in float64 and rounds once, which is at least as accurate. The
  per-element terms are bit-identical; the sums agree within torch's float32
  summation error, ``log2(n) * eps32 * sum|terms|``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._exact import fma_float32
from refquant._validate import as_float_array, normalize_axis

__all__ = [
    "FakeQuantizeGrads",
    "LearnableFakeQuantizeGrads",
    "fake_quantize_per_channel_affine_vjp",
    "fake_quantize_per_tensor_affine_vjp",
    "learnable_fake_quantize_per_channel_affine",
    "learnable_fake_quantize_per_channel_affine_vjp",
    "learnable_fake_quantize_per_tensor_affine",
    "learnable_fake_quantize_per_tensor_affine_vjp",
]

_F32 = np.float32


class FakeQuantizeGrads(NamedTuple):
    """Gradient of a fake-quantize op with respect to its input."""

    grad_input: NDArray[np.float32]


class LearnableFakeQuantizeGrads(NamedTuple):
    """Gradients of a learnable fake-quantize op: input, scale, zero point."""

    grad_input: NDArray[np.float32]
    grad_scale: NDArray[np.float32]
    grad_zero_point: NDArray[np.float32]


def _float32_array(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """Arrays must be float32; Python scalars and lists become float32, as in ``torch.tensor``."""
    if not isinstance(value, np.ndarray):
        return np.asarray(as_float_array(name, np.asarray(value, dtype=np.float64)), dtype=_F32)
    if value.dtype != np.float32:
        raise TypeError(f"{name} must be float32 (torch's float32 kernels are mirrored), got {value.dtype}")
    return value


def _check_grad_shape(grad: NDArray[Any], x: NDArray[Any]) -> None:
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of input {x.shape}, got {grad.shape}")


def _per_tensor_mask(
    x: NDArray[np.float32], scale: float, zero_point: int, qmin: int, qmax: int
) -> NDArray[Any]:
    """``qmin <= z + rint(x * fl(1/s)) <= qmax`` with the sum in float32 (NaN -> False)."""
    inv = _F32(1.0) / _F32(scale)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(x * inv)
        q += _F32(zero_point)
        return (q >= qmin) & (q <= qmax)


def _per_channel_mask(
    x: NDArray[np.float32],
    scale: NDArray[np.float32],
    zero_point: NDArray[Any],
    ax: int,
    qmin: int,
    qmax: int,
) -> NDArray[Any]:
    """The per-channel mask, after torch's int64 cast (inf, NaN, |t| >= 2**63 -> INT64_MIN -> False)."""
    shape = [1] * x.ndim
    shape[ax] = -1
    inv = (_F32(1.0) / scale).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(x * inv)
        q += zero_point.astype(_F32).reshape(shape)
        q = np.where(np.abs(q) < _F32(2.0**63), q, _F32(-(2.0**63)))
        return (q >= qmin) & (q <= qmax)


def _masked(grad: NDArray[np.float32], mask: NDArray[Any]) -> NDArray[np.float32]:
    """``grad * mask`` as a multiplication, so that ``inf * 0`` is NaN exactly as in torch."""
    with np.errstate(invalid="ignore"):
        return (grad * mask.astype(_F32)).astype(_F32, copy=False)


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
    grad_factor: float,
) -> LearnableFakeQuantizeGrads:
    """Torch's per-tensor learnable backward; the zero point is ``int(clamp(z + 0.5))``."""
    s = _F32(scale)
    inv = _F32(1.0) / s
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
    grad_factor: float,
) -> LearnableFakeQuantizeGrads:
    """Torch's per-channel learnable backward; the zero point is ``clamp(round(z))`` (half to even)."""
    ax = normalize_axis("axis", axis, x.ndim)
    shape = [1] * x.ndim
    shape[ax] = -1
    s = scale.reshape(shape)
    z = _learnable_zero_point_forward(zero_point, qmin, qmax).reshape(shape)
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
        below, above = xq < qmin, xq > qmax
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


def fake_quantize_per_tensor_affine_vjp(
    grad: ArrayLike, input: ArrayLike, scale: float, zero_point: int, quant_min: int, quant_max: int
) -> FakeQuantizeGrads:
    """Backward of ``torch.fake_quantize_per_tensor_affine``: ``grad * [qmin <= z + rint(x/s) <= qmax]``.

    Parameters
    ----------
    grad : array_like of float32, shape of ``input``
        Cotangent of the output.
    input : array_like of float32, any shape
    scale, zero_point, quant_min, quant_max
        As in the forward.

    Returns
    -------
    FakeQuantizeGrads
        ``grad_input``, float32, shape of ``input``.

    Notes
    -----
    .. math:: \\bar x = \\bar y \\cdot \\mathbb{1}\\big[q_{min} \\le
              \\mathrm{fl}(z + \\operatorname{rint}(x \\cdot \\mathrm{fl}(1/s))) \\le q_{max}\\big]

    A clipped straight-through estimator whose clip is on the *code before
    clamping*: ``x`` up to half a step beyond ``(quant_max - z) * s`` still
    passes its gradient. NaN inputs get 0 (times ``grad``). Source: ATen
    ``fake_quantize_per_tensor_affine_cachemask_backward`` (``dY * mask``).

    Examples
    --------
    >>> x = [-1.6, -1.4, 0.0, 12.4, 12.6]
    >>> fake_quantize_per_tensor_affine_vjp([1.0] * 5, x, 1.0, 0, -1, 12).grad_input.tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    x = _float32_array("input", input)
    g = _float32_array("grad", grad)
    _check_grad_shape(g, x)
    _check_qrange(quant_min, quant_max, zero_point)
    _check_scale(_one("scale", scale))
    return FakeQuantizeGrads(_masked(g, _per_tensor_mask(x, scale, zero_point, quant_min, quant_max)))


def fake_quantize_per_channel_affine_vjp(
    grad: ArrayLike,
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    axis: int,
    quant_min: int,
    quant_max: int,
) -> FakeQuantizeGrads:
    """Backward of ``torch.fake_quantize_per_channel_affine``: ``grad * mask``.

    Parameters
    ----------
    grad : array_like of float32, shape of ``input``
    input : array_like of float32, any shape
    scale : array_like of float, shape ``(input.shape[axis],)``
    zero_point : array_like of int, shape ``(input.shape[axis],)``
    axis, quant_min, quant_max : int

    Returns
    -------
    FakeQuantizeGrads
        ``grad_input``, float32, shape of ``input``.

    Notes
    -----
    .. math:: \\bar x = \\bar y \\cdot \\mathbb{1}\\big[q_{min} \\le
              \\mathrm{int64}(z_c + \\operatorname{rint}(x \\cdot \\mathrm{fl}(1/s_c))) \\le q_{max}\\big]

    ``±inf`` and NaN inputs cast to ``INT64_MIN`` (x86-64) and get 0. Source:
    ATen ``fake_quant_per_channel_cachemask_cpu`` and ``dY * mask``.

    Examples
    --------
    >>> x, g = [[0.4, 1.6], [2.4, 3.2]], [[1.0, 1.0]] * 2
    >>> fake_quantize_per_channel_affine_vjp(g, x, [1.0, 2.0], [0, 0], 0, -1, 1).grad_input.tolist()
    [[1.0, 0.0], [1.0, 0.0]]
    """
    x = _float32_array("input", input)
    g = _float32_array("grad", grad)
    _check_grad_shape(g, x)
    ax = normalize_axis("axis", axis, x.ndim)
    s = _check_scale(_channel("scale", as_float_array("scale", scale), x, ax).astype(_F32))
    z = _channel("zero_point", np.asarray(zero_point), x, ax)
    _check_qrange(quant_min, quant_max, z)
    return FakeQuantizeGrads(_masked(g, _per_channel_mask(x, s, z, ax, quant_min, quant_max)))


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
    grad_factor : float
        Only scales the gradients (unused in the forward; kept so that the
        forward and the vjp have the same arguments).

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
    from refquant.interop.torch import fake_quantize_per_tensor_affine

    x = _float32_array("input", input)
    s, z = _check_scale(_one("scale", scale)), _check_finite("zero_point", _one("zero_point", zero_point))
    zf = _learnable_zero_point_forward(z, quant_min, quant_max)
    return fake_quantize_per_tensor_affine(x, float(s), int(zf), quant_min, quant_max)


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
    x = _float32_array("input", input)
    g = _float32_array("grad", grad)
    _check_grad_shape(g, x)
    s, z = _check_scale(_one("scale", scale)), _check_finite("zero_point", _one("zero_point", zero_point))
    _check_qrange(quant_min, quant_max, None)
    return _learnable_tensor_grads(g, x, float(s), float(z), quant_min, quant_max, grad_factor)


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
        Rounded half to even and clamped, in the forward and the backward.
    axis, quant_min, quant_max : int
    grad_factor : float
        Unused in the forward.

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
    from refquant.interop.torch import fake_quantize_per_channel_affine

    x = _float32_array("input", input)
    ax = normalize_axis("axis", axis, x.ndim)
    s = _check_scale(_channel("scale", as_float_array("scale", scale), x, ax).astype(_F32))
    zc = _check_finite("zero_point", _channel("zero_point", as_float_array("zero_point", zero_point), x, ax))
    z = _learnable_zero_point_forward(zc, quant_min, quant_max)
    return fake_quantize_per_channel_affine(x, s, z.astype(np.int64), ax, quant_min, quant_max)


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
    x = _float32_array("input", input)
    g = _float32_array("grad", grad)
    _check_grad_shape(g, x)
    ax = normalize_axis("axis", axis, x.ndim)
    s = _check_scale(_channel("scale", as_float_array("scale", scale), x, ax).astype(_F32))
    z = _check_finite("zero_point", _channel("zero_point", as_float_array("zero_point", zero_point), x, ax))
    z = z.astype(_F32)
    _check_qrange(quant_min, quant_max, None)
    return _learnable_channel_grads(g, x, s, z, ax, quant_min, quant_max, grad_factor)


def _one(name: str, value: ArrayLike) -> np.float32:
    arr = as_float_array(name, value)
    if arr.size != 1:
        raise ValueError(f"{name} must have one element, got shape {arr.shape}")
    return _F32(arr.reshape(()))


def _channel(name: str, value: NDArray[Any], x: NDArray[Any], axis: int) -> NDArray[Any]:
    if value.shape != (x.shape[axis],):
        raise ValueError(f"{name} must have shape ({x.shape[axis]},) for axis={axis}, got {value.shape}")
    return value


def _check_scale(s: Any) -> Any:
    """The scale (rounded to float32) must be finite and > 0, as the forward ops require."""
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"scale must be finite and > 0, got {s}")
    return s


def _check_finite(name: str, value: Any) -> Any:
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_qrange(quant_min: int, quant_max: int, zero_point: ArrayLike | None) -> None:
    if not quant_min <= quant_max:
        raise ValueError(f"quant_min must be <= quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    if zero_point is not None:
        z = np.asarray(zero_point)
        if z.size and (z.min() < quant_min or z.max() > quant_max):
            raise ValueError(f"zero_point must be between quant_min and quant_max, got {z}")
