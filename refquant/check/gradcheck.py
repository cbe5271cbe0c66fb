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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.check._support import (
    _EPS64,
    _ROUNDOFF_ULPS,
    F64,
    ArgumentCheck,
    GradcheckResult,
    _arg_names,
    _as_float64,
    _basis_rows,
    _call,
    _check_argnums,
    _check_args,
    _check_callable,
    _check_count,
    _check_finite_args,
    _check_rng,
    _check_tolerance,
    _compare,
    _default_argnums,
    _excess,
    _gradients,
    _index,
    _jacobian,
    _jacobian_part,
    _jacobian_problem,
    _label,
    _make_differentiable,
    _output,
    _summarise,
    _unit,
    _worst,
)

__all__ = ["ArgumentCheck", "GradcheckResult", "check_vjp", "check_vjp_against"]


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
        For invalid ``args`` (NaN or inf in a differentiated argument
        included: central differences need finite inputs), ``argnums``,
        ``eps``, ``rtol``, ``atol``, ``rng``, ``n_directions`` or
        ``jacobian_max_size``; when ``f`` or ``f_vjp`` is not callable or
        its signature cannot take ``len(args)`` (``f_vjp``: one more)
        positional arguments.

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
    work = _check_args(args, float64=True)
    _check_callable("f", f, len(work))
    _check_callable("f_vjp", f_vjp, len(work) + 1)
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

    if positions is not None:
        _check_finite_args(work, positions, names)
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
            _check_finite_args(work, positions, names)
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
        ``rng`` or ``n_cotangents``, and when a vjp (or ``f``) is not
        callable with ``1 + len(args)`` (``len(args)``) positional arguments.

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
    work = _check_args(args, float64=False)
    _check_callable("f_vjp", f_vjp, len(work) + 1)
    _check_callable("reference_vjp", reference_vjp, len(work) + 1)
    if f is not None:
        _check_callable("f", f, len(work))
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
