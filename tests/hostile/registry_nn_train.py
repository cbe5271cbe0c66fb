"""Registry: networks (``refquant.nn``): ``mlp``, ``optim``, ``train``, ``qat``."""

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
from tests.hostile.registry_nn import x23

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


ENTRIES: list[Entry] = [
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
