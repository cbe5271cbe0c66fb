"""Benchmarks: pruning masks of 2**24 float32 weights, as ratios against torch.nn.utils.prune.

Peers (same process, same tensors, torch CPU with the thread count printed,
``BENCH_THREADS`` to change it, default 2; NumPy's selection is single-threaded):

* magnitude mask at 90%: ``refquant.prune.unstructured_mask`` and
  ``refquant.interop.torch.l1_unstructured_mask`` against
  ``L1Unstructured(0.9).compute_mask`` on the same tensor, and against
  ``prune.l1_unstructured`` on a fresh 4096 x 4096 ``nn.Linear`` (mask plus
  reparametrization);
* global pruning at 90% of four tensors totalling 2**24 entries:
  ``refquant.prune.global_masks`` against ``prune.global_unstructured``
  (fresh modules each run);
* structured L2 pruning of half the rows: ``structured_mask`` against
  ``LnStructured(0.5, 2, dim=0).compute_mask``.

Best of several runs after a warm-up; module set-up is outside the timed
region. Peak extra memory of the refquant call is measured with tracemalloc.
Run with ``.venv/bin/python benchmarks/prune.py``; nothing here asserts a timing.
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

from refquant.interop.torch import prune as rq_torch
from refquant.prune import global_masks, structured_mask, unstructured_mask

N = 1 << 24
REPEAT = 7
REPEAT_TORCH = 3


def main() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4096, 4096)).astype(np.float32)
    sizes = [1 << 23, 1 << 22, 1 << 21, 1 << 21]
    shapes = [(4096, 2048), (2048, 2048), (512, 4096), (4096, 512)]
    assert [a * b for a, b in shapes] == sizes and sum(sizes) == N
    parts = [rng.standard_normal(s).astype(np.float32) for s in shapes]

    try:
        import torch
        from torch.nn.utils import prune
    except ImportError:
        torch = None
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    if torch is not None:
        torch.set_num_threads(threads)
        tw = torch.from_numpy(w)
        ones = torch.ones_like(tw)

        def linear() -> Any:
            lin = torch.nn.Linear(4096, 4096, bias=False)
            with torch.no_grad():
                lin.weight.copy_(tw)
            return lin

        def modules() -> list[Any]:
            mods = []
            for p in parts:
                m = torch.nn.Module()
                m.weight = torch.nn.Parameter(torch.from_numpy(p.copy()))
                mods.append(m)
            return mods

        l1 = prune.L1Unstructured(0.9)
        ln = prune.LnStructured(0.5, 2, dim=0)
        peers: dict[str, tuple[Callable[..., object], Callable[[], Any] | None]] = {
            "compute_mask": (lambda: l1.compute_mask(tw, ones), None),
            "l1_unstructured": (lambda lin: prune.l1_unstructured(lin, "weight", 0.9), linear),
            "global": (
                lambda mods: prune.global_unstructured(
                    [(m, "weight") for m in mods], pruning_method=prune.L1Unstructured, amount=0.9
                ),
                modules,
            ),
            "ln": (lambda: ln.compute_mask(tw, ones), None),
        }
    else:
        threads = 0
        peers = {}

    cases: list[tuple[str, Callable[[], object], str, Any]] = [
        (
            "magnitude 90% (prune.unstructured_mask) vs compute_mask",
            lambda: unstructured_mask(w, 0.9),
            "compute_mask",
            w,
        ),
        (
            "magnitude 90% (interop l1_unstructured_mask) vs compute_mask",
            lambda: rq_torch.l1_unstructured_mask(w, 0.9),
            "compute_mask",
            w,
        ),
        (
            "magnitude 90% (prune.unstructured_mask) vs l1_unstructured(Linear)",
            lambda: unstructured_mask(w, 0.9),
            "l1_unstructured",
            w,
        ),
        (
            "global 90%, 4 tensors (prune.global_masks) vs global_unstructured",
            lambda: global_masks(parts, 0.9),
            "global",
            parts,
        ),
        (
            "global 90%, 4 tensors (interop) vs global_unstructured",
            lambda: rq_torch.global_unstructured_masks(parts, 0.9),
            "global",
            parts,
        ),
        (
            "L2 rows 50% (prune.structured_mask) vs LnStructured.compute_mask",
            lambda: structured_mask(w, 0.5, axis=0),
            "ln",
            w,
        ),
    ]
    copy_t = best_time(lambda: np.copy(w), REPEAT)
    print(
        f"2**24 float32 weights ({N * 4 / 2**20:.0f} MiB); np.copy: {copy_t * 1e3:.1f} ms; "
        f"torch threads: {threads if torch is not None else 'torch not installed'}; numpy: 1 thread"
    )
    print(f"{'case':<68} {'refquant ms':>11} {'torch ms':>9} {'speed-up':>9} {'peak extra / input':>19}")
    for name, ours, peer_key, inputs in cases:
        t = best_time(ours, REPEAT)
        peer = peers.get(peer_key)
        tt = best_time(peer[0], REPEAT_TORCH, peer[1]) if peer is not None else float("nan")
        in_bytes = sum(a.nbytes for a in inputs) if isinstance(inputs, list) else inputs.nbytes
        mem = peak_extra_bytes(ours) / in_bytes
        print(f"{name:<68} {t * 1e3:>11.1f} {tt * 1e3:>9.1f} {tt / t:>8.1f}x {mem:>19.2f}")
    print("speed-up: torch time / refquant time (target >= 20x for the magnitude mask);")
    print(
        "peak extra: bytes allocated at the peak (masks included) / input bytes; a concatenation alone is 1.0"
    )


if __name__ == "__main__":
    main()
