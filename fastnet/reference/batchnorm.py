"""Batch normalization in NumPy (reference for csrc/batchnorm.pyx); same signatures.

Written as the textbook computes it (mean, centred variance, normalized
output, then the backward from ``dbeta``, ``dgamma``), with temporaries where
NumPy needs them. The statistics are computed in float64 from ``x * 2^-e``,
``2^e > max |x|`` per column (exact: a power of two), so they are accurate in
float32 too (a mean of 1e4 with a std of 1) and no square overflows: a
variance beyond the dtype's range becomes inf, ``inv_std`` stays right.
"""
import numpy as np
from fastnet.reference._shapes import check_dims


def _column_stats(x, eps):
    """Per-column float64 ``(mean, var, inv_std = 1/sqrt(var + eps))`` of ``x (N, D)``."""
    with np.errstate(invalid="ignore"):  # NaN/inf in x: the math carries on
        _, e = np.frexp(np.max(np.abs(x), axis=0).astype(np.float64))
    e = np.maximum(e, 0)  # scale down only: scaling tiny values up could overflow eps 2^(-2e)
    y = np.ldexp(x.astype(np.float64), -e)
    m = y.mean(axis=0)
    # The corrected two-pass form (Chan, Golub & LeVeque 1983), as the kernel: the
    # mean of the deviations is the first mean's rounding error, removed from both
    # (a constant column then has variance exactly 0, not its mean's error squared).
    yc = y - m
    shift = yc.mean(axis=0)
    m += shift
    v = np.maximum(np.mean(yc * yc, axis=0) - shift * shift, 0.0)
    with np.errstate(over="ignore"):  # a variance beyond float64: inf, as the kernel
        var = np.ldexp(v, 2 * e)
    inv_std = np.ldexp(1 / np.sqrt(v + np.ldexp(eps, -2 * e)), -e)
    return np.ldexp(m, e), var, inv_std


def _check_features(d, **arrays):
    for name, array in arrays.items():
        check_dims(name, array, d)


def batchnorm_forward_train_(x, gamma, beta, eps, out, mean, inv_std, running_mean,
                            running_var, momentum, var_correction):
    """Normalize ``x (N, D)`` with its batch statistics into ``out``.

    Writes the batch ``mean`` and ``inv_std = 1 / sqrt(var + eps)``; updates
    ``running_* <- momentum * running_* + (1 - momentum) * stat`` in place,
    the variance statistic being ``var * var_correction``.
    """
    n, d = x.shape
    _check_features(d, gamma=gamma, beta=beta, mean=mean, inv_std=inv_std,
                    running_mean=running_mean, running_var=running_var)
    check_dims("out", out, n, d)
    if n < 1:
        raise ValueError(f"x must hold at least one sample for batch statistics; got shape "
                         f"({n}, {d})")
    m, var, istd = _column_stats(x, eps)
    with np.errstate(over="ignore"):  # float32 statistics beyond its range become inf
        mean[...] = m
        inv_std[...] = istd
        running_mean *= momentum
        running_mean += (1 - momentum) * mean
        running_var *= momentum
        running_var += ((1 - momentum) * (var * var_correction)).astype(x.dtype)
    np.multiply(x - mean, gamma * inv_std, out=out)
    out += beta


def batchnorm_forward_infer(x, gamma, beta, running_mean, running_var, eps, out):
    """Write ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta`` into ``out``."""
    _check_features(x.shape[1], gamma=gamma, beta=beta, running_mean=running_mean,
                    running_var=running_var)
    check_dims("out", out, *x.shape)
    np.subtract(x, running_mean, out=out)
    out *= gamma / np.sqrt(running_var + eps)
    out += beta


def batchnorm_backward(dout, x, gamma, mean, inv_std, dx, dgamma, dbeta):
    """Write ``dbeta``, ``dgamma`` and ``dx = gamma inv_std / N (N dout - dbeta - xhat dgamma)``."""
    n = x.shape[0]
    check_dims("dout", dout, *x.shape)
    _check_features(x.shape[1], gamma=gamma, mean=mean, inv_std=inv_std)
    check_dims("dx", dx, *x.shape)
    _check_features(x.shape[1], dgamma=dgamma, dbeta=dbeta)
    xhat = (x - mean) * inv_std
    np.sum(dout, axis=0, out=dbeta)
    np.sum(dout * xhat, axis=0, out=dgamma)
    xhat *= dgamma
    np.multiply(dout, n, out=dx)
    dx -= dbeta
    dx -= xhat
    dx *= gamma * inv_std / n
