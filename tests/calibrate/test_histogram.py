"""refquant.calibrate.histogram: np.histogram's counts, the tools' percentile and moments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.calibrate.histogram import histogram, histogram_moments, histogram_percentile


@settings(max_examples=80)
@given(st.integers(1, 200), st.integers(0, 400), st.integers(0, 2**32 - 1), st.booleans())
def test_equals_numpy_on_edge_ties(bins: int, n: int, seed: int, given_range: bool) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    rg = (-2.5, 1.75) if given_range else None
    if n:
        edges = np.histogram(x, bins, range=rg)[1]
        x[: n // 2] = rng.choice(edges, n // 2)  # values exactly on the edges
    ref = np.histogram(x, bins, range=rg)
    h = histogram(x, bins, range=rg)
    assert np.array_equal(h.counts, ref[0]) and np.array_equal(h.edges, ref[1])
    assert h.edges.dtype == ref[1].dtype and h.counts.dtype == np.int64
    e = np.unique(rng.choice(ref[1], 4))
    if e.size >= 2:
        assert np.array_equal(histogram(x, e).counts, np.histogram(x, e)[0])


def test_by_hand_and_policies() -> None:
    h = histogram([0.0, 1.0, 2.0, 3.0, 3.0], 3)
    assert h.counts.tolist() == [1, 1, 3]  # the last bin is closed
    assert histogram([5.0], 2).edges.tolist() == [4.5, 5.0, 5.5]
    assert histogram([], 2).edges.tolist() == [0.0, 0.5, 1.0]
    assert histogram([np.inf, 0.5], 2, range=(0, 1)).counts.tolist() == [0, 1]
    with pytest.raises(ValueError, match="NaN"):
        histogram([np.nan], 2, range=(0, 1))
    with pytest.raises(ValueError, match="finite"):
        histogram([np.inf], 2)


def test_percentile_by_hand() -> None:
    c, e = np.array([1, 2, 1]), np.array([0.0, 1.0, 2.0, 3.0], np.float32)
    lo, hi = histogram_percentile(c, e, 50.0)
    assert (float(lo), float(hi)) == (0.0, 1.0) and hi.dtype == np.float32
    assert float(histogram_percentile(c, e, 50.0, interpolate=True)[1]) == 1.5
    # cut 0.25 on each side: the CDF [0.25, 0.75, 1] reaches 0.25 in bin 0 and 0.75 in bin 1 (left edges)
    lo, hi = histogram_percentile(c, e, 50.0, side="two_sided")
    assert (float(lo), float(hi)) == (0.0, 1.0)
    lo, hi = histogram_percentile(c, e, 50.0, side="two_sided", clip_to=(0.5, 0.75))
    assert (float(lo), float(hi)) == (0.5, 0.75)
    assert float(histogram_percentile(c, e, 50.0, side="symmetric")[0]) == -1.0
    keep = c.copy()
    histogram_percentile(c, e, 99.0)
    assert np.array_equal(c, keep)
    with pytest.raises(ValueError, match="0"):
        histogram_percentile([0, 0], [0.0, 1.0, 2.0], 50.0)


@settings(max_examples=30)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=40), st.floats(0, 100), st.floats(0, 100))
def test_percentile_monotone(counts: list[int], p: float, q: float) -> None:
    c = np.array(counts)
    if c.sum() == 0:
        c[0] = 1
    e = np.linspace(-1, 1, c.size + 1)
    for interp in (False, True):
        a = histogram_percentile(c, e, min(p, q), interpolate=interp)[1]
        b = histogram_percentile(c, e, max(p, q), interpolate=interp)[1]
        assert a <= b and e[0] <= a <= e[-1]


def test_moments_by_hand() -> None:
    avg, std = histogram_moments([1, 3], np.array([0.0, 2.0, 4.0], np.float32))
    # centres 1, 3: mean (1 + 9) / 4 = 2.5, E[v^2] = (1 + 27) / 4 = 7, var 7 - 6.25 = 0.75
    assert float(avg) == 2.5 and float(std) == float(np.float32(0.75**0.5)) and avg.dtype == np.float32
    avg, _ = histogram_moments([1, 1], np.array([-8.5, 0.0, 8.5], np.float32), power=1 / 3)
    assert float(avg) == 0.0
    with pytest.raises(ValueError, match="power"):
        histogram_moments([1], [0.0, 1.0], power=0)


def _exact(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The definition, value by value: ``e_j <= x < e_{j+1}``, the last bin closed."""
    xe = x.astype(edges.dtype)
    j = np.searchsorted(edges, xe, side="right") - 1
    j[xe == edges[-1]] = edges.size - 2
    ok = (xe >= edges[0]) & (xe <= edges[-1])
    return np.bincount(j[ok], minlength=edges.size - 1)


def test_values_where_the_float32_index_is_off_by_one() -> None:
    x0 = np.random.default_rng(5).uniform(-3, 7, 1000).astype(np.float32)
    edges = np.histogram(x0, 2048)[1]
    near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    x = np.concatenate([x0, near[(near >= edges[0]) & (near <= edges[-1])]]).astype(np.float32)
    factor = np.float32(2048) / (edges[-1] - edges[0])
    naive = np.minimum(((x - edges[0]) * factor).astype(np.int64), 2047)
    truth = np.searchsorted(edges, x, side="right") - 1
    assert np.count_nonzero(naive != np.minimum(truth, 2047)) > 10  # the estimate alone is wrong here
    ref = np.histogram(x, 2048)
    h = histogram(x, 2048)
    assert np.array_equal(h.counts, ref[0]) and np.array_equal(h.edges, ref[1])


@pytest.mark.parametrize(
    ("scale", "shift", "dtype", "bins", "rg"),
    [
        (1e30, 0.0, np.float32, 2048, None),
        (1e-30, 0.0, np.float32, 2048, None),
        (1e-42, 0.0, np.float32, 64, None),  # subnormal data: n / (hi - lo) overflows
        (1.0, 1000.0, np.float32, 2048, None),  # far from 0: the edges' own rounding matters
        (1.0, 0.0, np.float64, 2048, None),
        (1e300, 0.0, np.float64, 2048, None),
        (1.0, 0.0, np.float16, 100, None),
        (1.0, 0.0, np.float32, 65536, None),
        (1.0, 0.0, np.float32, 300000, None),  # too many bins for the fixed-point position
        (3.0, 0.0, np.float32, 2048, (np.float64(-2.5), np.float64(1.75))),  # float64 edges, float32 x
        (3.0, 0.0, np.float32, 1, (-1.0, 1.0)),
    ],
)
def test_ranges_dtypes_and_bin_counts_equal_numpy(
    scale: float, shift: float, dtype: type, bins: int, rg: tuple[float, float] | None
) -> None:
    x = (np.random.default_rng(bins).standard_normal(50_000) * scale + shift).astype(dtype)
    ref = np.histogram(x, bins, range=rg)
    h = histogram(x, bins, range=rg)
    assert np.array_equal(h.counts, ref[0]) and np.array_equal(h.edges, ref[1])
    assert h.edges.dtype == ref[1].dtype and int(h.counts.sum()) == int(ref[0].sum())


def test_int_input_and_given_edges() -> None:
    rng = np.random.default_rng(2)
    for x in (rng.integers(-100, 100, 20_000), rng.integers(-100, 100, 20_000).astype(np.int8)):
        ref = np.histogram(x, 2048)
        h = histogram(x, 2048)
        assert np.array_equal(h.counts, ref[0]) and np.array_equal(h.edges, ref[1])
        assert h.edges.dtype == np.float64
    x = rng.standard_normal(100_000).astype(np.float32)
    # near-uniform edges (np.arange, as ORT and ModelOpt grow them) and uneven ones, float32 and float64
    for e in (
        np.arange(-2.0, 2.5, 1 / 512, dtype=np.float32),
        np.arange(-2.0, 2.5, 1 / 500),
        np.cumsum(rng.uniform(0.01, 0.2, 40)) - 2.0,
    ):
        assert np.array_equal(histogram(x, e).counts, np.histogram(x, e)[0])


def test_range_wider_than_float32_is_exact() -> None:
    # NumPy's own estimate overflows here ((hi - lo) is inf in float32) and it fails: the definition decides
    x = (np.random.default_rng(3).standard_normal(10_000) * 1e37).astype(np.float32)
    x[:10] = [3e38, -3e38, np.inf, -np.inf, 0, 1e38, -1e38, 2.9e38, -2.9e38, 0]
    h = histogram(x, 2048, range=(-3e38, 3e38))
    assert np.array_equal(h.counts, _exact(x, h.edges)) and h.counts.sum() == 9998


BAD_COUNTS = [
    ([1.0, np.nan, 2.0], "nan"),
    ([1.0, np.inf, 2.0], "inf"),  # passes the min check: caught by the sum
    ([1.0, -np.inf, 2.0], "-inf"),
    ([1, -1, 3], "-1"),
    (np.array([3, 0, -2], np.int8), "-2"),
]


@pytest.mark.parametrize(("counts", "shown"), BAD_COUNTS)
@pytest.mark.parametrize("fn", [histogram_percentile, histogram_moments])
def test_bad_counts_and_edges_are_named(counts: list[float], shown: str, fn: Callable[..., Any]) -> None:
    """Each bad value raises ValueError naming its argument and the value; counts are checked before edges."""

    def call(c: Any, e: Any) -> Any:
        return fn(c, e, 50.0) if fn is histogram_percentile else fn(c, e)

    good_e, bad_e = [0.0, 1.0, 2.0, 3.0], [0.0, np.nan, 2.0, np.inf]
    with pytest.raises(ValueError, match=rf"^counts must be finite and >= 0, got \[{shown}\]$"):
        call(counts, good_e)
    with pytest.raises(ValueError, match=r"^counts must be finite and >= 0"):
        call(counts, bad_e)  # both bad: the counts are named first
    with pytest.raises(ValueError, match=r"^edges must be finite, got \[nan, inf\]$"):
        call([1, 2, 3], bad_e)
    with pytest.raises(ValueError, match=r"^edges must be finite, got \[-inf\]$"):
        call(np.array([1, 2, 3], np.float32), [0.0, 1.0, 2.0, 3.0, -np.inf])  # an edge beyond B + 1


def test_float_counts_whose_sum_overflows_are_not_rejected() -> None:
    """Finite counts >= 0 are valid even when their float32 sum overflows (NumPy warns, as before)."""
    c = np.array([3e38, 3e38, 1.0], np.float32)
    with pytest.warns(RuntimeWarning, match="overflow"):
        lo, hi = histogram_percentile(c, np.array([0.0, 1.0, 2.0, 3.0], np.float32), 50.0)
    assert float(lo) == 0.0  # c / inf is 0: the CDF never reaches p, so the last edge
    assert float(hi) == 3.0
    with pytest.raises(ValueError, match=r"^counts must be finite and >= 0, got \[-1.0\]$"):
        histogram_percentile(np.array([3e38, 3e38, -1.0], np.float32), [0.0, 1.0, 2.0, 3.0], 50.0)
