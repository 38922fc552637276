"""Element-wise activation kernels outside the fused affine path.

Arrays are flat, C-contiguous views of one dtype, float32 or float64; the
caller (``fastnet.layers``) ravels them and checks their sizes match. The
activations, their codes and parameters are those of
``fastnet._activation.REGISTRY``; the math is in ``_activation.pxd``.
"""
from cython cimport floating

from _activation cimport BACKWARD, FORWARD, elementwise, raise_on_error
from _shapes cimport check_dims


def activation_forward(const floating[::1] x, floating[::1] out, int activation,
                       double param=0.0):
    """Write ``act(x)`` into ``out`` (same size); ``out`` may be ``x``'s buffer.

    ``activation`` is a registry code; ``param`` its parameter (leaky ReLU's
    slope, ELU's alpha; ignored by the others). ValueError for an unknown code.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef floating empty  # stands in for an empty array's data: no element is read
    cdef int status
    check_dims("out", out.shape, 1, n)
    with nogil:
        status = elementwise(FORWARD, activation, &out[0] if n else &empty,
                             &x[0] if n else &empty, NULL, NULL, NULL, NULL, NULL,
                             n, 1, <floating>param)
    raise_on_error(status, activation, "x")


def activation_backward(const floating[::1] dout, const floating[::1] y,
                        const floating[::1] x, floating[::1] dx, int activation,
                        double param=0.0):
    """Write ``dx = dout * act'(x)`` given the forward output ``y = act(x)``.

    ``x`` (the pre-activation, same size) is read only by activations whose
    derivative needs it (the registry's ``needs_input``) and may be None for
    the others. ``dx`` may be ``dout``'s buffer. ValueError for an unknown
    code or a missing ``x``.
    """
    cdef Py_ssize_t n = dout.shape[0]
    cdef floating empty  # stands in for an empty array's data: no element is read
    cdef const floating* a = NULL  # NULL: not given
    cdef int status
    check_dims("y", y.shape, 1, n)
    check_dims("dx", dx.shape, 1, n)
    if x is not None:
        check_dims("x", x.shape, 1, n)
        a = &x[0] if n else &empty
    with nogil:
        status = elementwise(BACKWARD, activation, &dx[0] if n else &empty,
                             &dout[0] if n else &empty, &y[0] if n else &empty, a,
                             NULL, NULL, NULL, n, 1, <floating>param)
    raise_on_error(status, activation, "x")
