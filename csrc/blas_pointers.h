/* Pointers to the gemm routines the kernels call, filled in at import by
 * load_blas (_blas.pxd) from what fastnet/_blas.py finds: the OpenBLAS NumPy
 * links (64-bit integer interface), so kernels and NumPy share one BLAS build
 * and one thread pool, or else SciPy's scipy.linalg.cython_blas (32-bit
 * integers), imported only then. Every extension module gets its own copy
 * of these statics; exactly one pair is non-NULL after load_blas. */
#ifndef FASTNET_BLAS_POINTERS_H
#define FASTNET_BLAS_POINTERS_H
#include <stdint.h>

#define FASTNET_GEMM_T(name, T, I)                                              \
    typedef void (*name)(const char *, const char *, const I *, const I *,     \
                         const I *, const T *, const T *, const I *,           \
                         const T *, const I *, const T *, T *, const I *)

FASTNET_GEMM_T(fastnet_sgemm64_t, float, int64_t);
FASTNET_GEMM_T(fastnet_dgemm64_t, double, int64_t);
FASTNET_GEMM_T(fastnet_sgemm32_t, float, int);
FASTNET_GEMM_T(fastnet_dgemm32_t, double, int);

static fastnet_sgemm64_t fastnet_sgemm64 = 0;
static fastnet_dgemm64_t fastnet_dgemm64 = 0;
static fastnet_sgemm32_t fastnet_sgemm32 = 0;
static fastnet_dgemm32_t fastnet_dgemm32 = 0;
#endif
