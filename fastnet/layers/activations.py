"""Stand-alone activation layers (the fused path lives in :class:`Affine`)."""
import numpy as np

from fastnet._activation import get_activation
from fastnet._checks import as_input, check_shape, float_dtype
from fastnet.kernels import get_backend


class _Activation:
    name = "identity"

    def __init__(self, *, backend="compiled"):
        self._ops = get_backend(backend)
        spec = get_activation(self.name)
        self._act, self._param, self._needs_input = spec.code, spec.default_param, spec.needs_input
        self.out = self.x = None

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
        """Write ``act(x)`` into ``out`` (may be ``x``); keep ``out`` (and ``x`` if the
        derivative needs it) for backward."""
        # a copy: out may be x's buffer
        self.x = x.reshape(-1).copy() if self._needs_input else None
        self._ops.activation_forward(x.reshape(-1), out.reshape(-1), self._act, self._param)
        self.out = out
        return out

    def _backward(self, dout, dx):
        """Write ``dout * act'`` into ``dx`` (may be ``dout``); return ``dx``."""
        self._ops.activation_backward(dout.reshape(-1), self.out.reshape(-1), self.x,
                                      dx.reshape(-1), self._act, self._param)
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
