"""PyTorch's fake-quantize ops, forward and backward side by side, on one code kernel per granularity.

The forward per tensor is the core :func:`refquant.quantize.fake_quantize`
with torch's knobs; the per-tensor mask of the backward recomputes the same
float32 code (:func:`per_tensor_codes`). Per channel, forward and backward
share :func:`per_channel_codes`, which includes torch's int64 cast before the
clamp. See :mod:`refquant.interop.torch` for what each kernel computes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.interop.torch._checks import (
    channel_scale,
    channel_zero_point,
    check_axis,
    check_extent,
    check_grad_shape,
    float32_input,
    quant_range,
    reciprocal_is_inf,
    tensor_scale,
    tensor_zero_point,
)
from refquant.quantize import fake_quantize

__all__ = [
    "FakeQuantizeGrads",
    "fake_quantize_per_channel_affine",
    "fake_quantize_per_channel_affine_vjp",
    "fake_quantize_per_tensor_affine",
    "fake_quantize_per_tensor_affine_vjp",
]

_F32 = np.float32
_INT64_LIMIT = np.float32(2.0**63)


class FakeQuantizeGrads(NamedTuple):
    """Gradient of a fake-quantize op with respect to its input."""

    grad_input: NDArray[np.float32]


def fake_quantize_per_tensor_affine(
    input: ArrayLike, scale: float, zero_point: int, quant_min: int, quant_max: int
) -> NDArray[np.float32]:
    """``torch.fake_quantize_per_tensor_affine``: ``(clamp(z + rint(x * (1/s))) - z) * s``.

    Parameters
    ----------
    input : array_like of float32, any shape
        Values (float32 only: torch's float64 kernel mixes double and float
        steps that this module does not mirror).
    scale : float
        Finite and ``> 0``; rounded to float32 first, as torch passes it to
        the kernel, where it must stay ``> 0`` and finite. A subnormal
        float32 scale is mirrored: its reciprocal is inf, so ``x > 0`` gives
        ``(quant_max - z) * s`` and ``x < 0``, ``±0`` and NaN give
        ``(quant_min - z) * s``.
    zero_point : int
        Python or NumPy int (torch's ``int64_t``: a float raises
        ``TypeError``), within ``[quant_min, quant_max]``.
    quant_min, quant_max : int
        ``quant_min < quant_max`` (torch also accepts ``quant_min == quant_max``;
        refquant raises ``ValueError`` there), within ``±2**53``. Argument
        rules: :mod:`refquant.interop.torch._checks`.

    Returns
    -------
    ndarray of float32, shape of ``input``

    Notes
    -----
    .. math:: \\hat x = \\big(\\operatorname{clamp}(z + \\operatorname{rint}(x \\cdot
              \\mathrm{fl}(1/s)),\\, q_{min},\\, q_{max}) - z\\big)\\, s

    with ``z`` added in float32. NaN gives ``(quant_min - z) * s``; ``±inf``
    saturate. Source: ATen ``fake_quantize_tensor_cachemask_kernel`` (CPU).

    Examples
    --------
    >>> x = [0.5, 1.5, 2.5, -0.5, 1000.0, float("nan")]
    >>> fake_quantize_per_tensor_affine(x, 1.0, 3, 0, 255).tolist()
    [0.0, 2.0, 2.0, 0.0, 252.0, -3.0]
    """
    x = float32_input("input", input)
    qmin, qmax = quant_range(quant_min, quant_max)
    s = tensor_scale(scale)
    check_extent(s, qmin, qmax)
    z = tensor_zero_point(zero_point, qmin, qmax)
    if reciprocal_is_inf(s):
        return _saturated_per_tensor(x, s, z, qmin, qmax)
    return fake_quantize(
        x,
        float(s),
        z,
        qmin,
        qmax,
        op_order="multiply",
        zero_point_add="after_rounding",
        nan="quant_min",
    )


def fake_quantize_per_channel_affine(
    input: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    axis: int,
    quant_min: int,
    quant_max: int,
) -> NDArray[np.float32]:
    """``torch.fake_quantize_per_channel_affine``: per-channel fake quantization.

    Parameters
    ----------
    input : array_like of float32, any shape
    scale : array_like of float, shape ``(input.shape[axis],)``
        Rounded to float32.
    zero_point : array_like of int, shape ``(input.shape[axis],)``
        Within ``[quant_min, quant_max]``.
    axis : int
    quant_min, quant_max : int

    Returns
    -------
    ndarray of float32, shape of ``input``

    Raises
    ------
    TypeError, ValueError
        As :func:`fake_quantize_per_tensor_affine`, per channel; ``zero_point``
        must be an integer array (torch's float zero points run another
        kernel); ``scale`` finite and ``> 0`` in float32 (subnormal scales are
        mirrored, as per tensor).

    Notes
    -----
    .. math:: \\hat x = \\big(\\operatorname{clamp}(\\mathrm{int64}(z_c + \\operatorname{rint}(x
              \\cdot \\mathrm{fl}(1/s_c))),\\, q_{min},\\, q_{max}) - z_c\\big)\\, s_c

    The int64 cast comes before the clamp: ``±inf``, NaN and ``|t| >= 2**63``
    become ``INT64_MIN`` on x86-64 and so ``quant_min``. The product is
    evaluated in float64 and rounded to float32. Source: ATen
    ``fake_quant_per_channel_cachemask_cpu``.

    Examples
    --------
    >>> x = [[0.5, 2.5, float("inf")], [0.3, 0.5, 1e9]]
    >>> fake_quantize_per_channel_affine(x, [1.0, 0.25], [0, 2], 0, 0, 255).tolist()
    [[0.0, 2.0, 0.0], [0.25, 0.5, 63.25]]
    """
    x = float32_input("input", input)
    qmin, qmax = quant_range(quant_min, quant_max)
    ax = check_axis(axis, x.ndim)
    s = channel_scale("scale", scale, x, ax)
    check_extent(s, qmin, qmax)
    z = channel_zero_point("zero_point", zero_point, x, ax, qmin, qmax)
    if _core_matches_per_channel(x, s, qmin, qmax):
        return fake_quantize(
            x, s, z, qmin, qmax, axis=ax, op_order="multiply", zero_point_add="after_rounding"
        )
    return _fake_quantize_per_channel_direct(x, s, z, ax, qmin, qmax)


def _saturated_per_tensor(
    x: NDArray[np.float32], s: np.float32, z: int, qmin: int, qmax: int
) -> NDArray[np.float32]:
    """Torch's per-tensor result for a subnormal scale: ``1/s = inf``, so codes are ``±inf`` or NaN.

    ``fmin(fmax(code, qmin), qmax)`` sends ``+inf`` to ``qmax`` and ``-inf``
    and NaN (``0 * inf``, NaN inputs) to ``qmin``; then ``(q - z) * s``, each
    step in float32 as in the kernel.
    """
    with np.errstate(invalid="ignore"):
        q = np.where(x > 0, _F32(qmax), _F32(qmin)).astype(_F32)
    return np.asarray((q - _F32(z)) * s, dtype=_F32)


def _core_matches_per_channel(x: NDArray[np.float32], s: NDArray[np.float32], qmin: int, qmax: int) -> bool:
    """True when no element hits torch's int64 cast of inf/NaN/huge and ``q - z`` is exact in float32.

    Then the core kernel (float32 product) equals torch's (double product rounded to float32).
    """
    if x.size == 0:
        return True
    if np.any(reciprocal_is_inf(s)):
        return False
    lo, hi = np.minimum.reduce(x, axis=None), np.maximum.reduce(x, axis=None)  # NaN propagates
    biggest = max(abs(float(lo)), abs(float(hi))) / float(s.min())
    return bool(np.isfinite(biggest)) and biggest < 2.0**62 and qmax - qmin < 2**24


def _fake_quantize_per_channel_direct(
    x: NDArray[np.float32],
    s: NDArray[np.float32],
    z: NDArray[np.int64],
    ax: int,
    quant_min: int,
    quant_max: int,
) -> NDArray[np.float32]:
    """Torch's per-channel kernel step by step: its codes (int64 cast included), clamp, double product."""
    shape = [1] * x.ndim
    shape[ax] = -1
    q = per_channel_codes(x, s, z, ax).astype(np.float64)
    np.clip(q, np.float64(quant_min), np.float64(quant_max), out=q)
    q -= z.reshape(shape)
    q *= s.astype(np.float64).reshape(shape)
    return q.astype(np.float32)


def per_tensor_codes(
    x: NDArray[np.float32], scale: float | np.float32, zero_point: int
) -> NDArray[np.float32]:
    """``z + rint(x * fl(1/s))`` in float32: the code of torch's per-tensor fake-quant before its clamp."""
    with np.errstate(invalid="ignore", over="ignore"):
        inv = _F32(1.0) / _F32(scale)  # inf for a subnormal scale, as in torch
        q = np.rint(x * inv)
        q += _F32(zero_point)
    return q


def per_channel_codes(
    x: NDArray[np.float32], s: NDArray[np.float32], z: NDArray[Any], ax: int
) -> NDArray[np.float32]:
    """``int64(z_c + rint(x * fl(1/s_c)))`` as torch's per-channel kernel forms it, held in float32.

    ``±inf``, NaN and ``|t| >= 2**63`` become ``INT64_MIN`` (x86-64's
    ``cvttss2si``), so the clamp sends them to ``quant_min`` and the mask to 0.
    """
    shape = [1] * x.ndim
    shape[ax] = -1
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        inv = (_F32(1.0) / s).reshape(shape)
        t = np.rint(x * inv)
        t += z.astype(_F32).reshape(shape)
        return np.where(np.abs(t) < _INT64_LIMIT, t, _F32(-(2.0**63)))


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
    x = float32_input("input", input)
    g = float32_input("grad", grad)
    check_grad_shape(g, x)
    qmin, qmax = quant_range(quant_min, quant_max)
    s = tensor_scale(scale)
    check_extent(s, qmin, qmax)
    z = tensor_zero_point(zero_point, qmin, qmax)
    return FakeQuantizeGrads(_masked(g, _per_tensor_mask(x, s, z, qmin, qmax)))


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
    x = float32_input("input", input)
    g = float32_input("grad", grad)
    check_grad_shape(g, x)
    qmin, qmax = quant_range(quant_min, quant_max)
    ax = check_axis(axis, x.ndim)
    s = channel_scale("scale", scale, x, ax)
    check_extent(s, qmin, qmax)
    z = channel_zero_point("zero_point", zero_point, x, ax, qmin, qmax)
    return FakeQuantizeGrads(_masked(g, _per_channel_mask(x, s, z, ax, qmin, qmax)))


def _per_tensor_mask(
    x: NDArray[np.float32], scale: float | np.float32, zero_point: int, qmin: int, qmax: int
) -> NDArray[Any]:
    """``qmin <= z + rint(x * fl(1/s)) <= qmax`` in float32, bounds too (as torch; NaN -> False)."""
    q = per_tensor_codes(x, scale, zero_point)
    return (q >= _F32(qmin)) & (q <= _F32(qmax))


def _per_channel_mask(
    x: NDArray[np.float32],
    scale: NDArray[np.float32],
    zero_point: NDArray[Any],
    ax: int,
    qmin: int,
    qmax: int,
) -> NDArray[Any]:
    """The per-channel mask, after torch's int64 cast (inf, NaN, |t| >= 2**63 -> INT64_MIN -> False).

    Compared in float64: the int64 code against the exact int64 bounds.
    """
    q = per_channel_codes(x, scale, zero_point, ax).astype(np.float64)
    return (q >= np.float64(qmin)) & (q <= np.float64(qmax))


def _masked(grad: NDArray[np.float32], mask: NDArray[Any]) -> NDArray[np.float32]:
    """``grad * mask`` as a multiplication, so that ``inf * 0`` is NaN exactly as in torch."""
    with np.errstate(invalid="ignore"):
        return (grad * mask.astype(_F32)).astype(_F32, copy=False)
