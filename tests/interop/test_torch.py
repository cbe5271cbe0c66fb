"""Argument checks of refquant.interop.torch (the values are checked against torch in tests/conformance)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.interop import torch as rq

F32 = np.float32
X, G = np.array([0.5, 1.5], F32), np.ones(2, F32)


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf, 1e-50])  # 1e-50 is 0 in float32
def test_backward_ops_reject_the_scales_their_forwards_reject(scale: float) -> None:
    match = r"scale( \(rounded to the compute dtype\))? must be finite and > 0"
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_tensor_affine(X, scale, 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_tensor_affine_vjp(G, X, scale, 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_channel_affine_vjp(G[None], X[None], [scale], [0], 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [scale], [0.0], 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.learnable_fake_quantize_per_channel_affine_vjp(G[None], X[None], [scale], [0.0], 0, 0, 255)


@pytest.mark.parametrize("zp", [np.nan, np.inf])
def test_learnable_ops_reject_a_non_finite_zero_point(zp: float) -> None:
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_tensor_affine(X, [1.0], [zp], 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [1.0], [zp], 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_channel_affine(X[None], [1.0], [zp], 0, 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_channel_affine_vjp(G[None], X[None], [1.0], [zp], 0, 0, 255)


def test_quantize_per_channel_keeps_inf_when_it_maps_nan() -> None:
    # NaN -> code 0 (x86-64's cast of NaN); +-inf * (1/s) is still +-inf with s = 3e38 and saturates,
    # whereas the float32 maximum 3.4e38 * (1/3e38) would be about 1.13 -> 1.
    x = np.array([[np.inf, -np.inf, np.nan, 1.0]], F32)
    assert rq.quantize_per_channel(x, [3e38], [0], 0, "qint8").tolist() == [[127, -128, 0, 0]]


def test_learnable_vjp_of_a_zero_d_input() -> None:
    # x = 0 with s = 1, z = 0: the code 0 is inside [0, 255], so dx = g = 1, d scale = g * (fq(x) - x) / s
    # = 0 and d zero_point = 0 (inside). (x = 0 takes fma_float32's subnormal-range path.)
    r = rq.learnable_fake_quantize_per_tensor_affine_vjp(F32(1.0), F32(0.0), [1.0], [0.0], 0, 255)
    assert float(r.grad_input) == 1.0 and np.shape(r.grad_input) == ()
    assert r.grad_scale.tolist() == [0.0] and r.grad_zero_point.tolist() == [0.0]


def test_fake_quantize_per_tensor_zero_point_must_be_an_int() -> None:
    from refquant.interop.torch import fake_quantize_per_tensor_affine

    with pytest.raises(TypeError, match="zero_point must be an int"):
        fake_quantize_per_tensor_affine([1.0], 1.0, 2.7, 0, 255)  # type: ignore[arg-type]
    assert fake_quantize_per_tensor_affine([1.0], 1.0, np.int64(2), 0, 255).tolist() == [1.0]
