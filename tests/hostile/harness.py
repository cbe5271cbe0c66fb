"""The hostile-input harness: registry records, case generation, one guarded call, the verdict.

A registry :class:`Entry` gives a public function's valid baseline call and,
per argument, an :class:`Arg`: its kind (array, scale, zero point, range,
amount, axis, ...), which hostile catalogue feeds it, and the documented
contract for the catalogue's values (``policy``: label or tag -> accept,
reject or either). :func:`cases` turns entries into :class:`Case` objects
(one hostile value in one argument, or a documented combination);
:func:`run_case` calls the function twice under a memory and time limit and
returns the failures, each in one of :data:`CLASSES`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import resource
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refquant.check.strategies import (
    Hostile,
    hostile_amount_cases,
    hostile_array_cases,
    hostile_axis_cases,
    hostile_block_size_cases,
    hostile_choice_cases,
    hostile_int_cases,
    hostile_range_cases,
    hostile_scale_cases,
    hostile_zero_point_cases,
)
from tests.hostile import catalogs
from tests.hostile.api import resolve

ACCEPT, REJECT, EITHER = "accept", "reject", "either"
SKIP = "skip"  # a policy that drops the case (a valid value whose cost is the documented output size)

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

MEMORY_LIMIT = 1 << 30  # extra address space a call may take
TIMEOUT = 10.0  # seconds per call

NO_REF = object()  # a reference that has no value for this input
REF_REJECT = object()  # the reference says: this input is invalid


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Arg:
    """How one argument is attacked, and its documented contract."""

    role: str
    catalogue: Callable[[Any], list[Hostile]] | None
    policy: Mapping[str, str] = field(default_factory=dict)
    params: tuple[str, ...] = ()  # the kwargs this argument sets (two for a code range)
    like: str | None = None  # keeps the shape of that argument (cotangents, masks, scores)
    names: tuple[str, ...] = ()  # other names a message may use for it
    adjust: Callable[[dict[str, Any]], None] | None = None  # refits dependent arguments after the change


TAG_ORDER = (
    "nan",
    "inf",
    "extreme",
    "big",
    "huge",
    "empty",
    "0-d",
    "scalar",
    "list",
    "view",
    "zeros",
    "dtype",
    "shape",
    "type",
    "choice",
    "finite",
)


def _arg(role: str, catalogue: Any, policy: Mapping[str, str], **kw: Any) -> Arg:
    return Arg(role, catalogue, dict(policy), **kw)


def array(
    like: str | None = None,
    values: bool = True,
    structure: bool = True,
    dtypes: bool = True,
    seed: Callable[[], Any] | None = None,
    **policy: str,
) -> Arg:
    """A float data array. ``like``: it must keep that argument's shape (a cotangent).

    ``seed`` gives the valid value to vary when the baseline passes None (an optional argument).
    """

    def cat(base: Any) -> list[Hostile]:
        if base is None and seed is not None:
            base = seed()
        out = hostile_array_cases(base, values=values, structure=structure, dtypes=dtypes)
        if like is not None:  # a cotangent: any other shape than its argument's is invalid
            out = [h._replace(valid=False) if h.tags & {"empty", "0-d", "scalar"} else h for h in out]
            b = np.asarray(base)
            out.append(
                Hostile(
                    "wrong shape",
                    np.zeros((*b.shape, 2), b.dtype),
                    False,
                    frozenset({"shape"}),
                    (str((*b.shape, 2)), "shape"),
                )
            )
        return out

    return _arg("array", cat, policy, like=like)


def codes(like: str | None = None, seed: Callable[[], Any] | None = None, **policy: str) -> Arg:
    def cat(base: Any) -> list[Hostile]:
        return catalogs.code_cases(seed() if base is None and seed is not None else base)

    return _arg("codes", cat, policy, like=like)


def mask(like: str | None = None, seed: Callable[[], Any] | None = None, **policy: str) -> Arg:
    def cat(base: Any) -> list[Hostile]:
        return catalogs.mask_cases(seed() if base is None and seed is not None else base)

    return _arg("mask", cat, policy, like=like)


def scale(dtype: Any = np.float32, shape: tuple[int, ...] = (), **policy: str) -> Arg:
    return _arg("scale", lambda base: hostile_scale_cases(dtype, shape=shape), policy)


def zero_point(qmin: int, qmax: int, shape: tuple[int, ...] = (), **policy: str) -> Arg:
    return _arg("zero_point", lambda base: hostile_zero_point_cases(qmin, qmax, shape=shape), policy)


def qrange(lo_name: str, hi_name: str, qmin: int, qmax: int, **policy: str) -> Arg:
    return _arg("range", lambda base: hostile_range_cases(qmin, qmax), policy, params=(lo_name, hi_name))


def amount(**policy: str) -> Arg:
    return _arg("amount", lambda base: hostile_amount_cases(), policy)


def axis(ndim: int, /, **policy: str) -> Arg:
    return _arg("axis", lambda base: hostile_axis_cases(ndim), policy)


def block(dim: int, /, **policy: str) -> Arg:
    return _arg("block", lambda base: hostile_block_size_cases(dim), policy)


def block_shape(shape: tuple[int, int], **policy: str) -> Arg:
    return _arg("block_shape", lambda base: catalogs.block_shape_cases(shape), policy)


def integer(lo: int | None, hi: int | None = None, /, **policy: str) -> Arg:
    return _arg("int", lambda base: hostile_int_cases(lo, hi), policy)


def real(
    lo: float | None,
    hi: float | None = None,
    /,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    inf_ok: bool = False,
    **policy: str,
) -> Arg:
    return _arg(
        "real",
        lambda base: catalogs.real_cases(lo, hi, lo_open=lo_open, hi_open=hi_open, inf_ok=inf_ok),
        policy,
    )


def choice(choices: Sequence[str], /, **policy: str) -> Arg:
    return _arg("choice", lambda base: hostile_choice_cases(list(choices)), policy)


def flag(**policy: str) -> Arg:
    return _arg("bool", lambda base: catalogs.bool_cases(), policy)


def float_dtype(valid: tuple[str, ...] = ("float16", "float32", "float64"), **policy: str) -> Arg:
    return _arg("dtype", lambda base: catalogs.dtype_cases(valid), policy)


def int_dtype(**policy: str) -> Arg:
    return _arg("dtype", lambda base: catalogs.int_dtype_cases(), policy)


def generator(**policy: str) -> Arg:
    return _arg("rng", lambda base: catalogs.rng_cases(), policy)


def seq(element: Arg | None = None, seed: Callable[[], Any] | None = None, **policy: str) -> Arg:
    """A sequence of arrays: its first element gets ``element``'s catalogue; plus [] and a tuple."""
    inner = element or array()

    def cat(base: Any) -> list[Hostile]:
        items = list(base if base is not None or seed is None else seed())
        out = []
        for h in inner.catalogue(items[0]) if inner.catalogue else []:
            new = [h.value, *items[1:]]
            out.append(Hostile(f"[0] {h.label}", new, h.valid, h.tags, h.shows))
        out.append(Hostile("[]", [], None, frozenset({"empty"}), ("empty", "[]", "0", "no ")))
        out.append(Hostile("tuple", tuple(items), True, frozenset({"finite"}), ()))
        out.append(
            Hostile("not a sequence", np.asarray(items[0]), None, frozenset({"type"}), ("sequence", "list"))
        )
        return out

    return _arg("seq", cat, {**inner.policy, **policy})


def opaque() -> Arg:
    return Arg("opaque", None)


def aka(arg: Arg, *names: str) -> Arg:
    """The message may describe the argument by one of ``names`` (e.g. "format" for ``name``)."""
    return dataclasses.replace(arg, names=names)


def refit(arg: Arg, fn: Callable[[dict[str, Any]], None]) -> Arg:
    """After this argument changes, ``fn(kwargs)`` refits the arguments that depend on it."""
    return dataclasses.replace(arg, adjust=fn)


# --------------------------------------------------------------------------- entries


@dataclass
class Combo:
    """A documented combination of arguments, with its expected outcome."""

    label: str
    update: Mapping[str, Any] | Callable[[dict[str, Any]], None]
    expect: str
    names: tuple[str, ...] = ()
    shows: tuple[str, ...] = ()
    finite_in: bool = True
    ok_exceptions: tuple[type[BaseException], ...] = ()  # documented exceptions besides ValueError/TypeError
    reference: bool = True  # compare with the entry's exact reference


@dataclass
class Entry:
    """One public callable (or one variant of its call): baseline, arguments, contract."""

    target: str
    base: Callable[[], dict[str, Any]]
    args: Mapping[str, Arg] = field(default_factory=dict)
    variant: str = ""
    dtype: Callable[[dict[str, Any]], Any] | None = None
    shape: Callable[[dict[str, Any]], Any] | None = None
    reference: Callable[[dict[str, Any]], Any] | None = None
    finite: bool = True  # finite valid inputs give finite outputs
    extra: Sequence[Combo] = ()
    contract: str = ""
    related: tuple[str, ...] | None = None  # names a structural error about an array may use
    ok_exceptions: Mapping[str, tuple[type[BaseException], ...]] = field(default_factory=dict)
    timeout: float = TIMEOUT
    positional: tuple[str, ...] = ()  # arguments passed positionally (positional-only parameters)
    then: Callable[[Any], Any] | None = None  # applied to the result inside the call (a class's method)
    volatile: tuple[str, ...] = ()  # output paths ending so are not compared between calls (timings)
    # Case labels (exact) where the function mirrors another system's documented result on that
    # hostile value, checked bit for bit against the real system in tests/conformance: the call must
    # succeed, may return non-finite values, and is not compared with the exact reference. Value: where.
    mirrored: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.target + (f"[{self.variant}]" if self.variant else "")


@dataclass
class Case:
    entry: Entry
    label: str
    build: Callable[[], dict[str, Any]]
    expect: str
    names: tuple[str, ...]
    shows: tuple[str, ...]
    finite_in: bool
    arg: str | None = None
    same_as: Callable[[], dict[str, Any]] | None = None  # a call that must give the same result
    ok_exceptions: tuple[type[BaseException], ...] = ()
    related: tuple[str, ...] = ()  # an error about the combination may name one of these instead
    reference: bool = True

    @property
    def id(self) -> str:
        return f"{self.entry.name}:{self.label}"


def _shows(h: Hostile) -> tuple[str, ...]:
    """What a message may print for ``h``: its own list, plus the shape and dtype of an array value."""
    v = h.value
    if isinstance(v, np.ndarray) and h.shows:
        return (*h.shows, str(v.shape), v.dtype.name)
    if isinstance(v, (bool, int, float, np.generic)) and h.shows and "type" in h.tags:
        return (*h.shows, "()")  # a scalar where an array of some shape was needed: "got shape ()" shows it
    return h.shows


def _expectation(h: Hostile, policy: Mapping[str, str]) -> str:
    for label in (h.label, h.label.removeprefix("[0] ")):  # a sequence's element keeps its own label
        if label in policy:
            return policy[label]
    for tag in TAG_ORDER:
        if tag in h.tags and tag in policy:
            return policy[tag]
        if tag == "big" and "big" in h.tags and "extreme" in policy:
            return policy["extreme"]  # large finite values follow the policy for values near the max
    return {True: ACCEPT, False: REJECT, None: EITHER}[h.valid]


def _reshaped_like(base: Any, shape: tuple[int, ...]) -> Any:
    """A value of ``base``'s kind and dtype with ``shape`` (deterministic contents)."""
    b = np.asarray(base)
    n = math.prod(shape)
    if b.dtype == bool:
        return np.ones(shape, bool) if n else np.zeros(shape, bool)
    vals = ((np.arange(n) % 7) + 1) * 0.25
    return vals.reshape(shape).astype(b.dtype if b.dtype.kind in "fiu" else np.float64)


def _shape(v: Any) -> tuple[int, ...] | None:
    if v is None or isinstance(v, str):
        return None
    try:
        a = np.asarray(v)
    except Exception:
        return None
    if a.dtype.kind not in "fiubc":
        return None if a.dtype.kind != "O" else a.shape
    return a.shape


def cases(entry: Entry) -> list[Case]:
    """The baseline, one case per hostile value per argument, and the combinations."""
    out: list[Case] = []
    base = entry.base
    related = entry.related
    if related is None:
        related = tuple(
            n
            for n, a in entry.args.items()
            if a.role in ("axis", "block", "scale", "zero_point", "block_shape")
        ) + tuple(n for n, a in entry.args.items() if a.like is not None)

    def followers(name: str) -> list[str]:
        return [n for n, a in entry.args.items() if a.like == name]

    out.append(Case(entry, "baseline", base, ACCEPT, (), (), True))
    for name, arg in entry.args.items():
        if arg.catalogue is None:
            continue
        params = arg.params or (name,)
        base_value = base().get(params[0]) if len(params) == 1 else None
        hostiles = arg.catalogue(base_value)
        for i, h in enumerate(hostiles):
            expect = _expectation(h, arg.policy)
            if expect == SKIP:
                continue

            def build(
                name: str = name,
                arg: Arg = arg,
                i: int = i,
                params: tuple[str, ...] = params,
                contiguous: bool = False,
            ) -> dict[str, Any]:
                kw = base()
                bv = kw.get(params[0]) if len(params) == 1 else None
                h = arg.catalogue(bv)[i]  # type: ignore[misc]
                value = h.value
                if contiguous:
                    value = np.array(value)
                if len(params) == 1:
                    kw[name] = value
                else:
                    for p, v in zip(params, value, strict=True):
                        kw[p] = v
                    return kw
                if arg.adjust is not None:
                    arg.adjust(kw)
                shape = _shape(value)
                old = _shape(bv)
                if shape is not None and shape != old:
                    for f in followers(name):
                        if kw.get(f) is not None and "shape" not in h.tags:
                            kw[f] = _reshaped_like(kw[f], shape)
                return kw

            structural = bool(h.tags & {"empty", "0-d", "scalar", "shape", "type", "dtype"})
            names = tuple(dict.fromkeys((*params, *arg.names)))
            rel = tuple(n for n in (related if structural else ()) if n not in names)
            same_as = None
            if h.tags & {"view", "list"} and expect == ACCEPT and arg.role != "seq":
                same_as = lambda build=build: build(contiguous=True)  # noqa: E731
            finite_in = not (h.tags & {"nan", "inf"}) and h.valid is not False
            out.append(
                Case(
                    entry,
                    f"{'+'.join(params)}={h.label}",
                    build,
                    expect,
                    names,
                    _shows(h),
                    finite_in,
                    arg=name,
                    related=rel,
                    same_as=same_as,
                    ok_exceptions=entry.ok_exceptions.get(name, ()),
                )
            )
    for combo in entry.extra:

        def build_combo(combo: Combo = combo) -> dict[str, Any]:
            kw = base()
            if callable(combo.update):
                combo.update(kw)
            else:
                kw.update({k: (v() if inspect.isfunction(v) else v) for k, v in combo.update.items()})
            return kw

        out.append(
            Case(
                entry,
                f"combo: {combo.label}",
                build_combo,
                combo.expect,
                combo.names,
                combo.shows,
                combo.finite_in,
                ok_exceptions=combo.ok_exceptions,
                reference=combo.reference,
            )
        )
    for c in out:
        if c.label in entry.mirrored:
            c.expect, c.finite_in, c.reference = ACCEPT, False, False
    seen: dict[str, int] = {}
    for c in out:  # unique labels
        n = seen.get(c.label, 0)
        seen[c.label] = n + 1
        if n:
            c.label = f"{c.label} #{n + 1}"
    return out


# --------------------------------------------------------------------------- guarded call


class CallTimeout(BaseException):
    """Raised inside the call when it exceeds its time limit."""


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


@contextlib.contextmanager
def guard(seconds: float, memory: int = MEMORY_LIMIT) -> Iterator[None]:
    """Cap the address space at its current size + ``memory`` and the wall time at ``seconds``."""
    old = resource.getrlimit(resource.RLIMIT_AS)
    vm = _vm_bytes()
    limited = False
    if vm:
        soft = vm + memory
        if old[1] != resource.RLIM_INFINITY:
            soft = min(soft, old[1])
        try:
            resource.setrlimit(resource.RLIMIT_AS, (soft, old[1]))
            limited = True
        except (ValueError, OSError):
            pass
    timed = threading.current_thread() is threading.main_thread()
    if timed:

        def _alarm(signum: int, frame: Any) -> None:
            raise CallTimeout(f"exceeded {seconds} s")

        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if limited:
            resource.setrlimit(resource.RLIMIT_AS, old)


@dataclass
class Outcome:
    value: Any = None
    exc: BaseException | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def call(
    fn: Callable[..., Any],
    kw: dict[str, Any],
    timeout: float,
    positional: tuple[str, ...] = (),
    then: Callable[[Any], Any] | None = None,
) -> Outcome:
    out = Outcome()
    kw = dict(kw)  # the caller's dict keeps its order (the arguments themselves are shared)
    args = [kw.pop(p) for p in positional if p in kw]
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(divide="warn", over="warn", invalid="warn", under="ignore"):
            try:
                with guard(timeout):
                    out.value = fn(*args, **kw)
                    if then is not None:
                        out.value = then(out.value)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                out.exc = e
    out.seconds = time.perf_counter() - t0
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


# --------------------------------------------------------------------------- comparing values


def leaves(obj: Any, path: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Flatten an output or argument into ``(path, leaf)`` pairs (arrays, scalars, reprs)."""
    if depth > 8:
        return [(path, repr(obj)[:200])]
    if isinstance(obj, np.ndarray):
        return [(path, obj)]
    if isinstance(obj, np.generic):
        return [(path, np.asarray(obj))]
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return [(path, obj)]
    if isinstance(obj, np.random.Generator):
        return []  # consuming the generator is its purpose
    if isinstance(obj, np.dtype) or inspect.isclass(obj):
        return [(path, repr(obj))]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return [lf for f in obj._fields for lf in leaves(getattr(obj, f), f"{path}.{f}", depth + 1)]
    if dataclasses.is_dataclass(obj):
        return [
            lf
            for f in dataclasses.fields(obj)
            for lf in leaves(getattr(obj, f.name), f"{path}.{f.name}", depth + 1)
        ]
    if isinstance(obj, (list, tuple)):
        return [lf for i, v in enumerate(obj) for lf in leaves(v, f"{path}[{i}]", depth + 1)]
    if isinstance(obj, dict):
        return [lf for k, v in obj.items() for lf in leaves(v, f"{path}[{k!r}]", depth + 1)]
    if callable(obj):
        return [(path, getattr(obj, "__qualname__", type(obj).__name__))]
    if hasattr(obj, "__dict__"):
        return [lf for k, v in vars(obj).items() for lf in leaves(v, f"{path}.{k}", depth + 1)]
    return [(path, type(obj).__name__)]


def _key(leaf: Any) -> Any:
    if isinstance(leaf, np.ndarray):
        if leaf.dtype.kind == "O" or (leaf.dtype.itemsize > 8 and leaf.dtype.kind in "fc"):
            return (leaf.dtype.str, leaf.shape, repr(leaf.tolist()))  # no padding bytes (float128)
        return (leaf.dtype.str, leaf.shape, np.ascontiguousarray(leaf).tobytes(), leaf.flags.writeable)
    if isinstance(leaf, float):
        return ("float", np.float64(leaf).tobytes())
    return (type(leaf).__name__, repr(leaf))


def _same(a: Any, b: Any, volatile: tuple[str, ...] = ()) -> bool:
    la = [(p, v) for p, v in leaves(a) if not (volatile and p.endswith(volatile))]
    lb = [(p, v) for p, v in leaves(b) if not (volatile and p.endswith(volatile))]
    return len(la) == len(lb) and all(
        pa == pb and _key(x) == _key(y) for (pa, x), (pb, y) in zip(la, lb, strict=True)
    )


def _first_difference(a: Any, b: Any) -> str:
    la, lb = leaves(a), leaves(b)
    if len(la) != len(lb):
        return f"{len(la)} leaves vs {len(lb)}"
    for (pa, x), (_pb, y) in zip(la, lb, strict=True):
        if _key(x) != _key(y):
            return f"at {pa or 'output'}: {short(x)} vs {short(y)}"
    return "?"


_ADDR = re.compile(r"0x[0-9a-fA-F]+")


def short(v: Any, n: int = 120) -> str:
    if isinstance(v, np.ndarray):
        body = (
            np.array2string(v.reshape(-1)[:6], separator=", ", threshold=6) if v.dtype.kind != "O" else "..."
        )
        flags = "" if v.flags.writeable else ", read-only"
        flags += "" if v.flags.c_contiguous or v.ndim < 1 else ", strided"
        body = " ".join(body.split())
        return f"array({body}{'...' if v.size > 6 else ''}, dtype={v.dtype}, shape={v.shape}{flags})"
    r = " ".join(repr(v).split())
    return r if len(r) <= n else r[: n - 3] + "..."


def describe(entry: Entry, kw: Mapping[str, Any]) -> str:
    return f"{entry.target}(" + ", ".join(f"{k}={short(v, 60)}" for k, v in kw.items()) + ")"


def _values_equal(got: Any, exp: Any) -> bool:
    g, e = np.asarray(got), np.asarray(exp)
    if g.shape != e.shape:
        return False
    if g.dtype.kind in "fc" or e.dtype.kind in "fc":
        return bool(np.array_equal(g.astype(np.float64), e.astype(np.float64), equal_nan=True))
    return bool(np.array_equal(g.astype(object), e.astype(object)))


def _contains_word(msg: str, name: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", msg) is not None


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
