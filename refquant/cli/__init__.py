"""The command line, ``refquant`` (also ``python -m refquant``): demo, plot, affine, formats, check, vectors.

* ``demo`` (the main job, :mod:`refquant.recipes.demo`): train an MLP on the
  bundled digits, quantize it after training and with quantization-aware
  training, prune it (gradual magnitude, 2:4, Taylor structured), and print
  the accuracy, sparsity and parameter table; ``--json`` and ``--plot``
  write the result and its figure;
* ``plot``: draw the figure from a JSON that ``demo --json`` wrote;
* ``affine``: a walk-through of affine quantization on a seeded synthetic
  weight matrix whose rows have log-normal magnitudes (the shape of real
  linear-layer weights): error against bit width and granularity, and inputs
  on which the frameworks' semantics disagree;
* ``formats``: the named integer formats;
* ``check`` and ``vectors`` (:mod:`refquant.cli.check`): check an
  implementation's output, saved as an ``.npz`` case, against refquant and
  diagnose the difference; write tie-dense test vectors for a C or CUDA suite.

Every argument is validated by its type function (:mod:`refquant.cli.args`)
while parsing, output paths included: a bad value is an argparse error (exit
status 2, a usage line and an error line on stderr) before any work starts.
A closed output pipe (``refquant formats | head -1``) ends the program
quietly with status 1, as the Python documentation recommends
(``BrokenPipeError``: stdout is pointed at ``os.devnull`` before exiting).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from refquant._version import __version__
from refquant.cli.args import (
    Parser,
    demo_json,
    figure_path,
    nonnegative_int,
    output_path,
    thread_count,
)
from refquant.cli.check import add_parsers, run_check, run_vectors
from refquant.formats import INT_FORMATS, IntFormat
from refquant.interop import torch as torch_semantics
from refquant.qparams import qparams_from_range
from refquant.quantize import fake_quantize, quantize

__all__ = ["build_parser", "builtin_weights", "main", "run_affine"]

DESCRIPTION = """\
refquant: the reference implementation of neural-network quantization and
pruning math, in NumPy. These commands run its demo and a walk-through, and
check your implementation against it; "refquant COMMAND --help" describes each."""

EPILOG = """\
examples:
  refquant demo                                 train, quantize, prune, print the table
  refquant demo --json out.json --plot out.png  also write the result and its figure
  refquant plot out.json --out fig.svg          draw the figure again from the JSON
  refquant affine --seed 1                      quantization error against bit width
  refquant formats | head -4                    the first integer formats
  refquant vectors quantize --out vec           tie-dense test vectors for a C kernel
  refquant check quantize vec/case_0000.npz     your output (added as "actual") against refquant's"""

DEMO_DESCRIPTION = """\
Train a 64-128-128-10 MLP by hand-written backpropagation on the bundled UCI
digits; quantize it (int8 PTQ per tensor and per channel, int4 weights only,
int4 QAT with STE and LSQ) and prune it (90% by gradual magnitude pruning,
2:4, half of the hidden neurons removed), each fine-tuned; print one progress
line per method, then the table of bits, sparsity, parameters, test accuracy
and change from float.

Determinism: a seed gives the same table on every run on one machine; the
accuracies differ between machines (they depend on the BLAS library and the
CPU: seed 0 gives qat-int4-ste 0.9916 on one machine and 0.9889 on another).
Parameter counts and sparsities are the same everywhere."""


def build_parser() -> Parser:
    """The ``refquant`` argument parser (every subcommand, every type check).

    Examples
    --------
    >>> args = build_parser().parse_args(["demo", "--seed", "3", "--quick"])
    >>> args.command, args.seed, args.quick, args.threads
    ('demo', 3, True, 1)
    """
    raw = argparse.RawDescriptionHelpFormatter
    parser = Parser(prog="refquant", description=DESCRIPTION, epilog=EPILOG, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train, quantize, prune and compare an MLP on the bundled digits",
        description=DEMO_DESCRIPTION,
        formatter_class=raw,
    )
    demo.add_argument(
        "--seed", type=nonnegative_int, default=0, metavar="N",
        help="seed of initialization and minibatch order, an integer >= 0 (default 0)",
    )  # fmt: skip
    demo.add_argument("--json", metavar="PATH", type=output_path, help="also write the result as JSON")
    demo.add_argument(
        "--plot", metavar="PATH", type=figure_path,
        help="also save the figure (accuracy against bit width and sparsity); the extension sets the"
        " format (.png, .pdf, .svg, ...); needs matplotlib: pip install refquant[plot]",
    )  # fmt: skip
    demo.add_argument(
        "--quick", action="store_true", help="short training runs (a smoke test of a few seconds)"
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="also print every training epoch")
    demo.add_argument(
        "--threads", type=thread_count, default=1, metavar="N",
        help="BLAS threads during the run, 1 to 1024 (default 1: the matrices are small, and more"
        " threads only slow a busy machine down); the previous setting is restored afterwards",
    )  # fmt: skip
    demo.set_defaults(parser=demo)

    plot = sub.add_parser(
        "plot",
        help="draw the demo's figure from the JSON that demo --json wrote",
        description="Draw the demo's figure (accuracy against bit width; accuracy against sparsity)"
        " from the JSON that refquant demo --json wrote. Needs matplotlib: pip install refquant[plot].",
    )
    plot.add_argument("json", metavar="JSON", type=demo_json, help="the result of refquant demo --json")
    plot.add_argument(
        "--out", metavar="PATH", type=figure_path,
        help="where to save the figure; the extension sets the format (default: the JSON path with .png)",
    )  # fmt: skip
    plot.set_defaults(parser=plot)

    affine = sub.add_parser(
        "affine",
        help="walk through affine quantization on a synthetic weight matrix",
        description="Symmetric integer quantization of a seeded 256x512 synthetic weight matrix at 8, 6,"
        " 4, 3 and 2 bits, per tensor and per channel (RMSE, max error, SQNR), and three inputs on which"
        " two systems' uint8 codes differ. Deterministic: the same seed gives the same numbers.",
    )
    affine.add_argument(
        "--seed", type=nonnegative_int, default=0, metavar="N",
        help="seed of the synthetic weights, an integer >= 0 (default 0)",
    )  # fmt: skip
    affine.add_argument("--json", metavar="PATH", type=output_path, help="also write the results as JSON")
    affine.set_defaults(parser=affine)

    formats = sub.add_parser(
        "formats", help="print the named integer formats", description="Print the named integer formats."
    )
    formats.set_defaults(parser=formats)
    add_parsers(sub, raw)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``refquant`` console script and ``python -m refquant``; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 1 if an output could not be written or stdout was
        closed (a broken pipe); 130 on Ctrl-C. Bad arguments exit with 2
        (``SystemExit``, from argparse). ``check``: 0 identical, 1 different,
        2 an unusable case file.

    Examples
    --------
    >>> main(["formats"])  # doctest: +ELLIPSIS
    name     bits         qmin         qmax  storage
    int2        2           -2            1  int8
    ...
    0
    """
    try:
        try:
            return _run(argv)
        finally:  # also for --help and --version, which exit through SystemExit
            sys.stdout.flush()
    except BrokenPipeError:
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        return 130


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sub: Parser = args.parser
    if args.command == "formats":
        _print_formats()
        return 0
    if args.command == "plot":
        if args.out is None:
            default = os.path.splitext(args.json.path)[0] + ".png"
            try:
                args.out = figure_path(default)
            except argparse.ArgumentTypeError as exc:
                sub.error(f"argument --out: {exc} (the default, beside the JSON; give --out)")
        return _guard_writes(sub, _plot, args)
    if args.command == "demo":
        if args.json and args.plot and os.path.realpath(args.json) == os.path.realpath(args.plot):
            sub.error(f"--json and --plot name the same file {args.json!r}")
        return _guard_writes(sub, _demo, args)
    if args.command == "check":
        return run_check(args)
    if args.command == "vectors":
        return _guard_writes(sub, run_vectors, args)
    return _guard_writes(sub, _affine, args)


def _demo(args: argparse.Namespace) -> int:
    from refquant.recipes.demo import main as demo_main

    return demo_main(
        args.seed,
        quick=args.quick,
        json_path=args.json,
        plot_path=args.plot,
        verbose=args.verbose,
        threads=args.threads,
    )


def _plot(args: argparse.Namespace) -> int:
    from refquant.recipes.demo_plot import plot_result

    plot_result(args.json.result, args.out)
    print(f"wrote {args.out}")
    return 0


def _affine(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    results = run_affine(args.seed)
    _print_affine(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")
        print(f"wrote {args.json}")
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0


def _guard_writes(parser: Parser, run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run; a write that fails although its path was checked (disk full...) is one line, status 1."""
    try:
        code = run(args)
    except BrokenPipeError:
        raise
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{parser.prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


def _silence_stdout() -> None:
    """Point stdout at ``os.devnull`` so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured in tests)
        pass


def builtin_weights(seed: int) -> np.ndarray:
    """A 256 x 512 float32 matrix: Laplacian(0, 0.05) entries, row ``i`` scaled by ``exp(N(0, 1))``.

    The shape of real linear-layer weights: heavy-tailed entries and rows of
    very different magnitudes (what per-channel scales are for).

    Examples
    --------
    >>> w = builtin_weights(0)
    >>> w.shape, str(w.dtype)
    ((256, 512), 'float32')
    """
    rng = np.random.default_rng(seed)
    rows = np.exp(rng.normal(0.0, 1.0, (256, 1)))
    return (rng.laplace(0.0, 0.05, (256, 512)) * rows).astype(np.float32)


def run_affine(seed: int) -> dict[str, Any]:
    """Errors of per-tensor and per-channel symmetric quantization, and semantic disagreements.

    Symmetric narrow-range weights (``amax / qmax``) at 8, 6, 4, 3 and 2 bits,
    per tensor and per output channel, on :func:`builtin_weights`; the
    result holds RMSE, max error and SQNR per row, and three inputs on which
    two systems' uint8 codes differ.

    Examples
    --------
    >>> r = run_affine(0)
    >>> len(r["rows"]), [d["first"] != d["second"] for d in r["disagreements"]]
    (10, [True, True, True])
    """
    w = builtin_weights(seed)
    rows = []
    for bits in (8, 6, 4, 3, 2):
        fmt = IntFormat(bits, signed=True, narrow_range=True)
        for granularity in ("per-tensor", "per-channel"):
            axis = None if granularity == "per-tensor" else 0
            lo = w.min() if axis is None else w.min(axis=1)
            hi = w.max() if axis is None else w.max(axis=1)
            p = qparams_from_range(lo, hi, fmt.qmin, fmt.qmax, symmetric=True, symmetric_divisor="qmax")
            w_hat = fake_quantize(w, p.scale, p.zero_point, fmt.qmin, fmt.qmax, axis=axis)
            err = (w_hat - w).astype(np.float64)
            rows.append(
                {
                    "bits": bits,
                    "granularity": granularity,
                    "rmse": float(np.sqrt(np.mean(err**2))),
                    "max_abs_error": float(np.abs(err).max()),
                    "sqnr_db": float(10 * np.log10(np.mean(w.astype(np.float64) ** 2) / np.mean(err**2))),
                }
            )
    return {"seed": seed, "shape": list(w.shape), "rows": rows, "disagreements": _disagreements()}


def _disagreements() -> list[dict[str, Any]]:
    """Concrete inputs on which two systems' uint8 codes differ."""
    x, s = np.float32(0.273939937), 0.00214854861
    tie, z = np.float32(-76.5), 77
    cases = [
        (
            "x / s (ONNX) vs x * (1/s) (PyTorch)",
            float(x),
            s,
            0,
            int(quantize([x], s, 0, 0, 255)[0]),
            int(torch_semantics.quantize_per_tensor([x], s, 0, "quint8")[0]),
        ),
        (
            "torch fake-quant vs torch quantize_per_tensor (odd zero point)",
            float(tie),
            1.0,
            z,
            int(np.rint(torch_semantics.fake_quantize_per_tensor_affine([tie], 1.0, z, 0, 255)[0])) + z,
            int(torch_semantics.quantize_per_tensor([tie], 1.0, z, "quint8")[0]),
        ),
        (
            "half-even (ONNX) vs half-away (TFLite)",
            2.5,
            1.0,
            0,
            int(quantize([2.5], 1.0, 0, 0, 255)[0]),
            int(quantize([2.5], 1.0, 0, 0, 255, rounding="half_away")[0]),
        ),
    ]
    keys = ("what", "x", "scale", "zero_point", "first", "second")
    return [dict(zip(keys, c, strict=True)) for c in cases]


def _print_affine(results: dict[str, Any]) -> None:
    rows = results["rows"]
    print(
        f"refquant affine: symmetric int quantization of a {results['shape'][0]}x{results['shape'][1]}"
        f" weight matrix (seed {results['seed']})\n"
    )
    print(f"{'bits':>4}  {'granularity':<12} {'RMSE':>10} {'max |err|':>10} {'SQNR dB':>8}")
    for r in rows:
        print(
            f"{r['bits']:>4}  {r['granularity']:<12} {r['rmse']:>10.3e} {r['max_abs_error']:>10.3e}"
            f" {r['sqnr_db']:>8.2f}"
        )
    print("\nwhere two systems give different uint8 codes for the same input:")
    for d in results["disagreements"]:
        print(
            f"  {d['what']}: x={d['x']!r}, scale={d['scale']}, zero_point={d['zero_point']}"
            f" -> {d['first']} vs {d['second']}"
        )


def _print_formats() -> None:
    print(f"{'name':<8} {'bits':>4} {'qmin':>12} {'qmax':>12}  storage")
    for name, f in INT_FORMATS.items():
        print(f"{name:<8} {f.bits:>4} {f.qmin:>12} {f.qmax:>12}  {f.dtype}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
