"""PyTorch's affine quantization ops on CPU (x86-64), bit-identical, in NumPy.

Argument names and order follow ``torch``; arrays in, arrays out; torch is
never imported. What the kernels compute (PyTorch 2.13, read from ATen's
``QuantizedOpKernels.cpp``, fbgemm's ``QuantUtils``, and checked against torch
on millions of tie-dense float32 inputs in ``tests/conformance``):

* All of them compute ``x * inv_scale`` with ``inv_scale = 1.0f / scale``
  rounded to float32 (never ``x / scale``), round half to even
  (``std::nearbyint``, or ``_mm256_cvtps_epi32``), and add the zero point.
* **fake-quant, per tensor** (``_fake_quantize_tensor_helper``): adds the
  zero point *in float32* (``z + nearbyint(x * inv)``), clamps that float
  with ``fmin``/``fmax`` (so ``+inf`` saturates and NaN becomes
  ``quant_min``: ``fmax(NaN, quant_min) = quant_min``), then returns
  ``float((q - z)) * scale``.
* **fake-quant, per channel** (``fake_quant_per_channel_cachemask_cpu``):
  casts ``z + nearbyint(x * inv)`` to int64 *before* clamping. Out-of-range
  casts (``±inf``, NaN, ``|t| >= 2**63``) are undefined behaviour in C++;
  x86-64's ``cvttss2si`` yields ``INT64_MIN``, which clamps to ``quant_min``,
  so ``+inf`` gives ``quant_min`` here but ``quant_max`` per tensor. The
  product ``(q - z) * scale`` is evaluated in double and rounded to float32.
* **quantize, per tensor**, quint8/qint8: the zero point is added *before*
  rounding, with a fused multiply-add:
  ``cvtps_epi32(min(fma(x, inv, z), 2147483520.0f))`` then an integer clamp
  (the shape of fbgemm's ``QuantizeAvx2`` LEGACY branch). NaN gives
  ``quant_max`` (``minps`` returns its second operand).
* **quantize, per tensor**, qint32, and **quantize, per channel**, all
  dtypes: ``nearbyint(x * inv + z)`` with an *unfused* float32 multiply and
  add (two roundings), then a clamp in double. NaN gives 0 for quint8/qint8
  and ``INT32_MIN`` for qint32: the x86-64 result of casting NaN, which C++
  leaves undefined.

The fused/unfused/after-rounding split was established empirically on torch
2.13 (x86-64, AVX512 capability): on ~1.2 million tie-dense inputs each
variant matches its op with zero mismatches and the other variants mismatch
0.05-0.6% of them (``tests/conformance/test_torch_conformance.py``).

So fake-quant and quantize do **not** agree: both ``quantize`` ops round
``x/s + z`` (fused per tensor, unfused per channel) while fake-quant rounds
``x/s`` and adds ``z`` after, so the codes differ at ties when ``z`` is odd
(``x/s = -76.5, z = 77``: code 0 from ``quantize_per_tensor`` and
``quantize_per_channel``, 1 from fake-quant); they also differ on ``±inf``
(per channel) and NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, as_int_array, check_choice, normalize_axis

# The backward passes and the learnable ops live in torch_grad (this module would
# pass 600 lines); they are part of this module's public API.
from refquant.interop.torch_grad import (
    FakeQuantizeGrads,
    LearnableFakeQuantizeGrads,
    fake_quantize_per_channel_affine_vjp,
    fake_quantize_per_tensor_affine_vjp,
    learnable_fake_quantize_per_channel_affine,
    learnable_fake_quantize_per_channel_affine_vjp,
    learnable_fake_quantize_per_tensor_affine,
    learnable_fake_quantize_per_tensor_affine_vjp,
)

# The pruning masks (torch.nn.utils.prune) live in torch_prune; part of this module's public API.
from refquant.interop.torch_prune import (
    global_unstructured_masks,
    l1_unstructured_mask,
    ln_structured_mask,
)
from refquant.qparams import qparams_from_range
from refquant.qparams import reduce_range as _halve_range
from refquant.quantize import fake_quantize, quantize

__all__ = [
    "FakeQuantizeGrads",
    "LearnableFakeQuantizeGrads",
    "calculate_qparams",
    "fake_quantize_per_channel_affine",
    "fake_quantize_per_channel_affine_vjp",
    "fake_quantize_per_tensor_affine",
    "fake_quantize_per_tensor_affine_vjp",
    "global_unstructured_masks",
    "l1_unstructured_mask",
    "learnable_fake_quantize_per_channel_affine",
    "learnable_fake_quantize_per_channel_affine_vjp",
    "learnable_fake_quantize_per_tensor_affine",
    "learnable_fake_quantize_per_tensor_affine_vjp",
    "ln_structured_mask",
    "quantize_per_channel",
    "quantize_per_tensor",
]

QDTYPES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-(2**31), 2**31 - 1)}
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric")
F32_EPS = float(np.finfo(np.float32).eps)
_INT64_LIMIT = np.float32(2.0**63)


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
        Rounded to float32 first, as torch passes it to the kernel.
    zero_point : int
        Within ``[quant_min, quant_max]``.
    quant_min, quant_max : int
        ``quant_min < quant_max`` (torch also accepts ``quant_min == quant_max``;
        refquant raises ``ValueError`` there).

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
    x = _float32_input(input)
    _check_torch_range(quant_min, quant_max, zero_point)
    if isinstance(zero_point, bool) or not isinstance(zero_point, (int, np.integer)):
        raise TypeError(f"zero_point must be an int (torch's int64_t), got {zero_point!r}")
    return fake_quantize(
        x,
        float(scale),
        int(zero_point),
        quant_min,
        quant_max,
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
    x = _float32_input(input)
    ax = normalize_axis("axis", axis, x.ndim)
    s = _channel_param("scale", as_float_array("scale", scale), x, ax).astype(np.float32)
    z = _channel_param("zero_point", as_int_array("zero_point", zero_point), x, ax)
    _check_torch_range(quant_min, quant_max, z)
    if np.any(~np.isfinite(s) | (s <= 0)):
        raise ValueError(f"scale must be finite and > 0, got {s}")
    if _core_matches_per_channel(x, s, quant_min, quant_max):
        return fake_quantize(
            x, s, z, quant_min, quant_max, axis=ax, op_order="multiply", zero_point_add="after_rounding"
        )
    return _fake_quantize_per_channel_direct(x, s, z, ax, quant_min, quant_max)


def _core_matches_per_channel(x: NDArray[np.float32], s: NDArray[np.float32], qmin: int, qmax: int) -> bool:
    """True when no element hits torch's int64 cast of inf/NaN/huge and ``q - z`` is exact in float32.

    Then the core kernel (float32 product) equals torch's (double product rounded to float32).
    """
    if x.size == 0:
        return True
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
    """Torch's per-channel kernel step by step, including its int64 cast and double product."""
    shape = [1] * x.ndim
    shape[ax] = -1
    inv = (np.float32(1.0) / s).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.rint(x * inv)
        t += z.astype(np.float32).reshape(shape)
        q = np.where(np.abs(t) < _INT64_LIMIT, t, np.float32(-(2.0**63))).astype(np.float64)
    np.clip(q, quant_min, quant_max, out=q)
    q -= z.reshape(shape)
    q *= s.astype(np.float64).reshape(shape)
    return q.astype(np.float32)


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
    qmin, qmax, out = _qdtype(dtype)
    x = _float32_input(input)
    _check_torch_range(qmin, qmax, zero_point)
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
    qmin, qmax, out = _qdtype(dtype)
    x = _float32_input(input)
    ax = normalize_axis("axis", axis, x.ndim)
    s = _channel_param("scales", as_float_array("scales", scales), x, ax)
    z = _channel_param("zero_points", as_int_array("zero_points", zero_points), x, ax)
    _check_torch_range(qmin, qmax, z)
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
        Observed minimum and maximum: 0-d per tensor, 1-D per channel. 0-d
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
        Smallest scale.

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
    lo = np.asarray(min_val, dtype=np.float32)
    hi = np.asarray(max_val, dtype=np.float32)
    if lo.ndim == 0 and float(lo) == np.inf and float(hi) == -np.inf:  # an observer that saw nothing
        return np.array([1.0], np.float32), np.array([0], np.int64)
    p = qparams_from_range(lo, hi, qmin, qmax, symmetric=symmetric, eps=eps, dtype=np.float32)
    scale = np.atleast_1d(p.scale)
    if symmetric:
        custom = quant_min is not None and quant_max is not None
        mid = ((qmin + qmax) // 2 if custom else 128) if dtype == "quint8" else 0
        return scale, np.full(scale.shape, mid, dtype=np.int64)
    return scale, _torch_affine_zero_point(lo, scale.reshape(lo.shape), qmin, qmax)


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
    if (quant_min is None) != (quant_max is None):
        raise ValueError(f"quant_min and quant_max must be given together, got {quant_min}, {quant_max}")
    if quant_min is None or quant_max is None:
        qmin, qmax = QDTYPES[dtype]
        if reduce and dtype != "qint32":
            qmin, qmax = _halve_range(qmin, qmax)
        return qmin, qmax
    if not quant_min <= 0 <= quant_max:
        raise ValueError(f"the custom range [{quant_min}, {quant_max}] must include 0")
    if not quant_min < quant_max:
        raise ValueError(f"quant_min must be < quant_max, got {quant_min}, {quant_max}")
    limit = 2**32 if dtype == "qint32" else 256
    if quant_max - quant_min + 1 > limit:
        raise ValueError(f"the custom range [{quant_min}, {quant_max}] exceeds {dtype}'s {limit} levels")
    return _halve_range(quant_min, quant_max) if reduce else (quant_min, quant_max)


def _qdtype(dtype: str) -> tuple[int, int, np.dtype[Any]]:
    check_choice("dtype", dtype, tuple(QDTYPES))
    qmin, qmax = QDTYPES[dtype]
    return qmin, qmax, np.dtype({"quint8": np.uint8, "qint8": np.int8, "qint32": np.int32}[dtype])


def _float32_input(value: ArrayLike) -> NDArray[np.float32]:
    """Arrays must be float32; Python scalars and lists become float32, as in ``torch.tensor``."""
    if not isinstance(value, np.ndarray):
        value = np.asarray(value, dtype=np.float32)
    x = value
    if x.dtype.kind == "f" and x.dtype != np.float32:
        raise TypeError(f"input must be float32 (torch's float32 kernel is mirrored), got {x.dtype}")
    if x.dtype.kind != "f":
        return np.asarray(as_float_array("input", x), dtype=np.float32)
    return x


def _check_torch_range(quant_min: int, quant_max: int, zero_point: ArrayLike) -> None:
    if not quant_min <= quant_max:
        raise ValueError(f"quant_min must be <= quant_max, got quant_min={quant_min}, quant_max={quant_max}")
    z = np.asarray(zero_point)
    if z.size and (z.min() < quant_min or z.max() > quant_max):
        raise ValueError(f"zero_point must be between quant_min and quant_max, got {z}")


def _channel_param(name: str, value: NDArray[Any], x: NDArray[Any], axis: int) -> NDArray[Any]:
    if value.shape != (x.shape[axis],):
        raise ValueError(f"{name} must have shape ({x.shape[axis]},) for axis={axis}, got {value.shape}")
    return value
