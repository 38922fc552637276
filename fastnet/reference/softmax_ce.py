"""Softmax + mean cross-entropy in NumPy (reference for csrc/softmax_ce.pyx)."""
import numpy as np


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
    n = logits.shape[0]
    lse = _softmax_lse(logits, dlogits)
    rows = np.arange(n)
    loss = np.sum(lse - logits[rows, labels], dtype=np.float64) / n
    dlogits[rows, labels] -= 1
    dlogits /= n
    return float(loss)


def softmax_cross_entropy_onehot(logits, t, dlogits):
    """Mean cross-entropy of ``logits (N, C)`` against target rows ``t (N, C)``.

    Writes ``(softmax(logits) - t) / N`` into ``dlogits``; returns the loss.
    """
    n = logits.shape[0]
    lse = _softmax_lse(logits, dlogits)
    loss = np.sum(t * (lse[:, None] - logits), dtype=np.float64) / n
    dlogits -= t
    dlogits /= n
    return float(loss)
