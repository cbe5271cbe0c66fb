"""Global masks: one unstructured selection across several tensors, without concatenating them.

The threshold is found by an exact most-significant-digit radix selection on
order-preserving integer keys of the scores: a ``np.bincount`` histogram of a
16-bit digit per pass over all the tensors (streamed one at a time), 2 passes
for float32 keys and 4 for float64. The last pass also yields how many of the
entries tied at the threshold the ``"lowest_index"`` policy must prune, so the
result is exactly :func:`refquant.prune.masks.unstructured_mask` of the
concatenation, ties included, in O(total n) time and O(largest tensor) memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array
from refquant.prune.masks import (
    CountRule,
    FloatArray,
    Mask,
    RelativeTo,
    TiePolicy,
    _check_choices,
    _check_no_nan,
    _new_count,
    _score_array,
    check_amount,
    existing_as_bool,
)

__all__ = ["global_masks"]


def global_masks(
    ws: Sequence[ArrayLike],
    amount: float,
    *,
    scores: Sequence[ArrayLike | None] | None = None,
    existing_masks: Sequence[ArrayLike | None] | None = None,
    relative_to: RelativeTo = "remaining",
    count_rule: CountRule = "round",
    ties: TiePolicy = "lowest_index",
) -> list[Mask]:
    """One unstructured selection across several tensors, without concatenating them.

    Parameters
    ----------
    ws : sequence of array_like of float
        The tensors, any shapes.
    amount : int or float
        Count or fraction of all their entries (or of the remaining ones).
    scores : sequence of (array_like or None), optional
        Per-tensor scores used as given; ``None`` (or a ``None`` entry) means ``|w|``.
    existing_masks : sequence of (array_like of bool or None), optional
        Per-tensor existing masks.
    relative_to, count_rule, ties
        As in :func:`unstructured_mask`; the flat index order is the
        concatenation order (tensor by tensor, each flattened in C order).

    Returns
    -------
    list of ndarray of bool
        One mask per tensor, equal to splitting
        ``unstructured_mask(concatenate(ravel(ws)), ...)``, ties included.

    Notes
    -----
    .. math:: t = s_{(r)} \\text{ of } \\textstyle\\bigcup_i s^{(i)}

    found by a most-significant-digit radix selection on order-preserving
    integer keys of the scores (float32 keys if every score array is float32 or
    narrower, else float64; ``-0.0`` is folded into ``+0.0`` first):
    a ``np.bincount`` histogram of 16-bit digits per pass, 2 passes for
    float32, 4 for float64, each streaming the tensors one at a time. The last
    pass leaves the number of ties at ``t`` that ``"lowest_index"`` must still
    prune. Exact, O(total n) time, extra memory O(largest tensor + 2**16).
    Source: ``torch.nn.utils.prune.global_unstructured`` (which concatenates).

    Examples
    --------
    >>> a, b = np.array([[0.1, -2.0], [0.3, 0.4]]), np.array([5.0, -0.2, 0.05])
    >>> [m.tolist() for m in global_masks([a, b], 3)]
    [[[False, True], [True, True]], [True, False, False]]
    """
    if isinstance(ws, np.ndarray) or not isinstance(ws, Sequence):
        raise TypeError(f"ws must be a sequence of arrays, got {type(ws).__name__}")
    arrays = [as_float_array(f"ws[{i}]", w) for i, w in enumerate(ws)]
    score_list = _per_tensor("scores", scores, len(arrays))
    mask_list = _per_tensor("existing_masks", existing_masks, len(arrays))
    _check_choices(relative_to, count_rule, ties)
    check_amount(amount)
    srcs: list[FloatArray] = []
    exist: list[Mask | None] = []
    is_abs: list[bool] = []
    for i, (w, sc, em) in enumerate(zip(arrays, score_list, mask_list, strict=True)):
        if sc is None:
            _check_no_nan(f"ws[{i}]", w)
            srcs.append(w)
        else:
            srcs.append(_score_array(w, sc, name=f"scores[{i}]"))
        is_abs.append(sc is None)
        exist.append(existing_as_bool(f"existing_masks[{i}]", em, w.shape))
    dtype = np.result_type(*[s.dtype for s in srcs]) if srcs else np.dtype(np.float32)
    if dtype.itemsize > 8:
        raise TypeError(f"global_masks supports float16/32/64 scores, got {dtype}")
    key_dtype = np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)

    def getter(i: int) -> Callable[[], FloatArray]:
        def get() -> FloatArray:
            s = np.abs(srcs[i]) if is_abs[i] else srcs[i]
            s = s.reshape(-1)
            em = exist[i]
            return s if em is None else s[em.reshape(-1)]

        return get

    getters = [getter(i) for i in range(len(srcs))]
    n_total = sum(s.size for s in srcs)
    n_left = sum(
        s.size if em is None else int(np.count_nonzero(em)) for s, em in zip(srcs, exist, strict=True)
    )
    k = _new_count(amount, n_total, n_left, relative_to, count_rule)

    rank = k + 1 if ties == "keep" else k
    if rank == 0 or rank > n_left:  # rank 0: nothing to prune; "keep" with k = n_left: everything
        return [
            _keep_from(np.full(get().size, rank > n_left), em, s.shape)
            for get, s, em in zip(getters, srcs, exist, strict=True)
        ]
    t, need = _radix_select(getters, rank, key_dtype, nonnegative=all(is_abs))
    out = []
    for get, s, em in zip(getters, srcs, exist, strict=True):
        v = get()
        pruned = v <= t if ties == "prune" else v < t
        if ties == "lowest_index" and need:
            tied = np.flatnonzero(v == t)[:need]
            pruned[tied] = True
            need -= tied.size
        out.append(_keep_from(pruned, em, s.shape))
    return out


def _radix_select(
    getters: Sequence[Callable[[], FloatArray]], rank: int, key_dtype: np.dtype[Any], *, nonnegative: bool
) -> tuple[Any, int]:
    """The ``rank``-th smallest (1-based) of all the getters' values, and its rank among its ties."""
    utype = np.uint32 if key_dtype.itemsize == 4 else np.uint64
    bits = 8 * key_dtype.itemsize
    sign = utype(1 << (bits - 1))

    def keys(v: FloatArray) -> NDArray[Any]:
        if nonnegative:  # magnitudes: no sign, no -0.0; the bit patterns are already ordered
            return v.astype(key_dtype, copy=False).view(utype)
        u = np.add(v, key_dtype.type(0), dtype=key_dtype).view(utype)  # -0.0 + 0.0 = +0.0
        neg = u >> utype(bits - 1)
        return u ^ ((neg * utype(2**bits - 1)) | sign)

    prefix = 0
    for level in range(bits // 16):
        shift = bits - 16 * (level + 1)
        counts = np.zeros(1 << 16, dtype=np.int64)
        for get in getters:
            key = keys(get())
            if level:
                key = key[(key >> utype(shift + 16)) == utype(prefix)]
            digits = key >> utype(shift)
            if level:
                digits &= utype(0xFFFF)
            digits = digits.astype(np.uint16)
            counts += np.bincount(digits, minlength=1 << 16)
        cum = np.cumsum(counts)
        d = int(np.searchsorted(cum, rank))
        rank -= int(cum[d - 1]) if d else 0
        prefix = (prefix << 16) | d
    key = np.array([prefix], dtype=utype)
    if not nonnegative:
        key = np.where(key & sign, key ^ sign, ~key)
    return key.view(key_dtype)[0], rank


def _keep_from(pruned: Mask, existing: Mask | None, shape: tuple[int, ...]) -> Mask:
    """Kept mask of ``shape`` from a pruned set over the remaining (or all) entries."""
    if existing is None:
        return np.asarray(~pruned.reshape(shape))
    keep = existing.copy()
    keep.reshape(-1)[np.flatnonzero(existing)[pruned]] = False
    return keep


def _per_tensor(name: str, items: Sequence[ArrayLike | None] | None, n: int) -> list[ArrayLike | None]:
    if items is None:
        return [None] * n
    if isinstance(items, np.ndarray) or not isinstance(items, Sequence) or len(items) != n:
        raise ValueError(f"{name} must be a sequence of {n} arrays (or None), got {type(items).__name__}")
    return list(items)
