"""Row statistics of a mask and the tests they decide, for :func:`refquant.check.diagnose_mask` (internal).

A *layout* cuts the scores into rows (the tensor, its 1-D slices along an
axis, the slice norms, the N:M groups); every hypothesis of the diagnosis is
one count per row and one tie policy. :func:`tally` counts the pruned and
alive entries of every row (no score needed: most hypotheses fail on the
count alone); :func:`row_stats` adds, once per layout and score, the largest
pruned and smallest kept score, the entries tied at them and whether the
tied pruned entries come first or last in index order, from which
:func:`reproduces` decides any count and tie policy in O(rows).

Scores enter as order-preserving unsigned integer keys (:func:`order_keys`),
so that masked maxima and minima are products and maxima of integers (NumPy's
``np.where`` with a scattered mask is several times slower). Short rows are
stored transposed, so that every reduction runs along one long contiguous
axis. The reference mask is derived from the same statistics when the
actual mask is a selection of the smallest scores near the reference's count
(:func:`derived_pruned`), an N:M reference from the ranks inside each group
(:func:`nm_pruned`). :class:`Layouts` builds and caches the layouts of one
diagnosis.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.prune.masks import slice_ranking
from refquant.prune.masks_nm import nm_mask

Mask = NDArray[np.bool_]
Keys = NDArray[np.unsignedinteger[Any]]
_I = NDArray[np.int64]
Fn = Callable[..., Any]

#: Rows this short are stored transposed (reduced along the first axis).
SHORT = 16


def order_keys(v: NDArray[Any], absolute: bool = False, inplace: bool = False) -> Keys:
    """Unsigned integers ordered as the (non-NaN) floats ``v`` (``|v|`` if ``absolute``) are.

    IEEE bits with the sign bit set for ``v >= 0`` and all bits inverted for
    ``v < 0`` (``-0.0`` is first made ``+0.0``); ``|v|``: the bits with the
    sign bit set. A real value's key is never 0, nor all ones. Wider floats
    (``longdouble``) are ranked by ``np.unique`` (1 = the smallest).
    ``inplace``: ``v`` is a contiguous copy of the caller's, overwritten by the keys.
    """
    if v.dtype.itemsize not in (2, 4, 8):
        ranks = np.unique(np.abs(v) if absolute else v, return_inverse=True)[1].reshape(v.shape)
        return np.asarray(ranks + 1, dtype=np.uint64)
    u_t = np.dtype(f"u{v.dtype.itemsize}").type
    sign = u_t(1) << u_t(8 * v.dtype.itemsize - 1)
    if absolute:
        b = np.ascontiguousarray(v).view(u_t)
        return np.bitwise_or(b, sign, out=b if inplace else None)
    bits = np.add(v, v.dtype.type(0), out=v if inplace else None).view(u_t)  # -0 + 0 = +0
    flip = np.right_shift(bits, u_t(8 * v.dtype.itemsize - 1))
    np.negative(flip, out=flip)  # all ones where the sign bit is set, else 0
    np.bitwise_or(flip, sign, out=flip)
    return np.bitwise_xor(bits, flip, out=bits)


def axis_of(width: int) -> int:
    """The reduction axis of oriented rows of ``width``: 1, or 0 for short rows (stored transposed)."""
    return 1 if width > SHORT else 0


def oriented(a: NDArray[Any], ax: int | None, lo: int, hi: int, g: int) -> NDArray[Any]:
    """Rows of ``g`` consecutive entries ``lo:hi`` along ``ax`` (None: the flat tensor), oriented:
    ``(rows, g)``, or ``(g, rows)`` for short rows, rows in C order of the other axes, then the groups
    (one copy at most)."""
    length = a.size if ax is None else a.shape[ax]
    pre = 1 if ax is None else math.prod(a.shape[:ax])
    post = 1 if ax is None else math.prod(a.shape[ax + 1 :])
    per = (hi - lo) // g if g else 1  # groups per slice (width 0: one empty row)
    part = a.reshape(pre, length, post)[:, lo:hi, :].reshape(pre, per, g, post)
    if g > SHORT:
        return part.transpose(0, 3, 1, 2).reshape(pre * post * per, g)
    return np.ascontiguousarray(part.transpose(2, 0, 3, 1)).reshape(g, pre * post * per)


def count(a: Mask, ax: int) -> NDArray[np.signedinteger[Any]]:
    """``np.count_nonzero(a, axis=ax)``, summed in the narrowest integer that holds it, as int32
    (int64 for rows of 2**31 entries or more)."""
    n = a.shape[ax]
    out_t = np.int32 if n < 2**31 else np.int64
    if a.shape[1 - ax] == 1:
        return np.array([np.count_nonzero(a)], out_t)
    dt = np.uint8 if n < 2**8 else np.uint16 if n < 2**16 else out_t
    return np.add.reduce(a, axis=ax, dtype=dt).astype(out_t)


def tally(A: Mask | None, P: Mask, width: int) -> dict[str, Any]:
    """Per row of width ``width``: ``n_alive`` and ``kp`` (pruned alive), from oriented masks.

    ``A`` (alive): None when every entry is; ``P``: the pruned entries. Every
    hypothesis needs ``kp`` (and most fail on it), none the scores.
    """
    ax = axis_of(width)
    if A is not None:
        P = P & A
    every = np.broadcast_to(np.int64(width), (P.shape[1 - ax],))  # read-only, no memory
    n_alive = every if A is None else count(A, ax)
    return {"width": width, "n_alive": n_alive, "kp": count(P, ax), "_ax": ax, "_P": P, "_A": A}


def possible(t: Mapping[str, Any], k: _I, ties: str) -> bool:
    """The counts alone allow ``k`` per row under ``ties`` (what :func:`reproduces` needs of ``kp``)."""
    kp, n = t["kp"], t["n_alive"]
    if ties == "keep":
        return bool(np.all(np.where(k >= n, kp == n, kp <= k)))
    if ties == "prune":
        return bool(np.all(np.where(k == 0, kp == 0, kp >= k)))
    return bool(np.all(kp == k))


def row_counts(amount: Any, s: Mapping[str, Any], width: int, n_alive: _I, every: bool = False) -> _I | None:
    """Entries to prune in every row under ``s``'s count rule; None if one is out of range.

    ``every``: every entry of the row ranked (counts of the whole row).
    """
    rel = "total" if every else s["relative_to"]
    if isinstance(amount, numbers.Integral):
        if int(amount) > width:
            return None  # more than can be pruned (the reference raises)
        k = np.full(n_alive.shape, int(amount), np.int64)
    else:
        n = (n_alive if rel == "remaining" else np.full(n_alive.shape, width)).astype(np.float64)
        if s["count_rule"] == "tfmot":
            kept = np.rint(n.astype(np.float32) * (np.float32(1) - np.float32(amount))).astype(np.int64)
            k = np.maximum(n.astype(np.int64) - np.maximum(kept, 1), 0)
        elif s["count_rule"] == "torch_pruning":
            k = n.astype(np.int64) - np.floor(n * (1.0 - float(amount))).astype(np.int64)
        else:
            k = {"round": np.rint, "floor": np.floor, "ceil": np.ceil}[s["count_rule"]](float(amount) * n)
            k = k.astype(np.int64)
    if rel == "total":
        k = np.maximum(0, k - (width - n_alive))
    k = k + int(s["count_offset"])
    return k if bool(np.all((k >= 0) & (k <= n_alive))) else None


def row_stats(u: Keys, t: Mapping[str, Any], back: Fn | None = None) -> dict[str, Any]:
    """:func:`tally` ``t`` with the scores: thresholds and ties of every row of the oriented keys ``u``.

    ``tp`` the largest pruned and ``tk`` the smallest kept key, ``cp`` (``ck``)
    the pruned (kept) entries equal to them, ``kk`` kept entries; ``sep``:
    ``tp < tk``, ``le``: ``tp <= tk``, ``cross``: both sides hold entries tied
    at ``tp = tk``; ``low`` (``high``): the tied pruned entries all come
    before (after) the tied kept ones in index order. The oriented keys are
    kept (``_u``, ``_K``) with ``back``, which maps a ``(rows, width)`` bool
    array to the weights' shape.
    """
    ax, P, A = t["_ax"], t["_P"], t["_A"]
    K = ~P if A is None else A & ~P
    kp, kk = t["kp"], count(K, ax)
    buf = np.multiply(u, P)
    tp = np.max(buf, axis=ax, initial=0)  # a real key is never 0: no pruned entry gives 0
    np.multiply(np.invert(u, out=buf), K, out=buf)
    tk = ~np.max(buf, axis=ax, initial=0)
    del buf
    cp = count(P & (u == np.expand_dims(tp, ax)), ax)
    ck = count(K & (u == np.expand_dims(tk, ax)), ax)
    some = (kp > 0) & (kk > 0)
    cross = some & (tp == tk)
    low, high = np.ones(kp.shape, bool), np.ones(kp.shape, bool)
    rows = np.flatnonzero(cross)
    if rows.size:  # entries tied across the boundary: are the pruned ones first (last) in index order?
        pt, kt = tied(u, P, tp, rows, ax), tied(u, K, tp, rows, ax)
        low[rows] = last(pt, ax) < first(kt, ax)
        high[rows] = first(pt, ax) > last(kt, ax)
    return {**t, "kk": kk, "ck": ck, "cp": cp, "tp": tp, "tk": tk, "sep": ~some | (tp < tk),
            "le": ~some | (tp <= tk), "cross": cross, "low": low, "high": high, "_u": u, "_K": K,
            "_back": back}  # fmt: skip


def take_rows(a: NDArray[Any], rows: _I, ax: int) -> NDArray[Any]:
    """Rows ``rows`` (sorted, unique) of an oriented array, still oriented."""
    if rows.size == a.shape[1 - ax]:
        return a
    return a[:, rows] if ax == 0 else a[rows]


def tied(u: Keys, side: Mask, t: Keys, rows: _I, ax: int) -> Mask:
    """Entries of ``side`` equal to their row's ``t``, in rows ``rows`` (oriented)."""
    return take_rows(side, rows, ax) & (take_rows(u, rows, ax) == np.expand_dims(t[rows], ax))


def first(a: Mask, ax: int) -> _I:
    """Index of the first True along ``ax`` of every row (0 for none)."""
    if not a.shape[ax]:
        return np.zeros(a.shape[1 - ax], np.int64)
    return np.argmax(a, axis=ax)


def last(a: Mask, ax: int) -> _I:
    """Index of the last True along ``ax`` of every row (the width - 1 for none)."""
    if not a.shape[ax]:
        return np.zeros(a.shape[1 - ax], np.int64)
    return a.shape[ax] - 1 - np.argmax(np.flip(a, ax), axis=ax)


def reproduces(r: Mapping[str, Any], k: _I | np.int64, ties: str) -> bool:
    """Does pruning ``k`` entries per row under ``ties`` select exactly the pruned entries?

    ``k``: per row, or one count for all. ``ties="any"``: some order among
    equal scores does (``torch.topk``'s).
    """
    kp, n = r["kp"], r["n_alive"]
    if ties in ("lowest_index", "highest_index", "any"):
        order = r["low"] if ties == "lowest_index" else r["high"] if ties == "highest_index" else True
        ok = (kp == k) & r["le"] & (~r["cross"] | order)
    elif ties == "keep":
        ok = np.where(k >= n, kp == n, r["sep"] & (kp <= k) & (kp + r["ck"] >= k + 1))
    else:  # prune
        ok = np.where(k == 0, kp == 0, r["sep"] & (kp >= k) & (kp - r["cp"] < k))
    return bool(np.all(ok))


def ignored_bounds(r: Mapping[str, Any]) -> dict[str, tuple[Mask, _I, _I]]:
    """Per tie policy: the rows where, and the counts ``lo <= k <= hi`` for which, ranking *every*
    entry (dead ones too) and pruning ``k`` prunes exactly the alive entries the mask prunes.

    The selection ``S`` of ``k`` among all entries of a row explains the mask
    iff ``S`` holds the alive pruned entries ``P`` and none of the alive kept
    ones ``K`` (what it takes among the dead does not show). With ``c<(t)``
    (``c<=(t)``) the entries of the row below (at most) ``t``: ``keep``
    (threshold at rank ``k + 1``, ties kept) needs ``c<=(tp) <= k < c<=(tk)``;
    ``prune`` ``c<(tp) < k <= c<(tk)``; ``lowest_index`` needs ``P`` to come
    before ``K`` in (score, index) order and ``k`` between the rank of ``P``'s
    last entry (+1) and ``K``'s first; ``highest_index`` the same in (score,
    -index) order; ``any`` (some order among equal scores) ``c<(tp) + cp <=
    k <= c<=(tk) - ck``. A row without pruned (kept) entries has ``lo = 0``
    (``hi =`` the width).
    """
    u, P, K, ax = r["_u"], r["_P"], r["_K"], r["_ax"]
    tp, tk, width = r["tp"], r["tk"], r["width"]
    hasp, hask = r["kp"] > 0, r["kk"] > 0
    e: Fn = lambda t: np.expand_dims(t, ax)  # noqa: E731
    lt_p, le_p = count(u < e(tp), ax), count(u <= e(tp), ax)
    lt_k, le_k = count(u < e(tk), ax), count(u <= e(tk), ax)
    idx = np.expand_dims(np.arange(width), 1 - ax)  # the index along the row
    at_p, at_k = u == e(tp), u == e(tk)
    n_tie: Fn = lambda at, side, pick, cmp: count(at & cmp(idx, e(pick(at & side, ax))), ax)  # noqa: E731
    zero, full = np.zeros(tp.shape, np.int64), np.full(tp.shape, width, np.int64)
    low_ok, high_ok = r["le"] & (~r["cross"] | r["low"]), r["le"] & (~r["cross"] | r["high"])
    return {
        "lowest_index": (
            low_ok,
            np.where(hasp, lt_p + n_tie(at_p, P, last, np.less_equal), zero),
            np.where(hask, lt_k + n_tie(at_k, K, first, np.less), full),
        ),
        "highest_index": (
            high_ok,
            np.where(hasp, lt_p + n_tie(at_p, P, first, np.greater_equal), zero),
            np.where(hask, lt_k + n_tie(at_k, K, last, np.greater), full),
        ),
        "keep": (np.ones(tp.shape, bool), np.where(hasp, le_p, zero), np.where(hask, le_k - 1, full)),
        "prune": (np.ones(tp.shape, bool), np.where(hasp, lt_p + 1, zero), np.where(hask, lt_k, full)),
        "any": (r["le"], np.where(hasp, lt_p + r["cp"], zero), np.where(hask, le_k - r["ck"], full)),
    }


def derived_pruned(r: Mapping[str, Any], k: _I) -> Mask | None:
    """The entries that ``k`` per row, ties by lowest index, prunes (oriented); None if not cheap.

    Cheap when, in every row, the mask is a selection of the smallest scores
    (``le``) and the ``k``-th smallest alive score is ``tp`` or ``tk``:
    everything below it is pruned, and the first of the entries equal to it
    in index order make up the count (``select_pruned``'s rule).
    """
    kp, cp, ck, le, cross = r["kp"], r["cp"], r["ck"], r["le"], r["cross"]
    at_p = le & (kp - cp < k) & (k <= kp + np.where(cross, ck, 0))
    at_k = le & ~cross & (kp < k) & (k <= kp + ck)
    none, every = k == 0, k == r["n_alive"]
    if not bool(np.all(none | every | at_p | at_k)):
        return None
    u, ax, alive = r["_u"], r["_ax"], r["_A"]
    e: Fn = lambda t: np.expand_dims(t, ax)  # noqa: E731
    t = e(np.where(at_p, r["tp"], r["tk"]))
    out, tie = u < t, u == t
    if alive is not None:
        out &= alive
        tie &= alive
    need, n_tie = k - count(out, ax), count(tie, ax)
    out |= tie & e((need >= n_tie) & ~none)
    part = np.flatnonzero(~none & ~every & (need > 0) & (need < n_tie))
    if part.size == 1 and tie.shape[1 - ax] == 1:  # one row: its first ``need`` tied entries
        out.reshape(-1)[np.flatnonzero(tie)[: int(need[0])]] = True
    elif part.size:  # the first ``need`` tied entries of these rows, in index order
        sub = take_rows(tie, part, ax)
        pick = sub & (np.cumsum(sub, axis=ax, dtype=np.int32) <= e(need[part]))
        if ax == 0:
            out[:, part] |= pick
        else:
            out[part] |= pick
    out &= e(~none)
    return np.asarray(out | ((True if alive is None else alive) & e(every)))


def nm_pruned(cols: Keys, k: int) -> Mask:
    """The ``k`` smallest keys of every group, groups in the columns of ``(m, groups)`` (m <= SHORT).

    The rank of entry ``i`` is ``#{j : u_j < u_i} + #{j < i : u_j = u_i}``,
    the position ``np.argsort(kind="stable")`` gives it (ties: lowest index
    first); it is pruned iff its rank is below ``k``. O(groups m^2)
    comparisons of contiguous rows; the result is ``(m, groups)``.
    """
    cols = np.ascontiguousarray(cols)
    out = np.empty(cols.shape, bool)
    for i in range(cols.shape[0]):
        rank = np.zeros(cols.shape[1], np.uint8)
        for j in range(cols.shape[0]):
            rank += (cols[j] < cols[i]) if j >= i else (cols[j] <= cols[i])
        out[i] = rank < k
    return out


def tied_entries(r: Mapping[str, Any], rows_mask: Mask) -> Mask:
    """The alive entries equal to the threshold ``tp`` of the rows ``rows_mask``, as ``(rows, width)``."""
    ax = r["_ax"]
    at = (r["_u"] == np.expand_dims(r["tp"], ax)) & (r["_P"] | r["_K"]) & np.expand_dims(rows_mask, ax)
    return unoriented(r, at)


def first_true(a: Mask, n: int) -> _I:
    """``np.flatnonzero(a)[:n]`` of a 1-D ``a``, reading it in chunks until ``n`` are found."""
    out: list[_I] = []
    step, start, found = 1 << 16, 0, 0
    while found < n and start < a.size:
        hits = np.flatnonzero(a[start : start + step])[: n - found] + start
        out.append(hits)
        found += hits.size
        start += step
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def unoriented(r: Mapping[str, Any], a: Mask) -> Mask:
    """An oriented array of layout ``r`` back as ``(rows, width)``."""
    return np.ascontiguousarray(a.T) if r["_ax"] == 0 else a


class Layouts:
    """The layouts of a diagnosis (mixed into its problem): scores, keys, tallies and row statistics.

    Cached per layout: the axis of the rows (None: the whole tensor), and for
    the statistics the norm order and the score too.
    """

    kind: str
    act: Mask
    alive: Mask
    pruned: Mask
    has_existing: bool
    w: NDArray[Any]
    scores: NDArray[Any] | None
    shape: tuple[int, ...]
    ndim: int
    ws: list[NDArray[Any]]
    axis: Any
    n: int
    m: int
    _rows: dict[Any, Any]
    _keys: dict[Any, Any]

    def score(self, signed: bool = False) -> Any:
        """The ranked values: the scores, ``|w|``, or ``w`` itself (``signed``)."""
        if signed:
            return self.w
        return self.scores if self.scores is not None else np.abs(self.w)

    def keys(self, signed: bool = False) -> Any:
        """:func:`order_keys` of :meth:`score`, cached."""
        if signed not in self._keys:
            given = signed or self.scores is not None
            self._keys[signed] = order_keys(self.score(signed) if given else self.w, absolute=not given)
        return self._keys[signed]

    def oriented_keys(self, ax: Any, lo: int, hi: int, g: int, signed: bool = False) -> Keys:
        """:func:`oriented` keys: from a copy of the scores, made in place, unless a view does."""
        given = signed or self.scores is not None
        src = self.score(signed) if given else self.w
        rows = oriented(src, ax, lo, hi, g)
        if np.may_share_memory(rows, src) or rows.dtype.itemsize not in (2, 4, 8):
            return oriented(self.keys(signed), ax, lo, hi, g)
        return order_keys(rows, absolute=not given, inplace=True)

    def layout(self, s: Mapping[str, Any]) -> Any:
        """The axis of ``s``'s rows (None: the whole tensor, also for an axis that holds everything)."""
        ax = s.get("axis")
        if self.kind in ("unstructured", "global") and ax is not None and self.shape[ax] == self.w.size:
            return None
        return ax

    def tally(self, s: Mapping[str, Any]) -> Any:
        """The pruned and alive counts of the rows of ``s``'s layout (cached; a list of parts for "nm"),
        None when the mask cannot have that layout (a structured slice partly pruned)."""
        ax = self.layout(s)
        if ("t", ax) in self._rows:
            return self._rows[("t", ax)]
        out: Any
        if self.kind == "nm":
            out = [None if hi == lo else tally(None, ~oriented(self.act, ax, lo, hi, g), g)
                   for lo, hi, g in self.nm_parts(self.shape[ax])]  # fmt: skip
        elif self.kind == "structured":
            per: Fn = lambda m: np.moveaxis(m, ax, 0).reshape(self.shape[ax], -1)  # noqa: E731
            live, pruned = per(self.alive).sum(axis=1), per(self.pruned).sum(axis=1)
            partial = bool(np.any((pruned != 0) & (pruned != live)))
            o: Fn = lambda m: oriented(m, None, 0, live.size, live.size)  # noqa: E731
            out = None if partial else tally(o(live > 0), o((pruned > 0) & (live > 0)), live.size)
        else:
            n = self.w.size if ax is None else self.shape[ax]
            o = lambda m: oriented(m, ax, 0, n, n)  # noqa: E731
            out = tally(o(self.alive) if self.has_existing else None, o(self.pruned), n)
        self._rows[("t", ax)] = out
        return out

    def rows(self, s: Mapping[str, Any]) -> Any:
        """Row statistics of the layout of ``s``, cached; None when the mask cannot have that layout."""
        ax = self.layout(s)
        key = (ax, s.get("p"), s.get("score"))
        if key not in self._rows:
            self._rows[key] = self._build(ax, s)
        return self._rows[key]

    def _build(self, ax: Any, s: Mapping[str, Any]) -> Any:
        t = self.tally(s)
        if t is None:
            return None
        if self.kind == "nm":
            part: Fn = functools.partial(functools.partial, self._nm_back, ax)
            return [None if p is None else row_stats(self.oriented_keys(ax, lo, hi, g), p, part(lo, hi))
                    for p, (lo, hi, g) in zip(t, self.nm_parts(self.shape[ax]), strict=True)]  # fmt: skip
        if self.kind == "structured":
            if "_zeroed" not in self._keys:  # dead entries count 0 in a slice's norm
                sc = self.score()
                self._keys["_zeroed"] = np.where(self.alive, sc, 0) if self.has_existing else sc
            keys = order_keys(slice_ranking(self._keys["_zeroed"], ax, float(s["p"])))
            view = [1] * self.ndim
            view[ax] = -1
            back: Fn = lambda m: np.broadcast_to(m.reshape(view), self.shape)  # noqa: E731
            return row_stats(oriented(keys, None, 0, keys.size, keys.size), t, back)
        n, signed = t["width"], s["score"] == "signed"
        u = self.oriented_keys(ax, 0, n, n, signed)
        if ax is None:
            return row_stats(u, t, lambda m: m.reshape(self.shape))
        moved = np.moveaxis(self.act, ax, -1).shape
        back = lambda m: np.moveaxis(m.reshape(moved), -1, ax)  # noqa: E731
        return row_stats(u, t, back)

    def nm_parts(self, length: int) -> list[tuple[int, int, int]]:
        """``(start, stop, group width)`` of the full groups of ``m`` and of the tail along an axis."""
        full = (length // self.m) * self.m
        return [(0, full, self.m), (full, length, length - full)]

    def _nm_back(self, ax: int, lo: int, hi: int, groups: Mask) -> Mask:
        """Groups ``(rows, width)`` of the entries ``lo:hi`` along ``ax`` as a mask of the weights' shape."""
        out = np.zeros(np.moveaxis(self.act, ax, -1).shape, bool)
        out[..., lo:hi] = groups.reshape(out[..., lo:hi].shape)
        return np.moveaxis(out, -1, ax)

    def value(self, i: int, signed: bool = False) -> Any:
        """The ranked value of flat entry ``i`` (its score, ``|w|``, or ``w`` when ``signed``)."""
        if self.scores is not None:
            return self.scores.reshape(-1)[i]
        v = self.w.reshape(-1)[i]
        return v if signed else abs(v)

    def position(self, i: int) -> Any:
        """The index of flat entry ``i``: a tuple, or ``(tensor, tuple)`` for ``"global"``."""
        ends = np.cumsum([w.size for w in self.ws])
        t = int(np.searchsorted(ends, i, side="right"))
        j = i - (int(ends[t - 1]) if t else 0)
        idx = tuple(int(v) for v in np.unravel_index(j, self.ws[t].shape))
        return (t, idx) if self.kind == "global" else idx

    def nm_reference(self) -> Mask:
        """N:M: the actual groups where its statistics (if computed) show the reference's, the ranks
        inside the groups (or ``nm_mask``, for groups longer than ``SHORT``) elsewhere."""
        ax = self.axis
        keep = np.moveaxis(self.act, ax, -1).copy()
        parts = self._rows.get((ax, None, None), [None, None])
        for r, (lo, hi, width) in zip(parts, self.nm_parts(self.shape[ax]), strict=True):
            if hi == lo:
                continue
            k = max(width - self.n, 0)
            ok = None if r is None else (r["kp"] == k) & r["le"] & (~r["cross"] | r["low"])
            bad = None if ok is None or not ok.any() else np.flatnonzero(~ok)  # None: every group
            if bad is not None and not bad.size:
                continue
            if width <= SHORT:  # short rows are stored transposed
                u = self.oriented_keys(ax, lo, hi, width) if r is None else r["_u"]
                new = ~nm_pruned(u if bad is None else u[:, bad], k).T
            else:
                sc = oriented(self.score(), ax, lo, hi, width)
                new = nm_mask(
                    sc if bad is None else sc[bad], self.n, self.m, -1, scores=sc if bad is None else sc[bad]
                )
            if bad is not None:
                part = keep[..., lo:hi].reshape(-1, width)
                part[bad] = new
                new = part
            keep[..., lo:hi] = new.reshape(keep[..., lo:hi].shape)
        return np.moveaxis(keep, -1, ax)


def items(name: str, value: Any, n: int | None) -> list[Any]:
    """The list of arrays of a ``kind="global"`` argument, checked for type and length."""
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
        raise TypeError(
            f"{name} must be a list or tuple of arrays for kind='global', got {type(value).__name__}"
        )
    if (n is None and not value) or (n is not None and len(value) != n):
        raise ValueError(f"{name} must hold {n or 'at least one'} array(s), got {len(value)}")
    return list(value)


def nm_amount(amount: Any) -> tuple[int, int]:
    """``(N, M)`` from ``(N, M)``, ``[N, M]`` or ``"N:M"``."""
    pair: tuple[Any, ...] = ()
    if isinstance(amount, str):
        try:
            pair = tuple(int(v) for v in amount.split(":"))
        except ValueError:
            pair = ()
    elif isinstance(amount, (tuple, list)):
        pair = tuple(amount)
    else:
        raise TypeError(f"amount must be (N, M) or 'N:M' for kind='nm', got {amount!r}")
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"amount must be two ints (N, M) or 'N:M' for kind='nm', got {amount!r}")
    n, m = int(pair[0]), int(pair[1])
    if m < 1 or not 0 <= n <= m:
        raise ValueError(f"amount (N, M) needs M >= 1 and 0 <= N <= M, got {amount!r}")
    return n, m


def show(settings: Mapping[str, Any]) -> str:
    """``k=v, ...`` of a setting."""
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())
