"""Running statistics of an array for the per-layer diagnostics: one kernel call per batch.

Accumulates, without keeping the data: the count, mean and sum of squared
deviations (merged across calls with Chan et al.'s pairwise formula, so no
E[x^2] - E[x]^2 cancellation), the number of exact zeros, of values at or
beyond the saturation thresholds, and histogram counts over fixed bin edges
that match ``numpy.histogram`` exactly (values outside the edges are not
binned; the last bin includes its right edge; NaNs are never binned).
"""
from cython cimport floating

# Layout of the ``totals`` vector (float64, length 5).
cdef enum:
    COUNT = 0
    MEAN = 1
    M2 = 2
    ZEROS = 3
    SATURATED = 4

# How close (in bin widths) to an edge a value must be to be checked against it.
cdef double EDGE_WINDOW = 1e-6


cdef inline void _count(double v, const double* edges, Py_ssize_t nbins, double norm,
                        long long* counts) noexcept nogil:
    """Add v to its bin; values outside the edges and NaN add 0 (to bin 0)."""
    # Branch-free where the data decide (comparisons used as 0/1 numbers): a
    # layer's values are unpredictable. Edges by raw pointer: a memoryview
    # argument would be copied for every value.
    cdef bint inside = (edges[0] <= v) & (v <= edges[nbins])
    cdef double f = (v - edges[0]) * norm
    cdef Py_ssize_t i
    if not inside:
        f = 0
    i = <Py_ssize_t>f
    if i > nbins - 1:
        i = nbins - 1
    f -= i
    # Only a value within rounding of an edge can land in the wrong bin; for
    # those (rare: exact edge values have f == 0), compare with the edges as
    # numpy does.
    if (0 < f < EDGE_WINDOW) or f > 1 - EDGE_WINDOW:
        i -= v < edges[i]
        i += (i < nbins - 1) & (v >= edges[i + 1])
    counts[i] += inside


cdef inline double _sum_of_powers(const floating* x, Py_ssize_t n, double mean,
                                  int power) noexcept nogil:
    """``sum x`` (power 1) or ``sum (x - mean)^2`` (power 2), in double."""
    # Four independent accumulators: with one, every add waits for the last.
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0, d0, d1, d2, d3
    cdef Py_ssize_t i = 0
    while i + 4 <= n:
        d0, d1, d2, d3 = x[i] - mean, x[i + 1] - mean, x[i + 2] - mean, x[i + 3] - mean
        if power == 2:
            d0, d1, d2, d3 = d0 * d0, d1 * d1, d2 * d2, d3 * d3
        a0 += d0
        a1 += d1
        a2 += d2
        a3 += d3
        i += 4
    while i < n:
        d0 = x[i] - mean
        a0 += d0 * d0 if power == 2 else d0
        i += 1
    return (a0 + a1) + (a2 + a3)


def accumulate_stats_(const floating[::1] x, const double[::1] edges, long long[::1] counts,
                      double[::1] totals, double saturated_below, double saturated_above):
    """Add the statistics of ``x`` (flat, any length) into ``counts`` and ``totals``.

    ``edges`` (B + 1,) are increasing, evenly spaced bin edges and ``counts``
    (B,) int64 is incremented. ``totals`` (5,) float64 holds count, mean,
    M2 (sum of squared deviations), zeros and saturated counts, updated in
    place. A value counts as saturated when ``v <= saturated_below`` or
    ``v >= saturated_above``.
    """
    cdef Py_ssize_t i, n = x.shape[0], nbins = edges.shape[0] - 1
    cdef double v, mean, m2, delta, total_n
    cdef double norm = nbins / (edges[nbins] - edges[0])
    cdef const double* e = &edges[0]
    cdef long long* h = &counts[0]
    cdef long long zeros = 0, saturated = 0
    if n == 0:
        return
    with nogil:
        mean = _sum_of_powers(&x[0], n, 0, 1) / n
        m2 = _sum_of_powers(&x[0], n, mean, 2)
        for i in range(n):
            v = x[i]
            zeros += v == 0
            saturated += (v <= saturated_below) | (v >= saturated_above)
            _count(v, e, nbins, norm, h)
        total_n = totals[COUNT] + n
        delta = mean - totals[MEAN]
        totals[M2] += m2 + delta * delta * totals[COUNT] * n / total_n
        totals[MEAN] += delta * n / total_n
        totals[COUNT] = total_n
        totals[ZEROS] += zeros
        totals[SATURATED] += saturated
