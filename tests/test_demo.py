"""The MLP demo: its JSON schema, determinism, plot, and the accuracy targets of a full run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refquant.cli import main
from refquant.recipes.demo import DemoConfig, format_table, run_demo

METHODS = [
    "float32",
    "ptq-int8-per-tensor",
    "ptq-int8-per-channel",
    "ptq-int4-weight-only",
    "qat-int4-ste",
    "qat-int4-lsq",
    "prune-magnitude-90",
    "prune-2:4",
    "prune-structured-50",
]


def test_quick_demo_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    js, png = tmp_path / "d.json", tmp_path / "d.png"
    assert main(["demo", "--quick", "--seed", "1", "--json", str(js), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    data = json.loads(js.read_text())
    assert set(data) == {"dataset", "seed", "float_accuracy", "rows"}
    assert data["dataset"] == "digits" and data["seed"] == 1
    assert [r["method"] for r in data["rows"]] == METHODS
    for r in data["rows"]:
        assert set(r) == {"method", "weight_bits", "activation_bits", "sparsity", "params", "accuracy"}
        assert 0.0 <= r["accuracy"] <= 1.0
    dense = [r for r in data["rows"] if not r["method"].startswith("prune")]
    # 64-128-128-10: 25856 weights (64*128 + 128*128 + 10*128) and 266 biases
    assert all(r["params"] == 26122 and r["sparsity"] == 0.0 for r in dense)
    by = {r["method"]: r for r in data["rows"]}
    # 90% pruned: round(0.9 * 25856) = round(23270.4) = 23270
    assert by["prune-magnitude-90"]["params"] == 25856 - 23270 + 266
    assert by["prune-magnitude-90"]["sparsity"] == pytest.approx(23270 / 25856, rel=1e-12)
    # 2:4 on the two hidden layers: half of their 8192 + 16384 weights pruned
    assert by["prune-2:4"]["params"] == 26122 - 12288
    assert by["prune-2:4"]["sparsity"] == pytest.approx(12288 / 25856)
    # half the neurons of each hidden layer removed: 64-64-64-10 = 64*64+64 + 64*64+64 + 10*64+10
    assert by["prune-structured-50"]["params"] == 4160 + 4160 + 650
    # sparsity counts the removed weights against the original 25856: 1 - (4096 + 4096 + 640) / 25856
    assert by["prune-structured-50"]["sparsity"] == pytest.approx(1 - 8832 / 25856, rel=1e-12)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "qat-int4-lsq" in out


def test_demo_is_deterministic() -> None:
    cfg = DemoConfig(float_epochs=2, qat_epochs=1)
    assert run_demo(3, config=cfg) == run_demo(3, config=cfg)


def test_full_demo_meets_the_accuracy_targets() -> None:
    """The targets: float >= 0.96; int8 PTQ within 0.5 points; int4 QAT within 1.5; pruning within 2."""
    r = run_demo(0)
    acc = {row["method"]: row["accuracy"] for row in r["rows"]}
    assert r["float_accuracy"] >= 0.96
    for m in ("ptq-int8-per-tensor", "ptq-int8-per-channel"):
        assert acc[m] >= r["float_accuracy"] - 0.005, (m, acc[m])
    for m in ("qat-int4-ste", "qat-int4-lsq"):
        assert acc[m] >= r["float_accuracy"] - 0.015, (m, acc[m])
    for m in ("prune-magnitude-90", "prune-2:4", "prune-structured-50"):
        assert acc[m] >= r["float_accuracy"] - 0.02, (m, acc[m])
    assert "qat-int4-ste" in format_table(r)
