"""Find the BLAS the kernels call: the OpenBLAS NumPy links, when it can be found.

NumPy's wheels bundle OpenBLAS with a 64-bit integer interface and prefixed
symbols (``scipy_sgemm_64_``). Calling that same library from the kernels
means fastnet and NumPy share one BLAS build and one thread pool; measured
here it is also faster than the older OpenBLAS inside SciPy's wheels on the
small GEMMs of the textbook's nets (see bench/RESULTS.md). When NumPy links
another BLAS (MKL, a system OpenBLAS) the kernels use SciPy's
``scipy.linalg.cython_blas`` instead, imported only then (it costs ~150 ms,
more than NumPy's own import). ``FASTNET_BLAS=scipy`` forces the latter.
"""
import ctypes
import functools
import glob
import os

import numpy as np

_SYMBOLS = ("scipy_sgemm_64_", "scipy_dgemm_64_")


@functools.lru_cache(maxsize=None)
def _numpy_openblas():
    """(path, ctypes library) of NumPy's bundled OpenBLAS, or None."""
    if os.environ.get("FASTNET_BLAS", "numpy") == "scipy":
        return None
    libs_dir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs_dir, "libscipy_openblas64_*.so*"))):
        try:
            lib = ctypes.CDLL(path)
            for name in _SYMBOLS:
                getattr(lib, name)
        except (OSError, AttributeError):
            continue
        return os.path.realpath(path), lib
    return None


def numpy_gemm_addresses():
    """Addresses of NumPy's OpenBLAS sgemm and dgemm (64-bit ints), or None."""
    found = _numpy_openblas()
    if found is None:
        return None
    lib = found[1]
    return tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in _SYMBOLS)


_SET_CALLBACK = "scipy_openblas_set_threads_callback_function64_"
_THREAD_COUNT = ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_")


@functools.lru_cache(maxsize=None)
def share_thread_pool():
    """Run NumPy's OpenBLAS's parallel sections on fastnet's OpenMP threads; True if done.

    Process-wide and done once, when the first kernel module is imported,
    which also sets the element-wise kernels' default (``set_parallel`` in
    ``fastnet._kernels.threads``): parallel for large arrays when the pool is
    shared. Without one pool, OpenMP's workers and OpenBLAS's pthreads each
    spin-wait after their own work and take the cores from each other, so the
    element-wise kernels then stay on one thread. ``FASTNET_BLAS_THREADS=openblas``
    keeps OpenBLAS's own threads.
    """
    from fastnet._kernels import threads
    found = _numpy_openblas()
    shared = False
    if found is not None and os.environ.get("FASTNET_BLAS_THREADS", "fastnet") != "openblas":
        setter = getattr(found[1], _SET_CALLBACK, None)  # None before OpenBLAS 0.3.27
        if setter is not None:
            setter.argtypes = [ctypes.c_void_p]
            setter.restype = None
            setter(threads.blas_threads_callback_address())
            shared = True
    if found is not None:
        threads.init_blas_one_thread(*(ctypes.cast(getattr(found[1], name), ctypes.c_void_p).value
                                       for name in _THREAD_COUNT), shared)
    threads.set_parallel(min_size=threads.default_min_size(shared))
    return shared


def _openblas_string(lib, name):
    function = getattr(lib, name, None)
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    return function().decode(errors="replace").strip()


def blas_info():
    """Which BLAS the kernels call: a dict with 'name', 'library' and 'integers'.

    For NumPy's OpenBLAS also (as threadpoolctl reports them) its 'version'
    line (``openblas_get_config``), the 'kernel' it chose for this CPU
    (``openblas_get_corename``), its 'num_threads' and which 'threads' run its
    parallel sections.
    """
    found = _numpy_openblas()
    if found is not None:
        lib = found[1]
        num_threads = getattr(lib, "scipy_openblas_get_num_threads64_")
        num_threads.restype = ctypes.c_int
        return {"name": "NumPy's OpenBLAS", "library": found[0], "integers": "64-bit",
                "version": _openblas_string(lib, "scipy_openblas_get_config64_"),
                "kernel": _openblas_string(lib, "scipy_openblas_get_corename64_"),
                "num_threads": num_threads(),
                "threads": ("fastnet's OpenMP pool" if share_thread_pool()
                            else "OpenBLAS's own pool")}
    import scipy.linalg.cython_blas as cython_blas
    return {"name": "SciPy's cython_blas", "library": cython_blas.__file__, "integers": "32-bit"}
