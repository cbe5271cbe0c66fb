"""Post-training quantization with a chosen activation calibrator: the demo's calibration rows.

Every row quantizes the weights as ``ptq-int8-per-channel`` does (symmetric,
narrow range, one scale per output channel, from ``max|w|``) and takes each
layer's activation range from one calibrator of :mod:`refquant.calibrate`
applied to that layer's inputs over the calibration batches:

==========================  =====================================================================
calibrator                  the activation threshold ``amax`` of each layer
==========================  =====================================================================
``minmax``                  ``amax = max a`` (PyTorch's ``MinMaxObserver``)
``percentile``              ``amax`` = the 99.99th percentile of the histogram (ModelOpt's default)
``entropy``                 the KL-divergence threshold (TensorRT's algorithm, ModelOpt's knobs)
``mse``                     the clipping threshold of least squared error over the histogram
==========================  =====================================================================

The histogram is the streaming one of :mod:`refquant.calibrate.streaming`
(2048 bins, refquant's lossless ``"exact"`` growth) of ``|a|``, the layer's
inputs; the range is ``[max(min a, -amax), amax]`` when some inputs are
negative, else ``[0, amax]`` (the demo's inputs are pixels, then ReLU outputs),
on unsigned affine codes. Every threshold is clipped to
the largest value seen (the lossless growth leaves empty bins above it, and
ModelOpt's entropy rule takes the last of equal divergences, which would
otherwise pick an empty bin's edge; ONNX Runtime clips the same way). The fp8 row casts the
activations with ``s = amax / 448`` (``saturate=True``) where ``amax`` is the
MSE threshold for the ``float8_e4m3fn`` grid, and its weights from their own
``max|w|`` (the ``fp8-e4m3`` row's weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.calibrate.entropy import entropy_amax
from refquant.calibrate.histogram import histogram_percentile
from refquant.calibrate.mse import mse_amax
from refquant.calibrate.streaming import histogram_update
from refquant.floats import cast, float_format
from refquant.nn.mlp import LayerQuant, mlp_forward
from refquant.nn.qat import ActivationQuantizer, WeightQuantizer
from refquant.nn.train import Model
from refquant.recipes.formats import FixedQuantizer
from refquant.recipes.ptq import _bits, _model, _what

__all__ = ["CALIBRATION_ROWS", "CALIBRATORS", "activation_amax", "calibrated_quantize"]

Array = NDArray[Any]

#: The activation calibrators of :func:`calibrated_quantize`.
CALIBRATORS = ("minmax", "percentile", "entropy", "mse")

#: The demo's calibration rows: method -> (calibrator, weight bits, activation bits, activation format).
CALIBRATION_ROWS: dict[str, tuple[str, int, int, str | None]] = {
    "ptq-int8-percentile": ("percentile", 8, 8, None),
    "ptq-int8-entropy": ("entropy", 8, 8, None),
    "ptq-int8-mse": ("mse", 8, 8, None),
    "ptq-fp8-mse": ("mse", 8, 8, "float8_e4m3fn"),
    "ptq-int4-a4-minmax": ("minmax", 4, 4, None),
    "ptq-int4-a4-percentile": ("percentile", 4, 4, None),
    "ptq-int4-a4-entropy": ("entropy", 4, 4, None),
    "ptq-int4-a4-mse": ("mse", 4, 4, None),
}

BINS = 2048
PERCENTILE = 99.99


def activation_amax(
    model: Model,
    calibration: Iterable[Array],
    method: str,
    *,
    act_bits: int = 8,
    act_format: str | None = None,
) -> list[float]:
    """The activation threshold ``amax`` of every layer's input, from one calibrator.

    Parameters
    ----------
    model : Model
        Evaluated in float (without its quantizers), with its masks.
    calibration : iterable of arrays of shape (N, in)
        At least one batch; each non-empty and finite.
    method : {"minmax", "percentile", "entropy", "mse"}
        The calibrator (table in the module docstring).
    act_bits : int
        Unsigned activation codes ``[0, 2**act_bits - 1]`` the range is chosen for (entropy and
        MSE search for that grid).
    act_format : str, optional
        A float format of :data:`refquant.floats.FLOAT_FORMATS`: the MSE search is then for
        that grid scaled by ``amax / max_finite`` (only with ``method="mse"``).

    Returns
    -------
    list of float
        One ``amax >= 0`` per layer.

    Notes
    -----
    For layer :math:`l` with inputs :math:`a_l \\ge 0`, the histogram :math:`h_l` of
    :math:`a_l` over all batches (2048 bins) gives

    .. math::

        \\hat a_l = \\min(\\operatorname{calibrator}(h_l), \\max a_l)

    Sources: Migacz (2017) for entropy; NVIDIA ModelOpt's ``HistogramCalibrator``
    (percentile 99.99, MSE over the bin centres); PyTorch's ``MinMaxObserver``.

    Examples
    --------
    >>> m = Model([(np.array([[1.0, -1.0]]), np.zeros(1))])
    >>> activation_amax(m, [np.array([[0.0, 2.0], [3.0, 1.0]])], "minmax")
    [3.0]
    """
    _model(model)
    _method(method, act_bits, act_format)
    amax, _ = _ranges(model, calibration, method, act_bits, act_format)
    return amax


def _ranges(
    model: Model, calibration: Iterable[Array], method: str, act_bits: int, act_format: str | None
) -> tuple[list[float], list[float]]:
    """Every layer's ``amax`` and the smallest input it saw."""
    states: list[Any] = [None] * len(model.params)
    lows = [np.inf] * len(model.params)
    if isinstance(calibration, (str, bytes, np.ndarray)) or not isinstance(calibration, Iterable):
        raise TypeError(f"calibration must be an iterable of (N, in) arrays, got {_what(calibration)}")
    if not _observe(model, calibration, states, lows):
        raise ValueError("calibration must hold at least one calibration batch, got none ([])")
    return [min(_amax(s, method, act_bits, act_format), float(s.max)) for s in states], lows


def calibrated_quantize(
    model: Model,
    calibration: Iterable[Array],
    method: str,
    *,
    weight_bits: int = 8,
    act_bits: int = 8,
    act_format: str | None = None,
) -> Model:
    """``model`` with per-channel weights and activation ranges ``[0, amax]`` from one calibrator.

    Parameters
    ----------
    model : Model
        A float model (its quantizers are replaced).
    calibration : iterable of arrays of shape (N, in)
        Calibration batches.
    method : {"minmax", "percentile", "entropy", "mse"}
        The activation calibrator (:func:`activation_amax`).
    weight_bits : int
        Signed narrow-range weight codes, one scale per output channel from ``max|w|``.
    act_bits : int
        Unsigned activation codes.
    act_format : str, optional
        A float format for the activations and weights instead (``"float8_e4m3fn"``: the
        ``ptq-fp8-mse`` row), scaled casts with ``saturate=True``.

    Returns
    -------
    Model

    Notes
    -----
    Activations: :func:`refquant.qparams.qparams_from_range` on
    :math:`[\\max(\\min(m_l, 0), -\\hat a_l), \\hat a_l]`, :math:`m_l` the smallest input
    (unsigned, affine); weights: :math:`s_c = \\max_j |w_{cj}| / q_{max}`.
    Source: Krishnamoorthi (2018), section 3; Wu et al. (2020), "Integer quantization
    for deep learning inference", section 4 (the calibrators compared).

    Examples
    --------
    >>> m = Model([(np.array([[1.0, -1.0]]), np.zeros(1))])
    >>> q = calibrated_quantize(m, [np.array([[0.0, 2.0], [3.0, 1.0]])], "minmax")
    >>> (q.quant[0].activation.lo, q.quant[0].activation.hi)
    (0.0, 3.0)
    """
    _bits("weight_bits", weight_bits, signed=True)
    _model(model)
    _method(method, act_bits, act_format)
    amax, lows = _ranges(model, calibration, method, act_bits, act_format)
    quant: list[LayerQuant | None] = []
    for (w, _), a, low in zip(model.params, amax, lows, strict=True):
        if act_format is None:
            act = ActivationQuantizer(
                act_bits, lo=max(min(low, 0.0), -float(a)), hi=float(a), initialized=True
            )
            quant.append(LayerQuant(WeightQuantizer(weight_bits, True), act))
        else:
            wmax = float(np.max(np.abs(w)))
            quant.append(LayerQuant(_scaled(act_format, wmax), _scaled(act_format, float(a))))
    return replace(model, quant=tuple(quant))


def _observe(model: Model, calibration: Iterable[Array], states: list[Any], lows: list[float]) -> bool:
    """Update every layer's histogram of ``|a|`` and its smallest input; True if a batch was seen."""
    n_in = model.params[0][0].shape[1]
    seen = False
    for i, batch in enumerate(calibration):
        b = np.asarray(batch)
        if b.dtype.kind not in "fiu" or b.ndim != 2 or b.shape[1] != n_in or len(b) == 0:
            raise ValueError(
                f"calibration[{i}] must be a non-empty float array of shape (N, {n_in}), "
                f"got shape {b.shape} and dtype {b.dtype}"
            )
        if not np.isfinite(b).all():
            raise ValueError(
                f"calibration[{i}] must be finite, got {b[~np.isfinite(b)].ravel()[:3].tolist()}"
            )
        _, cache = mlp_forward(model.params, b, activation=model.activation, masks=model.masks)
        for k, a in enumerate(cache.inputs):
            lows[k] = min(lows[k], float(np.min(a)))
            states[k] = histogram_update(states[k], np.abs(a), bins=BINS, rule="exact")
        seen = True
    return seen


def _method(method: object, act_bits: int, act_format: str | None) -> None:
    if not isinstance(method, str) or method not in CALIBRATORS:
        raise ValueError(f"method must be one of {list(CALIBRATORS)}, got {method!r}")
    _bits("act_bits", act_bits, signed=False)
    if act_format is not None:
        float_format(act_format)
        if method != "mse":
            raise ValueError(f"act_format={act_format!r} needs method='mse', got method={method!r}")


def _amax(state: Any, method: str, act_bits: int, act_format: str | None) -> float:
    if state.max <= 0:
        return 0.0
    if method == "minmax":
        return float(state.max)
    if method == "percentile":
        return float(histogram_percentile(state.counts, state.edges, PERCENTILE, side="upper")[1])
    if method == "entropy":
        return float(entropy_amax(state.counts, state.edges, num_bits=act_bits, unsigned=True))
    if act_format is not None:
        return float(mse_amax(state.counts, state.edges, fmt=act_format, convention="refquant"))
    return float(
        mse_amax(
            state.counts,
            state.edges,
            num_bits=act_bits,
            unsigned=True,
            narrow_range=False,
            convention="refquant",
        )
    )


def _scaled(fmt: str, amax: float) -> FixedQuantizer:
    """``s * cast(a / s, fmt, saturate=True)``, ``s = amax / max_finite`` (the identity when amax is 0)."""
    if amax == 0:
        return FixedQuantizer(lambda a: a)
    s = amax / float_format(fmt).max_finite
    return FixedQuantizer(lambda a: cast(a / s, fmt, saturate=True) * s)
