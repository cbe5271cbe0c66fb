"""Pattern masks: N:M (semi-structured) and 2-D blocks.

**N:M naming.** ``nm_mask(w, n_keep, m)`` keeps ``n_keep`` of every ``m``
consecutive entries: "2:4" is ``n_keep=2, m=4``. That is how NVIDIA names it
(Ampere "2:4 structured sparsity": at most 2 nonzeros in every group of 4;
ASP's ``m4n2_1d`` pattern has ``n=2`` ones out of ``m=4``), how PyTorch's
semi-structured sparsity (``torch.sparse.to_sparse_semi_structured``, "2:4")
names it, and how Zhou et al. 2021 ("N:M fine-grained structured sparsity":
N nonzeros out of M) define it. Wanda's and SparseGPT's code instead pass
``prune_n, prune_m`` with ``prune_n`` the number **pruned** per group: the same
for 2:4 and 4:8, the complement for 1:4 (their ``1:4`` is ``n_keep=3, m=4``).
Groups run along ``axis``; for a Linear weight ``(out, in)`` the hardware
pattern is along the input axis (``axis=-1``), as ASP prunes it.

**Tail.** When ``w.shape[axis]`` is not a multiple of ``m`` the last group has
``r < m`` entries. ``tail="pad"`` (default) treats it as padded with pruned
entries up to ``m``: it keeps the ``min(n_keep, r)`` largest, so the padded
group satisfies ``n_keep:m``. That is ASP's ``reshape_1d`` (zero padding; ASP
itself skips layers whose shapes are not multiples of (8, 16), and PyTorch's
semi-structured tensors require multiples of the tile). ``tail="dense"``
keeps the tail whole, ``tail="error"`` raises ``ValueError``.

**Blocks.** ``block_mask`` prunes whole ``h x w`` blocks of a 2-D weight by a
pooled score, average or max of ``|w|`` (TF-MOT's ``block_size`` and
``block_pooling_type``). Partial blocks at the bottom and right edges are
pooled over the entries they contain (``edge="present"``, default) or as if
padded with zeros to the full block (``edge="zero_pad"``: TF-MOT pools with
``padding='SAME'``, whose average excludes the padding, like ``"present"``).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis
from refquant.prune.masks import (
    COUNT_RULES,
    RELATIVE_TO,
    TIE_POLICIES,
    CountRule,
    FloatArray,
    Mask,
    RelativeTo,
    TiePolicy,
    _pruned,
    _score_array,
    check_amount,
    existing_as_bool,
)

__all__ = ["NM_TAILS", "block_mask", "nm_mask"]

NMTail = Literal["pad", "dense", "error"]
NM_TAILS = ("pad", "dense", "error")
BlockPool = Literal["avg", "max"]
BlockEdge = Literal["present", "zero_pad"]


def nm_mask(
    w: ArrayLike,
    n_keep: int,
    m: int,
    axis: int = -1,
    *,
    scores: ArrayLike | None = None,
    tail: NMTail = "pad",
) -> Mask:
    """Keep the ``n_keep`` largest ``|w|`` of every ``m`` consecutive entries along ``axis``.

    Parameters
    ----------
    w : array_like of float, ``ndim >= 1``
    n_keep : int
        Entries kept per group, ``0 <= n_keep <= m`` ("2:4" is ``n_keep=2, m=4``).
    m : int
        Group size, ``m >= 1``.
    axis : int
        Axis along which groups of ``m`` consecutive entries are formed.
    scores : array_like of float, shape of ``w``, optional
        Used as given instead of ``|w|`` (e.g. Wanda's ``|W| * ||X||``).
    tail : {"pad", "dense", "error"}
        The last group when ``m`` does not divide ``w.shape[axis]`` (module docstring).

    Returns
    -------
    ndarray of bool, shape of ``w``
        Exactly ``n_keep`` ``True`` in every full group; ``min(n_keep, r)`` in
        a tail of ``r`` entries under ``"pad"``.

    Notes
    -----
    .. math:: m_{g,j} = [\\operatorname{rank}_g(s_{g,j}) \\ge m - n]

    with the rank of entry ``j`` in its group ``g`` given by a stable sort of
    the ``m`` scores: among equal scores the lowest index is pruned first (the
    ``"lowest_index"`` policy of :mod:`refquant.prune.masks`). Sorting is within
    groups only, O(n log m). Source: Mishra et al. 2021, "Accelerating sparse
    deep neural networks" (NVIDIA ASP); Zhou et al. 2021.

    Examples
    --------
    >>> w = np.array([[0.1, -0.9, 0.4, 0.3, 0.2, -0.5]])
    >>> nm_mask(w, 2, 4).astype(int).tolist()  # group [0.1 .9 .4 .3] keeps .9 .4; tail [.2 .5] keeps both
    [[0, 1, 1, 0, 1, 1]]
    >>> nm_mask(w, 1, 4).astype(int).tolist()  # tail keeps min(1, 2) = 1
    [[0, 1, 0, 0, 0, 1]]
    """
    wa = as_float_array("w", w)
    if wa.ndim == 0:
        raise ValueError("w must have at least 1 dimension for N:M masks, got a 0-d array")
    for name, v in (("m", m), ("n_keep", n_keep)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if not 0 <= n_keep <= m:
        raise ValueError(f"n_keep must lie in [0, m={m}], got {n_keep}")
    check_choice("tail", tail, NM_TAILS)
    ax = normalize_axis("axis", axis, wa.ndim)
    s = np.moveaxis(_score_array(wa, scores), ax, -1)
    length = s.shape[-1]
    full, r = divmod(length, m)
    if r and tail == "error":
        raise ValueError(f"w.shape[axis]={length} is not a multiple of m={m} (tail='error')")
    keep = np.ones(s.shape, dtype=bool)
    if full:
        groups = s[..., : full * m].reshape(*s.shape[:-1], full, m)
        keep[..., : full * m] = _keep_largest(groups, int(n_keep)).reshape(*s.shape[:-1], full * m)
    if r and tail == "pad":
        keep[..., full * m :] = _keep_largest(s[..., full * m :], min(int(n_keep), r))
    return np.ascontiguousarray(np.moveaxis(keep, -1, ax))


def _keep_largest(groups: FloatArray, n: int) -> Mask:
    """Along the last axis keep the ``n`` largest; a stable sort prunes the lowest index first on ties."""
    order = np.argsort(groups, axis=-1, kind="stable")
    keep = np.ones(groups.shape, dtype=bool)
    np.put_along_axis(keep, order[..., : groups.shape[-1] - n], False, axis=-1)
    return keep


def block_mask(
    w: ArrayLike,
    amount: float,
    block_shape: tuple[int, int],
    *,
    pool: BlockPool = "avg",
    edge: BlockEdge = "present",
    scores: ArrayLike | None = None,
    existing_mask: ArrayLike | None = None,
    relative_to: RelativeTo = "remaining",
    count_rule: CountRule = "round",
    ties: TiePolicy = "lowest_index",
) -> Mask:
    """Prune the ``k`` ``h x w`` blocks of a 2-D weight with the smallest pooled ``|w|``.

    Parameters
    ----------
    w : array_like of float, shape ``(H, W)``
    amount : int or float
        Count or fraction **of blocks** (``ceil(H/h) * ceil(W/w)`` of them, edge
        blocks included); with partial edge blocks the fraction of weights
        pruned differs from the fraction of blocks.
    block_shape : (int, int)
        ``(h, w)``, both ``>= 1``; blocks tile the weight from its top-left corner.
    pool : {"avg", "max"}
        Block score: mean or max of the entries' ``|w|`` (or ``scores``).
    edge : {"present", "zero_pad"}
        Partial edge blocks: pool over the entries present, or as if padded
        with zero scores to ``h x w`` (their average is then
        ``sum / (h * w)``, so edge blocks go first).
    scores : array_like of float, shape ``(H, W)``, optional
        Per-entry scores pooled as given instead of ``|w|``.
    existing_mask : array_like of bool, optional
        A block remains while any of its entries is unpruned; pruned entries
        contribute a zero score (they still count in the average).
    relative_to, count_rule, ties
        As in :func:`refquant.prune.masks.unstructured_mask`, on blocks in
        row-major block order.

    Returns
    -------
    ndarray of bool, shape ``(H, W)``

    Notes
    -----
    .. math:: S_{IJ} = \\frac{1}{|B_{IJ}|} \\sum_{(i,j) \\in B_{IJ}} |w_{ij}|
              \\quad\\text{or}\\quad \\max_{(i,j) \\in B_{IJ}} |w_{ij}|

    pooled in float64. Source: Narang et al. 2017, "Block-sparse recurrent
    neural networks"; TF-MOT ``prune_low_magnitude(block_size=...,
    block_pooling_type=...)``.

    A ``block_shape`` larger than the weight is clipped to it (one block
    along that axis; ``"zero_pad"`` still divides by the full ``h * w``):
    nothing is padded, memory stays proportional to ``w``. Scores are pooled
    in float64, sums scaled by a power of two when they could overflow (the
    ranking is unchanged), so finite scores give finite block scores. NaN
    scores raise ``ValueError``; ``±inf`` are ordinary values (a block holding
    both raises).

    Examples
    --------
    >>> w = np.array([[1.0, 1.0, 0.1], [1.0, 1.0, 0.1], [0.2, 0.2, 9.0]])
    >>> block_mask(w, 2, (2, 2)).astype(int).tolist()  # block averages [[1, 0.1], [0.2, 9]]
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    wa = as_float_array("w", w)
    if wa.ndim != 2:
        raise ValueError(f"w must be 2-D for block masks, got shape {wa.shape}")
    if (
        not isinstance(block_shape, (tuple, list))
        or len(block_shape) != 2
        or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1 for b in block_shape)
    ):
        raise ValueError(f"block_shape must be two ints >= 1, got {block_shape!r}")
    check_choice("pool", pool, ("avg", "max"))
    check_choice("edge", edge, ("present", "zero_pad"))
    check_choice("relative_to", relative_to, RELATIVE_TO)
    check_choice("count_rule", count_rule, COUNT_RULES)
    check_choice("ties", ties, TIE_POLICIES)
    check_amount(amount)
    s = _score_array(wa, scores)
    existing = existing_as_bool("existing_mask", existing_mask, wa.shape)
    if existing is not None:
        s = np.where(existing, s, 0)
    (rows, cols), (bh, bw) = wa.shape, (int(block_shape[0]), int(block_shape[1]))
    # a block larger than the weight is clipped to it: the same tiling, no padding (memory O(H W))
    eh, ew = min(bh, max(rows, 1)), min(bw, max(cols, 1))
    nb_r, nb_c = math.ceil(rows / eh), math.ceil(cols / ew)
    size_r, size_c = _block_sizes(rows, eh, nb_r), _block_sizes(cols, ew, nb_c)
    block_scores = _pool(s, eh, ew, nb_r, nb_c, pool)
    if pool == "max" and edge == "zero_pad":  # partial blocks also hold padding zeros
        partial = np.outer(size_r, size_c) < bh * bw
        block_scores = np.where(partial, np.maximum(block_scores, 0.0), block_scores)
    elif pool == "avg":
        sizes = (
            np.outer(size_r, size_c) if edge == "present" else np.full((nb_r, nb_c), float(bh) * float(bw))
        )
        block_scores = block_scores / sizes
    if np.isnan(block_scores).any():
        raise ValueError("scores give a NaN block average (a block holds both +inf and -inf)")
    alive = None
    if existing is not None:
        alive = np.zeros((nb_r, nb_c), dtype=bool)
        if alive.size:
            alive = np.logical_or.reduceat(
                np.logical_or.reduceat(existing, np.arange(0, cols, ew), axis=1),
                np.arange(0, rows, eh),
                axis=0,
            )
    pruned = _pruned(block_scores, alive, amount, relative_to, count_rule, ties)
    keep = np.repeat(np.repeat(~pruned, size_r, axis=0), size_c, axis=1)
    if existing is not None:
        keep &= existing
    return np.ascontiguousarray(keep)


def _pool(s: FloatArray, eh: int, ew: int, nb_r: int, nb_c: int, pool: str) -> NDArray[np.float64]:
    """Max, or sum, of every ``eh x ew`` block in float64; sums scaled by a power of two if need be.

    Only the ranking of the block scores matters, and a power of two keeps it
    exactly (it only shifts exponents; values below ``2**-1000`` times the
    largest may be flushed).
    """
    if nb_r == 0 or nb_c == 0:
        return np.zeros((nb_r, nb_c))
    x = np.asarray(s, dtype=np.float64)
    starts_r, starts_c = np.arange(0, s.shape[0], eh), np.arange(0, s.shape[1], ew)
    if pool == "max":
        return np.asarray(np.maximum.reduceat(np.maximum.reduceat(x, starts_c, axis=1), starts_r, axis=0))
    top = float(np.max(np.abs(x)))
    if not math.isfinite(top):
        finite = np.abs(x[np.isfinite(x)])
        top = float(finite.max()) if finite.size else 0.0
    shift = int(np.frexp(top)[1]) + (eh * ew).bit_length() - 1020
    if shift > 0:
        x = np.ldexp(x, -shift)
    with np.errstate(invalid="ignore"):  # inf - inf: reported by the caller
        return np.asarray(np.add.reduceat(np.add.reduceat(x, starts_c, axis=1), starts_r, axis=0))


def _block_sizes(length: int, b: int, nb: int) -> NDArray[np.int64]:
    sizes = np.full(nb, b, dtype=np.int64)
    if nb and length % b:
        sizes[-1] = length % b
    return sizes
