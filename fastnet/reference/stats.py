"""Running statistics in NumPy (reference for csrc/stats.pyx)."""
import numpy as np


def accumulate_stats_(x, edges, counts, totals, saturated_below, saturated_above):
    """Add the statistics of flat ``x`` into ``counts`` (histogram over ``edges``)
    and ``totals`` = [count, mean, M2, zeros, saturated], in place."""
    n = x.size
    if n == 0:
        return
    mean = float(np.mean(x, dtype=np.float64))
    m2 = float(np.sum((x.astype(np.float64) - mean) ** 2))
    counts += np.histogram(x[~np.isnan(x)], bins=edges)[0]
    total_n = totals[0] + n
    delta = mean - totals[1]
    totals[2] += m2 + delta * delta * totals[0] * n / total_n
    totals[1] += delta * n / total_n
    totals[0] = total_n
    totals[3] += np.count_nonzero(x == 0)
    # Compared as float64 scalars, so exactly (a float32 x is not rounded to them).
    below, above = np.float64(saturated_below), np.float64(saturated_above)
    totals[4] += np.count_nonzero((x <= below) | (x >= above))
