"""The integer-only MLP: a trained float MLP as int8 weights, int32 biases and fixed-point requantization.

:func:`convert_to_integer` turns the parameters of :mod:`refquant.nn.mlp` (ReLU
hidden layers) and calibration batches into an :class:`IntegerMLP` (Jacob et
al. 2018, section 2; TFLite's int8 fully-connected layers):

* weights: int8, symmetric, narrow range ``[-127, 127]``, one scale per output
  channel, ``s_w = max|w_c| / 127``;
* activations (every layer's input and the logits): int8 or uint8, affine, per
  tensor, from a calibration range (:mod:`refquant.calibrate`);
* biases: int32 with scale ``s_in * s_w`` (the accumulator's);
* requantization per output channel: ``M_c = s_in s_w,c / s_out`` as a
  fixed-point multiplier and shift (:func:`refquant.integer.quantize_multiplier`),
  applied by :func:`refquant.integer.requantize_fixed` (``"double"`` or
  ``"single"`` rounding);
* ReLU fused as the clamp ``[max(qmin, z_out), qmax]``.

Inference: :func:`quantize_input` (float to codes), :func:`integer_forward`
(codes to codes, integer arrays only), :func:`dequantize_output` (codes to
float). Two float simulations check it: :func:`simulate_forward` with
``requantization="fixed"`` models the fixed-point rounding exactly in float64
(its outputs equal the integer model's), with ``"float"`` requantizes through a
float32 multiplier as ONNX Runtime does (within 1 LSB per layer;
:func:`requantization_differences` counts and explains each difference).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import check_choice, show_values
from refquant.calibrate.mse import mse_range
from refquant.calibrate.ranges import minmax_range, moving_average_minmax, percentile_range, range_to_qparams
from refquant.integer import (
    overflow_bound,
    quantize_multiplier,
    requantization_multiplier,
    requantize_fixed,
    requantize_float,
)
from refquant.integer.matmul import integer_matmul
from refquant.nn.mlp import _params, mlp_forward
from refquant.quantize import dequantize, quantize

__all__ = [
    "ACTIVATION_DTYPES",
    "CALIBRATORS",
    "KERNELS",
    "SIMULATIONS",
    "IntegerLinear",
    "IntegerMLP",
    "RequantDifferences",
    "convert_to_integer",
    "dequantize_output",
    "integer_forward",
    "quantize_input",
    "requantization_differences",
    "simulate_forward",
]

ACTIVATION_DTYPES = ("int8", "uint8")
CALIBRATORS = ("minmax", "moving_average", "percentile", "mse")
KERNELS = ("integer", "blas")
SIMULATIONS = ("fixed", "float")
_RANGES = {"int8": (-128, 127), "uint8": (0, 255)}
_I32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class IntegerLinear:
    """One integer layer: ``y = clamp(MBQM((x - z_in) @ W.T + b, q, shift) + z_out, qmin, qmax)``.

    ``weight`` int8 ``(out, in)``; ``bias`` int32 ``(out,)``; ``weight_scale``
    float32 ``(out,)``; ``multiplier`` and ``shift`` int32 ``(out,)``; the
    scales are float32 scalars, the zero points Python ints; ``qmin, qmax`` the
    clamp (ReLU fused when ``relu``).
    """

    weight: NDArray[np.int8]
    bias: NDArray[np.int32]
    weight_scale: NDArray[np.float32]
    input_scale: np.float32
    input_zero_point: int
    output_scale: np.float32
    output_zero_point: int
    multiplier: NDArray[np.int32]
    shift: NDArray[np.int32]
    qmin: int
    qmax: int
    relu: bool


@dataclass(frozen=True)
class IntegerMLP:
    """The integer layers, the activation type (``"int8"`` or ``"uint8"``) and the fixed-point rounding."""

    layers: tuple[IntegerLinear, ...]
    activation_dtype: str
    rounding: str


class RequantDifferences(NamedTuple):
    """Fixed-point against float32 requantization of one layer, on the same accumulators.

    ``outputs``: codes compared; ``differ``: codes that differ; of those,
    ``double_rounding`` (the fixed path is not the correct rounding of its own
    exact value ``acc * M_fixed``), ``ties`` (``acc * M_fixed`` is exactly a
    half: half-away against half-even) and ``multiplier`` (the rest: ``M_fixed``
    and ``fl32(M)`` and the float32 product put the value on different sides of
    a rounding boundary); ``max_lsb``: the largest ``|difference|``.
    """

    outputs: int
    differ: int
    double_rounding: int
    ties: int
    multiplier: int
    max_lsb: int


def _batches(calibration: Any, n_in: int) -> list[NDArray[Any]]:
    if isinstance(calibration, (str, bytes, np.ndarray)) or not isinstance(calibration, Iterable):
        raise TypeError(
            f"calibration must be an iterable of (N, {n_in}) float arrays, got {calibration!r}"[:300]
        )
    out = []
    for i, batch in enumerate(calibration):
        b = np.asarray(batch)
        if b.dtype.kind not in "fiu" or b.ndim != 2 or b.shape[1] != n_in or len(b) == 0:
            raise ValueError(
                f"calibration[{i}] must be a non-empty real array of shape (N, {n_in}), "
                f"got shape {b.shape} and dtype {b.dtype}"
            )
        if not np.isfinite(b).all():
            raise ValueError(f"calibration[{i}] must be finite, got {show_values(b[~np.isfinite(b)])}")
        out.append(b)
    if not out:
        raise ValueError("calibration must hold at least one batch, got none")
    return out


def _range(tensors: list[NDArray[Any]], calibrator: str, dtype: str, percentile: float) -> tuple[Any, Any]:
    if calibrator == "moving_average":
        return moving_average_minmax(tensors)
    x = np.concatenate([t.ravel() for t in tensors])
    if calibrator == "minmax":
        return minmax_range(x)
    if calibrator == "percentile":
        return percentile_range(x, percentile)
    return mse_range(x, num_bits=8, symmetric=False, unsigned=dtype == "uint8", narrow_range=False)


def convert_to_integer(
    params: Sequence[tuple[ArrayLike, ArrayLike]],
    calibration: Iterable[ArrayLike],
    *,
    activation_dtype: str = "int8",
    calibrator: str = "minmax",
    rounding: str = "double",
    percentile: float = 99.99,
) -> IntegerMLP:
    """A float ReLU MLP and calibration batches as an :class:`IntegerMLP` (int8 weights, int32 biases).

    Parameters
    ----------
    params : list of (w, b)
        The float MLP (:mod:`refquant.nn.mlp`): ``w`` of shape ``(out, in)``,
        ``b`` of shape ``(out,)``, ReLU between the layers, logits last.
    calibration : iterable of array_like, each of shape (N, in)
        Non-empty, finite batches; the float model runs on them to give every
        layer's input and the logits.
    activation_dtype : {"int8", "uint8"}
        The activation codes (per tensor, affine).
    calibrator : {"minmax", "moving_average", "percentile", "mse"}
        The range of each activation tensor over all batches:
        :func:`~refquant.calibrate.minmax_range`,
        :func:`~refquant.calibrate.moving_average_minmax` (one update per batch),
        :func:`~refquant.calibrate.percentile_range` (two-sided, ``percentile``),
        :func:`~refquant.calibrate.mse_range` (8-bit affine grid).
    rounding : {"double", "single"}
        The fixed-point requantization (:func:`refquant.integer.multiply_by_quantized_multiplier`).
    percentile : float
        For ``calibrator="percentile"``.

    Returns
    -------
    IntegerMLP

    Notes
    -----
    With :math:`s_{in}, z_{in}` and :math:`s_{out}, z_{out}` from
    :func:`~refquant.calibrate.range_to_qparams` (float32 scales, the range
    widened to contain 0) and :math:`s_{w,c} = \\max_j |w_{cj}| / 127`:

    .. math::

        W_q = \\operatorname{clip}(R(w / s_w), -127, 127), \\quad
        b_q = \\operatorname{clip}\\big(R(b / (s_{in} s_{w})), -2^{31}, 2^{31} - 1\\big), \\quad
        M_c = \\frac{s_{in} s_{w,c}}{s_{out}} \\approx q_c 2^{\\text{shift}_c - 31}

    ``R`` is round half to even. The bias scale ``s_in * s_w`` is the exact
    product of the two float32 scales (in float64, where it is exact), so the
    integer bias is exactly what the accumulator's scale says; ``M`` is formed
    in float64 (TFLite's per-channel ``PopulateConvolutionQuantizationParams``).
    The hidden layers' clamp is ``[max(qmin, z_out), qmax]`` (ReLU fused: every
    code below ``z_out`` is a negative real value). The depth ``K`` must be
    within :func:`~refquant.integer.overflow_bound` for the input's zero point,
    so the int32 accumulation of the products cannot overflow.
    Source: Jacob et al. (2018), eq. 5-8; TFLite ``reference_integer_ops::FullyConnected``.

    Examples
    --------
    Inputs in ``[0, 2]``: ``s_in = 2/255``, ``z_in = -128``; ``s_w = 0.5/127``;
    ``0.1 / (s_in s_w) = 3238.4``:

    >>> w, b = np.array([[0.5, -0.25]], np.float32), np.array([0.1], np.float32)
    >>> m = convert_to_integer([(w, b)], [np.array([[0.0, 1.0], [2.0, 0.5]], np.float32)])
    >>> L = m.layers[0]
    >>> L.weight.tolist(), L.bias.tolist(), L.input_zero_point, L.qmin, L.relu
    ([[127, -64]], [3238], -128, -128, False)
    """
    check_choice("activation_dtype", activation_dtype, ACTIVATION_DTYPES)
    check_choice("calibrator", calibrator, CALIBRATORS)
    check_choice("rounding", rounding, ("double", "single"))
    if isinstance(percentile, (bool, np.bool_)) or not isinstance(percentile, (int, float, np.floating)):
        raise TypeError(f"percentile must be a real number in [0, 100], got {percentile!r}")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must lie in [0, 100], got {percentile!r}")
    ps = _params(params)
    batches = _batches(calibration, ps[0][0].shape[1])
    seen: list[list[NDArray[Any]]] = [[] for _ in range(len(ps) + 1)]
    for b in batches:
        logits, cache = mlp_forward(ps, b, activation="relu")
        for k, a in enumerate((*cache.inputs, logits)):
            seen[k].append(np.asarray(a))
    acts = [
        range_to_qparams(*_range(t, calibrator, activation_dtype, percentile), activation_dtype) for t in seen
    ]
    lo, hi = _RANGES[activation_dtype]
    layers = []
    for i, (w, b) in enumerate(ps):
        s_in, z_in = np.float32(acts[i].scale), int(acts[i].zero_point)
        s_out, z_out = np.float32(acts[i + 1].scale), int(acts[i + 1].zero_point)
        k = w.shape[1]
        bound = overflow_bound(activation_dtype, "int8", z_in, 0)
        if k > bound:
            raise ValueError(f"params[{i}]: K = {k} inputs exceed the int32 overflow bound {bound}")
        amax = np.max(np.abs(w), axis=1)
        wq = range_to_qparams(
            -amax, amax, "int8", narrow_range=True, symmetric=True, symmetric_divisor="qmax"
        )
        s_w = np.asarray(wq.scale, np.float32)
        codes = quantize(w, s_w, np.zeros(len(s_w), np.int64), -127, 127, axis=0).astype(np.int8)
        s_b = np.float64(s_in) * s_w.astype(np.float64)  # exact: two 24-bit significands
        bias = np.clip(np.rint(np.asarray(b, np.float64) / s_b), *_I32).astype(np.int32)
        mult = requantization_multiplier(s_in, s_w, s_out, arithmetic="float64")
        q, shift = quantize_multiplier(mult, rounding=rounding)
        if np.any(shift > 30):
            raise ValueError(f"params[{i}]: a requantization multiplier >= 2**30 ({show_values(mult)})")
        relu = i < len(ps) - 1
        layers.append(
            IntegerLinear(
                codes, bias, s_w, s_in, z_in, s_out, z_out, q, shift, max(lo, z_out) if relu else lo, hi, relu
            )
        )
    return IntegerMLP(tuple(layers), activation_dtype, rounding)


def _model(model: object) -> IntegerMLP:
    if not isinstance(model, IntegerMLP):
        raise TypeError(f"model must be an IntegerMLP (convert_to_integer), got {type(model).__name__}")
    return model


def quantize_input(model: IntegerMLP, x: ArrayLike) -> NDArray[np.integer[Any]]:
    """``q = clip(R(x / s_in) + z_in, qmin, qmax)`` with the first layer's input parameters.

    Parameters
    ----------
    model : IntegerMLP
    x : array_like of float, shape (N, in)
        Finite (NaN raises ``ValueError``; ±inf saturate).

    Returns
    -------
    numpy.ndarray of int8 or uint8, shape (N, in)

    Notes
    -----
    .. math:: q = \\operatorname{clip}(R(x / s_{in}) + z_{in}, q_{min}, q_{max})

    ``R`` is half to even in float32 (ONNX QuantizeLinear): :func:`refquant.quantize.quantize`.

    Examples
    --------
    >>> p, c = [(np.eye(2), np.zeros(2))], [np.array([[0.0, 2.55]])]
    >>> m = convert_to_integer(p, c, activation_dtype="uint8")
    >>> quantize_input(m, np.array([[0.0, 1.0]])).tolist()
    [[0, 100]]
    """
    L = _model(model).layers[0]
    xa = np.asarray(x)
    if xa.dtype.kind not in "fiu" or xa.ndim != 2 or xa.shape[1] != L.weight.shape[1]:
        raise ValueError(f"x must be a real array of shape (N, {L.weight.shape[1]}), got shape {xa.shape}")
    lo, hi = _RANGES[model.activation_dtype]
    return quantize(
        xa.astype(np.float32), L.input_scale, L.input_zero_point, lo, hi, compute_dtype=np.float32
    )


def _codes(model: IntegerMLP, x_q: ArrayLike) -> NDArray[Any]:
    xa = np.asarray(x_q)
    want = np.dtype(model.activation_dtype)
    n_in = model.layers[0].weight.shape[1]
    if xa.ndim != 2 or xa.shape[1] != n_in:
        raise ValueError(f"x_q must have shape (N, {n_in}), got shape {xa.shape} (ndim {xa.ndim})")
    if xa.dtype != want:
        raise TypeError(f"x_q must be a {want} array (quantize_input), got dtype {xa.dtype}")
    return xa


def integer_forward(
    model: IntegerMLP, x_q: ArrayLike, *, kernel: str = "integer", trace: list[Any] | None = None
) -> NDArray[np.integer[Any]]:
    """The output codes of the integer MLP: integer arrays only, layer by layer.

    Parameters
    ----------
    model : IntegerMLP
    x_q : numpy.ndarray of int8 or uint8 (the model's activation dtype), shape (N, in)
        Input codes (:func:`quantize_input`).
    kernel : {"integer", "blas"}
        ``"integer"``: the matmul is NumPy's int32 matmul (no float anywhere;
        exact, since ``K`` is within the overflow bound); ``"blas"``:
        :func:`refquant.integer.integer_matmul`, the same exact sums through
        float BLAS where that is provably exact (faster; floats touched inside).
    trace : list, optional
        If given, ``(name, array)`` is appended for every intermediate array.

    Returns
    -------
    numpy.ndarray of int8 or uint8, shape (N, out)
        The last layer's output codes.

    Notes
    -----
    .. math::

        \\text{acc} = (x_q - z_{in}) W_q^T + b_q, \\qquad
        y = \\operatorname{clamp}(\\operatorname{MBQM}(\\text{acc}, q_c, \\text{shift}_c) + z_{out},
        q_{min}, q_{max})

    The accumulator is int32 (the sum with the bias is checked to fit: an
    accumulator outside int32 raises ``ValueError`` instead of wrapping).
    MBQM is :func:`refquant.integer.multiply_by_quantized_multiplier` with the
    model's rounding. Source: TFLite ``reference_integer_ops::FullyConnected``.

    Examples
    --------
    >>> p, c = [(np.eye(2), np.zeros(2))], [np.array([[0.0, 2.55]])]
    >>> m = convert_to_integer(p, c, activation_dtype="uint8")
    >>> integer_forward(m, np.array([[0, 100]], np.uint8)).tolist()
    [[0, 100]]
    """
    check_choice("kernel", kernel, KERNELS)
    x = _codes(_model(model), x_q)
    log = trace.append if trace is not None else (lambda _: None)
    log(("input", x))
    for i, L in enumerate(model.layers):
        if kernel == "integer":
            acc = np.matmul(x.astype(np.int32) - np.int32(L.input_zero_point), L.weight.T.astype(np.int32))
        else:
            acc = integer_matmul(x, L.weight.T, L.input_zero_point, 0)
        log((f"layer{i}.matmul", acc))
        acc = acc.astype(np.int64) + L.bias
        if acc.size and (acc.min() < -(2**31) or acc.max() >= 2**31):
            raise ValueError(
                f"layer {i}: the accumulator (x_q - z_in) W_q^T + b_q leaves int32 (range "
                f"[{acc.min()}, {acc.max()}]; its int32 bias is {L.bias.min()}..{L.bias.max()})"
            )
        log((f"layer{i}.accumulator", acc))
        x = requantize_fixed(
            acc, L.multiplier, L.shift, L.output_zero_point, L.qmin, L.qmax, rounding=model.rounding
        )
        x = x.astype(model.activation_dtype)
        log((f"layer{i}.output", x))
    return x


def dequantize_output(model: IntegerMLP, y_q: ArrayLike) -> NDArray[np.float32]:
    """``y = (y_q - z_out) * s_out`` with the last layer's output parameters, float32.

    Parameters
    ----------
    model : IntegerMLP
    y_q : array_like of int, shape (N, out)

    Returns
    -------
    numpy.ndarray of float32, shape (N, out)

    Notes
    -----
    .. math:: y = (y_q - z_{out})\\, s_{out}

    :func:`refquant.quantize.dequantize` (ONNX DequantizeLinear).

    Examples
    --------
    >>> p, c = [(np.eye(2), np.zeros(2))], [np.array([[0.0, 2.55]])]
    >>> m = convert_to_integer(p, c, activation_dtype="uint8")
    >>> dequantize_output(m, np.array([[0, 100]], np.uint8)).round(4).tolist()
    [[0.0, 1.0]]
    """
    L = _model(model).layers[-1]
    ya = np.asarray(y_q)
    if ya.dtype.kind not in "iu":
        raise TypeError(f"y_q must be an integer array, got dtype {ya.dtype}: {show_values(ya)}")
    return dequantize(ya, L.output_scale, L.output_zero_point, dtype=np.float32)


def _floor_half(
    n_acc: NDArray[np.float64], q: NDArray[np.float64], k: Any, half: bool
) -> NDArray[np.float64]:
    """``floor(acc * q / 2**k + half / 2)`` exactly in float64, ``|acc|, q < 2**31``, ``1 <= k <= 62``.

    ``q = qh 2**16 + ql``: both partial products are exact (< 2**47); their
    integer and fractional parts are exact, and the fractional parts (bits
    down to ``2**-k``) add exactly for ``k <= 31``. For ``k > 31`` the floor
    is taken in two steps, ``floor(floor(N / 2**31) + 2**(k - 32)) / 2**(k - 31))``.
    """
    k = np.asarray(k, np.float64)
    qh = np.floor(q / 2**16)
    ql = q - qh * 2**16
    kk = np.minimum(k, 31)
    w1, w2 = n_acc * qh * 2.0 ** (16 - kk), n_acc * ql * 2.0 ** (-kk)
    f1, f2 = np.floor(w1), np.floor(w2)
    frac = (w1 - f1) + (w2 - f2)
    small = f1 + f2 + np.floor(frac + (0.5 if half else 0.0) * (k <= 31))
    big = np.floor((small + np.where(k > 31, 2.0 ** (k - 32), 0) * half) * 2.0 ** (31 - np.maximum(k, 31)))
    return np.where(k <= 31, small, big)


def _fixed_in_float(acc: NDArray[np.float64], L: IntegerLinear, rounding: str) -> NDArray[np.float64]:
    """:func:`refquant.integer.multiply_by_quantized_multiplier`'s requantization, exactly in float64."""
    q, s = L.multiplier.astype(np.float64), L.shift.astype(np.float64)
    if rounding == "single":
        y = _floor_half(acc, q, 31 - s, True)
        if np.any(np.abs(y + 0.5) > 2**31):
            raise ValueError("the result must fit int32 for rounding='single'")
        return y
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    x = acc * 2.0**left
    if np.any((x < _I32[0]) | (x > _I32[1])):  # INT32_MIN itself is an int32
        raise ValueError("acc * 2**shift must fit int32 for rounding='double'")
    high = _floor_half(x, q, np.full_like(s, 31), True)  # SRDHM: nearest, ties up (q >= 0)
    h = np.abs(high)
    rounded = np.where(right > 0, np.floor(h * 2.0 ** (-right) + 0.5), h)  # RDBPOT: ties away from zero
    return np.sign(high) * rounded


def simulate_forward(
    model: IntegerMLP, x: ArrayLike, *, requantization: str = "fixed"
) -> NDArray[np.float64]:
    """The fake-quantized float64 model of the integer MLP: real values, the integer model's rounding.

    Parameters
    ----------
    model : IntegerMLP
    x : array_like of float, shape (N, in)
    requantization : {"fixed", "float"}
        ``"fixed"``: each layer's output codes are the model's fixed-point
        requantization of the accumulator, modelled exactly in float64;
        ``"float"``: ``R(fl32(acc) * fl32(M))`` with ``M`` in float32 and ties to even
        (ONNX Runtime's QLinear kernels, :func:`refquant.integer.requantize_float`).

    Returns
    -------
    numpy.ndarray of float64, shape (N, out)
        The dequantized logits ``s_out (y - z_out)``.

    Notes
    -----
    Every layer works on real values: :math:`\\hat x = s_{in}(x_q - z_{in})`,
    :math:`\\hat W = s_w W_q`, :math:`\\hat b = s_{in} s_w b_q`, and
    :math:`\\hat y = \\hat x \\hat W^T + \\hat b` in float64. The accumulator is
    :math:`\\text{acc} = R(\\hat y / (s_{in} s_w))` (an integer: the float64
    error is far below 1/2; more than 1/4 raises ``ValueError``), and the
    output :math:`\\hat x' = s_{out}(\\operatorname{clamp}(\\rho(\\text{acc}) + z_{out}) - z_{out})`,
    where ``rho`` is SRDHM then RDBPOT (``"double"``), or one rounding of
    ``acc q / 2**(31 - shift)`` (``"single"``), each computed exactly in
    float64 by splitting ``q`` into two 16-bit halves (no product beyond
    ``2**47``). With ``"fixed"`` the codes equal :func:`integer_forward`'s.

    Examples
    --------
    >>> p, c = [(np.eye(2), np.zeros(2))], [np.array([[0.0, 2.55]])]
    >>> m = convert_to_integer(p, c, activation_dtype="uint8")
    >>> simulate_forward(m, np.array([[0.0, 1.0]])).round(4).tolist()
    [[0.0, 1.0]]
    """
    check_choice("requantization", requantization, SIMULATIONS)
    m = _model(model)
    xq = quantize_input(m, x)
    L0 = m.layers[0]
    xh = (xq.astype(np.float64) - L0.input_zero_point) * np.float64(L0.input_scale)
    for i, L in enumerate(m.layers):
        s_acc = np.float64(L.input_scale) * L.weight_scale.astype(np.float64)
        w_hat = L.weight.astype(np.float64) * L.weight_scale.astype(np.float64)[:, None]
        y_hat = xh @ w_hat.T + L.bias.astype(np.float64) * s_acc
        acc_f = y_hat / s_acc
        acc = np.rint(acc_f)
        if np.any(np.abs(acc_f - acc) > 0.25):
            raise ValueError(f"layer {i}: the float64 accumulator is not within 1/4 of an integer")
        if requantization == "fixed":
            codes = _fixed_in_float(acc, L, m.rounding) + L.output_zero_point
            codes = np.clip(codes, L.qmin, L.qmax)
        else:
            mult = requantization_multiplier(L.input_scale, L.weight_scale, L.output_scale)
            codes = requantize_float(acc.astype(np.int64), mult, L.output_zero_point, L.qmin, L.qmax).astype(
                np.float64
            )
        xh = (codes - L.output_zero_point) * np.float64(L.output_scale)
    return xh


def requantization_differences(model: IntegerMLP, x_q: ArrayLike) -> list[RequantDifferences]:
    """Per layer: the fixed-point codes against float32 requantization of the same accumulators, explained.

    Parameters
    ----------
    model : IntegerMLP
    x_q : numpy.ndarray of the activation dtype, shape (N, in)
        Input codes; every layer is fed the fixed-point model's codes.

    Returns
    -------
    list of RequantDifferences
        One per layer.

    Notes
    -----
    With ``v = acc q 2**(shift - 31)`` exact (a rational number) and
    ``u = fl32(fl32(acc) fl32(M))``, the fixed path gives ``rho(v)`` and the
    float path ``R_even(u)``. A difference is counted as ``double_rounding``
    when ``rho(v)`` differs from ``round_half_away(v)`` (the two roundings of
    the double path; never with ``"single"``); else ``ties`` when ``v`` is
    exactly a half (half-away or half-up against half-even); else
    ``multiplier``: ``v`` and ``u`` differ (``M`` rounded to 31 bits against
    24, and the float32 product) across a rounding boundary. Each code differs by at most 1.

    Examples
    --------
    >>> p, c = [(np.eye(2), np.zeros(2))], [np.array([[0.0, 2.55]])]
    >>> m = convert_to_integer(p, c, activation_dtype="uint8")
    >>> requantization_differences(m, np.array([[0, 100]], np.uint8))[0].differ
    0
    """
    m = _model(model)
    x = _codes(m, x_q)
    out = []
    for L in m.layers:
        acc = integer_matmul(x, L.weight.T, L.input_zero_point, 0).astype(np.int64) + L.bias
        fixed = requantize_fixed(
            acc, L.multiplier, L.shift, L.output_zero_point, L.qmin, L.qmax, rounding=m.rounding
        )
        mult = requantization_multiplier(L.input_scale, L.weight_scale, L.output_scale)
        flt = requantize_float(acc, mult, L.output_zero_point, L.qmin, L.qmax)
        n = acc * L.multiplier.astype(np.int64)  # |n| < 2**62
        k = (31 - L.shift).astype(np.int64)
        mag = np.abs(n)
        rem = mag & ((np.int64(1) << k) - 1)
        half = np.int64(1) << (k - 1)
        if m.rounding == "single":  # its one rounding: half up
            correct = (n + half) >> k
        else:  # the double path's intent: half away from zero
            correct = np.sign(n) * ((mag + half) >> k)
        exact = np.clip(correct + L.output_zero_point, L.qmin, L.qmax)
        diff = fixed.astype(np.int64) != flt.astype(np.int64)
        dbl = diff & (fixed.astype(np.int64) != exact)
        tie = diff & ~dbl & (rem == half)
        out.append(
            RequantDifferences(
                int(diff.size),
                int(diff.sum()),
                int(dbl.sum()),
                int(tie.sum()),
                int((diff & ~dbl & ~tie).sum()),
                int(np.max(np.abs(fixed.astype(np.int64) - flt.astype(np.int64)), initial=0)),
            )
        )
        x = fixed.astype(m.activation_dtype)
    return out
