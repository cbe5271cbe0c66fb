"""Exact references for the core quantization functions and the interop forwards.

Each takes the call's keyword arguments and returns the expected output
(a structure matching the function's), :data:`NO_REF` when it has no
verdict for that input, or :data:`REF_REJECT` when the exact semantics are
undefined (the function must then raise). Arithmetic is done on
:class:`fractions.Fraction` and rounded once per documented step with
:func:`tests.hostile.exact.fl`.

One deliberate rule beyond the docstrings: when ``op_order="multiply"``
needs ``fl(1/s)`` and that reciprocal overflows the compute dtype (a valid
subnormal scale), the only defined result is the exact ``R(x / s)``; the
clamp edge that ``x * inf`` gives is garbage (issue 8).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from tests.hostile.exact import expand_param, fl, float_dtype_of, frac, rnd
from tests.hostile.harness import NO_REF, REF_REJECT

STORAGE = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64")


def storage(qmin: int, qmax: int) -> np.dtype:
    for n in STORAGE:
        i = np.iinfo(n)
        if i.min <= qmin and qmax <= i.max:
            return np.dtype(n)
    raise ValueError


def _clip(c: int, lo: int, hi: int) -> int:
    return min(max(c, lo), hi)


def _params(
    kw: dict[str, Any], shape: tuple[int, ...], s_key: str = "scale", z_key: str = "zero_point"
) -> Any:
    axis, blk = kw.get("axis"), kw.get("block_size")
    s = expand_param(np.asarray(kw[s_key], dtype=np.float64), shape, axis, blk)
    z = expand_param(np.asarray(kw[z_key]), shape, axis, blk)
    return s, z


def code(
    xv: float,
    sv: float,
    zv: int,
    qmin: int,
    qmax: int,
    cd: np.dtype,
    *,
    rounding: str = "half_even",
    op_order: str = "divide",
    zp_add: str = "exact",
    nan: str = "raise",
    wide: bool = False,
) -> Any:
    """The exact code of one element (REF_REJECT for a NaN under nan="raise")."""
    if math.isnan(xv):
        if nan == "raise":
            return REF_REJECT
        return {"zero_point": zv, "quant_min": qmin, "quant_max": qmax}[nan]
    xc = fl(frac(xv), cd) if math.isfinite(xv) else xv
    if math.isinf(xc):
        return qmax if xc > 0 else qmin
    xq = Fraction(xc)
    s = Fraction(sv)
    exact_t: Fraction | None = None
    t: float | None = None
    if op_order == "multiply":
        r = fl(1 / s, cd)
        if math.isinf(r):
            exact_t = xq / s
        elif zp_add == "fused":
            u = fl(xq * Fraction(r) + zv, np.float32)
            if math.isinf(u):
                return qmax if u > 0 else qmin
            return _clip(rnd(Fraction(u), rounding), qmin, qmax)
        else:
            t = fl(xq * Fraction(r), cd)
    else:
        t = fl(xq / s, cd)
    if exact_t is not None:
        c = (
            rnd(exact_t, rounding) + zv
            if zp_add in ("exact", "after_rounding")
            else rnd(exact_t + zv, rounding)
        )
        return _clip(c, qmin, qmax)
    assert t is not None
    if math.isinf(t):
        return qmax if t > 0 else qmin
    if zp_add == "before_rounding":
        t2 = fl(Fraction(t) + Fraction(fl(zv, cd)), cd)
        if math.isinf(t2):
            return qmax if t2 > 0 else qmin
        return _clip(rnd(Fraction(t2), rounding), qmin, qmax)
    c = rnd(Fraction(t), rounding)
    if zp_add == "after_rounding":
        clip_dt = np.float64 if wide else cd
        v = fl(Fraction(c) + Fraction(fl(zv, cd)), clip_dt)
        return _clip(int(v), qmin, qmax) if math.isfinite(v) else (qmax if v > 0 else qmin)
    return _clip(c + zv, qmin, qmax)


def _wide(qmin: int, qmax: int, z: np.ndarray, cd: np.dtype) -> bool:
    limit = 2 ** (np.finfo(cd).nmant + 1)
    zmax = int(np.abs(z.astype(object)).max()) if z.size else 0
    return max(abs(qmin), abs(qmax)) + zmax > limit


def _core_codes(kw: dict[str, Any]) -> Any:
    """(codes as object array, scales in cd, zero points, cd, x dtype) or a sentinel."""
    x = np.asarray(kw["x"])
    if x.dtype.kind not in "fiub":
        return NO_REF
    xdt = float_dtype_of(x)
    xf = x.astype(xdt)
    cd = np.dtype(xdt if kw.get("compute_dtype") is None else kw["compute_dtype"])
    if cd.kind != "f":
        return NO_REF
    rounding = kw.get("rounding", "half_even")
    if rounding == "stochastic":
        return NO_REF
    qmin, qmax = kw["quant_min"], kw["quant_max"]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (qmin, qmax)):
        return NO_REF
    qmin, qmax = int(qmin), int(qmax)
    s, z = _params(kw, x.shape)
    if z.dtype.kind not in "iu":
        return NO_REF
    codes = np.empty(x.shape, dtype=object)
    scales = np.empty(x.shape, dtype=object)
    wide = _wide(qmin, qmax, np.asarray(z), cd)
    for idx in np.ndindex(x.shape):
        sv = fl(frac(s[idx]), cd)
        if not (math.isfinite(float(s[idx])) and math.isfinite(sv) and sv > 0):
            return REF_REJECT
        c = code(
            float(xf[idx]),
            sv,
            int(z[idx]),
            qmin,
            qmax,
            cd,
            rounding=rounding,
            op_order=kw.get("op_order", "divide"),
            zp_add=kw.get("zero_point_add", "exact"),
            nan=kw.get("nan", "raise"),
            wide=wide,
        )
        if c is REF_REJECT:
            return REF_REJECT
        codes[idx] = c
        scales[idx] = sv
    return codes, scales, z, cd, xdt


def quantize(kw: dict[str, Any]) -> Any:
    r = _core_codes(kw)
    if r is NO_REF or r is REF_REJECT:
        return r
    codes = r[0]
    return codes.astype(np.int64) if codes.size else NO_REF


def fake_quantize(kw: dict[str, Any]) -> Any:
    r = _core_codes(kw)
    if r is NO_REF or r is REF_REJECT:
        return r
    codes, scales, z, cd, xdt = r
    out = np.empty(codes.shape, dtype=np.float64)
    for idx in np.ndindex(codes.shape):
        diff = fl(Fraction(int(codes[idx]) - int(z[idx])), cd)
        v = fl(Fraction(diff) * Fraction(scales[idx]), cd)
        out[idx] = fl(Fraction(v), xdt) if math.isfinite(v) else v
    return out


def dequantize(kw: dict[str, Any]) -> Any:
    q = np.asarray(kw["q"])
    if q.dtype.kind not in "iub":
        return NO_REF
    dt = np.dtype(kw.get("dtype", np.float32))
    if dt.kind != "f":
        return NO_REF
    s, z = _params(kw, q.shape)
    if z.dtype.kind not in "iu":
        return NO_REF
    out = np.empty(q.shape, dtype=np.float64)
    for idx in np.ndindex(q.shape):
        sd = fl(frac(s[idx]), dt)
        if not (math.isfinite(float(s[idx])) and math.isfinite(sd) and sd > 0):
            return REF_REJECT
        diff = int(q[idx]) - int(z[idx])
        if dt.itemsize < 4:
            out[idx] = fl(Fraction(diff) * Fraction(sd), dt)
        else:
            out[idx] = fl(Fraction(fl(Fraction(diff), dt)) * Fraction(sd), dt)
    return out


def round_to_integer(kw: dict[str, Any]) -> Any:
    x = np.asarray(kw["x"])
    mode = kw.get("mode", "half_even")
    if mode == "stochastic" or x.dtype.kind not in "fiub":
        return NO_REF
    xf = x.astype(float_dtype_of(x))
    out = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        v = float(xf[idx])
        out[idx] = v if not math.isfinite(v) else float(rnd(Fraction(v), mode))
    return out


def qparams_from_range(kw: dict[str, Any]) -> Any:
    """``QParams`` (scale, zero_point) by the documented steps in the compute dtype."""
    cd = np.dtype(kw.get("dtype", np.float32))
    qmin, qmax = kw["quant_min"], kw["quant_max"]
    if cd.kind != "f" or not all(isinstance(v, int) and not isinstance(v, bool) for v in (qmin, qmax)):
        return NO_REF
    if kw.get("zero_point_formula", "qmin_minus_round") == "tflite":
        return NO_REF
    lo_a = np.asarray(kw["min_val"], dtype=np.float64)
    hi_a = np.asarray(kw["max_val"], dtype=np.float64)
    if lo_a.shape != hi_a.shape:
        return NO_REF
    eps = kw.get("eps", float(np.finfo(np.float32).eps))
    zr = kw.get("zero_point_rounding", "half_even")
    scales = np.empty(lo_a.shape, dtype=np.float64)
    zps = np.empty(lo_a.shape, dtype=np.int64)
    for idx in np.ndindex(lo_a.shape):
        lo, hi = fl(frac(lo_a[idx]), cd), fl(frac(hi_a[idx]), cd)
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            return REF_REJECT
        if kw.get("include_zero", True):
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if kw.get("symmetric", False):
            d = (qmax - qmin) / 2 if kw.get("symmetric_divisor", "half_range") == "half_range" else qmax
            s = fl(Fraction(max(-lo, hi)) / Fraction(fl(Fraction(d), cd)), cd)
            z = 0 if qmin < 0 else (qmin + qmax + 1) // 2
        else:
            width = fl(Fraction(hi) - Fraction(lo), cd)
            if math.isinf(width):  # the documented step overflows; only a finite scale is right
                s = fl((Fraction(hi) - Fraction(lo)) / Fraction(fl(Fraction(qmax - qmin), cd)), cd)
            else:
                s = fl(Fraction(width) / Fraction(fl(Fraction(qmax - qmin), cd)), cd)
            z = None
        if eps is not None:
            s = max(s, fl(frac(eps), cd))
        if s == 0 or not math.isfinite(s):
            return REF_REJECT if s == 0 else NO_REF
        if z is None:
            t = fl(Fraction(lo) / Fraction(s), cd)
            if kw.get("zero_point_formula", "qmin_minus_round") == "qmin_minus_round":
                z = qmin - rnd(Fraction(t), zr)
            else:
                z = rnd(Fraction(fl(Fraction(fl(Fraction(qmin), cd)) - Fraction(t), cd)), zr)
            z = _clip(z, qmin, qmax)
        scales[idx] = s
        zps[idx] = z
    return {".scale": scales, ".zero_point": zps}


# --------------------------------------------------------------------------- interop


def torch_fake_quantize_per_tensor(kw: dict[str, Any]) -> Any:
    """ATen's per-tensor fake-quant in float32: ``(clamp(fl(z + rint(fl(x * fl(1/s))))) - z) * s``."""
    x = np.asarray(kw["input"])
    if x.dtype.kind not in "fiu" or isinstance(kw["scale"], str):
        return NO_REF
    x = x.astype(np.float32)
    sv = fl(frac(kw["scale"]), np.float32)
    z = kw["zero_point"]
    if not isinstance(z, (int, np.integer)) or isinstance(z, bool):
        return NO_REF
    z = int(z)
    qmin, qmax = int(kw["quant_min"]), int(kw["quant_max"])
    if not (math.isfinite(sv) and sv > 0):
        return REF_REJECT
    out = np.empty(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        xv = float(x[idx])
        if math.isnan(xv):
            c = qmin
        else:
            c = code(
                xv, sv, z, qmin, qmax, np.dtype(np.float32), op_order="multiply", zp_add="after_rounding"
            )
        out[idx] = fl(Fraction(c - z) * Fraction(sv), np.float32)
    return out


TORCH_RANGES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-(2**31), 2**31 - 1)}


def torch_quantize_per_tensor(kw: dict[str, Any]) -> Any:
    x = np.asarray(kw["input"])
    dt = kw["dtype"]
    if x.dtype.kind not in "fiu" or dt not in TORCH_RANGES or isinstance(kw["scale"], str):
        return NO_REF
    z = kw["zero_point"]
    if not isinstance(z, (int, np.integer)) or isinstance(z, bool):
        return NO_REF
    z = int(z)
    qmin, qmax = TORCH_RANGES[dt]
    x = x.astype(np.float32)
    sv = fl(frac(kw["scale"]), np.float32)
    if not (math.isfinite(sv) and sv > 0):
        return REF_REJECT
    out = np.empty(x.shape, dtype=np.int64)
    for idx in np.ndindex(x.shape):
        xv = float(x[idx])
        if math.isnan(xv):
            out[idx] = qmax if dt != "qint32" else -(2**31)
            continue
        zpa = "fused" if dt != "qint32" else "before_rounding"
        out[idx] = code(xv, sv, z, qmin, qmax, np.dtype(np.float32), op_order="multiply", zp_add=zpa)
    return out


ONNX_TYPES = {
    np.dtype("uint8"): (0, 255),
    np.dtype("int8"): (-128, 127),
    np.dtype("uint16"): (0, 65535),
    np.dtype("int16"): (-32768, 32767),
}


def onnx_quantize_linear(kw: dict[str, Any]) -> Any:
    x = np.asarray(kw["x"])
    s_in = kw["y_scale"]
    zp = kw.get("y_zero_point")
    if kw.get("block_size", 0) or kw.get("output_dtype") is not None or x.dtype.kind not in "fi":
        return NO_REF
    s_arr = np.asarray(s_in)
    if s_arr.dtype.kind != "f" or s_arr.size != 1 or (zp is not None and np.asarray(zp).size != 1):
        return NO_REF
    cd = s_arr.dtype if isinstance(s_in, (np.ndarray, np.generic)) else float_dtype_of(x)
    zdt = np.asarray(zp).dtype if zp is not None else np.dtype("uint8")
    if zdt not in ONNX_TYPES:
        return NO_REF
    qmin, qmax = ONNX_TYPES[zdt]
    z = int(np.asarray(zp).reshape(())) if zp is not None else 0
    sv = fl(frac(s_arr.reshape(())), cd)
    if not (math.isfinite(float(s_arr.reshape(()))) and math.isfinite(sv) and sv > 0):
        return REF_REJECT
    out = np.empty(x.shape, dtype=np.int64)
    for idx in np.ndindex(x.shape):
        out[idx] = code(float(x[idx]), sv, z, qmin, qmax, np.dtype(cd), nan="quant_min")
    return out


def onnx_dequantize_linear(kw: dict[str, Any]) -> Any:
    q = np.asarray(kw["x"])
    s_in = kw["x_scale"]
    zp = kw.get("x_zero_point")
    if kw.get("block_size", 0) or q.dtype.kind not in "iu":
        return NO_REF
    s_arr = np.asarray(s_in)
    if s_arr.dtype.kind != "f" or s_arr.size != 1 or (zp is not None and np.asarray(zp).size != 1):
        return NO_REF
    dt = s_arr.dtype if isinstance(s_in, (np.ndarray, np.generic)) else np.dtype(np.float32)
    z = int(np.asarray(zp).reshape(())) if zp is not None else 0
    sd = fl(frac(s_arr.reshape(())), dt)
    if not (math.isfinite(sd) and sd > 0):
        return REF_REJECT
    out = np.empty(q.shape, dtype=np.float64)
    for idx in np.ndindex(q.shape):
        diff = int(q[idx]) - z
        if dt.itemsize < 4:
            out[idx] = fl(Fraction(diff) * Fraction(sd), dt)
        else:
            out[idx] = fl(Fraction(fl(Fraction(diff), dt)) * Fraction(sd), dt)
    return out
