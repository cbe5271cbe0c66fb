"""refquant.interop.onnx against the real onnx (backend node test vectors, onnx.reference) and onnxruntime.

Three parts:

1. the ONNX backend node test vectors of QuantizeLinear, DequantizeLinear and
   DynamicQuantizeLinear (integer, float8 and float4 types; float outputs are
   compared as codes, ``.view(np.uint8)``), read through TensorProto as the test data ``.pb`` files are;
2. ONNX Runtime (CPU), bit-identical on tie-dense float32 inputs, per tensor,
   per axis and blocked, for every integer type; where ORT departs from the
   spec the documented difference is asserted, not skipped;
3. the departures of ``onnx.reference`` listed in the module docstring, so the
   documentation stays true.
"""

from __future__ import annotations

import glob
import os
import warnings
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from refquant.interop.onnx import dequantize_linear, dynamic_quantize_linear, quantize_linear  # noqa: E402
from tests.conformance.tie_inputs import awkward_scales  # noqa: E402

F32, F16 = np.float32, np.float16
# name -> (ONNX type, qmin, qmax, storage dtype, opset that ORT needs)
TYPES: dict[str, tuple[int, int, int, Any, int]] = {
    "uint8": (TensorProto.UINT8, 0, 255, np.uint8, 21),
    "int8": (TensorProto.INT8, -128, 127, np.int8, 21),
    "uint16": (TensorProto.UINT16, 0, 65535, np.uint16, 21),
    "int16": (TensorProto.INT16, -32768, 32767, np.int16, 21),
    "uint4": (TensorProto.UINT4, 0, 15, np.uint8, 21),
    "int4": (TensorProto.INT4, -8, 7, np.int8, 21),
    "uint2": (TensorProto.UINT2, 0, 3, np.uint8, 25),
    "int2": (TensorProto.INT2, -2, 1, np.int8, 25),
}
SUB_BYTE = ("uint4", "int4", "uint2", "int2")
LOW_FLOAT = {
    getattr(TensorProto, n)
    for n in dir(TensorProto)
    if n.startswith(("FLOAT8", "FLOAT6", "FLOAT4")) and isinstance(getattr(TensorProto, n), int)
}


# ---------------------------------------------------------------- 1. backend node test vectors


def _backend_cases() -> list[Any]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():  # generating the node cases warns about unrelated operators
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    prefixes = ("test_quantizelinear", "test_dequantizelinear", "test_dynamicquantizelinear")
    return sorted((c for c in cases if c.name.startswith(prefixes)), key=lambda c: c.name)


BACKEND_CASES = _backend_cases()


def _low_float(model: Any) -> bool:
    return any(v.type.tensor_type.elem_type in LOW_FLOAT for v in [*model.graph.input, *model.graph.output])


def node_input_type(model: Any) -> int:
    return int(model.graph.input[0].type.tensor_type.elem_type)


def _read_pb(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        return numpy_helper.to_array(TensorProto.FromString(f.read()))


def _through_tensor_proto(value: Any) -> np.ndarray:
    """What a test data ``.pb`` file holds for ``value``, read back with ``numpy_helper.to_array``."""
    proto = value if isinstance(value, TensorProto) else numpy_helper.from_array(np.asarray(value))
    return numpy_helper.to_array(TensorProto.FromString(proto.SerializeToString()))


def _backend_data(case: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Inputs and outputs from the on-disk ``.pb`` files, or from the generated data sets (the pip wheel
    ships no ``data/node`` directory) serialized to TensorProto and parsed back."""
    from onnx.backend.test.loader import DATA_DIR

    folder = os.path.join(DATA_DIR, "node", case.name, "test_data_set_0")
    if os.path.isdir(folder):
        ins = [_read_pb(p) for p in sorted(glob.glob(os.path.join(folder, "input_*.pb")))]
        outs = [_read_pb(p) for p in sorted(glob.glob(os.path.join(folder, "output_*.pb")))]
        return ins, outs
    (ins_raw, outs_raw) = case.data_sets[0]
    return [_through_tensor_proto(v) for v in ins_raw], [_through_tensor_proto(v) for v in outs_raw]


def _codes(a: np.ndarray) -> np.ndarray:
    """ml_dtypes int4/uint4/int2/uint2 -> int8/uint8, float8/float4 -> uint8 codes, as refquant has them."""
    if a.dtype.kind in "Vf" and a.dtype.name.startswith(("float8", "float4")):
        return a.view(np.uint8)
    if a.dtype.kind == "V":
        return a.astype(np.int8 if a.dtype.name.startswith("int") else np.uint8)
    return a


def _assert_identical(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == expected.dtype, (ours.dtype, expected.dtype)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    if ours.dtype.kind == "f":  # bit patterns: -0.0 vs 0.0 and NaN payloads count
        ours, expected = ours.view(f"u{ours.dtype.itemsize}"), expected.view(f"u{expected.dtype.itemsize}")
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("case", BACKEND_CASES, ids=[c.name for c in BACKEND_CASES])
def test_backend_node_vectors(case: Any) -> None:
    ins, outs = _backend_data(case)
    if case.name.startswith("test_dynamicquantizelinear"):  # also the function-expanded variants
        y, s, z = dynamic_quantize_linear(ins[0])
        for ours, expected in zip((y, s, z), outs, strict=True):
            _assert_identical(ours, expected)
        return
    node = case.model.graph.node[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    x, scale = ins[0], ins[1]
    zero_point = ins[2] if len(node.input) > 2 and node.input[2] else None
    kwargs: dict[str, Any] = {k: attrs[k] for k in ("axis", "block_size") if k in attrs}
    if "precision" in attrs:  # precision=P is a y_scale of dtype P
        scale = scale.astype(helper.tensor_dtype_to_np_dtype(attrs["precision"]))
    if node.op_type == "QuantizeLinear":
        if "saturate" in attrs:
            kwargs["saturate"] = bool(attrs["saturate"])
        if "output_dtype" in attrs:
            kwargs["output_dtype"] = TensorProto.DataType.Name(attrs["output_dtype"]).lower()
        ours = quantize_linear(x, scale, zero_point, **kwargs)
    else:
        assert node.op_type == "DequantizeLinear" and "output_dtype" not in attrs
        ours = dequantize_linear(x, scale, zero_point, **kwargs)
        if _low_float(case.model):  # the same codes as uint8 with their type named
            x_type = TensorProto.DataType.Name(node_input_type(case.model)).lower()
            zc = None if zero_point is None else _codes(zero_point)
            _assert_identical(dequantize_linear(_codes(x), scale, zc, x_type=x_type, **kwargs), ours)
    _assert_identical(ours, _codes(outs[0]))


def test_backend_selection_is_not_empty() -> None:
    ops = {c.name.split("_")[1] for c in BACKEND_CASES}
    assert ops == {"quantizelinear", "dequantizelinear", "dynamicquantizelinear"}
    assert len(BACKEND_CASES) >= 28, [c.name for c in BACKEND_CASES]
    assert sum(_low_float(c.model) for c in BACKEND_CASES) >= 8  # float8/float4 cases run, none skipped


# ---------------------------------------------------------------- 2. onnxruntime


@pytest.fixture(scope="module")
def ort() -> Any:
    return pytest.importorskip("onnxruntime")


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any], opset: int) -> Any:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _run(ort: Any, model: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(sess.run(None, feeds))


def _zp_tensor(zp: np.ndarray, name: str) -> Any:
    """A zero-point initializer of ONNX type ``name`` from int8/uint8/... storage."""
    onnx_type = TYPES[name][0]
    return numpy_helper.from_array(zp.astype(helper.tensor_dtype_to_np_dtype(onnx_type)), "z")


def ort_quantize(
    ort: Any,
    x: np.ndarray,
    scale: np.ndarray,
    zp: np.ndarray,
    name: str,
    opset: int | None = None,
    **attrs: Any,
) -> np.ndarray:
    """ORT QuantizeLinear with scale and zero point as initializers; sub-byte codes Cast to int8/uint8."""
    onnx_type, _, _, storage, min_opset = TYPES[name]
    x_type = helper.np_dtype_to_tensor_dtype(x.dtype)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs)]
    out_type = onnx_type
    if name in SUB_BYTE:
        out_type = helper.np_dtype_to_tensor_dtype(np.dtype(storage))
        nodes.append(helper.make_node("Cast", ["q"], ["y"], to=out_type))
    else:
        nodes[0].output[0] = "y"
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", x_type, x.shape)],
        [helper.make_tensor_value_info("y", out_type, None)],
        [numpy_helper.from_array(scale, "s"), _zp_tensor(zp, name)],
        opset or min_opset,
    )
    return _run(ort, model, {"x": x})[0]


def ort_dequantize(
    ort: Any, x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, name: str, **attrs: Any
) -> np.ndarray:
    """ORT DequantizeLinear; sub-byte codes are fed as int8/uint8 and Cast inside the graph."""
    onnx_type = TYPES[name][0] if name in TYPES else TensorProto.INT32
    opset = TYPES[name][4] if name in TYPES else 21
    nodes = []
    x_name = "x"
    if name in SUB_BYTE:
        nodes.append(helper.make_node("Cast", ["x"], ["xq"], to=onnx_type))
        x_name = "xq"
    ins = [x_name, "s"] + (["z"] if zp is not None else [])
    nodes.append(helper.make_node("DequantizeLinear", ins, ["y"], **attrs))
    inits = [numpy_helper.from_array(scale, "s")]
    if zp is not None:
        inits.append(_zp_tensor(zp, name) if name in TYPES else numpy_helper.from_array(zp, "z"))
    out_type = helper.np_dtype_to_tensor_dtype(scale.dtype)
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)],
        [helper.make_tensor_value_info("y", out_type, None)],
        inits,
        opset,
    )
    return _run(ort, model, {"x": x})[0]


SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, 3e9, -3e9, 2.0**31, 1e30, -1e30, np.nan], F32)


def tie_dense(
    scale: float, zp: int, qmin: int, qmax: int, rng: np.random.Generator, n: int = 2000
) -> np.ndarray:
    """float32 values at ``(k + 0.5) * scale`` and ``k * scale`` for every code k (plus a margin), one
    float32 ulp either side of each, random values over the range, and the special values."""
    k = np.arange(qmin - zp - 3, qmax - zp + 4, dtype=np.float64)
    near = np.concatenate([((k + 0.5) * scale).astype(F32), (k * scale).astype(F32)])
    up, down = np.nextafter(near, F32(np.inf)), np.nextafter(near, F32(-np.inf))
    spread = rng.uniform(qmin - zp - 5, qmax - zp + 5, n) * scale
    return np.concatenate([near, up, down, spread.astype(F32), SPECIALS]).astype(F32)


def _zero_points(qmin: int, qmax: int) -> list[int]:
    return sorted({qmin, qmax, (qmin + qmax) // 2, 0 if qmin < 0 else 1})


@pytest.mark.parametrize("name", list(TYPES))
def test_ort_quantize_per_tensor_tie_dense(ort: Any, name: str) -> None:
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(1)
    scales = [*awkward_scales(rng, 4).tolist(), 2.0**-7, 3.0, float(F32(0.0123))]
    for s in scales:
        for zp in _zero_points(qmin, qmax):
            x = tie_dense(s, zp, qmin, qmax, rng)
            z = np.array(zp, storage)
            expected = ort_quantize(ort, x, np.array(s, F32), z, name)
            ours = quantize_linear(x, np.array(s, F32), z, output_dtype=name)
            _assert_identical(ours, expected)


@pytest.mark.parametrize("name", list(TYPES))
@pytest.mark.parametrize("axis", [0, -1])
def test_ort_quantize_per_axis(ort: Any, name: str, axis: int) -> None:
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(2)
    channels = 5
    scales = np.array([1.0, 0.5, float(F32(0.1)), *rng.lognormal(-3, 1, channels - 3)], F32)
    zps = rng.integers(qmin, qmax, channels, endpoint=True).astype(storage)
    # each channel: 3000 of its own tie-dense values (ties, ulp neighbours, random), then the specials
    rows = [
        np.concatenate(
            [rng.permutation(tie_dense(float(s), int(z), qmin, qmax, rng, n=500))[:3000], SPECIALS]
        )
        for s, z in zip(scales, zps, strict=True)
    ]
    x = np.stack(rows)  # (channels, 3000 + specials)
    if axis == -1:
        x = np.ascontiguousarray(x.T)
    expected = ort_quantize(ort, x, scales, zps, name, axis=axis)
    ours = quantize_linear(x, scales, zps, axis=axis, output_dtype=name)
    _assert_identical(ours, expected)


@pytest.mark.parametrize("name", list(TYPES))
def test_ort_quantize_blocked(ort: Any, name: str) -> None:
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(3)
    block, rows, length = 16, 6, 16 * 20 + 5  # the last block along axis 1 is partial
    nblocks = -(-length // block)
    scales = rng.lognormal(-3, 1, (rows, nblocks)).astype(F32)
    scales[0, :4] = [1.0, 0.5, 0.25, 2.0**-7]
    zps = rng.integers(qmin, qmax, (rows, nblocks), endpoint=True).astype(storage)
    codes = rng.integers(qmin - 3, qmax + 4, (rows, length)).astype(np.float64)
    codes += rng.choice([0.0, 0.5, -0.5, 0.25], (rows, length))
    x = (
        (codes - np.repeat(zps.astype(np.float64), block, axis=1)[:, :length])
        * np.repeat(scales, block, axis=1)[:, :length]
    ).astype(F32)
    x[1, ::7] = np.nextafter(x[1, ::7], F32(np.inf))
    x[2, ::5] = np.nextafter(x[2, ::5], F32(-np.inf))
    x[3, :6] = [np.inf, -np.inf, np.nan, 3e9, -3e9, -0.0]
    expected = ort_quantize(ort, x, scales, zps, name, axis=1, block_size=block)
    ours = quantize_linear(x, scales, zps, axis=1, block_size=block, output_dtype=name)
    _assert_identical(ours, expected)


@pytest.mark.parametrize("name", list(TYPES))
def test_ort_quantize_nan_is_the_minimum_code(ort: Any, name: str) -> None:
    _, qmin, qmax, storage, _ = TYPES[name]
    for n in (1, 3, 8, 17, 33, 1000):
        for zp in _zero_points(qmin, qmax):
            x = np.ones(n, F32)
            x[[0, n // 2, n - 1]] = np.nan
            expected = ort_quantize(ort, x, np.array(1, F32), np.array(zp, storage), name)
            ours = quantize_linear(x, F32(1), np.array(zp, storage), output_dtype=name)
            _assert_identical(ours, expected)
            assert ours[0] == qmin


def test_ort_float16_divides_in_float32(ort: Any) -> None:
    """Documented ORT departure: float16 x and y_scale are divided in float32 (spec: float16)."""
    rng = np.random.default_rng(4)
    differ = 0
    for s in [F16(0.0123), F16(0.3), F16(1.0), *rng.uniform(0.001, 0.5, 4).astype(F16)]:
        k = np.arange(-131, 131, dtype=np.float64)
        x = ((k + 0.5) * float(s)).astype(F16)
        x = np.concatenate([x, np.nextafter(x, F16(np.inf)), np.nextafter(x, F16(-np.inf))])
        z = np.array(0, np.int8)
        expected = ort_quantize(ort, x, np.array(s), z, "int8")
        # ORT == the same division done in float32 ...
        _assert_identical(quantize_linear(x.astype(F32), np.array(s, F32), z), expected)
        # ... and the spec's float16 division differs only where the float16 quotient is a tie
        ours = quantize_linear(x, np.array(s), z)
        bad = ours != expected
        differ += int(bad.sum())
        q16 = x[bad] / s
        assert np.all(q16 - np.floor(q16) == 0.5)
        assert np.all(np.abs(ours[bad].astype(int) - expected[bad].astype(int)) == 1)
    assert differ > 0
    # the docstring's example
    x, s = np.array([-1.408], F16), np.array(0.0123, F16)
    assert ort_quantize(ort, x, s, np.array(0, np.int8), "int8").tolist() == [-115]
    assert quantize_linear(x, s, np.int8(0)).tolist() == [-114]


def test_ort_mixed_float32_x_float16_scale_follows_the_spec(ort: Any) -> None:
    """Opset 23+: x float32 with a float16 y_scale: ORT divides in float16, like the spec and refquant."""
    rng = np.random.default_rng(5)
    for s in [F16(1024), F16(0.0123), *rng.uniform(0.001, 0.1, 3).astype(F16)]:
        x = tie_dense(float(s), 0, -128, 127, rng)
        x = np.concatenate([x, np.array([70000, 65504, 65519, 65520, -7e4], F32)])
        with np.errstate(over="ignore"):
            expected = ort_quantize(ort, x, np.array(s), np.array(0, np.int8), "int8", opset=23)
        _assert_identical(quantize_linear(x, np.array(s), np.int8(0)), expected)


@pytest.mark.parametrize("name", list(TYPES))
def test_ort_dequantize_every_code(ort: Any, name: str) -> None:
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(6)
    codes = np.arange(qmin, qmax + 1).astype(storage)
    for s in [1.0, float(F32(0.1)), *rng.lognormal(-3, 2, 3).tolist()]:
        for zp in _zero_points(qmin, qmax):
            scale, z = np.array(s, F32), np.array(zp, storage)
            _assert_identical(dequantize_linear(codes, scale, z), ort_dequantize(ort, codes, scale, z, name))
    # per axis and blocked
    x = rng.integers(qmin, qmax, (4, 37), endpoint=True).astype(storage)
    scales = rng.lognormal(-3, 2, 4).astype(F32)
    zps = rng.integers(qmin, qmax, 4, endpoint=True).astype(storage)
    _assert_identical(
        dequantize_linear(x, scales, zps, axis=0), ort_dequantize(ort, x, scales, zps, name, axis=0)
    )
    bs = rng.lognormal(-3, 2, (4, 5)).astype(F32)
    bz = rng.integers(qmin, qmax, (4, 5), endpoint=True).astype(storage)
    _assert_identical(
        dequantize_linear(x, bs, bz, axis=1, block_size=8),
        ort_dequantize(ort, x, bs, bz, name, axis=1, block_size=8),
    )


@pytest.mark.parametrize("name", ["int8", "uint8", "int16", "uint16"])
def test_ort_dequantize_float16_scale(ort: Any, name: str) -> None:
    """ORT forms the product in float32 and rounds it to float16; refquant rounds the exact product
    once. Identical for 8-bit codes; for 16-bit codes they differ by one float16 ulp, rarely."""
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(7)
    codes = np.arange(qmin, qmax + 1).astype(storage)
    differ = 0
    for s in rng.uniform(1e-3, 1.0, 4).astype(F16):
        zp = np.array(rng.integers(qmin, qmax, endpoint=True), storage)
        expected = ort_dequantize(ort, codes, np.array(s), zp, name)
        diff = codes.astype(np.int64) - int(zp)
        with np.errstate(over="ignore"):
            float32_product = (diff.astype(F32) * F32(s)).astype(F16)
        _assert_identical(float32_product, expected)
        ours = dequantize_linear(codes, np.array(s), zp)
        bad = ours.view(np.uint16) != expected.view(np.uint16)
        differ += int(bad.sum())
        if name in ("int8", "uint8"):
            assert not bad.any()
        # where they differ, ours is the nearest float16 to the exact product
        exact = diff[bad] * np.float64(s)
        assert np.all(
            np.abs(ours[bad].astype(np.float64) - exact) < np.abs(expected[bad].astype(np.float64) - exact)
        )
    if name in ("int16", "uint16"):
        assert differ > 0
    # the docstring's example
    x, s = np.array([-23150], np.int16), np.array(0.11676025390625, F16)
    assert ort_dequantize(ort, x, s, None, "int16").tolist() == [-2704.0]
    assert dequantize_linear(x, s).tolist() == [-2702.0]


def test_ort_dequantize_int32(ort: Any) -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.integers(-(2**31), 2**31, 5000), [2**24 + 1, 2**31 - 1, -(2**31)]]).astype(
        np.int32
    )
    for s in [F32(0.75), F32(0.1), F32(rng.lognormal(-5, 2))]:
        scale = np.array(s, F32)
        _assert_identical(dequantize_linear(x, scale), ort_dequantize(ort, x, scale, None, "int32"))
        z0 = np.array(0, np.int32)
        _assert_identical(dequantize_linear(x, scale, z0), ort_dequantize(ort, x, scale, z0, "int32"))
    # documented difference: ORT subtracts a non-zero int32 zero point; the spec says it is 0
    y = ort_dequantize(ort, np.array([7], np.int32), np.array(0.5, F32), np.array(3, np.int32), "int32")
    assert y.tolist() == [2.0]
    with pytest.raises(ValueError, match="x_zero_point"):
        dequantize_linear(np.array([7], np.int32), F32(0.5), np.int32(3))


def _dql_model() -> Any:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    outs = [
        helper.make_tensor_value_info("y", TensorProto.UINT8, None),
        helper.make_tensor_value_info("s", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("z", TensorProto.UINT8, None),
    ]
    return _model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], outs, [], 11)


def _dql_inputs(rng: np.random.Generator) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for n in (1, 2, 7, 16, 33, 255, 1000, 100_003):
        out.append(rng.normal(0, 3, n).astype(F32))
        out.append(rng.uniform(0.1, 5, n).astype(F32))  # positive only: zero point 0
        out.append(-rng.uniform(0.1, 5, n).astype(F32))  # negative only: zero point 255
        out.append((rng.lognormal(0, 4, n) * rng.choice([-1, 1], n)).astype(F32))
        # values on the (k + 0.5) grid of a round range, and one ulp either side
        base = (rng.integers(-100, 155, n) + 0.5).astype(F32) * F32(0.5)
        out.append(np.nextafter(base, rng.choice([-np.inf, np.inf], n).astype(F32)))
        out.append(base)
    out += [np.array(v, F32) for v in (1.5, -2.0, 0.0)]
    out.append(rng.normal(0, 1, (3, 4, 5)).astype(F32))
    return out


def test_ort_dynamic_quantize_linear(ort: Any) -> None:
    rng = np.random.default_rng(9)
    model = _dql_model()
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in _dql_inputs(rng):
        expected = sess.run(None, {"x": x})
        for ours, exp in zip(dynamic_quantize_linear(x), expected, strict=True):
            _assert_identical(ours, exp)


def test_ort_dynamic_quantize_linear_special_inputs(ort: Any) -> None:
    sess = ort.InferenceSession(_dql_model().SerializeToString(), providers=["CPUExecutionProvider"])
    # all-zero and empty: ORT returns y_scale 1.0 and so does refquant. The spec's formula gives
    # y_scale = (0 - 0) / 255 = 0 and a 0/0 zero point: a documented departure, asserted here.
    for x in (np.zeros(5, F32), -np.zeros(3, F32), np.zeros(0, F32)):
        expected = sess.run(None, {"x": x})
        assert float(expected[1]) == 1.0 and (F32(0) - F32(0)) / F32(255) == 0.0
        for ours, exp in zip(dynamic_quantize_linear(x), expected, strict=True):
            _assert_identical(ours, exp)
    # NaN: ORT's result depends on the NaN's position (documented); refquant raises
    first = sess.run(None, {"x": np.array([np.nan, 1, -1, 2, 0, 0, 0, 0], F32)})
    last = sess.run(None, {"x": np.array([1, -1, 2, 0, 0, 0, 0, np.nan], F32)})
    assert first[1] == F32(3) / F32(255) and int(first[2]) == 85
    assert np.isnan(last[1]) and int(last[2]) == 255
    with pytest.raises(ValueError, match="finite"):
        dynamic_quantize_linear(np.array([np.nan, 1, -1, 2], F32))
    # refquant raises where ORT returns an inf or a 0 scale
    for x, ort_scale in ((np.array([np.inf, 1, -1], F32), np.inf), (np.array([1e-45], F32), 0.0)):
        assert float(sess.run(None, {"x": x})[1]) == ort_scale
        with pytest.raises(ValueError):
            dynamic_quantize_linear(x)


# ---------------------------------------------------------------- 3. onnx.reference


def _reference(model: Any, feeds: dict[str, Any]) -> list[np.ndarray]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # the reference casts inf/NaN to int32
        warnings.simplefilter("ignore")
        return list(ReferenceEvaluator(model).run(None, feeds))


def _q_model_ref(
    name: str, x_type: int, scale: np.ndarray, zp: np.ndarray, opset: int = 25, **attrs: Any
) -> Any:
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)
    return _model(
        [node],
        [helper.make_tensor_value_info("x", x_type, None)],
        [helper.make_tensor_value_info("y", TYPES[name][0], None)],
        [numpy_helper.from_array(scale, "s"), _zp_tensor(zp, name)],
        opset,
    )


def test_reference_wraps_int32_before_clipping() -> None:
    """Documented: onnx.reference casts rint(x / y_scale) to int32 before adding z and clipping."""
    x = np.array([np.inf, 3e9, -np.inf, np.nan, 2.0**31, 2147483520.0], F32)
    ref = _reference(
        _q_model_ref("uint8", TensorProto.FLOAT, np.array(1, F32), np.array(3, np.uint8)), {"x": x}
    )
    assert ref[0].tolist() == [0, 0, 0, 0, 0, 255]
    assert quantize_linear(x, F32(1), np.uint8(3)).tolist() == [255, 255, 0, 0, 255, 255]
    ref = _reference(
        _q_model_ref("int8", TensorProto.FLOAT, np.array(1, F32), np.array(-3, np.int8)), {"x": x}
    )
    assert ref[0].tolist() == [127, 127, 127, 127, 127, 127]  # INT32_MIN + (-3) wraps to INT32_MAX - 2
    assert quantize_linear(x, F32(1), np.int8(-3)).tolist() == [127, 127, -128, -128, 127, 127]


def test_reference_divides_in_the_promoted_dtype() -> None:
    """Documented: float32 x with a float16 y_scale is divided in float32 by onnx.reference."""
    x = np.array([70000.0], F32)
    model = _q_model_ref("int8", TensorProto.FLOAT, np.array(1024, F16), np.array(0, np.int8), opset=23)
    assert _reference(model, {"x": x})[0].tolist() == [68]
    assert quantize_linear(x, np.float16(1024), np.int8(0)).tolist() == [127]


def test_reference_dequantize_float16_rounds_twice() -> None:
    node = helper.make_node("DequantizeLinear", ["x", "s"], ["y"])
    model = _model(
        [node],
        [helper.make_tensor_value_info("x", TensorProto.INT16, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None)],
        [numpy_helper.from_array(np.array(0.11676025390625, F16), "s")],
        21,
    )
    x = np.array([-23150], np.int16)
    assert _reference(model, {"x": x})[0].tolist() == [-2704.0]
    assert dequantize_linear(x, np.float16(0.11676025390625)).tolist() == [-2702.0]


def test_reference_dynamic_quantize_linear_special_inputs() -> None:
    model = _dql_model()
    y, s, z = _reference(model, {"x": np.zeros(4, F32)})
    assert y.tolist() == [0] * 4 and s == F32(1) / F32(255) and int(z) == 0  # refquant and ORT: 1.0
    y, s, z = _reference(model, {"x": np.array([np.nan, 1, -1, 2], F32)})
    assert np.isnan(s) and int(z) == 255 and y.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        _reference(model, {"x": np.zeros(0, F32)})


@pytest.mark.parametrize("name", list(TYPES))
def test_reference_agrees_on_finite_inputs(name: str) -> None:
    """Where onnx.reference follows the spec (finite |x / y_scale| < 2**31, one dtype), it matches."""
    _, qmin, qmax, storage, _ = TYPES[name]
    rng = np.random.default_rng(11)
    for x_dtype in (F32, F16):
        x_type = helper.np_dtype_to_tensor_dtype(np.dtype(x_dtype))
        # per tensor, tie-dense
        for s in (0.5, float(F32(0.1)), float(rng.lognormal(-3, 1))):
            zp = np.array(rng.integers(qmin, qmax, endpoint=True), storage)
            x = tie_dense(s, int(zp), qmin, qmax, rng)[: -len(SPECIALS)].astype(x_dtype)  # no specials
            x = x[np.isfinite(x)]
            scale = np.array(s, x_dtype)
            ref = _reference(_q_model_ref(name, x_type, scale, zp), {"x": x})[0]
            _assert_identical(quantize_linear(x, scale, zp, output_dtype=name), _codes(ref))
        # per axis and blocked
        scales = rng.uniform(0.05, 1, 4).astype(x_dtype)
        # codes within the range and below float16's 65504, so no quotient overflows to inf
        codes = np.clip(rng.uniform(qmin - 3, qmax + 3, (4, 21)), -60000, 60000)
        x = (codes * 0.05).astype(x_dtype)
        zps = rng.integers(qmin, qmax, 4, endpoint=True).astype(storage)
        ref = _reference(_q_model_ref(name, x_type, scales, zps, axis=0), {"x": x})[0]
        _assert_identical(quantize_linear(x, scales, zps, axis=0, output_dtype=name), _codes(ref))
        bscales = rng.uniform(0.05, 1, (4, 3)).astype(x_dtype)
        bzps = rng.integers(qmin, qmax, (4, 3), endpoint=True).astype(storage)
        model = _q_model_ref(name, x_type, bscales, bzps, axis=1, block_size=8)
        ref = _reference(model, {"x": x})[0]
        _assert_identical(
            quantize_linear(x, bscales, bzps, axis=1, block_size=8, output_dtype=name), _codes(ref)
        )
