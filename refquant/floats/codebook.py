"""Codebook quantization (weight sharing): k-means on the weights, and the gradient of the shared values.

Deep Compression (Han, Mao and Dally, ICLR 2016, section 3): the weights of a
layer are clustered into ``k`` groups by 1-D k-means; each weight is stored
as the index (code) of its cluster, and the layer uses the cluster's
centroid. Fine-tuning updates the centroids with the summed gradient of the
weights of each cluster (their eq. 3), the assignment fixed.

Semantic choices, stated once:

* centroids are returned sorted ascending (non-decreasing: a repeated value is
  possible, e.g. ``k`` larger than the number of distinct weights), so codes
  increase with the weight;
* nearest centroid, decided exactly: ``w`` goes to ``c_i`` or ``c_{i+1}``
  by comparing ``2 w`` with ``c_i + c_{i+1}`` held exactly as a float64 pair
  (TwoSum), no rounded midpoint; a weight exactly halfway, and a weight on
  a repeated centroid, goes to the **lowest index** (NumPy's ``argmin`` rule);
* Lloyd iterations (each centroid the mean of its weights, then each weight
  to its nearest centroid) stop at the first of: no code changes (a fixed
  point); ``max_iter`` iterations; and, for ``tol > 0``, the objective
  ``J = sum_j (w_j - c_{code(j)})**2`` decreasing by at most ``tol * J``
  (a step that would increase ``J``, possible only through rounding, is
  then not taken). ``tol=0`` (default) does not compute ``J``;
* a cluster that becomes empty keeps its centroid;
* each new centroid is the float64 mean rounded to ``w``'s dtype and clipped to
  ``[min w, max w]``, so the returned codes are exactly
  ``codebook_assign(w, centroids)`` for the returned centroids, and ``J``
  never increases from one iteration to the next (the nearest value of the
  dtype to the mean is the best centroid of the dtype for a fixed cluster; up
  to the float64 rounding of the mean);
* initializations (Han et al. compare Forgy, density and linear):
  ``"linear"``, ``numpy.linspace(min w, max w, k)``; ``"density"``, the
  quantiles of ``w`` at levels ``(i + 1/2) / k`` (evenly spaced in the CDF;
  NumPy's default ``method="linear"``, Hyndman and Fan's type 7);
  ``"random"`` (Forgy), ``k`` distinct weights drawn uniformly without
  replacement by ``rng.choice``; ``"kmeans++"`` (Arthur and Vassilvitskii
  2007): the first centroid a uniformly drawn weight (``rng.integers``), each
  next one a weight drawn with probability proportional to its squared
  distance to the nearest centroid so far (one ``rng.random()`` each). Once no
  weight is left off the chosen centroids (or, for ``"random"``, ``k``
  exceeds the number of weights), the last centroid is repeated;
* arithmetic in float64; centroids are returned in ``w``'s float dtype
  (float64 for integer input); codes are uint8 for ``k <= 256``, else int64.
  Squared distances (the objective, the k-means++ weights) are formed on the
  weights scaled by ``2**-e``, ``2**(e-1) <= max |w| < 2**e``, so they cannot
  overflow; when ``n * max |w|`` could overflow a sum, each cluster's sum is
  formed on its weights scaled by the power of two of its own largest one;
  the linear and density initializations of a range wider than float64's are
  computed on ``w / 2``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._exact import two_sum
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

#: The initializations of :func:`kmeans_codebook`; ``"kmeans++"`` and ``"random"`` need ``rng``.
INITS = ("linear", "density", "kmeans++", "random")

F64 = NDArray[np.float64]


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
    tol: float = 0.0,
) -> Codebook:
    """Cluster the weights into ``k`` shared values by 1-D k-means (Lloyd's algorithm).

    Parameters
    ----------
    w : array_like of float, any shape, non-empty
        Finite weights (NaN or inf raise ``ValueError``); flattened in C order.
    k : int
        Number of shared values, 1 <= k <= 65536; more than the number of
        distinct weights is allowed (some clusters then stay empty).
    init : {"linear", "density", "kmeans++", "random"}
        The initialization (module docstring).
    rng : numpy.random.Generator, optional
        Required for ``"kmeans++"`` and ``"random"`` (``TypeError`` if None),
        ignored otherwise.
    max_iter : int
        Most Lloyd iterations, >= 0 (0 returns the initialization and its assignment).
    tol : float
        Relative decrease of the objective below which to stop, finite and >= 0.

    Returns
    -------
    Codebook
        ``centroids``, shape ``(k,)``, sorted, ``w``'s float dtype; ``codes``
        of ``w``'s shape, uint8 (``k <= 256``) or int64, equal to
        ``codebook_assign(w, centroids)``.

    Notes
    -----
    Each iteration: ``c_i <- mean{w_j : code(j) = i}`` (unchanged if empty),
    then ``code(j) = argmin_i |w_j - c_i|``. The weights are sorted once
    (``O(n log n)``); then each cluster is a run of them, so an iteration
    finds the ``k - 1`` boundaries by binary search (``O(k log n)``, exact as
    :func:`codebook_assign`) and the means by segment sums (``O(n)``), no
    ``n x k`` distance matrix. It minimizes

    .. math::

        J(c, \\mathrm{code}) = \\sum_j \\big(w_j - c_{\\mathrm{code}(j)}\\big)^2

    which never increases. Source: Han et al. 2016, section 3.1 (and their
    figure 4 for the initializations); Lloyd, "Least squares quantization in
    PCM", IEEE Trans. IT 28(2), 1982. Deterministic: the same inputs and
    ``rng`` state give bit-identical results.

    Examples
    --------
    >>> book = kmeans_codebook([0.0, 0.1, 0.9, 1.0, 1.1], 2)
    >>> book.centroids.tolist(), book.codes.tolist()
    ([0.05, 1.0], [0, 0, 1, 1, 1])
    """
    x = _weights(w)
    kk = _check_k(k)
    check_choice("init", init, INITS)
    iters = check_int("max_iter", max_iter)
    if iters < 0:
        raise ValueError(f"max_iter must be >= 0, got {iters}")
    rel = _check_tol(tol)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if init in ("kmeans++", "random") and rng is None:
        raise TypeError(f"rng must be a numpy.random.Generator for init={init!r}, got None")
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    flat = x.reshape(-1).astype(np.float64)
    order = np.argsort(flat, kind="stable")
    ws = flat[order]  # sorted: each cluster is a run of ws, and the codes along ws do not decrease
    with np.errstate(over="ignore"):
        ws2 = 2 * ws
    lo, hi = float(ws[0]), float(ws[-1])
    shift = -int(np.frexp(max(-lo, hi))[1])
    scaled = np.ldexp(ws, shift) if rel > 0 else ws  # |scaled| < 1: its squares cannot overflow
    c = np.sort(_to_dtype(_initial(flat, shift, kk, init, rng), dtype))
    counts = _run_counts(ws, ws2, c)  # the codes, as the length of each code's run
    obj = _objective(scaled, shift, c, counts) if rel > 0 else 0.0
    for _ in range(iters):
        means = np.clip(_to_dtype(_run_means(ws, counts), dtype), lo, hi)
        new_c = np.sort(np.where(counts > 0, means, c))
        new_counts = _run_counts(ws, ws2, new_c)
        if np.array_equal(new_counts, counts):  # a fixed point: new_c are the means of these codes
            c = new_c
            break
        if rel > 0:
            new_obj = _objective(scaled, shift, new_c, new_counts)
            if new_obj > obj:  # only rounding can do this: keep the better state
                break
            c, counts, done, obj = new_c, new_counts, obj - new_obj <= rel * obj, new_obj
            if done:
                break
        c, counts = new_c, new_counts
    code_dtype = _code_dtype(kk)
    codes = np.empty(flat.size, code_dtype)
    codes[order] = np.repeat(np.arange(kk, dtype=code_dtype), counts)
    return Codebook(c.astype(dtype), codes.reshape(x.shape))


def codebook_assign(w: ArrayLike, centroids: ArrayLike) -> NDArray[np.integer[Any]]:
    """The index of the nearest centroid for each weight: ``argmin_i |w_j - c_i|``, ties to the lowest index.

    Parameters
    ----------
    w : array_like of float, any shape
        Finite values (NaN or inf raise ``ValueError``); may be empty.
    centroids : array_like of float, shape (k,)
        Finite and sorted non-decreasing (``ValueError`` otherwise; sort them
        and remap the codes with the permutation); repeated values allowed.

    Returns
    -------
    ndarray
        ``w``'s shape; uint8 for ``k <= 256``, else int64.

    Notes
    -----
    .. math::

        q(w) = \\#\\{\\, i : c_i + c_{i+1} < 2w \\,\\}, \\qquad
        \\mathrm{code}(w) = \\min\\{\\, i : c_i = c_{q(w)} \\,\\}

    ``c_i + c_{i+1}`` is held exactly as ``s + e`` (Knuth's TwoSum) and
    compared with ``2w`` (exact): ``s < 2w`` or ``s == 2w`` and ``e < 0``.
    So the result is the exact nearest centroid, with no rounded
    midpoint deciding (float64 ``(a + b) / 2`` can round onto the weight);
    for centroids beyond ``2**1022`` in magnitude the halves are added
    instead (exact unless a neighbour is an odd multiple of ``2**-1074``).

    Examples
    --------
    >>> codebook_assign([-1.0, 0.5, 0.6, 3.0], [0.0, 1.0]).tolist()  # 0.5 is halfway: the lower index
    [0, 0, 1, 1]
    >>> codebook_assign([0.2, 1.0], [0.0, 1.0, 1.0]).tolist()  # a repeated centroid: its first index
    [0, 1]
    """
    x = _weights(w, allow_empty=True)
    c = as_float_array("centroids", centroids).astype(np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(np.diff(c) < 0):
        raise ValueError(
            f"centroids must be finite and sorted (non-decreasing), got {show_values(c)}; "
            "sort them (numpy.argsort) and remap the codes"
        )
    return _assign_sorted(x.reshape(-1).astype(np.float64), c).reshape(x.shape).astype(_code_dtype(c.size))


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
    """The gradient of the shared values: ``dL/dc_i = sum_{j : code(j) = i} dL/dw_j`` (Han et al. eq. 3).

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
        Summed in float64 (``numpy.bincount``, in C order); zero for empty clusters.

    Examples
    --------
    >>> codebook_centroid_grad([0.5, 1.0, -2.0], [1, 0, 1], 3).tolist()
    [1.0, -1.5, 0.0]
    """
    return _centroid_grad("grad_w", grad_w, codes, _check_k(k))


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
        ``grad_centroids`` of the centroids' shape and float dtype (float64 for integers).

    Notes
    -----
    ``y_j = c_{code_j}`` is linear in ``c``: ``(J^T g)_i = sum_{j : code_j = i} g_j``,
    :func:`codebook_centroid_grad` rounded to the centroids' dtype.

    Examples
    --------
    >>> codebook_decode_vjp([1.0, 2.0, 3.0], [0, 0, 1], [0.0, 1.0]).grad_centroids.tolist()
    [3.0, 3.0]
    """
    c = as_float_array("centroids", centroids)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"centroids must be a non-empty 1-D array, got shape {c.shape}")
    return CentroidGrad(_centroid_grad("g", g, codes, c.size).astype(c.dtype))


# --------------------------------------------------------------------------- internals


def _centroid_grad(name: str, grad: ArrayLike, codes: ArrayLike, k: int) -> F64:
    g = as_float_array(name, grad)
    idx = _codes(codes, k)
    if g.shape != idx.shape:
        raise ValueError(f"{name} must have the shape of codes {idx.shape}, got {g.shape}")
    sums = np.bincount(idx.reshape(-1), weights=g.reshape(-1).astype(np.float64), minlength=k)
    return sums.astype(np.float64)


def _initial(flat: F64, shift: int, k: int, init: str, rng: np.random.Generator | None) -> F64:
    if init in ("linear", "density"):
        levels = (np.arange(k) + 0.5) / k
        with np.errstate(over="ignore", invalid="ignore"):
            c = np.linspace(flat.min(), flat.max(), k) if init == "linear" else np.quantile(flat, levels)
            if not np.all(np.isfinite(c)):  # max - min overflows float64: the same steps on w / 2
                half = flat / 2
                c = 2 * (
                    np.linspace(half.min(), half.max(), k) if init == "linear" else np.quantile(half, levels)
                )
        return c
    assert rng is not None
    if init == "random":
        chosen = flat[rng.choice(flat.size, size=min(k, flat.size), replace=False)]
        return np.concatenate([chosen, np.full(k - chosen.size, chosen[-1])])
    centers = np.empty(k)
    scaled = np.ldexp(flat, shift)
    first = int(rng.integers(flat.size))
    centers[0] = flat[first]
    d2 = (scaled - scaled[first]) ** 2
    for i in range(1, k):  # k steps of O(n) each (Arthur and Vassilvitskii's D^2 sampling)
        cum = np.cumsum(d2)
        if cum[-1] == 0:  # every weight is on a centre already: repeat the last (its cluster stays empty)
            centers[i:] = centers[i - 1]
            break
        j = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))  # d2[j] > 0
        j = min(j, flat.size - 1)
        centers[i] = flat[j]
        np.minimum(d2, (scaled - scaled[j]) ** 2, out=d2)
    return centers


def _assign_sorted(flat: F64, c: F64) -> NDArray[np.int64]:
    """Exact nearest index into sorted ``c`` (lowest index on ties and repeats)."""
    if c.size == 1:
        return np.zeros(flat.shape, np.int64)
    with np.errstate(over="ignore"):
        if np.abs(c).max() > 2.0**1022:  # c_i + c_{i+1} could overflow: compare w with the halves' sum
            s, e = two_sum(c[:-1] / 2, c[1:] / 2)
            v = flat
        else:
            s, e = two_sum(c[:-1], c[1:])
            v = 2 * flat  # exact; an overflow to ±inf still compares correctly
    left = np.searchsorted(s, v, side="left")
    right = np.searchsorted(s, v, side="right")
    neg = np.concatenate([[0], np.cumsum(e < 0)])  # among the s == v, those with s + e < v
    q = left + neg[right] - neg[left]
    first = np.searchsorted(c, c, side="left")  # the first index of each value
    return first[q].astype(np.int64)


def _run_counts(ws: F64, ws2: F64, c: F64) -> NDArray[np.int64]:
    """How many of the sorted weights ``ws`` (``ws2 = 2 ws``) go to each sorted centroid (exact)."""
    n, k = ws.size, c.size
    if k == 1:
        return np.array([n], np.int64)
    if max(-c[0], c[-1]) > 2.0**1022:  # as _assign_sorted
        s, e = two_sum(c[:-1] / 2, c[1:] / 2)
        v = ws
    else:
        s, e = two_sum(c[:-1], c[1:])
        v = ws2
    below = np.where(e < 0, np.searchsorted(v, s, side="left"), np.searchsorted(v, s, side="right"))
    runs = np.diff(below, prepend=0, append=n)  # #{w <= midpoint_i} - #{w <= midpoint_(i-1)}
    first = np.searchsorted(c, c, side="left")  # a repeated centroid's weights go to its first index
    return np.bincount(first, weights=runs, minlength=k).astype(np.int64)


def _run_means(ws: F64, counts: NDArray[np.int64]) -> F64:
    """Each non-empty run's mean (0 for empty ones); sums scaled per run when they could overflow."""
    nz = counts > 0
    starts = (np.cumsum(counts) - counts)[nz]
    means = np.zeros(counts.size)
    if float(max(-ws[0], ws[-1])) * ws.size < 2.0**1000:
        means[nz] = np.add.reduceat(ws, starts) / counts[nz]
        return means
    big = np.maximum(np.abs(ws[starts]), np.abs(ws[starts + counts[nz] - 1]))  # the run's largest |w|
    e = np.frexp(big)[1]
    sums = np.add.reduceat(np.ldexp(ws, -np.repeat(e, counts[nz])), starts)
    means[nz] = np.ldexp(sums / counts[nz], e)
    return means


def _objective(scaled: F64, shift: int, c: F64, counts: NDArray[np.int64]) -> float:
    """``J * 4**shift`` (``scaled = sorted w * 2**shift``): a power of two times ``J``, without overflow."""
    return float(np.sum((scaled - np.repeat(np.ldexp(c, shift), counts)) ** 2))


def _to_dtype(c: F64, dtype: np.dtype[Any]) -> F64:
    return c.astype(dtype).astype(np.float64)


def _code_dtype(k: int) -> Any:
    return np.uint8 if k <= 256 else np.int64


def _check_k(k: Any) -> int:
    kk = check_int("k", k)
    if not 1 <= kk <= 65536:
        raise ValueError(f"k must be in [1, 65536], got {kk}")
    return kk


def _check_tol(tol: Any) -> float:
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.integer, np.floating)):
        raise TypeError(f"tol must be a real number, got {tol!r}")
    t = float(tol)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"tol must be finite and >= 0, got {tol!r}")
    return t


def _weights(w: ArrayLike, allow_empty: bool = False) -> NDArray[Any]:
    x = as_float_array("w", w)
    if x.size == 0 and not allow_empty:
        raise ValueError(f"w must not be empty, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"w must be finite, got {show_values(x[~np.isfinite(x)])}")
    return x


def _codes(codes: ArrayLike, k: int) -> NDArray[np.int64]:
    idx = as_int_array("codes", codes)
    bad = (idx < 0) | (idx >= k)
    if bad.any():
        raise ValueError(f"codes must be in [0, k) = [0, {k}), got {show_values(idx[bad])}")
    return idx
