"""What an input set can tell apart: ties, near ties, clamp edges, reciprocals, the zero point's place.

A comparison of two quantizers that finds 0 mismatches only means something if
the inputs reach the places where quantizers differ. Random normals never do:
``x / s`` is almost never exactly ``k + 0.5``, so a kernel that rounds half away
from zero, or multiplies by ``1/s``, passes. :func:`coverage` counts those places
for one set of quantizer arguments and says, setting by setting, whether
refquant's reference (:func:`refquant.quantize` with its defaults) and the same
call with that one setting changed give different codes on these inputs.
:func:`refquant.check.compare` warns (:class:`CoverageWarning`) when the inputs
it is given could not have caught a difference in rounding or op order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _granularity as gran
from refquant._exact import fma_float32, fma_float64
from refquant._validate import _asarray
from refquant.check._ulp import Grid, float_keys, key_distance
from refquant.quantize import prepare_arguments

__all__ = ["NEAR_TIE_ULPS", "SETTINGS", "Coverage", "CoverageWarning", "coverage"]

NEAR_TIE_ULPS = 2
"""A quotient ``fl(x/s)`` that is not a tie but at most this many ULPs (of the compute dtype) from one."""

SETTINGS: tuple[str, ...] = (
    "rounding=half_away",
    "rounding=half_up",
    "rounding=half_down",
    "rounding=floor",
    "rounding=ceil",
    "rounding=trunc",
    "op_order=multiply",
    "zero_point_add=after_rounding",
    "zero_point_add=before_rounding",
    "zero_point_add=fused",
    "clamp_order=before_zero_point",
)
"""The settings :attr:`Coverage.changes` counts, each one change from the reference."""

_TIES = SETTINGS[:3]
QUANTIZER_KEYS = ("x", "scale", "quant_min", "quant_max")
"""The keys of a comparison's ``inputs`` that make it check coverage (with ``zero_point``, default 0)."""
SETTING_KEYS = ("axis", "block_size", "compute_dtype")
_PARAM_KEYS = ("scale", "zero_point")
"""Keys of ``inputs`` that are settings of the quantizer, not per-element values."""
_COUNTS = ("nan", "ties", "exact_ties", "near_ties", "below_min", "at_min", "at_max", "above_max")


class CoverageWarning(UserWarning):
    """The inputs of a passing comparison could not have caught a rounding or op-order difference."""


@dataclass(frozen=True)
class Coverage:
    """What a set of quantizer inputs can tell apart (the result of :func:`coverage`).

    ``y = fl(x / s)`` is the quotient in the compute dtype (``x`` and ``s``
    rounded to it first), as :func:`refquant.quantize` computes it, and
    ``r = R(y)`` its rounding half to even. A tie "reaches the output" when
    its two neighbouring codes ``floor(y) + z`` and ``floor(y) + 1 + z`` do
    not clamp to the same code.

    Attributes
    ----------
    total : int
        Elements of ``x``.
    nan : int
        NaN elements of ``x`` (left out of every other count).
    ties : int
        ``y`` is exactly ``k + 0.5`` and the tie reaches the output.
    exact_ties : int
        Of those, the ones where ``x / s`` is ``k + 0.5`` in exact arithmetic
        (the others were rounded onto the tie by the division).
    near_ties : int
        ``y`` is not a tie but within :data:`NEAR_TIE_ULPS` representable
        steps of one that reaches the output (where a one-ULP error in the
        quotient, such as double rounding, can change the code).
    below_min, at_min, at_max, above_max : int
        ``r + z`` below, at, at, above ``quant_min`` / ``quant_max`` (clamped
        or on the clamp edge).
    inexact_reciprocals : int
        ``fl(x * fl(1/s)) != fl(x / s)``; 0 when ``op_order="multiply"`` is
        not valid for these scales (``1/s`` overflows).
    changes : dict of str to int
        For each of :data:`SETTINGS` valid for these arguments, the number of
        elements whose code changes when that one setting replaces the
        reference's (``"zero_point_add=fused"`` needs a float32 compute dtype;
        ``"op_order=multiply"`` and ``fused`` a finite ``1/s``).
        ``"clamp_order=before_zero_point"`` is the slip
        ``clip(clip(r, qmin, qmax) + z, qmin, qmax)``.
    compute_dtype : str
        Name of the compute dtype.
    exact_reciprocals : bool
        Every scale is a power of two, so ``1/s`` is exact and the op order
        cannot matter.
    """

    total: int
    nan: int
    ties: int
    exact_ties: int
    near_ties: int
    below_min: int
    at_min: int
    at_max: int
    above_max: int
    inexact_reciprocals: int
    changes: dict[str, int] = field(default_factory=dict)
    compute_dtype: str = "float32"
    exact_reciprocals: bool = False

    @property
    def distinguishes(self) -> dict[str, bool]:
        """``{setting: changes[setting] > 0}``: which settings these inputs tell from the reference."""
        return {k: v > 0 for k, v in self.changes.items()}

    @property
    def blind_spots(self) -> tuple[str, ...]:
        """The tie-rounding settings, and ``op_order=multiply`` (unless ``1/s`` is exact), it cannot tell.

        These are what :func:`refquant.check.compare` warns about: an
        implementation with any of them passes a comparison on these inputs.
        """
        keys = [*_TIES] + ([] if self.exact_reciprocals else ["op_order=multiply"])
        return tuple(k for k in keys if self.changes.get(k, 1) == 0)

    def __str__(self) -> str:
        lines = [
            f"coverage of {self.total} inputs (compute dtype {self.compute_dtype}"
            + (f", {self.nan} NaN left out" if self.nan else "")
            + "):",
            f"  ties x/s = k + 0.5 reaching the output: {self.ties} "
            f"({self.exact_ties} exact in real arithmetic); near ties (within {NEAR_TIE_ULPS} ULP): "
            f"{self.near_ties}",
            f"  clamp edges: {self.below_min} below quant_min, {self.at_min} at quant_min, "
            f"{self.at_max} at quant_max, {self.above_max} above quant_max",
            f"  inexact reciprocals, x*fl(1/s) != fl(x/s): {self.inexact_reciprocals}"
            + (" (every scale a power of two)" if self.exact_reciprocals else ""),
            "  codes changed by one setting (0: these inputs cannot tell it from the reference):",
        ]
        lines += [f"    {k}: {v}" for k, v in self.changes.items()]
        if self.blind_spots:
            lines.append("  blind to: " + ", ".join(self.blind_spots))
        return "\n".join(lines)


def coverage(
    x: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    compute_dtype: Any = None,
) -> Coverage:
    """Count the ties, near ties, clamp edges and inexact reciprocals of ``x / s``, and what they tell apart.

    Parameters
    ----------
    x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype
        As :func:`refquant.quantize` (same shapes, dtypes and checks); NaN
        elements of ``x`` are counted and otherwise left out.

    Returns
    -------
    Coverage
        Counts (Python ints) and, in ``changes``, for each setting of
        :data:`SETTINGS` valid here, how many codes change when that one
        setting replaces the reference's (``rounding="half_even"``,
        ``op_order="divide"``, ``zero_point_add="exact"``, clamping after the
        zero point).

    Notes
    -----
    Source: the knobs of :func:`refquant.quantize` (docs/spec/affine.md).
    With ``y = fl(x/s)`` and ``r = rint(y)``, the reference code is
    ``clip(r, qmin - z, qmax - z) + z``. A tie is ``|y - trunc(y)| = 1/2``
    (the fraction of a float is exact); it reaches the output when
    ``floor(y) + 1 > qmin - z`` and ``floor(y) < qmax - z``. There
    ``half_away``, ``half_up`` and ``half_down`` each pick ``floor(y)`` or
    ``floor(y) + 1``, and the code changes exactly where that pick is not
    ``r``. An exact tie satisfies ``x = (k + 1/2) s`` in real arithmetic:
    checked in float64, where the product of two float32 (or float16)
    numbers is exact, or, for a float64 compute dtype, by an exact FMA
    residual ``fma(y, s, -x) = 0`` (Python fractions for ``|x| < 2**-960``,
    where the FMA emulation loses exactness). The other settings are
    evaluated as :func:`refquant.quantize` evaluates them, in the compute
    dtype, and compared with the reference code. Near ties count the
    representable values between ``y`` and ``floor(y) + 1/2`` exactly
    (:data:`NEAR_TIE_ULPS`). Everything runs over chunks of ``x`` (the
    granularity helper of :func:`refquant.quantize`), vectorized.

    Examples
    --------
    Four quotients 0.5, 1.5, 2.25 and 130 with ``s = 0.5``, ``z = 0``, int8:
    two ties, each changed by one of the tie rules (0.5: half_up and
    half_away give 1, half_even 0; 1.5: half_down gives 1, half_even 2),
    130 above ``quant_max``:

    >>> c = coverage([0.25, 0.75, 1.125, 65.0], 0.5, 0, -128, 127)
    >>> c.ties, c.exact_ties, c.above_max, c.inexact_reciprocals
    (2, 2, 1, 0)
    >>> [c.changes[k] for k in ("rounding=half_away", "rounding=half_up", "rounding=half_down")]
    [1, 1, 1]
    >>> c.blind_spots
    ()
    """
    xa, s, z, g, cd = prepare_arguments(
        x, scale, zero_point, quant_min, quant_max, axis, block_size, compute_dtype
    )
    qmin, qmax = int(quant_min), int(quant_max)
    with np.errstate(over="ignore", divide="ignore"):
        inv = np.divide(np.ones((), cd), s, dtype=cd)
    multiply_ok = bool(np.all(np.isfinite(inv)))
    fused_ok = multiply_ok and cd == np.float32
    names = [k for k in SETTINGS if (k != "op_order=multiply" or multiply_ok)]
    names = [k for k in names if k != "zero_point_add=fused" or fused_ok]
    acc = dict.fromkeys([*_COUNTS, "inexact_reciprocals", *names], 0)
    # codes are compared in the compute dtype when every code and code - z is exact in it (as quantize)
    zmax = int(np.abs(z).max()) if z.size else 0
    wide = max(abs(qmin), abs(qmax)) + zmax > 2 ** (np.finfo(cd).nmant + 1)
    tally = _Tally(qmin, qmax, cd, wide, multiply_ok, fused_ok, acc)
    gran.map_chunks(tally, xa, [s, z, inv], g, np.dtype(np.bool_))
    frac = np.frexp(s)[0] if s.size else np.zeros(0)
    return Coverage(
        total=int(xa.size),
        **{k: acc[k] for k in _COUNTS},
        inexact_reciprocals=acc["inexact_reciprocals"],
        changes={k: acc[k] for k in names},
        compute_dtype=cd.name,
        exact_reciprocals=bool(np.all(frac == 0.5)),
    )


class _Tally:
    """The chunk kernel of :func:`coverage`: adds one chunk's counts to ``acc``.

    Codes are compared in ``wd``: the compute dtype when every code and
    ``code - z`` is exact in it (as :func:`refquant.quantize` clips), else
    float64. Alternatives that pick ``floor(y)`` or ``floor(y) + 1`` change
    the code exactly where the reference picks the other one and the two do
    not clamp alike (``reach``); the others are evaluated and compared.
    """

    def __init__(
        self,
        qmin: int,
        qmax: int,
        cd: np.dtype[Any],
        wide: bool,
        multiply_ok: bool,
        fused_ok: bool,
        acc: dict[str, int],
    ) -> None:
        self.qmin, self.qmax, self.cd, self.wide = qmin, qmax, cd, wide
        self.wd = np.dtype(np.float64) if wide else cd
        self.multiply_ok, self.fused_ok, self.acc = multiply_ok, fused_ok, acc

    def __call__(
        self, x: NDArray[Any], s: NDArray[Any], z: NDArray[Any], inv: NDArray[Any], **_: Any
    ) -> None:
        with np.errstate(all="ignore"):
            self._count(x, s, z, inv)

    def _add(self, key: str, n: int | np.integer[Any]) -> None:
        self.acc[key] += int(n)

    def _count(self, x: NDArray[Any], s: NDArray[Any], z: NDArray[Any], inv: NDArray[Any]) -> None:
        cd, wd, add = self.cd, self.wd, self._add
        xc = x.astype(cd, copy=False)
        y = np.divide(xc, s, dtype=cd)
        n_nan = int(np.count_nonzero(np.isnan(y)))
        add("nan", n_nan)
        zw = z.astype(wd)
        lo, hi = (self.qmin - z).astype(wd), (self.qmax - z).astype(wd)  # exact (quantize's range rules)
        lower, r = np.floor(y), np.rint(y)
        r_low = r == lower
        lw, rw = lower.astype(wd, copy=False), r.astype(wd, copy=False)
        reach = (lw + 1 > lo) & (lw < hi)  # floor(y) and floor(y) + 1 clamp to different codes
        add("below_min", np.count_nonzero(rw < lo))
        add("at_min", np.count_nonzero(rw == lo))
        add("at_max", np.count_nonzero(rw == hi))
        add("above_max", np.count_nonzero(rw > hi))
        fr = np.abs(y - np.trunc(y))  # exact: the fraction of a float is a float
        tie = reach & (fr == 0.5)
        add("ties", np.count_nonzero(tie))
        add("rounding=half_up", np.count_nonzero(tie & r_low))
        add("rounding=half_down", np.count_nonzero(tie & ~r_low))
        add("rounding=half_away", np.count_nonzero(tie & (r_low == (y > 0))))
        up = reach & ~r_low  # the reference rounds up from floor(y): floor differs
        frac = reach & r_low & (y != lower)  # it rounds down from a non-integer: ceil differs
        add("rounding=floor", np.count_nonzero(up))
        add("rounding=ceil", np.count_nonzero(frac))
        add("rounding=trunc", np.count_nonzero(np.where(y >= 0, up, frac)))
        if np.any(tie):
            add("exact_ties", self._exact_ties(tie, xc, s, y))
        add("near_ties", self._near_ties(y, lower, fr, tie, reach))
        n_mult = 0
        if self.multiply_ok:
            ym = np.multiply(xc, inv, dtype=cd)
            add("inexact_reciprocals", np.count_nonzero(ym != y) - n_nan)
            n_mult = _changed_at(np.rint(ym), r, n_nan, lo, hi, wd)
            add("op_order=multiply", n_mult)
        zero = not np.any(z)
        ref_code = None if zero and not self.wide else np.clip(rw, lo, hi) + zw

        def changed(code: NDArray[Any]) -> int:
            assert ref_code is not None
            return int(np.count_nonzero(np.clip(code, self.qmin, self.qmax) != ref_code)) - n_nan

        zc = z.astype(cd)
        # exact codes and ranges: fl(r + z) is r + z inside the range and clamps alike outside it
        add("zero_point_add=after_rounding", changed(np.add(r, zc, dtype=cd).astype(wd)) if self.wide else 0)
        if not zero:
            add("zero_point_add=before_rounding", changed(np.rint(np.add(y, zc, dtype=cd)).astype(wd)))
            add("clamp_order=before_zero_point", changed(np.clip(rw, self.qmin, self.qmax) + zw))
        if self.fused_ok:
            if zero:  # fma(x, 1/s, 0) = fl(x * (1/s)): the op order's count
                add("zero_point_add=fused", n_mult)
            else:
                add("zero_point_add=fused", changed(np.rint(fma_float32(xc, inv, z)).astype(wd)))

    def _exact_ties(self, tie: NDArray[np.bool_], x: NDArray[Any], s: NDArray[Any], y: NDArray[Any]) -> int:
        """How many ties are ``x = (k + 1/2) s`` exactly."""
        shape = tie.shape
        xs, ss, ys = (np.broadcast_to(v, shape)[tie].astype(np.float64) for v in (x, s, y))
        if self.cd != np.float64:  # y and s have at most 24 significant bits: y * s is exact in float64
            return int(np.count_nonzero(ys * ss == xs))
        exact = fma_float64(ys, ss, -xs) == 0
        tiny = np.abs(xs) < 2.0**-960
        for i in np.flatnonzero(tiny):
            exact[i] = Fraction(float(ys[i])) * Fraction(float(ss[i])) == Fraction(float(xs[i]))
        return int(np.count_nonzero(exact))

    def _near_ties(
        self,
        y: NDArray[Any],
        lower: NDArray[Any],
        fr: NDArray[Any],
        tie: NDArray[np.bool_],
        reach: NDArray[np.bool_],
    ) -> int:
        """Non-ties within NEAR_TIE_ULPS representable steps of ``floor(y) + 1/2`` (a tie that reaches)."""
        cd = self.cd
        # a cheap superset first: |y| - trunc|y| within 4 NEAR_TIE_ULPS spacings of 1/2 (a spacing of y
        # is at most |y| 2**-nmant); ties k + 1/2 exist for |y| < 2**nmant
        wide = np.asarray(4 * NEAR_TIE_ULPS * 2.0 ** -np.finfo(cd).nmant, cd)
        ay = np.abs(y)
        near = reach & ~tie & (np.abs(fr - np.asarray(0.5, cd)) <= ay * wide)
        near &= ay < 2.0 ** np.finfo(cd).nmant
        if not np.any(near):
            return 0
        ys = y[near]
        t = lower[near] + np.asarray(0.5, cd)  # exact: |floor(y)| < 2**nmant
        grid = Grid(cd.name, "ieee", cd)
        d, _ = key_distance(float_keys(ys, grid), float_keys(t, grid))
        return int(np.count_nonzero(d <= NEAR_TIE_ULPS))


def _changed_at(
    alt: NDArray[Any], ref: NDArray[Any], n_nan: int, lo: NDArray[Any], hi: NDArray[Any], wd: np.dtype[Any]
) -> int:
    """How many elements clamp the rounded ``alt`` and ``ref`` to different codes (NaN in both: same)."""
    moved = alt != ref
    if n_nan:
        moved &= ~np.isnan(ref)
    idx = np.nonzero(moved)  # few: where the two rounded quotients differ
    if not idx[0].size:
        return 0
    shape = moved.shape
    a, b = alt[idx].astype(wd), ref[idx].astype(wd)
    lo_m, hi_m = (np.broadcast_to(v, shape)[idx] for v in (lo, hi))
    return int(np.count_nonzero(np.clip(a, lo_m, hi_m) != np.clip(b, lo_m, hi_m)))


def quantizer_coverage(inputs: Mapping[str, Any], shape: tuple[int, ...]) -> Coverage | None:
    """The coverage of the quantizer arguments in a comparison's ``inputs`` (None without them).

    Keys: ``x``, ``scale``, ``quant_min``, ``quant_max`` (all needed),
    ``zero_point`` (default 0), and the settings ``axis``, ``block_size``,
    ``compute_dtype``. Without ``axis``, ``scale`` and ``zero_point`` are
    per-tensor (one element) or, otherwise, broadcast against ``x``
    element by element.
    """
    if not all(k in inputs for k in QUANTIZER_KEYS):
        return None
    x = np.asarray(inputs["x"])
    if x.shape != shape:
        raise ValueError(f"inputs['x'] must have actual's shape {shape}, got shape {x.shape}")
    s = inputs["scale"]
    z = inputs["zero_point"] if "zero_point" in inputs else np.zeros(np.shape(s), np.int64)
    qmin, qmax = inputs["quant_min"], inputs["quant_max"]
    axis, block = inputs.get("axis"), inputs.get("block_size")
    cd = inputs.get("compute_dtype")
    if axis is None and block is None and (np.size(s) != 1 or np.size(z) != 1) and x.ndim:
        sb, zb = (_broadcast(f"inputs[{k!r}]", v, shape) for k, v in (("scale", s), ("zero_point", z)))
        return coverage(x.reshape(-1), sb, zb, qmin, qmax, axis=0, compute_dtype=cd)
    return coverage(x, s, z, qmin, qmax, axis=axis, block_size=block, compute_dtype=cd)


def _broadcast(name: str, v: Any, shape: tuple[int, ...]) -> NDArray[Any]:
    a = np.asarray(v)
    try:
        return np.broadcast_to(a, shape).reshape(-1)
    except ValueError:
        raise ValueError(
            f"{name} of shape {a.shape} does not broadcast to actual's shape {shape} "
            "(pass axis/block_size in inputs for per-channel or per-block parameters)"
        ) from None


def check_inputs(inputs: Any, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """A comparison's ``inputs`` checked: a mapping of str to arrays that broadcast to ``shape``.

    The settings (``axis``, ``block_size``, ``compute_dtype``) and the code
    range are kept as given; ``scale`` and ``zero_point`` of a quantizer
    with an ``axis``, or of one element, follow quantize's rules (checked by
    :func:`coverage`) instead of broadcasting.
    """
    if inputs is None:
        return None
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a mapping of names to arrays, got {type(inputs).__name__}")
    out: dict[str, Any] = {}
    quantizer = all(k in inputs for k in QUANTIZER_KEYS)
    for k, v in inputs.items():
        if not isinstance(k, str):
            raise TypeError(f"inputs keys must be str, got {k!r}")
        if k in SETTING_KEYS or k in ("quant_min", "quant_max"):
            out[k] = v
            continue
        arr = _asarray(f"inputs[{k!r}]", v)
        if not (quantizer and k in _PARAM_KEYS and ("axis" in inputs or arr.size == 1)):
            try:
                ok = np.broadcast_shapes(arr.shape, shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"inputs[{k!r}] of shape {arr.shape} does not broadcast to actual's shape {shape}"
                )
        out[k] = arr
    return out


def inputs_at(
    index: tuple[int, ...], given: Mapping[str, Any], shape: tuple[int, ...], cov: Coverage | None
) -> dict[str, Any]:
    """Each input's value at element ``index`` (and ``x/scale`` in the compute dtype, for a quantizer)."""
    vals: dict[str, Any] = {}
    for k, v in given.items():
        if k in SETTING_KEYS or (cov is not None and k in ("quant_min", "quant_max")):
            continue
        a = np.asarray(v)
        if cov is not None and k in _PARAM_KEYS:
            vals[k] = _param_at(a, index, given, shape)
        else:
            vals[k] = np.broadcast_to(a, shape)[index] if a.ndim else a[()]
    if cov is not None:
        x, s = np.asarray(vals["x"]), np.asarray(vals["scale"])
        cd = np.dtype(cov.compute_dtype)
        with np.errstate(all="ignore"):
            vals["x/scale"] = np.divide(x.astype(cd), s.astype(cd), dtype=cd)
    return vals


def _param_at(
    p: NDArray[Any], index: tuple[int, ...], given: Mapping[str, Any], shape: tuple[int, ...]
) -> Any:
    """The value of a per-tensor, per-axis, per-block or broadcast parameter at element ``index``."""
    axis, block = given.get("axis"), given.get("block_size")
    if p.size == 1:
        return p.reshape(-1)[0]
    if axis is None:
        return np.broadcast_to(p, shape)[index]
    ax = int(axis) % len(shape)
    if block is None:
        return p.reshape(-1)[index[ax]]
    i = list(index)
    i[ax] //= int(block)
    return p[tuple(i)]
