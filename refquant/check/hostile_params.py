"""Hostile values of the parameters of quantization and pruning functions (NumPy only).

Scales, zero points, code ranges, amounts, axes, block sizes, bounded
integers and string options, as catalogues of :class:`~refquant.check.hostile.Hostile`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from refquant.check.hostile import Hostile, hostile_case, number_shows

__all__ = [
    "hostile_amount_cases",
    "hostile_axis_cases",
    "hostile_block_size_cases",
    "hostile_choice_cases",
    "hostile_int_cases",
    "hostile_range_cases",
    "hostile_scale_cases",
    "hostile_zero_point_cases",
]


def hostile_scale_cases(dtype: Any = np.float32, *, shape: tuple[int, ...] = ()) -> list[Hostile]:
    """Hostile values of a quantization scale (step size), valid ones ``> 0`` and finite.

    Parameters
    ----------
    dtype : numpy float dtype
        The dtype the scale is computed in (its subnormals are the hostile ones).
    shape : tuple of int
        The valid shape of the scale (``()`` per tensor); the array variants
        have it.

    Returns
    -------
    list of Hostile

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_scale_cases()][:6]
    [('0.0', False), ('-0.0', False), ('-0.1', False), ('nan', False), ('inf', False), ('-inf', False)]
    >>> [c.label for c in hostile_scale_cases() if c.valid is None][:4]
    ['5e-324', '1e-45', '1e-40', '3e+38']
    """
    fi = np.finfo(dtype)

    def arr(v: complex) -> Any:
        return v if shape == () else np.full(shape, v)

    out = [
        hostile_case("0.0", arr(0.0), False, "finite", number_shows(0.0)),
        hostile_case("-0.0", arr(-0.0), False, "finite", (*number_shows(-0.0), "0.0")),
        hostile_case("-0.1", arr(-0.1), False, "finite", number_shows(-0.1)),
        hostile_case("nan", arr(float("nan")), False, "nan", ("nan",)),
        hostile_case("inf", arr(float("inf")), False, "inf", ("inf",)),
        hostile_case("-inf", arr(float("-inf")), False, "inf", ("inf",)),
        hostile_case("5e-324", arr(5e-324), None, "finite", number_shows(5e-324)),
        hostile_case("1e-45", arr(1e-45), None, "finite", number_shows(1e-45)),
        hostile_case("1e-40", arr(1e-40), None, "finite", number_shows(1e-40)),
        hostile_case("3e+38", arr(3e38), None, "finite extreme", number_shows(3e38)),
        hostile_case("1.7e+308", arr(1.7e308), None, "finite extreme", number_shows(1.7e308)),
        hostile_case(
            f"{fi.dtype.name} smallest normal",
            arr(float(fi.smallest_normal)),
            True,
            "finite",
            number_shows(float(fi.smallest_normal)),
        ),
        hostile_case("1e-30", arr(1e-30), True, "finite", number_shows(1e-30)),
        hostile_case("1e+30", arr(1e30), True, "finite", number_shows(1e30)),
        hostile_case("int 1", arr(1) if shape else 1, True, "finite"),
        hostile_case(
            "float16 0.1", np.full(shape, 0.1, np.float16) if shape else np.float16(0.1), True, "finite dtype"
        ),
        hostile_case("str '0.1'", "0.1", False, "type", ("'0.1'", "str")),
        hostile_case("None", None, False, "type", ("None",)),
        hostile_case("True", True, None, "type", ("True", "bool")),
        hostile_case(
            "complex 0.1+0j", arr(0.1 + 0j) if shape else 0.1 + 0j, False, "type", ("complex", "0.1")
        ),
        hostile_case("wrong shape (7,)", np.full((7,), 0.1), False, "shape", ("(7,)", "7")),
    ]
    if shape == ():
        out += [
            hostile_case("0-d array", np.array(0.1), True, "finite 0-d"),
            hostile_case("1-element list", [0.1], None, "finite shape", ("(1,)", "[0.1]", "list")),
            hostile_case("1-element array", np.array([0.1]), None, "finite shape", ("(1,)", "[0.1]")),
        ]
    else:
        out += [hostile_case("Python scalar", 0.1, None, "finite scalar", ("()", "scalar", "0.1"))]
    return out


def hostile_zero_point_cases(quant_min: int, quant_max: int, *, shape: tuple[int, ...] = ()) -> list[Hostile]:
    """Hostile zero points for the code range ``[quant_min, quant_max]``.

    Returns
    -------
    list of Hostile
        Fractional, NaN, inf, out-of-range (by one, and beyond int64), strings,
        None, a wrong shape (invalid); integral floats and bools (depends);
        NumPy integer scalars at the range's ends (valid).

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_zero_point_cases(0, 255)][:4]
    [('3.5', False), ('-0.5', False), ('nan', False), ('inf', False)]
    >>> [c.value for c in hostile_zero_point_cases(0, 255) if c.label.startswith("range")]
    [256, -1]
    """
    mid = (quant_min + quant_max) // 2

    def arr(v: Any) -> Any:
        return v if shape == () else np.full(shape, v, dtype=np.asarray(v).dtype)

    out = [
        hostile_case(
            "3.5",
            arr(mid + 0.5) if mid else arr(3.5),
            False,
            "finite",
            number_shows(mid + 0.5 if mid else 3.5),
        ),
        hostile_case("-0.5", arr(-0.5), False, "finite", number_shows(-0.5)),
        hostile_case("nan", arr(float("nan")), False, "nan", ("nan",)),
        hostile_case("inf", arr(float("inf")), False, "inf", ("inf",)),
        hostile_case("range max + 1", arr(quant_max + 1), False, "finite", number_shows(quant_max + 1)),
        hostile_case("range min - 1", arr(quant_min - 1), False, "finite", number_shows(quant_min - 1)),
        hostile_case("2**63", 2**63, False, "finite", number_shows(2**63)),
        hostile_case("-2**63 - 1", -(2**63) - 1, False, "finite", number_shows(-(2**63) - 1)),
        hostile_case("uint64 max", np.uint64(2**64 - 1), False, "finite", number_shows(2**64 - 1)),
        hostile_case("str '3'", "3", False, "type", ("'3'", "str")),
        hostile_case("None", None, None, "type", ("None",)),
        hostile_case("integral float", arr(float(mid)), None, "finite dtype", (str(float(mid)), "float")),
        hostile_case("True", True, None, "type", ("True", "bool")),
        hostile_case("np.int64 min", arr(np.int64(quant_min)), True, "finite"),
        hostile_case("np.int64 max", arr(np.int64(quant_max)), True, "finite"),
        hostile_case("wrong shape (7,)", np.full((7,), mid), False, "shape", ("(7,)", "7")),
    ]
    return out


def hostile_range_cases(quant_min: int, quant_max: int) -> list[Hostile]:
    """Hostile ``(quant_min, quant_max)`` pairs around a valid range.

    Returns
    -------
    list of Hostile
        ``value`` is the pair. Swapped and equal bounds, fractional and string
        bounds, None, bools, beyond every integer dtype (invalid); integral
        floats, ``±2**53`` and ``±2**60`` (depends on the function); NumPy
        integer bounds (valid).

    Examples
    --------
    >>> [(c.label, c.value) for c in hostile_range_cases(-128, 127)][:3]
    [('swapped', (127, -128)), ('equal', (127, 127)), ('quant_min fractional', (-127.5, 127))]
    """
    lo, hi = quant_min, quant_max
    return [
        hostile_case("swapped", (hi, lo), False, "finite", number_shows(hi) + number_shows(lo)),
        hostile_case("equal", (hi, hi), False, "finite", number_shows(hi)),
        hostile_case("quant_min fractional", (lo + 0.5, hi), False, "finite", number_shows(lo + 0.5)),
        hostile_case("quant_max fractional", (lo, hi - 0.5), False, "finite", number_shows(hi - 0.5)),
        hostile_case("quant_min str", (str(lo), hi), False, "type", (repr(str(lo)), "str")),
        hostile_case("quant_max None", (lo, None), False, "type", ("None",)),
        hostile_case("quant_max bool", (0, True), False, "type", ("True", "bool")),
        hostile_case("quant_max 2**64", (lo, 2**64), False, "finite", number_shows(2**64)),
        hostile_case("quant_min -2**64", (-(2**64), hi), False, "finite", number_shows(-(2**64))),
        hostile_case(
            "integral floats", (float(lo), float(hi)), None, "finite dtype", (str(float(lo)), "float")
        ),
        hostile_case("±2**53", (-(2**53), 2**53), None, "finite", number_shows(2**53)),
        hostile_case("±2**60", (-(2**60), 2**60), None, "finite", number_shows(2**60)),
        hostile_case("0 .. 2**53 + 1", (0, 2**53 + 1), None, "finite", number_shows(2**53 + 1)),
        hostile_case("np.int64 bounds", (np.int64(lo), np.int64(hi)), True, "finite"),
    ]


def hostile_amount_cases() -> list[Hostile]:
    """Hostile pruning amounts (fractions in [0, 1], or counts).

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_amount_cases()][:5]
    [('-0.1', False), ('1.1', False), ('nan', False), ('inf', False), ('-inf', False)]
    """
    return [
        hostile_case("-0.1", -0.1, False, "finite", number_shows(-0.1)),
        hostile_case("1.1", 1.1, False, "finite", number_shows(1.1)),
        hostile_case("nan", float("nan"), False, "nan", ("nan",)),
        hostile_case("inf", float("inf"), False, "inf", ("inf",)),
        hostile_case("-inf", float("-inf"), False, "inf", ("inf",)),
        hostile_case("str '0.5'", "0.5", False, "type", ("'0.5'", "str")),
        hostile_case("None", None, False, "type", ("None",)),
        hostile_case("-1 (count)", -1, False, "finite", ("-1",)),
        hostile_case("2**63 (count)", 2**63, False, "finite", number_shows(2**63)),
        hostile_case("0.0", 0.0, True, "finite"),
        hostile_case("1.0", 1.0, True, "finite"),
        hostile_case("1e-300", 1e-300, True, "finite"),
        hostile_case("1 - 2**-53", 1 - 2**-53, True, "finite"),
        hostile_case("np.float32 0.5", np.float32(0.5), True, "finite"),
        hostile_case("0 (count)", 0, True, "finite"),
        hostile_case("True", True, None, "type", ("True", "bool")),
        hostile_case("0-d array 0.5", np.array(0.5), None, "finite 0-d", ("array", "0.5", "ndarray")),
        hostile_case("list [0.5]", [0.5], False, "type", ("[0.5]", "list")),
    ]


def hostile_axis_cases(ndim: int) -> list[Hostile]:
    """Hostile axes for an array of ``ndim`` dimensions.

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_axis_cases(2)]  # doctest: +NORMALIZE_WHITESPACE
    [('ndim', False), ('-ndim - 1', False), ('2**63', False), ('float 0.0', False), ("str '0'", False),
     ('True', None), ('None', None), ('np.int64 0', True), ('-1', True)]
    """
    return [
        hostile_case("ndim", ndim, False, "finite", (str(ndim),)),
        hostile_case("-ndim - 1", -ndim - 1, False, "finite", (str(-ndim - 1),)),
        hostile_case("2**63", 2**63, False, "finite", (str(2**63),)),
        hostile_case("float 0.0", 0.0, False, "type", ("0.0", "float")),
        hostile_case("str '0'", "0", False, "type", ("'0'", "str")),
        hostile_case("True", True, None, "type", ("True", "bool")),
        hostile_case("None", None, None, "type", ("None",)),
        hostile_case("np.int64 0", np.int64(0), True, "finite"),
        hostile_case("-1", -1, True, "finite"),
    ]


def hostile_block_size_cases(dim: int) -> list[Hostile]:
    """Hostile block sizes along a dimension of length ``dim``.

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_block_size_cases(4)][:5]
    [('0', False), ('-1', False), ('float 2.0', False), ("str '2'", False), ('True', None)]
    >>> [c.value for c in hostile_block_size_cases(4) if c.valid is True]
    [5, 4, 1, 100000, 1000000000000000000, 9223372036854775807]
    """
    return [
        hostile_case("0", 0, False, "finite", ("0",)),
        hostile_case("-1", -1, False, "finite", ("-1",)),
        hostile_case("float 2.0", 2.0, False, "type", ("2.0", "float")),
        hostile_case("str '2'", "2", False, "type", ("'2'", "str")),
        hostile_case("True", True, None, "type", ("True", "bool")),
        hostile_case("None", None, None, "type", ("None",)),
        hostile_case("dim + 1", dim + 1, True, "finite"),
        hostile_case("dim", dim, True, "finite"),
        hostile_case("1", 1, True, "finite"),
        hostile_case("10**5", 10**5, True, "finite huge"),
        hostile_case("10**18", 10**18, True, "finite huge"),
        hostile_case("int64 max", 2**63 - 1, True, "finite huge"),
    ]


def hostile_int_cases(lo: int | None, hi: int | None, *, name: str = "n") -> list[Hostile]:
    """Hostile values of an integer parameter whose valid range is ``[lo, hi]`` (None: unbounded).

    Examples
    --------
    >>> [(c.label, c.value, c.valid) for c in hostile_int_cases(1, 32)][:4]
    [('lo - 1', 0, False), ('hi + 1', 33, False), ('lo', 1, True), ('hi', 32, True)]
    """
    out: list[Hostile] = []
    if lo is not None:
        out.append(hostile_case("lo - 1", lo - 1, False, "finite", (str(lo - 1),)))
    if hi is not None:
        out.append(hostile_case("hi + 1", hi + 1, False, "finite", (str(hi + 1),)))
    if lo is not None:
        out.append(hostile_case("lo", lo, True, "finite"))
    if hi is not None:
        out.append(hostile_case("hi", hi, True, "finite"))
    mid = lo if lo is not None else 0
    if hi is None:
        out.append(
            hostile_case("2**31", 2**31 + (mid if mid > 2**31 else 0), None, "finite huge", (str(2**31),))
        )
    out += [
        hostile_case(
            "-2**63 - 1", -(2**63) - 1, False if lo is not None else None, "finite", (str(-(2**63) - 1),)
        ),
        hostile_case("fractional", mid + 0.5, False, "type", number_shows(mid + 0.5)),
        hostile_case("integral float", float(mid), None, "type", (str(float(mid)), "float")),
        hostile_case("str", str(mid), False, "type", (repr(str(mid)), "str")),
        hostile_case("None", None, False, "type", ("None",)),
        hostile_case("bool", True, None, "type", ("True", "bool")),
        hostile_case("np.int64", np.int64(mid), True, "finite"),
        hostile_case("nan", float("nan"), False, "nan", ("nan",)),
    ]
    return out


def hostile_choice_cases(choices: Sequence[str]) -> list[Hostile]:
    """Hostile values of a string option with the valid ``choices``.

    Every valid choice is included with ``valid=None`` (some combinations
    with other options are invalid), then the invalid ones.

    Examples
    --------
    >>> [(c.label, c.valid) for c in hostile_choice_cases(["a", "b"])]  # doctest: +NORMALIZE_WHITESPACE
    [("'a'", None), ("'b'", None), ("'bogus'", False), ("''", False), ("'A' (upper case)", False),
     ('None', False), ('1', False), ("['a'] (list)", False)]
    """
    out = [hostile_case(repr(c), c, None, "choice") for c in choices]
    first = choices[0] if choices else "x"
    out += [
        hostile_case("'bogus'", "bogus", False, "type", ("bogus",)),
        hostile_case("''", "", False, "type", ("''", '""')),
        hostile_case(
            f"{first.upper()!r} (upper case)",
            first.upper(),
            False if first.upper() != first else None,
            "type",
            (first.upper(),),
        ),
        hostile_case("None", None, False, "type", ("None",)),
        hostile_case("1", 1, False, "type", ("1",)),
        hostile_case(f"[{first!r}] (list)", [first], False, "type", (f"[{first!r}]", "list")),
    ]
    return out
