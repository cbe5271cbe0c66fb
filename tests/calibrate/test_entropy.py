"""refquant.calibrate.entropy: hand-computed divergences, knobs, the screen never dropping the argmin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.calibrate import _entropy_kernels as kern
from refquant.calibrate.entropy import entropy_amax, entropy_range, kl_divergences


def test_hand_divergence_linspace() -> None:
    # counts [4, 2, 2, 1, 0, 1], nq = 2, candidate 4: P = [4, 2, 2, 2] (outlier 1 into the last bin),
    # groups {0, 1} and {2, 3}: Q = [3, 3, 1.5, 1.5] -> p = P / 10, q = Q / 9
    curve = kl_divergences(
        [4, 2, 2, 1, 0, 1], np.arange(7.0), num_quantized_bins=2, start_bin=4, convention="tensorrt"
    )
    p = np.array([4, 2, 2, 2]) / 10
    q = np.array([3, 3, 1.5, 1.5]) / 9
    assert curve.divergences[0] == pytest.approx(float(np.sum(p * np.log(p / q))), rel=1e-15)
    assert math.isinf(curve.divergences[1])  # candidate 5: P's last bin holds the outlier, Q's is empty


def test_thresholds_and_ties() -> None:
    counts = np.array([10, 8, 6, 4, 2, 1, 0, 1])
    assert entropy_amax(counts, np.arange(9.0), num_bits=2, start_bin=4) == np.float32(5.0)
    # mass in 4 bins then zeros: every candidate 4..8 reproduces P exactly (divergence 0): a 5-way tie;
    # ModelOpt takes the last, the slides and ONNX Runtime the first
    flat = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert np.array_equal(
        kl_divergences(flat, np.arange(9.0), num_quantized_bins=4, start_bin=4).divergences, np.zeros(5)
    )
    assert entropy_amax(flat, np.arange(9.0), num_quantized_bins=4, start_bin=4) == 8.0
    assert entropy_amax(flat, np.arange(9.0), num_quantized_bins=4, start_bin=4, tie="first") == 4.0
    assert entropy_amax(flat, np.arange(9.0), num_quantized_bins=4, start_bin=4, convention="tensorrt") == 4.5


def test_inputs_untouched() -> None:
    counts = np.array([50, 1, 3, 0, 2, 2, 1, 0, 1, 1])
    edges = np.linspace(0, 1, 11)
    c0, e0 = counts.copy(), edges.copy()
    entropy_amax(counts, edges, num_bits=3, start_bin=2)
    kl_divergences(counts, edges, num_quantized_bins=4, start_bin=2)
    entropy_range(counts, edges, num_quantized_bins=4)
    assert np.array_equal(counts, c0) and np.array_equal(edges, e0)


def test_linspace_boundaries_match_digitize() -> None:
    for nq in (2, 8, 128, 256):
        n = np.arange(1, 3000)
        starts = kern.linspace_starts(n, nq)
        for i in (1, 7, 128, 129, 1000, 2047, 2999):
            dig = np.digitize(range(i), np.linspace(0, i, nq + 1)) - 1
            assert np.array_equal(np.searchsorted(starts[i - 1], np.arange(i), side="right") - 1, dig)


def _hist(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(8, 80))
    vals = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    return np.array(vals, np.int64)


@settings(max_examples=40)
@given(st.data(), st.sampled_from(["modelopt", "tensorrt", "onnxruntime"]), st.integers(2, 8), st.booleans())
def test_screen_keeps_true_argmin(data: st.DataObject, convention: str, nq: int, two: bool) -> None:
    counts = _hist(data.draw)
    if counts.sum() == 0:
        counts[-1] = 1
    edges = np.linspace(0.0, 1.0, counts.size + 1, dtype=np.float32)
    kw = dict(num_quantized_bins=nq, convention=convention)
    if two:
        curve = kl_divergences(counts, edges, two_sided=True, first_bin="keep", **kw)
        fast = kl_divergences(counts, edges, two_sided=True, exact=False, first_bin="keep", **kw)
    else:
        curve = kl_divergences(counts, edges, start_bin=nq, **kw)
        fast = kl_divergences(counts, edges, start_bin=nq, exact=False, **kw)
    d = curve.divergences
    assert np.array_equal(np.isnan(d), np.isnan(fast.divergences))
    finite = np.isfinite(d)
    assert np.array_equal(finite, np.isfinite(fast.divergences))
    assert np.allclose(d[finite], fast.divergences[finite], rtol=1e-4, atol=1e-5)
    first = int(np.argmin(d))
    last = len(d) - 1 - int(np.argmin(d[::-1]))
    want = (
        (curve.lo[first], curve.hi[first]) if convention != "modelopt" else (curve.lo[last], curve.hi[last])
    )
    if two:
        lo, hi = entropy_range(counts, edges, **kw)
        assert (lo, hi) == want
    else:
        assert entropy_amax(counts, edges, start_bin=nq, **kw) == np.float32(want[1])


def test_scaling_counts_invariant_and_within() -> None:
    rng = np.random.default_rng(1)
    counts, edges = np.histogram(np.abs(rng.normal(size=5000)), bins=300)
    a = entropy_amax(counts, edges)
    assert a == entropy_amax(counts * 8, edges)  # powers of two scale exactly
    assert edges[128] <= a <= edges[-1]


@pytest.mark.parametrize(
    ("kw", "word"),
    [
        (dict(counts=[1.0, np.nan, 1.0]), "counts"),
        (dict(counts=[1, -1, 1]), "counts"),
        (dict(edges=np.arange(3.0)), "edges"),
        (dict(start_bin=0), "start_bin"),
        (dict(start_bin=4), "start_bin"),
        (dict(stride=0), "stride"),
        (dict(convention="trt"), "convention"),
        (dict(merge="round"), "merge"),
        (dict(eps=0.0), "eps"),
    ],
)
def test_bad_input(kw: dict, word: str) -> None:
    args = dict(counts=[3, 2, 1], edges=np.arange(4.0), start_bin=2)
    args.update(kw)
    with pytest.raises(ValueError, match=word):
        entropy_amax(args.pop("counts"), args.pop("edges"), num_bits=2, **args)


def _numpy_pairwise(a: np.ndarray) -> np.floating:
    """NumPy's float pairwise sum (loops_utils.h.src ``pairwise_sum``), written out."""
    n = a.size
    if n < 8:
        r = a.dtype.type(0)
        for x in a:
            r = r + x
        return r
    if n <= 128:
        acc = a[:8].copy()
        for i in range(8, n - n % 8, 8):
            acc = acc + a[i : i + 8]
        res = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for i in range(n - n % 8, n):
            res = res + a[i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _numpy_pairwise(a[:n2]) + _numpy_pairwise(a[n2:])


def _depth(n: int) -> int:
    if n <= 128:
        return n if n < 8 else n // 8 - 1 + 3 + n % 8
    n2 = n // 2 - (n // 2) % 8
    return 1 + max(_depth(n2), _depth(n - n2))


def test_float32_sum_order_and_depth_bound() -> None:
    # the bound of fast_floor_smoothed assumes np.sum of float32 is this pairwise tree, of depth <= sum_depth
    rng = np.random.default_rng(3)
    for n in [*range(1, 300), 511, 1000, 1025, 2047, 2049]:
        a = (rng.lognormal(0, 4, n) * rng.choice([-1, 1], n)).astype(np.float32)
        assert _numpy_pairwise(a).tobytes() == np.sum(a).tobytes(), n
    ns = np.arange(1, 5000)
    assert np.all(kern.sum_depth(ns) >= np.array([_depth(int(n)) for n in ns]))


def test_entropy32_is_a_float32_evaluation_within_its_bound() -> None:
    # ONNX Runtime's own float32 entropy (bit-identity with it: tests/conformance); here: float32
    # throughout, and within the first-order float32 error of the float64 value
    from scipy.stats import entropy

    rng = np.random.default_rng(4)
    u = 2.0**-24
    for n in (3, 17, 128, 1000, 2049):
        p = rng.lognormal(0, 2, n).astype(np.float32)
        q = rng.lognormal(0, 2, n).astype(np.float32)
        got = kern._entropy32(p, q)
        assert got.dtype == np.float32
        p64, q64 = p / p.sum(dtype=np.float64), q / q.sum(dtype=np.float64)
        w = float(np.sum(p64 * np.abs(np.log(p64 / q64))))
        depth = kern.sum_depth(np.array([n]))[0]
        bound = u * (4 * depth + 12) * (1 + w)  # normalizations, division, 4-ulp log, product, sum
        assert abs(float(got) - entropy(p64, q64)) <= bound, n


def _ort_hist(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(8, 260))
    kind = draw(st.sampled_from(["sparse", "small", "large", "spike"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "spike":
        c = np.zeros(n, np.int64)
        c[n // 2] = draw(st.integers(1, 10**9))
        return c
    shape = np.exp(-(((np.arange(n) - n / 2) / (n / 6)) ** 2))
    scale = {"sparse": 3, "small": 30, "large": 10**8}[kind]
    c = rng.poisson(shape * scale).astype(np.int64)
    if kind == "sparse":
        c[rng.random(n) < 0.5] = 0
    return c


@settings(max_examples=80, deadline=None)
@given(
    st.data(), st.sampled_from([2, 3, 4, 8, 16, 33, 128]), st.booleans(), st.sampled_from([1e-4, 1e-2, 0.5])
)
def test_ort_closed_form_within_bound(data: st.DataObject, nq: int, two: bool, eps: float) -> None:
    c = _ort_hist(data.draw)
    nq = min(nq, c.size)
    s, e = kern.windows(c.size, two, nq // 2 if two else nq, 1)
    if not s.size or (two and nq // 2 < 1):
        return
    f32 = np.dtype(np.float32)
    try:
        exact = kern.exact_curve(c, s, e, nq, "floor", "onnxruntime", eps, f32)
    except ValueError:  # ONNX Runtime's assertions: the fast path must flag the same candidates
        kl, bound, bad = kern.fast_floor_smoothed(c, s, e, nq, eps)
        assert bad.any()
        with pytest.raises(ValueError, match="eps"):
            kern.select(c, s, e, nq, "floor", "onnxruntime", eps, f32, "first")
        return
    kl, bound, bad = kern.fast_floor_smoothed(c, s, e, nq, eps)
    assert not bad.any()
    assert np.array_equal(np.isinf(kl), np.isinf(exact))
    fin = np.isfinite(exact)
    assert np.all(np.abs(kl[fin] - exact[fin]) <= bound[fin])
    for tie in ("first", "last"):
        want = int(np.argmin(exact)) if tie == "first" else len(exact) - 1 - int(np.argmin(exact[::-1]))
        assert kern.select(c, s, e, nq, "floor", "onnxruntime", eps, f32, tie)[0] == want


@pytest.mark.parametrize("case", range(4))
def test_ort_screen_on_tie_dense_histograms(case: int) -> None:
    rng = np.random.default_rng(case)
    nb = 512
    if case == 0:  # 40 samples over 512 bins: mostly empty, many equal float32 divergences
        c = np.histogram(rng.normal(size=40), bins=nb, range=(-4, 4))[0]
    elif case == 1:  # one spike: every candidate sees the same P and Q shape
        c = np.zeros(nb, np.int64)
        c[nb // 2] = 1000
    elif case == 2:  # a flat plateau
        c = np.zeros(nb, np.int64)
        c[nb // 2 - 100 : nb // 2 + 100] = 7
    else:  # counts beyond float32's 2**24
        c = (np.histogram(rng.normal(size=20000), bins=nb, range=(-4, 4))[0] * 10**5).astype(np.int64)
    s, e = kern.windows(nb, True, 64, 1)
    f32 = np.dtype(np.float32)
    exact = kern.exact_curve(c, s, e, 128, "floor", "onnxruntime", 1e-4, f32)
    kl, bound, _ = kern.fast_floor_smoothed(c, s, e, 128, 1e-4)
    fin = np.isfinite(exact)
    assert np.all(np.abs(kl[fin] - exact[fin]) <= bound[fin])
    assert kern.select(c, s, e, 128, "floor", "onnxruntime", 1e-4, f32, "first")[0] == int(np.argmin(exact))


def test_ort_smoothing_assertion_raises() -> None:
    # 3 nonzero bins among 13: eps1 = 0.5 * 10 / 3 >= 1 (ONNX Runtime's smooth_distribution asserts)
    counts = np.array([0, 0, 0, 0, 0, 1, 5, 1, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="eps"):
        entropy_range(counts, np.linspace(-1.3, 1.3, 14), num_quantized_bins=4, eps=0.5)
