"""PyTorch's observers: ``calculate_qparams`` of ``MinMaxObserver`` and ``PerChannelMinMaxObserver``.

The range rules (``calculate_qmin_qmax``, ``reduce_range``) and the zero-point
conventions of quint8/qint8/qint32, including torch's int32 wrap-around.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice
from refquant.interop.torch._checks import QDTYPES, real_to_float32, show
from refquant.qparams import qparams_from_range
from refquant.qparams import reduce_range as _halve_range

__all__ = ["calculate_qparams"]

QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric")
F32_EPS = float(np.finfo(np.float32).eps)


def calculate_qparams(
    min_val: ArrayLike,
    max_val: ArrayLike,
    *,
    dtype: str = "quint8",
    qscheme: str = "per_tensor_affine",
    quant_min: int | None = None,
    quant_max: int | None = None,
    reduce_range: bool = False,
    eps: float = F32_EPS,
) -> tuple[NDArray[np.float32], NDArray[Any]]:
    """``MinMaxObserver`` / ``PerChannelMinMaxObserver`` ``calculate_qparams``.

    Parameters
    ----------
    min_val, max_val : array_like of float
        Observed minimum and maximum: 0-d per tensor, 1-D per channel; real
        numbers of any dtype but bool, rounded to float32 (values beyond
        float32's range, NaN and ranges whose scale overflows float32 raise
        ``ValueError``; torch returns ``scale=inf`` for ``[-3e38, 3e38]``). 0-d
        ``inf``/``-inf`` (an observer that saw nothing) give ``([1.0], [0])``,
        as torch's ``check_min_max_valid``; per channel they are an invalid
        range (``ValueError``; torch asserts).
    dtype : {"quint8", "qint8", "qint32"}
    qscheme : {"per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric"}
    quant_min, quant_max : int, optional
        A custom range (both or neither); it must contain 0.
    reduce_range : bool
        Halve the range (``quant_min // 2, quant_max // 2``).
    eps : float
        Smallest scale: a real number, finite and ``> 0`` also in float32.

    Returns
    -------
    scale : ndarray of float32
    zero_point : ndarray of int32 (affine) or int64 (symmetric)
        Shape ``(1,)`` for 0-d inputs, as torch returns.

    Notes
    -----
    Affine: ``s = max((max(x_max, 0) - min(x_min, 0)) / (q_max - q_min), eps)``,
    ``z = clamp(q_min - round(min(x_min, 0) / s), q_min, q_max)``. Symmetric:
    ``s = max(max(-min(x_min, 0), max(x_max, 0)) / ((q_max - q_min) / 2), eps)``,
    ``z = 128`` for quint8 (``(q_min + q_max) // 2`` with a custom range), else 0.
    Every step in float32. For qint32 (affine), ``round(min / s)`` can leave
    the int32 range; torch's float-to-int32 cast then gives ``INT32_MIN`` (the
    x86-64 result of an undefined cast) and ``q_min - INT32_MIN`` wraps to 0,
    which this function reproduces. Source: ``torch.ao.quantization.observer``
    (``_calculate_qparams``) and ``utils.calculate_qmin_qmax``.

    Examples
    --------
    >>> s, z = calculate_qparams(-1.0, 3.0)
    >>> s.tolist(), z.tolist()
    ([0.01568627543747425], [64])
    >>> s, z = calculate_qparams(-1.0, 3.0, dtype="qint8", qscheme="per_tensor_symmetric")
    >>> s.tolist(), z.tolist()
    ([0.0235294122248888], [0])
    """
    check_choice("qscheme", qscheme, QSCHEMES)
    qmin, qmax = _observer_range(dtype, quant_min, quant_max, reduce_range)
    symmetric = qscheme.endswith("symmetric")
    if symmetric and reduce_range and dtype == "quint8":
        raise NotImplementedError("Cannot reduce range for symmetric quantization for quint8")
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise TypeError(f"reduce_range must be a bool, got {show(reduce_range)}")
    lo, hi = _observed("min_val", min_val), _observed("max_val", max_val)
    if lo.ndim == 0 and float(lo) == np.inf and float(hi) == -np.inf:  # an observer that saw nothing
        return np.array([1.0], np.float32), np.array([0], np.int64)
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"eps must be a real number (torch's eps is a float32 tensor), got {eps!r}")
    if (
        isinstance(eps, (float, np.floating))
        and np.isfinite(eps)
        and abs(eps) > float(np.finfo(np.float32).max)
    ):
        raise ValueError(f"eps must be finite in float32 (torch's eps is a float32 tensor), got {eps!r}")
    with np.errstate(over="ignore"):
        spread = np.maximum(hi, np.float32(0)) - np.minimum(lo, np.float32(0))  # torch's float32 difference
    if not symmetric and np.any(np.isinf(spread)):
        raise ValueError(
            f"max_val - min_val overflows float32 for min_val={show(lo)}, max_val={show(hi)} "
            "(torch's scale is then inf; refquant raises)"
        )
    with np.errstate(over="ignore"):  # an overflowing scale raises below
        p = qparams_from_range(lo, hi, qmin, qmax, symmetric=symmetric, eps=eps, dtype=np.float32)
    scale = np.atleast_1d(p.scale)
    if not np.all(np.isfinite(scale)):
        raise ValueError(
            f"the scale of min_val={show(lo)}, max_val={show(hi)} overflows float32 (torch returns "
            f"scale=inf there; refquant raises), got scale {show(scale)}"
        )
    if symmetric:
        custom = quant_min is not None and quant_max is not None
        mid = ((qmin + qmax) // 2 if custom else 128) if dtype == "quint8" else 0
        return scale, np.full(scale.shape, mid, dtype=np.int64)
    return scale, _torch_affine_zero_point(lo, scale.reshape(lo.shape), qmin, qmax)


def _observed(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """An observed minimum or maximum: real, 0-d or 1-D, rounded to float32 (torch's float32 buffers)."""
    arr = real_to_float32(name, value)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be 0-d (per tensor) or 1-D (per channel), got shape {arr.shape}")
    return arr


def _torch_affine_zero_point(
    lo: NDArray[np.float32], scale: NDArray[np.float32], qmin: int, qmax: int
) -> NDArray[np.int32]:
    """``clamp(qmin - round(min(lo, 0) / s).to(int32), qmin, qmax)`` with int32 wrap-around."""
    r = np.rint(np.minimum(lo, np.float32(0)) / scale)
    in_range = (r >= -(2.0**31)) & (r < 2.0**31)
    r_int = np.where(in_range, r, -(2.0**31)).astype(np.int64)
    zp = (qmin - r_int + 2**31) % 2**32 - 2**31  # int32 arithmetic wraps
    return np.atleast_1d(np.clip(zp, qmin, qmax).astype(np.int32))


def _observer_range(
    dtype: str, quant_min: int | None, quant_max: int | None, reduce: bool
) -> tuple[int, int]:
    """``calculate_qmin_qmax`` plus the observer's ``_validate_qmin_qmax``."""
    check_choice("dtype", dtype, tuple(QDTYPES))
    for label, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if v is not None and (isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))):
            raise TypeError(f"{label} must be an int or None, got {show(v)}")
    if (quant_min is None) != (quant_max is None):
        raise ValueError(f"quant_min and quant_max must be given together, got {quant_min}, {quant_max}")
    if quant_min is None or quant_max is None:
        qmin, qmax = QDTYPES[dtype]
        if reduce and dtype != "qint32":
            qmin, qmax = _halve_range(qmin, qmax)
        return qmin, qmax
    if not quant_min <= 0 <= quant_max:
        raise ValueError(
            f"the custom range [quant_min, quant_max] = [{quant_min}, {quant_max}] must include 0"
        )
    if not quant_min < quant_max:
        raise ValueError(f"quant_min must be < quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    limit = 2**32 if dtype == "qint32" else 256
    if quant_max - quant_min + 1 > limit:
        raise ValueError(f"the custom range [{quant_min}, {quant_max}] exceeds {dtype}'s {limit} levels")
    return _halve_range(quant_min, quant_max) if reduce else (quant_min, quant_max)
