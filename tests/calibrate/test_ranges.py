"""refquant.calibrate.ranges: min-max, moving average, exact percentiles, range -> qparams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.calibrate.ranges import (
    PERCENTILE_METHODS,
    minmax_range,
    moving_average_minmax,
    percentile_range,
    range_to_qparams,
)


def test_minmax_per_axis_by_hand() -> None:
    x = np.array([[1.0, -2.0, 5.0], [3.0, 0.5, -7.0]], np.float32)
    lo, hi = minmax_range(x, axis=0)
    assert lo.tolist() == [-2.0, -7.0] and hi.tolist() == [5.0, 3.0] and lo.dtype == np.float32
    lo, hi = minmax_range(x, axis=1, symmetric=True)
    assert lo.tolist() == [-3.0, -2.0, -7.0] and hi.tolist() == [3.0, 2.0, 7.0]
    assert minmax_range(np.array([1, 4]))[1].dtype == np.float64


def test_nan_and_empty_raise() -> None:
    with pytest.raises(ValueError, match="NaN"):
        minmax_range([1.0, np.nan])
    with pytest.raises(ValueError, match="no values"):
        minmax_range(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        percentile_range([np.nan], 50.0)
    with pytest.raises(ValueError, match="percentile"):
        percentile_range([1.0], 101.0)


def test_moving_average_by_hand_float32() -> None:
    lo, hi = moving_average_minmax([[0.0, 1.0], [], [-1.0, 3.0], [0.0, 0.0]], averaging_constant=0.5)
    # -1 -> 0 + 0.5 * (-1 - 0) = -0.5, then -0.5 + 0.5 * (0 - -0.5) = -0.25; 1 -> 2 -> 1
    assert (float(lo), float(hi)) == (-0.25, 1.0) and lo.dtype == np.float32
    c = np.float32(0.01)
    lo, _ = moving_average_minmax([[0.3], [0.7]])
    assert lo == np.float32(0.3) + c * (np.float32(0.7) - np.float32(0.3))


def test_inputs_untouched() -> None:
    x = np.array([3.0, -1.0, 2.0, 0.5], np.float32)
    keep = x.copy()
    percentile_range(x, 50.0)
    minmax_range(x)
    moving_average_minmax([x, x])
    assert np.array_equal(x, keep)


@settings(max_examples=60)
@given(
    st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=60),
    st.floats(0, 100),
    st.sampled_from(PERCENTILE_METHODS),
)
def test_percentile_equals_numpy(vals: list[float], p: float, method: str) -> None:
    x = np.array(vals, np.float32)
    lo, hi = percentile_range(x, p, method=method)
    cut = (100.0 - p) / 2
    assert np.array_equal(lo, np.percentile(x, cut, method=method))
    assert np.array_equal(hi, np.percentile(x, 100.0 - cut, method=method))
    assert lo.dtype == np.float32
    _, a = percentile_range(x, p, symmetric=True, method=method)
    assert np.array_equal(a, np.percentile(np.abs(x), p, method=method))


@settings(max_examples=30)
@given(st.integers(2, 30), st.floats(0, 100), st.integers(0, 2**32 - 1))
def test_percentile_monotone_and_per_axis(n: int, p: float, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((3, n))
    lo1, hi1 = percentile_range(x, p, axis=0)
    lo2, hi2 = percentile_range(x, min(100.0, p + 10), axis=0)
    assert np.all(hi2 >= hi1) and np.all(lo2 <= lo1)
    for i in range(3):
        lo, hi = percentile_range(x[i], p)
        assert lo == lo1[i] and hi == hi1[i]


def test_range_to_qparams() -> None:
    p = range_to_qparams(-1.0, 3.0, "int8", symmetric=True, symmetric_divisor="qmax", narrow_range=True)
    assert (p.quant_min, p.quant_max, int(p.zero_point)) == (-127, 127, 0)
    assert float(p.scale) == float(np.float32(3.0) / np.float32(127))
    q = range_to_qparams(0.0, 896.0, "float8_e4m3fn")
    assert float(q.scale) == 2.0 and int(q.zero_point) == 0
    with pytest.raises(ValueError, match="amax"):
        range_to_qparams(0.0, 0.0, "float8_e4m3fn")
    with pytest.raises(TypeError, match="fmt"):
        range_to_qparams(0.0, 1.0, 8)  # type: ignore[arg-type]
    assert range_to_qparams(-1.0, 1.0, quant_min=0, quant_max=15).quant_max == 15


@pytest.mark.parametrize("kind", ["normal", "ties", "sorted", "strided_trap", "inf"])
def test_long_rows_bracketed_selection_equals_numpy(kind: str) -> None:
    # >= 2**17 values take the sampled-bracket selection; "strided_trap" fools the strided sample
    # (every sampled value is 0, the rest near 100), so the brackets miss and the full partition runs
    rng = np.random.default_rng(len(kind))
    n = 200_003
    x = {
        "normal": lambda: rng.standard_normal(n).astype(np.float32),
        "ties": lambda: rng.integers(0, 5, n).astype(np.float32),
        "sorted": lambda: np.sort(rng.standard_normal(n)),
        "strided_trap": lambda: np.where(np.arange(n) % (n // 2**14) == 0, 0.0, rng.standard_normal(n) + 100),
        "inf": lambda: np.where(rng.random(n) < 0.01, np.inf, rng.standard_normal(n)),
    }[kind]()
    keep = x.copy()
    for p in (0.0, 37.5, 99.9, 99.99, 100.0):
        for method in ("linear", "nearest", "hazen", "inverted_cdf"):
            cut = (100.0 - p) / 2
            with np.errstate(invalid="ignore"):
                lo, hi = percentile_range(x, p, method=method)
                a = percentile_range(x, p, symmetric=True, method=method)[1]
                assert np.array_equal(lo, np.percentile(x, cut, method=method), equal_nan=True)
                assert np.array_equal(hi, np.percentile(x, 100.0 - cut, method=method), equal_nan=True)
                assert np.array_equal(a, np.percentile(np.abs(x), p, method=method), equal_nan=True)
    assert np.array_equal(x, keep)
    bad = x.copy()
    bad[n // 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        percentile_range(bad, 99.0)
