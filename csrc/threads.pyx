"""One thread pool for fastnet and OpenBLAS, and when element-wise kernels use it.

OpenBLAS's parallel sections run on fastnet's OpenMP threads (the callback in
blas_threads.h, installed into NumPy's OpenBLAS by ``fastnet._blas`` at
import). Process-wide: NumPy's own GEMMs then run on the same OpenMP pool as
fastnet's kernels (and as torch's, which loads the same ``libgomp.so.1``), so
no pool spin-waits against another and the element-wise kernels (optimizer
updates, batch norm; dropout stays serial) can go parallel by default. Measurements:
bench/RESULTS.md, "One thread pool".
"""
from cpython.pycapsule cimport PyCapsule_New

from _parallel cimport fastnet_parallel, fastnet_parallel_t, pair_threads, pool_threads

import os

from fastnet._checks import integer

cdef extern from "blas_threads.h":
    ctypedef void (*fastnet_dojob_t)(int, void*, int) noexcept nogil
    ctypedef void (*fastnet_set_threads_t)(int) noexcept nogil
    ctypedef int (*fastnet_get_threads_t)() noexcept nogil
    void fastnet_blas_threads(int sync, fastnet_dojob_t dojob, int numjobs,
                              size_t elsize, void* jobdata, int dojob_data) noexcept nogil
    int fastnet_blas_threads_init(Py_ssize_t* min_size)
    void fastnet_blas_one_thread_init(fastnet_set_threads_t set, fastnet_get_threads_t get)
    void fastnet_blas_one_thread(int begin) noexcept nogil

# Element-wise kernels split arrays of at least this many elements. Below it
# waking a second thread costs more than it saves. It was 2^18; at 2^16 net
# T's one-call update (109,810 parameters) splits, 2.5-7% of an idle net T
# step, and the LSTM's gate pass at 64-192 rows runs 1.23-1.34x faster
# (bench/RESULTS.md, "Element-wise threshold 2^16"). Batch norm keeps 2^18
# (csrc/_batchnorm.pxd).
PARALLEL_MIN_SIZE = 1 << 16
# "Never": the setting when OpenBLAS keeps its own pool (the pools would fight).
SERIAL = <Py_ssize_t>(((<size_t>-1) >> 1))

# The two gradient GEMMs of an affine layer, dW = x.T @ da and dx = da @ W.T,
# run side by side on two threads (OpenBLAS on one thread meanwhile) when
# n * d * m is at most this. They have the same n * d * m multiply-adds, so
# the two threads finish together, and measured here side by side beat
# OpenBLAS's own two-thread split of each at every size tried, from 100^3
# (1.36x float32, 1.93x float64) to 512 x 1024 x 1024 (1.07-1.14x), so there is
# no bound by default (bench/RESULTS.md, "Gradient GEMMs side by side").
PAIR_MAX = <Py_ssize_t>(((<size_t>-1) >> 1))

# An affine layer's forward product (n, d) @ (d, m) is split into blocks of
# rows, one per thread (OpenBLAS on one thread meanwhile), when n * d * m is in
# [SPLIT_MIN, SPLIT_MAX] (and n >= 32, d >= 64: split_rows in
# _parallel.pxd). Measured here over 772 shapes (n 32-384, d 32-784, m 32-512,
# float32 and float64, SkylakeX kernels): the shapes this rule splits ran
# 1.24x faster in geometric mean, net T's first layer (100 x 784 x 100) 1.72x
# in float32 and 1.59x in float64; below the range OpenBLAS's one-thread
# small-matrix kernel wins, above it its own split does as well (bench/RESULTS.md,
# "Forward products split by rows").
SPLIT_MIN = 500_000
SPLIT_MAX = 32_000_000

cdef fastnet_parallel_t _settings
_settings.min_size = SERIAL
_settings.num_threads = 0
_settings.blas_one_thread = NULL
_settings.pair_max = PAIR_MAX
_settings.split_min = SPLIT_MIN
_settings.split_max = SPLIT_MAX
cdef bint _one_thread_ready = False
_settings_capsule = PyCapsule_New(&_settings, b"fastnet_parallel_t", NULL)
fastnet_parallel = &_settings  # this module's own view of the setting (the others: load_parallel)
if fastnet_blas_threads_init(&_settings.min_size) != 0:
    raise OSError("fastnet: pthread_atfork failed")


def blas_threads_callback_address():
    """Address of the C callback for ``openblas_set_threads_callback_function``."""
    return <size_t>&fastnet_blas_threads


def init_blas_one_thread(size_t set_threads, size_t get_threads, bint pool_shared):
    """Give the one-thread window NumPy's OpenBLAS's ``set_num_threads`` and
    ``get_num_threads`` (addresses); with ``pool_shared`` (its sections run on
    fastnet's threads) the affine kernels may also pair their gradient GEMMs.
    Once, at import (``fastnet._blas.share_thread_pool``)."""
    global _one_thread_ready
    fastnet_blas_one_thread_init(<fastnet_set_threads_t>set_threads,
                                 <fastnet_get_threads_t>get_threads)
    _one_thread_ready = True
    if pool_shared:
        _settings.blas_one_thread = fastnet_blas_one_thread


def blas_one_thread(bint begin):
    """Open (``begin`` true) or close a window in which NumPy's OpenBLAS runs on one
    thread; windows nest and overlap across threads (counted in C). True if
    done, False when the kernels use another BLAS (nothing to set)."""
    if not _one_thread_ready:
        return False
    with nogil:
        fastnet_blas_one_thread(begin)
    return True


def set_pairing(max_work=None):
    """Set ``pair_max``, the largest ``n * d * m`` whose two gradient GEMMs run side
    by side (0: never); returns the previous value."""
    old = _settings.pair_max
    if max_work is not None:
        _settings.pair_max = integer("max_work", max_work, low=0)
    return old


def set_row_split(min_work=None, max_work=None):
    """Set the ``n * d * m`` range whose forward product is split by rows (``max_work``
    0: never); returns the previous ``(min_work, max_work)``."""
    old = (_settings.split_min, _settings.split_max)
    low = _settings.split_min if min_work is None else integer("min_work", min_work, low=0)
    high = _settings.split_max if max_work is None else integer("max_work", max_work, low=0)
    _settings.split_min, _settings.split_max = low, high
    return old


def forward_split_range():
    """``(min_work, max_work)`` when an affine layer's forward product may be split by
    rows now (``split_rows`` in _parallel.pxd, asked from outside any parallel
    region), else None."""
    if pair_threads(1) == 1 or _settings.split_max < max(_settings.split_min, 1):
        return None
    return (_settings.split_min, _settings.split_max)


def default_min_size(pool_shared):
    """The default ``min_size``: parallel from PARALLEL_MIN_SIZE elements when one
    pool serves BLAS and fastnet, or when ``OMP_WAIT_POLICY=PASSIVE`` keeps
    OpenMP's workers from spinning; otherwise never."""
    passive = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    return PARALLEL_MIN_SIZE if pool_shared or passive else SERIAL


def set_parallel(min_size=None, num_threads=None):
    """Set when element-wise kernels use OpenMP threads; returns the previous ``(min_size, num_threads)``.

    ``min_size``: arrays with fewer elements run on one thread (``SERIAL``:
    always). ``num_threads``: threads for larger arrays (0: OpenMP's default,
    all cores or ``OMP_NUM_THREADS``). Process-wide, for every kernel module.
    """
    old = (_settings.min_size, _settings.num_threads)
    if min_size is not None:
        if min_size < 0:
            raise ValueError(f"min_size must be >= 0; got {min_size!r}")
        _settings.min_size = min(min_size, SERIAL)
    if num_threads is not None:
        if num_threads < 0:
            raise ValueError(f"num_threads must be >= 0; got {num_threads!r}")
        _settings.num_threads = num_threads
    return old


def get_parallel():
    """Return ``(min_size, num_threads)``; see :func:`set_parallel`."""
    return (_settings.min_size, _settings.num_threads)


def max_threads():
    """Threads an element-wise kernel uses for a large array."""
    return pool_threads()


def pairs_gradient_gemms():
    """Whether an affine layer's two gradient GEMMs run side by side now (``pair_threads``
    in _parallel.pxd, asked from outside any parallel region)."""
    return pair_threads(1) == 2
