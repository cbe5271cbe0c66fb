"""refquant.check.inputs: every claimed tie checked with exact rational arithmetic, the classes by hand."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import refquant
from refquant.check.inputs import (
    awkward_scales,
    cast_input_classes,
    cast_inputs,
    mask_inputs,
    nm_inputs,
    quant_params,
    quantize_input_classes,
    quantize_inputs,
)
from refquant.floats import FLOAT_FORMATS, cast, decode
from tests.hostile.exact import fl

F32 = np.float32
HALF = Fraction(1, 2)
# (scale, zero point, qmin, qmax, dtype): awkward scales, several binades, odd zero points, wide ranges
QUANTIZERS = [
    (0.1, 0, -128, 127, np.float32),
    (0.00214854861, 3, 0, 255, np.float32),
    (1 / 3, -5, -128, 127, np.float32),
    (7.0, 0, -8, 7, np.float32),
    (2.0**-20, 77, 0, 255, np.float32),
    (3.7e-5, 1000, -32768, 32767, np.float32),
    (0.0123, 0, -(2**31), 2**31 - 1, np.float32),
    (0.1, 0, -128, 127, np.float64),
    (1 / 3, 7, 0, 255, np.float64),
    (1e300, 0, -(2**31), 2**31 - 1, np.float64),  # ties beyond 2**53 * s do not exist; ends near max
    (1e-300, 5, -128, 127, np.float64),
    (1e-38, 0, -128, 127, np.float32),  # x in float32's subnormal range: coarse spacing, few exact ties
    (0.1, 0, -128, 127, np.float16),
    (0.037, 3, 0, 15, np.float16),
]


def _frac(v: float) -> Fraction:
    return Fraction(float(v))


def _recip(s: float, dt: type) -> Fraction:
    return _frac(fl(1 / _frac(s), dt))


def _is_tie(q: float) -> bool:
    return (_frac(q) - HALF).denominator == 1


def _ends_exact(xs: np.ndarray, value, dt: type) -> None:
    """Every x gives a tie; for each tie, the smallest and largest x are the ends of its interval."""
    by_tie: dict[float, list[float]] = {}
    for x in xs.tolist():
        v = value(x)
        assert _is_tie(v), (x, v)
        by_tie.setdefault(v, []).append(x)
    for v, group in by_tie.items():
        assert len(group) <= 2
        lo, hi = dt(min(group)), dt(max(group))
        assert value(float(np.nextafter(lo, dt(-np.inf)))) != v
        assert value(float(np.nextafter(hi, dt(np.inf)))) != v


@pytest.mark.parametrize("s,z,qmin,qmax,dtype", QUANTIZERS)
def test_claimed_ties_are_exact(s: float, z: int, qmin: int, qmax: int, dtype: type) -> None:
    c = quantize_input_classes(s, z, qmin, qmax, dtype=dtype)
    sd = float(dtype(s))
    r = _recip(sd, dtype)
    assert all(v.dtype == dtype for v in c.values())
    assert c["tie_divide"].size > 0 and c["tie_multiply"].size > 0
    _ends_exact(c["tie_divide"], lambda x: fl(_frac(x) / _frac(sd), dtype), dtype)
    _ends_exact(c["tie_multiply"], lambda x: fl(_frac(x) * r, dtype), dtype)
    if dtype == np.float32:
        assert c["tie_fused"].size > 0
        _ends_exact(c["tie_fused"], lambda x: fl(_frac(x) * r + z, dtype), dtype)
    else:
        assert c["tie_fused"].size == 0  # refquant fuses only in float32
    # the ties lie in the range and its margin, and most codes have one (a code has no exact tie
    # in an op order when x's spacing there is coarser than the rounding interval of k + 0.5)
    codes = {int(np.floor(fl(_frac(x) / _frac(sd), dtype))) for x in c["tie_divide"].tolist()}
    assert min(codes) >= qmin - z - 2 and max(codes) <= qmax - z + 1
    if qmax - qmin < 300:
        assert len(codes) >= 0.4 * (qmax - qmin + 4)


@pytest.mark.parametrize("s,z,qmin,qmax,dtype", QUANTIZERS)
def test_near_ties_are_not_ties_and_grid_is_the_dequantized_grid(
    s: float, z: int, qmin: int, qmax: int, dtype: type
) -> None:
    c = quantize_input_classes(s, z, qmin, qmax, dtype=dtype)
    sd = _frac(dtype(s))
    ties = {float(v) for k in ("tie_divide", "tie_multiply", "tie_fused") for v in c[k]}
    near = c["near_tie"]
    beside = np.isin(np.nextafter(near, dtype(np.inf)), list(ties))
    beside |= np.isin(np.nextafter(near, dtype(-np.inf)), list(ties))
    assert beside.all()  # each is one ulp from a tie (the ends' neighbours: _ends_exact above)
    for x in near.tolist()[::7]:  # not a tie of x / s, unless a tie of another op order
        assert not _is_tie(fl(_frac(x) / sd, dtype)) or x in ties
    for g in c["grid"].tolist()[::5]:
        k = round(_frac(g) / sd)
        assert g == fl(k * sd, dtype)


def test_the_two_op_orders_disagree_on_the_documented_tie() -> None:
    """quantize.py's docstring: 0.273939937 * fl(1/0.00214854861) is exactly 127.5, the quotient is not."""
    c = quantize_input_classes(0.00214854861, 0, -128, 127)
    x = F32(0.273939937)
    assert x in c["tie_multiply"] and x not in c["tie_divide"]
    s = _frac(F32(0.00214854861))
    assert fl(_frac(x) * _recip(float(s), np.float32), np.float32) == 127.5
    assert fl(_frac(x) / s, np.float32) != 127.5
    # over a range of awkward scales, many multiply-ties are not divide-ties
    for sc in awkward_scales(rng=np.random.default_rng(0), count=8):
        if np.frexp(sc)[0] == 0.5:
            continue  # a power of two: 1/s is exact, the op orders agree
        d = quantize_input_classes(float(sc), 0, -128, 127)
        assert np.setdiff1d(d["tie_multiply"], d["tie_divide"]).size > 0


def test_below_half_is_the_float_below_one_half() -> None:
    c = quantize_input_classes(1.0, 0, -128, 127)
    assert c["below_half"].tolist() == [-0.4999999701976776, 0.4999999701976776]
    y = c["below_half"][1]
    assert np.floor(y + F32(0.5)) == 1.0  # the double rounding: 0.99999997 + ... rounds up to 1
    c = quantize_input_classes(0.1, 0, -128, 127)
    sd = _frac(F32(0.1))
    vals = {fl(_frac(x) / sd, np.float32) for x in c["below_half"].tolist()}
    vals |= {fl(_frac(x) * _recip(float(sd), np.float32), np.float32) for x in c["below_half"].tolist()}
    assert {0.4999999701976776, -0.4999999701976776} <= vals


def test_edges_zeros_subnormals_huge_by_hand() -> None:
    c = quantize_input_classes(0.5, 3, 0, 255)
    assert c["zeros"].tolist() == [0.0, 0.0] and np.signbit(c["zeros"]).tolist() == [False, True]
    # clamp edges: x/s = quant_min - z = -3 and quant_max - z = 252, +-0.5, +-1, +-2, and one ulp around
    for e in (-3, 252):
        for d in (-2, -1, -0.5, 0, 0.5, 1, 2):
            assert F32((e + d) * 0.5) in c["clamp_edges"]
    assert np.nextafter(F32(126.0), F32(np.inf)) in c["clamp_edges"]
    tiny = np.finfo(F32).smallest_subnormal
    assert {tiny, -tiny, np.finfo(F32).tiny} <= set(c["subnormals"].tolist())
    assert np.finfo(F32).max in c["huge"] and F32(2.0**31 * 0.5) in c["huge"]
    assert c["nan"].size == 0 and c["inf"].size == 0
    c = quantize_input_classes(0.5, 3, 0, 255, nan=True, inf=True)
    assert np.isnan(c["nan"]).sum() == 2 and c["inf"].tolist() == [np.inf, -np.inf]


def test_large_ranges_use_a_bounded_set_of_codes() -> None:
    c = quantize_input_classes(1.0, 0, -(2**31), 2**31 - 1)
    assert c["tie_divide"].size < 4000
    k = np.floor(c["tie_divide"]).astype(np.int64)
    assert k.max() == 2**23 - 1 and k.min() == -(2**23)  # the last codes whose k + 0.5 is a float32
    assert {-1, 0, 1, 255} <= set(k.tolist())


def test_quantize_inputs_shape_count_determinism() -> None:
    a = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(3))
    b = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(3))
    assert a.dtype == F32 and a.ndim == 1 and a.tobytes() == b.tobytes()
    c = quantize_input_classes(0.1, 0, -128, 127)
    natural = sum(v.size for v in c.values()) + 259  # plus one random value per code k in [-130, 128]
    assert a.size == natural
    assert np.isfinite(a).all()
    head = np.concatenate([c[k] for k in ("zeros", "subnormals", "huge", "clamp_edges", "below_half")])
    assert a[: head.size].tobytes() == head.tobytes()
    x = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(0), count=300)
    assert x.shape == (300,) and set(x[: head.size].tolist()) == set(head.tolist())
    bulk = np.concatenate([c[k] for k in ("tie_divide", "tie_multiply", "tie_fused", "near_tie", "grid")])
    assert np.isin(x[head.size :], bulk).all()  # a subset of the ties, no random fill
    x = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(0), count=5000)
    rand = x[head.size + bulk.size :]
    assert rand.size == 5000 - head.size - bulk.size
    assert rand.min() >= F32(-130 * 0.1) and rand.max() <= F32(129 * 0.1)
    x = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(0), nan=True, inf=True, count=100)
    assert np.isnan(x).sum() == 2 and np.isinf(x).sum() == 2


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_quantize_inputs_per_channel_columns_hold_their_own_ties(axis: int) -> None:
    scales = np.array([0.1, 0.00214854861, 7.0], F32)
    zps = np.array([0, 200, 17])
    x = quantize_inputs(scales, zps, 0, 255, rng=np.random.default_rng(1), axis=axis)
    cols = np.moveaxis(x, axis, 0)
    assert cols.shape[0] == 3 and x.ndim == 2
    for c in range(3):
        own = quantize_input_classes(scales[c], zps[c], 0, 255)
        assert np.isin(own["tie_divide"], cols[c]).all()
        sd = _frac(scales[c])
        ties = [v for v in cols[c].tolist() if abs(v) < 1e4 and _is_tie(fl(_frac(v) / sd, np.float32))]
        assert len(ties) >= own["tie_divide"].size
    x = quantize_inputs(scales, 5, 0, 255, rng=np.random.default_rng(1), axis=axis, count=400)
    assert x.shape == ((3, 400) if axis in (0, -2) else (400, 3))


def test_tie_dense_inputs_catch_what_random_normals_miss() -> None:
    """The issue's trap: half away from zero and floor(y + 0.5) agree on normals, not on these inputs."""
    s = F32(0.1)
    normals = np.random.default_rng(0).standard_normal(100_000).astype(F32)
    x = quantize_inputs(s, 0, -128, 127, rng=np.random.default_rng(0))

    def half_away(v: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            y = v * (F32(1) / s)
        return np.clip(np.trunc(y + np.copysign(F32(0.5), y)), -128, 127)

    def floor_half(v: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            y = v / s
        return np.clip(np.floor(y + F32(0.5)), -128, 127)

    ref = refquant.quantize(normals, s, 0, -128, 127)
    assert np.array_equal(half_away(normals), ref)
    assert not np.array_equal(half_away(x), refquant.quantize(x, s, 0, -128, 127))
    up = refquant.quantize(x, s, 0, -128, 127, rounding="half_up")
    bad = floor_half(x) != up
    assert bad.any() and np.isin(x[bad], quantize_input_classes(s, 0, -128, 127)["below_half"]).all()


def test_quantize_inputs_validation_and_inputs_untouched() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="scale"):
        quantize_inputs(0.0, 0, -128, 127, rng=rng)
    with pytest.raises(ValueError, match="zero_point"):
        quantize_inputs(0.1, 300, -128, 127, rng=rng)
    with pytest.raises(ValueError, match="quant_min"):
        quantize_inputs(0.1, 0, 127, -128, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        quantize_inputs(0.1, 0, -128, 127, rng=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        quantize_inputs(0.1, 0, -128, 127, rng=rng, count=10)
    with pytest.raises(ValueError, match="axis"):
        quantize_inputs([0.1, 0.2], 0, -128, 127, rng=rng, axis=2)
    with pytest.raises(ValueError, match="scale"):
        quantize_inputs([0.1, 0.2], 0, -128, 127, rng=rng)
    with pytest.raises(ValueError, match="scale"):
        quantize_inputs(1e-40, 0, -128, 127, rng=rng, dtype=np.float16)  # rounds to 0 in float16
    with pytest.raises(TypeError, match="dtype"):
        quantize_inputs(0.1, 0, -128, 127, rng=rng, dtype=np.int32)
    s, z = np.array([0.1, 0.2], F32), np.array([1, 2])
    s0, z0 = s.copy(), z.copy()
    quantize_inputs(s, z, -128, 127, rng=rng, axis=0)
    assert s.tobytes() == s0.tobytes() and z.tobytes() == z0.tobytes()


# --------------------------------------------------------------------------- casts


@pytest.mark.parametrize("fmt", sorted(FLOAT_FORMATS))
def test_cast_midpoints_and_neighbours(fmt: str) -> None:
    c = cast_input_classes(fmt)
    grid = np.unique(decode(np.arange(2 ** FLOAT_FORMATS[fmt].bits), fmt, dtype=np.float64))
    grid = grid[np.isfinite(grid)]
    mids = c["midpoints"].astype(np.float64)
    i = np.searchsorted(grid, mids)
    assert np.all(mids - grid[i - 1] == grid[i] - mids) and np.all(grid[i - 1] < mids)
    assert mids.size == grid.size - 1  # every midpoint is exact in float32
    # one float32 ulp beside a midpoint: the cast goes to that side's neighbour (not the even one)
    up = np.nextafter(c["midpoints"], F32(np.inf))
    down = np.nextafter(c["midpoints"], F32(-np.inf))
    assert np.isin(up, c["near_midpoint"]).all() and np.isin(down, c["near_midpoint"]).all()
    np.testing.assert_array_equal(cast(up, fmt), grid[i].astype(F32))
    np.testing.assert_array_equal(cast(down, fmt), grid[i - 1].astype(F32))


def test_cast_classes_by_hand() -> None:
    c = cast_input_classes("float8_e4m3fn")
    assert {448.0, 464.0, -464.0, 896.0} <= set(c["overflow"].tolist())
    assert np.nextafter(F32(464), F32(0)) in c["overflow"]
    assert {2.0**-6, 2.0**-9, 2.0**-10, 7 * 2.0**-9} <= set(c["subnormal_boundary"].tolist())
    assert 1.0625 in c["midpoints"] and c["double_rounding"].size == 0
    e5m2 = cast_input_classes("float8_e5m2")
    assert 61440.0 in e5m2["overflow"]  # 57344 + 8192 / 2
    e8m0 = cast_input_classes("float8_e8m0fnu")
    assert 1.5 in e8m0["midpoints"] and 1.5 * 2.0**127 in e8m0["overflow"]
    assert (e8m0["grid"] > 0).all()


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "bfloat16", "float16"])
def test_double_rounding_values_differ_through_float32(fmt: str) -> None:
    c = cast_input_classes(fmt, dtype=np.float64)
    v = c["double_rounding"]
    assert v.dtype == np.float64 and v.size == 4 * c["midpoints"].size
    direct, twice = cast(v, fmt), cast(v.astype(F32), fmt).astype(np.float64)
    differ = direct != twice
    assert differ.mean() >= 0.25  # of m + h/2, m - h/2 (and m +- h) one side rounds away from even
    mid = np.isin(v.astype(F32), c["midpoints"].astype(F32))
    assert mid[differ].all()  # they differ where float32 rounded onto the midpoint


def test_cast_inputs_count_and_specials() -> None:
    x = cast_inputs("float8_e4m3fn", rng=np.random.default_rng(0))
    c = cast_input_classes("float8_e4m3fn")
    assert x.size == sum(v.size for v in c.values()) + c["midpoints"].size and np.isfinite(x).all()
    y = cast_inputs("float8_e4m3fn", rng=np.random.default_rng(0), count=64, nan=True, inf=True)
    assert y.size == 64 and np.isnan(y).sum() == 2 and np.isinf(y).sum() == 2
    assert (
        cast_inputs("bfloat16", rng=np.random.default_rng(0), count=1000, dtype=np.float64).dtype
        == np.float64
    )
    with pytest.raises(ValueError, match="fmt"):
        cast_inputs("float7", rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- pruning


def test_mask_inputs_ties_at_every_threshold() -> None:
    w = mask_inputs((40, 25), rng=np.random.default_rng(0))
    mags = np.abs(w).ravel()
    assert set(mags.tolist()) <= {j / 8 for j in range(5)}
    assert np.signbit(w[w == 0]).any() and (~np.signbit(w[w == 0])).any()  # +0 and -0
    srt = np.sort(mags)
    for k in (100, 250, 500, 750, 900):  # the k-th smallest is shared: a tie at the threshold
        assert srt[k - 1] == srt[k]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_structured_mask_inputs_tie_norms(axis: int) -> None:
    w = mask_inputs((12, 9, 5), rng=np.random.default_rng(2), axis=axis, levels=3)
    slices = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    multisets = {tuple(np.sort(np.abs(r)).tolist()) for r in slices}
    assert len(multisets) <= 3 < slices.shape[0]
    for p in (1, 2):
        norms = np.linalg.norm(slices.astype(np.float64), ord=p, axis=1)
        assert np.unique(norms).size <= len(multisets)  # slices sharing a template tie exactly


@pytest.mark.parametrize("n,m,shape,axis", [(2, 4, (3, 10), -1), (1, 4, (9, 5), 0), (3, 8, (2, 16, 3), 1)])
def test_nm_inputs_tie_across_each_keep_boundary(n: int, m: int, shape: tuple[int, ...], axis: int) -> None:
    w = nm_inputs(shape, n, m, rng=np.random.default_rng(0), axis=axis)
    assert w.shape == shape and w.dtype == F32
    rows = np.moveaxis(np.abs(w), axis, -1).reshape(-1, shape[axis])
    for row in rows:
        for start in range(0, row.size, m):
            g = np.sort(row[start : start + m])[::-1]
            keep = min(n, g.size)
            if 0 < keep < g.size:
                assert g[keep - 1] == g[keep], g
    assert nm_inputs((4, 4), 0, 4, rng=np.random.default_rng(0)).shape == (4, 4)


def test_mask_inputs_validation() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n"):
        nm_inputs((4, 8), 5, 4, rng=rng)
    with pytest.raises(ValueError, match="m"):
        nm_inputs((4, 8), 0, 0, rng=rng)
    with pytest.raises(ValueError, match="shape"):
        mask_inputs((-1, 3), rng=rng)
    with pytest.raises(ValueError, match="shape"):
        mask_inputs((2**20, 2**20), rng=rng)
    with pytest.raises(ValueError, match="levels"):
        mask_inputs((3,), rng=rng, levels=0)
    with pytest.raises(ValueError, match="axis"):
        mask_inputs((3, 4), rng=rng, axis=2)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("fmt", ["int8", "uint8", "int4", "uint4", "int2", "int16", "int32", "uint32"])
def test_quant_params_are_valid(fmt: str) -> None:
    f = refquant.formats.int_format(fmt)
    for narrow in (False, True):
        ps = quant_params(fmt, rng=np.random.default_rng(0), count=20, narrow_range=narrow)
        assert len(ps) == 20
        for p in ps:
            assert (p.quant_min, p.quant_max) == (f.qmin + int(narrow), f.qmax)
            assert p.quant_min <= int(p.zero_point) <= p.quant_max and p.scale.dtype == F32
            assert np.isfinite(F32(1) / p.scale) and p.scale > 0
        assert {int(p.zero_point) for p in ps} >= {ps[0].quant_min, ps[0].quant_max}
    pc = quant_params(fmt, rng=np.random.default_rng(0), count=3, channels=5)
    assert all(p.scale.shape == (5,) and p.zero_point.shape == (5,) for p in pc)


def test_awkward_scales_have_inexact_reciprocals() -> None:
    s = awkward_scales(rng=np.random.default_rng(0), count=50)
    assert s.shape == (58,) and s.dtype == F32
    inexact = [v for v in s.tolist() if _frac(fl(1 / _frac(v), np.float32)) * _frac(v) != 1]
    assert len(inexact) >= 50
    binades = np.unique(np.floor(np.log2(s)))
    assert binades.size >= 15
    old = 10.0 ** np.random.default_rng(0).uniform(-6, 2, 50)  # the conformance tests' former formula
    np.testing.assert_array_equal(s[8:], old.astype(F32))
