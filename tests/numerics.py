"""Dtypes under test and comparison tolerances keyed by dtype, derived from error bounds.

Two kinds of tolerance:

* ``TOL``/``tol(dtype)``: a few ulps for element-wise operations whose kernel
  and reference differ only in the order of a handful of roundings.
* Bounds from the operation's rounding-error analysis (Higham, *Accuracy and
  Stability of Numerical Algorithms*, 2nd ed., ch. 3): a sum or dot product of
  ``k`` terms computed in any order has error at most ``gamma_k * sum |terms|``
  with ``gamma_k = k u / (1 - k u)`` and ``u`` the unit roundoff (half an ulp of
  1) — :func:`gamma`. Both backends meet it, so they differ by at most twice
  that. On random data the errors are independent and grow like ``sqrt(k)``
  (Higham & Mary 2019, "A new approach to probabilistic rounding error
  analysis": ``|error| <= lam sqrt(k) u sum |terms|`` with probability at
  least ``1 - 2 exp(-lam^2 (1 - u)^2 / 2)``; ``lam = 6`` fails with probability
  below 1e-7) — :func:`gamma_random`, for the fixed-seed tests.
  The property tests (tests/test_fuzz_*.py), whose inputs may be adversarial,
  use the worst case.
"""
import math

import numpy as np

DTYPES = [np.float32, np.float64]

# Kernels and reference compute the same math in a different order; float32
# results agree to a few ulps of the largest terms, float64 much tighter.
TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=2e-5),
       np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12)}


def tol(dtype):
    """Keyword tolerances for ``np.testing.assert_allclose`` at ``dtype``."""
    return TOL[np.dtype(dtype)]


def unit_roundoff(dtype):
    """``u``: half the distance from 1 to the next float (2^-24 float32, 2^-53 float64)."""
    return float(np.finfo(dtype).eps) / 2


def gamma(k, dtype):
    """Worst-case relative error bound ``k u / (1 - k u)`` of ``k`` chained roundings."""
    ku = k * unit_roundoff(dtype)
    return ku / (1 - ku)


def gamma_random(k, dtype, lam=6.0):
    """Probabilistic bound ``lam sqrt(k) u`` for ``k`` independent roundings (see module doc)."""
    return lam * math.sqrt(k) * unit_roundoff(dtype)


def assert_within(actual, desired, bound, what=""):
    """Assert ``|actual - desired| <= bound`` element-wise (NaN only where both are NaN).

    ``bound`` broadcasts against the arrays. The message gives the worst
    excess as a multiple of the bound.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    nan_a, nan_d = np.isnan(actual), np.isnan(desired)
    assert np.array_equal(nan_a, nan_d), f"{what}: NaN in different places"
    same = (actual == desired) | nan_a  # equal infinities and NaNs are fine
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(same, 0.0, np.abs(actual - desired))
        bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), err.shape)
        bad = err > bound
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err / np.maximum(bound, 1e-300), 0)), err.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {err.size} elements exceed the bound; worst at {i}: "
            f"actual {actual[i]!r}, desired {desired[i]!r}, error {err[i]:.3g} > bound "
            f"{bound[i]:.3g} ({err[i] / max(bound[i], 1e-300):.3g} x)")
