"""One helper for per-tensor, per-axis and per-block parameters (internal).

Every elementwise quantization kernel runs through :func:`map_chunks`, which
pairs each chunk of ``x`` with the matching slice of the parameters (per-block
parameters are repeated chunk by chunk, never to ``x``'s size) and
keeps temporaries cache-sized (``CHUNK`` elements), so peak extra memory stays a
small constant beyond the output (plus a C-contiguous copy of ``x`` when it is
not C-contiguous). Chunks are visited in C order, so a stochastic kernel draws
its random numbers in the order of ``x``'s elements.

Granularity is fixed by ``axis`` and ``block_size``:

* per-tensor (``axis=None``): every parameter has one element;
* per-axis (``axis=k``): parameters are 1-D of length ``x.shape[k]``;
* per-block (``axis=k, block_size=B``): parameters have ``x``'s rank, with
  ``ceil(x.shape[k] / B)`` along ``k`` and ``x``'s size elsewhere; block ``j``
  covers indices ``[j*B, (j+1)*B)`` along ``k`` and the last may be partial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from refquant._validate import normalize_axis, show_values

CHUNK = 1 << 17
"""Elements per chunk (512 KiB of float32): large enough to amortize the per-call overhead
of NumPy, small enough that the temporaries stay in cache (measured best on a 1 MiB L2)."""

Kernel = Callable[..., None]


@dataclass(frozen=True)
class Granularity:
    """Resolved layout: ``x`` seen as ``(outer, n, inner)`` around ``axis``."""

    kind: str  # "tensor", "axis" or "block"
    axis: int | None
    block_size: int | None
    outer: int
    n: int
    inner: int


def resolve(shape: tuple[int, ...], axis: int | None, block_size: int | None) -> Granularity:
    """Validate ``axis``/``block_size`` against ``shape`` and return the layout."""
    if axis is None:
        if block_size is not None:
            raise ValueError(f"block_size={block_size} needs an axis, got axis=None")
        return Granularity("tensor", None, None, 1, math.prod(shape), 1)
    ax = normalize_axis("axis", axis, len(shape))
    outer, n, inner = math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1 :])
    if block_size is None:
        return Granularity("axis", ax, None, outer, n, inner)
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"block_size must be an int, got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    # a block_size beyond the axis length is valid: one partial block (no padding is ever allocated)
    return Granularity("block", ax, int(block_size), outer, n, inner)


def param_shape(shape: tuple[int, ...], g: Granularity) -> tuple[int, ...]:
    """The shape a parameter must have for granularity ``g`` of ``shape``."""
    if g.kind == "tensor":
        return ()
    assert g.axis is not None
    if g.kind == "axis":
        return (g.n,)
    assert g.block_size is not None
    blocks = -(-g.n // g.block_size)
    return (*shape[: g.axis], blocks, *shape[g.axis + 1 :])


def check_param(
    name: str, value: NDArray[Any], shape: tuple[int, ...], g: Granularity, given: Any = None
) -> NDArray[Any]:
    """Check a parameter's shape for ``g``; per-tensor parameters become 0-d.

    ``given`` (the argument as the caller passed it) is shown in the message
    when it is a scalar (e.g. ``True``, which ``value`` holds as ``1.0``).
    """
    want = param_shape(shape, g)
    if given is not None and np.ndim(given) == 0 and not isinstance(given, np.ndarray):
        got = f"shape () ({given!r})"
    else:
        got = f"shape {value.shape} ({show_values(value)})"
    if g.kind == "tensor":
        if value.size != 1:
            raise ValueError(f"{name} must have one element for per-tensor quantization, got {got}")
        return value.reshape(())
    if value.shape != want:
        raise ValueError(
            f"{name} must have shape {want} for {g.kind} granularity (axis={g.axis}, "
            f"block_size={g.block_size}) of an input of shape {shape}, got {got}"
        )
    return value


def expand_blocks(value: NDArray[Any], g: Granularity) -> NDArray[Any]:
    """Repeat block parameters to one value per element of ``x``, as ``(outer, n, inner)``."""
    assert g.axis is not None and g.block_size is not None
    blocks = value.shape[g.axis]
    v = value.reshape(g.outer, blocks, g.inner)
    # a block longer than the axis is one (partial) block: repeat it n times, not block_size times
    return np.repeat(v, min(g.block_size, g.n), axis=1)[:, : g.n, :]


def map_chunks(
    kernel: Kernel,
    x: NDArray[Any],
    params: Sequence[NDArray[Any]],
    g: Granularity,
    out_dtype: np.dtype[Any],
) -> NDArray[Any]:
    """Apply ``kernel(x_chunk, *param_chunks, out=out_chunk)`` over ``x``, in C order.

    Parameter chunks broadcast against the 1-D or 2-D ``x_chunk``: 0-d per
    tensor, ``(rows, 1)`` per axis, ``(rows, inner)`` per block (repeated
    chunk by chunk, never to ``x``'s size). ``x`` is never written to.
    """
    out = np.empty(x.shape, dtype=out_dtype)
    if x.size == 0:
        return out
    xc = np.ascontiguousarray(x)
    if g.kind == "tensor":
        flat_x, flat_out = xc.reshape(-1), out.reshape(-1)
        for start in range(0, flat_x.size, CHUNK):
            stop = start + CHUNK
            kernel(flat_x[start:stop], *params, out=flat_out[start:stop])
        return out
    # x as rows r = (o, j) of an (outer * n, inner) view; row r uses one row of each 2-D parameter
    x2, out2 = xc.reshape(g.outer * g.n, g.inner), out.reshape(-1, g.inner)
    if g.kind == "axis":
        p2 = [p.reshape(g.n, 1) for p in params]
        n = g.n

        def param_rows(r0: int, r1: int) -> list[NDArray[Any]]:
            # rows r0, r0 + 1, ... use p[r0 % n], p[(r0 + 1) % n], ...: a slice, or a cyclic repetition
            start, m = r0 % n, r1 - r0
            if start + m <= n:
                return [p[start : start + m] for p in p2]
            reps = -(-(start + m) // n)
            return [np.tile(p, (reps, 1))[start : start + m] for p in p2]
    else:
        assert g.block_size is not None
        bs, n = min(g.block_size, max(g.n, 1)), g.n  # a block past the axis's end is one block
        blocks = -(-n // bs)
        p2 = [p.reshape(g.outer * blocks, g.inner) for p in params]

        def param_rows(r0: int, r1: int) -> list[NDArray[Any]]:
            # parameter row q = (o, jb) covers x rows [o n + jb bs, o n + min((jb + 1) bs, n))
            q0 = r0 // n * blocks + r0 % n // bs
            q1 = (r1 - 1) // n * blocks + (r1 - 1) % n // bs + 1
            qs = np.arange(q0, q1)
            o, jb = qs // blocks, qs % blocks
            first, end = o * n + jb * bs, o * n + np.minimum((jb + 1) * bs, n)
            counts = np.minimum(end, r1) - np.maximum(first, r0)  # rows of [r0, r1) in each block
            return [np.repeat(p[q0:q1], counts, axis=0) for p in p2]

    _rows(kernel, x2, param_rows, out2)
    return out


def _rows(
    kernel: Kernel,
    x2: NDArray[Any],
    param_rows: Callable[[int, int], list[NDArray[Any]]],
    out2: NDArray[Any],
) -> None:
    """Rows ``[r0, r1)`` of ``x2`` use ``param_rows(r0, r1)`` (2-D, 1 or ``inner`` columns)."""
    rows, inner = x2.shape
    if inner > CHUNK:  # long rows: split each row into column chunks
        for r in range(rows):
            row_params = [p[0] for p in param_rows(r, r + 1)]
            for c0 in range(0, inner, CHUNK):
                c1 = c0 + CHUNK
                chunk_params = [p[c0:c1] if p.shape[0] == inner else p for p in row_params]
                kernel(x2[r, c0:c1], *chunk_params, out=out2[r, c0:c1])
        return
    step = max(1, CHUNK // max(inner, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        kernel(x2[r0:r1], *param_rows(r0, r1), out=out2[r0:r1])


def broadcast_param(value: NDArray[Any], g: Granularity, shape: tuple[int, ...]) -> NDArray[Any]:
    """A parameter reshaped (per-axis) or repeated (per-block) so that it broadcasts against ``x``."""
    if g.kind == "tensor":
        return value
    if g.kind == "axis":
        return value.reshape(_axis_shape(shape, g))
    return expand_blocks(value, g).reshape(shape)


def _axis_shape(shape: tuple[int, ...], g: Granularity) -> tuple[int, ...]:
    assert g.axis is not None
    return tuple(n if i == g.axis else 1 for i, n in enumerate(shape))
