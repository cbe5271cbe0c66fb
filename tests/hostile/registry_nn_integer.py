"""Registry: the integer-only MLP (``refquant.nn.integer``): conversion, integer inference, simulations.

The model argument is the converted :class:`IntegerMLP` (a container, passed
as is); the inputs are attacked: float data for :func:`quantize_input` and the
simulation, integer codes of the model's activation type for the integer core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.harness import ACCEPT, EITHER, REJECT, Combo, Entry, array, choice, codes, opaque, real


def _params() -> list[tuple[np.ndarray, np.ndarray]]:
    w1 = np.array([[0.5, -0.25, 1.0], [-0.75, 0.125, 0.3], [0.2, 0.9, -0.4], [0.6, -0.1, 0.05]], np.float32)
    w2 = np.array([[1.0, -1.0, 0.5, 0.25], [-0.5, 0.75, -0.25, 1.0]], np.float32)
    return [(w1, np.array([0.1, -0.2, 0.0, 0.3], np.float32)), (w2, np.array([0.05, -0.05], np.float32))]


def _x() -> np.ndarray:
    return np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(4, 3)


def _model() -> Any:
    from tests.hostile.api import resolve

    return resolve("nn.integer:convert_to_integer")(_params(), [_x()])


def _codes() -> np.ndarray:
    from tests.hostile.api import resolve

    return resolve("nn.integer:quantize_input")(_model(), _x())


# float inputs: NaN rejected (quantize's policy), ±inf saturate; one (N, in) matrix of real dtype
X_POLICY = {
    "nan": REJECT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "empty": ACCEPT,  # no rows: no outputs
    "0-d": REJECT,
    "scalar": REJECT,
    "bool": EITHER,
    "object": REJECT,
}
# integer codes: exactly the model's activation dtype (int8 here) of shape (N, in); no rows: no outputs;
# a list of Python ints is int64 (not the activation dtype): rejected
CODES_POLICY = {"empty": ACCEPT, "0-d": REJECT, "scalar": REJECT, "Python list": REJECT}

ENTRIES: list[Entry] = [
    Entry(
        "nn.integer:convert_to_integer",
        lambda: dict(params=_params(), calibration=[_x()]),
        {
            "params": opaque(),
            "calibration": opaque(),
            "activation_dtype": choice(("int8", "uint8")),
            "calibrator": choice(("minmax", "moving_average", "percentile", "mse")),
            "rounding": choice(("double", "single")),
            "percentile": real(0.0, 100.0, **{"1e300": REJECT}),
        },
        finite=False,
        contract="a ReLU MLP and finite calibration batches; int8 weights, int32 biases, fixed-point scales",
        extra=[
            Combo("no calibration batch", {"calibration": lambda: []}, REJECT, ("calibration",), ()),
            Combo(
                "a batch with NaN",
                {"calibration": lambda: [np.array([[np.nan, 0.0, 1.0]], np.float32)]},
                REJECT,
                ("calibration",),
                (),
            ),
            Combo(
                "a batch of the wrong width",
                {"calibration": lambda: [np.ones((2, 4), np.float32)]},
                REJECT,
                ("calibration",),
                ("(2, 4)",),
            ),
            Combo("an array, not batches", {"calibration": _x}, REJECT, ("calibration",), ()),
        ],
    ),
    Entry(
        "nn.integer:quantize_input",
        lambda: dict(model=_model(), x=_x()),
        {"model": opaque(), "x": array(**X_POLICY)},
        finite=False,
        extra=[Combo("not a model", {"model": lambda: "model"}, REJECT, ("model",), ())],
    ),
    Entry(
        "nn.integer:simulate_forward",
        lambda: dict(model=_model(), x=_x()),
        {"model": opaque(), "x": array(**X_POLICY), "requantization": choice(("fixed", "float"))},
        finite=False,
    ),
    Entry(
        "nn.integer:integer_forward",
        lambda: dict(model=_model(), x_q=_codes()),
        {"model": opaque(), "x_q": codes(**CODES_POLICY), "kernel": choice(("integer", "blas"))},
        finite=False,
        extra=[
            Combo(
                "float codes",
                {"x_q": lambda: _codes().astype(np.float32)},
                REJECT,
                ("x_q",),
                ("float32",),
            )
        ],
    ),
    Entry(
        "nn.integer:requantization_differences",
        lambda: dict(model=_model(), x_q=_codes()),
        {"model": opaque(), "x_q": codes(**CODES_POLICY)},
        finite=False,
    ),
    Entry(
        "nn.integer:dequantize_output",
        lambda: dict(model=_model(), y_q=np.array([[3, -7], [127, -128]], np.int8)),
        {"model": opaque(), "y_q": codes()},
        finite=False,
    ),
]
EXEMPT: dict[str, str] = {
    "nn.integer:IntegerLinear": "a frozen dataclass of one integer layer (built by convert_to_integer)",
    "nn.integer:IntegerMLP": "a frozen dataclass of the integer layers (built by convert_to_integer)",
    "nn.integer:RequantDifferences": "a NamedTuple of counts",
}
