"""refquant.calibrate.streaming: the growth rules, pure; the exact rule lossless."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.calibrate.streaming import histogram_of_batches, histogram_update

NUMPY_RULES = ("exact", "onnxruntime", "onnxruntime_absolute", "modelopt_numpy")


def test_exact_by_hand() -> None:
    s = histogram_update(None, [0.0, 1.0, 3.0], bins=4)
    assert s.edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and s.counts.tolist() == [1, 1, 0, 1]
    s2 = histogram_update(s, [7.5, -0.5], bins=4)  # width 1 -> 4: [-4, 12)
    assert s2.edges.tolist() == [-4.0, 0.0, 4.0, 8.0, 12.0] and s2.counts.tolist() == [1, 3, 1, 0]
    assert s.counts.tolist() == [1, 1, 0, 1]  # the old state is untouched


@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(2, 64))
def test_exact_equals_histogram_of_concatenation(seed: int, k: int, bins: int) -> None:
    rng = np.random.default_rng(seed)
    batches = [rng.standard_normal(int(rng.integers(1, 50))) * rng.uniform(0.01, 50) for _ in range(k)]
    s = histogram_of_batches(batches, bins=bins)
    assert s.counts.size == bins
    assert np.array_equal(s.counts, np.histogram(np.concatenate(batches), s.edges)[0])


@pytest.mark.parametrize("rule", NUMPY_RULES)
def test_no_growth_equals_concatenation(rule: str) -> None:
    rng = np.random.default_rng(5)
    first = np.array([-4.0, 4.0, 0.0], np.float32)
    batches = [first, *(rng.uniform(-3.9, 3.9, 100).astype(np.float32) for _ in range(4))]
    s = histogram_of_batches(batches, bins=64, rule=rule)
    cat = np.concatenate(batches)
    if rule in ("onnxruntime_absolute", "modelopt_numpy"):
        cat = np.abs(cat)
    assert np.array_equal(s.counts, np.histogram(cat, s.edges)[0])


def test_pure_and_policies() -> None:
    b = np.array([1.0, -2.0], np.float32)
    keep = b.copy()
    s = histogram_update(None, b, bins=8, rule="onnxruntime")
    c = s.counts.copy()
    histogram_update(s, np.array([9.0], np.float32), bins=8, rule="onnxruntime")
    assert np.array_equal(s.counts, c) and np.array_equal(b, keep)
    with pytest.raises(ValueError, match="finite"):
        histogram_update(None, [np.nan], bins=8)
    with pytest.raises(ValueError, match="empty"):
        histogram_update(None, [], bins=8)
    assert histogram_update(None, [0.0, 2.0], bins=2, skip_zeros=True).counts.sum() == 1
