"""OCP MX and NVFP4 against torchao 0.18 (``torchao.prototype.mx_formats``), bit for bit, on CPU.

``convention="torchao"`` must equal ``to_mx`` on every element type and scale
mode torchao has, on random normals of many magnitudes, tie-dense blocks,
zero blocks, blocks near the e8m0 limits and NaN/inf blocks: scale codes and
element bit patterns (the sign of zero included). The one exclusion is
documented in refquant.floats.mx: torchao's fp6/fp4 casts encode a NaN as a
code computed from its bits. ``convention="ocp"`` must equal it wherever the
spec and torchao agree, and differ exactly in the documented places.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchao")

from torchao.prototype.mx_formats import kernels as tk  # noqa: E402
from torchao.prototype.mx_formats.config import ScaleCalculationMode  # noqa: E402
from torchao.prototype.mx_formats.mx_tensor import to_mx  # noqa: E402
from torchao.prototype.mx_formats.nvfp4_tensor import (  # noqa: E402
    nvfp4_quantize as ao_nvfp4_quantize,
)
from torchao.prototype.mx_formats.nvfp4_tensor import per_tensor_amax_to_scale  # noqa: E402

from refquant.floats import decode, encode  # noqa: E402
from refquant.floats.mx import mx_dequantize, mx_quantize  # noqa: E402
from refquant.floats.nvfp4 import nvfp4_dequantize, nvfp4_per_tensor_scale, nvfp4_quantize  # noqa: E402

AO_DTYPES: dict[str, Any] = {
    "float8_e4m3fn": torch.float8_e4m3fn,
    "float8_e5m2": torch.float8_e5m2,
    "float6_e2m3fn": "fp6_e2m3",
    "float6_e3m2fn": "fp6_e3m2",
    "float4_e2m1fn": torch.float4_e2m1fn_x2,
}
MODES = {m.value: m for m in ScaleCalculationMode}
BS = 32


def _ao(x: np.ndarray, fmt: str, mode: str, bs: int = BS) -> tuple[np.ndarray, np.ndarray]:
    """torchao's (scale codes uint8, elements as float32 values)."""
    s, d = to_mx(torch.from_numpy(x), AO_DTYPES[fmt], bs, MODES[mode])
    codes = s.view(torch.uint8).numpy().copy()
    if fmt == "float6_e2m3fn":
        e = tk.f6_e2m3_unpacked_to_f32(d)
    elif fmt == "float6_e3m2fn":
        e = tk.f6_e3m2_unpacked_to_f32(d)
    elif fmt == "float4_e2m1fn":
        e = tk.f4_unpacked_to_f32(tk.unpack_uint4(d))
    else:
        e = d.to(torch.float32)
    return codes, e.reshape(x.shape).numpy().copy()


def _bits(a: np.ndarray) -> np.ndarray:
    """float32 bit patterns, every NaN as one code (NaN == NaN, +0 != -0)."""
    b = np.ascontiguousarray(a, np.float32).view(np.uint32).copy()
    b[np.isnan(a)] = 0x7FC00000
    return b


def _inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float32 (rows, 4 blocks of 32) inputs; each a family of the issue's list."""
    out: dict[str, np.ndarray] = {}
    for mag in (-38, -30, -12, -3, 0, 3, 12, 30, 37):
        out[f"normal 1e{mag}"] = (rng.standard_normal((64, 4 * BS)) * 10.0**mag).astype(np.float32)
    # every block at its own power of two over float32's whole range, subnormals included
    k = rng.integers(-149, 127, size=(256, 4, 1))
    out["per-block magnitude"] = (
        (rng.standard_normal((256, 4, BS)) * np.exp2(k)).astype(np.float32).reshape(256, -1)
    )
    # block maxima around powers of two: 2**k * (1 + j ulp), a few ulps either side (rceil's log2)
    j = rng.integers(-40, 40, size=(512, 4, 1))
    k = rng.integers(-126, 128, size=(512, 4, 1))
    top = (np.exp2(k.astype(np.float64)) * (1 + j * 2.0**-23)).astype(np.float32)
    blocks = rng.uniform(-1, 1, size=(512, 4, BS)).astype(np.float32) * top
    blocks[..., 0] = top[..., 0] * rng.choice([-1, 1], size=(512, 4))
    out["maxima near 2**k"] = blocks.reshape(512, -1)
    # rceil's quotients amax / max near powers of two: amax = max * 2**k * (1 + j ulp)
    k = rng.integers(-126, 110, size=(640, 4, 1))
    m = np.repeat([448.0, 57344.0, 7.5, 28.0, 6.0], 128)[:, None, None]
    top = (m * np.exp2(k.astype(np.float64)) * (1 + j.repeat(2, 0)[:640] * 2.0**-23)).astype(np.float32)
    blocks = rng.uniform(-1, 1, size=(640, 4, BS)).astype(np.float32) * top
    blocks[..., 7] = top[..., 0]
    out["quotients near 2**k"] = blocks.reshape(640, -1)
    z = rng.standard_normal((16, 4 * BS)).astype(np.float32)
    z[:, :BS] = 0.0
    z[::2, BS : 2 * BS] = -0.0
    z[1::2, 2 * BS : 2 * BS + 5] = 0.0
    out["zero blocks"] = z
    t = rng.standard_normal((64, 4 * BS)).astype(np.float32)
    for i, v in enumerate((np.nan, np.inf, -np.inf, -np.nan)):
        t[i::4, rng.integers(0, 4 * BS, 16)] = v
    t[5, :] = np.inf
    t[6, :BS] = np.nan
    out["NaN and inf"] = t
    big = np.full((4, 4 * BS), np.finfo(np.float32).max, np.float32)
    big[:, 1::2] = -np.float32(2.0**-149)
    big[1] = np.float32(2.0**-149)
    big[2] = np.float32(2.0**-126)
    big[3, :BS] = np.float32(3.0e38)
    out["float32 limits"] = big
    return out


def _ties(fmt: str, rng: np.random.Generator) -> np.ndarray:
    """Blocks of grid midpoints (and one ulp either side), anchored so that every mode's scale is X.

    The grid is refquant's decode of every code (itself checked against ml_dtypes on every code).
    """
    bits = {"float8_e4m3fn": 8, "float8_e5m2": 8, "float6_e2m3fn": 6, "float6_e3m2fn": 6, "float4_e2m1fn": 4}
    g = decode(np.arange(2 ** bits[fmt], dtype=np.uint8), fmt).astype(np.float64)
    g = np.unique(g[np.isfinite(g) & (g >= 0)])
    emax = {"float8_e4m3fn": 8, "float8_e5m2": 15, "float6_e2m3fn": 2, "float6_e3m2fn": 4, "float4_e2m1fn": 2}
    g = g[g <= 2.0 ** emax[fmt]]
    mid = ((g[:-1] + g[1:]) / 2).astype(np.float32)
    pool = np.concatenate([mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))])
    rows = 128
    x = rng.choice(pool, size=(rows, 4, BS)) * rng.choice([-1, 1], size=(rows, 4, BS))
    x[..., 0] = 2.0 ** emax[fmt]  # the anchor: amax = 2**emax * X in every mode
    e = rng.integers(-120, 100, size=(rows, 4, 1))
    return (x * np.exp2(e)).astype(np.float32).reshape(rows, -1)


def _compare(x: np.ndarray, fmt: str, mode: str, convention: str) -> tuple[int, int, int]:
    """(values compared, mismatches, excluded) of scale codes and element bits."""
    codes, ao = _ao(x, fmt, mode)
    s, p = mx_quantize(x, fmt, block_size=BS, scale_mode=mode, convention=convention)
    ours = encode(s, "float8_e8m0fnu")
    keep = np.ones(x.shape, bool)
    if fmt.startswith(("float6", "float4")):  # torchao encodes NaN from its bits: documented, not compared
        nan_block = np.repeat(codes == 0xFF, BS, axis=-1)
        keep = ~(nan_block & (np.isnan(x) | (mode == "rceil")))
    bad = int(np.sum(ours != codes)) + int(np.sum(_bits(p)[keep] != _bits(ao)[keep]))
    return codes.size + int(keep.sum()), bad, int((~keep).sum())


@pytest.mark.parametrize("fmt", list(AO_DTYPES))
@pytest.mark.parametrize("mode", list(MODES))
def test_torchao_convention_bit_for_bit(fmt: str, mode: str) -> None:
    rng = np.random.default_rng(1234)
    cases = {**_inputs(rng), "ties": _ties(fmt, rng)}
    total = 0
    for name, x in cases.items():
        n, bad, _ = _compare(x, fmt, mode, "torchao")
        assert bad == 0, f"{name}: {bad} mismatches of {n}"
        total += n
    assert total > 100_000


MAXES = {
    "float8_e4m3fn": 448.0,
    "float8_e5m2": 57344.0,
    "float6_e2m3fn": 7.5,
    "float6_e3m2fn": 28.0,
    "float4_e2m1fn": 6.0,
}


def _documented(x: np.ndarray, fmt: str, mode: str, codes: np.ndarray) -> np.ndarray:
    """The blocks where refquant.floats.mx documents that the spec and torchao differ."""
    blocks = x.reshape(*x.shape[:-1], -1, BS)
    amax = np.max(np.abs(blocks), axis=-1)
    out = np.isinf(amax) | (codes == 0)  # inf blocks; the code 0 (2**-127)
    if mode == "rceil":
        d = (amax / np.float32(MAXES[fmt])).astype(np.float64)
        ok = np.isfinite(d) & (d > 0)
        d = np.where(ok, d, 1.0)
        m, ex = np.frexp(d)
        exact = ex - (m == 0.5)
        emulated = np.ceil(np.log2(d).astype(np.float32))
        out |= np.isnan(amax) | (ok & (exact != emulated))  # NaN blocks (x * NaN); torch's log2
    return out


@pytest.mark.parametrize("fmt", list(AO_DTYPES))
@pytest.mark.parametrize("mode", list(MODES))
def test_ocp_differs_from_torchao_only_where_documented(fmt: str, mode: str) -> None:
    rng = np.random.default_rng(1234)
    cases = {**_inputs(rng), "ties": _ties(fmt, rng)}
    same = differ = 0
    for name, x in cases.items():
        codes, ao = _ao(x, fmt, mode)
        s, p = mx_quantize(x, fmt, block_size=BS, scale_mode=mode)
        ours = encode(s, "float8_e8m0fnu")
        keep = ~_documented(x, fmt, mode, codes)
        el_ok = (_bits(p) == _bits(ao)).reshape(*x.shape[:-1], -1, BS)
        if fmt.startswith(("float6", "float4")):  # torchao's NaN codes, as in the torchao convention
            el_ok |= np.isnan(x).reshape(el_ok.shape)
        block_ok = (ours == codes) & el_ok.all(axis=-1)
        assert block_ok[keep].all(), f"{name}: {int((~block_ok[keep]).sum())} undocumented block differences"
        same += int(keep.sum())
        differ += int((~block_ok).sum())
    assert same > 5_000 and differ > 0  # blocks; both sides of the comparison are exercised


def test_ocp_departures_are_the_documented_ones() -> None:
    fmt = "float8_e4m3fn"
    # inf: torchao gives 2**(128 - 8), the spec a NaN scale
    x = np.array([[np.inf, 1.0, -2.0, 0.5]], np.float32)
    codes, _ = _ao(x, fmt, "floor", bs=4)
    assert codes.tolist() == [[127 + 120]]
    assert np.isnan(mx_quantize(x, fmt, block_size=4).scales).all()
    # a tiny block: the code 0 in both, torchao's elements are half the spec's
    x = np.array([[2.0**-120, 2.0**-121, 0.0, -(2.0**-122)]], np.float32)
    codes, ao = _ao(x, fmt, "floor", bs=4)
    s, p = mx_quantize(x, fmt, block_size=4)
    assert codes.tolist() == [[0]] and s.tolist() == [[2.0**-127]]
    assert p.tolist() == [[128.0, 64.0, 0.0, -32.0]] and (ao * 2).tolist() == p.tolist()
    assert mx_dequantize(s, p, block_size=4).tolist() == x.tolist()  # the spec's elements are exact here
    # rceil: amax / 448 one ulp above 2**k: torch's float32 log2 rounds to k, the exact ceil is k + 1
    top = np.float32(448.0) * np.nextafter(np.float32(2.0**100), np.float32(np.inf))
    x = np.array([[top, 1.0, 2.0, 3.0]], np.float32)
    codes, _ = _ao(x, fmt, "rceil", bs=4)
    assert codes.tolist() == [[127 + 100]]
    assert encode(
        mx_quantize(x, fmt, block_size=4, scale_mode="rceil").scales, "float8_e8m0fnu"
    ).tolist() == [[127 + 101]]


def test_torch_log2_is_the_rounded_float64_log2() -> None:
    """The emulation of torch.log2 in rceil, on float32 quotients around every power of two."""
    k = np.arange(-126, 128)[:, None]
    j = np.arange(-200, 2000)[None, :]
    b = ((k + 127) << 23) + j
    d = b[(b > 0) & (b < 0x7F800000)].astype(np.uint32).view(np.float32)
    d = np.concatenate([d, np.arange(1, 1 << 23, 331, dtype=np.uint32).view(np.float32)])  # subnormals
    t = torch.ceil(torch.log2(torch.from_numpy(d))).numpy()
    emu = np.ceil(np.log2(d.astype(np.float64)).astype(np.float32))
    assert d.size > 500_000 and int(np.sum(t != emu)) == 0


def _ao_nvfp4(x: np.ndarray, g: float | None) -> tuple[np.ndarray, np.ndarray]:
    pts = None if g is None else torch.tensor(g, dtype=torch.float32)
    s, d = ao_nvfp4_quantize(torch.from_numpy(x), 16, pts)
    e = tk.f4_unpacked_to_f32(tk.unpack_uint4(d)).reshape(x.shape)
    return s.to(torch.float32).numpy().copy(), e.numpy().copy()


def _nvfp4_ties(rng: np.random.Generator) -> np.ndarray:
    """Blocks whose scaled values x * (1/g) / s fall on e2m1 midpoints, a few ulps either side."""
    e4m3 = decode(np.arange(0x08, 0x7F, dtype=np.uint8), "float8_e4m3fn").astype(np.float64)
    mid = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])
    g = float(np.float32(rng.uniform(1, 2) * 2.0**-5))
    s = rng.choice(e4m3, size=(64, 8, 1))
    j = rng.integers(-3, 4, size=(64, 8, 16))
    x = rng.choice(mid, size=(64, 8, 16)) * rng.choice([-1, 1], size=(64, 8, 16)) * s * g * (1 + j * 2.0**-23)
    x[..., 0] = 6 * s[..., 0] * g  # the block's amax: its scale is s (up to the recipe's roundings)
    x[0, 0, 0] = 6 * 448 * g  # the tensor's amax: its per-tensor scale is g
    # and block maxima whose (amax / 6) / g falls on e4m3 midpoints, a few ulps either side
    mids = (e4m3[:-1] + e4m3[1:]) / 2
    k = rng.integers(-3, 4, size=(32, 8))
    x[32:, :, 0] = 6 * g * rng.choice(mids, size=(32, 8)) * (1 + k * 2.0**-23)
    return x.astype(np.float32).reshape(64, 128)


def test_nvfp4_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    xs = [(rng.standard_normal((64, 128)) * 10.0**m).astype(np.float32) for m in (-20, -4, 0, 4, 20)]
    w = rng.standard_normal((64, 128)).astype(np.float32)
    w[:, :16] = 0.0
    w[::3, 16:32] *= np.float32(1e-6)  # block scales underflowing 2**-6: clamped
    w[1, 40] = np.inf
    w[2, 70] = -np.inf
    xs.append(w)
    per = rng.standard_normal((64, 128)) * np.exp2(
        rng.integers(-40, 40, (64, 8, 1)).repeat(16, -1).reshape(64, 128)
    )
    xs.append(per.astype(np.float32))
    xs.append(_nvfp4_ties(rng))
    compared = 0
    for x in xs:
        fin = x[np.isfinite(x)]
        amax = torch.max(torch.abs(torch.from_numpy(fin)))
        g_ao = float(per_tensor_amax_to_scale(amax))
        q = nvfp4_quantize(x)
        assert _bits(q.per_tensor_scale.reshape(1))[0] == _bits(np.array([g_ao], np.float32))[0]
        for g, ours in ((g_ao, q), (None, nvfp4_quantize(x, per_tensor_scale=1.0))):
            s, e = _ao_nvfp4(x, g)
            assert np.array_equal(_bits(ours.block_scales), _bits(s))
            assert np.array_equal(_bits(ours.elements), _bits(e))
            compared += s.size + e.size
            # dequantization: torchao's NVFP4Tensor.dequantize arithmetic
            hp = torch.from_numpy(s) * (1.0 if g is None else torch.tensor(g, dtype=torch.float32))
            ref = (torch.from_numpy(e).reshape(64, 8, 16) * hp.reshape(64, 8, 1)).reshape(64, 128).numpy()
            y = nvfp4_dequantize(ours.per_tensor_scale, ours.block_scales, ours.elements)
            assert np.array_equal(_bits(y), _bits(ref))
    assert compared > 100_000


def test_nvfp4_nan_block_scale() -> None:
    x = np.ones((2, 32), np.float32)
    x[0, 3] = np.nan
    s, _ = _ao_nvfp4(x, 1.0)
    q = nvfp4_quantize(x, per_tensor_scale=1.0)
    assert np.isnan(s[0, 0]) and np.isnan(q.block_scales[0, 0])
    assert np.array_equal(_bits(q.block_scales), _bits(s))
    assert nvfp4_per_tensor_scale(5.0) == per_tensor_amax_to_scale(torch.tensor(5.0)).item()
