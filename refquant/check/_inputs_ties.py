"""Kernels of :mod:`refquant.check.inputs` (internal): the exact tie search and the value classes.

The callers validate; these functions trust their arguments: ``s`` is a
positive finite scalar of the compute dtype ``dt``, ``r`` its reciprocal
rounded to ``dt`` (or None when it overflows), ``z`` an int, ``codes`` an int64
array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._exact import fma_float32

#: Up to this many codes in the range (plus the margin) every code gets its ties.
ALL_CODES = 4096
_EDGE_STEPS = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)
_HUGE_CODES = (2.0**24, 2.0**31, 2.0**32, 2.0**53, 2.0**63, 2.0**64)

FIXED_CLASSES = ("zeros", "subnormals", "huge", "clamp_edges", "below_half")
BULK_CLASSES = ("tie_divide", "tie_multiply", "tie_fused", "near_tie", "grid")


def next_up(x: NDArray[Any]) -> NDArray[Any]:
    with np.errstate(over="ignore"):
        return np.nextafter(x, np.array(np.inf, x.dtype))


def next_down(x: NDArray[Any]) -> NDArray[Any]:
    with np.errstate(over="ignore"):
        return np.nextafter(x, np.array(-np.inf, x.dtype))


def evaluate(c: NDArray[Any], op: str, s: Any, r: Any, z: int) -> NDArray[Any]:
    """``fl(c / s)``, ``fl(c * r)`` or ``fma(c, r, z)`` in ``c``'s dtype."""
    with np.errstate(all="ignore"):
        if op == "divide":
            return np.divide(c, s, dtype=c.dtype)
        if op == "multiply":
            return np.multiply(c, r, dtype=c.dtype)
        return fma_float32(c, r, np.float32(z))


def _ordinal(x: NDArray[Any]) -> NDArray[np.int64]:
    """The position of each float on the number line of its dtype (``-0`` and ``+0`` are both 0)."""
    bits = x.view(f"i{x.dtype.itemsize}").astype(np.int64)
    mag = bits & np.int64(2 ** (8 * x.dtype.itemsize - 1) - 1)
    return np.where(bits < 0, -mag, mag)


def _from_ordinal(o: NDArray[np.int64], dt: np.dtype[Any]) -> NDArray[Any]:
    width = 8 * dt.itemsize
    u = np.abs(o).astype(np.uint64) | np.where(o < 0, np.uint64(1 << (width - 1)), np.uint64(0))
    return u.astype(f"u{dt.itemsize}").view(dt)


def _room(step: NDArray[np.int64], hi: Any, lo: Any) -> NDArray[np.int64]:
    """``min(step, hi - lo)`` for ``hi >= lo`` anywhere in int64 (the difference taken in uint64)."""
    gap = np.asarray(hi, np.int64).view(np.uint64) - np.asarray(lo, np.int64).view(np.uint64)
    return np.minimum(step.astype(np.uint64), gap).astype(np.int64)


def _first(
    t: NDArray[Any], o0: NDArray[np.int64], op: str, s: Any, r: Any, z: int, strict: bool
) -> NDArray[np.int64]:
    """Smallest ordinal ``o`` with ``f(o) > t`` (``strict``) or ``f(o) >= t``, ``f`` being :func:`evaluate`
    (monotone in ``o``): gallop from ``o0`` by doubling steps, then bisect. Beyond the finite range
    the answer is ``ordinal(max) + 1``."""
    dt = t.dtype
    top = int(_ordinal(np.array([np.finfo(dt).max], dt))[0])

    def pred(o: NDArray[np.int64], i: NDArray[np.intp]) -> NDArray[np.bool_]:
        v = evaluate(_from_ordinal(o, dt), op, s, r, z)
        return v > t[i] if strict else v >= t[i]

    everyone = np.arange(t.size)
    o0 = np.clip(o0, -top, top)
    true0 = pred(o0, everyone)
    a = np.where(true0, o0 - 1, o0)  # a: pred false (or -top - 1); b: pred true (or top + 1)
    b = np.where(true0, o0, o0 + 1)
    for down in (True, False):
        i = everyone[true0 == down]
        step = np.ones(i.size, np.int64)
        while i.size:
            probe = b[i] - _room(step, b[i], -top) if down else a[i] + _room(step, top, a[i])
            hit = pred(probe, i)
            if down:
                more = hit & (probe > -top)
                b[i[hit]] = probe[hit]
                a[i[~hit]] = probe[~hit]
                a[i[hit & ~more]] = -top - 1
            else:
                more = ~hit & (probe < top)
                a[i[~hit]] = probe[~hit]
                b[i[hit]] = probe[hit]
                b[i[~hit & ~more]] = top + 1
            i, step = i[more], np.minimum(step[more], 2**61) * 2
    i = everyone[b - a > 1]
    while i.size:
        mid = a[i] + (b[i] - a[i]) // 2
        hit = pred(mid, i)
        b[i[hit]] = mid[hit]
        a[i[~hit]] = mid[~hit]
        i = i[b[i] - a[i] > 1]
    return b


def tie_interval(
    t: NDArray[Any], op: str, s: Any, r: Any, z: int
) -> tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_]]:
    """The smallest and largest ``x`` of ``t``'s dtype with ``evaluate(x) == t``, and where one exists.

    The ``x`` that give ``t`` form one interval, possibly empty (the quotient,
    product and FMA are monotone in ``x`` and so is rounding): its ends are
    the first ``x`` with ``f(x) >= t`` and the last with ``f(x) <= t``, found
    by a search from the first guess ``t * s`` (``t / r``, ``(t - z) / r``)
    computed in float64 and rounded to the dtype.
    """
    dt = t.dtype
    t64 = t.astype(np.float64)
    with np.errstate(all="ignore"):
        if op == "divide":
            guess = t64 * float(s)
        elif op == "multiply":
            guess = t64 / float(r)
        else:
            guess = (t64 - z) / float(r)
        x0 = np.nan_to_num(guess.astype(dt))
    o0 = _ordinal(x0)
    lo = _first(t, o0, op, s, r, z, strict=False)
    hi = _first(t, o0, op, s, r, z, strict=True) - 1
    found = lo <= hi
    return _from_ordinal(lo[found], dt), _from_ordinal(hi[found], dt), found


def tie_targets(codes: NDArray[np.int64], dt: np.dtype[Any], shift: int = 0) -> NDArray[Any]:
    """``k + shift + 0.5`` in ``dt`` for the codes where it is exact (``|2(k + shift) + 1| < 2**p``)."""
    odd = 2 * (codes + shift) + 1
    p = np.finfo(dt).nmant + 1
    keep = np.abs(odd) < 2**p
    return (odd[keep].astype(dt) / dt.type(2)).astype(dt)


def default_codes(span: tuple[int, int], dt: np.dtype[Any]) -> NDArray[np.int64]:
    """Every code of ``span`` if there are at most :data:`ALL_CODES`; else its ends, the codes around 0 and
    ``±2**i + {-1, 0, 1}``, within the range where ``k + 0.5`` is exact in ``dt``."""
    lo, hi = span
    if hi - lo + 1 <= ALL_CODES:
        return np.arange(lo, hi + 1, dtype=np.int64)
    limit = 2 ** (np.finfo(dt).nmant + 1)
    lo_t, hi_t = max(lo, -limit), min(hi, limit)
    parts = [np.arange(lo_t, lo_t + 256), np.arange(hi_t - 255, hi_t + 1), np.arange(-256, 256)]
    powers = np.array([2**i + d for i in range(63) for d in (-1, 0, 1)], dtype=np.int64)
    parts += [powers, -powers, np.array([lo, lo + 1, hi - 1, hi])]
    allc = np.concatenate(parts).astype(np.int64)
    return sorted_unique(allc[(allc >= lo) & (allc <= hi)])


def random_codes(
    span: tuple[int, int], dt: np.dtype[Any], n: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """``n`` uniform codes of ``span``, within the range where ``k + 0.5`` is exact in ``dt``."""
    limit = 2 ** (np.finfo(dt).nmant + 1)
    lo, hi = max(span[0], -limit), min(span[1], limit)
    if lo > hi:
        return np.zeros(0, np.int64)
    return rng.integers(lo, hi, n, endpoint=True, dtype=np.int64)


def _scaled(k: Any, s: Any, dt: np.dtype[Any]) -> NDArray[Any]:
    """``k * s`` computed in float64 and rounded to ``dt``; only the finite ones."""
    with np.errstate(all="ignore"):
        v = (np.asarray(k, np.float64) * float(s)).astype(dt)
    return v[np.isfinite(v)]


def _uniq(*parts: NDArray[Any]) -> NDArray[Any]:
    return sorted_unique(np.concatenate(parts))


def sorted_unique(v: NDArray[Any]) -> NDArray[Any]:
    """The values of ``v``, sorted, each once (``-0`` and ``+0`` count as one; no NaN)."""
    if v.size > 1 and not np.all(v[1:] >= v[:-1]):
        v = np.sort(v)
    return v[np.concatenate([[True], v[1:] != v[:-1]])] if v.size else v


def quantize_classes(
    s: Any, z: int, qmin: int, qmax: int, dt: np.dtype[Any], codes: NDArray[np.int64], nan: bool, inf: bool
) -> dict[str, NDArray[Any]]:
    """The value classes of :func:`refquant.check.inputs.quantize_input_classes` (its docstring)."""
    s = dt.type(s)
    with np.errstate(all="ignore"):
        r = np.divide(dt.type(1), s, dtype=dt)
    ops = ["divide"] + (["multiply"] if np.isfinite(r) else [])
    info = np.finfo(dt)
    out: dict[str, NDArray[Any]] = {}
    out["zeros"] = np.array([0.0, -0.0], dt)
    sub = [info.smallest_subnormal, info.tiny - info.smallest_subnormal, info.tiny]
    out["subnormals"] = np.array([*sub, *(-v for v in sub)], dt)
    huge = [_scaled([c, -c], s, dt) for c in _HUGE_CODES]
    out["huge"] = _uniq(*huge, np.array([info.max, -info.max, info.max / 2, -info.max / 2], dt))
    edges = [_scaled([e + d for d in _EDGE_STEPS], s, dt) for e in (qmin - z, qmax - z)]
    e0 = _scaled([qmin - z, qmax - z], s, dt)
    out["clamp_edges"] = _uniq(*edges, next_up(e0), next_down(e0))
    half = dt.type(np.nextafter(dt.type(0.5), dt.type(0)))
    below = np.array([half, -half], dt)
    out["below_half"] = _uniq(*(v for op in ops for v in tie_interval(below, op, s, r, z)[:2]))
    t = tie_targets(codes, dt)
    near: list[NDArray[Any]] = []
    for op in ("divide", "multiply", "fused"):
        lo: NDArray[Any] = np.zeros(0, dt)
        hi: NDArray[Any] = np.zeros(0, dt)
        if op in ops:
            lo, hi, _ = tie_interval(t, op, s, r, z)
        elif op == "fused" and dt == np.float32 and "multiply" in ops and abs(z) <= 2**24:
            lo, hi, _ = tie_interval(tie_targets(codes, dt, z), op, s, r, z)
        out[f"tie_{op}"] = _uniq(np.stack([lo, hi], axis=1).ravel()).astype(dt)
        near.append(np.stack([next_down(lo), next_up(hi)], axis=1).ravel())
    out["near_tie"] = _uniq(*near).astype(dt)
    exact = codes[np.abs(codes) <= 2 ** (info.nmant + 1)]
    with np.errstate(all="ignore"):
        grid = np.multiply(exact.astype(dt), s, dtype=dt)
    out["grid"] = _uniq(grid[np.isfinite(grid)])
    out["nan"] = np.array([np.nan, -np.nan] if nan else [], dt)
    out["inf"] = np.array([np.inf, -np.inf] if inf else [], dt)
    return out


def assemble(
    classes: dict[str, NDArray[Any]],
    fixed: tuple[str, ...],
    bulk: tuple[str, ...],
    count: int | None,
    natural_random: int,
    fill: Any,
    rng: np.random.Generator,
) -> NDArray[Any]:
    """The fixed classes, then the bulk classes (a random subset when they exceed ``count``), then
    ``fill(rng, n)`` random values up to ``count`` (``natural_random`` of them when ``count`` is None)."""
    head = np.concatenate([classes[c] for c in fixed])
    body = np.concatenate([classes[c] for c in bulk])
    if count is None:
        count = head.size + body.size + natural_random
    if head.size > count:
        raise ValueError(
            f"count must be at least {head.size} (the edge values every result holds), got {count}"
        )
    room = count - head.size
    if body.size > room:
        body = body[np.sort(rng.choice(body.size, room, replace=False))]
    tail = fill(rng, room - body.size)
    return np.ascontiguousarray(np.concatenate([head, body, tail]).astype(head.dtype))
