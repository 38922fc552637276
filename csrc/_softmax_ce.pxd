# Softmax cross-entropy's nogil cores over raw pointers, shared by
# csrc/softmax_ce.pyx (the checked entries; the math is in its docstring) and
# csrc/program.pyx (a net's whole step in one call), so both run the same
# arithmetic. logits, dlogits, t: (n, c) C-contiguous, n >= 1, c >= 1.

from cython cimport floating
from libc.math cimport exp, expf, log


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline double _scaled_softmax_row(const floating* z, floating* p, Py_ssize_t c,
                                       double scale) noexcept nogil:
    """Write ``scale * softmax(z)`` into p (both of length c); return log-sum-exp of z."""
    # Raw row pointers: slicing a memoryview per row costs more than the row's math.
    cdef Py_ssize_t j
    cdef floating zmax = z[0], f
    cdef double total = 0
    for j in range(1, c):
        if z[j] > zmax:
            zmax = z[j]
    for j in range(c):
        p[j] = _exp(z[j] - zmax)
        total += p[j]
    f = <floating>(scale / total)
    for j in range(c):
        p[j] *= f
    return zmax + log(total)


cdef inline double softmax_ce_indices(const floating* logits, const long long* labels,
                                      floating* dlogits, Py_ssize_t n,
                                      Py_ssize_t c) noexcept nogil:
    """The mean loss against class indices; writes its gradient into dlogits."""
    cdef Py_ssize_t i
    cdef double loss = 0, inv_n = 1.0 / n
    cdef long long k
    for i in range(n):
        k = labels[i]
        loss += _scaled_softmax_row(logits + i * c, dlogits + i * c, c, inv_n) - logits[i * c + k]
        dlogits[i * c + k] -= <floating>inv_n
    return loss * inv_n


cdef inline double softmax_ce_rows(const floating* logits, const floating* t,
                                   floating* dlogits, Py_ssize_t n,
                                   Py_ssize_t c) noexcept nogil:
    """The mean loss against target rows; writes its gradient into dlogits."""
    cdef Py_ssize_t i, j
    cdef double loss = 0, lse, mass, inv_n = 1.0 / n
    cdef const floating* z
    cdef const floating* ti
    cdef floating* g
    for i in range(n):
        z, ti, g = logits + i * c, t + i * c, dlogits + i * c
        mass = 0
        for j in range(c):
            mass += ti[j]
        lse = _scaled_softmax_row(z, g, c, inv_n * mass)
        for j in range(c):
            if ti[j] != 0:
                loss += ti[j] * (lse - z[j])
            g[j] -= <floating>(ti[j] * inv_n)
    return loss * inv_n
