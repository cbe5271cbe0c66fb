"""Optimizers as pure steps ``(params, grads, state) -> (params, state)``: SGD, Adam, AdamW.

Each optimizer is an ``*_init(params)`` that builds its state and an
``*_step(params, grads, state, **hyperparameters)`` that returns new
parameters and a new state; nothing is modified in place, so a state can be
reused and the same inputs always give bit-identical outputs. The states
(:class:`SGDState`, :class:`AdamState`) are frozen dataclasses holding the
step count and tuples of read-only buffers, one per parameter.

The update rules are those of ``torch.optim.SGD``, ``Adam`` and ``AdamW``
(torch 2.13, the single-tensor path that CPU tensors take), operation by
operation, in the parameter's dtype (float32 or float64), with each
hyperparameter rounded to that dtype where torch hands it to a kernel as a
scalar. Torch's x86-64 CPU kernels for ``add(x, alpha=a)``, ``lerp`` and
``addcmul`` round once per element, as fused multiply-adds (established
against exact rational arithmetic for every element of a tensor, vectorized
body and scalar tail alike, on an AVX-512 machine); refquant emulates those
FMAs exactly (``addcdiv`` and the divisions are not fused, in both), so:

* SGD agrees with torch **bit for bit**, in float32 and float64;
* Adam and AdamW agree bit for bit except through the square root: torch's
  CPU ``sqrt`` (ATen's ``vml`` kernel, MKL's ``vdSqrt``/``vsSqrt`` in the
  x86-64 builds) is not correctly rounded; it is one ulp off for about 1% of
  float64 and 17% of float32 elements of a long tensor. refquant's
  ``np.sqrt`` is correctly rounded. Each step the update then differs by
  about one ulp of the update (and the sum ``p + u`` by at most one ulp of
  ``p``); the moments are unaffected unless L2 weight decay feeds ``p``
  back into the gradient.

NaN and infinity in the parameters, gradients or state propagate as in
torch (no checks). Overflow does not: when every input is finite but a new
parameter or state buffer is not (Adam's ``g**2`` beyond the float32
maximum, a huge ``lr``), the step raises ``ValueError`` instead of returning
torch's ``inf``/NaN. Hyperparameters must be finite (torch lets some NaNs
through), representable in the parameters' dtype, and in torch's ranges;
the switches (``nesterov``, ``maximize``, ``amsgrad``, ``fused``) must be
bools. Gradients given as lists or scalars take their parameter's dtype;
arrays must match it. Nothing is modified in place: read-only parameters
and views are fine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._exact import fma_float32, fma_float64
from refquant.nn._optim_checks import (
    check_buffers,
    check_overflow,
    flag,
    frozen,
    grad_list,
    nonnegative,
    param_list,
    real_number,
    representable,
)

__all__ = [
    "AdamState",
    "SGDState",
    "adam_init",
    "adam_step",
    "adamw_init",
    "adamw_step",
    "sgd_init",
    "sgd_step",
]

Array = NDArray[Any]

# The one operation torch's x86-64 CPU kernels round differently (see above); the
# conformance tests substitute torch's to show that everything else is bit-identical.
_sqrt = np.sqrt


@dataclass(frozen=True, eq=False)
class SGDState:
    """State of :func:`sgd_step`: the step count and one momentum buffer per parameter.

    A buffer is ``None`` until the first step with ``momentum != 0`` (torch's
    ``state["momentum_buffer"]``); ``step`` counts calls and does not enter
    the update. Buffers are read-only arrays of the parameter's shape and dtype.
    """

    step: int
    momentum_buffers: tuple[Array | None, ...]


@dataclass(frozen=True, eq=False)
class AdamState:
    """State of :func:`adam_step` and :func:`adamw_step`: step count and moment buffers.

    ``exp_avgs`` (first moment ``m``), ``exp_avg_sqs`` (second moment ``v``)
    and ``max_exp_avg_sqs`` (AMSGrad's running maximum of ``v``, which stays
    zero unless ``amsgrad=True``) hold one read-only array per parameter.
    ``step`` is the number of steps taken; torch keeps it in a float32
    tensor, which stops counting at ``2**24`` steps, refquant in an int.
    """

    step: int
    exp_avgs: tuple[Array, ...]
    exp_avg_sqs: tuple[Array, ...]
    max_exp_avg_sqs: tuple[Array, ...]


def sgd_init(params: Sequence[ArrayLike]) -> SGDState:
    """Initial SGD state: ``step = 0`` and no momentum buffers.

    Parameters
    ----------
    params : sequence of float32 or float64 arrays, any shapes

    Returns
    -------
    SGDState

    Examples
    --------
    >>> sgd_init([np.zeros(3)])
    SGDState(step=0, momentum_buffers=(None,))
    """
    ps = param_list(params)
    return SGDState(0, (None,) * len(ps))


def sgd_step(
    params: Sequence[ArrayLike],
    grads: Sequence[ArrayLike],
    state: SGDState,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> tuple[tuple[Array, ...], SGDState]:
    """One SGD step (torch.optim.SGD): ``p <- p - lr * d``, ``d`` the gradient with L2 decay and momentum.

    Parameters
    ----------
    params : sequence of float32 or float64 arrays, any shapes
    grads : sequence of arrays
        One per parameter, same shape and dtype.
    state : SGDState
        From :func:`sgd_init` or the previous step.
    lr : float
        Learning rate, ``>= 0`` (required here; torch's default is ``1e-3``).
    momentum : float
        ``>= 0``; 0 turns momentum off (no buffer is created).
    dampening : float
        Multiplies the new gradient by ``1 - dampening`` in the buffer
        update, from the second step on.
    nesterov : bool
        Nesterov momentum; requires ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float
        L2 penalty ``>= 0``, added to the gradient.
    maximize : bool
        Ascend: the gradient is negated first.

    Returns
    -------
    params : tuple of new arrays, shapes and dtypes of ``params``
    state : SGDState

    Notes
    -----
    With ``g`` the gradient (``-g`` if ``maximize``), per step ``t``
    (``lambda`` = weight_decay, ``mu`` = momentum, ``tau`` = dampening, ``eta`` = lr):

    .. math::

        d = g + \\lambda p, \\qquad
        b_t = \\begin{cases} d & t = 1 \\\\ \\mu b_{t-1} + (1 - \\tau) d & t > 1 \\end{cases},
        \\qquad
        p \\leftarrow p - \\eta \\cdot \\begin{cases} d + \\mu b_t & \\text{nesterov} \\\\
        b_t & \\text{otherwise} \\end{cases}

    (``d`` itself when ``momentum = 0``). The first buffer is a copy of ``d``,
    undamped. Weight decay enters the gradient before momentum, so it is
    accumulated in the buffer (L2 regularization, not decoupled decay). Each
    ``x + a * y`` is one fused multiply-add, as torch's CPU ``add(alpha=)``
    kernel computes it; ``mu b`` is rounded before the FMA. Source:
    ``torch.optim.SGD`` (``_single_tensor_sgd``), torch 2.13; Nesterov's form
    is Sutskever et al., "On the importance of initialization and momentum in
    deep learning", ICML 2013, as rewritten in torch's documentation.

    Examples
    --------
    >>> p, s = sgd_step([np.array([1.0, 2.0])], [np.array([0.5, -1.0])], sgd_init([np.zeros(2)]), lr=0.1)
    >>> p[0].tolist(), s.step
    ([0.95, 2.1], 1)
    """
    ps = param_list(params)
    gs = grad_list(grads, ps)
    if not isinstance(state, SGDState):
        raise TypeError(f"state must be an SGDState (from sgd_init), got {type(state).__name__}")
    check_buffers("state.momentum_buffers", state.momentum_buffers, ps, optional=True)
    lr = nonnegative("lr", lr)
    momentum = nonnegative("momentum", momentum)
    dampening = real_number("dampening", dampening)
    weight_decay = nonnegative("weight_decay", weight_decay)
    nesterov, maximize = flag("nesterov", nesterov), flag("maximize", maximize)
    hyper = {"lr": lr, "momentum": momentum, "1 - dampening": 1 - dampening, "weight_decay": weight_decay}
    for name, v in hyper.items():
        representable(name, v, ps)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"nesterov=True requires momentum > 0 and dampening == 0, "
            f"got momentum={momentum}, dampening={dampening}"
        )
    new_p, new_b = [], []
    for p0, g0, b0 in zip(ps, gs, state.momentum_buffers, strict=True):
        c, shape = p0.dtype.type, p0.shape
        p, g = p0.reshape(-1), g0.reshape(-1)  # 1-d, so that every result is an array
        buf = None if b0 is None else b0.reshape(-1)
        d = -g if maximize else g
        if weight_decay != 0:
            d = _fma(p, c(weight_decay), d)  # grad.add(param, alpha=weight_decay)
        if momentum != 0:
            if buf is None:
                buf = d.copy()
            else:  # buf.mul_(momentum).add_(d, alpha=1 - dampening)
                buf = _fma(d, c(1 - dampening), buf * c(momentum))
            d = _fma(buf, c(momentum), d) if nesterov else buf
        new_p.append(_fma(d, c(-lr), p).reshape(shape))  # param.add_(d, alpha=-lr)
        new_b.append(None if buf is None else frozen(buf.reshape(shape)))
    check_overflow(
        "sgd_step",
        [*ps, *gs, *(b for b in state.momentum_buffers if b is not None)],
        [*new_p, *(b for b in new_b if b is not None)],
    )
    return tuple(new_p), SGDState(state.step + 1, tuple(new_b))


def adam_init(params: Sequence[ArrayLike]) -> AdamState:
    """Initial Adam / AdamW state: ``step = 0`` and zero moments of each parameter's shape and dtype.

    Parameters
    ----------
    params : sequence of float32 or float64 arrays, any shapes

    Returns
    -------
    AdamState

    Examples
    --------
    >>> s = adam_init([np.ones((2, 3), np.float32)])
    >>> s.step, s.exp_avgs[0].shape, s.exp_avg_sqs[0].dtype, s.max_exp_avg_sqs[0].sum()
    (0, (2, 3), dtype('float32'), np.float32(0.0))
    """
    ps = param_list(params)

    def zeros() -> tuple[Array, ...]:
        return tuple(frozen(np.zeros_like(p)) for p in ps)

    return AdamState(0, zeros(), zeros(), zeros())


adamw_init = adam_init  # AdamW's state is Adam's


def adam_step(
    params: Sequence[ArrayLike],
    grads: Sequence[ArrayLike],
    state: AdamState,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    fused: bool = True,
) -> tuple[tuple[Array, ...], AdamState]:
    """One Adam step (torch.optim.Adam): ``p <- p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.

    Parameters
    ----------
    params : sequence of float32 or float64 arrays, any shapes
    grads : sequence of arrays
        One per parameter, same shape and dtype.
    state : AdamState
        From :func:`adam_init` or the previous step.
    lr : float
        Learning rate ``>= 0``.
    betas : (float, float)
        Decay rates ``(beta1, beta2)`` of the moment averages, each in ``[0, 1)``.
    eps : float
        ``>= 0``, added to the bias-corrected ``sqrt(v)`` (outside the root).
    weight_decay : float
        L2 penalty ``>= 0``, added to the gradient (see :func:`adamw_step`
        for the decoupled form).
    amsgrad : bool
        Normalize by the running maximum of ``v`` (Reddi et al. 2018).
    maximize : bool
        Ascend: the gradient is negated first.
    fused : bool
        True (default): every ``x + a * y`` of torch's kernels is one fused
        multiply-add, so the result is bit-identical to torch's CPU
        optimizer (up to its square root, see below). False: each operation
        is rounded separately, about four times faster in NumPy; the result
        differs from torch in the last bits. :func:`refquant.nn.train.train`
        uses False, since training is not bit-identical to torch anyway
        (matrix products sum in a different order).

    Returns
    -------
    params : tuple of new arrays, shapes and dtypes of ``params``
    state : AdamState

    Notes
    -----
    With ``g`` the gradient (``-g`` if ``maximize``), ``t`` the new step count,
    ``eta`` = lr, ``lambda`` = weight_decay:

    .. math::

        g \\leftarrow g + \\lambda p, \\quad
        m \\leftarrow m + (1 - \\beta_1)(g - m), \\quad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2, \\quad
        p \\leftarrow p - \\frac{\\eta}{1 - \\beta_1^t} \\cdot
        \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon}

    (``v`` replaced by ``max(v_max, v)`` with AMSGrad). The bias corrections
    are computed in Python floats; ``sqrt(1 - beta2**t)`` (as ``** 0.5``)
    divides ``sqrt(v)`` elementwise rather than multiplying the step size,
    and ``eps`` is added after that division, i.e. to the bias-corrected
    ``sqrt(v_hat)``, not inside the root and not to the raw ``sqrt(v)``. The
    step is ``p + (-(lr / bias_correction1) * m) / denom``. ``m`` is updated
    by torch's ``lerp`` (one FMA: ``fma(w, g - m, m)`` for ``w = 1 - beta1 <
    0.5``, else ``fma(w - 1, g - m, g)``), ``v`` by ``mul`` then ``addcmul``
    (``fma((1 - beta2) * g, g, beta2 * v)``). Source: ``torch.optim.Adam``
    (``_single_tensor_adam``), torch 2.13; Kingma & Ba, "Adam: A method for
    stochastic optimization", ICLR 2015, Algorithm 1, whose eps placement
    this is (the paper's reordering at the end of its section 2, used by
    TensorFlow's Adam, adds eps to the raw ``sqrt(v)`` instead); AMSGrad:
    Reddi et al., "On the convergence of Adam and beyond", ICLR 2018.

    Examples
    --------
    The first step moves each parameter by ``lr * sign(g)`` (up to ``eps``):

    >>> p, s = adam_step([np.array([1.0, 2.0])], [np.array([0.5, -3.0])], adam_init([np.zeros(2)]), lr=0.1)
    >>> np.round(p[0], 6).tolist(), s.step
    ([0.9, 2.1], 1)
    """
    return _adam(
        params, grads, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=False, fused=fused
    )


def adamw_step(
    params: Sequence[ArrayLike],
    grads: Sequence[ArrayLike],
    state: AdamState,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
    fused: bool = True,
) -> tuple[tuple[Array, ...], AdamState]:
    """One AdamW step (torch.optim.AdamW): ``p <- p * (1 - lr * wd)``, then Adam's step without L2.

    Parameters
    ----------
    params, grads, state, lr, betas, eps, amsgrad, maximize
        As in :func:`adam_step`; the state comes from :func:`adam_init`
        (alias :func:`adamw_init`).
    weight_decay : float
        Decoupled decay ``>= 0`` (default ``1e-2``, torch's).

    Returns
    -------
    params : tuple of new arrays, shapes and dtypes of ``params``
    state : AdamState

    Notes
    -----
    .. math::

        p \\leftarrow p \\cdot (1 - \\eta \\lambda), \\qquad
        p \\leftarrow p - \\frac{\\eta}{1 - \\beta_1^t} \\cdot
        \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon}

    with ``m`` and ``v`` updated from the gradient alone, as in
    :func:`adam_step` with ``weight_decay = 0``. The factor ``1 - lr * wd``
    is computed in a Python float and rounded to the dtype once; the decay
    uses the current ``lr`` (torch's choice; the paper multiplies the decay
    by a schedule multiplier ``eta_t``, not by the learning rate ``alpha``).
    Source: ``torch.optim.AdamW`` (``Adam`` with
    ``decoupled_weight_decay=True``), torch 2.13; Loshchilov & Hutter,
    "Decoupled weight decay regularization", ICLR 2019, Algorithm 2.

    Examples
    --------
    >>> p, _ = adamw_step([np.array([1.0])], [np.array([0.0])], adamw_init([np.zeros(1)]), lr=0.1,
    ...                   weight_decay=0.5)
    >>> p[0].tolist()  # 1 * (1 - 0.05); a zero gradient moves nothing else
    [0.95]
    """
    return _adam(
        params, grads, state, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled=True, fused=fused
    )


def _adam(
    params: Sequence[ArrayLike],
    grads: Sequence[ArrayLike],
    state: AdamState,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    *,
    decoupled: bool,
    fused: bool,
) -> tuple[tuple[Array, ...], AdamState]:
    ps = param_list(params)
    gs = grad_list(grads, ps)
    if not isinstance(state, AdamState):
        raise TypeError(f"state must be an AdamState (from adam_init), got {type(state).__name__}")
    for name in ("exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"):
        check_buffers(f"state.{name}", getattr(state, name), ps, optional=False)
    lr, eps = nonnegative("lr", lr), nonnegative("eps", eps)
    weight_decay = nonnegative("weight_decay", weight_decay)
    amsgrad, maximize, fused = flag("amsgrad", amsgrad), flag("maximize", maximize), flag("fused", fused)
    if isinstance(betas, (str, bytes)) or not isinstance(betas, Sequence) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of floats, got {betas!r}")
    beta1, beta2 = (real_number(f"betas[{i}]", b) for i, b in enumerate(betas))
    for i, b in enumerate((beta1, beta2)):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"betas[{i}] must lie in [0, 1), got {b}")

    step = state.step + 1
    bias_correction1 = 1 - beta1 ** float(step)
    bias_correction2 = 1 - beta2 ** float(step)
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    hyper = {"lr": lr, "lr / (1 - beta1**step)": step_size, "eps": eps, "weight_decay": weight_decay}
    for name, v in {**hyper, "lr * weight_decay": lr * weight_decay}.items():
        representable(name, v, ps)
    k = _Consts(lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt)
    out_p, out_m, out_v, out_vmax = [], [], [], []
    for p0, g0, m0, v0, vmax0 in zip(
        ps, gs, state.exp_avgs, state.exp_avg_sqs, state.max_exp_avg_sqs, strict=True
    ):
        outs = [np.empty(p0.size, p0.dtype) for _ in range(4)]
        flat = [a.reshape(-1) for a in (p0, g0, m0, v0, vmax0)]
        buf = np.empty(min(p0.size, _CHUNK), p0.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # IEEE, as torch; checked below
            _adam_chunks(flat, outs, buf, k, amsgrad, maximize, decoupled, fused)
        out_p.append(outs[0].reshape(p0.shape))
        out_m.append(frozen(outs[1].reshape(p0.shape)))
        out_v.append(frozen(outs[2].reshape(p0.shape)))
        out_vmax.append(frozen(outs[3].reshape(p0.shape)))
    check_overflow(
        "adamw_step" if decoupled else "adam_step",
        [*ps, *gs, *state.exp_avgs, *state.exp_avg_sqs, *state.max_exp_avg_sqs],
        [*out_p, *out_m, *out_v, *out_vmax],
    )
    return tuple(out_p), AdamState(step, tuple(out_m), tuple(out_v), tuple(out_vmax))


def _adam_chunks(
    flat: list[Array], outs: list[Array], buf: Array, k: _Consts, amsgrad: bool, maximize: bool,
    decoupled: bool, fused: bool,
) -> None:  # fmt: skip
    """The Adam update of one parameter (flattened), chunk by chunk, into ``outs``."""
    size = flat[0].size
    for i in range(0, max(size, 1), _CHUNK):  # cache-sized pieces: the same arithmetic, faster
        sl = slice(i, i + _CHUNK)
        fp, fg, fm, fv, fvmax = (a[sl] for a in flat)
        if fused:
            new = _adam_update(fp, fg, fm, fv, fvmax, k, amsgrad, maximize, decoupled, fused)
            for o, value in zip(outs, new, strict=True):
                o[sl] = value
        else:
            args = (fp, fg, fm, fv, fvmax, k, amsgrad, maximize, decoupled)
            _adam_update_unfused(*args, [o[sl] for o in outs], buf[: fp.size])


_CHUNK = 1 << 16


class _Consts(NamedTuple):
    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    step_size: float
    bias_correction2_sqrt: float


def _adam_update(
    p: Array, g: Array, m: Array, v: Array, vmax: Array, k: _Consts, amsgrad: bool, maximize: bool,
    decoupled: bool, fused: bool,
) -> tuple[Array, Array, Array, Array]:  # fmt: skip
    """One Adam / AdamW update of 1-d slices, in torch's order of operations."""
    c = p.dtype.type
    fma = _fma if fused else _mul_add
    g = -g if maximize else g
    if k.weight_decay != 0:
        if decoupled:
            p = p * c(1 - k.lr * k.weight_decay)  # param.mul_(1 - lr * weight_decay)
        else:
            g = fma(p, c(k.weight_decay), g)  # grad.add(param, alpha=weight_decay)
    m = _lerp(m, g, c(1 - k.beta1), fma)  # exp_avg.lerp_(grad, 1 - beta1)
    v = fma(c(1 - k.beta2) * g, g, v * c(k.beta2))  # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
    if amsgrad:
        vmax = np.maximum(vmax, v)
    denom = _sqrt(vmax if amsgrad else v) / c(k.bias_correction2_sqrt) + c(k.eps)
    return p + (c(-k.step_size) * m) / denom, m, v, vmax  # param.addcdiv_(m, denom, -step_size)


def _adam_update_unfused(
    p: Array, g: Array, m: Array, v: Array, vmax: Array, k: _Consts, amsgrad: bool, maximize: bool,
    decoupled: bool, outs: list[Array], tmp: Array,
) -> None:  # fmt: skip
    """:func:`_adam_update` with ``fused=False``, written into ``outs`` (p, m, v, vmax) without temporaries.

    The same operations in the same order, so the results are bit-identical;
    only the memory traffic differs.
    """
    out_p, out_m, out_v, out_vmax = outs
    c = p.dtype.type
    gg = np.negative(g) if maximize else g
    pp = p
    if k.weight_decay != 0:
        if decoupled:
            pp = np.multiply(p, c(1 - k.lr * k.weight_decay), out=out_p)
        else:
            gg = np.add(p * c(k.weight_decay), gg)
    w = c(1 - k.beta1)
    np.subtract(gg, m, out=tmp)  # lerp: diff = g - m
    if abs(w) < 0.5:
        np.multiply(tmp, w, out=tmp)
        np.add(tmp, m, out=out_m)
    else:
        np.multiply(tmp, w - c(1), out=tmp)
        np.add(tmp, gg, out=out_m)
    np.multiply(gg, c(1 - k.beta2), out=tmp)
    np.multiply(tmp, gg, out=tmp)
    np.multiply(v, c(k.beta2), out=out_v)
    np.add(tmp, out_v, out=out_v)
    if amsgrad:
        np.maximum(vmax, out_v, out=out_vmax)
    else:
        out_vmax[...] = vmax
    denom = _sqrt(out_vmax if amsgrad else out_v)
    np.divide(denom, c(k.bias_correction2_sqrt), out=denom)
    np.add(denom, c(k.eps), out=denom)
    np.multiply(out_m, c(-k.step_size), out=tmp)
    np.divide(tmp, denom, out=tmp)
    np.add(pp, tmp, out=out_p)


# --------------------------------------------------------------------------- arithmetic


def _lerp(start: Array, end: Array, w: np.floating[Any], fma: Any = None) -> Array:
    """ATen's ``lerp`` with a scalar weight, as its CPU kernel computes it (one FMA)."""
    fma = _fma if fma is None else fma
    diff = end - start
    if abs(w) < 0.5:
        return fma(diff, w, start)
    return fma(diff, w - w.dtype.type(1), end)


def _mul_add(a: Array, b: Array | np.floating[Any], c: Array) -> Array:
    """``a * b + c`` with two roundings (the unfused alternative to :func:`_fma`)."""
    return a * b + c


def _fma(a: Array, b: Array | np.floating[Any], c: Array) -> Array:
    """Correctly rounded ``a * b + c`` in ``c``'s dtype, for 1-d ``a``, ``c`` (and ``b`` or a scalar)."""
    return fma_float32(a, b, c) if c.dtype == np.float32 else fma_float64(a, b, c)
