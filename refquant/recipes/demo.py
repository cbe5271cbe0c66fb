"""``refquant demo``: train an MLP on the bundled digits, quantize it, prune it, and compare.

The main job of the project: a float MLP (64-128-128-10, ReLU) is trained by
hand-written backpropagation on the UCI digits bundled in
:mod:`refquant.datasets`; then it is post-training quantized (int8 per
tensor and per channel, int4 weights only) and fine-tuned with
quantization-aware training (int4 per-channel weights, int8 activations,
with the straight-through estimator or LSQ); its weights (and for fp8 and
MXFP8 its activations) are put on the grids of the non-integer formats of
:mod:`refquant.recipes.formats` (fp8 E4M3 and E5M2, MXFP8, MXFP4, NVFP4, NF4,
16 shared values by k-means with fine-tuned centroids); its activation ranges
are chosen by each calibrator of :mod:`refquant.recipes.calibration`
(percentile, KL-entropy, MSE; int8, fp8, and 4-bit weights and activations,
where the calibrator matters); and it is pruned: 90% of all
weights by gradual magnitude pruning, 2:4 along the input axis of the hidden
layers, and half of the hidden neurons physically removed by Taylor
importance, each fine-tuned. Every row reports the sparsity (fraction of the
original weights that are zero or removed), the real parameter count (kept
weights and biases), the test accuracy and its change from float. A sweep of
post-training quantization at 2 to 8 bits feeds the plot
(:mod:`refquant.recipes.demo_plot`).

Determinism: everything random comes from one seed, and a seed gives the same
table on every run on one machine. The accuracies are *not* the same on every
machine: the matrix products go through the BLAS library NumPy was built
with, whose float32 summation order depends on the library and the CPU
(seed 0 gives ``qat-int4-ste`` 0.9916 on one machine and 0.9889 on another,
each time). The row set, the parameter counts and the sparsities do not
depend on the machine; the accuracy targets (see ``tests/test_demo.py``) hold
on each.

Speed: :func:`main` (``refquant demo``) runs with one BLAS thread unless told
otherwise (``--threads``, through :func:`blas_threads`, which restores the
previous setting); on these small matrices more threads only oversubscribe a
busy machine (with 2 cores kept busy by two other processes: 16 s instead
of 70 to 90 s; 10 s either way on idle cores).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from refquant.datasets import load_digits
from refquant.nn.mlp import count_params, init_mlp
from refquant.nn.train import Model, accuracy, train
from refquant.recipes._blas import blas_threads
from refquant.recipes.calibration import CALIBRATION_ROWS, calibrated_quantize
from refquant.recipes.demo_plot import plot_result
from refquant.recipes.formats import FORMAT_ROWS, format_quantize
from refquant.recipes.integer import INTEGER_ROWS, integer_row
from refquant.recipes.pruning import (
    gradual_magnitude_prune,
    nm_prune,
    sparsity,
    taylor_structured_prune,
)
from refquant.recipes.ptq import post_training_quantize, prepare_qat

__all__ = ["METHODS", "DemoConfig", "blas_threads", "format_table", "run_demo", "write_json"]

SIZES = (64, 128, 128, 10)

#: The rows of the demo's table, in order.
METHODS = (
    "float32",
    "ptq-int8-per-tensor",
    "ptq-int8-per-channel",
    "ptq-int4-weight-only",
    "qat-int4-ste",
    "qat-int4-lsq",
    *FORMAT_ROWS,
    *CALIBRATION_ROWS,
    *INTEGER_ROWS,
    "prune-magnitude-90",
    "prune-2:4",
    "prune-structured-50",
)


@dataclass(frozen=True)
class DemoConfig:
    """Training budget; ``quick`` shortens every run (for smoke tests), not the method."""

    float_epochs: int = 40
    qat_epochs: int = 15
    prune_epochs: int = 15
    finetune_epochs: int = 25
    batch_size: int = 32
    lr: float = 2e-3
    qat_lr: float = 5e-4

    @classmethod
    def quick(cls) -> DemoConfig:
        """8 float epochs, 2 for each QAT, pruning and fine-tuning phase."""
        return cls(float_epochs=8, qat_epochs=2, prune_epochs=2, finetune_epochs=2)


def run_demo(
    seed: int = 0,
    *,
    config: DemoConfig | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
    sweep: bool = True,
) -> dict[str, Any]:
    """Train, quantize, prune and evaluate; the result is what ``refquant demo --json`` writes.

    Parameters
    ----------
    seed : int
        Seeds the one ``numpy.random.Generator`` used for initialization and
        minibatch order. The same seed gives the same result on one machine;
        the accuracies differ between BLAS libraries and CPUs (see the module
        docstring).
    config : DemoConfig, optional
    log : callable, optional
        Receives the detailed lines: phases and one line per training epoch
        (``refquant demo --verbose``).
    progress : callable, optional
        Receives one line per row of the table when it is done, e.g.
        ``"[5/9] qat-int4-ste  0.9889  1.2 s"``.
    sweep : bool
        Also evaluate PTQ at 2 to 8 bits (``result["sweep"]``), for the plot.

    Returns
    -------
    dict
        ``{"dataset", "seed", "float_accuracy", "rows": [{"method",
        "weight_bits", "activation_bits", "weight_format", "activation_format",
        "sparsity", "params", "accuracy"}],
        "sweep": [{"weight_bits", "activation_bits", "accuracy"}]}`` (no
        ``"sweep"`` if not asked); rows in the order of :data:`METHODS`. The
        ``integer-only-int8`` row adds ``identical_to_fake_quant``,
        ``max_lsb_fake_quant`` and the ``onnxruntime_*`` figures
        (:func:`refquant.recipes.integer.integer_row`).

    Examples
    --------
    >>> r = run_demo(0, config=DemoConfig(float_epochs=1, qat_epochs=1, prune_epochs=1, finetune_epochs=1))
    >>> [row["method"] for row in r["rows"]][:3], r["rows"][0]["params"], len(r["sweep"])
    (['float32', 'ptq-int8-per-tensor', 'ptq-int8-per-channel'], 26122, 14)
    """
    cfg = config or DemoConfig()
    say = log or (lambda _: None)
    epoch_log = None if log is None else (lambda e: say(f"  {e}"))
    data = load_digits()
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    model = Model(init_mlp(SIZES, rng=rng))
    say(f"training the float MLP {'-'.join(map(str, SIZES))} on {len(data.x_train)} digits")
    model, _ = train(
        model, data.x_train, data.y_train, epochs=cfg.float_epochs, batch_size=cfg.batch_size,
        rng=rng, lr=cfg.lr, log=epoch_log,
    )  # fmt: skip
    float_acc = accuracy(model, data.x_test, data.y_test)
    calib = [data.x_train[i : i + 256] for i in range(0, len(data.x_train), 256)]
    n_weights = sum(w.size for w, _ in model.params)
    rows: list[dict[str, Any]] = []

    def row(
        method: str, wb: int | None, ab: int | None, m: Model, formats: tuple[Any, ...] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        nonlocal started
        acc = accuracy(m, data.x_test, data.y_test) if extra is None else extra.pop("accuracy")
        params = count_params(m.params, m.masks)
        kept = sum(w.size for w, _ in m.params)  # fewer after structural removal
        sp = 1.0 - (kept * (1.0 - sparsity(m))) / n_weights
        say(f"  {method}: test accuracy {acc:.4f}, {params} parameters, sparsity {sp:.3f}")
        wf, af = formats or (None if wb is None else f"int{wb}", None if ab is None else f"int{ab}")
        rows.append({"method": method, "weight_bits": wb, "activation_bits": ab, "weight_format": wf,
                     "activation_format": af, "sparsity": sp, "params": params, "accuracy": acc,
                     **(extra or {})})  # fmt: skip
        if progress is not None:
            width = max(map(len, METHODS))
            progress(
                f"[{len(rows)}/{len(METHODS)}] {method:<{width}}  {acc:.4f}"
                f"  {time.perf_counter() - started:5.1f} s"
            )
        started = time.perf_counter()

    row("float32", None, None, model)
    say("post-training quantization (calibrated on the training set)")
    row("ptq-int8-per-tensor", 8, 8, post_training_quantize(model, calib, per_channel=False))
    row("ptq-int8-per-channel", 8, 8, post_training_quantize(model, calib))
    row("ptq-int4-weight-only", 4, None, post_training_quantize(model, calib, weight_bits=4, act_bits=None))
    qat_kinds: tuple[Literal["ste", "lsq"], ...] = ("ste", "lsq")
    for wq in qat_kinds:
        say(f"quantization-aware training, int4 weights ({wq}), int8 activations")
        qat = prepare_qat(model, calib, weight_bits=4, act_bits=8, weight_quantizer=wq)
        qat, _ = train(
            qat, data.x_train, data.y_train, epochs=cfg.qat_epochs, batch_size=cfg.batch_size,
            rng=rng, lr=cfg.qat_lr, log=epoch_log,
        )  # fmt: skip
        row(f"qat-int4-{wq}", 4, 8, qat)
    for method, (wf, af, wb, ab) in FORMAT_ROWS.items():
        say(f"{method}: weights as {wf}" + (f", activations as {af}" if af else ", float activations"))
        fq = format_quantize(model, method, calib)
        if method.startswith("kmeans"):  # fine-tune the shared values (Deep Compression)
            fq, _ = train(
                fq, data.x_train, data.y_train, epochs=cfg.qat_epochs, batch_size=cfg.batch_size,
                rng=rng, lr=cfg.qat_lr, log=epoch_log,
            )  # fmt: skip
        row(method, wb, ab, fq, (wf, af))
    for method, (how, wb, ab, af) in CALIBRATION_ROWS.items():
        say(f"{method}: activation ranges by {how} calibration on the training split")
        cq = calibrated_quantize(model, calib, how, weight_bits=wb, act_bits=ab, act_format=af)
        row(method, wb, ab, cq, ("e4m3", "e4m3") if af else ())
    for method, (wb, ab) in INTEGER_ROWS.items():
        say(f"{method}: int8 weights, activations and requantization, run on integers alone")
        figures = integer_row(model, calib, data.x_test, data.y_test)
        figures.pop("logits")
        row(method, wb, ab, model, extra=figures)
    x, y = data.x_train, data.y_train
    kw: dict[str, Any] = {"rng": rng, "batch_size": cfg.batch_size, "lr": cfg.lr, "log": epoch_log}
    say("gradual magnitude pruning to 90% of all weights (global), then fine-tuning")
    gmp = gradual_magnitude_prune(
        model, x, y, final_sparsity=0.9, prune_epochs=cfg.prune_epochs,
        finetune_epochs=cfg.finetune_epochs, **kw,
    )  # fmt: skip
    row("prune-magnitude-90", None, None, gmp)
    say("2:4 pruning along the input axis of the hidden layers, then fine-tuning")
    row("prune-2:4", None, None, nm_prune(model, x, y, finetune_epochs=cfg.finetune_epochs, **kw))
    say("structured pruning: half of each hidden layer's neurons removed (Taylor importance), fine-tuning")
    structured = taylor_structured_prune(model, x, y, fraction=0.5, finetune_epochs=cfg.finetune_epochs, **kw)
    row("prune-structured-50", None, None, structured)
    result: dict[str, Any] = {"dataset": "digits", "seed": seed, "float_accuracy": float_acc, "rows": rows}
    if sweep:
        say("post-training quantization at 2 to 8 bits (for the plot)")
        result["sweep"] = _sweep(model, calib, data)
    return result


def _sweep(model: Model, calib: list[Any], data: Any) -> list[dict[str, Any]]:
    out = []
    for bits in range(2, 9):
        for act in (bits, None):
            m = post_training_quantize(model, calib, weight_bits=bits, act_bits=act)
            out.append(
                {
                    "weight_bits": bits,
                    "activation_bits": act,
                    "accuracy": accuracy(m, data.x_test, data.y_test),
                }
            )
    return out


def format_table(result: dict[str, Any]) -> str:
    """The demo's table: method, bits, sparsity, parameters, accuracy and change from float.

    Rows with agreement figures (``integer-only-int8``) add lines below the table.

    Examples
    --------
    >>> r = {"float_accuracy": 0.9, "rows": [{"method": "float32", "weight_bits": None,
    ...      "activation_bits": None, "sparsity": 0.0, "params": 10, "accuracy": 0.9}]}
    >>> print(format_table(r).splitlines()[2])
    float32                          -      -      0.00      10   0.9000    +0.00
    """
    head = f"{'method':<24} {'W':>9} {'A':>6} {'sparsity':>9} {'params':>7} {'accuracy':>8} {'change':>8}"
    lines = [head, "-" * len(head)]
    for r in result["rows"]:
        wb = r.get("weight_format") or ("-" if r["weight_bits"] is None else str(r["weight_bits"]))
        ab = r.get("activation_format") or (
            "-" if r["activation_bits"] is None else str(r["activation_bits"])
        )
        change = 100 * (r["accuracy"] - result["float_accuracy"])
        lines.append(
            f"{r['method']:<24} {wb:>9} {ab:>6} {r['sparsity']:>9.2f} {r['params']:>7} {r['accuracy']:>8.4f}"
            f" {change:>+8.2f}"
        )
    lines += [line for r in result["rows"] if "identical_to_fake_quant" in r for line in _integer_notes(r)]
    return "\n".join(lines)


def _integer_notes(r: dict[str, Any]) -> list[str]:
    """The integer-only row's agreement figures, below the table."""
    out = [
        f"{r['method']}: run on integers alone; predictions identical to the fake-quantized model"
        f" {r['identical_to_fake_quant']:.4f}, largest output difference {r['max_lsb_fake_quant']} LSB"
    ]
    if "onnxruntime_accuracy" in r:
        out.append(
            f"  its ONNX graph as ONNX Runtime computes it (float32 requantization; refquant's model of ORT):"
            f" accuracy {r['onnxruntime_accuracy']:.4f},"
            f" identical {r['onnxruntime_identical_to_fake_quant']:.4f},"
            f" largest difference {r['onnxruntime_max_lsb_fake_quant']} LSB,"
            f" {r['onnxruntime_codes_differ']} output codes differ"
        )
    if "requantization_differences" in r:
        d = r["requantization_differences"]
        out.append(
            f"  fixed-point vs float32 requantization, all layers: {d['differ']} codes differ"
            f" ({d['double_rounding']} double rounding, {d['ties']} ties, {d['multiplier']} multiplier)"
        )
    return out


def write_json(result: dict[str, Any], path: str) -> None:
    """Write the result as indented JSON (the schema of :func:`run_demo`).

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> write_json({"seed": 1, "rows": []}, path)
    >>> with open(path, encoding="utf-8") as fh:
    ...     print(json.load(fh))
    {'seed': 1, 'rows': []}
    """
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
        fh.write("\n")


def main(
    seed: int,
    *,
    quick: bool,
    json_path: str | None,
    plot_path: str | None,
    verbose: bool = False,
    threads: int = 1,
) -> int:
    """What ``refquant demo`` runs: train and evaluate, print the table, write JSON and plot if asked.

    The arguments are checked by the command line (:mod:`refquant.cli`)
    before this runs: output paths writable, matplotlib present for a plot.
    The BLAS runs with ``threads`` threads (restored afterwards). Returns the
    exit code (0). Exercised by ``tests/test_demo.py``.
    """
    t0 = time.perf_counter()
    with blas_threads(threads) as limited:
        blas = f"BLAS threads: {threads}" if limited else "BLAS threads: as configured (no OpenBLAS found)"
        print(
            f"refquant demo: MLP {'-'.join(map(str, SIZES))} on the UCI digits, seed {seed}"
            f"{' (quick)' if quick else ''}; {blas}",
            flush=True,
        )
        result = run_demo(
            seed,
            config=DemoConfig.quick() if quick else None,
            log=(lambda line: print(line, flush=True)) if verbose else None,
            progress=lambda line: print(line, flush=True),
        )
    print()
    print(format_table(result))
    if json_path:
        write_json(result, json_path)
        print(f"wrote {json_path}")
    if plot_path:
        plot_result(result, plot_path)
        print(f"wrote {plot_path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
