"""Unit and property tests of refquant.integer.matmul (integer matmul with zero points, the overflow bound).

The reference is int64 arithmetic: :func:`numpy.matmul` on int64 arrays (exact
below 2**63), or on arrays of Python ints where int64 could overflow. The
bounds are worked out by hand in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant.integer import integer_matmul, overflow_bound
from refquant.integer.matmul import _dtype_for

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def ref(a: np.ndarray, b: np.ndarray, za: object = 0, zb: object = 0) -> np.ndarray:
    """int64 arithmetic: the definition sum (a - za)(b - zb), per-row za and per-column zb."""
    a64, b64 = np.asarray(a, np.int64), np.asarray(b, np.int64)
    za64, zb64 = np.asarray(za, np.int64), np.asarray(zb, np.int64)
    ac = a64 - (za64[..., None] if za64.ndim else za64)
    bc = b64 - (zb64[..., None, :] if zb64.ndim else zb64)
    return np.matmul(ac, bc)


# --------------------------------------------------------------------------- overflow_bound


@pytest.mark.parametrize(
    "a_dtype, b_dtype, za, zb, want",
    [
        ("int8", "int8", 0, 0, 131071),  # (-128)(-128) = 16384: (2**31 - 1) // 16384 = 131071
        ("int8", "int8", None, None, 33025),  # |a - za| <= 255: 65025; 33025 * 65025 = 2147450625
        ("uint8", "int8", None, 0, 65793),  # 255 * 128 = 32640: 65793 * 32640 = 2147483520
        ("uint8", "int8", 128, 0, 131071),  # a - 128 in [-128, 127]: as int8 x int8
        ("uint8", "uint8", 0, 0, 33025),  # 255 * 255
        ("int16", "int8", 0, 0, 511),  # (-32768)(-128) = 2**22
        ("int16", "int16", 0, 0, 1),  # 2**30: two products overflow
        ("int8", "int8", -128, 127, 33025),  # the worst zero points themselves
    ],
)
def test_overflow_bound_hand_cases(
    a_dtype: str, b_dtype: str, za: int | None, zb: int | None, want: int
) -> None:
    assert overflow_bound(a_dtype, b_dtype, za, zb) == want


def test_overflow_bound_is_tight() -> None:
    # int8 x int8, zero points 0: K * 16384 <= 2**31 - 1 < (K + 1) * 16384
    k = overflow_bound(np.int8, np.int8, 0, 0)
    assert k * 16384 <= I32_MAX < (k + 1) * 16384
    # int64 accumulator, int16 x int16 with any zero points: (65535)**2 per product
    k64 = overflow_bound("int16", "int16", accumulate="int64")
    assert k64 * 65535**2 <= 2**63 - 1 < (k64 + 1) * 65535**2


def test_overflow_bound_is_enforced_at_the_bound() -> None:
    k = overflow_bound("int8", "int8", 0, 0)
    for kk in (k, k + 1):
        a = np.full((1, kk), -128, np.int8)
        b = np.full((kk, 1), -128, np.int8)
        if kk == k:
            assert integer_matmul(a, b).tolist() == [[k * 16384]]
        else:
            with pytest.raises(ValueError, match="accumulate='int64'"):
                integer_matmul(a, b)
            assert integer_matmul(a, b, accumulate="int64").tolist() == [[kk * 16384]]
    # the worst zero points: (-128 - 127) * (-128 - 127) = 65025 per product
    k = overflow_bound("int8", "int8")
    a, b = np.full((1, k), -128, np.int8), np.full((k, 1), -128, np.int8)
    assert integer_matmul(a, b, 127, 127).tolist() == [[k * 65025]]
    with pytest.raises(ValueError, match="33025"):
        integer_matmul(np.full((1, k + 1), -128, np.int8), np.full((k + 1, 1), -128, np.int8), 127, 127)


def test_overflow_bound_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="a_dtype"):
        overflow_bound("float32", "int8")
    with pytest.raises(TypeError, match="b_dtype"):
        overflow_bound("int8", "int64")
    with pytest.raises(ValueError, match="a_zero_point"):
        overflow_bound("int8", "int8", 200, 0)
    with pytest.raises(ValueError, match="accumulate"):
        overflow_bound("int8", "int8", accumulate="int16")


# --------------------------------------------------------------------------- integer_matmul


def test_hand_example_and_the_four_term_expansion() -> None:
    a = np.array([[2, 0], [-1, 5]], np.int8)
    b = np.array([[3, 1], [5, -2]], np.int8)
    # (a - 1) = [[1, -1], [-2, 4]], (b - 2) = [[1, -1], [3, -4]]
    want = [[1 - 3, -1 + 4], [-2 + 12, 2 - 16]]
    assert integer_matmul(a, b, 1, 2).tolist() == want
    # sum ab - zb sum_k a - za sum_k b + K za zb, term by term in Python ints
    ab = (a.astype(int) @ b.astype(int)).tolist()
    rows, cols = a.astype(int).sum(1).tolist(), b.astype(int).sum(0).tolist()
    expanded = [[ab[m][n] - 2 * rows[m] - 1 * cols[n] + 2 * 1 * 2 for n in range(2)] for m in range(2)]
    assert expanded == want


@pytest.mark.parametrize("seed", range(6))
def test_random_int8_uint8_against_int64(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, k, n = rng.integers(1, 40, 3)
    a_u8 = seed % 2 == 1
    a = (
        rng.integers(0, 256, (m, k)).astype(np.uint8)
        if a_u8
        else rng.integers(-128, 128, (m, k)).astype(np.int8)
    )
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    za = int(rng.integers(0, 256)) if a_u8 else int(rng.integers(-128, 128))
    zb = int(rng.integers(-128, 128))
    got = integer_matmul(a, b, za, zb)
    assert got.dtype == np.int32 and np.array_equal(got, ref(a, b, za, zb))


@pytest.mark.parametrize(
    "k, value, path",
    [
        (1024, -128, np.float32),  # 1024 * 16384 = 2**24: float32 is exact up to there
        (1025, -128, np.float64),  # one more: float64
        (131071, -128, np.float64),  # the int32 bound
    ],
)
def test_float_blas_paths_are_exact_at_their_limits(k: int, value: int, path: type) -> None:
    # alternating signs and a constant row make the partial sums swing to the limit and back
    a = np.full((3, k), value, np.int8)
    a[1, ::2] = 127
    b = np.full((k, 2), value, np.int8)
    b[1::2, 1] = 127
    assert _dtype_for(k * 16384) is path
    assert np.array_equal(integer_matmul(a, b), ref(a, b))


def test_expanded_path_with_zero_points_against_int64() -> None:
    # K = 1024 int8 with zero points 3 and -7: the centered products need float64, the raw ones fit
    # float32 (1024 * 16384 = 2**24), so the raw product plus the three correction terms is used
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (64, 1024)).astype(np.int8)
    b = rng.integers(-128, 128, (1024, 48)).astype(np.int8)
    a[0], b[:, 0] = -128, -128
    assert np.array_equal(integer_matmul(a, b, 3, -7), ref(a, b, 3, -7))


def test_int64_path_is_exact_beyond_2_pow_53() -> None:
    # four products of about 2**60 each: far beyond float64's 2**53, within int64; Python ints as reference
    a = np.full((2, 4), 2**31 - 1, np.int64)
    a[1] = -(2**31)
    b = np.full((4, 3), 2**29 + 1, np.int64)
    want = (a.astype(object) @ b.astype(object)).tolist()
    assert _dtype_for(4 * 2**31 * (2**29 + 1)) is np.int64
    got = integer_matmul(a, b, accumulate="int64")
    assert got.dtype == np.int64 and got.tolist() == want
    with pytest.raises(ValueError, match="int32 accumulator"):
        integer_matmul(a, b)


def test_per_row_and_per_column_zero_points() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (5, 7)).astype(np.uint8)
    b = rng.integers(-128, 128, (7, 4)).astype(np.int8)
    za = rng.integers(0, 256, 5)
    zb = rng.integers(-128, 128, 4)
    assert np.array_equal(integer_matmul(a, b, za, zb), ref(a, b, za, zb))
    with pytest.raises(ValueError, match="a_zero_point"):
        integer_matmul(a, b, np.zeros(7, np.int64), 0)
    with pytest.raises(ValueError, match="b_zero_point"):
        integer_matmul(a, b, 0, np.zeros(7, np.int64))


def test_batches_and_1d_operands_follow_numpy_matmul() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (2, 1, 3, 6)).astype(np.int8)
    b = rng.integers(-128, 128, (4, 6, 5)).astype(np.int8)
    got = integer_matmul(a, b, 2, -1)
    assert got.shape == (2, 4, 3, 5) and np.array_equal(got, ref(a, b, 2, -1))
    v = rng.integers(-128, 128, 6).astype(np.int8)
    assert integer_matmul(v, b[0]).shape == (5,)
    assert np.array_equal(integer_matmul(v, b[0]), v.astype(np.int64) @ b[0].astype(np.int64))
    assert integer_matmul(v, v).shape == () and int(integer_matmul(v, v)) == int(v.astype(np.int64) @ v)
    assert integer_matmul(np.zeros((3, 0), np.int8), np.zeros((0, 2), np.int8)).tolist() == [[0, 0]] * 3


@given(
    shape=st.tuples(st.integers(1, 6), st.integers(0, 9), st.integers(1, 6)),
    seed=st.integers(0, 2**32 - 1),
    za=st.integers(-128, 127),
    zb=st.integers(-128, 127),
)
def test_property_equals_int64_matmul(shape: tuple[int, int, int], seed: int, za: int, zb: int) -> None:
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    assert np.array_equal(integer_matmul(a, b, za, zb), ref(a, b, za, zb))


def test_inputs_untouched_and_bad_arguments() -> None:
    a = np.array([[1, 2]], np.int8)
    b = np.array([[3], [4]], np.int8)
    before = a.copy(), b.copy()
    integer_matmul(a, b, 1, 1)
    assert np.array_equal(a, before[0]) and np.array_equal(b, before[1])
    with pytest.raises(TypeError, match="a"):
        integer_matmul(a.astype(np.float32), b)
    with pytest.raises(TypeError, match="b"):
        integer_matmul(a, b.astype(bool))
    with pytest.raises(ValueError, match="K"):
        integer_matmul(a, b.T)
    with pytest.raises(ValueError, match="dimension"):
        integer_matmul(np.int8(1), b)
    with pytest.raises(ValueError, match="accumulate"):
        integer_matmul(a, b, accumulate="float64")
    with pytest.raises(ValueError, match="a"):
        integer_matmul(np.array([[2**32]], np.int64), np.array([[1]], np.int64))


# --------------------------------------------------------------------------- K-sliced float32 products


def spy_slices(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the slice length of every K-sliced float32 product integer_matmul runs."""
    from refquant.integer import matmul

    calls: list[int] = []
    real = matmul._sliced_matmul

    def spy(x: np.ndarray, y: np.ndarray, split: int) -> np.ndarray:
        calls.append(split)
        return real(x, y, split)

    monkeypatch.setattr(matmul, "_sliced_matmul", spy)
    return calls


def test_k_slices_are_exact_at_their_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # uint8 x int8, zero points 0: |products| <= 255 * 128 = 32640, so a slice holds 2**24 // 32640 = 514
    # terms (514 * 32640 = 16776960 <= 2**24 < 515 * 32640). K = 1028: two slices of 514, and row 0's
    # sums reach -16776960 in each slice and -33553920 in all, beyond float32's exact integers (2**24).
    # Row 1 alternates 255 and 0 against a column alternating -128 and 127; row 2 ends odd (255 * 127).
    calls = spy_slices(monkeypatch)
    k = 1028
    a = np.full((3, k), 255, np.uint8)
    a[1, 1::2] = 0
    b = np.full((k, 2), -128, np.int8)
    b[1::2, 1] = 127
    b[-1, 0] = 127
    want = ref(a, b)
    assert calls == [] and int(want[0, 0]) == -(k - 1) * 32640 + 255 * 127  # an odd sum beyond 2**24
    got = integer_matmul(a, b)
    assert calls == [514] and got.dtype == np.int32 and np.array_equal(got, want)
    # one float32 product over all of K would round it (the reason for the slices)
    assert not np.array_equal(a.astype(np.float32) @ b.astype(np.float32), want.astype(np.float64))


def test_k_slices_with_per_row_and_per_column_zero_points_and_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # |a - za| <= 255 and |b - zb| <= 255: slices of 2**24 // 65025 = 258 terms; K = 1500 takes 6 of 250
    calls = spy_slices(monkeypatch)
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (2, 40, 1500)).astype(np.uint8)
    b = rng.integers(-128, 128, (1500, 30)).astype(np.int8)
    a[0, 0], b[:, 0] = 0, 127  # the extremes: (0 - 255) * (127 + 128)
    za, zb = rng.integers(0, 256, (2, 40)), rng.integers(-128, 128, 30)
    za[0, 0], zb[0] = 255, -128
    got = integer_matmul(a, b, za, zb)
    assert calls == [258] and np.array_equal(got, ref(a, b, za, zb))
    from refquant.integer import matmul

    monkeypatch.setattr(matmul, "_SLICE_BLOCK", 7 * 30)  # 2-D: in row blocks of 7 rows, the last one of 5
    got2 = integer_matmul(a[0], b, za[0], zb, accumulate="int64")
    assert calls == [258, 258] and got2.dtype == np.int64 and np.array_equal(got2, ref(a[0], b, za[0], zb))


def test_too_short_slices_fall_back_to_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    # int16 x int8: |products| <= 32768 * 128 = 2**22, a slice would hold 4 terms: one float64 product
    calls = spy_slices(monkeypatch)
    a = np.full((2, 300), -32768, np.int16)
    b = np.full((300, 2), -128, np.int8)
    b[::2, 1] = 127
    assert np.array_equal(integer_matmul(a, b), ref(a, b)) and calls == []


def test_large_codes_with_large_zero_points_are_centered_exactly() -> None:
    # float32 cannot hold 2**32 - 1 or 2**32 - 2 (both round to 2**32), but their difference is 1
    a, b = np.array([[2**32 - 1]], np.uint32), np.array([[1]], np.uint32)
    assert integer_matmul(a, b, 2**32 - 2, 0, accumulate="int64").tolist() == [[1]]
    # a - 2**30 = [3, -5]: 3 * 7 - 5 * 11 = -34 (float32 would read 2**30 + 3 as 2**30)
    a = np.array([[2**30 + 3, 2**30 - 5]], np.int64)
    b = np.array([[7], [11]], np.int64)
    assert integer_matmul(a, b, 2**30, 0).tolist() == [[-34]]
    assert integer_matmul(b.T, a.T, 0, 2**30).tolist() == [[-34]]


def test_raw_path_with_per_row_and_per_column_zero_points_and_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # K = 1024 int8: the raw codes' sums stay within 1024 * 128 * 128 = 2**24 (float32), the centered ones
    # (|a - za| up to 255) do not, so the raw product and the correction terms -zb sum_k a - za (sum_k b -
    # K zb) are used; per-row za and per-column zb make the corrections full matrices, batches broadcast
    from refquant.integer import matmul

    seen: list[object] = []
    real = matmul._constant
    monkeypatch.setattr(matmul, "_constant", lambda z, axis: seen.append(z.shape) or real(z, axis))
    rng = np.random.default_rng(13)
    a = rng.integers(-128, 128, (2, 1, 5, 1024)).astype(np.int8)
    b = rng.integers(-128, 128, (3, 1024, 4)).astype(np.int8)
    a[..., 0, :], b[..., 0] = -128, -128
    za, zb = rng.integers(-128, 128, (2, 1, 5)), rng.integers(-128, 128, (3, 4))
    za[..., 0], zb[..., 0] = 127, 127
    got = integer_matmul(a, b, za, zb)
    assert seen == [(3, 4), (2, 1, 5)] and got.shape == (2, 3, 5, 4)
    assert np.array_equal(got, ref(a, b, za, zb))
    seen.clear()  # per-tensor zero points: the corrections are a row and a column vector
    assert np.array_equal(integer_matmul(a[0, 0], b[0], -3, 5), ref(a[0, 0], b[0], -3, 5)) and len(seen) == 2


def test_raw_path_corrections_beyond_2_pow_53_stay_in_int64() -> None:
    # codes 1..8 and zero points 2**29: the raw sums are tiny (float32), the corrections reach about
    # 4 * 2**58 = 2**60, beyond float64's exact integers, so they are formed in int64 (Python ints: reference)
    a = np.array([[1, 2, 3, 4]], np.int64)
    b = np.array([[5], [6], [7], [8]], np.int64)
    z = 2**29
    want = sum((x - z) * (y - z) for x, y in zip([1, 2, 3, 4], [5, 6, 7, 8], strict=True))
    assert want > 2**53
    assert integer_matmul(a, b, z, z, accumulate="int64").tolist() == [[want]]
    assert integer_matmul(a, b, z, 0, accumulate="int64").tolist() == [[70 - z * 26]]


def test_empty_1d_operands_lose_their_dimension_as_in_numpy() -> None:
    # K = 0: the sums are 0, in numpy.matmul's shapes: (0,) @ (0, 5) -> (5,), (0,) @ (0,) -> ()
    v, w = np.zeros(0, np.int8), np.zeros((0, 5), np.int8)
    assert integer_matmul(v, w, 3, 1).shape == (5,) and integer_matmul(w.T, v).shape == (5,)
    assert integer_matmul(v, v).shape == () and int(integer_matmul(v, v)) == 0


def test_shifted_codes_reach_2_pow_24_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    # uint8 activations with zero point 0 (after a ReLU) times int8 weights, K = 1024: the centered
    # products reach 255 * 128 = 32640 (sums to 3.3e7, beyond 2**24), but the codes shifted to the middle
    # of their range, a - 128 in [-128, 127], give products within 16384 and sums within 1024 * 16384 =
    # 2**24, reached exactly by the row of zeros against the column of -128 (one float32 product); the
    # correction +128 * sum_k b is exact in float64. Row 0 (all 255) against it: -1024 * 255 * 128.
    calls = spy_slices(monkeypatch)
    from refquant.integer import matmul

    shifts: list[object] = []
    real = matmul._constant
    monkeypatch.setattr(matmul, "_constant", lambda z, axis: shifts.append(z.shape) or real(z, axis))
    k = 1024
    a = np.full((3, k), 255, np.uint8)
    a[1] = 0
    a[2, ::2] = 7
    b = np.full((k, 2), -128, np.int8)
    b[1::3, 1] = 127
    want = ref(a, b)
    assert int(want[1, 0]) == 0 and int(want[0, 0]) == -k * 255 * 128
    got = integer_matmul(a, b)
    assert calls == [] and len(shifts) == 2 and np.array_equal(got, want)
    # the shifted sums themselves: (0 - 128) * (-128) * 1024 = 2**24
    assert int(ref(a, b, 128, 0)[1, 0]) == 2**24


def test_shifted_codes_with_per_row_and_per_column_zero_points() -> None:
    # a - za = (a - 128) - (za - 128): per-row differences and per-column zb in the correction terms
    rng = np.random.default_rng(17)
    a = rng.integers(0, 256, (33, 1024)).astype(np.uint8)
    b = rng.integers(-128, 128, (1024, 21)).astype(np.int8)
    a[0], b[:, 0] = 0, -128
    za, zb = rng.integers(0, 256, 33), rng.integers(-128, 128, 21)
    assert np.array_equal(integer_matmul(a, b, za, zb), ref(a, b, za, zb))
    assert np.array_equal(integer_matmul(a, b, za, 0), ref(a, b, za, 0))
    assert np.array_equal(integer_matmul(a, b, 0, zb), ref(a, b, 0, zb))
