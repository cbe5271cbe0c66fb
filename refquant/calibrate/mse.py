"""MSE calibration: the clipping range that minimizes the mean squared quantization error.

Two searches over a stated grid of candidate ranges, each returning the
first (smallest) minimizer:

* :func:`mse_range` on data: ``amax_k = k/n * max|x|`` (``k = 1..n``, so
  the min-max range ``k = n`` is always a candidate and the result is never
  worse than min-max on this objective), per tensor or per axis, integer
  formats (refquant.quantize's fake quantization) or the float formats of
  :mod:`refquant.floats` (``cast(x/s) * s``);
* :func:`mse_amax` on a histogram of ``|x|``: ModelOpt's ``_compute_amax_mse``
  (``convention="modelopt"``: float32 bin centres as candidates and as data,
  its quantizers, torch's float32 mean; ``shipped=True`` for the installed
  0.47 behaviour) or refquant's own float64 search (``convention="refquant"``).

Departures of ModelOpt 0.47.0 (``modelopt/torch/quantization/calib/histogram.py``,
``_compute_amax_mse``), each reproduced by ``shipped=True`` or documented:

1. ``fake_tensor_quant(centers, amax, num_bits, unsigned)`` is positional,
   but the third parameter of ``FakeTensorQuantFunction.forward`` is
   ``bias``: the centres are shifted by ``-num_bits`` and quantized with
   ``num_bits=unsigned``. With ``unsigned=True`` (``num_bits=True``) the
   bound is ``2**0 - 1 = 0``, the scale 0 and every output ``0/0 = NaN``;
   ``np.argmin`` of all-NaN errors is 0, so it returns ``centers[start_bin]``
   (0.2969 for 100000 ``|N(0,1)|`` draws, ``default_rng(0)``, 2048 bins,
   where the intended search gives 4.3103). With ``unsigned=False`` the bound
   is ``-0.5``, ``torch.clamp(r, 0.5, -0.5)`` is ``-0.5`` everywhere, and the
   output is the constant ``amax + num_bits``: the error
   ``mean(counts (amax + num_bits - c)**2)`` is *not* constant; it is
   smallest at ``amax ~ mean(c) - num_bits``. It is ``centers[start_bin]``
   only while the histogram's count-weighted mean centre is below
   ``centers[start_bin] + num_bits``: on ``|N(0, 100**2)|`` (same draws x 100)
   it returns 71.89, not ``centers[128] = 28.82``.
2. The fp8 path ``scaled_e4m3(centers, amax, num_bits[0], num_bits[1])`` is
   positional too (``bias=4, E=3``, no ``M``): ``num_bits=(4, 3)`` raises
   ``TypeError`` (``forward() missing ... 'M'``) for every histogram.
3. Passing the arguments by keyword, ``fake_tensor_quant(c, amax,
   num_bits=8, unsigned=u)``, also raises under torch 2.13
   (``Function.apply`` does not fill ``forward``'s default ``bias``); the
   intended search needs ``bias=None`` given explicitly.
4. The candidates are bin *centres* ``centers[start_bin::stride]``: the
   histogram's upper edge (the min-max range) is never a candidate, so the
   top half bin of data is always clipped; ``start_bin >= len(counts)``
   leaves no candidate and ``np.argmin([])`` raises ``ValueError``.
5. The error is ``mean`` over bins of ``counts * (q(c) - c)**2`` in
   float32 (every datum at its bin centre): counts above ``2**24`` are
   rounded to float32, and candidates whose errors tie in float32 are
   resolved by the first index; ``unsigned=True`` with a negative centre
   raises ``TypeError`` in ``_tensor_quant``.
6. The fp8 quantizer (``_fp8_eager``) multiplies by ``s = 448.0 / amax``,
   which torch evaluates as ``amax.reciprocal() * 448`` (two roundings),
   and then by ``fl(1/s)``, instead of dividing by ``amax/448``: its outputs
   are not on the scaled e4m3fn grid. ``1.5`` with ``amax = 3`` (``1.5 /
   (3/448) = 224`` is an e4m3fn value) comes back as ``1.4999999``;
   ``amax <= 2**-24`` uses ``amax = 1``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant._validate import (
    as_float_array,
    check_bool,
    check_choice,
    check_int,
    normalize_axis,
    show_values,
)
from refquant.calibrate import _mse_kernels as k
from refquant.calibrate import _mse_screen as _screen
from refquant.floats.spec import FloatFormat, float_format
from refquant.qparams import qparams_from_range

__all__ = ["mse_amax", "mse_range"]

Convention = Literal["modelopt", "refquant"]
SCREEN_WORK = 1 << 18  # candidates x bins from which the histogram search screens first
SCREEN_CANDIDATES = 24  # candidates from which the data search screens rows of >= CACHE values


def _codes(num_bits: Any, unsigned: bool, narrow_range: bool, lo: int = 2, hi: int = 32) -> tuple[int, int]:
    nb = check_int("num_bits", num_bits)
    if not lo <= nb <= hi:
        raise ValueError(f"num_bits must be in [{lo}, {hi}], got {nb}")
    if unsigned:
        return 0, 2**nb - 1
    return -(2 ** (nb - 1)) + int(narrow_range), 2 ** (nb - 1) - 1


def _format(fmt: Any) -> FloatFormat | None:
    if fmt is None:
        return None
    f = float_format(fmt)
    if f.special == "e8m0":
        raise ValueError(f"fmt must have a sign and mantissa bits, got {f.name!r} (e8m0 is scale-only)")
    return f


def mse_range(
    x: ArrayLike,
    *,
    num_bits: int = 8,
    fmt: str | FloatFormat | None = None,
    symmetric: bool = True,
    unsigned: bool = False,
    narrow_range: bool = True,
    num_candidates: int = 100,
    axis: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The range ``(lo_k, hi_k) = k/n (min(x, 0), max(x, 0))`` minimizing ``mean((fq(x) - x)**2)``.

    Parameters
    ----------
    x : array_like of float, any shape, non-empty
        Data (computed in float64; integer inputs converted).
    num_bits : int
        Integer code width, 2..32 (ignored when ``fmt`` is given).
    fmt : str or FloatFormat, optional
        A float format of :mod:`refquant.floats` (``"float8_e4m3fn"``, ...);
        symmetric and signed only.
    symmetric : bool
        True: ``lo = -hi``, ``hi_k = k/n max|x|``, zero point 0 and scale
        ``hi_k / qmax``. False: affine, ``[k/n min(x, 0), k/n max(x, 0)]``
        with :func:`refquant.qparams.qparams_from_range` (PyTorch's zero point).
    unsigned : bool
        Codes ``[0, 2**b - 1]``; the range is ``[0, hi_k]`` (``hi_k = k/n
        max(x, 0)``) and negative values clip to 0.
    narrow_range : bool
        Signed symmetric codes ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` (ModelOpt,
        TensorRT) instead of ``[-2**(b-1), ...]``.
    num_candidates : int
        ``1 <= n <= 65536``; the grid is ``k = 1..n``.
    axis : int, optional
        Per-channel search along ``axis`` (one range per index of ``axis``).

    Returns
    -------
    (lo, hi) : tuple of float64 ndarrays
        0-d per tensor, shape ``(x.shape[axis],)`` per axis.

    Notes
    -----
    .. math::

        k^* = \\operatorname*{arg\\,min}_{k=1..n} \\frac1N \\sum_j
        \\big(\\mathrm{fq}(x_j; \\tfrac kn r) - x_j\\big)^2

    where ``r`` is the min-max range and ``fq`` is
    ``refquant.quantize.fake_quantize`` (``x / s``, half-to-even, clip, times
    ``s``; symmetric ``s = hi/qmax``) or, for ``fmt``, ``cast(x / s, fmt,
    saturate=True) * s`` with ``s = hi / max_finite``. Ties go to the smallest
    ``k``. Source: the MSE calibrators of TensorRT/ModelOpt and of
    Banner et al., "Post training 4-bit quantization" (2019); the grid is
    refquant's. A slice of zeros gives ``(0, 0)``. NaN and ``±inf`` raise
    ``ValueError``; so do empty ``x`` and an empty slice. Per axis equals
    per tensor slice by slice (each slice's errors are summed alone). ``x``
    is not modified. Long slices are screened first (rigorous float64 bounds
    from bucket moments, :mod:`refquant.calibrate._mse_screen`) and only the
    candidates that may win are evaluated: the answer is the exhaustive one.

    Examples
    --------
    Ten ones and an outlier at 4, 3-bit codes ``-3..3``, candidates 1, 2, 3, 4:
    clipping at 3 (error 1/11) beats min-max (``s = 4/3``, error (10/9)/11):

    >>> lo, hi = mse_range([1.0] * 10 + [4.0], num_bits=3, num_candidates=4)
    >>> float(lo), float(hi)
    (-3.0, 3.0)
    >>> lo, hi = mse_range([[0.0, 1.0, 2.0], [0.0, 5.0, 10.0]], num_bits=8, axis=0)
    >>> lo.tolist(), hi.tolist()
    ([-2.0, -10.0], [2.0, 10.0])
    """
    xa = as_float_array("x", x)
    symmetric = check_bool("symmetric", symmetric)
    unsigned = check_bool("unsigned", unsigned)
    narrow_range = check_bool("narrow_range", narrow_range)
    n = check_int("num_candidates", num_candidates)
    if not 1 <= n <= 1 << 16:
        raise ValueError(f"num_candidates must be in [1, 65536], got {n}")
    f = _format(fmt)
    if f is not None and (unsigned or not symmetric):
        raise ValueError(f"fmt={f.name!r} needs symmetric=True and unsigned=False")
    qmin, qmax = (0, 0) if f is not None else _codes(num_bits, unsigned, narrow_range and symmetric)
    if xa.size == 0:
        raise ValueError(f"x must be non-empty, got shape {xa.shape}")
    if not np.all(np.isfinite(xa)):
        raise ValueError(f"x must be finite, got {show_values(xa[~np.isfinite(xa)])}")
    if axis is None:
        x2 = xa.reshape(1, -1).astype(np.float64)
    else:
        ax = normalize_axis("axis", axis, xa.ndim)
        x2 = np.moveaxis(xa, ax, 0).reshape(xa.shape[ax], -1).astype(np.float64)
        if x2.shape[1] == 0:
            raise ValueError(f"x has empty slices along axis={axis}: shape {xa.shape}")
    frac = np.arange(1, n + 1, dtype=np.float64) / n
    lo0 = np.minimum(x2.min(axis=1), 0.0)
    hi0 = np.maximum(x2.max(axis=1), 0.0)
    if symmetric and not unsigned:
        hi0 = np.maximum(-lo0, hi0)
        lo0 = -hi0
    if unsigned:
        lo0 = np.zeros_like(hi0)
    live = hi0 > lo0
    lo_out, hi_out = np.zeros(x2.shape[0]), np.zeros(x2.shape[0])
    if np.any(live):
        xs = x2[live]
        lo_k, hi_k = lo0[live, None] * frac, hi0[live, None] * frac
        if f is not None:
            quant: tuple[Any, ...] = ("float", f)
            scale, zp = hi_k / f.max_finite, np.zeros_like(hi_k)
        else:
            p = qparams_from_range(
                lo_k.ravel(), hi_k.ravel(), qmin, qmax, symmetric=symmetric and not unsigned,
                symmetric_divisor="qmax", eps=None, dtype=np.float64,
            )  # fmt: skip
            scale, zp = p.scale.reshape(hi_k.shape), p.zero_point.reshape(hi_k.shape).astype(np.float64)
            quant = ("int", qmin, qmax)
        best = _data_search(xs, scale, zp, quant)
        rows = np.arange(xs.shape[0])
        lo_out[live], hi_out[live] = lo_k[rows, best], hi_k[rows, best]
    if axis is None:
        return lo_out.reshape(()), hi_out.reshape(())
    return lo_out, hi_out


def _data_search(
    x: NDArray[np.float64],
    scale: NDArray[np.float64],
    zp: NDArray[np.float64],
    quant: tuple[Any, ...],
    screen: bool | None = None,
) -> NDArray[np.intp]:
    """Each row's first minimizer of :func:`_mse_kernels.data_errors`: exact errors of the screen's survivors.

    ``screen``: None screens rows of at least :data:`_mse_kernels.CACHE` values
    with at least :data:`SCREEN_CANDIDATES` candidates (the screen costs about
    16 exact candidates); True always; False never (:func:`_mse_screen.data_screen`).
    """
    nc, n = x.shape
    if screen is None:
        screen = n >= k.CACHE and scale.shape[1] >= SCREEN_CANDIDATES
    if not screen:
        return np.argmin(k.data_errors(x, scale, zp, quant), axis=1)
    best = np.empty(nc, np.intp)
    for c in range(nc):
        sel = _screen.data_screen(x[c], scale[c], zp[c], quant)
        if sel is None or not sel.size:
            sel = np.arange(scale.shape[1])
        err = k.data_errors(x[c : c + 1], scale[c : c + 1, sel], zp[c : c + 1, sel], quant)
        best[c] = sel[int(np.argmin(err[0]))]
    return best


def _histogram(counts: ArrayLike, edges: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    c = as_float_array("counts", counts)
    e = as_float_array("edges", edges)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {c.shape}")
    if e.shape != (c.size + 1,):
        raise ValueError(f"edges must have shape ({c.size + 1},) for {c.size} counts, got {e.shape}")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        bad = c[~(np.isfinite(c) & (c >= 0))]
        raise ValueError(
            f"counts must be finite and >= 0, got {show_values(bad)} (dtype {np.asarray(counts).dtype})"
        )
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError(
            f"edges must be finite and strictly increasing, got {show_values(e)}"
            f" (dtype {np.asarray(edges).dtype})"
        )
    return c, e


def mse_amax(
    counts: ArrayLike,
    edges: ArrayLike,
    *,
    num_bits: int | tuple[int, int] = 8,
    unsigned: bool = False,
    stride: int = 1,
    start_bin: int = 128,
    fmt: str | FloatFormat | None = None,
    narrow_range: bool = True,
    convention: Convention = "modelopt",
    shipped: bool = False,
) -> float:
    """The amax among bin-centred candidates minimizing the histogram's quantization MSE.

    Parameters
    ----------
    counts : array_like, shape (B,)
        Histogram counts, finite and >= 0 (not modified).
    edges : array_like, shape (B + 1,)
        Bin edges, finite and strictly increasing (ModelOpt histograms ``|x|``
        from 0).
    num_bits : int or (4, 3)
        Integer width 2..32, or ModelOpt's ``(4, 3)`` for fp8 e4m3fn (same as
        ``fmt="float8_e4m3fn"``).
    unsigned : bool
        Codes ``[0, 2**b - 1]`` (signed: ``[-(2**(b-1) - 1), 2**(b-1) - 1]``).
    stride, start_bin : int
        Candidates ``i = start_bin, start_bin + stride, ...`` below ``B``;
        ``stride >= 1``, ``0 <= start_bin < B``.
    fmt : str or FloatFormat, optional
        Float format; ``"modelopt"`` supports only ``"float8_e4m3fn"``.
    narrow_range : bool
        ``"refquant"`` only: signed codes from ``-(2**(b-1) - 1)`` (True, as
        ModelOpt always does) or ``-2**(b-1)``.
    convention : {"modelopt", "refquant"}
        ``"modelopt"``: ModelOpt's ``_compute_amax_mse`` with its quantizer
        called as intended (``bias=None``): float32 centres
        ``c_j = (e_j + e_{j+1}) / 2`` are both the candidates ``amax =
        c_i`` and the data; ``fake_tensor_quant`` (scale ``qmax/amax``,
        ``round`` half-to-even, clamp, divide) or ``_fp8_eager``; error
        ``mean(counts (q - c)**2)`` summed in torch's CPU float32 order.
        ``"refquant"``: float64; candidates are the positive *upper edges*
        ``e_{i+1}`` of the same bins, plus the last edge (the min-max range)
        always; each bin's mass sits at its centre; error
        ``sum(counts (q - c)**2) / sum(counts)``; integer quantizer of
        :func:`refquant.quantize.fake_quantize` (``s = amax/qmax``), float
        formats ``cast(c/s, saturate=True) * s`` with ``s = amax/max_finite``.
    shipped : bool
        ``"modelopt"`` only: reproduce the installed ModelOpt 0.47.0, with its
        positional ``bias`` bug (module docstring, item 1). Its fp8 path raises
        there, so ``shipped=True`` with a float format raises ``ValueError``.

    Returns
    -------
    float
        The chosen amax (a float32 value for ``"modelopt"``).

    Notes
    -----
    .. math::

        i^* = \\operatorname*{arg\\,min}_{i} \\frac1B \\sum_j n_j
        \\big(Q(c_j; a_i) - c_j\\big)^2, \\qquad a_i = c_i

    (first minimizer; NaN errors as ``np.argmin``: the first NaN wins). Source:
    ``modelopt/torch/quantization/calib/histogram.py::_compute_amax_mse`` with
    ``tensor_quant.py::_tensor_quant`` and ``_fp8_eager`` (ModelOpt 0.47.0,
    CPU). The float32 sum follows torch's ``cascade_sum`` (``SumKernel.cpp``,
    8 lanes, 4-way ILP, 4 levels), so the result is bit-identical to
    ModelOpt's; on large searches the candidates are screened first with
    rigorous bounds on those float32 errors (:mod:`refquant.calibrate._mse_screen`)
    and only the ones that may win are evaluated in torch's order. Errors:
    ``start_bin`` beyond the last bin, non-finite or negative counts,
    non-increasing edges, and ``unsigned=True`` with a negative centre
    (ModelOpt raises ``TypeError`` there) raise ``ValueError``. All-zero
    counts make every error 0: the first candidate is returned (as ModelOpt
    does). The module docstring lists ModelOpt's departures.

    Examples
    --------
    >>> counts, edges = [0, 10, 40, 30, 15, 4, 1, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8]
    >>> mse_amax(counts, edges, num_bits=2, unsigned=True, start_bin=1)
    4.5
    >>> mse_amax(counts, edges, num_bits=2, unsigned=True, start_bin=1, shipped=True)
    1.5
    >>> mse_amax(counts, edges, num_bits=2, unsigned=True, start_bin=1, convention="refquant")
    6.0
    """
    c, e = _histogram(counts, edges)
    unsigned = check_bool("unsigned", unsigned)
    narrow_range = check_bool("narrow_range", narrow_range)
    shipped = check_bool("shipped", shipped)
    check_choice("convention", convention, ("modelopt", "refquant"))
    stride, start_bin = check_int("stride", stride), check_int("start_bin", start_bin)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not 0 <= start_bin < c.size:
        raise ValueError(f"start_bin must be in [0, {c.size - 1}] for {c.size} bins, got {start_bin}")
    if isinstance(num_bits, tuple):
        if tuple(num_bits) != (4, 3) or fmt is not None:
            raise ValueError(f"num_bits must be an int or (4, 3) without fmt, got {num_bits!r}")
        fmt = "float8_e4m3fn"
    f = _format(fmt)
    nbits = 8
    if f is None:
        _codes(num_bits, unsigned, narrow_range)
        nbits = int(num_bits)  # type: ignore[arg-type]  # an int, checked by _codes
    elif unsigned:
        raise ValueError(f"fmt={f.name!r} is signed: unsigned must be False")
    idx = np.arange(start_bin, c.size, stride)
    if convention == "refquant":
        if shipped:
            raise ValueError("shipped=True needs convention='modelopt'")
        return _refquant_amax(c, e, idx, num_bits, unsigned, narrow_range, f)
    if f is not None and f.name != "float8_e4m3fn":
        raise ValueError(f"convention='modelopt' supports fmt='float8_e4m3fn' only, got {f.name!r}")
    if f is not None and shipped:
        raise ValueError("ModelOpt 0.47's fp8 MSE search raises TypeError (scaled_e4m3 called without M)")
    if not narrow_range:
        raise ValueError("convention='modelopt' quantizes with narrow_range=True only")
    if c.max() > np.finfo(np.float32).max or np.abs(e).max() > np.finfo(np.float32).max:
        raise ValueError(f"counts and edges must fit float32 for convention='modelopt', got {show_values(c)}")
    c32, e32 = c.astype(np.float32), e.astype(np.float32)
    with np.errstate(over="ignore"):
        cen = (e32[1:] + e32[:-1]) / np.float32(2.0)
    if not np.all(np.isfinite(cen)):
        raise ValueError(f"edges overflow float32 bin centres: {show_values(e)}")
    if unsigned and not shipped and cen.min() < 0:
        raise ValueError(f"unsigned=True needs non-negative bin centres, got {show_values(cen[cen < 0])}")
    kind = "e4m3" if f is not None else "shipped" if shipped else "int"
    return float(cen[idx[_modelopt_search(cen, c32, cen[idx], kind, nbits, unsigned)]])


def _modelopt_search(
    cen: NDArray[np.float32], c32: NDArray[np.float32], amax: NDArray[np.float32], kind: str, nbits: int,
    unsigned: bool, screen: bool | None = None,
) -> int:  # fmt: skip
    """Position of ModelOpt's first minimizer among ``amax``: the exact errors of the screen's survivors.

    ``screen``: None screens when there are at least :data:`SCREEN_WORK` candidates
    x bins (below that the exact search is faster), True always, False never
    (every candidate's exact error: the definition the screen must reproduce;
    :mod:`refquant.calibrate._mse_screen`).
    """
    if screen is None:
        screen = amax.size * cen.size >= SCREEN_WORK
    pos = _screen.modelopt_screen(cen, c32, amax, kind, nbits, unsigned) if screen else None
    if pos is None or not pos.size:
        pos = np.arange(amax.size)
    errs = np.empty(pos.size, np.float32)
    block = max(1, k.BUDGET // (8 * cen.size))
    for b0 in range(0, pos.size, block):
        a = amax[pos[b0 : b0 + block]]
        if kind == "e4m3":
            q = k.modelopt_e4m3(cen, a)
        elif kind == "shipped":
            q = k.modelopt_int_shipped(cen, a, nbits, unsigned)
        else:
            q = k.modelopt_int(cen, a, nbits, unsigned)
        errs[b0 : b0 + block] = k.modelopt_errors(q, cen, c32)
    return int(pos[int(np.argmin(errs))])


def _refquant_amax(
    c: NDArray[Any], e: NDArray[Any], idx: NDArray[np.intp], num_bits: Any, unsigned: bool,
    narrow_range: bool, f: FloatFormat | None,
) -> float:  # fmt: skip
    e64 = e.astype(np.float64)
    cen = (e64[1:] + e64[:-1]) / 2
    cand = e64[idx + 1]
    if idx[-1] != c.size - 1:
        cand = np.append(cand, e64[-1])
    cand = cand[cand > 0]
    if cand.size == 0:
        raise ValueError(f"no positive candidate amax among the edges {show_values(e)}")
    if f is not None:
        quant: tuple[Any, ...] = ("float", f)
        scale = cand / f.max_finite
        zp = np.zeros_like(scale)
    else:
        qmin, qmax = _codes(num_bits, unsigned, narrow_range)
        scale, quant = cand / qmax, ("int", qmin, qmax)
        zp = np.zeros_like(scale)
    total = c.sum(dtype=np.float64)
    w = c.astype(np.float64) / (total if total > 0 else 1.0)
    errs = np.empty(cand.size)
    block = max(1, k.BUDGET // (8 * c.size))
    for b0 in range(0, cand.size, block):
        s = scale[b0 : b0 + block, None]
        if quant[0] == "int":
            q = k.int_fake(cen[None, :], s, zp[b0 : b0 + block, None], quant[1], quant[2])
        else:
            q = k.float_fake(cen[None, :], s, quant[1])
        errs[b0 : b0 + block] = ((q - cen) ** 2) @ w
    return float(cand[int(np.argmin(errs))])
