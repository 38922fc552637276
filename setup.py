"""Build the Cython kernels in csrc/ as ``fastnet._kernels.<name>``.

Every ``csrc/<name>.pyx`` becomes the extension module ``fastnet._kernels.<name>``.
Release builds use ``-O3`` with Cython's bounds, wraparound and initialization
checks off: the Python layer validates every argument before a kernel runs.
Set ``FASTNET_DEBUG_BUILD=1`` to turn those checks on and optimisation off.
"""
import os
from pathlib import Path

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
# OpenMP serves the prange loops over large parameter arrays (optimizer updates).
compile_args = ["-fopenmp"] + (["-O0", "-g"] if DEBUG else ["-O3"])

extensions = [
    Extension(
        f"fastnet._kernels.{pyx.stem}",
        [str(pyx)],
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"],
        include_dirs=["csrc"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted(Path("csrc").glob("*.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        include_path=["csrc"],
        # Debug and release C files differ (bounds checks); keep them apart so
        # neither build ever compiles the other's generated C.
        build_dir="build/cython-debug" if DEBUG else "build/cython-release",
    )
)
