"""Result types and the comparison, report and validation helpers of the gradient checks (internal)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
#: Round-off allowance of a central difference, in units of float64 eps times |f|.
_ROUNDOFF_ULPS = 8.0
_EPS64 = float(np.finfo(np.float64).eps)
#: Seed of the default generator, created anew on every call.
_DEFAULT_SEED = 0


@dataclass(frozen=True)
class ArgumentCheck:
    """What was compared for one differentiable argument, and how well it agreed.

    ``max_rel_error`` is the largest ``|got - expected| / scale`` (``scale``
    defined in the Notes of :func:`check_vjp` and :func:`check_vjp_against`;
    0 when equal, inf when ``scale`` is 0 and they differ within ``atol``),
    ``max_abs_error`` the largest ``|got - expected|``, ``max_error_ratio`` the
    largest ``|got - expected| / allowed`` (at most 1 on success),
    ``n_compared`` the number of scalar comparisons and ``full_jacobian``
    whether the full Jacobian was compared (:func:`check_vjp` only).
    """

    position: int
    name: str | None
    max_rel_error: float
    max_abs_error: float
    max_error_ratio: float
    n_compared: int
    full_jacobian: bool

    @property
    def label(self) -> str:
        """``"argument 1 ('W')"``, or ``"argument 1"`` when the name is unknown."""
        return _label(self.position, self.name)


@dataclass(frozen=True)
class GradcheckResult:
    """Returned by a successful check; ``print(result)`` gives one line per argument.

    ``method`` is ``"central_differences"`` (:func:`check_vjp`, with ``eps``) or
    ``"reference"`` (:func:`check_vjp_against`, ``eps`` is None).
    """

    method: str
    arguments: tuple[ArgumentCheck, ...]
    rtol: float
    atol: float
    eps: float | None = None

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over all arguments."""
        return max((a.max_rel_error for a in self.arguments), default=0.0)

    def __str__(self) -> str:
        how = f"eps={self.eps!r}, " if self.eps is not None else ""
        lines = [f"gradient check passed ({self.method}, {how}rtol={self.rtol!r}, atol={self.atol!r})"]
        for a in self.arguments:
            extra = ", full Jacobian" if a.full_jacobian else ""
            lines.append(
                f"  {a.label}: max relative error {a.max_rel_error:.2e}, max |error| "
                f"{a.max_abs_error:.2e}, {a.n_compared} comparisons{extra}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class _Part:
    """One element-wise comparison (flattened arrays of equal shape)."""

    expected: F64
    got: F64
    diff: F64
    allowed: F64
    rel: F64
    ratio: F64
    ok: NDArray[np.bool_]
    scale: F64
    extra: F64


def _compare(
    expected: F64, got: F64, scale: F64, extra: F64, *, rtol: float, atol: float, nan_equal: bool
) -> _Part:
    with np.errstate(all="ignore"):
        same = got == expected
        if nan_equal:
            same |= np.isnan(got) & np.isnan(expected)
        diff = np.where(same, 0.0, np.abs(got - expected))
        allowed = atol + rtol * scale + extra
        ok = same | (diff <= allowed)
        rel = np.where(diff == 0, 0.0, diff / (scale + extra))
        ratio = np.where(diff == 0, 0.0, diff / allowed)
    return _Part(expected, got, diff, allowed, rel, ratio, ok, scale, extra)


def _worst(part: _Part) -> int:
    """Flat index of the worst failing comparison (largest ratio, then difference)."""
    ratio = np.where(np.isnan(part.ratio), np.inf, part.ratio).ravel()
    diff = np.where(np.isnan(part.diff), np.inf, part.diff).ravel()
    cand = np.flatnonzero(~part.ok.ravel())
    if cand.size == 0:
        cand = np.arange(ratio.size)
    return int(cand[np.lexsort((diff[cand], ratio[cand]))[-1]])


def _excess(part: _Part, w: int, *, roundoff: bool) -> str:
    d, a = float(part.diff.flat[w]), float(part.allowed.flat[w])
    text = f"|got - expected| = {d:.3g} > allowed {a:.3g}"
    if roundoff:
        scale, extra = float(part.scale.flat[w]), float(part.extra.flat[w])
        text += f" (= atol + rtol * scale {scale:.3g} + roundoff {extra:.3g})"
    return text


def _summarise(pos: int, name: str | None, parts: list[_Part], *, full_jacobian: bool) -> ArgumentCheck:
    def top(key: str) -> float:
        vals = np.concatenate([getattr(p, key).ravel() for p in parts])
        if vals.size == 0:
            return 0.0
        return math.nan if np.isnan(vals).any() else float(vals.max())

    n = sum(p.ok.size for p in parts)
    return ArgumentCheck(pos, name, top("rel"), top("diff"), top("ratio"), n, full_jacobian)


# --------------------------------------------------------------------------- Jacobian


def _jacobian(
    f: Callable[..., Any],
    work: list[Any],
    names: list[str | None],
    pos: int,
    eps: float,
    shape: tuple[int, ...],
) -> tuple[F64, F64]:
    """Central-difference Jacobian ``(out.size, x.size)`` and its round-off bound."""
    x: F64 = work[pos]
    m = int(np.prod(shape))
    jac, err = np.empty((m, x.size)), np.empty((m, x.size))
    for j in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += eps
        xm.flat[j] -= eps
        h = float(xp.flat[j] - xm.flat[j])  # the step actually taken
        fp = _output(_call(f, "f", work, names, at=(pos, xp)), "f", shape)
        fm = _output(_call(f, "f", work, names, at=(pos, xm)), "f", shape)
        with np.errstate(all="ignore"):
            jac[:, j] = ((fp - fm) / h).ravel()
            err[:, j] = (_ROUNDOFF_ULPS * _EPS64 * (np.abs(fp) + np.abs(fm)) / h).ravel()
    return jac, err


def _basis_rows(
    f_vjp: Callable[..., Any],
    work: list[Any],
    names: list[str | None],
    positions: tuple[int, ...],
    shape: tuple[int, ...],
) -> list[F64]:
    """``f_vjp`` on each basis cotangent: one ``(out.size, x.size)`` array per argument."""
    m = int(np.prod(shape))
    rows = [np.empty((m, np.size(work[p]))) for p in positions]
    for j in range(m):
        e = np.zeros(m)
        e[j] = 1.0
        grads = _as_float64(
            _gradients(
                _call(f_vjp, "f_vjp", work, names, lead=e.reshape(shape)), positions, work, names, "f_vjp"
            )
        )
        for r, gr in zip(rows, grads, strict=True):
            r[j] = gr.ravel()
    return rows


def _jacobian_part(
    jac: tuple[F64, F64], rows: F64, basis: bool, cotangents: list[F64], rtol: float, atol: float
) -> _Part:
    j, err = jac
    if basis:
        return _compare(j, rows, np.abs(j), err, rtol=rtol, atol=atol, nan_equal=False)
    gmat = np.stack([g.ravel() for g in cotangents])
    with np.errstate(all="ignore"):
        exp, scale, extra = gmat @ j, np.abs(gmat) @ np.abs(j), np.abs(gmat) @ err
    return _compare(exp, rows, scale, extra, rtol=rtol, atol=atol, nan_equal=False)


def _jacobian_problem(
    part: _Part,
    basis: bool,
    out_shape: tuple[int, ...],
    shape: tuple[int, ...],
    pos: int,
    names: list[str | None],
) -> str:
    r, c = divmod(_worst(part), part.ok.shape[1])
    arg = f"{names[pos] or f'args[{pos}]'}{_index(shape, c)}"
    if basis:
        what = f"full Jacobian ({part.ok.shape[0]} x {part.ok.shape[1]}, f_vjp on each basis cotangent)"
        where = f"d out{_index(out_shape, r)} / d {arg}"
    else:
        what = (
            f"J^T g element by element ({part.ok.shape[0]} random cotangents x {part.ok.shape[1]} elements)"
        )
        where = f"{arg} with random cotangent {r + 1}"
    w = r * part.ok.shape[1] + c
    return (
        f"  {what}: {int((~part.ok).sum())} of {part.ok.size} elements differ; worst {where}: expected "
        f"{float(part.expected.flat[w])!r}, got {float(part.got.flat[w])!r}, relative error "
        f"{float(part.rel.flat[w]):.2e}; " + _excess(part, w, roundoff=True)
    )


# --------------------------------------------------------------------------- calls and arguments


def _call(
    fn: Callable[..., Any],
    who: str,
    work: list[Any],
    names: list[str | None],
    *,
    lead: NDArray[Any] | None = None,
    at: tuple[int, NDArray[Any]] | None = None,
) -> Any:
    """Call ``fn`` on fresh copies; fail if it modifies any of them in place."""
    src = list(work)
    if at is not None:
        src[at[0]] = at[1]
    passed = [a.copy() if isinstance(a, np.ndarray) else a for a in src]
    g = None if lead is None else lead.copy()
    try:
        result = fn(*passed) if g is None else fn(g, *passed)
    except (TypeError, ValueError) as e:  # the function rejected these args: say which call
        what = "args" if g is None else "g, *args"
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"{who}({what}) raised {type(e).__name__}: {e}") from e
    if g is not None and lead is not None:
        if not _same(g, lead):
            raise AssertionError(f"{who} modified the cotangent g in place")
    for i, (a, b) in enumerate(zip(passed, src, strict=True)):
        if isinstance(b, np.ndarray) and not _same(a, b):
            raise AssertionError(
                f"{who} modified {_label(i, names[i])} in place (checked functions must not modify inputs)"
            )
    return result


def _same(a: NDArray[Any], b: NDArray[Any]) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _output(value: Any, who: str, shape: tuple[int, ...] | None) -> F64:
    if isinstance(value, (tuple, list)):
        raise AssertionError(f"{who} must return one array, got a {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise AssertionError(f"{who} must return a real array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype != np.float64:
        raise AssertionError(
            f"{who} returned {arr.dtype} values for float64 inputs; central differences need float64 "
            "(compute in the input dtype, or compare vjps with check_vjp_against)"
        )
    if shape is not None and arr.shape != shape:
        raise AssertionError(f"{who} returned shape {arr.shape} at a perturbed point, {shape} at args")
    return arr.astype(np.float64)


def _gradients(
    raw: Any, positions: tuple[int, ...], work: list[Any], names: list[str | None], who: str
) -> tuple[NDArray[Any], ...]:
    grads = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
    if len(grads) != len(positions):
        raise AssertionError(
            f"{who} returned {len(grads)} gradient(s), argnums={positions} names {len(positions)} argument(s)"
        )
    out = []
    for slot, (gr, pos) in enumerate(zip(grads, positions, strict=True)):
        label = _label(pos, names[pos])
        if gr is None:
            raise AssertionError(f"{who} returned None as the gradient of {label} (item {slot})")
        arr = np.asarray(gr)
        if arr.dtype.kind not in "fiub":
            raise AssertionError(
                f"{who}: the gradient of {label} has dtype {arr.dtype}, expected real numbers"
            )
        if arr.shape != np.shape(work[pos]):
            raise AssertionError(
                f"{who}: the gradient of {label} (item {slot} of the result) has shape {arr.shape}, "
                f"expected the argument's shape {np.shape(work[pos])}"
            )
        out.append(arr)
    return tuple(out)


def _as_float64(grads: tuple[NDArray[Any], ...]) -> tuple[F64, ...]:
    return tuple(g.astype(np.float64) for g in grads)


def _default_argnums(raw: Any, n_args: int, who: str = "f_vjp") -> tuple[int, ...]:
    k = len(raw) if isinstance(raw, (tuple, list)) else 1
    if k == 0:
        raise AssertionError(f"{who} returned no gradients")
    if k > n_args:
        raise AssertionError(f"{who} returned {k} gradients for {n_args} positional arguments")
    return tuple(range(k))


def _make_differentiable(work: list[Any], positions: tuple[int, ...], names: list[str | None]) -> None:
    for p in positions:
        value = work[p]
        arr = np.asarray(value) if not isinstance(value, (str, bytes)) else np.asarray(None)
        if arr.dtype.kind != "f":
            what = f"dtype {arr.dtype}" if isinstance(value, np.ndarray) else f"{value!r}"
            raise TypeError(
                f"{_label(p, names[p])} is differentiated (argnums) but does not hold floats: got {what}"
            )
        work[p] = arr.astype(np.float64)


def _check_args(args: Any, *, float64: bool) -> list[Any]:
    if not isinstance(args, (tuple, list)):
        raise TypeError(
            f"args must be a tuple of positional arguments (one array: (x,)), got {type(args).__name__}"
        )
    out: list[Any] = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(a.astype(np.float64) if float64 and a.dtype.kind == "f" else a.copy())
        elif float64 and isinstance(a, (float, np.floating)):
            out.append(np.float64(a))
        else:
            out.append(a)
    return out


def _arg_names(n_args: int, *candidates: tuple[Callable[..., Any], int]) -> list[str | None]:
    """Positional parameter names from the first signature that has some."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for fn, skip in candidates:
        try:
            params = list(inspect.signature(fn).parameters.values())[skip:]
        except (TypeError, ValueError):
            continue
        names: list[str | None] = []
        for p in params:
            if p.kind not in positional:
                break
            names.append(p.name)
        if names:
            return (names + [None] * n_args)[:n_args]
    return [None] * n_args


def _label(pos: int, name: str | None) -> str:
    return f"argument {pos} ({name!r})" if name else f"argument {pos}"


def _index(shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def _unit(rng: np.random.Generator, shape: tuple[int, ...]) -> F64:
    v = np.asarray(rng.standard_normal(shape), dtype=np.float64)
    norm = float(np.sqrt(np.sum(v * v)))
    return v / norm if norm > 0 else v


# --------------------------------------------------------------------------- validation


def _check_callable(name: str, fn: object, n_args: int | None = None) -> None:
    """``fn`` must be callable, and (when its signature is known) accept ``n_args`` positional arguments."""
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {fn!r}")
    if n_args is None:
        return
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*([None] * n_args))
    except TypeError as e:
        what = "the args" if name == "f" else "the cotangent g, then the args"
        raise TypeError(
            f"{name} must accept {n_args} positional argument(s) ({what}; args has {n_args - (name != 'f')} "
            f"item(s)), but its signature is {sig} ({e})"
        ) from None


def _check_finite_args(work: list[Any], positions: tuple[int, ...], names: list[str | None]) -> None:
    """Central differences need finite differentiable arguments."""
    for p in positions:
        a = np.asarray(work[p])
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = a[~np.isfinite(a)].ravel()[:3].tolist()
            raise ValueError(
                f"args[{p}] ({_label(p, names[p])}) holds {bad}: central differences need finite "
                "differentiable arguments"
            )


def _check_tolerance(name: str, value: object, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return v


def _check_rng(rng: object) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(_DEFAULT_SEED)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {rng!r}"
        )
    return rng


def _check_count(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_argnums(argnums: object, n_args: int) -> tuple[int, ...]:
    items = (
        (argnums,) if isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool) else argnums
    )
    if not isinstance(items, (tuple, list)):
        raise TypeError(f"argnums must be an int or a sequence of ints, got {argnums!r}")
    if not items:
        raise ValueError("argnums must name at least one argument, got ()")
    out: list[int] = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"argnums must hold ints, got {argnums!r}")
        if not -n_args <= a < n_args:
            raise ValueError(
                f"argnums={argnums!r}: position {a} is out of range for {n_args} positional arguments"
            )
        out.append(int(a) % n_args)
    if len(set(out)) != len(out):
        raise ValueError(f"argnums must not repeat a position, got {argnums!r}")
    return tuple(out)
