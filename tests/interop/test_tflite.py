"""Unit tests of refquant.interop.tflite (TFLite's names, the fully-connected kernels, the node).

Expected values are worked out by hand in the comments (powers of two make
every multiplier exact, so the ties are exact too). The real interpreter is in
tests/conformance/test_tflite_integer_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from refquant.interop import tflite

I8 = np.int8


def test_quantize_multiplier_returns_python_ints() -> None:
    q, s = tflite.quantize_multiplier(0.75)
    assert (q, s) == (3 * 2**29, 0) and type(q) is int and type(s) is int
    assert tflite.quantize_multiplier(2.0**31, rounding="single") == (2**31 - 1, 30)
    with pytest.raises(TypeError, match="double_multiplier"):
        tflite.quantize_multiplier([0.5])  # type: ignore[arg-type]


def test_smaller_than_one_and_greater_than_one() -> None:
    assert tflite.quantize_multiplier_smaller_than_one_exp(0.125) == (2**30, -2)  # 0.5 * 2**-2
    assert tflite.quantize_multiplier_greater_than_one(3.0) == (3 * 2**29, 2)  # 0.75 * 2**2
    for bad in (0.0, 1.0, 1.5, -0.5):
        with pytest.raises(ValueError, match="double_multiplier"):
            tflite.quantize_multiplier_smaller_than_one_exp(bad)
    for bad in (1.0, 0.5, float("inf")):
        with pytest.raises(ValueError, match="double_multiplier"):
            tflite.quantize_multiplier_greater_than_one(bad)


def test_gemmlowp_names() -> None:
    assert tflite.saturating_rounding_doubling_high_mul(-3, 2**30).tolist() == -1  # -1.5 -> -1
    assert tflite.rounding_divide_by_pot(-3, 1).tolist() == -2  # -1.5 -> -2
    assert tflite.multiply_by_quantized_multiplier(-6, 2**30, -1).tolist() == -2  # -1.5, double rounding


def test_the_two_multiplier_formulas() -> None:
    s = 1 + 2**-12  # (1 + 2**-12)**2 rounds to 1 + 2**-11 in float32
    assert tflite.get_quantized_convolution_multiplier(s, s, 1.0) == 1 + 2**-11
    q, sh = tflite.populate_convolution_quantization_params(s, [s], 1.0)
    # in double: 1 + 2**-11 + 2**-24 = (0.5 + 2**-12 + 2**-25) * 2**1; times 2**31: 2**30 + 2**19 + 2**6
    assert q.tolist() == [2**30 + 2**19 + 2**6] and sh.tolist() == [1]
    assert tflite.quantize_multiplier(1 + 2**-11) == (2**30 + 2**19, 1)
    with pytest.raises(ValueError, match="filter_scales"):
        tflite.populate_convolution_quantization_params(1.0, [], 1.0)


@pytest.mark.parametrize(
    "activation, scale, zp, want",
    [
        ("none", 0.1, 5, (-128, 127)),
        ("relu", 0.1, 5, (5, 127)),
        ("relu", 0.1, -128, (-128, 127)),
        ("relu6", 0.0625, -128, (-128, -32)),  # 6 / 0.0625 = 96
        ("relu6", 0.0625, 50, (50, 127)),  # 50 + 96 > 127
        ("relu_n1_to_1", 0.25, 0, (-4, 4)),
        ("relu_n1_to_1", 0.003, 0, (-128, 127)),  # +-333 beyond the type
        # 6 / fl32(0.16) = 37.5000008 rounds to exactly 37.5 in float32: a tie, away from zero, 38
        ("relu6", 0.16, -128, (-128, -90)),
    ],
)
def test_activation_range(activation: str, scale: float, zp: int, want: tuple[int, int]) -> None:
    assert tflite.calculate_activation_range_quantized(activation, scale, zp) == want


def test_activation_range_uint8_and_errors() -> None:
    assert tflite.calculate_activation_range_quantized("relu6", 0.5, 10, "uint8") == (10, 22)
    with pytest.raises(ValueError, match="activation"):
        tflite.calculate_activation_range_quantized("gelu", 0.5, 0)
    with pytest.raises(ValueError, match="output_zero_point"):
        tflite.calculate_activation_range_quantized("relu", 0.5, 200)
    with pytest.raises(ValueError, match="output_scale"):
        tflite.calculate_activation_range_quantized("relu", 0.0, 0)


X = np.array([[2, -1], [-3, 4]], I8)
W = np.array([[1, 4], [-1, -1], [2, 0]], I8)  # (output_depth 3, accum_depth 2)
BIAS = [-4, 7, 1]


def test_fully_connected_with_offsets_by_hand() -> None:
    # input_offset 1 (zero point -1): x + 1 = [[3, 0], [-2, 5]];
    # weights_offset -1: w - 1 = [[0, 3], [-2, -2], [1, -1]]
    # acc row 0: [0 + 0, -6 + 0, 3 - 0] + bias = [-4, 1, 4]; row 1: [15, 4 - 10, -2 - 5] + bias = [11, 1, -6]
    # times 0.25 (q 2**30, shift -1): [-1, 0.25, 1] and [2.75, 0.25, -1.5]. Double rounding: SRDHM halves
    # (ties up), RDBPOT halves again (ties away): 1 -> 0.5 -> 1 -> 0.5 -> 1 (0.25 becomes 1!),
    # 11 -> 5.5 -> 6 -> 3, -6 -> -3 -> -1.5 -> -2; then + output_offset 2
    got = tflite.fully_connected(
        X,
        W,
        BIAS,
        input_offset=1,
        weights_offset=-1,
        output_offset=2,
        quantized_activation_min=-128,
        quantized_activation_max=127,
        output_multiplier=2**30,
        output_shift=-1,
    )
    assert got.dtype == I8 and got.tolist() == [[1, 3, 3], [5, 3, 0]]


def test_fully_connected_roundings_and_float_scales_on_ties() -> None:
    # no offsets: acc = [[2 - 4 - 4, -2 + 1 + 7, 4 + 1], [-3 + 16 - 4, 3 - 4 + 7, -6 + 1]]
    #                 = [[-6, 6, 5], [9, 6, -5]]
    # times 0.25: [[-1.5, 1.5, 1.25], [2.25, 1.5, -1.25]]. SRDHM gives [[-3, 3, 3], [5, 3, -2]] (ties up:
    # 2.5 -> 3, 4.5 -> 5, -2.5 -> -2), then double: ties away [[-2, 2, 2], [3, 2, -1]]; double_up: ties up
    # [[-1, 2, 2], [3, 2, -1]]; single: floor(acc / 4 + 1/2) [[-1, 2, 1], [2, 2, -1]]
    kw = dict(
        input_offset=0,
        weights_offset=0,
        output_offset=0,
        quantized_activation_min=-128,
        quantized_activation_max=127,
    )
    fixed = dict(output_multiplier=2**30, output_shift=-1)
    assert tflite.fully_connected(X, W, BIAS, **kw, **fixed).tolist() == [[-2, 2, 2], [3, 2, -1]]
    assert tflite.fully_connected(X, W, BIAS, **kw, **fixed, rounding="single").tolist() == [
        [-1, 2, 1],
        [2, 2, -1],
    ]
    assert tflite.fully_connected(X, W, BIAS, **kw, **fixed, rounding="double_up").tolist() == [
        [-1, 2, 2],
        [3, 2, -1],
    ]
    floats = dict(input_scale=0.5, filter_scale=0.25, output_scale=0.5)  # M = 0.25, ties away
    assert tflite.fully_connected(X, W, BIAS, **kw, **floats).tolist() == [[-2, 2, 1], [2, 2, -1]]


def test_fully_connected_per_channel_by_hand() -> None:
    # acc as above; channel multipliers 0.25, 0.5 (q 2**30, shift 0), 0.75 (q 3 * 2**29, shift 0)
    # [[-1.5, 3, 3.75], [2.25, 3, -3.75]] -> double: [[-2, 3, 4], [3, 3, -4]] (2.25: 4.5 -> 5 -> 2.5 -> 3);
    # output_offset -1, clamp at -3
    got = tflite.fully_connected_per_channel(
        X,
        W,
        BIAS,
        input_offset=0,
        output_offset=-1,
        quantized_activation_min=-3,
        quantized_activation_max=127,
        output_multiplier=[2**30, 2**30, 3 * 2**29],
        output_shift=[-1, 0, 0],
    )
    assert got.tolist() == [[-3, 2, 3], [2, 2, -3]]
    scales = dict(input_scale=1.0, filter_scales=[0.25, 0.5, 0.75], output_scale=1.0)
    got = tflite.fully_connected_per_channel(
        X,
        W,
        BIAS,
        input_offset=0,
        output_offset=0,
        quantized_activation_min=-128,
        quantized_activation_max=127,
        **scales,
    )
    assert got.tolist() == [[-2, 3, 4], [2, 3, -4]]


def test_fully_connected_op_kernels_on_exact_ties() -> None:
    q = dict(input_scale=0.5, input_zero_point=0, filter_scale=0.25, output_scale=0.5, output_zero_point=0)
    # M = 0.25: [[-1.5, 1.5, 1.25], [2.25, 1.5, -1.25]]
    want = {
        "reference": [[-2, 2, 1], [2, 2, -1]],  # ties away
        "optimized": [[-1, 2, 2], [3, 2, -1]],  # ruy: ties up twice (1.25 -> 2.5 -> 3 -> 1.5 -> 2)
        "xnnpack": [[-2, 2, 1], [2, 2, -1]],  # ties to even: -1.5 -> -2, 1.5 -> 2
    }
    for kernel, w in want.items():
        assert tflite.fully_connected_op(X, W, BIAS, kernel=kernel, **q).tolist() == w, kernel
    # per channel, and a ReLU: clamp at the zero point 0
    qc = {**q, "filter_scale": [0.25, 0.25, 0.25]}
    for kernel, w in want.items():
        got = tflite.fully_connected_op(X, W, BIAS, kernel=kernel, activation="relu", **qc)
        assert got.tolist() == np.maximum(w, 0).tolist(), kernel


def test_xnnpack_ties_to_even_differ_from_reference() -> None:
    x = np.array([[10]], I8)
    w = np.array([[1]], I8)
    q = dict(input_scale=0.5, input_zero_point=0, filter_scale=0.5, output_scale=1.0, output_zero_point=0)
    # 10 * 0.25 = 2.5: reference 3 (away), optimized 3 (up), xnnpack 2 (even)
    got = [int(tflite.fully_connected_op(x, w, None, kernel=k, **q)[0, 0]) for k in tflite.KERNELS]
    assert got == [3, 3, 2]


def test_float_scale_path_beyond_int32_is_x86_64s_cast() -> None:
    # acc = 100 * 127 = 12700 (or -12700); M = 2**20: |acc M| > 2**31. C's cast is undefined, x86-64
    # gives -2**31; the int32 sum with the output offset wraps; then the clamp to [-128, 127]
    x, w = np.array([[100], [-100], [1]], I8), np.array([[127]], I8)
    kw = dict(weights_offset=0, quantized_activation_min=-128, quantized_activation_max=127)
    kw.update(input_offset=0, input_scale=1.0, filter_scale=1.0, output_scale=2.0**-20)
    # rows: +1.3e10 and -1.3e10 both give -2**31 -> -128; 127 * 2**20 < 2**31 fits -> clamps to 127
    assert tflite.fully_connected(x, w, None, output_offset=0, **kw).tolist() == [[-128], [-128], [127]]
    # -2**31 - 5 wraps to 2**31 - 5 -> 127, whatever the sign of the real value
    assert tflite.fully_connected(x, w, None, output_offset=-5, **kw).tolist() == [[127], [127], [127]]


def test_integer_path_output_offset_overflow_raises_and_a_one_code_clamp_still_checks() -> None:
    x, w = np.array([[100]], I8), np.array([[127]], I8)
    kw = dict(input_offset=0, weights_offset=0, output_multiplier=2**30, output_shift=0)
    kw.update(quantized_activation_min=-128, quantized_activation_max=127)
    # MBQM(12700, 2**30, 0) = 6350; + (2**31 - 1) leaves int32: C's int32 sum is undefined
    with pytest.raises(ValueError, match="output_offset"):
        tflite.fully_connected(x, w, None, output_offset=2**31 - 1, **kw)
    assert tflite.fully_connected(x, w, None, output_offset=-6000, **kw).tolist() == [[127]]  # 350, clamped
    bare = dict(input_offset=0, weights_offset=0, output_offset=0)
    with pytest.raises(TypeError, match="either"):  # min == max: still no requantization given
        tflite.fully_connected(x, w, None, quantized_activation_min=5, quantized_activation_max=5, **bare)


def test_xnnpack_refuses_a_requantization_scale_of_256() -> None:
    x, w = np.array([[1]], I8), np.array([[1]], I8)
    q = dict(input_scale=1.0, input_zero_point=0, filter_scale=1.0, output_zero_point=0)
    just_below = tflite.fully_connected_op(x, w, None, output_scale=1 / 255.5, kernel="xnnpack", **q)
    assert just_below.tolist() == [[127]]  # 255.5 rounds, then clamps
    with pytest.raises(ValueError, match="below 256"):
        tflite.fully_connected_op(x, w, None, output_scale=2.0**-8, kernel="xnnpack", **q)
    reference = tflite.fully_connected_op(x, w, None, output_scale=2.0**-8, kernel="reference", **q)
    assert reference.tolist() == [[127]]


def test_fully_connected_errors() -> None:
    kw = dict(
        input_offset=0,
        weights_offset=0,
        output_offset=0,
        quantized_activation_min=-128,
        quantized_activation_max=127,
    )
    with pytest.raises(TypeError, match="either"):
        tflite.fully_connected(X, W, BIAS, **kw)
    with pytest.raises(TypeError, match="either"):
        tflite.fully_connected(X, W, BIAS, output_multiplier=2**30, output_shift=0, input_scale=1.0, **kw)
    with pytest.raises(TypeError, match="input_data"):
        tflite.fully_connected(X.astype(np.int16), W, BIAS, output_multiplier=2**30, output_shift=0, **kw)
    with pytest.raises(ValueError, match="accum_depth"):
        tflite.fully_connected(X, W.T.copy(), BIAS, output_multiplier=2**30, output_shift=0, **kw)
    with pytest.raises(ValueError, match="bias_data"):
        tflite.fully_connected(X, W, [1, 2], output_multiplier=2**30, output_shift=0, **kw)
    with pytest.raises(ValueError, match="quantized_activation_min"):
        tflite.fully_connected(
            X,
            W,
            BIAS,
            **{**kw, "quantized_activation_min": 5, "quantized_activation_max": 4},
            output_multiplier=2**30,
            output_shift=0,
        )
    with pytest.raises(ValueError, match="overflows"):
        tflite.fully_connected(X, W, [2**31 - 1, 0, 0], output_multiplier=2**30, output_shift=0, **kw)
    with pytest.raises(ValueError, match="kernel"):
        tflite.fully_connected_op(
            X,
            W,
            BIAS,
            input_scale=1.0,
            input_zero_point=0,
            filter_scale=1.0,
            output_scale=1.0,
            output_zero_point=0,
            kernel="gpu",
        )


def test_activation_range_rounds_exactly() -> None:
    # 0.49999997f: std::round gives 0, where floor(v + 0.5f) in float32 would give 1 (0.99999997 -> 1.0f)
    s = float(np.float32(6.0) / np.nextafter(np.float32(0.5), np.float32(0)))  # 6 / s = 0.49999997f
    v = np.float32(6.0) / np.float32(s)
    assert v < 0.5 and np.float32(v + np.float32(0.5)) == 1.0
    assert tflite.calculate_activation_range_quantized("relu6", s, 0) == (0, 0)
