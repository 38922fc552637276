"""Optimizers with the textbook API: ``opt.update(params, grads)`` updates in place."""
import numpy as np

from fastnet._checks import real_scalar
from fastnet.kernels import get_backend


def _check_pair(key, param, grad):
    if not isinstance(param, np.ndarray) or not isinstance(grad, np.ndarray):
        raise TypeError(f"params[{key!r}] and grads[{key!r}] must be numpy arrays")
    if grad.dtype != param.dtype:
        raise TypeError(f"grads[{key!r}] has dtype {grad.dtype}; params[{key!r}] is {param.dtype}")
    if grad.shape != param.shape:
        raise ValueError(f"grads[{key!r}] has shape {grad.shape}; params[{key!r}] is {param.shape}")
    if param.dtype not in (np.float32, np.float64):
        raise TypeError(f"params[{key!r}] must be float32 or float64; got {param.dtype}")
    if not param.flags.c_contiguous:
        raise ValueError(f"params[{key!r}] must be C-contiguous to be updated in place")


def check_update_args(params, grads):
    """Check every pair before any update, so a bad pair never leaves a partial update."""
    if set(params) != set(grads):
        raise ValueError(
            f"params and grads must have the same keys; params has {sorted(params)}, "
            f"grads has {sorted(grads)}"
        )
    for key in params:
        _check_pair(key, params[key], grads[key])
    return [(key, params[key].reshape(-1), np.ascontiguousarray(grads[key]).reshape(-1))
            for key in params]


class SGD:
    """Stochastic gradient descent: ``W <- W - lr * dW``.

    Parameters
    ----------
    lr : float, >= 0 (textbook default 0.01)
    backend : {'compiled', 'reference'}
    """

    def __init__(self, lr=0.01, *, backend="compiled"):
        self.lr = real_scalar("lr", lr, low=0)
        self._ops = get_backend(backend)

    def update(self, params, grads):
        """Update every array of ``params`` in place from ``grads`` (same keys, shapes, dtypes)."""
        for _, p, g in check_update_args(params, grads):
            self._ops.sgd_update_(p, g, self.lr)


# Lower-case names accepted by make_optimizer and the Trainer.
OPTIMIZERS = {"sgd": SGD}


def make_optimizer(name, **hyperparameters):
    """Return ``OPTIMIZERS[name.lower()](**hyperparameters)``."""
    try:
        cls = OPTIMIZERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {name!r}") from None
    return cls(**hyperparameters)
