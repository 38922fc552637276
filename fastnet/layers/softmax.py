"""Softmax with the mean cross-entropy loss, as one layer (textbook ``SoftmaxWithLoss``)."""
import numpy as np

from fastnet._checks import as_input, as_labels, check_batch, float_dtype
from fastnet.kernels import get_backend


class SoftmaxWithLoss:
    """Mean cross-entropy of softmax(x) against targets t.

    ``t`` is integer class indices ``(N,)`` or target rows ``(N, C)``. The loss
    is computed with log-sum-exp, so it is exact where the textbook's
    ``-log(y + 1e-7)`` saturates near 16.1. ``forward`` computes the gradient
    in the same pass; ``backward(dout=1)`` returns ``dout * (softmax(x) - t) / N``.
    """

    def __init__(self, *, backend="compiled"):
        self._ops = get_backend(backend)
        self.loss = None
        self.dx = None

    def forward(self, x, t):
        """Return the mean loss (Python float) of logits ``x (N, C)``."""
        x = np.asarray(x)
        float_dtype(x.dtype, "x.dtype")
        x = as_input("x", x, x.dtype)
        if x.ndim != 2:
            raise ValueError(f"x must have shape (N, C); got {x.shape}")
        check_batch("x", x)
        t = as_labels("t", t, x.shape[0], x.shape[1], x.dtype)
        return self._forward(x, t, np.empty_like(x))

    def backward(self, dout=1):
        """Return ``dout * dL/dx`` as a new array."""
        if self.dx is None:
            raise RuntimeError("backward called before forward")
        return self.dx * self.dx.dtype.type(dout)

    def _forward(self, x, t, dx):
        """Unchecked: write dL/dx into ``dx`` and return the loss."""
        if t.ndim == 1:
            self.loss = self._ops.softmax_cross_entropy(x, t, dx)
        else:
            self.loss = self._ops.softmax_cross_entropy_onehot(x, t, dx)
        self.dx = dx
        return self.loss
