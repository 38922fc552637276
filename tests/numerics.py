"""Dtypes under test and comparison tolerances keyed by dtype."""
import numpy as np

DTYPES = [np.float32, np.float64]

# Kernels and reference compute the same math in a different order; float32
# results agree to a few ulps of the largest terms, float64 much tighter.
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
       np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12)}


def tol(dtype):
    """Keyword tolerances for ``np.testing.assert_allclose`` at ``dtype``."""
    return TOL[np.dtype(dtype)]
