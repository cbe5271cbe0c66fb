"""refquant.prune masks: properties (counts, nesting, idempotence, equivariance, untouched inputs)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.prune import (
    block_mask,
    global_masks,
    nm_mask,
    pruned_count,
    random_mask,
    structured_mask,
    unstructured_mask,
)

TIES = ("lowest_index", "keep", "prune")


# ----------------------------------------------------------------------------- properties

float_dtypes = st.sampled_from([np.float16, np.float32, np.float64])
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)
amounts = st.one_of(st.floats(0, 1), st.integers(0, 300))


@st.composite
def tie_heavy(draw: st.DrawFn, min_size: int = 0) -> np.ndarray:
    """Weights with many ties: small integers (and signed zeros) in a float dtype."""
    shape = draw(shapes.filter(lambda s: math.prod(s) >= min_size))
    vals = draw(hnp.arrays(np.int8, shape, elements=st.integers(-3, 3)))
    return vals.astype(draw(float_dtypes)) * draw(st.sampled_from([1.0, -1.0]))


@st.composite
def tie_free(draw: st.DrawFn, max_side: int = 6) -> np.ndarray:
    """Weights with distinct magnitudes (and random signs)."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=max_side))
    n = math.prod(shape)
    mags = np.asarray(
        draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True)), dtype=np.float64
    )
    signs = np.asarray(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    return (mags * signs).reshape(shape)


def _rows(x: np.ndarray, ax: int) -> np.ndarray:
    """One row per index along ``ax`` (also for empty arrays)."""
    return np.moveaxis(x, ax, 0).reshape(x.shape[ax], math.prod(x.shape) // max(x.shape[ax], 1))


def _clip_amount(amount: float, n: int) -> float:
    return min(amount, n) if isinstance(amount, int) else amount


@given(tie_heavy(), amounts, st.sampled_from(["round", "floor", "ceil"]))
def test_exact_counts_and_policy_bounds(w: np.ndarray, amount: float, rule: Any) -> None:
    amount = _clip_amount(amount, w.size)
    k = pruned_count(amount, w.size, count_rule=rule)
    kept = {t: unstructured_mask(w, amount, count_rule=rule, ties=t) for t in TIES}
    assert w.size - kept["lowest_index"].sum() == k
    assert w.size - kept["keep"].sum() <= k <= w.size - kept["prune"].sum()
    # prune-all-ties keeps a subset of lowest_index, which keeps a subset of keep-all-ties
    assert not (kept["prune"] & ~kept["lowest_index"]).any()
    assert not (kept["lowest_index"] & ~kept["keep"]).any()
    # every kept score >= every pruned score
    m = kept["lowest_index"]
    if m.any() and (~m).any():
        assert np.abs(w)[m].min() >= np.abs(w)[~m].max()


@given(tie_heavy(), st.integers(0, 300), st.integers(0, 300), st.sampled_from(TIES))
def test_masks_nest_as_sparsity_grows(w: np.ndarray, k1: int, k2: int, ties: Any) -> None:
    lo, hi = sorted((min(k1, w.size), min(k2, w.size)))
    m_lo = unstructured_mask(w, lo, ties=ties)
    m_hi = unstructured_mask(w, hi, ties=ties)
    assert not (m_hi & ~m_lo).any()


@given(tie_heavy(), st.floats(0, 1), st.sampled_from(TIES))
def test_idempotent_relative_to_total(w: np.ndarray, amount: float, ties: Any) -> None:
    m = unstructured_mask(w, amount, ties=ties)
    again = unstructured_mask(w, amount, ties=ties, existing_mask=m, relative_to="total")
    assert np.array_equal(again, m)


@given(tie_free(), st.floats(0, 1))
def test_idempotent_on_the_pruned_weights(w: np.ndarray, amount: float) -> None:
    m = unstructured_mask(w, amount)
    assert np.array_equal(unstructured_mask(w * m, amount), m)  # pruned entries are the zeros


@given(tie_heavy(min_size=1), st.sampled_from(["round", "floor", "ceil"]))
def test_iterative_composition(w: np.ndarray, rule: Any) -> None:
    m1 = unstructured_mask(w, 0.5, count_rule=rule)
    m2 = unstructured_mask(w, 0.5, existing_mask=m1, count_rule=rule)
    k1 = pruned_count(0.5, w.size, count_rule=rule)
    k2 = pruned_count(0.5, w.size - k1, count_rule=rule)
    assert np.array_equal(m2, unstructured_mask(w, k1 + k2))
    if w.size % 4 == 0:  # two rounds of 0.5 of the remaining = 0.75 of the total
        assert np.array_equal(m2, unstructured_mask(w, 0.75))


def test_two_rounds_of_half_is_three_quarters() -> None:
    w = np.random.default_rng(0).standard_normal((8, 16))
    m1 = unstructured_mask(w, 0.5)
    m2 = unstructured_mask(w, 0.5, existing_mask=m1)
    assert m2.sum() == 32 and np.array_equal(m2, unstructured_mask(w, 0.75))


@given(tie_free(), st.floats(0, 1), st.data())
def test_permutation_equivariance(w: np.ndarray, amount: float, data: st.DataObject) -> None:
    perm = np.asarray(data.draw(st.permutations(range(w.size))))
    flat = w.ravel()
    assert np.array_equal(unstructured_mask(flat[perm], amount), unstructured_mask(flat, amount)[perm])
    ax = data.draw(st.integers(0, w.ndim - 1))
    p = np.asarray(data.draw(st.permutations(range(w.shape[ax]))))
    for fn in (
        lambda x: structured_mask(x, amount, axis=ax),
        lambda x: unstructured_mask(x, amount, axis=(ax + 1) % w.ndim),
    ):
        assert np.array_equal(fn(np.take(w, p, axis=ax)), np.take(fn(w), p, axis=ax))


@given(st.lists(tie_heavy(), min_size=1, max_size=4), amounts, st.sampled_from(TIES), st.data())
def test_global_equals_concatenation(
    ws: list[np.ndarray], amount: float, ties: Any, data: st.DataObject
) -> None:
    n = sum(w.size for w in ws)
    amount = _clip_amount(amount, n)
    existing = [data.draw(hnp.arrays(np.bool_, w.shape)) for w in ws] if data.draw(st.booleans()) else None
    rel = data.draw(st.sampled_from(["remaining", "total"]))
    cat = np.concatenate([w.ravel() for w in ws])
    cat_ex = None if existing is None else np.concatenate([e.ravel() for e in existing])
    try:
        ref = unstructured_mask(cat, amount, existing_mask=cat_ex, ties=ties, relative_to=rel)
    except ValueError:  # an int amount larger than what is left
        with pytest.raises(ValueError, match="amount"):
            global_masks(ws, amount, existing_masks=existing, ties=ties, relative_to=rel)
        return
    got = global_masks(ws, amount, existing_masks=existing, ties=ties, relative_to=rel)
    assert [m.shape for m in got] == [w.shape for w in ws]
    assert np.array_equal(np.concatenate([m.ravel() for m in got]), ref)


@given(tie_heavy(), amounts, st.sampled_from(TIES), st.data())
def test_along_axis_equals_row_by_row(w: np.ndarray, amount: float, ties: Any, data: st.DataObject) -> None:
    ax = data.draw(st.integers(0, w.ndim - 1))
    amount = _clip_amount(amount, w.shape[ax])
    got = unstructured_mask(w, amount, axis=ax, ties=ties)
    rows = _rows(w, ax).T
    ref = [unstructured_mask(r, amount, ties=ties) for r in rows]
    assert np.array_equal(_rows(got, ax).T, np.array(ref, dtype=bool).reshape(rows.shape))


@given(tie_heavy(), amounts, st.sampled_from(TIES), st.data())
def test_structured_equals_selection_on_norms(
    w: np.ndarray, amount: float, ties: Any, data: st.DataObject
) -> None:
    ax = data.draw(st.integers(0, w.ndim - 1))
    amount = _clip_amount(amount, w.shape[ax])
    p = data.draw(st.sampled_from([1, 2, np.inf, 0.5, 3]))
    got = structured_mask(w, amount, axis=ax, p=p, ties=ties)
    a = np.abs(_rows(w, ax)).astype(np.float64)
    norms = a.max(axis=1, initial=0) if p == np.inf else (a**p).sum(axis=1) ** (1 / p)
    slices = unstructured_mask(norms, amount, ties=ties)
    view = [1] * w.ndim
    view[ax] = w.shape[ax]
    if p in (1, np.inf):  # exact sums and maxima; other p may round differently on near-ties
        assert np.array_equal(got, np.broadcast_to(slices.reshape(view), w.shape))
    if ties == "lowest_index" and w.size:
        kept_slices = _rows(got, ax).all(axis=1)
        assert w.shape[ax] - kept_slices.sum() == pruned_count(amount, w.shape[ax])


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=11),
        elements=st.integers(-4, 4),
    ),
    st.integers(1, 6),
    st.data(),
)
def test_nm_valid_on_every_group(w: np.ndarray, m: int, data: st.DataObject) -> None:
    n_keep = data.draw(st.integers(0, m))
    ax = data.draw(st.integers(-w.ndim, w.ndim - 1))
    mask = nm_mask(w, n_keep, m, axis=ax)
    s = np.moveaxis(np.abs(w), ax, -1)
    k = np.moveaxis(mask, ax, -1)
    length = s.shape[-1]
    for start in range(0, length, m):
        g, km = s[..., start : start + m], k[..., start : start + m]
        size = g.shape[-1]  # m, or r < m for the padded tail
        assert np.all(km.sum(axis=-1) == min(n_keep, size))
        # every kept entry's score >= every pruned one's, group by group
        lo_kept = np.where(km, g, np.inf).min(axis=-1)
        hi_pruned = np.where(km, -np.inf, g).max(axis=-1)
        assert np.all(lo_kept >= hi_pruned)
    dense = nm_mask(w, n_keep, m, axis=ax, tail="dense")
    r = length % m
    assert np.moveaxis(dense, ax, -1)[..., length - r :].all()


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
        elements=st.integers(-5, 5),
    ),
    st.integers(1, 4),
    st.integers(1, 4),
    st.floats(0, 1),
    st.sampled_from(["avg", "max"]),
    st.sampled_from(["present", "zero_pad"]),
)
def test_block_counts_and_whole_blocks(
    w: np.ndarray, bh: int, bw: int, amount: float, pool: Any, edge: Any
) -> None:
    mask = block_mask(w, amount, (bh, bw), pool=pool, edge=edge)
    nb_r, nb_c = -(-w.shape[0] // bh), -(-w.shape[1] // bw)
    pruned_blocks = 0
    for i in range(nb_r):
        for j in range(nb_c):
            blk = mask[i * bh : (i + 1) * bh, j * bw : (j + 1) * bw]
            assert blk.all() or not blk.any()
            pruned_blocks += not blk.any()
    assert pruned_blocks == pruned_count(amount, nb_r * nb_c)


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


@given(tie_heavy(min_size=1), st.floats(0, 1))
def test_inputs_untouched_and_deterministic(w: np.ndarray, amount: float) -> None:
    w = _read_only(w)
    sc = _read_only(-np.abs(w) + 0.5)
    ex = _read_only(np.arange(w.size).reshape(w.shape) % 3 != 0)
    copies = [w.copy(), sc.copy(), ex.copy()]
    calls = [
        lambda: unstructured_mask(w, amount, scores=sc, existing_mask=ex),
        lambda: unstructured_mask(w, amount, axis=0, existing_mask=ex),
        lambda: random_mask(w, amount, rng=np.random.default_rng(5), existing_mask=ex),
        lambda: structured_mask(w, amount, scores=sc, existing_mask=ex, relative_to="total"),
        lambda: global_masks([w, sc], amount, scores=[sc, None], existing_masks=[ex, None]),
        lambda: nm_mask(w, 1, 3, scores=sc),
    ]
    if w.ndim == 2:
        calls.append(lambda: block_mask(w, amount, (2, 2), scores=sc, existing_mask=ex))
    for call in calls:
        first = call()
        second = call()
        for a, b in zip(
            first if isinstance(first, list) else [first],
            second if isinstance(second, list) else [second],
            strict=True,
        ):
            assert a.dtype == np.bool_ and np.array_equal(a, b)
    for a, c in zip([w, sc, ex], copies, strict=True):
        assert np.array_equal(a, c, equal_nan=True) and a.dtype == c.dtype


@given(tie_heavy(min_size=1), st.floats(0, 1))
def test_existing_mask_respected(w: np.ndarray, amount: float) -> None:
    ex = np.arange(w.size).reshape(w.shape) % 2 == 0
    for rel in ("remaining", "total"):
        for m in (
            unstructured_mask(w, amount, existing_mask=ex, relative_to=rel),
            structured_mask(w, amount, existing_mask=ex, relative_to=rel),
            random_mask(w, amount, rng=np.random.default_rng(0), existing_mask=ex, relative_to=rel),
        ):
            assert not (m & ~ex).any()
    m = unstructured_mask(w, amount, existing_mask=ex, relative_to="total")
    assert w.size - m.sum() == max(pruned_count(amount, w.size), w.size - ex.sum())
    m = unstructured_mask(w, amount, existing_mask=ex)
    assert ex.sum() - m.sum() == pruned_count(amount, int(ex.sum()))
