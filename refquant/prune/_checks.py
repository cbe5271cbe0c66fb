"""Argument checks and overflow-free arithmetic shared by :mod:`refquant.prune` (internal).

Checks raise ``TypeError`` (wrong kind) or ``ValueError`` (wrong value), and
every message names the argument and shows the value it got.

The arithmetic keeps intermediate results from overflowing (or underflowing)
where the exact result is representable:

* :func:`split` writes ``x = m * 2**e`` with ``|m|`` in ``[0.5, 1)`` (float64)
  and ``e`` an integer (``np.frexp``); a product of factors is the product of
  their mantissas (in ``[2**-n, 1)``, it cannot overflow) times ``2`` to the
  sum of their exponents, so it is formed with the roundings of the plain
  product and overflows only if the exact result does;
* :func:`lp_norms` computes an Lp norm of every row as ``scale * r`` with
  ``scale`` the row's largest magnitude and ``r`` the norm of the row divided
  by it (in ``[1, L**(1/p)]``), as LAPACK's ``nrm2`` does.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import show_values

FloatArray = NDArray[np.floating[Any]]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def check_bool(name: str, value: object) -> bool:
    """``value`` must be a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` must be an int (not a bool, not a float) within ``[minimum, maximum]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def check_real(
    name: str,
    value: object,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """``value`` must be a real number (not a bool) in the interval from ``lo`` to ``hi`` (never NaN)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:  # NaN fails every comparison
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def check_norm_order(name: str, p: object) -> float:
    """A norm order: a real ``p > 0`` or ``inf``. ``p <= 0``, NaN and non-reals are rejected."""
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number > 0 (or inf), got {p!r}")
    if not float(p) > 0:
        raise ValueError(f"{name} must be > 0 (or inf), got {p!r}")
    return float(p)


def check_shape_int_array(name: str, value: ArrayLike) -> None:
    """``value``'s dtype must be numeric (bool, int, float): only its shape is used."""
    dtype = np.asarray(value).dtype
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array, got dtype {dtype}")


def no_nan(name: str, a: NDArray[Any], why: str = "scores must be comparable") -> None:
    """``ValueError`` naming ``name`` and the first NaN's index if ``a`` holds a NaN."""
    if a.size and np.isnan(np.max(a)):
        idx = np.unravel_index(int(np.flatnonzero(np.isnan(a.reshape(-1)))[0]), a.shape)
        where = tuple(int(i) for i in idx)
        raise ValueError(f"{name} contains NaN (at index {where}): {why}")


def all_finite(name: str, a: NDArray[Any], why: str) -> None:
    """``ValueError`` naming ``name`` and showing the non-finite values if any."""
    if a.size and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite ({why}), got {show_values(a[~np.isfinite(a)])}")


# ----------------------------------------------------------------------------- scaled arithmetic


def split(x: NDArray[Any]) -> tuple[F64, I64]:
    """``x = m * 2**e``: float64 mantissas in ``[0.5, 1)`` (0, inf and NaN as themselves) and exponents."""
    m, e = np.frexp(np.asarray(x, dtype=np.float64))
    return m, e.astype(np.int64)


def product(*factors: NDArray[Any]) -> tuple[F64, I64]:
    """The product of ``factors`` (broadcast) as ``(mantissa, exponent)``, no intermediate overflow."""
    m, e = split(factors[0])
    for f in factors[1:]:
        mf, ef = split(f)
        with np.errstate(invalid="ignore"):  # 0 * inf = NaN, as the plain product
            m, e = m * mf, e + ef
    return m, e


def join(m: F64, e: I64) -> F64:
    """``m * 2**e`` in float64 (overflow to ``±inf``, underflow rounded), ``e`` of any size."""
    e = np.clip(e, -4000, 4000)  # beyond these, the result is 0 or inf whatever m (|m| in [2**-64, 64))
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(np.ldexp(m, e.astype(np.int32)), dtype=np.float64)


def group_sum(m: F64, e: I64, axis: int | tuple[int, ...]) -> tuple[F64, I64]:
    """``sum(m * 2**e)`` over ``axis`` as ``(mantissa-ish, exponent)``: each group scaled by its largest term.

    A group's terms are divided by ``2**E`` (``E`` the largest exponent of a
    nonzero finite term of the group) before summing, so that the sum cannot
    overflow; terms below ``2**(E - 1074)`` are flushed to 0 (more than 1000
    binary orders of magnitude below the group's largest term).
    """
    finite_nz = np.isfinite(m) & (m != 0)
    lowest = np.iinfo(np.int64).min
    big = np.max(np.where(finite_nz, e, lowest), axis=axis, keepdims=True, initial=lowest)
    big = np.where(big == np.iinfo(np.int64).min, 0, big)
    terms = join(m, e - big)
    with np.errstate(invalid="ignore"):  # inf - inf = NaN, as the plain sum
        s = np.sum(terms, axis=axis)
    return s, np.squeeze(big, axis=axis)


def lp_sums(rows: FloatArray, p: float, scale: F64 | None = None) -> tuple[F64, F64]:
    """Per row of a 2-D array: ``(t, scale)`` with the Lp norm ``= t**(1/p) * scale`` (float64, no overflow).

    ``scale`` is the row's largest finite nonzero ``|x|`` (1 for an all-zero or
    empty row) unless given (positive, finite, one per row); ``t`` is the sum
    of ``(|x| / scale)**p``, in ``[1, L]`` with the computed scale, ``inf`` for
    a row holding ``±inf``. For ``p = inf``, ``t`` is ``max |x| / scale``; for
    ``p = 1`` the plain sum is used (``scale = 1``) unless it overflows.
    Rows must be NaN-free.
    """
    n_rows, length = rows.shape
    t = np.zeros(n_rows)
    sc = np.ones(n_rows) if scale is None else np.asarray(scale, dtype=np.float64).copy()
    if length == 0 or n_rows == 0:
        return t, sc
    step = max(1, (1 << 16) // length)
    for i in range(0, n_rows, step):
        x = np.abs(rows[i : i + step], dtype=np.float64)
        if scale is None:
            top = np.max(np.where(np.isfinite(x), x, 0.0), axis=1)
            s_i = np.where(top > 0, top, 1.0)
            if p == 1:
                with np.errstate(over="ignore"):
                    plain = x.sum(axis=1)
                over = np.isinf(plain) & np.all(np.isfinite(x), axis=1)
                s_i = np.where(over, s_i, 1.0)
            sc[i : i + step] = s_i
        else:
            s_i = sc[i : i + step]
        x /= s_i[:, None]
        if p == math.inf:
            total = x.max(axis=1)
        elif p == 1:
            total = x.sum(axis=1)
        elif p == 2:
            total = np.einsum("ij,ij->i", x, x)
        else:
            with np.errstate(over="ignore", under="ignore"):
                total = np.power(x, p, out=x).sum(axis=1)
        t[i : i + step] = total
    return t, sc


def root(t: F64, p: float) -> F64:
    """``t**(1/p)`` (``t`` for ``p`` in ``{1, inf}``), overflowing to inf."""
    if p in (1.0, math.inf):
        return t
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(t ** (1.0 / p), dtype=np.float64)


def norms_of(t: F64, scale: F64, p: float) -> F64:
    """The norms ``t**(1/p) * scale`` (``inf`` where they exceed float64)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(np.where(np.isinf(t), np.inf, root(t, p) * scale), dtype=np.float64)


def norm_ranking_key(t: F64, scale: F64, p: float) -> F64:
    """Values that order the rows as their norms ``t**(1/p) * scale`` do, also beyond float64's range.

    The norms themselves when they are finite (or ``inf`` only for rows holding
    inf); else the norms times the power of two that brings the largest scale
    to ``[0.5, 1)`` (exact: it moves exponents only), or, when even that
    overflows (``p < 1``), ``log2`` of the norms.
    """
    norms = norms_of(t, scale, p)
    real = np.isfinite(t)
    if np.all(np.isfinite(norms) | ~real):
        return norms
    top_exp = int(np.frexp(scale[real].max())[1])
    ms, es = split(scale)
    shifted = root(t, p) * join(ms, es - top_exp)
    if np.all(np.isfinite(shifted) | ~real):
        return np.asarray(np.where(real, shifted, np.inf), dtype=np.float64)
    with np.errstate(divide="ignore"):
        logn = np.log2(t) / p + np.log2(scale)
    return np.asarray(np.where(real, logn, np.inf), dtype=np.float64)


def mul(dtype: Any, *factors: NDArray[Any]) -> NDArray[Any]:
    """The product of ``factors``, rounded to ``dtype``: ``±inf`` only if the exact product overflows.

    For float16/32 factors the float64 product of two is exact, so the result
    is the correctly rounded product; in float64 the mantissas multiply with
    the plain product's roundings.
    """
    m, e = product(*factors)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(join(m, e), dtype=np.float64).astype(dtype)


def scaled_sum(terms: tuple[F64, I64], axis: int | tuple[int, ...]) -> F64:
    """``sum(m * 2**e)`` over ``axis`` in float64 without intermediate overflow (see :func:`group_sum`)."""
    s, big = group_sum(terms[0], terms[1], axis)
    return join(*_renorm(s, big))


def _renorm(s: F64, e: I64) -> tuple[F64, I64]:
    ms, es = split(s)
    return ms, es + e


def scaled_mean(x: NDArray[Any], axis: int) -> F64:
    """The mean over ``axis`` in float64, summed scaled by a power of two: no overflow of the sum."""
    m, e = split(x)
    s, big = group_sum(m, e, axis)
    ms, es = split(s / x.shape[axis])
    return join(ms, es + big)


def scaled_matvec(v: NDArray[Any], a: NDArray[Any]) -> F64:
    """``a @ v`` for a 2-D ``a`` (rows dotted with ``v``) in float64, no intermediate overflow."""
    m, e = product(a, v[None, :])
    s, big = group_sum(m, e, 1)
    ms, es = split(s)
    return join(ms, es + big)


def shifted(x: F64, shift: I64) -> tuple[F64, I64]:
    """``x * 2**shift`` as ``(mantissa, exponent)``, for :func:`join`."""
    m, e = split(x)
    return m, e + shift


def cast(x: NDArray[Any], dtype: Any) -> NDArray[Any]:
    """``x`` rounded to ``dtype``; values beyond its range become ``±inf`` (no warning: documented)."""
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(dtype)


def finite_result(
    what: str,
    exact: F64,
    dtype: Any,
    inputs: dict[str, NDArray[Any] | None],
    knobs: dict[str, float] | None = None,
) -> NDArray[Any]:
    """``exact`` (float64) rounded to ``dtype``; ``ValueError`` if finite inputs overflow it.

    ``±inf`` and NaN pass through when an input holds them (propagation, as
    the plain formula); from finite inputs they can only mean that the exact
    result is beyond ``dtype``'s range, which is reported instead of returned
    (with the scalar ``knobs`` that scale it, shown by name and value).
    """
    out = cast(exact, dtype)
    if out.size and not np.all(np.isfinite(out)):
        arrays = {k: np.asarray(v) for k, v in inputs.items() if v is not None}
        if all(np.all(np.isfinite(a)) for a in arrays.values()):
            i = int(np.flatnonzero(~np.isfinite(out.reshape(-1)))[0])
            e = np.asarray(exact).reshape(-1)[i]
            size = f"{e:.6g}" if np.isfinite(e) else "beyond float64 (overflow to inf)"
            shown = "".join(f", {k}={v!r}" for k, v in (knobs or {}).items())
            raise ValueError(
                f"{what} overflows {np.dtype(dtype).name} at flat index {i} from finite "
                f"{', '.join(arrays)}{shown}: the exact value is {size}, beyond the range of "
                f"{np.dtype(dtype).name} (rescale the inputs or pass float64)"
            )
    return out
