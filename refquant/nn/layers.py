"""Layers of a small MLP: ``linear`` and the activations, each with its ``_vjp``.

Weights use PyTorch's layout: ``w`` has shape ``(out_features, in_features)``
and ``linear(x, w, b) = x @ w.T + b``. Every activation is elementwise, keeps
``x``'s float dtype (the smooth ones compute float16 in float32 and round once,
as PyTorch does on CPU) and has a backward ``<name>_vjp(g, x, ...)`` returning
:class:`~refquant._types.InputGrad`.

Conventions, each checked against torch autograd in ``tests/conformance``:

* kinks: ``relu'(0) = 0`` and ``leaky_relu'(0) = negative_slope`` (the
  gradient passes only where ``x > 0``), for both ``+0.0`` and ``-0.0``;
  ``relu(-0.0) = -0.0`` and ``leaky_relu(-0.0) = -0.0``;
* NaN propagates through every forward; the backward of ``relu`` passes
  ``g`` at NaN and that of ``leaky_relu`` passes ``negative_slope * g``
  (torch's comparisons), the others return NaN;
* the smooth activations are evaluated without cancellation (see each
  function's Notes); torch's formulas lose relative accuracy in the tails,
  where the values are tiny, and the tests bound that difference there;
* inputs: any float array (0-d arrays, Python scalars and lists included),
  integer and bool inputs computed as float64; the result is always an
  ndarray (0-d for a 0-d input); empty inputs give empty outputs;
* overflow: a result that is not finite although every input is (an exact
  value beyond the dtype's range: ``linear`` with weights near the float
  maximum, a cotangent near it times a slope above 1, a ``negative_slope``
  that overflows ``x``'s dtype) raises ``ValueError`` naming the inputs,
  never returns a silent ``inf`` or NaN; NaN and ``±inf`` inputs propagate
  by IEEE arithmetic without warnings.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special  # type: ignore[import-untyped]  # no stubs installed

from refquant._types import InputGrad
from refquant._validate import check_choice
from refquant.grad._args import check_overflow, cotangent, real_array

__all__ = [
    "ACTIVATIONS",
    "LinearGrads",
    "gelu",
    "gelu_vjp",
    "leaky_relu",
    "leaky_relu_vjp",
    "linear",
    "linear_vjp",
    "relu",
    "relu_vjp",
    "sigmoid",
    "sigmoid_vjp",
    "tanh",
    "tanh_vjp",
]

GeluApproximation = Literal["none", "tanh"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # equals torch's M_SQRT2 * M_2_SQRTPI * 0.5 in float64
_KAPPA = 0.044715
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# |x| above which Phi(x), phi(x) and sigmoid(2 u(x)) are exactly 0 or 1 in float32 and float64;
# clipping there keeps x**2 and x**3 finite without changing any result.
_CLIP = 1e5


class LinearGrads(NamedTuple):
    """Gradients of :func:`linear`: input, weight and bias (None when there is no bias)."""

    grad_x: NDArray[Any]
    grad_w: NDArray[Any]
    grad_b: NDArray[Any] | None


def linear(x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None) -> NDArray[Any]:
    """``y = x @ w.T + b``, PyTorch's ``torch.nn.functional.linear``.

    Parameters
    ----------
    x : array_like of float, shape (..., in_features)
        Any number of leading batch dimensions, including none (a single
        vector of shape ``(in_features,)``).
    w : array_like of float, shape (out_features, in_features)
    b : array_like of float, shape (out_features,), optional
        No bias when None.

    Returns
    -------
    ndarray, shape (..., out_features)
        In the promoted float dtype of ``x``, ``w`` and ``b``
        (``numpy.result_type``; integer inputs count as float64).

    Notes
    -----
    .. math:: y_{\\dots j} = \\sum_k x_{\\dots k} w_{jk} + b_j

    Source: ``torch.nn.Linear`` (weight layout ``(out, in)``). The sum order
    is NumPy's (BLAS): results agree with other implementations to rounding.

    Examples
    --------
    >>> linear([[1.0, 2.0]], [[1.0, 0.0], [0.5, -1.0]], [0.5, 0.0]).tolist()
    [[1.5, -1.5]]
    """
    xa, wa, ba, dtype = _linear_args(x, w, b)
    with np.errstate(over="ignore", invalid="ignore"):
        y = xa.astype(dtype, copy=False) @ wa.astype(dtype, copy=False).T
        if ba is not None:
            y = y + ba.astype(dtype, copy=False)
    y = np.asarray(y)
    check_overflow("linear", (y,), x=xa, w=wa, b=ba)
    return y


def linear_vjp(g: ArrayLike, x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None) -> LinearGrads:
    """Gradients of :func:`linear`: ``(g @ w, g^T x, sum g)`` over the batch dimensions.

    Parameters
    ----------
    g : array_like of float, shape (..., out_features)
        Cotangent of ``y``.
    x, w, b
        As in :func:`linear`.

    Returns
    -------
    LinearGrads
        ``grad_x`` (shape and dtype of ``x``), ``grad_w`` (of ``w``) and
        ``grad_b`` (of ``b``; None when ``b`` is None). Computed in the
        promoted dtype, then cast to each argument's float dtype.

    Notes
    -----
    With the batch dimensions flattened to ``M`` rows, ``G`` of shape
    ``(M, out)`` and ``X`` of shape ``(M, in)``:

    .. math:: \\bar x = G w, \\qquad \\bar w = G^\\top X, \\qquad \\bar b = G^\\top \\mathbf{1}

    An empty batch gives zero ``grad_w`` and ``grad_b``. A finite ``g``
    that ``x``'s dtype cannot hold, or gradients that overflow, raise
    ``ValueError`` (module docstring).

    Examples
    --------
    >>> r = linear_vjp([[1.0, 2.0]], [[1.0, 2.0]], [[1.0, 0.0], [0.5, -1.0]], [0.5, 0.0])
    >>> r.grad_x.tolist(), r.grad_w.tolist(), r.grad_b.tolist()
    ([[2.0, -2.0]], [[1.0, 2.0], [2.0, 4.0]], [1.0, 2.0])
    """
    xa, wa, ba, dtype = _linear_args(x, w, b)
    out_features, in_features = wa.shape
    expected = (*xa.shape[:-1], out_features)
    ga = cotangent(g, np.empty(expected, dtype), "linear(x, w, b)")
    xc, wc = xa.astype(dtype, copy=False), wa.astype(dtype, copy=False)
    rows = math.prod(xa.shape[:-1])  # not reshape(-1, n): that fails for n = 0 features
    g2, x2 = ga.reshape(rows, out_features), xc.reshape(rows, in_features)
    with np.errstate(over="ignore", invalid="ignore"):
        grad_x = np.asarray(ga @ wc).astype(xa.dtype, copy=False)
        grad_w = (g2.T @ x2).astype(wa.dtype, copy=False)
        grad_b = None if ba is None else g2.sum(axis=0).astype(ba.dtype, copy=False)
    check_overflow("linear_vjp", (grad_x, grad_w, grad_b), g=ga, x=xa, w=wa, b=ba)
    return LinearGrads(grad_x, grad_w, grad_b)


def relu(x: ArrayLike) -> NDArray[Any]:
    """``y = max(x, 0)``, with ``relu(-0.0) = -0.0`` and NaN propagated (as torch).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math:: y = \\begin{cases} x & x \\ge 0 \\text{ or NaN} \\\\ 0 & x < 0 \\end{cases}

    Source: Nair and Hinton (2010); PyTorch's ``clamp_min(x, 0)``, which
    keeps ``-0.0`` and NaN.

    Examples
    --------
    >>> relu([-1.0, 0.0, 2.0]).tolist()
    [0.0, 0.0, 2.0]
    """
    xa = real_array("x", x)
    return np.where(xa < 0, xa.dtype.type(0), xa)


def relu_vjp(g: ArrayLike, x: ArrayLike) -> InputGrad:
    """``dx = g * [x > 0]``: ``relu'(0) = 0``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of ``y``.
    x : array_like of float

    Returns
    -------
    InputGrad
        ``grad_x``, shape and float dtype of ``x``.

    Notes
    -----
    .. math:: \\bar x = \\begin{cases} 0 & x \\le 0 \\\\ g & \\text{otherwise (including NaN)} \\end{cases}

    At the kink ``x = ±0`` the gradient is 0, PyTorch's choice (its
    ``threshold_backward`` zeroes ``g`` where the output is ``<= 0``); 0 is a
    valid subgradient. Where ``x`` is NaN, ``g`` passes, as in PyTorch.

    Examples
    --------
    >>> relu_vjp([1.0, 1.0, 1.0], [-1.0, 0.0, 2.0]).grad_x.tolist()
    [0.0, 0.0, 1.0]
    """
    xa, ga = _grad_and_input(g, x)
    return InputGrad(np.where(xa <= 0, xa.dtype.type(0), ga))


def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> NDArray[Any]:
    """``y = x if x > 0 else negative_slope * x``.

    Parameters
    ----------
    x : array_like of float, any shape
    negative_slope : float
        Finite, and finite when cast to ``x``'s dtype (it is cast before
        multiplying, as PyTorch does).

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math:: y = \\begin{cases} x & x > 0 \\\\ a x & \\text{otherwise} \\end{cases}

    Source: Maas, Hannun and Ng (2013); ``torch.nn.functional.leaky_relu``.
    ``leaky_relu(-0.0) = -0.0``; NaN propagates.

    Examples
    --------
    >>> leaky_relu([-2.0, 0.0, 3.0], 0.25).tolist()
    [-0.5, 0.0, 3.0]
    """
    xa = real_array("x", x)
    a = _slope(negative_slope, xa.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.where(xa > 0, xa, xa * a)
    check_overflow("leaky_relu", (y,), x=xa, negative_slope=a)
    return y


def leaky_relu_vjp(g: ArrayLike, x: ArrayLike, negative_slope: float = 0.01) -> InputGrad:
    """``dx = g if x > 0 else negative_slope * g``: ``leaky_relu'(0) = negative_slope``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
        Cotangent of ``y``.
    x : array_like of float
    negative_slope : float

    Returns
    -------
    InputGrad
        ``grad_x``, shape and float dtype of ``x``.

    Notes
    -----
    .. math:: \\bar x = \\begin{cases} g & x > 0 \\\\ a g & \\text{otherwise (} x = \\pm 0
              \\text{ and NaN included)} \\end{cases}

    The slope at the kink is the left one, as in PyTorch's
    ``leaky_relu_backward`` (``x > 0 ? g : g * a``).

    Examples
    --------
    >>> leaky_relu_vjp([1.0, 1.0, 1.0], [-2.0, 0.0, 3.0], 0.25).grad_x.tolist()
    [0.25, 0.25, 1.0]
    """
    xa, ga = _grad_and_input(g, x)
    a = _slope(negative_slope, xa.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.where(xa > 0, ga, ga * a)
    check_overflow("leaky_relu_vjp", (d,), g=ga, x=xa, negative_slope=a)
    return InputGrad(d)


def sigmoid(x: ArrayLike) -> NDArray[Any]:
    """``y = 1 / (1 + exp(-x))``, without overflow for any ``x``.

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, shape and float dtype of ``x``, values in [0, 1]

    Notes
    -----
    .. math:: \\sigma(x) = \\frac{1}{1 + e^{-x}} = \\begin{cases} 1 / (1 + e) & x \\ge 0 \\\\
              e / (1 + e) & x < 0 \\end{cases}, \\quad e = e^{-|x|} \\in (0, 1]

    The exponent is never positive, so nothing overflows and both branches
    are accurate to a few ulps (``sigmoid(±inf) = 1, 0``).

    Examples
    --------
    >>> sigmoid([0.0, 1000.0, -1000.0]).tolist()
    [0.5, 1.0, 0.0]
    """
    xa = real_array("x", x)
    return np.asarray(_sigmoid_and_slope(_compute(xa))[0].astype(xa.dtype, copy=False))


def sigmoid_vjp(g: ArrayLike, x: ArrayLike) -> InputGrad:
    """``dx = g * sigmoid(x) * sigmoid(-x)``, accurate in both tails.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x : array_like of float

    Returns
    -------
    InputGrad
        ``grad_x``, shape and float dtype of ``x``.

    Notes
    -----
    .. math:: \\sigma'(x) = \\sigma(x)\\,\\sigma(-x) = \\frac{e}{(1 + e)^2}, \\quad e = e^{-|x|}

    PyTorch computes ``y (1 - y)``; for large ``x`` the factor ``1 - y``
    keeps only an absolute accuracy of one ulp of 1, so torch's value has a
    relative error up to about ``eps e^x`` (and is 0 beyond ``x ≈ 37``)
    where this one stays within a few ulps.

    Examples
    --------
    >>> sigmoid_vjp([1.0, 1.0], [0.0, 800.0]).grad_x.tolist()
    [0.25, 0.0]
    """
    xa, ga = _grad_and_input(g, x)
    with np.errstate(invalid="ignore"):
        return InputGrad(np.asarray((ga * _sigmoid_and_slope(_compute(xa))[1]).astype(xa.dtype, copy=False)))


def tanh(x: ArrayLike) -> NDArray[Any]:
    """``y = tanh(x)`` (NumPy's ``tanh``).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, shape and float dtype of ``x``, values in [-1, 1]

    Notes
    -----
    .. math:: \\tanh x = \\frac{e^x - e^{-x}}{e^x + e^{-x}}

    Examples
    --------
    >>> tanh([0.0, -1000.0]).tolist()
    [0.0, -1.0]
    """
    xa = real_array("x", x)
    return np.asarray(np.tanh(_compute(xa)).astype(xa.dtype, copy=False))


def tanh_vjp(g: ArrayLike, x: ArrayLike) -> InputGrad:
    """``dx = g * (1 - tanh(x)**2)``, evaluated as ``4 e / (1 + e)**2`` with ``e = exp(-2|x|)``.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x : array_like of float

    Returns
    -------
    InputGrad
        ``grad_x``, shape and float dtype of ``x``.

    Notes
    -----
    .. math:: \\tanh'(x) = 1 - \\tanh^2 x = \\operatorname{sech}^2 x = \\frac{4e}{(1 + e)^2},
              \\quad e = e^{-2|x|}

    PyTorch computes ``1 - y**2``, which loses relative accuracy as
    ``|x|`` grows (``tanh^2 x`` rounds to 1 from ``|x| ≈ 19``); this form
    keeps a few ulps everywhere and never overflows.

    Examples
    --------
    >>> tanh_vjp([2.0, 1.0], [0.0, 1000.0]).grad_x.tolist()
    [2.0, 0.0]
    """
    xa, ga = _grad_and_input(g, x)
    xc = _compute(xa)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-2 * np.abs(xc))  # -2|x| may round to -inf: e = 0, the limit
        q = 1 / (1 + e)
        return InputGrad(np.asarray((ga * (4 * e * q * q)).astype(xa.dtype, copy=False)))


def gelu(x: ArrayLike, approximate: GeluApproximation = "none") -> NDArray[Any]:
    """``y = x * Phi(x)``, or its tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    Parameters
    ----------
    x : array_like of float, any shape
    approximate : {"none", "tanh"}
        ``"none"``: the exact GELU with the normal CDF ``Phi`` (via
        ``scipy.special.erfc``); ``"tanh"``: the approximation of Hendrycks
        and Gimpel, with PyTorch's constants.

    Returns
    -------
    ndarray, shape and float dtype of ``x``

    Notes
    -----
    .. math::

        \\mathrm{gelu}(x) = x\\,\\Phi(x) = \\tfrac{x}{2}\\operatorname{erfc}(-x/\\sqrt 2), \\qquad
        \\mathrm{gelu}_{\\tanh}(x) = \\tfrac{x}{2}\\big(1 + \\tanh u\\big) = x\\,\\sigma(2u), \\quad
        u = \\sqrt{2/\\pi}\\,(x + 0.044715\\,x^3)

    Source: Hendrycks and Gimpel, "Gaussian Error Linear Units" (2016);
    ``torch.nn.functional.gelu``. Both are the functions torch computes, but
    evaluated without cancellation: torch forms ``1 + erf(x/√2)`` and
    ``1 + tanh(u)``, which round to 0 for ``x`` below about -8.3 and -7.1 (its
    result is then ``-0.0``) and have only absolute accuracy before that; here
    ``erfc`` and ``σ(2u)`` keep relative accuracy down to underflow. At
    ``x = ±inf`` the limits are returned (``inf`` and ``-0.0``; torch gives
    NaN at ``-inf``); NaN propagates.

    Examples
    --------
    >>> gelu([0.0, 1.0, -1.0]).round(6).tolist()
    [0.0, 0.841345, -0.158655]
    >>> gelu([0.0, 1.0], approximate="tanh").round(6).tolist()
    [0.0, 0.841192]
    """
    check_choice("approximate", approximate, ("none", "tanh"))
    xa = real_array("x", x)
    xc = _compute(xa)
    s, _ = _gelu_parts(xc, approximate)
    return np.asarray(_times(xc, s).astype(xa.dtype, copy=False))


def gelu_vjp(g: ArrayLike, x: ArrayLike, approximate: GeluApproximation = "none") -> InputGrad:
    """``dx = g * (Phi(x) + x phi(x))`` (exact) or the derivative of the tanh approximation.

    Parameters
    ----------
    g : array_like of float, shape of ``x``
    x : array_like of float
    approximate : {"none", "tanh"}
        As in :func:`gelu`.

    Returns
    -------
    InputGrad
        ``grad_x``, shape and float dtype of ``x``.

    Notes
    -----
    .. math::

        \\mathrm{gelu}'(x) = \\Phi(x) + x\\,\\varphi(x), \\quad
        \\varphi(x) = \\frac{e^{-x^2/2}}{\\sqrt{2\\pi}}; \\qquad
        \\mathrm{gelu}_{\\tanh}'(x) = \\sigma(2u) + 2x\\,\\sigma'(2u)\\,\\sqrt{2/\\pi}\\,(1 + 3 \\cdot
        0.044715\\,x^2)

    (``σ'(2u) = (1 - tanh^2 u) / 4``, so the second is torch's
    ``0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u'``.) The limits at ``±inf``
    are 1 and 0 (torch: NaN).

    Examples
    --------
    >>> gelu_vjp([1.0, 1.0], [0.0, 1.0]).grad_x.round(6).tolist()
    [0.5, 1.083315]
    """
    check_choice("approximate", approximate, ("none", "tanh"))
    xa, ga = _grad_and_input(g, x)
    xc = _compute(xa)
    s, ds = _gelu_parts(xc, approximate)
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.asarray((ga * (s + _times(xc, ds))).astype(xa.dtype, copy=False))
    check_overflow("gelu_vjp", (d,), g=ga, x=xa)
    return InputGrad(d)


#: The one activation table: name -> (forward, backward). The MLP and the recipes look names up here.
ACTIVATIONS: dict[str, tuple[Any, Any]] = {
    "relu": (relu, relu_vjp),
    "tanh": (tanh, tanh_vjp),
    "sigmoid": (sigmoid, sigmoid_vjp),
    "gelu": (gelu, gelu_vjp),
}


def _gelu_parts(x: NDArray[Any], approximate: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(s, ds)`` with ``gelu(x) = x s`` and ``gelu'(x) = s + x ds``."""
    xc = np.clip(x, -_CLIP, _CLIP)
    if approximate == "none":
        s = 0.5 * special.erfc(-xc * _SQRT_HALF)
        ds = np.exp(-0.5 * xc * xc) * _INV_SQRT_2PI
        return s.astype(x.dtype, copy=False), ds.astype(x.dtype, copy=False)
    u = _SQRT_2_OVER_PI * (xc + _KAPPA * xc * xc * xc)
    s, slope = _sigmoid_and_slope(2 * u)
    return s, 2 * slope * (_SQRT_2_OVER_PI * (1 + 3 * _KAPPA * xc * xc))


def _sigmoid_and_slope(x: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(sigmoid(x), sigmoid'(x))`` from ``e = exp(-|x|)``, which cannot overflow."""
    e = np.exp(-np.abs(x))
    p = 1 / (1 + e)  # sigmoid(|x|)
    return np.where(x >= 0, p, e * p), e * p * p


def _times(x: NDArray[Any], s: NDArray[Any]) -> NDArray[Any]:
    """``x * s`` with ``±inf * 0`` taken as the limit ``±0`` (``s`` vanishes faster than ``x`` grows)."""
    out = np.asarray(np.copysign(np.zeros_like(x), x))  # an array even for 0-d x
    return np.multiply(x, s, out=out, where=s != 0)


def _compute(x: NDArray[Any]) -> NDArray[Any]:
    """float16 is computed in float32 (rounded once at the end); other floats in their own dtype."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _slope(negative_slope: object, dtype: np.dtype[Any]) -> Any:
    """``negative_slope`` as a ``dtype`` scalar: a finite real number that ``dtype`` holds."""
    if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(
        negative_slope, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    v = float(negative_slope)
    if not math.isfinite(v):
        raise ValueError(f"negative_slope must be finite, got {negative_slope!r}")
    with np.errstate(over="ignore"):
        a = dtype.type(v)
    if not np.isfinite(a):
        raise ValueError(f"negative_slope={v!r} overflows x's dtype {dtype}")
    return a


def _grad_and_input(g: ArrayLike, x: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    """``x`` as a float array and ``g`` as a cotangent of its shape and dtype."""
    xa = real_array("x", x)
    return xa, cotangent(g, xa)


def _linear_args(
    x: ArrayLike, w: ArrayLike, b: ArrayLike | None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any] | None, np.dtype[Any]]:
    """The validated float arrays, in their own dtypes, and the promoted compute dtype."""
    xa, wa = real_array("x", x), real_array("w", w)
    ba = None if b is None else real_array("b", b)
    if wa.ndim != 2:
        raise ValueError(f"w must have shape (out_features, in_features), got shape {wa.shape}")
    if xa.ndim < 1:
        raise ValueError(f"x must have shape (..., in_features), got shape {xa.shape}")
    if xa.shape[-1] != wa.shape[1]:
        raise ValueError(
            f"x has {xa.shape[-1]} features (shape {xa.shape}) but w has in_features={wa.shape[1]} "
            f"(shape {wa.shape})"
        )
    if ba is not None and ba.shape != (wa.shape[0],):
        raise ValueError(
            f"b must have shape (out_features,) = ({wa.shape[0]},) for w of shape {wa.shape}, "
            f"got shape {ba.shape}"
        )
    return xa, wa, ba, np.result_type(xa, wa, *(() if ba is None else (ba,)))
