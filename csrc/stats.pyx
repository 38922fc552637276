"""Running statistics of an array for the per-layer diagnostics: one kernel call per batch.

Accumulates, without keeping the data: the count, mean and sum of squared
deviations (one pass of shifted sums, checked for cancellation, else two
passes; chunks merged with Chan et al.'s pairwise formula), the number of
exact zeros, of values at or beyond the saturation thresholds, and histogram
counts over fixed bin edges exactly as ``numpy.histogram(x, bins=edges)``
counts them (bin k holds ``edges[k] <= v < edges[k + 1]``, the last bin also
its right edge; values outside the edges and NaNs are not binned).

Every pass but one rare fix-up is branch-free over independent lanes, so the
compiler makes it vector code. The array is binned in blocks of BLOCK values,
which stay in L1: one pass in the data's own type counts zeros and saturated
values and gives each value a bin code (exact: a position that does not
settle the bin sends the value to a comparison with the edges), then the
histogram is counted from the codes, up to 30 bins as one-hot words added in
carry-save form, above by scattering. Then one pass of float64 sums gives the
moments. Measured on net T's 100 x 100 float32 layers (AVX-512, 30 bins,
CPU time of one call from Python, ~0.9 us of it the call itself): 26 us per
array with a scalar binning loop, 5.5 us with two-pass moments and bins
counted by byte comparison, 3.0-3.5 us now; recording adds 8-10% to a net T
step instead of 14-15% (bench/RESULTS.md, "Diagnostics overhead (#10)").
"""
from cython cimport floating
from libc.math cimport INFINITY, fabs, nextafterf
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_New

from _stats cimport fastnet_stats_t

cdef extern from *:
    """
    /* One-hot words need a shift by a different amount in each lane, which
       x86 vectors have from AVX2 on: the baseline (SSE2) build would make
       the codes loop scalar (3x slower than scattering), so it scatters. */
    #if defined(__x86_64__) && !defined(__AVX2__)
    #define FASTNET_STATS_ONE_HOT 0
    #else
    #define FASTNET_STATS_ONE_HOT 1
    #endif
    """
    bint FASTNET_STATS_ONE_HOT

# Layout of the ``totals`` vector (float64, length 5).
cdef enum:
    COUNT = 0
    MEAN = 1
    M2 = 2
    ZEROS = 3
    SATURATED = 4

cdef enum:
    # Values per block: a float64 block (8 KiB) and its codes stay in L1.
    BLOCK = 1024
    # Accumulators of each float64 sum: gcc may not reorder a floating-point
    # sum, so the lanes are explicit. 32 fill four 512-bit vectors, enough
    # independent additions to hide their latency (16 were latency-bound);
    # gcc vectorises the two sums of _sums with 32 lanes, not with 16.
    LANES = 32
    # Values per one-pass moment sum: each lane adds CHUNK / LANES terms,
    # which bounds the rounding error (see _moments).
    CHUNK = 16384
    # A chunk's one-pass sums are used when S1^2 / m <= CANCEL * M2 (see _moments).
    CANCEL = 1024
    # Up to this many bins (codes B and B + 1 included: 32) the histogram is
    # counted from one-hot 32-bit words: bit k of a value's word is set when
    # its code is k, and the words are added bit by bit in carry-save form
    # (Harley-Seal; see _count_one_hot): about 2.5 vector operations per 16
    # values, where comparing 64 byte codes with each bin took 2 per bin.
    # Above, the codes are scattered: 64-bit words were slower than that
    # (62 bins, 10^4 float32 values: 16 us against 5.6 us).
    ONE_HOT_BINS = 30
    # Words added side by side: one 512-bit vector.
    WIDTH = 16
    # Vectors of words per Harley-Seal step (its ones, twos, fours and eights
    # take 15 full adders, then the sixteens are carried into UPPER levels).
    STEP = 16
    UPPER = 8
    # The counter levels: ones, twos, fours, eights, then sixteens ... 16 * 2^(UPPER - 1).
    LEVELS = 4 + UPPER
    # Steps between flushes of the counters: each level's bit can hold one more
    # carry, so after 2^UPPER - 1 steps the top level might overflow.
    MAX_STEPS = 255
    # Sub-histograms for the scatter: consecutive values often share a bin,
    # and increments of one counter wait for each other's store; four
    # counters per bin, used in turn, let four increments run at once.
    SUBS = 4
    # Histograms up to this many bins keep their counters on the stack.
    STACK_BINS = 254


cdef struct Binning:
    # Held in float64, but each exactly a value of the data's type.
    double lo_in        # the least value >= edges[0]
    double hi_in        # the greatest value <= edges[nbins]
    double first        # edges[0], rounded to the data's type
    double norm         # nbins / (edges[nbins] - edges[0]), rounded to the data's type
    double window       # values within this many bin widths of an inner edge are binned exactly
    double top          # positions are capped here: the greatest value <= nbins - 2 window
    double below        # the greatest value <= saturated_below
    double above        # the least value >= saturated_above
    int nbins


cdef inline double _round(double d, bint single, double direction) noexcept nogil:
    """``d`` as a float32 (if ``single``; else unchanged): the nearest one
    (``direction`` 0) or the nearest towards ``direction`` (+-inf)."""
    cdef float f
    if not single:
        return d
    f = <float>d
    if (f < d and direction > 0) or (f > d and direction < 0):
        f = nextafterf(f, <float>direction)
    return f


cdef Binning _binning(const double* edges, int nbins, double saturated_below,
                      double saturated_above, bint single) noexcept nogil:
    """How to bin data of one type (float32 if ``single``) against ``edges`` (B + 1,).

    Comparisons with the edges and thresholds are exact when these are
    rounded outwards to the data's type. A value's position ``f = (v -
    first) * norm``, computed in the data's type, is off from the exact one
    by a few roundings (u: the unit roundoff) of numbers <= nbins + |first|
    norm; the edges (numpy.linspace, or anything increasing) are off from
    even spacing by ``dev`` bin widths, measured here. Only a value whose
    position lies within ``window`` > both of an integer may belong to the
    neighbouring bin: those are compared with the edges themselves.
    """
    cdef Binning b
    cdef double first = edges[0], last = edges[nbins], norm = nbins / (last - first)
    cdef double dev = 0, d, u = 2.0 ** -24 if single else 2.0 ** -53
    cdef int k
    for k in range(nbins + 1):
        d = fabs((edges[k] - first) * norm - k)
        dev = d if not d <= dev else dev  # a NaN sticks
    b.nbins = nbins
    b.lo_in, b.hi_in = _round(first, single, INFINITY), _round(last, single, -INFINITY)
    b.first, b.norm = _round(first, single, 0), _round(norm, single, 0)
    b.below = _round(saturated_below, single, -INFINITY)
    b.above = _round(saturated_above, single, INFINITY)
    # 4 u ... bounds the error of the computed position, 2 u (nbins + 1) that
    # of adding or subtracting the window from it (see _codes).
    # Rounded up to the data's type, in which _codes uses it.
    b.window = _round(dev + 4 * u * (nbins + 1 + fabs(first) * norm) + 2 * u * (nbins + 1)
                      + 2.0 ** -50 * (nbins + 1), single, INFINITY)
    b.top = _round(nbins - 2 * b.window, single, -INFINITY)
    if not (b.window < 0.25 and fabs(b.norm) < INFINITY and fabs(b.first) < INFINITY):
        # No usable scale (uneven edges, overflow): positions capped at 0 and a
        # window wider than the range make _codes send every value to the edges.
        b.window, b.top = nbins + 1, 0
    return b


cdef inline bint _infinite_thresholds(const Binning* b) noexcept nogil:
    """No saturation (ReLU, identity, gradients): only infinities count as saturated."""
    return b.below == -INFINITY and b.above == INFINITY


cdef long long _count_infinite(const floating* x, Py_ssize_t m) noexcept nogil:
    cdef long long count = 0
    cdef Py_ssize_t j
    for j in range(m):
        count += (x[j] == INFINITY) | (x[j] == -INFINITY)
    return count


ctypedef fused code_t:
    unsigned int        # one-hot words, up to 32 codes
    int            # when scattering


cdef inline bint _codes(const floating* x, Py_ssize_t m, const Binning* b, code_t* codes,
                        long long* zeros, long long* saturated) noexcept nogil:
    """Give each value of ``x`` (m,) a code: its bin when its position leaves
    no doubt; B if it is outside the edges or NaN (not binned); B + 1 if it
    is too close to an inner edge to tell by its position (:func:`_exact_bin`
    decides). Codes are stored as such (``int``) or as one-hot words. Adds
    the zeros and (unless both thresholds are infinite: see :func:`_moments`)
    saturated values to ``zeros`` and ``saturated``; returns whether any
    value got B + 1.

    The position ``f``, capped to [0, top], is truncated twice, ``f - w``
    and ``f + w`` (w: the window): the same bin both times means no edge lies
    within w, whose width covers every rounding (:func:`_binning`), so the
    value is in that bin. The outer edges need no test: an inside value is at
    least edges[0], and truncation sends ``f - w`` > -1 to 0; at most
    edges[B], and the last bin holds its right edge, so a position beyond
    top = B - 2w (w < 1/4) belongs to bin B - 1, where both truncations of
    top put it, and no truncation exceeds B - 1 (ReLU's zeros and a saturated
    sigmoid's ones take no fix-up).
    """
    # Branch-free (comparisons used as 0/1, min/max and selects) and in the
    # data's type, so the loop is vector code as wide as the type allows.
    cdef floating lo_in = b.lo_in, hi_in = b.hi_in, first = b.first, norm = b.norm
    cdef floating window = b.window, top = b.top, zero = 0
    cdef floating below = b.below, above = b.above, v, f
    cdef int nbins = b.nbins, lo, hi, z = 0, s = 0
    cdef bint inside, near = False, thresholds = not _infinite_thresholds(b)
    cdef code_t word, seen = 0
    cdef Py_ssize_t j
    for j in range(m):  # gcc makes one loop with the saturation count and one without
        v = x[j]
        z += v == 0
        if thresholds:
            s += (v <= below) | (v >= above)
        inside = (lo_in <= v) & (v <= hi_in)
        f = (v - first) * norm
        f = f if f < top else top  # also NaN, so the conversions below are defined
        f = f if f > zero else zero
        lo = <int>(f - window)
        hi = <int>(f + window)
        hi = hi if lo == hi else nbins + 1
        hi = hi if inside else nbins
        if code_t is int:
            codes[j] = hi
            near |= hi == nbins + 1
        else:
            # Which codes occurred, for the test of B + 1 after the loop: one
            # operation a value, where counting the near values took four.
            word = (<code_t>1) << hi
            seen |= word
            codes[j] = word
    zeros[0] += z
    saturated[0] += s
    if code_t is int:
        return near
    return (seen >> (nbins + 1)) & 1


cdef int _exact_bin(double v, const double* edges, int nbins) noexcept nogil:
    """The bin of ``v`` (inside the edges) by comparing with the edges, as numpy does:
    the last k < nbins with ``edges[k] <= v`` (the last bin includes its right edge)."""
    cdef int lo = 0, hi = nbins, mid
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if edges[mid] <= v:
            lo = mid
        else:
            hi = mid
    return lo


cdef inline double _sum(const floating* x, Py_ssize_t n, double shift, bint square) noexcept nogil:
    """``sum (x - shift)`` or ``sum (x - shift)^2`` in float64 over LANES accumulators."""
    cdef double acc[LANES]
    cdef double d, total = 0
    cdef Py_ssize_t j, l, whole = n - n % LANES
    for l in range(LANES):
        acc[l] = 0
    for j in range(whole // LANES):
        for l in range(LANES):
            d = x[j * LANES + l] - shift
            acc[l] += d * d if square else d
    for j in range(whole, n):
        d = x[j] - shift
        acc[0] += d * d if square else d
    for l in range(LANES):
        total += acc[l]
    return total


cdef inline void _sums(const floating* x, Py_ssize_t n, double shift, double* s1,
                       double* s2) noexcept nogil:
    """``s1 = sum (x - shift)`` and ``s2 = sum (x - shift)^2`` in float64, one pass."""
    cdef double acc1[LANES]
    cdef double acc2[LANES]
    cdef double d, t1 = 0, t2 = 0
    cdef Py_ssize_t j, l, whole = n - n % LANES
    for l in range(LANES):
        acc1[l] = 0
        acc2[l] = 0
    for j in range(whole // LANES):
        for l in range(LANES):
            d = x[j * LANES + l] - shift
            acc1[l] += d
            acc2[l] += d * d
    for j in range(whole, n):
        d = x[j] - shift
        acc1[0] += d
        acc2[0] += d * d
    for l in range(LANES):
        t1 += acc1[l]
        t2 += acc2[l]
    s1[0], s2[0] = t1, t2


cdef void _moments(const floating* x, Py_ssize_t n, bint count_infinite, double* out) noexcept nogil:
    """``out[MEAN]``, ``out[M2]`` of ``x`` (n,), and (if ``count_infinite``) the
    infinities added to ``out[SATURATED]``.

    Each chunk of CHUNK values is read once: ``S1 = sum d``, ``S2 = sum d^2``
    with ``d = x - shift``, the shift being the first value of the array or
    the mean so far, so ``M2 = S2 - S1^2 / m``. Rounding errs by about
    ``k u (S2 + S1^2 / m)`` (k = CHUNK / LANES + LANES terms a lane and the
    lanes' sum add, u = 2^-53), and ``S2 = M2 + S1^2 / m``: when ``S1^2 / m
    <= CANCEL * M2`` the relative error of M2 is at most ``k u (1 + 2 CANCEL)``
    ~ 1.2e-10. Otherwise (a shift far from the mean against the spread, a
    constant chunk off the shift, NaN or inf) the chunk is summed again in two
    passes, mean first. Chunks are merged with Chan et al.'s pairwise formula.
    """
    cdef Py_ssize_t start = 0, m
    cdef double count = 0, mean = 0, m2 = 0, shift = x[0], s1, s2, cmean, cm2, delta
    while start < n:
        m = min(<Py_ssize_t>CHUNK, n - start)
        _sums(x + start, m, shift, &s1, &s2)
        cm2 = s2 - s1 * s1 / m
        if s1 * s1 / m <= CANCEL * cm2:
            cmean = shift + s1 / m
        else:
            cmean = _sum(x + start, m, 0, False) / m
            cm2 = _sum(x + start, m, cmean, True)
        # A chunk holds infinities only if its sum is not finite (then counted here,
        # not per value: without thresholds only infinities are saturated).
        if count_infinite and not fabs(cmean) < INFINITY:
            out[SATURATED] += _count_infinite(x + start, m)
        delta = cmean - mean
        count += m
        m2 += cm2 + delta * delta * (count - m) * m / count
        mean += delta * m / count
        shift = mean if fabs(mean) < INFINITY else shift
        start += m
    out[MEAN], out[M2] = mean, m2


cdef inline void _full_add(code_t* carry, code_t* total, code_t b, code_t c) noexcept nogil:
    """``total + b + c`` bit by bit: the sum bits into ``total``, the carries into ``carry``."""
    cdef code_t a = total[0], u = total[0] ^ b
    carry[0] = (a & b) | (u & c)
    total[0] = u ^ c


cdef inline void _count_one_hot(const code_t* words, Py_ssize_t steps, code_t* levels) noexcept nogil:
    """Add ``steps`` * STEP vectors of ``words`` into the bit-sliced counters ``levels``.

    ``levels`` holds LEVELS vectors: bit k of lane l of vector i is bit i of
    how many words of lane l had bit k set. Harley-Seal: per STEP vectors,
    15 full adders fold them into the ones, twos, fours and eights, and the
    sixteens are carried up the higher levels (two operations per level).
    """
    # The loop over lanes is what gcc vectorises (its iterations are
    # independent; written as 16 vector-wide adders it stayed scalar), once
    # inlined into _histogram, whose own arrays the words and counters are
    # (through a pointer that might alias the words it stayed scalar too).
    cdef Py_ssize_t width = WIDTH, s, l, k
    cdef code_t ones, twos, fours, eights, twos_a, twos_b, fours_a, fours_b, carry, a
    cdef code_t eights_h[2]
    cdef const code_t* d
    cdef const code_t* e
    cdef int h
    for s in range(steps):
        d = words + s * STEP * width
        for l in range(width):
            ones, twos = levels[l], levels[width + l]
            fours, eights = levels[2 * width + l], levels[3 * width + l]
            for h in range(2):  # the first and the last 8 vectors: eights_h[0], eights_h[1]
                e = d + 8 * h * width + l
                _full_add(&twos_a, &ones, e[0], e[width])
                _full_add(&twos_b, &ones, e[2 * width], e[3 * width])
                _full_add(&fours_a, &twos, twos_a, twos_b)
                _full_add(&twos_a, &ones, e[4 * width], e[5 * width])
                _full_add(&twos_b, &ones, e[6 * width], e[7 * width])
                _full_add(&fours_b, &twos, twos_a, twos_b)
                _full_add(&eights_h[h], &fours, fours_a, fours_b)
            _full_add(&carry, &eights, eights_h[0], eights_h[1])
            levels[l], levels[width + l] = ones, twos
            levels[2 * width + l], levels[3 * width + l] = fours, eights
            for k in range(4, LEVELS):
                a = levels[k * width + l]
                levels[k * width + l] = a ^ carry
                carry = a & carry


cdef inline void _flush_one_hot(code_t* levels, int nbins, long long* hist) noexcept nogil:
    """Add the counts of bits 0 .. nbins - 1 held in ``levels`` into ``hist`` and zero them."""
    cdef code_t acc[WIDTH]
    cdef Py_ssize_t width = WIDTH, l, i
    cdef long long total
    cdef int k
    for k in range(nbins):
        for l in range(width):
            acc[l] = 0
        for i in range(LEVELS):  # each lane's count of bit k: < 2^LEVELS, fits a word
            for l in range(width):
                acc[l] += ((levels[i * width + l] >> k) & 1) << i
        total = 0
        for l in range(width):
            total += acc[l]
        hist[k] += total
    memset(levels, 0, LEVELS * WIDTH * sizeof(code_t))


cdef inline void _count_by_scatter(const int* codes, Py_ssize_t m, long long* sub,
                                   Py_ssize_t stride) noexcept nogil:
    """Add each code to the sub-histogram ``sub[(j % SUBS) * stride:]``."""
    cdef Py_ssize_t j = 0
    while j + SUBS <= m:
        sub[codes[j]] += 1
        sub[stride + codes[j + 1]] += 1
        sub[2 * stride + codes[j + 2]] += 1
        sub[3 * stride + codes[j + 3]] += 1
        j += SUBS
    while j < m:
        sub[codes[j]] += 1
        j += 1


cdef inline void _bin_near_exactly(const floating* x, const code_t* codes, Py_ssize_t m,
                                   const double* edges, int nbins, long long* hist) noexcept nogil:
    """Bin the values coded B + 1 (too close to an edge) by comparing them with the edges."""
    cdef code_t near = nbins + 1 if code_t is int else (<code_t>1) << (nbins + 1)
    cdef Py_ssize_t j
    for j in range(m):
        if codes[j] == near:
            hist[_exact_bin(x[j], edges, nbins)] += 1


cdef void _histogram(const floating* x, Py_ssize_t n, const double* edges, const Binning* b,
                    code_t* codes, long long* sub, long long* zeros,
                    long long* saturated) noexcept nogil:
    """Bin ``x`` (n,) block by block through ``codes`` (BLOCK + STEP * WIDTH):
    counts added to ``sub`` (SUBS rows of nbins + 2), zeros and saturated values
    to ``zeros`` and ``saturated``."""
    cdef code_t levels[LEVELS * WIDTH]
    cdef Py_ssize_t start = 0, m, j, per_step = STEP * WIDTH, steps
    cdef int nbins = b.nbins, done = 0
    cdef bint near
    if code_t is not int:
        memset(levels, 0, sizeof(levels))
    while start < n:
        m = min(<Py_ssize_t>BLOCK, n - start)
        near = _codes(x + start, m, b, codes, zeros, saturated)
        if code_t is int:
            _count_by_scatter(codes, m, sub, nbins + 2)
        else:
            steps = (m + per_step - 1) // per_step
            for j in range(m, steps * per_step):
                codes[j] = 0  # no bit: not counted
            _count_one_hot(codes, steps, levels)
            done += steps
            if done > MAX_STEPS - BLOCK // per_step or start + m == n:
                _flush_one_hot(levels, nbins, sub)
                done = 0
        if near:
            _bin_near_exactly(x + start, codes, m, edges, nbins, sub)
        start += m


cdef void _accumulate(const floating* x, Py_ssize_t n, const double* edges, const Binning* b,
                      long long* sub, double* out) noexcept nogil:
    """Statistics of ``x`` (n,): ``out`` = [count, mean, M2, zeros, saturated];
    histogram counts added to ``sub`` (SUBS rows of nbins + 2 counters)."""
    cdef unsigned int words[BLOCK + STEP * WIDTH]
    cdef int int_codes[BLOCK]
    cdef long long zeros = 0, saturated = 0
    if FASTNET_STATS_ONE_HOT and b.nbins <= ONE_HOT_BINS:
        _histogram(x, n, edges, b, words, sub, &zeros, &saturated)
    else:
        _histogram(x, n, edges, b, int_codes, sub, &zeros, &saturated)
    _moments(x, n, _infinite_thresholds(b), out)
    out[COUNT], out[ZEROS] = n, zeros
    out[SATURATED] += saturated


cdef void _stats_add(const floating* x, Py_ssize_t n, const double* edges, int nbins,
                     long long* counts, double* totals, double saturated_below,
                     double saturated_above, long long* sub) noexcept nogil:
    """``accumulate_stats_`` on raw pointers, checked by the caller: ``sub`` is
    scratch of ``stats_scratch_size(nbins)`` counters."""
    cdef Binning b
    cdef double part[5]
    cdef double total_n, delta
    cdef int r, k
    if n == 0:
        return
    memset(part, 0, sizeof(part))
    memset(sub, 0, SUBS * (nbins + 2) * sizeof(long long))
    b = _binning(edges, nbins, saturated_below, saturated_above, floating is float)
    _accumulate(x, n, edges, &b, sub, part)
    for r in range(SUBS):
        for k in range(nbins):
            counts[k] += sub[r * (nbins + 2) + k]
    total_n = totals[COUNT] + n
    delta = part[MEAN] - totals[MEAN]
    totals[M2] += part[M2] + delta * delta * totals[COUNT] * n / total_n
    totals[MEAN] += delta * n / total_n
    totals[COUNT] = total_n
    totals[ZEROS] += part[ZEROS]
    totals[SATURATED] += part[SATURATED]


def stats_scratch_size(int nbins):
    """Counters of scratch the statistics of ``nbins`` bins need (compiled passes keep
    one int64 array of this size per recorded array)."""
    return SUBS * (nbins + 2)


# For csrc/program.pyx (a compiled pass records statistics in its one call): the
# entry for each dtype, as the fastnet_stats_t of _stats.pxd.
cdef fastnet_stats_t _entries
_entries.single = _stats_add[float]
_entries.double_ = _stats_add[double]
_entries_capsule = PyCapsule_New(&_entries, b"fastnet_stats_t", NULL)


def accumulate_stats_(const floating[::1] x, const double[::1] edges, long long[::1] counts,
                      double[::1] totals, double saturated_below, double saturated_above):
    """Add the statistics of ``x`` (flat, any length) into ``counts`` and ``totals``.

    ``edges`` (B + 1,) are increasing (fastest when evenly spaced) and
    ``counts`` (B,) int64 is incremented as by ``numpy.histogram(x, edges)``.
    ``totals`` (5,) float64 holds count, mean, M2 (sum of squared
    deviations), zeros and saturated counts, updated in place. A value
    counts as saturated when ``v <= saturated_below`` or ``v >= saturated_above``.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef int nbins = edges.shape[0] - 1
    cdef long long stack_sub[SUBS * (STACK_BINS + 2)]
    cdef long long* sub = stack_sub
    if nbins < 1 or counts.shape[0] != nbins:
        raise ValueError(f"edges needs B + 1 >= 2 values and counts B; got {nbins + 1} edges "
                         f"and {counts.shape[0]} counts")
    if totals.shape[0] != 5:
        raise ValueError(f"totals needs 5 values; got {totals.shape[0]}")
    if n == 0:
        return
    if nbins > STACK_BINS:
        sub = <long long*>malloc(SUBS * (nbins + 2) * sizeof(long long))
        if sub == NULL:
            raise MemoryError(f"no memory for {nbins} bins")
    with nogil:
        _stats_add(&x[0], n, &edges[0], nbins, &counts[0], &totals[0], saturated_below,
                   saturated_above, sub)
    if sub != stack_sub:
        free(sub)
