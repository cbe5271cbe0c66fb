"""TensorFlow's FakeQuant ops and their gradient ops on CPU, bit-identical, in NumPy.

Names and defaults follow ``tf.quantization``; TensorFlow is never imported.
Source: ``tensorflow/core/kernels/fake_quant_ops_functor.h`` and
``fake_quant_ops.cc`` (TF >= 2.4); checked bit for bit against tensorflow-cpu
2.21 in ``tests/conformance``. With ``[qmin, qmax] = [narrow_range,
2**num_bits - 1]``, every step in float32:

1. **Nudge** the range so that 0.0 falls on the grid::

       scale = (max - min) / (qmax - qmin);  inv_scale = (qmax - qmin) / (max - min)  # not 1/scale
       zp = clamp(std::round(qmin - min / scale))  # half away from 0; clamped before rounding
       nudged_min, nudged_max = (qmin - zp) * scale, (qmax - zp) * scale
       quant_zero = floor(-nudged_min * inv_scale + 0.5f)

   A range that excludes 0 is moved to touch it: ``[0.5, 3.5]`` with 2 bits
   becomes ``[0, 3]``.
2. **Forward**: clamp to the nudged range *first*, then
   ``floor((clamped - nudged_min) OP - quant_zero + 0.5f) * scale``. ``OP``
   is ``/ scale`` for ``fake_quant_with_min_max_vars`` and ``* inv_scale``
   for the per-channel and ``_args`` ops, so they can differ by one step at
   a tie.
3. **Gradients**: ``grad * (nudged_min <= x <= nudged_max)`` (both ends
   included) for the inputs; ``min`` gets ``sum(grad * (x < nudged_min))``,
   ``max`` gets ``sum(grad * (x > nudged_max))``. The masks are multiplied
   as 0.0/1.0, so an inf or NaN ``grad`` gives NaN where it is masked out
   and in both sums.

Where it departs from PyTorch's ``fake_quantize_per_tensor_affine``
(:mod:`refquant.interop.torch`):

* TF takes a float range, not ``(scale, zero_point)``, and nudges it; the
  codes are always unsigned, ``[0 or 1, 2**num_bits - 1]``.
* TF clamps the float input before rounding; PyTorch rounds ``x * fl(1/s)``
  and clamps the integer code.
* TF rounds ``floor(t + 0.5f)`` in float32, with
  ``t = (x - nudged_min) / s - quant_zero`` after three roundings. It is not
  the exact ``half_up`` of :mod:`refquant.rounding`: ``0.49999997f + 0.5f``
  rounds to ``1.0f``, so ``t = 0.49999997`` gives 1. PyTorch rounds half to
  even: a tie at -1.5 steps gives -1 in TF and -2 in PyTorch.
* TF's gradient window is the closed nudged range. PyTorch tests the
  rounded code, so it also passes values up to half a step outside it: at
  ``x = nudged_max + s/4`` PyTorch passes ``grad`` to ``x``, while TF sends
  it to ``max``.
* TF has clipping gradients for ``min`` and ``max`` (as in PACT), blind to
  how the grid inside the range depends on them.

NaN and inf (all mirrored):

* A NaN input stays NaN, gets gradient 0 and counts for neither bound;
  ``±inf`` clamp to the nudged bounds and their gradient goes to ``max``/``min``.
* The ``_vars`` ops: ``min == max == 0`` outputs zeros and passes ``grad``
  through (``min``/``max`` gradients 0). ``min == max != 0`` outputs NaN,
  since the scale is 0 and ``quant_zero`` is NaN. ``min > max`` is not
  checked: every non-NaN input then maps to ``nudged_min``. Non-finite
  ``min``/``max`` give NaN, with zero point 0 when ``qmin - min / scale``
  is NaN (x86-64's result for the cast, which C++ leaves undefined). A finite
  range whose float32 width overflows (``[-3e38, 3e38]``) has an infinite
  scale and gives NaN too, as in TF.
  ``fake_quant_with_min_max_args`` rejects ``min >= max`` (and NaN), as TF
  does; infinite ``min``/``max`` give NaN there too, as in TF.
* Arguments are converted to float32 as TF converts NumPy values, with one
  departure: a *finite* value beyond float32's range (``1e39`` in a float64
  array, in ``min`` or ``max``) raises ``ValueError``, where TF silently
  makes it ``±inf``; pass ``np.float32`` infinities to get TF's result.
  ``num_bits`` must be an int in [2, 16] (TF also takes ``8.0``);
  ``narrow_range`` a bool (``np.bool_`` too; TF rejects it, and takes
  ``None`` as False, which refquant rejects).

Two details of how TF runs these kernels on CPU, both mirrored:

* **Subnormals are flushed to zero** (FTZ and DAZ are set,
  ``port::ScopedFlushDenormal``). ``x = -1e-45`` counts as 0, so it gets
  the input gradient when ``nudged_min == 0``. The range
  ``[-1e-45, 1e-45]`` counts as ``min == max == 0``.
* **The min/max gradients are float32 sums in the order of Eigen's
  single-threaded reduction** (x86-64 AVX build, :func:`refquant.interop.tf.kernels.eigen_sum`):
  ``[2**24, 1, 1]``, all below the range, sums to ``2**24``, not
  ``2**24 + 2``. Above about 5 * 10**4 values per tensor or channel, Eigen
  spreads the sum over the intra-op threads; TF's last bits then depend on
  the thread count, and this module stays within float32 rounding of them.
"""

from refquant.interop.tf.fake_quant import (
    FakeQuantGradients,
    fake_quant_with_min_max_args,
    fake_quant_with_min_max_args_vjp,
    fake_quant_with_min_max_vars,
    fake_quant_with_min_max_vars_per_channel,
    fake_quant_with_min_max_vars_per_channel_vjp,
    fake_quant_with_min_max_vars_vjp,
)

__all__ = [
    "FakeQuantGradients",
    "fake_quant_with_min_max_args",
    "fake_quant_with_min_max_args_vjp",
    "fake_quant_with_min_max_vars",
    "fake_quant_with_min_max_vars_per_channel",
    "fake_quant_with_min_max_vars_per_channel_vjp",
    "fake_quant_with_min_max_vars_vjp",
]
