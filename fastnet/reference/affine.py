"""Affine layer in NumPy (reference for csrc/affine.pyx); same signatures."""
import numpy as np

from fastnet.reference.activations import _math, activate_, activation_grad_
from fastnet.reference._shapes import check_dims


def affine_forward(x, W, b, out, activation=0, param=0.0, preact=None):
    """Write ``act(x @ W + b)`` into ``out``: x (N, D), W (D, M), b (M,), out (N, M).

    If ``preact`` (N, M) is given, the pre-activation ``x @ W + b`` is written there too.
    """
    _check_affine(x, W, b=b, out=out, preact=preact)
    _math(activation)  # an unknown code raises before anything is written
    np.matmul(x, W, out=out)
    out += b
    if preact is not None:
        np.copyto(preact, out)
    activate_(out, activation, param)


def _check_affine(x, W, **arrays):
    # As csrc/affine.pyx: x (N, D) and W's column count M fix every other size.
    (n, d), m = x.shape, W.shape[1]
    check_dims("W", W, d, m)
    want = {"b": (m,), "out": (n, m), "preact": (n, m), "dout": (n, m), "y": (n, m),
            "dx": (n, d), "dW": (d, m), "db": (m,)}
    for name, array in arrays.items():
        if array is not None:
            check_dims(name, array, *want[name])


def _weight_input_grads(da, x, W, dx, dW, weight_decay):
    np.matmul(x.T, da, out=dW)
    if weight_decay != 0:
        dW += weight_decay * W
    if dx is not None:
        np.matmul(da, W.T, out=dx)


def affine_backward(dout, x, W, dx, dW, db, weight_decay=0):
    """Write ``dW = x.T @ dout + weight_decay * W``, ``db = dout.sum(0)`` and
    (unless ``dx`` is None) ``dx = dout @ W.T``."""
    _check_affine(x, W, dout=dout, dx=dx, dW=dW, db=db)
    np.sum(dout, axis=0, out=db)
    _weight_input_grads(dout, x, W, dx, dW, weight_decay)


def affine_activation_backward_(dout, y, preact, activation, param, x, W, dx, dW, db,
                                weight_decay=0):
    """As :func:`affine_backward` for ``y = act(preact)``, ``preact = x @ W + b``;
    ``dout`` is overwritten with ``dout * act'(preact)``. ``preact`` may be None
    unless the activation's derivative needs it."""
    _check_affine(x, W, dout=dout, y=y, preact=preact, dx=dx, dW=dW, db=db)
    _math(activation, "preact", preact)
    activation_grad_(dout, y, preact, activation, param)
    affine_backward(dout, x, W, dx, dW, db, weight_decay)
