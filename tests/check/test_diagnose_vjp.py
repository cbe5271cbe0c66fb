"""refquant.check.diagnose_vjp: the classic slips and every STE convention (and pair) are named.

The wrong backward passes are written here by hand (the errors that
tests/check/test_gradcheck.py makes check_vjp catch), and the STE variants
are this file's own NumPy masks of each convention of docs/spec/gradients.md.
PyTorch's and TensorFlow's real gradients are in
tests/conformance/test_check_diagnose_other_conformance.py.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest

from refquant.check.diagnose_vjp import diagnose_vjp
from refquant.grad.ste import clipped_ste_vjp, fake_quantize_vjp, ste_vjp
from refquant.quantize import fake_quantize

Array = Any


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def linear(x: Array, W: Array, b: Array) -> Array:
    return x @ W.T + b


def linear_vjp(g: Array, x: Array, W: Array, b: Array) -> tuple[Array, Array, Array]:
    return g @ W, g.T @ x, g.sum(axis=0)


def product(x: Array, y: Array) -> Array:
    return x * y**2


def product_vjp(g: Array, x: Array, y: Array) -> tuple[Array, Array]:
    return g * y**2, 2 * g * x * y


@pytest.fixture
def lin() -> tuple[Array, Array, Array]:
    r = _rng(7)
    return r.normal(size=(4, 3)), r.normal(size=(5, 3)), r.normal(size=5)


# --------------------------------------------------------------------------- the classic slips


def test_correct_vjps_match(lin: tuple[Array, Array, Array]) -> None:
    d = diagnose_vjp(linear, linear_vjp, lin)
    assert d.matches_reference and d.explained_by == {} and d.mismatches == 0 and d.unit == "relative"
    assert d.total == 2 * (12 + 15 + 5)
    assert str(d) == f"vjp: all {d.total} elements match the reference."


@pytest.mark.parametrize(
    ("slip", "name"),
    [
        (lambda g, x, W, b: (g @ W, -(g.T @ x), g.sum(axis=0)), {"W": "wrong sign"}),
        (lambda g, x, W, b: (g @ W, 2 * g.T @ x, g.sum(axis=0)), {"W": "factor 2"}),
        (lambda g, x, W, b: (g @ W / 2, g.T @ x, g.sum(axis=0)), {"x": "factor 1/2"}),
        (
            lambda g, x, W, b: (g @ W, g.T @ x, g.mean(axis=0)),
            {"b": "factor 1/4"},
        ),  # mean over the batch of 4
        (lambda g, x, W, b: (g @ W, g.T @ x, 0 * b), {"b": "zero (the gradient is missing)"}),
        (lambda g, x, W, b: (g @ W, x.T @ g, g.sum(axis=0)), {"W": "transposed"}),
        (lambda g, x, W, b: (g @ W, -(x.T @ g), g.sum(axis=0)), {"W": "transposed, wrong sign"}),
        (lambda g, x, W, b: (-g @ W, g.T @ x, 2 * g.sum(axis=0)), {"x": "wrong sign", "b": "factor 2"}),
    ],
)
def test_named_slips(lin: tuple[Array, Array, Array], slip: Any, name: dict[str, str]) -> None:
    d = diagnose_vjp(linear, slip, lin)
    assert d.explained_by == name, str(d)
    assert not d.matches_reference and d.mismatches > 0 and d.searched > 0


def test_transposed_operand_in_the_input_gradient() -> None:
    r = _rng(3)
    args = r.normal(size=(4, 3)), r.normal(size=(3, 3)), r.normal(size=3)
    d = diagnose_vjp(linear, lambda g, x, W, b: (g @ W.T, g.T @ x, g.sum(axis=0)), args)
    assert d.explained_by == {"x": "computed with W transposed"}


def test_gradients_in_the_wrong_order() -> None:
    x, y = _rng().normal(size=(2, 3))
    d = diagnose_vjp(product, lambda g, x, y: product_vjp(g, x, y)[::-1], (x, y))
    assert d.explained_by == {
        "x": "the gradient of y (gradients in the wrong order)",
        "y": "the gradient of x (gradients in the wrong order)",
    }


def test_gradients_in_the_wrong_order_with_different_shapes(lin: tuple[Array, Array, Array]) -> None:
    x, _, b = lin
    W4 = _rng(5).normal(size=(4, 3))  # x and W of the same shape (4, 3)
    d = diagnose_vjp(linear, lambda g, x, W, b: (g.T @ x, g @ W, g.sum(axis=0)), (x, W4, b[:4]))
    assert d.explained_by == {
        "x": "the gradient of W (gradients in the wrong order)",
        "W": "the gradient of x (gradients in the wrong order)",
    }


def test_arguments_read_in_the_wrong_order() -> None:
    x = _rng().normal(size=(2, 3))
    d = diagnose_vjp(np.tanh, lambda x, g: g * (1 - np.tanh(x) ** 2), (x,))
    assert d.explained_by == {"argument_order": "g <-> x"}
    xs, ys = _rng(2).normal(size=(2, 4))

    def swapped(
        g: Array, y: Array, x: Array
    ) -> tuple[Array, Array]:  # written for f(y, x), called with (x, y)
        return 2 * g * x * y, g * y**2

    d = diagnose_vjp(product, swapped, (xs, ys))
    assert d.explained_by == {"argument_order": "x <-> y"}


def test_missing_product_rule_term_is_reported_not_explained() -> None:
    x = _rng().normal(size=(2, 3))
    d = diagnose_vjp(lambda x: x * np.sin(x), lambda g, x: g * x * np.cos(x), (x,))
    assert d.explained_by is None and not d.matches_reference
    assert any(
        s.startswith("x: not a multiple of the reference gradient") and "missing or extra term" in s
        for s in d.findings
    )
    text = str(d)
    assert "No searched setting reproduces it exactly" in text and "argument=x" in text


def test_missing_term_among_other_named_slips(lin: tuple[Array, Array, Array]) -> None:
    d = diagnose_vjp(linear, lambda g, x, W, b: (g @ W + x, -(g.T @ x), g.sum(axis=0)), lin)
    assert d.explained_by is None
    assert any(s.startswith("x: not a multiple") for s in d.findings)
    assert "Other arguments: W: wrong sign." in d.findings


def test_reference_vjp_given_and_exact_tolerance() -> None:
    x = np.linspace(-2, 2, 9)
    ref = lambda g, x: g * (1 - np.tanh(x) ** 2)  # noqa: E731
    d = diagnose_vjp(None, lambda g, x: -ref(g, x), (x,), reference_vjp=ref, rtol=0, atol=0)
    assert d.explained_by == {"x": "wrong sign"}
    assert diagnose_vjp(np.tanh, ref, (x,), reference_vjp=ref, rtol=0, atol=0).matches_reference


# --------------------------------------------------------------------------- STE conventions


def _mask(x: Array, lo: Array, hi: Array, bounds: str) -> Array:
    left = x >= lo if bounds[0] == "[" else x > lo
    right = x <= hi if bounds[-1] == "]" else x < hi
    return left & right


def _apply(g: Array, mask: Array, cotangent: str) -> Array:
    with np.errstate(invalid="ignore"):
        return g * mask if cotangent == "multiply" else np.where(mask, g, 0.0)


def _fq_variant(setting: dict[str, str]) -> Any:
    """A fake-quantize STE written with ``setting`` (this file's reading of the conventions)."""
    s = {"estimator": "clipped_code", "bounds": "[lo, hi]", "cotangent": "multiply", **setting}

    def vjp(g: Array, x: Array, scale: float, zp: int, qmin: int, qmax: int) -> Array:
        if s["estimator"] == "identity":
            mask = np.ones(x.shape, bool)
        elif s["estimator"] == "clipped_code":
            code = np.round(x / scale) + zp  # NumPy rounds half to even, as refquant's default
            mask = (code >= qmin) & (code <= qmax)
        else:
            mask = _mask(x, (qmin - zp) * scale, (qmax - zp) * scale, s["bounds"])
        return _apply(g, mask, s["cotangent"])

    return vjp


def _settings(estimators: tuple[str, ...], default: str) -> list[dict[str, str]]:
    out = []
    for est, b, c in itertools.product(
        estimators, ("[lo, hi]", "(lo, hi)", "[lo, hi)", "(lo, hi]"), ("multiply", "select")
    ):
        if (b != "[lo, hi]" and est != "clipped_float") or (est == "identity" and c == "select"):
            continue  # bounds only bound clipped_float; the identity masks nothing: select = multiply
        s = {
            k: v
            for k, v in (("estimator", est), ("bounds", b), ("cotangent", c))
            if v != {"estimator": default, "bounds": "[lo, hi]", "cotangent": "multiply"}[k]
        }
        if s:
            out.append(s)
    return out


FQ_X = np.array([-0.4, -0.3, -0.26, -0.25, -0.2, 0.0, 0.04, 0.6, 1.2, 1.24, 1.25, 1.26, 1.4], np.float64)
FQ_ARGS = (FQ_X, 0.25, 1, 0, 6)  # lo = -0.25, hi = 1.25 exactly


@pytest.mark.parametrize(
    "setting", _settings(("clipped_code", "clipped_float", "identity"), "clipped_code"), ids=str
)
def test_every_fake_quantize_convention_and_pair(setting: dict[str, str]) -> None:
    d = diagnose_vjp(fake_quantize, _fq_variant(setting), FQ_ARGS, argnums=0)
    assert d.explained_by == setting, str(d)
    # the same, with the reference given explicitly
    d2 = diagnose_vjp(None, _fq_variant(setting), FQ_ARGS, reference_vjp=fake_quantize_vjp, argnums=0)
    assert d2.explained_by == setting


@pytest.mark.parametrize("setting", _settings(("clipped_float", "identity"), "clipped_float"), ids=str)
def test_every_clipped_ste_convention_and_pair(setting: dict[str, str]) -> None:
    s = {"estimator": "clipped_float", "bounds": "[lo, hi]", "cotangent": "multiply", **setting}

    def vjp(g: Array, x: Array, lo: float, hi: float) -> Array:
        mask = np.ones(x.shape, bool) if s["estimator"] == "identity" else _mask(x, lo, hi, s["bounds"])
        return _apply(g, mask, s["cotangent"])

    x = np.array([-2.0, -1.0, -0.999, 0.0, 0.5, 0.999, 1.0, 3.0])
    d = diagnose_vjp(None, vjp, (x, -1.0, 1.0), reference_vjp=clipped_ste_vjp, argnums=0)
    assert d.explained_by == setting, str(d)


def test_ste_systems_and_the_default() -> None:
    d = diagnose_vjp(fake_quantize, _fq_variant({}), FQ_ARGS, argnums=0)
    assert d.matches_reference and d.systems == (
        "PyTorch fake_quantize_per_tensor_affine / per_channel_affine backward",
    )
    clamp = _fq_variant({"estimator": "clipped_float", "cotangent": "select"})
    d = diagnose_vjp(fake_quantize, clamp, FQ_ARGS, argnums=0)
    assert d.systems == ("torch.clamp backward, tf.clip_by_value gradient",)
    d = diagnose_vjp(
        fake_quantize, _fq_variant({"estimator": "clipped_float", "bounds": "[lo, hi)"}), FQ_ARGS, argnums=0
    )
    assert d.systems == ("PACT paper, gradient of x (lo = 0, hi = alpha)",)
    d = diagnose_vjp(fake_quantize, _fq_variant({"estimator": "identity"}), FQ_ARGS, argnums=0)
    assert d.explained_by == {"estimator": "identity"} and d.systems == ("plain STE (Bengio et al. 2013)",)


def test_ste_report_and_keywords_passed_through() -> None:
    x = np.array([[-1.0, 0.5, 7.4], [2.0, 3.2, -0.1]])  # 7.4 and 3.2: past hi by less than half a step
    scale, zp = np.array([1.0, 0.5]), np.array([0, 1])
    f = functools.partial(fake_quantize, axis=0)
    ref = functools.partial(fake_quantize_vjp, axis=0, estimator="clipped_float")

    def code_vjp(g: Array, x: Array, s: Array, z: Array, qmin: int, qmax: int) -> Array:
        c = np.round(x / s[:, None]) + z[:, None]
        return g * ((c >= qmin) & (c <= qmax))

    d = diagnose_vjp(f, code_vjp, (x, scale, zp, 0, 7), reference_vjp=ref, argnums=0)
    assert d.explained_by == {"estimator": "clipped_code"}
    text = str(d)
    assert "Explained exactly by: estimator='clipped_code'." in text
    assert "Systems with these settings: PyTorch fake_quantize_per_tensor_affine" in text
    assert "argument=x, index=(0, 2), cotangent=1, x=7.4, reference=0.0" in text


def test_cotangent_probe_rejected_is_reported() -> None:
    def strict(g: Array, x: Array, lo: float, hi: float) -> Array:
        if not np.all(np.isfinite(g)):
            raise ValueError("g must be finite")
        return np.where((x > lo) & (x < hi), g, 0.0)

    x = np.array([-1.0, 0.0, 1.0])
    d = diagnose_vjp(None, strict, (x, -1.0, 1.0), reference_vjp=clipped_ste_vjp, argnums=0)
    assert d.explained_by == {"bounds": "(lo, hi)"}
    assert any("rejects an infinite or NaN cotangent" in s for s in d.findings)


# --------------------------------------------------------------------------- arguments


def test_validation_inputs_untouched_and_determinism(lin: tuple[Array, Array, Array]) -> None:
    copies = [a.copy() for a in lin]
    wrong = lambda g, x, W, b: (g @ W, 2 * g.T @ x, g.sum(axis=0))  # noqa: E731
    assert diagnose_vjp(linear, wrong, lin) == diagnose_vjp(linear, wrong, lin)
    assert all(np.array_equal(a, c) for a, c in zip(lin, copies, strict=True))
    with pytest.raises(TypeError, match="f must be callable"):
        diagnose_vjp(None, linear_vjp, lin)
    with pytest.raises(ValueError, match="max_size"):
        diagnose_vjp(linear, linear_vjp, lin, max_size=10)
    with pytest.raises(ValueError, match="cotangent has shape"):
        diagnose_vjp(linear, linear_vjp, lin, cotangent=np.ones(3))
    with pytest.raises(TypeError, match="f_vjp must accept"):
        diagnose_vjp(linear, lambda g: g, lin)
    with pytest.raises(ValueError, match="rtol"):
        diagnose_vjp(linear, linear_vjp, lin, rtol=-1.0)
    d = diagnose_vjp(linear, lambda g, x, W, b: (g @ W, g.T @ x), lin, argnums=(0, 1, 2))
    assert d.explained_by is None and any("returns 2 gradients, the reference 3" in s for s in d.findings)
    one = diagnose_vjp(linear, wrong, lin, cotangent=np.ones((4, 5)))
    assert one.explained_by == {"W": "factor 2"} and one.total == 12 + 15 + 5
    assert diagnose_vjp(np.tanh, lambda g, x: ste_vjp(g, x).grad_x, (np.zeros(3),)).matches_reference
