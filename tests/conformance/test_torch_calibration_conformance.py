"""refquant's PyTorch calibration observers against torch 2.13 (CPU), bit for bit.

``MovingAverageMinMaxObserver``, ``MovingAveragePerChannelMinMaxObserver`` and
``HistogramObserver`` are fed the same batches as refquant; after every batch
the observer's buffers (``min_val``, ``max_val``, ``histogram``) must equal
refquant's state exactly, then ``_non_linear_param_search`` and
``calculate_qparams`` must equal refquant's range and qparams exactly. Data:
Gaussian, Laplace, ReLU-shaped (half the mass at 0), heavy-tailed (Student t
with 1 and 2 degrees of freedom), constant batches, batches with ``±inf``,
ranges that grow (the combine path, with the 16x upsampling) and ranges that
stay (the exact-add path), digits activations through a random ReLU layer;
quint8/qint8/qint32, affine/symmetric, ``reduce_range``, bins 2048, 256, 16
and 7. The kernels (``torch.histc``, ``torch.sum``'s float32 order,
``torch.cumsum``, ``torch.linspace``) are checked on their own too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from refquant.calibrate import _torch_histogram as kern
from refquant.datasets import load_digits
from refquant.floats._nf4_kernels import torch_linspace_float32
from refquant.interop.torch import calibration as rq

torch = pytest.importorskip("torch")
obs_mod = pytest.importorskip("torch.ao.quantization.observer")

f32 = np.float32
pytestmark = pytest.mark.filterwarnings(
    "ignore:torch.inf detected in input tensor:UserWarning",
    "ignore:Please use quant_min and quant_max:UserWarning",
    "ignore:must run observer before calling calculate_qparams:UserWarning",
)


def _t(x: np.ndarray) -> Any:
    return torch.from_numpy(np.ascontiguousarray(x, f32))


def _hist_observer(
    bins: int, dtype: str = "quint8", qscheme: str = "per_tensor_affine", reduce_range: bool = False
) -> Any:
    return obs_mod.HistogramObserver(
        bins=bins, dtype=getattr(torch, dtype), qscheme=getattr(torch, qscheme), reduce_range=reduce_range
    )


# ------------------------------------------------------------------------------------------- data
def _gauss(rng: np.random.Generator, t: int) -> np.ndarray:
    return (rng.standard_normal(int(rng.integers(200, 3000))) * (1 + 0.5 * t)).astype(f32)


def _laplace(rng: np.random.Generator, t: int) -> np.ndarray:
    return rng.laplace(0.3, 1 + 0.2 * t, int(rng.integers(200, 3000))).astype(f32)


def _relu(rng: np.random.Generator, t: int) -> np.ndarray:
    return np.maximum(rng.standard_normal(int(rng.integers(200, 3000))) * (1 + 0.3 * t), 0).astype(f32)


def _t2(rng: np.random.Generator, t: int) -> np.ndarray:
    return rng.standard_t(2, int(rng.integers(200, 3000))).astype(f32)


def _cauchy(rng: np.random.Generator, t: int) -> np.ndarray:
    return rng.standard_cauchy(int(rng.integers(200, 3000))).astype(f32)


def _fixed(rng: np.random.Generator, t: int) -> np.ndarray:  # the range stays: the exact-add path
    x = np.clip(rng.standard_normal(int(rng.integers(200, 3000))), -2.5, 2.5).astype(f32)
    return np.r_[x, f32(-2.5), f32(2.5)].astype(f32)


def _const(rng: np.random.Generator, t: int) -> np.ndarray:
    return np.full(int(rng.integers(1, 50)), 1.25, f32)


def _const_then_grow(rng: np.random.Generator, t: int) -> np.ndarray:  # the m == M combine branch
    return np.full(30, -0.75, f32) if t < 2 else _gauss(rng, t)


def _with_inf(rng: np.random.Generator, t: int) -> np.ndarray:
    x = _gauss(rng, t)
    x[::97] = np.inf
    x[5::211] = -np.inf
    return x


KINDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "gauss": _gauss,
    "laplace": _laplace,
    "relu": _relu,
    "t2": _t2,
    "cauchy": _cauchy,
    "fixed": _fixed,
    "const": _const,
    "const_then_grow": _const_then_grow,
    "inf": _with_inf,
}


def _digits_activations(n_batches: int = 6) -> list[np.ndarray]:
    """Digits (train split) through a random 64->32 layer and ReLU: real activations, batch by batch."""
    x = load_digits(split="train").x
    rng = np.random.default_rng(10)
    w = (rng.standard_normal((64, 32)) / 8).astype(f32)
    b = (rng.standard_normal(32) / 4).astype(f32)
    act = np.maximum(x @ w + b, 0).astype(f32)
    return list(np.array_split(act, n_batches))


# ------------------------------------------------------------------------------------- histogram
def _observe_both(batches: list[np.ndarray], bins: int, **obs_kw: Any) -> tuple[Any, Any]:
    obs = _hist_observer(bins, **obs_kw)
    state = None
    for i, b in enumerate(batches):
        obs(_t(b))
        state = kern.torch_histogram_update(state, b, bins)
        assert state is not None
        np.testing.assert_array_equal(
            state.counts, obs.histogram.numpy(), err_msg=f"histogram after batch {i}"
        )
        assert state.counts.dtype == np.float32
        assert (state.min, state.max) == (obs.min_val.item(), obs.max_val.item()), f"range after batch {i}"
        np.testing.assert_array_equal(state.edges, torch.linspace(obs.min_val, obs.max_val, bins + 1).numpy())
    return obs, state


CASES = [(kind, bins) for kind in KINDS for bins in (2048, 16, 7)]


@pytest.mark.parametrize(("kind", "bins"), CASES)
def test_histogram_observer_state_and_search(kind: str, bins: int) -> None:
    rng = np.random.default_rng(list(KINDS).index(kind) * 10_000 + bins)
    batches = [KINDS[kind](rng, t) for t in range(5)]
    obs, state = _observe_both(batches, bins)
    lo, hi = obs._non_linear_param_search()
    got = kern.torch_l2_search(state.counts, state.min, state.max, dst_nbins=obs.dst_nbins)
    assert (float(got[0]), float(got[1])) == (lo.item(), hi.item())
    r = rq.histogram_observer_range(batches, bins)
    assert r is not None and (float(r.min_val), float(r.max_val)) == (lo.item(), hi.item())


QPARAM_CASES = [
    (dtype, qscheme, reduce_range)
    for dtype in ("quint8", "qint8", "qint32")
    for qscheme in ("per_tensor_affine", "per_tensor_symmetric")
    for reduce_range in (False, True)
]


@pytest.mark.parametrize(("dtype", "qscheme", "reduce_range"), QPARAM_CASES)
def test_histogram_observer_qparams(dtype: str, qscheme: str, reduce_range: bool) -> None:
    rng = np.random.default_rng(5)
    for kind in ("gauss", "relu", "t2"):
        batches = [KINDS[kind](rng, t) for t in range(3)]
        obs = _hist_observer(256, dtype, qscheme, reduce_range)
        for b in batches:
            obs(_t(b))
        s_t, z_t = obs.calculate_qparams()
        s, z = rq.histogram_observer_qparams(batches, 256, dtype, qscheme, reduce_range)
        np.testing.assert_array_equal(s, s_t.numpy())
        np.testing.assert_array_equal(z, z_t.numpy())
        assert s.dtype == np.float32


def test_histogram_observer_digits_activations() -> None:
    batches = _digits_activations()
    obs, _ = _observe_both(batches, 2048)
    s_t, z_t = obs.calculate_qparams()
    s, z = rq.histogram_observer_qparams(batches)
    np.testing.assert_array_equal(s, s_t.numpy())
    np.testing.assert_array_equal(z, z_t.numpy())


def test_histogram_observer_many_combines() -> None:
    """Ten growing batches: the counts become sums of count/16**k, where float32 rounding starts to show."""
    rng = np.random.default_rng(11)
    batches = [(rng.standard_normal(4000) * 1.3**t).astype(f32) for t in range(10)]
    obs, state = _observe_both(batches, 2048)
    lo, hi = obs._non_linear_param_search()
    got = kern.torch_l2_search(state.counts, state.min, state.max)
    assert (float(got[0]), float(got[1])) == (lo.item(), hi.item())


def test_histogram_observer_nothing_seen() -> None:
    obs = _hist_observer(16)
    obs(_t(np.array([np.inf, -np.inf], f32)))
    s_t, z_t = obs.calculate_qparams()
    s, z = rq.histogram_observer_qparams([np.array([np.inf, -np.inf], f32)], 16)
    assert s.tolist() == s_t.tolist() and z.tolist() == z_t.tolist()


def test_histogram_nan_raises_in_both() -> None:
    with pytest.raises(RuntimeError, match="not finite"):
        _hist_observer(16)(_t(np.array([1.0, np.nan], f32)))
    with pytest.raises(ValueError, match="NaN"):
        rq.histogram_observer_state([np.array([1.0, np.nan], f32)], 16)


def test_histogram_observer_wide_range_overflow() -> None:
    """A range of 1e16: the float32 cubes of the error overflow to inf/NaN in torch, and in refquant."""
    batches = [np.array([0.3, 9.0e15, 0.5, -1.7], f32)]
    obs, state = _observe_both(batches, 16)
    lo, hi = obs._non_linear_param_search()
    got = kern.torch_l2_search(state.counts, state.min, state.max)
    assert (float(got[0]), float(got[1])) == (lo.item(), hi.item())


# ---------------------------------------------------------------------------------------- kernels
def test_histc_matches_torch() -> None:
    rng = np.random.default_rng(3)
    for trial in range(120):
        bins = int(rng.choice([1, 3, 7, 10, 256, 1000, 2048]))
        x = (rng.standard_normal(5000) * 10 ** rng.uniform(-3, 3)).astype(f32)
        lo, hi = float(x.min()), float(x.max())
        if trial % 3 == 1:
            lo, hi = float(rng.uniform(-3, 0)), float(rng.uniform(0.1, 3))  # double bounds, values outside
        if trial % 3 == 2:  # values on the edges and one ulp either side
            e = torch.linspace(lo, hi, bins + 1).numpy()
            x = np.concatenate([x, e, np.nextafter(e, f32(np.inf)), np.nextafter(e, f32(-np.inf))]).astype(
                f32
            )
        np.testing.assert_array_equal(
            kern.torch_histc(x, bins, lo, hi), torch.histc(_t(x), bins, lo, hi).numpy()
        )
    for x, lo, hi in (([0.0, 1.0, 5.0], 0.0, 0.0), ([3.0], 3.0, 3.0), ([1.0, np.nan, np.inf, 2.0], 0.0, 2.0)):
        xa = np.array(x, f32)
        np.testing.assert_array_equal(kern.torch_histc(xa, 5, lo, hi), torch.histc(_t(xa), 5, lo, hi).numpy())


def test_sum_order_matches_torch() -> None:
    rng = np.random.default_rng(4)
    sizes = [*range(1, 130), 255, 256, 257, 1000, 2047, 2048, 2049, 4096, 5000, 8191, 16384, 20000, 32767]
    sizes += [32768, 32769, 40000, 65536, 100_003]  # two_pass_reduction over torch's threads
    threads = torch.get_num_threads()
    for n in sizes:
        x = (rng.standard_normal(n) * 10 ** rng.uniform(-3, 3, n)).astype(f32)
        assert float(kern.torch_sum_float32(x, threads)) == _t(x).sum().item(), n


def test_histogram_observer_many_bins_threads() -> None:
    """bins = 40000: torch.sum splits between threads; num_threads=torch.get_num_threads() follows it."""
    rng = np.random.default_rng(12)
    batches = [(rng.standard_normal(50_000) * (1 + t)).astype(f32) for t in range(2)]
    obs, _ = _observe_both(batches, 40000)
    lo, hi = obs._non_linear_param_search()
    r = rq.histogram_observer_range(batches, 40000, num_threads=torch.get_num_threads())
    assert r is not None and (float(r.min_val), float(r.max_val)) == (lo.item(), hi.item())


def test_cumsum_and_linspace_match_torch() -> None:
    rng = np.random.default_rng(6)
    for n in (7, 2048, 5000):
        x = ((rng.standard_normal(n) * 10 ** rng.uniform(-3, 3, n)) ** 2).astype(f32)
        np.testing.assert_array_equal(
            np.cumsum(x, dtype=np.float64).astype(f32), torch.cumsum(_t(x), 0).numpy()
        )
    for _ in range(50):
        a, b = sorted(rng.standard_normal(2) * 10 ** rng.uniform(-3, 3))
        for steps in (17, 2049, 32769):
            np.testing.assert_array_equal(
                torch_linspace_float32(float(f32(a)), float(f32(b)), steps),
                torch.linspace(torch.tensor(f32(a)), torch.tensor(f32(b)), steps).numpy(),
            )


# ---------------------------------------------------------------------------------- moving average
@pytest.mark.parametrize("c", [0.01, 0.1, 0.37, 1.0])
def test_moving_average_per_tensor(c: float) -> None:
    rng = np.random.default_rng(7)
    for kind in ("gauss", "laplace", "relu", "t2", "inf"):
        batches = [KINDS[kind](rng, t) for t in range(8)]
        obs = obs_mod.MovingAverageMinMaxObserver(averaging_constant=c)
        for b in batches:
            obs(_t(b))
        r = rq.moving_average_min_max(batches, c)
        assert r.min_val.dtype == np.float32
        np.testing.assert_array_equal(r.min_val, obs.min_val.numpy())
        np.testing.assert_array_equal(r.max_val, obs.max_val.numpy())


def _per_channel_both(batches: list[np.ndarray], ch_axis: int) -> None:
    obs = obs_mod.MovingAveragePerChannelMinMaxObserver(averaging_constant=0.05, ch_axis=ch_axis)
    for b in batches:
        obs(_t(b))
    r = rq.moving_average_min_max(batches, 0.05, ch_axis=ch_axis)
    np.testing.assert_array_equal(r.min_val, obs.min_val.numpy())
    np.testing.assert_array_equal(r.max_val, obs.max_val.numpy())


@pytest.mark.parametrize("ch_axis", [0, 1, -1])
def test_moving_average_per_channel(ch_axis: int) -> None:
    rng = np.random.default_rng(8)
    _per_channel_both([(rng.standard_normal((6, 5, 4)) * (1 + t)).astype(f32) for t in range(6)], ch_axis)


def test_moving_average_digits_activations() -> None:
    batches = _digits_activations()
    _per_channel_both(batches, 1)
    obs = obs_mod.MovingAverageMinMaxObserver()
    for b in batches:
        obs(_t(b))
    r = rq.moving_average_min_max(batches)
    assert (r.min_val.item(), r.max_val.item()) == (obs.min_val.item(), obs.max_val.item())
