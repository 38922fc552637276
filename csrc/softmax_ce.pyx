"""Softmax followed by the mean cross-entropy loss, forward and gradient in one pass.

For logits ``z (N, C)`` and targets ``t``, with ``m_i = max_j z_ij`` and
``lse_i = m_i + log sum_j exp(z_ij - m_i)`` (no overflow, no log(0)):

    loss = (1/N) sum_i sum_j t_ij (lse_i - z_ij)
    dz   = (softmax(z) sum_j t_ij - t) / N

``dz`` is the derivative of ``loss`` for any real target rows (as torch's
autograd gives); for rows that sum to 1 (one-hot, a distribution) it is the
familiar ``(softmax(z) - t) / N``.

Targets are class indices ``(N,)`` int64 or rows ``(N, C)`` of the logits'
dtype (one-hot or any distribution). The loss is accumulated in double.
A target weight of 0 contributes nothing, even against a logit of -inf
(``0 * inf`` would be NaN). Both entries raise ValueError for an empty
batch or zero classes (a softmax over nothing has no value); every other
argument is trusted, as checked by the caller.
"""
from cython cimport floating
from libc.math cimport exp, expf, log


cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef int _check_logits(Py_ssize_t n, Py_ssize_t c) except -1:
    # Checked here, not only by the layer: with C = 0 the row loops would read
    # past the array, with N = 0 the mean divides by zero.
    if n < 1 or c < 1:
        raise ValueError(f"logits must have shape (N, C) with N >= 1 and C >= 1; got ({n}, {c})")
    return 0


cdef double _scaled_softmax_row(const floating* z, floating* p, Py_ssize_t c,
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


def softmax_cross_entropy(const floating[:, ::1] logits, const long long[::1] labels,
                          floating[:, ::1] dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against class indices ``labels (N,)``.

    Writes ``d loss / d logits`` into ``dlogits (N, C)`` and returns the loss
    as a Python float. Labels must lie in ``[0, C)``.
    """
    cdef Py_ssize_t i, n = logits.shape[0], c = logits.shape[1]
    cdef double loss = 0, inv_n
    cdef long long k
    _check_logits(n, c)  # before 1 / n: a debug build checks the division
    inv_n = 1.0 / n
    with nogil:
        for i in range(n):
            k = labels[i]
            loss += _scaled_softmax_row(&logits[i, 0], &dlogits[i, 0], c, inv_n) - logits[i, k]
            dlogits[i, k] -= <floating>inv_n
    return loss * inv_n


def softmax_cross_entropy_onehot(const floating[:, ::1] logits,
                                 const floating[:, ::1] t, floating[:, ::1] dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against target rows ``t (N, C)``.

    Writes ``(softmax(logits) * t.sum(1) - t) / N`` (the loss's derivative; the
    row sums are 1 for distributions) into ``dlogits`` and returns the loss.
    """
    cdef Py_ssize_t i, j, n = logits.shape[0], c = logits.shape[1]
    cdef double loss = 0, lse, mass, inv_n
    _check_logits(n, c)  # before 1 / n: a debug build checks the division
    inv_n = 1.0 / n
    with nogil:
        for i in range(n):
            mass = 0
            for j in range(c):
                mass += t[i, j]
            lse = _scaled_softmax_row(&logits[i, 0], &dlogits[i, 0], c, inv_n * mass)
            for j in range(c):
                if t[i, j] != 0:
                    loss += t[i, j] * (lse - logits[i, j])
                dlogits[i, j] -= <floating>(t[i, j] * inv_n)
    return loss * inv_n
