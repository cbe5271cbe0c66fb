"""The sentences and examples of :func:`refquant.check.diagnose_quantize` (internal).

:func:`describe` says in plain words what a setting does; :func:`traits`
says what the differing elements have in common; :func:`examples` prints a
few of them with ``x``, ``x/s`` in the compute dtype and exactly, and their
distance to the nearest tie (exact rational arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant import _granularity as gran
from refquant._exact import fma_float64
from refquant.check._diagnose_search import Problem

TRAIT_SAMPLE = 1 << 14  # differing elements the traits are counted on


def settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items()) if settings else "the defaults"


def describe(settings: Mapping[str, Any], p: Problem) -> list[str]:
    """One plain sentence per setting."""
    cd = str(np.dtype(settings.get("compute_dtype", p.x_dtype)))
    out = []
    for key, value in settings.items():
        out.append(_sentence(key, value, settings, cd, p))
    return out


def _sentence(key: str, value: Any, settings: Mapping[str, Any], cd: str, p: Problem) -> str:
    ref_ties = "the reference rounds them to the even code"
    rounding = {
        "half_away": f"x/s exactly halfway between two codes is rounded away from zero ({ref_ties}).",
        "half_up": f"x/s exactly halfway between two codes is rounded up, toward +inf ({ref_ties}).",
        "half_down": f"x/s exactly halfway between two codes is rounded down, toward -inf ({ref_ties}).",
        "floor": "x/s is rounded down (floor), not to the nearest code.",
        "ceil": "x/s is rounded up (ceil), not to the nearest code.",
        "trunc": "x/s is rounded toward zero (a C cast), not to the nearest code.",
        "floor_plus_half": (
            f"x/s is rounded as floor(x/s + 0.5) computed in {cd}: ties go up, and values just below "
            f"k + 0.5 (e.g. 0.49999997) go up too, because x/s + 0.5 itself rounds to the next integer "
            f"in {cd}."
        ),
        "floor_abs_plus_half": (
            f"x/s is rounded as sign(x/s) * floor(|x/s| + 0.5) computed in {cd}: ties go away from "
            f"zero, and values just inside k + 0.5 (e.g. +-0.49999997) go outward too, because "
            f"|x/s| + 0.5 itself rounds to the next integer in {cd}."
        ),
    }
    if key == "rounding":
        return f"rounding={value!r}: " + rounding[value]
    if key == "op_order":
        return (
            f"op_order='multiply': x is multiplied by the reciprocal 1/s rounded to {cd}, instead of "
            "divided by s; x * (1/s) can land on the other side of a tie than x / s."
        )
    if key == "zero_point_add":
        return {
            "after_rounding": (
                f"zero_point_add='after_rounding': z is added in {cd} after rounding, which rounds "
                f"R(x/s) + z where it exceeds {cd}'s exact integers."
            ),
            "before_rounding": (
                f"zero_point_add='before_rounding': z is added to x/s in {cd} before rounding, so an odd "
                "z moves the ties (R(-76.5 + 77) = 0 but R(-76.5) + 77 = 1) and the sum is rounded once "
                "more."
            ),
            "fused": (
                "zero_point_add='fused' (with op_order='multiply'): x * (1/s) + z is one fused "
                "multiply-add in float32, then rounded."
            ),
        }[value]
    if key == "compute_dtype":
        return (
            f"compute_dtype={value!r}: x/s and its rounding are computed in {value}, not in x's dtype "
            f"{p.x_dtype}."
        )
    if key == "axis":
        return (
            f"axis={value}: the per-channel scales and zero points are applied along axis {value}, "
            f"not along axis {p.g.axis}."
        )
    if key == "reciprocal":
        return (
            "reciprocal='float32': x is multiplied by 1/s rounded to float32, while the rest is "
            f"computed in {cd} (the reference divides in {cd})."
        )
    if key == "cast_before_clamp":
        return {
            "storage": (
                f"cast_before_clamp='storage': the code is cast to {p.storage} before it is clamped, so "
                f"codes beyond {p.storage}'s range wrap around (and a C cast of NaN, inf or |v| >= 2**31 "
                "to int gives INT32_MIN)."
            ),
            "int32": (
                "cast_before_clamp='int32': R(x/s) is cast to int32 and z added in int32 before the clamp, "
                "so |x/s| >= 2**31 (and inf, NaN) becomes INT32_MIN + z, which wraps around when z < 0."
            ),
            "int64": (
                "cast_before_clamp='int64': the code is cast to int64 before the clamp, so NaN, inf and "
                "|x/s| >= 2**63 become INT64_MIN, hence quant_min."
            ),
        }[value]
    if key == "zero_point_offset":
        return f"zero_point_offset={value:+d}: the zero point used is z {'+' if value > 0 else '-'} 1."
    if key == "quant_range":
        lo = p.qmin + 1 if value == "narrow" else p.qmin - 1
        return f"quant_range={value!r}: the codes are clamped to [{lo}, {p.qmax}], not [{p.qmin}, {p.qmax}]."
    if key == "clamp":
        return (
            "clamp='before_zero_point': R(x/s) is clamped to [quant_min, quant_max] and z added after, "
            f"so codes can leave the range (and wrap in {p.storage})."
        )
    return f"{key}={value!r}."


def traits(p: Problem) -> list[str]:
    """What the differing elements have in common (counted on a sample of them if there are many)."""
    idx = p.mis
    note = ""
    if idx.size > TRAIT_SAMPLE:
        idx = idx[:: -(-idx.size // TRAIT_SAMPLE)]  # every k-th, in index order
        note = f" (counted on a sample of {idx.size} of the {p.mis.size})"
    n = idx.size
    x = p.x.reshape(-1)[idx].astype(np.float64)
    s = _s_cd_at(p, idx)
    ref = p.ref.reshape(-1)[idx].astype(np.float64)
    act = p.act.reshape(-1)[idx].astype(np.float64)
    cd = p.x_dtype
    out = []
    v, exact, near = _tie_classes(x, s, cd)
    ne, nn = int(exact.sum()), int(near.sum())
    if ne == n:
        out.append(f"All {n} differing elements are exact ties: x/s is exactly k + 1/2{note}.")
    elif ne + nn == n:
        out.append(
            f"All {n} differing elements are at a tie x/s = k + 1/2 ({ne} exactly) or within one {cd} "
            f"ulp of one{note}."
        )
    elif ne + nn:
        out.append(
            f"{ne} of {n} differing elements are exact ties (x/s = k + 1/2 in exact arithmetic), {nn} more "
            f"within one {cd} ulp of one{note}."
        )
    else:
        out.append(
            f"None of the differing elements is at or within one {cd} ulp of a tie x/s = k + 1/2{note}."
        )
    edge = (ref == p.qmin) | (ref == p.qmax) | (act == p.qmin) | (act == p.qmax)
    if edge.all():
        at = [str(e) for e in (p.qmin, p.qmax) if np.any((ref == e) | (act == e))]
        out.append(f"All are at the clamp edges: the reference or actual code is {' or '.join(at)}.")
    outside = ~((act >= p.qmin) & (act <= p.qmax))
    if outside.any():
        out.append(
            f"{int(outside.sum())} actual codes lie outside [quant_min, quant_max] = [{p.qmin}, {p.qmax}] "
            "(or are not finite): a missing clamp, or a wrap-around."
        )
    if (x < 0).all():
        out.append("All have x < 0.")
    elif (x > 0).all():
        out.append("All have x > 0.")
    err = act - ref
    if (err > 0).all() or (err < 0).all():
        side = "larger" if err[0] > 0 else "smaller"
        mag = np.abs(err)
        by = f"by {mag[0]:g} LSB" if (mag == mag[0]).all() else f"by {mag.min():g} to {mag.max():g} LSB"
        out.append(f"actual is {side} than the reference everywhere it differs, {by}.")
    out += _where(p, idx)
    big = np.abs(v) >= 2.0 ** (np.finfo(cd).nmant + 1)
    if big.all():
        out.append(f"All have |x/s| >= 2**{np.finfo(cd).nmant + 1}, beyond {cd}'s exact integers.")
    if p.off_grid:
        out.append(
            f"{p.off_grid} values of actual are not on the grid (q - z) * s (more than 1/4 step from it): "
            "not a dequantized code."
        )
    return out


def _tie_classes(
    x: NDArray[np.float64], s: NDArray[np.float64], cd: np.dtype[Any]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """``x/s`` (float64), and where it is exactly ``k + 1/2`` / within one ``cd`` ulp of it (not exactly)."""
    with np.errstate(all="ignore"):
        v = x / s
        t = np.floor(v) + 0.5
        exact = (fma_float64(-t, s, x) == 0) & (np.abs(v) < 2.0**52)  # one rounding: 0 only when exact
        ulp = np.spacing(np.maximum(np.abs(t), 1.0).astype(cd)).astype(np.float64)
        near = ~exact & (np.abs(v - t) <= ulp)
    return v, exact, near


def _where(p: Problem, idx: NDArray[np.intp]) -> list[str]:
    g = p.g
    if g.kind == "tensor" or not idx.size:
        return []
    assert g.axis is not None
    mi = np.unravel_index(idx, p.shape)
    if g.kind == "axis":
        ch = np.unique(mi[g.axis])
        if ch.size == 1:
            return [f"All are in channel {int(ch[0])} of axis {g.axis} (of {p.shape[g.axis]} channels)."]
        if ch.size <= 3:
            return [f"All are in channels {', '.join(map(str, ch.tolist()))} of axis {g.axis}."]
        return []
    pi = p.param_index(idx)
    assert pi is not None
    blocks = np.unique(pi)
    if blocks.size == 1:
        shape = gran.param_shape(p.shape, g)
        pos = tuple(int(k) for k in np.unravel_index(int(blocks[0]), shape))
        return [
            f"All are in one block: block {pos} of the scale's shape {shape} (axis {g.axis}, "
            f"block_size {g.block_size})."
        ]
    return []


def _s_cd_at(p: Problem, idx: NDArray[np.intp]) -> NDArray[np.float64]:
    pi = p.param_index(idx)
    s = p.s_cd if pi is None else p.s_cd.reshape(-1)[pi]
    return np.broadcast_to(np.asarray(s, np.float64), idx.shape)


def examples(p: Problem, count: int) -> list[dict[str, Any]]:
    """A few differing elements: index, x, actual, reference, x/s in the compute dtype and exactly.

    The first exact tie, the first near-tie and the first other element are
    shown before the rest (in index order), so that each kind appears.
    """
    idx = _pick(p, count)
    cd = p.x_dtype
    name = str(cd)
    out = []
    for i in idx.tolist():
        xi = p.x.reshape(-1)[i]
        si = cd.type(_s_cd_at(p, np.array([i]))[0])
        with np.errstate(all="ignore"):
            div = np.divide(xi, si, dtype=cd)
            mul = np.multiply(xi, np.divide(cd.type(1), si, dtype=cd), dtype=cd)
        ex: dict[str, Any] = {"index": _index(i, p.shape), "x": _num(xi)}
        if p.dequantized:
            ex["actual value"] = _num(p.actual_given.reshape(-1)[i])
        ex["actual"] = _num(p.act.reshape(-1)[i])
        ex["reference"] = int(p.ref.reshape(-1)[i])
        ex[f"x/s ({name})"] = _num(div)
        ex[f"x*(1/s) ({name})"] = _num(mul)
        if math.isfinite(float(xi)):
            q = Fraction(float(xi)) / Fraction(float(si))
            ex["x/s exact"] = _decimal(q)
            ex["x/s - nearest tie"] = _gap(q)
        out.append(ex)
    return out


def _pick(p: Problem, count: int) -> NDArray[np.intp]:
    cand = p.mis[: 1 << 12]
    _, exact, near = _tie_classes(p.x.reshape(-1)[cand].astype(np.float64), _s_cd_at(p, cand), p.x_dtype)
    first = [np.flatnonzero(m)[:1] for m in (exact, near, ~exact & ~near)]
    chosen = list(dict.fromkeys([int(k) for f in first for k in f] + list(range(min(count, cand.size)))))
    return np.sort(cand[chosen[:count]])


def _index(i: int, shape: tuple[int, ...]) -> Any:
    """The element's index: an int for 1-D, a tuple otherwise (``()`` for 0-d)."""
    if len(shape) == 1:
        return i
    return tuple(int(k) for k in np.unravel_index(i, shape))


def _num(v: Any) -> Any:
    a = np.asarray(v)
    if a.dtype.kind in "iub":
        return int(a)
    f = float(a)
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return str(a.dtype.type(a))


def _decimal(q: Fraction, digits: int = 20) -> str:
    """The exact value when it has at most ``digits`` significant digits, else cut there, with '...'."""
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_DOWN
        d = Decimal(q.numerator) / Decimal(q.denominator)
        exact = Fraction(d) == q
    text = format(d.normalize(), "f") if abs(d.adjusted()) < digits else format(d, "e")
    return text if exact else text + "..."


def _gap(q: Fraction) -> str:
    """``x/s - (k + 1/2)`` for the nearest tie ``k + 1/2``, in steps, exactly 0 at a tie."""
    tie = math.floor(q) + Fraction(1, 2)
    d = q - tie
    if d == 0:
        return "0 (an exact tie)"
    return f"{float(d):+.3g}"


def equivalents_text(found: Sequence[Mapping[str, Any]]) -> str:
    alts = "; ".join(settings_text(h) for h in found[1:])
    return (
        f"Equally explained by: {alts} (they give the same codes on this x; other inputs would tell "
        "them apart)."
    )
