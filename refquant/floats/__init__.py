"""Non-integer quantization: low-precision float formats, block formats, NF4, fixed point and codebooks.

The seed document's "非整数化" (non-integer quantization, its section 3.1.2).
Each format is implemented from its definition, bit for bit, with NumPy only;
ml_dtypes, ONNX, torch and torchao are test oracles in ``tests/conformance``.

* :mod:`refquant.floats.spec` -- the float formats as data (``FLOAT_FORMATS``);
* :mod:`refquant.floats.cast` -- ``cast`` onto a format's grid, ``encode``/``decode``;
* :mod:`refquant.floats.fixed` -- fixed point Qm.n;
* :mod:`refquant.floats.codebook` -- k-means weight sharing (Deep Compression);
* :mod:`refquant.floats.nf4` -- 4-bit NormalFloat (QLoRA, bitsandbytes);
* :mod:`refquant.floats.mx` -- OCP Microscaling block formats;
* :mod:`refquant.floats.nvfp4` -- NVIDIA's NVFP4.
"""

# Each module adds its import below and its names to __all__ (kept sorted, ruff's RUF022).
from refquant.floats.cast import cast, decode, encode
from refquant.floats.codebook import (
    CentroidGrad,
    Codebook,
    codebook_assign,
    codebook_centroid_grad,
    codebook_decode,
    codebook_decode_vjp,
    kmeans_codebook,
)
from refquant.floats.fixed import OVERFLOW_MODES, FixedFormat, fixed_decode, fixed_encode, fixed_quantize
from refquant.floats.mx import (
    MX_CONVENTIONS,
    MX_ELEMENT_FORMATS,
    MX_SCALE_MODES,
    MXQuantized,
    mx_dequantize,
    mx_quantize,
)
from refquant.floats.nf4 import (
    FP4_BNB_TABLE,
    NF4_TABLE,
    DoubleQuantized,
    Quantized4bit,
    bnb_dynamic_map,
    double_dequantize_absmax,
    double_quantize_absmax,
    fp4_bnb_dequantize,
    fp4_bnb_quantize,
    nf4_dequantize,
    nf4_quantize,
    normal_float_table,
)
from refquant.floats.nvfp4 import NVFP4Quantized, nvfp4_dequantize, nvfp4_per_tensor_scale, nvfp4_quantize
from refquant.floats.spec import FLOAT_FORMATS, FloatFormat, float_format

__all__ = [
    "FLOAT_FORMATS",
    "FP4_BNB_TABLE",
    "MX_CONVENTIONS",
    "MX_ELEMENT_FORMATS",
    "MX_SCALE_MODES",
    "NF4_TABLE",
    "OVERFLOW_MODES",
    "CentroidGrad",
    "Codebook",
    "DoubleQuantized",
    "FixedFormat",
    "FloatFormat",
    "MXQuantized",
    "NVFP4Quantized",
    "Quantized4bit",
    "bnb_dynamic_map",
    "cast",
    "codebook_assign",
    "codebook_centroid_grad",
    "codebook_decode",
    "codebook_decode_vjp",
    "decode",
    "double_dequantize_absmax",
    "double_quantize_absmax",
    "encode",
    "fixed_decode",
    "fixed_encode",
    "fixed_quantize",
    "float_format",
    "fp4_bnb_dequantize",
    "fp4_bnb_quantize",
    "kmeans_codebook",
    "mx_dequantize",
    "mx_quantize",
    "nf4_dequantize",
    "nf4_quantize",
    "normal_float_table",
    "nvfp4_dequantize",
    "nvfp4_per_tensor_scale",
    "nvfp4_quantize",
]
