"""The affine (fully connected) layer, optionally fused with its activation."""
import numpy as np

from fastnet._activation import get_activation
from fastnet._checks import check_shape, float_dtype, make_rng, positive_int, real_scalar
from fastnet.layers._base import Layer, check_flat_size, live_entry, setting


class Affine(Layer):
    """``y = act(x @ W + b)`` with ``W (D, M)``, stored ``(fan_in, fan_out)``.

    Parameters
    ----------
    W : ndarray (D, M), float32 or float64, C-contiguous
        Weights. The layer keeps a reference (``params["W"]``): in-place
        updates of ``W`` (optimizers) are seen by the layer, until a net is
        built from it: the net copies ``W`` into its parameter buffer, where
        the layer computes from then on (update ``net.params`` or
        ``layer.W``; an optimizer given the original ``W`` raises ValueError).
    b : ndarray (M,), same dtype
    activation : {'identity', 'relu', 'sigmoid', 'tanh', ...}
        Fused into the same pass as the bias ('identity' is the textbook's
        plain ``Affine``).
    weight_decay : float >= 0
        L2 coefficient lambda: ``backward`` adds ``lambda * W`` to ``dW`` and
        the layer's :meth:`penalty` is ``lambda / 2 * ||W||^2``.
    activation_param : float or None
        The activation's parameter (leaky_relu's ``negative_slope``, elu's
        ``alpha``); None takes its default.
    backend : {'compiled', 'reference'}

    Inputs of more than two dimensions are flattened to ``(N, D)`` as in the
    textbook, and ``backward`` returns ``dx`` in the input's shape. After
    ``backward``: ``dW`` and ``db`` (also ``grads["W"]``, ``grads["b"]``).
    Build one from sizes with :meth:`create`.
    """

    keeps_input = True
    _recordable = True

    def __init__(self, W, b, activation="identity", weight_decay=0.0, *, activation_param=None,
                 backend="compiled"):
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
        spec = get_activation(activation)
        self._act, self._needs_input = spec.code, spec.needs_input
        self._param = spec.check_param(activation_param)
        self._settings = {"activation": activation, "activation_param": activation_param,
                          "weight_decay": real_scalar("weight_decay", weight_decay, low=0)}
        self._setup(dtype, backend, params={"W": W, "b": b})
        # The fused backward takes the activation's derivative from the output
        # (and from the pre-activation, kept in the workspace, if it needs it).
        self.keeps_output = self._act != 0
        self.x = self.y = self.preact = None
        self._x_shape = None

    @classmethod
    def create(cls, input_size, output_size, activation="identity", *, weight_init="he",
               bias_init="zeros", weight_decay=0.0, activation_param=None, rng=None,
               dtype=np.float32, backend="compiled"):
        """An Affine layer of ``input_size -> output_size`` with fresh parameters.

        ``weight_init``/``bias_init`` take anything :func:`fastnet.init.get_initializer`
        does ('he', 'xavier', a float std, a callable ``(shape, rng, dtype)``);
        ``rng`` is a seed or ``numpy.random.Generator``.
        """
        from fastnet.init import get_initializer

        d = positive_int("input_size", input_size)
        m = positive_int("output_size", output_size)
        dtype = float_dtype(dtype)
        rng = make_rng(rng)
        arrays = []
        for arg, spec, shape in (("weight_init", weight_init, (d, m)),
                                 ("bias_init", bias_init, (m,))):
            value = np.ascontiguousarray(get_initializer(spec, name=arg)(shape, rng, dtype))
            if value.shape != shape or value.dtype != dtype:
                raise ValueError(f"{arg} returned {value.shape} {value.dtype}; "
                                 f"expected {shape} {dtype}")
            arrays.append(value)
        return cls(*arrays, activation, weight_decay, activation_param=activation_param,
                   backend=backend)

    activation = setting("activation")
    activation_param = setting("activation_param")
    weight_decay = setting("weight_decay")
    W = live_entry("params", "W")
    b = live_entry("params", "b")
    dW = property(lambda self: self.grads["W"])
    db = property(lambda self: self.grads["b"])

    def config(self):
        d, m = self.W.shape
        return {"input_size": d, "output_size": m, "activation": self.activation,
                "activation_param": self.activation_param, "weight_decay": self.weight_decay,
                "dtype": self.dtype.name, "backend": self.backend}

    @classmethod
    def from_config(cls, config):
        c = dict(config)
        missing = sorted({"input_size", "output_size", "dtype"} - set(c))
        if missing:  # (was a KeyError)
            raise ValueError(f"an Affine configuration needs {missing}; got keys {sorted(c)}")
        dtype = float_dtype(c.pop("dtype"))
        d, m = positive_int("input_size", c.pop("input_size")), positive_int(
            "output_size", c.pop("output_size"))
        return cls(np.zeros((d, m), dtype), np.zeros(m, dtype), **c)

    def describe(self):
        return f"Affine {self.W.shape[0]} -> {self.W.shape[1]}"

    def input_shape(self):
        return (self.W.shape[0],)

    def output_shape(self, input_shape):
        check_flat_size(input_shape, self.W.shape[0])
        return (self.W.shape[1],)

    def penalty(self):
        if not self.weight_decay:
            return 0.0
        w = self.W.reshape(-1)
        return 0.5 * self.weight_decay * float(np.dot(w, w))

    # -- the protocol --------------------------------------------------------------
    def _forward(self, x, ws, train):
        """``act(x @ W + b)`` into a workspace buffer; caches x and the output."""
        x2 = x.reshape(x.shape[0], -1)
        out = ws.get("out", (x2.shape[0], self.W.shape[1]), self.dtype)
        self.preact = ws.get("preact", out.shape, self.dtype) if self._needs_input else None
        self._ops.affine_forward(x2, self.W, self.b, out, self._act, self._param, self.preact)
        self.x, self.y, self._x_shape = x2, out, x.shape
        return out

    def _backward(self, dout, ws, need_dx):
        """Write ``grads["W"]``, ``grads["b"]``; return dx in the input's shape (or None)."""
        ops = self._ops
        dx = ws.get("dx", self.x.shape, self.dtype) if need_dx else None
        dW, db = self.grads["W"], self.grads["b"]
        if self._act:
            if not ws.may_overwrite_dout:  # the fused backward overwrites it
                scratch = ws.get("dout", dout.shape, dout.dtype)
                np.copyto(scratch, dout)
                dout = scratch
            ops.affine_activation_backward_(dout, self.y, self.preact, self._act, self._param,
                                            self.x, self.W, dx, dW, db, self.weight_decay)
        else:
            ops.affine_backward(dout, self.x, self.W, dx, dW, db, self.weight_decay)
        return None if dx is None else dx.reshape(self._x_shape)
