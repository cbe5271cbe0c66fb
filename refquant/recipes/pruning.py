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

Each training phase is one call of :func:`refquant.nn.train.train`, which
starts a fresh optimizer state (Adam's moments and step count): gradual
magnitude pruning restarts it at every pruning epoch, iterative magnitude
pruning at every round. Masked weights stay exactly zero whatever the state:
their gradients are masked and the weights are re-masked after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.nn.layers import ACTIVATIONS
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
    """Fraction of weight entries (biases excluded) that the model's masks prune: ``1 - kept / total``.

    Parameters
    ----------
    model : Model
        Its ``masks`` (0/1 or bool, one per layer, None for a dense layer)
        are counted; without masks the result is 0.0, whatever the weights.

    Returns
    -------
    float
        In [0, 1]. Neurons removed physically
        (:func:`taylor_structured_prune`) are not counted: the model no
        longer has them; compare the weight counts with the original model.

    Notes
    -----
    .. math:: s = 1 - \\frac{\\sum_l \\lVert m_l \\rVert_0}{\\sum_l |w_l|}

    Examples
    --------
    >>> m = Model([(np.ones((2, 2)), np.zeros(2))], masks=(np.array([[1.0, 0.0], [0.0, 0.0]]),))
    >>> sparsity(m)
    0.75
    """
    total = sum(w.size for w, _ in model.params)
    if model.masks is None:
        return 0.0
    if len(model.masks) != len(model.params):
        raise ValueError(
            f"model.masks must hold one mask per layer ({len(model.params)}), got {len(model.masks)}"
        )
    for i, ((w, _), m) in enumerate(zip(model.params, model.masks, strict=True)):
        if m is not None and np.shape(m) != w.shape:
            raise ValueError(
                f"model.masks[{i}] must have the shape of its weight {w.shape}, got {np.shape(m)}"
            )
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

    Parameters
    ----------
    model : Model
        A float model (usually trained); masks it already has stay pruned.
    x, y : array_like
        Training data, as in :func:`refquant.nn.train.train`.
    final_sparsity : float
        In [0, 1], the fraction of all weight entries pruned at the end.
    prune_epochs : int
        >= 1: epochs of training during which the mask grows.
    finetune_epochs : int
        >= 0: epochs of training with the final mask.
    rng : numpy.random.Generator
        Minibatch order (the only randomness).
    batch_size, lr : int, float
        Adam's, as in :func:`refquant.nn.train.train`.
    log : callable, optional
        Receives each :class:`refquant.nn.train.EpochLog`.

    Returns
    -------
    Model
        With ``masks`` (in the weights' dtype) pruning exactly
        ``round(final_sparsity * n)`` of the ``n`` weight entries (or more, if
        the input's masks already pruned more).

    Notes
    -----
    The mask is recomputed at the start of epochs ``e = 0 .. E - 1``
    (``E = prune_epochs``), then one epoch is trained with it:

    .. math:: s_e = s_f \\Big(1 - \\big(1 - \\tfrac{e}{E - 1}\\big)^3\\Big)

    Zhu & Gupta's cubic (arXiv:1710.01878) with ``s_i = 0`` and one pruning
    step per epoch (:func:`refquant.prune.schedules.gradual_magnitude_pruning`),
    so epoch 0 trains dense and the last pruning epoch reaches ``s_f``
    exactly; with ``E = 1`` the single mask is at ``s_f`` (one-shot). Each
    mask is one global magnitude selection over all weight matrices
    (:func:`refquant.prune.masks_global.global_masks`, ``relative_to="total"``,
    ``ties="lowest_index"``) that keeps every earlier pruned entry pruned.
    The Adam state restarts at every epoch (module docstring).

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
    _check_int("prune_epochs", prune_epochs, minimum=1)
    _check_int("finetune_epochs", finetune_epochs, minimum=0)
    n = max(prune_epochs - 1, 1)
    for epoch in range(prune_epochs):
        t = epoch if prune_epochs > 1 else n  # a single pruning epoch goes straight to final_sparsity
        s = float(
            gradual_magnitude_pruning(
                t, final_sparsity=final_sparsity, begin_step=0, n_steps=n, frequency=1
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
        The network to train in round 1 (usually at initialization). Masks
        it already has count as pruned in round 1.
    x, y : array_like
        Training data, as in :func:`refquant.nn.train.train`.
    rounds : int
        >= 0 rounds of (train, prune, rewind).
    rate : float
        In [0, 1]: the fraction of the *remaining* weights pruned each round
        (global, ``relative_to="remaining"``): after ``r`` rounds the sparsity is
        ``1 - (1 - rate)**r`` (up to the count rounding).
    epochs : int
        Training epochs per round, and after the last rewind.
    rng : numpy.random.Generator
        Minibatch order (the only randomness).
    rewind : Model, optional
        The values the surviving weights (and all biases) are reset to after
        each pruning (default: ``model`` itself, Frankle & Carbin's reset to
        initialization; pass the weights after a few epochs for Frankle et
        al. 2020's rewinding). Same shapes as ``model``.
    batch_size, lr, log
        As in :func:`gradual_magnitude_prune`.

    Returns
    -------
    Model
        Trained for ``epochs`` after the last rewind, with the last masks.

    Notes
    -----
    .. math:: m_r = m_{r-1} \\odot \\mathrm{top}_{(1 - p) |m_{r-1}|}\\big(|w^{(r)}|\\big), \\qquad
              w \\leftarrow m_r \\odot w_{\\text{rewind}}

    Round ``r``: train ``epochs``; ``m_r`` = :func:`refquant.prune.masks_global.global_masks`
    of the trained weights, pruning ``rate`` of what ``m_{r-1}`` left (lowest
    ``|w|`` first, ties: lowest index); weights ``<- m_r * w_rewind``. The
    Adam state restarts every round (module docstring). Source: Frankle &
    Carbin, "The lottery ticket hypothesis", ICLR 2019, section 2 (iterative
    pruning with resetting); Frankle, Dziugaite, Roy & Carbin, "Linear mode
    connectivity and the lottery ticket hypothesis", ICML 2020 (rewinding).

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
    _check_int("rounds", rounds, minimum=0)
    rate = _fraction("rate", rate)
    start = model if rewind is None else rewind
    if [w.shape for w, _ in start.params] != [w.shape for w, _ in model.params]:
        raise ValueError("rewind must have the weight shapes of model")
    current = model
    masks: list[Array | None] | None = (
        None if model.masks is None else [m if m is None else m.astype(bool) for m in model.masks]
    )
    for _ in range(rounds):
        current, _ = train(current, x, y, epochs=epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
        new = global_masks(
            [w for w, _ in current.params], rate, existing_masks=masks, relative_to="remaining"
        )
        masks = list(new)
        current = _with_masks(replace(current, params=[(w.copy(), b.copy()) for w, b in start.params]), new)
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

    Parameters
    ----------
    model : Model
        A float model (usually trained). Any masks it has are *replaced*.
    x, y : array_like
        Training data, as in :func:`refquant.nn.train.train`.
    n_keep, m : int
        ``n_keep`` kept in every group of ``m`` consecutive inputs
        (:func:`refquant.prune.masks_nm.nm_mask`, ``axis=1`` of the ``(out,
        in)`` weight, ties: lowest index pruned first, a short last group
        padded).
    layers : tuple of int, optional
        Indices of the layers to prune (default: every layer but the
        output layer); the others stay dense.
    finetune_epochs : int
        Training epochs with the masks fixed.
    rng, batch_size, lr, log
        As in :func:`gradual_magnitude_prune`.

    Returns
    -------
    Model
        Fine-tuned, with one mask per layer (all ones for the dense ones).

    Notes
    -----
    .. math:: m_{j, g} = \\text{top-}n(|w_{j, 4g:4g+4}|) \\quad \\text{for 2:4}

    Source: Mishra et al. 2021, "Accelerating sparse deep neural networks"
    (NVIDIA's 2:4: prune once by magnitude, then retrain with the mask fixed).

    Examples
    --------
    >>> from refquant.nn.mlp import init_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((40, 8)); y = (x[:, 0] > 0).astype(int)
    >>> m = nm_prune(Model(init_mlp([8, 8, 2], rng=rng)), x, y, finetune_epochs=1, rng=rng)
    >>> int(np.count_nonzero(m.masks[0])), int(np.count_nonzero(m.masks[1]))
    (32, 16)
    """
    _check_int("finetune_epochs", finetune_epochs, minimum=0)
    chosen = tuple(range(len(model.params) - 1)) if layers is None else tuple(layers)
    for i in chosen:
        _check_int("every entry of layers", i, minimum=0)
        if i >= len(model.params):
            raise ValueError(f"layers must hold layer indices in [0, {len(model.params)}), got {layers!r}")
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

    Parameters
    ----------
    model : Model
        A float model (no quantizers, no masks), usually trained.
    x, y : array_like
        The data of the importance (one full batch) and of the fine-tuning.
    fraction : float
        In [0, 1], of each hidden layer's neurons.
    finetune_epochs : int
        Training epochs after the removal.
    rng, batch_size, lr, log
        As in :func:`gradual_magnitude_prune`.

    Returns
    -------
    Model
        Smaller weight matrices, no masks.

    Notes
    -----
    .. math:: I_j = \\Big(\\sum_{s \\in S_j} \\frac{\\partial L}{\\partial \\theta_s} \\theta_s\\Big)^2

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
    fraction = _fraction("fraction", fraction)
    _check_int("finetune_epochs", finetune_epochs, minimum=0)
    _check_data(model, x, y)
    logits, cache = mlp_forward(model.params, x, activation=model.activation)
    g = softmax_cross_entropy_vjp(np.ones((), logits.dtype), logits, y).grad_x
    grads = mlp_backward(model.params, cache, g, activation=model.activation)
    params = model.params
    for layer in reversed(range(len(params) - 1)):
        w, b = params[layer]
        dw, db = grads.params[layer]
        score = taylor_neuron_score(w, dw, b, db)
        keep = unstructured_mask(score, fraction, scores=score)  # lowest scores pruned, ties: lowest index
        params = remove_neurons(params, layer, keep, activation=ACTIVATIONS[model.activation][0])
    model = replace(model, params=params)
    model, _ = train(model, x, y, epochs=finetune_epochs, batch_size=batch_size, rng=rng, lr=lr, log=log)
    return model


def _check_data(model: Model, x: Any, y: Any) -> None:
    """``x`` of shape ``(N >= 1, in)`` and ``y`` integer labels of shape ``(N,)`` in ``[0, classes)``."""
    xa, ya = np.asarray(x), np.asarray(y)
    width, classes = model.params[0][0].shape[1], model.params[-1][0].shape[0]
    if xa.dtype.kind not in "biuf":
        raise TypeError(f"x must be a real array, got dtype {xa.dtype}")
    if xa.ndim != 2 or xa.shape[0] < 1 or xa.shape[1] != width:
        raise ValueError(f"x must have shape (N >= 1, {width}), got {xa.shape}")
    if ya.dtype.kind not in "iu":
        raise TypeError(f"y must be an integer array of class indices, got dtype {ya.dtype}")
    if ya.shape != (xa.shape[0],):
        raise ValueError(f"y must have shape ({xa.shape[0]},), one label per row of x, got {ya.shape}")
    bad = (ya < 0) | (ya >= classes)
    if np.any(bad):
        raise ValueError(f"y must hold class indices in [0, {classes}), got {ya[bad][:5].tolist()}")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _fraction(name: str, value: object) -> float:
    """A real in [0, 1], as a float (an int would be a *count* for the mask functions)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)
