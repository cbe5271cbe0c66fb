"""Importance scores for pruning: higher means more important, keep it.

Per-weight scores have the weight's shape; per-neuron scores have shape
``(out,)``, one per output neuron (the rows of a weight of shape
``(out, in, ...)``, PyTorch's layout, as in :mod:`refquant.nn.mlp`). A mask
keeps the highest scores and prunes the lowest (:mod:`refquant.prune.masks`).

===============================  ==========================================  ================
score                            formula                                     granularity
===============================  ==========================================  ================
:func:`magnitude_score`          ``|w|``                                     weight
:func:`snip_scores`              ``|g * w| / sum(|g * w|)``                  weight
:func:`taylor_activation_score`  ``mean_batch |mean_positions(a * dL/da)|``  neuron
:func:`taylor_neuron_score`      ``(sum_group g * w)**2``                    neuron
:func:`movement_score`           ``S - lr * w * g`` (accumulated)            weight
:func:`wanda_score`              ``|W_ij| * ||X_j||_2``                      weight (per row)
:func:`obd_saliency`             ``h_kk * w_k**2 / 2``                       weight
===============================  ==========================================  ================

All are elementwise or reductions; results have the inputs' promoted float
dtype (integers and bools are promoted to float64) and the inputs are never
modified. NaN propagates into the score of the entries (or neurons) it
touches, except in :func:`snip_scores`, whose normalization would spread it
to every score: there it raises.

**Overflow.** Products and sums are formed without intermediate overflow
(mantissas times powers of two; sums and norms scaled by a power of two or by
their largest entry, as LAPACK's ``nrm2``), then rounded once to the result
dtype: ``±inf`` only where the exact score exceeds the dtype, never a NaN
from an intermediate ``0 * inf`` or ``inf - inf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis
from refquant.prune import _checks
from refquant.prune.scores_hessian import linear_mse_hessian_diag, obd_saliency

__all__ = [
    "linear_mse_hessian_diag",
    "magnitude_score",
    "movement_score",
    "obd_saliency",
    "snip_score",
    "snip_scores",
    "taylor_activation_score",
    "taylor_neuron_score",
    "wanda_score",
]

Array = NDArray[Any]
ActivationReduction = Literal["per_example", "abs_of_mean", "mean_of_abs"]
GroupReduction = Literal["square_of_sum", "sum_of_squares"]


def magnitude_score(w: ArrayLike) -> Array:
    """``|w|``: the magnitude criterion.

    Parameters
    ----------
    w : array_like of float, any shape

    Returns
    -------
    ndarray, shape and float dtype of ``w``, values >= 0 (NaN stays NaN)

    Notes
    -----
    .. math:: s_i = |w_i|

    Source: Han et al. 2015, "Learning both Weights and Connections for
    Efficient Neural Networks"; the default criterion of
    ``torch.nn.utils.prune.l1_unstructured`` and TF-MOT's
    ``prune_low_magnitude``. ``-0.0`` scores ``+0.0``.

    Examples
    --------
    >>> magnitude_score([[-3.0, 0.5], [2.0, -0.0]]).tolist()
    [[3.0, 0.5], [2.0, 0.0]]
    """
    return np.abs(as_float_array("w", w))


def snip_scores(weights: Sequence[ArrayLike], grads: Sequence[ArrayLike]) -> list[Array]:
    """``|g * w| / sum over all tensors of |g * w|``: SNIP's connection sensitivity, normalized globally.

    Parameters
    ----------
    weights : sequence of array_like of float
        The weights ``w`` of each layer (any shapes), at initialization in SNIP.
    grads : sequence of array_like of float
        ``dL/dw`` for each, same shapes, from one mini-batch.

    Returns
    -------
    list of ndarray
        One per tensor, of its shape and float dtype (``w`` and ``g``
        promoted), values >= 0, summing to 1 over all tensors (up to rounding).

    Raises
    ------
    ValueError
        When the lengths or shapes differ, an input is not finite, or every
        ``g * w`` is zero (the normalization would be 0 / 0).

    Notes
    -----
    .. math:: s_j = \\frac{|g_j w_j|}{\\sum_k |g_k w_k|}, \\qquad g = \\frac{\\partial L}{\\partial w}

    Source: Lee, Ajanthan & Torr 2019, "SNIP: Single-shot Network Pruning
    based on Connection Sensitivity" (ICLR), eq. 6. SNIP puts a multiplicative
    mask ``c`` on every weight; ``dL/dc_j = w_j * g_j`` at ``c = 1``, so the
    product of the weight and its ordinary gradient *is* the connection
    sensitivity. The sum runs over all the tensors given (SNIP keeps the top
    ``kappa`` connections of the whole network); pass one tensor for a
    per-layer normalization. The normalization does not change the ranking.

    The products are formed in float64 divided by the power of two of the
    largest, so nothing overflows (``w = g = 1e200`` is fine; products
    ``2**1000`` times below the largest score 0); one rounding to the dtype.

    Examples
    --------
    >>> [s.tolist() for s in snip_scores([[1.0, -2.0], [[4.0]]], [[3.0, 1.0], [[-0.75]]])]
    [[0.375, 0.25], [[0.375]]]
    """
    for name, seq in (("weights", weights), ("grads", grads)):
        if isinstance(seq, np.ndarray) or not isinstance(seq, Sequence):
            shown = f"an array of shape {seq.shape}" if isinstance(seq, np.ndarray) else type(seq).__name__
            raise TypeError(f"{name} must be a sequence (list) of arrays, got {shown}")
    if len(weights) != len(grads):
        raise ValueError(f"weights and grads must have the same length, got {len(weights)} and {len(grads)}")
    if not weights:
        raise ValueError("weights must hold at least one tensor")
    return _snip(
        [(f"weights[{i}]", w, f"grads[{i}]", g) for i, (w, g) in enumerate(zip(weights, grads, strict=True))]
    )


def _snip(pairs: list[tuple[str, ArrayLike, str, ArrayLike]]) -> list[Array]:
    """SNIP's normalized ``|g w|``; the names are the caller's arguments, for the messages."""
    products = []
    for wname, w, gname, g in pairs:
        wa, ga = as_float_array(wname, w), as_float_array(gname, g)
        if wa.shape != ga.shape:
            raise ValueError(f"{gname} must have the shape of {wname} {wa.shape}, got {ga.shape}")
        for name, arr in ((wname, wa), (gname, ga)):
            _checks.all_finite(name, arr, "SNIP's normalization would spread NaN/inf")
        products.append((_checks.product(np.abs(wa), np.abs(ga)), np.result_type(wa.dtype, ga.dtype)))
    top = max((int(e[m != 0].max()) for (m, e), _ in products if np.any(m != 0)), default=None)
    if top is None:
        names = " and ".join(f"{p[0]}, {p[2]}" for p in pairs) if len(pairs) == 1 else "weights and grads"
        shapes = ", ".join(str(np.shape(p[1])) for p in pairs)
        raise ValueError(
            f"{names} (shapes {shapes}) give g * w = 0 everywhere: SNIP's normalization is 0 / 0"
        )
    # all |g w| / 2**top, the largest in [0.25, 1)
    scaled = [_checks.join(m, e - top) for (m, e), _ in products]
    total = sum(float(np.sum(x)) for x in scaled)
    return [(x / total).astype(dt) for x, (_, dt) in zip(scaled, products, strict=True)]


def snip_score(w: ArrayLike, grad: ArrayLike) -> Array:
    """``|g * w| / sum(|g * w|)`` over one tensor: :func:`snip_scores` with a single tensor.

    Parameters
    ----------
    w : array_like of float, any shape
    grad : array_like of float, shape of ``w``
        ``dL/dw``.

    Returns
    -------
    ndarray, shape of ``w``, values >= 0 summing to 1

    Notes
    -----
    .. math:: s_j = \\frac{|g_j w_j|}{\\sum_k |g_k w_k|}

    Source: Lee et al. 2019 (SNIP); see :func:`snip_scores` for the rules.

    Examples
    --------
    >>> snip_score([2.0, -1.0, 0.5], [0.5, 1.0, -4.0]).tolist()
    [0.25, 0.25, 0.5]
    """
    return _snip([("w", w, "grad", grad)])[0]


def taylor_activation_score(
    a: ArrayLike,
    grad_a: ArrayLike,
    *,
    axis: int = 1,
    reduction: ActivationReduction = "per_example",
    normalize: bool = False,
) -> Array:
    """``mean over the batch of |mean over positions of a * dL/da|`` per neuron (Taylor, ICLR 2017).

    Parameters
    ----------
    a : array_like of float, shape (N, ...) with ``ndim >= 2``
        A layer's activations on a mini-batch: ``(N, units)`` for an MLP,
        ``(N, C, H, W)`` for a convolution. Axis 0 is the batch.
    grad_a : array_like of float, shape of ``a``
        ``dL/da``, per example (not summed over the batch).
    axis : int
        The neuron (channel) axis, not 0. Default 1 (the units of ``(N, units)``,
        the channels of NCHW). Every other axis but 0 is a "position".
    reduction : {"per_example", "abs_of_mean", "mean_of_abs"}
        Where the absolute value goes (Notes). Default ``"per_example"``.
    normalize : bool
        Divide by the L2 norm of the layer's scores (the paper's layer-wise
        normalization, so that layers can be compared); all-zero scores stay 0.

    Returns
    -------
    ndarray, shape ``(a.shape[axis],)``, float dtype of ``a`` and ``grad_a`` promoted, >= 0

    Notes
    -----
    With ``M`` positions per example and ``N`` examples (``reduction``):

    .. math::

        \\text{per\\_example:}\\ \\Theta_k = \\frac1N \\sum_n \\Big|\\frac1M \\sum_m a_{nkm}\\,
        \\frac{\\partial L}{\\partial a_{nkm}}\\Big|, \\quad
        \\text{abs\\_of\\_mean:}\\ \\Big|\\frac1{NM} \\sum_{n,m} a\\,
        \\frac{\\partial L}{\\partial a}\\Big|, \\quad
        \\text{mean\\_of\\_abs:}\\ \\frac1{NM} \\sum_{n,m} \\Big|a\\,\\frac{\\partial L}{\\partial a}\\Big|

    Source: Molchanov, Tyree, Karras, Aila & Kautz 2017, "Pruning
    Convolutional Neural Networks for Resource Efficient Inference" (ICLR):
    the first-order Taylor estimate of ``|L(a_k = 0) - L(a)|``, the change of
    the loss when feature map ``k`` is zeroed, ``|sum_m dL/da_m * a_m| / M``
    per example, computed "for each example separately and averaged" over
    the mini-batch (``"per_example"``). ``"abs_of_mean"`` takes the absolute
    value once, after averaging over the batch too (the first-order change
    of the *batch* loss). ``"mean_of_abs"`` is what NVlabs/Taylor_pruning
    (``layers/gate_layer.py``, method 6, its ICLR-2017 baseline) computes:
    ``(grad_output * output).abs().mean(-1).mean(-1).mean(0)``. For an MLP
    (no positions) ``"per_example"`` and ``"mean_of_abs"`` coincide.

    For ReLU, ``a * dL/da = z * dL/dz`` elementwise (both are 0 where
    ``z <= 0``), so the score is the same on the pre-activation ``z``.
    The paper then accumulates the score over the mini-batches between two
    pruning steps; average the outputs of this function to do that.

    Examples
    --------
    >>> a = [[1.0, 2.0], [3.0, 0.0]]
    >>> g = [[0.5, -1.0], [-0.5, 4.0]]
    >>> taylor_activation_score(a, g).tolist()  # (|0.5| + |-1.5|) / 2, (|-2| + 0) / 2
    [1.0, 1.0]
    >>> taylor_activation_score(a, g, reduction="abs_of_mean").tolist()
    [0.5, 1.0]
    """
    aa, ga = as_float_array("a", a), as_float_array("grad_a", grad_a)
    if aa.shape != ga.shape:
        raise ValueError(f"grad_a must have the shape of a {aa.shape}, got {ga.shape}")
    if aa.ndim < 2:
        raise ValueError(f"a must have a batch axis and a neuron axis (ndim >= 2), got shape {aa.shape}")
    ax = normalize_axis("axis", axis, aa.ndim)
    if ax == 0:
        raise ValueError("axis must not be 0, the batch axis")
    check_choice("reduction", reduction, ("per_example", "abs_of_mean", "mean_of_abs"))
    do_norm = _checks.check_bool("normalize", normalize)
    dtype = np.result_type(aa.dtype, ga.dtype)
    positions = aa.size // max(1, aa.shape[0] * aa.shape[ax])
    if aa.shape[0] == 0 or positions == 0:
        raise ValueError(f"a must hold at least one example and one position, got shape {aa.shape}")
    m, e = _checks.product(np.moveaxis(aa, ax, 1), np.moveaxis(ga, ax, 1))  # (N, units, positions...)
    m, e = m.reshape(m.shape[0], m.shape[1], positions), e.reshape(e.shape[0], e.shape[1], positions)
    lowest = np.iinfo(np.int64).min
    finite_nz = np.isfinite(m) & (m != 0)
    big = np.max(np.where(finite_nz, e, lowest), axis=(0, 2), keepdims=True, initial=lowest)
    big = np.where(big == lowest, 0, big)  # per neuron: a * dL/da / 2**big has no term above 1
    prod = _checks.join(m, e - big)
    if reduction == "per_example":
        score = np.mean(np.abs(np.mean(prod, axis=2)), axis=0)
    elif reduction == "abs_of_mean":
        score = np.abs(np.mean(prod, axis=(0, 2)))
    else:
        score = np.mean(np.abs(prod), axis=(0, 2))
    big = big.reshape(-1)
    if do_norm:  # the scores over their L2 norm, both times 2**big: scale by the common largest
        common = int(big.max()) if big.size else 0
        rel = _checks.join(*_checks.shifted(score, big - common))
        r, sc = _checks.lp_sums(rel[None, :], 2.0)
        norm = float(np.sqrt(r[0]) * sc[0])
        if np.isnan(norm) or np.isinf(norm):  # as the plain formula: NaN / inf / inf spread, finite / inf = 0
            out = np.full(rel.shape, np.nan) if np.isnan(norm) else np.where(np.isinf(rel), np.nan, 0.0)
        else:
            out = rel / norm if norm != 0 else np.zeros_like(rel)
        return np.asarray(out).astype(dtype)
    return _checks.cast(_checks.join(*_checks.shifted(score, big)), dtype)


def taylor_neuron_score(
    w: ArrayLike,
    grad_w: ArrayLike,
    b: ArrayLike | None = None,
    grad_b: ArrayLike | None = None,
    *,
    reduction: GroupReduction = "square_of_sum",
) -> Array:
    """``(sum over the neuron's weights and bias of g * w)**2`` per output neuron (Taylor, CVPR 2019).

    Parameters
    ----------
    w : array_like of float, shape (out, in, ...)
        A layer's weight; row ``j`` holds neuron ``j``'s incoming weights.
    grad_w : array_like of float, shape of ``w``
        ``dL/dw`` on one mini-batch (summed or averaged over it, as the loss is).
    b, grad_b : array_like of float, shape (out,), optional
        The bias and ``dL/db``; both or neither. Without them the group is
        the incoming weights only.
    reduction : {"square_of_sum", "sum_of_squares"}
        ``(sum_s g_s w_s)**2`` (default: the first-order estimate of zeroing
        the whole group at once) or ``sum_s (g_s w_s)**2`` (the sum of the
        per-parameter estimates).

    Returns
    -------
    ndarray, shape (out,), promoted float dtype, values >= 0

    Notes
    -----
    With ``S_j`` = row ``j`` of ``w`` and ``b_j`` (the neuron's parameter group):

    .. math:: I_j = \\Big(\\sum_{s \\in S_j} g_s w_s\\Big)^2

    Source: Molchanov, Mallya, Tyree, Frosio & Kautz 2019, "Importance
    Estimation for Neural Network Pruning" (CVPR). ``L(W with S_j = 0) - L(W)
    ~= -sum_s g_s w_s`` to first order, and the square is the score. It is
    also the squared gradient of a gate ``c_j`` that multiplies the
    pre-activation ``z_j = w_j . a + b_j`` at ``c_j = 1``:
    ``dL/dc_j = sum_n dL/dz_nj z_nj = sum_i dL/dw_ji w_ji + dL/db_j b_j``,
    the paper's gate formulation (NVlabs/Taylor_pruning, ``pruning_engine.py``:
    method 22 "Taylor_gate" squares a gate's ``g * w``, method 31 squares
    ``g_gamma * gamma + g_beta * beta`` of a batch-norm channel, the
    ``"square_of_sum"`` over a (weight, bias) group; method 0 "Taylor_weight"
    is ``(w * grad).pow(2).sum`` per output channel, ``"sum_of_squares"``).

    One mini-batch gives one score; the paper averages the per-mini-batch
    scores (not the gradients) over the mini-batches between pruning steps,
    as ``pruning_engine.py`` does (accumulate, then divide by the count),
    optionally with a momentum across pruning steps. Average the outputs of
    this function to do the same. The group is the neuron's *incoming*
    parameters; its outgoing weights (columns of the next layer) are not in it.

    Examples
    --------
    >>> w = [[1.0, 2.0], [3.0, -1.0]]
    >>> gw = [[0.5, -1.0], [1.0, 2.0]]
    >>> taylor_neuron_score(w, gw, [1.0, 0.0], [4.0, 5.0]).tolist()  # (0.5 - 2 + 4)**2, (3 - 2)**2
    [6.25, 1.0]
    >>> taylor_neuron_score(w, gw, reduction="sum_of_squares").tolist()  # 0.25 + 4, 9 + 4
    [4.25, 13.0]
    """
    wa, gwa = as_float_array("w", w), as_float_array("grad_w", grad_w)
    if wa.ndim < 1 or wa.shape != gwa.shape:
        raise ValueError(f"grad_w must have the shape of w {wa.shape} (ndim >= 1), got {gwa.shape}")
    check_choice("reduction", reduction, ("square_of_sum", "sum_of_squares"))
    if (b is None) != (grad_b is None):
        raise ValueError("pass both b and grad_b, or neither")
    dtype = np.result_type(wa.dtype, gwa.dtype)
    m, e = _checks.product(gwa, wa)
    per = wa.size // wa.shape[0] if wa.shape[0] else 0
    m, e = m.reshape(wa.shape[0], per), e.reshape(wa.shape[0], per)
    ba = gba = None
    if b is not None and grad_b is not None:
        ba, gba = as_float_array("b", b), as_float_array("grad_b", grad_b)
        for name, arr in (("b", ba), ("grad_b", gba)):
            if arr.shape != (wa.shape[0],):
                raise ValueError(
                    f"{name} must have shape ({wa.shape[0]},), one per row of w {wa.shape}, got {arr.shape}"
                )
        dtype = np.result_type(dtype, ba.dtype, gba.dtype)
        mb, eb = _checks.product(gba, ba)
        m, e = np.concatenate([m, mb[:, None]], axis=1), np.concatenate([e, eb[:, None]], axis=1)
    if reduction == "sum_of_squares":
        m, e = m * m, 2 * e
    s, big = _checks.group_sum(m, e, 1)  # per neuron, scaled by 2**big
    if reduction == "square_of_sum":
        s, big = s * s, 2 * big
    exact = _checks.join(*_checks.shifted(s, big))
    inputs = {"w": wa, "grad_w": gwa, "b": ba, "grad_b": gba}
    return _checks.finite_result("taylor_neuron_score", exact, dtype, inputs)


def movement_score(
    w: ArrayLike, grad: ArrayLike, score: ArrayLike | None = None, *, lr: float = 1.0
) -> Array:
    """``score - lr * w * g``: one step of the movement-pruning score (accumulated over steps).

    Parameters
    ----------
    w : array_like of float, any shape
        The weights at this step (before the optimizer's update).
    grad : array_like of float, shape of ``w``
        ``dL/dw`` at this step.
    score : array_like of float, shape of ``w``, optional
        The accumulated score so far; None means zeros (the first step).
    lr : float
        The score's learning rate ``alpha_S`` (finite, > 0). A constant
        factor: it does not change the ranking.

    Returns
    -------
    ndarray, shape of ``w``, promoted float dtype (may be negative)

    Notes
    -----
    .. math::

        S^{(T)} = -\\alpha_S \\sum_{t < T} \\Big(\\frac{\\partial L}{\\partial W}\\Big)^{(t)} \\odot W^{(t)}

    Source: Sanh, Wolf & Rush 2020, "Movement Pruning: Adaptivity by
    Fine-Tuning" (NeurIPS), section 4: the score of hard movement pruning,
    learned through a straight-through top-k, accumulates exactly this
    (with ``alpha_S`` the score's learning rate under plain SGD). It is high
    for weights moving away from zero (``w * g < 0`` under gradient descent)
    and low for weights moving toward it, whatever their magnitude now.
    Call once per training step, passing the previous result as ``score``.
    Soft movement pruning (a threshold on ``S`` with an L1 penalty) uses the
    same score with a different selection.

    Examples
    --------
    >>> s = movement_score([1.0, -2.0], [-0.5, -0.25])  # -(1 * -0.5), -(-2 * -0.25)
    >>> s.tolist()
    [0.5, -0.5]
    >>> movement_score([1.5, -2.0], [1.0, -1.0], s).tolist()
    [-1.0, -2.5]
    """
    wa, ga = as_float_array("w", w), as_float_array("grad", grad)
    if wa.shape != ga.shape:
        raise ValueError(f"grad must have the shape of w {wa.shape}, got {ga.shape}")
    lr_f = _checks.check_real("lr", lr, 0.0, np.inf, lo_open=True, hi_open=True)
    dtype = np.result_type(wa.dtype, ga.dtype)
    m, e = _checks.product(wa, ga, np.array(lr_f))
    inputs: dict[str, Array | None] = {"w": wa, "grad": ga}
    if score is None:
        return _checks.finite_result("movement_score", _checks.join(-m, e), dtype, inputs, {"lr": lr_f})
    sa = as_float_array("score", score)
    if sa.shape != wa.shape:
        raise ValueError(f"score must have the shape of w {wa.shape}, got {sa.shape}")
    ms, es = _checks.split(sa)
    both_m, both_e = np.stack([ms, -m]), np.stack([es, e])
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, as the plain formula
        exact = _checks.scaled_sum((both_m, both_e), 0)
    return _checks.finite_result(
        "movement_score", exact, np.result_type(dtype, sa.dtype), {**inputs, "score": sa}, {"lr": lr_f}
    )


def wanda_score(w: ArrayLike, x: ArrayLike) -> Array:
    """``|W_ij| * ||X_j||_2``: Wanda's weight-times-input-norm score, to be compared within each row.

    Parameters
    ----------
    w : array_like of float, shape (out, in)
        A linear layer's weight.
    x : array_like of float, shape (..., in)
        The layer's inputs on calibration data (every token or example along
        the leading axes, flattened).

    Returns
    -------
    ndarray, shape (out, in), promoted float dtype, values >= 0

    Notes
    -----
    .. math:: S_{ij} = |W_{ij}| \\cdot \\lVert X_{:,j} \\rVert_2

    Source: Sun, Liu, Bair & Kolter 2023, "A Simple and Effective Pruning
    Approach for Large Language Models" (Wanda), eq. 1. Wanda compares the
    scores *per output row*: each row ``i`` loses its own
    ``int(in * sparsity)`` lowest-scoring weights (``lib/prune.py``:
    ``torch.sort(W_metric, dim=-1, stable=True)`` and the first
    ``int(W_metric.shape[1] * sparsity_ratio)`` indices of each row pruned:
    a floor count and, among equal scores, the lowest column index pruned
    first). So use this score with a per-row selection,
    ``unstructured_mask(w, sparsity, scores=wanda_score(w, x), axis=1,
    count_rule="floor")`` (:mod:`refquant.prune.masks`, whose default tie
    policy prunes the lowest index first), not with one threshold over the
    whole layer.

    The official code keeps ``scaler_row = sum ||X_j||^2 / nsamples`` and
    multiplies ``|W|`` by its square root: ``||X_j|| / sqrt(nsamples)``, the
    same score up to one constant factor, hence the same masks (up to float
    rounding at exact ties). It accumulates the norms in float32; here the
    norm is accumulated in float64, divided by the column's largest ``|x|``
    first (LAPACK ``nrm2``'s scaling, so ``x = 1e200`` gives a finite norm),
    and rounded once to the result dtype; where that norm or the product
    exceeds the result dtype, the exact product is rounded once instead
    (``0`` for a zero weight: never ``0 * inf``). NaN in ``x`` raises (it
    would poison a whole column); NaN in ``w`` propagates to its entry.

    Examples
    --------
    >>> x = [[3.0, 0.0], [4.0, 1.0]]  # column norms 5 and 1
    >>> wanda_score([[1.0, -4.0], [-0.5, 6.0]], x).tolist()
    [[5.0, 4.0], [2.5, 6.0]]
    """
    wa, xa = as_float_array("w", w), as_float_array("x", x)
    if wa.ndim != 2:
        raise ValueError(f"w must have shape (out, in), got {wa.shape}")
    if xa.ndim < 1 or xa.shape[-1] != wa.shape[1]:
        raise ValueError(f"x must have shape (..., {wa.shape[1]}), got {xa.shape}")
    cols = xa.reshape(-1, wa.shape[1]).T
    _checks.no_nan("x", cols, "its column norms would be NaN")
    t, scale = _checks.lp_sums(cols, 2.0)  # ||X_j|| = sqrt(t_j) * scale_j
    norm = _checks.norms_of(t, scale, 2.0)
    dtype = np.result_type(wa.dtype, xa.dtype)
    absw = np.abs(wa)
    with np.errstate(over="ignore", invalid="ignore"):
        plain = absw.astype(dtype) * _checks.cast(norm, dtype)
    finite_col = np.isfinite(t)  # columns without inf (their norm may still exceed the dtype)
    bad = (~np.isfinite(plain) & np.isfinite(absw) & finite_col) | ((absw == 0) & np.isinf(norm))
    if np.any(bad):  # the norm (or the product) beyond the dtype: the exact product, rounded once
        exact = _checks.mul(dtype, absw, np.sqrt(np.where(finite_col, t, 1.0)), scale)
        plain = np.where(bad, np.where(absw == 0, dtype.type(0), exact), plain)
    return _checks.finite_result("wanda_score", plain.astype(np.float64), dtype, {"w": wa, "x": xa})
