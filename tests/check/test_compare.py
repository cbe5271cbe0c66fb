"""refquant.check.compare: exact LSB and ULP distances, the worst elements, the reports, the asserts.

Expected values are computed by hand (bit patterns and code counts written
out below) or from their definition with Python integers; the conformance
file checks the ULP counts against NumPy's nextafter/spacing and ml_dtypes.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check.compare import Comparison, assert_float_close, assert_quantized_equal, compare
from refquant.floats import FloatFormat

I64 = np.iinfo(np.int64)
F32MAX = float(np.finfo(np.float32).max)
F64MAX = float(np.finfo(np.float64).max)


def f32(*v: float) -> np.ndarray:
    return np.array(v, np.float32)


# --------------------------------------------------------------------------- quantized codes


def test_counts_distance_and_worst_order() -> None:
    a = np.array([[5, 0, 3], [-7, 9, 1]], np.int8)
    e = np.array([[5, 2, 3], [-4, 8, 3]], np.int8)
    c = compare(a, e)
    # differences: [0, -2, 0], [-3, +1, -2] -> 4 mismatches, 1 above, 3 below, worst 3
    assert (c.total, c.mismatches, c.above, c.below, c.max_lsb, c.max_ulp) == (6, 4, 1, 3, 3, None)
    assert not c.identical and c.unit == "LSB" and c.kind == "quantized"
    # by decreasing distance, the two 2-LSB ones by flat index (1 before 5)
    assert [(m.index, m.flat_index, m.difference) for m in c.worst] == [
        ((1, 0), 3, -3),
        ((0, 1), 1, -2),
        ((1, 2), 5, -2),
        ((1, 1), 4, 1),
    ]
    assert [type(m.actual) for m in c.worst] == [int] * 4
    assert [m.index for m in compare(a, e, max_examples=2).worst] == [(1, 0), (0, 1)]
    assert compare(a, e, max_examples=0).worst == ()


def test_identical_and_empty_and_0d() -> None:
    c = compare(np.arange(4), np.arange(4))
    assert (
        c.identical
        and c.max_lsb == 0
        and c.worst == ()
        and str(c) == "compare: all 4 integer codes are equal."
    )
    c = compare(np.zeros((0, 3), np.int8), np.zeros((0, 3), np.int8))
    assert c.identical and c.total == 0 and c.shape == (0, 3)
    c = compare(np.int8(3), 5)
    assert (c.mismatches, c.max_lsb, c.worst[0].index) == (1, 2, ())


def test_scalar_expected_broadcasts_other_shapes_raise() -> None:
    c = compare([1, 2, 3], 2)
    assert (c.mismatches, c.above, c.below) == (2, 1, 1)
    with pytest.raises(ValueError, match=r"expected must have actual's shape \(3,\).*\(2,\)"):
        compare([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="expected"):
        compare(np.zeros((2, 3)), np.zeros((3, 2)))


def test_int64_and_uint64_extremes_are_exact() -> None:
    c = compare(np.array([I64.min, I64.max, 0]), np.array([I64.max, I64.min, 0]))
    assert c.max_lsb == 2**64 - 1 and [m.difference for m in c.worst] == [-(2**64 - 1), 2**64 - 1]
    # uint64 max against -1: a span of 2**64, beyond any 64-bit type
    c = compare(np.array([2**64 - 1], np.uint64), np.array([-1], np.int64))
    assert c.max_lsb == 2**64 and c.above == 1 and c.worst[0].actual == 2**64 - 1
    c = compare(np.array([2**64 - 1, 5], np.uint64), np.array([0, 5], np.uint64))
    assert (c.mismatches, c.max_lsb) == (1, 2**64 - 1)
    c = compare(np.array([2**63 + 1], np.uint64), np.array([I64.max], np.int64))
    assert c.max_lsb == 2 and c.above == 1
    c = compare(np.array([2**63], np.uint64), np.array([I64.max], np.int64))
    assert c.max_lsb == 1


def test_float_codes_are_converted_exactly() -> None:
    # 2**62 + 1 is no float64: float64 comparisons would call 2.0**62 and 2**62 + 1 equal
    c = compare(np.array([2.0**62]), np.array([2**62 + 1], np.int64))
    assert c.mismatches == 1 and c.max_lsb == 1 and c.worst[0].difference == -1
    c = compare(np.array([2.0**63]), np.array([2**63], np.uint64))
    assert c.identical
    assert compare(np.float32([1.0, -3.0]), np.int8([1, -3])).identical
    assert compare(np.array([True, False]), [1, 1]).mismatches == 1


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.array([1.0, 2.5]), r"actual must hold integers.*2\.5"),
        (np.array([1.0, np.nan]), "actual must hold integers.*nan"),
        (np.array([1.0, np.inf]), "actual must hold integers.*inf"),
        (np.array([2.0**64, -1.0]), "actual must hold codes within int64 or uint64"),
    ],
)
def test_non_integer_codes_raise_naming_the_argument(value: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compare(value, np.zeros(2, np.int64))


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match=r"expected must hold integer codes.*<U"):
        compare([1], np.array(["a"]))
    with pytest.raises(TypeError, match=r"actual must hold integer codes.*complex"):
        compare(np.array([1j]), [1])
    with pytest.raises(ValueError, match="kind must be one of"):
        compare([1], [1], kind="int")
    with pytest.raises(ValueError, match="fmt applies to kind='float'"):
        compare([1], [1], fmt="bfloat16")
    with pytest.raises(ValueError, match="max_examples must be >= 0"):
        compare([1], [1], max_examples=-1)
    with pytest.raises(TypeError, match="max_examples must be an int"):
        compare([1], [1], max_examples=2.0)
    with pytest.raises(TypeError, match="inputs must be a mapping"):
        compare([1], [1], inputs=[1])
    with pytest.raises(ValueError, match=r"inputs\['x'\] of shape \(3,\) does not broadcast"):
        compare([1, 2], [1, 2], inputs={"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"actual must be a .*rectangular"):
        compare([[1, 2], [3]], [1, 2])
    with pytest.raises(TypeError, match="check_coverage must be a bool"):
        compare([1], [1], check_coverage=1)


def test_inputs_are_shown_at_each_worst_element() -> None:
    x = np.array([[0.0, 0.5], [1.0, 1.5]], np.float32)
    c = compare(
        [[0, 1], [2, 3]], [[0, 1], [2, 4]], inputs={"x": x, "bias": np.float32(0.25), "row": [[0], [1]]}
    )
    m = c.worst[0]
    assert m.index == (1, 1) and m.flat_index == 3
    assert m.inputs["x"] == np.float32(1.5) and m.inputs["bias"] == np.float32(0.25) and m.inputs["row"] == 1
    assert str(m) == "[1, 1] (flat 3): actual=3, expected=4, difference -1 LSB; x=1.5, bias=0.25, row=1"


def test_quantizer_inputs_per_axis_show_the_channel_parameters() -> None:
    x = np.array([[0.25, 0.75], [1.25, -0.75]], np.float32)
    s, z = np.float32([0.5, 0.25]), np.array([1, -2])
    inputs = dict(x=x, scale=s, zero_point=z, quant_min=-8, quant_max=7, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = compare([[1, 1], [4, -5]], [[1, 1], [4, -6]], inputs=inputs)
    m = c.worst[0]
    assert m.index == (1, 1) and m.inputs["scale"] == np.float32(0.25) and m.inputs["zero_point"] == -2
    assert m.inputs["x/scale"] == np.float32(-3.0) and "axis" not in m.inputs and "quant_min" not in m.inputs
    assert c.coverage is not None and c.coverage.total == 4


def test_inputs_are_not_modified() -> None:
    a, e = np.array([1, 2, 3], np.int16), np.array([1, 5, 3], np.int16)
    x = np.float32([0.1, 0.2, 0.3])
    copies = [v.copy() for v in (a, e, x)]
    compare(a, e, inputs={"x": x})
    for v, w in zip((a, e, x), copies, strict=True):
        assert np.array_equal(v, w) and v.dtype == w.dtype


def test_report_text() -> None:
    c = compare([3, -128, 7, 0], [3, 127, 6, 0])
    assert str(c).splitlines() == [
        "compare: 2 of 4 integer codes differ, by at most 255 LSB (actual > expected at 1, < at 1).",
        "Worst elements:",
        "  [1] (flat 1): actual=-128, expected=127, difference -255 LSB",
        "  [2] (flat 2): actual=7, expected=6, difference +1 LSB",
    ]


@given(
    hnp.arrays(np.int64, hnp.array_shapes(max_dims=3, max_side=5), elements=st.integers(I64.min, I64.max)),
    st.data(),
)
def test_quantized_matches_python_integers(a: np.ndarray, data: st.DataObject) -> None:
    e = data.draw(hnp.arrays(np.int64, a.shape, elements=st.integers(I64.min, I64.max)))
    c = compare(a, e, max_examples=a.size)
    diffs = [int(p) - int(q) for p, q in zip(a.ravel().tolist(), e.ravel().tolist(), strict=True)]
    assert c.mismatches == sum(d != 0 for d in diffs)
    assert c.above == sum(d > 0 for d in diffs) and c.below == sum(d < 0 for d in diffs)
    assert c.max_lsb == max((abs(d) for d in diffs), default=0)
    assert sorted(m.difference for m in c.worst) == sorted(d for d in diffs if d)  # type: ignore[type-var]


# --------------------------------------------------------------------------- floats


def test_float32_ulps_by_hand() -> None:
    sub = float(np.finfo(np.float32).smallest_subnormal)
    a = f32(1.0, 1.0, -sub, 0.0, np.inf, -np.inf, -F32MAX, 2.0)
    e = f32(1.0, 1.0000001, sub, -0.0, F32MAX, np.inf, F32MAX, 1.9999999)
    c = compare(a, e, kind="float", max_examples=8)
    # 1 + 2**-23 is the next float32 after 1; -sub, (±0), sub: 2 steps; inf is one past FLT_MAX
    # (0x7F800000 vs 0x7F7FFFFF); -inf to inf: 2 * 0x7F800000; -max to max: 2 * 0x7F7FFFFF;
    # 2 and 1.9999999 = 2 - 2**-23 are adjacent
    d = {m.flat_index: m.difference for m in c.worst}
    assert d == {1: -1, 2: -2, 4: 1, 5: -2 * 0x7F800000, 6: -2 * 0x7F7FFFFF, 7: 1}
    assert c.mismatches == 6 and c.signed_zeros == 1 and c.max_ulp == 2 * 0x7F800000 and c.max_lsb is None


def test_float64_and_float16_ulps_by_hand() -> None:
    c = compare(np.float64([-F64MAX, 1.0]), np.float64([F64MAX, 1.0 + 2**-52]), kind="float")
    assert c.max_ulp == 2 * 0x7FEFFFFFFFFFFFFF and [m.difference for m in c.worst] == [
        -2 * 0x7FEFFFFFFFFFFFFF,
        -1,
    ]
    c = compare(np.float16([1.0, 65504.0]), np.float16([1.0009765625, np.inf]), kind="float")
    assert [m.difference for m in c.worst] == [-1, -1] and c.grid == "float16"


def test_nan_equals_nan_and_against_a_number_is_a_nan_mismatch() -> None:
    neg_nan = np.float32(-np.nan)
    payload = np.uint32(0x7FC00001).view(np.float32)
    c = compare(
        f32(np.nan, np.nan, 1.0, 2.0), np.array([neg_nan, payload, np.nan, 2.0], np.float32), kind="float"
    )
    assert (c.mismatches, c.nan_mismatches, c.max_ulp, c.above, c.below) == (1, 1, 0, 0, 0)
    m = c.worst[0]
    assert m.index == (2,) and m.difference is None and np.isnan(m.expected)
    assert "NaN on one side" in str(c)
    # NaN mismatches come first among the worst, then by distance
    c = compare(f32(1.0, 5.0, np.nan), f32(1.5, 5.0, 3.0), kind="float")
    assert [m.flat_index for m in c.worst] == [2, 0]


def test_bfloat16_grid() -> None:
    c = compare([1.0, -2.0], [1.0078125, -2.0], kind="float", fmt="bfloat16")
    assert (c.max_ulp, c.grid) == (1, "bfloat16")
    # 1 + 2**-23 is a float32 but no bfloat16 (bfloat16 keeps 7 mantissa bits)
    with pytest.raises(ValueError, match=r"actual holds 1 values that are not bfloat16 values.*1\.0000001"):
        compare(f32(1.0000001), f32(1.0), kind="float", fmt="bfloat16")
    # the largest bfloat16 0x7F7F and inf 0x7F80 are adjacent
    big = np.uint32(0x7F7F0000).view(np.float32)
    assert compare(f32(np.inf), np.array([big]), kind="float", fmt="bfloat16").max_ulp == 1


def test_float8_grid() -> None:
    # e4m3fn: steps of 0.125 in [1, 2); 448 is code 0x7E = 126, so -448 to 448 is 252 steps;
    # the smallest subnormal 2**-9 is code 1
    a = [1.0, -448.0, -(2.0**-9), 0.0, float("nan")]
    e = [1.25, 448.0, 2.0**-9, -0.0, float("nan")]
    c = compare(a, e, kind="float", fmt="float8_e4m3fn")
    assert [m.difference for m in c.worst] == [-252, -2, -2] and c.signed_zeros == 1
    with pytest.raises(ValueError, match=r"expected holds 1 values that are not float8_e4m3fn.*inf"):
        compare([1.0], [np.inf], kind="float", fmt="float8_e4m3fn")
    with pytest.raises(ValueError, match=r"actual holds 1 values that are not float8_e4m3fn.*1.0625"):
        compare([1.0625], [1.0], kind="float", fmt="float8_e4m3fn")
    # e5m2 has inf: one step past 57344 (code 0x7B, inf 0x7C)
    assert compare([np.inf], [57344.0], kind="float", fmt="float8_e5m2").max_ulp == 1


def test_small_grids() -> None:
    # fp4 e2m1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6 are codes 0..7: -6 to 6 is 14 steps; no NaN
    assert compare([-6.0, 3.0], [6.0, 1.5], kind="float", fmt="float4_e2m1fn").max_ulp == 14
    with pytest.raises(ValueError, match=r"not float4_e2m1fn values.*nan"):
        compare([np.nan], [1.0], kind="float", fmt="float4_e2m1fn")
    # e8m0: 2**(code - 127), unsigned, no zero
    assert compare([2.0**-127], [2.0**127], kind="float", fmt="float8_e8m0fnu").max_ulp == 254
    with pytest.raises(ValueError, match="not float8_e8m0fnu values"):
        compare([0.0], [1.0], kind="float", fmt="float8_e8m0fnu")
    # fnuz: no -0 (it counts as +0); codes 0x81.. are the negatives
    assert compare([-0.0, -(2.0**-10)], [0.0, 2.0**-10], kind="float", fmt="float8_e4m3fnuz").max_ulp == 2
    # a format of one's own
    e3m2 = FloatFormat("e3m2_ieee", 3, 2, 3, "ieee")
    assert compare([14.0], [np.inf], kind="float", fmt=e3m2).max_ulp == 1


def test_float_grid_choice_and_mixed_dtypes() -> None:
    # the narrower dtype's grid; the wider array must hold values of it
    c = compare(f32(1.0), np.float64([1.0 + 2**-23]), kind="float")
    assert (c.grid, c.max_ulp) == ("float32", 1)
    with pytest.raises(ValueError, match=r"expected holds 1 values that are not float32 values.*0.1"):
        compare(f32(0.1), [0.1], kind="float")
    # on float64's grid, 1 + 2**-23 is 2**29 steps from 1
    assert compare(f32(1.0), f32(1.0000001), kind="float", fmt="float64").max_ulp == 2**29
    assert compare(f32(1.0), f32(1.0000001), kind="float", fmt=np.float64).max_ulp == 2**29
    # integers are floats when float64 holds them exactly
    assert compare(f32(1.0, 2.0), [1, 3], kind="float").max_ulp == 2**22
    with pytest.raises(ValueError, match="float64 does not represent exactly"):
        compare(np.float64([0.0]), np.array([2**53 + 1]), kind="float")
    with pytest.raises(TypeError, match="actual must be a float16, float32 or float64"):
        compare(np.array(["1.0"]), [1.0], kind="float")
    with pytest.raises(ValueError, match="unknown float format"):
        compare([1.0], [1.0], kind="float", fmt="float7")
    with pytest.raises(TypeError, match="fmt must be"):
        compare([1.0], [1.0], kind="float", fmt=np.int8)


def test_float_report_text() -> None:
    c = compare(f32(1.0, -0.0, np.nan), f32(1.0000001, 0.0, 1.0), kind="float")
    assert str(c).splitlines() == [
        "compare: 2 of 3 float32 values differ, by at most 1 ULP (actual > expected at 0, < at 1; "
        "1 with NaN on one side only).",
        "+0 and -0 count as equal (1 pair of them).",
        "Worst elements:",
        "  [2] (flat 2): actual=nan, expected=1.0, NaN on one side",
        "  [0] (flat 0): actual=1.0, expected=1.0000001, difference -1 ULP",
    ]


@given(
    hnp.arrays(np.float32, st.integers(0, 20), elements=st.floats(width=32, allow_nan=False)),
    st.data(),
)
def test_float32_ulps_match_python_integers(a: np.ndarray, data: st.DataObject) -> None:
    e = data.draw(hnp.arrays(np.float32, a.shape, elements=st.floats(width=32, allow_nan=False)))

    def ordinal(v: float) -> int:  # sign-magnitude bit pattern -> signed count of float32 steps from 0
        bits = int(np.float32(v).view(np.uint32))
        return -(bits & 0x7FFFFFFF) if bits >> 31 else bits

    c = compare(a, e, kind="float", max_examples=a.size)
    d = [ordinal(p) - ordinal(q) for p, q in zip(a.tolist(), e.tolist(), strict=True)]
    assert c.max_ulp == max((abs(x) for x in d), default=0)
    assert c.mismatches == sum(x != 0 for x in d)
    assert sorted(m.difference for m in c.worst) == sorted(x for x in d if x)  # type: ignore[type-var]


# --------------------------------------------------------------------------- the asserts


def test_assert_quantized_equal() -> None:
    assert isinstance(assert_quantized_equal([1, 2], [1, 2]), Comparison)
    assert assert_quantized_equal([1, 2, 3], [1, 2, 4], max_lsb=1).max_lsb == 1
    with pytest.raises(AssertionError) as err:
        assert_quantized_equal([1, 2, 3], [1, 4, 6], max_lsb=2, err_msg="kernel v2")
    lines = str(err.value).splitlines()
    assert lines[0] == "kernel v2"
    assert lines[1] == "1 of 3 elements differ by more than max_lsb=2 LSB"
    assert lines[2].startswith("compare: 2 of 3 integer codes differ, by at most 3 LSB")
    with pytest.raises(ValueError, match="max_lsb must be >= 0"):
        assert_quantized_equal([1], [1], max_lsb=-1)
    with pytest.raises(TypeError, match="max_lsb must be an int"):
        assert_quantized_equal([1], [1], max_lsb=True)
    with pytest.raises(TypeError, match="err_msg must be a str"):
        assert_quantized_equal([1], [1], err_msg=3)
    with pytest.raises(ValueError, match="expected must have actual's shape"):  # not an AssertionError
        assert_quantized_equal([1], [1, 2])


def test_assert_float_close() -> None:
    x = f32(1.0, 2.0, -0.0, np.nan)
    y = f32(1.0000001, 2.0, 0.0, np.nan)
    assert assert_float_close(x, y, max_ulp=1).max_ulp == 1
    with pytest.raises(AssertionError, match="1 of 4 elements differ by more than max_ulp=0 ULP"):
        assert_float_close(x, y)
    with pytest.raises(AssertionError, match="NaN on one side"):
        assert_float_close(f32(np.nan), f32(1.0), max_ulp=2**40)
    assert assert_float_close([1.0], [1.0078125], max_ulp=1, fmt="bfloat16").grid == "bfloat16"
    with pytest.raises(AssertionError, match="max_ulp=1 ULP"):
        assert_float_close([1.0], [1.015625], max_ulp=1, fmt="bfloat16")


def test_compare_is_a_small_multiple_of_a_numpy_comparison() -> None:
    import time

    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, 1 << 20).astype(np.int8)
    b = a.copy()
    b[::1000] += 1
    x = rng.standard_normal(1 << 20).astype(np.float32)
    y = x.copy()
    y[::1000] = 0

    def best(fn: Any) -> float:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    base = best(lambda: np.count_nonzero(a != b)) + best(lambda: np.count_nonzero(x != y))
    ours = best(lambda: compare(a, b)) + best(lambda: compare(x, y, kind="float"))
    assert ours < 20 * base + 2e-3, (ours, base)
