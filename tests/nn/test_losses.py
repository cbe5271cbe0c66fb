"""refquant.nn.losses: softmax, log_softmax, softmax cross-entropy and MSE, forward and vjp."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check.gradcheck import check_vjp
from refquant.nn.losses import (
    log_softmax,
    log_softmax_vjp,
    mse_loss,
    mse_loss_vjp,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_vjp,
    softmax_vjp,
)

EPS64 = float(np.finfo(np.float64).eps)
LN3, LN4 = math.log(3.0), math.log(4.0)

# ------------------------------------------------------------------ gradients vs central differences


@pytest.mark.parametrize("shape,axis", [((4, 5), -1), ((4, 5), 0), ((2, 3, 4), 1), ((6,), 0)])
def test_softmax_family_vjp_central_differences(shape: tuple[int, ...], axis: int) -> None:
    z = 2 * np.random.default_rng(2).standard_normal(shape)
    check_vjp(softmax, softmax_vjp, (z, axis), argnums=0)
    check_vjp(log_softmax, log_softmax_vjp, (z, axis), argnums=0)


@pytest.mark.parametrize("n,c", [(1, 1), (1, 3), (5, 4), (16, 10)])
def test_softmax_cross_entropy_vjp_central_differences(n: int, c: int) -> None:
    rng = np.random.default_rng(n * c)
    z, y = 3 * rng.standard_normal((n, c)), rng.integers(0, c, n)
    check_vjp(softmax_cross_entropy, softmax_cross_entropy_vjp, (z, y))


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 2, 3)])
def test_mse_loss_vjp_central_differences(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    check_vjp(mse_loss, mse_loss_vjp, (rng.standard_normal(shape), rng.standard_normal(shape)))


# ------------------------------------------------------------------ hand-computed examples


def test_softmax_and_log_softmax_hand_values() -> None:
    # exp(ln 3) = 3: softmax([0, ln 3]) = [1, 3] / 4; log_softmax = [-ln 4, ln 3 - ln 4]
    z = np.array([[0.0, LN3], [LN3, 0.0]])
    np.testing.assert_allclose(softmax(z), [[0.25, 0.75], [0.75, 0.25]], rtol=4 * EPS64)
    np.testing.assert_allclose(log_softmax(z), [[-LN4, LN3 - LN4], [LN3 - LN4, -LN4]], rtol=4 * EPS64)
    # along axis 0 the columns are normalized: the same numbers transposed (z is symmetric)
    np.testing.assert_allclose(softmax(z, axis=0), [[0.25, 0.75], [0.75, 0.25]], rtol=4 * EPS64)
    # softmax_vjp: y * (g - <g, y>); g = [1, 0], y = [1/4, 3/4]: <g, y> = 1/4 -> [1/4 * 3/4, 3/4 * -1/4]
    np.testing.assert_allclose(softmax_vjp([1.0, 0.0], [0.0, LN3]).grad_x, [0.1875, -0.1875], rtol=4 * EPS64)
    # log_softmax_vjp: g - y * sum(g); g = [1, 1] -> [1 - 1/2, 1 - 3/2]
    np.testing.assert_allclose(log_softmax_vjp([1.0, 1.0], [0.0, LN3]).grad_x, [0.5, -0.5], rtol=4 * EPS64)


def test_softmax_is_stable_for_huge_logits() -> None:
    # z - max = [0, about -1e292]: exp gives [1, 0], no overflow
    assert softmax([1e308, 1e308 - 1e292]).tolist() == [1.0, 0.0]
    # z - max = [0, -1000]; log_softmax = [-log(1 + e^-1000), -1000] = [0, -1000] in float64
    assert log_softmax([1000.0, 0.0]).tolist() == [0.0, -1000.0]
    # the spread 2e308 rounds to -inf: exp gives 0, exactly the softmax's rounded value
    assert softmax([-1e308, 1e308]).tolist() == [0.0, 1.0]
    # but the log-probability -2e308 is beyond float64: an error, not a silent -inf
    with pytest.raises(ValueError, match=r"log_softmax overflows float64.*logits"):
        log_softmax([-1e308, 1e308])


def test_softmax_cross_entropy_hand_values() -> None:
    # softmax([0, ln 3]) = [1/4, 3/4]: label 1 costs -ln(3/4) = ln 4 - ln 3, label 0 costs ln 4
    z = np.array([[0.0, LN3], [0.0, LN3]])
    loss = softmax_cross_entropy(z, np.array([1, 0]))
    assert loss.shape == () and loss.dtype == np.float64
    np.testing.assert_allclose(loss, ((LN4 - LN3) + LN4) / 2, rtol=4 * EPS64)
    # vjp = g (softmax - onehot) / N with g = 2, N = 2: [[1/4, -1/4], [-3/4, 3/4]]
    d = softmax_cross_entropy_vjp(2.0, z, np.array([1, 0])).grad_x
    np.testing.assert_allclose(d, [[0.25, -0.25], [-0.75, 0.75]], rtol=4 * EPS64)
    # huge logits: log_softmax([1000, 0])[1] = -1000 exactly, so the loss is 1000 (and 0 for label 0)
    assert float(softmax_cross_entropy([[1000.0, 0.0]], [1])) == 1000.0
    assert float(softmax_cross_entropy([[1000.0, 0.0]], [0])) == 0.0
    assert not np.signbit(softmax_cross_entropy([[1000.0, 0.0]], [0]))  # +0.0, as torch (not -0.0)
    assert softmax_cross_entropy_vjp(1.0, [[1000.0, 0.0]], [1]).grad_x.tolist() == [[1.0, -1.0]]
    # one class: softmax is 1, the loss is 0 and so is the gradient
    loss = softmax_cross_entropy(np.array([[7.0], [-3.0]], np.float32), [0, 0])
    assert float(loss) == 0.0 and not np.signbit(loss) and loss.dtype == np.float32


def test_mse_loss_hand_values() -> None:
    # (0^2 + 2^2 + 3^2) / 3 = 13/3; vjp with g = 3: 2 * 3 / 3 * (p - t) = 2 * [0, 2, 3]
    p, t = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(mse_loss(p, t), 13 / 3, rtol=2 * EPS64)
    r = mse_loss_vjp(3.0, p, t)
    assert r.grad_pred.tolist() == [0.0, 4.0, 6.0]
    assert r.grad_target.tolist() == [-0.0, -4.0, -6.0]
    assert mse_loss(np.ones((2, 2)), np.zeros((2, 2))).tolist() == 1.0  # mean over all 4 elements
    with np.errstate(all="raise"):  # inf - inf is NaN, silently (IEEE), as torch
        assert math.isnan(float(mse_loss([np.inf], [np.inf])))
    # (1e200)**2 = 1e400 is beyond float64: an error naming the inputs, not a silent inf
    with pytest.raises(ValueError, match=r"mse_loss overflows float64.*pred"):
        mse_loss([1e200], [0.0])


def test_loss_dtypes() -> None:
    z32 = np.zeros((3, 4), np.float32)
    y = np.array([0, 1, 3], np.uint8)
    assert softmax_cross_entropy(z32, y).dtype == np.float32
    assert softmax_cross_entropy_vjp(np.float32(1), z32, y).grad_x.dtype == np.float32
    assert softmax(z32).dtype == np.float32 and log_softmax_vjp(z32, z32).grad_x.dtype == np.float32
    p32, t64 = np.ones(3, np.float32), np.zeros(3)
    assert mse_loss(p32, p32).dtype == np.float32 and mse_loss(p32, t64).dtype == np.float64
    r = mse_loss_vjp(1.0, p32, t64)
    assert r.grad_pred.dtype == np.float32 and r.grad_target.dtype == np.float64


# ------------------------------------------------------------------ properties

logit_values = st.floats(-30, 30, allow_nan=False)
logit_arrays = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=logit_values
)


@given(logit_arrays, st.data())
def test_cross_entropy_nonnegative_and_gradient_rows_sum_to_zero(z: np.ndarray, data: st.DataObject) -> None:
    n, c = z.shape
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    z0, y0 = z.copy(), y.copy()
    z.flags.writeable = y.flags.writeable = False
    loss = softmax_cross_entropy(z, y)
    assert loss.shape == () and float(loss) >= 0
    d = softmax_cross_entropy_vjp(1.0, z, y).grad_x
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=4 * EPS64)
    # linear in g
    np.testing.assert_allclose(softmax_cross_entropy_vjp(-2.5, z, y).grad_x, -2.5 * d, rtol=1e-15)
    # the mean of -log_softmax at the labels, and invariant to shifting each row
    np.testing.assert_allclose(loss, -log_softmax(z)[np.arange(n), y].mean(), rtol=1e-14, atol=1e-15)
    shift = np.arange(n)[:, None] * 7.0
    np.testing.assert_allclose(softmax_cross_entropy(z + shift, y), loss, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(y, y0)


@given(st.integers(1, 5), st.integers(1, 50), st.floats(-1e6, 1e6))
def test_cross_entropy_of_equal_logits_is_log_c(n: int, c: int, value: float) -> None:
    z = np.full((n, c), value)
    loss = softmax_cross_entropy(z, np.zeros(n, np.int64))
    np.testing.assert_allclose(loss, math.log(c), rtol=4 * EPS64, atol=4 * EPS64)


@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=logit_values),
    st.data(),
)
def test_softmax_sums_to_one_and_vjps_linear(z: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-z.ndim, z.ndim - 1))
    z0 = z.copy()
    z.flags.writeable = False
    y = softmax(z, axis)
    assert y.shape == z.shape and np.all((y >= 0) & (y <= 1))
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=z.shape[axis] * EPS64)
    ls = log_softmax(z, axis)
    assert np.all(ls <= 0)
    np.testing.assert_allclose(np.exp(ls), y, rtol=1e-13, atol=1e-300)
    rng = np.random.default_rng(3)
    g1, g2 = rng.standard_normal(z.shape), rng.standard_normal(z.shape)
    g1.flags.writeable = False
    for vjp in (softmax_vjp, log_softmax_vjp):
        d1, d2 = vjp(g1, z, axis).grad_x, vjp(g2, z, axis).grad_x
        np.testing.assert_allclose(vjp(3 * g1 + g2, z, axis).grad_x, 3 * d1 + d2, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(d1.sum(axis=axis), 0.0, atol=1e-13)  # shift invariance
    np.testing.assert_array_equal(z, z0)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=logit_values))
def test_mse_properties(p: np.ndarray) -> None:
    t = np.random.default_rng(4).standard_normal(p.shape)
    p0 = p.copy()
    p.flags.writeable = t.flags.writeable = False
    loss = mse_loss(p, t)
    assert loss.shape == () and float(loss) >= 0 and float(mse_loss(p, p)) == 0.0
    np.testing.assert_allclose(mse_loss(t, p), loss, rtol=0)  # symmetric
    r = mse_loss_vjp(1.0, p, t)
    assert r.grad_pred.shape == p.shape
    np.testing.assert_array_equal(r.grad_target, -r.grad_pred)
    np.testing.assert_allclose(mse_loss_vjp(-4.0, p, t).grad_pred, -4.0 * r.grad_pred, rtol=1e-15)
    np.testing.assert_array_equal(p, p0)


# ------------------------------------------------------------------ bad inputs


def test_cross_entropy_bad_labels() -> None:
    z = np.zeros((2, 3))
    with pytest.raises(
        TypeError, match="labels must be an integer array of class indices, got dtype float64"
    ):
        softmax_cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"labels must be an integer array.*bool"):
        softmax_cross_entropy_vjp(1.0, z, np.array([True, False]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\) for C = 3 classes, got \[3\]"):
        softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\).*got \[-1\]"):
        softmax_cross_entropy_vjp(1.0, z, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\)"):
        softmax_cross_entropy(z, np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(2,\)"):
        softmax_cross_entropy(z, np.array([0, 1, 2]))


def test_cross_entropy_bad_logits_and_cotangent() -> None:
    y = np.array([0])
    with pytest.raises(
        ValueError, match=r"logits must have shape \(N, C\) with N >= 1 and C >= 1, got shape \(3,\)"
    ):
        softmax_cross_entropy(np.zeros(3), y)
    with pytest.raises(ValueError, match=r"N >= 1 and C >= 1, got shape \(0, 3\)"):
        softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=r"logits must be finite, got \[nan\]"):
        softmax_cross_entropy([[0.0, np.nan]], y)
    with pytest.raises(ValueError, match=r"logits must be finite, got \[inf\]"):
        softmax([0.0, np.inf])
    with pytest.raises(TypeError, match="logits must be a real floating-point array"):
        softmax_cross_entropy(np.zeros((1, 2), complex), y)
    with pytest.raises(ValueError, match=r"g must have the shape of the loss \(a scalar\) \(\)"):
        softmax_cross_entropy_vjp(np.ones(1), np.zeros((1, 2)), y)


def test_softmax_and_mse_bad_inputs() -> None:
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        softmax(np.zeros((2, 2)), axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        log_softmax(np.zeros(2), axis=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="logits must have at least one dimension"):
        softmax(1.0)
    with pytest.raises(ValueError, match="logits must have at least one class along axis 1"):
        log_softmax(np.zeros((2, 0)), axis=1)
    with pytest.raises(ValueError, match=r"g must have the shape of logits \(2,\)"):
        softmax_vjp(np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"pred and target must have the same shape, got \(2,\) and \(3,\)"):
        mse_loss(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="pred must have at least one element"):
        mse_loss_vjp(1.0, np.ones(0), np.ones(0))
    with pytest.raises(TypeError, match="target must be a real"):
        mse_loss(np.ones(1), np.array(["a"]))
    with pytest.raises(ValueError, match=r"g must have the shape of the loss \(a scalar\)"):
        mse_loss_vjp(np.ones(2), np.ones(2), np.ones(2))
