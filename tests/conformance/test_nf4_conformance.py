"""refquant.floats.nf4 against bitsandbytes 0.50 on CPU, bit for bit.

bitsandbytes' CPU backend is what runs here: ``quantize_4bit`` through its
PyTorch default kernel, ``dequantize_4bit`` and ``quantize_blockwise``
through its C++ CPU kernels. refquant's ``backend="cpu"`` must reproduce it:
codes, absmaxes, double-quantization codes and scales, and the dequantized
values, compared as bit patterns (the sign of zero counts; a NaN must be a NaN). Inputs: random
normals at many scales, tie-dense values (every midpoint between table
entries times the block's absmax, and two ulps either side), zero blocks,
partial blocks, NaN, ±inf, subnormal and huge absmaxes.

bitsandbytes' FP4 code 8 dequantizes to +0 through its PyTorch path and its
AVX512 C++ table (and refquant's ``backend="cpu"``), but to -0 through its
scalar C++ table (x86 without AVX512): the test expects whichever path runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from refquant.floats import _nf4_kernels as kern
from refquant.floats import nf4 as rq

torch = pytest.importorskip("torch")
bnb = pytest.importorskip("bitsandbytes")
F = pytest.importorskip("bitsandbytes.functional")

f32 = np.float32
BLOCK_SIZES = (32, 64, 128, 256, 1024, 4096)


@pytest.fixture(scope="module", autouse=True)
def _eager() -> Iterator[None]:
    """bitsandbytes wraps its PyTorch dequantization in torch.compile: run it eagerly (same arithmetic)."""
    import torch._dynamo

    old = torch._dynamo.config.disable
    torch._dynamo.config.disable = True
    torch.set_num_threads(2)
    yield
    torch._dynamo.config.disable = old


def _bits(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32, (a.shape, b.shape, a.dtype, b.dtype)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    bad = (a.view(np.uint32) != b.view(np.uint32)) & ~(nan_a & nan_b)  # NaN as NaN (sign and payload not)
    assert not bad.any(), f"{bad.sum()} of {a.size} differ: ours {a[bad][:5]}, bnb {b[bad][:5]}"


def _unpack(packed: Any, n: int) -> np.ndarray:
    p = packed.numpy().reshape(-1)
    return np.stack([p >> 4, p & 15], axis=1).reshape(-1)[:n]


def _scalar_cpp_dequant(shape: tuple[int, ...], block_size: int) -> bool:
    """Whether bnb's dequantize_4bit takes its scalar C++ path (FP4 code 8 is -0 there)."""
    from bitsandbytes.backends.cpu import ops as cpu_ops

    return not cpu_ops._has_avx512 and shape[-1] % 2 == 0


def _check_4bit(x: np.ndarray, block_size: int, quant_type: str) -> int:
    """Compare one call of quantize_4bit / dequantize_4bit; returns the number of values compared."""
    packed, state = F.quantize_4bit(torch.from_numpy(x), blocksize=block_size, quant_type=quant_type)
    quantize = rq.nf4_quantize if quant_type == "nf4" else rq.fp4_bnb_quantize
    ours = quantize(x, block_size=block_size, backend="cpu")
    theirs = _unpack(packed, x.size)
    bad = theirs != ours.codes.reshape(-1)
    assert not bad.any(), (quant_type, block_size, x.reshape(-1)[bad][:5], theirs[bad][:5])
    _bits(ours.absmax, state.absmax.numpy())
    y = F.dequantize_4bit(packed, state).numpy().reshape(-1)
    if quant_type == "nf4":
        dequant = rq.nf4_dequantize(ours.codes, ours.absmax, block_size=block_size)
    else:
        backend = "cuda" if _scalar_cpp_dequant(x.shape, block_size) else "cpu"  # the sign of code 8's zero
        dequant = rq.fp4_bnb_dequantize(ours.codes, ours.absmax, block_size=block_size, backend=backend)
    _bits(dequant.reshape(-1), y)
    return x.size


# ----------------------------------------------------------------------------- inputs


def _neighbours(v: np.ndarray, k: int = 2) -> np.ndarray:
    out, up, down = [v], v.copy(), v.copy()
    for _ in range(k):
        up, down = np.nextafter(up, f32(np.inf)), np.nextafter(down, f32(-np.inf))
        out += [up, down]
    return np.concatenate(out)


def _tie_blocks(
    points: np.ndarray, scales: np.ndarray, block_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Blocks led by ±m, holding every ``point * m`` and two ulps either side, for each scale m."""
    out = []
    for m in scales:
        vals = _neighbours((points.astype(np.float64) * float(m)).astype(f32))
        vals = vals[np.abs(vals) < m]
        per = block_size - 1
        nb = -(-vals.size // per)
        body = np.resize(rng.permutation(vals), nb * per).reshape(nb, per)
        head = np.where(rng.random((nb, 1)) < 0.5, m, -m).astype(f32)
        out.append(np.concatenate([head, body], axis=1).reshape(-1))
    return np.concatenate(out).astype(f32)


def _midpoints(table: np.ndarray) -> np.ndarray:
    t = np.sort(table)
    return ((t[:-1] + t[1:]) / f32(2)).astype(f32)


SCALES = np.array([1.0, 0.5, 2.0, 0.1, 1 / 3, 0.7, 3.3, 1e-3, 123.456, 2.0**-20], f32)


def _fp4_points() -> np.ndarray:
    mids = _midpoints(rq.FP4_BNB_TABLE)
    return np.concatenate([mids, kern.FP4_CUDA_PIVOTS, -kern.FP4_CUDA_PIVOTS, rq.FP4_BNB_TABLE])


def _special_blocks(block_size: int) -> list[np.ndarray]:
    z = np.zeros(block_size, f32)
    nan = np.full(block_size, 0.5, f32)
    nan[3] = np.nan
    inf = np.linspace(-1, 1, block_size).astype(f32)
    inf[1] = np.inf
    ninf = inf.copy()
    ninf[1] = -np.inf
    tiny = (np.linspace(-1, 1, block_size) * 1e-40).astype(f32)
    huge = (np.linspace(-1, 1, block_size) * 3e38).astype(f32)
    signs = np.array([0.0, -0.0, 1e-4, -1e-4, 1.0, -1e-30, 1e-30] * block_size, f32)[:block_size]
    return [z, nan, inf, ninf, tiny, huge, signs]


# ----------------------------------------------------------------------------- 4-bit


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_random_normals(quant_type: str, block_size: int) -> None:
    rng = np.random.default_rng(block_size)
    for n_blocks, extra in ((40, 0), (7, 5), (3, block_size - 1), (0, 1), (0, 2)):
        n = n_blocks * block_size + extra
        scale = 10.0 ** rng.uniform(-4, 3, n)
        _check_4bit((rng.standard_normal(n) * scale).astype(f32), block_size, quant_type)


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("block_size", BLOCK_SIZES)
def test_tie_dense(quant_type: str, block_size: int) -> None:
    rng = np.random.default_rng(7 + block_size)
    points = _midpoints(rq.NF4_TABLE) if quant_type == "nf4" else _fp4_points()
    points = np.concatenate([points, -points]) if quant_type == "nf4" else points
    x = _tie_blocks(points, SCALES, block_size, rng)
    compared = _check_4bit(x, block_size, quant_type)
    # the same values in one partial block each (bnb divides there instead of multiplying)
    for m in SCALES[:6]:
        part = _tie_blocks(points, np.array([m], f32), 4096, rng)[: block_size * 3 + block_size // 2 + 1]
        compared += _check_4bit(part, block_size, quant_type)
    assert compared > 1000


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("block_size", [32, 64, 256])
def test_special_blocks(quant_type: str, block_size: int) -> None:
    """Zero, NaN, ±inf, subnormal and huge blocks, full and as the partial last block."""
    for blk in _special_blocks(block_size):
        ok = np.random.default_rng(0).standard_normal(block_size * 2).astype(f32)
        _check_4bit(np.concatenate([ok, blk]), block_size, quant_type)  # a full special block
        _check_4bit(np.concatenate([ok, blk[: block_size // 2 + 1]]), block_size, quant_type)  # partial
        _check_4bit(np.concatenate([blk, ok]), block_size, quant_type)


@pytest.mark.parametrize("shape", [(6, 64), (5, 33), (3, 7, 10), (1, 128), (1,), (2,)])
def test_shapes(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(f32)
    for qt in ("nf4", "fp4"):
        _check_4bit(x, 64, qt)
        assert rq.nf4_quantize(x).codes.shape == shape


def test_cuda_equals_cpu_on_finite_full_blocks() -> None:
    """On finite inputs in full blocks the two NF4 backends agree (same thresholds, same tie side)."""
    rng = np.random.default_rng(3)
    x = _tie_blocks(np.concatenate([_midpoints(rq.NF4_TABLE), -_midpoints(rq.NF4_TABLE)]), SCALES, 64, rng)
    x = x[: x.size // 64 * 64]
    cuda, cpu = rq.nf4_quantize(x, backend="cuda"), rq.nf4_quantize(x, backend="cpu")
    assert np.array_equal(cuda.codes, cpu.codes) and np.array_equal(cuda.absmax, cpu.absmax)
    packed, _ = F.quantize_4bit(torch.from_numpy(x), blocksize=64, quant_type="nf4")
    assert np.array_equal(_unpack(packed, x.size), cuda.codes)


# ----------------------------------------------------------------------------- double quantization


def _nested(x: np.ndarray, block_size: int, quant_type: str) -> None:
    packed, state = F.quantize_4bit(
        torch.from_numpy(x), blocksize=block_size, quant_type=quant_type, compress_statistics=True
    )
    quantize = rq.nf4_quantize if quant_type == "nf4" else rq.fp4_bnb_quantize
    first = quantize(x, block_size=block_size, backend="cpu")
    assert np.array_equal(_unpack(packed, x.size), first.codes.reshape(-1))
    offset = float(state.offset.item())
    dq = rq.double_quantize_absmax(first.absmax, offset=offset, backend="cpu")
    bad = dq.codes != state.absmax.numpy()
    assert not bad.any(), (bad.sum(), dq.codes[bad][:5], state.absmax.numpy()[bad][:5])
    _bits(dq.absmax, state.state2.absmax.numpy())
    _bits(dq.offset, state.offset.numpy())
    absmax = rq.double_dequantize_absmax(dq.codes, dq.absmax, dq.offset)
    if quant_type == "nf4":
        y = rq.nf4_dequantize(first.codes, absmax, block_size=block_size)
    else:
        backend = "cuda" if _scalar_cpp_dequant(x.shape, block_size) else "cpu"
        y = rq.fp4_bnb_dequantize(first.codes, absmax, block_size=block_size, backend=backend)
    _bits(y.reshape(-1), F.dequantize_4bit(packed, state).numpy().reshape(-1))
    # refquant's default offset, float32(fsum / n), against torch's float32 cascade-sum mean
    ours = rq.double_quantize_absmax(first.absmax, backend="cpu").offset
    n = first.absmax.size
    bound = (math.ceil(math.log2(n)) + 2) * np.spacing(
        f32(abs(offset))
    )  # pairwise sum of positives, then / n
    assert abs(float(ours) - offset) <= bound, (float(ours), offset)


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
@pytest.mark.parametrize("block_size", [32, 64, 128])
def test_double_quantization(quant_type: str, block_size: int) -> None:
    rng = np.random.default_rng(block_size)
    for n_blocks in (256 * 3 + 17, 256, 5, 1):
        scale = np.repeat(10.0 ** rng.uniform(-3, 1, n_blocks), block_size)
        x = (rng.standard_normal(n_blocks * block_size) * scale).astype(f32)
        _nested(x, block_size, quant_type)
    zeros = np.zeros(block_size * 300, f32)  # every absmax 0: a zero second-level block
    _nested(zeros, block_size, quant_type)
    same = np.tile(np.linspace(-1, 1, block_size).astype(f32), 300)  # every absmax equal
    _nested(same, block_size, quant_type)


def test_blockwise_8bit_tie_dense() -> None:
    """quantize_blockwise (the C++ lookup-table kernel) on every midpoint of the dynamic map, ±2 ulps."""
    rng = np.random.default_rng(11)
    code = rq.bnb_dynamic_map()
    x = _tie_blocks(_midpoints(code), np.array([1.0, 0.37, 2.0**-7, 5e3], f32), 256, rng)
    x = np.concatenate([x, rng.standard_normal(256 * 40 + 77).astype(f32), np.zeros(300, f32)])
    q, state = F.quantize_blockwise(torch.from_numpy(x), blocksize=256)
    ours = rq.double_quantize_absmax(x, offset=0.0, backend="cpu")
    bad = ours.codes != q.numpy()
    assert not bad.any(), (bad.sum(), x[bad][:5], ours.codes[bad][:5], q.numpy()[bad][:5])
    _bits(ours.absmax, state.absmax.numpy())
    # the exact nearest code (CUDA's binary search) differs from the lookup table on some of these
    cuda = rq.double_quantize_absmax(x, offset=0.0, backend="cuda")
    assert (cuda.codes != ours.codes).sum() > 0


# ----------------------------------------------------------------------------- tables


def test_nf4_table_is_bnbs() -> None:
    _bits(rq.NF4_TABLE, F.get_4bit_type("nf4", device="cpu").numpy())
    _bits(rq.FP4_BNB_TABLE, F.get_4bit_type("fp4", device="cpu").numpy())
    _bits(rq.normal_float_table(), rq.NF4_TABLE)


@pytest.mark.parametrize("offset", [0.9677083, 0.99, 0.95, 0.9, 0.75, 0.6, 0.9999])
@pytest.mark.parametrize("extra", [True, False])
def test_normal_float_table_equals_create_normal_map(offset: float, extra: bool) -> None:
    theirs = F.create_normal_map(offset=offset, use_extra_value=extra).numpy()
    ours = rq.normal_float_table(4, offset, extra)
    n_neg = 7
    _bits(ours[:n_neg], theirs[:n_neg])
    _bits(ours[n_neg + 1 :], theirs[n_neg + theirs.size - ours.size + 1 :])
    assert not theirs[n_neg : n_neg + theirs.size - ours.size + 1].any()


@pytest.mark.parametrize("signed,e", [(True, 7), (True, 6), (True, 4), (True, 1), (False, 7)])
def test_dynamic_map_equals_create_dynamic_map(signed: bool, e: int) -> None:
    _bits(rq.bnb_dynamic_map(signed, e), F.create_dynamic_map(signed=signed, max_exponent_bits=e).numpy())


def test_linspace_emulation_equals_torch() -> None:
    rng = np.random.default_rng(5)
    for _ in range(3000):
        a, b = rng.uniform(-3, 3, 2) * 10.0 ** rng.integers(-3, 4)
        n = int(rng.integers(2, 300))
        _bits(kern.torch_linspace_float32(a, b, n), torch.linspace(float(a), float(b), n).numpy())
