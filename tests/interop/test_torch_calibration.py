"""PyTorch's calibration observers (refquant.interop.torch.calibration, refquant.calibrate._torch_histogram).

Hand-computed cases from torch's definitions (the float32 index of ``histc``,
the combine rule, ``torch.sum``'s order), properties (the exact-add path is the
histogram of the concatenation, the search lies inside the range and ignores a
power-of-two scaling of the counts, inputs untouched, determinism), and the
fast L2 search against a literal transcription of torch's loop. Bit-identity
with torch itself: tests/conformance/test_torch_calibration_conformance.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.calibrate import _torch_histogram as kern
from refquant.calibrate.histogram import HistogramState
from refquant.interop import torch as rqt
from refquant.interop.torch import calibration as rq

f32 = np.float32


# ------------------------------------------------------------------------------------------ histc
def test_histc_hand_cases() -> None:
    # (x - 0) * 3 / 3: 0, 0.5 -> bin 0; 1, 1 -> bin 1; 3 -> index 3, the last edge, moved to bin 2
    assert kern.torch_histc(np.array([0.0, 0.5, 1.0, 1.0, 3.0], f32), 3, 0.0, 3.0).tolist() == [2.0, 2.0, 1.0]
    # outside [lo, hi], NaN and inf are not counted
    assert kern.torch_histc(np.array([-1.0, np.nan, np.inf, 0.2, 9.0], f32), 2, 0.0, 1.0).tolist() == [
        1.0,
        0.0,
    ]
    # min == max: the data's own range [0, 5]
    assert kern.torch_histc(np.array([0.0, 1.0, 5.0], f32), 5, 0.0, 0.0).tolist() == [1.0, 1.0, 0.0, 0.0, 1.0]
    # constant data: widened to [2, 4] in double; (3 - 2) * 4 / 2 = 2
    assert kern.torch_histc(np.array([3.0], f32), 4, 3.0, 3.0).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert kern.torch_histc(np.zeros(0, f32), 2, 0.0, 1.0).tolist() == [0.0, 0.0]


def test_histc_float32_index() -> None:
    """f(f(0.1f * 3) / 0.3f) = 1 exactly, though 0.1f * 3 / 0.3f = 0.99999998 in exact arithmetic: bin 1."""
    x, hi = f32(0.1), f32(0.3)
    assert float(x) * 3 / float(hi) < 1.0
    assert kern.torch_histc(np.array([x]), 3, 0.0, float(hi)).tolist() == [0.0, 1.0, 0.0]


def test_histc_rejects() -> None:
    with pytest.raises(ValueError, match="not finite"):
        kern.torch_histc(np.array([1.0, np.nan], f32), 4, 0.0, 0.0)  # the data's range is NaN
    with pytest.raises(ValueError, match="larger than min"):
        kern.torch_histc(np.array([1.0], f32), 4, 2.0, 1.0)
    with pytest.raises(ValueError, match="undefined"):  # [c - 1, c + 1] rounds to [c, c] in float32
        kern.torch_histc(np.array([2.0**25], f32), 4, 2.0**25, 2.0**25)
    with pytest.raises(ValueError, match="undefined"):
        kern.torch_histc(np.array([0.0], f32), 2048, -3e38, 3e38)
    with pytest.raises(ValueError, match="bins"):
        kern.torch_histc(np.array([0.0], f32), 0, 0.0, 1.0)


# ---------------------------------------------------------------------------------------- torch.sum
def test_sum_order_hand_case() -> None:
    """Five floats take the scalar path: ((x0 + x4) + x1) + x2 + x3 (tail into the first of 4)."""
    x = np.array([2.0**-24, 1.0, 0.0, 0.0, 2.0**-24], f32)
    assert float(kern.torch_sum_float32(x)) == 1.0 + 2.0**-23  # 2**-23 + 1 is exact
    seq = f32(0)
    for v in x:
        seq = f32(seq + v)
    assert float(seq) == 1.0  # the sequential sum loses both halves (ties to even)


@given(st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_sum_within_float32_bound(n: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(n).astype(f32)
    exact = math.fsum(x.astype(np.float64).tolist())
    bound = n * float(np.finfo(f32).eps) * float(np.abs(x).astype(np.float64).sum())
    assert abs(float(kern.torch_sum_float32(x)) - exact) <= bound


# -------------------------------------------------------------------------------------- the update
def test_update_first_batch_and_exact_add() -> None:
    s = kern.torch_histogram_update(None, np.array([0.0, 1.0, 2.0, 4.0], f32), 4)
    assert s is not None
    assert (s.counts.tolist(), s.min, s.max) == ([1.0, 1.0, 1.0, 1.0], 0.0, 4.0)
    assert s.edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and s.counts.dtype == np.float32
    s2 = kern.torch_histogram_update(s, np.array([0.5, 3.9, 4.0], f32), 4)
    assert s2 is not None and s2.counts.tolist() == [2.0, 1.0, 1.0, 3.0] and (s2.min, s2.max) == (0.0, 4.0)


def test_update_from_a_constant() -> None:
    # [2, 2] over [1, 3]: bin 2; then [0, 4]: histc([2], 4, 0, 4) * sum = 2 in bin 2, plus histc([0, 4])
    s = kern.torch_histogram_update(None, np.array([2.0, 2.0], f32), 4)
    assert s is not None and s.counts.tolist() == [0.0, 0.0, 2.0, 0.0] and s.edges.tolist() == [2.0] * 5
    s = kern.torch_histogram_update(s, np.array([0.0, 4.0], f32), 4)
    assert s is not None and s.counts.tolist() == [1.0, 0.0, 2.0, 1.0] and (s.min, s.max) == (0.0, 4.0)


def test_update_upscale() -> None:
    # [1, 1] over [0, 1] split into 32 pieces of 1/16 at (k + 0.5) / 32, all below the new edge 1.5: [2, 0]
    s = kern.torch_histogram_update(None, np.array([0.0, 1.0], f32), 2)
    s = kern.torch_histogram_update(s, np.array([3.0], f32), 2)
    assert s is not None and s.counts.tolist() == [2.0, 1.0] and (s.min, s.max) == (0.0, 3.0)
    # split counts: [0, 4] with bins 4 -> [1, 1, 0, 1]; then 8: the old bins' pieces straddle nothing
    s = kern.torch_histogram_update(None, np.array([0.0, 1.0, 3.0, 4.0], f32), 4)
    s = kern.torch_histogram_update(s, np.array([8.0], f32), 4)
    assert s is not None and s.counts.tolist() == [2.0, 2.0, 0.0, 1.0]


def test_update_inf_empty_nan() -> None:
    s = kern.torch_histogram_update(None, np.array([1.0, np.inf, 3.0, -np.inf], f32), 2)
    assert s is not None and s.counts.tolist() == [1.0, 1.0] and (s.min, s.max) == (1.0, 3.0)
    assert kern.torch_histogram_update(s, np.array([np.inf], f32), 2) is s
    assert kern.torch_histogram_update(s, np.zeros(0, f32), 2) is s
    assert kern.torch_histogram_update(None, np.array([-np.inf], f32), 2) is None
    with pytest.raises(ValueError, match="NaN"):
        kern.torch_histogram_update(s, np.array([1.0, np.nan], f32), 2)
    with pytest.raises(ValueError, match="shape"):
        kern.torch_histogram_update(s, np.array([1.0], f32), 3)
    with pytest.raises(TypeError, match="HistogramState"):
        kern.torch_histogram_update((np.ones(2), np.ones(3), 0.0, 1.0), np.array([1.0], f32), 2)


@given(
    st.lists(st.floats(-4, 4, width=32), min_size=2, max_size=60),
    st.lists(st.lists(st.floats(-4, 4, width=32), max_size=40), max_size=4),
    st.sampled_from([1, 2, 7, 64]),
)
def test_exact_add_is_the_histogram_of_the_concatenation(
    first: list[float], rest: list[list[float]], bins: int
) -> None:
    """Where the range does not grow, the state is histc of all batches over the first range."""
    x0 = np.array(first, f32)
    lo, hi = float(x0.min()), float(x0.max())
    later = [np.clip(np.array(r, f32), f32(lo), f32(hi)) for r in rest]
    s = kern.torch_histogram_update(None, x0, bins)
    for b in later:
        s = kern.torch_histogram_update(s, b, bins)
    assert s is not None
    np.testing.assert_array_equal(s.counts, kern.torch_histc(np.concatenate([x0, *later]), bins, lo, hi))


def test_update_does_not_modify_its_inputs() -> None:
    rng = np.random.default_rng(0)
    s = kern.torch_histogram_update(None, rng.standard_normal(100).astype(f32), 16)
    assert s is not None
    counts, edges = s.counts.copy(), s.edges.copy()
    b = (rng.standard_normal(100) * 3).astype(f32)
    b_copy = b.copy()
    s2 = kern.torch_histogram_update(s, b, 16)
    assert s2 is not None and s2.counts is not s.counts
    np.testing.assert_array_equal(s.counts, counts)
    np.testing.assert_array_equal(s.edges, edges)
    np.testing.assert_array_equal(b, b_copy)
    s3 = kern.torch_histogram_update(s, b, 16)
    assert s3 is not None and s3.counts.tobytes() == s2.counts.tobytes()  # deterministic


def test_sequential_bincount_rounding() -> None:
    """A running sum that leaves float32: 2**24 + 1 + 1 is 2**24 one add at a time (2**24 + 2 exactly)."""
    w = np.array([2.0**24, 1.0, 1.0, 3.0], f32)
    out = kern._sequential_bincount(np.array([0, 0, 0, 1]), w, 2)
    assert out.tolist() == [2.0**24, 3.0]
    out = kern._sequential_bincount(np.array([1, 0, 1, 1]), np.array([0.5, 2.0, 0.25, 0.25], f32), 2)
    assert out.tolist() == [2.0, 1.0]


# ---------------------------------------------------------------------------------------- L2 search
def _literal_search(h: np.ndarray, lo: float, hi: float, dst_nbins: int) -> tuple[float, float]:
    """HistogramObserver._non_linear_param_search transcribed literally (its while loops), same kernels."""
    bins = h.size
    bw = f32(f32(f32(hi) - f32(lo)) / f32(bins))
    total = float(kern.torch_sum_float32(h))
    csum = np.cumsum(h, dtype=np.float64).astype(f32)
    alpha, beta, start, end, norm_min = 0.0, 1.0, 0, bins - 1, math.inf
    while alpha < beta:
        na, nb = alpha + 1e-5, beta - 1e-5
        left, r = start, end
        while left < end and csum[left] < f32(na * total):
            left += 1
        while r > start and csum[r] > f32(nb * total):
            r -= 1
        ns, ne = start, end
        if (left - start) > (end - r):
            ns, alpha = left, na
        else:
            ne, beta = r, nb
        if ns == start and ne == end:
            continue
        norm = kern._quantization_error(h, float(f32(lo)), float(f32(hi)), dst_nbins, ns, ne, 1)
        if norm > norm_min:
            break
        norm_min, start, end = norm, ns, ne
    return float(f32(f32(lo) + f32(bw * f32(start)))), float(f32(f32(lo) + f32(bw * f32(end + 1))))


@pytest.mark.parametrize("seed", range(12))
def test_search_equals_the_literal_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bins = int(rng.choice([3, 16, 100, 256]))
    data = [rng.standard_normal(3000), rng.standard_cauchy(3000), rng.laplace(size=3000)][seed % 3]
    if seed % 4 == 3:
        data = np.maximum(data, 0)
    x = data.astype(f32)
    s = kern.torch_histogram_update(None, x, bins)
    assert s is not None
    got = kern.torch_l2_search(s.counts, s.min, s.max, dst_nbins=256 if seed % 2 else 16)
    assert tuple(map(float, got)) == _literal_search(s.counts, s.min, s.max, 256 if seed % 2 else 16)


def test_search_constant_histogram_runs_to_the_end() -> None:
    """min == max: every error is 0, the loop never breaks; torch steps 10**5 times, refquant jumps."""
    s = kern.torch_histogram_update(None, np.full(10, 0.5, f32), 16)
    assert s is not None
    got = kern.torch_l2_search(s.counts, s.min, s.max)
    assert tuple(map(float, got)) == _literal_search(s.counts, s.min, s.max, 256) == (0.5, 0.5)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(0, 6))
def test_search_inside_range_and_scale_invariant(counts: list[int], k: int) -> None:
    h = np.array(counts, f32)
    h_copy = h.copy()
    lo, hi = -1.5, 2.25
    a, b = kern.torch_l2_search(h, lo, hi)
    np.testing.assert_array_equal(h, h_copy)  # the histogram is not modified
    assert lo <= float(a) <= float(b) <= hi
    a2, b2 = kern.torch_l2_search(h * f32(2.0**k), lo, hi)  # every float32 step scales exactly
    assert (float(a2), float(b2)) == (float(a), float(b))


# ------------------------------------------------------------------------------------ the interop API
def test_moving_average_hand_case() -> None:
    r = rq.moving_average_min_max([[0.0, 4.0], [-2.0, 2.0], []], 0.5)
    assert (float(r.min_val), float(r.max_val)) == (-1.0, 3.0) and r.min_val.dtype == np.float32
    r = rq.moving_average_min_max([[[0.0, 4.0]], [[2.0, 8.0]]], 0.25, ch_axis=1)
    assert r.max_val.tolist() == [0.5, 5.0] and r.min_val.tolist() == [0.5, 5.0]


@given(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2]))
def test_moving_average_per_channel_is_per_tensor_per_slice(seed: int, axis: int) -> None:
    rng = np.random.default_rng(seed)
    batches = [(rng.standard_normal((3, 4, 5)) * (t + 1)).astype(f32) for t in range(4)]
    r = rq.moving_average_min_max(batches, 0.3, ch_axis=axis)
    for c in range(batches[0].shape[axis]):
        one = rq.moving_average_min_max([np.take(b, c, axis=axis) for b in batches], 0.3)
        assert (r.min_val[c], r.max_val[c]) == (one.min_val, one.max_val)


def test_moving_average_rejects() -> None:
    with pytest.raises(TypeError, match="batches"):
        rq.moving_average_min_max(np.zeros((2, 3), f32))
    with pytest.raises(ValueError, match="averaging_constant"):
        rq.moving_average_min_max([[1.0]], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        rq.moving_average_min_max([[1.0, np.nan]])


def test_histogram_observer_api() -> None:
    batches = [np.array([0.0, 1.0, 2.0, 3.0], f32)]
    r = rq.histogram_observer_range(batches, 4)
    assert r is not None and (float(r.min_val), float(r.max_val)) == (0.0, 2.25)
    s, z = rq.histogram_observer_qparams(batches, 4)
    assert s.tolist() == [float(f32(f32(2.25) / f32(255)))] and z.tolist() == [0] and z.dtype == np.int32
    s, z = rq.histogram_observer_qparams([[np.inf]], 4)  # nothing seen: torch's default
    assert (s.tolist(), z.tolist()) == ([1.0], [0])
    assert rq.histogram_observer_state([], 4) is None and rq.histogram_observer_range([], 4) is None


def test_histogram_observer_quint8_symmetric_reduce_range_quirk() -> None:
    """torch: range [0, 127], scale max|x| / 63.5, and the zero point 128 of the full quint8 range."""
    s, z = rq.histogram_observer_qparams(
        [np.array([-1.0, 0.0, 3.0], f32)], 4, "quint8", "per_tensor_symmetric", True
    )
    r = rq.histogram_observer_range([np.array([-1.0, 0.0, 3.0], f32)], 4)
    assert r is not None
    amax = max(-float(r.min_val), float(r.max_val))
    assert s.tolist() == [float(f32(f32(amax) / f32(63.5)))] and z.tolist() == [128]


def test_histogram_observer_rejects() -> None:
    with pytest.raises(ValueError, match="qscheme"):
        rq.histogram_observer_qparams([[1.0]], 4, qscheme="per_channel_affine")
    with pytest.raises(ValueError, match="bins"):
        rq.histogram_observer_qparams([[1.0]], 0)
    with pytest.raises(ValueError, match="dtype"):
        rq.histogram_observer_qparams([[1.0]], 4, dtype="int8")
    with pytest.raises(TypeError, match="reduce_range"):
        rq.histogram_observer_qparams([[1.0]], 4, reduce_range=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"batches\[1\].*NaN"):
        rq.histogram_observer_state([[1.0], [np.nan]], 4)
    with pytest.raises(TypeError, match="batches"):
        rq.histogram_observer_state(np.zeros(3, f32), 4)


def test_histogram_observer_inputs_untouched_and_deterministic() -> None:
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal(500) * (t + 1)).astype(f32) for t in range(3)]
    copies = [b.copy() for b in batches]
    first = rq.histogram_observer_qparams(batches, 64)
    second = rq.histogram_observer_qparams(batches, 64)
    for b, c in zip(batches, copies, strict=True):
        np.testing.assert_array_equal(b, c)
    assert first[0].tobytes() == second[0].tobytes() and first[1].tobytes() == second[1].tobytes()


def test_exports() -> None:
    for name in rq.__all__:
        assert getattr(rqt, name) is getattr(rq, name)
    assert isinstance(rq.histogram_observer_state([[1.0, 2.0]], 4), HistogramState)
