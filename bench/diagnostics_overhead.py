"""What recording diagnostics costs in a net T SGD step, for comparing two builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python bench/diagnostics_overhead.py LABEL
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/diagnostics_overhead.py --wall LABEL

Net T (784-100x4-10 ReLU, batch 100, float32), ``opt.update(net.params,
net.gradient(x, t))`` with SGD: 9 interleaved rounds of 200 steps each of
three nets: recording off, recording on (the statistics added inside the
compiled pass), and recording on through the per-layer path
(``net._use_program = False``: the hooks between Python-level layer calls);
medians per step. Times are the main thread's CPU time
(``time.thread_time``), so other processes on a shared machine do not
count; run it with one BLAS thread, whose CPU time is the whole step's.
``--wall``: wall time instead (``time.perf_counter``), for a run on every
thread as users run it (the step's work spread over both cores, which CPU
time of the main thread would not show); noisier on a shared machine. Run
it alternately with another build first on PYTHONPATH to compare builds.
"""
import argparse
import time

import numpy as np

import fastnet
from fastnet.optim import make_optimizer

CASES = ("off", "on", "on, per-layer path")


def main(label, rounds=9, reps=200, clock=time.thread_time):
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(np.float32)
    t = rng.integers(0, 10, 100)
    nets = {k: fastnet.MultiLayerNetExtend(784, [100] * 4, 10, seed=0) for k in CASES}
    for k in CASES[1:]:
        nets[k].record_stats()
    nets[CASES[2]]._use_program = False
    opts = {k: make_optimizer("sgd", lr=0.01) for k in nets}
    for k, net in nets.items():
        for _ in range(5):
            opts[k].update(net.params, net.gradient(x, t))
    times = {k: [] for k in nets}
    for r in range(rounds):
        for k in CASES[r % 3:] + CASES[:r % 3]:
            net, opt = nets[k], opts[k]
            start = clock()
            for _ in range(reps):
                opt.update(net.params, net.gradient(x, t))
            times[k].append((clock() - start) / reps)
    off, on, per_layer = (np.median(times[k]) for k in CASES)
    print(f"{label}: step {off * 1e6:.0f} us off, {on * 1e6:.0f} us on: recording "
          f"{(on - off) * 1e6:+.0f} us ({(on / off - 1) * 100:+.0f}%); through the per-layer "
          f"path {per_layer * 1e6:.0f} us ({(per_layer / off - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", nargs="?", default="this build")
    parser.add_argument("--wall", action="store_true", help="wall time, not CPU time")
    args = parser.parse_args()
    main(args.label, clock=time.perf_counter if args.wall else time.thread_time)
