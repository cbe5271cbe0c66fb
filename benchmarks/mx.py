"""Benchmarks: OCP MX and NVFP4 quantization of 2**24 float32 values, against torchao 0.18.

Peers (same process, same array, torch CPU with the thread count printed,
``BENCH_THREADS`` to change it, default 2; NumPy is single-threaded):
``torchao.prototype.mx_formats.mx_tensor.to_mx`` (eager, CPU) for
``refquant.floats.mx_quantize`` in blocks of 32 along the last axis, and
``torchao.prototype.mx_formats.nvfp4_tensor.nvfp4_quantize`` for
``refquant.floats.nvfp4_quantize`` (blocks of 16, two-level). torchao's
outputs are packed codes (fp4: two per byte); refquant's are float32 values
on the grids, so refquant writes 4x (fp8) to 8x (fp4) more output bytes.

Best of several runs after a warm-up. Times are also given as multiples of
``np.copy`` of the input. Peak extra memory of the refquant call is measured
with tracemalloc. Run with ``.venv/bin/python benchmarks/mx.py``; nothing here
asserts a timing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, peak_extra_bytes

from refquant.floats import mx_quantize, nvfp4_quantize

N = 1 << 24
REPEAT = 5
REPEAT_PEER = 3


def _peers(x: np.ndarray, threads: int) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torchao.prototype.mx_formats.config import ScaleCalculationMode as M
        from torchao.prototype.mx_formats.mx_tensor import to_mx
        from torchao.prototype.mx_formats.nvfp4_tensor import nvfp4_quantize as ao_nvfp4
        from torchao.prototype.mx_formats.nvfp4_tensor import per_tensor_amax_to_scale
    except ImportError:
        return {}
    torch.set_num_threads(threads)
    t = torch.from_numpy(x)
    g = per_tensor_amax_to_scale(torch.max(torch.abs(t)))
    return {
        "mxfp8 floor": lambda: to_mx(t, torch.float8_e4m3fn, 32, M.FLOOR),
        "mxfp8 rceil": lambda: to_mx(t, torch.float8_e4m3fn, 32, M.RCEIL),
        "mxfp4 floor": lambda: to_mx(t, torch.float4_e2m1fn_x2, 32, M.FLOOR),
        "mxfp6 e3m2 even": lambda: to_mx(t, "fp6_e3m2", 32, M.EVEN),
        "nvfp4": lambda: ao_nvfp4(t, 16, g),
    }


def main() -> None:
    x = np.random.default_rng(0).standard_normal((4096, 4096)).astype(np.float32)
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    peers = _peers(x, threads)
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("mxfp8 floor", lambda: mx_quantize(x, "float8_e4m3fn")),
        ("mxfp8 rceil", lambda: mx_quantize(x, "float8_e4m3fn", scale_mode="rceil")),
        ("mxfp4 floor", lambda: mx_quantize(x, "float4_e2m1fn")),
        ("mxfp6 e3m2 even", lambda: mx_quantize(x, "float6_e3m2fn", scale_mode="even")),
        ("mxint8 floor", lambda: mx_quantize(x, "int8")),
        ("nvfp4", lambda: nvfp4_quantize(x)),
    ]
    copy_t = best_time(lambda: np.copy(x), REPEAT)
    print(
        f"2**24 float32 values ({N * 4 / 2**20:.0f} MiB); np.copy: {copy_t * 1e3:.1f} ms; "
        f"torch threads: {threads if peers else 'torchao not installed'}; numpy: 1 thread"
    )
    print(f"{'case':<18} {'refquant ms':>11} {'x np.copy':>9} {'torchao ms':>10} {'speed-up':>9} {'peak':>6}")
    for name, ours in cases:
        t = best_time(ours, REPEAT)
        peer = peers.get(name)
        tp = best_time(peer, REPEAT_PEER) if peer is not None else float("nan")
        mem = peak_extra_bytes(ours) / x.nbytes
        print(f"{name:<18} {t * 1e3:>11.1f} {t / copy_t:>9.1f} {tp * 1e3:>10.1f} {tp / t:>8.2f}x {mem:>6.2f}")
    print("speed-up: torchao time / refquant time; peak: bytes at the peak (outputs included) / input bytes")


if __name__ == "__main__":
    main()
