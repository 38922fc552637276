"""The textbook's fully connected network, on compiled kernels."""
import numbers
from collections import OrderedDict

import numpy as np

from fastnet._activation import activation_code
from fastnet._checks import (
    as_input,
    as_labels,
    check_batch,
    check_shape,
    float_dtype,
    make_rng,
    real_scalar,
)
from fastnet._workspace import Workspace
from fastnet.gradient import numerical_gradient
from fastnet.init import get_initializer
from fastnet.layers import Affine, SoftmaxWithLoss


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class MultiLayerNet:
    """Fully connected net: (Affine + activation) x hidden layers, Affine, softmax loss.

    Textbook-compatible: ``params`` holds ``W1, b1, ..., W{L}, b{L}`` with
    ``W`` stored ``(fan_in, fan_out)``; ``predict``, ``loss``, ``accuracy``,
    ``gradient`` and ``numerical_gradient`` behave like the textbook's.

    Parameters
    ----------
    input_size, output_size : int
    hidden_size_list : list of int
    activation : {'relu', 'sigmoid', 'tanh'}
    weight_init_std : 'relu'/'he', 'sigmoid'/'xavier', float or callable
        See :func:`fastnet.init.get_initializer`.
    weight_decay_lambda : float
        L2 coefficient: the loss gains ``lambda/2 * sum ||W||^2`` and each
        ``dW`` gains ``lambda * W``.
    dtype : float32 (default) or float64
        The parameters' dtype; inputs must match it (integer inputs are cast).
    seed : int, numpy.random.Generator or None
        Source of the initial weights.
    backend : {'compiled', 'reference'}
        'reference' runs the same net on :mod:`fastnet.reference` (NumPy).
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, *, dtype=np.float32,
                 seed=None, backend="compiled"):
        sizes = [_positive_int("input_size", input_size)]
        sizes += [_positive_int("hidden_size_list[%d]" % i, s)
                  for i, s in enumerate(hidden_size_list)]
        sizes.append(_positive_int("output_size", output_size))
        activation_code(activation)
        self.input_size, self.output_size = sizes[0], sizes[-1]
        self.hidden_size_list = list(sizes[1:-1])
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = activation
        self.weight_decay_lambda = real_scalar("weight_decay_lambda", weight_decay_lambda, low=0)
        self.dtype = float_dtype(dtype)
        self.backend = backend

        init = get_initializer(weight_init_std)
        rng = make_rng(seed)
        self.params = {}
        self.layers = OrderedDict()
        n_affine = len(sizes) - 1
        for i in range(1, n_affine + 1):
            shape = (sizes[i - 1], sizes[i])
            W = np.ascontiguousarray(init(shape, rng, self.dtype))
            if W.shape != shape or W.dtype != self.dtype:
                raise ValueError(
                    f"weight_init_std returned {W.shape} {W.dtype} for W{i}; "
                    f"expected {shape} {self.dtype}"
                )
            self.params[f"W{i}"] = W
            self.params[f"b{i}"] = np.zeros(sizes[i], self.dtype)
            self.layers[f"Affine{i}"] = Affine(
                W, self.params[f"b{i}"],
                activation=activation if i < n_affine else "identity",
                weight_decay=self.weight_decay_lambda, backend=backend)
        self.last_layer = SoftmaxWithLoss(backend=backend)
        self._workspace = Workspace()
        self.last_loss = None  # the loss of the latest loss/gradient pass

    # -- checks ----------------------------------------------------------------
    def _check_x(self, x):
        x = as_input("x", x, self.dtype)
        check_batch("x", x)
        x = x.reshape(x.shape[0], -1)
        check_shape("x (flattened)", x, (None, self.input_size))
        return x

    def _check_t(self, t, n):
        return as_labels("t", t, n, self.output_size, self.dtype)

    # -- passes (unchecked) ----------------------------------------------------
    def _forward(self, x):
        h = x
        for i, layer in enumerate(self.layers.values(), 1):
            out = self._workspace.get(f"h{i}", (x.shape[0], layer.W.shape[1]), self.dtype)
            h = layer._forward(h, out)
        return h

    def _loss(self, x, t):
        logits = self._forward(x)
        dlogits = self._workspace.get("dlogits", logits.shape, self.dtype)
        loss = self.last_layer._forward(logits, t, dlogits)
        if self.weight_decay_lambda:
            loss += 0.5 * self.weight_decay_lambda * self._sum_squared_weights()
        self.last_loss = loss
        return loss

    def _sum_squared_weights(self):
        total = 0.0
        for layer in self.layers.values():
            w = layer.W.reshape(-1)
            total += float(np.dot(w, w))
        return total

    # -- textbook API ----------------------------------------------------------
    def predict(self, x):
        """Return the logits ``(N, output_size)`` for inputs ``x (N, input_size)``."""
        return self._forward(self._check_x(x)).copy()

    def loss(self, x, t):
        """Mean cross-entropy (plus the L2 term) on ``x`` against ``t`` (indices or rows)."""
        x = self._check_x(x)
        return self._loss(x, self._check_t(t, x.shape[0]))

    def accuracy(self, x, t):
        """Fraction of samples whose arg-max logit is the target class."""
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        y = np.argmax(self._forward(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.sum(y == t)) / x.shape[0]

    def gradient(self, x, t):
        """Backpropagated gradients of :meth:`loss`: a new dict of new arrays, keyed like ``params``."""
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        self._loss(x, t)
        dout = self.last_layer.dx
        grads = {}
        layers = list(self.layers.values())
        for i in range(len(layers), 0, -1):
            layer = layers[i - 1]
            dx = (self._workspace.get(f"dh{i - 1}", layer.x.shape, self.dtype)
                  if i > 1 else None)
            grads[f"W{i}"] = np.empty_like(layer.W)
            grads[f"b{i}"] = np.empty_like(layer.b)
            layer._backward(dout, dx, grads[f"W{i}"], grads[f"b{i}"])
            dout = dx
        return {key: grads[key] for key in self.params}

    def numerical_gradient(self, x, t):
        """Central-difference gradients of :meth:`loss` (slow; for checking)."""
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        return {key: numerical_gradient(lambda _: self._loss(x, t), p)
                for key, p in self.params.items()}
