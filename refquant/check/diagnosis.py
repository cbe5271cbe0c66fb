"""The result of every ``diagnose_*`` function: what differs, which settings explain it, who uses them.

One class for the four diagnoses (:func:`refquant.check.diagnose_quantize`,
``diagnose_mask``, ``diagnose_cast``, ``diagnose_vjp``), so that a test, the
``refquant check`` command line and a person read them the same way:

* ``matches_reference`` -- ``actual`` is what refquant's default (the spec)
  gives, element for element;
* ``explained_by`` -- the settings of refquant's semantic knobs (keyword
  arguments of the reference function, or a named implementation slip) under
  which refquant reproduces ``actual`` exactly, or None when no searched
  setting does;
* ``systems`` -- the known systems that use exactly those settings;
* ``findings`` -- one sentence each: what the mismatches have in common when
  nothing explains them, or what else was noticed;
* ``examples`` -- a few mismatching elements with their inputs, as dicts of
  printable values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Diagnosis"]


@dataclass(frozen=True)
class Diagnosis:
    """Why an implementation's output differs from refquant's reference, in one object.

    Attributes
    ----------
    op : str
        What was diagnosed: ``"quantize"``, ``"mask"``, ``"cast"`` or ``"vjp"``.
    matches_reference : bool
        Whether ``actual`` equals the reference (refquant's defaults) exactly.
    explained_by : dict or None
        Settings that reproduce ``actual`` exactly (``{}`` when it matches the
        reference; None when no searched setting does), e.g.
        ``{"rounding": "half_away", "op_order": "multiply"}``.
    systems : tuple of str
        Known systems that use exactly the settings of ``explained_by``.
    mismatches : int
        Number of elements that differ from the reference.
    total : int
        Number of elements compared.
    max_error : float
        The largest difference from the reference, in ``unit``.
    unit : str
        ``"LSB"`` (integer codes), ``"ULP"`` (floats), ``"elements"`` (masks)
        or ``"relative"`` (gradients).
    findings : tuple of str
        Sentences on what the mismatches have in common, or other notes.
    examples : tuple of dict
        A few mismatching elements: index, input, actual, reference, and what
        the diagnosis computed for them.
    searched : int
        How many settings (single and combined) were tried.

    Examples
    --------
    >>> tflite = ("TFLite reference kernels",)
    >>> d = Diagnosis("quantize", False, {"rounding": "half_away"}, tflite, 3, 100, 1.0, "LSB")
    >>> print(d)  # doctest: +NORMALIZE_WHITESPACE
    quantize: 3 of 100 elements differ from the reference (largest difference 1 LSB).
    Explained exactly by: rounding='half_away'.
    Systems with these settings: TFLite reference kernels.
    """

    op: str
    matches_reference: bool
    explained_by: dict[str, Any] | None
    systems: tuple[str, ...]
    mismatches: int
    total: int
    max_error: float
    unit: str
    findings: tuple[str, ...] = ()
    examples: tuple[Mapping[str, Any], ...] = field(default=())
    searched: int = 0

    @property
    def max_lsb(self) -> float:
        """``max_error`` when the unit is LSB (quantized codes), else NaN."""
        return self.max_error if self.unit == "LSB" else float("nan")

    def __str__(self) -> str:
        lines = [self._headline()]
        if not self.matches_reference:
            if self.explained_by is None:
                lines.append("No searched setting reproduces it exactly" + self._searched() + ".")
            else:
                lines.append("Explained exactly by: " + _settings(self.explained_by) + ".")
                if self.systems:
                    lines.append("Systems with these settings: " + ", ".join(self.systems) + ".")
        lines.extend(self.findings)
        if self.examples:
            lines.append("Examples:")
            lines.extend("  " + ", ".join(f"{k}={v}" for k, v in ex.items()) for ex in self.examples)
        return "\n".join(lines)

    def _headline(self) -> str:
        if self.matches_reference:
            return f"{self.op}: all {self.total} elements match the reference."
        size = f"{self.max_error:g} {self.unit}"
        return (
            f"{self.op}: {self.mismatches} of {self.total} elements differ from the reference "
            f"(largest difference {size})."
        )

    def _searched(self) -> str:
        return f" ({self.searched} settings and pairs tried)" if self.searched else ""


def _settings(settings: Mapping[str, Any]) -> str:
    """``rounding='half_away', op_order='multiply'`` (the reference's own settings: ``the defaults``)."""
    return ", ".join(f"{k}={v!r}" for k, v in settings.items()) if settings else "the defaults"
