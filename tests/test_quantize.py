"""quantize / dequantize / fake_quantize: hand-computed cases and properties."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant import _granularity as gran
from refquant._granularity import CHUNK
from refquant.quantize import dequantize, fake_quantize, quantize


def test_ties_half_even_and_zero_point() -> None:
    # x/s = -1.5, -0.5, 0.5, 1.5, 2.5 -> half-even 0 -> -2, -0, 0, 2, 2; + z = 10
    x = np.array([-0.75, -0.25, 0.25, 0.75, 1.25])
    assert quantize(x, 0.5, 10, 0, 255).tolist() == [8, 10, 10, 12, 12]
    assert quantize(x, 0.5, 10, 0, 255, rounding="half_away").tolist() == [8, 9, 11, 12, 13]
    assert quantize(x, 0.5, 10, 0, 255, rounding="half_up").tolist() == [9, 10, 11, 12, 13]


def test_saturation_inf_and_huge_never_wrap() -> None:
    x = np.array([np.inf, -np.inf, 3e9, -3e9, 1e38, 2.0**31], dtype=np.float32)
    assert quantize(x, 1.0, 0, -128, 127).tolist() == [127, -128, 127, -128, 127, 127]
    assert quantize(x, 1.0, 0, -(2**31), 2**31 - 1).tolist() == [
        2**31 - 1,
        -(2**31),
        2**31 - 1,
        -(2**31),
        2**31 - 1,
        2**31 - 1,
    ]
    # |x| >= 2**31 * scale with a small scale
    assert quantize(np.array([2.0**31 * 1e-3]), 1e-3, 3, 0, 255).tolist() == [255]


def test_signed_zero_and_dtype() -> None:
    y = fake_quantize(np.array([-0.0, 0.0, -0.1], dtype=np.float32), 1.0, 0, -128, 127)
    assert y.dtype == np.float32
    assert np.signbit(y).tolist() == [True, False, True]  # -0.1 -> round -> -0.0 -> -0.0 * 1
    assert quantize([1.0], 1.0, 0, -8, 7).dtype == np.int8
    assert quantize([1.0], 1.0, 0, 0, 2**16 - 1).dtype == np.uint16


def test_nan_policy() -> None:
    x = np.array([1.0, np.nan])
    with pytest.raises(ValueError, match="x contains NaN"):
        quantize(x, 1.0, 3, 0, 255)
    assert quantize(x, 1.0, 3, 0, 255, nan="zero_point").tolist() == [4, 3]
    assert quantize(x, 1.0, 3, 0, 255, nan="quant_min").tolist() == [4, 0]
    assert quantize(x, 1.0, 3, 0, 255, nan="quant_max").tolist() == [4, 255]
    assert fake_quantize(x, 0.5, 3, 0, 255, nan="quant_min").tolist() == [1.0, -1.5]


def test_empty_and_zero_dim() -> None:
    assert quantize(np.zeros((0, 4)), 1.0, 0, 0, 255).shape == (0, 4)
    assert quantize(np.zeros((0, 4)), np.ones(4), np.zeros(4, int), 0, 255, axis=1).shape == (0, 4)
    q = quantize(np.float64(2.4), 1.0, 0, 0, 255)
    assert q.shape == () and int(q) == 2


def test_subnormal_scale() -> None:
    s = np.float32(1e-40)  # subnormal in float32
    x = np.array([3e-40, -1e-40, 1.0], dtype=np.float32)
    # 3e-40 / 1e-40 rounds to 3 (both are subnormal; the float32 ratio is 2.9999..~3);
    # 1.0 / 1e-40 overflows float32 to inf and saturates.
    assert quantize(x, s, 0, -128, 127).tolist() == [3, -1, 127]


def test_op_order_divide_vs_multiply() -> None:
    # A float32 case where the reciprocal changes a tie: x * (1/s) is exactly 127.5,
    # x / s is 127.49999 (the example in fbgemm's QuantUtils comment).
    x = np.array([0.273939937], dtype=np.float32)
    s = 0.00214854861
    assert np.float32(x[0]) * (np.float32(1) / np.float32(s)) == np.float32(127.5)
    assert quantize(x, s, 0, 0, 255, op_order="multiply").tolist() == [128]
    assert quantize(x, s, 0, 0, 255, op_order="divide").tolist() == [127]


def test_zero_point_add_variants_at_an_odd_zero_point() -> None:
    # x/s = -76.5, z = 77: rounding x/s first gives -76 + 77 = 1; adding z first rounds 0.5 -> 0.
    x = np.array([-76.5], dtype=np.float32)
    kw = {"op_order": "multiply"}
    assert quantize(x, 1.0, 77, 0, 255, zero_point_add="exact", **kw).tolist() == [1]
    assert quantize(x, 1.0, 77, 0, 255, zero_point_add="after_rounding", **kw).tolist() == [1]
    assert quantize(x, 1.0, 77, 0, 255, zero_point_add="before_rounding", **kw).tolist() == [0]
    assert quantize(x, 1.0, 77, 0, 255, zero_point_add="fused", **kw).tolist() == [0]
    with pytest.raises(ValueError, match="needs op_order='multiply'"):
        quantize(x, 1.0, 77, 0, 255, zero_point_add="fused")


def test_after_rounding_loses_precision_past_2_24() -> None:
    # R(x/s) = 2**24 + 2 is exact in float32; + z = 1 gives 2**24 + 3, which float32
    # rounds to 2**24 + 4 (ties to even). "exact" keeps 2**24 + 3.
    x = np.array([2.0**24 + 2], dtype=np.float32)
    big = (-(2**31), 2**31 - 1)
    assert quantize(x, 1.0, 1, *big).tolist() == [2**24 + 3]
    assert quantize(x, 1.0, 1, *big, zero_point_add="after_rounding").tolist() == [2**24 + 4]


def test_per_axis_hand_example() -> None:
    x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    # channel 0: s=1, z=0; channel 1: s=2, z=5 -> 1/2=0.5->0, 2/2=1, 3/2=1.5->2, +5
    assert quantize(x, [1.0, 2.0], [0, 5], 0, 255, axis=0).tolist() == [[1, 2, 3], [5, 6, 7]]
    assert quantize(x.T, [1.0, 2.0], [0, 5], 0, 255, axis=1).tolist() == [[1, 5], [2, 6], [3, 7]]


def test_per_block_partial_last_block() -> None:
    x = np.arange(1.0, 8.0)  # 7 values, block 3 -> blocks [1,2,3] [4,5,6] [7]
    q = quantize(x, [1.0, 2.0, 7.0], [0, 0, 0], -128, 127, axis=0, block_size=3)
    # 4/2=2, 5/2=2.5->2, 6/2=3; 7/7=1
    assert q.tolist() == [1, 2, 3, 2, 2, 3, 1]
    y = dequantize(q, [1.0, 2.0, 7.0], [0, 0, 0], axis=0, block_size=3, dtype=np.float64)
    assert y.tolist() == [1.0, 2.0, 3.0, 4.0, 4.0, 6.0, 7.0]


def test_dequantize_float16_rounds_once() -> None:
    # -23150 * 0.11676025390625 = -2702.99988; the nearest float16 is -2702 (spacing 2 there);
    # rounding -23150 to float16 first (-23152, spacing 16) gives -2703.23, which rounds to -2704.
    s = float(np.float16(0.11676025390625))
    assert s == 0.11676025390625
    assert dequantize(np.array([-23150], np.int16), s, 0, dtype=np.float16).tolist() == [-2702.0]
    # 65535 * 2 = 131070 > 65504, float16's max: a clear error, not inf
    with pytest.raises(ValueError, match=r"overflows the output dtype float16: q=\[65535\]"):
        dequantize(np.array([65535], np.uint16), 2.0, 0, dtype=np.float16)


def test_dequantize_hand_example() -> None:
    assert dequantize(np.array([0, 128, 255], np.uint8), 0.5, 128).tolist() == [-64.0, 0.0, 63.5]
    q32 = np.array([-(2**31), 2**31 - 1], np.int32)
    # q - z computed exactly in int64: no overflow with z = 1
    assert dequantize(q32, 1.0, 1, dtype=np.float64).tolist() == [-(2.0**31) - 1, 2.0**31 - 2]


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"scale": 0.0}, ValueError, "scale must be finite and > 0"),
        ({"scale": np.nan}, ValueError, "scale must be finite and > 0"),
        ({"scale": -1.0}, ValueError, "scale must be finite and > 0"),
        ({"zero_point": 300}, ValueError, r"zero_point must lie in \[0, 255\]"),
        ({"zero_point": 1.5}, ValueError, "zero_point must hold integers"),
        ({"zero_point": True}, TypeError, "zero_point must be an integer array"),
        # beyond int64: reported as given, not after a wrapping cast
        ({"zero_point": 1e20}, ValueError, r"zero_point must fit in int64, got \[1e\+20\]"),
        ({"zero_point": np.uint64(2**64 - 1)}, ValueError, "got \\[18446744073709551615\\]"),
        ({"quant_min": 5, "quant_max": 5}, ValueError, "quant_min must be < quant_max"),
        # float64 cannot clip exactly at 2**62 - 1 (it would return the code 2**62)
        (
            {"quant_min": -(2**62), "quant_max": 2**62 - 1},
            ValueError,
            r"must lie within \[-2\*\*53, 2\*\*53\]",
        ),
        ({"quant_min": -(2**53), "quant_max": 1}, ValueError, "span at most 2\\*\\*53"),
        ({"axis": 3}, ValueError, "axis=3 is out of range"),
        ({"scale": [1.0, 2.0]}, ValueError, "scale must have one element"),
        ({"axis": 0, "scale": [1.0]}, ValueError, r"scale must have shape \(2,\)"),
        ({"block_size": 2}, ValueError, "block_size=2 needs an axis"),
        ({"axis": 1, "block_size": 0, "scale": [[1.0]] * 2}, ValueError, "block_size must be >= 1"),
        ({"rounding": "banker"}, ValueError, "rounding must be one of"),
        ({"rounding": "stochastic"}, TypeError, r"rng must be a numpy\.random\.Generator"),
        ({"x": np.array([1j, 2j])}, TypeError, "x must be a real floating-point array"),
        ({"out_dtype": np.int8}, ValueError, "cannot hold"),
        ({"out_dtype": np.float32}, TypeError, "out_dtype must be an integer dtype"),
    ],
)
def test_bad_arguments(kwargs, err, match) -> None:
    args = {"x": np.array([[1.0, 2.0], [3.0, 4.0]]), "scale": 1.0, "zero_point": 0}
    args.update({"quant_min": 0, "quant_max": 255})
    args.update(kwargs)
    x, s, z, lo, hi = (args.pop(k) for k in ("x", "scale", "zero_point", "quant_min", "quant_max"))
    if "axis" in args and isinstance(z, int) and np.ndim(s) > 0:
        z = np.zeros(np.shape(s), int)
    with pytest.raises(err, match=match):
        quantize(x, s, z, lo, hi, **args)


# ---------------------------------------------------------------- properties

ranges = st.sampled_from(
    [(0, 255), (-128, 127), (-127, 127), (-8, 7), (0, 15), (0, 3), (-(2**15), 2**15 - 1)]
)
floats32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@st.composite
def problems(draw, ndim_min=1):
    qmin, qmax = draw(ranges)
    x = draw(
        hnp.arrays(np.float32, hnp.array_shapes(min_dims=ndim_min, max_dims=3, max_side=6), elements=floats32)
    )
    scale = draw(st.floats(2.0**-10, 128.0, width=32))
    zp = draw(st.integers(qmin, qmax))
    return x, scale, zp, qmin, qmax


@given(problems(), st.sampled_from(["half_even", "half_away", "half_up", "floor", "ceil", "trunc"]))
def test_codes_in_range_inputs_untouched_deterministic(p, rounding) -> None:
    x, s, z, qmin, qmax = p
    x.flags.writeable = False
    before = x.copy()
    q1 = quantize(x, s, z, qmin, qmax, rounding=rounding)
    q2 = quantize(x, s, z, qmin, qmax, rounding=rounding)
    assert np.array_equal(x, before)
    assert np.array_equal(q1, q2)
    assert q1.min(initial=qmin) >= qmin and q1.max(initial=qmax) <= qmax


@given(problems())
def test_fake_quantize_idempotent(p) -> None:
    x, s, z, qmin, qmax = p
    y = fake_quantize(x, s, z, qmin, qmax, compute_dtype=np.float64)
    assert np.array_equal(fake_quantize(y, s, z, qmin, qmax, compute_dtype=np.float64), y)


@given(problems())
def test_error_at_most_half_a_step_inside_the_range(p) -> None:
    x, s, z, qmin, qmax = p
    x64 = x.astype(np.float64)
    y = fake_quantize(x64, s, z, qmin, qmax)
    s64 = float(np.float32(s))
    inside = (x64 >= (qmin - z) * s64) & (x64 <= (qmax - z) * s64)
    # half a step, plus the float64 rounding of x/s and of (q - z) * s
    bound = s64 / 2 * (1 + 1e-12) + 4 * np.spacing(np.abs(x64) + s64 * max(abs(qmin), abs(qmax)))
    assert np.all((np.abs(y - x64) <= bound)[inside])


@given(problems(ndim_min=2), st.data())
def test_per_axis_equals_per_tensor_slice_by_slice(p, data) -> None:
    x, _, _, qmin, qmax = p
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    scales = np.array(data.draw(st.lists(st.floats(1e-3, 1e2), min_size=n, max_size=n)))
    zps = np.array(data.draw(st.lists(st.integers(qmin, qmax), min_size=n, max_size=n)))
    q = quantize(x, scales, zps, qmin, qmax, axis=axis)
    for c in range(n):
        sl = np.take(x, c, axis=axis)
        assert np.array_equal(np.take(q, c, axis=axis), quantize(sl, scales[c], zps[c], qmin, qmax))


@given(problems(), st.data())
def test_blocked_equals_per_tensor_block_by_block(p, data) -> None:
    x, _, _, qmin, qmax = p
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    bs = data.draw(st.integers(1, max(1, n)))
    nb = -(-n // bs)
    pshape = (*x.shape[:axis], nb, *x.shape[axis + 1 :])
    scales = data.draw(hnp.arrays(np.float64, pshape, elements=st.floats(1e-3, 1e2)))
    zps = data.draw(hnp.arrays(np.int64, pshape, elements=st.integers(qmin, qmax)))
    q = quantize(x, scales, zps, qmin, qmax, axis=axis, block_size=bs)
    xm, qm = np.moveaxis(x, axis, -1), np.moveaxis(q, axis, -1)
    sm, zm = np.moveaxis(scales, axis, -1), np.moveaxis(zps, axis, -1)
    for idx in np.ndindex(xm.shape[:-1]):
        for b in range(nb):
            block = xm[idx][b * bs : (b + 1) * bs]
            want = quantize(block, sm[idx][b], zm[idx][b], qmin, qmax)
            assert np.array_equal(qm[idx][b * bs : (b + 1) * bs], want)


@given(problems())
def test_dequantize_of_quantize_is_fake_quantize(p) -> None:
    x, s, z, qmin, qmax = p
    assume(x.size > 0)
    q = quantize(x, s, z, qmin, qmax)
    np.testing.assert_array_equal(dequantize(q, s, z, dtype=np.float32), fake_quantize(x, s, z, qmin, qmax))


def test_chunked_equals_unchunked_on_a_large_array() -> None:
    """Arrays of several chunks, per-axis rows longer than a chunk, and blocks across chunk edges."""
    rng = np.random.default_rng(0)
    cols = CHUNK + 1001  # each row is longer than one chunk: the column-split path
    x = rng.standard_normal((3, cols)).astype(np.float32)
    s32 = np.array([0.01, 0.02, 0.03], np.float32)
    whole = quantize(x, s32, [0, 1, 2], -128, 127, axis=0)
    for c, z in enumerate([0, 1, 2]):
        ref = np.clip(np.rint(x[c] / s32[c]) + z, -128, 127)  # ONNX's formula, row by row
        assert np.array_equal(whole[c], ref)
    # per tensor over 3 * cols > 2 chunks
    ref = np.clip(np.rint(x / np.float32(0.02)) + 5, -128, 127)
    assert np.array_equal(quantize(x, 0.02, 5, -128, 127), ref)
    # per axis along the last axis: one-element rows, many rows per chunk, the period 3 not
    # dividing the chunk length
    xt = np.ascontiguousarray(x.T)
    ref = np.clip(np.rint(xt / s32) + np.array([0, 1, 2]), -128, 127)
    assert np.array_equal(quantize(xt, s32, [0, 1, 2], -128, 127, axis=1), ref)
    # per block along both axes, with a partial last block (cols is not a multiple of 1000)
    nb = -(-cols // 1000)
    sb = rng.uniform(0.01, 0.05, (3, nb)).astype(np.float32)
    zb = rng.integers(-5, 6, (3, nb))
    ref = np.clip(
        np.rint(x / np.repeat(sb, 1000, axis=1)[:, :cols]) + np.repeat(zb, 1000, axis=1)[:, :cols], -8, 7
    )
    assert np.array_equal(quantize(x, sb, zb, -8, 7, axis=1, block_size=1000), ref)
    assert np.array_equal(quantize(xt, sb.T, zb.T, -8, 7, axis=0, block_size=1000), ref.T)


def test_stochastic_rounding_reproducible_and_in_range() -> None:
    x = np.linspace(-2, 2, 100_001)
    a = quantize(x, 0.1, 0, -8, 7, rounding="stochastic", rng=np.random.default_rng(1))
    b = quantize(x, 0.1, 0, -8, 7, rounding="stochastic", rng=np.random.default_rng(1))
    assert np.array_equal(a, b) and a.min() >= -8 and a.max() <= 7


@pytest.mark.parametrize("layout", ["tensor", "axis", "block"])
def test_stochastic_draws_one_uniform_per_element_in_c_order(layout: str) -> None:
    """Across chunks, the draws are those of one ``rng.random(x.shape)`` call (the documented order)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, CHUNK // 2 + 7))  # 1.5 chunks: the draws straddle a chunk edge
    n = x.shape[1]
    if layout == "tensor":
        s, z, kw = np.float64(0.1), np.int64(2), {}
    elif layout == "axis":
        s, z, kw = np.array([0.1, 0.2, 0.3]), np.array([0, 1, 2]), {"axis": 0}
    else:
        nb = -(-n // 500)
        s, z, kw = (
            rng.uniform(0.05, 0.3, (3, nb)),
            rng.integers(-3, 4, (3, nb)),
            {"axis": 1, "block_size": 500},
        )
    q = quantize(x, s, z, -8, 7, rounding="stochastic", rng=np.random.default_rng(9), **kw)
    if layout == "axis":
        s, z = s[:, None], z[:, None]
    elif layout == "block":
        s, z = np.repeat(s, 500, axis=1)[:, :n], np.repeat(z, 500, axis=1)[:, :n]
    t = x / s
    u = np.random.default_rng(9).random(x.shape)
    want = np.clip(np.floor(t) + (u < t - np.floor(t)) + z, -8, 7)  # the rule in round_to_integer's docs
    assert np.array_equal(q, want)


@given(problems(), st.data(), st.integers(1, 9))
def test_tiny_chunks_give_the_same_codes(p, data, chunk) -> None:
    """With a chunk of a few elements every chunk edge (row wrap-around, block edges, long rows) is hit."""
    x, _, _, qmin, qmax = p
    axis = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[axis]
    bs = data.draw(st.one_of(st.none(), st.integers(1, max(1, n))))
    if bs is None:
        pshape = (n,)
        expand = lambda v: v.reshape([n if d == axis else 1 for d in range(x.ndim)])  # noqa: E731
    else:
        nb = -(-n // bs)
        pshape = (*x.shape[:axis], nb, *x.shape[axis + 1 :])
        expand = lambda v: np.take(np.repeat(v, bs, axis=axis), range(n), axis=axis)  # noqa: E731
    s = data.draw(hnp.arrays(np.float32, pshape, elements=st.floats(2.0**-4, 16.0, width=32)))
    z = data.draw(hnp.arrays(np.int64, pshape, elements=st.integers(qmin, qmax)))
    with mock.patch.object(gran, "CHUNK", chunk):
        q = quantize(x, s, z, qmin, qmax, axis=axis, block_size=bs)
    want = np.clip(np.rint(x / expand(s)) + expand(z), qmin, qmax)  # float32 division, as the default
    assert np.array_equal(q, want)


# ---------------------------------------------------------------- hostile inputs (issue 8)


def test_multiply_with_an_overflowing_reciprocal_raises() -> None:
    # float32 1/1e-40 = 1e40 > FLT_MAX (3.4e38): x * inf would give the clamp edge (and NaN for x = 0)
    x, s = np.float32(1e-40), np.float32(1e-40)
    for f in (quantize, fake_quantize):
        with pytest.raises(ValueError, match=r"scale must have a finite reciprocal .*float32.*\[1e-40\]"):
            f(x, s, 0, -128, 127, op_order="multiply")
    # the division is exact (x / s = 1); float64's reciprocal 1e40 is finite: x * (1/s) is 1 within an ulp
    assert int(quantize(x, s, 0, -128, 127)) == 1
    assert int(quantize(1e-40, 1e-40, 0, -128, 127, op_order="multiply")) == 1


def test_fused_knob_validated_the_same_way_by_both_functions() -> None:
    for f in (quantize, fake_quantize):
        with pytest.raises(ValueError, match=r"zero_point_add='fused'.*compute_dtype=float64"):
            f(
                [0.25],
                0.1,
                3,
                -128,
                127,
                op_order="multiply",
                zero_point_add="fused",
                compute_dtype=np.float64,
            )
        # float64 x with the default compute dtype is float64 too
        with pytest.raises(ValueError, match="compute_dtype=float64 \\(x's dtype"):
            f(np.array([0.25]), 0.1, 3, -128, 127, op_order="multiply", zero_point_add="fused")
        with pytest.raises(ValueError, match="needs op_order='multiply'"):
            f([0.25], 0.1, 3, -128, 127, zero_point_add="fused")


def test_dequantized_overflow_raises_instead_of_inf() -> None:
    # x = 1e6 is inf in float16 -> saturates at 32767; 32767 * 100 = 3276700 > 65504 (float16's max)
    with pytest.raises(ValueError, match="overflows the compute dtype float16"):
        fake_quantize(np.array([1e6]), 100.0, 0, -32768, 32767, compute_dtype=np.float16)
    # in float32: 1e6 / 100 = 10000, a code; 10000 * 100 = 1e6
    assert fake_quantize(np.array([1e6]), 100.0, 0, -32768, 32767, compute_dtype=np.float32).tolist() == [1e6]
    # float16 x: 65504 / 1000 = 65.504 -> 66; 66 * 1000 = 66000 > 65504
    with pytest.raises(ValueError, match=r"x's dtype float16: x=\[6.55e\+04\], scale=\[1e\+03\]"):
        fake_quantize(np.array([65504], np.float16), 1000.0, 0, -128, 127)


def test_dequantize_int64_and_uint64_codes_do_not_wrap() -> None:
    i64, u64 = np.iinfo(np.int64), np.iinfo(np.uint64)
    # (2**63 - 1) - (-1) = 2**63 exactly; -2**63 - 1 rounds to -2**63 (float64 spacing 2048 there)
    q = np.array([i64.max, i64.min], np.int64)
    assert dequantize(q, 1.0, [-1], dtype=np.float64).tolist()[0] == 2.0**63
    assert dequantize(q, 1.0, 1, dtype=np.float64).tolist()[1] == -(2.0**63)
    # uint64 max - 0 = 2**64 - 1, which rounds to 2**64
    assert dequantize(np.array([u64.max], np.uint64), 1.0, 0, dtype=np.float64).tolist() == [2.0**64]
    # ties at 2**63 round to even: 2**63 + 1024 -> 2**63, 2**63 + 3072 -> 2**63 + 4096
    q = np.array([2**62 + 1024, 2**62 + 3072], np.int64)
    assert dequantize(q, 1.0, -(2**62), dtype=np.float64).tolist() == [2.0**63, 2.0**63 + 4096]
    # float32, rounded once from the exact integer: 2**64 - 1 + 2**62 -> 2**64 + 2**62 (24 bits)
    y = dequantize(np.array([u64.max], np.uint64), 1.0, -(2**62))
    assert y.dtype == np.float32 and y.tolist() == [2.0**64 + 2.0**62]


def test_huge_block_size_is_one_block_without_padding() -> None:
    x = np.ones((2, 4))
    s, z = np.array([[0.5], [0.25]]), np.zeros((2, 1), int)
    for bs in (5, 10**18, 2**63 - 1, 2**70):
        assert quantize(x, s, z, -128, 127, axis=1, block_size=bs).tolist() == [[2] * 4, [4] * 4]
        assert fake_quantize(x, s, z, -128, 127, axis=1, block_size=bs).tolist() == [[1.0] * 4] * 2
    g = gran.resolve(x.shape, 1, 10**18)
    assert gran.broadcast_param(s, g, x.shape).tolist() == [[0.5] * 4, [0.25] * 4]


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"compute_dtype": "bogus"}, TypeError, "compute_dtype must be a float dtype .*got 'bogus'"),
        ({"compute_dtype": np.longdouble}, TypeError, "compute_dtype must be a float dtype"),
        ({"compute_dtype": np.float32(0)}, TypeError, r"compute_dtype .*got np\.float32\(0\.0\)"),
        ({"out_dtype": "bogus"}, TypeError, "out_dtype must be an integer dtype .*got 'bogus'"),
        ({"out_dtype": np.uint8}, ValueError, r"out_dtype uint8 cannot hold .*\[-128, 127\]"),
        (
            {"scale": 1e-50},
            ValueError,
            r"scale \(rounded to the compute dtype\).*\[1e-50\] \(as float32: \[0.0\]",
        ),
        ({"scale": 1e39}, ValueError, r"\[1e\+39\] \(as float32: \[inf\]"),
        ({"scale": None}, TypeError, r"scale must be a real floating-point array.*\[None\]"),
        ({"zero_point": None}, TypeError, "zero_point must be an integer array, got None"),
        (
            {"zero_point": -(2**63) - 1},
            ValueError,
            r"zero_point must fit in int64, got \[-9223372036854775809\]",
        ),
        ({"rng": np.random.RandomState(0)}, TypeError, "rng must be None or a numpy.random.Generator"),
        ({"quant_min": 0, "quant_max": 2**64 - 1}, ValueError, "quant_max=18446744073709551615"),
        ({"x": np.array([1.0], np.longdouble)}, TypeError, "x must be float16, float32 or float64"),
        (
            {"x": [2**70]},
            TypeError,
            r"x must be a real floating-point array, got dtype object: \[1180591620717411303424\]",
        ),
    ],
)
def test_hostile_arguments_named_with_their_value(kwargs, err, match) -> None:
    args = {"x": np.array([0.25, -1.0], np.float32), "scale": 0.1, "zero_point": 3, "quant_min": -128}
    args.update({"quant_max": 127, **kwargs})
    x, s, z, lo, hi = (args.pop(k) for k in ("x", "scale", "zero_point", "quant_min", "quant_max"))
    with pytest.raises(err, match=match):
        quantize(x, s, z, lo, hi, **args)


def test_scalar_scale_of_the_wrong_granularity_is_shown() -> None:
    with pytest.raises(ValueError, match=r"scale must have shape \(3,\).*got shape \(\) \(True\)"):
        quantize(np.ones((3, 3)), True, np.zeros(3, int), -128, 127, axis=1)


def test_dequantize_bad_dtype_and_codes() -> None:
    with pytest.raises(TypeError, match=r"dtype must be a float dtype .*got 'bogus'"):
        dequantize([1], 0.1, 0, dtype="bogus")
    with pytest.raises(TypeError, match=r"q must be an integer array, got dtype float64: \[1.5\]"):
        dequantize([1.5], 0.1, 0)
    assert dequantize([1], 0.5, 0, dtype=None).dtype == np.float32  # None: the default


def test_views_and_read_only_inputs_give_the_contiguous_result() -> None:
    base = np.array([[0.25, -1.0, 7.0, 0.75], [12.5, -0.25, 1e9, -np.inf]], np.float32)
    ro = base.copy()
    ro.flags.writeable = False
    big = np.zeros((2, 8), np.float32)
    big[:, ::2] = base
    strided = big[:, ::2]
    # R(x / 0.5) + 3 with ties to even (0.5 -> 0, 1.5 -> 2, -0.5 -> -0), clipped to [-128, 127]
    want = [[3, 1, 17, 5], [28, 3, 127, -128]]
    for v in (ro, strided, np.asfortranarray(base), base.tolist()):
        assert quantize(v, 0.5, 3, -128, 127).tolist() == want
    assert np.array_equal(strided, base) and not ro.flags.writeable
