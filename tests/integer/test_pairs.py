"""Unit and property tests of refquant.integer.pairs (the int16 pair saturation of ``vpmaddubsw``).

Expected values are worked out by hand in the comments, or computed by
:func:`scalar_model` below: plain Python integers, a loop over the pairs
``(2i, 2i + 1)`` of K padded with a zero, ``max(-32768, min(32767, s))`` per
pair, and the zero-point terms added afterwards, written from the instruction's
definition (Intel SDM, PMADDUBSW: "adds adjacent pairs of signed words ... packs
the saturated results") and MLAS's ``MlasGemmQuantOperation``, not from the
implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant.integer import (
    integer_matmul,
    max_unsaturated_activation,
    max_unsaturated_weight,
    saturated_pairs,
    saturating_pair_matmul,
)
from refquant.integer import pairs as pairs_mod

U8, I8 = np.uint8, np.int8


def scalar_model(a: list[list[int]], b: list[list[int]], za: Any = 0, zb: Any = 0) -> list[list[int]]:
    """The kernels' int32 results in Python ints (no wrap): ``a`` M x K, ``b`` K x N, zb per column or one."""
    m, k, n = len(a), len(b), len(b[0]) if b else 0
    zbs = list(zb) if isinstance(zb, (list, tuple)) else [zb] * n
    zas = list(za) if isinstance(za, (list, tuple)) else [za] * m
    out = []
    for r in range(m):
        row = []
        for c in range(n):
            total = 0
            for i in range(0, k, 2):
                s = a[r][i] * b[i][c]
                if i + 1 < k:
                    s += a[r][i + 1] * b[i + 1][c]
                total += max(-32768, min(32767, s))
            col = [b[i][c] for i in range(k)]
            total += -zbs[c] * sum(a[r]) - zas[r] * sum(col) + k * zas[r] * zbs[c]
            row.append(total)
        out.append(row)
    return out


def count_model(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    k = len(b)
    return [
        [
            sum(
                1
                for i in range(0, k, 2)
                if not -32768 <= a[r][i] * b[i][c] + (a[r][i + 1] * b[i + 1][c] if i + 1 < k else 0) <= 32767
            )
            for c in range(len(b[0]))
        ]
        for r in range(len(a))
    ]


def pair(a0: int, a1: int, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array([[a0, a1]], U8), np.array([[b0], [b1]], I8)


# --------------------------------------------------------------------------- hand-computed cases


@pytest.mark.parametrize(
    "a0, a1, b0, b1, want, saturates",
    [
        (255, 255, -128, -128, -32768, True),  # -65280 clipped
        (255, 255, 127, 127, 32767, True),  # 64770 clipped
        (255, 191, 127, 2, 32767, False),  # 32385 + 382 = 32767: reached, not exceeded
        (254, 191, 126, 4, 32767, True),  # 32004 + 764 = 32768: exceeded by one
        (128, 128, -128, -128, -32768, False),  # -16384 * 2 = -32768: reached
        (128, 145, -128, -113, -32768, True),  # -16384 - 16385 = -32769: exceeded by one
        (255, 0, -128, -128, -32640, False),  # one product never saturates
        (255, 255, 127, -128, -255, False),  # opposite signs cancel
    ],
)
def test_one_pair_at_and_beyond_the_int16_limits(
    a0: int, a1: int, b0: int, b1: int, want: int, saturates: bool
) -> None:
    a, b = pair(a0, a1, b0, b1)
    assert saturating_pair_matmul(a, b).tolist() == [[want]]
    assert saturated_pairs(a, b).tolist() == [[int(saturates)]]
    exact = a0 * b0 + a1 * b1
    assert integer_matmul(a, b).tolist() == [[exact]]
    assert (want != exact) == saturates


def test_the_pairs_are_adjacent_even_odd_indices() -> None:
    # (0, 1) and (2, 3): -32640 each, no saturation; pairing (1, 2) would give -65280 -> -32768
    a = np.array([[0, 255, 255, 0]], U8)
    b = np.array([[0], [-128], [-128], [0]], I8)
    assert saturating_pair_matmul(a, b).tolist() == [[-65280]]
    assert saturated_pairs(a, b).tolist() == [[0]]
    # shifted by one: (255, 255) now one pair
    a = np.array([[255, 255, 0, 0]], U8)
    assert saturating_pair_matmul(a, b).tolist() == [[-32640]]  # 255*0 + 255*-128, then 255*-128 + 0*0
    b = np.array([[-128], [-128], [0], [0]], I8)
    assert saturating_pair_matmul(a, b).tolist() == [[-32768]]


@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_odd_k_is_zero_padded(k: int) -> None:
    # k // 2 full pairs of 255 * 127 * 2 = 64770 -> 32767, then one lone 255 * 127 = 32385
    a, b = np.full((1, k), 255, U8), np.full((k, 1), 127, I8)
    want = (k // 2) * 32767 + 32385
    assert saturating_pair_matmul(a, b).tolist() == [[want]]
    assert saturated_pairs(a, b).tolist() == [[k // 2]]


def test_zero_points_are_applied_exactly_after_the_saturation() -> None:
    # S = -32768; -zb sum a = 3 * 510; -za sum b = -10 * -256; K za zb = 2 * 10 * -3
    a, b = pair(255, 255, -128, -128)
    assert saturating_pair_matmul(a, b, 10, -3).tolist() == [[-32768 + 1530 + 2560 - 60]]
    # the exact (a - 10)(b + 3) = 245 * -125 * 2 = -61250; the model differs by clip(s) - s = 32512
    assert integer_matmul(a, b, 10, -3).tolist() == [[-61250]]  # -28738 - (-61250) = -32768 - (-65280)
    # centring first (a - za = 245, b - zb = -125: 2 * -30625 = -61250) would not saturate at all


def test_per_column_and_per_row_zero_points_and_batches() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(200, 256, (2, 3, 5)).astype(U8)
    b = rng.choice(np.array([-128, -100, 100, 127], I8), (5, 4))
    zb, za = [0, -128, 127, 5], [[0, 255, 7], [1, 2, 3]]
    got = saturating_pair_matmul(a, b, za, zb)
    assert got.shape == (2, 3, 4) and got.dtype == np.int32
    for t in range(2):
        want = scalar_model(a[t].tolist(), b.tolist(), za[t], zb)
        assert got[t].tolist() == want
    # a batch of b broadcast against a 2-D a
    bb = np.stack([b, -b - 1]).astype(I8)  # -(-128) - 1 = 127: stays in int8
    got = saturating_pair_matmul(a[0], bb, 4, 0)
    assert [g.tolist() for g in got] == [scalar_model(a[0].tolist(), x.tolist(), 4, 0) for x in bb]


def test_one_dimensional_operands_follow_matmul() -> None:
    a, b = np.array([255, 255, 9], U8), np.array([[-128, 1], [-128, 1], [3, 1]], I8)
    assert saturating_pair_matmul(a, b).tolist() == [-32768 + 27, 519]
    assert saturating_pair_matmul(a, np.array([-128, -128, 3], I8)).tolist() == -32768 + 27
    assert saturated_pairs(a, np.array([-128, -128, 3], I8)).tolist() == 1


def test_empty_operands() -> None:
    assert saturating_pair_matmul(np.zeros((0, 3), U8), np.zeros((3, 2), I8)).shape == (0, 2)
    assert saturating_pair_matmul(np.zeros((2, 0), U8), np.zeros((0, 2), I8), 5, 3).tolist() == [[0, 0]] * 2
    assert saturated_pairs(np.zeros((2, 0), U8), np.zeros((0, 2), I8)).tolist() == [[0, 0]] * 2


# --------------------------------------------------------------------------- the model, by property

extreme_u8 = st.one_of(st.sampled_from([0, 1, 127, 128, 129, 200, 254, 255]), st.integers(0, 255))
extreme_i8 = st.one_of(
    st.sampled_from([-128, -127, -65, -64, 0, 63, 64, 65, 126, 127]), st.integers(-128, 127)
)


@st.composite
def operands(draw: Any) -> tuple[list[list[int]], list[list[int]], Any, Any]:
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    a = [[draw(extreme_u8) for _ in range(k)] for _ in range(m)]
    b = [[draw(extreme_i8) for _ in range(n)] for _ in range(k)]
    za = draw(st.one_of(st.integers(0, 255), st.lists(st.integers(0, 255), min_size=m, max_size=m)))
    zb = draw(st.one_of(st.integers(-128, 127), st.lists(st.integers(-128, 127), min_size=n, max_size=n)))
    return a, b, za, zb


@settings(max_examples=300, deadline=None)
@given(operands())
def test_matches_the_scalar_model(case: tuple[list[list[int]], list[list[int]], Any, Any]) -> None:
    a, b, za, zb = case
    x, y = np.array(a, U8), np.array(b, I8)
    assert saturating_pair_matmul(x, y, za, zb).tolist() == scalar_model(a, b, za, zb)
    assert saturated_pairs(x, y).tolist() == count_model(a, b)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.integers(1, 40), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_agrees_with_integer_matmul_when_no_pair_can_saturate(m: int, k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (m, k)).astype(U8)
    za, zb = int(rng.integers(0, 256)), int(rng.integers(-128, 128))
    w7 = rng.integers(-64, 65, (k, n)).astype(I8)  # |w| <= 64: |pair| <= 2 * 255 * 64 = 32640
    assert np.array_equal(saturating_pair_matmul(a, w7, za, zb), integer_matmul(a, w7, za, zb))
    assert not saturated_pairs(a, w7).any()
    a7 = rng.integers(0, 129, (m, k)).astype(U8)  # a <= 128 with int8: pairs in [-32768, 32512]
    w8 = rng.integers(-128, 128, (k, n)).astype(I8)
    assert np.array_equal(saturating_pair_matmul(a7, w8, za, zb), integer_matmul(a7, w8, za, zb))


def test_a_difference_is_the_sum_of_the_clipped_excess() -> None:
    rng = np.random.default_rng(7)
    a = rng.choice(np.array([0, 128, 255], U8), (6, 33))
    b = rng.choice(np.array([-128, 0, 127], I8), (33, 5))
    diff = saturating_pair_matmul(a, b).astype(np.int64) - integer_matmul(a, b)
    counts = saturated_pairs(a, b)
    assert counts.sum() > 20 and np.count_nonzero(diff) > 10
    # per output, the sum over its pairs (K padded with a zero) of clip(s) - s, in plain Python
    excess = np.zeros(diff.shape, np.int64)
    for m in range(a.shape[0]):
        for n in range(b.shape[1]):
            for i in range(0, a.shape[1], 2):
                s = int(a[m, i]) * int(b[i, n]) + (
                    int(a[m, i + 1]) * int(b[i + 1, n]) if i + 1 < a.shape[1] else 0
                )
                excess[m, n] += max(-32768, min(32767, s)) - s
    assert np.array_equal(diff, excess)
    assert (excess[counts == 0] == 0).all()  # (a count > 0 may still give 0: clipped pairs can cancel)


# --------------------------------------------------------------------------- the bounds


def test_max_unsaturated_weight_is_tight() -> None:
    assert max_unsaturated_weight() == 64  # 2 * 255 * 64 = 32640 <= 32767 < 2 * 255 * 65 = 33150
    for a_max in range(1, 256):
        w = max_unsaturated_weight(a_max)
        assert 2 * a_max * w <= 32767 and -2 * a_max * w >= -32768
        assert w == 128 or 2 * a_max * (w + 1) > 32767
    a, b = pair(255, 255, 65, 65)
    assert saturated_pairs(a, b).tolist() == [[1]]
    a, b = pair(255, 255, -65, -65)
    assert saturated_pairs(a, b).tolist() == [[1]]


def test_max_unsaturated_activation_is_tight() -> None:
    assert max_unsaturated_activation() == 128  # 2 * 128 * -128 = -32768 fits; 129 gives -33024
    assert saturated_pairs(*pair(128, 128, -128, -128)).tolist() == [[0]]
    assert saturated_pairs(*pair(129, 129, -128, -128)).tolist() == [[1]]
    assert max_unsaturated_activation(-64, 63) == 255  # ONNX Runtime's reduce_range weights
    assert max_unsaturated_activation(0, 127) == 129  # 2 * 129 * 127 = 32766; 130: 33020
    assert max_unsaturated_activation(-1, 0) == 255
    for lo, hi in [(-128, 127), (-100, 50), (-3, 127), (0, 0), (5, 9)]:
        act = max_unsaturated_activation(lo, hi)
        assert 2 * act * hi <= 32767 and 2 * act * lo >= -32768
        assert act == 255 or 2 * (act + 1) * hi > 32767 or 2 * (act + 1) * lo < -32768


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: max_unsaturated_weight(0), ValueError, "a_max"),
        (lambda: max_unsaturated_weight(256), ValueError, "256"),
        (lambda: max_unsaturated_weight(255.0), TypeError, "a_max"),
        (lambda: max_unsaturated_weight(True), TypeError, "a_max"),
        (lambda: max_unsaturated_activation(5, 4), ValueError, "b_min"),
        (lambda: max_unsaturated_activation(-129, 4), ValueError, "-129"),
        (lambda: max_unsaturated_activation(-1, 1.0), TypeError, "b_max"),
    ],
)
def test_bounds_reject_bad_arguments(call: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- int32 overflow


def test_int32_overflow_raises_or_wraps_as_the_kernels_do() -> None:
    k = 131072  # 65536 pairs of -32768: exactly -2**31, still int32
    a, b = np.full((1, k), 255, U8), np.full((k, 1), -128, I8)
    assert saturating_pair_matmul(a, b).tolist() == [[-(2**31)]]
    a, b = np.full((1, k + 2), 255, U8), np.full((k + 2, 1), -128, I8)
    with pytest.raises(ValueError, match=r"-2147516416.*overflow='wrap'"):  # -2**31 - 32768
        saturating_pair_matmul(a, b)
    assert saturating_pair_matmul(a, b, overflow="wrap").tolist() == [[2**31 - 32768]]
    with pytest.raises(ValueError, match="overflow"):
        saturating_pair_matmul(a, b, overflow="saturate")


# --------------------------------------------------------------------------- blocking, inputs


@pytest.mark.parametrize("block", [1, 7, 64, 2**20])
def test_the_blocks_do_not_change_the_result(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    a = rng.choice(np.array([0, 100, 255], U8), (3, 1, 5, 19))
    b = rng.choice(np.array([-128, -1, 127], I8), (2, 19, 6))
    want = [[scalar_model(a[i, 0].tolist(), b[j].tolist(), 2, -5) for j in range(2)] for i in range(3)]
    monkeypatch.setattr(pairs_mod, "_BLOCK", block)
    assert saturating_pair_matmul(a, b, 2, -5).tolist() == want
    assert saturated_pairs(a, b).tolist() == [
        [count_model(a[i, 0].tolist(), b[j].tolist()) for j in range(2)] for i in range(3)
    ]


def test_inputs_are_not_modified_and_views_work() -> None:
    a = np.arange(40, dtype=U8).reshape(4, 10) * 6
    b = (np.arange(30, dtype=np.int64).reshape(10, 3) * 37 % 256 - 128).astype(I8)
    a0, b0 = a.copy(), b.copy()
    want = saturating_pair_matmul(a, b, 1, [1, 2, 3])
    assert np.array_equal(a, a0) and np.array_equal(b, b0)
    a.flags.writeable = b.flags.writeable = False
    assert np.array_equal(saturating_pair_matmul(a, b, 1, [1, 2, 3]), want)
    big_a, big_b = np.repeat(a, 2, axis=1), np.repeat(b, 2, axis=0)
    assert np.array_equal(saturating_pair_matmul(big_a[:, ::2], big_b[::2], 1, [1, 2, 3]), want)


@pytest.mark.parametrize(
    "a, b, za, zb, exc, match",
    [
        (np.zeros((2, 2), I8), np.zeros((2, 2), I8), 0, 0, TypeError, "a must be a uint8.*int8"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), U8), 0, 0, TypeError, "b must be a int8.*uint8"),
        ([[1, 2]], np.zeros((2, 2), I8), 0, 0, TypeError, "a must be a uint8.*int64"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), np.float32), 0, 0, TypeError, "b must.*float32"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), bool), 0, 0, TypeError, "b must.*bool"),
        (np.uint8(3), np.zeros((2, 2), I8), 0, 0, ValueError, "a must have at least one dimension"),
        (np.zeros((2, 3), U8), np.zeros((2, 2), I8), 0, 0, ValueError, r"K\), got shapes \(2, 3\)"),
        (np.zeros((2, 2, 2), U8), np.zeros((3, 2, 2), I8), 0, 0, ValueError, "batch dimensions"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), 256, 0, ValueError, r"a_zero_point.*\[0, 255\]"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), -1, 0, ValueError, "a_zero_point"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), 0, 128, ValueError, r"b_zero_point.*\[-128, 127\]"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), 0, [1, 2, 3], ValueError, "b_zero_point must broadcast"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), 1.0, 0, TypeError, "a_zero_point"),
        (np.zeros((2, 2), U8), np.zeros((2, 2), I8), 0, True, TypeError, "b_zero_point"),
    ],
)
def test_bad_inputs(a: Any, b: Any, za: Any, zb: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        saturating_pair_matmul(a, b, za, zb)
    if "zero_point" not in match:
        with pytest.raises(exc, match=match):
            saturated_pairs(a, b)
