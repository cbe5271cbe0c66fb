"""Hostile values for testing array functions: plain catalogues and hypothesis strategies.

Every catalogue is a plain function returning a list of :class:`Hostile`
values (deterministic, cheap, fresh objects on every call, so a test may
pass them to the function under test and compare them afterwards); every
strategy draws from the matching catalogue. A test feeds a function one
hostile value at a time and checks that it either returns a defined result
or raises ``ValueError``/``TypeError`` naming the argument and showing the
value (:attr:`Hostile.shows` lists what a message may print for it).

The catalogues live in :mod:`refquant.check.hostile` and
:mod:`refquant.check.hostile_params`, which need NumPy only; this module adds
the hypothesis strategies and hands every name on. By the kind of argument:

==================================  ==================================================
catalogue                           values
==================================  ==================================================
:func:`hostile_float_values`        NaN, ±inf, ±0, the subnormal and normal edges,
                                    values near the dtype's max, 2**31, 2**53, ties
                                    ``k + 0.5``, the float just below 0.5 ...
:func:`hostile_array_cases`         those values placed in an array; empty, 0-d,
                                    Python scalars and lists, read-only, strided and
                                    Fortran-ordered views; float16/32/64, integer,
                                    bool, complex, object and string dtypes
:func:`hostile_scale_cases`         0, negative, NaN, inf, subnormal, huge, strings,
                                    1-element arrays, a wrong shape
:func:`hostile_zero_point_cases`    fractional, out of range, NaN, beyond int64
:func:`hostile_range_cases`         ``quant_min > quant_max``, equal, non-integers,
                                    beyond ±2**53 and beyond every integer dtype
:func:`hostile_amount_cases`        < 0, > 1, NaN, inf, strings, the edges 0 and 1
:func:`hostile_axis_cases`          out of range, non-integers, bools
:func:`hostile_block_size_cases`    0, negative, larger than the dim, huge
:func:`hostile_int_cases`           a bounded integer parameter (bits, counts)
:func:`hostile_choice_cases`        a string option: unknown, empty, None, non-strings
==================================  ==================================================

The strategies (:func:`hostile_floats`, :func:`hostile_arrays`,
:func:`hostile_scales`, ...) draw the ``value`` of those cases; a test that
needs the label and validity draws the cases with
``hypothesis.strategies.sampled_from(catalogue(...))``.

Valid but adversarial inputs, for testing an implementation against refquant
(the tie-dense generators of :mod:`refquant.check.inputs`, keyword-only like
``hypothesis.extra.numpy``): :func:`quantize_arrays` (exact ties, their
neighbours, clamp edges, ±0, subnormals, huge values for a given quantizer),
:func:`quant_params` (valid parameters of an integer format),
:func:`float_formats` and :func:`float_format_arrays` (grids, midpoints,
overflow and subnormal boundaries), :func:`masks`, :func:`nm_patterns`,
:func:`pruning_weights` and :func:`nm_weights` (equal magnitudes at the
pruning threshold).

``hypothesis`` is a test dependency (the ``[check]`` extra): this module imports it, and
``refquant.check`` loads this module only when one of its names is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from refquant.check._strategies_inputs import (
    float_format_arrays,
    float_formats,
    masks,
    nm_patterns,
    nm_weights,
    pruning_weights,
    quant_params,
    quantize_arrays,
)
from refquant.check.hostile import Hostile, hostile_array_cases, hostile_finite_values, hostile_float_values
from refquant.check.hostile_params import (
    hostile_amount_cases,
    hostile_axis_cases,
    hostile_block_size_cases,
    hostile_choice_cases,
    hostile_int_cases,
    hostile_range_cases,
    hostile_scale_cases,
    hostile_zero_point_cases,
)

__all__ = [
    "Hostile",
    "float_format_arrays",
    "float_formats",
    "hostile_amount_cases",
    "hostile_amounts",
    "hostile_array_cases",
    "hostile_arrays",
    "hostile_axes",
    "hostile_axis_cases",
    "hostile_block_size_cases",
    "hostile_block_sizes",
    "hostile_choice_cases",
    "hostile_finite_values",
    "hostile_float_values",
    "hostile_floats",
    "hostile_int_cases",
    "hostile_quant_ranges",
    "hostile_range_cases",
    "hostile_scale_cases",
    "hostile_scales",
    "hostile_zero_point_cases",
    "hostile_zero_points",
    "masks",
    "nm_patterns",
    "nm_weights",
    "pruning_weights",
    "quant_params",
    "quantize_arrays",
]


# --------------------------------------------------------------------------- strategies


def _values(cases: Callable[[], list[Hostile]]) -> st.SearchStrategy[Any]:
    # deferred so that every draw builds fresh objects (views, read-only arrays)
    n = len(cases())
    return st.integers(0, n - 1).map(lambda i: cases()[i].value)


def hostile_floats(
    dtype: Any = np.float64, *, allow_nan: bool = True, allow_infinity: bool = True
) -> st.SearchStrategy[Any]:
    """Strategy of :func:`hostile_float_values`, mixed with arbitrary floats of ``dtype``'s width.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(hostile_floats(np.float32, allow_nan=False))
    ... def test(v):
    ...     assert not np.isnan(v)
    >>> test()
    """
    vals = [
        v
        for v in hostile_float_values(dtype)
        if (allow_nan or not np.isnan(v)) and (allow_infinity or not np.isinf(v))
    ]
    t = np.finfo(dtype).dtype.type
    width: Literal[16, 32, 64] = {16: 16, 32: 32}.get(np.finfo(dtype).bits, 64)  # type: ignore[assignment]
    anyf = st.floats(width=width, allow_nan=allow_nan, allow_infinity=allow_infinity).map(t)
    return st.one_of(st.sampled_from(vals), anyf)


def hostile_arrays(base: Any, **kinds: bool) -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_array_cases` (same keyword arguments).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_arrays(np.ones((2, 3), np.float32)))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_array_cases(np.ones((2, 3), np.float32))}
    >>> test()
    """
    return _values(lambda: hostile_array_cases(base, **kinds))


def hostile_scales(dtype: Any = np.float32, *, shape: tuple[int, ...] = ()) -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_scale_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_scales(np.float32))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_scale_cases(np.float32)}
    >>> test()
    """
    return _values(lambda: hostile_scale_cases(dtype, shape=shape))


def hostile_zero_points(
    quant_min: int, quant_max: int, *, shape: tuple[int, ...] = ()
) -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_zero_point_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_zero_points(0, 255))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_zero_point_cases(0, 255)}
    >>> test()
    """
    return _values(lambda: hostile_zero_point_cases(quant_min, quant_max, shape=shape))


def hostile_quant_ranges(quant_min: int, quant_max: int) -> st.SearchStrategy[Any]:
    """Strategy of the ``(quant_min, quant_max)`` pairs of :func:`hostile_range_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_quant_ranges(0, 255))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_range_cases(0, 255)}
    >>> test()
    """
    return _values(lambda: hostile_range_cases(quant_min, quant_max))


def hostile_amounts() -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_amount_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_amounts())
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_amount_cases()}
    >>> test()
    """
    return _values(hostile_amount_cases)


def hostile_axes(ndim: int) -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_axis_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_axes(2))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_axis_cases(2)}
    >>> test()
    """
    return _values(lambda: hostile_axis_cases(ndim))


def hostile_block_sizes(dim: int) -> st.SearchStrategy[Any]:
    """Strategy of the values of :func:`hostile_block_size_cases`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(hostile_block_sizes(8))
    ... def test(v):  # every draw is one of the catalogue's values
    ...     assert repr(v) in {repr(c.value) for c in hostile_block_size_cases(8)}
    >>> test()
    """
    return _values(lambda: hostile_block_size_cases(dim))
