"""Registry: networks (``refquant.nn``: layers, losses, ``mlp``, ``optim``, ``train``, ``qat``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.check.strategies import Hostile
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
    flag,
    float_dtype,
    generator,
    integer,
    opaque,
    real,
    seq,
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

# ---------------------------------------------------------------- nn.mlp, nn.optim, nn.train, nn.qat


def _mlp() -> Any:
    from tests.hostile.api import resolve

    return resolve("nn.mlp:init_mlp")([4, 5, 3], rng=np.random.default_rng(0))


def _model(**kw: Any) -> Any:
    from tests.hostile.api import resolve

    return resolve("nn.train:Model")(params=_mlp(), **kw)


def data_x() -> np.ndarray:
    return np.linspace(-1.0, 1.0, 48, dtype=np.float32).reshape(12, 4)


def data_y() -> np.ndarray:
    return np.arange(12) % 3


def sizes_cases(base: Any) -> list[Hostile]:
    def h(label: str, v: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
        return Hostile(label, v, valid, frozenset(tags.split()), shows)

    return [
        h("one size", [4], False, "shape", ("[4]", "2", "two")),
        h("[]", [], False, "empty", ("[]", "empty", "2", "two")),
        h("zero size", [4, 0, 3], False, "finite", ("0",)),
        h("negative", [4, -1, 3], False, "finite", ("-1",)),
        h("fractional", [4, 2.5, 3], False, "type", ("2.5",)),
        h("str", "453", False, "type", ("'453'", "str")),
        h("None entry", [4, None, 3], False, "type", ("None",)),
        h("huge", [4, 2**40, 3], None, "finite huge", (str(2**40),)),
        h("tuple", (4, 5, 3), True, "finite"),
        h("np.int64 sizes", np.array([4, 5, 3]), True, "finite"),
    ]


def betas_cases(base: Any) -> list[Hostile]:
    def h(label: str, v: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
        return Hostile(label, v, valid, frozenset(tags.split()), shows)

    return [
        h("beta1 = 1", (1.0, 0.999), False, "finite", ("1.0",)),
        h("beta2 = 1", (0.9, 1.0), False, "finite", ("1.0",)),
        h("beta1 < 0", (-0.1, 0.999), False, "finite", ("-0.1",)),
        h("beta2 nan", (0.9, float("nan")), False, "nan", ("nan",)),
        h("one beta", (0.9,), False, "shape", ("(0.9,)", "0.9")),
        h("str", "0.9", False, "type", ("'0.9'", "str")),
        h("None", None, False, "type", ("None",)),
        h("(0, 0)", (0.0, 0.0), True, "finite"),
        h("list", [0.9, 0.999], True, "finite"),
    ]


def _opt_params() -> list[np.ndarray]:
    return [np.array([[1.0, -2.0], [0.5, 3.0]], np.float32), np.array([0.25, -0.75], np.float32)]


def _opt_grads() -> list[np.ndarray]:
    return [np.array([[0.1, -0.2], [0.05, 0.3]], np.float32), np.array([1.0, -1.0], np.float32)]


def _adam_base(target: str) -> Any:
    def base() -> dict[str, Any]:
        from tests.hostile.api import resolve

        return dict(
            params=_opt_params(), grads=_opt_grads(), state=resolve("nn.optim:adam_init")(_opt_params())
        )

    return base


OPT_ELEM = array(
    nan=EITHER,
    inf=EITHER,
    **{
        "empty": ACCEPT,
        "0-d": ACCEPT,
        "scalar": EITHER,
        "int64": REJECT,
        "uint8": REJECT,
        "bool": REJECT,
        "float16": REJECT,
        "object": REJECT,
    },
)


def _adam(target: str) -> Entry:
    return Entry(
        target,
        _adam_base(target),
        {
            "grads": seq(
                array(
                    nan=EITHER,
                    inf=EITHER,
                    **{
                        "empty": REJECT,
                        "0-d": REJECT,
                        "scalar": REJECT,
                        "float64": REJECT,
                        "float16": REJECT,
                        "Python list": EITHER,
                    },
                )
            ),
            "state": opaque(),
            "lr": real(0.0, None, **{"1e300": EITHER}),
            "betas": Arg("betas", betas_cases),
            "eps": real(0.0, None, **{"1e300": EITHER}),
            "weight_decay": real(0.0, None, **{"1e300": EITHER}),
            "amsgrad": flag(),
            "maximize": flag(),
            "fused": flag(),
        },
        dtype=lambda kw: {"[0][0]": np.dtype(np.float32), "[0][1]": np.dtype(np.float32)},
        extra=[
            Combo(
                "grads list shorter than params",
                {"grads": lambda: _opt_grads()[:1]},
                REJECT,
                ("grads", "params"),
                ("1", "2"),
            ),
            Combo(
                "huge gradients (g**2 overflows float32)",
                {"grads": lambda: [g * 1e30 for g in _opt_grads()]},
                EITHER,
                ("grads",),
                (),
            ),
            Combo(
                "float64 params",
                {
                    "params": lambda: [p.astype(np.float64) for p in _opt_params()],
                    "grads": lambda: [g.astype(np.float64) for g in _opt_grads()],
                },
                EITHER,
                ("state", "params"),
                (),
            ),
        ],
        contract="params tuple of the params' shapes and dtypes; lr, betas, eps, weight_decay checked",
    )


def _sgd_base() -> dict[str, Any]:
    from tests.hostile.api import resolve

    return dict(
        params=_opt_params(),
        grads=_opt_grads(),
        state=resolve("nn.optim:sgd_init")(_opt_params()),
        lr=0.1,
        momentum=0.9,
    )


ENTRIES += [
    Entry(
        "nn.optim:adam_init",
        lambda: dict(params=_opt_params()),
        {"params": seq(OPT_ELEM, **{"[]": ACCEPT})},
        contract="zero moments of each parameter's shape and dtype (float32 or float64)",
    ),
    Entry(
        "nn.optim:adamw_init", lambda: dict(params=_opt_params()), {"params": seq(OPT_ELEM, **{"[]": ACCEPT})}
    ),
    Entry(
        "nn.optim:sgd_init", lambda: dict(params=_opt_params()), {"params": seq(OPT_ELEM, **{"[]": ACCEPT})}
    ),
    _adam("nn.optim:adam_step"),
    _adam("nn.optim:adamw_step"),
    Entry(
        "nn.optim:sgd_step",
        _sgd_base,
        {
            "grads": seq(
                array(
                    nan=EITHER,
                    inf=EITHER,
                    **{
                        "empty": REJECT,
                        "0-d": REJECT,
                        "scalar": REJECT,
                        "float64": REJECT,
                        "float16": REJECT,
                        "Python list": EITHER,
                    },
                )
            ),
            "state": opaque(),
            "lr": real(0.0, None, **{"1e300": EITHER}),
            "momentum": real(0.0, None, **{"1e300": EITHER}),
            "dampening": real(None, None, **{"1e300": EITHER}),
            "nesterov": flag(**{"True": ACCEPT}),
            "weight_decay": real(0.0, None, **{"1e300": EITHER}),
            "maximize": flag(),
        },
        dtype=lambda kw: {"[0][0]": np.dtype(np.float32), "[0][1]": np.dtype(np.float32)},
        extra=[
            Combo(
                "nesterov without momentum",
                {"nesterov": True, "momentum": 0.0},
                REJECT,
                ("nesterov", "momentum"),
                (),
            ),
            Combo(
                "grads list shorter than params",
                {"grads": lambda: _opt_grads()[:1]},
                REJECT,
                ("grads", "params"),
                ("1", "2"),
            ),
        ],
    ),
    Entry(
        "nn.mlp:init_mlp",
        lambda: dict(sizes=[4, 5, 3], rng=np.random.default_rng(0)),
        {
            "sizes": Arg("sizes", sizes_cases),
            "rng": generator(**{"None": REJECT}),
            "init": choice(("kaiming_uniform", "kaiming_normal", "glorot_uniform", "glorot_normal")),
            "dtype": float_dtype(),
        },
        contract="sizes: at least two ints >= 1; weights rounded once to dtype",
    ),
    Entry(
        "nn.mlp:count_params",
        lambda: dict(params=_mlp()),
        {
            "masks": seq(
                array(values=False), seed=lambda: [np.ones((5, 4)), np.ones((3, 5))], **{"[]": REJECT}
            )
        },
        extra=[
            Combo("masks", {"masks": lambda: [np.ones((5, 4)), None]}, ACCEPT),
            Combo(
                "a mask of the wrong shape",
                {"masks": lambda: [np.ones((4, 5)), None]},
                REJECT,
                ("masks",),
                ("(4, 5)",),
            ),
        ],
    ),
    Entry(
        "nn.mlp:mlp_forward",
        lambda: dict(params=_mlp(), x=data_x()),
        {
            "x": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": ACCEPT, "0-d": REJECT, "scalar": REJECT}
            ),
            "activation": choice(("relu", "tanh", "sigmoid", "gelu")),
            "training": flag(),
        },
        extra=[
            Combo(
                "x of the wrong width",
                {"x": lambda: np.ones((3, 5), np.float32)},
                REJECT,
                ("x", "params"),
                ("(3, 5)", "5"),
            ),
            Combo("masks of the wrong length", {"masks": lambda: [None]}, REJECT, ("masks",), ("1",)),
        ],
    ),
    Entry(
        "nn.mlp:mlp_backward",
        lambda: _backward_base(),
        {
            "g_logits": array(
                nan=EITHER, inf=EITHER, extreme=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
            ),
            "activation": choice(("relu", "tanh", "sigmoid", "gelu")),
            "input_grad": flag(),
        },
        extra=[
            Combo(
                "g_logits of the wrong shape",
                {"g_logits": lambda: np.ones((12, 4), np.float32)},
                REJECT,
                ("g_logits",),
                ("(12, 4)",),
            )
        ],
    ),
    Entry(
        "nn.train:predict",
        lambda: dict(model=_model(), x=data_x()),
        {
            "x": array(
                nan=ACCEPT, inf=ACCEPT, extreme=EITHER, **{"empty": ACCEPT, "0-d": REJECT, "scalar": REJECT}
            ),
            "batch_size": integer(1, None, **{"2**31": ACCEPT}),
        },
    ),
    Entry(
        "nn.train:accuracy",
        lambda: dict(model=_model(), x=data_x(), y=data_y()),
        {
            "x": array(
                nan=EITHER, inf=EITHER, extreme=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
            ),
            "y": codes(**{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}),
        },
        extra=[Combo("y of another length", {"y": lambda: np.arange(5)}, REJECT, ("y", "x"), ("5", "12"))],
        contract="float in [0, 1]",
    ),
    Entry(
        "nn.train:train",
        lambda: dict(
            model=_model(), x=data_x(), y=data_y(), epochs=1, batch_size=4, rng=np.random.default_rng(0)
        ),
        {
            "x": array(
                nan=EITHER, inf=EITHER, extreme=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
            ),
            "y": codes(**{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}),
            "epochs": integer(0, None, **{"2**31": "skip"}),
            "batch_size": integer(1, None, **{"2**31": ACCEPT}),
            "rng": generator(**{"None": REJECT}),
            "optimizer": choice(("sgd", "adam", "adamw")),
            "lr": real(0.0, None, **{"1e300": EITHER}),
            "weight_decay": real(0.0, None, **{"1e300": EITHER}),
            "momentum": real(0.0, None, **{"1e300": EITHER}),
        },
        extra=[Combo("y of another length", {"y": lambda: np.arange(5)}, REJECT, ("y", "x"), ("5", "12"))],
        timeout=20.0,
        volatile=("seconds",),
    ),
    Entry(
        "nn.train:train_step",
        lambda: _train_step_base(),
        {
            "x": array(
                nan=EITHER, inf=EITHER, extreme=EITHER, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}
            ),
            "y": codes(**{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}),
        },
    ),
    Entry(
        "nn.qat:symmetric_weight_qparams",
        lambda: dict(w=x23(), bits=4, per_channel=True),
        {
            "w": array(
                nan=REJECT,
                inf=REJECT,
                extreme=ACCEPT,
                **{"all zeros": ACCEPT, "0-d": EITHER, "scalar": EITHER},
            ),
            "bits": integer(2, 32),
            "per_channel": flag(),
        },
        dtype=lambda kw: {"[0]": float_dtype_of(kw["w"])},
        contract="scale max|w| / qmax in w's dtype; finite w",
    ),
    Entry(
        "nn.qat:WeightQuantizer",
        lambda: dict(bits=4, per_channel=True),
        {"bits": integer(2, 32), "per_channel": flag()},
        then=lambda q: q.forward(x23(), True)[0],
        dtype=lambda kw: np.dtype(np.float32),
        contract="the quantizer's forward on a float32 weight",
    ),
    Entry(
        "nn.qat:LSQWeightQuantizer",
        lambda: dict(step=np.array([0.5, 0.25], np.float32), bits=4),
        {"step": Arg("scale", lambda base: _scale_cases((2,))), "bits": integer(2, 32)},
        then=lambda q: q.forward(x23(), True)[0],
        dtype=lambda kw: np.dtype(np.float32),
    ),
    Entry(
        "nn.qat:ActivationQuantizer",
        lambda: dict(bits=8, lo=-1.0, hi=3.0, initialized=True),
        {
            "bits": integer(2, 32),
            "lo": real(None, None, **{"1e300": EITHER}),
            "hi": real(None, None, **{"1e300": EITHER}),
            "averaging_constant": real(0.0, 1.0, lo_open=True),
            "running_minmax": flag(),
            "initialized": flag(**{"False": EITHER}),
        },
        then=lambda q: q.forward(x23(), False)[0],
        dtype=lambda kw: np.dtype(np.float32),
        extra=[Combo("lo > hi", {"lo": 3.0, "hi": -1.0}, REJECT, ("lo", "hi"), ("3.0", "-1.0"))],
    ),
]


def _scale_cases(shape: tuple[int, ...]) -> list[Hostile]:
    from refquant.check.strategies import hostile_scale_cases

    return hostile_scale_cases(np.float32, shape=shape)


def _backward_base() -> dict[str, Any]:
    from tests.hostile.api import resolve

    params = _mlp()
    logits, cache = resolve("nn.mlp:mlp_forward")(params, data_x())
    return dict(params=params, cache=cache, g_logits=np.ones_like(logits) / logits.size)


def _train_step_base() -> dict[str, Any]:
    import functools

    from tests.hostile.api import resolve

    model = _model()
    flat = [a for wb in model.params for a in wb]
    state = resolve("nn.optim:adam_init")(flat)
    step = functools.partial(resolve("nn.optim:adam_step"), lr=0.01)
    return dict(model=model, x=data_x()[:4], y=data_y()[:4], opt_state=state, step=step)


_unused = (float_dtype, REJECT)

EXEMPT: dict[str, str] = {
    "nn:LinearGrads": "NamedTuple of linear's gradients (a plain container)",
    "nn:MSELossGrads": "NamedTuple of mse_loss's gradients (a plain container)",
    "nn.mlp:LayerQuant": "dataclass pairing two quantizers (a plain container)",
    "nn.mlp:MLPCache": "dataclass of the forward's intermediates (a plain container)",
    "nn.mlp:MLPGrads": "NamedTuple of the MLP gradients (a plain container)",
    "nn.mlp:Params": "a type alias (list of (w, b) pairs), not a function",
    "nn.optim:AdamState": "dataclass of optimizer buffers (a plain container)",
    "nn.optim:SGDState": "dataclass of optimizer buffers (a plain container)",
    "nn.train:EpochLog": "dataclass of one log line (a plain container)",
    "nn.train:Model": "dataclass of params, quantizers and masks (a plain container, fed to train)",
    "nn.qat:Quantizer": "a typing.Protocol (an interface), not a function",
}
