"""Gradient checks for hand-written backward passes (``_vjp`` functions).

* :func:`check_vjp` -- a backward ``f_vjp`` against central differences of its
  forward ``f``, for smooth functions: the inner-product ("dot-product") test
  ``<g, J u> = <J^T g, u>`` in random directions, plus the full Jacobian for
  small arguments;
* :func:`check_vjp_against` -- a backward against a reference backward on the
  same cotangents, for non-smooth functions (straight-through estimators) and
  bit-exact ports, where finite differences mean nothing.

Both follow the refquant convention: ``f(*args)`` returns one array and
``f_vjp(g, *args)`` returns one gradient per differentiable argument, in
order. Both raise ``AssertionError`` with a report naming the argument on
failure, and return a :class:`GradcheckResult` on success. Neither modifies
its inputs; both pass fresh copies of the array arguments to every call and
fail if the function under test modifies them in place.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArgumentCheck", "GradcheckResult", "check_vjp", "check_vjp_against"]

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


def check_vjp(
    f: Callable[..., Any],
    f_vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    argnums: int | Sequence[int] | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    rng: np.random.Generator | None = None,
    n_directions: int = 3,
    jacobian_max_size: int = 64,
) -> GradcheckResult:
    """Check ``f_vjp`` against central differences of ``f``: ``<g, J u> = <J^T g, u>``.

    For each differentiable argument ``x`` and random unit directions ``u``
    and cotangents ``g``, ``<g, (f(x + eps u) - f(x - eps u)) / (2 eps)>``
    (expected) is compared with ``<f_vjp(g)[i], u>`` (got); for small
    arguments the full Jacobian by central differences is compared with
    ``f_vjp`` applied to each basis cotangent, element by element.

    Parameters
    ----------
    f : callable
        ``f(*args)`` returns one real array of any shape (a scalar counts).
        It must compute in float64 when given float64 arrays (a float32 or
        float16 output raises) and be smooth within ``eps`` of ``args``.
    f_vjp : callable
        ``f_vjp(g, *args)`` with ``g`` of ``f``'s output shape returns one
        gradient per differentiable argument, each of that argument's shape:
        a tuple, list or NamedTuple, or a bare array (not a list) when there
        is one.
    args : tuple
        The positional arguments of ``f``. Float arrays and float scalars are
        passed as float64 copies (the caller's arrays are never touched);
        other arrays as copies; anything else (ints, strings, None) as is.
    argnums : int or sequence of int, optional
        Positions of the differentiable arguments, in the order ``f_vjp``
        returns their gradients (negative positions count from the end).
        Default: ``0 .. k-1``, with ``k`` the number of gradients ``f_vjp``
        returns. They must hold floats (array_like); integers raise.
    eps : float
        Finite-difference step, absolute (as in torch.autograd.gradcheck):
        scale it with the magnitude of the inputs.
    rtol, atol : float
        Tolerances: ``|got - expected| <= atol + rtol * scale + roundoff`` (Notes).
    rng : numpy.random.Generator, optional
        Source of the directions and cotangents. Default
        ``numpy.random.default_rng(0)``, created anew on every call, so
        repeated checks draw the same directions.
    n_directions : int
        Number of random (``g``, ``u``) pairs; ``f_vjp`` is called once and
        ``f`` twice per argument for each.
    jacobian_max_size : int
        Arguments with at most this many elements (default 64) also get the
        full-Jacobian check (``2 * size`` calls of ``f``). When ``f``'s output
        also has at most this many elements, ``f_vjp`` is applied to each of
        its basis cotangents (every Jacobian element is compared); otherwise
        to the ``n_directions`` random cotangents (every element of
        ``J^T g``). 0 turns the check off.

    Returns
    -------
    GradcheckResult
        Per argument: the largest relative error, absolute error and error
        over tolerance, and the number of comparisons.

    Raises
    ------
    AssertionError
        When a gradient disagrees, has the wrong shape or dtype, when the
        number of gradients does not match ``argnums``, when ``f`` returns
        a tuple or a non-float64 float array, or when ``f`` or ``f_vjp``
        modifies an input in place. The report names the argument
        (position and, from the signature of ``f`` or ``f_vjp``, name), the
        relative error, the worst direction or Jacobian element, expected vs
        got, and ``eps``.
    TypeError, ValueError
        For invalid ``args``, ``argnums``, ``eps``, ``rtol``, ``atol``, ``rng``,
        ``n_directions`` or ``jacobian_max_size``.

    Notes
    -----
    .. math::

        \\Big\\langle g,\\; \\frac{f(x + \\varepsilon u) - f(x - \\varepsilon u)}{2\\varepsilon}\\Big\\rangle
        = \\langle g, J u\\rangle + O(\\varepsilon^2) = \\langle J^\\top g, u\\rangle + O(\\varepsilon^2)

    This is the dot-product test of ``jax.test_util.check_vjp`` (one random
    direction, ``eps=1e-4``) and of ``torch.autograd.gradcheck(fast_mode=True)``
    (``v^T J u``), and the full central-difference Jacobian of the default
    ``torch.autograd.gradcheck`` (``eps=1e-6``, compared with ``allclose``).
    Choices made here:

    * every argument is perturbed on its own (so a failure names it), in
      float64, with Gaussian directions normalised to unit length (uniform on
      the sphere: every sign pattern is probed, unlike all-positive uniform
      vectors); ``g`` is a unit Gaussian too. Draw order: for each direction,
      ``g`` then one ``u`` per argument in ``argnums`` order;
    * the analytic side uses the step actually taken,
      ``((x + eps u) - (x - eps u)) / (2 eps)``, so rounding ``x + eps u`` to
      float64 adds no error;
    * ``scale`` is the cancellation-free size of the expected value,
      ``<|g|, |d|>`` with ``d`` the central difference (``|J_jk|`` for a
      Jacobian element), so a random ``g`` that makes ``<g, J u>`` small does
      not make the test fail spuriously (torch scales ``atol`` by
      ``sum(u) sum(v)`` for the same reason);
    * ``roundoff = 8 eps_64 <|g|, |f(x + eps u)| + |f(x - eps u)|> / (2 eps)``
      bounds the cancellation error of the difference quotient (``f``
      accurate to a few ulps), so functions whose values are large next to
      their derivatives do not fail for want of digits;
    * a comparison fails when ``|got - expected| > atol + rtol * scale +
      roundoff`` or when either side is NaN; the relative error reported is
      ``|got - expected| / (scale + roundoff)``.

    With the defaults, central differences are accurate to about ``1e-10``
    relative (truncation ``eps^2 f''' / 6``, round-off ``eps_64 |f| / eps``),
    well inside ``rtol=1e-5``, while a wrong term, sign, factor or transpose
    gives a relative error of order one. The directional test sees an error
    ``e`` in a gradient through ``<e, u>``, about ``|e| / sqrt(n)`` for an
    argument of ``n`` elements: an error confined to a few elements of a large
    argument is diluted (a 0.1% error in one of 3000 elements escapes about
    one time in five). The element-wise Jacobian check has no such blind
    spot; raise ``jacobian_max_size`` (``2 n`` calls of ``f``) or
    ``n_directions`` when that matters.

    Examples
    --------
    >>> import numpy as np
    >>> def f(x, w):
    ...     return np.tanh(x * w)
    >>> def f_vjp(g, x, w):
    ...     d = g * (1 - np.tanh(x * w) ** 2)
    ...     return d * w, d * x
    >>> args = (np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.3, -0.7]))
    >>> result = check_vjp(f, f_vjp, args)
    >>> result.max_rel_error < 1e-7
    True
    >>> def wrong_vjp(g, x, w):
    ...     gx, gw = f_vjp(g, x, w)
    ...     return gx, -gw
    >>> check_vjp(f, wrong_vjp, args)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: check_vjp: f_vjp disagrees with central differences of f for argument 1 ('w') ...
    """
    _check_callable("f", f)
    _check_callable("f_vjp", f_vjp)
    work = _check_args(args, float64=True)
    eps = _check_tolerance("eps", eps, allow_zero=False)
    rtol = _check_tolerance("rtol", rtol, allow_zero=False)
    atol = _check_tolerance("atol", atol, allow_zero=False)
    gen = _check_rng(rng)
    n_directions = _check_count("n_directions", n_directions, minimum=1)
    jacobian_max_size = _check_count("jacobian_max_size", jacobian_max_size, minimum=0)
    names = _arg_names(len(work), (f, 0), (f_vjp, 1))
    positions = None if argnums is None else _check_argnums(argnums, len(work))
    if positions is not None:
        _make_differentiable(work, positions, names)

    out = _output(_call(f, "f", work, names), "f", None)
    cotangents: list[F64] = []
    grads: list[tuple[F64, ...]] = []
    directions: list[list[F64]] = []
    for _ in range(n_directions):
        g = _unit(gen, out.shape)
        raw = _call(f_vjp, "f_vjp", work, names, lead=g)
        if positions is None:
            positions = _default_argnums(raw, len(work))
            _make_differentiable(work, positions, names)
        grads.append(_as_float64(_gradients(raw, positions, work, names, "f_vjp")))
        cotangents.append(g)
        directions.append([_unit(gen, np.shape(work[p])) for p in positions])
    assert positions is not None

    basis_rows: list[F64] | None = None
    small = [0 < np.size(work[p]) <= jacobian_max_size and out.size > 0 for p in positions]
    if any(small) and out.size <= jacobian_max_size:
        basis_rows = _basis_rows(f_vjp, work, names, positions, out.shape)

    checks: list[ArgumentCheck] = []
    failures: list[str] = []
    bad: list[str] = []
    for slot, pos in enumerate(positions):
        label = _label(pos, names[pos])
        x: F64 = work[pos]
        exp, got, scale, extra = (np.empty(n_directions) for _ in range(4))
        for k in range(n_directions):
            xp, xm = x + eps * directions[k][slot], x - eps * directions[k][slot]
            fp = _output(_call(f, "f", work, names, at=(pos, xp)), "f", out.shape)
            fm = _output(_call(f, "f", work, names, at=(pos, xm)), "f", out.shape)
            with np.errstate(all="ignore"):
                d = (fp - fm) / (2 * eps)
                g_abs = np.abs(cotangents[k])
                exp[k] = np.sum(cotangents[k] * d)
                got[k] = np.sum(grads[k][slot] * ((xp - xm) / (2 * eps)))
                scale[k] = np.sum(g_abs * np.abs(d))
                extra[k] = _ROUNDOFF_ULPS * _EPS64 * np.sum(g_abs * (np.abs(fp) + np.abs(fm))) / (2 * eps)
        parts = [_compare(exp, got, scale, extra, rtol=rtol, atol=atol, nan_equal=False)]
        problems: list[str] = []
        if not parts[0].ok.all():
            w = _worst(parts[0])
            arg = names[pos] or f"args[{pos}]"
            problems.append(
                f"  inner-product check failed in {int((~parts[0].ok).sum())} of {n_directions} random "
                f"directions; worst direction {w + 1}: expected <g, (f({arg} + eps*u) - f({arg} - eps*u))"
                f" / (2*eps)> = {float(exp[w])!r}, got <f_vjp(g)[{slot}], u> = {float(got[w])!r}; "
                + _excess(parts[0], w, roundoff=True)
            )
        if small[slot]:
            jac = _jacobian(f, work, names, pos, eps, out.shape)
            rows = (
                basis_rows[slot] if basis_rows is not None else np.stack([gr[slot].ravel() for gr in grads])
            )
            parts.append(_jacobian_part(jac, rows, basis_rows is not None, cotangents, rtol, atol))
            if not parts[-1].ok.all():
                problems.append(
                    _jacobian_problem(parts[-1], basis_rows is not None, out.shape, x.shape, pos, names)
                )
        check = _summarise(pos, names[pos], parts, full_jacobian=small[slot])
        checks.append(check)
        if problems:
            bad.append(label)
            failures.append(f"{label}: relative error {check.max_rel_error:.2e}\n" + "\n".join(problems))
    if failures:
        raise AssertionError(
            f"check_vjp: f_vjp disagrees with central differences of f for {', '.join(bad)} "
            f"({len(bad)} of {len(checks)} differentiated arguments; eps={eps!r}, rtol={rtol!r}, "
            f"atol={atol!r}, {n_directions} random directions)\n" + "\n".join(failures)
        )
    return GradcheckResult("central_differences", tuple(checks), rtol, atol, eps)


def check_vjp_against(
    f_vjp: Callable[..., Any],
    reference_vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    cotangent: ArrayLike | None = None,
    f: Callable[..., Any] | None = None,
    argnums: int | Sequence[int] | None = None,
    rtol: float = 1e-7,
    atol: float = 1e-12,
    rng: np.random.Generator | None = None,
    n_cotangents: int = 2,
) -> GradcheckResult:
    """Check ``f_vjp`` against ``reference_vjp`` on the same cotangents: ``f_vjp(g) == ref(g)``.

    For non-smooth functions (fake quantization with a straight-through
    estimator, clipped STE, LSQ, PACT) finite differences mean nothing; the
    backward is checked against its definition instead, element by element,
    within ``atol + rtol * |reference|`` or exactly (``rtol=atol=0``).

    Parameters
    ----------
    f_vjp, reference_vjp : callable
        ``vjp(g, *args)`` returns one gradient per differentiable argument, of
        that argument's shape (tuple, list, NamedTuple, or a bare array when
        there is one).
    args : tuple
        Positional arguments, passed as copies **with their dtypes unchanged**
        (no float64 cast, so float32 ports can be compared bit for bit).
    cotangent : array_like, optional
        The cotangent ``g`` to use (the only one; ``rng`` and ``n_cotangents``
        are then unused). Default: ``n_cotangents`` standard normal draws from
        ``rng``, of the output shape and dtype: those of ``f(*args)`` when
        ``f`` is given, else those of the first differentiable argument
        (right for elementwise functions, the usual case; pass ``f`` or
        ``cotangent`` otherwise). Non-float dtypes draw float64.
    f : callable, optional
        The forward, called once to get the output shape and dtype.
    argnums : int or sequence of int, optional
        Positions of the differentiable arguments; default ``0 .. k-1`` with
        ``k`` the number of gradients ``reference_vjp`` returns.
    rtol, atol : float
        ``|got - expected| <= atol + rtol * |expected|``, elementwise, with
        ``expected`` from ``reference_vjp``. ``0, 0`` is an exact comparison:
        values must be equal (``-0.0 == 0.0``) and NaN must meet NaN. The
        defaults allow float64 reassociation differences only.
    rng : numpy.random.Generator, optional
        Default ``numpy.random.default_rng(0)``, created anew on every call.
    n_cotangents : int
        Number of random cotangents when ``cotangent`` is None.

    Returns
    -------
    GradcheckResult
        With ``method="reference"`` and ``eps=None``.

    Raises
    ------
    AssertionError
        When a gradient differs (the report names the argument, the relative
        error, the worst element and cotangent, expected vs got), has the
        wrong shape, when the two vjps return different numbers of
        gradients, or when a vjp modifies an input in place.
    TypeError, ValueError
        For invalid ``args``, ``cotangent``, ``argnums``, ``rtol``, ``atol``,
        ``rng`` or ``n_cotangents``.

    Notes
    -----
    .. math:: \\big|\\,\\mathrm{vjp}(g)_{ik} - \\mathrm{ref}(g)_{ik}\\big|
              \\le \\mathrm{atol} + \\mathrm{rtol}\\,\\big|\\mathrm{ref}(g)_{ik}\\big|

    The ``allclose`` criterion of ``torch.autograd.gradcheck`` and NumPy,
    applied to two analytic backward passes on shared cotangents (a vjp is
    linear in ``g``, so one random ``g`` already separates two different
    linear maps almost surely). The gradients are compared in float64
    (float16/32 values convert exactly). The relative error reported is
    ``|got - expected| / |expected|``.

    Examples
    --------
    >>> import numpy as np
    >>> def ste_vjp(g, x):
    ...     return g
    >>> def clipped_ste_vjp(g, x):
    ...     return g * ((x >= -1.0) & (x <= 1.0))
    >>> x = np.array([-0.5, 0.25, 0.75])
    >>> check_vjp_against(ste_vjp, clipped_ste_vjp, (x,), rtol=0, atol=0).max_rel_error
    0.0
    >>> check_vjp_against(ste_vjp, clipped_ste_vjp, (np.array([0.5, 3.0]),))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: check_vjp_against: f_vjp disagrees with reference_vjp for argument 0 ('x') ...
    """
    _check_callable("f_vjp", f_vjp)
    _check_callable("reference_vjp", reference_vjp)
    if f is not None:
        _check_callable("f", f)
    work = _check_args(args, float64=False)
    rtol = _check_tolerance("rtol", rtol, allow_zero=True)
    atol = _check_tolerance("atol", atol, allow_zero=True)
    gen = _check_rng(rng)
    n_cotangents = _check_count("n_cotangents", n_cotangents, minimum=1)
    positions = None if argnums is None else _check_argnums(argnums, len(work))
    names = _arg_names(len(work), *([(f, 0)] if f is not None else []), (reference_vjp, 1), (f_vjp, 1))

    out_shape: tuple[int, ...] | None = None
    out_dtype = np.dtype(np.float64)
    if f is not None:
        out = np.asarray(_call(f, "f", work, names))
        out_shape, out_dtype = out.shape, (out.dtype if out.dtype.kind == "f" else out_dtype)
    if cotangent is not None:
        cot = np.array(cotangent)
        if cot.dtype.kind not in "fiub":
            raise TypeError(f"cotangent must be a real array, got dtype {cot.dtype}")
        if out_shape is not None and cot.shape != out_shape:
            raise ValueError(f"cotangent has shape {cot.shape} but f(*args) has shape {out_shape}")
        cots = [cot if cot.dtype.kind == "f" else cot.astype(np.float64)]
        how = "the given cotangent"
    else:
        if out_shape is None:
            first = np.asarray(work[positions[0] if positions else 0]) if work else np.zeros(())
            out_shape = first.shape
            out_dtype = first.dtype if first.dtype.kind == "f" else out_dtype
        cots = [gen.standard_normal(out_shape).astype(out_dtype) for _ in range(n_cotangents)]
        how = f"{n_cotangents} random cotangents"

    got_all: list[tuple[NDArray[Any], ...]] = []
    ref_all: list[tuple[NDArray[Any], ...]] = []
    for cot in cots:
        raw_ref = _call(reference_vjp, "reference_vjp", work, names, lead=cot)
        raw_got = _call(f_vjp, "f_vjp", work, names, lead=cot)
        if positions is None:
            positions = _default_argnums(raw_ref, len(work), who="reference_vjp")
        ref_all.append(_gradients(raw_ref, positions, work, names, "reference_vjp"))
        got_all.append(_gradients(raw_got, positions, work, names, "f_vjp"))
    assert positions is not None

    checks: list[ArgumentCheck] = []
    failures: list[str] = []
    bad: list[str] = []
    exact = rtol == 0 and atol == 0
    for slot, pos in enumerate(positions):
        exp = np.stack([r[slot].astype(np.float64).ravel() for r in ref_all])
        got = np.stack([g[slot].astype(np.float64).ravel() for g in got_all])
        part = _compare(exp, got, np.abs(exp), np.zeros_like(exp), rtol=rtol, atol=atol, nan_equal=True)
        check = _summarise(pos, names[pos], [part], full_jacobian=False)
        checks.append(check)
        if not part.ok.all():
            w = _worst(part)
            k, e = divmod(w, max(exp.shape[1], 1))
            where = f"{names[pos] or f'args[{pos}]'}{_index(np.shape(work[pos]), e)}"
            dtypes = {ref_all[0][slot].dtype, got_all[0][slot].dtype}
            note = ""
            if len(dtypes) > 1:
                note = f" (dtypes: f_vjp {got_all[0][slot].dtype}, reference_vjp {ref_all[0][slot].dtype})"
            bad.append(check.label)
            failures.append(
                f"{check.label}: relative error {check.max_rel_error:.2e}; "
                f"{int((~part.ok).sum())} of {part.ok.size} elements differ{note}\n"
                f"  worst at {where} with cotangent {k + 1} of {len(cots)}: expected "
                f"{float(exp.flat[w])!r} (reference_vjp), got {float(got.flat[w])!r} (f_vjp); "
                + _excess(part, w, roundoff=False)
            )
    if failures:
        tol = "exact comparison" if exact else f"rtol={rtol!r}, atol={atol!r}"
        raise AssertionError(
            f"check_vjp_against: f_vjp disagrees with reference_vjp for {', '.join(bad)} "
            f"({len(bad)} of {len(checks)} differentiated arguments; {tol}; {how})\n" + "\n".join(failures)
        )
    return GradcheckResult("reference", tuple(checks), rtol, atol, None)


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
    if lead is None:
        result = fn(*passed)
    else:
        g = lead.copy()
        result = fn(g, *passed)
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


def _check_callable(name: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {fn!r}")


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
