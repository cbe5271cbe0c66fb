"""refquant.interop.tf against the real TensorFlow (tensorflow-cpu), bit for bit.

The inputs are tie-dense on the *nudged* grid. They include
``nudged_min + (k + 1/2) * scale`` for every code k (a sample of codes for
16 bits), and one float32 ulp on either side of each. They also include the
grid points, ``nudged_min``/``nudged_max`` and the raw ``min``/``max`` with
their neighbours, specials, and random values. Ranges include some that
exclude 0 and some that nudging moves.

The forward outputs and all three gradients are compared bit for bit, signs
of zero and NaN bits included. The gradients are integer-valued in the bulk
tests and random floats in ``test_float_gradient_sums_bit_identical``, where
the sums must follow Eigen's single-threaded summation order. Above about
5 * 10**4 values TF splits the sum over its thread pool; there the sums are
checked against the float32 summation error bound
(``test_float_gradient_sums_multithreaded_within_rounding``).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from refquant.interop import tf as rq
from refquant.qparams import nudge_range

tf = pytest.importorskip("tensorflow")

F32 = np.float32
BITS = [2, 4, 8, 16]
RANGES = [
    (-1.0, 1.0),
    (-6.0, 6.0),
    (-0.1, 1.0),  # nudged
    (-0.123456, 2.71828),  # nudged, awkward scale
    (-0.75, 2.25),  # nudged by a quarter step with 2 bits
    (0.5, 3.7),  # excludes 0: nudged to start at 0
    (-3.7, -0.2),  # excludes 0: nudged to end at 0
    (0.0, 1.0),
    (-1.0, 0.0),
    (-1e-4, 3e-4),
    (-1000.0, 37.0),
    (-(2.0**-3), 2.0**5),
]
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38], dtype=F32)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.array(a, dtype=F32).view(np.uint32)  # a copy, contiguous, 0-d stays 0-d


def _same(ours: np.ndarray, theirs: np.ndarray) -> int:
    """Bit-identical float32 arrays (NaN positions compared as bits too); returns the count."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype == F32
    assert ours.shape == theirs.shape
    bad = _bits(ours) != _bits(theirs)
    assert not bad.any(), (ours[bad][:8], theirs[bad][:8])
    return int(ours.size)


def _tie_inputs(lo: float, hi: float, qmin: int, qmax: int, rng: np.random.Generator) -> np.ndarray:
    """Ties of the nudged grid (all codes, or 4096 sampled), ulp neighbours, bounds, specials, random."""
    nmin, nmax, s, _ = nudge_range(lo, hi, qmin, qmax)
    nmin, nmax, s = float(nmin), float(nmax), float(s)
    levels = qmax - qmin
    if levels <= 256:
        k = np.arange(-2, levels + 2, dtype=np.float64)
    else:
        k = np.concatenate(
            [np.arange(-2, 64), np.arange(levels - 64, levels + 2), rng.integers(0, levels, 4096)]
        )
        k = k.astype(np.float64)
    grid = (nmin + k * s).astype(F32)
    ties = (nmin + (k + 0.5) * s).astype(F32)
    bounds = np.array([nmin, nmax, lo, hi, 0.0], dtype=F32)
    base = np.concatenate([grid, ties, bounds])
    near = [np.nextafter(base, F32(np.inf)), np.nextafter(base, F32(-np.inf))]
    rand = rng.uniform(nmin - 2 * s, nmax + 2 * s, 2000).astype(F32)
    return np.concatenate([base, *near, rand, SPECIALS])


def _cases() -> list[tuple[int, bool, float, float]]:
    return [(b, n, lo, hi) for b, n, (lo, hi) in itertools.product(BITS, [False, True], RANGES)]


def _int_grads(rng: np.random.Generator, shape: Any) -> np.ndarray:
    return rng.integers(-8, 9, shape).astype(F32)


@pytest.mark.parametrize("num_bits,narrow,lo,hi", _cases())
def test_vars_forward_and_gradient(num_bits: int, narrow: bool, lo: float, hi: float) -> None:
    rng = np.random.default_rng(num_bits * 1000 + narrow * 100 + RANGES.index((lo, hi)))
    qmin, qmax = int(narrow), 2**num_bits - 1
    x = _tie_inputs(lo, hi, qmin, qmax, rng)
    kw = {"num_bits": num_bits, "narrow_range": narrow}
    ref = tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, **kw).numpy()
    _same(rq.fake_quant_with_min_max_vars(x, lo, hi, **kw), ref)
    g = _int_grads(rng, x.shape)
    gi, gmin, gmax = (
        t.numpy() for t in tf.quantization.fake_quant_with_min_max_vars_gradient(g, x, lo, hi, **kw)
    )
    ours = rq.fake_quant_with_min_max_vars_vjp(g, x, lo, hi, **kw)
    _same(ours.grad_inputs, gi)
    _same(ours.grad_min, gmin)
    _same(ours.grad_max, gmax)


@pytest.mark.parametrize("num_bits,narrow,lo,hi", _cases())
def test_args_forward_and_gradient(num_bits: int, narrow: bool, lo: float, hi: float) -> None:
    rng = np.random.default_rng(num_bits * 1000 + narrow * 100 + RANGES.index((lo, hi)) + 7)
    qmin, qmax = int(narrow), 2**num_bits - 1
    x = _tie_inputs(lo, hi, qmin, qmax, rng)
    kw = {"min": lo, "max": hi, "num_bits": num_bits, "narrow_range": narrow}
    _same(
        rq.fake_quant_with_min_max_args(x, **kw),
        tf.quantization.fake_quant_with_min_max_args(x, **kw).numpy(),
    )
    g = _int_grads(rng, x.shape)
    ref = tf.quantization.fake_quant_with_min_max_args_gradient(g, x, **kw).numpy()
    _same(rq.fake_quant_with_min_max_args_vjp(g, x, **kw), ref)


@pytest.mark.parametrize("num_bits", BITS)
@pytest.mark.parametrize("narrow", [False, True])
def test_per_channel_forward_and_gradient(num_bits: int, narrow: bool) -> None:
    """All RANGES as channels of one (..., C) tensor; each column holds its own channel's ties."""
    rng = np.random.default_rng(num_bits + 50 * narrow)
    qmin, qmax = int(narrow), 2**num_bits - 1
    cols = [_tie_inputs(lo, hi, qmin, qmax, rng) for lo, hi in RANGES]
    n = min(c.size for c in cols)
    n -= n % 6
    x = np.stack([rng.permutation(c)[:n] for c in cols], axis=-1).reshape(2, 3, n // 6, len(RANGES))
    lo = np.array([r[0] for r in RANGES], F32)
    hi = np.array([r[1] for r in RANGES], F32)
    kw = {"num_bits": num_bits, "narrow_range": narrow}
    ref = tf.quantization.fake_quant_with_min_max_vars_per_channel(x, lo, hi, **kw).numpy()
    _same(rq.fake_quant_with_min_max_vars_per_channel(x, lo, hi, **kw), ref)
    g = _int_grads(rng, x.shape)
    refs = tf.quantization.fake_quant_with_min_max_vars_per_channel_gradient(g, x, lo, hi, **kw)
    ours = rq.fake_quant_with_min_max_vars_per_channel_vjp(g, x, lo, hi, **kw)
    for a, b in zip(ours, refs, strict=True):
        _same(a, b.numpy())


def test_gradient_tape_uses_the_gradient_ops() -> None:
    """tf.GradientTape on the forward op gives the same three gradients."""
    rng = np.random.default_rng(3)
    x = _tie_inputs(-0.1, 1.0, 0, 255, rng)
    x = x[np.isfinite(x)]  # keep the sums finite
    g = _int_grads(rng, x.shape)
    xv, lo, hi = tf.Variable(x), tf.Variable(-0.1), tf.Variable(1.0)
    with tf.GradientTape() as tape:
        y = tf.quantization.fake_quant_with_min_max_vars(xv, lo, hi)
    gi, gmin, gmax = tape.gradient(y, [xv, lo, hi], output_gradients=tf.constant(g))
    ours = rq.fake_quant_with_min_max_vars_vjp(g, x, -0.1, 1.0)
    _same(ours.grad_inputs, gi.numpy())
    _same(ours.grad_min, gmin.numpy())
    _same(ours.grad_max, gmax.numpy())


@pytest.mark.parametrize("n", [1, 7, 8, 31, 33, 100, 1000, 8192, 8193, 20_001, 40_001])
def test_float_gradient_sums_bit_identical(n: int) -> None:
    """Random float gradients: the min/max sums too, in Eigen's order (one thread at these sizes)."""
    rng = np.random.default_rng(n)
    for lo, hi in RANGES:
        x = rng.uniform(lo - 3 * (hi - lo), hi + 3 * (hi - lo), n).astype(F32)
        g = rng.standard_normal(n).astype(F32)
        refs = tf.quantization.fake_quant_with_min_max_vars_gradient(g, x, lo, hi)
        for a, b in zip(rq.fake_quant_with_min_max_vars_vjp(g, x, lo, hi), refs, strict=True):
            _same(a, b.numpy())
    rows = min(n, 20_000)
    x = rng.uniform(-4, 4, (rows, len(RANGES))).astype(F32)
    g = rng.standard_normal(x.shape).astype(F32)
    lo = np.array([r[0] for r in RANGES], F32)
    hi = np.array([r[1] for r in RANGES], F32)
    refs = tf.quantization.fake_quant_with_min_max_vars_per_channel_gradient(g, x, lo, hi)
    for a, b in zip(rq.fake_quant_with_min_max_vars_per_channel_vjp(g, x, lo, hi), refs, strict=True):
        _same(a, b.numpy())


def test_float_gradient_sums_multithreaded_within_rounding() -> None:
    """Above ~5 * 10**4 values TF splits the sums over its threads; ours stay within float32 rounding."""
    rng = np.random.default_rng(2)
    n = 1_000_001
    x = rng.uniform(-3, 3, n).astype(F32)
    g = rng.standard_normal(n).astype(F32)
    refs = tf.quantization.fake_quant_with_min_max_vars_gradient(g, x, -1.0, 1.0)
    gi, gmin, gmax = (t.numpy() for t in refs)
    ours = rq.fake_quant_with_min_max_vars_vjp(g, x, -1.0, 1.0)
    _same(ours.grad_inputs, gi)
    eps = float(np.finfo(F32).eps)
    for a, b, mask in ((ours.grad_min, gmin, x < -1), (ours.grad_max, gmax, x > 1)):
        # twice the error bound of a tree sum
        bound = 2 * np.log2(n) * eps * float(np.abs(g[mask]).sum(dtype=np.float64))
        assert abs(float(a) - float(b)) <= bound


def test_differences_from_torch() -> None:
    """The differences from PyTorch's fake-quant stated in refquant.interop.tf, on the real ops."""
    torch = pytest.importorskip("torch")
    # [-1, 2], 2 bits: scale 1, zero point 1, nudged [-1, 2]; torch gets the same scale and zero point
    x = np.array([0.5, 2.25, -1.25, np.nan], F32)
    t = torch.tensor(x, requires_grad=True)
    y = torch.fake_quantize_per_tensor_affine(t, 1.0, 1, 0, 3)
    y.backward(torch.ones_like(t))
    ty, tg = y.detach().numpy(), t.grad.numpy()
    fy = tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 2.0, num_bits=2).numpy()
    grads = tf.quantization.fake_quant_with_min_max_vars_gradient(np.ones_like(x), x, -1.0, 2.0, num_bits=2)
    fg = grads[0].numpy()
    assert (ty[0], fy[0]) == (0.0, 1.0)  # tie: half to even vs floor(x + 0.5)
    assert tg[1:3].tolist() == [1.0, 1.0] and fg[1:3].tolist() == [0.0, 0.0]  # s/4 outside: window
    assert ty[3] == -1.0 and np.isnan(fy[3])  # NaN: quant_min code vs NaN
    _same(rq.fake_quant_with_min_max_vars(x, -1.0, 2.0, num_bits=2), fy)
    _same(rq.fake_quant_with_min_max_vars_vjp(np.ones_like(x), x, -1.0, 2.0, num_bits=2).grad_inputs, fg)


DEGENERATE = [
    (0.0, 0.0),  # zeros out, gradient passed through
    (-0.0, 0.0),
    (1.0, 1.0),  # scale 0: NaN out
    (-1.0, -1.0),
    (2.0, -1.0),  # min > max: everything clamps to nudged_min
    (0.5, -0.5),
    (-np.inf, 1.0),  # zero point from NaN
    (-1.0, np.inf),
    (np.nan, 1.0),
    (-1.0, np.nan),
    (-3e38, 3e38),  # max - min overflows
    (-1e-45, 1e-45),  # subnormal range
    (0.0, 1e-36),  # subnormal scale, flushed to 0
    (1e-36, 3e-36),
    (-1e-37, 1e-37),
]


@pytest.mark.parametrize("narrow", [False, True])
@pytest.mark.parametrize("lo,hi", DEGENERATE)
def test_degenerate_ranges(lo: float, hi: float, narrow: bool) -> None:
    x = np.concatenate([SPECIALS, np.linspace(-3, 3, 61, dtype=F32)])
    g = _int_grads(np.random.default_rng(0), x.shape)
    kw = {"num_bits": 8, "narrow_range": narrow}
    _same(
        rq.fake_quant_with_min_max_vars(x, lo, hi, **kw),
        tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, **kw).numpy(),
    )
    refs = tf.quantization.fake_quant_with_min_max_vars_gradient(g, x, lo, hi, **kw)
    for a, b in zip(rq.fake_quant_with_min_max_vars_vjp(g, x, lo, hi, **kw), refs, strict=True):
        _same(a, b.numpy())
    xc = np.stack([x, x[::-1]], axis=-1)
    gc = np.stack([g, g], axis=-1)
    los, his = np.array([lo, -1.0], F32), np.array([hi, 1.0], F32)
    ref = tf.quantization.fake_quant_with_min_max_vars_per_channel(xc, los, his, **kw).numpy()
    _same(rq.fake_quant_with_min_max_vars_per_channel(xc, los, his, **kw), ref)
    refs = tf.quantization.fake_quant_with_min_max_vars_per_channel_gradient(gc, xc, los, his, **kw)
    for a, b in zip(
        rq.fake_quant_with_min_max_vars_per_channel_vjp(gc, xc, los, his, **kw), refs, strict=True
    ):
        _same(a, b.numpy())


def test_special_gradients() -> None:
    """inf and NaN gradients turn into NaN where masked and in both sums."""
    x = np.array([0.0, 5.0, -5.0, 0.1, np.nan, -0.0], F32)
    for g in (
        np.array([np.inf, -np.inf, np.nan, -1.0, 2.0, -3.0], F32),
        np.array([-1.0, -2.0, -3.0, -4.0, -5.0, -6.0], F32),
        np.array([-0.0, -0.0, -0.0, 0.0, np.inf, 1.0], F32),
    ):
        refs = tf.quantization.fake_quant_with_min_max_vars_gradient(g, x, -1.0, 1.0)
        for a, b in zip(rq.fake_quant_with_min_max_vars_vjp(g, x, -1.0, 1.0), refs, strict=True):
            _same(a, b.numpy())


def test_empty_inputs() -> None:
    x = np.zeros((0,), F32)
    _same(
        rq.fake_quant_with_min_max_vars(x, -1.0, 1.0),
        tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 1.0).numpy(),
    )
    refs = tf.quantization.fake_quant_with_min_max_vars_gradient(x, x, -1.0, 1.0)
    for a, b in zip(rq.fake_quant_with_min_max_vars_vjp(x, x, -1.0, 1.0), refs, strict=True):
        _same(a, b.numpy())


def test_rejections_match() -> None:
    """What TF rejects, refquant rejects (with ValueError)."""
    x = np.array([0.3], F32)
    bad: list[tuple[Any, Any]] = [
        (
            lambda: tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=1),
            lambda: rq.fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=1),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=17),
            lambda: rq.fake_quant_with_min_max_vars(x, -1.0, 1.0, num_bits=17),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_vars(x, [-1.0], [1.0]),
            lambda: rq.fake_quant_with_min_max_vars(x, [-1.0], [1.0]),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_args(x, min=1.0, max=1.0),
            lambda: rq.fake_quant_with_min_max_args(x, min=1.0, max=1.0),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_args(x, min=float("nan"), max=1.0),
            lambda: rq.fake_quant_with_min_max_args(x, min=float("nan"), max=1.0),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_vars_per_channel(
                np.zeros((2, 3), F32), [0.0], [1.0]
            ),
            lambda: rq.fake_quant_with_min_max_vars_per_channel(np.zeros((2, 3), F32), [0.0], [1.0]),
        ),
        (
            lambda: tf.quantization.fake_quant_with_min_max_vars_gradient(np.ones(2, F32), x, -1.0, 1.0),
            lambda: rq.fake_quant_with_min_max_vars_vjp(np.ones(2, F32), x, -1.0, 1.0),
        ),
    ]
    for theirs, ours in bad:
        with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
            theirs()
        with pytest.raises(ValueError):
            ours()
