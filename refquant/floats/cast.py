"""Casts onto a float format's grid, and the format's bit patterns (``encode``/``decode``).

:func:`cast` rounds float32 or float64 values once, directly onto the grid
of a :class:`~refquant.floats.spec.FloatFormat` (no double rounding through
float32), and returns them in the input's float type. Out-of-range values,
infinities and NaN follow one of two documented rule sets:

``saturate=False`` (default): exactly ``x.astype(ml_dtypes.<fmt>)``.

=================  ===============  ============  ===========================
format kind        ``|[x]| > max``  ``±inf``      NaN
=================  ===============  ============  ===========================
ieee (bf16, f16,   ±inf             ±inf          NaN (x's sign)
e4m3, e5m2, e3m4)
fn (e4m3fn)        NaN (x's sign)   NaN           NaN (x's sign)
fnuz               NaN              NaN           NaN (the one code, 0x80)
none (fp6, fp4)    ±max             ±max          a zero of the opposite sign
e8m0               NaN              NaN           NaN; also 0 and x < 0
=================  ===============  ============  ===========================

``saturate=True``: the ONNX rule for Cast and QuantizeLinear (the
``saturate`` attribute, opset 19+): ``|[x]| > max`` and ``±inf`` become
``±max`` in every format, NaN stays NaN (fp6/fp4 as above). For e8m0:
``+inf`` and values above ``2**127`` become ``2**127``; 0, ``-0`` and
negative values become ``2**-127``, as ml_dtypes' saturating conversion and
ONNX's "saturate + up" table for FLOAT8E8M0 do.

A NaN result is the quiet NaN (its sign as the table says); NumPy's own
float16 cast keeps the top bits of a NaN's payload, refquant does not.

``[x]`` is the value rounded with ``rounding`` (any of
:data:`refquant.rounding.ROUNDING_MODES`; ties and directions as there).
fnuz formats have no -0: negative values that round to zero give +0. e8m0
has no mantissa bits: "nearest" rounds ``1.5 * 2**k`` up (ml_dtypes, and
ONNX's ``round_mode="nearest"``), so ``half_even``, ``half_away`` and
``half_up`` all round ties up (``half_down`` rounds them down); ``ceil`` is ONNX's ``round_mode="up"``,
``floor``/``trunc`` its ``"down"``; every positive value below ``2**-127``
becomes ``2**-127`` (the grid has nothing smaller; ml_dtypes does the same).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, as_int_array, check_bool, check_choice, show_values
from refquant.floats._kernels import quiet_nan_sign, round_to_format
from refquant.floats.spec import FloatFormat, float_format
from refquant.rounding import ROUNDING_MODES

__all__ = ["cast", "decode", "encode"]


def cast(
    x: ArrayLike,
    fmt: str | FloatFormat,
    *,
    saturate: bool = False,
    rounding: str = "half_even",
    rng: np.random.Generator | None = None,
) -> NDArray[np.floating[Any]]:
    """Round ``x`` onto the grid of the float format ``fmt``, once: ``y = [x]``.

    Parameters
    ----------
    x : array_like of float, any shape
        float32 or float64 values (float16 is computed as float32 and integers
        as float64, both exactly).
    fmt : str or FloatFormat
        A name of :data:`refquant.floats.FLOAT_FORMATS` (the ml_dtypes names:
        ``"float8_e4m3fn"``, ``"bfloat16"``, ``"float4_e2m1fn"``, ...).
    saturate : bool
        False: overflow, inf and NaN exactly as ``x.astype(ml_dtypes.<fmt>)``;
        True: as the ONNX spec's ``saturate=1`` (module docstring's tables).
    rounding : str
        One of :data:`refquant.rounding.ROUNDING_MODES`; ``"half_even"`` is
        IEEE round-to-nearest-even, what ml_dtypes, PyTorch and ONNX do;
        ``"trunc"`` is round toward zero; ``"stochastic"`` rounds up with
        probability equal to the distance to the grid value below, in units
        of the grid step, and needs ``rng``.
    rng : numpy.random.Generator, optional
        Required for ``rounding="stochastic"`` (and ignored otherwise): it
        draws the numbers of ``rng.random(x.size)``, one per element in C
        order (chunk by chunk, so without a second array of ``x``'s size).

    Returns
    -------
    ndarray
        ``x``'s shape, float32 (float64 for float64 and integer inputs): each
        value exactly on ``fmt``'s grid, or ±inf/NaN by the tables.

    Notes
    -----
    With ``m`` mantissa bits, bias ``b`` and ``emin = 1 - b``, the grid step in
    the binade of ``x`` is ``q = 2**(max(floor(log2|x|), emin) - m)``, and
    ``[x] = q * R(x / q)`` with ``R`` the rounding mode; ``x / q`` and the
    product are exact (``q`` is a power of two), so there is one rounding.
    ``"half_even"`` takes a faster, equally exact path: integer arithmetic on
    the IEEE bit pattern of ``x`` (add half an ulp minus one plus the kept
    lowest bit, clear the dropped bits) for the normal range, and
    ``(|x| + M) - M`` with ``M = min_subnormal * 2**p`` (``p`` = 23 or 52),
    whose ulp is the target's subnormal step, for the subnormal range.
    Both run over chunks of 65,536 elements: the peak extra memory is the
    output and a few chunk-sized temporaries.

    Sources: IEEE 754-2019 sections 4.3 and 7.4; OCP OFP8 rev. 1.0 and OCP
    MX v1.0 section 5.3 for the formats; ml_dtypes' ``ConvertImpl``
    (``ml_dtypes/include/float8.h``) for the non-saturating semantics
    (tested against ``ml_dtypes`` on every 16-bit pattern and on every
    midpoint of every format); the ONNX Cast operator (opsets 19-25) for
    saturation.

    Examples
    --------
    >>> cast([1.0625, 1.1875, 300.0, 500.0, -1e-3], "float8_e4m3fn").tolist()
    [1.0, 1.25, 288.0, nan, -0.001953125]
    >>> cast([500.0, float("inf")], "float8_e4m3fn", saturate=True).tolist()
    [448.0, 448.0]
    >>> cast([0.25, 0.75, 5.0, 7.0], "float4_e2m1fn").tolist()
    [0.0, 1.0, 4.0, 6.0]
    >>> cast([1.1875], "float8_e4m3fn", rounding="trunc").tolist()
    [1.125]
    """
    f, arr = _prepare(x, fmt, saturate, rounding, rng)
    out = np.empty(arr.shape, arr.dtype)
    draws = rng if rounding == "stochastic" else None
    round_to_format(np.ascontiguousarray(arr), out, f, bool(saturate), rounding, draws)
    return out


def _prepare(
    x: ArrayLike, fmt: Any, saturate: Any, rounding: Any, rng: Any
) -> tuple[FloatFormat, NDArray[Any]]:
    f = float_format(fmt)
    arr = as_float_array("x", x)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {arr.dtype}")
    check_bool("saturate", saturate)
    check_choice("rounding", rounding, ROUNDING_MODES)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if rounding == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for rounding='stochastic', got None")
    return f, arr


def encode(
    x: ArrayLike,
    fmt: str | FloatFormat,
    *,
    saturate: bool = False,
    rounding: str = "half_even",
    rng: np.random.Generator | None = None,
) -> NDArray[np.unsignedinteger[Any]]:
    """The bit patterns (codes) of ``cast(x, fmt, ...)``.

    Parameters
    ----------
    x, fmt, saturate, rounding, rng
        As :func:`cast`.

    Returns
    -------
    ndarray of uint8 or uint16
        ``x``'s shape; ``fmt.storage`` (uint8 for widths up to 8 bits, one
        code per element, in the low bits for fp6 and fp4; uint16 for
        bfloat16 and float16). The code layout is sign | exponent | mantissa;
        a NaN is the code ml_dtypes writes: the quiet NaN with ``x``'s sign
        (ieee: exponent all ones and the top mantissa bit; fn: S.1111.111),
        0x80 for fnuz and 0xFF for e8m0.

    Notes
    -----
    For a grid value ``v`` with ``|v| >= min_normal`` the magnitude code is
    ``(E + b) << m | M`` from ``v``'s own IEEE fields; below it, ``|v| /
    min_subnormal``. ``decode(encode(v)) == v`` for every value of the
    format (tests enumerate all codes).

    Examples
    --------
    >>> [hex(c) for c in encode([1.0, -2.0, 448.0, float("nan")], "float8_e4m3fn")]
    ['0x38', '0xc0', '0x7e', '0x7f']
    >>> encode([6.0, -0.5], "float4_e2m1fn").tolist()
    [7, 9]
    """
    f = float_format(fmt)
    v = cast(x, f, saturate=saturate, rounding=rounding, rng=rng)
    return _codes_of_values(v, f)


def _codes_of_values(v: NDArray[Any], f: FloatFormat) -> NDArray[Any]:
    v64 = v.astype(np.float64)
    a = np.abs(v64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if f.special == "e8m0":
            mag = np.log2(a) + f.bias
        else:
            frac, e = np.frexp(a)  # a = frac * 2**e
            biased = e - 1 + f.bias
            normal_code = biased * 2**f.mantissa_bits + (2 * frac - 1) * 2**f.mantissa_bits
            mag = np.where(a >= f.min_normal, normal_code, a / f.min_subnormal)
        mag = np.where(np.isfinite(mag), mag, 0)
    codes = mag.astype(np.int64)
    if f.signed:
        negative = np.signbit(v64) & (a > 0 if f.special == "fnuz" else True)
        codes |= np.where(negative, f.sign_mask, 0)
    if f.has_inf:
        codes = np.where(np.isinf(v64), np.where(v64 < 0, f.inf_codes[1], f.inf_codes[0]), codes)
    if f.has_nan:
        nan = np.isnan(v64)
        if f.special in ("ieee", "fn"):
            quiet = _quiet_nan_code(f)
            nan_code = np.where(np.signbit(v64), quiet | f.sign_mask, quiet)
        else:
            nan_code = np.full(v64.shape, f.nan_codes[0])
        codes = np.where(nan, nan_code, codes)
    return codes.astype(f.storage)


def _quiet_nan_code(f: FloatFormat) -> int:
    if f.special == "fn":
        return f.nan_codes[0]
    return ((2**f.exponent_bits - 1) << f.mantissa_bits) | (1 << (f.mantissa_bits - 1))


def decode(codes: ArrayLike, fmt: str | FloatFormat, *, dtype: Any = np.float32) -> NDArray[np.floating[Any]]:
    """The values of the codes (bit patterns) of ``fmt``.

    Parameters
    ----------
    codes : array_like of int, any shape
        Integers in ``[0, 2**fmt.bits)`` (any integer dtype, or floats holding
        integers); others raise ``ValueError`` naming the codes.
    fmt : str or FloatFormat
        As :func:`cast`.
    dtype : float32 or float64
        The output type; every value of every format is exact in both.

    Returns
    -------
    ndarray
        ``codes``' shape, ``dtype``: the value, ±inf, or NaN (with the sign
        ml_dtypes gives it: the code's sign bit for ieee/fn, negative for the
        fnuz NaN 0x80, positive for e8m0's 0xFF).

    Notes
    -----
    A table of all ``2**bits`` values built once per format from the fields
    (:class:`~refquant.floats.spec.FloatFormat`), then indexed.

    Examples
    --------
    >>> decode([0x38, 0xC0, 0x7E, 0x7F], "float8_e4m3fn").tolist()
    [1.0, -2.0, 448.0, nan]
    >>> decode([0, 127, 128], "float8_e8m0fnu").tolist()
    [5.877471754111438e-39, 1.0, 2.0]
    """
    f = float_format(fmt)
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    c = as_int_array("codes", codes)
    bad = (c < 0) | (c >= 2**f.bits)
    if bad.any():
        raise ValueError(f"codes must be in [0, {2**f.bits}) for {f.name}, got {show_values(c[bad])}")
    return _table(f.name if f == float_format(f.name, "fmt") else f, out_dtype.str)[c]


@cache
def _table(fmt: Any, dtype: str) -> NDArray[Any]:
    f = float_format(fmt)
    if np.dtype(dtype) == np.float64:  # every value is exact in float32; NaNs widen as NumPy widens them
        with np.errstate(invalid="ignore"):  # a signaling NaN is quieted
            table = _table(fmt, np.dtype(np.float32).str).astype(np.float64)
        table.setflags(write=False)
        return table
    codes = np.arange(2**f.bits)
    mags = _magnitudes(f, codes & ~f.sign_mask)
    neg = (codes & f.sign_mask) > 0
    table = np.where(neg, -mags, mags).astype(np.float32)
    nan = np.isnan(mags)
    if f.special == "fnuz":
        nan = codes == f.sign_mask
    bits = table.view(np.uint32)
    bits[nan] = np.where(
        np.asarray(quiet_nan_sign(f, neg)) & np.ones(codes.shape, bool), 0xFFC00000, 0x7FC00000
    )[nan]
    if f.special == "ieee" and f.bits == 16:  # widening keeps the payload (bf16: bits << 16; f16: NumPy)
        payload = (codes & (2**f.mantissa_bits - 1)) << (23 - f.mantissa_bits)
        bits[nan] = ((neg.astype(np.uint32) << 31) | 0x7F800000 | payload)[nan]
    table.setflags(write=False)
    return table


def _magnitudes(f: FloatFormat, c: NDArray[np.int64]) -> NDArray[np.float64]:
    """The value of each magnitude code (sign bit cleared), NaN and inf included; exact in float64."""
    m = f.mantissa_bits
    e, frac = c >> m, (c & (2**m - 1)) / 2**m
    if f.special == "e8m0":
        mags = np.ldexp(1.0, e - f.bias)
    else:
        mags = np.where(e == 0, np.ldexp(frac, 1 - f.bias), np.ldexp(1 + frac, e - f.bias))
    mags[np.isin(c, f.inf_codes)] = np.inf
    mags[
        np.isin(c, f.nan_codes) | np.isin(c | f.sign_mask, f.nan_codes[-1:] if f.special == "fn" else ())
    ] = np.nan
    return mags
