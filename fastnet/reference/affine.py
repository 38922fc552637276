"""Affine layer in NumPy (reference for csrc/affine.pyx); same signatures."""
import numpy as np

from fastnet.reference.activations import activate_, activation_grad_


def affine_forward(x, W, b, out, activation=0):
    """Write ``act(x @ W + b)`` into ``out``: x (N, D), W (D, M), b (M,), out (N, M)."""
    np.matmul(x, W, out=out)
    out += b
    activate_(out, activation)


def _weight_input_grads(da, x, W, dx, dW, weight_decay):
    np.matmul(x.T, da, out=dW)
    if weight_decay != 0:
        dW += weight_decay * W
    if dx is not None:
        np.matmul(da, W.T, out=dx)


def affine_backward(dout, x, W, dx, dW, db, weight_decay=0):
    """Write ``dW = x.T @ dout + weight_decay * W``, ``db = dout.sum(0)`` and
    (unless ``dx`` is None) ``dx = dout @ W.T``."""
    np.sum(dout, axis=0, out=db)
    _weight_input_grads(dout, x, W, dx, dW, weight_decay)


def affine_activation_backward_(dout, y, activation, x, W, dx, dW, db, weight_decay=0):
    """As :func:`affine_backward` for ``y = act(x @ W + b)``; ``dout`` is
    overwritten with ``dout * act'(y)``."""
    activation_grad_(dout, y, activation)
    affine_backward(dout, x, W, dx, dW, db, weight_decay)
