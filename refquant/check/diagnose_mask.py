"""Why a pruning mask differs from refquant's: count rule, ties, iterative fraction, structure, N:M layout.

:func:`diagnose_mask` searches the settings under which :mod:`refquant.prune`
reproduces another implementation's mask (``True`` = kept) exactly. The
reference is refquant's call with its defaults, picked by ``kind``:
``unstructured_mask``, ``structured_mask``, ``nm_mask`` or ``global_masks``.
The knobs (the reference's value first), tried alone, in pairs and triples:

* ``count_rule``: ``round``, ``floor``, ``ceil`` (:func:`~refquant.prune.pruned_count`),
  ``tfmot`` (kept ``= max(round(fl32(n) * fl32(1 - s)), 1)``) and
  ``torch_pruning`` (``n - floor(n (1 - s))``), for a fractional amount;
* ``ties``: ``lowest_index``, ``highest_index`` (the reverse order: SparseML;
  TF-MOT's N:M keeps the lower index), ``keep``, ``prune``;
* ``relative_to``: ``remaining``, ``total``; and ``existing_mask``:
  ``respected``, ``ignored`` (every entry ranked, the old mask applied after:
  ``L1Unstructured.compute_mask`` called directly), with an ``existing_mask``;
* ``axis``: the given one, ``None`` or another axis (unstructured: one
  selection per slice; structured: the slices; nm: the groups);
* ``p`` (structured): the given norm order, 1, 2, inf;
* ``score``: ``abs``, ``signed`` (``w`` ranked without ``abs``), when no
  ``scores`` are given and some ``w < 0``;
* ``count_offset``: 0, +1, -1 (an off-by-one count);
* ``naming`` (nm): ``kept`` (N of every M kept: NVIDIA, PyTorch) or
  ``pruned`` (N pruned: Wanda, SparseGPT, TF-MOT); ``tail``: ``pad``, ``dense``.

No mask is recomputed during the search: per row (the tensor, a slice, the
slice norms, an N:M group), the pruned count and the largest pruned and
smallest kept score decide in O(rows) whether a count and a tie policy
select exactly the pruned entries, once the row statistics of a layout
(axis, score, norm: O(n) each) are known. The winner is recomputed with
refquant. Systems are those of ``docs/spec/pruning.md`` ("Where the
frameworks differ"); one whose tie order is unspecified (``torch.topk``)
matches any choice of exactly ``k`` smallest scores.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis
from refquant.check.diagnosis import Diagnosis
from refquant.prune.masks import (
    COUNT_RULES,
    check_amount,
    check_norm_order,
    existing_as_bool,
    slice_ranking,
    structured_mask,
    unstructured_mask,
)
from refquant.prune.masks_global import global_masks
from refquant.prune.masks_nm import nm_mask

__all__ = ["diagnose_mask"]

KINDS = ("unstructured", "structured", "nm", "global")
Mask = NDArray[np.bool_]
Settings = dict[str, Any]
_I = NDArray[np.int64]
Fn = Callable[..., Any]
_T = "total"
_BY_ROWS = {"relative_to": "remaining", "existing_mask": "respected", "score": "abs", "count_offset": 0}
_SYS = {"count_rule": "round", "ties": "lowest_index", **_BY_ROWS}  # what a system's entry does not say
_SYSTEMS: dict[str, list[tuple[str, Settings]]] = {
    "unstructured": [
        ("PyTorch torch.nn.utils.prune.l1_unstructured", {"count_rule": "round", "ties": "any"}),
        ("PyTorch L1Unstructured.compute_mask called directly", {"ties": "any", "existing_mask": "ignored"}),
        ("TF-MOT prune_low_magnitude", {"count_rule": "tfmot", "ties": "keep", "relative_to": "total"}),
        ("NNI v1 LevelPruner, v2 level pruners", {"count_rule": "floor", "ties": "prune", "relative_to": _T}),
        ("NNI 3 sparse_ratio", {"count_rule": "floor", "ties": "any"}),
        ("SparseML magnitude (GMP) pruning", {"ties": "highest_index", "relative_to": "total"}),
        ("open_lth sparse_layerwise", {"count_rule": "ceil", "ties": "keep"}),
        ("Wanda (each output row)", {"count_rule": "floor", "axis": 1}),
        ("Wanda's magnitude baseline", {"count_rule": "floor", "count_offset": 1, "ties": "prune"}),
    ],
    "global": [
        ("PyTorch torch.nn.utils.prune.global_unstructured", {"count_rule": "round", "ties": "any"}),
        ("NNI v2 global (total_sparsity)", {"count_rule": "floor", "ties": "prune", "relative_to": _T}),
        ("NNI 3 global (global_group_id)", {"count_rule": "floor", "ties": "keep"}),
        ("open_lth sparse_global", {"count_rule": "ceil", "count_offset": 1, "ties": "prune"}),
    ],
    "structured": [("PyTorch torch.nn.utils.prune.ln_structured", {"count_rule": "round", "ties": "any"})],
    "nm": [
        ("NVIDIA ASP, PyTorch semi-structured, SparseML N:M (N kept of M, input axis)",
         {"naming": "kept", "ties": "any", "axis": -1}),
        ("Wanda / SparseGPT prune_n:prune_m (N pruned of M, input axis)",
         {"naming": "pruned", "ties": "lowest_index", "axis": -1}),
        ("TF-MOT sparsity_m_by_n (N pruned of M, TF's (in, out) kernel)",
         {"naming": "pruned", "ties": "highest_index", "axis": 0}),
    ],
}  # fmt: skip


def diagnose_mask(
    weights: Any,
    actual_mask: Any,
    amount: Any,
    *,
    kind: str | None = None,
    scores: Any = None,
    existing_mask: Any = None,
    axis: int | None = None,
    p: float = 2,
    max_examples: int = 5,
) -> Diagnosis:
    """Which pruning settings reproduce ``actual_mask`` exactly: ``actual == refquant_mask(**settings)``.

    Parameters
    ----------
    weights : array_like of float, or a list/tuple of them (``kind="global"``)
    actual_mask : array_like of bool or 0/1 of ``weights``' shape (a list for ``"global"``)
        The other implementation's mask, ``True`` (1) = kept.
    amount : int, float, or for ``"nm"`` ``(N, M)`` or ``"N:M"``
        As the reference takes it (a count or a fraction); N:M: ``N`` kept of
        every ``M``, refquant's naming.
    kind : {"unstructured", "structured", "nm", "global"}, optional
        The reference; default ``"global"`` for a list or tuple of NumPy arrays, else
        ``"unstructured"`` (a nested Python list is one array).
    scores, existing_mask : array_like (lists for ``"global"``), optional
        As in the reference (``existing_mask``: the mask before this step).
    axis : int, optional
        The reference's axis; default ``None`` (unstructured), ``0``
        (structured), ``-1`` (nm).
    p : float
        The reference's norm order for ``"structured"`` (default 2).
    max_examples : int
        How many differing entries the result lists.

    Returns
    -------
    Diagnosis
        ``op="mask"``, ``unit="elements"`` (``max_error`` = the number of
        differing entries); ``explained_by``: the non-reference knob values
        (module docstring), ``{}`` for the reference, None if no setting of
        up to three knobs reproduces the mask.

    Notes
    -----
    .. math:: s \\text{ explains } m \\iff P = \\mathrm{select}_{s}\\big(k_s(a, n)\\big),
              \\qquad P = \\{\\, i \\text{ alive} : m_i = 0 \\,\\}

    Per row, with ``t_P`` the largest pruned and ``t_K`` the smallest kept
    score: ``lowest_index`` (``highest_index``) with count ``k`` selects
    ``P`` iff ``|P| = k``, ``t_P <= t_K`` and the entries tied at ``t_P =
    t_K`` are pruned in index order (reversed); ``keep`` iff ``t_P < t_K``
    and ``|P| <= k < |P| + c_K`` (``c_K`` kept entries equal to ``t_K``);
    ``prune`` iff ``t_P < t_K`` and ``|P| - c_P < k <= |P|``:
    :func:`refquant.prune.masks.select_pruned`'s rules read backwards. The
    first of the simplest settings (knob order above) wins; the others and
    the knobs the mask cannot tell apart are in ``findings``. NaN weights
    raise as in the reference. Source: ``docs/spec/pruning.md``.

    Examples
    --------
    >>> w = np.array([0.5, -0.1, 0.3, -0.2, 0.9, 0.05, 0.7, -0.6, 0.8, 0.4])
    >>> d = diagnose_mask(w, np.abs(w) > 0.2, 0.25)    # 3 pruned: ceil(0.25 * 10)
    >>> d.explained_by, d.systems[0]
    ({'count_rule': 'ceil'}, 'open_lth sparse_layerwise')
    >>> diagnose_mask(w, np.abs(w) > 0.1, 0.25).matches_reference  # round(2.5) = 2
    True
    """
    prob = _Problem(weights, actual_mask, amount, kind, scores, existing_mask, axis, p, max_examples)
    # the row statistics decide "actual is the reference" without computing it; else refquant computes it
    diff = np.zeros(prob.act.shape, bool) if prob.explains({}) else prob.reference() != prob.act
    mismatches = int(np.count_nonzero(diff))
    notes: list[str] = []
    unpruned = int(np.count_nonzero(prob.act & ~prob.alive))
    if unpruned:
        notes.append(
            f"The mask keeps {unpruned} entries that existing_mask had pruned (recomputed from scratch, or "
            "existing_mask not applied); no setting keeps them."
        )
    explained: Settings | None = {} if mismatches == 0 else None
    searched = 0
    if mismatches and not unpruned:
        explained, others, searched = prob.search()
        if others:
            notes.append("Equally explained by: " + "; ".join(_show(o) for o in others) + ".")
    systems: tuple[str, ...] = ()
    if explained is not None:
        notes += prob.blind_spots(explained)
        systems = prob.systems(explained)
    else:
        notes += prob.commonalities()
        if prob.systems({}):
            notes.append(f"Consistent with (tie order unspecified): {', '.join(prob.systems({}))}.")
    return Diagnosis(
        "mask", mismatches == 0, explained, systems, mismatches, int(prob.act.size), float(mismatches),
        "elements", tuple(notes), tuple(prob.examples(diff)), searched,
    )  # fmt: skip


class _Problem:
    """The arguments (one flat tensor for ``"global"``), the knobs that apply, cached row statistics."""

    def __init__(self, weights: Any, actual: Any, amount: Any, kind: Any, scores: Any, existing: Any,
                 axis: Any, p: Any, max_examples: Any) -> None:  # fmt: skip
        listed = isinstance(weights, (list, tuple)) and len(weights) > 0
        arrays = listed and all(isinstance(w, np.ndarray) for w in weights)  # several tensors: global
        self.kind = kind if kind is not None else ("global" if arrays else "unstructured")
        many = self.kind == "global"
        check_choice("kind", self.kind, KINDS)
        if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)):
            raise TypeError(f"max_examples must be an int, got {max_examples!r}")
        if max_examples < 0:
            raise ValueError(f"max_examples must be >= 0, got {max_examples}")
        self.max_examples = int(max_examples)
        if many and not isinstance(weights, (list, tuple)):
            raise TypeError(
                f"weights must be a list of arrays for kind='global', got {type(weights).__name__}"
            )
        ws = _items("weights", weights, None) if many else [weights]
        self.ws = [as_float_array(f"weights[{i}]" if many else "weights", w) for i, w in enumerate(ws)]
        n = len(self.ws)
        name: Fn = (lambda s, i: f"{s}[{i}]") if many else (lambda s, i: s)
        acts = _items("actual_mask", actual, n) if many else [actual]
        exs = [None] * n if existing is None else _items("existing_mask", existing, n) if many else [existing]
        scs = [None] * n if scores is None else _items("scores", scores, n) if many else [scores]
        if any(a is None for a in acts):
            raise TypeError("actual_mask must be a bool (or 0/1) array, got None")
        act: list[Any] = [
            existing_as_bool(name("actual_mask", i), a, w.shape)
            for i, (a, w) in enumerate(zip(acts, self.ws, strict=True))
        ]
        ex = [
            existing_as_bool(name("existing_mask", i), e, w.shape)
            for i, (e, w) in enumerate(zip(exs, self.ws, strict=True))
        ]
        self.given = (None if scores is None else scs, ex)  # as given, for the reference call
        if self.kind == "nm":
            self.n, self.m = _nm_amount(amount)
            if existing is not None:
                raise ValueError("existing_mask is not used by N:M masks (kind='nm'); pass None")
        else:
            check_amount(amount)
        if self.kind == "structured":
            check_norm_order(p)
        if self.kind == "global" and axis is not None:
            raise ValueError(f"axis is not used by global masks, got axis={axis!r}")
        self.amount, self.p = amount, p
        self.shape = self.ws[0].shape if not many else (sum(w.size for w in self.ws),)
        self.ndim = len(self.shape)
        ax = (
            {"unstructured": None, "structured": 0, "nm": -1, "global": None}[self.kind]
            if axis is None
            else axis
        )
        if ax is not None and self.ndim == 0:
            raise ValueError(f"axis={ax!r} needs weights with at least one dimension")
        self.axis: Any = None if ax is None else normalize_axis("axis", ax, self.ndim)
        self.w: Any = np.concatenate([w.reshape(-1) for w in self.ws]) if many else self.ws[0]
        if scores is None and self.w.size and np.isnan(np.max(self.w)):
            raise ValueError(
                f"weights contain NaN (at flat index {int(np.argmax(np.isnan(self.w)))}): no ranking"
            )
        self.act: Any = np.concatenate([a.reshape(-1) for a in act]) if many else act[0]
        self.has_existing = any(e is not None for e in ex)
        ones = [np.ones(w.shape, bool) if e is None else e for e, w in zip(ex, self.ws, strict=True)]
        self.alive: Any = np.concatenate([e.reshape(-1) for e in ones]) if many else ones[0]
        self.scores: Any = None
        if scores is not None:
            sc = [
                np.abs(w) if s is None else as_float_array(name("scores", i), s)
                for i, (s, w) in enumerate(zip(scs, self.ws, strict=True))
            ]
            self.scores = np.concatenate([s.reshape(-1) for s in sc]) if many else sc[0]
        self._rows: dict[Any, Any] = {}

    # --- refquant itself: the reference, and the recomputation of a setting --------------------

    def reference(self) -> Mask:
        if self.kind != "global":
            return self.refquant({})
        out = global_masks(self.ws, self.amount, scores=self.given[0], existing_masks=self.given[1])
        return np.concatenate([m.reshape(-1) for m in out])

    def refquant(self, cand: Mapping[str, Any]) -> Any:
        """The mask of setting ``cand`` from refquant (global: ``unstructured_mask`` of the concatenation)."""
        s: Any = {**self.defaults(), **cand}
        flip = s["ties"] == "highest_index"
        ax: Any = s.get("axis")
        ties = "lowest_index" if flip else s["ties"]
        sc = self.scores if s.get("score", "abs") == "abs" else self.w
        if self.kind == "nm":
            perm = _group_reversal(self.shape[ax], self.m) if flip else np.arange(self.shape[ax])
            n_keep = self.n if s["naming"] == "kept" else self.m - self.n
            t: Fn = lambda a: None if a is None else np.take(a, perm, ax)  # noqa: E731
            return t(nm_mask(t(self.w), n_keep, self.m, ax, scores=t(sc), tail=s["tail"]))  # an involution
        fl: Fn = lambda a: a if a is None or not flip else np.flip(a, ax)  # noqa: E731
        ignored = s["existing_mask"] == "ignored" and self.has_existing
        kw = {"ties": ties, "relative_to": s["relative_to"]}
        amount = self.amount
        if s["count_rule"] in COUNT_RULES and s["count_offset"] == 0:
            kw["count_rule"] = s["count_rule"]
        else:  # no refquant rule: the new count of every row as an int, if the rows agree
            k = self.counts(s, self.rows({**s, "_all": ignored}), every=ignored)
            if k is None or np.unique(k).size > 1:
                return None
            amount, kw["relative_to"] = (int(k[0]) if k.size else 0), "remaining"
        ex = None if ignored or not self.has_existing else fl(self.alive)
        if self.kind == "structured":
            out = structured_mask(
                fl(self.w), amount, axis=ax, p=s["p"], scores=fl(sc), existing_mask=ex, **kw
            )
        else:
            out = unstructured_mask(fl(self.w), amount, scores=fl(sc), axis=ax, existing_mask=ex, **kw)
        return fl(out) & self.alive if ignored else fl(out)

    # --- knobs and the search ------------------------------------------------------------------

    def defaults(self) -> Settings:
        if self.kind == "nm":
            return {"axis": self.axis, "naming": "kept", "ties": "lowest_index", "tail": "pad"}
        d = {"count_rule": "round", "ties": "lowest_index", **_BY_ROWS, "axis": self.axis}
        return {**d, "p": self.p} if self.kind == "structured" else d

    def knobs(self) -> dict[str, list[Any]]:
        """The alternative values of every knob the inputs can exercise, in search order."""
        axes = [
            a
            for a in [None, *range(self.ndim)]
            if a != self.axis and (a is not None or self.kind == "unstructured")
        ]
        if self.kind == "nm":
            return {"axis": axes, "naming": ["pruned"], "ties": ["highest_index"], "tail": ["dense"]}
        out: dict[str, list[Any]] = {}
        if not isinstance(self.amount, numbers.Integral):
            out["count_rule"] = ["floor", "ceil", "tfmot", "torch_pruning"]
        out["ties"] = ["highest_index", "keep", "prune"]
        if self.has_existing:
            out["relative_to"] = ["total"]
            out["existing_mask"] = ["ignored"] if self.kind == "unstructured" else []
        out["axis"] = axes if self.kind != "global" else []
        out["p"] = [q for q in (1, 2, math.inf) if q != self.p] if self.kind == "structured" else []
        out["score"] = (
            ["signed"] if self.scores is None and self.kind != "structured" and np.any(self.w < 0) else []
        )
        out["count_offset"] = [1, -1]
        return {k: v for k, v in out.items() if v}

    def search(self) -> tuple[Settings | None, list[Settings], int]:
        knobs, tried = self.knobs(), 0
        for level in (1, 2, 3):
            found = []
            for combo in itertools.combinations(knobs, level):
                for values in itertools.product(*(knobs[k] for k in combo)):
                    tried += 1
                    cand = dict(zip(combo, values, strict=True))
                    if self.explains(cand):
                        found.append(cand)
            for i, c in enumerate(found):
                out = self.refquant(c)  # None: a per-row count refquant has no one call for (the rows decide)
                if out is None or np.array_equal(out, self.act):
                    return c, found[i + 1 : i + 6], tried
        return None, [], tried

    def explains(self, cand: Mapping[str, Any]) -> bool:
        s = {**self.defaults(), **cand}
        if s.get("existing_mask") == "ignored" and self.has_existing:
            rows = self.rows({**s, "_all": True})
            k = self.counts(s, rows, every=True)
            if k is None or int(np.count_nonzero(self.alive & ~self.act)) > int(k.sum()):
                return False
            ties = ("lowest_index", "highest_index") if s["ties"] == "any" else (s["ties"],)
            return any(bool(np.array_equal(self.refquant({**s, "ties": t}), self.act)) for t in ties)
        rows = self.rows(s)
        if rows is None:
            return False
        if self.kind == "nm":
            keep = self.n if s["naming"] == "kept" else self.m - self.n
            ks = [
                self.m - keep,
                0 if s["tail"] == "dense" else max(rows[1]["width"] - keep, 0) if rows[1] else 0,
            ]
            return all(
                r is None or _reproduces(r, np.full(r["kp"].shape, k), s["ties"])
                for r, k in zip(rows, ks, strict=True)
            )
        k = self.counts(s, rows)
        return k is not None and _reproduces(rows, k, s["ties"])

    def counts(self, s: Mapping[str, Any], rows: Any, every: bool = False) -> _I | None:
        """Entries to prune in every row under ``s``'s count rule; None if one is out of range."""
        n_total, n_alive = rows["width"], rows["n_alive"]
        a, rel = self.amount, "total" if every else s["relative_to"]
        if isinstance(a, numbers.Integral):
            if a > n_total:
                return None  # more than can be pruned (the reference raises)
            k = np.full(n_alive.shape, int(a), np.int64)
        else:
            n = (n_alive if rel == "remaining" else np.full(n_alive.shape, n_total)).astype(np.float64)
            if s["count_rule"] == "tfmot":
                kept = np.rint(n.astype(np.float32) * (np.float32(1) - np.float32(a))).astype(np.int64)
                k = np.maximum(n.astype(np.int64) - np.maximum(kept, 1), 0)
            elif s["count_rule"] == "torch_pruning":
                k = n.astype(np.int64) - np.floor(n * (1.0 - float(a))).astype(np.int64)
            else:
                k = {"round": np.rint, "floor": np.floor, "ceil": np.ceil}[s["count_rule"]](float(a) * n)
                k = k.astype(np.int64)
        if rel == "total":
            k = np.maximum(0, k - (n_total - n_alive))
        k = k + int(s["count_offset"])
        return k if bool(np.all((k >= 0) & (k <= n_alive))) else None

    def rows(self, s: Mapping[str, Any]) -> Any:
        """Row statistics of the layout of ``s``, cached; None when the mask cannot have that layout."""
        key = (s.get("axis"), s.get("p"), s.get("score"), bool(s.get("_all")))
        if key not in self._rows:
            self._rows[key] = self._build(s, key)
        return self._rows[key]

    def _build(self, s: Mapping[str, Any], key: Any) -> Any:
        score = self.scores if self.scores is not None else np.abs(self.w)
        ax: Any = s.get("axis")
        if self.kind == "nm":
            sc, act = np.moveaxis(score, ax, -1), np.moveaxis(self.act, ax, -1)
            length = sc.shape[-1]
            full = (length // self.m) * self.m
            parts: list[Any] = []
            for lo, hi, width in ((0, full, self.m), (full, length, length - full)):
                v, a = sc[..., lo:hi].reshape(-1, max(width, 1)), act[..., lo:hi].reshape(-1, max(width, 1))
                parts.append(_stats(v, np.ones(v.shape, bool), ~a, width) if hi > lo else None)
            return parts
        if self.kind == "structured":
            per: Fn = lambda m: np.moveaxis(m, ax, 0).reshape(self.shape[ax], -1)  # noqa: E731
            live, pruned = per(self.alive).sum(axis=1), per(self.alive & ~self.act).sum(axis=1)
            if np.any((pruned != 0) & (pruned != live)):
                return None  # a slice is partly pruned: not a structured mask along this axis
            keys = slice_ranking(np.where(self.alive, score, 0), ax, float(s["p"]))[None, :]
            return _stats(keys, (live > 0)[None, :], ((pruned > 0) & (live > 0))[None, :], keys.shape[1])
        score = self.w if s["score"] == "signed" else score
        alive = np.ones(self.w.shape, bool) if key[3] else self.alive
        pruned = ~self.act & alive
        if ax is None:
            return _stats(score.reshape(1, -1), alive.reshape(1, -1), pruned.reshape(1, -1), score.size)
        rows: Fn = lambda m: np.moveaxis(m, ax, -1).reshape(-1, self.shape[ax])  # noqa: E731
        return _stats(rows(score), rows(alive), rows(pruned), self.shape[ax])

    # --- reporting -------------------------------------------------------------------------------

    def systems(self, explained: Mapping[str, Any]) -> tuple[str, ...]:
        base = {**self.defaults(), **explained}
        names = []
        for name, spec in _SYSTEMS[self.kind]:
            want = {**base, **({} if self.kind == "nm" else _SYS), **spec}
            if "axis" in spec and (self.ndim == 0 or (spec["axis"] >= 0 and self.ndim != 2)):
                continue  # Wanda's rows and TF-MOT's (in, out) kernel are 2-D layouts
            if "axis" in spec or self.kind in ("unstructured", "global"):
                want["axis"] = spec["axis"] % self.ndim if "axis" in spec else None
            if self.explains(want):
                names.append(name)
        return tuple(names)

    def blind_spots(self, explained: Mapping[str, Any]) -> list[str]:
        """Knobs whose other values give the same mask (the inputs cannot tell them apart)."""
        base, knobs, spots = {**self.defaults(), **explained}, self.knobs(), []
        for knob in ("ties", "count_rule", "relative_to"):
            also = [v for v in [self.defaults().get(knob), *knobs.get(knob, [])]
                    if knob in knobs and v != base[knob] and self.explains({**base, knob: v})]  # fmt: skip
            if also:
                spots.append(f"{knob} ({', '.join(repr(v) for v in also)} give the same mask)")
        return ["Not told apart by this mask: " + "; ".join(spots) + "."] if spots else []

    def commonalities(self) -> list[str]:
        out = []
        rows = None if self.kind == "nm" else self.rows(self.defaults())
        if rows is not None:
            rules = []
            if not isinstance(self.amount, numbers.Integral):
                for r in ("round", "floor", "ceil", "tfmot"):
                    k = self.counts({**self.defaults(), "count_rule": r}, rows)
                    rules.append(f"{r} {'-' if k is None else int(k.sum())}")
            counts = f"; the count rules give: {', '.join(rules)}" if rules else ""
            out.append(f"The mask prunes {int(rows['kp'].sum())} of the {int(rows['n_alive'].sum())} "
                       f"entries (or slices) in play{counts}.")  # fmt: skip
            if _reproduces(rows, rows["kp"], "any"):
                out.append("It prunes the smallest scores but breaks the ties at the threshold in another "
                           "order than lowest or highest index first.")  # fmt: skip
            elif not bool(np.all(rows["le"])):
                out.append("It is not a selection of the smallest scores: a pruned entry scores higher "
                           "than a kept one (another score, axis or structure?).")  # fmt: skip
        for ax in range(self.ndim) if self.kind == "unstructured" else ():
            per = np.moveaxis(~self.act & self.alive, ax, 0).reshape(self.shape[ax], -1)
            if per.shape[1] > 1 and np.any(per.all(axis=1)) and np.all(per.all(axis=1) | ~per.any(axis=1)):
                out.append(f"The pruned entries form whole slices along axis {ax}: a structured mask?")
        return out

    def examples(self, diff: Mask) -> list[dict[str, Any]]:
        out = []
        ends = np.cumsum([w.size for w in self.ws])
        for i in np.flatnonzero(diff.reshape(-1))[: self.max_examples]:
            t = int(np.searchsorted(ends, i, side="right"))
            w = self.ws[t]
            j = int(i) - (int(ends[t - 1]) if t else 0)
            idx = tuple(int(v) for v in np.unravel_index(j, w.shape))
            ex: dict[str, Any] = {"index": (t, idx) if self.kind == "global" else idx}
            ex["weight"] = str(w.dtype.type(w.reshape(-1)[j]))
            if self.scores is not None:
                ex["score"] = str(self.scores.reshape(-1)[i])
            kept = bool(self.act.reshape(-1)[i])
            ex["actual"], ex["reference"] = ("kept", "pruned") if kept else ("pruned", "kept")
            out.append(ex)
        return out


def _stats(v: NDArray[Any], alive: Mask, pruned: Mask, width: int) -> dict[str, Any]:
    """Per row: alive and pruned counts, the largest pruned and smallest kept score, ties at them.

    Short rows (N:M groups) are reduced along the first axis of the transposed arrays (NumPy
    reduces one long contiguous axis much faster than many short ones).
    """
    ax = 0 if v.shape[1] <= 16 else 1
    if ax == 0:
        v, alive, pruned = (np.ascontiguousarray(a.T) for a in (v, alive, pruned))
    P, K = pruned & alive, alive & ~pruned
    kp, kk = np.count_nonzero(P, axis=ax), np.count_nonzero(K, axis=ax)
    with np.errstate(invalid="ignore"):
        tp = np.max(np.where(P, v, -np.inf), axis=ax, initial=-np.inf)
        tk = np.min(np.where(K, v, np.inf), axis=ax, initial=np.inf)
        cp = np.count_nonzero(P & (v == np.expand_dims(tp, ax)), axis=ax)
        ck = np.count_nonzero(K & (v == np.expand_dims(tk, ax)), axis=ax)
    some = (kp > 0) & (kk > 0)
    cross = some & (tp == tk)
    low, high = np.ones(kp.shape, bool), np.ones(kp.shape, bool)
    rows = np.flatnonzero(cross)
    if rows.size:  # entries tied across the boundary: are the pruned ones first (last) in index order?
        take: Fn = (lambda a: a[:, rows].T) if ax == 0 else (lambda a: a[rows])
        vr, pr, kr = take(v), take(P), take(K)
        idx, n = np.arange(vr.shape[1]), vr.shape[1]
        tie = vr == tp[rows, None]
        pt, kt = tie & pr, tie & kr
        low[rows] = np.max(np.where(pt, idx, -1), axis=1) < np.min(np.where(kt, idx, n), axis=1)
        high[rows] = np.min(np.where(pt, idx, n), axis=1) > np.max(np.where(kt, idx, -1), axis=1)
    return {"width": width, "n_alive": kp + kk, "kp": kp, "ck": ck, "cp": cp, "sep": ~some | (tp < tk),
            "le": ~some | (tp <= tk), "cross": cross, "low": low, "high": high}  # fmt: skip


def _reproduces(r: Mapping[str, Any], k: _I, ties: str) -> bool:
    """Does pruning ``k`` entries per row under ``ties`` select exactly the pruned entries?"""
    kp, n = r["kp"], r["n_alive"]
    if ties in ("lowest_index", "highest_index", "any"):
        order = r["low"] if ties == "lowest_index" else r["high"] if ties == "highest_index" else True
        ok = (kp == k) & r["le"] & (~r["cross"] | order)
    elif ties == "keep":
        ok = np.where(k >= n, kp == n, r["sep"] & (kp <= k) & (kp + r["ck"] >= k + 1))
    else:  # prune
        ok = np.where(k == 0, kp == 0, r["sep"] & (kp >= k) & (kp - r["cp"] < k))
    return bool(np.all(ok))


def _items(name: str, value: Any, n: int | None) -> list[Any]:
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
        raise TypeError(
            f"{name} must be a list or tuple of arrays for kind='global', got {type(value).__name__}"
        )
    if (n is None and not value) or (n is not None and len(value) != n):
        raise ValueError(f"{name} must hold {n or 'at least one'} array(s), got {len(value)}")
    return list(value)


def _nm_amount(amount: Any) -> tuple[int, int]:
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


def _group_reversal(length: int, m: int) -> _I:
    """The permutation reversing every group of ``m`` (and the tail) along an axis; its own inverse."""
    idx = np.arange(length)
    full = (length // m) * m
    return np.where(idx < full, (idx // m) * m + (m - 1 - idx % m), full + (length - 1 - idx))


def _show(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())
