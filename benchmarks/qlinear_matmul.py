"""QLinearMatMul 1024 x 1024 x 1024: refquant's ``qlinear_matmul`` against ONNX Runtime's kernel, as ratios.

uint8 activations (zero point 128) times int8 weights (zero point 0), the ONNX
quantizer's default U8S8 pair; ORT with 2 intra-op threads, its weights as an
initializer (prepacked, the deployed case) and as a graph input. refquant runs
``requantize="onnxruntime"`` (bit-identical to ORT, checked here) and ``"spec"``
(exact arithmetic). A ratio above 1 means refquant is that many times slower.

The floor of any NumPy implementation is one float32 BLAS product (NumPy has
no int8 GEMM; ORT's kernels multiply int8 with VNNI / AVX-512 instructions,
four products per 32-bit lane): it is timed alone and the rest of refquant's
time is reported as overhead. With zero point 128 the centered products
``(a - 128) b`` have partial sums within ``2**24`` at K = 1024 (one float32
product, nothing else); with zero point 0 (``a_zero_point=0`` below, uint8
activations after a ReLU) the centered sums exceed it, and refquant multiplies
``a - 128`` in float32 and adds the exact correction ``128 * sum_k b`` in
float64 (a float64 accumulator, converted to float32 by the requantization as
ORT converts its int32 one).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.interop.onnx_integer import qlinear_matmul

N = 1024
THREADS = 2


def _params(za: int) -> dict[str, np.generic]:
    return dict(
        a_scale=np.float32(0.02),
        a_zero_point=np.uint8(za),
        b_scale=np.float32(0.003),
        b_zero_point=np.int8(0),
        y_scale=np.float32(0.9 if za else 2.0),
        y_zero_point=np.uint8(128),
    )


def _ort_time(
    ort: Any, a: np.ndarray, b: np.ndarray, params: dict[str, Any], where: str
) -> tuple[float, Any]:
    """ORT's best time and output, ``b`` as an initializer (prepacked) or as a graph input."""
    from onnx import TensorProto, helper, numpy_helper

    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"]
    feeds = {"a": a, "b": b, **params}
    consts = [n for n in names if n != "a" and (n != "b" or where == "initializer")]
    inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(feeds[n].dtype), feeds[n].shape)
        for n in names
        if n not in consts
    ]
    graph = helper.make_graph(
        [helper.make_node("QLinearMatMul", names, ["y"])],
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [N, N])],
        initializer=[numpy_helper.from_array(np.asarray(feeds[n]), n) for n in consts],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    run = {n: np.asarray(feeds[n]) for n in names if n not in consts}
    return best_time(lambda: sess.run(None, run), 30), sess.run(None, run)[0]


def main() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (N, N)).astype(np.uint8)
    b = rng.integers(-128, 128, (N, N)).astype(np.int8)
    a32, b32 = a.astype(np.float32) - 128, b.astype(np.float32)
    # refquant first, before any ORT session exists (ORT's idle threads spin and would slow NumPy down)
    floor = best_time(lambda: a32 @ b32, 15)
    print(f"float32 BLAS product {N}^3 alone (the floor of a NumPy path): {floor * 1e3:.1f} ms")
    ours = {
        (za, how): best_time(lambda: qlinear_matmul(a=a, b=b, **_params(za), requantize=how), 15)  # noqa: B023
        for za in (128, 0)
        for how in ("onnxruntime", "spec")
    }
    for (za, how), t in ours.items():
        print(
            f"  a_zero_point={za:3d} requantize={how:11s}: {t * 1e3:.1f} ms "
            f"(floor {floor * 1e3:.1f} ms + {(t - floor) * 1e3:.1f} ms)"
        )
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed")
        return
    for za in (128, 0):
        y_ours = qlinear_matmul(a=a, b=b, **_params(za), requantize="onnxruntime")
        for where in ("initializer", "input"):
            peer, y_peer = _ort_time(ort, a, b, _params(za), where)
            same = bool(np.array_equal(y_peer, y_ours))
            for how in ("onnxruntime", "spec"):
                t = ours[za, how]
                print(
                    f"qlinear_matmul {N}^3 u8s8 a_zero_point={za:3d} requantize={how:11s} vs ORT "
                    f"(b {where:11s}, {THREADS} threads): {t / peer:5.1f}x slower "
                    f"({t * 1e3:.1f} ms / {peer * 1e3:.1f} ms)"
                    + (f", bit-identical: {same}" if how == "onnxruntime" else "")
                )
            if where == "initializer":
                print(f"  the float32 floor alone vs ORT (b initializer): {floor / peer:.1f}x")


if __name__ == "__main__":
    main()
