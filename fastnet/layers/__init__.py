"""Layers with textbook-compatible ``forward``/``backward``, arithmetic from kernels.

Every layer follows one protocol (:mod:`fastnet.layers._base`): it owns
``params``, ``grads`` and ``buffers``; its public ``forward``/``backward``
check their arguments and return new arrays; networks call the unchecked
``_forward``/``_backward`` pair, which writes into reusable workspaces after
the network checked its inputs once. :data:`LAYERS` maps class names to
classes, for configurations.
"""
from fastnet.layers._base import LAYERS, Layer, LossLayer
from fastnet.layers.activations import NAMED, Activation
from fastnet.layers.affine import Affine
from fastnet.layers.batchnorm import BatchNormalization
from fastnet.layers.dropout import Dropout
from fastnet.layers.lstm import LSTM, LastStep, LSTMCell, load_torch_lstm_weights
from fastnet.layers.softmax_ce import SoftmaxWithLoss

# The named activation layers (Relu, Sigmoid, Tanh, LeakyRelu ...), made from the registry.
globals().update(NAMED)

__all__ = ["LAYERS", "Activation", "Affine", "BatchNormalization", "Dropout", "LSTM", "LSTMCell",
           "LastStep", "Layer", "LossLayer", "SoftmaxWithLoss", "load_torch_lstm_weights", *NAMED]
