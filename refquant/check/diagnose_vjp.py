"""Why a hand-written vjp differs from its reference: the classic slips, and the STE boundary conventions.

:func:`diagnose_vjp` compares ``f_vjp(g, *args)`` on a few cotangents, element
by element, with a reference: ``reference_vjp`` when given; else, for ``f`` =
:func:`refquant.quantize.fake_quantize` (or a ``functools.partial`` of it),
:func:`refquant.grad.ste.fake_quantize_vjp` with the same keywords; else the
central-difference Jacobian of ``f``, as :func:`refquant.check.check_vjp`
computes it. It names per wrong argument the slip that turns the reference
into ``f_vjp``'s gradient: ``wrong sign``, ``factor 2``, ``factor 1/2`` (or
``factor n`` for a dimension ``n``: a sum for a mean), ``zero``,
``transposed``, ``the gradient of <other>`` (wrong order), ``computed with
<W> transposed``, or a sign or factor with one of those; or, for the whole
vjp, inputs read in another order (``argument_order='g <-> x'``). Anything
else is reported as a missing (or extra) term.

When the reference is ``fake_quantize_vjp`` or ``clipped_ste_vjp``, the
conventions of ``docs/spec/gradients.md`` are searched first (alone and
combined), with an infinite and a NaN cotangent added to the random ones:

* ``estimator``: ``clipped_code`` (``fake_quantize_vjp``'s default: PyTorch's
  fake-quant backward), ``clipped_float``, ``identity`` (the plain STE);
* ``bounds`` of ``clipped_float``: ``[lo, hi]`` (``torch.clamp``,
  ``tf.clip_by_value``, TF FakeQuant), ``(lo, hi)`` (``F.hardtanh``, the LSQ
  paper), ``[lo, hi)`` (PACT), ``(lo, hi]``;
* ``cotangent``: ``multiply`` (``g * mask``: ``inf * 0 = NaN``, PyTorch's
  fake-quant, TF FakeQuant) or ``select`` (``where(mask, g, 0)``:
  ``torch.clamp``, hardtanh, ``tf.clip_by_value``).

``lo, hi`` are ``(quant_min - z) s, (quant_max - z) s`` for
``fake_quantize_vjp(g, x, scale, zero_point, quant_min, quant_max)``, the
arguments themselves for ``clipped_ste_vjp(g, x, lo, hi)``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _granularity as gran
from refquant.check._support import (
    _arg_names,
    _call,
    _check_argnums,
    _check_args,
    _check_callable,
    _check_count,
    _check_finite_args,
    _check_rng,
    _check_tolerance,
    _jacobian,
    _make_differentiable,
    _output,
)
from refquant.check.diagnosis import Diagnosis
from refquant.grad.ste import clipped_ste_vjp, fake_quantize_vjp
from refquant.quantize import fake_quantize, prepare_arguments

__all__ = ["diagnose_vjp"]

F64 = NDArray[np.float64]
Grads = list[NDArray[Any]]
Ref = tuple[F64, F64, F64]  # value, cancellation-free scale, round-off bound
_BOUNDS = ("[lo, hi]", "(lo, hi)", "[lo, hi)", "(lo, hi]")
_BOTH = ("fake_quantize", "clipped")
_STE_SYSTEMS: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("PyTorch fake_quantize_per_tensor_affine / per_channel_affine backward",
     {"estimator": "clipped_code", "cotangent": "multiply"}, ("fake_quantize",)),
    ("torch.clamp backward, tf.clip_by_value gradient",
     {"estimator": "clipped_float", "bounds": "[lo, hi]", "cotangent": "select"}, _BOTH),
    ("torch.nn.functional.hardtanh backward",
     {"estimator": "clipped_float", "bounds": "(lo, hi)", "cotangent": "select"}, _BOTH),
    ("TF FakeQuantWithMinMaxVars gradient (on its nudged range)",
     {"estimator": "clipped_float", "bounds": "[lo, hi]", "cotangent": "multiply"}, _BOTH),
    ("LSQ paper, gradient of x", {"estimator": "clipped_float", "bounds": "(lo, hi)"}, _BOTH),
    ("PACT paper, gradient of x (lo = 0, hi = alpha)", {"estimator": "clipped_float", "bounds": "[lo, hi)"},
     _BOTH),
    ("plain STE (Bengio et al. 2013)", {"estimator": "identity"}, _BOTH),
]  # fmt: skip


def diagnose_vjp(
    f: Callable[..., Any] | None,
    f_vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    reference_vjp: Callable[..., Any] | None = None,
    argnums: int | Sequence[int] | None = None,
    cotangent: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
    n_cotangents: int = 2,
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
    max_size: int = 4096,
    max_examples: int = 5,
) -> Diagnosis:
    """Which slip or STE convention turns the reference gradient into ``f_vjp``'s: ``got == c T(ref)``.

    Parameters
    ----------
    f : callable or None
        The forward ``f(*args)``, one array. Required for the central-difference
        reference (float64 and smooth); optional with ``reference_vjp``
        (then it only gives the cotangents' shape and dtype).
    f_vjp : callable
        The backward under test: ``f_vjp(g, *args)``, one gradient per
        differentiated argument (tuple, list, NamedTuple, or one array).
    args : tuple
        ``f``'s positional arguments; copied, never modified.
    reference_vjp : callable, optional
        The reference backward, same convention; default inferred (module docstring).
    argnums : int or sequence of int, optional
        The differentiated positions in gradient order; default ``0 .. k-1``,
        ``k`` the number of gradients the reference (else ``f_vjp``) returns.
    cotangent, rng, n_cotangents
        One cotangent, or ``n_cotangents`` normal draws from ``rng`` (default
        ``default_rng(0)``), of ``f``'s output shape (else ``args[argnums[0]]``'s).
    eps : float
        Central-difference step (the numerical reference only).
    rtol, atol : float, optional
        Default ``1e-5, 1e-8`` with the numerical reference (``check_vjp``'s),
        ``1e-7, 1e-12`` otherwise (``check_vjp_against``'s); ``0, 0`` is exact.
    max_size, max_examples : int
        The largest total size of the differentiated arguments for central
        differences (``2 n`` calls of ``f``; more raise ``ValueError``); examples listed.

    Returns
    -------
    Diagnosis
        ``op="vjp"``, ``unit="relative"`` (``max_error``: the largest
        ``|got - ref|`` over the largest finite ``|ref|`` of that argument,
        on the random cotangents; inf when shapes differ). ``explained_by``:
        ``{}``; the STE settings, e.g. ``{"bounds": "(lo, hi)", "cotangent":
        "select"}``; one slip per wrong argument, ``{"W": "transposed"}``;
        ``{"argument_order": "g <-> x"}``; or None.

    Notes
    -----
    .. math:: \\mathrm{f\\_vjp}(g)_i = c\\, T\\big(\\mathrm{ref}(g)\\big)_i \\text{ for every } g,
              \\qquad c = \\langle \\mathrm{got}, T \\rangle / \\langle T, T \\rangle

    ``T`` is the identity, the transpose, another argument's gradient or the
    reference at a transposed operand; ``c`` is fitted by least squares over
    all cotangents, then every element checked within ``atol + rtol |c|
    scale + |c| roundoff`` (``check_vjp``'s cancellation-free scale and
    round-off bound; ``|ref|`` and 0 with a reference vjp). The STE
    conventions are compared within the same tolerances, NaN equal to NaN.
    Source: the classic errors ``tests/check/test_gradcheck.py`` feeds
    :func:`~refquant.check.check_vjp`; ``docs/spec/gradients.md``.

    Examples
    --------
    >>> def f(x, w):
    ...     return x * w**2
    >>> def f_vjp(g, x, w):
    ...     return g * w**2, g * x * w       # the gradient of w misses a factor 2
    >>> args = (np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.3, -0.7]))
    >>> diagnose_vjp(f, f_vjp, args).explained_by
    {'w': 'factor 1/2'}
    >>> from refquant.grad.ste import clipped_ste_vjp
    >>> x = np.array([-1.5, -1.0, 0.0, 1.0, 1.5])
    >>> hardtanh_vjp = lambda g, x, lo, hi: np.where((x > lo) & (x < hi), g, 0.0)
    >>> d = diagnose_vjp(None, hardtanh_vjp, (x, -1.0, 1.0), reference_vjp=clipped_ste_vjp, argnums=0)
    >>> d.explained_by, d.systems[0]
    ({'bounds': '(lo, hi)', 'cotangent': 'select'}, 'torch.nn.functional.hardtanh backward')
    """
    ref_fn, ste = _resolve(f, reference_vjp)
    num = ref_fn is None
    work = _check_args(args, float64=num)
    if f is None and num:
        raise TypeError(
            "f must be callable when reference_vjp is None (the reference is central differences)"
        )
    for name, fn, n in (
        ("f", f, len(work)),
        ("f_vjp", f_vjp, len(work) + 1),
        ("reference_vjp", ref_fn, len(work) + 1),
    ):
        if fn is not None or name == "f_vjp":
            _check_callable(name, fn, n)
    rtol = _check_tolerance("rtol", (1e-5 if num else 1e-7) if rtol is None else rtol, allow_zero=True)
    atol = _check_tolerance("atol", (1e-8 if num else 1e-12) if atol is None else atol, allow_zero=True)
    checks = (("n_cotangents", n_cotangents, 1), ("max_size", max_size, 1), ("max_examples", max_examples, 0))
    counts = [_check_count(k, v, minimum=m) for k, v, m in checks]
    sigs = [(fn, skip) for fn, skip in ((f, 0), (ref_fn, 1), (f_vjp, 1)) if fn is not None]
    names: list[str | None] = [n or f"args[{i}]" for i, n in enumerate(_arg_names(len(work), *sigs))]
    ctx = _Context(
        f, ref_fn, work, names, _check_tolerance("eps", eps, allow_zero=False), rtol, atol, counts[1]
    )
    positions = None if argnums is None else _check_argnums(argnums, len(work))
    cots = ctx.cotangents(cotangent, _check_rng(rng), counts[0], positions)
    if positions is None:
        first = ctx.raw(f_vjp if num else ref_fn, cots[0], work, "f_vjp" if num else "reference_vjp")
        if not first or len(first) > len(work):
            raise ValueError(f"{'f_vjp' if num else 'reference_vjp'} returned {len(first or [])} gradients")
        positions = tuple(range(len(first)))
    ctx.positions = positions
    if num:
        _make_differentiable(work, positions, names)
        _check_finite_args(work, positions, names)  # central differences need finite points
    got = [ctx.raw(f_vjp, g, work, "f_vjp") for g in cots]
    notes: list[str] = []
    n_real = len(cots)
    if ste is not None:  # probe the cotangent convention with an infinite and a NaN cotangent
        probes = [np.full(cots[0].shape, v, cots[0].dtype) for v in (np.inf, np.nan)]
        extra = [ctx.raw(f_vjp, g, work, "f_vjp", probe=True) for g in probes]
        if all(e is not None for e in extra):
            cots, got = cots + probes, got + extra
        else:
            notes.append("f_vjp rejects an infinite or NaN cotangent: the cotangent convention is untested.")
    grads: list[Grads] = [g for g in got if g is not None]
    refs = [ctx.reference(g, work) for g in cots]
    if len(grads[0]) != len(positions):
        notes.append(
            f"f_vjp returns {len(grads[0])} gradients, the reference {len(positions)} (argnums {positions})."
        )
    ok, mism, total, err, examples = ctx.compare(grads, refs, cots, counts[2], n_real)
    if all(ok) and not mism:
        systems = _ste_systems(ctx, ste, grads, cots, {}) if ste else ()
        return Diagnosis("vjp", True, {}, systems, 0, total, 0.0, "relative", tuple(notes))
    explained: dict[str, Any] | None = None
    searched, systems = 0, ()
    if ste is not None:
        explained, searched = _ste_search(ctx, ste, grads, cots)
        systems = _ste_systems(ctx, ste, grads, cots, explained) if explained is not None else ()
    if explained is None and len(grads[0]) == len(positions):
        explained, more, n = ctx.slips(grads, refs, cots, ok)
        searched, notes = searched + n, notes + more
    return Diagnosis(
        "vjp", False, explained, systems, mism, total, err, "relative", tuple(notes), examples, searched
    )


def _resolve(f: Any, reference_vjp: Any) -> tuple[Any, tuple[str, dict[str, Any]] | None]:
    """The reference backward (None: central differences of ``f``) and its STE family with keywords."""
    if reference_vjp is not None:
        base, kw = _unwrap(reference_vjp)
        kind = {fake_quantize_vjp: "fake_quantize", clipped_ste_vjp: "clipped"}.get(base)
        return reference_vjp, (kind, kw) if kind else None
    base, kw = _unwrap(f)
    if base is fake_quantize:
        return functools.partial(fake_quantize_vjp, **kw), ("fake_quantize", kw)
    return None, None


def _unwrap(fn: Any) -> tuple[Any, dict[str, Any]]:
    kw: dict[str, Any] = {}
    while isinstance(fn, functools.partial) and not fn.args:
        kw = {**fn.keywords, **kw}
        fn = fn.func
    return fn, kw


class _Context:
    """The functions, the working arguments and the tolerances; reference gradients at any point."""

    def __init__(self, f: Any, ref_fn: Any, work: list[Any], names: list[str | None], eps: float, rtol: float,
                 atol: float, max_size: int) -> None:  # fmt: skip
        self.f, self.ref_fn, self.work, self.names = f, ref_fn, work, names
        self.eps, self.rtol, self.atol, self.max_size = eps, rtol, atol, max_size
        self.positions: tuple[int, ...] = ()
        self._jac: dict[Any, tuple[F64, F64]] = {}

    def cotangents(self, cotangent: Any, gen: np.random.Generator, n: int, positions: Any) -> list[Any]:
        like = (
            _call(self.f, "f", self.work, self.names)
            if self.f is not None
            else self.work[(positions or (0,))[0]]
        )
        out = np.asarray(like)
        shape, dtype = out.shape, out.dtype if out.dtype.kind == "f" else np.dtype(np.float64)
        if cotangent is None:
            return [gen.standard_normal(shape).astype(dtype) for _ in range(n)]
        c = np.array(cotangent)
        if c.dtype.kind not in "fiu":
            raise TypeError(f"cotangent must be a real array, got dtype {c.dtype}")
        if c.shape != shape:
            raise ValueError(f"cotangent has shape {c.shape} but the output has shape {shape}")
        return [c if c.dtype.kind == "f" else c.astype(dtype)]

    def raw(self, fn: Any, g: Any, work: list[Any], who: str, probe: bool = False) -> Grads | None:
        try:
            with np.errstate(all="ignore"):
                out = _call(fn, who, work, self.names, lead=g)
        except (TypeError, ValueError, ArithmeticError):
            if probe:
                return None
            raise
        return [np.asarray(a) for a in (out if isinstance(out, (tuple, list)) else [out])]

    def reference(self, g: Any, work: list[Any]) -> list[Ref]:
        """Per differentiated argument: the reference gradient, its scale and its round-off bound."""
        if self.ref_fn is not None:
            grads = self.raw(self.ref_fn, g, work, "reference_vjp") or []
            if len(grads) != len(self.positions):
                raise ValueError(
                    f"reference_vjp returned {len(grads)} gradients, argnums names {len(self.positions)}"
                )
            return [(r.astype(np.float64), np.abs(r.astype(np.float64)), np.zeros(r.shape)) for r in grads]
        out = []
        gf = np.asarray(g, np.float64).ravel()
        for p in self.positions:
            jac, err = self._jacobian(work, p)
            sh = np.shape(work[p])
            with np.errstate(all="ignore"):
                out.append(((jac.T @ gf).reshape(sh), (np.abs(jac).T @ np.abs(gf)).reshape(sh),
                            (err.T @ np.abs(gf)).reshape(sh)))  # fmt: skip
        return out

    def _jacobian(self, work: list[Any], p: int) -> tuple[F64, F64]:
        key = (p, *(a.tobytes() if isinstance(a, np.ndarray) else repr(a) for a in work))
        if key not in self._jac:
            total = sum(int(np.size(work[q])) for q in self.positions)
            if total > self.max_size:
                raise ValueError(
                    f"the differentiated arguments hold {total} elements, more than max_size={self.max_size} "
                    "(central differences call f twice per element): diagnose a smaller slice"
                )
            out = _output(_call(self.f, "f", work, self.names), "f", None)
            self._jac[key] = _jacobian(self.f, work, self.names, p, self.eps, out.shape)
        return self._jac[key]

    def close(self, got: NDArray[Any], ref: Ref, c: float = 1.0) -> NDArray[np.bool_]:
        value, scale, err = ref
        a = np.asarray(got, np.float64)
        with np.errstate(all="ignore"):
            want = c * value
            ok = (a == want) | (np.abs(a - want) <= self.atol + abs(c) * (self.rtol * scale + err))
            if self.ref_fn is not None:
                ok |= np.isnan(a) & np.isnan(want)
        return np.asarray(ok)

    def compare(
        self, got: list[Grads], refs: list[list[Ref]], cots: list[Any], n_ex: int, n_real: int
    ) -> Any:
        """Per argument: equal?; the counts; the largest relative difference (random cotangents); examples."""
        ok, mism, total, worst, probes_only = [], 0, 0, 0.0, True
        examples: list[dict[str, Any]] = []
        for slot, p in enumerate(self.positions):
            shape = np.shape(self.work[p])
            n = int(np.prod(shape))
            total += n * len(cots)
            if not all(slot < len(gr) and gr[slot].shape == shape for gr in got):
                ok.append(False)
                mism, worst, probes_only = mism + n * len(cots), np.inf, False
                continue
            bad = [~self.close(gr[slot], rf[slot]) for gr, rf in zip(got, refs, strict=True)]
            ok.append(not any(b.any() for b in bad))
            mism += sum(int(np.count_nonzero(b)) for b in bad)
            for c, (gr, rf, b) in enumerate(zip(got, refs, bad, strict=True)):
                r = rf[slot][0]
                if c < n_real and b.any():
                    probes_only = False
                    top = float(np.max(np.abs(r[np.isfinite(r)]), initial=0.0))
                    with np.errstate(all="ignore"):
                        d = np.abs(np.asarray(gr[slot], np.float64) - r)[b]
                    e = float(np.max(np.where(np.isnan(d), np.inf, d)))
                    worst = max(worst, e / top if top > 0 else np.inf)
                for i in np.flatnonzero(b)[: n_ex - len(examples)]:
                    ex: dict[str, Any] = {"argument": self.names[p]}
                    ex["index"] = tuple(int(j) for j in np.unravel_index(int(i), shape))
                    ex["cotangent"] = c + 1 if c < n_real else ("inf", "nan")[c - n_real]
                    x = np.asarray(self.work[0])
                    if x.shape == shape:
                        ex["x"] = repr(float(x.reshape(-1)[i]))
                    ex["reference"] = repr(float(r.reshape(-1)[i]))
                    ex["f_vjp"] = repr(float(np.asarray(gr[slot], np.float64).reshape(-1)[i]))
                    examples.append(ex)
        return ok, mism, total, float(np.inf if mism and probes_only else worst), tuple(examples)

    # --- classic slips ---------------------------------------------------------------------------

    def slips(self, got: list[Grads], refs: list[list[Ref]], cots: list[Any], ok: list[bool]) -> Any:
        """Per wrong argument the first ``c T`` that fits; if one fits nothing, inputs in another order."""
        named: dict[str, str] = {}
        terms: list[str] = []
        tried = 0
        for slot, p in enumerate(self.positions):
            if ok[slot]:
                continue
            for desc, make in self._transforms(slot, refs, cots):
                tried += 1
                c = _fit([gr[slot] for gr in got], [make(k) for k in range(len(cots))], self)
                if c is not None:
                    named[str(self.names[p])] = _join(desc, _factor_name(c, self.work))
                    break
            else:
                terms.append(self._term(slot, got, refs))
        if not terms:
            return named, [], tried
        swapped, n = self._swaps(got, cots)
        if swapped is not None:
            return {"argument_order": swapped}, [], tried + n
        others = [f"Other arguments: {', '.join(f'{k}: {v}' for k, v in named.items())}."] if named else []
        return None, terms + others, tried + n

    def _transforms(self, slot: int, refs: list[list[Ref]], cots: list[Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [("", lambda k: refs[k][slot])]
        if np.ndim(self.work[self.positions[slot]]) == 2:
            out.append(("transposed", lambda k: tuple(a.T for a in refs[k][slot])))
        for j, q in enumerate(self.positions):
            if j != slot:
                desc = f"the gradient of {self.names[q]} (gradients in the wrong order)"
                out.append((desc, lambda k, j=j: refs[k][j]))
        for q, a in enumerate(self.work):
            if isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[0] == a.shape[1] and a.dtype.kind == "f":
                if not np.array_equal(a, a.T):
                    w = [np.ascontiguousarray(v.T) if i == q else v for i, v in enumerate(self.work)]
                    out.append(
                        (
                            f"computed with {self.names[q]} transposed",
                            lambda k, w=w: self.reference(cots[k], w)[slot],
                        )
                    )
        return out

    def _swaps(self, got: list[Grads], cots: list[Any]) -> tuple[str | None, int]:
        """``f_vjp`` written with its inputs in another order: ``g`` and an argument, or two arguments."""
        tried = 0
        floats = [q for q, a in enumerate(self.work) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        for q in (q for q in floats if self.work[q].shape == cots[0].shape):
            tried += 1
            try:  # f_vjp(x, g) called as f_vjp(g, x): the vjp at x := g with cotangent x
                refs = []
                for g in cots:
                    w = [np.asarray(g, self.work[q].dtype) if i == q else v for i, v in enumerate(self.work)]
                    refs.append(self.reference(np.asarray(self.work[q], g.dtype), w))
            except (TypeError, ValueError, ArithmeticError):
                continue
            if self._all_close(got, refs):
                return f"g <-> {self.names[q]}", tried
        for a, b in itertools.combinations(floats, 2):
            if self.work[a].shape != self.work[b].shape:
                continue
            tried += 1
            w = [self.work[b] if i == a else self.work[a] if i == b else v for i, v in enumerate(self.work)]
            try:
                refs = [self.reference(g, w) for g in cots]
            except (TypeError, ValueError, ArithmeticError):
                continue
            pos = list(self.positions)
            order = list(range(len(pos)))
            if a in pos and b in pos:  # the gradients come back in f_vjp's own (swapped) order too
                order[pos.index(a)], order[pos.index(b)] = pos.index(b), pos.index(a)
            swapped = [[r[i] for i in order] for r in refs]
            if self._all_close(got, refs) or self._all_close(got, swapped):
                return f"{self.names[a]} <-> {self.names[b]}", tried
        return None, tried

    def _all_close(self, got: list[Grads], refs: list[list[Ref]]) -> bool:
        return all(len(gr) == len(rf) and all(g.shape == r[0].shape and bool(np.all(self.close(g, r)))
                                              for g, r in zip(gr, rf, strict=True))
                   for gr, rf in zip(got, refs, strict=True))  # fmt: skip

    def _term(self, slot: int, got: list[Grads], refs: list[list[Ref]]) -> str:
        name, shape = self.names[self.positions[slot]], refs[0][slot][0].shape
        if any(gr[slot].shape != shape for gr in got):
            return f"{name}: f_vjp's gradient has shape {got[0][slot].shape}, the argument {shape}."
        a = np.concatenate([np.asarray(gr[slot], np.float64).ravel() for gr in got])
        r = np.concatenate([rf[slot][0].ravel() for rf in refs])
        with np.errstate(all="ignore"):
            rel = float(np.linalg.norm(r - a) / np.linalg.norm(r)) if np.linalg.norm(r) > 0 else np.inf
        return (
            f"{name}: not a multiple of the reference gradient (no sign, factor, transpose or order "
            f"explains it): a missing or extra term; |reference - f_vjp| / |reference| = {rel:.3g}."
        )


def _fit(got: list[NDArray[Any]], ts: list[Ref], ctx: _Context) -> float | None:
    """The factor ``c`` with ``got == c T`` on every cotangent within the tolerances, or None."""
    if any(g.shape != t[0].shape for g, t in zip(got, ts, strict=True)):
        return None
    a = np.concatenate([np.asarray(g, np.float64).ravel() for g in got])
    t = np.concatenate([ti[0].ravel() for ti in ts])
    if np.all(np.isfinite(a)) and np.all(np.isfinite(t)) and float(t @ t) > 0:
        c = float(a @ t) / float(t @ t)
    else:
        c = 1.0
    return c if all(bool(np.all(ctx.close(g, ti, c))) for g, ti in zip(got, ts, strict=True)) else None


def _factor_name(c: float, work: list[Any]) -> str:
    """``wrong sign``, ``factor 2``, ``factor 1/n`` (``n`` a dimension), ... or ``factor c``."""
    if abs(c) < 1e-12:
        return "zero (the gradient is missing)"
    dims = sorted({int(d) for a in work if isinstance(a, np.ndarray) for d in a.shape if d > 2})
    named = [(1.0, ""), (2.0, "factor 2"), (0.5, "factor 1/2")]
    named += [(float(d), f"factor {d}") for d in dims] + [(1.0 / d, f"factor 1/{d}") for d in dims]
    text = next((t for v, t in named if abs(abs(c) - v) <= 1e-6 * v), f"factor {abs(c):.6g}")
    return _join("wrong sign" if c < 0 else "", text)


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


# ----------------------------------------------------------------------------- STE conventions


def _ste_defaults(kind: str, kw: Mapping[str, Any]) -> dict[str, str]:
    est = kw.get("estimator", "clipped_code") if kind == "fake_quantize" else "clipped_float"
    return {"estimator": est, "bounds": "[lo, hi]", "cotangent": "multiply"}


def _ste_variant(
    ctx: _Context, ste: tuple[str, dict[str, Any]], s: Mapping[str, str], g: Any
) -> NDArray[Any]:
    """The STE gradient of ``x`` (``args[0]``) under the conventions ``s``."""
    kind, kw = ste
    x = np.asarray(ctx.work[0])
    xf = x if x.dtype.kind == "f" else x.astype(np.float64)
    ga = np.asarray(g).astype(xf.dtype)
    with np.errstate(all="ignore"):
        if s["estimator"] == "identity":
            mask = np.ones(x.shape, bool)
        elif s["estimator"] == "clipped_code":
            ones = np.ones(x.shape)
            mask = fake_quantize_vjp(ones, *ctx.work[:5], **{**kw, "estimator": "clipped_code"}).grad_x != 0
        else:
            lo, hi = _bounds(kind, kw, ctx.work)
            mask = (xf >= lo if s["bounds"][0] == "[" else xf > lo) & (
                xf <= hi if s["bounds"][-1] == "]" else xf < hi
            )
        return (
            ga * mask.astype(xf.dtype)
            if s["cotangent"] == "multiply"
            else np.where(mask, ga, xf.dtype.type(0))
        )


def _bounds(kind: str, kw: Mapping[str, Any], w: list[Any]) -> tuple[Any, Any]:
    if kind == "clipped":
        return np.asarray(w[1], np.float64), np.asarray(w[2], np.float64)
    keys = ("axis", "block_size", "compute_dtype")
    xa, s, z, layout, _ = prepare_arguments(
        *w[:5], *(kw.get(k) for k in keys), op_order=kw.get("op_order", "divide")
    )
    sb = gran.broadcast_param(s, layout, xa.shape).astype(np.float64)
    zb = gran.broadcast_param(z, layout, xa.shape)
    return (w[3] - zb) * sb, (w[4] - zb) * sb


def _ste_search(
    ctx: _Context, ste: Any, got: list[Grads], cots: list[Any]
) -> tuple[dict[str, str] | None, int]:
    d = _ste_defaults(*ste)
    ests = (
        ("clipped_code", "clipped_float", "identity")
        if ste[0] == "fake_quantize"
        else ("clipped_float", "identity")
    )
    combos = []
    for est, b, c in itertools.product(ests, _BOUNDS, ("multiply", "select")):
        diff = {k: v for k, v in zip(d, (est, b, c), strict=True) if v != d[k]}
        if diff and (b == "[lo, hi]" or est == "clipped_float"):
            combos.append(diff)
    combos.sort(key=len)
    n = 0
    for n, cand in enumerate(combos, 1):
        if _ste_matches(ctx, ste, got, cots, {**d, **cand}):
            return cand, n
    return None, n


def _ste_matches(ctx: _Context, ste: Any, got: list[Grads], cots: list[Any], s: Mapping[str, str]) -> bool:
    if ctx.positions != (0,):
        return False
    for gr, g in zip(got, cots, strict=True):
        v = _ste_variant(ctx, ste, s, g).astype(np.float64)
        if len(gr) != 1 or gr[0].shape != v.shape:
            return False
        if not bool(
            np.all(ctx.close(gr[0], (v, np.abs(v), np.zeros(v.shape))) | (np.isnan(gr[0]) & np.isnan(v)))
        ):
            return False
    return True


def _ste_systems(
    ctx: _Context, ste: Any, got: list[Grads], cots: list[Any], explained: Mapping[str, str]
) -> tuple[str, ...]:
    """The systems whose conventions give exactly ``f_vjp``'s gradients (an unstated convention: either)."""
    base = {**_ste_defaults(*ste), **explained}
    names = []
    for name, spec, kinds in _STE_SYSTEMS:
        options = (
            [spec] if "cotangent" in spec else [{**spec, "cotangent": c} for c in ("multiply", "select")]
        )
        if ste[0] in kinds and any(_ste_matches(ctx, ste, got, cots, {**base, **o}) for o in options):
            names.append(name)
    return tuple(names)
