"""The search of :func:`refquant.check.diagnose_quantize`: the problem, the subset, the cascade (internal).

The reference is computed once; the hypotheses are tried on a subset (the
differing elements, or a sample of 4096 of them, plus matching elements near
ties, at the clamp edges and at random), first on 128 of those elements, then
on all of them; only the survivors are confirmed on the whole array, with
:func:`refquant.quantize.quantize` itself when they are knobs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant import _granularity as gran
from refquant._exact import fma_float64
from refquant._validate import _asarray, as_float_array, check_bool, show_values
from refquant.check import _diagnose_kernels as K
from refquant.quantize import prepare_arguments, quantize

MIS_SAMPLE = 4096  # differing elements the hypotheses are tried on
POOL = 1 << 16  # matching elements screened for near-ties and clamp edges
NEAR, EDGE, RANDOM = 1024, 256, 1024  # matching elements kept of each kind
STAGE1 = 64  # elements of each kind in the first, cheap screen
MAX_VERIFY = 12  # full-array confirmations per level (singles, then pairs)
MAX_EQUIVALENT = 4  # explanations of the same size reported
CHUNK = 1 << 16  # elements per chunk of a full-array check of a slip


@dataclass
class Problem:
    """The validated call, the reference codes and ``actual`` as codes."""

    x: NDArray[Any]
    scale: NDArray[Any]  # as given (validated), parameter shape; 0-d per tensor
    s_cd: NDArray[Any]  # rounded to x's dtype
    z: NDArray[np.int64]
    qmin: int
    qmax: int
    g: gran.Granularity
    storage: np.dtype[Any]
    ref: NDArray[Any]
    act: NDArray[Any]  # integer codes, or float64 codes (float or dequantized actual)
    nan: NDArray[np.bool_] | None  # NaN positions of x (flat), None when there are none
    mis: NDArray[np.intp]  # flat indices of the differing elements (NaN positions excluded)
    dequantized: bool
    actual_given: NDArray[Any]
    off_grid: int = 0
    cache: dict[Any, tuple[NDArray[Any], NDArray[np.int64]]] = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape)

    @property
    def x_dtype(self) -> np.dtype[Any]:
        return self.x.dtype

    @property
    def total(self) -> int:
        return int(self.x.size - (0 if self.nan is None else self.nan.sum()))

    def param_index(self, idx: NDArray[np.intp], axis: int | None = None) -> NDArray[np.intp] | None:
        """Flat indices into the parameters of the elements ``idx`` (None per tensor)."""
        g = self.g
        if g.kind == "tensor":
            return None
        mi = list(np.unravel_index(idx, self.shape))
        if g.kind == "axis":
            ax = g.axis if axis is None else axis
            assert ax is not None
            return np.asarray(mi[ax])
        assert g.axis is not None and g.block_size is not None
        mi[g.axis] = mi[g.axis] // g.block_size
        return np.ravel_multi_index(tuple(mi), gran.param_shape(self.shape, g))

    def params_at(
        self, idx: NDArray[np.intp], axis: int | None = None
    ) -> tuple[NDArray[Any], NDArray[np.int64]]:
        pi = self.param_index(idx, axis)
        if pi is None:
            return self.scale, self.z
        return self.scale.reshape(-1)[pi], self.z.reshape(-1)[pi]

    def full_params(self, axis: int | None) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """Per-element parameters, flat (``axis`` overrides a per-axis layout), 0-d per tensor."""
        if self.g.kind == "tensor":
            return self.scale, self.z
        key = ("full", axis)
        if key not in self.cache:
            g = self.g if axis is None else gran.resolve(self.shape, axis, None)
            s = np.broadcast_to(gran.broadcast_param(self.scale, g, self.shape), self.shape).reshape(-1)
            z = np.broadcast_to(gran.broadcast_param(self.z, g, self.shape), self.shape).reshape(-1)
            self.cache[key] = (s, z)
        return self.cache[key]

    def reproduces(self, settings: Mapping[str, Any]) -> bool:
        """Whether ``settings`` give ``actual`` exactly on the whole array (NaN positions of ``x`` ignored).

        Knobs are run through :func:`refquant.quantize.quantize` itself; slips
        through the model, chunk by chunk, stopping at the first difference.
        """
        keep = None if self.nan is None else ~self.nan
        if K.is_knob_only(settings):
            kw = {k: v for k, v in settings.items() if k != "axis"}
            try:
                codes = quantize(
                    self.x, self.scale, self.z, self.qmin, self.qmax, axis=settings.get("axis", self.g.axis),
                    block_size=self.g.block_size, nan="zero_point", **kw,
                )  # fmt: skip
            except ValueError:  # e.g. 1/s overflows, or s rounds to 0 in float16
                return False
            if keep is None:
                return bool(np.array_equal(codes, self.act))
            return bool(np.array_equal(codes.reshape(-1)[keep], self.act.reshape(-1)[keep]))
        s, z = self.full_params(settings.get("axis"))
        x, act = self.x.reshape(-1), self.act.reshape(-1)
        for a in range(0, x.size, CHUNK):
            b = a + CHUNK
            sa, za = (s, z) if s.ndim == 0 else (s[a:b], z[a:b])
            codes = K.model_codes(x[a:b], sa, za, self.qmin, self.qmax, settings, self.x_dtype, self.storage)
            same = codes == act[a:b]
            if keep is not None:
                same |= ~keep[a:b]
            if not same.all():
                return False
        return True


@dataclass
class Subset:
    """The elements the hypotheses are screened on: differing ones first, then matching ones."""

    idx: NDArray[np.intp]
    first: NDArray[np.intp]  # positions in idx of the cheap first screen
    pool: int  # matching elements screened for near-ties
    near_ties: int  # ... of which within two ulps of a tie x/s = k + 1/2 (in x's dtype)
    exact_ties: int  # ... of which exactly at one
    x: NDArray[Any] = field(repr=False)
    act: NDArray[np.float64] = field(repr=False)
    cache: dict[Any, tuple[NDArray[Any], NDArray[np.int64]]] = field(default_factory=dict, repr=False)


def build_problem(
    x: Any,
    actual: Any,
    scale: Any,
    zero_point: Any,
    quant_min: Any,
    quant_max: Any,
    axis: Any,
    block_size: Any,
    dequantized: Any,
) -> Problem:
    """Validate the arguments (naming the bad one), compute the reference, map ``actual`` to codes."""
    deq = check_bool("dequantized", dequantized)
    xa, s_cd, z, g, _ = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, None, nan="zero_point"
    )
    qmin, qmax = int(quant_min), int(quant_max)
    s_given = gran.check_param("scale", as_float_array("scale", scale), xa.shape, g)
    given = _asarray("actual", actual)
    if given.shape != xa.shape:
        raise ValueError(
            f"actual must have x's shape {xa.shape}, got shape {given.shape} ({show_values(given)})"
        )
    if given.dtype.kind not in "iubf":
        raise TypeError(f"actual must be an array of integer codes or floats, got dtype {given.dtype}")
    ref = quantize(xa, scale, zero_point, qmin, qmax, axis=axis, block_size=block_size, nan="zero_point")
    storage = ref.dtype
    if given.dtype.kind in "iu":
        info = np.iinfo(given.dtype)
        if info.min <= qmin and qmax <= info.max:
            storage = given.dtype
    off_grid = 0
    if deq:
        act, off_grid = _codes_of_floats(given, s_cd, z, g, xa.shape)
    elif given.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(given) & (given != np.round(given))
        if np.any(bad):
            raise ValueError(
                "actual holds non-integer floats "
                f"{show_values(given[bad])} with dequantized=False; pass dequantized=True if it "
                "holds dequantized values (q - z) * s"
            )
        act = given.astype(np.float64)
    else:
        act = given if given.dtype.kind != "b" else given.astype(np.int64)
    if act.dtype.kind == "f":
        act = _as_codes(act, ref.dtype)
    nan = None
    if xa.size and np.isnan(np.min(xa)):
        nan = np.isnan(xa).reshape(-1)
    with np.errstate(invalid="ignore"):
        differ = (act != ref).reshape(-1)
    if nan is not None:
        differ &= ~nan
    mis = np.flatnonzero(differ)
    return Problem(xa, s_given, s_cd, z, qmin, qmax, g, storage, ref, act, nan, mis, deq, given, off_grid)


def _as_codes(act: NDArray[np.float64], dtype: np.dtype[Any]) -> NDArray[Any]:
    """Float codes as ``dtype`` (the reference's) when they all fit exactly: faster comparisons."""
    info = np.iinfo(dtype)
    if act.size and info.min <= np.min(act) and np.max(act) <= info.max:  # NaN fails the test
        if np.array_equal(act, np.round(act)):
            return act.astype(dtype)
    return act


def _codes_of_floats(
    y: NDArray[Any], s_cd: NDArray[Any], z: NDArray[np.int64], g: gran.Granularity, shape: tuple[int, ...]
) -> tuple[NDArray[np.float64], int]:
    """``y / s + z`` snapped to the nearest integer where it is within 1/4 of one; the rest kept."""
    s = np.broadcast_to(gran.broadcast_param(s_cd, g, shape), shape).reshape(-1)
    zz = np.broadcast_to(gran.broadcast_param(z, g, shape), shape).reshape(-1)
    flat = y.reshape(-1)
    out = np.empty(flat.size, np.float64)
    off = 0
    for a in range(0, flat.size, CHUNK):  # chunks stay in cache
        b = a + CHUNK
        sa, za = (s, zz) if s.ndim == 0 else (s[a:b], zz[a:b])
        with np.errstate(all="ignore"):
            c = flat[a:b].astype(np.float64) / sa.astype(np.float64) + za
            r = np.rint(c)
            on = np.abs(c - r) <= 0.25
        off += int(np.count_nonzero(~on & np.isfinite(c)))
        out[a:b] = np.where(on, r, c)
    return out.reshape(shape), off


def build_subset(p: Problem) -> Subset:
    """The screening subset (deterministic: a fixed seed picks the samples)."""
    rng = np.random.default_rng(0)
    n = p.x.size
    mis = p.mis if p.mis.size <= MIS_SAMPLE else p.mis[_draw(rng, p.mis.size, MIS_SAMPLE)]
    mis = mis[rng.permutation(mis.size)]
    flat_x, flat_act, flat_ref = p.x.reshape(-1), p.act.reshape(-1), p.ref.reshape(-1)
    step = max(1, n // POOL)  # a strided pool with a random start covers every region of x
    pool = np.arange(int(rng.integers(step)), n, step, dtype=np.intp)
    if p.nan is not None:
        pool = pool[~p.nan[pool]]
    pool = pool[flat_act[pool] == flat_ref[pool]]
    s, _ = p.params_at(pool)
    with np.errstate(all="ignore"):
        v = flat_x[pool].astype(np.float64) / s.astype(np.float64)
        d = np.abs(v - np.floor(v) - 0.5)
        tol = np.spacing(np.maximum(np.abs(v), 1.0).astype(p.x_dtype)).astype(np.float64) * 2
        near_mask = d <= tol
    near, dn = pool[near_mask], d[near_mask]
    if near.size > NEAR:
        keep = np.argpartition(dn, NEAR)[:NEAR]
        near, dn = near[keep], dn[keep]
    near = near[np.argsort(dn, kind="stable")]
    r = flat_ref[pool]
    edge = pool[(r == p.qmin) | (r == p.qmax)]
    edge = edge[_draw(rng, edge.size, EDGE)] if edge.size > EDGE else edge
    rand = pool[_draw(rng, pool.size, RANDOM)] if pool.size > RANDOM else pool
    matched = _unique_keep_order(np.concatenate([near, edge, rand]).astype(np.intp))
    idx = np.concatenate([mis.astype(np.intp), matched])
    first_matched = near[:STAGE1] if near.size else rand[:STAGE1]
    order = np.argsort(idx, kind="stable")
    where = order[np.searchsorted(idx[order], first_matched)]
    first = np.concatenate([np.arange(min(STAGE1, mis.size), dtype=np.intp), where.astype(np.intp)])
    act = flat_act[idx].astype(np.float64)
    with np.errstate(all="ignore"):  # exact: the residual x - (k + 1/2) s with one rounding
        xs, ss, vs = flat_x[pool[near_mask]].astype(np.float64), s_near(s, near_mask), v[near_mask]
        exact = int(np.count_nonzero(fma_float64(-(np.floor(vs) + 0.5), ss, xs) == 0))
    return Subset(idx, first, int(pool.size), int(near_mask.sum()), exact, flat_x[idx], act)


def s_near(s: NDArray[Any], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    return (s[mask] if s.ndim else s).astype(np.float64)


def _draw(rng: np.random.Generator, n: int, k: int) -> NDArray[np.intp]:
    """About ``k`` distinct indices below ``n`` (drawn with replacement, duplicates dropped), sorted."""
    a = np.sort(rng.integers(0, n, k))
    return a[np.concatenate([[True], a[1:] != a[:-1]])].astype(np.intp)


def _unique_keep_order(a: NDArray[np.intp]) -> NDArray[np.intp]:
    if a.size == 0:
        return a
    order = np.argsort(a, kind="stable")
    sa = a[order]
    first = order[np.concatenate([[True], sa[1:] != sa[:-1]])]
    return a[np.sort(first)]


def passes(p: Problem, sub: Subset, settings: Mapping[str, Any], where: NDArray[np.intp] | None) -> bool:
    """Whether ``settings`` give ``actual`` on the subset (or on its positions ``where``)."""
    ax = settings.get("axis")
    if ax not in sub.cache:
        sub.cache[ax] = p.params_at(sub.idx, ax)
    s, z = sub.cache[ax]
    x, act = sub.x, sub.act
    if where is not None:
        x, act = x[where], act[where]
        if s.ndim:
            s, z = s[where], z[where]
    codes = K.model_codes(x, s, z, p.qmin, p.qmax, settings, p.x_dtype, p.storage)
    return bool(np.array_equal(codes, act))


@dataclass
class SearchResult:
    found: list[dict[str, Any]]  # verified explanations of the smallest size, in order of preference
    searched: int
    capped: bool  # more survivors than MAX_VERIFY confirmations


def search(p: Problem, sub: Subset) -> SearchResult:
    """Singles, then (only if none explains ``actual``) pairs; the survivors confirmed on the whole array."""
    atoms = K.candidate_atoms(
        p.x_dtype, p.shape, p.g.kind, p.g.axis, int(p.scale.size), p.qmin, p.qmax,
        bool(np.any(p.z != 0)), _wide(p), p.storage,
    )  # fmt: skip
    singles = [a for a in atoms if K.valid_alone(a, p.x_dtype)]
    found, capped = _level(p, sub, singles)
    searched = len(singles)
    if found:
        return SearchResult(found, searched, capped)
    pairs: list[tuple[int, int, dict[str, Any]]] = []
    for i, a in enumerate(atoms):
        for b in atoms[i + 1 :]:
            h = K.combine(a, b, p.x_dtype)
            if h is not None:
                pairs.append((_slips(a) + _slips(b), len(pairs), h))
    ordered = [h for _, _, h in sorted(pairs, key=lambda t: (t[0], t[1]))]
    found, capped = _level(p, sub, ordered)
    return SearchResult(found, searched + len(ordered), capped)


def _level(
    p: Problem, sub: Subset, hypotheses: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], bool]:
    survivors = [h for h in hypotheses if passes(p, sub, h, sub.first)]
    survivors = [h for h in survivors if passes(p, sub, h, None)]
    found: list[dict[str, Any]] = []
    for h in survivors[:MAX_VERIFY]:
        if p.reproduces(h):
            found.append(h)
            if len(found) == MAX_EQUIVALENT:
                break
    return found, len(survivors) > MAX_VERIFY and len(found) < MAX_EQUIVALENT


def _slips(a: Mapping[str, Any]) -> int:
    return 0 if K.is_knob_only(a) else 1


def _wide(p: Problem) -> bool:
    zmax = int(np.abs(p.z).max()) if p.z.size else 0
    return max(abs(p.qmin), abs(p.qmax)) + zmax > 2**11


def systems_reproducing(
    p: Problem, sub: Subset | None, table: Sequence[tuple[Mapping[str, Any], tuple[str, ...]]],
    explained: Mapping[str, Any] | None,
) -> list[tuple[Mapping[str, Any], tuple[str, ...]]]:  # fmt: skip
    """The rows of ``table`` whose settings reproduce ``actual`` (float32 x only), exact matches first."""
    if p.x_dtype != np.float32 or p.total == 0 or explained is None:
        return []
    rows: list[tuple[bool, int, Mapping[str, Any], tuple[str, ...]]] = []
    for settings, names in table:
        same = dict(settings) == dict(explained)
        if same or ((sub is None or passes(p, sub, settings, None)) and p.reproduces(settings)):
            rows.append((not same, len(rows), settings, names))
    return [(s, n) for _, _, s, n in sorted(rows, key=lambda t: (t[0], t[1]))]
