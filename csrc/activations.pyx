"""Element-wise activation kernels (ReLU, sigmoid, tanh) outside the fused path.

Arrays are flat, C-contiguous views of one dtype, float32 or float64; the
caller (``fastnet.layers``) ravels them and checks their sizes match.
"""
from cython cimport floating

from _activation cimport (IDENTITY, RELU, SIGMOID, TANH, Activation, Identity, Relu,
                          Sigmoid, Tanh, activate, backprop)


cdef void _forward(const floating* x, floating* out, Py_ssize_t n,
                   Activation kind) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = activate(x[i], kind)


cdef void _backward(const floating* dout, const floating* y, floating* dx, Py_ssize_t n,
                    Activation kind) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dx[i] = backprop(dout[i], y[i], kind)


def activation_forward(const floating[::1] x, floating[::1] out, int activation):
    """Write ``act(x)`` into ``out`` (same size); ``out`` may be ``x``'s buffer."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Identity identity
    cdef Relu relu
    cdef Sigmoid sigmoid
    cdef Tanh tanh_
    if n == 0:
        return
    with nogil:
        if activation == RELU:
            _forward(&x[0], &out[0], n, relu)
        elif activation == SIGMOID:
            _forward(&x[0], &out[0], n, sigmoid)
        elif activation == TANH:
            _forward(&x[0], &out[0], n, tanh_)
        else:
            _forward(&x[0], &out[0], n, identity)


def activation_backward(const floating[::1] dout, const floating[::1] y,
                        floating[::1] dx, int activation):
    """Write ``dx = dout * act'(a)`` given the forward output ``y = act(a)``."""
    cdef Py_ssize_t n = dout.shape[0]
    cdef Identity identity
    cdef Relu relu
    cdef Sigmoid sigmoid
    cdef Tanh tanh_
    if n == 0:
        return
    with nogil:
        if activation == RELU:
            _backward(&dout[0], &y[0], &dx[0], n, relu)
        elif activation == SIGMOID:
            _backward(&dout[0], &y[0], &dx[0], n, sigmoid)
        elif activation == TANH:
            _backward(&dout[0], &y[0], &dx[0], n, tanh_)
        else:
            _backward(&dout[0], &y[0], &dx[0], n, identity)
