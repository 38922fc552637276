# Batch normalization's nogil cores over raw pointers, shared by
# csrc/batchnorm.pyx (the checked entries; the math is in its docstring) and
# csrc/program.pyx (a net's whole step in one call), so both run the same
# arithmetic. x, out, dout, dx: (n, d) C-contiguous; vectors (d,); one dtype.
# A module cimporting this file calls _parallel.load_parallel() at import.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, frexp, isfinite, ldexp, sqrt

from _parallel cimport chunks

# Per-feature coefficients are computed for a block of columns at a time into
# stack arrays, so the row loops are a plain fused multiply-add per element.
cdef enum:
    BLOCK = 256


cdef inline Py_ssize_t _nblocks(Py_ssize_t d) noexcept nogil:
    return (d + BLOCK - 1) // BLOCK


# Batch norm splits from this many times the shared threshold (2^18 elements
# by default): between 2^16 and 2^18 elements its split gained nothing or lost
# 7% (bench/RESULTS.md, "Element-wise threshold 2^16").
cdef enum:
    SPLIT_FROM_MULTIPLE = 4


cdef inline Py_ssize_t _threads(Py_ssize_t n, Py_ssize_t d) noexcept nogil:
    # Column blocks are independent (each feature's statistics are summed in
    # the same order whatever thread owns its block), so they are what goes
    # parallel: results do not depend on the thread count.
    return chunks(n * d // SPLIT_FROM_MULTIPLE, _nblocks(d))


cdef inline void _column_sums(const floating* x, Py_ssize_t n, Py_ssize_t d,
                       Py_ssize_t j0, Py_ssize_t w, floating* acc) noexcept nogil:
    # acc[k] = sum_i x[i, j0 + k] for the columns [j0, j0 + w). Four rows per
    # sweep: the accumulators are loaded and stored once per four rows.
    cdef Py_ssize_t i = 0, j
    cdef const floating* r
    for j in range(w):
        acc[j] = 0
    while i + 4 <= n:
        r = x + i * d + j0
        for j in range(w):
            acc[j] += (r[j] + r[j + d]) + (r[j + 2 * d] + r[j + 3 * d])
        i += 4
    while i < n:
        r = x + i * d + j0
        for j in range(w):
            acc[j] += r[j]
        i += 1


cdef inline void _centred_moments(const floating* x, Py_ssize_t n, Py_ssize_t d,
                           Py_ssize_t j0, Py_ssize_t w, const floating* center,
                           floating* s1, floating* s2) noexcept nogil:
    # For the columns [j0, j0 + w): s1[k] = sum_i (x[i, j0+k] - center[j0+k]),
    # s2[k] = the sum of the squares of the same differences. Four rows per sweep.
    cdef Py_ssize_t i = 0, j
    cdef const floating* r
    cdef const floating* c = center + j0
    cdef floating v0, v1, v2, v3
    for j in range(w):
        s1[j] = 0
        s2[j] = 0
    while i + 4 <= n:
        r = x + i * d + j0
        for j in range(w):
            v0 = r[j] - c[j]
            v1 = r[j + d] - c[j]
            v2 = r[j + 2 * d] - c[j]
            v3 = r[j + 3 * d] - c[j]
            s1[j] += (v0 + v1) + (v2 + v3)
            s2[j] += (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
        i += 4
    while i < n:
        r = x + i * d + j0
        for j in range(w):
            v0 = r[j] - c[j]
            s1[j] += v0
            s2[j] += v0 * v0
        i += 1


cdef inline void _normalize_block(const floating* x, Py_ssize_t n, Py_ssize_t d,
                           Py_ssize_t j0, Py_ssize_t w, const floating* center,
                           const floating* block_inv_std, const floating* gamma,
                           const floating* beta, floating* out) noexcept nogil:
    # out[i, j] = (x[i, j] - center[j]) * gamma[j] * inv_std[j] + beta[j] for the
    # columns j in [j0, j0 + w); block_inv_std[k] is inv_std[j0 + k].
    # The per-column terms are copied to the stack: out cannot alias them there,
    # so gcc drops its per-row overlap checks (the forward 3-14% faster at
    # (512, 1024) float32; the same bits).
    cdef Py_ssize_t i, j
    cdef floating scale[BLOCK]
    cdef floating cen[BLOCK]
    cdef floating shift[BLOCK]
    cdef const floating* row
    cdef floating* orow
    for j in range(w):
        scale[j] = gamma[j0 + j] * block_inv_std[j]
        cen[j] = center[j0 + j]
        shift[j] = beta[j0 + j]
    for i in range(n):
        row = x + i * d + j0
        orow = out + i * d + j0
        for j in range(w):
            orow[j] = (row[j] - cen[j]) * scale[j] + shift[j]


cdef inline void _scaled_column_stats(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t j,
                               double eps, floating* mean, floating* var,
                               floating* inv_std) noexcept nogil:
    # The corrected two-pass statistics of column j, in double, of x * 2^-e with
    # 2^e > max |x|: nothing squared exceeds 1. The exponent goes back on at the
    # end, where var = v 2^(2e) overflows only if the true variance does and
    # inv_std = 2^-e / sqrt(v + eps 2^(-2e)) does not. Strided and slow: it runs
    # only for columns whose plain sums overflowed. Non-finite x is left alone
    # (the math carries on with the plain sums' NaN/inf).
    cdef Py_ssize_t i
    cdef double top = 0, scale, m = 0, s1 = 0, s2 = 0, y, shift, v
    cdef int e
    for i in range(n):
        top = max(top, fabs(x[i * d + j]))
    if not isfinite(top):
        return
    frexp(top, &e)
    e = max(e, 0)  # scale down only: scaling tiny values up could overflow eps 2^(-2e)
    scale = ldexp(1.0, -e)  # a power of two: x * scale is exact
    for i in range(n):
        m += x[i * d + j] * scale
    m /= n
    for i in range(n):
        y = x[i * d + j] * scale - m
        s1 += y
        s2 += y * y
    shift = s1 / n
    v = s2 / n - shift * shift
    if v < 0:
        v = 0
    mean[0] = <floating>ldexp(m + shift, e)
    var[0] = <floating>ldexp(v, 2 * e)
    inv_std[0] = <floating>ldexp(1 / sqrt(v + ldexp(eps, -2 * e)), -e)


cdef inline void _forward_train_block(const floating* x, Py_ssize_t n, Py_ssize_t d,
                               Py_ssize_t j0, Py_ssize_t w, const floating* gamma,
                               const floating* beta, double eps, floating* out,
                               floating* mean, floating* inv_std, floating* running_mean,
                               floating* running_var, double momentum,
                               double var_correction) noexcept nogil:
    # batchnorm_forward_train_ for the columns [j0, j0 + w).
    cdef Py_ssize_t j
    cdef floating keep = <floating>momentum, new = <floating>(1 - momentum)
    cdef floating inv_n = <floating>(1.0 / n), var, shift, istd
    cdef floating s1[BLOCK]
    cdef floating s2[BLOCK]
    _column_sums(x, n, d, j0, w, s1)
    for j in range(w):
        mean[j0 + j] = s1[j] * inv_n
    _centred_moments(x, n, d, j0, w, mean, s1, s2)
    for j in range(w):
        # The corrected two-pass formula: s1 is the rounding error of the
        # first pass's mean, which it removes from the mean and the variance.
        shift = s1[j] * inv_n
        mean[j0 + j] += shift
        var = s2[j] * inv_n - shift * shift
        if var < 0:
            var = 0
        istd = <floating>(1 / sqrt(var + eps))
        if not (isfinite(var) and isfinite(mean[j0 + j])):
            _scaled_column_stats(x, n, d, j0 + j, eps, &mean[j0 + j], &var, &istd)
        running_mean[j0 + j] = keep * running_mean[j0 + j] + new * mean[j0 + j]
        running_var[j0 + j] = (keep * running_var[j0 + j]
                               + new * <floating>(var * var_correction))
        inv_std[j0 + j] = istd
    _normalize_block(x, n, d, j0, w, mean, &inv_std[j0], gamma, beta, out)


cdef inline void _forward_infer_block(const floating* x, Py_ssize_t n, Py_ssize_t d, Py_ssize_t j0,
                               Py_ssize_t w, const floating* gamma, const floating* beta,
                               const floating* running_mean, const floating* running_var,
                               double eps, floating* out) noexcept nogil:
    # batchnorm_forward_infer for the columns [j0, j0 + w).
    cdef Py_ssize_t j
    cdef floating inv_std[BLOCK]
    for j in range(w):
        inv_std[j] = 1 / sqrt(running_var[j0 + j] + eps)
    _normalize_block(x, n, d, j0, w, running_mean, inv_std, gamma, beta, out)


cdef inline void _gradient_sums(const floating* g, const floating* x, Py_ssize_t n,
                         Py_ssize_t d, Py_ssize_t j0, Py_ssize_t w, const floating* m,
                         floating* sg, floating* sgx) noexcept nogil:
    # For the columns [j0, j0 + w): sg[k] = sum_i g[i, j0+k] and
    # sgx[k] = sum_i g[i, j0+k] * (x[i, j0+k] - m[k]). Four rows per sweep.
    cdef Py_ssize_t i = 0, j
    cdef const floating* gr
    cdef const floating* xr
    for j in range(w):
        sg[j] = 0
        sgx[j] = 0
    while i + 4 <= n:
        gr = g + i * d + j0
        xr = x + i * d + j0
        for j in range(w):
            sg[j] += (gr[j] + gr[j + d]) + (gr[j + 2 * d] + gr[j + 3 * d])
            sgx[j] += ((gr[j] * (xr[j] - m[j]) + gr[j + d] * (xr[j + d] - m[j]))
                       + (gr[j + 2 * d] * (xr[j + 2 * d] - m[j])
                          + gr[j + 3 * d] * (xr[j + 3 * d] - m[j])))
        i += 4
    while i < n:
        gr = g + i * d + j0
        xr = x + i * d + j0
        for j in range(w):
            sg[j] += gr[j]
            sgx[j] += gr[j] * (xr[j] - m[j])
        i += 1


cdef inline void _backward_block(const floating* dout, const floating* x, Py_ssize_t n, Py_ssize_t d,
                          Py_ssize_t j0, Py_ssize_t w, const floating* gamma,
                          const floating* mean, const floating* inv_std, floating* dx,
                          floating* dgamma, floating* dbeta) noexcept nogil:
    # batchnorm_backward for the columns [j0, j0 + w).
    cdef Py_ssize_t i, j
    cdef floating inv_n = <floating>(1.0 / n), s
    # Stack arrays: the compiler knows they alias nothing, so the loops vectorize.
    cdef floating sg[BLOCK]
    cdef floating sgx[BLOCK]
    cdef floating a[BLOCK]
    cdef floating b[BLOCK]
    cdef floating c[BLOCK]
    cdef const floating* g
    cdef const floating* xr
    cdef floating* dr
    cdef floating mu[BLOCK]
    for j in range(w):
        mu[j] = mean[j0 + j]
    # Pass 1: sum_i g and sum_i g (x - mu); the latter times inv_std is dgamma.
    _gradient_sums(dout, x, n, d, j0, w, mu, sg, sgx)
    # dx = a (g + b (x - mu)) + c with a = gamma inv_std,
    # b = -inv_std dgamma / N, c = -a dbeta / N. (a b would underflow
    # for a std beyond 1e19 in float32.)
    for j in range(w):
        dbeta[j0 + j] = sg[j]
        dgamma[j0 + j] = sgx[j] * inv_std[j0 + j]
        s = gamma[j0 + j] * inv_std[j0 + j]
        a[j] = s
        b[j] = -inv_std[j0 + j] * (dgamma[j0 + j] * inv_n)
        c[j] = -s * sg[j] * inv_n
    # Pass 2.
    for i in range(n):
        g = dout + i * d + j0
        xr = x + i * d + j0
        dr = dx + i * d + j0
        for j in range(w):
            dr[j] = a[j] * (g[j] + b[j] * (xr[j] - mu[j])) + c[j]



# -- the passes: column block by column block, so a block's rows are still in
# cache for the second (and third) pass; blocks go to OpenMP threads when large.

cdef inline void batchnorm_forward_train_core(
        const floating* x, const floating* gamma, const floating* beta, double eps,
        floating* out, floating* mean, floating* inv_std, floating* running_mean,
        floating* running_var, double momentum, double var_correction, Py_ssize_t n,
        Py_ssize_t d) noexcept nogil:
    """batchnorm.pyx's batchnorm_forward_train_ (n >= 1)."""
    cdef Py_ssize_t k, nb = _nblocks(d), nt = _threads(n, d)
    if nt == 1:  # no parallel region: opening one costs ~0.7 us even for one thread
        for k in range(nb):
            _forward_train_block(x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, beta, eps,
                                 out, mean, inv_std, running_mean, running_var, momentum,
                                 var_correction)
    else:
        for k in prange(nb, num_threads=nt, schedule="static"):
            _forward_train_block(x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, beta, eps,
                                 out, mean, inv_std, running_mean, running_var, momentum,
                                 var_correction)


cdef inline void batchnorm_forward_infer_core(
        const floating* x, const floating* gamma, const floating* beta,
        const floating* running_mean, const floating* running_var, double eps, floating* out,
        Py_ssize_t n, Py_ssize_t d) noexcept nogil:
    """batchnorm.pyx's batchnorm_forward_infer."""
    cdef Py_ssize_t k, nb = _nblocks(d), nt = _threads(n, d)
    if nt == 1:  # no parallel region: opening one costs ~0.7 us even for one thread
        for k in range(nb):
            _forward_infer_block(x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, beta,
                                 running_mean, running_var, eps, out)
    else:
        for k in prange(nb, num_threads=nt, schedule="static"):
            _forward_infer_block(x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, beta,
                                 running_mean, running_var, eps, out)


cdef inline void batchnorm_backward_core(
        const floating* dout, const floating* x, const floating* gamma, const floating* mean,
        const floating* inv_std, floating* dx, floating* dgamma, floating* dbeta, Py_ssize_t n,
        Py_ssize_t d) noexcept nogil:
    """batchnorm.pyx's batchnorm_backward."""
    cdef Py_ssize_t k, nb = _nblocks(d), nt = _threads(n, d)
    if nt == 1:  # no parallel region: opening one costs ~0.7 us even for one thread
        for k in range(nb):
            _backward_block(dout, x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, mean,
                            inv_std, dx, dgamma, dbeta)
    else:
        for k in prange(nb, num_threads=nt, schedule="static"):
            _backward_block(dout, x, n, d, k * BLOCK, min(BLOCK, d - k * BLOCK), gamma, mean,
                            inv_std, dx, dgamma, dbeta)
