"""The hostile-input harness: registry records and case generation.

A registry :class:`Entry` gives a public function's valid baseline call and,
per argument, an :class:`~tests.hostile.harness_args.Arg`; :func:`cases` turns
entries into :class:`Case` objects (one hostile value in one argument, or a
documented combination).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refquant.check.strategies import (
    Hostile,
)
from tests.hostile.harness_args import ACCEPT, EITHER, REJECT, SKIP, TAG_ORDER, Arg
from tests.hostile.harness_call import TIMEOUT

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
