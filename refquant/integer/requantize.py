"""Requantization: int32 accumulators to output codes, through a fixed-point or a float multiplier.

An integer layer ends with ``y = clamp(R(acc * M) + z_out, qmin, qmax)``,
``M = s_in * s_w / s_out`` (Jacob et al. 2018, eq. 5-7). The systems differ in
how ``M`` is computed and applied:

* fixed point (:func:`requantize_fixed`): ``M`` as a Q0.31 multiplier and a
  shift (:func:`~refquant.integer.fixedpoint.quantize_multiplier`), applied by
  :func:`~refquant.integer.fixedpoint.multiply_by_quantized_multiplier` --
  TFLite's integer kernels and gemmlowp/ruy;
* float (:func:`requantize_float`): ``M`` as a float, ``acc`` converted to that
  float, one product, one rounding -- ONNX Runtime's QLinear kernels (MLAS,
  float32, ties to even), XNNPACK (the same), TFLite's current reference
  kernels (float64, ties away from zero).

:func:`requantization_multiplier` computes ``M`` from the three float32 scales
in each system's order of operations.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, check_int, check_scale, show_values
from refquant.formats import storage_dtype
from refquant.integer._checks import INT32_MAX, INT32_MIN, as_int32, as_integers, as_scale32, broadcast
from refquant.integer.fixedpoint import ROUNDINGS, _mbqm
from refquant.rounding import round_to_integer

__all__ = [
    "ARITHMETICS",
    "requantization_multiplier",
    "requantize_fixed",
    "requantize_float",
]

ARITHMETICS = ("float32", "float64", "float32_product")
_BLOCK = 2**16  # elements per block of the in-place float requantization (a few in L2 at once)
_EXACT = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}  # every integer up to these is exact
FLOAT_ROUNDINGS = ("half_even", "half_away", "half_up", "half_down", "floor", "ceil", "trunc")


def requantization_multiplier(
    input_scale: ArrayLike, weight_scale: ArrayLike, output_scale: ArrayLike, *, arithmetic: str = "float32"
) -> NDArray[np.floating[Any]]:
    """``M = input_scale * weight_scale / output_scale`` in a system's order and precision.

    Parameters
    ----------
    input_scale, weight_scale, output_scale : float or array_like
        The scales, finite and > 0; rounded to float32 first (both ONNX Runtime
        and TFLite store scales as float32). They broadcast (``weight_scale``
        per output channel, typically).
    arithmetic : {"float32", "float64", "float32_product"}
        * ``"float32"``: ``fl32(fl32(s_in * s_w) / s_out)`` -- ONNX Runtime's
          QLinearMatMul / QLinearConv (``output_scales[i] = a_scale * b_scale[i] / y_scale``
          in ``float``) and XNNPACK; returns float32.
        * ``"float64"``: ``(double(s_in) * double(s_w)) / double(s_out)`` -- TFLite's
          ``PopulateConvolutionQuantizationParams`` (per-channel multipliers) and
          its float-scale reference kernels; returns float64.
        * ``"float32_product"``: ``double(fl32(s_in * s_w)) / double(s_out)`` --
          TFLite's ``GetQuantizedConvolutionMultipler`` (per-tensor multipliers:
          the product of two ``float`` fields is a ``float``); returns float64.

    Returns
    -------
    numpy.ndarray
        float32 or float64 (see above), the broadcast shape.

    Notes
    -----
    .. math::

        M = \\frac{s_{\\text{in}} \\, s_w}{s_{\\text{out}}}

    Each operation rounds to nearest even in its precision. The three orders
    give different last bits of ``M``; through
    :func:`~refquant.integer.fixedpoint.quantize_multiplier` or a float
    product they change an output code only near a rounding boundary.
    Sources: ONNX Runtime ``core/providers/cpu/quantization/quantize_linear_matmul.cc``;
    TensorFlow Lite ``tensorflow/lite/kernels/kernel_util.cc``.

    Examples
    --------
    0.5 * 0.25 / 2 = 0.0625 in every order (powers of two are exact):

    >>> [float(requantization_multiplier(0.5, 0.25, 2.0, arithmetic=a)) for a in ARITHMETICS]
    [0.0625, 0.0625, 0.0625]
    >>> requantization_multiplier(0.1, [0.2, 0.3], 0.7).dtype.name
    'float32'
    """
    check_choice("arithmetic", arithmetic, ARITHMETICS)
    a, b, c = broadcast(
        ("input_scale", "weight_scale", "output_scale"),
        as_scale32("input_scale", input_scale),
        as_scale32("weight_scale", weight_scale),
        as_scale32("output_scale", output_scale),
    )
    with np.errstate(over="ignore", under="ignore"):
        if arithmetic == "float32":
            m: NDArray[Any] = (a * b) / c
        elif arithmetic == "float64":
            m = (a.astype(np.float64) * b.astype(np.float64)) / c.astype(np.float64)
        else:
            m = (a * b).astype(np.float64) / c.astype(np.float64)
    ok = np.isfinite(m) & (m > 0)
    if not np.all(ok):
        raise ValueError(
            f"input_scale * weight_scale / output_scale must be finite and > 0 in {m.dtype}, got "
            f"{show_values(m[~ok])} from input_scale {show_values(a[~ok])}, weight_scale "
            f"{show_values(b[~ok])}, output_scale {show_values(c[~ok])}"
        )
    return m


def _range(zero_point: ArrayLike, qmin: int, qmax: int) -> tuple[NDArray[np.int64], int, int]:
    lo, hi = check_int("qmin", qmin), check_int("qmax", qmax)
    if not lo < hi:
        raise ValueError(f"qmin must be < qmax, got qmin={lo}, qmax={hi}")
    if lo < INT32_MIN or hi > INT32_MAX:
        raise ValueError(f"qmin and qmax must lie in int32's range, got qmin={lo}, qmax={hi}")
    return as_int32("zero_point", zero_point), lo, hi


def requantize_fixed(
    acc: ArrayLike,
    quantized_multiplier: ArrayLike,
    shift: ArrayLike,
    zero_point: ArrayLike,
    qmin: int,
    qmax: int,
    *,
    rounding: str = "double",
) -> NDArray[np.integer[Any]]:
    """``y = clamp(MultiplyByQuantizedMultiplier(acc, q, shift) + zero_point, qmin, qmax)``: TFLite's output.

    Parameters
    ----------
    acc : array_like of int
        The int32 accumulators (bias included), any shape; floats raise ``TypeError``.
    quantized_multiplier, shift : int or array_like of int
        As :func:`~refquant.integer.fixedpoint.quantize_multiplier` returns
        them; they broadcast with ``acc`` (per channel on the last axis).
    zero_point : int or array_like of int
        The output zero point (``output_offset`` in TFLite), int32; broadcasts.
    qmin, qmax : int
        The clamp (the output type's range, or the fused activation's
        ``quantized_activation_min/max``), ``qmin < qmax``, within int32.
    rounding : {"double", "single", "double_up"}
        The fixed-point variant (:func:`~refquant.integer.fixedpoint.multiply_by_quantized_multiplier`).

    Returns
    -------
    numpy.ndarray
        The smallest integer dtype holding ``[qmin, qmax]``
        (:func:`refquant.formats.storage_dtype`), the broadcast shape.

    Notes
    -----
    .. math::

        y = \\operatorname{clamp}\\big(\\operatorname{MBQM}(\\text{acc}, q, \\text{shift}) + z,\\;
        q_{\\min}, q_{\\max}\\big)

    Integer arithmetic only. The sum with the zero point is exact (TFLite adds
    in int32, which cannot overflow for the shifts and accumulators of a real
    layer); the clamp follows the addition, as in every TFLite kernel
    (``reference_integer_ops::FullyConnected``). Errors as
    :func:`~refquant.integer.fixedpoint.multiply_by_quantized_multiplier`.

    Examples
    --------
    ``M = 0.25`` (``q = 2**30``, shift -1), zero point 3, int8 range: 5 * 0.25
    rounds to 2 (double rounding), -2 * 0.25 to -1, 1000 * 0.25 + 3 clamps:

    >>> requantize_fixed([5, -2, 1000], 2**30, -1, 3, -128, 127).tolist()
    [5, 2, 127]
    """
    check_choice("rounding", rounding, ROUNDINGS)
    z, lo, hi = _range(zero_point, qmin, qmax)
    scaled = _mbqm(as_int32("acc", acc), quantized_multiplier, shift, rounding, "acc")
    s64, z = broadcast(("acc", "zero_point"), scaled, z)
    return np.clip(s64 + z, lo, hi).astype(storage_dtype(lo, hi))


def requantize_float(
    acc: ArrayLike,
    multiplier: ArrayLike,
    zero_point: ArrayLike,
    qmin: int,
    qmax: int,
    *,
    rounding: str = "half_even",
) -> NDArray[np.integer[Any]]:
    """``y = clamp(R(float(acc) * M) + zero_point, qmin, qmax)`` in ``M``'s dtype: ONNX Runtime's, XNNPACK's.

    Parameters
    ----------
    acc : array_like of int
        The int32 accumulators (bias included), any shape; floats raise ``TypeError``.
    multiplier : float32 or float64 array_like
        ``M`` (e.g. from :func:`requantization_multiplier`), finite and > 0;
        broadcasts with ``acc``. **Its dtype is the arithmetic**: a float32
        multiplier (ONNX Runtime, XNNPACK) converts ``acc`` to float32 and
        multiplies in float32; a float64 one (TFLite's float-scale reference
        kernels) in float64. Python floats are float64; other dtypes raise
        ``TypeError``.
    zero_point : int or array_like of int
        The output zero point, int32; broadcasts.
    qmin, qmax : int
        The clamp, ``qmin < qmax``, within int32.
    rounding : str
        The rounding of the product: ``"half_even"`` (ONNX Runtime: MLAS
        ``_mm_cvtps_epi32`` / the magic-number add in the default rounding mode;
        XNNPACK), ``"half_away"`` (TFLite's reference kernels, C ``round``), or
        another deterministic mode of :mod:`refquant.rounding`.

    Returns
    -------
    numpy.ndarray
        The smallest integer dtype holding ``[qmin, qmax]``, the broadcast shape.

    Notes
    -----
    .. math::

        y = \\operatorname{clamp}\\big(R(\\operatorname{fl}(\\operatorname{fl}(\\text{acc}) \\cdot M)) + z,\\;
        q_{\\min}, q_{\\max}\\big)

    ``fl`` rounds to ``M``'s dtype (nearest even): in float32 an accumulator
    beyond ``2**24`` is itself rounded before the product (MLAS
    ``_mm_cvtepi32_ps``). MLAS (``MlasRequantizeOutput``) clamps the product to
    ``[qmin - z, qmax - z]`` in float before rounding and adds ``z`` after;
    the bounds are integers, so that equals rounding first and clamping
    ``R(.) + z`` exactly, which is what is computed here (in place in ``M``'s
    dtype where it holds the bounds and zero points exactly, in cache-sized
    blocks, else in int64; no overflow either way). Against the exact
    ``acc * M`` the result is within 1/2 LSB plus the float errors of the
    conversion and the product (a relative ``2**-24`` each in float32).

    Examples
    --------
    ``M = 0.25`` exactly: 5 * 0.25 = 1.25 -> 1; -2 * 0.25 = -0.5 -> 0 (ties to
    even) or -1 (``half_away``); the float32 conversion of ``2**24 + 1`` drops
    its last bit:

    >>> m = np.float32(0.25)
    >>> requantize_float([5, -2, 2**24 + 1], m, 0, -(2**31), 2**31 - 1).tolist()
    [1, 0, 4194304]
    >>> requantize_float([5, -2], 0.25, 0, -128, 127, rounding="half_away").tolist()
    [1, -1]
    """
    check_choice("rounding", rounding, FLOAT_ROUNDINGS)
    z, lo, hi = _range(zero_point, qmin, qmax)
    a = as_integers("acc", acc, INT32_MIN, INT32_MAX, "int32's range [-2**31, 2**31 - 1]", keep_dtype=True)
    if isinstance(multiplier, (bool, np.bool_)):
        raise TypeError(f"multiplier must be a float32 or float64 array, got {multiplier!r}")
    try:
        m = np.asarray(multiplier)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"multiplier must be a rectangular array, got {multiplier!r}"[:300]) from None
    if m.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"multiplier must be float32 (ONNX Runtime, XNNPACK) or float64 (TFLite's reference kernels): "
            f"its dtype is the arithmetic, got dtype {m.dtype}: {show_values(m)}"
        )
    check_scale("multiplier", m)
    broadcast(("acc", "multiplier", "zero_point"), a, m, z)  # the shapes, checked
    return _float_requantize(a, m, z, lo, hi, rounding)


def _blocks(shape: tuple[int, ...], size: int | None = None) -> Iterator[tuple[Any, ...]]:
    """Indices that cover ``shape`` in C order, in blocks of about ``size`` (default ``_BLOCK``) elements.

    The split is along the first axis whose trailing axes hold at most ``size``
    elements, so the number of blocks is about ``prod(shape) / size``.
    """
    size = _BLOCK if size is None else size
    j = 0
    while j < len(shape) and math.prod(shape[j + 1 :]) > size:
        j += 1
    if j == len(shape):
        yield from np.ndindex(*shape)
        return
    step = max(1, size // max(math.prod(shape[j + 1 :]), 1))
    for lead in np.ndindex(*shape[:j]):
        for i in range(0, max(shape[j], 1), step):
            yield (*lead, slice(i, i + step))


def _float_requantize(
    acc: NDArray[Any], m: NDArray[np.floating[Any]], z: NDArray[np.int64], lo: int, hi: int, rounding: str
) -> NDArray[np.integer[Any]]:
    """:func:`requantize_float` on checked arguments; ``acc`` holds exact integers in any real dtype.

    ``fl(acc)`` is the conversion to ``m``'s dtype (nearest even), the same
    for an int32 accumulator and for a float64 or float32 array holding it.
    Where ``m``'s dtype holds every integer in play exactly (``qmin``,
    ``qmax``, ``z`` and ``qmin - z``, ``qmax - z`` within ``2**24`` in
    float32, ``2**53`` in float64), all of it runs in place in that dtype, in
    cache-sized blocks: ``v = fl(acc) * M``, ``R(v)`` (an integer or
    ``±inf``), the clamp to ``[qmin - z, qmax - z]`` (exact: the bounds are
    integers of the dtype), ``+ z`` (an exact sum: an integer in
    ``[qmin, qmax]``), the cast; ``clamp(R + z, qmin, qmax) = clamp(R, qmin
    - z, qmax - z) + z`` in integers. Otherwise through int64, in one piece.
    """
    dt = m.dtype
    shape = np.broadcast_shapes(acc.shape, m.shape, z.shape)
    zlo, zhi = (int(z.min()), int(z.max())) if z.size else (0, 0)
    if max(abs(lo), abs(hi), abs(zlo), abs(zhi), abs(lo - zhi), abs(hi - zlo)) > _EXACT[dt]:
        a, mm, zz = np.broadcast_arrays(acc, m, z)
        with np.errstate(over="ignore"):
            v = a.astype(dt) * mm
        r = round_to_integer(v, rounding)  # type: ignore[arg-type]
        limit = float(2**62)  # integers and powers of two: exact in both dtypes
        r64 = np.clip(r, -limit, limit).astype(np.int64)
        return np.clip(r64 + zz, lo, hi).astype(storage_dtype(lo, hi))
    out = np.empty(shape, storage_dtype(lo, hi))
    a, mm = np.broadcast_to(acc, shape), np.broadcast_to(m, shape)
    if z.ndim:  # per channel: the clamp bounds and the zero point as arrays of the dtype
        zb = (np.broadcast_to((lo - z).astype(dt), shape), np.broadcast_to((hi - z).astype(dt), shape))
        zf = np.broadcast_to(z.astype(dt), shape)
    sig = (dt.char, dt.char, dt.char)  # the loop of dt: inputs converted to dt, arithmetic in dt
    for idx in _blocks(shape):
        v = np.empty(np.shape(a[idx]), dt)
        with np.errstate(over="ignore"):  # fl(acc) in dt, then one product in dt
            np.multiply(a[idx], mm[idx], out=v, signature=sig, casting="unsafe")
        if rounding == "half_even":
            np.rint(v, out=v)
        else:
            round_to_integer(v, rounding, out=v)  # type: ignore[arg-type]
        if z.ndim:
            np.clip(v, zb[0][idx], zb[1][idx], out=v)
            np.add(v, zf[idx], out=out[(*idx, ...)], signature=sig, casting="unsafe")  # + z, cast
        else:
            np.clip(v, lo - zlo, hi - zlo, out=v)
            np.add(v, dt.type(zlo), out=out[(*idx, ...)], signature=sig, casting="unsafe")
    return out
