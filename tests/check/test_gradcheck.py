"""refquant.check.gradcheck: correct vjps pass, wrong ones fail naming the argument."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check import GradcheckResult, check_vjp, check_vjp_against

Array = Any


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def _rel_error(message: str, label: str) -> float:
    """The relative error reported for ``label`` in a failure report."""
    m = re.search(re.escape(label) + r": relative error (\S+)", message)
    assert m is not None, message
    return float(m.group(1).rstrip(";"))


# --------------------------------------------------------------------------- functions under test


def linear(x: Array, W: Array, b: Array) -> Array:
    return x @ W.T + b


class LinearGrads(NamedTuple):
    x: Array
    W: Array
    b: Array


def linear_vjp(g: Array, x: Array, W: Array, b: Array) -> LinearGrads:
    return LinearGrads(g @ W, g.T @ x, g.sum(axis=0))


def tanh(x: Array) -> Array:
    return np.tanh(x)


def tanh_vjp(g: Array, x: Array) -> Array:
    return g * (1 - np.tanh(x) ** 2)


def softmax(x: Array) -> Array:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_vjp(g: Array, x: Array) -> tuple[Array]:
    s = softmax(x)
    return (s * (g - (g * s).sum(axis=-1, keepdims=True)),)


def sum_of_squares(x: Array) -> Array:
    return np.sum(x**2)


def sum_of_squares_vjp(g: Array, x: Array) -> Array:
    return 2 * g * x


def x_sin_x(x: Array) -> Array:
    return x * np.sin(x)


def x_sin_x_vjp(g: Array, x: Array) -> Array:
    return g * (np.sin(x) + x * np.cos(x))


def product(x: Array, y: Array) -> Array:
    return x * y**2


def product_vjp(g: Array, x: Array, y: Array) -> tuple[Array, Array]:
    return g * y**2, 2 * g * x * y


@pytest.fixture
def linear_args() -> tuple[Array, Array, Array]:
    rng = _rng(7)
    return rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=5)


# --------------------------------------------------------------------------- correct vjps pass


def test_linear_map_all_three_arguments(linear_args: tuple[Array, Array, Array]) -> None:
    result = check_vjp(linear, linear_vjp, linear_args)
    assert isinstance(result, GradcheckResult)
    assert [(a.position, a.name) for a in result.arguments] == [(0, "x"), (1, "W"), (2, "b")]
    assert all(a.full_jacobian for a in result.arguments)
    assert result.max_rel_error < 1e-6
    assert all(a.max_error_ratio <= 1 for a in result.arguments)
    text = str(result)
    assert "argument 1 ('W')" in text and "max relative error" in text


@pytest.mark.parametrize(
    ("f", "f_vjp", "shape"),
    [(tanh, tanh_vjp, (3, 4)), (softmax, softmax_vjp, (2, 5)), (sum_of_squares, sum_of_squares_vjp, (6,))],
)
def test_smooth_functions_pass(f: Any, f_vjp: Any, shape: tuple[int, ...]) -> None:
    result = check_vjp(f, f_vjp, (_rng().normal(size=shape),))
    assert result.max_rel_error < 1e-7


def test_scalar_output_and_scalar_input() -> None:
    # f returns a 0-d value; the argument is a Python float.
    result = check_vjp(lambda x: np.sin(x) * x, lambda g, x: g * (np.cos(x) * x + np.sin(x)), (0.7,))
    assert result.arguments[0].n_compared == 3 + 1  # 3 directions + the 1 x 1 Jacobian


def test_argnums_selects_the_differentiable_argument() -> None:
    rng = _rng()
    x, W = rng.normal(size=(3, 2)), rng.normal(size=(4, 2))

    def f(x: Array, W: Array, mode: str, k: int) -> Array:
        assert mode == "tanh" and k == 3  # non-array arguments pass through untouched
        return np.tanh(x @ W.T) * k

    def f_vjp(g: Array, x: Array, W: Array, mode: str, k: int) -> Array:
        d = g * k * (1 - np.tanh(x @ W.T) ** 2)
        return d.T @ x  # only W's gradient, as a bare array

    result = check_vjp(f, f_vjp, (x, W, "tanh", 3), argnums=1)
    assert [a.label for a in result.arguments] == ["argument 1 ('W')"]
    # a negative position names the same argument
    assert check_vjp(f, f_vjp, (x, W, "tanh", 3), argnums=(-3,)).arguments[0].position == 1


def test_argnums_reorders_gradients() -> None:
    x, y = _rng().normal(size=(2, 3))
    check_vjp(product, lambda g, x, y: product_vjp(g, x, y)[::-1], (x, y), argnums=(1, 0))


def test_large_output_uses_random_cotangent_rows() -> None:
    # 100 outputs > jacobian_max_size: J^T g is compared element by element for each random g.
    W = _rng().normal(size=(100, 4))
    result = check_vjp(
        lambda x: np.tanh(W @ x), lambda g, x: W.T @ (g * (1 - np.tanh(W @ x) ** 2)), (np.ones(4),)
    )
    assert result.arguments[0].full_jacobian
    assert result.arguments[0].n_compared == 3 + 3 * 4
    # and with the Jacobian check off only the directions remain
    off = check_vjp(lambda x: W @ x, lambda g, x: W.T @ g, (np.ones(4),), jacobian_max_size=0)
    assert off.arguments[0].n_compared == 3 and not off.arguments[0].full_jacobian


def test_large_values_small_derivatives_do_not_fail_for_round_off() -> None:
    # f = 1e6 + 1e-3 x: the central difference has round-off ~1e-10 * 1e6 / 1e-3 relative.
    check_vjp(lambda x: 1e6 + 1e-3 * x, lambda g, x: 1e-3 * g, (_rng().normal(size=50),))


# --------------------------------------------------------------------------- wrong vjps fail


def test_transposed_W_gradient_caught_by_shape_check(linear_args: tuple[Array, Array, Array]) -> None:
    def wrong(g: Array, x: Array, W: Array, b: Array) -> tuple[Array, Array, Array]:
        return g @ W, x.T @ g, g.sum(axis=0)  # (3, 5) instead of (5, 3)

    with pytest.raises(AssertionError, match=r"gradient of argument 1 \('W'\).*shape \(3, 5\)"):
        check_vjp(linear, wrong, linear_args)


def test_transposed_square_W_caught_by_values() -> None:
    rng = _rng(3)
    x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)
    assert not np.allclose(W, W.T)

    def wrong(g: Array, x: Array, W: Array, b: Array) -> tuple[Array, Array, Array]:
        return g @ W.T, g.T @ x, g.sum(axis=0)  # x's gradient with W transposed

    with pytest.raises(AssertionError) as info:
        check_vjp(linear, wrong, (x, W, b))
    msg = str(info.value)
    assert "argument 0 ('x')" in msg and "'W'" not in msg.split("\n")[0] and "'b'" not in msg
    assert "eps=1e-06" in msg and "expected" in msg and "got" in msg
    assert re.search(r"worst d out\[\d, \d\] / d x\[\d, \d\]", msg)


def test_missing_product_rule_term() -> None:
    def wrong(g: Array, x: Array) -> Array:
        return g * x * np.cos(x)  # sin(x) term dropped

    with pytest.raises(AssertionError, match=r"argument 0 \('x'\)"):
        check_vjp(x_sin_x, wrong, (_rng().normal(size=(2, 3)),))


def test_wrong_sign() -> None:
    with pytest.raises(AssertionError) as info:
        check_vjp(tanh, lambda g, x: -tanh_vjp(g, x), (_rng().normal(size=(3, 4)),))
    # the relative error of a flipped sign is 2 on every Jacobian element
    assert _rel_error(str(info.value), "argument 0 ('x')") == pytest.approx(2.0, rel=1e-6)


def test_factor_of_two_reports_relative_error_one() -> None:
    with pytest.raises(AssertionError) as info:
        check_vjp(sum_of_squares, lambda g, x: g * x, (_rng().normal(size=5),))
    msg = str(info.value)
    assert "relative error" in msg
    assert _rel_error(msg, "argument 0 ('x')") == pytest.approx(0.5, rel=1e-6)  # |x - 2x| / |2x|


def test_only_the_broken_argument_is_named(linear_args: tuple[Array, Array, Array]) -> None:
    def wrong(g: Array, x: Array, W: Array, b: Array) -> tuple[Array, Array, Array]:
        return g @ W, 2 * g.T @ x, g.sum(axis=0)

    with pytest.raises(AssertionError) as info:
        check_vjp(linear, wrong, linear_args)
    msg = str(info.value)
    assert msg.startswith(
        "check_vjp: f_vjp disagrees with central differences of f for argument 1 ('W') (1 of 3"
    )
    assert "'x'" not in msg and "'b'" not in msg


def test_gradients_in_the_wrong_order() -> None:
    x, y = _rng().normal(size=(2, 3))
    with pytest.raises(AssertionError) as info:
        check_vjp(product, lambda g, x, y: product_vjp(g, x, y)[::-1], (x, y))
    assert "argument 0 ('x'), argument 1 ('y') (2 of 2" in str(info.value)


def test_gradients_in_the_wrong_order_with_different_shapes(linear_args: tuple[Array, Array, Array]) -> None:
    def wrong(g: Array, x: Array, W: Array, b: Array) -> tuple[Array, Array, Array]:
        gx, gW, gb = linear_vjp(g, x, W, b)
        return gW, gx, gb

    with pytest.raises(
        AssertionError, match=r"gradient of argument 0 \('x'\).*shape \(5, 3\), expected .* \(4, 3\)"
    ):
        check_vjp(linear, wrong, linear_args)


def test_unnamed_arguments_are_reported_by_position() -> None:
    with pytest.raises(AssertionError, match=r"for argument 0 \(1 of 1") as info:
        check_vjp(lambda *a: np.tanh(a[0]), lambda g, *a: -g, (np.ones(3),))
    msg = str(info.value)
    assert "argument 0: relative error" in msg and "f(args[0] + eps*u)" in msg and "/ d args[0][" in msg


def test_wrong_count_of_gradients() -> None:
    with pytest.raises(AssertionError, match=r"returned 1 gradient\(s\), argnums=\(0, 1\)"):
        check_vjp(product, lambda g, x, y: (g * y**2,), (np.ones(2), np.ones(2)), argnums=(0, 1))
    with pytest.raises(AssertionError, match="returned 3 gradients for 2 positional arguments"):
        check_vjp(product, lambda g, x, y: (g, g, g), (np.ones(2), np.ones(2)))
    with pytest.raises(AssertionError, match=r"returned None as the gradient of argument 1 \('y'\)"):
        check_vjp(product, lambda g, x, y: (g * y**2, None), (np.ones(2), np.ones(2)))


def test_nan_gradient_fails() -> None:
    with pytest.raises(AssertionError, match="got nan"):
        check_vjp(tanh, lambda g, x: np.full_like(x, np.nan), (np.ones(3),))


def test_forward_must_return_one_float64_array() -> None:
    with pytest.raises(AssertionError, match="f returned float32 values for float64 inputs"):
        check_vjp(lambda x: np.tanh(x).astype(np.float32), tanh_vjp, (np.ones(3),))
    with pytest.raises(AssertionError, match="f must return one array, got a tuple"):
        check_vjp(lambda x: (x, x), tanh_vjp, (np.ones(3),))


def test_in_place_modification_is_reported() -> None:
    def f(x: Array) -> Array:
        x *= 2
        return x

    with pytest.raises(AssertionError, match=r"f modified argument 0 \('x'\) in place"):
        check_vjp(f, lambda g, x: 2 * g, (np.ones(3),))

    def g_vjp(g: Array, x: Array) -> Array:
        g *= 2
        return g

    with pytest.raises(AssertionError, match="modified the cotangent g in place"):
        check_vjp(lambda x: 2 * x, g_vjp, (np.ones(3),))


# --------------------------------------------------------------------------- inputs, determinism


def test_inputs_untouched_and_float64() -> None:
    rng = _rng()
    x = rng.normal(size=(3, 2)).astype(np.float32)
    W = rng.normal(size=(4, 2))
    x.setflags(write=False)
    W.setflags(write=False)
    x0, W0 = x.copy(), W.copy()
    seen: list[np.dtype[Any]] = []

    def f(x: Array, W: Array) -> Array:
        seen.append(x.dtype)
        return np.tanh(x @ W.T)

    def f_vjp(g: Array, x: Array, W: Array) -> tuple[Array, Array]:
        d = g * (1 - np.tanh(x @ W.T) ** 2)
        return d @ W, d.T @ x

    check_vjp(f, f_vjp, (x, W))
    check_vjp_against(f_vjp, f_vjp, (x, W), f=f)
    assert np.array_equal(x, x0) and np.array_equal(W, W0)
    assert x.dtype == np.float32 and not x.flags.writeable and not W.flags.writeable
    assert seen[0] == np.float64  # check_vjp works in float64 ...
    assert seen[-1] == np.float32  # ... check_vjp_against keeps the caller's dtype


def test_deterministic() -> None:
    x = _rng().normal(size=(3, 3))
    # directions only (the full Jacobian does not depend on the rng)
    a = check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0)
    b = check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0)
    assert a == b  # default rng: a fresh default_rng(0) each call
    c = check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0, rng=np.random.default_rng(5))
    d = check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0, rng=np.random.default_rng(5))
    assert c == d and c != a
    rng = np.random.default_rng(5)  # a Generator passed in is consumed: the next call draws anew
    first = check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0, rng=rng)
    assert first == c and check_vjp(softmax, softmax_vjp, (x,), jacobian_max_size=0, rng=rng) != c


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ["eps", "rtol", "atol"])
@pytest.mark.parametrize("value", [0.0, -1e-6, np.nan, np.inf])
def test_bad_tolerances(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be finite and > 0, got {value!r}"):
        check_vjp(tanh, tanh_vjp, (np.ones(2),), **{name: value})


def test_bad_arguments() -> None:
    args = (np.ones(2),)
    with pytest.raises(TypeError, match="eps must be a real number, got '1e-6'"):
        check_vjp(tanh, tanh_vjp, args, eps="1e-6")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator.*got 42"):
        check_vjp(tanh, tanh_vjp, args, rng=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"argnums=3: position 3 is out of range for 1 positional"):
        check_vjp(tanh, tanh_vjp, args, argnums=3)
    with pytest.raises(ValueError, match="argnums must not repeat"):
        check_vjp(product, product_vjp, (np.ones(2), np.ones(2)), argnums=(0, -2))
    with pytest.raises(TypeError, match="argnums must hold ints"):
        check_vjp(tanh, tanh_vjp, args, argnums=(True,))
    with pytest.raises(TypeError, match=r"args must be a tuple.*got ndarray"):
        check_vjp(tanh, tanh_vjp, np.ones(2))
    with pytest.raises(ValueError, match="n_directions must be >= 1, got 0"):
        check_vjp(tanh, tanh_vjp, args, n_directions=0)
    with pytest.raises(TypeError, match="f_vjp must be callable"):
        check_vjp(tanh, None, args)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"argument 0 \('x'\) is differentiated .* dtype int64"):
        check_vjp(tanh, tanh_vjp, (np.arange(3),))
    with pytest.raises(ValueError, match="rtol must be finite and >= 0, got -1"):
        check_vjp_against(tanh_vjp, tanh_vjp, args, rtol=-1)


# --------------------------------------------------------------------------- check_vjp_against


def ste_vjp(g: Array, x: Array, lo: float, hi: float) -> Array:
    return g


def clipped_ste_vjp(g: Array, x: Array, lo: float, hi: float) -> Array:
    return g * ((x >= lo) & (x <= hi))


def test_against_identical_vjps_pass_exactly() -> None:
    x = _rng().normal(size=(3, 4))
    result = check_vjp_against(clipped_ste_vjp, clipped_ste_vjp, (x, -1.0, 1.0), rtol=0, atol=0)
    assert result.method == "reference" and result.eps is None
    assert result.max_rel_error == 0.0 and result.arguments[0].n_compared == 2 * 12
    # inside the clip range STE and clipped STE agree
    check_vjp_against(ste_vjp, clipped_ste_vjp, (np.clip(x, -1, 1), -1.0, 1.0), rtol=0, atol=0)


def test_against_ste_vs_clipped_ste_outside_the_range() -> None:
    x = np.array([[-3.0, 0.5], [0.25, 2.0]])
    with pytest.raises(AssertionError) as info:
        check_vjp_against(ste_vjp, clipped_ste_vjp, (x, -1.0, 1.0))
    msg = str(info.value)
    assert msg.startswith("check_vjp_against: f_vjp disagrees with reference_vjp for argument 0 ('x')")
    assert "relative error inf" in msg and "4 of 8 elements differ" in msg
    assert re.search(
        r"worst at x\[(0, 0|1, 1)\] with cotangent \d of 2: expected 0\.0 \(reference_vjp\)", msg
    )


def test_against_exact_comparison_sees_one_ulp() -> None:
    x = np.array([0.5, 1.5, -2.0])
    g = np.array([1.0, 1.0, 1.0])

    def off_by_one_ulp(g: Array, x: Array) -> Array:
        out = 2 * g * x
        out[1] = np.nextafter(out[1], np.inf)
        return out

    def exact(g: Array, x: Array) -> Array:
        return 2 * g * x

    check_vjp_against(off_by_one_ulp, exact, (x,), cotangent=g)  # within rtol=1e-7
    with pytest.raises(AssertionError, match=r"exact comparison.*\n.*1 of 3 elements differ") as info:
        check_vjp_against(off_by_one_ulp, exact, (x,), cotangent=g, rtol=0, atol=0)
    assert "expected 3.0 (reference_vjp), got 3.0000000000000004 (f_vjp)" in str(info.value)


def test_against_nan_matches_nan_and_float32_kept() -> None:
    x = np.array([np.nan, 1.0], dtype=np.float32)

    def vjp(g: Array, x: Array) -> Array:
        assert g.dtype == np.float32 and x.dtype == np.float32
        return g * x

    check_vjp_against(vjp, vjp, (x,), rtol=0, atol=0)


def test_against_output_shape_from_f() -> None:
    W = _rng().normal(size=(5, 3))
    x = _rng(2).normal(size=3)

    def vjp(g: Array, x: Array) -> Array:
        assert g.shape == (5,)
        return W.T @ g

    check_vjp_against(vjp, vjp, (x,), f=lambda x: W @ x)
    check_vjp_against(vjp, vjp, (x,), cotangent=np.ones(5))
    with pytest.raises(ValueError, match=r"cotangent has shape \(4,\) but f\(\*args\) has shape \(5,\)"):
        check_vjp_against(vjp, vjp, (x,), cotangent=np.ones(4), f=lambda x: W @ x)


def test_against_shape_and_count_mismatch() -> None:
    x = np.ones(3)
    with pytest.raises(AssertionError, match=r"f_vjp: the gradient of argument 0 \('x'\).*shape \(1, 3\)"):
        check_vjp_against(lambda g, x: g[None], lambda g, x: g, (x,))
    with pytest.raises(AssertionError, match=r"f_vjp returned 2 gradient\(s\), argnums=\(0,\)"):
        check_vjp_against(lambda g, x: (g, g), lambda g, x: g, (x,))


def test_against_deterministic() -> None:
    x = _rng().normal(size=6)
    a = check_vjp_against(ste_vjp, ste_vjp, (x, -1.0, 1.0), rng=np.random.default_rng(3))
    b = check_vjp_against(ste_vjp, ste_vjp, (x, -1.0, 1.0), rng=np.random.default_rng(3))
    assert a == b


# --------------------------------------------------------------------------- property


@settings(deadline=None)
@given(
    data=st.data(),
    m=st.integers(1, 6),
    n=st.integers(1, 6),
)
def test_exact_vjp_of_tanh_Wx_always_passes(data: st.DataObject, m: int, n: int) -> None:
    elements = st.floats(-2.0, 2.0, allow_subnormal=False)
    W = data.draw(hnp.arrays(np.float64, (m, n), elements=elements), label="W")
    x = data.draw(hnp.arrays(np.float64, (n,), elements=elements), label="x")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")

    def f(W: Array, x: Array) -> Array:
        return np.tanh(W @ x)

    def f_vjp(g: Array, W: Array, x: Array) -> tuple[Array, Array]:
        d = g * (1 - np.tanh(W @ x) ** 2)
        return np.outer(d, x), W.T @ d

    result = check_vjp(f, f_vjp, (W, x), rng=np.random.default_rng(seed))
    assert all(a.max_error_ratio <= 1 for a in result.arguments)
