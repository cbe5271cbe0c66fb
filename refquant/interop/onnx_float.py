"""ONNX low-precision float types: Cast, and the float paths of Quantize/DequantizeLinear.

ONNX type names (``"float8e4m3fn"``, ...) map to the formats of
:data:`refquant.floats.FLOAT_FORMATS` (:data:`ONNX_FLOAT_FORMATS`). Values of
these types are exchanged as their **codes** (bit patterns, one per uint8, in
the low bits for float4/float6, as :func:`refquant.floats.encode` writes them);
``onnx`` and ``ml_dtypes`` are never imported, but ml_dtypes arrays
(``numpy_helper.to_array``'s result) are recognised by their dtype name and
read as codes (``a.view(np.uint8)``).

Semantic choices:

* ``saturate=True`` (the ONNX default) follows the Cast tables: ``|[x]| >
  max`` and ``±inf`` give ``±max``, NaN stays NaN; ``saturate=False`` gives
  ml_dtypes' ``astype`` (e4m3fn: NaN; e5m2: ±inf; fnuz: the NaN code 0x80).
  float4/float6 always saturate (they have no inf or NaN; NaN gives a zero of
  the opposite sign, as ml_dtypes and ``onnx.reference`` do).
* rounding is round-half-to-even, once, from float32 or float64 (no double
  rounding); float8e8m0's ``round_mode`` ``"up"``/``"down"``/``"nearest"`` is
  refquant's ``"ceil"``/``"floor"``/``"half_even"`` (ties of e8m0 round up).
* a float zero point must be 0 (``±0``): the spec says it is "usually not
  used". For float8 it is not added (ORT and ``onnx.reference``: ``x / s =
  -0`` gives ``-0``, the Cast table's rule); for float4/float6 it is added
  in the compute dtype, as ``onnx.reference`` does (``-0 + 0 = +0``).
* float8e8m0 with ``saturate=True``: ``+inf`` and ``x > 2**127`` give
  ``2**127`` (code 254) in every ``round_mode``, 0 and ``0 < x < 2**-127``
  give ``2**-127`` (code 0); with ``saturate=False``, 0, overflow and inf give
  NaN (code 255), as the spec's table and ml_dtypes do. Negative inputs
  (unspecified in the spec) give code 0 saturating, NaN otherwise.

Departures of ``onnx.reference`` (onnx 1.23, ``numpy_helper.to_float8e8m0``)
from the spec, asserted in ``tests/conformance/test_onnx_float_conformance.py``:
``+inf`` gives NaN (255) even with ``saturate=True``; float32 subnormal
inputs are rounded on the exponent field only (``2**-149`` "up" gives code 1,
``2**-126``, not the ceiling ``2**-127``; ``1.25 * 2**-127`` "nearest" gives
code 1); 0 with ``saturate=False`` gives code 0, not the table's NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import as_float_array, check_bool, check_choice, show_values
from refquant.floats.cast import cast as _cast_values
from refquant.floats.cast import decode, encode

__all__ = ["CAST_TYPES", "ONNX_FLOAT_FORMATS", "cast"]

ONNX_FLOAT_FORMATS: dict[str, str] = {
    "float8e4m3fn": "float8_e4m3fn",
    "float8e4m3fnuz": "float8_e4m3fnuz",
    "float8e5m2": "float8_e5m2",
    "float8e5m2fnuz": "float8_e5m2fnuz",
    "float4e2m1": "float4_e2m1fn",
    "float6e2m3": "float6_e2m3fn",
    "float6e3m2": "float6_e3m2fn",
    "float8e8m0": "float8_e8m0fnu",
}
"""ONNX low-precision float type name -> refquant (ml_dtypes) format name."""
QUANT_FLOAT_TYPES = tuple(k for k in ONNX_FLOAT_FORMATS if k != "float8e8m0")
STANDARD_TYPES = ("float16", "bfloat16", "float32", "float64")
CAST_TYPES = (*ONNX_FLOAT_FORMATS, *STANDARD_TYPES)
"""Type names :func:`cast` accepts for ``to`` (and ``x_type``)."""
ROUND_MODES = {"up": "ceil", "down": "floor", "nearest": "half_even"}
_ML_NAMES = {v: k for k, v in ONNX_FLOAT_FORMATS.items()}


def onnx_type_of(dtype: Any) -> str | None:
    """The ONNX type name of an ml_dtypes float dtype (``float8_e4m3fn`` -> ``float8e4m3fn``), else None."""
    if isinstance(dtype, np.dtype) and dtype.kind in "Vf" and dtype.name in (*_ML_NAMES, "bfloat16"):
        return _ML_NAMES.get(dtype.name, dtype.name)  # some ml_dtypes float8 dtypes have kind "f"
    return None


def float_type(zero_point: Any, output_dtype: Any) -> str | None:
    """The float output type named by ``output_dtype`` or by an ml_dtypes zero point, else None."""
    ztype = onnx_type_of(getattr(zero_point, "dtype", None))
    if isinstance(output_dtype, str) and output_dtype in QUANT_FLOAT_TYPES:
        if ztype is not None and ztype != output_dtype:
            raise ValueError(f"output_dtype={output_dtype!r} does not match y_zero_point's type {ztype}")
        return output_dtype
    if output_dtype is None and ztype in QUANT_FLOAT_TYPES:
        return ztype
    return None


def check_type(name: str, value: Any, choices: tuple[str, ...]) -> str | None:
    """None, or a type name among ``choices``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a type name (str), got {value!r}")
    check_choice(name, value, choices)
    return value


def codes_of(name: str, value: Any, type_name: str | None) -> tuple[NDArray[np.uint8], str]:
    """``value`` as uint8 codes and its ONNX float type (an ml_dtypes array, or codes with ``type_name``)."""
    arr = np.asarray(value)
    own = onnx_type_of(arr.dtype)
    if own is not None and own != "bfloat16":
        if type_name is not None and type_name != own:
            raise ValueError(f"{name} has type {own}, which does not match {type_name!r}")
        return arr.view(np.uint8), own
    if type_name is None:
        raise TypeError(
            f"{name} must be an ml_dtypes float8/float4 array or codes with a type, got {arr.dtype}"
        )
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold {type_name} codes (x_type={type_name!r}), integers, got dtype {arr.dtype}"
        )
    bits = 4 if type_name == "float4e2m1" else 6 if type_name.startswith("float6") else 8
    if arr.size and (arr.min() < 0 or arr.max() >= 2**bits):
        bad = arr[(arr < 0) | (arr >= 2**bits)]
        raise ValueError(f"{name} must hold {type_name} codes in [0, {2**bits}), got {show_values(bad)}")
    return arr.astype(np.uint8), type_name


def check_zero(name: str, codes: NDArray[np.uint8], type_name: str) -> NDArray[np.float32]:
    """A float zero point must decode to ``±0``; its values."""
    v = decode(codes, ONNX_FLOAT_FORMATS[type_name])
    if v.size and not np.all(v == 0):
        raise ValueError(f"{name} must be 0 for the float type {type_name} (ONNX spec), got {show_values(v)}")
    return v


def expand(s: NDArray[Any], shape: tuple[int, ...], axis: int | None, block: int | None) -> NDArray[Any]:
    """The scale broadcast against ``x`` of ``shape`` (per tensor, per axis or blocked)."""
    if axis is None:
        return s.reshape(())
    if block is None:
        return s.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return np.repeat(s, block, axis=axis).take(np.arange(shape[axis]), axis=axis)


def quantize_float(
    x: NDArray[Any],
    s: NDArray[Any],
    z: NDArray[Any] | None,
    cd: np.dtype[Any],
    type_name: str,
    saturate: bool,
) -> NDArray[np.uint8]:
    """``encode(x / s (+ z: float4/6 only), fmt, saturate)`` in ``cd``; ``s``, ``z`` expanded."""
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        q = np.asarray(x.astype(cd) / s, cd)
        if z is not None and not type_name.startswith("float8"):  # onnx.reference: -0 + 0 = +0
            q = np.asarray(q + z.astype(cd), cd)
    return encode(q, ONNX_FLOAT_FORMATS[type_name], saturate=bool(saturate)).astype(np.uint8)


def dequantize_float(
    codes: NDArray[np.uint8], s: NDArray[Any], out: np.dtype[Any], type_name: str
) -> NDArray[Any]:
    """``decode(codes) * s`` exact in float64, rounded once to ``out``; finite overflow raises."""
    v = decode(codes, ONNX_FLOAT_FORMATS[type_name], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.asarray(v * s.astype(np.float64)).astype(out)
    over = np.isinf(y) & np.isfinite(v)
    if np.any(over):
        raise ValueError(
            f"x * x_scale overflows {out} (max {np.finfo(out).max}): x={show_values(v[over])}; "
            "use a float32 x_scale"
        )
    return y


def cast(
    x: ArrayLike,
    to: str,
    *,
    saturate: bool = True,
    round_mode: str = "up",
    x_type: str | None = None,
) -> NDArray[Any]:
    """ONNX Cast to a float type: ``y = [x]`` (codes for the low-precision types).

    Parameters
    ----------
    x : array_like, any shape
        float16/32/64 or integer values; an ml_dtypes float8/float6/float4/
        e8m0/bfloat16 array (read as its codes); or codes (uint8) of the type
        named by ``x_type``.
    to : str
        One of :data:`CAST_TYPES`: ``"float8e4m3fn"``, ``"float8e4m3fnuz"``,
        ``"float8e5m2"``, ``"float8e5m2fnuz"``, ``"float4e2m1"``,
        ``"float6e2m3"``, ``"float6e3m2"``, ``"float8e8m0"``, ``"float16"``,
        ``"bfloat16"``, ``"float32"``, ``"float64"``.
    saturate : bool
        The Cast attribute (default True); only float8 types (and e8m0) use it.
    round_mode : str
        ``"up"`` (default), ``"down"`` or ``"nearest"``: for float8e8m0 only.
    x_type : str, optional
        The low-precision type of ``x`` when ``x`` holds codes (uint8).

    Returns
    -------
    ndarray, shape of ``x``
        uint8 codes for the low-precision types; float16 for ``"float16"``,
        float32 values on the bfloat16 grid for ``"bfloat16"`` (NumPy has no
        bfloat16), float32/float64 for those types.

    Notes
    -----
    .. math:: y = \\operatorname{encode}\\big(\\operatorname{RNE}_{\\mathrm{to}}(x)\\big)

    Source: ONNX Cast (opsets 19-25) and its two float8 tables, the e8m0 table
    (opset 24+). Low-precision inputs are decoded exactly to float32 first,
    so a cast between two of them rounds once. float16 and bfloat16 have no
    ``saturate``: overflow gives ``±inf``. Implemented with
    :func:`refquant.floats.cast` / :func:`~refquant.floats.encode`.

    Examples
    --------
    >>> [hex(c) for c in cast([1.0, 500.0, float("inf")], "float8e4m3fn")]
    ['0x38', '0x7e', '0x7e']
    >>> [hex(c) for c in cast([500.0], "float8e4m3fn", saturate=False)]
    ['0x7f']
    >>> cast([0x38, 0x7E], "float32", x_type="float8e4m3fn").tolist()
    [1.0, 448.0]
    >>> cast([3.0], "float8e8m0").tolist(), cast([3.0], "float8e8m0", round_mode="down").tolist()
    ([129], [128])
    """
    if not isinstance(to, str):
        raise TypeError(f"to must be a type name (str), got {to!r}")
    check_choice("to", to, CAST_TYPES)
    check_bool("saturate", saturate)
    check_choice("round_mode", round_mode, tuple(ROUND_MODES))
    check_type("x_type", x_type, tuple(ONNX_FLOAT_FORMATS))
    values = _cast_input(x, x_type)
    if to in ONNX_FLOAT_FORMATS:
        rounding = ROUND_MODES[round_mode] if to == "float8e8m0" else "half_even"
        return encode(values, ONNX_FLOAT_FORMATS[to], saturate=bool(saturate), rounding=rounding).astype(
            np.uint8
        )
    with np.errstate(over="ignore"):
        if to == "float16":
            return values.astype(np.float16)
        if to == "bfloat16":
            return _cast_values(values, "bfloat16").astype(np.float32)
        return values.astype(np.float32 if to == "float32" else np.float64)


def _cast_input(x: ArrayLike, x_type: str | None) -> NDArray[Any]:
    arr = np.asarray(x)
    own = onnx_type_of(arr.dtype)
    if own == "bfloat16":
        if x_type is not None:
            raise ValueError(f"x is bfloat16, which does not match x_type={x_type!r}")
        return (arr.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    if own is not None or x_type is not None:
        c, t = codes_of("x", arr, x_type)
        return decode(c, ONNX_FLOAT_FORMATS[t])
    if arr.dtype.kind == "b":
        raise TypeError("x must be a float or integer array, got dtype bool")
    return as_float_array("x", arr)
