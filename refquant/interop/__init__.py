"""Other systems' quantization semantics, in NumPy, importing none of them.

Each module mirrors one system's op and argument names:

* :mod:`refquant.interop.torch` -- PyTorch 2.x CPU kernels (x86-64);
* :mod:`refquant.interop.onnx` -- the ONNX operator specification.
"""
