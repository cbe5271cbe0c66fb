"""Unit and property tests of refquant.interop.onnx_integer (MatMulInteger, QLinearMatMul, QGemm).

Expected values are derived by hand in the comments, or by an independent
reference in this file: exact int64 ``numpy.matmul`` (NumPy's integer matmul,
no BLAS) for the accumulators and :class:`fractions.Fraction` for the spec's
real arithmetic. The real onnx and onnxruntime are in tests/conformance.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.interop.onnx_integer import matmul_integer, qgemm, qlinear_matmul

F32, U8, I8 = np.float32, np.uint8, np.int8
RANGE = {np.dtype(U8): (0, 255), np.dtype(I8): (-128, 127)}


def ref_acc(a: np.ndarray, b: np.ndarray, za: Any = 0, zb: Any = 0) -> np.ndarray:
    """Exact int64 accumulators, wrapped to int32 (two's complement)."""
    acc = np.matmul(
        a.astype(np.int64) - np.asarray(za, np.int64), b.astype(np.int64) - np.asarray(zb, np.int64)
    )
    return ((acc + 2**31) % 2**32 - 2**31).astype(np.int32)


def ref_spec(acc: np.ndarray, m: np.ndarray, zy: int, dtype: Any) -> np.ndarray:
    """``clip(rne(acc * m) + zy)`` with Python's exact Fraction rounding (``round`` is half to even)."""
    lo, hi = RANGE[np.dtype(dtype)]
    acc, m = np.broadcast_arrays(acc, m)
    out = [
        max(lo, min(hi, round(Fraction(int(n)) * Fraction(v)) + zy))
        for n, v in zip(acc.ravel(), m.ravel(), strict=True)
    ]
    return np.array(out, dtype).reshape(acc.shape)


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def codes(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    lo, hi = RANGE[np.dtype(dtype)]
    return rng.integers(lo, hi + 1, shape).astype(dtype)


# ---------------------------------------------------------------- MatMulInteger: examples


def test_matmul_integer_backend_example() -> None:
    # a - 12 = [[-1, -5, -9], [-2, -6, -10], ...]; row 0 times column 0 of b: -1*1 - 5*2 - 9*3 = -38
    a = np.array([[11, 7, 3], [10, 6, 2], [9, 5, 1], [8, 4, 0]], U8)
    b = np.array([[1, 4], [2, 5], [3, 6]], U8)
    y = matmul_integer(a, b, np.array([12], U8), np.array([0], U8))
    assert y.dtype == np.int32
    assert y.tolist() == [[-38, -83], [-44, -98], [-50, -113], [-56, -128]]


def test_matmul_integer_no_zero_points_int8_uint8_mix() -> None:
    # [-128, 127] . [255, 2] = -32640 + 254 = -32386
    assert matmul_integer(np.array([[-128, 127]], I8), np.array([[255], [2]], U8)).tolist() == [[-32386]]


def test_per_row_and_per_column_zero_points() -> None:
    a = np.array([[3, 4], [5, 6]], U8)
    b = np.array([[1, 2], [3, 4]], U8)
    # per row: a - [[1], [2]] = [[2, 3], [3, 4]]; per column: b - [1, 2] = [[0, 0], [2, 2]]
    # [[2*0 + 3*2, 2*0 + 3*2], [3*0 + 4*2, 3*0 + 4*2]] = [[6, 6], [8, 8]]
    expected = [[6, 6], [8, 8]]
    for za in (np.array([1, 2], U8), np.array([[1], [2]], U8), [1, 2]):
        for zb in (np.array([1, 2], U8), np.array([[1, 2]], U8)):
            assert matmul_integer(a, b, za, zb).tolist() == expected


def test_batched_zero_points() -> None:
    # a: (2, 1, 2), per row (2, 1, 1): batch 0 subtracts 1, batch 1 subtracts 2; b = [[1], [1]] sums the row
    a = np.array([[[3, 4]], [[5, 6]]], U8)
    za = np.array([[[1]], [[2]]], U8)
    assert matmul_integer(a, np.ones((2, 1), U8), za).tolist() == [[[5]], [[7]]]  # 2+3, 3+4


def test_broadcasting_like_numpy_matmul() -> None:
    rng = np.random.default_rng(0)
    cases = [
        ((2, 1, 3, 5), (4, 5, 2)),
        ((5,), (3, 5, 2)),
        ((3, 5), (5,)),
        ((5,), (5,)),
        ((1, 3, 5), (2, 5, 4)),
    ]
    for sa, sb in cases:
        a, b = codes(rng, sa, U8), codes(rng, sb, I8)
        y = matmul_integer(a, b, U8(7), I8(-3))
        assert y.shape == np.matmul(np.zeros(sa), np.zeros(sb)).shape
        np.testing.assert_array_equal(y, ref_acc(a, b, 7, -3))


def test_empty_and_zero_k() -> None:
    assert matmul_integer(np.zeros((0, 3), U8), np.zeros((3, 2), U8)).shape == (0, 2)
    y = matmul_integer(np.zeros((2, 0), U8), np.zeros((0, 3), I8), U8(5), I8(1))
    assert y.tolist() == [[0, 0, 0], [0, 0, 0]]  # an empty sum is 0


def test_overflow_wraps_modulo_2_32_or_raises() -> None:
    # 70000 * 255 * -128 = -2284800000 < -2**31; + 2**32 = 2010167296 (ORT gives the same)
    a = np.full((1, 70000), 255, U8)
    b = np.full((70000, 1), -128, I8)
    assert matmul_integer(a, b).tolist() == [[2010167296]]
    with pytest.raises(ValueError, match="overflows"):
        matmul_integer(a, b, overflow="raise")
    # just inside: 33025 * 255 * 255 = 2147450625 <= 2**31 - 1
    a, b = np.full((1, 33025), 255, U8), np.full((33025, 1), 255, U8)
    assert matmul_integer(a, b, overflow="raise").tolist() == [[33025 * 65025]]


# ---------------------------------------------------------------- QLinearMatMul: examples


def qlm(a: Any, sa: Any, za: Any, b: Any, sb: Any, zb: Any, sy: Any, zy: Any, **kw: Any) -> list[Any]:
    return qlinear_matmul(a, sa, za, b, sb, zb, sy, zy, **kw).tolist()


def test_qlinear_ties_to_even_in_every_semantics() -> None:
    # m = 1/8 exactly; acc = [12, 20, 4, -12, -20] -> 1.5, 2.5, 0.5, -1.5, -2.5 -> 2, 2, 0, -2, -2
    a = np.array([[1]], I8)
    b = np.array([[12, 20, 4, -12, -20]], I8)
    for how in ("spec", "onnx_reference", "onnxruntime"):
        assert qlm(a, F32(0.5), I8(0), b, F32(0.25), I8(0), F32(1), I8(0), requantize=how) == [
            [2, 2, 0, -2, -2]
        ]


def test_qlinear_saturates_both_ends() -> None:
    # acc = +-100 * 100 = +-10000, m = 1: beyond [0, 255] on both sides; zy = 3 -> 255 and 0
    a = np.array([[100]], I8)
    b = np.array([[100, -100, 0]], I8)
    assert qlm(a, F32(1), I8(0), b, F32(1), I8(0), F32(1), U8(3)) == [[255, 0, 3]]


def test_qlinear_per_column_and_per_row_scales() -> None:
    a = np.array([[2], [4]], U8)  # acc = a * b = [[2, 2], [4, 4]] with b = [[1, 1]]
    b = np.array([[1, 1]], U8)
    # per column b_scale [0.5, 1.5]: [[1, 3], [2, 6]]
    assert qlm(a, F32(1), U8(0), b, np.array([0.5, 1.5], F32), np.array([0, 0], U8), F32(1), U8(0)) == [
        [1, 3],
        [2, 6],
    ]
    # per row a_scale [0.25, 2] (2-D a: an M-vector): [[0.5, 0.5], [8, 8]] -> [[0, 0], [8, 8]]
    assert qlm(a, np.array([0.25, 2], F32), np.array([0, 0], U8), b, F32(1), U8(0), F32(1), U8(0)) == [
        [0, 0],
        [8, 8],
    ]


def test_qlinear_multiplier_rounding_spec_vs_float32() -> None:
    # y_scale = float32(2/3) = 11184811 * 2**-24; m = 2**24 / 11184811 = 1.4999999553 (exact) rounds to 1 ...
    sy = F32(2 / 3)
    assert Fraction(float(sy)) == Fraction(11184811, 2**24)
    one_a, one_b = np.array([[1]], U8), np.array([[1]], U8)
    assert qlm(one_a, F32(1), U8(0), one_b, F32(1), U8(0), sy, U8(0)) == [[1]]
    # ... but the float32 multiplier fl(1 / sy) is 1.5 (the float32s nearest 1.49999995 are 1.5 and
    # 1.5 - 2**-23, and 1.5 - 4.47e-8 is nearer 1.5): a tie, to even 2, in onnx.reference and ORT
    for how in ("onnx_reference", "onnxruntime"):
        assert qlm(one_a, F32(1), U8(0), one_b, F32(1), U8(0), sy, U8(0), requantize=how) == [[2]]


def test_qlinear_float32_accumulator_rounding_onnxruntime_only() -> None:
    # acc = 258 * 255 * 255 + 13 * 59 = 16776450 + 767 = 2**24 + 1; m = 2**-25 exactly
    a = np.array([[255] * 258 + [13]], U8)
    b = np.array([[255]] * 258 + [[59]], U8)
    assert int(ref_acc(a, b)[0, 0]) == 2**24 + 1
    args = (a, F32(1), U8(0), b, F32(1), U8(0), F32(2.0**25), U8(0))
    # exact: 0.5 + 2**-25 -> 1 (spec and float64); float32(2**24 + 1) = 2**24 (tie to even) -> 0.5 -> 0
    assert qlm(*args) == [[1]]
    assert qlm(*args, requantize="onnx_reference") == [[1]]
    assert qlm(*args, requantize="onnxruntime") == [[0]]


def test_qlinear_float32_product_rounding_onnxruntime_only() -> None:
    # a_scale = the float32 with bits 996190629 (0.0034280804...), acc = 255*223 + 164*1 = 57029:
    # exact 57029 * a_scale = 195.4999944 -> 195; its float32 product is 195.5 -> tie to even 196
    sa = np.array(996190629, np.uint32).view(F32)
    a, b = np.array([[255, 164]], U8), np.array([[223], [1]], U8)
    exact = Fraction(57029) * Fraction(float(sa))
    assert Fraction(19549, 100) < exact < Fraction(391, 2) and float(F32(57029) * sa) == 195.5
    args = (a, sa, U8(0), b, F32(1), U8(0), F32(1), U8(0))
    assert qlm(*args) == [[195]]
    assert qlm(*args, requantize="onnx_reference") == [[195]]
    assert qlm(*args, requantize="onnxruntime") == [[196]]


def test_qlinear_float16_scales() -> None:
    # float16 0.5, 0.25, 1: m = 1/8 in every semantics (ORT casts the scales to float32)
    h = np.float16
    a, b = np.array([[1]], U8), np.array([[12, 20]], U8)
    for how in ("spec", "onnx_reference", "onnxruntime"):
        assert qlm(a, h(0.5), U8(0), b, h(0.25), U8(0), h(1), U8(0), requantize=how) == [[2, 2]]


def test_qlinear_scale_and_zero_point_broadcast_separately() -> None:
    # per-column b_scale [1, 0.5], per-tensor b_zero_point 1 (ORT and onnx.reference accept it too):
    # a @ (b - 1) = [[1, 2], [3, 4]] @ [[0, 1], [2, 3]] = [[4, 7], [8, 15]]; * [1, 0.5]: [[4, 3.5], [8, 7.5]]
    a, b = np.array([[1, 2], [3, 4]], U8), np.array([[1, 2], [3, 4]], I8)
    assert qlm(a, F32(1), U8(0), b, np.array([1, 0.5], F32), I8(1), F32(1), U8(0)) == [[4, 4], [8, 8]]


def test_qlinear_1d_operands() -> None:
    # [1, 2] . [3, 4] = 11; * 0.5 = 5.5 -> 6; a 0-d result
    y = qlinear_matmul(
        np.array([1, 2], I8), F32(0.5), I8(0), np.array([3, 4], I8), F32(1), I8(0), F32(1), I8(0)
    )
    assert y.shape == () and y.dtype == I8 and int(y) == 6


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 40), pick=st.integers(0, 3))
def test_qlinear_spec_equals_fraction_reference(seed: int, k: int, pick: int) -> None:
    rng = np.random.default_rng(seed)
    ta, tb, ty = [(U8, U8, U8), (U8, I8, U8), (I8, I8, I8), (I8, U8, U8)][pick]
    a, b = codes(rng, (3, k), ta), codes(rng, (k, 4), tb)
    za, zb, zy = codes(rng, (), ta), codes(rng, (4,), tb), codes(rng, (), ty)
    # dyadic scales make exact ties frequent; awkward ones make near-ties
    sa = F32(rng.choice([0.5, 0.375, 0.1, 0.0123]))
    sb = rng.choice([0.25, 0.3, 0.7], 4).astype(F32)
    sy = F32(rng.choice([1.0, 3.0, 0.0625, 7.3]) * k)
    if k == 0:
        sy = F32(1)
    y = qlinear_matmul(a, sa, za, b, sb, zb, sy, zy)
    m = np.array([Fraction(float(sa)) * Fraction(float(s)) / Fraction(float(sy)) for s in sb], object)
    np.testing.assert_array_equal(y, ref_spec(ref_acc(a, b, za, zb), m, int(zy), ty))


@pytest.mark.parametrize(("sa", "sb", "m"), [(0.375, 0.5, Fraction(3, 16)), (0.5, 1.0, Fraction(1, 2))])
def test_qlinear_spec_exact_on_dense_ties(sa: float, sb: float, m: Fraction) -> None:
    # |acc| <= 9 * 10 * 10 = 900 stays unsaturated; acc * 3/16 is a tie for acc = 8 (mod 16), acc / 2 for
    # every odd acc; in every semantics the ties are exact, so all three agree with Fraction
    rng = np.random.default_rng(3)
    a, b = rng.integers(-8, 9, (16, 9)).astype(I8), rng.integers(-8, 9, (9, 16)).astype(I8)
    expected = ref_spec(ref_acc(a, b, 1, -2), np.array(m, object), 0, I8)
    ties = (ref_acc(a, b, 1, -2) * m.numerator % m.denominator) * 2 == m.denominator
    assert ties.sum() >= 10
    for how in ("spec", "onnx_reference", "onnxruntime"):
        y = qlinear_matmul(a, F32(sa), I8(1), b, F32(sb), I8(-2), F32(1), I8(0), requantize=how)
        np.testing.assert_array_equal(y, expected)


# ---------------------------------------------------------------- QGemm: examples


def test_qgemm_float_and_quantized_output() -> None:
    a, b = np.array([[1, 2]], U8), np.array([[2], [3]], U8)
    # acc = 8, + c = 4 -> 12; * alpha 2 * 0.5 * 0.5 = 6.0
    y = qgemm(a, F32(0.5), U8(0), b, F32(0.5), U8(0), np.array([[4]], np.int32), alpha=2.0)
    assert y.dtype == F32 and y.tolist() == [[6.0]]
    # / y_scale 4 = 1.5 -> 2, + 10
    y = qgemm(a, F32(0.5), U8(0), b, F32(0.5), U8(0), np.array(4, np.int32), F32(4), U8(10), alpha=2.0)
    assert y.dtype == U8 and y.tolist() == [[12]]


def test_qgemm_transposes_and_per_column_b() -> None:
    a = np.array([[1], [2]], I8)  # trans_a: op(a) = [[1, 2]]
    b = np.array([[1, 1], [2, 2]], I8)  # trans_b: op(b) = [[1, 2], [1, 2]], N = 2
    # op(a) @ (op(b) - [1, 0]) = [1, 2] @ [[0, 2], [0, 2]] = [0, 6]; * [1, 0.5] = [0, 3]
    y = qgemm(a, F32(1), I8(0), b, np.array([1, 0.5], F32), np.array([1, 0], I8), trans_a=True, trans_b=True)
    assert y.tolist() == [[0.0, 3.0]]


def test_qgemm_negative_alpha_and_zero_alpha() -> None:
    a, b = np.array([[3]], I8), np.array([[1]], I8)
    # -0.5 * 3 = -1.5 -> -2 (to even), the same in ORT's arithmetic (rounding is odd)
    for how in ("spec", "onnxruntime"):
        assert qgemm(
            a, F32(1), I8(0), b, F32(1), I8(0), None, F32(1), I8(0), alpha=-0.5, requantize=how
        ).tolist() == [[-2]]
        assert qgemm(
            a, F32(1), I8(0), b, F32(1), I8(0), None, F32(1), I8(5), alpha=0.0, requantize=how
        ).tolist() == [[5]]


def test_qgemm_float_output_rounds_once() -> None:
    # acc = 2**24 + 1 (as above), alpha = 1 + 2**-23: the exact value 2**24 + 3 + 2**-23 is above the
    # float32 midpoint 2**24 + 3, so 2**24 + 4; ORT's float32(2**24 + 1) = 2**24 times 1 + 2**-23 = 2**24 + 2
    a = np.array([[255] * 258 + [13]], U8)
    b = np.array([[255]] * 258 + [[59]], U8)
    alpha = float(F32(1 + 2.0**-23))
    y = qgemm(a, F32(1), U8(0), b, F32(1), U8(0), alpha=alpha)
    assert y.tolist() == [[2.0**24 + 4]]
    y = qgemm(a, F32(1), U8(0), b, F32(1), U8(0), alpha=alpha, requantize="onnxruntime")
    assert y.tolist() == [[2.0**24 + 2]]


def test_qgemm_float_output_subnormal_and_overflow() -> None:
    # 3 * 2**-149 * 2**-1 = 1.5 * 2**-149: the float32 subnormal tie between 1 and 2 quanta -> 2 * 2**-149
    tiny = F32(2.0**-149)
    y = qgemm(np.array([[3]], U8), tiny, U8(0), np.array([[1]], U8), F32(0.5), U8(0))
    assert y.tolist() == [[float(2 * tiny)]]
    # 255 * 255 * 3e38 * 1e-4 * 1 overflows float32: inf
    y = qgemm(np.array([[255]], U8), F32(3e38), U8(0), np.array([[255]], U8), F32(1e-4), U8(0))
    assert np.isinf(y).all()


# ---------------------------------------------------------------- inputs: untouched, bad ones rejected


def test_inputs_untouched_and_read_only_accepted() -> None:
    rng = np.random.default_rng(5)
    a, b = readonly(codes(rng, (3, 4), U8)), readonly(codes(rng, (4, 2), I8))
    sb, zb = readonly(np.array([0.1, 0.2], F32)), readonly(np.array([1, -1], I8))
    before = [x.copy() for x in (a, b, sb, zb)]
    qlinear_matmul(a, F32(0.1), U8(3), b, sb, zb, F32(0.3), U8(0))
    qgemm(a, F32(0.1), U8(3), b, sb, zb, readonly(np.array([1, 2], np.int32)), F32(0.3), U8(0))
    matmul_integer(a, b, U8(3), zb)
    for x, y in zip((a, b, sb, zb), before, strict=True):
        np.testing.assert_array_equal(x, y)


A2, B2 = np.zeros((2, 3), U8), np.zeros((3, 2), U8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(a=A2.astype(np.float32)), TypeError, "a must be a NumPy int8 or uint8"),
        (dict(a=[[1, 2, 3]]), TypeError, "a must be"),
        (dict(b=np.zeros((3, 2), np.int16)), TypeError, "b must be"),
        (dict(a=np.array(3, U8)), ValueError, "at least one dimension"),
        (dict(b=np.zeros((4, 2), U8)), ValueError, "do not multiply"),
        (dict(a_zero_point=np.int8(1)), TypeError, "a_zero_point must have a's type uint8"),
        (dict(a_zero_point=300), ValueError, r"a_zero_point must lie in \[0, 255\]"),
        (dict(a_zero_point=np.zeros(3, U8)), ValueError, "a_zero_point of shape"),
        (dict(b_zero_point=np.zeros((3, 1), U8)), ValueError, "b_zero_point of shape"),
        (dict(b_zero_point=1.5), ValueError, "b_zero_point must hold integers"),
        (dict(overflow="saturate"), ValueError, "overflow must be one of"),
    ],
)
def test_matmul_integer_rejects(kwargs: dict[str, Any], error: type, match: str) -> None:
    args: dict[str, Any] = dict(a=A2, b=B2, a_zero_point=None, b_zero_point=None) | kwargs
    with pytest.raises(error, match=match):
        matmul_integer(**args)


BASE_Q: dict[str, Any] = dict(
    a=A2, a_scale=F32(0.1), a_zero_point=U8(0), b=B2, b_scale=F32(0.2), b_zero_point=U8(0),
    y_scale=F32(0.5), y_zero_point=U8(0),
)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(a_scale=F32(0)), ValueError, "a_scale must be finite and > 0"),
        (
            dict(b_scale=np.array([np.nan, 1], F32), b_zero_point=np.zeros(2, U8)),
            ValueError,
            "b_scale must be",
        ),
        (dict(y_scale=1e-50), ValueError, "y_scale"),
        (dict(y_scale=np.array([0.1, 0.2], F32)), ValueError, "y_scale must be per tensor"),
        (dict(y_zero_point=0), TypeError, "y_zero_point must be a NumPy int8 or uint8"),
        (dict(y_zero_point=np.zeros(2, U8)), ValueError, "y_zero_point must be per tensor"),
        (dict(a_scale=np.float16(0.1)), TypeError, "share one float type"),
        (dict(requantize="exact"), ValueError, "requantize must be one of"),
        (
            dict(a_scale=np.array([0.1, 0.2, 0.3], F32), a_zero_point=np.zeros(3, U8)),
            ValueError,
            "a_zero_point of",
        ),
        (dict(a_scale=F32(3e38), b_scale=F32(3e38), requantize="onnxruntime"), ValueError, "multiplier"),
    ],
)
def test_qlinear_matmul_rejects(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        qlinear_matmul(**(BASE_Q | kwargs))


def test_qlinear_huge_multiplier_is_exact_in_spec() -> None:
    # 3e38 * 3e38 / 0.5 is far beyond float32, but exact arithmetic saturates (or gives 0 for acc = 0)
    a, b = np.array([[1, 0]], U8), np.array([[1], [1]], U8)
    assert qlm(a, F32(3e38), U8(0), b, F32(3e38), U8(0), F32(0.5), U8(0)) == [[255]]
    assert qlm(a * 0, F32(3e38), U8(0), b, F32(3e38), U8(0), F32(0.5), U8(7)) == [[7]]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(a=np.zeros((1, 2, 3), U8)), ValueError, "2-D"),
        (dict(y_scale=F32(1)), ValueError, "together"),
        (dict(y_zero_point=U8(0)), ValueError, "together"),
        (dict(c=np.zeros(2, np.int64)), TypeError, "c must be a NumPy int32"),
        (dict(c=np.zeros((3, 1), np.int32)), ValueError, "broadcastable"),
        (dict(alpha=float("inf")), ValueError, "alpha must be finite"),
        (dict(alpha=1e39), ValueError, "alpha must be finite"),
        (dict(alpha="1"), TypeError, "alpha must be a real number"),
        (dict(a_scale=np.array([0.1, 0.1], F32), a_zero_point=np.zeros(2, U8)), ValueError, "per tensor"),
        (dict(b_scale=np.ones((1, 2), F32)), ValueError, "scalar or an N-vector"),
        (dict(b_scale=np.ones(2, F32), b_zero_point=U8(0)), ValueError, "one shape"),
        (dict(a_zero_point=np.zeros(2, U8)), ValueError, "per tensor here"),
        (dict(requantize="onnx_reference"), ValueError, "requantize must be one of"),
        (dict(trans_a=1), TypeError, "trans_a must be a bool"),
        (dict(a_scale=np.float16(1), b_scale=np.float16(1)), TypeError, "float32"),
    ],
)
def test_qgemm_rejects(kwargs: dict[str, Any], error: type, match: str) -> None:
    base: dict[str, Any] = dict(a=A2, a_scale=F32(1), a_zero_point=U8(0), b=B2, b_scale=F32(1))
    with pytest.raises(error, match=match):
        qgemm(**(base | kwargs))


# ---------------------------------------------------------------- blocked requantization, float accumulators


def rne_dyadic(acc: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``rne(acc * 2**-shift)`` in int64 arithmetic: floor, remainder, half to even (shift >= 1)."""
    q = acc >> shift
    r, half = acc - (q << shift), 1 << (shift - 1)
    return q + ((r > half) | ((r == half) & (q % 2 == 1)))


@pytest.mark.parametrize("block", [None, 97])
def test_qlinear_dense_ties_across_blocks(monkeypatch: pytest.MonkeyPatch, block: int | None) -> None:
    # 300 x 250 outputs (more than one 2**16 block, or 97-element blocks), per-column dyadic multipliers
    # m = 2**-shift (a_scale 0.5, b_scale 2**-1..2**-3, y_scale 1): ties at every acc = 2**(shift-1) mod
    # 2**shift, exact in all three semantics (|acc| <= 4 * 20 * 10 = 800 < 2**24), so all equal rne_dyadic
    # (y_zero_point 4 is even: onnx.reference rounds acc * m + 4, which ties to even like acc * m)
    from refquant.integer import requantize

    if block is not None:
        monkeypatch.setattr(requantize, "_BLOCK", block)
    rng = np.random.default_rng(9)
    a, b = rng.integers(0, 21, (300, 4)).astype(U8), rng.integers(-10, 11, (4, 250)).astype(I8)
    shift = rng.integers(2, 5, 250)
    sb = (2.0 ** -(shift - 1)).astype(F32)
    acc = ref_acc(a, b, 10, 0).astype(np.int64)
    want = np.clip(rne_dyadic(acc, shift) + 4, -128, 127).astype(I8)
    ties = (acc % (1 << shift)) == (1 << (shift - 1))
    assert ties.sum() > 5000
    for how in ("spec", "onnx_reference", "onnxruntime"):
        y = qlinear_matmul(a, F32(0.5), U8(10), b, sb, np.zeros(250, I8), F32(1), I8(4), requantize=how)
        np.testing.assert_array_equal(y, want)


def test_qlinear_spec_near_ties_in_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # inexact multipliers and 13-element blocks: every block's suspects are decided as Fraction decides
    from refquant.integer import requantize

    monkeypatch.setattr(requantize, "_BLOCK", 13)
    rng = np.random.default_rng(4)
    a, b = codes(rng, (17, 6), U8), codes(rng, (6, 11), I8)
    sb = rng.choice([0.3, 0.7, 0.0123], 11).astype(F32)
    sa, sy, zy = F32(0.1), F32(37.3), U8(100)
    m = np.array([Fraction(float(sa)) * Fraction(float(s)) / Fraction(float(sy)) for s in sb], object)
    y = qlinear_matmul(a, sa, U8(7), b, sb, np.zeros(11, I8), sy, zy)
    np.testing.assert_array_equal(y, ref_spec(ref_acc(a, b, 7, 0), m, 100, U8))


def test_qlinear_k_sliced_accumulators_beyond_2_pow_24(monkeypatch: pytest.MonkeyPatch) -> None:
    # uint8 x int8 with zero points 0 and K = 1100: |a b| <= 255 * 128 = 32640 and the codes span their
    # whole types (a 0 and a 255, a -128 and a 127), so no shift of the codes keeps the sums within 2**24:
    # the accumulators (about 2.3e7 here) come from float32 products of K-slices of at most 2**24 // 32640
    # = 514 terms (three of 367), summed in float64. ORT converts each exact int32 accumulator to float32
    # (nearest even) before the float32 product: the reference does that from the int64 accumulators; the
    # spec is Fraction's.
    from refquant.integer import matmul

    calls: list[int] = []
    real = matmul._sliced_matmul
    monkeypatch.setattr(
        matmul, "_sliced_matmul", lambda x, y, split: calls.append(split) or real(x, y, split)
    )
    rng = np.random.default_rng(12)
    a, b = rng.integers(200, 256, (6, 1100)).astype(U8), rng.integers(60, 128, (1100, 5)).astype(I8)
    a[5, 0], b[0, 4] = 0, -128
    acc = ref_acc(a, b).astype(np.int64)
    assert acc[:5, :4].min() > 2**24 and not np.array_equal(acc.astype(F32).astype(np.int64), acc)
    sa, sb, sy = F32(1), F32(1), F32(3e5)
    m32 = F32(sa * sb) / sy
    want = np.clip(np.rint(acc.astype(F32) * m32) + 128, 0, 255).astype(U8)
    y = qlinear_matmul(a, sa, U8(0), b, sb, I8(0), sy, U8(128), requantize="onnxruntime")
    np.testing.assert_array_equal(y, want)
    m = np.array(Fraction(float(sa)) * Fraction(float(sb)) / Fraction(float(sy)), object)
    y = qlinear_matmul(a, sa, U8(0), b, sb, I8(0), sy, U8(128))
    np.testing.assert_array_equal(y, ref_spec(acc, m, 128, U8))
    np.testing.assert_array_equal(matmul_integer(a, b), acc.astype(np.int32))
    assert calls == [514] * 3


def test_qlinear_spec_suspects_decided_exactly_in_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # a_scale = 1 + 2**-23, b_scale = 1 - 2**-23, y_scale = 2: m = (1 - 2**-46) / 2 exactly (float64 holds
    # it), so every odd acc gives acc / 2 -+ |acc| 2**-47, within 2**-36 of a half: each one is a suspect,
    # and its exact rounding is toward zero ((acc - 1) / 2 for acc > 0). In 13-element blocks. ORT's
    # float32 multiplier fl(1 - 2**-46) / 2 = 1/2 makes them ties instead, to even.
    from refquant.integer import requantize

    monkeypatch.setattr(requantize, "_BLOCK", 13)
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 10, (20, 3)).astype(U8), rng.integers(-9, 10, (3, 9)).astype(I8)
    sa, sb, sy = F32(1 + 2.0**-23), F32(1 - 2.0**-23), F32(2)
    acc = ref_acc(a, b).astype(np.int64)
    odd = acc % 2 == 1
    assert odd.sum() > 40 and np.abs(acc).max() < 2**8
    y = qlinear_matmul(a, sa, U8(0), b, sb, I8(0), sy, I8(0))
    m = np.array(Fraction(float(sa)) * Fraction(float(sb)) / 2, object)
    np.testing.assert_array_equal(y, ref_spec(acc, m, 0, I8))
    np.testing.assert_array_equal(y[odd], np.trunc(acc[odd] / 2))  # toward zero
    y32 = qlinear_matmul(a, sa, U8(0), b, sb, I8(0), sy, I8(0), requantize="onnxruntime")
    np.testing.assert_array_equal(y32, rne_dyadic(acc, np.array(1)))
