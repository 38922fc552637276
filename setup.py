"""Build the Cython kernels in csrc/ as ``fastnet._kernels.<name>``.

Every ``csrc/<name>.pyx`` becomes the extension module ``fastnet._kernels.<name>``,
compiled for the baseline instruction set of the platform. On x86-64 the
element-wise kernel modules (SIMD_MODULES) are compiled twice more, from the
same generated C, as ``fastnet._kernels.avx2.<name>`` (``-march=x86-64-v3``:
AVX2, FMA) and ``fastnet._kernels.avx512.<name>`` (``-march=x86-64-v4``:
AVX-512 F/CD/BW/DQ/VL, 512-bit vectors); ``fastnet._simd`` picks one at
import from the CPU's features. Modules whose time goes to BLAS or Python
(gemm, threads) are built once.

Release builds use ``-O3`` with Cython's bounds, wraparound and initialization
checks off: the Python layer validates every argument before a kernel runs.
Set ``FASTNET_DEBUG_BUILD=1`` to turn those checks on and optimisation off
(and build the baseline only).
"""
import os
import platform
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNET_DEBUG_BUILD", "") not in ("", "0")

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}
# OpenMP serves the prange loops over large arrays (optimizer updates, batch
# norm, dropout) and runs OpenBLAS's parallel sections (csrc/threads.pyx).
# No kernel reads errno or the floating-point exception flags, and without
# these two flags gcc keeps sqrt and the selects of branch-free code
# (csrc/_vmath.pxd) scalar: -fno-math-errno lets sqrt vectorise,
# -fno-trapping-math lets a choice between two computed values become a
# vector blend. Neither changes a result (unlike -ffast-math).
# -ffp-contract=off: no fused multiply-adds the source does not write, so the
# AVX2 and AVX-512 builds (which have FMA) round exactly as the baseline
# does: every SIMD level gives the same bits (tests/test_simd.py).
# -g0 (release): Python's own CFLAGS ask for debug information, which made
# the kernels 51 MB installed (10 MB without) and `pip install .` ~22% slower.
compile_args = (["-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off"]
                + (["-O0", "-g"] if DEBUG else ["-O3", "-g0"]))
BUILD_DIR = Path("build/cython-debug" if DEBUG else "build/cython-release")

# Kernel modules whose loops are element-wise and so gain from wider vectors.
SIMD_MODULES = ("activations", "affine", "batchnorm", "dropout", "lstm", "optim", "program",
                "softmax_ce", "stats", "vmath")
# Modules whose loops call vexp/vtanh (csrc/_vmath.pxd), and the flag that keeps
# those inlined: gcc stops inlining once a unit has grown by 40% (its -O3
# default), which the fused expansions of the activation passes reach in these
# modules; vexp/vtanh then stayed calls and every sigmoid, tanh, SiLU and GELU
# loop ran one value at a time (4-8 ns per value instead of ~0.4). At 80 every
# kernel helper is inlined (the objects grow by up to 40%); 200 leaves room.
# Only these modules get it: it costs compile time. tests/test_simd.py checks
# that no module keeps an out-of-line vexp or vtanh.
INLINE_MODULES = ("activations", "affine", "program")
INLINE_FLAGS = ["--param=inline-unit-growth=200"]
# level -> compiler flags; names match fastnet._simd.LEVELS.
SIMD_FLAGS = {
    "avx2": ["-march=x86-64-v3"],
    # gcc's generic tuning keeps 256-bit vectors even where AVX-512 is allowed.
    "avx512": ["-march=x86-64-v4", "-mprefer-vector-width=512"],
}
X86 = platform.machine().lower() in ("x86_64", "amd64")


def _extension(name, source, extra_args=(), depends=()):
    return Extension(
        name,
        [str(source)],
        depends=[str(d) for d in depends],
        extra_compile_args=compile_args + list(extra_args),
        extra_link_args=["-fopenmp"],
        include_dirs=["csrc", numpy.get_include()],  # numpy: csrc/program.pyx cimports it
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        + ([("FASTNET_DEBUG_BUILD", "1")] if DEBUG else []),
    )


def _inline_flags(stem):
    return INLINE_FLAGS if stem in INLINE_MODULES and not DEBUG else []


def _variant_source(stem, level):
    """A C file that includes the module's generated C, so each variant compiles
    to its own object file without running Cython again."""
    path = BUILD_DIR / "simd" / level / f"{stem}.c"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f'#include "{(BUILD_DIR / "csrc" / f"{stem}.c").resolve()}"\n'
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


pyx_files = sorted(Path("csrc").glob("*.pyx"))
extensions = cythonize(
    [_extension(f"fastnet._kernels.{pyx.stem}", pyx, _inline_flags(pyx.stem))
     for pyx in pyx_files],
    compiler_directives=directives,
    include_path=["csrc"],
    # Debug and release C files differ (bounds checks); keep them apart so
    # neither build ever compiles the other's generated C.
    build_dir=str(BUILD_DIR),
    nthreads=os.cpu_count() or 1,
)
if X86 and not DEBUG:
    extensions += [
        # depends: rebuild when the included C changes, not only the wrapper
        _extension(f"fastnet._kernels.{level}.{pyx.stem}", _variant_source(pyx.stem, level),
                   flags + _inline_flags(pyx.stem), depends=[BUILD_DIR / "csrc" / f"{pyx.stem}.c"])
        for level, flags in SIMD_FLAGS.items()
        for pyx in pyx_files if pyx.stem in SIMD_MODULES
    ]

# Compile the modules (three times as many C compilations with the variants)
# on every core: `pip install .` stays within a couple of minutes.
setup(ext_modules=extensions, options={"build_ext": {"parallel": os.cpu_count() or 1}})
