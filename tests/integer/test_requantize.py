"""Unit and property tests of refquant.integer.requantize (fixed-point and float requantization).

Expected values are hand-derived in the comments, or come from independent
references: a scalar loop of NumPy float32/float64 scalar operations and
Python's ``round`` (half to even) for the float path, exact
:class:`fractions.Fraction` arithmetic for the fixed-point path.
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
    requantization_multiplier,
    requantize_fixed,
    requantize_float,
)

F32 = np.float32


# --------------------------------------------------------------------------- requantization_multiplier


def test_the_three_orders_on_a_float32_product_tie() -> None:
    # (1 + 2**-12)**2 = 1 + 2**-11 + 2**-24: a float32 tie (2**-24 is half of float32's spacing at 1),
    # to even: 1 + 2**-11. In double it is exact.
    s = 1 + 2**-12
    f32 = requantization_multiplier(s, s, 1.0, arithmetic="float32")
    f64 = requantization_multiplier(s, s, 1.0, arithmetic="float64")
    prod = requantization_multiplier(s, s, 1.0, arithmetic="float32_product")
    assert f32.dtype == np.float32 and f64.dtype == np.float64 and prod.dtype == np.float64
    assert float(f32) == 1 + 2**-11 and float(prod) == 1 + 2**-11 and float(f64) == 1 + 2**-11 + 2**-24


def test_float32_division_differs_from_double_division() -> None:
    # 1 / 3: float32 rounds to 11184811 * 2**-25, double to the nearest double of 1/3
    f32 = float(requantization_multiplier(1.0, 1.0, 3.0))
    f64 = float(requantization_multiplier(1.0, 1.0, 3.0, arithmetic="float64"))
    assert f32 == 11184811 * 2**-25 and f64 == 1 / 3


def test_multiplier_broadcasts_per_channel_and_rounds_scales_to_float32() -> None:
    m = requantization_multiplier(0.5, [0.25, 0.1], 2.0, arithmetic="float64")
    assert m.shape == (2,)
    assert m[0] == 0.0625 and m[1] == float(F32(0.1)) / 4  # the scale 0.1 is read as float32


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, 1e-50, 1e50])
def test_multiplier_rejects_invalid_scales(bad: float) -> None:
    with pytest.raises(ValueError, match="output_scale"):
        requantization_multiplier(1.0, 1.0, bad)


def test_multiplier_rejects_an_overflowing_ratio_and_unknown_arithmetic() -> None:
    with pytest.raises(ValueError, match="finite"):
        requantization_multiplier(1e30, 1e30, 1e-30)  # 1e90 overflows float32
    with pytest.raises(ValueError, match="arithmetic"):
        requantization_multiplier(1.0, 1.0, 1.0, arithmetic="float16")


# --------------------------------------------------------------------------- requantize_float


def scalar_float_requantize(acc: int, m: np.floating, z: int, lo: int, hi: int, away: bool) -> int:
    """One accumulator, NumPy scalar arithmetic in m's precision, Python rounding."""
    v = float(m.dtype.type(acc) * m)  # int -> float (nearest even), one product
    r = math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1) if away else round(v)  # round(): half to even
    return min(max(r + z, lo), hi)


@pytest.mark.parametrize(
    "acc, want",
    [
        (5, 1),  # 1.25
        (6, 2),  # 1.5 -> 2 (even)
        (10, 2),  # 2.5 -> 2 (even)
        (-2, 0),  # -0.5 -> 0
        (-6, -2),  # -1.5 -> -2
        (2**24 + 1, 2**22),  # float32(2**24 + 1) = 2**24 (ties to even), * 0.25
        (2**24 + 3, 2**22 + 1),  # float32(2**24 + 3) = 2**24 + 4
        (2**31 - 1, 2**29),  # float32 rounds it to 2**31
    ],
)
def test_requantize_float32_hand_cases(acc: int, want: int) -> None:
    got = requantize_float(acc, F32(0.25), 0, -(2**31), 2**31 - 1)
    assert got.dtype == np.int32 and int(got) == want


def test_requantize_float_half_away_and_float64() -> None:
    acc = np.array([6, 10, -2, -6, 2**24 + 1], np.int32)
    got = requantize_float(acc, 0.25, 0, -(2**31), 2**31 - 1, rounding="half_away")
    # float64 holds 2**24 + 1 exactly: (2**24 + 1) / 4 = 4194304.25 -> 4194304
    assert got.tolist() == [2, 3, -1, -2, 4194304]


def test_requantize_float_zero_point_and_clamp() -> None:
    acc = np.array([-1000, -10, 0, 10, 1000], np.int32)
    got = requantize_float(acc, F32(0.5), 3, -128, 127)
    assert got.dtype == np.int8 and got.tolist() == [-128, -2, 3, 8, 127]  # -5 + 3, 5 + 3
    got = requantize_float(acc, F32(0.5), 128, 0, 255)
    assert got.dtype == np.uint8 and got.tolist() == [0, 123, 128, 133, 255]


def test_requantize_float_per_channel_and_inputs_untouched() -> None:
    acc = np.array([[6, 6], [-6, -6]], np.int32)
    m = np.array([0.25, 0.5], np.float32)
    before = acc.copy(), m.copy()
    assert requantize_float(acc, m, [0, 1], -128, 127).tolist() == [[2, 4], [-2, -2]]
    assert np.array_equal(acc, before[0]) and np.array_equal(m, before[1])


@given(
    acc=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=20),
    m=st.floats(min_value=1e-9, max_value=4.0),
    z=st.integers(-128, 127),
    double=st.booleans(),
    away=st.booleans(),
)
def test_requantize_float_matches_a_scalar_loop(
    acc: list[int], m: float, z: int, double: bool, away: bool
) -> None:
    mult = np.float64(m) if double else F32(m)
    got = requantize_float(
        np.array(acc, np.int32), mult, z, -128, 127, rounding="half_away" if away else "half_even"
    )
    assert got.tolist() == [scalar_float_requantize(a, mult, z, -128, 127, away) for a in acc]


def test_requantize_float_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="multiplier"):
        requantize_float([1], 1, 0, -128, 127)  # an int multiplier: no arithmetic named
    with pytest.raises(TypeError, match="multiplier"):
        requantize_float([1], np.float16(0.5), 0, -128, 127)
    with pytest.raises(ValueError, match="multiplier"):
        requantize_float([1], F32(-0.5), 0, -128, 127)
    with pytest.raises(TypeError, match="acc"):
        requantize_float([1.0], F32(0.5), 0, -128, 127)
    with pytest.raises(ValueError, match="qmin"):
        requantize_float([1], F32(0.5), 0, 127, -128)
    with pytest.raises(ValueError, match="rounding"):
        requantize_float([1], F32(0.5), 0, -128, 127, rounding="stochastic")


# --------------------------------------------------------------------------- requantize_fixed


def test_requantize_fixed_hand_cases() -> None:
    # M = 0.25 (q = 2**30, shift -1): 5 -> 1.25 -> 2 (double rounding), -2 -> -0.5 -> -1, +3 each
    acc = np.array([5, -2, 1000, -1000], np.int32)
    assert requantize_fixed(acc, 2**30, -1, 3, -128, 127).tolist() == [5, 2, 127, -128]
    assert requantize_fixed(acc, 2**30, -1, 3, -128, 127, rounding="single").tolist() == [4, 3, 127, -128]
    # ReLU fused as a clamp at the zero point
    assert requantize_fixed(acc, 2**30, -1, 3, 3, 127).tolist() == [5, 3, 127, 3]


@given(
    acc=st.integers(-(2**31), 2**31 - 1),
    m=st.floats(min_value=2.0**-31, max_value=0.99),
    z=st.integers(-128, 127),
    rounding=st.sampled_from(["double", "single", "double_up"]),
)
def test_requantize_fixed_within_one_lsb_of_the_exact_requantization(
    acc: int, m: float, z: int, rounding: str
) -> None:
    q, s = (int(v) for v in quantize_multiplier(m))
    got = int(requantize_fixed(acc, q, s, z, -128, 127, rounding=rounding))
    exact = Fraction(acc) * Fraction(q) * Fraction(2) ** (s - 31)
    want = min(max(math.floor(exact + Fraction(1, 2)) + z, -128), 127)
    assert abs(got - want) <= 1
    assert got == min(max(int(multiply_by_quantized_multiplier(acc, q, s, rounding=rounding)) + z, -128), 127)


def test_fixed_and_float32_requantization_differ_by_at_most_one() -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**20), 2**20, 20000).astype(np.int32)
    m = requantization_multiplier(0.0213, 0.0071, 0.093)
    q, s = quantize_multiplier(float(requantization_multiplier(0.0213, 0.0071, 0.093, arithmetic="float64")))
    a = requantize_float(acc, m, 0, -(2**31), 2**31 - 1).astype(np.int64)
    b = requantize_fixed(acc, q, s, 0, -(2**31), 2**31 - 1).astype(np.int64)
    assert np.max(np.abs(a - b)) <= 1


def test_requantize_fixed_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="zero_point"):
        requantize_fixed([1], 2**30, 0, 2**31, -128, 127)
    with pytest.raises(TypeError, match="qmin"):
        requantize_fixed([1], 2**30, 0, 0, -128.0, 127)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qmax"):
        requantize_fixed([1], 2**30, 0, 0, 0, 2**31)


# --------------------------------------------------------------------------- requantize_float, blocked


def test_requantize_float32_product_is_rounded_before_the_integer_rounding() -> None:
    # M = 13687751 * 2**-23 (a float32), acc = 4696928: the exact product is 7664010 + 166589/262144
    # (7664010.635...). float32's spacing in [2**22, 2**23) is 1/2 and 7664010.5 is nearer, so
    # fl32(acc * M) = 7664010.5, a tie, to even: 7664010. In float64 (M's value, double arithmetic) the
    # product keeps its fraction .635 and rounds to 7664011: a float64 product cast afterwards would be wrong.
    m32 = F32(Fraction(13687751, 2**23))
    assert Fraction(float(m32)) == Fraction(13687751, 2**23)
    assert Fraction(4696928) * Fraction(float(m32)) == 7664010 + Fraction(166589, 262144)
    for acc in (4696928, np.array([4696928], np.int64), np.array([4696928], np.int32)):
        assert int(np.ravel(requantize_float(acc, m32, 0, -(2**31), 2**31 - 1))[0]) == 7664010
    assert int(requantize_float(4696928, np.float64(m32), 0, -(2**31), 2**31 - 1)) == 7664011


def test_requantize_float_zero_points_beyond_float32_take_the_int64_path() -> None:
    # z = 2**25 + 1 is not a float32 (it would round to 2**25): 0 * 1 + z = 2**25 + 1 exactly
    assert int(requantize_float(0, F32(1), 2**25 + 1, -(2**31), 2**31 - 1)) == 2**25 + 1
    # qmin - z = -2**25 - 128 is not a float32 either: -2**27 * 0.25 + 2**25 = 0; 0 + 2**25 clamps to 127
    assert requantize_float([0, -(2**27)], F32(0.25), 2**25, -128, 127).tolist() == [127, 0]
    # per channel, one zero point out of float32's exact range: the whole call takes the int64 path
    got = requantize_float([[6, 6]], F32(0.5), [0, 2**24 + 1], -(2**31), 2**31 - 1)
    assert got.tolist() == [[3, 2**24 + 4]]


@pytest.mark.parametrize("block", [1, 7, 64, 2**16])
@pytest.mark.parametrize("shape", [(), (5,), (3, 0), (0, 4), (13, 11), (2, 3, 17), (1, 1, 200)])
def test_requantize_float_blocks_cover_every_element(
    monkeypatch: pytest.MonkeyPatch, block: int, shape: tuple[int, ...]
) -> None:
    # tiny blocks (ragged at every axis) must give the scalar loop's values at every position
    from refquant.integer import requantize as rq

    monkeypatch.setattr(rq, "_BLOCK", block)
    rng = np.random.default_rng(block + len(shape))
    acc = rng.integers(-5000, 5000, shape).astype(np.int32)
    last = shape[-1:] if shape else ()
    m = (rng.integers(1, 64, last) / 32).astype(F32)  # multiples of 1/32: many exact ties
    z = rng.integers(-20, 20, last)
    for away in (False, True):
        got = requantize_float(acc, m, z, -128, 127, rounding="half_away" if away else "half_even")
        mm, zz = np.broadcast_to(m, acc.shape), np.broadcast_to(z, acc.shape)
        want = [
            scalar_float_requantize(int(acc[i]), mm[i], int(zz[i]), -128, 127, away)
            for i in np.ndindex(shape)
        ]
        assert got.shape == shape and got.ravel().tolist() == want


@given(shape=st.lists(st.integers(0, 5), max_size=4), size=st.integers(1, 40))
def test_blocks_partition_the_array_in_c_order(shape: list[int], size: int) -> None:
    from refquant.integer.requantize import _blocks

    x = np.arange(math.prod(shape)).reshape(shape)
    seen = [x[b].ravel() for b in _blocks(tuple(shape), size)]
    assert np.array_equal(np.concatenate(seen) if seen else np.zeros(0, int), x.ravel())  # none: empty
    assert all(s.size <= size for s in seen)  # about prod(shape) / size blocks, none larger than size
