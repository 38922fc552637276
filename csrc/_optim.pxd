# The optimizer updates' nogil cores over raw pointers, shared by
# csrc/optim.pyx (the checked entries) and csrc/program.pyx (updates run
# inside a compiled call), so both run the same arithmetic. Arrays flat,
# C-contiguous, one dtype, n elements; every element's update is the same
# arithmetic whatever the split into per-thread chunks. A module cimporting
# this file calls _parallel.load_parallel() at import.

from cython cimport floating
from cython.parallel cimport prange

from _parallel cimport bound, chunks
from _vmath cimport vsqrt

# Update kinds, and the scalars each takes in ``a`` (as the kernel entries of
# csrc/optim.pyx take them, in double):
cdef enum:
    SGD = 0       # lr, weight_decay
    MOMENTUM = 1  # lr, momentum, weight_decay; flags NESTEROV, TEXTBOOK
    RMSPROP = 2   # lr, decay, scale, eps, weight_decay
    ADAM = 3      # step_size, beta1, beta2, eps, inv_bias2_sqrt, weight_decay, shrink

cdef enum:
    NESTEROV = 1
    TEXTBOOK = 2


cdef inline floating _decayed(floating g, floating p, floating wd) noexcept nogil:
    """The gradient with coupled L2 weight decay: ``g + wd p`` (``g`` itself when wd is 0)."""
    if wd != 0:
        return g + wd * p
    return g


cdef inline void _sgd(floating* p, const floating* g, Py_ssize_t n,
                      floating lr, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi
    for i in range(n):
        gi = _decayed(g[i], p[i], wd)
        p[i] = p[i] - lr * gi


cdef inline void _momentum(floating* p, const floating* g, floating* v, Py_ssize_t n,
                           floating lr, floating mu, floating wd, floating mu2,
                           floating lr1mu, bint nesterov, bint textbook) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, vi
    for i in range(n):
        gi = _decayed(g[i], p[i], wd)
        if textbook:
            # v <- mu v - lr g;  p <- p + v,  or (Nesterov)  p <- p + mu^2 v - (1 + mu) lr g
            vi = mu * v[i] - lr * gi
            v[i] = vi
            if nesterov:
                p[i] = p[i] + mu2 * vi - lr1mu * gi
            else:
                p[i] = p[i] + vi
        else:
            # b <- mu b + g;  p <- p - lr b,  or (Nesterov)  p <- p - lr (g + mu b)
            vi = mu * v[i] + gi
            v[i] = vi
            if nesterov:
                p[i] = p[i] - lr * (gi + mu * vi)
            else:
                p[i] = p[i] - lr * vi


cdef inline void _rmsprop(floating* p, const floating* g, floating* h, Py_ssize_t n,
                          floating lr, floating decay, floating scale, floating eps,
                          floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, hi
    for i in range(n):
        gi = _decayed(g[i], p[i], wd)
        hi = decay * h[i] + scale * gi * gi
        h[i] = hi
        p[i] = p[i] - lr * gi / (vsqrt(hi) + eps)


cdef inline void _adam(floating* p, const floating* g, floating* m, floating* v, Py_ssize_t n,
                       floating step_size, floating one_minus_beta1, floating one_minus_beta2,
                       floating eps, floating inv_bias2_sqrt, floating wd,
                       floating shrink) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, pi, mi, vi
    for i in range(n):
        pi = p[i]
        gi = _decayed(g[i], pi, wd)
        if shrink != 1:
            pi = pi * shrink
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = v[i] + one_minus_beta2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * mi / (vsqrt(vi) * inv_bias2_sqrt + eps)

cdef inline void _update_chunk(int kind, int flags, floating* p, const floating* g,
                               floating* s1, floating* s2, Py_ssize_t n,
                               const double* a) noexcept nogil:
    # Scalars are rounded once to the arrays' dtype, as NumPy rounds a Python
    # float; derived ones (mu^2, 1 - beta1, ...) are computed in double first,
    # as the textbook's NumPy code computes them.
    if kind == SGD:
        _sgd(p, g, n, <floating>a[0], <floating>a[1])
    elif kind == MOMENTUM:
        _momentum(p, g, s1, n, <floating>a[0], <floating>a[1], <floating>a[2],
                  <floating>(a[1] * a[1]), <floating>((1 + a[1]) * a[0]),
                  (flags & NESTEROV) != 0, (flags & TEXTBOOK) != 0)
    elif kind == RMSPROP:
        _rmsprop(p, g, s1, n, <floating>a[0], <floating>a[1], <floating>a[2], <floating>a[3],
                 <floating>a[4])
    else:
        _adam(p, g, s1, s2, n, <floating>a[0], <floating>(1.0 - a[1]), <floating>(1.0 - a[2]),
              <floating>a[3], <floating>a[4], <floating>a[5], <floating>a[6])


cdef inline void update_pass(int kind, int flags, floating* p, const floating* g,
                             floating* s1, floating* s2, Py_ssize_t n,
                             const double* a) noexcept nogil:
    """Update ``n`` parameters in place: ``p`` from ``g``, with state ``s1`` (and
    ``s2``: Adam's v; NULL where the kind has less), scalars ``a`` as listed
    with the kinds. Arrays of 2^16 elements and more (``chunks``) are split
    into one contiguous chunk per OpenMP thread."""
    cdef Py_ssize_t nc = chunks(n, n // 16), c, lo
    if n == 0:
        return
    if nc == 1:  # no parallel region: opening one costs ~0.7 us even for one thread
        _update_chunk(kind, flags, p, g, s1, s2, n, a)
        return
    for c in prange(nc, num_threads=nc, schedule="static"):
        lo = bound(n, c, nc)
        _update_chunk(kind, flags, p + lo, g + lo, NULL if s1 == NULL else s1 + lo,
                      NULL if s2 == NULL else s2 + lo, bound(n, c + 1, nc) - lo, a)
