"""Hostile inputs to the gradient layer: hand-derived values or clear errors (issue 8, section 2)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.grad import (
    clipped_ste_vjp,
    dorefa_activation,
    dorefa_weight,
    dorefa_weight_vjp,
    fake_quantize_vjp,
    lsq_fake_quantize,
    lsq_fake_quantize_vjp,
    minmax_normalize,
    minmax_normalize_vjp,
    pact,
    pact_vjp,
    quantize_k,
)


def test_levels_exact_for_every_k_in_float16() -> None:
    # 2**16 - 1 = 65535 overflows float16 (max 65504); refquant forms it in float64.
    # round(65535 * 0.5) = round(32767.5) = 32768 (half to even), 32768 / 65535 = 0.5000076..., 0.5 in float16
    r = quantize_k(np.array([0.0, 0.5, 1.0], np.float16), 16)
    assert r.dtype == np.float16 and r.tolist() == [0.0, 0.5, 1.0]
    a = dorefa_activation(np.array([-1.0, 0.5, 2.0], np.float16), 24)
    assert a.dtype == np.float16 and a.tolist() == [0.0, 0.5, 1.0]
    # 2**32 - 1 is exact in float64: round(4294967295 * 0.25) = 1073741824 (x.75 rounds up) -> 0.25000000005..
    assert quantize_k([0.25], 32).tolist() == [1073741824 / 4294967295]


def test_quantize_k_keeps_huge_values_finite() -> None:
    # |r| >= 2**52: already a multiple of 1/n after the product, returned as is (was inf)
    assert quantize_k([1.7e308, -1.7e308], 3).tolist() == [1.7e308, -1.7e308]
    assert quantize_k(np.array([3e38], np.float32), 8).tolist() == [float(np.float32(3e38))]


def test_pact_with_a_subnormal_alpha() -> None:
    a = float(np.float32(1e-45))  # 2**-149, the smallest float32 subnormal
    x = np.array([0.0, a, 1.0], np.float32)
    # clip(x, 0, a) / a = [0, 1, 1]; round(15 u) / 15 * a = [0, a, a] (n / a overflowed before)
    assert pact(x, a, 4).tolist() == [0.0, a, a]
    r = pact_vjp(np.ones(3, np.float32), x, a, 4)
    assert r.grad_x.tolist() == [1.0, 0.0, 0.0] and float(r.grad_alpha) == 2.0


def test_pact_grad_alpha_overflow_is_an_error() -> None:
    g, x = np.array([3e38, 3e38], np.float32), np.array([5.0, 5.0], np.float32)
    with pytest.raises(
        ValueError,
        match=r"the alpha gradient = 6.0000000\d*e\+38 overflows x's dtype float32 .*max \|g\| = 3e\+38",
    ):
        pact_vjp(g, x, 2.0, 4)  # 3e38 + 3e38 = 6e38 > 3.4e38 (was inf)


def test_dorefa_weight_vjp_keeps_the_weight_dtype() -> None:
    w = np.array([-0.3, 0.1, 2.0], np.float32)
    for tm in (True, False):
        assert dorefa_weight_vjp(w, w, 4, through_max=tm).dtype == np.float32  # was float64
    assert dorefa_weight_vjp(w.astype(np.float16), w.astype(np.float16), 8).dtype == np.float16
    with pytest.raises(TypeError, match="through_max must be a bool, got 'False'"):
        dorefa_weight_vjp(w, w, 4, through_max="False")  # type: ignore[arg-type]


def test_dorefa_weight_one_bit_mean_without_overflow() -> None:
    # mean(|w|) = (1e308 + 1.7e308) / 2 = 1.35e308 (the plain sum overflows)
    np.testing.assert_allclose(dorefa_weight([1e308, -1.7e308], 1), [1.35e308, -1.35e308], rtol=1e-15)


def test_vjps_reject_what_their_forwards_reject() -> None:
    g, x = np.ones(3), np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="quant_min must be < quant_max, got quant_min=3, quant_max=3"):
        fake_quantize_vjp(g, x, 0.1, 3, 3, 3)
    with pytest.raises(ValueError, match=r"zero_point must hold integers, got \[3.5\]"):
        fake_quantize_vjp(g, x, 0.1, 3.5, 0, 15)
    with pytest.raises(ValueError, match="quant_min must be < quant_max"):
        lsq_fake_quantize_vjp(g, x, 0.5, 3, 3)
    with pytest.raises(ValueError, match=r"op_order must be one of .* got 'bogus'"):
        fake_quantize_vjp(g, x, 0.1, 0, 0, 15, op_order="bogus")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="compute_dtype must be a float dtype, got 'bogus'"):
        fake_quantize_vjp(g, x, 0.1, 0, 0, 15, compute_dtype="bogus")
    # NaN: the forward's default nan="raise", so the vjp's; another policy gives the constant code's 0
    xn = np.array([0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match=r"x contains NaN \(at flat index 1\)"):
        fake_quantize_vjp(g, xn, 0.1, 0, 0, 15)
    assert fake_quantize_vjp(g, xn, 0.1, 0, 0, 15, nan="zero_point").grad_x.tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="x contains NaN"):
        lsq_fake_quantize(xn, 0.5, -4, 3)  # as its vjps


def test_lsq_scalar_arguments_show_their_values() -> None:
    x32 = np.array([0.1, 0.2], np.float32)
    with pytest.raises(ValueError, match=r"step=1.7e\+308 overflows x's dtype float32"):
        lsq_fake_quantize(x32, 1.7e308, -4, 3)
    with pytest.raises(TypeError, match=r"grad_scale must be a real scalar, got .0\.5."):
        lsq_fake_quantize_vjp(np.ones(2), [0.1, 0.2], 0.5, -4, 3, grad_scale="0.5")  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"the step gradient = .* overflows x's dtype float32 \(grad_scale=1e\+300"
    ):
        lsq_fake_quantize_vjp(np.ones(2, np.float32), x32, 0.5, -4, 3, grad_scale=1e300)
    with pytest.raises(TypeError, match=r"offset must be a real scalar, got \[0.5\]"):
        lsq_fake_quantize(x32, 0.5, -4, 3, offset=[0.5])


def test_clipped_ste_bounds() -> None:
    with pytest.raises(ValueError, match=r"lo must not be NaN, got \[nan\]"):
        clipped_ste_vjp([1.0], [0.0], np.nan, 1.0)
    with pytest.raises(ValueError, match=r"lo must be <= hi, got lo=1e\+300 > hi=1.0"):
        clipped_ste_vjp([1.0], [0.0], 1e300, 1.0)
    # infinite bounds are no bounds: [-inf <= x <= inf] passes every finite x
    assert clipped_ste_vjp([1.0, 2.0], [-1e300, 5.0], -np.inf, np.inf).grad_x.tolist() == [1.0, 2.0]


def test_minmax_normalize_range_beyond_float64() -> None:
    x = [-1e308, 0.0, 1e308]  # max - min = 2e308 overflows; the halved terms do not
    assert minmax_normalize(x).tolist() == [0.0, 0.5, 1.0]
    # g = e_1: S = 1, T = sum g y = 0.5, D = 2e308: grad = g / D + (T - S) / D e_0 - T / D e_2
    np.testing.assert_allclose(
        minmax_normalize_vjp([0.0, 1.0, 0.0], x).grad_x, [-2.5e-309, 5e-309, -2.5e-309], rtol=1e-12, atol=0
    )
    with pytest.raises(TypeError, match="through_range must be a bool, got 'False'"):
        minmax_normalize_vjp([1.0, 0.0], [0.0, 1.0], through_range="False")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x is constant \(every element 2.0, shape \(\)\)"):
        minmax_normalize(2.0)


def test_clipped_code_vjp_rejects_an_overflowing_reciprocal_as_its_forward_does() -> None:
    """1/1e-40 overflows float32: the forward raises for op_order='multiply', and so does its vjp."""
    from refquant.quantize import fake_quantize

    x = np.array([1e-40, 0.0], np.float32)
    s = np.float32(1e-40)
    with pytest.raises(ValueError, match="finite reciprocal"):
        fake_quantize(x, s, 0, -128, 127, op_order="multiply")
    with pytest.raises(ValueError, match="finite reciprocal"):
        fake_quantize_vjp(np.ones(2, np.float32), x, s, 0, -128, 127, op_order="multiply")
