"""Backward passes of refquant.interop.torch against torch autograd (CPU), on tie-dense inputs."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.interop import torch as rq
from tests.conformance.tie_inputs import awkward_scales, tie_dense

torch = pytest.importorskip("torch")

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32)


def _autograd(fn, x: np.ndarray, g: np.ndarray, *params: np.ndarray):
    tx = torch.from_numpy(x).requires_grad_()
    tp = [torch.from_numpy(p).requires_grad_() for p in params]
    y = fn(tx, *tp)
    y.backward(torch.from_numpy(g))
    return y.detach().numpy(), tx.grad.numpy(), [p.grad.numpy() for p in tp]


@pytest.mark.parametrize("qmin,qmax,zp", [(0, 255, 77), (-128, 127, 0), (0, 15, 3)])
def test_fake_quantize_per_tensor_vjp(qmin: int, qmax: int, zp: int) -> None:
    rng = np.random.default_rng(qmax + zp)
    for s in awkward_scales(rng, 12):
        x = tie_dense(float(s), 300, rng, n_random=1000)
        g = rng.standard_normal(x.size).astype(np.float32)
        _, dx, _ = _autograd(
            lambda t, s=s: torch.fake_quantize_per_tensor_affine(t, float(s), zp, qmin, qmax), x, g
        )
        ours = rq.fake_quantize_per_tensor_affine_vjp(g, x, float(s), zp, qmin, qmax).grad_input
        np.testing.assert_array_equal(_bits(ours), _bits(dx))


def test_fake_quantize_vjp_specials() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 3e9, 0.5, 300.0, 1.0], dtype=np.float32)
    g = np.array([1.0, 1.0, 1.0, 1.0, np.inf, np.inf, np.nan], dtype=np.float32)
    _, dx, _ = _autograd(lambda t: torch.fake_quantize_per_tensor_affine(t, 1.0, 3, 0, 255), x, g)
    ours = rq.fake_quantize_per_tensor_affine_vjp(g, x, 1.0, 3, 0, 255).grad_input
    np.testing.assert_array_equal(_bits(ours), _bits(dx))  # inf * 0 is NaN in both
    s, z = np.array([1.0], np.float32), np.array([3], np.int32)
    _, dxc, _ = _autograd(
        lambda t: torch.fake_quantize_per_channel_affine(
            t, torch.from_numpy(s), torch.from_numpy(z), 0, 0, 255
        ),
        x[None, :],
        g[None, :],
    )
    oursc = rq.fake_quantize_per_channel_affine_vjp(g[None, :], x[None, :], s, z, 0, 0, 255).grad_input
    np.testing.assert_array_equal(_bits(oursc), _bits(dxc))


def test_fake_quantize_per_channel_vjp() -> None:
    rng = np.random.default_rng(1)
    scales = awkward_scales(rng, 8)
    x = np.stack([tie_dense(float(s), 200, rng, n_random=300) for s in scales])
    zps = rng.integers(0, 256, scales.size).astype(np.int32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ts, tz = torch.from_numpy(scales), torch.from_numpy(zps)
    _, dx, _ = _autograd(lambda t: torch.fake_quantize_per_channel_affine(t, ts, tz, 0, 0, 255), x, g)
    ours = rq.fake_quantize_per_channel_affine_vjp(g, x, scales, zps, 0, 0, 255).grad_input
    np.testing.assert_array_equal(_bits(ours), _bits(dx))


def _sum_bound(terms: np.ndarray, axes=None) -> np.ndarray:
    """Error bound of a float32 sum of n terms: ceil(log2 n) * eps32 * sum |terms| (plus one rounding)."""
    n = terms.size if axes is None else int(np.prod([terms.shape[a] for a in axes]))
    mag = np.abs(terms.astype(np.float64)).sum(axis=axes)
    return (np.ceil(np.log2(max(n, 2))) + 1) * EPS32 * mag


ZPS = [0.0, 2.5, 77.3, -0.7, 300.0, 128.5]


@pytest.mark.parametrize("zp", ZPS)
def test_learnable_per_tensor_elementwise_bit_identical(zp: float) -> None:
    """Size-1 inputs make torch's sums exact, so every per-element term is compared bit for bit."""
    rng = np.random.default_rng(int(zp * 10) % 2**32)
    for s in awkward_scales(rng, 3):
        for v in tie_dense(float(s), 140, rng, n_random=40)[::3]:
            x = np.array([v], np.float32)
            g = rng.standard_normal(1).astype(np.float32)
            for gf in (1.0, 0.37):
                sc, z = np.array([s], np.float32), np.array([zp], np.float32)
                y, dx, (ds, dz) = _autograd(
                    lambda t, a, b, gf=gf: torch._fake_quantize_learnable_per_tensor_affine(
                        t, a, b, 0, 255, gf
                    ),
                    x,
                    g,
                    sc,
                    z,
                )
                assert (
                    _bits(rq.learnable_fake_quantize_per_tensor_affine(x, sc, z, 0, 255, gf)).tolist()
                    == _bits(y).tolist()
                )
                r = rq.learnable_fake_quantize_per_tensor_affine_vjp(g, x, sc, z, 0, 255, gf)
                assert _bits(r.grad_input).tolist() == _bits(dx).tolist()
                assert _bits(r.grad_scale).tolist() == _bits(ds).tolist(), (v, s, zp, gf)
                assert _bits(r.grad_zero_point).tolist() == _bits(dz).tolist()


@pytest.mark.parametrize("zp", ZPS)
def test_learnable_per_tensor_large(zp: float) -> None:
    rng = np.random.default_rng(3)
    s = np.float32(0.0123)
    x = tie_dense(float(s), 400, rng, n_random=5000)
    g = rng.standard_normal(x.size).astype(np.float32)
    sc, z = np.array([s], np.float32), np.array([zp], np.float32)
    y, dx, (ds, dz) = _autograd(
        lambda t, a, b: torch._fake_quantize_learnable_per_tensor_affine(t, a, b, 0, 255, 1.0), x, g, sc, z
    )
    np.testing.assert_array_equal(
        _bits(rq.learnable_fake_quantize_per_tensor_affine(x, sc, z, 0, 255)), _bits(y)
    )
    r = rq.learnable_fake_quantize_per_tensor_affine_vjp(g, x, sc, z, 0, 255)
    np.testing.assert_array_equal(_bits(r.grad_input), _bits(dx))
    # the per-element terms are exact (test above); the sums differ only by torch's float32 summation
    terms_s = np.abs(g) * np.maximum(255.0, 1.0)
    assert abs(float(r.grad_scale[0]) - float(ds[0])) <= _sum_bound(terms_s) + EPS32 * abs(float(ds[0]))
    assert abs(float(r.grad_zero_point[0]) - float(dz[0])) <= _sum_bound(g * s) + EPS32 * abs(float(dz[0]))


def test_learnable_zero_point_rounds_differently_in_each_pass() -> None:
    """z = 2.5: forward uses rint -> 2, the per-tensor backward int(z + 0.5) -> 3; torch agrees."""
    x = np.array([-1.2], np.float32)  # x/s = -1.2: code -1 + 2 = 1 (forward), -1 + 3 = 2 (backward)
    sc, z = np.array([1.0], np.float32), np.array([2.5], np.float32)
    g = np.ones(1, np.float32)
    y, _, (ds, _) = _autograd(
        lambda t, a, b: torch._fake_quantize_learnable_per_tensor_affine(t, a, b, 0, 255, 1.0), x, g, sc, z
    )
    assert y.tolist() == [-1.0]  # (1 - 2) * 1
    # backward: inside, fq(x) computed with z_b = 3: (clamp(-1 + 3) - 3) * 1 = -1; ds = (-1 - (-1.2)) / 1
    assert ds.tolist() == pytest.approx([0.2], rel=1e-6)
    r = rq.learnable_fake_quantize_per_tensor_affine_vjp(g, x, sc, z, 0, 255)
    assert r.grad_scale.tolist() == ds.tolist()


@pytest.mark.parametrize("zp", [0.0, 2.5, 77.3, 300.0])
def test_learnable_per_channel_elementwise_bit_identical(zp: float) -> None:
    rng = np.random.default_rng(5)
    scales = awkward_scales(rng, 4)
    cols = [tie_dense(float(s), 60, rng, n_random=20) for s in scales]
    n = min(c.size for c in cols)
    x = np.stack([c[:n] for c in cols]).T.copy()  # (n, C): one element per (row, channel)
    for row in range(0, n, 7):
        xr = x[row : row + 1]  # (1, C): sums over axis 0 are single terms, exact
        g = rng.standard_normal(xr.shape).astype(np.float32)
        z = np.full(scales.size, zp, np.float32)
        y, dx, (ds, dz) = _autograd(
            lambda t, a, b: torch._fake_quantize_learnable_per_channel_affine(t, a, b, 1, 0, 255, 0.5),
            xr,
            g,
            scales,
            z,
        )
        np.testing.assert_array_equal(
            _bits(rq.learnable_fake_quantize_per_channel_affine(xr, scales, z, 1, 0, 255, 0.5)), _bits(y)
        )
        r = rq.learnable_fake_quantize_per_channel_affine_vjp(g, xr, scales, z, 1, 0, 255, 0.5)
        np.testing.assert_array_equal(_bits(r.grad_input), _bits(dx))
        np.testing.assert_array_equal(_bits(r.grad_scale), _bits(ds))
        np.testing.assert_array_equal(_bits(r.grad_zero_point), _bits(dz))


def _hostile_floats() -> np.ndarray:
    from refquant.check.strategies import hostile_float_values

    v = np.array(hostile_float_values(np.float32), np.float32)
    with np.errstate(over="ignore"):
        return np.concatenate([v, -v, v * np.float32(3.3), np.float32([1e-38, 2e-38, 3.4e38])])


@pytest.mark.parametrize("s", [1.0, 1e-30, 1e-40, 1e-45, 2.0**-20])  # 1e-40, 1e-45: 1.0f / s is inf
@pytest.mark.parametrize("qmin,qmax,zp", [(0, 255, 77), (-128, 127, 0), (-(2**31), 2**31 - 1, 12345)])
def test_hostile_inputs_and_subnormal_scales_match_torch(s: float, qmin: int, qmax: int, zp: int) -> None:
    x = _hostile_floats()
    x2 = np.stack([x, x], axis=1)
    g, g2 = np.ones_like(x), np.ones_like(x2)
    y, dx, _ = _autograd(lambda t: torch.fake_quantize_per_tensor_affine(t, s, zp, qmin, qmax), x, g)
    np.testing.assert_array_equal(_bits(rq.fake_quantize_per_tensor_affine(x, s, zp, qmin, qmax)), _bits(y))
    np.testing.assert_array_equal(
        rq.fake_quantize_per_tensor_affine_vjp(g, x, s, zp, qmin, qmax).grad_input, dx
    )
    sc, zc = np.array([s, 1.0], np.float32), np.array([zp, 0], np.int32)
    y, dx, _ = _autograd(
        lambda t: torch.fake_quantize_per_channel_affine(
            t, torch.from_numpy(sc), torch.from_numpy(zc), 1, qmin, qmax
        ),
        x2,
        g2,
    )
    np.testing.assert_array_equal(
        _bits(rq.fake_quantize_per_channel_affine(x2, sc, zc, 1, qmin, qmax)), _bits(y)
    )
    got = rq.fake_quantize_per_channel_affine_vjp(g2, x2, sc, zc, 1, qmin, qmax).grad_input
    np.testing.assert_array_equal(
        got, dx
    )  # the int64 code against the exact bounds (2**31 - 1 is not float32)
    for lo, hi, name in ((0, 255, "quint8"), (-128, 127, "qint8"), (-(2**31), 2**31 - 1, "qint32")):
        if lo == qmin and hi == qmax:
            dt = getattr(torch, name)
            want = torch.quantize_per_tensor(torch.from_numpy(x), s, zp, dt).int_repr().numpy()
            np.testing.assert_array_equal(rq.quantize_per_tensor(x, s, zp, name), want)
            want = (
                torch.quantize_per_channel(
                    torch.from_numpy(x2),
                    torch.tensor([s, 1.0], dtype=torch.float64),
                    torch.tensor([zp, 0]),
                    1,
                    dt,
                )
                .int_repr()
                .numpy()
            )
            np.testing.assert_array_equal(rq.quantize_per_channel(x2, [s, 1.0], [zp, 0], 1, name), want)


@pytest.mark.parametrize("s", [1.0, 1e-40])
@pytest.mark.parametrize("qmin,qmax", [(0, 255), (-(2**31), 2**31 - 1)])
def test_learnable_hostile_inputs_match_torch(s: float, qmin: int, qmax: int) -> None:
    x = _hostile_floats()
    g = np.ones_like(x)
    sp, zp = np.array([s], np.float32), np.array([2.5], np.float32)
    y, dx, (ds, dz) = _autograd(
        lambda t, ts, tz: torch._fake_quantize_learnable_per_tensor_affine(t, ts, tz, qmin, qmax, 1.0),
        x,
        g,
        sp,
        zp,
    )
    np.testing.assert_array_equal(
        _bits(rq.learnable_fake_quantize_per_tensor_affine(x, sp, zp, qmin, qmax)), _bits(y)
    )
    r = rq.learnable_fake_quantize_per_tensor_affine_vjp(g, x, sp, zp, qmin, qmax)
    np.testing.assert_array_equal(r.grad_input, dx)
    np.testing.assert_allclose(r.grad_scale, ds, rtol=1e-5)  # float32 sums (module note)
    np.testing.assert_allclose(r.grad_zero_point, dz, rtol=1e-5)
