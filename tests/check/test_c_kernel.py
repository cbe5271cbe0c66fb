"""End to end: a C int8 quantizer, compiled here, checked with ``refquant vectors`` and ``refquant check``.

``tests/check/c/quantize_int8.c`` is compiled with the system C compiler
(``cc -O2``) in three variants selected by ``-DRQ_ROUNDING``: the correct one
(``nearbyintf``, round half to even in the default rounding mode), one that
rounds half away from zero (``roundf``) and one that writes half-up as
``floorf(y + 0.5f)``. Each reads the ``.bin``/``.json`` pairs of ``refquant
vectors quantize`` (no NumPy), writes its codes as a raw ``.bin``; the test
puts them under ``actual`` in a case ``.npz`` and runs ``refquant check``, in
this process and once through ``python -m refquant``. Skipped only when no
``cc`` is on the PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refquant.cli import main

CC = shutil.which("cc")
SOURCE = Path(__file__).parent / "c" / "quantize_int8.c"
VARIANTS = {"even": "RQ_EVEN", "away": "RQ_AWAY", "floor_half": "RQ_FLOOR_HALF"}
COUNT = 6  # seed 0: cases 4 and 5 reach y = 0.49999997 with room above the zero point
BELOW_HALF = np.float32(0.5) - np.float32(2.0**-25)  # 0.49999997, the float32 just below 0.5

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler: cc is not on the PATH")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The vectors, the three compiled kernels, and each kernel's case files."""
    assert CC is not None
    root = tmp_path_factory.mktemp("c_kernel")
    assert (
        main(["vectors", "quantize", "--out", str(root / "vectors"), "--count", str(COUNT), "--seed", "0"])
        == 0
    )
    for name, macro in VARIANTS.items():
        exe = root / f"quantize_int8_{name}"
        cmd = [
            CC,
            "-O2",
            "-std=c99",
            "-Wall",
            "-Wextra",
            f"-DRQ_ROUNDING={macro}",
            str(SOURCE),
            "-o",
            str(exe),
            "-lm",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stderr}"
        (root / name).mkdir()
        for k in range(COUNT):
            stem = root / "vectors" / f"case_{k:04d}"
            out = root / name / f"codes_{k:04d}.bin"
            run = subprocess.run(
                [str(exe), f"{stem}.json", f"{stem}.bin", str(out)], capture_output=True, text=True
            )
            assert run.returncode == 0, run.stderr
            case = dict(np.load(f"{stem}.npz", allow_pickle=False))
            del case["expected"]  # the user's case: the inputs and the implementation's output
            case["actual"] = np.fromfile(out, dtype="<i1").reshape(case["x"].shape)
            np.savez(root / name / f"case_{k:04d}.npz", **case)
    return root


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["check", "quantize", str(path), "--json"])
    out, err = capsys.readouterr()
    assert err == ""
    return code, json.loads(out)


def test_the_c_program_reads_the_vectors_without_numpy(work: Path) -> None:
    """The correct kernel's raw output is refquant's expected codes, byte for byte."""
    for k in range(COUNT):
        expected = np.load(work / "vectors" / f"case_{k:04d}.npz")["expected"]
        assert (work / "even" / f"codes_{k:04d}.bin").read_bytes() == expected.astype("<i1").tobytes()


def test_correct_kernel_passes(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for k in range(COUNT):
        code, report = _check(work / "even" / f"case_{k:04d}.npz", capsys)
        assert code == 0 and report["identical"] is True and report["diagnosis"] is None


def _both_signs(case: np.lib.npyio.NpzFile) -> bool:
    """Whether codes on both sides of the zero point are reachable (else half_away = half_up or half_down)."""
    return int(case["quant_min"]) < int(case["zero_point"]) < int(case["quant_max"])


def test_half_away_kernel_fails_and_the_diagnosis_names_its_rounding(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = 0
    for k in range(COUNT):
        path = work / "away" / f"case_{k:04d}.npz"
        code, report = _check(path, capsys)
        diagnosis = report["diagnosis"]
        assert code == 1 and isinstance(diagnosis, dict)
        if _both_signs(np.load(path)):
            both += 1
            assert diagnosis["explained_by"] == {"rounding": "half_away"}, diagnosis["text"]
        else:  # one side only: half_away is one of the equal explanations
            assert diagnosis["explained_by"] is not None and "rounding='half_away'" in str(diagnosis["text"])
    assert both >= 1
    # the text report, as a person reads it
    assert main(["check", "quantize", str(work / "away" / "case_0005.npz")]) == 1
    text = capsys.readouterr().out
    assert "Explained exactly by: rounding='half_away'" in text and "result: different" in text


def test_floor_plus_half_kernel_is_told_from_half_up(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``floorf(y + 0.5f)`` is half-up except at y = 0.49999997, where y + 0.5f rounds up to 1."""
    traps = 0
    for k in range(COUNT):
        path = work / "floor_half" / f"case_{k:04d}.npz"
        code, report = _check(path, capsys)
        diagnosis = report["diagnosis"]
        assert code == 1 and isinstance(diagnosis, dict) and diagnosis["explained_by"] is not None
        case = np.load(path)
        with np.errstate(over="ignore", invalid="ignore"):
            y = case["x"] / case["scale"]  # float32, as the kernel divides
        # the slip shows where y = 0.49999997 and the code above the zero point is not clamped away
        if np.any(y == BELOW_HALF) and int(case["zero_point"]) < int(case["quant_max"]):
            traps += 1
            assert diagnosis["explained_by"] == {"rounding": "floor_plus_half"}, diagnosis["text"]
    assert traps >= 1


def test_python_dash_m_refquant_check_on_the_c_output(work: Path) -> None:
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "refquant", "check", "quantize", str(work / name / "case_0005.npz")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("even", "away")
    }  # fmt: skip  (both at once: each start imports NumPy)
    runs = {
        name: subprocess.CompletedProcess(p.args, 0, *p.communicate(timeout=120)) for name, p in procs.items()
    }
    for name, p in procs.items():
        runs[name].returncode = p.returncode
    assert runs["even"].returncode == 0 and runs["even"].stderr == ""
    assert runs["even"].stdout.rstrip().endswith("result: identical")
    assert runs["away"].returncode == 1 and runs["away"].stderr == ""
    assert "rounding='half_away'" in runs["away"].stdout
