"""Why a float cast differs from refquant's: rounding, overflow, NaN/inf, subnormals, double rounding.

:func:`diagnose_cast` takes the inputs ``x``, another implementation's
output ``actual`` (the cast values, as floats) and the format, and searches
the settings under which :func:`refquant.floats.cast` reproduces ``actual``
exactly. The reference is ``cast(x, fmt)``: round half to even once, and
``ml_dtypes``' overflow, NaN and inf rules. The knobs searched (each value
alone, then every pair of two knobs):

=================  =====================================================  ===============================
knob               values (the reference's first)                         what it models
=================  =====================================================  ===============================
``rounding``       ``half_even``, ``half_away``, ``half_up``,             the rounding of the cast
                   ``half_down``, ``floor``, ``ceil``, ``trunc``          (:func:`refquant.floats.cast`)
``saturate``       ``False``, ``True``                                    ml_dtypes vs ONNX ``saturate=1``
``inf``            ``follow``, ``saturate``, ``propagate``                ``±inf`` inputs handled apart
                                                                          from finite overflow
``nan``            ``nan``, ``zero``, ``+max``, ``-max``                  NaN inputs; ``±max`` is what a
                                                                          clamp by ``fminf``/``fmaxf``
                                                                          gives (they drop a NaN)
``flush``          ``none``, ``outputs``, ``inputs``                      flush to zero of subnormal
                                                                          results (FTZ), or of inputs
                                                                          below the smallest normal
                                                                          (then of both: no subnormal
                                                                          result is left)
``negative_zero``  ``kept``, ``dropped``                                  ``-0`` written as ``+0``
``via``            None, ``float32``, ``float16``, ``bfloat16``           double rounding: the input
                                                                          rounded (half to even) to that
                                                                          type first
=================  =====================================================  ===============================

Only the knobs the inputs can tell apart are searched (no NaN in ``x``: the
NaN knob is left out; float32 inputs: no ``via="float32"``), and every
setting is tried first on a sample of the mismatching elements, then on the
whole array, so the cost is a few casts of ``x``.

Known systems (``systems`` of the result), as measured in
``tests/conformance/test_check_diagnose_other_conformance.py``:

* ml_dtypes ``x.astype(ml_dtypes.<fmt>)``, NumPy ``astype(np.float16)``,
  ``onnx.reference``'s Cast: one rounding from float32 and float64;
  ``saturate=False`` (ml_dtypes), the ``saturate`` attribute (onnx);
* ONNX Runtime's Cast (CPU): the ``saturate`` attribute, and a float64
  input is rounded to float32 first (``via="float32"``);
* PyTorch ``tensor.to(dtype)``: ``float8_e4m3fn`` saturates (overflow and
  ``±inf`` give ``±448``), ``float8_e5m2`` and the fnuz types do not; a
  float64 tensor is rounded to float32 first (``via="float32"``), also for
  ``bfloat16`` and ``float16``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array
from refquant.check.diagnosis import Diagnosis
from refquant.floats.cast import cast
from refquant.floats.spec import FloatFormat, float_format
from refquant.rounding import ROUNDING_MODES

__all__ = ["diagnose_cast"]

F64 = NDArray[np.float64]
Settings = dict[str, Any]

DEFAULTS: Settings = {
    "rounding": "half_even",
    "saturate": False,
    "inf": "follow",
    "nan": "nan",
    "flush": "none",
    "negative_zero": "kept",
    "via": None,
}
VALUES: dict[str, tuple[Any, ...]] = {
    "rounding": tuple(m for m in ROUNDING_MODES if m != "stochastic"),
    "saturate": (False, True),
    "inf": ("follow", "saturate", "propagate"),
    "nan": ("nan", "zero", "+max", "-max"),
    "flush": ("none", "outputs", "inputs"),
    "negative_zero": ("kept", "dropped"),
    "via": (None, "float32", "float16", "bfloat16"),
}
_MANTISSA = {"bfloat16": 7, "float16": 10, "float32": 23, "float64": 52}
_SAMPLE = 256  # mismatching elements every setting is tried on first
_MAX_CONFIRM = 8  # settings confirmed on the whole array at one level of complexity
_ONNX_FLOAT8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")
_TORCH = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "bfloat16", "float16")


def diagnose_cast(
    x: ArrayLike, actual: ArrayLike, fmt: str | FloatFormat, *, max_examples: int = 5
) -> Diagnosis:
    """Which cast settings reproduce ``actual``: ``actual == cast(x, fmt, **settings)`` exactly.

    Parameters
    ----------
    x : array_like of float, any shape
        The inputs of the cast (float16, float32 or float64; integers as float64).
    actual : array_like of float, shape of ``x``
        The other implementation's output as values (float16/32/64, or an
        ml_dtypes array, which converts exactly); codes must be decoded first
        (:func:`refquant.floats.decode`). Compared exactly: ``-0`` differs
        from ``+0``, every NaN equals every NaN.
    fmt : str or FloatFormat
        The target format, a name of :data:`refquant.floats.FLOAT_FORMATS`.
    max_examples : int
        How many mismatching elements the result lists (default 5).

    Returns
    -------
    Diagnosis
        ``op="cast"``; ``explained_by`` holds the non-reference knob values of
        the module docstring's table (``{}`` when ``actual`` is the
        reference, None when no single setting or pair reproduces it);
        ``max_error`` is in ``"ULP"``: grid steps of ``fmt`` at the reference
        value (inf when a NaN or inf differs).

    Notes
    -----
    .. math:: \\text{explained\\_by} = \\arg\\min_{|s| \\le 2} \\{\\, |s| :
              \\mathrm{model}_s(x) = \\text{actual} \\,\\}

    ``model_s`` applies, in order: ``via`` (NumPy's or refquant's half-even
    rounding to that type, overflow to ``±inf``), ``flush="inputs"`` (values
    below ``fmt``'s smallest normal become a zero of their sign),
    :func:`~refquant.floats.cast` with ``rounding`` and ``saturate``, the
    ``inf`` and ``nan`` replacements, ``flush="outputs"`` and
    ``negative_zero``. The reference is the empty setting. Ties between
    equally simple settings go to the first in the table's order; the others
    are listed in ``findings``. ``systems`` lists the known systems whose
    settings agree with ``explained_by`` on every knob the inputs exercise.
    When nothing explains ``actual``, ``findings`` say what the mismatches
    have in common (ties, overflow, NaN, subnormals, signs of zero) and
    which setting comes closest. Source: the ml_dtypes, ONNX and PyTorch
    behaviours of the module docstring; IEEE 754-2019 section 4.3 for the
    roundings.

    Examples
    --------
    >>> x = np.array([1.0625, 1.1875, 500.0, np.inf], np.float32)
    >>> d = diagnose_cast(x, np.array([1.0, 1.25, 448.0, 448.0], np.float32), "float8_e4m3fn")
    >>> d.explained_by, d.mismatches
    ({'saturate': True}, 2)
    >>> d.systems[0]
    'ONNX Cast saturate=1 (onnx.reference)'
    >>> diagnose_cast(x[:2], np.array([1.125, 1.25], np.float32), "float8_e4m3fn").explained_by
    {'rounding': 'half_away'}
    """
    f, xs, act = _arguments(x, actual, fmt, max_examples)
    flat_x, flat_a = xs.reshape(-1), act.reshape(-1)
    ref = _model(flat_x, f, DEFAULTS)
    same = _same(flat_a, ref)
    relevant = _relevance(flat_x, ref, f)
    mism = np.flatnonzero(~same)
    notes: list[str] = []
    tail = [t for t in (_untested(relevant, flat_x.dtype), _reference_note(f)) if t]
    if mism.size == 0:
        systems = _matching_systems(f, flat_x.dtype, {}, relevant)
        return Diagnosis("cast", True, {}, systems, 0, int(flat_x.size), 0.0, "ULP", tuple(tail))

    candidates = _candidates(relevant)
    pick = mism if mism.size <= _SAMPLE else mism[np.linspace(0, mism.size - 1, _SAMPLE).astype(np.int64)]
    survivors: list[Settings] = []
    best: tuple[int, Settings | None] = (-1, None)
    for cand in candidates:
        hit = int(np.count_nonzero(_same(_model(flat_x[pick], f, {**DEFAULTS, **cand}), flat_a[pick])))
        if hit == pick.size:
            survivors.append(cand)
        elif hit > best[0]:
            best = (hit, cand)
    confirmed: list[Settings] = []
    for level in (1, 2):
        for cand in (c for c in survivors if len(c) == level):
            if len(confirmed) < _MAX_CONFIRM and bool(
                np.all(_same(_model(flat_x, f, {**DEFAULTS, **cand}), flat_a))
            ):
                confirmed.append(cand)
        if confirmed:
            break
    explained = confirmed[0] if confirmed else None
    if explained is not None:
        if len(confirmed) > 1:
            notes.append("Equally explained by: " + "; ".join(_show(c) for c in confirmed[1:]) + ".")
    else:
        notes += _commonalities(flat_x, flat_a, ref, mism, f)
        if best[1] is not None and best[0] > 0:
            notes.append(
                f"Closest setting: {_show(best[1])} reproduces {best[0]} of {pick.size} mismatching "
                "elements tried."
            )
    notes += tail
    systems = _matching_systems(f, flat_x.dtype, explained, relevant) if explained is not None else ()
    model = None if explained is None else _model(flat_x[mism[:max_examples]], f, {**DEFAULTS, **explained})
    examples = tuple(
        _example(int(i), xs.shape, flat_x, flat_a, ref, f, None if model is None else model[j])
        for j, i in enumerate(mism[:max_examples])
    )
    ulps = _ulps(flat_a[mism], ref[mism], f)
    return Diagnosis(
        "cast",
        False,
        explained,
        systems,
        int(mism.size),
        int(flat_x.size),
        float(np.max(ulps)),
        "ULP",
        tuple(notes),
        examples,
        len(candidates),
    )


# ----------------------------------------------------------------------------- arguments


def _arguments(
    x: Any, actual: Any, fmt: Any, max_examples: Any
) -> tuple[FloatFormat, NDArray[Any], NDArray[Any]]:
    if isinstance(fmt, np.ndarray) and fmt.ndim == 0 and fmt.dtype.kind in "US":
        fmt = str(fmt)  # a format name read from an .npz file
    f = float_format(fmt)
    xs = as_float_array("x", x)
    if xs.dtype == np.float16:
        xs = xs.astype(np.float32)  # exact; what cast computes in
    elif xs.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {xs.dtype}")
    a = np.asarray(actual)
    if a.dtype.kind in "iub" or a.dtype.kind not in "fV":
        raise TypeError(
            f"actual must hold the cast values as floats, got dtype {a.dtype} (decode codes first: "
            "refquant.floats.decode(codes, fmt))"
        )
    try:  # float32 and float64 as they are (compared in their own type); others exactly widened
        act = (
            a
            if a.dtype in (np.float32, np.float64)
            else a.astype(np.float32 if a.itemsize <= 2 else np.float64)
        )
    except (TypeError, ValueError):
        raise TypeError(f"actual must hold float values, got dtype {a.dtype}") from None
    if act.shape != xs.shape:
        raise ValueError(f"actual must have the shape of x {xs.shape}, got {act.shape}")
    if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)):
        raise TypeError(f"max_examples must be an int, got {max_examples!r}")
    if max_examples < 0:
        raise ValueError(f"max_examples must be >= 0, got {max_examples}")
    return f, xs, act


# ----------------------------------------------------------------------------- the model


def _model(x: NDArray[Any], f: FloatFormat, s: Mapping[str, Any]) -> NDArray[Any]:
    """``actual`` as an implementation with settings ``s`` computes it (module docstring's order).

    In the cast's own float type (every value of every format is exact in float32).
    """
    v = x
    with np.errstate(over="ignore", invalid="ignore"):
        if s["via"] == "float32":
            v = x.astype(np.float32)
        elif s["via"] == "float16":
            v = x.astype(np.float16).astype(x.dtype)
        elif s["via"] == "bfloat16":
            v = cast(x, "bfloat16")
        if s["flush"] == "inputs":
            small = (v != 0) & (np.abs(v) < f.min_normal)
            v = np.where(small, np.copysign(np.zeros((), v.dtype), v), v)
        y = cast(v, f, saturate=bool(s["saturate"]), rounding=s["rounding"])
    if s["inf"] != "follow":
        m = np.isinf(v)
        if m.any():
            if s["inf"] == "saturate":
                y[m] = np.copysign(f.max_finite, v[m])
            else:
                y[m] = cast(v[m], f, saturate=False, rounding=s["rounding"])
    if s["nan"] != "nan":
        y[np.isnan(x)] = {"zero": 0.0, "+max": f.max_finite, "-max": -f.max_finite}[s["nan"]]
    if s["flush"] == "outputs":
        sub = (y != 0) & (np.abs(y) < f.min_normal)
        y[sub] = 0.0 if f.special == "fnuz" else np.copysign(0.0, y[sub])
    if s["negative_zero"] == "dropped":
        y[y == 0] = 0.0
    return y


def _same(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.bool_]:
    """Equal values with equal signs (``-0 != +0``); every NaN equals every NaN.

    Compared as bit patterns when both have the same float type (one pass), else in float64.
    """
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        a, b = a.astype(np.float64), b.astype(np.float64)
    u = np.uint32 if a.dtype == np.float32 else np.uint64
    eq = a.view(u) == b.view(u)
    rest = np.flatnonzero(~eq)
    if rest.size:
        eq[rest] = np.isnan(a[rest]) & np.isnan(b[rest])
    return eq


def _relevance(x: NDArray[Any], ref: NDArray[Any], f: FloatFormat) -> dict[str, bool]:
    """For each knob: can these inputs tell its values apart (a cheap test, true when they can)?"""
    ax = np.abs(x)
    with np.errstate(invalid="ignore", over="ignore"):
        big = bool(np.any(ax > f.max_finite))  # includes ±inf
        small = ax < f.min_normal
        via32 = x.dtype == np.float64 and bool(np.any((x.astype(np.float32) != x) & ~np.isnan(x)))
        neg_zero = np.array(-0.0, ref.dtype).view(np.uint32 if ref.dtype == np.float32 else np.uint64)
    return {
        "rounding": bool(np.any(ref != x)),
        "saturate": big,
        "inf": big,
        "nan": bool(np.isnan(np.max(x, initial=0.0))),
        "flush": bool(np.any(x[small] != 0)),
        "negative_zero": bool(np.any(ref.view(neg_zero.dtype) == neg_zero)),
        "via:float32": via32,
        "via:float16": f.mantissa_bits < _MANTISSA["float16"] < _MANTISSA[x.dtype.name],
        "via:bfloat16": f.mantissa_bits < _MANTISSA["bfloat16"] < _MANTISSA[x.dtype.name],
    }


def _applicable(knob: str, value: Any, relevant: Mapping[str, bool]) -> bool:
    if knob == "via":
        return bool(relevant[f"via:{value}"])
    return bool(relevant[knob])


def _candidates(relevant: Mapping[str, bool]) -> list[Settings]:
    """Every single non-reference knob value the inputs can tell apart, then every pair of two knobs."""
    singles = [(k, v) for k, vals in VALUES.items() for v in vals[1:] if _applicable(k, v, relevant)]
    out = [{k: v} for k, v in singles if not _noop({**DEFAULTS, k: v})]
    for (k1, v1), (k2, v2) in itertools.combinations(singles, 2):
        if k1 != k2 and not _noop({**DEFAULTS, k1: v1, k2: v2}):
            out.append({k1: v1, k2: v2})
    return out


def _noop(s: Mapping[str, Any]) -> bool:
    """An ``inf`` setting that repeats what ``saturate`` already does."""
    return (s["inf"] == "saturate" and s["saturate"]) or (s["inf"] == "propagate" and not s["saturate"])


# ----------------------------------------------------------------------------- systems


def _systems(f: FloatFormat, dtype: np.dtype[Any]) -> list[tuple[str, Settings]]:
    """The known systems for ``fmt`` and inputs of ``dtype``, with their settings."""
    via: Settings = {"via": "float32"} if dtype == np.float64 else {}
    out: list[tuple[str, Settings]] = []
    if f.name in _ONNX_FLOAT8:
        out += [
            ("ONNX Cast saturate=1 (onnx.reference)", {"saturate": True}),
            ("ONNX Cast saturate=0 (onnx.reference)", {}),
            ("ONNX Runtime Cast saturate=1", {"saturate": True, **via}),
            ("ONNX Runtime Cast saturate=0", {**via}),
        ]
    elif f.name in ("float16", "bfloat16"):
        out.append((f"ONNX Runtime Cast to {f.name}", {**via}))
    if f.name == "float16":
        out.append(("NumPy x.astype(numpy.float16)", {}))
    else:
        out.append((f"ml_dtypes x.astype(ml_dtypes.{f.name})", {}))
    if f.name in _TORCH:
        sat: Settings = {"saturate": True} if f.name == "float8_e4m3fn" else {}
        out.append((f"PyTorch tensor.to(torch.{f.name})", {**sat, **via}))
    return out


def _matching_systems(
    f: FloatFormat, dtype: np.dtype[Any], explained: Mapping[str, Any], relevant: Mapping[str, bool]
) -> tuple[str, ...]:
    """Systems whose settings agree with ``explained`` on every knob the inputs exercise."""
    want = {**DEFAULTS, **explained}
    names = []
    for name, settings in _systems(f, dtype):
        have = {**DEFAULTS, **settings}
        if all(have[k] == want[k] or not _knob_relevant(k, have[k], want[k], relevant) for k in DEFAULTS):
            names.append(name)
    return tuple(names)


def _knob_relevant(knob: str, a: Any, b: Any, relevant: Mapping[str, bool]) -> bool:
    if knob == "via":
        return any(relevant[f"via:{v}"] for v in (a, b) if v is not None)
    return bool(relevant[knob])


# ----------------------------------------------------------------------------- findings


def _reference_note(f: FloatFormat) -> str:
    over = {"ieee": "±inf", "fn": "NaN", "fnuz": "NaN", "none": "±max", "e8m0": "NaN"}[f.special]
    return (
        f"Reference: refquant.floats.cast(x, {f.name!r}), ml_dtypes' rule: one rounding, half to even, "
        f"overflow and ±inf to {over}, NaN to NaN."
    )


def _untested(relevant: Mapping[str, bool], dtype: np.dtype[Any]) -> str:
    missing = [
        what
        for what, ok in (
            ("values between grid points", relevant["rounding"]),
            ("overflow or ±inf", relevant["saturate"] or relevant["inf"]),
            ("NaN", relevant["nan"]),
            ("values below the smallest normal", relevant["flush"]),
        )
        if not ok
    ]
    if dtype == np.float64 and not relevant["via:float32"]:
        missing.append("float64 values that float32 rounds")
    if not missing:
        return ""
    return "Not exercised by these inputs (their settings cannot be told apart): " + ", ".join(missing) + "."


def _commonalities(
    x: NDArray[Any], a: NDArray[Any], ref: NDArray[Any], mism: NDArray[np.int64], f: FloatFormat
) -> list[str]:
    """What the mismatching elements have in common, one sentence per property that most of them share."""
    xm, am, rm = x[mism], a[mism].astype(np.float64), ref[mism].astype(np.float64)
    n = mism.size
    with np.errstate(invalid="ignore"):
        ties = _is_tie(xm, f)
        props = [
            ("lie exactly halfway between two grid values (ties)", ties),
            ("lie just off a tie (within 1/256 of a grid step of it)", ~ties & _near_tie(xm, f)),
            ("overflow the format (|x| above its largest value, or ±inf)", np.abs(xm) > f.max_finite),
            ("are NaN inputs", np.isnan(xm)),
            ("lie below the smallest normal value (the subnormal range)", np.abs(xm) < f.min_normal),
            ("differ only in the sign of zero", (am == rm) & (am == 0)),
            ("are negative inputs", xm < 0),
        ]
    out = []
    for text, hit in props:
        k = int(np.count_nonzero(hit))
        if k == n:
            out.append(f"All {n} mismatching elements {text}.")
        elif k >= 0.9 * n and k:
            out.append(f"{k} of the {n} mismatching elements {text}.")
    if not out:
        out.append(f"The {n} mismatching elements share none of: ties, overflow, NaN, subnormals, signs.")
    return out


def _is_tie(x: NDArray[Any], f: FloatFormat) -> NDArray[np.bool_]:
    """``x`` halfway between two neighbours of the grid: rounding half up and half down disagree."""
    fin = np.isfinite(x)
    up = cast(np.where(fin, x, 0), f, saturate=True, rounding="half_up")
    down = cast(np.where(fin, x, 0), f, saturate=True, rounding="half_down")
    return fin & (up != down)


def _near_tie(x: NDArray[Any], f: FloatFormat) -> NDArray[np.bool_]:
    fin = np.isfinite(x)
    lo = cast(np.where(fin, x, 0), f, saturate=True, rounding="floor").astype(np.float64)
    hi = cast(np.where(fin, x, 0), f, saturate=True, rounding="ceil").astype(np.float64)
    mid = (lo + hi) / 2
    step = np.maximum(hi - lo, f.min_subnormal)
    return fin & (hi != lo) & (np.abs(x - mid) < step / 2**8)


def _ulps(a: NDArray[Any], r: NDArray[Any], f: FloatFormat) -> F64:
    """``|a - r|`` in grid steps of ``f`` at ``r`` (inf when either is NaN or inf but not both NaN)."""
    a, r = a.astype(np.float64), r.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mag = np.abs(r)
        if f.special == "e8m0":
            err = np.abs(np.log2(np.abs(a)) - np.log2(mag))
        else:
            e = np.frexp(np.maximum(mag, f.min_normal))[1] - 1
            step = np.ldexp(1.0, e - f.mantissa_bits)
            err = np.abs(a - r) / step
    both_nan = np.isnan(a) & np.isnan(r)
    bad = ~np.isfinite(a) | ~np.isfinite(r)
    err = np.where(bad, np.inf, err)
    err = np.where(both_nan, 0.0, err)
    return np.where((a == r) & ~bad, 0.0, np.where(np.isnan(err), np.inf, err))


def _example(
    i: int,
    shape: tuple[int, ...],
    x: NDArray[Any],
    a: NDArray[Any],
    ref: NDArray[Any],
    f: FloatFormat,
    model: Any,
) -> dict[str, Any]:
    idx: Any = tuple(int(j) for j in np.unravel_index(i, shape)) if len(shape) != 1 else i
    ex: dict[str, Any] = {
        "index": idx,
        "x": str(x.dtype.type(x[i])),
        "actual": repr(float(a[i])),
        "reference": repr(float(ref[i])),
    }
    ulp = float(_ulps(a[i : i + 1], ref[i : i + 1], f)[0])
    ex["ulps"] = f"{ulp:g}"
    if model is not None:
        ex["explained"] = repr(float(model))
    return ex


def _show(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())
