"""Calibration: the seed's "analyse the distribution, choose the range" step.

Range estimators from min-max to KL-entropy, streaming histograms with each
tool's growth rule, and one function from a range to quantization parameters.
ModelOpt, ONNX Runtime and PyTorch are test oracles in ``tests/conformance``;
``refquant.interop`` pins the knobs that reproduce each of them.

* :mod:`refquant.calibrate.ranges` -- min-max, moving average, percentile on data, range to qparams;
* :mod:`refquant.calibrate.histogram` -- histograms, percentile on a histogram;
* :mod:`refquant.calibrate.streaming` -- streaming histograms and their growth rules;
* :mod:`refquant.calibrate.entropy` -- KL-divergence (entropy) calibration;
* :mod:`refquant.calibrate.mse` -- MSE search over clipping ranges.
"""

# Each module adds its import below and its names to __all__ (kept sorted, ruff's RUF022).
from refquant.calibrate.entropy import KLCurve, entropy_amax, entropy_range, kl_divergences
from refquant.calibrate.histogram import (
    Histogram,
    HistogramState,
    histogram,
    histogram_moments,
    histogram_percentile,
)
from refquant.calibrate.mse import mse_amax, mse_range
from refquant.calibrate.ranges import (
    PERCENTILE_METHODS,
    minmax_range,
    moving_average_minmax,
    percentile_range,
    range_to_qparams,
)
from refquant.calibrate.streaming import MAX_BINS, RULES, histogram_of_batches, histogram_update

__all__ = [
    "MAX_BINS",
    "PERCENTILE_METHODS",
    "RULES",
    "Histogram",
    "HistogramState",
    "KLCurve",
    "entropy_amax",
    "entropy_range",
    "histogram",
    "histogram_moments",
    "histogram_of_batches",
    "histogram_percentile",
    "histogram_update",
    "kl_divergences",
    "minmax_range",
    "moving_average_minmax",
    "mse_amax",
    "mse_range",
    "percentile_range",
    "range_to_qparams",
]
