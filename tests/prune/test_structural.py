"""Structural removal of neurons, and value pruning's rescaling and bias correction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.nn.layers import ACTIVATIONS, relu
from refquant.nn.mlp import count_params, init_mlp, mlp_backward, mlp_forward
from refquant.prune.structural import bias_correction, neuron_masks, remove_neurons, rescale_to_preserve_norm


@st.composite
def mlps(draw):
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    sizes = [
        draw(st.integers(1, 5)),
        draw(st.integers(2, 8)),
        draw(st.integers(1, 6)),
        draw(st.integers(1, 4)),
    ]
    p = init_mlp(sizes, rng=rng, dtype=np.float64)
    p = [(w, rng.normal(0, 0.5, b.shape)) for w, b in p]
    layer = draw(st.integers(0, 1))
    keep = np.sort(rng.choice(sizes[layer + 1], draw(st.integers(1, sizes[layer + 1])), replace=False))
    x = rng.normal(0, 1, (7, sizes[0]))
    return p, layer, keep, x


@given(mlps(), st.sampled_from(["relu", "tanh", "sigmoid", "gelu"]))
def test_removal_is_exact_when_removed_neurons_have_zero_outgoing_weights(case, activation) -> None:
    p, layer, keep, x = case
    removed = np.setdiff1d(np.arange(p[layer][0].shape[0]), keep)
    w_next, b_next = p[layer + 1]
    w_next = w_next.copy()
    w_next[:, removed] = 0
    p = [*p[: layer + 1], (w_next, b_next), *p[layer + 2 :]]
    q = remove_neurons(p, layer, keep, activation=ACTIVATIONS[activation][0])
    np.testing.assert_allclose(
        mlp_forward(q, x, activation=activation)[0],
        mlp_forward(p, x, activation=activation)[0],
        rtol=1e-12,
        atol=1e-12,
    )
    assert count_params(q) == count_params(p) - removed.size * (p[layer][0].shape[1] + 1 + w_next.shape[0])


@given(mlps(), st.sampled_from(["relu", "tanh", "sigmoid", "gelu"]))
def test_removal_with_bias_fold_is_exact_for_dead_inputs(case, activation) -> None:
    p, layer, keep, x = case
    removed = np.setdiff1d(np.arange(p[layer][0].shape[0]), keep)
    w, b = p[layer]
    w = w.copy()
    w[removed] = 0  # no incoming weights: the neuron outputs act(b_j), a constant
    p = [*p[:layer], (w, b), *p[layer + 1 :]]
    q = remove_neurons(p, layer, keep, activation=ACTIVATIONS[activation][0])
    np.testing.assert_allclose(
        mlp_forward(q, x, activation=activation)[0],
        mlp_forward(p, x, activation=activation)[0],
        rtol=1e-12,
        atol=1e-12,
    )


def test_the_bias_fold_matters() -> None:
    # hidden neuron 1 has no incoming weights and bias 0.5: it always outputs relu(0.5) = 0.5,
    # which the next layer weighs by 4: removing it without the fold loses 2.0 from the output.
    p = [
        (np.array([[1.0], [0.0]]), np.array([0.0, 0.5])),
        (np.array([[1.0, 4.0]]), np.array([0.0])),
    ]
    x = np.array([[3.0]])
    assert mlp_forward(p, x)[0].tolist() == [[5.0]]
    assert mlp_forward(remove_neurons(p, 0, [0], activation=relu), x)[0].tolist() == [[5.0]]
    assert mlp_forward(remove_neurons(p, 0, [0], fold_dead=False), x)[0].tolist() == [[3.0]]
    with pytest.raises(ValueError, match="activation is None but neurons \\[1\\] of layer 0"):
        remove_neurons(p, 0, [0])
    with pytest.raises(TypeError, match="activation must be a function"):
        remove_neurons(p, 0, [0], activation="relu")


@given(mlps())
def test_pruned_gradients_equal_masked_gradients_on_survivors(case) -> None:
    p, layer, keep, x = case
    g = np.random.default_rng(0).normal(0, 1, (x.shape[0], p[-1][0].shape[0]))
    masks = neuron_masks(p, layer, keep)
    _, cm = mlp_forward(p, x, activation="tanh", masks=masks)
    gm = mlp_backward(p, cm, g, activation="tanh", masks=masks)
    q = remove_neurons(p, layer, keep, fold_dead=False)
    _, cq = mlp_forward(q, x, activation="tanh")
    gq = mlp_backward(q, cq, g, activation="tanh")
    np.testing.assert_allclose(gq.params[layer][0], gm.params[layer][0][keep], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gq.params[layer][1], gm.params[layer][1][keep], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        gq.params[layer + 1][0], gm.params[layer + 1][0][:, keep], rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(gq.params[layer + 1][1], gm.params[layer + 1][1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gq.x, gm.x, rtol=1e-12, atol=1e-14)


def test_remove_neurons_validation_and_inputs_untouched() -> None:
    p = init_mlp([3, 4, 2], rng=np.random.default_rng(0))
    before = [w.copy() for w, _ in p]
    remove_neurons(p, 0, [1, 3], activation=relu)
    assert all(np.array_equal(a, w) for a, (w, _) in zip(before, p, strict=True))
    with pytest.raises(ValueError, match="layer must index a hidden layer"):
        remove_neurons(p, 1, [0])
    with pytest.raises(ValueError, match="sorted unique indices"):
        remove_neurons(p, 0, [3, 1])
    with pytest.raises(ValueError, match="boolean keep must have shape"):
        remove_neurons(p, 0, np.array([True, False]))


def test_rescale_preserves_row_norms() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, (5, 8))
    mask = rng.random((5, 8)) > 0.5
    mask[0] = False  # a fully pruned row stays zero
    r = rescale_to_preserve_norm(w, mask, axis=1)
    assert np.all(r[~mask] == 0) and np.all(r[0] == 0)
    np.testing.assert_allclose(np.linalg.norm(r[1:], axis=1), np.linalg.norm(w[1:], axis=1), rtol=1e-12)
    r1 = rescale_to_preserve_norm(w, mask, ord=1)
    assert np.abs(r1).sum() == pytest.approx(np.abs(w).sum(), rel=1e-12)


def test_bias_correction_preserves_the_mean_output() -> None:
    rng = np.random.default_rng(2)
    w, b = rng.normal(0, 1, (4, 6)), rng.normal(0, 1, 4)
    mask = rng.random((4, 6)) > 0.3
    x = rng.normal(1.0, 1.0, (50, 6))
    b2 = bias_correction(w, b, mask, x)
    dense = x @ w.T + b
    pruned = x @ np.where(mask, w, 0).T + b2
    np.testing.assert_allclose(pruned.mean(axis=0), dense.mean(axis=0), rtol=1e-12, atol=1e-12)
    assert not np.allclose(x @ np.where(mask, w, 0).T + b, dense)  # the correction was needed


def test_masks_must_be_zero_one() -> None:
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        rescale_to_preserve_norm([1.0, 2.0], [0.5, 1.0])
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 2\)"):
        bias_correction([[1.0, 2.0]], [0.0], [True, False], [[1.0, 1.0]])
