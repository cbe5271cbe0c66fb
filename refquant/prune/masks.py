"""Pruning masks: unstructured, random and structured (Ln norm of slices).

A mask is a boolean array of the weight's shape, ``True`` = kept. Every mask
function prunes the entries (or slices) with the **smallest** scores, ``|w|``
unless ``scores`` are given, and makes each choice the pruning libraries
disagree on an explicit keyword argument:

* ``amount`` -- a ``float`` in ``[0, 1]`` is a fraction, an ``int >= 0`` a
  count (PyTorch's convention, validated as ``torch.nn.utils.prune`` does:
  ``TypeError`` for a non-real or a bool, ``ValueError`` for a float outside
  ``[0, 1]`` or NaN, a negative int, or an int larger than what can be pruned);
* ``count_rule`` -- how a fraction becomes a count ``k`` (:func:`pruned_count`):
  ``"round"`` (Python's ``round(amount * n)``, half to even: PyTorch),
  ``"floor"`` (``int(amount * n)``: NNI, Wanda, Distiller) or ``"ceil"``;
  the product is the float64 ``amount * n``;
* ``ties`` -- which entries go when scores are equal at the threshold:

  ====================  ==============================  ==========================================
  value                 pruned                          as in
  ====================  ==============================  ==========================================
  ``"lowest_index"``    exactly ``k``; among equal      refquant's default: deterministic and exact
                        scores the lowest flat indices  (PyTorch's ``topk`` picks an unspecified
                        first                           subset, see :mod:`refquant.interop.torch.prune`)
  ``"keep"``            ``score < t_{k+1}``: at most    TF-MOT (``abs(w) >= threshold`` kept,
                        ``k``, every tie is kept        threshold = smallest kept magnitude)
  ``"prune"``           ``score <= t_k``: at least      NNI's level/AGP pruners and Distiller
                        ``k``, every tie is pruned      (``abs(w) > threshold`` kept, threshold
                                                        = largest of the ``k`` smallest)
  ====================  ==============================  ==========================================

  where ``t_j`` is the ``j``-th smallest score. On tie-free scores the three
  agree. (TF-MOT rounds the *kept* count, ``round(float32(n) * (1 - s))``:
  pass ``amount = n - kept`` as an int to reproduce it. Wanda's per-output
  pruning is a stable sort of each row with ``int(n * s)`` pruned:
  ``axis=1, count_rule="floor"`` with the default ``"lowest_index"``.);
* ``existing_mask`` and ``relative_to`` -- with an existing mask, entries it
  prunes stay pruned and the new ones are chosen among the others.
  ``relative_to="remaining"`` (default, PyTorch's iterative pruning) takes the
  count relative to the still unpruned entries: two rounds of 0.5 prune 0.75.
  ``relative_to="total"`` (TF-MOT's sparsity target) takes it relative to the
  whole tensor: the result prunes ``max(k, already pruned)`` entries in total,
  so pruning again with the same amount changes nothing.

Selection is O(n): ``np.partition`` for one tensor, a radix (histogram) search
over the float bit patterns for several
(:func:`refquant.prune.masks_global.global_masks`); the only sort
is ``np.flatnonzero`` order of the tied candidates. NaN scores raise
``ValueError``; ``±inf`` are ordinary values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis, show_values
from refquant.prune import _checks

__all__ = [
    "COUNT_RULES",
    "RELATIVE_TO",
    "TIE_POLICIES",
    "pruned_count",
    "random_mask",
    "structured_mask",
    "unstructured_mask",
]

CountRule = Literal["round", "floor", "ceil"]
TiePolicy = Literal["lowest_index", "keep", "prune"]
RelativeTo = Literal["remaining", "total"]
COUNT_RULES = ("round", "floor", "ceil")
TIE_POLICIES = ("lowest_index", "keep", "prune")
RELATIVE_TO = ("remaining", "total")

Mask = NDArray[np.bool_]
FloatArray = NDArray[np.floating[Any]]


def pruned_count(amount: float, n: int, *, count_rule: CountRule = "round") -> int:
    """Number of entries to prune out of ``n``: ``amount`` if an int, else ``rule(amount * n)``.

    Parameters
    ----------
    amount : int or float
        An ``int >= 0`` is a count (at most ``n``); a ``float`` in ``[0, 1]`` a
        fraction. ``bool`` is rejected.
    n : int
        Number of prunable entries, ``n >= 0``.
    count_rule : {"round", "floor", "ceil"}
        Applied to the float64 product ``amount * n``. ``"round"`` is Python's
        ``round``: half to even, as PyTorch's ``_compute_nparams_toprune``.

    Returns
    -------
    int
        ``k`` with ``0 <= k <= n``.

    Notes
    -----
    .. math:: k = \\begin{cases} a & a \\in \\mathbb{Z} \\\\
              \\operatorname{rule}(a \\cdot n) & a \\in [0, 1] \\end{cases}

    The product is rounded to float64 before the rule, as every Python library
    computes it: ``0.29 * 100`` is ``28.999999999999996``, so ``"floor"`` gives 28.
    Source: ``torch.nn.utils.prune._compute_nparams_toprune`` (``"round"``),
    NNI / Wanda ``int(n * sparsity)`` (``"floor"``).

    Examples
    --------
    >>> [pruned_count(0.25, 10), pruned_count(0.35, 10), pruned_count(0.25, 10, count_rule="ceil")]
    [2, 4, 3]
    >>> pruned_count(3, 10)
    3
    """
    check_amount(amount)
    check_choice("count_rule", count_rule, COUNT_RULES)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if isinstance(amount, numbers.Integral):
        if amount > n:
            raise ValueError(f"amount={amount} is larger than the number of prunable entries ({n})")
        return int(amount)
    x = float(amount) * int(n)
    k = round(x) if count_rule == "round" else math.floor(x) if count_rule == "floor" else math.ceil(x)
    return int(k)


def check_amount(amount: object) -> None:
    """``amount`` must be an int ``>= 0`` or a float in ``[0, 1]`` (not a bool, not NaN)."""
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, numbers.Real):
        raise TypeError(f"amount must be an int (a count) or a float in [0, 1] (a fraction), got {amount!r}")
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"amount={amount} should be a non-negative int or a float in [0, 1]")
    elif not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"amount={amount!r} should be a float in [0, 1] or a non-negative int")


def unstructured_mask(
    w: ArrayLike,
    amount: float,
    *,
    scores: ArrayLike | None = None,
    axis: int | None = None,
    existing_mask: ArrayLike | None = None,
    relative_to: RelativeTo = "remaining",
    count_rule: CountRule = "round",
    ties: TiePolicy = "lowest_index",
) -> Mask:
    """Keep all but the ``k`` entries with the smallest score (``|w|`` by default).

    Parameters
    ----------
    w : array_like of float, any shape
        The weights (only their shape is used when ``scores`` is given).
    amount : int or float
        Count or fraction to prune (module docstring, :func:`pruned_count`).
    scores : array_like of float, shape of ``w``, optional
        Importance scores, used as given (not made absolute): the lowest go first.
    axis : int, optional
        ``None``: one selection over the whole tensor. An int: an independent
        selection inside every 1-D slice along ``axis``, with ``amount`` per
        slice (Wanda compares the entries of each output row: ``axis=1`` of an
        ``(out, in)`` weight).
    existing_mask : array_like of bool (or 0/1), shape of ``w``, optional
        Entries already pruned; they stay pruned.
    relative_to : {"remaining", "total"}
        What a fraction (or count) refers to when ``existing_mask`` is given.
    count_rule : {"round", "floor", "ceil"}
    ties : {"lowest_index", "keep", "prune"}

    Returns
    -------
    ndarray of bool, shape of ``w``
        ``True`` = kept.

    Notes
    -----
    .. math:: m_i = [\\, (s_i, i) > (s_{(k)}, i_{(k)}) \\,]

    the lexicographic order on (score, flat index) under ``"lowest_index"``:
    exactly ``k`` pruned whatever the ties, and the masks nest as ``k`` grows.
    ``np.partition`` finds ``t_k`` in O(n); ties at ``t_k`` are resolved in
    ``np.flatnonzero`` order. Source: magnitude pruning (Han et al. 2015);
    the counts of ``torch.nn.utils.prune.L1Unstructured``.

    Examples
    --------
    >>> w = np.array([0.5, -0.1, 0.3, -0.1, 0.9])
    >>> unstructured_mask(w, 0.4).tolist()
    [True, False, True, False, True]
    >>> unstructured_mask(w, 1).tolist()  # one of the two ties at 0.1: the lowest index
    [True, False, True, True, True]
    >>> unstructured_mask(w, 1, ties="keep").tolist(), unstructured_mask(w, 1, ties="prune").tolist()
    ([True, True, True, True, True], [True, False, True, False, True])
    """
    wa = as_float_array("w", w)
    s = _score_array(wa, scores)
    existing = existing_as_bool("existing_mask", existing_mask, wa.shape)
    _check_choices(relative_to, count_rule, ties)
    check_amount(amount)
    if axis is None:
        flat_ex = None if existing is None else existing.reshape(-1)
        pruned = _pruned(s.reshape(-1), flat_ex, amount, relative_to, count_rule, ties).reshape(wa.shape)
    else:
        if wa.ndim == 0:
            raise ValueError("axis must be None for a 0-d array")
        ax = normalize_axis("axis", axis, wa.ndim)
        pruned = _pruned_along(s, existing, ax, amount, relative_to, count_rule, ties)
    keep = ~pruned
    if existing is not None:
        keep &= existing
    return np.asarray(keep)


def random_mask(
    w: ArrayLike,
    amount: float,
    *,
    rng: np.random.Generator,
    existing_mask: ArrayLike | None = None,
    relative_to: RelativeTo = "remaining",
    count_rule: CountRule = "round",
) -> Mask:
    """Prune ``k`` entries drawn uniformly without replacement among the unpruned ones.

    Parameters
    ----------
    w : array_like, any shape
        Only its shape is used.
    amount : int or float
        Count or fraction to prune.
    rng : numpy.random.Generator
        The only source of randomness; the same state gives the same mask.
    existing_mask, relative_to, count_rule
        As in :func:`unstructured_mask`.

    Returns
    -------
    ndarray of bool, shape of ``w``

    Notes
    -----
    .. math:: P(\\text{set } S \\text{ pruned}) = \\binom{R}{k}^{-1}
              \\quad \\text{for every } S \\subseteq \\text{remaining}, |S| = k

    drawn with ``rng.choice(R, size=k, replace=False, shuffle=False)``.
    Source: random pruning baseline, ``torch.nn.utils.prune.RandomUnstructured``
    (same counts, different random stream).

    Examples
    --------
    >>> m = random_mask(np.zeros((4, 5)), 0.3, rng=np.random.default_rng(0))
    >>> int(m.sum())
    14
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    _checks.check_shape_int_array("w", w)
    shape = np.shape(w)
    existing = existing_as_bool("existing_mask", existing_mask, shape)
    _check_choices(relative_to, count_rule, "lowest_index")
    n = math.prod(shape)
    remaining = np.arange(n) if existing is None else np.flatnonzero(existing)
    k = _new_count(amount, n, remaining.size, relative_to, count_rule)
    keep = np.ones(shape, dtype=bool) if existing is None else existing.copy()
    chosen = rng.choice(remaining.size, size=k, replace=False, shuffle=False)
    keep.reshape(-1)[remaining[chosen]] = False
    return keep


def structured_mask(
    w: ArrayLike,
    amount: float,
    *,
    axis: int = 0,
    p: float = 2,
    scores: ArrayLike | None = None,
    existing_mask: ArrayLike | None = None,
    relative_to: RelativeTo = "remaining",
    count_rule: CountRule = "round",
    ties: TiePolicy = "lowest_index",
) -> Mask:
    """Prune the ``k`` whole slices ``w[..., j, ...]`` (index ``j`` on ``axis``) of smallest Lp norm.

    Parameters
    ----------
    w : array_like of float, ``ndim >= 1``
        E.g. a Linear weight ``(out, in)``: ``axis=0`` prunes output neurons
        (rows), ``axis=1`` input features (columns).
    amount : int or float
        Count or fraction of the ``w.shape[axis]`` slices.
    axis : int
        The axis that indexes the slices (PyTorch's ``dim``).
    p : float
        ``p > 0`` or ``numpy.inf`` (max ``|x|``); ``1``, ``2`` are the L1 and L2 norms.
    scores : array_like of float, shape of ``w``, optional
        Per-entry values whose norm scores a slice (default ``w``).
    existing_mask : array_like of bool, optional
        A slice counts as remaining while any of its entries is unpruned;
        pruned entries contribute 0 to its norm (PyTorch's rules).
    relative_to, count_rule, ties
        As in :func:`unstructured_mask`, on slices; ``"lowest_index"`` means
        the lowest slice index.

    Returns
    -------
    ndarray of bool, shape of ``w``
        Whole slices are ``False``, and so is everything ``existing_mask`` pruned.

    Notes
    -----
    .. math:: \\|w_{j}\\|_p = \\Big(\\sum_{i} |w_{j,i}|^p\\Big)^{1/p}

    computed in float64, each slice divided by its largest magnitude first (as
    LAPACK's ``nrm2``), so no intermediate overflows or underflows; where norms
    exceed float64 (huge weights, or ``p < 1``) the slices are ranked exactly
    on the norms times a common power of two, or on ``log2`` of the norms
    when even that overflows. ``p <= 0``, NaN and non-real ``p`` raise (no
    norm is defined; ``p = 0`` would count nonzeros). NaN scores raise;
    slices holding ``±inf`` have an infinite norm. Source: Li et al. 2017, "Pruning filters
    for efficient ConvNets" (L1 of filters); ``torch.nn.utils.prune.LnStructured``.

    Examples
    --------
    >>> w = np.array([[1.0, 1.0], [3.0, 0.0], [0.5, 0.5]])  # L1 of rows: 2, 3, 1
    >>> structured_mask(w, 1, p=1).tolist()
    [[True, True], [True, True], [False, False]]
    >>> structured_mask(w, 2, p=np.inf).tolist()  # max |w|: 1, 3, 0.5
    [[False, False], [True, True], [False, False]]
    """
    wa = as_float_array("w", w)
    if wa.ndim == 0:
        raise ValueError("w must have at least 1 dimension for structured pruning, got a 0-d array")
    ax = normalize_axis("axis", axis, wa.ndim)
    check_norm_order(p)
    s = _score_array(wa, scores, absolute=False)  # the norm takes |.|
    existing = existing_as_bool("existing_mask", existing_mask, wa.shape)
    _check_choices(relative_to, count_rule, ties)
    check_amount(amount)
    if existing is not None:
        s = np.where(existing, s, 0)
    norms = slice_ranking(s, ax, p)
    alive = None if existing is None else _any_except(existing, ax)
    pruned = _pruned(norms, alive, amount, relative_to, count_rule, ties)
    return expand_slices(~pruned, ax, wa.shape, existing)


# ----------------------------------------------------------------------------- shared helpers


def check_norm_order(p: object) -> None:
    """``p`` must be a real ``> 0`` (``inf`` allowed)."""
    _checks.check_norm_order("p", p)


def slice_norms(values: FloatArray, axis: int, p: float) -> NDArray[np.float64]:
    """Lp norm of every slice ``values[..., j, ...]`` along ``axis``, in float64 (internal).

    Streams blocks of about 2**16 entries (float64 temporaries stay small);
    for ``p`` other than 1 and ``inf`` each slice is divided by its largest
    finite magnitude first (for ``p = 1`` only if the plain sum overflows), so
    ``|x|**p`` neither overflows nor underflows: a norm is ``inf`` only if it
    exceeds float64 or its slice holds ``±inf``.
    """
    t, scale = _checks.lp_sums(as_slices(values, axis), float(p))
    return _checks.norms_of(t, scale, float(p))


def slice_ranking(values: FloatArray, axis: int, p: float) -> NDArray[np.float64]:
    """Keys that order the slices as their Lp norms do, even where the norms exceed float64 (internal)."""
    t, scale = _checks.lp_sums(as_slices(values, axis), float(p))
    return _checks.norm_ranking_key(t, scale, float(p))


def as_slices(x: NDArray[Any], axis: int) -> NDArray[Any]:
    """``x`` as a 2-D array with one row per index along ``axis`` (internal; works for empty arrays)."""
    return np.moveaxis(x, axis, 0).reshape(x.shape[axis], math.prod(x.shape) // max(x.shape[axis], 1))


def expand_slices(keep_slices: Mask, axis: int, shape: tuple[int, ...], existing: Mask | None) -> Mask:
    """Broadcast a per-slice mask along ``axis`` to ``shape`` and apply ``existing`` (internal)."""
    view = [1] * len(shape)
    view[axis] = shape[axis]
    keep = np.broadcast_to(keep_slices.reshape(view), shape).copy()
    if existing is not None:
        keep &= existing
    return keep


def select_pruned(s: FloatArray, k: int, ties: str) -> Mask:
    """Pruned set of ``k`` smallest entries of ``s`` (any shape) under the tie policy (internal)."""
    n = s.size
    rank = k + 1 if ties == "keep" else k
    if rank == 0 or rank > n:
        return np.full(s.shape, rank > n)
    t = np.partition(s.reshape(-1), rank - 1)[rank - 1]
    if ties == "prune":
        return s <= t
    pruned = s < t
    if ties == "lowest_index":
        need = k - int(np.count_nonzero(pruned))
        if need:
            pruned.reshape(-1)[np.flatnonzero(s == t)[:need]] = True
    return pruned


def _pruned(
    s: FloatArray,
    existing: Mask | None,
    amount: float,
    relative_to: RelativeTo,
    count_rule: CountRule,
    ties: TiePolicy,
) -> Mask:
    if existing is None:
        return select_pruned(s, pruned_count(amount, s.size, count_rule=count_rule), ties)
    remaining = np.flatnonzero(existing)
    k = _new_count(amount, s.size, remaining.size, relative_to, count_rule)
    pruned = np.zeros(s.shape, dtype=bool)
    pruned.reshape(-1)[remaining[select_pruned(s.reshape(-1)[remaining], k, ties)]] = True
    return pruned


def _pruned_along(
    s: FloatArray,
    existing: Mask | None,
    axis: int,
    amount: float,
    relative_to: RelativeTo,
    count_rule: CountRule,
    ties: TiePolicy,
) -> Mask:
    """``_pruned`` on every 1-D slice along ``axis`` at once, without a Python loop over the slices."""
    x = np.moveaxis(s, axis, -1)
    length = x.shape[-1]
    rows = x.reshape(math.prod(x.shape[:-1]), length)
    if existing is None:
        k = np.full(rows.shape[0], pruned_count(amount, length, count_rule=count_rule), dtype=np.int64)
        out = _select_rows(rows, None, k, ties)
    else:
        alive = np.moveaxis(existing, axis, -1).reshape(rows.shape)
        n_left = np.count_nonzero(alive, axis=1).astype(np.int64)
        k = _new_counts(amount, length, n_left, relative_to, count_rule)
        out = _select_rows(rows, alive, k, ties)
    return np.moveaxis(out.reshape(x.shape), -1, axis)


def _new_counts(
    amount: float, n_total: int, n_left: NDArray[np.int64], relative_to: RelativeTo, count_rule: CountRule
) -> NDArray[np.int64]:
    """``_new_count`` for every row (``n_left`` per row, ``n_total`` entries in each)."""
    if relative_to == "total":
        target = pruned_count(amount, n_total, count_rule=count_rule)
        return np.maximum(0, target - (n_total - n_left))
    if isinstance(amount, numbers.Integral):
        over = np.flatnonzero(n_left < amount)
        if over.size:
            pruned_count(amount, int(n_left[over[0]]), count_rule=count_rule)  # raises its message
        return np.full(n_left.shape, int(amount), dtype=np.int64)
    prod = float(amount) * n_left.astype(np.float64)  # the float64 product of pruned_count
    rule = {"round": np.rint, "floor": np.floor, "ceil": np.ceil}[count_rule]
    return np.asarray(rule(prod), dtype=np.int64)


def _select_rows(rows: FloatArray, alive: Mask | None, k: NDArray[np.int64], ties: str) -> Mask:
    """``select_pruned`` on every row at once, among the ``alive`` entries, ``k[r]`` in row ``r``.

    One ``np.partition`` (O(n)) finds every row's threshold: dead entries
    become ``+inf`` (they cannot change an order statistic of rank <= the
    number alive, value for value), and row ``r`` gets ``K - rank_r`` extra
    ``-inf`` (``K`` the largest rank), which makes the ``K``-th smallest of
    every padded row its ``rank_r``-th smallest. Ties at the threshold are
    resolved in index order by a cumulative count, as ``select_pruned`` does.
    """
    n_rows, length = rows.shape
    n_left = np.full(n_rows, length, dtype=np.int64) if alive is None else np.count_nonzero(alive, axis=1)
    rank = k + 1 if ties == "keep" else k
    nothing, everything = rank == 0, rank > n_left
    active = ~(nothing | everything)
    pruned = np.zeros(rows.shape, dtype=bool)
    if np.any(active):
        vals = rows if alive is None else np.where(alive, rows, rows.dtype.type(np.inf))
        r = np.where(active, rank, 1)
        top = int(r.max())
        pad = top - r
        width = int(pad.max())
        if width:
            fill = np.where(np.arange(width) < pad[:, None], -np.inf, np.inf).astype(rows.dtype)
            vals_pad = np.concatenate([vals, fill], axis=1)
        else:
            vals_pad = vals
        t = np.partition(vals_pad, top - 1, axis=1)[:, top - 1 : top]
        pruned = vals <= t if ties == "prune" else vals < t
        if alive is not None:
            pruned &= alive
        if ties == "lowest_index":
            need = k - np.count_nonzero(pruned, axis=1)
            tied = vals == t
            if alive is not None:
                tied &= alive
            pruned |= tied & (np.cumsum(tied, axis=1) <= need[:, None])
        pruned &= active[:, None]
    if np.any(everything):
        pruned[everything] = True if alive is None else alive[everything]
    return pruned


def _new_count(
    amount: float, n_total: int, n_left: int, relative_to: RelativeTo, count_rule: CountRule
) -> int:
    """New entries to prune among ``n_left`` unpruned of ``n_total``."""
    if relative_to == "remaining":
        return pruned_count(amount, n_left, count_rule=count_rule)
    target = pruned_count(amount, n_total, count_rule=count_rule)
    return max(0, target - (n_total - n_left))


def _score_array(
    w: FloatArray, scores: ArrayLike | None, *, name: str = "scores", absolute: bool = True
) -> FloatArray:
    """``|w|`` (or ``w`` itself when not ``absolute``) or the validated ``scores``."""
    if scores is None:
        _check_no_nan("w", w)
        return np.abs(w) if absolute else w
    s = as_float_array(name, scores)
    if s.shape != w.shape:
        raise ValueError(f"{name} must have the shape of w {w.shape}, got {s.shape}")
    _check_no_nan(name, s)
    return s


def _check_no_nan(name: str, a: FloatArray) -> None:
    _checks.no_nan(name, a)


def existing_as_bool(name: str, mask: ArrayLike | None, shape: tuple[int, ...]) -> Mask | None:
    """Validate a mask: the given shape, bool or numbers that are all 0 or 1 (internal)."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {m.shape}")
    if m.dtype == np.bool_:
        return m
    if m.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a bool or 0/1 array, got dtype {m.dtype}")
    bad = ~((m == 0) | (m == 1))
    if np.any(bad):
        raise ValueError(f"{name} must hold only 0 and 1 (or bool), got {show_values(m[bad])}")
    return m != 0


def _any_except(mask: Mask, axis: int) -> Mask:
    """Per slice along ``axis``: does any entry survive?"""
    return np.logical_or.reduce(as_slices(mask, axis), axis=1)


def _check_choices(relative_to: str, count_rule: str, ties: str) -> None:
    check_choice("relative_to", relative_to, RELATIVE_TO)
    check_choice("count_rule", count_rule, COUNT_RULES)
    check_choice("ties", ties, TIE_POLICIES)
