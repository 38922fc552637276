"""Softmax with the mean cross-entropy loss, as one layer (textbook ``SoftmaxWithLoss``)."""
import functools

import numpy as np

from fastnet._checks import as_array, as_input, as_labels, check_batch, float_dtype, real_scalar
from fastnet.layers._base import LossLayer


class SoftmaxWithLoss(LossLayer):
    """Mean cross-entropy of softmax(x) against targets t.

    ``t`` is integer class indices ``(N,)`` or target rows ``(N, C)``. The loss
    is computed with log-sum-exp, so it is exact where the textbook's
    ``-log(y + 1e-7)`` saturates near 16.1. ``forward`` computes the gradient
    in the same pass; ``backward(dout=1)`` returns ``dout * (softmax(x) - t) / N``.
    """

    def __init__(self, *, backend="compiled"):
        self._setup(None, backend)
        self.loss = None
        self.dx = None

    def config(self):
        return {"backend": self.backend}

    def output_shape(self, input_shape):
        if input_shape is not None and len(input_shape) != 1:
            raise ValueError(f"must have shape (N, C); got per-sample shape {tuple(input_shape)}")
        return ()

    def forward(self, x, t):
        """Return the mean loss (Python float) of logits ``x (N, C)``."""
        x = as_array("x", x)
        float_dtype(x.dtype, "x.dtype")
        x = as_input("x", x, x.dtype)
        if x.ndim != 2:
            raise ValueError(f"x must have shape (N, C); got {x.shape}")
        check_batch("x", x)
        if x.shape[1] == 0:  # (as_labels would blame t)
            raise ValueError(f"x must have shape (N, C) with C >= 1 classes; got {x.shape}")
        t = as_labels("t", t, x.shape[0], x.shape[1], x.dtype)
        return self._loss(x, t, None)

    def backward(self, dout=1):
        """Return ``dout * dL/dx`` as a new array (``dout`` a finite real, default 1)."""
        if self.dx is None:
            raise RuntimeError("backward called before forward")
        return self.dx * self.dx.dtype.type(real_scalar("dout", dout))

    # -- the loss protocol -----------------------------------------------------------
    def _loss(self, x, t, ws):
        """Return the loss; keep dL/dx (in a workspace buffer, or a new array if ``ws`` is None)."""
        dx = np.empty_like(x) if ws is None else ws.get("dx", x.shape, x.dtype)
        if t.ndim == 1:
            self.loss = self._ops.softmax_cross_entropy(x, t, dx)
        else:
            self.loss = self._ops.softmax_cross_entropy_onehot(x, t, dx)
        self.dx = dx
        return self.loss

    def _loss_backward(self, ws):
        return self.dx

    def _compile_loss(self, plan, x, t, ws):
        plan.record(self, self._loss, x, t, ws)
        plan.after_run(functools.partial(setattr, self, "loss"))
        return self.dx
