"""Softmax + mean cross-entropy in NumPy (reference for csrc/softmax_ce.pyx).

As the kernel: a zero target weight contributes nothing even against a
logit of -inf, and an empty batch or zero classes is a ValueError.
"""
import numpy as np
from fastnet.reference._shapes import check_dims


def _check_logits(logits):
    n, c = logits.shape
    if n < 1 or c < 1:
        raise ValueError(f"logits must have shape (N, C) with N >= 1 and C >= 1; got ({n}, {c})")


def _softmax_lse(logits, p):
    """Write softmax(logits) rows into ``p``; return each row's log-sum-exp (float64)."""
    zmax = logits.max(axis=1, keepdims=True)
    np.subtract(logits, zmax, out=p)
    np.exp(p, out=p)
    total = p.sum(axis=1, keepdims=True, dtype=np.float64)
    p /= total.astype(p.dtype)
    return (zmax.astype(np.float64) + np.log(total))[:, 0]


def softmax_cross_entropy(logits, labels, dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against int64 ``labels (N,)``.

    Writes ``(softmax(logits) - onehot(labels)) / N`` into ``dlogits``; returns the loss.
    """
    _check_logits(logits)
    n, c = logits.shape
    check_dims("labels", labels, n)
    check_dims("dlogits", dlogits, n, c)
    outside = np.flatnonzero((labels < 0) | (labels >= c))  # a negative label indexed from the end
    if outside.size:
        i = outside[0]
        raise ValueError(f"labels must be class indices in [0, {c}); labels[{i}] is {labels[i]}")
    lse = _softmax_lse(logits, dlogits)
    rows = np.arange(n)
    loss = np.sum(lse - logits[rows, labels], dtype=np.float64) / n
    dlogits[rows, labels] -= 1
    dlogits /= n
    return float(loss)


def softmax_cross_entropy_onehot(logits, t, dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against target rows ``t (N, C)``.

    Writes ``(softmax(logits) * t.sum(1) - t) / N``, the loss's derivative for
    any real rows, into ``dlogits``; returns the loss.
    """
    _check_logits(logits)
    n = logits.shape[0]
    check_dims("t", t, *logits.shape)
    check_dims("dlogits", dlogits, *logits.shape)
    lse = _softmax_lse(logits, dlogits)
    dlogits *= t.sum(axis=1, keepdims=True, dtype=np.float64).astype(dlogits.dtype)
    # Zero weights are skipped, not multiplied: 0 * (lse - (-inf)) is NaN.
    terms = np.multiply(t, lse[:, None] - logits, where=t != 0, out=np.zeros(t.shape, np.float64))
    loss = np.sum(terms, dtype=np.float64) / n
    dlogits -= t
    dlogits /= n
    return float(loss)
