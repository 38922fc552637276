"""Stand-alone activation layers (the fused path lives in :class:`~fastnet.layers.Affine`).

One class, :class:`Activation`, serves every activation of the registry
(``fastnet._activation``); the named classes (``Relu``, ``Sigmoid``, ``Tanh``,
``LeakyRelu``, ``Elu``, ``Gelu``, ``GeluTanh``, ``Silu`` ...) are it with the
name fixed, one per registry entry (its ``class_name``), made here from the
registry so that adding an activation needs no code in this file.
"""
from fastnet._activation import REGISTRY, get_activation
from fastnet.layers._base import Layer, setting


class Activation(Layer):
    """Element-wise ``act(x)`` for any shape; float32 or float64, dtype kept.

    Parameters
    ----------
    activation : str
        A name from the activation registry ('relu', 'sigmoid', 'tanh',
        'leaky_relu', 'elu', 'gelu', 'gelu_tanh', 'silu', 'identity').
    param : float or None
        The activation's parameter (leaky_relu's ``negative_slope``, elu's
        ``alpha``); None takes its default.
    backend : {'compiled', 'reference'}

    Backward reads the output ``y`` (and, for gelu, gelu_tanh and silu, whose
    derivatives are not functions of ``y``, the input ``x``): the layer keeps
    references to them, so a caller must not modify the array ``forward``
    returned, nor the one it was given, before calling ``backward``.
    """

    keeps_output = True
    _recordable = True
    activation = setting("activation")
    param = setting("param")

    def __init__(self, activation, param=None, *, backend="compiled"):
        spec = get_activation(activation)
        self._act, self._param = spec.code, spec.check_param(param)
        # gelu/silu derivatives read x: the net must then leave x intact for backward
        self.keeps_input = spec.needs_input
        self._settings = {"activation": activation, "param": param}
        self._setup(None, backend)
        self.out = self.x = None

    def config(self):
        return {"activation": self.activation, "param": self.param, "backend": self.backend}

    def describe(self):
        return f"activation {self.activation!r}"

    def _forward(self, x, ws, train):
        """Write ``act(x)`` into x itself when allowed, else into a buffer; keep it."""
        out = x if ws.may_overwrite_x else ws.get("out", x.shape, x.dtype)
        self.x = x if self.keeps_input else None
        self._ops.activation_forward(x.reshape(-1), out.reshape(-1), self._act, self._param)
        self.out = out
        return out

    def _backward(self, dout, ws, need_dx):
        """``dout * act'`` into dout itself when allowed, else into a buffer."""
        dx = dout if ws.may_overwrite_dout else ws.get("dx", dout.shape, dout.dtype)
        x = None if self.x is None else self.x.reshape(-1)
        self._ops.activation_backward(dout.reshape(-1), self.out.reshape(-1), x, dx.reshape(-1),
                                      self._act, self._param)
        return dx


def _named_class(spec):
    """The layer class of one registry entry: :class:`Activation` with the name fixed.

    It takes the activation's parameter by its own name (``LeakyRelu(negative_slope=0.2)``,
    ``Elu(alpha=0.5)``) or positionally, and ``backend``.
    """
    pname = spec.param_name

    def __init__(self, *args, backend="compiled", **kwargs):
        if len(args) + len(kwargs) > (pname is not None) or (kwargs and set(kwargs) != {pname}):
            takes = f"only {pname}= and backend=" if pname else "only backend="
            raise TypeError(f"{spec.class_name}() takes {takes}; got {args or ''} {kwargs or ''}")
        Activation.__init__(self, spec.name, (args or [kwargs.get(pname)])[0], backend=backend)

    def config(self):
        config = {"backend": self.backend}
        if pname:
            config[pname] = self.param
        return config

    doc = spec.doc + (f"\n\n    ``{pname}`` defaults to {spec.default_param}." if pname else "")
    return type(spec.class_name, (Activation,),
                {"__init__": __init__, "config": config, "__doc__": doc, "__module__": __name__})


#: The named activation layers, one per registry entry: ``Relu``, ``Sigmoid`` ...
NAMED = {spec.class_name: _named_class(spec) for spec in REGISTRY.values()}
globals().update(NAMED)
__all__ = ["Activation", "NAMED", *NAMED]
