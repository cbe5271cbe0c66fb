"""Integer formats as data: bit width, signedness, narrow range -> [qmin, qmax].

The table :data:`INT_FORMATS` names the formats the frameworks use
(:func:`int_format` looks them up by name); any other width from 2 to 32
bits, and the narrow-range variants, are ``IntFormat(bits, signed,
narrow_range)``. Sub-byte formats (int4, uint4, int2, uint2) are stored in
int8/uint8 arrays, as DESIGN.md prescribes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
        if isinstance(self.bits, bool) or not isinstance(self.bits, int):
            raise TypeError(f"bits must be an int, got {self.bits!r}")
        if not 2 <= self.bits <= 32:
            raise ValueError(f"bits must be in [2, 32], got {self.bits}")
        for name in ("signed", "narrow_range"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")

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
        ``"int16"``, ``"uint16"``, ``"int32"`` or ``"uint32"``; anything else
        raises ``ValueError``.

    Returns
    -------
    IntFormat
        Full range (not narrow).

    Examples
    --------
    >>> int_format("uint4").qmax
    15
    """
    try:
        return INT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown integer format {name!r}; known: {sorted(INT_FORMATS)}") from None


def storage_dtype(qmin: int, qmax: int) -> np.dtype[Any]:
    """Smallest NumPy integer dtype holding every code in ``[qmin, qmax]``.

    Parameters
    ----------
    qmin, qmax : int
        The code range.

    Returns
    -------
    numpy.dtype
        The first of uint8, int8, uint16, int16, uint32, int32, uint64, int64
        that holds the range; ``ValueError`` if none does.

    Examples
    --------
    >>> str(storage_dtype(-8, 7)), str(storage_dtype(0, 65535)), str(storage_dtype(-1, 255))
    ('int8', 'uint16', 'int16')
    """
    for name in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"):
        info = np.iinfo(name)
        if info.min <= qmin and qmax <= info.max:
            return np.dtype(name)
    raise ValueError(f"no integer dtype holds [{qmin}, {qmax}]")


INT_FORMATS: dict[str, IntFormat] = {
    f"{'' if signed else 'u'}int{bits}": IntFormat(bits, signed)
    for bits in (2, 4, 8, 16, 32)
    for signed in (True, False)
}
"""Named formats: int2/uint2, int4/uint4, int8/uint8, int16/uint16, int32/uint32."""
