"""Rounding modes, each exact (no ``floor(x + 0.5)`` shortcuts in float).

Every mode returns a float array of the input's dtype holding integer values;
NaN and ±inf pass through unchanged. The modes and who uses them:

================  ====================================  ==============================
mode              rule                                  used by
================  ====================================  ==============================
``half_even``     nearest, ties to even                 PyTorch, ONNX, ORT (MLAS), NumPy
``half_away``     nearest, ties away from zero          TFLite ``TfLiteRound``, C ``round``
``half_up``       nearest, ties toward +inf             TF FakeQuant ``floor(x + 0.5)``
``half_down``     nearest, ties toward -inf             ``ceil(x - 0.5)`` kernels
``floor``         toward -inf
``ceil``          toward +inf
``trunc``         toward zero                           C casts
``stochastic``    up with probability ``x - floor(x)``  QAT papers; needs ``rng``
================  ====================================  ==============================
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from refquant._validate import FLOAT_DTYPES, as_float_array, check_choice, check_out

__all__ = ["ROUNDING_MODES", "RoundingMode", "round_to_integer"]

RoundingMode = Literal[
    "half_even", "half_away", "half_up", "half_down", "floor", "ceil", "trunc", "stochastic"
]
ROUNDING_MODES: tuple[str, ...] = (  # "stochastic" stays last: callers slice it off with [:-1]
    "half_even",
    "half_away",
    "half_up",
    "half_down",
    "floor",
    "ceil",
    "trunc",
    "stochastic",
)


def round_to_integer(
    x: Any,
    mode: RoundingMode = "half_even",
    *,
    rng: np.random.Generator | None = None,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Round ``x`` to integers with ``mode``; ``y = R(x)`` elementwise, exactly.

    Parameters
    ----------
    x : array_like, any shape
        Real values; integer inputs are converted to float64.
    mode : str
        One of :data:`ROUNDING_MODES` (table in the module docstring).
    rng : numpy.random.Generator, optional
        Required for ``"stochastic"`` and only used there: one uniform draw
        ``u`` in [0, 1) per element, in C order; ``y = floor(x) + (u < x - floor(x))``.
        Any other value than None or a Generator raises ``TypeError``.
    out : ndarray, optional
        A writable array of ``x``'s shape and float dtype to write the result
        to (it may be ``x`` itself); anything else raises.

    Returns
    -------
    ndarray
        Same shape and floating dtype as ``x`` (float16, float32 or float64;
        float64 for integer and bool inputs, which are converted first, so
        integers beyond ``2**53`` are rounded to float64); values are
        integers, NaN and ±inf unchanged, ``-0.0`` kept.

    Notes
    -----
    .. math::

        \\mathrm{half\\_away}(x) = \\operatorname{sign}(x)\\,\\lfloor |x| + \\tfrac12 \\rfloor,
        \\qquad \\mathrm{half\\_up}(x) = \\lfloor x + \\tfrac12 \\rfloor,
        \\qquad \\mathrm{half\\_down}(x) = \\lceil x - \\tfrac12 \\rceil

    computed exactly: the fraction ``x - floor(x)`` is exact in binary floating
    point (except for ``-1 < x < 0``, where it is ``1 + x`` rounded, which can
    be 1.0 but is on the same side of 0.5 as the exact value, so the result
    is still exact), so ``0.49999997`` (float32) rounds to 0 in every mode, whereas
    evaluating ``floor(x + 0.5)`` in float32, as TF's kernels do, gives 1.
    ``half_down`` mirrors this from above: ``ceil(x) - x`` is exact except
    for ``0 < x < 1``, where ``1 - x`` rounded is on the same side of 0.5.
    Signs of zero: ``half_down`` keeps the sign of ``x`` (``+0`` on
    ``[+0, 0.5]``, ``-0`` on ``(-0.5, -0]``); ``half_up`` gives ``+0`` on all
    of ``[-0.5, 0.5)``, ``-0.0`` included.
    Source: IEEE 754-2019, section 5.3.1 (roundToIntegralTiesToEven,
    -TiesToAway, -TowardPositive, -TowardNegative, -TowardZero); stochastic
    rounding as in Gupta et al., "Deep learning with limited numerical
    precision", ICML 2015. Semantic choice: all modes are exact; framework-specific float shortcuts
    live in :mod:`refquant.interop`.

    Edge cases: NaN and ``±inf`` pass through; subnormals round to ``±0`` or
    ``±1`` like any value; values near the dtype's maximum are integers
    already and come back unchanged (no ``x + 0.5`` that could overflow); no
    input is modified unless it is passed as ``out``.

    Examples
    --------
    >>> x = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]
    >>> round_to_integer(x, "half_even").tolist()
    [-2.0, -2.0, -0.0, 0.0, 2.0, 2.0]
    >>> round_to_integer(x, "half_away").tolist()
    [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    >>> round_to_integer(x, "half_up").tolist()
    [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    >>> round_to_integer(x, "half_down").tolist()
    [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0]
    """
    check_choice("mode", mode, ROUNDING_MODES)
    arr = as_float_array("x", x)
    if arr.dtype.name not in FLOAT_DTYPES:
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {arr.dtype}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if mode == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for mode='stochastic', got None")
    if out is not None:
        check_out("out", out, arr.shape, arr.dtype)
    return round_unchecked(arr, mode, rng, out)


def round_unchecked(
    x: NDArray[Any],
    mode: str,
    rng: np.random.Generator | None,
    out: NDArray[Any] | None = None,
) -> NDArray[Any]:
    """Unchecked rounding; ``out`` may alias ``x``."""
    if mode == "half_even":
        return np.rint(x, out=out)
    if mode == "floor":
        return np.floor(x, out=out)
    if mode == "ceil":
        return np.ceil(x, out=out)
    if mode == "trunc":
        return np.trunc(x, out=out)
    with np.errstate(invalid="ignore"):  # inf - inf in the fraction of ±inf
        return _round_ties(x, mode, rng, out)


def _round_ties(
    x: NDArray[Any],
    mode: str,
    rng: np.random.Generator | None,
    out: NDArray[Any] | None,
) -> NDArray[Any]:
    if mode == "half_down":
        c = np.ceil(x)
        frac = np.subtract(c, x)  # exact, except 1 - x rounded (<= 1.0) for 0 < x < 1: same side of 0.5
        down = frac >= 0.5
        return np.subtract(c, down, out=out, dtype=x.dtype, casting="unsafe")
    if mode == "half_away":
        t = np.trunc(x)
        frac = np.abs(x - t)  # exact
        step = np.copysign(frac >= 0.5, x).astype(x.dtype, copy=False)
        return np.add(t, step, out=out)
    fl = np.floor(x)
    frac = np.subtract(x, fl)  # exact, except 1 + x rounded (<= 1.0) for -1 < x < 0: same side of 0.5
    if mode == "half_up":
        up = frac >= 0.5
    else:
        assert rng is not None
        up = rng.random(x.shape, dtype=np.float64) < frac
    return np.add(fl, up, out=out, dtype=x.dtype, casting="unsafe")
