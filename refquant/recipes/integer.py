"""The demo's integer-only row: the float MLP converted to int8 and run on integers alone.

``integer-only-int8`` converts the trained float model with
:func:`refquant.nn.integer.convert_to_integer` (int8 per-channel weights, int8
per-tensor activations from min-max calibration on the training split, int32
biases, fixed-point requantization with TFLite's default double rounding) and
evaluates :func:`refquant.nn.integer.integer_forward` on the test split. Beside
the accuracy it reports, against the fake-quantized float64 simulation that
models the same requantization (:func:`refquant.nn.integer.simulate_forward`):
the fraction of identical predictions (1.0: the simulation is exact) and the
largest output difference in LSB (0); and the same figures for the exported
ONNX graph as ONNX Runtime runs it (a float32 multiplier, ties to even), where
TFLite's double rounding moves some codes by one LSB.
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
    requantization_differences,
    simulate_forward,
)
from refquant.nn.train import Model
from refquant.recipes.ptq import _model

__all__ = ["INTEGER_ROWS", "integer_row"]

#: The demo's integer-only rows: method -> (weight bits, activation bits).
INTEGER_ROWS: dict[str, tuple[int, int]] = {"integer-only-int8": (8, 8)}


def _codes(model: Any, sim: NDArray[np.float64]) -> NDArray[np.int64]:
    """The output codes of a simulation's dequantized logits ``s_out (y - z_out)`` (exact inverse)."""
    L = model.layers[-1]
    return np.rint(sim / np.float64(L.output_scale)).astype(np.int64) + L.output_zero_point


def _agreement(
    codes: NDArray[np.int64], reference: NDArray[np.int64], y: NDArray[Any]
) -> tuple[float, float, int]:
    """Accuracy of ``codes``, fraction of predictions equal to ``reference``'s, largest ``|difference|``."""
    pred = codes.argmax(axis=1)
    return (
        float(np.mean(pred == y)),
        float(np.mean(pred == reference.argmax(axis=1))),
        int(np.abs(codes - reference).max(initial=0)),
    )


def integer_row(model: Model, calibration: list[Any], x: Any, y: Any) -> dict[str, Any]:
    """Accuracy of the integer-only model on ``(x, y)``, its agreement with its simulation, and ORT's.

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
        ``identical_to_fake_quant`` and ``max_lsb_fake_quant``: the integer
        model's predictions and output codes against the fake-quantized
        simulation of the same fixed-point requantization
        (:func:`~refquant.nn.integer.simulate_forward`, ``"fixed"``);
        ``onnxruntime_accuracy``, ``onnxruntime_identical_to_fake_quant``,
        ``onnxruntime_max_lsb_fake_quant`` and ``onnxruntime_codes_differ``:
        the same figures for the exported graph
        (:func:`refquant.recipes.integer_onnx.integer_graph`) as ONNX Runtime
        runs it; ``requantization_differences``: the codes where fixed-point
        and float32 requantization differ on the same accumulators, summed over
        the layers, by cause (``differ`` = ``double_rounding + ties +
        multiplier``); and ``logits`` (the integer model's dequantized outputs,
        float32).

    Notes
    -----
    .. math:: \\mathrm{identical} = \\frac1N \\sum_n [\\operatorname{argmax} y_n
        = \\operatorname{argmax} \\tilde y_n], \\qquad
        \\mathrm{max\\ LSB} = \\max_{n,j} |y_{nj} - \\tilde y_{nj}|

    refquant imports no framework, so the ONNX Runtime figures come from
    refquant's model of what ORT computes for the graph: ONNX has no fixed-point
    multiplier, the graph requantizes through a float32 multiplier as ORT's
    QLinear kernels do, which is the float-requantized simulation
    (``simulate_forward(..., requantization="float")``). That this model is ORT's
    output bit for bit, and so these figures ORT's own, is what
    ``tests/conformance/test_integer_demo_conformance.py`` checks on the demo's
    model with ONNX Runtime installed. Where the two differ from the integer
    model, the difference is TFLite's double rounding
    (:func:`~refquant.nn.integer.requantization_differences` counts it per layer).

    Examples
    --------
    >>> m = Model([(np.eye(2), np.zeros(2))])
    >>> r = integer_row(m, [np.array([[0.0, 1.0], [1.0, 0.0]])], np.array([[0.2, 0.9]]), np.array([1]))
    >>> r["accuracy"], r["identical_to_fake_quant"], r["max_lsb_fake_quant"]
    (1.0, 1.0, 0)
    >>> r["onnxruntime_accuracy"], r["onnxruntime_max_lsb_fake_quant"], r["onnxruntime_codes_differ"]
    (1.0, 0, 0)
    """
    _model(model)
    labels = np.asarray(y)
    im = convert_to_integer(model.params, calibration)
    x_q = quantize_input(im, x)
    codes = integer_forward(im, x_q).astype(np.int64)
    fake_quant = _codes(im, simulate_forward(im, x, requantization="fixed"))
    onnxruntime = _codes(im, simulate_forward(im, x, requantization="float"))
    out: dict[str, Any] = {}
    out["accuracy"], out["identical_to_fake_quant"], out["max_lsb_fake_quant"] = _agreement(
        codes, fake_quant, labels
    )
    ort = _agreement(onnxruntime, fake_quant, labels)
    out["onnxruntime_accuracy"], out["onnxruntime_identical_to_fake_quant"] = ort[:2]
    out["onnxruntime_max_lsb_fake_quant"] = ort[2]
    out["onnxruntime_codes_differ"] = int(np.count_nonzero(onnxruntime != fake_quant))
    diffs = requantization_differences(im, x_q)
    out["requantization_differences"] = {
        k: sum(int(getattr(d, k)) for d in diffs) for k in ("differ", "double_rounding", "ties", "multiplier")
    }
    out["logits"] = dequantize_output(im, codes)
    return out
