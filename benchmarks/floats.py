"""Benchmarks: ``refquant.floats.cast`` of 2**24 float32 values to every format, as ratios against peers.

Peers, in the same process on the same array:

* ``np.copy`` (the memory-bandwidth floor);
* ml_dtypes' round trip ``x.astype(ml_dtypes.<fmt>).astype(np.float32)``
  (NumPy's own ``astype(np.float16)`` for float16), the semantics ``cast``
  reproduces without saturation;
* torch's ``.to(<dtype>).to(torch.float32)`` where torch has the format
  (bfloat16, float16, float8_e4m3fn, float8_e5m2, the two fnuz and
  float8_e8m0fnu), with the thread count printed (``BENCH_THREADS``, default 2).

Every result is checked bit for bit (NaN as NaN) against ml_dtypes before it is
timed. Targets (issue 9): for float8_e4m3fn at least 4x faster than the
ml_dtypes round trip and faster than torch; peak extra memory <= 2x the input.
Best of several runs after a warm-up. Run with ``make bench``; nothing here
asserts a timing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, peak_extra_bytes

from refquant.floats import FLOAT_FORMATS, cast

N = 1 << 24
REPEAT = 7
TORCH_NAMES = {
    "bfloat16": "bfloat16",
    "float16": "float16",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
    "float8_e4m3fnuz": "float8_e4m3fnuz",
    "float8_e5m2fnuz": "float8_e5m2fnuz",
    "float8_e8m0fnu": "float8_e8m0fnu",
}


def main() -> None:
    import ml_dtypes

    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    try:
        import torch

        threads = int(os.environ.get("BENCH_THREADS", "2"))
        torch.set_num_threads(threads)
        tx = torch.from_numpy(x)
    except ImportError:
        torch, threads = None, 0
    copy_t = best_time(lambda: np.copy(x), REPEAT)
    print(
        f"cast of 2**24 float32 ({N * 4 / 2**20:.0f} MiB), standard normal; np.copy {copy_t * 1e3:.1f} ms; "
        f"torch threads: {threads or 'torch not installed'}; numpy and ml_dtypes: 1 thread"
    )
    head = f"{'format':<20} {'refquant':>9} {'/copy':>6} {'ml_dtypes':>10} {'speed-up':>9}"
    print(f"{head} {'torch':>8} {'speed-up':>9} {'peak/input':>10}")
    for name in FLOAT_FORMATS:
        mdt: Any = np.float16 if name == "float16" else getattr(ml_dtypes, name)
        ours = cast(x, name)
        with np.errstate(invalid="ignore", over="ignore"):
            ref = x.astype(mdt).astype(np.float32)
        same = (ours.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(ours) & np.isnan(ref))
        assert same.all(), f"{name}: refquant and ml_dtypes differ"
        t = best_time(lambda name=name: cast(x, name), REPEAT)
        with np.errstate(invalid="ignore", over="ignore"):
            tm = best_time(lambda mdt=mdt: x.astype(mdt).astype(np.float32), REPEAT)
        tt = float("nan")
        if torch is not None and hasattr(torch, TORCH_NAMES.get(name, "-")):
            tdt = getattr(torch, TORCH_NAMES[name])
            tt = best_time(lambda tdt=tdt: tx.to(tdt).to(torch.float32), REPEAT)
        mem = peak_extra_bytes(lambda name=name: cast(x, name)) / x.nbytes
        print(
            f"{name:<20} {t * 1e3:>7.1f}ms {t / copy_t:>5.1f}x {tm * 1e3:>8.1f}ms {tm / t:>8.1f}x "
            f"{tt * 1e3:>6.1f}ms {tt / t:>8.1f}x {mem:>10.2f}"
        )
    print("speed-up: peer time / refquant time; peak: extra bytes at the peak (output included) / input")


if __name__ == "__main__":
    main()
