"""SGD, Adam and AdamW as pure steps: hand-computed steps, properties, validation."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant._exact import fma_float64
from refquant.nn import optim
from refquant.nn.optim import (
    AdamState,
    SGDState,
    adam_init,
    adam_step,
    adamw_init,
    adamw_step,
    sgd_init,
    sgd_step,
)

F64 = np.float64


def _a(*v: float, dtype: Any = F64) -> np.ndarray:
    return np.array(v, dtype=dtype)


def _sgd_run(gs: list[float], p0: float = 1.0, **kw: Any) -> list[float]:
    """Parameter after each SGD step on one scalar parameter."""
    ps, s = [_a(p0)], sgd_init([_a(p0)])
    out = []
    for g in gs:
        ps, s = sgd_step(ps, [_a(g)], s, **kw)
        out.append(float(ps[0][0]))
    return out


# ------------------------------------------------------------------ SGD, by hand


def test_sgd_plain_weight_decay_maximize_by_hand() -> None:
    # p = 1, g = 1, lr = 0.1: p - lr*g = 0.9
    assert _sgd_run([1.0], lr=0.1) == pytest.approx([0.9], rel=1e-15)
    # weight decay 0.1: d = g + 0.1*p = 1.1, p = 1 - 0.11 = 0.89
    assert _sgd_run([1.0], lr=0.1, weight_decay=0.1) == pytest.approx([0.89], rel=1e-15)
    # maximize: d = -g, p = 1 + 0.1 = 1.1
    assert _sgd_run([1.0], lr=0.1, maximize=True) == pytest.approx([1.1], rel=1e-15)
    # maximize negates before the decay: d = -1 + 0.1*1 = -0.9, p = 1 + 0.09
    assert _sgd_run([1.0], lr=0.1, weight_decay=0.1, maximize=True) == pytest.approx([1.09], rel=1e-15)


def test_sgd_momentum_two_steps_by_hand() -> None:
    # momentum 0.9, lr 0.1, p0 = 1, g = 1 then 0.5
    # step 1: buf = g1 = 1 (a copy, no dampening), p1 = 1 - 0.1*1 = 0.9
    # step 2: buf = 0.9*1 + 0.5 = 1.4, p2 = 0.9 - 0.1*1.4 = 0.76
    assert _sgd_run([1.0, 0.5], lr=0.1, momentum=0.9) == pytest.approx([0.9, 0.76], rel=1e-15)
    # dampening 0.5: step 1 as above (the first buffer is not damped)
    # step 2: buf = 0.9*1 + (1 - 0.5)*0.5 = 1.15, p2 = 0.9 - 0.115 = 0.785
    got = _sgd_run([1.0, 0.5], lr=0.1, momentum=0.9, dampening=0.5)
    assert got == pytest.approx([0.9, 0.785], rel=1e-15)
    # nesterov: step 1: buf = 1, d = 1 + 0.9*1 = 1.9, p1 = 1 - 0.19 = 0.81
    # step 2: buf = 1.4, d = 0.5 + 0.9*1.4 = 1.76, p2 = 0.81 - 0.176 = 0.634
    got = _sgd_run([1.0, 0.5], lr=0.1, momentum=0.9, nesterov=True)
    assert got == pytest.approx([0.81, 0.634], rel=1e-15)
    # weight decay enters the buffer: step 1: d = 1 + 0.5*1 = 1.5 = buf, p1 = 1 - 0.15 = 0.85
    # step 2: d = 0.5 + 0.5*0.85 = 0.925, buf = 0.9*1.5 + 0.925 = 2.275, p2 = 0.85 - 0.2275
    got = _sgd_run([1.0, 0.5], lr=0.1, momentum=0.9, weight_decay=0.5)
    assert got == pytest.approx([0.85, 0.6225], rel=1e-15)


def test_sgd_dyadic_steps_are_exact() -> None:
    # every value is a short binary fraction, so every operation is exact
    # step 1: buf = g = [1, -2], p = [1, 1] - 0.5*buf = [0.5, 2]
    # step 2: buf = 0.5*[1, -2] + [1, 1] = [1.5, 0], p = [0.5 - 0.75, 2 - 0] = [-0.25, 2]
    p, s = [_a(1.0, 1.0)], sgd_init([_a(1.0, 1.0)])
    p, s = sgd_step(p, [_a(1.0, -2.0)], s, lr=0.5, momentum=0.5)
    assert p[0].tolist() == [0.5, 2.0] and s.momentum_buffers[0] is not None
    assert s.momentum_buffers[0].tolist() == [1.0, -2.0]
    p, s = sgd_step(p, [_a(1.0, 1.0)], s, lr=0.5, momentum=0.5)
    assert p[0].tolist() == [-0.25, 2.0] and s.step == 2
    assert s.momentum_buffers[0] is not None and s.momentum_buffers[0].tolist() == [1.5, 0.0]


def test_sgd_without_momentum_keeps_no_buffer() -> None:
    _, s = sgd_step([_a(1.0)], [_a(1.0)], sgd_init([_a(1.0)]), lr=0.1)
    assert s.momentum_buffers == (None,)


def test_sgd_update_is_one_fma() -> None:
    # p - lr*g with p = 1, lr = 1 + 2**-52, g = -(1 - 2**-53) * 2**-53: the exact
    # -lr*g = 2**-53 * (1 + 2**-53 - 2**-105) rounds to 2**-53, and 1 + 2**-53 is a tie that
    # rounds to even, 1.0; rounded once (torch's fused add), 1 + 2**-53 + 2**-106 - ...
    # lies above the tie and rounds up to 1 + 2**-52
    lr, g = 1.0 + 2.0**-52, -(1.0 - 2.0**-53) * 2.0**-53
    assert 1.0 + (-lr) * g == 1.0  # the unfused result
    p, _ = sgd_step([_a(1.0)], [_a(g)], sgd_init([_a(1.0)]), lr=lr)
    assert p[0][0] == 1.0 + 2.0**-52 == float(1 - Fraction(lr) * Fraction(g))


# ------------------------------------------------------------------ Adam and AdamW, by hand


def test_adam_first_step_is_lr_times_sign() -> None:
    # m1 = (1-b1) g, v1 = (1-b2) g^2, so m1/(1-b1) = g and sqrt(v1)/sqrt(1-b2) = |g|:
    # p1 = p0 - lr * g / (|g| + eps) = p0 - lr * sign(g) * (1 - eps/|g| + ...)
    g = _a(0.5, -3.0, 1e-3, -7.0)
    p, s = adam_step([np.zeros(4)], [g], adam_init([np.zeros(4)]), lr=0.1)
    expect = -0.1 * np.sign(g) * (np.abs(g) / (np.abs(g) + 1e-8))
    np.testing.assert_allclose(p[0], expect, rtol=1e-14)
    assert s.step == 1
    np.testing.assert_allclose(s.exp_avgs[0], 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(s.exp_avg_sqs[0], 0.001 * g * g, rtol=1e-12)


def test_adam_eps_is_added_to_the_bias_corrected_root() -> None:
    # g = eps = 1e-8: denom = sqrt(v1)/sqrt(1-b2) + eps = 1e-8 + 1e-8, so the first step
    # is lr/2. (eps inside the root would give a step ~1e-5 lr; eps added to the raw
    # sqrt(v1) ~ 3.2e-10 before the bias correction, a step ~ 0.031 lr.)
    p, _ = adam_step([_a(0.0)], [_a(1e-8)], adam_init([_a(0.0)]), lr=0.1, eps=1e-8)
    np.testing.assert_allclose(p[0], [-0.05], rtol=1e-14)


def test_adam_constant_gradient_moves_lr_per_step() -> None:
    # with a constant g, m_t/(1-b1^t) = g and v_t/(1-b2^t) = g^2 for every t: each
    # step is exactly lr * sign(g) when eps = 0, up to rounding
    p, s = [_a(1.0, -1.0)], adam_init([_a(1.0, -1.0)])
    for t in range(1, 6):
        p, s = adam_step(p, [_a(0.25, -4.0)], s, lr=0.01, eps=0.0)
        np.testing.assert_allclose(p[0], [1.0 - 0.01 * t, -1.0 + 0.01 * t], rtol=0, atol=1e-15)


def test_adam_two_steps_match_the_textbook_formula() -> None:
    # Kingma & Ba, Algorithm 1 with torch's eps placement, in plain Python floats
    b1, b2, lr, eps = 0.8, 0.9, 0.05, 1e-3
    p, m, v = 0.7, 0.0, 0.0
    ps, s = [_a(0.7)], adam_init([_a(0.7)])
    for t, g in enumerate([2.0, -0.5], start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        p -= lr / (1 - b1**t) * m / ((v / (1 - b2**t)) ** 0.5 + eps)
        ps, s = adam_step(ps, [_a(g)], s, lr=lr, betas=(b1, b2), eps=eps)
        np.testing.assert_allclose(ps[0], [p], rtol=1e-14)


def test_amsgrad_uses_the_running_max() -> None:
    # g = 2 then 0: v1 = 0.1*4 = 0.4, v2 = 0.9*0.4 = 0.36 < v_max = 0.4
    b = (0.5, 0.9)
    p, s = [_a(0.0)], adam_init([_a(0.0)])
    p, s = adam_step(p, [_a(2.0)], s, lr=0.1, betas=b, eps=0.0, amsgrad=True)
    p, s = adam_step(p, [_a(0.0)], s, lr=0.1, betas=b, eps=0.0, amsgrad=True)
    np.testing.assert_allclose(s.max_exp_avg_sqs[0], [0.4], rtol=1e-15)
    np.testing.assert_allclose(s.exp_avg_sqs[0], [0.36], rtol=1e-15)
    # step 2: m2 = 0.5*1 = 0.5, step size 0.1/(1 - 0.25), denom sqrt(0.4)/sqrt(1 - 0.81)
    step2 = 0.1 / 0.75 * 0.5 / (0.4**0.5 / 0.19**0.5)
    np.testing.assert_allclose(p[0], [-0.1 - step2], rtol=1e-14)
    # without amsgrad the denominator is sqrt(0.36)/sqrt(0.19), and the max stays 0
    q, s2 = adam_step([_a(0.0)], [_a(2.0)], adam_init([_a(0.0)]), lr=0.1, betas=b, eps=0.0)
    q, s2 = adam_step(q, [_a(0.0)], s2, lr=0.1, betas=b, eps=0.0)
    np.testing.assert_allclose(q[0], [-0.1 - 0.1 / 0.75 * 0.5 / (0.36**0.5 / 0.19**0.5)], rtol=1e-14)
    assert s2.max_exp_avg_sqs[0].tolist() == [0.0]


def test_adamw_decouples_weight_decay_and_adam_couples_it() -> None:
    # zero gradient, p = 1, lr = 0.1, wd = 0.5
    # AdamW: p = 1 * (1 - 0.05) = 0.95; m = v = 0, so the Adam part moves 0 / eps = 0
    pw, sw = adamw_step([_a(1.0)], [_a(0.0)], adamw_init([_a(1.0)]), lr=0.1, weight_decay=0.5)
    assert pw[0].tolist() == [0.95] and sw.exp_avgs[0].tolist() == [0.0]
    # Adam (L2): g = 0 + 0.5*1 = 0.5 enters the moments; the first step is ~lr*sign(g)
    pa, sa = adam_step([_a(1.0)], [_a(0.0)], adam_init([_a(1.0)]), lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(pa[0], [0.9], rtol=1e-7)
    np.testing.assert_allclose(sa.exp_avgs[0], [0.05], rtol=1e-15)


def test_adam_maximize_negates_the_gradient() -> None:
    p, _ = adam_step([_a(0.0)], [_a(2.0)], adam_init([_a(0.0)]), lr=0.1, maximize=True)
    q, _ = adam_step([_a(0.0)], [_a(-2.0)], adam_init([_a(0.0)]), lr=0.1)
    assert p[0].tolist() == q[0].tolist() and p[0][0] > 0.09


def test_lerp_branches() -> None:
    # torch's lerp: fma(w, end - start, start) for |w| < 0.5, else fma(w - 1, end - start, end)
    start, end = _a(1.0, -3.0), _a(5.0, 0.5)
    for w in (0.1, 0.5, 0.9):
        got = optim._lerp(start, end, F64(w))
        fw, d = Fraction(w), [Fraction(float(x)) for x in end - start]
        base = start if w < 0.5 else end
        coeff = fw if w < 0.5 else Fraction(w - 1.0)
        assert got.tolist() == [float(Fraction(float(b)) + coeff * x) for b, x in zip(base, d, strict=True)]
    # w = 1 returns end exactly, w = 0 start exactly (both branches are exact at their ends)
    assert optim._lerp(start, end, F64(1.0)).tolist() == end.tolist()
    assert optim._lerp(start, end, F64(0.0)).tolist() == start.tolist()


# ------------------------------------------------------------------ the float64 FMA


def _fma_exact(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.array([float(Fraction(x) * Fraction(y) + Fraction(z)) for x, y, z in zip(a, b, c, strict=True)])


def test_fma_float64_is_correctly_rounded() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
    b = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n)
    cases = [
        rng.standard_normal(n) * 10.0 ** rng.integers(-6, 6, n),  # generic
        -(a * b),  # the result is the product's rounding error
        -(a * b) * (1 + rng.standard_normal(n) * 1e-12),  # near cancellation
    ]
    for c in cases:
        np.testing.assert_array_equal(fma_float64(a, b, c), _fma_exact(a, b, c))
    # ties: 1 + 2**-53 (a float64 midpoint) plus a tiny product decides the direction
    a2 = np.array([2.0**-27, 2.0**-27, -(2.0**-27), 3.0])
    b2 = np.array([2.0**-26 + 2.0**-78, 2.0**-26, 2.0**-26 + 2.0**-78, 2.0**-80])
    c2 = np.array([1.0, 1.0, 1.0, 1.0 + 2.0**-52])
    np.testing.assert_array_equal(fma_float64(a2, b2, c2), _fma_exact(a2, b2, c2))


def test_fma_float64_specials_and_signed_zero() -> None:
    a = np.array([0.0, -0.0, 1.0, np.inf, np.nan, 1e300])
    b = np.array([-1.0, 1.0, -1.0, 1.0, 1.0, 1e300])
    c = np.array([-0.0, -0.0, 1.0, 1.0, 1.0, 1.0])
    got = fma_float64(a, b, c)
    np.testing.assert_array_equal(np.signbit(got[:3]), [True, True, False])
    assert got[3] == np.inf and np.isnan(got[4]) and got[5] == np.inf


# ------------------------------------------------------------------ properties


_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def _problem(draw: st.DrawFn) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    dt = draw(_dtypes)
    shapes = draw(st.lists(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), min_size=1, max_size=3))
    fin = st.floats(-1e3, 1e3, width=32)
    params = [draw(hnp.arrays(dt, s, elements=fin)) for s in shapes]
    mag = st.floats(2**-10, 1e3, width=32) | st.floats(-1e3, -(2**-10), width=32) | st.just(0.0)
    grads = [[draw(hnp.arrays(dt, s, elements=mag)) for s in shapes] for _ in range(3)]
    return params, grads


def _readonly(arrs: list[np.ndarray]) -> list[np.ndarray]:
    out = [a.copy() for a in arrs]
    for a in out:
        a.flags.writeable = False
    return out


def _buffers(s: SGDState | AdamState) -> tuple[np.ndarray | None, ...]:
    if isinstance(s, SGDState):
        return s.momentum_buffers
    return (*s.exp_avgs, *s.exp_avg_sqs, *s.max_exp_avg_sqs)


def _state_bytes(s: SGDState | AdamState) -> list[bytes | None]:
    return [None if b is None else b.tobytes() for b in _buffers(s)]


_STEPS = [
    (sgd_init, sgd_step, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (sgd_init, sgd_step, {"lr": 0.1, "momentum": 0.5, "dampening": 0.25, "maximize": True}),
    (adam_init, adam_step, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (adamw_init, adamw_step, {"lr": 0.01, "amsgrad": True, "maximize": True}),
]


@pytest.mark.parametrize("init,step,kw", _STEPS)
@given(prob=_problem())
def test_inputs_untouched_and_deterministic(init: Any, step: Any, kw: dict[str, Any], prob: Any) -> None:
    params, grads = prob
    p, s = _readonly(params), init(params)
    originals = [a.copy() for a in p]
    trace = []
    for g in grads:
        g = _readonly(g)
        p1, s1 = step(p, g, s, **kw)
        p2, s2 = step(p, g, s, **kw)  # the same state again: the same outputs, bit for bit
        for a, b in zip(p1, p2, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()
            assert a.flags.writeable and not np.shares_memory(a, b)
        assert _state_bytes(s1) == _state_bytes(s2)
        for a, b in zip(p1, p, strict=True):
            assert not np.shares_memory(a, b) and a.dtype == b.dtype and a.shape == b.shape
        assert s1.step == s.step + 1
        trace.append(p1)
        p, s = p1, s1
    for a, o in zip(params, originals, strict=True):
        np.testing.assert_array_equal(a, o)
    bufs = _buffers(s)
    assert all(b is None or not b.flags.writeable for b in bufs)


@given(prob=_problem(), momentum=st.sampled_from([0.0, 0.9]), nesterov=st.booleans())
def test_sgd_zero_grad_without_decay_leaves_params(prob: Any, momentum: float, nesterov: bool) -> None:
    params, _ = prob
    zeros = [np.zeros_like(a) for a in params]
    p, s = params, sgd_init(params)
    for _ in range(3):
        p, s = sgd_step(p, zeros, s, lr=0.3, momentum=momentum, nesterov=nesterov and momentum > 0)
    for a, b in zip(p, params, strict=True):
        assert a.tobytes() == b.tobytes()  # bit for bit: -0.0 stays -0.0


@given(prob=_problem())
def test_adam_first_step_size_is_lr(prob: Any) -> None:
    params, grads = prob
    g = [np.where(a == 0, a.dtype.type(1), a) for a in grads[0]]
    p, _ = adam_step(params, g, adam_init(params), lr=0.01, eps=0.0)
    for new, old, gi in zip(p, params, g, strict=True):
        dt = old.dtype.type
        move = new.astype(F64) - old.astype(F64)
        tol = 4 * np.finfo(dt).eps * (np.abs(old.astype(F64)) + 0.01)
        assert np.all(np.abs(move + 0.01 * np.sign(gi)) <= tol)


# ------------------------------------------------------------------ validation


def test_validation_errors() -> None:
    p, g = [_a(1.0, 2.0)], [_a(0.1, 0.2)]
    s, a = sgd_init(p), adam_init(p)
    bad_sgd: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"lr": -0.1}, ValueError, "lr must be >= 0, got -0.1"),
        ({"lr": float("nan")}, ValueError, "lr must be finite"),
        ({"lr": True}, TypeError, "lr must be a real number"),
        ({"lr": "0.1"}, TypeError, "lr must be a real number"),
        ({"lr": 0.1, "momentum": -0.5}, ValueError, "momentum must be >= 0, got -0.5"),
        ({"lr": 0.1, "weight_decay": -1}, ValueError, "weight_decay must be >= 0, got -1.0"),
        ({"lr": 0.1, "nesterov": True}, ValueError, "nesterov=True requires momentum > 0"),
        ({"lr": 0.1, "nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError, "dampening=0.1"),
    ]
    for kw, exc, msg in bad_sgd:
        with pytest.raises(exc, match=msg.replace(".", r"\.").replace("+", r"\+")):
            sgd_step(p, g, s, **kw)
    bad_adam: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"lr": -1e-3}, ValueError, "lr must be >= 0"),
        ({"eps": -1e-8}, ValueError, "eps must be >= 0"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be >= 0"),
        ({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] must lie in \[0, 1\), got 1.0"),
        ({"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] must lie in \[0, 1\), got -0.1"),
        ({"betas": 0.9}, TypeError, "betas must be a pair of floats"),
        ({"betas": (0.9, 0.99, 0.999)}, TypeError, "betas must be a pair of floats"),
    ]
    for kw, exc, msg in bad_adam:
        for f in (adam_step, adamw_step):
            with pytest.raises(exc, match=msg):
                f(p, g, a, **kw)


def test_validation_of_arrays_and_state() -> None:
    p, g = [_a(1.0, 2.0)], [_a(0.1, 0.2)]
    s, a = sgd_init(p), adam_init(p)
    with pytest.raises(TypeError, match="params must be a sequence of arrays, got ndarray"):
        sgd_step(p[0], g, s, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="grads must be a sequence of arrays"):
        sgd_step(p, g[0], s, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"params\[0\] must be float32 or float64, got dtype int64"):
        sgd_init([np.arange(3)])
    with pytest.raises(TypeError, match=r"params\[0\] must be float32 or float64, got dtype float16"):
        adam_init([np.zeros(3, np.float16)])
    with pytest.raises(ValueError, match=r"grads must have one array per parameter \(params has 1\), got 2"):
        sgd_step(p, g + g, s, lr=0.1)
    with pytest.raises(ValueError, match=r"grads\[0\] must have shape \(2,\) \(params\[0\]\), got \(3,\)"):
        adam_step(p, [np.zeros(3)], a)
    with pytest.raises(TypeError, match=r"grads\[0\] must have dtype float64 \(params\[0\]\), got float32"):
        adam_step(p, [g[0].astype(np.float32)], a)
    with pytest.raises(TypeError, match="state must be an SGDState"):
        sgd_step(p, g, a, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="state must be an AdamState"):
        adamw_step(p, g, s)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"state.momentum_buffers must have one buffer per parameter \(2\)"):
        sgd_step(p + p, g + g, s, lr=0.1)
    other = adam_init([np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match=r"state.exp_avgs\[0\] must be a \(2,\) float64 array"):
        adam_step(p, g, other)
    assert isinstance(a, AdamState) and isinstance(s, SGDState)


def test_empty_and_zero_size_params() -> None:
    assert sgd_step([], [], sgd_init([]), lr=0.1)[0] == ()
    e = np.zeros((0, 3), np.float32)
    p, s = adam_step([e], [e], adam_init([e]))
    assert p[0].shape == (0, 3) and p[0].dtype == np.float32 and s.step == 1


def test_unfused_adam_is_the_plain_formula_and_close_to_the_fused_one() -> None:
    """fused=False rounds every operation: check it against the textbook update written out here."""
    rng = np.random.default_rng(11)
    p = rng.standard_normal(200_000).astype(np.float32)  # several chunks
    g = rng.standard_normal(200_000).astype(np.float32)
    state = adam_init([p])
    (unfused,), s1 = adam_step([p], [g], state, lr=0.01, fused=False)
    (fused,), _ = adam_step([p], [g], state, lr=0.01)
    f = np.float32
    m = (g - np.zeros_like(g)) * f(0.1) + np.zeros_like(g)  # lerp from 0 with weight 0.1 < 0.5
    v = f(0.001) * g * g + np.zeros_like(g) * f(0.999)
    denom = np.sqrt(v) / f((1 - 0.999) ** 0.5) + f(1e-8)
    expected = p + (f(-(0.01 / (1 - 0.9))) * m) / denom
    assert np.array_equal(unfused, expected)
    assert np.array_equal(s1.exp_avgs[0], m)
    np.testing.assert_allclose(unfused, fused, rtol=2e-6, atol=1e-7)


def test_unfused_adamw_multistep_matches_the_written_out_update() -> None:
    """Five AdamW steps, fused=False, against torch's update order written out with one rounding per op.

    beta1 = 0.3 makes lerp's weight 0.7 >= 0.5, so ATen's second lerp branch is used:
    m <- g - (g - m) * (1 - w)  ==  g + (g - m) * (w - 1).
    """
    f = np.float32
    rng = np.random.default_rng(12)
    p = rng.standard_normal(1000).astype(f)
    lr, b1, b2, eps, wd = 0.01, 0.3, 0.99, 1e-8, 0.1
    state = adam_init([p])
    q, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
    for t in range(1, 6):
        g = rng.standard_normal(1000).astype(f)
        kw = {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": wd, "fused": False}
        (p,), state = adamw_step([p], [g], state, **kw)
        q = q * f(1 - lr * wd)
        m = (g - m) * (f(1 - b1) - f(1)) + g
        v = f(1 - b2) * g * g + v * f(b2)
        denom = np.sqrt(v) / f((1 - b2**t) ** 0.5) + f(eps)
        q = q + (f(-(lr / (1 - b1**t))) * m) / denom
        assert np.array_equal(p, q), t
    assert np.array_equal(state.exp_avgs[0], m) and np.array_equal(state.exp_avg_sqs[0], v)
