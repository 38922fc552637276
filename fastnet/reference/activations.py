"""Element-wise activations in NumPy (reference for csrc/activations.pyx).

The activations and their codes are ``fastnet._activation.REGISTRY``'s; the
formulas are those of ``csrc/_activation.pxd``. Each derivative takes the
output ``y`` and the pre-activation ``a``; only the activations with
``needs_input`` (gelu, gelu_tanh, silu) read ``a``, the others may get None.
"""
import math

import numpy as np
from scipy.special import erf

from fastnet._activation import BY_CODE
from fastnet.reference._shapes import check_dims

_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_KAPPA = 0.044715


def _sigmoid(a):
    # 1 / (1 + exp(-a)); exp may overflow to inf, which gives the right 0.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-a))


def _normal_cdf(a):
    return 0.5 * (1 + erf(a * a.dtype.type(1 / math.sqrt(2.0))))


def _gelu_tanh_inner(a):
    return np.tanh(a.dtype.type(_SQRT_2_PI) * (a + a.dtype.type(_KAPPA) * (a * a * a)))


# name -> (f(a, param), dy * f'(dy, y, a, param)); every result has a's dtype.
_MATH = {
    "identity": (lambda a, p: a, lambda dy, y, a, p: dy),
    "relu": (lambda a, p: np.maximum(a, 0),
             # the textbook's mask (dout[x <= 0] = 0): 0 where the unit is off, even for inf dy
             lambda dy, y, a, p: np.where(y > 0, dy, 0)),
    "sigmoid": (lambda a, p: _sigmoid(a), lambda dy, y, a, p: dy * (y * (1 - y))),
    "tanh": (lambda a, p: np.tanh(a), lambda dy, y, a, p: dy * (1 - y * y)),
    "leaky_relu": (lambda a, p: np.where(a > 0, a, a * p),
                   lambda dy, y, a, p: np.where(y > 0, dy, dy * p)),
    "elu": (lambda a, p: np.where(a > 0, a, p * np.expm1(a)),
            # alpha exp(a) = y + alpha for a <= 0
            lambda dy, y, a, p: np.where(y > 0, dy, dy * (y + p))),
    "gelu": (lambda a, p: a * _normal_cdf(a),
             lambda dy, y, a, p: dy * (_normal_cdf(a) + a * (
                 a.dtype.type(1 / math.sqrt(2 * math.pi)) * np.exp(a.dtype.type(-0.5) * a * a)))),
    "gelu_tanh": (lambda a, p: a.dtype.type(0.5) * a * (1 + _gelu_tanh_inner(a)),
                  lambda dy, y, a, p: _gelu_tanh_grad(dy, a)),
    "silu": (lambda a, p: _silu(a), lambda dy, y, a, p: _silu_grad(dy, a)),
}


def _gelu_tanh_grad(dy, a):
    t = _gelu_tanh_inner(a)
    half = a.dtype.type(0.5)
    return dy * (half * (1 + t) + half * a * (1 - t * t)
                 * (a.dtype.type(_SQRT_2_PI) * (1 + a.dtype.type(3 * _KAPPA) * a * a)))


def _silu(a):
    with np.errstate(over="ignore"):
        return a / (1 + np.exp(-a))


def _silu_grad(dy, a):
    s = _sigmoid(a)
    return dy * (s * (1 + a * (1 - s)))


def _math(activation, input_name=None, a=None):
    """``(forward, grad)`` of code ``activation``, with the kernels' errors.

    ValueError for an unknown code and, when ``input_name`` is given, for a
    None pre-activation ``a`` that the derivative needs.
    """
    spec = BY_CODE.get(activation)
    if spec is None:
        raise ValueError(f"activation code {activation} is not compiled; use "
                         f"fastnet._activation.activation_code(name)")
    if input_name is not None and a is None and spec.needs_input:
        raise ValueError(f"activation code {activation} needs {input_name} (the "
                         f"pre-activation) for its derivative; got None")
    return _MATH[spec.name]


def activate_(a, activation, param=0.0):
    """Apply the activation to ``a`` in place and return it."""
    forward, _ = _math(activation)
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN carry on, as in C
        a[...] = forward(a, a.dtype.type(param))
    return a


def activation_grad_(dout, y, a, activation, param=0.0):
    """Multiply ``dout`` in place by the derivative at output ``y`` / pre-activation ``a``.

    ``a`` may be None unless the activation's derivative needs it.
    """
    _, grad = _math(activation, "a", a)
    with np.errstate(over="ignore", invalid="ignore"):
        dout[...] = grad(dout, y, a, dout.dtype.type(param))
    return dout


def activation_forward(x, out, activation, param=0.0):
    """Write ``act(x)`` into ``out`` (flat arrays of the same size)."""
    check_dims("out", out, *x.shape)
    np.copyto(out, x)
    activate_(out, activation, param)


def activation_backward(dout, y, x, dx, activation, param=0.0):
    """Write ``dx = dout * act'(x)`` given ``y = act(x)``; ``x`` may be None unless needed."""
    for name, array in (("y", y), ("x", x), ("dx", dx)):
        if array is not None:
            check_dims(name, array, *dout.shape)
    _math(activation, "x", x)
    np.copyto(dx, dout)
    activation_grad_(dx, y, x, activation, param)
