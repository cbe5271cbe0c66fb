"""Unit and property tests of refquant.interop.onnx (ONNX Q/DQ/DynamicQuantizeLinear semantics).

Every expected value is derived by hand in the comments, never by calling the
code under test. The real onnx and onnxruntime are in tests/conformance.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.interop.onnx import dequantize_linear, dynamic_quantize_linear, quantize_linear

# type -> (qmin, qmax, storage dtype)
TYPES = {
    "uint8": (0, 255, np.uint8),
    "int8": (-128, 127, np.int8),
    "uint16": (0, 65535, np.uint16),
    "int16": (-32768, 32767, np.int16),
    "uint4": (0, 15, np.uint8),
    "int4": (-8, 7, np.int8),
    "uint2": (0, 3, np.uint8),
    "int2": (-2, 1, np.int8),
}
F32 = np.float32


def readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


# ---------------------------------------------------------------- QuantizeLinear: examples


def test_spec_example_uint8() -> None:
    # ONNX's own example: x / 2 + 128 -> 0/2=0 -> 128; 2/2=1 -> 129; 3/2=1.5 -> 2 (even) -> 130;
    # 1000/2=500 -> 628 -> 255; -254/2=-127 -> 1; -1000/2=-500 -> 0.
    x = np.array([0, 2, 3, 1000, -254, -1000], F32)
    y = quantize_linear(x, F32(2), np.uint8(128))
    assert y.dtype == np.uint8
    assert y.tolist() == [128, 129, 130, 255, 1, 0]


def test_ties_round_half_to_even() -> None:
    # scale 1, zero point 0: k + 0.5 goes to the even neighbour.
    x = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], F32)
    assert quantize_linear(x, F32(1), np.int8(0)).tolist() == [-4, -2, -2, 0, 0, 2, 2, 4]
    # scale 0.5: 0.25 / 0.5 = 0.5 -> 0; 0.75 / 0.5 = 1.5 -> 2; -0.75 / 0.5 = -1.5 -> -2 (all exact in binary)
    assert quantize_linear(np.array([0.25, 0.75, -0.75], F32), F32(0.5), np.int8(0)).tolist() == [0, 2, -2]
    # the zero point is added after rounding: 2.5 -> 2, + 3 = 5 (not rint(5.5) = 6)
    assert quantize_linear(np.array([2.5], F32), F32(1), np.uint8(3)).tolist() == [5]


def test_one_ulp_either_side_of_a_tie() -> None:
    # nextafter(2.5) rounds up to 3, nextbefore(2.5) rounds down to 2 (scale 1 divides exactly)
    up, down = np.nextafter(F32(2.5), F32(3)), np.nextafter(F32(2.5), F32(2))
    assert quantize_linear(np.array([down, 2.5, up], F32), F32(1), np.int8(0)).tolist() == [2, 2, 3]


def test_signed_zero() -> None:
    # rint(-0.0) = -0.0; + zero point 7 -> 7, same as +0.0
    assert quantize_linear(np.array([-0.0, 0.0], F32), F32(0.1), np.uint8(7)).tolist() == [7, 7]


@pytest.mark.parametrize("name", list(TYPES))
def test_saturation_inf_and_huge_values(name: str) -> None:
    qmin, qmax, storage = TYPES[name]
    # inf and values far beyond 2**31 * scale clip in floating point: nothing wraps.
    x = np.array([np.inf, -np.inf, 3e9, -3e9, 2.0**31, -(2.0**31), 1e30, -1e30], F32)
    y = quantize_linear(x, F32(1), None, output_dtype=name)
    assert y.dtype == storage
    assert y.tolist() == [qmax, qmin] * 4


def test_huge_value_relative_to_scale() -> None:
    # |x| >= 2**31 * scale: x = 2**31 * 0.5 with scale 0.5 is 2**31 codes -> saturates at 127 / -128;
    # onnx.reference casts 2**31 to int32 first, giving INT32_MIN, i.e. -128.
    x = np.array([2.0**30, -(2.0**30)], F32)
    assert quantize_linear(x, F32(0.5), np.int8(0)).tolist() == [127, -128]


@pytest.mark.parametrize("name", list(TYPES))
def test_saturation_of_every_output_type(name: str) -> None:
    qmin, qmax, storage = TYPES[name]
    # one code beyond each end saturates; the ends themselves are kept
    x = np.array([qmin - 1, qmin, qmax, qmax + 1], np.float64)
    y = quantize_linear(x, 1.0, None, output_dtype=name)
    assert y.dtype == storage
    assert y.tolist() == [qmin, qmin, qmax, qmax]


@pytest.mark.parametrize("name", list(TYPES))
def test_nan_gives_the_minimum_code(name: str) -> None:
    qmin, qmax, _ = TYPES[name]
    # refquant's NaN policy: quant_min (ORT's result), whatever the zero point
    for zp in {qmin, 0 if qmin < 0 else 1, qmax}:
        y = quantize_linear(np.array([np.nan, 1.0], F32), F32(1), zp, output_dtype=name)
        assert y.tolist()[0] == qmin


def test_nan_per_axis_and_blocked() -> None:
    x = np.array([[np.nan, 1.0], [2.0, np.nan]], F32)
    # per-axis (axis 0), int8 zero points [5, -5]: NaN -> -128, 2/1 - 5 = -3
    y = quantize_linear(x, np.array([1, 1], F32), np.array([5, -5], np.int8), axis=0)
    assert y.tolist() == [[-128, 6], [-3, -128]]
    # blocked along axis 1 with block 1: same numbers
    y = quantize_linear(x, np.ones((2, 2), F32), np.array([[5, 5], [-5, -5]], np.int8), block_size=1)
    assert y.tolist() == [[-128, 6], [-3, -128]]


def test_empty_and_zero_d() -> None:
    # 0-d: 2.5 -> 2 (even); the default axis=1 is ignored for a per-tensor scale
    y = quantize_linear(F32(2.5), F32(1))
    assert y.shape == () and y.dtype == np.uint8 and int(y) == 2
    y = quantize_linear(np.zeros((0,), F32), F32(1), np.int8(0))
    assert y.shape == (0,) and y.dtype == np.int8
    # per-axis over an empty axis: scale of length 0
    y = quantize_linear(np.zeros((2, 0), F32), np.zeros((0,), F32), np.zeros((0,), np.int8))
    assert y.shape == (2, 0)
    y = quantize_linear(np.zeros((0, 3), F32), np.ones(3, F32), axis=1)
    assert y.shape == (0, 3) and y.dtype == np.uint8


def test_subnormal_scale() -> None:
    # float32 scale 2**-140 is subnormal (min normal 2**-126); 2.5 * 2**-140 / 2**-140 = 2.5 exactly -> 2;
    # 1.0 / 2**-140 = 2**140 -> saturates at 127.
    s = F32(2.0**-140)
    x = np.array([2.5 * 2.0**-140, 3 * 2.0**-140, 1.0], F32)
    assert quantize_linear(x, s, np.int8(0)).tolist() == [2, 3, 127]
    # float64 subnormal scale 2**-1074 (the smallest): 5 * 2**-1074 / 2**-1074 = 5
    assert quantize_linear(np.array([5 * 2.0**-1074]), 2.0**-1074, np.int8(0)).tolist() == [5]


def test_per_axis() -> None:
    # axis 1 of a (2, 3) array: scales [1, 2, 4], zero points [0, 10, 20] (uint8)
    # row 0: 1/1=1 -> 1; 5/2=2.5 -> 2 -> 12; 10/4=2.5 -> 2 -> 22
    # row 1: -1/1 -> -1 -> 0 (saturated); 3/2=1.5 -> 2 -> 12; 1000/4=250 -> 270 -> 255
    x = np.array([[1, 5, 10], [-1, 3, 1000]], F32)
    y = quantize_linear(x, np.array([1, 2, 4], F32), np.array([0, 10, 20], np.uint8))
    assert y.tolist() == [[1, 12, 22], [0, 12, 255]]
    # axis=-1 is the same axis here
    y2 = quantize_linear(x, np.array([1, 2, 4], F32), np.array([0, 10, 20], np.uint8), axis=-1)
    assert y2.tolist() == y.tolist()


def test_blocked_partial_last_block() -> None:
    # x of length 5, block 2 -> 3 blocks [0:2], [2:4], [4:5] with scales [1, 2, 4]
    # [1, 2] / 1 = [1, 2]; [3, 4] / 2 = [1.5 -> 2, 2]; [5] / 4 = 1.25 -> 1
    x = np.array([1, 2, 3, 4, 5], F32)
    y = quantize_linear(x, np.array([1, 2, 4], F32), np.zeros(3, np.int8), axis=0, block_size=2)
    assert y.tolist() == [1, 2, 2, 2, 1]


def test_blocked_2d_with_zero_points() -> None:
    # ONNX's blocked example: x (3, 4), axis 1, block 2, scales (3, 2), uint8 zero points (3, 2)
    # row 0: 6/1.5=4 +0 -> 4; 12/1.5=8 -> 8; 50/2.5=20 +1 -> 21; 5/2.5=2 +1 -> 3
    # row 1: 1/3=0.33 -> 0 +1 -> 1; 8/3=2.67 -> 3 +1 -> 4; 4/4.9=0.82 -> 1 +0 -> 1; 5/4.9=1.02 -> 1 -> 1
    # row 2: 0/5.1 -> 0 +2 -> 2; 20/5.1=3.92 -> 4 +2 -> 6; 10/6.9=1.45 -> 1 +3 -> 4; 4/6.9=0.58 -> 1 +3 -> 4
    x = np.array([[6, 12, 50, 5], [1, 8, 4, 5], [0, 20, 10, 4]], F32)
    s = np.array([[1.5, 2.5], [3, 4.9], [5.1, 6.9]], F32)
    z = np.array([[0, 1], [1, 0], [2, 3]], np.uint8)
    assert quantize_linear(x, s, z, axis=1, block_size=2).tolist() == [
        [4, 8, 21, 3],
        [1, 4, 1, 1],
        [2, 6, 4, 4],
    ]


def test_output_type_rules() -> None:
    x = np.array([-100.0, 9.0, 100.0], F32)
    # no zero point -> uint8
    assert quantize_linear(x, F32(1)).dtype == np.uint8
    # the zero point's dtype decides
    assert quantize_linear(x, F32(1), np.int16(0)).dtype == np.int16
    assert quantize_linear(x, F32(1), np.uint16(0)).tolist() == [0, 9, 100]
    # int8 storage with output_dtype="int4": [-8, 7]; -100 -> -8, 9 -> 7, 100 -> 7
    y = quantize_linear(x, F32(1), np.int8(0), output_dtype="int4")
    assert y.dtype == np.int8 and y.tolist() == [-8, 7, 7]
    # Python ints carry no type: output_dtype decides (uint2: [0, 3]); 9 + 1 -> 3
    assert quantize_linear(x, F32(1), 1, output_dtype="uint2").tolist() == [0, 3, 3]
    assert quantize_linear(x, F32(1), 1).dtype == np.uint8


def test_ml_dtypes_zero_point() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    # an ml_dtypes int4 zero point selects int4: 9 + (-2) = 7; -100 -> -8; 3 - 2 = 1
    z = np.array(-2, dtype=ml_dtypes.int4)
    y = quantize_linear(np.array([9, -100, 3], F32), F32(1), z)
    assert y.dtype == np.int8 and y.tolist() == [7, -8, 1]
    # a float8 zero point selects float8e4m3fn; 1.0 is 0 0111 000 (bias 7) = 0x38, returned as its code
    y = quantize_linear([1.0], 1.0, np.array(0, dtype=ml_dtypes.float8_e4m3fn))
    assert y.tolist() == [0x38]


def test_compute_dtype_follows_the_scale() -> None:
    # float32(0.35) = 0.3499999940, float32(0.1) = 0.1000000015: the float32 quotient 3.49999988 is
    # within half a float32 ulp (1.19e-7) of 3.5, so it rounds to 3.5, a tie -> 4. In float64 the
    # same operands give 3.49999994 -> 3.
    x = np.array([0.35], F32)
    assert quantize_linear(x, 0.1, np.uint8(0)).tolist() == [4]  # Python float -> x's dtype
    assert quantize_linear(x, F32(0.1), np.uint8(0)).tolist() == [4]
    assert quantize_linear(x, np.float64(0.1), np.uint8(0)).tolist() == [3]  # float64 scale: float64 division
    # float16 scale: x is converted to float16 first; 70000 > 65504 (float16 max) -> inf -> 127.
    # (float32 division would give 70000 / 1024 = 68.36 -> 68.)
    assert quantize_linear(np.array([70000.0], F32), np.float16(1024), np.int8(0)).tolist() == [127]


def test_float16_division_tie() -> None:
    # float16(-1.408) = -1442 * 2**-10, float16(0.0123) = 1612 * 2**-17: the quotient is
    # -1442 * 128 / 1612 = -114.50124; float16's spacing in [64, 128) is 1/16, so the float16
    # quotient is -114.5, a tie -> -114 (ORT divides in float32: -114.50124 -> -115).
    y = quantize_linear(np.array([-1.408], np.float16), np.float16(0.0123), np.int8(0))
    assert y.tolist() == [-114]


def test_int32_input() -> None:
    # int32 x is converted to the scale's dtype: 7 / 2 = 3.5 -> 4; -5 / 2 = -2.5 -> -2
    y = quantize_linear(np.array([7, -5], np.int32), F32(2), np.int8(0))
    assert y.tolist() == [4, -2]


def test_saturate_is_accepted_but_irrelevant_for_integers() -> None:
    x = np.array([1e9], F32)
    assert quantize_linear(x, F32(1), np.int8(0), saturate=False).tolist() == [127]
    assert quantize_linear(x, F32(1), np.int8(0), saturate=np.True_).tolist() == [127]


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        (dict(x=[1.0], y_scale=0.0), ValueError, "y_scale"),
        (dict(x=[1.0], y_scale=-1.0), ValueError, "y_scale"),
        (dict(x=[1.0], y_scale=np.inf), ValueError, "y_scale"),
        (dict(x=[1.0], y_scale=float("nan")), ValueError, "y_scale"),
        (dict(x=np.array([1.0], F32), y_scale=1e-50), ValueError, "y_scale"),  # 0 in float32
        (dict(x=[1.0], y_scale=np.float16(1), y_zero_point=None, saturate=1), TypeError, "saturate"),
        (dict(x=[1.0], y_scale=1.0, axis=1.5), TypeError, "axis"),
        (dict(x=[1.0], y_scale=1.0, block_size=-2), ValueError, "block_size"),
        (dict(x=[1.0], y_scale=1.0, block_size=2.0), TypeError, "block_size"),
        (dict(x=[1.0], y_scale=1.0, output_dtype="int3"), ValueError, "output_dtype"),
        (dict(x=[1.0], y_scale=1.0, output_dtype=np.uint8), TypeError, "output_dtype"),
        (dict(x=[1.0], y_scale=1.0, output_dtype="float8e8m0"), ValueError, "output_dtype"),
        (dict(x=[1.0], y_scale=1.0, y_zero_point=np.int64(0)), TypeError, "y_zero_point"),
        (
            dict(x=[1.0], y_scale=1.0, y_zero_point=np.int8(0), output_dtype="uint8"),
            ValueError,
            "output_dtype",
        ),
        (
            dict(x=[1.0], y_scale=1.0, y_zero_point=np.uint8(0), output_dtype="int4"),
            ValueError,
            "output_dtype",
        ),
        (
            dict(x=[1.0], y_scale=1.0, y_zero_point=np.int8(9), output_dtype="int4"),
            ValueError,
            "y_zero_point",
        ),
        (dict(x=[1.0], y_scale=1.0, y_zero_point=300), ValueError, "y_zero_point"),
        (dict(x=[1.0], y_scale=1.0, y_zero_point=-1), ValueError, "y_zero_point"),
        (dict(x=np.ones((2, 3)), y_scale=np.ones(2)), ValueError, "y_scale"),
        (dict(x=np.ones((2, 3)), y_scale=np.ones(2), axis=5), ValueError, "axis"),
        (dict(x=np.ones((2, 3)), y_scale=np.ones((2, 2))), ValueError, "y_scale"),
        (dict(x=np.ones((2, 3)), y_scale=np.ones((2, 1)), block_size=2), ValueError, "y_scale"),
        (
            dict(x=np.ones((2, 3)), y_scale=np.ones(3), y_zero_point=np.zeros(2, np.uint8)),
            ValueError,
            "y_zero_point",
        ),
        (dict(x=["a"], y_scale=1.0), TypeError, "x"),
        (dict(x=[1.0], y_scale=["a"]), TypeError, "y_scale"),
        (dict(x=[1.0], y_scale=np.int32(2)), TypeError, "y_scale"),
    ],
)
def test_quantize_linear_bad_arguments(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=word):
        quantize_linear(**kwargs)


# ---------------------------------------------------------------- DequantizeLinear: examples


def test_dequantize_spec_example() -> None:
    # (x - 128) * 2: 0 -> -256, 3 -> -250, 128 -> 0, 255 -> 254
    y = dequantize_linear(np.array([0, 3, 128, 255], np.uint8), F32(2), np.uint8(128))
    assert y.dtype == np.float32 and y.tolist() == [-256.0, -250.0, 0.0, 254.0]


def test_dequantize_dtypes_and_defaults() -> None:
    # no zero point: x * s; a Python float scale gives float32
    y = dequantize_linear(np.array([-3, 5], np.int8), 0.5)
    assert y.dtype == np.float32 and y.tolist() == [-1.5, 2.5]
    assert dequantize_linear(np.array([1], np.int8), np.float64(0.1)).dtype == np.float64
    assert dequantize_linear(np.array([1], np.int8), np.float16(0.1)).dtype == np.float16
    # uint16 with zero point 32767: 30000 - 32767 = -2767 -> * 2 = -5534
    y = dequantize_linear(np.array([30000, 65535], np.uint16), F32(2), np.uint16(32767))
    assert y.tolist() == [-5534.0, 65536.0]


def test_dequantize_float16_is_rounded_once() -> None:
    # float16(0.11676025390625) = 1913 * 2**-14 exactly. (-23150) * 1913 / 2**14 = -2702.99987793;
    # float16's spacing in [2048, 4096) is 2, so the correctly rounded result is -2702 (0.9999 away,
    # -2704 is 1.0001 away). A float32 product first rounds to -2703.0 (a float16 tie), then to -2704
    # (even): that is what ORT and onnx.reference return.
    y = dequantize_linear(np.array([-23150], np.int16), np.float16(0.11676025390625))
    assert y.dtype == np.float16 and y.tolist() == [-2702.0]
    # overflow of the float16 range: 65535 * 2 = 131070 > 65504 raises (ORT returns inf)
    with pytest.raises(ValueError, match=r"x_scale overflows float16.*x=\[65535\], x_scale=\[2\.0\]"):
        dequantize_linear(np.array([65535, 0], np.uint16), np.float16(2.0))


def test_dequantize_int32() -> None:
    # int32 (bias) codes, zero point 0: 7 * 0.5 = 3.5
    assert dequantize_linear(np.array([7, -7], np.int32), F32(0.5)).tolist() == [3.5, -3.5]
    assert dequantize_linear(np.array([7], np.int32), F32(0.5), np.int32(0)).tolist() == [3.5]
    # 2**24 + 1 is not a float32: it becomes 2**24 first (ties to even), * 0.75 = 12582912
    # (the exact 12582912.75 would round to 12582913); ORT and onnx.reference do the same.
    assert dequantize_linear(np.array([2**24 + 1], np.int32), F32(0.75)).tolist() == [12582912.0]
    with pytest.raises(ValueError, match="x_zero_point"):
        dequantize_linear(np.array([7], np.int32), F32(0.5), np.int32(3))


def test_dequantize_per_axis_and_blocked() -> None:
    # per axis 1: scales [1, 2], zero points [0, 10] -> [[3, (5-10)*2], [-3, (20-10)*2]]
    x = np.array([[3, 5], [-3, 20]], np.int8)
    y = dequantize_linear(x, np.array([1, 2], F32), np.array([0, 10], np.int8))
    assert y.tolist() == [[3.0, -10.0], [-3.0, 20.0]]
    # blocked, length 5, block 2, scales [1, 2, 4]: [1, 2, 3*2, 4*2, 5*4]
    y = dequantize_linear(np.array([1, 2, 3, 4, 5], np.uint8), np.array([1, 2, 4], F32), axis=0, block_size=2)
    assert y.tolist() == [1.0, 2.0, 6.0, 8.0, 20.0]


def test_dequantize_empty_and_zero_d() -> None:
    y = dequantize_linear(np.uint8(3), F32(0.5), np.uint8(1))
    assert y.shape == () and float(y) == 1.0  # (3 - 1) * 0.5
    y = dequantize_linear(np.zeros((0, 2), np.int8), np.ones(2, F32), axis=1)
    assert y.shape == (0, 2) and y.dtype == np.float32


def test_dequantize_python_ints_and_sub_byte() -> None:
    # Python lists are int32 codes; typeless zero points are checked against x's type
    assert dequantize_linear([1, 2], 0.5, 0).tolist() == [0.5, 1.0]
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.array([-8, 7, 1], dtype=ml_dtypes.int4)
    z = np.array(1, dtype=ml_dtypes.int4)
    # (-8 - 1) * 2 = -18; (7 - 1) * 2 = 12; 0
    assert dequantize_linear(x, F32(2), z).tolist() == [-18.0, 12.0, 0.0]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "word"),
    [
        ((np.array([1.0]), 1.0), {}, TypeError, "x"),
        ((np.array([1], np.int64), 1.0), {}, TypeError, "x"),
        (([2**40], 1.0), {}, ValueError, "x"),
        ((np.array([1], np.uint8), 0.0), {}, ValueError, "x_scale"),
        ((np.array([1], np.uint8), -2.0), {}, ValueError, "x_scale"),
        ((np.array([1], np.uint8), np.array([1, 2], F32)), {}, ValueError, "axis"),
        ((np.array([1], np.uint8), np.array([1], np.int32)), {}, TypeError, "x_scale"),
        ((np.array([1], np.uint8), 1.0, np.int8(0)), {}, TypeError, "x_zero_point"),
        ((np.array([1], np.uint8), 1.0, 256), {}, ValueError, "x_zero_point"),
        ((np.array([1], np.int8), 1.0, -129), {}, ValueError, "x_zero_point"),
        ((np.ones((2, 3), np.uint8), np.ones(3, F32), np.zeros(2, np.uint8)), {}, ValueError, "x_zero_point"),
        ((np.ones((2, 3), np.uint8), np.ones((2, 2), F32)), {"block_size": 1}, ValueError, "x_scale"),
        ((np.ones((2, 3), np.uint8), 1.0), {"block_size": -1}, ValueError, "block_size"),
        ((np.ones((2, 3), np.uint8), 1.0), {"axis": "0"}, TypeError, "axis"),
    ],
)
def test_dequantize_linear_bad_arguments(args: tuple, kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=word):
        dequantize_linear(*args, **kwargs)


def test_dequantize_rejects_int32_scale_type_mismatch() -> None:
    # x_scale must be a float; an integer NumPy array is rejected by name
    with pytest.raises(TypeError, match="x_scale"):
        dequantize_linear(np.array([1], np.uint8), np.int32(2))


# ---------------------------------------------------------------- DynamicQuantizeLinear: examples


def test_dynamic_spec_example() -> None:
    # range [-3, 2] -> scale float32(5/255) = 0.019607844 (slightly above 5/255);
    # zero point 0 - (-3)/scale = 153.0 -> 153.
    # 0 -> 153; 2/s = 102 -> 255; -3/s = -153 -> 0; -2.5/s = -127.49999 (scale rounded up) -> -127 -> 26;
    # 1.34/s = 68.34 -> 68 -> 221; 0.5/s = 25.5 -> 26 (even) -> 179.
    y, s, z = dynamic_quantize_linear(np.array([0, 2, -3, -2.5, 1.34, 0.5], F32))
    assert y.dtype == np.uint8 and s.dtype == np.float32 and z.dtype == np.uint8
    assert s.shape == () and z.shape == ()
    assert y.tolist() == [153, 255, 0, 26, 221, 179]
    assert s == F32(5) / F32(255) and int(z) == 153


def test_dynamic_only_negative_and_only_positive() -> None:
    # [-1, -2]: range [-2, 0], scale float32(2/255) (rounded up), zero point 2/(2/255) = 255;
    # -1/s = -127.49999 -> -127 -> 128; -2/s = -255 -> 0
    y, s, z = dynamic_quantize_linear(np.array([-1, -2], F32))
    assert y.tolist() == [128, 0] and int(z) == 255 and s == F32(2) / F32(255)
    # [1, 4]: range [0, 4], zero point 0; 1/(4/255) = 63.75 -> 64; 4 -> 255
    y, s, z = dynamic_quantize_linear(np.array([1, 4], F32))
    assert y.tolist() == [64, 255] and int(z) == 0


def test_dynamic_all_zero_and_empty() -> None:
    # the spec's scale is 0/255 = 0 and its zero point 0 - 0/0: refquant returns ORT's scale 1.0
    for x in (np.zeros(4, F32), -np.zeros(3, F32), np.zeros(0, F32), np.zeros((2, 0, 3), F32)):
        y, s, z = dynamic_quantize_linear(x)
        assert not y.any() and float(s) == 1.0 and int(z) == 0
        assert y.shape == x.shape and y.dtype == np.uint8


def test_dynamic_zero_d_and_lists() -> None:
    # 0-d 1.5: range [0, 1.5], zero point 0, 1.5 / (1.5/255) = 255 (float32: 1.5/0.005882353 = 255.0)
    y, s, z = dynamic_quantize_linear(F32(1.5))
    assert y.shape == () and int(y) == 255 and int(z) == 0
    y, s, z = dynamic_quantize_linear([0.0, 1.0])  # a list becomes float32
    assert y.tolist() == [0, 255] and s == F32(1) / F32(255)


def test_dynamic_three_values() -> None:
    # [1, -1, 2]: range [-1, 2], scale float32(3/255), zero point 1/(3/255) = 85.0 -> 85;
    # 1/s = 85 -> 170; -1 -> 0; 2/s = 170 -> 255
    y, s, z = dynamic_quantize_linear(np.array([1, -1, 2], F32))
    assert y.tolist() == [170, 0, 255] and int(z) == 85 and s == F32(3) / F32(255)


@pytest.mark.parametrize(
    ("x", "error", "word"),
    [
        (np.array([np.inf, 1.0], F32), ValueError, "finite"),
        (np.array([-np.inf, 1.0], F32), ValueError, "finite"),
        (np.array([np.nan, 1.0, -1.0, 2.0], F32), ValueError, "finite"),
        (np.full(3, np.nan, F32), ValueError, "x must be finite"),
        (np.array([-3e38, 3e38], F32), ValueError, "y_scale"),  # 6e38 overflows float32
        (np.array([1e-45], F32), ValueError, "y_scale"),  # 1.4e-45 / 255 underflows to 0
        (np.array([1.0, 2.0]), TypeError, "float32"),  # float64 array
        (np.array([1.0], np.float16), TypeError, "x"),
        (np.array(["a"]), TypeError, "x"),
    ],
)
def test_dynamic_bad_inputs(x: np.ndarray, error: type, word: str) -> None:
    with pytest.raises(error, match=word):
        dynamic_quantize_linear(x)


# ---------------------------------------------------------------- properties

type_names = st.sampled_from(list(TYPES))
finite32 = st.floats(-1e6, 1e6, width=32, allow_subnormal=True)
any32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
scales32 = st.floats(float(F32(1e-6)), 1e3, width=32)


@st.composite
def quant_case(draw: st.DrawFn, elements: st.SearchStrategy[float] = any32) -> tuple:
    name = draw(type_names)
    qmin, qmax, storage = TYPES[name]
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
    x = draw(hnp.arrays(F32, shape, elements=elements))
    return name, qmin, qmax, storage, x


@given(quant_case(), scales32, st.data())
def test_codes_within_range(case: tuple, scale: float, data: st.DataObject) -> None:
    name, qmin, qmax, storage, x = case
    zp = data.draw(st.integers(qmin, qmax))
    y = quantize_linear(readonly(x), F32(scale), zp, output_dtype=name)
    assert y.dtype == storage and y.shape == x.shape
    assert y.size == 0 or (qmin <= y.min() and y.max() <= qmax)


@given(quant_case(), st.data())
def test_per_axis_equals_per_tensor_slice_by_slice(case: tuple, data: st.DataObject) -> None:
    name, qmin, qmax, _, x = case
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    scales = np.array(data.draw(st.lists(scales32, min_size=n, max_size=n)), F32)
    zps = np.array(data.draw(st.lists(st.integers(qmin, qmax), min_size=n, max_size=n)), np.int64)
    y = quantize_linear(readonly(x), readonly(scales), zps.tolist(), axis=axis, output_dtype=name)
    for i in range(n):
        xi = np.take(x, i, axis=axis)
        yi = quantize_linear(xi, scales[i], int(zps[i]), output_dtype=name)
        np.testing.assert_array_equal(np.take(y, i, axis=axis), yi)


@given(quant_case(), st.data())
def test_blocked_equals_per_tensor_block_by_block(case: tuple, data: st.DataObject) -> None:
    name, qmin, qmax, storage, x = case
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    ax = axis % x.ndim
    block = data.draw(st.integers(1, 6))
    nblocks = -(-x.shape[ax] // block)
    pshape = (*x.shape[:ax], nblocks, *x.shape[ax + 1 :])
    scales = data.draw(hnp.arrays(F32, pshape, elements=scales32))
    zps = data.draw(hnp.arrays(np.int64, pshape, elements=st.integers(qmin, qmax))).astype(storage)
    y = quantize_linear(
        readonly(x), readonly(scales), readonly(zps), axis=axis, block_size=block, output_dtype=name
    )
    for idx in np.ndindex(*pshape):
        j = idx[ax]
        sl = tuple(
            slice(j * block, (j + 1) * block) if d == ax else slice(i, i + 1) for d, i in enumerate(idx)
        )
        yb = quantize_linear(x[sl], scales[idx], int(zps[idx]), output_dtype=name)
        np.testing.assert_array_equal(y[sl], yb)


@given(quant_case(), scales32, st.data())
def test_inputs_untouched_and_deterministic(case: tuple, scale: float, data: st.DataObject) -> None:
    name, qmin, qmax, storage, x = case
    zp = np.array(data.draw(st.integers(qmin, qmax))).astype(storage)
    xr, sr, zr = readonly(x), readonly(np.array(scale, F32)), readonly(zp)
    before = (xr.tobytes(), sr.tobytes(), zr.tobytes())
    y1 = quantize_linear(xr, sr, zr, output_dtype=name)
    y2 = quantize_linear(xr, sr, zr, output_dtype=name)
    np.testing.assert_array_equal(y1, y2)
    d1 = dequantize_linear(readonly(y1), sr, zr)
    d2 = dequantize_linear(readonly(y1), sr, zr)
    np.testing.assert_array_equal(d1, d2)
    assert (xr.tobytes(), sr.tobytes(), zr.tobytes()) == before


@given(quant_case(finite32), scales32, st.data())
def test_round_trip_error_at_most_half_a_step(case: tuple, scale: float, data: st.DataObject) -> None:
    name, qmin, qmax, _, x = case
    zp = data.draw(st.integers(qmin, qmax))
    s = F32(scale)
    y = quantize_linear(x, s, zp, output_dtype=name)
    xhat = dequantize_linear(y, s, zp).astype(np.float64)
    inside = (x / np.float64(s) + zp >= qmin) & (x / np.float64(s) + zp <= qmax)
    # inside the range: |x - x_hat| <= s/2 (plus float32 rounding of x / s and of the product)
    err = np.abs(x.astype(np.float64) - xhat)[inside]
    bound = (
        0.5 * float(s) + 1e-6 * np.abs(x.astype(np.float64))[inside] + 1e-6 * float(s) * (abs(qmax) + abs(zp))
    )
    assert np.all(err <= bound)


@given(hnp.arrays(F32, hnp.array_shapes(min_dims=0, max_dims=2, max_side=6), elements=finite32))
def test_dynamic_properties(x: np.ndarray) -> None:
    xr = readonly(x)
    if np.any(x) and (max(F32(0), x.max()) - min(F32(0), x.min())) / F32(255) == 0:
        with pytest.raises(ValueError, match="y_scale"):  # subnormal range: the scale underflows to 0
            dynamic_quantize_linear(xr)
        return
    y, s, z = dynamic_quantize_linear(xr)
    y2, s2, z2 = dynamic_quantize_linear(xr)
    np.testing.assert_array_equal(y, y2)
    assert s == s2 and z == z2 and y.shape == x.shape and y.dtype == np.uint8
    if x.size == 0 or not np.any(x):
        assert float(s) == 1.0 and int(z) == 0
        return
    # the scale is the float32 range over 255; 0 is exact: (z - z) * s = 0
    lo, hi = min(F32(0), x.min()), max(F32(0), x.max())
    assert s == (hi - lo) / F32(255)
    assert z == np.rint(np.clip(-lo / s, 0, 255))
    if s < np.finfo(F32).tiny:  # a subnormal scale is rounded by up to half its size: no error bound
        return
    # every element is within one step of its dequantized value (the zero point's rounding can push
    # the largest element half a step past 255)
    xhat = (y.astype(np.float64) - int(z)) * float(s)
    assert np.all(np.abs(xhat - x) <= float(s) * (1 + 1e-5) + 1e-6 * np.abs(x))


# ---------------------------------------------------------------- hostile inputs (issue 8)


def test_dynamic_quantize_linear_hostile_inputs() -> None:
    # 1e39 has no float32 value (the operator's only input type): named, not turned into inf
    with pytest.raises(ValueError, match=r"x must fit float32 .*got \[1e\+39\]"):
        dynamic_quantize_linear([1e39, 0.0])
    with pytest.raises(ValueError, match=r"x must be finite .*\[nan\]"):
        dynamic_quantize_linear(np.array([np.nan, 1.0], F32))
    # the spec's float32 (max - min) / 255 overflows for +-3e38: a clear error, not y_scale = inf
    with pytest.raises(ValueError, match="y_scale = inf in float32"):
        dynamic_quantize_linear(np.array([-3e38, 3e38], F32))
    y, s, z = dynamic_quantize_linear(np.zeros((0, 3), F32))
    assert y.shape == (0, 3) and y.dtype == np.uint8 and float(s) == 1.0 and int(z) == 0


def test_quantize_linear_x_beyond_the_scale_dtype_saturates() -> None:
    # float64 x with a float32 y_scale: x is converted to float32 first; 1e39 -> inf -> 255
    assert quantize_linear(np.array([1e39, -1e39, 2.0]), F32(1.0), np.uint8(0)).tolist() == [255, 0, 2]


def test_attributes_are_int64() -> None:
    with pytest.raises(ValueError, match=r"axis must fit int64 .*got 9223372036854775808"):
        dequantize_linear(np.array([1, 2], np.uint8), F32(0.5), np.uint8(0), axis=2**63)
    with pytest.raises(
        TypeError, match=r"x_zero_point must have x's type int32 \(x of shape \(\)\), got uint8 \[3\]"
    ):
        dequantize_linear(0, F32(0.5), np.uint8(3))
