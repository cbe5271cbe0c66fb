"""The command line: help, the demo's table and JSON, the formats table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refquant.cli import main, run_affine


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "affine" in out and "formats" in out


def test_affine_prints_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "affine.json"
    assert main(["affine", "--seed", "3", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "per-channel" in out and "SQNR" in out
    data = json.loads(path.read_text())
    assert data["seed"] == 3 and len(data["rows"]) == 10


def test_affine_results_make_sense() -> None:
    rows = run_affine(0)["rows"]
    by = {(r["bits"], r["granularity"]): r for r in rows}
    for bits in (8, 6, 4, 3, 2):
        # per-channel scales are never coarser than the per-tensor one
        assert by[bits, "per-channel"]["rmse"] <= by[bits, "per-tensor"]["rmse"]
    # each bit removed costs SQNR (per-channel)
    sqnr = [by[b, "per-channel"]["sqnr_db"] for b in (8, 6, 4, 3, 2)]
    assert sqnr == sorted(sqnr, reverse=True)
    # the listed disagreements really disagree
    assert all(d["first"] != d["second"] for d in run_affine(0)["disagreements"])


def test_affine_is_deterministic() -> None:
    assert run_affine(1) == run_affine(1)


def test_python_dash_m_runs_formats() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "refquant", "formats"], capture_output=True, text=True, check=True
    )
    assert "uint4" in done.stdout and "4294967295" in done.stdout
