"""Post-training quantization and QAT set-up for the MLP.

* :func:`calibrate`: run the float model on calibration batches and record
  the running min-max of every layer's input (PyTorch's ``MinMaxObserver``);
* :func:`post_training_quantize`: weights symmetric (narrow range, scale
  ``max|w| / qmax``) per tensor or per output channel, activations affine per
  tensor from the calibrated ranges, or weights only;
* :func:`prepare_qat`: the same quantizers for training, with a moving-average
  activation observer (started from the calibrated range) and, for LSQ, a
  learned step per output channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from refquant.formats import IntFormat
from refquant.grad._args import flag
from refquant.nn._optim_checks import real_number
from refquant.nn.mlp import LayerQuant, mlp_forward
from refquant.nn.qat import ActivationQuantizer, LSQWeightQuantizer, Quantizer, WeightQuantizer
from refquant.nn.train import Model

__all__ = ["calibrate", "post_training_quantize", "prepare_qat"]

Array = NDArray[Any]


def calibrate(model: Model, batches: Iterable[Array], *, act_bits: int = 8) -> list[ActivationQuantizer]:
    """Running min-max of each layer's input over ``batches``, as activation quantizers.

    Parameters
    ----------
    model : Model
        Evaluated without its quantizers (float), with its masks.
    batches : iterable of arrays of shape (N, in)
        At least one; each non-empty and finite (``ValueError`` otherwise).
    act_bits : int
        Unsigned activation codes ``[0, 2**act_bits - 1]``, an int in [2, 32]
        (:class:`refquant.formats.IntFormat`; others raise ``ValueError``/``TypeError``).

    Returns
    -------
    list of ActivationQuantizer
        One per layer, ``running_minmax=True``, initialized.

    Notes
    -----
    .. math::

        \\hat m_l = \\min_{\\text{batches}} \\min a_l, \\quad
        \\hat M_l = \\max_{\\text{batches}} \\max a_l

    Source: PyTorch ``MinMaxObserver`` (eager-mode static quantization).

    Examples
    --------
    >>> m = Model([(np.array([[1.0, -1.0]]), np.zeros(1))])
    >>> [(q.lo, q.hi) for q in calibrate(m, [np.array([[0.0, 2.0], [3.0, 1.0]])])]
    [(0.0, 3.0)]
    """
    return _calibrate(model, batches, act_bits, "batches")


def post_training_quantize(
    model: Model,
    calibration: Iterable[Array] | None,
    *,
    weight_bits: int = 8,
    act_bits: int | None = 8,
    per_channel: bool = True,
) -> Model:
    """The model with fake-quantized weights and (unless ``act_bits`` is None) activations.

    Parameters
    ----------
    model : Model
        A float model (its ``quant`` is replaced).
    calibration : iterable of arrays, or None
        Calibration batches; required when ``act_bits`` is not None.
    weight_bits : int
        Signed narrow-range weight codes, e.g. [-127, 127] for 8 bits; an int
        in [2, 32], checked before any calibration.
    act_bits : int or None
        Unsigned activation codes; None quantizes the weights only.
    per_channel : bool
        One weight scale per output channel (row) instead of per tensor.

    Returns
    -------
    Model

    Notes
    -----
    Weights: :math:`s = \\max|w| / q_{max}`, :math:`z = 0`; activations:
    :func:`refquant.qparams.qparams_from_range` on the calibrated range.
    Source: Krishnamoorthi (2018), sections 3.1-3.3; Jacob et al. (2018).

    Examples
    --------
    >>> m = Model([(np.array([[0.5, -0.26]]), np.zeros(1))])
    >>> q = post_training_quantize(m, None, weight_bits=2, act_bits=None)
    >>> q.forward(np.array([[1.0, 1.0]]))[0].tolist()
    [[0.0]]
    """
    _model(model)
    _bits("weight_bits", weight_bits, signed=True)
    if act_bits is not None:
        _bits("act_bits", act_bits, signed=False)
    per_channel = flag("per_channel", per_channel)
    acts: list[ActivationQuantizer | None]
    if act_bits is None:
        acts = [None] * len(model.params)
    else:
        if calibration is None:
            raise ValueError("calibration batches are required when act_bits is not None")
        acts = list(_calibrate(model, calibration, act_bits, "calibration"))
    quant = tuple(LayerQuant(WeightQuantizer(weight_bits, per_channel), a) for a in acts)
    return replace(model, quant=quant)


def prepare_qat(
    model: Model,
    calibration: Iterable[Array],
    *,
    weight_bits: int = 4,
    act_bits: int = 8,
    weight_quantizer: Literal["ste", "lsq"] = "ste",
    averaging_constant: float = 0.01,
) -> Model:
    """The model ready for quantization-aware training.

    Parameters
    ----------
    model : Model
        Float model (usually trained).
    calibration : iterable of arrays
        Batches that initialize the activation ranges.
    weight_bits, act_bits : int
    weight_quantizer : {"ste", "lsq"}
        Per-channel symmetric weights with the scale from ``max|w|`` and the
        straight-through estimator, or LSQ's learned per-channel step
        (initialized to ``2 mean|w| / sqrt(Q_P)``, gradient scale
        ``1 / sqrt(in_features * Q_P)``).
    averaging_constant : float
        The moving-average observer's constant for the activations, in (0, 1].

    Returns
    -------
    Model

    Examples
    --------
    >>> m = Model([(np.array([[0.5, -0.25]]), np.zeros(1))])
    >>> q = prepare_qat(m, [np.array([[1.0, 0.0]])], weight_quantizer="lsq")
    >>> type(q.quant[0].weight).__name__, q.quant[0].activation.hi
    ('LSQWeightQuantizer', 1.0)
    """
    _model(model)
    _bits("weight_bits", weight_bits, signed=True)
    if weight_quantizer not in ("ste", "lsq"):
        raise ValueError(f"weight_quantizer must be 'ste' or 'lsq', got {weight_quantizer!r}")
    c = real_number("averaging_constant", averaging_constant)
    if not 0 < c <= 1:
        raise ValueError(f"averaging_constant must lie in (0, 1], got {averaging_constant!r}")
    acts = _calibrate(model, calibration, act_bits, "calibration")
    quant = []
    for (w, _), a in zip(model.params, acts, strict=True):
        wq: Quantizer
        if weight_quantizer == "lsq":
            wq = LSQWeightQuantizer.init(w, weight_bits)
        elif weight_quantizer == "ste":
            wq = WeightQuantizer(weight_bits, per_channel=True)
        else:
            raise ValueError(f"weight_quantizer must be 'ste' or 'lsq', got {weight_quantizer!r}")
        aq = replace(a, running_minmax=False, averaging_constant=averaging_constant)
        quant.append(LayerQuant(wq, aq))
    return replace(model, quant=tuple(quant))


def _model(model: object) -> None:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a Model (refquant.nn.train.Model), got {type(model).__name__}")


def _bits(name: str, bits: object, *, signed: bool) -> None:
    """``bits`` must make an integer format (:class:`refquant.formats.IntFormat`); errors name ``name``."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {bits!r}")
    try:
        IntFormat(int(bits), signed=signed, narrow_range=signed)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}={bits!r} is not a valid integer format: {e}") from None


def _what(v: object) -> str:
    if isinstance(v, np.ndarray):
        return f"an ndarray of shape {v.shape} and dtype {v.dtype}, not a sequence of batches"
    return repr(v)


def _calibrate(model: Model, batches: Iterable[Array], act_bits: int, name: str) -> list[ActivationQuantizer]:
    """:func:`calibrate`, with errors naming the caller's argument ``name``."""
    _model(model)
    _bits("act_bits", act_bits, signed=False)
    if isinstance(batches, (str, bytes, np.ndarray)) or not isinstance(batches, Iterable):
        raise TypeError(f"{name} must be an iterable of (N, in) arrays, got {_what(batches)}")
    quants = [ActivationQuantizer(act_bits, running_minmax=True) for _ in model.params]
    seen = False
    for i, batch in enumerate(batches):
        b = np.asarray(batch)
        n_in = model.params[0][0].shape[1]
        if b.dtype.kind not in "fiu" or b.ndim != 2 or b.shape[1] != n_in or len(b) == 0:
            raise ValueError(
                f"{name}[{i}] must be a non-empty float array of shape (N, {n_in}), "
                f"got shape {b.shape} and dtype {b.dtype}"
            )
        if not np.isfinite(b).all():
            raise ValueError(f"{name}[{i}] must be finite, got {b[~np.isfinite(b)].ravel()[:3].tolist()}")
        _, cache = mlp_forward(model.params, b, activation=model.activation, masks=model.masks)
        quants = [q.observe(a) for q, a in zip(quants, cache.inputs, strict=True)]
        seen = True
    if not seen:
        raise ValueError(f"{name} must hold at least one calibration batch, got none ([])")
    return quants
