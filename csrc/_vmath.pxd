# exp, tanh and sqrt that a compiler can vectorise, for float32 and float64 from one source.
#
# libm's expf/exp/tanh are function calls with branches: a loop calling them
# runs one element at a time. These are inline, branch-free (both sides of a
# choice are computed and one is selected), use only +, *, /, comparisons and
# integer bit operations, so gcc turns a loop over them into SSE/AVX/AVX-512
# code at the width the module is compiled for (setup.py's SIMD variants;
# its -fno-trapping-math lets the selects become blends).
# Accuracy, measured against libm in ulps over wide ranges, in
# tests/test_vmath.py: exp within 1.5 ulps (measured 1.16 float32, 1.12
# float64 without FMA; 0.89 and 0.87 with), tanh within 2 ulps (measured
# 1.25, 1.29), sqrt correctly rounded; overflow gives inf, underflow gives 0
# (through the subnormals), NaN gives NaN, +-inf give inf/0 and +-1.
#
# exp: Cody & Waite's argument reduction x = n ln2 + r with |r| <= ln2/2
# (ln2 split in a high part with trailing zero bits, so n * ln2_hi is exact),
# exp(r) by its Taylor polynomial (degree 7 for float32, 13 for float64: the
# first omitted term is below half an ulp on |r| <= ln2/2), and 2^n built from
# its bit pattern, in two halves so 2^n reaches the subnormal range without
# the exponent field overflowing. n = round(x / ln2) by adding 1.5 * 2^(mantissa
# bits): the sum's low bits are n as an integer, so neither a rounding
# instruction (SSE4.1) nor a float-to-int64 conversion (AVX-512) is needed.
#
# tanh: for |x| < 0.625, x + x^3 P(x^2) with the coefficients of Cephes'
# tanhf (float32) and the rational P/Q of Cephes' tanh (float64) (S. L.
# Moshier, Cephes Math Library, 1984-2000); above, 1 - 2 / (exp(2|x|) + 1),
# whose cancellation costs at most a bit there. Odd symmetry restores the sign.
#
# sqrt: the hardware square root (sqrtss/sqrtps) is already exact; it is
# vectorised once the compiler need not set errno for negative arguments,
# which setup.py's -fno-math-errno allows. vsqrt is here so kernels take all
# three functions from one place.

from cython cimport floating
from libc.math cimport INFINITY, sqrt, sqrtf
from libc.stdint cimport int32_t, int64_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    /* 2^k for k within the normal exponent range, from its bit pattern. */
    static inline float fastnet_pow2if(int32_t k) {
        union { int32_t i; float f; } u;
        u.i = (k + 127) << 23;
        return u.f;
    }
    static inline double fastnet_pow2i(int64_t k) {
        union { int64_t i; double f; } u;
        u.i = (k + 1023) << 52;
        return u.f;
    }
    /* The bit pattern of x, as an integer of the same width. */
    static inline int32_t fastnet_bitsf(float x) {
        union { int32_t i; float f; } u;
        u.f = x;
        return u.i;
    }
    static inline int64_t fastnet_bits(double x) {
        union { int64_t i; double f; } u;
        u.f = x;
        return u.i;
    }
    """
    float fastnet_pow2if(int32_t k) noexcept nogil
    double fastnet_pow2i(int64_t k) noexcept nogil
    int32_t fastnet_bitsf(float x) noexcept nogil
    int64_t fastnet_bits(double x) noexcept nogil


cdef inline floating vexp(floating x) noexcept nogil:
    """``e^x``: within 1.5 ulps; inf above ln(max), 0 below the subnormals, NaN for NaN."""
    cdef floating xc, t, n, r, p, result
    cdef int32_t ki, hi_i
    cdef int64_t kl, hi_l
    if floating is float:
        # Clamp so n stays in [-151, 128]; the selects at the end give the limits.
        xc = x if x > <float>-104.0 else <float>-104.0
        xc = xc if xc < <float>89.0 else <float>89.0
        xc = xc if x == x else <float>0.0                    # NaN: any finite value here
        t = xc * <float>1.44269504088896341 + <float>12582912.0   # 1.5 * 2^23
        n = t - <float>12582912.0
        r = xc - n * <float>0.693359375                      # ln2_hi: exact product
        r = r + n * <float>2.12194440e-4                     # - n ln2_lo
        p = <float>(1.0 / 5040)
        p = p * r + <float>(1.0 / 720)
        p = p * r + <float>(1.0 / 120)
        p = p * r + <float>(1.0 / 24)
        p = p * r + <float>(1.0 / 6)
        p = p * r + <float>0.5
        p = p * r + <float>1.0
        p = p * r + <float>1.0
        ki = fastnet_bitsf(t) - fastnet_bitsf(<float>12582912.0)  # n, read from t's bits
        hi_i = ki >> 1
        result = p * fastnet_pow2if(hi_i) * fastnet_pow2if(ki - hi_i)
        result = result if x < <float>88.72283905206835 else <float>INFINITY
        result = result if x > <float>-103.97207708 else <float>0.0
    else:
        xc = x if x > -746.0 else -746.0
        xc = xc if xc < 710.0 else 710.0
        xc = xc if x == x else 0.0
        t = xc * 1.44269504088896338700 + 6755399441055744.0  # 1.5 * 2^52
        n = t - 6755399441055744.0
        r = xc - n * 6.93147180369123816490e-01              # fdlibm's ln2_hi, ln2_lo
        r = r - n * 1.90821492927058770002e-10
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        kl = fastnet_bits(t) - fastnet_bits(6755399441055744.0)   # n, read from t's bits
        # floor(n / 2) with a logical shift of a positive number: AVX2 has no
        # arithmetic shift of 64-bit lanes.
        hi_l = <int64_t>(<uint64_t>(kl + 2048) >> 1) - 1024
        result = p * fastnet_pow2i(hi_l) * fastnet_pow2i(kl - hi_l)
        result = result if x < 709.782712893384 else INFINITY
        result = result if x > -745.1332191019412 else 0.0
    return result if x == x else x


cdef inline floating vtanh(floating x) noexcept nogil:
    """``tanh(x)``: within 2 ulps; +-1 for large |x| and +-inf, NaN for NaN."""
    cdef floating a = x if x >= 0 else -x
    cdef floating z = x * x, small, e, large, one = 1, two = 2
    if floating is float:
        small = ((((<float>-5.70498872745e-3 * z + <float>2.06390887954e-2) * z
                   - <float>5.37397155531e-2) * z + <float>1.33314422036e-1) * z
                 - <float>3.33332819422e-1) * z * x + x
    else:
        small = x + x * z * (((-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z
                              - 1.61468768441708447952e3)
                             / (((z + 1.12811678491632931402e2) * z
                                 + 2.23548839060100448583e3) * z
                                + 4.84406305325125486048e3))
    e = vexp(a + a)
    large = one - two / (e + one)  # in the data's type: double literals would halve the lanes
    large = large if x >= 0 else -large
    small = small if x != 0 else x                          # keeps the sign of -0
    return small if a < <floating>0.625 else large


cdef inline floating vsqrt(floating x) noexcept nogil:
    """``sqrt(x)``, exact; vectorised under -fno-math-errno (setup.py)."""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)
