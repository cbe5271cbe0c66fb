"""ONNX MatMulInteger and QLinearMatMul (opsets 10 and 21) and ORT's ``com.microsoft`` QGemm, in NumPy.

Argument names and order follow the operator specifications; ``onnx`` and
``onnxruntime`` are never imported. ``a`` and ``b`` are NumPy ``int8`` or
``uint8`` arrays (their dtype is the ONNX type), batch dimensions broadcast as
in :func:`numpy.matmul`, and the accumulator is int32: "accumulation may
overflow if and only if in 32 bits" is read as two's-complement wrap-around
(``overflow="wrap"``, as ONNX Runtime and ``onnx.reference`` do; a sum modulo
``2**32`` does not depend on the order of the additions), or ``overflow="raise"``.

Requantization (``requantize=``), the one place the systems differ:

* ``"spec"`` (default): the spec's real arithmetic, exact:
  ``saturate(round_half_even(acc * a_scale * b_scale / y_scale) + y_zero_point)``
  with the scales' exact values (the multiplier is never rounded);
* ``"onnx_reference"`` (onnx 1.23): ``m = a_scale * b_scale / y_scale`` in the
  scales' dtype (float32 or float16, two roundings), then ``acc * m +
  y_zero_point`` in float64 (NumPy promotes int32 times float32), ``rint``, clip;
* ``"onnxruntime"`` (ORT 1.32 CPU: ``quantize_linear_matmul.cc``, MLAS
  ``MlasRequantizeOutput``): the same ``m`` in float32 (float16 scales are cast
  to float32 first, as ORT's graph does), ``float32(acc) * m`` in float32
  (``acc`` itself rounded when ``|acc| > 2**24``), clamped to ``[qmin - zp,
  qmax - zp]``, rounded half to even, plus the zero point.

Each difference comes from one of three roundings: the multiplier's,
``float32(acc)`` and the float32 product (float64's product is exact to 2**-53
and has moved no code in the tests); the conformance tests count each cause.

Shapes (spec): per tensor is one element (rank 0 or 1); per row of ``a`` an
``M``-vector for a 2-D ``a`` or ``(..., M, 1)``; per column of ``b`` an
``N``-vector or ``(..., 1, N)``; batch dimensions 1 or the input's; ``y_scale``
and ``y_zero_point`` per tensor. The spec asks a scale and its zero point for
one shape; ORT and ``onnx.reference`` broadcast each on its own, as refquant
does. Scales must be finite and > 0 (refquant's rule); Python floats and
float64 are rounded to float32, as an ONNX tensor of type float holds them.

Departures of ``onnx.reference`` from the spec: the rounded multiplier; a
1-D per-row ``a_zero_point`` of a 2-D ``a`` is subtracted along ``K`` (NumPy
broadcasting): ``a`` of shape (2, 2) with ``a_zero_point=[1, 2]`` loses 1 in
column 0, not row 0, and ``M != K`` raises. Of ONNX Runtime: the roundings;
per-row ``a`` raises; kernels for (uint8, uint8|int8 -> uint8) and (int8, int8
-> int8) only (MatMulInteger also int8 x uint8); QGemm, see :func:`qgemm`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._exact import fma_float64
from refquant._validate import (
    as_float_array,
    as_int_array,
    check_bool,
    check_choice,
    check_scale,
    check_scale_cast,
    show_values,
)
from refquant.integer.matmul import _exact_sums
from refquant.integer.requantize import (
    _blocks,
    _float_requantize,
    requantization_multiplier,
    requantize_float,
)

__all__ = ["OVERFLOW", "REQUANTIZE", "matmul_integer", "qgemm", "qlinear_matmul"]

REQUANTIZE = ("spec", "onnx_reference", "onnxruntime")
"""The requantization semantics of :func:`qlinear_matmul` (:func:`qgemm` has no ``onnx_reference``)."""
OVERFLOW = ("wrap", "raise")
"""What an accumulator outside int32 does: wrap modulo ``2**32`` (ONNX) or raise ``ValueError``."""

_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}
_CAP = 2**10  # |acc * m| beyond this saturates every output type (|qmax - zero point| <= 255)
_LOW29 = np.uint64((1 << 29) - 1)  # float64 mantissa bits below float32's precision


def matmul_integer(
    a: NDArray[Any],
    b: NDArray[Any],
    a_zero_point: ArrayLike | None = None,
    b_zero_point: ArrayLike | None = None,
    *,
    overflow: str = "wrap",
) -> NDArray[np.int32]:
    """ONNX MatMulInteger: ``y = (a - a_zero_point) @ (b - b_zero_point)``, accumulated in int32.

    Parameters
    ----------
    a : ndarray of int8 or uint8, shape (..., M, K) or (K,)
    b : ndarray of int8 or uint8, shape (..., K, N) or (K,)
        Batch dimensions broadcast as in :func:`numpy.matmul`.
    a_zero_point : array_like of int, optional
        Default 0. Per tensor, per row (an ``M``-vector for a 2-D ``a``, or
        shape ``(..., M, 1)``). A NumPy array must have ``a``'s dtype.
    b_zero_point : array_like of int, optional
        Default 0. Per tensor or per column (an ``N``-vector or shape
        ``(..., 1, N)``). A NumPy array must have ``b``'s dtype.
    overflow : {"wrap", "raise"}
        ``"wrap"``: the int32 result modulo ``2**32`` (ONNX Runtime, ``onnx.reference``);
        ``"raise"``: ``ValueError`` if an exact sum leaves int32.

    Returns
    -------
    ndarray of int32, shape ``numpy.matmul``'s.

    Notes
    -----
    .. math:: y_{\\dots mn} = \\sum_k (a_{\\dots mk} - z^a_{\\dots m})(b_{\\dots kn} - z^b_{\\dots n})
              \\bmod 2^{32}

    Source: ONNX operator MatMulInteger (opset 10). The sum is exact
    (:func:`refquant.integer.integer_matmul`: float32 or float64 BLAS where
    every partial sum is an integer small enough to be exact, int64
    otherwise), then wrapped to int32.

    Examples
    --------
    >>> a = np.array([[11, 7, 3], [10, 6, 2]], np.uint8)
    >>> b = np.array([[1, 4], [2, 5], [3, 6]], np.uint8)
    >>> matmul_integer(a, b, np.uint8(12)).tolist()  # (-1*1 - 5*2 - 9*3, -1*4 - 5*5 - 9*6), ...
    [[-38, -83], [-44, -98]]
    """
    check_choice("overflow", overflow, OVERFLOW)
    a, b = _quantized("a", a), _quantized("b", b)
    za = _zero_point("a_zero_point", a_zero_point, a, "a")
    zb = _zero_point("b_zero_point", b_zero_point, b, "b")
    return _accumulate(a, b, za, zb, overflow).astype(np.int32)


def qlinear_matmul(
    a: NDArray[Any],
    a_scale: ArrayLike,
    a_zero_point: ArrayLike,
    b: NDArray[Any],
    b_scale: ArrayLike,
    b_zero_point: ArrayLike,
    y_scale: ArrayLike,
    y_zero_point: NDArray[Any],
    *,
    requantize: str = "spec",
    overflow: str = "wrap",
) -> NDArray[Any]:
    """ONNX QLinearMatMul: ``y = saturate(rne(acc * a_scale * b_scale / y_scale) + y_zero_point)``.

    ``acc = (a - a_zero_point) @ (b - b_zero_point)`` (int32, as :func:`matmul_integer`).

    Parameters
    ----------
    a : ndarray of int8 or uint8, shape (..., M, K) or (K,)
    a_scale : array_like of float
        float32, or float16 (opset 21). Per tensor or per row.
    a_zero_point : array_like of int or None
        ``a``'s type; per tensor or per row (each broadcast on its own).
        None is 0 (as in ``onnx.reference``; the spec requires the input).
    b : ndarray of int8 or uint8, shape (..., K, N) or (K,)
    b_scale, b_zero_point : array_like
        Per tensor or per column, as for ``a``.
    y_scale : array_like of float
        Per tensor, the same float dtype as the other scales.
    y_zero_point : ndarray or NumPy scalar of int8 or uint8
        Per tensor; its dtype is the output type ``T3``.
    requantize : {"spec", "onnx_reference", "onnxruntime"}
        Exact real arithmetic (spec), ``onnx.reference``'s float64 product of
        a rounded multiplier, or ONNX Runtime's float32 arithmetic (module notes).
    overflow : {"wrap", "raise"}
        The int32 accumulator, as in :func:`matmul_integer`.

    Returns
    -------
    ndarray of ``y_zero_point``'s dtype, shape ``numpy.matmul``'s.

    Notes
    -----
    .. math:: y = \\mathrm{clip}\\Big(\\mathrm{rne}\\Big(\\frac{s_a s_b}{s_y}\\,
              \\sum_k (a_k - z_a)(b_k - z_b)\\Big) + z_y,\\ q_{min}, q_{max}\\Big)

    Source: ONNX operator QLinearMatMul (opsets 10, 21): "y = saturate((x /
    y_scale) + y_zero_point) ... rounding to nearest ties to even", with ``x``
    the real product of the dequantized inputs. ``"spec"`` is exact: the
    product with the multiplier is formed in float64 (error below 2**-41 where
    it matters) and the few results within 2**-36 of a half are decided with
    :class:`fractions.Fraction`.

    Examples
    --------
    ``m = 0.5 * 0.25 / 1 = 1/8``; ``acc = [[12, 20, 4]]``, ``acc/8 = 1.5, 2.5, 0.5``
    round to even (2, 2, 0), plus 10:

    >>> a = np.array([[2, 4]], np.int8)
    >>> b = np.array([[2, 4, 2], [2, 3, 0]], np.int8)
    >>> h = np.float32
    >>> qlinear_matmul(a, h(0.5), np.int8(0), b, h(0.25), np.int8(0), h(1), np.int8(10)).tolist()
    [[12, 12, 10]]
    """
    check_choice("requantize", requantize, REQUANTIZE)
    check_choice("overflow", overflow, OVERFLOW)
    a, b = _quantized("a", a), _quantized("b", b)
    sa, za = _parameter("a", a_scale, a_zero_point, a)
    sb, zb = _parameter("b", b_scale, b_zero_point, b)
    sy = _scale("y_scale", y_scale)
    zy, out = _output_zero_point(y_zero_point)
    if sy.size != 1 or sy.ndim > 1:
        raise ValueError(f"y_scale must be per tensor (one element), got shape {sy.shape}")
    _same_scale_dtype(requantize, sa, sb, sy)
    acc = _accumulate(a, b, za, zb, overflow)
    m = None
    if requantize == "onnxruntime":  # float16 scales: ORT casts them to float32 (exactly) for its kernel
        try:
            m = requantization_multiplier(sa, sb, sy, arithmetic="float32")
        except ValueError as e:
            raise ValueError(f"a_scale * b_scale / y_scale, ONNX Runtime's float32 multiplier: {e}") from None
    elif requantize == "onnx_reference":
        m = sa * sb / sy  # in the scales' dtype, as onnx.reference computes it
    return _requantize(acc, (sa, sb), sy.reshape(()), zy, out, requantize, m)


def qgemm(
    a: NDArray[Any],
    a_scale: ArrayLike,
    a_zero_point: ArrayLike,
    b: NDArray[Any],
    b_scale: ArrayLike,
    b_zero_point: ArrayLike | None = None,
    c: NDArray[np.int32] | None = None,
    y_scale: ArrayLike | None = None,
    y_zero_point: NDArray[Any] | None = None,
    *,
    alpha: float = 1.0,
    trans_a: bool = False,
    trans_b: bool = False,
    requantize: str = "spec",
    overflow: str = "wrap",
) -> NDArray[Any]:
    """ORT QGemm (``com.microsoft``): ``Y = alpha * a_scale * b_scale * (A' @ B' + C)``, quantized or float32.

    ``A' = op(a) - a_zero_point`` and ``B' = op(b) - b_zero_point`` with ``op``
    the transpose when ``trans_a`` / ``trans_b``; the sum and ``C`` in int32.

    Parameters
    ----------
    a : ndarray of int8 or uint8, shape (M, K), or (K, M) if ``trans_a``
    a_scale, a_zero_point : per tensor (one element); ``a``'s type for the zero point
    b : ndarray of int8 or uint8, shape (K, N), or (N, K) if ``trans_b``
    b_scale, b_zero_point : per tensor or ``N``-vectors (one per column of ``op(b)``), one
        shape (ORT's rule); ``b_zero_point`` defaults to 0
    c : ndarray of int32, optional
        Bias in units of ``alpha * a_scale * b_scale``, broadcastable to (M, N).
    y_scale, y_zero_point : optional, per tensor; both or neither
        With them the output is quantized (``y_zero_point``'s dtype), without
        them it is float32.
    alpha : float
        float32 attribute (finite).
    trans_a, trans_b : bool
    requantize : {"spec", "onnxruntime"}
        Exact (the multiplier ``alpha * a_scale * b_scale / y_scale`` exact, one
        rounding: to an integer, or to float32 for the float output) or ORT's:
        ``m = float32(float32(alpha * a_scale) * b_scale) / y_scale`` in
        float32, then as :func:`qlinear_matmul`'s ``"onnxruntime"`` (float
        output: ``float32(acc + c) * m``).
    overflow : {"wrap", "raise"}

    Returns
    -------
    ndarray of shape (M, N): ``y_zero_point``'s dtype, or float32.

    Notes
    -----
    .. math:: Y = \\alpha\\, s_a s_b \\big(\\textstyle\\sum_k (a_{mk} - z_a)(b_{kn} - z_{b,n}) + C_{mn}\\big),
              \\quad y = \\mathrm{clip}(\\mathrm{rne}(Y / s_y) + z_y)

    Source: ONNX Runtime contrib operator QGemm (``com.microsoft``, version 1;
    ``contrib_ops/cpu/quantization/quant_gemm.cc``). The schema says ``C`` has
    scale ``alpha / beta * a_scale * b_scale`` but QGemm has no ``beta``;
    ``beta = 1`` is what the kernel does. ORT departs with ``K = 0`` and a
    bias (float output: ``C``'s int32 bits read as float32; quantized:
    uninitialized codes), and returns float32 ``Y / y_scale`` for a
    ``y_scale`` without ``y_zero_point`` (refquant raises).

    Examples
    --------
    ``acc = [[1*2 + 2*3]] = [[8]]``, plus ``c = 4``, times ``0.5 * 0.5 = 0.25``: 3.0;
    over ``y_scale = 2`` it is the tie 1.5, which rounds to 2:

    >>> a, b = np.array([[1, 2]], np.uint8), np.array([[2], [3]], np.uint8)
    >>> one = np.float32(0.5)
    >>> qgemm(a, one, np.uint8(0), b, one, np.uint8(0), np.array([4], np.int32)).tolist()
    [[3.0]]
    >>> qgemm(a, one, np.uint8(0), b, one, None, np.array([4], np.int32), np.float32(2), np.uint8(0)).tolist()
    [[2]]
    """
    check_choice("requantize", requantize, ("spec", "onnxruntime"))
    check_choice("overflow", overflow, OVERFLOW)
    a, b = _quantized("a", a), _quantized("b", b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b must be 2-D (Gemm), got shapes {a.shape} and {b.shape}")
    a = a.T if check_bool("trans_a", trans_a) else a
    b = b.T if check_bool("trans_b", trans_b) else b
    alpha32 = np.float32(_finite_real("alpha", alpha))
    sa, za = _parameter("a", a_scale, a_zero_point, a, per_tensor=True)
    if np.ndim(b_scale) > 1:
        raise ValueError(f"b_scale must be a scalar or an N-vector, got shape {np.shape(b_scale)}")
    zp_b = np.zeros(np.shape(b_scale), b.dtype) if b_zero_point is None else b_zero_point
    sb, zb = _parameter("b", b_scale, zp_b, b, per_tensor=None)
    if (y_scale is None) != (y_zero_point is None):
        raise ValueError(
            "y_scale and y_zero_point must be given together (quantized output) or not at all, "
            f"got y_scale={y_scale!r}, y_zero_point={y_zero_point!r}"[:300]
        )
    sy = None if y_scale is None else _scale("y_scale", y_scale)
    if sy is not None and (sy.size != 1 or sy.ndim > 1):
        raise ValueError(f"y_scale must be per tensor (one element), got shape {sy.shape}")
    _same_scale_dtype("qgemm", sa, sb, *(() if sy is None else (sy,)))
    acc = _accumulate(a, b, za, zb, overflow)
    if c is not None:
        acc = _wrap(acc.astype(np.int64) + _bias(c, acc.shape), overflow)
    factors = (np.asarray(alpha32), sa, sb)
    if sy is None:
        return _to_float32(acc, factors, requantize)
    zy, out = _output_zero_point(y_zero_point)
    m = _multiplier(factors, sy) if requantize == "onnxruntime" else None
    return _requantize(acc, factors, sy.reshape(()), zy, out, requantize, m)


# ---------------------------------------------------------------- validation


def _quantized(name: str, x: Any) -> NDArray[Any]:
    if not isinstance(x, (np.ndarray, np.generic)) or x.dtype not in _RANGE:
        got = f"dtype {x.dtype}" if isinstance(x, (np.ndarray, np.generic)) else type(x).__name__
        what = "a NumPy int8 or uint8 array of at least one dimension (its dtype is the ONNX type)"
        raise TypeError(f"{name} must be {what}, got {got}: {x!r}"[:300])
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (a matrix product), got a 0-d array")
    return arr


def _layout(name: str, v: NDArray[Any], x: NDArray[Any], side: str) -> NDArray[Any]:
    """``v`` shaped to broadcast against ``x``: () per tensor, (..., M, 1) per row, (..., 1, N) per column."""
    if v.size == 1 and v.ndim <= 1:
        return v.reshape(())
    if v.ndim == 1 and side == "a" and x.ndim == 2 and v.shape[0] == x.shape[0]:
        return v.reshape(-1, 1)
    if v.ndim == 1 and side == "b" and x.ndim >= 2 and v.shape[0] == x.shape[-1]:
        return v
    want = list(x.shape)
    if x.ndim >= 2:
        want[-1 if side == "a" else -2] = 1
    fits = all(d in (1, w) for d, w in zip(v.shape[::-1], want[::-1], strict=False))
    if x.ndim >= 2 and 2 <= v.ndim <= x.ndim and fits:
        return v
    row = "per row (M for a 2-D a, or (..., M, 1))" if side == "a" else "per column (N, or (..., 1, N))"
    raise ValueError(
        f"{name} of shape {v.shape} is neither per tensor nor {row} for {side} of shape {x.shape}"
    )


def _zero_point(name: str, zp: Any, x: NDArray[Any], side: str) -> NDArray[np.int64]:
    if zp is None:
        return np.zeros((), np.int64)
    if isinstance(zp, (np.ndarray, np.generic)) and zp.dtype != x.dtype:
        got = f"dtype {zp.dtype}: {show_values(zp)}"
        raise TypeError(f"{name} must have {side}'s type {x.dtype} (ONNX: one type), got {got}")
    z = as_int_array(name, zp)
    lo, hi = _RANGE[x.dtype]
    if z.size and (z.min() < lo or z.max() > hi):
        bad = show_values(z[(z < lo) | (z > hi)])
        raise ValueError(f"{name} must lie in [{lo}, {hi}] ({side}'s type {x.dtype}), got {bad}")
    return _layout(name, z, x, side)


def _scale(name: str, s: Any) -> NDArray[Any]:
    if isinstance(s, (bool, np.bool_)) or (isinstance(s, np.ndarray) and s.dtype == bool):
        raise TypeError(f"{name} must be a float scale, got the bool {s!r}")
    if isinstance(s, (np.ndarray, np.generic)) and s.dtype == np.float16:
        arr = np.asarray(s)
    else:
        given = as_float_array(name, s)
        check_scale(name, given)
        with np.errstate(over="ignore", under="ignore"):
            arr = given.astype(np.float32)
        check_scale_cast(name, given, arr)
    check_scale(name, arr)
    return arr


def _parameter(
    side: str, scale: Any, zp: Any, x: NDArray[Any], per_tensor: bool | None = False
) -> tuple[NDArray[Any], NDArray[np.int64]]:
    s = _scale(f"{side}_scale", scale)
    z = _zero_point(f"{side}_zero_point", zp, x, side)
    if per_tensor is None and (s.size > 1 or z.size > 1) and s.shape != np.shape(zp):  # QGemm's b: ORT's rule
        raise ValueError(
            f"{side}_scale and {side}_zero_point must have one shape, got {s.shape}, {np.shape(zp)}"
        )
    if per_tensor and (s.size != 1 or s.ndim > 1 or z.ndim):
        got = f"shapes {s.shape} and {np.shape(zp)}"
        raise ValueError(
            f"{side}_scale and {side}_zero_point must be per tensor here (one element), got {got}"
        )
    return _layout(f"{side}_scale", s, x, side), z


def _output_zero_point(zp: Any) -> tuple[int, np.dtype[Any]]:
    if not isinstance(zp, (np.ndarray, np.generic)) or zp.dtype not in _RANGE:
        raise TypeError(f"y_zero_point must be a NumPy int8 or uint8 array (y's type), got {zp!r}"[:300])
    if zp.size != 1 or zp.ndim > 1:
        raise ValueError(f"y_zero_point must be per tensor (one element), got shape {zp.shape}")
    return int(np.asarray(zp).reshape(())), zp.dtype


def _same_scale_dtype(requantize: str, *scales: NDArray[Any]) -> None:
    kinds = {s.dtype.name for s in scales}
    got = ", ".join(f"{n}_scale {s.dtype}" for n, s in zip("aby", scales, strict=False))
    if len(kinds) > 1:
        raise TypeError(f"the scales must share one float type (ONNX TS), got {got}")
    if requantize == "qgemm" and kinds != {"float32"}:
        raise TypeError(f"QGemm's scales (type T) must be float32, got {got}")


def _finite_real(name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    with np.errstate(over="ignore"):
        v32 = np.float32(v)
    if not math.isfinite(float(v)) or not math.isfinite(float(v32)):
        raise ValueError(f"{name} must be finite (as float32), got {v!r}")
    return float(v)


def _bias(c: Any, shape: tuple[int, ...]) -> NDArray[np.int64]:
    if not isinstance(c, (np.ndarray, np.generic)) or c.dtype != np.int32:
        raise TypeError(f"c must be a NumPy int32 array (QGemm's TC), got {c!r}"[:300])
    arr = np.asarray(c, np.int64)
    if arr.ndim > 2 or any(d not in (1, w) for d, w in zip(arr.shape[::-1], shape[::-1], strict=False)):
        raise ValueError(f"c of shape {arr.shape} is not unidirectionally broadcastable to (M, N) = {shape}")
    return arr


# ---------------------------------------------------------------- arithmetic


def _wrap(acc: NDArray[np.int64], overflow: str) -> NDArray[np.int64]:
    if not acc.size or (acc.min() >= -(2**31) and acc.max() < 2**31):
        return acc
    wrapped = (acc + 2**31) % 2**32 - 2**31
    if overflow == "raise":
        raise ValueError(f"the int32 accumulator overflows: {show_values(acc[wrapped != acc])}")
    return wrapped


def _accumulate(
    a: NDArray[Any], b: NDArray[Any], za: NDArray[np.int64], zb: NDArray[np.int64], overflow: str
) -> NDArray[Any]:
    """The exact sums of ``(a - za) (b - zb)`` wrapped to int32, in the dtype BLAS (or int64) gave them."""
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        ok = a.shape[-1] == k_b
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"a of shape {a.shape} and b of shape {b.shape} do not multiply (numpy.matmul)")
    za_rows = za[..., 0] if za.ndim else za  # (..., M, 1) -> (..., M): integer_matmul's per-row layout
    zb_cols = zb[..., 0, :] if zb.ndim > 1 else zb  # (..., 1, N) -> (..., N)
    acc = _exact_sums(a, b, za_rows, zb_cols, "int64")  # exact integers, in float32, float64 or int64
    if k_b * 255 * 255 < 2**31:  # |a - za|, |b - zb| <= 255: within int32, used as computed
        return acc
    return _wrap(acc.astype(np.int64), overflow)


def _multiplier(factors: tuple[NDArray[Any], ...], sy: NDArray[Any] | None) -> NDArray[Any]:
    """QGemm's float32 multiplier, in ORT's order: ``(alpha * a_scale) * b_scale / y_scale``."""
    with np.errstate(over="ignore", under="ignore"):
        m = factors[0] * factors[1] * factors[2]
        m = m if sy is None else m / sy
    if not np.all(np.isfinite(m)):
        raise ValueError(
            f"alpha * a_scale * b_scale / y_scale overflows float32 (ORT's multiplier): {show_values(m)}"
        )
    return m


def _requantize(
    acc: NDArray[Any],
    factors: tuple[NDArray[Any], ...],
    sy: NDArray[Any],
    zy: int,
    out: np.dtype[Any],
    how: str,
    m: NDArray[Any] | None,
) -> NDArray[Any]:
    """``saturate(rne(acc * prod(factors) / sy) + zy)`` in the semantics ``how`` (``m``: the kernel's)."""
    if acc.ndim == 0:  # a 1-D a times a 1-D b
        return _requantize(acc.reshape(1), factors, sy, zy, out, how, m).reshape(())
    lo, hi = _RANGE[out]
    if how == "spec":
        return _round_exact(acc, factors, sy, zy, out)
    if how == "onnxruntime":
        # refquant.integer's float32 requantization (MLAS); a multiplier <= 0 (QGemm's alpha) by symmetry:
        # fl(x * -m) = -fl(x * m), and rounding half to even is an odd function
        assert m is not None
        if np.all(m > 0):
            y = _float_requantize(acc, m, np.asarray(zy, np.int64), lo, hi, "half_even")
            return y.astype(out, copy=False)
        pos = np.where(m == 0, np.float32(1), np.abs(m)).astype(np.float32)
        r = requantize_float(acc.astype(np.int64), pos, 0, -(2**31), 2**31 - 1).astype(np.int64)
        q = np.sign(m).astype(np.int64) * r + zy
    else:
        assert m is not None
        q = np.rint(acc.astype(np.float64) * m.astype(np.float64) + zy)  # float64, zy added before rint
    return np.asarray(np.clip(q, lo, hi)).astype(out)


def _round_exact(
    n: NDArray[Any], factors: tuple[NDArray[Any], ...], sy: NDArray[Any], zy: int, out: np.dtype[Any]
) -> NDArray[Any]:
    """``saturate(rne(n * prod(factors) / sy) + zy)`` exactly in ``out`` (``n``: integers in a real dtype).

    ``t = n * m64`` in float64, ``m64`` from at most two roundings and ``t``
    one more: ``|t - exact| < 4 * 2**-53 * |exact|``, below ``2**-41`` when
    ``|t| <= 2**10`` (beyond, every output saturates). So ``rint(t)`` is
    exact unless ``t`` lies within ``2**-36`` of a half (``|t - rint(t)| >=
    1/2 - 2**-36``, a difference float64 forms exactly); such a ``t`` is still
    exact if ``m64`` is the exact multiplier and ``n * m64`` was not rounded
    (an FMA residual of 0); the rest are rounded as :class:`fractions.Fraction`.
    In cache-sized blocks; clamping to ``[qmin - zy, qmax - zy]`` before
    adding ``zy`` is exact (integers).
    """
    lo, hi = _RANGE[out]
    m64 = _product64(factors) / sy.astype(np.float64)
    shape = np.broadcast_shapes(n.shape, m64.shape)
    res = np.empty(shape, out)
    nb, mb = np.broadcast_to(n, shape), np.broadcast_to(m64, shape)
    m_ok = None
    for blk in _blocks(shape):
        t = np.multiply(nb[blk], mb[blk], dtype=np.float64)
        q = np.rint(t)
        d = t - q
        if d.size and np.abs(d, out=d).max() >= 0.5 - 2.0**-36:  # one reduction: the suspects are rare
            idx = np.nonzero((d >= 0.5 - 2.0**-36) & (np.abs(t) <= _CAP))
            if m_ok is None:  # whether m64 is prod(factors) / sy exactly, in the multiplier's own shape
                vs = zip(*(f.ravel() for f in np.broadcast_arrays(*factors, sy, m64)), strict=True)
                m_ok = np.reshape([_frac(v[:-2]) / _frac(v[-2:-1]) == _frac(v[-1:]) for v in vs], m64.shape)
            n_i, t_i = nb[blk][idx], t[idx]
            fma = fma_float64(n_i.astype(np.float64), mb[blk][idx], -t_i)
            exact = np.broadcast_to(m_ok, shape)[blk][idx] & (fma == 0)
            cols = [np.broadcast_to(f, shape)[blk][idx] for f in (*factors, sy)]
            for i in np.nonzero(~exact)[0]:
                m = _frac([c[i] for c in cols[:-1]]) / Fraction(float(cols[-1][i]))
                q[tuple(j[i] for j in idx)] = max(-_CAP, min(_CAP, round(Fraction(int(n_i[i])) * m)))
        np.clip(q, lo - zy, hi - zy, out=q)
        np.add(q, float(zy), out=res[(*blk, ...)], casting="unsafe")  # + zy (exact: integers), the cast
    return res


def _to_float32(acc: NDArray[np.int64], factors: tuple[NDArray[Any], ...], how: str) -> NDArray[np.float32]:
    """``acc * prod(factors)`` rounded to float32: once, exactly (``"spec"``), or ORT's float32 steps."""
    if how == "onnxruntime":
        return np.asarray(acc.astype(np.float32) * _multiplier(factors, None), np.float32)  # MLAS, float32
    t = np.asarray(acc * _product64(factors))  # two roundings: within 3 float64 ulps of the exact value
    with np.errstate(over="ignore"):
        r = t.astype(np.float32)
    low = (np.abs(t).view(np.uint64) & _LOW29).astype(np.int64) - (1 << 28)
    suspect = (t != 0) & ((np.abs(low) <= 4) | (np.abs(t) < 2.0**-125))
    for i in zip(*np.nonzero(suspect), strict=True):
        fr = Fraction(int(acc[i])) * _frac([np.broadcast_to(f, t.shape)[i] for f in factors])
        r[i] = _float32_of(fr)
    return r


def _product64(factors: tuple[NDArray[Any], ...]) -> NDArray[np.float64]:
    p = factors[0].astype(np.float64) * factors[1].astype(np.float64)  # exact: 48 bits at most
    return p * factors[2].astype(np.float64) if len(factors) > 2 else p


def _frac(values: Any) -> Fraction:
    p = Fraction(1)
    for v in values:
        p *= Fraction(float(v))
    return p


def _float32_of(fr: Fraction) -> np.float32:
    """The float32 nearest to ``fr`` (ties to even; subnormals; ``±inf`` beyond the overflow threshold)."""
    mag = abs(fr)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    e = max(e - 1 if mag < Fraction(2) ** e else e, -126) - 23  # the float32 quantum at |fr|: 2**e
    k = round(mag / Fraction(2) ** e)
    value = math.inf if k * Fraction(2) ** e >= 2**128 else math.ldexp(k, e)
    return np.float32(math.copysign(value, fr))
