"""All registry entries and exemptions, and the coverage of the public API."""

from __future__ import annotations

from typing import Any

from tests.hostile import (
    registry_calibrate_entropy,
    registry_calibrate_mse,
    registry_calibrate_ranges,
    registry_check_compare,
    registry_check_diagnose,
    registry_check_diagnose_other,
    registry_check_inputs,
    registry_check_ops,
    registry_core,
    registry_floats,
    registry_floats_codebook,
    registry_floats_fixed,
    registry_floats_mx,
    registry_floats_nf4,
    registry_grad,
    registry_integer,
    registry_interop,
    registry_interop_calibration,
    registry_interop_onnx,
    registry_interop_onnx_integer,
    registry_interop_tf,
    registry_interop_tflite,
    registry_interop_torch_calibration,
    registry_misc,
    registry_nn,
    registry_nn_integer,
    registry_nn_train,
    registry_prune,
    registry_prune_train,
    registry_qparams,
)
from tests.hostile.api import public_callables, resolve
from tests.hostile.harness import Case, Entry, cases

AREAS = (
    registry_core,
    registry_qparams,
    registry_grad,
    registry_prune,
    registry_prune_train,
    registry_nn,
    registry_nn_integer,
    registry_nn_train,
    registry_interop,
    registry_interop_onnx,
    registry_interop_tf,
    registry_misc,
    registry_floats,
    registry_floats_codebook,
    registry_floats_fixed,
    registry_floats_mx,
    registry_floats_nf4,
    registry_calibrate_ranges,
    registry_calibrate_entropy,
    registry_calibrate_mse,
    registry_interop_torch_calibration,
    registry_interop_calibration,
    registry_check_compare,
    registry_check_diagnose,
    registry_check_diagnose_other,
    registry_check_inputs,
    registry_check_ops,
    registry_integer,
    registry_interop_onnx_integer,
    registry_interop_tflite,
)

ENTRIES: list[Entry] = [e for area in AREAS for e in area.ENTRIES]
EXEMPT: dict[str, str] = {k: v for area in AREAS for k, v in area.EXEMPT.items()}


def all_cases() -> list[Case]:
    return [c for e in ENTRIES for c in cases(e)]


def uncovered() -> list[str]:
    """Public callables (``module.name``) with neither a registry entry nor an exemption."""
    covered: set[int] = set()
    for target in [e.target for e in ENTRIES] + list(EXEMPT):
        try:
            covered.add(id(resolve(target)))
        except LookupError:
            pass
    return [f"{m}.{n}" for m, n, obj in public_callables() if id(obj) not in covered]


def stale() -> list[str]:
    """Registry targets or exemptions that name nothing public any more."""
    out = []
    for target in sorted({e.target for e in ENTRIES} | set(EXEMPT)):
        try:
            resolve(target)
        except (LookupError, ImportError, KeyError) as e:
            out.append(f"{target}: {e}")
    return out


def _unused(*_: Any) -> None: ...
