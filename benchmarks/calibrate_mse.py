"""Benchmarks: ``refquant.calibrate.mse`` against ModelOpt's ``_compute_amax_mse`` and per-candidate loops.

Peers, in the same process on the same input, each result checked equal before it is timed:

* ``mse_amax`` on a 2048-bin histogram of 10**6 ``|N(0,1)|`` draws (ModelOpt's default bin count and
  ``start_bin=128``: 1920 candidates) against ModelOpt 0.47's ``_compute_amax_mse``: as shipped
  (``shipped=True``), as intended (its quantizer call fixed, ``bias=None``), and its fp8 path
  (``num_bits=(4, 3)``, intended);
* ``mse_range`` on 10**6 float32 values, 100 candidates, 8 bits, against the same search written as a
  loop of ``refquant.quantize.fake_quantize`` calls and as a loop of
  ``torch.fake_quantize_per_tensor_affine`` calls (torch threads: ``BENCH_THREADS``, default 2).

Both searches screen the candidates with rigorous float64 bounds and evaluate only those that may
win (``refquant.calibrate._mse_screen``); the "exhaustive" column and the "without the screen" row
time ``screen=False`` (every candidate in torch's order, or in float64), with the same answer.

Issue 10's target is 50x, as for the entropy search; MSE is "likewise measured" against both. Measured
here (2 shared cores, two runs): ModelOpt 115-150 ms per search; mse_amax int8 unsigned 1.6-1.7 ms
(70-76x), int4 0.8-0.85 ms (135-141x), fp8 1.6-1.7 ms (87-92x), shipped 0.14-0.35 ms (375-920x);
the exhaustive search takes 7-10 ms (11-18x). mse_range on 10**6 values x 100 candidates: 23-25 ms,
6.6-7x faster than exhaustive (157-166 ms). Run with ``make bench``; nothing here asserts a timing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.calibrate import mse
from refquant.calibrate.mse import mse_amax, mse_range
from refquant.quantize import fake_quantize

REPEAT = 3


def _histogram_rows(torch: Any) -> None:
    import modelopt.torch.quantization.calib.histogram as H

    x = np.abs(np.random.default_rng(0).standard_normal(10**6)).astype(np.float32)
    counts, edges = np.histogram(x, bins=2048)
    fq, fp8 = H.fake_tensor_quant, H.scaled_e4m3

    def intended(*a: Any) -> Any:
        H.fake_tensor_quant = lambda i, amax, nb, u: fq(i, amax, None, nb, u)
        H.scaled_e4m3 = lambda i, amax, e, m: fp8(i, amax, None, e, m)
        try:
            return H._compute_amax_mse(*a)
        finally:
            H.fake_tensor_quant, H.scaled_e4m3 = fq, fp8

    rows = [
        ("int8 unsigned, shipped", lambda: H._compute_amax_mse(counts, edges, 8, True),
         lambda: mse_amax(counts, edges, num_bits=8, unsigned=True, shipped=True)),
        ("int8 signed, shipped", lambda: H._compute_amax_mse(counts, edges, 8, False),
         lambda: mse_amax(counts, edges, num_bits=8, shipped=True)),
        ("int8 unsigned, intended", lambda: intended(counts, edges, 8, True),
         lambda: mse_amax(counts, edges, num_bits=8, unsigned=True)),
        ("int4 signed, intended", lambda: intended(counts, edges, 4, False),
         lambda: mse_amax(counts, edges, num_bits=4)),
        ("fp8 e4m3fn, intended", lambda: intended(counts, edges, (4, 3), False),
         lambda: mse_amax(counts, edges, num_bits=(4, 3))),
    ]  # fmt: skip
    print("mse_amax, 2048 bins, 1920 candidates      ModelOpt      refquant   ratio    exhaustive")
    for label, theirs, ours in rows:
        assert np.float32(theirs().item()) == np.float32(ours()), label
        t_them, t_us = best_time(theirs, 1), best_time(ours, REPEAT)
        with _exhaustive("_modelopt_search"):
            t_all = best_time(ours, 1)
        print(
            f"  {label:<38} {t_them * 1e3:9.1f} ms {t_us * 1e3:9.2f} ms  {t_them / t_us:6.1f}x"
            f" {t_all * 1e3:8.2f} ms"
        )


def _data_rows(torch: Any) -> None:
    x = np.random.default_rng(1).standard_normal(10**6).astype(np.float32)
    n, x64 = 100, x.astype(np.float64)
    amax = float(np.abs(x64).max())

    def numpy_loop() -> float:
        errs = [
            np.mean((fake_quantize(x64, amax * (k / n) / 127, 0, -127, 127) - x64) ** 2)
            for k in range(1, n + 1)
        ]
        return amax * ((int(np.argmin(errs)) + 1) / n)

    def ours() -> float:
        return float(mse_range(x, num_bits=8, num_candidates=n)[1])

    def exhaustive() -> float:
        with _exhaustive("_data_search"):
            return ours()

    rows: list[tuple[str, Any]] = [
        ("refquant without the screen", exhaustive),
        ("loop of refquant fake_quantize", numpy_loop),
    ]
    if torch is not None:
        tx = torch.from_numpy(x64)

        def torch_loop() -> float:
            errs = [
                float(
                    (
                        (torch.fake_quantize_per_tensor_affine(tx, amax * (k / n) / 127, 0, -127, 127) - tx)
                        ** 2
                    ).mean()
                )
                for k in range(1, n + 1)
            ]
            return amax * ((int(np.argmin(errs)) + 1) / n)

        rows.append(("loop of torch fake_quantize (float64)", torch_loop))
    t_us = best_time(ours, REPEAT)
    print(f"mse_range, 10**6 values x {n} candidates: refquant {t_us * 1e3:.0f} ms")
    for label, fn in rows:
        assert fn() == ours(), label
        t = best_time(fn, 1)
        print(f"  vs {label:<40} {t * 1e3:8.0f} ms  {t / t_us:6.1f}x")


@contextlib.contextmanager
def _exhaustive(name: str) -> Iterator[None]:
    """``refquant.calibrate.mse``'s search ``name`` with ``screen=False`` inside the block."""
    orig = getattr(mse, name)
    setattr(mse, name, functools.partial(orig, screen=False))
    try:
        yield
    finally:
        setattr(mse, name, orig)


def main() -> None:
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    except ImportError:
        torch = None
    try:
        import modelopt.torch.quantization.calib.histogram  # noqa: F401

        _histogram_rows(torch)
    except ImportError:
        print("mse_amax: ModelOpt not installed, no peer")
    _data_rows(torch)


if __name__ == "__main__":
    main()
