"""refquant.floats.codebook: k-means weight sharing (Deep Compression), against exact argmin and SciPy."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.check import check_vjp
from refquant.floats.codebook import (
    codebook_assign,
    codebook_centroid_grad,
    codebook_decode,
    codebook_decode_vjp,
    kmeans_codebook,
)


def objective(w: np.ndarray, c: np.ndarray, codes: np.ndarray) -> Fraction:
    """The k-means objective, exactly."""
    d = [Fraction(float(a)) - Fraction(float(b)) for a, b in zip(w.ravel(), c[codes.ravel()], strict=True)]
    return sum((v * v for v in d), Fraction(0))


def brute_force(w: np.ndarray, c: np.ndarray) -> list[int]:
    """argmin_i |w - c_i| in exact arithmetic, the first index on ties."""
    cf = [Fraction(float(v)) for v in c]
    out = []
    for v in w.ravel().tolist():
        d = [abs(Fraction(v) - ci) for ci in cf]
        out.append(d.index(min(d)))
    return out


def test_hand_examples() -> None:
    # two clear clusters: {0, 0.1} and {0.9, 1, 1.1}; linear init 0 and 1.1 -> means 0.05 and 1.0
    book = kmeans_codebook([0.0, 0.1, 0.9, 1.0, 1.1], 2)
    assert book.centroids.tolist() == [0.05, 1.0] and book.codes.tolist() == [0, 0, 1, 1, 1]
    # an empty cluster keeps its centroid: linear init [0, 5, 10], nobody near 5
    book = kmeans_codebook([0.0, 0.1, 10.0], 3)
    assert book.centroids.tolist() == [0.05, 5.0, 10.0] and book.codes.tolist() == [0, 0, 2]
    assert kmeans_codebook([1.0, 2.0, 6.0], 1).centroids.tolist() == [3.0]


def test_assignment_is_exact_where_a_rounded_midpoint_is_not() -> None:
    # c = [1, 1 + 3 * 2**-52]: the exact midpoint is 1 + 1.5 * 2**-52, but fl((a + b) / 2) = 1 + 2**-51;
    # w = 1 + 2**-51 is 2**-52 from c_1 and 2**-51 from c_0, so its nearest centroid is 1
    c = np.array([1.0, 1.0 + 3 * 2.0**-52])
    w = np.array([1.0 + 2.0**-51, 1.0 + 2.0**-52])
    assert ((c[0] + c[1]) / 2) == w[0]  # the naive midpoint would call it a tie (index 0)
    assert codebook_assign(w, c).tolist() == [1, 0] == brute_force(w, c)


def test_assignment_is_brute_force_argmin_on_tie_dense_inputs() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        c = np.sort(rng.integers(-6, 7, rng.integers(1, 9)) / 4.0)  # repeats and exact midpoints
        mids = (c[:-1] + c[1:]) / 2  # exact for these dyadic values
        w = np.concatenate([mids, np.nextafter(mids, -np.inf), np.nextafter(mids, np.inf), c, [-9.0, 9.0]])
        w = np.concatenate([w, rng.integers(-30, 31, 40) / 8.0])
        assert codebook_assign(w, c).tolist() == brute_force(w, c)
        # NumPy's argmin of float64 distances agrees where those are exact (not one ulp off a midpoint:
        # there |w - c| rounds, e.g. 5e-324 is 0.5 from both -0.5 and 0.5 in float64, nearer 0.5 exactly)
        dyadic = np.concatenate([mids, c, w[-40:]])
        argmin = np.argmin(np.abs(dyadic[:, None] - c[None, :]), axis=1)
        assert np.array_equal(codebook_assign(dyadic, c), argmin)


pool = st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.5, -1.0, 1.0 + 2.0**-52, 1.0 + 3 * 2.0**-52, 1e-300, 5e-324])
values = st.one_of(pool, st.floats(-1e6, 1e6, allow_nan=False, width=64))


@given(c=st.lists(values, min_size=1, max_size=8), w=st.lists(values, max_size=20))
def test_assignment_property_exact_argmin(c: list[float], w: list[float]) -> None:
    ca, wa = np.sort(np.array(c)), np.array(w, np.float64)
    got = codebook_assign(wa, ca)
    assert got.dtype == np.uint8 and got.tolist() == brute_force(wa, ca)


def test_assignment_with_huge_and_tiny_centroids() -> None:
    c = np.array([-1.7e308, -1e-300, 5e-324, 1e308, 1.7e308])
    w = np.array([-1.7e308, -8.5e307, 0.0, 5e307, 1.35e308, 1.7e308, -1e-300])
    assert codebook_assign(w, c).tolist() == brute_force(w, c)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("init", ["linear", "density", "kmeans++", "random"])
def test_lloyd_never_increases_the_objective(init: str, dtype: type) -> None:
    w = np.random.default_rng(0).standard_normal((40, 25)).astype(dtype)
    prev = None
    for it in range(6):
        book = kmeans_codebook(w, 16, init=init, rng=np.random.default_rng(1), max_iter=it)
        assert book.centroids.dtype == dtype and book.codes.dtype == np.uint8 and book.codes.shape == w.shape
        assert np.all(np.diff(book.centroids) >= 0)
        assert np.array_equal(book.codes, codebook_assign(w, book.centroids))  # codes of these centroids
        obj = objective(w, book.centroids, book.codes)
        assert prev is None or obj <= prev
        prev = obj
    # at convergence every weight is at its nearest centroid and every centroid its cluster's mean
    book = kmeans_codebook(w, 16, init=init, rng=np.random.default_rng(1), max_iter=10_000)
    c = book.centroids.astype(np.float64)
    for i in range(16):
        members = w[book.codes == i].astype(np.float64)
        if members.size:  # the float64 mean rounded to the dtype: within half an ulp (and the sum's error)
            half_ulp = abs(float(np.spacing(dtype(c[i])))) / 2
            assert abs(members.mean() - c[i]) <= half_ulp + 1e-15


def test_matches_scipy_kmeans2_from_the_same_initial_centroids() -> None:
    vq = pytest.importorskip("scipy.cluster.vq")
    rng = np.random.default_rng(4)
    w = rng.standard_normal(3000) * rng.uniform(0.5, 2, 3000)
    init = kmeans_codebook(w, 16, max_iter=0).centroids
    compared = 0
    for it in (1, 2, 5, 20):
        ours = kmeans_codebook(w, 16, max_iter=it)
        theirs, _ = vq.kmeans2(w, init.copy(), iter=it, minit="matrix")
        theirs = np.sort(theirs)
        # the means differ only by the summation order: a few float64 ulps
        np.testing.assert_allclose(ours.centroids, theirs, rtol=1e-13, atol=1e-15)
        labels, _ = vq.vq(w, theirs)  # SciPy's own nearest-centroid rule on its centroids
        assert np.array_equal(ours.codes, labels)
        compared += w.size
    assert compared == 12000


def test_initializations() -> None:
    w = np.arange(100, dtype=np.float64)
    assert kmeans_codebook(w, 5, max_iter=0).centroids.tolist() == [0.0, 24.75, 49.5, 74.25, 99.0]
    dens = kmeans_codebook(w, 4, init="density", max_iter=0).centroids
    assert np.array_equal(dens, np.quantile(w, [0.125, 0.375, 0.625, 0.875]))  # levels (i + 1/2) / k
    w32 = np.random.default_rng(2).standard_normal(50).astype(np.float32)
    lin = kmeans_codebook(w32, 7, max_iter=0).centroids
    want = np.linspace(float(w32.min()), float(w32.max()), 7).astype(np.float32)  # float64, rounded once
    assert lin.dtype == np.float32 and np.array_equal(lin, want)
    pick = np.sort(w32[np.random.default_rng(9).choice(50, 7, replace=False)])  # Forgy
    assert np.array_equal(
        kmeans_codebook(w32, 7, init="random", rng=np.random.default_rng(9), max_iter=0)[0], pick
    )
    a = kmeans_codebook(w, 4, init="kmeans++", rng=np.random.default_rng(5))
    b = kmeans_codebook(w, 4, init="kmeans++", rng=np.random.default_rng(5))
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.codes, b.codes)
    for init in ("kmeans++", "random"):
        with pytest.raises(
            TypeError, match=re.escape(f"rng must be a numpy.random.Generator for init={init!r}, got None")
        ):
            kmeans_codebook(w, 4, init=init)


def test_kmeans_plus_plus_samples_proportionally_to_squared_distance() -> None:
    # w = [0, 1, 3], k = 2: first pick uniform; then D^2 sampling. P({0, 1}) = (1/10 + 1/5) / 3 = 0.1,
    # P({0, 3}) = (9/10 + 9/13) / 3, P({1, 3}) = (4/5 + 4/13) / 3
    w = np.array([0.0, 1.0, 3.0])
    n = 6000
    seen = [
        tuple(kmeans_codebook(w, 2, init="kmeans++", rng=np.random.default_rng(s), max_iter=0)[0])
        for s in range(n)
    ]
    for pair, p in {(0.0, 1.0): 0.1, (0.0, 3.0): (0.9 + 9 / 13) / 3, (1.0, 3.0): (0.8 + 4 / 13) / 3}.items():
        assert abs(seen.count(pair) / n - p) < 5 * np.sqrt(p * (1 - p) / n)  # 5 sigma


def test_tol_and_max_iter() -> None:
    w = np.random.default_rng(3).standard_normal(2000)
    one = kmeans_codebook(w, 8, max_iter=1)
    loose = kmeans_codebook(w, 8, tol=1e9)  # any decrease is below 1e9 * J: stop after one iteration
    assert np.array_equal(one.centroids, loose.centroids) and np.array_equal(one.codes, loose.codes)
    full = kmeans_codebook(w, 8, max_iter=1000)
    assert objective(w, full.centroids, full.codes) < objective(w, one.centroids, one.codes)
    with pytest.raises(ValueError, match="tol must be finite and >= 0"):
        kmeans_codebook(w, 8, tol=-0.1)
    with pytest.raises(TypeError, match="tol must be a real number"):
        kmeans_codebook(w, 8, tol="0")  # type: ignore[arg-type]


def test_more_clusters_than_values_constant_and_extreme_weights() -> None:
    book = kmeans_codebook([1.0, 1.0, 2.0], 8)
    assert set(codebook_decode(book.codes, book.centroids).tolist()) == {1.0, 2.0}
    for init in ("linear", "density", "kmeans++", "random"):
        book = kmeans_codebook(np.full(10, 0.5), 4, init=init, rng=np.random.default_rng(0))
        assert np.all(codebook_decode(book.codes, book.centroids) == 0.5) and np.all(book.codes == 0)
    big = np.array([-1.7e308, -1.6e308, 1e-300, 1.6e308, 1.7e308])
    book = kmeans_codebook(big, 3)
    assert np.all(np.isfinite(book.centroids)) and book.codes.tolist() == [0, 0, 1, 2, 2]
    assert np.array_equal(book.codes, codebook_assign(big, book.centroids))
    # the float64 mean fl(a + b) / 2, the sum formed on the pair scaled by 2**-1024 (exact here);
    # the lone 1e-300 keeps its own scale
    pair = [float(np.ldexp(np.ldexp(a, -1024) + np.ldexp(b, -1024), 1023)) for a, b in (big[:2], big[3:])]
    assert book.centroids.tolist() == [pair[0], 1e-300, pair[1]]
    tiny = np.array([1e-320, 2e-320, 9e-320, 1e-319])
    book = kmeans_codebook(tiny, 2)
    assert book.codes.tolist() == [0, 0, 1, 1] and np.array_equal(
        book.codes, codebook_assign(tiny, book.centroids)
    )


def test_centroid_gradient_is_the_summed_weight_gradient() -> None:
    codes = np.array([[2, 0], [2, 1], [0, 0]])
    g = np.array([[0.5, 1.0], [-2.0, 3.0], [0.25, 4.0]])
    assert codebook_centroid_grad(g, codes, 4).tolist() == [5.25, 3.0, -1.5, 0.0]
    vjp = codebook_decode_vjp(g, codes, np.zeros(4, np.float32)).grad_centroids
    assert vjp.dtype == np.float32 and vjp.tolist() == [5.25, 3.0, -1.5, 0.0]


def test_decode_vjp_gradient_check() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5, (7, 3))
    centroids = rng.standard_normal(5)
    res = check_vjp(codebook_decode, codebook_decode_vjp, [codes, centroids], argnums=1, rng=rng)
    assert res.max_rel_error < 1e-6  # check_vjp raises on failure; the result records the comparison
    # and through a loss of the decoded weights: L = sum(x @ W), dL/dc = codebook_centroid_grad(dL/dW)
    x = rng.standard_normal((4, 7))

    def loss(c: np.ndarray) -> np.ndarray:
        return np.asarray((x @ codebook_decode(codes, c)).sum())

    def loss_vjp(g: np.ndarray, c: np.ndarray) -> tuple[np.ndarray]:
        return (codebook_centroid_grad(g * (x.T @ np.ones((4, 3))), codes, 5),)

    check_vjp(loss, loss_vjp, [centroids], rng=rng)


def test_inputs_untouched_and_errors() -> None:
    w = np.array([0.3, -0.2, 0.9])
    before = w.copy()
    kmeans_codebook(w, 2, init="kmeans++", rng=np.random.default_rng(0))
    assert np.array_equal(w, before)
    with pytest.raises(ValueError, match=r"w must be finite.*nan"):
        kmeans_codebook([1.0, np.nan], 2)
    with pytest.raises(ValueError, match="w must not be empty"):
        kmeans_codebook([], 2)
    with pytest.raises(ValueError, match="k must be"):
        kmeans_codebook(w, 0)
    with pytest.raises(ValueError, match=r"sorted \(non-decreasing\), got \[1.0, 0.0\]"):
        codebook_assign(w, [1.0, 0.0])
    with pytest.raises(ValueError, match=r"codes must be in \[0, k\) = \[0, 2\).*5"):
        codebook_decode([0, 5], [0.0, 1.0])
    with pytest.raises(ValueError, match="shape of codes"):
        codebook_centroid_grad([1.0], [0, 1], 2)
    assert kmeans_codebook(w, 300).codes.dtype == np.int64
    assert codebook_assign(np.zeros((0, 2)), [0.0]).shape == (0, 2)
