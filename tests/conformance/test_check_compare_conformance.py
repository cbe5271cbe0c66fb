"""refquant.check.compare against NumPy and ml_dtypes: ULP distances as counted steps of nextafter.

* float16, float32, float64: the distance between ``a`` and ``a`` walked
  ``k`` steps with ``numpy.nextafter`` is ``k`` (across zero, through the
  subnormals, up to inf), and ``a + k * numpy.spacing(a)`` within a binade is
  ``k`` steps away;
* ``numpy.testing.assert_array_max_ulp`` (its returned ULP counts, and its
  pass/fail) where the two overlap: pairs without NaN whose distance NumPy's
  integer arithmetic does not wrap (it views float32 as int32, so opposite
  signs far apart overflow); ``numpy.testing.assert_array_equal`` on codes;
* ml_dtypes: for bfloat16 and every float8/float6/float4 type, distances are
  the number of ``numpy.nextafter`` steps in the ml_dtypes type, and a float32
  value is on a format's grid exactly when ``v.astype(<type>)`` gives it back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")

from refquant.check._ulp import off_grid, resolve_grid  # noqa: E402
from refquant.check.compare import assert_float_close, assert_quantized_equal, compare  # noqa: E402
from refquant.floats import FLOAT_FORMATS  # noqa: E402

IEEE = (np.float16, np.float32, np.float64)
LOW = [n for n in FLOAT_FORMATS if n != "float16"]


def walk(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Steps of ``numpy.nextafter`` from ``a`` to ``b`` (same dtype, no NaN), element by element."""
    cur, steps = a.copy(), np.zeros(a.shape, np.int64)
    todo = np.flatnonzero(cur != b)
    with np.errstate(over="ignore"):  # the step from the largest finite value to inf
        while todo.size:
            cur[todo] = np.nextafter(cur[todo], b[todo])
            steps[todo] += 1
            todo = todo[cur[todo] != b[todo]]
    return steps


def distances(a: np.ndarray, b: np.ndarray, **kw: Any) -> np.ndarray:
    """Per-element ULP distances from compare (0 where equal)."""
    c = compare(a, b, kind="float", max_examples=a.size, **kw)
    out = np.zeros(a.size, object)
    for m in c.worst:
        out[m.flat_index] = abs(m.difference) if m.difference is not None else None
    return out


def special_starts(dt: Any) -> np.ndarray:
    fi = np.finfo(dt)
    t = fi.dtype.type
    return np.array(
        [0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.smallest_normal, -fi.smallest_normal,
         1.0, -1.0, fi.max, -fi.max, 0.5, 3.0],
        dtype=t,
    )  # fmt: skip


@pytest.mark.parametrize("dt", IEEE)
def test_ieee_distance_is_nextafter_steps(dt: Any) -> None:
    rng = np.random.default_rng(0)
    fi = np.finfo(dt)
    t = fi.dtype.type
    exps = rng.integers(fi.minexp - fi.nmant, fi.maxexp, 3000)
    starts = np.concatenate(
        [special_starts(dt), (rng.choice([-1.0, 1.0], 3000) * rng.uniform(1, 2, 3000) * 2.0**exps).astype(dt)]
    )
    starts = starts[np.isfinite(starts)]
    k = rng.integers(0, 60, starts.size)
    toward = np.where(rng.random(starts.size) < 0.5, t(np.inf), t(-np.inf)).astype(dt)
    ends = starts.copy()
    with np.errstate(over="ignore"):
        for _ in range(int(k.max())):
            move = k > 0
            ends[move] = np.nextafter(ends[move], toward[move])
            k = k - 1
    want = walk(starts, ends)
    got = distances(starts, ends)
    assert np.array_equal(got.astype(np.int64), want), "distance differs from the nextafter walk"
    # far pairs: the walk through the whole range, checked on a few float16 pairs (2**15 steps at most)
    if dt == np.float16:
        a = np.float16([-65504.0, -1.0, 6e-8, -np.inf])
        b = np.float16([65504.0, 1.0, -6e-8, np.inf])
        assert distances(a, b).tolist() == walk(a, b).tolist() == [2 * 0x7BFF, 2 * 0x3C00, 2, 2 * 0x7C00]


@pytest.mark.parametrize("dt", IEEE)
def test_ieee_distance_in_spacings(dt: Any) -> None:
    rng = np.random.default_rng(1)
    fi = np.finfo(dt)
    e = rng.integers(fi.minexp, fi.maxexp - 1, 2000)
    v = (2.0 ** e.astype(np.float64)).astype(dt)  # powers of two: a binade starts at v
    k = rng.integers(0, 2**fi.nmant, 2000)
    w = (v.astype(np.float64) + k * np.spacing(v).astype(np.float64)).astype(dt)  # exact: inside the binade
    assert np.array_equal(distances(v, w).astype(np.int64), k)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_agrees_with_numpy_assert_array_max_ulp(dt: Any) -> None:
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(5000) * 10.0 ** rng.integers(-30, 30, 5000)).astype(dt)
    b = a.copy()
    idx = rng.random(5000) < 0.5
    b[idx] = np.nextafter(b[idx], np.inf) * (1 + rng.integers(0, 3, idx.sum()) * np.finfo(dt).eps)
    b[:20] = -b[:20]  # opposite signs, still within int32/int64 of each other for these magnitudes
    # where NumPy's int arithmetic cannot wrap and its result (in a's float dtype) is exact
    limit = 2.0**24 if dt == np.float32 else 2.0**53
    ours = distances(a, b).astype(np.float64)
    keep = ours < limit
    assert keep.sum() > 4000
    theirs = np.testing.assert_array_max_ulp(a[keep], b[keep], maxulp=limit)
    assert np.array_equal(ours[keep], theirs.astype(np.float64).reshape(-1))
    for maxulp in (0, 1, 3, 10):
        try:
            np.testing.assert_array_max_ulp(a[keep], b[keep], maxulp=maxulp)
            numpy_ok = True
        except AssertionError:
            numpy_ok = False
        try:
            assert_float_close(a[keep], b[keep], max_ulp=maxulp)
            ours_ok = True
        except AssertionError:
            ours_ok = False
        assert ours_ok == numpy_ok, maxulp


def test_numpy_wraps_where_compare_is_exact() -> None:
    # NumPy counts in int32 for float32: -FLT_MAX to FLT_MAX (2 * 0x7F7FFFFF) wraps; compare does not
    big = np.float32([np.finfo(np.float32).max])
    assert distances(-big, big).tolist() == [2 * 0x7F7FFFFF]
    assert np.testing.assert_array_max_ulp(-big, big, maxulp=2**40)[0] != 2 * 0x7F7FFFFF


def test_codes_agree_with_numpy_assert_array_equal() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        a = rng.integers(-3, 3, 20).astype(np.int8)
        b = a.copy()
        if rng.random() < 0.5:
            b[rng.integers(0, 20)] += 1
        try:
            np.testing.assert_array_equal(a, b)
            numpy_ok = True
        except AssertionError:
            numpy_ok = False
        try:
            assert_quantized_equal(a, b)
            ours_ok = True
        except AssertionError:
            ours_ok = False
        assert ours_ok == numpy_ok


# --------------------------------------------------------------------------- ml_dtypes


def all_values(name: str) -> np.ndarray:
    """Every non-NaN value of the ml_dtypes type, as float32."""
    t = getattr(ml_dtypes, name)
    bits = 8 if name.startswith("float8") or name.startswith("float6") or name.startswith("float4") else 16
    raw = np.arange(2**bits, dtype=np.uint8 if bits == 8 else np.uint16)
    if name.startswith(("float6", "float4")):
        raw = raw[raw < 2 ** int(ml_dtypes.finfo(t).bits)]
    v = raw.view(t).astype(np.float32)
    return v[~np.isnan(v)]


@pytest.mark.parametrize("name", LOW)
def test_low_precision_distance_is_ml_dtypes_nextafter_steps(name: str) -> None:
    t = getattr(ml_dtypes, name)
    vals = all_values(name)
    rng = np.random.default_rng(4)
    if vals.size <= 256:  # every pair
        a, b = np.repeat(vals, vals.size), np.tile(vals, vals.size)
    else:  # bfloat16: random pairs a few steps apart, and pairs far apart
        a = rng.choice(vals, 4000)
        k = rng.integers(-40, 41, 4000)
        order = np.sort(np.unique(vals.astype(np.float64)))
        pos = np.clip(np.searchsorted(order, a.astype(np.float64)) + k, 0, order.size - 1)
        b = order[pos].astype(np.float32)
        sub = np.uint32(0x00010000).view(np.float32)  # the smallest bfloat16 subnormal, 2**-133
        a = np.concatenate([a, np.float32([-np.inf, -3.3895314e38, -1.0, sub])])
        b = np.concatenate([b, np.float32([np.inf, 3.3895314e38, 1.0, -sub])])
    want = walk(a.astype(t), b.astype(t))
    got = distances(a, b, fmt=name).astype(np.int64)
    assert np.array_equal(got, want), name


@pytest.mark.parametrize("name", LOW)
def test_grid_membership_is_ml_dtypes_round_trip(name: str) -> None:
    t = getattr(ml_dtypes, name)
    vals = all_values(name)
    finite = vals[np.isfinite(vals)]
    mids = ((finite[:-1].astype(np.float64) + np.sort(finite)[1:]) / 2).astype(np.float32)
    rng = np.random.default_rng(5)
    with np.errstate(over="ignore"):
        x = np.concatenate(
            [
                vals,
                np.nextafter(vals, np.float32(np.inf)),
                np.nextafter(vals, np.float32(-np.inf)),
                mids,
                (rng.standard_normal(5000) * 10.0 ** rng.integers(-45, 39, 5000)).astype(np.float32),
                np.float32([np.inf, -np.inf, np.nan, 0.0, -0.0, 2.0**-127, 2.0**-149]),
            ]
        ).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        back = x.astype(t).astype(np.float32)
    on = (back == x) | (np.isnan(back) & np.isnan(x))
    if name.startswith(("float6", "float4")):
        on &= ~np.isnan(x)  # no NaN in these formats (ml_dtypes maps NaN to a number)
    grid = resolve_grid(name, np.dtype(np.float32), np.dtype(np.float32))
    assert np.array_equal(off_grid(x, grid), ~on), name
