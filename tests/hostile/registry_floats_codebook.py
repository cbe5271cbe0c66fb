"""Registry: ``refquant.floats`` codebooks (k-means weight sharing)."""

from __future__ import annotations

import numpy as np

from tests.hostile.harness import (
    ACCEPT,
    EITHER,
    REJECT,
    Combo,
    Entry,
    array,
    choice,
    codes,
    generator,
    integer,
)
from tests.hostile.registry_core import shape_of

W_POLICY = {
    "empty": REJECT,
    "0-d": ACCEPT,
    "scalar": ACCEPT,
    "int64": ACCEPT,
    "uint8": ACCEPT,
    "all zeros": ACCEPT,
}


def _w() -> np.ndarray:
    return np.array([[0.3, -1.7, 2.5], [1.0, -0.01, 0.7]], np.float32)


ENTRIES: list[Entry] = [
    Entry(
        "floats:kmeans_codebook",
        lambda: dict(w=_w(), k=3),
        {
            "w": array(nan=REJECT, inf=REJECT, extreme=EITHER, **W_POLICY),
            "k": integer(1, 65536),
            "init": choice(("linear", "density", "kmeans++"), **{"'kmeans++'": REJECT}),
            "rng": generator(**{"None": ACCEPT, "RandomState": REJECT, "int seed 0": REJECT, "str": REJECT}),
            "max_iter": integer(0, None),
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="(centroids, codes): sorted centroids, nearest-centroid codes",
        extra=[
            Combo("kmeans++ with rng", {"init": "kmeans++", "rng": lambda: np.random.default_rng(0)}, ACCEPT)
        ],
    ),
    Entry(
        "floats:codebook_assign",
        lambda: dict(w=_w(), centroids=np.array([-1.0, 0.0, 1.0])),
        {
            "w": array(nan=REJECT, inf=REJECT, extreme=ACCEPT, **{**W_POLICY, "empty": ACCEPT}),
            "centroids": array(
                nan=REJECT, inf=REJECT, finite=EITHER, extreme=EITHER, structure=False, dtypes=False
            ),
        },
        dtype=lambda kw: np.dtype(np.uint8),
        shape=shape_of("w"),
        contract="index of the nearest centroid, ties to the lower index",
        extra=[
            Combo("unsorted centroids", {"centroids": lambda: np.array([1.0, 0.0])}, REJECT, ("centroids",))
        ],
    ),
    Entry(
        "floats:codebook_decode",
        lambda: dict(codes=np.array([[0, 1], [2, 1]]), centroids=np.array([-1.0, 0.5, 2.0])),
        {"codes": codes()},
        dtype=lambda kw: np.dtype(np.float64),
        shape=shape_of("codes"),
        contract="centroids[codes]; codes outside [0, k) raise",
        extra=[Combo("code too big", {"codes": lambda: np.array([3])}, REJECT, ("codes",), ("3",))],
    ),
    Entry(
        "floats:codebook_centroid_grad",
        lambda: dict(grad_w=np.array([[0.5, 1.0], [2.0, -1.0]]), codes=np.array([[0, 1], [2, 1]]), k=3),
        {"grad_w": array(nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT, structure=False), "k": integer(3, None)},
        dtype=lambda kw: np.dtype(np.float64),
        shape=lambda kw: (kw["k"],),
        finite=True,
        contract="per-cluster sums of grad_w",
    ),
    Entry(
        "floats:codebook_decode_vjp",
        lambda: dict(
            g=np.array([[0.5, 1.0], [2.0, -1.0]]),
            codes=np.array([[0, 1], [2, 1]]),
            centroids=np.array([-1.0, 0.5, 2.0]),
        ),
        {"g": array(nan=ACCEPT, inf=ACCEPT, extreme=ACCEPT, structure=False)},
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="CentroidGrad: per-cluster sums of g",
    ),
]


def _model() -> object:
    from refquant.nn.train import Model

    return Model([(np.array([[0.3, -1.1], [2.0, 0.7]]), np.zeros(2))])


ENTRIES.append(
    Entry(
        "formats:format_quantize",
        lambda: dict(model=_model(), method="nf4-weight-only"),
        {
            "method": choice(
                tuple(__import__("refquant.recipes.formats", fromlist=["x"]).FORMAT_ROWS),
                **{"'fp8-e4m3'": REJECT, "'fp8-e5m2'": REJECT},
            )
        },
        dtype=lambda kw: None,
        shape=lambda kw: None,
        contract="the model with the format's quantizers; fp8 rows need calibration batches",
        extra=[
            Combo(
                "fp8 with calibration",
                {"method": "fp8-e4m3", "calibration": lambda: [np.ones((3, 2))]},
                ACCEPT,
            ),
            Combo("unknown method", {"method": "fp7"}, REJECT, ("method",), ("fp7",)),
        ],
    )
)

EXEMPT: dict[str, str] = {
    "formats:FixedQuantizer": "a frozen dataclass wrapping a function (the Quantizer protocol); "
    "exercised by tests/test_demo.py and its doctest",
    "formats:CodebookQuantizer": "a frozen dataclass (codes, centroids) implementing the Quantizer protocol; "
    "its vjp is codebook_centroid_grad, checked in tests/floats/test_codebook.py",
    "formats:FORMAT_ROWS": "a dict of constants",
    "floats:Codebook": "a NamedTuple container (centroids, codes)",
    "floats:CentroidGrad": "a NamedTuple container (grad_centroids)",
}
