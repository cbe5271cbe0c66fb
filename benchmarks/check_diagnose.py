"""Benchmarks: ``diagnose_quantize`` on 2**20 float32 values, as a ratio to one ``quantize`` call.

Issue 11's budget: a diagnosis costs at most 50x one ``refquant.quantize.quantize``
call on the same input. The input is tie-dense: half of it ``(k + 1/2) * s``
rounded to float32 (so ``x/s`` lands on or within an ulp of a tie), half random
normals, with the awkward scale ``0.00214854861`` (its float32 reciprocal is
inexact), int8 codes and ``z = 3``. Cases: the implementation matches the
reference; it differs by one knob (a single setting), by a named slip, by a
pair (the issue's kernel: ``x * (1/s)`` rounded with
``sign(y) * floor(|y| + 0.5)``), by nothing searched (the worst case: every
single and pair is screened and the findings are computed), per channel with
the wrong axis, and dequantized floats. The two calls are timed alternately,
best of ``REPEAT`` each, so that a busy machine slows both alike. Run with
``make bench``; nothing here asserts a timing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time

from refquant.check.diagnose import diagnose_quantize
from refquant.quantize import fake_quantize, quantize

N = 1 << 20
REPEAT = 7
S = np.float32(0.00214854861)


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    k = rng.integers(-140, 140, N // 2)
    ties = ((k + 0.5) * np.float64(S)).astype(np.float32)
    return np.concatenate([ties, (rng.standard_normal(N // 2) * 0.1).astype(np.float32)])


def _issue_kernel(x: np.ndarray, z: int) -> np.ndarray:
    y = x * (np.float32(1) / S)
    r = np.copysign(np.floor(np.abs(y) + np.float32(0.5)), y)
    return np.clip(r + z, -128, 127).astype(np.int8)


def _cases(x: np.ndarray) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    z = 3
    ref = quantize(x, S, z, -128, 127)
    wrap = (ref.astype(np.int16) + (x > 0.1)).astype(np.int8)  # an off-by-one that wraps: nothing explains it
    x2 = x.reshape(1024, 1024)
    sc = np.full(1024, S, np.float32) * (1 + np.arange(1024) % 3).astype(np.float32)
    zc = (np.arange(1024) % 7 - 3).astype(np.int64)
    per_axis = quantize(x2, sc, zc, -128, 127, axis=1)
    deq = fake_quantize(x, S, z, -128, 127, op_order="multiply", zero_point_add="after_rounding")

    def q() -> Any:
        return quantize(x, S, z, -128, 127)

    def q2() -> Any:
        return quantize(x2, sc, zc, -128, 127, axis=0)

    def d(actual: np.ndarray) -> Callable[[], Any]:
        return lambda: diagnose_quantize(x, actual, S, z, -128, 127)

    return [
        ("matches the reference", q, d(ref)),
        ("rounding='half_away'", q, d(quantize(x, S, z, -128, 127, rounding="half_away"))),
        ("PyTorch quantize_per_tensor (fused)", q, d(quantize(x, S, z, -128, 127, op_order="multiply",
                                                              zero_point_add="fused"))),
        ("zero point off by one", q, d(quantize(x, S, z + 1, -128, 127))),
        ("issue's kernel (a pair with a slip)", q, d(_issue_kernel(x, z))),
        ("nothing explains it (worst case)", q, d(wrap)),
        ("per channel, axis 1 given as 0", q2,
         lambda: diagnose_quantize(x2, per_axis, sc, zc, -128, 127, axis=0)),
        ("dequantized (PyTorch fake-quant)", q, lambda: diagnose_quantize(x, deq, S, z, -128, 127,
                                                                          dequantized=True)),
    ]  # fmt: skip


def main() -> None:
    x = _inputs()
    print(f"diagnose_quantize, {N} float32 values          quantize   diagnose   ratio (budget 50x)")
    for label, quant, diag in _cases(x):
        t_q = t_d = float("inf")
        for _ in range(REPEAT):  # alternate, so that a busy machine slows both alike
            t_q = min(t_q, best_time(quant, 1))
            t_d = min(t_d, best_time(diag, 1))
        result = diag()
        what = result.explained_by if result.explained_by is not None else "not explained"
        print(f"  {label:<38} {t_q * 1e3:7.2f} ms {t_d * 1e3:8.2f} ms {t_d / t_q:6.1f}x   {what}")


if __name__ == "__main__":
    main()
