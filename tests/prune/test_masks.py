"""refquant.prune masks: hand-computed examples, tie policies and validation.

The properties are in ``test_masks_properties.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

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

# ----------------------------------------------------------------------------- counts


def test_pruned_count_rules() -> None:
    # 0.5 * 5 = 2.5 -> half to even 2; 0.5 * 7 = 3.5 -> 4; 0.25 * 10 = 2.5 -> 2; 0.35 * 10 = 3.5 -> 4
    assert [pruned_count(a, n) for a, n in [(0.5, 5), (0.5, 7), (0.25, 10), (0.35, 10)]] == [2, 4, 2, 4]
    assert [pruned_count(0.25, 10, count_rule=r) for r in ("round", "floor", "ceil")] == [2, 2, 3]
    # the float64 product: 0.29 * 100 = 28.999999999999996 -> floor 28, round 29, ceil 29
    assert [pruned_count(0.29, 100, count_rule=r) for r in ("round", "floor", "ceil")] == [29, 28, 29]
    assert pruned_count(0.0, 0) == 0 and pruned_count(1.0, 7) == 7 and pruned_count(0, 0) == 0
    assert pruned_count(3, 10) == 3 and pruned_count(np.int64(3), 10) == 3
    assert pruned_count(np.float32(0.5), 10) == 5


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (-1, ValueError),
        (1.5, ValueError),
        (-0.1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (11, ValueError),  # more than n = 10
        (True, TypeError),
        ("0.5", TypeError),
        (None, TypeError),
        (1 + 0j, TypeError),
    ],
)
def test_amount_validation(amount: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="amount"):
        pruned_count(amount, 10)  # type: ignore[arg-type]
    with pytest.raises(error, match="amount"):
        unstructured_mask(np.arange(10.0), amount)  # type: ignore[arg-type]


def test_choice_and_shape_validation() -> None:
    w = np.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match="count_rule"):
        unstructured_mask(w, 0.5, count_rule="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ties"):
        unstructured_mask(w, 0.5, ties="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="relative_to"):
        unstructured_mask(w, 0.5, relative_to="all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scores"):
        unstructured_mask(w, 0.5, scores=np.ones(6))
    with pytest.raises(ValueError, match="existing_mask"):
        unstructured_mask(w, 0.5, existing_mask=np.ones(6, bool))
    with pytest.raises(ValueError, match="existing_mask"):
        unstructured_mask(w, 0.5, existing_mask=np.full((2, 3), 0.5))
    with pytest.raises(TypeError, match="existing_mask"):
        unstructured_mask(w, 0.5, existing_mask=np.full((2, 3), "a"))
    with pytest.raises(ValueError, match="NaN"):
        unstructured_mask([1.0, np.nan], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        unstructured_mask([1.0, 2.0], 0.5, scores=[np.nan, 1.0])
    with pytest.raises(ValueError, match="axis"):
        unstructured_mask(w, 0.5, axis=2)
    with pytest.raises(TypeError, match="w"):
        unstructured_mask(np.array(["a"]), 0.5)
    with pytest.raises(ValueError, match="p"):
        structured_mask(w, 1, p=0)
    with pytest.raises(TypeError, match="p"):
        structured_mask(w, 1, p="fro")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0-d"):
        structured_mask(np.float64(1.0), 1)
    with pytest.raises(TypeError, match="rng"):
        random_mask(w, 0.5, rng=np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ws"):
        global_masks(np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="scores"):
        global_masks([w], 0.5, scores=[None, None])
    with pytest.raises(TypeError, match="float16/32/64"):
        global_masks([np.ones(3, np.longdouble)], 1)


# ----------------------------------------------------------------------------- unstructured


def test_unstructured_hand_computed_and_tie_policies() -> None:
    w = np.array([0.5, -0.1, 0.3, -0.1, 0.9, 0.0])
    # |w| = .5 .1 .3 .1 .9 0: 0.5 * 6 = 3 -> prune 0 (idx 5) and both 0.1s (idx 1, 3)
    assert unstructured_mask(w, 0.5).tolist() == [True, False, True, False, True, False]
    # k = 2: idx 5, then one of the tied 0.1s: the lowest index (1)
    assert unstructured_mask(w, 2).tolist() == [True, False, True, True, True, False]
    # "keep": t_3 = 0.1, prune |w| < 0.1: only idx 5 (1 <= k); "prune": t_2 = 0.1, prune <= 0.1: 3 >= k
    assert unstructured_mask(w, 2, ties="keep").tolist() == [True, True, True, True, True, False]
    assert unstructured_mask(w, 2, ties="prune").tolist() == [True, False, True, False, True, False]
    # k = 0 and k = n under every policy
    for ties in TIES:
        assert unstructured_mask(w, 0, ties=ties).all()
        assert not unstructured_mask(w, 6, ties=ties).any()


def test_unstructured_all_equal_lowest_index_first() -> None:
    m = unstructured_mask(np.ones((2, 5)), 3)
    assert m.tolist() == [[False, False, False, True, True], [True, True, True, True, True]]
    assert unstructured_mask(np.ones(5), 3, ties="keep").all()
    assert not unstructured_mask(np.ones(5), 3, ties="prune").any()


def test_unstructured_signed_scores_and_signed_zero() -> None:
    # scores are used as given: the most negative go first, and -0.0 ties with +0.0
    assert unstructured_mask(np.ones(4), 2, scores=[0.5, -2.0, 0.0, -1.0]).tolist() == [
        True,
        False,
        True,
        False,
    ]
    assert unstructured_mask(np.ones(3), 1, scores=[0.0, -0.0, 1.0]).tolist() == [False, True, True]
    assert unstructured_mask(np.ones(3), 1, scores=[-0.0, 0.0, 1.0], ties="keep").tolist() == [
        True,
        True,
        True,
    ]
    # infinities are ordinary values: |w| = inf, 1, inf -> 1, then the lower-index inf
    assert unstructured_mask([np.inf, 1.0, -np.inf], 2).tolist() == [False, False, True]
    assert unstructured_mask(np.ones(3), 2, scores=[np.inf, 1.0, -np.inf]).tolist() == [True, False, False]


def test_unstructured_along_axis() -> None:
    w = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    # per row (axis=1), 0.5 of 4: the two smallest of each row
    assert unstructured_mask(w, 0.5, axis=1).tolist() == [
        [True, True, False, False],
        [False, False, True, True],
    ]
    # per column (axis=0), 1 of 2: the smaller of each column
    assert unstructured_mask(w, 1, axis=0).tolist() == [
        [True, True, False, False],
        [False, False, True, True],
    ]
    # ties inside a row: lowest index first, row by row
    assert unstructured_mask(np.ones((2, 3)), 1, axis=1).tolist() == [[False, True, True]] * 2
    # with an existing mask the count is per row, relative to what each row has left
    ex = np.array([[True, True, True, False], [True, True, True, True]])
    # row 0 has 3 left: round(1.5) = 2 -> prune 2, 3 (idx 2, 1); row 1: 2 of 4 -> idx 0, 1
    assert unstructured_mask(w, 0.5, axis=1, existing_mask=ex).tolist() == [
        [True, False, False, False],
        [False, False, True, True],
    ]


def test_unstructured_existing_mask_remaining_and_total() -> None:
    w = np.arange(1.0, 9.0)  # |w| = 1..8
    ex = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=bool)  # 1 and 8 already pruned, 6 left
    # remaining: round(0.5 * 6) = 3 new -> 2, 3, 4 (idx 1, 2, 3)
    assert unstructured_mask(w, 0.5, existing_mask=ex).astype(int).tolist() == [0, 0, 0, 0, 1, 1, 1, 0]
    # total: round(0.5 * 8) = 4 in all, 2 already -> 2 new (idx 1, 2)
    got = unstructured_mask(w, 0.5, existing_mask=ex, relative_to="total")
    assert got.astype(int).tolist() == [0, 0, 0, 1, 1, 1, 1, 0]
    # total below what is already pruned: nothing new, nothing restored
    assert np.array_equal(unstructured_mask(w, 0.25, existing_mask=ex, relative_to="total"), ex)
    # int amounts: a count of the remaining entries (at most 6) or of the total (at most 8)
    assert unstructured_mask(w, 6, existing_mask=ex).sum() == 0
    with pytest.raises(ValueError, match="amount=7"):
        unstructured_mask(w, 7, existing_mask=ex)
    assert unstructured_mask(w, 3, existing_mask=ex, relative_to="total").sum() == 5
    # 0/1 numeric masks are accepted
    assert np.array_equal(
        unstructured_mask(w, 0.5, existing_mask=ex.astype(np.float32)),
        unstructured_mask(w, 0.5, existing_mask=ex),
    )


def test_empty_and_zero_d() -> None:
    assert unstructured_mask(np.zeros((0, 3)), 0.5).shape == (0, 3)
    with pytest.raises(ValueError, match="amount=1"):
        unstructured_mask(np.zeros(0), 1)
    assert unstructured_mask(np.float32(2.0), 1.0).tolist() is False
    assert unstructured_mask(np.float32(2.0), 0.4).tolist() is True
    assert [m.shape for m in global_masks([np.zeros((0, 2)), np.ones(3)], 0.5)] == [(0, 2), (3,)]
    assert global_masks([], 0.5) == []


def test_dtypes_and_integer_weights() -> None:
    for dt in (np.float16, np.float32, np.float64, np.int32, np.bool_):
        w = np.array([3, 1, 2, 0]).astype(dt)
        assert unstructured_mask(w, 0.5).dtype == np.bool_
        if dt is not np.bool_:
            assert unstructured_mask(w, 0.5).tolist() == [True, False, True, False]


# ----------------------------------------------------------------------------- random


def test_random_mask_counts_subsets_determinism() -> None:
    w = np.zeros((5, 8))
    m1 = random_mask(w, 0.3, rng=np.random.default_rng(7))
    assert m1.shape == w.shape and m1.sum() == 40 - 12  # round(0.3 * 40) = 12
    assert np.array_equal(m1, random_mask(w, 0.3, rng=np.random.default_rng(7)))
    ex = np.random.default_rng(1).random((5, 8)) < 0.5
    m2 = random_mask(w, 0.5, rng=np.random.default_rng(3), existing_mask=ex)
    assert not (m2 & ~ex).any() and m2.sum() == ex.sum() - round(0.5 * ex.sum())
    m3 = random_mask(w, 30, rng=np.random.default_rng(3), existing_mask=ex, relative_to="total")
    assert m3.sum() == min(ex.sum(), 10) and not (m3 & ~ex).any()
    assert random_mask(w, 0, rng=np.random.default_rng(0)).all()
    assert not random_mask(np.zeros(0), 0.5, rng=np.random.default_rng(0)).any()


def test_random_mask_is_uniform_enough() -> None:
    # each of 10 entries is pruned with probability 3/10; 2000 draws
    rng = np.random.default_rng(11)
    freq = np.mean([~random_mask(np.zeros(10), 3, rng=rng) for _ in range(2000)], axis=0)
    assert np.all(np.abs(freq - 0.3) < 0.05)


# ----------------------------------------------------------------------------- structured


def test_structured_hand_computed() -> None:
    w = np.array([[3.0, 4.0], [1.0, -1.0], [0.0, -6.0]])
    # rows: L2 = 5, 1.414, 6; L1 = 7, 2, 6; Linf = 4, 1, 6
    rows = lambda m: m.all(axis=1).tolist()  # noqa: E731
    assert rows(structured_mask(w, 1)) == [True, False, True]
    assert rows(structured_mask(w, 2)) == [False, False, True]  # L2: 1.4 < 5 < 6
    assert rows(structured_mask(w, 2, p=1)) == [True, False, False]  # L1: 2 < 6 < 7
    assert rows(structured_mask(w, 2, p=np.inf)) == [False, False, True]  # Linf: 1 < 4 < 6
    # p = 0.5: (sqrt 3 + 2)^2 = 13.93, (1 + 1)^2 = 4, 6 -> prune row 1 then row 2
    assert rows(structured_mask(w, 2, p=0.5)) == [True, False, False]
    # columns (axis=1): L2 = 3.16, 7.28 -> prune column 0
    assert structured_mask(w, 0.5, axis=1).tolist() == [[False, True]] * 3
    # every row whole: each row is all True or all False
    m = structured_mask(np.random.default_rng(0).standard_normal((6, 5, 4)), 0.5, axis=1)
    per_slice = m.transpose(1, 0, 2).reshape(5, -1)
    assert np.all(per_slice.all(axis=1) | ~per_slice.any(axis=1)) and per_slice.all(axis=1).sum() == 3


def test_structured_ties_and_existing_mask() -> None:
    # equal norms: the lowest slice index goes first; "keep"/"prune" keep or prune all tied slices
    w = np.ones((4, 3))
    assert structured_mask(w, 1).all(axis=1).tolist() == [False, True, True, True]
    assert structured_mask(w, 1, ties="keep").all()
    assert not structured_mask(w, 1, ties="prune").any()
    # existing mask: row 3 fully pruned (not remaining), row 0 half pruned (remaining, norm of what is left)
    w = np.array([[10.0, 10.0], [2.0, 2.0], [3.0, 3.0], [9.0, 9.0]])
    ex = np.array([[0, 1], [1, 1], [1, 1], [0, 0]], dtype=bool)
    # 3 rows left: round(0.5 * 3) = 2 -> L2 norms 10, 2.83, 4.24 -> prune rows 1, 2
    assert structured_mask(w, 0.5, existing_mask=ex).astype(int).tolist() == [[0, 1], [0, 0], [0, 0], [0, 0]]
    # relative to all 4 rows: round(0.5 * 4) = 2 in total, 1 already -> 1 new: row 1
    got = structured_mask(w, 0.5, existing_mask=ex, relative_to="total")
    assert got.astype(int).tolist() == [[0, 1], [0, 0], [1, 1], [0, 0]]


def test_structured_norm_overflow_is_scaled() -> None:
    w = np.array([[1e200, 1e200], [1e199, 0.0]])
    assert structured_mask(w, 1, p=2).all(axis=1).tolist() == [True, False]
    assert structured_mask(w, 1, p=3).all(axis=1).tolist() == [True, False]
    assert structured_mask(np.array([[np.inf, 1.0], [5.0, 5.0]]), 1, p=3).all(axis=1).tolist() == [
        True,
        False,
    ]


# ----------------------------------------------------------------------------- global


def test_global_hand_computed() -> None:
    a, b = np.array([[0.1, -2.0], [0.3, 0.4]]), np.array([5.0, -0.2, 0.05])
    # all |.|: .1 2 .3 .4 | 5 .2 .05 -> 3 smallest: .05 (b2), .1 (a0), .2 (b1)
    assert [m.tolist() for m in global_masks([a, b], 3)] == [
        [[False, True], [True, True]],
        [True, False, False],
    ]
    # ties across tensors: the concatenation order decides (tensor 0 first)
    ma, mb = global_masks([np.ones(2), np.ones(2)], 3)
    assert ma.tolist() == [False, False] and mb.tolist() == [False, True]
    # existing masks and mixed dtypes
    ma, mb = global_masks(
        [a.astype(np.float16), b], 0.5, existing_masks=[None, np.array([1, 1, 0], bool)], scores=[None, -b]
    )
    # remaining scores: .1 2 .3 .4 (|a|) and -5, .2 (-b): round(0.5 * 6) = 3 -> -5, .1, .2
    assert ma.tolist() == [[False, True], [True, True]] and mb.tolist() == [False, False, False]


def test_global_float64_and_negative_keys() -> None:
    rng = np.random.default_rng(4)
    ws = [rng.standard_normal((5, 7)), rng.standard_normal(11)]
    sc = [rng.integers(-3, 3, size=(5, 7)).astype(np.float64) * 1e-300, rng.standard_normal(11) * 1e300]
    for ties in TIES:
        got = global_masks(ws, 0.4, scores=sc, ties=ties)
        ref = unstructured_mask(
            np.concatenate([w.ravel() for w in ws]),
            0.4,
            scores=np.concatenate([s.ravel() for s in sc]),
            ties=ties,
        )
        assert np.array_equal(np.concatenate([m.ravel() for m in got]), ref)


# ----------------------------------------------------------------------------- N:M


def test_nm_hand_computed_and_tail() -> None:
    w = np.array([[0.1, -0.9, 0.4, 0.3, 0.2, -0.5]])
    # group [.1 .9 .4 .3] keeps .9 .4; the tail [.2 .5] (r = 2 <= n_keep) keeps both
    assert nm_mask(w, 2, 4).astype(int).tolist() == [[0, 1, 1, 0, 1, 1]]
    # 1:4: tail keeps min(1, 2) = 1, the larger (.5)
    assert nm_mask(w, 1, 4).astype(int).tolist() == [[0, 1, 0, 0, 0, 1]]
    assert nm_mask(w, 1, 4, tail="dense").astype(int).tolist() == [[0, 1, 0, 0, 1, 1]]
    with pytest.raises(ValueError, match="multiple"):
        nm_mask(w, 2, 4, tail="error")
    # 3 + tail of 3 with 2:3 along axis 0
    w2 = np.array([[1.0], [3.0], [2.0], [0.5], [0.7], [0.6]])
    assert nm_mask(w2, 2, 3, axis=0).ravel().astype(int).tolist() == [0, 1, 1, 0, 1, 1]
    # ties: lowest index pruned first inside each group
    assert nm_mask(np.ones(8), 2, 4).astype(int).tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert nm_mask(np.ones((2, 3)), 2, 4).astype(int).tolist() == [[0, 1, 1]] * 2  # tail only: keep 2 of 3
    # extremes
    assert nm_mask(w, 0, 4).sum() == 0 and nm_mask(w, 4, 4).all()
    # scores override |w|
    assert nm_mask(np.ones(4), 2, 4, scores=[4.0, 1.0, 3.0, 2.0]).astype(int).tolist() == [1, 0, 1, 0]


def test_nm_validation() -> None:
    w = np.ones((2, 8))
    with pytest.raises(ValueError, match="n_keep"):
        nm_mask(w, 5, 4)
    with pytest.raises(ValueError, match="m must"):
        nm_mask(w, 0, 0)
    with pytest.raises(TypeError, match="m must"):
        nm_mask(w, 2, 4.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tail"):
        nm_mask(w, 2, 4, tail="floor")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="axis"):
        nm_mask(w, 2, 4, axis=2)
    with pytest.raises(ValueError, match="0-d"):
        nm_mask(np.float64(1.0), 1, 1)


# ----------------------------------------------------------------------------- blocks


def test_block_hand_computed_edges() -> None:
    w = np.array([[1.0, 1.0, 0.1], [1.0, 1.0, 0.1], [0.2, 0.2, 9.0]])
    # 2x2 blocks: TL avg 1, TR (2x1) .1, BL (1x2) .2, BR (1x1) 9 -> prune TR, BL
    assert block_mask(w, 2, (2, 2)).astype(int).tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    w[2, 2] = 2.0
    # present: BR = 2 > TL = 1 -> 3 blocks pruned: TR, BL, TL
    assert block_mask(w, 3, (2, 2)).astype(int).tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    # zero_pad: BR = 2 / 4 = 0.5, TR = .2 / 4, BL = .4 / 4 -> TR, BL, BR
    assert block_mask(w, 3, (2, 2), edge="zero_pad").astype(int).tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
    # max pooling: TL 1, TR .1, BL .2, BR 2
    assert block_mask(w, 0.5, (2, 2), pool="max").astype(int).tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    # 1x1 blocks are unstructured pruning
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7))
    assert np.array_equal(block_mask(x, 0.4, (1, 1)), unstructured_mask(x, 0.4))
    # full-width blocks are structured L1 pruning of rows
    assert np.array_equal(block_mask(x, 2, (1, 7)), structured_mask(x, 2, p=1))


def test_block_existing_and_validation() -> None:
    w = np.arange(16.0).reshape(4, 4)
    ex = np.ones((4, 4), bool)
    ex[:2, :2] = False  # block (0, 0) gone
    # 3 blocks left: round(0.5 * 3) = 2 -> averages (0,1): 4.5, (1,0): 10.5, (1,1): 12.5 -> (0,1), (1,0)
    got = block_mask(w, 0.5, (2, 2), existing_mask=ex)
    assert got.astype(int).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
    with pytest.raises(ValueError, match="2-D"):
        block_mask(np.ones(4), 1, (2, 2))
    with pytest.raises(ValueError, match="block_shape"):
        block_mask(np.ones((4, 4)), 1, (0, 2))
    with pytest.raises(ValueError, match="pool"):
        block_mask(np.ones((4, 4)), 1, (2, 2), pool="min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        block_mask(np.ones((2, 2)), 1, (2, 2), scores=[[np.inf, -np.inf], [0, 0]])
