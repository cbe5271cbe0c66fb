"""``refquant check`` and ``refquant vectors``: good and bad case files, the vector files, the JSON.

Expected values are computed by hand (ties of ``x / s``) or are refquant's own
outputs round-tripped through the files; the C end-to-end test is
``tests/check/test_c_kernel.py``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refquant.check.ops import OPS, CaseError, check_case, get_op, make_case
from refquant.cli import main
from refquant.cli.check import read_case, write_vectors


def _quantize_case(actual: list[int]) -> dict[str, np.ndarray]:
    """x / s = 0.5, 1.5, 2.5, -0.5, -2.5 exactly (s = 1): half to even gives 0, 2, 2, -0, -2."""
    return {
        "x": np.float32([0.5, 1.5, 2.5, -0.5, -2.5]),
        "scale": np.array(1.0, np.float32),
        "zero_point": np.array(0, np.int32),
        "quant_min": np.array(-128, np.int32),
        "quant_max": np.array(127, np.int32),
        "actual": np.array(actual, np.int8),
    }


SPEC = [0, 2, 2, 0, -2]
HALF_AWAY = [1, 2, 3, -1, -3]


def _save(path: Path, arrays: dict[str, Any]) -> str:
    np.savez(path, **arrays)
    return str(path)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _strict_json(text: str) -> Any:
    def no_constant(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=no_constant)


# --------------------------------------------------------------------------- check: good cases


def test_identical_case_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["check", "quantize", _save(tmp_path / "c.npz", _quantize_case(SPEC))], capsys)
    assert (code, err) == (0, "")
    assert "all 5 integer codes are equal" in out and out.rstrip().endswith("result: identical")


def test_half_away_kernel_is_named_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _save(tmp_path / "c.npz", _quantize_case(HALF_AWAY))
    code, out, err = _run(["check", "quantize", path], capsys)
    assert (code, err) == (1, "")
    assert "4 of 5 integer codes differ" in out and "half_away" in out
    assert out.rstrip().endswith("result: different (exit status 1)")
    code, out, err = _run(["check", "quantize", path, "--json"], capsys)
    report = _strict_json(out)
    assert code == 1 and report["status"] == 1 and report["identical"] is False
    assert set(report) == {"op", "case", "identical", "status", "comparison", "diagnosis", "notes"}
    c = report["comparison"]
    assert (c["kind"], c["total"], c["mismatches"], c["max_error"], c["unit"]) == (
        "quantized",
        5,
        4,
        1,
        "LSB",
    )
    # the worst elements carry their inputs and x / s
    assert {w["flat_index"] for w in c["worst"]} == {0, 2, 3, 4}
    assert all("x" in w["inputs"] for w in c["worst"])
    d = report["diagnosis"]
    assert d["explained_by"] == {"rounding": "half_away"} and d["matches_reference"] is False
    assert d["mismatches"] == 4 and "half_away" in d["text"]


def test_every_op_passes_its_own_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in OPS:
        out = tmp_path / name
        assert main(["vectors", name, "--out", str(out), "--count", "1", "--seed", "3"]) == 0
        case = dict(np.load(out / "case_0000.npz", allow_pickle=False))
        case["actual"] = case["expected"]
        code, text, err = _run(["check", name, _save(out / "mine.npz", case)], capsys)
        assert (code, err) == (0, ""), (name, text, err)


def test_a_single_wrong_code_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = make_case("onnx.quantize_linear", np.random.default_rng(5))
    actual = case["expected"].copy()
    actual[7] += 1 if actual[7] < np.iinfo(actual.dtype).max else -1
    path = _save(tmp_path / "c.npz", {**case, "actual": actual})
    code, out, _ = _run(["check", "onnx.quantize_linear", path, "--json"], capsys)
    report = _strict_json(out)
    assert code == 1 and report["comparison"]["mismatches"] == 1
    assert report["comparison"]["worst"][0]["index"] == [7]
    assert report["diagnosis"]["explained_by"] is None  # no setting makes one code wrong


def test_stale_expected_is_a_note_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = {**_quantize_case(SPEC), "expected": np.int8([9, 9, 9, 9, 9])}
    code, out, _ = _run(["check", "quantize", _save(tmp_path / "c.npz", case)], capsys)
    assert code == 0 and "note: The case's 'expected' differs" in out


def test_nan_and_inf_in_json_are_strings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # float8_e4m3fn has no inf: 1000 becomes NaN (saturate=False); this implementation saturates to 448
    x = np.float32([1.0, 1000.0, 1.0625])
    case = {"x": x, "fmt": np.array("float8_e4m3fn"), "actual": np.float32([1.0, 448.0, 1.0])}
    code, out, _ = _run(["check", "floats.cast", _save(tmp_path / "c.npz", case), "--json"], capsys)
    report = _strict_json(out)  # no bare NaN / Infinity
    assert code == 1 and report["comparison"]["nan_mismatches"] == 1
    assert report["comparison"]["worst"][0]["expected"] == "nan"


def test_check_case_in_python_matches_the_cli() -> None:
    result = check_case("quantize", _quantize_case(HALF_AWAY))
    assert not result.identical and result.expected.tolist() == SPEC
    assert result.diagnosis is not None and result.diagnosis.explained_by == {"rounding": "half_away"}
    assert check_case(get_op("quantize"), _quantize_case(SPEC)).diagnosis is None


# --------------------------------------------------------------------------- check: bad case files


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _bad_files(tmp: Path) -> list[tuple[str, str]]:
    """(path, a phrase the error must contain)."""
    good = _quantize_case(SPEC)
    files: list[tuple[str, str]] = []

    def save(name: str, arrays: dict[str, Any], phrase: str) -> None:
        files.append((_save(tmp / name, arrays), phrase))

    def raw(name: str, data: bytes, phrase: str) -> None:
        (tmp / name).write_bytes(data)
        files.append((str(tmp / name), phrase))

    raw("text.npz", b"hello, world", "neither an npz")
    raw("empty.npz", b"", "empty")
    raw("pickle.npz", pickle.dumps({"x": 1}), "a pickle")
    raw("single.npz", _npy_bytes(np.zeros(3)), "single .npy array")
    np.savez(tmp / "good.npz", **good)
    raw("truncated.npz", (tmp / "good.npz").read_bytes()[:300], "not a valid npz")
    save("objects.npz", {**good, "x": np.array([1.0, "a", None], dtype=object)}, "Python objects")
    save("missing.npz", {k: v for k, v in good.items() if k != "scale"}, "missing 'scale'")
    save("no_actual.npz", {k: v for k, v in good.items() if k != "actual"}, "missing 'actual'")
    save("extra.npz", {**good, "bias": np.zeros(5)}, "unknown key 'bias'")
    save("x_int.npz", {**good, "x": good["x"].astype(np.int32)}, "'x' has dtype int32")
    save("x_complex.npz", {**good, "x": good["x"].astype(np.complex64)}, "'x' has dtype complex64")
    save("x_struct.npz", {**good, "x": np.zeros(5, [("a", "f4")])}, "holds no numbers")
    save("x_bytes.npz", {**good, "x": np.array([b"ab"] * 5)}, "'x' has dtype")
    save("actual_float.npz", {**good, "actual": good["actual"].astype(np.float32)}, "integer codes")
    save("actual_shape.npz", {**good, "actual": good["actual"][:3]}, "'actual' has shape (3,)")
    save("qmin_shape.npz", {**good, "quant_min": np.array([-128, 0])}, "'quant_min' must be one int")
    save("qmin_float.npz", {**good, "quant_min": np.array(-128.0)}, "'quant_min' must be a int")
    save("scale_negative.npz", {**good, "scale": np.array(-1.0, np.float32)}, "rejects the inputs: scale")
    save("scale_shape.npz", {**good, "scale": np.ones(3, np.float32)}, "rejects the inputs")
    with zipfile.ZipFile(tmp / "not_npy_member.npz", "w") as z:
        for k, v in good.items():
            z.writestr(f"{k}.npy", _npy_bytes(v))
        z.writestr("readme.txt", "hello")
    files.append((str(tmp / "not_npy_member.npz"), "unknown key 'readme.txt'"))
    with zipfile.ZipFile(tmp / "bad_member.npz", "w") as z:
        for k, v in good.items():
            z.writestr(f"{k}.npy", b"\x93NUMPY\x09\x00garbage" if k == "x" else _npy_bytes(v))
    files.append((str(tmp / "bad_member.npz"), "'x' is not a valid .npy array"))
    files.append((str(tmp / "nonexistent.npz"), "No such file or directory"))
    files.append((str(tmp), "Is a directory"))
    return files


def test_unusable_case_files_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path, phrase in _bad_files(tmp_path):
        for extra in ([], ["--json"]):
            code, out, err = _run(["check", "quantize", path, *extra], capsys)
            assert code == 2 and out == "", (path, out)
            assert err.startswith(f"refquant check: error: {path}: ") and err.count("\n") == 1, (path, err)
            assert phrase in err, (path, err)


def test_a_wrong_string_choice_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = {"x": np.float32([1.0]), "fmt": np.array("float7"), "actual": np.float32([1.0])}
    code, _, err = _run(["check", "floats.cast", _save(tmp_path / "c.npz", case)], capsys)
    assert code == 2 and "'fmt' must be one of" in err and "'float7'" in err


def test_read_case_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(CaseError, match="Python objects"):
        read_case(str(tmp_path / "obj.npz"))


def test_bad_invocations_are_argparse_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _save(tmp_path / "c.npz", _quantize_case(SPEC))
    (tmp_path / "file").write_text("x")
    invocations = [
        (["check"], "give OP and CASE.npz, or --list"),
        (["check", "quantize"], "give OP and CASE.npz"),
        (["check", "quantise", case], "did you mean 'quantize'"),
        (["check", "quantize_linear", case], "did you mean 'onnx.quantize_linear'"),
        (["check", "--list", "quantize"], "--list takes no OP"),
        (["check", "quantize", case, "extra"], "unrecognized arguments"),
        (["vectors", "quantize"], "--out"),
        (["vectors", "nope", "--out", str(tmp_path / "v")], "unknown op 'nope'"),
        (["vectors", "quantize", "--out", str(tmp_path / "file")], "is not a directory"),
        (["vectors", "quantize", "--out", str(tmp_path / "file" / "sub")], "is not a directory"),
        (["vectors", "quantize", "--out", ""], "expected a directory"),
        (["vectors", "quantize", "--out", str(tmp_path / "v"), "--count", "0"], "from 1 to 100000"),
        (["vectors", "quantize", "--out", str(tmp_path / "v"), "--count", "x"], "from 1 to 100000"),
        (["vectors", "quantize", "--out", str(tmp_path / "v"), "--seed", "-1"], "integer >= 0"),
    ]
    for argv, phrase in invocations:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        lines = err.splitlines()
        assert exc.value.code == 2 and out == "", argv
        assert len(lines) == 2 and lines[0].startswith("usage: refquant"), (argv, err)
        assert re.match(r"refquant( check| vectors)?: error: ", lines[1]) and phrase in lines[1], (argv, err)
    assert not (tmp_path / "v").exists()


def test_bad_case_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "c.npz").write_bytes(pickle.dumps([1, 2]))
    done = subprocess.run(
        [sys.executable, "-m", "refquant", "check", "quantize", str(tmp_path / "c.npz")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("refquant check: error: ") and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- --list and help


def test_list_names_every_op_with_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["check", "--list"], capsys)
    assert code == 0
    for name, op in OPS.items():
        assert f"\n{name}  (" in out
        assert all(a.name in out for a in op.args)
    assert "torch.fake_quantize_per_channel_affine" in out and "floats.cast" in out
    code, out, _ = _run(["check", "--list", "--json"], capsys)
    rows = _strict_json(out)
    assert [r["name"] for r in rows] == list(OPS)
    quantize = rows[0]
    assert [a["name"] for a in quantize["args"]][:5] == ["x", "scale", "zero_point", "quant_min", "quant_max"]
    assert quantize["function"] == "refquant.quantize.quantize" and quantize["diagnosis"] is True


def test_help_is_plain_text_and_documents_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    texts = {}
    for command in ("check", "vectors"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        texts[command] = capsys.readouterr().out
        assert "``" not in texts[command] and ":func:" not in texts[command]
    assert (
        "allow_pickle=False" in texts["check"]
        and "Exit status: 0 identical, 1 different, 2" in texts["check"]
    )
    for key in ("little-endian", "offset", "nbytes", "manifest.json", '"strings"'):
        assert key in texts["vectors"], key
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "check" in top and "vectors" in top


# --------------------------------------------------------------------------- vectors: the files


def _from_bin(directory: Path, stem: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays of a case as a C reader sees them: bytes at the JSON's offsets, little-endian."""
    meta = json.loads((directory / f"{stem}.json").read_text())
    data = (directory / meta["bin"]).read_bytes()
    assert len(data) == meta["nbytes"] and meta["byte_order"] == "little"
    out: dict[str, Any] = {}
    for e in meta["arrays"]:
        dtype = np.dtype(e["dtype"]).newbyteorder("<")
        chunk = data[e["offset"] : e["offset"] + e["nbytes"]]
        out[e["name"]] = np.frombuffer(chunk, dtype).reshape(e["shape"])
        if not e["shape"]:
            assert e["value"] == out[e["name"]].item()
    return out, meta


def test_vectors_files_agree_with_each_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("quantize", "floats.cast", "torch.fake_quantize_per_channel_affine"):
        out = tmp_path / name
        code, text, _ = _run(["vectors", name, "--out", str(out), "--count", "2"], capsys)
        assert code == 0 and f"wrote 2 cases of {name}" in text
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["cases"] == ["case_0000", "case_0001"] and manifest["op"] == name
        for stem in manifest["cases"]:
            npz = dict(np.load(out / f"{stem}.npz", allow_pickle=False))
            arrays, meta = _from_bin(out, stem)
            assert meta["op"] == name and meta["format"] == "refquant-vectors" and meta["version"] == 1
            numeric = {k: v for k, v in npz.items() if v.dtype.kind != "U"}
            assert list(arrays) == list(numeric)  # the JSON's order is the .bin's
            offsets = [e["offset"] for e in meta["arrays"]]
            sizes = [e["nbytes"] for e in meta["arrays"]]
            assert offsets == [sum(sizes[:i]) for i in range(len(sizes))]  # concatenated, no padding
            for k, v in numeric.items():
                assert arrays[k].dtype == v.dtype.newbyteorder("<") and np.array_equal(
                    arrays[k], v, equal_nan=True
                )
            assert meta["strings"] == {k: str(v) for k, v in npz.items() if v.dtype.kind == "U"}
            inputs = {k: v for k, v in npz.items() if k != "expected"}
            assert np.array_equal(get_op(name).expected(get_op(name).arguments({**inputs, "actual": 0})),
                                  npz["expected"], equal_nan=True)  # fmt: skip
    assert "fmt" in json.loads((tmp_path / "floats.cast" / "case_0000.json").read_text())["strings"]


def test_vectors_are_tie_dense(tmp_path: Path) -> None:
    write_vectors("quantize", str(tmp_path), 3, 0)
    for k in range(3):
        c = np.load(tmp_path / f"case_{k:04d}.npz")
        with np.errstate(over="ignore", invalid="ignore"):  # the huge inputs overflow to inf
            y = c["x"] / c["scale"]  # float32, as refquant and the C kernel divide
            ties = np.abs(y - np.floor(y)) == np.float32(0.5)
        assert ties.sum() >= 100 and c["x"].dtype == np.float32 and c["expected"].dtype == np.int8
        assert (int(c["quant_min"]), int(c["quant_max"])) == (-128, 127)


def test_vectors_are_deterministic(tmp_path: Path) -> None:
    def files(d: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(d.iterdir())}

    for name in ("quantize", "onnx.quantize_linear"):
        a, b, c, d = (tmp_path / f"{name}-{i}" for i in range(4))
        write_vectors(name, str(a), 3, 7)
        write_vectors(name, str(b), 3, 7)
        write_vectors(name, str(c), 3, 8)
        write_vectors(name, str(d), 1, 7)
        assert files(a) == files(b)
        assert files(a)["case_0001.bin"] != files(c)["case_0001.bin"]
        assert files(d)["case_0000.bin"] == files(a)["case_0000.bin"]  # case k does not depend on --count


def test_vectors_create_nested_directories(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    assert main(["vectors", "dequantize", "--out", str(out), "--count", "1"]) == 0
    assert sorted(os.listdir(out)) == ["case_0000.bin", "case_0000.json", "case_0000.npz", "manifest.json"]


def test_the_spec_is_not_torch_and_the_note_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """x = 0.273939937, s = 0.00214854861: x / s rounds to 127 (the spec); x * fl(1/s) is 127.5 exactly
    in float32, which rounds to 128 (torch; refquant.quantize's docstring has the numbers)."""
    case = {
        "input": np.float32([0.273939937]),
        "scale": np.array(0.00214854861),
        "zero_point": np.array(0),
        "quant_min": np.array(0),
        "quant_max": np.array(255),
    }
    s = np.float32(0.00214854861)
    spec_value = (np.float32(127) - 0) * s  # what an implementation that divides returns
    path = _save(tmp_path / "c.npz", {**case, "actual": np.float32([spec_value])})
    code, out, _ = _run(["check", "torch.fake_quantize_per_tensor_affine", path], capsys)
    assert code == 1 and "all 1 elements match the reference" in out
    assert "from which torch.fake_quantize_per_tensor_affine departs" in out


def test_values_off_the_format_grid_are_still_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1.1 is no float8_e4m3fn value (its neighbours are 1.0 and 1.125): counted in float32 ULP instead
    case = {"x": np.float32([1.0, 1.1]), "fmt": np.array("float8_e4m3fn"), "actual": np.float32([1.0, 1.1])}
    code, out, err = _run(["check", "floats.cast", _save(tmp_path / "c.npz", case)], capsys)
    assert code == 1 and err == "" and "1 of 2 float32 values differ" in out
    assert "note: Compared in ULP of the dtypes, not of float8_e4m3fn" in out


def test_per_channel_torch_op_is_diagnosed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per-channel codes x / s_c rounded half away from zero, on torch.quantize_per_channel's vectors."""
    case = make_case("torch.quantize_per_channel", np.random.default_rng(2))
    qmin, qmax = (0, 255) if str(case["dtype"]) == "quint8" else (-128, 127)
    s, z = case["scales"][:, None], case["zero_points"][:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        y = case["input"] / s  # float32, channels along axis 0
        tie = np.abs(y - np.trunc(y)) == 0.5
        codes = np.where(tie, np.trunc(y) + np.sign(y), np.rint(y))  # ties away from zero, others nearest
        actual = np.clip(np.nan_to_num(codes, posinf=1e9, neginf=-1e9) + z, qmin, qmax).astype(np.int32)
    assert tie.sum() > 100
    del case["expected"]
    path = _save(tmp_path / "c.npz", {**case, "actual": actual})
    code, out, _ = _run(["check", "torch.quantize_per_channel", path, "--json"], capsys)
    report = _strict_json(out)
    assert code == 1 and report["diagnosis"]["explained_by"] == {"rounding": "half_away"}
