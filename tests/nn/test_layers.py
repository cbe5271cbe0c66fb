"""refquant.nn.layers: linear and the activations, forward and vjp."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check.gradcheck import check_vjp, check_vjp_against
from refquant.nn.layers import (
    gelu,
    gelu_vjp,
    leaky_relu,
    leaky_relu_vjp,
    linear,
    linear_vjp,
    relu,
    relu_vjp,
    sigmoid,
    sigmoid_vjp,
    tanh,
    tanh_vjp,
)

EPS64 = float(np.finfo(np.float64).eps)

# (forward, vjp, extra positional arguments) for every elementwise activation
ACTIVATIONS = {
    "relu": (relu, relu_vjp, ()),
    "leaky_relu": (leaky_relu, leaky_relu_vjp, ()),
    "leaky_relu_0.2": (leaky_relu, leaky_relu_vjp, (0.2,)),
    "sigmoid": (sigmoid, sigmoid_vjp, ()),
    "tanh": (tanh, tanh_vjp, ()),
    "gelu": (gelu, gelu_vjp, ("none",)),
    "gelu_tanh": (gelu, gelu_vjp, ("tanh",)),
}
SMOOTH = ["sigmoid", "tanh", "gelu", "gelu_tanh"]


def _away_from_zero(x: np.ndarray, gap: float = 0.1) -> np.ndarray:
    return np.where(x >= 0, x + gap, x - gap)


# ------------------------------------------------------------------ gradients vs central differences


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 3), (0, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_vjp_central_differences(shape: tuple[int, ...], with_bias: bool) -> None:
    rng = np.random.default_rng(len(shape))
    x, w, b = rng.standard_normal(shape), rng.standard_normal((2, 3)), rng.standard_normal(2)
    if with_bias:
        check_vjp(linear, linear_vjp, (x, w, b))
    else:
        check_vjp(linear, lambda g, x, w: linear_vjp(g, x, w)[:2], (x, w))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_vjp_central_differences(name: str) -> None:
    f, f_vjp, extra = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    x = 3 * rng.standard_normal((5, 7))
    if name.startswith(("relu", "leaky")):
        x = _away_from_zero(x)  # finite differences are meaningless across the kink
    check_vjp(f, f_vjp, (x, *extra), argnums=0)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_vjp_central_differences_in_the_tails(name: str) -> None:
    f, f_vjp, extra = ACTIVATIONS[name]
    x = np.array([-12.0, -9.0, -6.0, -4.0, 4.0, 6.0, 9.0, 12.0])
    check_vjp(f, f_vjp, (x, *extra), argnums=0, atol=1e-14)


# ------------------------------------------------------------------ hand-computed examples


def test_linear_hand_example() -> None:
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5]])
    b = np.array([0.5, -1.0])
    # row 0: 1 - 3 + 0.5 = -1.5;  2 + 2 + 1.5 - 1 = 4.5
    # row 1: 0 + 0 - 1 + 0.5 = -0.5;  0 - 1 + 0.5 - 1 = -1.5
    assert linear(x, w, b).tolist() == [[-1.5, 4.5], [-0.5, -1.5]]
    assert linear(x, w).tolist() == [[-2.0, 5.5], [-1.0, -0.5]]
    g = np.array([[1.0, 0.0], [2.0, -1.0]])
    r = linear_vjp(g, x, w, b)
    # grad_x = g @ w: [1, 0, -1]; [2 - 2, 0 - 1, -2 - 0.5]
    assert r.grad_x.tolist() == [[1.0, 0.0, -1.0], [0.0, -1.0, -2.5]]
    # grad_w = g.T @ x: [1*x0 + 2*x1] = [1, 0, 5]; [-x1] = [0, 1, -1]
    assert r.grad_w.tolist() == [[1.0, 0.0, 5.0], [0.0, 1.0, -1.0]]
    assert r.grad_b is not None and r.grad_b.tolist() == [3.0, -1.0]  # column sums of g
    assert linear_vjp(g, x, w).grad_b is None


def test_linear_leading_dims_and_vector() -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    y = linear(x, w, b)
    assert y.shape == (2, 4, 5)
    np.testing.assert_allclose(y[1, 2], linear(x[1, 2], w, b), rtol=1e-15)  # the (in,) case
    g = rng.standard_normal((2, 4, 5))
    r = linear_vjp(g, x, w, b)
    flat = linear_vjp(g.reshape(8, 5), x.reshape(8, 3), w, b)
    np.testing.assert_allclose(r.grad_w, flat.grad_w, rtol=1e-14)
    np.testing.assert_allclose(r.grad_x.reshape(8, 3), flat.grad_x, rtol=1e-14)
    empty = linear_vjp(np.zeros((0, 5)), np.zeros((0, 3)), w, b)
    assert empty.grad_w.tolist() == np.zeros((5, 3)).tolist() and empty.grad_b is not None
    assert empty.grad_b.tolist() == [0.0] * 5


def test_linear_dtypes() -> None:
    x32, w32 = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    assert linear(x32, w32).dtype == np.float32
    assert linear(x32, w32, np.zeros(4, np.float32)).dtype == np.float32
    assert linear(x32, w32.astype(np.float64)).dtype == np.float64  # promoted
    r = linear_vjp(np.ones((2, 4)), x32, w32.astype(np.float64), np.zeros(4, np.float32))
    assert r.grad_x.dtype == np.float32 and r.grad_w.dtype == np.float64
    assert r.grad_b is not None and r.grad_b.dtype == np.float32
    assert linear([[1, 2]], [[3, 4]]).tolist() == [[11.0]]  # integers count as float64


def test_relu_kink_and_signed_zero() -> None:
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    y = relu(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 1e-300, 3.0]
    assert np.signbit(y).tolist() == [False, True, False, False, False]  # relu(-0.0) = -0.0 (as torch)
    # relu'(±0) = 0 by definition (PyTorch's choice); 1 just above 0
    assert relu_vjp(np.full(5, -3.0), x).grad_x.tolist() == [0.0, 0.0, 0.0, -3.0, -3.0]


def test_leaky_relu_kink() -> None:
    x = np.array([-4.0, -0.0, 0.0, 2.0])
    y = leaky_relu(x, 0.25)
    assert y.tolist() == [-1.0, 0.0, 0.0, 2.0]  # -4 * 0.25 = -1
    assert np.signbit(y).tolist() == [True, True, False, False]
    # leaky_relu'(±0) = negative_slope (the left slope, as torch)
    assert leaky_relu_vjp(np.full(4, 2.0), x, 0.25).grad_x.tolist() == [0.5, 0.5, 0.5, 2.0]
    assert leaky_relu_vjp(np.ones(1), np.zeros(1)).grad_x.tolist() == [0.01]  # default slope
    # the slope is cast to x's dtype: float32(0.01) * 1
    assert leaky_relu(np.array([-1.0], np.float32)).tolist() == [float(np.float32(0.01)) * -1]


def test_relu_family_nan_policy() -> None:
    x = np.array([np.nan])
    assert np.isnan(relu(x)).all() and np.isnan(leaky_relu(x)).all()
    assert relu_vjp(np.array([5.0]), x).grad_x.tolist() == [5.0]  # g passes: not (NaN <= 0)
    assert leaky_relu_vjp(np.array([5.0]), x, 0.5).grad_x.tolist() == [2.5]  # not (NaN > 0)


def test_sigmoid_hand_values() -> None:
    # sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4, sigmoid'(ln 3) = 3/4 * 1/4 = 3/16
    x = np.array([0.0, math.log(3.0), -math.log(3.0)])
    np.testing.assert_allclose(sigmoid(x), [0.5, 0.75, 0.25], rtol=4 * EPS64)
    np.testing.assert_allclose(sigmoid_vjp(np.ones(3), x).grad_x, [0.25, 0.1875, 0.1875], rtol=4 * EPS64)
    # tails: sigmoid(-40) = e^-40 / (1 + e^-40) and sigmoid'(±40) = e^-40 / (1 + e^-40)^2, to a few ulps
    e = math.exp(-40.0)
    np.testing.assert_allclose(sigmoid(np.array([-40.0])), [e / (1 + e)], rtol=4 * EPS64)
    d = sigmoid_vjp(np.ones(2), np.array([40.0, -40.0])).grad_x
    np.testing.assert_allclose(d, [e / (1 + e) ** 2] * 2, rtol=4 * EPS64)  # torch's y(1-y) gives 0 at +40
    assert sigmoid(np.array([np.inf, -np.inf])).tolist() == [1.0, 0.0]
    assert sigmoid_vjp(np.ones(2), np.array([np.inf, -np.inf])).grad_x.tolist() == [0.0, 0.0]


def test_tanh_hand_values() -> None:
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 0.6, so tanh'(ln 2) = 1 - 0.36 = 0.64
    x = np.array([0.0, math.log(2.0), -math.log(2.0)])
    np.testing.assert_allclose(tanh(x), [0.0, 0.6, -0.6], rtol=4 * EPS64)
    np.testing.assert_allclose(tanh_vjp(np.ones(3), x).grad_x, [1.0, 0.64, 0.64], rtol=4 * EPS64)
    # tanh'(30) = sech^2(30) = 4 e^-60 / (1 + e^-60)^2 (1 - tanh^2 rounds to 0 there)
    e = math.exp(-60.0)
    np.testing.assert_allclose(tanh_vjp(np.ones(1), np.array([30.0])).grad_x, [4 * e], rtol=4 * EPS64)
    assert tanh_vjp(np.ones(2), np.array([np.inf, -np.inf])).grad_x.tolist() == [0.0, 0.0]


def test_gelu_exact_hand_values() -> None:
    # Phi(1) = 0.8413447460685429, phi(1) = exp(-1/2) / sqrt(2 pi) = 0.24197072451914337 (tables)
    phi1, pdf1 = 0.8413447460685429, 0.24197072451914337
    x = np.array([0.0, 1.0, -1.0])
    # gelu(1) = Phi(1); gelu(-1) = -Phi(-1) = -(1 - Phi(1))
    np.testing.assert_allclose(gelu(x), [0.0, phi1, -(1 - phi1)], rtol=4 * EPS64)
    # gelu'(0) = Phi(0) = 1/2; gelu'(±1) = Phi(±1) ± phi(1)
    np.testing.assert_allclose(
        gelu_vjp(np.ones(3), x).grad_x, [0.5, phi1 + pdf1, (1 - phi1) - pdf1], rtol=8 * EPS64
    )
    # left tail: gelu(-10) = -10 Phi(-10) = -10 * 7.619853024160527e-24 (erfc keeps it; 1 + erf gives 0)
    np.testing.assert_allclose(gelu(np.array([-10.0])), [-7.619853024160527e-23], rtol=1e-13)


def test_gelu_tanh_hand_values() -> None:
    # torch's formula, written out: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    k = math.sqrt(2 / math.pi)

    def ref(v: float) -> float:
        return 0.5 * v * (1 + math.tanh(k * (v + 0.044715 * v**3)))

    def dref(v: float) -> float:
        t = math.tanh(k * (v + 0.044715 * v**3))
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v)

    xs = [0.0, 0.5, 1.0, -1.0, 2.0, -2.0]
    np.testing.assert_allclose(gelu(np.array(xs), "tanh"), [ref(v) for v in xs], rtol=1e-14, atol=1e-300)
    got = gelu_vjp(np.ones(6), np.array(xs), "tanh").grad_x
    np.testing.assert_allclose(got, [dref(v) for v in xs], rtol=1e-14)
    assert got[0] == 0.5  # 0.5 (1 + tanh 0) + 0
    assert gelu(np.array([1.0]), "tanh").round(6).tolist() == [0.841192]  # the published value


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_infinities_and_nan(approximate: str) -> None:
    x = np.array([np.inf, -np.inf, 1e300, -1e300, np.nan])
    y = gelu(x, approximate)  # type: ignore[arg-type]
    assert y[:4].tolist() == [np.inf, 0.0, 1e300, 0.0] and np.signbit(y[1]) and np.isnan(y[4])
    d = gelu_vjp(np.ones(5), x, approximate).grad_x  # type: ignore[arg-type]
    assert d[:4].tolist() == [1.0, 0.0, 1.0, 0.0] and np.isnan(d[4])  # the limits, not inf * 0


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_activation_dtypes(name: str, dtype: type) -> None:
    f, f_vjp, extra = ACTIVATIONS[name]
    x: np.ndarray = np.linspace(-3, 3, 13).astype(dtype)
    y = f(x, *extra)
    assert y.dtype == dtype and y.shape == x.shape
    assert f_vjp(np.ones_like(x), x, *extra).grad_x.dtype == dtype
    np.testing.assert_allclose(y, f(x.astype(np.float64), *extra), rtol=2e-3 if dtype == np.float16 else 1e-6)
    assert f([1, 2], *extra).dtype == np.float64  # integers count as float64


def test_relu_vjp_against_definition() -> None:
    x = np.array([-1.0, -0.0, 0.0, 0.5, 2.0])
    check_vjp_against(relu_vjp, lambda g, x: g * (x > 0), (x,), rtol=0, atol=0)
    check_vjp_against(
        leaky_relu_vjp, lambda g, x, a: np.where(x > 0, g, a * g), (x, 0.3), argnums=0, rtol=0, atol=0
    )


# ------------------------------------------------------------------ properties

finite = st.floats(-50, 50, allow_nan=False, width=64)
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite)


@given(arrays, st.sampled_from(list(ACTIVATIONS)), st.floats(-3, 3), st.floats(-3, 3))
def test_activation_vjp_linear_in_g_and_inputs_untouched(
    x: np.ndarray, name: str, a: float, b: float
) -> None:
    f, f_vjp, extra = ACTIVATIONS[name]
    rng = np.random.default_rng(0)
    g1, g2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    x0 = x.copy()
    for arr in (x, g1, g2):
        arr.flags.writeable = False  # an in-place write would raise
    y = f(x, *extra)
    assert y.shape == x.shape and y.dtype == np.float64
    d1, d2 = f_vjp(g1, x, *extra).grad_x, f_vjp(g2, x, *extra).grad_x
    d12 = f_vjp(a * g1 + b * g2, x, *extra).grad_x
    np.testing.assert_allclose(d12, a * d1 + b * d2, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x0)


@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=finite),
    st.integers(1, 4),
    st.booleans(),
)
def test_linear_shapes_linearity_and_inputs_untouched(x: np.ndarray, out: int, with_bias: bool) -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((out, x.shape[-1]))
    b = rng.standard_normal(out) if with_bias else None
    g1 = rng.standard_normal((*x.shape[:-1], out))
    g2 = rng.standard_normal(g1.shape)
    copies = [a.copy() for a in (x, w, g1)]
    for arr in (x, w, g1, g2, *(() if b is None else (b,))):
        arr.flags.writeable = False
    assert linear(x, w, b).shape == g1.shape
    r1, r2, r12 = (linear_vjp(gg, x, w, b) for gg in (g1, g2, 2 * g1 - g2))
    assert r1.grad_x.shape == x.shape and r1.grad_w.shape == w.shape
    np.testing.assert_allclose(r12.grad_x, 2 * r1.grad_x - r2.grad_x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(r12.grad_w, 2 * r1.grad_w - r2.grad_w, rtol=1e-12, atol=1e-10)
    if b is not None:
        assert r1.grad_b is not None and r1.grad_b.shape == b.shape
    for arr, c in zip((x, w, g1), copies, strict=True):
        np.testing.assert_array_equal(arr, c)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e4, 1e4)))
def test_sigmoid_range_and_no_floating_point_errors(x: np.ndarray) -> None:
    # underflow (exp(-1e4) = 0) is benign and allowed; overflow, invalid and divide are not
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = sigmoid(x)
        d = sigmoid_vjp(np.ones_like(x), x).grad_x
        tanh_vjp(np.ones_like(x), x)
        gelu_vjp(np.ones_like(x), x, "tanh")
        gelu_vjp(np.ones_like(x), x)
    # sigmoid' <= 1/4, attained at 0; rounding may put it an ulp above near x = 0 (e.g. x = 2**-52)
    assert np.all((y >= 0) & (y <= 1)) and np.all((d >= 0) & (d <= 0.25 * (1 + 4 * EPS64)))
    inner = np.abs(x) < 36  # sigmoid(36) < 1 and sigmoid(-36) > 0 still in float64
    assert np.all((y[inner] > 0) & (y[inner] < 1))
    np.testing.assert_allclose(y + sigmoid(-x), 1.0, rtol=2 * EPS64)


@given(hnp.arrays(np.float64, st.integers(1, 30), elements=finite))
def test_activation_identities(x: np.ndarray) -> None:
    assert np.all(relu(x) >= 0)
    np.testing.assert_array_equal(relu(x) - relu(-x), x)  # exact: one side is 0
    np.testing.assert_array_equal(np.where(x > 0, leaky_relu(x, 0.5), 0), relu(x))
    for approximate in ("none", "tanh"):
        # Phi(x) + Phi(-x) = 1 and sigma(2u) + sigma(-2u) = 1, so gelu(x) - gelu(-x) = x
        diff = gelu(x, approximate) - gelu(-x, approximate)
        np.testing.assert_allclose(diff, x, rtol=4 * EPS64, atol=1e-300)
    np.testing.assert_allclose(tanh_vjp(np.ones_like(x), x).grad_x, 1 - np.tanh(x) ** 2, atol=4 * EPS64)


# ------------------------------------------------------------------ bad inputs


def test_linear_bad_inputs() -> None:
    x, w = np.ones((2, 3)), np.ones((4, 3))
    with pytest.raises(ValueError, match=r"w must have shape \(out_features, in_features\)"):
        linear(x, np.ones(3))
    with pytest.raises(ValueError, match="x has 2 features"):
        linear(np.ones((2, 2)), w)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., in_features\)"):
        linear(1.0, w)
    with pytest.raises(ValueError, match=r"b must have shape \(out_features,\) = \(4,\)"):
        linear(x, w, np.ones(3))
    with pytest.raises(ValueError, match=r"g must have the shape of linear\(x, w, b\) \(2, 4\)"):
        linear_vjp(np.ones((2, 3)), x, w)
    with pytest.raises(TypeError, match="w must be a real floating-point array"):
        linear(x, w.astype(complex))
    with pytest.raises(TypeError, match="g must be a real"):
        linear_vjp(np.ones((2, 4), complex), x, w)


def test_activation_bad_inputs() -> None:
    with pytest.raises(TypeError, match="x must be a real floating-point array"):
        relu(np.array(["a"]))
    with pytest.raises(ValueError, match=r"g must have the shape of x \(3,\)"):
        sigmoid_vjp(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="negative_slope must be a real number, got 'a'"):
        leaky_relu(np.ones(2), "a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="negative_slope must be a real number, got True"):
        leaky_relu_vjp(np.ones(2), np.ones(2), True)
    with pytest.raises(ValueError, match="negative_slope must be finite, got nan"):
        leaky_relu(np.ones(2), float("nan"))
    with pytest.raises(ValueError, match="approximate must be one of"):
        gelu(np.ones(2), "erf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"approximate must be one of .* got 'Tanh'"):
        gelu_vjp(np.ones(2), np.ones(2), "Tanh")  # type: ignore[arg-type]


def test_linear_vjp_with_zero_features() -> None:
    # a layer whose inputs (or outputs) were all removed: the gradients are empty or zero, not an error
    r = linear_vjp(np.ones((3, 2)), np.ones((3, 0)), np.ones((2, 0)), np.zeros(2))
    assert r.grad_x.shape == (3, 0) and r.grad_w.shape == (2, 0)
    assert r.grad_b is not None and r.grad_b.tolist() == [3.0, 3.0]  # column sums of g
    r = linear_vjp(np.ones((3, 0)), np.ones((3, 4)), np.ones((0, 4)), np.zeros(0))
    assert r.grad_x.tolist() == [[0.0] * 4] * 3 and r.grad_w.shape == (0, 4)
