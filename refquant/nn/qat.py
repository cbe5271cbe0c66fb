"""Quantizers that plug into the MLP: fake quantization in the forward, its gradient in the backward.

Each quantizer is an immutable object with

* ``forward(a, training) -> (a_hat, quantizer)``: the fake-quantized tensor and
  the quantizer to use next time (observers update their range in training);
* ``vjp(g, a) -> (grad_a, grad_params)``: the gradient with respect to its
  input and to its own learnable parameters (a tuple, empty when it has none);
* ``params`` and ``with_params(new)``: the learnable parameters, so that an
  optimizer can update them like the weights.

Weights are quantized symmetric per output channel (rows of ``w``, the
``(out, in)`` layout) or per tensor; activations affine per tensor with a
range from a moving-average min-max observer (PyTorch's
``MovingAverageMinMaxObserver``: the first batch sets the range, later ones
move it by ``averaging_constant``) or from calibration.

Every quantizer validates its fields when built (``bits`` an int making an
:class:`~refquant.formats.IntFormat`, flags bools, ranges finite with
``lo <= hi``, ``averaging_constant`` in (0, 1], LSQ steps finite and > 0),
so a bad field raises ``ValueError``/``TypeError`` naming it at once rather
than a wrong number later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from refquant.formats import IntFormat
from refquant.grad._args import flag, real_array
from refquant.grad.lsq import lsq_fake_quantize, lsq_fake_quantize_vjp
from refquant.grad.ste import fake_quantize_vjp
from refquant.qparams import qparams_from_range
from refquant.quantize import fake_quantize

__all__ = [
    "ActivationQuantizer",
    "LSQWeightQuantizer",
    "Quantizer",
    "WeightQuantizer",
    "symmetric_weight_qparams",
]

Array = NDArray[Any]


class Quantizer(Protocol):
    """What :func:`refquant.nn.mlp.mlp_forward` needs from a weight or activation quantizer."""

    @property
    def params(self) -> tuple[Array, ...]: ...

    def with_params(self, params: tuple[Array, ...]) -> Quantizer: ...

    def forward(self, a: Array, training: bool) -> tuple[Array, Quantizer]: ...

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]: ...


def symmetric_weight_qparams(w: Array, bits: int, per_channel: bool) -> tuple[Array, Array, int, int]:
    """Symmetric narrow-range scale ``max|w| / qmax`` per row or per tensor: ``(scale, zp, qmin, qmax)``.

    Parameters
    ----------
    w : ndarray of float, shape (out, in)
    bits : int
        Signed codes ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (narrow range).
    per_channel : bool
        One scale per row (output channel) or one for the tensor.

    Returns
    -------
    scale : ndarray, shape (out,) or (), dtype of ``w``
    zero_point : ndarray of int, zeros of the scale's shape
    qmin, qmax : int

    Notes
    -----
    .. math:: s = \\max_i |w_i| / q_{max}, \\qquad z = 0

    via :func:`refquant.qparams.qparams_from_range` (``symmetric=True``,
    ``symmetric_divisor="qmax"``; its eps guard keeps an all-zero row's
    scale positive). Source: Krishnamoorthi (2018), section 2.2.

    Examples
    --------
    >>> s, z, lo, hi = symmetric_weight_qparams(np.array([[1.0, -2.0], [0.5, 0.25]]), 8, True)
    >>> [round(v * 127, 6) for v in s.tolist()], z.tolist(), lo, hi
    ([2.0, 0.5], [0, 0], -127, 127)
    """
    fmt = _format("bits", bits, signed=True)
    per_channel = flag("per_channel", per_channel)
    w = real_array("w", w)
    if per_channel and w.ndim != 2:
        raise ValueError(f"w must have shape (out, in) for per_channel=True, got shape {w.shape}")
    if w.size == 0:
        raise ValueError(f"w must not be empty, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError(f"w must be finite, got {w[~np.isfinite(w)].ravel()[:3].tolist()}")
    lo = w.min(axis=1) if per_channel else w.min()
    hi = w.max(axis=1) if per_channel else w.max()
    p = qparams_from_range(
        lo, hi, fmt.qmin, fmt.qmax, symmetric=True, symmetric_divisor="qmax", dtype=w.dtype
    )
    return p.scale, p.zero_point, fmt.qmin, fmt.qmax


@dataclass(frozen=True)
class WeightQuantizer:
    """Fake-quantize weights with a scale recomputed from the weights on every call; clipped STE.

    The scale covers ``max|w|``, so no weight is clipped and the STE passes
    every gradient: ``d w_hat / d w = 1``.
    """

    bits: int
    per_channel: bool = True

    def __post_init__(self) -> None:
        _format("bits", self.bits, signed=True)
        flag("per_channel", self.per_channel)

    @property
    def params(self) -> tuple[Array, ...]:
        return ()

    def with_params(self, params: tuple[Array, ...]) -> WeightQuantizer:
        return self

    def forward(self, a: Array, training: bool) -> tuple[Array, WeightQuantizer]:
        s, z, lo, hi = symmetric_weight_qparams(a, self.bits, self.per_channel)
        axis = 0 if self.per_channel else None
        return fake_quantize(a, s, z, lo, hi, axis=axis), self

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]:
        s, z, lo, hi = symmetric_weight_qparams(a, self.bits, self.per_channel)
        axis = 0 if self.per_channel else None
        return fake_quantize_vjp(g, a, s, z, lo, hi, axis=axis).grad_x, ()


@dataclass(frozen=True)
class LSQWeightQuantizer:
    """LSQ weights: a learned step per output channel (Esser et al. 2020), signed narrow range."""

    step: Array
    bits: int

    def __post_init__(self) -> None:
        _format("bits", self.bits, signed=True)
        if isinstance(self.step, (bool, np.bool_)) or np.asarray(self.step).dtype == bool:
            raise TypeError(f"step must be a float array of steps, got {self.step!r}")
        st = real_array("step", self.step)
        if st.ndim != 1 or not (np.isfinite(st).all() and (st > 0).all()):
            bad = st[~(np.isfinite(st) & (st > 0))].ravel()[:3].tolist() if st.ndim else st.tolist()
            raise ValueError(f"step must be a 1-d array of finite steps > 0, got shape {st.shape}: {bad}")

    @classmethod
    def init(cls, w: Array, bits: int) -> LSQWeightQuantizer:
        """LSQ's initialization ``s = 2 mean|w| / sqrt(Q_P)``, per output channel."""
        qmax = IntFormat(bits, narrow_range=True).qmax
        step = 2 * np.mean(np.abs(w), axis=1) / np.sqrt(qmax)
        return cls(np.maximum(step, np.finfo(w.dtype).tiny).astype(w.dtype), bits)

    @property
    def params(self) -> tuple[Array, ...]:
        return (self.step,)

    def with_params(self, params: tuple[Array, ...]) -> LSQWeightQuantizer:
        (step,) = params
        return replace(self, step=np.maximum(step, np.finfo(step.dtype).tiny))

    def _range(self) -> tuple[int, int]:
        f = IntFormat(self.bits, narrow_range=True)
        return f.qmin, f.qmax

    def forward(self, a: Array, training: bool) -> tuple[Array, LSQWeightQuantizer]:
        lo, hi = self._range()
        return lsq_fake_quantize(a, self.step, lo, hi, axis=0), self

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]:
        lo, hi = self._range()
        r = lsq_fake_quantize_vjp(g, a, self.step, lo, hi, axis=0)
        return r.grad_x, (r.grad_step,)


@dataclass(frozen=True)
class ActivationQuantizer:
    """Affine per-tensor activation fake-quant, unsigned ``bits``, range from a min-max observer.

    In training the observed range moves toward each batch's min and max by
    ``averaging_constant`` (the first batch sets it); out of training the
    range is fixed. ``running_minmax=True`` replaces the moving average by
    the plain running min-max of calibration (PyTorch's MinMaxObserver;
    ``averaging_constant`` is then unused).
    """

    bits: int
    lo: float = 0.0
    hi: float = 0.0
    averaging_constant: float = 0.01
    running_minmax: bool = False
    initialized: bool = False

    def __post_init__(self) -> None:
        _format("bits", self.bits, signed=False)
        for name in ("lo", "hi", "averaging_constant"):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{name} must be a real number, got {v!r}")
            if not np.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v!r}")
        if self.lo > self.hi:
            raise ValueError(f"lo must be <= hi, got lo={self.lo!r} > hi={self.hi!r}")
        if not 0 < self.averaging_constant <= 1:
            raise ValueError(f"averaging_constant must lie in (0, 1], got {self.averaging_constant!r}")
        flag("running_minmax", self.running_minmax)
        flag("initialized", self.initialized)

    @property
    def params(self) -> tuple[Array, ...]:
        return ()

    def with_params(self, params: tuple[Array, ...]) -> ActivationQuantizer:
        return self

    def observe(self, a: Array) -> ActivationQuantizer:
        """The quantizer after seeing the batch ``a``."""
        bmin, bmax = float(a.min()), float(a.max())
        if not self.initialized:
            return replace(self, lo=bmin, hi=bmax, initialized=True)
        if self.running_minmax:
            return replace(self, lo=min(self.lo, bmin), hi=max(self.hi, bmax))
        c = self.averaging_constant
        return replace(self, lo=self.lo + c * (bmin - self.lo), hi=self.hi + c * (bmax - self.hi))

    def qparams(self, dtype: Any) -> tuple[Array, Array, int, int]:
        fmt = IntFormat(self.bits, signed=False)
        p = qparams_from_range(self.lo, self.hi, fmt.qmin, fmt.qmax, dtype=dtype)
        return p.scale, p.zero_point, fmt.qmin, fmt.qmax

    def forward(self, a: Array, training: bool) -> tuple[Array, ActivationQuantizer]:
        q = self.observe(a) if training else self
        if not q.initialized:
            raise ValueError(
                "the activation quantizer has no range (initialized=False): calibrate it or run it in "
                "training first"
            )
        try:
            s, z, lo, hi = q.qparams(a.dtype)
        except ValueError as e:
            raise ValueError(
                f"the observed range lo={q.lo!r}, hi={q.hi!r} has no {a.dtype} qparams: {e}"
            ) from None
        return fake_quantize(a, s, z, lo, hi), q

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]:
        s, z, lo, hi = self.qparams(a.dtype)
        return fake_quantize_vjp(g, a, s, z, lo, hi).grad_x, ()


def _format(name: str, bits: object, *, signed: bool) -> IntFormat:
    """The integer format of ``bits`` codes; a bad ``bits`` raises naming ``name`` and its value."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {bits!r}")
    try:
        return IntFormat(int(bits), signed=signed, narrow_range=signed)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}={bits!r} is not a valid integer format: {e}") from None
