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

from refquant.nn.integer import (
    convert_to_integer,
    dequantize_output,
    integer_forward,
    quantize_input,
    simulate_forward,
)
from refquant.nn.train import Model
from refquant.recipes.ptq import _model

__all__ = ["INTEGER_ROWS", "integer_row"]

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
