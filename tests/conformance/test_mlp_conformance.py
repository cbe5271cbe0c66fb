"""The whole MLP gradient against torch autograd (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.nn.losses import softmax_cross_entropy, softmax_cross_entropy_vjp
from refquant.nn.mlp import init_mlp, mlp_backward, mlp_forward

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_mlp_loss_gradient_matches_autograd(activation: str) -> None:
    rng = np.random.default_rng(0)
    p = init_mlp([64, 32, 32, 10], rng=rng, dtype=np.float64)
    x = rng.random((16, 64))
    y = rng.integers(0, 10, 16)
    logits, cache = mlp_forward(p, x, activation=activation)
    g = softmax_cross_entropy_vjp(np.float64(1.0), logits, y).grad_x
    ours = mlp_backward(p, cache, g, activation=activation)

    tp = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in p]
    a = torch.tensor(x, requires_grad=True)
    act = {"relu": torch.relu, "tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[activation]
    h = a
    for i, (w, b) in enumerate(tp):
        h = torch.nn.functional.linear(h, w, b)
        if i < len(tp) - 1:
            h = act(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(float(softmax_cross_entropy(logits, y)), loss.item(), rtol=1e-13)
    for (dw, db), (w, b) in zip(ours.params, tp, strict=True):
        np.testing.assert_allclose(dw, w.grad.numpy(), rtol=1e-11, atol=1e-16)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-11, atol=1e-16)
    np.testing.assert_allclose(ours.x, a.grad.numpy(), rtol=1e-11, atol=1e-16)
