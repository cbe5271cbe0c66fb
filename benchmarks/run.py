"""Benchmarks: fake_quantize of 2**24 float32 values, as ratios against peers in the same run.

Peers: ``np.copy`` of the same array (the memory-bandwidth floor) and torch's
CPU op with the same thread count (when torch is installed). Peak extra
memory is measured with tracemalloc (NumPy reports its allocations to it).
Run with ``make bench``; nothing here asserts a timing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, peak_extra_bytes

from refquant.interop import torch as rq_torch
from refquant.quantize import fake_quantize

N = 1 << 24
REPEAT = 7


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    x2 = x.reshape(256, -1)
    scales = (np.abs(x2).max(axis=1) / 127).astype(np.float32)
    zps = np.zeros(256, np.int32)
    try:
        import torch

        threads = int(os.environ.get("BENCH_THREADS", torch.get_num_threads()))
        torch.set_num_threads(threads)
        tx, tx2 = torch.from_numpy(x), torch.from_numpy(x2)
        ts, tz = torch.from_numpy(scales), torch.from_numpy(zps)
    except ImportError:
        torch = None
        threads = 1

    cases: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        (
            "fake_quantize per-tensor (refquant core)",
            lambda: fake_quantize(x, 0.02, 0, -128, 127),
            (lambda: torch.fake_quantize_per_tensor_affine(tx, 0.02, 0, -128, 127)) if torch else None,
        ),
        (
            "fake_quantize per-tensor (interop.torch)",
            lambda: rq_torch.fake_quantize_per_tensor_affine(x, 0.02, 0, -128, 127),
            (lambda: torch.fake_quantize_per_tensor_affine(tx, 0.02, 0, -128, 127)) if torch else None,
        ),
        (
            "fake_quantize per-channel axis 0 (refquant core)",
            lambda: fake_quantize(x2, scales, zps, -128, 127, axis=0),
            (lambda: torch.fake_quantize_per_channel_affine(tx2, ts, tz, 0, -128, 127)) if torch else None,
        ),
        (
            "fake_quantize per-channel axis 0 (interop.torch)",
            lambda: rq_torch.fake_quantize_per_channel_affine(x2, scales, zps, 0, -128, 127),
            (lambda: torch.fake_quantize_per_channel_affine(tx2, ts, tz, 0, -128, 127)) if torch else None,
        ),
    ]
    copy_t = best_time(lambda: np.copy(x), REPEAT)
    print(
        f"2**24 float32 values ({N * 4 / 2**20:.0f} MiB); np.copy: {copy_t * 1e3:.1f} ms; "
        f"torch threads: {threads}"
    )
    print(f"{'case':<50} {'ms':>8} {'x copy':>8} {'x torch':>8} {'peak extra / input':>19}")
    for name, ours, peer in cases:
        t = best_time(ours, REPEAT)
        tt = best_time(peer, REPEAT) if peer is not None else float("nan")
        mem = peak_extra_bytes(ours) / x.nbytes
        print(f"{name:<50} {t * 1e3:>8.1f} {t / copy_t:>8.2f} {t / tt:>8.2f} {mem:>19.2f}")
    print("x copy: time / np.copy time (target <= 2.0); x torch: time / torch time (target < 1.0);")
    print("peak extra: bytes allocated at the peak (output included) / input bytes (target <= 2.0)")


if __name__ == "__main__":
    main()
