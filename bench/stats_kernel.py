"""One call of the statistics kernel on the arrays net T records, in CPU time, for comparing builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python bench/stats_kernel.py LABEL

Net T (784-100x4-10 ReLU, batch 100, float32) is trained 20 SGD steps, then
one ``gradient()`` with recording through the per-layer path hands its eight
recorded arrays (each 100 x 100: the four hidden layers' ReLU outputs, over
(0, 1), and the gradients arriving at them, over (-0.01, 0.01); 30 bins, no
saturation) to ``RunningStats.add``, which keeps copies here. Each row times
``fastnet.kernels.accumulate_stats_`` on the four arrays of a kind as the net
records them (float32, 30 bins), then as float64, then with 62 and 100 bins
over the same range: 9 interleaved rounds of 500 calls per array, the median
per call. Times are the thread's CPU time, and include the Python call
(~0.9 us of the total, which a compiled pass does not pay). Run it
alternately with another build first on PYTHONPATH, and with
``FASTNET_SIMD=avx2`` or ``baseline``, to compare.
"""
import sys
import time

import numpy as np

import fastnet
import fastnet.kernels as fk
from fastnet import diagnostics
from fastnet.optim import make_optimizer


def recorded_arrays():
    """[(kind, x, edges)] of one net T step: the arrays its recorder receives."""
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(np.float32)
    t = rng.integers(0, 10, 100)
    net = fastnet.MultiLayerNetExtend(784, [100] * 4, 10, seed=0)
    opt = make_optimizer("sgd", lr=0.01)
    for _ in range(20):
        opt.update(net.params, net.gradient(x, t))
    net.record_stats()
    net._use_program = False  # the hooks see each array as a Python object
    seen = []
    add = diagnostics.RunningStats.add
    diagnostics.RunningStats.add = lambda stats, a: seen.append((a.reshape(-1).copy(),
                                                                 stats.edges.copy()))
    try:
        net.gradient(x, t)
    finally:
        diagnostics.RunningStats.add = add
    return [("activations" if k < 4 else "gradients", a, e) for k, (a, e) in enumerate(seen)]


def main(label, rounds=9, reps=500):
    arrays = recorded_arrays()
    cases = {}
    for kind in ("activations", "gradients"):
        mine = [(a, e) for k, a, e in arrays if k == kind]
        cases[f"{kind}, float32, 30 bins"] = mine
        cases[f"{kind}, float64, 30 bins"] = [(a.astype(np.float64), e) for a, e in mine]
        for bins in (62, 100):
            cases[f"{kind}, float32, {bins} bins"] = [
                (a, np.linspace(e[0], e[-1], bins + 1)) for a, e in mine]
    times = {k: [] for k in cases}
    keys = list(cases)
    for r in range(rounds):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            counts, totals = np.zeros(len(cases[k][0][1]) - 1, np.int64), np.zeros(5)
            start = time.thread_time()
            for _ in range(reps):
                for a, e in cases[k]:
                    fk.accumulate_stats_(a, e, counts, totals, -np.inf, np.inf)
            times[k].append((time.thread_time() - start) / (reps * len(cases[k])))
    for k in keys:
        print(f"{label}: {k}: {np.median(times[k]) * 1e6:.2f} us per call")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this build")
