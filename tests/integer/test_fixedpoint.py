"""Unit and property tests of refquant.integer.fixedpoint (TFLite's multipliers, gemmlowp's SRDHM and RDBPOT).

Expected values are worked out by hand in the comments, or computed by the
independent definitions below: exact rational arithmetic with
:class:`fractions.Fraction` and :func:`math.frexp`, never the code under test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.integer import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
int32s = st.integers(I32_MIN, I32_MAX)
multipliers = st.one_of(st.just(0), st.integers(2**30, I32_MAX))
shifts = st.integers(-31, 30)


def half_away(v: Fraction) -> int:
    """round(v), ties away from zero (C's round), exactly."""
    n = math.floor(abs(v) + Fraction(1, 2))
    return n if v >= 0 else -n


def half_up(v: Fraction) -> int:
    return math.floor(v + Fraction(1, 2))


def tflite_quantize_multiplier(m: float, single: bool = False) -> tuple[int, int]:
    """QuantizeMultiplier as quantization_util.cc states it, in Python ints and Fractions."""
    if m == 0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = half_away(Fraction(q) * 2**31)
    assert q_fixed <= 2**31
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single and shift > 30:
        shift, q_fixed = 30, 2**31 - 1
    return q_fixed, shift


def exact(x: int, q: int, shift: int) -> Fraction:
    return Fraction(x * q) * Fraction(2) ** (shift - 31)


# --------------------------------------------------------------------------- quantize_multiplier


@pytest.mark.parametrize(
    "m, want",
    [
        (0.0, (0, 0)),
        (0.5, (2**30, 0)),  # frexp(0.5) = (0.5, 0), 0.5 * 2**31 = 2**30
        (0.75, (3 * 2**29, 0)),
        (1.0, (2**30, 1)),  # frexp(1) = (0.5, 1)
        (0.3, (1288490189, -1)),  # 0.6 * 2**31 = 1288490188.8 -> 1288490189
        (0.5 + 2**-32, (2**30 + 1, 0)),  # 0.5 * 2**31 + 0.5: a tie, away from zero
        (0.5 + 2**-32 - 2**-53, (2**30, 0)),  # just below the tie
        (1 - 2**-40, (2**30, 1)),  # (1 - 2**-40) * 2**31 rounds to 2**31: the carry
        (2.0**-32, (2**30, -31)),  # frexp = (0.5, -31): the smallest shift kept
        (2.0**-33, (0, 0)),  # shift -32: flushed to zero
        ((1 - 2**-40) * 2.0**-32, (2**30, -31)),  # shift -32, but the carry comes first: kept
        (5e-324, (0, 0)),  # the smallest subnormal double
        (2.0**40, (2**30, 41)),  # the double build keeps any shift
    ],
)
def test_quantize_multiplier_hand_cases(m: float, want: tuple[int, int]) -> None:
    q, s = quantize_multiplier(m)
    assert (int(q), int(s)) == want
    assert q.dtype == np.int32 and s.dtype == np.int32 and q.shape == ()


@pytest.mark.parametrize(
    "m, want",
    [
        (2.0**30, (I32_MAX, 30)),  # frexp = (0.5, 31): shift 31 saturates
        (2.0**30 - 2.0**-20, (I32_MAX, 30)),  # frexp = (1 - 2**-50, 30), the carry: (2**30, 31), saturated
        (2.0**29, (2**30, 30)),  # shift 30: kept
        (0.3, (1288490189, -1)),
    ],
)
def test_quantize_multiplier_single_rounding_saturates_the_shift(m: float, want: tuple[int, int]) -> None:
    q, s = quantize_multiplier(m, rounding="single")
    assert (int(q), int(s)) == want
    assert int(quantize_multiplier(2.0**30)[1]) == 31  # the double build does not


def test_quantize_multiplier_vectorized_keeps_the_shape() -> None:
    m = np.array([[0.3, 0.0], [1.0, 2.0**-33]], np.float32)
    q, s = quantize_multiplier(m)
    assert q.shape == s.shape == (2, 2)
    # float32(0.3) = 10066330 * 2**-25: mantissa 0.60000002384185791015625, times 2**31 exactly 1288490240
    assert q.tolist() == [[1288490240, 0], [2**30, 0]] and s.tolist() == [[-1, 0], [1, 0]]


@pytest.mark.parametrize("bad", [-0.1, -1e-300, np.nan, np.inf, -np.inf])
def test_quantize_multiplier_rejects_negative_and_nonfinite(bad: float) -> None:
    with pytest.raises(ValueError, match="real_multiplier"):
        quantize_multiplier(bad)


@pytest.mark.parametrize("bad", [True, "0.5", 1j, [0.5, "a"]])
def test_quantize_multiplier_rejects_non_reals(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="real_multiplier"):
        quantize_multiplier(bad)  # type: ignore[arg-type]


def test_quantize_multiplier_rejects_an_unknown_rounding() -> None:
    with pytest.raises(ValueError, match="rounding"):
        quantize_multiplier(0.5, rounding="triple")


hostile_reals = st.one_of(
    st.floats(min_value=0, max_value=2.0**60, allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=2.0**-25, allow_nan=False, allow_subnormal=True),
    st.integers(-40, 40).map(lambda e: math.ldexp(1 - 2**-35, e)),  # carries
    st.integers(-40, 40).map(lambda e: math.ldexp(0.5 + 2**-32, e)),  # mantissa ties
    st.integers(-40, 40).map(lambda e: math.ldexp(0.5 + 2**-32 - 2**-53, e)),
)


@given(m=hostile_reals, single=st.booleans())
def test_quantize_multiplier_follows_tflite_definition(m: float, single: bool) -> None:
    q, s = quantize_multiplier(m, rounding="single" if single else "double")
    assert (int(q), int(s)) == tflite_quantize_multiplier(m, single)


@given(m=st.floats(min_value=2.0**-31, max_value=2.0**29, allow_nan=False))
def test_quantize_multiplier_relative_error_at_most_2_pow_minus_31(m: float) -> None:
    q, s = (int(v) for v in quantize_multiplier(m))
    assert 2**30 <= q < 2**31
    assert abs(Fraction(q) * Fraction(2) ** (s - 31) - Fraction(m)) <= Fraction(m) * Fraction(1, 2**31)


# --------------------------------------------------------------------------- SRDHM


@pytest.mark.parametrize(
    "a, b, want",
    [
        (I32_MIN, I32_MIN, I32_MAX),  # 2**62 / 2**31 = 2**31 does not fit: saturates
        (I32_MIN, I32_MAX, -I32_MAX),  # exactly -(2**31 - 1)
        (I32_MAX, I32_MAX, 2**31 - 2),  # (2**31 - 1)**2 / 2**31 = 2**31 - 2 + 2**-31
        (2**30, 2**30, 2**29),
        (1, 2**30, 1),  # +0.5 -> 1
        (-1, 2**30, 0),  # -0.5 -> 0 (ties upward, not away)
        (3, 2**30, 2),  # 1.5 -> 2
        (-3, 2**30, -1),  # -1.5 -> -1
        (-5, 2**29, -1),  # -1.25 -> -1
        (0, I32_MIN, 0),
    ],
)
def test_srdhm_hand_cases(a: int, b: int, want: int) -> None:
    got = saturating_rounding_doubling_high_mul(a, b)
    assert got.dtype == np.int32 and int(got) == want


@given(a=int32s, b=int32s)
def test_srdhm_is_round_half_up_of_the_doubled_high_half(a: int, b: int) -> None:
    want = I32_MAX if a == b == I32_MIN else half_up(Fraction(a * b, 2**31))
    assert int(saturating_rounding_doubling_high_mul(a, b)) == want


def test_srdhm_broadcasts_and_rejects_floats_and_out_of_range() -> None:
    got = saturating_rounding_doubling_high_mul(np.array([[1], [3]], np.int32), np.array([2**30, -(2**30)]))
    assert got.tolist() == [[1, 0], [2, -1]]
    with pytest.raises(TypeError, match="a"):
        saturating_rounding_doubling_high_mul(np.array([1.0]), 2)
    with pytest.raises(ValueError, match="b"):
        saturating_rounding_doubling_high_mul(1, 2**31)
    with pytest.raises(ValueError, match="broadcast"):
        saturating_rounding_doubling_high_mul([1, 2], [1, 2, 3])


# --------------------------------------------------------------------------- RDBPOT


@pytest.mark.parametrize(
    "x, e, want",
    [
        (5, 1, 3),  # 2.5 -> 3
        (-5, 1, -3),  # -2.5 -> -3: away from zero
        (6, 2, 2),  # 1.5 -> 2
        (-6, 2, -2),
        (-5, 2, -1),  # -1.25
        (-7, 2, -2),  # -1.75
        (7, 0, 7),
        (I32_MIN, 31, -1),  # -1 exactly
        (-(2**30), 31, -1),  # -0.5 -> -1
        (2**30, 31, 1),  # 0.5 -> 1
        (2**30 - 1, 31, 0),
        (I32_MAX, 31, 1),
        (I32_MAX, 1, 2**30),  # (2**31 - 1) / 2 = 2**30 - 0.5 -> 2**30 (no overflow)
        (I32_MIN, 1, -(2**30)),
    ],
)
def test_rdbpot_hand_cases(x: int, e: int, want: int) -> None:
    got = rounding_divide_by_pot(x, e)
    assert got.dtype == np.int32 and int(got) == want


@given(x=int32s, e=st.integers(0, 31))
def test_rdbpot_is_round_half_away(x: int, e: int) -> None:
    assert int(rounding_divide_by_pot(x, e)) == half_away(Fraction(x, 2**e))


@pytest.mark.parametrize("e", [-1, 32, 100])
def test_rdbpot_rejects_exponents_outside_0_31(e: int) -> None:
    with pytest.raises(ValueError, match="exponent"):
        rounding_divide_by_pot(4, e)


def test_rdbpot_per_channel_exponents() -> None:
    x = np.array([[5, 5, 5], [-5, -5, -5]], np.int32)
    assert rounding_divide_by_pot(x, [0, 1, 2]).tolist() == [[5, 3, 1], [-5, -3, -1]]


# --------------------------------------------------------------------------- MultiplyByQuantizedMultiplier


def ref_double(x: int, q: int, shift: int, up: bool = False) -> int:
    """The two roundings of the definition: SRDHM (ties up), then ties away (or up, ruy)."""
    left, right = max(shift, 0), max(-shift, 0)
    high = half_up(Fraction(x * 2**left * q, 2**31))
    return half_up(Fraction(high, 2**right)) if up else half_away(Fraction(high, 2**right))


@pytest.mark.parametrize(
    "x, q, shift, double, single, double_up",
    [
        (5, 2**30, -1, 2, 1, 2),  # 1.25: 2.5 -> 3 (SRDHM), 1.5 -> 2 (RDBPOT); single: 1
        (-2, 2**30, -1, -1, 0, 0),  # -0.5: away (double) vs up (single, double_up)
        (-6, 2**30, -1, -2, -1, -1),  # -1.5
        (6, 2**30, -1, 2, 2, 2),  # 1.5: all up
        (1, 2**30, 30, 2**29, 2**29, 2**29),  # the largest left shift: 1 * 0.5 * 2**30
        (I32_MIN, 2**30, -31, -1, 0, 0),  # -2**31 * 2**-32 = -0.5
        (I32_MAX, I32_MAX, 0, 2**31 - 2, 2**31 - 2, 2**31 - 2),
        (123456, 0, 5, 0, 0, 0),  # a zero multiplier
        (-3, 2**30, 0, -1, -1, -1),  # -1.5 through SRDHM alone (shift 0): ties up
    ],
)
def test_mbqm_hand_cases(x: int, q: int, shift: int, double: int, single: int, double_up: int) -> None:
    for rounding, want in (("double", double), ("single", single), ("double_up", double_up)):
        got = multiply_by_quantized_multiplier(x, q, shift, rounding=rounding)
        assert got.dtype == np.int32 and int(got) == want, rounding


def test_mbqm_overflow_is_an_error() -> None:
    with pytest.raises(ValueError, match="x"):  # 2 << 30 = 2**31 does not fit int32
        multiply_by_quantized_multiplier(2, 2**30, 30)
    assert int(multiply_by_quantized_multiplier(2, 2**30, 30, rounding="single")) == 2**30
    with pytest.raises(ValueError, match="result"):  # single: 2**31 - 1 times ~1 times 2**30
        multiply_by_quantized_multiplier(I32_MAX, I32_MAX, 30, rounding="single")


@pytest.mark.parametrize("shift", [31, -32, 64])
def test_mbqm_rejects_shifts_outside_tflite_limits(shift: int) -> None:
    with pytest.raises(ValueError, match="shift"):
        multiply_by_quantized_multiplier(1, 2**30, shift)


@pytest.mark.parametrize("q", [1, 2**30 - 1, -(2**30), 2**31])
def test_mbqm_rejects_unnormalized_multipliers(q: int) -> None:
    with pytest.raises(ValueError, match="quantized_multiplier"):
        multiply_by_quantized_multiplier(1, q, 0)


def test_mbqm_rejects_floats_and_bad_rounding() -> None:
    with pytest.raises(TypeError, match="x"):
        multiply_by_quantized_multiplier(np.array([1.0]), 2**30, 0)
    with pytest.raises(TypeError, match="shift"):
        multiply_by_quantized_multiplier(1, 2**30, 0.0)
    with pytest.raises(ValueError, match="rounding"):
        multiply_by_quantized_multiplier(1, 2**30, 0, rounding="half_even")


def test_mbqm_per_channel_broadcast_and_inputs_untouched() -> None:
    x = np.array([[5, -2], [-6, 6]], np.int32)
    q = np.array([2**30, 3 * 2**29], np.int32)
    s = np.array([-1, 0], np.int32)
    before = (x.copy(), q.copy(), s.copy())
    got = multiply_by_quantized_multiplier(x, q, s)
    # column 0: 0.25 (5 -> 2, -6 -> -2); column 1: 0.75 (-2 -> -1.5 -> -1 by SRDHM's ties up, 6 -> 4.5 -> 5)
    assert got.tolist() == [[2, -1], [-2, 5]]
    assert all(np.array_equal(a, b) for a, b in zip(before, (x, q, s), strict=True))


@given(x=int32s, q=multipliers, shift=shifts)
def test_mbqm_matches_the_definitions_and_is_within_one_lsb(x: int, q: int, shift: int) -> None:
    exact_v = exact(x, q, shift)
    fits_left = I32_MIN <= x * 2 ** max(shift, 0) <= I32_MAX
    single_v = half_up(exact_v)
    if I32_MIN <= single_v <= I32_MAX:
        assert int(multiply_by_quantized_multiplier(x, q, shift, rounding="single")) == single_v
        assert abs(single_v - exact_v) <= Fraction(1, 2)
    if fits_left:
        for rounding, up in (("double", False), ("double_up", True)):
            got = int(multiply_by_quantized_multiplier(x, q, shift, rounding=rounding))
            assert got == ref_double(x, q, shift, up), rounding
            assert abs(got - exact_v) <= 1, rounding


@given(
    xs=st.lists(st.integers(-(2**24), 2**24), min_size=2, max_size=40),
    q=multipliers,
    shift=st.integers(-31, 6),
    rounding=st.sampled_from(["double", "single", "double_up"]),
)
def test_mbqm_is_monotone_in_x(xs: list[int], q: int, shift: int, rounding: str) -> None:
    x = np.sort(np.array(xs, np.int32))
    y = multiply_by_quantized_multiplier(x, q, shift, rounding=rounding)
    assert np.all(np.diff(y.astype(np.int64)) >= 0)


def test_double_rounding_differences_are_exactly_the_near_half_cases() -> None:
    """Double and single rounding differ (by 1) only where the exact value is within 2**-(r+1) of a half.

    SRDHM's rounding moves the value by at most half a unit of the intermediate, 2**-(r+1) after the
    right shift by r: only a value that close to a half can be pushed onto it (or across it).
    """
    x = np.arange(-5000, 5000, dtype=np.int32)
    q, s = 1431655765, -3  # ~ 2/3 * 2**-3
    d = multiply_by_quantized_multiplier(x, q, s).astype(np.int64)
    one = multiply_by_quantized_multiplier(x, q, s, rounding="single").astype(np.int64)
    diff = np.nonzero(d != one)[0]
    assert diff.size > 0 and np.all(np.abs(d - one) <= 1)
    for i in diff:
        v = exact(int(x[i]), q, s)
        frac = v - math.floor(v)
        assert abs(frac - Fraction(1, 2)) <= Fraction(1, 2 ** (-s + 1))
