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
from refquant.prune._checks import no_nan
from refquant.prune.masks import (
    CountRule,
    FloatArray,
    Mask,
    RelativeTo,
    TiePolicy,
    _check_choices,
    _new_count,
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
    tensors: list[_Tensor] = []
    for i, (w, sc, em) in enumerate(zip(arrays, score_list, mask_list, strict=True)):
        src = w if sc is None else _score_source(w, sc, f"scores[{i}]")
        ex = existing_as_bool(f"existing_masks[{i}]", em, w.shape)
        tensors.append(_Tensor(f"ws[{i}]" if sc is None else f"scores[{i}]", src, sc is None, ex))
    if not tensors:
        return []
    dtype = np.result_type(*[t.src.dtype for t in tensors])
    if dtype.itemsize > 8:
        raise TypeError(f"global_masks supports float16/32/64 scores, got {dtype}")
    key_dtype = np.dtype(np.float32) if dtype.itemsize <= 4 else np.dtype(np.float64)
    chunks = _chunks(tensors)
    for c in chunks:
        c.check_nan()
    n_total = sum(t.src.size for t in tensors)
    n_left = sum(c.n_left for c in chunks)
    k = _new_count(amount, n_total, n_left, relative_to, count_rule)

    rank = k + 1 if ties == "keep" else k
    if rank == 0 or rank > n_left:  # rank 0: nothing to prune; "keep" with k = n_left: everything
        return [m for c in chunks for m in c.keep(np.full(c.n_left, rank > n_left))]
    if len(chunks) == 1:  # one partition: the same threshold as the radix selection
        v = chunks[0].values()
        t: Any = np.partition(v, rank - 1)[rank - 1]
        need = rank - int(np.count_nonzero(v < t))
    else:
        t, need = _radix_select(
            [c.values for c in chunks], rank, key_dtype, nonnegative=all(x.absolute for x in tensors)
        )
    out: list[Mask] = []
    for c in chunks:
        v = c.values()
        pruned = v <= t if ties == "prune" else v < t
        if ties == "lowest_index" and need:
            tied = np.flatnonzero(v == t)[:need]
            pruned[tied] = True
            need -= tied.size
        out += c.keep(pruned)
    return out


_CHUNK = 1 << 16  # tensors smaller than this are selected in groups of about this many entries


class _Tensor:
    """One tensor's scores (``|src|`` when ``absolute``), existing mask, and the name of its argument."""

    def __init__(self, name: str, src: FloatArray, absolute: bool, existing: Mask | None) -> None:
        self.name, self.src, self.absolute, self.existing = name, src, absolute, existing


class _Chunk:
    """Consecutive tensors whose remaining scores are handled as one flat array (built on demand)."""

    def __init__(self, tensors: list[_Tensor]) -> None:
        self.tensors = tensors
        self.sizes = [t.src.size for t in tensors]
        self.alive: Mask | None = None
        if any(t.existing is not None for t in tensors):
            alive = np.ones(sum(self.sizes), dtype=bool)
            off = 0
            for t, n in zip(tensors, self.sizes, strict=True):
                if t.existing is not None:
                    alive[off : off + n] = t.existing.reshape(-1)
                off += n
            self.alive = alive
        self.n_left = sum(self.sizes) if self.alive is None else int(np.count_nonzero(self.alive))

    def raw(self) -> FloatArray:
        if len(self.tensors) == 1:
            t = self.tensors[0]
            return np.abs(t.src).reshape(-1) if t.absolute else t.src.reshape(-1)
        flat = np.concatenate([t.src.reshape(-1) for t in self.tensors])
        flags = [t.absolute for t in self.tensors]
        if all(flags):
            return np.abs(flat)
        if any(flags):
            return np.where(np.repeat(flags, self.sizes), np.abs(flat), flat)
        return flat

    def values(self) -> FloatArray:
        v = self.raw()
        return v if self.alive is None else v[self.alive]

    def check_nan(self) -> None:
        v = self.raw()
        if v.size and np.isnan(np.max(v)):
            first = int(np.flatnonzero(np.isnan(v))[0])
            ends = np.cumsum(self.sizes)
            i = int(np.searchsorted(ends, first, side="right"))
            t = self.tensors[i]
            no_nan(t.name, t.src)

    def keep(self, pruned: Mask) -> list[Mask]:
        """The kept masks of the chunk's tensors from the pruned set over its remaining entries."""
        if self.alive is None:
            keep = ~pruned
        else:
            keep = self.alive.copy()
            keep[self.alive] = ~pruned
        if len(self.tensors) == 1:
            return [keep.reshape(self.tensors[0].src.shape)]
        parts = np.split(keep, np.cumsum(self.sizes)[:-1])
        return [part.reshape(t.src.shape) for part, t in zip(parts, self.tensors, strict=True)]


def _chunks(tensors: list[_Tensor]) -> list[_Chunk]:
    out: list[_Chunk] = []
    group: list[_Tensor] = []
    size = 0
    for t in tensors:
        if t.src.size >= _CHUNK:
            if group:
                out.append(_Chunk(group))
                group, size = [], 0
            out.append(_Chunk([t]))
            continue
        group.append(t)
        size += t.src.size
        if size >= _CHUNK:
            out.append(_Chunk(group))
            group, size = [], 0
    if group:
        out.append(_Chunk(group))
    return out


def _score_source(w: FloatArray, scores: ArrayLike, name: str) -> FloatArray:
    s = as_float_array(name, scores)
    if s.shape != w.shape:
        raise ValueError(f"{name} must have the shape of ws[{name[7:-1]}] {w.shape}, got {s.shape}")
    return s


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


def _per_tensor(name: str, items: Sequence[ArrayLike | None] | None, n: int) -> list[ArrayLike | None]:
    if items is None:
        return [None] * n
    if isinstance(items, np.ndarray) or not isinstance(items, Sequence) or len(items) != n:
        got = (
            f"{type(items).__name__} of length {len(items)}"
            if isinstance(items, Sequence)
            else type(items).__name__
        )
        raise ValueError(f"{name} must be a sequence of {n} arrays (or None), got {got}")
    return list(items)
