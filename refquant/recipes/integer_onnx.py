"""The integer-only MLP as an ONNX graph: a plain description, no ``onnx`` import.

refquant imports no framework at run time, so :func:`integer_graph` returns the
graph as plain Python data (nodes, initializers, inputs and outputs); the
conformance tests build the ``onnx`` model from it and run it in ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.integer import requantization_multiplier
from refquant.nn.integer import IntegerMLP

__all__ = ["integer_graph"]


def integer_graph(model: IntegerMLP) -> dict[str, Any]:
    """The integer MLP as a plain description of an ONNX graph (opset 13): nodes, initializers, I/O.

    Parameters
    ----------
    model : IntegerMLP

    Returns
    -------
    dict
        ``{"opset": 13, "input": (name, dtype, in), "output": (name, dtype, out),
        "initializers": {name: ndarray}, "nodes": [(op, inputs, outputs, attributes)]}``
        (the one attribute: ``Cast``'s ``{"to": "float32"}``);
        ``tests/conformance`` builds the ``onnx`` model from it (refquant imports no framework).

    Notes
    -----
    Per layer: ``MatMulInteger(x, W^T, z_in, 0)`` (int32) -> ``Add(b_q)`` ->
    ``Cast(float32)`` -> ``Mul(fl32(M_c))`` -> ``Relu`` (hidden layers) ->
    ``QuantizeLinear(scale 1, zero point z_out)`` (ties to even, saturating).
    The input and output are the integer codes. ONNX has no fixed-point
    multiplier: this graph requantizes through float32 as ONNX Runtime's QLinear
    kernels do, so it computes :func:`~refquant.nn.integer.simulate_forward` with
    ``requantization="float"``, not the fixed-point model; each layer's codes
    differ from the fixed-point ones where
    :func:`~refquant.nn.integer.requantization_differences` counts a difference
    (TFLite's double rounding, ties, the multiplier's rounding). ``Relu`` before
    the quantization equals the fused clamp at ``z_out``: ``R(max(v, 0)) = max(R(v), 0)``.

    Examples
    --------
    >>> from refquant.nn.integer import convert_to_integer
    >>> g = integer_graph(convert_to_integer([(np.eye(2), np.zeros(2))], [np.array([[0.0, 1.0]])]))
    >>> [op for op, *_ in g["nodes"]]
    ['MatMulInteger', 'Add', 'Cast', 'Mul', 'QuantizeLinear']
    """
    if not isinstance(model, IntegerMLP):
        raise TypeError(f"model must be an IntegerMLP, got {type(model).__name__}")
    dt = model.activation_dtype
    inits: dict[str, Any] = {}
    nodes: list[tuple[str, list[str], list[str], dict[str, str]]] = []
    x = "x_q"
    for i, L in enumerate(model.layers):
        p = f"l{i}_"
        inits[p + "w"] = np.ascontiguousarray(L.weight.T)
        inits[p + "z_in"] = np.array(L.input_zero_point, dt)
        inits[p + "z_w"] = np.array(0, np.int8)
        inits[p + "b"] = L.bias.copy()
        inits[p + "m"] = requantization_multiplier(L.input_scale, L.weight_scale, L.output_scale)
        inits[p + "one"] = np.array(1.0, np.float32)
        inits[p + "z_out"] = np.array(L.output_zero_point, dt)
        nodes.append(("MatMulInteger", [x, p + "w", p + "z_in", p + "z_w"], [p + "acc"], {}))
        nodes.append(("Add", [p + "acc", p + "b"], [p + "accb"], {}))
        nodes.append(("Cast", [p + "accb"], [p + "accf"], {"to": "float32"}))
        nodes.append(("Mul", [p + "accf", p + "m"], [p + "v"], {}))
        v = p + "v"
        if L.relu:
            nodes.append(("Relu", [v], [p + "r"], {}))
            v = p + "r"
        x = "y_q" if i == len(model.layers) - 1 else p + "y"
        nodes.append(("QuantizeLinear", [v, p + "one", p + "z_out"], [x], {}))
    n_in, n_out = model.layers[0].weight.shape[1], model.layers[-1].weight.shape[0]
    return {"opset": 13, "input": ("x_q", dt, n_in), "output": ("y_q", dt, n_out), "initializers": inits,
            "nodes": nodes}  # fmt: skip
