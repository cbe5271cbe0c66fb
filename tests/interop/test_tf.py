"""Unit and property tests of refquant.interop.tf (TF FakeQuant ops and their gradient ops).

The expected values below are worked out by hand in the comments, using
ranges whose float32 scale is exact (1.0 or -1.0), never by calling the code
under test. The two exceptions say so: they are values observed from
tensorflow-cpu 2.21. The real TensorFlow is in
tests/conformance/test_tf_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.interop.tf import (
    fake_quant_with_min_max_args,
    fake_quant_with_min_max_args_vjp,
    fake_quant_with_min_max_vars,
    fake_quant_with_min_max_vars_per_channel,
    fake_quant_with_min_max_vars_per_channel_vjp,
    fake_quant_with_min_max_vars_vjp,
)
from refquant.interop.tf import kernels as tf_kernels
from refquant.qparams import nudge_range
from refquant.rounding import round_to_integer

F32 = np.float32


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=F32)


def bits(a: np.ndarray) -> list[int]:
    return np.array(a, dtype=F32).view(np.uint32).ravel().tolist()


# ------------------------------------------------------------------ forward: examples


def test_ties_round_up_through_floor_plus_half() -> None:
    # [0, 255], 8 bits: scale = 255/255 = 1, inv = 1, zp = 0, nudged [0, 255], quant_zero = floor(0 + .5) = 0.
    # 0.5 -> floor(0.5 + 0.5) = 1; 1.5 -> 2; 2.5 -> 3 (half-to-even would give 2)
    assert fake_quant_with_min_max_vars(f32(0.5, 1.5, 2.5), 0.0, 255.0).tolist() == [1.0, 2.0, 3.0]
    # [-10, 245]: scale 1, zp_from_min = 10 -> zp 10, nudged [-10, 245], quant_zero = floor(10 + .5) = 10.
    # -1.5 -> shifted 8.5 -> 8.5 - 10 + .5 = -1 -> -1; -2.5 -> 7.5 - 10 + .5 = -2 -> -2 (ties toward +inf)
    assert fake_quant_with_min_max_vars(f32(-1.5, -2.5), -10.0, 245.0).tolist() == [-1.0, -2.0]


def test_float32_floor_plus_half_is_not_exact_half_up() -> None:
    x = F32(0.49999997)  # the float32 just below 0.5: 0.5 - 2**-25
    assert float(x) == 0.5 - 2.0**-25
    # 0.5 - 2**-25 + 0.5 = 1 - 2**-25 is halfway between 1 - 2**-24 and 1.0 in float32 -> rounds to even, 1.0
    assert F32(x + F32(0.5)) == 1.0
    # so TF gives 1 where exact half-up gives 0 ([0, 255]: scale 1, nudged_min 0, quant_zero 0)
    assert fake_quant_with_min_max_vars(f32(x), 0.0, 255.0).tolist() == [1.0]
    assert fake_quant_with_min_max_args(f32(x), 0.0, 255.0).tolist() == [1.0]
    assert round_to_integer(f32(x), "half_up").tolist() == [0.0]


def test_clamp_happens_on_the_nudged_range() -> None:
    # [-0.75, 2.25], 2 bits: scale = 3/3 = 1, zp_from_min = 0.75 -> round half away -> 1,
    # nudged [-1, 2] (moved down a quarter step), quant_zero = floor(1 * 1 + .5) = 1.
    # -5 -> clamp -1 -> 0 - 1 + .5 -> floor -1 -> -1;  -0.875 -> .125 - 1 + .5 = -.375 -> -1
    # 0.4 -> 1.4 - 1 + .5 = .9 -> 0;  2.125 -> 2;  9 -> clamp 2 -> 2
    x = f32(-5.0, -0.875, 0.4, 2.125, 9.0)
    assert fake_quant_with_min_max_vars(x, -0.75, 2.25, num_bits=2).tolist() == [-1.0, -1.0, 0.0, 2.0, 2.0]


def test_ranges_without_zero_are_nudged_to_touch_it() -> None:
    # [0.5, 3.5], 2 bits: scale 1, zp_from_min = -0.5 < 0 -> zp 0, nudged [0, 3], quant_zero 0.
    # 0.25 -> 0.75 -> 0;  1.0 -> 1.5 -> 1;  4.0 -> clamp 3 -> 3
    assert fake_quant_with_min_max_vars(f32(0.25, 1.0, 4.0), 0.5, 3.5, num_bits=2).tolist() == [0.0, 1.0, 3.0]
    # [-3.5, -0.5]: zp_from_min = 3.5 > 3 -> zp 3, nudged [-3, 0], quant_zero = floor(3 + .5) = 3.
    # -0.25 -> 2.75 - 3 + .5 = .25 -> 0;  0.3 -> clamp 0 -> 0;  -9 -> clamp -3 -> -3
    y = fake_quant_with_min_max_vars(f32(-0.25, 0.3, -9.0), -3.5, -0.5, num_bits=2)
    assert y.tolist() == [0.0, 0.0, -3.0]


def test_narrow_range() -> None:
    # [-1, 1], 2 bits, narrow: codes [1, 3], scale = 2/2 = 1, zp_from_min = 1 + 1 = 2, nudged [-1, 1],
    # quant_zero = floor(1 * 1 + .5) = 1.  -5 -> -1;  -.5 -> .5 - 1 + .5 = 0 -> 0;  .5 -> 1;  5 -> 1
    y = fake_quant_with_min_max_vars(f32(-5.0, -0.5, 0.5, 5.0), -1.0, 1.0, num_bits=2, narrow_range=True)
    assert y.tolist() == [-1.0, 0.0, 1.0, 1.0]


def test_per_tensor_divides_per_channel_multiplies() -> None:
    # Observed in tensorflow-cpu 2.21 (and checked in tests/conformance): at this tie of the
    # [-6, 6] 8-bit grid, x / scale and x * inv_scale round to different sides.
    x = np.array([3230946389], np.uint32).view(F32)  # -4.6352944
    assert fake_quant_with_min_max_vars(x, -6.0, 6.0).tolist() == [-4.658823490142822]
    assert fake_quant_with_min_max_vars_per_channel(x, [-6.0], [6.0]).tolist() == [-4.611764907836914]
    assert fake_quant_with_min_max_args(x, -6.0, 6.0).tolist() == [-4.611764907836914]


def test_per_channel_last_axis() -> None:
    # channel 0: [-1, 2] 2 bits as above (nudged [-1, 2], quant_zero 1): .4 -> 0, .5 -> 1, 9 -> 2;
    # channel 1: [0, 3]: zp 0, quant_zero 0: .4 -> .9 -> 0;  .5 -> 1;  -9 -> 0
    x = f32(0.4, 0.4, 0.5, 0.5, 9.0, -9.0).reshape(3, 2)
    y = fake_quant_with_min_max_vars_per_channel(x, [-1.0, 0.0], [2.0, 3.0], num_bits=2)
    assert y.tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]
    # a 1-D input is one element per channel
    y = fake_quant_with_min_max_vars_per_channel(f32(0.5, 0.5), [-1.0, 0.0], [2.0, 3.0], 2)
    assert y.tolist() == [1.0, 1.0]


def test_args_defaults_and_float32_attrs() -> None:
    # default [-6, 6], 8 bits: 0 is on the grid and stays 0
    assert fake_quant_with_min_max_args(f32(0.0, -0.0)).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="min has to be smaller than max"):
        fake_quant_with_min_max_args(f32(0.3), 1.0, 1.0 + 1e-12)  # equal once rounded to float32
    with pytest.raises(ValueError, match="min has to be smaller than max"):
        fake_quant_with_min_max_args(f32(0.3), float("nan"), 1.0)


# ------------------------------------------------------------------ NaN, inf, degenerate ranges


def test_nan_and_inf_inputs() -> None:
    # [-1, 2], 2 bits: NaN survives the clamp; +-inf clamp to nudged max/min
    y = fake_quant_with_min_max_vars(f32(np.nan, np.inf, -np.inf), -1.0, 2.0, num_bits=2)
    assert np.isnan(y[0]) and y[1:].tolist() == [2.0, -1.0]
    g = fake_quant_with_min_max_vars_vjp(f32(1.0, 2.0, 4.0), f32(np.nan, np.inf, -np.inf), -1.0, 2.0, 2)
    assert g.grad_inputs.tolist() == [0.0, 0.0, 0.0]
    assert (float(g.grad_min), float(g.grad_max)) == (4.0, 2.0)  # NaN counts nowhere


def test_inf_and_nan_gradients_poison_the_sums() -> None:
    # masks multiply: inf * 0 = NaN; every term enters both sums, so one inf/NaN makes both NaN
    g = fake_quant_with_min_max_vars_vjp(f32(np.inf, -1.0), f32(0.0, 0.5), -1.0, 2.0, 2)
    assert g.grad_inputs.tolist() == [np.inf, -1.0]
    assert np.isnan(g.grad_min) and np.isnan(g.grad_max)
    g = fake_quant_with_min_max_vars_vjp(f32(np.inf, -1.0), f32(9.0, 0.5), -1.0, 2.0, 2)
    assert np.isnan(g.grad_inputs[0]) and g.grad_inputs[1] == -1.0


def test_zero_range_outputs_zeros_and_passes_gradients() -> None:
    x = f32(np.nan, -3.0, 0.0, 5.0)
    assert bits(fake_quant_with_min_max_vars(x, 0.0, 0.0)) == [0, 0, 0, 0]  # +0.0 everywhere, NaN too
    grad = f32(1.0, -2.0, 1e-45, 8.0)
    g = fake_quant_with_min_max_vars_vjp(grad, x, -0.0, 0.0)
    assert bits(g.grad_inputs) == bits(grad)  # a copy: even the subnormal survives
    assert (float(g.grad_min), float(g.grad_max)) == (0.0, 0.0)
    # per channel, only the zero channel
    y = fake_quant_with_min_max_vars_per_channel(f32(5.0, 5.0), [0.0, -1.0], [0.0, 2.0], 2)
    assert y.tolist() == [0.0, 2.0]


def test_empty_nonzero_range_gives_nan() -> None:
    # min == max == 1: scale 0, inv inf, nudged_min = (0 - 0) * 0 = 0, quant_zero = floor(0 * inf + .5) = NaN
    assert np.isnan(fake_quant_with_min_max_vars(f32(-1.0, 0.0, 1.0), 1.0, 1.0)).all()


def test_reversed_range_is_not_rejected() -> None:
    # [2, -1], 2 bits: scale = -3/3 = -1, zp_from_min = 0 - 2/(-1) = 2, nudged_min = (0-2)(-1) = 2,
    # nudged_max = (3-2)(-1) = -1, inv = 3/-3 = -1, quant_zero = floor(-2 * -1 + .5) = 2.
    # clamp: min(x, -1) then max(., 2) -> 2 for every non-NaN x;
    # shifted 0 -> 0/-1 - 2 + .5 = -1.5 -> floor -2 -> -2 * -1 = 2
    y = fake_quant_with_min_max_vars(f32(-5.0, 0.0, 5.0, np.inf), 2.0, -1.0, num_bits=2)
    assert y.tolist() == [2.0, 2.0, 2.0, 2.0]
    # no input lies in [2, -1]; x < 2 goes to min and x > -1 goes to max, so 0.0 counts twice
    g = fake_quant_with_min_max_vars_vjp(f32(1.0, 2.0, 4.0), f32(-5.0, 0.0, 5.0), 2.0, -1.0, 2)
    assert g.grad_inputs.tolist() == [0.0, 0.0, 0.0]
    assert (float(g.grad_min), float(g.grad_max)) == (3.0, 6.0)


def test_subnormals_are_flushed_like_tf() -> None:
    # [0, 255]: nudged_min = 0. TF runs with DAZ, so -1e-45 compares as -0.0 >= 0: inside, not below.
    g = fake_quant_with_min_max_vars_vjp(f32(1.0), f32(-1e-45), 0.0, 255.0)
    assert g.grad_inputs.tolist() == [1.0] and float(g.grad_min) == 0.0
    # a subnormal range is min == max == 0 under DAZ: zeros, gradient passed through
    assert fake_quant_with_min_max_vars(f32(7.0), -1e-45, 1e-45).tolist() == [0.0]
    # subnormal gradients are flushed by the multiply: 1e-45 * 1.0 -> 0
    assert fake_quant_with_min_max_vars_vjp(f32(1e-45), f32(0.5), 0.0, 255.0).grad_inputs.tolist() == [0.0]


# ------------------------------------------------------------------ gradients: examples


def test_gradient_window_is_the_closed_nudged_range() -> None:
    # [-1, 2], 2 bits: nudged [-1, 2]; both ends inclusive, one ulp outside goes to min/max
    x = np.array([np.nextafter(F32(-1), F32(-2)), -1.0, 2.0, np.nextafter(F32(2), F32(3))], F32)
    g = fake_quant_with_min_max_vars_vjp(f32(1.0, 2.0, 4.0, 8.0), x, -1.0, 2.0, num_bits=2)
    assert g.grad_inputs.tolist() == [0.0, 2.0, 4.0, 0.0]
    assert (float(g.grad_min), float(g.grad_max)) == (1.0, 8.0)
    assert g.grad_min.shape == () and g.grad_min.dtype == F32


def test_gradient_window_uses_nudged_not_raw_bounds() -> None:
    # [-0.75, 2.25] nudges to [-1, 2]: -0.875 is below min but inside the window;
    # 2.125 is below max but above nudged_max, so its gradient goes to max
    g = fake_quant_with_min_max_vars_vjp(f32(1.0, 2.0), f32(-0.875, 2.125), -0.75, 2.25, num_bits=2)
    assert g.grad_inputs.tolist() == [1.0, 0.0]
    assert (float(g.grad_min), float(g.grad_max)) == (0.0, 2.0)


def test_min_max_gradients_are_sums() -> None:
    # [-1, 2]: below: -5, -3 -> 1 + 2 = 3; inside: 0 -> 4; above: 3, 4, 5 -> 8 + 16 + 32 = 56
    x = f32(-5.0, -3.0, 0.0, 3.0, 4.0, 5.0)
    grad = f32(1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    g = fake_quant_with_min_max_vars_vjp(grad, x, -1.0, 2.0, num_bits=2)
    assert g.grad_inputs.tolist() == [0.0, 0.0, 4.0, 0.0, 0.0, 0.0]
    assert (float(g.grad_min), float(g.grad_max)) == (3.0, 56.0)
    # per channel: the same per column
    gc = fake_quant_with_min_max_vars_per_channel_vjp(
        np.stack([grad, grad], -1), np.stack([x, -x], -1), [-1.0, -1.0], [2.0, 2.0], 2
    )
    # column 1 is -x = 5, 3, 0, -3, -4, -5: below -> 8 + 16 + 32 = 56, above -> 1 + 2 = 3
    assert gc.grad_min.tolist() == [3.0, 56.0] and gc.grad_max.tolist() == [56.0, 3.0]
    assert gc.grad_inputs[:, 1].tolist() == [0.0, 0.0, 4.0, 0.0, 0.0, 0.0]


def test_sums_follow_eigen_order_not_exact() -> None:
    # all below [-1, 2]: fewer than 8 values are added one by one from +0.0 in float32:
    # 2**24 + 1 is a tie -> even, 2**24; + 1 -> 2**24 again.  Reversed: 1 + 1 = 2, + 2**24 = 2**24 + 2 (exact)
    def grad_min(grad: np.ndarray) -> float:
        return float(
            fake_quant_with_min_max_vars_vjp(grad, np.full(grad.shape, -9.0, F32), -1.0, 2.0, 2).grad_min
        )

    assert grad_min(f32(2.0**24, 1.0, 1.0)) == 2.0**24
    assert grad_min(f32(1.0, 1.0, 2.0**24)) == 2.0**24 + 2
    # 32 values = one round of 4 packets of 8: lane 0 of packets 0, 1, 2 hold 2**24, 1, 1;
    # p0 + p1 -> 2**24 (tie to even), + p2 -> 2**24
    grad = np.zeros(32, F32)
    grad[[0, 8, 16]] = [2.0**24, 1.0, 1.0]
    assert grad_min(grad) == 2.0**24


def test_sum_of_negative_zeros_is_positive_zero() -> None:
    # Eigen's sum starts from +0.0: +0 + -0 = +0
    g = fake_quant_with_min_max_vars_vjp(f32(-1.0, -2.0), f32(0.0, 0.5), -1.0, 2.0, 2)
    assert bits(g.grad_min) == [0] and bits(g.grad_max) == [0]
    assert bits(g.grad_inputs) == bits(f32(-1.0, -2.0))


def test_args_vjp() -> None:
    # [-0.25, 2.75] nudges to [0, 3] (zp_from_min 0.25 -> 0): -0.1 below, 0 and 3 inclusive, 3.1 above
    g = fake_quant_with_min_max_args_vjp(f32(1.0, 2.0, 4.0, 8.0), f32(-0.1, 0.0, 3.0, 3.1), -0.25, 2.75, 2)
    assert g.tolist() == [0.0, 2.0, 4.0, 0.0]


# ------------------------------------------------------------------ validation and dtypes


def test_validation() -> None:
    x = f32(0.3)
    with pytest.raises(ValueError, match="num_bits must be between 2 and 16, inclusive, got 1"):
        fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=1)
    with pytest.raises(ValueError, match="got 17"):
        fake_quant_with_min_max_args(x, num_bits=17)
    with pytest.raises(TypeError, match="num_bits must be an int"):
        fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=True)
    with pytest.raises(TypeError, match="narrow_range must be a bool"):
        fake_quant_with_min_max_vars(x, -1.0, 1.0, narrow_range=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"min must be a scalar \(rank 0\), got shape \(1,\)"):
        fake_quant_with_min_max_vars(x, [-1.0], 1.0)
    with pytest.raises(ValueError, match=r"max must have shape \(2,\)"):
        fake_quant_with_min_max_vars_per_channel(np.zeros((3, 2), F32), [-1.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="at least 1 dimension"):
        fake_quant_with_min_max_vars_per_channel(F32(0.3), [-1.0], [1.0])
    with pytest.raises(ValueError, match=r"grad must have the shape of inputs \(1,\), got \(2,\)"):
        fake_quant_with_min_max_vars_vjp(f32(1.0, 1.0), x, -1.0, 1.0)
    with pytest.raises(TypeError, match="inputs must be a real array"):
        fake_quant_with_min_max_vars(np.array([1j]), -1.0, 1.0)
    with pytest.raises(TypeError, match="min must be a float"):
        fake_quant_with_min_max_args(x, "a", 1.0)  # type: ignore[arg-type]


def test_dtypes_and_shapes() -> None:
    # float64 and int inputs are rounded to float32, as TF converts NumPy arrays
    y = fake_quant_with_min_max_vars(np.array([[0.5]]), 0.0, 255.0)
    assert y.dtype == F32 and y.shape == (1, 1) and y.tolist() == [[1.0]]
    assert fake_quant_with_min_max_vars([1, 2], 0, 255).tolist() == [1.0, 2.0]
    assert fake_quant_with_min_max_vars(F32(2.5), 0.0, 255.0).shape == ()
    g = fake_quant_with_min_max_vars_vjp(np.ones((0, 3), F32), np.ones((0, 3), F32), -1.0, 1.0)
    assert g.grad_inputs.shape == (0, 3) and float(g.grad_min) == 0.0 and float(g.grad_max) == 0.0
    gc = fake_quant_with_min_max_vars_per_channel_vjp(np.ones((0, 3)), np.ones((0, 3)), [0.0] * 3, [1.0] * 3)
    assert gc.grad_min.shape == (3,) and gc.grad_min.tolist() == [0.0, 0.0, 0.0]


# ------------------------------------------------------------------ properties

BITS = st.sampled_from([2, 3, 4, 8, 12, 16])


@st.composite
def ranges(draw: st.DrawFn) -> tuple[float, float]:
    """Finite float32 (min, max) with min < max, either sign, including ranges without 0."""
    lo = float(F32(draw(st.floats(-1e3, 1e3))))
    width = float(F32(draw(st.floats(1e-3, 1e3))))
    hi = float(F32(lo + width))
    assume(lo < hi)
    return lo, hi


@st.composite
def case(draw: st.DrawFn, nan: bool = False) -> tuple[np.ndarray, float, float, int, bool]:
    lo, hi = draw(ranges())
    span = hi - lo
    elements = st.one_of(
        st.floats(float(F32(lo - span)), float(F32(hi + span)), width=32),
        st.sampled_from([lo, hi, np.inf, -np.inf, 0.0, -0.0] + ([np.nan] if nan else [])),
    )
    x = draw(hnp.arrays(F32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=elements))
    return x, lo, hi, draw(BITS), draw(st.booleans())


@given(case())
def test_outputs_on_the_nudged_grid(c: tuple[np.ndarray, float, float, int, bool]) -> None:
    x, lo, hi, nb, narrow = c
    qmin, qmax = int(narrow), 2**nb - 1
    nmin, nmax, s, zp = nudge_range(lo, hi, qmin, qmax)
    args = (x, lo, hi, nb, narrow)
    for y in (fake_quant_with_min_max_vars(*args), fake_quant_with_min_max_args(*args)):
        assert ((y >= nmin) & (y <= nmax)).all()
        m = np.rint(y.astype(np.float64) / float(s))
        assert ((m >= qmin - int(zp)) & (m <= qmax - int(zp))).all()
        np.testing.assert_array_equal(m.astype(F32) * s, y)  # exactly m * scale in float32


@given(case(nan=True), st.data())
def test_per_channel_equals_args_column_by_column(
    c: tuple[np.ndarray, float, float, int, bool], data: st.DataObject
) -> None:
    x, lo, hi, nb, narrow = c
    lo2, hi2 = data.draw(ranges())
    xc = np.stack([x.ravel(), x.ravel()[::-1]], axis=-1)
    y = fake_quant_with_min_max_vars_per_channel(xc, [lo, lo2], [hi, hi2], nb, narrow)
    for col, (a, b) in enumerate(((lo, hi), (lo2, hi2))):
        assert bits(y[:, col]) == bits(fake_quant_with_min_max_args(xc[:, col], a, b, nb, narrow))


@given(case(nan=True), st.data())
def test_per_channel_gradients_equal_per_tensor_column_by_column(
    c: tuple[np.ndarray, float, float, int, bool], data: st.DataObject
) -> None:
    x, lo, hi, nb, narrow = c
    xc = np.stack([x.ravel(), -x.ravel()], axis=-1)
    grad = data.draw(hnp.arrays(F32, xc.shape, elements=st.floats(-1e3, 1e3, width=32)))
    gc = fake_quant_with_min_max_vars_per_channel_vjp(grad, xc, [lo, lo], [hi, hi], nb, narrow)
    for col in range(2):
        g = fake_quant_with_min_max_vars_vjp(grad[:, col], xc[:, col], lo, hi, nb, narrow)
        assert bits(gc.grad_inputs[:, col]) == bits(g.grad_inputs)
        assert bits(gc.grad_min[col]) == bits(g.grad_min) and bits(gc.grad_max[col]) == bits(g.grad_max)
        g_args = fake_quant_with_min_max_args_vjp(grad[:, col], xc[:, col], lo, hi, nb, narrow)
        assert bits(g.grad_inputs) == bits(g_args)


@given(case(), st.data())
def test_gradients_partition_grad(c: tuple[np.ndarray, float, float, int, bool], data: st.DataObject) -> None:
    # no NaN inputs: each element is below, inside or above; integer grads make every float32 sum exact
    x, lo, hi, nb, narrow = c
    grad = data.draw(hnp.arrays(F32, x.shape, elements=st.integers(-8, 8).map(float)))
    g = fake_quant_with_min_max_vars_vjp(grad, x, lo, hi, nb, narrow)
    assert ((g.grad_inputs == grad) | (g.grad_inputs == 0)).all()
    total = float(np.sum(g.grad_inputs, dtype=np.float64)) + float(g.grad_min) + float(g.grad_max)
    assert total == float(np.sum(grad, dtype=np.float64))


@given(case(nan=True), st.data())
def test_vjp_is_linear_in_grad(c: tuple[np.ndarray, float, float, int, bool], data: st.DataObject) -> None:
    x, lo, hi, nb, narrow = c
    ints = st.integers(-64, 64).map(float)
    g1 = data.draw(hnp.arrays(F32, x.shape, elements=ints))
    g2 = data.draw(hnp.arrays(F32, x.shape, elements=ints))
    a, b = data.draw(st.integers(-4, 4)), data.draw(st.integers(-4, 4))
    lhs = fake_quant_with_min_max_vars_vjp(a * g1 + b * g2, x, lo, hi, nb, narrow)
    r1 = fake_quant_with_min_max_vars_vjp(g1, x, lo, hi, nb, narrow)
    r2 = fake_quant_with_min_max_vars_vjp(g2, x, lo, hi, nb, narrow)
    for left, p, q in zip(lhs, r1, r2, strict=True):
        np.testing.assert_array_equal(left, a * p + b * q)  # all small integers: exact


@given(case(nan=True), st.data())
def test_inputs_untouched(c: tuple[np.ndarray, float, float, int, bool], data: st.DataObject) -> None:
    x, lo, hi, nb, narrow = c
    grad = data.draw(hnp.arrays(F32, x.shape, elements=st.floats(-10, 10, width=32)))
    xc = x.reshape(-1, 1)
    lo_c, hi_c = f32(lo), f32(hi)
    arrays = [x, grad, xc, lo_c, hi_c]
    before = [a.copy() for a in arrays]
    fake_quant_with_min_max_vars(x, lo, hi, nb, narrow)
    fake_quant_with_min_max_vars_vjp(grad, x, lo, hi, nb, narrow)
    fake_quant_with_min_max_args(x, lo, hi, nb, narrow)
    fake_quant_with_min_max_args_vjp(grad, x, lo, hi, nb, narrow)
    fake_quant_with_min_max_vars_per_channel(xc, lo_c, hi_c, nb, narrow)
    fake_quant_with_min_max_vars_per_channel_vjp(grad.reshape(-1, 1), xc, lo_c, hi_c, nb, narrow)
    for a, b in zip(arrays, before, strict=True):
        assert bits(a) == bits(b)


@given(ranges(), BITS, st.booleans())
def test_nudge_matches_qparams_nudge_range(r: tuple[float, float], nb: int, narrow: bool) -> None:
    """TF's Nudge with FTZ (interop.tf) equals qparams.nudge_range on finite min < max (normal scales)."""
    lo, hi = r
    qmin, qmax = int(narrow), 2**nb - 1
    nmin, nmax, s, zp = nudge_range(lo, hi, qmin, qmax)
    n = tf_kernels.nudge(np.asarray(F32(lo)), np.asarray(F32(hi)), qmin, qmax)
    assert bits(n.nudged_min) == bits(nmin) and bits(n.nudged_max) == bits(nmax) and bits(n.scale) == bits(s)
    assert float(n.quant_zero) == int(zp) - qmin


# -- hostile arguments ---------------------------------------------------------------------------


def test_values_beyond_float32_raise_instead_of_becoming_inf() -> None:
    # TF converts a float64 1e39 to inf silently (observed with tensorflow-cpu 2.21); refquant raises
    from refquant.interop import tf as rtf

    for call, name in (
        (lambda: rtf.fake_quant_with_min_max_vars(np.array([0.5, 1e39]), -1.0, 2.0), "inputs"),
        (lambda: rtf.fake_quant_with_min_max_vars([0.5], -1e39, 2.0), "min"),
        (lambda: rtf.fake_quant_with_min_max_args([0.5], -1.0, 1e39), "max"),
        (lambda: rtf.fake_quant_with_min_max_args([0.5], -(10**400), 1.0), "min"),
        (lambda: rtf.fake_quant_with_min_max_vars_vjp([1e39], [0.5], -1.0, 2.0), "grad"),
    ):
        with pytest.raises(ValueError, match=name):
            call()
    # an explicit float32 inf keeps TF's result: it clamps to the nudged max (2.0 for [-1, 2], 2 bits)
    assert rtf.fake_quant_with_min_max_vars(np.array([np.inf], np.float32), -1.0, 2.0, 2).tolist() == [2.0]


@pytest.mark.parametrize(
    "kwargs,exc,shows",
    [
        (dict(num_bits=1), ValueError, "1"),
        (dict(num_bits=17), ValueError, "17"),
        (dict(num_bits=8.0), TypeError, "8.0"),  # TF takes 8.0; refquant does not coerce
        (dict(num_bits=True), TypeError, "True"),
        (dict(narrow_range=1), TypeError, "1"),
        (dict(narrow_range="False"), TypeError, "'False'"),
        (dict(narrow_range=None), TypeError, "None"),  # TF takes None as False
    ],
)
def test_attributes_are_checked_in_every_op(kwargs, exc, shows) -> None:  # type: ignore[no-untyped-def]
    from refquant.interop import tf as rtf

    x = np.array([[0.5]], np.float32)
    for call in (
        lambda: rtf.fake_quant_with_min_max_vars(x, -1.0, 2.0, **kwargs),
        lambda: rtf.fake_quant_with_min_max_vars_vjp(x, x, -1.0, 2.0, **kwargs),
        lambda: rtf.fake_quant_with_min_max_vars_per_channel(x, [-1.0], [2.0], **kwargs),
        lambda: rtf.fake_quant_with_min_max_args(x, -1.0, 2.0, **kwargs),
        lambda: rtf.fake_quant_with_min_max_args_vjp(x, x, -1.0, 2.0, **kwargs),
    ):
        with pytest.raises(exc, match=next(iter(kwargs))) as info:
            call()
        assert shows in str(info.value)


def test_bad_array_arguments_name_themselves() -> None:
    from refquant.interop import tf as rtf

    with pytest.raises(TypeError, match=r"min.*'-1'"):
        rtf.fake_quant_with_min_max_vars([0.5], "-1", 2.0)
    with pytest.raises(ValueError, match=r"min.*\(1,\)"):
        rtf.fake_quant_with_min_max_vars([0.5], [-1.0], 2.0)
    with pytest.raises(TypeError, match="inputs"):
        rtf.fake_quant_with_min_max_vars([[1.0], [1.0, 2.0]], -1.0, 2.0)
    with pytest.raises(TypeError, match=r"min.*True"):
        rtf.fake_quant_with_min_max_args([0.5], True, 2.0)
    with pytest.raises(ValueError, match=r"min.*nan"):  # TF: "min has to be smaller than max"
        rtf.fake_quant_with_min_max_args([0.5], float("nan"), 2.0)


@pytest.mark.parametrize("power", [float("nan"), float("inf"), -1.0, 1e300, 10**400])
def test_tfmot_polynomial_decay_rejects_non_finite_and_negative_powers(power: float) -> None:
    from refquant.interop import tfmot

    with pytest.raises(ValueError, match="power"):
        tfmot.polynomial_decay(
            0, initial_sparsity=0.1, final_sparsity=0.9, begin_step=0, end_step=10, power=power
        )


def test_tfmot_hostile_schedule_parameters() -> None:
    from refquant.interop import tfmot

    base = dict(initial_sparsity=0.1, final_sparsity=0.9, begin_step=0, end_step=10)
    for kw, exc in (
        (dict(power=True), TypeError),
        (dict(power="3"), TypeError),
        (dict(begin_step=2**63), ValueError),
        (dict(frequency=2**63), ValueError),
        (dict(initial_sparsity=float("nan")), ValueError),
        (dict(begin_step=1.0), TypeError),
    ):
        with pytest.raises(exc, match=next(iter(kw))):
            tfmot.polynomial_decay(0, **{**base, **kw})  # type: ignore[arg-type]
    # power = 0: (1 - p)**0 = 1, so the sparsity is fl32(fl32(0.1 - 0.9) + fl32(0.9)) everywhere
    r = tfmot.polynomial_decay([0, 5, 10], **base, power=0, frequency=5)  # type: ignore[arg-type]
    expected = float(np.float32(np.float32(0.1 - 0.9) + np.float32(0.9)))
    assert r.sparsity.tolist() == [expected] * 3
    assert r.should_prune.tolist() == [True, True, True]
