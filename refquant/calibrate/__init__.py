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

__all__: list[str] = []
