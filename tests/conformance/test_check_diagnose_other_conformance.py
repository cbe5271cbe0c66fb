"""refquant.check's diagnose_cast / diagnose_mask / diagnose_vjp on actuals from the real systems.

* casts: ml_dtypes ``astype``, PyTorch ``tensor.to``, ONNX Runtime's Cast
  (``saturate`` 1 and 0) and ``onnx.reference``, from float32 and float64,
  on tie-dense inputs (every grid value and midpoint, one ulp either side,
  overflow, ±inf, NaN, ±0, subnormals; float64 values that float32 rounds
  onto a midpoint). What was measured: PyTorch's float8_e4m3fn saturates
  (overflow and ±inf give ±448), e5m2 and the fnuz types do not; PyTorch and
  ONNX Runtime round a float64 input to float32 first, ml_dtypes and
  ``onnx.reference`` round once.
* masks: ``torch.nn.utils.prune`` (l1_unstructured, ln_structured,
  global_unstructured, a second round on a pruned module, a direct
  ``compute_mask`` call, equal magnitudes: ``torch.topk`` prunes the right
  count of tied entries in an order that is neither index order, which the
  diagnosis names ``ties="any"``).
* gradients: PyTorch autograd (a smooth function, fake-quant, ``clamp``,
  ``hardtanh``) and TensorFlow (``clip_by_value``, FakeQuantWithMinMaxVars).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from refquant.check.diagnose_cast import diagnose_cast
from refquant.check.diagnose_mask import diagnose_mask
from refquant.check.diagnose_vjp import diagnose_vjp
from refquant.check.inputs import mask_inputs
from refquant.grad.ste import clipped_ste_vjp, fake_quantize_vjp
from refquant.prune import structured_mask
from refquant.qparams import nudge_range
from refquant.quantize import fake_quantize
from tests.check.test_diagnose_cast import double_rounding, tie_dense

torch = pytest.importorskip("torch")
ml_dtypes = pytest.importorskip("ml_dtypes")
P = pytest.importorskip("torch.nn.utils.prune")

F8 = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz"]
ML = [
    *F8,
    "bfloat16",
    "float8_e4m3",
    "float8_e3m4",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
    "float8_e8m0fnu",
]


@pytest.fixture(scope="module", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


def _ml(x: np.ndarray, fmt: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(getattr(ml_dtypes, fmt)).astype(np.float64)


def _torch(x: np.ndarray, fmt: str) -> np.ndarray:
    return torch.from_numpy(x).to(getattr(torch, fmt)).to(torch.float64).numpy()


# ----------------------------------------------------------------------------- casts


@pytest.mark.parametrize("fmt", ML)
def test_ml_dtypes_is_the_reference_and_its_float32_detour_is_named(fmt: str) -> None:
    x = tie_dense(fmt)
    d = diagnose_cast(x, _ml(x, fmt), fmt)
    assert d.matches_reference, str(d)
    assert f"ml_dtypes x.astype(ml_dtypes.{fmt})" in d.systems
    x64 = double_rounding(fmt)
    assert diagnose_cast(x64, _ml(x64, fmt), fmt).matches_reference  # one rounding from float64
    with np.errstate(over="ignore"):
        x32 = x64.astype(np.float32)
    via = diagnose_cast(x64, _ml(x32, fmt), fmt)
    assert via.explained_by == {"via": "float32"}, str(via)


@pytest.mark.parametrize("fmt", [*F8, "bfloat16", "float16"])
def test_torch_to(fmt: str) -> None:
    x = tie_dense(fmt)
    d = diagnose_cast(x, _torch(x, fmt), fmt)
    torch_name = f"PyTorch tensor.to(torch.{fmt})"
    if fmt == "float8_e4m3fn":
        assert d.explained_by == {"saturate": True}, str(d)
    else:
        assert d.matches_reference, str(d)
    assert torch_name in d.systems
    x64 = double_rounding(fmt)
    d = diagnose_cast(x64, _torch(x64, fmt), fmt)
    want = {"saturate": True, "via": "float32"} if fmt == "float8_e4m3fn" else {"via": "float32"}
    assert d.explained_by == want, str(d)
    assert torch_name in d.systems


def _ort_cast(x: np.ndarray, fmt: str, saturate: int) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    to = {
        "float8_e4m3fn": TensorProto.FLOAT8E4M3FN,
        "float8_e5m2": TensorProto.FLOAT8E5M2,
        "float8_e4m3fnuz": TensorProto.FLOAT8E4M3FNUZ,
        "float8_e5m2fnuz": TensorProto.FLOAT8E5M2FNUZ,
        "bfloat16": TensorProto.BFLOAT16,
        "float16": TensorProto.FLOAT16,
    }[fmt]
    src = TensorProto.DOUBLE if x.dtype == np.float64 else TensorProto.FLOAT
    attrs = {"saturate": saturate} if fmt.startswith("float8") else {}
    nodes = [
        helper.make_node("Cast", ["x"], ["q"], to=to, **attrs),
        helper.make_node("Cast", ["q"], ["y"], to=TensorProto.DOUBLE),
    ]
    graph = helper.make_graph(
        nodes,
        "cast",
        [helper.make_tensor_value_info("x", src, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, list(x.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {"x": x})[0])


@pytest.mark.parametrize("fmt", F8)
@pytest.mark.parametrize("saturate", [1, 0])
def test_onnxruntime_cast(fmt: str, saturate: int) -> None:
    name = f"ONNX Runtime Cast saturate={saturate}"
    x = tie_dense(fmt)
    d = diagnose_cast(x, _ort_cast(x, fmt, saturate), fmt)
    assert d.explained_by == ({"saturate": True} if saturate else {}), str(d)
    assert name in d.systems and f"ONNX Cast saturate={saturate} (onnx.reference)" in d.systems
    x64 = double_rounding(fmt)
    d = diagnose_cast(x64, _ort_cast(x64, fmt, saturate), fmt)
    assert d.explained_by == ({"saturate": True, "via": "float32"} if saturate else {"via": "float32"}), str(
        d
    )
    assert name in d.systems and "ONNX Cast saturate=1 (onnx.reference)" not in d.systems


@pytest.mark.parametrize("fmt", ["bfloat16", "float16"])
def test_onnxruntime_cast_16_bit_rounds_float64_through_float32(fmt: str) -> None:
    x64 = double_rounding(fmt)
    d = diagnose_cast(x64, _ort_cast(x64, fmt, 1), fmt)
    assert d.explained_by == {"via": "float32"} and f"ONNX Runtime Cast to {fmt}" in d.systems


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2"])
def test_onnx_reference_cast_rounds_float64_once(fmt: str) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    to = {"float8_e4m3fn": TensorProto.FLOAT8E4M3FN, "float8_e5m2": TensorProto.FLOAT8E5M2}[fmt]
    x64 = double_rounding(fmt)
    nodes = [
        helper.make_node("Cast", ["x"], ["q"], to=to, saturate=1),
        helper.make_node("Cast", ["q"], ["y"], to=TensorProto.DOUBLE),
    ]
    graph = helper.make_graph(
        nodes,
        "cast",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, list(x64.shape))],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, list(x64.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    assert onnx.__version__
    y = np.asarray(ReferenceEvaluator(model).run(None, {"x": x64})[0])
    d = diagnose_cast(x64, y, fmt)
    assert d.explained_by == {"saturate": True}, str(d)
    assert (
        "ONNX Cast saturate=1 (onnx.reference)" in d.systems
        and "ONNX Runtime Cast saturate=1" not in d.systems
    )


# ----------------------------------------------------------------------------- masks


def _holder(w: np.ndarray) -> Any:
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(torch.from_numpy(np.array(w)))
    return m


def _mask(module: Any) -> np.ndarray:
    return module.weight_mask.detach().numpy().astype(bool)


def _tie_free(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    while True:
        w = rng.standard_normal(shape).astype(np.float32)
        if np.unique(np.abs(w)).size == w.size:
            return w


@pytest.mark.parametrize("amount", [0.25, 0.35, 0.5, 7, 0.9])
def test_torch_l1_unstructured_and_a_second_round(amount: Any) -> None:
    w = _tie_free(np.random.default_rng(0), (6, 10))
    m = _holder(w)
    P.l1_unstructured(m, "weight", amount)
    first = _mask(m)
    d = diagnose_mask(w, first, amount)
    assert d.matches_reference and d.systems[0] == "PyTorch torch.nn.utils.prune.l1_unstructured"
    assert diagnose_mask(w, first, amount, kind="unstructured").total == 60
    P.l1_unstructured(m, "weight", 0.5)  # again, through PruningContainer: relative to the remaining
    d = diagnose_mask(w, _mask(m), 0.5, existing_mask=first)
    assert d.matches_reference and "PyTorch torch.nn.utils.prune.l1_unstructured" in d.systems


def test_torch_compute_mask_called_directly_ignores_the_old_mask() -> None:
    rng = np.random.default_rng(1)
    w = _tie_free(rng, (8, 9))
    old = (np.abs(w) < np.quantile(np.abs(w), 0.6)).astype(np.float32)  # the old mask pruned the largest
    method = P.L1Unstructured(0.5)
    got = method.compute_mask(torch.from_numpy(w), torch.from_numpy(old)).numpy().astype(bool)
    d = diagnose_mask(w, got, 0.5, existing_mask=old.astype(bool))
    assert d.explained_by is not None and not d.matches_reference, str(d)
    assert "PyTorch L1Unstructured.compute_mask called directly" in d.systems


@pytest.mark.parametrize(("dim", "n"), [(1, 1), (0, math.inf), (1, 2), (2, 1), (0, 1), (1, math.inf)])
def test_torch_ln_structured_names_axis_and_norm(dim: int, n: float) -> None:
    w = np.random.default_rng(3).standard_normal((24, 20, 6)).astype(np.float32)
    m = _holder(w)
    P.ln_structured(m, "weight", amount=0.4, n=n, dim=dim)
    got = _mask(m)
    d = diagnose_mask(w, got, 0.4, kind="structured")  # the reference: axis 0, L2
    want = {k: v for k, v in (("axis", dim), ("p", n)) if v != {"axis": 0, "p": 2}[k]}
    assert not np.array_equal(structured_mask(w, 0.4, axis=dim), got) or n == 2  # the norm is told apart
    assert d.explained_by == want, str(d)
    assert "PyTorch torch.nn.utils.prune.ln_structured" in d.systems


def test_torch_global_unstructured() -> None:
    rng = np.random.default_rng(3)
    ws = [_tie_free(rng, (4, 5)), _tie_free(rng, (7,))]
    mods = [_holder(w) for w in ws]
    P.global_unstructured([(m, "weight") for m in mods], pruning_method=P.L1Unstructured, amount=0.45)
    d = diagnose_mask(ws, [_mask(m) for m in mods], 0.45)
    assert d.matches_reference and d.systems[0] == "PyTorch torch.nn.utils.prune.global_unstructured"
    d = diagnose_mask(ws, [_mask(m) for m in mods], 0.45, kind="global")
    assert d.total == 27


def _expected_ties(scores: np.ndarray, got: np.ndarray) -> tuple[dict[str, Any], np.ndarray, int]:
    """What the diagnosis must say of a mask that prunes the smallest scores, from its tied entries:
    ``{}`` if the pruned ones among those tied at the threshold are the first in index order,
    ``highest_index`` if the last, else an unspecified order; the tied entries, how many pruned."""
    flat, pruned = scores.reshape(-1), ~got.reshape(-1)
    assert flat[pruned].max() <= flat[~pruned].min()  # the smallest scores, whatever the order
    tied = np.flatnonzero(flat == flat[pruned].max())
    c = int(pruned[tied].sum())
    chosen = tied[pruned[tied]]
    if np.array_equal(chosen, tied[:c]):
        return {}, tied, c
    return (
        ({"ties": "highest_index"} if np.array_equal(chosen, tied[tied.size - c :]) else {"ties": "any"}),
        tied,
        c,
    )


def test_torch_ties_on_equal_magnitudes() -> None:
    w = np.full(10, 0.5, np.float32)
    m = _holder(w)
    P.l1_unstructured(m, "weight", 3)
    got = _mask(m)
    d = diagnose_mask(w, got, 3)
    assert int((~got).sum()) == 3
    want, _, _ = _expected_ties(np.abs(w), got)  # torch.topk's order among equal values: 6, 7, 8 in 2.13
    assert d.explained_by == want, str(d)
    if want == {"ties": "any"}:
        assert d.systems[0] == "PyTorch torch.nn.utils.prune.l1_unstructured"
        assert any("breaks the ties" in s for s in d.findings)


def test_torch_l1_unstructured_on_tied_magnitudes() -> None:
    # notebooks/06_oracle.ipynb's input: magnitudes j/8, j = 0..4, so the threshold 1/4 is shared
    w = mask_inputs((9, 7), rng=np.random.default_rng(1), levels=4)
    layer = torch.nn.Linear(7, 9, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    P.l1_unstructured(layer, "weight", amount=0.5)
    got = layer.weight_mask.numpy().astype(bool)
    assert int((~got).sum()) == round(0.5 * 63)  # torch's count: round
    want, tied, c = _expected_ties(np.abs(w), got)
    d = diagnose_mask(w, got, 0.5)
    assert d.explained_by == want and d.matches_reference == (want == {}), str(d)
    assert "PyTorch torch.nn.utils.prune.l1_unstructured" in (d.systems if want else d.systems[:1])
    if want == {"ties": "any"}:
        note = next(s for s in d.findings if "breaks the ties" in s)
        assert f"{c} of the {tied.size} entries tied at score {np.abs(w).reshape(-1)[tied[0]]}" in note
        first = ", ".join(str(tuple(int(v) for v in np.unravel_index(i, w.shape))) for i in tied[:8])
        assert f"tied: {first}" in note
        assert d.mismatches == 2 * int(np.count_nonzero(got.reshape(-1)[tied[:c]]))


def test_torch_ln_structured_and_global_on_ties() -> None:
    # rows that share a template have equal norms (mask_inputs' structured variant)
    w = mask_inputs((24, 3), rng=np.random.default_rng(0), levels=3, axis=0)  # torch 2.13: ties="any"
    m = _holder(w)
    P.ln_structured(m, "weight", amount=0.5, n=1, dim=0)
    got = _mask(m)
    want, _, _ = _expected_ties(np.abs(w).sum(axis=1), got[:, 0])  # exact: multiples of 1/8
    d = diagnose_mask(w, got, 0.5, kind="structured", p=1)
    assert d.explained_by == want, str(d)
    assert "PyTorch torch.nn.utils.prune.ln_structured" in d.systems or want == {}
    ws = [
        mask_inputs((5, 6), rng=np.random.default_rng(6), levels=3),
        mask_inputs((11,), rng=np.random.default_rng(7)),
    ]
    mods = [_holder(x) for x in ws]
    P.global_unstructured([(q, "weight") for q in mods], pruning_method=P.L1Unstructured, amount=0.45)
    got_all = np.concatenate([_mask(q).reshape(-1) for q in mods])
    want, _, _ = _expected_ties(np.abs(np.concatenate([x.reshape(-1) for x in ws])), got_all)
    d = diagnose_mask(ws, [_mask(q) for q in mods], 0.45)
    assert d.explained_by == want, str(d)
    assert "PyTorch torch.nn.utils.prune.global_unstructured" in d.systems or want == {}


# ----------------------------------------------------------------------------- gradients


def _torch_vjp(fn: Any) -> Any:
    def vjp(g: np.ndarray, x: np.ndarray, *rest: Any) -> np.ndarray:
        t = torch.tensor(x, requires_grad=True)
        fn(t, *rest).backward(torch.tensor(np.asarray(g, x.dtype)))
        return t.grad.numpy()

    return vjp


def test_torch_autograd_of_a_smooth_function_matches_central_differences() -> None:
    x, w = np.random.default_rng(4).normal(size=(2, 3, 4))

    def vjp(g: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        torch.tanh(tx * tw**2).backward(torch.tensor(g))
        return tx.grad.numpy(), tw.grad.numpy()

    d = diagnose_vjp(lambda x, w: np.tanh(x * w**2), vjp, (x, w))
    assert d.matches_reference, str(d)
    wrong = lambda g, x, w: vjp(g, x, w)[::-1]  # noqa: E731
    assert diagnose_vjp(lambda x, w: np.tanh(x * w**2), wrong, (x, w)).explained_by == {
        "x": "the gradient of w (gradients in the wrong order)",
        "w": "the gradient of x (gradients in the wrong order)",
    }


FQ_X = (np.arange(-12, 34, dtype=np.float32) / 8).astype(np.float32)  # steps of 1/8: ties and the bounds


def test_torch_fake_quantize_backward_is_the_code_domain_ste() -> None:
    vjp = _torch_vjp(lambda t, s, z, lo, hi: torch.fake_quantize_per_tensor_affine(t, s, z, lo, hi))
    args = (FQ_X, 0.25, 2, 0, 10)
    d = diagnose_vjp(fake_quantize, vjp, args, argnums=0)
    assert d.matches_reference and d.systems == (
        "PyTorch fake_quantize_per_tensor_affine / per_channel_affine backward",
    )
    ref = lambda g, *a: fake_quantize_vjp(g, *a, estimator="clipped_float")  # noqa: E731
    import functools

    d = diagnose_vjp(
        None,
        vjp,
        args,
        reference_vjp=functools.partial(fake_quantize_vjp, estimator="clipped_float"),
        argnums=0,
    )
    assert d.explained_by == {"estimator": "clipped_code"}, str(d)
    assert d.systems == ("PyTorch fake_quantize_per_tensor_affine / per_channel_affine backward",)
    assert ref(np.ones(3), np.zeros(3), 0.25, 2, 0, 10).grad_x.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("fn", "want", "system"),
    [
        (
            lambda t, lo, hi: t.clamp(lo, hi),
            {"cotangent": "select"},
            "torch.clamp backward, tf.clip_by_value gradient",
        ),
        (
            lambda t, lo, hi: torch.nn.functional.hardtanh(t, lo, hi),
            {"bounds": "(lo, hi)", "cotangent": "select"},
            "torch.nn.functional.hardtanh backward",
        ),
    ],
)
def test_torch_clamp_and_hardtanh_boundaries(fn: Any, want: dict[str, str], system: str) -> None:
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    d = diagnose_vjp(None, _torch_vjp(fn), (x, -1.0, 1.0), reference_vjp=clipped_ste_vjp, argnums=0)
    assert d.explained_by == want, str(d)
    assert system in d.systems


def test_tensorflow_clip_by_value_and_fake_quant_gradients() -> None:
    tf = pytest.importorskip("tensorflow")
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], np.float32)

    def clip_vjp(g: np.ndarray, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = tf.clip_by_value(t, lo, hi)
        return tape.gradient(y, t, output_gradients=tf.constant(np.asarray(g, np.float32))).numpy()

    d = diagnose_vjp(None, clip_vjp, (x, -1.0, 1.0), reference_vjp=clipped_ste_vjp, argnums=0)
    assert (
        d.explained_by == {"cotangent": "select"}
        and "torch.clamp backward, tf.clip_by_value gradient" in d.systems
    )
    lo, hi, _, _ = nudge_range(np.float32(-1.0), np.float32(1.0), 0, 255)
    xs = np.concatenate(
        [x, [float(lo), float(hi), np.nextafter(hi, np.float32(2)), np.nextafter(lo, np.float32(-2))]]
    )
    xs = xs.astype(np.float32)

    def fq_vjp(g: np.ndarray, x: np.ndarray, lo_: Any, hi_: Any) -> np.ndarray:
        r = tf.quantization.fake_quant_with_min_max_vars_gradient(
            tf.constant(np.asarray(g, np.float32)), x, -1.0, 1.0
        )
        return r[0].numpy()

    d = diagnose_vjp(None, fq_vjp, (xs, lo, hi), reference_vjp=clipped_ste_vjp, argnums=0)
    assert d.matches_reference, str(d)
    assert "TF FakeQuantWithMinMaxVars gradient (on its nudged range)" in d.systems
