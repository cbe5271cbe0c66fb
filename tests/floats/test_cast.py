"""refquant.floats.spec and .cast against the definitions (no framework here; ml_dtypes in tests/conformance).

Expected values come from the format definitions: the spec's constants
(OCP OFP8 and MX v1.0 tables), exact rational arithmetic (``Fraction``) over
the grid that :class:`FloatFormat` defines, and the rules of cast's tables.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from refquant.floats import FLOAT_FORMATS, FloatFormat, _kernels, cast, decode, encode, float_format
from refquant.rounding import ROUNDING_MODES

NAMES = list(FLOAT_FORMATS)
SIGNED = [n for n in NAMES if FLOAT_FORMATS[n].signed]


def grid(f: FloatFormat) -> np.ndarray:
    """Every finite value of the format, sorted, unique (-0 and +0 once), from the fields alone."""
    mags = np.unique([f.value_of_magnitude_code(c) for c in range(f.max_code + 1)])  # exact in float64
    return np.unique(np.concatenate([-mags, mags])) if f.signed else mags


# ---------------------------------------------------------------- the spec table


SPEC = {  # name: (max, min normal, min subnormal), from the OCP OFP8 / MX v1.0 tables and IEEE 754
    "bfloat16": ((2 - 2**-7) * 2.0**127, 2.0**-126, 2.0**-133),
    "float16": (65504.0, 2.0**-14, 2.0**-24),
    "float8_e4m3fn": (448.0, 2.0**-6, 2.0**-9),
    "float8_e4m3fnuz": (240.0, 2.0**-7, 2.0**-10),
    "float8_e4m3": (240.0, 2.0**-6, 2.0**-9),
    "float8_e5m2": (57344.0, 2.0**-14, 2.0**-16),
    "float8_e5m2fnuz": (57344.0, 2.0**-15, 2.0**-17),
    "float8_e4m3b11fnuz": (30.0, 2.0**-10, 2.0**-13),
    "float8_e3m4": (15.5, 0.25, 2.0**-6),
    "float6_e2m3fn": (7.5, 1.0, 0.125),
    "float6_e3m2fn": (28.0, 0.25, 0.0625),
    "float4_e2m1fn": (6.0, 1.0, 0.5),
    "float8_e8m0fnu": (2.0**127, 2.0**-127, 2.0**-127),
}


@pytest.mark.parametrize("name", NAMES)
def test_spec_ranges(name: str) -> None:
    f = FLOAT_FORMATS[name]
    assert (f.max_finite, f.min_normal, f.min_subnormal) == SPEC[name]
    assert f.bits == (16 if name in ("bfloat16", "float16") else int(name[5]))


def test_spec_special_values() -> None:
    f = FLOAT_FORMATS
    assert f["float8_e4m3fn"].nan_codes == (0x7F, 0xFF) and f["float8_e4m3fn"].inf_codes == ()
    assert f["float8_e5m2"].inf_codes == (0x7C, 0xFC) and len(f["float8_e5m2"].nan_codes) == 6
    assert f["float8_e4m3fnuz"].nan_codes == (0x80,) and not f["float8_e4m3fnuz"].has_negative_zero
    assert f["float4_e2m1fn"].nan_codes == () and f["float4_e2m1fn"].has_negative_zero
    assert f["float8_e8m0fnu"].nan_codes == (0xFF,) and not f["float8_e8m0fnu"].has_zero
    assert f["bfloat16"].storage == np.uint16 and f["float6_e2m3fn"].storage == np.uint8


def test_float_format_lookup_errors() -> None:
    with pytest.raises(ValueError, match=r"'float8' .*fmt"):
        float_format("float8")
    with pytest.raises(TypeError, match="fmt must be"):
        float_format(8)
    with pytest.raises(ValueError, match="special"):
        FloatFormat("x", 4, 3, 7, "bogus")  # type: ignore[arg-type]


# ---------------------------------------------------------------- codes


@pytest.mark.parametrize("name", NAMES)
def test_every_code_round_trips(name: str) -> None:
    f = FLOAT_FORMATS[name]
    codes = np.arange(2**f.bits)
    values = decode(codes, f)
    finite = np.isfinite(values)
    assert np.array_equal(encode(values[finite], f), codes[finite])
    assert np.array_equal(
        decode(encode(values[finite], f), f).view(np.uint32), values[finite].view(np.uint32)
    )
    assert np.array_equal(np.unique(values[finite]), np.unique(grid(f)))
    assert int(np.isnan(values).sum()) == len(f.nan_codes)
    assert int(np.isinf(values).sum()) == len(f.inf_codes)
    assert np.array_equal(decode(codes, f, dtype=np.float64)[finite], values[finite].astype(np.float64))


def test_decode_rejects_codes_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"codes must be in \[0, 16\).*16"):
        decode([3, 16], "float4_e2m1fn")
    with pytest.raises(TypeError, match="dtype"):
        decode([1], "float4_e2m1fn", dtype=np.float16)


# ---------------------------------------------------------------- exact reference


def nearest_by_mode(x: np.ndarray, f: FloatFormat, mode: str) -> np.ndarray:
    """The grid value the mode picks for each x within [-max, max], from the sorted grid.

    Exact in float64: the grid values and the points are float64 values, the
    comparisons are exact, and ``x - lo`` and ``hi - x`` are exact by Sterbenz's
    lemma (``lo >= hi / 2`` for neighbours, or ``lo = 0``); ``test_exact_reference``
    checks this against Fractions.
    """
    g = grid(f)
    i = np.searchsorted(g, x, side="right") - 1  # g[i] <= x < g[i + 1]
    i = np.clip(i, 0, len(g) - 2)
    lo, hi = g[i], g[i + 1]
    on_lo = x == lo
    dlo, dhi = x - lo, hi - x
    lsb_lo_even = (encode(lo, f).astype(np.int64) & 1) == 0
    if mode == "floor":
        pick_hi = np.zeros(x.shape, bool)
    elif mode == "ceil":
        pick_hi = ~on_lo
    elif mode == "trunc":
        pick_hi = ~on_lo & (x < 0)
    else:
        tie = dlo == dhi
        tie_hi = {"half_up": True, "half_down": False, "half_away": x > 0, "half_even": ~lsb_lo_even}[mode]
        pick_hi = (dhi < dlo) | (tie & tie_hi)
    return np.where(pick_hi | (x == hi), hi, lo)


def exact_round(v: Fraction, f: FloatFormat, mode: str) -> float:
    """The same in Fractions, element by element (slow; for a sample)."""
    g = [Fraction(x) for x in grid(f)]
    lo, hi = max(x for x in g if x <= v), min(x for x in g if x >= v)
    if lo == hi:
        return float(lo)
    if mode in ("floor", "ceil", "trunc"):
        return float(lo if mode == "floor" or (mode == "trunc" and v > 0) else hi)
    if v - lo != hi - v:
        return float(lo if v - lo < hi - v else hi)
    if mode == "half_up" or (mode == "half_away" and v > 0):
        return float(hi)
    if mode == "half_down":
        return float(lo)
    if mode == "half_away":
        return float(lo)
    return float(lo if int(encode(np.array([float(lo)]), f)[0]) & 1 == 0 else hi)


def points(f: FloatFormat, dtype: type) -> np.ndarray:
    """Grid values, midpoints and one ulp either side of each, within the finite range."""
    g = grid(f)
    mids = (g[:-1] + g[1:]) / 2  # exact in float64
    base = np.concatenate([g, mids]).astype(dtype)
    return np.concatenate([base, np.nextafter(base, dtype(np.inf)), np.nextafter(base, dtype(-np.inf))])


MODES = [m for m in ROUNDING_MODES if m != "stochastic"]
SMALL = [n for n in NAMES if FLOAT_FORMATS[n].bits <= 8 and n != "float8_e8m0fnu"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", SMALL)
def test_every_midpoint_against_exact_rounding(name: str, mode: str) -> None:
    f = FLOAT_FORMATS[name]
    x = points(f, np.float64)
    x = x[np.abs(x) <= f.max_finite]
    expected = nearest_by_mode(x, f, mode)
    ours = cast(x, f, rounding=mode)
    assert np.array_equal(ours, expected), name
    zero = expected == 0
    if f.has_negative_zero:  # a zero keeps x's sign
        assert np.array_equal(np.signbit(ours[zero]), np.signbit(x[zero]))
    else:
        assert not np.signbit(ours[zero]).any()
    assert np.array_equal(
        cast(x.astype(np.float32), f, rounding=mode), nearest_by_mode(x.astype(np.float32), f, mode)
    )


@pytest.mark.parametrize("name", SMALL)
def test_exact_reference(name: str) -> None:
    """The vectorized reference equals Fraction arithmetic on a sample of points (every mode)."""
    f = FLOAT_FORMATS[name]
    x = points(f, np.float64)
    x = np.random.default_rng(0).choice(x[np.abs(x) <= f.max_finite], 60, replace=False)
    for mode in MODES:
        assert nearest_by_mode(x, f, mode).tolist() == [exact_round(Fraction(float(v)), f, mode) for v in x]


@pytest.mark.parametrize("name", [n for n in NAMES if n != "float8_e8m0fnu"])
def test_fast_path_equals_the_definition(name: str) -> None:
    """half_even: the bit-pattern kernel and y = q * R(x / q) agree on every midpoint ± 1 ulp, both dtypes."""
    f = FLOAT_FORMATS[name]
    for dtype in (np.float32, np.float64):
        x = points(f, dtype)
        x = np.concatenate(
            [x, -x, np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-40, np.finfo(dtype).max], dtype)]
        )
        fast, slow = np.empty_like(x), np.empty_like(x)
        _kernels.round_to_format(x, fast, f, False, "half_even", None)
        _kernels._general(x, slow, f, False, "half_even", None)
        u = "u4" if dtype == np.float32 else "u8"
        assert np.array_equal(fast.view(u), slow.view(u)), name


def test_single_rounding_from_float64() -> None:
    """Just above a midpoint by less than float32 can hold: rounds up; through float32 it would be a tie."""
    x = np.array([1 + 2**-4 + 2**-40, 1 + 2**-8 + 2**-30, 1 + 2**-11 + 2**-35])
    assert cast(x[:1], "float8_e4m3fn")[0] == 1.125
    assert cast(x[:1].astype(np.float32), "float8_e4m3fn")[0] == 1.0  # the tie, to even
    assert cast(x[1:2], "bfloat16")[0] == 1 + 2**-7
    assert cast(x[2:], "float16")[0] == 1 + 2**-10
    assert cast(x, "float16").dtype == np.float64


# ---------------------------------------------------------------- out of range, inf, NaN


def test_overflow_rules_without_saturation() -> None:
    big = np.array([1e30, -1e30, np.inf, -np.inf], np.float32)
    assert np.array_equal(cast(big, "float8_e5m2"), [np.inf, -np.inf, np.inf, -np.inf])
    assert np.isnan(cast(big, "float8_e4m3fn")).all()
    assert np.array_equal(np.signbit(cast(big, "float8_e4m3fn")), [False, True, False, True])
    assert np.isnan(cast(big, "float8_e4m3fnuz")).all()
    assert np.array_equal(cast(big, "float4_e2m1fn"), [6, -6, 6, -6])
    # the midpoint above the largest value rounds to even: 464 -> 448 (mantissa 110), 61440 -> inf (111)
    assert cast([464.0], "float8_e4m3fn")[0] == 448 and np.isnan(cast([464.0001], "float8_e4m3fn")[0])
    assert cast([61440.0], "float8_e5m2")[0] == np.inf and cast([61439.0], "float8_e5m2")[0] == 57344


@pytest.mark.parametrize("name", [n for n in SIGNED])
def test_saturation_is_the_onnx_rule(name: str) -> None:
    f = FLOAT_FORMATS[name]
    x = np.array([np.inf, -np.inf, 1e300, -1e300, f.max_finite * 1.5, np.nan])
    y = cast(x, f, saturate=True)
    m = f.max_finite
    assert np.array_equal(y[:5], [m, -m, m, -m, m])
    assert np.isnan(y[5]) if f.has_nan else y[5] == 0


def test_nan_rules() -> None:
    nan = np.array([np.nan, -np.nan], np.float32)
    assert np.array_equal(np.signbit(cast(nan, "float8_e4m3fn")), [False, True])
    assert np.array_equal(np.signbit(cast(nan, "bfloat16")), [False, True])
    assert np.signbit(cast(nan, "float8_e4m3fnuz")).all()  # its one NaN decodes as -NaN
    y = cast(nan, "float4_e2m1fn")  # no NaN: a zero of the opposite sign
    assert np.array_equal(y, [0, 0]) and np.array_equal(np.signbit(y), [True, False])


def test_fnuz_has_no_negative_zero() -> None:
    y = cast(np.array([-0.0, -1e-9, -0.0001], np.float32), "float8_e4m3fnuz")
    assert np.array_equal(y, [0, 0, 0]) and not np.signbit(y).any()
    assert np.signbit(cast([-0.0, -1e-9], "float8_e4m3fn")).all()


def test_e8m0_rules() -> None:
    f = "float8_e8m0fnu"
    x = np.array([1.0, 1.4999, 1.5, 3.0, 6.0, 2.0**-140, 2.0**127, 1.5 * 2.0**127])
    assert np.array_equal(cast(x, f), [1, 1, 2, 4, 8, 2.0**-127, 2.0**127, np.nan], equal_nan=True)
    assert np.array_equal(cast(x, f, rounding="floor"), [1, 1, 1, 2, 4, 2.0**-127, 2.0**127, 2.0**127])
    assert np.array_equal(cast([1.0, 1.01, 3.0], f, rounding="ceil"), [1, 2, 4])
    assert np.isnan(cast([0.0, -0.0, -1.0, np.inf, np.nan], f)).all()
    sat = cast([0.0, -0.0, -1.0, np.inf, 1e39, np.nan], f, saturate=True)
    assert np.array_equal(sat, [2.0**-127] * 3 + [2.0**127] * 2 + [np.nan], equal_nan=True)


# ---------------------------------------------------------------- stochastic rounding


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float4_e2m1fn", "bfloat16", "float8_e8m0fnu"])
def test_stochastic_rounding_is_unbiased(name: str) -> None:
    f = FLOAT_FORMATS[name]
    g = grid(f)
    g = g[g > 0]
    lo, hi = g[len(g) // 3], g[len(g) // 3 + 1]
    n = 200_000
    for t in (0.1, 0.5, 0.77):
        x = np.full(n, lo + t * (hi - lo))
        y = cast(x, f, rounding="stochastic", rng=np.random.default_rng(7))
        assert set(np.unique(y)) <= {lo, hi}
        p = (y == hi).mean()
        assert abs(p - t) < 5 * math.sqrt(t * (1 - t) / n), (name, t, p)


def test_stochastic_rounding_is_reproducible_and_chunk_independent() -> None:
    x = np.random.default_rng(0).standard_normal(3 * _kernels.CHUNK + 5).astype(np.float32)
    a = cast(x, "float8_e5m2", rounding="stochastic", rng=np.random.default_rng(3))
    b = cast(x, "float8_e5m2", rounding="stochastic", rng=np.random.default_rng(3))
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    u = np.random.default_rng(3).random(x.size)  # the documented draws, in one call
    q = np.ldexp(1.0, np.maximum(np.frexp(x.astype(np.float64))[1] - 1, -14) - 2)
    k = x / q
    expected = (np.floor(k) + (u < k - np.floor(k))) * q
    assert np.array_equal(a, expected.astype(np.float32))


def test_stochastic_needs_rng() -> None:
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        cast([1.0], "float8_e4m3fn", rounding="stochastic")
    with pytest.raises(TypeError, match="rng must be None or"):
        cast([1.0], "float8_e4m3fn", rng=3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- dtypes, shapes, inputs


def test_dtypes_shapes_and_inputs_untouched() -> None:
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2, ::-1] / 7
    before = x.copy()
    y = cast(x, "float8_e4m3fn")
    assert y.shape == x.shape and y.dtype == np.float32 and np.array_equal(x, before)
    assert np.array_equal(y, cast(np.ascontiguousarray(x), "float8_e4m3fn"))
    assert cast(np.float16([1.3]), "bfloat16").dtype == np.float32
    assert cast([1, 2], "bfloat16").dtype == np.float64
    assert cast(np.float32(1.3), "float8_e4m3fn").shape == ()
    assert cast(np.zeros((0, 3), np.float32), "float8_e4m3fn").shape == (0, 3)
    with pytest.raises(ValueError, match="rounding must be one of"):
        cast([1.0], "float8_e4m3fn", rounding="nearest")
    with pytest.raises(TypeError, match="saturate"):
        cast([1.0], "float8_e4m3fn", saturate="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x must be"):
        cast(np.array([1 + 1j]), "float8_e4m3fn")


def test_chunk_boundaries() -> None:
    """A length that is not a multiple of the chunk, with specials near the boundaries."""
    n = 2 * _kernels.CHUNK + 3
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32) * 100
    x[[0, _kernels.CHUNK - 1, _kernels.CHUNK, n - 1]] = [np.nan, 1e-6, 1e6, -np.inf]
    y = cast(x, "float8_e4m3fn")
    parts = np.concatenate([cast(x[i : i + 1000], "float8_e4m3fn") for i in range(0, n, 1000)])
    assert np.array_equal(y.view(np.uint32), parts.view(np.uint32))


def test_veltkamp_splitting_rounds_half_to_even_exhaustively() -> None:
    """The float32 fast path: t = c*x; t - (t - x) is x rounded half to even, for every float32 in [1, 4).

    Compared with integer rounding of the bit pattern (add half an ulp minus one plus
    the kept lowest bit, clear the dropped bits), for every shift a format uses; the
    computation commutes with scaling by powers of two, so these two binades stand for all.
    """
    lo, hi = np.array([1.0, 4.0], np.float32).view(np.uint32)
    bits = np.arange(lo, hi, dtype=np.uint32)
    x = bits.view(np.float32)
    shifts = sorted({23 - f.mantissa_bits for f in FLOAT_FORMATS.values() if f.special != "e8m0"})
    assert shifts == [13, 16, 19, 20, 21, 22]
    for shift in shifts:
        t = x * np.float32(2**shift + 1)
        split = t - (t - x)
        half = np.uint32((1 << (shift - 1)) - 1)
        by_bits = (bits + half + ((bits >> np.uint32(shift)) & np.uint32(1))) & ~np.uint32((1 << shift) - 1)
        assert np.array_equal(split.view(np.uint32), by_bits), shift
