"""The output stage of TFLite's fully-connected kernels: the rescaled accumulator plus the output offset.

Private helpers shared by :mod:`refquant.interop.tflite.fully_connected` and
:mod:`refquant.interop.tflite.fully_connected_16x8`. Where C leaves the int32
arithmetic undefined, the float-scale path gives x86-64's result, measured
against tensorflow 2.21's interpreter; the integer path, which no interpreter
kernel runs for FULLY_CONNECTED, raises instead of guessing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import show_values
from refquant.integer._checks import INT32_MAX, INT32_MIN
from refquant.rounding import round_to_integer


def _float64_requantize_x86(
    acc: NDArray[np.int64], m: NDArray[np.floating[Any]], output_offset: int, lo: int, hi: int
) -> NDArray[np.int64]:
    """``clamp(int32(round(double(acc) * M)) + output_offset)``: the float-scale reference kernels, x86-64.

    ``std::round`` (ties away from zero) of the double product, then C's
    ``static_cast<int32_t>``: undefined beyond int32, and x86-64's conversion
    (``cvttsd2si``) gives ``-2**31`` there (for ``±inf`` and NaN too); the sum
    with ``output_offset`` is an int32 addition, which wraps on x86-64; then the
    clamp. So a large positive value comes out as the minimum code, or as the
    maximum when ``output_offset < 0`` (``-2**31 + offset`` wraps); measured
    against tensorflow 2.21's interpreter (``tests/conformance``).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        r = round_to_integer(acc.astype(np.float64) * m, "half_away")
        fits = (r >= -(2.0**31)) & (r < 2.0**31)  # False for NaN
    r64 = np.where(fits, r, -(2.0**31)).astype(np.int64)
    wrapped = (r64 + output_offset + 2**31) % 2**32 - 2**31
    return np.clip(wrapped, lo, hi)


def _add_output_offset(y: NDArray[np.int64], output_offset: int, lo: int, hi: int) -> NDArray[np.int64]:
    """``clamp(y + output_offset, lo, hi)`` for int32 ``y``; raises where TFLite's int32 sum would overflow.

    The integer kernels add the offset in int32 (C leaves its overflow
    undefined; no interpreter kernel was measured there), so a sum beyond int32
    is rejected rather than guessed.
    """
    total = y + output_offset
    over = (total < INT32_MIN) | (total > INT32_MAX)
    if np.any(over):
        raise ValueError(
            f"output_offset={output_offset}: the int32 sum of the rescaled accumulator and the offset "
            f"overflows (TFLite's int32 addition is undefined there), got rescaled values "
            f"{show_values(y[over])}"
        )
    return np.clip(total, lo, hi)
