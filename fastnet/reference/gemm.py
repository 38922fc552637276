"""Matrix product in NumPy (reference for csrc/gemm.pyx)."""
import numpy as np
from fastnet.reference._shapes import check_dims


def gemm(a, b, out, trans_a=False, trans_b=False):
    """Write ``op(a) @ op(b)`` into ``out``; ``op`` transposes when asked."""
    m, k = a.shape[::-1] if trans_a else a.shape
    n = b.shape[0] if trans_b else b.shape[1]
    if trans_b:
        check_dims("b (trans_b: op(b) is b.T)", b, n, k)
    else:
        check_dims("b", b, k, n)
    check_dims("out", out, m, n)
    np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
