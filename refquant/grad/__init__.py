"""Gradients of quantization: the surrogate gradients that make rounding trainable.

Each forward sits beside its ``_vjp`` in the same module:

* :mod:`refquant.grad.ste` -- the straight-through family: the identity STE,
  the clipped STE in float and on the integer code (Bengio et al. 2013;
  PyTorch's fake-quant backward);
* :mod:`refquant.grad.lsq` -- LSQ (Esser et al. 2020) per tensor and per
  channel, and LSQ+ (Bhalgat et al. 2020);
* :mod:`refquant.grad.pact_dorefa` -- PACT (Choi et al. 2018) and DoReFa
  (Zhou et al. 2016);
* :mod:`refquant.grad.normalize` -- the seed document's min-max normalization
  ``Quantizer``, with its exact gradient (the errata page says what it got wrong).

This floor builds on the core (:mod:`refquant.quantize`, :mod:`refquant.rounding`)
and knows no network.
"""

from refquant.grad.lsq import (
    LSQGrads,
    LSQPlusGrads,
    lsq_fake_quantize,
    lsq_fake_quantize_vjp,
    lsq_grad_scale,
    lsq_plus_fake_quantize_vjp,
)
from refquant.grad.normalize import MinMaxNormalizeGrad, minmax_normalize, minmax_normalize_vjp
from refquant.grad.pact_dorefa import (
    PACTGrads,
    dorefa_activation,
    dorefa_activation_vjp,
    dorefa_weight,
    dorefa_weight_vjp,
    pact,
    pact_vjp,
    quantize_k,
)
from refquant.grad.ste import clipped_ste_vjp, fake_quantize_vjp, ste_vjp

__all__ = [
    "LSQGrads",
    "LSQPlusGrads",
    "MinMaxNormalizeGrad",
    "PACTGrads",
    "clipped_ste_vjp",
    "dorefa_activation",
    "dorefa_activation_vjp",
    "dorefa_weight",
    "dorefa_weight_vjp",
    "fake_quantize_vjp",
    "lsq_fake_quantize",
    "lsq_fake_quantize_vjp",
    "lsq_grad_scale",
    "lsq_plus_fake_quantize_vjp",
    "minmax_normalize",
    "minmax_normalize_vjp",
    "pact",
    "pact_vjp",
    "quantize_k",
    "ste_vjp",
]
