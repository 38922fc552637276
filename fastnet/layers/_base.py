"""The layer protocol every fastnet layer follows.

A layer owns its trainable arrays (``params``), their gradients (``grads``,
same keys) and its non-trainable arrays (``buffers``, e.g. batch norm's
running statistics); ``params`` and ``buffers`` are :class:`~fastnet._live.LiveArrays`,
so assigning an entry copies into the array in use, never rebinds it (a
net's compiled passes and its one parameter buffer point at that array).
Networks drive every layer through the same unchecked
pair::

    y  = layer._forward(x, ws, train)       # x: checked, C-contiguous, (N, *input)
    dx = layer._backward(dout, ws, need_dx)  # writes layer.grads in place

where ``ws`` hands out reusable buffers (``ws.get(name, shape, dtype)``) and
says whether the layer may overwrite its input (``ws.may_overwrite_x``) or
the incoming gradient (``ws.may_overwrite_dout``). A layer states what its
backward reads (``keeps_input``, ``keeps_output``) so a net knows which
buffers it may reuse, and which shapes it maps (``input_shape()``,
``output_shape(shape)``, per sample, batch axis excluded).

The public ``forward``/``backward`` keep the textbook's API: they check
their arguments once, run the same pair on fresh arrays and never write to
what the caller passed.

A layer's state is plain data: ``state_dict()`` gives its configuration
(JSON-able), copies of its params and buffers, and any JSON-able extra
state (a dropout layer's random generator); ``from_config`` plus
``load_state_dict`` rebuild an equal layer. Pickling and ``copy.deepcopy``
go through them. Every concrete subclass registers itself by class name in
:data:`LAYERS`, which is how configurations name layer types.
"""
import math

import numpy as np

from fastnet._checks import as_array, as_input, check_batch, check_shape, flag, float_dtype
from fastnet._live import LiveArrays, attach
from fastnet._workspace import FRESH
from fastnet.kernels import get_backend

#: Layer classes by name, filled as subclasses are defined.
LAYERS = {}


def layer_from_config(entry):
    """Build a layer from ``{"type": class name, "config": {...}}``."""
    if not isinstance(entry, dict) or "type" not in entry or "config" not in entry:
        raise ValueError(f"a layer configuration must be a dict with 'type' and 'config'; "
                         f"got {entry!r}")
    kind, config = entry["type"], entry["config"]
    if not isinstance(kind, str) or kind not in LAYERS:  # (a list was "unhashable type")
        raise ValueError(f"unknown layer type {kind!r}; known: {sorted(LAYERS)}")
    if not isinstance(config, dict):
        raise TypeError(f"the 'config' of layer type {kind!r} must be a dict of its constructor's "
                        f"arguments; got {config!r:.100}")
    return LAYERS[kind].from_config(config)


def _layer_from_state(state):
    layer = layer_from_config(state["config"])
    layer.load_state_dict(state)
    return layer


def check_arrays(what, given, expected):
    """Check a dict of arrays against ``expected`` (same keys, shapes, dtypes).

    Returns ``given`` as a dict of arrays. Raises TypeError/ValueError naming
    ``what`` and the offending key; nothing is modified.
    """
    if not isinstance(given, dict):
        raise TypeError(f"{what} must be a dict of arrays; got {type(given).__name__}")
    missing = [k for k in expected if k not in given]
    extra = [k for k in given if k not in expected]
    if missing or extra:
        raise ValueError(f"{what} does not match: missing keys {missing}, unexpected keys {extra}")
    arrays = {}
    for key, want in expected.items():
        value = given[key]
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{what}[{key!r}] must be a numpy array; got {type(value).__name__}")
        if value.shape != want.shape or value.dtype != want.dtype:
            raise ValueError(f"{what}[{key!r}] must have shape {want.shape} and dtype "
                             f"{want.dtype}; got {value.shape} {value.dtype}")
        arrays[key] = value
    return arrays


def check_flat_size(input_shape, size):
    """Raise ValueError unless a per-sample ``input_shape`` flattens to ``size`` values.

    Layers over ``(N, D)`` (affine, batch norm) take larger inputs flattened,
    as the textbook's do.
    """
    if input_shape is not None and math.prod(input_shape) != size:
        raise ValueError(f"(flattened) must have shape (N, {size}); got per-sample shape "
                         f"{tuple(input_shape)}")


def shape_text(shape):
    """``(N, 3)``-style text for a per-sample shape (None: any)."""
    if shape is None:
        return "(N, ...)"
    return "(" + ", ".join(["N"] + [str(s) for s in shape]) + ")"


def live_entry(mapping, key, doc=None):
    """A property reading ``self.<mapping>[key]`` and assigning through it
    (``layer.W = W`` copies ``W`` into the live array, as ``LiveArrays`` does)."""
    return property(lambda self: getattr(self, mapping)[key],
                    lambda self, value: getattr(self, mapping).__setitem__(key, value), doc=doc)


def setting(name, owner="layer", why="a net records it in its compiled passes"):
    """A read-only attribute for a construction-time setting, kept in ``_settings``.

    A layer's kernels take these values as its configuration, and a net's
    compiled passes record them once (fastnet._program); a net built from
    arguments (``MultiLayerNet``) hands them to its layers when it builds
    them. Assigning a new value afterwards is an AttributeError rather than
    a value some passes (or every pass) would ignore. A different value
    needs a new ``owner`` (a layer, a net).
    """
    def get(self):
        return self._settings[name]

    def refuse(self, value):
        raise AttributeError(f"{type(self).__name__}.{name} is fixed when the {owner} is built "
                             f"({why}); build a new {owner} with {name}={value!r} instead")
    return property(get, refuse, doc=f"The {owner}'s ``{name}`` (read-only after construction).")


class Layer:
    """Base class of every layer; see the module docstring for the protocol."""

    keeps_input = False   # backward reads the forward's input
    keeps_output = False  # backward reads the forward's output
    batch_axis = 0        # the axis of the samples (a time-major sequence layer: 1)
    # True if _forward and _backward touch array contents only through
    # self._ops (kernel calls) and ws (buffers): no NumPy arithmetic, no random
    # draws, no choice made from array values. A net may then record their
    # kernel calls once and replay them in one compiled call (_compile).
    _recordable = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_") and not cls.__dict__.get("_abstract", False):
            LAYERS[cls.__name__] = cls

    def _setup(self, dtype, backend, params=None, buffers=None):
        """Common attributes; ``dtype`` None for dtype-agnostic layers (activations)."""
        self._ops = get_backend(backend)
        self.backend = backend
        self.dtype = None if dtype is None else float_dtype(dtype)
        self.params = LiveArrays(params or {}, f"{type(self).__name__}.params")
        for array in self.params.values():
            attach(array)  # an array a net copied before is this layer's live one now
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = LiveArrays(buffers or {}, f"{type(self).__name__}.buffers")
        self._shapes = None  # (x shape, y shape) of the latest public forward

    # -- to be provided by each layer -------------------------------------------
    def config(self):
        """JSON-able constructor configuration (array shapes, not values)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        """A layer with this configuration (params and buffers allocated, any values).

        The default passes ``config`` to the constructor as keywords; a layer
        whose constructor takes arrays (Affine, BatchNormalization) overrides it.
        """
        return cls(**config)

    def input_shape(self):
        """The per-sample input shape this layer requires, or None for any."""
        return None

    def output_shape(self, input_shape):
        """The per-sample output shape for a per-sample ``input_shape`` (None: unknown).

        Raises ValueError if the input does not fit the layer.
        """
        return input_shape

    def _forward(self, x, ws, train):
        raise NotImplementedError

    def _backward(self, dout, ws, need_dx):
        raise NotImplementedError

    def _compile(self, plan, x, ws, train):
        """Record this layer's ``_forward(x, ws, train)`` into ``plan`` (a
        :class:`fastnet._program.Plan`); return ``(y, backward)``, where
        ``backward(dout, ws, need_dx)`` records ``_backward`` and returns dx,
        or None if the layer cannot be compiled (the net then runs every layer
        from Python). ``x`` is a placeholder or an earlier layer's output
        buffer: its contents are not known yet. The default traces a
        ``_recordable`` layer's own methods.
        """
        return plan.trace(self, x, ws, train) if self._recordable else None

    def penalty(self):
        """The layer's regularization term of the loss (weight decay); 0 by default."""
        return 0.0

    def extra_state(self):
        """JSON-able state outside params and buffers (e.g. a random generator's)."""
        return {}

    def check_buffer(self, name, value):
        """Raise ValueError if ``value`` (of the right shape and dtype) cannot be the
        buffer ``name`` (``Sequential.load_state_dict`` asks before copying any)."""

    def load_extra_state(self, state):
        # Only an empty dict: None, [] or 5 are no layer's extra state either.
        if not isinstance(state, dict) or state:
            raise ValueError(f"{type(self).__name__} has no extra state (expected {{}}); "
                             f"got {state!r:.100}")

    def describe(self):
        """Short text naming the layer and its sizes, for error messages."""
        return type(self).__name__

    # -- checked textbook API ----------------------------------------------------
    def _check_x(self, x):
        x = as_array("x", x)
        check_batch("x", x)  # before any copy: np.ascontiguousarray makes 0-d arrays 1-d
        if self.dtype is None:
            float_dtype(x.dtype, "x.dtype")
            x = np.ascontiguousarray(x)
        else:
            x = as_input("x", x, self.dtype)
        try:
            self.output_shape(x.shape[1:])
        except ValueError as err:
            raise ValueError(f"x {err}") from None
        return x

    def forward(self, x, train_flg=True):
        """Return the layer's output for ``x (N, ...)`` as a new array.

        ``train_flg`` matters to layers that behave differently in training
        (batch norm, dropout); others ignore it. What ``backward`` needs is
        kept as the layer's own copy: changing ``x`` or the returned array
        afterwards does not change the gradients.
        """
        train_flg = flag("train_flg", train_flg)  # ('no' or None read as a truth value)
        given = x
        x = self._check_x(x)
        if self.keeps_input and np.may_share_memory(x, given):
            x = x.copy()
        y = self._forward(x, FRESH, train_flg)
        self._shapes = (x.shape, y.shape, x.dtype)
        return y.copy() if y is x or self.keeps_output else y

    def backward(self, dout):
        """Return ``dL/dx`` (the last forward input's shape) for ``dout = dL/dy``.

        The parameter gradients land in ``self.grads``, as new arrays each call
        (as the textbook's ``dW``): those of an earlier call are left as they
        were. ``dout`` is not modified.
        """
        if self._shapes is None:
            raise RuntimeError("backward called before forward")
        x_shape, y_shape, dtype = self._shapes
        dout = as_input("dout", dout, dtype)
        check_shape("dout", dout, y_shape)
        self._renew_grads()
        dx = self._backward(dout, FRESH, True)
        return dx.copy() if dx is dout else dx

    def _renew_grads(self):
        """Point ``grads`` at new arrays, before a public backward pass writes them.

        A caller may keep the gradients of an earlier call (to average them over
        batches, or compare them), as the textbook's layers allow by making new
        ``dW`` arrays each time; written in place they changed under the
        caller. A net's own passes write into its new gradient buffer instead.
        """
        for key, g in self.grads.items():
            self.grads[key] = np.empty_like(g)

    # -- state ---------------------------------------------------------------------
    def state_dict(self):
        """``{"config", "params", "buffers", "extra"}``: plain arrays (copies) and JSON-able values."""
        return {
            "config": {"type": type(self).__name__, "config": self.config()},
            "params": {k: v.copy() for k, v in self.params.items()},
            "buffers": {k: v.copy() for k, v in self.buffers.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state):
        """Copy params, buffers and extra state from ``state`` into this layer, in place.

        Everything is checked first (keys, shapes, dtypes): on a ValueError or
        TypeError the layer is unchanged. The arrays keep their identity, so
        a net's ``params`` and an optimizer's state still refer to them.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(); got {type(state).__name__}")
        params = check_arrays("params", state.get("params", {}), self.params)
        buffers = check_arrays("buffers", state.get("buffers", {}), self.buffers)
        self._apply_state(params, buffers, state.get("extra", {}))

    def _apply_state(self, params, buffers, extra):
        self.load_extra_state(extra)
        for src, dst in ((params, self.params), (buffers, self.buffers)):
            for key, value in src.items():
                np.copyto(dst[key], value)

    def __reduce__(self):
        return _layer_from_state, (self.state_dict(),)


class LossLayer(Layer):
    """A layer that ends a net: ``_loss(x, t, ws)`` returns the loss and keeps
    ``dL/dx``; ``_loss_backward(ws)`` returns it."""

    _abstract = True

    def _loss(self, x, t, ws):
        raise NotImplementedError

    def _loss_backward(self, ws):
        raise NotImplementedError

    def _compile_loss(self, plan, x, t, ws):
        """Record ``_loss(x, t, ws)`` into ``plan``; return the array that will hold
        ``dL/dx``, or None if the loss cannot be compiled (see ``Layer._compile``)."""
        return None
