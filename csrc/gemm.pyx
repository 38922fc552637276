"""The BLAS matrix product the kernels use, exposed for tests and GEMM-floor benchmarks."""
from cython cimport floating

from _blas cimport gemm as _gemm, load_blas
from _shapes cimport check_dims

load_blas()


def gemm(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] out,
         bint trans_a=False, bint trans_b=False):
    """Write ``op(a) @ op(b)`` into ``out`` (all C-contiguous, one dtype).

    ``op(a)`` is ``a.T`` when ``trans_a`` else ``a``; shapes must agree:
    ``op(a) (m, k)``, ``op(b) (k, n)``, ``out (m, n)``.
    """
    cdef Py_ssize_t m = a.shape[1] if trans_a else a.shape[0]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t n = b.shape[0] if trans_b else b.shape[1]
    if trans_b:
        check_dims("b (trans_b: op(b) is b.T)", b.shape, 2, n, k)
    else:
        check_dims("b", b.shape, 2, k, n)
    check_dims("out", out.shape, 2, m, n)
    # Empty operands have no element 0 to point at (a bounds-checked build says so).
    if m == 0 or n == 0:
        return
    if k == 0:  # an empty sum
        out[:, :] = 0
        return
    with nogil:
        _gemm(trans_a, trans_b, m, n, k, <floating>1, &a[0, 0], a.shape[1],
              &b[0, 0], b.shape[1], <floating>0, &out[0, 0], n)
