"""The compiled kernels under one namespace, with the names of :mod:`fastnet.reference`.

Layers and optimizers take their arithmetic from a *backend*: this module
(the default) or :mod:`fastnet.reference`. Both export exactly the same
functions with the same signatures; ``tests/test_backends.py`` checks it.
"""
from fastnet._kernels.activations import activation_backward, activation_forward
from fastnet._kernels.affine import (
    affine_activation_backward_,
    affine_backward,
    affine_forward,
)
from fastnet._kernels.batchnorm import (
    batchnorm_backward,
    batchnorm_forward_infer,
    batchnorm_forward_train_,
)
from fastnet._kernels.dropout import dropout_backward, dropout_forward_, dropout_scale
from fastnet._kernels.gemm import gemm
from fastnet._kernels.lstm import lstm_backward, lstm_forward, lstm_infer
from fastnet._kernels.optim import (
    adam_update_,
    momentum_update_,
    rmsprop_update_,
    sgd_update_,
)
from fastnet._kernels.stats import accumulate_stats_
from fastnet._kernels.softmax_ce import (
    softmax_cross_entropy,
    softmax_cross_entropy_onehot,
)

__all__ = [
    "accumulate_stats_",
    "activation_backward",
    "activation_forward",
    "adam_update_",
    "affine_activation_backward_",
    "affine_backward",
    "affine_forward",
    "batchnorm_backward",
    "batchnorm_forward_infer",
    "batchnorm_forward_train_",
    "dropout_backward",
    "dropout_forward_",
    "dropout_scale",
    "gemm",
    "lstm_backward",
    "lstm_forward",
    "lstm_infer",
    "momentum_update_",
    "rmsprop_update_",
    "sgd_update_",
    "softmax_cross_entropy",
    "softmax_cross_entropy_onehot",
]


def get_backend(backend):
    """Return the kernel namespace for ``backend``: 'compiled' (this module) or 'reference'."""
    if backend == "compiled":
        import fastnet.kernels as module
    elif backend == "reference":
        import fastnet.reference as module
    else:
        raise ValueError(f"backend must be 'compiled' or 'reference'; got {backend!r}")
    return module
