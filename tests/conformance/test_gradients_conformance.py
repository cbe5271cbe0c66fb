"""Core gradients against torch autograd where torch has the same function."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.grad.normalize import minmax_normalize, minmax_normalize_vjp
from refquant.grad.ste import fake_quantize_vjp

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("with_ties", [False, True])
def test_minmax_normalize_vjp_matches_autograd(with_ties: bool) -> None:
    rng = np.random.default_rng(int(with_ties))
    x = rng.normal(0, 1, (6, 7))
    if with_ties:
        x[0, 0] = x[1, 1] = x[2, 2] = x.min() - 1.0  # three-way tie for the minimum
        x[3, 3] = x[4, 4] = x.max() + 1.0  # two-way tie for the maximum
    g = rng.standard_normal(x.shape)
    tx = torch.from_numpy(x).requires_grad_()
    y = (tx - tx.min()) / (tx.max() - tx.min())
    y.backward(torch.from_numpy(g))
    np.testing.assert_allclose(minmax_normalize(x), y.detach().numpy(), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(minmax_normalize_vjp(g, x).grad_x, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_code_clipped_ste_is_torchs_fake_quant_backward() -> None:
    """refquant's core clipped_code STE with torch's knobs equals torch's backward."""
    x = (np.arange(-300, 300) * 0.05 + 0.025).astype(np.float32)  # ties at every half step
    g = np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    torch.fake_quantize_per_tensor_affine(tx, 0.1, 4, -10, 20).backward(torch.from_numpy(g))
    ours = fake_quantize_vjp(g, x, 0.1, 4, -10, 20, op_order="multiply").grad_x
    np.testing.assert_array_equal(ours, tx.grad.numpy())
