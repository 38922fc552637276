"""Stand-alone activation layers (the fused path lives in :class:`~fastnet.layers.Affine`).

One class, :class:`Activation`, serves every activation of the registry
(``fastnet._activation``); the named classes (``Relu``, ``Sigmoid``, ``Tanh``
...) are it with the name fixed, for the textbook's spelling.
"""
from fastnet._activation import activation_code
from fastnet.layers._base import Layer


class Activation(Layer):
    """Element-wise ``act(x)`` for any shape; float32 or float64, dtype kept.

    Parameters
    ----------
    activation : str
        A name from the activation registry ('relu', 'sigmoid', 'tanh', ...).
    backend : {'compiled', 'reference'}

    Backward reads the output ``y``, so a caller must not modify the array
    ``forward`` returned before calling ``backward`` (the layer keeps it).
    """

    keeps_output = True

    def __init__(self, activation, *, backend="compiled"):
        self._act = activation_code(activation)
        self.activation = activation
        self._setup(None, backend)
        self.out = None

    def config(self):
        return {"activation": self.activation, "backend": self.backend}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def describe(self):
        return f"activation {self.activation!r}"

    def _forward(self, x, ws, train):
        """Write ``act(x)`` into x itself when allowed, else into a buffer; keep it."""
        out = x if ws.may_overwrite_x else ws.get("out", x.shape, x.dtype)
        self._ops.activation_forward(x.reshape(-1), out.reshape(-1), self._act)
        self.out = out
        return out

    def _backward(self, dout, ws, need_dx):
        """``dout * act'`` into dout itself when allowed, else into a buffer."""
        dx = dout if ws.may_overwrite_dout else ws.get("dx", dout.shape, dout.dtype)
        self._ops.activation_backward(dout.reshape(-1), self.out.reshape(-1), dx.reshape(-1),
                                      self._act)
        return dx


def _named(name):
    class _Named(Activation):
        def __init__(self, *, backend="compiled"):
            super().__init__(name, backend=backend)

        def config(self):
            return {"backend": self.backend}

    return _Named


class Relu(_named("relu")):
    """``max(x, 0)``; its gradient passes where the output is positive."""


class Sigmoid(_named("sigmoid")):
    """``1 / (1 + exp(-x))``; gradient ``y (1 - y)``."""


class Tanh(_named("tanh")):
    """``tanh(x)``; gradient ``1 - y^2``."""

