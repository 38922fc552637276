"""The per-step Python of ``NetBatch.step``: CPU time of the main thread, for comparing builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python bench/netbatch_overhead.py LABEL [--k 8] [--rounds 7] [--nets tiny,T]

For SGD (lr 0.01) and Adam (lr 0.001) batches of k members, on a shared
batch and on per-member batches, prints two CPU times per step (medians of
``rounds`` rounds), measured with ``time.thread_time`` on one thread so
that neither other load on the machine nor OpenMP threads waiting for work
enter them:

- ``tiny``: members 2-2-2 (batch 4), whose arithmetic is nil: the whole
  step is the Python around the compiled call (input checks, each member's
  gradient buffer and update, binding the layers' state after the call);
- ``T outside``: net T members (784-100x4-10, batch 100, float32), the
  step's CPU time minus that spent inside the compiled call
  (``fastnet._kernels.program.run_many``): the same Python at net T's
  sizes, where the arithmetic has evicted its data from the caches. On
  two cores this part runs on one core while the other waits.

``--throughput`` instead times what the Python costs a whole step: net T
members on a shared batch at the default threads (run it without the
one-thread variables), samples x nets per second as the median of 7 rounds
of 20 steps, wall clock; run alternately, many times, on a quiet machine.

Run it alternately with another build first on PYTHONPATH
(``PYTHONPATH=/path/to/old/site python bench/netbatch_overhead.py old``);
bench/RESULTS.md quotes such a comparison.
"""
import argparse
import functools
import os
import statistics
import time

import numpy as np

import fastnet
from fastnet import _program
from harness import block_seconds

NETS = {"tiny": ([2, 2, 2], 4, 2000), "T": ([784, 100, 100, 100, 100, 10], 100, 30)}
OPTIMIZERS = {"sgd": 0.01, "adam": 0.001}


class _InsideTimer:
    """Wraps ``run_many`` to add up the main thread's CPU time spent inside it."""

    def __init__(self, run_many):
        self.run_many, self.seconds = run_many, 0.0

    def __call__(self, *args):
        start = time.thread_time()
        try:
            return self.run_many(*args)
        finally:
            self.seconds += time.thread_time() - start


def per_step(k, net, optimizer, shared, rounds):
    """Median CPU microseconds per step (minus run_many's for net T)."""
    sizes, n, steps = NETS[net]
    batch = fastnet.NetBatch.build(
        k, lambda i, seed: fastnet.MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], seed=seed),
        optimizer, seed=0, lr=OPTIMIZERS[optimizer])
    rng = np.random.default_rng(0)
    pairs = [(rng.random((n, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], n))
             for _ in range(k)]
    x, t = pairs[0] if shared else ([x for x, _ in pairs], [t for _, t in pairs])
    inside = _InsideTimer(_program._compiled.run_many)
    _program._compiled.run_many = inside
    try:
        for _ in range(10):
            batch.step(x, t)
        times = []
        for _ in range(rounds):
            inside.seconds = 0.0
            start = time.thread_time()
            for _ in range(steps):
                batch.step(x, t)
            spent = time.thread_time() - start
            if net != "tiny":
                spent -= inside.seconds
            times.append(spent / steps * 1e6)
    finally:
        _program._compiled.run_many = inside.run_many
    return statistics.median(times)


def throughput(k, optimizer, rounds):
    """Samples x nets per second of ``batch.step(x, t)``, net T members, a shared batch."""
    sizes, n, _ = NETS["T"]
    batch = fastnet.NetBatch.build(
        k, lambda i, seed: fastnet.MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], seed=seed),
        optimizer, seed=0, lr=OPTIMIZERS[optimizer])
    rng = np.random.default_rng(0)
    x, t = rng.random((n, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], n)
    for _ in range(5):
        batch.step(x, t)
    times = [block_seconds(functools.partial(batch.step, x, t), 20) for _ in range(rounds)]
    return n * k / statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("label")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--nets", default="tiny,T", help="comma-separated, of: tiny, T")
    parser.add_argument("--throughput", action="store_true")
    args = parser.parse_args()
    if args.throughput:
        cells = [f"{optimizer} {throughput(args.k, optimizer, args.rounds):,.0f}"
                 for optimizer in OPTIMIZERS]
        print(f"{args.label} k={args.k} net T shared (samples x nets/s): " + "; ".join(cells)
              + f"; load {os.getloadavg()[0]:.2f}")
        return
    cells = []
    for net in args.nets.split(","):
        for optimizer in OPTIMIZERS:
            for shared in (True, False):
                us = per_step(args.k, net, optimizer, shared, args.rounds)
                name = "T outside" if net == "T" else net
                cells.append(f"{name} {optimizer} {'shared' if shared else 'per-net'} {us:.1f}")
    print(f"{args.label} k={args.k} (us per step): " + "; ".join(cells))


if __name__ == "__main__":
    main()
