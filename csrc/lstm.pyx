"""LSTM kernels: a whole layer over T time steps, forward and backward.

The gates of step t are ``z_t = [x_t, h_{t-1}] @ W + b`` with
``W (D + H, 4H)``. Because W is stored row-major, its first D rows ``Wx`` and
its last H rows ``Wh`` are contiguous blocks, so the concatenation is never
formed: the input part of every step is one GEMM over all T steps at once
(``X (T*N, D) @ Wx``, before the recurrence), and each step adds
``h_{t-1} @ Wh`` into the same rows (GEMM with beta = 1). One fused pass per
step then applies the nonlinearities and the cell update:

    i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g,         h_t = o * tanh(c_t)

The four column blocks of W (and of ``gates``) are ordered as ``gate_order``
says, a permutation of 'ifog' (the helper code's order is 'ifog', PyTorch's
'ifgo').

Backward runs the recurrence in reverse with one fused pass per step giving
``dz_t``, and one GEMM per step for ``dh_{t-1} = dz_t @ Wh.T``; the weight,
bias and input gradients are then whole-sequence GEMMs/sums over all
``dz``: ``dWx = X.T @ dZ``, ``dWh = [h0, h_0..h_{T-2}].T @ dZ``,
``dX = dZ @ Wx.T``. A single LSTM cell step is the case T = 1.

The recurrence (each step's GEMM and fused pass) is split over fastnet's
OpenMP threads by blocks of rows that run through all T steps, each block's
GEMMs on one BLAS thread (rows are independent; the blocks depend on N
only, so the results do not depend on the thread count); the whole-sequence
GEMMs run on the same threads in parts of rows or columns (sizes decide the
parts, never the thread count), each part on one BLAS thread. :func:`lstm_infer`, the forward of
inference, keeps no gates and works through cache-sized blocks of rows.

Arrays are C-contiguous and share one dtype, float32 or float64. The caller
(``fastnet.layers.lstm``) validates them; these functions trust them and
allocate nothing; T, N, D and H are at least 1.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from _affine cimport column_sums
from _blas cimport gemm, load_blas
from _parallel cimport bound, chunks, fastnet_parallel, load_parallel
from _shapes cimport check_dims

load_blas()
load_parallel()


# Sigmoid and tanh through one exp written in arithmetic that gcc vectorizes.
# With libm's expf/tanhf (as csrc/_activation.pxd uses) the gate pass made of
# 5 calls per hidden unit cost 0.6 ms of a 1.0 ms cell step at batch 64,
# hidden 256 (float32, one thread), twice NumPy's vectorized np.exp/np.tanh
# pass in the reference; libm calls are not vectorized without -ffast-math.
#
# exp(a), a <= 0, = 2^n (1 + q): n = round(a / ln 2) (by adding and removing
# 1.5 * 2^mantissa bits, whose bits then hold n), r = a - n ln 2 (ln 2 split
# in two so that n * ln2_hi is exact, Cody & Waite), |r| <= ln(2)/2, and
# q = e^r - 1 by its Taylor series to r^7 (float; next term < 6e-9) or r^13
# (double; < 5e-18). a is clamped (on its bits: a float compare-and-select
# blocks vectorization, see below) at -87 / -708, where 2^n would stop being
# a normal number, so sigmoid(x) for x below that is 1.6e-38 / 3.3e-308
# rather than smaller (but sigmoid(-inf) is exactly 0). sigmoid(x)
# = 1/(1 + e) or e/(1 + e) with
# e = exp(-|x|), and tanh(|x|) = -m/(2 + m) with m = expm1(-2|x|)
# = 2^n q + (2^n - 1), so that neither overflows and tanh stays accurate near
# 0. NaN passes through; +-inf give the limits. Measured against NumPy in
# float64 over 6e5 points in [-1000, 1000]: at most 1.6 ulp (float32) and
# 2.1 ulp (double) relative error. The row loops below vectorize (gcc 12
# -fopt-info-vec), float and double, at the width of the module's build:
# this module is one of setup.py's SIMD_MODULES (16-byte vectors in the
# baseline build, 32-byte at avx2, 64-byte at avx512, chosen at import by
# fastnet._simd). It used gcc's target_clones("avx2,fma", "default") before,
# which capped it at 32-byte vectors: on this machine's AVX-512 CPU the
# avx512 build runs the gate pass of a (8000, 64) float32 step 1.8x faster
# (bench/RESULTS.md, "LSTM forward on large batches (#10)").
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* q = e^r - 1 by Taylor's series: to r^7 for float, to r^13 for double. */
    #define FASTNET_EXPM1_POLY_f(r) (r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 \
        + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040))))))))
    #define FASTNET_EXPM1_POLY_d(r) (r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 \
        + r * (1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320          \
        + r * (1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800                   \
        + r * (1.0 / 479001600 + r * (1.0 / 6227020800.0))))))))))))))

    /* exp(a) = scale * (1 + q) for a <= 0. MAGIC = 1.5 * 2^mantissa bits,
       LO the clamp, BIAS/SHIFT the exponent field's bias and position. */
    #define FASTNET_EXP_PARTS(T, I, SUFFIX, MAGIC, LO, LOG2E, LN2_HI, LN2_LO, BIAS, SHIFT) \
    static inline void fastnet_exp_parts_##SUFFIX(T a, T *scale, T *q) {     \
        T m = MAGIC, lo = LO, t, n, r;                                       \
        I tb, mb, eb, ab, lb;                                                \
        memcpy(&ab, &a, sizeof(T));                                          \
        memcpy(&lb, &lo, sizeof(T));                                         \
        ab = ab > lb ? lb : ab;                                              \
        memcpy(&a, &ab, sizeof(T));                                          \
        t = a * LOG2E + m;                                                   \
        n = t - m;                                                           \
        r = (a - n * LN2_HI) - n * LN2_LO;                                   \
        *q = FASTNET_EXPM1_POLY_##SUFFIX(r);                                 \
        memcpy(&tb, &t, sizeof(T));                                          \
        memcpy(&mb, &m, sizeof(T));                                          \
        eb = (tb - mb + BIAS) << SHIFT;                                      \
        memcpy(scale, &eb, sizeof(T));                                       \
    }
    FASTNET_EXP_PARTS(float, int32_t, f, 12582912.0f, -87.0f, 1.44269504088896341f,
                      0.693145751953125f, 1.428606765330187e-06f, 127, 23)
    FASTNET_EXP_PARTS(double, int64_t, d, 6755399441055744.0, -708.0, 1.4426950408889634,
                      6.93147180369123816490e-01, 1.90821492927058770002e-10, 1023, 52)

    /* Branch-free: the selects are made on the bits. With ?: on floats gcc
       moved the multiply of one arm (and the whole computation under the
       NaN test) into a branch, since under the default -ftrapping-math it
       may not execute a floating-point operation the source does not, and
       control flow stops the loops from vectorizing. */
    #define FASTNET_ACTIVATIONS(T, I, SUFFIX, LIBM, SIGN_SHIFT, ABS_MASK, INF_BITS) \
    static inline T fastnet_select_##SUFFIX(I mask, T a, T b) {              \
        I ab, bb, rb;                                                        \
        T r;                                                                 \
        memcpy(&ab, &a, sizeof(T));                                          \
        memcpy(&bb, &b, sizeof(T));                                          \
        rb = (ab & mask) | (bb & ~mask);                                     \
        memcpy(&r, &rb, sizeof(T));                                          \
        return r;                                                            \
    }                                                                        \
    static inline I fastnet_nan_mask_##SUFFIX(T x) {                         \
        I xb;                                                                \
        memcpy(&xb, &x, sizeof(T));                                          \
        return (xb & ABS_MASK) > INF_BITS ? (I)-1 : (I)0;                    \
    }                                                                        \
    static inline I fastnet_inf_mask_##SUFFIX(T x) {                         \
        I xb;                                                                \
        memcpy(&xb, &x, sizeof(T));                                          \
        return (xb & ABS_MASK) == INF_BITS ? (I)-1 : (I)0;                   \
    }                                                                        \
    static inline T fastnet_sigmoid_##SUFFIX(T x) {                          \
        T s, q, e, p;                                                        \
        I xb;                                                                \
        memcpy(&xb, &x, sizeof(T));                                          \
        fastnet_exp_parts_##SUFFIX(-__builtin_fabs##LIBM(x), &s, &q);      \
        /* |x| = inf: e is exactly 0 (the clamp would leave the smallest */  \
        /* normal), so sigmoid(-inf) is 0 as in the reference */              \
        e = fastnet_select_##SUFFIX(fastnet_inf_mask_##SUFFIX(x), 0, s * q + s); \
        p = 1 / (1 + e);                                                     \
        /* x < 0: e / (1 + e); x >= 0: 1 / (1 + e); NaN: x */               \
        p = fastnet_select_##SUFFIX(xb >> SIGN_SHIFT, e * p, p);             \
        return fastnet_select_##SUFFIX(fastnet_nan_mask_##SUFFIX(x), x, p);  \
    }                                                                        \
    static inline T fastnet_tanh_##SUFFIX(T x) {                             \
        T s, q, m, y;                                                        \
        fastnet_exp_parts_##SUFFIX(-2 * __builtin_fabs##LIBM(x), &s, &q);  \
        m = s * q + (s - 1);                                                 \
        y = __builtin_copysign##LIBM(-m / (2 + m), x);                     \
        return fastnet_select_##SUFFIX(fastnet_nan_mask_##SUFFIX(x), x, y);  \
    }
    FASTNET_ACTIVATIONS(float, int32_t, f, f, 31, 0x7fffffff, 0x7f800000)
    FASTNET_ACTIVATIONS(double, int64_t, d, , 63, 0x7fffffffffffffffLL, 0x7ff0000000000000LL)

    /* One hidden unit forward: the gates from their pre-activations (in
       place), c_t returned, h_t in *h. Inlined into the row loops below. */
    #define FASTNET_LSTM_UNIT(T, SUFFIX)                                     \
    static inline T fastnet_lstm_unit_##SUFFIX(T *i, T *f, T *o, T *g,       \
                                               T c_prev, T *h) {             \
        T c;                                                                 \
        *i = fastnet_sigmoid_##SUFFIX(*i);                                   \
        *f = fastnet_sigmoid_##SUFFIX(*f);                                   \
        *o = fastnet_sigmoid_##SUFFIX(*o);                                   \
        *g = fastnet_tanh_##SUFFIX(*g);                                      \
        c = *f * c_prev + *i * *g;                                           \
        *h = *o * fastnet_tanh_##SUFFIX(c);                                  \
        return c;                                                            \
    }
    FASTNET_LSTM_UNIT(float, f)
    FASTNET_LSTM_UNIT(double, d)

    /* One row of a step: forward (the gates kept for backward), inference
       (the gates dropped, c_t updated in place, h_t written to the output
       and to the next step's GEMM operand) and backward. The gate blocks are
       passed as separate restrict pointers: they never overlap, and without
       restrict gcc would have to prove it at run time for every pair of the
       7 (11) pointers, which it gives up on, leaving the loops scalar. */
    #define FASTNET_LSTM_ROWS(T, SUFFIX)                                     \
    static void fastnet_lstm_row_forward_##SUFFIX(                           \
            T *restrict zi, T *restrict zf, T *restrict zo, T *restrict zg,  \
            const T *restrict c_prev, T *restrict c_out, T *restrict h_out,  \
            Py_ssize_t hid) {                                                \
        for (Py_ssize_t j = 0; j < hid; j++) {                               \
            T i = zi[j], f = zf[j], o = zo[j], g = zg[j], h;                 \
            c_out[j] = fastnet_lstm_unit_##SUFFIX(&i, &f, &o, &g, c_prev[j], &h); \
            zi[j] = i; zf[j] = f; zo[j] = o; zg[j] = g;                      \
            h_out[j] = h;                                                    \
        }                                                                    \
    }                                                                        \
    static void fastnet_lstm_row_infer_##SUFFIX(                             \
            const T *restrict zi, const T *restrict zf, const T *restrict zo,\
            const T *restrict zg, T *restrict c, T *restrict h_out,          \
            T *restrict h_next, Py_ssize_t hid) {                            \
        for (Py_ssize_t j = 0; j < hid; j++) {                               \
            T i = zi[j], f = zf[j], o = zo[j], g = zg[j], h;                 \
            c[j] = fastnet_lstm_unit_##SUFFIX(&i, &f, &o, &g, c[j], &h);     \
            h_out[j] = h;                                                    \
            h_next[j] = h;                                                   \
        }                                                                    \
    }                                                                        \
    static void fastnet_lstm_row_backward_##SUFFIX(                          \
            const T *restrict gi, const T *restrict gf, const T *restrict go,\
            const T *restrict gg, const T *restrict c_t,                     \
            const T *restrict c_prev, const T *restrict dh_out,              \
            const T *restrict dh_carry, T *restrict dc_carry,                \
            T *restrict dzi, T *restrict dzf, T *restrict dzo,               \
            T *restrict dzg, Py_ssize_t hid) {                               \
        for (Py_ssize_t j = 0; j < hid; j++) {                               \
            T i = gi[j], f = gf[j], o = go[j], g = gg[j];                    \
            T tc = fastnet_tanh_##SUFFIX(c_t[j]);                            \
            T dh = dh_out[j] + dh_carry[j];                                  \
            T dc = dc_carry[j] + dh * o * (1 - tc * tc);                     \
            dzi[j] = dc * g * i * (1 - i);                                   \
            dzf[j] = dc * c_prev[j] * f * (1 - f);                           \
            dzo[j] = dh * tc * o * (1 - o);                                  \
            dzg[j] = dc * i * (1 - g * g);                                   \
            dc_carry[j] = dc * f;                                            \
        }                                                                    \
    }
    FASTNET_LSTM_ROWS(float, f)
    FASTNET_LSTM_ROWS(double, d)
    """
    void fastnet_lstm_row_forward_f(float*, float*, float*, float*, const float*, float*,
                                    float*, Py_ssize_t) noexcept nogil
    void fastnet_lstm_row_forward_d(double*, double*, double*, double*, const double*,
                                    double*, double*, Py_ssize_t) noexcept nogil
    void fastnet_lstm_row_backward_f(const float*, const float*, const float*, const float*,
                                     const float*, const float*, const float*, const float*,
                                     float*, float*, float*, float*, float*,
                                     Py_ssize_t) noexcept nogil
    void fastnet_lstm_row_backward_d(const double*, const double*, const double*,
                                     const double*, const double*, const double*,
                                     const double*, const double*, double*, double*, double*,
                                     double*, double*, Py_ssize_t) noexcept nogil
    void fastnet_lstm_row_infer_f(const float*, const float*, const float*, const float*,
                                  float*, float*, float*, Py_ssize_t) noexcept nogil
    void fastnet_lstm_row_infer_d(const double*, const double*, const double*,
                                  const double*, double*, double*, double*,
                                  Py_ssize_t) noexcept nogil


# How the recurrence is split over threads. Rows of the batch are independent
# through all T steps (row r's h_t and c_t depend only on row r's earlier
# states), so the batch is cut into blocks of rows and each thread runs its
# blocks through every step, the per-step GEMM of a block included (on one
# BLAS thread): one parallel section per pass, not a GEMM's and a gate pass's
# fork and join at each of the T steps (2T per forward, 2T per backward),
# which on two threads gained nothing at the lstm experiment's batch of 100
# and stalled on a busy machine (bench/RESULTS.md, "LSTM experiment: inference pass
# and row blocks (#10)").
# The blocks depend on N only, never on the thread count: OpenBLAS's result
# for a row changes with the number of rows of the call, so a row's bits are
# the same at any thread count only if its block is. An even number of
# blocks (two for N < 512, up to 256 rows each) keeps two threads balanced.
#
# Whether to split at all: the shared threshold (fastnet_parallel.min_size,
# 2^16 elements by default) is set for passes of a few operations per
# element; a hidden unit here costs far more (~2.9 ns forward, ~1.8 ns
# backward on one thread for the gate math alone, against ~0.1 ns per element
# of sgd_update_, plus its share of the GEMMs), so a batch of n rows counts
# as n * hid * UNIT_COST elements: at hidden 64 the passes go parallel from
# 64 rows (bench/RESULTS.md, "Element-wise threshold 2^16").
cdef enum:
    UNIT_COST = 16
    BLOCK_ROWS = 256


cdef inline Py_ssize_t _even_blocks(Py_ssize_t n, Py_ssize_t most) noexcept nogil:
    """Blocks of at most ``most`` rows for a batch of n rows: one below 64 rows,
    else an even number, so that two threads share them evenly. Block i holds
    rows ``bound(n, i, blocks)`` (training) or ``n * i // blocks`` (inference)
    up to the next block's first row."""
    if n < 64:
        return 1
    return 2 * ((n + 2 * most - 1) // (2 * most))


cdef inline Py_ssize_t _blocks(Py_ssize_t n) noexcept nogil:
    """Row blocks of the recurrence for a batch of n rows (see above)."""
    return _even_blocks(n, BLOCK_ROWS)


cdef inline Py_ssize_t _block_threads(Py_ssize_t n, Py_ssize_t hid,
                                      Py_ssize_t nblocks) noexcept nogil:
    # One thread when NumPy's OpenBLAS cannot be held to one thread (another
    # BLAS, or OpenBLAS's own pool): its GEMMs must not run side by side then.
    if fastnet_parallel.blas_one_thread == NULL:
        return 1
    return chunks(n * hid * UNIT_COST, nblocks)


cdef inline Py_ssize_t _part_threads(Py_ssize_t elements, Py_ssize_t parts) noexcept nogil:
    # Threads for the parts of a whole-sequence product of ``elements`` outputs; one
    # when the BLAS cannot be held to one thread (as _block_threads).
    if fastnet_parallel.blas_one_thread == NULL:
        return 1
    return chunks(elements, parts)


cdef inline void _blas_one_thread(int begin) noexcept nogil:
    # NumPy's OpenBLAS on one thread from begin = 1 to begin = 0, whatever the
    # block threads: a GEMM split by OpenBLAS gives other bits than on one thread.
    if fastnet_parallel.blas_one_thread != NULL:
        fastnet_parallel.blas_one_thread(begin)


# The whole-sequence products (the input projection before the recurrence, the
# weight, bias and input gradients after it) are cut into a fixed number of
# parts run by the same threads, each on one BLAS thread: the input
# projection and dx by blocks of rows, dW and db by blocks of columns (dZ's
# columns, so that no part packs dZ twice). They ran on OpenBLAS's own split,
# one product after the other, with the bias broadcast and the bias gradient
# on one thread in between: at the lstm experiment's sizes (28 x 100 rows,
# 4H = 256) those serial pieces and each product's own fork, join and
# packing waits were a fifth of a two-thread training step (bench/RESULTS.md,
# "LSTM training step: whole-sequence products in parts (#10)"). Like the row
# blocks, the parts depend on the sizes only: the same bits at any thread count.
cdef enum:
    PART_ROWS = 2048
    PART_COLUMNS = 128


cdef void _input_part(const floating* x, const floating* W, const floating* b,
                      floating* gates, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t d,
                      Py_ssize_t m) noexcept nogil:
    # Rows lo .. hi - 1 of the (T*N, 4H) gates: b + x @ Wx (or x @ Wx without b).
    if hi <= lo:
        return
    if b != NULL:
        _broadcast_rows(gates + lo * m, b, hi - lo, m)
    gemm(False, False, hi - lo, m, d, <floating>1, x + lo * d, d, W, m,
         <floating>(1 if b != NULL else 0), gates + lo * m, m)


cdef void _gradient_part(const floating* x, const floating* h0, const floating* h,
                         const floating* W, const floating* dgates, floating* dW,
                         floating* db, floating* dx, Py_ssize_t job, Py_ssize_t col_parts,
                         Py_ssize_t row_parts, Py_ssize_t steps, Py_ssize_t n,
                         Py_ssize_t d, Py_ssize_t hid) noexcept nogil:
    # Job k < col_parts: columns of dW = [x; h_prev].T @ dZ and of db; else rows of
    # dx = dZ @ Wx.T (dx NULL: none).
    cdef Py_ssize_t m = 4 * hid, rows = steps * n, lo, hi, k
    cdef floating* dwh = dW + d * m
    if job < col_parts:
        lo, hi = bound(m, job, col_parts), bound(m, job + 1, col_parts)
        if hi <= lo:
            return
        gemm(True, False, d, hi - lo, rows, <floating>1, x, d, dgates + lo, m,
             <floating>0, dW + lo, m)
        gemm(True, False, hid, hi - lo, n, <floating>1, h0, hid, dgates + lo, m,
             <floating>0, dwh + lo, m)
        if steps > 1:
            gemm(True, False, hid, hi - lo, (steps - 1) * n, <floating>1, h, hid,
                 dgates + n * m + lo, m, <floating>1, dwh + lo, m)
        if db != NULL:
            column_sums(dgates + lo, rows, m, hi - lo, db + lo)
        return
    k = job - col_parts
    lo, hi = bound(rows, k, row_parts), bound(rows, k + 1, row_parts)
    if hi > lo:
        gemm(False, True, hi - lo, d, m, <floating>1, dgates + lo * m, m, W, m,
             <floating>0, dx + lo * d, d)


cdef void _forward_rows(floating* z, const floating* c_prev, floating* c_out,
                        floating* h_out, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t hid,
                        const Py_ssize_t* off) noexcept nogil:
    cdef Py_ssize_t r
    cdef floating* row
    for r in range(lo, hi):
        row = z + r * 4 * hid
        if floating is float:
            fastnet_lstm_row_forward_f(row + off[0], row + off[1], row + off[2], row + off[3],
                                       c_prev + r * hid, c_out + r * hid, h_out + r * hid, hid)
        else:
            fastnet_lstm_row_forward_d(row + off[0], row + off[1], row + off[2], row + off[3],
                                       c_prev + r * hid, c_out + r * hid, h_out + r * hid, hid)


cdef void _forward_block(floating* gates, const floating* h0, const floating* c0,
                         const floating* wh, floating* c, floating* h, Py_ssize_t lo,
                         Py_ssize_t hi, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t hid,
                         const Py_ssize_t* off) noexcept nogil:
    # Rows lo .. hi - 1 through every step; gates hold x_t @ Wx + b on entry.
    cdef Py_ssize_t m = 4 * hid, t, step = n * hid
    cdef const floating* hp = h0
    cdef const floating* cp = c0
    for t in range(steps):
        gemm(False, False, hi - lo, m, hid, <floating>1, hp + lo * hid, hid, wh, m,
             <floating>1, gates + (t * n + lo) * m, m)
        _forward_rows(gates + t * n * m, cp, c + t * step, h + t * step, lo, hi, hid, off)
        hp = h + t * step
        cp = c + t * step


cdef void _backward_rows(const floating* gates, const floating* c_t,
                         const floating* c_prev, const floating* dh_out, Py_ssize_t dh_ld,
                         const floating* dh_carry, floating* dc_carry, floating* dz,
                         Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t hid,
                         const Py_ssize_t* off) noexcept nogil:
    # dh_out: row r at dh_out + r * dh_ld (a batch-first dL/dy is read where it is)
    cdef Py_ssize_t r, k
    cdef const floating* g
    cdef floating* d
    for r in range(lo, hi):
        g = gates + r * 4 * hid
        d = dz + r * 4 * hid
        k = r * hid
        if floating is float:
            fastnet_lstm_row_backward_f(g + off[0], g + off[1], g + off[2], g + off[3], c_t + k,
                                        c_prev + k, dh_out + r * dh_ld, dh_carry + k, dc_carry + k,
                                        d + off[0], d + off[1], d + off[2], d + off[3], hid)
        else:
            fastnet_lstm_row_backward_d(g + off[0], g + off[1], g + off[2], g + off[3], c_t + k,
                                        c_prev + k, dh_out + r * dh_ld, dh_carry + k, dc_carry + k,
                                        d + off[0], d + off[1], d + off[2], d + off[3], hid)


cdef void _backward_block(const floating* gates, const floating* c, const floating* c0,
                          const floating* dh, Py_ssize_t dh_t, Py_ssize_t dh_n,
                          const floating* wh, floating* dgates,
                          floating* dh_carry, floating* dc_carry, Py_ssize_t lo,
                          Py_ssize_t hi, Py_ssize_t steps, Py_ssize_t n, Py_ssize_t hid,
                          const Py_ssize_t* off) noexcept nogil:
    # Rows lo .. hi - 1 through every step, last to first. dh_carry: dL/dh_t
    # through step t+1 (zero on entry), left as dL/dh0; dc_carry: dL/dc_t
    # through step t+1, left as dL/dc0. dgates receives dL/dz_t. dh_t, dh_n: the
    # strides of dh in elements.
    cdef Py_ssize_t m = 4 * hid, t, step = n * hid
    cdef const floating* cp
    for t in range(steps - 1, -1, -1):
        cp = c + (t - 1) * step if t > 0 else c0
        _backward_rows(gates + t * n * m, c + t * step, cp, dh + t * dh_t, dh_n, dh_carry,
                       dc_carry, dgates + t * n * m, lo, hi, hid, off)
        gemm(False, True, hi - lo, hid, m, <floating>1, dgates + (t * n + lo) * m, m, wh, m,
             <floating>0, dh_carry + lo * hid, hid)


cdef void _broadcast_rows(floating* out, const floating* b, Py_ssize_t rows,
                          Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t r
    for r in range(rows):
        memcpy(out + r * m, b, m * sizeof(floating))


cdef _gate_offsets(str gate_order, Py_ssize_t hid, Py_ssize_t* off):
    # off[k] = column offset of gate 'ifog'[k] within a row of 4 hid.
    if gate_order is None or sorted(gate_order) != ["f", "g", "i", "o"]:
        raise ValueError(f"gate_order must be a permutation of 'ifog'; got {gate_order!r}")
    for k, gate in enumerate("ifog"):
        off[k] = gate_order.index(gate) * hid


cdef int _check_lstm(const Py_ssize_t* x, const Py_ssize_t* h0, const Py_ssize_t* c0,
                     const Py_ssize_t* W, const Py_ssize_t* b, str gate_order,
                     Py_ssize_t* off) except -1:
    # The shapes of x (T, N, D) and h0 (N, H) fix every other size (b NULL: none);
    # also fills the gate offsets.
    cdef Py_ssize_t n = x[1], d = x[2], hid = h0[1]
    check_dims("h0", h0, 2, n, hid)
    check_dims("c0", c0, 2, n, hid)
    check_dims("W", W, 2, d + hid, 4 * hid)
    if b != NULL:
        check_dims("b", b, 1, 4 * hid)
    _gate_offsets(gate_order, hid, off)
    return 0


cdef int _check_rows(str name, const Py_ssize_t* shape, const Py_ssize_t* strides,
                    Py_ssize_t size) except -1:
    # A (T, N, F) array read row by row through its strides: its rows (the last
    # axis) contiguous, the other two strides whole elements.
    if (shape[2] > 1 and strides[2] != size) or strides[0] % size or strides[1] % size:
        raise ValueError(f"{name} must have a contiguous last axis (any strides on the "
                         f"first two, in whole elements); got strides "
                         f"({strides[0]}, {strides[1]}, {strides[2]}) bytes for "
                         f"{size}-byte elements")
    return 0


def lstm_forward(const floating[:, :, ::1] x, const floating[:, ::1] h0,
                 const floating[:, ::1] c0, const floating[:, ::1] W,
                 const floating[::1] b, str gate_order, floating[:, :, ::1] gates,
                 floating[:, :, ::1] c, floating[:, :, ::1] h):
    """Run an LSTM layer over T steps.

    Parameters
    ----------
    x : (T, N, D) float32 or float64, C-contiguous
    h0, c0 : (N, H) initial hidden and cell state
    W : (D + H, 4H) gate weights, column blocks in ``gate_order``
    b : (4H,) or None (no bias)
    gate_order : str, a permutation of 'ifog'
    gates : (T, N, 4H), overwritten with the activated gates (for backward)
    c, h : (T, N, H), overwritten with the cell and hidden states c_t, h_t
    """
    cdef Py_ssize_t steps = x.shape[0], n = x.shape[1], d = x.shape[2], hid = h0.shape[1]
    cdef Py_ssize_t m = 4 * hid
    cdef Py_ssize_t off[4]
    cdef const floating* bp
    cdef const floating* wh
    cdef Py_ssize_t nb = _blocks(n), nt = _block_threads(n, hid, nb), i
    cdef Py_ssize_t rows = steps * n, parts = _even_blocks(rows, PART_ROWS), pt
    _check_lstm(x.shape, h0.shape, c0.shape, W.shape, NULL if b is None else &b.shape[0],
                gate_order, off)
    check_dims("gates", gates.shape, 3, steps, n, m)
    check_dims("c", c.shape, 3, steps, n, hid)
    check_dims("h", h.shape, 3, steps, n, hid)
    wh = &W[0, 0] + d * m
    bp = &b[0] if b is not None else NULL
    pt = _part_threads(rows * m, parts)
    with nogil:
        _blas_one_thread(1)
        for i in prange(parts, num_threads=pt, schedule="static", use_threads_if=pt > 1):
            _input_part(&x[0, 0, 0], &W[0, 0], bp, &gates[0, 0, 0], bound(rows, i, parts),
                        bound(rows, i + 1, parts), d, m)
        for i in prange(nb, num_threads=nt, schedule="static", use_threads_if=nt > 1):
            _forward_block(&gates[0, 0, 0], &h0[0, 0], &c0[0, 0], wh, &c[0, 0, 0],
                           &h[0, 0, 0], bound(n, i, nb), bound(n, i + 1, nb), steps, n, hid,
                           off)
        _blas_one_thread(0)


def lstm_backward(const floating[:, :, :] dh, const floating[:, ::1] dc_last,
                  const floating[:, :, ::1] x, const floating[:, ::1] h0,
                  const floating[:, ::1] c0, const floating[:, ::1] W, str gate_order,
                  const floating[:, :, ::1] gates, const floating[:, :, ::1] c,
                  const floating[:, :, ::1] h, floating[:, :, ::1] dgates,
                  floating[:, :, ::1] dx, floating[:, ::1] dh0, floating[:, ::1] dc0,
                  floating[:, ::1] dW, floating[::1] db):
    """Backpropagate through an LSTM layer run by :func:`lstm_forward`.

    Parameters
    ----------
    dh : (T, N, H) dL/dh_t from above (read only); any strides with a contiguous last
        axis (a batch-first (N, T, H) array's ``transpose(1, 0, 2)`` view)
    dc_last : (N, H) dL/dc_{T-1} from after the sequence, or None (zero)
    x, h0, c0, W, gate_order, gates, c, h : as given to / written by the forward
    dgates : (T, N, 4H) workspace, overwritten with dL/dz_t
    dx : (T, N, D), overwritten with dL/dx_t, or None (not computed)
    dh0, dc0 : (N, H), overwritten with dL/dh0 and dL/dc0
    dW : (D + H, 4H), overwritten with dL/dW
    db : (4H,), overwritten with dL/db, or None (not computed)
    """
    cdef Py_ssize_t steps = x.shape[0], n = x.shape[1], d = x.shape[2], hid = h0.shape[1]
    cdef Py_ssize_t m = 4 * hid
    cdef Py_ssize_t off[4]
    cdef bint has_dc = dc_last is not None
    cdef const floating* wh
    cdef floating* dbp
    cdef floating* dxp
    cdef Py_ssize_t nb = _blocks(n), nt = _block_threads(n, hid, nb), i
    cdef Py_ssize_t col_parts = _even_blocks(m, PART_COLUMNS), row_parts, jobs, pt
    _check_lstm(x.shape, h0.shape, c0.shape, W.shape, NULL, gate_order, off)
    check_dims("dh", dh.shape, 3, steps, n, hid)
    _check_rows("dh", dh.shape, dh.strides, sizeof(floating))
    if has_dc:
        check_dims("dc_last", dc_last.shape, 2, n, hid)
    check_dims("gates", gates.shape, 3, steps, n, m)
    check_dims("c", c.shape, 3, steps, n, hid)
    check_dims("h", h.shape, 3, steps, n, hid)
    check_dims("dgates", dgates.shape, 3, steps, n, m)
    if dx is not None:
        check_dims("dx", dx.shape, 3, steps, n, d)
    check_dims("dh0", dh0.shape, 2, n, hid)
    check_dims("dc0", dc0.shape, 2, n, hid)
    check_dims("dW", dW.shape, 2, d + hid, m)
    if db is not None:
        check_dims("db", db.shape, 1, m)
    wh = &W[0, 0] + d * m
    dbp = &db[0] if db is not None else NULL
    dxp = &dx[0, 0, 0] if dx is not None else NULL
    row_parts = _even_blocks(steps * n, PART_ROWS) if dx is not None else 0
    jobs = col_parts + row_parts
    pt = _part_threads(steps * n * m, jobs)
    with nogil:
        memset(&dh0[0, 0], 0, n * hid * sizeof(floating))
        if has_dc:
            memcpy(&dc0[0, 0], &dc_last[0, 0], n * hid * sizeof(floating))
        else:
            memset(&dc0[0, 0], 0, n * hid * sizeof(floating))
        _blas_one_thread(1)
        for i in prange(nb, num_threads=nt, schedule="static", use_threads_if=nt > 1):
            # dh0, dc0 serve as the carries dL/dh_t, dL/dc_t of the step before
            _backward_block(&gates[0, 0, 0], &c[0, 0, 0], &c0[0, 0], &dh[0, 0, 0],
                            dh.strides[0] // sizeof(floating), dh.strides[1] // sizeof(floating),
                            wh,
                            &dgates[0, 0, 0], &dh0[0, 0], &dc0[0, 0], bound(n, i, nb),
                            bound(n, i + 1, nb), steps, n, hid, off)
        # chunks of one: the column parts (dW) alternate with the row parts (dx) over
        # the threads, which balances them when both are there
        for i in prange(jobs, num_threads=pt, schedule="static", chunksize=1,
                        use_threads_if=pt > 1):
            _gradient_part(&x[0, 0, 0], &h0[0, 0], &h[0, 0, 0], &W[0, 0], &dgates[0, 0, 0],
                           &dW[0, 0], dbp, dxp, i, col_parts, row_parts, steps, n, d, hid)
        _blas_one_thread(0)


# Rows of one block of the inference pass: the block's operand [x_t, h_{t-1}]
# (rows x (D + H)), its gates (rows x 4H), its cell states and W
# ((D + H) x 4H) stay in one core's L2 (1 MB here) through all T steps, where
# the training forward streams (T, N, 4H) gates through memory for backward.
cdef enum:
    INFER_BLOCK_BYTES = 1 << 19


cdef Py_ssize_t infer_blocks(Py_ssize_t n, Py_ssize_t d, Py_ssize_t hid,
                             Py_ssize_t itemsize) noexcept nogil:
    """Blocks of :func:`lstm_infer` for n rows: none above INFER_BLOCK_BYTES (at
    least 16 rows), an even number from 64 rows so that two threads share them
    evenly (N decides, as for the training recurrence's blocks)."""
    return _even_blocks(n, max(16, INFER_BLOCK_BYTES // (itemsize * (d + 6 * hid))))


cdef void _infer_block(const floating* x, Py_ssize_t xs_t, Py_ssize_t xs_n,
                       const floating* h0, const floating* c0, const floating* W,
                       const floating* b, floating* work, Py_ssize_t ldw, floating* h,
                       Py_ssize_t hs_t, Py_ssize_t hs_n, floating* c, Py_ssize_t r0,
                       Py_ssize_t rows, Py_ssize_t steps, Py_ssize_t d, Py_ssize_t hid,
                       const Py_ssize_t* off) noexcept nogil:
    # Rows r0 .. r0 + rows - 1 through all steps. work row r: z (4H) then the
    # GEMM operand [x_t, h_{t-1}] (D + H); c rows hold c_t in place.
    cdef Py_ssize_t m = 4 * hid, k = d + hid, r, t
    cdef floating* z
    cdef floating* opnd
    cdef floating* row
    for r in range(rows):
        row = work + r * ldw
        memcpy(row + m + d, h0 + (r0 + r) * hid, hid * sizeof(floating))
        memcpy(c + (r0 + r) * hid, c0 + (r0 + r) * hid, hid * sizeof(floating))
    for t in range(steps):
        for r in range(rows):
            row = work + r * ldw
            memcpy(row + m, x + t * xs_t + (r0 + r) * xs_n, d * sizeof(floating))
            if b != NULL:
                memcpy(row, b, m * sizeof(floating))
        gemm(False, False, rows, m, k, <floating>1, work + m, ldw, W, m,
             <floating>(1 if b != NULL else 0), work, ldw)
        for r in range(rows):
            z = work + r * ldw
            opnd = z + m + d
            if floating is float:
                fastnet_lstm_row_infer_f(z + off[0], z + off[1], z + off[2], z + off[3],
                                         c + (r0 + r) * hid, h + t * hs_t + (r0 + r) * hs_n,
                                         opnd, hid)
            else:
                fastnet_lstm_row_infer_d(z + off[0], z + off[1], z + off[2], z + off[3],
                                         c + (r0 + r) * hid, h + t * hs_t + (r0 + r) * hs_n,
                                         opnd, hid)


def lstm_infer(const floating[:, :, :] x, const floating[:, ::1] h0,
               const floating[:, ::1] c0, const floating[:, ::1] W,
               const floating[::1] b, str gate_order, floating[:, ::1] work,
               floating[:, :, :] h, floating[:, ::1] c_n):
    """Run an LSTM layer over T steps keeping no gates (inference: no backward follows).

    The same h_t as :func:`lstm_forward` (within the dtype's tolerance). The
    batch is cut into :func:`infer_blocks` blocks of rows, each run
    through all T steps with one GEMM per step (``[x_t, h_{t-1}] @ W``, K = D + H)
    and kept in cache; the blocks spread over fastnet's OpenMP threads, each
    block's GEMMs on one BLAS thread (set here for the call). A row's
    result does not depend on the thread count.

    Parameters
    ----------
    x : (T, N, D) float32 or float64; any strides with a contiguous last axis
        (a batch-first (N, T, D) array's ``transpose(1, 0, 2)`` view)
    h0, c0 : (N, H) initial hidden and cell state
    W : (D + H, 4H) gate weights, column blocks in ``gate_order``
    b : (4H,) or None (no bias)
    gate_order : str, a permutation of 'ifog'
    work : (N, >= 5H + D) scratch, contents undefined afterwards
    h : (T, N, H), any strides with a contiguous last axis; overwritten with h_t
    c_n : (N, H), overwritten with the last cell state c_{T-1}
    """
    cdef Py_ssize_t steps = x.shape[0], n = x.shape[1], d = x.shape[2], hid = h0.shape[1]
    cdef Py_ssize_t off[4]
    cdef Py_ssize_t size = sizeof(floating)
    cdef Py_ssize_t nblocks = infer_blocks(n, d, hid, size), nt, i, r0
    cdef const floating* bp
    _check_lstm(x.shape, h0.shape, c0.shape, W.shape, NULL if b is None else &b.shape[0],
                gate_order, off)
    if work.shape[0] != n or work.shape[1] < 5 * hid + d:
        raise ValueError(f"work must have shape ({n}, >= {5 * hid + d}); got "
                         f"({work.shape[0]}, {work.shape[1]})")
    check_dims("h", h.shape, 3, steps, n, hid)
    check_dims("c_n", c_n.shape, 2, n, hid)
    _check_rows("x", x.shape, x.strides, size)
    _check_rows("h", h.shape, h.strides, size)
    bp = &b[0] if b is not None else NULL
    nt = _block_threads(n, hid, nblocks)
    with nogil:
        _blas_one_thread(1)
        for i in prange(nblocks, num_threads=nt, schedule="static", use_threads_if=nt > 1):
            # blocks of ceil(n / nblocks) rows from i * ceil(...) could start past the
            # end when nblocks is near sqrt(n): n * i // nblocks never does
            r0 = n * i // nblocks
            _infer_block(&x[0, 0, 0], x.strides[0] // size, x.strides[1] // size, &h0[0, 0],
                         &c0[0, 0], &W[0, 0], bp, &work[0, 0] + r0 * work.shape[1],
                         work.shape[1], &h[0, 0, 0], h.strides[0] // size,
                         h.strides[1] // size, &c_n[0, 0], r0, n * (i + 1) // nblocks - r0,
                         steps, d, hid, off)
        _blas_one_thread(0)
