"""Shared test setup: the installed, compiled fastnet is what we test."""
import importlib.machinery
from pathlib import Path

import numpy as np
import pytest

import fastnet
import fastnet._kernels.affine

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

DTYPES = [np.float32, np.float64]

# Kernels and reference compute the same math in a different order; float32
# results agree to a few ulps of the largest terms, float64 much tighter.
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
       np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12)}


def tol(dtype):
    """Comparison tolerances for ``np.testing.assert_allclose`` keyed by dtype."""
    return TOL[np.dtype(dtype)]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
