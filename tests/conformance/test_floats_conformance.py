"""refquant.floats (spec, cast, encode, decode) against ml_dtypes, bit for bit.

ml_dtypes' ``x.astype(<fmt>)`` is the reference for ``cast(x, fmt)`` without
saturation (float16 is NumPy's own). Compared, for every format, in float32
and float64:

* every bfloat16 and every float16 bit pattern, as values;
* every value of the format, every midpoint between neighbours, one ulp on
  either side of each, and the same beyond the largest value;
* two million values whose exponents span the whole float32/float64 range, and
  the special values (±0, ±inf, NaN of both signs, subnormals of the input type).

Results are compared as bit patterns: the sign of zero and of NaN count; NaN payloads
do not (NumPy's float16 cast keeps the top payload bits of a NaN; refquant's is the quiet NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")

from refquant.floats import FLOAT_FORMATS, cast, decode, encode  # noqa: E402

NAMES = list(FLOAT_FORMATS)


def mdt(name: str) -> Any:
    return np.float16 if name == "float16" else getattr(ml_dtypes, name)


def reference(x: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(mdt(name)).astype(x.dtype)


def same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    u = f"u{a.dtype.itemsize}"
    return a.view(u) == b.view(u)


def assert_identical(ours: np.ndarray, ref: np.ndarray, x: np.ndarray, what: str) -> None:
    assert ours.dtype == ref.dtype
    # NaN as NaN with its sign: NumPy's float16 cast keeps top payload bits, refquant's NaN is the quiet one
    nan = np.isnan(ours) & np.isnan(ref) & (np.signbit(ours) == np.signbit(ref))
    bad = ~same_bits(ours, ref) & ~nan
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        raise AssertionError(
            f"{what}: {bad.sum()} of {x.size} differ; x={x[i]!r} ours={ours[i]!r} ml_dtypes={ref[i]!r}"
        )


@pytest.mark.parametrize("name", NAMES)
def test_spec_table_matches_ml_dtypes(name: str) -> None:
    f, info = FLOAT_FORMATS[name], ml_dtypes.finfo(mdt(name))
    assert f.bits == info.bits
    assert f.max_finite == float(info.max)
    assert f.min_normal == float(info.smallest_normal)
    assert f.min_subnormal == float(info.smallest_subnormal)
    codes = np.arange(2**f.bits, dtype=f.storage)
    with np.errstate(invalid="ignore"):
        values = codes.view(mdt(name)).astype(np.float64)
    assert tuple(codes[np.isnan(values)].tolist()) == f.nan_codes
    assert tuple(codes[np.isinf(values)].tolist()) == f.inf_codes
    assert (values == 0).sum() == (2 if f.has_negative_zero else 1 if f.has_zero else 0)


@pytest.mark.parametrize("name", NAMES)
def test_decode_every_code(name: str) -> None:
    f = FLOAT_FORMATS[name]
    codes = np.arange(2**f.bits, dtype=f.storage)
    with np.errstate(invalid="ignore"):
        ref32 = codes.view(mdt(name)).astype(np.float32)
        ref64 = codes.view(mdt(name)).astype(np.float64)
    assert_identical(decode(codes, f), ref32, codes, f"decode {name} float32")
    ours64 = decode(codes, f, dtype=np.float64)
    nan = np.isnan(ref64)  # NaN payloads in float64 follow NumPy's widening; compare NaN and sign
    assert np.array_equal(np.isnan(ours64), nan) and np.array_equal(np.signbit(ours64), np.signbit(ref64))
    assert_identical(ours64[~nan], ref64[~nan], codes[~nan], f"decode {name} float64")


def sixteen_bit_patterns(dtype: Any) -> np.ndarray:
    """Every bfloat16 and every float16 pattern as values of ``dtype`` (both exact there)."""
    codes = np.arange(2**16, dtype=np.uint16)
    with np.errstate(invalid="ignore"):
        return np.concatenate(
            [codes.view(ml_dtypes.bfloat16).astype(dtype), codes.view(np.float16).astype(dtype)]
        )


def midpoints(name: str, dtype: Any) -> np.ndarray:
    f = FLOAT_FORMATS[name]
    values = decode(np.arange(2**f.bits), f, dtype=np.float64)
    g = np.unique(values[np.isfinite(values)])
    step = g[-1] - g[-2]
    g = np.concatenate([g, [g[-1] + step, g[-1] + 2 * step]])  # and beyond the largest value
    base = np.concatenate([g, (g[:-1] + g[1:]) / 2])
    with np.errstate(over="ignore"):
        base = np.concatenate([base, -base]).astype(dtype)
    return np.concatenate([base, np.nextafter(base, dtype(np.inf)), np.nextafter(base, dtype(-np.inf))])


def wide_random(dtype: Any, n: int = 2_000_000) -> np.ndarray:
    rng = np.random.default_rng(2026)
    info = np.finfo(dtype)
    e = rng.integers(info.minexp - info.nmant, info.maxexp, n)
    x = np.ldexp(rng.uniform(1, 2, n), e) * rng.choice([-1.0, 1.0], n)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, info.tiny, -info.tiny, info.max, -info.max]
    with np.errstate(over="ignore"):
        return np.concatenate(
            [x.astype(dtype), np.array(specials, dtype), np.array([info.smallest_subnormal], dtype)]
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_cast_is_ml_dtypes_astype(name: str, dtype: Any) -> None:
    for what, x in (
        ("bf16/f16 patterns", sixteen_bit_patterns(dtype)),
        ("midpoints ± 1 ulp", midpoints(name, dtype)),
        ("wide random", wide_random(dtype)),
    ):
        assert_identical(cast(x, name), reference(x, name), x, f"{name} {np.dtype(dtype).name} {what}")


@pytest.mark.parametrize("name", NAMES)
def test_encode_is_the_ml_dtypes_bit_pattern(name: str) -> None:
    f = FLOAT_FORMATS[name]
    x = np.concatenate([midpoints(name, np.float32), wide_random(np.float32, 100_000)])
    with np.errstate(invalid="ignore", over="ignore"):
        ref = x.astype(mdt(name)).view(f.storage)
    assert np.array_equal(encode(x, name), ref)


def test_ml_dtypes_version_is_the_pinned_one() -> None:
    """The semantics above are those of the pinned ml_dtypes (setup.cfg, conformance extra)."""
    assert ml_dtypes.__version__ == "0.7.0"
