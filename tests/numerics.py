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
  below 1e-7) — :func:`gamma_random`, for the fixed-seed tests. For sums of
  zero-mean random terms the partial sums themselves grow only like
  ``sqrt(i)``, so the error is ``<= lam u sqrt(k) ||terms||_2`` — the 2-norm in
  place of the 1-norm (:func:`random_sum_bound`): ``sqrt(k)`` tighter again.
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


def random_sum_bound(k, sum_of_squares, dtype, lam=6.0):
    """``lam u sqrt(k) ||terms||_2``: the error of a sum of ``k`` zero-mean random terms.

    Each of the ``k`` additions rounds a partial sum ``s_i`` by at most ``u |s_i|``,
    independently; a random walk's ``|s_i|`` is about ``sqrt(i / k) ||terms||_2``,
    so the total has standard deviation below ``u sqrt(k) ||terms||_2``.
    """
    return lam * math.sqrt(k) * unit_roundoff(dtype) * np.sqrt(sum_of_squares)


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


def tiny(dtype):
    """The smallest subnormal: the spacing of floats near 0."""
    return float(np.finfo(dtype).smallest_subnormal)


def gemm_bound(op_a, op_b, dtype, random=False):
    """Bound on ``|kernel - reference|`` for ``op_a @ op_b`` (k = the inner size).

    Worst case: each backend is within ``gamma(k + 1) |A||B|`` of the exact
    product (plus k subnormal spacings for underflowed products). ``random``:
    zero-mean random data, ``random_sum_bound`` of each dot product's terms.
    Doubled for two backends.
    """
    k = op_a.shape[1]
    a, b = op_a.astype(np.float64), op_b.astype(np.float64)
    if random:
        err = random_sum_bound(k + 1, (a * a) @ (b * b), dtype)
    else:
        err = gamma(k + 1, dtype) * (np.abs(a) @ np.abs(b))
    return 2 * (err + (k + 1) * tiny(dtype))


def softmax_ce_bounds(z, t, dz_ref, dtype):
    """Bounds on ``|kernel - reference|`` for the softmax-CE loss and each ``dlogits`` entry.

    ``t`` are the target rows (one-hot for labels). Per row, with ``m = max z``,
    ``p_j = exp(z_j - m)`` is rounded with relative error ``(|z_j - m| + 2) u``
    (the argument's rounding, then ``exp``'s), so the row total's relative error is
    ``r = u sum_j p_j (|z_j - m| + 2) / sum_j p_j`` (<= ``(2 + C/e) u``, since
    ``p |z - m| <= 1/e``), and so is the absolute error of ``log(total)``. The loss
    is accumulated in double: ``|error| <= mean_i r_i sum_j |t_ij|`` per backend, plus
    the double sum's own ``gamma(NC) mean_i sum_j |t_ij (lse_i - z_ij)|``.
    ``dz_j = (softmax_j s - t_j) / N``, ``s = sum_j t_j`` (``gamma(C) sum |t|``
    off), adds four roundings; where those results are subnormal, each rounding is
    off by up to a subnormal spacing, not relatively (CI's fuzzing found a float32
    ``dz`` of 1.5e-44 against 1.1e-44: three spacings). Doubled for two backends.
    """
    n, c = z.shape
    u = unit_roundoff(dtype)
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        top = z64.max(axis=1, keepdims=True)
        e = np.exp(z64 - top)
        p = e / e.sum(1, keepdims=True)
        lse = top + np.log(e.sum(1, keepdims=True))
        spread = np.where(p > 0, np.abs(z64 - top), 0.0)
        terms = np.where(t64 != 0, np.abs(t64 * (lse - z64)), 0.0)
    r = u * (p * (spread + 2)).sum(1)
    mass = np.abs(t64).sum(1, keepdims=True)
    accumulate = gamma(n * c + 2, np.float64) * terms.sum(1).mean()
    loss = 2 * ((r * mass[:, 0]).mean() + accumulate)
    dz = 2 * (p * (mass * (u * (spread + 6) + r[:, None]) + gamma(c + 1, dtype) * mass) / n
              + u * np.abs(t64) / n + u * np.abs(dz_ref) + 4 * tiny(dtype))
    return loss, dz


def batchnorm_train_bounds(x, gamma_, want, eps, momentum, corr, rm0, rv0, growth=gamma):
    """Bounds on ``|kernel - reference|`` for the outputs of ``batchnorm_forward_train_``.

    ``want = (out, mean, inv_std, running_mean, running_var)`` from the reference.
    The mean is a sum of ``N`` terms of size ``<= max|x|`` (error ``growth(N + 8)
    max|x|``); ``x - mean`` and ``inv_std`` (the variance: ``N + 8`` roundings,
    plus the mean's error squared) move ``xhat`` in units of the std.
    """
    n = x.shape[0]
    dtype = x.dtype
    u = unit_roundoff(dtype)
    out_r, mean_r, istd_r, rm_r, rv_r = (a.astype(np.float64) for a in want)
    x64 = x.astype(np.float64)
    top = np.abs(x64).max(axis=0)
    g_n = growth(n + 8, dtype)
    d_mean = 2 * g_n * top
    rel_istd = 2 * g_n + (d_mean * istd_r) ** 2
    xhat = (x64 - mean_r) * istd_r
    d_xhat = d_mean * istd_r + 4 * u * np.abs(xhat) + np.abs(xhat) * rel_istd
    var_r = np.maximum(1 / istd_r ** 2 - eps, 0)
    new = 1 - momentum
    return {
        "out": np.abs(gamma_) * (d_xhat + 4 * u * np.abs(xhat)) + 4 * u * np.abs(out_r) + tiny(dtype),
        "mean": d_mean + 2 * u * np.abs(mean_r),
        "inv_std": (rel_istd + 4 * u) * np.abs(istd_r),
        "running_mean": new * d_mean + 4 * u * (np.abs(rm0) + np.abs(mean_r)),
        "running_var": new * corr * 2 * rel_istd * (var_r + eps)
        + 6 * u * (np.abs(rv0) + np.abs(rv_r) + corr * var_r),
    }


def batchnorm_backward_bounds(g, x, gamma_, mean, inv_std, want, random=False):
    """Bounds on ``|kernel - reference|`` for ``(dx, dgamma, dbeta)`` of ``batchnorm_backward``.

    ``dbeta = sum g`` and ``dgamma = sum g xhat`` are sums of ``N`` terms (worst
    case, or ``random_sum_bound`` for zero-mean random ``g``);
    ``dx = gamma inv_std / N (N g - dbeta - xhat dgamma)`` carries their errors
    and a few roundings of each term.
    """
    n = x.shape[0]
    dtype = x.dtype
    u = unit_roundoff(dtype)
    g64 = g.astype(np.float64)
    istd = inv_std.astype(np.float64)
    xhat = (x.astype(np.float64) - mean.astype(np.float64)) * istd
    if random:
        d_dbeta = 2 * random_sum_bound(n + 4, (g64 * g64).sum(0), dtype)
        d_dgamma = 2 * random_sum_bound(n + 4, ((g64 * xhat) ** 2).sum(0), dtype)
    else:
        d_dbeta = 2 * gamma(n + 4, dtype) * np.abs(g64).sum(0)
        d_dgamma = 2 * gamma(n + 4, dtype) * (np.abs(g64) * np.abs(xhat)).sum(0)
    dx_r, dgamma_r, dbeta_r = (a.astype(np.float64) for a in want)
    scale = np.abs(gamma_.astype(np.float64) * istd) / max(n, 1)
    dx = (scale * (8 * u * (n * np.abs(g64) + np.abs(dbeta_r) + np.abs(xhat * dgamma_r) + np.abs(xhat))
                   + d_dbeta + np.abs(xhat) * d_dgamma)
          + 4 * u * np.abs(dx_r) + 4 * tiny(dtype))
    return {"dx": dx, "dgamma": d_dgamma + 2 * u * np.abs(dgamma_r) + 4 * tiny(dtype),
            "dbeta": d_dbeta + tiny(dtype)}
