"""Fixed-point requantization: TFLite's quantized multipliers and gemmlowp's rounding primitives.

An integer kernel rescales its int32 accumulator by a real multiplier
``M = s_in * s_w / s_out`` (Jacob et al. 2018, section 2.2) without floating
point: ``M = q * 2**(shift - 31)`` with ``q`` a Q0.31 fraction in ``[2**30, 2**31)``
(:func:`quantize_multiplier`), applied by an integer multiply and rounding
shifts (:func:`multiply_by_quantized_multiplier`). The primitives are gemmlowp's
(``fixedpoint/fixedpoint.h``): :func:`saturating_rounding_doubling_high_mul`
and :func:`rounding_divide_by_pot`.

Every function here is exact integer arithmetic on int64 arrays: no float is
touched (apart from reading ``real_multiplier``'s bits in
:func:`quantize_multiplier`). Inputs are integer arrays (floats raise
``TypeError``) holding int32 values; outputs are int32 arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, show_values
from refquant.integer._checks import INT32_MAX, INT32_MIN, as_int32, as_multiplier, as_shift, broadcast

__all__ = [
    "ROUNDINGS",
    "QuantizedMultiplier",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

ROUNDINGS = ("double", "single", "double_up")


class QuantizedMultiplier(NamedTuple):
    """``M = quantized_multiplier * 2**(shift - 31)``, as int32 arrays of the real multiplier's shape."""

    quantized_multiplier: NDArray[np.int32]
    shift: NDArray[np.int32]


def quantize_multiplier(real_multiplier: ArrayLike, *, rounding: str = "double") -> QuantizedMultiplier:
    """``M = q * 2**(shift - 31)``, ``q = round_half_away(frexp(M)[0] * 2**31)``: TFLite's QuantizeMultiplier.

    Parameters
    ----------
    real_multiplier : array_like of float
        The real multipliers ``M >= 0`` (any shape; read as float64, as TFLite
        takes a ``double``). NaN, ±inf and negative values raise ``ValueError``.
    rounding : {"double", "single", "double_up"}
        The TFLite build: ``"double"`` (the default build) keeps any shift;
        ``"single"`` (``TFLITE_SINGLE_ROUNDING``) saturates a shift above 30 to
        ``(2**31 - 1, 30)``, the largest multiplier its
        :func:`multiply_by_quantized_multiplier` accepts. ``"double_up"`` (ruy's
        kernels, fed by the default build's QuantizeMultiplier) is ``"double"``.

    Returns
    -------
    QuantizedMultiplier
        ``(quantized_multiplier, shift)``, int32 arrays of ``real_multiplier``'s
        shape: ``quantized_multiplier`` is 0 or in ``[2**30, 2**31 - 1]``.

    Notes
    -----
    With ``M = m * 2**e``, ``m`` in ``[0.5, 1)`` (``std::frexp``):

    .. math::

        q = \\operatorname{round}_{\\text{half away}}(m \\cdot 2^{31}), \\qquad
        \\text{shift} = e, \\qquad M \\approx q \\cdot 2^{\\text{shift} - 31}

    then, in TFLite's order (``tensorflow/lite/kernels/internal/quantization_util.cc``,
    ``QuantizeMultiplier``):

    * ``M == 0`` gives ``(0, 0)``;
    * the carry: ``m`` just below 1 rounds to ``q = 2**31``, which does not fit
      int32: it becomes ``(2**30, e + 1)``;
    * the flush to zero: ``shift < -31`` (``M < 2**-32`` roughly) gives ``(0, 0)``
      (TFLite's comment: "flush denormals to zero");
    * ``rounding="single"`` only: ``shift > 30`` gives ``(2**31 - 1, 30)``.

    The rounding is ``TfLiteRound`` (``std::round``, half away from zero); it is
    computed exactly here from the 53-bit significand (``q = (m * 2**53 + 2**21) >> 22``),
    not in floating point. The relative error of ``q * 2**(shift - 31)`` is at
    most ``2**-31`` (half a unit of ``q``'s last place, ``q >= 2**30``) above
    the flush. With ``rounding="double"`` a shift above 30 is returned as is;
    :func:`multiply_by_quantized_multiplier` rejects it (TFLite would shift by
    31 or more, undefined behaviour in C).

    Examples
    --------
    0.3 = 0.6 * 2**-1, round(0.6 * 2**31) = round(1288490188.8); 1 = 0.5 * 2**1;
    1 - 2**-40 carries; 2**-33 = 0.5 * 2**-32 flushes:

    >>> q, s = quantize_multiplier([0.3, 1.0, 1 - 2**-40, 2**-33])
    >>> q.tolist(), s.tolist()
    ([1288490189, 1073741824, 1073741824, 0], [-1, 1, 1, 0])
    >>> [v.tolist() for v in quantize_multiplier(2.0**31, rounding="single")]
    [2147483647, 30]
    """
    check_choice("rounding", rounding, ROUNDINGS)
    if isinstance(real_multiplier, (bool, np.bool_)):
        raise TypeError(f"real_multiplier must be a real number or array, got {real_multiplier!r}")
    try:
        arr = np.asarray(real_multiplier)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(
            f"real_multiplier must be a rectangular array, got {real_multiplier!r}"[:300]
        ) from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"real_multiplier must be a real array, got dtype {arr.dtype}: {show_values(arr)}")
    m = arr.astype(np.float64)
    bad = ~np.isfinite(m) | (m < 0)
    if np.any(bad):
        raise ValueError(f"real_multiplier must be finite and >= 0, got {show_values(arr[bad])}")
    frac, exp = np.frexp(m)  # m = frac * 2**exp, frac in [0.5, 1) (0 for 0)
    significand = (frac * 2.0**53).astype(np.int64)  # exact: frac has at most 53 significant bits
    q = (significand + (1 << 21)) >> 22  # round half away (q >= 0) of significand / 2**22
    shift = exp.astype(np.int64)
    carry = q == 1 << 31
    q = np.where(carry, q >> 1, q)
    shift = np.where(carry, shift + 1, shift)
    flush = (shift < -31) | (q == 0)
    q = np.where(flush, 0, q)
    shift = np.where(flush, 0, shift)
    if rounding == "single":
        big = shift > 30
        q = np.where(big, INT32_MAX, q)
        shift = np.where(big, 30, shift)
    return QuantizedMultiplier(q.astype(np.int32), shift.astype(np.int32))


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> NDArray[np.int32]:
    """``trunc((a b + nudge) / 2**31)``, ``nudge = 2**30`` (``1 - 2**30`` if ``a b < 0``): gemmlowp's SRDHM.

    Parameters
    ----------
    a, b : array_like of int
        Integer arrays (or Python ints) with values in int32's range; they
        broadcast together. Floats raise ``TypeError``.

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape. ``a = b = -2**31`` gives ``2**31 - 1`` (the one
        product whose doubled high half overflows: it saturates).

    Notes
    -----
    The high 32 bits of ``2 * a * b``, rounded to nearest (gemmlowp
    ``fixedpoint/fixedpoint.h``, ``SaturatingRoundingDoublingHighMul``; ARM's
    ``SQRDMULH``):

    .. math::

        \\operatorname{SRDHM}(a, b) = \\operatorname{trunc}\\Big(\\frac{ab + \\nu}{2^{31}}\\Big),
        \\quad \\nu = \\begin{cases} 2^{30} & ab \\ge 0 \\\\ 1 - 2^{30} & ab < 0 \\end{cases}

    The 64-bit product is exact; C's division truncates toward zero, so with the
    nudge the result is ``ab / 2**31`` rounded to nearest with **ties upward**
    (toward +inf): ``+0.5 -> 1`` but ``-0.5 -> 0``. It is not symmetric; the
    rounding shift after it (:func:`rounding_divide_by_pot`) is.

    Examples
    --------
    2**30 * 2**30 / 2**31 = 2**29; 1 * 2**30 / 2**31 = 0.5 -> 1; -0.5 -> 0; the saturation:

    >>> a, b = [2**30, 1, -1, -(2**31)], [2**30, 2**30, 2**30, -(2**31)]
    >>> saturating_rounding_doubling_high_mul(a, b).tolist()
    [536870912, 1, 0, 2147483647]
    """
    a64, b64 = broadcast(("a", "b"), as_int32("a", a), as_int32("b", b))
    return _srdhm(a64, b64).astype(np.int32)


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> NDArray[np.int32]:
    """``x / 2**exponent`` rounded to nearest, ties away from zero: gemmlowp's RoundingDivideByPOT.

    Parameters
    ----------
    x : array_like of int
        Integer array (or Python int) with values in int32's range.
    exponent : int or array_like of int
        In ``[0, 31]`` (gemmlowp asserts it); broadcasts with ``x`` (one per channel).

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape.

    Notes
    -----
    The remainder/threshold form of gemmlowp (``fixedpoint/fixedpoint.h``):
    with ``mask = 2**exponent - 1``, ``r = x & mask`` (the two's-complement
    remainder, ``0 <= r <= mask``) and ``t = (mask >> 1) + [x < 0]``,

    .. math::

        \\operatorname{RDBPOT}(x, e) = (x \\gg e) + [\\, r > t \\,]

    where ``>>`` is the arithmetic shift (floor). For ``x >= 0`` a remainder of
    exactly half rounds up; for ``x < 0`` the threshold is one higher, so the
    half stays at the floor: ties go away from zero on both sides.
    ``exponent = 0`` returns ``x``.

    Examples
    --------
    2.5 -> 3, -2.5 -> -3, 1.5 -> 2, -1.5 -> -2, -1.25 -> -1, and 7 / 2**0:

    >>> rounding_divide_by_pot([5, -5, 6, -6, -5, 7], [1, 1, 2, 2, 2, 0]).tolist()
    [3, -3, 2, -2, -1, 7]
    """
    x64, e = broadcast(("x", "exponent"), as_int32("x", x), as_shift("exponent", exponent, 0, 31))
    return _rdbpot(x64, e).astype(np.int32)


def _rdbpot(x: NDArray[np.int64], e: NDArray[np.int64]) -> NDArray[np.int64]:
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + ((x & mask) > threshold)


def _srdhm(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    # gemmlowp: (ab + nudge) / 2**31 truncated, nudge = 2**30 (ab >= 0) or 1 - 2**30 (ab < 0). For ab < 0
    # the sum is negative and C's truncation is floor((ab + 1 - 2**30 + 2**31 - 1) / 2**31): both cases
    # are floor((ab + 2**30) / 2**31), one arithmetic shift (ties toward +inf).
    high = (a * b + (1 << 30)) >> 31  # |ab| <= 2**62: exact in int64
    both_min = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(both_min, INT32_MAX, high) if both_min.any() else high


def multiply_by_quantized_multiplier(
    x: ArrayLike, quantized_multiplier: ArrayLike, shift: ArrayLike, *, rounding: str = "double"
) -> NDArray[np.int32]:
    """``x * q * 2**(shift - 31)`` rounded to int32: TFLite's MultiplyByQuantizedMultiplier, three variants.

    Parameters
    ----------
    x : array_like of int
        The accumulators: an integer array (or Python int) with int32 values.
    quantized_multiplier : int or array_like of int
        ``q``: 0 or in ``[2**30, 2**31 - 1]`` (as :func:`quantize_multiplier`
        returns); broadcasts with ``x`` (per channel on the last axis).
    shift : int or array_like of int
        In ``[-31, 30]`` (TFLite's limits: a left shift of 31 overflows, a right
        shift beyond 31 is outside RoundingDivideByPOT's domain); broadcasts.
    rounding : {"double", "single", "double_up"}
        ``"double"``: TFLite's default build (``common.cc``) and gemmlowp,
        ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**left, q), right)``
        with ``left = max(shift, 0)``, ``right = max(-shift, 0)``.
        ``"single"``: ``TFLITE_SINGLE_ROUNDING`` (and ruy's reference
        ``apply_multiplier.cc``), one rounding of the exact 64-bit product:
        ``(x * q + 2**(30 - shift)) >> (31 - shift)``.
        ``"double_up"``: ruy's x86 kernels (AVX2, AVX-512; TFLite's optimized
        integer kernels on x86-64 without XNNPACK, measured in
        ``tests/conformance``): the same two steps as ``"double"``, but the
        right shift rounds ties toward +inf, ``(t + 2**(right - 1)) >> right``.

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape of the three arrays.

    Raises
    ------
    ValueError
        ``"double"``: ``x * 2**shift`` (``shift > 0``) overflows int32 -- TFLite
        wraps it silently. ``"single"``: the result does not fit int32 --
        TFLite's ``TFLITE_DCHECK`` (and a silent truncation in release builds).

    Notes
    -----
    Both approximate :math:`y = x \\cdot q \\cdot 2^{\\text{shift} - 31}`:

    .. math::

        y_{\\text{double}} = \\operatorname{RDBPOT}\\big(\\operatorname{SRDHM}(x \\cdot 2^{l}, q), r\\big),
        \\qquad
        y_{\\text{single}} = \\Big\\lfloor
        \\frac{x q + 2^{30 - \\text{shift}}}{2^{31 - \\text{shift}}} \\Big\\rfloor

    The double path rounds twice -- SRDHM to an integer (ties up), then the
    right shift (ties away from zero) -- so an exact value just below a half
    can be pushed onto the half and then away: it differs from the correctly
    rounded result by 1 on such inputs. The single path rounds once, half up
    (toward +inf, since ``>>`` floors): ``-0.5 -> 0``, where the double path
    gives ``-1``. ``"double_up"`` rounds twice, both times half up; it equals
    ``"double"`` except where the right shift meets an exact negative half.
    All three are within 1 of the exact rational value (``|error| <= 1`` LSB:
    at most 1/2 from each rounding; the single path within 1/2). SRDHM with
    ``q >= 0`` is ``floor(x q / 2**31 + 1/2)``, which ruy computes without the
    saturation (``q`` is never ``-2**31``). Sources: TensorFlow Lite
    ``tensorflow/lite/kernels/internal/common.cc`` (the first two, selected by
    ``TFLITE_SINGLE_ROUNDING``), gemmlowp ``fixedpoint/fixedpoint.h``, ruy
    ``ruy/kernel_avx2_fma.cc`` / ``kernel_avx512.cc`` (``rounding_right_shift``).

    Examples
    --------
    ``q = 2**30, shift = -1`` is the multiplier 0.25. ``5 * 0.25 = 1.25``: the
    double path rounds 2.5 up to 3 first, then 1.5 away to 2; ``-2 * 0.25 = -0.5``:
    -1 (double, away from zero) or 0 (single, upward):

    >>> multiply_by_quantized_multiplier([5, -2], 2**30, -1).tolist()
    [2, -1]
    >>> multiply_by_quantized_multiplier([5, -2], 2**30, -1, rounding="single").tolist()
    [1, 0]
    >>> multiply_by_quantized_multiplier([5, -2], 2**30, -1, rounding="double_up").tolist()
    [2, 0]
    """
    check_choice("rounding", rounding, ROUNDINGS)
    x64 = as_int32("x", x)
    return _mbqm(x64, quantized_multiplier, shift, rounding, "x").astype(np.int32)


def _mbqm(
    x64: NDArray[np.int64], quantized_multiplier: ArrayLike, shift: ArrayLike, rounding: str, name: str
) -> NDArray[np.int64]:
    """:func:`multiply_by_quantized_multiplier` on a checked int64 array ``x64`` (errors name it ``name``)."""
    x64, q, s = broadcast(
        (name, "quantized_multiplier", "shift"),
        x64,
        as_multiplier("quantized_multiplier", quantized_multiplier),
        as_shift("shift", shift),
    )
    if rounding != "single":
        left, right = np.maximum(s, 0), np.maximum(-s, 0)
        xl = x64 << left
        over = (xl < INT32_MIN) | (xl > INT32_MAX)
        if np.any(over):
            raise ValueError(
                f"{name} * 2**shift must fit int32 for rounding={rounding!r} (TFLite and ruy shift it left "
                f"in int32 and wrap silently), got {name} = {show_values(x64[over])} with shift = "
                f"{show_values(s[over])}"
            )
        high = _srdhm(xl, q)
        if rounding == "double":
            return _rdbpot(high, right)
        nudge = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0)
        return (high + nudge) >> right
    total = 31 - s  # in [1, 62]
    out = (x64 * q + (np.int64(1) << (total - 1))) >> total  # |x q| < 2**62: exact
    over = (out < INT32_MIN) | (out > INT32_MAX)
    if np.any(over):
        raise ValueError(
            "the result must fit int32 for rounding='single' (TFLite's TFLITE_DCHECK; release builds "
            f"truncate it), got {name} = {show_values(x64[over])} with quantized_multiplier = "
            f"{show_values(q[over])} and shift = {show_values(s[over])}"
        )
    return out
