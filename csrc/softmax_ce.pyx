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

from _shapes cimport check_dims
from _softmax_ce cimport softmax_ce_indices, softmax_ce_rows

cdef int _check_logits(Py_ssize_t n, Py_ssize_t c) except -1:
    # Checked here, not only by the layer: with C = 0 the row loops would read
    # past the array, with N = 0 the mean divides by zero.
    if n < 1 or c < 1:
        raise ValueError(f"logits must have shape (N, C) with N >= 1 and C >= 1; got ({n}, {c})")
    return 0


cdef Py_ssize_t _first_label_outside(const long long* labels, Py_ssize_t n,
                                     long long c) noexcept nogil:
    # A negative label reads as 2^64 - |label| unsigned: one comparison per label.
    cdef Py_ssize_t i
    for i in range(n):
        if <unsigned long long>labels[i] >= <unsigned long long>c:
            return i
    return -1


def softmax_cross_entropy(const floating[:, ::1] logits, const long long[::1] labels,
                          floating[:, ::1] dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against class indices ``labels (N,)``.

    Writes ``d loss / d logits`` into ``dlogits (N, C)`` and returns the loss
    as a Python float. Labels must lie in ``[0, C)``: ValueError otherwise.
    """
    cdef double loss
    cdef Py_ssize_t i
    _check_logits(logits.shape[0], logits.shape[1])
    check_dims("labels", labels.shape, 1, logits.shape[0])
    check_dims("dlogits", dlogits.shape, 2, logits.shape[0], logits.shape[1])
    # The core indexes each row by its label: one outside [0, C) would read past it.
    with nogil:
        i = _first_label_outside(&labels[0], labels.shape[0], logits.shape[1])
    if i >= 0:
        raise ValueError(f"labels must be class indices in [0, {logits.shape[1]}); "
                         f"labels[{i}] is {labels[i]}")
    with nogil:
        loss = softmax_ce_indices(&logits[0, 0], &labels[0], &dlogits[0, 0], logits.shape[0],
                                  logits.shape[1])
    return loss


def softmax_cross_entropy_onehot(const floating[:, ::1] logits,
                                 const floating[:, ::1] t, floating[:, ::1] dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against target rows ``t (N, C)``.

    Writes ``(softmax(logits) * t.sum(1) - t) / N`` (the loss's derivative; the
    row sums are 1 for distributions) into ``dlogits`` and returns the loss.
    """
    cdef double loss
    _check_logits(logits.shape[0], logits.shape[1])
    check_dims("t", t.shape, 2, logits.shape[0], logits.shape[1])
    check_dims("dlogits", dlogits.shape, 2, logits.shape[0], logits.shape[1])
    with nogil:
        loss = softmax_ce_rows(&logits[0, 0], &t[0, 0], &dlogits[0, 0], logits.shape[0],
                               logits.shape[1])
    return loss
