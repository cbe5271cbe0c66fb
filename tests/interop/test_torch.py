"""Argument checks of refquant.interop.torch (the values are checked against torch in tests/conformance)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.interop import torch as rq

F32 = np.float32
X, G = np.array([0.5, 1.5], F32), np.ones(2, F32)


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf, 1e-50])  # 1e-50 is 0 in float32
def test_backward_ops_reject_the_scales_their_forwards_reject(scale: float) -> None:
    match = r"scale( \(rounded to the compute dtype\))? must be finite and > 0"
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_tensor_affine(X, scale, 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_tensor_affine_vjp(G, X, scale, 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.fake_quantize_per_channel_affine_vjp(G[None], X[None], [scale], [0], 0, 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [scale], [0.0], 0, 255)
    with pytest.raises(ValueError, match=match):
        rq.learnable_fake_quantize_per_channel_affine_vjp(G[None], X[None], [scale], [0.0], 0, 0, 255)


@pytest.mark.parametrize("zp", [np.nan, np.inf])
def test_learnable_ops_reject_a_non_finite_zero_point(zp: float) -> None:
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_tensor_affine(X, [1.0], [zp], 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [1.0], [zp], 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_channel_affine(X[None], [1.0], [zp], 0, 0, 255)
    with pytest.raises(ValueError, match="zero_point must be finite"):
        rq.learnable_fake_quantize_per_channel_affine_vjp(G[None], X[None], [1.0], [zp], 0, 0, 255)


def test_quantize_per_channel_keeps_inf_when_it_maps_nan() -> None:
    # NaN -> code 0 (x86-64's cast of NaN); +-inf * (1/s) is still +-inf with s = 3e38 and saturates,
    # whereas the float32 maximum 3.4e38 * (1/3e38) would be about 1.13 -> 1.
    x = np.array([[np.inf, -np.inf, np.nan, 1.0]], F32)
    assert rq.quantize_per_channel(x, [3e38], [0], 0, "qint8").tolist() == [[127, -128, 0, 0]]


def test_learnable_vjp_of_a_zero_d_input() -> None:
    # x = 0 with s = 1, z = 0: the code 0 is inside [0, 255], so dx = g = 1, d scale = g * (fq(x) - x) / s
    # = 0 and d zero_point = 0 (inside). (x = 0 takes fma_float32's subnormal-range path.)
    r = rq.learnable_fake_quantize_per_tensor_affine_vjp(F32(1.0), F32(0.0), [1.0], [0.0], 0, 255)
    assert float(r.grad_input) == 1.0 and np.shape(r.grad_input) == ()
    assert r.grad_scale.tolist() == [0.0] and r.grad_zero_point.tolist() == [0.0]


def test_fake_quantize_per_tensor_zero_point_must_be_an_int() -> None:
    from refquant.interop.torch import fake_quantize_per_tensor_affine

    with pytest.raises(TypeError, match="zero_point must be an int"):
        fake_quantize_per_tensor_affine([1.0], 1.0, 2.7, 0, 255)  # type: ignore[arg-type]
    assert fake_quantize_per_tensor_affine([1.0], 1.0, np.int64(2), 0, 255).tolist() == [1.0]


# -- hostile arguments: torch's types, float32 limits, one rule for forward and vjp ------------------

FQ_TENSOR = (
    lambda s, z, lo, hi: rq.fake_quantize_per_tensor_affine(X, s, z, lo, hi),
    lambda s, z, lo, hi: rq.fake_quantize_per_tensor_affine_vjp(G, X, s, z, lo, hi),
)


@pytest.mark.parametrize("op", FQ_TENSOR)
@pytest.mark.parametrize(
    "scale,exc,shows",
    [
        ("0.1", TypeError, "'0.1'"),
        (True, TypeError, "True"),
        ([0.1], TypeError, "[0.1]"),
        (np.array([0.1]), TypeError, "(1,)"),
        (0.1 + 0j, TypeError, "0.1"),
        (None, TypeError, "None"),
        (1e-50, ValueError, "1e-50"),  # 0 in float32
        (1e39, ValueError, "1e+39"),  # inf in float32
        (3e38, ValueError, "3e+38"),  # (255 - 0) * 3e38 overflows float32 (torch returns inf)
    ],
)
def test_per_tensor_scale_types_and_float32_limits(op, scale, exc, shows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match="scale") as info:
        op(scale, 0, 0, 255)
    assert shows in str(info.value)


@pytest.mark.parametrize("op", FQ_TENSOR)
@pytest.mark.parametrize(
    "zp,exc,shows",
    [
        (3.5, TypeError, "3.5"),
        (3.0, TypeError, "3.0"),
        (True, TypeError, "True"),
        ("3", TypeError, "'3'"),
        (np.array([3]), TypeError, "(1,)"),
        (2**63, ValueError, str(2**63)),
        (256, ValueError, "256"),
    ],
)
def test_per_tensor_zero_point_must_be_an_int64_in_range(op, zp, exc, shows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match="zero_point") as info:
        op(1.0, zp, 0, 255)
    assert shows in str(info.value)
    with pytest.raises(exc, match="zero_point"):
        rq.quantize_per_tensor(X, 1.0, zp, "quint8")


@pytest.mark.parametrize("op", FQ_TENSOR)
@pytest.mark.parametrize(
    "lo,hi,exc,shows",
    [
        (5, 5, ValueError, "5"),
        (10, 0, ValueError, "10"),
        (0.5, 255, TypeError, "0.5"),
        (0, 255.0, TypeError, "255.0"),
        ("0", 255, TypeError, "'0'"),
        (0, True, TypeError, "True"),
        (0, 2**64, ValueError, str(2**64)),
    ],
)
def test_forward_and_vjp_reject_the_same_ranges(op, lo, hi, exc, shows) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match="quant_m") as info:
        op(1.0, 0 if isinstance(lo, str) else 5, lo, hi)
    assert shows in str(info.value)


def test_numpy_integer_arguments_and_0d_arrays_are_accepted() -> None:
    a = rq.fake_quantize_per_tensor_affine(X, np.array(1.0), np.array(3), np.int64(0), np.int64(255))
    assert a.tolist() == [0.0, 2.0]  # 3 + rint(0.5) = 3 -> 0; 3 + rint(1.5) = 5 -> 2
    assert rq.quantize_per_tensor(X, np.float32(1.0), np.int64(3), "quint8").tolist() == [
        4,
        4,
    ]  # fma: rint(3.5)


@pytest.mark.parametrize(
    "value,exc,shows",
    [
        (X.astype(np.float64), TypeError, "float64"),
        (X.astype(np.float16), TypeError, "float16"),
        (np.array([1, 2]), TypeError, "int64"),
        (np.array([True]), TypeError, "bool"),
        (X.astype(object), TypeError, "object"),
        (X.astype(str), TypeError, "<U"),
        ([0.5, 1e39], ValueError, "1e+39"),
    ],
)
def test_inputs_are_float32_arrays_or_python_numbers(value, exc, shows) -> None:  # type: ignore[no-untyped-def]
    for call in (
        lambda: rq.fake_quantize_per_tensor_affine(value, 1.0, 0, 0, 255),
        lambda: rq.quantize_per_tensor(value, 1.0, 0, "quint8"),
        lambda: rq.learnable_fake_quantize_per_tensor_affine(value, [1.0], [0.0], 0, 255),
    ):
        with pytest.raises(exc, match="input") as info:
            call()
        assert shows in str(info.value)
    with pytest.raises(exc, match="grad"):
        rq.fake_quantize_per_tensor_affine_vjp(value, np.ones(np.shape(value), F32), 1.0, 0, 0, 255)


def test_python_lists_scalars_views_and_empty_inputs() -> None:
    with pytest.raises(TypeError, match=r"input.*\[\[1.0\], \[1.0, 2.0\]\]"):
        rq.fake_quantize_per_tensor_affine([[1.0], [1.0, 2.0]], 1.0, 0, 0, 255)
    assert rq.fake_quantize_per_tensor_affine([0.5, 1.5], 1.0, 0, 0, 255).tolist() == [0.0, 2.0]
    assert rq.fake_quantize_per_tensor_affine(2.5, 1.0, 0, 0, 255).tolist() == 2.0  # 0-d out
    ro = np.array([0.5, 1.5], F32)
    ro.flags.writeable = False
    assert rq.fake_quantize_per_tensor_affine(ro, 1.0, 0, 0, 255).tolist() == [0.0, 2.0]
    strided = np.array([0.5, 9.0, 1.5, 9.0], F32)[::2]
    assert rq.quantize_per_tensor(strided, 1.0, 0, "quint8").tolist() == [0, 2]
    empty = np.zeros((0, 3), F32)
    assert rq.fake_quantize_per_channel_affine(empty, [1.0] * 3, [0] * 3, 1, 0, 255).shape == (0, 3)
    assert rq.quantize_per_channel(empty, [1.0] * 3, [0] * 3, 1, "qint8").dtype == np.int8


def test_subnormal_scales_mirror_torch_saturation() -> None:
    # 1.0f / 1e-40 is inf in float32: x > 0 -> quant_max, x < 0 and x = 0 (0 * inf = NaN) -> quant_min
    x = np.array([1e-40, -1.0, 0.0], F32)
    s = float(F32(1e-40))
    out = rq.fake_quantize_per_tensor_affine(x, 1e-40, 0, 0, 255)
    assert out.tolist() == [float(F32(255 * s)), 0.0, 0.0]
    assert rq.quantize_per_tensor(x, 1e-40, 0, "quint8").tolist() == [255, 0, 255]  # NaN -> quant_max (minps)
    assert rq.quantize_per_channel(x[:, None], [1e-40], [0], 1, "qint8").tolist() == [[127], [-128], [0]]
    assert (
        rq.fake_quantize_per_tensor_affine_vjp(np.ones(3, F32), x, 1e-40, 0, 0, 255).grad_input.tolist()
        == [0] * 3
    )


def test_per_channel_zero_points_must_be_integer_arrays() -> None:
    x = np.array([[0.5, 2.5]], F32)
    for zp, shows in (([0.5, 1.0], "0.5"), ([0.0, 1.0], "float64"), ([np.nan, 0], "nan")):
        with pytest.raises(TypeError, match="zero_point") as info:
            rq.fake_quantize_per_channel_affine(x, [1.0, 1.0], zp, 1, 0, 255)
        assert shows in str(info.value)
        with pytest.raises(TypeError, match="zero_point"):
            rq.fake_quantize_per_channel_affine_vjp(x, x, [1.0, 1.0], zp, 1, 0, 255)
    with pytest.raises(ValueError, match="300"):
        rq.quantize_per_channel(x, [1.0, 1.0], [0, 300], 1, "quint8")
    with pytest.raises(ValueError, match=r"\(2,\)"):
        rq.quantize_per_channel(x, [1.0, 1.0, 1.0], [0, 0], 1, "quint8")


@pytest.mark.parametrize(
    "axis,exc",
    [
        (2, ValueError),
        (-3, ValueError),
        (2**63, ValueError),
        (1.0, TypeError),
        (True, TypeError),
        (None, TypeError),
        ("0", TypeError),
    ],
)
def test_bad_axes_raise_alike_in_every_per_channel_op(axis, exc) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((2, 2), F32)
    for call in (
        lambda: rq.fake_quantize_per_channel_affine(x, [1.0, 1.0], [0, 0], axis, 0, 255),
        lambda: rq.fake_quantize_per_channel_affine_vjp(x, x, [1.0, 1.0], [0, 0], axis, 0, 255),
        lambda: rq.quantize_per_channel(x, [1.0, 1.0], [0, 0], axis, "quint8"),
        lambda: rq.learnable_fake_quantize_per_channel_affine(x, [1.0, 1.0], [0.0, 0.0], axis, 0, 255),
        lambda: rq.learnable_fake_quantize_per_channel_affine_vjp(x, x, [1.0, 1.0], [0.0, 0.0], axis, 0, 255),
    ):
        with pytest.raises(exc, match="axis") as info:
            call()
        assert repr(axis) in str(info.value) or str(axis) in str(info.value)


def test_learnable_forward_and_vjp_accept_the_same_arguments() -> None:
    # torch's learnable backward requires 0 in [quant_min, quant_max]; refquant's forward too
    for call in (
        lambda: rq.learnable_fake_quantize_per_tensor_affine(X, [0.5], [2.0], 1, 15),
        lambda: rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [0.5], [2.0], 1, 15),
    ):
        with pytest.raises(ValueError, match=r"\[1, 15\] must include 0"):
            call()
    for gf, exc in (
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("1", TypeError),
        (True, TypeError),
    ):
        with pytest.raises(exc, match="grad_factor"):
            rq.learnable_fake_quantize_per_tensor_affine(X, [0.5], [2.0], 0, 15, gf)
        with pytest.raises(exc, match="grad_factor"):
            rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, [0.5], [2.0], 0, 15, gf)
    with pytest.raises(ValueError, match=r"1e\+39"):
        rq.learnable_fake_quantize_per_tensor_affine(X, [0.5], [1e39], 0, 15)
    with pytest.raises(TypeError, match=r"'0.5'"):
        rq.learnable_fake_quantize_per_tensor_affine_vjp(G, X, "0.5", [2.0], 0, 15)


def test_calculate_qparams_hostile_ranges() -> None:
    with pytest.raises(TypeError, match=r"min_val.*'a'"):
        rq.calculate_qparams("a", 1.0)
    with pytest.raises(TypeError, match=r"min_val.*True"):
        rq.calculate_qparams(True, 1.0)
    with pytest.raises(ValueError, match=r"min_val.*1e\+39"):
        rq.calculate_qparams(-1e39, 1.0)
    with pytest.raises(ValueError, match="overflows float32"):  # torch: scale = inf
        rq.calculate_qparams(-3e38, 3e38)
    with pytest.raises(ValueError, match=r"min_val.*\(2, 2\)"):
        rq.calculate_qparams(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"reduce_range.*1"):
        rq.calculate_qparams(-1.0, 1.0, reduce_range=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"quant_min.*True"):
        rq.calculate_qparams(-1.0, 1.0, quant_min=True, quant_max=255)
    with pytest.raises(ValueError, match=r"eps.*1e\+39"):
        rq.calculate_qparams(-1.0, 1.0, eps=1e39)


def test_pruning_masks_hostile_arguments() -> None:
    w = np.array([[0.3, -0.1, 0.5], [0.2, -0.5, 0.05]])
    with pytest.raises(np.exceptions.AxisError, match="dim=2") as info:  # torch: IndexError
        rq.ln_structured_mask(w, 1, 2, 2)
    assert isinstance(info.value, ValueError) and isinstance(info.value, IndexError)
    with pytest.raises(TypeError, match=r"iterative.*'yes'"):
        rq.l1_unstructured_mask(w, 0.5, iterative="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"t contains NaN \(at index \(1,\)\)"):
        rq.l1_unstructured_mask(np.array([1.0, np.nan]), 0.5)
    with pytest.raises(ValueError, match=r"importance_scores\[1\] contains NaN"):
        rq.global_unstructured_masks([w, w], 0.5, importance_scores=[None, np.full(w.shape, np.nan)])
    with pytest.raises(ValueError, match="length 2"):
        rq.global_unstructured_masks([w], 0.5, importance_scores=[w, w])
    for n in (-1, float("nan"), True, "nuc"):
        with pytest.raises(ValueError, match="n"):
            rq.ln_structured_mask(w, 1, n, 0)
    for amount, exc in (
        (float("nan"), ValueError),
        (-0.1, ValueError),
        (1.1, ValueError),
        (7, ValueError),
        ("0.5", TypeError),
        (np.array(0.5), TypeError),
    ):
        with pytest.raises(exc, match="amount"):
            rq.l1_unstructured_mask(w, amount)  # type: ignore[arg-type]
