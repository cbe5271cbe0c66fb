"""refquant.prune.schedules (float64) and refquant.interop.tfmot (TF-MOT's float32 schedules).

The TF-MOT expectations below are derived by hand from the formula in
``pruning_schedule.py``, every operation rounded to float32; the same values
are checked against the real TF-MOT in
``tests/conformance/test_tfmot_conformance.py`` when it is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.interop import tfmot
from refquant.prune.schedules import (
    constant_sparsity,
    gradual_magnitude_pruning,
    iterative_pruning_sparsity,
    polynomial_decay,
)

F32 = np.float32


def ro(a) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def gate(t: int, begin: int, end: int, frequency: int) -> bool:
    """The documented gating, in plain Python integers."""
    return begin <= t and (t <= end or end == -1) and (t - begin) % frequency == 0


# ------------------------------------------------------------------ core schedules: hand values


def test_constant_hand_values() -> None:
    r = constant_sparsity(
        ro([-1, 0, 3, 4, 7, 8, 9]), target_sparsity=0.75, begin_step=3, end_step=8, frequency=2
    )
    # pruning at 3, 5, 7 (9 > end_step)
    assert r.should_prune.tolist() == [False, False, True, False, True, False, False]
    assert r.sparsity.tolist() == [0.75] * 7 and r.sparsity.dtype == np.float64
    # no end: forever, every frequency steps
    r = constant_sparsity(10**9, target_sparsity=1.0)
    assert r.should_prune.shape == () and bool(r.should_prune) and float(r.sparsity) == 1.0


def test_polynomial_hand_values() -> None:
    steps = ro([0, 10, 35, 60, 85, 110, 200])
    r = polynomial_decay(
        steps, initial_sparsity=0.25, final_sparsity=0.75, begin_step=10, end_step=110, frequency=25
    )
    assert r.should_prune.tolist() == [False, True, True, True, True, True, False]
    # 0.25 + 0.5 * (1 - (1 - p)**3), p = 0, 0, 1/4, 1/2, 3/4, 1, 1
    #   p = 1/4: 0.25 + 0.5 * (1 - 27/64) = 0.25 + 37/128 = 0.5390625
    #   p = 1/2: 0.25 + 0.5 * 7/8 = 0.6875;  p = 3/4: 0.25 + 0.5 * 63/64 = 0.7421875
    assert r.sparsity.tolist() == [0.25, 0.25, 0.5390625, 0.6875, 0.7421875, 0.75, 0.75]
    # power 1 is linear: p = 1/4 -> 0.25 + 0.5 / 4 = 0.375
    r1 = polynomial_decay(
        35, initial_sparsity=0.25, final_sparsity=0.75, begin_step=10, end_step=110, power=1
    )
    assert float(r1.sparsity) == 0.375


def test_polynomial_ends_exactly_and_begin_equal_end() -> None:
    # s_f + (s_i - s_f) would give 0.09999999999999998 at t0; the ends are exact here
    r = polynomial_decay(
        [0, 100, 1100, 5000], initial_sparsity=0.1, final_sparsity=0.9, begin_step=100, end_step=1100
    )
    assert r.sparsity[[0, 1]].tolist() == [0.1, 0.1] and r.sparsity[[2, 3]].tolist() == [0.9, 0.9]
    # t1 == t0: s_i before, s_f from t0 on (TF-MOT gives NaN at t0)
    r = polynomial_decay([4, 5, 6], initial_sparsity=0.2, final_sparsity=0.6, begin_step=5, end_step=5)
    assert r.sparsity.tolist() == [0.2, 0.6, 0.6] and r.should_prune.tolist() == [False, True, False]


def test_polynomial_final_sparsity_unreached_when_the_interval_is_not_a_multiple() -> None:
    # t0 = 0, t1 = 1050, frequency 100: the last pruning step is 1000, with p = 1000/1050 < 1
    t = np.arange(0, 1200)
    r = polynomial_decay(
        t, initial_sparsity=0.0, final_sparsity=0.8, begin_step=0, end_step=1050, frequency=100
    )
    last = int(t[r.should_prune][-1])
    assert last == 1000 and r.sparsity[last] < 0.8


def test_gradual_magnitude_pruning_hand_values() -> None:
    r = gradual_magnitude_pruning(
        ro([0, 100, 150, 200, 300, 400]), final_sparsity=0.875, begin_step=100, n_steps=2, frequency=100
    )
    # pruning at t0 + k dt, k = 0..n: 100, 200, 300
    assert r.should_prune.tolist() == [False, True, False, True, True, False]
    # 0.875 * (1 - (1 - p)**3): p = 1/4 -> 0.875 * 37/64 = 0.505859375; p = 1/2 -> 0.875 * 7/8 = 0.765625
    assert r.sparsity.tolist() == [0.0, 0.0, 0.505859375, 0.765625, 0.875, 0.875]


def test_iterative_pruning_sparsity_hand_values() -> None:
    assert iterative_pruning_sparsity(ro([0, 1, 2, 3]), rate=0.5).tolist() == [0.0, 0.5, 0.75, 0.875]
    # 1 - 0.8**2 = 0.36 (up to rounding)
    assert iterative_pruning_sparsity(2, rate=0.2) == pytest.approx(0.36, rel=1e-15)
    with pytest.raises(ValueError, match="rounds"):
        iterative_pruning_sparsity([-1], rate=0.5)
    with pytest.raises(ValueError, match="rate"):
        iterative_pruning_sparsity(1, rate=1.5)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"begin_step": -1}, ValueError, "begin_step"),
        ({"end_step": -1}, ValueError, "end"),
        ({"end_step": 5, "begin_step": 6}, ValueError, "end_step"),
        ({"frequency": 0}, ValueError, "frequency"),
        ({"frequency": 1.0}, TypeError, "frequency"),
        ({"begin_step": True}, TypeError, "begin_step"),
        ({"initial_sparsity": 1.5}, ValueError, "initial_sparsity"),
        ({"final_sparsity": float("nan")}, ValueError, "final_sparsity"),
        ({"final_sparsity": "0.5"}, TypeError, "final_sparsity"),
        ({"power": 0}, ValueError, "power"),
        ({"power": float("inf")}, ValueError, "power"),
    ],
)
def test_polynomial_validation(kwargs, err, match) -> None:
    args = {"initial_sparsity": 0.0, "final_sparsity": 0.5, "begin_step": 0, "end_step": 10} | kwargs
    with pytest.raises(err, match=match):
        polynomial_decay(3, **args)


def test_other_validation() -> None:
    with pytest.raises(ValueError, match="target_sparsity"):
        constant_sparsity(0, target_sparsity=-0.1)
    with pytest.raises(ValueError, match="end_step"):
        constant_sparsity(0, target_sparsity=0.1, begin_step=5, end_step=2)
    with pytest.raises(ValueError, match="n_steps"):
        gradual_magnitude_pruning(0, final_sparsity=0.5, begin_step=0, n_steps=0, frequency=10)
    with pytest.raises(TypeError, match="step"):
        constant_sparsity(["a"], target_sparsity=0.1)
    with pytest.raises(ValueError, match="step"):
        constant_sparsity([0.5], target_sparsity=0.1)


# ------------------------------------------------------------------ core schedules: properties

sparsities = st.floats(0.0, 1.0, allow_nan=False)


@given(
    sparsities,
    sparsities,
    st.integers(0, 500),
    st.integers(0, 500),
    st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    st.integers(1, 60),
)
def test_polynomial_monotone_between_its_ends_and_gated_exactly(si, sf, t0, span, power, frequency) -> None:
    t1 = t0 + span
    t = ro(np.arange(t0 - 6, t1 + 2 * frequency + 3))
    r = polynomial_decay(
        t,
        initial_sparsity=si,
        final_sparsity=sf,
        begin_step=t0,
        end_step=t1,
        power=power,
        frequency=frequency,
    )
    s = r.sparsity
    d = np.diff(s)
    assert np.all(d >= 0) if si <= sf else np.all(d <= 0)
    assert np.all(s[t <= t0] == si) if span else np.all(s[t < t0] == si)
    assert np.all(s[t >= t1] == sf)
    assert np.all((min(si, sf) <= s) & (s <= max(si, sf)))
    assert r.should_prune.tolist() == [gate(int(x), t0, t1, frequency) for x in t]
    again = polynomial_decay(
        t,
        initial_sparsity=si,
        final_sparsity=sf,
        begin_step=t0,
        end_step=t1,
        power=power,
        frequency=frequency,
    )
    assert np.array_equal(again.sparsity, s) and np.array_equal(again.should_prune, r.should_prune)


@given(sparsities, sparsities, st.integers(0, 300), st.integers(1, 8), st.integers(1, 50))
def test_gmp_prunes_n_plus_one_times_from_initial_to_final(si, sf, t0, n, dt) -> None:
    t = np.arange(0, t0 + (n + 2) * dt)
    r = gradual_magnitude_pruning(
        t, final_sparsity=sf, begin_step=t0, n_steps=n, frequency=dt, initial_sparsity=si
    )
    when = t[r.should_prune]
    assert when.tolist() == [t0 + k * dt for k in range(n + 1)]
    assert r.sparsity[when[0]] == si and r.sparsity[when[-1]] == sf
    # Zhu & Gupta's formula at the pruning steps
    k = np.arange(n + 1)
    np.testing.assert_allclose(r.sparsity[when], sf + (si - sf) * (1 - k / n) ** 3, rtol=1e-14, atol=1e-15)


@given(
    st.floats(0.0, 0.99, allow_nan=False),
    st.floats(0.0, 0.99, allow_nan=False),
    st.integers(0, 300),
    st.integers(1, 8),
    st.integers(1, 50),
)
def test_gmp_agrees_with_tfmot_polynomial_decay_up_to_float32(si, sf, t0, n, dt) -> None:
    t = np.arange(max(t0 - dt, 0), t0 + (n + 1) * dt)
    r = gradual_magnitude_pruning(
        t, final_sparsity=sf, begin_step=t0, n_steps=n, frequency=dt, initial_sparsity=si
    )
    tf = tfmot.polynomial_decay(
        t, initial_sparsity=si, final_sparsity=sf, begin_step=t0, end_step=t0 + n * dt, frequency=dt
    )
    np.testing.assert_array_equal(tf.should_prune, r.should_prune)
    np.testing.assert_allclose(tf.sparsity, r.sparsity, rtol=0, atol=4e-7)


@given(st.integers(0, 40), st.floats(0.0, 1.0, allow_nan=False))
def test_iterative_is_monotone_and_composes(k, rate) -> None:
    s = iterative_pruning_sparsity(np.arange(k + 2), rate=rate)
    assert np.all(np.diff(s) >= 0) and s[0] == 0.0
    # one more round prunes `rate` of what was left
    np.testing.assert_allclose(s[1:], s[:-1] + rate * (1 - s[:-1]), rtol=0, atol=1e-15)


# ------------------------------------------------------------------ TF-MOT interop: hand-derived float32
#
# fl32(0.8) = 13421773 * 2**-24 and fl32(0.9) = 15099494 * 2**-24, so for
# initial 0.1, final 0.9: fl32(0.1 - 0.9) = fl32(-0.8) = -13421773 * 2**-24.


def test_tfmot_polynomial_decay_hand_derived_float32() -> None:
    steps = ro([0, 100, 350, 600, 850, 1100, 1200])
    r = tfmot.polynomial_decay(steps, initial_sparsity=0.1, final_sparsity=0.9, begin_step=100, end_step=1100)
    assert r.sparsity.dtype == np.float32 and r.should_prune.dtype == bool
    # (t - 100) % 100 == 0 at 100, 600, 1100; 350 and 850 are off that grid; 0 and 1200 are out of range
    assert r.should_prune.tolist() == [False, True, False, True, False, True, False]
    expected = [
        # p = 0: fl32(-0.8) + fl32(0.9) = (15099494 - 13421773) * 2**-24 = 1677721 * 2**-24, exact
        1677721 * 2.0**-24,
        1677721 * 2.0**-24,
        # p = 1/4: powf(0.75, 3) = 27/64; fl32(-0.8) * 27/64 = -362387871 * 2**-30 rounds (ulp 2**-25)
        #   to -11324621 * 2**-25; + 30198988 * 2**-25 = 18874367 * 2**-25 = 9437183.5 * 2**-24, a tie,
        #   to even: 9437184 * 2**-24 = 0.5625
        0.5625,
        # p = 1/2: 0.125 * fl32(-0.8) = -13421773 * 2**-27 exact; + 120795952 * 2**-27 = 107374179 * 2**-27
        #   = 13421772.375 * 2**-24 -> 13421772 * 2**-24
        13421772 * 2.0**-24,
        # p = 3/4: 2**-6 * fl32(-0.8) = -13421773 * 2**-30; + 966367616 * 2**-30 = 952945843 * 2**-30
        #   = 14889778.796875 * 2**-24 -> 14889779 * 2**-24
        14889779 * 2.0**-24,
        # p = 1 (and clipped beyond): powf(0, 3) = 0; -0.8 * 0 + fl32(0.9) = fl32(0.9)
        15099494 * 2.0**-24,
        15099494 * 2.0**-24,
    ]
    assert r.sparsity.tolist() == expected
    cr = tfmot.polynomial_decay(
        steps,
        initial_sparsity=0.1,
        final_sparsity=0.9,
        begin_step=100,
        end_step=1100,
        powf="correctly_rounded",
    )
    assert cr.sparsity.tolist() == expected  # powers of dyadic bases are exact either way


def test_tfmot_polynomial_decay_begin_equals_end_gives_nan_at_begin() -> None:
    # p = 0/0 = NaN at begin_step (maximum/minimum propagate it), -inf -> 0 before, +inf -> 1 after
    r = tfmot.polynomial_decay([4, 5, 6], initial_sparsity=0.5, final_sparsity=0.75, begin_step=5, end_step=5)
    assert r.should_prune.tolist() == [False, True, False]
    assert r.sparsity[0] == F32(0.5) and np.isnan(r.sparsity[1]) and r.sparsity[2] == F32(0.75)
    # powf(NaN, 0) = 1: with power 0 the NaN disappears, fl32(-0.25) * 1 + fl32(0.75) = 0.5
    r0 = tfmot.polynomial_decay(
        5, initial_sparsity=0.5, final_sparsity=0.75, begin_step=5, end_step=5, power=0
    )
    assert float(r0.sparsity) == 0.5


def test_tfmot_gating_and_constant() -> None:
    r = tfmot.constant_sparsity(ro([0, 99, 100, 150, 200, 10**12]), target_sparsity=0.3, begin_step=100)
    assert r.should_prune.tolist() == [False, False, True, False, True, True]
    assert r.sparsity.dtype == np.float32 and r.sparsity.tolist() == [float(F32(0.3))] * 6
    r = tfmot.constant_sparsity([200, 300, 400], target_sparsity=0.3, begin_step=100, end_step=300)
    assert r.should_prune.tolist() == [True, True, False]
    r = tfmot.constant_sparsity([-100, -200], target_sparsity=0.3, begin_step=0, frequency=100)
    assert r.should_prune.tolist() == [False, False]  # (t - begin) % f == 0, but t < begin


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"begin_step": -1}, ValueError, "begin_step"),
        ({"end_step": -1}, ValueError, "end_step cannot be -1"),
        ({"end_step": -2}, ValueError, "end_step can be -1 or >= 0"),
        ({"begin_step": 20}, ValueError, "begin_step should be <= end_step"),
        ({"frequency": 0}, ValueError, "frequency"),
        ({"initial_sparsity": 1.0}, ValueError, "initial_sparsity must be in range"),
        ({"final_sparsity": -0.1}, ValueError, "final_sparsity must be in range"),
        ({"power": "3"}, TypeError, "power"),
        ({"powf": "numpy"}, ValueError, "powf"),
        ({"end_step": 10.0}, TypeError, "end_step"),
    ],
)
def test_tfmot_polynomial_validation(kwargs, err, match) -> None:
    args = {"initial_sparsity": 0.0, "final_sparsity": 0.5, "begin_step": 0, "end_step": 10} | kwargs
    with pytest.raises(err, match=match):
        tfmot.polynomial_decay(3, **args)


def test_tfmot_constant_validation() -> None:
    with pytest.raises(ValueError, match="target_sparsity"):
        tfmot.constant_sparsity(0, target_sparsity=1.0, begin_step=0)
    with pytest.raises(ValueError, match="end_step can be -1"):
        tfmot.constant_sparsity(0, target_sparsity=0.5, begin_step=0, end_step=-3)


@given(
    st.floats(0.0, 0.99, allow_nan=False),
    st.floats(0.0, 0.99, allow_nan=False),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(1, 200),
)
def test_tfmot_gating_exactly_as_documented_and_powf_choices_close(si, sf, begin, span, frequency) -> None:
    end = begin + span
    t = np.arange(begin - 2 * frequency, end + 2 * frequency + 1)
    r = tfmot.polynomial_decay(
        t, initial_sparsity=si, final_sparsity=sf, begin_step=begin, end_step=end, frequency=frequency
    )
    assert r.should_prune.tolist() == [gate(int(x), begin, end, frequency) for x in t]
    cr = tfmot.polynomial_decay(
        t,
        initial_sparsity=si,
        final_sparsity=sf,
        begin_step=begin,
        end_step=end,
        frequency=frequency,
        powf="correctly_rounded",
    )
    if span == 0:
        return  # NaN at begin_step, both ways
    # the two pow roundings differ by at most an ulp of the power, a few float32 ulps of the result
    np.testing.assert_allclose(r.sparsity, cr.sparsity, rtol=0, atol=3e-7)
    # constant outside [begin, end]
    assert np.all(r.sparsity[t <= begin] == r.sparsity[t == begin][0])
    assert np.all(r.sparsity[t >= end] == r.sparsity[t == end][0])


@given(
    st.floats(0.0, 0.99, allow_nan=False),
    st.floats(0.0, 0.99, allow_nan=False),
    st.integers(0, 500),
    st.integers(1, 3000),
    st.sampled_from([3, 2, 1, 0.5, 2.5]),
)
def test_tfmot_graph_mode_is_the_documented_rewrite(si, sf, begin, span, power) -> None:
    end = begin + span
    t = np.arange(begin - 5, end + 6)
    kw = {"initial_sparsity": si, "final_sparsity": sf, "begin_step": begin, "end_step": end, "power": power}
    graph = tfmot.polynomial_decay(t, **kw, mode="graph")
    eager = tfmot.polynomial_decay(t, **kw)
    np.testing.assert_array_equal(graph.should_prune, eager.should_prune)
    # the reciprocal can leave p = 1 - 2**-24 at end_step, x = 2**-24: negligible for power >= 1,
    # but sqrt(2**-24) = 2**-12 for power 0.5 (TF really does this in a tf.function)
    if power >= 1:
        np.testing.assert_allclose(graph.sparsity, eager.sparsity, rtol=0, atol=4e-7)
    if power == 3:  # x / span -> x * fl32(1 / span); pow(x, 3) -> x * Square(x); c pushed down
        p = np.minimum(F32(1), np.maximum(F32(0), (t - begin).astype(F32) * (F32(1) / F32(span))))
        x = F32(1) - p
        expected = (F32(si - sf) * x) * (x * x) + F32(sf)
        np.testing.assert_array_equal(graph.sparsity, expected)
    with pytest.raises(ValueError, match="mode"):
        tfmot.polynomial_decay(0, **kw, mode="jit")
