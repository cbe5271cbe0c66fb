"""The hostile-input harness: the failure classes and the verdict on one case.

:func:`run_case` calls the function twice under a memory and time limit and
returns the failures, each in one of :data:`CLASSES`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.hostile.api import resolve
from tests.hostile.harness_args import ACCEPT, EITHER, REJECT
from tests.hostile.harness_call import (
    _ADDR,
    CallTimeout,
    _contains_word,
    _first_difference,
    _key,
    _same,
    _values_equal,
    call,
    describe,
    leaves,
    short,
)
from tests.hostile.harness_cases import Case

CLASSES: dict[str, str] = {
    "silent_garbage": "silent garbage (non-finite from finite, wrong value or shape, invalid input accepted)",
    "bad_message": "error not naming the argument or not showing its value",
    "wrong_exception": "wrong exception type (not ValueError/TypeError)",
    "mutated": "input mutated",
    "nondeterministic": "nondeterministic (two identical calls differ)",
    "wrong_dtype": "wrong output dtype",
    "warning": "silent overflow / numpy warning emitted",
    "resource": "resource blow-up (memory or time)",
    "valid_rejected": "valid input rejected",
}

NO_REF = object()  # a reference that has no value for this input
REF_REJECT = object()  # the reference says: this input is invalid


# --------------------------------------------------------------------------- verdict


@dataclass
class Failure:
    cls: str
    case_id: str
    detail: str
    call: str

    def __str__(self) -> str:
        return f"[{self.cls}] {self.case_id}\n    call: {self.call}\n    {self.detail}"


def _check_output(case: Case, kw: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    fails: list[tuple[str, str]] = []
    entry = case.entry
    lv = leaves(value)
    if case.finite_in and entry.finite:
        for p, leaf in lv:
            a = np.asarray(leaf) if isinstance(leaf, (np.ndarray, float)) else None
            if a is not None and a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
                fails.append(
                    (
                        "silent_garbage",
                        f"non-finite output {p or ''} {short(leaf)} from finite valid inputs"
                        f"{_shadow(case, kw, p, a)}",
                    )
                )
                break
    if entry.dtype is not None:
        try:
            want = entry.dtype(kw)
        except Exception:
            want = None
        for p, dt, got in _dtype_pairs(want, lv):
            if got != dt:
                fails.append(("wrong_dtype", f"output {p or ''} has dtype {got}, expected {dt}"))
                break
    if entry.shape is not None:
        try:
            want_s = entry.shape(kw)
        except Exception:
            want_s = None
        pairs = (
            want_s.items()
            if isinstance(want_s, dict)
            else ([(lv[0][0], want_s)] if want_s is not None and lv else [])
        )
        got_by_path = dict(lv)
        for p, s in pairs:
            if p in got_by_path and np.shape(got_by_path[p]) != tuple(s):
                fails.append(
                    (
                        "silent_garbage",
                        f"output {p or ''} has shape {np.shape(got_by_path[p])}, expected {tuple(s)}",
                    )
                )
                break
    if entry.reference is not None and case.reference:
        try:
            ref = entry.reference(kw)
        except Exception as e:  # a reference that cannot evaluate this input gives no verdict
            ref = NO_REF
            _ = e
        if ref is REF_REJECT:
            fails.append(
                (
                    "silent_garbage",
                    f"returned {short(value)} where the exact semantics are undefined "
                    "(a clear error was expected)",
                )
            )
        elif ref is not NO_REF and ref is not None:
            rl = leaves(ref)
            got_by_path = dict(lv)
            for p, exp in rl:
                if exp is NO_REF or p not in got_by_path:
                    continue
                if not _values_equal(got_by_path[p], exp):
                    fails.append(
                        (
                            "silent_garbage",
                            f"output {p or ''} = {short(got_by_path[p])}, exact reference "
                            f"{short(np.asarray(exp))}",
                        )
                    )
                    break
    return fails


def _upcast(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.itemsize < 8:
        return v.astype(np.float64)
    if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
        return type(v)(_upcast(x) for x in v)
    return v


def _shadow(case: Case, kw: dict[str, Any], path: str, got: np.ndarray) -> str:
    """Why the output is non-finite: the call in float64 tells an intermediate overflow from a true one."""
    if got.dtype.itemsize >= 8:
        return ""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw64 = {k: _upcast(v) for k, v in case.build().items()}
            fn = resolve(case.entry.target)
            out = fn(**kw64)
            if case.entry.then is not None:
                out = case.entry.then(out)
        ref = dict(leaves(out)).get(path)
        r = np.asarray(ref, dtype=np.float64)
        if r.shape != got.shape:
            return ""
        bad = ~np.isfinite(got)
        fits = np.isfinite(r[bad]) & (np.abs(r[bad]) <= np.finfo(got.dtype).max)
        if np.all(fits):
            return (
                f" -- an intermediate overflow: in float64 the same call gives {short(r)}, "
                f"within {got.dtype}'s range"
            )
        if not np.all(np.isfinite(r[bad])):
            return f" -- non-finite in float64 too ({short(r)}): a clear error expected"
        return f" -- the exact result is beyond {got.dtype}'s range (float64: {short(r)}): an error expected"
    except Exception:
        return ""


def _dtype_pairs(want: Any, lv: list[tuple[str, Any]]) -> list[tuple[str, np.dtype, np.dtype]]:
    if want is None:
        return []
    got = {p: leaf.dtype for p, leaf in lv if isinstance(leaf, np.ndarray)}
    if isinstance(want, dict):
        return [(p, np.dtype(d), got[p]) for p, d in want.items() if p in got and d is not None]
    w = np.dtype(want)
    kinds = "fc" if w.kind in "fc" else "iub"
    return [(p, w, d) for p, d in got.items() if d.kind in kinds]


def run_case(case: Case) -> list[Failure]:
    """Call the function of ``case`` (twice) and return its failures."""
    entry = case.entry
    fn = resolve(entry.target)
    try:
        with np.errstate(all="ignore"):
            kw = case.build()
            snapshot = case.build()
    except Exception as e:  # a registry problem, reported as such
        return [
            Failure("valid_rejected", case.id, f"registry: could not build the call: {e!r}", entry.target)
        ]
    shown = describe(entry, snapshot)
    out = call(fn, kw, entry.timeout, entry.positional, entry.then)
    fails: list[tuple[str, str]] = []
    exc = out.exc
    want = {
        ACCEPT: "a defined result",
        REJECT: "ValueError/TypeError naming the argument and showing its value",
        EITHER: "a defined result or a ValueError/TypeError naming the argument and showing its value",
    }[case.expect]
    if exc is not None:
        msg = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (MemoryError, CallTimeout)):
            fails.append(("resource", f"{msg[:300]} (expected {want})"))
        elif isinstance(exc, (ValueError, TypeError)) or isinstance(exc, case.ok_exceptions):
            if case.expect == ACCEPT:
                fails.append(("valid_rejected", f"raised {msg[:400]} (expected {want})"))
            else:
                text = str(exc)
                named = not case.names or any(_contains_word(text, n) for n in case.names)
                showing = not case.shows or any(s.lower() in text.lower() for s in case.shows)
                if not named and any(_contains_word(text, n) for n in case.related):
                    named = showing = True  # an error about the combination, naming the other argument
                if not (named and showing):
                    what = []
                    if not named:
                        what.append(f"names none of {list(case.names)}")
                    if not showing:
                        what.append(f"shows none of {list(case.shows)[:4]}")
                    fails.append(("bad_message", f"raised {msg[:400]} -- the message {' and '.join(what)}"))
        else:
            fails.append(("wrong_exception", f"raised {msg[:400]} (expected {want})"))
    else:
        if case.expect == REJECT:
            fails.append(
                (
                    "silent_garbage",
                    f"accepted an invalid value and returned {short(out.value)} (expected {want})",
                )
            )
        else:
            fails += _check_output(case, kw, out.value)
    if out.warnings:
        fails.append(("warning", "; ".join(dict.fromkeys(out.warnings))[:400]))
    try:
        if not _same(kw, snapshot):
            fails.append(("mutated", f"an argument changed: {_first_difference(snapshot, kw)}"))
    except Exception as e:
        fails.append(("mutated", f"could not compare the arguments: {e!r}"))
    if not any(c == "resource" for c, _ in fails):
        with np.errstate(all="ignore"):
            kw2 = case.build()
        out2 = call(fn, kw2, entry.timeout, entry.positional, entry.then)
        if (exc is None) != (out2.exc is None):
            fails.append(
                (
                    "nondeterministic",
                    f"first call {'raised' if exc else 'returned'}, second "
                    f"{'raised ' + repr(out2.exc) if out2.exc else 'returned'}",
                )
            )
        elif exc is not None and out2.exc is not None:
            m1, m2 = (_ADDR.sub("0x?", f"{type(e).__name__}: {e}") for e in (exc, out2.exc))
            if m1 != m2 and not isinstance(exc, CallTimeout):
                fails.append(("nondeterministic", f"{exc!r} then {out2.exc!r}"))
        elif not _same(out.value, out2.value, entry.volatile):
            fails.append(
                ("nondeterministic", f"two identical calls differ {_first_difference(out.value, out2.value)}")
            )
        if case.same_as is not None and exc is None:
            with np.errstate(all="ignore"):
                kw3 = case.same_as()
            out3 = call(fn, kw3, entry.timeout, entry.positional, entry.then)
            if out3.exc is None and not _same_values(out.value, out3.value, entry.volatile):
                fails.append(
                    (
                        "silent_garbage",
                        "result differs from the same values in a contiguous array: "
                        f"{_first_difference(out3.value, out.value)}",
                    )
                )
    return [Failure(c, case.id, d, shown) for c, d in fails]


def _same_values(a: Any, b: Any, volatile: tuple[str, ...] = ()) -> bool:
    la = [(p, v) for p, v in leaves(a) if not (volatile and p.endswith(volatile))]
    lb = [(p, v) for p, v in leaves(b) if not (volatile and p.endswith(volatile))]
    if len(la) != len(lb):
        return False
    for (_, x), (_, y) in zip(la, lb, strict=True):
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != np.ascontiguousarray(y).tobytes():
                if not (x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")):
                    return False
        elif _key(x) != _key(y):
            return False
    return True
