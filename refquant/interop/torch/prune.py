"""``torch.nn.utils.prune``'s masks (PyTorch 2.13), in NumPy: the same masks, counts and errors.

Argument names follow torch; arrays in, boolean masks out (``True`` = kept, as
everywhere in :mod:`refquant.prune`; torch stores ``mask.to(t.dtype)``, 0/1
in the parameter's dtype: ``mask.astype(t.dtype)`` gives it). torch is never
imported. What torch does (read from ``torch/nn/utils/prune.py`` and checked
in ``tests/conformance/test_prune_conformance.py``):

* **Counts.** ``_compute_nparams_toprune``: an int amount is the count, a float
  gives ``round(amount * n)`` (Python's round, half to even, evaluated on the
  amount object itself, so a ``numpy.float32`` amount multiplies in float32).
  ``_validate_pruning_amount_init``: ``TypeError`` unless
  ``isinstance(amount, numbers.Real)``, ``ValueError`` for a negative int or a
  float outside ``[0, 1]``; a NaN float passes that check and fails in
  ``round`` with ``ValueError``. A Python ``bool`` passes torch's check as an
  int (``False`` prunes nothing, ``True`` is 1 channel for ``LnStructured``
  and a ``TypeError`` in ``L1Unstructured``, from ``topk(k=True)``); refquant
  raises ``TypeError`` for every bool amount (a flag is not a count).
  ``_validate_pruning_amount``: ``ValueError`` when an int amount exceeds ``n``.
* **Selection.** ``L1Unstructured`` prunes ``torch.topk(abs(scores), k,
  largest=False)``; ``LnStructured`` keeps ``torch.topk(norms, n_channels - k)``
  with ``norms = torch.norm(scores, p=n, dim=<all other dims>)`` (``n="fro"``
  works only up to 3-D tensors: torch sends more than 2 reduced dims to
  ``matrix_norm``, a ``RuntimeError``; refquant raises ``ValueError``);
  ``global_unstructured`` concatenates every parameter (``parameters_to_vector``)
  and runs ``L1Unstructured`` on the vector.
* **Ties.** ``topk``'s choice among equal values is unspecified. Observed on
  CPU (2.13): ``L1Unstructured(3)`` on ten equal values prunes indices 6, 7, 8;
  on 65536 equal values ``k=100`` prunes 0..99 but ``k=32768`` prunes
  32768..65535; ``LnStructured`` on equal norms pruned the lowest channel
  indices in the cases tried. refquant always prunes the lowest (flat or
  channel) index first, so masks agree with torch exactly on tie-free scores,
  and on ties only by coincidence.
* **Default masks (iterative pruning).** Pruning a parameter that already has
  a mask goes through ``PruningContainer.compute_mask``: the new method runs
  on the *remaining* part only, so the count is relative to what is left.
  Unstructured: the entries with ``mask == 1``. Structured: the channels along
  ``dim`` whose mask is not all zero (``mask.sum(other dims) != 0``; a channel
  partly pruned by an earlier unstructured step still counts), with the norms
  computed from the module's current weight, i.e. ``orig * mask`` (pruned
  entries count as 0), or from ``importance_scores`` as given (not masked).
  The result is multiplied into the old mask. ``global_unstructured`` always
  goes through the container, so ``default_masks`` there always mean
  "relative to the remaining entries".
* **Calling ``compute_mask`` directly** (``iterative=False`` here): outside a
  container, ``L1Unstructured(amount).compute_mask(t, default_mask)`` counts
  ``round(amount * t.numel())`` over the whole tensor and picks the smallest
  ``|t|`` among *all* entries, pruned ones included, then zeroes them in a copy
  of ``default_mask``; ``LnStructured`` likewise counts all channels and ranks
  them by the norm of ``t`` as given.

Differences, by design: NaN scores raise ``ValueError`` (torch ranks NaN as
the largest); a shape mismatch of ``importance_scores`` raises ``ValueError``
(torch: ``AssertionError``); ``default_mask`` must hold only 0 and 1.
Structured ``n`` may be any real ``> 0``, ``inf``, ``-inf`` (min ``|x|``), ``0``
(count of nonzeros) or ``"fro"`` (= 2); ``"nuc"`` and negative finite ``n`` raise
``ValueError``. Norms are computed in float64 (torch: the input's dtype), which
can only reorder channels whose norms differ by a rounding error.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array
from refquant.prune.masks import (
    as_slices,
    existing_as_bool,
    expand_slices,
    slice_norms,
    unstructured_mask,
)
from refquant.prune.masks_global import global_masks

__all__ = ["global_unstructured_masks", "l1_unstructured_mask", "ln_structured_mask"]

Mask = NDArray[np.bool_]


def l1_unstructured_mask(
    t: ArrayLike,
    amount: float,
    importance_scores: ArrayLike | None = None,
    default_mask: ArrayLike | None = None,
    *,
    iterative: bool = True,
) -> Mask:
    """The mask of ``prune.l1_unstructured``: prune the ``k`` smallest ``|importance_scores|``.

    Parameters
    ----------
    t : array_like of float, any shape
        The parameter (``weight_orig``, or the pruned weight: only the
        unpruned entries' values matter).
    amount : int or float
        ``k = amount`` (int) or ``round(amount * n)`` (float), ``n`` the number
        of entries (of remaining entries when ``default_mask`` is given and
        ``iterative``).
    importance_scores : array_like of float, shape of ``t``, optional
        Ranked by absolute value, default ``t``.
    default_mask : array_like of bool or 0/1, shape of ``t``, optional
        The parameter's current ``weight_mask`` (``None``: all ones).
    iterative : bool
        ``True``: what ``prune.l1_unstructured(module, ...)`` stores when the
        module is already pruned (``PruningContainer``: the count and the
        selection are over the remaining entries). ``False``: what a direct
        ``L1Unstructured(amount).compute_mask(importance_scores, default_mask)``
        returns (count and selection over the whole tensor).

    Returns
    -------
    ndarray of bool, shape of ``t``

    Raises
    ------
    TypeError
        ``amount`` is not a real number, or is a bool.
    ValueError
        ``amount`` is a negative int, a float outside ``[0, 1]`` or NaN, or an
        int larger than the number of (remaining) entries.

    Notes
    -----
    .. math:: m = d \\odot [\\,|s_i| \\notin \\text{the } k \\text{ smallest of }
              \\{|s_j| : d_j = 1\\}\\,]

    Source: ``torch.nn.utils.prune.L1Unstructured.compute_mask`` and
    ``PruningContainer.compute_mask`` (PyTorch 2.13). Ties: lowest flat index
    pruned first (torch: unspecified).

    Examples
    --------
    >>> w = np.array([[0.3, -0.1], [0.2, -0.5]])
    >>> l1_unstructured_mask(w, 0.5).tolist()
    [[True, False], [False, True]]
    >>> l1_unstructured_mask(w, 0.5, default_mask=[[1, 0], [1, 1]]).tolist()  # round(0.5 * 3) = 2 of 3 left
    [[False, False], [False, True]]
    """
    _validate_pruning_amount_init(amount)
    _check_bool("iterative", iterative)
    ta = as_float_array("t", t)
    scores = np.abs(_importance(ta, importance_scores))
    _check_no_nan("importance_scores" if importance_scores is not None else "t", scores)
    dm = existing_as_bool("default_mask", default_mask, ta.shape)
    if dm is None or not iterative:
        k = _nparams_toprune(amount, ta.size)
        keep = unstructured_mask(ta, k, scores=scores)
        return keep if dm is None else keep & dm
    k = _nparams_toprune(amount, int(np.count_nonzero(dm)))
    return unstructured_mask(ta, k, scores=scores, existing_mask=dm)


def ln_structured_mask(
    t: ArrayLike,
    amount: float,
    n: float | str,
    dim: int,
    importance_scores: ArrayLike | None = None,
    default_mask: ArrayLike | None = None,
    *,
    iterative: bool = True,
) -> Mask:
    """The mask of ``prune.ln_structured``: prune the ``k`` channels along ``dim`` of smallest Ln norm.

    Parameters
    ----------
    t : array_like of float, ``ndim >= 2``
        The parameter (``weight_orig``).
    amount : int or float
        Channels: ``k = amount`` (int) or ``round(amount * C)`` (float), ``C``
        the number of channels along ``dim`` (of channels not entirely pruned
        when ``default_mask`` is given and ``iterative``).
    n : float or "fro"
        The norm's order, as ``torch.norm``'s ``p``: real ``> 0``, ``inf``,
        ``-inf``, ``0`` or ``"fro"``.
    dim : int
        The channel axis (``0``: output channels of a Linear or Conv weight).
    importance_scores : array_like of float, shape of ``t``, optional
        Default: ``t * default_mask`` when iterative (torch's current weight),
        else ``t``.
    default_mask : array_like of bool or 0/1, shape of ``t``, optional
    iterative : bool
        As in :func:`l1_unstructured_mask`.

    Returns
    -------
    ndarray of bool, shape of ``t``

    Raises
    ------
    TypeError, ValueError
        Invalid ``amount`` as in :func:`l1_unstructured_mask`; ``ValueError``
        for ``t.ndim <= 1`` (torch's ``_validate_structured_pruning``) and an
        unsupported ``n``.
    numpy.exceptions.AxisError
        ``dim`` out of range: an ``IndexError``, as torch raises, and a
        ``ValueError``.

    Notes
    -----
    .. math:: \\|s_c\\|_n = \\Big(\\sum_{i} |s_{c,i}|^n\\Big)^{1/n},\\qquad
              m = d \\odot [\\,c \\text{ among the } C - k \\text{ largest norms}\\,]

    Source: ``torch.nn.utils.prune.LnStructured.compute_mask`` and
    ``PruningContainer.compute_mask`` (PyTorch 2.13). Ties: lowest channel
    index pruned first (torch: unspecified).

    Examples
    --------
    >>> w = np.array([[1.0, 2.0], [0.5, 0.5], [3.0, 0.0]])  # row L2 norms: 2.24, 0.71, 3
    >>> ln_structured_mask(w, 1, 2, 0).astype(int).tolist()
    [[1, 1], [0, 0], [1, 1]]
    >>> ln_structured_mask(w, 0.5, 1, 1).astype(int).tolist()  # column L1 norms 4.5, 2.5: round(1.0) = 1
    [[1, 0], [1, 0], [1, 0]]
    """
    _validate_pruning_amount_init(amount)
    _check_bool("iterative", iterative)
    ta = as_float_array("t", t)
    if ta.ndim <= 1:
        raise ValueError(
            "t: structured pruning can only be applied to multidimensional tensors, "
            f"got shape {ta.shape} with {ta.ndim} dims"
        )
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim must be an int, got {dim!r}")
    if not -ta.ndim <= dim < ta.ndim:  # torch: IndexError; AxisError is an IndexError and a ValueError
        raise np.exceptions.AxisError(f"Invalid index dim={dim} for tensor of size {ta.shape}")
    ax = int(dim) % ta.ndim
    _check_torch_norm(n)
    if n == "fro" and ta.ndim > 3:
        raise ValueError(
            f"n='fro' reduces {ta.ndim - 1} dims, torch.norm accepts at most 2 (RuntimeError there)"
        )
    dm = existing_as_bool("default_mask", default_mask, ta.shape)
    if importance_scores is not None:
        scores = _importance(ta, importance_scores)
    else:
        scores = np.where(dm, ta, 0) if (dm is not None and iterative) else ta
    norms = _torch_norms(scores, ax, n)
    if np.isnan(norms).any():
        name = "importance_scores" if importance_scores is not None else "t"
        raise ValueError(
            f"{name} contains NaN (channels {np.flatnonzero(np.isnan(norms)).tolist()[:5]} along dim={dim})"
        )
    alive = None
    if dm is not None and iterative:
        alive = np.logical_or.reduce(as_slices(dm, ax), axis=1)
    k = _nparams_toprune(amount, ta.shape[ax] if alive is None else int(np.count_nonzero(alive)))
    keep_channels = unstructured_mask(norms, k, existing_mask=alive)
    return expand_slices(keep_channels, ax, ta.shape, dm)


def global_unstructured_masks(
    tensors: Sequence[ArrayLike],
    amount: float,
    importance_scores: Sequence[ArrayLike | None] | None = None,
    default_masks: Sequence[ArrayLike | None] | None = None,
) -> list[Mask]:
    """The masks of ``prune.global_unstructured(..., pruning_method=L1Unstructured, amount=amount)``.

    Parameters
    ----------
    tensors : sequence of array_like of float
        The parameters, in the order torch receives them.
    amount : int or float
        ``k = amount`` (int) or ``round(amount * N)`` (float), ``N`` the total
        number of entries still unpruned (all of them without default masks).
    importance_scores : sequence of (array_like or None), optional
        Per parameter (torch's dict values), ranked by absolute value;
        ``None`` means the parameter itself.
    default_masks : sequence of (array_like of bool / 0-1 or None), optional
        The parameters' existing ``weight_mask`` buffers.

    Returns
    -------
    list of ndarray of bool
        One mask per tensor.

    Raises
    ------
    TypeError, ValueError
        Invalid ``amount``, as in :func:`l1_unstructured_mask`.

    Notes
    -----
    .. math:: m = \\operatorname{split}\\big(\\text{l1\\_unstructured}
              (\\operatorname{concat}(t), k, \\operatorname{concat}(d))\\big)

    computed without the concatenation by :func:`refquant.prune.global_masks`.
    Source: ``torch.nn.utils.prune.global_unstructured`` (PyTorch 2.13).

    Examples
    --------
    >>> a, b = np.array([[0.4, -0.1], [0.3, 0.2]]), np.array([0.05, -0.6])
    >>> [m.astype(int).tolist() for m in global_unstructured_masks([a, b], 0.5)]
    [[[1, 0], [1, 0]], [0, 1]]
    """
    _validate_pruning_amount_init(amount)
    if isinstance(tensors, np.ndarray) or not isinstance(tensors, Sequence):
        raise TypeError(f"tensors must be a sequence of arrays, got {type(tensors).__name__}")
    if len(tensors) == 0:
        raise ValueError("tensors must hold at least one array, got [] (torch: parameters_to_vector fails)")
    arrays = [as_float_array(f"tensors[{i}]", x) for i, x in enumerate(tensors)]
    scores = None
    if importance_scores is not None:
        if isinstance(importance_scores, np.ndarray) or len(importance_scores) != len(arrays):
            raise ValueError(
                f"importance_scores must be a sequence of {len(arrays)} arrays (or None), got "
                f"{type(importance_scores).__name__} of length {len(importance_scores)}"
            )
        scores = [
            None if s is None else np.abs(_importance(a, s, f"importance_scores[{i}]"))
            for i, (a, s) in enumerate(zip(arrays, importance_scores, strict=True))
        ]
    for i, a in enumerate(arrays):
        si = None if scores is None else scores[i]
        sc = a if si is None else si
        _check_no_nan(f"tensors[{i}]" if sc is a else f"importance_scores[{i}]", sc)
    masks = None
    if default_masks is not None:
        if isinstance(default_masks, np.ndarray) or len(default_masks) != len(arrays):
            raise ValueError(
                f"default_masks must be a sequence of {len(arrays)} masks (or None), got "
                f"{type(default_masks).__name__} of length {len(default_masks)}"
            )
        masks = [
            existing_as_bool(f"default_masks[{i}]", d, a.shape)
            for i, (a, d) in enumerate(zip(arrays, default_masks, strict=True))
        ]
    left = 0
    for i, a in enumerate(arrays):
        m = None if masks is None else masks[i]
        left += a.size if m is None else int(np.count_nonzero(m))
    k = _nparams_toprune(amount, left)
    return global_masks(arrays, k, scores=scores, existing_masks=masks)


def _validate_pruning_amount_init(amount: object) -> None:
    """torch's ``_validate_pruning_amount_init``."""
    if isinstance(amount, (bool, np.bool_)):
        raise TypeError(
            f"amount must be an int or a float, not a bool, got {amount!r} (torch takes it as 0 or 1)"
        )
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount!r}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and int(amount) < 0) or (
        not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)
    ):
        raise ValueError(
            f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer"
        )


def _nparams_toprune(amount: Any, size: int) -> int:
    """torch's ``_compute_nparams_toprune`` then ``_validate_pruning_amount``."""
    if isinstance(amount, numbers.Integral):
        if int(amount) > size:
            raise ValueError(
                f"amount={amount} should be smaller than the number of parameters to prune={size}"
            )
        return int(amount)
    try:
        count = round(amount * size)
    except (ValueError, OverflowError) as e:  # NaN: torch fails in the same round()
        raise ValueError(f"amount={amount!r} cannot be turned into a count: {e}") from None
    return int(count)


def _importance(t: NDArray[Any], scores: ArrayLike | None, name: str = "importance_scores") -> NDArray[Any]:
    if scores is None:
        return t
    s = as_float_array(name, scores)
    if s.shape != t.shape:
        raise ValueError(f"{name} should have the shape of its tensor {t.shape}, got {s.shape}")
    return s


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")


def _check_no_nan(name: str, scores: NDArray[Any]) -> None:
    """NaN cannot be ranked (torch ranks it as the largest): ``ValueError`` naming the argument."""
    if np.isnan(scores).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(scores))[0])
        raise ValueError(
            f"{name} contains NaN (at index {where}): refquant cannot rank it (torch ranks NaN largest)"
        )


def _check_torch_norm(n: object) -> None:
    if n == "fro":
        return
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Real):
        raise ValueError(f"n must be a real number or 'fro' (refquant does not support {n!r})")
    p = float(n)
    if math.isnan(p) or (p < 0 and p != -math.inf):
        raise ValueError(f"n={n!r} is not supported: use n > 0, 0, inf, -inf or 'fro'")


def _torch_norms(scores: NDArray[Any], axis: int, n: float | str) -> NDArray[np.float64]:
    """``torch.norm(scores, p=n, dim=<all but axis>)``, in float64."""
    p = 2.0 if n == "fro" else float(n)
    if p > 0:
        return slice_norms(scores, axis, p)
    a = np.abs(as_slices(scores, axis))
    if p == 0:
        return np.count_nonzero(a, axis=1).astype(np.float64)
    return a.min(axis=1).astype(np.float64) if a.shape[1] else np.full(a.shape[0], np.inf)
