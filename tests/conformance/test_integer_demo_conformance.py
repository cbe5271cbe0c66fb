"""The demo row ``integer-only-int8``'s ONNX Runtime figures, checked against ONNX Runtime itself.

``refquant demo`` cannot import onnxruntime (refquant imports no framework at
run time), so :func:`refquant.recipes.integer.integer_row` computes its
``onnxruntime_*`` figures from refquant's model of what ORT does with the
exported graph (the float-requantized simulation). Here the demo's own float
model (seed 0, :class:`~refquant.recipes.demo.DemoConfig`'s float training) is
converted, its graph (:func:`refquant.recipes.integer_onnx.integer_graph`) runs
in ONNX Runtime, and the figures computed from ORT's outputs must equal the
row's, with ORT's output codes equal to the model's bit for bit, with and
without ORT's graph optimizations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from refquant.datasets import load_digits
from refquant.nn.integer import convert_to_integer, integer_forward, quantize_input, simulate_forward
from refquant.nn.mlp import init_mlp
from refquant.nn.train import Model, train
from refquant.recipes.demo import SIZES, DemoConfig
from refquant.recipes.integer import integer_row
from refquant.recipes.integer_onnx import integer_graph
from tests.conformance._onnx_graphs import run_ort, to_onnx


@pytest.fixture(scope="module")
def demo_model() -> tuple[Model, list[np.ndarray], Any]:
    """The demo's float model: ``run_demo(0)``'s first training, step for step."""
    cfg, data = DemoConfig(), load_digits()
    rng = np.random.default_rng(0)
    model = Model(init_mlp(SIZES, rng=rng))
    model, _ = train(
        model, data.x_train, data.y_train, epochs=cfg.float_epochs, batch_size=cfg.batch_size, rng=rng,
        lr=cfg.lr,
    )  # fmt: skip
    calib = [data.x_train[i : i + 256] for i in range(0, len(data.x_train), 256)]
    return model, calib, data


@pytest.mark.parametrize("optimize", [False, True])
def test_the_demo_rows_onnxruntime_figures_are_onnxruntimes(demo_model: Any, optimize: bool) -> None:
    model, calib, data = demo_model
    row = integer_row(model, calib, data.x_test, data.y_test)
    m = convert_to_integer(model.params, calib)  # integer_row's conversion (its defaults)
    x_q = quantize_input(m, data.x_test)
    got = run_ort(to_onnx(integer_graph(m)), x_q, optimize=optimize).astype(np.int64)
    fixed = integer_forward(m, x_q).astype(np.int64)  # == the fake-quantized simulation (row: 0 LSB)
    modelled = simulate_forward(m, data.x_test, requantization="float")  # the row's model of ORT
    last = m.layers[-1]
    assert np.array_equal(got, np.rint(modelled / np.float64(last.output_scale)) + last.output_zero_point)
    assert row["max_lsb_fake_quant"] == 0
    pred = got.argmax(axis=1)
    assert row["onnxruntime_accuracy"] == float(np.mean(pred == data.y_test))
    assert row["onnxruntime_identical_to_fake_quant"] == float(np.mean(pred == fixed.argmax(axis=1)))
    assert row["onnxruntime_max_lsb_fake_quant"] == int(np.abs(got - fixed).max())
    assert row["onnxruntime_codes_differ"] == int(np.count_nonzero(got != fixed))
    print(f"\noptimize={optimize}: { ({k: v for k, v in row.items() if k != 'logits'}) }")
