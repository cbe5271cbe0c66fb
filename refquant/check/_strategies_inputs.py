"""Hypothesis strategies over the tie-dense generators of :mod:`refquant.check.inputs`.

Re-exported by :mod:`refquant.check.strategies` (import them from there).
Keyword-only, like ``hypothesis.extra.numpy``: a ``shape`` (and the
quantizer's parameters) may be a value or a strategy.

A user's test of their own quantizer against refquant, five lines:

>>> import refquant
>>> from hypothesis import given, settings
>>> from refquant.check.strategies import quantize_arrays
>>> def my_quantize(x, s):  # the kernel under test: divides, rounds half to even, clips
...     return np.clip(np.rint(x / np.float32(s)), -128, 127).astype(np.int8)
>>> @settings(max_examples=20)
... @given(quantize_arrays(scale=0.1, zero_point=0, quant_min=-128, quant_max=127, shape=64))
... def test_my_quantize(x):
...     with np.errstate(over="ignore"):  # the draws include huge values
...         np.testing.assert_array_equal(my_quantize(x, 0.1), refquant.quantize(x, 0.1, 0, -128, 127))
>>> test_my_quantize()
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal, TypeVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray

from refquant._validate import FLOAT_DTYPES, as_dtype, check_bool, check_int, normalize_axis
from refquant.check.inputs import cast_input_classes, mask_inputs, nm_inputs, quantize_input_classes
from refquant.floats.spec import FLOAT_FORMATS, float_format
from refquant.formats import INT_FORMATS, IntFormat, int_format
from refquant.qparams import QParams

__all__ = [
    "float_format_arrays",
    "float_formats",
    "masks",
    "nm_patterns",
    "nm_weights",
    "pruning_weights",
    "quant_params",
    "quantize_arrays",
]

T = TypeVar("T")
_SCALES = (1.0, 0.5, 0.1, 1 / 3, 0.00214854861, 2.0**-20, 7.0, 1e-3)


def _strategy(v: Any) -> st.SearchStrategy[Any]:
    return v if isinstance(v, st.SearchStrategy) else st.just(v)


def _width(dt: np.dtype[Any]) -> Literal[16, 32, 64]:
    return {2: 16, 4: 32}.get(dt.itemsize, 64)  # type: ignore[return-value]


@functools.lru_cache(maxsize=256)
def _quantize_pool(s: float, z: int, qmin: int, qmax: int, dt: str, nan: bool, inf: bool) -> tuple[Any, ...]:
    classes = quantize_input_classes(s, z, qmin, qmax, dtype=dt, nan=nan, inf=inf)
    return tuple(np.concatenate(list(classes.values())).tolist())


def _quantize_elements(
    s: float, z: int, qmin: int, qmax: int, dt: np.dtype[Any], nan: bool, inf: bool
) -> Any:
    pool = _quantize_pool(s, z, qmin, qmax, dt.name, nan, inf)
    top = float(np.finfo(dt).max)
    sd = float(dt.type(s))
    lo, hi = (float(dt.type(np.clip((e) * sd, -top, top))) for e in (qmin - z - 2, qmax - z + 2))
    anyf = st.floats(min(lo, hi), max(lo, hi), width=_width(dt), allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(pool), anyf)


def quantize_arrays(
    *,
    scale: Any,
    zero_point: Any,
    quant_min: Any,
    quant_max: Any,
    shape: Any,
    dtype: Any = np.float32,
    axis: int | None = None,
    nan: bool = False,
    inf: bool = False,
) -> st.SearchStrategy[NDArray[Any]]:
    """Arrays of ``dtype`` drawn from the classes of :func:`refquant.check.inputs.quantize_input_classes`.

    Parameters
    ----------
    scale, zero_point, quant_min, quant_max
        The quantizer (values or strategies; validated as in ``quantize_input_classes``).
        With ``axis``: ``scale`` and ``zero_point`` may have one value per channel.
    shape : int, tuple of int, or a strategy of them
        The arrays' shape; with ``axis``, ``shape[axis]`` must equal the number of channels.
    dtype : float16, float32 or float64
        The arrays' dtype, and the compute dtype the ties are exact in.
    axis : int, optional
        Per-channel: the elements of channel ``c`` (index ``c`` along ``axis``) come from
        the classes of ``scale[c]``, ``zero_point[c]``.
    nan, inf : bool
        Allow NaN and ±inf.

    Returns
    -------
    SearchStrategy of ndarray
        Every element is one of the class values (exact ties and their
        neighbours, the grid, the clamp edges, ±0, subnormals, huge values) or
        a float of ``[(quant_min - z - 2) s, (quant_max - z + 2) s]``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(quantize_arrays(scale=0.1, zero_point=3, quant_min=0, quant_max=255, shape=(2, 8)))
    ... def test(x):
    ...     assert x.shape == (2, 8) and x.dtype == np.float32 and not np.isnan(x).any()
    >>> test()
    """
    dt = as_dtype("dtype", dtype, FLOAT_DTYPES)
    nan_, inf_ = check_bool("nan", nan), check_bool("inf", inf)
    ax = None if axis is None else check_int("axis", axis)

    @st.composite
    def draw_array(draw: st.DrawFn) -> NDArray[Any]:
        s = np.asarray(draw(_strategy(scale)), np.float64).ravel()
        z = np.asarray(draw(_strategy(zero_point)), np.int64).ravel()
        qmin, qmax = int(draw(_strategy(quant_min))), int(draw(_strategy(quant_max)))
        shp = draw(_strategy(shape))
        shp = (shp,) if isinstance(shp, (int, np.integer)) else tuple(shp)
        if ax is None:
            quantize_input_classes(s, z, qmin, qmax, dtype=dt)  # validates
            elems = _quantize_elements(float(s[0]), int(z[0]), qmin, qmax, dt, nan_, inf_)
            return draw(hnp.arrays(dt, shp, elements=elems))
        a = normalize_axis("axis", ax, len(shp))
        c = shp[a]
        s, z = np.broadcast_to(s, (c,)), np.broadcast_to(z, (c,))
        rest = shp[:a] + shp[a + 1 :]
        cols = []
        for i in range(c):
            quantize_input_classes(s[i], z[i], qmin, qmax, dtype=dt)
            elems = _quantize_elements(float(s[i]), int(z[i]), qmin, qmax, dt, nan_, inf_)
            cols.append(draw(hnp.arrays(dt, rest, elements=elems)))
        if not cols:
            return np.zeros(shp, dt)
        return np.ascontiguousarray(np.stack(cols, axis=a))

    return draw_array()


def quant_params(
    *,
    format: Any = "int8",
    narrow_range: Any = False,
    dtype: Any = np.float32,
    channels: int | None = None,
) -> st.SearchStrategy[QParams]:
    """Valid :class:`~refquant.qparams.QParams` of an integer format: awkward scales, edge zero points.

    Parameters
    ----------
    format : str, IntFormat, None, or a strategy of them
        A name of :data:`refquant.formats.INT_FORMATS` or an ``IntFormat``; None draws a named format.
    narrow_range : bool or a strategy of bools
        Drop the lowest code.
    dtype : float16, float32 or float64
        The dtype of the scales.
    channels : int, optional
        None: 0-d ``scale`` and ``zero_point``; else ``(channels,)`` arrays, ``1 <= channels <= 1024``.

    Returns
    -------
    SearchStrategy of QParams
        ``scale`` among the fixed awkward scales (``0.1``, ``1/3``,
        ``0.00214854861``, powers of two, ...) or any float in ``[2**-20, 2**10]``
        (``[2**-14, 2**8]`` in float16, the fixed ones too), whose reciprocal is
        finite in ``dtype``;
        ``zero_point`` among ``quant_min``, ``quant_max``, 0, the middle code,
        or any code of the range.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(quant_params(format="uint4"))
    ... def test(p):
    ...     assert (p.quant_min, p.quant_max) == (0, 15) and 0 <= p.zero_point <= 15 and p.scale > 0
    >>> test()
    """
    dt = as_dtype("dtype", dtype, FLOAT_DTYPES)
    if channels is not None:
        n = check_int("channels", channels)
        if not 1 <= n <= 1024:
            raise ValueError(f"channels must lie in [1, 1024], got {channels}")
    lo_s, hi_s = (2.0**-14, 2.0**8) if dt == np.float16 else (2.0**-20, 2.0**10)
    scales = st.one_of(
        st.sampled_from([v for v in _SCALES if lo_s <= v <= hi_s]),
        st.floats(lo_s, hi_s, width=_width(dt)),
    ).map(lambda v: float(dt.type(v)))

    @st.composite
    def draw_params(draw: st.DrawFn) -> QParams:
        f = draw(_strategy(format) if format is not None else st.sampled_from(sorted(INT_FORMATS)))
        f = f if isinstance(f, IntFormat) else int_format(f)
        if check_bool("narrow_range", draw(_strategy(narrow_range))):
            f = IntFormat(f.bits, f.signed, True)
        lo, hi = f.qmin, f.qmax
        zps = st.one_of(
            st.sampled_from(sorted({lo, hi, min(max(0, lo), hi), (lo + hi) // 2})), st.integers(lo, hi)
        )
        if channels is None:
            return QParams(np.array(draw(scales), dt), np.array(draw(zps), np.int64), lo, hi)
        s = np.array([draw(scales) for _ in range(channels)], dt)
        z = np.array([draw(zps) for _ in range(channels)], np.int64)
        return QParams(s, z, lo, hi)

    return draw_params()


def float_formats() -> st.SearchStrategy[str]:
    """The names of :data:`refquant.floats.FLOAT_FORMATS`.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(float_formats())
    ... def test(name):
    ...     assert name in refquant.floats.FLOAT_FORMATS
    >>> import refquant.floats
    >>> test()
    """
    return st.sampled_from(sorted(FLOAT_FORMATS))


@functools.lru_cache(maxsize=64)
def _cast_pool(fmt: Any, dt: str, nan: bool, inf: bool) -> tuple[float, ...]:
    classes = cast_input_classes(fmt, dtype=dt, nan=nan, inf=inf)
    return tuple(np.concatenate(list(classes.values())).tolist())


def float_format_arrays(
    fmt: Any, *, shape: Any, dtype: Any = np.float32, nan: bool = False, inf: bool = False
) -> st.SearchStrategy[NDArray[Any]]:
    """Arrays of ``dtype`` drawn from the classes of :func:`refquant.check.inputs.cast_input_classes`.

    Parameters
    ----------
    fmt : str, FloatFormat, or a strategy of them (e.g. :func:`float_formats`)
        The float format the arrays are cast to.
    shape : int, tuple of int, or a strategy of them
    dtype : float32 or float64
        The source dtype (float64 adds the double-rounding values).
    nan, inf : bool
        Allow NaN and ±inf.

    Returns
    -------
    SearchStrategy of ndarray
        Every element is a grid value, a midpoint, one ulp beside a midpoint,
        an overflow or subnormal-boundary value, ±0, a huge value, or a float
        within twice the format's largest value.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(float_format_arrays("float8_e4m3fn", shape=16))
    ... def test(x):
    ...     assert x.shape == (16,) and np.isfinite(x).all()
    >>> test()
    """
    dt = as_dtype("dtype", dtype, ("float32", "float64"))
    nan_, inf_ = check_bool("nan", nan), check_bool("inf", inf)

    @st.composite
    def draw_array(draw: st.DrawFn) -> NDArray[Any]:
        f = float_format(draw(_strategy(fmt)))
        shp = draw(_strategy(shape))
        top = float(dt.type(min(2 * f.max_finite, float(np.finfo(dt).max))))
        anyf = st.floats(-top, top, width=_width(dt), allow_nan=False, allow_infinity=False)
        elems = st.one_of(st.sampled_from(_cast_pool(f, dt.name, nan_, inf_)), anyf)
        return draw(hnp.arrays(dt, shp, elements=elems))

    return draw_array()


def _shape_of(draw: st.DrawFn, shape: Any) -> tuple[int, ...]:
    shp = draw(_strategy(shape))
    return (int(shp),) if isinstance(shp, (int, np.integer)) else tuple(int(d) for d in shp)


def masks(shape: Any, *, sparsity: float | None = None) -> st.SearchStrategy[NDArray[np.bool_]]:
    """Boolean masks (``True`` = kept) of ``shape``, all-kept and all-pruned included.

    Parameters
    ----------
    shape : int, tuple of int, or a strategy of them
    sparsity : float, optional
        None: any mask. A fraction in ``[0, 1]``: exactly ``round(sparsity * size)``
        entries pruned (Python's ``round``, half to even).

    Returns
    -------
    SearchStrategy of ndarray of bool
        Drawn from integer keys, the lowest keys pruned (lowest index first on
        equal keys), so that a mask shrinks towards pruning the first entries.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(masks((4, 5), sparsity=0.5))
    ... def test(m):
    ...     assert m.dtype == bool and int((~m).sum()) == 10
    >>> test()
    """
    if sparsity is not None and not (isinstance(sparsity, (float, int)) and 0 <= sparsity <= 1):
        raise ValueError(f"sparsity must be None or a fraction in [0, 1], got {sparsity!r}")

    @st.composite
    def draw_mask(draw: st.DrawFn) -> NDArray[np.bool_]:
        shp = _shape_of(draw, shape)
        if sparsity is None:
            return draw(hnp.arrays(np.bool_, shp))
        size = math.prod(shp)
        k = round(sparsity * size)
        keys = draw(hnp.arrays(np.int64, shp, elements=st.integers(0, 255))).ravel()
        keep = np.ones(size, bool)
        keep[np.argsort(keys, kind="stable")[:k]] = False
        return keep.reshape(shp)

    return draw_mask()


def nm_patterns(n: int, m: int, *, shape: Any, axis: int = -1) -> st.SearchStrategy[NDArray[np.bool_]]:
    """Boolean N:M masks: exactly ``n`` kept (``True``) in every ``m`` consecutive entries along ``axis``.

    Parameters
    ----------
    n, m : int
        ``0 <= n <= m``, ``m >= 1`` ("2:4" is ``n=2, m=4``, as :func:`refquant.prune.nm_mask`).
    shape : int, tuple of int, or a strategy of them
        ``ndim >= 1``.
    axis : int
        The axis of the groups.

    Returns
    -------
    SearchStrategy of ndarray of bool
        A tail of ``r < m`` entries at the end of the axis keeps ``min(n, r)``
        (``tail="pad"`` of ``nm_mask``).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(nm_patterns(2, 4, shape=(3, 8)))
    ... def test(mask):
    ...     assert (mask.reshape(3, 2, 4).sum(axis=-1) == 2).all()
    >>> test()
    """
    nn, mm = check_int("n", n), check_int("m", m)
    if not (mm >= 1 and 0 <= nn <= mm):
        raise ValueError(f"n and m must satisfy 0 <= n <= m and m >= 1, got n={n}, m={m}")

    @st.composite
    def draw_mask(draw: st.DrawFn) -> NDArray[np.bool_]:
        shp = _shape_of(draw, shape)
        ax = normalize_axis("axis", axis, len(shp))
        keys = draw(hnp.arrays(np.int64, shp, elements=st.integers(0, mm)))
        k = np.moveaxis(keys, ax, -1)
        length = k.shape[-1]
        keep = np.ones(k.shape, bool)
        for start in range(0, length, mm):
            g = k[..., start : start + mm]
            rank = np.argsort(np.argsort(g, axis=-1, kind="stable"), axis=-1, kind="stable")
            keep[..., start : start + mm] = rank >= g.shape[-1] - min(nn, g.shape[-1])
        return np.ascontiguousarray(np.moveaxis(keep, -1, ax))

    return draw_mask()


def pruning_weights(
    shape: Any, *, levels: int = 4, axis: int | None = None, dtype: Any = np.float32
) -> st.SearchStrategy[NDArray[Any]]:
    """Weights of :func:`refquant.check.inputs.mask_inputs` (many equal magnitudes, ±0) from drawn seeds.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(pruning_weights((4, 6), levels=2))
    ... def test(w):
    ...     assert set(np.abs(w).ravel().tolist()) <= {0.0, 0.125, 0.25}
    >>> test()
    """

    @st.composite
    def draw_weights(draw: st.DrawFn) -> NDArray[Any]:
        shp = _shape_of(draw, shape)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return mask_inputs(shp, rng=rng, levels=levels, axis=axis, dtype=dtype)

    return draw_weights()


def nm_weights(
    n: int, m: int, *, shape: Any, axis: int = -1, dtype: Any = np.float32
) -> st.SearchStrategy[NDArray[Any]]:
    """Weights of :func:`refquant.check.inputs.nm_inputs` (a tie across every group's keep boundary).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5)
    ... @given(nm_weights(2, 4, shape=(3, 8)))
    ... def test(w):
    ...     g = np.sort(np.abs(w).reshape(3, 2, 4), axis=-1)
    ...     assert (g[..., 1] == g[..., 2]).all()
    >>> test()
    """

    @st.composite
    def draw_weights(draw: st.DrawFn) -> NDArray[Any]:
        shp = _shape_of(draw, shape)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return nm_inputs(shp, n, m, rng=rng, axis=axis, dtype=dtype)

    return draw_weights()
