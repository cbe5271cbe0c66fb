"""Registry: ``refquant.calibrate`` ranges, histograms and streaming histograms (issue 10)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Entry,
    array,
    choice,
    flag,
    integer,
    opaque,
    real,
    seq,
)

# documented: NaN raises, ±inf are ordinary values (min-max, percentile), empty input raises
X = {"nan": REJECT, "inf": EITHER, "extreme": ACCEPT, "empty": REJECT, "0-d": ACCEPT, "scalar": ACCEPT}


def _x() -> np.ndarray:
    return np.array([[0.3, -1.7, 0.5], [100.0, -0.01, 0.99999]], np.float32)


def _hist() -> dict[str, Any]:
    return dict(counts=np.array([1, 4, 2, 0, 3]), edges=np.linspace(-1, 1, 6).astype(np.float32))


ENTRIES: list[Entry] = [
    Entry(
        "calibrate.ranges:minmax_range",
        lambda: dict(x=_x()),
        {"x": array(**X), "symmetric": flag()},
        dtype=lambda kw: None,
        shape=lambda kw: None,
        finite=False,
        contract="(min, max) per tensor or kept axis; NaN and empty raise",
    ),
    Entry(
        "calibrate.ranges:percentile_range",
        lambda: dict(x=_x(), percentile=99.0),
        {
            "x": array(**X),
            "percentile": real(0, 100),
            "symmetric": flag(),
            "method": choice(("linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf")),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        finite=False,
        contract="np.percentile's order statistics by one partition; NaN and empty raise",
    ),
    Entry(
        "calibrate.ranges:moving_average_minmax",
        lambda: dict(batches=[_x(), _x() * 2]),
        {"batches": seq(array(**{**X, "empty": EITHER})), "averaging_constant": real(0, 1, lo_open=True)},
        dtype=lambda kw: np.dtype(np.float32),
        shape=lambda kw: None,
        finite=False,
        contract="PyTorch's moving average in float32; NaN raises, empty batches skipped",
    ),
    Entry(
        "calibrate.ranges:range_to_qparams",
        lambda: dict(lo=-1.0, hi=3.0),
        {
            "fmt": choice(("int8", "uint8", "int4", "float8_e4m3fn")),
            "narrow_range": flag(),
            "symmetric": flag(),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="the foundation's qparams; float formats amax / max",
    ),
    Entry(
        "calibrate.histogram:histogram",
        lambda: dict(x=_x(), bins=16),
        {
            "x": array(nan=REJECT, inf=EITHER, extreme=EITHER, empty=ACCEPT),
            "bins": integer(1, 1 << 20),
            "absolute": flag(),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="np.histogram's counts and edges; NaN raises",
    ),
    Entry(
        "calibrate.histogram:histogram_percentile",
        lambda: {**_hist(), "percentile": 90.0},
        {
            "counts": opaque(),
            "edges": opaque(),
            "percentile": real(0, 100),
            "side": choice(("upper", "symmetric", "two_sided")),
            "interpolate": flag(),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="the edge where the CDF reaches p (ModelOpt, ORT)",
    ),
    Entry(
        "calibrate.histogram:histogram_moments",
        _hist,
        {"counts": opaque(), "edges": opaque(), "power": real(0, None, lo_open=True)},
        dtype=lambda kw: None,
        shape=lambda kw: None,
        finite=False,
        contract="ORT's _avg_std",
    ),
    Entry(
        "calibrate.streaming:histogram_update",
        lambda: dict(state=None, batch=_x(), bins=16),
        {
            "batch": array(nan=REJECT, inf=REJECT, extreme=EITHER, empty=REJECT),
            "bins": integer(2, 1 << 20),
            "rule": choice(("exact", "onnxruntime", "onnxruntime_absolute", "modelopt_numpy")),
            "skip_zeros": flag(),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="a new state; NaN, inf and an empty first batch raise",
    ),
    Entry(
        "calibrate.streaming:histogram_of_batches",
        lambda: dict(batches=[_x(), _x() * 3], bins=16),
        {
            "batches": seq(array(nan=REJECT, inf=REJECT, extreme=EITHER, empty=EITHER)),
            "rule": choice(("exact", "onnxruntime", "onnxruntime_absolute", "modelopt_numpy")),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="histogram_update over the batches",
    ),
]

EXEMPT: dict[str, str] = {
    "calibrate.ranges:PERCENTILE_METHODS": "a tuple of constants",
    "calibrate.streaming:RULES": "a tuple of constants",
    "calibrate.streaming:MAX_BINS": "an int constant",
    "calibrate.histogram:Histogram": "a NamedTuple of two arrays",
    "calibrate.histogram:HistogramState": "a NamedTuple of arrays and floats",
}
