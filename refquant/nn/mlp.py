"""A multilayer perceptron as plain data, with a hand-written forward and backward.

The parameters are a list of ``(w, b)`` pairs, ``w`` of shape ``(out, in)``
as in PyTorch. Layer ``l`` computes ``z_l = a_l @ w_l.T + b_l`` and, except for
the last, ``a_{l+1} = act(z_l)``; the last layer's ``z`` are the logits.

Two optional hooks make the same code serve quantization and pruning:

* ``masks[l]`` (0/1 arrays of ``w_l``'s shape, bool or any numeric dtype)
  multiply the weights before anything else, in the weights' dtype:
  ``w_eff = quantize(w * mask)``; gradients are masked too;
* ``quant[l] = LayerQuant(weight, activation)`` fake-quantizes the weights
  and the *input* of layer ``l`` (:mod:`refquant.nn.qat`).

The backward returns the gradient of every parameter, of the input, and of
every quantizer's learnable parameters. It recomputes nothing it can take
from the forward's :class:`MLPCache`.

Validation: ``params`` must be a non-empty sequence of ``(w, b)`` pairs whose
shapes chain (``w_l`` of shape ``(out_l, in_l)``, ``b_l`` of ``(out_l,)``,
``in_{l+1} = out_l``); masks must be 0/1 arrays (lists too) of the weight's
shape, of a bool or numeric dtype; quantizers must be :class:`LayerQuant`
or None; anything else raises ``ValueError``/``TypeError`` naming it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant.grad._args import flag, real_array
from refquant.nn.layers import ACTIVATIONS, linear, linear_vjp
from refquant.nn.qat import Quantizer

__all__ = [
    "LayerQuant",
    "MLPCache",
    "MLPGrads",
    "Params",
    "count_params",
    "init_mlp",
    "mlp_backward",
    "mlp_forward",
]

Array = NDArray[Any]
Params = list[tuple[Array, Array]]
Activation = Literal["relu", "tanh", "sigmoid", "gelu"]
Init = Literal["kaiming_uniform", "kaiming_normal", "glorot_uniform", "glorot_normal"]


@dataclass(frozen=True)
class LayerQuant:
    """The quantizers of one layer: for its weights and for its input (either may be None)."""

    weight: Quantizer | None = None
    activation: Quantizer | None = None


@dataclass(frozen=True)
class MLPCache:
    """What the backward needs from the forward, per layer."""

    inputs: tuple[Array, ...]  # a_l, before input quantization
    inputs_q: tuple[Array, ...]  # the input the linear layer saw
    weights_masked: tuple[Array, ...]  # w_l * mask_l
    weights_q: tuple[Array, ...]  # the weight the linear layer saw
    pre: tuple[Array, ...]  # z_l
    quant: tuple[LayerQuant | None, ...]  # the quantizers as used in the forward


class MLPGrads(NamedTuple):
    """Gradients: ``params`` as ``(dw, db)`` pairs, the input, and each layer's quantizer parameters."""

    params: Params
    x: Array
    quant: list[tuple[tuple[Array, ...], tuple[Array, ...]]]


def init_mlp(
    sizes: Sequence[int],
    *,
    rng: np.random.Generator,
    init: Init = "kaiming_uniform",
    dtype: Any = np.float32,
) -> Params:
    """Initial parameters for layer sizes ``[in, hidden..., out]``; biases are zero.

    Parameters
    ----------
    sizes : sequence of int
        At least two sizes, all ints >= 1, with at most ``2**31`` weights in
        all (a larger network raises ``ValueError`` before allocating).
    rng : numpy.random.Generator
        The only source of randomness.
    init : {"kaiming_uniform", "kaiming_normal", "glorot_uniform", "glorot_normal"}
        Kaiming (He et al. 2015, gain sqrt(2) for ReLU): ``U(±sqrt(6 / fan_in))``
        or ``N(0, 2 / fan_in)``; Glorot (Glorot & Bengio 2010):
        ``U(±sqrt(6 / (fan_in + fan_out)))`` or ``N(0, 2 / (fan_in + fan_out))``.
    dtype : numpy float dtype
        The weights are drawn in float64 and rounded once to ``dtype``.

    Returns
    -------
    list of (w, b)
        ``w`` of shape ``(sizes[l+1], sizes[l])``, ``b`` of shape ``(sizes[l+1],)``.

    Notes
    -----
    .. math:: w \\sim \\mathcal U\\big(-\\sqrt{6/n_{in}},\\ \\sqrt{6/n_{in}}\\big)

    (``kaiming_uniform``).

    These are ``torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")`` and
    friends, drawn from NumPy's generator (so not the same numbers as torch).

    Examples
    --------
    >>> p = init_mlp([64, 32, 10], rng=np.random.default_rng(0))
    >>> [w.shape for w, _ in p], [b.shape for _, b in p]
    ([(32, 64), (10, 32)], [(32,), (10,)])
    """
    sizes = _sizes(sizes)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {rng!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dt}")
    params: Params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        shape = (int(fan_out), int(fan_in))
        if init == "kaiming_uniform":
            w = rng.uniform(-1, 1, shape) * np.sqrt(6 / fan_in)
        elif init == "kaiming_normal":
            w = rng.standard_normal(shape) * np.sqrt(2 / fan_in)
        elif init == "glorot_uniform":
            w = rng.uniform(-1, 1, shape) * np.sqrt(6 / (fan_in + fan_out))
        elif init == "glorot_normal":
            w = rng.standard_normal(shape) * np.sqrt(2 / (fan_in + fan_out))
        else:
            raise ValueError(f"init must be one of {Init.__args__}, got {init!r}")
        params.append((w.astype(dtype), np.zeros(shape[0], dtype=dtype)))
    return params


def count_params(params: Params, masks: Sequence[ArrayLike | None] | None = None) -> int:
    """Number of parameters; with masks, only the unmasked weights (and every bias).

    Parameters
    ----------
    params : list of (w, b)
    masks : sequence of (array or None), optional
        One per layer, of the weight's shape; nonzero entries count as kept.

    Returns
    -------
    int

    Notes
    -----
    .. math:: n = \\sum_l \\big(\\lVert m_l \\rVert_0 + |b_l|\\big)

    (``|w_l|`` for ``\\lVert m_l \\rVert_0`` when layer ``l`` has no mask.)

    Examples
    --------
    >>> count_params(init_mlp([4, 3, 2], rng=np.random.default_rng(0)))
    23
    """
    ps = _params(params)
    ms = _masks(masks, ps)
    total = 0
    for (w, b), m in zip(ps, ms, strict=True):
        total += int(w.size if m is None else np.count_nonzero(m)) + int(b.size)
    return total


def mlp_forward(
    params: Params,
    x: Any,
    *,
    activation: Activation = "relu",
    quant: Sequence[LayerQuant | None] | None = None,
    masks: Sequence[ArrayLike | None] | None = None,
    training: bool = False,
) -> tuple[Array, MLPCache]:
    """Logits of the MLP and the cache for :func:`mlp_backward`.

    Parameters
    ----------
    params : list of (w, b)
    x : array_like of float, shape (N, in)
    activation : {"relu", "tanh", "sigmoid", "gelu"}
        Between layers (not after the last).
    quant : sequence of LayerQuant or None, optional
        One per layer (module docstring).
    masks : sequence of arrays or None, optional
        One per layer, of the weight's shape.
    training : bool
        Passed to the quantizers (observers update their ranges in training).

    Returns
    -------
    logits : ndarray, shape (N, out)
    cache : MLPCache
        Includes the quantizers as updated by this forward pass.

    Notes
    -----
    .. math:: z_l = Q_a(a_l)\\, Q_w(w_l \\odot m_l)^\\top + b_l, \\quad a_{l+1} = \\sigma(z_l)

    Examples
    --------
    >>> p = [(np.eye(2), np.zeros(2)), (np.array([[1.0, -1.0]]), np.array([0.5]))]
    >>> mlp_forward(p, [[1.0, 2.0], [3.0, -1.0]])[0].tolist()
    [[-0.5], [3.5]]
    """
    act = _activation(activation)[0]
    params = _params(params)
    a = real_array("x", x)
    masks = _masks(masks, params)
    quant = _quant(quant, len(params))
    training = flag("training", training)
    if a.ndim != 2 or a.shape[1] != params[0][0].shape[1]:
        raise ValueError(f"x must have shape (N, {params[0][0].shape[1]}), got shape {a.shape}")
    cache: dict[str, list[Any]] = {
        k: [] for k in ("inputs", "inputs_q", "weights_masked", "weights_q", "pre", "quant")
    }
    for i, (w, b) in enumerate(params):
        lq = None if quant is None else quant[i]
        # the product in w's dtype: a float64 (or bool) mask must not promote float32 weights
        mk = None if masks is None else masks[i]
        wm = w if mk is None else np.multiply(w, mk, dtype=w.dtype)
        wq, aq, lq_new = wm, a, lq
        if lq is not None:
            w_quant, a_quant = lq.weight, lq.activation
            if w_quant is not None:
                wq, w_quant = w_quant.forward(wm, training)
            if a_quant is not None:
                aq, a_quant = a_quant.forward(a, training)
            lq_new = LayerQuant(w_quant, a_quant)
        z = linear(aq, wq, b)
        for key, value in zip(cache, (a, aq, wm, wq, z, lq_new), strict=True):
            cache[key].append(value)
        a = act(z) if i < len(params) - 1 else z
    return a, MLPCache(**{k: tuple(v) for k, v in cache.items()})


def mlp_backward(
    params: Params,
    cache: MLPCache,
    g_logits: Any,
    *,
    activation: Activation = "relu",
    masks: Sequence[ArrayLike | None] | None = None,
    input_grad: bool = True,
) -> MLPGrads:
    """Gradients of every parameter, of the input and of the quantizers, given ``dL/d logits``.

    Parameters
    ----------
    params : list of (w, b)
        As passed to :func:`mlp_forward`.
    cache : MLPCache
        From :func:`mlp_forward` (its quantizers are the ones used).
    g_logits : array_like, shape (N, out)
    activation : str
        As in the forward.
    masks : sequence of arrays or None, optional
        As in the forward; masked weights get a zero gradient.
    input_grad : bool
        Compute ``dL/dx`` (default). False skips the first layer's input
        product (training does not need it) and returns an empty ``x``
        gradient; every parameter gradient is unchanged, bit for bit.

    Returns
    -------
    MLPGrads
        ``params``: ``(dw, db)`` per layer; ``x``: ``dL/dx``; ``quant``: per
        layer, ``(weight quantizer grads, activation quantizer grads)``.

    Notes
    -----
    Backpropagation (Rumelhart et al. 1986) through ``linear_vjp``, the
    activation's vjp and each quantizer's vjp, in reverse layer order:

    .. math:: \\bar w_l = m_l \\odot Q_w'\\big(\\bar z_l^\\top Q_a(a_l)\\big), \\quad
              \\bar a_l = Q_a'\\big(\\bar z_l\\, Q_w(w_l \\odot m_l)\\big)

    Examples
    --------
    >>> p = [(np.array([[2.0]]), np.array([0.0]))]
    >>> _, c = mlp_forward(p, [[3.0]])
    >>> g = mlp_backward(p, c, [[1.0]])
    >>> g.params[0][0].tolist(), g.params[0][1].tolist(), g.x.tolist()
    ([[3.0]], [1.0], [[2.0]])
    """
    act_vjp = _activation(activation)[1]
    params = _params(params)
    n = len(params)
    if not isinstance(cache, MLPCache):
        raise TypeError(f"cache must be the MLPCache from mlp_forward, got {type(cache).__name__}")
    if len(cache.pre) != n:
        raise ValueError(f"cache is from a network of {len(cache.pre)} layers, but params has {n}")
    masks = _masks(masks, params)
    input_grad = flag("input_grad", input_grad)
    g = real_array("g_logits", g_logits)
    if g.shape != cache.pre[-1].shape:
        raise ValueError(
            f"g_logits must have the shape of the logits {cache.pre[-1].shape}, got shape {g.shape}"
        )
    try:
        return _backward(params, cache, g, act_vjp, masks, input_grad)
    except ValueError as e:  # an overflow in a layer: name the argument it came from
        top = str(np.max(np.abs(g))) if g.size else "0"
        raise ValueError(f"{e} (backpropagating g_logits, max |g_logits| = {top})") from None


def _backward(
    params: Params, cache: MLPCache, g: Array, act_vjp: Any, masks: list[Array | None], input_grad: bool
) -> MLPGrads:
    n = len(params)
    grads: Params = [None] * n  # type: ignore[list-item]
    qgrads: list[tuple[tuple[Array, ...], tuple[Array, ...]]] = [((), ())] * n
    for i in reversed(range(n)):
        if i < n - 1:
            g = act_vjp(g, cache.pre[i]).grad_x
        lq = cache.quant[i]
        if i == 0 and not input_grad and (lq is None or lq.activation is None or not lq.activation.params):
            # training: nobody needs dL/dx, so skip its matrix product (a sixth of the work)
            x0, w0 = cache.inputs_q[0], cache.weights_q[0]
            dtype = np.result_type(x0, w0, params[0][1])
            rows = int(np.prod(x0.shape[:-1]))  # explicit: a layer may have 0 outputs
            g2 = g.astype(dtype, copy=False).reshape(rows, w0.shape[0])
            dw = (g2.T @ x0.astype(dtype, copy=False).reshape(rows, w0.shape[1])).astype(w0.dtype, copy=False)
            if lq is not None and lq.weight is not None:
                dw, wgrads0 = lq.weight.vjp(dw, cache.weights_masked[0])
            else:
                wgrads0 = ()
            mk0 = None if masks is None else masks[0]
            if mk0 is not None:
                dw = np.multiply(dw, mk0, dtype=dw.dtype)
            grads[0] = (dw, g2.sum(axis=0).astype(params[0][1].dtype, copy=False))
            qgrads[0] = (wgrads0, ())
            return MLPGrads(grads, np.zeros((0,), dtype), qgrads)
        lg = linear_vjp(g, cache.inputs_q[i], cache.weights_q[i], params[i][1])
        dw, da = lg.grad_w, lg.grad_x
        wgrads: tuple[Array, ...] = ()
        agrads: tuple[Array, ...] = ()
        if lq is not None and lq.weight is not None:
            dw, wgrads = lq.weight.vjp(dw, cache.weights_masked[i])
        if lq is not None and lq.activation is not None:
            da, agrads = lq.activation.vjp(da, cache.inputs[i])
        mk = None if masks is None else masks[i]
        if mk is not None:
            dw = np.multiply(dw, mk, dtype=dw.dtype)
        assert lg.grad_b is not None
        grads[i] = (dw, lg.grad_b)
        qgrads[i] = (wgrads, agrads)
        g = da
    return MLPGrads(grads, g, qgrads)


def _activation(name: object) -> tuple[Any, Any]:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


_MAX_WEIGHTS = 2**31


def _sizes(sizes: object) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
        raise TypeError(f"sizes must be a sequence of ints, got {sizes!r}")
    out = []
    for n in list(sizes):
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"sizes must hold ints, got {list(sizes)!r}")
        out.append(int(n))
    if len(out) < 2 or min(out) < 1:
        raise ValueError(f"sizes must hold at least two positive sizes, got {out}")
    weights = sum(a * b for a, b in itertools.pairwise(out))
    if weights > _MAX_WEIGHTS:
        raise ValueError(f"sizes={out} need {weights} weights, more than the limit 2**31")
    return out


def _params(params: object) -> Params:
    """``params`` checked: a non-empty sequence of (w, b) float pairs whose shapes chain."""
    if isinstance(params, (str, bytes, np.ndarray)) or not isinstance(params, Sequence):
        raise TypeError(f"params must be a list of (w, b) pairs, got {type(params).__name__}")
    if not params:
        raise ValueError("params must hold at least one (w, b) layer, got []")
    out: Params = []
    for i, layer in enumerate(params):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise TypeError(f"params[{i}] must be a (w, b) pair, got {type(layer).__name__}")
        w, b = real_array(f"params[{i}] w", layer[0]), real_array(f"params[{i}] b", layer[1])
        if w.ndim != 2 or b.shape != (w.shape[:1]):
            raise ValueError(
                f"params[{i}] must be (w, b) with w of shape (out, in) and b of shape (out,), "
                f"got shapes {w.shape} and {b.shape}"
            )
        if out and w.shape[1] != out[-1][0].shape[0]:
            raise ValueError(
                f"params[{i}] w has {w.shape[1]} inputs but params[{i - 1}] has {out[-1][0].shape[0]} outputs"
            )
        out.append((w, b))
    return out


def _masks(masks: object, params: Params) -> list[Array | None]:
    """One 0/1 array (bool or numeric, the weight's shape) or None per layer."""
    if masks is None:
        return [None] * len(params)
    if isinstance(masks, (str, bytes, np.ndarray)) or not isinstance(masks, Sequence):
        raise TypeError(
            f"masks must be a sequence with one array (or None) per layer, got {type(masks).__name__}"
        )
    if len(masks) != len(params):
        raise ValueError(f"masks must have one entry per layer ({len(params)}), got {len(masks)}")
    out: list[Array | None] = []
    for i, m in enumerate(masks):
        if m is None:
            out.append(None)
            continue
        ma = np.asarray(m)
        if ma.dtype.kind not in "biuf":
            raise TypeError(f"masks[{i}] must be a bool or numeric 0/1 array, got dtype {ma.dtype}")
        if ma.shape != params[i][0].shape:
            raise ValueError(f"masks[{i}] must have shape {params[i][0].shape}, got shape {ma.shape}")
        if ma.dtype.kind != "b" and not ((ma == 0) | (ma == 1)).all():
            bad = ma[~((ma == 0) | (ma == 1))].ravel()[:3].tolist()
            raise ValueError(f"masks[{i}] must hold only 0 and 1, got {bad}")
        out.append(ma)
    return out


def _quant(quant: object, n: int) -> list[LayerQuant | None] | None:
    if quant is None:
        return None
    if isinstance(quant, (str, bytes)) or not isinstance(quant, Sequence):
        raise TypeError(f"quant must be a sequence with one LayerQuant (or None) per layer, got {quant!r}")
    if len(quant) != n:
        raise ValueError(f"quant must have one entry per layer ({n}), got {len(quant)}")
    for i, q in enumerate(quant):
        if q is not None and not isinstance(q, LayerQuant):
            raise TypeError(f"quant[{i}] must be a LayerQuant or None, got {q!r}")
    return list(quant)
