"""Registry: ``refquant.calibrate.mse`` (MSE search over clipping ranges, on data and on a histogram)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import Entry, array, axis, choice, flag, integer


def _base_range() -> dict[str, Any]:
    x = np.array([[0.3, -1.7, 0.5, 4.0], [100.0, -0.01, 0.99999, 2.5]], np.float32)
    return dict(x=x, num_bits=4, num_candidates=8)


def _base_amax() -> dict[str, Any]:
    counts = np.array([9, 7, 5, 4, 3, 2, 2, 1, 0, 1, 0, 1], np.int64)
    return dict(counts=counts, edges=np.linspace(0.0, 1.2, 13, dtype=np.float32), num_bits=4, start_bin=4)


# documented: NaN and ±inf raise, empty raises; finite data of any shape and dtype are accepted
X_POLICY = {"nan": "reject", "inf": "reject", "empty": "reject"}
# counts: finite and >= 0, 1-D, non-empty; edges: finite, strictly increasing, one longer than counts
# (value attacks at one index are mostly invalid histograms: covered in tests/calibrate/test_mse.py)
COUNTS_POLICY = {"nan": "reject", "inf": "reject", "empty": "reject", "0-d": "reject", "scalar": "reject"}
EDGES_POLICY = {"nan": "reject", "inf": "reject", "empty": "reject", "0-d": "reject", "scalar": "reject"}
ENTRIES: list[Entry] = [
    Entry(
        "calibrate.mse:mse_range",
        _base_range,
        {
            "x": array(**X_POLICY),
            "num_bits": integer(2, 32),
            "num_candidates": integer(1, 1 << 16),
            "symmetric": flag(),
            "unsigned": flag(),
            "narrow_range": flag(),
            "axis": axis(2),
        },
    ),
    Entry(
        "calibrate.mse:mse_range",
        lambda: {**_base_range(), "fmt": "float8_e4m3fn"},
        {"x": array(**X_POLICY), "num_candidates": integer(1, 1 << 16)},
        variant="fp8",
    ),
    Entry(
        "calibrate.mse:mse_amax",
        _base_amax,
        {
            "counts": array(values=False, **COUNTS_POLICY),
            "edges": array(values=False, **EDGES_POLICY),
            "num_bits": integer(2, 32),
            "stride": integer(1, None),
            "start_bin": integer(0, 11),
            "unsigned": flag(),
            "shipped": flag(),
            "convention": choice(("modelopt", "refquant")),
        },
    ),
    Entry(
        "calibrate.mse:mse_amax",
        lambda: {**_base_amax(), "convention": "refquant", "fmt": "float8_e4m3fn"},
        {"stride": integer(1, None), "narrow_range": flag()},
        variant="refquant-fp8",
    ),
]
EXEMPT: dict[str, str] = {}
