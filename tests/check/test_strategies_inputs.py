"""The tie-dense hypothesis strategies, and refquant's own quantize, cast and masks checked on their draws
against independent exact models (rational arithmetic, sorting by hand)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refquant
from refquant.check.inputs import quantize_input_classes
from refquant.check.strategies import (
    float_format_arrays,
    float_formats,
    masks,
    nm_patterns,
    nm_weights,
    pruning_weights,
    quant_params,
    quantize_arrays,
)
from refquant.floats import FLOAT_FORMATS, cast, decode, encode
from refquant.prune import nm_mask, unstructured_mask
from tests.hostile.exact import fl, rnd

F32 = np.float32
ROUNDINGS = ("half_even", "half_away", "half_up", "floor")


def _model_codes(x: np.ndarray, s: float, z: int, qmin: int, qmax: int, op: str, rounding: str) -> list[int]:
    """``clip(R(fl(x / s)) + z)`` (or ``fl(x * fl(1/s))``) per element, in exact rational arithmetic."""
    sf = Fraction(float(s))
    r = Fraction(fl(1 / sf, np.float32))
    out = []
    for v in x.ravel().tolist():
        y = fl(Fraction(v) / sf if op == "divide" else Fraction(v) * r, np.float32)
        if math.isinf(y):
            out.append(qmax if y > 0 else qmin)
        else:
            out.append(min(max(rnd(Fraction(y), rounding) + z, qmin), qmax))
    return out


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_quantize_matches_an_exact_model_on_tie_dense_draws(data: st.DataObject) -> None:
    p = data.draw(quant_params(format=None, narrow_range=st.booleans()))
    s, z = float(p.scale), int(p.zero_point)
    x = data.draw(
        quantize_arrays(
            scale=p.scale,
            zero_point=z,
            quant_min=p.quant_min,
            quant_max=p.quant_max,
            shape=st.integers(1, 24),
        )
    )
    op = data.draw(st.sampled_from(("divide", "multiply")))
    rounding = data.draw(st.sampled_from(ROUNDINGS))
    q = refquant.quantize(x, p.scale, z, p.quant_min, p.quant_max, op_order=op, rounding=rounding)
    assert q.tolist() == _model_codes(x, s, z, p.quant_min, p.quant_max, op, rounding)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_per_channel_quantize_matches_the_model_channel_by_channel(data: st.DataObject) -> None:
    c = data.draw(st.integers(1, 4))
    p = data.draw(quant_params(format=st.sampled_from(["int8", "uint8", "int4"]), channels=c))
    x = data.draw(
        quantize_arrays(
            scale=p.scale,
            zero_point=p.zero_point,
            quant_min=p.quant_min,
            quant_max=p.quant_max,
            shape=(5, c),
            axis=1,
        )
    )
    q = refquant.quantize(x, p.scale, p.zero_point, p.quant_min, p.quant_max, axis=1)
    for j in range(c):
        want = _model_codes(
            x[:, j], float(p.scale[j]), int(p.zero_point[j]), p.quant_min, p.quant_max, "divide", "half_even"
        )
        assert q[:, j].tolist() == want


def test_quantize_arrays_draw_exact_ties_and_class_values() -> None:
    classes = quantize_input_classes(0.1, 3, 0, 255)
    pool = set(np.concatenate(list(classes.values())).tolist())
    seen_tie = False

    @settings(max_examples=50, deadline=None, database=None)
    @given(quantize_arrays(scale=0.1, zero_point=3, quant_min=0, quant_max=255, shape=16))
    def check(x: np.ndarray) -> None:
        nonlocal seen_tie
        assert x.dtype == F32 and x.shape == (16,) and np.isfinite(x).all()
        inside = (x >= F32(-5 * 0.1)) & (x <= F32(254 * 0.1))
        assert all(v in pool or ok for v, ok in zip(x.tolist(), inside.tolist(), strict=True))
        with np.errstate(all="ignore"):
            y = x / F32(0.1)
            seen_tie |= bool(np.any(np.isfinite(y) & (np.abs(y) < 2**22) & (y - np.floor(y) == 0.5)))

    check()
    assert seen_tie


def test_quantize_arrays_nan_inf_on_request_and_strategy_parameters() -> None:
    @settings(max_examples=40, deadline=None, database=None)
    @given(
        quantize_arrays(
            scale=st.sampled_from([0.1, 0.25]),
            zero_point=0,
            quant_min=-8,
            quant_max=7,
            shape=(3, 3),
            dtype=np.float64,
            nan=True,
            inf=True,
        )
    )
    def check(x: np.ndarray) -> None:
        assert x.dtype == np.float64 and x.shape == (3, 3)

    check()
    with pytest.raises(ValueError, match="scale"):
        _first_draw(quantize_arrays(scale=-1.0, zero_point=0, quant_min=0, quant_max=255, shape=3))
    with pytest.raises(TypeError, match="dtype"):
        quantize_arrays(scale=1.0, zero_point=0, quant_min=0, quant_max=255, shape=3, dtype=np.int8)


def _first_draw(strategy: st.SearchStrategy[Any]) -> None:
    @settings(max_examples=1, database=None)
    @given(strategy)
    def draw(_: Any) -> None:
        pass

    draw()


def _nearest_even(v: float, grid: np.ndarray, codes: np.ndarray, ties_up: bool) -> float:
    """The grid value nearest ``v`` (``|v| <= max``); a tie goes to the even code (up for e8m0)."""
    i = int(np.searchsorted(grid, v))
    if i < grid.size and grid[i] == v:
        return float(grid[i])
    lo, hi = Fraction(float(grid[i - 1])), Fraction(float(grid[i]))
    d = Fraction(v)
    if d - lo != hi - d:
        return float(lo if d - lo < hi - d else hi)
    if ties_up:
        return float(hi)
    return float(grid[i - 1] if codes[i - 1] % 2 == 0 else grid[i])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_cast_matches_round_to_nearest_even_on_the_grid(data: st.DataObject) -> None:
    fmt = data.draw(float_formats().filter(lambda n: FLOAT_FORMATS[n].bits <= 8))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    x = data.draw(float_format_arrays(fmt, shape=st.integers(1, 20), dtype=dtype))
    f = FLOAT_FORMATS[fmt]
    vals = decode(np.arange(2**f.bits), fmt, dtype=np.float64)
    grid = np.unique(vals[np.isfinite(vals)])
    codes = encode(grid, fmt).astype(np.int64) & ~f.sign_mask  # parity of the magnitude's code
    got = cast(x, fmt)
    lo = -f.max_finite if f.signed else f.min_subnormal
    for v, g in zip(x.tolist(), got.tolist(), strict=True):
        if lo <= v <= f.max_finite:
            assert g == _nearest_even(v, grid, codes, ties_up=f.special == "e8m0"), (fmt, v, g)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_masks_and_nm_patterns_shape_and_counts(data: st.DataObject) -> None:
    shape = data.draw(st.tuples(st.integers(1, 5), st.integers(1, 9)))
    sp = data.draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
    m = data.draw(masks(shape, sparsity=sp))
    assert m.shape == shape and m.dtype == bool and int((~m).sum()) == round(sp * m.size)
    n, mm = data.draw(st.sampled_from([(2, 4), (1, 4), (4, 8), (0, 3), (3, 3)]))
    pat = data.draw(nm_patterns(n, mm, shape=shape, axis=1))
    for row in pat:
        for start in range(0, shape[1], mm):
            g = row[start : start + mm]
            assert int(g.sum()) == min(n, g.size)


def _nm_model(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the n largest |w| per group of m along the last axis; on ties the lowest index goes first."""
    keep = np.zeros(w.shape, bool)
    for r in range(w.shape[0]):
        for start in range(0, w.shape[1], m):
            idx = list(range(start, min(start + m, w.shape[1])))
            order = sorted(idx, key=lambda i: (abs(float(w[r, i])), i))
            for i in order[len(idx) - min(n, len(idx)) :]:
                keep[r, i] = True
    return keep


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_nm_mask_breaks_the_boundary_ties_by_index(data: st.DataObject) -> None:
    n, m = data.draw(st.sampled_from([(2, 4), (1, 4), (3, 4), (4, 8)]))
    w = data.draw(nm_weights(n, m, shape=st.tuples(st.integers(1, 4), st.integers(1, 17))))
    np.testing.assert_array_equal(nm_mask(w, n, m), _nm_model(w, n, m))


def _unstructured_model(w: np.ndarray, amount: float, ties: str) -> np.ndarray:
    mags = [abs(float(v)) for v in w.ravel().tolist()]
    k = round(amount * len(mags))
    order = sorted(range(len(mags)), key=lambda i: (mags[i], i))
    pruned = set(order[:k])
    if k and ties == "prune":
        pruned = {i for i in range(len(mags)) if mags[i] <= mags[order[k - 1]]}
    if ties == "keep":
        nxt = mags[order[k]] if k < len(mags) else math.inf
        pruned = {i for i in range(len(mags)) if mags[i] < nxt}
    return np.array([i not in pruned for i in range(len(mags))]).reshape(w.shape)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_unstructured_mask_tie_policies_on_tied_weights(data: st.DataObject) -> None:
    w = data.draw(pruning_weights(st.tuples(st.integers(1, 6), st.integers(1, 6)), levels=3))
    amount = data.draw(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]))
    ties: Any = data.draw(st.sampled_from(["lowest_index", "keep", "prune"]))
    np.testing.assert_array_equal(
        unstructured_mask(w, amount, ties=ties), _unstructured_model(w, amount, ties)
    )


def test_pruning_weights_structured_and_validation() -> None:
    @settings(max_examples=10, deadline=None, database=None)
    @given(pruning_weights((6, 4), axis=0, levels=2))
    def check(w: np.ndarray) -> None:
        norms = np.sum(w.astype(np.float64) ** 2, axis=1)
        assert np.unique(norms).size <= 2

    check()
    with pytest.raises(ValueError, match="n"):
        nm_patterns(5, 4, shape=8)
    with pytest.raises(ValueError, match="sparsity"):
        masks(4, sparsity=1.5)
    with pytest.raises(ValueError, match="format"):
        _first_draw(quant_params(format="int7"))
    with pytest.raises(ValueError, match="channels"):
        quant_params(channels=0)
