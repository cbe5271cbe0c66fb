"""refquant.nn.layers and refquant.nn.losses against torch autograd (CPU), in float64.

Forward values and vjps agree to ``rtol=1e-12``. An ``atol`` is added only
where a value is close to 0 because of cancellation, and then it is the
rounding bound of the formula that cancels (stated at each use):

* sums (``linear``, softmax backward): ``n * eps * sum|terms|``, the error of
  any summation order;
* torch's ``1 + erf``, ``1 + tanh``, ``1 - y`` and ``1 - y**2``: one ulp of 1,
  an absolute error that becomes a large relative one in the tails, where
  refquant evaluates ``erfc``, ``sigmoid(2u)`` and ``e / (1 + e)**2`` instead
  (accurate to a few ulps: see ``tests/nn``).

Kinks (``x = ±0`` for relu and leaky_relu) and every value at ``±0`` are
compared bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from refquant.nn import layers as L
from refquant.nn import losses as LS

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = float(np.finfo(np.float64).eps)
RTOL = 1e-12


@pytest.fixture(scope="module", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


def _autograd(fn: Callable[..., Any], g: Any, *arrays: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    ts = [torch.from_numpy(np.array(a)).requires_grad_() for a in arrays]
    y = fn(*ts)
    y.backward(torch.as_tensor(np.asarray(g, dtype=np.float64)))
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def _same_bits(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(_bits(ours), _bits(theirs))


ZEROS = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300])
CORE = np.concatenate([np.linspace(-3, 3, 601), np.random.default_rng(0).uniform(-3, 3, 400)])
TAILS = np.linspace(-40, 40, 8001)

# name -> (refquant forward, refquant vjp, torch forward)
SMOOTH: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]] = {
    "sigmoid": (L.sigmoid, L.sigmoid_vjp, torch.sigmoid),
    "tanh": (L.tanh, L.tanh_vjp, torch.tanh),
    "gelu": (L.gelu, L.gelu_vjp, F.gelu),
    "gelu_tanh": (
        lambda x: L.gelu(x, "tanh"),
        lambda g, x: L.gelu_vjp(g, x, "tanh"),
        lambda t: F.gelu(t, approximate="tanh"),
    ),
}


# ------------------------------------------------------------------ relu / leaky_relu: bit for bit


@pytest.mark.parametrize("slope", [None, 0.01, 0.2, 1.5, -0.3])
def test_relu_family_bit_exact_including_kinks(slope: float | None) -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([ZEROS, TAILS, 3 * rng.standard_normal(500), [np.inf, -np.inf, np.nan]])
    x = np.concatenate([x, ZEROS])  # the kinks twice, with different cotangents
    g = rng.standard_normal(x.size)
    g[-6:] = [-1.0, -1.0, 2.0, 2.0, -0.0, 3.0]
    if slope is None:
        y, (dx,) = _autograd(F.relu, g, x)
        ours, dours = L.relu(x), L.relu_vjp(g, x).grad_x
    else:
        y, (dx,) = _autograd(lambda t: F.leaky_relu(t, slope), g, x)
        ours, dours = L.leaky_relu(x, slope), L.leaky_relu_vjp(g, x, slope).grad_x
    _same_bits(ours, y)
    _same_bits(dours, dx)


def test_relu_kink_gradient_is_zero_in_torch_too() -> None:
    x = np.array([0.0, -0.0])
    _, (dx,) = _autograd(F.relu, np.ones(2), x)
    _, (dl,) = _autograd(lambda t: F.leaky_relu(t, 0.25), np.ones(2), x)
    assert dx.tolist() == [0.0, 0.0] and dl.tolist() == [0.25, 0.25]
    assert L.relu_vjp(np.ones(2), x).grad_x.tolist() == [0.0, 0.0]
    assert L.leaky_relu_vjp(np.ones(2), x, 0.25).grad_x.tolist() == [0.25, 0.25]


# ------------------------------------------------------------------ smooth activations


@pytest.mark.parametrize("name", list(SMOOTH))
def test_smooth_activation_core(name: str) -> None:
    f, f_vjp, tf = SMOOTH[name]
    g = np.random.default_rng(1).standard_normal(CORE.size)
    y, (dx,) = _autograd(tf, g, CORE)
    # |x| <= 3: torch's 1 + erf, 1 + tanh, 1 - y and 1 - y^2 are all >= 1e-3 there, so its one-ulp
    # absolute error stays below 1e-12 relative: no atol
    np.testing.assert_allclose(f(CORE), y, rtol=RTOL, atol=0)
    np.testing.assert_allclose(f_vjp(g, CORE).grad_x, dx, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", list(SMOOTH))
def test_smooth_activation_at_zero_bit_exact(name: str) -> None:
    f, f_vjp, tf = SMOOTH[name]
    g = np.array([1.0, -1.0, 2.0, -2.0, 0.5, 3.0])
    y, (dx,) = _autograd(tf, g, ZEROS)
    _same_bits(f(ZEROS), y)
    _same_bits(f_vjp(g, ZEROS).grad_x, dx)


# torch's absolute error in the tails, in ulps of 1 times max|g| (derivatives) or max|x| (gelu forward):
#   sigmoid' = (1 - y) y and tanh' = 1 - y^2: one ulp of 1 each;
#   gelu' = cdf + x pdf with cdf = 0.5 (1 + erf): one ulp of 1;
#   gelu_tanh' has 0.5 x (1 - t^2) k (1 + 3 kappa x^2): one ulp of 1 times that factor, at most
#   ~23 while t^2 < 1 (|x| < ~7.2; beyond, 1 - t^2 is exactly 0 in both), so 64.
TAIL_DERIVATIVE_ULPS = {"sigmoid": 4, "tanh": 4, "gelu": 4, "gelu_tanh": 64}


@pytest.mark.parametrize("name", list(SMOOTH))
def test_smooth_activation_tails(name: str) -> None:
    f, f_vjp, tf = SMOOTH[name]
    g = np.random.default_rng(2).standard_normal(TAILS.size)
    y, (dx,) = _autograd(tf, g, TAILS)
    # forward: sigmoid and tanh are relative to the ulp; gelu is x (1 + erf(.)) / 2 in torch, whose
    # 1 + erf (1 + tanh) rounds with absolute error ~eps: |x| eps, tiny next to gelu's scale there
    atol = 0.0 if name in ("sigmoid", "tanh") else 4 * EPS * float(np.abs(TAILS).max())
    np.testing.assert_allclose(f(TAILS), y, rtol=RTOL, atol=atol)
    atol = TAIL_DERIVATIVE_ULPS[name] * EPS * float(np.abs(g).max())
    np.testing.assert_allclose(f_vjp(g, TAILS).grad_x, dx, rtol=RTOL, atol=atol)


def test_sigmoid_far_tails_forward() -> None:
    x = np.linspace(-700, 700, 1401)
    y, _ = _autograd(torch.sigmoid, np.ones_like(x), x)
    np.testing.assert_allclose(L.sigmoid(x), y, rtol=RTOL, atol=0)  # both relative down to 1e-304


def test_gelu_differs_from_torch_only_by_limits_at_infinity() -> None:
    x = np.array([-np.inf, np.inf, np.nan, -1e300, 1e300])
    for approximate in ("none", "tanh"):
        y, (dx,) = _autograd(lambda t, a=approximate: F.gelu(t, approximate=a), np.ones(5), x)
        ours = L.gelu(x, approximate)
        dours = L.gelu_vjp(np.ones(5), x, approximate).grad_x
        # torch: -inf * 0 and inf * 0 give NaN; refquant returns the limits -0.0 and 1 (0 at -inf)
        assert np.isnan(y[0]) and ours[0] == 0 and np.signbit(ours[0])
        assert np.isnan(dx[:2]).all() and dours[:2].tolist() == [0.0, 1.0]
        _same_bits(ours[1:4], y[1:4])


@pytest.mark.parametrize("name", ["relu", "leaky_relu", *SMOOTH])
def test_activations_float32(name: str) -> None:
    x = np.concatenate([np.linspace(-6, 6, 241), ZEROS[:2]]).astype(np.float32)
    g = np.random.default_rng(3).standard_normal(x.size).astype(np.float32)
    if name == "relu":
        f, f_vjp, tf = L.relu, L.relu_vjp, F.relu
    elif name == "leaky_relu":
        f, f_vjp, tf = L.leaky_relu, L.leaky_relu_vjp, F.leaky_relu
    else:
        f, f_vjp, tf = SMOOTH[name]
    tx = torch.from_numpy(x).requires_grad_()
    ty = tf(tx)
    ty.backward(torch.from_numpy(g))
    y, dx = ty.detach().numpy(), tx.grad.numpy()
    ours, dours = f(x), f_vjp(g, x).grad_x
    assert ours.dtype == dours.dtype == np.float32
    if name in ("relu", "leaky_relu"):
        _same_bits(ours, y)
        _same_bits(dours, dx)
    else:  # float32 formulas differ in rounding: a few ulps of float32 (atol: the same cancellations)
        eps32 = float(np.finfo(np.float32).eps)
        np.testing.assert_allclose(ours, y, rtol=8 * eps32, atol=64 * eps32)
        np.testing.assert_allclose(dours, dx, rtol=8 * eps32, atol=64 * eps32 * float(np.abs(g).max()))


# ------------------------------------------------------------------ linear


@pytest.mark.parametrize("shape", [(16, 5), (5,), (2, 3, 5), (1, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(shape: tuple[int, ...], with_bias: bool) -> None:
    rng = np.random.default_rng(len(shape) + 10 * with_bias)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    g = rng.standard_normal((*shape[:-1], 4))
    if with_bias:
        y, (dx, dw, db) = _autograd(F.linear, g, x, w, b)
        r = L.linear_vjp(g, x, w, b)
        ours = L.linear(x, w, b)
    else:
        y, (dx, dw) = _autograd(F.linear, g, x, w)
        r = L.linear_vjp(g, x, w)
        ours = L.linear(x, w)
    # sums in another order agree to n eps sum|terms| (BLAS vs BLAS): the atol where a sum cancels
    ab = np.abs(b) if with_bias else 0.0
    np.testing.assert_allclose(ours, y, rtol=RTOL, atol=_sum_bound(np.abs(x) @ np.abs(w).T + ab, 6))
    np.testing.assert_allclose(r.grad_x, dx, rtol=RTOL, atol=_sum_bound(np.abs(g) @ np.abs(w), 4))
    g2, x2 = np.abs(g).reshape(-1, 4), np.abs(x).reshape(-1, 5)
    np.testing.assert_allclose(r.grad_w, dw, rtol=RTOL, atol=_sum_bound(g2.T @ x2, g2.shape[0]))
    if with_bias:
        assert r.grad_b is not None
        np.testing.assert_allclose(r.grad_b, db, rtol=RTOL, atol=_sum_bound(g2.sum(axis=0), g2.shape[0]))
    else:
        assert r.grad_b is None


def _sum_bound(abs_terms: np.ndarray, n: int) -> float:
    return float(n * EPS * np.max(abs_terms))


# ------------------------------------------------------------------ losses


CE_CASES = [(1, 1, 1.0), (1, 3, 1.0), (32, 10, 3.0), (8, 5, 300.0), (4, 7, 0.0)]


@pytest.mark.parametrize("n,c,scale", CE_CASES)
def test_softmax_cross_entropy(n: int, c: int, scale: float) -> None:
    rng = np.random.default_rng(n + c)
    z, y = scale * rng.standard_normal((n, c)), rng.integers(0, c, n)
    g = 1.7
    loss, (dz,) = _autograd(lambda t: F.cross_entropy(t, torch.from_numpy(y), reduction="mean"), g, z)
    np.testing.assert_allclose(LS.softmax_cross_entropy(z, y), loss, rtol=RTOL, atol=0)
    # g (p - 1) / N at the label cancels when p ~ 1: absolute accuracy eps g / N there
    ours = LS.softmax_cross_entropy_vjp(g, z, y).grad_x
    np.testing.assert_allclose(ours, dz, rtol=RTOL, atol=4 * EPS * g / n)


@pytest.mark.parametrize("shape,axis", [((8, 6), -1), ((8, 6), 0), ((2, 3, 4), 1)])
def test_softmax_and_log_softmax(shape: tuple[int, ...], axis: int) -> None:
    rng = np.random.default_rng(sum(shape))
    z, g = 3 * rng.standard_normal(shape), rng.standard_normal(shape)
    c = shape[axis]
    # both backward passes subtract a sum over the axis: c eps sum|terms| where that cancels
    for ours_f, ours_vjp, tf, bound in (
        (LS.softmax, LS.softmax_vjp, torch.softmax, np.abs(g)),
        (LS.log_softmax, LS.log_softmax_vjp, torch.log_softmax, np.abs(g).sum(axis=axis, keepdims=True)),
    ):
        y, (dz,) = _autograd(lambda t, tf=tf: tf(t, axis), g, z)
        np.testing.assert_allclose(ours_f(z, axis), y, rtol=RTOL, atol=0)
        np.testing.assert_allclose(ours_vjp(g, z, axis).grad_x, dz, rtol=RTOL, atol=_sum_bound(bound, 2 * c))


@pytest.mark.parametrize("shape", [(1,), (37,), (8, 9), (2, 3, 4)])
def test_mse_loss(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    p, t = rng.standard_normal(shape), rng.standard_normal(shape)
    loss, (dp, dt) = _autograd(lambda a, b: F.mse_loss(a, b, reduction="mean"), 0.3, p, t)
    np.testing.assert_allclose(LS.mse_loss(p, t), loss, rtol=RTOL, atol=0)
    r = LS.mse_loss_vjp(0.3, p, t)
    np.testing.assert_allclose(r.grad_pred, dp, rtol=RTOL, atol=0)
    np.testing.assert_allclose(r.grad_target, dt, rtol=RTOL, atol=0)
