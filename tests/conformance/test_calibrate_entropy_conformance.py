"""refquant.calibrate.entropy against ModelOpt 0.47 ``_compute_amax_entropy`` (float32 amax bit for bit) and
ONNX Runtime 1.32 ``HistogramCollector.get_entropy_threshold`` (threshold tuple bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest

from refquant.calibrate.entropy import entropy_amax, entropy_range

pytest.importorskip("torch")
hist_mod = pytest.importorskip("modelopt.torch.quantization.calib.histogram")
ort_cal = pytest.importorskip("onnxruntime.quantization.calibrate")


def _data(kind: int, rng: np.random.Generator) -> np.ndarray:
    n = 20000
    return [
        rng.normal(size=n),
        rng.laplace(size=n),
        np.maximum(rng.normal(size=n), 0),
        rng.standard_t(2, size=n),
        rng.normal(size=40),
    ][kind].astype(np.float32)


@pytest.mark.parametrize("case", range(30))
def test_modelopt_amax(case: int) -> None:
    rng = np.random.default_rng(case)
    counts, edges = np.histogram(np.abs(_data(case % 5, rng)), bins=[256, 384, 512][case % 3])
    if case % 4 == 0:
        counts[rng.random(counts.size) < 0.6] = 0  # sparse: inf divergences and ties
    edges = edges.astype(np.float32) if case % 2 else edges
    bits, uns, stride, start = 4 + case % 5, case % 3 == 0, [1, 2, 7][case % 3], [128, 64, 200][case % 3]
    mine = entropy_amax(counts, edges, num_bits=bits, unsigned=uns, stride=stride, start_bin=start)
    theirs = hist_mod._compute_amax_entropy(counts.copy(), edges, bits, uns, stride, start)
    assert np.float32(theirs.item()).tobytes() == mine.tobytes()


def test_modelopt_modifies_its_input_refquant_does_not() -> None:
    counts = np.array([5] + [1] * 199)
    edges = np.linspace(0, 1, 201)
    mine = counts.copy()
    entropy_amax(mine, edges)
    assert mine[0] == 5
    hist_mod._compute_amax_entropy(counts, edges, 8, False, 1, 128)
    assert counts[0] == 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", range(16))
def test_onnxruntime_threshold(case: int) -> None:
    rng = np.random.default_rng(100 + case)
    nb, nq = [128, 257, 1000, 2048][case % 4], [128, 64][case // 8]
    hc = ort_cal.HistogramCollector("entropy", True, nb, nq, None, None)
    hc.collect_value({"t": _data(case % 5, rng)})
    h = hc.histogram_dict["t"]
    theirs = hc.get_entropy_threshold(h, nq)
    lo, hi = entropy_range(h[0], h[1], num_quantized_bins=nq, min_value=h[2], max_value=h[3])
    assert (np.float32(theirs[0]).tobytes(), np.float32(theirs[1]).tobytes()) == (lo.tobytes(), hi.tobytes())


def test_modelopt_keeps_float64_divergences_with_float32_edges() -> None:
    # two candidates tie once rounded to float32; ModelOpt's float64 divergences pick the earlier one
    head = [4, 4, 0, 2, 4, 0, 4, 0, 2, 6, 1, 4, 2, 0, 2, 1, 2, 0, 6, 2, 0, 2, 2, 2]
    counts = np.array([*head, 0, 0, 3, 0, 6, 0, 4, 0, 3, 0, 2, 0, 6, 4, 3, 1, 2, 3, 0, 6, 6, 2, 0, 0])
    edges = np.arange(counts.size + 1, dtype=np.float32)
    theirs = hist_mod._compute_amax_entropy(counts.copy(), edges, 2, False, 1, 2)
    mine = entropy_amax(counts, edges, num_bits=2, start_bin=2)
    assert np.float32(theirs.item()).tobytes() == mine.tobytes() == np.float32(47.0).tobytes()


def _ort_special(case: int, rng: np.random.Generator) -> np.ndarray:
    nb = 2048 if case < 3 else 1024
    if case in (0, 3):  # sparse: 60% of a Gaussian's bins emptied
        c = np.histogram(rng.normal(size=50000), bins=nb, range=(-4, 4))[0]
        c[rng.random(nb) < 0.6] = 0
    elif case in (1, 4):  # 40 samples: mostly empty bins, float32 ties
        c = np.histogram(rng.normal(size=40), bins=nb, range=(-4, 4))[0]
    elif case == 2:  # counts beyond 2**24 (float32 rounds them)
        c = np.histogram(rng.laplace(size=50000), bins=nb, range=(-8, 8))[0] * 10**5
    else:  # a single spike in the centre bin
        c = np.zeros(nb, np.int64)
        c[nb // 2] = 12345
    return c.astype(np.int64)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", range(6))
def test_onnxruntime_threshold_hard_histograms(case: int) -> None:
    rng = np.random.default_rng(200 + case)
    c = _ort_special(case, rng)
    edges = np.linspace(-4, 4, c.size + 1).astype(np.float32)
    hist = (c, edges, np.float32(-3.9), np.float32(3.9))
    hc = ort_cal.HistogramCollector("entropy", True, c.size, 128, None, None)
    theirs = hc.get_entropy_threshold(hist, 128)
    lo, hi = entropy_range(c, edges, num_quantized_bins=128, min_value=hist[2], max_value=hist[3])
    assert (np.float32(theirs[0]).tobytes(), np.float32(theirs[1]).tobytes()) == (lo.tobytes(), hi.tobytes())


def test_entropy32_is_onnxruntime_entropy() -> None:
    from refquant.calibrate import _entropy_kernels as kern

    rng = np.random.default_rng(7)
    for n in (3, 17, 64, 128, 1000, 2049):
        for _ in range(20):
            p = rng.lognormal(0, 2, n).astype(np.float32)
            q = rng.lognormal(0, 2, n).astype(np.float32)
            assert kern._entropy32(p, q).tobytes() == np.float32(ort_cal.entropy(p, q)).tobytes()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", range(48))
def test_onnxruntime_threshold_lattice_histograms(case: int) -> None:
    # values on a lattice (pixels: multiples of 1/16): sparse histograms with many near-tied
    # candidates, where the float32 order of ONNX Runtime's divergences decides the argmin
    # (evaluating its terms in double, as scipy's rel_entr does, picks another bin on cases
    # 3, 8, 23 and 35 of these)
    rng = np.random.default_rng(case)
    levels = [17, 33, 256, 9][case % 4]
    x = (rng.integers(0, levels, 5000) / (levels - 1) * rng.choice([1.0, 2.5, 0.7])).astype(np.float32)
    x = x - np.float32(case % 2) * x.mean(dtype=np.float32)
    nb, nq = [1001, 2048, 512, 1001][case % 4], [64, 128][(case // 4) % 2]
    hc = ort_cal.HistogramCollector("entropy", True, nb, nq, None, None)
    hc.collect_value({"t": x})
    h = hc.histogram_dict["t"]
    theirs = hc.get_entropy_threshold(h, nq)
    lo, hi = entropy_range(h[0], h[1], num_quantized_bins=nq, min_value=h[2], max_value=h[3])
    assert (np.float32(theirs[0]).tobytes(), np.float32(theirs[1]).tobytes()) == (lo.tobytes(), hi.tobytes())
