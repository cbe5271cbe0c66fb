"""Registry: ``refquant.interop.modelopt``, ``refquant.interop.onnxruntime`` (calibration) and
``refquant.recipes.calibration``."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import EITHER, REJECT, Entry, array, choice, flag, integer, real, seq
from tests.hostile.registry_misc import batches
from tests.hostile.registry_nn_train import _model


def _hist() -> dict[str, Any]:
    counts = np.array([9, 7, 5, 4, 3, 2, 2, 1, 0, 1, 0, 1], np.int64)
    return dict(calib_hist=counts, calib_bin_edges=np.linspace(0.0, 1.2, 13, dtype=np.float32))


def _batches() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(64).astype(np.float32), rng.standard_normal(32).astype(np.float32) * 2]


def _mo_state() -> Any:
    from refquant.interop.modelopt import collect_histogram

    return collect_histogram(_batches(), num_bins=16)


def _ort_state(method: str = "entropy", symmetric: bool = False, bins: int = 16) -> Any:
    from refquant.interop.onnxruntime import collect_histogram

    return collect_histogram(_batches(), method=method, symmetric=symmetric, num_bins=bins)


BATCHES = seq(array(values=False, nan=EITHER, inf=EITHER, **{"empty": EITHER}), **{"[]": REJECT})
SMALL = dict(dtype=lambda kw: None, shape=lambda kw: None)
ENTRIES: list[Entry] = [
    Entry(
        "modelopt:compute_amax_entropy",
        lambda: {**_hist(), "num_bits": 2, "start_bin": 4},
        {"unsigned": flag(), "stride": integer(1, None)},
        **SMALL,
    ),
    Entry(
        "modelopt:compute_amax_mse",
        lambda: {**_hist(), "num_bits": 4, "start_bin": 4},
        {"unsigned": flag(), "stride": integer(1, None), "shipped": flag()},
        finite=False,  # the shipped search can return NaN-free but the errors are NaN (documented)
        **SMALL,
    ),
    Entry(
        "modelopt:compute_amax_percentile",
        lambda: {**_hist(), "percentile": 90.0},
        {"percentile": real(0.0, 100.0)},
        **SMALL,
    ),
    Entry(
        "modelopt:collect_histogram",
        lambda: dict(batches=_batches(), num_bins=16),
        {"batches": BATCHES, "skip_zeros": flag(), "torch_hist": flag()},
        **SMALL,
    ),
    Entry(
        "modelopt:compute_amax",
        lambda: dict(histogram=_mo_state(), method="percentile", start_bin=4),
        {"method": choice(("entropy", "mse", "percentile")), "unsigned": flag()},
        finite=False,
        **SMALL,
    ),
    Entry(
        "onnxruntime:collect_histogram",
        lambda: dict(batches=_batches(), num_bins=16),
        {
            "batches": BATCHES,
            "method": choice(("entropy", "percentile", "distribution")),
            "symmetric": flag(),
        },
        **SMALL,
    ),
    Entry(
        "onnxruntime:compute_entropy",
        lambda: dict(histogram=_ort_state(), num_quantized_bins=4),
        {"num_quantized_bins": integer(2, 32)},  # the batches grow the 16 bins to 32
        **SMALL,
    ),
    Entry(
        "onnxruntime:compute_percentile",
        lambda: dict(histogram=_ort_state("percentile", True), percentile=99.0),
        {"percentile": real(0.0, 100.0), "symmetric": flag()},
        **SMALL,
    ),
    Entry(
        "onnxruntime:compute_distribution",
        lambda: dict(histogram=_ort_state("distribution", bins=512)),
        {"scenario": choice(("same", "p3"))},
        **SMALL,
    ),
    Entry(
        "calibration:activation_amax",
        lambda: dict(model=_model(), calibration=batches(), method="percentile"),
        {
            "calibration": seq(
                array(
                    values=False, nan=EITHER, inf=EITHER, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}
                ),
                **{"[]": EITHER},
            ),
            "method": choice(("minmax", "percentile", "entropy", "mse")),
            "act_bits": integer(2, 16, **{"hi + 1": EITHER}),
        },
        contract="one amax >= 0 per layer",
        **SMALL,
    ),
    Entry(
        "calibration:calibrated_quantize",
        lambda: dict(model=_model(), calibration=batches(), method="mse"),
        {
            "method": choice(("minmax", "percentile", "entropy", "mse")),
            "weight_bits": integer(2, 16, **{"hi + 1": EITHER}),
            "act_bits": integer(2, 16, **{"hi + 1": EITHER}),
        },
        contract="the model with per-channel weights and calibrated activation ranges",
        **SMALL,
    ),
]
EXEMPT: dict[str, str] = {}
