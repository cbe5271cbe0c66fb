"""Fixed point Qm.n: values on the grid ``k * 2**-n`` and their two's complement integer codes.

Convention (ARM's, and MATLAB's ``fi`` word and fraction lengths): a signed
``Qm.n`` number has one sign bit, ``m`` integer bits and ``n`` fraction bits,
``total_bits = 1 + m + n``; an unsigned ``UQm.n`` has ``total_bits = m + n``.
So ``Q0.15`` is the int16 fraction (TI's "Q15"), ``Q0.31`` the int32 one and
``Q15.16`` the 32-bit "16.16" format. TI's documents count the sign bit in
``m`` (TI's ``Q1.15`` is ``Q0.15`` here): pass ``integer_bits = m_TI - 1``.
``m`` or ``n`` may be negative (MATLAB's fraction length beyond the word
length, or negative), as long as ``1 <= total_bits <= 64``, ``n <= 1074`` and
``m <= 1023`` (the grid's step and range are float64 numbers).

The codes are the integers ``k`` in ``[qmin, qmax]`` = ``[-2**(T-1), 2**(T-1) - 1]``
(signed) or ``[0, 2**T - 1]`` (unsigned), ``T = total_bits``, stored in the
smallest NumPy integer dtype (sub-byte formats sign-extended in int8/uint8, as
everywhere in refquant); the value of ``k`` is ``k * 2**-n``.

Quantization is ``k = O(R(x * 2**n))``, exact: ``x`` (float16/32/64, or an
integer converted to float64) is scaled by the power of two in float64 (exact;
a product that underflows, possible only for ``n < 0``, is replaced by a tiny
number of the same sign, which every rounding mode treats as the exact
product), rounded by :func:`refquant.rounding.round_to_integer`'s mode ``R``
and brought into the code range by ``O``:

* ``overflow="saturate"`` clamps to ``[qmin, qmax]`` (the ARM/CMSIS ``__SSAT``
  rule); ``±inf`` saturate to ``qmax``/``qmin``;
* ``overflow="wrap"`` keeps ``R(...)`` modulo ``2**T``, two's complement for
  signed formats (NumPy's ``astype`` of integers to a ``T``-bit dtype); ``±inf`` raise
  ``ValueError`` (they have no residue). A finite ``x`` whose product
  overflows float64 is an integer multiple of ``2**971``, so its code is 0.

NaN raises ``ValueError`` in :func:`fixed_encode` (no code means NaN) and
propagates in :func:`fixed_quantize` under ``"saturate"`` (``"wrap"`` raises).
Fixed point has no ``-0``: ``fixed_quantize(-0.25, 0, 1)`` is ``+0.0``.

:func:`fixed_quantize` returns ``fixed_decode(fixed_encode(x))``; its output is
in ``x``'s float dtype (float32 for float16 input, float64 for integers) or
``dtype``, and it raises ``ValueError`` when some grid value is not a number of
that dtype (float32 holds every value of a format with at most 24 magnitude
bits, ``T - 1`` signed or ``T`` unsigned, ``n <= 149`` and ``m <= 127``
signed, 128 unsigned; float64 at most 53, 1074 and 1023/1024): pass
``dtype="float64"``, or use :func:`fixed_encode` for the exact codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import (
    FLOAT_DTYPES,
    as_dtype,
    as_float_array,
    as_int_array,
    check_bool,
    check_choice,
    check_int,
    show_values,
)
from refquant.formats import storage_dtype
from refquant.rounding import ROUNDING_MODES, round_unchecked

__all__ = ["OVERFLOW_MODES", "FixedFormat", "fixed_decode", "fixed_encode", "fixed_quantize"]

#: The overflow rules of :func:`fixed_encode` and :func:`fixed_quantize`.
OVERFLOW_MODES: tuple[str, ...] = ("saturate", "wrap")

_TINY = 2.0**-1030  # any nonzero |v| < 2**-53 rounds, in every mode, as this number of v's sign


@dataclass(frozen=True)
class FixedFormat:
    """A fixed-point format ``Qm.n`` (``UQm.n`` unsigned), ARM's convention: ``m`` excludes the sign bit.

    Parameters
    ----------
    integer_bits : int
        ``m``; may be negative (then ``|value| < 2**m < 1``).
    fraction_bits : int
        ``n``; may be negative (then the step ``2**-n`` is > 1).
    signed : bool
        Two's complement with one sign bit (default) or unsigned.

    Raises ``TypeError`` for non-integer bits or a non-bool ``signed``, and
    ``ValueError`` unless ``1 <= total_bits <= 64``, ``n <= 1074`` and ``m <= 1023``.

    Examples
    --------
    >>> f = FixedFormat(0, 15)  # int16 fraction, TI's Q15
    >>> f.name, f.total_bits, f.qmin, f.qmax, f.step == 2.0**-15, f.min, f.max
    ('Q0.15', 16, -32768, 32767, True, -1.0, 0.999969482421875)
    >>> FixedFormat(3, 4, signed=False).name, FixedFormat(3, 4, signed=False).max
    ('UQ3.4', 7.9375)
    """

    integer_bits: int
    fraction_bits: int
    signed: bool = True

    def __post_init__(self) -> None:
        m = check_int("integer_bits", self.integer_bits)
        n = check_int("fraction_bits", self.fraction_bits)
        check_bool("signed", self.signed)
        total = int(self.signed) + m + n
        if not 1 <= total <= 64:
            raise ValueError(
                f"total_bits = {int(self.signed)} (sign) + integer_bits + fraction_bits must be in [1, 64], "
                f"got {total} (integer_bits={m}, fraction_bits={n}, signed={self.signed})"
            )
        if n > 1074 or m > 1023:
            raise ValueError(
                f"fraction_bits must be <= 1074 and integer_bits <= 1023 (float64 step and range), "
                f"got integer_bits={m}, fraction_bits={n}"
            )

    @classmethod
    def from_word_length(cls, total_bits: int, fraction_bits: int, signed: bool = True) -> FixedFormat:
        """The format of a ``total_bits`` word with ``fraction_bits`` fraction bits (MATLAB ``fi``, TI).

        Examples
        --------
        >>> FixedFormat.from_word_length(16, 15).name, FixedFormat.from_word_length(8, 8, False).name
        ('Q0.15', 'UQ0.8')
        """
        t, n = check_int("total_bits", total_bits), check_int("fraction_bits", fraction_bits)
        s = check_bool("signed", signed)
        return cls(t - int(s) - n, n, s)

    @property
    def total_bits(self) -> int:
        """``T = (1 if signed) + m + n``."""
        return int(self.signed) + self.integer_bits + self.fraction_bits

    @property
    def qmin(self) -> int:
        """Smallest code: ``-2**(T-1)`` signed, 0 unsigned."""
        return -(2 ** (self.total_bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        """Largest code: ``2**(T-1) - 1`` signed, ``2**T - 1`` unsigned."""
        return 2 ** (self.total_bits - int(self.signed)) - 1

    @property
    def step(self) -> float:
        """``2**-n``, the distance between neighbouring values (exact)."""
        return float(np.ldexp(1.0, -self.fraction_bits))

    @property
    def min(self) -> float:
        """``qmin * 2**-n`` (``-2**m`` signed, 0 unsigned; exact)."""
        return float(np.ldexp(float(self.qmin), -self.fraction_bits))

    @property
    def max(self) -> float:
        """``qmax * 2**-n``, rounded to float64 when ``qmax`` has more than 53 bits."""
        return float(np.ldexp(float(self.qmax), -self.fraction_bits))

    @property
    def name(self) -> str:
        """``"Qm.n"`` or ``"UQm.n"``."""
        return f"{'' if self.signed else 'U'}Q{self.integer_bits}.{self.fraction_bits}"

    @property
    def code_dtype(self) -> np.dtype[Any]:
        """The smallest NumPy integer dtype holding ``[qmin, qmax]``."""
        return storage_dtype(self.qmin, self.qmax)

    def exact_in(self, dtype: Any) -> bool:
        """Whether every value of the grid is a number of the float ``dtype`` (no rounding, no overflow).

        Examples
        --------
        >>> FixedFormat(0, 24).exact_in("float32"), FixedFormat(0, 25).exact_in("float32")  # 25, 26 bits
        (True, False)
        """
        fi = np.finfo(as_dtype("dtype", dtype))
        magnitude_bits = self.total_bits - int(self.signed)
        return (
            magnitude_bits <= fi.nmant + 1
            and self.fraction_bits <= fi.nmant - fi.minexp
            and self.integer_bits <= fi.maxexp - int(self.signed)
        )


def fixed_encode(
    x: ArrayLike,
    integer_bits: int,
    fraction_bits: int,
    *,
    signed: bool = True,
    rounding: str = "half_even",
    overflow: Literal["saturate", "wrap"] = "saturate",
    rng: np.random.Generator | None = None,
) -> NDArray[np.integer[Any]]:
    """The Qm.n codes of ``x``: ``k = O(R(x * 2**n))``, exact (two's complement integers).

    Parameters
    ----------
    x : array_like, any shape
        float16/32/64 values (integers and bools are converted to float64).
        NaN raises ``ValueError``; ``±inf`` saturate (``"saturate"``) or raise (``"wrap"``).
    integer_bits, fraction_bits : int
        ``m`` and ``n`` of :class:`FixedFormat` (sign bit not counted in ``m``).
    signed : bool
        Two's complement (default) or unsigned.
    rounding : str
        One of :data:`refquant.rounding.ROUNDING_MODES`; ``"stochastic"`` needs ``rng``.
    overflow : {"saturate", "wrap"}
        Clamp to ``[qmin, qmax]``, or reduce modulo ``2**total_bits`` (module docstring).
    rng : numpy.random.Generator, optional
        For ``"stochastic"`` only: one draw per element in C order (as
        :func:`~refquant.rounding.round_to_integer`); any other non-None value raises ``TypeError``.

    Returns
    -------
    ndarray of ``FixedFormat(m, n, signed).code_dtype``, ``x``'s shape
        int8/int16/int32/int64 (signed) or uint8/.../uint64 (unsigned).

    Notes
    -----
    .. math::

        k = \\operatorname{clip}\\big(R(x\\,2^{n}),\\; q_{min},\\; q_{max}\\big)
        \\quad\\text{or}\\quad
        k \\equiv R(x\\,2^{n}) \\pmod{2^{T}},\\; k \\in [q_{min}, q_{max}]

    Every step is exact: the power-of-two scaling, the rounding, the clamp
    (compared with the powers of two ``2**(T-1)``, never a rounded ``qmax``)
    and the modulo (``fmod`` by ``2**T``, then 32-bit halves in uint64
    arithmetic), so 64-bit formats are exact too. Source: ARM, "Fixed-point
    arithmetic" (CMSIS-DSP ``q15_t``/``q31_t``, ``__SSAT``); MATLAB ``fi``
    (``RoundingMethod``, ``OverflowAction`` "Saturate"/"Wrap").

    Examples
    --------
    >>> fixed_encode([0.5, -1.0, 0.99999, 1.5, -3.0], 0, 7).tolist()  # Q0.7: int8
    [64, -128, 127, 127, -128]
    >>> fixed_encode([1.5, 2.0], 0, 7, overflow="wrap").tolist()  # 192 - 256, 256 - 256
    [-64, 0]
    >>> fixed_encode([0.3, 0.3], 1, 2, signed=False, rounding="ceil").tolist()  # UQ1.2, steps of 1/4
    [2, 2]
    """
    fmt, arr = _prepare(x, integer_bits, fraction_bits, signed, rounding, overflow, rng)
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"x must not be NaN (no fixed-point code means NaN), got {show_values(arr[nan])}")
    return _encode(arr, fmt, rounding, overflow, rng)


def fixed_decode(
    codes: ArrayLike,
    integer_bits: int,
    fraction_bits: int,
    *,
    signed: bool = True,
    dtype: Any = np.float64,
) -> NDArray[np.floating[Any]]:
    """The values of Qm.n codes: ``v = k * 2**-n``, exact.

    Parameters
    ----------
    codes : array_like of int, any shape
        Integers in ``[qmin, qmax]`` of the format, of any integer dtype (or
        integral floats); others raise ``ValueError``, bools ``TypeError``.
    integer_bits, fraction_bits, signed
        The format (:class:`FixedFormat`).
    dtype : float16, float32 or float64
        Output dtype (default float64). ``ValueError`` unless every grid value
        is a number of it (:meth:`FixedFormat.exact_in`).

    Returns
    -------
    ndarray of ``dtype``, ``codes``' shape

    Examples
    --------
    >>> fixed_decode([64, -128, 127], 0, 7).tolist()
    [0.5, -1.0, 0.9921875]
    >>> fixed_decode([3, -4], 3, -1, dtype="float32").tolist()  # Q3.-1: 3 bits, step 2
    [6.0, -8.0]
    """
    fmt = FixedFormat(integer_bits, fraction_bits, signed)
    out = _output_dtype(fmt, dtype, "dtype")
    k = as_int_array("codes", codes)
    bad = (k < fmt.qmin) | (k > fmt.qmax)
    if bad.any():
        raise ValueError(
            f"codes must be in [qmin, qmax] = [{fmt.qmin}, {fmt.qmax}] for {fmt.name} (integer_bits="
            f"{fmt.integer_bits}, fraction_bits={fmt.fraction_bits}, signed={fmt.signed}), "
            f"got {show_values(k[bad])}"
        )
    return _decode(k, fmt, out)


def fixed_quantize(
    x: ArrayLike,
    integer_bits: int,
    fraction_bits: int,
    *,
    signed: bool = True,
    rounding: str = "half_even",
    overflow: Literal["saturate", "wrap"] = "saturate",
    rng: np.random.Generator | None = None,
    dtype: Any = None,
) -> NDArray[np.floating[Any]]:
    """``x`` on the Qm.n grid: ``fixed_decode(fixed_encode(x))``, i.e. ``O(R(x * 2**n)) * 2**-n``.

    Parameters
    ----------
    x : array_like, any shape
        As :func:`fixed_encode`, except that NaN stays NaN under ``"saturate"``.
    integer_bits, fraction_bits, signed, rounding, overflow, rng
        As :func:`fixed_encode`.
    dtype : float16, float32 or float64, optional
        Output dtype; default ``x``'s float dtype (float32 for float16, float64
        for integer input). ``ValueError`` when a grid value is not a number of
        it (e.g. float32 output for more than 24 magnitude bits): pass
        ``dtype="float64"`` (the result is the same, exact, grid).

    Returns
    -------
    ndarray of the output dtype, ``x``'s shape
        Values ``k * 2**-n`` with ``k`` in ``[qmin, qmax]``; ``+0.0`` for code 0.

    Notes
    -----
    .. math::

        \\hat x = 2^{-n}\\,\\operatorname{clip}\\big(R(x\\,2^{n}),\\, q_{min},\\, q_{max}\\big)

    Exact whatever the input precision: no double rounding (the rounding sees
    ``x * 2**n`` exactly, and the grid value is exact in the output dtype).
    Sources as :func:`fixed_encode`.

    Examples
    --------
    >>> fixed_quantize([0.3, -0.3, 0.375, 5.0, -9.0], 2, 2).tolist()  # Q2.2: [-4, 3.75] in steps of 1/4
    [0.25, -0.25, 0.5, 3.75, -4.0]
    >>> fixed_quantize([0.375, 4.0], 2, 2, rounding="trunc", overflow="wrap").tolist()
    [0.25, -4.0]
    >>> fixed_quantize(1 / 3, 0, 31).tolist()  # Q0.31: round(2**31 / 3) = 715827883, times 2**-31
    0.33333333348855376
    """
    fmt, arr = _prepare(x, integer_bits, fraction_bits, signed, rounding, overflow, rng)
    if dtype is None:
        out = np.dtype(np.float32) if arr.dtype == np.float16 else arr.dtype
        out = _output_dtype(fmt, out, "x's float dtype")
    else:
        out = _output_dtype(fmt, dtype, "dtype")
    nan = np.isnan(arr)
    if not nan.any():
        return _decode(_encode(arr, fmt, rounding, overflow, rng), fmt, out)
    if overflow == "wrap":
        raise ValueError(
            f"x must not be NaN with overflow='wrap' (NaN has no residue), got {show_values(arr[nan])}"
        )
    res = _decode(_encode(np.where(nan, 0, arr), fmt, rounding, overflow, rng), fmt, out)
    res[nan] = np.nan
    return res


# --------------------------------------------------------------------------- internals


def _prepare(
    x: ArrayLike, m: int, n: int, signed: bool, rounding: str, overflow: str, rng: Any
) -> tuple[FixedFormat, NDArray[Any]]:
    fmt = FixedFormat(m, n, signed)
    check_choice("rounding", rounding, ROUNDING_MODES)
    check_choice("overflow", overflow, OVERFLOW_MODES)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if rounding == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for rounding='stochastic', got None")
    arr = as_float_array("x", x)
    if arr.dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {arr.dtype}")
    if overflow == "wrap" and np.isinf(arr).any():
        raise ValueError(
            "x must be finite with overflow='wrap' (±inf has no residue), "
            f"got {show_values(arr[np.isinf(arr)])}"
        )
    return fmt, arr


def _output_dtype(fmt: FixedFormat, dtype: Any, what: str) -> np.dtype[Any]:
    out = as_dtype("dtype", dtype)
    if not fmt.exact_in(out):
        raise ValueError(
            f"{fmt.name} (integer_bits={fmt.integer_bits}, fraction_bits={fmt.fraction_bits}, "
            f"signed={fmt.signed}: {fmt.total_bits} bits, step 2**{-fmt.fraction_bits}) has values that are "
            f"not {out} numbers ({what} = {out}); "
            + ("pass dtype='float64' (exact for up to 53 magnitude bits) or " if out != np.float64 else "")
            + "use fixed_encode for the exact integer codes"
        )
    return out


def _encode(arr: NDArray[Any], fmt: FixedFormat, rounding: str, overflow: str, rng: Any) -> NDArray[Any]:
    """Codes of non-NaN ``arr`` (inf only with saturate), exact, in ``fmt.code_dtype``."""
    x = arr.astype(np.float64)
    with np.errstate(over="ignore", under="ignore"):
        scaled = np.ldexp(x, fmt.fraction_bits)
    if fmt.fraction_bits < 0:  # the product may have underflowed: keep its sign, which decides every mode
        tiny = (x != 0) & (np.abs(scaled) < 2.0**-60)
        scaled = np.where(tiny, np.copysign(_TINY, x), scaled)
    r = round_unchecked(scaled, rounding, rng)
    t = fmt.total_bits
    if t <= 53:  # the bounds, 2**t and every code are float64 integers: clip or reduce in float64, exactly
        if overflow == "saturate":
            return np.clip(r, float(fmt.qmin), float(fmt.qmax)).astype(fmt.code_dtype)
        rm = np.fmod(np.where(np.isinf(r), 0.0, r), 2.0**t)  # exact, |rm| < 2**t
        rm = np.where(rm < fmt.qmin, rm + 2.0**t, rm)  # the residue in [qmin, qmin + 2**t), exact
        return np.where(rm > fmt.qmax, rm - 2.0**t, rm).astype(fmt.code_dtype)
    if overflow == "saturate":
        top = 2.0 ** (t - int(fmt.signed))  # qmax + 1, a power of two: r >= top is r > qmax
        over, under = r >= top, r < float(fmt.qmin)
        mid = np.where(over | under, 0.0, r)
        if fmt.signed:
            k: NDArray[Any] = np.where(
                over, np.int64(fmt.qmax), np.where(under, np.int64(fmt.qmin), mid.astype(np.int64))
            )
        else:
            k = np.where(over, np.uint64(fmt.qmax), np.where(under, np.uint64(0), mid.astype(np.uint64)))
        return k.astype(fmt.code_dtype)
    return _wrap(np.where(np.isinf(r), 0.0, r), fmt)  # an overflowed product is a multiple of 2**971


def _wrap(r: NDArray[np.float64], fmt: FixedFormat) -> NDArray[Any]:
    """``r`` (finite integers) modulo ``2**T``, two's complement for signed formats, exactly."""
    t = fmt.total_bits
    rm = np.fmod(r, 2.0**t)  # exact, |rm| < 2**t <= 2**64
    hi = np.floor(rm / 2.0**32)  # exact: |hi| < 2**32
    lo = rm - hi * 2.0**32  # exact, in [0, 2**32)
    u = (hi.astype(np.int64).astype(np.uint64) << np.uint64(32)) + lo.astype(np.uint64)  # mod 2**64
    if t < 64:
        u &= np.uint64((1 << t) - 1)
    if not fmt.signed:
        return u.astype(fmt.code_dtype)
    if t == 64:
        return u.view(np.int64)
    k = u.astype(np.int64)
    return np.where(k >= 2 ** (t - 1), k - 2**t, k).astype(fmt.code_dtype)


def _decode(k: NDArray[Any], fmt: FixedFormat, out: np.dtype[Any]) -> NDArray[Any]:
    """``k * 2**-n`` for codes of a format exact in ``out`` (|k| < 2**53: exact in float64)."""
    return np.ldexp(k.astype(np.float64), -fmt.fraction_bits).astype(out)
