"""NVFP4: blocks of 16 fp4 (e2m1) elements, float8_e4m3fn block scales and a float32 per-tensor scale.

NVIDIA's two-level recipe (Blackwell NVFP4; torchao 0.18's ``nvfp4_quantize``
and ``per_tensor_amax_to_scale`` in ``torchao/prototype/mx_formats/
nvfp4_tensor.py``, which follow the MSLK Triton kernel's numerics), all in
float32, each operation rounded to nearest even:

.. math::

    g = \\frac{\\max |x|}{6 \\cdot 448}, \\qquad
    s_b = \\operatorname{e4m3}\\Big(\\operatorname{clamp}\\big(\\tfrac{\\max_{i \\in b}|x_i| / 6}{g},
          2^{-6}, 448\\big)\\Big), \\qquad
    P_i = \\operatorname{e2m1}\\Big(\\operatorname{clamp}\\big(x_i \\cdot \\tfrac{1/g}{s_b}, -6, 6\\big)\\Big)

and ``x̂_i = P_i * (g * s_b)``. The per-tensor scale ``g`` maps the tensor's
largest block scale to e4m3's maximum 448, so that the block scales use
e4m3's whole range. Operation order, as torchao: ``(amax_b / 6) / g``, then
the reciprocal ``(1 / g) / s_b`` and one product ``x * r`` (not a division
by ``g * s_b``): the element is rounded twice (the product in float32, then
to e2m1), which is the recipe. The block scales are clamped below at
``2**-6``, e4m3's smallest *normal* (``torch.finfo(float8_e4m3fn).tiny``),
so they never use e4m3's subnormals or 0: a block whose scale would
underflow gets ``2**-6``, and its elements round towards 0.

Edge cases, all defined:

* **the per-tensor scale** (``per_tensor_scale=None``): :func:`nvfp4_per_tensor_scale`
  of the largest *finite* ``|x|``: NaN and ±inf are left out so that they
  stay local to their blocks. It is floored at ``2**-121``, the smallest power
  of two whose reciprocal divided by ``2**-6`` is finite in float32; below it
  the recipe's ``1 / g / s_b`` overflows and ``0 * inf`` makes the zeros NaN
  (torchao's arithmetic, given such a ``g``). An all-zero tensor so gets
  ``g = 2**-121``, block scales ``2**-6`` and zero elements;
* **zero block**: scale ``2**-6``, elements ±0 (the sign of ``x``);
* **±inf in a block**: its scale is 448 (``inf`` clamps), ±inf saturates to
  ±6 and dequantizes to ``±6 * 448 * g``; the other elements keep their values
  on that scale (as torchao);
* **NaN in a block**: its scale is NaN (e4m3fn's NaN) and the whole block
  dequantizes to NaN; its elements are the e2m1 cast of NaN, ``∓0`` (torchao's
  fp4 cast has no NaN branch and writes a code computed from the NaN's bits,
  1.5 for the default quiet NaN; not reproduced).

float64 inputs are rounded to float32 first (the recipe's arithmetic is
float32, and so is the stored per-tensor scale); finite values beyond
float32's range raise ``ValueError``. Any ``block_size >= 1`` and any axis
are accepted (the format and torchao: 16, the last axis; a partial last block
is allowed here, as in :mod:`refquant.floats.mx`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis, show_values
from refquant.floats._mx_scale import block_amax, block_size_arg, scaled_apply, times_blocks
from refquant.floats.cast import cast
from refquant.rounding import ROUNDING_MODES

__all__ = ["NVFP4Quantized", "nvfp4_dequantize", "nvfp4_per_tensor_scale", "nvfp4_quantize"]

_F4_MAX = np.float32(6.0)
_E4M3_MAX = np.float32(448.0)
_E4M3_TINY = np.float32(2.0**-6)
_MIN_GLOBAL = np.float32(2.0**-121)


class NVFP4Quantized(NamedTuple):
    """NVFP4 data: ``per_tensor_scale`` (0-d float32), ``block_scales`` (e4m3fn values) and
    ``elements`` (e2m1 values), all float32."""

    per_tensor_scale: NDArray[np.float32]
    block_scales: NDArray[np.float32]
    elements: NDArray[np.float32]


def nvfp4_per_tensor_scale(amax: ArrayLike) -> NDArray[np.float32]:
    """NVFP4's per-tensor scale ``g = max(amax / (6 * 448), 2**-121)``, in float32.

    Parameters
    ----------
    amax : float or 0-d array_like
        The tensor's absolute maximum (e.g. calibrated), finite and ``>= 0``;
        rounded to float32 first.

    Returns
    -------
    ndarray, 0-d float32
        ``fl32(amax / 2688)``, floored at ``2**-121`` (module docstring).

    Notes
    -----
    .. math:: g = \\max\\big(\\operatorname{fl}_{32}(a / 2688), 2^{-121}\\big)

    Source: torchao 0.18 ``per_tensor_amax_to_scale`` (``amax.to(float32) /
    (F8E4M3_MAX * F4_E2M1_MAX)``), which it equals for ``amax >= 2688 *
    2**-121`` (about 1.0e-33); the floor is refquant's.

    Examples
    --------
    >>> float(nvfp4_per_tensor_scale(2688.0)), float(nvfp4_per_tensor_scale(0.0)) == 2.0**-121
    (1.0, True)
    """
    a = as_float_array("amax", amax)
    if a.ndim != 0:
        raise ValueError(f"amax must be one value (0-d), got shape {a.shape} ({show_values(a)})")
    with np.errstate(over="ignore"):
        a32 = a.astype(np.float32)
    if not (np.isfinite(a32) and a32 >= 0):
        raise ValueError(f"amax must be finite and >= 0 (in float32), got {show_values(a)}")
    return np.maximum(a32 / np.float32(2688.0), _MIN_GLOBAL).reshape(())


def nvfp4_quantize(
    x: ArrayLike,
    *,
    block_size: int = 16,
    axis: int = -1,
    per_tensor_scale: ArrayLike | None = None,
    rounding: str = "half_even",
    rng: np.random.Generator | None = None,
) -> NVFP4Quantized:
    """NVFP4 quantization: ``s_b = e4m3(amax_b / 6 / g)``, ``P = e2m1(x * ((1/g) / s_b))``.

    Parameters
    ----------
    x : array_like of float, at least 1-d
        Computed in float32 (float64 is rounded to float32 first; finite
        values beyond float32 raise ``ValueError``).
    block_size : int
        Elements per block, ``>= 1``; NVFP4 is 16. The last block may be partial.
    axis : int
        The axis the blocks run along (NVFP4 and torchao: the last).
    per_tensor_scale : float or 0-d array_like, optional
        ``g``, e.g. ``nvfp4_per_tensor_scale(calibrated_amax)``; rounded to
        float32, it must be finite and ``>= 2**-121``. ``None``:
        :func:`nvfp4_per_tensor_scale` of the largest finite ``|x|``. torchao's
        single-level scaling (its ``per_tensor_scale=None``) is ``g = 1.0``.
    rounding : str
        The elements' rounding (:data:`refquant.rounding.ROUNDING_MODES`);
        ``"half_even"`` is the recipe's; ``"stochastic"`` is NVIDIA's choice
        for gradients in NVFP4 training. The block scales always round half-even.
    rng : numpy.random.Generator, optional
        Required for ``rounding="stochastic"``: one draw per element of ``x``, in C order.

    Returns
    -------
    NVFP4Quantized
        ``per_tensor_scale``: 0-d float32; ``block_scales``: float32
        float8_e4m3fn values in ``[2**-6, 448]`` (NaN for a NaN block),
        ``x``'s shape with ``axis`` of length ``ceil(n / block_size)``;
        ``elements``: float32 float4_e2m1fn values, ``x``'s shape.

    Notes
    -----
    The formula and the edge cases are in the module docstring; inputs are
    never modified and the same inputs give the same outputs. Source:
    torchao 0.18 ``torchao.prototype.mx_formats.nvfp4_tensor.nvfp4_quantize``
    (bit for bit, ``tests/conformance/test_mx_conformance.py``); NVIDIA,
    "Introducing NVFP4 for efficient and accurate low-precision inference"
    (2025) for the format.

    Examples
    --------
    >>> q = nvfp4_quantize([[0.5, -1.0, 3.0, 12.0]], block_size=4)
    >>> bool(q.per_tensor_scale == np.float32(12) / 2688), q.block_scales.tolist(), q.elements.tolist()
    (True, [[448.0]], [[0.0, -0.5, 1.5, 6.0]])
    >>> q = nvfp4_quantize([[0.5, -1.0, 3.0, 12.0]], block_size=4, per_tensor_scale=1.0)
    >>> q.block_scales.tolist(), q.elements.tolist()
    ([[2.0]], [[0.0, -0.5, 1.5, 6.0]])
    """
    check_choice("rounding", rounding, ROUNDING_MODES)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if rounding == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for rounding='stochastic', got None")
    bs = block_size_arg(block_size)
    xa = _as_float32("x", x)
    if xa.ndim == 0:
        raise ValueError(
            f"x must have at least one dimension (the blocks run along axis), got {show_values(xa)}"
        )
    ax = normalize_axis("axis", axis, xa.ndim)
    xm = np.moveaxis(xa, ax, -1)
    amax = block_amax(xm, bs)
    if per_tensor_scale is None:
        if np.isfinite(amax).all():  # the largest finite |x| is the largest block maximum
            top = np.max(amax, initial=np.float32(0))
        else:
            top = np.max(np.abs(xa), where=np.isfinite(xa), initial=np.float32(0))
        g = nvfp4_per_tensor_scale(top)
    else:
        g = _global_scale(per_tensor_scale, minimum=_MIN_GLOBAL)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        raw = (amax / _F4_MAX) / g
        scales = cast(np.clip(raw, _E4M3_TINY, _E4M3_MAX), "float8_e4m3fn", saturate=True)
        recip = (np.float32(1.0) / g) / scales

    def fp4(v: NDArray[np.float32]) -> NDArray[np.float32]:
        np.clip(v, -_F4_MAX, _F4_MAX, out=v)
        return cast(v, "float4_e2m1fn", saturate=True, rounding=rounding, rng=rng)

    elements = scaled_apply(xa, ax, bs, recip, fp4)
    return NVFP4Quantized(g, np.ascontiguousarray(np.moveaxis(scales, -1, ax)), elements)


def nvfp4_dequantize(
    per_tensor_scale: ArrayLike,
    block_scales: ArrayLike,
    elements: ArrayLike,
    *,
    block_size: int = 16,
    axis: int = -1,
) -> NDArray[np.float32]:
    """NVFP4 values ``y = elements * fl32(per_tensor_scale * block_scale)``, in float32.

    Parameters
    ----------
    per_tensor_scale : float or 0-d array_like
        ``g``, finite and ``> 0`` once rounded to float32.
    block_scales : array_like of float
        NaN or finite values ``>= 0`` (e4m3fn values; the grid is not
        checked); ``elements``' shape with ``axis`` of length
        ``ceil(n / block_size)``.
    elements : array_like of float, at least 1-d
        The elements (e2m1 values; any values are multiplied).
    block_size, axis : int
        As :func:`nvfp4_quantize`.

    Returns
    -------
    ndarray of float32
        ``elements``' shape. A NaN block scale makes its block NaN; a
        product beyond float32's range (``g * s_b``, or a finite element
        times it) raises ``ValueError``.

    Notes
    -----
    .. math:: y_i = P_i \\cdot \\operatorname{fl}_{32}(g \\cdot s_{b(i)})

    All inputs are rounded to float32 and both products are float32, as
    torchao 0.18's ``NVFP4Tensor.dequantize`` (``get_hp_scales`` then one
    product).

    Examples
    --------
    >>> g = 12 / 2688
    >>> y = nvfp4_dequantize(g, [[448.0]], [[0.0, -0.5, 1.5, 6.0]], block_size=4)
    >>> y.dtype.name, [round(v, 4) for v in y.ravel().tolist()]
    ('float32', [0.0, -1.0, 3.0, 12.0])
    """
    bs = block_size_arg(block_size)
    g = _global_scale(per_tensor_scale, minimum=None)
    p = _as_float32("elements", elements)
    s = _as_float32("block_scales", block_scales)
    if p.ndim == 0:
        raise ValueError(f"elements must have at least one dimension, got {show_values(p)}")
    ax = normalize_axis("axis", axis, p.ndim)
    want = (*p.shape[:ax], -(-p.shape[ax] // bs), *p.shape[ax + 1 :])
    if s.shape != want:
        raise ValueError(
            f"block_scales must have shape {want} for elements of shape {p.shape} with block_size={bs}, "
            f"axis={axis}; got shape {s.shape} ({show_values(s)})"
        )
    bad = ~(np.isnan(s) | (np.isfinite(s) & (s >= 0)))
    if np.any(bad):
        raise ValueError(f"block_scales must be NaN or finite and >= 0, got {show_values(s[bad])}")
    with np.errstate(over="ignore", invalid="ignore"):
        hp = g * np.moveaxis(s, ax, -1)
        pm = np.moveaxis(p, ax, -1)
        out = times_blocks(pm, hp, bs)
    over = np.isinf(hp)  # the block scales are finite or NaN: inf is an overflow
    if np.any(over):
        raise ValueError(
            f"per_tensor_scale * block_scales overflows float32: per_tensor_scale={show_values(g)}, "
            f"block_scales {show_values(np.moveaxis(s, ax, -1)[over])}"
        )
    big = np.isinf(out) & np.isfinite(pm)
    if np.any(big):
        raise ValueError(
            f"elements * (per_tensor_scale * block_scales) overflows float32 for elements "
            f"{show_values(pm[big])} (per_tensor_scale={show_values(g)}, block_scales "
            f"{show_values(np.moveaxis(s, ax, -1)[_blocks_of(big, bs)])})"
        )
    return np.ascontiguousarray(np.moveaxis(out, -1, ax))


def _blocks_of(mask: NDArray[np.bool_], bs: int) -> NDArray[np.bool_]:
    """The blocks (along the last axis) holding a True of ``mask``."""
    n = mask.shape[-1]
    return np.logical_or.reduceat(mask, np.arange(0, n, bs), axis=-1)


def _as_float32(name: str, value: ArrayLike) -> NDArray[np.float32]:
    """``value`` rounded to float32; finite values beyond float32's range raise ``ValueError``."""
    a = as_float_array(name, value)
    with np.errstate(over="ignore"):
        a32 = a.astype(np.float32, copy=False)
    big = np.isinf(a32) & np.isfinite(a)
    if np.any(big):
        raise ValueError(
            f"{name} must fit in float32 (NVFP4 is computed in float32), got {show_values(a[big])}"
        )
    return a32


def _global_scale(value: ArrayLike, minimum: np.float32 | None) -> NDArray[np.float32]:
    """The per-tensor scale as a 0-d float32: finite, > 0 (and >= ``minimum`` when given)."""
    a = as_float_array("per_tensor_scale", value)
    if a.ndim != 0:
        raise ValueError(f"per_tensor_scale must be one value (0-d), got shape {a.shape} ({show_values(a)})")
    with np.errstate(over="ignore"):
        g = a.astype(np.float32)
    low = minimum if minimum is not None else np.float32(0)
    if not (np.isfinite(g) and g > 0 and g >= low):
        need = (
            f">= 2**-121 ({float(low):.4g}: 1 / (g * 2**-6) must be finite in float32)" if minimum else "> 0"
        )
        raise ValueError(f"per_tensor_scale must be finite and {need} in float32, got {show_values(a)}")
    return g
