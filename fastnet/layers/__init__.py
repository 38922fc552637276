"""Layers with textbook-compatible ``forward``/``backward``, arithmetic from kernels.

Each layer's public ``forward``/``backward`` checks its arguments and returns
new arrays; networks call the unchecked ``_forward``/``_backward`` twins,
which write into reusable workspaces after the network checked its inputs once.
"""
from fastnet.layers.activations import Relu, Sigmoid, Tanh
from fastnet.layers.affine import Affine
from fastnet.layers.batchnorm import BatchNormalization
from fastnet.layers.dropout import Dropout
from fastnet.layers.lstm import LSTM, LastStep, LSTMCell, load_torch_lstm_weights
from fastnet.layers.softmax import SoftmaxWithLoss

__all__ = ["Affine", "BatchNormalization", "Dropout", "LSTM", "LSTMCell", "LastStep", "Relu", "Sigmoid",
           "SoftmaxWithLoss", "Tanh", "load_torch_lstm_weights"]
