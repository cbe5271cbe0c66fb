"""refquant.check.diagnose.diagnose_quantize: every setting and every pair of settings is named.

The actuals are produced on tie-dense inputs, by refquant.quantize itself for
settings that are its keyword arguments and by an independent NumPy model
(written here from the definitions in the docstring, not from the
implementation) for the slips. The diagnosis must name the setting, or an
equivalent one listed in ``EQUIVALENT`` with the reason the input cannot tell
them apart.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from refquant.check import _diagnose_kernels as K
from refquant.check.diagnose import SYSTEMS, diagnose_quantize
from refquant.check.diagnosis import Diagnosis
from refquant.quantize import fake_quantize, quantize

F32, F16 = np.float32, np.float16
KNOBS = ("rounding", "op_order", "zero_point_add", "compute_dtype", "axis")
SLIP_ROUNDINGS = ("floor_plus_half", "floor_abs_plus_half")


# ---------------------------------------------------------------- inputs


def _hits(s: F32, dtype: Any, multiply: bool) -> np.ndarray:
    """Values x (as float32) with fl(x / s) or fl(x * fl(1/s)) in ``dtype`` exactly the float below 1/2."""
    target = np.nextafter(dtype(0.5), dtype(0))
    sd = dtype(s)
    c = dtype(float(target) * float(sd))
    cands = [c]
    for d in (dtype(1), dtype(0)):
        v = c
        for _ in range(40):
            v = np.nextafter(v, d)
            cands.append(v)
    a = np.array(cands, dtype)
    y = a * (dtype(1) / sd) if multiply else a / sd
    return a[y == target].astype(F32)


def tie_dense(s: float) -> np.ndarray:
    """``(k + 1/2) s`` and ``k s`` rounded to float32 with one ulp either side, the floats that give
    ``x/s = 0.49999997`` (float32) and ``0.49976`` (float16) exactly, and values far outside the range."""
    s32 = F32(s)
    k = np.arange(-140, 140, dtype=np.float64)
    t = ((k + 0.5) * float(s32)).astype(F32)
    e = (k * float(s32)).astype(F32)
    up, down = F32(np.inf), F32(-np.inf)
    parts = [t, np.nextafter(t, up), np.nextafter(t, down), e, np.nextafter(e, up), np.nextafter(e, down)]
    h = np.concatenate(
        [_hits(s32, F32, False), _hits(s32, F32, True), _hits(s32, F16, False), _hits(s32, F16, True)]
    )
    parts += [h, -h, np.array([0.4, -0.4, 1.0, -1.0, 1e3, -1e3, 1e7, -1e7, np.inf, -np.inf, 0.0, -0.0], F32)]
    return np.concatenate(parts)


# Three channels: an awkward scale (near-ties only, inexact float32 reciprocal), and two short-mantissa
# scales whose reciprocals are inexact in float32 (63/1024) and in float64 (49/1024: s * fl(1/s) - 1 is
# -0.72 * 2**-53, so x * fl64(1/s) leaves exact ties), with odd zero points of both signs.
SCALES = np.array([0.0037, 49 / 1024, 63 / 1024], F32)
ZPS = np.array([3, -5, 7])
_ROWS = [tie_dense(s) for s in SCALES]
X3 = np.stack([np.resize(r, max(len(r) for r in _ROWS)) for r in _ROWS])  # shape (3, n): per-axis, axis 0


def test_inputs_hold_what_the_settings_need() -> None:
    # some channel has each kind of value the double-rounding slips need (dividing and multiplying)
    for dtype, multiply in [(F32, False), (F32, True), (F16, False), (F16, True)]:
        assert any(_hits(s, dtype, multiply).size for s in SCALES)
    for row in _ROWS:
        assert np.isinf(row).sum() == 2 and (np.abs(row) >= 1e3).sum() >= 4


# ---------------------------------------------------------------- the independent model


def is_knob(settings: dict[str, Any]) -> bool:
    return all(k in KNOBS for k in settings) and settings.get("rounding") not in SLIP_ROUNDINGS


def _ties(y: np.ndarray) -> np.ndarray:
    two = 2 * y.astype(np.float64)  # exact
    return (two == np.rint(two)) & (np.mod(np.rint(two), 2) == 1)


def _round(y: np.ndarray, mode: str) -> np.ndarray:
    """Rounding by definition: ties are where 2y is odd; elsewhere the nearest integer is unambiguous."""
    h = y.dtype.type(0.5)
    if mode == "floor_plus_half":
        return np.floor(y + h)  # in y's dtype, on purpose
    if mode == "floor_abs_plus_half":
        return np.sign(y) * np.floor(np.abs(y) + h)
    if mode in ("floor", "ceil", "trunc"):
        return getattr(np, mode)(y)
    y64 = y.astype(np.float64)
    step = {"half_even": None, "half_away": 0.5 * np.sign(y64), "half_up": 0.5, "half_down": -0.5}[mode]
    return np.rint(y64) if step is None else np.where(_ties(y64), y64 + step, np.rint(y64))


def model(
    x: np.ndarray, s: Any, z: Any, qmin: int, qmax: int, st: dict[str, Any], storage: Any
) -> np.ndarray:
    """The codes an implementation with settings ``st`` computes (int64); s and z broadcast against x."""
    if is_knob(st):
        kw = dict(st)
        ax = kw.pop("axis", 0 if np.ndim(s) else None)
        s1, z1 = np.asarray(s).reshape(-1), np.asarray(z).reshape(-1)
        if ax is None:
            s1, z1 = s1[0], z1[0]
        return quantize(x, s1, z1, qmin, qmax, axis=ax, **kw).astype(np.int64)
    assert "axis" not in st
    cd = np.dtype(st.get("compute_dtype", x.dtype))
    z = np.asarray(z) + st.get("zero_point_offset", 0)
    lo = qmin + {"narrow": 1, "full": -1}.get(st.get("quant_range", ""), 0)
    with np.errstate(all="ignore"):
        xc, sc = x.astype(cd), np.asarray(s).astype(cd)
        if st.get("reciprocal") == "float32":
            y = xc * (F32(1) / np.asarray(s, F32)).astype(cd)
        elif st.get("op_order") == "multiply":
            y = xc * (cd.type(1) / sc)
        else:
            y = xc / sc
        if st.get("zero_point_add") == "before_rounding":
            y = y + z.astype(cd)
        r = _round(np.asarray(y, cd), st.get("rounding", "half_even"))
        cast = st.get("cast_before_clamp")
        if st.get("zero_point_add") == "after_rounding":
            r = (r.astype(cd) + z.astype(cd)).astype(np.float64)
        elif st.get("zero_point_add") != "before_rounding" and st.get("clamp") != "before_zero_point":
            if cast != "int32":
                r = r.astype(np.float64) + z
        if st.get("clamp") == "before_zero_point":
            v = np.clip(r, lo, qmax).astype(np.int64) + z
            return v.astype(storage).astype(np.int64)  # NumPy's integer casts wrap
        if cast in ("storage", "int32"):
            r = _x86_cast(r, np.int32)
            r = r.astype(storage) if cast == "storage" else (r.astype(np.int64) + z).astype(np.int32)
        elif cast == "int64":
            r = _x86_cast(r, np.int64)
        return np.clip(np.asarray(r, np.float64), lo, qmax).astype(np.int64)


def _x86_cast(r: np.ndarray, dtype: Any) -> np.ndarray:
    """C's (intN_t) cast on x86: the type's minimum for NaN, inf and values out of range."""
    info = np.iinfo(dtype)
    big = ~((r >= float(info.min)) & (r < -float(info.min)))
    c = np.where(big, 0, r).astype(dtype)
    c[big] = info.min
    return c


def test_the_model_is_quantize_where_the_settings_are_knobs() -> None:
    # The NumPy model of the slips, with no slip, reproduces refquant.quantize (guards the model itself).
    for mode in ("half_even", "half_away", "half_up", "half_down", "floor", "ceil", "trunc"):
        for op in ("divide", "multiply"):
            st = {"rounding": mode, "op_order": op, "zero_point_offset": 0}
            want = quantize(X3, SCALES, ZPS, -128, 127, axis=0, rounding=mode, op_order=op)
            assert np.array_equal(model(X3, SCALES[:, None], ZPS[:, None], -128, 127, st, np.int8), want)


# ---------------------------------------------------------------- every setting and every pair

ATOMS = K.candidate_atoms(np.dtype(F32), X3.shape, "axis", 0, 3, -128, 127, True, False, np.dtype(np.int8))
SINGLES = [a for a in ATOMS if K.valid_alone(a, np.dtype(F32))]
PAIRS = [h for a, b in itertools.combinations(ATOMS, 2) if (h := K.combine(a, b, np.dtype(F32))) is not None]

# pair -> the equivalent explanation preferred (a knob instead of a slip), and why x cannot tell them apart
EQUIVALENT: dict[str, tuple[dict[str, Any], str]] = {
    "zero_point_add='before_rounding', rounding='floor_plus_half'": (
        {"rounding": "half_up", "zero_point_add": "before_rounding"},
        "floor(v + 0.5) errs only at v = 0.49999997, and v = fl(x/s + z) with an integer z != 0 is a "
        "multiple of ulp(z - 1/2) >= 2**-24 near 1/2: never 0.49999997",
    ),
    "zero_point_add='before_rounding', rounding='floor_abs_plus_half'": (
        {"rounding": "half_away", "zero_point_add": "before_rounding"},
        "likewise at v = +-0.49999997, unreachable once z != 0 is added",
    ),
    "compute_dtype='float64', rounding='floor_plus_half'": (
        {"rounding": "half_up", "compute_dtype": "float64"},
        "in float64 the slip errs only at y = 0.49999999999999994, which no float32 x / s gives here",
    ),
    "compute_dtype='float64', rounding='floor_abs_plus_half'": (
        {"rounding": "half_away", "compute_dtype": "float64"},
        "likewise at y = +-0.49999999999999994",
    ),
}


def _text(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())


def _actual(st: dict[str, Any]) -> np.ndarray:
    return model(X3, SCALES[:, None], ZPS[:, None], -128, 127, st, np.int8).astype(np.int8)


def _check_named(d: Diagnosis, st: dict[str, Any], actual: np.ndarray) -> None:
    assert not d.matches_reference and d.mismatches > 0
    if _text(st) in EQUIVALENT:
        alt, _why = EQUIVALENT[_text(st)]
        assert d.explained_by == alt
        assert any(f.startswith("Equally explained by") and _text(st) in f for f in d.findings), d.findings
        assert np.array_equal(model(X3, SCALES[:, None], ZPS[:, None], -128, 127, alt, np.int8), actual)
    else:
        assert d.explained_by == st, str(d)
    assert d.max_lsb >= 1 and d.unit == "LSB" and d.total == X3.size


@pytest.mark.parametrize("st", SINGLES, ids=_text)
def test_every_single_setting_is_named(st: dict[str, Any]) -> None:
    actual = _actual(st)
    d = diagnose_quantize(X3, actual, SCALES, ZPS, -128, 127, axis=0)
    _check_named(d, st, actual)
    assert d.searched == len(SINGLES)  # a single explains it: no pair is tried


@pytest.mark.parametrize("st", PAIRS, ids=_text)
def test_every_pair_of_settings_is_named(st: dict[str, Any]) -> None:
    actual = _actual(st)
    _check_named(diagnose_quantize(X3, actual, SCALES, ZPS, -128, 127, axis=0), st, actual)


def test_the_search_covers_the_issue_list() -> None:
    keys = {k for a in ATOMS for k in a}
    assert keys == {
        "rounding", "op_order", "zero_point_add", "compute_dtype", "quant_range", "zero_point_offset",
        "clamp", "cast_before_clamp", "reciprocal",
    }  # fmt: skip
    roundings = {a["rounding"] for a in ATOMS if "rounding" in a}
    assert roundings == {"half_away", "half_up", "half_down", "floor", "ceil", "trunc", *SLIP_ROUNDINGS}
    assert {a["cast_before_clamp"] for a in ATOMS if "cast_before_clamp" in a} == {
        "storage",
        "int32",
        "int64",
    }
    assert len(SINGLES) == 20 and len(PAIRS) == 134


# ---------------------------------------------------------------- settings that need their own problem


def test_per_tensor_singles() -> None:
    x = tie_dense(0.0037)
    for st in [{"rounding": "half_away"}, {"op_order": "multiply"}, {"rounding": "floor_plus_half"},
               {"op_order": "multiply", "zero_point_add": "fused"}, {"zero_point_add": "before_rounding"},
               {"cast_before_clamp": "storage"}, {"cast_before_clamp": "int32"},
               {"cast_before_clamp": "int64"}, {"quant_range": "narrow"}]:  # fmt: skip
        actual = model(x, F32(0.0037), 3, -128, 127, st, np.int8).astype(np.int8)
        assert diagnose_quantize(x, actual, 0.0037, 3, -128, 127).explained_by == st


def test_wrong_axis() -> None:
    # a square matrix: the scales fit axis 0 and axis 1; the implementation used axis 1
    rng = np.random.default_rng(3)
    s = np.array([0.0037, 0.011, 0.5, 0.02], F32)
    z = np.array([3, -1, 0, 5])
    x = np.stack([rng.choice(tie_dense(float(v)), 4) for v in s])  # shape (4, 4)
    actual = quantize(x, s, z, -128, 127, axis=1)
    d = diagnose_quantize(x, actual, s, z, -128, 127, axis=0)
    assert d.explained_by == {"axis": 1}
    assert "applied along axis 1, not along axis 0" in str(d)


def test_after_rounding_needs_codes_beyond_float32_integers() -> None:
    # R(x/s) + z rounded to float32: 2**25 + 5 -> 2**25 + 4; 3.5 + 5 tells it from before_rounding
    x = np.array([2.0**25, 2.0**25 + 8, -(2.0**25), 2.0**26, 3.5, -2.5, 0.5], F32)
    qmin, qmax = -(2**31), 2**31 - 1
    actual = quantize(x, 1.0, 5, qmin, qmax, zero_point_add="after_rounding")
    assert actual[0] == 2**25 + 4
    d = diagnose_quantize(x, actual, 1.0, 5, qmin, qmax)
    assert d.explained_by == {"zero_point_add": "after_rounding"}


def test_full_range_when_a_narrow_one_is_given() -> None:
    x = tie_dense(0.0037)
    actual = quantize(x, 0.0037, 0, -128, 127)
    d = diagnose_quantize(x, actual, 0.0037, 0, -127, 127)
    assert d.explained_by == {"quant_range": "full"}
    assert "clamped to [-128, 127], not [-127, 127]" in str(d)


def test_float32_reciprocal_in_a_float64_computation() -> None:
    s = 0.0037
    k = np.arange(-140, 140, dtype=np.float64)
    t = (k + 0.5) * s
    rand = np.random.default_rng(2).uniform(-0.5, 0.5, 200)  # off the ties, to tell trunc/floor/ceil apart
    x = np.concatenate([t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), k * s, rand, [1e3, -1e3]])
    r32 = float(F32(1) / F32(s))
    y = x * r32  # float64
    actual = np.clip(np.rint(y) + 3, -128, 127).astype(np.int8)  # hand-written: x * fl32(1/s) in double
    d = diagnose_quantize(x, actual, s, 3, -128, 127)
    assert d.explained_by == {"reciprocal": "float32"}
    assert d.systems == ()  # systems are named for float32 inputs only
    assert any("float32 inputs only" in f for f in d.findings)


# ---------------------------------------------------------------- the issue's kernel


def _issue_kernel(x: np.ndarray, s: F32, z: int, away: bool) -> np.ndarray:
    """A hand-written int8 kernel: x * (1/s) in float32, rounded with floor(y + 0.5) (or its away form)."""
    y = x * (F32(1) / s)
    r = np.copysign(np.floor(np.abs(y) + F32(0.5)), y) if away else np.floor(y + F32(0.5))
    with np.errstate(invalid="ignore"):
        return np.clip(r + z, -128, 127).astype(np.int8)


@pytest.mark.parametrize("away", [True, False])
def test_the_issue_kernel_is_named_with_its_double_rounding(away: bool) -> None:
    s = F32(0.0037)
    x = tie_dense(float(s))
    hit = _hits(s, F32, True)[0]  # fl(hit * fl(1/s)) = 0.49999997
    assert F32(hit) * (F32(1) / s) == np.nextafter(F32(0.5), F32(0))
    x = np.concatenate([x, [hit, -hit]]).astype(F32)
    actual = _issue_kernel(x, s, 0, away)
    codes = actual[-2:].tolist()
    assert codes == ([1, -1] if away else [1, 0])  # y = +-0.49999997 gives +-1: the double rounding
    d = diagnose_quantize(x, actual, s, 0, -128, 127)
    slip = "floor_abs_plus_half" if away else "floor_plus_half"
    assert d.explained_by == {"op_order": "multiply", "rounding": slip}
    text = str(d)
    assert "floor" in text and "0.49999997" in text and "multiplied by the reciprocal" in text


def test_random_normals_do_not_catch_the_issue_kernel() -> None:
    # the trap of the issue: on 100,000 random normals the kernel matches, and the diagnosis says why
    x = np.random.default_rng(0).standard_normal(100_000).astype(F32)
    s = F32(0.05)
    actual = _issue_kernel(x, s, 0, True)
    d = diagnose_quantize(x, actual, s, 0, -128, 127)
    assert d.matches_reference and d.explained_by == {}
    assert any("tie-dense" in f for f in d.findings)


# ---------------------------------------------------------------- systems, dequantized, NaN


def test_systems_table_rows_are_the_interop_settings() -> None:
    from refquant.interop import onnx as rq_onnx
    from refquant.interop import torch as rq_torch

    x = tie_dense(0.0037)[:-4]  # finite
    rows = {tuple(sorted(s.items())): names for s, names in SYSTEMS}
    torch_fq = rows[(("op_order", "multiply"), ("zero_point_add", "after_rounding"))]
    assert any("fake_quantize_per_tensor_affine" in n for n in torch_fq)
    got = rq_torch.fake_quantize_per_tensor_affine(x, 0.0037, 3, 0, 255)
    want = fake_quantize(x, 0.0037, 3, 0, 255, op_order="multiply", zero_point_add="after_rounding")
    assert np.array_equal(got, want)
    got = rq_torch.quantize_per_tensor(x, 0.0037, 3, "quint8")
    assert np.array_equal(got, quantize(x, 0.0037, 3, 0, 255, op_order="multiply", zero_point_add="fused"))
    onnx_q = rq_onnx.quantize_linear(x, F32(0.0037), np.uint8(3))
    assert np.array_equal(onnx_q, quantize(x, 0.0037, 3, 0, 255))
    assert any("ONNX" in n for n in rows[()])


def test_matching_reference_names_every_system_that_agrees() -> None:
    x = tie_dense(0.0037)
    d = diagnose_quantize(x, quantize(x, 0.0037, 3, -128, 127), 0.0037, 3, -128, 127)
    assert d.matches_reference and d.explained_by == {} and d.mismatches == 0 and d.searched == 0
    assert d.systems == SYSTEMS[0][1]  # exact ties and odd z: only the divide-and-round-to-even systems
    assert str(d).startswith(f"quantize: all {x.size} elements match the reference.")


@pytest.mark.parametrize("st", [{"op_order": "multiply", "zero_point_add": "after_rounding"},
                                {"rounding": "half_up"}, {"zero_point_add": "before_rounding"}])  # fmt: skip
def test_dequantized_floats_are_mapped_back_to_codes(st: dict[str, Any]) -> None:
    x = tie_dense(0.0037)
    y = fake_quantize(x, 0.0037, 3, -128, 127, **st)
    d = diagnose_quantize(x, y, 0.0037, 3, -128, 127, dequantized=True)
    want = {"op_order": "multiply"} if "op_order" in st else st  # after_rounding: same codes for int8
    assert d.explained_by == want
    assert "actual value" in d.examples[0]


def test_dequantized_values_off_the_grid_are_reported() -> None:
    x = np.float32([0.0, 0.1, 0.2, 0.3])
    y = fake_quantize(x, 0.1, 0, -128, 127)
    y[2] += F32(0.04)  # 0.4 step off the grid
    d = diagnose_quantize(x, y, 0.1, 0, -128, 127, dequantized=True)
    assert d.explained_by is None and d.mismatches == 1
    assert d.max_error == pytest.approx(0.4, abs=1e-5)
    assert any("not on the grid" in f for f in d.findings)


def test_nan_inputs_are_left_out_and_reported() -> None:
    x = np.float32([np.nan, 0.5, 1.5, np.nan, -2.5])
    actual = np.array([-128, 1, 2, -128, -3], np.int8)  # half_away, NaN -> quant_min
    d = diagnose_quantize(x, actual, 1.0, 0, -128, 127)
    assert d.total == 3 and d.explained_by == {"rounding": "half_away"}
    assert any(
        "2 NaN inputs were not compared; actual holds -128 (quant_min) there." == f for f in d.findings
    )


# ---------------------------------------------------------------- when nothing explains it


def test_unexplained_findings_and_examples_by_hand() -> None:
    # Only x = 2.5 (an exact tie, reference 2) came out as 4: no setting gives that.
    x = np.float32([0.5, 1.25, 2.5, -3.0, 7.0])
    actual = np.array([0, 1, 4, -3, 7], np.int8)
    d = diagnose_quantize(x, actual, 1.0, 0, -128, 127)
    assert d.explained_by is None and d.mismatches == 1 and d.max_error == 2.0 and d.searched > 18
    assert "All 1 differing elements are exact ties: x/s is exactly k + 1/2." in d.findings
    assert "All have x > 0." in d.findings
    assert "actual is larger than the reference everywhere it differs, by 2 LSB." in d.findings
    ex = d.examples[0]
    assert ex["index"] == 2 and ex["x"] == "2.5" and ex["actual"] == 4 and ex["reference"] == 2
    assert ex["x/s exact"] == "2.5" and ex["x/s - nearest tie"] == "0 (an exact tie)"
    assert "No searched setting reproduces it exactly" in str(d)


def test_unexplained_near_ties_in_one_channel() -> None:
    s = np.array([0.0037, 0.011], F32)
    x = np.stack([tie_dense(0.0037)[:600], tie_dense(0.011)[:600]])
    actual = quantize(x, s, [3, 3], -128, 127, axis=0)
    actual[1] = quantize(x[1], s[1], 3, -128, 127, rounding="half_away", op_order="multiply",
                         zero_point_add="before_rounding")  # fmt: skip
    d = diagnose_quantize(x, actual, s, [3, 3], -128, 127, axis=0)
    assert d.explained_by is None  # three settings in one channel: beyond pairs
    assert "All are in channel 1 of axis 0 (of 2 channels)." in d.findings
    exact = d.examples[0]["x/s exact"]
    assert exact.endswith("...") or "." in exact
    gap = float(d.examples[0]["x/s - nearest tie"])
    assert abs(gap) < 1e-5  # near-ties: x = fl32((k + 1/2) s)


def test_one_block_and_out_of_range_codes() -> None:
    x = np.tile(np.float32([0.25, -0.5, 1.0, 3.0]), (2, 2))  # shape (2, 8), blocks of 4 along axis 1
    s = np.full((2, 2), 0.5, F32)
    z = np.zeros((2, 2), np.int64)
    actual = quantize(x, s, z, -8, 7, axis=1, block_size=4).astype(np.int8)
    actual[1, 4:] = [9, 9, 9, 9]
    d = diagnose_quantize(x, actual, s, z, -8, 7, axis=1, block_size=4)
    assert d.explained_by is None
    assert any(f.startswith("All are in one block: block (1, 1)") for f in d.findings), d.findings
    assert any("actual codes lie outside [quant_min, quant_max] = [-8, 7]" in f for f in d.findings)


# ---------------------------------------------------------------- the text a person reads


def test_str_reads_without_the_docs() -> None:
    x = tie_dense(0.0037)
    x = x[np.abs(x) < 1e6]  # TFLite's int32 cast of |x/s| >= 2**31 would differ from the saturation here
    actual = quantize(x, 0.0037, 3, -128, 127, rounding="half_away")
    text = str(diagnose_quantize(x, actual, 0.0037, 3, -128, 127))
    lines = text.splitlines()
    assert lines[0].startswith("quantize: ")
    assert lines[0].endswith("elements differ from the reference (largest difference 1 LSB).")
    assert lines[1] == "Explained exactly by: rounding='half_away'."
    assert lines[2] == "Systems with these settings: TFLite reference AffineQuantize."
    assert "rounded away from zero (the reference rounds them to the even code)" in lines[3]
    assert lines[4] == (
        "TFLite reference AffineQuantize use rounding='half_away', cast_before_clamp='int32'; "
        "on this x, cast_before_clamp='int32' changes nothing."
    )
    assert lines[5] == "Examples:" and "x/s (float32)=" in lines[6] and "x/s - nearest tie=" in lines[6]


# ---------------------------------------------------------------- arguments


def test_bad_arguments_name_the_argument() -> None:
    x = np.float32([0.5, 1.5])
    q = np.array([0, 2], np.int8)
    with pytest.raises(ValueError, match=r"actual must have x's shape \(2,\), got shape \(3,\)"):
        diagnose_quantize(x, [0, 1, 2], 1.0, 0, -128, 127)
    with pytest.raises(TypeError, match="actual must be an array of integer codes or floats"):
        diagnose_quantize(x, np.array([1j, 2j]), 1.0, 0, -128, 127)
    with pytest.raises(ValueError, match=r"actual holds non-integer floats .* dequantized=True"):
        diagnose_quantize(x, [0.5, 1.5], 1.0, 0, -128, 127)
    with pytest.raises(TypeError, match="dequantized must be a bool, got 1"):
        diagnose_quantize(x, q, 1.0, 0, -128, 127, dequantized=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale"):
        diagnose_quantize(x, q, -1.0, 0, -128, 127)
    with pytest.raises(ValueError, match="zero_point"):
        diagnose_quantize(x, q, 1.0, 300, -128, 127)
    with pytest.raises(ValueError, match="axis"):
        diagnose_quantize(x, q, [1.0, 1.0], [0, 0], -128, 127, axis=3)
    with pytest.raises(ValueError, match="actual must be a"):
        diagnose_quantize(x, [[1, 2], [3]], 1.0, 0, -128, 127)


def test_inputs_untouched_deterministic_and_edge_shapes() -> None:
    x = tie_dense(0.0037)
    actual = quantize(x, 0.0037, 3, -128, 127, op_order="multiply")
    x.flags.writeable = False
    actual.flags.writeable = False
    x0, a0 = x.copy(), actual.copy()
    d1 = diagnose_quantize(x, actual, 0.0037, 3, -128, 127)
    d2 = diagnose_quantize(x, actual, 0.0037, 3, -128, 127)
    assert d1 == d2 and np.array_equal(x, x0) and np.array_equal(actual, a0)
    assert d1.explained_by == {"op_order": "multiply"}
    empty = diagnose_quantize(np.zeros(0, F32), np.zeros(0, np.int8), 1.0, 0, -128, 127)
    assert empty.matches_reference and empty.total == 0 and empty.systems == ()
    zero_d = diagnose_quantize(F32(2.5), np.int8(3), 1.0, 0, -128, 127)
    assert zero_d.explained_by == {"rounding": "half_away"} and zero_d.examples[0]["index"] == ()
    floats = diagnose_quantize(np.float32([2.5]), np.float32([3.0]), 1.0, 0, -128, 127)  # float codes
    assert floats.explained_by == {"rounding": "half_away"}
