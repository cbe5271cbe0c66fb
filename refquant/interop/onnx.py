"""ONNX QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (opsets 10-25), in NumPy.

Argument names follow the ONNX operator specification (``y_scale``,
``y_zero_point``, ``axis``, ``block_size``, ...); ``onnx`` is never imported.
The functions implement the *specification*; where the ``onnx.reference``
evaluator (onnx 1.23) or ONNX Runtime (ORT 1.32, CPU, x86-64) compute
something else, the difference is listed below, with an example, and
asserted in ``tests/conformance/test_onnx_conformance.py``.

Integer output types: ``uint8``, ``int8``, ``uint16``, ``int16``, ``uint4``,
``int4``, ``uint2``, ``int2``; sub-byte codes are returned in uint8/int8
arrays. Float types (:data:`FLOAT_TYPES`: float8e4m3fn, float8e4m3fnuz,
float8e5m2, float8e5m2fnuz, float4e2m1, float6e2m3, float6e3m2) are uint8 codes
(bit patterns, :func:`refquant.floats.encode`); :mod:`refquant.interop.onnx_float`
has their rules and the Cast operator (:func:`cast`, re-exported here). Zero
points and codes may also be ml_dtypes arrays (int4/uint4/int2/uint2, float8,
float4: what ``onnx.numpy_helper.to_array`` returns), recognised by dtype name.

Semantic choices (the spec leaves these open):

* **compute dtype of QuantizeLinear**: ``x / y_scale`` is evaluated in
  ``y_scale``'s dtype, ``x`` being converted to it first (spec, opset 23+:
  "the type of y_scale determines the precision of the division"; ORT does
  this for mixed types). A Python float or list ``y_scale`` has no dtype and
  takes ``x``'s float dtype, as ONNX opsets <= 21 require ``x`` and ``y_scale``
  to share one type. The ``precision`` attribute (opset 23+) is
  ``quantize_linear(x, y_scale.astype(precision))``.
* **NaN in QuantizeLinear**: the spec is silent. refquant returns the type's
  minimum code, which is what ORT returns for every output type, granularity
  and input dtype; ``onnx.reference`` returns it only for zero points >= 0
  (see below).
* **precision of DequantizeLinear**: the spec says the output type (the
  scale's type) "determines the precision of the multiplication". refquant
  returns the exact ``(x - x_zero_point) * x_scale`` rounded once to
  ``x_scale``'s dtype (``x - x_zero_point`` is exact in int64). For a float32
  scale that is ORT's and the reference's float32 product whenever
  ``|x - x_zero_point| <= 2**24`` (every code type but int32; beyond that
  ``x - x_zero_point`` is rounded to float32 first, as both of them do).
* **DynamicQuantizeLinear**: an all-zero or empty input gives ``y = 0``,
  ``y_zero_point = 0`` and ORT's ``y_scale = 1.0`` (the spec divides 0 by 0);
  NaN and ``±inf`` raise (details in :func:`dynamic_quantize_linear`).
* **granularity**: a scale of shape ``()`` or ``(1,)`` is per tensor (ORT's
  rule; ``axis`` and ``block_size`` are then ignored); otherwise
  ``block_size=0`` means per axis (1-D scale) and ``block_size > 0`` blocked.
  ``onnx.reference`` also treats any one-element scale, of any rank, as per tensor.
* **validation**: scales must be finite and > 0 (the spec allows any value;
  refquant's rule at every public boundary: a non-positive or non-finite scale
  raises ``ValueError``), zero points must hold codes of the output type and have
  the scale's shape, and an int32 DequantizeLinear input must have a zero
  point of 0 (spec). float64 scales, which ONNX does not have, are accepted.

Departures of ``onnx.reference`` (``ReferenceEvaluator``) from the spec:

* QuantizeLinear casts ``rint(x / y_scale)`` to int32 *before* adding the
  zero point and clipping, so ``±inf``, NaN and ``|x / y_scale| >= 2**31``
  become ``INT32_MIN``, and adding a negative zero point wraps around:
  ``x=inf, y_scale=1, y_zero_point=uint8(3)`` gives 0 (spec: 255);
  ``x=3e9`` gives 0 (spec: 255); ``x=-inf, y_zero_point=int8(-3)`` gives
  127 (spec: -128); NaN gives 0 with ``uint8(3)`` and 127 with ``int8(-3)``.
* QuantizeLinear divides in NumPy's promoted dtype, not ``y_scale``'s:
  ``x=float32(70000), y_scale=float16(1024)``, int8 gives 68 (float32 division;
  spec and ORT: ``float16(70000)`` is inf, so 127).
* DequantizeLinear with a float16 scale forms the product in float32 and
  rounds it to float16 (two roundings): ``x=int16(-23150), x_scale=float16(
  0.11676025390625)`` gives -2704.0 (exact product -2702.99988 rounds to
  -2702.0); ORT does the same.
* DynamicQuantizeLinear: an all-zero input gives ``y_scale = 1/255`` (ORT: 1.0;
  the reference's own comment quotes ORT's ``1.0f``); a NaN anywhere makes
  ``y_scale`` NaN, ``y_zero_point`` 255 and every code 0; an empty input raises.

Departures of ONNX Runtime from the spec:

* QuantizeLinear with float16 ``x`` and float16 ``y_scale`` divides in float32
  (MLAS), not float16: ``x=float16(-1.408), y_scale=float16(0.0123)`` gives
  -115 (float32 quotient -114.50124) where the spec's float16 quotient is the
  tie -114.5, so -114.
* DequantizeLinear with a float16 scale: the float32 product, as above.
* DequantizeLinear accepts a non-zero int32 zero point and subtracts it.
* DynamicQuantizeLinear: ``y_scale = 1.0`` for an all-zero or empty input
  (spec: 0/0). A NaN's effect depends on its position (SIMD min/max):
  ``[nan, 1, -1, 2, 0, 0, 0, 0]`` gives ``y_scale = 3/255``, the NaN left out,
  but ``[1, -1, 2, 0, 0, 0, 0, nan]`` gives ``y_scale = NaN``, zero point 255.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, as_int_array, check_scale, normalize_axis, show_values
from refquant.formats import IntFormat, int_format
from refquant.interop import onnx_float as _of
from refquant.interop.onnx_float import CAST_TYPES, ONNX_FLOAT_FORMATS, cast
from refquant.qparams import qparams_from_range
from refquant.quantize import dequantize, quantize

__all__ = [
    "CAST_TYPES",
    "ONNX_FLOAT_FORMATS",
    "cast",
    "dequantize_linear",
    "dynamic_quantize_linear",
    "quantize_linear",
]

INT_TYPES = ("uint8", "int8", "uint16", "int16", "uint4", "int4", "uint2", "int2")
"""ONNX integer quantized types (type names of ``output_dtype``)."""
SUB_BYTE_TYPES = ("uint4", "int4", "uint2", "int2")
FLOAT_TYPES = _of.QUANT_FLOAT_TYPES
"""ONNX low-precision float quantized types (outputs are uint8 codes)."""
_FLOAT_ALIASES = {*FLOAT_TYPES, "float4e2m1fn", "float6e2m3fn", "float6e3m2fn", "float8e8m0fnu"}
_INT32 = np.iinfo(np.int32)


def quantize_linear(
    x: ArrayLike,
    y_scale: ArrayLike,
    y_zero_point: ArrayLike | None = None,
    *,
    axis: int = 1,
    saturate: bool = True,
    block_size: int = 0,
    output_dtype: str | None = None,
) -> NDArray[Any]:
    """ONNX QuantizeLinear: ``y = saturate(round_half_even(x / y_scale) + y_zero_point)``.

    Parameters
    ----------
    x : array_like of float (or int32), any shape
        Values to quantize.
    y_scale : array_like of float
        Finite, > 0. Shape ``()`` or ``(1,)`` (per tensor), ``(x.shape[axis],)``
        (per axis, ``block_size=0``), or ``x``'s shape with
        ``ceil(x.shape[axis] / block_size)`` along ``axis`` (blocked). Its
        dtype (float16/32/64) is the precision of the division; a Python
        float or list takes ``x``'s float dtype.
    y_zero_point : array_like of int, optional
        Same shape as ``y_scale``; default 0. Its dtype (uint8, int8, uint16,
        int16, or ml_dtypes uint4/int4/uint2/int2) is the output type; int8/uint8
        arrays may carry int4/uint4/int2/uint2 codes with ``output_dtype``.
    axis : int
        Quantization axis for per-axis and blocked scales (ignored per tensor).
    saturate : bool
        For float8 outputs: True (default) maps ``|[x/s]| > max`` and ``±inf``
        to ``±max``; False follows ml_dtypes (NaN, or ``±inf`` for e5m2).
        Integer, float4 and float6 outputs always saturate.
    block_size : int
        0, or the block length along ``axis`` (the last block may be partial).
    output_dtype : str, optional
        One of :data:`INT_TYPES` or :data:`FLOAT_TYPES`. Default:
        ``y_zero_point``'s type, else uint8. For a float type the zero point
        may be uint8 codes of that type, or an ml_dtypes array; it must be 0.

    Returns
    -------
    ndarray of uint8, int8, uint16 or int16, shape of ``x``
        Sub-byte types come back in uint8 (unsigned) or int8 (signed); float
        types as uint8 codes: ``encode(x / y_scale, fmt, saturate=saturate)``
        (round half to even once; NaN stays NaN, float4/float6 give ``∓0``).

    Notes
    -----
    .. math:: y = \\operatorname{clip}\\big(\\operatorname{rint}(x / s) + z,\\; q_{min},\\; q_{max}\\big)

    Source: ONNX operator spec, QuantizeLinear (opsets 10-25). The division
    runs in ``y_scale``'s dtype and rounds half to even; clipping happens in
    floating point before any cast, so ``±inf`` and ``3e9`` saturate. NaN
    gives ``q_min`` (ORT's result; the spec is silent). An ``x`` beyond the
    scale dtype's range becomes ``±inf`` when converted and saturates;
    subnormal scales are valid (``x / s`` may overflow to ``±inf``, which
    saturates); a scale that is 0 or not finite once rounded to its compute
    dtype raises ``ValueError``. Implemented as
    :func:`refquant.quantize.quantize` with ``op_order="divide"``,
    ``rounding="half_even"``, ``zero_point_add="exact"``, ``nan="quant_min"``.

    Examples
    --------
    >>> quantize_linear([0.0, 2.0, 3.0, 5.0, 1000.0, -254.0], 2.0, np.uint8(128)).tolist()
    [128, 129, 130, 130, 255, 1]
    >>> quantize_linear([[1.0, 9.0], [1.0, 9.0]], [1.0, 2.0], None, axis=0, output_dtype="int4").tolist()
    [[1, 7], [0, 4]]
    >>> [hex(c) for c in quantize_linear([2.0, 1e5], np.float32(2.0), output_dtype="float8e4m3fn")]
    ['0x38', '0x7e']
    """
    if not isinstance(saturate, (bool, np.bool_)):
        raise TypeError(f"saturate must be a bool, got {saturate!r}")
    ftype = _of.float_type(y_zero_point, output_dtype)
    if ftype is not None:
        return _quantize_float(x, y_scale, y_zero_point, axis, block_size, ftype, bool(saturate))
    fmt, zp = _zero_point_and_type(y_zero_point, output_dtype)
    xa = _real_input("x", x)
    s, typed = _scale_input("y_scale", y_scale)
    cd = s.dtype if typed else xa.dtype
    ax, block = _layout("y_scale", s.shape, xa.shape, axis, block_size)
    with np.errstate(over="ignore", under="ignore"):
        sc = s.astype(cd)
    check_scale("y_scale", s)
    check_scale(f"y_scale (rounded to the compute dtype {cd})", sc)
    if zp is None:
        z = np.zeros(s.shape, np.int64)
    else:
        z = _zero_point_shape("y_zero_point", zp, s.shape, ax)
        _check_codes("y_zero_point", z, fmt)
    return quantize(
        xa,
        sc,
        z,
        fmt.qmin,
        fmt.qmax,
        axis=ax,
        block_size=block,
        rounding="half_even",
        op_order="divide",
        compute_dtype=cd,
        zero_point_add="exact",
        nan="quant_min",
        out_dtype=fmt.dtype,
    )


def dequantize_linear(
    x: ArrayLike,
    x_scale: ArrayLike,
    x_zero_point: ArrayLike | None = None,
    *,
    axis: int = 1,
    block_size: int = 0,
    x_type: str | None = None,
) -> NDArray[Any]:
    """ONNX DequantizeLinear: ``y = (x - x_zero_point) * x_scale``.

    Parameters
    ----------
    x : array_like of int, any shape
        Codes: uint8, int8, uint16, int16 or int32 arrays, ml_dtypes
        uint4/int4/uint2/int2 arrays, or Python ints (which must fit int32).
    x_scale : array_like of float
        Finite, > 0; shape rules of :func:`quantize_linear`. Its dtype
        (float16/32/64) is the output dtype; a Python float or list gives float32.
    x_zero_point : array_like of int, optional
        Same shape as ``x_scale``, same dtype as ``x`` (Python ints are
        accepted); default 0. Must be 0 for int32 ``x`` (spec).
    axis : int
        Axis for per-axis and blocked scales (ignored per tensor).
    block_size : int
        0, or the block length along ``axis``.
    x_type : str, optional
        One of :data:`FLOAT_TYPES` when ``x`` holds float codes in a uint8
        array (ml_dtypes float8/float4 arrays carry their type). Then
        ``y = decode(x) * x_scale``, the exact product rounded once to the
        scale's dtype (``±inf``/NaN codes give ``±inf``/NaN); the zero point
        must be 0.

    Returns
    -------
    ndarray of ``x_scale``'s dtype, shape of ``x``

    Notes
    -----
    .. math:: y = \\mathrm{fl}\\big((x - z)\\, s\\big)

    Source: ONNX operator spec, DequantizeLinear (opsets 10-25; output type
    = scale type from opset 19). ``x - z`` is exact in int64 and the product
    is rounded once to ``x_scale``'s dtype ("the output type determines the
    precision of the multiplication"): float32 scales multiply in float32
    (exact operands for codes up to 24 bits; int32 codes are rounded to
    float32 first, as ORT and ``onnx.reference`` do); float16 scales multiply
    in float64, where the product is exact, then round to float16 (ORT and
    ``onnx.reference`` round a float32 product instead, which can differ by
    one float16 ulp). A product beyond the output type's range (e.g.
    ``65535 * 2`` in float16) raises ``ValueError``; ORT and
    ``onnx.reference`` return ``±inf``.

    Examples
    --------
    >>> dequantize_linear(np.array([0, 3, 128, 255], np.uint8), np.float32(2.0), np.uint8(128)).tolist()
    [-256.0, -250.0, 0.0, 254.0]
    >>> dequantize_linear(np.array([-23150], np.int16), np.float16(0.11676025390625)).tolist()
    [-2702.0]
    >>> dequantize_linear(np.array([0x38, 0xFE], np.uint8), np.float32(2.0), x_type="float8e4m3fn").tolist()
    [2.0, -896.0]
    """
    if x_type is not None or _of.onnx_type_of(getattr(x, "dtype", None)) is not None:
        return _dequantize_float(x, x_scale, x_zero_point, axis, block_size, x_type)
    xi, xtype = _codes_input(x)
    s, typed = _scale_input("x_scale", x_scale)
    out = s.dtype if typed else np.dtype(np.float32)
    ax, block = _layout("x_scale", s.shape, xi.shape, axis, block_size)
    with np.errstate(over="ignore", under="ignore"):
        sc = s.astype(out)
    check_scale("x_scale", s)
    check_scale(f"x_scale (rounded to {out})", sc)
    if x_zero_point is None:
        z = np.zeros(s.shape, np.int64)
    else:
        zarr = np.asarray(_reject_low_float("x_zero_point", x_zero_point))
        ztype = _sub_byte_name(zarr.dtype) or zarr.dtype.name
        if isinstance(x_zero_point, (np.ndarray, np.generic)) and ztype != xtype:
            raise TypeError(
                f"x_zero_point must have x's type {xtype} (x of shape {xi.shape}), "
                f"got {ztype} {show_values(zarr)}"
            )
        z = _zero_point_shape("x_zero_point", _as_codes("x_zero_point", zarr), s.shape, ax)
    if xtype == "int32":
        if np.any(z != 0):
            raise ValueError(f"x_zero_point must be 0 for int32 x (ONNX spec), got {z.ravel()[:5].tolist()}")
    else:
        _check_codes("x_zero_point", z, int_format(xtype))
    compute = np.float64 if out == np.float16 else out
    try:
        y = dequantize(xi, sc, z, axis=ax, block_size=block, dtype=compute)
    except ValueError as e:  # the core's overflow message, in the operator's names
        raise ValueError(f"(x - x_zero_point) * x_scale overflows {out}: {e}") from None
    if y.dtype == out:
        return y
    with np.errstate(over="ignore", under="ignore"):
        y16 = y.astype(out)
    if y16.size and np.isinf(np.max(np.abs(y16))):
        bad = np.isinf(y16)
        raise ValueError(
            f"(x - x_zero_point) * x_scale overflows {out} (max {np.finfo(out).max}): "
            f"x={show_values(xi[bad])}, x_scale={show_values(sc)}, exact products {show_values(y[bad])}; "
            "use a float32 x_scale"
        )
    return y16


def dynamic_quantize_linear(x: ArrayLike) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.uint8]]:
    """ONNX DynamicQuantizeLinear: uint8 ``(y, y_scale, y_zero_point)`` from ``x``'s own range.

    Parameters
    ----------
    x : array_like of float32, any shape
        Float32 arrays (the operator's only input type); Python scalars and
        lists are converted to float32. Finite (no NaN, no ``±inf``).

    Returns
    -------
    y : ndarray of uint8, shape of ``x``
    y_scale : 0-d ndarray of float32
    y_zero_point : 0-d ndarray of uint8

    Notes
    -----
    .. math::

        s = \\frac{\\max(0, \\max x) - \\min(0, \\min x)}{255}, \\quad
        z = \\operatorname{rint}\\big(\\operatorname{clip}(0 - \\min(0, \\min x) / s,\\, 0,\\, 255)\\big),
        \\quad y = \\operatorname{clip}(\\operatorname{rint}(x / s) + z,\\, 0,\\, 255)

    every step in float32, rounding half to even. Source: ONNX operator spec,
    DynamicQuantizeLinear (opset 11). ``s`` and ``z`` come from
    :func:`refquant.qparams.qparams_from_range`, which rounds before clipping:
    ``clip(0 - rint(m / s))`` equals ``rint(clip(0 - m / s))`` because negation
    is exact, ``rint`` symmetric and the bounds integers; ``y`` comes from
    :func:`quantize_linear`.

    All-zero (or empty) input: the spec's ``y_scale`` is ``0 / 255 = 0`` and
    its zero point ``0 - 0 / 0`` is NaN. refquant returns ``y = 0``,
    ``y_zero_point = 0`` (the only values consistent with ``x = 0`` for any
    scale) and ORT's ``y_scale = 1.0``, a positive scale every
    Quantize/DequantizeLinear accepts; ``onnx.reference`` returns
    ``y_scale = 1/255`` (and raises on an empty input).

    NaN and ``±inf`` raise ``ValueError``: the spec is silent on NaN, ORT's
    result depends on where the NaN sits (left out of the range at index 0 of
    an 8-element input, a NaN scale and zero point 255 at index 7), and
    ``onnx.reference`` returns a NaN scale, zero point 255 and all codes 0;
    ``±inf`` makes the scale inf in both. A range that overflows float32, or a
    nonzero range whose scale underflows to 0 (subnormal inputs), also raise
    (ORT and ``onnx.reference`` return an inf or 0 scale).

    Examples
    --------
    >>> y, s, z = dynamic_quantize_linear([0.0, 2.0, -3.0, -2.5, 1.34, 0.5])
    >>> y.tolist(), float(s), int(z)
    ([153, 255, 0, 26, 221, 179], 0.019607843831181526, 153)
    >>> y, s, z = dynamic_quantize_linear([0.0, 0.0])
    >>> y.tolist(), float(s), int(z)
    ([0, 0], 1.0, 0)
    """
    xa = _float32_input(x)
    if not np.isfinite(xa).all():
        bad = xa[~np.isfinite(xa)].ravel()[:5].tolist()
        raise ValueError(f"x must be finite (NaN and ±inf have no defined range), got {bad}")
    lo = min(np.float32(0), xa.min()) if xa.size else np.float32(0)
    hi = max(np.float32(0), xa.max()) if xa.size else np.float32(0)
    if lo == hi:
        return np.zeros(xa.shape, np.uint8), np.array(1.0, np.float32), np.array(0, np.uint8)
    with np.errstate(over="ignore", under="ignore"):
        scale = (hi - lo) / np.float32(255)
    if not np.isfinite(scale) or scale == 0:
        raise ValueError(f"the range of x, [{lo}, {hi}], gives y_scale = {scale} in float32")
    p = qparams_from_range(lo, hi, 0, 255, eps=None, dtype=np.float32)
    scale_out = np.asarray(p.scale, np.float32).reshape(())
    zp_out = np.asarray(p.zero_point).astype(np.uint8).reshape(())
    y = quantize_linear(xa, scale_out, zp_out)
    return y, scale_out, zp_out


def _quantize_float(
    x: ArrayLike, y_scale: ArrayLike, zp: Any, axis: int, block_size: int, ftype: str, saturate: bool
) -> NDArray[np.uint8]:
    xa = _real_input("x", x)
    s, typed = _scale_input("y_scale", y_scale)
    cd = s.dtype if typed else xa.dtype
    ax, block = _layout("y_scale", s.shape, xa.shape, axis, block_size)
    with np.errstate(over="ignore", under="ignore"):
        sc = s.astype(cd)
    check_scale("y_scale", s)
    check_scale(f"y_scale (rounded to the compute dtype {cd})", sc)
    zv = None
    if zp is not None:
        z, _ = _of.codes_of("y_zero_point", zp, ftype)
        z = _zero_point_shape("y_zero_point", z.astype(np.int64), s.shape, ax).astype(np.uint8)
        zv = _of.expand(_of.check_zero("y_zero_point", z, ftype), xa.shape, ax, block)
    return _of.quantize_float(xa, _of.expand(sc, xa.shape, ax, block), zv, cd, ftype, saturate)


def _dequantize_float(
    x: ArrayLike, x_scale: ArrayLike, zp: Any, axis: int, block_size: int, x_type: Any
) -> NDArray[Any]:
    codes, ftype = _of.codes_of("x", x, _of.check_type("x_type", x_type, FLOAT_TYPES))
    s, typed = _scale_input("x_scale", x_scale)
    out = s.dtype if typed else np.dtype(np.float32)
    ax, block = _layout("x_scale", s.shape, codes.shape, axis, block_size)
    with np.errstate(over="ignore", under="ignore"):
        sc = s.astype(out)
    check_scale("x_scale", s)
    check_scale(f"x_scale (rounded to {out})", sc)
    if zp is not None:
        z, _ = _of.codes_of("x_zero_point", zp, ftype)
        _zero_point_shape("x_zero_point", z.astype(np.int64), s.shape, ax)
        _of.check_zero("x_zero_point", z, ftype)
    return _of.dequantize_float(codes, _of.expand(sc, codes.shape, ax, block), out, ftype)


def _zero_point_and_type(
    zero_point: ArrayLike | None, output_dtype: str | None
) -> tuple[IntFormat, NDArray[np.int64] | None]:
    """The output format, and the zero point as int64 codes (None if absent)."""
    if output_dtype is not None:
        if not isinstance(output_dtype, str):
            raise TypeError(f"output_dtype must be a type name (str), got {output_dtype!r}")
        _reject_low_float_name("output_dtype", output_dtype)
        if output_dtype not in INT_TYPES:
            raise ValueError(f"output_dtype must be one of {INT_TYPES}, got {output_dtype!r}")
    if zero_point is None:
        return int_format(output_dtype or "uint8"), None
    zarr = np.asarray(_reject_low_float("y_zero_point", zero_point))
    if not isinstance(zero_point, (np.ndarray, np.generic)):  # Python ints carry no type
        return int_format(output_dtype or "uint8"), _as_codes("y_zero_point", zarr)
    ztype = _sub_byte_name(zarr.dtype) or zarr.dtype.name
    if ztype not in INT_TYPES:
        raise TypeError(
            f"y_zero_point must have an ONNX quantized type {INT_TYPES}, "
            f"got dtype {zarr.dtype} {show_values(zarr)}"
        )
    name = ztype if output_dtype is None else output_dtype
    storage = int_format(name).dtype.name
    if output_dtype is not None and ztype not in (output_dtype, storage):
        raise ValueError(f"output_dtype={output_dtype!r} does not match y_zero_point's type {ztype}")
    return int_format(name), _as_codes("y_zero_point", zarr)


def _sub_byte_name(dtype: np.dtype[Any]) -> str | None:
    """``"int4"`` etc. for ml_dtypes sub-byte integer dtypes (recognised by name)."""
    return dtype.name if dtype.kind == "V" and dtype.name in SUB_BYTE_TYPES else None


def _as_codes(name: str, arr: NDArray[Any]) -> NDArray[np.int64]:
    if _sub_byte_name(arr.dtype):
        arr = arr.astype(np.int8 if arr.dtype.name.startswith("int") else np.uint8)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be an integer array, got dtype bool")
    return as_int_array(name, arr)


def _reject_low_float_name(name: str, type_name: str) -> None:
    if type_name.replace("_", "").lower() in _FLOAT_ALIASES:
        raise ValueError(
            f"{name}={type_name!r} is not a quantized type with an integer zero point here; "
            f"the ONNX types are {INT_TYPES} and {FLOAT_TYPES}"
        )


def _reject_low_float(name: str, value: Any) -> Any:
    """Raise TypeError for ml_dtypes float arrays (inputs that take no low floats), else ``value``."""
    dtype = getattr(value, "dtype", None)
    if _of.onnx_type_of(dtype) is not None:
        raise TypeError(f"{name} must not have the low-precision float dtype {np.dtype(dtype).name} here")
    return value


def _real_input(name: str, value: ArrayLike) -> NDArray[Any]:
    arr = np.asarray(_reject_low_float(name, value))
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be a float or integer array, got dtype bool")
    return as_float_array(name, arr)


def _scale_input(name: str, value: ArrayLike) -> tuple[NDArray[Any], bool]:
    """The scale as a float array, and whether its dtype is its own (a NumPy float array or scalar)."""
    arr = np.asarray(_reject_low_float(name, value))
    typed = isinstance(value, (np.ndarray, np.generic))
    if typed and arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a float16, float32 or float64 array, got dtype {arr.dtype}")
    return as_float_array(name, arr), typed


def _codes_input(value: ArrayLike) -> tuple[NDArray[Any], str]:
    """DequantizeLinear's ``x`` as a NumPy integer array, and its ONNX type name."""
    arr = np.asarray(_reject_low_float("x", value))
    sub = _sub_byte_name(arr.dtype)
    if sub:
        return arr.astype(np.int8 if sub.startswith("int") else np.uint8), sub
    if arr.dtype.kind not in "iu":
        raise TypeError(f"x must be an integer array (quantized codes), got dtype {arr.dtype}")
    if isinstance(value, (np.ndarray, np.generic)):
        if arr.dtype.name not in (*INT_TYPES, "int32"):
            allowed = (*INT_TYPES, "int32")
            raise TypeError(
                f"x must have an ONNX quantized type {allowed}, got dtype {arr.dtype} {show_values(arr)}"
            )
        return arr, arr.dtype.name
    if arr.size and (arr.min() < _INT32.min or arr.max() > _INT32.max):
        raise ValueError(f"x must fit int32, got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int32), "int32"


def _float32_input(value: ArrayLike) -> NDArray[np.float32]:
    """float32 arrays as they are; Python scalars, lists and integer arrays converted to float32."""
    arr = np.asarray(value)
    if arr.dtype == np.float32:
        return arr
    if arr.dtype.kind == "f" and isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"x must be float32 (DynamicQuantizeLinear's only input type), got {arr.dtype}")
    wide = as_float_array("x", arr)
    with np.errstate(over="ignore"):
        out = np.asarray(wide, dtype=np.float32)
    over = np.isinf(out) & np.isfinite(wide)
    if np.any(over):
        raise ValueError(f"x must fit float32 (the operator's input type), got {show_values(wide[over])}")
    return out


def _check_int(name: str, value: Any) -> int:
    """An int64 attribute (ONNX attributes are int64)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise ValueError(f"{name} must fit int64 (an ONNX attribute), got {int(value)}")
    return int(value)


def _layout(
    name: str, s_shape: tuple[int, ...], x_shape: tuple[int, ...], axis: int, block_size: int
) -> tuple[int | None, int | None]:
    """``(axis, block_size)`` for the core from the scale's shape (None, None per tensor)."""
    _check_int("axis", axis)
    block = _check_int("block_size", block_size)
    if block < 0:
        raise ValueError(f"block_size must be >= 0, got {block}")
    if s_shape in ((), (1,)):
        return None, None
    ax = normalize_axis("axis", axis, len(x_shape))
    if block == 0:
        if s_shape != (x_shape[ax],):
            raise ValueError(
                f"{name} must have shape () or (1,) (per tensor) or ({x_shape[ax]},) (per axis, axis={axis}) "
                f"for x of shape {x_shape} with block_size=0, got {s_shape}"
            )
        return ax, None
    want = (*x_shape[:ax], -(-x_shape[ax] // block), *x_shape[ax + 1 :])
    if s_shape != want:
        raise ValueError(
            f"{name} must have shape {want} for blocked quantization of x of shape {x_shape} "
            f"(axis={axis}, block_size={block}), got {s_shape}"
        )
    return ax, block


def _zero_point_shape(
    name: str, z: NDArray[np.int64], s_shape: tuple[int, ...], axis: int | None
) -> NDArray[np.int64]:
    """The zero point must have the scale's shape (``()`` and ``(1,)`` are both per tensor)."""
    if axis is None and z.shape in ((), (1,)):
        return z.reshape(())
    if z.shape != s_shape:
        raise ValueError(f"{name} must have the scale's shape {s_shape}, got {z.shape}")
    return z


def _check_codes(name: str, z: NDArray[np.int64], fmt: IntFormat) -> None:
    if z.size and (z.min() < fmt.qmin or z.max() > fmt.qmax):
        bad = z[(z < fmt.qmin) | (z > fmt.qmax)].ravel()[:5].tolist()
        raise ValueError(f"{name} must lie in [{fmt.qmin}, {fmt.qmax}], got {bad}")
