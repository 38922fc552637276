"""Array entry points to the vectorisable exp, tanh and sqrt of ``_vmath.pxd``.

They let tests measure the functions' accuracy in every SIMD variant and
benchmarks time them against NumPy's; kernels cimport ``_vmath`` directly.
``x`` and ``out`` are flat, C-contiguous, one dtype and size; ``out`` may be
``x``.
"""
from cython cimport floating

from _vmath cimport vexp, vsqrt, vtanh


def exp(const floating[::1] x, floating[::1] out):
    """``out = e^x`` element-wise."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = vexp(x[i])


def tanh(const floating[::1] x, floating[::1] out):
    """``out = tanh(x)`` element-wise."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = vtanh(x[i])


def sqrt(const floating[::1] x, floating[::1] out):
    """``out = sqrt(x)`` element-wise (NaN for negative ``x``)."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = vsqrt(x[i])
