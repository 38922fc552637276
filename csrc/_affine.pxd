# The affine kernels' nogil cores over raw pointers, shared by csrc/affine.pyx
# (the checked entries) and csrc/program.pyx (a net's whole step in one
# call), so both run the same arithmetic. Shapes: x (n, d), W (d, m),
# b (m,), out/preact/dout/y (n, m), all C-contiguous, one dtype.

from cython cimport floating

from cython.parallel cimport prange

from _activation cimport BIAS_BACKWARD, BIAS_FORWARD, OK, elementwise
from _blas cimport gemm
from _parallel cimport fastnet_parallel, pair_threads, split_rows


cdef inline void column_sums(const floating* a, Py_ssize_t n, Py_ssize_t ld, Py_ssize_t m,
                             floating* out) noexcept nogil:
    """``out[j] = sum_i a[i * ld + j]`` for ``j < m``, row by row (so a column's sum
    does not depend on which other columns are summed with it)."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    for j in range(m):
        out[j] = 0
    for i in range(n):
        row = a + i * ld
        for j in range(m):
            out[j] += row[j]


cdef inline void bias_grad(const floating* da, Py_ssize_t n, Py_ssize_t m,
                           floating* db) noexcept nogil:
    """``db[j] = sum_i da[i, j]``, row by row."""
    column_sums(da, n, m, m, db)


cdef inline void weight_input_grads(const floating* da, const floating* x, const floating* W,
                                    floating* dx, floating* dW, Py_ssize_t n, Py_ssize_t d,
                                    Py_ssize_t m, double weight_decay) noexcept nogil:
    """``dW = x.T @ da + weight_decay * W`` and, unless ``dx`` is NULL, ``dx = da @ W.T``:
    side by side on two threads when ``pair_threads`` says so (_parallel.pxd)."""
    cdef Py_ssize_t k
    cdef floating beta = 0
    if weight_decay != 0:
        # dW = lambda W + x.T @ da: seed dW with lambda W and let GEMM accumulate.
        for k in range(d * m):
            dW[k] = <floating>weight_decay * W[k]
        beta = 1
    if dx == NULL or pair_threads(n * d * m) == 1:
        for k in range(1 if dx == NULL else 2):
            gradient_gemm(k, da, x, W, dx, dW, n, d, m, beta)
        return
    fastnet_parallel.blas_one_thread(1)
    for k in prange(2, num_threads=2, schedule="static"):
        gradient_gemm(k, da, x, W, dx, dW, n, d, m, beta)
    fastnet_parallel.blas_one_thread(0)


cdef inline void gradient_gemm(Py_ssize_t which, const floating* da, const floating* x,
                               const floating* W, floating* dx, floating* dW, Py_ssize_t n,
                               Py_ssize_t d, Py_ssize_t m, floating beta) noexcept nogil:
    """``which`` 0: ``dW = x.T @ da + beta * dW``; 1: ``dx = da @ W.T``."""
    if which == 0:
        gemm(True, False, d, m, n, <floating>1, x, d, da, m, beta, dW, m)
    else:
        gemm(False, True, n, d, m, <floating>1, da, m, W, m, <floating>0, dx, d)


cdef inline void affine_rows(const floating* x, const floating* W, const floating* b,
                             floating* out, floating* preact, Py_ssize_t n, Py_ssize_t d,
                             Py_ssize_t m, int activation, floating param) noexcept nogil:
    """``out = act(x @ W + b)`` for ``n`` rows (a block of them, on one thread, in a
    split), the activation code already checked."""
    gemm(False, False, n, m, d, <floating>1, x, d, W, m, <floating>0, out, m)
    elementwise(BIAS_FORWARD, activation, out, NULL, NULL, NULL, b, preact, NULL, n, m, param)


cdef inline int affine_forward_core(const floating* x, const floating* W, const floating* b,
                                    floating* out, floating* preact, Py_ssize_t n,
                                    Py_ssize_t d, Py_ssize_t m, int activation,
                                    floating param) noexcept nogil:
    """``out = act(x @ W + b)`` (and ``preact = x @ W + b`` unless NULL); returns
    elementwise()'s status, with nothing written unless OK. Split by rows over
    threads when ``split_rows`` says so (_parallel.pxd): each thread multiplies
    its block of rows and applies the bias and activation to it."""
    # n = 0: only checks the code, so that nothing is written for a bad one
    cdef int status = elementwise(BIAS_FORWARD, activation, out, NULL, NULL, NULL, b, preact,
                                  NULL, 0, 0, param)
    cdef int blocks, k
    cdef Py_ssize_t first, rows
    if status != OK:
        return status
    blocks = split_rows(n, d, m)
    if blocks == 1:
        affine_rows(x, W, b, out, preact, n, d, m, activation, param)
        return OK
    fastnet_parallel.blas_one_thread(1)
    for k in prange(blocks, num_threads=blocks, schedule="static"):
        first = n * k // blocks
        rows = n * (k + 1) // blocks - first
        affine_rows(x + first * d, W, b, out + first * m,
                    NULL if preact == NULL else preact + first * m, rows, d, m, activation,
                    param)
    fastnet_parallel.blas_one_thread(0)
    return OK


cdef inline void affine_backward_core(const floating* dout, const floating* x,
                                      const floating* W, floating* dx, floating* dW,
                                      floating* db, Py_ssize_t n, Py_ssize_t d, Py_ssize_t m,
                                      double weight_decay) noexcept nogil:
    """Gradients of ``out = x @ W + b``; ``dx`` may be NULL (not wanted)."""
    bias_grad(dout, n, m, db)
    weight_input_grads(dout, x, W, dx, dW, n, d, m, weight_decay)


cdef inline int affine_activation_backward_core(floating* dout, const floating* y,
                                                const floating* preact, int activation,
                                                floating param, const floating* x,
                                                const floating* W, floating* dx, floating* dW,
                                                floating* db, Py_ssize_t n, Py_ssize_t d,
                                                Py_ssize_t m,
                                                double weight_decay) noexcept nogil:
    """Gradients of ``y = act(x @ W + b)``: ``dout`` becomes ``dL/d(x @ W + b)``; returns
    elementwise()'s status, with nothing written unless OK."""
    cdef int status = elementwise(BIAS_BACKWARD, activation, dout, NULL, y, preact, NULL, NULL,
                                  db, n, m, param)
    if status == OK:
        weight_input_grads(dout, x, W, dx, dW, n, d, m, weight_decay)
    return status
