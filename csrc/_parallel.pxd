# When element-wise kernels split their work across OpenMP threads, from one
# setting shared by every kernel module.
#
# The setting lives in fastnet._kernels.threads (set_parallel); each module
# that cimports this file calls load_parallel() once at import and then reads
# it through a pointer. Work is split into contiguous chunks of whole
# elements (or whole column blocks), one per thread, and every element is
# computed by the same arithmetic whatever the split: results do not depend
# on the thread count (tests/test_threads.py checks it).

cimport openmp
from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from *:
    """
    typedef struct {
        Py_ssize_t min_size;
        int num_threads;
        void (*blas_one_thread)(int begin);
        Py_ssize_t pair_max;
        Py_ssize_t split_min, split_max;
    } fastnet_parallel_t;
    static fastnet_parallel_t *fastnet_parallel = 0;
    """
    ctypedef void (*fastnet_one_thread_t)(int begin) noexcept nogil
    ctypedef struct fastnet_parallel_t:
        Py_ssize_t min_size
        int num_threads
        # NumPy's OpenBLAS on one thread between begin=1 and begin=0 (threads.pyx's
        # blas_one_thread); NULL unless fastnet's pool runs its sections.
        fastnet_one_thread_t blas_one_thread
        # The largest n * d * m whose two gradient GEMMs run side by side (pair_threads).
        Py_ssize_t pair_max
        # The n * d * m range whose forward GEMM is split by rows (split_rows).
        Py_ssize_t split_min, split_max
    fastnet_parallel_t* fastnet_parallel


cdef inline load_parallel():
    """Point this module at the shared setting (fastnet._kernels.threads)."""
    global fastnet_parallel
    from fastnet._blas import share_thread_pool
    from fastnet._kernels.threads import _settings_capsule
    share_thread_pool()  # sets the default once, before any kernel runs
    fastnet_parallel = <fastnet_parallel_t*>PyCapsule_GetPointer(
        _settings_capsule, b"fastnet_parallel_t")


cdef inline bint serial_setting() noexcept nogil:
    """Whether the element-wise kernels are set never to split (threads.pyx's ``SERIAL``:
    OpenBLAS keeps its own pool, or this is a forked child)."""
    return fastnet_parallel.min_size == <Py_ssize_t>((<size_t>-1) >> 1)


cdef inline int pool_threads() noexcept nogil:
    """Threads of a split: the setting's ``num_threads``, or OpenMP's default."""
    if fastnet_parallel.num_threads > 0:
        return fastnet_parallel.num_threads
    return openmp.omp_get_max_threads()


cdef inline bint side_by_side() noexcept nogil:
    """Whether two independent tasks (each a whole kernel call) should run on two
    threads now: not inside a parallel region, not when the element-wise
    kernels are serial by setting (a forked child, OpenBLAS's own pool), and
    at least two threads set. The caller decides whether the tasks are big
    enough for the region's cost (~0.7 us)."""
    return not (serial_setting() or openmp.omp_in_parallel()) and pool_threads() >= 2


cdef inline Py_ssize_t chunks(Py_ssize_t n, Py_ssize_t units) noexcept nogil:
    """Threads (= contiguous chunks) for ``n`` elements split into at most ``units`` parts.

    One inside a parallel region (a NetBatch member's pass in ``run_many``): a
    nested region would get one thread anyway, after the cost of opening it."""
    if n < fastnet_parallel.min_size or units < 2 or openmp.omp_in_parallel():
        return 1
    return max(1, min(<Py_ssize_t>pool_threads(), units))


cdef inline Py_ssize_t bound(Py_ssize_t n, Py_ssize_t c, Py_ssize_t nc) noexcept nogil:
    """Start of chunk ``c`` of ``nc`` over ``n`` elements: multiples of 16, so chunks share no cache line."""
    if c >= nc:
        return n
    return (n * c // nc) & ~(<Py_ssize_t>15)


cdef inline int pair_threads(Py_ssize_t work) noexcept nogil:
    """2 if two GEMMs of ``work`` = n * d * m multiply-adds each should run side by
    side, one per thread, OpenBLAS set to one thread meanwhile; else 1.

    Two equal GEMMs each on its own core beat OpenBLAS's two-thread split of
    one after the other (it runs small ones on one thread anyway); see
    ``PAIR_MAX`` in threads.pyx. Not inside a parallel region, not in a
    forked child (``min_size`` is then "never"), not when the element-wise
    kernels are serial by setting.
    """
    if (fastnet_parallel.blas_one_thread == NULL or work > fastnet_parallel.pair_max
            or serial_setting() or openmp.omp_in_parallel()):
        return 1
    return 2 if pool_threads() >= 2 else 1


cdef inline int split_rows(Py_ssize_t n, Py_ssize_t d, Py_ssize_t m) noexcept nogil:
    """Row blocks (threads) for the product ``(n, d) @ (d, m)``: more than 1 when
    each thread should run its rows' part, OpenBLAS on one thread meanwhile.

    Between ``split_min`` and ``split_max`` multiply-adds (``SPLIT_MIN`` and
    ``SPLIT_MAX`` in threads.pyx), with ``n`` at least 32 (16 rows a block or
    more) and ``d`` at least 64: there OpenBLAS runs a product on one thread
    (its small-matrix kernel) or splits it poorly. Never where
    :func:`pair_threads` would not pair.
    """
    cdef Py_ssize_t work = n * d * m
    if (n < 32 or d < 64 or work < fastnet_parallel.split_min
            or work > fastnet_parallel.split_max or pair_threads(1) == 1):
        return 1
    return <int>min(<Py_ssize_t>pool_threads(), n // 16)
