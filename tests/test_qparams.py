"""Range -> (scale, zero_point): hand-computed cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.qparams import nudge_range, qparams_from_range, reduce_range
from refquant.quantize import fake_quantize


def test_affine_uint8_hand_example() -> None:
    # [-1, 3] -> s = 4/255; z = 0 - round(-1 / (4/255)) = round(63.75) = 64
    p = qparams_from_range(-1.0, 3.0, 0, 255, dtype=np.float64)
    assert p.scale == pytest.approx(4 / 255, rel=0, abs=0)
    assert int(p.zero_point) == 64


def test_range_widened_to_include_zero() -> None:
    # [2, 4] -> [0, 4]: s = 4/255, z = 0
    p = qparams_from_range(2.0, 4.0, 0, 255, dtype=np.float64)
    assert float(p.scale) == 4 / 255 and int(p.zero_point) == 0
    # without widening the zero point would be 0 - round(2 / (2/255)) = -255, clipped to 0
    q = qparams_from_range(2.0, 4.0, 0, 255, include_zero=False, dtype=np.float64)
    assert float(q.scale) == 2 / 255 and int(q.zero_point) == 0


def test_symmetric_divisors() -> None:
    # amax = 3: PyTorch 3 / 127.5, TFLite/TensorRT 3 / 127
    a = qparams_from_range(-1.0, 3.0, -128, 127, symmetric=True, dtype=np.float64)
    b = qparams_from_range(-1.0, 3.0, -128, 127, symmetric=True, symmetric_divisor="qmax", dtype=np.float64)
    assert float(a.scale) == 3 / 127.5 and float(b.scale) == 3 / 127
    assert int(a.zero_point) == 0 and int(b.zero_point) == 0
    u = qparams_from_range(-1.0, 3.0, 0, 255, symmetric=True, dtype=np.float64)
    assert int(u.zero_point) == 128  # midpoint of an unsigned range


def test_eps_guard_and_empty_range() -> None:
    p = qparams_from_range(0.0, 0.0, 0, 255)
    assert float(p.scale) == float(np.finfo(np.float32).eps) and int(p.zero_point) == 0
    with pytest.raises(ValueError, match="the scale is 0"):
        qparams_from_range(0.0, 0.0, 0, 255, eps=None)


def test_per_channel_shapes() -> None:
    p = qparams_from_range([-1.0, 0.0, -2.0], [1.0, 2.0, 0.0], -128, 127, symmetric=True)
    assert p.scale.shape == (3,) and p.zero_point.shape == (3,)
    assert p.scale.dtype == np.float32


def test_bad_ranges() -> None:
    with pytest.raises(ValueError, match="min_val must be <= max_val"):
        qparams_from_range(1.0, 0.0, 0, 255)
    with pytest.raises(ValueError, match="must be finite"):
        qparams_from_range(-np.inf, 0.0, 0, 255)
    with pytest.raises(ValueError, match="same shape"):
        qparams_from_range([0.0, 1.0], [1.0], 0, 255)
    with pytest.raises(ValueError, match="symmetric_divisor must be one of"):
        qparams_from_range(0.0, 1.0, 0, 255, symmetric=True, symmetric_divisor="127")  # type: ignore[arg-type]
    for eps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps must be finite and > 0"):
            qparams_from_range(0.0, 0.0, 0, 255, eps=eps)
    with pytest.raises(TypeError, match="eps must be a float or None"):
        qparams_from_range(0.0, 1.0, 0, 255, eps="1e-6")  # type: ignore[arg-type]


def test_reduce_range() -> None:
    assert reduce_range(0, 255) == (0, 127)
    assert reduce_range(-128, 127) == (-64, 63)


def test_nudge_hand_example() -> None:
    # TF: [-0.1, 1.0] on [0, 255]: s = 1.1/255; zero_point_from_min = 0.1/s = 23.18 -> 23;
    # nudged range = [-23 s, 232 s]
    lo, hi, _s, z = nudge_range(-0.1, 1.0, 0, 255, dtype=np.float64)
    assert int(z) == 23
    assert float(lo) == pytest.approx(-23 * 1.1 / 255, rel=1e-15)
    assert float(hi) == pytest.approx(232 * 1.1 / 255, rel=1e-15)


def test_nudge_clamps_and_rounds_half_away() -> None:
    # range entirely positive: zero_point_from_min = -min/s < 0 -> clamped to quant_min
    lo, _, _, z = nudge_range(1.0, 2.0, 0, 255, dtype=np.float64)
    assert int(z) == 0 and float(lo) == 0.0
    # zero_point_from_min exactly 2.5 (min = -2.5 s with s = 1): half away -> 3
    _, _, s, z = nudge_range(-2.5, 252.5, 0, 255, dtype=np.float64)
    assert float(s) == 1.0 and int(z) == 3


@given(
    st.floats(-1e3, 0.0),
    st.floats(0.0, 1e3),
    st.sampled_from([(0, 255), (-128, 127), (-127, 127), (0, 15)]),
    st.booleans(),
)
def test_zero_is_exact_and_range_is_covered(lo, hi, qrange, symmetric) -> None:
    qmin, qmax = qrange
    p = qparams_from_range(lo, hi, qmin, qmax, symmetric=symmetric, dtype=np.float64)
    assert qmin <= int(p.zero_point) <= qmax
    # 0 maps to a code exactly
    assert fake_quantize(np.array([0.0]), p.scale, p.zero_point, qmin, qmax).tolist() == [0.0]
    # the observed range lies within one step of the representable range
    s, z = float(p.scale), int(p.zero_point)
    assert (qmin - z) * s <= lo + s and (qmax - z) * s >= hi - s


def test_zero_point_formulas_differ_at_ties() -> None:
    # [-2.5, 252.5] on [-128, 127]: s = 255/255 = 1, min/s = -2.5 (a tie)
    kw = {"dtype": np.float64, "zero_point_rounding": "half_away"}
    torch_like = qparams_from_range(-2.5, 252.5, -128, 127, **kw)
    onnx_like = qparams_from_range(-2.5, 252.5, -128, 127, zero_point_formula="round_of_difference", **kw)
    assert float(torch_like.scale) == 1.0
    assert int(torch_like.zero_point) == -125  # -128 - round_half_away(-2.5) = -128 + 3
    assert int(onnx_like.zero_point) == -126  # round_half_away(-128 + 2.5) = round(-125.5)
    # half-even with an odd qmin (narrow range): -127 - R(-2.5) = -125 vs R(-124.5) = -124
    even = {"dtype": np.float64}
    a = qparams_from_range(-2.5, 251.5, -127, 127, **even)
    b = qparams_from_range(-2.5, 251.5, -127, 127, zero_point_formula="round_of_difference", **even)
    assert float(a.scale) == 1.0 and (int(a.zero_point), int(b.zero_point)) == (-125, -124)


def test_tflite_zero_point_formula() -> None:
    # In exact arithmetic qmin - min/s == qmax - max/s (s = (max - min)/(qmax - qmin)); TFLite
    # evaluates the one with the smaller magnitudes (less rounding error) and rounds it.
    # [-0.1, 100] on [0, 255]: s = 100.1/255, zero point 0.1/s = 0.2547 -> 0
    p = qparams_from_range(-0.1, 100.0, 0, 255, zero_point_formula="tflite", dtype=np.float64)
    assert int(p.zero_point) == 0
    # [-100, 0.1] on [-128, 127]: zero point 127 - 0.1/s = 126.745 -> 127
    q = qparams_from_range(-100.0, 0.1, -128, 127, zero_point_formula="tflite", dtype=np.float64)
    assert float(q.scale) == pytest.approx(100.1 / 255, rel=1e-15)
    assert int(q.zero_point) == 127


def test_tflite_zero_point_formula_takes_the_side_with_the_smaller_error() -> None:
    # Where the two sides round differently, only "tflite" takes the max side. TFLite's
    # ChooseQuantizationParams works in C++ double, transcribed here in Python floats:
    lo, hi = -52.216495513916016, 32.32449722290039  # float32 values
    scale = (hi - lo) / (127.0 - -128.0)
    from_min, from_max = -128.0 - lo / scale, 127.0 - hi / scale
    assert from_min == 29.5 and 29.49999 < from_max < 29.5  # exact arithmetic: both 29.5
    assert abs(127.0) + abs(hi / scale) < abs(-128.0) + abs(lo / scale)  # the max side has less error
    kw = {"dtype": np.float64, "zero_point_rounding": "half_away"}
    # TFLite: TfLiteRound(from_max) = 29; the min side would give round_half_away(29.5) = 30
    assert int(qparams_from_range(lo, hi, -128, 127, zero_point_formula="tflite", **kw).zero_point) == 29
    for formula in ("qmin_minus_round", "round_of_difference"):
        assert int(qparams_from_range(lo, hi, -128, 127, zero_point_formula=formula, **kw).zero_point) == 30


# ---------------------------------------------------------------- hostile inputs (issue 8)


def test_width_that_overflows_float32_gives_the_exact_scale() -> None:
    # float32: 3e38 - (-1e38) = 4e38 > FLT_MAX, so fl32(hi - lo) is inf. The scale is the exact
    # quotient rounded once: the float32 values' difference is exact in float64 (exponents 127 and
    # 126), and 4e38 / 255 ~ 1.5686e36 is far from a float32 midpoint, so one float64 division
    # rounded to float32 is the correctly rounded value.
    lo, hi = np.float32(-1e38), np.float32(3e38)
    want = np.float32((np.float64(hi) - np.float64(lo)) / 255)
    p = qparams_from_range(lo, hi, 0, 255)
    assert np.isfinite(p.scale) and p.scale == want and p.scale.dtype == np.float32
    # z = 0 - R(-1e38 / s) = -R(-63.75 (1 + tiny)) = 64
    assert int(p.zero_point) == 64
    # the same per channel, beside an ordinary range: [-1, 3] -> 4/255, z = 64
    p = qparams_from_range([-1.0, lo], [3.0, hi], 0, 255)
    assert p.scale.tolist() == [float(np.float32(4) / np.float32(255)), float(want)]


def test_qparams_outputs_are_arrays_of_the_documented_dtypes() -> None:
    for sym in (False, True):
        p = qparams_from_range(-1.0, 3.0, 0, 255, symmetric=sym)
        assert isinstance(p.scale, np.ndarray) and p.scale.shape == () and p.scale.dtype == np.float32
        assert isinstance(p.zero_point, np.ndarray) and p.zero_point.dtype == np.int64


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"dtype": np.float16, "quant_max": 65535}, ValueError, "quant_max=65535 overflows .*float16"),
        (
            {"dtype": np.float16, "quant_min": -70000, "quant_max": -60000},
            ValueError,
            "quant_min=-70000 overflows",
        ),
        ({"dtype": "bogus"}, TypeError, "dtype must be a float dtype .*got 'bogus'"),
        ({"eps": 1e300}, ValueError, r"eps=1e\+300 overflows the compute dtype float32"),
        ({"min_val": 0.0, "max_val": 0.0, "eps": 1e-300}, ValueError, "eps=1e-300 rounds to 0 in float32"),
        ({"min_val": -1e39}, ValueError, r"min_val=\[-1e\+39\] overflows the compute dtype float32"),
        ({"min_val": np.nan}, ValueError, r"must be finite, got min_val=\[nan\]"),
        (
            {"min_val": 5.0, "max_val": 3.0},
            ValueError,
            r"min_val must be <= max_val, got min_val=\[5.0\], max_val=\[3.0\]",
        ),
        ({"min_val": True}, TypeError, "min_val must be a real .*got bool True"),
        ({"symmetric": "yes"}, TypeError, "symmetric must be a bool, got 'yes'"),
        ({"include_zero": None}, TypeError, "include_zero must be a bool, got None"),
        (
            {"quant_min": 0, "quant_max": 1, "min_val": -3.4e38, "max_val": 3.4e38},
            ValueError,
            "overflows float32",
        ),
    ],
)
def test_hostile_qparams_arguments(kwargs, err, match) -> None:
    args = {"min_val": -1.0, "max_val": 3.0, "quant_min": 0, "quant_max": 255, **kwargs}
    lo, hi, qmin, qmax = (args.pop(k) for k in ("min_val", "max_val", "quant_min", "quant_max"))
    with pytest.raises(err, match=match):
        qparams_from_range(lo, hi, qmin, qmax, **args)


def test_tiny_eps_in_float32_is_accepted_for_a_nonempty_range() -> None:
    # eps = 1e-300 rounds to 0 in float32, harmless when the range gives a positive scale: 4/255
    p = qparams_from_range(-1.0, 3.0, 0, 255, eps=1e-300)
    assert p.scale == np.float32(4) / np.float32(255)


def test_nudge_range_hostile() -> None:
    # float32: 3e38 - (-3e38) overflows, so TF's scale is inf: a clear error naming both bounds
    with pytest.raises(ValueError, match=r"min_val=\[-3e\+38\], max_val=\[3e\+38\]"):
        nudge_range(-3e38, 3e38, 0, 255)
    with pytest.raises(ValueError, match="min_val must be <= max_val"):
        nudge_range(1.0, -1.0, 0, 255)
    with pytest.raises(TypeError, match="dtype must be a float dtype"):
        nudge_range(-0.1, 1.0, 0, 255, dtype=np.int32)
    out = nudge_range(-0.1, 1.0, 0, 255)
    assert all(isinstance(v, np.ndarray) for v in out) and out[3].dtype == np.int64


def test_reduce_range_hostile() -> None:
    # [0, 1] halves to [0, 0]: no range left
    with pytest.raises(ValueError, match=r"quant_min=0, quant_max=1 leaves the empty range \[0, 0\]"):
        reduce_range(0, 1)
    # NumPy bounds of mixed signedness are compared as integers, not promoted to float64
    assert reduce_range(np.int64(-128), np.uint64(127)) == (-64, 63)
    with pytest.raises(ValueError, match="quant_min must be < quant_max, got quant_min=5, quant_max=3"):
        reduce_range(5, 3)
