"""The integer-only MLP exported to ONNX (recipes.integer_onnx.integer_graph) and run in ONNX Runtime.

The graph (MatMulInteger, Add, Cast, Mul, Relu, QuantizeLinear) requantizes
through a float32 multiplier: ONNX has no fixed-point multiplier op. So ONNX
Runtime must reproduce refquant's float-requantized simulation bit for bit, and
differ from the fixed-point integer model only where
``requantization_differences`` finds a difference (TFLite's double rounding);
with ``rounding="single"`` on the demo's model there is none. Measured on the
demo MLP (64-128-128-10, 8 float epochs, seed 0; int8 and uint8 alike, with and
without ORT's graph optimizations): double rounding, 26, 37 and 3 of 45952,
45952 and 3590 codes per layer differ (all double rounding), 21 of 3590 output
codes by 1 LSB, predictions identical; single rounding: 0 codes differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from refquant.datasets import load_digits  # noqa: E402
from refquant.nn.integer import (  # noqa: E402
    IntegerMLP,
    convert_to_integer,
    integer_forward,
    quantize_input,
    requantization_differences,
    simulate_forward,
)
from refquant.nn.mlp import init_mlp  # noqa: E402
from refquant.nn.train import Model, train  # noqa: E402
from refquant.recipes.integer_onnx import integer_graph  # noqa: E402

TYPES = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT}


def to_onnx(g: dict[str, Any]) -> Any:
    nodes = [
        helper.make_node(op, ins, outs, **{k: TYPES[v] for k, v in attrs.items()})
        for op, ins, outs, attrs in g["nodes"]
    ]
    (xn, xt, n_in), (yn, yt, n_out) = g["input"], g["output"]
    graph = helper.make_graph(
        nodes,
        "integer_mlp",
        [helper.make_tensor_value_info(xn, TYPES[xt], [None, n_in])],
        [helper.make_tensor_value_info(yn, TYPES[yt], [None, n_out])],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in g["initializers"].items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", g["opset"])], ir_version=8)
    onnx.checker.check_model(model)
    return model


def run_ort(model: Any, x_q: np.ndarray, optimize: bool) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x_q": x_q})[0]


@pytest.fixture(scope="module")
def demo() -> tuple[Model, list[np.ndarray], Any]:
    data = load_digits()
    rng = np.random.default_rng(0)
    model = Model(init_mlp([64, 128, 128, 10], rng=rng))
    model, _ = train(model, data.x_train, data.y_train, epochs=8, batch_size=32, rng=rng, lr=2e-3)
    calib = [data.x_train[i : i + 256] for i in range(0, len(data.x_train), 256)]
    return model, calib, data


def _sim_codes(m: IntegerMLP, logits: np.ndarray) -> np.ndarray:
    L = m.layers[-1]
    return (np.rint(logits / np.float64(L.output_scale)) + L.output_zero_point).astype(np.int64)


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_onnx_runtime_runs_the_integer_mlp(demo: Any, rounding: str, dtype: str, optimize: bool) -> None:
    model, calib, data = demo
    m = convert_to_integer(model.params, calib, activation_dtype=dtype, rounding=rounding)
    xq = quantize_input(m, data.x_test)
    got = run_ort(to_onnx(integer_graph(m)), xq, optimize).astype(np.int64)
    # bit for bit: refquant's float-requantized simulation (ONNX Runtime's semantics)
    assert np.array_equal(got, _sim_codes(m, simulate_forward(m, data.x_test, requantization="float")))
    # against the fixed-point integer model: predictions, and the codes in LSB
    fixed = integer_forward(m, xq).astype(np.int64)
    lsb = int(np.abs(got - fixed).max())
    same = float(np.mean(got.argmax(1) == fixed.argmax(1)))
    diffs = requantization_differences(m, xq)
    print(f"\n{rounding} {dtype} optimize={optimize}: identical predictions {same}, max {lsb} LSB, "
          f"{int((got != fixed).sum())} of {got.size} output codes differ; per layer {diffs}")  # fmt: skip
    assert same >= 0.99
    if all(d.differ == 0 for d in diffs):  # no requantization difference anywhere: identical codes
        assert lsb == 0
    else:
        assert all(d.differ == d.double_rounding for d in diffs)  # every difference: double rounding
