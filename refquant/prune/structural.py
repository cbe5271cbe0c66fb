"""Structural pruning of the MLP: physically removing hidden neurons, and value pruning's "normalization".

The seed document's structural pruning (its section 3.2.1): forward, backward,
rank the neurons by a gradient-based importance, remove the least important
ones together with their connections. Here the removal is physical: the
pruned network has smaller matrices and fewer parameters.

Removing hidden neuron ``j`` of layer ``l`` deletes row ``j`` of ``w_l`` and
``b_l`` and column ``j`` of ``w_{l+1}``. A neuron whose incoming weights are
all zero outputs the constant ``act(b_l[j])``; folding it into the next bias,
``b_{l+1} += w_{l+1}[:, j] * act(b_l[j])``, removes it without changing the
function. A neuron whose outgoing weights are all zero can be removed as is.

Value pruning sets weights to zero (:mod:`refquant.prune.masks`); the seed
then "normalizes to keep accuracy". Two principled versions:

* :func:`rescale_to_preserve_norm` multiplies the surviving weights so that
  the norm of each row (or of the tensor) is what it was before pruning; it
  preserves the scale of the layer's output for inputs aligned with the
  weights, not the output itself;
* :func:`bias_correction` adds the mean change of the layer's pre-activation
  over calibration inputs to the bias, so that the *mean* output of the layer
  on that data is exactly preserved (Nagel et al. 2019's bias correction,
  applied to pruning error instead of quantization error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, normalize_axis, show_values
from refquant.prune import _checks
from refquant.prune.masks import existing_as_bool

__all__ = ["bias_correction", "neuron_masks", "remove_neurons", "rescale_to_preserve_norm"]

Array = NDArray[Any]
Params = list[tuple[Array, Array]]
Activation = Callable[[Array], Array]


def remove_neurons(
    params: Params,
    layer: int,
    keep: ArrayLike,
    *,
    activation: Activation | None = None,
    fold_dead: bool = True,
) -> Params:
    """The MLP with only the hidden neurons ``keep`` of layer ``layer``; smaller matrices.

    Parameters
    ----------
    params : list of (w, b)
        ``w`` of shape ``(out, in)``; ``layer`` must not be the last layer.
    layer : int
        Index of the layer whose outputs are the hidden neurons.
    keep : array_like of int or bool
        Indices (sorted, unique) or a boolean mask over the layer's outputs.
    activation : callable or None
        The hidden activation as a function of an array (for example
        :func:`refquant.nn.relu`), used only for the bias fold. Pruning math
        knows no network, so the caller passes it; ``None`` is allowed when
        nothing is folded, and a fold without it raises ``ValueError``.
    fold_dead : bool
        Fold removed neurons whose incoming weights are all zero into the
        next layer's bias, ``b_{l+1} += w_{l+1}[:, j] act(b_l[j])``.

    Returns
    -------
    list of (w, b)
        New arrays; ``params`` is not modified.

    Notes
    -----
    .. math:: w_l' = w_l[K, :],\\ b_l' = b_l[K],\\ w_{l+1}' = w_{l+1}[:, K],\\
              b_{l+1}' = b_{l+1} + \\sum_{j \\notin K,\\ w_l[j,:] = 0} w_{l+1}[:, j]\\, \\sigma(b_l[j])

    The pruned network computes exactly the same function as the original
    when every removed neuron has zero outgoing weights, or zero incoming
    weights (with the fold). Source: the seed document, section 3.2.1;
    Molchanov et al., "Importance estimation for neural network pruning",
    CVPR 2019 (removal by importance).

    Examples
    --------
    >>> p = [(np.array([[1.0], [0.0], [2.0]]), np.array([0.0, 0.5, 0.0])),
    ...      (np.array([[1.0, 4.0, 1.0]]), np.array([0.0]))]
    >>> q = remove_neurons(p, 0, [0, 2], activation=lambda v: np.maximum(v, 0.0))
    >>> q[0][0].tolist(), q[1][0].tolist(), q[1][1].tolist()
    ([[1.0], [2.0]], [[1.0, 1.0]], [2.0])
    """
    layers = _check_params(params)
    n = len(layers)
    layer = _check_layer(layer, n)
    if activation is not None and not callable(activation):
        raise TypeError(f"activation must be a function of an array or None, got {activation!r}")
    fold = _checks.check_bool("fold_dead", fold_dead)
    w, b = layers[layer]
    w_next, b_next = layers[layer + 1]
    idx = _keep_indices(keep, w.shape[0])
    removed = np.setdiff1d(np.arange(w.shape[0]), idx)
    b_next = b_next.copy()
    if fold and removed.size:
        dead = removed[~np.any(w[removed] != 0, axis=1)]
        if dead.size:
            if activation is None:
                raise ValueError(
                    f"activation is None but neurons {dead.tolist()} of layer {layer} have all-zero incoming "
                    "weights and fold_dead=True needs act(b) to fold them: pass the hidden activation"
                )
            const = np.asarray(activation(b[dead].copy()))
            if const.shape != (dead.size,):
                raise ValueError(
                    f"activation must map an array to one of the same shape, got shape {const.shape} "
                    f"for an input of shape ({dead.size},)"
                )
            fold_in = _checks.scaled_matvec(np.asarray(const, dtype=np.float64), w_next[:, dead])
            b_next = _checks.finite_result(
                "the folded bias",
                b_next + fold_in,
                np.result_type(b_next.dtype, w_next.dtype),
                {f"params[{layer + 1}]": w_next, f"params[{layer}][1]": b},
            )
    out = [(pw.copy(), pb.copy()) for pw, pb in layers]
    out[layer] = (w[idx].copy(), b[idx].copy())
    out[layer + 1] = (w_next[:, idx].copy(), b_next)
    return out


def neuron_masks(params: Params, layer: int, keep: ArrayLike) -> list[Array | None]:
    """Weight masks that switch off the removed neurons' outgoing connections (same shapes as ``params``).

    The masked network computes the same function as :func:`remove_neurons`
    (without a fold): a removed neuron still computes ``act(b_l[j])`` but
    nothing reads it. Its gradients, restricted to the surviving parameters,
    equal the pruned network's.

    Parameters
    ----------
    params : list of (w, b)
    layer : int
        The hidden layer whose neurons are switched off, as in :func:`remove_neurons`.
    keep : array_like of int or bool
        The neurons kept, as in :func:`remove_neurons`.

    Returns
    -------
    list of (ndarray or None)
        ``None`` for every layer but ``layer + 1``, whose mask is 0/1 in the
        weight's dtype (a float mask, not bool: it multiplies the weight),
        zero on the columns of the removed neurons.

    Notes
    -----
    .. math:: m_{l+1}[:, j] = [j \\in K]

    Examples
    --------
    >>> p = [(np.ones((3, 1)), np.zeros(3)), (np.ones((1, 3)), np.zeros(1))]
    >>> [None if m is None else m.tolist() for m in neuron_masks(p, 0, [0, 2])]
    [None, [[1.0, 0.0, 1.0]]]
    """
    layers = _check_params(params)
    n = len(layers)
    layer = _check_layer(layer, n)
    w_next = layers[layer + 1][0]
    idx = _keep_indices(keep, layers[layer][0].shape[0])
    m = np.zeros_like(w_next)
    m[:, idx] = 1
    masks: list[Array | None] = [None] * n
    masks[layer + 1] = m
    return masks


def rescale_to_preserve_norm(
    w: ArrayLike, mask: ArrayLike, *, ord: float = 2, axis: int | None = None
) -> Array:
    """Pruned weights ``w * mask`` rescaled so that their Ln norm (per slice along ``axis``) is unchanged.

    Parameters
    ----------
    w : array_like of float
    mask : array_like of bool, shape of ``w``
        True where the weight is kept.
    ord : float
        The norm order ``p > 0`` (2: Euclidean, 1, or ``np.inf``).
    axis : int, optional
        Normalize each slice along ``axis`` separately (e.g. ``axis=1`` for each
        row of an ``(out, in)`` weight: one norm per output neuron); None: the
        whole tensor.

    Returns
    -------
    ndarray, shape and dtype of ``w``

    Notes
    -----
    .. math:: w' = (w \\odot m)\\,\\frac{\\lVert w \\rVert_p}{\\lVert w \\odot m \\rVert_p}

    Both norms are computed in float64 on the slice divided by its largest
    ``|w|`` (LAPACK ``nrm2``'s scaling), and the product ``w * factor`` is
    rounded once to ``w``'s dtype: huge weights give no ``inf / inf`` or
    ``0 * inf``, an entry is ``±inf`` only if its exact rescaled value exceeds
    the dtype. ``ord`` must be a real ``> 0`` or ``inf`` (``ord <= 0``, NaN or
    ``None`` raise: no norm to preserve); ``w`` must be finite (NaN or
    ``±inf`` raise ``ValueError``).

    A slice with every weight pruned stays zero. What it preserves: the norm,
    hence the output scale for inputs aligned with the weights; not the
    output for other inputs (use :func:`bias_correction` for the mean).

    Examples
    --------
    >>> rescale_to_preserve_norm([3.0, 4.0, 0.0], [False, True, True]).tolist()
    [0.0, 5.0, 0.0]
    """
    wa = as_float_array("w", w)
    ma = existing_as_bool("mask", mask, wa.shape)
    assert ma is not None
    p = _checks.check_norm_order("ord", ord)
    ax = None if axis is None else normalize_axis("axis", axis, wa.ndim)
    _checks.all_finite("w", wa, "the norm ratio of a slice holding NaN or inf is undefined")
    pruned = np.where(ma, wa, wa.dtype.type(0))
    moved_b = wa.reshape(1, -1) if ax is None else np.moveaxis(wa, ax, -1)
    moved_a = pruned.reshape(1, -1) if ax is None else np.moveaxis(pruned, ax, -1)
    length = moved_b.shape[-1]
    groups = math.prod(moved_b.shape[:-1])
    t_b, scale = _checks.lp_sums(moved_b.reshape(groups, length), p)
    t_a, _ = _checks.lp_sums(moved_a.reshape(groups, length), p, scale=scale)
    alive = t_a > 0
    factor = np.where(alive, _checks.root(t_b / np.where(alive, t_a, 1.0), p), 0.0)
    factor = factor.reshape(()) if ax is None else np.expand_dims(factor.reshape(moved_b.shape[:-1]), ax)
    with np.errstate(invalid="ignore"):  # 0 * inf where the factor overflows: those entries are 0
        exact = np.where(pruned == 0, 0.0, _checks.join(*_checks.product(pruned, factor)))
    out = _checks.finite_result("rescale_to_preserve_norm", exact, wa.dtype, {"w": wa}, {"ord": p})
    return np.asarray(np.where(pruned == 0, pruned, out))


def bias_correction(w: ArrayLike, b: ArrayLike, mask: ArrayLike, x_calib: ArrayLike) -> Array:
    """The bias that keeps the layer's mean pre-activation on calibration data after pruning ``w``.

    Parameters
    ----------
    w : array_like of float, shape (out, in)
    b : array_like of float, shape (out,)
    mask : array_like of bool, shape (out, in)
    x_calib : array_like of float, shape (N, in)
        The layer's inputs on calibration data.

    Returns
    -------
    ndarray, shape (out,)
        ``b + mean_x(x) @ (w - w * mask).T``.

    Notes
    -----
    .. math:: b' = b + \\bar x\\, (W - W \\odot M)^\\top, \\qquad
              \\bar x = \\tfrac1N \\textstyle\\sum_n x_n

    so that :math:`\\tfrac1N \\sum_n (x_n (W\\odot M)^\\top + b') = \\tfrac1N
    \\sum_n (x_n W^\\top + b)` exactly (in exact arithmetic). Source: Nagel
    et al., "Data-free quantization through weight equalization and bias
    correction", ICCV 2019, section 4.2 (empirical bias correction).

    The mean and the products are accumulated in float64, scaled by powers
    of two (no intermediate overflow: ``x = 1e308`` works), and rounded once
    to the promoted dtype. NaN (and ``inf - inf``) propagate to the output
    entries they touch.

    Examples
    --------
    >>> bias_correction([[1.0, 2.0]], [0.5], [[True, False]], [[1.0, 1.0], [3.0, 1.0]]).tolist()
    [2.5]
    """
    wa, ba = as_float_array("w", w), as_float_array("b", b)
    xa = as_float_array("x_calib", x_calib)
    if wa.ndim != 2:
        raise ValueError(f"w must have shape (out, in), got {wa.shape}")
    if ba.shape != (wa.shape[0],):
        raise ValueError(f"b must have shape ({wa.shape[0]},) (one per row of w), got {ba.shape}")
    ma = existing_as_bool("mask", mask, wa.shape)
    assert ma is not None
    if xa.ndim != 2 or xa.shape[1] != wa.shape[1] or xa.shape[0] < 1:
        raise ValueError(f"x_calib must have shape (N >= 1, {wa.shape[1]}), got {xa.shape}")
    removed = np.where(ma, wa.dtype.type(0), wa)
    dtype = np.result_type(wa.dtype, ba.dtype, xa.dtype)
    delta = _checks.scaled_matvec(_checks.scaled_mean(xa, 0), removed)
    with np.errstate(invalid="ignore", over="ignore"):
        exact = ba.astype(np.float64) + delta
    return _checks.finite_result("bias_correction", exact, dtype, {"w": wa, "b": ba, "x_calib": xa})


def _check_params(params: object) -> Params:
    """``params`` as a list of ``(w, b)`` float arrays: w ``(out, in)``, b ``(out,)``, layers chained."""
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)):
        raise TypeError(f"params must be a list of (w, b) pairs, got {type(params).__name__}")
    out: Params = []
    for i, pair in enumerate(params):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"params[{i}] must be a (w, b) pair, got {type(pair).__name__}")
        w, b = as_float_array(f"params[{i}][0]", pair[0]), as_float_array(f"params[{i}][1]", pair[1])
        if w.ndim != 2:
            raise ValueError(f"params[{i}][0] (a weight) must have shape (out, in), got {w.shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"params[{i}][1] (a bias) must have shape ({w.shape[0]},), got {b.shape}")
        if out and w.shape[1] != out[-1][0].shape[0]:
            raise ValueError(
                f"params[{i}][0] must have {out[-1][0].shape[0]} columns (the outputs of layer {i - 1}), "
                f"got shape {w.shape}"
            )
        out.append((w, b))
    return out


def _check_layer(layer: object, n: int) -> int:
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"layer must be an int, got {layer!r}")
    if not 0 <= layer < n - 1:
        raise ValueError(f"layer must index a hidden layer in [0, {n - 2}] (of {n} layers), got {layer}")
    return int(layer)


def _keep_indices(keep: ArrayLike, n: int) -> NDArray[np.intp]:
    k = np.asarray(keep)
    if k.dtype == bool:
        if k.shape != (n,):
            raise ValueError(f"a boolean keep must have shape ({n},), got {k.shape}")
        return np.flatnonzero(k)
    if k.size == 0 and k.ndim == 1 and k.dtype.kind in "iuf":  # [] is an empty list of indices
        return np.zeros(0, dtype=np.intp)
    if k.dtype.kind not in "iu" or k.ndim != 1:
        raise TypeError(
            f"keep must be a 1-d array of int indices or a boolean mask, got dtype {k.dtype}, shape {k.shape}"
        )
    if k.size and (k.min() < 0 or k.max() >= n or np.any(np.diff(k) <= 0)):
        raise ValueError(f"keep must hold sorted unique indices in [0, {n}), got {show_values(k)}")
    return k.astype(np.intp)
