"""Registry: ``refquant.integer`` (fixed point, SRDHM, RDBPOT, requantization, integer matmul, int16 pairs).

Integer arguments are attacked with the code catalogue (every integer
dtype's limits, floats, bools, structure): the fixed-point functions take
integer arrays only (a float array is a ``TypeError``, even with integral
values) whose values must fit int32; shifts must lie in TFLite's limits.
The pair-saturating matmul takes exactly the instruction's operand types
(uint8 activations, int8 weights): every other dtype, Python lists and ints
included, is a ``TypeError``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from refquant.integer.fixedpoint import ROUNDINGS
from refquant.integer.matmul import ACCUMULATORS
from refquant.integer.pairs import OVERFLOWS
from refquant.integer.requantize import ARITHMETICS, FLOAT_ROUNDINGS
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    NO_REF,
    REJECT,
    Combo,
    Entry,
    array,
    choice,
    codes,
    int_dtype,
    integer,
    qrange,
    scale,
    zero_point,
)
from tests.hostile.registry_core import shape_of

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
NEGATIVE = (  # the array catalogue's negative reals (valid elsewhere): a negative multiplier is rejected
    "-5e-324 at [1]",
    "-2.2250738585072014e-308 at [1]",
    "-1.7976931348623157e+308 at [1]",
    "-1.0 at [1]",
    "-0.5 at [1]",
    "-2.5 at [1]",
    "-0.49999999999999994 at [1]",
    "-2147483648.0 at [1]",
)
REAL_POLICY = {
    **{label: REJECT for label in NEGATIVE},
    "nan": REJECT,
    "inf": REJECT,
    "extreme": ACCEPT,  # 1.8e308: a shift of 1024 (double build)
    "big": ACCEPT,
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
    "all zeros": ACCEPT,
    "bool": REJECT,
}
# integer arrays: any integer dtype whose values fit int32; structure is free (broadcasting)
INT_POLICY = {
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "bool codes": REJECT,
    "float codes (integral)": REJECT,
}
# zero points of the requantizers: any int32, not bound to [qmin, qmax] (documented)
ZP_POLICY = {
    "range max + 1": ACCEPT,
    "range min - 1": ACCEPT,
    "integral float": REJECT,
    "True": REJECT,
    "None": REJECT,
}


def _broadcast_shape(*names: str) -> Any:
    def shape(kw: dict[str, Any]) -> Any:
        try:
            return np.broadcast_shapes(*(np.shape(kw[n]) for n in names))
        except ValueError:
            return None

    return shape


def _int32(kw: dict[str, Any]) -> Any:
    return np.dtype(np.int32)


def _srdhm_ref(kw: dict[str, Any]) -> Any:
    try:
        a, b = np.broadcast_arrays(np.asarray(kw["a"]), np.asarray(kw["b"]))
    except ValueError:
        return NO_REF
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        return NO_REF
    out = []
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True):
        if not (I32_MIN <= x <= I32_MAX and I32_MIN <= y <= I32_MAX):
            return NO_REF
        v = Fraction(x * y, 2**31) + Fraction(1, 2)
        out.append(I32_MAX if x == y == I32_MIN else v.numerator // v.denominator)
    return np.array(out, np.int32).reshape(a.shape)


def _rdbpot_ref(kw: dict[str, Any]) -> Any:
    try:
        x, e = np.broadcast_arrays(np.asarray(kw["x"]), np.asarray(kw["exponent"]))
    except ValueError:
        return NO_REF
    if x.dtype.kind not in "iu" or e.dtype.kind not in "iu":
        return NO_REF
    out = []
    for v, k in zip(x.ravel().tolist(), e.ravel().tolist(), strict=True):
        if not (I32_MIN <= v <= I32_MAX and 0 <= k <= 31):
            return NO_REF
        r = abs(Fraction(v, 2**k)) + Fraction(1, 2)
        n = r.numerator // r.denominator
        out.append(n if v >= 0 else -n)
    return np.array(out, np.int32).reshape(x.shape)


def _mbqm_base() -> dict[str, Any]:
    x = np.array([[5, -2, 1000], [I32_MIN, I32_MAX, 0]], np.int32)
    return dict(x=x, quantized_multiplier=np.array([2**30, 3 * 2**29, I32_MAX]), shift=np.array([-1, 0, -31]))


def _matmul_base() -> dict[str, Any]:
    a = np.array([[2, 0, -128], [-1, 5, 127]], np.int8)
    b = np.array([[3, 1], [5, -2], [127, -128]], np.int8)
    return dict(a=a, b=b, a_zero_point=1, b_zero_point=-3)


def _requantize_base() -> dict[str, Any]:
    return dict(acc=np.array([[5, -2, 1000], [-(2**20), 0, 7]], np.int32), zero_point=3, qmin=-128, qmax=127)


def _pairs_base() -> dict[str, Any]:
    a = np.array([[255, 255, 3], [200, 7, 128]], np.uint8)
    b = np.array([[-128, 127], [-128, 100], [5, -1]], np.int8)
    return dict(a=a, b=b, a_zero_point=3, b_zero_point=-2)


def _sat16(s: int) -> int:
    return max(-32768, min(32767, s))


def _pairs_ref(kw: dict[str, Any]) -> Any:
    """Python ints: the clipped pair sums added, then the zero-point terms (2-D, scalar zero points)."""
    a, b = np.asarray(kw["a"]), np.asarray(kw["b"])
    za, zb = kw.get("a_zero_point", 0), kw.get("b_zero_point", 0)
    if a.dtype != np.uint8 or b.dtype != np.int8 or a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        return NO_REF
    if not all(isinstance(z, (int, np.integer)) and not isinstance(z, (bool, np.bool_)) for z in (za, zb)):
        return NO_REF
    if not (0 <= int(za) <= 255 and -128 <= int(zb) <= 127):
        return NO_REF
    rows, cols, k = a.tolist(), b.T.tolist(), a.shape[1]
    out = []
    for r in rows:
        line = []
        for c in cols:
            rp, cp = r + [0] * (k % 2), c + [0] * (k % 2)
            s = sum(_sat16(rp[i] * cp[i] + rp[i + 1] * cp[i + 1]) for i in range(0, len(rp), 2))
            line.append(s - int(zb) * sum(r) - int(za) * sum(c) + k * int(za) * int(zb))
        out.append(line)
    return np.array(out, np.int64).reshape(a.shape[0], b.shape[1]).astype(np.int32)


def _operand_policy(dtype: str, lo: int, hi: int, empty: str) -> dict[str, str]:
    """Exactly ``dtype``: its limits accepted, every other dtype (and lists, ints, 0-d) rejected."""
    return {
        "extreme": REJECT,
        f"{dtype} max ({hi})": ACCEPT,
        f"{dtype} min ({lo})": ACCEPT,
        "dtype": REJECT,
        "Python list": REJECT,
        "scalar": REJECT,
        "0-d": REJECT,
        "empty": empty,
    }


PAIR_ZP = {"integral float": REJECT, "True": REJECT, "None": REJECT}
SMALL_INT = {"integral float": REJECT, "bool": REJECT}

MULT_POLICY = {"empty": REJECT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": REJECT}  # empty: no broadcast
SHIFT_POLICY = {**MULT_POLICY, "float codes (integral)": REJECT}

ENTRIES: list[Entry] = [
    Entry(
        "integer:quantize_multiplier",
        lambda: dict(real_multiplier=np.array([0.3, 1e-3, 0.75, 2.0**-40])),
        {"real_multiplier": array(**REAL_POLICY), "rounding": choice(ROUNDINGS)},
        dtype=_int32,
        shape=shape_of("real_multiplier"),
        contract="(q, shift) int32 of M's shape; NaN, inf and negative M raise",
        extra=[
            Combo("zero", {"real_multiplier": 0.0}, ACCEPT),
            Combo("single", {"rounding": "single"}, ACCEPT),
        ],
    ),
    Entry(
        "integer:saturating_rounding_doubling_high_mul",
        lambda: dict(
            a=np.array([[2**30, 1, -1, I32_MIN]], np.int32), b=np.array([2**30, 2**30, 2**30, I32_MIN])
        ),
        {"a": codes(**INT_POLICY), "b": codes(**{**INT_POLICY, "empty": REJECT})},  # (0,) and (1, 4)
        dtype=_int32,
        shape=_broadcast_shape("a", "b"),
        reference=_srdhm_ref,
        contract="floor(ab / 2**31 + 1/2), INT32_MIN**2 saturates; values outside int32 raise",
    ),
    Entry(
        "integer:rounding_divide_by_pot",
        lambda: dict(x=np.array([[5, -5, 6], [-6, I32_MIN, I32_MAX]], np.int32), exponent=1),
        {"x": codes(**INT_POLICY), "exponent": integer(0, 31, **{"integral float": REJECT, "bool": REJECT})},
        dtype=_int32,
        shape=_broadcast_shape("x", "exponent"),
        reference=_rdbpot_ref,
        contract="x / 2**exponent rounded half away; exponent in [0, 31]",
        extra=[Combo("per-channel exponents", {"exponent": lambda: np.array([0, 1, 31])}, ACCEPT)],
    ),
    Entry(
        "integer:multiply_by_quantized_multiplier",
        _mbqm_base,
        {
            "x": codes(**INT_POLICY),
            "quantized_multiplier": codes(**MULT_POLICY),
            "shift": codes(**SHIFT_POLICY),
            "rounding": choice(ROUNDINGS),
        },
        dtype=_int32,
        shape=_broadcast_shape("x", "quantized_multiplier", "shift"),
        contract="x q 2**(shift - 31) rounded (three variants); q 0 or in [2**30, 2**31), shift in [-31, 30]",
        extra=[
            Combo(
                "left shift overflows",
                {"shift": lambda: np.array([1, 1, 1])},
                REJECT,
                ("x",),
                ("2147483647",),
            ),
            Combo("single", {"rounding": "single"}, ACCEPT),
            Combo("double_up", {"rounding": "double_up"}, ACCEPT),
            Combo("shift 30", {"x": 1, "shift": 30}, ACCEPT),
            Combo("shift 31", {"shift": 31}, REJECT, ("shift",), ("31",)),
        ],
    ),
    Entry(
        "integer:integer_matmul",
        _matmul_base,
        {
            "a": codes(**{"empty": ACCEPT, "0-d": REJECT, "scalar": REJECT, "bool codes": REJECT}),
            "b": codes(**{"empty": REJECT, "0-d": REJECT, "scalar": REJECT, "bool codes": REJECT}),
            "a_zero_point": zero_point(-128, 127, **ZP_POLICY),
            "b_zero_point": zero_point(-128, 127, **ZP_POLICY),
            "accumulate": choice(ACCUMULATORS),
        },
        dtype=lambda kw: np.dtype(kw.get("accumulate", "int32")),
        related=("a", "b", "a_zero_point", "b_zero_point"),
        contract="(a - za) @ (b - zb) exact; ValueError if an int32 partial sum could overflow",
        extra=[
            Combo(
                "per-row and per-column zero points",
                {"a_zero_point": [1, 2], "b_zero_point": [0, -1]},
                ACCEPT,
            ),
            Combo("int64", {"accumulate": "int64"}, ACCEPT),
            Combo(
                "int32 overflow",
                {
                    "a": lambda: np.full((1, 70000), -128, np.int8),
                    "b": lambda: np.full((70000, 1), 127, np.int8),
                    "a_zero_point": 0,
                    "b_zero_point": -128,
                },
                REJECT,
                ("a",),
                ("70000",),
            ),
        ],
    ),
    Entry(
        "integer:overflow_bound",
        lambda: dict(a_dtype="uint8", b_dtype="int8", a_zero_point=None, b_zero_point=0),
        {
            "a_dtype": int_dtype(**{"int64": REJECT, "uint8 (too small?)": ACCEPT}),
            "b_dtype": int_dtype(**{"int64": REJECT, "uint8 (too small?)": ACCEPT}),
            "b_zero_point": integer(-128, 127, **{"None": ACCEPT, "integral float": REJECT, "bool": REJECT}),
            "accumulate": choice(ACCUMULATORS),
        },
        contract="the largest K; zero points in their type's range or None",
    ),
    Entry(
        "integer:requantization_multiplier",
        lambda: dict(input_scale=0.1, weight_scale=np.array([0.2, 0.3], np.float32), output_scale=0.7),
        {
            "input_scale": scale(**{"1e-45": REJECT, "3e+38": EITHER}),
            "weight_scale": scale(**{"1e-45": REJECT, "3e+38": EITHER, "wrong shape (7,)": ACCEPT}),
            "output_scale": scale(**{"1e-45": EITHER, "1e-30": EITHER, "3e+38": EITHER}),
            "arithmetic": choice(ARITHMETICS),
        },
        dtype=lambda kw: np.dtype(np.float32 if kw.get("arithmetic", "float32") == "float32" else np.float64),
        contract="s_in s_w / s_out in a system's order; scales rounded to float32, finite and > 0",
    ),
    Entry(
        "integer:requantize_fixed",
        lambda: {**_requantize_base(), "quantized_multiplier": 2**30, "shift": -1},
        {
            "acc": codes(**INT_POLICY),
            "quantized_multiplier": codes(**MULT_POLICY),
            "shift": codes(**SHIFT_POLICY),
            "zero_point": zero_point(-128, 127, **ZP_POLICY),
            "qmin+qmax": qrange("qmin", "qmax", -128, 127, **{"integral floats": REJECT}),
            "rounding": choice(ROUNDINGS),
        },
        dtype=lambda kw: None,
        shape=_broadcast_shape("acc", "quantized_multiplier", "shift", "zero_point"),
        contract="clamp(MBQM(acc) + z, qmin, qmax) in the smallest dtype of the range",
    ),
    Entry(
        "integer:requantize_float",
        lambda: {**_requantize_base(), "multiplier": np.float32(0.25)},
        {
            "acc": codes(**INT_POLICY),
            "multiplier": scale(**{"int 1": REJECT, "float16 0.1": REJECT, "3e+38": ACCEPT, "1e-40": EITHER}),
            "zero_point": zero_point(-128, 127, **ZP_POLICY),
            "qmin+qmax": qrange("qmin", "qmax", -128, 127, **{"integral floats": REJECT}),
            "rounding": choice(FLOAT_ROUNDINGS),
        },
        dtype=lambda kw: None,
        shape=_broadcast_shape("acc", "multiplier", "zero_point"),
        contract="clamp(R(fl(acc) M) + z, qmin, qmax), M's dtype is the arithmetic",
        extra=[Combo("float64 multiplier", {"multiplier": 0.25}, ACCEPT)],
    ),
]
ENTRIES += [
    Entry(
        "integer:saturating_pair_matmul",
        _pairs_base,
        {
            "a": codes(**_operand_policy("uint8", 0, 255, ACCEPT)),
            "b": codes(**_operand_policy("int8", -128, 127, REJECT)),  # (0, 2): K mismatch
            "a_zero_point": zero_point(0, 255, **PAIR_ZP),
            "b_zero_point": zero_point(-128, 127, **PAIR_ZP),
            "overflow": choice(OVERFLOWS),
        },
        dtype=_int32,
        reference=_pairs_ref,
        related=("a", "b", "a_zero_point", "b_zero_point"),
        contract="sum of int16-saturated pairs, then the exact zero-point terms; uint8 x int8 only",
        extra=[
            Combo("per-column b zero points", {"b_zero_point": [0, -128]}, ACCEPT),
            Combo("per-row a zero points", {"a_zero_point": [0, 255]}, ACCEPT),
            Combo("int8 a", {"a": lambda: np.zeros((2, 3), np.int8)}, REJECT, ("a",), ("int8",)),
            Combo("uint8 b", {"b": lambda: np.zeros((3, 2), np.uint8)}, REJECT, ("b",), ("uint8",)),
            Combo(
                "int32 overflow",
                {
                    "a": lambda: np.full((1, 131074), 255, np.uint8),
                    "b": lambda: np.full((131074, 1), -128, np.int8),
                    "a_zero_point": 0,
                    "b_zero_point": 0,
                },
                REJECT,
                ("a",),
                ("131074", "wrap"),
            ),
            Combo(
                "int32 overflow wrapped",
                {
                    "a": lambda: np.full((1, 131074), 255, np.uint8),
                    "b": lambda: np.full((131074, 1), -128, np.int8),
                    "a_zero_point": 0,
                    "b_zero_point": 0,
                    "overflow": "wrap",
                },
                ACCEPT,
            ),
        ],
    ),
    Entry(
        "integer:saturated_pairs",
        lambda: {k: v for k, v in _pairs_base().items() if k in ("a", "b")},
        {
            "a": codes(**_operand_policy("uint8", 0, 255, ACCEPT)),
            "b": codes(**_operand_policy("int8", -128, 127, REJECT)),
        },
        dtype=lambda kw: np.dtype(np.int64),
        related=("a", "b"),
        contract="the number of pairs outside int16 per output; uint8 x int8 only",
    ),
    Entry(
        "integer:max_unsaturated_weight",
        lambda: dict(a_max=255),
        {"a_max": integer(1, 255, **SMALL_INT)},
        contract="min(128, 32767 // (2 a_max)); a_max an int in [1, 255]",
    ),
    Entry(
        "integer:max_unsaturated_activation",
        lambda: dict(b_min=-128, b_max=127),
        {"b_min": integer(-128, 127, **SMALL_INT), "b_max": integer(-128, 127, **SMALL_INT)},
        contract="the largest A <= 255 with no pair outside int16; -128 <= b_min <= b_max <= 127",
    ),
]
EXEMPT: dict[str, str] = {
    "integer:QuantizedMultiplier": "a NamedTuple of two int32 arrays (a plain container)"
}
