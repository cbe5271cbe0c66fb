"""Tie-dense weights for pruning: :func:`mask_inputs` and :func:`nm_inputs` (re-exported by
:mod:`refquant.check.inputs`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import as_dtype, check_int, normalize_axis

__all__ = ["check_generator", "mask_inputs", "nm_inputs"]

#: Largest number of elements a generated weight may have.
MAX_SIZE = 2**26
_STEP = 0.125  # magnitudes are multiples of 1/8: exact in float16 and up, sums and squares exact too
_MAX_LEVELS = 64


def check_generator(rng: object) -> np.random.Generator:
    """``rng`` itself, or ``TypeError`` unless it is a :class:`numpy.random.Generator`."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {rng!r}"
        )
    return rng


def _shape(shape: Any, *, min_ndim: int = 0) -> tuple[int, ...]:
    items = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else shape
    if not isinstance(items, (tuple, list)):
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}")
    dims = tuple(check_int("shape", d) for d in items)
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must hold sizes >= 0, got {shape!r}")
    if len(dims) < min_ndim:
        raise ValueError(f"shape must have at least {min_ndim} dimension(s), got {shape!r}")
    if math.prod(dims) > MAX_SIZE:
        raise ValueError(f"shape must hold at most {MAX_SIZE} elements, got {shape!r}")
    return dims


def _levels(levels: Any) -> int:
    n = check_int("levels", levels)
    if not 1 <= n <= _MAX_LEVELS:
        raise ValueError(f"levels must lie in [1, {_MAX_LEVELS}], got {levels}")
    return n


def _signed(mag: NDArray[np.int64], rng: np.random.Generator, dt: np.dtype[Any]) -> NDArray[Any]:
    """``±mag / 8`` with random signs; a zero magnitude gives +0 or -0."""
    sign = np.where(rng.random(mag.shape) < 0.5, -1.0, 1.0)
    return np.asarray(sign * mag * _STEP).astype(dt)  # a fresh C-ordered array, 0-d kept


def mask_inputs(
    shape: int | tuple[int, ...],
    *,
    rng: np.random.Generator,
    dtype: Any = np.float32,
    levels: int = 4,
    axis: int | None = None,
) -> NDArray[Any]:
    """Weights for pruning tests with many exactly equal magnitudes: ``±j / 8``, ``j = 0 .. levels``.

    Parameters
    ----------
    shape : int or tuple of int
        The weight's shape, at most ``2**26`` elements (``ndim >= 1`` with ``axis``).
    rng : numpy.random.Generator
        Draws the magnitudes, signs and (with ``axis``) the slices' order.
    dtype : float16, float32 or float64
    levels : int
        Number of distinct nonzero magnitudes, in ``[1, 64]``.
    axis : int, optional
        None: every entry independently, magnitude ``j / 8`` with ``j`` uniform in
        ``0 .. levels`` and a random sign (so ``+0`` and ``-0`` both appear). An
        int: the structured variant for slice pruning (``w[..., i, ...]`` along
        ``axis``): every slice is a random signed permutation of one of
        ``levels`` template slices, so slices sharing a template have exactly
        equal Lp norms for every ``p``.

    Returns
    -------
    ndarray of ``dtype``, shape ``shape``

    Notes
    -----
    With a handful of magnitudes among many entries, whatever the amount, the
    pruning threshold (the ``k``-th smallest ``|w|``) is shared by several
    entries: the tie policy (lowest index, keep all ties, prune all ties) and
    the count rule decide the mask. The values are multiples of 1/8, so their
    sums and sums of squares are exact in float32 up to ``2**18`` and norms tie
    exactly, whatever the summation order. Deterministic in ``rng``'s state.

    Examples
    --------
    >>> w = mask_inputs((3, 4), rng=np.random.default_rng(0), levels=2)
    >>> sorted(set(np.abs(w).ravel().tolist()))
    [0.0, 0.125, 0.25]
    >>> w = mask_inputs((6, 5), rng=np.random.default_rng(1), axis=0)  # 6 rows, at most 4 templates
    >>> np.sum(w**2, axis=1).tolist()  # squared L2 norms of the rows: equal within a template
    [0.265625, 0.265625, 0.265625, 0.59375, 0.265625, 0.53125]
    """
    gen = check_generator(rng)
    dims = _shape(shape, min_ndim=0 if axis is None else 1)
    dt = as_dtype("dtype", dtype)
    n = _levels(levels)
    if axis is None:
        return _signed(gen.integers(0, n, dims, endpoint=True), gen, dt)
    ax = normalize_axis("axis", axis, len(dims))
    slices = dims[ax]
    rest = dims[:ax] + dims[ax + 1 :]
    size = math.prod(rest)
    templates = gen.integers(0, n, (n, size), endpoint=True)
    which = gen.integers(0, n, slices)
    perm = np.argsort(gen.random((slices, size)), axis=1)
    mags = np.take_along_axis(templates[which], perm, axis=1)
    w = _signed(mags, gen, dt).reshape((slices, *rest))
    return np.ascontiguousarray(np.moveaxis(w, 0, ax))


def nm_inputs(
    shape: int | tuple[int, ...],
    n: int,
    m: int,
    *,
    rng: np.random.Generator,
    axis: int = -1,
    dtype: Any = np.float32,
) -> NDArray[Any]:
    """Weights where every group of ``m`` along ``axis`` ties across the boundary of its ``n`` largest.

    Parameters
    ----------
    shape : int or tuple of int
        ``ndim >= 1``, at most ``2**26`` elements.
    n : int
        Entries kept per group (``n_keep`` of :func:`refquant.prune.nm_mask`), ``0 <= n <= m``.
    m : int
        Group size, ``1 <= m <= 2**16``.
    rng : numpy.random.Generator
        Draws the values and their positions.
    axis : int
        The axis the groups of ``m`` consecutive entries run along.
    dtype : float16, float32 or float64

    Returns
    -------
    ndarray of ``dtype``, shape ``shape``

    Notes
    -----
    In every group of ``g`` entries (``g = m``, or the tail ``r < m`` at the
    end of the axis) that keeps ``n' = min(n, g)`` with ``0 < n' < g``: ``a``
    entries have a larger magnitude (``a`` uniform in ``[0, n')``), ``t`` equal
    ones tie at the boundary magnitude 1/2 (``t`` uniform in ``[n' - a + 1, g - a]``,
    so the tie straddles rank ``n'``: ``a < n' < a + t``), and the rest are
    smaller (0 to 3/8, so ±0 appear); positions and signs are random. Which
    tied entries a pruner keeps is then its tie rule (refquant prunes the
    lowest index first). Groups with ``n' = 0`` or ``n' = g`` get magnitudes
    ``j / 8``, ``j`` uniform in ``0 .. 7``. Deterministic in ``rng``'s state.

    Examples
    --------
    >>> w = nm_inputs((2, 8), 2, 4, rng=np.random.default_rng(0))
    >>> g = np.sort(np.abs(w).reshape(2, 2, 4), axis=-1)  # each group sorted by magnitude
    >>> bool(np.all(g[..., 1] == g[..., 2]))  # the 2nd and 3rd smallest tie: rank 2 of 4 is split
    True
    """
    gen = check_generator(rng)
    dims = _shape(shape, min_ndim=1)
    mm = check_int("m", m)
    if not 1 <= mm <= 2**16:
        raise ValueError(f"m must lie in [1, 65536], got {m}")
    nn = check_int("n", n)
    if not 0 <= nn <= mm:
        raise ValueError(f"n must lie in [0, m={mm}], got {n}")
    ax = normalize_axis("axis", axis, len(dims))
    dt = as_dtype("dtype", dtype)
    moved = (*dims[:ax], *dims[ax + 1 :], dims[ax])
    rows = math.prod(moved[:-1])
    length = moved[-1]
    full, r = divmod(length, mm)
    mags = np.zeros((rows, length), np.int64)
    if full:
        mags[:, : full * mm] = _groups(rows * full, mm, nn, gen).reshape(rows, full * mm)
    if r:
        mags[:, full * mm :] = _groups(rows, r, min(nn, r), gen)
    w = _signed(mags, gen, dt).reshape(moved)
    return np.ascontiguousarray(np.moveaxis(w, -1, ax))


def _groups(count: int, g: int, keep: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """``(count, g)`` magnitudes (in eighths) whose rank-``keep`` boundary is a tie at 4/8."""
    if not 0 < keep < g:
        return rng.integers(0, 8, (count, g))
    a = rng.integers(0, keep, (count, 1))
    t = rng.integers(keep - a + 1, g - a + 1)
    rank = np.argsort(np.argsort(rng.random((count, g)), axis=1), axis=1)
    larger = rng.integers(5, 8, (count, g))
    smaller = rng.integers(0, 4, (count, g))
    return np.where(rank < a, larger, np.where(rank < a + t, 4, smaller))
