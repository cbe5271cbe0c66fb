"""PyTorch's ``quantize_per_tensor`` and ``quantize_per_channel`` (their ``int_repr()`` codes).

Both add the zero point before rounding (fused per tensor for quint8/qint8,
unfused otherwise); see :mod:`refquant.interop.torch`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, as_int_array, normalize_axis
from refquant.interop.torch._checks import channel_param, check_qrange, float32_input, qdtype
from refquant.quantize import quantize

__all__ = ["quantize_per_channel", "quantize_per_tensor"]


def quantize_per_tensor(input: ArrayLike, scale: float, zero_point: int, dtype: str) -> NDArray[Any]:
    """``torch.quantize_per_tensor(...).int_repr()``: integer codes.

    Parameters
    ----------
    input : array_like of float32, any shape
    scale : float
        Rounded to float32.
    zero_point : int
        Within the dtype's range.
    dtype : {"quint8", "qint8", "qint32"}

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
    check_qrange(qmin, qmax, zero_point)
    wide = dtype == "qint32"
    return quantize(
        x,
        float(scale),
        int(zero_point),
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
        Rounded to float32 (torch stores them as float64 and casts).
    zero_points : array_like of int, shape ``(input.shape[axis],)``
    axis : int
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
    ax = normalize_axis("axis", axis, x.ndim)
    s = channel_param("scales", as_float_array("scales", scales), x, ax)
    z = channel_param("zero_points", as_int_array("zero_points", zero_points), x, ax)
    check_qrange(qmin, qmax, z)
    if dtype != "qint32" and np.isnan(x).any():
        # NaN -> code 0: pass it through the zero-point policy with z = 0.
        finite_or_inf = np.nan_to_num(x, nan=0.0, posinf=np.inf, neginf=-np.inf)  # +-inf must stay inf
        codes = quantize_per_channel(finite_or_inf, s, z, ax, dtype)
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
