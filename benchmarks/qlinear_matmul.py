"""QLinearMatMul 1024 x 1024 x 1024: refquant's ``qlinear_matmul`` against ONNX Runtime's kernel, as ratios.

uint8 activations (zero point 128) times int8 weights (zero point 0), the ONNX
quantizer's default U8S8 pair; ORT with 2 intra-op threads, its weights as an
initializer (prepacked, the deployed case) and as a graph input. refquant runs
``requantize="onnxruntime"`` (bit-identical to ORT, checked here) and ``"spec"``
(exact arithmetic). A ratio above 1 means refquant is that many times slower.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.interop.onnx_integer import qlinear_matmul

N = 1024
THREADS = 2


def main() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (N, N)).astype(np.uint8)
    b = rng.integers(-128, 128, (N, N)).astype(np.int8)
    params = dict(
        a_scale=np.float32(0.02),
        a_zero_point=np.uint8(128),
        b_scale=np.float32(0.003),
        b_zero_point=np.int8(0),
        y_scale=np.float32(0.9),
        y_zero_point=np.uint8(128),
    )
    ours = {
        how: best_time(lambda: qlinear_matmul(a=a, b=b, **params, requantize=how), 5)  # noqa: B023
        for how in ("onnxruntime", "spec")
    }
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        print(f"onnxruntime not installed; refquant alone: {ours}")
        return
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]
    feeds = {"a": a, "b": b, **params}
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    y_ours = qlinear_matmul(a=a, b=b, **params, requantize="onnxruntime")
    for where in ("initializer", "input"):
        consts = [n for n in names if n != "a" and (n != "b" or where == "initializer")]
        graph = helper.make_graph(
            [helper.make_node("QLinearMatMul", names, ["y"])],
            "g",
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(feeds[n].dtype), feeds[n].shape)
             for n in names if n not in consts],
            [helper.make_tensor_value_info("y", TensorProto.UINT8, [N, N])],
            initializer=[numpy_helper.from_array(np.asarray(feeds[n]), n) for n in consts],
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
        sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        run = {n: np.asarray(feeds[n]) for n in names if n not in consts}
        peer = best_time(lambda: sess.run(None, run), 10)  # noqa: B023
        same = bool(np.array_equal(sess.run(None, run)[0], y_ours))
        for how, t in ours.items():
            print(
                f"qlinear_matmul {N}^3 u8s8 requantize={how:11s} vs ORT (b {where:11s}, {THREADS} threads): "
                f"{t / peer:5.1f}x slower ({t * 1e3:.1f} ms / {peer * 1e3:.1f} ms)"
                + (f", bit-identical: {same}" if how == "onnxruntime" else "")
            )


if __name__ == "__main__":
    main()
