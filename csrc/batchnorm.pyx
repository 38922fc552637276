"""Batch normalization kernels over ``x (N, D)``: statistics per feature (column).

Training forward, with ``mu`` and ``var`` the batch mean and biased variance::

    xhat = (x - mu) * inv_std,   inv_std = 1 / sqrt(var + eps)
    out  = gamma * xhat + beta

It takes three passes over ``x``: the mean, then the centred moments
``sum (x - mu)`` and ``sum (x - mu)^2`` (the corrected two-pass algorithm of
Chan, Golub & LeVeque 1983: no ``E[x^2] - E[x]^2`` cancellation when
``|mu| >> std``, and the first sum removes the rounding error of the mean),
then the output. The passes go column block by column block, so a block's
rows are still in cache for the second and third. The running
statistics are updated in the same call. A column whose sum of squares
overflows (float32 values near 1e19 apart, float64 near 1e154) is redone in
double at the scale ``2^-e <= 1 / max|x|``, where no square exceeds 1: its
``inv_std`` and output stay right while the variance itself becomes inf only
if the true variance is beyond the dtype's range.

Backward, with ``g = dL/d out`` and the sums ``Sg = sum_i g`` and
``Sgx = sum_i g * xhat`` (which are also ``dbeta`` and ``dgamma``)::

    dx = gamma * inv_std / N * (N * g - Sg - xhat * Sgx)

evaluated as ``a (g + b (x - mu)) + c``: ``b = -inv_std^2 Sgx / N`` is a
number near ``1/std`` and never the underflowing ``inv_std^3``.

Two passes: the sums, then ``dx``. Nothing is cached but ``mu`` and
``inv_std``; ``xhat`` is recomputed from ``x`` (one subtraction and one
multiply are cheaper than writing and re-reading an (N, D) array).

All 2-D arrays are C-contiguous ``(N, D)``, vectors ``(D,)``, one dtype
(float32 or float64). The caller (``fastnet.layers.BatchNormalization``)
validates them; these functions trust them, allocate nothing and release the
GIL. ``dx`` may be ``dout`` itself (the backward is element-wise in its last
pass), and ``out`` may be ``x`` for the inference forward.
"""
from cython cimport floating

from _batchnorm cimport (batchnorm_backward_core, batchnorm_forward_infer_core,
                         batchnorm_forward_train_core)
from _parallel cimport load_parallel
from _shapes cimport check_dims

load_parallel()


def batchnorm_forward_train_(const floating[:, ::1] x, const floating[::1] gamma,
                            const floating[::1] beta, double eps,
                            floating[:, ::1] out, floating[::1] mean,
                            floating[::1] inv_std, floating[::1] running_mean,
                            floating[::1] running_var, double momentum,
                            double var_correction):
    """Normalize ``x (N, D)`` with its batch statistics; update the running ones.

    Parameters
    ----------
    x : (N, D) float32 or float64, C-contiguous, N >= 1 (else ValueError)
    gamma, beta : (D,) scale and shift
    eps : float, added to the variance
    out : (N, D), overwritten with ``gamma * xhat + beta``
    mean, inv_std : (D,), overwritten with the batch mean and
        ``1 / sqrt(var + eps)`` (``var`` biased); backward needs them.
    running_mean, running_var : (D,), updated in place:
        ``r <- momentum * r + (1 - momentum) * stat``, where the variance
        statistic is ``var * var_correction`` (1 for the textbook, ``N/(N-1)``
        for PyTorch's unbiased running variance). ``momentum`` is the weight
        of the old value (the textbook's convention).
    """
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    check_dims("gamma", gamma.shape, 1, d)
    check_dims("beta", beta.shape, 1, d)
    check_dims("out", out.shape, 2, n, d)
    check_dims("mean", mean.shape, 1, d)
    check_dims("inv_std", inv_std.shape, 1, d)
    check_dims("running_mean", running_mean.shape, 1, d)
    check_dims("running_var", running_var.shape, 1, d)
    if n < 1:  # batch statistics of nothing: 0 * inf = NaN everywhere, so refuse
        raise ValueError(f"x must hold at least one sample for batch statistics; got shape "
                         f"({n}, {d})")
    if d == 0:  # no feature: nothing to write (and &x[0, 0] would not exist)
        return
    with nogil:
        batchnorm_forward_train_core(&x[0, 0], &gamma[0], &beta[0], eps, &out[0, 0], &mean[0],
                                     &inv_std[0], &running_mean[0], &running_var[0], momentum,
                                     var_correction, n, d)


def batchnorm_forward_infer(const floating[:, ::1] x, const floating[::1] gamma,
                            const floating[::1] beta, const floating[::1] running_mean,
                            const floating[::1] running_var, double eps,
                            floating[:, ::1] out):
    """Write ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta`` into ``out``.

    One pass over ``x (N, D)``; any N >= 1. ``out`` may be ``x``.
    """
    cdef Py_ssize_t d = x.shape[1]
    check_dims("gamma", gamma.shape, 1, d)
    check_dims("beta", beta.shape, 1, d)
    check_dims("running_mean", running_mean.shape, 1, d)
    check_dims("running_var", running_var.shape, 1, d)
    check_dims("out", out.shape, 2, x.shape[0], d)
    if x.shape[0] == 0 or x.shape[1] == 0:  # nothing to write; no first element to point at
        return
    with nogil:
        batchnorm_forward_infer_core(&x[0, 0], &gamma[0], &beta[0], &running_mean[0],
                                     &running_var[0], eps, &out[0, 0], x.shape[0], x.shape[1])


def batchnorm_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                       const floating[::1] gamma, const floating[::1] mean,
                       const floating[::1] inv_std, floating[:, ::1] dx,
                       floating[::1] dgamma, floating[::1] dbeta):
    """Gradients of the training forward given ``dout = dL/d out (N, D)``.

    ``x``, ``mean`` and ``inv_std`` are the forward's input and statistics.
    Writes ``dbeta = sum_i dout``, ``dgamma = sum_i dout * xhat`` and
    ``dx = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)``.
    ``dx`` may be ``dout`` (overwritten in place).
    """
    cdef Py_ssize_t d = x.shape[1]
    check_dims("dout", dout.shape, 2, x.shape[0], d)
    check_dims("gamma", gamma.shape, 1, d)
    check_dims("mean", mean.shape, 1, d)
    check_dims("inv_std", inv_std.shape, 1, d)
    check_dims("dx", dx.shape, 2, x.shape[0], d)
    check_dims("dgamma", dgamma.shape, 1, d)
    check_dims("dbeta", dbeta.shape, 1, d)
    if x.shape[0] == 0 or x.shape[1] == 0:  # sums over nothing; no first element to point at
        dgamma[:] = 0
        dbeta[:] = 0
        return
    with nogil:
        batchnorm_backward_core(&dout[0, 0], &x[0, 0], &gamma[0], &mean[0], &inv_std[0],
                                &dx[0, 0], &dgamma[0], &dbeta[0], x.shape[0], x.shape[1])
