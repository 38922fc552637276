"""The running-statistics kernel against NumPy: moments, zeros, saturation, histograms."""
import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet.diagnostics import RunningStats
from numerics import DTYPES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_matches_numpy_over_batches(rng, dtype, backend):
    batches = [rng.standard_normal(n).astype(dtype) * 0.6 + 0.3 for n in (1, 7, 1000, 333)]
    batches[2][:100] = 0
    batches[2][100:110] = np.linspace(0, 1, 10)  # exact bin edges
    stats = RunningStats(bins=20, range=(0, 1), saturation=(0.01, 0.99), backend=backend)
    for b in batches:
        stats.add(b)
    got = stats.as_dict()
    x = np.concatenate(batches).astype(np.float64)
    assert got["count"] == x.size
    np.testing.assert_allclose(got["mean"], x.mean(), rtol=1e-12)
    np.testing.assert_allclose(got["std"], x.std(), rtol=1e-10)
    assert got["zero_fraction"] == np.mean(x == 0)
    assert got["saturated_fraction"] == np.mean((x <= 0.01) | (x >= 0.99))
    np.testing.assert_array_equal(got["hist_counts"],
                                  np.histogram(np.concatenate(batches), bins=got["bin_edges"])[0])


def test_kernel_equals_reference_on_awkward_values(rng):
    x = np.concatenate([rng.uniform(-1, 2, 5000), [np.nan, np.inf, -np.inf, 1.0, 0.0, -0.0]])
    edges = np.linspace(0, 1, 31)
    results = []
    for ops in (fk, ref):
        counts, totals = np.zeros(30, np.int64), np.zeros(5)
        ops.accumulate_stats_(x[:5000], edges, counts, totals, 0.1, 0.9)
        ops.accumulate_stats_(x[5000:], edges, counts, totals, 0.1, 0.9)
        results.append((counts, totals))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1][[0, 3, 4]], results[1][1][[0, 3, 4]])
    assert np.isnan(results[0][1][1]) and np.isnan(results[1][1][1])  # NaN reaches the mean


def test_stable_std_for_large_offset():
    x = 1e8 + np.array([0.0, 1.0, 2.0, 3.0] * 250)
    stats = RunningStats(range=(0, 1))
    stats.add(x[:500])
    stats.add(x[500:])
    np.testing.assert_allclose(stats.as_dict()["std"], np.std(x), rtol=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="bins >= 1"):
        RunningStats(bins=0)
    with pytest.raises(ValueError, match="range low < high"):
        RunningStats(range=(1, 1))
