"""Affine integer quantization: quantize, dequantize, fake_quantize.

.. math::

    q = \\operatorname{clip}\\big(R(x / s) + z,\\; q_{min},\\; q_{max}\\big), \\qquad
    \\hat x = (q - z)\\, s

with per-tensor, per-axis or per-block ``s`` and ``z`` (one helper,
:mod:`refquant._granularity`, for all three). Every semantic choice is a
keyword argument:

* ``rounding`` -- the mode ``R`` (:mod:`refquant.rounding`), default half-to-even;
* ``op_order`` -- ``"divide"`` computes ``x / s`` (ONNX spec, ORT, TFLite);
  ``"multiply"`` computes ``x * (1/s)`` with the reciprocal rounded to the
  compute dtype first (PyTorch, fbgemm). They differ by one code on some
  inputs near ties: ``0.273939937 * (1/0.00214854861)`` is exactly 127.5 in
  float32, ``0.273939937 / 0.00214854861`` is 127.49999;
* ``compute_dtype`` -- dtype of ``x / s`` and of the rounding; default the
  input's float dtype (float32 stays float32); ``s`` is rounded to it first;
* ``zero_point_add`` -- where ``z`` enters, and in which arithmetic:

  =====================  ============================================  ==============================
  value                  codes                                         used by
  =====================  ============================================  ==============================
  ``"exact"``            ``clip(R(x/s), qmin - z, qmax - z) + z``      ONNX spec, ORT, TFLite
  ``"after_rounding"``   ``clip(fl(R(x/s) + z))``                      PyTorch fake-quant
  ``"before_rounding"``  ``clip(R(fl(fl(x/s) + z)))``                  PyTorch quantize_per_channel
  ``"fused"``            ``clip(R(fma(x, 1/s, z)))``                   PyTorch quantize_per_tensor
  =====================  ============================================  ==============================

  ``fl`` is rounding to the compute dtype. ``"exact"`` and
  ``"after_rounding"`` differ only when ``|R(x/s) + z|`` exceeds the
  compute dtype's exact-integer range (2**24 in float32). Adding ``z``
  *before* rounding moves the ties when ``z`` is odd (``R(-76.5 + 77) = 0``
  but ``R(-76.5) + 77 = 1``) and, unfused, adds a second rounding;
  ``"fused"`` needs ``op_order="multiply"`` and a float32 compute dtype;
* ``nan`` -- what a NaN input becomes: ``"raise"`` (default), ``"zero_point"``,
  ``"quant_min"`` or ``"quant_max"``. ±inf and values far outside the range
  saturate: clipping happens in floating point before any cast, so nothing
  wraps.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _granularity as gran
from refquant._exact import fma_float32
from refquant._validate import (
    as_float_array,
    as_int_array,
    check_choice,
    check_range,
    check_scale,
    check_zero_point,
)
from refquant.formats import storage_dtype
from refquant.rounding import ROUNDING_MODES, RoundingMode, round_unchecked

__all__ = ["dequantize", "fake_quantize", "quantize"]

OpOrder = Literal["divide", "multiply"]
ZeroPointAdd = Literal["exact", "after_rounding", "before_rounding", "fused"]
NanPolicy = Literal["raise", "zero_point", "quant_min", "quant_max"]
OP_ORDERS = ("divide", "multiply")
ZERO_POINT_ADDS = ("exact", "after_rounding", "before_rounding", "fused")
NAN_POLICIES = ("raise", "zero_point", "quant_min", "quant_max")


def quantize(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    rounding: RoundingMode = "half_even",
    op_order: OpOrder = "divide",
    compute_dtype: Any = None,
    zero_point_add: ZeroPointAdd = "exact",
    nan: NanPolicy = "raise",
    rng: np.random.Generator | None = None,
    out_dtype: Any = None,
) -> NDArray[Any]:
    """Integer codes ``q = clip(R(x / s) + z, quant_min, quant_max)``.

    Parameters
    ----------
    x : array_like of float, any shape
        Values to quantize (integer inputs are converted to float64).
    scale : array_like of float
        Step size ``s > 0``, finite. One element (per-tensor), shape
        ``(x.shape[axis],)`` (per-axis), or ``x``'s shape with
        ``ceil(x.shape[axis] / block_size)`` along ``axis`` (per-block).
    zero_point : array_like of int
        Code of the real value 0, same shape rules as ``scale``, within
        ``[quant_min, quant_max]``.
    quant_min, quant_max : int
        The code range (see :mod:`refquant.formats` for named formats).
    axis : int, optional
        Axis of the per-axis or per-block parameters; None for per-tensor.
    block_size : int, optional
        Block length along ``axis`` (group-wise quantization); the last block
        may be partial.
    rounding : str
        Rounding mode of :mod:`refquant.rounding` (``"stochastic"`` needs ``rng``).
    op_order : {"divide", "multiply"}
        ``x / s``, or ``x * (1/s)`` with the reciprocal rounded to ``compute_dtype``.
    compute_dtype : numpy float dtype, optional
        Dtype of the division and rounding; default ``x``'s float dtype.
    zero_point_add : {"exact", "after_rounding", "before_rounding", "fused"}
        Where ``z`` is added (module docstring).
    nan : {"raise", "zero_point", "quant_min", "quant_max"}
        NaN policy.
    rng : numpy.random.Generator, optional
        For ``rounding="stochastic"``: one uniform draw per element, C order.
    out_dtype : numpy integer dtype, optional
        Default: the smallest dtype holding ``[quant_min, quant_max]`` (int8 or
        uint8 for sub-byte ranges).

    Returns
    -------
    ndarray of int, shape of ``x``

    Notes
    -----
    .. math:: q = \\min\\!\\big(q_{max},\\, \\max(q_{min},\\, R(x/s) + z)\\big)

    Source: Jacob et al., "Quantization and Training of Neural Networks for
    Efficient Integer-Arithmetic-Only Inference" (CVPR 2018), eq. (1); ONNX
    QuantizeLinear. Clipping happens in floating point before the cast, so
    ``inf`` and ``3e9`` saturate. Inputs are not modified.

    Examples
    --------
    >>> quantize([-1.0, 0.25, 0.3, 0.5, 100.0], 0.1, 0, -128, 127).tolist()
    [-10, 2, 3, 5, 127]
    >>> quantize([0.25, -0.25], 0.1, 10, 0, 255, rounding="half_away").tolist()
    [13, 7]
    """
    xa, s, z, g, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype
    )
    _check_knobs(rounding, op_order, zero_point_add, nan, rng)
    dtype = storage_dtype(quant_min, quant_max) if out_dtype is None else np.dtype(out_dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"out_dtype must be an integer dtype, got {dtype}")
    info = np.iinfo(dtype)
    if quant_min < info.min or quant_max > info.max:
        raise ValueError(f"out_dtype {dtype} cannot hold [{quant_min}, {quant_max}]")
    if zero_point_add == "fused" and cd != np.float32:
        raise ValueError(f"zero_point_add='fused' is defined for a float32 compute dtype, got {cd}")
    k = _Codes(
        quant_min,
        quant_max,
        cd,
        rounding,
        op_order,
        zero_point_add,
        nan,
        rng,
        wide=_wide(quant_min, quant_max, z, cd),
    )
    return gran.map_chunks(k.quantize, xa, k.params(s, z), g, dtype)


def fake_quantize(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    rounding: RoundingMode = "half_even",
    op_order: OpOrder = "divide",
    compute_dtype: Any = None,
    zero_point_add: ZeroPointAdd = "exact",
    nan: NanPolicy = "raise",
    rng: np.random.Generator | None = None,
) -> NDArray[Any]:
    """Quantize then dequantize: ``x_hat = (clip(R(x/s) + z, qmin, qmax) - z) * s``.

    Parameters are those of :func:`quantize`; the result has ``x``'s shape and
    float dtype (float64 for integer inputs). The product ``(q - z) * s`` is
    computed in the compute dtype, where ``q - z`` is exact, then cast to
    ``x``'s dtype.

    Notes
    -----
    .. math:: \\hat x = \\big(\\operatorname{clip}(R(x/s) + z, q_{min}, q_{max}) - z\\big)\\, s

    Source: the QAT "fake quantization" node (Jacob et al. 2018, section 3;
    ``torch.fake_quantize_per_tensor_affine``; a QuantizeLinear followed by a
    DequantizeLinear in ONNX). Idempotent: ``fake_quantize`` of its own output
    returns it unchanged when ``op_order="divide"``.

    Examples
    --------
    >>> fake_quantize([-0.04, 0.05, 0.26, 12.6, 99.0], 0.1, 0, -128, 127).tolist()
    [-0.0, 0.0, 0.30000000000000004, 12.600000000000001, 12.700000000000001]
    """
    xa, s, z, g, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype
    )
    _check_knobs(rounding, op_order, zero_point_add, nan, rng)
    k = _Codes(
        quant_min,
        quant_max,
        cd,
        rounding,
        op_order,
        zero_point_add,
        nan,
        rng,
        wide=_wide(quant_min, quant_max, z, cd),
    )
    return gran.map_chunks(k.fake_quantize, xa, [*k.params(s, z), s], g, xa.dtype)


def dequantize(
    q: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    dtype: Any = np.float32,
) -> NDArray[Any]:
    """Real values ``x_hat = (q - z) * s``.

    Parameters
    ----------
    q : array_like of int, any shape
        Integer codes.
    scale, zero_point : array_like
        As in :func:`quantize` (same granularity rules).
    axis, block_size : int, optional
        Granularity, as in :func:`quantize`.
    dtype : numpy float dtype
        Output dtype (default float32); ``s`` is rounded to it first.

    Returns
    -------
    ndarray of ``dtype``, shape of ``q``

    Notes
    -----
    .. math:: \\hat x = (q - z)\\, s

    ``q - z`` is computed exactly in int64, converted to ``dtype`` (exact for
    codes of up to 24 bits in float32), then multiplied by ``s`` in ``dtype``:
    one rounding. For float16 output the product is formed in float64
    (exact) and rounded once to float16; converting ``q - z`` to float16
    first would round twice. This is ONNX DequantizeLinear's formula and ORT's order of
    operations; PyTorch's vectorized dequantize instead evaluates
    ``q * s + (-z * s)`` with an FMA, which can differ in the last bit.
    Source: ONNX DequantizeLinear; Jacob et al. (2018), eq. 1.

    Examples
    --------
    >>> dequantize([0, 3, 255], 0.5, 3, dtype="float64").tolist()
    [-1.5, 0.0, 126.0]
    """
    qa = np.asarray(q)
    if qa.dtype.kind not in "iub":
        raise TypeError(f"q must be an integer array, got dtype {qa.dtype}")
    out = np.dtype(dtype)
    if out.kind != "f":
        raise TypeError(f"dtype must be a float dtype, got {out}")
    g = gran.resolve(qa.shape, axis, block_size)
    s = gran.check_param("scale", as_float_array("scale", scale), qa.shape, g).astype(out)
    check_scale("scale", s)
    z = gran.check_param("zero_point", as_int_array("zero_point", zero_point), qa.shape, g)
    return gran.map_chunks(_dequantize_kernel, qa, [z, s], g, out)


def _dequantize_kernel(q: NDArray[Any], z: NDArray[Any], s: NDArray[Any], *, out: NDArray[Any]) -> None:
    diff = np.subtract(q, z, dtype=np.int64)
    if out.dtype.itemsize < 4:  # float16: form the product exactly in float64, round once
        with np.errstate(over="ignore"):
            out[...] = diff * s.astype(np.float64)
        return
    np.multiply(diff.astype(out.dtype), s, out=out)


def prepare_arguments(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    axis: int | None,
    block_size: int | None,
    compute_dtype: Any,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.int64], gran.Granularity, np.dtype[Any]]:
    """Validate the shared arguments; return x, scale (compute dtype), zero point, layout, dtype."""
    check_range(quant_min, quant_max)
    xa = as_float_array("x", x)
    cd = xa.dtype if compute_dtype is None else np.dtype(compute_dtype)
    if cd.kind != "f":
        raise TypeError(f"compute_dtype must be a float dtype, got {cd}")
    g = gran.resolve(xa.shape, axis, block_size)
    s64 = gran.check_param("scale", as_float_array("scale", scale), xa.shape, g)
    with np.errstate(over="ignore", under="ignore"):
        s = s64.astype(cd)
    check_scale("scale", s64)
    check_scale("scale (rounded to the compute dtype)", s)
    z = gran.check_param("zero_point", as_int_array("zero_point", zero_point), xa.shape, g)
    check_zero_point("zero_point", z, quant_min, quant_max)
    return xa, s, z, g, cd


def _check_knobs(rounding: str, op_order: str, zero_point_add: str, nan: str, rng: Any) -> None:
    check_choice("rounding", rounding, ROUNDING_MODES)
    check_choice("op_order", op_order, OP_ORDERS)
    check_choice("zero_point_add", zero_point_add, ZERO_POINT_ADDS)
    check_choice("nan", nan, NAN_POLICIES)
    if zero_point_add == "fused" and op_order != "multiply":
        raise ValueError(f"zero_point_add='fused' needs op_order='multiply', got op_order={op_order!r}")
    if rounding == "stochastic" and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator for rounding='stochastic', got {rng!r}")


def _wide(qmin: int, qmax: int, z: NDArray[np.int64], cd: np.dtype[Any]) -> bool:
    """True when some code or ``code - z`` is not exactly representable in ``cd``."""
    limit = 2 ** (np.finfo(cd).nmant + 1)
    zmax = int(np.abs(z).max()) if z.size else 0
    return max(abs(qmin), abs(qmax)) + zmax > limit


class _Codes:
    """The elementwise kernels, with the knobs bound (internal)."""

    def __init__(
        self,
        qmin: int,
        qmax: int,
        cd: np.dtype[Any],
        rounding: str,
        op_order: str,
        zero_point_add: str,
        nan: str,
        rng: np.random.Generator | None,
        wide: bool,
    ) -> None:
        self.qmin, self.qmax, self.cd = qmin, qmax, cd
        self.rounding, self.op_order, self.zp_add = rounding, op_order, zero_point_add
        self.nan, self.rng = nan, rng
        # Clipping and the zero-point addition run in float64 when the code
        # range is not exact in the compute dtype (e.g. int32 codes in float32).
        self.clip_dtype = np.dtype(np.float64) if wide else cd

    def params(self, s: NDArray[Any], z: NDArray[np.int64]) -> list[NDArray[Any]]:
        """Per-element parameters: the multiplier (s or 1/s), and z."""
        if self.op_order == "multiply":
            with np.errstate(over="ignore"):
                mult = np.divide(np.ones((), self.cd), s, dtype=self.cd)
        else:
            mult = s
        return [mult, z]

    def _codes_minus_z(
        self, x: NDArray[Any], mult: NDArray[Any], z: NDArray[Any], buf: NDArray[Any] | None = None
    ) -> NDArray[Any]:
        """``clip(R(x/s) + z) - z`` as floats in ``clip_dtype`` (exact integers).

        ``buf``, when given, is a compute-dtype array of ``x``'s shape to work in.
        """
        op = np.multiply if self.op_order == "multiply" else np.divide
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.zp_add == "fused":
                t = fma_float32(x, mult, z)
            else:
                t = op(x, mult, out=buf, dtype=self.cd)
                if self.zp_add == "before_rounding":
                    np.add(t, z.astype(self.cd), out=t)
            round_unchecked(t, self.rounding, self.rng, out=t)
            if self.zp_add == "after_rounding":
                np.add(t, z.astype(self.cd), out=t)
        t = t.astype(self.clip_dtype, copy=False)
        zc = z.astype(self.clip_dtype)
        if self.zp_add == "exact":
            np.clip(t, self.qmin - zc, self.qmax - zc, out=t)
        else:
            np.clip(t, self.qmin, self.qmax, out=t)
            np.subtract(t, zc, out=t)
        if np.isnan(np.minimum.reduce(t, axis=None)):  # a reduction is cheaper than isnan().any()
            self._fill_nan(t, zc)
        return t

    def _fill_nan(self, t: NDArray[Any], zc: NDArray[Any]) -> None:
        bad = np.isnan(t)
        if self.nan == "raise":
            raise ValueError("x contains NaN; pass nan='zero_point', 'quant_min' or 'quant_max' to map it")
        code: NDArray[Any] = {
            "zero_point": zc,
            "quant_min": np.asarray(self.qmin, self.clip_dtype),
            "quant_max": np.asarray(self.qmax, self.clip_dtype),
        }[self.nan]
        np.copyto(t, np.broadcast_to(np.subtract(code, zc), t.shape), where=bad)

    def quantize(self, x: NDArray[Any], mult: NDArray[Any], z: NDArray[Any], *, out: NDArray[Any]) -> None:
        t = self._codes_minus_z(x, mult, z)
        np.add(t, z.astype(self.clip_dtype), out=t)
        out[...] = t  # exact integers within the range of out's dtype

    def fake_quantize(
        self, x: NDArray[Any], mult: NDArray[Any], z: NDArray[Any], s: NDArray[Any], *, out: NDArray[Any]
    ) -> None:
        in_place = out.dtype == self.cd == self.clip_dtype and self.zp_add != "fused"
        t = self._codes_minus_z(x, mult, z, buf=out if in_place else None)
        if t.dtype != self.cd:
            t = t.astype(self.cd)
        np.multiply(t, s, out=out if in_place else t)
        if not in_place:
            out[...] = t
