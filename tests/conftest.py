"""Shared test setup: the installed, compiled fastnet is what we test."""
import importlib.machinery
from pathlib import Path

import numpy as np
import pytest

import fastnet
import fastnet._kernels.affine
from numerics import DTYPES, tol  # noqa: F401  (also importable from here)

REPO = Path(__file__).resolve().parents[1]


def _check_installed_and_compiled():
    pkg_dir = Path(fastnet.__file__).resolve().parent
    if pkg_dir == REPO / "fastnet":
        raise pytest.UsageError(
            f"tests imported fastnet from the source tree ({pkg_dir}); install it with "
            "'pip install .[test]' and run pytest from the repository root "
            "(pytest is configured with --import-mode=importlib)"
        )
    suffix = Path(fastnet._kernels.affine.__file__).name
    if not any(suffix.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES):
        raise pytest.UsageError(f"fastnet._kernels.affine is not a compiled module: {suffix}")


_check_installed_and_compiled()

@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def one_blas_thread():
    """NumPy's OpenBLAS on one thread for the test, as NetBatch runs each member's GEMMs.

    OpenBLAS's one-thread GEMM rounds differently from its multi-threaded one
    for some shapes (100x784x100 among them), and a product split by rows
    over fastnet's threads (``set_row_split``) differently again, so a test that compares a
    NetBatch member with the same net trained alone bit for bit gives both
    the same arithmetic with this fixture.
    """
    from fastnet._kernels.threads import blas_one_thread, set_row_split
    if not blas_one_thread(True):  # SciPy's BLAS: NetBatch runs members one at a time on it
        yield
        return
    # and forward products whole, as a member's are (its forward runs on one thread)
    old_split = set_row_split(None, 0)
    try:
        yield
    finally:
        set_row_split(*old_split)
        blas_one_thread(False)
