r"""Screens of the MSE searches of :mod:`refquant.calibrate.mse` (internal; callers validate).

A screen bounds every candidate's error, ``lo_i <= err_i <= hi_i``, from
float64 prefix sums with ``O(codes)`` work per candidate instead of
``O(values)``, and keeps the candidates with ``lo_i <= min_j hi_j``; the exact
evaluation (:mod:`refquant.calibrate._mse_kernels`) runs on those alone and
applies the tie rule. A minimizer ``i`` has ``lo_i <= err_i = min <= hi_j`` for
every ``j``, so the kept set holds every minimizer, and the first minimizer
among the kept candidates (in order) is the first of all.

**Cells.** Points ``x_0 <= ... <= x_{n-1}`` with weights ``w_j >= 0`` and a
quantizer whose code is non-decreasing in ``x`` (``y = fl(x s)`` or ``fl(x /
s)``, then the nearest grid value) fall into runs, code ``t`` on ``[b_{t-1},
b_t)``. With ``P_0 = cumsum(w)``, ``P_1 = cumsum(w x)``, ``S_2 = sum(w x**2)``
and ``G_t`` the output of code ``t`` (``K`` codes), summation by parts gives

.. math::

    V = \sum_j w_j (G_{t(j)} - x_j)^2 = G_{K-1}^2 P_0(n) - 2 G_{K-1} P_1(n) + S_2
        + \sum_{t < K-1} (G_t - G_{t+1}) \big((G_t + G_{t+1}) P_0(b_t) - 2 P_1(b_t)\big).

*Its bound*: each computed prefix sum (blocks of ``~sqrt(n)`` up to ``2**14``
terms, else sequential; at most ``p`` roundings on any path, the leaves' own
included) errs by ``gamma_p = p u' / (1 - p u')`` (``u' = 2**-53``) of ``Q_0 =
sum w``, ``Q_1 = sum w|x|`` or ``Q_2 = sum w x**2``; by parts those errors
enter with the total variation of ``G**2`` and ``2 G`` (``G`` is monotone:
``<= 2 M**2`` and ``4 M``, ``M = max|G|``) plus the end terms, and the float64
evaluation adds ``gamma_{K+8}`` of the magnitudes (``K + 6`` roundings, two to
spare for ``V -+ bound``), so the computed ``V`` is within
``(gamma_p + gamma_{K+8}) (3 M**2 Q_0 + 6 M Q_1 + Q_2)``.

**ModelOpt's search** (:func:`modelopt_screen`: float32 bin centres as points,
float32 counts as weights, ``y = fl32(x s)``). *Run ends*: ``y < theta_t``
(``theta_t`` the float32 midpoint, ``>= 2**-10`` so normal) surely holds when
``x <= g - tau`` and surely fails when ``x >= g + tau``, ``g = theta_t / s`` in
float64, ``tau = 1.5 u |g|`` (``fl(x s) = x s (1 + d)``, ``|d| <= u =
2**-24``). For uniform bins (``|x_j - (x_0 + j h)| <= dev``) a run end is
``floor(r) + 1``, ``r = (g - x_0) / h``, when the model points on either side
lie farther than ``tau + dev`` (plus ``6 u'`` of the magnitudes) from ``g``;
the rest come from ``searchsorted`` on ``g -+ tau`` and the exact float32 test
(ties as the grid rounds: even integer, even e4m3 mantissa) of the points in
between. *The float32 error*: a term ``fl(fl(fl(G - x)**2) w)`` is ``w (G -
x)**2 (1 + e)``, ``(1 - u)**4 <= 1 + e <= (1 + u)**4``, plus at most ``(w (1 +
u) + 1) eta`` (``eta = 2**-150``; a subtraction that underflows is exact);
torch's cascade of non-negative terms is within ``gamma_d`` (in ``u``,
``d`` = :func:`cascade_depth`) of their sum; the mean ``fl(S / n)`` within ``u``
relative plus ``eta``; the float64 evaluation of these formulas is covered by
widening ``2**-40``. Every float32 quantity stays finite (checked up front:
``(max|G| + max|x|)**2 sum(w)`` well below the float32 maximum; else no screen),
so no NaN or inf competes. *Stage 0*, before the cells: points at or beyond
``±G_top`` (``G_top = fl(qmax / s)`` or ``fl(448 inv)``) take the clip code
(``fl(G_top s) >= qmax (1 - u)**2 > qmax - 1/2``; ``> 432`` for e4m3), an
exact part by the same formula; the others err by at least 0 and at most
``((1/2 + u (2 qmax + 3)) / s)**2`` (integers: ``|k - y| <= 1/2``, ``G = fl(k
/ s)``) or ``(1 + 1/8) a**2 x**2 + 9 b**2`` (e4m3: ``|cast(y) - y| <= |y| / 16
+ 2**-10``, the clip at 448 moves ``y`` by at most ``900 u``; ``a = 1/16 +
4u``, ``b = (2**-10 + 1000 u) / s + 2 eta``). The cells of the ``PROBE``
most promising candidates tighten the smallest upper bound, stage 0 prunes, the
cells of the rest prune again.

**The data search** (:func:`data_bounds`: refquant's float64 objective). The
points go into equal buckets, a power of two near a quarter of the values
(``2**12`` to :data:`NBUCKETS`), by ``floor((x - min) / h)`` in float64 (so a
bucket's points lie within ``eps = 4 u' (NB h + max|x|)`` of it), with their
count, sum and sum of squares (each a sequential sum: ``count + 2`` roundings).
``fl(x / s) < theta_t`` surely holds for ``x <= g - tau`` and fails for ``x >=
g + tau``, ``g = fl(theta_t s)``, ``tau = 3 u' |g|``. A bucket the window of
some threshold may reach has its points' codes within ``[a, c]`` (``a`` the
thresholds whose windows end below it, ``c`` those whose windows start at or
below it) and is counted with code ``c`` in ``V``; the identity
``(G_p - x)**2 - (G_q - x)**2 = (G_p - G_q)(G_p + G_q - 2x)`` bounds the
difference by ``(G_c - G_a) max|G_p + G_q - 2x|`` per point (the extreme
pair sums ``G_a + G_{a+1}`` and ``G_{c-1} + G_c``, ``x`` at the buckets'
widened ends), so no tie needs an exact test. The float64 terms ``fl(fl(G -
x)**2)`` are within ``(1 + u')**3`` and ``2 eta'`` of ``(G - x)**2``, NumPy's
sum of ``n`` non-negative terms within ``gamma_n`` (any order), the mean within
``u'`` and ``eta'`` (``eta' = 2**-1074``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from refquant.calibrate import _mse_kernels as k
from refquant.floats.cast import cast
from refquant.floats.spec import FloatFormat, float_format

F32 = np.float32
U32, ETA32 = 2.0**-24, 2.0**-150
U64, ETA64 = 2.0**-53, 2.0**-1074
F32MAX = float(np.finfo(np.float32).max)
WIDEN = 2.0**-40
NBUCKETS = 1 << 18  # most buckets of the data screen (a quarter of the values, rounded up to 2**k)
PROBE = 8  # candidates whose cells tighten the smallest upper bound before stage 0 prunes
MAX_CODES = 4096  # more codes than this (per candidate): no screen
Arr = NDArray[Any]


def gamma(d: float, u: float = U64) -> float:
    """``d u / (1 - d u)``: the relative error bound of ``d`` chained roundings of unit ``u``."""
    return d * u / (1.0 - d * u)


@lru_cache(maxsize=64)
def _mrs_depth(size: int) -> int:
    """Additions on the longest path of ``_mse_kernels._multi_row_sum`` over ``size`` rows."""
    power = max(4, (max(size - 1, 0).bit_length() if size > 1 else 0) // 4)
    step, mask = 1 << power, (1 << power) - 1
    acc, i = [0, 0, 0, 0], 0
    while i + step <= size:
        acc[0] += step
        i += step
        for lev in range(1, 4):
            acc[lev] = max(acc[lev], acc[lev - 1]) + 1
            acc[lev - 1] = 0
            if i & (mask << (lev * power)):
                break
    acc[0] += size - i
    for lev in range(1, 4):
        acc[0] = max(acc[0], acc[lev]) + 1
    return acc[0]


@lru_cache(maxsize=64)
def cascade_depth(n: int, lanes: int = k.TORCH_LANES) -> int:
    """An upper bound on the additions any term goes through in :func:`_mse_kernels.torch_sum_f32`.

    Mirrors its loops (``_multi_row_sum``: runs of ``step`` sequential adds,
    one add per level; ``_row_sum``: 4 such sums, the leftovers, 3 adds; then
    the ``n % lanes`` leftovers from zero and one add per lane), counting adds
    of zero accumulators too (so exact from ~100 terms, a few more below).
    """
    size = n if n < lanes else n // lanes
    row = _mrs_depth(size // 4) + size % 4 + 3
    return row if n < lanes else max(n % lanes, row) + lanes


class Points(NamedTuple):
    """Sorted points (or buckets) with weights: prefix sums, computed totals, magnitudes, error factor."""

    x: NDArray[np.float64] | None
    p0: NDArray[np.float64]  # [0, cumsum(w)]
    p1: NDArray[np.float64]  # [0, cumsum(w x)]
    p2: NDArray[np.float64]  # [0, cumsum(w x**2)] ([0, total] for buckets)
    t0: float  # the computed totals of w, w x, w x**2
    t1: float
    t2: float
    q0: float  # upper bounds on sum w, sum w |x|, sum w x**2
    q1: float
    q2: float
    gpre: float  # each computed prefix sum and total errs by at most gpre times the q of its kind
    grid: tuple[float, float, float] | None  # (x_0, h, dev): |x_j - (x_0 + j h)| <= dev


def _prefix(rows: list[Arr]) -> tuple[NDArray[np.float64], int]:
    """``[0, cumsum(v)]`` for each ``v`` of ``rows`` (one length ``n``), and the additions on any path.

    Up to ``2**14`` terms in blocks of ``~sqrt(n)`` (``~2 sqrt(n)`` additions),
    longer rows in one sequential sum (NumPy's ``cumsum`` over a short last axis
    is slow).
    """
    r, n = len(rows), rows[0].size
    out = np.zeros((r, n + 1))
    if n > 1 << 14:
        for i, v in enumerate(rows):
            np.cumsum(v, out=out[i, 1:])
        return out, n
    size = max(1, int(np.sqrt(n)))
    nb = -(-n // size)
    blk = np.zeros((r, nb, size))
    for i, v in enumerate(rows):
        blk[i].reshape(nb * size)[:n] = v
    np.cumsum(blk, axis=2, out=blk)
    blk[:, 1:] += np.cumsum(blk[:, :-1, -1], axis=1)[:, :, None]
    out[:, 1:] = blk.reshape(r, nb * size)[:, :n]
    return out, size + nb


def moments(
    w: Arr, wx: Arr, wx2: Arr, q1: float, leaf: int, x: NDArray[np.float64] | None = None,
    grid: tuple[float, float, float] | None = None,
) -> Points:  # fmt: skip
    """:class:`Points` from per-point (per-bucket) ``w >= 0``, ``w x``, ``w x**2 >= 0``.

    Each of those within ``leaf`` roundings; ``q1`` bounds ``sum w |x|``.
    Without points ``x`` (buckets), ``P_2`` is its total alone.
    """
    if x is None:
        (p0, p1), d = _prefix([w, wx])
        p2 = np.array([0.0, np.sum(wx2)])
        d = max(d, w.size)  # np.sum: any order
    else:
        (p0, p1, p2), d = _prefix([w, wx, wx2])
    g = gamma(d + leaf)
    t0, t1, t2 = float(p0[-1]), float(p1[-1]), float(p2[-1])
    return Points(x, p0, p1, p2, t0, t1, t2, t0 * (1 + 2 * g), q1, t2 * (1 + 2 * g), g, grid)


def points(x: NDArray[np.float64], w: NDArray[np.float64]) -> Points:
    """:func:`moments` of sorted float32 values ``x``, float32 weights, and the uniform model if it fits."""
    grid = None
    n = x.size
    if n >= 2 and x[-1] > x[0]:
        c0, h = float(x[0]), float((x[-1] - x[0]) / (n - 1))
        dev = float(np.max(np.abs(x - (c0 + np.arange(n) * h))))
        dev += 4 * U64 * (float(np.max(np.abs(x))) + abs(c0) + n * h)
        if dev < 0.25 * h:
            grid = (c0, h, dev)
    wx = w * x  # exact: 24 x 24 bits
    q1 = float(np.sum(np.abs(wx))) * (1 + gamma(n + 1))
    return moments(w, wx, wx * x, q1, 2, x, grid)


Below = Callable[[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]], NDArray[np.bool_]]


def boundaries(pts: Points, theta: Arr, s: Arr, below: Below) -> NDArray[np.intp]:
    """``b[i, t]``: the number of points whose code is ``<= t`` for ``y = fl32(x s_i)``, midpoints ``theta``.

    ``below(j, i, t)`` is the exact test of point ``j`` (module docstring).
    """
    x = pts.x
    if x is None:
        raise ValueError("boundaries needs the points")
    n = x.size
    th, sc = theta.astype(np.float64), s.astype(np.float64)[:, None]
    gmax = max(abs(float(th[0])), abs(float(th[-1]))) / sc * (1 + 4 * U64)
    tau = 1.5 * U32 * gmax
    todo: NDArray[np.bool_] = np.ones((s.size, th.size), bool)
    b = np.zeros((s.size, th.size), np.intp)
    if pts.grid is not None:
        c0, h, dev = pts.grid
        r = th[None, :] * (1 / (sc * h)) - c0 / h
        fl = np.floor(r)
        r -= fl
        marg = (tau + dev + 6 * U64 * (gmax + abs(c0))) / h * (1 + 1e-9)
        todo = (r <= marg) | (r >= 1.0 - marg)
        fl += 1.0
        b = np.clip(fl, 0, n, out=fl).astype(np.intp)
    if todo.any():
        ii, tt = np.nonzero(todo)
        gg, ta = th[tt] / sc[ii, 0], tau[ii, 0] * 1.01
        lo = np.searchsorted(x, gg - ta, "left")
        cnt = np.searchsorted(x, gg + ta, "right") - lo
        rep = np.repeat(np.arange(ii.size), cnt)
        j = lo[rep] + np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        hits = np.bincount(rep, weights=below(j, ii[rep], tt[rep]), minlength=ii.size)
        b[ii, tt] = lo + hits.astype(np.intp)
    return b


def cell_sums(pts: Points, b: NDArray[np.intp] | None, g: Arr) -> tuple[Arr, Arr]:
    """``V_i`` for outputs ``g`` ``(m, K)`` (non-decreasing), run ends ``b`` ``(m, K-1)``; its bound."""
    top = g[:, -1]
    v = top * top * pts.t0 - 2.0 * top * pts.t1 + pts.t2
    if b is not None and g.shape[1] > 1:
        lo, hi = g[:, :-1], g[:, 1:]
        sg = lo + hi
        sg *= pts.p0[b]
        p1b = pts.p1[b]
        p1b *= 2.0
        sg -= p1b
        v += np.einsum("ij,ij->i", lo - hi, sg)
    gm = np.maximum(np.abs(g[:, 0]), np.abs(top))
    mag = 3.0 * gm * gm * pts.q0 + 6.0 * gm * pts.q1 + pts.q2
    return v, (pts.gpre + gamma(g.shape[1] + 8)) * mag * (1 + 2.0**-20)


def mean32(lo: Arr, hi: Arr, pts: Points, n: int) -> tuple[Arr, Arr]:
    """Bounds on torch's float32 ``mean`` of ModelOpt's float32 terms, from bounds on ``V``."""
    u, gd, nb = U32, gamma(cascade_depth(n), U32), float(F32(n))
    a = (pts.q0 * (1 + u) + n) * ETA32
    tlo = np.maximum(lo, 0.0) * (1 - u) ** 4 - a
    thi = hi * (1 + u) ** 4 + a
    mlo = np.maximum(tlo * (1 - gd) / nb * (1 - u) - ETA32, 0.0) * (1 - WIDEN)
    mhi = (thi * (1 + gd) / nb * (1 + u) + ETA32) * (1 + WIDEN)
    return mlo, mhi


class Grid(NamedTuple):
    """Candidates ``y = fl32(x s)``, codes ``vals``; outputs ``fl32(vals / s)`` or ``fl32(vals * inv)``."""

    s: Arr  # float32
    inv: Arr | None  # float32; e4m3 multiplies by inv; integers divide by s
    vals: NDArray[np.float32]  # the reachable code values, sorted
    theta: NDArray[np.float32]  # midpoints between consecutive values
    tie_down: NDArray[np.bool_]  # a point with y exactly theta_t takes vals[t]


@lru_cache(maxsize=16)
def _format_values(f: FloatFormat) -> NDArray[np.float64]:
    """Every finite value of ``f``, sorted (one zero)."""
    mags = np.array([f.value_of_magnitude_code(c) for c in range(f.max_code + 1)])
    return np.concatenate([-mags[:0:-1], mags])


@lru_cache(maxsize=1)
def _e4m3() -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]:
    vals = _format_values(float_format("float8_e4m3fn"))
    theta = (vals[:-1] + vals[1:]) / 2  # exact: 5 significant bits
    return vals.astype(F32), theta.astype(F32), cast(theta, "float8_e4m3fn") == vals[:-1]


def _int_grid(s: NDArray[np.float32], x32: NDArray[np.float32], qmin: int, qmax: int) -> Grid | None:
    """The integer codes the points can reach for some candidate (None if more than :data:`MAX_CODES`)."""
    with np.errstate(over="ignore"):
        ylo, yhi = float((x32[0] * s).min()), float((x32[-1] * s).max())
    lo, hi = int(np.clip(np.floor(ylo), qmin, qmax)), int(np.clip(np.ceil(yhi), qmin, qmax))
    if hi - lo >= MAX_CODES:
        return None
    vals = np.arange(lo, hi + 1, dtype=F32)
    return Grid(s, None, vals, vals[:-1] + F32(0.5), vals[:-1] % 2 == 0)


def _cells(pts: Points, x32: NDArray[np.float32], gr: Grid, rows: NDArray[np.intp]) -> tuple[Arr, Arr]:
    """:func:`cell_sums` of the candidates ``rows`` of ``gr``, the codes cut to their points' range."""
    s = gr.s[rows]
    with np.errstate(over="ignore"):
        ylo, yhi = float((x32[0] * s).min()), float((x32[-1] * s).max())
    lo = int(np.searchsorted(gr.theta, ylo, "left"))
    hi = int(np.searchsorted(gr.theta, yhi, "right"))
    v = gr.vals[lo : hi + 1][None, :]
    with np.errstate(over="ignore", under="ignore"):
        g = (v * gr.inv[rows, None] if gr.inv is not None else v / s[:, None]).astype(np.float64)
    if hi == lo:
        return cell_sums(pts, None, g)
    theta, tie = gr.theta[lo:hi], gr.tie_down[lo:hi]

    def below(j: NDArray[np.intp], i: NDArray[np.intp], t: NDArray[np.intp]) -> NDArray[np.bool_]:
        with np.errstate(over="ignore"):
            y = x32[j] * s[i]
        return (y < theta[t]) | ((y == theta[t]) & tie[t])

    return cell_sums(pts, boundaries(pts, theta, s, below), g)


def _stage0(pts: Points, top: Arr, a2: Arr, a0: Arr) -> tuple[Arr, Arr]:
    """Bounds on ``V``: exact at or beyond ``±top`` (clip codes), inside ``[0, a2 x**2 + a0]`` per weight."""
    x, p0, p1, p2 = pts.x, pts.p0, pts.p1, pts.p2
    if x is None:
        raise ValueError("stage 0 needs the points")
    t = np.searchsorted(x, top, "left")
    bt = np.minimum(np.searchsorted(x, -top, "right"), t)
    clip = top * top * (pts.t0 - p0[t]) - 2.0 * top * (pts.t1 - p1[t]) + (pts.t2 - p2[t])
    clip += top * top * p0[bt] + 2.0 * top * p1[bt] + p2[bt]
    mid = a2 * (p2[t] - p2[bt]) + a0 * (p0[t] - p0[bt])
    err = (4 * pts.gpre + gamma(12)) * 2.0 * (top * top * pts.q0 + 2.0 * top * pts.q1 + pts.q2)
    err += (2 * pts.gpre + gamma(4)) * (a2 * pts.q2 + a0 * pts.q0)
    return clip - err, clip + mid + err


def _keep(lo: Arr, hi: Arr) -> NDArray[np.intp]:
    """The candidates whose lower bound is at most the smallest upper bound (``lo = inf``: left out)."""
    return np.flatnonzero(np.isfinite(lo) & (lo <= hi.min()))


def modelopt_screen(
    cen: NDArray[np.float32], counts: NDArray[np.float32], amax: NDArray[np.float32], kind: str,
    num_bits: int, unsigned: bool,
) -> NDArray[np.intp] | None:  # fmt: skip
    """The positions of ``amax`` that may hold ModelOpt's first minimizer, in order; None: no screen.

    ``kind``: ``"int"`` (:func:`_mse_kernels.modelopt_int`), ``"shipped"``
    (:func:`_mse_kernels.modelopt_int_shipped`) or ``"e4m3"``
    (:func:`_mse_kernels.modelopt_e4m3`); ``cen`` finite and non-decreasing,
    ``amax`` non-decreasing. The first minimizer (``np.argmin``) of the exact
    errors at the returned positions is the search's. Shipped and unsigned, the
    prefix ``amax <= 2**-24`` has one common error and every other is NaN
    (``0/0``): the answer is position 0 or the first after the prefix, whichever
    ``np.argmin`` takes.
    """
    m = amax.size
    if kind == "shipped" and unsigned:
        zero = int(np.count_nonzero(amax <= k._EPS24))
        return np.array([0] if zero in (0, m) else [0, zero], np.intp)
    b = modelopt_bounds(cen, counts, amax, kind, num_bits, unsigned, prune=True)
    return None if b is None else _keep(*b)


def modelopt_bounds(
    cen: NDArray[np.float32], counts: NDArray[np.float32], amax: NDArray[np.float32], kind: str,
    num_bits: int, unsigned: bool, prune: bool = False,
) -> tuple[Arr, Arr] | None:  # fmt: skip
    """Bounds on each candidate's ModelOpt error (``inf``: position 0 stands for it); None: no screen.

    As :func:`modelopt_screen` (not shipped-unsigned). The candidates with ``amax
    <= 2**-24`` are a prefix with one common error (outputs 0, ``num_bits -
    1/2``, or ``amax = 1``), so position 0 stands for them; with all counts 0
    every error is 0 and position 0 stands for all. ``prune``: stage 0 for all,
    the cells only for the candidates that survive it (else the cells for all).
    """
    m, n = amax.size, cen.size
    zero = int(np.count_nonzero(amax <= k._EPS24))
    qmax = 2 ** (num_bits - 1 + int(unsigned)) - 1
    if qmax >= 1 << 21 or (kind == "shipped" and unsigned):
        return None
    x = cen.astype(np.float64)
    pts = points(x, counts.astype(np.float64))
    lo, hi = np.full(m, np.inf), np.full(m, np.inf)
    pos = np.arange(zero, m)
    if zero and kind != "int":
        pos = np.concatenate([[0], pos])
    gr: Grid | None = None
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if kind == "shipped":
            outs = k.modelopt_int_shipped(cen[:1], amax[pos], num_bits, False)[:, 0].astype(np.float64)
            top = np.abs(outs)
        elif kind == "int":
            s = F32(qmax) / amax[pos]
            top = (F32(qmax) / s).astype(np.float64)
            gr = _int_grid(s, cen, 0 if unsigned else -qmax, qmax) if pos.size else None
            if gr is not None and gr.vals.size > max(64, n // 2):
                gr = None  # more codes than half the bins: stage 0 alone
        else:
            s = (F32(1.0) / np.where(amax[pos] <= k._EPS24, F32(1.0), amax[pos])) * F32(448.0)
            inv = F32(1.0) / s
            top = (F32(448.0) * inv).astype(np.float64)
            gr = Grid(s, inv, *_e4m3())
    big = (float(np.max(top, initial=0.0)) + float(np.max(np.abs(x)))) * (1 + 2.0**-20)
    if not big * big * max(pts.q0, 1.0) * (1 + gamma(cascade_depth(n), U32)) * 1.01 < F32MAX / 4:
        return None
    if pts.q0 == 0:
        lo[0] = hi[0] = 0.0
        return lo, hi
    if kind == "shipped":  # outputs constant per candidate: one cell
        v, e = cell_sums(pts, None, outs[:, None])
        lo[pos], hi[pos] = mean32(v - e, v + e, pts, n)
        return lo, hi
    if kind == "int" and zero:  # outputs 0
        v, e = cell_sums(pts, None, np.zeros((1, 1)))
        lo[:1], hi[:1] = mean32(v - e, v + e, pts, n)
    if not pos.size:
        return lo, hi
    s64 = s.astype(np.float64)
    if kind == "int":
        a2, a0 = np.zeros_like(top), ((0.5 + U32 * (2 * qmax + 3)) / s64 * (1 + WIDEN)) ** 2
    else:
        al, be = 1 / 16 + 4 * U32, (2.0**-10 + 1000 * U32) / s64 + 2 * ETA32
        a2, a0 = np.full_like(top, 1.125 * al * al), 9.0 * be * be
    lo[pos], hi[pos] = mean32(*_stage0(pts, top, a2, a0), pts, n)
    if gr is None:
        return lo, hi
    grid = gr

    def refine(rows: NDArray[np.intp]) -> None:
        v, e = _cells(pts, cen, grid, rows)
        clo, chi = mean32(v - e, v + e, pts, n)
        at = pos[rows]
        lo[at], hi[at] = np.maximum(lo[at], clo), np.minimum(hi[at], chi)

    if not prune:
        refine(np.arange(pos.size))
        return lo, hi
    refine(np.argsort(lo[pos] + hi[pos], kind="stable")[:PROBE])  # a tight smallest upper bound first
    keep = _keep(lo, hi)
    rows = np.searchsorted(pos, keep[np.isin(keep, pos)])
    if rows.size > 1 and (pts.grid is not None or rows.size * gr.vals.size <= 1 << 15):
        refine(rows)
    return lo, hi


def data_screen(
    x: NDArray[np.float64], scale: Arr, zp: Arr, quant: tuple[Any, ...]
) -> NDArray[np.intp] | None:
    """The candidates that may hold the first minimizer of ``_mse_kernels.data_errors`` on one row ``x``."""
    b = data_bounds(x, scale, zp, quant)
    return None if b is None else _keep(*b)


def data_bounds(
    x: NDArray[np.float64], scale: Arr, zp: Arr, quant: tuple[Any, ...]
) -> tuple[Arr, Arr] | None:
    """Bounds on each candidate's ``_mse_kernels.data_errors`` value for one row ``x`` (module docstring).

    ``scale``, ``zp`` ``(K,)``, one per candidate; ``quant`` as ``data_errors``
    takes it. None when no screen applies: more than :data:`MAX_CODES` codes, a
    constant row, a range below ``2**-982``, or squares near the float64 range.
    """
    n = x.size
    lo, hi = float(x.min()), float(x.max())
    big = max(abs(lo), abs(hi))
    if quant[0] == "int":
        if quant[2] - quant[1] >= MAX_CODES:
            return None
        codes = np.arange(quant[1], quant[2] + 1, dtype=np.float64)[None, :] - zp[:, None]
    else:
        vals = _format_values(quant[1])
        if vals.size > MAX_CODES:
            return None
        codes = np.broadcast_to(vals, (scale.size, vals.size))
    if not hi > lo or 2.01 * big > 1e150 / np.sqrt(n):  # (2 max|x|)**2 n below 1e300
        return None
    nb = int(np.clip((1 << (n - 1).bit_length()) >> 2, 1 << 12, NBUCKETS))
    h = (hi - lo) / nb
    if not h > 2.0**-1000:  # the bucket index needs 1 / h finite
        return None
    beta = np.multiply(np.subtract(x, lo), 1.0 / h).astype(np.intp)
    np.minimum(beta, nb - 1, out=beta)
    cnt = np.bincount(beta, minlength=nb).astype(np.float64)
    s1 = np.bincount(beta, weights=x, minlength=nb).astype(np.float64)
    s2 = np.bincount(beta, weights=x * x, minlength=nb).astype(np.float64)
    q1 = float(np.sqrt(n * float(np.sum(s2)) * (1 + 1e-6)))  # Cauchy-Schwarz: sum |x| <= sqrt(n sum x**2)
    pts = moments(cnt, s1, s2, q1, int(cnt.max()) + 2)
    s = scale[:, None]
    g = codes * s  # the outputs fl(code * s), as the fake quantization computes them
    th = (codes[:, :-1] + codes[:, 1:]) / 2 * s  # thresholds: the (exact) midpoints times s
    eps = 4 * U64 * (nb * h + big)
    wide = 3 * U64 * np.abs(th) + eps
    marg = 1e-6 + 48 * U64 * big / h
    low = np.clip(np.floor((th - wide - lo) / h - marg), 0, nb).astype(np.intp)
    high = np.clip(np.floor((th + wide - lo) / h + marg) + 1, 0, nb).astype(np.intp)
    v, err = cell_sums(pts, low, g)
    m, nt = low.shape
    a = np.repeat(np.arange(nt)[None, :], m, axis=0)  # windows apart (the usual case): codes t, t + 1
    c = a + 1
    ov = np.flatnonzero(np.any(high[:, :-1] > low[:, 1:], axis=1))
    if ov.size:  # a = #(windows ending at or below the range's start), c = #(windows starting below its end)
        off = np.arange(ov.size)[:, None]
        lo_k, hi_k = low[ov] + off * (nb + 2), high[ov] + off * (nb + 2)  # rows apart: one searchsorted
        a[ov] = np.searchsorted(hi_k.ravel(), lo_k.ravel(), "right").reshape(-1, nt) - off * nt
        c[ov] = np.searchsorted(lo_k.ravel(), hi_k.ravel(), "left").reshape(-1, nt) - off * nt
    ga, gc = np.take_along_axis(g, a, 1), np.take_along_axis(g, c, 1)
    pair_lo = ga + np.take_along_axis(g, np.minimum(a + 1, nt), 1)
    pair_hi = np.take_along_axis(g, np.maximum(c - 1, 0), 1) + gc
    xl, xh = 2 * (lo + low * h - eps), 2 * (lo + high * h + eps)
    reach = np.maximum(np.abs(pair_lo - xl), np.abs(pair_lo - xh))
    np.maximum(reach, np.maximum(np.abs(pair_hi - xl), np.abs(pair_hi - xh)), out=reach)
    reach += 16 * U64 * (big + float(np.abs(g).max()))  # the float64 evaluation of the ends
    slack = ((pts.p0[high] - pts.p0[low]) * (gc - ga) * reach).sum(axis=1) * (1 + 1e-9)
    vlo, vhi = v - err - slack, v + err + slack
    u, gn = U64, gamma(n)
    mlo = np.maximum((np.maximum(vlo, 0) * (1 - u) ** 3 - 2 * n * ETA64) * (1 - gn) / n * (1 - u) - ETA64, 0)
    mhi = ((vhi * (1 + u) ** 3 + 2 * n * ETA64) * (1 + gn) / n * (1 + u) + ETA64) * (1 + WIDEN)
    return mlo * (1 - WIDEN), mhi
