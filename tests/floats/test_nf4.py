"""refquant.floats.nf4: the tables, the 4-bit block quantizers, double quantization.

Expected values come from the definitions (QLoRA's quantiles, computed here
with Python's own ``statistics.NormalDist``), from the constants typed into
bitsandbytes' CUDA source (csrc/kernels.cu), or by hand. bitsandbytes itself
is the peer in tests/conformance/test_nf4_conformance.py.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.floats import nf4 as rq
from refquant.floats.cast import decode

f32 = np.float32
NF4_MID = ((rq.NF4_TABLE[:-1] + rq.NF4_TABLE[1:]) / f32(2)).astype(f32)

# dQuantizeNF4's thresholds and the FP4 lookup table, as typed in bitsandbytes' csrc/kernels.cu
CUDA_NF4_THRESHOLDS = [
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]  # fmt: skip
CUDA_FP4_LUT = [0.0, 0.005208333333, 0.66666667, 1.0, 0.33333333, 0.5, 0.16666667, 0.25]


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, f32), np.asarray(b, f32)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


# ----------------------------------------------------------------------------- tables


def _f32_exact(q: Fraction) -> np.float32:
    """The float32 nearest the rational ``q`` (ties to even), by exact comparison."""
    c = f32(float(q))
    for cand in (np.nextafter(c, f32(-np.inf)), np.nextafter(c, f32(np.inf))):
        d_c, d_n = abs(Fraction(float(c)) - q), abs(Fraction(float(cand)) - q)
        if d_n < d_c or (d_n == d_c and int(cand.view(np.uint32)) % 2 == 0):
            c = cand
    return c


def _torch_linspace_by_hand(start: float, end: float, n: int) -> list[np.float32]:
    """torch's CPU linspace in float32 with fused multiply-adds, in exact rational arithmetic."""
    s, e = f32(start), f32(end)
    step = f32(f32(e - s) / f32(n - 1))
    out = []
    for k in range(n):
        if k < n // 2:
            out.append(_f32_exact(Fraction(float(s)) + Fraction(float(step)) * k))
        else:
            out.append(_f32_exact(Fraction(float(e)) - Fraction(float(step)) * (n - 1 - k)))
    return out


def test_nf4_table_by_hand_from_the_paper() -> None:
    """QLoRA's construction, with Python's NormalDist for the quantiles and bnb's float32 steps."""
    inv = statistics.NormalDist().inv_cdf
    pos = [f32(inv(float(p))) for p in _torch_linspace_by_hand(0.9677083, 0.5, 9)[:-1]]
    neg = [f32(-inv(float(p))) for p in _torch_linspace_by_hand(0.9677083, 0.5, 8)[:-1]]
    v = np.sort(np.array([*neg, 0.0, *pos], f32))
    assert _same_bits(v / v.max(), rq.NF4_TABLE)


def test_derivation_reproduces_the_published_table() -> None:
    t = rq.normal_float_table()
    assert t.dtype == np.float32 and _same_bits(t, rq.NF4_TABLE)
    assert rq.NF4_TABLE[7] == 0 and rq.NF4_TABLE[0] == -1 and rq.NF4_TABLE[15] == 1
    assert not rq.NF4_TABLE.flags.writeable and not rq.FP4_BNB_TABLE.flags.writeable


def test_exact_derivation_is_within_2_to_the_minus_23() -> None:
    exact = rq.normal_float_table(emulate="exact")
    assert exact.dtype == np.float64
    diff = np.abs(exact - rq.NF4_TABLE.astype(np.float64))
    assert 1e-8 < diff.max() < 2.0**-23  # the "about 1e-7": under one float32 ulp of 1
    changed = exact.astype(f32) != rq.NF4_TABLE
    assert 0 < changed.sum() < 14  # -1, 0 and 1 are exact in both


def test_cuda_thresholds_are_the_float32_midpoints() -> None:
    assert _same_bits(NF4_MID, np.array(CUDA_NF4_THRESHOLDS, f32))


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("extra", [True, False])
@pytest.mark.parametrize("emulate", ["bitsandbytes", "exact"])
def test_normal_float_table_shape(bits: int, extra: bool, emulate: str) -> None:
    t = rq.normal_float_table(bits, 0.97, extra, emulate=emulate)  # type: ignore[arg-type]
    assert t.size == 2**bits - (0 if extra else 1)
    assert t[0] == -1 and t[-1] == 1 and (t == 0).sum() == 1 and np.all(np.diff(t) > 0)
    assert (t < 0).sum() == 2 ** (bits - 1) - 1
    if not extra:
        assert np.array_equal(t, -t[::-1])
    # the largest positive quantile is at the largest probability below offset (bnb's step)
    n_pos = 2 ** (bits - 1) + (1 if extra else 0)
    p = 0.97 - (0.97 - 0.5) / (n_pos - 1)
    inv = statistics.NormalDist().inv_cdf
    assert abs(t[-2] - inv(p) / inv(0.97)) < 1e-6


def test_fp4_table() -> None:
    t = rq.FP4_BNB_TABLE
    assert _same_bits(t[:8], np.array(CUDA_FP4_LUT, f32))
    assert _same_bits(t[9:], -np.array(CUDA_FP4_LUT[1:], f32))
    assert t[8] == 0 and not np.signbit(t[8])  # bnb's table: Python's "-0" is the integer 0
    by_twelve = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3], np.float64) / 12
    assert np.all(np.abs(t[:8] - by_twelve) <= np.spacing(f32(1)) / 2)


def test_fp4_is_not_e2m1() -> None:
    """bnb's magnitudes x12 against e2m1's x2: normals with the exponent field reversed, a tiny subnormal."""
    e2m1 = decode(np.arange(8, dtype=np.uint8), "float4_e2m1fn").astype(np.float64) * 2  # 0 1 2 3 4 6 8 12
    bnb = np.round(rq.FP4_BNB_TABLE[:8].astype(np.float64) * 12, 4)  # 0 .0625 8 12 4 6 2 3
    for code in range(2, 8):  # normals: exponent field E (bits 2..1) maps to 4 - E, mantissa kept
        e, m = code >> 1, code & 1
        assert bnb[code] == e2m1[((4 - e) << 1) | m]
    assert bnb[1] == 0.0625 and e2m1[1] == 1.0  # the subnormal: 1/192 of the max instead of 1/12
    assert sorted(bnb[2:]) == sorted(e2m1[2:])


def test_dynamic_map_structure() -> None:
    m = rq.bnb_dynamic_map()
    assert m.dtype == np.float32 and m.size == 256 and np.all(np.diff(m) > 0)
    assert m[127] == 0 and m[255] == 1
    pos, neg = m[128:255], m[:127]
    assert np.array_equal(neg, -pos[::-1])
    # decade i holds 2**i midpoints of linspace(0.1, 1, 2**i + 1), times 10**(i - 6)
    start = 0
    for i in range(7):
        n = 2**i
        j = np.arange(n)
        expect = 10.0 ** (i - 6) * (0.1 + 0.9 * (j + 0.5) / n)
        got = pos[start : start + n].astype(np.float64)
        assert np.all(np.abs(got - expect) <= 3 * np.spacing(f32(expect)))
        start += n
    u = rq.bnb_dynamic_map(signed=False)
    assert u.size == 256 and u[0] == 0 and u[255] == 1 and np.all(np.diff(u) > 0)
    for e in range(1, 7):
        s = rq.bnb_dynamic_map(True, e)
        assert s.size == 256 and np.all(np.diff(s) > 0) and s[255] == 1


# ----------------------------------------------------------------------------- NF4


@pytest.mark.parametrize("backend", ["cuda", "cpu"])
def test_nf4_ties_go_to_the_lower_code(backend: str) -> None:
    """A value exactly on a float32 midpoint takes the lower code; one ulp above, the upper."""
    for scale in (1.0, 0.5, 8.0):
        up = np.nextafter(NF4_MID, f32(np.inf))
        x = np.concatenate([[scale], NF4_MID * f32(scale), up * f32(scale)]).astype(f32)
        q = rq.nf4_quantize(x, block_size=x.size, backend=backend)  # type: ignore[arg-type]
        assert q.absmax.tolist() == [scale]
        assert q.codes.tolist() == [15, *range(15), *range(1, 16)]


def test_nf4_quantize_by_hand() -> None:
    x = np.array([[0.5, -1.0, 0.25, 0.03], [2.0, 0.0, -0.3, 1.2]], f32)
    q = rq.nf4_quantize(x, block_size=4)
    # block 0 (absmax 1): 0.5 < 0.5017 -> 12; -1 -> 0; 0.25 in (0.2035, 0.2920] -> 10; 0.03 < 0.0398 -> 7
    # block 1 (absmax 2): 1 -> 15; 0 -> 7; -0.15 in (-0.2346, -0.1379] -> 5; 0.6 in (0.5017, 0.6428] -> 13
    assert q.codes.tolist() == [[12, 0, 10, 7], [15, 7, 5, 13]] and q.codes.dtype == np.uint8
    assert q.absmax.tolist() == [1.0, 2.0] and q.absmax.dtype == np.float32
    y = rq.nf4_dequantize(q.codes, q.absmax, block_size=4)
    assert y.dtype == np.float32 and y.shape == (2, 4)
    assert _same_bits(y[1], rq.NF4_TABLE[[15, 7, 5, 13]] * f32(2))


def test_partial_block_divides_on_cpu_and_multiplies_on_cuda() -> None:
    """bnb's default backend computes x / m in the partial last block; CUDA x * (1/m)."""
    found = 0
    for m in (f32(0.7), f32(3.3), f32(1 / 3), f32(123.456), f32(0.1)):
        inv = f32(1) / m
        cand = (NF4_MID.astype(np.float64) * float(m)).astype(f32)
        for _ in range(3):
            cand = np.concatenate([cand, np.nextafter(cand, f32(np.inf)), np.nextafter(cand, f32(-np.inf))])
        mult_code = np.searchsorted(NF4_MID, cand * inv, side="left")
        div_code = np.searchsorted(NF4_MID, cand / m, side="left")
        for x, cm, cd in zip(
            cand[mult_code != div_code],
            mult_code[mult_code != div_code],
            div_code[mult_code != div_code],
            strict=True,
        ):
            data = np.array([m, x], f32)
            assert rq.nf4_quantize(data, block_size=4, backend="cpu").codes[1] == cd  # partial: x / m
            assert rq.nf4_quantize(data, block_size=4, backend="cuda").codes[1] == cm
            assert rq.nf4_quantize(data, block_size=2, backend="cpu").codes[1] == cm  # full: x * (1/m)
            found += 1
    assert found > 0


def test_zero_blocks() -> None:
    z = np.zeros(6, f32)
    cuda = rq.nf4_quantize(z, block_size=4)
    assert cuda.codes.tolist() == [0] * 6 and cuda.absmax.tolist() == [0.0, 0.0]  # 0 * inf = NaN -> code 0
    y = rq.nf4_dequantize(cuda.codes, cuda.absmax, block_size=4)
    assert np.all(y == 0) and np.all(np.signbit(y))  # -1.0 * 0 = -0.0
    cpu = rq.nf4_quantize(z, block_size=4, backend="cpu")
    assert cpu.codes.tolist() == [7] * 6
    assert cpu.absmax[0] == 0 and cpu.absmax[1] == f32(1e-38)  # the partial block reports the clamp
    y = rq.nf4_dequantize(cpu.codes, cpu.absmax, block_size=4)
    assert np.all(y == 0) and not np.any(np.signbit(y))
    assert rq.fp4_bnb_quantize(z, block_size=4, backend="cpu").codes.tolist() == [0] * 6
    assert rq.fp4_bnb_quantize(z, block_size=4).codes.tolist() == [0] * 6


def test_nan_and_inf() -> None:
    x = np.array([0.5, np.nan, -0.25, 0.0, np.nan, np.nan, np.nan, np.nan, 1.0, np.inf, -3.0, 0.0], f32)
    cuda = rq.nf4_quantize(x, block_size=4)
    assert cuda.absmax[0] == 0.5 and cuda.absmax[1] == -np.finfo(f32).max and cuda.absmax[2] == np.inf
    assert cuda.codes.tolist() == [15, 0, 2, 7, 0, 0, 0, 0, 7, 0, 7, 7]  # -0.25 / 0.5 = -0.5 -> 2
    cpu = rq.nf4_quantize(x, block_size=4, backend="cpu")
    assert np.isnan(cpu.absmax[:2]).all() and cpu.absmax[2] == np.inf
    assert cpu.codes.tolist() == [15] * 8 + [7, 15, 7, 7]
    y = rq.nf4_dequantize(cpu.codes, cpu.absmax, block_size=4)
    assert np.isnan(y[:9]).all() and y[9] == np.inf and np.isnan(y[10:]).all()  # NaN absmax; 0 * inf
    y = rq.nf4_dequantize(cuda.codes, cuda.absmax, block_size=4)
    assert y[9] == -np.inf and np.isnan(y[8]) and y[1] == -0.5  # inf: NaN code 0 = -1.0 times inf
    # a partial all-NaN block: CUDA's padding zeros enter the max
    assert rq.nf4_quantize(np.array([1.0, np.nan], f32), block_size=1).absmax[1] == -np.finfo(f32).max
    assert rq.nf4_quantize(np.array([1.0, np.nan], f32), block_size=4).absmax.tolist() == [1.0]
    assert rq.nf4_quantize(np.array([np.nan], f32), block_size=4).absmax.tolist() == [0.0]


def test_fp4_cuda_pivots_and_signs() -> None:
    x = np.array([1.0, f32(0.5833332), -f32(0.5833332), 1e-4, -1e-4, 0.0, -0.0, 0.3], f32)
    cuda = rq.fp4_bnb_quantize(x, block_size=8)
    cpu = rq.fp4_bnb_quantize(x, block_size=8, backend="cpu")
    # 0.5833332 is above the kernel's literal 0.583333f and below the midpoint 7/12 (as float32)
    assert cuda.codes.tolist() == [3, 2, 10, 0, 8, 0, 0, 4]
    assert cpu.codes.tolist() == [3, 5, 13, 8, 0, 0, 0, 4]
    nan = np.array([1.0, np.nan], f32)
    assert rq.fp4_bnb_quantize(nan, block_size=2).codes.tolist() == [3, 0]
    assert rq.fp4_bnb_quantize(nan, block_size=2, backend="cpu").codes.tolist() == [3, 3]
    assert rq.fp4_bnb_dequantize([8], [2.0], block_size=1).tolist() == [-0.0]
    assert np.signbit(rq.fp4_bnb_dequantize([8], [2.0], block_size=1)[0])
    assert not np.signbit(rq.fp4_bnb_dequantize([8], [2.0], block_size=1, backend="cpu")[0])


@pytest.mark.parametrize("quantize", [rq.nf4_quantize, rq.fp4_bnb_quantize])
@pytest.mark.parametrize("backend", ["cuda", "cpu"])
def test_codes_are_nearest_up_to_the_float32_thresholds(
    quantize: Callable[..., rq.Quantized4bit], backend: str
) -> None:
    x = np.random.default_rng(0).standard_normal(64 * 50).astype(f32)
    q = quantize(x, block_size=64, backend=backend)
    table = rq.NF4_TABLE if quantize is rq.nf4_quantize else rq.FP4_BNB_TABLE
    v = x.reshape(50, 64) / q.absmax[:, None]
    dist = np.abs(v[..., None].astype(np.float64) - table.astype(np.float64))
    nearest = dist.min(axis=-1)
    got = dist[np.arange(50)[:, None], np.arange(64), q.codes.reshape(50, 64)]
    assert np.all(got <= nearest + 1e-6)  # nearest up to the float32 thresholds (within 1e-6 of a tie)


def test_empty_and_0d() -> None:
    q = rq.nf4_quantize(np.zeros((0, 3), f32))
    assert q.codes.shape == (0, 3) and q.absmax.shape == (0,)
    assert rq.nf4_dequantize(q.codes, q.absmax).shape == (0, 3)
    q = rq.nf4_quantize(f32(-2.0))
    assert q.codes.shape == () and q.codes.item() == 0 and q.absmax.tolist() == [2.0]
    assert rq.nf4_dequantize(q.codes, q.absmax).tolist() == -2.0
    d = rq.double_quantize_absmax(np.zeros(0, f32))
    assert d.codes.shape == (0,) and d.absmax.shape == (0,) and d.offset == 0


def test_float64_input_is_rounded_to_float32() -> None:
    x = np.array([1.0, float(NF4_MID[12]) + 1e-12, 0.1], np.float64)  # just above a midpoint in float64
    assert rq.nf4_quantize(x, block_size=2).codes.tolist()[:2] == [15, 12]  # on it once in float32: lower
    x[2] = 1e300
    with pytest.raises(ValueError, match=r"x must be within float32's range .* got \[1e\+300\]"):
        rq.nf4_quantize(x, block_size=2)


finite = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
    elements=st.floats(-1e6, 1e6, width=32, allow_subnormal=False),
)


@given(finite, st.sampled_from([1, 3, 16, 64]), st.sampled_from(["cuda", "cpu"]))
def test_idempotent_and_bounded(x: np.ndarray, block_size: int, backend: str) -> None:
    before = x.copy()
    q = rq.nf4_quantize(x, block_size=block_size, backend=backend)  # type: ignore[arg-type]
    assert np.array_equal(x, before)  # input untouched
    y = rq.nf4_dequantize(q.codes, q.absmax, block_size=block_size)
    m = np.repeat(q.absmax, block_size)[: x.size].reshape(x.shape).astype(np.float64)
    half_gap = float(np.max(np.diff(rq.NF4_TABLE.astype(np.float64)))) / 2
    nz = m > 1e-30
    assert np.all(np.abs(x - y)[nz] <= m[nz] * (half_gap + 2.0**-20))
    q2 = rq.nf4_quantize(y, block_size=block_size, backend=backend)  # type: ignore[arg-type]
    keep = np.repeat(q.absmax > 1e-30, block_size)[: x.size].reshape(x.shape)
    assert np.array_equal(q2.codes[keep], q.codes[keep])
    again = rq.nf4_quantize(x, block_size=block_size, backend=backend)  # type: ignore[arg-type]
    assert np.array_equal(again.codes, q.codes) and np.array_equal(again.absmax, q.absmax)  # deterministic


@given(finite)
def test_blocks_are_independent(x: np.ndarray) -> None:
    flat = x.reshape(-1)[: x.size // 8 * 8]
    whole = rq.fp4_bnb_quantize(flat, block_size=8)
    for b in range(flat.size // 8):
        part = rq.fp4_bnb_quantize(flat[8 * b : 8 * b + 8], block_size=8)
        assert (
            np.array_equal(part.codes, whole.codes[8 * b : 8 * b + 8]) and part.absmax[0] == whole.absmax[b]
        )


# ----------------------------------------------------------------------------- double quantization


def test_double_quantization_by_hand() -> None:
    d = rq.double_quantize_absmax([1.0, 2.0, 3.0], offset=2.0)
    code = rq.bnb_dynamic_map()
    assert d.codes.tolist() == [0, 127, 255] and d.absmax.tolist() == [1.0] and d.offset == 2.0
    a = rq.double_dequantize_absmax(d.codes, d.absmax, d.offset)
    assert _same_bits(a, np.array([code[0] + f32(2), 2.0, 3.0], f32))
    # the default offset is the mean
    assert rq.double_quantize_absmax([1.0, 2.0, 4.0]).offset == f32(7 / 3)


def test_double_quantization_lut_is_not_nearest() -> None:
    """The CPU kernel's 65536-bin table: 1e-6 goes to the code nearest its bin centre, 1.526e-5."""
    code = rq.bnb_dynamic_map().astype(np.float64)
    d_cuda = rq.double_quantize_absmax([1.0, 1e-6], offset=0.0)
    d_cpu = rq.double_quantize_absmax([1.0, 1e-6], offset=0.0, backend="cpu")
    assert d_cuda.codes[1] == np.argmin(np.abs(code - float(f32(1e-6))))
    bin_centre = -1.0 + 2.0 * 32768 / 65535  # (1e-6 + 1) / 2 * 65535 + 0.5 = 32768.03
    assert d_cpu.codes[1] == np.argmin(np.abs(code - bin_centre)) != d_cuda.codes[1]


def test_double_quantization_ties() -> None:
    """On a midpoint of the dynamic map the search keeps one of the two neighbours; off it, the nearer."""
    code = rq.bnb_dynamic_map()
    mid = ((code[:-1] + code[1:]) * f32(0.5)).astype(f32)
    for v, lo in ((mid, 0), (np.nextafter(mid, f32(2)), 1), (np.nextafter(mid, f32(-2)), 0)):
        x = np.concatenate([[1.0], v]).astype(f32)
        c = rq.double_quantize_absmax(x, offset=0.0, block_size=x.size).codes[1:].astype(int)
        j = np.arange(255)
        if v is mid:
            assert np.all((c == j) | (c == j + 1))
        else:
            assert np.array_equal(c, j + lo)


def test_double_quantization_round_trip_error() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0.01, 3.0, 1000).astype(f32)
    for backend in ("cuda", "cpu"):
        d = rq.double_quantize_absmax(a, backend=backend)  # type: ignore[arg-type]
        assert d.codes.shape == (1000,) and d.absmax.shape == (4,) and d.offset.shape == ()
        back = rq.double_dequantize_absmax(d.codes, d.absmax, d.offset)
        assert np.max(np.abs(back - a)) < 0.01 * np.max(np.abs(a - d.offset))


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: rq.nf4_quantize([1.0], block_size=0), "block_size must be >= 1, got 0"),
        (lambda: rq.nf4_quantize([1.0], backend="gpu"), "backend must be one of"),
        (lambda: rq.nf4_dequantize([16], [1.0]), r"codes must lie in \[0, 15\], got \[16\]"),
        (lambda: rq.nf4_dequantize([1, 2], [1.0, 2.0]), r"absmax must have shape \(1,\)"),
        (lambda: rq.double_dequantize_absmax([256], [1.0], 0.0), r"codes must lie in \[0, 255\]"),
        (lambda: rq.double_quantize_absmax([1.0, np.inf]), r"absmax must be finite, got \[inf\]"),
        (lambda: rq.double_dequantize_absmax([1], [1.0], np.nan), "offset must be finite"),
        (lambda: rq.normal_float_table(9), r"bits must be in \[2, 8\], got 9"),
        (lambda: rq.normal_float_table(offset=0.4), "offset must lie in"),
        (lambda: rq.bnb_dynamic_map(False, 6), "max_exponent_bits must be in"),
    ],
)
def test_bad_arguments(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="block_size must be an int"):
        rq.nf4_quantize([1.0], block_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="offset must be a real number"):
        rq.double_quantize_absmax([1.0], offset="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="use_extra_value must be a bool"):
        rq.normal_float_table(use_extra_value=1)  # type: ignore[arg-type]
