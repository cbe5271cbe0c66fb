"""Diagnose why an implementation's quantized codes differ from refquant's: :func:`diagnose_quantize`.

Given the inputs of an affine quantizer and the codes another implementation
produced, find the settings of refquant's knobs (and of a few classic
implementation slips) under which :func:`refquant.quantize.quantize`
reproduces them exactly, and name the known systems that use them
(:data:`SYSTEMS`). The search, the named slips and the order of preference
are described in :func:`diagnose_quantize`.

:data:`SYSTEMS` -- the settings of each known system, for float32 inputs on
CPU, as established in ``docs/spec/affine.md`` ("Where the frameworks
differ") and pinned by :mod:`refquant.interop`, each checked against the real
system in ``tests/conformance/test_check_diagnose_conformance.py``:

* ``{}`` (divide by ``s``, half-even, ``z`` added exactly): ONNX
  ``QuantizeLinear`` (``onnx/defs/quantization/defs.cc``), ONNX Runtime's
  CPU kernel (MLAS ``MlasQuantizeLinear``: divide, clamp, ``cvtps2dq``),
  TensorRT's ``IQuantizeLayer`` (zero point 0 only);
* ``cast_before_clamp="int32"``: ``onnx.reference``'s ``QuantizeLinear``
  (``onnx/reference/ops/op_quantize_linear.py``: ``R(x/s)`` cast to int32
  before ``z`` is added);
* ``op_order="multiply", zero_point_add="after_rounding"``: PyTorch
  ``fake_quantize_per_tensor_affine`` (ATen ``QuantizedOpKernels.cpp``:
  ``z + nearbyint(x * inv_scale)`` in float32); with
  ``cast_before_clamp="int64"`` also, ``fake_quantize_per_channel_affine``
  (the same, cast to ``int64_t`` before the clamp);
* ``op_order="multiply", zero_point_add="fused"``: PyTorch
  ``quantize_per_tensor`` for quint8/qint8 (fbgemm ``QuantizeAvx2``:
  ``fmadd(x, 1/s, z)``, then ``cvtps2dq``);
* ``op_order="multiply", zero_point_add="before_rounding"``: PyTorch
  ``quantize_per_channel``, and ``quantize_per_tensor`` for qint32 (fbgemm
  ``Quantize``: ``nearbyint(z + x * inv_scale)``);
* ``rounding="half_away", cast_before_clamp="int32"``: TFLite's reference
  ``AffineQuantize`` (``lite/kernels/internal/reference/quantize.h``:
  ``static_cast<int32>(TfLiteRound(x / scale)) + zero_point``, clamped in
  int32; ``TfLiteRound`` is ``std::round``);
* ``op_order="multiply", cast_before_clamp="int32"``: TFLite's optimized
  ``QUANTIZE`` kernel on x86 (no delegate); ``op_order="multiply"``: its
  XNNPACK delegate (TFLite's default). These two were measured, not read
  from the source (tensorflow 2.21, ``tf.lite.Interpreter``): half-even at
  exact ties, ``x * fl(1/s)``, ``z`` added after rounding (neither before it
  nor in an FMA).

Not in the table, because no setting here reproduces them exactly:
TensorFlow's ``FakeQuantWithMinMaxVars`` (it rounds ``floor(u + 0.5)`` with
``u = (clip(x) - nudged_min) / s`` after three float32 roundings, see
:mod:`refquant.interop.tf`), NVIDIA ModelOpt's ``fake_tensor_quant``
(it multiplies by ``fl(qmax / amax)``, not by ``fl(1 / s)``) and TFLite's
weight quantization (``fl(127 / amax)``). The systems' NaN codes are not
diagnosed (NaN inputs are left out of the comparison).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refquant.check import _diagnose_report as R
from refquant.check import _diagnose_search as S
from refquant.check.diagnosis import Diagnosis

__all__ = ["SYSTEMS", "diagnose_quantize"]

SYSTEMS: tuple[tuple[Mapping[str, str], tuple[str, ...]], ...] = (
    (
        {},
        (
            "ONNX QuantizeLinear (spec)",
            "ONNX Runtime QuantizeLinear (CPU)",
            "TensorRT IQuantizeLayer (zero point 0)",
        ),
    ),
    (
        {"op_order": "multiply", "zero_point_add": "after_rounding"},
        ("PyTorch fake_quantize_per_tensor_affine",),
    ),
    (
        {"op_order": "multiply", "zero_point_add": "after_rounding", "cast_before_clamp": "int64"},
        ("PyTorch fake_quantize_per_channel_affine",),
    ),
    (
        {"op_order": "multiply", "zero_point_add": "fused"},
        ("PyTorch quantize_per_tensor (quint8, qint8)",),
    ),
    (
        {"op_order": "multiply", "zero_point_add": "before_rounding"},
        ("PyTorch quantize_per_channel", "PyTorch quantize_per_tensor (qint32)"),
    ),
    ({"cast_before_clamp": "int32"}, ("ONNX reference evaluator (onnx.reference) QuantizeLinear",)),
    ({"rounding": "half_away", "cast_before_clamp": "int32"}, ("TFLite reference AffineQuantize",)),
    (
        {"op_order": "multiply", "cast_before_clamp": "int32"},
        ("TFLite optimized Quantize (x86, no delegate)",),
    ),
    ({"op_order": "multiply"}, ("TFLite XNNPACK Quantize (x86, TFLite's default delegate)",)),
)
"""Known systems by their settings (float32 inputs, CPU); sources in the module docstring."""


def diagnose_quantize(
    x: ArrayLike,
    actual: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    quant_min: int,
    quant_max: int,
    *,
    axis: int | None = None,
    block_size: int | None = None,
    dequantized: bool = False,
) -> Diagnosis:
    """Why ``actual`` differs from ``quantize(x, scale, zero_point, quant_min, quant_max)``, and who makes it.

    Parameters
    ----------
    x : array_like of float, any shape
        The inputs the implementation quantized (NaN elements are left out
        of the comparison; a finding says what ``actual`` holds there).
    actual : array_like, shape of ``x``
        The implementation's integer codes (any integer dtype, or floats
        holding integers), or with ``dequantized=True`` its dequantized
        values ``(q - z) * s``. Codes outside ``[quant_min, quant_max]``, NaN
        and inf are valid: they count as different.
    scale, zero_point, quant_min, quant_max, axis, block_size
        The quantizer, as in :func:`refquant.quantize.quantize` (same
        validation; the reference is ``quantize`` with its defaults).
    dequantized : bool
        ``actual`` holds floats ``(q - z) * s``: they are mapped back to codes
        ``rint(actual / s + z)`` (``s`` in ``x``'s dtype, exact while the
        float's rounding error stays below 1/4 step, e.g. codes up to about
        ``2**22`` from ``z`` in float32); a value farther than 1/4 step from
        the grid is kept as is and counts as different.

    Returns
    -------
    Diagnosis
        ``op="quantize"``, ``unit="LSB"``; ``explained_by`` is ``{}`` when
        ``actual`` matches the reference, a dict of settings when some
        reproduce it exactly, None otherwise; ``systems`` the rows of
        :data:`SYSTEMS` whose settings reproduce ``actual`` exactly (float32
        inputs only), those equal to ``explained_by`` first.

    Notes
    -----
    .. math:: \\text{find } h \\text{ with } q_h(x) = \\text{actual}, \\qquad
              q_h(x) = \\operatorname{clip}(R_h(x \\oslash_h s) \\oplus_h z,\\; q_{min},\\; q_{max})

    **Settings searched**, singly and in pairs. Keyword arguments of
    :func:`~refquant.quantize.quantize` (so ``quantize(x, ..., **explained_by)``
    reproduces ``actual``): ``rounding`` (``half_away``, ``half_up``,
    ``half_down``, ``floor``, ``ceil``, ``trunc``), ``op_order="multiply"``,
    ``zero_point_add`` (``after_rounding``, ``before_rounding``, ``fused``;
    ``fused`` always comes with ``op_order="multiply"``), ``compute_dtype``
    (a float dtype other than ``x``'s: e.g. a float64 division, or a float64
    reciprocal with ``op_order="multiply"``), ``axis`` (another axis of the
    scales' length, per-axis only). Named slips, which are no knob of
    ``quantize``:

    * ``rounding="floor_plus_half"``: ``floor(y + 0.5)`` in the compute
      dtype -- half-up, but wrong just below ``k + 0.5``, where ``y + 0.5``
      rounds up to the next integer (``0.49999997 -> 1`` in float32);
    * ``rounding="floor_abs_plus_half"``: ``sign(y) * floor(|y| + 0.5)`` --
      half-away, wrong at ``±0.49999997`` likewise;
    * ``reciprocal="float32"``: ``x * fl32(1 / fl32(s))`` with the rest in
      float64 (where the reference divides in float64);
    * ``cast_before_clamp``: the unclamped code cast to an integer type
      before the clamp, with x86's result for NaN, inf and out-of-range
      values (the type's minimum): ``"storage"`` -- ``R + z`` cast to int32
      and wrapped to the storage dtype (``actual``'s integer dtype, else the
      smallest one holding the range): a wrap-around; ``"int32"`` --
      ``(int32)R + z`` in int32 (TFLite's reference kernel); ``"int64"`` --
      ``(int64)(R + z)`` (PyTorch's per-channel fake-quant);
    * ``zero_point_offset=+1`` or ``-1``: the zero point used is ``z ± 1``;
    * ``quant_range="narrow"`` (clamped to ``[quant_min + 1, quant_max]``) or
      ``"full"`` (``[quant_min - 1, quant_max]``, when the given range is a
      narrow one such as ``[-127, 127]``);
    * ``clamp="before_zero_point"``: ``clip(R(y), quant_min, quant_max) + z``,
      wrapped to the storage dtype.

    Settings that cannot matter on the call are not tried: no zero-point
    placement when every ``z`` is 0, ``after_rounding`` only when some
    ``|code| + |z|`` exceeds 2**11 (float16's exact integers), no fused FMA
    unless ``x`` is float32, ``cast_before_clamp="storage"`` only for
    storage of at most 32 bits.

    **Order of preference**, when several explanations reproduce ``actual``:
    no setting (the reference), then one setting, then two; within a size,
    knobs before slips (pairs of knobs first, then a knob with a slip, then
    two slips), each in the order listed above (``rounding`` first).
    The explanation is the first; the others of the same size are listed in
    the findings ("Equally explained by"): they give identical codes on this
    ``x``, and only other inputs (ties, clamp edges, large values) can tell
    them apart. Random data rarely holds ties; use tie-dense inputs.

    **Search and cost.** The reference is computed once. The hypotheses are
    screened on a subset -- up to 4096 differing elements plus matching ones
    near ties, at the clamp edges and at random, chosen with a fixed seed --
    first on 128 of its elements, then on all of it, with an independent
    NumPy model of the quantizer; the survivors are confirmed on the whole
    array (with ``quantize`` itself when they are knobs), at most 12 per
    size. Pairs are tried only when no single setting explains ``actual``.
    When nothing does, the findings say what the differing elements have in
    common (exact ties, near-ties, clamp edges, the sign of ``x`` and of the
    error, out-of-range codes, one channel or block, ``|x/s|`` beyond the
    compute dtype's integers), and the examples give ``x``, ``x/s`` in the
    compute dtype (divided and multiplied by ``1/s``) and exactly, and the
    distance to the nearest tie. ``benchmarks/check_diagnose.py`` measures
    the cost against one ``quantize`` call.

    Examples
    --------
    >>> import numpy as np
    >>> from refquant.quantize import quantize
    >>> x = np.float32([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3])
    >>> actual = quantize(x, 1.0, 0, -128, 127, rounding="half_away")
    >>> d = diagnose_quantize(x, actual, 1.0, 0, -128, 127)
    >>> d.mismatches, d.explained_by, d.systems
    (4, {'rounding': 'half_away'}, ('TFLite reference AffineQuantize',))
    >>> diagnose_quantize(x, quantize(x, 1.0, 0, -128, 127), 1.0, 0, -128, 127).matches_reference
    True
    """
    p = S.build_problem(x, actual, scale, zero_point, quant_min, quant_max, axis, block_size, dequantized)
    notes = _nan_note(p)
    if p.total == 0:
        return Diagnosis(
            "quantize",
            True,
            {},
            (),
            0,
            0,
            0.0,
            "LSB",
            (*notes, "Nothing to compare: x has no non-NaN element."),
        )
    sub = S.build_subset(p)
    if p.mis.size == 0:
        rows = S.systems_reproducing(p, sub, SYSTEMS, {})
        findings = list(notes)
        others = [n for settings, names in rows if settings for n in names]
        if others:
            findings.append(
                "These systems give the same codes on this x, although their settings differ from the "
                f"reference: {', '.join(others)}."
            )
        if sub.exact_ties == 0:
            findings.append(
                f"None of the {sub.pool} elements of x checked is an exact tie (x/s = k + 1/2), and "
                f"{sub.near_ties} are within two {p.x_dtype} ulps of one: another rounding of ties or "
                "another op order would most likely give the same codes here; test with tie-dense inputs."
            )
        names = tuple(n for _, names in rows for n in names)
        return Diagnosis("quantize", True, {}, names, 0, p.total, 0.0, "LSB", tuple(findings), searched=0)
    res = S.search(p, sub)
    max_error = _max_error(p)
    if not res.found:
        findings = R.traits(p)
        if res.capped:
            findings.append(
                f"More than {S.MAX_VERIFY} settings fit the sampled elements; none fits them all."
            )
        return Diagnosis(
            "quantize", False, None, (), int(p.mis.size), p.total, max_error, "LSB",
            (*findings, *notes), tuple(R.examples(p, 5)), res.searched,
        )  # fmt: skip
    explained = dict(res.found[0])
    findings = R.describe(explained, p)
    if len(res.found) > 1:
        findings.append(R.equivalents_text(res.found))
    rows = S.systems_reproducing(p, sub, SYSTEMS, explained)
    findings += _system_notes(rows, explained)
    if p.x_dtype != np.float32:
        findings.append(f"Systems are named for float32 inputs only; x is {p.x_dtype}.")
    names = tuple(n for _, names in rows for n in names)
    return Diagnosis(
        "quantize", False, explained, names, int(p.mis.size), p.total, max_error, "LSB",
        (*findings, *notes), tuple(R.examples(p, 3)), res.searched,
    )  # fmt: skip


def _max_error(p: S.Problem) -> float:
    """The largest ``|actual - reference|`` in LSB (inf where actual is not finite); NaN inputs left out."""
    act, ref = p.act.reshape(-1), p.ref.reshape(-1)
    if p.mis.size * 8 < act.size:  # few differences: look at them only
        act, ref = act[p.mis], ref[p.mis]
        nan = None
    else:
        nan = p.nan
    exact = act.dtype.kind in "iu" and max(act.dtype.itemsize, ref.dtype.itemsize) <= 4
    worst = 0.0
    for a in range(0, act.size, S.CHUNK):  # chunks stay in cache
        b = a + S.CHUNK
        with np.errstate(invalid="ignore"):
            if exact:
                err: Any = np.abs(np.subtract(act[a:b], ref[a:b], dtype=np.int64))
            else:
                err = np.abs(act[a:b].astype(np.float64) - ref[a:b])
                err[np.isnan(err)] = np.inf
        if nan is not None:
            err[nan[a:b]] = 0
        if err.size:
            worst = max(worst, float(np.max(err)))
    return worst


def _system_notes(
    rows: list[tuple[Mapping[str, Any], tuple[str, ...]]], explained: Mapping[str, Any]
) -> list[str]:
    """A sentence for each system that reproduces ``actual`` with other settings than ``explained``."""
    out = []
    for settings, names in rows:
        if dict(settings) == dict(explained):
            continue
        who = " and ".join(names)
        if all(settings.get(k) == v for k, v in explained.items()):
            extra = {k: v for k, v in settings.items() if k not in explained}
            out.append(
                f"{who} use {R.settings_text(settings)}; on this x, {R.settings_text(extra)} changes nothing."
            )
        else:
            out.append(f"{who} use {R.settings_text(settings)}, which give the same codes on this x.")
    return out


def _nan_note(p: S.Problem) -> list[str]:
    """What ``actual`` holds where ``x`` is NaN (those elements are not compared)."""
    if p.nan is None:
        return []
    n = int(p.nan.sum())
    held = p.act.reshape(-1)[p.nan]
    zf = p.full_params(None)[1]  # one zero point per element (flat), or 0-d per tensor
    z = zf[p.nan] if zf.ndim else np.broadcast_to(zf, held.shape)
    if np.array_equal(held, z) and np.unique(z).size > 1:
        what = "the zero point of each element"
    else:
        vals = np.unique(held)
        names = []
        for v in vals[:3].tolist():
            label = {p.qmin: " (quant_min)", p.qmax: " (quant_max)"}.get(v, "")
            if not label and np.all(z == v):
                label = " (the zero point)"
            names.append(f"{v:g}{label}")
        what = ", ".join(names) + (", ..." if vals.size > 3 else "")
    return [f"{n} NaN inputs were not compared; actual holds {what} there."]
