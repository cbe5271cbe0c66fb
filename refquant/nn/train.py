"""Training loops for the MLP: plain, quantization-aware and pruning-aware, one code path.

A :class:`Model` bundles the parameters with the optional quantizers and
masks of :func:`refquant.nn.mlp.mlp_forward`; :func:`train` runs minibatch
gradient descent on softmax cross-entropy. What makes a run QAT or
pruning-aware is only what the model carries:

* ``quant``: fake quantization in the forward, the quantizers' vjps (STE or
  LSQ) in the backward; learnable quantizer parameters (LSQ steps) are
  trained by the same optimizer; observers update their ranges;
* ``masks``: masked weights stay zero (their gradient is masked, and they
  are re-masked after every step so that weight decay and momentum cannot
  revive them).

Everything random comes from the ``rng`` argument: the minibatch order is a
permutation drawn once per epoch. The same inputs give bit-identical models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from refquant.grad._args import real_array
from refquant.nn._optim_checks import nonnegative
from refquant.nn.losses import softmax_cross_entropy, softmax_cross_entropy_vjp
from refquant.nn.mlp import Activation, LayerQuant, Params, mlp_backward, mlp_forward
from refquant.nn.optim import adam_init, adam_step, adamw_step, sgd_init, sgd_step

__all__ = ["EpochLog", "Model", "accuracy", "predict", "train", "train_step"]

Array = NDArray[Any]
Optimizer = Literal["sgd", "adam", "adamw"]


@dataclass(frozen=True)
class Model:
    """An MLP and what its forward pass does besides the float computation."""

    params: Params
    quant: tuple[LayerQuant | None, ...] | None = None
    masks: tuple[Array | None, ...] | None = None
    activation: Activation = "relu"

    def forward(self, x: Array, *, training: bool = False) -> tuple[Array, Any]:
        """Logits and the forward cache."""
        return mlp_forward(
            self.params, x, activation=self.activation, quant=self.quant, masks=self.masks, training=training
        )


@dataclass(frozen=True)
class EpochLog:
    """One line of training progress."""

    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float

    def __str__(self) -> str:
        val = "" if self.val_accuracy is None else f"  val acc {self.val_accuracy:.4f}"
        return (
            f"epoch {self.epoch:3d}  loss {self.loss:.4f}  train acc {self.train_accuracy:.4f}{val}"
            f"  {self.seconds:.2f} s"
        )


def predict(model: Model, x: Any, *, batch_size: int = 4096) -> Array:
    """Logits of ``model`` on ``x`` (shape (N, in)), evaluated in batches, out of training.

    Parameters
    ----------
    model : Model
        With its masks and quantizers (observers do not update: ``training=False``).
    x : array_like of float, shape (N, in)
    batch_size : int
        Rows per forward pass (memory only: the result does not depend on it).

    Returns
    -------
    ndarray, shape (N, out)
        In the dtype :func:`refquant.nn.mlp.mlp_forward` computes in.

    Notes
    -----
    .. math:: z = f_\\theta(x)

    Examples
    --------
    >>> m = Model([(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))])
    >>> predict(m, [[2.0, 1.0]]).tolist()
    [[2.0, 1.0]]
    """
    _model(model)
    batch_size = _count("batch_size", batch_size, 1)
    xa = real_array("x", x)
    if xa.ndim != 2:
        raise ValueError(f"x must have shape (N, in), got shape {xa.shape}")
    outs = [model.forward(xa[i : i + batch_size])[0] for i in range(0, max(len(xa), 1), batch_size)]
    return np.concatenate(outs)  # at least one (possibly empty) batch


def accuracy(model: Model, x: Any, y: Any) -> float:
    """Fraction of rows whose largest logit is the label (ties: the lowest index, ``argmax``).

    Parameters
    ----------
    model : Model
    x : array_like of float, shape (N, in), N >= 1
    y : array_like of int, shape (N,)

    Returns
    -------
    float
        In [0, 1].

    Notes
    -----
    .. math:: \\mathrm{acc} = \\frac1N \\sum_n [\\operatorname{argmax}_c z_{nc} = y_n]

    Examples
    --------
    >>> m = Model([(np.eye(2), np.zeros(2))])
    >>> accuracy(m, [[2.0, 1.0], [0.0, 3.0]], [0, 0])
    0.5
    """
    logits = predict(model, x)
    if len(logits) == 0:
        shape = np.shape(x)
        raise ValueError(
            f"x must hold at least one row (the accuracy of nothing is undefined), got shape {shape}"
        )
    ya = np.asarray(y)
    if ya.dtype.kind not in "iu" or ya.shape != (len(logits),):
        raise ValueError(
            f"y must be integer labels of shape ({len(logits)},), got {ya.dtype} of shape {ya.shape}"
        )
    if len(ya) == 0:
        raise ValueError("x must hold at least one row (the accuracy of nothing is undefined), got 0 rows")
    return float(np.mean(np.argmax(logits, axis=1) == ya))


def _flat(model: Model) -> list[Array]:
    """Every trainable array, in a fixed order: w0, b0, w1, b1, ..., then quantizer parameters."""
    flat = [t for pair in model.params for t in pair]
    for lq in model.quant or ():
        if lq is not None:
            for q in (lq.weight, lq.activation):
                if q is not None:
                    flat.extend(q.params)
    return flat


def _unflat(model: Model, flat: Sequence[Array], quant: tuple[LayerQuant | None, ...] | None) -> Model:
    n = len(model.params)
    params = [(flat[2 * i], flat[2 * i + 1]) for i in range(n)]
    if model.masks is not None:
        params = [
            (w if m is None else np.multiply(w, m, dtype=w.dtype), b)
            for (w, b), m in zip(params, model.masks, strict=True)
        ]
    k = 2 * n
    new_quant: list[LayerQuant | None] = []
    for lq in quant or ():
        if lq is None:
            new_quant.append(None)
            continue
        parts = []
        for q in (lq.weight, lq.activation):
            if q is not None:
                m = len(q.params)
                q = q.with_params(tuple(flat[k : k + m])) if m else q
                k += m
            parts.append(q)
        new_quant.append(LayerQuant(*parts))
    return replace(model, params=params, quant=tuple(new_quant) if quant is not None else None)


def train_step(
    model: Model, x: Array, y: Array, opt_state: Any, step: Callable[..., Any]
) -> tuple[Model, Any, float, Array]:
    """One minibatch: forward (training), loss, backward, optimizer step.

    Parameters
    ----------
    model : Model
    x : ndarray, shape (B, in)
        In the weights' dtype (:func:`train` casts it).
    y : ndarray of int, shape (B,)
    opt_state
        The optimizer's state for the flat list of trainable arrays (weights
        and biases layer by layer, then the quantizers' learnable parameters).
    step : callable
        ``step(params, grads, state) -> (params, state)``, e.g. a
        :func:`refquant.nn.optim.adam_step` with its hyperparameters bound.

    Returns
    -------
    tuple
        The new model (weights re-masked, observers updated), the new
        optimizer state, the mean loss of the batch (a float) and the logits.

    Notes
    -----
    .. math:: \\theta \\leftarrow \\operatorname{step}\\big(\\theta, m \\odot \\nabla_\\theta
              \\tfrac1B \\textstyle\\sum_{i} \\ell(f_\\theta(x_i), y_i)\\big), \\qquad
              w \\leftarrow m \\odot w

    Examples
    --------
    >>> from refquant.nn.optim import sgd_init, sgd_step
    >>> m = Model([(np.zeros((2, 1)), np.zeros(2))])
    >>> step = lambda p, g, s: sgd_step(p, g, s, lr=1.0)
    >>> state = sgd_init([np.zeros((2, 1)), np.zeros(2)])
    >>> m2, _, loss, _ = train_step(m, np.array([[1.0]]), np.array([0]), state, step)
    >>> round(loss, 6), m2.params[0][0].tolist(), m2.params[0][1].tolist()  # grad = softmax - onehot
    (0.693147, [[0.5], [-0.5]], [0.5, -0.5])
    """
    _model(model)
    x, y = _batch(model, x, y, allow_empty=False)
    if not callable(step):
        raise TypeError(f"step must be callable (params, grads, state) -> (params, state), got {step!r}")
    logits, cache = model.forward(x, training=True)
    loss = float(softmax_cross_entropy(logits, y))
    g = softmax_cross_entropy_vjp(np.ones((), logits.dtype), logits, y).grad_x
    grads = mlp_backward(
        model.params, cache, g, activation=model.activation, masks=model.masks, input_grad=False
    )
    flat_grads = [t for pair in grads.params for t in pair]
    for lq, (wg, ag) in zip(model.quant or (), grads.quant, strict=False):
        if lq is not None:
            flat_grads.extend(wg if lq.weight is not None else ())
            flat_grads.extend(ag if lq.activation is not None else ())
    # the quantizers as updated by this forward (observers), with the same learnable params
    observed = model if model.quant is None else replace(model, quant=cache.quant)
    new_flat, opt_state = step(_flat(observed), flat_grads, opt_state)
    return _unflat(observed, new_flat, observed.quant), opt_state, loss, logits


def train(
    model: Model,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    optimizer: Optimizer = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    x_val: Any = None,
    y_val: Any = None,
    log: Callable[[EpochLog], None] | None = None,
) -> tuple[Model, list[EpochLog]]:
    """Minibatch training with softmax cross-entropy; returns the trained model and the epoch logs.

    Parameters
    ----------
    model : Model
    x : array_like, shape (N, in)
    y : array_like of int, shape (N,)
    epochs, batch_size : int
        ``epochs >= 0``, ``batch_size >= 1`` (ints; bools and floats raise
        ``TypeError``). The last minibatch of an epoch may be smaller.
    rng : numpy.random.Generator
        Draws one permutation of the rows per epoch.
    optimizer : {"sgd", "adam", "adamw"}
        :mod:`refquant.nn.optim` (``momentum`` is used by SGD only). Adam
        and AdamW run with ``fused=False`` (each operation rounded on its
        own, four times faster than emulating torch's FMAs): training is not
        bit-identical to torch anyway, whose matrix products sum in another
        order.
    lr, weight_decay, momentum : float
    x_val, y_val : array_like, optional
        Evaluated after every epoch (out of training); both or neither.
    log : callable, optional
        Called with each :class:`EpochLog` (e.g. ``print``).

    Returns
    -------
    model : Model
    history : list of EpochLog

    Notes
    -----
    .. math:: \\theta \\leftarrow \\operatorname{step}\\big(\\theta, \\nabla_\\theta
              \\tfrac1B \\textstyle\\sum_{i \\in B} \\ell(f_\\theta(x_i), y_i)\\big)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((64, 2)); y = (x[:, 0] > 0).astype(int)
    >>> from refquant.nn.mlp import init_mlp
    >>> m, hist = train(Model(init_mlp([2, 8, 2], rng=rng, dtype=np.float64)), x, y,
    ...                 epochs=30, batch_size=16, rng=rng, lr=0.05)
    >>> accuracy(m, x, y) > 0.95
    True
    """
    _model(model)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {rng!r}")
    epochs = _count("epochs", epochs, 0)
    batch_size = _count("batch_size", batch_size, 1)
    nonnegative("momentum", momentum)
    if log is not None and not callable(log):
        raise TypeError(f"log must be callable (e.g. print) or None, got {log!r}")
    if (x_val is None) != (y_val is None):
        raise ValueError(
            f"x_val and y_val go together, got x_val={type(x_val).__name__}, y_val={type(y_val).__name__}"
        )
    xa, ya = _batch(model, x, y, allow_empty=not epochs)
    xa = xa.astype(model.params[0][0].dtype, copy=False)
    step, opt_state = _optimizer(optimizer, _flat(model), lr, weight_decay, momentum)
    history: list[EpochLog] = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(xa))
        total, correct = 0.0, 0
        for i in range(0, len(xa), batch_size):
            idx = order[i : i + batch_size]
            model, opt_state, loss, logits = train_step(model, xa[idx], ya[idx], opt_state, step)
            total += loss * len(idx)
            correct += int(np.sum(np.argmax(logits, axis=1) == ya[idx]))
        val = None if x_val is None else accuracy(model, x_val, y_val)
        entry = EpochLog(epoch, total / len(xa), correct / len(xa), val, time.perf_counter() - t0)
        history.append(entry)
        if log is not None:
            log(entry)
    return model, history


def _model(model: object) -> None:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a Model (refquant.nn.train.Model), got {type(model).__name__}")


def _batch(model: Model, x: Any, y: Any, *, allow_empty: bool) -> tuple[Array, Array]:
    """``x`` (N, in) finite floats and ``y`` (N,) integer labels in [0, out), checked, named."""
    xa = real_array("x", x)
    n_in, n_out = model.params[0][0].shape[1], model.params[-1][0].shape[0]
    if xa.ndim != 2 or xa.shape[1] != n_in:
        raise ValueError(f"x must have shape (N, {n_in}), got shape {xa.shape}")
    if not allow_empty and len(xa) == 0:
        raise ValueError(f"x must hold at least one row to train on, got shape {xa.shape}")
    if not np.isfinite(xa).all():
        raise ValueError(f"x must be finite to train on, got {xa[~np.isfinite(xa)].ravel()[:3].tolist()}")
    ya = np.asarray(y)
    if ya.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class labels, got dtype {ya.dtype}")
    if ya.shape != (len(xa),):
        raise ValueError(f"y must have shape ({len(xa)},) (one label per row of x), got shape {ya.shape}")
    bad = (ya < 0) | (ya >= n_out)
    if bad.any():
        raise ValueError(
            f"y must hold labels in [0, {n_out}) for {n_out} classes, got {ya[bad][:5].tolist()}"
        )
    return xa, ya


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _optimizer(
    name: str, flat: list[Array], lr: float, weight_decay: float, momentum: float
) -> tuple[Callable[..., Any], Any]:
    if name == "sgd":
        return (
            lambda p, g, s: sgd_step(p, g, s, lr=lr, momentum=momentum, weight_decay=weight_decay)
        ), sgd_init(flat)
    if name in ("adam", "adamw"):
        fn = adam_step if name == "adam" else adamw_step
        return (lambda p, g, s: fn(p, g, s, lr=lr, weight_decay=weight_decay, fused=False)), adam_init(flat)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {name!r}")
