"""Other systems' quantization semantics, in NumPy, importing none of them.

Each module mirrors one system's op and argument names:

* :mod:`refquant.interop.torch` -- PyTorch 2.x CPU kernels (x86-64): fake-quant
  and its backward, the learnable fake-quant, quantize, observers' qparams,
  ``torch.nn.utils.prune`` masks (a package whose files follow the ops);
* :mod:`refquant.interop.onnx` -- the ONNX operator specification;
  :mod:`refquant.interop.onnx_integer` -- its integer matmuls (MatMulInteger,
  QLinearMatMul, com.microsoft QGemm), with the spec's, ``onnx.reference``'s
  and ONNX Runtime's requantization;
* :mod:`refquant.interop.onnxruntime` and :mod:`refquant.interop.modelopt` --
  their calibrators;
* :mod:`refquant.interop.tflite` -- TFLite's fixed-point arithmetic
  (``QuantizeMultiplier``, ``MultiplyByQuantizedMultiplier``) and its int8
  fully-connected kernels (reference, optimized, XNNPACK);
* :mod:`refquant.interop.tf` -- TensorFlow's FakeQuant ops and gradients;
* :mod:`refquant.interop.tfmot` -- TF-MOT's pruning schedules (float32, eager and graph).
"""
