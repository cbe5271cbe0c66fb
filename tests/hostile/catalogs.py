"""Hostile catalogues the public :mod:`refquant.check.strategies` does not (yet) have.

Integer codes, masks, real-valued knobs, bools, dtypes, generators, block
shapes: the same :class:`~refquant.check.strategies.Hostile` records.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.check.hostile import Hostile, number_shows, readonly_view, strided_view


def _h(label: str, value: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
    return Hostile(label, value, valid, frozenset(tags.split()), shows)


def code_cases(base: Any) -> list[Hostile]:
    """Integer code arrays: the integer dtypes' limits, floats, bools, structure."""
    b = np.asarray(base)
    out = []
    for dt in ("int64", "uint64", "int32", "int8", "uint8"):
        info = np.iinfo(dt)
        for v in (info.max, info.min):
            a = np.array(b, dtype=dt)
            a.reshape(-1)[min(1, a.size - 1)] = v
            out.append(
                _h(f"{dt} {'max' if v == info.max else 'min'} ({v})", a, None, "finite extreme", (str(v),))
            )
    out += [
        _h("float codes (integral)", b.astype(np.float64), None, "dtype", ("float64", "float", "integer")),
        _h(
            "float codes (fractional)",
            b.astype(np.float64) + 0.5,
            False,
            "dtype",
            ("float64", "float", "integer"),
        ),
        _h(
            "float codes (nan)",
            np.full(b.shape, np.nan),
            False,
            "dtype nan",
            ("float64", "float", "nan", "integer"),
        ),
        _h("bool codes", b != 0, None, "dtype", ("bool",)),
        _h("empty", np.zeros((0, *b.shape[1:]), b.dtype), None, "empty", ("empty", "(0", "size 0")),
        _h("0-d", np.array(b.reshape(-1)[0]), None, "0-d", ("0-d", "()", "ndim", "dimension", "scalar")),
        _h("Python int", int(b.reshape(-1)[0]), None, "scalar", ("0-d", "()", "ndim", "dimension", "scalar")),
        _h("Python list", b.tolist(), True, "list"),
        _h("read-only view", readonly_view(b), True, "view"),
        _h("strided view", strided_view(b), True, "view"),
        _h("strings", b.astype(str), False, "dtype", ("<U", "str")),
    ]
    return out


def mask_cases(base: Any) -> list[Hostile]:
    """Boolean masks: 0/1 of other dtypes, other values, NaN, structure."""
    b = np.asarray(base).astype(bool)
    return [
        _h("all False", np.zeros_like(b), True, "finite"),
        _h("all True", np.ones_like(b), True, "finite"),
        _h("int 0/1", b.astype(np.int64), None, "dtype", ("int64", "0/1")),
        _h("float 0/1", b.astype(np.float32), None, "dtype", ("float32", "0/1")),
        _h("value 2", b.astype(np.int64) * 2, None, "dtype", ("2",)),
        _h("value 0.5", b.astype(np.float64) * 0.5, False, "dtype", ("0.5",)),
        _h("nan", np.where(b, np.nan, 0.0), False, "nan", ("nan",)),
        _h("wrong shape", np.ones((*b.shape, 2), bool), False, "shape", (str((*b.shape, 2)),)),
        _h("Python list", b.tolist(), True, "list"),
        _h("read-only view", readonly_view(b), True, "view"),
        _h("strided view", strided_view(b), True, "view"),
        _h("strings", b.astype(str), False, "dtype", ("<U", "str")),
    ]


def real_cases(
    lo: float | None, hi: float | None, *, lo_open: bool = False, hi_open: bool = False, inf_ok: bool = False
) -> list[Hostile]:
    """A real knob valid on the interval between ``lo`` and ``hi`` (None: unbounded)."""
    out = [
        _h("nan", float("nan"), False, "nan", ("nan",)),
        _h("inf", float("inf"), bool(inf_ok), "inf", ("inf",)),
        _h("-inf", float("-inf"), False, "inf", ("inf",)),
        _h("str '0.5'", "0.5", False, "type", ("'0.5'", "str")),
        _h("None", None, False, "type", ("None",)),
        _h("list [0.5]", [0.5], False, "type", ("[0.5]", "list")),
        _h("complex", 0.5 + 0j, False, "type", ("complex", "0.5")),
        _h("True", True, None, "type", ("True", "bool")),
        _h("0-d array", np.array(_mid(lo, hi)), None, "0-d", ("array", *number_shows(_mid(lo, hi)))),
        _h("np.float32", np.float32(_mid(lo, hi)), True, "finite"),
        _h("mid", _mid(lo, hi), True, "finite"),
    ]
    if lo is not None:
        below = lo - max(1.0, abs(lo)) * 0.5
        out.append(_h("below lo", below, False, "finite", number_shows(below)))
        out.append(_h("lo", float(lo), not lo_open, "finite", number_shows(lo)))
        if lo_open:
            out.append(
                _h("just above lo", lo + 1e-300 if lo == 0 else np.nextafter(lo, np.inf), True, "finite")
            )
    if hi is not None:
        above = hi + max(1.0, abs(hi)) * 0.5
        out.append(_h("above hi", above, False, "finite", number_shows(above)))
        out.append(_h("hi", float(hi), not hi_open, "finite", number_shows(hi)))
        if hi_open:
            out.append(_h("just below hi", float(np.nextafter(hi, -np.inf)), True, "finite"))
    else:
        out.append(_h("1e300", 1e300, None, "finite extreme", number_shows(1e300)))
    return out


def _mid(lo: float | None, hi: float | None) -> float:
    if lo is not None and hi is not None:
        return (lo + hi) / 2 if (lo + hi) / 2 != lo else hi
    if lo is not None:
        return lo + 1.0 if lo != 0 else 0.5
    if hi is not None:
        return hi - 1.0
    return 0.5


def bool_cases() -> list[Hostile]:
    return [
        _h("True", True, True, "finite"),
        _h("False", False, True, "finite"),
        _h("np.True_", np.True_, True, "finite"),
        _h("int 1", 1, None, "type", ("1", "int")),
        _h("str 'False'", "False", False, "type", ("'False'", "str")),
        _h("None", None, None, "type", ("None",)),
        _h("list [True]", [True], False, "type", ("[True]", "list")),
    ]


def dtype_cases(valid: tuple[str, ...] = ("float16", "float32", "float64")) -> list[Hostile]:
    out = [_h(v, np.dtype(v).type, None if v == "float16" else True, "choice") for v in valid]
    out += [
        _h("str 'float32'", "float32", True if "float32" in valid else None, "choice"),
        _h("'bogus'", "bogus", False, "type", ("bogus",)),
        _h(
            "int32",
            np.int32,
            False if all(np.dtype(v).kind == "f" for v in valid) else None,
            "type",
            ("int32",),
        ),
        _h("bool", np.bool_, False, "type", ("bool",)),
        _h("object", object, False, "type", ("object", "O")),
        _h("complex64", np.complex64, False, "type", ("complex64",)),
        _h("float128", np.longdouble, None, "type", ("float128", "longdouble")),
        _h("1.5", 1.5, False, "type", ("1.5",)),
    ]
    return out


def int_dtype_cases() -> list[Hostile]:
    return [
        _h("int32", np.int32, True, "choice"),
        _h("int64", np.int64, True, "choice"),
        _h("uint8 (too small?)", np.uint8, None, "choice", ("uint8",)),
        _h("float32", np.float32, False, "type", ("float32",)),
        _h("'bogus'", "bogus", False, "type", ("bogus",)),
        _h("bool", np.bool_, False, "type", ("bool",)),
        _h("object", object, False, "type", ("object",)),
    ]


def rng_cases() -> list[Hostile]:
    return [
        _h("Generator(1)", np.random.default_rng(1), True, "finite"),
        _h("None", None, None, "type", ("None",)),
        _h("RandomState", np.random.RandomState(0), False, "type", ("RandomState",)),
        _h("int seed 0", 0, False, "type", ("0", "int")),
        _h("str", "seed", False, "type", ("seed", "str")),
    ]


def block_shape_cases(shape: tuple[int, int]) -> list[Hostile]:
    h, w = shape
    return [
        _h("(0, w)", (0, 2), False, "finite", ("0",)),
        _h("(-1, w)", (-1, 2), False, "finite", ("-1",)),
        _h("(2.0, 2)", (2.0, 2), False, "type", ("2.0", "float")),
        _h("one entry", (2,), False, "shape", ("(2,)",)),
        _h("three entries", (2, 2, 2), False, "shape", ("(2, 2, 2)",)),
        _h("str", "2x2", False, "type", ("2x2",)),
        _h("None", None, False, "type", ("None",)),
        _h("(True, 2)", (True, 2), None, "type", ("True", "bool")),
        _h("(h+1, w+1)", (h + 1, w + 1), True, "finite"),
        _h("(1, 1)", (1, 1), True, "finite"),
        _h("(10**5, 10**5)", (10**5, 10**5), True, "finite huge"),
        _h("(2**40, 1)", (2**40, 1), True, "finite huge"),
        _h("list [2, 2]", [2, 2], True, "finite"),
        _h("np.int64", (np.int64(2), np.int64(2)), True, "finite"),
    ]
