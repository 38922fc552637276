"""``fastnet.build_info()``: what this installation runs on."""
from fastnet import _simd
from fastnet._blas import blas_info


def build_info():
    """How the kernels run here: a dict.

    - ``'blas'``: :func:`fastnet.blas_info` (library, version, the kernel
      OpenBLAS chose for this CPU, its thread count and pool);
    - ``'simd'``: the instruction-set level of the element-wise kernels in use
      ('baseline', 'avx2' or 'avx512'; ``FASTNET_SIMD`` forces one) and
      ``'simd_supported'``, the levels this installation and CPU can run;
    - ``'threads'``: threads the element-wise kernels use for large arrays,
      and ``'parallel_min_size'``, the smallest array they split;
    - ``'paired_gradient_gemms'``: whether an affine layer's two gradient
      GEMMs run side by side, one per thread (with one pool and two threads);
    - ``'forward_split_range'``: ``(min, max)`` multiply-adds ``n * d * m``
      of an affine layer's forward product that is split by rows over the
      threads (n >= 32 rows, d >= 64), or None when none is.
    """
    import fastnet.kernels  # noqa: F401  (loads the kernels and sets up the pool)
    from fastnet._kernels import threads
    min_size, _ = threads.get_parallel()
    return {
        "blas": blas_info(),
        "simd": _simd.LEVEL,
        "simd_supported": _simd.supported_levels(),
        "threads": threads.max_threads(),
        "parallel_min_size": None if min_size == threads.SERIAL else min_size,
        "paired_gradient_gemms": threads.pairs_gradient_gemms(),
        "forward_split_range": threads.forward_split_range(),
    }
