"""The MLP demo: its output, JSON schema, plot, BLAS threads, and the accuracy targets of a full run.

The accuracies depend on the machine's BLAS (its float32 summation order):
the tests assert the targets, the row set, and the parameter counts and
sparsities (which are exact everywhere), never an exact accuracy.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from refquant.cli import main
from refquant.recipes import _blas, demo
from refquant.recipes.demo import METHODS, DemoConfig, blas_threads, format_table, run_demo
from refquant.recipes.demo_plot import check_result, plot_result
from refquant.recipes.integer import INTEGER_ROWS

# 64-128-128-10: 25856 weights (64*128 + 128*128 + 10*128) and 266 biases
N_WEIGHTS, N_PARAMS = 25856, 26122
INTEGER_FIGURES = {
    "identical_to_fake_quant", "max_lsb_fake_quant", "onnxruntime_accuracy",
    "onnxruntime_identical_to_fake_quant", "onnxruntime_max_lsb_fake_quant", "onnxruntime_codes_differ",
    "requantization_differences",
}  # fmt: skip


def _check_structure(data: dict[str, Any]) -> None:
    """The row set, the exact parameter counts and sparsities, the sweep's grid."""
    assert [r["method"] for r in data["rows"]] == list(METHODS)
    for r in data["rows"]:
        extra = INTEGER_FIGURES if r["method"] in INTEGER_ROWS else set()
        assert set(r) == {
            "method", "weight_bits", "activation_bits", "weight_format", "activation_format",
            "sparsity", "params", "accuracy", *extra,
        }  # fmt: skip
        assert 0.0 <= r["accuracy"] <= 1.0
    by = {r["method"]: r for r in data["rows"]}
    dense = [r for r in data["rows"] if not r["method"].startswith("prune")]
    assert all(r["params"] == N_PARAMS and r["sparsity"] == 0.0 for r in dense)
    assert [(by[m]["weight_bits"], by[m]["activation_bits"]) for m in METHODS[1:6]] == [
        (8, 8), (8, 8), (4, None), (4, 8), (4, 8)
    ]  # fmt: skip
    assert [(by[m]["weight_format"], by[m]["activation_format"]) for m in METHODS[6:13]] == [
        ("e4m3", "e4m3"), ("e5m2", "e5m2"), ("mxfp8", "mxfp8"), ("mxfp4", None), ("nvfp4", None),
        ("nf4", None), ("k-means16", None),
    ]  # fmt: skip
    # 90% pruned: round(0.9 * 25856) = round(23270.4) = 23270
    assert by["prune-magnitude-90"]["params"] == N_WEIGHTS - 23270 + 266
    assert by["prune-magnitude-90"]["sparsity"] == pytest.approx(23270 / N_WEIGHTS, rel=1e-12)
    # 2:4 on the two hidden layers: half of their 8192 + 16384 weights pruned
    assert by["prune-2:4"]["params"] == N_PARAMS - 12288
    assert by["prune-2:4"]["sparsity"] == pytest.approx(12288 / N_WEIGHTS, rel=1e-12)
    # half the neurons of each hidden layer removed: 64-64-64-10 = 64*64+64 + 64*64+64 + 10*64+10
    assert by["prune-structured-50"]["params"] == 4160 + 4160 + 650
    # sparsity counts the removed weights against the original 25856: 1 - (4096 + 4096 + 640) / 25856
    assert by["prune-structured-50"]["sparsity"] == pytest.approx(1 - 8832 / N_WEIGHTS, rel=1e-12)
    grid = [(s["weight_bits"], s["activation_bits"]) for s in data["sweep"]]
    assert grid == [(b, a) for b in range(2, 9) for a in (b, None)]
    assert check_result(data) is data


def test_quick_demo_output_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    js, png = tmp_path / "d.json", tmp_path / "d.png"
    assert main(["demo", "--quick", "--seed", "1", "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out.splitlines()
    data = json.loads(js.read_text())
    assert set(data) == {"dataset", "seed", "float_accuracy", "rows", "sweep"}
    assert data["dataset"] == "digits" and data["seed"] == 1
    _check_structure(data)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a header, one progress line per method, the table, the files written; no per-epoch log
    assert out[0].startswith("refquant demo: MLP 64-128-128-10 on the UCI digits, seed 1 (quick);")
    progress = [line for line in out if line.startswith("[")]
    assert [line.split()[:2] for line in progress] == [
        [f"[{i}/{len(METHODS)}]", m] for i, m in enumerate(METHODS, 1)
    ]
    assert all(
        re.fullmatch(rf"\[\d+/{len(METHODS)}\] \S+ +\d\.\d{{4}} +\d+\.\d s", line) for line in progress
    )
    assert not any("epoch" in line for line in out)
    assert out[-3:-1] == [f"wrote {js}", f"wrote {png}"] and out[-1].startswith("done in ")
    n = len(METHODS)
    assert len(out) == 1 + n + 1 + 2 + n + 3 + 2 + 1  # 3: the integer-only row's agreement lines


def test_verbose_adds_the_epoch_logs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = DemoConfig(float_epochs=2, qat_epochs=1, prune_epochs=1, finetune_epochs=1)
    monkeypatch.setattr(DemoConfig, "quick", classmethod(lambda cls: tiny))
    assert main(["demo", "--quick", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "epoch   2  loss" in out and "training the float MLP" in out
    assert len(re.findall(rf"^\[\d+/{len(METHODS)}\] ", out, flags=re.MULTILINE)) == len(METHODS)


def test_demo_is_deterministic_on_one_machine() -> None:
    cfg = DemoConfig(float_epochs=2, qat_epochs=1, prune_epochs=2, finetune_epochs=1)
    with blas_threads(1):
        first = run_demo(3, config=cfg)
    assert run_demo(3, config=cfg) == first  # bit-identical, whatever the BLAS thread count


def test_full_demo_meets_the_accuracy_targets(tmp_path: Path) -> None:
    """The targets: float >= 0.96; int8 PTQ within 0.5 points; int4 QAT within 1.5; pruning within 2;
    fp8 and MXFP8 within 0.5 points; the 4-bit formats (MXFP4, NVFP4, NF4, 16 shared values) within 2;
    the int8 and fp8 rows with calibrated activation ranges (percentile, entropy, MSE) within 0.5."""
    with blas_threads(1):
        r = run_demo(0)
    _check_structure(r)
    acc = {row["method"]: row["accuracy"] for row in r["rows"]}
    assert r["float_accuracy"] == acc["float32"] >= 0.96
    for m in ("ptq-int8-per-tensor", "ptq-int8-per-channel"):
        assert acc[m] >= r["float_accuracy"] - 0.005, (m, acc[m])
    for m in ("qat-int4-ste", "qat-int4-lsq"):
        assert acc[m] >= r["float_accuracy"] - 0.015, (m, acc[m])
        assert acc[m] > acc["ptq-int4-weight-only"] - 0.005, (m, acc[m])  # QAT recovers int4
    for m in ("prune-magnitude-90", "prune-2:4", "prune-structured-50"):
        assert acc[m] >= r["float_accuracy"] - 0.02, (m, acc[m])
    for m in ("fp8-e4m3", "fp8-e5m2", "mxfp8-e4m3"):
        assert acc[m] >= r["float_accuracy"] - 0.005, (m, acc[m])
    for m in ("mxfp4-weight-only", "nvfp4-weight-only", "nf4-weight-only", "kmeans-16-weight-only"):
        assert acc[m] >= r["float_accuracy"] - 0.02, (m, acc[m])
    for m in ("ptq-int8-percentile", "ptq-int8-entropy", "ptq-int8-mse", "ptq-fp8-mse"):  # issue 10's target
        assert acc[m] >= r["float_accuracy"] - 0.005, (m, acc[m])
    # issue 12: the integer-only model within 0.5 points of float; its predictions those of the
    # fake-quantized simulation of the same requantization (exact: 1.0 and 0 LSB are expected, 0.99 is
    # the target's floor); the float-requantized simulation differs by TFLite's double rounding only
    ints = next(row for row in r["rows"] if row["method"] == "integer-only-int8")
    assert (ints["weight_bits"], ints["activation_bits"]) == (8, 8)
    assert ints["accuracy"] >= r["float_accuracy"] - 0.005, ints
    assert ints["identical_to_fake_quant"] >= 0.99 and ints["max_lsb_fake_quant"] == 0, ints
    # ONNX Runtime's figures (refquant's model of the graph; tests/conformance checks it is ORT's output)
    assert ints["onnxruntime_identical_to_fake_quant"] >= 0.99, ints  # its max_lsb is reported, not bounded
    assert ints["onnxruntime_accuracy"] >= r["float_accuracy"] - 0.005, ints
    # an output code can only differ where some layer's requantization differs
    assert ints["onnxruntime_codes_differ"] == 0 or ints["requantization_differences"]["differ"] > 0, ints
    assert (ints["onnxruntime_codes_differ"] == 0) == (ints["onnxruntime_max_lsb_fake_quant"] == 0), ints
    print(f"integer-only-int8: {ints}")
    sweep = {(s["weight_bits"], s["activation_bits"]): s["accuracy"] for s in r["sweep"]}
    assert min(sweep[b, a] for b in range(5, 9) for a in (b, None)) >= r["float_accuracy"] - 0.01
    assert max(sweep[2, 2], sweep[2, None]) < sweep[8, 8] - 0.1  # the 2-bit collapse the plot marks
    assert "qat-int4-ste" in format_table(r)
    if "matplotlib" in sys.modules or _has_matplotlib():
        plot_result(r, str(tmp_path / "full.png"))
        assert (tmp_path / "full.png").stat().st_size > 10_000


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_plot_handles_overlaps_old_results_and_off_scale_points(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [
        {
            "method": m,
            "weight_bits": wb,
            "activation_bits": ab,
            "sparsity": sp,
            "params": 100,
            "accuracy": acc,
        }
        for m, wb, ab, sp, acc in [
            ("float32", None, None, 0.0, 0.99),
            ("ptq-int8-per-tensor", 8, 8, 0.0, 0.99),
            ("qat-int4-ste", 4, 8, 0.0, 0.98),
            ("qat-int4-lsq", 4, 8, 0.0, 0.98),  # the same value: both must show
            ("prune-2:4", None, None, 0.5, 0.3),  # off scale
        ]
    ]
    result = {"float_accuracy": 0.99, "rows": rows}  # no "sweep": an older JSON
    plot_result(result, str(tmp_path / "a.pdf"))
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"


def test_check_result_names_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="no 'rows'"):
        check_result({"float_accuracy": 0.5})
    with pytest.raises(ValueError, match=r"rows\[0\] lacks one of"):
        check_result({"float_accuracy": 0.5, "rows": [{"method": "x"}]})
    with pytest.raises(ValueError, match=r"sweep\[0\] weight_bits='2'"):
        check_result({"float_accuracy": 0.5, "rows": [],
                      "sweep": [{"weight_bits": "2", "activation_bits": None, "accuracy": 0.5}]})  # fmt: skip
    with pytest.raises(ValueError, match=r"float_accuracy=1\.5"):
        check_result({"float_accuracy": 1.5, "rows": []})


def test_blas_threads_sets_and_restores_openblas() -> None:
    pools = _blas._loaded_openblas()
    if not pools:
        pytest.skip("no OpenBLAS loaded (another BLAS: threadpoolctl's job)")
    before = [p.get() for p in pools]
    with blas_threads(1) as limited:
        assert [p.get() for p in pools] == [1] * len(pools)
        assert len(limited) == len(pools)
    assert [p.get() for p in pools] == before


def test_blas_threads_prefers_threadpoolctl(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, str]] = []

    class Limits:
        def __init__(self, limits: int, user_api: str) -> None:
            calls.append((limits, user_api))

        def __enter__(self) -> Limits:
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append((0, "restored"))

    fake = types.ModuleType("threadpoolctl")
    fake.threadpool_limits = Limits  # type: ignore[attr-defined]
    fake.threadpool_info = lambda: [  # type: ignore[attr-defined]
        {"user_api": "blas", "internal_api": "mkl", "filepath": "/x/libmkl_rt.so"},
        {"user_api": "openmp", "internal_api": "openmp", "filepath": "/x/libgomp.so"},
    ]
    monkeypatch.setitem(sys.modules, "threadpoolctl", fake)
    with blas_threads(2) as limited:
        assert limited == ["mkl (libmkl_rt.so)"]
    assert calls == [(2, "blas"), (0, "restored")]


@pytest.mark.parametrize("n", [0, -1, True, 1.5, "1"])
def test_blas_threads_rejects_bad_counts(n: object) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 1"), blas_threads(n):  # type: ignore[arg-type]
        pass


def test_demo_runs_under_the_requested_thread_count(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = demo.blas_threads

    def spy(n: int) -> Any:
        seen.append(n)
        return real(n)

    monkeypatch.setattr(demo, "blas_threads", spy)
    monkeypatch.setattr(demo, "run_demo", lambda seed, **kw: {"float_accuracy": 0.5, "rows": []})
    assert main(["demo"]) == 0 and main(["demo", "--threads", "2"]) == 0
    assert seen == [1, 2]
    assert "BLAS threads" in capsys.readouterr().out
