"""Benchmarks: ``refquant.interop.torch.calibration`` against PyTorch's observers, as ratios in the same run.

Peers, in the same process on the same float32 batches (torch threads: ``BENCH_THREADS``, default 2):

* ``moving_average_min_max`` against ``torch.ao.quantization.MovingAverageMinMaxObserver``
  (``averaging_constant=0.01``) fed 100 batches of 10**5 values;
* ``histogram_observer_state`` against ``HistogramObserver(bins=2048, dtype=quint8)``'s ``forward``
  on the same batches in order (its ``histogram``, ``min_val``, ``max_val`` buffers), and
  ``histogram_observer_qparams`` against the same observer followed by ``calculate_qparams``;
* the L2 search alone: ``refquant.calibrate._torch_histogram.torch_l2_search`` against
  ``HistogramObserver._non_linear_param_search`` on the same observer state;
* ``torch_histc`` against ``torch.histc`` and ``np.histogram`` (2048 bins over ``[min x, max x]``)
  on 10**7 values.

Two data sets: *smooth* (standard normal, the scale growing 1% a batch, so that the histogram's
range grows and the observer's combine rule runs) and *spiky* (the same with six outliers of
magnitude 10**3 to 10**4 in three of the batches: a few huge values, nearly all the mass in a
few bins). Every answer is compared with the peer's before it is timed: bit for bit, as in
``tests/conformance/test_torch_calibration_conformance.py`` (buffers, range, scale and zero
point identical). ``np.histogram`` is a speed reference only: its bin rule (the edges) is not
``torch.histc``'s (a float32 index), so a few values near bin ends land in the next bin; the line
prints how many bins differ. Missing torch skips the file with a message. Run with ``make bench``;
nothing here asserts a timing.
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

from _timing import best_time

from refquant.calibrate._torch_histogram import torch_histc, torch_l2_search
from refquant.interop.torch.calibration import (
    histogram_observer_qparams,
    histogram_observer_state,
    moving_average_min_max,
)

BATCHES = 100
BATCH = 10**5
BINS = 2048
N = 10**7
REPEAT = 5
REPEAT_OBSERVER = 3  # 100 batches per call


def _line(name: str, ours: float, peer: float, same: object) -> None:
    print(f"{name:<58} {ours * 1e3:>9.2f} {peer * 1e3:>9.2f} {peer / ours:>8.2f}x  {same}")


def _pair(fn: Callable[[], Any], peer: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, float]:
    """Best times of ``fn`` and ``peer``, measured alternately so that load on the machine hits both."""
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(best_time(fn, 1))
        theirs.append(best_time(peer, 1))
    return min(ours), min(theirs)


def _data(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    smooth = [(rng.standard_normal(BATCH) * (1 + 0.01 * t)).astype(np.float32) for t in range(BATCHES)]
    spiky = [b.copy() for b in smooth]
    for t in (3, 40, 77):
        idx = rng.integers(0, BATCH, 2)
        spiky[t][idx] = (rng.choice([-1.0, 1.0], 2) * 10.0 ** rng.uniform(3, 4, 2)).astype(np.float32)
    return {"smooth": smooth, "spiky": spiky}


def bench_moving_average(torch: Any, name: str, batches: list[np.ndarray]) -> None:
    from torch.ao.quantization import MovingAverageMinMaxObserver

    tb = [torch.from_numpy(b) for b in batches]

    def peer() -> Any:
        obs = MovingAverageMinMaxObserver(averaging_constant=0.01)
        for b in tb:
            obs(b)
        return obs

    obs = peer()
    r = moving_average_min_max(batches, 0.01)
    same = np.array_equal(r.min_val, obs.min_val.numpy()) and np.array_equal(r.max_val, obs.max_val.numpy())
    same = same and r.min_val.dtype == obs.min_val.numpy().dtype
    t, tp = _pair(lambda: moving_average_min_max(batches, 0.01), peer)
    _line(f"moving_average_min_max {name} vs MovingAverageMinMaxObserver", t, tp, same)


def bench_histogram_observer(torch: Any, name: str, batches: list[np.ndarray]) -> None:
    from torch.ao.quantization import HistogramObserver

    tb = [torch.from_numpy(b) for b in batches]
    threads = torch.get_num_threads()

    def observe() -> Any:
        obs = HistogramObserver(bins=BINS, dtype=torch.quint8)
        for b in tb:
            obs(b)
        return obs

    def peer_qparams() -> Any:
        return observe().calculate_qparams()

    obs = observe()
    state = histogram_observer_state(batches, BINS)
    assert state is not None
    same = np.array_equal(state.counts, obs.histogram.numpy()) and state.counts.dtype == np.float32
    same = same and (state.min, state.max) == (obs.min_val.item(), obs.max_val.item())
    t, tp = _pair(lambda: histogram_observer_state(batches, BINS), observe, REPEAT_OBSERVER)
    _line(f"histogram_observer_state {name} vs HistogramObserver.forward", t, tp, same)

    s_t, z_t = obs.calculate_qparams()
    s, z = histogram_observer_qparams(batches, BINS, "quint8", num_threads=threads)
    same = np.array_equal(s, s_t.numpy()) and np.array_equal(z, z_t.numpy()) and s.dtype == np.float32
    t, tp = _pair(
        lambda: histogram_observer_qparams(batches, BINS, "quint8", num_threads=threads),
        peer_qparams,
        REPEAT_OBSERVER,
    )
    _line(f"histogram_observer_qparams {name} vs forward + calculate_qparams", t, tp, same)
    print(f"{'':<4}scale {float(s[0])!r}, zero point {int(z[0])}")

    lo, hi = obs._non_linear_param_search()
    got = torch_l2_search(state.counts, state.min, state.max, dst_nbins=obs.dst_nbins, threads=threads)
    same = (float(got[0]), float(got[1])) == (lo.item(), hi.item())
    t, tp = _pair(
        lambda: torch_l2_search(state.counts, state.min, state.max, dst_nbins=obs.dst_nbins, threads=threads),
        obs._non_linear_param_search,
    )
    _line(f"torch_l2_search {name} vs _non_linear_param_search", t, tp, same)


def bench_histc(torch: Any, x: np.ndarray) -> None:
    tx = torch.from_numpy(x)
    lo, hi = float(x.min()), float(x.max())
    ours = torch_histc(x, BINS, lo, hi)
    ref = torch.histc(tx, BINS, lo, hi).numpy()
    same = np.array_equal(ours, ref) and ours.dtype == ref.dtype
    t, tp = _pair(lambda: torch_histc(x, BINS, lo, hi), lambda: torch.histc(tx, BINS, lo, hi))
    _line(f"torch_histc 10**7 float32, {BINS} bins vs torch.histc", t, tp, same)
    np_counts = np.histogram(x, BINS, range=(lo, hi))[0]
    differ = int(np.count_nonzero(ours != np_counts))
    t, tp = _pair(lambda: torch_histc(x, BINS, lo, hi), lambda: np.histogram(x, BINS, range=(lo, hi)))
    _line(f"torch_histc 10**7 float32, {BINS} bins vs np.histogram", t, tp, f"{differ} bins differ")
    print(
        f"{'':<4}(another bin rule: {int(np.abs(ours - np_counts).sum())} of {x.size} values in a "
        f"neighbouring bin; totals equal: {int(ours.sum()) == int(np_counts.sum())})"
    )


def main() -> None:
    try:
        import torch
    except ImportError:
        print("torch not installed: calibrate_torch skipped")
        return
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    rng = np.random.default_rng(0)
    data = _data(rng)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':<58} {'ours ms':>9} {'peer ms':>9} {'speed-up':>9}  same")
    for name, batches in data.items():
        bench_moving_average(torch, name, batches)
    for name, batches in data.items():
        bench_histogram_observer(torch, name, batches)
    bench_histc(torch, rng.standard_normal(N).astype(np.float32))
    print("speed-up: peer time / refquant time (best of several, alternating); same: identical answers")


if __name__ == "__main__":
    main()
