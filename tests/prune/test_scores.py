"""refquant.prune.scores: magnitude, SNIP, Taylor (2017, 2019), movement, Wanda, OBD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.nn.layers import tanh_vjp
from refquant.nn.losses import mse_loss, softmax_cross_entropy, softmax_cross_entropy_vjp
from refquant.nn.mlp import init_mlp, mlp_backward, mlp_forward
from refquant.prune.masks import unstructured_mask
from refquant.prune.scores import (
    linear_mse_hessian_diag,
    magnitude_score,
    movement_score,
    obd_saliency,
    snip_score,
    snip_scores,
    taylor_activation_score,
    taylor_neuron_score,
    wanda_score,
)

EPS64 = float(np.finfo(np.float64).eps)


def ro(a) -> np.ndarray:
    """A read-only copy: any in-place write by the code under test raises."""
    a = np.array(a)
    a.flags.writeable = False
    return a


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)


SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)


def arrays(shape=SHAPES, elements=finite):
    return hnp.arrays(np.float64, shape, elements=elements)


# ------------------------------------------------------------------ magnitude


def test_magnitude_hand_values_and_dtype() -> None:
    w = ro(np.array([[-3.0, 0.5], [-0.0, 2.0]], dtype=np.float32))
    s = magnitude_score(w)
    assert s.dtype == np.float32 and s.shape == (2, 2)
    assert s.tolist() == [[3.0, 0.5], [0.0, 2.0]]
    assert not np.signbit(s[1, 0])  # |-0.0| = +0.0
    assert np.isnan(magnitude_score([np.nan, 1.0])[0])  # NaN propagates
    assert magnitude_score([1, -2]).dtype == np.float64  # integers promoted


# ------------------------------------------------------------------ SNIP


def test_snip_hand_values() -> None:
    # |g*w| = [|2*0.5|, |-1*1|, |0.5*-4|] = [1, 1, 2]; sum 4
    assert snip_score(ro([2.0, -1.0, 0.5]), ro([0.5, 1.0, -4.0])).tolist() == [0.25, 0.25, 0.5]
    # two tensors normalized together: |g*w| = [3, 2] and [[3]], sum 8
    s = snip_scores([ro([1.0, -2.0]), ro([[4.0]])], [ro([3.0, 1.0]), ro([[-0.75]])])
    assert [x.tolist() for x in s] == [[0.375, 0.25], [[0.375]]]


def test_snip_keeps_float32() -> None:
    s = snip_score(np.array([1.0, 3.0], np.float32), np.array([1.0, 1.0], np.float32))
    assert s.dtype == np.float32 and s.tolist() == [0.25, 0.75]


@pytest.mark.parametrize(
    ("w", "g", "match"),
    [
        ([0.0, 1.0], [1.0, 0.0], "0 / 0"),
        ([np.nan, 1.0], [1.0, 1.0], "finite"),
        ([1.0, 1.0], [np.inf, 1.0], "finite"),
        ([1.0, 1.0], [1.0], "shape"),
    ],
)
def test_snip_errors(w, g, match) -> None:
    with pytest.raises(ValueError, match=match):
        snip_score(w, g)


def test_snip_scores_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same length"):
        snip_scores([[1.0]], [])
    with pytest.raises(ValueError, match="at least one"):
        snip_scores([], [])


@given(st.data())
def test_snip_properties(data) -> None:
    ws, gs = [], []
    for _ in range(data.draw(st.integers(1, 3))):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
        ws.append(ro(data.draw(arrays(shape))))
        gs.append(ro(data.draw(arrays(shape))))
    total = sum(float(np.sum(np.abs(g * w))) for w, g in zip(ws, gs, strict=True))
    if all(np.all((w == 0) | (g == 0)) for w, g in zip(ws, gs, strict=True)):  # every exact g * w is 0
        with pytest.raises(ValueError, match="0 / 0"):
            snip_scores(ws, gs)
        return
    s = snip_scores(ws, gs)
    if total == 0.0:  # the plain products underflow, the scaled ones do not: still a distribution
        assert abs(sum(float(np.sum(x)) for x in s) - 1.0) <= 4 * sum(w.size for w in ws) * EPS64
        return
    n = sum(w.size for w in ws)
    assert all(x.shape == w.shape and x.dtype == np.float64 for x, w in zip(s, ws, strict=True))
    assert all(np.all(x >= 0) for x in s)
    assert abs(sum(float(np.sum(x)) for x in s) - 1.0) <= 4 * n * EPS64
    for x, w, g in zip(s, ws, gs, strict=True):  # proportional to |g w|
        np.testing.assert_allclose(x * total, np.abs(g * w), rtol=4 * EPS64, atol=4 * n * EPS64 * total)
    again = snip_scores(ws, gs)
    assert all(np.array_equal(a, b) for a, b in zip(s, again, strict=True))


# ------------------------------------------------------------------ Taylor 2017 (activations)

# a and dL/da of shape (N=2, C=2, M=2): products a*g
#   n0: c0 [1, -2], c1 [0, 0];  n1: c0 [3, -1], c1 [-2, 1]
A = [[[1.0, 2.0], [0.0, 1.0]], [[3.0, -1.0], [2.0, 2.0]]]
G = [[[1.0, -1.0], [4.0, 0.0]], [[1.0, 1.0], [-1.0, 0.5]]]


def test_taylor_activation_hand_values() -> None:
    a, g = ro(A), ro(G)
    # per example: c0 (|-0.5| + |1|) / 2 = 0.75; c1 (|0| + |-0.5|) / 2 = 0.25
    assert taylor_activation_score(a, g).tolist() == [0.75, 0.25]
    # abs of the batch mean: c0 |(1 - 2 + 3 - 1) / 4| = 0.25; c1 |(0 + 0 - 2 + 1) / 4| = 0.25
    assert taylor_activation_score(a, g, reduction="abs_of_mean").tolist() == [0.25, 0.25]
    # mean of abs: c0 (1 + 2 + 3 + 1) / 4 = 1.75; c1 (0 + 0 + 2 + 1) / 4 = 0.75
    assert taylor_activation_score(a, g, reduction="mean_of_abs").tolist() == [1.75, 0.75]
    # L2-normalized per layer: [0.75, 0.25] / sqrt(0.625) = [3, 1] / sqrt(10)
    np.testing.assert_allclose(
        taylor_activation_score(a, g, normalize=True), [3 / np.sqrt(10), 1 / np.sqrt(10)], rtol=1e-15
    )
    assert taylor_activation_score(np.zeros((2, 3)), np.ones((2, 3)), normalize=True).tolist() == [0.0] * 3


def test_taylor_activation_axis_and_mlp_case() -> None:
    rng = np.random.default_rng(0)
    a, g = rng.standard_normal((4, 3, 5, 2)), rng.standard_normal((4, 3, 5, 2))
    ref = taylor_activation_score(a, g, axis=1)
    assert ref.shape == (3,)
    np.testing.assert_array_equal(
        taylor_activation_score(np.moveaxis(a, 1, -1), np.moveaxis(g, 1, -1), axis=-1), ref
    )
    # an MLP layer (N, units) has no positions: per_example == mean_of_abs
    a2, g2 = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    np.testing.assert_array_equal(
        taylor_activation_score(a2, g2), taylor_activation_score(a2, g2, reduction="mean_of_abs")
    )


def test_taylor_activation_relu_pre_and_post_activation_agree() -> None:
    # for ReLU, a * dL/da == z * dL/dz elementwise, so the score is the same on z
    rng = np.random.default_rng(1)
    z = rng.standard_normal((8, 5))
    a = np.maximum(z, 0.0)
    g_a = rng.standard_normal((8, 5))
    g_z = g_a * (z > 0)
    np.testing.assert_array_equal(taylor_activation_score(a, g_a), taylor_activation_score(z, g_z))


@pytest.mark.parametrize(
    ("kwargs", "a", "err"),
    [
        ({}, np.ones(3), ValueError),
        ({"axis": 0}, np.ones((2, 3)), ValueError),
        ({"axis": 2}, np.ones((2, 3)), ValueError),
        ({"reduction": "mean"}, np.ones((2, 3)), ValueError),
        ({}, np.ones((0, 3)), ValueError),
        ({"axis": 1.0}, np.ones((2, 3)), TypeError),
    ],
)
def test_taylor_activation_errors(kwargs, a, err) -> None:
    with pytest.raises(err):
        taylor_activation_score(a, a, **kwargs)


# ------------------------------------------------------------------ Taylor 2019 (parameter groups)


def test_taylor_neuron_hand_values() -> None:
    w, gw = ro([[1.0, 2.0], [3.0, -1.0]]), ro([[0.5, -1.0], [1.0, 2.0]])
    b, gb = ro([1.0, 0.0]), ro([4.0, 5.0])
    # row 0: 0.5 - 2 + 1 * 4 = 2.5 -> 6.25; row 1: 3 - 2 + 0 * 5 = 1 -> 1
    assert taylor_neuron_score(w, gw, b, gb).tolist() == [6.25, 1.0]
    # without the bias: (0.5 - 2)**2 = 2.25, (3 - 2)**2 = 1
    assert taylor_neuron_score(w, gw).tolist() == [2.25, 1.0]
    # sum of squares with the bias: 0.25 + 4 + 16, 9 + 4 + 0
    assert taylor_neuron_score(w, gw, b, gb, reduction="sum_of_squares").tolist() == [20.25, 13.0]
    # conv weights (out, in, kh, kw): the group is everything in w[j]
    wc = np.ones((2, 1, 2, 2))
    gc = np.arange(8.0).reshape(2, 1, 2, 2)  # row sums 6 and 22
    assert taylor_neuron_score(wc, gc).tolist() == [36.0, 484.0]


def test_taylor_neuron_errors() -> None:
    with pytest.raises(ValueError, match="both"):
        taylor_neuron_score([[1.0]], [[1.0]], [1.0])
    with pytest.raises(ValueError, match="shape"):
        taylor_neuron_score([[1.0, 2.0]], [[1.0]])
    with pytest.raises(ValueError, match="b must have shape"):
        taylor_neuron_score([[1.0]], [[1.0]], [1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="reduction"):
        taylor_neuron_score([[1.0]], [[1.0]], reduction="sum")


@given(arrays(hnp.array_shapes(min_dims=2, max_dims=3, max_side=4)), st.integers(0, 2**32 - 1))
def test_taylor_neuron_properties(w, seed) -> None:
    g = np.random.default_rng(seed).standard_normal(w.shape)
    sq = taylor_neuron_score(ro(w), ro(g))
    ss = taylor_neuron_score(ro(w), ro(g), reduction="sum_of_squares")
    assert sq.shape == ss.shape == (w.shape[0],)
    assert np.all(sq >= 0) and np.all(ss >= 0)
    group = w[0].size  # Cauchy-Schwarz: (sum of n terms)**2 <= n * sum of squares
    assert np.all(sq <= group * ss * (1 + 1e-12) + 1e-300)


def _mlp_problem():
    rng = np.random.default_rng(7)
    params = init_mlp([4, 5, 3], rng=rng, dtype=np.float64)
    params = [(w, rng.standard_normal(b.shape) * 0.3) for w, b in params]
    x = rng.standard_normal((16, 4))
    y = rng.integers(0, 3, 16)
    return params, x, y


def _loss(params, x, y) -> float:
    return float(softmax_cross_entropy(mlp_forward(params, x, activation="tanh")[0], y))


@pytest.mark.parametrize("layer", [0, 1])
def test_taylor_neuron_is_the_squared_first_order_change_of_the_loss(layer: int) -> None:
    params, x, y = _mlp_problem()
    logits, cache = mlp_forward(params, x, activation="tanh")
    g_logits = softmax_cross_entropy_vjp(1.0, logits, y).grad_x
    grads = mlp_backward(params, cache, g_logits, activation="tanh").params
    w, b = params[layer]
    score = taylor_neuron_score(w, grads[layer][0], b, grads[layer][1])
    assert score.shape == (w.shape[0],)
    # first-order change of L when neuron j's group (w[j], b[j]) is scaled by (1 - eps):
    # dL/deps = -sum_s g_s w_s, by central differences of the real loss
    h = 1e-5
    for j in range(w.shape[0]):

        def loss_at(eps: float, j: int = j) -> float:
            p = [(wi.copy(), bi.copy()) for wi, bi in params]
            p[layer][0][j] *= 1 - eps
            p[layer][1][j] *= 1 - eps
            return _loss(p, x, y)

        slope = (loss_at(h) - loss_at(-h)) / (2 * h)
        np.testing.assert_allclose(score[j], slope**2, rtol=1e-6, atol=1e-14)
    # the gate formulation: (sum_n dL/dz_nj * z_nj)**2, z = the pre-activation of the layer
    dz = g_logits if layer == 1 else tanh_vjp(g_logits @ params[1][0], cache.pre[0]).grad_x
    gate = np.sum(dz * cache.pre[layer], axis=0)
    np.testing.assert_allclose(score, gate**2, rtol=1e-12, atol=1e-300)


# ------------------------------------------------------------------ movement


def test_movement_hand_values() -> None:
    # step 1: -(w * g) = -[2 * -1, -1 * -3] = [2, -3]
    s1 = movement_score(ro([2.0, -1.0]), ro([-1.0, -3.0]))
    assert s1.tolist() == [2.0, -3.0]
    # step 2: [2, -3] - [0.5 * 4, -2 * 1] = [0, -1]
    s2 = movement_score(ro([0.5, -2.0]), ro([4.0, 1.0]), ro(s1))
    assert s2.tolist() == [0.0, -1.0]
    # lr scales the step: -0.5 * (2 * -1) = 1
    assert movement_score([2.0], [-1.0], lr=0.5).tolist() == [1.0]


@given(
    st.lists(
        st.tuples(
            hnp.arrays(np.float64, 4, elements=st.integers(-64, 64).map(float)),
            hnp.arrays(np.float64, 4, elements=st.integers(-64, 64).map(float)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_movement_accumulates_minus_sum_of_w_times_g(steps) -> None:
    s = None
    for w, g in steps:
        s = movement_score(ro(w), ro(g), None if s is None else ro(s))
    expected = -sum(w * g for w, g in steps)  # small integers: every sum is exact
    np.testing.assert_array_equal(s, expected)


def test_movement_errors() -> None:
    with pytest.raises(ValueError, match="lr"):
        movement_score([1.0], [1.0], lr=0.0)
    with pytest.raises(TypeError, match="lr"):
        movement_score([1.0], [1.0], lr=True)
    with pytest.raises(ValueError, match="score"):
        movement_score([1.0], [1.0], [1.0, 2.0])


# ------------------------------------------------------------------ Wanda


def test_wanda_hand_values() -> None:
    x = ro([[3.0, 0.0, 1.0], [4.0, 1.0, 0.0]])  # column norms 5, 1, 1
    w = ro([[1.0, -4.0, 0.5], [-0.5, 6.0, 2.0]])
    assert wanda_score(w, x).tolist() == [[5.0, 4.0, 0.5], [2.5, 6.0, 2.0]]
    # tokens along several leading axes are flattened
    assert wanda_score(w, np.asarray(x).reshape(1, 2, 3)).tolist() == [[5.0, 4.0, 0.5], [2.5, 6.0, 2.0]]


def test_wanda_per_row_selection_matches_the_official_sort() -> None:
    # lib/prune.py: stable ascending sort of each row, first int(in * s) indices pruned
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((6, 10)), rng.standard_normal((32, 10))
    s = wanda_score(w, x)
    for sparsity in (0.0, 0.25, 0.5, 0.55, 0.9):
        pruned = np.argsort(s, axis=1, kind="stable")[:, : int(10 * sparsity)]
        expected = np.ones_like(w, dtype=bool)
        np.put_along_axis(expected, pruned, False, axis=1)
        got = unstructured_mask(w, sparsity, scores=s, axis=1, count_rule="floor")
        np.testing.assert_array_equal(got, expected)


@given(
    arrays(
        hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), st.integers(-1000, 1000).map(lambda v: v / 8)
    ),
    st.integers(-8, 8),
)
def test_wanda_properties(w, e) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, w.shape[1]))
    s = wanda_score(ro(w), ro(x))
    assert s.shape == w.shape and np.all(s >= 0)
    # scaling the calibration inputs by a power of two scales every score exactly
    np.testing.assert_array_equal(wanda_score(w, x * 2.0**e), s * 2.0**e)


def test_wanda_errors() -> None:
    with pytest.raises(ValueError, match="w must"):
        wanda_score([1.0, 2.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="x must"):
        wanda_score([[1.0, 2.0]], [[1.0, 2.0, 3.0]])


# ------------------------------------------------------------------ OBD


def test_obd_hand_values() -> None:
    # 0.5 * h * w**2: 0.5 * 0.5 * 4, 0.5 * 4 * 1, 0
    assert obd_saliency(ro([2.0, -1.0, 3.0]), ro([0.5, 4.0, 0.0])).tolist() == [1.0, 2.0, 0.0]
    # x = [[1, 2], [3, 0]]: sum x**2 per column [10, 4]; mean: 2 * [10, 4] / (N=2 * out=3)
    h = linear_mse_hessian_diag(ro([[1.0, 2.0], [3.0, 0.0]]), 3)
    np.testing.assert_allclose(h, [[20 / 6, 8 / 6]] * 3, rtol=1e-15)
    assert linear_mse_hessian_diag([[1.0, 2.0], [3.0, 0.0]], 3, reduction="sum").tolist() == [[20.0, 8.0]] * 3
    with pytest.raises(ValueError, match="shape"):
        obd_saliency([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="out_features"):
        linear_mse_hessian_diag([[1.0]], 0)
    with pytest.raises(TypeError, match="out_features"):
        linear_mse_hessian_diag([[1.0]], 2.0)


def _mse(x, w, b, t) -> float:
    return float(mse_loss(x @ w.T + b, t))


def test_linear_mse_hessian_diag_matches_second_differences() -> None:
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((12, 3)), rng.standard_normal((12, 2))
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    h = linear_mse_hessian_diag(x, 2)
    step = 0.5  # the loss is quadratic: second differences are exact up to rounding
    for i in range(2):
        for j in range(3):
            e = np.zeros_like(w)
            e[i, j] = step
            d2 = (_mse(x, w + e, b, t) - 2 * _mse(x, w, b, t) + _mse(x, w - e, b, t)) / step**2
            np.testing.assert_allclose(h[i, j], d2, rtol=1e-9)


def test_obd_saliency_is_the_exact_loss_increase_at_the_least_squares_optimum() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3))
    t = x @ rng.standard_normal((3, 2)) + 0.3 * rng.standard_normal((40, 2))
    sol = np.linalg.lstsq(np.hstack([x, np.ones((40, 1))]), t, rcond=None)[0]
    w, b = sol[:3].T.copy(), sol[3].copy()  # the optimum: every gradient is 0
    s = obd_saliency(w, linear_mse_hessian_diag(x, 2))
    base = _mse(x, w, b, t)
    for i in range(2):
        for j in range(3):
            w0 = w.copy()
            w0[i, j] = 0.0
            np.testing.assert_allclose(_mse(x, w0, b, t) - base, s[i, j], rtol=1e-8)


# ------------------------------------------------------------------ inputs untouched, determinism


def test_every_score_leaves_read_only_inputs_alone_and_is_deterministic() -> None:
    rng = np.random.default_rng(6)
    w, g = ro(rng.standard_normal((3, 4))), ro(rng.standard_normal((3, 4)))
    b, gb = ro(rng.standard_normal(3)), ro(rng.standard_normal(3))
    a, ga = ro(rng.standard_normal((5, 3))), ro(rng.standard_normal((5, 3)))
    x = ro(rng.standard_normal((9, 4)))
    calls = [
        lambda: magnitude_score(w),
        lambda: snip_score(w, g),
        lambda: taylor_activation_score(a, ga, normalize=True),
        lambda: taylor_neuron_score(w, g, b, gb),
        lambda: movement_score(w, g, g),
        lambda: wanda_score(w, x),
        lambda: obd_saliency(w, g),
        lambda: linear_mse_hessian_diag(x, 3),
    ]
    for call in calls:
        first, second = call(), call()
        assert first.flags.writeable
        np.testing.assert_array_equal(first, second)
