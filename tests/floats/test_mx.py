"""refquant.floats.mx: OCP MX v1.0 block quantization.

Expected values are worked by hand from the spec's rule (section 6.3,
``X = 2**(floor(log2 amax) - emax)``, elements cast with saturation) and the
element grids (every code decoded by :func:`refquant.floats.decode`); torchao
is the peer in tests/conformance/test_mx_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.floats import decode
from refquant.floats.mx import MX_ELEMENT_FORMATS, MX_SCALE_MODES, mx_dequantize, mx_quantize

f32 = np.float32
# (emax, largest value, fraction bits of the top binade): OCP MX v1.0 tables 2-5, 7
SPEC = {
    "float8_e4m3fn": (8, 448.0, 3),
    "float8_e5m2": (15, 57344.0, 2),
    "float6_e2m3fn": (2, 7.5, 3),
    "float6_e3m2fn": (4, 28.0, 2),
    "float4_e2m1fn": (2, 6.0, 1),
    "int8": (0, 127 / 64, 6),
}
CODE_BITS = {"float8_e4m3fn": 8, "float8_e5m2": 8, "float6_e2m3fn": 6, "float6_e3m2fn": 6, "float4_e2m1fn": 4}


def _grid(fmt: str) -> np.ndarray:
    """The non-negative finite values of an element type, sorted."""
    if fmt == "int8":
        return np.arange(128) / 64
    g = decode(np.arange(2 ** CODE_BITS[fmt], dtype=np.uint8), fmt).astype(np.float64)
    return np.unique(g[np.isfinite(g) & (g >= 0)])


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, f32).view(np.uint32)


# ----------------------------------------------------------------------------- hand-computed examples


def test_mxfp4_spec_example() -> None:
    # amax 7 = 1.75 * 2**2: E = 2 - emax(2) = 0; 0.3 is nearer 0.5 than 0; 7 clips to 6
    s, p = mx_quantize(f32([1.0, -3.0, 0.3, 7.0]), "float4_e2m1fn", block_size=4)
    assert s.tolist() == [1.0] and p.tolist() == [1.0, -3.0, 0.5, 6.0]
    assert s.dtype == p.dtype == np.float32


def test_mxfp8_e4m3_example() -> None:
    # amax 1: E = 0 - 8; 0.3 * 256 = 76.8 lies in [64, 128) where e4m3's step is 8: 80
    s, p = mx_quantize(f32([1.0, 0.3, -0.01, 0.0]), "float8_e4m3fn", block_size=4)
    assert s.tolist() == [2.0**-8]
    # -0.01 * 256 = -2.56: step 0.25 in [2, 4) -> -2.5
    assert p.tolist() == [256.0, 80.0, -2.5, 0.0]


def test_mxint8_example() -> None:
    # emax 0: amax 1.99 -> E = 0; k = round(64 x): 0.64 -> 1, 127.36 -> 127
    s, p = mx_quantize([1.0, -0.5, 0.01, 1.99], "int8", block_size=4)
    assert s.tolist() == [1.0] and (p * 64).tolist() == [64.0, -32.0, 1.0, 127.0]
    # 1.995 * 64 = 127.68 rounds to 128, which clamps to 127 (symmetric, never -128)
    s, p = mx_quantize([1.995, -1.995, -0.0, float("nan")], "int8", block_size=2)
    assert s[0] == 1.0 and np.isnan(s[1]) and (p[:2] * 64).tolist() == [127.0, -127.0]
    assert _bits(p[2:]).tolist() == [0, 0]  # no -0 in int8; its NaN block's NaN gives 0


@pytest.mark.parametrize("fmt", MX_ELEMENT_FORMATS)
def test_clipping_per_mode_matches_the_table(fmt: str) -> None:
    """floor clips a maximum with mantissa above max / 2**emax; even below 2 - 2**-(mbits+1)."""
    emax, top, mb = SPEC[fmt]
    t_floor, t_even = top / 2.0**emax, 2 - 2.0 ** -(mb + 1)
    cases = {  # amax mantissa m (amax = m * 2**emax * 2**10): (clips under floor, under even)
        (t_floor + t_even) / 2: (True, True),
        (t_even + 2) / 2: (True, False),
        t_floor: (False, False),
        1.0: (False, False),
    }
    for m, (clip_floor, clip_even) in cases.items():
        x = np.array([m * 2.0**emax * 2.0**10, 2.0**10])
        # the exponent of X: floor 10; even +1 when m rounds up to 2; ceil +1 unless m == 1;
        # rceil: ceil(log2(m * 2**emax / max)) = ceil(log2(m / t_floor)), 0 or 1
        want = {"floor": 10, "even": 10 + (m >= t_even), "ceil": 10 + (m > 1), "rceil": 10 + (m > t_floor)}
        for mode, clips in (("floor", clip_floor), ("even", clip_even), ("ceil", False), ("rceil", False)):
            s, p = mx_quantize(x, fmt, block_size=2, scale_mode=mode)
            assert s.tolist() == [2.0 ** want[mode]], (m, mode)
            assert (x[0] / s[0] > top) == clips, (m, mode)
            if clips:
                assert p[0] == top


@pytest.mark.parametrize("mode", MX_SCALE_MODES)
def test_rceil_and_ceil_exponents(mode: str) -> None:
    # amax 5 with fp4 (max 6, emax 2): floor 2-2=0; ceil 3-2=1; even: 1.25 does not round up -> 0;
    # rceil: 5/6 in (0.5, 1] -> ceil(log2) = 0
    want = {"floor": 1.0, "ceil": 2.0, "even": 1.0, "rceil": 1.0}[mode]
    s, _ = mx_quantize([5.0, 1.0], "float4_e2m1fn", block_size=2, scale_mode=mode)
    assert s.tolist() == [want]
    # amax 6.5 = 1.625 * 4: rceil 6.5/6 > 1 -> 2; even 1.625 < 1.75 -> 1
    s, _ = mx_quantize([6.5], "float4_e2m1fn", block_size=1, scale_mode=mode)
    assert s.tolist() == [{"floor": 1.0, "ceil": 2.0, "even": 1.0, "rceil": 2.0}[mode]]


@pytest.mark.parametrize("mode", MX_SCALE_MODES)
def test_zero_blocks(mode: str) -> None:
    x = f32([[0.0, -0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    s, p = mx_quantize(x, "float8_e4m3fn", block_size=4, scale_mode=mode)
    assert s[0, 0] == 2.0**-127 and _bits(p[0, :4]).tolist() == _bits(x[0, :4]).tolist()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("mode", MX_SCALE_MODES)
def test_nan_and_inf_blocks(bad: float, mode: str) -> None:
    x = f32([1.0, -2.0, bad, 0.5, 1.0, 3.0, -1.0, 0.25])
    s, p = mx_quantize(x, "float8_e4m3fn", block_size=4, scale_mode=mode)
    assert np.isnan(s[0]) and np.isfinite(s[1])
    assert p[[0, 1, 3]].tolist() == [0.0, -0.0, 0.0] and np.signbit(p[1])
    y = mx_dequantize(s, p, block_size=4)
    assert np.isnan(y[:4]).all() and np.isfinite(y[4:]).all()
    assert s[1] == mx_quantize(x[4:], "float8_e4m3fn", block_size=4, scale_mode=mode).scales[0]


def test_e8m0_limits() -> None:
    # float64 beyond float32: 1e300 -> E clamps to 127, the elements saturate
    s, p = mx_quantize([1e300, -1e300, 1.0], "float8_e4m3fn", block_size=3)
    assert s.tolist() == [2.0**127] and p.tolist() == [448.0, -448.0, 0.0]
    with pytest.raises(ValueError, match="overflows float32"):  # 448 * 2**127 is beyond float32
        mx_dequantize(s, p, block_size=3)
    assert mx_dequantize(s.astype(np.float64), p, block_size=3).tolist() == [
        448 * 2.0**127,
        -448 * 2.0**127,
        0,
    ]
    # a block far below 2**-127 * 2**8: E clamps to -127, values keep x * 2**127
    # (2**-13 and 2**-10, the tie between 0 and e4m3's smallest 2**-9: both 0)
    s, p = mx_quantize([2.0**-140, 2.0**-137], "float8_e4m3fn", block_size=2)
    assert s.tolist() == [2.0**-127] and p.tolist() == [0.0, 0.0]
    s, p = mx_quantize([2.0**-130, 3 * 2.0**-133], "float8_e4m3fn", block_size=2)
    assert s.tolist() == [2.0**-127] and p.tolist() == [2.0**-3, 3 * 2.0**-6]
    # the largest float32: floor(log2) = 127, E = 119 for e4m3
    s, p = mx_quantize(f32([3.4028235e38]), "float8_e4m3fn", block_size=1)
    assert s.tolist() == [2.0**119] and p.tolist() == [448.0]


def test_directed_rounding_of_values_below_float32() -> None:
    # amax 2**20: E = 12; 1e-44 * 2**-12 is below float32's smallest subnormal, yet positive:
    # ceil takes it to e4m3's smallest value 2**-9, floor takes -1e-44 to -2**-9
    x = f32([2.0**20, 1e-44, -1e-44, 0.0])
    assert mx_quantize(x, "float8_e4m3fn", block_size=4, rounding="ceil").elements.tolist() == [
        256.0, 2.0**-9, -0.0, 0.0
    ]  # fmt: skip
    assert mx_quantize(x, "float8_e4m3fn", block_size=4, rounding="floor").elements.tolist() == [
        256.0, 0.0, -(2.0**-9), 0.0
    ]  # fmt: skip


def test_float64_is_rounded_once() -> None:
    # 1 + 2**-4 + 2**-30: amax -> E = -8, x * 256 = 272 + 2**-22, just above the 256/288 tie -> 288;
    # through float32 it is 1.0625 exactly, 272, a tie that goes to the even 256
    x = np.array([1 + 2.0**-4 + 2.0**-30])
    assert mx_quantize(x, "float8_e4m3fn", block_size=1).elements.tolist() == [288.0]
    assert mx_quantize(x.astype(f32), "float8_e4m3fn", block_size=1).elements.tolist() == [256.0]
    assert mx_quantize(x, "float8_e4m3fn", block_size=1, convention="torchao").elements.tolist() == [256.0]


def test_partial_last_block_and_block_longer_than_axis() -> None:
    x = np.array([[0.5, 1.0, -3.0, 0.1, 5.0], [0.0, 0.0, 0.0, 0.0, -0.01]])
    s, p = mx_quantize(x, "float4_e2m1fn", block_size=4)
    assert s.shape == (2, 2) and p.shape == x.shape
    s_tail, p_tail = mx_quantize(x[:, 4:], "float4_e2m1fn", block_size=4)
    assert np.array_equal(s[:, 1:], s_tail) and np.array_equal(p[:, 4:], p_tail)
    s1, p1 = mx_quantize(x, "float4_e2m1fn", block_size=10**18)
    s5, p5 = mx_quantize(x, "float4_e2m1fn", block_size=5)
    assert np.array_equal(s1, s5) and np.array_equal(p1, p5) and s1.shape == (2, 1)
    assert mx_dequantize(s1, p1, block_size=10**18).shape == x.shape


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_axis_equals_moveaxis(axis: int) -> None:
    x = np.random.default_rng(0).standard_normal((5, 7, 9)).astype(f32)
    s, p = mx_quantize(x, "float6_e3m2fn", block_size=4, axis=axis)
    s_ref, p_ref = mx_quantize(np.moveaxis(x, axis, -1), "float6_e3m2fn", block_size=4)
    assert np.array_equal(s, np.moveaxis(s_ref, -1, axis)) and np.array_equal(p, np.moveaxis(p_ref, -1, axis))
    y = mx_dequantize(s, p, block_size=4, axis=axis)
    assert np.array_equal(y, np.moveaxis(mx_dequantize(s_ref, p_ref, block_size=4), -1, axis))


def test_empty_and_dtypes() -> None:
    s, p = mx_quantize(np.zeros((3, 0), f32), "int8")
    assert s.shape == (3, 0) and p.shape == (3, 0)
    s, p = mx_quantize(np.zeros((0, 5)), "int8", block_size=2)
    assert s.shape == (0, 3)
    s, p = mx_quantize(np.ones(4, np.float16), "float8_e5m2", block_size=4)
    assert s.dtype == p.dtype == np.float32
    assert mx_dequantize(s.astype(np.float64), p, block_size=4).dtype == np.float64


def test_stochastic_rounding_is_seeded() -> None:
    x = np.random.default_rng(1).standard_normal(1000)
    a = mx_quantize(x, "float4_e2m1fn", rounding="stochastic", rng=np.random.default_rng(5)).elements
    b = mx_quantize(x, "float4_e2m1fn", rounding="stochastic", rng=np.random.default_rng(5)).elements
    rn = mx_quantize(x, "float4_e2m1fn").elements
    assert np.array_equal(a, b) and not np.array_equal(a, rn)
    with pytest.raises(TypeError, match="rng"):
        mx_quantize(x, "float4_e2m1fn", rounding="stochastic")


@pytest.mark.parametrize("fmt", ["float4_e2m1fn", "int8"])
def test_chunked_path_draws_as_one_call(fmt: str) -> None:
    """A C-contiguous input runs chunk by chunk, a Fortran-ordered one in one piece: same draws."""
    x = np.random.default_rng(2).standard_normal((300, 256)).astype(f32)  # 76800 values: several chunks
    a = mx_quantize(x, fmt, rounding="stochastic", rng=np.random.default_rng(5))
    b = mx_quantize(np.asfortranarray(x), fmt, rounding="stochastic", rng=np.random.default_rng(5))
    assert np.array_equal(a.scales, b.scales) and np.array_equal(_bits(a.elements), _bits(b.elements))


@pytest.mark.parametrize(
    ("kw", "exc", "shows"),
    [
        ({"elem_format": "float8_e4m3"}, ValueError, "float8_e4m3"),
        ({"scale_mode": "round"}, ValueError, "round"),
        ({"convention": "spec"}, ValueError, "spec"),
        ({"block_size": 0}, ValueError, "0"),
        ({"block_size": 2.0}, TypeError, "2.0"),
        ({"axis": 3}, ValueError, "axis=3"),
        ({"rounding": "nearest"}, ValueError, "nearest"),
        ({"x": 1.0}, ValueError, "1.0"),
    ],
)
def test_bad_arguments(kw: dict, exc: type, shows: str) -> None:
    args = {"x": np.ones((2, 4)), "elem_format": "int8", **kw}
    with pytest.raises(exc, match=shows):
        mx_quantize(args.pop("x"), args.pop("elem_format"), **args)


@pytest.mark.parametrize("bad", [3.0, 0.0, -1.0, np.inf, 2.0**-128, 2.0**128])
def test_dequantize_rejects_non_e8m0_scales(bad: float) -> None:
    with pytest.raises(ValueError, match="scales"):
        mx_dequantize([1.0, bad], np.ones(4), block_size=2)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        mx_dequantize([1.0], np.ones(4), block_size=2)


# ----------------------------------------------------------------------------- properties

arrays = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
    elements=st.floats(-(2.0**100), 2.0**100, width=32, allow_subnormal=True),
)


@given(
    x=arrays,
    fmt=st.sampled_from(MX_ELEMENT_FORMATS),
    mode=st.sampled_from(MX_SCALE_MODES),
    bs=st.integers(1, 40),
)
def test_error_at_most_half_a_step(x: np.ndarray, fmt: str, mode: str, bs: int) -> None:
    x0 = x.copy()
    s, p = mx_quantize(x, fmt, block_size=bs, scale_mode=mode)
    assert np.array_equal(_bits(x), _bits(x0))  # input untouched
    m, _ = np.frexp(s)
    assert np.all(m == 0.5) and np.all((s >= 2.0**-127) & (s <= 2.0**127))  # powers of two
    g = _grid(fmt)
    assert np.isin(np.abs(p), g).all()  # on the element grid
    xs = x.astype(np.float64) / np.repeat(s, bs, axis=-1)[..., : x.shape[-1]]
    unclipped = np.abs(xs) <= g[-1]
    # the step of the grid at |v|: the gap between the grid values around it
    i = np.clip(np.searchsorted(g, np.abs(xs)), 1, g.size - 1)
    step = g[i] - g[i - 1]
    assert np.all(np.abs(np.abs(xs) - np.abs(p))[unclipped] <= step[unclipped] / 2)
    if mode == "floor":  # the spec's rule is idempotent on its own output
        y = mx_dequantize(s, p, block_size=bs)
        again = mx_quantize(y, fmt, block_size=bs, scale_mode=mode)
        assert np.array_equal(again.scales, s) and np.array_equal(again.elements, p)


@given(x=arrays, fmt=st.sampled_from(MX_ELEMENT_FORMATS), mode=st.sampled_from(MX_SCALE_MODES))
def test_deterministic_and_conventions_agree_on_normal_blocks(x: np.ndarray, fmt: str, mode: str) -> None:
    a = mx_quantize(x, fmt, scale_mode=mode)
    b = mx_quantize(x, fmt, scale_mode=mode)
    assert np.array_equal(_bits(a.scales), _bits(b.scales)) and np.array_equal(
        _bits(a.elements), _bits(b.elements)
    )
    t = mx_quantize(x, fmt, scale_mode=mode, convention="torchao")
    ok = (a.scales >= 2.0**-100) & (a.scales <= 2.0**100) & (mode != "rceil")  # away from the departures
    assert np.array_equal(a.scales[ok], t.scales[ok])
    el = np.repeat(ok, 32, axis=-1)[..., : x.shape[-1]]
    assert np.array_equal(_bits(a.elements)[el], _bits(t.elements)[el])
