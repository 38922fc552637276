# Row-major matrix products through BLAS, for float32 and float64 from one source.
#
# BLAS is column-major. A row-major (r, c) array is, to BLAS, the column-major
# (c, r) matrix of its transpose, so the row-major C = op(A) @ op(B) is the
# column-major C^T = op(B)^T @ op(A)^T: swap the operands and their sizes.
#
# Which BLAS: see blas_pointers.h and fastnet/_blas.py. Every module that
# cimports this file calls load_blas() once at import.

from cython cimport floating
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.stdint cimport int64_t

cdef extern from "blas_pointers.h":
    ctypedef void (*fastnet_sgemm64_t)(const char*, const char*, const int64_t*,
        const int64_t*, const int64_t*, const float*, const float*, const int64_t*,
        const float*, const int64_t*, const float*, float*, const int64_t*) noexcept nogil
    ctypedef void (*fastnet_dgemm64_t)(const char*, const char*, const int64_t*,
        const int64_t*, const int64_t*, const double*, const double*, const int64_t*,
        const double*, const int64_t*, const double*, double*, const int64_t*) noexcept nogil
    ctypedef void (*fastnet_sgemm32_t)(const char*, const char*, const int*,
        const int*, const int*, const float*, const float*, const int*,
        const float*, const int*, const float*, float*, const int*) noexcept nogil
    ctypedef void (*fastnet_dgemm32_t)(const char*, const char*, const int*,
        const int*, const int*, const double*, const double*, const int*,
        const double*, const int*, const double*, double*, const int*) noexcept nogil
    fastnet_sgemm64_t fastnet_sgemm64
    fastnet_dgemm64_t fastnet_dgemm64
    fastnet_sgemm32_t fastnet_sgemm32
    fastnet_dgemm32_t fastnet_dgemm32


cdef inline void* _capsule_pointer(capsule) except NULL:
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


cdef inline load_blas():
    """Point this module's gemm at NumPy's OpenBLAS when found, else at SciPy's.

    SciPy is imported only in the second case: ``import scipy.linalg`` costs
    ~150 ms, three times NumPy's own import.
    """
    global fastnet_sgemm64, fastnet_dgemm64, fastnet_sgemm32, fastnet_dgemm32
    from fastnet._blas import numpy_gemm_addresses, share_thread_pool
    cdef size_t s64, d64
    addresses = numpy_gemm_addresses()
    if addresses is not None:
        share_thread_pool()
        s64, d64 = addresses
        fastnet_sgemm64 = <fastnet_sgemm64_t>s64
        fastnet_dgemm64 = <fastnet_dgemm64_t>d64
    else:
        # cython_blas exports its routines as capsules named by their C signature.
        from scipy.linalg.cython_blas import __pyx_capi__ as capi
        fastnet_sgemm32 = <fastnet_sgemm32_t>_capsule_pointer(capi["sgemm"])
        fastnet_dgemm32 = <fastnet_dgemm32_t>_capsule_pointer(capi["dgemm"])


cdef inline void _gemm_colmajor(char ta, char tb, int64_t m, int64_t n, int64_t k,
                                floating alpha, const floating* a, int64_t lda,
                                const floating* b, int64_t ldb, floating beta,
                                floating* c, int64_t ldc) noexcept nogil:
    cdef int m32 = m, n32 = n, k32 = k, lda32 = lda, ldb32 = ldb, ldc32 = ldc
    if floating is float:
        if fastnet_sgemm64:
            fastnet_sgemm64(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)
        else:
            fastnet_sgemm32(&ta, &tb, &m32, &n32, &k32, &alpha, a, &lda32,
                            b, &ldb32, &beta, c, &ldc32)
    else:
        if fastnet_dgemm64:
            fastnet_dgemm64(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc)
        else:
            fastnet_dgemm32(&ta, &tb, &m32, &n32, &k32, &alpha, a, &lda32,
                            b, &ldb32, &beta, c, &ldc32)


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb,
                      floating beta, floating* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major ``C (m, n) = alpha * op(A) @ op(B) + beta * C``.

    ``op(A)`` is ``(m, k)`` and ``op(B)`` is ``(k, n)``; ``lda``, ``ldb`` and
    ``ldc`` are the row strides (in elements) of A, B and C as stored. Sizes
    reach NumPy's 64-bit-integer OpenBLAS whole (an ``int`` here cut a
    2^31 + 8 column product to a negative size: OpenBLAS refused it and left
    the output unwritten); SciPy's fallback BLAS takes 32-bit sizes.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m == 0 or n == 0:
        return
    _gemm_colmajor(tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc)
