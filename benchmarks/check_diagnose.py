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

``diagnose_mask`` is timed on the same values against the same ``quantize``
call: their magnitudes tie heavily (every ``(k + 1/2) s`` has a twin
``-(k + 1/2) s``), so that the threshold is shared and the tie policies
part. Unstructured (amount 0.3): the mask matches the reference; differs by
the count rule (floor), by the tie policy (keep, prune, or ties shuffled as
an unspecified order such as ``torch.topk``'s), by a second step relative to
the whole tensor, per row (Wanda), or by nothing (a random mask: every
setting is screened and the reference is computed by refquant). Structured
(a ``(1024, 1024)`` view): matching, and axis 1 with L1 norms for the
reference's axis 0 and L2. N:M: matching 2:4, groups along axis 0, and 3:4
kept for the reference's 1:4 (the naming).
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
from refquant.check.diagnose_mask import diagnose_mask
from refquant.prune import nm_mask, structured_mask, unstructured_mask
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


def _shuffled_ties(w: np.ndarray, amount: float) -> np.ndarray:
    """The reference's count of smallest magnitudes pruned, those tied at the threshold picked at random."""
    keep = unstructured_mask(w, amount)
    a = np.abs(w)
    tied = np.flatnonzero(a == a[~keep].max())
    pruned = int(np.count_nonzero(~keep[tied]))
    keep[tied] = True
    keep[np.random.default_rng(1).choice(tied, pruned, replace=False)] = False
    return keep


def _mask_cases(x: np.ndarray) -> list[tuple[str, Callable[[], Any]]]:
    a = 0.3
    x2 = x.reshape(1024, 1024)
    first = unstructured_mask(x, 0.3, ties="keep")
    second = unstructured_mask(x, 0.5, existing_mask=first, relative_to="total")
    args: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("matches the reference", (x, unstructured_mask(x, a), a), {}),
        ("count_rule='floor'", (x, unstructured_mask(x, a, count_rule="floor"), a), {}),
        ("ties='keep' (TF-MOT)", (x, unstructured_mask(x, a, ties="keep"), a), {}),
        ("ties='prune'", (x, unstructured_mask(x, a, ties="prune"), a), {}),
        ("ties shuffled (torch.topk)", (x, _shuffled_ties(x, a), a), {}),
        ("2nd step, relative_to='total'", (x, second, 0.5), {"existing_mask": first}),
        ("each row (Wanda), axis=1", (x2, unstructured_mask(x2, a, axis=1), a), {}),
        ("nothing explains it (random)", (x, np.random.default_rng(2).random(x.size) > a, a), {}),
        ("structured, matches", (x2, structured_mask(x2, 0.4), 0.4), {"kind": "structured"}),
        ("structured, axis=1 and p=1",
         (x2, structured_mask(x2, 0.4, axis=1, p=1), 0.4), {"kind": "structured"}),
        ("N:M 2:4, matches", (x2, nm_mask(x2, 2, 4), (2, 4)), {"kind": "nm"}),
        ("N:M 2:4 along axis 0", (x2, nm_mask(x2, 2, 4, axis=0), (2, 4)), {"kind": "nm"}),
        ("N:M 3:4 kept for 1:4 (naming)", (x2, nm_mask(x2, 3, 4), (1, 4)), {"kind": "nm"}),
    ]  # fmt: skip
    return [(label, lambda p=p, k=k: diagnose_mask(*p, **k)) for label, p, k in args]


def _table(title: str, cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]]) -> None:
    print(f"{title:<47} quantize   diagnose   ratio (budget 50x)")
    for label, quant, diag in cases:
        t_q = t_d = float("inf")
        for _ in range(REPEAT):  # alternate, so that a busy machine slows both alike
            t_q = min(t_q, best_time(quant, 1))
            t_d = min(t_d, best_time(diag, 1))
        result = diag()
        what = result.explained_by if result.explained_by is not None else "not explained"
        print(f"  {label:<38} {t_q * 1e3:7.2f} ms {t_d * 1e3:8.2f} ms {t_d / t_q:6.1f}x   {what}")


def main() -> None:
    x = _inputs()
    _table(f"diagnose_quantize, {N} float32 values", _cases(x))

    def q() -> Any:
        return quantize(x, S, 3, -128, 127)

    _table(f"diagnose_mask, the same {N} values", [(label, q, d) for label, d in _mask_cases(x)])


if __name__ == "__main__":
    main()
