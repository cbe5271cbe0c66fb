"""Second-order pruning scores: Optimal Brain Damage's saliency and a linear layer's exact Hessian diagonal.

Re-exported by :mod:`refquant.prune.scores` (the rules of that module apply:
results in the inputs' promoted float dtype, no intermediate overflow, and a
``ValueError`` when finite inputs give a result beyond the dtype's range).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice
from refquant.prune import _checks

__all__ = ["linear_mse_hessian_diag", "obd_saliency"]

Array = NDArray[Any]


def obd_saliency(w: ArrayLike, hessian_diag: ArrayLike) -> Array:
    """``h_kk * w_k**2 / 2``: Optimal Brain Damage's saliency, with the diagonal Hessian given.

    Parameters
    ----------
    w : array_like of float, any shape
    hessian_diag : array_like of float, shape of ``w``
        ``d^2 L / d w_k^2`` for every weight (for a linear layer under MSE,
        :func:`linear_mse_hessian_diag`).

    Returns
    -------
    ndarray, shape of ``w``, promoted float dtype (>= 0 where ``h_kk >= 0``)

    Notes
    -----
    .. math:: s_k = \\tfrac12\\, h_{kk}\\, w_k^2

    Source: LeCun, Denker & Solla 1990, "Optimal Brain Damage" (NIPS),
    eq. 6. The second-order change of the loss when ``w_k`` alone is set to
    zero, ``dL = -g_k w_k + h_kk w_k^2 / 2``, without the gradient term
    (assumed zero at a trained minimum) and with the off-diagonal terms
    dropped (exact for one weight at a time; OBD's "diagonal approximation"
    when several are removed together). For a quadratic loss at its minimum
    it is the exact increase of the loss.

    Examples
    --------
    >>> obd_saliency([2.0, -1.0, 3.0], [0.5, 4.0, 0.0]).tolist()
    [1.0, 2.0, 0.0]
    """
    wa, ha = as_float_array("w", w), as_float_array("hessian_diag", hessian_diag)
    if wa.shape != ha.shape:
        raise ValueError(f"hessian_diag must have the shape of w {wa.shape}, got {ha.shape}")
    exact = _checks.join(*_checks.product(np.array(0.5), ha, wa, wa))
    return _checks.finite_result(
        "obd_saliency", exact, np.result_type(wa.dtype, ha.dtype), {"w": wa, "hessian_diag": ha}
    )


def linear_mse_hessian_diag(
    x: ArrayLike, out_features: int, *, reduction: Literal["mean", "sum"] = "mean"
) -> Array:
    """``d^2 L / d W_ij^2 = 2 sum_n x_nj^2 / (N out)``: the exact diagonal Hessian of a linear layer's MSE.

    Parameters
    ----------
    x : array_like of float, shape (N, in)
        The layer's inputs (``y = x @ W.T + b``).
    out_features : int
        ``out``, the number of rows of ``W`` (>= 1).
    reduction : {"mean", "sum"}
        The loss ``L = sum_{n,i} (y_ni - t_ni)**2``, divided by ``N * out``
        for ``"mean"`` (default, ``torch.nn.MSELoss()``) or not for ``"sum"``.

    Returns
    -------
    ndarray, shape (out, in), float dtype of ``x``, values >= 0

    Notes
    -----
    .. math:: \\frac{\\partial^2 L}{\\partial W_{ij}^2} = \\frac{2}{N \\cdot \\mathrm{out}} \\sum_n x_{nj}^2

    (without the ``1 / (N out)`` for ``"sum"``). ``L`` is quadratic in ``W``,
    so this is the exact Hessian diagonal, independent of the targets, of
    ``W`` itself and of the row ``i``; the Hessian couples only weights of
    the same row. The bias's diagonal is ``2 / out`` (``"mean"``) or ``2 N``
    (``"sum"``). Source: LeCun et al. 1990 compute the diagonal by a
    backpropagation of second derivatives; for one linear layer under MSE it
    reduces to this closed form. Sums are accumulated in float64.

    Examples
    --------
    >>> linear_mse_hessian_diag([[1.0, 2.0], [3.0, 0.0]], 2).tolist()  # 2 * [10, 4] / (2 * 2)
    [[5.0, 2.0], [5.0, 2.0]]
    """
    xa = as_float_array("x", x)
    if xa.ndim != 2 or xa.shape[0] == 0:
        raise ValueError(f"x must have shape (N, in) with N >= 1, got {xa.shape}")
    if isinstance(out_features, bool) or not isinstance(out_features, (int, np.integer)):
        raise TypeError(f"out_features must be an int, got {out_features!r}")
    if out_features < 1:
        raise ValueError(f"out_features must be >= 1, got {out_features}")
    check_choice("reduction", reduction, ("mean", "sum"))
    t, scale = _checks.lp_sums(xa.T, 2.0)  # sum_n x_nj**2 = t_j * scale_j**2
    factor = 2.0 if reduction == "sum" else 2.0 / (xa.shape[0] * int(out_features))
    h = _checks.finite_result(
        "linear_mse_hessian_diag",
        _checks.join(*_checks.product(t * factor, scale, scale)),
        xa.dtype,
        {"x": xa},
    )
    return np.broadcast_to(h, (int(out_features), xa.shape[1])).copy()
