"""refquant.check.diagnose_quantize on actuals produced by the real frameworks, on tie-dense inputs.

Each system's codes (or dequantized floats) are diagnosed against refquant's
reference; the diagnosis must give the system's settings (or the simpler
equivalent it documents: PyTorch fake-quant's ``zero_point_add="after_rounding"``
equals the default for 8-bit codes) and name the system. Every case first
checks that the system really differs from the reference on the input
(otherwise the test would pass trivially), except ONNX Runtime and the ONNX
reference evaluator, which must match it.

Systems: torch (CPU) ``fake_quantize_per_tensor_affine``,
``fake_quantize_per_channel_affine``, ``quantize_per_tensor`` (quint8, qint8,
qint32), ``quantize_per_channel``; onnxruntime and ``onnx.reference``
``QuantizeLinear`` (a one-node model); TFLite's ``QUANTIZE`` op (tensorflow,
``tf.lite.Interpreter``) with the reference kernels and with the default ones.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from refquant.check.diagnose import diagnose_quantize
from refquant.quantize import quantize
from tests.conformance.tie_inputs import tie_dense

F32 = np.float32
# an awkward scale, and short-mantissa scales with inexact reciprocals (exact ties x = (k + 1/2) s)
SCALES = [0.0037, 0.00214854861, 63 / 1024, 49 / 1024]


def inputs(scale: float, seed: int = 0, huge: bool = True) -> np.ndarray:
    """Tie-dense float32 inputs for ``scale`` (the shared generator: ties, near-ties, clamp edges, signed
    zeros, huge values up to FLT_MAX), plus 1e3 and -1e3; ``huge=False`` drops |x/s| >= 2**31."""
    x = tie_dense(scale, 140, np.random.default_rng(seed), n_random=200)
    x = np.concatenate([x, F32([1e3, -1e3, 0.0])]).astype(F32)
    x = x[np.isfinite(x)]
    return x if huge else x[np.abs(x.astype(np.float64) / scale) < 2.0**31]


def has_huge(x: np.ndarray, scale: Any, bits: int) -> bool:
    """Whether some |x/s| reaches 2**(bits - 1) (where a C cast to that integer type overflows)."""
    return bool(np.any(np.abs(x.astype(np.float64) / np.asarray(scale, np.float64)) >= 2.0 ** (bits - 1)))


def _names(d: Any) -> str:
    return " | ".join(d.systems)


# ---------------------------------------------------------------- PyTorch

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("zp,qmin,qmax", [(3, 0, 255), (-7, -128, 127)])
def test_torch_fake_quantize_per_tensor_affine(scale: float, zp: int, qmin: int, qmax: int) -> None:
    x = inputs(scale)
    y = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), scale, zp, qmin, qmax).numpy()
    d = diagnose_quantize(x, y, scale, zp, qmin, qmax, dequantized=True)
    assert d.mismatches > 0, "torch agrees with the reference here: the input tells nothing"
    # x * fl(1/s), half-even, z after rounding in float32 (= exact for 8-bit codes): the single knob
    assert d.explained_by == {"op_order": "multiply"}, str(d)
    assert "PyTorch fake_quantize_per_tensor_affine" in _names(d)
    assert any("zero_point_add='after_rounding' changes nothing" in f for f in d.findings)


def test_torch_fake_quantize_per_channel_affine() -> None:
    s = np.array([0.0037, 63 / 1024, 0.00214854861], F32)
    z = np.array([3, -5, 0], np.int32)
    rows = [inputs(float(v), seed=i) for i, v in enumerate(s)]
    x = np.stack([np.resize(r, max(map(len, rows))) for r in rows])
    y = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(z), 0, -128, 127
    ).numpy()
    d = diagnose_quantize(x, y, s, z, -128, 127, axis=0, dequantized=True)
    assert d.mismatches > 0 and has_huge(x, s[:, None], 64)
    # torch casts z + nearbyint(x * inv_scale) to int64 before the clamp: x/s >= 2**63 gives quant_min
    assert d.explained_by == {"op_order": "multiply", "cast_before_clamp": "int64"}, str(d)
    assert d.systems == ("PyTorch fake_quantize_per_channel_affine",)
    assert any("zero_point_add='after_rounding' changes nothing" in f for f in d.findings)
    # without the huge values it is the per-tensor kernel's single knob
    keep = np.all(np.abs(x.astype(np.float64) / s[:, None]) < 2.0**31, axis=0)
    y2 = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(np.ascontiguousarray(x[:, keep])),
        torch.from_numpy(s),
        torch.from_numpy(z),
        0,
        -128,
        127,
    ).numpy()
    d2 = diagnose_quantize(x[:, keep], y2, s, z, -128, 127, axis=0, dequantized=True)
    assert d2.explained_by == {"op_order": "multiply"}, str(d2)
    assert "PyTorch fake_quantize_per_channel_affine" in d2.systems


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("dtype,zp", [("quint8", 3), ("qint8", -7)])
def test_torch_quantize_per_tensor_is_the_fused_fma(scale: float, dtype: str, zp: int) -> None:
    x = inputs(scale)
    qd = getattr(torch, dtype)
    q = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, qd).int_repr().numpy()
    qmin, qmax = (0, 255) if dtype == "quint8" else (-128, 127)
    d = diagnose_quantize(x, q, scale, zp, qmin, qmax)
    assert d.mismatches > 0
    if d.explained_by == {"op_order": "multiply", "zero_point_add": "before_rounding"}:
        # the unfused form (two roundings) gives the same codes on this x: the FMA is not told apart
        assert any("fused" in f for f in d.findings), str(d)
    else:
        assert d.explained_by == {"op_order": "multiply", "zero_point_add": "fused"}, str(d)
    assert "PyTorch quantize_per_tensor (quint8, qint8)" in d.systems


def test_torch_quantize_per_tensor_fma_is_told_apart_somewhere() -> None:
    # on some scale the fused FMA and the unfused sum give different codes, and the diagnosis says fused
    said = []
    for scale in SCALES:
        x = inputs(scale)
        q = torch.quantize_per_tensor(torch.from_numpy(x), scale, 3, torch.quint8).int_repr().numpy()
        said.append(diagnose_quantize(x, q, scale, 3, 0, 255).explained_by)
    assert {"op_order": "multiply", "zero_point_add": "fused"} in said, said


@pytest.mark.parametrize("scale", SCALES)
def test_torch_quantize_per_tensor_qint32_adds_z_before_rounding(scale: float) -> None:
    x = inputs(scale)
    q = torch.quantize_per_tensor(torch.from_numpy(x), scale, 3, torch.qint32).int_repr().numpy()
    d = diagnose_quantize(x, q, scale, 3, -(2**31), 2**31 - 1)
    assert d.mismatches > 0
    assert d.explained_by == {"op_order": "multiply", "zero_point_add": "before_rounding"}, str(d)
    assert "PyTorch quantize_per_tensor (qint32)" in d.systems


@pytest.mark.parametrize("axis", [0, 1])
def test_torch_quantize_per_channel(axis: int) -> None:
    s = np.array([0.0037, 63 / 1024, 0.00214854861], F32)
    z = np.array([3, -5, 1])
    rows = [inputs(float(v), seed=i) for i, v in enumerate(s)]
    x = np.stack([np.resize(r, max(map(len, rows))) for r in rows])
    if axis == 1:
        x = np.ascontiguousarray(x.T)
    q = (
        torch.quantize_per_channel(
            torch.from_numpy(x),
            torch.from_numpy(s.astype(np.float64)),
            torch.from_numpy(z),
            axis,
            torch.qint8,
        )
        .int_repr()
        .numpy()
    )
    d = diagnose_quantize(x, q, s, z, -128, 127, axis=axis)
    assert d.mismatches > 0
    assert d.explained_by == {"op_order": "multiply", "zero_point_add": "before_rounding"}, str(d)
    assert "PyTorch quantize_per_channel" in d.systems


# ---------------------------------------------------------------- ONNX Runtime and onnx.reference


def _quantize_linear_model(x: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int | None) -> Any:
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)
    out_type = helper.np_dtype_to_tensor_dtype(zp.dtype)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", out_type, None)],
        initializer=[numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "z")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("zp", [np.uint8(3), np.int8(-7)])
def test_onnxruntime_quantize_linear_is_the_reference(scale: float, zp: np.generic) -> None:
    ort = pytest.importorskip("onnxruntime")
    x = inputs(scale)
    model = _quantize_linear_model(x, np.array(scale, F32), np.array(zp), None)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    q = sess.run(None, {"x": x})[0]
    info = np.iinfo(q.dtype)
    d = diagnose_quantize(x, q, scale, int(zp), int(info.min), int(info.max))
    assert d.matches_reference and d.explained_by == {}, str(d)
    assert "ONNX Runtime QuantizeLinear (CPU)" in d.systems
    assert "PyTorch quantize_per_tensor (quint8, qint8)" not in d.systems  # the input tells them apart
    # the same input, through torch, does differ: so the match above is informative
    tq = torch.quantize_per_tensor(torch.from_numpy(x), scale, int(zp), torch.quint8 if zp.dtype == np.uint8
                                   else torch.qint8).int_repr().numpy()  # fmt: skip
    assert not np.array_equal(tq, q)


def test_onnxruntime_per_axis_and_onnx_reference() -> None:
    ort = pytest.importorskip("onnxruntime")
    from onnx.reference import ReferenceEvaluator

    s = np.array([0.0037, 63 / 1024, 0.00214854861], F32)
    z = np.array([3, 250, 128], np.uint8)
    rows = [inputs(float(v), seed=i) for i, v in enumerate(s)]
    x = np.stack([np.resize(r, max(map(len, rows))) for r in rows])
    model = _quantize_linear_model(x, s, z, 0)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    d = diagnose_quantize(x, sess.run(None, {"x": x})[0], s, z.astype(np.int64), 0, 255, axis=0)
    assert d.matches_reference, str(d)
    assert "ONNX QuantizeLinear (spec)" in d.systems and "ONNX Runtime QuantizeLinear (CPU)" in d.systems
    # onnx.reference casts R(x/s) to int32 before adding z: |x/s| >= 2**31 becomes INT32_MIN + z -> 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its own overflow in x / s
        q = ReferenceEvaluator(model).run(None, {"x": x})[0]
    d = diagnose_quantize(x, q, s, z.astype(np.int64), 0, 255, axis=0)
    assert has_huge(x, s[:, None], 32) and d.mismatches > 0
    assert d.explained_by == {"cast_before_clamp": "int32"}, str(d)
    assert d.systems == ("ONNX reference evaluator (onnx.reference) QuantizeLinear",)


# ---------------------------------------------------------------- TFLite


def _tflite_quantize(x: np.ndarray, lo: float, hi: float, resolver: str) -> tuple[np.ndarray, float, int]:
    """The codes of TFLite's QUANTIZE op (input of a converted relu6 model), and its scale and zero point."""
    tf = pytest.importorskip("tensorflow")
    n = 64

    @tf.function(input_signature=[tf.TensorSpec([n], tf.float32)])
    def f(v: Any) -> Any:
        return tf.nn.relu6(v)

    def calibration() -> Any:
        yield [np.linspace(lo, hi, n).astype(F32)]

    with warnings.catch_warnings():  # the converter's and the interpreter's deprecation notices
        warnings.simplefilter("ignore")
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = calibration
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        flat = conv.convert()
        kind = getattr(tf.lite.experimental.OpResolverType, resolver)
        it = tf.lite.Interpreter(
            model_content=flat, experimental_preserve_all_tensors=True, experimental_op_resolver_type=kind
        )
        it.allocate_tensors()
    (q_index,) = [t["index"] for t in it.get_tensor_details() if t["name"] == "tfl.quantize"]
    scale, zp = it.get_tensor_details()[q_index]["quantization"]
    pad = np.resize(x, -(-x.size // n) * n)
    out = []
    for chunk in pad.reshape(-1, n):
        it.set_tensor(0, chunk)
        it.invoke()
        out.append(it.get_tensor(q_index).copy())
    return np.concatenate(out)[: x.size], float(scale), int(zp)


RANGES = [(-2.0, 127 / 64), (-1.0, 2.0), (-0.3, 3.7)]  # the first gives s = 1/64, z = 0: exact ties


@pytest.mark.parametrize("lo,hi", RANGES)
def test_tflite_reference_kernel_rounds_half_away(lo: float, hi: float) -> None:
    _, scale, zp = _tflite_quantize(np.zeros(1, F32), lo, hi, "BUILTIN_REF")
    x = inputs(scale)
    q, _, _ = _tflite_quantize(x, lo, hi, "BUILTIN_REF")
    d = diagnose_quantize(x, q, F32(scale), zp, -128, 127)
    assert d.mismatches > 0 and has_huge(x, scale, 32)
    # static_cast<int32>(TfLiteRound(x / s)) + z: |x/s| >= 2**31 gives INT32_MIN + z before the clamp
    assert d.explained_by == {"rounding": "half_away", "cast_before_clamp": "int32"}, str(d)
    assert d.systems == ("TFLite reference AffineQuantize",)
    x = inputs(scale, huge=False)
    q, _, _ = _tflite_quantize(x, lo, hi, "BUILTIN_REF")
    d = diagnose_quantize(x, q, F32(scale), zp, -128, 127)
    assert d.explained_by == {"rounding": "half_away"}, str(d)
    assert d.systems == ("TFLite reference AffineQuantize",)


KERNELS = {  # resolver -> (settings, system), measured
    "AUTO": ({"op_order": "multiply"}, "TFLite XNNPACK Quantize (x86, TFLite's default delegate)"),
    "BUILTIN_WITHOUT_DEFAULT_DELEGATES": (
        {"op_order": "multiply", "cast_before_clamp": "int32"},
        "TFLite optimized Quantize (x86, no delegate)",
    ),
}


@pytest.mark.parametrize("resolver", sorted(KERNELS))
@pytest.mark.parametrize("lo,hi", RANGES)
def test_tflite_default_kernels_multiply_by_the_reciprocal(resolver: str, lo: float, hi: float) -> None:
    settings, system = KERNELS[resolver]
    _, scale, zp = _tflite_quantize(np.zeros(1, F32), lo, hi, resolver)
    x = inputs(scale)
    q, _, _ = _tflite_quantize(x, lo, hi, resolver)
    d = diagnose_quantize(x, q, F32(scale), zp, -128, 127)
    if scale == 1 / 64:  # exact reciprocal, exact ties: half-even, as the reference (apart from the cast)
        want = {k: v for k, v in settings.items() if k != "op_order"}
        assert d.explained_by == want, str(d)
        return
    assert d.explained_by == settings, str(d)
    assert d.systems[0] == system
    # the SYSTEMS entry says z is added after rounding: neither before (unfused) nor in an FMA
    assert zp % 2 != 0  # an odd zero point, so that adding it before rounding moves the ties
    x = inputs(scale, huge=False)
    q, _, _ = _tflite_quantize(x, lo, hi, resolver)
    for zpa in ("before_rounding", "fused"):
        other = quantize(x, F32(scale), zp, -128, 127, op_order="multiply", zero_point_add=zpa)
        assert not np.array_equal(other, q), zpa
