"""Registry: pruning math (``refquant.prune``): masks and scores.

Structural removal, gradient sparsification and schedules are in ``registry_prune_train.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.hostile.exact import float_dtype_of
from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    SKIP,
    Combo,
    Entry,
    amount,
    array,
    axis,
    block_shape,
    choice,
    flag,
    generator,
    integer,
    mask,
    real,
    seq,
)
from tests.hostile.registry_core import shape_of

COUNT = ("round", "floor", "ceil")
TIES = ("lowest_index", "keep", "prune")
REL = ("remaining", "total")


def w34() -> np.ndarray:
    return np.array([[0.5, -0.1, 0.3, -0.7], [0.9, -0.2, 0.05, 0.4], [-0.6, 0.8, -0.15, 0.25]], np.float32)


def m34() -> np.ndarray:
    return np.array([[True, False, True, True], [True, True, True, False], [True, True, True, True]])


def g34() -> np.ndarray:
    return np.array([[1.0, -0.5, 2.0, 0.1], [0.25, 1.0, -1.0, 3.0], [-2.0, 0.5, 0.75, -0.3]], np.float32)


def x54() -> np.ndarray:
    return np.array(
        [
            [1.0, 0.5, -2.0, 0.0],
            [0.1, 0.2, 0.3, 0.4],
            [3.0, -1.0, 0.5, 2.0],
            [0.0, 0.0, 1.0, 1.0],
            [-0.5, 0.25, 0.75, -1.5],
        ],
        np.float32,
    )


def steps() -> np.ndarray:
    return np.array([0, 5, 10, 12, 20, 100])


def params() -> list[tuple[np.ndarray, np.ndarray]]:
    return [(w34().T.copy(), np.zeros(4, np.float32)), (w34(), np.array([0.1, 0.0, -0.1], np.float32))]


AMOUNT = amount(**{"True": REJECT, "0-d array 0.5": EITHER})
MASK_DT = lambda kw: np.dtype(bool)  # noqa: E731
FLOAT_W = lambda kw: float_dtype_of(kw["w"])  # noqa: E731
W_ANY = dict(nan=EITHER, inf=EITHER)  # undocumented: a clear error or a defined mask
STRUCT_OK = {"empty": ACCEPT, "Python list": ACCEPT}


def promoted(*names: str) -> Any:
    def rule(kw: dict[str, Any]) -> np.dtype:
        dts = [float_dtype_of(kw[n]) for n in names if kw.get(n) is not None]
        return np.result_type(*dts)

    return rule


def mask_args(seedw: Any = w34) -> dict[str, Any]:
    return {
        "scores": array(like="w", seed=seedw, nan=EITHER, inf=EITHER),
        "existing_mask": mask(like="w", seed=m34),
        "relative_to": choice(REL),
        "count_rule": choice(COUNT),
        "ties": choice(TIES),
    }


ENTRIES: list[Entry] = [
    Entry(
        "prune:unstructured_mask",
        lambda: dict(w=w34(), amount=0.5),
        {
            "w": array(**W_ANY, **STRUCT_OK),
            "amount": AMOUNT,
            **mask_args(),
            "axis": axis(2, **{"None": ACCEPT}),
        },
        dtype=MASK_DT,
        shape=shape_of("w"),
        extra=[
            Combo(
                "empty w with axis and existing_mask",
                {
                    "w": lambda: np.zeros((0, 4), np.float32),
                    "axis": 1,
                    "existing_mask": lambda: np.zeros((0, 4), bool),
                },
                ACCEPT,
            ),
            Combo(
                "empty w with axis=0 and existing_mask",
                {
                    "w": lambda: np.zeros((3, 0), np.float32),
                    "axis": 0,
                    "existing_mask": lambda: np.zeros((3, 0), bool),
                },
                ACCEPT,
            ),
            Combo("axis=1 with existing_mask", {"axis": 1, "existing_mask": m34}, ACCEPT),
            Combo("count larger than n", {"amount": 13}, REJECT, ("amount",), ("13",)),
            Combo(
                "amount with relative_to='total' below the existing pruning",
                {"amount": 0.05, "existing_mask": m34, "relative_to": "total"},
                EITHER,
                ("amount",),
                (),
            ),
        ],
        contract="bool mask of w's shape; exactly k pruned; amount count or fraction in [0, 1]",
    ),
    Entry(
        "prune:structured_mask",
        lambda: dict(w=w34(), amount=0.5),
        {
            "w": array(**W_ANY, **STRUCT_OK, **{"0-d": REJECT, "scalar": REJECT}),
            "amount": AMOUNT,
            "axis": axis(2),
            "p": real(0.0, None, lo_open=True, inf_ok=True),
            **mask_args(),
        },
        dtype=MASK_DT,
        shape=shape_of("w"),
        extra=[
            Combo("p=-1", {"p": -1}, REJECT, ("p",), ("-1",)),
            Combo("count 1 with existing_mask", {"amount": 1, "existing_mask": m34}, ACCEPT),
            Combo("p=0.5 with huge weights (norm overflows)", {"p": 0.5, "w": lambda: w34() * 3e38}, ACCEPT),
            Combo(
                "p=2, float64 weights whose squares overflow",
                {"w": lambda: w34().astype(np.float64) * 1e200},
                ACCEPT,
            ),
        ],
        contract="whole slices of smallest Lp norm (p > 0 or inf), computed without overflow",
    ),
    Entry(
        "prune:block_mask",
        lambda: dict(w=w34(), amount=0.5, block_shape=(2, 2)),
        {
            "w": array(**W_ANY, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT, "Python list": ACCEPT}),
            "amount": AMOUNT,
            "block_shape": block_shape((2, 2)),
            "pool": choice(("avg", "max")),
            "edge": choice(("present", "zero_pad")),
            **mask_args(),
        },
        dtype=MASK_DT,
        shape=shape_of("w"),
        extra=[
            Combo(
                "3x4 weight with a 10**5 x 10**5 block, edge='zero_pad'",
                {"block_shape": (10**5, 10**5), "edge": "zero_pad"},
                ACCEPT,
            ),
            Combo(
                "3x4 weight with a 10**5 x 10**5 block, existing_mask",
                {"block_shape": (10**5, 10**5), "existing_mask": m34},
                ACCEPT,
            ),
        ],
        contract="pooled |w| per block; no padding to the block shape",
    ),
    Entry(
        "prune:nm_mask",
        lambda: dict(w=w34(), n_keep=1, m=4),
        {
            "w": array(**W_ANY, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT, "Python list": ACCEPT}),
            "n_keep": integer(0, 4),
            "m": integer(1, None, **{"2**31": EITHER}),
            "axis": axis(2),
            "scores": array(like="w", seed=w34, nan=EITHER, inf=EITHER),
            "tail": choice(("pad", "dense", "error")),
        },
        dtype=MASK_DT,
        shape=shape_of("w"),
        extra=[
            Combo("n_keep > m", {"n_keep": 5}, REJECT, ("n_keep", "m"), ("5",)),
            Combo("m=10**9 on 4 entries", {"m": 10**9, "n_keep": 1}, ACCEPT),
            Combo(
                "tail='error' with a partial group",
                {"m": 3, "n_keep": 1, "tail": "error"},
                REJECT,
                ("tail", "m", "w"),
                ("3", "4"),
            ),
        ],
        contract="n_keep of every m along axis; 0 <= n_keep <= m",
    ),
    Entry(
        "prune:random_mask",
        lambda: dict(w=w34(), amount=0.5, rng=np.random.default_rng(0)),
        {
            "w": array(values=False, **{"empty": ACCEPT, "Python list": ACCEPT}),
            "amount": AMOUNT,
            "rng": generator(**{"None": REJECT}),
            "existing_mask": mask(like="w", seed=m34),
            "relative_to": choice(REL),
            "count_rule": choice(COUNT),
        },
        dtype=MASK_DT,
        shape=shape_of("w"),
        contract="k drawn without replacement; rng required",
    ),
    Entry(
        "prune:global_masks",
        lambda: dict(ws=[w34(), np.array([5.0, -0.2, 0.05], np.float32)], amount=3),
        {
            "ws": seq(array(**W_ANY, **STRUCT_OK), **{"[]": EITHER}),
            "amount": AMOUNT,
            "relative_to": choice(REL),
            "count_rule": choice(COUNT),
            "ties": choice(TIES),
        },
        dtype=MASK_DT,
        extra=[
            Combo(
                "3000 small tensors",
                {"ws": lambda: [np.full(4, i, np.float32) for i in range(3000)], "amount": 0.5},
                ACCEPT,
            ),
            Combo("scores list of the wrong length", {"scores": lambda: [None]}, REJECT, ("scores",), ("1",)),
            Combo(
                "existing_masks of the wrong shape",
                {"existing_masks": lambda: [np.ones((2, 2), bool), None]},
                REJECT,
                ("existing_masks",),
                ("(2, 2)",),
            ),
            Combo(
                "NaN score",
                {"scores": lambda: [np.full((3, 4), np.nan, np.float32), None]},
                EITHER,
                ("scores",),
                ("nan",),
            ),
            Combo(
                "float16 and float64 tensors",
                {"ws": lambda: [w34().astype(np.float16), np.array([5.0, -0.2])]},
                ACCEPT,
            ),
        ],
        contract="one global selection; list of bool masks",
    ),
    Entry(
        "prune:pruned_count",
        lambda: dict(amount=0.25, n=10),
        {"amount": AMOUNT, "n": integer(0, None, **{"2**31": ACCEPT}), "count_rule": choice(COUNT)},
        extra=[
            Combo("count > n", {"amount": 11}, REJECT, ("amount",), ("11",)),
            Combo("huge n with a fraction", {"amount": 0.5, "n": 2**62}, ACCEPT),
        ],
        contract="int k in [0, n]",
    ),
    Entry(
        "prune:magnitude_score",
        lambda: dict(w=w34()),
        {
            "w": array(
                nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT, **STRUCT_OK, **{"0-d": ACCEPT, "scalar": ACCEPT}
            )
        },
        dtype=FLOAT_W,
        shape=shape_of("w"),
        contract="|w|, w's float dtype",
    ),
    Entry(
        "prune:movement_score",
        lambda: dict(w=w34(), grad=g34()),
        {
            "w": array(**W_ANY),
            "grad": array(like="w", **W_ANY),
            "score": array(like="w", seed=w34, **W_ANY),
            "lr": real(0.0, None, lo_open=True),
        },
        dtype=promoted("w", "grad", "score"),
        shape=shape_of("w"),
        extra=[
            Combo(
                "w * g overflows float32",
                {"w": lambda: w34() * 3e38, "grad": lambda: g34() * 10},
                EITHER,
                ("w", "grad"),
                ("inf", "overflow"),
            )
        ],
        contract="score - lr w g in the promoted float dtype",
    ),
    Entry(
        "prune:snip_score",
        lambda: dict(w=w34(), grad=g34()),
        {
            "w": array(nan=REJECT, inf=REJECT, **{"all zeros": REJECT}),
            "grad": array(like="w", nan=REJECT, inf=REJECT, **{"all zeros": REJECT}),
        },
        dtype=promoted("w", "grad"),
        shape=shape_of("w"),
        extra=[
            Combo(
                "huge products (sum overflows float32)",
                {"w": lambda: w34() * 3e38, "grad": lambda: g34() * 1e5},
                EITHER,
                ("w", "grad"),
                ("inf", "overflow"),
            )
        ],
        contract="|g w| / sum |g w|; finite inputs, not all zero",
    ),
    Entry(
        "prune:snip_scores",
        lambda: dict(
            weights=[w34(), np.array([[4.0]], np.float32)], grads=[g34(), np.array([[-0.75]], np.float32)]
        ),
        {"weights": seq(array(nan=REJECT, inf=REJECT)), "grads": seq(array(nan=REJECT, inf=REJECT))},
        dtype=None,
        extra=[
            Combo("lengths differ", {"grads": lambda: [g34()]}, REJECT, ("grads", "weights"), ("1", "2")),
            Combo(
                "shapes differ",
                {"grads": lambda: [g34().T.copy(), np.array([[1.0]], np.float32)]},
                REJECT,
                ("grads", "weights"),
                ("(4, 3)",),
            ),
        ],
        contract="global SNIP sensitivities summing to 1; finite, not all zero",
    ),
    Entry(
        "prune:obd_saliency",
        lambda: dict(w=w34(), hessian_diag=np.abs(g34())),
        {"w": array(**W_ANY), "hessian_diag": array(like="w", **W_ANY)},
        dtype=promoted("w", "hessian_diag"),
        shape=shape_of("w"),
        contract="h w**2 / 2",
    ),
    Entry(
        "prune:linear_mse_hessian_diag",
        lambda: dict(x=x54(), out_features=3),
        {
            "x": array(**W_ANY, **{"empty": EITHER, "0-d": REJECT, "scalar": REJECT}),
            "out_features": integer(1, None, **{"2**31": SKIP}),
            "reduction": choice(("mean", "sum")),
        },
        dtype=lambda kw: float_dtype_of(kw["x"]),
        shape=lambda kw: (kw["out_features"], np.shape(kw["x"])[-1]),
        extra=[
            Combo("x**2 overflows float32", {"x": lambda: x54() * 1e20}, EITHER, ("x",), ("inf", "overflow"))
        ],
        contract="2 sum x**2 / (N out), x's float dtype, accumulated in float64",
    ),
    Entry(
        "prune:wanda_score",
        lambda: dict(w=w34(), x=x54()),
        {
            "w": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT}),
            "x": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT, "empty": EITHER}),
        },
        dtype=promoted("w", "x"),
        shape=shape_of("w"),
        extra=[
            Combo(
                "column norms overflow float32 (scaled norm is exact)",
                {"x": lambda: x54() * 1e20, "w": lambda: w34() * 1e-20},
                ACCEPT,
            ),
            Combo(
                "float64 inputs whose squared norm overflows (w has zeros: 0 * inf)",
                {"x": lambda: x54().astype(np.float64) * 1e200, "w": lambda: w34().astype(np.float64) * 0.0},
                ACCEPT,
            ),
            Combo(
                "float64 inputs whose squared norm overflows",
                {
                    "x": lambda: x54().astype(np.float64) * 1e200,
                    "w": lambda: w34().astype(np.float64) * 1e-200,
                },
                ACCEPT,
            ),
            Combo(
                "x of the wrong width",
                {"x": lambda: np.ones((5, 3), np.float32)},
                REJECT,
                ("x", "w"),
                ("(5, 3)", "3"),
            ),
        ],
        contract="|W| ||X_j|| in the promoted dtype, norms in float64",
    ),
    Entry(
        "prune:taylor_activation_score",
        lambda: dict(a=x54(), grad_a=x54()[::-1].copy()),
        {
            "a": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT, "empty": EITHER}),
            "grad_a": array(like="a", **W_ANY),
            "axis": axis(2, **{"np.int64 0": REJECT}),
            "reduction": choice(("per_example", "abs_of_mean", "mean_of_abs")),
            "normalize": flag(),
        },
        dtype=promoted("a", "grad_a"),
        shape=lambda kw: (np.shape(kw["a"])[kw.get("axis", 1)],),
        extra=[
            Combo("axis=0 (the batch)", {"axis": 0}, REJECT, ("axis",), ("0",)),
            Combo(
                "normalize with huge scores",
                {"normalize": True, "a": lambda: x54() * 1e30, "grad_a": lambda: x54() * 1e10},
                EITHER,
                ("a", "grad_a"),
                (),
            ),
        ],
        contract="per-neuron Taylor scores >= 0, shape (a.shape[axis],)",
    ),
    Entry(
        "prune:taylor_neuron_score",
        lambda: dict(
            w=w34(),
            grad_w=g34(),
            b=np.array([1.0, 0.0, 2.0], np.float32),
            grad_b=np.array([4.0, 5.0, -1.0], np.float32),
        ),
        {
            "w": array(**W_ANY, **{"0-d": REJECT, "scalar": REJECT, "empty": EITHER}),
            "grad_w": array(like="w", **W_ANY),
            "b": array(**W_ANY),
            "grad_b": array(like="b", **W_ANY),
            "reduction": choice(("square_of_sum", "sum_of_squares")),
        },
        dtype=promoted("w", "grad_w", "b", "grad_b"),
        shape=lambda kw: (np.shape(kw["w"])[0],),
        extra=[
            Combo("b without grad_b", {"grad_b": None}, REJECT, ("b", "grad_b"), ()),
            Combo(
                "square overflows float32",
                {"w": lambda: w34() * 1e20, "grad_w": lambda: g34() * 1e5},
                EITHER,
                ("w", "grad_w"),
                ("inf", "overflow"),
            ),
        ],
        contract="(sum g w)**2 per output neuron",
    ),
]

EXEMPT: dict[str, str] = {}
