"""Argument checks shared by the PyTorch ops of :mod:`refquant.interop.torch` (torch's conventions).

Each check raises ``TypeError`` (wrong kind of value, as torch's argument
parser does) or ``ValueError`` (a value torch would reject, or one refquant
rejects where torch returns garbage), with a message naming the argument and
showing the value. The rules, for every op of the package:

* **Float arrays** (``input``, ``grad``): an ``ndarray`` or NumPy scalar must be
  float32 (torch's float32 kernels are mirrored; other dtypes raise, where
  torch would either raise or run another kernel). Python scalars and
  (nested) lists of real numbers are converted as
  ``torch.tensor(value, dtype=torch.float32)``; a finite value beyond
  float32's range (which would become inf) raises.
* **scale** (per tensor): a real number (Python, NumPy, or a 0-d array), as
  torch's ``double`` argument; not a bool, a string, a list or a 1-element
  array. Finite and ``> 0``, also once rounded to float32 (``1e-50`` and
  ``1e39`` raise). A *subnormal* float32 scale is accepted and mirrored:
  ``1.0f / scale`` is inf, so every ``x != 0`` saturates and ``x = 0``
  (``0 * inf = NaN``) takes the op's NaN result.
* **zero_point** (per tensor): an int (Python, NumPy, or a 0-d integer array),
  as torch's ``int64_t``; a float, even ``3.0``, raises ``TypeError`` as in
  torch. Per channel: an integer array (torch's float zero points select other
  kernels, not mirrored).
* **quant_min, quant_max**: ints (not bools, not floats), ``quant_min <
  quant_max`` (torch also accepts equality), within ``[-2**53, 2**53]`` and at
  most ``2**53`` apart (torch: any ``int64_t``).
* **scale and range** (fake-quantize ops): ``(quant_max - quant_min) * scale``
  must be finite in float32, so that no output overflows (torch returns inf).
* **axis**: an int in ``[-ndim, ndim)``; negative axes count from the end
  (torch rejects them: an extension). Out of range raises
  :class:`numpy.exceptions.AxisError` (a ``ValueError`` and an ``IndexError``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

QDTYPES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-(2**31), 2**31 - 1)}
_F32 = np.float32
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_RANGE_LIMIT = 2**53


def show(value: Any) -> str:
    """A short text of ``value`` for messages: ``repr`` of a scalar, the first values of an array."""
    if isinstance(value, np.ndarray):
        flat = value.ravel()
        if value.ndim == 0:
            return f"{value[()]} (a 0-d {value.dtype} array)"
        if (
            value.dtype.kind == "f"
        ):  # numpy's shortest repr of each value in its own dtype: 3e+38, not 3.0000000054977558e+38
            text = "[" + ", ".join(str(v) for v in flat[:5]) + "]"
        else:
            text = repr(flat[:5].tolist())
        text = text if flat.size <= 5 else text[:-1] + ", ...]"
        return f"{text} (shape {value.shape}, dtype {value.dtype})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _shown(value: Any, arr: NDArray[Any]) -> str:
    """``value`` as the caller passed it (``'3'``, ``[0.5]``), or the array when it was one."""
    return show(arr) if isinstance(value, np.ndarray) else show(value)


def _asarray(name: str, value: Any) -> NDArray[Any]:
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise TypeError(f"{name} must be an array of real numbers, got {show(value)} ({e})") from None


def float32_input(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """``value`` as float32: arrays must be float32; Python scalars and lists are converted (module rules)."""
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, float):
        arr = np.asarray(value)
        if arr.dtype != _F32:
            raise TypeError(
                f"{name} must be float32 (torch's float32 kernels are mirrored), got dtype {arr.dtype}"
            )
        return arr
    return real_to_float32(name, value)


def real_to_float32(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """Real numbers or a real (not bool) array rounded to float32; ``ValueError`` where that makes inf."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(
            f"{name} must be a float32 array or real numbers, got {show(value)} ({type(value).__name__})"
        )
    arr = _asarray(name, value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}: {_shown(value, arr)}")
    with np.errstate(over="ignore"):
        out = arr.astype(_F32)
    overflow = np.isinf(out) & ~np.isinf(arr)
    if np.any(overflow):
        raise ValueError(
            f"{name} holds {show(arr[overflow])}, beyond float32's range (it would become inf in float32)"
        )
    return out


def check_grad_shape(grad: NDArray[Any], x: NDArray[Any]) -> None:
    """The cotangent ``grad`` must have the shape of ``input``."""
    if grad.shape != x.shape:
        raise ValueError(f"grad must have the shape of input {x.shape}, got shape {grad.shape}")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _real_scalar(name: str, value: Any, what: str) -> float:
    """A real number (Python, NumPy scalar or 0-d array; not a bool) as a Python float."""
    v = value
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"{name} must be {what}, got {show(value)}")
    try:
        return float(v)
    except OverflowError:  # a Python int beyond float64
        return float("inf") if v > 0 else float("-inf")  # type: ignore[operator]


def to_float32(name: str, v: float) -> np.float32:
    """``float32(v)`` for a finite ``v``; ``ValueError`` if it overflows to inf there."""
    with np.errstate(over="ignore"):
        f = _F32(v)
    if np.isinf(f):
        raise ValueError(f"{name}={v!r} is beyond float32's range (torch computes in float32)")
    return f


def tensor_scale(value: Any, name: str = "scale") -> np.float32:
    """The per-tensor scale (torch's ``double``), checked and rounded to float32."""
    v = _real_scalar(name, value, "a real number (torch's double scale)")
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be finite and > 0, got {v!r}")
    with np.errstate(over="ignore", under="ignore"):
        s = _F32(v)
    if s == 0 or np.isinf(s):
        raise ValueError(
            f"{name} must be finite and > 0 also in float32 (torch's kernels take it as a float), "
            f"got {v!r}, which rounds to {float(s)!r}"
        )
    return s


def tensor_zero_point(value: Any, qmin: int, qmax: int, name: str = "zero_point") -> int:
    """The per-tensor zero point (torch's ``int64_t``), within ``[qmin, qmax]``."""
    v = value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value
    if not _is_int(v):
        raise TypeError(f"{name} must be an int (torch's int64_t; floats are rejected), got {show(value)}")
    z = int(v)
    if not _INT64_MIN <= z <= _INT64_MAX:
        raise ValueError(f"{name} must fit in int64 (torch's int64_t), got {z}")
    if not qmin <= z <= qmax:
        raise ValueError(f"{name} must lie in [quant_min, quant_max] = [{qmin}, {qmax}], got {z}")
    return z


def quant_range(quant_min: Any, quant_max: Any, *, zero_in_range: bool = False) -> tuple[int, int]:
    """``quant_min < quant_max``, ints within ``±2**53`` and at most ``2**53`` apart."""
    for label, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        if not _is_int(v):
            raise TypeError(f"{label} must be an int (torch's int64_t), got {show(v)}")
    lo, hi = int(quant_min), int(quant_max)
    if not lo < hi:
        raise ValueError(
            f"quant_min must be < quant_max (torch also accepts equality; refquant does not), "
            f"got quant_min={lo}, quant_max={hi}"
        )
    if lo < -_RANGE_LIMIT or hi > _RANGE_LIMIT or hi - lo > _RANGE_LIMIT:
        raise ValueError(
            f"quant_min and quant_max must lie in [-2**53, 2**53] and at most 2**53 apart "
            f"(refquant's verified range; torch takes any int64), got quant_min={lo}, quant_max={hi}"
        )
    if zero_in_range and not lo <= 0 <= hi:
        raise ValueError(
            f"the range [quant_min, quant_max] = [{lo}, {hi}] must include 0 "
            "(torch's learnable backward checks it; the forward here too)"
        )
    return lo, hi


def check_extent(scale: Any, qmin: int, qmax: int, name: str = "scale") -> None:
    """``(quant_max - quant_min) * scale`` must be finite in float32: fake-quantized values stay finite.

    A bound on ``|q - z| * s`` for every zero point in the range, so the check
    does not depend on the data (torch returns ``±inf`` where the product
    overflows; refquant raises, in the forward and the vjp alike).
    """
    s = np.asarray(scale, dtype=np.float64)
    with np.errstate(over="ignore"):
        extent = (np.float64(qmax - qmin) * s).astype(_F32)
    bad = np.isinf(extent)
    if np.any(bad):
        shown = str(_F32(s)) if s.ndim == 0 else show(np.asarray(scale)[bad])
        raise ValueError(
            f"(quant_max - quant_min) * {name} must be finite in float32 (torch returns inf where "
            f"(q - zero_point) * {name} overflows; refquant raises), got {name}={shown} with "
            f"quant_min={qmin}, quant_max={qmax}"
        )


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """A non-negative axis; ``TypeError`` for a non-int, ``AxisError`` (a ``ValueError``) out of range."""
    if not _is_int(axis):
        raise TypeError(f"{name} must be an int, got {show(axis)}")
    if not -ndim <= int(axis) < ndim:
        raise np.exceptions.AxisError(
            f"{name}={int(axis)} is out of range for an input of {ndim} dimensions (valid: [{-ndim}, {ndim}))"
        )
    return int(axis) % ndim


def _channel_shape(name: str, arr: NDArray[Any], x: NDArray[Any], axis: int, value: Any) -> None:
    if arr.shape != (x.shape[axis],):
        raise ValueError(
            f"{name} must have shape ({x.shape[axis]},) for axis={axis} of input shape {x.shape}, "
            f"got {show(value) if arr.ndim == 0 else f'shape {arr.shape}'}"
        )


def channel_scale(name: str, value: Any, x: NDArray[Any], axis: int) -> NDArray[np.float32]:
    """Per-channel scales (real, not bool), shape ``(C,)``, finite and > 0 also in float32."""
    arr = _asarray(name, value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, got {_shown(value, arr)} of dtype {arr.dtype}")
    _channel_shape(name, arr, x, axis, value)
    wide = arr.astype(np.float64)
    bad = ~(np.isfinite(wide) & (wide > 0))
    if np.any(bad):
        raise ValueError(f"{name} must be finite and > 0, got {show(arr[bad])}")
    with np.errstate(over="ignore", under="ignore"):
        s = wide.astype(_F32)
    bad = (s == 0) | np.isinf(s)
    if np.any(bad):
        raise ValueError(f"{name} must be finite and > 0 also in float32, got {show(arr[bad])}")
    return s


def channel_zero_point(
    name: str, value: Any, x: NDArray[Any], axis: int, qmin: int, qmax: int
) -> NDArray[np.int64]:
    """Per-channel integer zero points, shape ``(C,)``, within ``[qmin, qmax]``."""
    arr = _asarray(name, value)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be an integer array (torch's float zero points select another kernel, "
            f"not mirrored), got {_shown(value, arr)} of dtype {arr.dtype}"
        )
    _channel_shape(name, arr, x, axis, value)
    if arr.size and (arr.min() < qmin or arr.max() > qmax):
        bad = arr[(arr < qmin) | (arr > qmax)]
        raise ValueError(f"{name} must lie in [quant_min, quant_max] = [{qmin}, {qmax}], got {show(bad)}")
    return arr.astype(np.int64)


def one_value(name: str, value: Any, *, positive: bool) -> np.float32:
    """A one-element float parameter (a real scalar, a 0-d or 1-element array) as float32, finite.

    ``positive``: also ``> 0`` once rounded to float32 (a scale).
    """
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number or a 1-element array, got {show(value)}")
    arr = _asarray(name, value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real number or a 1-element real array, got {show(value)}")
    if arr.size != 1:
        raise ValueError(f"{name} must have one element, got shape {arr.shape}")
    v = float(arr.reshape(()))
    if not np.isfinite(v) or (positive and not v > 0):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''}, got {v!r}")
    with np.errstate(over="ignore", under="ignore"):
        f = _F32(v)
    if np.isinf(f) or (positive and f == 0):
        raise ValueError(f"{name} must be finite{' and > 0' if positive else ''} also in float32, got {v!r}")
    return f


def channel_values(
    name: str, value: Any, x: NDArray[Any], axis: int, *, positive: bool
) -> NDArray[np.float32]:
    """Per-channel float parameters (learnable scale or zero point), shape ``(C,)``, finite in float32."""
    if positive:
        return channel_scale(name, value, x, axis)
    arr = _asarray(name, value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, got {show(value)}")
    _channel_shape(name, arr, x, axis, value)
    wide = arr.astype(np.float64)
    with np.errstate(over="ignore"):
        f = wide.astype(_F32)
    bad = ~np.isfinite(f)
    if np.any(bad):
        raise ValueError(f"{name} must be finite (also in float32), got {show(arr[bad])}")
    return f


def grad_factor_value(value: Any) -> np.float32:
    """``grad_factor``: a finite real number (torch's double), rounded to float32."""
    v = _real_scalar("grad_factor", value, "a real number (torch's double)")
    if not np.isfinite(v):
        raise ValueError(f"grad_factor must be finite, got {v!r}")
    return to_float32("grad_factor", v)


def qdtype(dtype: Any) -> tuple[int, int, np.dtype[Any]]:
    """``(quant_min, quant_max, storage dtype)`` of torch's quantized dtype name."""
    if not isinstance(dtype, str) or dtype not in QDTYPES:
        raise ValueError(f"dtype must be one of {tuple(QDTYPES)}, got {show(dtype)}")
    qmin, qmax = QDTYPES[dtype]
    return qmin, qmax, np.dtype({"quint8": np.uint8, "qint8": np.int8, "qint32": np.int32}[dtype])


def saturated(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """What ``x * inf`` is: ``+inf`` for ``x > 0``, ``-inf`` for ``x < 0``, NaN for ``±0`` and NaN.

    The codes of a subnormal scale, whose float32 reciprocal is inf.
    """
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, _F32(np.inf), np.where(x < 0, _F32(-np.inf), _F32(np.nan))).astype(_F32)


def reciprocal_is_inf(s: Any) -> Any:
    """Where ``1.0f / s`` overflows (``s`` subnormal in float32)."""
    with np.errstate(over="ignore", divide="ignore"):
        return np.isinf(_F32(1.0) / np.asarray(s, dtype=_F32))
