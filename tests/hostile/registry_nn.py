"""Registry: networks (``refquant.nn``): layers and losses.

``mlp``, ``optim``, ``train`` and ``qat`` are in ``registry_nn_train.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.exact import float_dtype_of
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Arg,
    Combo,
    Entry,
    array,
    axis,
    choice,
    codes,
    real,
)
from tests.hostile.registry_core import shape_of


def x23() -> np.ndarray:
    return np.array([[-1.5, 0.25, 3.0], [0.5, -0.0, -7.0]], np.float32)


def g23() -> np.ndarray:
    return np.array([[1.0, -0.5, 2.0], [0.25, 1.0, -1.0]], np.float32)


def fx(name: str) -> Any:
    return lambda kw: float_dtype_of(kw[name])


def promoted(*names: str) -> Any:
    return lambda kw: np.result_type(*[float_dtype_of(kw[n]) for n in names if kw.get(n) is not None])


ELEMENTWISE = {
    "nan": ACCEPT,
    "inf": ACCEPT,
    "extreme": ACCEPT,
    "empty": ACCEPT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
}
GELU = ("none", "tanh")


def act(
    target: str, extra_args: dict[str, Arg] | None = None, base_extra: dict[str, Any] | None = None
) -> Entry:
    return Entry(
        f"nn:{target}",
        lambda: dict(x=x23(), **(base_extra or {})),
        {"x": array(**ELEMENTWISE), **(extra_args or {})},
        dtype=fx("x"),
        shape=shape_of("x"),
        contract="elementwise, shape and float dtype of x, NaN propagates, accepts 0-d and scalars",
    )


def act_vjp(
    target: str, extra_args: dict[str, Arg] | None = None, base_extra: dict[str, Any] | None = None
) -> Entry:
    return Entry(
        f"nn:{target}",
        lambda: dict(g=g23(), x=x23(), **(base_extra or {})),
        {
            "g": array(like="x", nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT),
            "x": array(**ELEMENTWISE),
            **(extra_args or {}),
        },
        dtype=fx("x"),
        shape=shape_of("x"),
        contract="grad_x of x's shape and float dtype",
    )


SLOPE = real(None, None, **{"1e300": EITHER})

SOFTMAX_LOGITS = dict(
    nan=EITHER,
    inf=EITHER,
    extreme=ACCEPT,
    **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT, "int64": ACCEPT, "uint8": ACCEPT},
)


def labels() -> np.ndarray:
    return np.array([2, 0])


ENTRIES: list[Entry] = [
    act("relu"),
    act("sigmoid"),
    act("tanh"),
    act("gelu", {"approximate": choice(GELU)}),
    act("leaky_relu", {"negative_slope": SLOPE}),
    act_vjp("relu_vjp"),
    act_vjp("sigmoid_vjp"),
    act_vjp("tanh_vjp"),
    act_vjp("gelu_vjp", {"approximate": choice(GELU)}),
    act_vjp("leaky_relu_vjp", {"negative_slope": SLOPE}),
    Entry(
        "nn:softmax",
        lambda: dict(logits=x23()),
        {"logits": array(**SOFTMAX_LOGITS), "axis": axis(2)},
        dtype=fx("logits"),
        shape=shape_of("logits"),
        contract="finite logits, at least 1-d",
    ),
    Entry(
        "nn:log_softmax",
        lambda: dict(logits=x23()),
        {"logits": array(**SOFTMAX_LOGITS), "axis": axis(2)},
        dtype=fx("logits"),
        shape=shape_of("logits"),
        contract="finite logits, values <= 0",
    ),
    Entry(
        "nn:softmax_vjp",
        lambda: dict(g=g23(), logits=x23()),
        {
            "g": array(like="logits", nan=EITHER, inf=EITHER),
            "logits": array(**SOFTMAX_LOGITS),
            "axis": axis(2),
        },
        dtype=fx("logits"),
        shape=shape_of("logits"),
    ),
    Entry(
        "nn:log_softmax_vjp",
        lambda: dict(g=g23(), logits=x23()),
        {
            "g": array(like="logits", nan=EITHER, inf=EITHER),
            "logits": array(**SOFTMAX_LOGITS),
            "axis": axis(2),
        },
        dtype=fx("logits"),
        shape=shape_of("logits"),
    ),
    Entry(
        "nn:softmax_cross_entropy",
        lambda: dict(logits=x23(), labels=labels()),
        {
            "logits": array(**{**SOFTMAX_LOGITS, "empty": REJECT}),
            "labels": codes(
                **{
                    "bool codes": REJECT,
                    "float codes (integral)": REJECT,
                    "empty": REJECT,
                    "int64 max (9223372036854775807)": REJECT,
                    "int64 min (-9223372036854775808)": REJECT,
                    "uint64 max (18446744073709551615)": REJECT,
                    "uint64 min (0)": ACCEPT,
                    "int32 max (2147483647)": REJECT,
                    "int32 min (-2147483648)": REJECT,
                    "int8 max (127)": REJECT,
                    "int8 min (-128)": REJECT,
                    "uint8 max (255)": REJECT,
                    "uint8 min (0)": ACCEPT,
                }
            ),
        },
        dtype=fx("logits"),
        shape=lambda kw: (),
        contract="labels int in [0, C); loss >= 0, float dtype of logits",
    ),
    Entry(
        "nn:softmax_cross_entropy_vjp",
        lambda: dict(g=1.0, logits=x23(), labels=labels()),
        {
            "g": real(
                None,
                None,
                **{"1e300": EITHER, "0-d array": ACCEPT, "nan": ACCEPT, "inf": ACCEPT, "-inf": ACCEPT},
            ),
            "logits": array(**{**SOFTMAX_LOGITS, "empty": REJECT}),
            "labels": codes(**{"bool codes": REJECT, "float codes (integral)": REJECT, "empty": REJECT}),
        },
        dtype=fx("logits"),
        shape=shape_of("logits"),
    ),
    Entry(
        "nn:mse_loss",
        lambda: dict(pred=x23(), target=g23()),
        {
            "pred": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": REJECT, "0-d": EITHER, "scalar": EITHER}
            ),
            "target": array(like="pred", nan=ACCEPT, inf=ACCEPT, extreme=EITHER),
        },
        dtype=promoted("pred", "target"),
        shape=lambda kw: (),
        extra=[
            Combo(
                "(pred - target)**2 overflows float32",
                {"pred": lambda: x23() * 1e37, "target": lambda: -g23() * 1e37},
                EITHER,
                ("pred", "target"),
                ("inf", "overflow"),
            )
        ],
        contract="mean squared error; NaN/inf propagate; no broadcasting",
    ),
    Entry(
        "nn:mse_loss_vjp",
        lambda: dict(g=1.0, pred=x23(), target=g23()),
        {
            "g": real(
                None,
                None,
                **{"1e300": EITHER, "0-d array": ACCEPT, "nan": ACCEPT, "inf": ACCEPT, "-inf": ACCEPT},
            ),
            "pred": array(nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": REJECT}),
            "target": array(like="pred", nan=ACCEPT, inf=ACCEPT, extreme=EITHER),
        },
        dtype=lambda kw: {
            ".grad_pred": float_dtype_of(kw["pred"]),
            ".grad_target": float_dtype_of(kw["target"]),
        },
    ),
    Entry(
        "nn:linear",
        lambda: dict(
            x=x23(),
            w=np.array([[1.0, 0.5, -1.0], [0.0, 2.0, 0.25]], np.float32),
            b=np.array([0.5, -0.5], np.float32),
        ),
        {
            "x": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": ACCEPT, "0-d": REJECT, "scalar": REJECT}
            ),
            "w": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"0-d": REJECT, "scalar": REJECT, "empty": REJECT}
            ),
            "b": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"0-d": EITHER, "scalar": EITHER, "empty": REJECT}
            ),
        },
        dtype=promoted("x", "w", "b"),
        shape=lambda kw: (*np.shape(kw["x"])[:-1], np.shape(kw["w"])[0]),
        extra=[
            Combo("1-d x", {"x": lambda: np.array([1.0, 2.0, 3.0], np.float32)}, ACCEPT),
            Combo("no bias", {"b": None}, ACCEPT),
            Combo(
                "x of the wrong width",
                {"x": lambda: np.ones((2, 4), np.float32)},
                REJECT,
                ("x", "w"),
                ("(2, 4)", "4"),
            ),
        ],
    ),
    Entry(
        "nn:linear_vjp",
        lambda: dict(
            g=np.ones((2, 2), np.float32),
            x=x23(),
            w=np.array([[1.0, 0.5, -1.0], [0.0, 2.0, 0.25]], np.float32),
            b=np.array([0.5, -0.5], np.float32),
        ),
        {
            "g": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
            ),
            "x": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"0-d": REJECT, "scalar": REJECT, "empty": REJECT}
            ),
            "w": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"0-d": REJECT, "scalar": REJECT, "empty": REJECT}
            ),
        },
        dtype=lambda kw: {".grad_x": float_dtype_of(kw["x"]), ".grad_w": float_dtype_of(kw["w"])},
        extra=[
            Combo(
                "empty batch",
                {"g": lambda: np.zeros((0, 2), np.float32), "x": lambda: np.zeros((0, 3), np.float32)},
                ACCEPT,
            )
        ],
    ),
]


EXEMPT: dict[str, str] = {
    "nn:LinearGrads": "NamedTuple of linear's gradients (a plain container)",
    "nn:MSELossGrads": "NamedTuple of mse_loss's gradients (a plain container)",
}
