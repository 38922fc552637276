"""Element-wise activation kernels (ReLU, sigmoid, tanh) outside the fused path.

Arrays are flat, C-contiguous views of one dtype, float32 or float64; the
caller (``fastnet.layers``) ravels them and checks their sizes match.
"""
from cython cimport floating

from _activation cimport activate, activation_grad


def activation_forward(const floating[::1] x, floating[::1] out, int activation):
    """Write ``act(x)`` into ``out`` (same size); ``out`` may be ``x``'s buffer."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = activate(x[i], activation)


def activation_backward(const floating[::1] dout, const floating[::1] y,
                        floating[::1] dx, int activation):
    """Write ``dx = dout * act'(a)`` given the forward output ``y = act(a)``."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(dout.shape[0]):
            dx[i] = dout[i] * activation_grad(y[i], activation)
