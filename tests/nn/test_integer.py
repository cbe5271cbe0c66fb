"""The integer-only MLP: hand-computed layers, the integer-only core, and its two float simulations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from refquant.integer import multiply_by_quantized_multiplier
from refquant.interop.tflite import fully_connected_per_channel
from refquant.nn import integer as I
from refquant.nn.integer import (
    convert_to_integer,
    dequantize_output,
    integer_forward,
    quantize_input,
    requantization_differences,
    simulate_forward,
)

W1 = np.array([[0.5, -0.25]], np.float32)
B1 = np.array([0.1], np.float32)
CAL1 = [np.array([[0.0, 1.0], [2.0, 0.5]], np.float32)]


def test_one_layer_by_hand() -> None:
    """Inputs in [0, 2]: s_in = 2/255, z_in = -128; s_w = 0.5/127; logits of the calibration rows
    -0.15 and 0.975: s_out = 1.125/255, z_out = -128 - round(-0.15 / s_out) = -128 + 34 = -94;
    M = s_in s_w / s_out = 1 / 142.875 = 0.8958... * 2**-7."""
    m = convert_to_integer([(W1, B1)], CAL1)
    L = m.layers[0]
    assert (L.input_zero_point, L.output_zero_point, L.qmin, L.qmax, L.relu) == (-128, -94, -128, 127, False)
    assert L.weight.tolist() == [[127, -64]] and L.weight.dtype == np.int8  # -0.25 / (0.5/127) = -63.5 -> -64
    assert L.bias.tolist() == [3238] and L.bias.dtype == np.int32  # 0.1 / (2/255 * 0.5/127) = 3238.4
    assert int(L.shift[0]) == -7
    m_eff = int(L.multiplier[0]) * 2.0 ** (int(L.shift[0]) - 31)
    real = np.float64(L.input_scale) * np.float64(L.weight_scale[0]) / np.float64(L.output_scale)
    assert abs(m_eff - real) <= 2**-31 * real  # q rounds M's 31-bit significand
    assert abs(real - 1 / 142.875) < 4 * 2**-24 / 142.875  # three float32 scales, 2**-24 relative each
    # x = (1, 1): fl32(2/255) > 2/255, so 1 / s_in = 127.49999... -> 127, code 127 - 128 = -1
    assert np.float64(L.input_scale) > 2 / 255
    xq = quantize_input(m, np.array([[1.0, 1.0]]))
    assert xq.tolist() == [[-1, -1]] and xq.dtype == np.int8
    trace: list = []
    y = integer_forward(m, xq, trace=trace)
    # acc = 127*127 + 127*(-64) + 3238 = 11239
    assert dict(trace)["layer0.accumulator"].tolist() == [[11239]]
    # 11239 / 142.875 = 78.66 -> 79, + z_out = -15; the float logit 0.35 / s_out - 94 = -14.67
    assert y.tolist() == [[-15]]
    assert dequantize_output(m, y)[0, 0] == pytest.approx((-15 + 94) * 1.125 / 255, rel=1e-6)
    # x = (2, 0): acc = 255*127 + 3238 = 35623, 35623 / 142.875 = 249.3 -> 155: clamps at 127
    assert integer_forward(m, quantize_input(m, np.array([[2.0, 0.0]]))).tolist() == [[127]]


def test_relu_is_fused_as_the_clamp() -> None:
    """Hidden pre-activations -1 and 1: the first is clamped at z_out (the real value 0)."""
    w1, b1 = np.array([[-1.0], [1.0]], np.float32), np.zeros(2, np.float32)
    w2, b2 = np.array([[1.0, 1.0]], np.float32), np.zeros(1, np.float32)
    m = convert_to_integer([(w1, b1), (w2, b2)], [np.array([[1.0], [0.0]], np.float32)])
    h = m.layers[0]
    assert h.relu and h.qmin == h.output_zero_point == -128 and h.qmax == 127  # ReLU outputs in [0, 1]
    trace: list = []
    integer_forward(m, quantize_input(m, np.array([[1.0]])), trace=trace)
    assert dict(trace)["layer0.output"].tolist() == [[-128, 127]]


def _model(draw_seed: int, sizes: list[int], dtype: str, rounding: str) -> tuple[I.IntegerMLP, np.ndarray]:
    rng = np.random.default_rng(draw_seed)
    params = [
        (rng.normal(0, 1 / np.sqrt(a), (b, a)).astype(np.float32), rng.normal(0, 0.3, b).astype(np.float32))
        for a, b in itertools.pairwise(sizes)
    ]
    x = rng.normal(0, 1, (40, sizes[0])).astype(np.float32)
    return convert_to_integer(params, [x[:20], x[20:]], activation_dtype=dtype, rounding=rounding), x


MODELS = st.tuples(
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(1, 9), min_size=2, max_size=4),
    st.sampled_from(["int8", "uint8"]),
    st.sampled_from(["double", "single"]),
)


def _codes(m: I.IntegerMLP, logits: np.ndarray) -> np.ndarray:
    L = m.layers[-1]
    return np.rint(logits / np.float64(L.output_scale)) + L.output_zero_point


@settings(max_examples=60)
@given(MODELS)
@example((24055982, [1, 1, 1, 1], "int8", "double"))  # a saturated int32 bias: the accumulator leaves int32
def test_fixed_simulation_equals_the_integer_model(args: tuple) -> None:
    m, x = _model(*args)
    try:
        y = integer_forward(m, quantize_input(m, x))
    except ValueError as e:  # an accumulator beyond int32 (a saturated int32 bias): both refuse
        assert "leaves int32" in str(e)
        with pytest.raises(ValueError, match="int32"):
            simulate_forward(m, x)
        return
    sim = simulate_forward(m, x)
    assert np.array_equal(_codes(m, sim), y)
    assert np.array_equal(sim.astype(np.float32), dequantize_output(m, y))
    assert np.array_equal(integer_forward(m, quantize_input(m, x), kernel="blas"), y)


@settings(max_examples=60)
@given(MODELS)
def test_float_requantization_is_within_one_lsb_per_layer_and_every_difference_is_explained(args) -> None:
    m, x = _model(*args)
    diffs = requantization_differences(m, quantize_input(m, x))
    assert len(diffs) == len(m.layers)
    for d in diffs:
        assert d.max_lsb <= 1
        assert d.differ == d.double_rounding + d.ties + d.multiplier
        if m.rounding == "single":
            assert d.double_rounding == 0


def test_double_rounding_differences_are_counted_and_real() -> None:
    """A layer where many accumulators sit just below a half after SRDHM: double rounding shows."""
    rng = np.random.default_rng(5)
    m, x = _model(5, [8, 16, 16, 4], "int8", "double")
    xq = quantize_input(m, rng.normal(0, 1, (2000, 8)).astype(np.float32))
    d = requantization_differences(m, xq)
    assert sum(r.double_rounding for r in d) > 0
    p = [(L.weight.astype(np.float32), np.zeros(len(L.bias), np.float32)) for L in m.layers]
    s = convert_to_integer(p, [x], rounding="single")
    assert all(r.double_rounding == 0 for r in requantization_differences(s, quantize_input(s, x)))


def test_double_rounding_example_by_hand() -> None:
    """M = 0.25 (q = 2**30, shift -1): acc 5 -> 1.25; double rounding gives 2 (2.5 -> 3, 1.5 -> 2)."""
    assert multiply_by_quantized_multiplier(5, 2**30, -1).tolist() == 2
    acc = np.array([[5.0]])
    layer = I.IntegerLinear(
        np.zeros((1, 1), np.int8), np.zeros(1, np.int32), np.ones(1, np.float32), np.float32(1), 0,
        np.float32(1), 0, np.array([2**30], np.int32), np.array([-1], np.int32), -128, 127, False,
    )  # fmt: skip
    assert I._fixed_in_float(acc, layer, "double").tolist() == [[2.0]]
    assert I._fixed_in_float(acc, layer, "single").tolist() == [[1.0]]


@settings(max_examples=300)
@given(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(2**30, 2**31 - 1),
    st.integers(1, 62),
    st.booleans(),
)
def test_the_float64_floor_is_exact(acc: int, q: int, k: int, half: bool) -> None:
    expected = (acc * q + (1 << (k - 1)) * half) >> k  # Python ints: exact
    assume(-(2**31) <= expected < 2**31)  # results beyond int32 are rejected by the callers
    got = I._floor_half(np.array([float(acc)]), np.array([float(q)]), np.array([float(k)]), half)
    assert got.tolist() == [float(expected)]


@settings(max_examples=40)
@given(MODELS)
def test_each_layer_is_tflites_per_channel_fully_connected(args: tuple) -> None:
    m, x = _model(*args)
    trace: list = []
    integer_forward(m, quantize_input(m, x), trace=trace)
    t = dict(trace)
    inputs = [t["input"]] + [t[f"layer{i}.output"] for i in range(len(m.layers) - 1)]
    for i, (L, xin) in enumerate(zip(m.layers, inputs, strict=True)):
        ref = fully_connected_per_channel(
            xin, L.weight, L.bias, input_offset=-L.input_zero_point, output_offset=L.output_zero_point,
            quantized_activation_min=L.qmin, quantized_activation_max=L.qmax,
            output_multiplier=L.multiplier, output_shift=L.shift, rounding=m.rounding,
        )  # fmt: skip
        assert np.array_equal(ref, t[f"layer{i}.output"]), i


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_the_integer_core_touches_only_integer_arrays(dtype: str) -> None:
    m, x = _model(1, [6, 7, 5, 3], dtype, "double")
    trace: list = []
    y = integer_forward(m, quantize_input(m, x), trace=trace)
    assert len(trace) == 1 + 3 * len(m.layers)
    assert all(a.dtype.kind in "iu" for _, a in trace), [(n, a.dtype) for n, a in trace]
    assert y.dtype == np.dtype(dtype)
    for L in m.layers:  # what the core reads from the model: integers only
        assert {L.weight.dtype, L.bias.dtype, L.multiplier.dtype, L.shift.dtype} == {
            np.dtype("int8"),
            np.dtype("int32"),
        }
        assert all(isinstance(v, int) for v in (L.input_zero_point, L.output_zero_point, L.qmin, L.qmax))
    with pytest.raises(TypeError, match=f"x_q must be a {dtype} array"):
        integer_forward(m, quantize_input(m, x).astype(np.float32))


def test_inputs_are_not_modified_and_calibrators_run() -> None:
    rng = np.random.default_rng(2)
    p = [(rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32))]
    p += [(rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=2).astype(np.float32))]
    cal = [rng.normal(size=(50, 3)).astype(np.float32) for _ in range(3)]
    before = [(w.copy(), b.copy()) for w, b in p], [c.copy() for c in cal]
    scales = {}
    for c in I.CALIBRATORS:
        m = convert_to_integer(p, cal, calibrator=c, percentile=90.0)
        scales[c] = float(m.layers[0].input_scale)
        xq = quantize_input(m, cal[0])
        xq0 = xq.copy()
        y = integer_forward(m, xq)
        assert np.array_equal(xq, xq0) and y.shape == (50, 2)
    assert scales["percentile"] < scales["minmax"]  # 90% of the data: a narrower range
    for (w, b), (w0, b0) in zip(p, before[0], strict=True):
        assert np.array_equal(w, w0) and np.array_equal(b, b0)
    assert all(np.array_equal(a, b) for a, b in zip(cal, before[1], strict=True))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"activation_dtype": "int4"}, ValueError, "activation_dtype"),
        ({"calibrator": "entropy"}, ValueError, "calibrator"),
        ({"rounding": "double_up"}, ValueError, "rounding"),
    ],
)
def test_bad_options_raise(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        convert_to_integer([(W1, B1)], CAL1, **kwargs)


def test_bad_calibration_and_inputs_raise() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        convert_to_integer([(W1, B1)], [])
    with pytest.raises(ValueError, match=r"calibration\[0\] must be finite"):
        convert_to_integer([(W1, B1)], [np.array([[np.nan, 1.0]])])
    with pytest.raises(TypeError, match="calibration must be an iterable"):
        convert_to_integer([(W1, B1)], CAL1[0])
    m = convert_to_integer([(W1, B1)], CAL1)
    with pytest.raises(ValueError, match=r"x must be a real array of shape \(N, 2\)"):
        quantize_input(m, np.zeros((3, 4)))
    with pytest.raises(TypeError, match="IntegerMLP"):
        integer_forward("model", np.zeros((1, 2), np.int8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        integer_forward(m, np.zeros((1, 2), np.int8), kernel="float")


def test_an_accumulator_beyond_int32_raises_instead_of_wrapping() -> None:
    import dataclasses

    m, x = _model(24055982, [1, 1, 1, 1], "int8", "double")  # its last bias saturates at INT32_MIN
    last = m.layers[-1]
    assert last.bias.tolist() == [-(2**31)]
    integer_forward(m, quantize_input(m, x))  # INT32_MIN itself is an int32 accumulator
    # its input codes are all -128: with z_in = 127 and a weight of 1 the accumulator is INT32_MIN - 255
    w = np.full_like(last.weight, 1)
    layer = dataclasses.replace(last, weight=w, input_zero_point=127)
    bad = dataclasses.replace(m, layers=(*m.layers[:-1], layer))
    with pytest.raises(ValueError, match="leaves int32"):
        integer_forward(bad, quantize_input(bad, x))
