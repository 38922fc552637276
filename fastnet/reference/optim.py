"""Optimizer updates in NumPy (reference for csrc/optim.pyx)."""


def sgd_update_(param, grad, lr):
    """``param -= lr * grad``, in place (flat arrays of one size and dtype)."""
    param -= param.dtype.type(lr) * grad
