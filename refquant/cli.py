"""Command line: ``refquant demo``, ``refquant affine`` and ``refquant formats``.

* ``demo`` (the main job, :mod:`refquant.demo`): train an MLP on the bundled
  digits, quantize it after training and with quantization-aware training,
  prune it (gradual magnitude, 2:4, Taylor structured), and print the
  accuracy, sparsity and parameter table;
* ``affine``: a walk-through of affine quantization on a seeded synthetic
  weight matrix whose rows have log-normal magnitudes (the shape of real
  linear-layer weights): error against bit width and granularity, and inputs
  on which the frameworks' semantics disagree;
* ``formats``: the named integer formats.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from refquant.formats import INT_FORMATS, IntFormat
from refquant.interop import torch as torch_semantics
from refquant.qparams import qparams_from_range
from refquant.quantize import fake_quantize, quantize


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``refquant`` console script and ``python -m refquant``; returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success (argparse exits with 2 on bad arguments).

    Examples
    --------
    >>> main(["formats"])  # doctest: +ELLIPSIS
    name     bits         qmin         qmax  storage
    int2        2           -2            1  int8
    ...
    0
    """
    parser = argparse.ArgumentParser(prog="refquant", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train, quantize, prune and compare an MLP on the bundled digits")
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of initialization and minibatches (default 0)"
    )
    demo.add_argument("--json", metavar="PATH", help="also write the table as JSON")
    demo.add_argument("--plot", metavar="PATH", help="also save a PNG of accuracy against bit width")
    demo.add_argument("--quick", action="store_true", help="short training runs (a smoke test)")
    affine = sub.add_parser("affine", help="walk through affine quantization on a synthetic weight matrix")
    affine.add_argument("--seed", type=int, default=0, help="seed of the built-in data (default 0)")
    affine.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    sub.add_parser("formats", help="print the named integer formats")
    args = parser.parse_args(argv)
    if args.command == "formats":
        _print_formats()
        return 0
    if args.command == "demo":
        from refquant.demo import main as demo_main

        return demo_main(args.seed, quick=args.quick, json_path=args.json, plot_path=args.plot)
    started = time.perf_counter()
    results = run_affine(args.seed)
    _print_affine(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        print(f"wrote {args.json}")
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0


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
        f"refquant demo: symmetric int quantization of a {results['shape'][0]}x{results['shape'][1]}"
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
