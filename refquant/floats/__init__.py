"""Non-integer quantization: low-precision float formats, block formats, NF4, fixed point and codebooks.

The seed document's "非整数化" (non-integer quantization, its section 3.1.2).
Each format is implemented from its definition, bit for bit, with NumPy only;
ml_dtypes, ONNX, torch and torchao are test oracles in ``tests/conformance``.

* :mod:`refquant.floats.spec` -- the float formats as data (``FLOAT_FORMATS``);
* :mod:`refquant.floats.cast` -- ``cast`` onto a format's grid, ``encode``/``decode``;
* :mod:`refquant.floats.fixed` -- fixed point Qm.n;
* :mod:`refquant.floats.codebook` -- k-means weight sharing (Deep Compression);
* :mod:`refquant.floats.nf4` -- 4-bit NormalFloat (QLoRA, bitsandbytes).
"""

# Each module adds its import below and its names to __all__ (kept sorted, ruff's RUF022).
from refquant.floats.cast import cast, decode, encode
from refquant.floats.spec import FLOAT_FORMATS, FloatFormat, float_format

__all__ = ["FLOAT_FORMATS", "FloatFormat", "cast", "decode", "encode", "float_format"]
