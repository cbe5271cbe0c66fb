"""refquant: the reference implementation of quantization and pruning math.

NumPy (and SciPy) only at run time. The core modules:

* :mod:`refquant.formats` -- integer formats as data;
* :mod:`refquant.rounding` -- rounding modes;
* :mod:`refquant.qparams` -- range -> (scale, zero_point);
* :mod:`refquant.quantize` -- quantize, dequantize, fake_quantize;
* :mod:`refquant.interop` -- other systems' exact semantics (PyTorch, ONNX).
"""

from refquant._version import __version__ as __version__
from refquant.formats import INT_FORMATS, IntFormat, int_format, storage_dtype
from refquant.qparams import QParams, nudge_range, qparams_from_range, reduce_range
from refquant.quantize import dequantize, fake_quantize, quantize
from refquant.rounding import ROUNDING_MODES, round_to_integer

__all__ = [
    "INT_FORMATS",
    "ROUNDING_MODES",
    "IntFormat",
    "QParams",
    "dequantize",
    "fake_quantize",
    "int_format",
    "nudge_range",
    "qparams_from_range",
    "quantize",
    "reduce_range",
    "round_to_integer",
    "storage_dtype",
]
