"""Streaming histograms, percentiles, moving averages against ONNX Runtime, ModelOpt, PyTorch: bit for bit."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from refquant.calibrate._growth import torch_arange, torch_linspace
from refquant.calibrate.histogram import histogram_percentile
from refquant.calibrate.ranges import moving_average_minmax
from refquant.calibrate.streaming import histogram_of_batches

KINDS = ("gauss", "laplace", "relu", "student_t", "grow_shrink")


def _batches(kind: str) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(map(ord, kind)))
    out = []
    for s in (1.0, 3.0, 0.5, 7.0, 2.0, 0.1):
        b = {
            "gauss": lambda: rng.standard_normal(2000),
            "laplace": lambda: rng.laplace(size=2000),
            "relu": lambda: np.maximum(rng.standard_normal(2000), 0),
            "student_t": lambda: rng.standard_t(2, size=2000),
            "grow_shrink": lambda: rng.uniform(-1, 1, 2000),
        }[kind]()
        out.append((b * s).astype(np.float32))
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("symmetric", [False, True])
def test_onnxruntime_collector(kind: str, symmetric: bool) -> None:
    calibrate = pytest.importorskip("onnxruntime.quantization.calibrate")
    col = calibrate.HistogramCollector("percentile", symmetric, 256, 128, 99.9, "same")
    batches = _batches(kind)
    with contextlib.redirect_stdout(io.StringIO()):
        for b in batches:
            col.collect({"t": b})
        thresholds = col.compute_percentile()
    hist, edges, mn, mx = col.get_histogram_dict()["t"][:4]
    rule = "onnxruntime_absolute" if symmetric else "onnxruntime"
    s = histogram_of_batches(batches, bins=256, rule=rule)
    assert s.counts.dtype == hist.dtype and s.edges.dtype == edges.dtype
    assert np.array_equal(s.counts, hist) and np.array_equal(s.edges, edges)
    assert (s.min, s.max) == (float(mn), float(mx))
    side = "symmetric" if symmetric else "two_sided"
    lo, hi = histogram_percentile(s.counts, s.edges, 99.9, side=side, clip_to=(s.min, s.max))
    assert np.float32(lo) == thresholds["t"][0] and np.float32(hi) == thresholds["t"][1]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_modelopt_numpy_collector_and_percentile(kind: str) -> None:
    torch = pytest.importorskip("torch")
    hmod = pytest.importorskip("modelopt.torch.quantization.calib.histogram")
    cal = hmod.HistogramCalibrator(num_bins=512, torch_hist=False)
    batches = _batches(kind)
    for b in batches:
        cal.collect(torch.from_numpy(b))
    s = histogram_of_batches(batches, bins=512, rule="modelopt_numpy")
    assert s.counts.dtype == cal._calib_hist.dtype and s.edges.dtype == cal._calib_bin_edges.dtype
    assert np.array_equal(s.counts, cal._calib_hist) and np.array_equal(s.edges, cal._calib_bin_edges)
    for p in (50.0, 99.0, 99.9, 99.99, 100.0):
        ref = hmod._compute_amax_percentile(cal._calib_hist, cal._calib_bin_edges, p)
        got = histogram_percentile(s.counts, s.edges, p)[1]
        assert np.float32(got) == ref.numpy()


def test_torch_linspace_and_arange() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for _ in range(300):
        top = np.float32(rng.uniform(1e-3, 100) * 10.0 ** rng.integers(-3, 3))
        n = int(rng.integers(2, 5000))
        assert np.array_equal(torch.linspace(0, torch.tensor(top), n).numpy(), torch_linspace(0, top, n))
        w = np.float32(top / n)
        end = np.float32(top * np.float32(rng.uniform(1, 3)) + w)
        ref = torch.arange(0, torch.tensor(end), torch.tensor(w)).numpy()
        if ref.size < 32768:
            assert np.array_equal(ref, torch_arange(0.0, float(end), float(w)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("axis", [None, 1])
def test_moving_average_minmax_torch(kind: str, axis: int | None) -> None:
    torch = pytest.importorskip("torch")
    from torch.ao.quantization.observer import (
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
    )

    batches = [b.reshape(40, 50) for b in _batches(kind)]
    obs = MovingAverageMinMaxObserver() if axis is None else MovingAveragePerChannelMinMaxObserver(ch_axis=1)
    for b in batches:
        obs(torch.from_numpy(b))
    lo, hi = moving_average_minmax(batches, axis=axis)
    assert np.array_equal(lo, obs.min_val.numpy()) and np.array_equal(hi, obs.max_val.numpy())


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("kind", KINDS)
def test_modelopt_torch_collector(kind: str) -> None:
    torch = pytest.importorskip("torch")
    hmod = pytest.importorskip("modelopt.torch.quantization.calib.histogram")
    cal = hmod.HistogramCalibrator(num_bins=512)  # torch_hist=True: torch.histc, linspace, arange
    batches = _batches(kind)
    for b in batches:
        cal.collect(torch.from_numpy(b))
    s = histogram_of_batches(batches, bins=512, rule="modelopt")
    assert s.counts.dtype == np.float32 and np.array_equal(s.counts, cal._calib_hist.numpy())
    assert np.array_equal(s.edges, cal._calib_bin_edges.numpy())
