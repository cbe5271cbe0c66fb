"""refquant.interop.torch against the real torch (CPU), bit for bit.

Inputs are tie-dense: every ``(k + 0.5) * scale`` for a range of k, one ulp
either side, and random values, for scales with inexact reciprocals.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from refquant.interop import torch as rq
from tests.conformance.tie_inputs import awkward_scales, tie_dense

torch = pytest.importorskip("torch")

RANGES = [(0, 255, 0), (0, 255, 128), (-128, 127, 0), (-128, 127, -7), (0, 15, 3), (-8, 7, 0)]


@pytest.fixture(scope="module", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    # bit-identical, including the sign of zero and NaN payload positions
    np.testing.assert_array_equal(ours.view(np.uint8), theirs.view(np.uint8))


@pytest.mark.parametrize("qmin,qmax,zp", RANGES)
def test_fake_quantize_per_tensor_tie_dense(qmin: int, qmax: int, zp: int) -> None:
    rng = np.random.default_rng(qmax - qmin + zp)
    for s in awkward_scales(rng, 24):
        x = tie_dense(float(s), 300, rng, n_random=2000)
        ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), zp, qmin, qmax).numpy()
        _same(rq.fake_quantize_per_tensor_affine(x, float(s), zp, qmin, qmax), ref)


def test_fake_quantize_per_tensor_millions_of_ties() -> None:
    """Over two million tie-dense values at one awkward scale, with a wide code range."""
    s = float(np.float32(0.00214854861))
    x = tie_dense(s, 2**19, np.random.default_rng(0), n_random=100_000)
    assert x.size > 2_000_000
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), s, 5, -(2**20), 2**20).numpy()
    _same(rq.fake_quantize_per_tensor_affine(x, s, 5, -(2**20), 2**20), ref)


def test_fake_quantize_per_tensor_specials() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 3e9, -3e9, 0.0, -0.0, 1e-45], dtype=np.float32)
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), 0.5, 3, 0, 255).numpy()
    _same(rq.fake_quantize_per_tensor_affine(x, 0.5, 3, 0, 255), ref)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_fake_quantize_per_channel_tie_dense(axis: int) -> None:
    rng = np.random.default_rng(axis + 10)
    scales = awkward_scales(rng, 8)
    c = scales.size
    cols = [tie_dense(float(s), 200, rng, n_random=500) for s in scales]
    x2 = np.stack(cols)  # (C, N): channel c holds channel c's ties
    x = np.ascontiguousarray(np.moveaxis(x2.reshape(c, 1, -1), 0, axis % 3))
    zps = rng.integers(0, 256, c).astype(np.int32)
    ref = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps), axis % 3, 0, 255
    ).numpy()
    _same(rq.fake_quantize_per_channel_affine(x, scales, zps, axis % 3, 0, 255), ref)


def test_fake_quantize_per_channel_specials() -> None:
    x = np.array([[np.inf, -np.inf, np.nan, 3e9, -3e9, 1e30, 0.0, -0.0]], dtype=np.float32)
    s, z = np.array([0.5], np.float32), np.array([3], np.int32)
    ref = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(z), 0, 0, 255
    ).numpy()
    _same(rq.fake_quantize_per_channel_affine(x, s, z, 0, 0, 255), ref)


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_tensor_tie_dense(dtype: str) -> None:
    rng = np.random.default_rng(len(dtype))
    tdtype = getattr(torch, dtype)
    zp = {"quint8": 77, "qint8": -5, "qint32": 12345}[dtype]
    for s in awkward_scales(rng, 16):
        x = tie_dense(float(s), 400, rng, n_random=3000)
        ref = torch.quantize_per_tensor(torch.from_numpy(x), float(s), zp, tdtype).int_repr().numpy()
        _same(rq.quantize_per_tensor(x, float(s), zp, dtype), ref)


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_tensor_saturates_like_torch(dtype: str) -> None:
    x = np.array([np.inf, -np.inf, 3e9, -3e9, 1e38, -1e38, 2.0**31, -(2.0**31)] * 5, dtype=np.float32)
    ref = torch.quantize_per_tensor(torch.from_numpy(x), 1.0, 0, getattr(torch, dtype)).int_repr().numpy()
    _same(rq.quantize_per_tensor(x, 1.0, 0, dtype), ref)


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_channel_tie_dense(dtype: str) -> None:
    rng = np.random.default_rng(7 + len(dtype))
    scales = awkward_scales(rng, 8).astype(np.float64)
    x = np.stack([tie_dense(float(s), 300, rng, n_random=1000) for s in scales], axis=1)
    lo, hi = rq.QDTYPES[dtype]
    zps = rng.integers(max(lo, -1000), min(hi, 1000) + 1, scales.size)
    ref = torch.quantize_per_channel(
        torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps), 1, getattr(torch, dtype)
    )
    _same(rq.quantize_per_channel(x, scales, zps, 1, dtype), ref.int_repr().numpy())


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_channel_specials(dtype: str) -> None:
    x = np.array([[np.inf, -np.inf, np.nan, 3e9, -3e9, 0.0], [1.0, -1.0, np.nan, 0.5, 1.5, 2.5]], np.float32)
    s, z = np.array([1.0, 0.5]), np.array([0, 3])
    ref = torch.quantize_per_channel(
        torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(z), 0, getattr(torch, dtype)
    )
    _same(rq.quantize_per_channel(x, s, z, 0, dtype), ref.int_repr().numpy())


@pytest.mark.parametrize("dtype", ["quint8", "qint8", "qint32"])
def test_quantize_per_channel_inf_beside_nan_at_a_huge_scale(dtype: str) -> None:
    """±inf next to a NaN saturate even when ``x * (1/s)`` of a large finite value would not."""
    x = np.array([[np.inf, -np.inf, np.nan, 1.0]], np.float32)
    s, z = np.array([3e38]), np.array([0])
    ref = torch.quantize_per_channel(
        torch.from_numpy(x), torch.from_numpy(s), torch.from_numpy(z), 0, getattr(torch, dtype)
    )
    _same(rq.quantize_per_channel(x, s, z, 0, dtype), ref.int_repr().numpy())


QSCHEMES = {
    "per_tensor_affine": torch.per_tensor_affine,
    "per_tensor_symmetric": torch.per_tensor_symmetric,
    "per_channel_affine": torch.per_channel_affine,
    "per_channel_symmetric": torch.per_channel_symmetric,
}


def _observer(qscheme: str, dtype: str, reduce_range: bool, qrange: tuple[int, int] | None):
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    kw = {"dtype": getattr(torch, dtype), "qscheme": QSCHEMES[qscheme], "reduce_range": reduce_range}
    if qrange is not None:
        kw["quant_min"], kw["quant_max"] = qrange
    if qscheme.startswith("per_channel"):
        return PerChannelMinMaxObserver(ch_axis=0, **kw)
    return MinMaxObserver(**kw)


CASES = [
    (q, d, r, c)
    for q in QSCHEMES
    for d in ("quint8", "qint8", "qint32")
    for r in (False, True)
    for c in (None, (0, 15), (-8, 7), (-1, 200))
    if not (q.endswith("symmetric") and r and d == "quint8")
    and not (c is not None and d == "quint8" and c[0] < 0)
]


@pytest.mark.filterwarnings("ignore:Please use quant_min:UserWarning")
@pytest.mark.parametrize("qscheme,dtype,reduce,qrange", CASES)
def test_calculate_qparams_matches_observer(qscheme, dtype, reduce, qrange) -> None:
    # a stable seed: hash() of strings is salted per process, which made the data differ per run
    rng = np.random.default_rng(zlib.crc32(repr((qscheme, dtype, reduce, qrange)).encode()))
    for trial in range(20):
        data = (rng.standard_normal((4, 64)) * 10.0 ** rng.uniform(-4, 3, (4, 1))).astype(np.float32)
        data += np.float32(rng.uniform(-2, 2)) * (trial % 3)
        if trial == 0:
            data[:] = 0.0  # empty range: the eps guard
        if trial == 1:
            data = np.abs(data)  # all positive: range widened to 0
        obs = _observer(qscheme, dtype, reduce, qrange)
        obs(torch.from_numpy(data))
        ts, tz = obs.calculate_qparams()
        if qscheme.startswith("per_channel"):
            lo, hi = data.min(axis=1), data.max(axis=1)
        else:
            lo, hi = data.min(), data.max()
        qmin, qmax = qrange if qrange is not None else (None, None)
        s, z = rq.calculate_qparams(
            lo, hi, dtype=dtype, qscheme=qscheme, quant_min=qmin, quant_max=qmax, reduce_range=reduce
        )
        _same(s, ts.numpy())
        np.testing.assert_array_equal(z, tz.numpy())
        assert z.dtype == tz.numpy().dtype


@pytest.mark.filterwarnings("ignore:must run observer:UserWarning")
def test_calculate_qparams_empty_observer() -> None:
    from torch.ao.quantization.observer import MinMaxObserver

    ts, tz = MinMaxObserver().calculate_qparams()
    s, z = rq.calculate_qparams(np.inf, -np.inf)
    assert s.tolist() == ts.tolist() and z.tolist() == tz.tolist()


@pytest.mark.filterwarnings("ignore:Please use quant_min:UserWarning")
def test_symmetric_reduce_range_quint8_raises_like_torch() -> None:
    from torch.ao.quantization.observer import MinMaxObserver

    with pytest.raises(NotImplementedError):
        MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric, reduce_range=True)
    with pytest.raises(NotImplementedError):
        rq.calculate_qparams(-1.0, 1.0, qscheme="per_tensor_symmetric", reduce_range=True)


def test_fake_quantize_per_tensor_adds_zero_point_in_float32() -> None:
    """Past 2**24 the float32 zero-point addition of torch's kernel shows; refquant mirrors it."""
    x = np.array([2.0**24 + 2, 2.0**24 + 6, -(2.0**24) - 2], dtype=np.float32)
    lo, hi = -(2**31), 2**31 - 1
    ref = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), 1.0, 1, lo, hi).numpy()
    _same(rq.fake_quantize_per_tensor_affine(x, 1.0, 1, lo, hi), ref)
    # q = fl32(1 + 2**24 + 2) = 2**24 + 4; q - z = 2**24 + 3, which float32 rounds to 2**24 + 4
    assert float(ref[0]) == 2.0**24 + 4
