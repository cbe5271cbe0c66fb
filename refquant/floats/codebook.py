"""Codebook quantization (weight sharing): k-means on the weights, and the gradient of the shared values.

Deep Compression (Han, Mao and Dally, ICLR 2016, section 3): the weights of a
layer are clustered into ``k`` groups by 1-D k-means; each weight is stored
as the index (code) of its cluster, and the layer uses the cluster's
centroid. Fine-tuning updates the centroids with the summed gradient of the
weights of each cluster (their eq. 3), the assignment fixed.

Semantic choices, stated once:

* centroids are kept sorted ascending; a weight goes to the nearest centroid,
  decided against the float64 midpoints ``(c_i + c_{i+1}) / 2``; a weight
  exactly on a midpoint goes to the lower index;
* Lloyd iterations stop when no assignment changes, or after ``max_iter``;
  a cluster that becomes empty keeps its centroid;
* initializations (Han et al. compare the three): ``"linear"``, ``k`` values
  evenly spaced in ``[min w, max w]``; ``"density"``, the quantiles of ``w``
  at levels ``(i + 1/2) / k`` (NumPy's default linear interpolation between
  order statistics); ``"kmeans++"`` (Arthur and Vassilvitskii 2007) with the
  explicit ``rng``: the first centroid a uniformly drawn weight, each next one
  a weight drawn with probability proportional to its squared distance to the
  nearest centroid so far;
* arithmetic in float64 whatever the input; centroids are returned in ``w``'s
  float dtype (float64 for integer input). Codes are uint8 for ``k <= 256``,
  else int64.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, as_int_array, check_choice, check_int, show_values

__all__ = [
    "INITS",
    "CentroidGrad",
    "Codebook",
    "codebook_assign",
    "codebook_centroid_grad",
    "codebook_decode",
    "codebook_decode_vjp",
    "kmeans_codebook",
]

INITS = ("linear", "density", "kmeans++")


class Codebook(NamedTuple):
    """``(centroids, codes)``: the sorted shared values, shape ``(k,)``, and each weight's index."""

    centroids: NDArray[np.floating[Any]]
    codes: NDArray[np.integer[Any]]


class CentroidGrad(NamedTuple):
    """The gradient with respect to the centroids, shape ``(k,)``."""

    grad_centroids: NDArray[np.floating[Any]]


def kmeans_codebook(
    w: ArrayLike,
    k: int,
    *,
    init: str = "linear",
    rng: np.random.Generator | None = None,
    max_iter: int = 100,
) -> Codebook:
    """Cluster the weights into ``k`` shared values by 1-D k-means (Lloyd's algorithm).

    Parameters
    ----------
    w : array_like of float, any shape, non-empty
        Finite weights (NaN or inf raise ``ValueError``); flattened.
    k : int
        Number of shared values, 1 <= k <= 65536; more than the number of
        distinct weights is allowed (some clusters then stay empty).
    init : {"linear", "density", "kmeans++"}
        The initialization (module docstring).
    rng : numpy.random.Generator, optional
        Required for ``"kmeans++"``, ignored otherwise.
    max_iter : int
        Most Lloyd iterations, >= 0 (0 returns the initialization's assignment).

    Returns
    -------
    Codebook
        ``centroids`` sorted, dtype of ``w``; ``codes`` of ``w``'s shape.

    Notes
    -----
    Each iteration: assign ``c(j) = argmin_i |w_j - c_i|`` (by the sorted
    midpoints, ``O(n log k)``), then ``c_i = mean{w_j : c(j) = i}``. The
    objective ``sum_j (w_j - c_{c(j)})**2`` never increases. Source: Han et
    al. 2016, section 3.1; Lloyd 1982.

    Examples
    --------
    >>> book = kmeans_codebook([0.0, 0.1, 0.9, 1.0, 1.1], 2)
    >>> book.centroids.tolist(), book.codes.tolist()
    ([0.05, 1.0], [0, 0, 1, 1, 1])
    """
    x = _weights(w)
    kk = check_int("k", k)
    if not 1 <= kk <= 65536:
        raise ValueError(f"k must be in [1, 65536], got {kk}")
    check_choice("init", init, INITS)
    iters = check_int("max_iter", max_iter)
    if iters < 0:
        raise ValueError(f"max_iter must be >= 0, got {iters}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    flat = x.reshape(-1).astype(np.float64)
    c = _initial(flat, kk, init, rng)
    codes = _assign(flat, c)
    for _ in range(iters):
        sums = np.bincount(codes, weights=flat, minlength=kk)
        counts = np.bincount(codes, minlength=kk)
        c = np.sort(np.where(counts > 0, sums / np.maximum(counts, 1), c))
        new = _assign(flat, c)
        if np.array_equal(new, codes):
            break
        codes = new
    dtype = x.dtype if x.dtype.kind == "f" else np.float64
    return Codebook(c.astype(dtype), codes.reshape(x.shape).astype(_code_dtype(kk)))


def codebook_assign(w: ArrayLike, centroids: ArrayLike) -> NDArray[np.integer[Any]]:
    """The index of the nearest centroid for each weight (ties to the lower index).

    Parameters
    ----------
    w : array_like of float, any shape
        Finite values.
    centroids : array_like of float, shape (k,)
        Strictly increasing and finite (``ValueError`` otherwise).

    Returns
    -------
    ndarray
        ``w``'s shape; uint8 for ``k <= 256``, else int64.

    Notes
    -----
    ``c(j) = #{i : m_i < w_j}`` with ``m_i = (c_i + c_{i+1}) / 2`` in float64.

    Examples
    --------
    >>> codebook_assign([-1.0, 0.5, 0.6, 3.0], [0.0, 1.0]).tolist()
    [0, 0, 1, 1]
    """
    x = _weights(w, allow_empty=True)
    c = _centroids(centroids)
    return _assign(x.reshape(-1).astype(np.float64), c).reshape(x.shape).astype(_code_dtype(c.size))


def codebook_decode(codes: ArrayLike, centroids: ArrayLike) -> NDArray[np.floating[Any]]:
    """The shared value of each code: ``centroids[codes]``.

    Parameters
    ----------
    codes : array_like of int, any shape
        In ``[0, k)`` (``ValueError`` otherwise).
    centroids : array_like of float, shape (k,)
        Any real values (order not required here).

    Returns
    -------
    ndarray
        ``codes``' shape, the centroids' float dtype (float64 for integers).

    Examples
    --------
    >>> codebook_decode([[1, 0], [1, 1]], [-0.5, 2.0]).tolist()
    [[2.0, -0.5], [2.0, 2.0]]
    """
    c = as_float_array("centroids", centroids)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, got shape {c.shape}")
    idx = _codes(codes, c.size)
    return c[idx]


def codebook_centroid_grad(grad_w: ArrayLike, codes: ArrayLike, k: int) -> NDArray[np.float64]:
    """The gradient of the shared values: ``dL/dc_i = sum_{j : c(j) = i} dL/dw_j`` (Han et al. eq. 3).

    Parameters
    ----------
    grad_w : array_like of float
        The gradient with respect to the (decoded) weights, ``codes``' shape.
    codes : array_like of int
        The assignment, in ``[0, k)``.
    k : int
        Number of centroids, in [1, 65536].

    Returns
    -------
    ndarray of float64, shape (k,)
        Zero for empty clusters.

    Examples
    --------
    >>> codebook_centroid_grad([0.5, 1.0, -2.0], [1, 0, 1], 3).tolist()
    [1.0, -1.5, 0.0]
    """
    kk = check_int("k", k)
    if not 1 <= kk <= 65536:
        raise ValueError(f"k must be in [1, 65536], got {kk}")
    return _centroid_grad("grad_w", grad_w, codes, kk)


def _centroid_grad(name: str, grad: ArrayLike, codes: ArrayLike, k: int) -> NDArray[np.float64]:
    g = as_float_array(name, grad)
    idx = _codes(codes, k)
    if g.shape != idx.shape:
        raise ValueError(f"{name} must have the shape of codes {idx.shape}, got {g.shape}")
    sums = np.bincount(idx.reshape(-1), weights=g.reshape(-1).astype(np.float64), minlength=k)
    return sums.astype(np.float64)


def codebook_decode_vjp(g: ArrayLike, codes: ArrayLike, centroids: ArrayLike) -> CentroidGrad:
    """The vjp of :func:`codebook_decode` with respect to the centroids (the codes are integers).

    Parameters
    ----------
    g : array_like of float
        The cotangent, ``codes``' shape.
    codes, centroids
        As :func:`codebook_decode`.

    Returns
    -------
    CentroidGrad
        ``grad_centroids`` of the centroids' shape and float dtype.

    Notes
    -----
    ``y_j = c_{code_j}`` is linear in ``c``: ``(J^T g)_i = sum_{j : code_j = i} g_j``.

    Examples
    --------
    >>> codebook_decode_vjp([1.0, 2.0, 3.0], [0, 0, 1], [0.0, 1.0]).grad_centroids.tolist()
    [3.0, 3.0]
    """
    c = as_float_array("centroids", centroids)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, got shape {c.shape}")
    return CentroidGrad(_centroid_grad("g", g, codes, c.size).astype(c.dtype))


def _initial(flat: NDArray[np.float64], k: int, init: str, rng: np.random.Generator | None) -> NDArray[Any]:
    if init == "linear":
        return np.linspace(flat.min(), flat.max(), k)
    if init == "density":
        return np.sort(np.quantile(flat, (np.arange(k) + 0.5) / k))
    if rng is None:
        raise TypeError("rng must be a numpy.random.Generator for init='kmeans++', got None")
    centers = [flat[rng.integers(flat.size)]]
    d2 = (flat - centers[0]) ** 2
    for _ in range(1, k):
        total = d2.sum()
        if total == 0:  # every weight is on a centre already: repeat one (its cluster stays empty)
            centers.append(centers[-1])
            continue
        j = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
        centers.append(flat[min(j, flat.size - 1)])
        np.minimum(d2, (flat - centers[-1]) ** 2, out=d2)
    return np.sort(np.array(centers))


def _assign(flat: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.int64]:
    mids = (c[:-1] + c[1:]) / 2
    return np.searchsorted(mids, flat, side="left").astype(np.int64)


def _code_dtype(k: int) -> Any:
    return np.uint8 if k <= 256 else np.int64


def _weights(w: ArrayLike, allow_empty: bool = False) -> NDArray[Any]:
    x = as_float_array("w", w)
    if x.size == 0 and not allow_empty:
        raise ValueError("w must not be empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"w must be finite, got {show_values(x[~np.isfinite(x)])}")
    return x


def _centroids(centroids: ArrayLike) -> NDArray[np.float64]:
    c = as_float_array("centroids", centroids).astype(np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
        raise ValueError(f"centroids must be finite and strictly increasing, got {show_values(c)}")
    return c


def _codes(codes: ArrayLike, k: int) -> NDArray[np.int64]:
    idx = as_int_array("codes", codes)
    bad = (idx < 0) | (idx >= k)
    if bad.any():
        raise ValueError(f"codes must be in [0, k) = [0, {k}), got {show_values(idx[bad])}")
    return idx
