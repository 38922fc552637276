"""Central-difference numerical gradients, for checking backpropagation."""
import numpy as np

from fastnet._checks import float_dtype, real_scalar


def numerical_gradient(f, x, h=1e-4):
    """Return ``df/dx`` by central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``.

    ``f`` takes ``x`` (it may ignore it and read shared state, as the
    textbook's networks do); ``x`` is perturbed in place one element at a time
    and restored exactly. Costs ``2 * x.size`` evaluations of ``f``. ``x`` must be
    a writeable float32/float64 array and ``h > 0``.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy array (it is perturbed in place); got "
                        f"{type(x).__name__}")
    # An integer x took x + h as x itself: every difference, and so the gradient, was 0.
    float_dtype(x.dtype, "x.dtype")
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it is perturbed in place and restored)")
    h = real_scalar("h", h, low=0, low_open=True)
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
