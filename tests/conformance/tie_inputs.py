"""Tie-dense float32 inputs shared by the conformance tests: thin wrappers of :mod:`refquant.check.inputs`."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from refquant.check.inputs import awkward_scales as _awkward_scales
from refquant.check.inputs import quantize_inputs


def tie_dense(scale: float, k_max: int, rng: np.random.Generator, n_random: int = 0) -> NDArray[np.float32]:
    """``8 * k_max + n_random`` float32 values of :func:`refquant.check.inputs.quantize_inputs` for the
    codes ``-k_max <= k < k_max`` of ``scale`` (zero point 0): the edge values, exact ties of
    ``x / s``, ``x * fl(1/s)`` and the fused FMA, one ulp around each, the grid (a random subset
    when they do not all fit), then random values. The length depends on ``k_max`` and
    ``n_random`` only, so columns of several scales stack."""
    codes = np.arange(-k_max, k_max)
    return quantize_inputs(scale, 0, -k_max, k_max - 1, rng=rng, codes=codes, count=8 * k_max + n_random)


def awkward_scales(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    """Scales whose reciprocals are inexact in float32, over many binades, plus exact ones
    (:func:`refquant.check.inputs.awkward_scales`)."""
    return _awkward_scales(rng=rng, count=n)
