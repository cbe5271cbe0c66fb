"""refquant.floats.codebook: k-means weight sharing (Deep Compression), against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.check import check_vjp
from refquant.floats.codebook import (
    codebook_assign,
    codebook_centroid_grad,
    codebook_decode,
    codebook_decode_vjp,
    kmeans_codebook,
)


def objective(w: np.ndarray, c: np.ndarray, codes: np.ndarray) -> float:
    return float(((w.astype(np.float64) - c[codes].astype(np.float64)) ** 2).sum())


def test_hand_example() -> None:
    # two clear clusters: {0, 0.1} and {0.9, 1, 1.1}; linear init 0 and 1.1 -> means 0.05 and 1.0
    book = kmeans_codebook([0.0, 0.1, 0.9, 1.0, 1.1], 2)
    assert book.centroids.tolist() == [0.05, 1.0] and book.codes.tolist() == [0, 0, 1, 1, 1]


def test_assignment_is_brute_force_argmin_with_ties_to_the_lower_index() -> None:
    c = np.array([-1.0, 0.0, 0.5, 2.0])
    mids = (c[:-1] + c[1:]) / 2  # exact dyadic midpoints
    w = np.concatenate([mids, np.nextafter(mids, -np.inf), np.nextafter(mids, np.inf), c, [-9.0, 9.0]])
    dist = np.abs(w[:, None] - c[None, :])
    expected = np.argmin(dist, axis=1)  # argmin returns the first (lower) index on a tie
    assert np.array_equal(codebook_assign(w, c), expected)


@pytest.mark.parametrize("init", ["linear", "density", "kmeans++"])
def test_lloyd_never_increases_the_objective(init: str) -> None:
    w = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    prev = None
    for it in range(6):
        book = kmeans_codebook(w, 16, init=init, rng=np.random.default_rng(1), max_iter=it)
        obj = objective(w, book.centroids, book.codes)
        assert prev is None or obj <= prev * (1 + 1e-12)
        prev = obj
        assert np.all(np.diff(book.centroids) >= 0) and book.centroids.dtype == np.float32
        assert book.codes.dtype == np.uint8 and book.codes.shape == w.shape
    # at convergence every weight is at its nearest centroid and every centroid is its cluster's mean
    book = kmeans_codebook(w, 16, init=init, rng=np.random.default_rng(1), max_iter=100_000)
    c = book.centroids.astype(np.float64)
    assert np.all(np.diff(c) > 0)
    assert np.array_equal(book.codes, codebook_assign(w, c))
    for i in range(16):
        members = w[book.codes == i].astype(np.float64)
        if members.size:
            assert np.isclose(members.mean(), c[i], rtol=1e-6, atol=1e-7)


def test_initializations() -> None:
    w = np.arange(100, dtype=np.float64)
    assert kmeans_codebook(w, 5, max_iter=0).centroids.tolist() == [0.0, 24.75, 49.5, 74.25, 99.0]
    dens = kmeans_codebook(w, 4, init="density", max_iter=0).centroids
    assert np.array_equal(dens, np.quantile(w, [0.125, 0.375, 0.625, 0.875]))
    a = kmeans_codebook(w, 4, init="kmeans++", rng=np.random.default_rng(5))
    b = kmeans_codebook(w, 4, init="kmeans++", rng=np.random.default_rng(5))
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.codes, b.codes)
    with pytest.raises(TypeError, match="rng must be"):
        kmeans_codebook(w, 4, init="kmeans++")


def test_more_clusters_than_values_and_constant_weights() -> None:
    book = kmeans_codebook([1.0, 1.0, 2.0], 8)
    assert set(codebook_decode(book.codes, book.centroids).tolist()) == {1.0, 2.0}
    book = kmeans_codebook(np.full(10, 0.5), 4, init="kmeans++", rng=np.random.default_rng(0))
    assert np.all(codebook_decode(book.codes, book.centroids) == 0.5)


def test_centroid_gradient_is_the_summed_weight_gradient() -> None:
    codes = np.array([[2, 0], [2, 1], [0, 0]])
    g = np.array([[0.5, 1.0], [-2.0, 3.0], [0.25, 4.0]])
    assert codebook_centroid_grad(g, codes, 4).tolist() == [5.25, 3.0, -1.5, 0.0]


def test_decode_vjp_gradient_check() -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5, (7, 3))
    centroids = rng.standard_normal(5)
    res = check_vjp(codebook_decode, codebook_decode_vjp, [codes, centroids], argnums=1, rng=rng)
    assert res.max_rel_error < 1e-6  # check_vjp raises on failure; the result records the comparison


def test_inputs_untouched_and_errors() -> None:
    w = np.array([0.3, -0.2, 0.9])
    before = w.copy()
    kmeans_codebook(w, 2)
    assert np.array_equal(w, before)
    with pytest.raises(ValueError, match="finite"):
        kmeans_codebook([1.0, np.nan], 2)
    with pytest.raises(ValueError, match="k must be"):
        kmeans_codebook(w, 0)
    with pytest.raises(ValueError, match="strictly increasing"):
        codebook_assign(w, [1.0, 0.0])
    with pytest.raises(ValueError, match=r"codes must be in \[0, k\) = \[0, 2\).*5"):
        codebook_decode([0, 5], [0.0, 1.0])
    with pytest.raises(ValueError, match="shape of codes"):
        codebook_centroid_grad([1.0], [0, 1], 2)
    assert kmeans_codebook(w, 300).codes.dtype == np.int64
