# Dropout's nogil cores over raw pointers, shared by csrc/dropout.pyx (the
# checked entries) and csrc/program.pyx (a net's whole step in one call), so
# both run the same arithmetic. Arrays flat, C-contiguous, one dtype, n
# elements. Large arrays are split into one contiguous chunk per OpenMP
# thread; every element is computed alike whatever the split. A module
# cimporting this file calls _parallel.load_parallel() at import.

from cython cimport floating
from cython.parallel cimport prange

from _parallel cimport bound, chunks

cdef enum:
    APPLY_MASK = 0  # mask[i] = s if mask[i] > r else 0; out[i] = x[i] * mask[i]
    MULTIPLY = 1    # out[i] = x[i] * mask[i]
    SCALE = 2       # out[i] = x[i] * s


cdef inline void _pass(int op, const floating* x, floating* mask, floating r, floating s,
                       floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if op == APPLY_MASK:
        for i in range(n):
            mask[i] = s if mask[i] > r else 0
            out[i] = x[i] * mask[i]
    elif op == MULTIPLY:
        for i in range(n):
            out[i] = x[i] * mask[i]
    else:
        for i in range(n):
            out[i] = x[i] * s


cdef inline void dropout_pass(int op, const floating* x, floating* mask, double ratio,
                              double scale, floating* out, Py_ssize_t n) noexcept nogil:
    """Run pass ``op`` over ``n`` elements (``mask`` is only read by MULTIPLY,
    unused by SCALE); ``out`` may be ``x``."""
    cdef Py_ssize_t nc = chunks(n, n // 16), c, lo
    if n == 0:
        return
    for c in prange(nc, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _pass(op, x + lo, NULL if mask == NULL else mask + lo, <floating>ratio,
              <floating>scale, out + lo, bound(n, c + 1, nc) - lo)
