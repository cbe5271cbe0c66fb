"""The integer-only MLP exported to ONNX (recipes.integer_onnx.integer_graph) and run in ONNX Runtime.

Three export forms, measured on the demo MLP (64-128-128-10, 8 float epochs,
seed 0, the 359 test rows; int8 and uint8 alike, with and without ORT's graph
optimizations):

* ``"integer"`` (MatMulInteger, Add, Cast, Mul, Relu, QuantizeLinear)
  requantizes through a float32 multiplier: ONNX has no fixed-point multiplier
  op. ONNX Runtime reproduces refquant's float-requantized simulation bit for
  bit and differs from the fixed-point integer model only where
  ``requantization_differences`` finds a difference: double rounding, 26, 37
  and 3 of 45952, 45952 and 3590 codes per layer, 21 of 3590 output codes by
  1 LSB, predictions identical; single rounding: 0 codes differ. ORT's
  optimizer (extended level) only removes the Relus (``ReluQuantFusion``:
  QuantizeLinear's zero point is the type's minimum).
* ``"qlinear"`` (``com.microsoft.QGemm`` + ``Clip`` on the codes) is left as it
  is at every level; ORT's output equals a chain of refquant's
  ``qgemm(..., requantize="onnxruntime")`` plus the clamp bit for bit, and so
  the float simulation: 0 of 3590 codes differ; against the fixed-point model
  the same figures as ``"integer"``.
* ``"qdq"`` (DequantizeLinear, Gemm, Relu, QuantizeLinear), inspected through
  ``SessionOptions.optimized_model_filepath``: ``ORT_DISABLE_ALL`` runs it as
  written, in float32 (MLAS sgemm); ``ORT_ENABLE_BASIC`` only reorders the
  constant DequantizeLinears (no fusion); ``ORT_ENABLE_EXTENDED`` and
  ``ORT_ENABLE_ALL``: uint8, every ``DQ -> Gemm -> (Relu) -> Q`` becomes one
  QGemm (Relu removed first), so the graph is the ``"qlinear"`` one; int8 on
  x86-64, ``QDQS8ToU8Transformer`` turns the hidden Q/DQ pairs into uint8 (zero
  point + 128), after which the first and last layers mix int8 and uint8,
  which ORT's Gemm selector refuses ("activation and output must be same
  type"): float Gemm, QGemm, float Gemm. (With the hidden codes exposed as
  graph outputs the pairs are not converted and all three layers fuse; with a
  hidden zero point above the type's minimum the Relu stays, and ORT fuses
  Gemm + Relu into a float32 ``com.microsoft.FusedGemm`` instead.) On the
  demo every run gives the simulation's codes: 0 of 3590 differ, predictions
  identical; against the fixed-point model 21 codes by 1 LSB (double rounding),
  0 (single).

Float32 QDQ is not modelled bit for bit (MLAS's summation order), so it is
checked against a bound derived beforehand (:func:`_float32_bound`): per layer,
given the same input codes, the float32 value is within ``e = gamma_{K+5} M_c
(sum_k |x_k - z_in| |W_ck| + |b_c|)`` LSB of the exact one (``gamma_n = n u /
(1 - n u)``, ``u = 2**-24``, any summation order; K + 3 roundings per term:
two DequantizeLinears, the product, K additions; the bias: its scale, its
int-to-float conversion, its DequantizeLinear; two more for the division by
``s_out``), so a code can differ only where a half-integer lies within ``e``:
99, 225 and 14 such suspects per layer (``e <= 0.0035`` LSB), none of which
ORT flips. Propagated through the layers (every suspect flipping, which moves
the next layer's values by at most ``M_c sum_k |W_ck| d_k`` for input codes
``d`` apart), the bound is at most 3 LSB on 839 of 3590 output codes, the rest
exact, and leaves the prediction of 358 of the 359 rows certain (the one
other: two equal largest codes).
"""

from __future__ import annotations

import dataclasses
import platform
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from refquant.datasets import load_digits  # noqa: E402
from refquant.interop.onnx_integer import qgemm  # noqa: E402
from refquant.nn.integer import (  # noqa: E402
    IntegerLinear,
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
from tests.conformance._onnx_graphs import run_ort, run_ort_outputs, session, to_onnx  # noqa: E402

U = 2.0**-24  # float32's unit roundoff
LEVELS = ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL")


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


def _qgemm_layer(L: IntegerLinear, dt: str, x: np.ndarray) -> np.ndarray:
    """refquant's model of one exported layer: ORT's QGemm (``transB=1``), then the clamp of a ReLU layer."""
    y = qgemm(
        x, L.input_scale, np.array(L.input_zero_point, dt), L.weight, L.weight_scale,
        np.zeros(len(L.bias), np.int8), L.bias, L.output_scale, np.array(L.output_zero_point, dt),
        trans_b=True, requantize="onnxruntime",
    )  # fmt: skip
    return np.clip(y, L.qmin, L.qmax).astype(dt) if L.relu else y


def _chain(m: IntegerMLP, x_q: np.ndarray) -> list[np.ndarray]:
    out, x = [], x_q
    for L in m.layers:
        x = _qgemm_layer(L, m.activation_dtype, x)
        out.append(x)
    return out


def _float32_bound(L: IntegerLinear, x: np.ndarray, d_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far float32 QDQ's codes can be from the exact ones, given input codes within ``d_in`` of ``x``.

    ``v = M_c acc`` is the exact value of the codes ``x`` (``M_c = s_in s_w,c /
    s_out`` exact: float64 forms it within 2**-52, far below ``e``); the
    other run's inputs differ by at most ``d_in`` codes, which moves ``v`` by
    at most ``M_c |W_c| · d_in``, and its float32 arithmetic by ``e`` (module
    notes; refquant's QGemm model is within ``gamma_4 |v| <= e`` too). Any two
    values in ``[v - P, v + P]`` round to codes at most ``#{half-integers in
    it}`` apart (clamping cannot widen that). Returns (that count per code,
    the suspects: where it is > 0).
    """
    xi = x.astype(np.int64) - L.input_zero_point
    w = L.weight.astype(np.int64)
    m = np.float64(L.input_scale) * L.weight_scale.astype(np.float64) / np.float64(L.output_scale)
    v = (xi @ w.T + L.bias) * m
    n = L.weight.shape[1] + 5
    gamma = n * U / (1 - n * U)
    # + 1e-9: v and p are evaluated here in float64 (exact integer sums, m and the product rounded: a
    # relative error below 2**-51), which moves a value by under 2**-31 < 1e-9 while |v| < 2**20
    assert np.abs(v).max() < 2**20
    p = m * (d_in @ np.abs(w).T) + gamma * m * ((np.abs(xi) + d_in) @ np.abs(w).T + np.abs(L.bias)) + 1e-9
    count = np.maximum(np.floor(v + p - 0.5) - np.ceil(v - p - 0.5) + 1, 0).astype(np.int64)
    return np.minimum(count, L.qmax - L.qmin), count > 0


def _propagated_bound(m: IntegerMLP, x_q: np.ndarray, chain: list[np.ndarray]) -> np.ndarray:
    d = np.zeros(x_q.shape, np.int64)
    for L, x in zip(m.layers, [x_q, *chain[:-1]], strict=True):
        d, _ = _float32_bound(L, x, d)
    return d


def _ops_run(model: Any, optimize: bool, path: str) -> list[str]:
    """The op types of the graph ORT runs (after its optimizations, if any)."""
    session(model, optimize=optimize, optimized_path=path)
    return [n.op_type for n in onnx.load(path).graph.node]


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_onnx_runtime_runs_the_integer_mlp(demo: Any, rounding: str, dtype: str, optimize: bool) -> None:
    model, calib, data = demo
    m = convert_to_integer(model.params, calib, activation_dtype=dtype, rounding=rounding)
    xq = quantize_input(m, data.x_test)
    got = run_ort(to_onnx(integer_graph(m)), xq, optimize=optimize).astype(np.int64)
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


@pytest.mark.parametrize("form", ["qlinear", "qdq"])
@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("rounding", ["double", "single"])
def test_onnx_runtime_runs_the_qlinear_and_qdq_forms(
    demo: Any, rounding: str, dtype: str, optimize: bool, form: str, tmp_path: Any
) -> None:
    model, calib, data = demo
    m = convert_to_integer(model.params, calib, activation_dtype=dtype, rounding=rounding)
    xq = quantize_input(m, data.x_test)
    onnx_model = to_onnx(integer_graph(m, form=form))
    got = run_ort(onnx_model, xq, optimize=optimize).astype(np.int64)
    chain = _chain(m, xq)
    ref = chain[-1].astype(np.int64)
    sim = _sim_codes(m, simulate_forward(m, data.x_test, requantization="float"))
    assert np.array_equal(ref, sim)  # refquant's QGemm chain is its float-requantized simulation
    ops = _ops_run(onnx_model, optimize, str(tmp_path / "run.onnx"))
    quantized_only = form == "qlinear" or "Gemm" not in ops  # every layer a QGemm in the graph ORT ran
    bound = np.zeros_like(ref) if quantized_only else _propagated_bound(m, xq, chain)
    if quantized_only:
        assert np.array_equal(got, ref)  # modelled exactly: bit for bit
    else:  # float32 Gemms in the graph: within the bound derived beforehand
        assert np.all(np.abs(got - ref) <= bound)
    # the predictions: identical wherever the bound cannot reorder the row's two largest codes
    top = ref.argmax(1)
    rival = np.where(np.arange(ref.shape[1]) == top[:, None], np.iinfo(np.int64).min, ref + bound)
    safe = ref[np.arange(len(ref)), top] - bound[np.arange(len(ref)), top] > rival.max(1)
    assert np.array_equal(got.argmax(1)[safe], top[safe])
    assert np.mean(got.argmax(1) == sim.argmax(1)) >= np.mean(safe) >= 0.99  # measured: 358 of 359 safe
    fixed = integer_forward(m, xq).astype(np.int64)
    same = float(np.mean(got.argmax(1) == fixed.argmax(1)))
    print(f"\n{form} {rounding} {dtype} optimize={optimize} {ops}: against the simulation "
          f"{int((got != sim).sum())} of {got.size} codes differ (bound: max {int(bound.max())} LSB, "
          f"{int((bound > 0).sum())} codes; {int(safe.sum())} rows safe), identical predictions "
          f"{float(np.mean(got.argmax(1) == sim.argmax(1)))}; against the fixed-point model "
          f"{int((got != fixed).sum())} differ, max {int(np.abs(got - fixed).max())} LSB, "
          f"identical predictions {same}")  # fmt: skip
    assert same >= 0.99  # fixed point against float requantization: 1-LSB double-rounding differences
    if quantized_only and all(d.differ == 0 for d in requantization_differences(m, xq)):
        assert np.array_equal(got, fixed)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_unfused_qdq_differs_only_at_the_suspects_layer_by_layer(demo: Any, dtype: str) -> None:
    """Each layer, fed ORT's own input codes: float32 QDQ's codes are the QGemm model's except at suspects.

    ``ORT_DISABLE_ALL`` (nothing fused; exposing the hidden codes as outputs
    changes nothing then). A suspect is a code whose exact value lies within
    ``e`` of a half-integer (:func:`_float32_bound` with ``d_in = 0``); there
    the two may differ by 1.
    """
    model, calib, data = demo
    m = convert_to_integer(model.params, calib, activation_dtype=dtype)
    xq = quantize_input(m, data.x_test)
    hidden = tuple(f"l{i}_y" for i in range(len(m.layers) - 1))
    outs = run_ort_outputs(to_onnx(integer_graph(m, form="qdq"), extra_outputs=hidden), xq, optimize=False)
    codes = [*outs[1:], outs[0]]
    x, counts = xq, []
    for L, got in zip(m.layers, codes, strict=True):
        assert got.dtype == np.dtype(dtype)
        ref = _qgemm_layer(L, dtype, x).astype(np.int64)
        bound, suspect = _float32_bound(L, x, np.zeros(x.shape, np.int64))
        diff = got.astype(np.int64) - ref
        assert np.all(np.abs(diff) <= bound)  # 0 away from the suspects, at most 1 at them
        assert bound.max() <= 1
        counts.append((int(suspect.sum()), int((diff != 0).sum())))
        x = got
    print(f"\n{dtype}: (suspects, differing codes) per layer {counts}")


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_what_onnx_runtime_makes_of_each_form(dtype: str, tmp_path: Any) -> None:
    """The graphs ORT runs, per optimization level (``optimized_model_filepath``); the module notes."""
    layers = [
        (np.eye(4)[:3] + 0.1, np.full(3, 0.2)),
        (np.ones((3, 3)) / 3, np.zeros(3)),
        (np.eye(3), np.zeros(3)),
    ]
    calib = [np.random.default_rng(0).uniform(0, 1, (16, 4))]
    m = convert_to_integer(layers, calib, activation_dtype=dtype)
    seen = {}
    for form in ("integer", "qlinear", "qdq"):
        model = to_onnx(integer_graph(m, form=form))
        for level in LEVELS:
            path = str(tmp_path / f"{form}_{level}.onnx")
            session(model, optimize=level, optimized_path=path)
            seen[form, level] = [n.op_type for n in onnx.load(path).graph.node]
    assert all(seen["qlinear", lv] == ["QGemm", "Clip", "QGemm", "Clip", "QGemm"] for lv in LEVELS)
    assert seen["integer", "ORT_ENABLE_EXTENDED"].count("Relu") == 0  # Relu before Q(zero point = min)
    for level in LEVELS[:2]:
        assert seen["qdq", level].count("Gemm") == 3 and "QGemm" not in seen["qdq", level]
    fused = [op for op in seen["qdq", "ORT_ENABLE_ALL"] if op in ("Gemm", "QGemm")]
    assert seen["qdq", "ORT_ENABLE_EXTENDED"] == seen["qdq", "ORT_ENABLE_ALL"]
    if dtype == "uint8":
        assert seen["qdq", "ORT_ENABLE_ALL"] == ["QGemm", "QGemm", "QGemm"]
    elif platform.machine().lower() in ("x86_64", "amd64"):  # QDQS8ToU8Transformer (x86 only)
        assert fused == ["Gemm", "QGemm", "Gemm"]
    print(f"\n{dtype}: {seen}")


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_the_clip_is_the_fused_relu_where_it_clamps(demo: Any, dtype: str, tmp_path: Any) -> None:
    """A hidden zero point above the type's minimum: QGemm's codes go below it and the Clip is needed.

    The demo's model with every hidden ``z_out`` raised by 28 (``q_min =
    z_out``): ORT's qlinear graph equals the integer model's fused clamp (its
    float simulation) bit for bit, while QGemm alone writes codes below ``z_out``;
    the QDQ graph keeps its ReLUs (ORT fuses each hidden Gemm and Relu into a
    float32 ``FusedGemm``, not a QGemm) and stays within the float32 bound.
    """
    model, calib, data = demo
    m = convert_to_integer(model.params, calib, activation_dtype=dtype)
    layers = list(m.layers)
    for i in range(len(layers) - 1):
        z = layers[i].output_zero_point + 28
        layers[i] = dataclasses.replace(layers[i], output_zero_point=z, qmin=z)
        layers[i + 1] = dataclasses.replace(layers[i + 1], input_zero_point=z)
    m2 = IntegerMLP(tuple(layers), m.activation_dtype, m.rounding)
    xq = quantize_input(m2, data.x_test)
    g = integer_graph(m2, form="qlinear")
    outs = run_ort_outputs(to_onnx(g, extra_outputs=("l0_q", "l0_y")), xq, optimize=True)
    assert int(outs[1].min()) < m2.layers[0].qmin <= int(outs[2].min())  # QGemm alone, then clamped
    sim = _sim_codes(m2, simulate_forward(m2, data.x_test, requantization="float"))
    assert np.array_equal(outs[0].astype(np.int64), sim)
    assert np.array_equal(outs[2], _chain(m2, xq)[0])
    # the QDQ graph: its Relus stay (ReluQuantFusion needs the type's minimum), fused into float32
    # com.microsoft.FusedGemm(activation="Relu") instead of QGemm; within the float32 bound
    qdq = to_onnx(integer_graph(m2, form="qdq"))
    assert _ops_run(qdq, True, str(tmp_path / "qdq.onnx")).count("FusedGemm") == len(m2.layers) - 1
    got = run_ort(qdq, xq, optimize=True).astype(np.int64)
    assert np.all(np.abs(got - sim) <= _propagated_bound(m2, xq, _chain(m2, xq)))
