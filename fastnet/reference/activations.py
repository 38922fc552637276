"""Element-wise activations in NumPy (reference for csrc/activations.pyx).

Codes: 0 identity, 1 relu, 2 sigmoid, 3 tanh. Derivatives are taken from the
output ``y``: relu' = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2.
"""
import numpy as np


def activate_(a, activation):
    """Apply the activation to ``a`` in place and return it."""
    if activation == 1:
        np.maximum(a, 0, out=a)
    elif activation == 2:
        # 1 / (1 + exp(-a)); exp may overflow to inf, which gives the right 0.
        with np.errstate(over="ignore"):
            np.negative(a, out=a)
            np.exp(a, out=a)
        a += 1
        np.reciprocal(a, out=a)
    elif activation == 3:
        np.tanh(a, out=a)
    return a


def activation_grad_(dout, y, activation):
    """Multiply ``dout`` in place by the activation's derivative at output ``y``.

    For ReLU the gradient is set to 0 where the unit is off (``y <= 0``), as
    the textbook's mask does, so an infinite ``dout`` there gives 0, not NaN.
    """
    if activation == 1:
        np.copyto(dout, 0, where=~(y > 0))
    elif activation == 2:
        dout *= y * (1 - y)
    elif activation == 3:
        dout *= 1 - y * y
    return dout


def activation_forward(x, out, activation):
    """Write ``act(x)`` into ``out`` (flat arrays of the same size)."""
    np.copyto(out, x)
    activate_(out, activation)


def activation_backward(dout, y, dx, activation):
    """Write ``dx = dout * act'(a)`` given the forward output ``y = act(a)``."""
    np.copyto(dx, dout)
    activation_grad_(dx, y, activation)
