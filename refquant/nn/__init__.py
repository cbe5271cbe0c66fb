"""Manual forward and backward passes for small MLPs, in NumPy.

* :mod:`refquant.nn.layers` -- ``linear`` (PyTorch's ``(out, in)`` weight
  layout) and the activations ``relu``, ``leaky_relu``, ``sigmoid``, ``tanh``,
  ``gelu``, each beside its ``_vjp``;
* :mod:`refquant.nn.losses` -- ``softmax``, ``log_softmax``,
  ``softmax_cross_entropy`` and ``mse_loss``, each beside its ``_vjp``;
* :mod:`refquant.nn.mlp` -- the MLP as a list of ``(w, b)``: initialization,
  forward and backward with optional masks and quantizers;
* :mod:`refquant.nn.optim` -- SGD, Adam and AdamW as pure steps (torch's rules);
* :mod:`refquant.nn.train` -- the :class:`~refquant.nn.train.Model` and the
  training loop (plain, QAT and pruning-aware);
* :mod:`refquant.nn.qat` -- the weight and activation quantizers the MLP's hooks
  take (calibration, post-training quantization and the QAT set-up are recipes:
  :mod:`refquant.recipes.ptq`).

Only the layers and losses are re-exported here; import the others from
their modules.

Every backward ``f_vjp(g, *args)`` takes the cotangent first and returns one
gradient per differentiable input, as a NamedTuple.
"""

from refquant.nn.layers import (
    LinearGrads,
    gelu,
    gelu_vjp,
    leaky_relu,
    leaky_relu_vjp,
    linear,
    linear_vjp,
    relu,
    relu_vjp,
    sigmoid,
    sigmoid_vjp,
    tanh,
    tanh_vjp,
)
from refquant.nn.losses import (
    MSELossGrads,
    log_softmax,
    log_softmax_vjp,
    mse_loss,
    mse_loss_vjp,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_vjp,
    softmax_vjp,
)

__all__ = [
    "LinearGrads",
    "MSELossGrads",
    "gelu",
    "gelu_vjp",
    "leaky_relu",
    "leaky_relu_vjp",
    "linear",
    "linear_vjp",
    "log_softmax",
    "log_softmax_vjp",
    "mse_loss",
    "mse_loss_vjp",
    "relu",
    "relu_vjp",
    "sigmoid",
    "sigmoid_vjp",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
    "softmax_vjp",
    "tanh",
    "tanh_vjp",
]
