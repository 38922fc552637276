"""Matrix product in NumPy (reference for csrc/gemm.pyx)."""
import numpy as np


def gemm(a, b, out, trans_a=False, trans_b=False):
    """Write ``op(a) @ op(b)`` into ``out``; ``op`` transposes when asked."""
    np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
