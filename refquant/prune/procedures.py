"""Pruning procedures driven on the MLP: gradual magnitude pruning, lottery-ticket rewinding,
N:M pruning, and the seed document's structural flow.

Each takes a trained :class:`refquant.nn.train.Model` and returns the pruned,
fine-tuned model. Masks prune weight matrices only (biases stay dense), and
"sparsity" is the fraction of all weight entries that are zero by the mask.

* :func:`gradual_magnitude_prune` (Zhu & Gupta 2017): one global magnitude
  mask over all weight matrices, recomputed at the start of each pruning
  epoch with the cubic schedule of
  :func:`refquant.prune.schedules.gradual_magnitude_pruning`, sparsity relative
  to the whole tensors (pruned weights stay pruned: they are zero);
* :func:`iterative_magnitude_prune` (Frankle & Carbin 2019; Frankle et al.
  2020 for rewinding): train, prune a fraction of the *remaining* weights
  globally, rewind the surviving weights to their values at the rewind point,
  repeat;
* :func:`nm_prune`: ``n_keep`` of every ``m`` weights along the input axis
  (NVIDIA's 2:4), then fine-tuning with the masks fixed;
* :func:`taylor_structured_prune`: the seed's structural pruning: forward and
  backward over the training data, first-order Taylor importance per hidden
  neuron (Molchanov et al. 2019), physical removal of the least important
  neurons of each hidden layer, fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.nn.losses import softmax_cross_entropy_vjp
from refquant.nn.mlp import mlp_backward, mlp_forward
from refquant.nn.train import EpochLog, Model, train
from refquant.prune.masks import unstructured_mask
from refquant.prune.masks_global import global_masks
from refquant.prune.masks_nm import nm_mask
from refquant.prune.schedules import gradual_magnitude_pruning
from refquant.prune.scores import taylor_neuron_score
from refquant.prune.structural import remove_neurons

__all__ = [
    "gradual_magnitude_prune",
    "iterative_magnitude_prune",
    "nm_prune",
    "sparsity",
    "taylor_structured_prune",
]

Array = NDArray[Any]
Log = Callable[[EpochLog], None] | None


def sparsity(model: Model) -> float:
    """Fraction of weight entries (biases excluded) that the masks prune, or that are removed.

    Examples
    --------
    >>> m = Model([(np.ones((2, 2)), np.zeros(2))], masks=(np.array([[1.0, 0.0], [0.0, 0.0]]),))
    >>> sparsity(m)
    0.75
    """
    total = sum(w.size for w, _ in model.params)
    if model.masks is None:
        return 0.0
    kept = sum(
        int(np.count_nonzero(m)) if m is not None else w.size
        for (w, _), m in zip(model.params, model.masks, strict=True)
    )
    return 1.0 - kept / total


def _with_masks(model: Model, masks: list[Array]) -> Model:
    masks_f = tuple(m.astype(w.dtype) for (w, _), m in zip(model.params, masks, strict=True))
    params = [(w * m, b) for (w, b), m in zip(model.params, masks_f, strict=True)]
    return replace(model, params=params, masks=masks_f)


def gradual_magnitude_prune(
    model: Model,
    x: Array,
    y: Array,
    *,
    final_sparsity: float,
    prune_epochs: int,
    finetune_epochs: int,
    rng: np.random.Generator,
    batch_size: int = 32,
    lr: float = 1e-3,
    log: Log = None,
) -> Model:
    """Gradual magnitude pruning to ``final_sparsity`` over ``prune_epochs`` epochs, then fine-tuning.

    The mask is recomputed at the start of epochs ``0 .. prune_epochs - 1`` at
    the sparsity ``s_f (1 - (1 - e / (prune_epochs - 1))**3)`` (Zhu & Gupta's
    cubic, ``s_i = 0``), by one global magnitude selection over all weight
    matrices (``relative_to="total"``, ``ties="lowest_index"``).

    Examples
    --------
    >>> from refquant.nn.mlp import init_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 4)); y = (x[:, 0] > 0).astype(int)
    >>> m = gradual_magnitude_prune(Model(init_mlp([4, 8, 2], rng=rng)), x, y, final_sparsity=0.5,
    ...                             prune_epochs=3, finetune_epochs=1, rng=rng)
    >>> round(sparsity(m), 2)
    0.5
    """
    if prune_epochs < 1:
        raise ValueError(f"prune_epochs must be >= 1, got {prune_epochs}")
    n = max(prune_epochs - 1, 1)
    for epoch in range(prune_epochs):
        s = float(
            gradual_magnitude_pruning(
                epoch, final_sparsity=final_sparsity, begin_step=0, n_steps=n, frequency=1
            ).sparsity
        )
        existing = None if model.masks is None else [m if m is None else m.astype(bool) for m in model.masks]
        masks = global_masks([w for w, _ in model.params], s, relative_to="total", existing_masks=existing)
        model = _with_masks(model, masks)
        model, _ = train(model, x, y, epochs=1, batch_size=batch_size, rng=rng, lr=lr, log=log)
    model, _ = train(model, x, y, epochs=finetune_epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
    return model


def iterative_magnitude_prune(
    model: Model,
    x: Array,
    y: Array,
    *,
    rounds: int,
    rate: float,
    epochs: int,
    rng: np.random.Generator,
    rewind: Model | None = None,
    batch_size: int = 32,
    lr: float = 1e-3,
    log: Log = None,
) -> Model:
    """Lottery-ticket pruning: ``rounds`` of (train, prune ``rate`` of the remaining, rewind).

    Parameters
    ----------
    model : Model
        The network to train in round 1 (usually at initialization).
    rewind : Model, optional
        The weights surviving weights are reset to after each pruning (default:
        ``model`` itself, Frankle & Carbin's reset to initialization; pass the
        weights after a few epochs for Frankle et al. 2020's rewinding).
    rate : float
        Fraction of the *remaining* weights pruned each round (global,
        ``relative_to="remaining"``): after ``r`` rounds the sparsity is
        ``1 - (1 - rate)**r`` (up to the count rounding).

    Returns
    -------
    Model
        Trained for ``epochs`` after the last rewind.

    Examples
    --------
    >>> from refquant.nn.mlp import init_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 4)); y = (x[:, 0] > 0).astype(int)
    >>> m = iterative_magnitude_prune(Model(init_mlp([4, 8, 2], rng=rng)), x, y, rounds=2, rate=0.5,
    ...                               epochs=1, rng=rng)
    >>> round(sparsity(m), 2)
    0.75
    """
    start = rewind or model
    current = model
    masks: list[Array] | None = None
    for _ in range(rounds):
        current, _ = train(current, x, y, epochs=epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
        masks = global_masks(
            [w for w, _ in current.params], rate, existing_masks=masks, relative_to="remaining"
        )
        current = _with_masks(replace(current, params=[(w.copy(), b.copy()) for w, b in start.params]), masks)
    current, _ = train(current, x, y, epochs=epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
    return current


def nm_prune(
    model: Model,
    x: Array,
    y: Array,
    *,
    n_keep: int = 2,
    m: int = 4,
    layers: tuple[int, ...] | None = None,
    finetune_epochs: int,
    rng: np.random.Generator,
    batch_size: int = 32,
    lr: float = 1e-3,
    log: Log = None,
) -> Model:
    """``n_keep`` of every ``m`` weights along the input axis of ``layers`` (default: all but the last).

    Examples
    --------
    >>> from refquant.nn.mlp import init_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 8)); y = (x[:, 0] > 0).astype(int)
    >>> m = nm_prune(Model(init_mlp([8, 8, 2], rng=rng)), x, y, finetune_epochs=1, rng=rng)
    >>> int(np.count_nonzero(m.masks[0])), int(np.count_nonzero(m.masks[1]))
    (32, 16)
    """
    chosen = tuple(range(len(model.params) - 1)) if layers is None else layers
    masks = [
        nm_mask(w, n_keep, m, axis=1) if i in chosen else np.ones(w.shape, bool)
        for i, (w, _) in enumerate(model.params)
    ]
    model = _with_masks(model, masks)
    model, _ = train(model, x, y, epochs=finetune_epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
    return model


def taylor_structured_prune(
    model: Model,
    x: Array,
    y: Array,
    *,
    fraction: float,
    finetune_epochs: int,
    rng: np.random.Generator,
    batch_size: int = 32,
    lr: float = 1e-3,
    log: Log = None,
) -> Model:
    """Remove ``fraction`` of the neurons of every hidden layer by Taylor importance, then fine-tune.

    The importance of neuron ``j`` of layer ``l`` is ``(sum of g * w over its
    incoming weights and bias)**2`` with the gradient of the mean loss over
    all of ``x`` (:func:`refquant.prune.scores.taylor_neuron_score`); the
    ``round(fraction * n)`` (half to even) least important are removed physically
    (:func:`refquant.prune.structural.remove_neurons`; ties: lowest index
    first), from the last hidden layer to the first so that indices stay valid.

    Examples
    --------
    >>> from refquant.nn.mlp import init_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 4)); y = (x[:, 0] > 0).astype(int)
    >>> m = taylor_structured_prune(Model(init_mlp([4, 8, 6, 2], rng=rng)), x, y, fraction=0.5,
    ...                             finetune_epochs=1, rng=rng)
    >>> [w.shape for w, _ in m.params]
    [(4, 4), (3, 4), (2, 3)]
    """
    if model.quant is not None or model.masks is not None:
        raise ValueError("taylor_structured_prune needs a plain float model (no quantizers or masks)")
    logits, cache = mlp_forward(model.params, x, activation=model.activation)
    g = softmax_cross_entropy_vjp(np.ones((), logits.dtype), logits, y).grad_x
    grads = mlp_backward(model.params, cache, g, activation=model.activation)
    params = model.params
    for layer in reversed(range(len(params) - 1)):
        w, b = params[layer]
        dw, db = grads.params[layer]
        score = taylor_neuron_score(w, dw, b, db)
        keep = unstructured_mask(score, fraction, scores=score)  # lowest scores pruned, ties: lowest index
        params = remove_neurons(params, layer, keep, activation=model.activation)
    model = replace(model, params=params)
    model, _ = train(model, x, y, epochs=finetune_epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
    return model
