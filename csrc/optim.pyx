"""Optimizer update kernels: one in-place pass over a flat parameter array.

Arrays are flat, C-contiguous, of one dtype (float32 or float64) and one size;
``fastnet.optim`` checks them before calling.
"""
from cython cimport floating


def sgd_update_(floating[::1] param, const floating[::1] grad, double lr):
    """``param -= lr * grad``, in place."""
    cdef Py_ssize_t i
    cdef floating step = <floating>lr
    with nogil:
        for i in range(param.shape[0]):
            param[i] -= step * grad[i]
