"""The integer-only MLP's inference on the test split against the float MLP (and ONNX Runtime), as ratios.

The demo's MLP (64-128-128-10, 8 float epochs, seed 0) converted by
``refquant.nn.integer.convert_to_integer``: the integer core with NumPy's int32
matmul (``kernel="integer"``, no float) and through exact float BLAS
(``kernel="blas"``), against the float MLP's forward, and the exported graph
(``refquant.recipes.integer_onnx.integer_graph``, each of its three forms:
MatMulInteger, QGemm, QDQ) in ONNX Runtime if it is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.datasets import load_digits
from refquant.nn.integer import convert_to_integer, integer_forward, quantize_input
from refquant.nn.mlp import init_mlp, mlp_forward
from refquant.nn.train import Model, train
from refquant.recipes.integer_onnx import FORMS, integer_graph


def main() -> None:
    """Print the integer inference time / float inference time, and ONNX Runtime's against refquant's."""
    data = load_digits()
    rng = np.random.default_rng(0)
    model = Model(init_mlp([64, 128, 128, 10], rng=rng))
    model, _ = train(model, data.x_train, data.y_train, epochs=8, batch_size=32, rng=rng, lr=2e-3)
    calib = [data.x_train[i : i + 256] for i in range(0, len(data.x_train), 256)]
    m = convert_to_integer(model.params, calib)
    x = data.x_test
    xq = quantize_input(m, x)
    fl = best_time(lambda: mlp_forward(model.params, x), 50)
    print(f"test split: {len(x)} rows; float MLP forward {fl * 1e3:.2f} ms")
    for kernel in ("integer", "blas"):
        t = best_time(lambda: integer_forward(m, xq, kernel=kernel), 20)  # noqa: B023
        print(f"integer_forward kernel={kernel!r}: {t * 1e3:.2f} ms, {t / fl:5.1f}x the float MLP's time")
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        print("onnx / onnxruntime not installed: skipped")
        return
    types = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int32": TensorProto.INT32,
             "float32": TensorProto.FLOAT}  # fmt: skip

    def node(op: str, i: list[str], o: list[str], a: dict[str, str | int]) -> Any:
        kw = {k: v if k == "domain" else types[v] if isinstance(v, str) else v for k, v in a.items()}
        return helper.make_node(op, i, o, **kw)  # "domain": the node's domain; str: a type; int: INT

    ours = best_time(lambda: integer_forward(m, xq, kernel="blas"), 20)
    for form in FORMS:
        g = integer_graph(m, form=form)
        (xn, xt, n_in), (yn, yt, n_out) = g["input"], g["output"]
        graph = helper.make_graph(
            [node(*n) for n in g["nodes"]], "integer_mlp",
            [helper.make_tensor_value_info(xn, types[xt], [None, n_in])],
            [helper.make_tensor_value_info(yn, types[yt], [None, n_out])],
            initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in g["initializers"].items()],
        )  # fmt: skip
        opsets = [helper.make_opsetid(d, v) for d, v in g["opset_imports"].items()]
        onnx_model = helper.make_model(graph, opset_imports=opsets, ir_version=8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sess = ort.InferenceSession(
            onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        peer = best_time(lambda: sess.run(None, {"x_q": xq}), 50)  # noqa: B023
        print(
            f"onnxruntime form={form!r} (1 thread, all optimizations): {peer * 1e3:.2f} ms;"
            f" refquant blas / ort: {ours / peer:5.1f}x"
        )


if __name__ == "__main__":
    main()
