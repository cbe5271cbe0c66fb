"""TensorFlow's FakeQuant ops and their gradient ops on CPU, bit-identical, in NumPy.

Names and defaults follow ``tf.quantization``; TensorFlow is never imported.
Source: ``tensorflow/core/kernels/fake_quant_ops_functor.h`` and
``fake_quant_ops.cc`` (TF >= 2.4); checked bit for bit against tensorflow-cpu
2.21 in ``tests/conformance``. With ``[qmin, qmax] = [narrow_range,
2**num_bits - 1]``, every step in float32:

1. **Nudge** the range so that 0.0 falls on the grid::

       scale = (max - min) / (qmax - qmin);  inv_scale = (qmax - qmin) / (max - min)  # not 1/scale
       zp = clamp(std::round(qmin - min / scale))  # half away from 0; clamped before rounding
       nudged_min, nudged_max = (qmin - zp) * scale, (qmax - zp) * scale
       quant_zero = floor(-nudged_min * inv_scale + 0.5f)

   A range that excludes 0 is moved to touch it: ``[0.5, 3.5]`` with 2 bits
   becomes ``[0, 3]``.
2. **Forward**: clamp to the nudged range *first*, then
   ``floor((clamped - nudged_min) OP - quant_zero + 0.5f) * scale``. ``OP``
   is ``/ scale`` for ``fake_quant_with_min_max_vars`` and ``* inv_scale``
   for the per-channel and ``_args`` ops, so they can differ by one step at
   a tie.
3. **Gradients**: ``grad * (nudged_min <= x <= nudged_max)`` (both ends
   included) for the inputs; ``min`` gets ``sum(grad * (x < nudged_min))``,
   ``max`` gets ``sum(grad * (x > nudged_max))``. The masks are multiplied
   as 0.0/1.0, so an inf or NaN ``grad`` gives NaN where it is masked out
   and in both sums.

Where it departs from PyTorch's ``fake_quantize_per_tensor_affine``
(:mod:`refquant.interop.torch`):

* TF takes a float range, not ``(scale, zero_point)``, and nudges it; the
  codes are always unsigned, ``[0 or 1, 2**num_bits - 1]``.
* TF clamps the float input before rounding; PyTorch rounds ``x * fl(1/s)``
  and clamps the integer code.
* TF rounds ``floor(t + 0.5f)`` in float32, with
  ``t = (x - nudged_min) / s - quant_zero`` after three roundings. It is not
  the exact ``half_up`` of :mod:`refquant.rounding`: ``0.49999997f + 0.5f``
  rounds to ``1.0f``, so ``t = 0.49999997`` gives 1. PyTorch rounds half to
  even: a tie at -1.5 steps gives -1 in TF and -2 in PyTorch.
* TF's gradient window is the closed nudged range. PyTorch tests the
  rounded code, so it also passes values up to half a step outside it: at
  ``x = nudged_max + s/4`` PyTorch passes ``grad`` to ``x``, while TF sends
  it to ``max``.
* TF has clipping gradients for ``min`` and ``max`` (as in PACT), blind to
  how the grid inside the range depends on them.

NaN and inf (all mirrored):

* A NaN input stays NaN, gets gradient 0 and counts for neither bound;
  ``±inf`` clamp to the nudged bounds and their gradient goes to ``max``/``min``.
* The ``_vars`` ops: ``min == max == 0`` outputs zeros and passes ``grad``
  through (``min``/``max`` gradients 0). ``min == max != 0`` outputs NaN,
  since the scale is 0 and ``quant_zero`` is NaN. ``min > max`` is not
  checked: every non-NaN input then maps to ``nudged_min``. Non-finite
  ``min``/``max`` give NaN, with zero point 0 when ``qmin - min / scale``
  is NaN (x86-64's result for the cast, which C++ leaves undefined).
  ``fake_quant_with_min_max_args`` rejects ``min >= max``, as TF does.

Two details of how TF runs these kernels on CPU, both mirrored:

* **Subnormals are flushed to zero** (FTZ and DAZ are set,
  ``port::ScopedFlushDenormal``). ``x = -1e-45`` counts as 0, so it gets
  the input gradient when ``nudged_min == 0``. The range
  ``[-1e-45, 1e-45]`` counts as ``min == max == 0``.
* **The min/max gradients are float32 sums in the order of Eigen's
  single-threaded reduction** (x86-64 AVX build, ``_eigen_sum``):
  ``[2**24, 1, 1]``, all below the range, sums to ``2**24``, not
  ``2**24 + 2``. Above about 5 * 10**4 values per tensor or channel, Eigen
  spreads the sum over the intra-op threads; TF's last bits then depend on
  the thread count, and this module stays within float32 rounding of them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.rounding import round_to_integer

__all__ = [
    "FakeQuantGradients",
    "fake_quant_with_min_max_args",
    "fake_quant_with_min_max_args_vjp",
    "fake_quant_with_min_max_vars",
    "fake_quant_with_min_max_vars_per_channel",
    "fake_quant_with_min_max_vars_per_channel_vjp",
    "fake_quant_with_min_max_vars_vjp",
]

_F32 = np.float32
_HALF = np.float32(0.5)
_TINY = np.finfo(np.float32).tiny  # smallest normal float32


class FakeQuantGradients(NamedTuple):
    """Gradients w.r.t. ``inputs``, ``min`` and ``max`` (TF's ``backprops_wrt_*``)."""

    grad_inputs: NDArray[np.float32]
    grad_min: NDArray[np.float32]
    grad_max: NDArray[np.float32]


class _Nudged(NamedTuple):
    nudged_min: NDArray[np.float32]
    nudged_max: NDArray[np.float32]
    scale: NDArray[np.float32]
    inv_scale: NDArray[np.float32]
    quant_zero: NDArray[np.float32]


def fake_quant_with_min_max_vars(
    inputs: ArrayLike, min: ArrayLike, max: ArrayLike, num_bits: int = 8, narrow_range: bool = False
) -> NDArray[np.float32]:
    """``tf.quantization.fake_quant_with_min_max_vars``: ``floor((clamp(x) - m) / s - z + 0.5) * s``.

    Parameters
    ----------
    inputs : array_like of float, any shape
        Rounded to float32, as TF converts NumPy arrays.
    min, max : float or 0-d array_like
        The range, rounded to float32. It need not contain 0; ``min > max``
        and ``min == max`` are not rejected (module docstring).
    num_bits : int
        2 to 16.
    narrow_range : bool
        Codes ``[1, 2**num_bits - 1]`` instead of ``[0, 2**num_bits - 1]``.

    Returns
    -------
    ndarray of float32, shape of ``inputs``

    Notes
    -----
    .. math::

        \\hat x = \\Big\\lfloor \\mathrm{fl}\\Big(\\frac{\\operatorname{clamp}(x,
        \\tilde m, \\tilde M) - \\tilde m}{s}\\Big) - z + \\tfrac12
        \\Big\\rfloor \\, s

    with ``(m~, M~, s, z)`` from TF's ``Nudge`` (module docstring) and every
    step rounded to float32. ``min == max == 0`` gives zeros. Source:
    ``FakeQuantWithMinMaxVarsFunctor`` in ``fake_quant_ops_functor.h``.

    Examples
    --------
    >>> fake_quant_with_min_max_vars([-2.0, 0.4, 0.5, 1.5, 9.0], -1.0, 2.0, num_bits=2).tolist()
    [-1.0, 0.0, 1.0, 2.0, 2.0]
    >>> fake_quant_with_min_max_vars([0.25, 1.0, 4.0], 0.5, 3.5, num_bits=2).tolist()
    [0.0, 1.0, 3.0]
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    lo, hi = _scalar_range(min, max)
    return _forward(x, lo, hi, qmin, qmax, divide=True)


def fake_quant_with_min_max_vars_vjp(
    grad: ArrayLike,
    inputs: ArrayLike,
    min: ArrayLike,
    max: ArrayLike,
    num_bits: int = 8,
    narrow_range: bool = False,
) -> FakeQuantGradients:
    """``FakeQuantWithMinMaxVarsGradient``: ``(g * [m <= x <= M], sum(g * [x < m]), sum(g * [x > M]))``.

    Parameters
    ----------
    grad : array_like of float, shape of ``inputs``
        Cotangent of the output, rounded to float32.
    inputs, min, max, num_bits, narrow_range
        As in :func:`fake_quant_with_min_max_vars`.

    Returns
    -------
    FakeQuantGradients
        ``grad_inputs`` (float32, shape of ``inputs``) and the 0-d float32
        ``grad_min`` and ``grad_max``.

    Notes
    -----
    .. math::

        \\frac{\\partial L}{\\partial x} = g\\,[\\tilde m \\le x \\le \\tilde M], \\quad
        \\frac{\\partial L}{\\partial \\min} = \\sum g\\,[x < \\tilde m], \\quad
        \\frac{\\partial L}{\\partial \\max} = \\sum g\\,[x > \\tilde M]

    Both bounds are inclusive for the inputs; NaN inputs get 0 and count
    nowhere. ``min == max == 0`` passes ``grad`` through. Sums: module
    docstring. Source: ``FakeQuantWithMinMaxVarsGradientFunctor`` (the op
    ``tf.quantization.fake_quant_with_min_max_vars_gradient``, which
    ``tf.GradientTape`` calls).

    Examples
    --------
    >>> g = fake_quant_with_min_max_vars_vjp([1.0, 2.0, 4.0, 8.0], [-3.0, -1.0, 2.0, 5.0], -1.0, 2.0, 2)
    >>> g.grad_inputs.tolist(), float(g.grad_min), float(g.grad_max)
    ([0.0, 2.0, 4.0, 0.0], 1.0, 8.0)
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    g = _grad_like(grad, x)
    lo, hi = _scalar_range(min, max)
    gi, gmin, gmax = _backward(g, x, lo, hi, qmin, qmax)
    return FakeQuantGradients(gi, gmin.reshape(()), gmax.reshape(()))


def fake_quant_with_min_max_vars_per_channel(
    inputs: ArrayLike, min: ArrayLike, max: ArrayLike, num_bits: int = 8, narrow_range: bool = False
) -> NDArray[np.float32]:
    """``tf.quantization.fake_quant_with_min_max_vars_per_channel``: ``floor((clamp(x)-m)*inv - z + .5) * s``.

    Parameters
    ----------
    inputs : array_like of float, shape ``(..., d)``, at least 1-D
        Channels along the last axis (a 1-D input is ``d`` one-element
        channels). Rounded to float32. TF aborts the process on 0-d inputs;
        this function raises ``ValueError``.
    min, max : array_like of float, shape ``(d,)``
        One range per channel, rounded to float32.
    num_bits, narrow_range
        As in :func:`fake_quant_with_min_max_vars`.

    Returns
    -------
    ndarray of float32, shape of ``inputs``

    Notes
    -----
    .. math::

        \\hat x = \\Big\\lfloor \\mathrm{fl}\\big((\\operatorname{clamp}(x,
        \\tilde m_c, \\tilde M_c) - \\tilde m_c) \\cdot \\sigma_c\\big) - z_c +
        \\tfrac12 \\Big\\rfloor \\, s_c,
        \\qquad \\sigma_c = \\mathrm{fl}\\Big(\\frac{q_{max} - q_{min}}{\\max_c - \\min_c}\\Big)

    This multiplies by ``inv_scale`` where the per-tensor op divides by
    ``scale``, so a one-channel call can differ from
    :func:`fake_quant_with_min_max_vars` by one step at a tie. It equals
    :func:`fake_quant_with_min_max_args` channel by channel. Source:
    ``FakeQuantWithMinMaxVarsPerChannelFunctor``.

    Examples
    --------
    >>> x = [[0.4, 0.4], [0.5, 0.5], [9.0, -9.0]]
    >>> fake_quant_with_min_max_vars_per_channel(x, [-1.0, 0.0], [2.0, 0.0], num_bits=2).tolist()
    [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    lo, hi = _channel_range(min, max, x)
    return _forward(x, lo, hi, qmin, qmax, divide=False)


def fake_quant_with_min_max_vars_per_channel_vjp(
    grad: ArrayLike,
    inputs: ArrayLike,
    min: ArrayLike,
    max: ArrayLike,
    num_bits: int = 8,
    narrow_range: bool = False,
) -> FakeQuantGradients:
    """``FakeQuantWithMinMaxVarsPerChannelGradient``: the per-tensor gradient, channel by channel.

    Parameters
    ----------
    grad : array_like of float, shape of ``inputs``
    inputs, min, max, num_bits, narrow_range
        As in :func:`fake_quant_with_min_max_vars_per_channel`.

    Returns
    -------
    FakeQuantGradients
        ``grad_inputs`` (float32, shape of ``inputs``); ``grad_min`` and
        ``grad_max`` (float32, shape ``(d,)``), summed over every axis but
        the last.

    Notes
    -----
    .. math::

        \\frac{\\partial L}{\\partial \\min_c} = \\sum_{i} g_{i,c}\\,[x_{i,c} < \\tilde m_c],
        \\qquad \\frac{\\partial L}{\\partial \\max_c} = \\sum_{i} g_{i,c}\\,[x_{i,c} > \\tilde M_c]

    and ``g * [m~_c <= x <= M~_c]`` for the inputs. Source:
    ``FakeQuantWithMinMaxVarsPerChannelGradientFunctor`` (the op
    ``tf.quantization.fake_quant_with_min_max_vars_per_channel_gradient``).

    Examples
    --------
    >>> g = fake_quant_with_min_max_vars_per_channel_vjp(
    ...     [[1.0, 1.0], [2.0, 2.0]], [[-5.0, 0.0], [5.0, 1.0]], [-1.0, 0.0], [2.0, 0.0], 2)
    >>> g.grad_inputs.tolist(), g.grad_min.tolist(), g.grad_max.tolist()
    ([[0.0, 1.0], [0.0, 2.0]], [1.0, 0.0], [2.0, 0.0])
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    g = _grad_like(grad, x)
    lo, hi = _channel_range(min, max, x)
    return FakeQuantGradients(*_backward(g, x, lo, hi, qmin, qmax))


def fake_quant_with_min_max_args(
    inputs: ArrayLike,
    min: float = -6.0,
    max: float = 6.0,
    num_bits: int = 8,
    narrow_range: bool = False,
) -> NDArray[np.float32]:
    """``tf.quantization.fake_quant_with_min_max_args``: ``floor((clamp(x) - m) * inv - z + 0.5) * s``.

    Parameters
    ----------
    inputs : array_like of float, any shape
        Rounded to float32.
    min, max : float
        Attributes (rounded to float32), with ``min < max`` after rounding,
        as TF requires when it builds the op.
    num_bits, narrow_range
        As in :func:`fake_quant_with_min_max_vars`.

    Returns
    -------
    ndarray of float32, shape of ``inputs``

    Notes
    -----
    .. math::

        \\hat x = \\Big\\lfloor \\mathrm{fl}\\big((\\operatorname{clamp}(x,
        \\tilde m, \\tilde M) - \\tilde m) \\cdot \\sigma\\big) - z + \\tfrac12
        \\Big\\rfloor \\, s, \\qquad
        \\sigma = \\mathrm{fl}\\Big(\\frac{q_{max} - q_{min}}{\\max - \\min}\\Big)

    The same kernel as the per-channel op, with one range. Source:
    ``FakeQuantWithMinMaxArgsFunctor`` and ``FakeQuantWithMinMaxArgsOp``.

    Examples
    --------
    >>> fake_quant_with_min_max_args([0.49999997, 2.5, -7.0, 300.0], 0.0, 255.0).tolist()
    [1.0, 3.0, 0.0, 255.0]
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    lo, hi = _args_range(min, max)
    return _forward(x, lo, hi, qmin, qmax, divide=False)


def fake_quant_with_min_max_args_vjp(
    grad: ArrayLike,
    inputs: ArrayLike,
    min: float = -6.0,
    max: float = 6.0,
    num_bits: int = 8,
    narrow_range: bool = False,
) -> NDArray[np.float32]:
    """``FakeQuantWithMinMaxArgsGradient``: ``grad * (nudged_min <= x <= nudged_max)``.

    Parameters
    ----------
    grad : array_like of float, shape of ``inputs``
    inputs, min, max, num_bits, narrow_range
        As in :func:`fake_quant_with_min_max_args`.

    Returns
    -------
    ndarray of float32, shape of ``inputs``
        The gradient with respect to ``inputs``, the op's only differentiable
        input (``min`` and ``max`` are attributes).

    Notes
    -----
    .. math:: \\frac{\\partial L}{\\partial x} = g\\,[\\tilde m \\le x \\le \\tilde M]

    Source: ``FakeQuantWithMinMaxArgsGradientFunctor`` (the op
    ``tf.quantization.fake_quant_with_min_max_args_gradient``).

    Examples
    --------
    >>> fake_quant_with_min_max_args_vjp([1.0, 1.0, 1.0, 1.0], [-0.1, 0.0, 3.0, 3.1], -0.25, 2.75, 2).tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    qmin, qmax = _quant_range(num_bits, narrow_range)
    x = _float32_array("inputs", inputs)
    g = _grad_like(grad, x)
    lo, hi = _args_range(min, max)
    return _backward(g, x, lo, hi, qmin, qmax)[0]


# -- kernels ------------------------------------------------------------------


def _nudge(lo: NDArray[np.float32], hi: NDArray[np.float32], qmin: int, qmax: int) -> _Nudged:
    """TF's ``Nudge`` plus ``quant_zero``, elementwise, step by step in float32, with FTZ.

    For finite ``lo < hi`` with a normal scale, the first three outputs equal
    :func:`refquant.qparams.nudge_range` bit for bit (tested). This copy adds
    ``inv_scale``, the flush of a subnormal scale, and the ranges that
    ``nudge_range`` rejects (empty, reversed, non-finite).
    """
    qmin_f, qmax_f = _F32(qmin), _F32(qmax)
    lo, hi = _ftz(lo), _ftz(hi)
    with np.errstate(all="ignore"):
        scale = _ftz((hi - lo) / (qmax_f - qmin_f))
        inv_scale = _ftz((qmax_f - qmin_f) / (hi - lo))
        zp_from_min = qmin_f - _ftz(lo / scale)
        zp = np.where(
            zp_from_min < qmin_f,
            qmin_f,
            np.where(zp_from_min > qmax_f, qmax_f, round_to_integer(zp_from_min, "half_away")),
        )
        zp = np.where(np.isnan(zp), _F32(0), zp).astype(_F32)  # x86-64's cast of NaN to an integer
        nudged_min = _ftz((qmin_f - zp) * scale)
        nudged_max = _ftz((qmax_f - zp) * scale)
        quant_zero = np.floor(_ftz(-nudged_min * inv_scale) + _HALF)
    return _Nudged(nudged_min, nudged_max, scale, inv_scale, quant_zero)


def _forward(
    x: NDArray[np.float32],
    lo: NDArray[np.float32],
    hi: NDArray[np.float32],
    qmin: int,
    qmax: int,
    *,
    divide: bool,
) -> NDArray[np.float32]:
    """The forward kernel; ``lo``/``hi`` are 0-d or broadcast along the last axis."""
    n = _nudge(lo, hi, qmin, qmax)
    x = _ftz(x)
    with np.errstate(all="ignore"):
        # Eigen's cwiseMin/cwiseMax: std::min(x, M) = (M < x) ? M : x, so a NaN x stays NaN.
        clamped = np.where(n.nudged_max < x, n.nudged_max, x)
        clamped = np.where(clamped < n.nudged_min, n.nudged_min, clamped)
        shifted = _ftz(clamped - n.nudged_min)
        t = _ftz(shifted / n.scale if divide else shifted * n.inv_scale)
        t = _ftz(t - n.quant_zero) + _HALF  # t + 0.5 is never subnormal
        out = _ftz(np.floor(t) * n.scale)
    zero_range = (_ftz(lo) == 0) & (_ftz(hi) == 0)
    if np.any(zero_range):
        out = np.where(zero_range, _F32(0), out)
    return np.asarray(out, dtype=_F32).reshape(x.shape)


def _backward(
    g: NDArray[np.float32],
    x: NDArray[np.float32],
    lo: NDArray[np.float32],
    hi: NDArray[np.float32],
    qmin: int,
    qmax: int,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Gradient kernel: ``grad_inputs``, and min/max sums per channel or (0-d ``lo``) over all, shape (1,)."""
    n = _nudge(lo, hi, qmin, qmax)
    xf, gf = _ftz(x), _ftz(g)
    inside = ((xf >= n.nudged_min) & (xf <= n.nudged_max)).astype(_F32)
    below = (xf < n.nudged_min).astype(_F32)
    above = (xf > n.nudged_max).astype(_F32)
    with np.errstate(all="ignore"):
        grad_inputs = gf * inside  # a product, as in TF: inf * 0 is NaN
        grad_min = _sum_last_axis(gf * below, lo.ndim)
        grad_max = _sum_last_axis(gf * above, lo.ndim)
    zero_range = (_ftz(lo) == 0) & (_ftz(hi) == 0)  # never for the _args op (min < max)
    if np.any(zero_range):
        grad_inputs = np.where(zero_range, g, grad_inputs)  # a copy: subnormals survive
        grad_min = np.where(zero_range, _F32(0), grad_min).astype(_F32)
        grad_max = np.where(zero_range, _F32(0), grad_max).astype(_F32)
    return np.asarray(grad_inputs, dtype=_F32).reshape(x.shape), grad_min, grad_max


def _sum_last_axis(v: NDArray[np.float32], param_ndim: int) -> NDArray[np.float32]:
    """Float32 sums in Eigen's order, per channel (last axis) or over everything (shape ``(1,)``)."""
    cols = v.shape[-1] if param_ndim else 1
    flat = v.reshape(v.size // cols if cols else 0, cols)
    with np.errstate(all="ignore"):
        return _eigen_sum(flat, 0, flat.shape[0])


_PACKET = 8  # floats per AVX packet: TF's x86-64 wheels are built with AVX
_LEAF = 1024


def _eigen_sum(v: NDArray[np.float32], first: int, n: int) -> NDArray[np.float32]:
    """Column sums of ``v[first:first + n]`` in the order of Eigen's single-threaded full reduction.

    ``InnerMostDimReducer`` (vectorized, tree): above 8 * 1024 values, split at
    a packet boundary near the middle. A leaf has four packet accumulators,
    folded ``((p0 + p1) + p2) + p3``, then the whole packets left, then
    ``tail + hsum(p0)`` with the tail added one by one and
    ``hsum = (h0 + h2) + (h1 + h3)`` for ``h = p0[:4] + p0[4:]``. Partial sums
    start from +0.0, in float32, with subnormals flushed.
    """
    p = _PACKET
    if n > p * _LEAF:
        split = p * -(-(first + -(-n // 2)) // p)
        left = min(split - first, n)
        acc = _F32(0) + _eigen_sum(v, first, left)
        if left < n:
            acc = _ftz(acc + _eigen_sum(v, split, n - left))
        return acc
    x = v[first : first + n]
    cols = v.shape[1]
    n4 = n // (4 * p) * (4 * p)
    p0 = np.zeros((p, cols), _F32)
    if n4:
        # four sequential packet accumulators; reducing axis 0 adds the rows in order
        rows = x[:n4].reshape(-1, 4 * p, cols)
        if np.any((np.abs(rows) < _F32(2.0**-102)) & (rows != 0)):  # a partial sum may be subnormal
            acc4 = np.zeros((4 * p, cols), _F32)
            for row in rows:
                acc4 = _ftz(acc4 + row)
        else:
            acc4 = _F32(0) + np.add.reduce(rows, axis=0, dtype=_F32)
        p0 = _ftz(_ftz(_ftz(acc4[:p] + acc4[p : 2 * p]) + acc4[2 * p : 3 * p]) + acc4[3 * p :])
    start = n4
    if start <= n - p:
        whole = n // p * p
        for j in range(start, whole, p):
            p0 = _ftz(p0 + x[j : j + p])
        start = whole
    tail = np.zeros(cols, _F32)
    for j in range(start, n):
        tail = _ftz(tail + x[j])
    h = _ftz(p0[:4] + p0[4:])
    return _ftz(tail + _ftz(_ftz(h[0] + h[2]) + _ftz(h[1] + h[3])))


def _ftz(a: ArrayLike) -> NDArray[np.float32]:
    """Flush float32 subnormals to a zero of the same sign.

    TF runs its CPU kernels with FTZ and DAZ set (``port::ScopedFlushDenormal``).
    Applying this to every operand and to every arithmetic result reproduces that.
    """
    arr = np.asarray(a, dtype=_F32)
    with np.errstate(invalid="ignore"):
        tiny = np.abs(arr) < _TINY
    if not tiny.any():
        return arr
    return np.where(tiny, np.copysign(_F32(0), arr), arr)


# -- argument checks -----------------------------------------------------------


def _quant_range(num_bits: int, narrow_range: bool) -> tuple[int, int]:
    if isinstance(num_bits, bool) or not isinstance(num_bits, (int, np.integer)):
        raise TypeError(f"num_bits must be an int, got {num_bits!r}")
    if not 2 <= num_bits <= 16:
        raise ValueError(f"num_bits must be between 2 and 16, inclusive, got {num_bits}")
    if not isinstance(narrow_range, (bool, np.bool_)):
        raise TypeError(f"narrow_range must be a bool, got {narrow_range!r}")
    return (1 if narrow_range else 0), (1 << int(num_bits)) - 1


def _float32_array(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """Real values rounded to float32 (what TF does to NumPy inputs); float32 arrays are not copied."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    if arr.dtype == _F32:
        return arr
    with np.errstate(over="ignore"):
        return arr.astype(_F32)


def _grad_like(grad: ArrayLike, x: NDArray[np.float32]) -> NDArray[np.float32]:
    g = _float32_array("grad", grad)
    if g.shape != x.shape:
        raise ValueError(f"grad must have the shape of inputs {x.shape}, got {g.shape}")
    return g


def _scalar_range(min: ArrayLike, max: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    lo, hi = _float32_array("min", min), _float32_array("max", max)
    for name, v in (("min", lo), ("max", hi)):
        if v.ndim != 0:
            raise ValueError(f"{name} must be a scalar (rank 0), got shape {v.shape}")
    return lo, hi


def _channel_range(
    min: ArrayLike, max: ArrayLike, x: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    if x.ndim == 0:
        raise ValueError("inputs must have at least 1 dimension (channels on the last axis), got a 0-d array")
    lo, hi = _float32_array("min", min), _float32_array("max", max)
    for name, v in (("min", lo), ("max", hi)):
        if v.shape != (x.shape[-1],):
            raise ValueError(f"{name} must have shape ({x.shape[-1]},) (the last dimension), got {v.shape}")
    return lo, hi


def _args_range(min: float, max: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    values = []
    for name, v in (("min", min), ("max", max)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a float, got {v!r}")
        with np.errstate(over="ignore"):
            values.append(np.asarray(v, dtype=_F32))
    lo, hi = values
    if not lo < hi:
        raise ValueError(f"min has to be smaller than max (in float32), got min={min!r}, max={max!r}")
    return lo, hi
