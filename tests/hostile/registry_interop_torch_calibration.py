"""Registry: PyTorch's calibration observers (``refquant.interop.torch.calibration``, issue 10)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    choice,
    flag,
    integer,
    real,
    seq,
)

# documented: NaN raises; ±inf are dropped (histogram) or kept (moving average); empty batches skipped
HIST_BATCH = array(nan=REJECT, inf=ACCEPT, extreme=EITHER, empty=ACCEPT, **{"0-d": ACCEPT, "scalar": ACCEPT})
MA_BATCH = array(nan=REJECT, inf=ACCEPT, extreme=EITHER, empty=EITHER, **{"0-d": ACCEPT, "scalar": ACCEPT})


def _batches() -> list[np.ndarray]:
    x = np.array([[0.3, -1.7, 0.5], [100.0, -0.01, 0.99999]], np.float32)
    return [x, x * 3, x / 2]


def _hist_base() -> dict[str, Any]:
    return dict(batches=_batches(), bins=16)


ENTRIES: list[Entry] = [
    Entry(
        "torch:moving_average_min_max",
        lambda: dict(batches=_batches(), averaging_constant=0.01),
        {"batches": seq(MA_BATCH), "averaging_constant": real(0, 1, lo_open=True)},
        dtype=lambda kw: np.dtype(np.float32),
        shape=lambda kw: None,
        finite=False,
        contract="the moving-average observers' float32 buffers; NaN raises, empty batches skipped",
        extra=[
            Combo("per channel 0", {"ch_axis": 0}, ACCEPT),
            Combo("per channel -1", {"ch_axis": -1}, ACCEPT),
            Combo("axis out of range", {"ch_axis": 2}, REJECT, ("ch_axis", "axis"), ("2",)),
            Combo("axis float", {"ch_axis": 1.0}, REJECT, ("ch_axis",), ("1.0",)),
            Combo("only empty batches", {"batches": [np.zeros(0, np.float32)]}, REJECT, ("batches",)),
        ],
    ),
    Entry(
        "torch:histogram_observer_state",
        _hist_base,
        {"batches": seq(HIST_BATCH, **{"[]": ACCEPT}), "bins": integer(1, 1 << 16)},
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="HistogramObserver's histogram, min_val, max_val after forward on each batch; NaN raises",
        extra=[
            Combo("only inf", {"batches": [np.array([np.inf, -np.inf], np.float32)]}, ACCEPT, finite_in=False)
        ],
    ),
    Entry(
        "torch:histogram_observer_range",
        _hist_base,
        {
            "batches": seq(HIST_BATCH, **{"[]": ACCEPT}),
            "bins": integer(1, 1 << 16),
            "dtype": choice(("quint8", "qint8", "qint32")),
            "num_threads": integer(1, None),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="_non_linear_param_search's (new_min, new_max) after the batches",
    ),
    Entry(
        "torch:histogram_observer_qparams",
        _hist_base,
        {
            "batches": seq(HIST_BATCH, **{"[]": ACCEPT}),
            "bins": integer(1, 1 << 16),
            "dtype": choice(("quint8", "qint8", "qint32")),
            "qscheme": choice(("per_tensor_affine", "per_tensor_symmetric")),
            "reduce_range": flag(),
            "eps": real(0.0, None, lo_open=True, **{"1e300": EITHER}),
        },
        dtype=lambda kw: {"[0]": np.dtype(np.float32)},
        shape=lambda kw: None,
        contract="HistogramObserver.calculate_qparams after the batches; ([1.0], [0]) if it saw nothing",
        extra=[
            Combo(
                "quint8 symmetric reduce_range (torch's zero point 128)",
                {"qscheme": "per_tensor_symmetric", "reduce_range": True},
                ACCEPT,
            ),
            Combo("custom range", {"quant_min": 0, "quant_max": 15}, ACCEPT),
            Combo(
                "custom range without 0",
                {"quant_min": 1, "quant_max": 15},
                REJECT,
                ("quant_min", "quant_max"),
            ),
            Combo(
                "per channel",
                {"qscheme": "per_channel_affine"},
                REJECT,
                ("qscheme",),
                ("per_channel_affine",),
            ),
        ],
    ),
]

EXEMPT: dict[str, str] = {
    "torch:ObserverRange": "a NamedTuple of two float32 arrays",
}
