"""Registry: ``refquant.check``, ``refquant.datasets`` and the recipes (PTQ, QAT, pruning)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refquant.check.strategies import Hostile
from tests.hostile.api import resolve
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    SKIP,
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
from tests.hostile.registry_nn_train import _model, data_x, data_y


def x64() -> np.ndarray:
    return np.array([[-1.5, 0.25, 3.0], [0.5, 0.1, -0.7]])


def _check_base() -> dict[str, Any]:
    return dict(f=resolve("nn:tanh"), f_vjp=resolve("nn:tanh_vjp"), args=(x64(),))


def args_cases(base: Any) -> list[Hostile]:
    def h(label: str, v: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
        return Hostile(label, v, valid, frozenset(tags.split()), shows)

    bad = x64()
    bad[0, 1] = np.nan
    return [
        h("not a sequence", x64(), None, "type", ("args", "sequence", "tuple")),
        h("empty", (), False, "empty", ("()", "empty", "0")),
        h("NaN in the argument", (bad,), None, "nan", ("nan",)),
        h("float32 argument", (x64().astype(np.float32),), True, "dtype"),
        h("list argument", (x64().tolist(),), True, "list"),
        h("read-only argument", (_ro(x64()),), True, "view"),
        h("strings", ("abc",), False, "type", ("'abc'", "str")),
    ]


def _ro(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def argnums_cases(base: Any) -> list[Hostile]:
    def h(label: str, v: Any, valid: bool | None, tags: str, shows: tuple[str, ...] = ()) -> Hostile:
        return Hostile(label, v, valid, frozenset(tags.split()), shows)

    return [
        h("out of range", 5, False, "finite", ("5",)),
        h("-1", -1, True, "finite"),
        h("str", "0", False, "type", ("'0'",)),
        h("float", 0.0, False, "type", ("0.0",)),
        h("repeated", [0, 0], None, "finite", ("[0, 0]", "0")),
        h("bool", True, None, "type", ("True",)),
        h("[0]", [0], True, "finite"),
    ]


GRADCHECK_FAIL = (AssertionError,)  # documented: a check that fails raises AssertionError

ENTRIES: list[Entry] = [
    Entry(
        "check:check_vjp",
        _check_base,
        {
            "args": Arg("args", args_cases),
            "argnums": Arg("argnums", argnums_cases),
            "eps": real(
                0.0,
                None,
                lo_open=True,
                **{"1e300": EITHER, "just above lo": EITHER, "mid": EITHER, "np.float32": EITHER},
            ),
            "rtol": real(0.0, None, **{"1e300": EITHER, "lo": EITHER}),
            "atol": real(0.0, None, **{"1e300": EITHER, "lo": EITHER}),
            "rng": generator(**{"None": ACCEPT}),
            "n_directions": integer(1, None, **{"2**31": SKIP}),
            "jacobian_max_size": integer(0, None, **{"2**31": ACCEPT}),
        },
        ok_exceptions={"args": GRADCHECK_FAIL, "argnums": GRADCHECK_FAIL, "eps": GRADCHECK_FAIL},
        volatile=(),
        contract="GradcheckResult on success, AssertionError naming the argument on a mismatch",
        extra=[
            Combo("f not callable", {"f": 3}, REJECT, ("f",), ("3", "int")),
            Combo(
                "wrong vjp",
                {"f_vjp": lambda: resolve("nn:sigmoid_vjp")},
                REJECT,
                ("f_vjp", "x"),
                (),
                ok_exceptions=GRADCHECK_FAIL,
            ),
        ],
    ),
    Entry(
        "check:check_vjp_against",
        lambda: dict(
            f_vjp=resolve("nn:tanh_vjp"),
            reference_vjp=resolve("nn:tanh_vjp"),
            args=(x64(),),
            f=resolve("nn:tanh"),
        ),
        {
            "args": Arg("args", args_cases),
            "argnums": Arg("argnums", argnums_cases),
            "cotangent": array(
                seed=x64, nan=EITHER, inf=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT}
            ),
            "rtol": real(0.0, None, **{"1e300": EITHER}),
            "atol": real(0.0, None, **{"1e300": EITHER}),
            "rng": generator(**{"None": ACCEPT}),
            "n_cotangents": integer(1, None, **{"2**31": SKIP}),
        },
        ok_exceptions={"args": GRADCHECK_FAIL, "argnums": GRADCHECK_FAIL, "cotangent": GRADCHECK_FAIL},
        contract="GradcheckResult when equal within rtol/atol",
    ),
    Entry(
        "datasets:load_digits",
        lambda: dict(split="test"),
        {
            "split": choice(("train", "test", "all"), **{"None": ACCEPT}),
            "dtype": float_dtype(("float16", "float32", "float64")),
            "scale": flag(),
        },
        extra=[
            Combo("split=None", {"split": None}, ACCEPT),
            Combo("integer dtype without scaling", {"dtype": np.int16, "scale": False}, ACCEPT),
            Combo(
                "integer dtype with scaling",
                {"dtype": np.int16, "scale": True},
                REJECT,
                ("dtype", "scale"),
                ("int16",),
            ),
        ],
        contract="fresh arrays of dtype; int dtypes only with scale=False",
    ),
    Entry("datasets:load_digits_raw", lambda: dict(), {}, contract="fresh uint8 arrays"),
]

# ------------------------------------------------------------------------------------------ recipes


def batches() -> list[np.ndarray]:
    return [data_x()[:6], data_x()[6:]]


RECIPE_X = array(values=False, nan=EITHER, inf=EITHER, **{"empty": REJECT, "0-d": REJECT, "scalar": REJECT})
RECIPE_Y = codes(**{"empty": REJECT, "0-d": REJECT, "scalar": REJECT})
EPOCHS0 = integer(0, None, **{"2**31": SKIP})
EPOCHS1 = integer(1, None, **{"2**31": SKIP})
BATCH = integer(1, None, **{"2**31": ACCEPT})
LR = real(0.0, None, **{"1e300": EITHER})
BITS = integer(2, 16, **{"hi + 1": EITHER})


def _recipe_base(**kw: Any) -> Any:
    def base() -> dict[str, Any]:
        return dict(model=_model(), x=data_x(), y=data_y(), rng=np.random.default_rng(0), **kw)

    return base


ENTRIES += [
    Entry(
        "ptq:calibrate",
        lambda: dict(model=_model(), batches=batches()),
        {
            "batches": seq(
                array(
                    values=False, nan=EITHER, inf=EITHER, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}
                ),
                **{"[]": EITHER},
            ),
            "act_bits": BITS,
        },
        contract="one initialized ActivationQuantizer per layer",
    ),
    Entry(
        "ptq:post_training_quantize",
        lambda: dict(model=_model(), calibration=batches()),
        {
            "calibration": seq(
                array(
                    values=False, nan=EITHER, inf=EITHER, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}
                ),
                **{"[]": EITHER},
            ),
            "weight_bits": BITS,
            "act_bits": integer(2, 16, **{"hi + 1": EITHER, "None": ACCEPT}),
            "per_channel": flag(),
        },
        extra=[
            Combo("weights only", {"act_bits": None, "calibration": None}, ACCEPT),
            Combo("activations without calibration", {"calibration": None}, REJECT, ("calibration",), ()),
        ],
    ),
    Entry(
        "ptq:prepare_qat",
        lambda: dict(model=_model(), calibration=batches()),
        {
            "calibration": seq(
                array(
                    values=False, nan=EITHER, inf=EITHER, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}
                ),
                **{"[]": EITHER},
            ),
            "weight_bits": BITS,
            "act_bits": BITS,
            "weight_quantizer": choice(("ste", "lsq")),
            "averaging_constant": real(0.0, 1.0, lo_open=True),
        },
    ),
    Entry(
        "pruning:sparsity",
        lambda: dict(model=_model(masks=(np.ones((5, 4)), None))),
        {"model": opaque()},
        extra=[
            Combo("no masks", {"model": lambda: _model()}, ACCEPT),
            Combo(
                "a NaN mask",
                {"model": lambda: _model(masks=(np.full((5, 4), np.nan), None))},
                EITHER,
                ("model", "masks"),
                ("nan",),
            ),
            Combo(
                "a mask of the wrong shape",
                {"model": lambda: _model(masks=(np.ones((2, 2)), None))},
                REJECT,
                ("model", "masks"),
                ("(2, 2)",),
            ),
        ],
        contract="float in [0, 1]",
    ),
    Entry(
        "pruning:gradual_magnitude_prune",
        _recipe_base(final_sparsity=0.5, prune_epochs=2, finetune_epochs=1),
        {
            "x": RECIPE_X,
            "y": RECIPE_Y,
            "final_sparsity": real(0.0, 1.0),
            "prune_epochs": EPOCHS1,
            "finetune_epochs": EPOCHS0,
            "rng": generator(**{"None": REJECT}),
            "batch_size": BATCH,
            "lr": LR,
        },
        volatile=("seconds",),
        timeout=20.0,
        related=("x", "y"),
    ),
    Entry(
        "pruning:iterative_magnitude_prune",
        _recipe_base(rounds=2, rate=0.5, epochs=1),
        {
            "x": RECIPE_X,
            "y": RECIPE_Y,
            "rounds": EPOCHS0,
            "rate": real(0.0, 1.0),
            "epochs": EPOCHS0,
            "rng": generator(**{"None": REJECT}),
            "batch_size": BATCH,
            "lr": LR,
        },
        volatile=("seconds",),
        timeout=20.0,
        related=("x", "y"),
    ),
    Entry(
        "pruning:nm_prune",
        _recipe_base(finetune_epochs=1),
        {
            "x": RECIPE_X,
            "y": RECIPE_Y,
            "n_keep": integer(0, 4),
            "m": integer(1, None, **{"2**31": EITHER, "lo": EITHER, "np.int64": EITHER}),
            "finetune_epochs": EPOCHS0,
            "rng": generator(**{"None": REJECT}),
            "batch_size": BATCH,
            "lr": LR,
        },
        extra=[Combo("layers out of range", {"layers": (5,)}, REJECT, ("layers",), ("5",))],
        volatile=("seconds",),
        timeout=20.0,
        related=("x", "y"),
    ),
    Entry(
        "pruning:taylor_structured_prune",
        _recipe_base(fraction=0.4, finetune_epochs=1),
        {
            "x": RECIPE_X,
            "y": RECIPE_Y,
            "fraction": real(0.0, 1.0),
            "finetune_epochs": EPOCHS0,
            "rng": generator(**{"None": REJECT}),
            "batch_size": BATCH,
            "lr": LR,
        },
        volatile=("seconds",),
        timeout=20.0,
        related=("x", "y"),
    ),
]

EXEMPT: dict[str, str] = {
    "check:ArgumentCheck": "frozen dataclass of one comparison's numbers (a plain container)",
    "check:GradcheckResult": "frozen dataclass of the comparisons (a plain container)",
    "datasets:Digits": "NamedTuple of the split arrays (a plain container)",
    "datasets:DigitsRaw": "NamedTuple of the stored arrays (a plain container)",
    "datasets:DigitsSplit": "NamedTuple (x, y) (a plain container)",
}

_unused = (EITHER, opaque)
