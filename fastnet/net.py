"""``Sequential``: a network as a sequence of layers driven by one loop.

Every layer follows the protocol of :mod:`fastnet.layers._base`; the net
checks its inputs once per call, then runs ``_forward`` over the layers and
``_backward`` back, with each layer's buffers in one reusable workspace.
Nothing here knows any particular kind of layer. The textbook's nets
(:class:`~fastnet.multi_layer_net.MultiLayerNet`, ``MultiLayerNetExtend``)
are builders of a Sequential.
"""
import threading
import weakref

import numpy as np

from fastnet._checks import (
    as_array, as_input, as_labels, check_batch, flag, float_dtype, positive_int,
)
from fastnet._kernels.program import views
from fastnet._live import LiveArrays, detach
from fastnet._program import FORWARD, GRADIENT, LOSS, compiled_pass
from fastnet._workspace import LayerWorkspace, Workspace
from fastnet.diagnostics import StatsRecorder
from fastnet.gradient import numerical_gradient
from fastnet.layers._base import (
    Layer,
    LossLayer,
    check_arrays,
    layer_from_config,
    shape_text,
)
from fastnet.layers.softmax_ce import SoftmaxWithLoss

#: Sequential and its builder subclasses by class name (for ``from_config``).
NETS = {}

#: layer -> the net whose parameter buffer holds the layer's parameters (weakly
#: held both ways: a net that is gone releases its layers).
_PARAMETER_OWNER = weakref.WeakKeyDictionary()


def accuracy_of(out, t):
    """Fraction of the rows of ``out (N, C)`` whose arg-max is the target class.

    ``t``: checked labels, class indices ``(N,)`` or target rows ``(N, C)``
    (their arg-max is the class). A row holding a NaN (a diverged net)
    counts as wrong. Only reads ``out`` and ``t``.
    """
    y = np.argmax(out, axis=1)
    if t.ndim != 1:
        t = np.argmax(t, axis=1)
    right = y == t
    right &= ~np.isnan(out).any(axis=1)
    return float(np.sum(right)) / out.shape[0]


def _sample_shape(input_shape):
    """``input_shape`` as a tuple of positive ints (int('4') read a string; -4 passed)."""
    if not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of positive ints (the per-sample shape); "
                        f"got {input_shape!r}")
    return tuple(positive_int(f"input_shape[{i}]", s) for i, s in enumerate(input_shape))


def _net_from_state(state):
    return Sequential.from_state(state)


def _numbered(layers, attribute):
    """``{global name: (layer, local name)}``: each local name numbered by its
    occurrences among the layers (``W1, b1, W2 ...``, ``gamma1 ...``)."""
    counts, slots = {}, {}
    for layer in layers:
        for local in getattr(layer, attribute):
            counts[local] = counts.get(local, 0) + 1
            slots[f"{local}{counts[local]}"] = (layer, local)
    return slots


class Sequential:
    """A net of layers run in order, ending in a loss layer.

    Parameters
    ----------
    layers : list of Layer, or dict ``{name: Layer}``
        The layers, in order. A list names them ``<class><n>`` (``Affine1``,
        ``Relu1`` ...). Every layer object may appear once.
    loss : LossLayer, default ``SoftmaxWithLoss()``
        Ends the net: ``loss``/``gradient`` use it, ``predict`` stops before it.
    input_shape : tuple of int or None
        The per-sample input shape; None takes the first layer's own
        (``Affine`` of ``D`` inputs: ``(D,)``, flattening larger inputs).
    dtype : float32 or float64 or None
        Needed only when no layer fixes it (a net of activations alone).
    record : list of layer names or None
        The layers whose outputs :meth:`record_stats` records; None: every
        layer applying a non-identity activation.

    The consecutive layers' shapes are checked at construction; a mismatch is
    a ValueError naming both layers and the shapes.

    A net may be called from several threads: ``predict``, ``loss``,
    ``accuracy`` and ``gradient`` share the net's scratch buffers, so each call
    holds the net's lock and they take turns (each kernel already uses every
    core). Nets that should run side by side are separate nets, or one
    :class:`~fastnet.NetBatch`.

    Attributes
    ----------
    layers : dict ``{name: layer}`` (ordered)
    params : :class:`LiveArrays`, the layers' live parameter arrays, named ``<param><n>``
        where n counts the layers holding a parameter of that name
        (``W1, b1, W2, b2 ...``, ``gamma1, beta1 ...``). Optimizers update
        them in place, as the textbook's do. All of them are views into one
        contiguous buffer (the net copies the layers' arrays into it at
        construction and rebinds each layer's ``params`` to its view: the
        arrays the layers were built from are no longer used, and an
        optimizer given them raises ValueError), and
        each :meth:`gradient` returns views into one new buffer of the same
        layout, so an optimizer can update every parameter in one pass.
    buffers : :class:`LiveArrays`, the layers' non-trainable arrays, named the
        same way (``running_mean1`` ...).
    input_shape, output_shape : the per-sample shapes of the net's input and output.
    last_loss : the loss of the latest ``loss``/``gradient`` pass.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        NETS[cls.__name__] = cls

    def __init__(self, layers, loss=None, *, input_shape=None, dtype=None, record=None):
        named = self._name_layers(layers)
        self.layers = named
        first = next(iter(named.values()))
        if loss is None:
            loss = SoftmaxWithLoss(backend=first.backend)
        if not isinstance(loss, LossLayer):
            raise TypeError(f"loss must be a fastnet loss layer (e.g. SoftmaxWithLoss()); got "
                            f"{type(loss).__name__}")
        self.loss_layer = loss
        self.dtype = self._common_dtype(named, dtype)
        self.input_shape, self.output_shape = self._check_shapes(named, loss, input_shape)

        self._param_slots = _numbered(named.values(), "params")
        self._buffer_slots = _numbered(named.values(), "buffers")
        self._param_offsets, self._param_size = self._pack_params()
        self._grad_layout = [(self._param_offsets[g][0], layer.params[k].shape)
                             for g, (layer, k) in self._param_slots.items()]
        self.params = LiveArrays({g: layer.params[k] for g, (layer, k)
                                  in self._param_slots.items()}, "net.params")
        self.buffers = LiveArrays({g: layer.buffers[k] for g, (layer, k)
                                   in self._buffer_slots.items()}, "net.buffers")

        store = Workspace(max_entries=4 * (3 * len(named) + 2))
        self._slots = [(layer, LayerWorkspace(store, name)) for name, layer in named.items()]
        for _, ws in self._slots:
            ws.may_overwrite_dout = True  # every gradient a net passes back is its own scratch
        self._loss_ws = LayerWorkspace(store, "loss")
        # One pass at a time through the workspace (reentrant: a NetBatch holds its
        # members' locks around passes that may call their methods).
        self._lock = threading.RLock()
        self._lost_layer = None  # a layer whose parameters a later net took (_pack_params)
        self._checked_shapes = set()
        self.record = self._record_names(named, record)
        self._recorder = None  # the active StatsRecorder while recording
        self._recorded = None  # the latest one, kept after recording stops
        self.last_loss = None
        # Compiled passes by call shape (fastnet._program); False forces the per-layer path.
        self._programs = {}
        self._use_program = True

    # -- construction checks -------------------------------------------------------
    @staticmethod
    def _name_layers(layers):
        if isinstance(layers, dict):
            items = list(layers.items())
            for name, _ in items:
                if not isinstance(name, str) or not name:
                    raise TypeError(f"layer names must be non-empty strings; got {name!r}")
        elif isinstance(layers, (list, tuple)):
            counts, items = {}, []
            for layer in layers:
                kind = type(layer).__name__
                counts[kind] = counts.get(kind, 0) + 1
                items.append((f"{kind}{counts[kind]}", layer))
        else:
            raise TypeError(f"layers must be a list or a dict of layers; got {type(layers).__name__}")
        if not items:
            raise ValueError("layers must hold at least one layer")
        seen = set()
        for name, layer in items:
            if not isinstance(layer, Layer) or isinstance(layer, LossLayer):
                raise TypeError(f"layer {name!r} must be a fastnet layer (not a loss); got "
                                f"{type(layer).__name__}")
            if layer.batch_axis != 0:
                raise ValueError(
                    f"layer {name!r} ({layer.describe()}) takes its samples on axis "
                    f"{layer.batch_axis}; in a net every layer takes them on axis 0: build it "
                    f"batch-first (e.g. LSTM(..., batch_first=True))")
            if id(layer) in seen:
                raise ValueError(f"layer {name!r} appears twice; give each position its own layer")
            seen.add(id(layer))
        return dict(items)

    @staticmethod
    def _common_dtype(named, dtype):
        dtypes = {layer.dtype for layer in named.values() if layer.dtype is not None}
        if dtype is not None:
            dtypes.add(float_dtype(dtype))
        if len(dtypes) > 1:
            found = {name: layer.dtype.name for name, layer in named.items() if layer.dtype}
            raise TypeError(f"all layers must share one dtype; got {found}")
        return dtypes.pop() if dtypes else np.dtype(np.float32)

    @staticmethod
    def _check_shapes(named, loss, input_shape):
        shape = None if input_shape is None else _sample_shape(input_shape)
        first = next(iter(named.values()))
        net_input = shape if shape is not None else first.input_shape()
        source = "the net's input"
        for name, layer in list(named.items()) + [("loss", loss)]:
            if name == "loss":
                output = shape
            try:
                shape = layer.output_shape(shape)
            except ValueError as err:
                raise ValueError(f"layer {name!r} ({layer.describe()}) cannot take {source} "
                                 f"of shape {shape_text(shape)}: its input {err}") from None
            source = f"the output of layer {name!r} ({layer.describe()})"
        if output is None:
            raise ValueError("the net's output shape is unknown: give input_shape=")
        return net_input, output

    def _pack_params(self):
        """Move every parameter into one contiguous buffer (values kept, views rebound).

        Each layer's ``params`` entry becomes a view into the buffer, in the
        order of ``_param_slots``; gradients get the same layout (see
        ``_backward``), so an optimizer can update all of them in one pass.
        Returns ``({global name: (offset, size)}, total size)``.
        """
        offsets, total = {}, 0
        for g, (layer, k) in self._param_slots.items():
            offsets[g] = (total, layer.params[k].size)
            total += layer.params[k].size
        buffer = np.empty(total, self.dtype)
        names = {id(layer): name for name, layer in self.layers.items()}
        for g, (layer, k) in self._param_slots.items():
            owner = _PARAMETER_OWNER.get(layer)
            previous = None if owner is None else owner()
            if previous is not None and previous is not self:
                previous._lost_layer = next(name for name, lay in previous.layers.items()
                                            if lay is layer)
            _PARAMETER_OWNER[layer] = weakref.ref(self)
            start, size = offsets[g]
            old = layer.params[k]
            view = buffer[start:start + size].reshape(old.shape)
            np.copyto(view, old)
            layer.params.rebind(k, view)
            # The array the layer was built from (or a former net's view) is a copy now.
            detach(old, f"layer {names[id(layer)]!r} was built with as {k!r}, which a net "
                        f"copied into its parameter buffer as net.params[{g!r}]")
        return offsets, total

    def _new_grads(self):
        """Point every layer's ``grads`` at views into one new buffer laid out like the params."""
        buffer = np.empty(self._param_size, self.dtype)
        for (layer, k), view in zip(self._param_slots.values(), views(buffer, self._grad_layout)):
            layer.grads[k] = view
        return buffer

    @staticmethod
    def _record_names(named, record):
        if record is None:
            return [name for name, layer in named.items()
                    if getattr(layer, "activation", "identity") != "identity"]
        record = list(record)
        for name in record:
            if name not in named:
                raise ValueError(f"record names layer {name!r}, which is not in the net "
                                 f"(layers: {list(named)})")
        return record

    # -- input checks --------------------------------------------------------------
    def _check_x(self, x):
        x = as_array("x", x)
        check_batch("x", x)  # before as_input, whose C-order copy makes 0-d arrays 1-d
        x = as_input("x", x, self.dtype)
        self._check_sample_shape(x)
        return x

    def _check_sample_shape(self, x):
        """Raise ValueError (naming the layer) unless every layer takes the samples of
        the array ``x (N, ...)``; a shape once found good is remembered. Every pass's
        input goes through here (a NetBatch's shared batch once per member), so it also
        refuses a net that lost a layer to a later net (RuntimeError)."""
        if self._lost_layer is not None:
            raise RuntimeError(
                f"this net's layer {self._lost_layer!r} was built into another net since, whose "
                f"parameter buffer now holds its parameters: this net would no longer train or "
                f"use them. Build each net from its own layer objects (a parameter-free layer "
                f"such as an activation or Dropout may be shared)")
        sample = x.shape[1:]
        if sample not in self._checked_shapes:
            shape = sample
            for k, (name, layer) in enumerate(self.layers.items()):
                try:
                    shape = layer.output_shape(shape)
                except ValueError as err:
                    if k == 0:
                        raise ValueError(f"x {err}") from None
                    raise ValueError(f"x of shape {x.shape} does not fit layer {name!r} "
                                     f"({layer.describe()}): its input {err}") from None
            self._checked_shapes.add(sample)

    def _check_t(self, t, n):
        return as_labels("t", t, n, self.output_shape[-1], self.dtype)

    # -- passes (unchecked) --------------------------------------------------------
    def _forward(self, x, train):
        h = x
        protected = True  # h must survive: the caller's array, or kept for a backward
        recorder = self._recorder
        for i, (layer, ws) in enumerate(self._slots):
            keeps_input = train and layer.keeps_input
            ws.may_overwrite_x = not (protected or keeps_input)
            y = layer._forward(h, ws, train)
            if recorder is not None:
                recorder.forward(i, y)
            protected = (train and layer.keeps_output) or (y is h and (protected or keeps_input))
            h = y
        return h

    def _loss(self, x, t, train):
        logits = self._forward(x, train)
        loss = self.loss_layer._loss(logits, t, self._loss_ws)
        for layer in self.layers.values():
            loss += layer.penalty()
        self.last_loss = loss
        return loss

    def _backward(self):
        self._new_grads()  # new arrays per call: gradient() hands them to the caller
        dout = self.loss_layer._loss_backward(self._loss_ws)
        recorder = self._recorder
        for i in range(len(self._slots) - 1, -1, -1):
            layer, ws = self._slots[i]
            if recorder is not None:
                recorder.backward(i, dout)
            dout = layer._backward(dout, ws, i > 0)
        return {g: layer.grads[local] for g, (layer, local) in self._param_slots.items()}

    # -- textbook API ----------------------------------------------------------------
    def predict(self, x, train_flg=False):
        """Return the last layer's output (the logits) for inputs ``x`` as a new array.

        ``train_flg=True`` runs batch norm on batch statistics (updating the
        running ones) and draws dropout masks, as in training.
        """
        train_flg = flag("train_flg", train_flg)  # ('no' or None read as a truth value)
        x = self._check_x(x)
        with self._lock:
            step = compiled_pass(self, x, None, train_flg, FORWARD)
            if step is not None:
                step.run(x)
                return step.output.copy()
            return self._forward(x, train_flg).copy()

    def loss(self, x, t, train_flg=False):
        """The loss (plus every layer's penalty, e.g. weight decay) on ``x`` against ``t``.

        ``t`` holds class indices ``(N,)`` or target rows ``(N, C)``.
        """
        train_flg = flag("train_flg", train_flg)
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        with self._lock:
            step = compiled_pass(self, x, t, train_flg, LOSS)
            if step is not None:
                return step.run(x, t)
            return self._loss(x, t, train_flg)

    def accuracy(self, x, t):
        """Fraction of samples whose arg-max output (inference mode) is the target class.

        A sample whose outputs hold a NaN (a diverged net) counts as wrong.
        """
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        with self._lock:
            step = compiled_pass(self, x, None, False, FORWARD)
            if step is not None:
                step.run(x)
                return accuracy_of(step.output, t)
            return accuracy_of(self._forward(x, False), t)

    def gradient(self, x, t):
        """Backpropagated gradients of the training-mode :meth:`loss`.

        Returns a new dict of new arrays, keyed and ordered like ``params``.
        """
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        with self._lock:
            step = compiled_pass(self, x, t, True, GRADIENT)
            if step is not None:
                return step.gradient(x, t)
            self._loss(x, t, True)
            grads = self._backward()
            return {key: grads[key] for key in self.params}

    def numerical_gradient(self, x, t):
        """Central-difference gradients of the training-mode :meth:`loss` (slow; for checking).

        The loss is evaluated in float64 whatever the net's dtype, on a
        float64 copy of the net, so a float32 net's check is as accurate as
        a float64 one's; the result has the net's dtype. The net itself is
        not touched (its running statistics and dropout generators included).
        """
        x = self._check_x(x)
        t = self._check_t(t, x.shape[0])
        shadow = self._as_float64()
        x64 = x.astype(np.float64)
        t64 = t if t.ndim == 1 else t.astype(np.float64)
        return {key: numerical_gradient(lambda _: shadow._loss(x64, t64, True), p).astype(
                    self.dtype, copy=False)
                for key, p in shadow.params.items()}

    def _as_float64(self):
        state = self.state_dict()
        config = state["config"]
        layers = []
        for entry in config["layers"]:
            cfg = dict(entry["config"]["config"])
            if "dtype" in cfg:
                cfg["dtype"] = "float64"
            layers.append((entry["name"], layer_from_config(
                {"type": entry["config"]["type"], "config": cfg})))
        loss = layer_from_config(config["loss"])
        shadow = Sequential(dict(layers), loss, input_shape=config["input_shape"],
                            dtype=np.float64, record=[])
        for group in ("params", "buffers"):
            state[group] = {k: v.astype(np.float64) for k, v in state[group].items()}
        shadow.load_state_dict(state)
        return shadow

    # -- diagnostics -----------------------------------------------------------------
    def record_stats(self, on=True, *, bins=30, activation_range=None,
                     gradient_range=(-0.01, 0.01)):
        """Start (or, with ``on=False``, stop) recording per-layer statistics.

        While recording, every forward pass adds the output of each layer in
        ``self.record`` (for the textbook nets: each hidden layer's
        activations, after the nonlinearity) and every :meth:`gradient` pass
        adds the gradient of the loss with respect to it, as counts and
        moments only (see :class:`fastnet.diagnostics.RunningStats`): mean,
        std, fraction of exact zeros (dead ReLUs), fraction of saturated
        units and a histogram of ``bins`` bins over ``activation_range``
        (default: the activation's range, (0, 1) for ReLU as in the
        textbook's figures) and ``gradient_range``. Starting clears earlier
        records. Recording changes no result; off, it costs nothing.

        Returns an object usable as a context manager that stops recording
        on exit::

            with net.record_stats():
                net.gradient(x, t)
            net.stats()
        """
        on = flag("on", on)  # (record_stats('no') started recording)
        self._programs.clear()  # passes recorded with the previous recorder's statistics
        if not on:
            self._recorder = None
            return _Recording(self)
        index = {name: i for i, name in enumerate(self.layers)}
        recorded = [(index[name], getattr(self.layers[name], "activation", "identity"))
                    for name in self.record]
        self._recorder = self._recorded = StatsRecorder(
            recorded, bins=bins, activation_range=activation_range,
            gradient_range=gradient_range, backend=next(iter(self.layers.values())).backend)
        return _Recording(self)

    def stats(self):
        """The statistics recorded so far: ``{k: {"activations": {...}, "gradients": {...}}}``
        for the k-th recorded layer (k from 1: hidden layer k in the textbook
        nets), each a dict of plain numbers and arrays (``count``, ``mean``,
        ``std``, ``zero_fraction``, ``saturated_fraction``, ``hist_counts``,
        ``bin_edges``)."""
        if self._recorded is None:
            raise RuntimeError("no statistics recorded: call net.record_stats() first")
        return self._recorded.as_dict()

    # -- state -----------------------------------------------------------------------
    def config(self):
        """JSON-able description of the architecture (no array values)."""
        return {
            "class": "Sequential",
            "layers": [{"name": name, "config": {"type": type(layer).__name__,
                                                 "config": layer.config()}}
                       for name, layer in self.layers.items()],
            "loss": {"type": type(self.loss_layer).__name__, "config": self.loss_layer.config()},
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "dtype": self.dtype.name,
            "record": list(self.record),
        }

    @classmethod
    def from_config(cls, config):
        """A net of this configuration (parameters allocated; values from ``load_state_dict``).

        ``config["class"]`` picks the builder (``Sequential``, ``MultiLayerNet`` ...).
        """
        if not isinstance(config, dict) or "class" not in config:
            raise ValueError("config must be a dict from a net's config(), with a 'class' key")
        kind = config["class"]
        if kind == "Sequential":
            layers = {e["name"]: layer_from_config(e["config"]) for e in config["layers"]}
            return Sequential(layers, layer_from_config(config["loss"]),
                              input_shape=config["input_shape"], dtype=config["dtype"],
                              record=config["record"])
        if kind not in NETS:
            raise ValueError(f"unknown net class {kind!r}; known: {sorted(NETS) + ['Sequential']}")
        return NETS[kind]._from_builder_config(config)

    @classmethod
    def from_state(cls, state):
        """A net equal to the one whose ``state_dict()`` this is."""
        if not isinstance(state, dict) or "config" not in state:
            raise ValueError("state must be a dict from a net's state_dict(), with a 'config' key")
        net = cls.from_config(state["config"])
        net.load_state_dict(state)
        return net

    def state_dict(self):
        """``{"config", "params", "buffers", "extra"}``: the whole state as plain data.

        Copies of every parameter and buffer (the names of ``params`` and
        ``buffers``), the configuration, and JSON-able extra state per layer
        name (the dropout layers' generator states).
        """
        extra = {name: layer.extra_state() for name, layer in self.layers.items()}
        return {
            "config": self.config(),
            "params": {k: v.copy() for k, v in self.params.items()},
            "buffers": {k: v.copy() for k, v in self.buffers.items()},
            "extra": {name: e for name, e in extra.items() if e},
        }

    def load_state_dict(self, state):
        """Copy the arrays and extra state of ``state`` into this net, in place.

        Every key, shape and dtype is checked first: a ValueError/TypeError
        names the offending key and leaves the net unchanged. Arrays keep
        their identity (``params`` entries, optimizer state stay valid). The
        configuration in ``state`` is not compared.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(); got {type(state).__name__}")
        params = check_arrays("params", state.get("params", {}), self.params)
        buffers = check_arrays("buffers", state.get("buffers", {}), self.buffers)
        for key, value in buffers.items():
            layer, name = self._buffer_slots[key]
            try:
                layer.check_buffer(name, value)
            except ValueError as err:
                raise ValueError(f"buffers[{key!r}]: {err}") from None
        extra = state.get("extra", {})
        if not isinstance(extra, dict) or not set(extra) <= set(self.layers):
            raise ValueError(f"extra must map layer names {list(self.layers)} to their extra "
                             f"state; got {extra!r:.200}")
        # A layer missing from ``extra`` keeps its own; a failure restores every layer's.
        previous = {name: self.layers[name].extra_state() for name in extra}
        try:
            for name, value in extra.items():
                self.layers[name].load_extra_state(value)
        except (TypeError, ValueError):
            for name, value in previous.items():
                self.layers[name].load_extra_state(value)
            raise
        for src, dst in ((params, self.params), (buffers, self.buffers)):
            for key, value in src.items():
                np.copyto(dst[key], value)

    def __reduce__(self):
        return _net_from_state, (self.state_dict(),)


class _Recording:
    """Returned by ``record_stats``: as a context manager, stops recording on exit."""

    def __init__(self, net):
        self._net = net

    def __enter__(self):
        return self._net

    def __exit__(self, *exc):
        self._net.record_stats(False)
        return False


def __getattr__(name):
    # The textbook nets live in fastnet.multi_layer_net; kept importable from here.
    if name in ("MultiLayerNet", "MultiLayerNetExtend"):
        import fastnet.multi_layer_net as module
        return getattr(module, name)
    raise AttributeError(f"module 'fastnet.net' has no attribute {name!r}")
