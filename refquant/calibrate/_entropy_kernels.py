"""Kernels of the KL-divergence (entropy) search (internal; callers validate).

Two evaluations of the same divergence curve:

* :func:`fast_curve` -- every candidate at once: prefix sums for the
  unsmoothed ``"linspace"`` rule, a closed form in prefix sums for ONNX
  Runtime's floor merge with its smoothing (:func:`fast_floor_smoothed`, with a
  proven bound against its float32 evaluation), a padded candidates x bins
  matrix otherwise; also returns a per-candidate bound on ``|fast - exact|``;
* :func:`exact_divergence` -- one candidate in the tools' own float operation
  order (ModelOpt's ``_compute_amax_entropy``, ONNX Runtime's
  ``get_entropy_threshold``, ``smooth_distribution`` and its own float32 ``entropy``;
  ``scipy.stats.entropy`` for ModelOpt).

:func:`select` screens with the first and recomputes with the second only the
candidates that the bound cannot exclude (none when a single finite one is
left: the screen always keeps the argmin), then applies the tie rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import entropy as _scipy_entropy  # type: ignore[import-untyped]  # no stubs installed

_U64 = float(np.finfo(np.float64).eps)
_U32 = float(np.finfo(np.float32).eps)


def windows(nbins: int, two_sided: bool, first: int, stride: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Start and end (exclusive) bin of every candidate window, in search order."""
    if two_sided:
        z = nbins // 2
        i = np.arange(first, z + 1, dtype=np.int64)
        return z - i, np.minimum(z + i + 1, nbins)
    i = np.arange(first, nbins + 1, stride, dtype=np.int64)
    return np.zeros_like(i), i


def linspace_starts(n: NDArray[Any], nq: int) -> NDArray[Any]:
    """``(C, nq + 1)`` first bin of each group: ``ceil(k * (n / nq))`` as ``np.linspace`` rounds it."""
    step = n.astype(np.float64) / nq
    starts = np.ceil(np.arange(nq + 1, dtype=np.float64)[None, :] * step[:, None]).astype(np.int64)
    starts[:, -1] = n
    return starts


def _smooth32(x: NDArray[Any], eps: float) -> NDArray[Any] | None:
    """ONNX Runtime's ``smooth_distribution`` (quant_utils.py), its float32 operations in its order."""
    is_zeros = (x == 0).astype(np.float32)
    is_nonzeros = (x != 0).astype(np.float32)
    n_zeros = is_zeros.sum()
    n_nonzeros = x.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    if not eps1 < 1.0:
        raise ValueError(
            f"eps={eps} smooths {int(n_zeros)} zero bins with {int(n_nonzeros)} nonzero: eps1={eps1} >= 1"
        )
    hist = x.astype(np.float32)
    hist += eps * is_zeros + (-eps1) * is_nonzeros
    if (hist <= 0).sum():
        raise ValueError(f"eps={eps}: smoothing made a bin <= 0 (eps1={eps1})")
    return hist


def exact_divergence(
    c: NDArray[Any],
    s: int,
    e: int,
    nq: int,
    merge: str,
    smoothing: str | None,
    eps: float,
    dtype: np.dtype[Any],
) -> float:
    """Divergence of the window ``c[s:e]`` in the tools' operation order (see the module docstring)."""
    n = e - s
    sl = c[s:e]
    if merge == "linspace":  # ModelOpt: digitize against linspace, zero bins excluded, float averages
        space = np.linspace(0, n, num=nq + 1)
        dig = np.digitize(range(n), space) - 1
        dig[sl == 0] = -1
        live = dig != -1
        sums = np.zeros(nq, np.float64)
        np.add.at(sums, dig[live], sl[live].astype(np.float64))
        cnt = np.bincount(dig[live], minlength=nq)
        sums[cnt > 0] = sums[cnt > 0] / cnt[cnt > 0]
        q: NDArray[Any] = np.zeros(n, np.float64)
        q[live] = sums[dig[live]]
        p = np.array(sl)
        if s:
            p[0] += c[:s].sum()
        p[-1] += c[e:].sum()
    else:  # ONNX Runtime: floor split, remainder into the last sum, int64 averages over whole groups
        p = sl.copy()
        p[0] += c[:s].sum()
        p[-1] += c[e:].sum()
        nz = (p != 0).astype(np.int64)
        m = n // nq
        qb = np.zeros(nq, np.int64)
        qb[:] = sl[: nq * m].reshape(nq, m).sum(axis=1) if m else 0
        qb[-1] += sl[nq * m :].sum()
        q = np.zeros(n, np.int64)
        if m:
            norm = nz[: nq * m].reshape(nq, m).sum(axis=1)
            avg = np.where(norm != 0, qb / np.where(norm != 0, norm, 1), 0.0).astype(np.int64)  # C truncation
            q[: nq * m] = np.repeat(avg, m)
    if smoothing == "onnxruntime":
        ps, qs = _smooth32(p, eps), _smooth32(q, eps)
        if ps is None or qs is None:
            return float("inf")
        return float(_entropy32(ps, qs))  # float32: ONNX Runtime's cast to the edges' dtype is exact
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(_scipy_entropy(p, q))  # float64, as ModelOpt keeps it


def _entropy32(p: NDArray[Any], q: NDArray[Any]) -> Any:
    """ONNX Runtime's own ``entropy(p, q)`` (``onnxruntime.quantization.calibrate``, 1.20+) of two
    positive float32 arrays: ``p`` then ``q`` normalized by their float32 pairwise sums, then
    the float32 sum of ``p * log(p / q)``, each step a float32 NumPy operation (not
    ``scipy.special.rel_entr``, which evaluates each term in double)."""
    p = p / np.sum(p, keepdims=True)
    q = q / np.sum(q, keepdims=True)
    return np.sum(p * np.log(p / q))


def _prefix(x: NDArray[Any]) -> NDArray[Any]:
    return np.concatenate([np.zeros(1, x.dtype), np.cumsum(x)])


def _fast_linspace(c: NDArray[Any], s: NDArray[Any], e: NDArray[Any], nq: int) -> tuple[NDArray[Any], ...]:
    """Prefix-sum curve of the unsmoothed linspace rule; returns (kl, hp, hpq)."""
    cf = c.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        clogc = np.where(cf > 0, cf * np.log(np.where(cf > 0, cf, 1.0)), 0.0)
        cs, ls, zs = _prefix(cf), _prefix(clogc), _prefix((cf != 0).astype(np.int64))
        total = cs[-1]
        n = e - s
        b = s[:, None] + linspace_starts(n, nq)  # (C, nq + 1) absolute group boundaries
        gs = np.diff(cs[b], axis=1)  # group sums S_k
        gn = np.diff(zs[b], axis=1)  # nonzero bins N_k
        slogavg = np.where(gs > 0, gs * np.log(np.where(gs > 0, gs, 1.0) / np.maximum(gn, 1)), 0.0).sum(
            axis=1
        )
        left, right = cs[s], total - cs[e]
        last = cf[e - 1]
        plast = last + right
        first = cf[s]
        pfirst = first + left
        plogp = ls[e] - ls[s]
        plogp = plogp - _xlogx(last) + _xlogx(plast)
        plogp = np.where(s > 0, plogp - _xlogx(first) + _xlogx(pfirst), plogp)
        window = cs[e] - cs[s]
        # outlier mass lands on a bin whose Q is its group's average, or 0 (bin empty): then inf
        k_last = nq - 1 - np.argmax(b[:, ::-1][:, 1:] <= (e - 1)[:, None], axis=1)
        qlast = np.where(
            last > 0, gs[np.arange(len(s)), k_last] / np.maximum(gn[np.arange(len(s)), k_last], 1), 0.0
        )
        qfirst = np.where(first > 0, gs[:, 0] / np.maximum(gn[:, 0], 1), 0.0)
        extra = np.where(right > 0, right * np.log(np.where(qlast > 0, qlast, 1.0)), 0.0)
        extra = extra + np.where(left > 0, left * np.log(np.where(qfirst > 0, qfirst, 1.0)), 0.0)
        cross = slogavg + extra  # sum P log Q (unnormalized)
        hp = np.log(total) - plogp / total
        hpq = np.log(window) - cross / total
        kl = hpq - hp
        bad = ((right > 0) & (qlast == 0)) | ((left > 0) & (qfirst == 0))
        kl = np.where(bad, np.inf, kl)
        kl = np.where((window == 0) | (total == 0), np.nan, kl)
    return kl, hp, np.where(bad, 0.0, hpq)


def _xlogx(x: NDArray[Any]) -> NDArray[Any]:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def _fast_matrix(
    c: NDArray[Any], s: NDArray[Any], e: NDArray[Any], nq: int, merge: str, smoothing: str | None, eps: float
) -> tuple[NDArray[Any], ...]:
    """Curve of any rule from a padded (candidates, bins) matrix, in float64; returns (kl, hp, hpq)."""
    cf = c.astype(np.float64)
    cs = _prefix(cf)
    total = cs[-1]
    out = [np.empty(len(s)) for _ in range(3)]
    order = np.argsort(e - s, kind="stable")
    for blk in np.array_split(order, max(1, len(order) // 128)):
        if not blk.size:
            continue
        bs, be = s[blk], e[blk]
        n = be - bs
        w = int(n.max())
        j = np.arange(w)[None, :]
        inside = j < n[:, None]
        idx = np.where(inside, bs[:, None] + j, 0)
        win = np.where(inside, cf[idx], 0.0)
        p = win.copy()
        rows = np.arange(len(blk))
        p[rows, 0] += cs[bs]
        p[rows, n - 1] += total - cs[be]
        rc = np.concatenate([np.zeros((len(blk), 1)), np.cumsum(win, axis=1)], axis=1)
        if merge == "linspace":
            st = linspace_starts(n, nq)
            mark = np.zeros((len(blk), w + 1))
            np.add.at(mark, (np.repeat(rows, nq - 1), st[:, 1:nq].ravel()), 1.0)
            g = np.cumsum(mark, axis=1)[:, :w].astype(np.int64)
            live = inside & (win != 0)
            rn = np.concatenate([np.zeros((len(blk), 1)), np.cumsum(live, axis=1)], axis=1)
            gsum = np.diff(np.take_along_axis(rc, st, axis=1), axis=1)
            gcnt = np.diff(np.take_along_axis(rn, st, axis=1), axis=1)
            q = np.where(live, np.take_along_axis(gsum / np.maximum(gcnt, 1), g, axis=1), 0.0)
        else:
            m = n // nq
            st = np.arange(nq + 1)[None, :] * m[:, None]
            nzp = inside & (p != 0)
            rn = np.concatenate([np.zeros((len(blk), 1)), np.cumsum(nzp, axis=1)], axis=1)
            gsum = np.diff(np.take_along_axis(rc, st, axis=1), axis=1)
            gsum[:, -1] += rc[rows, n] - rc[rows, nq * m]
            gnz = np.diff(np.take_along_axis(rn, st, axis=1), axis=1)
            avg = np.where(gnz > 0, np.floor(gsum / np.maximum(gnz, 1)), 0.0)
            covered = inside & (j < (nq * m)[:, None])
            g = np.where(covered, j // np.maximum(m, 1)[:, None], 0)
            q = np.where(covered, np.take_along_axis(avg, np.minimum(g, nq - 1), axis=1), 0.0)
        if smoothing == "onnxruntime":
            p, q = _smooth64(p, inside, n, eps), _smooth64(q, inside, n, eps)
        with np.errstate(divide="ignore", invalid="ignore"):
            tp = p.sum(axis=1, keepdims=True)
            tq = q.sum(axis=1, keepdims=True)
            pn, qn = p / tp, q / tq
            pos = inside & (pn > 0)
            hp = -np.where(pos, pn * np.log(np.where(pos, pn, 1.0)), 0.0).sum(axis=1)
            hpq_terms = np.where(pos, pn * np.log(np.where(qn > 0, qn, 1.0)), 0.0)
            hpq = -hpq_terms.sum(axis=1)
            kl = hpq - hp
            empty = (tq[:, 0] == 0) | (tp[:, 0] == 0)
            inf = (pos & (qn == 0)).any(axis=1) | (empty if smoothing == "onnxruntime" else False)
            kl = np.where(inf, np.inf, kl)
            if smoothing != "onnxruntime":
                kl = np.where(empty, np.nan, kl)
        out[0][blk], out[1][blk], out[2][blk] = kl, hp, np.where(inf, 0.0, hpq)
    return tuple(out)


def _smooth64(x: NDArray[Any], inside: NDArray[Any], n: NDArray[Any], eps: float) -> NDArray[Any]:
    """ONNX Runtime's smoothing in float64, rowwise; an all-zero row stays zero (the tool's ``None``)."""
    zero = inside & (x == 0)
    nz = zero.sum(axis=1).astype(np.float64)
    nnz = n - nz
    e1 = np.where(nnz > 0, eps * nz / np.maximum(nnz, 1), 0.0)
    sm = np.where(zero, eps, x - e1[:, None])
    return np.where(inside & (nnz[:, None] > 0), sm, 0.0)


_SERIES = 24  # at most this many terms of the expansion of (c - e) log(c - e) in e / c
_ROWS = 128  # candidates per block of the (candidates, groups) arrays: they stay small and cached


def sum_depth(n: NDArray[Any]) -> NDArray[Any]:
    """An upper bound on the additions any term goes through in NumPy's pairwise float sum of ``n`` terms.

    NumPy (``pairwise_sum`` in loops_utils.h.src) adds ``n < 8`` terms in a row,
    ``8 <= n <= 128`` terms in 8 running sums (``n // 8 - 1`` additions each)
    combined in 3 levels plus the ``n % 8`` leftovers, and splits a longer
    array in two (the first part a multiple of 8) one level up, until it is
    ``<= 128`` (at most ``ceil(log2 n) - 6`` levels).
    """
    n = np.asarray(n, dtype=np.int64)
    small = np.where(n < 8, n, n // 8 - 1 + 3 + n % 8)
    levels = np.ceil(np.log2(np.maximum(n, 1))).astype(np.int64) - 6
    return np.where(n <= 128, small, 25 + levels)


def _fser(x: NDArray[Any], e: NDArray[Any], k: NDArray[Any]) -> NDArray[Any]:
    """The series ``x log x - e (log x + 1) + sum_k e^k x^(1-k) / (k (k-1))`` (0 where ``x = 0``)."""
    xs = np.where(x > 0, x, 1.0)
    tail = ((e[:, None] / xs[:, None]) ** k / (k * (k - 1))).sum(axis=1) * xs
    return np.where(x > 0, xs * np.log(xs) - e * (np.log(xs) + 1.0) + tail, 0.0)


def _xlogx_minus(x: NDArray[Any], e: NDArray[Any]) -> NDArray[Any]:
    """``(x - e) log(x - e)`` where ``x > 0``, else 0."""
    y = np.where(x > 0, x - e, 1.0)
    return np.where(x > 0, y * np.log(y), 0.0)


def _groups(
    cs: NDArray[Any], nz: NDArray[Any], s: NDArray[Any], m: NDArray[Any], nq: int, cand: dict[str, Any]
) -> tuple[NDArray[Any], ...]:
    """Per candidate (a block of rows): zero groups of Q, ``sum_k g_k`` and ``sum_k (c_k, n_k) log g_k``."""
    idx = s[:, None] + np.arange(nq + 1)[None, :] * m[:, None]
    gc = np.diff(cs[idx], axis=1)  # raw counts per group
    nrm = np.diff(nz[idx], axis=1)  # nonzero bins of P per group
    nrm[:, 0] += cand["dfirst"]
    nrm[:, -1] += cand["dlast_in"]
    qb = gc.copy()
    qb[:, -1] += cand["rsum"]
    avg = np.zeros_like(qb)
    np.divide(qb, nrm, out=avg, where=nrm > 0)
    np.floor(avg, out=avg)  # ONNX Runtime's int64 truncation of a positive float64 quotient
    zero = avg == 0
    zc = zero.sum(axis=1)
    zq = m * zc + cand["rem"]
    nzq = cand["n"] - zq
    with np.errstate(divide="ignore", invalid="ignore"):
        e1q = (cand["eps"] * zq) / nzq
    e1q32 = np.where(nzq > 0, e1q, 0.0).astype(np.float32).astype(np.float64)
    g = avg - np.where(e1q32 < 1, e1q32, 0.5)[:, None]
    g[zero] = cand["ez"]
    lg = np.log(g)
    return (
        nzq,
        e1q,
        e1q32,
        g.sum(axis=1),
        np.einsum("ij,ij->i", gc, lg),
        np.einsum("ij,ij->i", nrm, lg),
        lg.sum(axis=1),
        lg[:, 0],
        lg[:, -1],
    )


def fast_floor_smoothed(
    c: NDArray[Any], s: NDArray[Any], e: NDArray[Any], nq: int, eps: float
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    r"""ONNX Runtime's floor-merged, smoothed divergence of every candidate in closed form, O(nq) each.

    Returns ``(kl, bound, bad)``: ``kl`` (float64; ``inf`` exactly where ONNX
    Runtime's ``smooth_distribution(q)`` or ``(p)`` is None), a bound on
    ``|kl - D|`` where ``D`` is ONNX Runtime's float32 value, and ``bad``, the
    candidates whose smoothing ONNX Runtime's assertions reject (``eps1 >= 1``).
    Requires nonzero counts ``>= 1`` and a total ``< 2**53``.

    The model: ``h`` = the window's ``P`` smoothed with the float32 constants
    ``e_z = fl32(eps)`` (zero bins) and ``e_1 = fl32(eps * zeros / nonzeros)``
    (subtracted from the others), ``g`` the same of ``Q`` (constant over each
    group: ``avg_k - e_1'`` or ``e_z``), all in exact arithmetic; then

    .. math:: D = \frac{\sum_j h_j \log h_j - \sum_k H_k \log g_k}{S_h} + \log S_g - \log S_h

    with the group sums ``H_k`` of ``h`` and the totals ``S_h``, ``S_g`` from
    prefix sums of the counts and of the nonzero indicators, and
    ``sum (c - e) log (c - e) = sum c log c - e sum (log c + 1)
    + sum_{k>=2} e^k / (k (k-1)) sum c^{1-k}`` (prefix sums of ``c^{-k}``).

    The bound (float32 unit ``u = 2**-24``, ``d`` = :func:`sum_depth` of the
    window, ``gamma = d u / (1 - d u)``): ONNX Runtime's ``fl32(fl32(p) - e_1)`` is
    ``h (1 + sigma)`` with ``|sigma| <= u (2 + e_1 + u) / (1 - e_1)`` (``p >= 1``),
    its pairwise total errs by ``gamma``, the division by ``u``, so its ``pk = P (1 + alpha)``
    with ``|alpha| <= A = (1 + sigma)(1 + u) / ((1 - sigma)(1 - gamma)) - 1`` (``B`` for ``qk``);
    then ``|sum pk log(pk/qk) - D| <= A W + (1 + A) Lambda``, ``Lambda = log((1 + A)/(1 - B))``,
    ``W = sum P |log(P/Q)| <= D + sqrt(2 D)`` (``sum_{P<Q} P log(Q/P) <= TV <= sqrt(D/2)``,
    Pinsker); each float32 term ``p * log(p / q)`` (a float32 division, NumPy's float32
    ``log`` within 4 ulp -- its SIMD kernels state 3.83 -- and a float32 product) adds
    ``u (1.02 X + 10 W_x)`` with ``X = 1 + A``,
    ``W_x = X (W + Lambda)``, the pairwise sum of the terms ``1.01 gamma W_x``. The total
    is taken with a 5% margin for second-order terms, plus the float64 error of the
    closed form and the series' remainder.
    """
    cf = c.astype(np.float64)
    nzc = cf != 0
    safe = np.where(nzc, cf, 1.0)
    lc = np.log(safe)
    cs, nz = _prefix(cf), _prefix(nzc.astype(np.float64))
    total = cs[-1]
    ez = float(np.float32(eps))
    n = e - s
    left, right = cs[s], total - cs[e]
    cfirst, clast = cf[s], cf[e - 1]
    pfirst, plast = cfirst + left, clast + right
    dfirst = (pfirst != 0).astype(np.float64) - (cfirst != 0)
    dlast = (plast != 0).astype(np.float64) - (clast != 0)
    nzp = nz[e] - nz[s] + dfirst + dlast
    zp = n - nzp
    with np.errstate(divide="ignore", invalid="ignore"):
        e1p = (eps * zp) / nzp
    e1p32 = np.where(nzp > 0, e1p, 0.0).astype(np.float32).astype(np.float64)
    e1 = np.where(
        e1p32 < 1, e1p32, 0.5
    )  # candidates with eps1 >= 1 are "bad": recomputed exactly (and raise)
    m = n // nq
    rem = n - nq * m
    tail_s = s + nq * m
    rsum, rnz = cs[e] - cs[tail_s], nz[e] - nz[tail_s]
    cand = dict(eps=eps, ez=ez, n=n, rem=rem, dfirst=dfirst, dlast_in=dlast * (rem == 0), rsum=rsum)
    parts = []
    for a in range(0, len(s), _ROWS):
        blk = {k: (v[a : a + _ROWS] if isinstance(v, np.ndarray) else v) for k, v in cand.items()}
        parts.append(_groups(cs, nz, s[a : a + _ROWS], m[a : a + _ROWS], nq, blk))
    nzq, e1q, e1q32, gsum, clg, nlg, lgsum, lg0, lgl = (np.concatenate(p) for p in zip(*parts, strict=True))
    bad = ((nzp > 0) & ((e1p32 >= 1.0) | ~(e1p < 1.0))) | ((nzq > 0) & ((e1q32 >= 1.0) | ~(e1q < 1.0)))
    e1q32 = np.where(e1q32 < 1, e1q32, 0.5)
    sg = m * gsum + rem * ez
    # sum_k H_k log g_k, H_k = raw_k - e_1 nrm_k + e_z (m - nrm_k) (+ the outliers in the end groups)
    shlg = clg - (e1 + ez) * nlg + ez * m * lgsum + left * lg0 + right * (rem == 0) * lgl
    hr = rsum + right * (rem > 0) - e1 * (rnz + dlast * (rem > 0)) + ez * (rem - rnz - dlast * (rem > 0))
    shlg = shlg + hr * np.log(ez)
    kmax = float(e1.max(initial=0.0))
    nk = _SERIES if kmax <= 0 else int(np.clip(np.ceil(np.log(1e-18) / np.log(kmax)), 2, _SERIES))
    kk = np.arange(2, nk + 1, dtype=np.float64)
    powers = np.where(nzc[None, :], safe[None, :] ** (1 - kk)[:, None], 0.0)
    iv = np.concatenate([np.zeros((nk - 1, 1)), np.cumsum(powers, axis=1)], axis=1)
    series = ((iv[:, e] - iv[:, s]).T * (e1[:, None] ** kk / (kk * (kk - 1)))).sum(axis=1)
    cl, lg1 = _prefix(np.where(nzc, cf * lc, 0.0)), _prefix(np.where(nzc, lc + 1.0, 0.0))
    shlh = cl[e] - cl[s] - e1 * (lg1[e] - lg1[s]) + series + zp * ez * np.log(ez)
    shlh = shlh - _fser(clast, e1, kk) + _xlogx_minus(plast, e1)
    shlh = np.where(left > 0, shlh - _fser(cfirst, e1, kk) + _xlogx_minus(pfirst, e1), shlh)
    sh = total - e1 * nzp + ez * zp
    inf = (nzp == 0) | (nzq == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(inf, np.inf, (shlh - shlg) / sh + np.log(sg) - np.log(sh))
        # float64 error of the closed form, and the series' remainder (c >= 1)
        tail = (nz[e] - nz[s]) * e1 ** (nk + 1) / ((nk + 1) * nk * (1 - e1))
        fe = 16 * (c.size + nq + nk) * _U64 * (np.abs(shlh) + np.abs(shlg)) / sh
        fe = fe + 8 * _U64 * (np.abs(np.log(sh)) + np.abs(np.log(sg))) + 2 * tail / sh
        u = _U32 / 2
        gam = sum_depth(n) * u
        gam = gam / (1 - gam)
        sig_p, sig_q = u * (2 + e1 + u) / (1 - e1), u * (2 + e1q32 + u) / (1 - e1q32)
        a = (1 + sig_p) * (1 + u) / ((1 - sig_p) * (1 - gam)) - 1
        bq = (1 + sig_q) * (1 + u) / ((1 - sig_q) * (1 - gam)) - 1
        lam = np.log1p(a) - np.log1p(-bq)
        dd = np.maximum(np.where(inf, 0.0, kl), 0.0) + fe
        w = dd + np.sqrt(2 * dd)
        wx = (1 + a) * (w + lam)
        bound = 1.05 * (a * w + (1 + a) * lam + u * (1.02 * (1 + a) + 10 * wx) + 1.01 * gam * wx) + fe
    return kl, np.where(inf, 0.0, bound), bad


def fast_curve(
    c: NDArray[Any],
    s: NDArray[Any],
    e: NDArray[Any],
    nq: int,
    merge: str,
    smoothing: str | None,
    eps: float,
    dtype: np.dtype[Any],
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], bool]:
    """The divergence of every candidate, fast, a bound on its distance to the exact value, the
    candidates to recompute regardless (``bad``) and whether the fast ``inf`` are exact.

    ONNX Runtime's floor merge with its smoothing: :func:`fast_floor_smoothed` (its
    bound is documented there). Otherwise:

    Bound (first-order rounding analysis, with a 4x margin): the exact evaluation
    normalizes in working precision ``u`` (float32 when smoothed, else float64)
    with pairwise sums, so each ``p_j``, ``q_j`` has relative error at most
    ``(log2 n + 2) u``, each ``log(p_j / q_j)`` absolute error at most
    ``(2 log2 n + 6) u`` and the sum of the terms ``t_j`` adds
    ``(log2 n + 2) u sum|t_j|``; ``sum|t_j| <= H(p) + H(p, q)`` because
    ``p, q <= 1``. The fast float64 value errs by at most ``64 n u64`` times
    the same magnitude (prefix sums of up to ``n`` terms).
    """
    if merge == "floor" and smoothing == "onnxruntime" and _closed_form_ok(c, e - s):
        kl, bound, bad = fast_floor_smoothed(c, s, e, nq, eps)
        return kl, bound, bad, True
    if merge == "linspace" and smoothing is None:
        kl, hp, hpq = _fast_linspace(c, s, e, nq)
    else:
        kl, hp, hpq = _fast_matrix(c, s, e, nq, merge, smoothing, eps)
    n = (e - s).astype(np.float64)
    u = _U32 if smoothing == "onnxruntime" else _U64
    size = 1.0 + np.abs(hp) + np.abs(hpq) + np.log(np.maximum(c.sum(), 1.0))
    bound = 4.0 * ((2.0 * np.log2(n) + 8.0) * u + 64.0 * n * _U64) * size
    return kl, bound, np.zeros(kl.shape, bool), False


def _closed_form_ok(c: NDArray[Any], n: NDArray[Any]) -> bool:
    """Whether :func:`fast_floor_smoothed` applies: nonzero counts >= 1, a total < 2**53, windows >= 1 bin."""
    nzc = c[c != 0]
    return bool(n.size and n.min() >= 1 and (nzc.size == 0 or nzc.min() >= 1) and float(c.sum()) < 2.0**53)


def select(
    c: NDArray[Any],
    s: NDArray[Any],
    e: NDArray[Any],
    nq: int,
    merge: str,
    smoothing: str | None,
    eps: float,
    dtype: np.dtype[Any],
    tie: str,
) -> tuple[int, int]:
    """Index of the chosen candidate (tool's tie rule) and how many were recomputed exactly."""
    if len(s) == 1:  # nothing to choose; the smoothing's checks still apply (they raise)
        if smoothing is not None:
            exact_divergence(c, int(s[0]), int(e[0]), nq, merge, smoothing, eps, dtype)
        return 0, int(smoothing is not None)
    kl, bound, bad, inf_exact = fast_curve(c, s, e, nq, merge, smoothing, eps, dtype)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(kl)
        if finite.any():
            m = int(np.argmin(np.where(finite, kl, np.inf)))
            keep = (finite & (kl - bound <= kl[m] + bound[m])) | np.isnan(kl) | bad
        else:
            keep = bad.copy() if inf_exact else np.ones(kl.shape, bool)
    kept = np.flatnonzero(keep)
    if kept.size == 1 and np.isfinite(kl[kept[0]]) and not bad[kept[0]]:
        return int(kept[0]), 0  # the screen keeps the argmin: a lone finite survivor is it
    exact = np.full(kl.shape, np.inf)
    for k in kept:
        exact[k] = exact_divergence(c, int(s[k]), int(e[k]), nq, merge, smoothing, eps, dtype)
    if tie == "first":
        return int(np.argmin(exact)), int(keep.sum())
    return len(exact) - 1 - int(np.argmin(exact[::-1])), int(keep.sum())


def exact_curve(
    c: NDArray[Any],
    s: NDArray[Any],
    e: NDArray[Any],
    nq: int,
    merge: str,
    smoothing: str | None,
    eps: float,
    dtype: np.dtype[Any],
) -> NDArray[Any]:
    """Every candidate's divergence in the tools' own operation order (slow: one candidate at a time)."""
    return np.array(
        [
            exact_divergence(c, int(a), int(b), nq, merge, smoothing, eps, dtype)
            for a, b in zip(s, e, strict=True)
        ]
    )
