"""The MLP: gradient checks of the whole network, masks, quantizer hooks, training and PTQ/QAT."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.check import check_vjp, check_vjp_against
from refquant.nn.mlp import LayerQuant, count_params, init_mlp, mlp_backward, mlp_forward
from refquant.nn.qat import ActivationQuantizer, LSQWeightQuantizer, WeightQuantizer
from refquant.nn.train import Model, accuracy, train
from refquant.recipes.ptq import calibrate, post_training_quantize, prepare_qat


def _flat_fns(sizes, activation, masks=None):
    n = len(sizes) - 1

    def unflat(ts):
        return [(ts[2 * i], ts[2 * i + 1]) for i in range(n)]

    def f(x, *ts):
        return mlp_forward(unflat(ts), x, activation=activation, masks=masks)[0]

    def f_vjp(g, x, *ts):
        p = unflat(ts)
        _, c = mlp_forward(p, x, activation=activation, masks=masks)
        r = mlp_backward(p, c, g, activation=activation, masks=masks)
        return (r.x, *[t for pair in r.params for t in pair])

    return f, f_vjp


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "relu"])
def test_whole_mlp_gradient(activation: str) -> None:
    rng = np.random.default_rng(1)
    sizes = [5, 7, 6, 3]
    p = init_mlp(sizes, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 5))
    if activation == "relu":  # keep pre-activations away from the kink
        _, c = mlp_forward(p, x)
        assert min(np.abs(z).min() for z in c.pre[:-1]) > 1e-4
    f, f_vjp = _flat_fns(sizes, activation)
    check_vjp(f, f_vjp, (x, *[t for pair in p for t in pair]))


def test_masked_mlp_gradient_is_masked_and_exact() -> None:
    rng = np.random.default_rng(2)
    sizes = [5, 6, 3]
    p = init_mlp(sizes, rng=rng, dtype=np.float64)
    masks = [rng.random(w.shape) > 0.5 for w, _ in p]
    x = rng.standard_normal((3, 5))
    f, f_vjp = _flat_fns(sizes, "tanh", masks)
    check_vjp(f, f_vjp, (x, *[t for pair in p for t in pair]))
    _, c = mlp_forward(p, x, activation="tanh", masks=masks)
    g = mlp_backward(p, c, np.ones((3, 3)), activation="tanh", masks=masks)
    for (dw, _), m in zip(g.params, masks, strict=True):
        assert np.all(dw[~m] == 0)
    assert count_params(p, masks) == sum(int(m.sum()) for m in masks) + 6 + 3


def test_quantized_backward_uses_each_quantizers_vjp() -> None:
    """With quantizers, the weight gradient is the STE of the quantized layer's gradient."""
    rng = np.random.default_rng(3)
    p = init_mlp([4, 5, 2], rng=rng, dtype=np.float64)
    x = rng.random((6, 4))
    quant = [
        LayerQuant(WeightQuantizer(4), ActivationQuantizer(8, lo=0.0, hi=1.0, initialized=True)),
        LayerQuant(WeightQuantizer(4), ActivationQuantizer(8, lo=0.0, hi=2.0, initialized=True)),
    ]
    logits, c = mlp_forward(p, x, quant=quant)
    g = rng.standard_normal(logits.shape)
    r = mlp_backward(p, c, g)
    # by hand: the last layer's dw is g^T @ (its quantized input), passed through the identity STE
    np.testing.assert_allclose(r.params[1][0], g.T @ c.inputs_q[1], rtol=1e-13)
    # the first layer's input gradient is masked where the input leaves [0, 1] (none here)
    assert r.x.shape == x.shape


def test_lsq_weight_quantizer_gradient_flows_to_the_step() -> None:
    rng = np.random.default_rng(4)
    p = init_mlp([4, 3], rng=rng, dtype=np.float64)
    q = LSQWeightQuantizer.init(p[0][0], 4)
    x = rng.random((5, 4))
    logits, c = mlp_forward(p, x, quant=[LayerQuant(q, None)])
    r = mlp_backward(p, c, np.ones_like(logits))
    (wg, ag) = r.quant[0]
    assert len(wg) == 1 and wg[0].shape == (3,) and ag == ()
    # vjp of the quantizer against its definition (lsq_fake_quantize_vjp on the weight gradient)
    check_vjp_against(
        lambda gw, w: q.vjp(gw, w)[0],
        lambda gw, w: (
            __import__("refquant.grad.lsq", fromlist=["x"])
            .lsq_fake_quantize_vjp(gw, w, q.step, -7, 7, axis=0)
            .grad_x
        ),
        (p[0][0],),
        rtol=0,
        atol=0,
    )


def test_training_is_deterministic_and_learns() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    runs = []
    for _ in range(2):
        r = np.random.default_rng(6)
        m, hist = train(Model(init_mlp([3, 16, 2], rng=r)), x, y, epochs=15, batch_size=20, rng=r, lr=0.01)
        runs.append(m)
        assert hist[-1].loss < hist[0].loss
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(runs[0].params, runs[1].params, strict=True))
    assert accuracy(runs[0], x, y) > 0.9


def test_masked_weights_stay_zero_through_training() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((100, 4))
    y = (x[:, 0] > 0).astype(int)
    p = init_mlp([4, 8, 2], rng=rng)
    masks = tuple((rng.random(w.shape) > 0.5).astype(w.dtype) for w, _ in p)
    m, _ = train(
        Model(p, masks=masks), x, y, epochs=3, batch_size=10, rng=rng, optimizer="adamw", weight_decay=0.1
    )
    for (w, _), mk in zip(m.params, masks, strict=True):
        assert np.all(w[mk == 0] == 0)


def test_calibration_and_ptq() -> None:
    p = [(np.array([[1.0, -1.0], [0.5, 0.5]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))]
    m = Model(p)
    qs = calibrate(m, [np.array([[0.0, 1.0]]), np.array([[2.0, -1.0]])])
    # layer 0 input range over both batches: [-1, 2]; layer 1 input = relu(x @ w.T):
    # [0,1] -> relu([-1, 0.5]) = [0, 0.5]; [2,-1] -> relu([3, 0.5]) = [3, 0.5]  => [0, 3]
    assert [(q.lo, q.hi) for q in qs] == [(-1.0, 2.0), (0.0, 3.0)]
    with pytest.raises(ValueError, match="calibration batches are required"):
        post_training_quantize(m, None)
    with pytest.raises(ValueError, match="at least one calibration batch"):
        calibrate(m, [])
    q = prepare_qat(m, [np.array([[0.0, 1.0]])], weight_quantizer="lsq")
    assert isinstance(q.quant[0].weight, LSQWeightQuantizer)


def test_activation_observer_moving_average() -> None:
    q = ActivationQuantizer(8, averaging_constant=0.5)
    q = q.observe(np.array([0.0, 4.0]))  # first batch sets the range
    q = q.observe(np.array([-2.0, 2.0]))  # then moves half-way: lo -1, hi 3
    assert (q.lo, q.hi) == (-1.0, 3.0)
    with pytest.raises(ValueError, match="has no range"):
        ActivationQuantizer(8).forward(np.zeros(3), training=False)


def test_masks_of_any_dtype_keep_the_weights_dtype() -> None:
    """A float64 (or bool) mask on float32 weights: float32 forward, backward and training."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    p = init_mlp([4, 6, 2], rng=rng)
    for masks in (
        tuple((rng.random(w.shape) > 0.5).astype(np.float64) for w, _ in p),
        tuple(rng.random(w.shape) > 0.5 for w, _ in p),
    ):
        logits, c = mlp_forward(p, x, masks=masks)
        assert logits.dtype == np.float32 and all(wm.dtype == np.float32 for wm in c.weights_masked)
        g = mlp_backward(p, c, np.ones_like(logits), masks=masks)
        for (dw, _), mk in zip(g.params, masks, strict=True):
            assert dw.dtype == np.float32 and np.all(dw[mk == 0] == 0)
        m, _ = train(Model(p, masks=masks), x, y, epochs=1, batch_size=5, rng=np.random.default_rng(0))
        for (w, _), mk in zip(m.params, masks, strict=True):
            assert w.dtype == np.float32 and np.all(w[mk == 0] == 0)


def test_train_and_init_reject_bad_inputs() -> None:
    p = init_mlp([2, 2], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must hold at least one row to train on, got shape \(0, 2\)"):
        train(
            Model(p), np.zeros((0, 2)), np.zeros(0, int), epochs=1, batch_size=4, rng=np.random.default_rng(0)
        )
    with pytest.raises(TypeError, match="dtype must be a floating dtype, got int32"):
        init_mlp([2, 2], rng=np.random.default_rng(0), dtype=np.int32)


def test_skipping_the_input_gradient_changes_no_parameter_gradient() -> None:
    rng = np.random.default_rng(9)
    p = init_mlp([6, 8, 3], rng=rng)
    x = rng.random((5, 6)).astype(np.float32)
    masks = [(rng.random(w.shape) > 0.3).astype(np.float32) for w, _ in p]
    quant = [LayerQuant(WeightQuantizer(4), None), None]
    logits, c = mlp_forward(p, x, masks=masks, quant=quant)
    g = rng.standard_normal(logits.shape).astype(np.float32)
    full = mlp_backward(p, c, g, masks=masks)
    fast = mlp_backward(p, c, g, masks=masks, input_grad=False)
    for (a, b), (c2, d) in zip(full.params, fast.params, strict=True):
        assert np.array_equal(a, c2) and np.array_equal(b, d)
    assert fast.x.size == 0 and full.x.shape == x.shape
