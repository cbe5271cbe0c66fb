"""Timing and memory helpers shared by the benchmarks (not a benchmark itself)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[..., object], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """Fastest of ``repeat`` runs after one warm-up; ``setup()`` (untimed) makes ``fn``'s argument."""
    times = []
    for i in range(repeat + 1):
        args = () if setup is None else (setup(),)
        t0 = time.perf_counter()
        fn(*args)
        if i:
            times.append(time.perf_counter() - t0)
    return min(times)


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated by ``fn`` beyond what existed before it ran (output included)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base
