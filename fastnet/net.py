"""The textbook's fully connected networks, on compiled kernels.

One class does the work (:class:`MultiLayerNetExtend`: affine layers with
optional batch normalization, dropout and weight decay);
:class:`MultiLayerNet` is the same net with the extensions off and the
textbook's shorter signature. Each hidden block is::

    Affine+activation (fused) [-> Dropout]                  without batch norm
    Affine -> BatchNorm -> activation [-> Dropout]          with batch norm

The public methods validate their inputs once; the passes then run the
layers' unchecked ``_forward``/``_backward`` on reusable workspace buffers.
"""
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
from fastnet.diagnostics import ACTIVATION_RANGES, NO_SATURATION, SATURATION, RunningStats
from fastnet.gradient import numerical_gradient
from fastnet.init import get_initializer
from fastnet.layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from fastnet.layers.activations import Relu, Sigmoid, Tanh

_ACTIVATION_LAYERS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


# -- one step of the forward/backward passes per layer --------------------------
# Each step writes its output into a workspace buffer named after its layer.
# Activation and dropout backward run in place on the incoming gradient;
# affine and batch norm write a new gradient buffer. ``hidden`` is i on the
# step whose output is hidden layer i's activation (what diagnostics record).

class _Step:
    hidden = None


class _AffineStep(_Step):
    def __init__(self, name, layer, index):
        self.name, self.layer = name, layer
        self.keys = (f"W{index}", f"b{index}")

    def forward(self, h, ws, train_flg):
        out = ws.get(self.name, (h.shape[0], self.layer.W.shape[1]), h.dtype)
        return self.layer._forward(h, out)

    def backward(self, dout, ws, grads, need_dx):
        layer = self.layer
        dx = ws.get("d" + self.name, layer.x.shape, dout.dtype) if need_dx else None
        dW = grads[self.keys[0]] = np.empty_like(layer.W)
        db = grads[self.keys[1]] = np.empty_like(layer.b)
        layer._backward(dout, dx, dW, db)
        return dx


class _BatchNormStep(_Step):
    def __init__(self, name, layer, index):
        self.name, self.layer = name, layer
        self.keys = (f"gamma{index}", f"beta{index}")

    def forward(self, h, ws, train_flg):
        return self.layer._forward(h, ws.get(self.name, h.shape, h.dtype), train_flg)

    def backward(self, dout, ws, grads, need_dx):
        dgamma = grads[self.keys[0]] = np.empty_like(self.layer.gamma)
        dbeta = grads[self.keys[1]] = np.empty_like(self.layer.beta)
        # A separate dx: the kernel's last pass vectorizes only when dx and dout differ.
        dx = ws.get("d" + self.name, dout.shape, dout.dtype)
        return self.layer._backward(dout, dx, dgamma, dbeta)


class _ActivationStep(_Step):
    # In place on the batch-norm output: batch norm's backward needs its input, not its output.
    def __init__(self, name, layer):
        self.name, self.layer = name, layer

    def forward(self, h, ws, train_flg):
        return self.layer._forward(h, h)

    def backward(self, dout, ws, grads, need_dx):
        return self.layer._backward(dout, dout)


class _DropoutStep(_Step):
    def __init__(self, name, layer):
        self.name, self.layer = name, layer

    def forward(self, h, ws, train_flg):
        # A new buffer: the activation before it keeps its output for backward.
        return self.layer._forward(h, ws.get(self.name, h.shape, h.dtype), train_flg)

    def backward(self, dout, ws, grads, need_dx):
        return self.layer._backward(dout, dout)


class MultiLayerNetExtend:
    """Fully connected net with optional weight decay, dropout and batch normalization.

    Textbook-compatible (``common/multi_layer_net_extend.py``): ``params``
    holds ``W1, b1, ..., W{L}, b{L}`` (``W`` stored ``(fan_in, fan_out)``)
    and, with batch norm, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}``;
    ``predict(x, train_flg=False)``, ``loss(x, t, train_flg=False)``,
    ``accuracy``, ``gradient`` (a training-mode pass) and
    ``numerical_gradient`` behave like the textbook's.

    Parameters
    ----------
    input_size, output_size : int
    hidden_size_list : list of int
    activation : {'relu', 'sigmoid', 'tanh', 'identity'}
    weight_init_std : 'relu'/'he', 'sigmoid'/'xavier', float or callable
        See :func:`fastnet.init.get_initializer`.
    weight_decay_lambda : float
        L2 coefficient: the loss gains ``lambda/2 * sum ||W||^2`` and each
        ``dW`` gains ``lambda * W`` (fused into the affine backward).
    use_dropout : bool
        A :class:`~fastnet.layers.Dropout` after each hidden activation.
    dropout_ration : float in [0, 1)
        The dropout ratio (the textbook's spelling of the argument).
    use_batchnorm : bool
        A :class:`~fastnet.layers.BatchNormalization` (textbook convention)
        between each hidden affine layer and its activation.
    dtype : float32 (default) or float64
        The parameters' dtype; inputs must match it (integer inputs are cast).
    seed : int, numpy.random.Generator or None
        Source of the initial weights, then of the dropout masks.
    backend : {'compiled', 'reference'}
        'reference' runs the same net on :mod:`fastnet.reference` (NumPy).
    dropout_mode : {'textbook', 'inverted'}
        See :class:`~fastnet.layers.Dropout`.
    bias_init : initializer spec, default 'zeros'
        How the biases start: any value :func:`fastnet.init.get_initializer`
        takes (a name, a float std, a callable ``(shape, rng, dtype)``).
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ration=0.5, use_batchnorm=False, *, dtype=np.float32, seed=None,
                 backend="compiled", dropout_mode="textbook", bias_init="zeros"):
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
        self.use_dropout = bool(use_dropout)
        self.use_batchnorm = bool(use_batchnorm)
        self.dropout_ration = real_scalar("dropout_ration", dropout_ration, low=0, high=1,
                                          high_open=True)
        self.dtype = float_dtype(dtype)
        self.backend = backend

        inits = {"W": ("weight_init_std", get_initializer(weight_init_std)),
                 "b": ("bias_init", get_initializer(bias_init, name="bias_init"))}
        rng = make_rng(seed)
        self.params = {}
        n_affine = len(sizes) - 1
        for i in range(1, n_affine + 1):
            for key, shape in (("W", (sizes[i - 1], sizes[i])), ("b", (sizes[i],))):
                arg, init = inits[key]
                value = np.ascontiguousarray(init(shape, rng, self.dtype))
                if value.shape != shape or value.dtype != self.dtype:
                    raise ValueError(f"{arg} returned {value.shape} {value.dtype} for "
                                     f"{key}{i}; expected {shape} {self.dtype}")
                self.params[f"{key}{i}"] = value

        # As the textbook, params holds every W, b first, then every gamma, beta.
        self.layers = OrderedDict()
        self._steps = []

        def add(name, layer, step):
            self.layers[name] = layer
            self._steps.append(step)

        for i in range(1, n_affine + 1):
            hidden = i < n_affine
            fused = activation if hidden and not self.use_batchnorm else "identity"
            name = f"Affine{i}"
            layer = Affine(self.params[f"W{i}"], self.params[f"b{i}"], activation=fused,
                           weight_decay=self.weight_decay_lambda, backend=backend)
            add(name, layer, _AffineStep(name, layer, i))
            if not hidden:
                break
            if self.use_batchnorm:
                gamma = self.params[f"gamma{i}"] = np.ones(sizes[i], self.dtype)
                beta = self.params[f"beta{i}"] = np.zeros(sizes[i], self.dtype)
                name = f"BatchNorm{i}"
                layer = BatchNormalization(gamma, beta, backend=backend)
                add(name, layer, _BatchNormStep(name, layer, i))
                if activation != "identity":
                    name = f"Activation_function{i}"
                    layer = _ACTIVATION_LAYERS[activation](backend=backend)
                    add(name, layer, _ActivationStep(name, layer))
            self._steps[-1].hidden = i
            if self.use_dropout:
                name = f"Dropout{i}"
                layer = Dropout(self.dropout_ration, mode=dropout_mode, rng=rng, backend=backend)
                add(name, layer, _DropoutStep(name, layer))
        self.last_layer = SoftmaxWithLoss(backend=backend)
        # Room for every buffer of the net at a few batch sizes (train, eval, last batch).
        self._workspace = Workspace(max_entries=4 * (2 * len(self._steps) + 2))
        self.last_loss = None  # the loss of the latest loss/gradient pass
        self._stats = None  # {hidden layer: (activation RunningStats, gradient RunningStats)}
        self._recorded = None  # the latest records, kept after recording stops

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
    def _forward(self, x, train_flg):
        h = x
        ws = self._workspace
        stats = self._stats
        for step in self._steps:
            h = step.forward(h, ws, train_flg)
            if stats is not None and step.hidden is not None:
                stats[step.hidden][0].add(h)
        return h

    def _loss(self, x, t, train_flg):
        logits = self._forward(x, train_flg)
        dlogits = self._workspace.get("dlogits", logits.shape, self.dtype)
        loss = self.last_layer._forward(logits, t, dlogits)
        if self.weight_decay_lambda:
            loss += 0.5 * self.weight_decay_lambda * self._sum_squared_weights()
        self.last_loss = loss
        return loss

    def _sum_squared_weights(self):
        total = 0.0
        for step in self._steps:
            if isinstance(step, _AffineStep):
                w = step.layer.W.reshape(-1)
                total += float(np.dot(w, w))
        return total

    # -- textbook API ----------------------------------------------------------
    def predict(self, x, train_flg=False):
        """Return the logits ``(N, output_size)`` for inputs ``x (N, input_size)``.

        ``train_flg=True`` runs batch norm on batch statistics (updating the
        running ones) and draws dropout masks, as in training.
        """
        return self._forward(self._check_x(x), bool(train_flg)).copy()

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy (plus the L2 term) on ``x`` against ``t`` (indices or rows)."""
        x = self._check_x(x)
        return self._loss(x, self._check_t(t, x.shape[0]), bool(train_flg))

    def accuracy(self, x, t):
        """Fraction of samples whose arg-max logit (inference mode) is the target class."""
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        y = np.argmax(self._forward(x, False), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.sum(y == t)) / x.shape[0]

    def gradient(self, x, t):
        """Backpropagated gradients of the training-mode :meth:`loss`.

        Returns a new dict of new arrays, keyed and ordered like ``params``.
        """
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        self._loss(x, t, True)
        dout = self.last_layer.dx
        grads = {}
        ws = self._workspace
        stats = self._stats
        last = len(self._steps) - 1
        for k in range(last, -1, -1):
            step = self._steps[k]
            if stats is not None and step.hidden is not None:
                stats[step.hidden][1].add(dout)
            dout = step.backward(dout, ws, grads, k > 0)
        return {key: grads[key] for key in self.params}

    # -- diagnostics -----------------------------------------------------------
    def record_stats(self, on=True, *, bins=30, activation_range=None,
                     gradient_range=(-0.01, 0.01)):
        """Start (or, with ``on=False``, stop) recording per-layer statistics.

        While recording, every forward pass adds each hidden layer's
        activations (its output after the nonlinearity) and every
        :meth:`gradient` pass adds the gradient of the loss with respect to
        them, as counts and moments only (see :class:`fastnet.diagnostics.RunningStats`):
        mean, std, fraction of exact zeros (dead ReLUs), fraction of
        saturated units (sigmoid within 0.01 of 0 or 1, tanh within 0.01 of
        +-1) and a histogram of ``bins`` bins over ``activation_range``
        (default: the activation's range, (0, 1) for ReLU as in the
        textbook's figures) and ``gradient_range``. Starting clears earlier
        records. Recording changes no result; off, it costs nothing.

        Returns an object usable as a context manager that stops recording
        on exit::

            with net.record_stats():
                net.gradient(x, t)
            net.stats()
        """
        if not on:
            self._stats = None
            return _Recording(self)
        act_range = activation_range or ACTIVATION_RANGES[self.activation]
        saturation = SATURATION.get(self.activation, NO_SATURATION)
        self._stats = {
            step.hidden: (RunningStats(bins, act_range, saturation, backend=self.backend),
                          RunningStats(bins, gradient_range, backend=self.backend))
            for step in self._steps if step.hidden is not None
        }
        self._recorded = self._stats
        return _Recording(self)

    def stats(self):
        """The statistics recorded so far: ``{hidden layer i: {"activations": {...},
        "gradients": {...}}}``, each a dict of plain numbers and arrays
        (``count``, ``mean``, ``std``, ``zero_fraction``, ``saturated_fraction``,
        ``hist_counts``, ``bin_edges``)."""
        recorded = self._recorded
        if recorded is None:
            raise RuntimeError("no statistics recorded: call net.record_stats() first")
        return {i: {"activations": a.as_dict(), "gradients": g.as_dict()}
                for i, (a, g) in recorded.items()}

    def numerical_gradient(self, x, t):
        """Central-difference gradients of the training-mode :meth:`loss` (slow; for checking)."""
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        return {key: numerical_gradient(lambda _: self._loss(x, t, True), p)
                for key, p in self.params.items()}


class _Recording:
    """Returned by ``record_stats``: as a context manager, stops recording on exit."""

    def __init__(self, net):
        self._net = net

    def __enter__(self):
        return self._net

    def __exit__(self, *exc):
        self._net._stats = None
        return False


class MultiLayerNet(MultiLayerNetExtend):
    """Fully connected net: (Affine + activation) x hidden layers, Affine, softmax loss.

    Textbook-compatible (``common/multi_layer_net.py``): ``params`` holds
    ``W1, b1, ..., W{L}, b{L}``; see :class:`MultiLayerNetExtend` (this is
    it without dropout and batch normalization) for the parameters.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, *, dtype=np.float32,
                 seed=None, backend="compiled", bias_init="zeros"):
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda, dtype=dtype, seed=seed,
                         backend=backend, bias_init=bias_init)
