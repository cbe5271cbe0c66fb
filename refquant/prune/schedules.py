"""Sparsity schedules: which sparsity to prune to, and at which training steps.

Every schedule maps a training step ``t`` (an int or an integer array) to a
:class:`ScheduleStep` of two arrays of ``t``'s shape:

* ``should_prune`` -- recompute the mask at this step (the gating);
* ``sparsity`` -- the target fraction of zeros at this step, in float64.

The gating is TF-MOT's: prune at ``t = begin_step + k * frequency`` for
``k = 0, 1, ...`` while ``t <= end_step`` (``end_step = -1``: forever). The
sparsity is defined at every step, also between pruning steps and outside
``[begin_step, end_step]``, where it is held at its end values; a training
loop applies it only where ``should_prune`` is true and keeps the mask in
between.

* :func:`constant_sparsity` -- one target throughout;
* :func:`polynomial_decay` -- ``s_f + (s_i - s_f) (1 - p)**power``, ``p`` the
  progress through ``[begin_step, end_step]``;
* :func:`gradual_magnitude_pruning` -- Zhu & Gupta's cubic schedule, in their
  parametrization (``n`` pruning intervals of ``frequency`` steps);
* :func:`iterative_pruning_sparsity` -- the overall sparsity after ``k``
  rounds of pruning a fraction of what is left (lottery-ticket rounds).

These compute in float64 with the exact formulas. Arguments are validated:
sparsities and rates are real numbers in [0, 1] (NaN, bools and strings
raise), ``power`` finite and > 0, steps and counts ints (not bools, not
floats) within int64, ``frequency >= 1`` and ``end_step >= begin_step``;
``step`` may be any int64 values (``t - t0`` is never formed where it could
wrap around). TF-MOT's schedules,
bit for bit in float32, are :mod:`refquant.interop.tfmot`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_int_array
from refquant.prune._checks import check_int, check_real

__all__ = [
    "ScheduleStep",
    "constant_sparsity",
    "gradual_magnitude_pruning",
    "iterative_pruning_sparsity",
    "polynomial_decay",
]


class ScheduleStep(NamedTuple):
    """A schedule's answer at some steps: whether to prune, and to which sparsity.

    ``sparsity`` is float64 for refquant's schedules and float32 for the TF-MOT
    ones (:mod:`refquant.interop.tfmot`, which return this same type).
    """

    should_prune: NDArray[np.bool_]
    sparsity: NDArray[np.floating[Any]]


def constant_sparsity(
    step: ArrayLike,
    *,
    target_sparsity: float,
    begin_step: int = 0,
    end_step: int = -1,
    frequency: int = 1,
) -> ScheduleStep:
    """``sparsity = target_sparsity``, pruning at ``begin_step + k * frequency <= end_step``.

    Parameters
    ----------
    step : int or array_like of int
        Training steps (any integers, also before ``begin_step``).
    target_sparsity : float
        In [0, 1].
    begin_step : int
        First pruning step, >= 0.
    end_step : int
        Last step at which pruning may happen, >= ``begin_step``; -1 (default)
        for no end.
    frequency : int
        Steps between two pruning steps, >= 1 (default 1: every step).

    Returns
    -------
    ScheduleStep
        ``should_prune`` (bool) and ``sparsity`` (float64, ``target_sparsity``
        everywhere), both of ``step``'s shape.

    Notes
    -----
    .. math:: \\mathrm{prune}(t) = [t_0 \\le t] \\wedge [t \\le t_1 \\vee t_1 = -1]
              \\wedge [(t - t_0) \\bmod \\Delta t = 0], \\qquad s_t = s

    Source: TF-MOT's ``ConstantSparsity`` (``pruning_schedule.py``), in
    float64; :func:`refquant.interop.tfmot.constant_sparsity` is the float32
    original with TF-MOT's defaults.

    Examples
    --------
    >>> r = constant_sparsity([0, 5, 10, 12, 20], target_sparsity=0.5, begin_step=10, frequency=2)
    >>> r.should_prune.tolist(), r.sparsity.tolist()
    ([False, False, True, True, True], [0.5, 0.5, 0.5, 0.5, 0.5])
    """
    t = as_int_array("step", step)
    _check_steps(begin_step, end_step, frequency, allow_no_end=True)
    s = _sparsity("target_sparsity", target_sparsity)
    return ScheduleStep(step_gate(t, begin_step, end_step, frequency), np.full(t.shape, s))


def polynomial_decay(
    step: ArrayLike,
    *,
    initial_sparsity: float,
    final_sparsity: float,
    begin_step: int,
    end_step: int,
    power: float = 3.0,
    frequency: int = 1,
) -> ScheduleStep:
    """``s_f + (s_i - s_f) * (1 - clip((t - t0) / (t1 - t0), 0, 1))**power``, gated every ``frequency`` steps.

    Parameters
    ----------
    step : int or array_like of int
    initial_sparsity, final_sparsity : float
        ``s_i`` at ``begin_step`` and ``s_f`` from ``end_step`` on, each in [0, 1].
    begin_step : int
        ``t0``, >= 0.
    end_step : int
        ``t1``, >= ``t0`` (no -1: the decay needs an end).
    power : float
        Finite, > 0 (default 3, the cubic of Zhu & Gupta).
    frequency : int
        Steps between pruning steps, >= 1.

    Returns
    -------
    ScheduleStep
        ``should_prune`` as in :func:`constant_sparsity`; ``sparsity`` in
        float64, ``s_i`` up to ``t0``, ``s_f`` from ``t1`` on, and monotone
        between (nondecreasing when ``s_i <= s_f``).

    Notes
    -----
    .. math:: s_t = s_f + (s_i - s_f)\\Big(1 - \\min\\Big(1, \\max\\Big(0,
              \\frac{t - t_0}{t_1 - t_0}\\Big)\\Big)\\Big)^{p}

    Source: Zhu & Gupta 2017, "To prune, or not to prune" (arXiv:1710.01878),
    eq. 1 with a general power, as TF-MOT's ``PolynomialDecay``
    (``pruning_schedule.py``). Choices here, where TF-MOT differs
    (:func:`refquant.interop.tfmot.polynomial_decay` mirrors it):

    * float64, evaluated as ``s_i + (s_f - s_i)(1 - (1 - p)**power)`` and
      clipped to the range of ``s_i, s_f``: exactly ``s_i`` up to ``t0``,
      exactly ``s_f`` from ``t1`` on, and monotone in floating point too
      (every rounding in it is monotone). TF-MOT rounds every step to
      float32, so even its ``s_t`` at ``t0`` is ``fl32(fl32(s_i - s_f) + fl32(s_f))``;
    * ``t1 == t0``: ``s_i`` before ``t0``, ``s_f`` from ``t0`` on (TF-MOT
      divides 0 by 0 and returns NaN at ``t0``);
    * sparsities in [0, 1] (TF-MOT: [0, 1)), ``power > 0`` (TF-MOT: any).

    The final sparsity is reached at a *pruning* step only when
    ``t1 - t0`` is a multiple of ``frequency``: with ``t0 = 0``, ``t1 = 1050``
    and ``frequency = 100`` the last mask update is at ``t = 1000``, where
    ``s_t < s_f``, and the mask never reaches ``s_f``.
    :func:`gradual_magnitude_pruning` avoids that by construction.

    Examples
    --------
    >>> r = polynomial_decay([0, 50, 100, 150, 200, 250], initial_sparsity=0.0, final_sparsity=0.8,
    ...                      begin_step=50, end_step=250, frequency=50)
    >>> r.should_prune.tolist()
    [False, True, True, True, True, True]
    >>> [round(s, 6) for s in r.sparsity.tolist()]  # 0.8 * (1 - (1 - p)**3), p = 0, 1/4, 1/2, 3/4, 1
    [0.0, 0.0, 0.4625, 0.7, 0.7875, 0.8]
    """
    t = as_int_array("step", step)
    _check_steps(begin_step, end_step, frequency, allow_no_end=False)
    si = _sparsity("initial_sparsity", initial_sparsity)
    sf = _sparsity("final_sparsity", final_sparsity)
    pw = _positive("power", power)
    return ScheduleStep(
        step_gate(t, begin_step, end_step, frequency), _decay(t, si, sf, begin_step, end_step, pw)
    )


def gradual_magnitude_pruning(
    step: ArrayLike,
    *,
    final_sparsity: float,
    begin_step: int,
    n_steps: int,
    frequency: int,
    initial_sparsity: float = 0.0,
) -> ScheduleStep:
    """``s_t = s_f + (s_i - s_f)(1 - (t - t0) / (n dt))**3`` at ``t = t0, t0 + dt, ..., t0 + n dt``.

    Parameters
    ----------
    step : int or array_like of int
    final_sparsity : float
        ``s_f``, in [0, 1].
    begin_step : int
        ``t0``, the first pruning step, >= 0.
    n_steps : int
        ``n``, the number of pruning intervals, >= 1: the mask is updated
        ``n + 1`` times, at ``t0, t0 + dt, ..., t0 + n dt``.
    frequency : int
        ``dt``, the steps between two updates, >= 1.
    initial_sparsity : float
        ``s_i``, in [0, 1] (default 0: the first update prunes nothing).

    Returns
    -------
    ScheduleStep
        ``should_prune`` exactly at the ``n + 1`` pruning steps; ``sparsity``
        the formula with ``t`` clipped to ``[t0, t0 + n dt]`` (float64), so
        ``s_f`` at the last pruning step and after.

    Notes
    -----
    .. math:: s_t = s_f + (s_i - s_f)\\Big(1 - \\frac{t - t_0}{n\\,\\Delta t}\\Big)^3,
              \\quad t \\in \\{t_0, t_0 + \\Delta t, \\dots, t_0 + n\\Delta t\\}

    Source: Zhu & Gupta 2017, "To prune, or not to prune: exploring the
    efficacy of pruning for model compression" (arXiv:1710.01878), eq. 1:
    gradual magnitude pruning prunes the smallest-magnitude weights to
    ``s_t`` at each pruning step and trains in between. This is
    :func:`polynomial_decay` with ``end_step = t0 + n dt``, ``power = 3``
    and ``frequency = dt``, which makes the last pruning step land on
    ``end_step``.

    Examples
    --------
    >>> r = gradual_magnitude_pruning([0, 100, 150, 200, 300, 400], final_sparsity=0.875,
    ...                               begin_step=100, n_steps=2, frequency=100)
    >>> r.should_prune.tolist()  # pruning at 100, 200, 300
    [False, True, False, True, True, False]
    >>> r.sparsity.tolist()  # 0.875 * (1 - (1 - p)**3), p = 0, 0, 1/4, 1/2, 1, 1
    [0.0, 0.0, 0.505859375, 0.765625, 0.875, 0.875]
    """
    _check_int("n_steps", n_steps, minimum=1)
    _check_int("frequency", frequency, minimum=1)
    _check_int("begin_step", begin_step, minimum=0)
    if begin_step + n_steps * frequency > _INT64_MAX:
        raise ValueError(
            f"begin_step + n_steps * frequency must fit in int64 (the last pruning step), got "
            f"begin_step={begin_step}, n_steps={n_steps}, frequency={frequency}"
        )
    return polynomial_decay(
        step,
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        begin_step=begin_step,
        end_step=begin_step + n_steps * frequency,
        power=3.0,
        frequency=frequency,
    )


def iterative_pruning_sparsity(rounds: ArrayLike, *, rate: float) -> NDArray[np.float64]:
    """``1 - (1 - rate)**k``: the sparsity after ``k`` rounds that each prune ``rate`` of what is left.

    Parameters
    ----------
    rounds : int or array_like of int
        ``k >= 0``, rounds completed.
    rate : float
        The fraction of the remaining weights pruned per round, in [0, 1].

    Returns
    -------
    ndarray of float64, shape of ``rounds``

    Notes
    -----
    .. math:: s_k = 1 - (1 - r)^k

    Source: Frankle & Carbin 2019, "The Lottery Ticket Hypothesis" (ICLR),
    iterative pruning: each round prunes ``p%`` of the weights that survived
    the previous rounds (PyTorch's ``prune`` amounts with an existing mask
    mean the same). Per-round counts are rounded to integers by the mask's
    count rule, so the realized count after ``k`` rounds may differ from
    ``s_k * n`` by up to about one weight per round.

    Examples
    --------
    >>> iterative_pruning_sparsity([0, 1, 2, 3], rate=0.5).tolist()
    [0.0, 0.5, 0.75, 0.875]
    """
    k = as_int_array("rounds", rounds)
    if k.size and k.min() < 0:
        raise ValueError(f"rounds must be >= 0, got {k[k < 0].ravel()[:5].tolist()}")
    r = _sparsity("rate", rate)
    return 1.0 - np.power(1.0 - r, k.astype(np.float64))


def _decay(t: NDArray[np.int64], si: float, sf: float, t0: int, t1: int, power: float) -> NDArray[np.float64]:
    if t1 == t0:
        p = (t >= t0).astype(np.float64)
    else:  # clip the steps first: t - t0 cannot wrap around in int64
        p = (np.clip(t, t0, t1) - t0).astype(np.float64) / float(t1 - t0)
    # s_i + (s_f - s_i) q with q = 1 - (1 - p)**power increasing in p: every rounding is monotone
    s = si + (sf - si) * (1.0 - np.power(1.0 - p, power))
    s = np.clip(s, min(si, sf), max(si, sf))
    return np.asarray(np.where(p >= 1.0, sf, s), dtype=np.float64)


def step_gate(t: NDArray[np.int64], t0: int, t1: int, frequency: int) -> NDArray[np.bool_]:
    """Steps ``t`` where a schedule updates: ``t0 <= t <= t1`` (``t1 = -1``: no end), every ``frequency``.

    Shared with :mod:`refquant.interop.tfmot` (TF-MOT gates its schedules the same way); unchecked.
    """
    in_range = (t >= t0) & ((t <= t1) | (t1 < 0))
    return np.asarray(in_range & (np.mod(t - t0, frequency) == 0))


_INT64_MAX = 2**63 - 1


def _check_int(name: str, value: object, *, minimum: int) -> int:
    """An int (not a bool) in ``[minimum, 2**63 - 1]``: steps are compared as int64."""
    return check_int(name, value, minimum=minimum, maximum=_INT64_MAX)


def _check_steps(begin_step: int, end_step: int, frequency: int, *, allow_no_end: bool) -> None:
    _check_int("begin_step", begin_step, minimum=0)
    _check_int("end_step", end_step, minimum=-1)
    _check_int("frequency", frequency, minimum=1)
    if end_step == -1 and not allow_no_end:
        raise ValueError("end_step must be >= begin_step: this schedule needs an end (-1 is not allowed)")
    if end_step != -1 and end_step < begin_step:
        raise ValueError(f"end_step must be >= begin_step ({begin_step}) or -1, got {end_step}")


def _sparsity(name: str, value: Any) -> float:
    return check_real(name, value, 0.0, 1.0)


def _positive(name: str, value: Any) -> float:
    return check_real(name, value, 0.0, math.inf, lo_open=True, hi_open=True)
