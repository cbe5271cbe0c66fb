"""``refquant check`` and ``refquant vectors``: check a kernel outside Python (C, CUDA, ...) against refquant.

Usage::

    refquant check OP CASE.npz [--json]   compare an implementation's output with refquant's
    refquant check --list [--json]        the ops and their arguments
    refquant vectors OP --out DIR [--count N] [--seed S]   tie-dense test vectors for OP

**Case files** (``refquant check``). ``CASE.npz`` (``numpy.savez``) holds
OP's arguments under their names (``refquant check --list``: e.g. ``x``,
``scale``, ``zero_point``, ``quant_min``, ``quant_max`` for ``quantize``;
scalars as 0-d arrays, strings as 0-d ``str`` arrays) and the
implementation's output under ``actual``; ``expected``, which ``refquant
vectors`` writes, may stay (refquant recomputes it). It is read with
``numpy.load(..., allow_pickle=False)``: object arrays and pickles are
refused. The command prints the comparison (:func:`refquant.check.compare.compare`)
and, when they differ and the op has one, the diagnosis
(:class:`refquant.check.diagnosis.Diagnosis`). Exit status: 0 identical, 1
different, 2 unusable: the file is missing, not an npz (zip) archive, holds
pickled objects, misses a key or has one too many, a wrong dtype or shape, a
value refquant rejects, or OP is unknown (close names are suggested); the
message, on stderr, says which.

``--json`` prints one JSON object instead of the text, with the keys

* ``op``, ``case`` (the path), ``identical`` (bool), ``status`` (0 or 1);
* ``comparison``: the fields of :class:`~refquant.check.compare.Comparison`
  (``kind``, ``grid``, ``shape``, ``total``, ``mismatches``,
  ``nan_mismatches``, ``above``, ``below``, ``max_error``, ``worst``: a list
  of ``index``, ``flat_index``, ``actual``, ``expected``, ``difference``,
  ``unit``, ``inputs``; ``signed_zeros``, ``coverage``), plus ``unit`` and
  ``text`` (the printed report);
* ``diagnosis``: null (identical, or the op has none), or the fields of
  :class:`~refquant.check.diagnosis.Diagnosis` (``op``,
  ``matches_reference``, ``explained_by``, ``systems``, ``mismatches``,
  ``total``, ``max_error``, ``unit``, ``findings``, ``examples``,
  ``searched``) plus ``text``;
* ``notes``: a list of sentences (a stale ``expected``, a diagnosis that
  could not run).

NaN and ±inf, which JSON cannot hold, are the strings ``"nan"``, ``"inf"``,
``"-inf"``. ``--list --json`` prints the ops as a JSON list.

**Test vectors** (``refquant vectors``). ``DIR`` (created if needed) receives,
for each case ``k`` from 0 to N-1 (default 16):

* ``case_kkkk.npz`` -- OP's inputs under their names and refquant's output
  under ``expected``: add your output under ``actual`` (and remove
  ``expected`` or keep it) and run ``refquant check OP`` on it;
* ``case_kkkk.bin`` -- the same numeric arrays, raw, little-endian, C order,
  concatenated in the order of the JSON's ``arrays`` list, no padding (copy
  with ``memcpy``: offsets need not be aligned);
* ``case_kkkk.json`` -- ``{"format": "refquant-vectors", "version": 1, "op",
  "case", "seed", "bin", "nbytes", "byte_order": "little", "arrays": [{"name",
  "dtype", "shape", "offset", "nbytes"}, ...], "strings": {name: value}}``;
  ``dtype`` is a NumPy name (``float32``, ``int8``, ``int32``, ``bool``: one
  byte, ...), ``shape`` a list (``[]`` for a scalar, which also gets
  ``"value"``), ``offset`` and ``nbytes`` count bytes from the start of the
  ``.bin``; string arguments (``fmt``, ``dtype``) are in ``strings`` only;
* ``manifest.json`` -- ``{"format", "version", "op", "seed", "count", "cases": [stems]}``.

Case ``k`` is drawn from ``numpy.random.default_rng(SeedSequence(S,
spawn_key=(k,)))``: the same seed gives the same files, and case ``k`` does
not depend on N. What each op draws: :mod:`refquant.check.ops`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from refquant.cli.args import Parser, nonnegative_int

if TYPE_CHECKING:
    from refquant.check.ops import CheckOp

# refquant.check.ops (compare, diagnose, refquant.floats, scipy.special) is imported when a command
# runs, not when the parser is built: the other commands start as fast as before.

__all__ = [
    "add_parsers",
    "output_dir",
    "read_case",
    "run_check",
    "run_vectors",
    "vector_count",
    "write_vectors",
]

MAX_COUNT = 100_000
FORMAT, VERSION = "refquant-vectors", 1

CHECK_DESCRIPTION = """\
Compare the output of your implementation of OP with refquant's, and say why
they differ. CASE.npz (numpy.savez) holds OP's arguments under their names
("refquant check --list" lists them) and your output under "actual"; the
"expected" that refquant vectors writes may stay. Files are read with
allow_pickle=False.

Exit status: 0 identical, 1 different, 2 unusable (the file is missing, not an
npz, holds pickled objects, misses a key or has an unknown one, a wrong dtype
or shape, or OP is unknown); the message on stderr says what is wrong.

--json prints one JSON object: op, case, identical, status, comparison (kind,
grid, shape, total, mismatches, nan_mismatches, above, below, max_error, unit,
worst, text), diagnosis (null, or op, matches_reference, explained_by, systems,
mismatches, total, max_error, unit, findings, examples, searched, text) and
notes."""

VECTORS_DESCRIPTION = """\
Write tie-dense test vectors for OP into DIR (created if needed), for a C or
CUDA test suite: for each case k,

  case_kkkk.npz   OP's inputs under their names and refquant's output under
                  "expected"; add your output under "actual" and run
                  refquant check OP on it
  case_kkkk.bin   the same numeric arrays, raw little-endian, C order,
                  concatenated without padding
  case_kkkk.json  {"format": "refquant-vectors", "version": 1, "op", "case",
                  "seed", "bin", "nbytes", "byte_order": "little", "arrays":
                  [{"name", "dtype", "shape", "offset", "nbytes"}], "strings"}:
                  dtype a NumPy name (float32, int32, bool = 1 byte), shape a
                  list ([] for a scalar, which also has "value"), offset and
                  nbytes in bytes; string arguments are under "strings" only
  manifest.json   {"op", "seed", "count", "cases": [the stems]}

The inputs hold every exact tie of the code range, one ulp around each, the
clamp edges, signed zeros, subnormals and huge values. The same seed gives the
same files; case k does not depend on --count."""


def add_parsers(sub: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``check`` and ``vectors`` subcommands to ``sub`` (the subparsers of ``refquant``)."""
    check = sub.add_parser(
        "check", help="compare an implementation's output (a case file) with refquant's, and diagnose",
        description=CHECK_DESCRIPTION, formatter_class=formatter_class,
    )  # fmt: skip
    check.add_argument("op", nargs="?", metavar="OP", help="the op, e.g. quantize or onnx.quantize_linear")
    check.add_argument("case", nargs="?", metavar="CASE.npz", help="OP's inputs and your output ('actual')")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of the text")
    check.add_argument("--list", action="store_true", help="list the ops and their arguments")
    check.set_defaults(parser=check)

    vectors = sub.add_parser(
        "vectors", help="write tie-dense test vectors (.npz, and .bin/.json for C) for an op",
        description=VECTORS_DESCRIPTION, formatter_class=formatter_class,
    )  # fmt: skip
    vectors.add_argument("op", metavar="OP", help="the op (refquant check --list lists them)")
    vectors.add_argument("--out", metavar="DIR", type=output_dir, required=True, help="the output directory")
    vectors.add_argument(
        "--count", metavar="N", type=vector_count, default=16,
        help=f"number of cases, 1 to {MAX_COUNT} (default 16)",
    )  # fmt: skip
    vectors.add_argument(
        "--seed", metavar="S", type=nonnegative_int, default=0, help="seed, an integer >= 0 (default 0)"
    )
    vectors.set_defaults(parser=vectors)


def vector_count(text: str) -> int:
    """An integer from 1 to :data:`MAX_COUNT` (``--count``).

    Examples
    --------
    >>> vector_count("3")
    3
    >>> vector_count("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer from 1 to 100000, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_COUNT}, got {text!r}")
    return value


def output_dir(text: str) -> str:
    """A directory that exists and is writable, or can be created (its nearest existing parent is).

    Examples
    --------
    >>> output_dir("/proc/version/sub")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: cannot create '/proc/version/sub': '/proc/version' is not a directory
    """
    if not text:
        raise argparse.ArgumentTypeError("expected a directory, got ''")
    path = os.path.abspath(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {existing!r} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write in {existing!r}: permission denied")
    return text


def read_case(path: str) -> dict[str, Any]:
    """The arrays of an ``.npz`` case file, read with ``allow_pickle=False``; raises :class:`CaseError`.

    Members that are not ``.npy`` files come back as ``bytes`` (NumPy's
    ``NpzFile``), which :func:`refquant.check.ops.check_case` then refuses.

    Examples
    --------
    >>> read_case("/nonexistent.npz")
    Traceback (most recent call last):
    ...
    refquant.check.ops.CaseError: cannot read it: No such file or directory
    """
    from refquant.check.ops import CaseError

    try:
        with open(path, "rb") as fh:  # opened here, so that a failing np.load leaves no file open
            return _read_npz(fh)
    except OSError as exc:
        raise CaseError(f"cannot read it: {exc.strerror or exc}") from None


def _read_npz(fh: Any) -> dict[str, Any]:
    from refquant.check.ops import CaseError

    magic = fh.read(6)
    if magic == b"\x93NUMPY":
        raise CaseError("it is a single .npy array, not an npz archive of named arrays (numpy.savez)")
    if not magic:
        raise CaseError("it is empty")
    if not magic.startswith(b"PK"):
        what = "a pickle" if magic[:1] == b"\x80" else "neither an npz (zip) archive nor a .npy file"
        raise CaseError(f"it is {what}; numpy.savez writes an npz (refquant loads no pickles)")
    fh.seek(0)
    try:
        data = np.load(fh, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CaseError(f"it is not a valid npz archive: {exc}") from None
    out: dict[str, Any] = {}
    with data:
        for key in data.files:
            try:
                out[key] = data[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise CaseError(f"{key!r} holds Python objects (refquant loads no pickles)") from None
                raise CaseError(f"{key!r} is not a valid .npy array: {exc}") from None
            except Exception as exc:  # a damaged member: zlib, zip or header errors
                raise CaseError(f"{key!r} cannot be read: {type(exc).__name__}: {exc}") from None
    return out


def run_check(args: argparse.Namespace) -> int:
    """``refquant check``: 0 identical, 1 different, 2 an unusable case (argparse errors also exit 2)."""
    from refquant.check.ops import CaseError, check_case

    parser: Parser = args.parser
    if args.list:
        if args.op is not None:
            parser.error("--list takes no OP or CASE")
        _print_list(args.json)
        return 0
    if args.op is None or args.case is None:
        parser.error("give OP and CASE.npz, or --list")
    op = _op(parser, args.op)
    try:
        result = check_case(op, read_case(args.case))
    except CaseError as exc:
        print(f"{parser.prog}: error: {args.case}: {exc}", file=sys.stderr)
        return 2
    status = 0 if result.identical else 1
    if args.json:
        report = {
            "op": op.name, "case": args.case, "identical": result.identical, "status": status,
            "comparison": {**_plain(result.comparison), "unit": result.comparison.unit,
                           "text": str(result.comparison)},
            "diagnosis": None if result.diagnosis is None else {**_plain(result.diagnosis),
                                                                "text": str(result.diagnosis)},
            "notes": list(result.notes),
        }  # fmt: skip
        print(json.dumps(report, indent=2, allow_nan=False))
        return status
    print(f"refquant check {op.name} {args.case}")
    print(result.comparison)
    if result.diagnosis is not None:
        print()
        print(result.diagnosis)
    for note in result.notes:
        print(f"note: {note}")
    print("result: identical" if status == 0 else "result: different (exit status 1)")
    return status


def run_vectors(args: argparse.Namespace) -> int:
    """``refquant vectors``: write the files, print one line; 0 on success."""
    op = _op(args.parser, args.op)
    stems = write_vectors(op, args.out, args.count, args.seed)
    print(f"refquant vectors: wrote {len(stems)} cases of {op.name} to {args.out}"
          f" ({stems[0]} to {stems[-1]}: .npz, .bin, .json; manifest.json)")  # fmt: skip
    return 0


def write_vectors(op: str | CheckOp, out: str, count: int, seed: int) -> list[str]:
    """Write ``count`` cases of ``op`` into ``out`` (module docstring: the files); returns their stems."""
    from refquant.check.ops import get_op, make_case

    spec = get_op(op) if isinstance(op, str) else op
    os.makedirs(out, exist_ok=True)
    stems = []
    for k in range(count):
        case = make_case(spec, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,))))
        stem = f"case_{k:04d}"
        np.savez(os.path.join(out, stem + ".npz"), **case)  # type: ignore[arg-type]
        meta = _write_bin(os.path.join(out, stem + ".bin"), case)
        head = {"format": FORMAT, "version": VERSION, "op": spec.name, "case": k, "seed": seed}
        _write_json(os.path.join(out, stem + ".json"), {**head, "bin": stem + ".bin", **meta})
        stems.append(stem)
    manifest = {"format": FORMAT, "version": VERSION, "op": spec.name, "seed": seed, "count": count}
    _write_json(os.path.join(out, "manifest.json"), {**manifest, "cases": stems})
    return stems


def _op(parser: Parser, name: str) -> CheckOp:
    from refquant.check.ops import get_op

    try:
        return get_op(name)
    except ValueError as exc:
        parser.error(str(exc))


def _write_bin(path: str, case: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, Any]:
    """Write the numeric arrays raw (little-endian, C order, no padding); their JSON description."""
    arrays: list[dict[str, Any]] = []
    strings: dict[str, str] = {}
    offset = 0
    with open(path, "wb") as fh:
        for name, a in case.items():
            if a.dtype.kind == "U":
                strings[name] = str(a[()])
                continue
            data = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
            entry = {"name": name, "dtype": a.dtype.name, "shape": list(a.shape), "offset": offset}
            entry["nbytes"] = len(data)
            if a.ndim == 0:
                entry["value"] = _plain(a[()])
            arrays.append(entry)
            fh.write(data)
            offset += len(data)
    return {"nbytes": offset, "byte_order": "little", "arrays": arrays, "strings": strings}


def _write_json(path: str, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, allow_nan=False)
        fh.write("\n")


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses and NamedTuples as dicts, NumPy values as Python ones."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _print_list(as_json: bool) -> None:
    from refquant.check.ops import OPS

    if as_json:
        rows = [{"name": op.name, "function": op.target.replace(":", "."), "summary": op.summary,
                 "output": op.output, "diagnosis": op.diagnosis is not None,
                 "args": [_plain(a) for a in op.args]} for op in OPS.values()]  # fmt: skip
        print(json.dumps(rows, indent=2))
        return
    print("refquant check OP CASE.npz: the ops, their arguments ([optional]) and output; CASE.npz")
    print("holds the arguments under these names and your output under 'actual'.\n")
    for op in OPS.values():
        diag = "; diagnosed" if op.diagnosis is not None else ""
        out = "integer codes" if op.output == "quantized" else "floats"
        print(f"{op.name}  ({op.target.replace(':', '.')})")
        print(f"    {op.summary}")
        text = f"arguments: {op.usage()}".replace("|", "| ")  # break lines between the choices too
        lines = textwrap.wrap(
            text, 96, initial_indent="    ", subsequent_indent="      ", break_long_words=False
        )
        print("\n".join(lines).replace("| ", "|"))
        print(f"    output: {out}{diag}")
