"""refquant.calibrate.mse against ModelOpt 0.47's ``_compute_amax_mse`` (shipped, intended), torch's sum."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
H = pytest.importorskip("modelopt.torch.quantization.calib.histogram")
tq = pytest.importorskip("modelopt.torch.quantization.tensor_quant")

from refquant.calibrate import _mse_kernels as k  # noqa: E402
from refquant.calibrate import mse  # noqa: E402
from refquant.calibrate.mse import mse_amax  # noqa: E402
from refquant.floats import cast  # noqa: E402
from tests.calibrate.test_mse import adversarial_histograms, near_tie  # noqa: E402

KINDS = ["gauss", "laplace", "relu", "t", "gauss_x100"]


def draws(kind: str, seed: int, n: int = 100_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "gauss":
        return rng.standard_normal(n)
    if kind == "gauss_x100":
        return 100.0 * rng.standard_normal(n)
    if kind == "laplace":
        return rng.laplace(size=n)
    if kind == "relu":  # half of the mass at 0
        return np.maximum(rng.standard_normal(n), 0.0)
    return rng.standard_t(2.0, size=n)


def modelopt_histogram(kind: str, seed: int, torch_hist: bool, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """The histogram as ModelOpt's HistogramCalibrator collects it (two batches) and hands it on."""
    cal = H.HistogramCalibrator(num_bits=8, torch_hist=torch_hist, num_bins=bins)
    x = draws(kind, seed).astype(np.float32)
    cal.collect(torch.from_numpy(x[: x.size // 2]))
    cal.collect(torch.from_numpy(x[x.size // 2 :]))
    if torch_hist:
        return cal._calib_hist.int().numpy(), cal._calib_bin_edges.numpy()
    return cal._calib_hist, cal._calib_bin_edges


# ModelOpt's search costs ~0.4 ms per candidate: 256-bin histograms of every kind from both collectors
# (np.histogram and torch.histc), and the default 2048 bins on two kinds at 8 bits (every 4th candidate)
SMALL = [(kind, seed, th, 256) for kind in KINDS for seed, th in ((0, False), (1, True))]
LARGE = [("gauss", 2, False, 2048), ("gauss_x100", 3, True, 2048)]
SEARCHES = ((1, 128), (3, 40))


@pytest.fixture(scope="module")
def hists() -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
    return {key: modelopt_histogram(*key) for key in SMALL + LARGE}


def cases(hists: dict, bits: int, unsigned: bool) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """Each kind once per (bits, unsigned), the collector alternating; the 2048-bin ones at 8 bits."""
    pick = (bits + unsigned) % 2
    out = [(*hists[key], st, sb) for key in SMALL[pick::2] for st, sb in SEARCHES]
    if bits == 8:
        out += [(*hists[key], 4, 128) for key in LARGE]
    return out


def test_torch_sum_order() -> None:
    rng = np.random.default_rng(7)
    sizes = [
        *range(1, 80),
        127,
        128,
        255,
        256,
        511,
        1000,
        1024,
        2047,
        2048,
        2049,
        4095,
        4096,
        5000,
        8192,
        20000,
    ]
    for n in sizes:
        a = (rng.standard_normal((2, n)) * rng.lognormal(0, 3, (2, n))).astype(np.float32)
        want = np.array([torch.from_numpy(r.copy()).sum().item() for r in a], np.float32)
        got = k.torch_sum_f32(a)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=f"n={n}")


def _same(ours: float, theirs: Any) -> None:
    t = np.float32(theirs.item())
    assert np.float32(ours).view(np.uint32) == t.view(np.uint32), (ours, float(t))


@pytest.mark.parametrize("bits", [4, 5, 6, 7, 8])
@pytest.mark.parametrize("unsigned", [False, True])
def test_shipped_bit_for_bit(hists: dict, bits: int, unsigned: bool) -> None:
    for counts, edges, stride, start in cases(hists, bits, unsigned):
        c0, e0 = counts.copy(), edges.copy()
        theirs = H._compute_amax_mse(counts, edges, bits, unsigned, stride, start)
        ours = mse_amax(
            counts, edges, num_bits=bits, unsigned=unsigned, stride=stride, start_bin=start, shipped=True
        )
        _same(ours, theirs)
        np.testing.assert_array_equal(counts, c0)
        np.testing.assert_array_equal(edges, e0)


def test_shipped_claims(hists: dict) -> None:
    counts, edges = hists[("gauss", 2, False, 2048)]
    cen = (edges.astype(np.float32)[1:] + edges.astype(np.float32)[:-1]) / np.float32(2)
    # unsigned: every error NaN, the first candidate wins
    assert float(H._compute_amax_mse(counts, edges, 8, True)) == float(cen[128])
    # signed: not the first candidate once the weighted mean centre is far above it
    counts, edges = hists[("gauss_x100", 3, True, 2048)]
    cen = (edges.astype(np.float32)[1:] + edges.astype(np.float32)[:-1]) / np.float32(2)
    got = float(H._compute_amax_mse(counts, edges, 8, False))
    assert got != float(cen[128]) and got == mse_amax(counts, edges, shipped=True)
    # the fp8 path raises for every histogram
    with pytest.raises(TypeError, match="M"):
        H._compute_amax_mse(counts, edges, (4, 3), False)
    # passing num_bits/unsigned by keyword alone also raises (torch's Function.apply leaves bias unbound)
    with pytest.raises(TypeError, match="bias"):
        tq.fake_tensor_quant(torch.ones(3), torch.tensor(1.0), num_bits=8, unsigned=False)


@pytest.fixture
def intended(monkeypatch: pytest.MonkeyPatch) -> None:
    """ModelOpt's own search with its quantizer calls as intended: num_bits/unsigned by name, bias None."""
    fq, fp8 = H.fake_tensor_quant, H.scaled_e4m3

    def fake_tensor_quant(inputs: Any, amax: Any, num_bits: int, unsigned: bool) -> Any:
        return fq(
            inputs, amax, None, num_bits, unsigned
        )  # = forward(inputs, amax, bias=None, num_bits=, unsigned=)

    def scaled_e4m3(inputs: Any, amax: Any, e: int, m: int) -> Any:
        return fp8(inputs, amax, None, e, m)  # = forward(inputs, amax, bias=None, E=e, M=m)

    monkeypatch.setattr(H, "fake_tensor_quant", fake_tensor_quant)
    monkeypatch.setattr(H, "scaled_e4m3", scaled_e4m3)


@pytest.mark.parametrize("bits", [4, 5, 6, 7, 8])
@pytest.mark.parametrize("unsigned", [False, True])
def test_intended_bit_for_bit(hists: dict, intended: None, bits: int, unsigned: bool) -> None:
    for counts, edges, stride, start in cases(hists, bits, unsigned):
        theirs = H._compute_amax_mse(counts, edges, bits, unsigned, stride, start)
        ours = mse_amax(counts, edges, num_bits=bits, unsigned=unsigned, stride=stride, start_bin=start)
        _same(ours, theirs)


def test_intended_fp8_bit_for_bit(hists: dict, intended: None) -> None:
    every = [(*hists[key], st, sb) for key in SMALL for st, sb in SEARCHES] + [
        (*hists[key], 4, 128) for key in LARGE
    ]
    for counts, edges, stride, start in every:
        theirs = H._compute_amax_mse(counts, edges, (4, 3), False, stride, start)
        _same(mse_amax(counts, edges, num_bits=(4, 3), stride=stride, start_bin=start), theirs)
        _same(mse_amax(counts, edges, fmt="float8_e4m3fn", stride=stride, start_bin=start), theirs)


def test_fp8_quantizer_values() -> None:
    """ModelOpt's fp8 fake quantizer (times s = 448/amax, then times fl(1/s)), value by value."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(20000) * 3).astype(np.float32)
    for a in (0.37, 1.0, 3.0, 7.5, 1000.0, 2.0**-30):
        amax = np.float32(a)
        theirs = tq.scaled_e4m3(torch.from_numpy(x), torch.tensor(amax), None, 4, 3).numpy()
        ours = k.modelopt_e4m3(x, np.array([amax]))[0]
        np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))
    # departure from the scaled grid: 1.5 / (3/448) = 224 is an e4m3fn value, ModelOpt returns 1.4999999
    got = tq.scaled_e4m3(torch.tensor([1.5]), torch.tensor(3.0), None, 4, 3).item()
    exact = float(cast(np.array([1.5 / (3.0 / 448)]), "float8_e4m3fn")[0] * (3.0 / 448))
    assert exact == 1.5 and got == float(np.float32(1.5) - np.float32(2.0**-23))


def test_int_quantizer_values() -> None:
    rng = np.random.default_rng(4)
    x = np.abs(rng.standard_normal(20000) * 3).astype(np.float32)
    for bits in (4, 8):
        for unsigned in (False, True):
            for a in (0.37, 1.0, 3.0, 2.0**-25):
                amax = np.float32(a)
                theirs = tq.fake_tensor_quant(
                    torch.from_numpy(x), torch.tensor(amax), None, bits, unsigned
                ).numpy()
                ours = k.modelopt_int(x, np.array([amax]), bits, unsigned)[0]
                np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


# ------------------------------------------------------------------ the screened search on hard cases
# mse_amax screens the candidates with rigorous bounds and evaluates the survivors exactly
# (refquant.calibrate._mse_screen); these cases are where a loose bound or a wrong tie rule would show.


@pytest.mark.parametrize(("num_bits", "unsigned"), [(8, True), (4, False), ((4, 3), False)])
def test_intended_near_ties_bit_for_bit(intended: None, num_bits: Any, unsigned: bool) -> None:
    """Two candidates' real-valued errors made equal (one bin's count moved): float32 ties, 1-ulp gaps."""
    rng = np.random.default_rng(5)
    kind, bits = ("e4m3", 8) if num_bits == (4, 3) else ("int", num_bits)
    for trial in range(6):
        counts, edges = np.histogram(np.abs(rng.standard_normal(100_000)).astype(np.float32), bins=2048)
        c = near_tie(counts, edges, kind, bits, unsigned, 128, 1 + trial % 3)
        theirs = H._compute_amax_mse(c, edges, num_bits, unsigned, 1, 128)
        _same(mse_amax(c, edges, num_bits=num_bits, unsigned=unsigned), theirs)


HARD = ["counts > 2**24", "sparse", "spike", "amax around 2**-24", "integer centres", "integer centres, ties",
        "signed", "non-uniform", "float32-collapsing edges", "huge"]  # fmt: skip


@pytest.fixture
def screened(monkeypatch: pytest.MonkeyPatch) -> None:
    """The screen on however few candidates (mse_amax skips it below 2**18 candidates x bins)."""
    monkeypatch.setattr(mse, "_modelopt_search", functools.partial(mse._modelopt_search, screen=True))


@pytest.mark.parametrize("name", HARD)
def test_intended_hard_histograms_bit_for_bit(intended: None, screened: None, name: str) -> None:
    counts, edges = {n: (c, e) for n, c, e in adversarial_histograms()}[name]
    counts, edges = np.asarray(counts, np.float64), np.asarray(edges, np.float64)
    signed_only = edges[0] < 0  # ModelOpt rejects negative candidates: start above the middle
    for num_bits, unsigned in [(8, True), (4, False), (2, False), ((4, 3), False)]:
        if unsigned and signed_only:
            continue
        for stride, start in ((1, 0), (3, counts.size // 3)):
            start += (counts.size // 2 + 1) * signed_only
            with np.errstate(all="ignore"):
                theirs = H._compute_amax_mse(counts, edges, num_bits, unsigned, stride, start)
            ours = mse_amax(
                counts, edges, num_bits=num_bits, unsigned=unsigned, stride=stride, start_bin=start
            )
            _same(ours, theirs)


@pytest.mark.parametrize("name", HARD)
def test_shipped_hard_histograms_bit_for_bit(screened: None, name: str) -> None:
    counts, edges = {n: (c, e) for n, c, e in adversarial_histograms()}[name]
    counts, edges = np.asarray(counts, np.float64), np.asarray(edges, np.float64)
    for num_bits, unsigned in [(8, False), (4, False), (8, True)]:
        if unsigned and edges[0] < 0:
            continue
        for stride, start in ((1, 0), (3, counts.size // 3)):
            start += (counts.size // 2 + 1) * bool(edges[0] < 0)
            with np.errstate(all="ignore"):
                theirs = H._compute_amax_mse(counts, edges, num_bits, unsigned, stride, start)
            ours = mse_amax(
                counts,
                edges,
                num_bits=num_bits,
                unsigned=unsigned,
                stride=stride,
                start_bin=start,
                shipped=True,
            )
            _same(ours, theirs)
