"""Gradient containers shared across modules."""

from __future__ import annotations

from typing import Any, NamedTuple

from numpy.typing import NDArray


class InputGrad(NamedTuple):
    """The gradient with respect to the input, when it is the only differentiable argument."""

    grad_x: NDArray[Any]
