"""Pruning procedures on the MLP: lottery-ticket rewinding, GMP counts, 2:4, Taylor removal."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.nn.mlp import init_mlp
from refquant.nn.train import Model, train
from refquant.prune.masks_global import global_masks
from refquant.recipes.pruning import (
    gradual_magnitude_prune,
    iterative_magnitude_prune,
    nm_prune,
    sparsity,
    taylor_structured_prune,
)


def _data(n_in: int, rows: int = 60):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, n_in))
    return x, (x[:, 0] > 0).astype(int)


def test_imp_rewinds_survivors_and_composes_rates() -> None:
    x, y = _data(6)
    start = Model(init_mlp([6, 10, 2], rng=np.random.default_rng(1), dtype=np.float64))
    # epochs=0: no training, so each round prunes 50% of the remaining by the start magnitudes
    m = iterative_magnitude_prune(start, x, y, rounds=3, rate=0.5, epochs=0, rng=np.random.default_rng(2))
    n = 6 * 10 + 10 * 2
    # remaining after each round: 80 -> 40 -> 20 -> 10 (round half even of 0.5 * remaining)
    assert sum(int(mk.sum()) for mk in m.masks) == 10
    assert sparsity(m) == 1 - 10 / n
    for (w, _), (w0, _), mk in zip(m.params, start.params, m.masks, strict=True):
        assert np.array_equal(w[mk == 1], w0[mk == 1])  # rewound to the start values
        assert np.all(w[mk == 0] == 0)
    # the survivors are the largest start magnitudes, globally
    kept = np.concatenate([np.abs(w0)[mk == 1] for (w0, _), mk in zip(start.params, m.masks, strict=True)])
    dropped = np.concatenate([np.abs(w0)[mk == 0] for (w0, _), mk in zip(start.params, m.masks, strict=True)])
    assert kept.min() >= dropped.max()


def test_gmp_reaches_the_exact_count_and_pruned_stay_zero() -> None:
    x, y = _data(8)
    m0 = Model(init_mlp([8, 12, 3], rng=np.random.default_rng(3)))
    m = gradual_magnitude_prune(
        m0, x, y, final_sparsity=0.8, prune_epochs=4, finetune_epochs=2, rng=np.random.default_rng(4)
    )
    n = 8 * 12 + 12 * 3  # 132 weights; round(0.8 * 132) = round(105.6) = 106 pruned
    assert sum(int(np.count_nonzero(mk)) for mk in m.masks) == n - 106
    for (w, _), mk in zip(m.params, m.masks, strict=True):
        assert np.all(w[mk == 0] == 0)


def test_nm_prune_masks_every_group() -> None:
    x, y = _data(8)
    m = nm_prune(
        Model(init_mlp([8, 8, 2], rng=np.random.default_rng(5))),
        x,
        y,
        finetune_epochs=1,
        rng=np.random.default_rng(6),
    )
    g = m.masks[0].reshape(8, 2, 4)  # rows, groups of 4 along the input axis
    assert np.all(g.sum(axis=2) == 2)
    assert np.all(m.masks[1] == 1)  # the output layer stays dense


def test_taylor_removes_the_neuron_nobody_listens_to() -> None:
    x, y = _data(4)
    p = init_mlp([4, 6, 2], rng=np.random.default_rng(7), dtype=np.float64)
    w1, b1 = p[1]
    w1 = w1.copy()
    w1[:, 3] = 0  # hidden neuron 3 has no outgoing weights: zero gradient, zero Taylor score
    p = [p[0], (w1, b1)]
    m = taylor_structured_prune(
        Model(p), x, y, fraction=1 / 6, finetune_epochs=0, rng=np.random.default_rng(8)
    )
    assert m.params[0][0].shape == (5, 4)
    kept_rows = [i for i in range(6) if i != 3]
    assert np.array_equal(m.params[0][0], p[0][0][kept_rows])


def test_imp_masks_come_from_the_trained_weights_and_survivors_rewind() -> None:
    """The procedure against its definition, step by step, with a rewind point distinct from the start.

    With ``epochs=0`` (above) the weights never move, so "rewound" and "not rewound" coincide; here
    every round trains, the masks must come from the *trained* magnitudes and the survivors must be
    reset to the rewind values.
    """
    x, y = _data(6)
    start = Model(init_mlp([6, 10, 2], rng=np.random.default_rng(1), dtype=np.float64))
    rewind, _ = train(start, x, y, epochs=1, batch_size=16, rng=np.random.default_rng(9), lr=0.05)
    kw = {"epochs": 2, "batch_size": 16, "lr": 0.05}
    got = iterative_magnitude_prune(
        start, x, y, rounds=2, rate=0.5, rewind=rewind, rng=np.random.default_rng(2), **kw
    )

    rng = np.random.default_rng(2)  # the same minibatch order, drawn in the same sequence
    current, masks = start, None
    for _ in range(2):
        current, _ = train(current, x, y, rng=rng, **kw)
        masks = global_masks([w for w, _ in current.params], 0.5, existing_masks=masks)
        current = Model(
            [(np.where(mk, w, 0.0), b) for (w, b), mk in zip(rewind.params, masks, strict=True)],
            masks=tuple(mk.astype(np.float64) for mk in masks),
        )
        for (w, _), (w_r, _), mk in zip(current.params, rewind.params, masks, strict=True):
            assert np.array_equal(w[mk], w_r[mk])  # survivors at their rewind values
    expected, _ = train(current, x, y, rng=rng, **kw)
    assert sum(int(mk.sum()) for mk in got.masks) == 20  # 80 -> 40 -> 20
    for (w, b), (we, be), mk, mke in zip(got.params, expected.params, got.masks, masks, strict=True):
        assert np.array_equal(mk.astype(bool), mke)
        assert np.array_equal(w, we) and np.array_equal(b, be)
    # the start magnitudes would have chosen other weights: the masks really come from training
    from_start = global_masks([w for w, _ in start.params], 0.75)
    assert any(not np.array_equal(a, b) for a, b in zip(from_start, masks, strict=True))


def test_gmp_single_pruning_epoch_goes_to_the_final_sparsity() -> None:
    x, y = _data(8)
    m = gradual_magnitude_prune(
        Model(init_mlp([8, 12, 3], rng=np.random.default_rng(3))),
        x,
        y,
        final_sparsity=0.5,
        prune_epochs=1,
        finetune_epochs=1,
        rng=np.random.default_rng(4),
    )
    assert sum(int(np.count_nonzero(mk)) for mk in m.masks) == 132 - 66  # round(0.5 * 132)


def test_procedures_leave_their_inputs_untouched_and_keep_existing_masks() -> None:
    x, y = _data(8)
    p = init_mlp([8, 12, 3], rng=np.random.default_rng(3))
    masks = tuple((np.random.default_rng(5).random(w.shape) > 0.3).astype(w.dtype) for w, _ in p)
    arrays = [*(a for pair in p for a in pair), *masks, x, y]
    copies = [a.copy() for a in arrays]
    for a in arrays:
        a.flags.writeable = False
    model = Model(p, masks=masks)
    g = gradual_magnitude_prune(
        model, x, y, final_sparsity=0.8, prune_epochs=3, finetune_epochs=1, rng=np.random.default_rng(0)
    )
    for mk_in, mk in zip(masks, g.masks, strict=True):
        assert not np.any(mk[mk_in == 0])  # pruned before, pruned after
    iterative_magnitude_prune(model, x, y, rounds=1, rate=0.5, epochs=1, rng=np.random.default_rng(0))
    nm_prune(Model(p), x, y, finetune_epochs=1, rng=np.random.default_rng(0))
    taylor_structured_prune(Model(p), x, y, fraction=0.5, finetune_epochs=1, rng=np.random.default_rng(0))
    assert model.params is p and model.masks is masks
    for a, c in zip(arrays, copies, strict=True):
        assert np.array_equal(a, c)


def test_procedures_reject_bad_arguments() -> None:
    x, y = _data(8)
    model = Model(init_mlp([8, 8, 2], rng=np.random.default_rng(0)))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="prune_epochs must be >= 1, got 0"):
        gradual_magnitude_prune(model, x, y, final_sparsity=0.5, prune_epochs=0, finetune_epochs=0, rng=rng)
    with pytest.raises(ValueError, match="final_sparsity"):
        gradual_magnitude_prune(model, x, y, final_sparsity=1.5, prune_epochs=2, finetune_epochs=0, rng=rng)
    with pytest.raises(TypeError, match="rate must be a real number"):
        iterative_magnitude_prune(model, x, y, rounds=1, rate="0.5", epochs=0, rng=rng)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate must be in"):
        iterative_magnitude_prune(model, x, y, rounds=1, rate=2, epochs=0, rng=rng)
    with pytest.raises(ValueError, match="rounds must be >= 0, got -1"):
        iterative_magnitude_prune(model, x, y, rounds=-1, rate=0.5, epochs=0, rng=rng)
    with pytest.raises(ValueError, match="rewind must have the weight shapes"):
        iterative_magnitude_prune(
            model, x, y, rounds=1, rate=0.5, epochs=0, rng=rng,
            rewind=Model(init_mlp([8, 4, 2], rng=rng)),
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"layers must hold layer indices in \[0, 2\), got \(2,\)"):
        nm_prune(model, x, y, layers=(2,), finetune_epochs=0, rng=rng)
    with pytest.raises(ValueError, match="fraction must be in"):
        taylor_structured_prune(model, x, y, fraction=1.5, finetune_epochs=0, rng=rng)


def test_taylor_fraction_is_a_fraction_even_as_an_int() -> None:
    # fraction=1 means every hidden neuron, not "one neuron" (an int amount is a count for the masks)
    x, y = _data(4)
    m = taylor_structured_prune(
        Model(init_mlp([4, 6, 5, 2], rng=np.random.default_rng(7))),
        x,
        y,
        fraction=1,
        finetune_epochs=1,
        rng=np.random.default_rng(8),
    )
    assert [w.shape for w, _ in m.params] == [(0, 4), (0, 0), (2, 0)]
