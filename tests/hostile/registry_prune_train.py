"""Registry: pruning math (``refquant.prune``): structural removal, gradient sparsification, schedules."""

from __future__ import annotations

import numpy as np

from tests.hostile.exact import float_dtype_of
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    axis,
    codes,
    flag,
    integer,
    mask,
    opaque,
    real,
)
from tests.hostile.registry_core import shape_of
from tests.hostile.registry_prune import (
    FLOAT_W,
    W_ANY,
    g34,
    m34,
    params,
    promoted,
    steps,
    w34,
    x54,
)

ENTRIES: list[Entry] = [
    Entry(
        "prune:rescale_to_preserve_norm",
        lambda: dict(w=w34(), mask=m34()),
        {
            "w": array(**W_ANY, **{"all zeros": ACCEPT}),
            "mask": mask(like="w"),
            "ord": real(0.0, None, lo_open=True, inf_ok=True, **{"just above lo": EITHER}),
            "axis": axis(2, **{"None": ACCEPT}),
        },
        dtype=FLOAT_W,
        shape=shape_of("w"),
        extra=[
            Combo("norm overflows float32 (scaled norm is exact)", {"w": lambda: w34() * 3e38}, ACCEPT),
            Combo("norm overflows, per row", {"w": lambda: w34() * 3e38, "axis": 1}, ACCEPT),
            Combo(
                "float64 norm overflows (squares beyond float64)",
                {"w": lambda: w34().astype(np.float64) * 1e200},
                ACCEPT,
            ),
            Combo(
                "float64 subnormal weights, ord=2", {"w": lambda: w34().astype(np.float64) * 1e-310}, ACCEPT
            ),
            Combo("ord=-1", {"ord": -1}, REJECT, ("ord",), ("-1",)),
            Combo("ord=1, subnormal weights", {"ord": 1, "w": lambda: w34() * 1e-40}, ACCEPT),
        ],
        contract="(w * m) ||w|| / ||w * m|| per slice; dtype of w",
    ),
    Entry(
        "prune:bias_correction",
        lambda: dict(w=w34(), b=np.array([0.5, 0.0, -1.0], np.float32), mask=m34(), x_calib=x54()),
        {
            "w": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT, "empty": EITHER}),
            "b": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT, "empty": REJECT}),
            "mask": mask(like="w"),
            "x_calib": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT}),
        },
        shape=lambda kw: (np.shape(kw["w"])[0],),
        dtype=promoted("w", "b", "x_calib"),
        extra=[
            Combo(
                "x_calib of the wrong width",
                {"x_calib": lambda: np.ones((5, 3), np.float32)},
                REJECT,
                ("x_calib", "w"),
                ("(5, 3)", "3"),
            )
        ],
        contract="b + mean(x) (w - w m).T, shape (out,)",
    ),
    Entry(
        "prune:relative_gradient_threshold",
        lambda: dict(grad=g34(), ratio=0.01),
        {
            "grad": array(
                nan=ACCEPT,
                inf=ACCEPT,
                extreme=ACCEPT,
                **{"empty": ACCEPT, "all zeros": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT},
            ),
            "ratio": real(0.0, 1.0),
        },
        dtype=lambda kw: float_dtype_of(kw["grad"]),
        shape=shape_of("grad"),
        finite=True,
        contract="documented edge rules (NaN: nothing dropped; inf: threshold inf)",
    ),
    Entry(
        "prune:gradient_dropping_identity",
        lambda: dict(x=g34()),
        {
            "x": array(
                nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT, **{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT}
            )
        },
        dtype=lambda kw: float_dtype_of(kw["x"]),
        shape=shape_of("x"),
        contract="a copy of x",
    ),
    Entry(
        "prune:gradient_dropping_identity_vjp",
        lambda: dict(g=g34(), x=w34(), ratio=0.01),
        {
            "g": array(like="x", nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT),
            "x": array(nan=ACCEPT, inf=ACCEPT),
            "ratio": real(0.0, 1.0),
        },
        dtype=lambda kw: {".grad_x": float_dtype_of(kw["x"])},
        shape=shape_of("x"),
        contract="relative_gradient_threshold(g, ratio) in x's dtype",
    ),
    Entry(
        "prune:topk_error_feedback",
        lambda: dict(grad=g34(), k=3),
        {
            "grad": array(nan=REJECT, inf=ACCEPT, extreme=ACCEPT, **{"empty": EITHER}),
            "residual": array(like="grad", seed=g34, nan=REJECT, inf=ACCEPT),
            "k": integer(0, 12),
        },
        dtype=promoted("grad", "residual"),
        related=("k", "residual"),
        extra=[
            Combo(
                "residual + grad overflows float32",
                {"grad": lambda: g34() * 1e38, "residual": lambda: g34() * 1e38},
                EITHER,
                ("grad", "residual"),
                ("inf", "overflow"),
            )
        ],
        contract="partition of v = residual + grad; NaN raises; 0 <= k <= size",
    ),
    Entry(
        "prune:dgc_momentum_correction",
        lambda: dict(grad=g34(), k=3),
        {
            "grad": array(nan=REJECT, inf=EITHER, **{"empty": EITHER}),
            "velocity": array(like="grad", seed=g34, nan=REJECT, inf=EITHER),
            "accumulation": array(like="grad", seed=g34, nan=REJECT, inf=EITHER),
            "k": integer(0, 12),
            "momentum": real(0.0, 1.0),
        },
        dtype=promoted("grad", "velocity", "accumulation"),
        related=("k", "velocity", "accumulation"),
        contract="DGC step; NaN raises; k, momentum checked",
    ),
    Entry(
        "prune:constant_sparsity",
        lambda: dict(step=steps(), target_sparsity=0.5, begin_step=10, frequency=2),
        {
            "step": codes(**{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": EITHER}),
            "target_sparsity": real(0.0, 1.0),
            "begin_step": integer(0, None, **{"2**31": ACCEPT}),
            "end_step": integer(-1, None, **{"lo - 1": REJECT, "2**31": ACCEPT}),
            "frequency": integer(1, None, **{"2**31": ACCEPT}),
        },
        dtype=lambda kw: {".should_prune": np.dtype(bool), ".sparsity": np.dtype(np.float64)},
        extra=[
            Combo("end_step < begin_step", {"end_step": 5}, REJECT, ("end_step", "begin_step"), ("5", "10"))
        ],
        contract="bool should_prune and float64 sparsity of step's shape",
    ),
    Entry(
        "prune:polynomial_decay",
        lambda: dict(step=steps(), initial_sparsity=0.0, final_sparsity=0.8, begin_step=0, end_step=20),
        {
            "step": codes(**{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": EITHER}),
            "initial_sparsity": real(0.0, 1.0),
            "final_sparsity": real(0.0, 1.0),
            "begin_step": integer(0, None, **{"2**31": EITHER}),
            "end_step": integer(0, None, **{"2**31": ACCEPT}),
            "power": real(0.0, None, lo_open=True, **{"1e300": EITHER}),
            "frequency": integer(1, None, **{"2**31": ACCEPT}),
        },
        dtype=lambda kw: {".should_prune": np.dtype(bool), ".sparsity": np.dtype(np.float64)},
        extra=[
            Combo("begin_step == end_step", {"begin_step": 10, "end_step": 10}, ACCEPT),
            Combo("huge steps", {"step": lambda: np.array([2**62, -(2**62), 0])}, ACCEPT),
        ],
        contract="float64 sparsity in [s_i, s_f], monotone; power finite > 0",
    ),
    Entry(
        "prune:gradual_magnitude_pruning",
        lambda: dict(step=steps(), final_sparsity=0.875, begin_step=5, n_steps=2, frequency=5),
        {
            "step": codes(**{"empty": ACCEPT, "0-d": ACCEPT, "scalar": ACCEPT, "bool codes": EITHER}),
            "final_sparsity": real(0.0, 1.0),
            "initial_sparsity": real(0.0, 1.0),
            "begin_step": integer(0, None, **{"2**31": ACCEPT}),
            "n_steps": integer(1, None, **{"2**31": ACCEPT}),
            "frequency": integer(1, None, **{"2**31": ACCEPT}),
        },
        dtype=lambda kw: {".should_prune": np.dtype(bool), ".sparsity": np.dtype(np.float64)},
        contract="Zhu & Gupta cubic schedule, float64",
    ),
    Entry(
        "prune:iterative_pruning_sparsity",
        lambda: dict(rounds=np.array([0, 1, 2, 3]), rate=0.5),
        {
            "rounds": codes(
                **{
                    "empty": ACCEPT,
                    "0-d": ACCEPT,
                    "scalar": ACCEPT,
                    "int64 min (-9223372036854775808)": REJECT,
                    "int32 min (-2147483648)": REJECT,
                    "int8 min (-128)": REJECT,
                    "bool codes": EITHER,
                }
            ),
            "rate": real(0.0, 1.0),
        },
        dtype=lambda kw: np.dtype(np.float64),
        shape=shape_of("rounds"),
        contract="1 - (1 - rate)**k, float64",
    ),
    Entry(
        "prune:neuron_masks",
        lambda: dict(params=params(), layer=0, keep=np.array([0, 2])),
        {
            "params": opaque(),
            "layer": integer(0, 0),
            "keep": codes(**{"empty": ACCEPT, "bool codes": EITHER}),
        },
        extra=[
            Combo("keep out of range", {"keep": lambda: np.array([0, 7])}, REJECT, ("keep",), ("7",)),
            Combo("keep unsorted", {"keep": lambda: np.array([2, 0])}, EITHER, ("keep",), ("[2, 0]", "2, 0")),
            Combo("keep as bools", {"keep": lambda: np.array([True, False, True, True])}, ACCEPT),
            Combo("layer is the last layer", {"layer": 1}, REJECT, ("layer",), ("1",)),
        ],
        contract="masks of params' shapes",
    ),
    Entry(
        "prune:remove_neurons",
        lambda: dict(params=params(), layer=0, keep=np.array([0, 2])),
        {
            "params": opaque(),
            "layer": integer(0, 0),
            "keep": codes(**{"empty": ACCEPT, "bool codes": EITHER}),
            "fold_dead": flag(),
        },
        extra=[
            Combo("keep out of range", {"keep": lambda: np.array([0, 7])}, REJECT, ("keep",), ("7",)),
            Combo(
                "fold without activation, dead neuron",
                {
                    "params": lambda: [
                        (np.array([[1.0], [0.0]]), np.array([0.0, 0.5])),
                        (np.array([[1.0, 4.0]]), np.array([0.0])),
                    ],
                    "keep": lambda: [0],
                },
                REJECT,
                ("activation",),
                (),
            ),
            Combo(
                "fold with an activation",
                {
                    "params": lambda: [
                        (np.array([[1.0], [0.0]]), np.array([0.0, 0.5])),
                        (np.array([[1.0, 4.0]]), np.array([0.0])),
                    ],
                    "keep": lambda: [0],
                    "activation": lambda: np.tanh,
                },
                ACCEPT,
            ),
        ],
        contract="smaller matrices; params not modified",
    ),
]

EXEMPT: dict[str, str] = {
    "prune:DGCStep": "NamedTuple (sent, velocity, accumulation), a plain container",
    "prune:ErrorFeedbackStep": "NamedTuple (sent, residual), a plain container",
    "prune:ScheduleStep": "NamedTuple (should_prune, sparsity), a plain container",
}
