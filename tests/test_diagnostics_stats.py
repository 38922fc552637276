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


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(bins=0), ValueError, "bins must be a positive integer"),
    (dict(bins=2.0), TypeError, "bins must be an integer"),
    (dict(range=(1, 1)), ValueError, r"range must be \(low, high\) with low < high"),
    (dict(range=(-np.inf, 0)), ValueError, "range low must be finite"),
    # each of these was an error naming nothing (a TypeError from subscripting None,
    # 'could not convert string to float') or, for the third value, ignored
    (dict(range=None), TypeError, r"range must be a pair \(low, high\)"),
    (dict(range="ab"), TypeError, "range low must be a real number"),
    (dict(range=(0, 1, 2)), TypeError, r"range must be a pair \(low, high\)"),
    (dict(saturation="x"), TypeError, r"saturation must be a pair \(low, high\)"),
    (dict(saturation=(np.nan, 1.0)), ValueError, "saturation low must be a number or"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        RunningStats(**kwargs)


def test_bins_may_be_a_numpy_integer():
    # np.int64(5) was refused ("need bins >= 1"): isinstance(bins, int) only
    assert RunningStats(bins=np.int64(5)).counts.shape == (5,)


@pytest.mark.parametrize("x, error, match", [
    (None, TypeError, "x.dtype must be float32 or float64"),  # was an AttributeError
    (np.ones(3, np.int64), TypeError, "x.dtype must be float32 or float64"),  # no signature
    (np.ones(3, np.float16), TypeError, "x.dtype must be float32 or float64"),
])
def test_add_rejects_what_is_no_float_array(x, error, match):
    with pytest.raises(error, match=match):
        RunningStats().add(x)


def test_add_takes_a_list_of_floats():
    stats = RunningStats()
    stats.add([0.25, 0.5])  # was an AttributeError ('list' object has no attribute 'reshape')
    assert stats.as_dict()["count"] == 2 and stats.as_dict()["mean"] == 0.375


def test_add_takes_a_strided_view():
    # a (3, 4)[:, ::2] view flattens to a strided view, which the kernel refused
    # ("ndarray is not C-contiguous"); it is copied
    x = np.arange(12.0).reshape(3, 4) / 12
    a, b = RunningStats(bins=4), RunningStats(bins=4)
    a.add(x[:, ::2])
    b.add(x[:, ::2].copy())
    np.testing.assert_array_equal(a.as_dict()["hist_counts"], b.as_dict()["hist_counts"])
    assert a.as_dict()["count"] == 6


def test_net_record_stats_names_its_range_arguments():
    from fastnet import MultiLayerNet

    net = MultiLayerNet(4, [5], 3, seed=0)
    with pytest.raises(TypeError, match="activation_range low must be a real number"):
        net.record_stats(activation_range=("a", 1))
    with pytest.raises(ValueError, match="gradient_range high must be finite"):
        net.record_stats(gradient_range=(0, np.inf))


# -- the kernel against its NumPy twin, value by value --------------------------------------
# Bin counts cover both ways of counting (by comparison up to 62 bins, by
# scatter above), the stack and heap sub-histograms (> 254 bins); sizes cover
# whole and partial blocks (1024 values) and byte vectors (64).
RANGES = [(0.0, 1.0), (-0.01, 0.01), (-1.0, 1.0), (0.1, 0.7), (1 / 3, 14 / 3),
          (1e8, 1e8 + 1e-3), (0.5, 0.5000001), (-1e30, 1e30), (0.0, 1e-30)]


def _awkward(edges, dtype, rng, size):
    """Values on every edge and one ulp (of ``dtype``) either side, the thresholds and
    their neighbours, zeros, NaN, infinities and values around the range, shuffled."""
    with np.errstate(over="ignore", invalid="ignore"):
        on = np.concatenate([edges, [0.1, 0.9]]).astype(dtype)
        lo, hi = edges[0], edges[-1]
        spread = rng.uniform(lo - (hi - lo) / 4, hi + (hi - lo) / 4, size)
    x = np.concatenate([on, np.nextafter(on, dtype(np.inf)), np.nextafter(on, dtype(-np.inf)),
                        [0.0, -0.0, np.nan, np.inf, -np.inf], spread.astype(dtype)])
    rng.shuffle(x)
    return x.astype(dtype)


def _both(x, edges, below, above, splits=()):
    """Run kernel and reference over ``x`` cut at ``splits``: [(counts, totals), ...]."""
    results = []
    for ops in (fk, ref):
        counts, totals = np.zeros(len(edges) - 1, np.int64), np.zeros(5)
        for part in np.split(x, splits):
            with np.errstate(invalid="ignore", over="ignore"):
                ops.accumulate_stats_(part, edges, counts, totals, below, above)
        results.append((counts, totals))
    return results


def _assert_same(got, want, x):
    """Histogram, count, zeros and saturated equal; mean and M2 within the
    float64 summation error of either (both sum in float64, in another
    order): the mean to 1e-12 of the largest |x|, M2 relatively to the
    square of the means' difference (~u |mean|) against the variance."""
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1][[0, 3, 4]], want[1][[0, 3, 4]])
    scale = float(np.max(np.abs(x.astype(np.float64))))
    np.testing.assert_allclose(got[1][1], want[1][1], rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(got[1][2], want[1][2], rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bins", [1, 2, 7, 30, 62, 63, 100, 300])
@pytest.mark.parametrize("value_range", RANGES)
def test_kernel_bins_exactly_as_numpy(rng, dtype, bins, value_range):
    edges = np.linspace(*value_range, bins + 1)
    x = _awkward(edges, dtype, rng, 1500)
    finite = x[np.isfinite(x)]
    got, want = _both(finite, edges, 0.1, 0.9, splits=[7, 1100])
    _assert_same(got, want, finite)
    # with NaN and infinities only the counts can be compared (the moments are NaN);
    # without thresholds the infinities are what is saturated
    for below, above in ((0.1, 0.9), (-np.inf, np.inf)):
        got, want = _both(x, edges, below, above, splits=[1100])
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1][[0, 3, 4]], want[1][[0, 3, 4]])
    assert want[1][4] == np.count_nonzero(np.isinf(x))


# 300,000 values: the one-hot counters (up to 30 bins; 16 lanes, each holding up
# to 16 * 255 + 15 per bin) are read out and emptied mid-call, every ~64k values;
# the ~130k values of bin 0 would overflow them otherwise.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 63, 64, 65, 1023, 1024, 1025, 3000, 300_000])
def test_kernel_block_boundaries(rng, dtype, size):
    x = np.maximum(rng.standard_normal(size), 0).astype(dtype)  # ReLU-like: half on edge 0
    x[::7] = 1.0  # on the last edge
    for bins, below, above in ((30, 0.01, 0.99), (100, -np.inf, np.inf)):
        got, want = _both(x, np.linspace(0, 1, bins + 1), below, above)
        _assert_same(got, want, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_uneven_and_repeated_edges(rng, dtype):
    x = _awkward(np.linspace(0, 1, 11), dtype, rng, 2000)
    x = x[np.isfinite(x)]  # finite, so the moments compare too
    for edges in (np.geomspace(1e-3, 1, 12),           # uneven: every value compared
                  np.array([0.0, 0.25, 0.5, 0.5, 1.0]),  # an empty bin [0.5, 0.5)
                  np.array([0.0, 0.5, 1.0, 1.0])):      # the last bin [1, 1] holds the 1s
        got, want = _both(x, edges, -np.inf, np.inf)
        _assert_same(got, want, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturation_thresholds_compare_exactly(dtype):
    # 0.1 is not a float32: the float32 neighbours of 0.1 fall on either side of it
    below = np.float64(0.1)
    near = np.array([np.nextafter(dtype(below), dtype(-1)), dtype(below),
                     np.nextafter(dtype(below), dtype(1))], dtype)
    for ops in (fk, ref):
        counts, totals = np.zeros(2, np.int64), np.zeros(5)
        ops.accumulate_stats_(near, np.linspace(0, 1, 3), counts, totals, below, 0.9)
        assert totals[4] == np.count_nonzero(near.astype(np.float64) <= below)


def test_kernel_empty_array_changes_nothing():
    for dtype in DTYPES:
        counts, totals = np.zeros(3, np.int64), np.array([2.0, 0.5, 0.1, 1.0, 0.0])
        fk.accumulate_stats_(np.zeros(0, dtype), np.linspace(0, 1, 4), counts, totals, 0.1, 0.9)
        np.testing.assert_array_equal(counts, 0)
        np.testing.assert_array_equal(totals, [2.0, 0.5, 0.1, 1.0, 0.0])


def test_kernel_rejects_mismatched_buffers():
    x, totals = np.zeros(4), np.zeros(5)
    with pytest.raises(ValueError, match="edges needs B \\+ 1 >= 2 values and counts B"):
        fk.accumulate_stats_(x, np.zeros(1), np.zeros(0, np.int64), totals, 0.1, 0.9)
    with pytest.raises(ValueError, match="got 4 edges and 2 counts"):
        fk.accumulate_stats_(x, np.linspace(0, 1, 4), np.zeros(2, np.int64), totals, 0.1, 0.9)
    with pytest.raises(ValueError, match="totals needs 5 values"):
        fk.accumulate_stats_(x, np.linspace(0, 1, 4), np.zeros(3, np.int64), np.zeros(4), 0, 1)
