"""refquant.prune under hostile inputs: hand-derived results where arithmetic used to overflow, clear errors.

Every expected value below is derived by hand (powers of two keep them exact).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import refquant.prune.masks_global as masks_global
from refquant.prune import (
    bias_correction,
    block_mask,
    constant_sparsity,
    dgc_momentum_correction,
    global_masks,
    gradual_magnitude_pruning,
    movement_score,
    neuron_masks,
    obd_saliency,
    polynomial_decay,
    random_mask,
    relative_gradient_threshold,
    remove_neurons,
    rescale_to_preserve_norm,
    snip_score,
    snip_scores,
    structured_mask,
    taylor_activation_score,
    taylor_neuron_score,
    topk_error_feedback,
    unstructured_mask,
    wanda_score,
)

BIG = 2.0**1023  # the largest power of two in float64; BIG * 2 overflows


# ------------------------------------------------------------------ norms and products that used to overflow


def test_wanda_norm_overflow_is_scaled() -> None:
    x = np.full((4, 1), BIG)  # ||x|| = sqrt(4) * 2**1023 = 2**1024: beyond float64
    assert wanda_score([[0.25]], x).tolist() == [[2.0**1022]]  # 0.25 * 2**1024, exact
    assert wanda_score([[0.0]], x).tolist() == [[0.0]]  # not 0 * inf = NaN
    # a norm that only the plain sum of squares overflows: sqrt(3**2 + 4**2) * 2**600
    got = wanda_score([[1.0, 2.0**-600]], [[3.0 * 2.0**600, 3.0], [4.0 * 2.0**600, 4.0]])
    assert got.tolist() == [[5.0 * 2.0**600, 5.0 * 2.0**-600]]
    # float32: the norm 2**128 exceeds float32, the score 2**-10 * 2**128 = 2**118 does not
    got32 = wanda_score(np.array([[2.0**-10]], np.float32), np.full((4, 1), 2.0**127, np.float32))
    assert got32.dtype == np.float32 and got32.tolist() == [[2.0**118]]


def test_rescale_to_preserve_norm_overflow_and_orders() -> None:
    w = np.full(4, 2.0**1022)  # ||w|| = 2 * 2**1022 = 2**1023 (w * w overflows); kept: 2**1022
    got = rescale_to_preserve_norm(w, [True, False, False, False])
    assert got.tolist() == [2.0**1023, 0.0, 0.0, 0.0]  # factor 2; was NaN
    per_row = rescale_to_preserve_norm(np.full((2, 4), 2.0**1022), np.eye(2, 4, dtype=bool), axis=1)
    assert per_row.tolist() == [[2.0**1023, 0, 0, 0], [0, 2.0**1023, 0, 0]]
    w32 = np.array([1e38, 1e38, 0.0, 1.0], np.float32)  # float32 squares overflow; ||w|| / ||w m|| = sqrt(2)
    got32 = rescale_to_preserve_norm(w32, [True, False, True, False])
    assert got32.dtype == np.float32 and got32.tolist()[1:] == [0.0, 0.0, 0.0]
    assert got32[0] == np.float32(float(np.float32(1e38)) * np.sqrt(2.0))  # 1.41e38, rounded once
    for bad in (-1, 0, float("nan"), -np.inf):
        with pytest.raises(ValueError, match=r"ord must be > 0.*got"):
            rescale_to_preserve_norm([1.0, 2.0], [True, False], ord=bad)
    for wrong in (None, "2", [2], True):
        with pytest.raises(TypeError, match="ord"):
            rescale_to_preserve_norm([1.0, 2.0], [True, False], ord=wrong)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"w must be finite.*nan"):
        rescale_to_preserve_norm([np.nan, 2.0], [True, False])


def test_structured_mask_ranks_norms_beyond_float64() -> None:
    # L2 of the rows: 2**1023 sqrt(2) (beyond float64) and 2**1023 sqrt(1.25) (also beyond): prune row 1
    w = np.array([[BIG, BIG], [BIG, BIG / 2]])
    assert structured_mask(w, 1).tolist() == [[True, True], [False, False]]
    # p = 1e-4: (1 + 1)**1e4 = 2**10000 and (1 + 0.5**1e-4)**1e4 < 2**10000, both beyond float64
    v = np.array([[1.0, 1.0], [1.0, 0.5]])
    assert structured_mask(v, 1, p=1e-4).tolist() == [[True, True], [False, False]]
    for bad in (-1, 0, float("nan")):
        with pytest.raises(ValueError, match="p must be > 0"):
            structured_mask(v, 1, p=bad)


def test_block_sums_beyond_float64_rank_exactly() -> None:
    w = np.array([[BIG, BIG, BIG, BIG / 2]])  # (1, 2) blocks: averages 2**1023 and 0.75 * 2**1023
    assert block_mask(w, 1, (1, 2)).tolist() == [[True, True, False, False]]


def test_score_products_without_intermediate_overflow() -> None:
    p = 2.0**600
    assert snip_score([p, 3 * p], [p, p]).tolist() == [0.25, 0.75]  # |g w| = 2**1200, 3 * 2**1200
    assert snip_scores([[2.0**-600]], [[2.0**-600]])[0].tolist() == [1.0]  # 2**-1200 is not zero
    assert taylor_neuron_score([[p, -p]], [[p, p]]).tolist() == [0.0]  # (2**1200 - 2**1200)**2, not NaN
    assert taylor_neuron_score([[p, 1.0]], [[1 / p, 1.0]]).tolist() == [4.0]  # (1 + 1)**2
    assert taylor_neuron_score([[p, 1.0]], [[1 / p, 1.0]], reduction="sum_of_squares").tolist() == [2.0]
    # scores [2**1200, 2**1199] normalized by their L2 norm 2**1199 sqrt(5): [2, 1] / sqrt(5)
    got = taylor_activation_score([[p, p]], [[p, p / 2]], normalize=True)
    np.testing.assert_allclose(got, [2 / np.sqrt(5), 1 / np.sqrt(5)], rtol=1e-15)
    assert movement_score([p], [p], lr=2.0**-1000).tolist() == [-(2.0**200)]  # -(2**-1000 * 2**1200)
    assert obd_saliency([p], [2.0**-1000]).tolist() == [2.0**199]  # 0.5 * 2**-1000 * 2**1200
    # mean(x) = 2**1023 (the plain sum overflows); 2**1023 * 2**-30 moves into the bias
    assert bias_correction([[2.0**-30]], [0.0], [[False]], [[BIG], [BIG]]).tolist() == [2.0**993]


def test_exact_results_beyond_the_dtype_raise() -> None:
    big32 = np.array(
        [2.0**100], np.float32
    )  # finite inputs whose exact results exceed float32 (max < 2**128)
    with pytest.raises(
        ValueError, match=r"obd_saliency overflows float32.*8.03469e\+59"
    ):  # 0.5 * 2**200 = 2**199
        obd_saliency(big32, np.array([1.0], np.float32))
    with pytest.raises(ValueError, match=r"movement_score overflows float32.*lr=1e\+300"):
        movement_score(np.array([1.0], np.float32), np.array([1.0], np.float32), lr=1e300)
    with pytest.raises(ValueError, match=r"grad \+ residual overflows float32.*grad=3\.0"):
        topk_error_feedback(np.array([3e38], np.float32), np.array([3e38], np.float32), k=1)
    # an inf input propagates as in the plain formula: no error
    assert obd_saliency([np.inf], [1.0]).tolist() == [np.inf]


def test_snip_zero_names_the_arguments() -> None:
    with pytest.raises(ValueError, match=r"w, grad \(shapes \(2,\)\) give g \* w = 0"):
        snip_score([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"grad must be finite.*inf"):
        snip_score([1.0, 1.0], [np.inf, 0.0])


# ------------------------------------------------------------------ masks: empty, vectorized rows, blocks


def test_unstructured_axis_with_existing_mask_empty_and_by_hand() -> None:
    assert unstructured_mask(np.zeros((0, 4)), 0.5, axis=1, existing_mask=np.zeros((0, 4), bool)).shape == (
        0,
        4,
    )
    assert unstructured_mask(np.zeros((3, 0)), 0.5, axis=1, existing_mask=np.zeros((3, 0), bool)).shape == (
        3,
        0,
    )
    w = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    ex = np.array([[True, False, True, True], [True, True, True, False], [False, True, True, True]])
    # remaining [1, 3, 4]: round(1.5) = 2 pruned, 1 and 3; [4, 3, 2]: 3 and 2; [1, 1, 1]: lowest index first
    assert unstructured_mask(w, 0.5, axis=1, existing_mask=ex).astype(int).tolist() == [
        [0, 0, 0, 1],
        [1, 0, 0, 0],
        [0, 0, 0, 1],
    ]
    # "total": 3 of 4 pruned per row, 1 already: 2 more
    assert unstructured_mask(w, 0.75, axis=1, existing_mask=ex, relative_to="total").sum(axis=1).tolist() == [
        1,
        1,
        1,
    ]
    # per-row counts differ: int amount 2 > 1 remaining in row 1
    with pytest.raises(ValueError, match=r"amount=2 is larger than the number of prunable entries \(1\)"):
        unstructured_mask(np.ones((2, 3)), 2, axis=1, existing_mask=[[1, 1, 1], [0, 1, 0]])


def test_unstructured_axis_existing_matches_row_by_row() -> None:
    rng = np.random.default_rng(0)
    vals = rng.choice([-np.inf, -1.0, 0.0, 0.5, 1.0, np.inf], size=(30, 7))
    ex = rng.random((30, 7)) > 0.4
    for ties in ("lowest_index", "keep", "prune"):
        for amount in (0.0, 0.4, 1.0, 0, 1):
            got = unstructured_mask(vals, amount, axis=1, existing_mask=ex, ties=ties, count_rule="ceil")
            for r in range(30):
                if ex[r].sum() < (amount if isinstance(amount, int) else 0):
                    continue
                one = unstructured_mask(vals[r], amount, existing_mask=ex[r], ties=ties, count_rule="ceil")
                assert np.array_equal(got[r], one)


def test_block_mask_huge_blocks_use_no_padding() -> None:
    w = np.array([[0.5, -0.1, 0.3, -0.7], [0.9, -0.2, 0.05, 0.4], [-0.6, 0.8, -0.15, 0.25]])
    tracemalloc.start()
    one = block_mask(w, 1, (10**5, 10**5))  # one block, the whole weight
    cols = block_mask(w, 1, (2**63 - 1, 1))  # one block per column: means |w| 2/3, 1.1/3, 0.5/3, 1.35/3
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20
    assert not one.any()
    assert cols.all(axis=0).tolist() == [True, True, False, True]
    # zero_pad divides by the full block size, 10**10: still one block, still ranked
    assert block_mask(w, 0.5, (10**5, 10**5), edge="zero_pad").all()  # round(0.5 * 1) = 0


def test_global_masks_many_small_tensors_equal_the_concatenation(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    ws = [rng.choice([0.0, 0.5, 1.0, 2.0], size=(rng.integers(0, 4), 2)) for _ in range(300)]
    ems = [None if i % 3 else rng.random(w.shape) > 0.5 for i, w in enumerate(ws)]
    flat = np.concatenate([w.ravel() for w in ws])
    fe = np.concatenate(
        [np.ones(w.size, bool) if e is None else e.ravel() for w, e in zip(ws, ems, strict=True)]
    )
    for chunk in (1 << 16, 7):  # one chunk (np.partition) or many (radix selection)
        monkeypatch.setattr(masks_global, "_CHUNK", chunk)
        for ties in ("lowest_index", "keep", "prune"):
            got = global_masks(ws, 0.4, existing_masks=ems, ties=ties)
            assert all(g.shape == w.shape and g.dtype == bool for g, w in zip(got, ws, strict=True))
            ref = unstructured_mask(flat, 0.4, existing_mask=fe, ties=ties)
            assert np.array_equal(np.concatenate([g.ravel() for g in got]), ref)
    with pytest.raises(ValueError, match=r"ws\[2\] contains NaN"):
        global_masks([np.ones(2), np.ones(2), np.array([1.0, np.nan])], 0.5)


def test_mask_arguments_show_their_values() -> None:
    with pytest.raises(ValueError, match=r"existing_mask must hold only 0 and 1.*got \[2"):
        unstructured_mask(np.ones(3), 0.5, existing_mask=[1, 2, 0])
    with pytest.raises(ValueError, match=r"existing_mask must hold only 0 and 1.*nan"):
        unstructured_mask(np.ones(2), 0.5, existing_mask=[1.0, np.nan])
    with pytest.raises(TypeError, match="w must be a real array, got dtype complex"):
        random_mask(np.ones(3, complex), 0.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"w contains NaN \(at index \(1,\)\)"):
        unstructured_mask([1.0, np.nan], 0.5)


# ------------------------------------------------------------------ schedules


def test_schedules_huge_steps_and_bounds() -> None:
    got = polynomial_decay(
        [-(2**62), 2**62, 15], initial_sparsity=0.1, final_sparsity=0.9, begin_step=10, end_step=20, power=1.0
    )
    assert got.sparsity.tolist() == [
        0.1,
        0.9,
        0.5,
    ]  # before t0: s_i (t - t0 no longer wraps); linear midpoint
    with pytest.raises(
        ValueError, match=r"begin_step must be <= 9223372036854775807, got 9223372036854775808"
    ):
        constant_sparsity(0, target_sparsity=0.5, begin_step=2**63)
    with pytest.raises(ValueError, match=r"must fit in int64.*n_steps=4611686018427387904"):
        gradual_magnitude_pruning(0, final_sparsity=0.5, begin_step=0, n_steps=2**62, frequency=4)
    with pytest.raises(ValueError, match=r"power must be in \(0, inf\), got nan"):
        polynomial_decay(
            0, initial_sparsity=0.0, final_sparsity=0.5, begin_step=0, end_step=9, power=float("nan")
        )
    with pytest.raises(TypeError, match="target_sparsity must be a real number, got True"):
        constant_sparsity(0, target_sparsity=True)


# ------------------------------------------------------------------ gradient sparsification


def test_gradient_sparsification_names_the_source_of_nan() -> None:
    with pytest.raises(ValueError, match=r"residual contains NaN \(at index \(1,\)\)"):
        topk_error_feedback([1.0, 2.0], [0.0, np.nan], k=1)
    with pytest.raises(
        ValueError, match=r"grad \+ residual is NaN at flat index 0 \(grad=inf, residual=-inf"
    ):
        topk_error_feedback([np.inf, 2.0], [-np.inf, 0.0], k=1)
    with pytest.raises(ValueError, match=r"velocity contains NaN"):
        dgc_momentum_correction([1.0], [np.nan], k=1)
    empty = topk_error_feedback(np.zeros(0), k=0)
    assert empty.sent.shape == (0,) and empty.residual.shape == (0,)
    for bad in (float("nan"), -0.5, 1.5):
        with pytest.raises(ValueError, match="ratio must be in"):
            relative_gradient_threshold([1.0], ratio=bad)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\], got nan"):
        dgc_momentum_correction([1.0], k=1, momentum=float("nan"))


# ------------------------------------------------------------------ structural removal


def _mlp() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.ones((3, 2)), np.zeros(3)), (np.ones((1, 3)), np.zeros(1))]


def test_structural_arguments_are_checked() -> None:
    for bad in (0.5, "0", None, True):
        with pytest.raises(TypeError, match="layer must be an int"):
            remove_neurons(_mlp(), bad, [0])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="layer must be an int"):
            neuron_masks(_mlp(), bad, [0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"layer must index a hidden layer in \[0, 0\].*got 1"):
        remove_neurons(_mlp(), 1, [0])
    with pytest.raises(TypeError, match="fold_dead must be a bool, got 'False'"):
        remove_neurons(_mlp(), 0, [0], fold_dead="False")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"params\[1\]\[0\] must have 3 columns"):
        remove_neurons([(np.ones((3, 2)), np.zeros(3)), (np.ones((1, 4)), np.zeros(1))], 0, [0])
    with pytest.raises(ValueError, match=r"keep must hold sorted unique indices in \[0, 3\), got \[0, 7\]"):
        remove_neurons(_mlp(), 0, [0, 7])
    out = remove_neurons(_mlp(), 0, [])  # keep nothing: an empty list is a list of no indices
    assert out[0][0].shape == (0, 2) and out[1][0].shape == (1, 0)
    with pytest.raises(TypeError, match="normalize must be a bool, got 'False'"):
        taylor_activation_score([[1.0]], [[1.0]], normalize="False")  # type: ignore[arg-type]
