"""TensorFlow's FakeQuant ops and their gradients: the public functions and their argument checks.

See :mod:`refquant.interop.tf` for the semantics; the arithmetic is in
:mod:`refquant.interop.tf.kernels`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.interop.tf.kernels import backward, forward

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


class FakeQuantGradients(NamedTuple):
    """Gradients w.r.t. ``inputs``, ``min`` and ``max`` (TF's ``backprops_wrt_*``)."""

    grad_inputs: NDArray[np.float32]
    grad_min: NDArray[np.float32]
    grad_max: NDArray[np.float32]


def fake_quant_with_min_max_vars(
    inputs: ArrayLike, min: ArrayLike, max: ArrayLike, num_bits: int = 8, narrow_range: bool = False
) -> NDArray[np.float32]:
    """``tf.quantization.fake_quant_with_min_max_vars``: ``floor((clamp(x) - m) / s - z + 0.5) * s``.

    Parameters
    ----------
    inputs : array_like of float, any shape
        Rounded to float32, as TF converts NumPy arrays; a finite value
        beyond float32's range raises ``ValueError`` (TF makes it inf).
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
    return forward(x, lo, hi, qmin, qmax, divide=True)


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
    gi, gmin, gmax = backward(g, x, lo, hi, qmin, qmax)
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
    return forward(x, lo, hi, qmin, qmax, divide=False)


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
    return FakeQuantGradients(*backward(g, x, lo, hi, qmin, qmax))


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
    return forward(x, lo, hi, qmin, qmax, divide=False)


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
    return backward(g, x, lo, hi, qmin, qmax)[0]


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
    """Real values rounded to float32 (what TF does to NumPy inputs); float32 arrays are not copied.

    A finite value beyond float32's range raises ``ValueError``: TF's
    conversion would silently make it ``±inf`` (pass ``±inf`` to get TF's
    result for it).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real array, got {value!r}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise TypeError(f"{name} must be a real array, got {value!r} ({e})") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    if arr.dtype == _F32:
        return arr
    with np.errstate(over="ignore"):
        out = arr.astype(_F32)
    overflow = np.isinf(out) & ~np.isinf(arr)
    if np.any(overflow):
        bad = arr[overflow].ravel()[:5].tolist()
        raise ValueError(f"{name} holds {bad}, beyond float32's range (TF's conversion would make it inf)")
    return out


def _grad_like(grad: ArrayLike, x: NDArray[np.float32]) -> NDArray[np.float32]:
    g = _float32_array("grad", grad)
    if g.shape != x.shape:
        raise ValueError(f"grad must have the shape of inputs {x.shape}, got {g.shape}")
    return g


def _scalar_range(min: ArrayLike, max: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    lo, hi = _float32_array("min", min), _float32_array("max", max)
    for name, v in (("min", lo), ("max", hi)):
        if v.ndim != 0:
            raise ValueError(
                f"{name} must be a scalar (rank 0), got shape {v.shape}: {v.ravel()[:5].tolist()}"
            )
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
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a float, got {v!r}")
        try:
            fv = float(v)
        except OverflowError:
            raise ValueError(f"{name}={v!r} is beyond float32's range") from None
        values.append(_float32_array(name, fv))
    lo, hi = values
    if not lo < hi:
        raise ValueError(f"min has to be smaller than max (in float32), got min={min!r}, max={max!r}")
    return lo, hi
