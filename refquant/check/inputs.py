"""Tie-dense inputs for testing an implementation against refquant: plain NumPy functions.

Random data almost never lands on the values where implementations differ:
the exact ties ``x / s = k + 0.5`` (the rounding mode), the values where
``x / s`` and ``x * fl(1/s)`` round differently (the op order), the clamp
edges (the zero point and the clamp order), the float just below 0.5
(``floor(y + 0.5)`` rounds it up), the midpoints of a float format's grid
(the cast's rounding), equal magnitudes at a pruning threshold (the tie
policy). These functions return exactly those values, for *your* quantizer's
parameters:

==============================  ===================================================================
function                        values
==============================  ===================================================================
:func:`quantize_inputs`         exact ties of ``x/s``, ``x*fl(1/s)`` and ``fma(x, fl(1/s), z)``, one
                                ulp around each, the grid, the clamp edges, 0.49999997, ±0,
                                subnormals, huge values, random fill (per-tensor or per-axis)
:func:`quantize_input_classes`  the same, deterministic, as a dict of named classes
:func:`cast_inputs`             every midpoint of a float format's grid and one ulp around it, the
                                overflow threshold, the subnormal boundary, double-rounding traps
:func:`cast_input_classes`      the same, deterministic, as a dict of named classes
:func:`mask_inputs`             weights with many exactly equal magnitudes and ±0 (also per slice)
:func:`nm_inputs`               weights with a tie across the keep boundary of every N:M group
:func:`quant_params`            valid (scale, zero point, range) of an integer format
:func:`awkward_scales`          scales with inexact reciprocals over many binades, and exact ones
==============================  ===================================================================

Everything random takes an explicit ``rng`` (:class:`numpy.random.Generator`);
the ``*_classes`` functions need none. NaN and ±inf appear only on request
(``nan=True``, ``inf=True``). NumPy only: the hypothesis strategies built on
these are in :mod:`refquant.check.strategies`.

Example: a hand-written int8 kernel that multiplies by a float32 ``1/s`` and
rounds half away from zero agrees with refquant on 100,000 random normals,
and not on the tie-dense inputs. A user's test is the last three lines:

>>> import refquant
>>> def my_quantize(x, s):  # the kernel under test
...     with np.errstate(over="ignore"):
...         y = x * np.float32(1 / np.float32(s))
...     return np.clip(np.trunc(y + np.copysign(np.float32(0.5), y)), -128, 127).astype(np.int8)
>>> normals = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
>>> int(np.sum(my_quantize(normals, 0.1) != refquant.quantize(normals, 0.1, 0, -128, 127)))
0
>>> def test_my_quantize():
...     x = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(0))
...     np.testing.assert_array_equal(my_quantize(x, 0.1), refquant.quantize(x, 0.1, 0, -128, 127))
>>> test_my_quantize()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: ...
Mismatched elements: ...
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import (
    FLOAT_DTYPES,
    as_dtype,
    as_float_array,
    as_int_array,
    check_bool,
    check_int,
    check_range,
    check_scale,
    check_scale_cast,
    check_zero_point,
    show_values,
)
from refquant.check import _inputs_ties as ties
from refquant.check._inputs_formats import cast_input_classes, cast_inputs
from refquant.check._inputs_masks import check_generator, mask_inputs, nm_inputs
from refquant.formats import INT_FORMATS, IntFormat, int_format
from refquant.qparams import QParams

__all__ = [
    "awkward_scales",
    "cast_input_classes",
    "cast_inputs",
    "mask_inputs",
    "nm_inputs",
    "quant_params",
    "quantize_input_classes",
    "quantize_inputs",
]

#: Largest ``count`` (values per channel) the generators accept.
MAX_COUNT = 2**24
_MAX_CODES = 2**22
_FIXED_SCALES = (1.0, 0.5, 0.1, 1 / 3, 0.00214854861, 2.0**-20, 7.0, 1e-3)


def quantize_input_classes(
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    dtype: Any = np.float32,
    codes: ArrayLike | None = None,
    nan: bool = False,
    inf: bool = False,
) -> dict[str, NDArray[Any]]:
    """The adversarial values of one quantizer ``clip(R(x/s) + z, quant_min, quant_max)``, by class.

    Parameters
    ----------
    scale : float or array_like of one element
        ``s > 0``, finite; rounded to ``dtype`` first (as :func:`refquant.quantize` does).
    zero_point : int or array_like of one element
        ``z``, an integer in ``[quant_min, quant_max]``.
    quant_min, quant_max : int
        The code range, ``quant_min < quant_max`` (within ``±2**53``).
    dtype : float16, float32 or float64
        The dtype of ``x`` and of the computation ``x / s`` (the compute dtype).
    codes : array_like of int, optional
        The ``k`` whose ties ``k + 0.5`` are searched (any integers, at most
        ``2**22``). Default: every ``k`` in ``[quant_min - z - 2, quant_max - z
        + 1]`` when there are at most 4096 of them, else the 256 at each end,
        those in ``[-256, 256)`` and ``±2**i + {-1, 0, 1}``.
    nan, inf : bool
        Include NaN and -NaN, and ±inf (classes ``"nan"``, ``"inf"``; empty otherwise).

    Returns
    -------
    dict of str to 1-D ndarray of ``dtype``
        In this order (each class sorted, duplicates removed, except ``"zeros"``):

        ================  ======================================================================
        class             values
        ================  ======================================================================
        ``zeros``         ``0.0``, ``-0.0``
        ``subnormals``    ± the smallest and the largest subnormal, ± the smallest normal
        ``huge``          ``±2**{24, 31, 32, 53, 63, 64} * s`` where finite (integer-cast wrap
                          points), ``±max``, ``±max/2``
        ``clamp_edges``   ``(e + d) * s`` for ``e`` in ``quant_min - z``, ``quant_max - z`` and
                          ``d`` in -2, -1, -0.5, 0, 0.5, 1, 2; one ulp either side of ``e * s``
                          (those finite in ``dtype``)
        ``below_half``    ``x`` with ``fl(x/s)`` or ``fl(x*fl(1/s))`` equal to ``±0.49999997``
                          (the float just below 0.5, where ``floor(y + 0.5)`` gives 1)
        ``tie_divide``    the smallest and largest ``x`` with ``fl(x / s) == k + 0.5``, for each
                          code ``k`` that has one
        ``tie_multiply``  ``x`` with ``fl(x * fl(1/s)) == k + 0.5`` (PyTorch's op order)
        ``tie_fused``     ``x`` with ``fma(x, fl(1/s), z) == k + z + 0.5`` (float32 only, as
                          PyTorch's ``quantize_per_tensor``)
        ``near_tie``      one ulp below the smallest and above the largest ``x`` of each tie
        ``grid``          ``fl(k * s)``, the dequantized grid
        ``nan``, ``inf``  on request
        ================  ======================================================================

    Notes
    -----
    For a target ``t = k + 0.5`` (exact in ``dtype``: ``|2k + 1| < 2**p``,
    ``p`` the precision) the ``x`` of ``dtype`` with ``fl(x/s) = t`` form an
    interval, possibly empty: the quotient is monotone in ``x`` and so is
    rounding. Its ends are the first ``x`` with ``fl(x/s) >= t`` and the last
    with ``fl(x/s) <= t``, found by a search over the floats in order (doubling
    steps from ``fl((k + 0.5) s)``, then bisection), so they are exact even
    when the interval is wide (the fused ties near ``k = 0`` with a large
    ``z``); the same for ``fl(x * fl(1/s))`` from ``fl(t / fl(1/s))``. Where
    the interval is empty (``x``'s spacing is coarser than ``t``'s rounding
    interval) the code has no exact tie in that op order, and only its
    ``near_tie`` values appear. ``fl(x/s)`` and ``fl(x*fl(1/s))`` differ on
    some of these ``x``: that is where the op order shows. ``fl`` rounds to
    nearest even in ``dtype`` (NumPy's arithmetic; the FMA is
    :func:`refquant._exact.fma_float32`). Deterministic; inputs are not
    modified.

    Examples
    --------
    >>> c = quantize_input_classes(0.1, 0, -128, 127)
    >>> x = c["tie_divide"][c["tie_divide"] > 12.7][:2]
    >>> x.tolist(), (x / np.float32(0.1)).tolist()
    ([12.75, 12.850000381469727], [127.5, 128.5])
    >>> c["below_half"].tolist()
    [-0.04999999701976776, 0.04999999701976776]
    """
    s, z, qmin, qmax, dt = _quantizer(scale, zero_point, quant_min, quant_max, dtype, per_axis=False)
    nan_, inf_ = check_bool("nan", nan), check_bool("inf", inf)
    k = _codes(codes, (qmin - int(z[0]) - 2, qmax - int(z[0]) + 1), dt)
    return ties.quantize_classes(s[0], int(z[0]), qmin, qmax, dt, k, nan_, inf_)


def quantize_inputs(
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    rng: np.random.Generator,
    dtype: Any = np.float32,
    count: int | None = None,
    axis: int | None = None,
    codes: ArrayLike | None = None,
    nan: bool = False,
    inf: bool = False,
) -> NDArray[Any]:
    """Tie-dense inputs ``x`` for the quantizer ``clip(R(x/s) + z, quant_min, quant_max)``.

    Parameters
    ----------
    scale : float or array_like of float
        ``s > 0``, finite (rounded to ``dtype``): one element, or shape ``(C,)`` with ``axis``.
    zero_point : int or array_like of int
        In ``[quant_min, quant_max]``: one element, or shape ``(C,)`` with ``axis``.
    quant_min, quant_max : int
        The code range, ``quant_min < quant_max`` (within ``±2**53``).
    rng : numpy.random.Generator
        For the random codes (large ranges), the subset (``count`` smaller than
        the classes) and the random fill.
    dtype : float16, float32 or float64
        The dtype of the result and of ``x / s``.
    count : int, optional
        Values per channel, at most ``2**24``; at least the number of edge
        values (about 40). Default: every class in full, plus as many random
        values as there are codes.
    axis : {None, 0, 1, -1, -2}
        None: per-tensor, a 1-D result. Otherwise per-channel: a 2-D result
        whose ``axis`` runs over the ``C`` channels, each holding the values of
        its own ``scale[c]`` and ``zero_point[c]`` (``np.stack(..., axis=axis)``;
        for another rank, ``np.expand_dims`` or ``np.moveaxis`` it).
    codes : array_like of int, optional
        The ``k`` whose ties are searched, as in :func:`quantize_input_classes`;
        the default adds 2048 random codes when the range holds more than 4096.
    nan, inf : bool
        Include NaN and -NaN, and ±inf.

    Returns
    -------
    ndarray of ``dtype``
        Shape ``(count,)``, or ``(C, count)`` / ``(count, C)`` with ``axis``. In
        order: the edge classes of :func:`quantize_input_classes` (zeros,
        subnormals, huge values, clamp edges, ``below_half``, NaN/inf), then
        the ties, ``near_tie`` and ``grid`` values (a random subset when they do
        not fit in ``count``), then uniform random values of
        ``[(quant_min - z - 2) s, (quant_max - z + 2) s]``.

    Notes
    -----
    The classes and how the ties are found: :func:`quantize_input_classes`.
    Without ``count`` a per-channel result pads every channel with its own
    random values to the longest channel. Inputs are not modified; the same
    ``rng`` state gives the same result. Source: the quantizer of
    :func:`refquant.quantize` and the op orders of docs/spec/affine.md
    ("Where the frameworks differ"), whose ties these inputs place.

    Examples
    --------
    >>> x = quantize_inputs(0.1, 0, -128, 127, rng=np.random.default_rng(0), count=500)
    >>> x.shape, x.dtype.name, int(np.sum(x[np.abs(x) < 100] / np.float32(0.1) == 127.5))
    ((500,), 'float32', 1)
    >>> quantize_inputs([0.1, 0.25], [0, 3], 0, 255, rng=np.random.default_rng(0), count=300, axis=1).shape
    (300, 2)
    """
    gen = check_generator(rng)
    s, z, qmin, qmax, dt = _quantizer(
        scale, zero_point, quant_min, quant_max, dtype, per_axis=axis is not None
    )
    nan_, inf_ = check_bool("nan", nan), check_bool("inf", inf)
    n = None if count is None else _count(count)
    if axis is not None:
        ax = check_int("axis", axis)
        if not -2 <= ax <= 1:
            raise ValueError(f"axis must be None, 0, 1, -1 or -2 (the result is 2-D), got {axis}")
    channels = max(s.size, z.size)
    s, z = np.broadcast_to(s, (channels,)), np.broadcast_to(z, (channels,))
    given = None if codes is None else _codes(codes, (0, 0), dt)
    parts = []
    for c in range(channels):
        span = (qmin - int(z[c]) - 2, qmax - int(z[c]) + 1)
        k = given
        if k is None:
            k = ties.default_codes(span, dt)
            if span[1] - span[0] + 1 > ties.ALL_CODES:
                k = np.union1d(k, ties.random_codes(span, dt, 2048, gen))
        classes = ties.quantize_classes(s[c], int(z[c]), qmin, qmax, dt, k, nan_, inf_)
        parts.append((classes, k.size, _uniform(s[c], span[0], span[1] + 1, dt)))
    if n is None and channels > 1:  # every channel as long as the longest
        n = max(sum(v.size for v in cl.values()) + nk for cl, nk, _ in parts)
    cols = [ties.assemble(cl, _FIXED, ties.BULK_CLASSES, n, nk, fill, gen) for cl, nk, fill in parts]
    if axis is None:
        return cols[0]
    return np.ascontiguousarray(np.stack(cols, axis=ax))


_FIXED = (*ties.FIXED_CLASSES, "nan", "inf")


def _uniform(s: Any, lo: int, hi: int, dt: np.dtype[Any]) -> Any:
    top = float(np.finfo(dt).max)

    def fill(rng: np.random.Generator, n: int) -> NDArray[Any]:
        v = rng.uniform(lo, hi, n) * float(s)
        return np.clip(v, -top, top).astype(dt)

    return fill


def _quantizer(
    scale: ArrayLike, zero_point: ArrayLike, quant_min: int, quant_max: int, dtype: Any, *, per_axis: bool
) -> tuple[NDArray[Any], NDArray[np.int64], int, int, np.dtype[Any]]:
    dt = as_dtype("dtype", dtype, FLOAT_DTYPES)
    check_range(quant_min, quant_max)
    qmin, qmax = int(quant_min), int(quant_max)
    sa = as_float_array("scale", scale)
    za = as_int_array("zero_point", zero_point)
    for name, a in (("scale", sa), ("zero_point", za)):
        if per_axis and (a.ndim > 1 or a.size == 0):
            raise ValueError(f"{name} must be a scalar or a 1-D array of the channels, got shape {a.shape}")
        if not per_axis and a.size != 1:
            raise ValueError(f"{name} must hold one value without axis, got shape {a.shape}")
    if sa.size > 1 and za.size > 1 and sa.size != za.size:
        raise ValueError(f"scale and zero_point must have the same length, got {sa.shape} and {za.shape}")
    check_scale("scale", sa)
    with np.errstate(all="ignore"):
        sd = sa.astype(dt).ravel()
    check_scale_cast("scale", sa.ravel(), sd)
    zr = za.ravel()
    check_zero_point("zero_point", zr, qmin, qmax)
    return sd, zr, qmin, qmax, dt


def _codes(codes: ArrayLike | None, span: tuple[int, int], dt: np.dtype[Any]) -> NDArray[np.int64]:
    if codes is None:
        return ties.default_codes(span, dt)
    k = as_int_array("codes", codes).ravel()
    if k.size > _MAX_CODES:
        raise ValueError(f"codes must hold at most {_MAX_CODES} values, got {k.size}")
    if k.size and np.max(np.abs(k)) > 2**53:
        raise ValueError(f"codes must lie within ±2**53, got {show_values(k[np.abs(k) > 2**53])}")
    return ties.sorted_unique(k)


def _count(count: Any) -> int:
    n = check_int("count", count)
    if not 0 <= n <= MAX_COUNT:
        raise ValueError(f"count must lie in [0, {MAX_COUNT}], got {n}")
    return n


def _int_format(fmt: Any) -> IntFormat:
    if isinstance(fmt, IntFormat):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"fmt must be an integer format name (str) or an IntFormat, got {fmt!r}")
    try:
        return int_format(fmt)
    except ValueError:
        raise ValueError(f"fmt must be one of {sorted(INT_FORMATS)} or an IntFormat, got {fmt!r}") from None


def awkward_scales(*, rng: np.random.Generator, count: int = 8, dtype: Any = np.float32) -> NDArray[Any]:
    """Scales whose reciprocals are inexact in ``dtype``, over many binades, after eight fixed ones.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the random scales.
    count : int
        Random scales after the fixed ones, in ``[0, 2**24]``.
    dtype : float16, float32 or float64
        The dtype of the result (the values are rounded to it).

    Returns
    -------
    ndarray of ``dtype``, shape ``(8 + count,)``
        ``1, 0.5, 0.1, 1/3, 0.00214854861, 2**-20, 7, 0.001`` (three exact
        powers of two, five with inexact reciprocals; ``0.00214854861`` is a
        scale where ``x / s`` and ``x * fl(1/s)`` disagree on a tie,
        ``0.273939937``), then ``10**u`` with ``u`` uniform in ``[-6, 2]``.

    Notes
    -----
    Every value has a finite reciprocal in float32, so both op orders accept it
    (float16 overflows below ``2**-16``: pick ``dtype`` to match). Deterministic
    in ``rng``'s state.

    Examples
    --------
    >>> awkward_scales(rng=np.random.default_rng(0), count=0)[:4].tolist()
    [1.0, 0.5, 0.10000000149011612, 0.3333333432674408]
    """
    gen = check_generator(rng)
    n = _count(count)
    dt = as_dtype("dtype", dtype, FLOAT_DTYPES)
    rand = 10.0 ** gen.uniform(-6, 2, n)
    with np.errstate(under="ignore"):
        return np.concatenate([np.array(_FIXED_SCALES), rand]).astype(dt)


def quant_params(
    fmt: str | IntFormat = "int8",
    *,
    rng: np.random.Generator,
    count: int = 16,
    dtype: Any = np.float32,
    narrow_range: bool = False,
    channels: int | None = None,
) -> list[QParams]:
    """Valid quantization parameters of an integer format: awkward scales, zero points at the edges.

    Parameters
    ----------
    fmt : str or IntFormat
        A name of :data:`refquant.formats.INT_FORMATS` (``"int8"``, ``"uint4"``, ...) or an ``IntFormat``.
    rng : numpy.random.Generator
        Draws the random scales and zero points.
    count : int
        How many parameter sets, in ``[0, 2**24]``.
    dtype : float16, float32 or float64
        The dtype of the scales.
    narrow_range : bool
        Drop the lowest code (``[-127, 127]`` for int8); overrides ``fmt``'s own flag when True.
    channels : int, optional
        None: per-tensor (0-d ``scale`` and ``zero_point``); else ``(channels,)``
        arrays of independent per-channel values, ``1 <= channels <= 2**16``.

    Returns
    -------
    list of QParams
        ``scale`` (``dtype``) and ``zero_point`` (int64) arrays, ``quant_min`` and ``quant_max``.

    Notes
    -----
    Per-tensor set ``i`` takes the ``i``-th of :func:`awkward_scales` (the
    fixed ones first) and cycles its zero point through ``quant_min``,
    ``quant_max``, 0 (``quant_min + 1`` when 0 is out of range), the middle
    code and a random code;
    per-channel sets draw every channel's scale from ``awkward_scales`` and
    zero point uniformly, with ``quant_min`` and ``quant_max`` in the first two
    channels. Every scale has a finite float32 reciprocal.

    Examples
    --------
    >>> ps = quant_params("uint8", rng=np.random.default_rng(0), count=3)
    >>> [(float(p.scale), int(p.zero_point), p.quant_min, p.quant_max) for p in ps]
    [(1.0, 0, 0, 255), (0.5, 255, 0, 255), (0.10000000149011612, 0, 0, 255)]
    """
    f = _int_format(fmt)
    if check_bool("narrow_range", narrow_range):
        f = IntFormat(f.bits, f.signed, True)
    gen = check_generator(rng)
    n = _count(count)
    if channels is not None:
        c = check_int("channels", channels)
        if not 1 <= c <= 2**16:
            raise ValueError(f"channels must lie in [1, 65536], got {channels}")
    lo, hi = f.qmin, f.qmax
    out = []
    if channels is None:
        scales = awkward_scales(rng=gen, count=max(n - len(_FIXED_SCALES), 0), dtype=dtype)
        cycle = [lo, hi, 0 if lo <= 0 <= hi else lo + 1, (lo + hi) // 2]
        for i in range(n):
            zp = cycle[i % 5] if i % 5 < 4 else int(gen.integers(lo, hi, endpoint=True))
            out.append(QParams(scales[i : i + 1].reshape(()), np.array(zp, np.int64), lo, hi))
        return out
    for _ in range(n):
        pool = awkward_scales(rng=gen, count=c, dtype=dtype)
        s = gen.choice(pool, c)
        z = gen.integers(lo, hi, c, endpoint=True, dtype=np.int64)
        z[: min(c, 2)] = [lo, hi][: min(c, 2)]
        out.append(QParams(s, z, lo, hi))
    return out
