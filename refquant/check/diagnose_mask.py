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
  TF-MOT's N:M keeps the lower index), ``keep``, ``prune``; and, only when
  none of these explains the mask, ``any``: an unspecified order among equal
  scores (``torch.topk``'s, whose docs promise no order for tied elements),
  with up to two other knobs;
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

No mask is recomputed: per row (the tensor, a slice, the slice norms, an
N:M group), the pruned count and the largest pruned and smallest kept score
decide in O(rows) whether a count and a tie policy select exactly the pruned
entries. The counts come first and need no score (most settings fail on
them); the scores of a layout (axis, score, norm) are reduced once, O(n), to
order-preserving integer keys and row statistics, shared by every setting
of that layout. The reference is derived from the same statistics when the
mask is a selection of the smallest scores near the reference's count (an
N:M reference from the ranks inside the groups that differ), else computed
by refquant. Systems are those of ``docs/spec/pruning.md`` ("Where the
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
from refquant.check._diagnose_mask_kernels import (
    Layouts,
    derived_pruned,
    first_true,
    ignored_bounds,
    items,
    nm_amount,
    possible,
    reproduces,
    row_counts,
    show,
    tied_entries,
    unoriented,
)
from refquant.check.diagnosis import Diagnosis
from refquant.prune.masks import (
    check_amount,
    check_norm_order,
    existing_as_bool,
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
_ANY = {"ties": "any"}  # the last resort of the search: an unspecified order among equal scores
_TIED_SHOWN = 8  # tied entries a finding lists
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
        (module docstring), ``{}`` for the reference, ``{"ties": "any", ...}``
        when only an unspecified order among equal scores reproduces it (a
        finding then lists the tied entries), None if no setting of up to
        three knobs reproduces the mask.

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
    :func:`refquant.prune.masks.select_pruned`'s rules read backwards;
    ``any`` iff ``|P| = k`` and ``t_P <= t_K``. With ``existing_mask="ignored"``
    (every entry ranked, dead ones too), each policy admits an interval of
    counts, from the ranks of ``t_P`` and ``t_K`` among all entries. The
    first of the simplest settings (knob order above) wins; the others and
    the knobs the mask cannot tell apart are in ``findings``. NaN weights
    (or scores, when given) raise, as in the reference. Source:
    ``docs/spec/pruning.md``; ``torch.topk``'s note on tied elements.

    Examples
    --------
    >>> w = np.array([0.5, -0.1, 0.3, -0.2, 0.9, 0.05, 0.7, -0.6, 0.8, 0.4])
    >>> d = diagnose_mask(w, np.abs(w) > 0.2, 0.25)    # 3 pruned: ceil(0.25 * 10)
    >>> d.explained_by, d.systems[0]
    ({'count_rule': 'ceil'}, 'open_lth sparse_layerwise')
    >>> diagnose_mask(w, np.abs(w) > 0.1, 0.25).matches_reference  # round(2.5) = 2
    True
    >>> d = diagnose_mask(np.full(5, 0.5), np.array([1, 0, 1, 0, 1]), 2)  # 2 of 5 equal values
    >>> d.explained_by, d.systems[0]                                     # not the first two
    ({'ties': 'any'}, 'PyTorch torch.nn.utils.prune.l1_unstructured')
    """
    prob = _Problem(weights, actual_mask, amount, kind, scores, existing_mask, axis, p, max_examples)
    # the row statistics decide "actual is the reference" without computing it; else it is derived
    diff = np.zeros(prob.act.shape, bool) if prob.explains({}) else prob.reference() != prob.act
    mismatches = int(np.count_nonzero(diff))
    notes: list[str] = []
    unpruned = prob.unpruned
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
            notes.append("Equally explained by: " + "; ".join(show(o) for o in others) + ".")
    systems: tuple[str, ...] = ()
    if explained is not None:
        if explained.get("ties") == "any":
            notes.append(prob.tie_note(explained))
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


class _Problem(Layouts):
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
        ws = items("weights", weights, None) if many else [weights]
        self.ws = [as_float_array(f"weights[{i}]" if many else "weights", w) for i, w in enumerate(ws)]
        n = len(self.ws)
        name: Fn = (lambda s, i: f"{s}[{i}]") if many else (lambda s, i: s)
        acts = items("actual_mask", actual, n) if many else [actual]
        exs = [None] * n if existing is None else items("existing_mask", existing, n) if many else [existing]
        scs = [None] * n if scores is None else items("scores", scores, n) if many else [scores]
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
            self.n, self.m = nm_amount(amount)
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
            for i, (s, w) in enumerate(zip(sc, self.ws, strict=True)):
                if s.shape != w.shape:
                    raise ValueError(
                        f"{name('scores', i)} must have the shape {w.shape} of weights, got {s.shape}"
                    )
                if s.size and np.isnan(np.max(s)):
                    raise ValueError(f"{name('scores', i)} contain NaN: no ranking")
            self.scores = np.concatenate([s.reshape(-1) for s in sc]) if many else sc[0]
        self.pruned: Any = self.alive & ~self.act if self.has_existing else ~self.act
        self.unpruned = int(np.count_nonzero(self.act & ~self.alive)) if self.has_existing else 0
        self._rows: dict[Any, Any] = {}
        self._keys: dict[Any, Any] = {}
        self._knobs: dict[str, list[Any]] | None = None

    # --- the reference: derived from the row statistics, else refquant's call ------------------

    def reference(self) -> Mask:
        """refquant's mask with its defaults (``diff`` is taken against it)."""
        if self.kind == "nm":
            return self.nm_reference()
        s = self.defaults()
        rows = self.rows(s)
        k = None if rows is None else self.counts(s, rows)
        pruned = None if k is None else derived_pruned(rows, k)
        if pruned is None:  # not a selection near the reference's count: refquant computes it
            return self.refquant()
        return ~rows["_back"](unoriented(rows, pruned)) & self.alive

    def refquant(self) -> Any:
        """The reference from refquant itself (global: ``global_masks``)."""
        sc, ax = self.scores, self.axis
        if self.kind == "global":
            out = global_masks(self.ws, self.amount, scores=self.given[0], existing_masks=self.given[1])
            return np.concatenate([m.reshape(-1) for m in out])
        if self.kind == "nm":
            return nm_mask(self.w, self.n, self.m, ax, scores=sc)
        ex = self.alive if self.has_existing else None
        if self.kind == "structured":
            return structured_mask(self.w, self.amount, axis=ax, p=self.p, scores=sc, existing_mask=ex)
        return unstructured_mask(self.w, self.amount, scores=sc, axis=ax, existing_mask=ex)

    # --- knobs and the search ------------------------------------------------------------------

    def defaults(self) -> Settings:
        if self.kind == "nm":
            return {"axis": self.axis, "naming": "kept", "ties": "lowest_index", "tail": "pad"}
        d = {"count_rule": "round", "ties": "lowest_index", **_BY_ROWS, "axis": self.axis}
        return {**d, "p": self.p} if self.kind == "structured" else d

    def knobs(self) -> dict[str, list[Any]]:
        """The alternative values of every knob the inputs can exercise, in search order (cached)."""
        if self._knobs is not None:
            return self._knobs
        axes = [
            a
            for a in [None, *range(self.ndim)]
            if a != self.axis and (a is not None or self.kind == "unstructured")
        ]
        if self.kind == "nm":
            out = {"axis": axes, "naming": ["pruned"], "ties": ["highest_index"], "tail": ["dense"]}
        else:
            out = {}
            if not isinstance(self.amount, numbers.Integral):
                out["count_rule"] = ["floor", "ceil", "tfmot", "torch_pruning"]
            out["ties"] = ["highest_index", "keep", "prune"]
            if self.has_existing:
                out["relative_to"] = ["total"]
                out["existing_mask"] = ["ignored"] if self.kind == "unstructured" else []
            out["axis"] = axes if self.kind != "global" else []
            out["p"] = [q for q in (1, 2, math.inf) if q != self.p] if self.kind == "structured" else []
            signed = self.scores is None and self.kind != "structured" and self.w.size and np.min(self.w) < 0
            out["score"] = ["signed"] if signed else []
            out["count_offset"] = [1, -1]
        self._knobs = {k: v for k, v in out.items() if v}
        return self._knobs

    def search(self) -> tuple[Settings | None, list[Settings], int]:
        """The simplest settings that explain the mask, up to five others as simple, the count tried.

        Fixed tie orders first (one, two, three knobs); then, as a last resort,
        ``ties="any"`` (some order among equal scores) with up to two other knobs.
        """
        knobs, tried = self.knobs(), 0
        others = {k: v for k, v in knobs.items() if k != "ties"}
        for level, pool, extra in ((1, knobs, {}), (2, knobs, {}), (3, knobs, {}), (0, others, _ANY),
                                   (1, others, _ANY), (2, others, _ANY)):  # fmt: skip
            found = []
            for combo in itertools.combinations(pool, level):
                for values in itertools.product(*(pool[k] for k in combo)):
                    tried += 1
                    given = {**dict(zip(combo, values, strict=True)), **extra}
                    cand = {k: given[k] for k in knobs if k in given}  # in knob order
                    if self.explains(cand):
                        found.append(cand)
            if found:
                return found[0], found[1:6], tried
        return None, [], tried

    def explains(self, cand: Mapping[str, Any]) -> bool:
        """Whether refquant with ``cand`` (``ties="any"``: some order of the ties) gives the mask.

        The counts decide first (:func:`possible`); the scores of the layout only if they allow it.
        """
        s = {**self.defaults(), **cand}
        t = self.tally(s)
        if t is None:
            return False
        if self.kind == "nm":
            keep = self.n if s["naming"] == "kept" else self.m - self.n
            ks = [self.m - keep, 0 if s["tail"] == "dense" or t[1] is None else max(t[1]["width"] - keep, 0)]
            if not all(p is None or bool(np.all(p["kp"] == k)) for p, k in zip(t, ks, strict=True)):
                return False
            return all(r is None or reproduces(r, np.int64(k), s["ties"])
                       for r, k in zip(self.rows(s), ks, strict=True))  # fmt: skip
        if s.get("existing_mask") == "ignored" and self.has_existing:  # every entry ranked, then the old mask
            k = self.counts(s, {**t, "n_alive": np.full(t["n_alive"].shape, t["width"])}, every=True)
            if k is None or self.unpruned or (s["ties"] != "prune" and bool(np.any(t["kp"] > k))):
                return False
            rows = self.rows(s)
            if "_bounds" not in rows:
                rows["_bounds"] = ignored_bounds(rows)
            ok, lo, hi = rows["_bounds"][s["ties"]]
            return bool(np.all(ok & (lo <= k) & (k <= hi)))
        k = self.counts(s, t)
        return k is not None and possible(t, k, s["ties"]) and reproduces(self.rows(s), k, s["ties"])

    def counts(self, s: Mapping[str, Any], t: Any, every: bool = False) -> _I | None:
        """Entries to prune in every row under ``s``'s count rule; None if one is out of range."""
        return row_counts(self.amount, s, t["width"], t["n_alive"], every)

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
            if reproduces(rows, rows["kp"], "any"):
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

    def tie_note(self, explained: Mapping[str, Any]) -> str:
        """The entries tied at the threshold in the rows that do not prune the lowest-index ones."""
        s = {**self.defaults(), **explained}
        rows = self.rows(s)
        parts = [r for r in (rows if self.kind == "nm" else [rows]) if r is not None]
        odd = [r["cross"] & ~r["low"] for r in parts]
        n_odd, n_rows = sum(int(o.sum()) for o in odd), sum(o.size for o in odd)
        tied = [tied_entries(r, o) for r, o in zip(parts, odd, strict=True)]
        n_pruned = sum(
            int(np.count_nonzero(t & unoriented(r, r["_P"]))) for r, t in zip(parts, tied, strict=True)
        )
        if self.kind == "structured":
            n_tied, idx = int(np.count_nonzero(tied[0])), np.flatnonzero(tied[0])[:_TIED_SHOWN]
            what, value, shown = "slices", "the threshold norm", [str(int(i)) for i in idx]
            shown[0] = f"slices {shown[0]}"
        else:
            at = np.zeros(self.act.shape, bool)
            for r, t in zip(parts, tied, strict=True):
                at |= r["_back"](t)
            n_tied, idx = int(np.count_nonzero(at)), first_true(at.reshape(-1), _TIED_SHOWN)
            what, value, shown = "entries", "their row's threshold", [str(self.position(int(i))) for i in idx]
            if n_rows == 1:
                value = f"score {self.value(int(idx[0]), s.get('score') == 'signed')}"
        unit = f"groups of {self.m}" if self.kind == "nm" else f"slices along axis {s.get('axis')}"
        where = f" in {n_odd} of the {n_rows} {unit}" if n_rows > 1 else ""
        more = f", ... ({n_tied} in all)" if n_tied > len(shown) else ""
        return (
            "It prunes the smallest scores but breaks the ties at the threshold in another order than lowest "
            f"or highest index first{where}: {n_pruned} of the {n_tied} {what} tied at {value} are pruned, "
            "not those of lowest index, as an unspecified tie order (torch.topk's) allows; tied: "
            f"{', '.join(shown)}{more}."
        )

    def examples(self, diff: Mask) -> list[dict[str, Any]]:
        out = []
        ends = np.cumsum([w.size for w in self.ws])
        for i in first_true(diff.reshape(-1), self.max_examples):
            t = int(np.searchsorted(ends, i, side="right"))
            w = self.ws[t]
            j = int(i) - (int(ends[t - 1]) if t else 0)
            ex: dict[str, Any] = {"index": self.position(int(i))}
            ex["weight"] = str(w.dtype.type(w.reshape(-1)[j]))
            if self.scores is not None:
                ex["score"] = str(self.scores.reshape(-1)[i])
            kept = bool(self.act.reshape(-1)[i])
            ex["actual"], ex["reference"] = ("kept", "pruned") if kept else ("pruned", "kept")
            out.append(ex)
        return out
