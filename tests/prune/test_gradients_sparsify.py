"""refquant.prune.gradients: the seed's gradient dropping, top-k with error feedback, DGC."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.check.gradcheck import check_vjp_against
from refquant.prune.gradients import (
    dgc_momentum_correction,
    gradient_dropping_identity,
    gradient_dropping_identity_vjp,
    relative_gradient_threshold,
    topk_error_feedback,
)
from refquant.prune.masks import unstructured_mask


def ro(a) -> np.ndarray:
    a = np.array(a)
    a.flags.writeable = False
    return a


def bits(a: np.ndarray) -> np.ndarray:
    """The bit patterns, so that -0.0 and +0.0 (and NaN payloads) are told apart."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def topk_reference(v: np.ndarray, k: int) -> np.ndarray:
    """The documented selection by a full stable sort: the k largest of (|v|, flat index)."""
    flat = np.abs(v).ravel()
    order = np.lexsort((np.arange(flat.size), flat))  # ascending |v|, then ascending index
    sel = np.zeros(flat.size, dtype=bool)
    sel[order[flat.size - k :]] = True
    return sel.reshape(v.shape)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
# values drawn from a small set, so that ties at the cut are frequent
tied = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0])


# ------------------------------------------------------------------ relative threshold (the seed's Pruner)


def test_relative_threshold_hand_values() -> None:
    # max |g| = 4, threshold 4 * 0.01 = 0.04 (the same double as the literal 0.04): 0.04 kept (strict <)
    out = relative_gradient_threshold(ro([4.0, -0.03, 0.04, -2.0, 0.0]))
    assert out.tolist() == [4.0, 0.0, 0.04, -2.0, 0.0]
    # ratio 0.5 of max 1: threshold 0.5; |-0.5| is not below it
    out = relative_gradient_threshold(ro([[1.0, 0.2], [-0.5, 0.49]]), ratio=0.5)
    assert out.tolist() == [[1.0, 0.0], [-0.5, 0.0]]
    # ratio 0 drops nothing; ratio 1 keeps only the largest magnitudes (both of them)
    assert relative_gradient_threshold([1e-30, -2.0], ratio=0.0).tolist() == [1e-30, -2.0]
    assert relative_gradient_threshold([2.0, -2.0, 1.9], ratio=1.0).tolist() == [2.0, -2.0, 0.0]


def test_relative_threshold_edges() -> None:
    # all zeros: threshold 0, nothing strictly below it
    z = relative_gradient_threshold(ro([0.0, -0.0]))
    assert z.tolist() == [0.0, -0.0] and np.signbit(z[1])
    # empty
    e = relative_gradient_threshold(np.zeros((0, 3), np.float32))
    assert e.shape == (0, 3) and e.dtype == np.float32
    # NaN: max is NaN, every comparison false: nothing dropped
    n = relative_gradient_threshold([1.0, np.nan, 1e-3])
    assert n[0] == 1.0 and np.isnan(n[1]) and n[2] == 1e-3
    # inf: threshold inf, every finite entry dropped, inf kept; ratio 0: 0 * inf = NaN, nothing dropped
    assert relative_gradient_threshold([1.0, -np.inf, 1e-3]).tolist() == [0.0, -np.inf, 0.0]
    assert relative_gradient_threshold([1.0, np.inf], ratio=0.0).tolist() == [1.0, np.inf]
    # a dropped -0.0 or negative value becomes +0.0
    d = relative_gradient_threshold([2.0, -0.0, -1e-3])
    assert d.tolist() == [2.0, 0.0, 0.0] and not np.signbit(d).any()
    # 0-d
    assert relative_gradient_threshold(np.float64(-3.0)).tolist() == -3.0


def test_relative_threshold_float16_threshold_is_computed_in_float32() -> None:
    # torch: max(|g|) * 0.1 in float32 "opmath", rounded to float16:
    #   fl32(0.1) = 0.100000001490116; 3 * that = 0.30000000447 -> fl16: 1229 * 2**-12 = 0.300048828125
    # (a float16 product would give fl16(3 * fl16(0.1)) = fl16(3 * 0.0999755859375 = 0.2999267578125),
    #  1228.5 * 2**-12, a tie, to even: 1228 * 2**-12 = 0.2998046875, and keep the second entry)
    g = ro(np.array([3.0, 0.2998046875, -0.300048828125], np.float16))
    out = relative_gradient_threshold(g, ratio=0.1)
    assert out.dtype == np.float16
    assert out.tolist() == [3.0, 0.0, -0.300048828125]
    # float32 computes in float32: fl32(fl32(4) * fl32(0.01)) = fl32(0.04), and fl32(0.04) is kept
    g32 = ro(np.array([4.0, 0.04, 0.0399999], np.float32))
    assert relative_gradient_threshold(g32).tolist() == [4.0, float(np.float32(0.04)), 0.0]


@pytest.mark.parametrize(("ratio", "err"), [(-0.1, ValueError), (1.5, ValueError), (np.nan, ValueError),
                                             (True, TypeError), ("0.1", TypeError)])  # fmt: skip
def test_relative_threshold_ratio_validation(ratio, err) -> None:
    with pytest.raises(err, match="ratio"):
        relative_gradient_threshold([1.0], ratio=ratio)


@given(hnp.arrays(np.float64, shapes, elements=finite), st.floats(0.0, 1.0))
def test_relative_threshold_properties(g, ratio) -> None:
    out = relative_gradient_threshold(ro(g), ratio=ratio)
    assert out.shape == g.shape and out.dtype == g.dtype
    kept = bits(out) == bits(g)
    # every entry is either kept bit for bit or +0.0
    assert np.all(kept | (bits(out) == 0))
    t = np.max(np.abs(g)) * ratio
    np.testing.assert_array_equal(out, np.where(np.abs(g) < t, 0.0, g))
    # idempotent for ratio <= 1 (the max survives, so the threshold is the same)
    np.testing.assert_array_equal(relative_gradient_threshold(out, ratio=ratio), out)


# ------------------------------------------------------------------ the identity with the dropping backward


def seed_pruner_backward(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The seed's Pruner.backward transcribed: clone, threshold = max|g| * 0.01, zero where below."""
    grad_input = np.array(g, dtype=np.asarray(x).dtype, copy=True)
    abs_grad_input = np.abs(grad_input)
    threshold = np.max(abs_grad_input) * 0.01
    grad_input[abs_grad_input < threshold] = 0
    return grad_input


def test_gradient_dropping_identity_forward_is_a_copy() -> None:
    x = ro([[1.0, -2.0], [0.0, 3.0]])
    y = gradient_dropping_identity(x)
    assert y.tolist() == x.tolist() and y is not x and y.flags.writeable and not np.shares_memory(x, y)


@pytest.mark.parametrize("shape", [(5, 5), (7,), (2, 3, 4)])
def test_gradient_dropping_vjp_against_the_seed(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    # random cotangents with a spread of magnitudes, so that some entries fall below 1% of the max
    g = rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 1, shape)
    check_vjp_against(
        gradient_dropping_identity_vjp,
        seed_pruner_backward,
        (x,),
        f=gradient_dropping_identity,
        rtol=0,
        atol=0,
    )
    check_vjp_against(
        gradient_dropping_identity_vjp,
        seed_pruner_backward,
        (x,),
        cotangent=g,
        f=gradient_dropping_identity,
        rtol=0,
        atol=0,
    )


def test_gradient_dropping_vjp_hand_values_and_errors() -> None:
    # threshold 100 * 0.01 = 1: 0.5 dropped, 1.0 kept
    r = gradient_dropping_identity_vjp(ro([0.5, -100.0, 1.0]), ro(np.zeros(3, np.float32)))
    assert r.grad_x.tolist() == [0.0, -100.0, 1.0] and r.grad_x.dtype == np.float32
    assert gradient_dropping_identity_vjp([0.5, -1.0], [0.0, 0.0], ratio=0.6).grad_x.tolist() == [0.0, -1.0]
    with pytest.raises(ValueError, match="shape"):
        gradient_dropping_identity_vjp([1.0, 2.0], [0.0])


# ------------------------------------------------------------------ top-k with error feedback


def test_topk_error_feedback_hand_values() -> None:
    s = topk_error_feedback(ro([0.5, -3.0, 1.0, 0.25]), k=2)
    assert s.sent.tolist() == [0.0, -3.0, 1.0, 0.0] and s.residual.tolist() == [0.5, 0.0, 0.0, 0.25]
    # v = residual + grad = [0.5 + 0.75, 0, 0.5, 0.25 - 1] = [1.25, 0, 0.5, -0.75]
    s = topk_error_feedback(ro([0.75, 0.0, 0.5, -1.0]), ro(s.residual), k=2)
    assert s.sent.tolist() == [1.25, 0.0, 0.0, -0.75] and s.residual.tolist() == [0.0, 0.0, 0.5, 0.0]


def test_topk_error_feedback_ties_k0_kn_inf() -> None:
    # |v| = [1, 1, 1, 0.5], k = 2: three ties at the cut, the two highest flat indices are sent
    s = topk_error_feedback([1.0, -1.0, 1.0, 0.5], k=2)
    assert s.sent.tolist() == [0.0, -1.0, 1.0, 0.0] and s.residual.tolist() == [1.0, 0.0, 0.0, 0.5]
    # 2-D: flat (row-major) index order
    s = topk_error_feedback([[2.0, 1.0], [1.0, 1.0]], k=2)
    assert s.sent.tolist() == [[2.0, 0.0], [0.0, 1.0]]
    s0 = topk_error_feedback([1.0, -2.0], k=0)
    assert s0.sent.tolist() == [0.0, 0.0] and s0.residual.tolist() == [1.0, -2.0]
    sn = topk_error_feedback([1.0, -2.0], k=2)
    assert sn.sent.tolist() == [1.0, -2.0] and sn.residual.tolist() == [0.0, 0.0]
    si = topk_error_feedback([1.0, -np.inf, 5.0], k=1)  # inf ranks above every number
    assert si.sent.tolist() == [0.0, -np.inf, 0.0] and si.residual.tolist() == [1.0, 0.0, 5.0]


def test_topk_error_feedback_errors() -> None:
    with pytest.raises(ValueError, match="NaN"):
        topk_error_feedback([1.0, np.nan], k=1)
    with pytest.raises(ValueError, match="NaN"):
        topk_error_feedback([np.inf, 1.0], [-np.inf, 0.0], k=1)  # inf - inf
    with pytest.raises(ValueError, match="k must be in"):
        topk_error_feedback([1.0, 2.0], k=3)
    with pytest.raises(ValueError, match="k must be in"):
        topk_error_feedback([1.0, 2.0], k=-1)
    with pytest.raises(TypeError, match="k must be an int"):
        topk_error_feedback([1.0, 2.0], k=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="residual"):
        topk_error_feedback([1.0, 2.0], [1.0], k=1)


@given(st.data())
def test_topk_error_feedback_partitions_the_accumulated_gradient_exactly(data) -> None:
    shape = data.draw(shapes)
    elements = data.draw(st.sampled_from([finite, tied]))
    g = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    r = data.draw(st.none() | hnp.arrays(np.float64, shape, elements=elements))
    k = data.draw(st.integers(0, g.size))
    out = topk_error_feedback(ro(g), None if r is None else ro(r), k=k)
    v = g if r is None else r + g
    sel = topk_reference(v, k)
    # the sent set is the documented one, and sent/residual split v bit for bit
    np.testing.assert_array_equal(bits(out.sent), bits(np.where(sel, v, 0.0)))
    np.testing.assert_array_equal(bits(out.residual), bits(np.where(sel, 0.0, v)))
    assert np.array_equal(out.sent + out.residual, v)
    assert np.array_equal(bits(np.where(sel, out.sent, out.residual)), bits(v))
    # the same selection as refquant's default magnitude mask pruning n - k entries
    if 0 < k < v.size:
        np.testing.assert_array_equal(sel, unstructured_mask(v, v.size - k))
    again = topk_error_feedback(g, r, k=k)
    assert np.array_equal(bits(again.sent), bits(out.sent))


@given(
    st.lists(hnp.arrays(np.float64, 6, elements=st.integers(-1000, 1000).map(float)), min_size=1, max_size=8),
    st.integers(0, 6),
)
def test_error_feedback_loses_nothing_over_many_steps(grads, k) -> None:
    # with small integers every sum is exact: all that was sent plus the last residual = the sum of the grads
    residual, total_sent = None, np.zeros(6)
    for g in grads:
        step = topk_error_feedback(g, residual, k=k)
        total_sent = total_sent + step.sent
        residual = step.residual
    assert residual is not None
    np.testing.assert_array_equal(total_sent + residual, np.sum(grads, axis=0))


# ------------------------------------------------------------------ DGC momentum correction


def test_dgc_hand_values() -> None:
    s = dgc_momentum_correction(ro([1.0, -4.0, 2.0]), k=1, momentum=0.5)
    # u = g, v = u; top-1 of |v| is -4
    assert s.sent.tolist() == [0.0, -4.0, 0.0]
    assert s.velocity.tolist() == [1.0, 0.0, 2.0] and s.accumulation.tolist() == [1.0, 0.0, 2.0]
    # u = 0.5 * [1, 0, 2] + [1, 1, 0] = [1.5, 1, 1]; v = [1, 0, 2] + u = [2.5, 1, 3]; top-1: 3
    s = dgc_momentum_correction(ro([1.0, 1.0, 0.0]), ro(s.velocity), ro(s.accumulation), k=1, momentum=0.5)
    assert s.sent.tolist() == [0.0, 0.0, 3.0]
    assert s.velocity.tolist() == [1.5, 1.0, 0.0] and s.accumulation.tolist() == [2.5, 1.0, 0.0]


def test_dgc_float32_and_errors() -> None:
    g = np.array([1.0, 2.0], np.float32)
    s = dgc_momentum_correction(g, g, g, k=1)
    assert s.sent.dtype == s.velocity.dtype == s.accumulation.dtype == np.float32
    # u = fl32(0.9) * 2 + 2 in float32, v = 2 + u
    u = np.float32(0.9) * np.float32(2) + np.float32(2)
    assert s.velocity[1] == 0.0 and s.sent[1] == np.float32(2) + u
    with pytest.raises(ValueError, match="momentum"):
        dgc_momentum_correction([1.0], k=1, momentum=1.5)
    with pytest.raises(ValueError, match="velocity"):
        dgc_momentum_correction([1.0], [1.0, 2.0], k=1)
    with pytest.raises(ValueError, match="accumulation"):
        dgc_momentum_correction([1.0], None, [1.0, 2.0], k=1)
    with pytest.raises(ValueError, match="NaN"):
        dgc_momentum_correction([np.nan], k=1)


@given(st.data())
def test_dgc_partition_and_momentum_factor_masking(data) -> None:
    shape = data.draw(shapes)
    elements = data.draw(st.sampled_from([finite, tied]))
    g = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    u0 = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    v0 = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    m = data.draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    k = data.draw(st.integers(0, g.size))
    out = dgc_momentum_correction(ro(g), ro(u0), ro(v0), k=k, momentum=m)
    u = m * u0 + g
    v = v0 + u
    sel = topk_reference(v, k)
    np.testing.assert_array_equal(bits(out.sent), bits(np.where(sel, v, 0.0)))
    np.testing.assert_array_equal(bits(out.accumulation), bits(np.where(sel, 0.0, v)))
    np.testing.assert_array_equal(bits(out.velocity), bits(np.where(sel, 0.0, u)))
    assert np.array_equal(out.sent + out.accumulation, v)
    # momentum 0: u = g, and DGC is top-k error feedback with the accumulation as the residual
    if m == 0.0:
        ef = topk_error_feedback(g, v0, k=k)
        assert np.array_equal(ef.sent, out.sent) and np.array_equal(ef.residual, out.accumulation)


def test_gradient_functions_leave_read_only_inputs_alone() -> None:
    rng = np.random.default_rng(0)
    g, u, v = (ro(rng.standard_normal((3, 4))) for _ in range(3))
    for call in (
        lambda: relative_gradient_threshold(g),
        lambda: gradient_dropping_identity(g),
        lambda: gradient_dropping_identity_vjp(g, u).grad_x,
        lambda: topk_error_feedback(g, u, k=5).sent,
        lambda: dgc_momentum_correction(g, u, v, k=5).sent,
    ):
        a, b = call(), call()
        assert a.flags.writeable and np.array_equal(bits(a), bits(b))
