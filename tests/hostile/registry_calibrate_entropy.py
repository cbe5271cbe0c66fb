"""Registry: ``refquant.calibrate.entropy`` (KL-divergence calibration)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import Entry, choice, flag, integer


def _base() -> dict[str, Any]:
    counts = np.array([9, 7, 5, 4, 3, 2, 2, 1, 0, 1, 0, 1], np.int64)
    return dict(
        counts=counts, edges=np.linspace(0.0, 1.2, 13, dtype=np.float32), num_quantized_bins=4, start_bin=4
    )


def _base_range() -> dict[str, Any]:
    counts = np.array([1, 0, 2, 3, 5, 9, 12, 9, 5, 3, 2, 0, 1], np.int64)
    return dict(counts=counts, edges=np.linspace(-1.3, 1.3, 14, dtype=np.float32), num_quantized_bins=4)


CONV = choice(("tensorrt", "modelopt", "onnxruntime"))
ENTRIES: list[Entry] = [
    Entry(
        "calibrate.entropy:entropy_amax",
        _base,
        {"stride": integer(1, None), "convention": CONV, "unsigned": flag()},
    ),
    Entry("calibrate.entropy:entropy_range", _base_range, {"convention": CONV}),
    Entry(
        "calibrate.entropy:kl_divergences",
        _base,
        {"convention": CONV, "two_sided": flag(), "exact": flag()},
        finite=False,
    ),
]
EXEMPT: dict[str, str] = {"calibrate.entropy:KLCurve": "a NamedTuple of the candidates and their divergences"}
