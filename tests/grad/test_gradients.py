"""Straight-through estimators, LSQ/LSQ+, PACT, DoReFa and min-max normalization: their vjps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check.gradcheck import check_vjp, check_vjp_against
from refquant.grad.lsq import (
    lsq_fake_quantize,
    lsq_fake_quantize_vjp,
    lsq_grad_scale,
    lsq_plus_fake_quantize_vjp,
)
from refquant.grad.normalize import minmax_normalize, minmax_normalize_vjp
from refquant.grad.pact_dorefa import (
    dorefa_activation,
    dorefa_activation_vjp,
    dorefa_weight,
    dorefa_weight_vjp,
    pact,
    pact_vjp,
    quantize_k,
)
from refquant.grad.ste import clipped_ste_vjp, fake_quantize_vjp, ste_vjp

# ------------------------------------------------------------------ STE family


def test_ste_boundaries_hand_example() -> None:
    # s = 0.5, z = 0, codes [-2, 2]: grid ends at -1.0 and 1.0; the code mask passes
    # x/s < 2.5 (half-even: 2.5 -> 2 passes, 2.50001 -> 3 fails).
    x = np.array([-1.3, -1.25, -1.0, 1.0, 1.2, 1.25, 1.2500001])
    g = np.ones_like(x)
    code = fake_quantize_vjp(g, x, 0.5, 0, -2, 2).grad_x
    flt = fake_quantize_vjp(g, x, 0.5, 0, -2, 2, estimator="clipped_float").grad_x
    ident = fake_quantize_vjp(g, x, 0.5, 0, -2, 2, estimator="identity").grad_x
    assert code.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert flt.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert ident.tolist() == [1.0] * 7


def test_clipped_ste_inclusive_and_nan() -> None:
    x = np.array([-1.0, 1.0, np.nan, 1.0000001])
    assert clipped_ste_vjp(np.ones(4), x, -1.0, 1.0).grad_x.tolist() == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="lo must be <= hi"):
        clipped_ste_vjp(np.ones(4), x, 1.0, -1.0)
    # bounds must broadcast *to* x: a (2, 1) bound would otherwise make a (2, 4) gradient
    with pytest.raises(ValueError, match=r"lo must broadcast to x's shape \(4,\), got shape \(2, 1\)"):
        clipped_ste_vjp(np.ones(4), x, -np.ones((2, 1)), 1.0)
    with pytest.raises(ValueError, match=r"hi must broadcast to x's shape \(4,\), got shape \(3,\)"):
        clipped_ste_vjp(np.ones(4), x, -1.0, np.ones(3))
    # per-element bounds: [-1, 1], [0, 0.5], [-1, 1], [1, 2] -> x = -1, 1, nan, 1.0000001
    per_elem = clipped_ste_vjp(np.ones(4), x, [-1.0, 0.0, -1.0, 1.0], [1.0, 0.5, 1.0, 2.0]).grad_x
    assert per_elem.tolist() == [1.0, 0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="g must have the shape of x"):
        ste_vjp(np.ones(3), x)


def test_code_mask_uses_the_forward_rounding_and_op_order() -> None:
    # x/s = 2.5 exactly: half-even -> 2 (inside [.., 2]), half-away -> 3 (outside)
    x, g = np.array([1.25]), np.ones(1)
    assert fake_quantize_vjp(g, x, 0.5, 0, -2, 2).grad_x.tolist() == [1.0]
    assert fake_quantize_vjp(g, x, 0.5, 0, -2, 2, rounding="half_away").grad_x.tolist() == [0.0]


def test_fake_quantize_vjp_per_axis() -> None:
    x = np.array([[0.9, 1.1], [1.9, 2.1]])
    # channel 0 (s=1): codes 1, 1 inside [-1, 1]; channel 1 (s=2): 0.95 -> 1, 1.05 -> 1 inside
    out = fake_quantize_vjp(np.ones((2, 2)), x, [1.0, 2.0], [0, 0], -1, 1, axis=0, estimator="clipped_float")
    # float bounds: channel 0 [-1, 1] -> 0.9 in, 1.1 out; channel 1 [-2, 2] -> 1.9 in, 2.1 out
    assert out.grad_x.tolist() == [[1.0, 0.0], [1.0, 0.0]]


estimators = st.sampled_from(["identity", "clipped_float", "clipped_code"])
xs = hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-20, 20))


@given(xs, estimators, st.floats(0.05, 2.0), st.integers(-5, 5))
def test_ste_zero_exactly_where_defined_and_linear(x, estimator, s, z) -> None:
    rng = np.random.default_rng(0)
    g1, g2 = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    x.flags.writeable = False
    d = fake_quantize_vjp(g1, x, s, z, -8, 7, estimator=estimator).grad_x
    if estimator == "clipped_float":
        inside = (x >= (-8 - z) * s) & (x <= (7 - z) * s)
    elif estimator == "clipped_code":
        code = np.rint(x / s) + z
        inside = (code >= -8) & (code <= 7)
    else:
        inside = np.ones(x.shape, bool)
    assert np.array_equal(d, np.where(inside, g1, 0.0))
    # linear in the cotangent
    lin = fake_quantize_vjp(2 * g1 - 3 * g2, x, s, z, -8, 7, estimator=estimator).grad_x
    both = 2 * d - 3 * fake_quantize_vjp(g2, x, s, z, -8, 7, estimator=estimator).grad_x
    np.testing.assert_allclose(lin, both, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ LSQ / LSQ+


def _lsq_reference(g, x, s, qmin, qmax, beta=0.0):
    """LSQ eq. 3 and LSQ+ eqs. 4-5 written element by element."""
    dx, ds, db = np.zeros_like(x), 0.0, 0.0
    for i, xi in enumerate(x.ravel()):
        v = (xi - beta) / s
        if qmin < v < qmax:
            dx.ravel()[i] = g.ravel()[i]
            ds += g.ravel()[i] * (-v + np.round(v))
        else:
            ds += g.ravel()[i] * (qmin if v <= qmin else qmax)
            db += g.ravel()[i]
    return dx, ds, db


def test_lsq_matches_the_paper_formula_element_by_element() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, 500)
    x[:4] = [-4 * 0.5, 3 * 0.5, 0.25, 0.75]  # exactly at -Q_N s, Q_P s, and ties
    g = rng.standard_normal(500)
    dx, ds, _ = _lsq_reference(g, x, 0.5, -4, 3)
    r = lsq_fake_quantize_vjp(g, x, 0.5, -4, 3, grad_scale=1.0)
    assert np.array_equal(r.grad_x, dx)
    assert float(r.grad_step) == pytest.approx(ds, rel=1e-12)
    # v = -4 and v = 3 exactly count as clipped (strict inequalities in the paper)
    assert r.grad_x[:2].tolist() == [0.0, 0.0]
    # the default gradient scale is 1 / sqrt(N Q_P)
    scaled = lsq_fake_quantize_vjp(g, x, 0.5, -4, 3)
    assert float(scaled.grad_step) == pytest.approx(ds / np.sqrt(500 * 3), rel=1e-12)
    assert lsq_grad_scale(500, 3) == 1 / np.sqrt(1500)


def test_lsq_plus_offset_gradient() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 1.5, 300)
    g = rng.standard_normal(300)
    dx, ds, db = _lsq_reference(g, x, 0.25, 0, 15, beta=-0.3)
    r = lsq_plus_fake_quantize_vjp(g, x, 0.25, -0.3, 0, 15, grad_scale=1.0)
    assert np.array_equal(r.grad_x, dx)
    assert float(r.grad_step) == pytest.approx(ds, rel=1e-12)
    assert float(r.grad_offset) == pytest.approx(db, rel=1e-12)


def test_lsq_forward_and_vjp_are_an_ste_of_the_forward() -> None:
    """Inside the range, the step gradient is d/ds of s * R(x/s) with R' = 1 (checked numerically)."""
    x = np.array([0.3, -0.7, 1.1])
    s, h = 0.5, 1e-7
    # surrogate: s * (v + stop(R(v) - v)), v = x / s: derivative R(v) - v
    r_minus_v = np.round(x / s) - x / s
    surrogate = lambda s_: np.sum(s_ * (x / s_ + r_minus_v))  # noqa: E731
    numeric = (surrogate(s + h) - surrogate(s - h)) / (2 * h)
    assert float(lsq_fake_quantize_vjp(np.ones(3), x, s, -4, 3, grad_scale=1.0).grad_step) == pytest.approx(
        numeric, abs=1e-6
    )
    assert lsq_fake_quantize(x, s, -4, 3).tolist() == [0.5, -0.5, 1.0]


def test_lsq_bad_arguments() -> None:
    with pytest.raises(ValueError, match="step must be finite and > 0"):
        lsq_fake_quantize([1.0], 0.0, -4, 3)
    with pytest.raises(ValueError, match="n and quant_max must be >= 1"):
        lsq_grad_scale(10, 0)


# ------------------------------------------------------------------ PACT / DoReFa


def test_pact_partitions_the_gradient() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, 1000)
    x[:3] = [0.0, 2.0, -0.0]
    g = rng.integers(-5, 6, 1000).astype(float)  # integers: the sums are exact
    r = pact_vjp(g, x, 2.0, 4)
    below = x < 0
    assert np.sum(r.grad_x) + float(r.grad_alpha) + np.sum(g[below]) == np.sum(g)
    assert r.grad_x[:3].tolist() == [g[0], 0.0, g[2]]  # x = 0 passes, x = alpha goes to alpha
    y = pact(x, 2.0, 4)
    assert y.min() == 0.0 and y.max() == 2.0 and np.allclose(y * 7.5, np.round(y * 7.5))


def test_dorefa_weight_vjp_is_the_exact_vjp_of_the_ste_surrogate() -> None:
    """With quantize_k replaced by the identity, w_q = tanh(w) / max|tanh(w)|: a smooth function."""
    rng = np.random.default_rng(4)
    w = rng.normal(0, 1, (4, 5))

    def surrogate(w_):
        t = np.tanh(w_)
        return t / np.max(np.abs(t))

    check_vjp(surrogate, lambda g, w_: dorefa_weight_vjp(g, w_, 3), (w,))
    check_vjp(
        lambda w_: np.tanh(w_) / np.max(np.abs(np.tanh(w))),  # max held constant
        lambda g, w_: dorefa_weight_vjp(g, w_, 3, through_max=False),
        (w,),
    )


def test_dorefa_forward_values() -> None:
    w = np.array([-2.0, 0.0, 0.5, 2.0])
    q = dorefa_weight(w, 2)
    assert np.allclose(q, [-1, 1 / 3, 1 / 3, 1])  # levels of 2 bits: -1, -1/3, 1/3, 1
    assert dorefa_weight(w, 1).tolist() == [-1.125, 1.125, 1.125, 1.125]  # sign(0) = 1, mean|w| = 1.125
    assert dorefa_weight(w, 32).tolist() == w.tolist()
    assert quantize_k([0.5], 1).tolist() == [0.0]  # half to even
    assert dorefa_activation([0.5, 0.51], 1).tolist() == [0.0, 1.0]
    assert dorefa_activation_vjp([1.0, 1.0, 1.0], [0.0, 1.0, 1.0001], 4).tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match=r"bits must be in \[1, 32\]"):
        quantize_k([0.5], 0)
    # bits is validated before the k = 1 and k = 32 shortcuts (True == 1, 32.0 == 32)
    with pytest.raises(TypeError, match="bits must be an int"):
        dorefa_weight(w, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bits must be an int"):
        dorefa_weight(w, 32.0)  # type: ignore[arg-type]


def test_dorefa_weight_undefined_normalization_raises() -> None:
    # max|tanh(w)| = 0 for an all-zero w (and NaN with a NaN): tanh(w) / max|tanh(w)| is 0 / 0
    for w in ([0.0, 0.0, -0.0], [1.0, np.nan]):
        with pytest.raises(
            ValueError, match=r"w must not be all zero or hold NaN .* max\|tanh\(w\)\| = (0\.0|nan)"
        ):
            dorefa_weight(w, 2)
        with pytest.raises(ValueError, match="w must not be all zero"):
            dorefa_weight_vjp([1.0] * len(w), w, 4)
    # k = 1 is defined for zeros: sign(0) = 1 times mean|w| = 0
    assert dorefa_weight([0.0, 0.0], 1).tolist() == [0.0, 0.0]


def test_dorefa_max_ties_share_the_gradient() -> None:
    w = np.array([1.0, -1.0, 0.3])  # |tanh| tied at the max
    g = np.array([0.0, 0.0, 1.0])
    d = dorefa_weight_vjp(g, w, 2)
    t, m = np.tanh(w), np.tanh(1.0)
    # dL/dM = -sum(2 g t) / (2 M^2) = -t_2 / M^2, split 1/2 each with sign(t)
    dm = -t[2] / m**2
    assert d[0] == pytest.approx(0.5 * dm * (1 - t[0] ** 2), rel=1e-12)
    assert d[1] == pytest.approx(-0.5 * dm * (1 - t[1] ** 2), rel=1e-12)


# ------------------------------------------------------------------ min-max normalization


def test_minmax_normalize_exact_gradient_passes_check_vjp() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (5, 5))  # distinct values: min and max are unique, f is smooth there
    result = check_vjp(minmax_normalize, minmax_normalize_vjp, (x,))  # raises on a wrong gradient
    # every Jacobian element was compared (25 x 25), within central differences' ~1e-10 accuracy
    assert result.arguments[0].full_jacobian and result.max_rel_error < 1e-7


def test_seed_quantizer_backward_fails_check_vjp() -> None:
    """The seed's backward, grad * (max - min), is wrong; so is 1/(max - min) alone."""
    x = np.random.default_rng(6).normal(0, 1, (5, 5))

    def seed_vjp(g, x_):
        return g * (x_.max() - x_.min())

    with pytest.raises(AssertionError, match="argument 0"):
        check_vjp(minmax_normalize, seed_vjp, (x,))
    with pytest.raises(AssertionError):
        check_vjp(minmax_normalize, lambda g, x_: minmax_normalize_vjp(g, x_, through_range=False), (x,))


def test_minmax_through_range_false_is_exact_when_range_is_constant() -> None:
    x = np.random.default_rng(7).normal(0, 1, 10)
    lo, hi = x.min(), x.max()
    check_vjp(
        lambda x_: (x_ - lo) / (hi - lo),
        lambda g, x_: minmax_normalize_vjp(g, x, through_range=False),
        (x,),
    )


@given(hnp.arrays(np.float64, st.integers(2, 30), elements=st.integers(-5, 5).map(float)))
def test_minmax_gradient_sums_to_zero_and_is_shift_invariant(x) -> None:
    if x.min() == x.max():
        with pytest.raises(ValueError, match="constant"):
            minmax_normalize(x)
        return
    g = np.random.default_rng(0).standard_normal(x.shape)
    d = minmax_normalize_vjp(g, x).grad_x
    assert abs(np.sum(d)) <= 1e-9 * (1 + np.abs(g).sum() / (x.max() - x.min()))
    np.testing.assert_allclose(minmax_normalize(x + 3.0), minmax_normalize(x), atol=1e-12)


def test_check_vjp_against_for_the_ste() -> None:
    x = np.linspace(-3, 3, 61)
    check_vjp_against(
        lambda g, x_: fake_quantize_vjp(g, x_, 0.25, 0, -8, 7, estimator="clipped_float"),
        lambda g, x_: clipped_ste_vjp(g, x_, -2.0, 1.75),
        (x,),
        rtol=0,
        atol=0,
    )


def test_lsq_per_channel_equals_per_tensor_channel_by_channel() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, (3, 50))
    g = rng.standard_normal((3, 50))
    steps = np.array([0.1, 0.3, 0.05])
    y = lsq_fake_quantize(x, steps, -8, 7, axis=0)
    r = lsq_fake_quantize_vjp(g, x, steps, -8, 7, axis=0)
    for c in range(3):
        assert np.array_equal(y[c], lsq_fake_quantize(x[c], steps[c], -8, 7))
        rc = lsq_fake_quantize_vjp(g[c], x[c], steps[c], -8, 7)  # default scale 1/sqrt(50 * 7) both
        assert np.array_equal(r.grad_x[c], rc.grad_x)
        assert r.grad_step[c] == pytest.approx(float(rc.grad_step), rel=1e-12)
    with pytest.raises(ValueError, match=r"step must have shape \(3,\)"):
        lsq_fake_quantize(x, steps[:2], -8, 7, axis=0)


def test_lsq_nan_and_grad_scale_policy() -> None:
    with pytest.raises(ValueError, match="x contains NaN"):
        lsq_fake_quantize_vjp([1.0, 1.0], [0.1, np.nan], 0.5, -4, 3)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="grad_scale must be finite and > 0"):
            lsq_fake_quantize_vjp([1.0], [0.1], 0.5, -4, 3, grad_scale=bad)
    with pytest.raises(TypeError, match="must be ints"):
        lsq_grad_scale(10.5, 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x contains NaN"):  # the forward rejects what the vjp rejects
        lsq_fake_quantize([np.nan], 0.5, -4, 3)
