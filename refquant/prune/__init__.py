"""Pruning: masks, importance scores, schedules, gradient sparsification, structural removal.

* :mod:`refquant.prune.masks` -- unstructured, random, structured (Ln norm of
  slices) masks, with explicit count rules, tie policies and iterative
  (``existing_mask``) semantics; :mod:`refquant.prune.masks_global` -- one
  selection across several tensors; :mod:`refquant.prune.masks_nm` -- N:M and
  block masks;
* :mod:`refquant.prune.scores` -- importance scores (magnitude, SNIP, Taylor,
  movement, Wanda);
* :mod:`refquant.prune.schedules` -- constant, polynomial (GMP), iterative;
* :mod:`refquant.prune.gradients` -- gradient sparsification;
* :mod:`refquant.prune.structural` -- physically removing neurons from a stack
  of ``(w, b)`` layers; value pruning's rescaling and bias correction.

Pruning math knows no network: procedures that train (gradual magnitude
pruning, IMP with rewinding, N:M, Taylor structured pruning) are recipes, in
:mod:`refquant.recipes.pruning`.

A mask is a boolean array of the weight's shape, ``True`` = kept.
"""

# Each module adds its import below and its names to __all__ (kept sorted, ruff's RUF022).

from refquant.prune.gradients import (
    DGCStep,
    ErrorFeedbackStep,
    dgc_momentum_correction,
    gradient_dropping_identity,
    gradient_dropping_identity_vjp,
    relative_gradient_threshold,
    topk_error_feedback,
)
from refquant.prune.masks import (
    COUNT_RULES,
    RELATIVE_TO,
    TIE_POLICIES,
    pruned_count,
    random_mask,
    structured_mask,
    unstructured_mask,
)
from refquant.prune.masks_global import global_masks
from refquant.prune.masks_nm import NM_TAILS, block_mask, nm_mask
from refquant.prune.schedules import (
    ScheduleStep,
    constant_sparsity,
    gradual_magnitude_pruning,
    iterative_pruning_sparsity,
    polynomial_decay,
)
from refquant.prune.scores import (
    linear_mse_hessian_diag,
    magnitude_score,
    movement_score,
    obd_saliency,
    snip_score,
    snip_scores,
    taylor_activation_score,
    taylor_neuron_score,
    wanda_score,
)
from refquant.prune.structural import bias_correction, neuron_masks, remove_neurons, rescale_to_preserve_norm

__all__ = [
    "COUNT_RULES",
    "NM_TAILS",
    "RELATIVE_TO",
    "TIE_POLICIES",
    "DGCStep",
    "ErrorFeedbackStep",
    "ScheduleStep",
    "bias_correction",
    "block_mask",
    "constant_sparsity",
    "dgc_momentum_correction",
    "global_masks",
    "gradient_dropping_identity",
    "gradient_dropping_identity_vjp",
    "gradual_magnitude_pruning",
    "iterative_pruning_sparsity",
    "linear_mse_hessian_diag",
    "magnitude_score",
    "movement_score",
    "neuron_masks",
    "nm_mask",
    "obd_saliency",
    "polynomial_decay",
    "pruned_count",
    "random_mask",
    "relative_gradient_threshold",
    "remove_neurons",
    "rescale_to_preserve_norm",
    "snip_score",
    "snip_scores",
    "structured_mask",
    "taylor_activation_score",
    "taylor_neuron_score",
    "topk_error_feedback",
    "unstructured_mask",
    "wanda_score",
]
