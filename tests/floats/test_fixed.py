"""refquant.floats.fixed: Qm.n codes and values against an exact Fraction reference and NumPy's int casts."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.floats.fixed import FixedFormat, fixed_decode, fixed_encode, fixed_quantize
from refquant.rounding import ROUNDING_MODES

# (integer_bits, fraction_bits, signed): int8/16/32/64 fractions, 16.16, 64-bit, sub-byte, 1-bit,
# negative integer bits (all values tiny), negative fraction bits (steps of 2**990)
FORMATS = [
    (0, 7, True),
    (0, 15, True),
    (0, 31, True),
    (15, 16, True),
    (31, 32, True),
    (0, 63, True),
    (63, 0, True),
    (2, 1, True),
    (0, 0, True),
    (0, 1, False),
    (1, 0, False),
    (4, 4, False),
    (32, 32, False),
    (0, 64, False),
    (-990, 1000, True),
    (1000, -990, True),
    (3, -2, False),
]


def ref_round(v: Fraction, mode: str, u: float) -> int:
    if mode == "half_even":
        return round(v)  # Python rounds Fractions half to even
    if mode == "half_away":
        return math.floor(abs(v) + Fraction(1, 2)) * (1 if v >= 0 else -1)
    if mode == "half_up":
        return math.floor(v + Fraction(1, 2))
    if mode == "half_down":
        return math.ceil(v - Fraction(1, 2))
    if mode == "floor":
        return math.floor(v)
    if mode == "ceil":
        return math.ceil(v)
    if mode == "trunc":
        return int(v)
    fl = math.floor(v)
    return fl + int(Fraction(u) < v - fl)


def ref_code(x: float, f: FixedFormat, mode: str, overflow: str, u: float) -> int:
    if math.isinf(x):
        return f.qmax if x > 0 else f.qmin
    r = ref_round(Fraction(x) * Fraction(2) ** f.fraction_bits, mode, u)
    if overflow == "saturate":
        return min(max(r, f.qmin), f.qmax)
    return (r - f.qmin) % 2**f.total_bits + f.qmin


def _float(v: Fraction) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def probe_values(f: FixedFormat, rng: np.random.Generator) -> np.ndarray:
    """Ties k + 1/2, one ulp either side, grid points, random values, the range edges and beyond."""
    step = Fraction(2) ** -f.fraction_bits
    ks = [f.qmin - 1, f.qmin, f.qmin + 1, -3, -1, 0, 1, 2, 3, f.qmax - 1, f.qmax, f.qmax + 1, 3 * f.qmax]
    ks += [f.qmin + int(Fraction(float(u)) * (f.qmax - f.qmin)) for u in rng.random(8)]
    exact = [_float(k * step) for k in ks] + [_float((k + Fraction(1, 2)) * step) for k in ks]
    near = [np.nextafter(v, d) for v in exact for d in (-np.inf, np.inf)]
    scale = float(2 * max(abs(f.min), f.max))
    rand = list(rng.uniform(-1, 1, 40) * scale) + list(rng.standard_normal(20) * float(step) * 5)
    extreme = [0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e300, -1e300, 1.7e308, -1.7e308]
    return np.array(exact + near + rand + extreme, np.float64)


@pytest.mark.parametrize(("m", "n", "signed"), FORMATS)
@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_codes_equal_the_exact_fraction_reference(m: int, n: int, signed: bool, overflow: str) -> None:
    f = FixedFormat(m, n, signed)
    x = probe_values(f, np.random.default_rng(abs(m) * 131 + abs(n)))
    for mode in ROUNDING_MODES:
        u = np.random.default_rng(7).random(x.shape)  # the draws fixed_encode makes with the same seed
        got = fixed_encode(
            x, m, n, signed=signed, rounding=mode, overflow=overflow, rng=np.random.default_rng(7)
        )
        want = [ref_code(float(v), f, mode, overflow, float(ui)) for v, ui in zip(x, u, strict=True)]
        assert got.dtype == f.code_dtype and got.shape == x.shape
        bad = [(float(v), int(g), w) for v, g, w in zip(x, got, want, strict=True) if int(g) != w]
        assert not bad, f"{f.name} {mode} {overflow}: {bad[:5]}"


def test_float32_inputs_are_exact_too() -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(3000) * 3).astype(np.float32)
    x[:1000] = (np.round(x[:1000] * 2**10) + 0.5).astype(np.float32) / np.float32(2**10)  # ties of Q4.10
    f = FixedFormat(4, 10)
    for mode in ("half_even", "half_away", "half_up", "floor", "ceil", "trunc"):
        got = fixed_quantize(x, 4, 10, rounding=mode)
        want = [float(ref_code(float(v), f, mode, "saturate", 0.0) * Fraction(1, 2**10)) for v in x]
        assert got.dtype == np.float32 and got.tolist() == want


@pytest.mark.parametrize(("bits", "dtype"), [(8, np.int8), (16, np.int16), (32, np.int32), (64, np.int64)])
def test_wrap_is_numpys_twos_complement_cast(bits: int, dtype: type) -> None:
    rng = np.random.default_rng(bits)
    k = rng.integers(-(2**62), 2**62, 5000, dtype=np.int64)
    k[:10] = [0, -1, 1, 127, 128, -129, 255, 2**31, -(2**31) - 1, 2**62]
    n = 5  # values k * 2**-5 (exact in float64 for |k| < 2**53): the code is k modulo 2**bits
    x = np.ldexp((k >> 11).astype(np.float64), -n)  # 51-bit integers, exact
    got = fixed_encode(x, bits - 1 - n, n, overflow="wrap")
    assert got.dtype == dtype and np.array_equal(got, (k >> 11).astype(dtype))
    ux = np.ldexp((k >> 11).astype(np.float64), -n)
    got_u = fixed_encode(ux, bits - n, n, signed=False, overflow="wrap")
    assert np.array_equal(got_u, (k >> 11).astype(np.dtype(dtype).str.replace("i", "u")))


def test_wrap_of_values_beyond_2_to_64() -> None:
    # 2**70 + 3 * 2**18 (exact in float64): modulo 2**64 it is 3 * 2**18; a product overflowing float64 is 0
    x = np.array([2.0**70 + 3 * 2.0**18, -(2.0**70) - 2.0**18, 1e308])
    assert fixed_encode(x, 63, 0, overflow="wrap").tolist() == [3 * 2**18, -(2**18), 0]
    assert fixed_encode(x, 53, 10, overflow="wrap").tolist() == [3 * 2**28, -(2**28), 0]
    assert fixed_encode(x, 64, 0, signed=False, overflow="wrap").tolist() == [3 * 2**18, 2**64 - 2**18, 0]


def test_hand_examples() -> None:
    # Q0.7 (int8 fraction): 0.5 -> 64, -1 -> -128, 0.99999 rounds to 128 and saturates, 1.5 saturates
    assert fixed_encode([0.5, -1.0, 0.99999, 1.5, -3.0], 0, 7).tolist() == [64, -128, 127, 127, -128]
    assert fixed_encode([1.5, 0.99999], 0, 7, overflow="wrap").tolist() == [-64, -128]  # 192, 128 - 256
    # Q2.2 ties: 0.125 * 4 = 0.5 -> 0 (even), 0.375 * 4 = 1.5 -> 2; half_away/half_up split on negatives
    x = [0.125, 0.375, -0.125, -0.375]
    assert fixed_quantize(x, 2, 2).tolist() == [0.0, 0.5, 0.0, -0.5]
    assert fixed_quantize(x, 2, 2, rounding="half_away").tolist() == [0.25, 0.5, -0.25, -0.5]
    assert fixed_quantize(x, 2, 2, rounding="half_up").tolist() == [0.25, 0.5, 0.0, -0.25]
    # UQ4.4 with ±inf and NaN: inf -> 15.9375, -inf -> 0, NaN propagates in fixed_quantize
    y = fixed_quantize([np.inf, -np.inf, np.nan, -0.01], 4, 4, signed=False)
    assert y[:2].tolist() == [15.9375, 0.0] and np.isnan(y[2]) and y[3] == 0 and not np.signbit(y[3])
    # Q1000.-990 (step 2**990): the smallest subnormal rounds up under ceil, to -1 code under floor
    assert fixed_encode([5e-324, -5e-324, 0.0], 1000, -990, rounding="ceil").tolist() == [1, 0, 0]
    assert fixed_encode([5e-324, -5e-324, 0.0], 1000, -990, rounding="floor").tolist() == [0, -1, 0]


def test_format_properties_and_conventions() -> None:
    q15 = FixedFormat(0, 15)
    assert (q15.total_bits, q15.qmin, q15.qmax, q15.code_dtype) == (16, -(2**15), 2**15 - 1, np.int16)
    assert FixedFormat.from_word_length(16, 15) == q15  # TI's Q15 / MATLAB fi(..., 1, 16, 15)
    assert FixedFormat(15, 16).total_bits == 32 and FixedFormat(15, 16).min == -32768.0
    assert FixedFormat(31, 32).code_dtype == np.int64 and FixedFormat(0, 64, False).code_dtype == np.uint64
    assert FixedFormat(0, 0).qmin == -1 and FixedFormat(0, 0).qmax == 0  # one bit, two's complement
    assert FixedFormat(3, -2, False).step == 4.0 and FixedFormat(3, -2, False).max == 4.0
    assert FixedFormat(0, 24).exact_in(np.float32) and not FixedFormat(0, 25).exact_in(np.float32)
    assert FixedFormat(0, 24, False).exact_in(np.float32) and not FixedFormat(0, 25, False).exact_in(
        np.float32
    )
    # exact_in against the definition: the extreme codes' values survive float32/float16 unchanged
    cases = [(-140, 149, False), (-140, 150, False), (127, -110, True), (128, -111, True), (128, -104, False)]
    cases += [
        (129, -105, False),
        (0, 23, True),
        (0, 25, False),
        (15, 0, True),
        (16, -5, False),
        (-10, 24, False),
    ]
    for m, n, signed in cases:
        f = FixedFormat(m, n, signed)
        ks = {f.qmin, f.qmin + 1, 1, f.qmax - 1, f.qmax}
        for dt in (np.float16, np.float32):
            vals = [k * Fraction(2) ** -n for k in ks]
            with np.errstate(over="ignore"):
                same = all(np.isfinite(dt(_float(v))) and Fraction(float(dt(_float(v)))) == v for v in vals)
            assert f.exact_in(dt) == same, (f.name, dt)
    with pytest.raises(ValueError, match="total_bits"):
        FixedFormat(60, 5)
    with pytest.raises(ValueError, match="total_bits"):
        FixedFormat(-5, 4)
    with pytest.raises(TypeError, match="integer_bits"):
        FixedFormat(1.0, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="signed"):
        FixedFormat(1, 3, 1)  # type: ignore[arg-type]


def test_every_code_round_trips_and_is_on_the_grid() -> None:
    for m, n, signed in [(2, 5, True), (0, 11, False), (-3, 9, True), (5, -3, False)]:
        f = FixedFormat(m, n, signed)
        codes = np.arange(f.qmin, f.qmax + 1)
        for dtype in (np.float32, np.float64):
            v = fixed_decode(codes, m, n, signed=signed, dtype=dtype)
            assert v.dtype == dtype
            assert [Fraction(float(a)) for a in v] == [k * Fraction(2) ** -n for k in codes.tolist()]
            assert np.array_equal(fixed_encode(v, m, n, signed=signed), codes.astype(f.code_dtype))


def test_dtype_rules() -> None:
    assert fixed_quantize(np.float16([0.3]), 0, 7).dtype == np.float32
    assert fixed_quantize([1, 2], 3, 1).dtype == np.float64
    assert fixed_quantize(np.float32([0.3]), 0, 24).dtype == np.float32
    with pytest.raises(ValueError, match=r"not float32 numbers.*dtype='float64'"):
        fixed_quantize(np.float32([0.3]), 15, 16)
    exact = fixed_quantize(np.float32([1 / 3]), 15, 16, dtype="float64")
    assert exact.tolist() == [round(Fraction(float(np.float32(1 / 3))) * 2**16) / 2**16]
    with pytest.raises(ValueError, match=r"Q31.32"):
        fixed_quantize([0.5], 31, 32)
    with pytest.raises(ValueError, match=r"Q31.32"):
        fixed_decode([1], 31, 32)
    assert fixed_quantize(np.zeros((0, 3)), 0, 7).shape == (0, 3)
    assert fixed_quantize(np.float32(0.3), 0, 7).shape == ()


def test_errors_name_the_argument_and_value() -> None:
    with pytest.raises(ValueError, match=r"x must not be NaN.*nan"):
        fixed_encode([0.5, np.nan], 0, 7)
    with pytest.raises(ValueError, match=r"overflow='wrap'.*inf"):
        fixed_encode([np.inf], 0, 7, overflow="wrap")
    with pytest.raises(ValueError, match=r"overflow='wrap'.*nan"):
        fixed_quantize([np.nan], 0, 7, overflow="wrap")
    with pytest.raises(ValueError, match="overflow must be one of"):
        fixed_encode([0.5], 0, 7, overflow="clip")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator"):
        fixed_encode([0.5], 0, 7, rounding="stochastic")
    with pytest.raises(ValueError, match=r"codes must be in \[qmin, qmax\] = \[-128, 127\].*200"):
        fixed_decode([1, 200], 0, 7)
    with pytest.raises(TypeError, match="codes"):
        fixed_decode([True], 0, 7)


def test_inputs_untouched_and_deterministic() -> None:
    x = np.array([0.3, -1.7, 2.5, np.nan], np.float32)
    before = x.copy()
    a = fixed_quantize(x, 2, 3, rounding="stochastic", rng=np.random.default_rng(1))
    b = fixed_quantize(x, 2, 3, rounding="stochastic", rng=np.random.default_rng(1))
    assert np.array_equal(x, before, equal_nan=True) and np.array_equal(a, b, equal_nan=True)


def test_stochastic_rounding_is_unbiased() -> None:
    x = np.full(200_000, 0.3)  # Q0.3: 0.3 * 8 = 2.4 -> 2 or 3 with p = 0.4; mean 0.3, sd of the mean 1.4e-4
    y = fixed_quantize(x, 0, 3, rounding="stochastic", rng=np.random.default_rng(0))
    assert set(np.unique(y).tolist()) == {0.25, 0.375} and abs(y.mean() - 0.3) < 7e-4


finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@given(x=st.lists(finite, min_size=1, max_size=30), m=st.integers(-4, 20), n=st.integers(-4, 30))
def test_properties_idempotent_bounded_monotone(x: list[float], m: int, n: int) -> None:
    if not 2 <= 1 + m + n <= 54:
        return
    f = FixedFormat(m, n)
    xs = np.sort(np.array(x))
    q = fixed_quantize(xs, m, n)
    assert np.array_equal(fixed_quantize(q, m, n), q)  # idempotent: the grid is fixed
    assert np.all(np.diff(q) >= 0) and np.all((q >= f.min) & (q <= f.max))  # monotone, in range
    inside = (xs >= f.min) & (xs <= f.max)
    assert np.all(np.abs(q - xs)[inside] <= f.step / 2)  # nearest: at most half a step away
    codes = fixed_encode(xs, m, n, rounding="floor")
    assert np.all(fixed_decode(codes, m, n)[inside] <= xs[inside])
