"""From a value range to quantization parameters ``(scale, zero_point)``.

Each variant is a keyword argument of :func:`qparams_from_range`, with the
system it comes from:

* affine: ``s = (max - min) / (qmax - qmin)`` and a zero point clipped to
  the range, by one of three formulas (``zero_point_formula``):
  ``qmin - R(min / s)`` (PyTorch ``MinMaxObserver``), ``R(qmin - min / s)``
  (ONNX DynamicQuantizeLinear, TF's nudging), or TFLite's
  ``ChooseQuantizationParams``, which takes ``qmin - min/s`` or
  ``qmax - max/s``, whichever has the smaller error term, and rounds half away
  from zero. With a symmetric rounding mode (half-even, half-away) the first
  two can still differ at ties, since ``R(a - t) != a - R(t)`` when ``a - t``
  is a tie and ``R`` breaks ties by sign or parity of the result:
  ``R(-128 - (-2.5))`` is -126 with half-away, ``-128 - R(-2.5)`` is -125;
* symmetric: ``s = amax / d`` with ``amax = max(|min|, |max|)`` and
  ``d = (qmax - qmin) / 2`` (PyTorch: 127.5 for int8) or ``d = qmax``
  (TFLite, TensorRT, ModelOpt: 127); ``z = 0`` for signed ranges and the
  upper midpoint ``(qmin + qmax + 1) // 2`` (128 for uint8, as PyTorch's
  default) for unsigned ones (PyTorch uses the lower midpoint
  ``(qmin + qmax) // 2`` when the user gives a custom range;
  :func:`refquant.interop.torch.calculate_qparams` reproduces that);
* the range is widened to include 0 so that 0 is exactly representable
  (every framework above);
* ``eps`` guard: ``s = max(s, eps)`` (PyTorch, default float32 epsilon);
* :func:`reduce_range` halves the code range (PyTorch's ``reduce_range``
  for x86 fbgemm's 7-bit accumulation headroom);
* :func:`nudge_range`: TensorFlow's FakeQuant nudging, which moves the range so
  that its zero point is an integer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_dtype, as_float_array, check_bool, check_choice, check_range, show_values
from refquant.rounding import ROUNDING_MODES, RoundingMode, round_unchecked

__all__ = ["QParams", "nudge_range", "qparams_from_range", "reduce_range"]

SymmetricDivisor = Literal["half_range", "qmax"]
ZeroPointFormula = Literal["qmin_minus_round", "round_of_difference", "tflite"]
ZERO_POINT_FORMULAS = ("qmin_minus_round", "round_of_difference", "tflite")


@dataclass(frozen=True)
class QParams:
    """Quantization parameters: ``scale``, ``zero_point`` and the code range.

    ``scale`` is a float array and ``zero_point`` an int64 array of the same
    shape (0-d for per-tensor, ``(C,)`` per-channel).
    """

    scale: NDArray[Any]
    zero_point: NDArray[np.int64]
    quant_min: int
    quant_max: int


def qparams_from_range(
    min_val: ArrayLike,
    max_val: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    symmetric: bool = False,
    symmetric_divisor: SymmetricDivisor = "half_range",
    include_zero: bool = True,
    eps: float | None = float(np.finfo(np.float32).eps),
    zero_point_rounding: RoundingMode = "half_even",
    zero_point_formula: ZeroPointFormula = "qmin_minus_round",
    dtype: Any = np.float32,
) -> QParams:
    """Scale and zero point that map ``[min_val, max_val]`` onto ``[quant_min, quant_max]``.

    Parameters
    ----------
    min_val, max_val : array_like of float, same shape
        Observed range, per tensor (0-d) or per channel (1-D); finite, with
        ``min_val <= max_val``.
    quant_min, quant_max : int
        Code range.
    symmetric : bool
        Symmetric scheme (module docstring) instead of affine.
    symmetric_divisor : {"half_range", "qmax"}
        ``amax / ((qmax - qmin) / 2)`` (PyTorch) or ``amax / qmax`` (TFLite,
        TensorRT). ``"qmax"`` needs ``quant_max > 0``.
    include_zero : bool
        Widen the range to contain 0 first (default, as every framework does).
    eps : float or None
        Lower bound of the scale (PyTorch's guard, default float32 epsilon),
        finite and > 0; None disables it, and then an empty range raises
        ``ValueError``.
    zero_point_rounding : str
        Rounding mode of the zero point (half-to-even like ``torch.round``;
        TFLite rounds half away from zero).
    zero_point_formula : {"qmin_minus_round", "round_of_difference", "tflite"}
        ``qmin - R(min / s)`` (PyTorch), ``R(qmin - min / s)`` (ONNX
        DynamicQuantizeLinear), or TFLite's choice between the zero points
        from ``min`` and from ``max`` (module docstring). Affine only.
    dtype : numpy float dtype
        Compute dtype of every step (float32 like PyTorch's observers).

    Returns
    -------
    QParams

    Notes
    -----
    .. math::

        s = \\max\\Big(\\frac{\\max(x_{max}, 0) - \\min(x_{min}, 0)}{q_{max} - q_{min}},
        \\varepsilon\\Big), \\qquad
        z = \\operatorname{clip}\\big(q_{min} - R(\\min(x_{min}, 0) / s), q_{min}, q_{max}\\big)

    Source: PyTorch ``UniformQuantizationObserverBase._calculate_qparams``
    (affine and symmetric); Krishnamoorthi, "Quantizing deep convolutional
    networks for efficient inference" (2018), section 2. The zero point is
    clipped into the range (it can only leave it when ``include_zero`` is off).

    Edge cases: NaN or ``±inf`` bounds, and bounds that overflow ``dtype``
    when rounded to it, raise ``ValueError``; subnormal bounds are ordinary
    values. Where ``max - min`` overflows ``dtype`` (``±3e38`` in float32),
    the scale is the exact ``(max - min) / (qmax - qmin)`` rounded once to
    ``dtype`` instead of ``inf``. A scale that is still not finite (``n = 1``
    codes over ``±FLT_MAX``), or 0 (an empty range with ``eps=None``, or an
    ``eps`` that rounds to 0 in ``dtype``), raises ``ValueError``, as do an
    ``eps`` that overflows ``dtype`` and code bounds that ``dtype`` cannot
    represent (``quant_max - quant_min = 65535`` in float16). ``scale`` is
    returned as an ndarray of ``dtype`` (0-d per tensor), ``zero_point`` as
    int64 of the same shape.

    Examples
    --------
    >>> p = qparams_from_range(-1.0, 3.0, 0, 255)
    >>> float(p.scale), int(p.zero_point)
    (0.01568627543747425, 64)
    >>> p = qparams_from_range(-1.0, 3.0, -128, 127, symmetric=True, symmetric_divisor="qmax")
    >>> float(p.scale), int(p.zero_point)
    (0.023622047156095505, 0)
    """
    check_range(quant_min, quant_max)
    quant_min, quant_max = int(quant_min), int(quant_max)
    symmetric = check_bool("symmetric", symmetric)
    include_zero = check_bool("include_zero", include_zero)
    check_choice("symmetric_divisor", symmetric_divisor, ("half_range", "qmax"))
    check_choice("zero_point_rounding", zero_point_rounding, ROUNDING_MODES[:-1])
    check_choice("zero_point_formula", zero_point_formula, ZERO_POINT_FORMULAS)
    if eps is not None:
        if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer, np.floating)):
            raise TypeError(f"eps must be a float or None, got {eps!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be finite and > 0 (or None), got {eps!r}")
    cd = _compute_dtype(dtype)
    if eps is not None:
        with np.errstate(over="ignore", under="ignore"):
            eps_c = cd.type(eps)
        if not np.isfinite(eps_c):
            raise ValueError(f"eps={eps!r} overflows the compute dtype {cd} (it rounds to {eps_c})")
    for label, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        _representable(label, v, cd)
    lo, hi = _checked_range(min_val, max_val, cd)
    if include_zero:
        lo, hi = np.minimum(lo, 0), np.maximum(hi, 0)
    if symmetric:
        divisor = (quant_max - quant_min) / 2 if symmetric_divisor == "half_range" else quant_max
        if divisor <= 0:
            raise ValueError(f"symmetric_divisor='qmax' needs quant_max > 0, got quant_max={quant_max}")
        d = _representable(f"the divisor (symmetric_divisor={symmetric_divisor!r})", divisor, cd)
        with np.errstate(over="ignore"):
            scale = _guard(np.maximum(-lo, hi) / d, eps, cd, lo, hi)
        mid = 0 if quant_min < 0 else (quant_min + quant_max + 1) // 2
        zp = np.full(scale.shape, mid, dtype=np.int64)
        return QParams(scale, zp, quant_min, quant_max)
    n = _representable("quant_max - quant_min", quant_max - quant_min, cd)
    scale = _guard(_affine_scale(lo, hi, n, cd), eps, cd, lo, hi)
    zp = _affine_zero_point(lo, hi, scale, quant_min, quant_max, zero_point_formula, zero_point_rounding, cd)
    return QParams(scale, zp, quant_min, quant_max)


def _compute_dtype(dtype: Any) -> np.dtype[Any]:
    return np.dtype(np.float32) if dtype is None else as_dtype("dtype", dtype)


def _representable(label: str, v: float, cd: np.dtype[Any]) -> Any:
    """``v`` rounded to ``cd``; ``ValueError`` if it overflows (e.g. 65535 in float16)."""
    with np.errstate(over="ignore"):
        c = cd.type(v)
    if not np.isfinite(c):
        raise ValueError(
            f"{label}={v} overflows the compute dtype {cd} (it rounds to {c}); use a wider dtype"
        )
    return c


def _affine_scale(lo: NDArray[Any], hi: NDArray[Any], n: Any, cd: np.dtype[Any]) -> NDArray[Any]:
    """``fl(fl(hi - lo) / n)`` in ``cd``; where ``hi - lo`` overflows, the exact quotient rounded once."""
    with np.errstate(over="ignore"):
        width = np.asarray(hi - lo)
        scale = np.array(width / n, dtype=cd)
    over = np.isinf(width).reshape(-1)
    if np.any(over):
        nq = Fraction(float(n))
        pairs = zip(lo.reshape(-1)[over].tolist(), hi.reshape(-1)[over].tolist(), strict=True)
        flat = scale.reshape(-1)
        flat[over] = [_round_fraction((Fraction(h) - Fraction(lo_)) / nq, cd) for lo_, h in pairs]
    return scale


def _round_fraction(q: Fraction, cd: np.dtype[Any]) -> float:
    """The rational ``q`` rounded once (half to even) to ``cd``, returned as a Python float."""
    try:
        f = float(q)  # correctly rounded to float64
    except OverflowError:
        return float("inf") if q > 0 else float("-inf")
    if cd != np.float64 and Fraction(f) != q and not int(np.float64(f).view(np.int64)) & 1:
        f = float(np.nextafter(f, np.inf if q > f else -np.inf))  # round to odd: the next rounding is exact
    with np.errstate(over="ignore"):
        return float(cd.type(f))


def _affine_zero_point(
    lo: NDArray[Any],
    hi: NDArray[Any],
    scale: NDArray[Any],
    qmin: int,
    qmax: int,
    formula: str,
    rounding: str,
    cd: np.dtype[Any],
) -> NDArray[np.int64]:
    """The zero point by ``formula``, evaluated in ``cd``, clipped to ``[qmin, qmax]``."""
    if formula == "qmin_minus_round":
        z = qmin - round_unchecked(np.asarray(lo / scale), rounding, None).astype(np.float64)
    else:
        from_min = np.asarray(cd.type(qmin) - lo / scale)
        if formula == "tflite":
            from_max = np.asarray(cd.type(qmax) - hi / scale)
            err_min = abs(qmin) + np.abs(lo / scale)
            err_max = abs(qmax) + np.abs(hi / scale)
            from_min = np.where(err_min < err_max, from_min, from_max)
        z = round_unchecked(from_min, rounding, None).astype(np.float64)
    return np.asarray(np.clip(z, qmin, qmax), dtype=np.int64)


def reduce_range(quant_min: int, quant_max: int) -> tuple[int, int]:
    """PyTorch's ``reduce_range``: ``(quant_min // 2, quant_max // 2)``.

    Drops one bit so that fbgemm's int16 pairwise accumulation
    (``vpmaddubsw``) cannot saturate on x86: uint8 [0, 255] -> [0, 127],
    int8 [-128, 127] -> [-64, 63].

    Parameters
    ----------
    quant_min, quant_max : int
        The full code range, ``quant_min < quant_max``.

    Returns
    -------
    (int, int)
        ``(quant_min // 2, quant_max // 2)`` (floor division, as PyTorch), as
        Python ints; a result with fewer than two codes (from ``[0, 1]``)
        raises ``ValueError``.

    Notes
    -----
    .. math:: [q_{min}, q_{max}] \\mapsto [\\lfloor q_{min}/2 \\rfloor, \\lfloor q_{max}/2 \\rfloor]

    Source: ``torch.ao.quantization.utils.calculate_qmin_qmax``.

    Examples
    --------
    >>> reduce_range(0, 255), reduce_range(-128, 127)
    ((0, 127), (-64, 63))
    """
    check_range(quant_min, quant_max)
    lo, hi = int(quant_min) // 2, int(quant_max) // 2
    if not lo < hi:
        raise ValueError(
            f"reduce_range of quant_min={quant_min}, quant_max={quant_max} "
            f"leaves the empty range [{lo}, {hi}]"
        )
    return lo, hi


def nudge_range(
    min_val: ArrayLike,
    max_val: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    dtype: Any = np.float32,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[np.int64]]:
    """TensorFlow's nudging: ``(nudged_min, nudged_max, scale, zero_point)``.

    Parameters
    ----------
    min_val, max_val : array_like of float
        The range (not widened to include 0: the nudge takes care of it).
    quant_min, quant_max : int
        Code range: TF uses ``[narrow_range, 2**num_bits - 1]``.
    dtype : numpy float dtype
        Compute dtype (float32 in TF's kernels).

    Returns
    -------
    nudged_min, nudged_max, scale : ndarray of ``dtype``
    zero_point : ndarray of int64

    Notes
    -----
    .. math::

        s = \\frac{x_{max} - x_{min}}{q_{max} - q_{min}}, \\quad
        z = \\operatorname{clip}\\big(\\operatorname{round\\_half\\_away}(q_{min} - x_{min}/s),
        q_{min}, q_{max}\\big), \\quad
        [\\tilde x_{min}, \\tilde x_{max}] = [(q_{min} - z)s, (q_{max} - z)s]

    Source: TensorFlow ``fake_quant_ops_functor.h``, ``Nudge``: the zero point
    is rounded half away from zero (``std::round``) and clamped by comparing
    the unrounded value with the range bounds. Every step is evaluated in
    ``dtype``, as TF does in float32.

    Edge cases: NaN or ``±inf`` bounds, bounds that overflow ``dtype``,
    ``min_val > max_val`` and a scale that is 0 (an empty or subnormal-width
    range) or overflows (``±3e38`` in float32, where TF gets ``inf``) raise
    ``ValueError``, as does a nudged range that overflows ``dtype``.

    Examples
    --------
    >>> lo, hi, s, z = nudge_range(-0.1, 1.0, 0, 255)
    >>> round(float(lo), 6), round(float(hi), 6), int(z)
    (-0.099216, 1.000784, 23)
    """
    check_range(quant_min, quant_max)
    quant_min, quant_max = int(quant_min), int(quant_max)
    cd = _compute_dtype(dtype)
    for label, v in (("quant_min", quant_min), ("quant_max", quant_max)):
        _representable(label, v, cd)
    _representable("quant_max - quant_min", cd.type(quant_max) - cd.type(quant_min), cd)
    lo, hi = _checked_range(min_val, max_val, cd)
    with np.errstate(over="ignore", under="ignore"):
        scale = np.asarray((hi - lo) / (cd.type(quant_max) - cd.type(quant_min)))
    if np.any(~(scale > 0)) or not np.all(np.isfinite(scale)):
        raise ValueError(
            "nudge_range needs max_val > min_val with a finite, nonzero scale "
            f"(max_val - min_val) / (quant_max - quant_min) in {cd}, got min_val={show_values(lo)}, "
            f"max_val={show_values(hi)} (scale {show_values(scale)})"
        )
    nudged_min, nudged_max, scale, zp = nudge_kernel(lo, hi, quant_min, quant_max, cd)
    if not (np.all(np.isfinite(nudged_min)) and np.all(np.isfinite(nudged_max))):
        raise ValueError(
            f"the nudged range overflows {cd}: min_val={show_values(lo)}, max_val={show_values(hi)} give "
            f"nudged_min={show_values(nudged_min)}, nudged_max={show_values(nudged_max)}"
        )
    return np.asarray(nudged_min), np.asarray(nudged_max), np.asarray(scale), np.asarray(zp).astype(np.int64)


def nudge_kernel(
    lo: NDArray[Any],
    hi: NDArray[Any],
    quant_min: int,
    quant_max: int,
    cd: np.dtype[Any],
    flush: Callable[[Any], NDArray[Any]] = np.asarray,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """TF's ``Nudge``, unchecked, elementwise in ``cd``: ``(nudged_min, nudged_max, scale, zero_point)``.

    The one source of the nudge (:func:`nudge_range` checks and calls it;
    :mod:`refquant.interop.tf` calls it with ``flush`` = TF's flush of
    subnormals, applied to every arithmetic result, and on ranges
    ``nudge_range`` rejects). The zero point is returned in ``cd``; a NaN one
    (from a NaN range) becomes 0, as x86-64's cast of NaN to an integer does.
    """
    qmin_f, qmax_f = cd.type(quant_min), cd.type(quant_max)
    with np.errstate(all="ignore"):
        scale = flush((hi - lo) / (qmax_f - qmin_f))
        zp_from_min = np.asarray(qmin_f - flush(lo / scale))
        rounded = round_unchecked(zp_from_min, "half_away", None)
        zp = np.where(zp_from_min < qmin_f, qmin_f, np.where(zp_from_min > qmax_f, qmax_f, rounded))
        zp = np.where(np.isnan(zp), cd.type(0), zp).astype(cd)
        nudged_min = flush((qmin_f - zp) * scale)
        nudged_max = flush((qmax_f - zp) * scale)
    return nudged_min, nudged_max, scale, zp


def _checked_range(
    min_val: ArrayLike, max_val: ArrayLike, cd: np.dtype[Any]
) -> tuple[NDArray[Any], NDArray[Any]]:
    lo_in = as_float_array("min_val", min_val)
    hi_in = as_float_array("max_val", max_val)
    for label, v in (("min_val", min_val), ("max_val", max_val)):
        if np.asarray(v).dtype.kind == "b":
            raise TypeError(f"{label} must be a real (float or integer) array, got bool {v!r}"[:200])
    if lo_in.shape != hi_in.shape:
        raise ValueError(f"min_val and max_val must have the same shape, got {lo_in.shape} and {hi_in.shape}")
    if not (np.all(np.isfinite(lo_in)) and np.all(np.isfinite(hi_in))):
        raise ValueError(
            f"min_val and max_val must be finite, got min_val={show_values(lo_in)}, "
            f"max_val={show_values(hi_in)}"
        )
    with np.errstate(over="ignore", under="ignore"):
        lo, hi = lo_in.astype(cd), hi_in.astype(cd)
    for label, given, cast in (("min_val", lo_in, lo), ("max_val", hi_in, hi)):
        if not np.all(np.isfinite(cast)):
            bad = ~np.isfinite(cast)
            raise ValueError(
                f"{label}={show_values(given[bad])} overflows the compute dtype {cd}; use a wider dtype"
            )
    if np.any(lo > hi):
        bad = lo > hi
        raise ValueError(
            f"min_val must be <= max_val, got min_val={show_values(lo_in[bad])}, "
            f"max_val={show_values(hi_in[bad])}"
        )
    return lo, hi


def _guard(
    scale: NDArray[Any], eps: float | None, cd: np.dtype[Any], lo: NDArray[Any], hi: NDArray[Any]
) -> NDArray[Any]:
    """``max(scale, eps)`` in ``cd``; ``ValueError`` for a scale that is 0 or not finite."""
    scale = np.array(scale, dtype=cd)
    if eps is not None:
        with np.errstate(under="ignore"):
            scale = np.maximum(scale, cd.type(eps))
    if np.any(scale <= 0):
        why = "and eps=None" if eps is None else f"and eps={eps!r} rounds to 0 in {cd}"
        raise ValueError(
            "the scale is 0 (an empty range max == min == 0, or a range so small that the scale "
            f"underflows) {why}: min_val={show_values(lo[scale <= 0])}, max_val={show_values(hi[scale <= 0])}"
        )
    if not np.all(np.isfinite(scale)):
        bad = ~np.isfinite(scale)
        raise ValueError(
            f"min_val={show_values(lo[bad])}, max_val={show_values(hi[bad])} give a scale that overflows {cd}"
        )
    return np.asarray(scale, dtype=cd)
