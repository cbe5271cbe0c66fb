"""The hostile-input harness: one guarded call (memory and time limits) and comparing values."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import re
import resource
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tests.hostile.harness_cases import Entry

MEMORY_LIMIT = 1 << 30  # extra address space a call may take
TIMEOUT = 10.0  # seconds per call


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
