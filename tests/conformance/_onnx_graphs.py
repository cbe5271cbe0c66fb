"""The ``onnx`` model of ``refquant.recipes.integer_onnx.integer_graph``'s plain data, run in ORT.

A helper for the conformance tests (not a test module): refquant itself imports
no framework, so the graph dict becomes an ``onnx.ModelProto`` here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # collected by --doctest-modules too: skip, not an error, without onnx
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

__all__ = ["TYPES", "run_ort", "run_ort_outputs", "session", "to_onnx"]

TYPES = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "int32": TensorProto.INT32,
         "float32": TensorProto.FLOAT}  # fmt: skip


def _node(op: str, ins: list[str], outs: list[str], attrs: dict[str, str | int]) -> Any:
    kw: dict[str, Any] = {}
    for k, v in attrs.items():
        if k == "domain":
            kw["domain"] = v
        elif isinstance(v, str):  # a tensor element type name (Cast's "to")
            kw[k] = TYPES[v]
        else:  # an INT attribute
            kw[k] = int(v)
    return helper.make_node(op, ins, outs, **kw)


def to_onnx(graph: dict[str, Any], *, extra_outputs: tuple[str, ...] = ()) -> onnx.ModelProto:
    """The ``onnx`` model of ``graph`` (``integer_graph``'s dict), validated by ``onnx.checker``.

    ``extra_outputs``: intermediate code tensors (names from the dict, of the
    activation dtype) exposed as graph outputs too (for per-layer comparisons).
    """
    (xn, xt, n_in), (yn, yt, n_out) = graph["input"], graph["output"]
    outputs = [helper.make_tensor_value_info(yn, TYPES[yt], [None, n_out])]
    outputs += [helper.make_tensor_value_info(name, TYPES[xt], [None, None]) for name in extra_outputs]
    g = helper.make_graph(
        [_node(*n) for n in graph["nodes"]],
        "integer_mlp",
        [helper.make_tensor_value_info(xn, TYPES[xt], [None, n_in])],
        outputs,
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in graph["initializers"].items()],
    )
    imports = graph.get("opset_imports", {"": graph["opset"]})
    opsets = [helper.make_opsetid(d, v) for d, v in imports.items()]
    model = helper.make_model(g, opset_imports=opsets, ir_version=8)
    onnx.checker.check_model(model)
    return model


def session(model: onnx.ModelProto, *, optimize: bool | str, optimized_path: str | None = None) -> Any:
    """A CPU ``InferenceSession``, optionally saving the graph it runs (``optimized_model_filepath``).

    ``optimize``: True (ORT's default, ``ORT_ENABLE_ALL``), False
    (``ORT_DISABLE_ALL``) or a ``GraphOptimizationLevel`` name.
    """
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if isinstance(optimize, str):
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, optimize)
    elif not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if optimized_path is not None:
        options.optimized_model_filepath = optimized_path
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_ort(model: onnx.ModelProto, x_q: np.ndarray, *, optimize: bool) -> np.ndarray:
    """The model's first output on ``x_q`` (fed as ``"x_q"``) in ONNX Runtime's CPU provider."""
    return run_ort_outputs(model, x_q, optimize=optimize)[0]


def run_ort_outputs(model: onnx.ModelProto, x_q: np.ndarray, *, optimize: bool) -> list[np.ndarray]:
    """Every output of the model on ``x_q``, in the graph's order (``to_onnx``'s ``extra_outputs`` last)."""
    return list(session(model, optimize=optimize).run(None, {"x_q": x_q}))
