"""Benchmarks: histograms, percentiles and streaming histograms, as ratios against peers in the same run.

Peers, in the same process on the same data (float32, standard normal):

* ``np.histogram`` (10**7 values, 2048 bins, with and without ``range``);
* ``np.percentile`` with both percentiles in one call (10**7 values);
* ModelOpt's ``_compute_amax_percentile`` and ONNX Runtime's
  ``HistogramCollector.compute_percentile`` on the same 2048-bin histogram;
* the tools' collectors on 10 batches of 10**6 values: ONNX Runtime's
  ``HistogramCollector.collect`` (signed and absolute) and ModelOpt's
  ``HistogramCalibrator.collect`` (``torch.histc``; torch threads printed).

Every line prints ``speed-up`` (peer time / refquant time, best of several
runs after a warm-up) and whether the answers are equal. Missing peers are
skipped with a message. Run with ``make bench``; nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.calibrate.histogram import histogram, histogram_percentile
from refquant.calibrate.ranges import percentile_range
from refquant.calibrate.streaming import histogram_of_batches

N = 10**7
BINS = 2048
REPEAT = 5


def _line(name: str, ours: float, peer: float, same: bool) -> None:
    print(f"{name:<58} {ours * 1e3:>9.2f} {peer * 1e3:>9.2f} {peer / ours:>8.2f}x  {same}")


def _pair(fn: Callable[[], Any], peer: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, float]:
    """Best times of ``fn`` and ``peer``, measured alternately so that load on the machine hits both."""
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(best_time(fn, 1))
        theirs.append(best_time(peer, 1))
    return min(ours), min(theirs)


def bench_histogram(x: np.ndarray) -> None:
    for rg in (None, (-4.0, 4.0)):
        h = histogram(x, BINS, range=rg)
        ref = np.histogram(x, BINS, range=rg)
        same = np.array_equal(h.counts, ref[0]) and np.array_equal(h.edges, ref[1])
        same = same and h.edges.dtype == ref[1].dtype
        t, tp = _pair(
            lambda rg=rg: histogram(x, BINS, range=rg), lambda rg=rg: np.histogram(x, BINS, range=rg)
        )
        _line(f"histogram 10**7 float32, {BINS} bins, range={rg} vs np.histogram", t, tp, same)


def bench_percentile(x: np.ndarray) -> None:
    p = 99.9
    cut = (100.0 - p) / 2
    lo, hi = percentile_range(x, p)
    one = np.percentile(x, [cut, 100.0 - cut])  # float64 for a list of q (NumPy promotes)
    two = (np.percentile(x, cut), np.percentile(x, 100.0 - cut))  # float32, what percentile_range equals
    same = bool(lo == two[0] and hi == two[1] and lo.dtype == two[0].dtype)
    t, tp = _pair(lambda: percentile_range(x, p), lambda: np.percentile(x, [cut, 100.0 - cut]), 3)
    _line(f"percentile_range(x, {p}) vs np.percentile(x, [lo, hi])", t, tp, same)
    print(
        f"{'':<4}equal to two scalar np.percentile calls: {same}; to the one call's float64 values "
        f"rounded to float32: {bool(np.array_equal(np.array([lo, hi]), one.astype(np.float32)))}"
    )
    a = percentile_range(x, p, symmetric=True)[1]
    ax = np.abs(x)
    t, tp = _pair(lambda: percentile_range(x, p, symmetric=True), lambda: np.percentile(np.abs(x), p), 3)
    _line(
        f"percentile_range(x, {p}, symmetric) vs np.percentile(|x|, p)",
        t,
        tp,
        bool(a == np.percentile(ax, p)),
    )


def bench_histogram_percentile(x: np.ndarray) -> None:
    counts, edges = np.histogram(np.abs(x[: 10**6]), BINS)
    try:
        from modelopt.torch.quantization.calib.histogram import _compute_amax_percentile
    except ImportError:
        print("modelopt not installed: histogram_percentile vs modelopt skipped")
    else:
        for p in (99.9, 99.99):
            ref = _compute_amax_percentile(counts, edges, p)
            got = histogram_percentile(counts, edges, p)[1]
            same = bool(np.float32(got) == np.float32(ref))
            t, tp = _pair(
                lambda p=p: histogram_percentile(counts, edges, p),
                lambda p=p: _compute_amax_percentile(counts, edges, p),
            )
            _line(f"histogram_percentile {BINS} bins, p={p} vs modelopt", t, tp, same)
    try:
        from onnxruntime.quantization.calibrate import HistogramCollector
    except ImportError:
        print("onnxruntime not installed: histogram_percentile vs onnxruntime skipped")
        return
    for symmetric in (False, True):
        col = HistogramCollector("percentile", symmetric, BINS, 128, 99.99, "same")
        with contextlib.redirect_stdout(io.StringIO()):
            col.collect({"t": x[: 10**6]})
            ref = col.compute_percentile()["t"]
        c, e, mn, mx = col.histogram_dict["t"][:4]
        side = "symmetric" if symmetric else "two_sided"
        got = histogram_percentile(c, e, 99.99, side=side, clip_to=(float(mn), float(mx)))
        same = bool(np.float32(got[0]) == ref[0] and np.float32(got[1]) == ref[1])

        def peer(col: Any = col) -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                col.compute_percentile()

        t, tp = _pair(
            lambda c=c, e=e, mn=mn, mx=mx, side=side: histogram_percentile(
                c, e, 99.99, side=side, clip_to=(float(mn), float(mx))
            ),
            peer,
        )
        _line(f"histogram_percentile {BINS} bins, {side} vs onnxruntime", t, tp, same)


def bench_streaming(batches: list[np.ndarray]) -> None:
    try:
        from onnxruntime.quantization.calibrate import HistogramCollector
    except ImportError:
        print("onnxruntime not installed: streaming vs onnxruntime skipped")
    else:
        for rule, symmetric in (("onnxruntime", False), ("onnxruntime_absolute", True)):

            def ort(symmetric: bool = symmetric) -> Any:
                col = HistogramCollector("percentile", symmetric, BINS, 128, 99.99, "same")
                with contextlib.redirect_stdout(io.StringIO()):
                    for b in batches:
                        col.collect({"t": b})
                return col.histogram_dict["t"]

            s = histogram_of_batches(batches, bins=BINS, rule=rule)  # type: ignore[arg-type]
            h = ort()
            same = np.array_equal(s.counts, h[0]) and np.array_equal(s.edges, h[1])
            same = same and (s.min, s.max) == (float(h[2]), float(h[3]))
            t, tp = _pair(lambda rule=rule: histogram_of_batches(batches, bins=BINS, rule=rule), ort, 3)
            _line(f"histogram_of_batches rule={rule} vs HistogramCollector", t, tp, same)
    try:
        import torch
        from modelopt.torch.quantization.calib.histogram import HistogramCalibrator
    except ImportError:
        print("modelopt not installed: streaming vs modelopt skipped")
        return
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    tb = [torch.from_numpy(b) for b in batches]

    def mo() -> Any:
        cal = HistogramCalibrator(num_bins=BINS)
        for b in tb:
            cal.collect(b)
        return cal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = mo()
        s = histogram_of_batches(batches, bins=BINS, rule="modelopt")
        same = np.array_equal(s.counts, cal._calib_hist.numpy()) and np.array_equal(
            s.edges, cal._calib_bin_edges.numpy()
        )
        t, tp = _pair(lambda: histogram_of_batches(batches, bins=BINS, rule="modelopt"), mo, 3)
    _line(
        f"histogram_of_batches rule=modelopt vs HistogramCalibrator (torch {torch.get_num_threads()} thr)",
        t,
        tp,
        same,
    )


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    batches = [(rng.standard_normal(10**6) * s).astype(np.float32) for s in np.linspace(0.5, 3.0, 10)]
    print(f"{'case':<58} {'ours ms':>9} {'peer ms':>9} {'speed-up':>9}  same")
    bench_histogram(x)
    bench_percentile(x)
    bench_histogram_percentile(x)
    bench_streaming(batches)
    print("speed-up: peer time / refquant time (best of several, alternating); same: identical answers")


if __name__ == "__main__":
    main()
