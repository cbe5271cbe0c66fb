"""OCP Microscaling (MX) v1.0 block formats: one power-of-two scale per block of elements.

An MX block is ``k`` elements ``P_i`` of an element type and one shared scale
``X`` in ``float8_e8m0fnu`` (``2**E``, ``E`` in [-127, 127], the code 0xFF is
NaN); it stands for the values ``X * P_i`` (OCP MX v1.0, sections 5.1-5.4).
The spec's conversion (section 6.3, the "minimally supported" one):

.. math::

    X = 2^{\\lfloor \\log_2 \\max_i |V_i| \\rfloor - e_{\\max}}, \\qquad
    P_i = \\operatorname{cast}_{\\text{sat}}(V_i / X)

with ``emax`` the exponent of the element type's largest normal value and the
cast round-to-nearest-even, normal values beyond the element's maximum clamped
to it (sign kept). The element types (:data:`MX_ELEMENT_FORMATS`):

=================  ========  ===========  =================================================
element            ``emax``  largest      values
=================  ========  ===========  =================================================
float8_e4m3fn      8         448          OCP FP8 E4M3 (MXFP8)
float8_e5m2        15        57344        OCP FP8 E5M2 (MXFP8); its ±inf are never produced
float6_e2m3fn      2         7.5          MXFP6
float6_e3m2fn      4         28           MXFP6
float4_e2m1fn      2         6            MXFP4
int8               0         127/64       MXINT8: ``k / 64``, ``k`` in [-127, 127]
=================  ========  ===========  =================================================

MXINT8's elements are 8-bit two's complement integers with an implicit scale
``2**-6`` (spec section 5.3.3); the conversion clamps to the symmetric
``[-127, 127]`` as Microsoft's ``microxcaling`` emulator (written by the
spec's authors) does, so ``-2`` (code -128) is never produced, though
:func:`mx_dequantize` accepts it.

Scale modes (``scale_mode``), ``m = amax / 2**floor(log2 amax)`` in [1, 2):

==========  ==================================================  ==============================================
mode        shared exponent ``E``                               which blocks saturate (clip their maximum)
==========  ==================================================  ==============================================
``floor``   ``floor(log2 amax) - emax`` (the spec)              ``m`` above ``max / 2**emax``: e4m3, e5m2,
                                                                e3m2 above 1.75, e2m3 1.875, e2m1 1.5, int8
                                                                127/64
``even``    ``floor(log2 amax') - emax``, ``amax'`` = ``amax``  ``m`` between ``max / 2**emax`` and
            rounded to the element's fraction bits, ties up     ``2 - 2**-(mbits+1)``: e4m3 (1.75, 1.9375),
            (torchao EVEN; "even" is torchao's name)            e5m2, e3m2 (1.75, 1.875), e2m3 (1.875,
                                                                1.9375), e2m1 (1.5, 1.75), int8 (127/64,
                                                                255/128)
``ceil``    ``ceil(log2 amax) - emax``                          none; ``amax / X`` in ``(2**(emax-1),
                                                                2**emax]`` (a binade of precision lost
                                                                unless ``amax`` is a power of two)
``rceil``   ``ceil(log2(amax ⊘ max))``, ``⊘`` the division      none (the quotient's rounding may clip
            rounded in the compute dtype (NVIDIA cuBLAS's       ``amax`` by less than half an ulp)
            UE8M0 recipe, ``cvt.rp.satfinite.ue8m0``)
==========  ==================================================  ==============================================

``E`` is then clamped to [-127, 127] (a block too small for ``2**-127``
rounds towards zero; one too large saturates). Edge cases
(``convention="ocp"``, the default):

* **zero block**: ``E = -127`` (the code 0, ``2**-127``; every mode), elements ±0;
* **NaN or ±inf in a block**: the scale is NaN (the code 0xFF), so the whole
  block dequantizes to NaN (spec section 5.4.1: a NaN scale makes every value
  of the block NaN; ``microxcaling`` also maps inf to a NaN scale). The
  elements of such a block carry no information: they are the cast of
  ``x * 0`` (±0 for finite ``x``; a NaN ``x`` gives NaN in fp8 and the cast's
  NaN value for fp6/fp4, ``∓0``; 0 in int8);
* **partial last block**: when ``n`` is not a multiple of ``block_size`` the
  last block holds the ``n % block_size`` remaining values; its scale comes
  from them alone (as if padded with zeros; nothing is padded).

``convention="torchao"`` reproduces torchao 0.18's ``to_mx`` (``torchao/
prototype/mx_formats/mx_tensor.py``) bit for bit, departures from the spec
included (``tests/conformance/test_mx_conformance.py``):

* **±inf in a block** gives a finite scale, not NaN: the exponent field of inf
  (255) is read as ``2**128``, so ``E = 128 - emax`` (floor, ceil, even) or
  ``E = 127`` (rceil, as ``cvt.rp.satfinite`` does); ±inf saturates to ±max
  and the finite values of the block mostly round to 0;
* **the code 0** (``2**-127``, zero and tiny blocks): floor, ceil and even
  divide by ``2**-126`` (torchao clamps the float32 scale to the smallest
  normal), so the stored scale dequantizes the block's elements to half their
  value; rceil multiplies by 1.0 (its reciprocal table), so they become 0;
* **rceil** takes ``ceil`` of torch's float32 ``log2``, which rounds to ``k``
  for quotients a few ulps above ``2**k``: ``E = k`` there and the block's
  maximum clips to ``max`` (reproduced as the float64 ``log2`` rounded to
  float32, identical to torch 2.13 on CPU on every float32 quotient tested);
* a NaN block's elements: ``x * (1 / inf)`` (floor, ceil, even) or ``x * NaN``
  (rceil, all NaN); torchao's fp6/fp4 casts have no NaN branch and encode a
  NaN as a code computed from its bit pattern (1.5 for the default quiet NaN
  in e2m1), which is not reproduced (refquant gives the cast's value).

torchao has neither int8 elements nor partial blocks nor another axis than the
last, and takes float32 and bfloat16 only; those are refquant's extensions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_choice, normalize_axis, show_values
from refquant.floats._mx_scale import (
    ELEMENTS,
    block_amax,
    block_size_arg,
    scaled_apply,
    shared_exponents,
    times_blocks,
)
from refquant.floats.cast import cast
from refquant.rounding import ROUNDING_MODES, round_unchecked

__all__ = [
    "MX_CONVENTIONS",
    "MX_ELEMENT_FORMATS",
    "MX_SCALE_MODES",
    "MXQuantized",
    "mx_dequantize",
    "mx_quantize",
]

MX_ELEMENT_FORMATS: tuple[str, ...] = tuple(ELEMENTS)
"""The MX element types: ``float8_e4m3fn``, ``float8_e5m2``, ``float6_e2m3fn``, ``float6_e3m2fn``,
``float4_e2m1fn`` and ``int8`` (MXINT8)."""

MX_SCALE_MODES: tuple[str, ...] = ("floor", "ceil", "even", "rceil")
"""The shared-scale rules (module docstring's table): ``floor`` is the spec's."""

MX_CONVENTIONS: tuple[str, ...] = ("ocp", "torchao")
"""Edge-case rules: ``ocp`` (the spec, exact) or ``torchao`` (torchao 0.18's ``to_mx``, bit for bit)."""


class MXQuantized(NamedTuple):
    """MX blocks: ``scales`` (``float8_e8m0fnu`` values, NaN for 0xFF) and ``elements``, both float32."""

    scales: NDArray[np.float32]
    elements: NDArray[np.float32]


def mx_quantize(
    x: ArrayLike,
    elem_format: str,
    *,
    block_size: int = 32,
    axis: int = -1,
    scale_mode: str = "floor",
    rounding: str = "half_even",
    rng: np.random.Generator | None = None,
    convention: str = "ocp",
) -> MXQuantized:
    """OCP MX quantization: ``X = 2**E`` per block of ``axis``, ``P = cast_sat(x / X)``.

    Parameters
    ----------
    x : array_like of float, at least 1-d
        float32 (and float16, exactly as float32) is computed in float32;
        float64 and integers in float64, so a float64 value is rounded once,
        onto the element grid (never through float32). With
        ``convention="torchao"``, float64 is first rounded to float32, as
        ``torch.from_numpy(x).float()`` does.
    elem_format : str
        One of :data:`MX_ELEMENT_FORMATS`.
    block_size : int
        Elements per block, ``>= 1`` (the spec's ``k`` is 32; torchao also
        takes 16). Blocks run along ``axis``; the last may be partial.
    axis : int
        The axis the blocks run along (torchao: the last).
    scale_mode : str
        One of :data:`MX_SCALE_MODES` (module docstring): ``"floor"`` is the spec.
    rounding : str
        The elements' rounding, one of :data:`refquant.rounding.ROUNDING_MODES`
        (the spec requires ``"half_even"``, which torchao uses; the spec
        allows others, e.g. ``"stochastic"`` for gradients).
    rng : numpy.random.Generator, optional
        Required for ``rounding="stochastic"``: one draw per element of ``x``, in C order.
    convention : str
        ``"ocp"`` (default) or ``"torchao"``: the edge cases of the module docstring.

    Returns
    -------
    MXQuantized
        ``scales``: float32, ``x``'s shape with ``axis`` of length
        ``ceil(n / block_size)``: powers of two ``2**E``, ``E`` in [-127, 127],
        or NaN (the code 0xFF). ``elements``: float32, ``x``'s shape, values
        on ``elem_format``'s grid (fp8/fp6/fp4 with saturation; int8: ``k /
        64``). Codes: ``encode(scales, "float8_e8m0fnu")`` and ``encode(
        elements, elem_format)`` (int8: ``elements * 64``).

    Notes
    -----
    .. math::

        E_b = \\operatorname{clamp}\\big(\\lfloor \\log_2 \\max_{i \\in b} |x_i| \\rfloor
              - e_{\\max}, -127, 127\\big), \\qquad
        P_i = \\operatorname{cast}_{\\text{sat}}(x_i \\cdot 2^{-E_b})

    ``x * 2**-E`` is exact (a power of two; for float32 inputs it is taken in
    float64 under the directed and stochastic roundings, where a float32
    underflow to 0 would change the result), so each element is rounded
    once. Exponents come from ``frexp``, exactly. NaN: see the module
    docstring; inputs are never modified; same inputs, same outputs.

    Sources: OCP Microscaling Formats (MX) v1.0 specification, sections 5 and
    6.3; Rouhani et al. 2023, "Microscaling Data Formats for Deep Learning"
    (arXiv 2310.10537), Algorithm 1; torchao 0.18 ``to_mx`` and
    ``ScaleCalculationMode`` for ``ceil``, ``even``, ``rceil``; NVIDIA cuBLAS
    documentation, "Computing scaling and conversion factors for FP8 with
    UE8M0 scales", for ``rceil``.

    Examples
    --------
    >>> s, p = mx_quantize([1.0, -3.0, 0.3, 7.0], "float4_e2m1fn", block_size=4)
    >>> s.tolist(), p.tolist()
    ([1.0], [1.0, -3.0, 0.5, 6.0])
    >>> s, p = mx_quantize([1.0, -3.0, 0.3, 7.0], "float4_e2m1fn", block_size=4, scale_mode="ceil")
    >>> s.tolist(), p.tolist()
    ([2.0], [0.5, -1.5, 0.0, 4.0])

    ``7.0`` clips to 6 under the spec's ``floor`` (``m = 1.75 > 1.5``); ``ceil``
    never clips, but rounds ``0.3`` to 0 and 7 to ``4 * 2``. A NaN makes its
    block's scale NaN:

    >>> mx_quantize([[1.0, 2.0, 0.0, float("nan")]], "float8_e4m3fn", block_size=2).scales.tolist()
    [[0.0078125, nan]]
    """
    spec, xa, ax, bs = _prepare(x, elem_format, block_size, axis, scale_mode, rounding, rng, convention)
    xm = np.moveaxis(xa, ax, -1)
    amax = block_amax(xm, bs)
    e, nan, mult = shared_exponents(amax, spec, scale_mode, convention)
    if rounding in ("floor", "ceil", "stochastic"):  # a float32 product may underflow to 0: scale in float64
        mult = mult.astype(np.float64)
    scales = np.where(nan, np.float32(np.nan), np.ldexp(np.float32(1.0), e.astype(np.int32)))
    elements = scaled_apply(xa, ax, bs, mult, lambda v: _elements(v, spec.name, rounding, rng))
    return MXQuantized(np.moveaxis(scales.astype(np.float32), -1, ax).copy(), elements)


def _elements(
    v: NDArray[Any], name: str, rounding: str, rng: np.random.Generator | None
) -> NDArray[np.float32]:
    """The elements of the scaled values ``v`` (C order: a stochastic rounding draws in it)."""
    if name == "int8":
        return _int8_elements(v, rounding, rng)
    return cast(v, name, saturate=True, rounding=rounding, rng=rng).astype(np.float32, copy=False)


def _prepare(
    x: Any,
    elem_format: Any,
    block_size: Any,
    axis: Any,
    scale_mode: Any,
    rounding: Any,
    rng: Any,
    convention: Any,
) -> tuple[Any, NDArray[Any], int, int]:
    check_choice("elem_format", elem_format, MX_ELEMENT_FORMATS)
    check_choice("scale_mode", scale_mode, MX_SCALE_MODES)
    check_choice("rounding", rounding, ROUNDING_MODES)
    check_choice("convention", convention, MX_CONVENTIONS)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be None or a numpy.random.Generator, got {rng!r}")
    if rounding == "stochastic" and rng is None:
        raise TypeError("rng must be a numpy.random.Generator for rounding='stochastic', got None")
    bs = block_size_arg(block_size)
    xa = as_float_array("x", x)
    if xa.dtype == np.float16 or (convention == "torchao" and xa.dtype == np.float64):
        with np.errstate(over="ignore"):
            xa = xa.astype(np.float32)
    elif xa.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float16, float32 or float64 (or integer), got dtype {xa.dtype}")
    if xa.ndim == 0:
        raise ValueError(
            f"x must have at least one dimension (the blocks run along axis), got {show_values(xa)}"
        )
    ax = normalize_axis("axis", axis, xa.ndim)
    return ELEMENTS[elem_format], xa, ax, bs


def _int8_elements(v: NDArray[Any], rounding: str, rng: np.random.Generator | None) -> NDArray[np.float32]:
    """MXINT8 elements ``clip(R(64 v), -127, 127) / 64``; NaN gives 0, ±inf saturates, no -0."""
    with np.errstate(invalid="ignore", over="ignore"):
        k = round_unchecked(v * v.dtype.type(64), rounding, rng)
        k = np.clip(k, -127, 127)
    k = np.where(np.isnan(k), 0.0, k) + 0.0
    return (k / 64).astype(np.float32)


def mx_dequantize(
    scales: ArrayLike,
    elements: ArrayLike,
    *,
    block_size: int = 32,
    axis: int = -1,
) -> NDArray[np.floating[Any]]:
    """MX values ``y = elements * X`` with ``X`` the scale of each element's block.

    Parameters
    ----------
    scales : array_like of float
        ``float8_e8m0fnu`` values: ``2**E`` with integer ``E`` in [-127, 127],
        or NaN (the code 0xFF); ``elements``' shape with ``axis`` of length
        ``ceil(n / block_size)``. Anything else raises ``ValueError``.
    elements : array_like of float, at least 1-d
        The elements (any values: they are not checked against a grid).
    block_size, axis : int
        As :func:`mx_quantize`.

    Returns
    -------
    ndarray
        ``elements``' shape; float32 when both inputs are float32 (or
        float16), float64 otherwise. A NaN scale makes its whole block NaN
        (spec section 5.4.1), whatever the elements.

    Notes
    -----
    .. math:: y_i = P_i \\cdot X_{b(i)}

    The product is exact for elements with at most 24 significant bits (all
    MX element types) unless it leaves the output dtype's range: a finite
    product beyond it raises ``ValueError`` (e.g. elements saturated under a
    scale clamped at ``2**127``, from float64 inputs beyond float32's range:
    pass float64 arrays). ±inf elements give ±inf (NaN with a NaN scale).
    Source: OCP MX v1.0, section 5.1 (``v_i = X * P_i``).

    Examples
    --------
    >>> mx_dequantize([1.0], [1.0, -3.0, 0.5, 6.0], block_size=4).tolist()
    [1.0, -3.0, 0.5, 6.0]
    >>> mx_dequantize([[0.25, float("nan")]], [[4.0, 1.0, 0.0, 0.0]], block_size=2).tolist()
    [[1.0, 0.25, nan, nan]]
    """
    bs = block_size_arg(block_size)
    p = as_float_array("elements", elements)
    s = as_float_array("scales", scales)
    if p.ndim == 0:
        raise ValueError(f"elements must have at least one dimension, got {show_values(p)}")
    ax = normalize_axis("axis", axis, p.ndim)
    want = (*p.shape[:ax], -(-p.shape[ax] // bs), *p.shape[ax + 1 :])
    if s.shape != want:
        raise ValueError(
            f"scales must have shape {want} for elements of shape {p.shape} with block_size={bs}, "
            f"axis={axis}; got shape {s.shape} ({show_values(s)})"
        )
    _check_e8m0("scales", s)
    dt = np.result_type(p.dtype, s.dtype, np.float32)
    pm = np.moveaxis(p.astype(dt, copy=False), ax, -1)
    sm = np.moveaxis(s.astype(dt, copy=False), ax, -1)
    with np.errstate(over="ignore", invalid="ignore"):
        out = times_blocks(pm, sm, bs)
    big = np.isinf(out) & np.isfinite(pm)  # the scales are finite or NaN: inf is an overflow
    if np.any(big):
        raise ValueError(
            f"elements * scales overflows {dt} for elements {show_values(pm[big])}: "
            "pass float64 scales or elements for values beyond float32's range"
        )
    return np.ascontiguousarray(np.moveaxis(out, -1, ax))


def _check_e8m0(name: str, s: NDArray[Any]) -> None:
    """Every value must be NaN or ``2**E`` with integer ``E`` in [-127, 127]."""
    s64 = s.astype(np.float64)
    with np.errstate(invalid="ignore"):
        m, ex = np.frexp(np.where(np.isfinite(s64), s64, 0.0))
        ok = np.isnan(s64) | ((m == 0.5) & (ex - 1 >= -127) & (ex - 1 <= 127))
    if not np.all(ok):
        raise ValueError(
            f"{name} must be float8_e8m0fnu values (2**E, E an integer in [-127, 127], or NaN), "
            f"got {show_values(s[~ok])}"
        )
