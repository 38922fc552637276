"""Batch normalization (Ioffe & Szegedy 2015, arXiv:1502.03167), per feature of ``(N, D)``."""
import warnings

import numpy as np

from fastnet._checks import check_shape, float_dtype, one_of, positive_int, real_scalar
from fastnet.layers._base import Layer, check_flat_size, live_entry, setting

# convention -> (eps, default momentum); see BatchNormalization.
_CONVENTIONS = {"textbook": (1e-6, 0.9), "torch": (1e-5, 0.1)}



def _check_variance(name, value):
    # No training makes a variance negative (a NaN one, from a diverged run, carries on);
    # inference would take its square root: NaN outputs.
    if (value < 0).any():
        raise ValueError(f"{name} must be >= 0 (a variance); got min {value.min()}")

class BatchNormalization(Layer):
    """``out = gamma * (x - mu) / sqrt(var + eps) + beta`` with batch or running statistics.

    In training (``train_flg=True``) ``mu`` and ``var`` are the batch's mean
    and biased variance per feature, and the running statistics move towards
    them; in inference the running statistics are used.

    Parameters
    ----------
    gamma, beta : ndarray (D,), float32 or float64, C-contiguous
        Scale and shift. The layer keeps references: in-place updates of
        them (optimizers) are seen by the layer, until a net built from it
        copies them into its parameter buffer (as ``Affine``'s ``W``).
    momentum : float or None
        Under ``convention='textbook'`` the weight of the *old* running value
        (``r <- momentum r + (1 - momentum) stat``), default 0.9. Under
        ``convention='torch'`` the weight of the *new* batch, as
        ``torch.nn.BatchNorm1d``'s ``momentum``, default 0.1. None picks the
        convention's default.
    running_mean, running_var : ndarray (D,) or None
        Initial running statistics, updated in place. None starts them at
        0 and 0 (textbook) or 0 and 1 (torch).
    convention : {'textbook', 'torch'}
        'textbook' follows the book's ``BatchNormalization``: eps 1e-6, biased
        running variance; a training batch of one sample normalizes to
        ``xhat = 0`` (with a one-time warning). 'torch' matches
        ``torch.nn.BatchNorm1d``: eps 1e-5, unbiased running variance
        (``var * N / (N - 1)``), and a training batch of one is a ValueError.
    eps : float or None
        Overrides the convention's eps.
    backend : {'compiled', 'reference'}

    Inputs of more than two dimensions are flattened to ``(N, D)`` as in the
    textbook (every position is its own feature); outputs keep the input's shape.
    After ``backward``: ``dgamma`` and ``dbeta``.
    """

    keeps_input = True
    _recordable = True
    convention = setting("convention")
    eps = setting("eps")
    momentum = setting("momentum")

    def __init__(self, gamma, beta, momentum=None, running_mean=None, running_var=None, *,
                 convention="textbook", eps=None, backend="compiled"):
        one_of("convention", convention, _CONVENTIONS)
        if not isinstance(gamma, np.ndarray) or not isinstance(beta, np.ndarray):
            raise TypeError("gamma and beta must be numpy arrays")
        dtype = float_dtype(gamma.dtype, "gamma.dtype")
        if beta.dtype != dtype:
            raise TypeError(f"beta must have gamma's dtype {dtype}; got {beta.dtype}")
        if gamma.ndim != 1 or gamma.size == 0:
            raise ValueError(f"gamma must have shape (D,) with D >= 1; got {gamma.shape}")
        check_shape("beta", beta, gamma.shape)
        if not (gamma.flags.c_contiguous and beta.flags.c_contiguous):
            raise ValueError("gamma and beta must be C-contiguous (the layer reads them in place)")
        default_eps, default_momentum = _CONVENTIONS[convention]
        self._settings = {
            "convention": convention,
            "eps": default_eps if eps is None else real_scalar("eps", eps, low=0, low_open=True),
            "momentum": default_momentum if momentum is None else real_scalar(
                "momentum", momentum, low=0, high=1)}
        # The kernels take the weight of the old value.
        self._keep = self.momentum if convention == "textbook" else 1 - self.momentum
        d = gamma.shape[0]
        start_var = 0.0 if convention == "textbook" else 1.0
        buffers = {"running_mean": self._running("running_mean", running_mean, d, dtype, 0.0),
                   "running_var": self._running("running_var", running_var, d, dtype, start_var)}
        self._setup(dtype, backend, params={"gamma": gamma, "beta": beta}, buffers=buffers)
        self._mean = np.zeros(d, dtype)
        self._inv_std = np.zeros(d, dtype)
        self._warned_single = False
        self.x = None
        self._x_shape = None
        self._trained_last = False

    @classmethod
    def create(cls, num_features, *, dtype=np.float32, **kwargs):
        """A layer over ``num_features`` features with gamma 1 and beta 0."""
        d = positive_int("num_features", num_features)
        dtype = float_dtype(dtype)
        return cls(np.ones(d, dtype), np.zeros(d, dtype), **kwargs)

    gamma = live_entry("params", "gamma")
    beta = live_entry("params", "beta")
    dgamma = property(lambda self: self.grads["gamma"])
    dbeta = property(lambda self: self.grads["beta"])
    running_mean = live_entry("buffers", "running_mean")
    running_var = live_entry("buffers", "running_var")

    @staticmethod
    def _running(name, value, d, dtype, fill):
        if value is None:
            return np.full(d, fill, dtype)
        if not isinstance(value, np.ndarray) or value.dtype != dtype:
            raise TypeError(f"{name} must be a numpy array of dtype {dtype}")
        check_shape(name, value, (d,))
        if not value.flags.c_contiguous or not value.flags.writeable:
            raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
        if name == "running_var":
            _check_variance(name, value)
        return value

    def check_buffer(self, name, value):
        if name == "running_var":
            _check_variance(name, value)

    def config(self):
        return {"num_features": self.gamma.shape[0], "momentum": self.momentum,
                "convention": self.convention, "eps": self.eps, "dtype": self.dtype.name,
                "backend": self.backend}

    @classmethod
    def from_config(cls, config):
        return cls.create(**config)

    def describe(self):
        return f"BatchNormalization of {self.gamma.shape[0]} features"

    def input_shape(self):
        return (self.gamma.shape[0],)

    def output_shape(self, input_shape):
        check_flat_size(input_shape, self.gamma.shape[0])
        return (self.gamma.shape[0],) if input_shape is None else tuple(input_shape)

    # -- checked textbook API ------------------------------------------------------
    def backward(self, dout):
        """Return ``dx`` (input's shape) of the latest training forward; set ``dgamma``, ``dbeta``."""
        if self.x is None or not self._trained_last:
            raise RuntimeError("backward needs a forward with train_flg=True first")
        return super().backward(dout)

    # -- the protocol --------------------------------------------------------------
    def _forward(self, x, ws, train):
        """Normalize ``x`` (flattened to (N, D)); in training cache what backward needs."""
        self._trained_last = train
        gamma, beta = self.params["gamma"], self.params["beta"]
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        x2 = x.reshape(x.shape[0], -1)
        out = ws.get("out", x2.shape, self.dtype)
        if not train:
            self._ops.batchnorm_forward_infer(x2, gamma, beta, running_mean, running_var,
                                              self.eps, out)
            return out.reshape(x.shape)
        n = x2.shape[0]
        if n == 1:
            self._single_sample(x)
        self._ops.batchnorm_forward_train_(
            x2, gamma, beta, self.eps, out, self._mean, self._inv_std, running_mean, running_var,
            self._keep, n / (n - 1) if self.convention == "torch" else 1.0)
        self.x, self._x_shape = x2, x.shape
        return out.reshape(x.shape)

    def _single_sample(self, x):
        if self.convention == "torch":
            raise ValueError(
                "BatchNormalization(convention='torch') needs more than one sample per "
                "feature in training (the unbiased variance of one value is undefined); "
                f"got x of shape {x.shape}"
            )
        if not self._warned_single:
            warnings.warn(
                "BatchNormalization: training batch of one sample; its variance is 0, "
                "so every output equals beta (textbook behaviour)", RuntimeWarning,
                stacklevel=4)
            self._warned_single = True

    def _backward(self, dout, ws, need_dx):
        """Write ``grads["gamma"]``, ``grads["beta"]``; return dx (the input's shape)."""
        x = self.x
        # A separate dx: the kernel's last pass vectorizes only when dx and dout differ.
        dx = ws.get("dx", x.shape, self.dtype)
        grads = self.grads
        self._ops.batchnorm_backward(dout.reshape(x.shape), x, self.params["gamma"], self._mean,
                                     self._inv_std, dx, grads["gamma"], grads["beta"])
        return dx.reshape(self._x_shape)
