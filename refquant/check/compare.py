"""Compare an implementation's output with refquant's, exactly: integer codes in LSB, floats in ULP.

* :func:`compare` -- a :class:`Comparison`: how many elements differ, by how
  much at most (an exact integer count of code steps or of representable
  floats), where the worst ones are and, given the inputs, what they were;
* :func:`assert_quantized_equal` and :func:`assert_float_close` -- the same,
  raising ``AssertionError`` with that report beyond a tolerance, in the
  spirit of :mod:`numpy.testing`.

When the ``inputs`` include a quantizer's arguments (``x``, ``scale``,
``zero_point``, ``quant_min``, ``quant_max``), a comparison that passes also
checks that those inputs could have failed it: if no tie reaches the rounding
or no code depends on the op order, it warns with
:class:`~refquant.check.coverage.CoverageWarning` (random normals never hit a
tie, so a kernel that rounds half away from zero passes on them).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import _asarray, check_bool, check_choice, check_int, show_values
from refquant.check._ulp import (
    as_codes,
    as_floats,
    as_grid_values,
    float_diff,
    int_diff,
    resolve_grid,
    worst_positions,
)
from refquant.check.coverage import (
    Coverage,
    CoverageWarning,
    check_inputs,
    inputs_at,
    quantizer_coverage,
)

__all__ = ["Comparison", "Mismatch", "assert_float_close", "assert_quantized_equal", "compare"]

KINDS = ("quantized", "float")


@dataclass(frozen=True)
class Mismatch:
    """One differing element: where it is, both values, the difference and the inputs there.

    ``difference`` is ``actual - expected`` in LSB (codes) or in ULP (signed:
    positive when ``actual`` is the larger), None when exactly one of them is
    NaN. ``actual``/``expected`` are Python ints for codes, NumPy scalars of
    the compared dtype for floats; ``unit`` is ``"LSB"`` or ``"ULP"``;
    ``inputs`` holds the value of each input at this element. ``index`` is
    the multi-dimensional index (``()`` for a 0-d array), ``flat_index`` the
    C-order position.

    Examples
    --------
    >>> print(Mismatch((1, 2), 5, 3, 4, -1, "LSB", {"x": 0.25}))
    [1, 2] (flat 5): actual=3, expected=4, difference -1 LSB; x=0.25
    """

    index: tuple[int, ...]
    flat_index: int
    actual: Any
    expected: Any
    difference: int | None
    unit: str
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = "[" + ", ".join(map(str, self.index)) + "]" if self.index else "()"
        diff = (
            "NaN on one side" if self.difference is None else f"difference {self.difference:+d} {self.unit}"
        )
        text = f"{where} (flat {self.flat_index}): actual={self.actual!s}, expected={self.expected!s}, {diff}"
        if self.inputs:
            text += "; " + ", ".join(f"{k}={v!s}" for k, v in self.inputs.items())
        return text


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`.

    Attributes
    ----------
    kind : str
        ``"quantized"`` (integer codes) or ``"float"``.
    grid : str
        What was counted on: ``"integer codes"``, or the float grid
        (``"float32"``, ``"bfloat16"``, ``"float8_e4m3fn"``, ...).
    shape : tuple of int
        ``actual``'s shape.
    total : int
        Elements compared.
    mismatches : int
        Elements that differ (NaN on one side included; ``+0``/``-0`` and
        NaN/NaN pairs count as equal).
    nan_mismatches : int
        Of those, the ones with NaN on exactly one side (floats only).
    above, below : int
        Non-NaN mismatches with ``actual`` greater / smaller than ``expected``.
    max_error : int
        The largest ``|actual - expected|`` over the non-NaN elements, in LSB
        or ULP: an exact Python int (0 when identical).
    worst : tuple of Mismatch
        Up to ``max_examples`` mismatches: NaN mismatches first, then by
        decreasing distance, ties by increasing flat index.
    signed_zeros : int
        Pairs of ``+0`` and ``-0`` (equal, not mismatches; floats only).
    scalar_expected : bool
        ``expected`` was 0-d and compared with every element.
    coverage : Coverage or None
        What the quantizer inputs could tell apart, when ``inputs`` held them.

    Examples
    --------
    >>> c = compare(np.int8([[1, 2], [3, 4]]), np.int8([[1, 2], [5, 4]]))
    >>> c.identical, c.total, c.mismatches, c.max_lsb, c.below, c.worst[0].index
    (False, 4, 1, 2, 1, (1, 0))
    """

    kind: str
    grid: str
    shape: tuple[int, ...]
    total: int
    mismatches: int
    nan_mismatches: int
    above: int
    below: int
    max_error: int
    worst: tuple[Mismatch, ...] = ()
    signed_zeros: int = 0
    scalar_expected: bool = False
    coverage: Coverage | None = None

    @property
    def unit(self) -> str:
        """``"LSB"`` for codes, ``"ULP"`` for floats."""
        return "LSB" if self.kind == "quantized" else "ULP"

    @property
    def identical(self) -> bool:
        """No element differs."""
        return self.mismatches == 0

    @property
    def max_lsb(self) -> int | None:
        """``max_error`` for codes (None for floats)."""
        return self.max_error if self.kind == "quantized" else None

    @property
    def max_ulp(self) -> int | None:
        """``max_error`` for floats (None for codes)."""
        return self.max_error if self.kind == "float" else None

    def __str__(self) -> str:
        what = "integer codes" if self.kind == "quantized" else f"{self.grid} values"
        head = f"compare: {self.mismatches} of {self.total} {what} differ"
        nan = f"{self.nan_mismatches} with NaN on one side only"
        if self.identical:
            lines = [f"compare: all {self.total} {what} are equal."]
        elif self.mismatches == self.nan_mismatches:
            lines = [f"{head}: {nan}."]
        else:
            extra = f"; {nan}" if self.nan_mismatches else ""
            lines = [
                f"{head}, by at most {self.max_error} {self.unit} "
                f"(actual > expected at {self.above}, < at {self.below}{extra})."
            ]
        if self.scalar_expected and self.shape:
            lines.append("expected is 0-d (shape ()): every element is compared with it.")
        if self.signed_zeros:
            n = self.signed_zeros
            lines.append(f"+0 and -0 count as equal ({n} {'pair' if n == 1 else 'pairs'} of them).")
        if self.coverage is not None and self.coverage.blind_spots:
            c = self.coverage
            lines.append(
                f"Coverage: {c.ties} ties of x/s reach the output; these inputs cannot tell the reference "
                f"from {', '.join(c.blind_spots)}."
            )
        if self.worst:
            lines.append("Worst elements:" if len(self.worst) > 1 else "Worst element:")
            lines += [f"  {m}" for m in self.worst]
        return "\n".join(lines)


def compare(
    actual: ArrayLike,
    expected: ArrayLike,
    *,
    kind: str = "quantized",
    inputs: Mapping[str, Any] | None = None,
    fmt: Any = None,
    max_examples: int = 5,
    check_coverage: bool = True,
) -> Comparison:
    """Count and locate the differences ``actual - expected``, exactly, in LSB or ULP.

    Parameters
    ----------
    actual : array_like, any shape
        The output under test.
    expected : array_like
        The reference output: ``actual``'s shape, or 0-d (compared with every
        element). Other shapes raise ``ValueError``.
    kind : {"quantized", "float"}
        ``"quantized"``: integer codes of any integer dtype (uint64 and int64
        at their limits included), bools as 0/1, or floats holding integers
        (non-integers, NaN and ±inf raise ``ValueError``); the distance is
        ``|a - e|`` in exact integer arithmetic (LSB).
        ``"float"``: float16/32/64 arrays (integers are converted to float64
        when exact); the distance is the number of steps between the two
        values on the grid of ``fmt`` (ULP).
    inputs : mapping of str to array_like, optional
        Shown with each worst element. Each value broadcasts against
        ``actual`` (scalars included), except for the quantizer's arguments:
        with ``x``, ``scale``, ``quant_min``, ``quant_max`` (and optionally
        ``zero_point``, default 0, and the settings ``axis``, ``block_size``,
        ``compute_dtype``) given as to :func:`refquant.quantize`, ``scale``
        and ``zero_point`` follow its granularity rules (or broadcast element
        by element without ``axis``), each worst element also shows
        ``x/scale`` in the compute dtype, and the comparison computes their
        :func:`~refquant.check.coverage.coverage`.
    fmt : str, FloatFormat or dtype, optional
        The float grid (``kind="float"`` only): ``"float16"``, ``"float32"``,
        ``"float64"``, ``"bfloat16"`` (values held in float32 or float64) or
        any :data:`refquant.floats.FLOAT_FORMATS` name or
        :class:`~refquant.floats.FloatFormat` (values held in float32 or
        float64). Default: the narrower dtype of ``actual`` and ``expected``.
        Values off the grid raise ``ValueError`` naming the argument.
    max_examples : int
        How many of the worst mismatches to keep (>= 0).
    check_coverage : bool
        With the quantizer's arguments in ``inputs``: warn
        (:class:`~refquant.check.coverage.CoverageWarning`) when nothing
        differs but the inputs could not have shown a tie-rounding or
        op-order difference (:attr:`Coverage.blind_spots`). False only
        silences the warning: ``Comparison.coverage`` is computed either way.

    Returns
    -------
    Comparison
        Counts, the largest distance (a Python int), the worst elements with
        their flat and multi-dimensional indices and inputs; ``str()`` is a
        readable report.

    Notes
    -----
    Codes: :math:`d = |a - e|`, computed on order keys in uint64 (an int64
    ``v`` has the key ``v + 2**63``), so ``int64`` minimum against maximum is
    ``2**64 - 1`` LSB, exactly.

    Floats: :math:`d = |K(a) - K(e)|` with :math:`K(v) = \\pm M(v)`, the sign
    of ``v`` times its magnitude code (the bit pattern without the sign bit,
    or the code of a low-precision format, :func:`refquant.floats.encode`),
    which counts the grid's values between 0 and ``v``: adjacent values are
    1 ULP apart, ``+0`` and ``-0`` are 0 apart (and equal), ``±inf`` is one
    step beyond the largest finite value, ``-x`` and ``x`` are ``2 M(x)``
    apart. NaN equals NaN (any sign or payload), and NaN against a number is
    a mismatch counted in ``nan_mismatches``, with no distance.

    Cost: one comparison of the bit patterns (or codes) over all elements;
    distances only for the elements that differ; for ``fmt`` a grid, or for
    mixed dtypes, a check that every value is on the grid (bit operations
    over cache-sized chunks).

    Source: the ULP as the count of representable values between two floats
    (``numpy.testing.assert_array_max_ulp``'s ``nulp``, made exact across
    signs, for NaN and on the low-precision grids of :mod:`refquant.floats`).

    Examples
    --------
    >>> c = compare([3, -128, 7, 0], [3, 127, 6, 0])
    >>> c.mismatches, c.max_lsb, [m.index for m in c.worst]
    (2, 255, [(1,), (2,)])
    >>> print(compare([[0, 1], [2, 3]], [[0, 1], [2, 4]], inputs={"x": [[0.0, 0.5], [1.0, 1.5]]}))
    compare: 1 of 4 integer codes differ, by at most 1 LSB (actual > expected at 0, < at 1).
    Worst element:
      [1, 1] (flat 3): actual=3, expected=4, difference -1 LSB; x=1.5

    Floats: 1.0 and 1 + 2**-23 are adjacent float32 values; 1.0 and 1.25 are
    two steps apart on float8_e4m3fn's grid (steps of 0.125 in [1, 2)):

    >>> compare(np.float32([1.0, 1.0]), np.float32([1.0, 1.0000001]), kind="float").max_ulp
    1
    >>> compare([1.0, -0.0], [1.25, 0.0], kind="float", fmt="float8_e4m3fn").max_ulp
    2
    """
    check_bool("check_coverage", check_coverage)
    comparison, _ = _compare(actual, expected, kind, inputs, fmt, max_examples)
    if check_coverage and comparison.identical:
        _warn(comparison.coverage, stacklevel=3)
    return comparison


def assert_quantized_equal(
    actual: ArrayLike,
    expected: ArrayLike,
    *,
    max_lsb: int = 0,
    inputs: Mapping[str, Any] | None = None,
    max_examples: int = 5,
    check_coverage: bool = True,
    err_msg: str = "",
) -> Comparison:
    """Raise ``AssertionError`` when some code differs by more than ``max_lsb``: ``|a - e| <= max_lsb``.

    Parameters
    ----------
    actual, expected, inputs, max_examples, check_coverage
        As :func:`compare` with ``kind="quantized"``; the coverage warning is
        given when the assertion passes.
    max_lsb : int
        Largest allowed ``|actual - expected|`` (>= 0; default 0: equal).
    err_msg : str
        Printed before the report, as in :mod:`numpy.testing`.

    Returns
    -------
    Comparison
        When the assertion passes.

    Raises
    ------
    AssertionError
        With the :class:`Comparison`'s report as the message.

    Notes
    -----
    Same exact arithmetic as :func:`compare`; argument errors (shapes,
    dtypes, non-integral codes) raise ``ValueError``/``TypeError``, not
    ``AssertionError``.

    Examples
    --------
    >>> assert_quantized_equal([1, 2, 3], [1, 2, 4], max_lsb=1).max_lsb
    1
    >>> assert_quantized_equal([1, 2, 3], [1, 2, 5], max_lsb=1)
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 3 elements differ by more than max_lsb=1 LSB
    compare: 1 of 3 integer codes differ, by at most 2 LSB (actual > expected at 0, < at 1).
    Worst element:
      [2] (flat 2): actual=3, expected=5, difference -2 LSB
    """
    tol = _tolerance("max_lsb", max_lsb)
    comparison, dist = _compare(actual, expected, "quantized", inputs, None, max_examples)
    _finish(comparison, dist, tol, "max_lsb", err_msg, check_coverage)
    return comparison


def assert_float_close(
    actual: ArrayLike,
    expected: ArrayLike,
    *,
    max_ulp: int = 0,
    fmt: Any = None,
    inputs: Mapping[str, Any] | None = None,
    max_examples: int = 5,
    check_coverage: bool = True,
    err_msg: str = "",
) -> Comparison:
    """Raise ``AssertionError`` when some value is more than ``max_ulp`` grid steps away, or NaN on one side.

    Parameters
    ----------
    actual, expected, fmt, inputs, max_examples, check_coverage
        As :func:`compare` with ``kind="float"``.
    max_ulp : int
        Largest allowed distance in ULP on ``fmt``'s grid (>= 0; default 0:
        equal, with ``+0 == -0`` and ``NaN == NaN``).
    err_msg : str
        Printed before the report.

    Returns
    -------
    Comparison
        When the assertion passes.

    Raises
    ------
    AssertionError
        With the :class:`Comparison`'s report as the message.

    Notes
    -----
    Unlike ``numpy.testing.assert_array_max_ulp``, which counts through the
    bit pattern of a NaN and wraps for opposite signs far apart, NaN against
    a number always fails and distances are exact on every grid.

    Examples
    --------
    >>> x = np.float32([1.0, 2.0])
    >>> assert_float_close(x, np.nextafter(x, np.float32(3)), max_ulp=1).max_ulp
    1
    >>> assert_float_close(np.float32([1.0, np.nan]), np.float32([1.0, 1.0]), max_ulp=4)
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 2 elements differ by more than max_ulp=4 ULP (or are NaN on one side)
    compare: 1 of 2 float32 values differ: 1 with NaN on one side only.
    Worst element:
      [1] (flat 1): actual=nan, expected=1.0, NaN on one side
    """
    tol = _tolerance("max_ulp", max_ulp)
    comparison, dist = _compare(actual, expected, "float", inputs, fmt, max_examples)
    _finish(comparison, dist, tol, "max_ulp", err_msg, check_coverage)
    return comparison


# --------------------------------------------------------------------------- internals


def _tolerance(name: str, value: Any) -> int:
    v = check_int(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def _finish(
    c: Comparison, dist: NDArray[Any], tol: int, name: str, err_msg: str, check_coverage: Any
) -> None:
    check_bool("check_coverage", check_coverage)
    if not isinstance(err_msg, str):
        raise TypeError(f"err_msg must be a str, got {err_msg!r}")
    over = int(np.count_nonzero(dist > tol)) + c.nan_mismatches
    if over:
        nan = " (or are NaN on one side)" if c.kind == "float" else ""
        head = f"{over} of {c.total} elements differ by more than {name}={tol} {c.unit}{nan}"
        raise AssertionError("\n".join(p for p in (err_msg, head, str(c)) if p))
    if check_coverage:
        _warn(c.coverage, stacklevel=4)


def _warn(cov: Coverage | None, stacklevel: int) -> None:
    if cov is None or not cov.blind_spots:
        return
    warnings.warn(
        CoverageWarning(
            f"the comparison passed, but its inputs could not have caught a difference in "
            f"{', '.join(cov.blind_spots)}: {cov.ties} of {cov.total} quotients x/s are ties k + 0.5 "
            f"reaching the output, and {cov.changes.get('op_order=multiply', 0)} codes depend on the op "
            "order. Compare on tie-dense inputs as well (x = (k + 0.5) * scale and its neighbours); "
            "pass check_coverage=False to silence this."
        ),
        stacklevel=stacklevel,
    )


def _compare(
    actual: Any, expected: Any, kind: Any, inputs: Any, fmt: Any, max_examples: Any
) -> tuple[Comparison, NDArray[Any]]:
    check_choice("kind", kind, KINDS)
    n_examples = check_int("max_examples", max_examples)
    if n_examples < 0:
        raise ValueError(f"max_examples must be >= 0, got {n_examples}")
    a, e = _asarray("actual", actual), _asarray("expected", expected)
    if e.shape != a.shape and e.ndim != 0:
        raise ValueError(
            f"expected must have actual's shape {a.shape} (or be 0-d), got shape {e.shape} "
            f"(actual {show_values(a)}, expected {show_values(e)})"
        )
    shape = a.shape
    given = check_inputs(inputs, shape)
    if kind == "quantized":
        if fmt is not None:
            raise ValueError(f"fmt applies to kind='float' only, got fmt={fmt!r} with kind='quantized'")
        res = int_diff(as_codes("actual", a), as_codes("expected", e), shape)
        grid = "integer codes"
    else:
        af, ef = as_floats("actual", a), as_floats("expected", e)
        g = resolve_grid(fmt, af.dtype, ef.dtype)
        res = float_diff(as_grid_values("actual", af, g), as_grid_values("expected", ef, g), shape, g)
        grid = g.name
    idx, dist, above, nan_idx, signed_zeros, pick = res
    cov = None
    if given is not None:
        try:
            cov = quantizer_coverage(given, shape)
        except (ValueError, TypeError) as err:
            raise type(err)(f"inputs: {err}") from None
    worst = worst_positions(idx, dist, nan_idx, n_examples)
    unit = "LSB" if kind == "quantized" else "ULP"
    examples = []
    for f, j in worst:
        va, ve, d = pick(j)
        index = tuple(int(i) for i in np.unravel_index(f, shape))
        examples.append(Mismatch(index, int(f), va, ve, d, unit))
    if given:
        examples = [
            Mismatch(
                m.index,
                m.flat_index,
                m.actual,
                m.expected,
                m.difference,
                m.unit,
                inputs_at(m.index, given, shape, cov),
            )
            for m in examples
        ]
    comparison = Comparison(
        kind=kind,
        grid=grid,
        shape=shape,
        total=int(a.size),
        mismatches=int(idx.size + nan_idx.size),
        nan_mismatches=int(nan_idx.size),
        above=int(np.count_nonzero(above)),
        below=int(idx.size - np.count_nonzero(above)),
        max_error=int(dist.max()) if dist.size else 0,
        worst=tuple(examples),
        signed_zeros=signed_zeros,
        scalar_expected=e.ndim == 0,
        coverage=cov,
    )
    return comparison, dist
