"""Central-difference numerical gradients, for checking backpropagation."""
import numpy as np


def numerical_gradient(f, x, h=1e-4):
    """Return ``df/dx`` by central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``.

    ``f`` takes ``x`` (it may ignore it and read shared state, as the
    textbook's networks do); ``x`` is perturbed in place one element at a time
    and restored exactly. Costs ``2 * x.size`` evaluations of ``f``.
    """
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        saved = x[idx]
        x[idx] = saved + h
        f_plus = f(x)
        x[idx] = saved - h
        f_minus = f(x)
        x[idx] = saved
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad
