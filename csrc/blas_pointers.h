/* Pointers to the gemm routines of the OpenBLAS NumPy links (64-bit integer
 * interface, found by fastnet/_blas.py), so kernels and NumPy share one BLAS
 * build and one thread pool. Every extension module gets its own copy of
 * these statics and fills them in at import (load_blas in _blas.pxd); while
 * they are NULL, gemm calls SciPy's scipy.linalg.cython_blas instead. */
#ifndef FASTNET_BLAS_POINTERS_H
#define FASTNET_BLAS_POINTERS_H
#include <stdint.h>

#define FASTNET_GEMM_T(name, T, I)                                              \
    typedef void (*name)(const char *, const char *, const I *, const I *,     \
                         const I *, const T *, const T *, const I *,           \
                         const T *, const I *, const T *, T *, const I *)

FASTNET_GEMM_T(fastnet_sgemm64_t, float, int64_t);
FASTNET_GEMM_T(fastnet_dgemm64_t, double, int64_t);

static fastnet_sgemm64_t fastnet_sgemm64 = 0;
static fastnet_dgemm64_t fastnet_dgemm64 = 0;
#endif
