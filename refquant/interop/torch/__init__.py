"""PyTorch's affine quantization ops on CPU (x86-64), bit-identical, in NumPy.

Argument names and order follow ``torch``; arrays in, arrays out; torch is
never imported. What the kernels compute (PyTorch 2.13, read from ATen's
``QuantizedOpKernels.cpp``, fbgemm's ``QuantUtils``, and checked against torch
on millions of tie-dense float32 inputs in ``tests/conformance``):

* All of them compute ``x * inv_scale`` with ``inv_scale = 1.0f / scale``
  rounded to float32 (never ``x / scale``), round half to even
  (``std::nearbyint``, or ``_mm256_cvtps_epi32``), and add the zero point.
* **fake-quant, per tensor** (``_fake_quantize_tensor_helper``): adds the
  zero point *in float32* (``z + nearbyint(x * inv)``), clamps that float
  with ``fmin``/``fmax`` (so ``+inf`` saturates and NaN becomes
  ``quant_min``: ``fmax(NaN, quant_min) = quant_min``), then returns
  ``float((q - z)) * scale``.
* **fake-quant, per channel** (``fake_quant_per_channel_cachemask_cpu``):
  casts ``z + nearbyint(x * inv)`` to int64 *before* clamping. Out-of-range
  casts (``±inf``, NaN, ``|t| >= 2**63``) are undefined behaviour in C++;
  x86-64's ``cvttss2si`` yields ``INT64_MIN``, which clamps to ``quant_min``,
  so ``+inf`` gives ``quant_min`` here but ``quant_max`` per tensor. The
  product ``(q - z) * scale`` is evaluated in double and rounded to float32.
* **quantize, per tensor**, quint8/qint8: the zero point is added *before*
  rounding, with a fused multiply-add:
  ``cvtps_epi32(min(fma(x, inv, z), 2147483520.0f))`` then an integer clamp
  (the shape of fbgemm's ``QuantizeAvx2`` LEGACY branch). NaN gives
  ``quant_max`` (``minps`` returns its second operand).
* **quantize, per tensor**, qint32, and **quantize, per channel**, all
  dtypes: ``nearbyint(x * inv + z)`` with an *unfused* float32 multiply and
  add (two roundings), then a clamp in double. NaN gives 0 for quint8/qint8
  and ``INT32_MIN`` for qint32: the x86-64 result of casting NaN, which C++
  leaves undefined.

The fused/unfused/after-rounding split was established empirically on torch
2.13 (x86-64, AVX512 capability): on ~1.2 million tie-dense inputs each
variant matches its op with zero mismatches and the other variants mismatch
0.05-0.6% of them (``tests/conformance/test_torch_conformance.py``).

So fake-quant and quantize do **not** agree: both ``quantize`` ops round
``x/s + z`` (fused per tensor, unfused per channel) while fake-quant rounds
``x/s`` and adds ``z`` after, so the codes differ at ties when ``z`` is odd
(``x/s = -76.5, z = 77``: code 0 from ``quantize_per_tensor`` and
``quantize_per_channel``, 1 from fake-quant); they also differ on ``±inf``
(per channel) and NaN.

Backward passes and the learnable fake-quantize (ATen ``FakeQuantPerTensorAffine.cpp``,
``FakeQuantPerChannelAffine.cpp`` and ``QuantizedOpKernels.cpp``):


* ``fake_quantize_per_*_affine`` backward: ``grad * mask``, with the mask of
  the forward kernel (the code before clamping lies in ``[quant_min,
  quant_max]``, boundaries included). It is a multiplication, so an infinite
  or NaN ``grad`` where the mask is 0 gives NaN, not 0.
* ``_fake_quantize_learnable_per_tensor_affine``: the forward rounds the
  float zero point half to even and clamps it; the **backward** uses
  ``int(clamp(z + 0.5))`` (truncation: half up for ``z >= -0.5``), so
  ``z = 2.5`` is 2 in the forward and 3 in the backward. The per-channel op
  rounds half to even in both passes. The backward's code is
  ``nearbyint(z + x * inv_scale)``, which the compiler contracts into a
  fused multiply-add on x86 (established empirically: the unfused form
  mismatches torch on 53 of 380,800 tie-dense inputs, the fused none), and
  likewise ``fq(x) - x = (q - z) * s - x`` into ``fma(q - z, s, -x)`` (the
  unfused product mismatches by up to hundreds of ulps of the difference).
  Inside the range ``d scale = g * (fq(x) - x) / s``, outside it
  ``g * (q_bound - z)``; ``d z = -g * s`` outside, 0 inside; each times
  ``grad_factor``; then summed over all elements (per tensor) or all but
  the channel axis (per channel).
* The sums: torch accumulates in float32 (a vectorized cascade sum); refquant
  accumulates in float64 and rounds once, which is at least as accurate. The
  per-element terms are bit-identical; the sums agree within torch's float32
  summation error, ``log2(n) * eps32 * sum|terms|``.

The package's files follow the ops: :mod:`~refquant.interop.torch.fake_quant`
(forward and backward on one code kernel), :mod:`~refquant.interop.torch.learnable`,
:mod:`~refquant.interop.torch.quantize`, :mod:`~refquant.interop.torch.observers`,
:mod:`~refquant.interop.torch.calibration` (the moving-average and histogram
observers) and :mod:`~refquant.interop.torch.prune` (``torch.nn.utils.prune`` masks). This
``__init__`` only hands their names on.
"""

from refquant.interop.torch._checks import QDTYPES
from refquant.interop.torch.calibration import (
    ObserverRange,
    histogram_observer_qparams,
    histogram_observer_range,
    histogram_observer_state,
    moving_average_min_max,
)
from refquant.interop.torch.fake_quant import (
    FakeQuantizeGrads,
    fake_quantize_per_channel_affine,
    fake_quantize_per_channel_affine_vjp,
    fake_quantize_per_tensor_affine,
    fake_quantize_per_tensor_affine_vjp,
)
from refquant.interop.torch.learnable import (
    LearnableFakeQuantizeGrads,
    learnable_fake_quantize_per_channel_affine,
    learnable_fake_quantize_per_channel_affine_vjp,
    learnable_fake_quantize_per_tensor_affine,
    learnable_fake_quantize_per_tensor_affine_vjp,
)
from refquant.interop.torch.observers import calculate_qparams
from refquant.interop.torch.prune import global_unstructured_masks, l1_unstructured_mask, ln_structured_mask
from refquant.interop.torch.quantize import quantize_per_channel, quantize_per_tensor

__all__ = [
    "QDTYPES",
    "FakeQuantizeGrads",
    "LearnableFakeQuantizeGrads",
    "ObserverRange",
    "calculate_qparams",
    "fake_quantize_per_channel_affine",
    "fake_quantize_per_channel_affine_vjp",
    "fake_quantize_per_tensor_affine",
    "fake_quantize_per_tensor_affine_vjp",
    "global_unstructured_masks",
    "histogram_observer_qparams",
    "histogram_observer_range",
    "histogram_observer_state",
    "l1_unstructured_mask",
    "learnable_fake_quantize_per_channel_affine",
    "learnable_fake_quantize_per_channel_affine_vjp",
    "learnable_fake_quantize_per_tensor_affine",
    "learnable_fake_quantize_per_tensor_affine_vjp",
    "ln_structured_mask",
    "moving_average_min_max",
    "quantize_per_channel",
    "quantize_per_tensor",
]
