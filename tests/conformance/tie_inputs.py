"""Tie-dense float32 inputs shared by the conformance tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def tie_dense(scale: float, k_max: int, rng: np.random.Generator, n_random: int = 0) -> NDArray[np.float32]:
    """``(k + 0.5) * scale`` for |k| < k_max, one float32 ulp either side, and random values.

    The products are computed in float64 and rounded to float32, so they land
    on, or within an ulp of, the exact ties ``x / scale = k + 0.5``.
    """
    k = np.arange(-k_max, k_max, dtype=np.float64)
    ties = ((k + 0.5) * scale).astype(np.float32)
    up = np.nextafter(ties, np.float32(np.inf))
    down = np.nextafter(ties, np.float32(-np.inf))
    exact = (k * scale).astype(np.float32)
    rand = (rng.uniform(-k_max, k_max, n_random) * scale).astype(np.float32)
    return np.concatenate([ties, up, down, exact, rand])


def awkward_scales(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    """Scales whose reciprocals are inexact in float32, over many binades, plus exact ones."""
    fixed = np.array([1.0, 0.5, 0.1, 1 / 3, 0.00214854861, 2.0**-20, 7.0, 1e-3], dtype=np.float32)
    rand = (10.0 ** rng.uniform(-6, 2, n)).astype(np.float32)
    return np.concatenate([fixed, rand])
