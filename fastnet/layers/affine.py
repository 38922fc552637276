"""The affine (fully connected) layer, optionally fused with its activation."""
import numpy as np

from fastnet._activation import get_activation
from fastnet._checks import as_input, check_batch, check_shape, float_dtype
from fastnet.kernels import get_backend


class Affine:
    """``y = act(x @ W + b)`` with ``W (D, M)``, stored ``(fan_in, fan_out)``.

    Parameters
    ----------
    W : ndarray (D, M), float32 or float64
        Weights. The layer keeps a reference: in-place updates of ``W``
        (optimizers) are seen by the layer.
    b : ndarray (M,), same dtype
    activation : str
        A name from ``fastnet._activation.REGISTRY`` (its default parameter).
        Fused into the same pass as the bias ('identity' is the textbook's
        plain ``Affine``).
    weight_decay : float
        L2 coefficient lambda: ``backward`` adds ``lambda * W`` to ``dW``.
    backend : {'compiled', 'reference'}

    Inputs of more than two dimensions are flattened to ``(N, D)`` as in the
    textbook, and ``backward`` returns ``dx`` in the input's shape.
    """

    def __init__(self, W, b, activation="identity", weight_decay=0.0, *, backend="compiled"):
        if not isinstance(W, np.ndarray) or not isinstance(b, np.ndarray):
            raise TypeError("W and b must be numpy arrays")
        dtype = float_dtype(W.dtype, "W.dtype")
        if b.dtype != dtype:
            raise TypeError(f"b must have W's dtype {dtype}; got {b.dtype}")
        if W.ndim != 2 or 0 in W.shape:
            raise ValueError(f"W must have shape (D, M) with D, M >= 1; got {W.shape}")
        check_shape("b", b, (W.shape[1],))
        if not (W.flags.c_contiguous and b.flags.c_contiguous):
            raise ValueError("W and b must be C-contiguous (the layer updates them in place)")
        self.W, self.b = W, b
        self.activation = activation
        spec = get_activation(activation)
        self._act, self._param, self._needs_input = spec.code, spec.default_param, spec.needs_input
        self.weight_decay = float(weight_decay)
        self._ops = get_backend(backend)
        self.x = self.y = self.preact = self.original_x_shape = None
        self.dW = self.db = None

    # -- checked, allocating API (textbook) ------------------------------------
    def forward(self, x):
        """Return ``act(x @ W + b)`` as a new (N, M) array; x is (N, D) or (N, ...)."""
        x = as_input("x", x, self.W.dtype)
        check_batch("x", x)
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        check_shape("x (flattened)", x, (None, self.W.shape[0]))
        return self._forward(x, np.empty((x.shape[0], self.W.shape[1]), self.W.dtype))

    def backward(self, dout):
        """Return ``dx`` (input's shape); set ``self.dW`` and ``self.db``."""
        if self.x is None:
            raise RuntimeError("backward called before forward")
        dout = as_input("dout", dout, self.W.dtype)
        check_shape("dout", dout, self.y.shape)
        if self._act:
            dout = dout.copy()  # the fused backward overwrites it
        dx = np.empty(self.x.shape, self.W.dtype)
        self._backward(dout, dx, np.empty_like(self.W), np.empty_like(self.b))
        return dx.reshape(self.original_x_shape)

    # -- unchecked API for networks --------------------------------------------
    def _forward(self, x, out):
        """Write ``act(x @ W + b)`` into ``out``; cache x and out (and ``x @ W + b``
        if the activation's derivative needs it) for backward."""
        preact = np.empty_like(out) if self._needs_input else None
        self._ops.affine_forward(x, self.W, self.b, out, self._act, self._param, preact)
        self.x, self.y, self.preact = x, out, preact
        return out

    def _backward(self, dout, dx, dW, db):
        """Write the gradients into ``dx`` (None to skip), ``dW`` and ``db``.

        With a fused activation ``dout`` is overwritten (it is a workspace).
        """
        ops = self._ops
        if self._act:
            ops.affine_activation_backward_(dout, self.y, self.preact, self._act, self._param,
                                            self.x, self.W, dx, dW, db, self.weight_decay)
        else:
            ops.affine_backward(dout, self.x, self.W, dx, dW, db, self.weight_decay)
        self.dW, self.db = dW, db
        return dx
