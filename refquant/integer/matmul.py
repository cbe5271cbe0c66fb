"""Integer matmul with zero points and int32 accumulation, and the bound that keeps it exact.

``C = sum_k (a - z_a)(b - z_b)`` is the integer core of every quantized linear
layer (Jacob et al. 2018, eq. 4). :func:`overflow_bound` gives the largest
depth ``K`` for which no partial sum can leave the accumulator, over every code
of two integer types; :func:`integer_matmul` computes ``C`` exactly and refuses
(``ValueError``) inputs for which an int32 accumulator could overflow.

The products run through float BLAS when that is provably exact: every
partial sum of a product of integers is an integer, and floating-point
arithmetic is exact on integers up to ``2**24`` (float32) or ``2**53``
(float64), whatever the order and blocking of the sums (and with or without
fused multiply-adds). Codes are shifted to the middle of their range where
that keeps the sums within ``2**24``; a depth whose sums exceed it is cut into
K-slices that float32 sums exactly, the slices added in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from refquant._validate import check_choice
from refquant.integer._checks import as_integers

__all__ = ["ACCUMULATORS", "integer_matmul", "overflow_bound"]

ACCUMULATORS = ("int32", "int64")
_LIMITS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_LO, _HI = -(2**31), 2**32 - 1  # operands and zero points: int32 or uint32 values
_MIN_SLICE = 256  # shortest K-slice used: at 1024^3, 4 slices of 256 took 0.6x one float64 product's time
_SLICE_BLOCK = 2**18  # outputs per row block of a K-sliced product (its slices are summed in cache)


def _product_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _depth_bound(p: tuple[int, int], accumulate: str) -> int:
    """The largest K with K * pmax <= hi and K * pmin >= lo (partial sums of K terms in [K pmin, K pmax])."""
    lo, hi = _LIMITS[accumulate]
    pmin, pmax = min(p[0], 0), max(p[1], 0)
    bounds = [hi // pmax] if pmax else []
    if pmin:
        bounds.append(lo // pmin)
    return min(bounds) if bounds else hi


def _int_range(name: str, dtype: Any) -> tuple[int, int]:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be an integer dtype, got {dtype!r}") from None
    if dt.kind not in "iu" or dt.itemsize > 4 or isinstance(dtype, (bool, int, float)):
        raise TypeError(f"{name} must be an integer dtype of at most 32 bits, got {dtype!r}")
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def overflow_bound(
    a_dtype: DTypeLike,
    b_dtype: DTypeLike,
    a_zero_point: int | None = None,
    b_zero_point: int | None = None,
    *,
    accumulate: str = "int32",
) -> int:
    """The largest ``K`` for which ``sum_k (a - z_a)(b - z_b)`` cannot overflow the accumulator (any codes).

    Parameters
    ----------
    a_dtype, b_dtype : numpy integer dtype
        The operands' types (int8, uint8, int16, uint16, int32, uint32).
    a_zero_point, b_zero_point : int, optional
        The zero points, in their type's range; ``None`` (default): the worst
        case over every zero point of the type.
    accumulate : {"int32", "int64"}
        The accumulator.

    Returns
    -------
    int
        The largest ``K`` such that every partial sum of ``K`` products, in any
        order, lies within the accumulator's range.

    Notes
    -----
    With ``a - z_a`` in ``[l_a, h_a]`` and ``b - z_b`` in ``[l_b, h_b]``, each
    product lies in ``[p_min, p_max]`` (the extremes of the four corner
    products), a partial sum of ``k`` terms in ``[k p_min, k p_max]``, so

    .. math::

        K_{\\max} = \\min\\Big(\\Big\\lfloor \\frac{2^{31} - 1}{p_{\\max}} \\Big\\rfloor,\\;
        \\Big\\lfloor \\frac{2^{31}}{-p_{\\min}} \\Big\\rfloor\\Big)

    (int32). The usual pairs: int8 x int8 with zero points 0 (TFLite's
    symmetric weights and, here, symmetric activations): ``128 * 128 = 16384``,
    ``K <= 131071``; any zero points (``|a - z_a| <= 255``): ``K <= 33025``;
    uint8 x int8 with ``z_b = 0`` (ONNX Runtime's U8S8): ``255 * 128 = 32640``,
    ``K <= 65793``; int16 x int8 (TFLite's 16x8, which accumulates in int64
    for this reason): ``K <= 511``. A kernel that accumulates the raw products
    ``sum a b`` and subtracts the zero-point terms afterwards (the expansion in
    :func:`integer_matmul`) has the bound of the raw codes for that sum; with
    two's-complement wraparound its final result is still exact whenever the
    final value fits.

    Examples
    --------
    >>> overflow_bound("int8", "int8", 0, 0), overflow_bound("int8", "int8")
    (131071, 33025)
    >>> overflow_bound("uint8", "int8", None, 0), overflow_bound("int16", "int8", 0, 0)
    (65793, 511)
    """
    check_choice("accumulate", accumulate, ACCUMULATORS)
    ranges = []
    for side, dt, zp in (("a", a_dtype, a_zero_point), ("b", b_dtype, b_zero_point)):
        lo, hi = _int_range(f"{side}_dtype", dt)
        if zp is None:
            zlo, zhi = lo, hi
        else:
            if isinstance(zp, (bool, np.bool_)) or not isinstance(zp, (int, np.integer)):
                raise TypeError(f"{side}_zero_point must be an int or None, got {zp!r}")
            if not lo <= int(zp) <= hi:
                raise ValueError(
                    f"{side}_zero_point must lie in {np.dtype(dt).name}'s range [{lo}, {hi}], got {zp}"
                )
            zlo = zhi = int(zp)
        ranges.append((lo - zhi, hi - zlo))
    return _depth_bound(_product_range(ranges[0], ranges[1]), accumulate)


def _zero_point(name: str, value: ArrayLike, shape: tuple[int, ...], what: str) -> NDArray[np.int64]:
    z = as_integers(name, value, _LO, _HI, "[-2**31, 2**32 - 1]")
    try:
        return np.broadcast_to(z, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to {what} {shape}, got shape {z.shape}") from None


def _extremes(x: NDArray[Any]) -> tuple[int, int]:
    return (int(x.min()), int(x.max())) if x.size else (0, 0)


def _centered_extremes(
    x: NDArray[Any], z: NDArray[np.int64], ex: tuple[int, int], axis: int
) -> tuple[int, int]:
    """The exact extremes of ``x - z`` (z broadcast along ``axis``): from ``x``'s if ``z`` is one value."""
    if not z.size or not x.size:
        return 0, 0
    zlo, zhi = _extremes(z)
    if zlo == zhi:
        return ex[0] - zlo, ex[1] - zlo
    zz = np.expand_dims(z, axis)
    return int((x - zz).min()), int((x - zz).max())


def _constant(z: NDArray[np.int64], axis: int) -> Any:
    """A zero point array as one int if all its values agree, else with a unit axis inserted at ``axis``."""
    zlo, zhi = _extremes(z)
    return zlo if zlo == zhi else np.expand_dims(z, axis)


def _dtype_for(magnitude: int) -> type[np.generic]:
    """The narrowest exact dtype for integers (and sums of them) up to ``magnitude``."""
    return np.float32 if magnitude <= 2**24 else np.float64 if magnitude <= 2**53 else np.int64


def _center(x: NDArray[Any], z: NDArray[np.int64], dt: type[np.generic], ex: tuple[int, int]) -> NDArray[Any]:
    """``x - z`` in ``dt`` (``ex``: the extremes of ``x``), exact wherever ``dt`` holds the difference.

    One pass in ``dt`` when ``dt`` holds ``x`` and ``z`` themselves; else the
    difference is formed in int64 first (float32 would round codes or zero
    points beyond ``2**24`` before subtracting them).
    """
    if not np.any(z):
        if dt is not np.float32 or max(map(abs, ex)) <= 2**24:
            return x.astype(dt)
    elif dt is not np.float32 or max(map(abs, (*ex, *_extremes(z)))) <= 2**24:
        return np.subtract(x, z.astype(dt), dtype=dt)
    return np.subtract(x, z, dtype=np.int64).astype(dt)


def _exact_matmul(x: NDArray[Any], y: NDArray[Any], magnitude: int) -> NDArray[Any]:
    """``x @ y`` exactly, given ``magnitude`` >= every |partial sum|: float32, float64 BLAS or int64.

    The result keeps the dtype it was computed in (its values are exact integers).
    """
    dt = _dtype_for(magnitude)
    return np.matmul(x.astype(dt, copy=False), y.astype(dt, copy=False))


def _sliced_matmul(x: NDArray[np.float32], y: NDArray[np.float32], split: int) -> NDArray[np.float64]:
    """``x @ y`` as float32 products over K-slices of at most ``split`` terms, summed in float64.

    Exact when every partial sum of ``split`` consecutive products is within
    ``2**24`` (each slice's float32 BLAS product is exact) and the whole sum
    within ``2**53`` (the float64 sums of the slices are exact). Rows are taken
    in blocks of about ``_SLICE_BLOCK`` outputs so the slices' products are
    summed while in cache.
    """
    k = x.shape[-1]
    size = -(-k // -(-k // split))  # equal slices, each <= split
    shape = (*np.broadcast_shapes(x.shape[:-2], y.shape[:-2]), x.shape[-2], y.shape[-1])
    out = np.empty(shape, np.float64)
    rows = x.shape[-2]
    step = max(1, _SLICE_BLOCK // max(y.shape[-1], 1)) if x.ndim == y.ndim == 2 else rows
    for i in range(0, rows, step):
        block = out[..., i : i + step, :]
        first = None
        for k0 in range(0, k, size):
            part = np.matmul(x[..., i : i + step, k0 : k0 + size], y[..., k0 : k0 + size, :])
            if first is None:
                first = part
            else:  # float64 arithmetic (a float32 loop would round the sum before storing it)
                np.add(first if k0 == size else block, part, out=block, dtype=np.float64)
        if k <= size:
            block[...] = first
    return out


def _exact_sums(
    a: ArrayLike, b: ArrayLike, a_zero_point: ArrayLike, b_zero_point: ArrayLike, accumulate: str
) -> NDArray[Any]:
    """:func:`integer_matmul`'s checks and sums, in the dtype they were computed in.

    float32, float64 or int64, every value an exact integer (possibly a
    read-only broadcast view): :mod:`refquant.interop.onnx_integer` requantizes
    these directly; :func:`integer_matmul` converts them to the accumulator.
    """
    check_choice("accumulate", accumulate, ACCUMULATORS)
    x = as_integers("a", a, _LO, _HI, "[-2**31, 2**32 - 1]", keep_dtype=True)
    y = as_integers("b", b, _LO, _HI, "[-2**31, 2**32 - 1]", keep_dtype=True)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"a and b must have at least one dimension, got shapes {x.shape} and {y.shape}")
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    k = x2.shape[-1]
    if y2.shape[-2] != k:
        raise ValueError(
            f"a and b: a.shape[-1] must equal b.shape[-2] (K), got shapes {x.shape} and {y.shape}"
        )
    try:
        out_shape = (*np.broadcast_shapes(x2.shape[:-2], y2.shape[:-2]), x2.shape[-2], y2.shape[-1])
    except ValueError:
        raise ValueError(
            f"a and b: the batch dimensions do not broadcast, got shapes {x.shape} and {y.shape}"
        ) from None
    za = _zero_point("a_zero_point", a_zero_point, x2.shape[:-1], "a.shape[:-1]")
    zb = _zero_point(
        "b_zero_point", b_zero_point, (*y2.shape[:-2], y2.shape[-1]), "b.shape[:-2] + b.shape[-1:]"
    )
    ex, ey = _extremes(x2), _extremes(y2)
    ea, eb = _centered_extremes(x2, za, ex, -1), _centered_extremes(y2, zb, ey, -2)
    p = _product_range(ea, eb)
    lo, hi = _LIMITS[accumulate]
    if k * max(p[1], 0) > hi or k * min(p[0], 0) < lo:
        reach = k * p[1] if k * p[1] > hi else k * p[0]
        raise ValueError(
            f"a and b: K = {k} products (a - a_zero_point)(b - b_zero_point) in [{p[0]}, {p[1]}] can "
            f"overflow an {accumulate} accumulator (a partial sum may reach {reach}); the largest safe K "
            f"for these values is {_depth_bound(p, accumulate)} (a - a_zero_point in [{ea[0]}, {ea[1]}], "
            f"b - b_zero_point in [{eb[0]}, {eb[1]}])"
            + ("; pass accumulate='int64' for the exact sum" if accumulate == "int32" else "")
        )
    term = max(abs(p[0]), abs(p[1]))  # |(a - z_a)(b - z_b)| <= term: n terms sum to at most n term
    centered = k * term
    split = 2**24 // term if term else k  # the most terms whose partial sums float32 holds exactly
    cx, cy = (ex[0] + ex[1] + 1) // 2, (ey[0] + ey[1] + 1) // 2  # the middle of each operand's range
    hx, hy = max(ex[1] - cx, cx - ex[0]), max(ey[1] - cy, cy - ey[0])  # |a - cx| <= hx, |b - cy| <= hy
    shifted = k * hx * hy
    da, db = za - cx, zb - cy  # a - z_a = (a - cx) - da, b - z_b = (b - cy) - db
    dmax = max(map(abs, (*_extremes(da), *_extremes(db))))
    corrections = 3 * k * dmax * max(hx, hy, dmax)
    xc, yc = (za[..., None], zb[..., None, :])
    c: NDArray[Any]
    if not np.prod(out_shape, dtype=np.int64) or k == 0:
        c = np.zeros(out_shape, np.int64)
    elif centered <= 2**24:  # one float32 product
        c = np.matmul(_center(x2, xc, np.float32, ex), _center(y2, yc, np.float32, ey))
    elif shifted <= 2**24 and corrections < 2**62:  # shifted codes in float32, then three correction terms
        c = np.matmul(
            _center(x2, np.asarray(cx), np.float32, ex), _center(y2, np.asarray(cy), np.float32, ey)
        )
        zr, zc = _constant(db, -2), _constant(da, -1)  # ints, or shaped (..., 1, N) and (..., M, 1)
        cdt = np.float64 if corrections + 2**24 <= 2**53 else np.int64  # every partial result exact in it
        terms = []  # the nonzero ones: -db sum_k (a - cx), -da (sum_k (b - cy) - K db), exact in int64
        if np.any(zr):
            terms.append(zr * (x2.sum(axis=-1, dtype=np.int64) - k * cx)[..., :, None])
        if np.any(zc):
            terms.append(zc * ((y2.sum(axis=-2, dtype=np.int64) - k * cy)[..., None, :] - k * zr))
        terms = [t.astype(cdt) for t in terms]
        c = np.subtract(c, terms[0], dtype=cdt, casting="unsafe") if terms else c.astype(cdt)
        for t in terms[1:]:
            c = np.subtract(c, t, out=c) if c.shape == np.broadcast_shapes(c.shape, t.shape) else c - t
    elif centered <= 2**53 and split >= _MIN_SLICE:  # float32 products of K-slices, summed in float64
        c = _sliced_matmul(_center(x2, xc, np.float32, ex), _center(y2, yc, np.float32, ey), split)
    else:
        dt = _dtype_for(centered)
        c = _exact_matmul(_center(x2, xc, dt, ex), _center(y2, yc, dt, ey), centered)
    c = np.broadcast_to(c, out_shape)
    if x.ndim == 1:
        c = c[..., 0, :]
    if y.ndim == 1:
        c = c[..., 0]
    return c


def integer_matmul(
    a: ArrayLike,
    b: ArrayLike,
    a_zero_point: ArrayLike = 0,
    b_zero_point: ArrayLike = 0,
    *,
    accumulate: str = "int32",
) -> NDArray[np.integer[Any]]:
    """``C = (a - a_zero_point) @ (b - b_zero_point)``, exact, with an int32 (or int64) accumulator.

    Parameters
    ----------
    a : array_like of int, shape (..., M, K) or (K,)
        Integer codes (int8, uint8, int16, ..., or Python ints), values in
        ``[-2**31, 2**32 - 1]``; floats raise ``TypeError``.
    b : array_like of int, shape (..., K, N) or (K,)
        The same. The batch dimensions broadcast as in :func:`numpy.matmul`,
        and 1-D operands are promoted and their dimension removed as there.
    a_zero_point : int or array_like of int
        Broadcastable to ``a.shape[:-1]``: one per tensor, or one per row
        (ONNX MatMulInteger's per-row ``a_zero_point`` of shape ``(M,)``).
        Any integers in ``[-2**31, 2**32 - 1]``; ONNX and TFLite require them in
        the operand's type, which :mod:`refquant.interop` checks.
    b_zero_point : int or array_like of int
        Broadcastable to ``b.shape[:-2] + b.shape[-1:]``: one per tensor or one
        per column (output channel, shape ``(N,)``).
    accumulate : {"int32", "int64"}
        The accumulator whose overflow is ruled out; the output dtype.

    Returns
    -------
    numpy.ndarray of int32 (or int64), shape (..., M, N)
        The exact sums.

    Raises
    ------
    ValueError
        If some partial sum could leave the accumulator: ``K * p_max`` or
        ``K * p_min`` outside its range, where ``[p_min, p_max]`` bounds the
        products ``(a - z_a)(b - z_b)`` of these values (their extremes, so the
        check costs one pass). The message gives the largest safe ``K``
        (:func:`overflow_bound` gives it for whole types); pass
        ``accumulate="int64"`` for the exact result in int64.

    Notes
    -----
    .. math::

        C_{mn} = \\sum_{k=1}^{K} (a_{mk} - z_a)(b_{kn} - z_b)
        = \\sum_k a_{mk} b_{kn} - z_b \\sum_k a_{mk} - z_a \\sum_k b_{kn} + K z_a z_b

    (the four-term expansion of Jacob et al. 2018, eq. 7-8, which kernels use
    to run the inner loop on the raw codes and to precompute the column sums of
    constant weights). Both sides are computed here, each where it is fastest
    and provably exact: the centered product ``(a - z_a) @ (b - z_b)`` in
    float32 BLAS if its partial sums stay within ``2**24``; else, if they stay
    within it, the product of the codes shifted to the middle of their ranges,
    ``(a - c_a) @ (b - c_b)`` (uint8 codes minus 128, int8 codes as they are)
    in float32 BLAS plus the three correction terms of the expansion with
    ``z - c`` in place of ``z`` (exact in float64, or int64 where they could
    pass ``2**53``); else, if every centered product is at most ``p = 2**24
    // L`` with ``L >= 256``, float32 BLAS over K-slices of at most ``L``
    terms (each slice's partial sums within ``L p <= 2**24``), the slices
    summed in float64 (exact within ``2**53``; about half the time of one
    float64 product); float64 BLAS within ``2**53`` (every int32-safe case),
    int64 otherwise. Floating point is exact there because every operand, product
    and partial sum is an integer of smaller magnitude (the operands are
    centered in int64 first where float32 could not hold the codes or zero
    points themselves; tests/integer/test_matmul.py checks every path against
    int64 :func:`numpy.matmul` on the worst cases). The accumulation order
    does not matter: the sum is exact. (A real int32 kernel that overflowed
    would wrap modulo ``2**32``: the bound is what rules that out.)

    Examples
    --------
    ``a - 1 = [[1, -1]]``, ``b - 2 = [[1], [3]]``: ``1 - 3 = -2``; the raw
    expansion: ``2*3 + 0*5 - 2*(2 + 0) - 1*(3 + 5) + 2*1*2 = -2``:

    >>> integer_matmul(np.array([[2, 0]], np.int8), np.array([[3], [5]], np.int8), 1, 2).tolist()
    [[-2]]

    70000 products ``-128 * (127 + 128) = -32640`` reach ``-2284800000 < -2**31``:

    >>> a, b = np.full((1, 70000), -128, np.int8), np.full((70000, 1), 127, np.int8)
    >>> integer_matmul(a, b, 0, -128)
    Traceback (most recent call last):
    ...
    ValueError: a and b: K = 70000 products (a - a_zero_point)(b - b_zero_point) in [-32640, -32640] can
    overflow an int32 accumulator (a partial sum may reach -2284800000); the largest safe K for these
    values is 65793 (a - a_zero_point in [-128, -128], b - b_zero_point in [255, 255]); pass
    accumulate='int64' for the exact sum
    >>> integer_matmul(a, b, 0, -128, accumulate="int64").tolist()
    [[-2284800000]]
    """
    c = _exact_sums(a, b, a_zero_point, b_zero_point, accumulate)
    return c.astype(np.dtype(accumulate))
