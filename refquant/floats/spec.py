"""Low-precision float formats as data: field widths, bias, range and special values.

:data:`FLOAT_FORMATS` holds the formats by the names ml_dtypes uses; each entry
is a :class:`FloatFormat` and every derived number (largest finite value,
smallest normal and subnormal) is computed from the fields, never typed in.

A value of a format with ``e`` exponent bits, ``m`` mantissa bits and bias
``b`` is, for the exponent field ``E`` and mantissa field ``M``::

    normal     (E > 0):  (-1)**S * 2**(E - b) * (1 + M / 2**m)
    subnormal  (E = 0):  (-1)**S * 2**(1 - b) * (M / 2**m)

The formats differ in which codes are not numbers (``special``):

=================  ==========================================================
``special``        meaning
=================  ==========================================================
``"ieee"``         IEEE 754: exponent field all ones is ±inf (M = 0) or NaN
``"fn"``           finite: no inf; only S.1111.111 (all ones) is NaN (OCP FP8 E4M3)
``"fnuz"``         finite, unsigned zero: no inf, no -0; the code 0x80 ("-0") is the one NaN
``"none"``         every code is a number: no inf, no NaN (OCP FP6 and FP4)
``"e8m0"``         unsigned, no zero, no inf: the value is 2**(E - 127); 0xFF is NaN
=================  ==========================================================

Sources: IEEE 754-2019 (binary16), Google's bfloat16, the OCP 8-bit Floating
Point Specification (OFP8) rev. 1.0 (E4M3, E5M2), the OCP Microscaling
Formats (MX) v1.0 spec, section 5.3 (FP6, FP4, E8M0), Graphcore/AMD's "fnuz"
formats (Noune et al. 2022), and ``ml_dtypes.finfo`` for each name
(``tests/conformance/test_floats_conformance.py`` checks every field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from refquant._validate import check_int

__all__ = ["FLOAT_FORMATS", "FloatFormat", "float_format"]

Special = Literal["ieee", "fn", "fnuz", "none", "e8m0"]
_SPECIALS = ("ieee", "fn", "fnuz", "none", "e8m0")


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: ``exponent_bits``, ``mantissa_bits``, ``bias``, ``special``.

    The derived attributes (:attr:`max_finite`, :attr:`min_normal`,
    :attr:`min_subnormal`, the codes of NaN and inf) follow from these four
    fields and :data:`special`'s rule (module docstring). Codes are stored one
    per element in uint8 (width ≤ 8) or uint16 (width 16); the sign bit is the
    code's top bit (``bits - 1``), except that ``"e8m0"`` has no sign.

    Examples
    --------
    >>> f = FLOAT_FORMATS["float8_e4m3fn"]
    >>> (f.bits, f.max_finite, f.min_normal, f.min_subnormal)
    (8, 448.0, 0.015625, 0.001953125)
    >>> f.nan_codes, f.has_inf, f.has_negative_zero
    ((127, 255), False, True)

    A format of one's own (here an IEEE-style 6-bit E3M2) works everywhere a name does:

    >>> FloatFormat("e3m2_ieee", 3, 2, 3, "ieee").max_finite
    14.0

    Fields are checked: 1 to 8 exponent bits, 1 to 10 mantissa bits, 16 bits
    in all, every value exact in float32 (``"e8m0"`` is exactly 8, 0, 127).
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    bias: int
    special: Special

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {self.name!r}")
        for field, value in (("exponent_bits", self.exponent_bits), ("mantissa_bits", self.mantissa_bits)):
            object.__setattr__(self, field, check_int(field, value))
        object.__setattr__(self, "bias", check_int("bias", self.bias))
        if self.special not in _SPECIALS:
            raise ValueError(f"special must be one of {_SPECIALS}, got {self.special!r}")
        if self.special == "e8m0":
            if (self.exponent_bits, self.mantissa_bits, self.bias) != (8, 0, 127):
                raise ValueError(
                    "special='e8m0' is the OCP scale format: exponent_bits=8, mantissa_bits=0, bias=127; "
                    f"got {self.exponent_bits}, {self.mantissa_bits}, {self.bias}"
                )
            return
        if not 1 <= self.exponent_bits <= 8:
            raise ValueError(f"exponent_bits must be in [1, 8], got {self.exponent_bits}")
        if not 1 <= self.mantissa_bits <= 10:
            raise ValueError(
                f"mantissa_bits must be in [1, 10] (at most 16 bits in all), got {self.mantissa_bits}"
            )
        if self.bits > 16:
            raise ValueError(
                f"a format has at most 16 bits, got {self.bits} ({self.exponent_bits}, {self.mantissa_bits})"
            )
        # every value must be exact in float32, the type of cast's results
        top = self.max_exponent_field - self.bias
        if top > 127 or 1 - self.bias - self.mantissa_bits < -149:
            raise ValueError(
                f"bias={self.bias} puts the format's range outside float32 "
                f"(largest exponent {top}, smallest {1 - self.bias - self.mantissa_bits})"
            )

    @property
    def signed(self) -> bool:
        """Whether the format has a sign bit (all but ``"e8m0"``)."""
        return self.special != "e8m0"

    @property
    def bits(self) -> int:
        """Total width: sign (if any), exponent and mantissa bits."""
        return int(self.signed) + self.exponent_bits + self.mantissa_bits

    @property
    def storage(self) -> np.dtype[Any]:
        """The dtype of the codes of :func:`refquant.floats.encode`: uint8, or uint16 for 16-bit formats."""
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def has_inf(self) -> bool:
        """Whether ±inf are encoded (only the ``"ieee"`` formats)."""
        return self.special == "ieee"

    @property
    def has_nan(self) -> bool:
        """Whether a NaN is encoded (all but ``"none"``)."""
        return self.special != "none"

    @property
    def has_negative_zero(self) -> bool:
        """Whether -0 is a value (``"ieee"``, ``"fn"``, ``"none"``); fnuz and e8m0 have none."""
        return self.special in ("ieee", "fn", "none")

    @property
    def has_zero(self) -> bool:
        """Whether 0 is a value (all but ``"e8m0"``)."""
        return self.special != "e8m0"

    @property
    def max_exponent_field(self) -> int:
        """Largest exponent field of a finite value."""
        top = 2**self.exponent_bits - 1
        return top - 1 if self.special == "ieee" else top

    @property
    def max_code(self) -> int:
        """Code of the largest finite value (positive sign)."""
        m = self.mantissa_bits
        if self.special in ("e8m0",):
            return 2**self.exponent_bits - 2
        full = (self.max_exponent_field << m) | (2**m - 1)
        return full - 1 if self.special == "fn" else full

    @property
    def max_finite(self) -> float:
        """Largest finite value."""
        return float(self.value_of_magnitude_code(self.max_code))

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value, ``2**(1 - bias)`` (``2**-bias`` for e8m0, its smallest value)."""
        return 2.0 ** (-self.bias) if self.special == "e8m0" else 2.0 ** (1 - self.bias)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value, ``2**(1 - bias - mantissa_bits)`` (e8m0: its smallest value)."""
        return self.min_normal if self.special == "e8m0" else 2.0 ** (1 - self.bias - self.mantissa_bits)

    @property
    def sign_mask(self) -> int:
        """The sign bit of a code (0 for e8m0, which has none)."""
        return 1 << (self.bits - 1) if self.signed else 0

    @property
    def nan_codes(self) -> tuple[int, ...]:
        """The codes that are NaN, in increasing order (empty for ``"none"``)."""
        m, top = self.mantissa_bits, 2**self.exponent_bits - 1
        if self.special == "ieee":
            pos = [(top << m) | f for f in range(1, 2**m)]
            return tuple(pos + [c | self.sign_mask for c in pos])
        if self.special == "fn":
            full = (top << m) | (2**m - 1)
            return (full, full | self.sign_mask)
        if self.special == "fnuz":
            return (self.sign_mask,)
        if self.special == "e8m0":
            return (0xFF,)
        return ()

    @property
    def inf_codes(self) -> tuple[int, ...]:
        """The codes of +inf and -inf (empty unless ``"ieee"``)."""
        if not self.has_inf:
            return ()
        inf = (2**self.exponent_bits - 1) << self.mantissa_bits
        return (inf, inf | self.sign_mask)

    def value_of_magnitude_code(self, code: int) -> float:
        """The value of a code without its sign bit (a finite code; exact in float64)."""
        m = self.mantissa_bits
        e, f = code >> m, code & (2**m - 1)
        if self.special == "e8m0":
            return 2.0 ** (e - self.bias)
        if e == 0:
            return 2.0 ** (1 - self.bias) * f / 2**m
        return 2.0 ** (e - self.bias) * (1 + f / 2**m)


def _formats() -> dict[str, FloatFormat]:
    rows: list[tuple[str, int, int, int, Special]] = [
        ("bfloat16", 8, 7, 127, "ieee"),
        ("float16", 5, 10, 15, "ieee"),
        ("float8_e4m3fn", 4, 3, 7, "fn"),
        ("float8_e4m3fnuz", 4, 3, 8, "fnuz"),
        ("float8_e4m3", 4, 3, 7, "ieee"),
        ("float8_e5m2", 5, 2, 15, "ieee"),
        ("float8_e5m2fnuz", 5, 2, 16, "fnuz"),
        ("float8_e4m3b11fnuz", 4, 3, 11, "fnuz"),
        ("float8_e3m4", 3, 4, 3, "ieee"),
        ("float6_e2m3fn", 2, 3, 1, "none"),
        ("float6_e3m2fn", 3, 2, 3, "none"),
        ("float4_e2m1fn", 2, 1, 1, "none"),
        ("float8_e8m0fnu", 8, 0, 127, "e8m0"),
    ]
    return {r[0]: FloatFormat(*r) for r in rows}


FLOAT_FORMATS: dict[str, FloatFormat] = _formats()
"""The float formats by their ml_dtypes names, bfloat16 to float4_e2m1fn and the MX scale float8_e8m0fnu."""


def float_format(fmt: Any, name: str = "fmt") -> FloatFormat:
    """Look up a float format: a name of :data:`FLOAT_FORMATS` or a :class:`FloatFormat` itself.

    Parameters
    ----------
    fmt : str or FloatFormat
        ``"float8_e4m3fn"``, ``"bfloat16"``, ... (case-sensitive, the ml_dtypes
        names); an unknown name raises ``ValueError``, another type ``TypeError``.
    name : str
        The argument name used in the error messages.

    Returns
    -------
    FloatFormat

    Examples
    --------
    >>> float_format("float4_e2m1fn").max_finite
    6.0
    """
    if isinstance(fmt, FloatFormat):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"{name} must be a float format name (str) or a FloatFormat, got {fmt!r}")
    try:
        return FLOAT_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown float format {fmt!r} ({name}); known: {sorted(FLOAT_FORMATS)}") from None
