# Row-major matrix products through BLAS, for float32 and float64 from one source.
#
# BLAS is column-major. A row-major (r, c) array is, to BLAS, the column-major
# (c, r) matrix of its transpose, so the row-major C = op(A) @ op(B) is the
# column-major C^T = op(B)^T @ op(A)^T: swap the operands and their sizes.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major ``C (m, n) = alpha * op(A) @ op(B) + beta * C``.

    ``op(A)`` is ``(m, k)`` and ``op(B)`` is ``(k, n)``; ``lda``, ``ldb`` and
    ``ldc`` are the row strides (in elements) of A, B and C as stored.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)
