"""The hypotheses of :func:`refquant.check.diagnose_quantize`, and one kernel for all of them (internal).

A hypothesis ("settings") is a dict: keyword arguments of
:func:`refquant.quantize.quantize` (``rounding``, ``op_order``,
``zero_point_add``, ``compute_dtype``, ``axis``) and the named slips that are
no knob (the ``rounding`` values ``"floor_plus_half"`` and
``"floor_abs_plus_half"``, ``reciprocal``, ``cast_before_clamp``,
``zero_point_offset``, ``quant_range``, ``clamp``). :func:`model_codes`
computes the codes of any settings on flat arrays with one scale and zero
point per element; it is an independent model of ``quantize`` (the tests
check that it equals ``quantize`` wherever the settings are knobs), used to
prune the search on a subset, while every explanation made of knobs only is
confirmed with ``quantize`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._exact import fma_float32
from refquant.rounding import round_unchecked

Settings = dict[str, Any]

#: refquant's own rounding modes searched (the reference's half_even excluded).
KNOB_ROUNDINGS = ("half_away", "half_up", "half_down", "floor", "ceil", "trunc")
#: Rounding slips that are no refquant mode, evaluated in the compute dtype.
SLIP_ROUNDINGS = ("floor_plus_half", "floor_abs_plus_half")
#: Keys that are keyword arguments of refquant.quantize (everything else is a named slip).
KNOB_KEYS = ("rounding", "op_order", "zero_point_add", "compute_dtype", "axis")


def is_knob_only(settings: Mapping[str, Any]) -> bool:
    """True when ``settings`` are all keyword arguments of refquant.quantize."""
    return all(k in KNOB_KEYS for k in settings) and settings.get("rounding") not in SLIP_ROUNDINGS


def effective_dtype(settings: Mapping[str, Any], x_dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The compute dtype the settings use: their ``compute_dtype``, else ``x``'s."""
    cd = settings.get("compute_dtype")
    return x_dtype if cd is None else np.dtype(cd)


def candidate_atoms(
    x_dtype: np.dtype[Any],
    shape: tuple[int, ...],
    kind: str,
    axis: int | None,
    n_params: int,
    qmin: int,
    qmax: int,
    z_nonzero: bool,
    wide: bool,
    storage: np.dtype[Any],
) -> list[Settings]:
    """The single settings searched, in the order of preference (module docstring of diagnose).

    Settings that cannot differ from the reference on this problem are left
    out: the zero-point placements when every ``z`` is 0, the fused FMA
    unless the compute dtype is float32, ``zero_point_add="after_rounding"``
    unless ``wide`` (some ``|code| + |z|`` beyond 2**11, float16's exact
    integers), another axis unless it has the scale's length. A float32
    reciprocal is listed always: alone it is valid only for float64 inputs
    (:func:`valid_alone`), and it pairs with ``compute_dtype="float64"``.
    """
    out: list[Settings] = [{"rounding": r} for r in KNOB_ROUNDINGS]
    out.append({"op_order": "multiply"})
    if z_nonzero:
        if wide:  # R(y) + z rounds in some compute dtype only beyond its exact integers (2**11 in float16)
            out.append({"zero_point_add": "after_rounding"})
        out.append({"zero_point_add": "before_rounding"})
        if x_dtype == np.float32:
            out.append({"op_order": "multiply", "zero_point_add": "fused"})
    out += [{"compute_dtype": d} for d in ("float64", "float32", "float16") if np.dtype(d) != x_dtype]
    if kind == "axis":
        out += [{"axis": k} for k in range(len(shape)) if k != axis and shape[k] == n_params]
    if qmin + 1 < qmax:
        out.append({"quant_range": "narrow"})
    if _is_narrow(qmin, qmax):
        out.append({"quant_range": "full"})
    out += [{"zero_point_offset": 1}, {"zero_point_offset": -1}]
    if z_nonzero:
        out.append({"clamp": "before_zero_point"})
    if storage.itemsize <= 4:
        out.append({"cast_before_clamp": "storage"})
    if -(2**31) <= qmin and qmax < 2**31:
        out.append({"cast_before_clamp": "int32"})
    out.append({"cast_before_clamp": "int64"})
    out.append({"reciprocal": "float32"})
    out += [{"rounding": r} for r in SLIP_ROUNDINGS]
    return out


def _is_narrow(qmin: int, qmax: int) -> bool:
    """``[-(2**(b-1) - 1), 2**(b-1) - 1]`` or ``[1, 2**b - 1]``: a standard range without its lowest code."""
    pow2 = qmax + 1 > 1 and (qmax + 1) & qmax == 0
    return pow2 and (qmin == -qmax or qmin == 1)


def combine(a: Settings, b: Settings, x_dtype: np.dtype[Any]) -> Settings | None:
    """Two settings as one hypothesis, or None when they conflict or one makes the other moot."""
    if set(a) & set(b) or len(a) + len(b) > 2:
        return None
    both = {**a, **b}
    cd = effective_dtype(both, x_dtype)
    if "reciprocal" in both and (cd != np.float64 or "op_order" in both):
        return None  # a float32 reciprocal in a float64 computation; it is itself a multiplication
    if "clamp" in both and ("zero_point_add" in both or "cast_before_clamp" in both):
        return None  # the slip places z itself, and wraps on its own
    if both.get("cast_before_clamp") == "int32" and "zero_point_add" in both:
        return None  # this cast takes R(x/s) and adds z in int32 itself
    return both


def valid_alone(settings: Mapping[str, Any], x_dtype: np.dtype[Any]) -> bool:
    """Whether the single settings are valid on their own (a float32 reciprocal needs float64)."""
    return "reciprocal" not in settings or effective_dtype(settings, x_dtype) == np.float64


def model_codes(
    x: NDArray[Any],
    s: NDArray[Any],
    z: NDArray[np.int64],
    qmin: int,
    qmax: int,
    settings: Mapping[str, Any],
    x_dtype: np.dtype[Any],
    storage: np.dtype[Any],
) -> NDArray[np.float64]:
    """Codes (as float64) of ``x`` under ``settings``; ``s`` (the scale as given) and ``z`` broadcast.

    ``x`` and ``s`` are rounded to the compute dtype, ``y = x / s`` (or
    ``x * fl(1/s)``) is formed there and rounded; ``z`` enters where
    ``zero_point_add`` says; the code is clamped to ``[qmin, qmax]`` in
    float64 (exact). The slips: ``zero_point_offset`` uses ``z + k``;
    ``quant_range`` clamps to ``[qmin + 1, qmax]`` (narrow) or
    ``[qmin - 1, qmax]`` (full); ``clamp="before_zero_point"`` computes
    ``clip(R(y), qmin, qmax) + z`` wrapped to ``storage``;
    ``cast_before_clamp`` casts the unclamped code to an integer type first,
    with x86's result for NaN, inf and values out of range (the type's
    minimum): ``"storage"`` casts ``R + z`` to int32 and wraps it to
    ``storage``'s bits; ``"int32"`` casts ``R`` to int32 and adds ``z`` in
    int32 arithmetic, wrapping; ``"int64"`` casts ``R + z`` to int64; each
    then clamps. ``reciprocal="float32"`` multiplies by ``fl32(1 / fl32(s))``
    in the compute dtype. NaN gives NaN, except through a cast.
    """
    cd = effective_dtype(settings, x_dtype)
    rounding = settings.get("rounding", "half_even")
    zpa = settings.get("zero_point_add", "exact")
    zz = z + int(settings.get("zero_point_offset", 0))
    lo, hi = qmin, qmax
    if settings.get("quant_range") == "narrow":
        lo = qmin + 1
    elif settings.get("quant_range") == "full":
        lo = qmin - 1
    with np.errstate(all="ignore"):
        xc = x.astype(cd, copy=False)
        sc = s.astype(cd)
        if zpa == "fused":
            y = fma_float32(xc, np.divide(np.float32(1), sc, dtype=np.float32), zz)
        elif settings.get("reciprocal") == "float32":
            r32 = np.divide(np.float32(1), s.astype(np.float32), dtype=np.float32)
            y = np.multiply(xc, r32.astype(cd), dtype=cd)
        elif settings.get("op_order") == "multiply":
            y = np.multiply(xc, np.divide(cd.type(1), sc, dtype=cd), dtype=cd)
        else:
            y = np.divide(xc, sc, dtype=cd)
        if zpa == "before_rounding":
            y = np.add(y, zz.astype(cd), dtype=cd)
        r = _round(np.array(y, cd, copy=True) if np.ndim(y) == 0 else y, rounding)
        if zpa == "after_rounding":
            r = np.add(r, zz.astype(cd), dtype=cd)
        v = r.astype(np.float64)
        if settings.get("clamp") == "before_zero_point":
            return wrap(np.clip(v, lo, hi) + zz, storage)
        cast = settings.get("cast_before_clamp")
        if cast == "int32":  # (int32)R + z, in int32
            return np.clip(wrap(to_int(v, 32) + zz, np.dtype(np.int32)), lo, hi)
        if zpa == "exact":
            v = v + zz
        if cast == "storage":
            v = wrap(to_int(v, 32), storage)
        elif cast == "int64":
            v = to_int(v, 64)
        return np.clip(v, lo, hi)


def _round(y: NDArray[Any], rounding: str) -> NDArray[Any]:
    half = y.dtype.type(0.5)
    if rounding == "floor_plus_half":
        return np.floor(y + half)
    if rounding == "floor_abs_plus_half":
        return np.copysign(np.floor(np.abs(y) + half), y)
    return round_unchecked(y, rounding, None, out=y)  # y is a fresh array


def to_int(v: NDArray[np.float64], bits: int) -> NDArray[np.float64]:
    """C's cast of integral ``v`` to a signed ``bits``-bit int on x86: its minimum if out of range or NaN."""
    lo = -(2.0 ** (bits - 1))
    if v.size and lo <= np.min(v) and np.max(v) < -lo:  # the common case (a NaN fails the test)
        return v
    ok = (v >= lo) & (v < -lo)  # False for NaN
    return np.where(ok, v, lo)


def wrap(v: NDArray[np.float64], storage: np.dtype[Any]) -> NDArray[np.float64]:
    """Integral ``v`` reduced modulo ``2**bits`` into ``storage``'s range (two's complement); NaN stays."""
    info = np.iinfo(storage)
    if v.size and info.min <= np.min(v) and np.max(v) <= info.max:  # nothing to wrap (a NaN fails the test)
        return v
    span = float(info.max) - float(info.min) + 1.0
    with np.errstate(invalid="ignore"):
        return np.mod(v - float(info.min), span) + float(info.min)
