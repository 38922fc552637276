"""Stand-alone activation layers (the fused path lives in :class:`Affine`)."""
import numpy as np

from fastnet._activation import activation_code
from fastnet._checks import as_input, check_shape, float_dtype
from fastnet.kernels import get_backend


class _Activation:
    name = "identity"

    def __init__(self, *, backend="compiled"):
        self._ops = get_backend(backend)
        self._act = activation_code(self.name)
        self.out = None

    def forward(self, x):
        """Return ``act(x)`` as a new array of x's shape and dtype (float32/float64)."""
        x = np.ascontiguousarray(x)
        float_dtype(x.dtype, "x.dtype")
        return self._forward(x, np.empty_like(x))

    def backward(self, dout):
        """Return ``dout * act'(x)`` for the ``x`` of the last forward, as a new array."""
        if self.out is None:
            raise RuntimeError("backward called before forward")
        dout = as_input("dout", dout, self.out.dtype)
        check_shape("dout", dout, self.out.shape)
        return self._backward(dout, np.empty_like(self.out))

    # -- unchecked API for networks --------------------------------------------
    def _forward(self, x, out):
        """Write ``act(x)`` into ``out`` (may be ``x``); keep ``out`` for backward."""
        self._ops.activation_forward(x.reshape(-1), out.reshape(-1), self._act)
        self.out = out
        return out

    def _backward(self, dout, dx):
        """Write ``dout * act'`` into ``dx`` (may be ``dout``); return ``dx``."""
        self._ops.activation_backward(dout.reshape(-1), self.out.reshape(-1),
                                      dx.reshape(-1), self._act)
        return dx


class Relu(_Activation):
    """``max(x, 0)``; its gradient passes where the output is positive."""
    name = "relu"


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))``; gradient ``y (1 - y)``."""
    name = "sigmoid"


class Tanh(_Activation):
    """``tanh(x)``; gradient ``1 - y^2``."""
    name = "tanh"
