"""refquant.interop.tfmot against the real TF-MOT schedules, bit for bit (float32).

Needs ``tensorflow-model-optimization`` (checked with 0.8.1, which requires
``tf-keras``; with tensorflow 2.21 and tf-keras 2.21); skipped without it.
Every schedule is called the way the pruning wrapper calls it, one scalar
step at a time: eagerly (``mode="eager"``), and inside a ``tf.function`` with
an int64 variable as ``prune_low_magnitude`` does (``mode="graph"``, after
Grappler's rewrites). ``should_prune`` and the float32 ``sparsity`` are
compared exactly, NaN included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from refquant.interop import tfmot as rq

tfmot = pytest.importorskip("tensorflow_model_optimization")
tf = pytest.importorskip("tensorflow")

F32 = np.float32

# (initial_sparsity, final_sparsity, begin_step, end_step, power, frequency)
POLY = [
    (0.0, 0.9, 0, 1000, 3, 100),
    (0.1, 0.9, 100, 1100, 3, 100),  # the docstring's example
    (0.5, 0.8, 2000, 10000, 3, 100),
    (0.0, 0.5, 0, 7, 3, 1),
    (0.0, 0.95, 50, 1234, 2, 7),  # end - begin not a multiple of frequency
    (0.3, 0.1, 10, 500, 3, 10),  # decreasing
    (0.0, 0.8, 0, 12345, 3, 100),
    (0.0, 0.99, 1, 100001, 3, 1000),
    (0.25, 0.75, 5, 1005, 2.5, 50),  # a float power
    (0.0, 0.6, 0, 999, 1, 1),  # linear
    (1 / 3, 2 / 3, 3, 3 + 3**9, 5, 3),  # sparsities that are not float32 values
    (0.2, 0.7, 3, 3, 3, 1),  # begin == end: NaN at begin
    (0.2, 0.7, 3, 3, 0, 1),  # ... and powf(NaN, 0) = 1
    (0.0, 0.9, 2**33, 2**33 + 10**6, 3, 100),  # int64 steps
]
# (target_sparsity, begin_step, end_step, frequency)
CONST = [(0.5, 0, -1, 100), (0.3, 100, 1000, 7), (0.999, 5, 5, 1), (0.1, 2**33, -1, 3)]


def _steps(begin: int, end: int, frequency: int, seed: int) -> np.ndarray:
    """Steps around begin and end, every step for short schedules, a random sample in between."""
    rng = np.random.default_rng(seed)
    near = np.concatenate(
        [
            np.arange(max(begin - 3 * frequency - 2, 0), begin + 3 * frequency + 3),
            np.arange(end - 3 * frequency - 2, end + 3 * frequency + 3),
        ]
    )
    span = end - begin
    inner = np.arange(begin, end + 1) if span <= 1200 else rng.integers(begin, end + 1, 600)
    return np.unique(np.concatenate([near, inner, [0, begin, end, end + 10**6]]))


def _check(ours: rq.PruningScheduleStep, steps: np.ndarray, theirs: list[tuple[Any, Any]]) -> None:
    prune = np.array([bool(p) for p, _ in theirs])
    sparsity = np.array([s.numpy() for _, s in theirs])
    assert sparsity.dtype == F32
    np.testing.assert_array_equal(ours.should_prune, prune)
    nan = np.isnan(sparsity)
    np.testing.assert_array_equal(np.isnan(ours.sparsity), nan)
    bad = ours.sparsity.view(np.uint32)[~nan] != sparsity.view(np.uint32)[~nan]
    assert not bad.any(), (
        f"{int(bad.sum())} of {bad.size} sparsities differ, first at step {steps[~nan][bad][0]}: "
        f"ours {ours.sparsity[~nan][bad][0]!r}, tfmot {sparsity[~nan][bad][0]!r}"
    )


# Eagerly, TF converts Python ints to int32 tensors, and steps beyond 2**31 wrap around
# (``PolynomialDecay(...)(0)`` with ``begin_step = 2**33`` says "prune"): the int64 case is
# checked only with an int64 step, as the pruning wrapper passes it.
EAGER = [c for c in POLY if c[3] < 2**31]


@pytest.mark.parametrize("case", EAGER, ids=[str(c) for c in EAGER])
def test_polynomial_decay_bit_identical_eager(case) -> None:
    si, sf, begin, end, power, frequency = case
    sched = tfmot.sparsity.keras.PolynomialDecay(si, sf, begin, end, power=power, frequency=frequency)
    steps = _steps(begin, end, frequency, seed=begin + end)
    ours = rq.polynomial_decay(
        steps,
        initial_sparsity=si,
        final_sparsity=sf,
        begin_step=begin,
        end_step=end,
        power=power,
        frequency=frequency,
    )
    _check(ours, steps, [sched(int(t)) for t in steps])


# every exponent that Grappler's pow conversion knows, and two it does not
GRAPH = POLY + [(0.1, 0.9, 100, 1100, e, 10) for e in (2, 1, 0, 0.5, -0.5, -1, 4, 3.0000002)]


@pytest.mark.parametrize("case", GRAPH, ids=[str(c) for c in GRAPH])
def test_polynomial_decay_bit_identical_in_a_graph_with_an_int64_step(case) -> None:
    si, sf, begin, end, power, frequency = case
    sched = tfmot.sparsity.keras.PolynomialDecay(si, sf, begin, end, power=power, frequency=frequency)
    step = tf.Variable(0, dtype=tf.int64)
    call = tf.function(lambda: sched(step))
    steps = _steps(begin, end, frequency, seed=1)
    steps = steps[np.random.default_rng(0).permutation(steps.size)[:300]]
    theirs = []
    for t in steps:
        step.assign(int(t))
        theirs.append(call())
    kwargs = {"initial_sparsity": si, "final_sparsity": sf, "begin_step": begin, "end_step": end}
    ours = rq.polynomial_decay(steps, **kwargs, power=power, frequency=frequency, mode="graph")
    _check(ours, steps, theirs)


@pytest.mark.parametrize("case", CONST, ids=[str(c) for c in CONST])
def test_constant_sparsity_bit_identical(case) -> None:
    target, begin, end, frequency = case
    sched = tfmot.sparsity.keras.ConstantSparsity(target, begin, end_step=end, frequency=frequency)
    steps = _steps(begin, begin + 1000 if end == -1 else end, frequency, seed=2)
    ours = rq.constant_sparsity(
        steps, target_sparsity=target, begin_step=begin, end_step=end, frequency=frequency
    )
    _check(ours, steps, [sched(tf.constant(int(t), dtype=tf.int64)) for t in steps])


def test_correctly_rounded_powf_is_close_but_not_always_identical() -> None:
    # the portable choice differs from TF (glibc's powf) in the last bit for a few steps
    si, sf, begin, end = 0.0, 0.9, 0, 20000
    sched = tfmot.sparsity.keras.PolynomialDecay(si, sf, begin, end, frequency=1)
    steps = np.arange(begin, end + 1, 7)
    theirs = np.array([sched(int(t))[1].numpy() for t in steps])
    ours = rq.polynomial_decay(
        steps,
        initial_sparsity=si,
        final_sparsity=sf,
        begin_step=begin,
        end_step=end,
        frequency=1,
        powf="correctly_rounded",
    ).sparsity
    differ = ours != theirs
    assert differ.mean() < 0.01
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-7)


@pytest.mark.parametrize(
    "args",
    [
        (0.0, 0.5, -1, 10),  # begin_step < 0
        (0.0, 0.5, 0, -1),  # PolynomialDecay needs an end
        (0.0, 0.5, 5, -2),  # end_step < 0
        (0.0, 0.5, 10, 5),  # end_step < begin_step
        (1.0, 0.5, 0, 10),  # sparsity in [0, 1)
        (0.0, -0.5, 0, 10),
    ],
)
def test_polynomial_decay_rejects_what_tfmot_rejects(args) -> None:
    si, sf, begin, end = args
    with pytest.raises(ValueError):
        tfmot.sparsity.keras.PolynomialDecay(si, sf, begin, end)
    with pytest.raises(ValueError):
        rq.polynomial_decay(0, initial_sparsity=si, final_sparsity=sf, begin_step=begin, end_step=end)


@pytest.mark.parametrize("frequency", [0, -100])
def test_frequency_rejected_like_tfmot(frequency) -> None:
    with pytest.raises(ValueError):
        tfmot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=frequency)
    with pytest.raises(ValueError):
        rq.constant_sparsity(0, target_sparsity=0.5, begin_step=0, frequency=frequency)
