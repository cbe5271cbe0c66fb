"""refquant._exact.fma_float32 against exact rational arithmetic."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from refquant._exact import fma_float32

F32 = np.float32
FLT_MAX = np.finfo(F32).max


def _round_to_float32(e: Fraction) -> np.float32:
    """Round-to-nearest-even of the rational ``e`` (2**128 stands for the overflow to inf)."""
    with np.errstate(over="ignore"):
        f = F32(float(e))
    best: tuple[tuple[Fraction, int], np.float32] | None = None
    for cand in (np.nextafter(f, F32(-np.inf)), f, np.nextafter(f, F32(np.inf))):
        val = Fraction(2) ** 128 * (1 if cand > 0 else -1) if np.isinf(cand) else Fraction(float(cand))
        key = (abs(val - e), int(np.array(cand).view(np.uint32)) & 1)  # nearest, then even
        if best is None or key < best[0]:
            best = (key, cand)
    assert best is not None
    return best[1]


def _exact(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    return _round_to_float32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


def test_double_rounding_midpoints_are_resolved() -> None:
    # 812825 * 1321 = 2**30 + 1, so a * b = 2**-24 + 2**-54 exactly. With c = 1 the exact sum is just
    # above the float32 midpoint 1 + 2**-24 and rounds up to 1 + 2**-23; float64 (ulp 2**-52) drops
    # the 2**-54 onto the midpoint, and casting that to float32 ties to even, down to 1.
    a, b, one = F32(812825 * 2.0**-40), F32(1321 * 2.0**-14), F32(1.0)
    assert float(a) * float(b) == 2.0**-24 + 2.0**-54
    assert float(one) + float(a) * float(b) == 1 + 2.0**-24  # the double rounding trap
    assert fma_float32(a, b, one) == F32(1 + 2.0**-23) == _exact(a, b, one)
    # 21483 * 49981 = 2**30 - 1: with c = 1 + 2**-23 the exact sum is just below the midpoint
    # 1 + 3 * 2**-24 and rounds down to c; the float64 sum is the midpoint, whose even side is up.
    a, b, c = F32(21483 * 2.0**-40), F32(49981 * 2.0**-14), F32(1 + 2.0**-23)
    assert float(a) * float(b) == 2.0**-24 - 2.0**-54
    assert fma_float32(a, b, c) == c == _exact(a, b, c)


def test_just_below_the_overflow_threshold_stays_finite() -> None:
    # a * b = 2**103 - 2**74: FLT_MAX + a * b is below the midpoint FLT_MAX + 2**103 between FLT_MAX
    # and 2**128, so the correct result is FLT_MAX; float64 rounds the sum onto that midpoint (its
    # ulp there is 2**75), and a plain cast to float32 would then give inf.
    a, b = F32(256999 * 2.0**40), F32(2089 * 2.0**34)  # 256999 * 2089 = 2**29 - 1
    assert float(a) * float(b) == 2.0**103 - 2.0**74
    assert fma_float32(a, b, FLT_MAX) == FLT_MAX == _exact(a, b, FLT_MAX)
    assert fma_float32(-a, b, -FLT_MAX) == -FLT_MAX
    # exactly on the midpoint: ties to even, i.e. to 2**128, which is inf
    assert fma_float32(F32(2.0**103), F32(1), FLT_MAX) == np.inf


def test_zero_d_inputs() -> None:
    # 0 is in the subnormal-range fix-up path (|s| < FLT_MIN); 0-d arrays used to fail there
    r = fma_float32(F32(0), F32(1), F32(0))
    assert isinstance(r, np.ndarray) and r.shape == () and r.dtype == F32 and float(r) == 0.0


def test_random_cancellations_match_exact_rounding() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    a = (rng.integers(1, 2**24, n) * 2.0 ** rng.integers(-90, 40, n) * rng.choice([-1, 1], n)).astype(F32)
    b = (rng.integers(1, 2**24, n) * 2.0 ** rng.integers(-40, 40, n)).astype(F32)
    # c close to -a * b: heavy cancellation, many results near float32 midpoints and subnormals
    c = (-(a.astype(np.float64) * b) * (1 + rng.integers(-(2**10), 2**10, n) * 2.0**-30)).astype(F32)
    got = fma_float32(a, b, c)
    want = np.array([_exact(*v) for v in zip(a, b, c, strict=True)], F32)
    np.testing.assert_array_equal(got, want)
