"""Batch normalization in NumPy (reference for csrc/batchnorm.pyx); same signatures.

Written as the textbook computes it (mean, centred variance, normalized
output, then the backward from ``dbeta``, ``dgamma``), with temporaries where
NumPy needs them.
"""
import numpy as np


def batchnorm_forward_train(x, gamma, beta, eps, out, mean, inv_std, running_mean,
                            running_var, momentum, var_correction):
    """Normalize ``x (N, D)`` with its batch statistics into ``out``.

    Writes the batch ``mean`` and ``inv_std = 1 / sqrt(var + eps)``; updates
    ``running_* <- momentum * running_* + (1 - momentum) * stat`` in place,
    the variance statistic being ``var * var_correction``.
    """
    np.mean(x, axis=0, out=mean)
    xc = x - mean
    var = np.mean(xc * xc, axis=0)
    running_mean *= momentum
    running_mean += (1 - momentum) * mean
    running_var *= momentum
    running_var += (1 - momentum) * (var * var_correction)
    np.sqrt(var + eps, out=inv_std)
    np.reciprocal(inv_std, out=inv_std)
    np.multiply(xc, gamma * inv_std, out=out)
    out += beta


def batchnorm_forward_infer(x, gamma, beta, running_mean, running_var, eps, out):
    """Write ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta`` into ``out``."""
    np.subtract(x, running_mean, out=out)
    out *= gamma / np.sqrt(running_var + eps)
    out += beta


def batchnorm_backward(dout, x, gamma, mean, inv_std, dx, dgamma, dbeta):
    """Write ``dbeta``, ``dgamma`` and ``dx = gamma inv_std / N (N dout - dbeta - xhat dgamma)``."""
    n = x.shape[0]
    xhat = (x - mean) * inv_std
    np.sum(dout, axis=0, out=dbeta)
    np.sum(dout * xhat, axis=0, out=dgamma)
    xhat *= dgamma
    np.multiply(dout, n, out=dx)
    dx -= dbeta
    dx -= xhat
    dx *= gamma * inv_std / n
