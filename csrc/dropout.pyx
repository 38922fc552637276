"""Dropout kernels: apply a random keep-mask, and its backward.

The random numbers come from the caller (``fastnet.layers.Dropout`` draws
uniforms from a ``numpy.random.Generator`` into the mask buffer), so a seed
reproduces the mask exactly and the kernels hold no RNG state. Arrays are
flat, C-contiguous, of one dtype (float32 or float64) and one size; the
caller checks them. Large arrays are split into one contiguous chunk per
OpenMP thread (csrc/_parallel.pxd); every element is computed alike
whatever the split.
"""
from cython cimport floating
from cython.parallel cimport prange

from _parallel cimport bound, chunks, load_parallel

load_parallel()


cdef inline void _apply_mask(const floating* x, floating* mask, floating r, floating s,
                             floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        mask[i] = s if mask[i] > r else 0
        out[i] = x[i] * mask[i]


cdef inline void _multiply(const floating* x, const floating* y, floating* out,
                           Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = x[i] * y[i]


cdef inline void _scale(const floating* x, floating s, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = x[i] * s


def dropout_forward_(const floating[::1] x, floating[::1] mask, double ratio,
                     double scale, floating[::1] out):
    """Turn uniforms into a mask and apply it: one pass.

    On entry ``mask`` holds uniform draws ``u`` in [0, 1); it is overwritten
    with ``scale`` where ``u > ratio`` (kept) and 0 elsewhere, and
    ``out = x * mask``. ``scale`` is 1 for the textbook's dropout and
    ``1 / (1 - ratio)`` for inverted dropout. ``out`` may be ``x``.
    """
    cdef Py_ssize_t n = x.shape[0], nc = chunks(n, n // 16), c, lo
    if n == 0:
        return
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _apply_mask(&x[lo], &mask[lo], <floating>ratio, <floating>scale, &out[lo],
                    bound(n, c + 1, nc) - lo)


def dropout_backward(const floating[::1] dout, const floating[::1] mask,
                     floating[::1] dx):
    """``dx = dout * mask`` (the mask already carries the scale). ``dx`` may be ``dout``."""
    cdef Py_ssize_t n = dout.shape[0], nc = chunks(n, n // 16), c, lo
    if n == 0:
        return
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _multiply(&dout[lo], &mask[lo], &dx[lo], bound(n, c + 1, nc) - lo)


def dropout_scale(const floating[::1] x, double scale, floating[::1] out):
    """``out = scale * x``: the textbook's inference pass (scale ``1 - ratio``). ``out`` may be ``x``."""
    cdef Py_ssize_t n = x.shape[0], nc = chunks(n, n // 16), c, lo
    if n == 0:
        return
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _scale(&x[lo], <floating>scale, &out[lo], bound(n, c + 1, nc) - lo)
