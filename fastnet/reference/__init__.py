"""The same math as the compiled kernels, in plain NumPy, with the same signatures.

``fastnet.reference`` is the oracle the tests compare ``fastnet.kernels``
against and the baseline ``bench/`` times beside them. It is written as
competent NumPy (in place where natural, no needless copies), not as a straw
man. Every function here has a namesake in :mod:`fastnet.kernels`.
"""
from fastnet.reference.activations import activation_backward, activation_forward
from fastnet.reference.affine import (
    affine_activation_backward_,
    affine_backward,
    affine_forward,
)
from fastnet.reference.batchnorm import (
    batchnorm_backward,
    batchnorm_forward_infer,
    batchnorm_forward_train_,
)
from fastnet.reference.dropout import dropout_backward, dropout_forward_, dropout_scale
from fastnet.reference.gemm import gemm
from fastnet.reference.lstm import lstm_backward, lstm_forward, lstm_infer
from fastnet.reference.optim import (
    adam_update_,
    momentum_update_,
    rmsprop_update_,
    sgd_update_,
)
from fastnet.reference.stats import accumulate_stats_
from fastnet.reference.softmax_ce import (
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
