"""refquant.check.diagnose_mask: every knob and every pair of knobs is named from tie-heavy weights.

Actuals come from this file's own NumPy model of each setting: Python's
``round``/``floor``/``ceil`` (or TF-MOT's float32 kept count) for the count,
a sort of ``(score, index)`` for the selection with each tie policy, slices
scored by exact L1 / max norms of integer weights, N:M groups by a stable
sort. torch.nn.utils.prune is in
tests/conformance/test_check_diagnose_other_conformance.py.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from refquant.check.diagnose_mask import diagnose_mask
from refquant.check.inputs import nm_inputs
from refquant.prune import global_masks, nm_mask, structured_mask, unstructured_mask

F32 = np.float32
DEFAULTS = {
    "count_rule": "round",
    "ties": "lowest_index",
    "relative_to": "remaining",
    "existing_mask": "respected",
    "score": "abs",
    "count_offset": 0,
}


def count(amount: Any, n: int, rule: str) -> int:
    if isinstance(amount, int):
        return amount
    if rule == "tfmot":
        kept = int(np.rint(F32(n) * (F32(1) - F32(amount))))
        return max(n - max(kept, 1), 0)
    if rule == "torch_pruning":
        return n - math.floor(n * (1 - amount))
    return {"round": round, "floor": math.floor, "ceil": math.ceil}[rule](amount * n)


def select(scores: np.ndarray, alive: np.ndarray, k: int, ties: str) -> np.ndarray:
    """Pruned set (bool, 1-D) of ``k`` among the alive entries, by a sort of (score, +-index)."""
    idx = np.flatnonzero(alive)
    if not 0 <= k <= idx.size:
        raise Invalid(k)
    s = scores[idx]
    pruned = np.zeros(scores.shape, bool)
    if ties in ("lowest_index", "highest_index"):
        key = idx if ties == "lowest_index" else -idx
        order = np.lexsort((key, s))
        pruned[idx[order[:k]]] = True
    elif ties == "keep":
        if k >= idx.size:
            pruned[idx] = True
        else:
            t = np.sort(s)[k]  # the (k+1)-th smallest
            pruned[idx[s < t]] = True
    elif k > 0:
        t = np.sort(s)[k - 1]
        pruned[idx[s <= t]] = True
    return pruned


class Invalid(Exception):
    """A count outside [0, n]: no pruning library returns such a mask."""


def rows_of(a: np.ndarray, axis: int | None) -> np.ndarray:
    return a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis])


def model(
    w: np.ndarray, amount: Any, setting: dict[str, Any], existing: np.ndarray | None = None
) -> np.ndarray:
    """The unstructured (or global, on the concatenation) mask of ``setting``."""
    s = {**DEFAULTS, "axis": None, **setting}
    score = w if s["score"] == "signed" else np.abs(w)
    alive = np.ones(w.shape, bool) if existing is None else existing
    ignored = s["existing_mask"] == "ignored" and existing is not None
    pick_alive = np.ones(w.shape, bool) if ignored else alive
    sc, al = rows_of(score, s["axis"]), rows_of(pick_alive, s["axis"])
    out = np.zeros(sc.shape, bool)
    for r in range(sc.shape[0]):
        n, left = sc.shape[1], int(al[r].sum())
        if ignored or s["relative_to"] == "total":
            k = max(0, count(amount, n, s["count_rule"]) - (n - left))
        else:
            k = count(amount, left, s["count_rule"])
        out[r] = select(sc[r], al[r], k + s["count_offset"], s["ties"])
    pruned = (
        out.reshape(w.shape)
        if s["axis"] is None
        else np.moveaxis(out.reshape(np.moveaxis(w, s["axis"], -1).shape), -1, s["axis"])
    )
    return ~pruned & alive


def structured_model(w: np.ndarray, amount: Any, setting: dict[str, Any], existing: Any = None) -> np.ndarray:
    s = {**DEFAULTS, "axis": 0, "p": 1, **setting}
    ax = s["axis"]
    alive = np.ones(w.shape, bool) if existing is None else existing
    per = np.moveaxis(np.where(alive, np.abs(w), 0), ax, 0).reshape(w.shape[ax], -1)
    norms = per.sum(axis=1) if s["p"] == 1 else per.max(axis=1)  # exact for integer weights
    live = np.moveaxis(alive, ax, 0).reshape(w.shape[ax], -1).any(axis=1)
    n, left = live.size, int(live.sum())
    k = (
        count(amount, left, s["count_rule"])
        if s["relative_to"] == "remaining"
        else max(0, count(amount, n, s["count_rule"]) - (n - left))
    )
    pruned = select(norms, live, k + s["count_offset"], s["ties"])
    view = [1] * w.ndim
    view[ax] = -1
    return np.broadcast_to(~pruned.reshape(view), w.shape) & alive


def nm_model(w: np.ndarray, n: int, m: int, setting: dict[str, Any]) -> np.ndarray:
    s = {"axis": w.ndim - 1, "naming": "kept", "ties": "lowest_index", "tail": "pad", **setting}
    keep_n = n if s["naming"] == "kept" else m - n
    a = np.moveaxis(np.abs(w), s["axis"], -1)
    keep = np.ones(a.shape, bool)
    for start in range(0, a.shape[-1], m):
        g = a[..., start : start + m]
        width = g.shape[-1]
        if width < m and s["tail"] == "dense":
            continue
        kk = min(keep_n, width)
        for r in np.ndindex(g.shape[:-1]):
            idx = np.arange(width)
            order = np.lexsort((idx if s["ties"] == "lowest_index" else -idx, g[r]))
            keep[(*r, slice(start, start + m))][order[: width - kk]] = False
    return np.moveaxis(keep, -1, s["axis"])


def pairs_of(singles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**a, **b} for a, b in itertools.combinations(singles, 2) if not set(a) & set(b)]


def check_all(diagnose: Any, make: Any, settings: list[dict[str, Any]]) -> int:
    """Every setting is explained by a true setting of at most its size, and named when unique."""
    outs = []
    for s in settings:
        try:
            outs.append((s, make(s)))
        except Invalid:
            continue
    base = make({})
    exact = 0
    for setting, actual in outs:
        if np.array_equal(actual, base):
            continue  # a no-op on these inputs
        d = diagnose(actual)
        assert d.explained_by is not None, (setting, str(d))
        assert np.array_equal(make(d.explained_by), actual), (setting, d.explained_by)  # a true explanation
        assert len(d.explained_by) <= len(setting), (setting, d.explained_by)
        explaining = [s for s, y in outs if len(s) <= len(setting) and np.array_equal(y, actual)]
        if explaining == [setting]:
            assert d.explained_by == setting, (setting, d.explained_by)
        exact += d.explained_by == setting
    return exact


def tie_heavy(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-5, 6, size=shape).astype(np.float64) / 4


SINGLES = (
    [{"count_rule": r} for r in ("floor", "ceil", "tfmot", "torch_pruning")]
    + [{"ties": t} for t in ("highest_index", "keep", "prune")]
    + [{"score": "signed"}, {"count_offset": 1}, {"count_offset": -1}]
)


@pytest.mark.parametrize("amount", [0.3125, 0.2875, 0.9, 0.995, 13])
def test_unstructured_every_setting_and_pair(amount: Any) -> None:
    w = tie_heavy((8, 10))
    singles = [s for s in SINGLES if not (isinstance(amount, int) and "count_rule" in s)]
    singles += [{"axis": 0}, {"axis": 1}]
    settings = singles + pairs_of(singles)
    exact = check_all(lambda a: diagnose_mask(w, a, amount), lambda s: model(w, amount, s), settings)
    assert exact >= 5


def test_iterative_pruning_relative_to_and_existing_mask() -> None:
    w = tie_heavy((6, 10), seed=1)
    ex = unstructured_mask(w, 0.3, ties="keep")
    singles = [
        {"relative_to": "total"},
        {"existing_mask": "ignored"},
        {"count_rule": "floor"},
        {"count_rule": "ceil"},
        {"ties": "keep"},
        {"ties": "prune"},
        {"ties": "highest_index"},
        {"count_offset": 1},
    ]
    settings = singles + pairs_of(singles)
    for amount in (0.45, 0.6):
        check_all(
            lambda a, am=amount: diagnose_mask(w, a, am, existing_mask=ex),
            lambda s, am=amount: model(w, am, s, ex),
            settings,
        )


def test_refquant_knobs_named_directly() -> None:
    w = tie_heavy((8, 10), seed=2)
    # 80 entries: 0.2975 * 80 = 23.8 (round 24, floor 23), 0.29 * 80 = 23.2 (round 23, ceil 24)
    assert diagnose_mask(w, unstructured_mask(w, 0.2975, count_rule="floor"), 0.2975).explained_by == {
        "count_rule": "floor"
    }
    assert diagnose_mask(w, unstructured_mask(w, 0.29, count_rule="ceil"), 0.29).explained_by == {
        "count_rule": "ceil"
    }
    assert diagnose_mask(w, unstructured_mask(w, 0.3, ties="prune"), 0.3).explained_by == {"ties": "prune"}
    assert diagnose_mask(w, unstructured_mask(w, 0.3, axis=1), 0.3).explained_by == {"axis": 1}
    ex = unstructured_mask(w, 0.25)
    d = diagnose_mask(
        w, unstructured_mask(w, 0.5, existing_mask=ex, relative_to="total"), 0.5, existing_mask=ex
    )
    assert d.explained_by == {"relative_to": "total"}


def test_structured_axis_norm_and_counts() -> None:
    w = np.random.default_rng(3).integers(-4, 5, size=(6, 8, 3)).astype(np.float64)
    singles = [
        {"axis": 1},
        {"axis": 2},
        {"p": math.inf},
        {"count_rule": "floor"},
        {"count_rule": "ceil"},
        {"ties": "keep"},
        {"ties": "prune"},
        {"ties": "highest_index"},
        {"count_offset": 1},
    ]
    settings = singles + pairs_of(singles)
    for amount in (0.4, 0.45):
        check_all(
            lambda a, am=amount: diagnose_mask(w, a, am, kind="structured", p=1),
            lambda s, am=amount: structured_model(w, am, s),
            settings,
        )
    # refquant's own structured masks, L2 norms (the default) included
    r = np.random.default_rng(4).standard_normal((5, 7))
    assert diagnose_mask(r, structured_mask(r, 0.4, axis=1, p=1), 0.4, kind="structured").explained_by == {
        "axis": 1,
        "p": 1,
    }
    ex = structured_mask(r, 1)
    a = structured_mask(r, 0.5, existing_mask=ex, relative_to="total")
    assert diagnose_mask(r, a, 0.5, kind="structured", existing_mask=ex).explained_by == {
        "relative_to": "total"
    }


def test_nm_axis_naming_ties_tail() -> None:
    w = tie_heavy((6, 10), seed=5)
    singles = [{"axis": 0}, {"naming": "pruned"}, {"ties": "highest_index"}, {"tail": "dense"}]
    settings = singles + pairs_of(singles)
    for n, m in ((1, 4), (2, 4), (3, 8)):
        check_all(
            lambda a, n=n, m=m: diagnose_mask(w, a, (n, m), kind="nm"),
            lambda s, n=n, m=m: nm_model(w, n, m, s),
            settings,
        )
    x = np.random.default_rng(6).standard_normal((8, 12))
    d = diagnose_mask(x, nm_mask(x, 2, 4, axis=0), "2:4", kind="nm")
    assert d.explained_by == {"axis": 0}
    assert "TF-MOT sparsity_m_by_n (N pruned of M, TF's (in, out) kernel)" in d.systems
    assert diagnose_mask(x, nm_mask(x, 3, 4), (1, 4), kind="nm").explained_by == {"naming": "pruned"}


def test_global_counts_and_ties() -> None:
    ws = [tie_heavy((4, 5), seed=7), tie_heavy((9,), seed=8)]
    flat = np.concatenate([w.ravel() for w in ws])
    split = lambda m: [m[:20].reshape(4, 5), m[20:]]  # noqa: E731
    singles = [s for s in SINGLES if s != {"score": "signed"}] + [{"score": "signed"}]
    settings = singles + pairs_of(singles)
    for amount in (0.3, 0.42):

        def diagnose(a: np.ndarray, am: float = amount) -> Any:
            return diagnose_mask(ws, split(a), am)

        check_all(diagnose, lambda s, am=amount: model(flat, am, s), settings)
    d = diagnose_mask(ws, global_masks(ws, 0.3, count_rule="floor", ties="prune"), 0.3)
    assert d.explained_by is not None and np.array_equal(
        np.concatenate([m.ravel() for m in global_masks(ws, 0.3, **d.explained_by)]),
        np.concatenate([m.ravel() for m in global_masks(ws, 0.3, count_rule="floor", ties="prune")]),
    )


def test_systems_per_setting() -> None:
    w = np.random.default_rng(9).standard_normal((8, 10))
    tf = unstructured_mask(w, 80 - max(int(np.rint(F32(80) * (F32(1) - F32(0.995)))), 1), ties="keep")
    d = diagnose_mask(w, tf, 0.995)  # kept = max(round(0.4), 1) = 1: 79 pruned, round(79.6) = 80
    assert d.explained_by == {"count_rule": "floor"} and "TF-MOT prune_low_magnitude" in d.systems
    d = diagnose_mask(w, unstructured_mask(w, 0.3), 0.3)
    assert d.matches_reference and d.systems[0] == "PyTorch torch.nn.utils.prune.l1_unstructured"
    d = diagnose_mask(w, unstructured_mask(w, 0.25, axis=1, count_rule="floor"), 0.25)  # 2.5: round 2
    assert d.explained_by == {"axis": 1} and "Wanda (each output row)" in d.systems
    d = diagnose_mask(w, unstructured_mask(w, 0.35, axis=1, count_rule="floor"), 0.35)  # 3.5: round 4
    assert d.explained_by == {"count_rule": "floor", "axis": 1} and d.systems == ("Wanda (each output row)",)
    d = diagnose_mask(w, unstructured_mask(w, math.floor(0.3 * 80) + 1, ties="prune"), 0.3)
    assert "Wanda's magnitude baseline" in d.systems


def test_unspecified_tie_order_and_wrong_scores() -> None:
    w = np.full(10, 0.5)
    actual = np.ones(10, bool)
    actual[[6, 7, 8]] = False  # torch 2.13's topk on ten equal values (tests/conformance)
    d = diagnose_mask(w, actual, 3)  # 3 of the 10 tied entries, neither the first nor the last three
    assert d.explained_by == {"ties": "any"} and not d.matches_reference and d.mismatches == 6
    assert d.systems[0] == "PyTorch torch.nn.utils.prune.l1_unstructured"
    assert any("breaks the ties" in s and "3 of the 10 entries tied at score 0.5" in s for s in d.findings)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 6))
    d = diagnose_mask(x, rng.random((6, 6)) > 0.3, 0.3)
    assert d.explained_by is None and any("not a selection of the smallest" in s for s in d.findings)
    rows = structured_mask(x, 2, axis=0)
    d = diagnose_mask(x, rows, 12)
    assert any("whole slices along axis 0" in s for s in d.findings)
    ex = unstructured_mask(x, 0.5)
    d = diagnose_mask(x, unstructured_mask(x, 0.2), 0.3, existing_mask=ex)
    assert d.explained_by is None and "keeps" in d.findings[0]


def test_ties_any_only_when_no_fixed_order_explains() -> None:
    w = np.array([0.1, 0.3, 0.3, 0.3, 0.3, 0.5, 0.2, 0.3])  # 4 pruned: 0.1, 0.2 and two of five 0.3
    keep = lambda pruned: ~np.isin(np.arange(8), pruned)  # noqa: E731
    d = diagnose_mask(w, keep([0, 6, 2, 4]), 4)  # the tied 0.3 at 2 and 4: not (1, 2), not (4, 7)
    assert d.explained_by == {"ties": "any"} and d.mismatches == 2 and not d.matches_reference
    assert "PyTorch torch.nn.utils.prune.l1_unstructured" in d.systems
    note = next(s for s in d.findings if "breaks the ties" in s)
    assert "2 of the 5 entries tied at score 0.3 are pruned" in note
    assert note.endswith("tied: (1,), (2,), (3,), (4,), (7,).")
    assert diagnose_mask(w, keep([0, 6, 4, 7]), 4).explained_by == {"ties": "highest_index"}
    assert diagnose_mask(w, keep([0, 6, 1, 2]), 4).matches_reference
    # one more of the ties pruned: an off-by-one count in an unspecified order, not ties="prune"
    assert diagnose_mask(w, keep([0, 6, 2, 3, 4]), 4).explained_by == {"ties": "any", "count_offset": 1}
    assert diagnose_mask(w, keep([0, 5, 2, 4]), 4).explained_by is None  # 0.5 pruned, 0.2 kept
    # per row (axis=1): the rows that differ from the lowest index first are counted
    x = np.array([[0.1, 0.2, 0.2, 0.2, 0.9], [0.4, 0.1, 0.1, 0.3, 0.1]])
    d = diagnose_mask(x, np.array([[0, 1, 0, 1, 1], [1, 0, 0, 1, 1]], bool), 0.4)  # 2 per row
    assert d.explained_by == {"ties": "any", "axis": 1}
    note = next(s for s in d.findings if "breaks the ties" in s)
    assert "in 1 of the 2 slices along axis 1: 1 of the 3 entries tied" in note
    assert "tied: (0, 1), (0, 2), (0, 3)." in note


def test_ties_any_in_groups_slices_and_ignored_masks() -> None:
    g = np.array([[0.5, 0.5, 0.5, 0.1], [0.2, 0.4, 0.4, 0.4]])
    d = diagnose_mask(g, np.array([[1, 0, 1, 0], [0, 1, 0, 1]], bool), (2, 4), kind="nm")
    assert d.explained_by == {"ties": "any"} and d.mismatches == 4  # ref keeps 1, 2 and 2, 3
    assert d.systems[0].startswith("NVIDIA ASP")
    assert any("in 2 of the 2 groups of 4" in s for s in d.findings)
    s = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # L1 norms 2, 2, 2, 6
    rows = np.array([1, 0, 1, 1], bool)[:, None] & np.ones((4, 2), bool)
    d = diagnose_mask(s, rows, 1, kind="structured", p=1)
    assert d.explained_by == {"ties": "any"} and "PyTorch torch.nn.utils.prune.ln_structured" in d.systems
    assert any("1 of the 3 slices tied at the threshold norm" in f for f in d.findings)
    # ranking every entry (the old mask applied after): torch's compute_mask with its order of ties
    w = np.array([0.2, 0.2, 0.2, 0.2, 0.9, 0.9])
    old = np.array([0, 1, 1, 1, 1, 1], bool)
    got = np.array([0, 1, 0, 1, 1, 1], bool)  # 2 of the four 0.2 ranked first: 0 (pruned before) and 2
    d = diagnose_mask(w, got, 2, existing_mask=old)  # the same as 1 more of the five alive (total)
    assert d.explained_by == {"ties": "any", "relative_to": "total"}
    assert d.findings[0].startswith("Equally explained by: ties='any', existing_mask='ignored';")
    assert "PyTorch L1Unstructured.compute_mask called directly" in d.systems
    assert "PyTorch torch.nn.utils.prune.l1_unstructured" not in d.systems  # 2 of the remaining 5


def test_ignored_mask_with_pruned_ties() -> None:
    # every entry ranked per row, all ties at the threshold pruned, the old mask applied after: more
    # entries than the count are pruned among the alive ones, which the search once ruled out
    w = tie_heavy((6, 8), seed=3)
    ex = np.random.default_rng(4).random((6, 8)) < 0.7
    actual = model(w, 2, {"ties": "prune", "axis": 1, "existing_mask": "ignored"}, ex)
    d = diagnose_mask(w, actual, 2, existing_mask=ex)
    assert d.explained_by is not None and np.array_equal(model(w, 2, d.explained_by, ex), actual)


@pytest.mark.parametrize("seed", range(12))
def test_mismatches_are_counted_against_refquant(seed: int) -> None:
    # the reference is derived from the row statistics when it can be: it must be refquant's, exactly
    rng = np.random.default_rng(seed)
    w = rng.integers(-3, 4, size=(5, 24)).astype(np.float32) / 4
    ex = rng.random(w.shape) < 0.8 if seed % 3 == 0 else None
    keep = unstructured_mask(w, 0.45, ties="keep", existing_mask=ex)
    rows = unstructured_mask(w, 0.3, axis=1, ties="keep")
    cases = [
        ("unstructured", 0.4, unstructured_mask(w, 0.4, existing_mask=ex), keep),
        ("unstructured", 0.3, unstructured_mask(w, 0.3, axis=1), rows),
        ("structured", 0.4, structured_mask(w, 0.4, axis=1), structured_mask(w, 0.5, axis=1, ties="keep")),
        ("nm", (2, 5), nm_mask(w, 2, 5), nm_mask(w, 3, 5)),
        ("nm", (7, 20), nm_mask(w, 7, 20), nm_mask(w, 9, 20, tail="dense")),
    ]  # fmt: skip
    for kind, amount, ref, actual in cases:
        flip = rng.random(w.shape) < 0.1
        for act in (actual, actual ^ flip, ref ^ flip):
            kw: dict[str, Any] = {"axis": 1} if kind == "structured" else {}
            if kind == "unstructured" and amount == 0.3:
                kw["axis"] = 1
            if kind == "unstructured" and ex is not None and amount == 0.4:
                kw["existing_mask"] = ex
            d = diagnose_mask(w, act, amount, kind=kind, max_examples=50, **kw)
            diff = np.argwhere(ref != act)
            assert d.mismatches == len(diff) and d.matches_reference == (len(diff) == 0), (kind, amount)
            assert [e["index"] for e in d.examples] == [tuple(int(v) for v in i) for i in diff[:50]]


@pytest.mark.parametrize(("n", "m"), [(2, 4), (3, 8), (7, 20)])
def test_nm_one_group_with_its_ties_swapped(n: int, m: int) -> None:
    # every group but one is the reference's: the others are taken from the mask, that one recomputed
    w = nm_inputs((6, 2 * m + 3), n, m, rng=np.random.default_rng(m))  # ties across every boundary
    ref = nm_mask(w, n, m)
    actual = ref.copy()
    a, g = np.abs(w[0, :m]), ref[0, :m]
    t = a[g].min()
    kept_tied, pruned_tied = np.flatnonzero(g & (a == t)), np.flatnonzero(~g & (a == t))
    actual[0, kept_tied[0]], actual[0, pruned_tied[-1]] = False, True  # the same count, other ties
    d = diagnose_mask(w, actual, (n, m), kind="nm")
    assert d.explained_by == {"ties": "any"} and d.mismatches == 2
    assert [e["index"] for e in d.examples] == [(0, int(i)) for i in sorted((kept_tied[0], pruned_tied[-1]))]
    w0 = w.copy()
    diagnose_mask(w, actual, (n, m), kind="nm", axis=0)
    assert np.array_equal(w, w0) and np.array_equal(
        actual[0, :m] != ref[0, :m], np.isin(np.arange(m), [kept_tied[0], pruned_tied[-1]])
    )


def test_readable_report_and_examples() -> None:
    w = np.array([0.5, -0.1, 0.3, -0.2, 0.9, 0.05, 0.7, -0.6, 0.8, 0.4])
    text = str(diagnose_mask(w, np.abs(w) > 0.2, 0.25))
    assert text.splitlines()[:2] == [
        "mask: 1 of 10 elements differ from the reference (largest difference 1 elements).",
        "Explained exactly by: count_rule='ceil'.",
    ]
    assert "Systems with these settings: open_lth sparse_layerwise, Wanda's magnitude baseline." in text
    assert "index=(3,), weight=-0.2, actual=pruned, reference=kept" in text


def test_validation_and_inputs_untouched() -> None:
    w = tie_heavy((4, 5))
    a = unstructured_mask(w, 0.4, ties="keep")
    w0, a0 = w.copy(), a.copy()
    assert diagnose_mask(w, a, 0.4) == diagnose_mask(w, a, 0.4)
    assert np.array_equal(w, w0) and np.array_equal(a, a0)
    with pytest.raises(ValueError, match="actual_mask"):
        diagnose_mask(w, a[:2], 0.4)
    with pytest.raises(ValueError, match="weights contain NaN"):
        diagnose_mask(np.where(w > 0, np.nan, w), a, 0.4)
    with pytest.raises(ValueError, match="scores contain NaN"):
        diagnose_mask(w, a, 0.4, scores=np.where(w > 0, np.nan, w))
    with pytest.raises(ValueError, match="scores must have the shape"):
        diagnose_mask(w, a, 0.4, scores=w[:2])
    with pytest.raises(ValueError, match="amount"):
        diagnose_mask(w, a, 1.5)
    with pytest.raises(ValueError, match="kind"):
        diagnose_mask(w, a, 0.4, kind="blocks")
    with pytest.raises(TypeError, match="list of arrays"):
        diagnose_mask(w, a, 0.4, kind="global")
    with pytest.raises(ValueError, match="amount"):
        diagnose_mask(w, a, (5, 4), kind="nm")
    with pytest.raises((ValueError, TypeError), match="axis"):
        diagnose_mask(w, a, 0.4, axis=3)
    assert diagnose_mask(np.zeros((0, 3)), np.zeros((0, 3), bool), 0.5).matches_reference
