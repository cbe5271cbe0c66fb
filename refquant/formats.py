"""Integer formats as data: bit width, signedness, narrow range -> [qmin, qmax].

The table :data:`INT_FORMATS` names the formats the frameworks use
(:func:`int_format` looks them up by name); any other width from 2 to 32
bits, and the narrow-range variants, are ``IntFormat(bits, signed,
narrow_range)``. Sub-byte formats (int4, uint4, int2, uint2) are stored in
int8/uint8 arrays, one code per element (int8 for signed, uint8 for unsigned,
never two codes packed in a byte): NumPy has no sub-byte integer dtype, and
:func:`storage_dtype` picks the smallest dtype that holds the code range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from refquant._validate import check_bool, check_int

__all__ = ["INT_FORMATS", "IntFormat", "int_format", "storage_dtype"]


@dataclass(frozen=True)
class IntFormat:
    """An integer code format: ``bits``, ``signed`` and ``narrow_range``.

    ``qmin = -2**(bits-1) (+1 if narrow_range)``, ``qmax = 2**(bits-1) - 1``
    for signed formats; ``qmin = 0 (+1 if narrow_range)``, ``qmax = 2**bits - 1``
    for unsigned ones. Narrow range drops the most negative code so that a
    signed grid is symmetric (TFLite's int8 weights; the ``narrow_range``
    option of TF FakeQuant and of NVIDIA's pytorch-quantization / ModelOpt;
    TensorRT's own quantize layer clamps int8 to [-128, 127]).

    Examples
    --------
    >>> f = IntFormat(8, signed=True, narrow_range=True)
    >>> (f.qmin, f.qmax, f.levels)
    (-127, 127, 255)
    """

    bits: int
    signed: bool = True
    narrow_range: bool = False

    def __post_init__(self) -> None:
        # NumPy integers and bools are accepted and stored as Python int and bool
        object.__setattr__(self, "bits", check_int("bits", self.bits))
        if not 2 <= self.bits <= 32:
            raise ValueError(f"bits must be in [2, 32], got {self.bits}")
        for name in ("signed", "narrow_range"):
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))

    @property
    def qmin(self) -> int:
        """Smallest code."""
        low = -(2 ** (self.bits - 1)) if self.signed else 0
        return low + int(self.narrow_range)

    @property
    def qmax(self) -> int:
        """Largest code."""
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1

    @property
    def levels(self) -> int:
        """Number of codes, ``qmax - qmin + 1``."""
        return self.qmax - self.qmin + 1

    @property
    def dtype(self) -> np.dtype[Any]:
        """NumPy dtype that stores the codes (int8/uint8 for sub-byte formats)."""
        return storage_dtype(self.qmin, self.qmax)


def int_format(name: str) -> IntFormat:
    """Look up a named format in :data:`INT_FORMATS` (``"int8"``, ``"uint4"``, ...).

    Parameters
    ----------
    name : str
        ``"int2"``, ``"uint2"``, ``"int4"``, ``"uint4"``, ``"int8"``, ``"uint8"``,
        ``"int16"``, ``"uint16"``, ``"int32"`` or ``"uint32"`` (case-sensitive);
        another string raises ``ValueError``, a non-string ``TypeError``.

    Returns
    -------
    IntFormat
        Full range (not narrow).

    Examples
    --------
    >>> int_format("uint4").qmax
    15
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a format name (str), got {name!r}")
    try:
        return INT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown integer format {name!r} (name); known: {sorted(INT_FORMATS)}") from None


def storage_dtype(qmin: int, qmax: int) -> np.dtype[Any]:
    """Smallest NumPy integer dtype holding every code in ``[qmin, qmax]``.

    Parameters
    ----------
    qmin, qmax : int
        The code range, ``qmin < qmax`` (Python or NumPy integers; an empty or
        one-code range raises ``ValueError``, as everywhere in refquant).

    Returns
    -------
    numpy.dtype
        The first of uint8, int8, uint16, int16, uint32, int32, uint64, int64
        that holds the range; ``ValueError`` if none does (e.g. ``[-1, 2**64 - 1]``).

    Examples
    --------
    >>> str(storage_dtype(-8, 7)), str(storage_dtype(0, 65535)), str(storage_dtype(-1, 255))
    ('int8', 'uint16', 'int16')
    """
    lo, hi = check_int("qmin", qmin), check_int("qmax", qmax)
    if not lo < hi:
        raise ValueError(f"qmin must be < qmax, got qmin={lo}, qmax={hi}")
    for name in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"):
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return np.dtype(name)
    raise ValueError(f"no integer dtype holds [qmin, qmax] = [{lo}, {hi}]")


INT_FORMATS: dict[str, IntFormat] = {
    f"{'' if signed else 'u'}int{bits}": IntFormat(bits, signed)
    for bits in (2, 4, 8, 16, 32)
    for signed in (True, False)
}
"""Named formats: int2/uint2, int4/uint4, int8/uint8, int16/uint16, int32/uint32."""
