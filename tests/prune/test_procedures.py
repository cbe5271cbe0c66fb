"""Pruning procedures on the MLP: lottery-ticket rewinding, GMP counts, 2:4, Taylor removal."""

from __future__ import annotations

import numpy as np

from refquant.nn.mlp import init_mlp
from refquant.nn.train import Model
from refquant.prune.procedures import (
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
