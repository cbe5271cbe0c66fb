"""Argument checks shared by the PyTorch ops of :mod:`refquant.interop.torch` (torch's conventions)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice

QDTYPES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-(2**31), 2**31 - 1)}
_F32 = np.float32


def float32_input(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """``value`` as float32: float arrays must be float32; scalars, lists and integer arrays are converted.

    torch's float32 kernels are mirrored; a float16/float64 array raises
    ``TypeError`` rather than being rounded silently.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        if value.dtype != np.float32:
            raise TypeError(
                f"{name} must be float32 (torch's float32 kernels are mirrored), got {value.dtype}"
            )
        return value
    return np.asarray(as_float_array(name, value), dtype=_F32)


def check_qrange(quant_min: int, quant_max: int, zero_point: ArrayLike | None = None) -> None:
    """``quant_min <= quant_max`` and, when given, every zero point within them."""
    if not quant_min <= quant_max:
        raise ValueError(f"quant_min must be <= quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    if zero_point is not None:
        z = np.asarray(zero_point)
        if z.size and (z.min() < quant_min or z.max() > quant_max):
            raise ValueError(f"zero_point must be between quant_min and quant_max, got {z}")


def check_grad_shape(grad: NDArray[Any], x: NDArray[Any]) -> None:
    """The cotangent ``grad`` must have the shape of ``input``."""
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of input {x.shape}, got {grad.shape}")


def channel_param(name: str, value: NDArray[Any], x: NDArray[Any], axis: int) -> NDArray[Any]:
    """A per-channel parameter must have shape ``(x.shape[axis],)``."""
    if value.shape != (x.shape[axis],):
        raise ValueError(f"{name} must have shape ({x.shape[axis]},) for axis={axis}, got {value.shape}")
    return value


def one_value(name: str, value: ArrayLike) -> np.float32:
    """A one-element parameter (a float or a 1-element array, as torch's tensors) as a float32 scalar."""
    arr = as_float_array(name, value)
    if arr.size != 1:
        raise ValueError(f"{name} must have one element, got shape {arr.shape}")
    return _F32(arr.reshape(()))


def check_scale(s: Any) -> Any:
    """The scale (rounded to float32) must be finite and > 0, as the forward ops require."""
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"scale must be finite and > 0, got {s}")
    return s


def check_finite(name: str, value: Any) -> Any:
    """``ValueError`` naming ``name`` unless every value is finite."""
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def qdtype(dtype: str) -> tuple[int, int, np.dtype[Any]]:
    """``(quant_min, quant_max, storage dtype)`` of torch's quantized dtype name."""
    check_choice("dtype", dtype, tuple(QDTYPES))
    qmin, qmax = QDTYPES[dtype]
    return qmin, qmax, np.dtype({"quint8": np.uint8, "qint8": np.int8, "qint32": np.int32}[dtype])
