"""Hostile inputs to the network layer: hand-derived values or clear errors (issue 8, section 2)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.nn import (
    gelu,
    gelu_vjp,
    leaky_relu,
    linear,
    mse_loss,
    mse_loss_vjp,
    softmax,
    softmax_cross_entropy_vjp,
    tanh,
)
from refquant.nn.mlp import init_mlp, mlp_forward
from refquant.nn.optim import adam_init, adam_step, sgd_init, sgd_step
from refquant.nn.qat import ActivationQuantizer, LSQWeightQuantizer
from refquant.nn.train import Model, accuracy, train
from refquant.recipes.ptq import calibrate, post_training_quantize, prepare_qat


def test_activations_take_0d_arrays_and_scalars() -> None:
    y = gelu(0.0)
    assert isinstance(y, np.ndarray) and y.shape == () and float(y) == 0.0  # TypeError before
    assert round(float(gelu(np.array(1.0))), 6) == 0.841345  # 1 * Phi(1)
    assert float(gelu_vjp(1.0, 0.0).grad_x) == 0.5  # Phi(0) + 0 * phi(0)
    t = tanh(np.float32(0.0))
    assert isinstance(t, np.ndarray) and t.dtype == np.float32 and t.shape == ()


def test_slopes_and_products_that_overflow_are_errors() -> None:
    with pytest.raises(ValueError, match=r"negative_slope=1e\+300 overflows x's dtype float32"):
        leaky_relu(np.array([-1.0], np.float32), 1e300)
    assert leaky_relu([-1.0], 1e300).tolist() == [-1e300]  # float64 holds it
    with pytest.raises(ValueError, match=r"linear overflows float32.*max \|w\| = 3e\+38"):
        linear(np.array([[2.0]], np.float32), np.array([[3e38]], np.float32))  # 6e38 > 3.4e38


def test_mse_loss_without_intermediate_overflow() -> None:
    # each square is 1e308; their sum overflows, their mean does not
    assert float(mse_loss([1e154, 1e154], [0.0, 0.0])) == pytest.approx(1e308, rel=1e-15)
    # p - t = 3e308 overflows; 2 g (p - t) / n = 2 * 0.25 * 3e308 = 1.5e308 does not
    r = mse_loss_vjp(0.25, [1.5e308], [-1.5e308])
    assert r.grad_pred.tolist() == [1.5e308] and r.grad_target.tolist() == [-1.5e308]
    with pytest.raises(ValueError, match=r"mse_loss overflows float32.*pred"):
        mse_loss(np.array([3e38], np.float32), np.array([0.0], np.float32))  # 9e76


def test_losses_compute_float16_in_float32_and_check_the_cotangent() -> None:
    y = softmax(np.array([0.0, 0.0], np.float16))
    assert y.dtype == np.float16 and y.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"g holds \[1e\+300\], beyond the range of .* float32"):
        softmax_cross_entropy_vjp(1e300, np.zeros((1, 2), np.float32), [0])


def test_optimizer_hostile_hyperparameters() -> None:
    p, g = [np.array([1.0, 2.0], np.float32)], [np.array([0.5, -1.0], np.float32)]
    with pytest.raises(TypeError, match="nesterov must be a bool, got 'False'"):
        sgd_step(p, g, sgd_init(p), lr=0.1, momentum=0.9, nesterov="False")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lr=1e\+300 overflows the parameters' dtype float32"):
        sgd_step(p, g, sgd_init(p), lr=1e300)
    with pytest.raises(TypeError, match="fused must be a bool"):
        adam_step(p, g, adam_init(p), fused=1)  # type: ignore[arg-type]
    # Adam's v = (1 - beta2) g * g = 1e27 * 1e30 = 1e57 overflows float32: an error, not torch's inf
    with pytest.raises(ValueError, match="adam_step overflows"):
        adam_step(p, [np.array([1e30, 0.0], np.float32)], adam_init(p))
    # a list gradient takes its parameter's dtype: p - 0.1 g = [0.95, 2.1]
    new, _ = sgd_step(p, [[0.5, -1.0]], sgd_init(p), lr=0.1)
    assert new[0].dtype == np.float32 and new[0].tolist() == np.array([0.95, 2.1], np.float32).tolist()
    ro = p[0].copy()
    ro.flags.writeable = False
    assert sgd_step([ro], g, sgd_init([ro]), lr=0.1)[0][0].tolist() == new[0].tolist()  # read-only is fine


def test_mlp_arguments() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"sizes must hold ints, got \[3, 2.5\]"):
        init_mlp([3, 2.5], rng=rng)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"need 3298534883328 weights, more than the limit 2\*\*31"):
        init_mlp([3, 2**40], rng=rng)  # 3 * 2**40 weights, refused before allocating
    p = init_mlp([3, 2], rng=rng, dtype=np.float64)
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match=r"masks\[0\] must hold only 0 and 1, got \[0.5"):
        mlp_forward(p, x, masks=[np.full((2, 3), 0.5)])
    y_list = mlp_forward(p, x, masks=[[[1, 0, 1], [0, 1, 1]]])[0]  # a nested list is a mask too
    w = p[0][0]
    assert y_list.tolist() == [[w[0, 0] + w[0, 2], w[1, 1] + w[1, 2]]]
    with pytest.raises(TypeError, match=r"quant\[0\] must be a LayerQuant or None, got 3"):
        mlp_forward(p, x, quant=[3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"params\[0\] must be a \(w, b\) pair"):
        mlp_forward([p[0][0]], x)  # type: ignore[list-item]


def test_train_arguments() -> None:
    rng = np.random.default_rng(0)
    m = Model(init_mlp([2, 2], rng=rng))
    x, y = np.ones((4, 2), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match=r"epochs must be an int, got 1\.5"):
        train(m, x, y, epochs=1.5, batch_size=2, rng=rng)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_size must be an int, got True"):
        train(m, x, y, epochs=1, batch_size=True, rng=rng)
    with pytest.raises(TypeError, match="y must hold integer class labels, got dtype float64"):
        train(m, x, y.astype(float), epochs=1, batch_size=2, rng=rng)
    with pytest.raises(ValueError, match=r"x must be finite to train on, got \[nan, nan\]"):
        train(m, np.where(np.eye(4, 2) > 0, np.nan, 1.0), y, epochs=1, batch_size=2, rng=rng)
    with pytest.raises(TypeError, match="log must be callable"):
        train(m, x, y, epochs=1, batch_size=2, rng=rng, log=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x must hold at least one row"):
        accuracy(m, np.ones((0, 2)), np.array([], int))


def test_quantizers_and_recipes_check_bits_first() -> None:
    m = Model([(np.array([[0.5, -0.25]]), np.zeros(1))])
    batch = [np.array([[1.0, 0.0]])]
    with pytest.raises(ValueError, match=r"weight_bits=33 is not a valid integer format"):
        prepare_qat(m, batch, weight_bits=33)  # accepted before, and failed at the first forward
    with pytest.raises(TypeError, match="per_channel must be a bool, got 'no'"):
        post_training_quantize(m, batch, per_channel="no")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"batches must hold at least one calibration batch, got none \(\[\]\)"
    ):
        calibrate(m, [])
    with pytest.raises(ValueError, match=r"calibration\[0\] must be a non-empty float array"):
        post_training_quantize(m, [np.zeros((0, 2))])
    with pytest.raises(ValueError, match="averaging_constant must be finite, got nan"):
        ActivationQuantizer(8, averaging_constant=float("nan"))
    with pytest.raises(ValueError, match=r"lo must be <= hi, got lo=3.0 > hi=-1.0"):
        ActivationQuantizer(8, lo=3.0, hi=-1.0)
    with pytest.raises(TypeError, match="step must be a float array"):
        LSQWeightQuantizer(True, 4)  # type: ignore[arg-type]
