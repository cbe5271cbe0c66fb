"""refquant.check.diagnose_cast: every knob and every pair of knobs is named from tie-dense inputs.

Actuals are made by this file's own model of each setting: refquant's cast
with the rounding and saturation it is asked for (cast itself is checked
against ml_dtypes in tests/floats and tests/conformance), then plain NumPy
for the slips the knobs describe (inf and NaN replacements, flushes, the
sign of zero, a first rounding to float32 / float16 / bfloat16). The real
systems (ml_dtypes, torch, ONNX Runtime) are in
tests/conformance/test_check_diagnose_other_conformance.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from refquant.check.diagnose_cast import diagnose_cast
from refquant.check.diagnosis import Diagnosis
from refquant.floats import cast, decode, float_format

ROUNDINGS = ("half_away", "half_up", "half_down", "floor", "ceil", "trunc")
SINGLES: list[dict[str, Any]] = (
    [{"rounding": r} for r in ROUNDINGS]
    + [{"saturate": True}, {"inf": "saturate"}, {"nan": "zero"}, {"nan": "+max"}, {"nan": "-max"}]
    + [{"flush": "outputs"}, {"flush": "inputs"}, {"negative_zero": "dropped"}]
)
FULL = {
    "rounding": "half_even",
    "saturate": False,
    "inf": "follow",
    "nan": "nan",
    "flush": "none",
    "negative_zero": "kept",
    "via": None,
}


def tie_dense(fmt: str, dtype: Any = np.float32) -> np.ndarray:
    """Every value of the format, every midpoint and one ulp of ``dtype`` either side, and the specials."""
    f = float_format(fmt)
    vals = decode(np.arange(2**f.bits), fmt, dtype=np.float64)
    v = np.unique(vals[np.isfinite(vals)])
    mids = (v[:-1] + v[1:]) / 2
    if f.bits > 8:  # 16-bit formats: every 61st value and midpoint (and the largest) is enough
        v, mids = np.append(v[::61], v[-1]), mids[::61]
    big = f.max_finite
    specials = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        big * 1.03,
        -big * 1.03,
        big * 4,
        f.min_subnormal / 4,
        -f.min_subnormal / 4,
        f.min_normal * 0.999,
        -f.min_normal * 0.97,
    ]
    up, down = dtype(np.inf), dtype(-np.inf)
    grid, half = v.astype(dtype), mids.astype(dtype)
    near = [
        np.nextafter(half, up),
        np.nextafter(half, down),
        np.nextafter(grid, up),
        np.nextafter(grid, down),
    ]
    # float16 keeps these off the midpoint (or grid value), bfloat16 rounds them onto it
    between = [a * (1 + d) for a in (mids, v) for d in (2.0**-10, -(2.0**-10))]
    parts = [v, mids, *near, *between, specials]
    with np.errstate(over="ignore"):
        return np.concatenate([np.asarray(p, np.float64).astype(dtype) for p in parts])


def double_rounding(fmt: str) -> np.ndarray:
    """float64 values just off the format's midpoints: float32 rounds them onto the midpoint."""
    f = float_format(fmt)
    v = decode(np.arange(2**f.bits), fmt, dtype=np.float64)
    v = np.unique(v[np.isfinite(v)])
    mids = ((v[:-1] + v[1:]) / 2)[:: 61 if f.bits > 8 else 1]
    off = np.abs(mids) * 2.0**-30
    return np.concatenate([tie_dense(fmt, np.float64), mids + off, mids - off])


def model(x: np.ndarray, fmt: str, setting: dict[str, Any]) -> np.ndarray:
    """What an implementation with ``setting`` returns (this file's own reading of the knobs)."""
    s = {**FULL, **setting}
    f = float_format(fmt)
    v = x
    with np.errstate(over="ignore", invalid="ignore"):
        if s["via"] == "float32":
            v = x.astype(np.float32)
        elif s["via"] == "float16":
            v = x.astype(np.float16).astype(x.dtype)
        elif s["via"] == "bfloat16":
            v = cast(x, "bfloat16")
        if s["flush"] == "inputs":
            v = np.where(np.abs(v) < f.min_normal, np.copysign(np.zeros((), v.dtype), v), v)
        y = cast(v, fmt, saturate=s["saturate"], rounding=s["rounding"]).astype(np.float64)
        if s["inf"] == "saturate":
            y = np.where(np.isinf(v), np.copysign(f.max_finite, v), y)
        elif s["inf"] == "propagate":
            y = np.where(np.isinf(v), cast(v, fmt, rounding=s["rounding"]).astype(np.float64), y)
        if s["nan"] != "nan":  # (formats without NaN keep cast's zero of the opposite sign)
            y = np.where(np.isnan(x), {"zero": 0.0, "+max": f.max_finite, "-max": -f.max_finite}[s["nan"]], y)
        if s["flush"] == "outputs":
            sub = (y != 0) & (np.abs(y) < f.min_normal)
            y = np.where(sub, 0.0 if f.special == "fnuz" else np.copysign(0.0, y), y)
        if s["negative_zero"] == "dropped":
            y = np.where(y == 0, 0.0, y)
    return y


def same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.all(((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))))


def settings_for(x: np.ndarray, fmt: str) -> list[dict[str, Any]]:
    """Every single knob value (via where the dtypes allow it), and every pair of two knobs."""
    f = float_format(fmt)
    via = ["float32"] if x.dtype == np.float64 else []
    via += [v for v, m in (("float16", 10), ("bfloat16", 7)) if f.mantissa_bits < m]
    singles = [*SINGLES, *({"via": v} for v in via)]
    pairs = []
    for a, b in itertools.combinations(singles, 2):
        pair = {**a, **b}
        if len(pair) == 2 and not (pair.get("saturate") and pair.get("inf") == "saturate"):
            pairs.append(pair)
    pairs += [{"saturate": True, "inf": "propagate"}]
    return singles + pairs


def check_named(x: np.ndarray, fmt: str, setting: dict[str, Any], outs: list[Any] | None = None) -> Diagnosis:
    """The diagnosis' explanation is true, no more complex than ``setting``, and ``setting`` when unique.

    ``outs``: (setting, model output) of every setting, to find the other settings that explain it.
    """
    actual = model(x, fmt, setting)
    d = diagnose_cast(x, actual, fmt)
    assert d.explained_by is not None, (setting, str(d))
    assert same(model(x, fmt, d.explained_by), actual), (setting, d.explained_by)
    assert len(d.explained_by) <= len(setting), (setting, d.explained_by)
    if outs is None:
        outs = [(s, model(x, fmt, s)) for s in settings_for(x, fmt)]
    explaining = [s for s, y in outs if len(s) <= len(setting) and same(y, actual)]
    if explaining == [setting]:
        assert d.explained_by == setting  # the only setting of its size that explains it is named
    return d


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2"])
def test_every_setting_and_pair_is_named(fmt: str) -> None:
    x = tie_dense(fmt)
    settings = settings_for(x, fmt)
    assert len(settings) > 100
    outs = [(s, model(x, fmt, s)) for s in settings]
    exact = 0
    for setting, y in outs:
        if same(y, cast(x, fmt)):
            continue  # a no-op on these inputs
        d = check_named(x, fmt, setting, outs)
        exact += d.explained_by == setting
    assert exact >= 0.9 * len(settings)  # nearly every setting is named as such, not by an equivalent


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "bfloat16", "float16"])
def test_double_rounding_through_float32_and_pairs(fmt: str) -> None:
    x = double_rounding(fmt)
    d = check_named(x, fmt, {"via": "float32"})
    assert d.explained_by == {"via": "float32"}
    for other in [{"saturate": True}, {"rounding": "half_away"}, {"flush": "outputs"}, {"nan": "zero"}]:
        check_named(x, fmt, {"via": "float32", **other})


@pytest.mark.parametrize("fmt", ["float8_e4m3fnuz", "float8_e5m2fnuz", "float4_e2m1fn", "float6_e3m2fn"])
def test_single_knobs_on_other_kinds_of_format(fmt: str) -> None:
    x = tie_dense(fmt)
    for setting in [*SINGLES, {"via": "float16"}]:
        if not same(model(x, fmt, setting), cast(x, fmt)):
            check_named(x, fmt, setting)


def test_reference_matches_and_reports_what_was_not_exercised() -> None:
    x = np.array([0.3, -1.7, 2.5], np.float32)
    d = diagnose_cast(x, cast(x, "float8_e4m3fn"), "float8_e4m3fn")
    assert d.matches_reference and d.explained_by == {} and d.mismatches == 0 and d.total == 3
    assert "ml_dtypes x.astype(ml_dtypes.float8_e4m3fn)" in d.systems
    text = str(d)
    assert text.startswith("cast: all 3 elements match the reference.")
    assert "NaN" in text and "overflow" in text  # untested aspects are said


def test_saturation_names_the_saturating_systems() -> None:
    x = np.array([1.0, 500.0, -1e6, np.inf, np.nan], np.float32)
    d = diagnose_cast(x, np.array([1.0, 448.0, -448.0, 448.0, np.nan]), "float8_e4m3fn")
    assert d.explained_by == {"saturate": True} and d.mismatches == 3 and d.max_error == np.inf
    assert d.systems == (
        "ONNX Cast saturate=1 (onnx.reference)",
        "ONNX Runtime Cast saturate=1",
        "PyTorch tensor.to(torch.float8_e4m3fn)",
    )
    # float64 inputs: ONNX Runtime and torch round to float32 first; here no value tells that apart
    d64 = diagnose_cast(x.astype(np.float64), np.array([1.0, 448.0, -448.0, 448.0, np.nan]), "float8_e4m3fn")
    assert (
        "ONNX Runtime Cast saturate=1" in d64.systems
        and "PyTorch tensor.to(torch.float8_e4m3fn)" in d64.systems
    )


def test_float64_double_rounding_names_ort_and_torch() -> None:
    x = double_rounding("float8_e5m2")
    d = diagnose_cast(x, model(x, "float8_e5m2", {"via": "float32"}), "float8_e5m2")
    assert d.explained_by == {"via": "float32"}
    assert d.systems == ("ONNX Runtime Cast saturate=0", "PyTorch tensor.to(torch.float8_e5m2)")
    assert d.max_error == 1.0  # one grid step
    bf = double_rounding("bfloat16")
    d = diagnose_cast(bf, model(bf, "bfloat16", {"via": "float32"}), "bfloat16")
    assert d.systems == ("ONNX Runtime Cast to bfloat16", "PyTorch tensor.to(torch.bfloat16)")


def test_unexplained_ties_say_so() -> None:
    x = tie_dense("float8_e4m3fn")
    ref = cast(x, "float8_e4m3fn").astype(np.float64)
    lo = cast(x, "float8_e4m3fn", rounding="floor", saturate=True).astype(np.float64)
    hi = cast(x, "float8_e4m3fn", rounding="ceil", saturate=True).astype(np.float64)
    tie = np.isfinite(x) & (
        cast(x, "float8_e4m3fn", rounding="half_up") != cast(x, "float8_e4m3fn", rounding="half_down")
    )
    # ties to odd: the neighbour whose last code bit is 1 (not a knob of refquant)
    from refquant.floats import encode

    odd_lo = (encode(lo, "float8_e4m3fn") & 1) == 1
    actual = np.where(tie, np.where(odd_lo, lo, hi), ref)
    d = diagnose_cast(x, actual, "float8_e4m3fn")
    assert d.explained_by is None and not d.matches_reference
    assert any("lie exactly halfway between two grid values (ties)" in s for s in d.findings), d.findings
    assert any(s.startswith("Closest setting:") for s in d.findings)
    assert "No searched setting reproduces it exactly" in str(d)
    assert d.examples and {"index", "x", "actual", "reference", "ulps"} <= set(d.examples[0])


def test_readable_report() -> None:
    x = np.array([1.0625, -1.0625, 1.1875, 300.0, 1e-3], np.float32)
    actual = cast(x, "float8_e4m3fn", rounding="half_away")
    text = str(diagnose_cast(x, actual, "float8_e4m3fn"))
    assert (
        text.splitlines()[0] == "cast: 2 of 5 elements differ from the reference (largest difference 1 ULP)."
    )
    assert "Explained exactly by: rounding='half_away'." in text
    assert "index=1, x=-1.0625, actual=-1.125, reference=-1.0, ulps=1, explained=-1.125" in text


def test_shapes_dtypes_and_validation() -> None:
    x = (np.arange(12, dtype=np.float32).reshape(3, 4) - 6) / 7
    d = diagnose_cast(x, cast(x, "bfloat16", rounding="trunc"), "bfloat16")
    assert d.explained_by == {"rounding": "trunc"} and isinstance(d.examples[0]["index"], tuple)
    assert diagnose_cast(
        np.float16([0.1, 0.2]), cast(np.float32([0.1, 0.2]), "float8_e5m2"), "float8_e5m2"
    ).matches_reference
    assert diagnose_cast(np.zeros(0), np.zeros(0), "float8_e5m2").matches_reference
    assert diagnose_cast(np.float32(1.0625), np.float32(1.0), "float8_e4m3fn").matches_reference
    with pytest.raises(ValueError, match="actual must have the shape of x"):
        diagnose_cast(x, np.zeros(3), "bfloat16")
    with pytest.raises(TypeError, match="decode codes first"):
        diagnose_cast(x, np.zeros(x.shape, np.uint8), "bfloat16")
    with pytest.raises((ValueError, TypeError), match="fmt"):
        diagnose_cast(x, x, "float7")
    with pytest.raises(ValueError, match="max_examples"):
        diagnose_cast(x, x, "bfloat16", max_examples=-1)


def test_inputs_untouched_and_deterministic() -> None:
    x = tie_dense("float8_e4m3fn")
    actual = model(x, "float8_e4m3fn", {"rounding": "ceil", "nan": "zero"})
    x0, a0 = x.copy(), actual.copy()
    d1, d2 = diagnose_cast(x, actual, "float8_e4m3fn"), diagnose_cast(x, actual, "float8_e4m3fn")
    assert np.array_equal(x, x0, equal_nan=True) and np.array_equal(actual, a0, equal_nan=True)
    assert d1 == d2 and d1.explained_by == {"rounding": "ceil", "nan": "zero"}
