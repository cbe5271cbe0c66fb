"""TensorFlow Model Optimization's pruning schedules, bit for bit, in NumPy.

Names and arguments follow ``tfmot.sparsity.keras.PolynomialDecay`` and
``ConstantSparsity``; a schedule object called on a step returns
``(should_prune, sparsity)``, and so do these functions. TF-MOT and
TensorFlow are never imported. Source:
``tensorflow_model_optimization/python/core/sparsity/keras/pruning_schedule.py``
(TF-MOT 0.8.1), checked bit for bit against tensorflow-model-optimization
0.8.1 with tensorflow 2.21 and tf-keras 2.21 in
``tests/conformance/test_tfmot_conformance.py``.

**Gating** (``PruningSchedule._should_prune_in_step``), in integers::

    should_prune = step >= begin_step and (step <= end_step or end_step < 0)
                   and (step - begin_step) % frequency == 0      # floor modulo

**PolynomialDecay's sparsity**, every operation in float32::

    p = min(1, max(0, fl32(step - begin_step) / fl32(end_step - begin_step)))
    sparsity = fl32(initial_sparsity - final_sparsity) * powf(1 - p, fl32(power)) + fl32(final_sparsity)

``initial_sparsity - final_sparsity`` is a Python (double) subtraction,
rounded once to float32; so the sparsity at ``begin_step`` is not
``initial_sparsity`` but ``fl32(fl32(s_i - s_f) + fl32(s_f))``: 0.09999996
for ``s_i = 0.1, s_f = 0.9``. The sparsity is computed at every step,
outside ``[begin_step, end_step]`` too (``p`` is clipped), whatever the gating.

How TF evaluates it, and how that is mirrored. TF-MOT calls the schedule
with one scalar step; the arithmetic then depends on whether it runs eagerly
or inside a ``tf.function``, and ``mode`` picks which:

* ``mode="eager"`` (default; ``PolynomialDecay(...)(step)`` called
  directly): the ops run as written. ``pow`` of the 0-d float32 tensors runs
  Eigen's scalar path, ``std::pow(float, float)``: the C library's ``powf``
  (glibc's on Linux), which is not always correctly rounded (about 0.1% of
  arguments differ in the last bit from the correctly rounded power; NumPy's
  float32 ``np.power`` differs from both, and so does TF's own vectorized
  ``pow`` on a vector of steps). ``powf="libm"`` (default) calls that same
  ``powf`` through :mod:`ctypes` and is bit-identical to TF on the same
  machine; ``powf="correctly_rounded"`` rounds the float64 power once, is
  portable, and may differ in the last bit.
* ``mode="graph"`` (inside ``tf.function``, as ``model.fit`` runs
  ``prune_low_magnitude``'s mask update): TF 2.21's Grappler rewrites the
  graph first. Constant folding turns ``x / (end_step - begin_step)`` into
  ``x * fl32(1 / fl32(end_step - begin_step))``; the arithmetic optimizer
  replaces ``pow`` by a constant exponent of 3, 2, 1, 0 or 0.5 with
  ``x * Square(x)``, ``Square``, ``Identity``, ``OnesLike`` or ``Sqrt`` (and
  -0.5, -1 by ``Rsqrt``, ``Reciprocal``; refquant rejects negative powers), and for 3 the multiplication by
  ``c = fl32(s_i - s_f)`` is pushed down: ``(c * x) * (x * x) + fl32(s_f)``.
  Other exponents keep ``powf``. The sparsities of the two modes differ in
  the last bits at about a quarter of the steps; the gating is the same.
  The reciprocal can also leave ``p = 1 - 2**-24`` at ``end_step`` (for
  ``end_step - begin_step = 321``, say): then the graph's sparsity at
  ``end_step`` misses ``final_sparsity`` by ``|s_i - s_f| 2**(-24 power)``,
  invisible for ``power = 3`` but ``2**-12`` relative for ``power = 0.5``.
* ``tf.math.maximum`` / ``minimum`` propagate NaN. With ``end_step ==
  begin_step`` (allowed by TF-MOT), ``p = 0 / 0 = NaN`` at ``begin_step``,
  so the sparsity there is NaN (``powf(NaN, 0) = 1`` when ``power == 0``);
  before it ``p = -inf -> 0``, after it ``+inf -> 1``. Mirrored in both modes.
* Steps are int64 (the ``pruning_step`` variable of ``prune_low_magnitude``
  is int64, set to 0 by the ``UpdatePruningStep`` callback at the start of
  training and incremented at every training batch). Eagerly, TF converts a
  Python int step to int32, so steps beyond ``2**31`` wrap around there;
  that is not mirrored. ``step - begin_step`` is int64 arithmetic and wraps
  around for steps near ``-2**63``, as in TF.

Validation is TF-MOT's (``_validate_step``, ``_validate_sparsity``), with the
same conditions: ``begin_step >= 0``; ``end_step`` is -1 (``ConstantSparsity``
only) or ``>= begin_step``; ``frequency > 0``; sparsities in [0, 1) (NaN
fails that check, as in TF-MOT). Stricter than TF-MOT: ``power`` must be
finite and ``>= 0`` (also in float32; TF-MOT does not check it, and a NaN,
infinite or negative power gives NaN or sparsities outside [0, 1]); the
step parameters must be ints (not bools, not floats) within int64.

Where it departs from refquant's own schedules
(:mod:`refquant.prune.schedules`, float64 and exact): the float32
roundings above, the NaN at ``end_step == begin_step``, and the half-open
sparsity range. Also note the TF-MOT pitfall: when ``end_step - begin_step``
is not a multiple of ``frequency``, no pruning step lands on ``end_step`` and
the mask never reaches ``final_sparsity``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_int_array, check_choice
from refquant.prune.schedules import ScheduleStep, step_gate  # the same gating as TF-MOT

__all__ = ["PruningScheduleStep", "constant_sparsity", "polynomial_decay"]

Powf = Literal["libm", "correctly_rounded"]
Mode = Literal["eager", "graph"]
_F32 = np.float32
_One = np.float32(1.0)

# Grappler (TF 2.21) in a tf.function: the arithmetic optimizer's pow conversion for these constant
# exponents, then constant push-down of the multiplication by c = fl32(s_i - s_f); all in float32.
_GRAPPLER_POW: dict[float, Callable[[Any, Any], Any]] = {
    3.0: lambda c, x: (c * x) * (x * x),  # Pow(x, 3) -> Mul(x, Square(x)); c * (x * sq) -> (c * x) * sq
    2.0: lambda c, x: c * (x * x),  # Square
    1.0: lambda c, x: c * x,  # Identity
    0.0: lambda c, x: c * np.ones_like(x),  # OnesLike (1 even for NaN, like powf(NaN, 0))
    0.5: lambda c, x: c * np.sqrt(x),  # Sqrt
}  # (Grappler also rewrites -0.5 and -1, to Rsqrt and Reciprocal: negative powers are rejected here)


#: ``(should_prune, sparsity)`` as a TF-MOT schedule returns them, as arrays of the step's shape
#: (``sparsity`` in float32): the same type as :class:`refquant.prune.ScheduleStep`.
PruningScheduleStep = ScheduleStep


def polynomial_decay(
    step: ArrayLike,
    *,
    initial_sparsity: float,
    final_sparsity: float,
    begin_step: int,
    end_step: int,
    power: float = 3,
    frequency: int = 100,
    powf: Powf = "libm",
    mode: Mode = "eager",
) -> PruningScheduleStep:
    """``PolynomialDecay(...)(step)``: ``s_f + (s_i - s_f) * (1 - p)**power`` in float32, gated.

    Parameters
    ----------
    step : int or array_like of int
        Training steps (int64; any values, also negative).
    initial_sparsity, final_sparsity : float
        In [0, 1), as TF-MOT validates.
    begin_step : int
        >= 0.
    end_step : int
        >= ``begin_step`` (TF-MOT rejects -1 here).
    power : float
        The exponent (default 3), finite and ``>= 0`` (TF-MOT does not
        check it), converted to float32.
    frequency : int
        > 0 (default 100).
    powf : {"libm", "correctly_rounded"}
        How ``(1 - p)**power`` is rounded to float32: the C library's
        ``powf``, as TF (default), or the float64 power rounded once
        (module docstring).
    mode : {"eager", "graph"}
        ``"eager"`` (default): the schedule object called directly, as
        written. ``"graph"``: inside a ``tf.function`` (as in ``model.fit``
        with ``prune_low_magnitude``), after TF 2.21's Grappler rewrites
        (module docstring).

    Returns
    -------
    PruningScheduleStep
        ``should_prune`` (bool) and ``sparsity`` (float32), of ``step``'s shape.

    Notes
    -----
    .. math:: s_t = s_f + (s_i - s_f)\\,\\Big(1 - \\min\\Big(1, \\max\\Big(0,
              \\frac{t - t_0}{t_1 - t_0}\\Big)\\Big)\\Big)^{p}

    with every operation rounded to float32 as TF does (module docstring).
    Source: TF-MOT ``pruning_schedule.py``, ``PolynomialDecay.__call__`` and
    ``PruningSchedule._should_prune_in_step``; the formula is Zhu & Gupta 2017.

    Examples
    --------
    >>> r = polynomial_decay([0, 100, 600, 1050, 1100, 1200], initial_sparsity=0.1,
    ...                      final_sparsity=0.9, begin_step=100, end_step=1100)
    >>> r.should_prune.tolist()
    [False, True, True, False, True, False]
    >>> r.sparsity.tolist()  # fl32(fl32(-0.8) * (1 - p)**3 + fl32(0.9)), p = 0, 0, 1/2, 19/20, 1, 1
    [0.09999996423721313, 0.09999996423721313, 0.7999999523162842,
     0.899899959564209, 0.8999999761581421, 0.8999999761581421]
    """
    t = as_int_array("step", step)
    _validate(begin_step, end_step, frequency, allow_no_end=False)
    si = _sparsity("initial_sparsity", initial_sparsity)
    sf = _sparsity("final_sparsity", final_sparsity)
    if isinstance(power, (bool, np.bool_)) or not isinstance(power, (int, float, np.integer, np.floating)):
        raise TypeError(f"power must be a real number, got {power!r}")
    try:
        with np.errstate(over="ignore"):
            e32 = _F32(float(power))
    except OverflowError:  # a Python int beyond float64
        e32 = _F32(np.inf)
    if not (np.isfinite(e32) and e32 >= 0):
        raise ValueError(
            f"power must be finite and >= 0 (also in float32; TF-MOT does not check it), got {power!r}"
        )
    check_choice("powf", powf, ("libm", "correctly_rounded"))
    check_choice("mode", mode, ("eager", "graph"))
    c, f, e = _F32(si - sf), _F32(sf), _F32(power)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = (t - begin_step).astype(_F32)
        span = _F32(end_step - begin_step)
        q = d / span if mode == "eager" else d * (_F32(1.0) / span)  # constant folding: x / c -> x * (1 / c)
        x = _F32(1.0) - np.minimum(_F32(1.0), np.maximum(_F32(0.0), q))
        if mode == "graph" and float(e) in _GRAPPLER_POW:
            scaled = _GRAPPLER_POW[float(e)](c, x)
        else:
            scaled = c * _pow_f32(x, e, powf)
        sparsity = np.asarray(scaled + f, dtype=_F32)
    return PruningScheduleStep(step_gate(t, begin_step, end_step, frequency), sparsity)


def constant_sparsity(
    step: ArrayLike,
    *,
    target_sparsity: float,
    begin_step: int,
    end_step: int = -1,
    frequency: int = 100,
) -> PruningScheduleStep:
    """``ConstantSparsity(...)(step)``: ``fl32(target_sparsity)``, gated every ``frequency`` steps.

    Parameters
    ----------
    step : int or array_like of int
    target_sparsity : float
        In [0, 1).
    begin_step : int
        >= 0.
    end_step : int
        -1 (default: no end) or >= ``begin_step``.
    frequency : int
        > 0 (default 100).

    Returns
    -------
    PruningScheduleStep
        ``should_prune`` (bool) and ``sparsity`` (float32, ``fl32(target_sparsity)``
        everywhere), of ``step``'s shape.

    Notes
    -----
    .. math:: \\mathrm{prune}(t) = [t_0 \\le t] \\wedge [t \\le t_1 \\vee t_1 < 0]
              \\wedge [(t - t_0) \\bmod \\Delta t = 0], \\qquad s_t = \\mathrm{fl}_{32}(s)

    Source: TF-MOT ``pruning_schedule.py``, ``ConstantSparsity.__call__``
    (``tf.constant(target_sparsity, dtype=tf.float32)``).

    Examples
    --------
    >>> r = constant_sparsity([0, 99, 100, 200, 250], target_sparsity=0.5, begin_step=100)
    >>> r.should_prune.tolist(), r.sparsity.tolist()
    ([False, False, True, True, False], [0.5, 0.5, 0.5, 0.5, 0.5])
    """
    t = as_int_array("step", step)
    _validate(begin_step, end_step, frequency, allow_no_end=True)
    s = _sparsity("target_sparsity", target_sparsity)
    return PruningScheduleStep(step_gate(t, begin_step, end_step, frequency), np.full(t.shape, _F32(s)))


def _pow_f32(base: NDArray[np.float32], exponent: np.float32, how: str) -> NDArray[np.float32]:
    if how == "correctly_rounded":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.power(base.astype(np.float64), np.float64(exponent)).astype(_F32)
    c_powf = _libm_powf()
    values, inverse = np.unique(base, return_inverse=True)
    results = np.array([c_powf(float(v), float(exponent)) for v in values], dtype=_F32)
    return results[inverse].reshape(base.shape)


@functools.cache
def _libm_powf() -> Callable[[float, float], float]:
    """The C library's ``powf(float, float)``, the function TensorFlow's CPU kernel calls."""
    for name in (ctypes.util.find_library("m"), ctypes.util.find_library("c"), "ucrtbase"):
        if not name:
            continue
        try:
            fn: Any = ctypes.CDLL(name).powf
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_float, ctypes.c_float]
        return fn
    raise RuntimeError("no C library with powf was found; pass powf='correctly_rounded'")


def _validate(begin_step: int, end_step: int, frequency: int, *, allow_no_end: bool) -> None:
    for name, value in (("begin_step", begin_step), ("end_step", end_step), ("frequency", frequency)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not -(2**63) <= int(value) < 2**63:
            raise ValueError(f"{name} must fit in int64 (TF-MOT's steps are int64), got {value!r}")
    if begin_step < 0:
        raise ValueError(f"begin_step should be >= 0, got {begin_step}")
    if not allow_no_end and end_step == -1:
        raise ValueError("end_step cannot be -1 for PolynomialDecay")
    if end_step != -1:
        if end_step < 0:
            raise ValueError(f"end_step can be -1 or >= 0, got {end_step}")
        if end_step < begin_step:
            raise ValueError(
                f"begin_step should be <= end_step if end_step != -1, got {begin_step} > {end_step}"
            )
    if frequency <= 0:
        raise ValueError(f"frequency should be > 0, got {frequency}")


def _sparsity(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in range [0,1), got {value!r}")
    return float(value)
