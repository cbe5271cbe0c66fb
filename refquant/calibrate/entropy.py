"""KL-divergence (entropy) calibration: TensorRT's threshold search (Migacz 2017) with its choices as knobs.

For each candidate threshold bin ``i`` the reference ``P`` is the histogram's
first ``i`` bins with the outliers added to the last one, the candidate ``Q``
is the same bins merged into ``num_quantized_bins`` groups and expanded back,
and the threshold of the candidate with the smallest ``KL(P || Q)`` wins.

* :func:`entropy_amax` -- the one-sided search on a ``|x|`` histogram (TensorRT, ModelOpt);
* :func:`entropy_range` -- ONNX Runtime's two-sided search on a signed symmetric histogram;
* :func:`kl_divergences` -- the whole divergence curve of either search.

The search is fast and bit-identical to the tools at once: every candidate is
screened with a prefix-sum formulation, and only the candidates whose screened
divergence lies within a rounding bound of the minimum are recomputed in the
tool's own float operation order (``refquant.calibrate._entropy_kernels``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from refquant import _validate as v
from refquant.calibrate import _entropy_kernels as kern

__all__ = ["KLCurve", "entropy_amax", "entropy_range", "kl_divergences"]

CONVENTIONS = ("tensorrt", "modelopt", "onnxruntime")
_KNOBS: dict[str, dict[str, Any]] = {
    "tensorrt": dict(merge="linspace", smoothing=None, threshold="center", tie="first", first_bin="keep"),
    "modelopt": dict(merge="linspace", smoothing=None, threshold="edge", tie="last", first_bin="copy_next"),
    "onnxruntime": dict(
        merge="floor", smoothing="onnxruntime", threshold="edge", tie="first", first_bin="keep"
    ),
}


class KLCurve(NamedTuple):
    """The divergence curve: candidate ``bins`` (int64: ``i`` one-sided, the half width two-sided),
    their ``lo``/``hi`` thresholds (edges' dtype) and ``divergences`` (float64)."""

    bins: NDArray[np.int64]
    lo: NDArray[Any]
    hi: NDArray[Any]
    divergences: NDArray[np.float64]


def _histogram(counts: ArrayLike, edges: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    c = np.asarray(counts)
    if c.dtype.kind not in "iuf" or c.dtype == np.float16:
        raise TypeError(
            f"counts must be an integer or float32/64 array, got dtype {c.dtype}: {v.show_values(c)}"
        )
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"counts must be 1-D with at least 2 bins, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(
            f"counts must be finite and >= 0, got {v.show_values(c[~(np.isfinite(c) & (c >= 0))])}"
        )
    if c.dtype.kind == "f" and np.any(c >= 2.0**53):
        raise ValueError(f"counts must be < 2**53, got {v.show_values(c[c >= 2.0**53])}")
    ed = v.as_float_array("edges", edges)
    if ed.shape != (c.size + 1,):
        raise ValueError(f"edges must have shape ({c.size + 1},) for {c.size} counts, got {ed.shape}")
    if not np.all(np.isfinite(ed)) or np.any(np.diff(ed) < 0):
        raise ValueError(f"edges must be finite and non-decreasing, got {v.show_values(ed)}")
    return c, ed


def _knobs(convention: str, **given: Any) -> dict[str, Any]:
    v.check_choice("convention", convention, CONVENTIONS)
    k = dict(_KNOBS[convention])
    k.update({name: val for name, val in given.items() if val is not None})
    v.check_choice("merge", k["merge"], ("linspace", "floor"))
    if given.get("smoothing", None) == "none":
        k["smoothing"] = None
    if k["smoothing"] not in (None, "onnxruntime"):
        raise ValueError(f"smoothing must be one of (None, 'none', 'onnxruntime'), got {k['smoothing']!r}")
    v.check_choice("threshold", k["threshold"], ("edge", "center"))
    v.check_choice("tie", k["tie"], ("first", "last"))
    v.check_choice("first_bin", k["first_bin"], ("keep", "copy_next"))
    eps = k.get("eps", 1e-4)
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < 1:
        raise ValueError(f"eps must be a float in (0, 1), got {eps!r}")
    k["eps"] = float(eps)
    return k


def _plan(
    counts: ArrayLike,
    edges: ArrayLike,
    two_sided: bool,
    nq: int,
    start_bin: int,
    stride: int,
    k: dict[str, Any],
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    c, ed = _histogram(counts, edges)
    nq = v.check_int("num_quantized_bins", nq)
    if nq < 1:
        raise ValueError(f"num_quantized_bins must be >= 1, got {nq}")
    stride = v.check_int("stride", stride)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if two_sided:
        first = nq // 2
        if first > c.size // 2 or first < 1:
            raise ValueError(f"num_quantized_bins={nq} needs 2 <= num_quantized_bins <= num_bins={c.size}")
    else:
        first = v.check_int("start_bin", start_bin)
        if not 1 <= first <= c.size:
            raise ValueError(f"start_bin must be in [1, {c.size}] (the number of bins), got {first}")
    if k["first_bin"] == "copy_next":
        c = c.copy()
        c[0] = c[1]
    s, e = kern.windows(c.size, two_sided, first, stride)
    i = (e - s) // 2 if two_sided else e
    return c, ed, s, e, i


def _thresholds(
    ed: NDArray[Any], s: NDArray[Any], e: NDArray[Any], how: str
) -> tuple[NDArray[Any], NDArray[Any]]:
    if how == "edge":
        return ed[s], ed[e]
    half = (ed[1] - ed[0]) / 2
    return ed[s] - half * (s > 0), ed[e] + half


def kl_divergences(
    counts: ArrayLike,
    edges: ArrayLike,
    *,
    two_sided: bool = False,
    num_quantized_bins: int = 128,
    start_bin: int = 128,
    stride: int = 1,
    merge: str | None = None,
    smoothing: str | None = None,
    eps: float | None = None,
    threshold: str | None = None,
    first_bin: str | None = None,
    exact: bool = True,
    convention: str = "modelopt",
) -> KLCurve:
    r"""The KL divergence of every candidate threshold: ``D[i] = KL(P_i || Q_i)``.

    Parameters
    ----------
    counts, edges : array_like, shapes ``(B,)`` and ``(B + 1,)``
        The histogram: finite non-negative counts (integers, or floats < 2**53)
        and finite non-decreasing edges (the thresholds keep their dtype).
    two_sided : bool
        False: candidates ``i = start_bin, start_bin + stride, ..., B`` over the
        first ``i`` bins (a ``|x|`` histogram). True: ONNX Runtime's windows
        ``[B//2 - i, min(B//2 + i + 1, B))`` for ``i = num_quantized_bins//2 .. B//2``.
    num_quantized_bins, start_bin, stride, merge, smoothing, eps, threshold, first_bin, convention
        As in :func:`entropy_amax` (``tie`` plays no part in the curve).
    exact : bool
        True: every candidate in the tools' own float order (slow, one at a
        time); False: the fast screen in float64.

    Returns
    -------
    KLCurve
        ``bins``, ``lo``, ``hi`` and ``divergences`` (float64; ``inf`` where
        ``P > 0`` meets ``Q = 0``, NaN where the window holds no count).

    Notes
    -----
    .. math:: D_i = \sum_j p_j \log(p_j / q_j), \quad p = P_i / \sum P_i, \; q = Q_i / \sum Q_i

    Inputs are never modified.

    Examples
    --------
    >>> curve = kl_divergences([4, 2, 2, 1, 0, 1], np.arange(7.0), num_quantized_bins=2, start_bin=4,
    ...                        convention="tensorrt")
    >>> curve.bins.tolist(), [round(float(d), 4) for d in curve.divergences]
    ([4, 5, 6], [0.0437, inf, 0.0471])
    """
    k = _knobs(
        convention, merge=merge, smoothing=smoothing, eps=eps, threshold=threshold, first_bin=first_bin
    )
    v.check_bool("two_sided", two_sided)
    v.check_bool("exact", exact)
    c, ed, s, e, i = _plan(counts, edges, two_sided, num_quantized_bins, start_bin, stride, k)
    nq = int(num_quantized_bins)
    if exact:
        d = kern.exact_curve(c, s, e, nq, k["merge"], k["smoothing"], k["eps"], ed.dtype)
    else:
        d = kern.fast_curve(c, s, e, nq, k["merge"], k["smoothing"], k["eps"], ed.dtype)[0]
    lo, hi = _thresholds(ed, s, e, k["threshold"])
    return KLCurve(i, lo, hi, d.astype(np.float64))


def entropy_amax(
    counts: ArrayLike,
    edges: ArrayLike,
    *,
    num_bits: int = 8,
    unsigned: bool = False,
    start_bin: int = 128,
    stride: int = 1,
    num_quantized_bins: int | None = None,
    merge: str | None = None,
    smoothing: str | None = None,
    eps: float | None = None,
    threshold: str | None = None,
    tie: str | None = None,
    first_bin: str | None = None,
    convention: str = "modelopt",
) -> np.float32:
    r"""The amax whose ``[0, amax]`` histogram minimizes ``KL(P || Q)`` (TensorRT's entropy calibration).

    Parameters
    ----------
    counts, edges : array_like, shapes ``(B,)`` and ``(B + 1,)``
        A histogram of ``|x|`` (finite counts >= 0; finite non-decreasing edges).
    num_bits, unsigned : int, bool
        Set ``num_quantized_bins = 2 ** (num_bits - 1 + unsigned)`` when that is None (ModelOpt).
    start_bin, stride : int
        Candidates ``i = start_bin, start_bin + stride, ..., <= B`` (``1 <= start_bin <= B``).
    merge : {"linspace", "floor"}
        ``"linspace"`` (TensorRT, ModelOpt): bin ``j < i`` joins group
        ``digitize(j, linspace(0, i, nq + 1)) - 1``; ``Q`` spreads each group's
        sum evenly over its bins that are nonzero in the histogram (zero bins get
        0), in float64. ``"floor"`` (ONNX Runtime): groups of ``i // nq`` bins,
        the remainder's counts added to the last group's sum but the remainder
        bins left at ``Q = 0``; each group's sum divided by the number of
        nonzero bins of ``P`` (outliers included) and truncated to an integer,
        over all the group's bins.
    smoothing : {None, "none", "onnxruntime"}, eps : float in (0, 1)
        ``"onnxruntime"``: ``smooth_distribution(P, eps)`` and of ``Q`` in float32
        (zero bins get ``eps``, the others lose ``eps * zeros / nonzeros``); an
        all-zero ``Q`` gives ``inf``. Default ``eps = 1e-4``.
    threshold : {"edge", "center"}
        ``edges[i]`` (ModelOpt), or ``edges[i] + width / 2`` (the slides'
        ``(m + 0.5) * width``).
    tie : {"first", "last"}
        Among equal smallest divergences: the first candidate (``np.argmin``:
        ONNX Runtime, TensorRT's slides) or the last (ModelOpt).
    first_bin : {"keep", "copy_next"}
        ``"copy_next"``: replace ``counts[0]`` by ``counts[1]`` (ModelOpt's
        ``bins[0] = bins[1]``, on a copy).
    convention : {"tensorrt", "modelopt", "onnxruntime"}
        Sets every knob left None (table in the Notes).

    Returns
    -------
    numpy.float32
        The threshold (ModelOpt returns ``torch.tensor(edge.item())``: float32).

    Raises
    ------
    ValueError, TypeError
        A bad histogram or knob (the message names it), ``start_bin > B``, or a
        smoothing ONNX Runtime's assertions would reject.

    Notes
    -----
    .. math:: i^* = \operatorname{argmin}_i \sum_j p_j \log \frac{p_j}{q_j}, \quad
              P = (c_0, \ldots, c_{i-2}, c_{i-1} + \textstyle\sum_{j \ge i} c_j)

    Source: Migacz, "8-bit Inference with TensorRT", GTC 2017 (the slides'
    pseudo-code); ModelOpt 0.47 ``modelopt/torch/quantization/calib/histogram.py``
    ``_compute_amax_entropy``; ONNX Runtime 1.32 ``quantization/calibrate.py``
    ``HistogramCollector.get_entropy_threshold`` with ``quant_utils.smooth_distribution``.

    ============ ========= ========= ========= ====== ==========
    convention   merge     smoothing threshold tie    first_bin
    ============ ========= ========= ========= ====== ==========
    tensorrt     linspace  none      center    first  keep
    modelopt     linspace  none      edge      last   copy_next
    onnxruntime  floor     onnxrt    edge      first  keep
    ============ ========= ========= ========= ====== ==========

    "tensorrt" is read from the slides, which leave open how ``i`` bins merge
    when ``nq`` does not divide ``i`` (we take ModelOpt's linspace, which
    descends from NVIDIA's pytorch-quantization), whether zero bins are
    smoothed (the slides do not; then ``P > 0 = Q`` gives ``inf``), which of
    equal minima wins (first), and whether ``m`` in ``(m + 0.5) * width`` is the
    candidate ``i`` (taken: half a bin beyond the kept range) or its last bin.
    The slides' loop ``for i in range(128, 2048)`` stops at ``i = B - 1``; refquant
    also tries ``i = B`` (the whole histogram, as ModelOpt does), so that the
    min-max range stays a candidate; ``start_bin``/``stride`` cannot exclude it, so
    on a histogram whose whole range wins, this is where "tensorrt" may read the
    slides differently from another port.

    Departures (each checked against the tool in tests/conformance):

    * ModelOpt writes ``bins[0] = bins[1]`` into the caller's histogram
      (``bins = calib_hist[:]`` is a view): ``[5, 1, ...]`` becomes ``[1, 1, ...]``.
      refquant copies.
    * ModelOpt's ``_normalize_distr`` assigns to a local only; harmless, since
      ``scipy.stats.entropy`` normalizes.
    * ModelOpt's zero bins (after the copy) are left out of ``Q`` while outliers
      land in ``P``'s last bin, so a candidate whose last bin is empty scores
      ``inf``: counts ``[4, 2, 2, 1, 0, 1]``, ``nq = 2``, candidate 5.
    * ONNX Runtime's ``Q`` is int64: ``quantized_bins[k] / norm`` truncates (a
      group of sum 1 over 2 nonzero bins gives ``Q = 0`` there).
    * ONNX Runtime leaves the remainder bins at ``Q = 0`` after counting them in
      the last group (smoothing then gives them ``eps``).
    * ONNX Runtime's divergences are float32 (its own ``entropy``: float32
      normalization, float32 ``p * log(p / q)`` terms and a float32 sum of its
      float32 smoothed ``p``, ``q``; the cast to the edges' dtype then changes
      nothing), which makes near-equal candidates tie; the first wins.
      ModelOpt keeps float64 divergences, even with float32 edges (counts
      ``[4, 4, 0, 2, 4, 0, 4, 0, 2, 6, 1, 4, 2, 0, 2, 1, 2, 0, 6, 2, 0, 2, 2, 2, 0,
      0, 3, 0, 6, 0, 4, 0, 3, 0, 2, 0, 6, 4, 3, 1, 2, 3, 0, 6, 6, 2, 0, 0]``,
      ``num_bits=2``, ``start_bin=2``: 47.0; rounding to float32 would tie and give 48.0).

    NaN policy: NaN or negative counts and non-finite edges raise. Inputs are never modified.

    Examples
    --------
    >>> counts = np.array([10, 8, 6, 4, 2, 1, 0, 1])
    >>> float(entropy_amax(counts, np.arange(9.0), num_bits=2, start_bin=4))
    5.0
    >>> float(entropy_amax(counts, np.arange(9.0), num_bits=2, start_bin=4, convention="tensorrt"))
    4.5
    """
    k = _knobs(
        convention,
        merge=merge,
        smoothing=smoothing,
        eps=eps,
        threshold=threshold,
        first_bin=first_bin,
        tie=tie,
    )
    nb = v.check_int("num_bits", num_bits)
    uns = v.check_bool("unsigned", unsigned)
    if num_quantized_bins is None:
        if not 1 <= nb <= 32 or nb - 1 + uns < 1:
            raise ValueError(f"num_bits must be in [2, 32] (or [1, 32] unsigned), got {num_bits}")
        num_quantized_bins = 1 << (nb - 1 + int(uns))
    c, ed, s, e, _ = _plan(counts, edges, False, num_quantized_bins, start_bin, stride, k)
    best, _n = kern.select(
        c, s, e, int(num_quantized_bins), k["merge"], k["smoothing"], k["eps"], ed.dtype, k["tie"]
    )
    return np.float32(_thresholds(ed, s[best : best + 1], e[best : best + 1], k["threshold"])[1][0])


def entropy_range(
    counts: ArrayLike,
    edges: ArrayLike,
    *,
    num_quantized_bins: int = 128,
    min_value: float | None = None,
    max_value: float | None = None,
    merge: str | None = None,
    smoothing: str | None = None,
    eps: float | None = None,
    threshold: str | None = None,
    tie: str | None = None,
    convention: str = "onnxruntime",
) -> tuple[np.floating[Any], np.floating[Any]]:
    r"""ONNX Runtime's two-sided entropy range ``(lo, hi)`` of a signed symmetric histogram.

    Parameters
    ----------
    counts, edges : array_like, shapes ``(B,)`` and ``(B + 1,)``
        A histogram over ``[-t, t]`` (ONNX Runtime's ``HistogramCollector``); its
        centre bin is ``z = B // 2``.
    num_quantized_bins : int
        ``2 <= nq <= B``; candidates ``i = nq // 2, ..., z``, each the window
        ``[z - i, min(z + i + 1, B))`` with both tails added to its end bins.
    min_value, max_value : float or None
        The data's min and max (``histogram[2:4]``); the chosen ``(lo, hi)`` is
        clamped to them (``lo < min_value`` gives ``min_value``), None: no clamp.
    merge, smoothing, eps, threshold, tie, convention
        As in :func:`entropy_amax` (``threshold="center"`` moves each end half a
        bin outwards); default convention "onnxruntime".

    Returns
    -------
    (lo, hi) : tuple of NumPy scalars of the edges' dtype
        ``(edges[z - i*], edges[min(z + i* + 1, B)])``, clamped.

    Notes
    -----
    .. math:: i^* = \operatorname{argmin}_i \operatorname{KL}\big(P_{[z-i, z+i]} \,\|\, Q_{[z-i, z+i]}\big)

    Source: ONNX Runtime 1.32 ``onnxruntime/quantization/calibrate.py``
    ``HistogramCollector.get_entropy_threshold``; departures in
    :func:`entropy_amax`. Inputs are never modified; NaN ``min_value`` or
    ``max_value`` raise.

    Examples
    --------
    >>> counts = np.array([1, 0, 2, 5, 9, 5, 2, 0, 1])
    >>> lo, hi = entropy_range(counts, np.linspace(-4.5, 4.5, 10), num_quantized_bins=4)
    >>> float(lo), float(hi)
    (-4.5, 4.5)
    >>> lo, hi = entropy_range(counts, np.linspace(-4.5, 4.5, 10), num_quantized_bins=4, min_value=-4.0)
    >>> float(lo), float(hi)
    (-4.0, 4.5)
    """
    k = _knobs(
        convention, merge=merge, smoothing=smoothing, eps=eps, threshold=threshold, tie=tie, first_bin="keep"
    )
    c, ed, s, e, _ = _plan(counts, edges, True, num_quantized_bins, 1, 1, k)
    best, _n = kern.select(
        c, s, e, int(num_quantized_bins), k["merge"], k["smoothing"], k["eps"], ed.dtype, k["tie"]
    )
    lo_a, hi_a = _thresholds(ed, s[best : best + 1], e[best : best + 1], k["threshold"])
    lo, hi = lo_a[0], hi_a[0]
    for name, bound in (("min_value", min_value), ("max_value", max_value)):
        if bound is not None and (
            isinstance(bound, bool) or not np.isfinite(np.asarray(bound, dtype=np.float64))
        ):
            raise ValueError(f"{name} must be a finite number or None, got {bound!r}")
    if min_value is not None and lo < min_value:
        lo = np.asarray(min_value, dtype=ed.dtype)[()]
    if max_value is not None and hi > max_value:
        hi = np.asarray(max_value, dtype=ed.dtype)[()]
    return lo, hi
