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
  compute dtype first (PyTorch, fbgemm); a scale whose reciprocal overflows
  the compute dtype (float32 subnormals below ``1/FLT_MAX``) raises
  ``ValueError`` there, since ``x * inf`` would put every nonzero ``x`` on a
  clamp edge and 0 on NaN. They differ by one code on some
  inputs near ties: ``0.273939937 * (1/0.00214854861)`` is exactly 127.5 in
  float32, ``0.273939937 / 0.00214854861`` is 127.49999;
* ``compute_dtype`` -- dtype of ``x / s`` and of the rounding (float16, float32
  or float64); default the input's float dtype (float32 stays float32); ``x``
  and ``s`` are rounded to it first (an ``x`` beyond its range becomes ``±inf``
  and saturates; an ``s`` that rounds to 0 or inf raises);
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

Edge-case policy shared by the three functions: NaN in ``x`` follows ``nan``;
``±inf`` and ``|x/s| >= 2**31`` saturate; subnormal ``x`` and ``s`` are
ordinary values; ``scale`` must be finite and > 0 (also once rounded to the
compute dtype), ``zero_point`` integral and inside ``[quant_min, quant_max]``,
and the code range non-empty (``quant_min < quant_max``) and within ``±2**53``.
Integer and bool ``x`` are converted to float64; empty and 0-d inputs give
empty and 0-d outputs. The knobs are validated by one function,
:func:`prepare_arguments`, shared with :mod:`refquant.grad`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _granularity as gran
from refquant._exact import fma_float32
from refquant._validate import (
    FLOAT_DTYPES,
    INT_DTYPES,
    as_dtype,
    as_float_array,
    as_int_array,
    check_choice,
    check_range,
    check_reciprocal,
    check_scale,
    check_scale_cast,
    check_zero_point,
    show_values,
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
_INT64_MAX = np.iinfo(np.int64).max


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
        Values to quantize (integer and bool inputs are converted to float64).
    scale : array_like of float
        Step size ``s > 0``, finite. One element (per-tensor), shape
        ``(x.shape[axis],)`` (per-axis), or ``x``'s shape with
        ``ceil(x.shape[axis] / block_size)`` along ``axis`` (per-block).
    zero_point : array_like of int
        Code of the real value 0, same shape rules as ``scale``, within
        ``[quant_min, quant_max]``; integral floats are accepted.
    quant_min, quant_max : int
        The code range, ``quant_min < quant_max``, within ``[-2**53, 2**53]``
        (see :mod:`refquant.formats` for named formats).
    axis : int, optional
        Axis of the per-axis or per-block parameters; None for per-tensor.
    block_size : int, optional
        Block length along ``axis`` (group-wise quantization), >= 1; the last
        block may be partial, and a block longer than the axis is one block.
    rounding : str
        Rounding mode of :mod:`refquant.rounding` (``"stochastic"`` needs ``rng``).
    op_order : {"divide", "multiply"}
        ``x / s``, or ``x * (1/s)`` with the reciprocal rounded to ``compute_dtype``.
    compute_dtype : float16, float32 or float64, optional
        Dtype of the division and rounding; default ``x``'s float dtype.
    zero_point_add : {"exact", "after_rounding", "before_rounding", "fused"}
        Where ``z`` is added (module docstring).
    nan : {"raise", "zero_point", "quant_min", "quant_max"}
        NaN policy.
    rng : numpy.random.Generator, optional
        For ``rounding="stochastic"``: one uniform draw per element, C order.
        Ignored by the other modes, but must be None or a Generator.
    out_dtype : numpy integer dtype, optional
        Default: the smallest dtype holding ``[quant_min, quant_max]`` (int8 or
        uint8 for sub-byte ranges); it must hold the range.

    Returns
    -------
    ndarray of int, shape of ``x``

    Notes
    -----
    .. math:: q = \\min\\!\\big(q_{max},\\, \\max(q_{min},\\, R(x/s) + z)\\big)

    Source: Jacob et al., "Quantization and Training of Neural Networks for
    Efficient Integer-Arithmetic-Only Inference" (CVPR 2018), eq. (1); ONNX
    QuantizeLinear. Clipping happens in floating point before the cast, so
    ``inf`` and ``3e9`` saturate. NaN follows ``nan`` (default: raise).
    Subnormal ``x`` and ``s`` are ordinary values, except that
    ``op_order="multiply"`` raises when ``1/s`` overflows the compute dtype.
    Inputs are not modified.

    Examples
    --------
    >>> quantize([-1.0, 0.25, 0.3, 0.5, 100.0], 0.1, 0, -128, 127).tolist()
    [-10, 2, 3, 5, 127]
    >>> quantize([0.25, -0.25], 0.1, 10, 0, 255, rounding="half_away").tolist()
    [13, 7]
    """
    xa, s, z, g, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype,
        rounding=rounding, op_order=op_order, zero_point_add=zero_point_add, nan=nan, rng=rng,
    )  # fmt: skip
    quant_min, quant_max = int(quant_min), int(quant_max)
    if out_dtype is None:
        dtype = storage_dtype(quant_min, quant_max)
    else:
        dtype = as_dtype("out_dtype", out_dtype, INT_DTYPES, "an integer dtype")
    info = np.iinfo(dtype)
    if quant_min < info.min or quant_max > info.max:
        raise ValueError(f"out_dtype {dtype} cannot hold [quant_min, quant_max] = [{quant_min}, {quant_max}]")
    k = _Codes(quant_min, quant_max, cd, rounding, op_order, zero_point_add, nan, rng, z)
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
    float dtype (float64 for integer and bool inputs).

    Notes
    -----
    .. math:: \\hat x = \\big(\\operatorname{clip}(R(x/s) + z, q_{min}, q_{max}) - z\\big)\\, s

    ``q - z`` is rounded to the compute dtype (exact unless the code range
    exceeds its integers, e.g. int32 codes in float32), the product with
    ``s`` is rounded to the compute dtype, and the result cast to ``x``'s
    dtype. A product that overflows the compute dtype or ``x``'s dtype (e.g.
    codes of 30000 with ``s = 100`` in float16) raises ``ValueError`` rather
    than returning ``inf``. NaN follows ``nan``; ``±inf`` saturate to the
    range's ends. Source: the QAT "fake quantization" node (Jacob et al.
    2018, section 3; ``torch.fake_quantize_per_tensor_affine``; a
    QuantizeLinear followed by a DequantizeLinear in ONNX). Idempotent:
    ``fake_quantize`` of its own output returns it unchanged when
    ``op_order="divide"``.

    Examples
    --------
    >>> fake_quantize([-0.04, 0.05, 0.26, 12.6, 99.0], 0.1, 0, -128, 127).tolist()
    [-0.0, 0.0, 0.30000000000000004, 12.600000000000001, 12.700000000000001]
    """
    xa, s, z, g, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype,
        rounding=rounding, op_order=op_order, zero_point_add=zero_point_add, nan=nan, rng=rng,
    )  # fmt: skip
    quant_min, quant_max = int(quant_min), int(quant_max)
    k = _Codes(quant_min, quant_max, cd, rounding, op_order, zero_point_add, nan, rng, z)
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
        Integer codes, of any integer dtype (bools count as 0 and 1).
    scale, zero_point : array_like
        As in :func:`quantize` (same granularity rules); ``zero_point`` may be
        any int64 value (there is no code range here).
    axis, block_size : int, optional
        Granularity, as in :func:`quantize`.
    dtype : float16, float32 or float64
        Output dtype (default float32; None means the default); ``s`` is
        rounded to it first.

    Returns
    -------
    ndarray of ``dtype``, shape of ``q``

    Notes
    -----
    .. math:: \\hat x = (q - z)\\, s

    ``q - z`` is computed exactly (also for int64 and uint64 codes at their
    limits, where an int64 subtraction would wrap), rounded once to ``dtype``
    (exact for codes of up to 24 bits in float32), then multiplied by ``s``
    in ``dtype``: one more rounding. For float16 output the product is formed
    in float64 (exact) and rounded once to float16; converting ``q - z`` to
    float16 first would round twice. A product beyond ``dtype``'s range
    raises ``ValueError`` (instead of returning ``inf``). This is ONNX
    DequantizeLinear's formula and ORT's order of operations; PyTorch's
    vectorized dequantize instead evaluates ``q * s + (-z * s)`` with an FMA,
    which can differ in the last bit.
    Source: ONNX DequantizeLinear; Jacob et al. (2018), eq. 1.

    Examples
    --------
    >>> dequantize([0, 3, 255], 0.5, 3, dtype="float64").tolist()
    [-1.5, 0.0, 126.0]
    """
    qa = np.asarray(q)
    if qa.dtype.kind not in "iub":
        raise TypeError(f"q must be an integer array, got dtype {qa.dtype}: {show_values(qa)}")
    out = np.dtype(np.float32) if dtype is None else as_dtype("dtype", dtype, FLOAT_DTYPES, "a float dtype")
    g = gran.resolve(qa.shape, axis, block_size)
    s = _scale("scale", scale, qa.shape, g, out)
    z = gran.check_param("zero_point", as_int_array("zero_point", zero_point), qa.shape, g, zero_point)
    return gran.map_chunks(_dequantize_kernel, qa, [z, s], g, out)


def _dequantize_kernel(q: NDArray[Any], z: NDArray[Any], s: NDArray[Any], *, out: NDArray[Any]) -> None:
    if out.dtype.itemsize < 4:  # float16: form the product exactly in float64, round once
        with np.errstate(over="ignore"):
            out[...] = int_difference(q, z, np.dtype(np.float64)) * s.astype(np.float64)
    else:
        with np.errstate(over="ignore"):
            np.multiply(int_difference(q, z, out.dtype), s, out=out)
    if np.isinf(np.max(np.abs(out))):
        bad = np.isinf(out)
        qb, sb = (np.broadcast_to(v, out.shape)[bad] for v in (q, s))
        zb = np.broadcast_to(z, out.shape)[bad]
        raise ValueError(
            f"(q - zero_point) * scale overflows the output dtype {out.dtype}: q={show_values(qb)}, "
            f"zero_point={show_values(zb)}, scale={show_values(sb)}; use a wider dtype"
        )


def int_difference(q: NDArray[Any], z: NDArray[np.int64], dtype: np.dtype[Any]) -> NDArray[Any]:
    """``q - z`` for integer codes of any dtype and int64 ``z``, exact, rounded once to ``dtype``.

    The int64 subtraction is used where it cannot wrap; elsewhere (uint64
    codes above ``2**63 - 1``, and int64 differences that overflow) the
    difference is formed with Python integers and rounded half to even.
    """
    if q.dtype.itemsize < 8 and (not z.size or int(np.abs(z).max()) < 2**62):
        return np.subtract(q, z, dtype=np.int64).astype(dtype)
    q, z = np.broadcast_arrays(q, z)
    big = q > _INT64_MAX if q.dtype == np.uint64 else np.zeros(q.shape, bool)
    qi = np.where(big, 0, q).astype(np.int64)
    with np.errstate(over="ignore"):
        d = np.subtract(qi, z)  # wraps where the exact difference leaves int64
    slow = big | (((qi ^ z) & (qi ^ d)) < 0)
    res = d.astype(dtype)
    if np.any(slow):
        idx = np.nonzero(slow)
        exact = [int(a) - int(b) for a, b in zip(q[idx].tolist(), z[idx].tolist(), strict=True)]
        res[idx] = [_round_int(n, dtype) for n in exact]
    return res


def _round_int(n: int, dtype: np.dtype[Any]) -> float:
    """The integer ``n`` rounded half to even to ``dtype``'s precision, as a float64 (exact)."""
    digits = np.finfo(dtype).nmant + 1
    a = abs(n)
    shift = a.bit_length() - digits
    if shift > 0:
        m, rem = divmod(a, 1 << shift)
        half = 1 << (shift - 1)
        m += rem > half or (rem == half and m & 1)
        a = m << shift
    return float(a if n >= 0 else -a)


def _scale(
    name: str, scale: ArrayLike, shape: tuple[int, ...], g: gran.Granularity, dtype: np.dtype[Any]
) -> NDArray[Any]:
    """The scale checked (finite, > 0, also once rounded to ``dtype``) and rounded to ``dtype``."""
    given = gran.check_param(name, as_float_array(name, scale), shape, g, scale)
    check_scale(name, given)
    with np.errstate(over="ignore", under="ignore"):
        s = given.astype(dtype)
    check_scale_cast(name, given, s)
    return s


def prepare_arguments(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    axis: int | None,
    block_size: int | None,
    compute_dtype: Any,
    *,
    rounding: str = "half_even",
    op_order: str = "divide",
    zero_point_add: str = "exact",
    nan: str = "raise",
    rng: Any = None,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.int64], gran.Granularity, np.dtype[Any]]:
    """Validate every argument of quantize / fake_quantize (also for :mod:`refquant.grad`).

    Returns ``x`` (a float array), the scale rounded to the compute dtype, the
    zero point (int64), the layout and the compute dtype. The knobs are
    checked here, once, for every caller: the choices, ``rng``,
    ``zero_point_add="fused"`` (needs ``op_order="multiply"`` and a float32
    compute dtype), and, for ``op_order="multiply"``, a finite ``1/s`` in the
    compute dtype.
    """
    check_choice("rounding", rounding, ROUNDING_MODES)
    check_choice("op_order", op_order, OP_ORDERS)
    check_choice("zero_point_add", zero_point_add, ZERO_POINT_ADDS)
    check_choice("nan", nan, NAN_POLICIES)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if rounding == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for rounding='stochastic', got None")
    if zero_point_add == "fused" and op_order != "multiply":
        raise ValueError(f"zero_point_add='fused' needs op_order='multiply', got op_order={op_order!r}")
    check_range(quant_min, quant_max)
    xa = as_float_array("x", x)
    if xa.dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {xa.dtype}")
    if compute_dtype is None:
        cd = xa.dtype
    else:
        cd = as_dtype("compute_dtype", compute_dtype, FLOAT_DTYPES, "a float dtype")
    if zero_point_add == "fused" and cd != np.float32:
        how = "" if compute_dtype is not None else " (x's dtype, as compute_dtype=None)"
        raise ValueError(
            f"zero_point_add='fused' is defined for a float32 compute dtype, got compute_dtype={cd}{how}"
        )
    g = gran.resolve(xa.shape, axis, block_size)
    s = _scale("scale", scale, xa.shape, g, cd)
    if op_order == "multiply":
        check_reciprocal("scale", s)
    z = gran.check_param("zero_point", as_int_array("zero_point", zero_point), xa.shape, g, zero_point)
    check_zero_point("zero_point", z, quant_min, quant_max)
    return xa, s, z, g, cd


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
        z: NDArray[np.int64],
    ) -> None:
        self.qmin, self.qmax, self.cd = qmin, qmax, cd
        self.rounding, self.op_order, self.zp_add = rounding, op_order, zero_point_add
        self.nan, self.rng = nan, rng
        # Clipping and the zero-point addition run in float64 when the code
        # range is not exact in the compute dtype (e.g. int32 codes in float32).
        self.clip_dtype = np.dtype(np.float64) if _wide(qmin, qmax, z, cd) else cd

    def params(self, s: NDArray[Any], z: NDArray[np.int64]) -> list[NDArray[Any]]:
        """Per-element parameters: the multiplier (s or 1/s, finite: checked), and z."""
        mult = check_reciprocal("scale", s) if self.op_order == "multiply" else s
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
            raise ValueError(
                "x contains NaN (nan='raise'); pass nan='zero_point', 'quant_min' or 'quant_max' to map it"
            )
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
        with np.errstate(over="ignore"):
            if t.dtype != self.cd:
                t = t.astype(self.cd)
            np.multiply(t, s, out=out if in_place else t)
            if not in_place:
                out[...] = t
        if np.isinf(np.max(np.abs(out))):  # finite codes and scales: an overflow of cd or of x's dtype
            bad = np.isinf(out)
            raise ValueError(
                f"the dequantized value (q - zero_point) * scale overflows the compute dtype {self.cd} "
                f"or x's dtype {out.dtype}: x={show_values(x[bad])}, "
                f"scale={show_values(np.broadcast_to(s, out.shape)[bad])}; use a wider compute_dtype"
            )
