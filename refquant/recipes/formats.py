"""Non-integer formats on the MLP: the demo's fp8, MX, NVFP4, NF4 and k-means rows.

Each row replaces the weights (and for fp8 and MXFP8 the input of every
layer) by their values on the format's grid, with the format's own scaling:

=========================  ========================================================================
row                        what each layer sees
=========================  ========================================================================
``fp8-e4m3``, ``fp8-e5m2``  per-tensor scaled casts, ``s = amax / max_finite`` (the Transformer
                           Engine / ModelOpt recipe): weights from their own amax, activations
                           from the amax of the calibration batches; ``saturate=True``
``mxfp8-e4m3``             OCP MX: blocks of 32 along the input axis, e8m0 scales ("floor"),
                           for the weights and, computed on the fly, the activations
``mxfp4-weight-only``      MXFP4 (e2m1 elements, blocks of 32 along the input axis)
``nvfp4-weight-only``      NVFP4: blocks of 16, e4m3 block scales, a float32 tensor scale
``nf4-weight-only``        NF4 (QLoRA / bitsandbytes): blocks of 64 of the flattened weight
``kmeans-16-weight-only``  16 shared values per layer (Deep Compression): k-means with the
                           linear initialization, then the centroids fine-tuned with the
                           summed gradients of their weights, the assignments fixed
=========================  ========================================================================

The quantizers follow :class:`refquant.nn.qat.Quantizer`: the fixed ones pass
the gradient straight through; the codebook one trains its centroids only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant.floats import (
    cast,
    codebook_centroid_grad,
    codebook_decode,
    float_format,
    kmeans_codebook,
    mx_dequantize,
    mx_quantize,
    nf4_dequantize,
    nf4_quantize,
    nvfp4_dequantize,
    nvfp4_quantize,
)
from refquant.nn.mlp import LayerQuant
from refquant.nn.train import Model
from refquant.recipes.ptq import calibrate

__all__ = ["FORMAT_ROWS", "CodebookQuantizer", "FixedQuantizer", "format_quantize"]

Array = NDArray[Any]

#: The demo's rows for the non-integer formats: method -> (weight label, activation label, bits W, bits A).
FORMAT_ROWS: dict[str, tuple[str, str | None, int, int | None]] = {
    "fp8-e4m3": ("e4m3", "e4m3", 8, 8),
    "fp8-e5m2": ("e5m2", "e5m2", 8, 8),
    "mxfp8-e4m3": ("mxfp8", "mxfp8", 8, 8),
    "mxfp4-weight-only": ("mxfp4", None, 4, None),
    "nvfp4-weight-only": ("nvfp4", None, 4, None),
    "nf4-weight-only": ("nf4", None, 4, None),
    "kmeans-16-weight-only": ("k-means16", None, 4, None),
}


@dataclass(frozen=True)
class FixedQuantizer:
    """A fake quantizer without parameters: ``forward(a) = fn(a)``, gradient straight through.

    Examples
    --------
    >>> q = FixedQuantizer(lambda a: np.round(a))
    >>> q.forward(np.array([0.4, 1.6]), False)[0].tolist(), q.vjp(np.ones(2), np.zeros(2))[0].tolist()
    ([0.0, 2.0], [1.0, 1.0])
    """

    fn: Callable[[Array], Array]

    @property
    def params(self) -> tuple[Array, ...]:
        """None: ``()``."""
        return ()

    def with_params(self, params: tuple[Array, ...]) -> FixedQuantizer:
        """Itself (there are no parameters)."""
        return self

    def forward(self, a: Array, training: bool) -> tuple[Array, FixedQuantizer]:
        """``fn(a)`` in ``a``'s dtype."""
        return np.asarray(self.fn(a), a.dtype), self

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]:
        """The straight-through estimator: ``g`` itself."""
        return g, ()


@dataclass(frozen=True)
class CodebookQuantizer:
    """Shared weights: ``forward(w) = centroids[codes]``; the gradient goes to the centroids only.

    The centroid gradient is the sum of the weight gradients of each cluster
    (Han et al. 2016, eq. 3); the weight itself gets none, so the assignment
    stays fixed while the shared values are fine-tuned.

    Examples
    --------
    >>> q = CodebookQuantizer(np.array([[0, 1], [1, 1]]), np.array([-1.0, 2.0]))
    >>> q.forward(np.zeros((2, 2)), False)[0].tolist()
    [[-1.0, 2.0], [2.0, 2.0]]
    >>> q.vjp(np.ones((2, 2)), np.zeros((2, 2)))[1][0].tolist()
    [1.0, 3.0]
    """

    codes: Array
    centroids: Array

    @property
    def params(self) -> tuple[Array, ...]:
        """``(centroids,)``."""
        return (self.centroids,)

    def with_params(self, params: tuple[Array, ...]) -> CodebookQuantizer:
        """The same assignment with new centroids."""
        return replace(self, centroids=params[0])

    def forward(self, a: Array, training: bool) -> tuple[Array, CodebookQuantizer]:
        """The shared values of each weight, in ``a``'s dtype (``a`` itself is not read)."""
        return codebook_decode(self.codes, self.centroids).astype(a.dtype), self

    def vjp(self, g: Array, a: Array) -> tuple[Array, tuple[Array, ...]]:
        """Zero for the weight; the summed gradient of each cluster for its centroid."""
        grad = codebook_centroid_grad(g, self.codes, self.centroids.size)
        return np.zeros_like(g), (np.asarray(grad, self.centroids.dtype),)


def format_quantize(
    model: Model,
    method: str,
    calibration: Iterable[Array] | None = None,
) -> Model:
    """``model`` with the quantizers of one of :data:`FORMAT_ROWS` (table in the module docstring).

    Parameters
    ----------
    model : Model
        The float MLP (its masks are kept; its quantizers replaced).
    method : str
        A key of :data:`FORMAT_ROWS`.
    calibration : iterable of arrays of shape (N, in), optional
        Needed by the fp8 rows (the activation amax of each layer); ignored by the others.

    Returns
    -------
    Model
        For ``kmeans-16-weight-only``, with :class:`CodebookQuantizer` s whose
        centroids training updates; otherwise with :class:`FixedQuantizer` s.

    Examples
    --------
    >>> m = Model([(np.array([[0.3, -1.1], [2.0, 0.7]]), np.zeros(2))])
    >>> q = format_quantize(m, "nf4-weight-only")  # one block, absmax 2: NF4_TABLE[[9, 2, 15, 11]] * 2
    >>> q.quant[0].weight.forward(m.params[0][0], False)[0].round(3).tolist()
    [[0.322, -1.05], [2.0, 0.676]]
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, one of {sorted(FORMAT_ROWS)}, got {method!r}")
    if method not in FORMAT_ROWS:
        raise ValueError(f"method must be one of {sorted(FORMAT_ROWS)}, got {method!r}")
    weights = [w for w, _ in model.params]
    quant: list[LayerQuant | None]
    if method in ("fp8-e4m3", "fp8-e5m2"):
        fmt = "float8_e4m3fn" if method == "fp8-e4m3" else "float8_e5m2"
        if calibration is None:
            raise ValueError(f"calibration must be given for method={method!r} (activation amax), got None")
        amax = [max(abs(q.lo), abs(q.hi)) for q in calibrate(model, calibration)]
        quant = [
            LayerQuant(_fixed(_scaled_cast, fmt, float(np.max(np.abs(w)))), _fixed(_scaled_cast, fmt, a))
            for w, a in zip(weights, amax, strict=True)
        ]
    elif method == "mxfp8-e4m3":
        quant = [LayerQuant(_fixed(_mx, "float8_e4m3fn"), _fixed(_mx, "float8_e4m3fn")) for _ in weights]
    elif method == "mxfp4-weight-only":
        quant = [LayerQuant(_fixed(_mx, "float4_e2m1fn"), None) for _ in weights]
    elif method == "nvfp4-weight-only":
        quant = [LayerQuant(FixedQuantizer(_nvfp4), None) for _ in weights]
    elif method == "nf4-weight-only":
        quant = [LayerQuant(FixedQuantizer(_nf4), None) for _ in weights]
    else:
        quant = []
        for w in weights:
            book = kmeans_codebook(w, 16, init="linear")
            quant.append(LayerQuant(CodebookQuantizer(book.codes, book.centroids.astype(w.dtype)), None))
    return replace(model, quant=tuple(quant))


def _fixed(fn: Callable[..., Array], *args: Any) -> FixedQuantizer:
    return FixedQuantizer(lambda a: fn(a, *args))


def _scaled_cast(a: Array, fmt: str, amax: float) -> Array:
    """``s * cast(a / s, fmt, saturate=True)`` with ``s = amax / max_finite`` (identity when amax is 0)."""
    if amax == 0:
        return a
    s = amax / float_format(fmt).max_finite
    return cast(a / s, fmt, saturate=True) * s


def _mx(a: Array, elem: str) -> Array:
    scales, elements = mx_quantize(a, elem, block_size=32, axis=-1)
    return mx_dequantize(scales, elements, block_size=32, axis=-1)


def _nvfp4(w: Array) -> Array:
    return nvfp4_dequantize(*nvfp4_quantize(w, block_size=16, axis=-1), block_size=16, axis=-1)


def _nf4(w: Array) -> Array:
    q = nf4_quantize(w, block_size=64)
    return nf4_dequantize(q.codes, q.absmax, block_size=64).reshape(w.shape)
