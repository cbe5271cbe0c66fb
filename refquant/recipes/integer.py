"""The demo's integer-only row: the float MLP converted to int8 and run on integers alone.

``integer-only-int8`` converts the trained float model with
:func:`refquant.nn.integer.convert_to_integer` (int8 per-channel weights, int8
per-tensor activations from min-max calibration on the training split, int32
biases, fixed-point requantization with TFLite's default double rounding) and
evaluates :func:`refquant.nn.integer.integer_forward` on the test split. Beside
the accuracy it reports, against the fake-quantized float64 simulation that
models the same requantization (:func:`refquant.nn.integer.simulate_forward`):
the fraction of identical predictions (1.0: the simulation is exact) and the
largest output difference in LSB (0); and the same two figures against the
float-requantized simulation (ONNX Runtime's float32 multiplier, ties to even),
where TFLite's double rounding moves some codes by one LSB.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.integer import requantization_multiplier
from refquant.nn.integer import (
    IntegerMLP,
    convert_to_integer,
    dequantize_output,
    integer_forward,
    quantize_input,
    simulate_forward,
)
from refquant.nn.train import Model
from refquant.recipes.ptq import _model

__all__ = ["INTEGER_ROWS", "integer_graph", "integer_row"]

#: The demo's integer-only rows: method -> (weight bits, activation bits).
INTEGER_ROWS: dict[str, tuple[int, int]] = {"integer-only-int8": (8, 8)}


def _lsb(model: Any, sim: NDArray[np.float64], y: NDArray[Any]) -> NDArray[np.int64]:
    L = model.layers[-1]
    codes = np.rint(sim / np.float64(L.output_scale)).astype(np.int64) + L.output_zero_point
    return np.abs(codes - y.astype(np.int64))


def integer_row(model: Model, calibration: list[Any], x: Any, y: Any) -> dict[str, Any]:
    """Accuracy of the integer-only model on ``(x, y)`` and its agreement with the two simulations.

    Parameters
    ----------
    model : Model
        The trained float model (ReLU, no masks).
    calibration : list of arrays of shape (N, in)
        The calibration batches (min-max ranges).
    x : array_like of float, shape (N, in)
    y : array_like of int, shape (N,)

    Returns
    -------
    dict
        ``accuracy`` (argmax of the output codes, ties to the lowest index),
        ``identical_to_fake_quant`` and ``max_lsb_fake_quant`` (against the
        fixed-point simulation), ``identical_to_float_requant`` and
        ``max_lsb_float_requant`` (against the float-requantized one), and
        ``logits`` (the dequantized outputs, float32).

    Notes
    -----
    .. math:: \\mathrm{identical} = \\frac1N \\sum_n [\\operatorname{argmax} y_n
        = \\operatorname{argmax} \\tilde y_n]

    Examples
    --------
    >>> m = Model([(np.eye(2), np.zeros(2))])
    >>> r = integer_row(m, [np.array([[0.0, 1.0], [1.0, 0.0]])], np.array([[0.2, 0.9]]), np.array([1]))
    >>> r["accuracy"], r["identical_to_fake_quant"], r["max_lsb_fake_quant"]
    (1.0, 1.0, 0)
    """
    _model(model)
    im = convert_to_integer(model.params, calibration)
    codes = integer_forward(im, quantize_input(im, x))
    pred = codes.argmax(axis=1)
    out: dict[str, Any] = {"accuracy": float(np.mean(pred == np.asarray(y)))}
    for name, how in (("fake_quant", "fixed"), ("float_requant", "float")):
        sim = simulate_forward(im, x, requantization=how)
        out[f"identical_to_{name}"] = float(np.mean(sim.argmax(axis=1) == pred))
        out[f"max_lsb_{name}"] = int(_lsb(im, sim, codes).max(initial=0))
    out["logits"] = dequantize_output(im, codes)
    return out


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
