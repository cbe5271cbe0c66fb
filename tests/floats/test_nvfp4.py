"""refquant.floats.nvfp4: NVIDIA's two-level NVFP4 recipe.

Expected values are worked by hand from the recipe (per-tensor scale
``amax / 2688``, block scale ``e4m3(clamp(amax_b / 6 / g, 2**-6, 448))``,
elements ``e2m1(clamp(x * (1/g) / s_b, -6, 6))``); torchao is the peer in
tests/conformance/test_mx_conformance.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refquant.floats import decode
from refquant.floats.nvfp4 import nvfp4_dequantize, nvfp4_per_tensor_scale, nvfp4_quantize

f32 = np.float32
E2M1 = np.unique(np.abs(decode(np.arange(16, dtype=np.uint8), "float4_e2m1fn")))
E4M3 = decode(np.arange(256, dtype=np.uint8), "float8_e4m3fn")
E4M3 = np.unique(E4M3[np.isfinite(E4M3) & (E4M3 >= 2.0**-6)])


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, f32).view(np.uint32)


def test_single_level_example() -> None:
    # g = 1: s = 12 / 6 = 2; r = 0.5; 0.25 is the tie between 0 and 0.5 -> 0 (even)
    q = nvfp4_quantize(f32([[0.5, -1.0, 3.0, 12.0]]), block_size=4, per_tensor_scale=1.0)
    assert q.per_tensor_scale.shape == () and q.per_tensor_scale == 1.0
    assert q.block_scales.tolist() == [[2.0]] and q.elements.tolist() == [[0.0, -0.5, 1.5, 6.0]]
    assert nvfp4_dequantize(q.per_tensor_scale, q.block_scales, q.elements, block_size=4).tolist() == [
        [0.0, -1.0, 3.0, 12.0]
    ]


def test_per_tensor_scale_rule() -> None:
    assert nvfp4_per_tensor_scale(2688.0) == 1.0 and nvfp4_per_tensor_scale(5376) == 2.0
    assert nvfp4_per_tensor_scale(1.0) == f32(1.0) / f32(2688.0)
    assert nvfp4_per_tensor_scale(0.0) == 2.0**-121
    # 2688 * 2**-121 is the smallest amax the floor leaves alone
    assert nvfp4_per_tensor_scale(2688 * 2.0**-121) == 2.0**-121
    assert nvfp4_per_tensor_scale(2688 * 2.0**-122) == 2.0**-121
    x = np.array([[1.0, -5376.0, np.inf, np.nan]], f32)
    assert nvfp4_quantize(x, block_size=2).per_tensor_scale == 2.0  # finite amax: inf and NaN left out
    for bad in (-1.0, np.inf, np.nan, [1.0, 2.0]):
        with pytest.raises(ValueError, match="amax"):
            nvfp4_per_tensor_scale(bad)


def test_two_level_largest_block_uses_448() -> None:
    # amax 12 -> g = 12/2688; the block with amax 12 gets (2 / g) = 448 (within float32 rounding)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 32)).astype(f32)
    x[2, 5] = 12.0
    q = nvfp4_quantize(x)
    assert q.block_scales[2, 0] == 448.0 and q.elements[2, 5] == 6.0
    assert np.isin(q.block_scales, E4M3).all() and np.isin(np.abs(q.elements), E2M1).all()


def test_block_scale_clamps() -> None:
    # g = 1: amax 6e-6 -> 1e-6 clamps up to 2**-6 (e4m3's smallest normal): the elements 6e-6 * 64 -> 0
    # amax 6000 -> 1000 clamps to 448: 6000 / 448 = 13.4 saturates to 6
    x = f32([[6e-6, -3e-6, 0.0, 1e-7], [6000.0, -10.0, 448.0, 1000.0]])
    q = nvfp4_quantize(x, block_size=4, per_tensor_scale=1.0)
    assert q.block_scales.tolist() == [[2.0**-6], [448.0]]
    assert q.elements.tolist() == [[0.0, -0.0, 0.0, 0.0], [6.0, -0.0, 1.0, 2.0]]


def test_zero_tensor_and_zero_blocks() -> None:
    q = nvfp4_quantize(np.zeros((2, 16), f32))
    assert q.per_tensor_scale == 2.0**-121 and (q.block_scales == 2.0**-6).all()
    assert (q.elements == 0).all() and not np.isnan(q.elements).any()
    y = nvfp4_dequantize(*q)
    assert (y == 0).all()
    x = f32([[-0.0] * 16 + [1.0] * 16])
    q = nvfp4_quantize(x)
    assert q.block_scales[0, 0] == 2.0**-6 and np.signbit(q.elements[0, :16]).all()


def test_nan_and_inf_blocks() -> None:
    x = np.ones((1, 48), f32)
    x[0, 3] = np.nan
    x[0, 20] = -np.inf
    q = nvfp4_quantize(x, per_tensor_scale=1.0)
    assert np.isnan(q.block_scales[0, 0]) and q.block_scales[0, 1] == 448.0
    # the inf block: s = 448, r = 1/448: -inf -> -6, 1/448 -> 0
    assert q.elements[0, 20] == -6.0 and q.elements[0, 21] == 0.0
    # a block of ones: s = e4m3(1/6) = 11/64 (1/6 = 10.67/64, step 1/64 there); 64/11 = 5.8 -> 6
    assert q.block_scales[0, 2] == 11 / 64 and (q.elements[0, 32:] == 6.0).all()
    y = nvfp4_dequantize(*q)
    assert np.isnan(y[0, :16]).all() and y[0, 20] == -6 * 448 and (y[0, 32:] == 6 * 11 / 64).all()


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_axis_partial_blocks_and_inputs_untouched(axis: int) -> None:
    x = np.random.default_rng(0).standard_normal((20, 21)).astype(f32)
    x0 = x.copy()
    q = nvfp4_quantize(x, axis=axis)
    assert np.array_equal(x, x0)
    r = nvfp4_quantize(np.moveaxis(x, axis, -1))
    assert np.array_equal(q.elements, np.moveaxis(r.elements, -1, axis))
    assert np.array_equal(q.block_scales, np.moveaxis(r.block_scales, -1, axis))
    n = x.shape[axis]
    assert q.block_scales.shape[axis] == -(-n // 16)
    tail = nvfp4_quantize(np.take(x, range(16, n), axis=axis), axis=axis, per_tensor_scale=q.per_tensor_scale)
    assert np.array_equal(np.take(q.elements, range(16, n), axis=axis), tail.elements)
    y = nvfp4_dequantize(*q, axis=axis)
    assert np.array_equal(y, np.moveaxis(nvfp4_dequantize(*r), -1, axis))


def test_float64_and_validation() -> None:
    q = nvfp4_quantize(np.array([[1.0, 2.0]]), block_size=2)
    assert q.elements.dtype == q.block_scales.dtype == q.per_tensor_scale.dtype == np.float32
    with pytest.raises(ValueError, match="1e"):
        nvfp4_quantize(np.array([[1.0, 1e300]]))
    for bad in (0.0, -1.0, np.inf, np.nan, 2.0**-122, [1.0, 1.0]):
        with pytest.raises(ValueError, match="per_tensor_scale"):
            nvfp4_quantize(np.ones((1, 4)), per_tensor_scale=bad)
    nvfp4_quantize(np.ones((1, 4)), per_tensor_scale=2.0**-121)
    with pytest.raises(ValueError, match="block_scales"):
        nvfp4_dequantize(1.0, [[-1.0]], np.ones((1, 4)))
    with pytest.raises(ValueError, match=r"\(1, 1\)"):
        nvfp4_dequantize(1.0, [[1.0, 1.0]], np.ones((1, 4)))
    with pytest.raises(ValueError, match="per_tensor_scale"):
        nvfp4_dequantize(0.0, [[1.0]], np.ones((1, 4)))
    with pytest.raises(TypeError, match="rng"):
        nvfp4_quantize(np.ones((1, 4)), rounding="stochastic")


def test_chunked_path_draws_as_one_call() -> None:
    x = np.random.default_rng(2).standard_normal((300, 256)).astype(f32)
    a = nvfp4_quantize(x, rounding="stochastic", rng=np.random.default_rng(5))
    b = nvfp4_quantize(np.asfortranarray(x), rounding="stochastic", rng=np.random.default_rng(5))
    assert np.array_equal(_bits(a.elements), _bits(b.elements))
    assert not np.array_equal(a.elements, nvfp4_quantize(x).elements)


@given(
    p=hnp.arrays(np.float32, (3, 16), elements=st.sampled_from([float(v) for v in E2M1])),
    sign=hnp.arrays(np.bool_, (3, 16)),
    s=hnp.arrays(np.float32, (3, 1), elements=st.sampled_from([float(v) for v in E4M3])),
)
def test_values_on_the_nvfp4_grid_round_trip(p: np.ndarray, sign: np.ndarray, s: np.ndarray) -> None:
    """x = P * s with one |P| = 6 per block and g = 1 quantizes back to (s, P) exactly."""
    p = np.where(sign, -p, p).astype(f32)
    p[:, 0] = 6.0
    x = (p * s).astype(f32)
    q = nvfp4_quantize(x, per_tensor_scale=1.0)
    assert np.array_equal(q.block_scales, s) and np.array_equal(_bits(q.elements), _bits(p))
    assert np.array_equal(nvfp4_dequantize(*q), x)


@given(
    x=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=2, max_side=40),
        elements=st.floats(-(2.0**60), 2.0**60, width=32),
    )
)
def test_error_bound_and_determinism(x: np.ndarray) -> None:
    """|x - x̂| <= half an e2m1 step of the block's grid, plus the recipe's float32 roundings."""
    q = nvfp4_quantize(x)
    assert np.array_equal(_bits(nvfp4_quantize(x).elements), _bits(q.elements))
    unit = np.repeat(q.per_tensor_scale * q.block_scales, 16, axis=-1)[..., : x.shape[-1]].astype(np.float64)
    v = np.abs(x / unit)
    i = np.clip(np.searchsorted(E2M1, v), 1, E2M1.size - 1)
    step = (E2M1[i] - E2M1[i - 1]) * unit
    err = np.abs(x.astype(np.float64) - nvfp4_dequantize(*q))
    ok = v <= 6 * (1 - 2.0**-20)  # not saturated
    assert np.all(err[ok] <= step[ok] / 2 + np.abs(x[ok]) * 2.0**-21 + 2.0**-140)
