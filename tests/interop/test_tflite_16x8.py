"""Unit tests of TFLite's 16x8 arithmetic: the int64 MultiplyByQuantizedMultiplier and the 16x8 kernels.

Expected values are worked out by hand in the comments, or by plain Python
integer (and exact rational) models written here from TFLite's source
(``tensorflow/lite/kernels/internal/common.cc``,
``reference/integer_ops/fully_connected.h``). The real interpreter is in
tests/conformance/test_tflite_16x8_conformance.py.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from refquant.interop import tflite

mbqm64 = tflite.multiply_by_quantized_multiplier_int64
I16 = np.int16
I8 = np.int8
FULL16 = dict(quantized_activation_min=-32768, quantized_activation_max=32767)


def reduced(q: int) -> int:
    """The 16-bit multiplier, from the source: round q / 2**16 half up, saturated at 0x7FFF."""
    return (q + 2**15) // 2**16 if q < 0x7FFF0000 else 0x7FFF


# --------------------------------------------------------------------------- the int64 overload, by hand


@pytest.mark.parametrize(
    "q, r",
    [
        (2**30, 2**14),  # 0.5 exactly
        (2**30 + 2**15 - 1, 2**14),  # just below the half of the dropped 16 bits: down
        (2**30 + 2**15, 2**14 + 1),  # exactly the half: up
        (1288490189, 19661),  # 0x4CCCCCCD / 2**16 = 19660.80...
        (0x7FFEFFFF, 0x7FFF),  # (0x7FFEFFFF + 0x8000) >> 16 = 0x7FFF: rounding, no saturation needed
        (0x7FFF7FFF, 0x7FFF),  # the saturation branch, but rounding gives 0x7FFF too
        (0x7FFF8000, 0x7FFF),  # rounding would give 0x8000: saturated
        (2**31 - 1, 0x7FFF),  # saturated
        (2**15, 1),  # q below 2**30 is allowed (TFLite asserts only q >= 0)
        (2**15 - 1, 0),
        (0, 0),
    ],
)
def test_the_16_bit_reduction_of_the_multiplier(q: int, r: int) -> None:
    # shift -1: total shift 16, so x = 2**16 gives floor(r + 1/2) = r: the reduced multiplier itself
    assert mbqm64(2**16, q, -1).tolist() == r == reduced(q)


def test_exact_halves_round_up_once() -> None:
    # q = 2**30, shift -1: M = 0.25, r = 2**14, total shift 16, y = floor(x / 4 + 1/2)
    x = [-6, -5, -2, -1, 1, 2, 5, 6, -3, 3]
    # -1.5, -1.25, -0.5, -0.25, 0.25, 0.5, 1.25, 1.5, -0.75, 0.75
    assert mbqm64(x, 2**30, -1).tolist() == [-1, -1, 0, 0, 0, 1, 1, 2, -1, 1]
    # the int32 overload (gemmlowp) rounds x / 2 (ties up), then / 2 (ties away): 1.25 -> 2.5 -> 3 -> 2,
    # 0.25 -> 0.5 -> 1 -> 1, -0.5 -> -1 -> -1, -1.25 -> -2.5 -> -2 -> -1, -0.75 -> -1.5 -> -1 -> -1
    want = [-2, -1, -1, 0, 1, 1, 2, 2, -1, 1]
    assert tflite.multiply_by_quantized_multiplier(x, 2**30, -1).tolist() == want


def test_negative_x_and_the_reduction_error() -> None:
    # M = 0.3: q = 1288490189, shift -1, r = 19661; x r = 1048579 * 19661 = 20616111719
    # x r / 2**16 = 314576.90..., + 1/2 = 314577.40... -> 314577; negative: -314576.40... -> -314577
    # 1000 * 19661 / 2**16 = 300.0018... -> 300
    x = [2**20 + 3, -(2**20 + 3), 1000, -1000]
    assert mbqm64(x, 1288490189, -1).tolist() == [314577, -314577, 300, -300]
    # the exact value is 314573.70...: the 16-bit multiplier is 3 too high here, the int32 overload not
    assert tflite.multiply_by_quantized_multiplier(2**20 + 3, 1288490189, -1).tolist() == 314574


def test_the_saturation_changes_the_result() -> None:
    # q = 0x7FFF8000 (M = 0.99998..., shift 0): r = 0x7FFF; y = floor(32768 * 32767 / 2**15 + 1/2) = 32767,
    # where the unsaturated 0x8000 would give 32768 and the exact value is 32767.5 (-> 32768 rounded)
    assert mbqm64(32768, 0x7FFF8000, 0).tolist() == 32767  # 32768 * 0x7FFF8000 / 2**31 = 65535 / 2


def test_shifts_at_their_limits() -> None:
    # shift 7: total shift 8; 1 * 2**14 / 2**8 = 64 (M = 0.5 * 2**7); 2**23 * 32767 / 2**8 = 1073709056
    assert mbqm64(1, 2**30, 7).tolist() == 64
    assert mbqm64(2**23, 2**31 - 1, 7).tolist() == 1073709056
    # shift -31: total shift 46; (2**47 - 1) * 32767 / 2**46 = 65534 - 32767 / 2**46 -> 65534
    assert mbqm64([2**47 - 1, -(2**47)], 2**31 - 1, -31).tolist() == [65534, -65534]
    # (2**47 - 1) * 2**14 / 2**46 = 32768 - 2**-32 -> 32768; -2**47 -> -32768 exactly
    assert mbqm64([2**47 - 1, -(2**47)], 2**30, -31).tolist() == [32768, -32768]
    for bad in (8, -32):
        with pytest.raises(ValueError, match="shift"):
            mbqm64(1, 2**30, bad)


def test_broadcasting_dtype_and_zero() -> None:
    x = np.array([[4, -4], [400, -401]], np.int64)
    y = mbqm64(x, np.array([2**30, 0]), np.array([-1, 3]))  # per column: 0.25 and 0
    assert y.dtype == np.int32 and y.tolist() == [[1, 0], [100, 0]]
    assert mbqm64(np.zeros((0, 3), np.int64), 2**30, -1).shape == (0, 3)


def test_outside_the_assumptions_raises() -> None:
    with pytest.raises(ValueError, match=r"x must lie in \[-2\*\*47, 2\*\*47\).*140737488355328"):
        mbqm64(2**47, 2**30, 0)
    with pytest.raises(ValueError, match="x must lie"):
        mbqm64(-(2**47) - 1, 2**30, 0)
    with pytest.raises(ValueError, match="x must lie"):  # beyond int64 itself
        mbqm64(2**70, 2**30, 0)
    with pytest.raises(ValueError, match=r"quantized_multiplier.*-1"):
        mbqm64(1, -1, 0)
    with pytest.raises(ValueError, match=r"quantized_multiplier.*2147483648"):
        mbqm64(1, 2**31, 0)
    with pytest.raises(ValueError, match="fit int32"):  # 2**40 * 2**14 / 2**8 = 2**46
        mbqm64(2**40, 2**30, 7)
    with pytest.raises(TypeError, match="x"):
        mbqm64(np.array([1.0]), 2**30, 0)
    with pytest.raises(TypeError, match="shift"):
        mbqm64(1, 2**30, True)
    with pytest.raises(ValueError, match="broadcast"):
        mbqm64(np.ones(3, np.int64), np.array([2**30, 2**30]), 0)


def test_inputs_are_not_modified() -> None:
    x, q, s = np.array([5, -7, 2**40]), np.array([2**30, 2**31 - 1, 1288490189]), np.array([-1, 0, -20])
    copies = [a.copy() for a in (x, q, s)]
    mbqm64(x, q, s)
    assert all(np.array_equal(a, c) for a, c in zip((x, q, s), copies, strict=True))


# --------------------------------------------------------------------------- against exact rationals


def test_property_against_exact_rationals() -> None:
    """y = floor(x r 2**(shift - 15) + 1/2) exactly, and |y - y*| <= 1/2 + |x e| 2**(shift - 31).

    With ``e = r 2**16 - q`` and ``y* = x q 2**(shift - 31)``; for ``q >= 2**30``
    also ``|y - y*| <= 1/2 + 2**-15 |y*|`` (|e| / q <= 2**-15, the docstring's proof).
    """
    rng = np.random.default_rng(0)
    n = 4000
    shift = rng.integers(-31, 8, n)
    q = rng.integers(2**30, 2**31, n)
    q[: n // 8] = rng.integers(0x7FFF0000, 2**31, n // 8)  # the saturation
    q[n // 8 : n // 4] = rng.integers(0, 2**30, n // 8)  # below Q0.31's normal range
    # x such that the result fits int32: |x| < 2**30 / M (and within 2**47)
    bound = np.minimum(2**47 - 1, (2.0**30 / (q / 2**31 * 2.0**shift + 2**-40))).astype(np.int64)
    x = (rng.random(n) * 2 - 1) * bound
    x = np.trunc(x * rng.random(n) ** 4).astype(np.int64)
    x[:20] = [2**47 - 1, -(2**47)] * 10
    shift[:20] = -31
    y = mbqm64(x, q, shift)
    for xi, qi, si, yi in zip(x.tolist(), q.tolist(), shift.tolist(), y.tolist(), strict=True):
        r = reduced(qi)
        v = Fraction(xi * r, 2 ** (15 - si))
        assert yi == math.floor(v + Fraction(1, 2)), (xi, qi, si)
        exact = Fraction(xi * qi, 2 ** (31 - si))
        e = r * 2**16 - qi
        assert abs(yi - exact) <= Fraction(1, 2) + Fraction(abs(xi * e), 2 ** (31 - si))
        if qi >= 2**30:
            assert abs(e) <= (2**15 if qi < 0x7FFF8000 else 2**16 - 1)
            assert Fraction(abs(e), qi) <= Fraction(1, 2**15)
            assert abs(yi - exact) <= Fraction(1, 2) + abs(exact) / 2**15


# ------------------------------------------------------------------- the kernels, against an int64 model


def model(
    x: np.ndarray,
    w: np.ndarray,
    bias: Any,
    io: int,
    wo: int,
    oo: int,
    lo: int,
    hi: int,
    rescale: Any,
) -> np.ndarray:
    """Plain Python ints: acc = sum (w + wo)(x + io) + bias, y = clamp(rescale(acc, c) + oo, lo, hi)."""
    xs = x.reshape(-1, x.shape[-1])
    out = np.empty((xs.shape[0], w.shape[0]), np.int64)
    for b, row in enumerate(xs.tolist()):
        for c, wr in enumerate(w.tolist()):
            acc = sum((wv + wo) * (xv + io) for wv, xv in zip(wr, row, strict=True))
            acc += 0 if bias is None else int(bias[c])
            out[b, c] = min(max(rescale(acc, c) + oo, lo), hi)
    return out.reshape(*x.shape[:-1], w.shape[0])


def fixed(qs: list[int], shifts: list[int]) -> Any:
    def f(acc: int, c: int) -> int:
        return (acc * reduced(qs[c]) + 2 ** (14 - shifts[c])) >> (15 - shifts[c])

    return f


def c_round(m: list[float]) -> Any:
    """int32(round(double(acc) * M)), C's round: half away from zero, on the exact double product."""

    def f(acc: int, c: int) -> int:
        v = Fraction(float(acc) * m[c])
        return math.floor(abs(v) + Fraction(1, 2)) * (1 if v >= 0 else -1)

    return f


def f64(s_in: float, s_w: Any, s_out: float) -> list[float]:
    """double(s_in) * double(s_w) / double(s_out), the scales stored as float32."""
    return [
        float(np.float32(s_in)) * float(np.float32(w)) / float(np.float32(s_out)) for w in np.atleast_1d(s_w)
    ]


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.integers(-32768, 32768, (3, 5, 12)).astype(I16)
    x[0, 0] = 32767
    x[0, 1] = -32768
    w = rng.integers(-128, 128, (6, 12)).astype(I8)
    w[0] = 127
    w[1] = -128
    bias = rng.integers(-(2**40), 2**40, 6)
    return x, w, bias


def test_fully_connected_16x8_integer_form(data: Any) -> None:
    x, w, bias = data
    kw = dict(input_offset=0, weights_offset=0, output_offset=0, **FULL16)
    q, s = 1288490189, -20  # M = 0.3 * 2**-19
    got = tflite.fully_connected_16x8(x, w, bias, output_multiplier=q, output_shift=s, **kw)
    assert got.dtype == I16 and got.shape == (3, 5, 6)
    assert np.array_equal(got, model(x, w, bias, 0, 0, 0, -32768, 32767, fixed([q] * 6, [s] * 6)))
    # offsets and a narrower clamp (the generic kernel takes them)
    kw = dict(input_offset=7, weights_offset=-3, output_offset=11, quantized_activation_min=-100)
    kw["quantized_activation_max"] = 2000
    got = tflite.fully_connected_16x8(x, w, None, output_multiplier=2**30, output_shift=-12, **kw)
    assert np.array_equal(got, model(x, w, None, 7, -3, 11, -100, 2000, fixed([2**30] * 6, [-12] * 6)))


def test_fully_connected_16x8_float_form(data: Any) -> None:
    x, w, bias = data
    kw = dict(input_offset=0, weights_offset=0, output_offset=0, **FULL16)
    sc = dict(input_scale=3e-4, filter_scale=0.0123, output_scale=2.5e-2)
    got = tflite.fully_connected_16x8(x, w, bias // 2**20, **sc, **kw)
    m = f64(3e-4, 0.0123, 2.5e-2) * 6
    assert np.array_equal(got, model(x, w, bias // 2**20, 0, 0, 0, -32768, 32767, c_round(m)))
    # ties: M = 2**-4 exactly, x * 8 -> acc = 8 x: halves for odd x, away from zero
    t = np.array([[1, -1, 3, -3]], I16)
    got = tflite.fully_connected_16x8(
        t, np.eye(4, dtype=I8) * 8, None, input_scale=0.25, filter_scale=0.25, output_scale=1.0, **kw
    )
    assert got.tolist() == [[1, -1, 2, -2]]  # 0.5, -0.5, 1.5, -1.5 away from zero


def test_fully_connected_per_channel_16x8(data: Any) -> None:
    x, w, bias = data
    kw = dict(input_offset=0, output_offset=0, **FULL16)
    qs = [2**30, 2**31 - 1, 0x7FFF8000, 1288490189, 3 * 2**29, 2**30 + 2**15]
    ss = [-20, -22, -21, -19, -25, -18]
    got = tflite.fully_connected_per_channel_16x8(x, w, bias, output_multiplier=qs, output_shift=ss, **kw)
    assert np.array_equal(got, model(x, w, bias, 0, 0, 0, -32768, 32767, fixed(qs, ss)))
    fs = [0.01, 0.02, 0.005, 0.3, 1e-3, 7e-2]
    sc = dict(input_scale=3e-4, filter_scales=fs, output_scale=2.5e-2)
    got = tflite.fully_connected_per_channel_16x8(x, w, bias // 2**20, **sc, **kw)
    want = model(x, w, bias // 2**20, 0, 0, 0, -32768, 32767, c_round(f64(3e-4, fs, 2.5e-2)))
    assert np.array_equal(got, want)


def test_fully_connected_op_16x8_dispatch(data: Any) -> None:
    x, w, bias = data
    b = bias // 2**24  # small enough for int32 too
    fs = [0.01, 0.02, 0.005, 0.3, 1e-3, 7e-2]
    q = dict(input_scale=2.0**-10, input_zero_point=0, output_scale=2.0**-7, output_zero_point=0)
    reference = model(x, w, b, 0, 0, 0, -32768, 32767, c_round(f64(2.0**-10, fs, 2.0**-7)))
    for kernel in tflite.KERNELS:  # an int64 bias: the float64 reference in every resolver
        got = tflite.fully_connected_op(x, w, b, filter_scale=fs, kernel=kernel, **q)
        assert got.dtype == I16 and np.array_equal(got, reference), kernel
    # an int32 bias, or none: ruy in the optimized resolvers (int32 accumulator, both roundings up)
    mult, shift = tflite.populate_convolution_quantization_params(2.0**-10, fs, 2.0**-7)

    def ruy(acc: int, c: int) -> int:
        left, right = max(int(shift[c]), 0), max(-int(shift[c]), 0)
        high = (acc * 2**left * int(mult[c]) + 2**30) >> 31
        return (high + (2 ** (right - 1) if right else 0)) >> right

    for kernel in ("optimized", "xnnpack"):
        got = tflite.fully_connected_op(
            x, w, b, filter_scale=fs, kernel=kernel, quantized_bias_type="int32", **q
        )
        assert np.array_equal(got, model(x, w, b, 0, 0, 0, -32768, 32767, ruy)), kernel
        got = tflite.fully_connected_op(x, w, None, filter_scale=fs, kernel=kernel, **q)
        assert np.array_equal(got, model(x, w, None, 0, 0, 0, -32768, 32767, ruy)), kernel
    got = tflite.fully_connected_op(x, w, None, filter_scale=fs, kernel="reference", **q)
    want = model(x, w, None, 0, 0, 0, -32768, 32767, c_round(f64(2.0**-10, fs, 2.0**-7)))
    assert np.array_equal(got, want)
    # per tensor: the float64 reference multiplies the scales in double
    got = tflite.fully_connected_op(x, w, b, filter_scale=0.0123, kernel="optimized", **q)
    assert np.array_equal(
        got, model(x, w, b, 0, 0, 0, -32768, 32767, c_round(f64(2.0**-10, 0.0123, 2.0**-7) * 6))
    )


def test_fully_connected_op_16x8_activation_range() -> None:
    assert tflite.calculate_activation_range_quantized("none", 0.1, 0, "int16") == (-32768, 32767)
    assert tflite.calculate_activation_range_quantized("relu6", 2.0**-12, 0, "int16") == (0, 24576)
    x, w = np.array([[1000, -1000]], I16), np.array([[1, 1], [127, 0], [-127, 0]], I8)
    q = dict(input_scale=1.0, input_zero_point=0, filter_scale=1.0, output_scale=2.0**-3, output_zero_point=0)
    # acc = [0, 127000, -127000] * 8: relu_n1_to_1 clamps to [-8, 8]
    got = tflite.fully_connected_op(x, w, None, activation="relu_n1_to_1", **q)
    assert got.tolist() == [[0, 8, -8]]


def test_float_path_beyond_int32_is_x86_64s_cast() -> None:
    # acc = [1000 - 4000, -1000 + 1000] = [-3000, 0], M = 1e6: -3e9 leaves int32. C's cast is undefined,
    # x86-64's cvttsd2si gives -2**31; the int32 sum with the output offset wraps; then the clamp
    x, w = np.array([[1000, -1000]], I16), np.array([[1, 4], [-1, -1]], I8)
    fl: dict[str, Any] = dict(input_offset=0, weights_offset=0, **FULL16)
    fl.update(input_scale=1.0, filter_scale=1.0, output_scale=1e-6)
    assert tflite.fully_connected_16x8(x, w, None, output_offset=0, **fl).tolist() == [[-32768, 0]]
    # +3e9: also -2**31, so the minimum code, not the maximum
    assert tflite.fully_connected_16x8(-x, w, None, output_offset=0, **fl).tolist() == [[-32768, 0]]
    # -2**31 - 5 wraps to 2**31 - 5: the maximum code; the in-range 0 becomes -5
    assert tflite.fully_connected_16x8(x, w, None, output_offset=-5, **fl).tolist() == [[32767, -5]]


def test_integer_path_output_offset_overflow_raises() -> None:
    # MBQM64(32767 * 127 = 4161409, 2**30, 0): r = 2**14, (4161409 * 2**14 + 2**14) >> 15 = 2080705;
    # + (2**31 - 1) leaves int32 (C's int32 sum is undefined)
    x, w = np.array([[32767]], I16), np.array([[127]], I8)
    kw: dict[str, Any] = dict(input_offset=0, weights_offset=0, **FULL16)
    kw.update(output_multiplier=2**30, output_shift=0)
    with pytest.raises(ValueError, match="output_offset"):
        tflite.fully_connected_16x8(x, w, None, output_offset=2**31 - 1, **kw)
    assert tflite.fully_connected_16x8(x, w, None, output_offset=-2080700, **kw).tolist() == [[5]]


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs() -> None:
    x, w = np.array([[1000, -1000]], I16), np.array([[1, 4], [-1, -1]], I8)
    kw: dict[str, Any] = dict(input_offset=0, weights_offset=0, output_offset=0, **FULL16)
    kw.update(output_multiplier=2**30, output_shift=-1)
    with pytest.raises(TypeError, match="input_data must be an int16"):
        tflite.fully_connected_16x8(x.astype(I8), w, None, **kw)
    with pytest.raises(TypeError, match="filter_data must be a 2-D int8"):
        tflite.fully_connected_16x8(x, w.astype(I16), None, **kw)
    with pytest.raises(ValueError, match="accum_depth"):
        tflite.fully_connected_16x8(x[:, :1], w, None, **kw)
    with pytest.raises(ValueError, match="bias_data"):  # beyond int64
        tflite.fully_connected_16x8(x, w, np.array([2**63, 0], np.uint64), **kw)
    with pytest.raises(ValueError, match=r"bias_data.*overflows int64"):  # acc = -3000 - 2**63
        tflite.fully_connected_16x8(x, w, np.array([-(2**63), 0]), **kw)
    with pytest.raises(ValueError, match=r"2\*\*47"):  # the integer form's accumulator range
        tflite.fully_connected_16x8(x, w, np.array([2**50, 0]), **kw)
    with pytest.raises(ValueError, match="output_shift"):
        tflite.fully_connected_16x8(x, w, None, **{**kw, "output_shift": 8})
    with pytest.raises(ValueError, match="input_offset"):  # 1000 + 2**31 - 1 overflows int32
        tflite.fully_connected_16x8(x, w, None, **{**kw, "input_offset": 2**31 - 1})
    with pytest.raises(ValueError, match="quantized_activation_min"):
        tflite.fully_connected_16x8(x, w, None, **{**kw, "quantized_activation_max": 40000})
    with pytest.raises(TypeError, match="either"):
        tflite.fully_connected_16x8(x, w, None, input_scale=1.0, filter_scale=1.0, output_scale=1.0, **kw)
    pc = dict(input_offset=0, output_offset=0, **FULL16)
    with pytest.raises(ValueError, match="output_multiplier and output_shift must have shape"):
        tflite.fully_connected_per_channel_16x8(x, w, None, output_multiplier=[2**30], output_shift=[0], **pc)
    q = dict(input_scale=1.0, filter_scale=1.0, output_scale=1.0)
    with pytest.raises(ValueError, match="input_zero_point must be 0"):
        tflite.fully_connected_op(x, w, None, input_zero_point=3, output_zero_point=0, **q)
    with pytest.raises(ValueError, match="output_zero_point must be 0"):
        tflite.fully_connected_op(x, w, None, input_zero_point=0, output_zero_point=-1, **q)
    zq = dict(input_zero_point=0, output_zero_point=0, **q)
    with pytest.raises(ValueError, match="quantized_bias_type"):
        tflite.fully_connected_op(x, w, None, quantized_bias_type="int16", **zq)
    with pytest.raises(ValueError, match="quantized_bias_type"):
        tflite.fully_connected_op(x.astype(I8) // 8, w, None, quantized_bias_type="int64", **zq)
    with pytest.raises(ValueError, match="bias_data"):  # an int32 bias type takes int32 values
        tflite.fully_connected_op(x, w, [2**31, 0], quantized_bias_type="int32", kernel="optimized", **zq)
    with pytest.raises(ValueError, match="int32 accumulator"):  # ruy's accumulator
        big = np.full((1, 2), 32767, I16)
        tflite.fully_connected_op(
            big, w, [2**31 - 1, 0], quantized_bias_type="int32", kernel="optimized", **zq
        )
    with pytest.raises(TypeError, match="input_data"):
        tflite.fully_connected_op(x.astype(np.int32), w, None, **zq)


def test_kernels_do_not_modify_inputs(data: Any) -> None:
    x, w, bias = data
    copies = [a.copy() for a in (x, w, bias)]
    kw = dict(input_offset=0, output_offset=0, **FULL16)
    tflite.fully_connected_per_channel_16x8(
        x, w, bias, output_multiplier=[2**30] * 6, output_shift=[-20] * 6, **kw
    )
    q = dict(input_scale=2.0**-10, input_zero_point=0, output_scale=2.0**-7, output_zero_point=0)
    for kernel in tflite.KERNELS:
        tflite.fully_connected_op(x, w, bias // 2**24, filter_scale=0.01, kernel=kernel, **q)
    assert all(np.array_equal(a, c) for a, c in zip((x, w, bias), copies, strict=True))
