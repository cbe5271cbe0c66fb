"""The rounding kernels behind :func:`refquant.floats.cast` (internal; inputs already validated).

Two ways to the same grid value, chosen by :func:`round_to_format`:

* :func:`_nearest_even`, the fast path (``rounding="half_even"``): integer
  arithmetic on the IEEE bit pattern of the input for the target's normal
  range, and one exact float addition for its subnormal range;
* :func:`_general`, every rounding mode: ``y = q * R(x / q)`` with ``q`` the
  target's quantum in the binade of ``x`` -- the definition itself.

Both are exact and run over chunks of ``CHUNK`` elements so that the
temporaries stay in cache and the peak extra memory is the output alone.
``tests/floats/test_cast.py`` checks that the two agree on every float32
midpoint between neighbouring grid values, one ulp either side, and random values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from refquant.floats.spec import FloatFormat
from refquant.rounding import round_unchecked

CHUNK = 1 << 16

# (unsigned view, mantissa bits, exponent bias) of the two input float types
_LAYOUT: dict[Any, tuple[Any, int, int]] = {
    np.dtype(np.float32): (np.uint32, 23, 127),
    np.dtype(np.float64): (np.uint64, 52, 1023),
}


def quiet_nan_sign(fmt: FloatFormat, x_negative: NDArray[np.bool_]) -> NDArray[np.bool_] | bool:
    """The sign of the NaN that ml_dtypes decodes: x's sign (ieee, fn), set (fnuz), clear (e8m0)."""
    if fmt.special == "fnuz":
        return True
    if fmt.special == "e8m0":
        return False
    return x_negative


def round_to_format(
    x: NDArray[Any],
    out: NDArray[Any],
    fmt: FloatFormat,
    saturate: bool,
    rounding: str,
    rng: np.random.Generator | None,
) -> None:
    """Write the value of each ``x`` on ``fmt``'s grid to ``out`` (same shape and float dtype, C-contiguous).

    Stochastic rounding draws ``rng.random(k)`` for each chunk of ``k``
    elements in turn: the same numbers as one ``rng.random(x.size)``.
    """
    src, dst = x.reshape(-1), out.reshape(-1)
    if fmt.special == "e8m0":
        kernel: Any = _e8m0
    elif rounding == "half_even":
        kernel = _nearest_even
    else:
        kernel = _general
    if kernel is _nearest_even:
        _nearest_even(src, dst, fmt, saturate)
        return
    for start in range(0, src.size, CHUNK):
        stop = min(start + CHUNK, src.size)
        uniform = None if rng is None else rng.random(stop - start)
        kernel(src[start:stop], dst[start:stop], fmt, saturate, rounding, uniform)


class _BitsPlan(NamedTuple):
    uint: Any  # the unsigned type of the input's bit pattern
    shift: Any  # input mantissa bits minus the target's
    keep: Any  # mask of the kept bits
    half_minus_one: Any  # half an ulp of the target, minus one
    magnitude: Any  # mask of all bits but the sign
    min_normal: Any  # bit pattern of the target's smallest normal value
    span: Any  # limit - min_normal: the fast range is min_normal <= |x| <= limit
    splitter: Any  # 2**shift + 1, Veltkamp's constant (float32 inputs)
    magic: Any  # min_subnormal * 2**p: |x| + magic has the target's subnormal step as its ulp


def _bits_plan(fmt: FloatFormat, dtype: Any) -> _BitsPlan:
    uint, p, _ = _LAYOUT[dtype]
    ftype = dtype.type
    shift = uint(p - fmt.mantissa_bits)
    keep = ~uint((1 << int(shift)) - 1)
    half_minus_one = uint((1 << (int(shift) - 1)) - 1)
    magnitude = ~(uint(1) << uint(p + (8 if p == 23 else 11)))
    min_normal = np.array(fmt.min_normal, ftype).view(uint)[()]
    limit = _overflow_limit(fmt, ftype, uint, shift, keep, half_minus_one)
    # below 2**(emax_input - shift - 1) the splitter's product c * x cannot overflow
    no_overflow = np.array(2.0 ** (np.finfo(ftype).maxexp - int(shift) - 2), ftype).view(uint)[()]
    limit = min(limit, no_overflow)
    splitter = ftype(2.0 ** int(shift) + 1)
    magic = ftype(fmt.min_subnormal * 2.0**p)
    return _BitsPlan(
        uint, shift, keep, half_minus_one, magnitude, min_normal, uint(limit - min_normal), splitter, magic
    )


def _nearest_even(x: NDArray[Any], out: NDArray[Any], fmt: FloatFormat, saturate: bool) -> None:
    """Round half to even in the target's normal range by a short exact sequence; the rest after.

    In the normal range the target's grid is the input's own with the low
    ``shift`` mantissa bits dropped. float32 inputs use Veltkamp's splitting,
    ``t = c * x; y = t - (t - x)`` with ``c = 2**shift + 1``, whose high part is
    ``x`` rounded half to even to ``24 - shift`` bits: checked on every float32
    of [1, 4) for every shift in ``tests/floats/test_cast.py``, and the three
    operations commute with scaling by powers of two while ``c * x`` neither
    overflows nor underflows, so it holds on the whole range used here.
    float64 inputs use integer arithmetic on the bit pattern: add half an ulp
    minus one plus the kept lowest bit, then clear the dropped bits (a carry
    out of the mantissa moves to the next binade, as it should).
    The elements outside ``[min_normal, limit]`` are found chunk by chunk and
    rounded by :func:`_round_others` while the chunk is in cache.
    """
    plan = _bits_plan(fmt, x.dtype)
    n = min(CHUNK, x.size)
    a, t, flag = np.empty(n, plan.uint), np.empty(n, x.dtype), np.empty(n, bool)  # reused by every chunk
    bits = x.view(plan.uint)
    with np.errstate(over="ignore", invalid="ignore"):  # c * x of huge x and NaN: redone after
        for start in range(0, x.size, CHUNK):
            stop = min(start + CHUNK, x.size)
            k = stop - start
            xs, ys, bs = x[start:stop], out[start:stop], bits[start:stop]
            np.bitwise_and(bs, plan.magnitude, out=a[:k])
            a[:k] -= plan.min_normal  # wraps around below min_normal: one unsigned compare finds both ends
            np.greater(a[:k], plan.span, out=flag[:k])
            if x.dtype == np.float32:
                np.multiply(xs, plan.splitter, out=t[:k])
                np.subtract(t[:k], xs, out=ys)
                np.subtract(t[:k], ys, out=ys)
            else:
                r = ys.view(plan.uint)
                np.right_shift(bs, plan.shift, out=r)
                r &= plan.uint(1)
                r += bs
                r += plan.half_minus_one
                r &= plan.keep
            found = np.flatnonzero(flag[:k])
            if found.size:  # while the chunk is in cache
                _round_others(xs[found], ys, found, fmt, saturate, plan)


def _round_others(
    sub: NDArray[Any],
    out: NDArray[Any],
    where: NDArray[np.intp],
    fmt: FloatFormat,
    saturate: bool,
    plan: _BitsPlan,
) -> None:
    """The elements outside the fast range: subnormal range by the magic addition, the rest by definition."""
    a = np.abs(sub)
    res = a + plan.magic
    res -= plan.magic
    np.copysign(res, sub, out=res)
    rest = ~(a < fmt.min_normal)  # overflow, inf, NaN (and values above the splitter's limit)
    if rest.any():
        part = np.empty(int(rest.sum()), sub.dtype)
        _general(sub[rest], part, fmt, saturate, "half_even", None)
        res[rest] = part
    if fmt.special == "fnuz":
        res += sub.dtype.type(0.0)
    out[where] = res


def _overflow_limit(fmt: FloatFormat, ftype: Any, uint: Any, shift: Any, keep: Any, half: Any) -> Any:
    """The largest |x| bit pattern that rounds (half to even) to at most the format's largest value."""
    top = np.array(fmt.max_finite, ftype).view(uint)
    mid = top + (uint(1) << (shift - uint(1)))
    rounded = (mid + half + ((mid >> shift) & uint(1))) & keep
    return mid if rounded <= top else mid - uint(1)


def _out_of_range(
    x: NDArray[Any], out: NDArray[Any], big: NDArray[np.bool_], fmt: FloatFormat, saturate: bool
) -> None:
    """Overwrite the results where ``big`` (|[x]| > max, inf, NaN) by the format's rules."""
    ftype = x.dtype.type
    neg = np.signbit(x)
    if saturate or fmt.special == "none":
        over = np.where(neg, ftype(-fmt.max_finite), ftype(fmt.max_finite))
    elif fmt.special == "ieee":
        over = np.where(neg, ftype(-np.inf), ftype(np.inf))
    else:  # fn, fnuz: no inf, overflow is NaN
        over = _signed_nan(ftype, quiet_nan_sign(fmt, neg))
    np.copyto(out, over, where=big)
    nan = np.isnan(x)
    if nan.any():
        if fmt.special == "none":  # ml_dtypes: NaN becomes a zero of the opposite sign
            value = np.where(neg, ftype(0.0), ftype(-0.0))
        else:
            value = _signed_nan(ftype, quiet_nan_sign(fmt, neg))
        np.copyto(out, value, where=nan)


def _signed_nan(ftype: Any, negative: Any) -> Any:
    return np.where(negative, ftype(-np.nan), ftype(np.nan))


def _specials(x: NDArray[Any], res: NDArray[Any], fmt: FloatFormat, saturate: bool) -> None:
    """Overflow, inf, NaN and the unsigned zero of fnuz on a chunk rounded by :func:`_general`."""
    ftype = x.dtype.type
    with np.errstate(invalid="ignore"):
        big = ~(np.abs(res) <= ftype(fmt.max_finite))  # also true for inf and NaN
    if big.any():
        _out_of_range(x, res, big, fmt, saturate)
    if fmt.special == "fnuz":
        res += ftype(0.0)


def _general(
    x: NDArray[Any], out: NDArray[Any], fmt: FloatFormat, saturate: bool, rounding: str, u: Any
) -> None:
    """``y = q * R(x / q)``, ``q = 2**(max(E, emin) - m)``; exact: q is a power of two, |x / q| < 2**(m+1).

    ``E`` is the binade of ``x`` (``2**E <= |x| < 2**(E+1)``), ``emin = 1 - bias``.
    """
    ftype = x.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(x)  # |x| = f * 2**e, f in [0.5, 1): binade exponent e - 1
        e -= 1
        np.maximum(e, 1 - fmt.bias, out=e)
        e -= fmt.mantissa_bits
        q = np.ldexp(ftype(1.0), e)
        k = x / q
        if rounding == "stochastic":
            k = _stochastic(k, u)
        else:
            k = round_unchecked(k, rounding, None)
        np.copysign(k, x, out=k)  # a zero keeps x's sign (rounding never flips a nonzero's sign)
        res = k * q
    _specials(x, res, fmt, saturate)
    out[...] = res


def _stochastic(k: NDArray[Any], u: NDArray[np.float64]) -> NDArray[Any]:
    """``floor(k) + (u < k - floor(k))`` with the caller's uniform draws (exact fraction)."""
    lo = np.floor(k)
    frac = (k - lo).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return (lo + (u < frac)).astype(k.dtype)


def _e8m0(
    x: NDArray[Any], out: NDArray[Any], fmt: FloatFormat, saturate: bool, rounding: str, u: Any
) -> None:
    """Powers of two 2**-127 ... 2**127 (ml_dtypes' float8_e8m0fnu rules; module docstring of cast)."""
    ftype = x.dtype.type
    with np.errstate(invalid="ignore", over="ignore"):
        f, e = np.frexp(x)
        f *= 2  # x = f * 2**(e-1), f in [1, 2)
        e -= 1
        if rounding in ("half_even", "half_away", "half_up"):
            up = f >= 1.5
        elif rounding == "half_down":
            up = f > 1.5
        elif rounding in ("floor", "trunc"):
            up = np.zeros(x.shape, bool)
        elif rounding == "ceil":
            up = f > 1
        else:  # stochastic: up with probability (x - 2**E) / 2**E
            up = u < (f - 1).astype(np.float64)
        e += up
        np.clip(e, -127, 128, out=e)
        res = np.ldexp(ftype(1.0), e)
    positive = x > 0
    big = (res > ftype(fmt.max_finite)) | np.isinf(x)  # 2**128 after rounding, or an infinite x
    if saturate:
        np.copyto(res, ftype(fmt.max_finite), where=big)
        np.copyto(res, ftype(fmt.min_normal), where=~positive)
        np.copyto(res, ftype(np.nan), where=np.isnan(x))
    else:
        np.copyto(res, ftype(np.nan), where=big | ~positive)
    out[...] = res
