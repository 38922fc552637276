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


cdef inline Py_ssize_t _bin(double v, const double* edges, Py_ssize_t nbins,
                            double norm) noexcept nogil:
    """Index of the bin holding v, or -1 if it lies outside the edges (or is NaN)."""
    # edges by raw pointer: a memoryview argument would be copied for every value
    cdef Py_ssize_t i
    if not (edges[0] <= v <= edges[nbins]):
        return -1
    i = <Py_ssize_t>((v - edges[0]) * norm)
    # as numpy does: correct the rounding of the multiplication against the edges
    if i >= nbins:
        i = nbins - 1
    if v < edges[i]:
        i -= 1
    elif i != nbins - 1 and v >= edges[i + 1]:
        i += 1
    return i


def accumulate_stats_(const floating[::1] x, const double[::1] edges, long long[::1] counts,
                      double[::1] totals, double saturated_below, double saturated_above):
    """Add the statistics of ``x`` (flat, any length) into ``counts`` and ``totals``.

    ``edges`` (B + 1,) are increasing, evenly spaced bin edges and ``counts``
    (B,) int64 is incremented. ``totals`` (5,) float64 holds count, mean,
    M2 (sum of squared deviations), zeros and saturated counts, updated in
    place. A value counts as saturated when ``v <= saturated_below`` or
    ``v >= saturated_above``.
    """
    cdef Py_ssize_t i, n = x.shape[0], b, nbins = edges.shape[0] - 1
    cdef double v, s = 0, mean, m2 = 0, delta, total_n
    cdef double norm = nbins / (edges[nbins] - edges[0])
    cdef const double* e = &edges[0]
    cdef long long* h = &counts[0]
    cdef long long zeros = 0, saturated = 0
    if n == 0:
        return
    with nogil:
        for i in range(n):
            s += x[i]
        mean = s / n
        for i in range(n):
            v = x[i]
            m2 += (v - mean) * (v - mean)
            if v == 0:
                zeros += 1
            if v <= saturated_below or v >= saturated_above:
                saturated += 1
            b = _bin(v, e, nbins, norm)
            if b >= 0:
                h[b] += 1
        total_n = totals[COUNT] + n
        delta = mean - totals[MEAN]
        totals[M2] += m2 + delta * delta * totals[COUNT] * n / total_n
        totals[MEAN] += delta * n / total_n
        totals[COUNT] = total_n
        totals[ZEROS] += zeros
        totals[SATURATED] += saturated
