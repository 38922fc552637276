"""Optimizer updates in NumPy (reference for csrc/optim.pyx).

Same signatures and the same operation order as the kernels, so float64
results agree to the last bit or so. Scalars are rounded to the arrays'
dtype first, as the kernels do. In place on ``param`` and the state arrays;
a few temporaries of the parameter's size are the price of NumPy.
"""
import numpy as np
from fastnet.reference._shapes import check_dims


def _check_state(param, **arrays):
    for name, array in arrays.items():
        check_dims(name, array, *param.shape)


def _coeffs(param, *values):
    t = param.dtype.type
    return [t(v) for v in values]


def _with_decay(param, grad, weight_decay, wd):
    return grad + wd * param if weight_decay != 0 else grad


def sgd_update_(param, grad, lr, weight_decay=0.0):
    """``param -= lr * (grad + weight_decay * param)``, in place."""
    _check_state(param, grad=grad)
    lr_, wd = _coeffs(param, lr, weight_decay)
    param -= lr_ * _with_decay(param, grad, weight_decay, wd)


def momentum_update_(param, grad, velocity, lr, momentum, weight_decay, nesterov, textbook):
    """Momentum or Nesterov step, in place; see ``fastnet.kernels.momentum_update_``."""
    _check_state(param, grad=grad, velocity=velocity)
    lr_, mu, wd, mu2, lr1mu = _coeffs(param, lr, momentum, weight_decay, momentum * momentum,
                                      (1 + momentum) * lr)
    g = _with_decay(param, grad, weight_decay, wd)
    velocity *= mu
    if textbook:
        velocity -= lr_ * g
        if nesterov:
            param += mu2 * velocity
            param -= lr1mu * g
        else:
            param += velocity
    else:
        velocity += g
        param -= lr_ * (g + mu * velocity) if nesterov else lr_ * velocity


def rmsprop_update_(param, grad, h, lr, decay, scale, eps, weight_decay):
    """RMSprop/AdaGrad step, in place; see ``fastnet.kernels.rmsprop_update_``."""
    _check_state(param, grad=grad, h=h)
    lr_, decay_, scale_, eps_, wd = _coeffs(param, lr, decay, scale, eps, weight_decay)
    g = _with_decay(param, grad, weight_decay, wd)
    h *= decay_
    h += scale_ * g * g
    param -= lr_ * g / (np.sqrt(h) + eps_)


def adam_update_(param, grad, m, v, step_size, beta1, beta2, eps, inv_bias2_sqrt,
                 weight_decay, shrink):
    """Adam/AdamW step, in place; see ``fastnet.kernels.adam_update_``."""
    _check_state(param, grad=grad, m=m, v=v)
    step_, b1c, b2c, eps_, inv_, wd, shrink_ = _coeffs(
        param, step_size, 1.0 - beta1, 1.0 - beta2, eps, inv_bias2_sqrt, weight_decay, shrink)
    g = _with_decay(param, grad, weight_decay, wd)
    if shrink != 1:
        param *= shrink_
    m += b1c * (g - m)
    v += b2c * (g * g - v)
    param -= step_ * m / (np.sqrt(v) * inv_ + eps_)
