"""The command line: help, version, the affine walk-through, bad arguments, broken pipes, write errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import refquant
from refquant import cli
from refquant.cli import build_parser, main, run_affine

COMMANDS = ("demo", "plot", "affine", "formats")


def _result() -> dict[str, object]:
    """A small but valid demo result (the JSON ``refquant plot`` reads)."""
    rows = [
        {"method": "float32", "weight_bits": None, "activation_bits": None, "sparsity": 0.0, "params": 26122,
         "accuracy": 0.99},
        {"method": "qat-int4-ste", "weight_bits": 4, "activation_bits": 8, "sparsity": 0.0, "params": 26122,
         "accuracy": 0.98},
        {"method": "prune-2:4", "weight_bits": None, "activation_bits": None, "sparsity": 0.475,
         "params": 13834, "accuracy": 0.985},
    ]  # fmt: skip
    sweep = [{"weight_bits": b, "activation_bits": a, "accuracy": 0.2 if b == 2 else 0.98}
             for b in range(2, 9) for a in (b, None)]  # fmt: skip
    return {"dataset": "digits", "seed": 0, "float_accuracy": 0.99, "rows": rows, "sweep": sweep}


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_help_lists_the_commands_in_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(["--help"], capsys)
    assert all(c in out for c in COMMANDS) and "examples:" in out
    for argv in (["--help"], *([c, "--help"] for c in COMMANDS)):
        text = _help(list(argv), capsys)
        # help is plain text, not the RST of a docstring
        assert "``" not in text and ":mod:" not in text and ":func:" not in text, argv
    demo_help = _help(["demo", "--help"], capsys)
    assert "BLAS" in demo_help and "machine" in demo_help  # what determinism means
    assert "refquant[plot]" in demo_help


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(["--version"], capsys) == f"refquant {refquant.__version__}\n"


def test_affine_prints_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "affine.json"
    assert main(["affine", "--seed", "3", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("refquant affine: ") and "refquant demo" not in out
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


def _bad_invocations(tmp: Path) -> list[list[str]]:
    good = tmp / "good.json"
    good.write_text(json.dumps(_result()))
    (tmp / "a-file").write_text("x")
    (tmp / "not.json").write_text("hello")
    (tmp / "wrong.json").write_text(json.dumps({"float_accuracy": 0.9, "rows": 3}))
    (tmp / "nan.json").write_text('{"float_accuracy": NaN, "rows": []}')
    bad_row = dict(_result(), rows=[{"method": "x", "weight_bits": "4", "activation_bits": None,
                                     "sparsity": 0.0, "params": 1, "accuracy": 0.5}])  # fmt: skip
    (tmp / "bad-row.json").write_text(json.dumps(bad_row))
    nodir, t = str(tmp / "no-such-dir"), str(tmp)
    return [
        [],
        ["bogus"],
        ["--bogus"],
        ["demo", "--seed", "-1"],
        ["demo", "--seed", "abc"],
        ["demo", "--seed", "1.5"],
        ["demo", "--seed", ""],
        ["demo", "--seed", "9" * 5000],
        ["demo", "--seed"],
        ["demo", "--threads", "0"],
        ["demo", "--threads", "-2"],
        ["demo", "--threads", "two"],
        ["demo", "--threads", "100000"],
        ["demo", "--json", f"{nodir}/out.json"],
        ["demo", "--json", t],
        ["demo", "--json", ""],
        ["demo", "--json", f"{t}/a-file/out.json"],
        ["demo", "--plot", f"{t}/fig.txt"],
        ["demo", "--plot", f"{t}/fig"],
        ["demo", "--plot", f"{nodir}/fig.png"],
        ["demo", "--json", f"{t}/same.png", "--plot", f"{t}/same.png"],
        ["demo", "--quick=1"],
        ["demo", "extra"],
        ["demo", "--verbose", "--bogus"],
        ["affine", "--seed", "-3"],
        ["affine", "--seed", "1e3"],
        ["affine", "--json", f"{nodir}/a.json"],
        ["affine", "--json", t],
        ["formats", "--x"],
        ["formats", "extra"],
        ["plot"],
        ["plot", f"{t}/missing.json"],
        ["plot", t],
        ["plot", f"{t}/not.json"],
        ["plot", f"{t}/wrong.json"],
        ["plot", f"{t}/nan.json"],
        ["plot", f"{t}/bad-row.json"],
        ["plot", str(good), "--out", f"{t}/fig.json"],
        ["plot", str(good), "--out", f"{nodir}/fig.png"],
        ["plot", str(good), "--out", t],
        ["plot", str(good), "extra"],
        *([["affine", "--json", "/proc/version"]] if os.path.exists("/proc/version") else []),  # even as root
    ]


def test_every_bad_invocation_is_two_lines_on_stderr_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: object, **kwargs: object) -> int:
        raise AssertionError("work started despite a bad argument")

    for name in ("_demo", "_plot", "_affine", "_print_formats"):
        monkeypatch.setattr(cli, name, no_work)
    invocations = _bad_invocations(tmp_path)
    before = sorted(os.listdir(tmp_path))
    for argv in invocations:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        assert exc.value.code == 2, argv
        assert out == "", argv
        lines = err.splitlines()
        assert len(lines) == 2, (argv, err)
        assert lines[0].startswith("usage: refquant"), (argv, err)
        assert re.match(r"refquant( \w+)?: error: ", lines[1]), (argv, err)
    assert sorted(os.listdir(tmp_path)) == before  # the path probes leave no file behind


def test_bad_argument_in_a_real_process_has_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "refquant", "demo", "--seed", "-1"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr.splitlines()[1]
        == "refquant demo: error: argument --seed: expected an integer >= 0, got '-1'"
    )


def test_plot_without_matplotlib_fails_first_naming_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setattr(cli, "_demo", lambda args: pytest.fail("the demo ran"))
    (tmp_path / "r.json").write_text(json.dumps(_result()))
    for argv in (["demo", "--plot", str(tmp_path / "d.png")], ["plot", str(tmp_path / "r.json")]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        assert exc.value.code == 2 and out == ""
        assert len(err.splitlines()) == 2 and "pip install refquant[plot]" in err
    assert sorted(os.listdir(tmp_path)) == ["r.json"]


def test_existing_output_file_is_accepted_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text("keep")
    args = build_parser().parse_args(["affine", "--json", str(path)])
    assert args.json == str(path) and path.read_text() == "keep"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_unwritable_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["affine", "--json", str(locked / "a.json")])
    finally:
        locked.chmod(0o700)
    assert exc.value.code == 2 and "Permission denied" in capsys.readouterr().err


def test_write_error_after_the_checks_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "a.json"))

    monkeypatch.setattr(cli.json, "dump", disk_full)
    assert main(["affine", "--json", str(tmp_path / "a.json")]) == 1
    err = capsys.readouterr().err
    assert err == f"refquant affine: error: {tmp_path / 'a.json'}: No space left on device\n"


@pytest.mark.parametrize("argv", [["formats"], ["--help"], ["--version"], ["affine"]])
def test_closed_stdout_exits_quietly(argv: list[str]) -> None:
    """``refquant formats | head -1``: no BrokenPipeError traceback, status 1 (the Python docs' recipe)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "refquant", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write
    err = proc.stderr.read()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert err == b""
    # argparse swallows the failed write of --help/--version itself and exits 0
    assert code == 1 or (code == 0 and argv[0].startswith("--"))


def test_python_dash_m_runs_formats() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "refquant", "formats"], capture_output=True, text=True, check=True
    )
    assert "uint4" in done.stdout and "4294967295" in done.stdout


def test_plot_draws_from_the_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    js = tmp_path / "r.json"
    js.write_text(json.dumps(_result()))
    assert main(["plot", str(js)]) == 0  # default: beside the JSON, .png
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(js), "--out", str(tmp_path / "fig.svg")]) == 0
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:1000]
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {tmp_path / 'r.png'}",
        f"wrote {tmp_path / 'fig.svg'}",
    ]
