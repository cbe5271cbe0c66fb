"""PyTorch's ``quantize_per_tensor`` and ``quantize_per_channel`` (their ``int_repr()`` codes).

Both add the zero point before rounding (fused per tensor for quint8/qint8,
unfused otherwise); see :mod:`refquant.interop.torch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.interop.torch._checks import (
    channel_scale,
    channel_zero_point,
    check_axis,
    float32_input,
    qdtype,
    reciprocal_is_inf,
    saturated,
    tensor_scale,
    tensor_zero_point,
)
from refquant.quantize import quantize

__all__ = ["quantize_per_channel", "quantize_per_tensor"]


def quantize_per_tensor(input: ArrayLike, scale: float, zero_point: int, dtype: str) -> NDArray[Any]:
    """``torch.quantize_per_tensor(...).int_repr()``: integer codes.

    Parameters
    ----------
    input : array_like of float32, any shape
    scale : float
        Finite and ``> 0``, also once rounded to float32. A subnormal
        float32 scale is mirrored: ``1/s`` is inf, so ``x > 0`` gives
        ``quant_max``, ``x < 0`` ``quant_min`` and ``±0`` the NaN code.
    zero_point : int
        Python or NumPy int (torch's ``int64_t``; a float raises
        ``TypeError``), within the dtype's range.
    dtype : {"quint8", "qint8", "qint32"}
        Argument rules: :mod:`refquant.interop.torch._checks`.

    Returns
    -------
    ndarray of uint8, int8 or int32, shape of ``input``

    Notes
    -----
    .. math:: q = \\operatorname{clamp}(\\operatorname{rint}(\\mathrm{fma}(x, \\mathrm{fl}(1/s), z)),\\,
              q_{min},\\, q_{max}) \\quad \\text{(quint8, qint8)}

    and ``clamp(rint(fl(fl(x * fl(1/s)) + z)))`` (unfused) for qint32. NaN
    gives ``quant_max`` for quint8/qint8 and ``INT32_MIN`` for qint32.
    Source: ATen ``quantize_tensor_per_tensor_affine_cpu`` (module
    docstring).

    Examples
    --------
    >>> quantize_per_tensor([0.5, 1.5, 2.5, -1e10, float("inf")], 1.0, 3, "quint8").tolist()
    [4, 4, 6, 0, 255]
    """
    qmin, qmax, out = qdtype(dtype)
    x = float32_input("input", input)
    s = tensor_scale(scale)
    z = tensor_zero_point(zero_point, qmin, qmax)
    if reciprocal_is_inf(s):  # torch's codes of x * inf; the scale no longer matters
        x, s = saturated(x), np.float32(1.0)
    wide = dtype == "qint32"
    return quantize(
        x,
        float(s),
        z,
        qmin,
        qmax,
        op_order="multiply",
        zero_point_add="before_rounding" if wide else "fused",
        nan="quant_min" if wide else "quant_max",
        out_dtype=out,
    )


def quantize_per_channel(
    input: ArrayLike, scales: ArrayLike, zero_points: ArrayLike, axis: int, dtype: str
) -> NDArray[Any]:
    """``torch.quantize_per_channel(...).int_repr()``: per-channel integer codes.

    Parameters
    ----------
    input : array_like of float32, any shape
    scales : array_like of float, shape ``(input.shape[axis],)``
        Finite and ``> 0``, also once rounded to float32 (torch stores them
        as float64 and casts). Subnormal float32 scales are mirrored as per
        tensor.
    zero_points : array_like of int, shape ``(input.shape[axis],)``
        An integer array (fractional float zero points are accepted by
        torch and not mirrored).
    axis : int
        In ``[-ndim, ndim)`` (torch rejects negative axes).
    dtype : {"quint8", "qint8", "qint32"}

    Returns
    -------
    ndarray of uint8, int8 or int32, shape of ``input``

    Notes
    -----
    .. math:: q = \\operatorname{clamp}(\\operatorname{rint}(\\mathrm{fl}(\\mathrm{fl}(x \\cdot
              \\mathrm{fl}(1/s_c)) + z_c)),\\, q_{min},\\, q_{max})

    with ``z_c`` added in float32 before rounding; NaN gives 0 for
    quint8/qint8 and ``INT32_MIN`` for qint32 (the x86-64 result of torch's
    undefined cast). Source: ATen ``quantize_tensor_per_channel_impl`` ->
    ``quantize_val`` -> fbgemm ``Quantize``.

    Examples
    --------
    >>> quantize_per_channel([[0.5, 1.5], [0.5, 1.5]], [1.0, 0.5], [0, 10], 0, "qint8").tolist()
    [[0, 2], [11, 13]]
    """
    qmin, qmax, out = qdtype(dtype)
    x = float32_input("input", input)
    ax = check_axis(axis, x.ndim)
    s = channel_scale("scales", scales, x, ax)
    z = channel_zero_point("zero_points", zero_points, x, ax, qmin, qmax)
    sub = reciprocal_is_inf(s)
    if np.any(sub):  # torch's codes of x * inf in those channels
        shape = [1] * x.ndim
        shape[ax] = -1
        x = np.where(sub.reshape(shape), saturated(x), x)
        s = np.where(sub, np.float32(1.0), s)
    return _quantize_per_channel(x, s, z, ax, dtype, qmin, qmax, out)


def _quantize_per_channel(
    x: NDArray[np.float32],
    s: NDArray[np.float32],
    z: NDArray[np.int64],
    ax: int,
    dtype: str,
    qmin: int,
    qmax: int,
    out: np.dtype[Any],
) -> NDArray[Any]:
    """The checked op: NaN gives code 0 for quint8/qint8, the rest is the core's ``quantize``."""
    if dtype != "qint32" and np.isnan(x).any():
        # NaN -> code 0: pass it through the zero-point policy with z = 0.
        finite_or_inf = np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf)  # +-inf must stay inf
        codes = _quantize_per_channel(finite_or_inf, s, z, ax, dtype, qmin, qmax, out)
        codes[np.isnan(x)] = 0
        return codes
    return quantize(
        x,
        s,
        z,
        qmin,
        qmax,
        axis=ax,
        op_order="multiply",
        zero_point_add="before_rounding",
        nan="quant_min",
        out_dtype=out,
    )
