"""refquant.check.coverage: what an input set tells apart, and compare's warning on the random-normals trap.

The counts of ``Coverage.changes`` are checked against what they claim: the
number of codes that change when :func:`refquant.quantize` is called with that
one setting changed (or, for the clamp-order slip, its formula written out
with :func:`refquant.rounding.round_to_integer`). Ties are checked with Python
fractions, near ties by walking ``numpy.nextafter``.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from refquant import quantize
from refquant.check.compare import assert_quantized_equal, compare
from refquant.check.coverage import NEAR_TIE_ULPS, SETTINGS, Coverage, CoverageWarning, coverage
from refquant.rounding import ROUNDING_MODES, round_to_integer

KNOBS: dict[str, dict[str, Any]] = {
    "rounding=half_away": {"rounding": "half_away"},
    "rounding=half_up": {"rounding": "half_up"},
    "rounding=half_down": {"rounding": "half_down"},
    "rounding=floor": {"rounding": "floor"},
    "rounding=ceil": {"rounding": "ceil"},
    "rounding=trunc": {"rounding": "trunc"},
    "op_order=multiply": {"op_order": "multiply"},
    "zero_point_add=after_rounding": {"zero_point_add": "after_rounding"},
    "zero_point_add=before_rounding": {"zero_point_add": "before_rounding"},
    "zero_point_add=fused": {"zero_point_add": "fused", "op_order": "multiply"},
}


def tie_dense(scale: float, k_max: int, rng: np.random.Generator, dtype: Any = np.float32) -> np.ndarray:
    """``(k + 1/2) s`` rounded to ``dtype`` for |k| < k_max, one ulp either side, the grid, random values."""
    k = np.arange(-k_max, k_max, dtype=np.float64)
    ties = ((k + 0.5) * scale).astype(dtype)
    inf = np.asarray(np.inf, dtype)
    grid = (k * scale).astype(dtype)
    rand = (rng.uniform(-k_max, k_max, 4 * k_max) * scale).astype(dtype)
    return np.concatenate([ties, np.nextafter(ties, inf), np.nextafter(ties, -inf), grid, rand])


def clamp_order_reference(x: Any, s: Any, z: Any, qmin: int, qmax: int, cd: Any, **gran: Any) -> np.ndarray:
    """``clip(clip(R(x/s), qmin, qmax) + z, qmin, qmax)``, for a per-tensor or per-element s and z."""
    with np.errstate(over="ignore"):
        y = np.divide(np.asarray(x).astype(cd), np.asarray(s).astype(cd), dtype=cd)
    r = round_to_integer(y).astype(np.float64)
    return np.clip(np.clip(r, qmin, qmax) + z, qmin, qmax)


def check_changes(c: Coverage, x: Any, s: Any, z: Any, qmin: int, qmax: int, **kw: Any) -> None:
    ref = quantize(x, s, z, qmin, qmax, **kw)
    for key, knob in KNOBS.items():
        if key == "rounding=half_down" and "half_down" not in ROUNDING_MODES:
            continue
        if key not in c.changes:
            continue
        alt = quantize(x, s, z, qmin, qmax, **kw, **knob)
        assert c.changes[key] == int(np.count_nonzero(alt != ref)), key


# --------------------------------------------------------------------------- hand-computed


def test_hand_example() -> None:
    # x/s = 0.5, 1.5, 2.25, 130: ties at 0.5 (half_even 0; half_up/half_away 1) and 1.5 (half_even 2;
    # half_down 1); 130 > 127; floor differs at 1.5, ceil at 0.5 and 2.25, trunc = floor here
    c = coverage(np.float32([0.25, 0.75, 1.125, 65.0]), 0.5, 0, -128, 127)
    assert (c.total, c.ties, c.exact_ties, c.near_ties, c.nan) == (4, 2, 2, 0, 0)
    assert (c.below_min, c.at_min, c.at_max, c.above_max, c.inexact_reciprocals) == (0, 0, 0, 1, 0)
    assert c.changes == {
        "rounding=half_away": 1,
        "rounding=half_up": 1,
        "rounding=half_down": 1,
        "rounding=floor": 1,
        "rounding=ceil": 2,
        "rounding=trunc": 1,
        "op_order=multiply": 0,
        "zero_point_add=after_rounding": 0,
        "zero_point_add=before_rounding": 0,
        "zero_point_add=fused": 0,
        "clamp_order=before_zero_point": 0,
    }
    assert c.exact_reciprocals and c.blind_spots == () and c.compute_dtype == "float32"
    assert c.distinguishes["rounding=ceil"] and not c.distinguishes["op_order=multiply"]


def test_odd_zero_point_moves_the_ties() -> None:
    # x/s = -76.5, z = 77: R(-76.5 + 77) = R(0.5) = 0 but R(-76.5) + 77 = -76 + 77 = 1
    c = coverage(np.float32([-76.5]), 1.0, 77, 0, 255)
    assert c.changes["zero_point_add=before_rounding"] == 1 and c.ties == 1
    # z = 78 keeps the parity: R(1.5) = 2 = -76 + 78
    assert coverage(np.float32([-76.5]), 1.0, 78, 0, 255).changes["zero_point_add=before_rounding"] == 0


def test_clamped_ties_do_not_count() -> None:
    # x/s = 127.5: floor 127 and 128 both clamp to 127; -128.5: both clamp to -128; 126.5 reaches
    # (half_even 126, half_up 127, half_down 126)
    c = coverage(np.float32([127.5, -128.5, 126.5]), 1.0, 0, -128, 127)
    assert c.ties == 1 and c.changes["rounding=half_up"] == 1 and c.changes["rounding=half_down"] == 0
    # with z = -1 the edge moves: 127.5 + (-1) reaches (127 - 1 = 126 vs 127)
    assert coverage(np.float32([127.5]), 1.0, -1, -128, 127).ties == 1


def test_clamp_order_slip() -> None:
    # z = 10, x/s = -200: the reference gives clip(-190) = -128, the slip clip(clip(-200) + 10) = -118
    c = coverage(np.float32([-200.0, 200.0, 5.0]), 1.0, 10, -128, 127)
    assert c.changes["clamp_order=before_zero_point"] == 1
    assert (c.below_min, c.above_max) == (1, 1)


def test_nan_is_counted_and_left_out() -> None:
    c = coverage(np.float32([np.nan, 0.5, np.nan]), 1.0, 0, -128, 127)
    assert (c.total, c.nan, c.ties, c.changes["rounding=half_up"], c.changes["rounding=ceil"]) == (
        3,
        2,
        1,
        1,
        1,
    )


def test_inexact_reciprocal_from_the_quantize_docs() -> None:
    # 0.273939937 * fl(1/0.00214854861) is exactly 127.5 in float32, the quotient 127.49999 (one ulp
    # below): codes 128 and 127 with quant_max = 255
    x, s = np.float32([0.273939937]), np.float32(0.00214854861)
    c = coverage(x, s, 0, 0, 255)
    assert c.inexact_reciprocals == 1 and c.near_ties == 1 and c.ties == 0
    assert c.changes["op_order=multiply"] == 1 and not c.exact_reciprocals
    assert "op_order=multiply" not in c.blind_spots
    # with quant_max = 127 both clamp to 127: the near tie does not reach the output
    c = coverage(x, s, 0, -128, 127)
    assert (c.inexact_reciprocals, c.near_ties, c.changes["op_order=multiply"], c.at_max) == (1, 0, 0, 1)


def test_validation_follows_quantize() -> None:
    with pytest.raises(ValueError, match="scale must be finite and > 0"):
        coverage([1.0], -1.0, 0, -128, 127)
    with pytest.raises(ValueError, match="zero_point must lie in"):
        coverage([1.0], 1.0, 300, -128, 127)
    with pytest.raises(ValueError, match="quant_min must be < quant_max"):
        coverage([1.0], 1.0, 0, 5, 5)
    with pytest.raises(TypeError, match="compute_dtype"):
        coverage([1.0], 1.0, 0, -128, 127, compute_dtype="int8")


def test_empty_and_report() -> None:
    c = coverage(np.zeros(0, np.float32), 1.0, 0, -128, 127)
    assert c.total == 0 and all(v == 0 for v in c.changes.values())
    text = str(coverage(np.float32([0.33]), 0.1, 0, -128, 127))  # x/s = 3.3
    assert "ties x/s = k + 0.5 reaching the output: 0" in text and "blind to: rounding=half_away" in text


# --------------------------------------------------------------------------- against quantize itself


@pytest.mark.parametrize("cd", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("z", [0, 3, -4])
def test_changes_are_what_quantize_gives(cd: Any, z: int) -> None:
    rng = np.random.default_rng(7)
    s = 0.0371
    dt = np.float64 if cd == np.float64 else np.float32  # ties of x / s in the compute dtype
    x = np.concatenate([tie_dense(s, 140, rng, dt), np.array([0.49999997 * s, -1e30, 1e30], dt)])
    c = coverage(x, s, z, -128, 127, compute_dtype=cd)
    check_changes(c, x, s, z, -128, 127, compute_dtype=cd)
    ref = clamp_order_reference(x, s, z, -128, 127, cd)
    assert c.changes["clamp_order=before_zero_point"] == int(
        np.count_nonzero(ref != quantize(x, s, z, -128, 127, compute_dtype=cd))
    )
    assert ("zero_point_add=fused" in c.changes) == (cd == np.float32)
    q = quantize(x, s, z, -128, 127, compute_dtype=cd)
    assert c.below_min + c.at_min == np.count_nonzero(q == -128)
    assert c.at_max + c.above_max == np.count_nonzero(q == 127)
    assert c.ties > 0 and c.changes["rounding=half_away"] > 0


def test_wide_codes_in_float32() -> None:
    # int32 codes in float32: fl(r + z) is inexact beyond 2**24, so after_rounding differs
    rng = np.random.default_rng(3)
    x = (rng.uniform(-1, 1, 4000) * 2.0**30).astype(np.float32)
    z, qmin, qmax = 12345, -(2**31), 2**31 - 1
    c = coverage(x, 1.0, z, qmin, qmax)
    check_changes(c, x, 1.0, z, qmin, qmax)
    assert c.changes["zero_point_add=after_rounding"] > 0


@pytest.mark.parametrize("layout", ["axis", "block"])
def test_per_axis_and_per_block_are_per_slice_sums(layout: str) -> None:
    rng = np.random.default_rng(11)
    s = np.float32([0.05, 0.1, 0.37])
    z = np.array([0, 5, -3])
    x = np.stack([tie_dense(float(v), 30, rng)[:200] for v in s], axis=1)  # (200, 3), axis 1
    if layout == "axis":
        c = coverage(x, s, z, -128, 127, axis=1)
        parts = [coverage(x[:, j], s[j], z[j], -128, 127) for j in range(3)]
        check_changes(c, x, s, z, -128, 127, axis=1)
    else:  # blocks of 64 rows along axis 0
        sb = rng.uniform(0.01, 0.2, (4, 3)).astype(np.float32)
        zb = rng.integers(-5, 6, (4, 3))
        c = coverage(x, sb, zb, -128, 127, axis=0, block_size=64)
        parts = [
            coverage(x[i * 64 : (i + 1) * 64, j], sb[i, j], zb[i, j], -128, 127)
            for i in range(4)
            for j in range(3)
        ]
        check_changes(c, x, sb, zb, -128, 127, axis=0, block_size=64)
    for field in ("ties", "exact_ties", "near_ties", "below_min", "at_min", "at_max", "above_max"):
        assert getattr(c, field) == sum(getattr(p, field) for p in parts), field
    for key in c.changes:
        assert c.changes[key] == sum(p.changes[key] for p in parts), key


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_ties_and_near_ties_exactly(dt: Any) -> None:
    rng = np.random.default_rng(5)
    s = dt(0.0371)
    x = tie_dense(float(s), 60, rng, dt)
    c = coverage(x, s, 0, -128, 127)
    assert c.compute_dtype == np.dtype(dt).name
    y = np.divide(x, s, dtype=dt)  # the quotient in the compute dtype, as quantize
    sx = [Fraction(float(v)) / Fraction(float(s)) for v in x]
    ties = [bool(abs(float(v) - np.trunc(float(v))) == 0.5) for v in y]
    assert c.ties == sum(ties) > 0
    assert c.exact_ties == sum(t and q.denominator == 2 for t, q in zip(ties, sx, strict=True))
    near = 0
    for v, t in zip(y.tolist(), ties, strict=True):
        if t:
            continue
        up = down = dt(v)
        for _ in range(NEAR_TIE_ULPS):
            up, down = np.nextafter(up, dt(np.inf)), np.nextafter(down, dt(-np.inf))
            if abs(float(up) - np.trunc(float(up))) == 0.5 or abs(float(down) - np.trunc(float(down))) == 0.5:
                near += 1
                break
    assert c.near_ties == near and near > 0


def test_settings_list() -> None:
    assert set(KNOBS) | {"clamp_order=before_zero_point"} == set(SETTINGS)


# --------------------------------------------------------------------------- the random-normals trap


def my_kernel(x: np.ndarray, s: float, z: int) -> np.ndarray:
    """A hand-written int8 kernel: x * fl(1/s), rounded half away from zero as floor(|y| + 0.5)."""
    y = x * np.float32(1 / np.float32(s))
    r = np.sign(y) * np.floor(np.abs(y) + np.float32(0.5))
    return np.clip(r + z, -128, 127).astype(np.int8)


def quantizer(x: np.ndarray, s: float) -> dict[str, Any]:
    return dict(x=x, scale=s, zero_point=0, quant_min=-128, quant_max=127)


def test_trap_random_normals_pass_and_warn() -> None:
    s = 0.05
    x = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    got, want = my_kernel(x, s, 0), quantize(x, s, 0, -128, 127)
    with pytest.warns(
        CoverageWarning, match="could not have caught a difference in rounding=half_away"
    ) as rec:
        c = compare(got, want, inputs=quantizer(x, s))
    assert c.identical and c.coverage is not None and c.coverage.ties == 0
    assert "op_order=multiply" in c.coverage.blind_spots
    assert rec[0].filename == __file__  # the warning points at the caller
    with pytest.warns(CoverageWarning):
        assert_quantized_equal(got, want, inputs=quantizer(x, s))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare(got, want, inputs=quantizer(x, s), check_coverage=False)
        assert_quantized_equal(got, want, inputs=quantizer(x, s), check_coverage=False)
        compare(got, want, inputs={"x": x})  # no quantizer arguments: nothing to check


def test_trap_tie_dense_inputs_fail() -> None:
    s = 0.05
    x = np.concatenate([tie_dense(s, 120, np.random.default_rng(1)), np.float32([0.49999997 * 0.05])])
    got, want = my_kernel(x, s, 0), quantize(x, s, 0, -128, 127)
    c = compare(got, want, inputs=quantizer(x, s), max_examples=10_000)
    assert c.coverage is not None and c.coverage.blind_spots == ()
    assert c.mismatches > 0 and c.max_lsb == 1
    # every mismatch is at a tie of x/s or one ulp from it (where x * fl(1/s) lands on the other side, or
    # floor(|y| + 0.5) double-rounds)
    for m in c.worst:
        q = np.float32(abs(m.inputs["x/scale"]))
        assert abs(float(q) - np.trunc(float(q)) - 0.5) <= np.spacing(q), m
    with pytest.raises(AssertionError, match="differ by more than max_lsb=0"):
        assert_quantized_equal(got, want, inputs=quantizer(x, s))


def test_double_rounding_of_floor_y_plus_half() -> None:
    # s = 1 (exact reciprocal): y = 0.49999997 = 0.5 - 2**-25; y + 0.5 = 1 - 2**-25 is a float32 tie,
    # rounded to even: 1.0, so the kernel gives 1 where the reference rounds to 0
    x = np.float32([0.49999997])
    assert my_kernel(x, 1.0, 0).tolist() == [1] and quantize(x, 1.0, 0, -128, 127).tolist() == [0]
    c = compare(my_kernel(x, 1.0, 0), quantize(x, 1.0, 0, -128, 127), inputs=quantizer(x, 1.0))
    assert c.mismatches == 1 and c.coverage is not None and c.coverage.near_ties == 1


def test_tolerance_pass_still_warns() -> None:
    x = np.float32([0.1, 0.2])
    with pytest.warns(CoverageWarning):
        assert_quantized_equal([1, 2], [1, 3], max_lsb=1, inputs=quantizer(x, 0.1))
    # a failing comparison does not warn: it raises (compare with mismatches reports, no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare([1, 2], [1, 3], inputs=quantizer(x, 0.1))
    assert "cannot tell the reference from rounding=half_away" in str(c)


def test_quantizer_inputs_broadcast_element_by_element() -> None:
    x = np.float32([[0.25, 0.75], [1.25, 2.0]])
    s = np.float32([[0.5], [0.25]])  # per row, broadcast (no axis key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = compare(quantize(x, 0.5, 0, -128, 127), quantize(x, 0.5, 0, -128, 127), inputs=quantizer(x, s))
    assert c.coverage is not None
    # x/s = 0.5, 1.5 | 5, 8: two ties
    assert c.coverage.ties == 2
    with pytest.raises(ValueError, match=r"inputs: scale must be finite and > 0"):
        compare([[1, 1], [1, 1]], [[1, 1], [1, 1]], inputs=quantizer(x, -s))
    with pytest.raises(ValueError, match=r"inputs\['x'\] must have actual's shape"):
        compare([1, 1], [1, 1], inputs=quantizer(np.float32([1.0]), 0.5))


def test_coverage_cost_is_vectorized() -> None:
    import time

    x = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    quantize(x, 0.02, 0, -128, 127)
    t0 = time.perf_counter()
    quantize(x, 0.02, 0, -128, 127)
    tq = time.perf_counter() - t0
    t0 = time.perf_counter()
    coverage(x, 0.02, 0, -128, 127)
    tc = time.perf_counter() - t0
    assert tc < 50 * tq + 0.05, (tc, tq)
