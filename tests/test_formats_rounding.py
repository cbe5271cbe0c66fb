"""Integer formats and rounding modes: hand-computed cases and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.formats import INT_FORMATS, IntFormat, int_format, storage_dtype
from refquant.rounding import ROUNDING_MODES, round_to_integer


@pytest.mark.parametrize(
    "bits,signed,narrow,qmin,qmax",
    [
        (8, True, False, -128, 127),
        (8, True, True, -127, 127),
        (8, False, False, 0, 255),
        (8, False, True, 1, 255),
        (4, True, False, -8, 7),
        (2, False, False, 0, 3),
        (32, True, False, -(2**31), 2**31 - 1),
    ],
)
def test_int_format_ranges(bits, signed, narrow, qmin, qmax) -> None:
    f = IntFormat(bits, signed, narrow)
    assert (f.qmin, f.qmax, f.levels) == (qmin, qmax, qmax - qmin + 1)


def test_named_formats_and_storage() -> None:
    assert int_format("int4") == IntFormat(4, True)
    assert INT_FORMATS["uint2"].qmax == 3
    assert int_format("int4").dtype == np.int8  # sub-byte codes live in int8
    assert int_format("uint4").dtype == np.uint8
    assert storage_dtype(-(2**31), 2**31 - 1) == np.int32
    with pytest.raises(ValueError, match="unknown integer format 'int3'"):
        int_format("int3")
    with pytest.raises(ValueError, match="bits must be in"):
        IntFormat(1)
    with pytest.raises(TypeError, match="bits must be an int"):
        IntFormat(8.0)  # type: ignore[arg-type]


TIES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
EXPECTED = {  # written out by hand from each mode's rule
    "half_even": [-2, -2, 0, 0, 2, 2],
    "half_away": [-3, -2, -1, 1, 2, 3],
    "half_up": [-2, -1, 0, 1, 2, 3],
    "floor": [-3, -2, -1, 0, 1, 2],
    "ceil": [-2, -1, 0, 1, 2, 3],
    "trunc": [-2, -1, 0, 0, 1, 2],
}


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_ties(mode: str) -> None:
    assert round_to_integer(TIES, mode).tolist() == EXPECTED[mode]


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_just_below_half_is_exact(mode: str) -> None:
    # 0.49999997 is the float32 just below 0.5; floor(x + 0.5) in float32 would give 1.
    x = np.float32(np.nextafter(np.float32(0.5), np.float32(0)))
    expected = {"ceil": 1.0}.get(mode, 0.0)
    assert round_to_integer(np.array([x]), mode).tolist() == [expected]


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_specials_pass_through(mode: str) -> None:
    x = np.array([np.inf, -np.inf, np.nan, 2.0**60], dtype=np.float32)
    y = round_to_integer(x, mode)
    assert y.dtype == np.float32
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2]) and y[3] == 2.0**60


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_half_up_on_small_negative_fractions(dtype: type) -> None:
    # -1 < x < 0: x - floor(x) = 1 + x is rounded (1 - 1e-30 -> 1.0), yet the comparison with 0.5 is
    # exact: floor(x + 1/2) is 0 for x in [-0.5, 0) and -1 below -0.5.
    below = np.nextafter(dtype(-0.5), dtype(-1))  # the float just below -0.5
    above = np.nextafter(dtype(-0.5), dtype(0))
    x = np.array([-1e-30, -0.5, below, above, -0.75], dtype)
    assert round_to_integer(x, "half_up").tolist() == [0.0, 0.0, -1.0, 0.0, -1.0]
    assert round_to_integer(x, "half_away").tolist() == [-0.0, -1.0, -1.0, -0.0, -1.0]


def test_signed_zero_and_empty_and_0d() -> None:
    assert np.signbit(round_to_integer(np.array([-0.0]), "half_even"))[0]
    assert np.signbit(round_to_integer(np.array([-0.4]), "half_away"))[0]
    assert round_to_integer(np.zeros((0, 3)), "floor").shape == (0, 3)
    assert round_to_integer(np.float64(2.5), "half_away").shape == ()


def test_stochastic_needs_generator_and_is_reproducible() -> None:
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        round_to_integer([0.5], "stochastic")
    x = np.linspace(-3, 3, 1001)
    a = round_to_integer(x, "stochastic", rng=np.random.default_rng(5))
    b = round_to_integer(x, "stochastic", rng=np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert np.all((a == np.floor(x)) | (a == np.ceil(x)))


def test_stochastic_is_unbiased() -> None:
    # E[R(0.3)] = 0.3; with 200,000 draws the standard error is ~0.001.
    r = round_to_integer(np.full(200_000, 0.3), "stochastic", rng=np.random.default_rng(0))
    assert abs(r.mean() - 0.3) < 0.005


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        round_to_integer([1.0], "nearest")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x must be a real floating-point array"):
        round_to_integer(np.array([1j]))


finite = hnp.arrays(
    np.float64, hnp.array_shapes(max_dims=2, max_side=20), elements=st.floats(-1e6, 1e6, allow_nan=False)
)


@given(finite, st.sampled_from(ROUNDING_MODES[:-1]))
def test_rounding_properties(x: np.ndarray, mode: str) -> None:
    x.flags.writeable = False
    y = round_to_integer(x, mode)
    assert np.all(y == np.round(y))  # integers
    assert np.all(np.abs(y - x) <= (0.5 if mode.startswith("half") else 1.0))
    assert np.array_equal(round_to_integer(y, mode), y)  # idempotent
    if mode.startswith("half"):
        # nearest: no other integer is closer
        assert np.all(np.abs(y - x) <= np.abs(x - np.floor(x)) + 1e-12)
        assert np.all(np.abs(y - x) <= np.abs(np.ceil(x) - x) + 1e-12)


def test_format_flags_and_out_are_validated() -> None:
    with pytest.raises(TypeError, match="signed must be a bool"):
        IntFormat(8, signed=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out must be an array of shape"):
        round_to_integer(np.zeros(3), out=np.zeros(2))
    out = np.empty(3)
    assert round_to_integer([0.5, 1.5, 2.5], out=out) is out and out.tolist() == [0.0, 2.0, 2.0]


# ---------------------------------------------------------------- hostile inputs (issue 8)


def test_storage_dtype_validates_its_range() -> None:
    with pytest.raises(ValueError, match="qmin must be < qmax, got qmin=5, qmax=3"):
        storage_dtype(5, 3)
    with pytest.raises(ValueError, match="qmin must be < qmax, got qmin=3, qmax=3"):
        storage_dtype(3, 3)
    with pytest.raises(TypeError, match=r"qmin must be an int, got 0.5"):
        storage_dtype(0.5, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="qmax must be an int, got True"):
        storage_dtype(0, True)
    with pytest.raises(
        ValueError, match=r"no integer dtype holds \[qmin, qmax\] = \[-1, 18446744073709551615\]"
    ):
        storage_dtype(-1, 2**64 - 1)
    assert storage_dtype(np.int64(0), np.int64(255)) == np.uint8
    assert storage_dtype(0, 2**64 - 1) == np.uint64
    assert storage_dtype(-(2**63), 2**63 - 1) == np.int64


def test_int_format_accepts_numpy_scalars_and_rejects_other_types() -> None:
    f = IntFormat(np.int64(8), np.bool_(False))  # type: ignore[arg-type]
    assert type(f.bits) is int and f.signed is False and (f.qmin, f.qmax) == (0, 255)
    assert f == IntFormat(8, False)
    with pytest.raises(TypeError, match=r"bits must be an int, got 8.0"):
        IntFormat(8.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="narrow_range must be a bool, got None"):
        IntFormat(8, True, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"name must be a format name \(str\), got \['int8'\]"):
        int_format(["int8"])  # type: ignore[arg-type]


def test_round_to_integer_out_and_rng_are_validated() -> None:
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable, got a read-only array"):
        round_to_integer([0.5, 1.5, 2.5], out=ro)
    with pytest.raises(TypeError, match=r"out must be a numpy.ndarray .*got list \[0.0, 0.0, 0.0\]"):
        round_to_integer([0.5, 1.5, 2.5], out=[0.0, 0.0, 0.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"got shape \(2,\) and dtype float32"):
        round_to_integer([0.5, 1.5, 2.5], out=np.zeros(2, np.float32))
    with pytest.raises(TypeError, match=r"rng must be None or a numpy.random.Generator, got RandomState"):
        round_to_integer([0.5], "half_even", rng=np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="x must be float16, float32 or float64"):
        round_to_integer(np.array([0.5], np.longdouble))
    # float16's largest values stay finite in every mode: 65504 is an integer
    x16 = np.array([65504, -65504, 0.5], np.float16)
    for mode in ROUNDING_MODES[:-1]:
        y = round_to_integer(x16, mode)  # type: ignore[arg-type]
        assert y.dtype == np.float16 and y[:2].tolist() == [65504.0, -65504.0]


def test_ragged_input_is_named() -> None:
    with pytest.raises(
        ValueError, match=r"x must be a \(rectangular\) array of numbers, got \[\[1.0, 2.0\], \[3.0\]\]"
    ):
        round_to_integer([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------- half_down (issue 11)


def test_half_down_ties_go_toward_minus_infinity() -> None:
    # by hand: ceil(x - 1/2); -2.5 -> -3, -0.5 -> -1, 0.5 -> 0, 2.5 -> 2 (ties toward -inf)
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.75, 0.75, -1.25, 1.25, 3.0, -3.0])
    expected = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, -1.0, 1.0, -1.0, 1.0, 3.0, -3.0]
    for dtype in (np.float16, np.float32, np.float64):
        y = round_to_integer(x.astype(dtype), "half_down")
        assert y.dtype == dtype and y.tolist() == expected


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_half_down_one_ulp_around_the_half(dtype: type) -> None:
    # The floats next to +-0.5: below 0.5 -> 0, above 0.5 -> 1 (not a tie), and the floats next to
    # -0.5: -0.49999997 -> -0 (nearest), -0.50000006 -> -1. ceil(x) - x for 0 < x < 1 is 1 - x
    # rounded (0.5 + 2**-25 -> 0.5 in float32), yet on the same side of 0.5: still exact.
    half = dtype(0.5)
    below, above = np.nextafter(half, dtype(0)), np.nextafter(half, dtype(1))
    x = np.array([below, above, -below, -above], dtype)
    y = round_to_integer(x, "half_down")
    assert y.tolist() == [0.0, 1.0, 0.0, -1.0]
    assert np.signbit(y).tolist() == [False, False, True, True]


def test_half_down_signed_zero_specials_and_large_values() -> None:
    x = np.array([0.0, -0.0, 0.3, -0.3, np.inf, -np.inf, np.nan, 2.0**60, -(2.0**60) - 2**8], np.float64)
    y = round_to_integer(x, "half_down")
    assert y[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert np.signbit(y[:4]).tolist() == [False, True, False, True]  # the sign of x is kept
    assert y[4] == np.inf and y[5] == -np.inf and np.isnan(y[6])
    assert y[7:].tolist() == [2.0**60, -(2.0**60) - 2**8]
    x16 = np.array([65504, -65504, -0.5], np.float16)  # no x - 0.5 that could overflow
    assert round_to_integer(x16, "half_down").tolist() == [65504.0, -65504.0, -1.0]


def test_half_down_is_the_mirror_of_half_up() -> None:
    # half_down(x) = -half_up(-x) (as values; the signs of zero differ), on ties and near-ties
    k = np.arange(-50, 50, dtype=np.float32)
    t = k + np.float32(0.5)
    x = np.concatenate([t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf)), k])
    assert (round_to_integer(x, "half_down") == -round_to_integer(-x, "half_up")).all()
    assert "half_down" in ROUNDING_MODES and ROUNDING_MODES[-1] == "stochastic"


def test_quantize_accepts_half_down() -> None:
    from refquant.quantize import quantize

    # x/s = -1.5, -0.5, 0.5, 1.5, 2.5 with z = 10: ties toward -inf give 8, 9, 10, 11, 12
    x = [-0.75, -0.25, 0.25, 0.75, 1.25]
    assert quantize(x, 0.5, 10, 0, 255, rounding="half_down").tolist() == [8, 9, 10, 11, 12]
