"""The hostile-input harness: argument kinds, each attacked by its hostile catalogue.

An :class:`Arg` gives one argument's kind (array, scale, zero point, range,
amount, axis, ...), which hostile catalogue feeds it, and the documented
contract for the catalogue's values (``policy``: label or tag -> accept,
reject or either); the functions below build one per kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
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

ACCEPT, REJECT, EITHER = "accept", "reject", "either"
SKIP = "skip"  # a policy that drops the case (a valid value whose cost is the documented output size)


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
