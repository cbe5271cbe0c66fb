"""Other systems' quantization semantics, in NumPy, importing none of them.

Each module mirrors one system's op and argument names:

* :mod:`refquant.interop.torch` -- PyTorch 2.x CPU kernels (x86-64): fake-quant,
  quantize, observers' qparams, their gradients and the learnable fake-quant
  (:mod:`refquant.interop.torch_grad`), ``torch.nn.utils.prune`` masks
  (:mod:`refquant.interop.torch_prune`);
* :mod:`refquant.interop.onnx` -- the ONNX operator specification;
* :mod:`refquant.interop.tf` -- TensorFlow's FakeQuant ops and gradients;
* :mod:`refquant.interop.tfmot` -- TF-MOT's pruning schedules (float32, eager and graph).
"""
