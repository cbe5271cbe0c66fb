"""Pruning: masks, importance scores, schedules, gradient sparsification, structural removal.

* :mod:`refquant.prune.masks` -- unstructured, random, structured (Ln norm of
  slices) masks, with explicit count rules, tie policies and iterative
  (``existing_mask``) semantics; :mod:`refquant.prune.masks_global` -- one
  selection across several tensors; :mod:`refquant.prune.masks_nm` -- N:M and
  block masks;
* :mod:`refquant.prune.scores` -- importance scores (magnitude, SNIP, Taylor,
  movement, Wanda);
* :mod:`refquant.prune.schedules` -- constant, polynomial (GMP), iterative
  with rewinding;
* :mod:`refquant.prune.gradients` -- gradient sparsification;
* :mod:`refquant.prune.structural` -- physically removing neurons from an MLP.

A mask is a boolean array of the weight's shape, ``True`` = kept.
"""

# Each module adds its import below and its names to __all__ (in the order of the list above).

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

__all__ = [
    # masks, masks_global, masks_nm
    "COUNT_RULES",
    "NM_TAILS",
    "RELATIVE_TO",
    "TIE_POLICIES",
    "block_mask",
    "global_masks",
    "nm_mask",
    "pruned_count",
    "random_mask",
    "structured_mask",
    "unstructured_mask",
]
