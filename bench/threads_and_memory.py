"""Two nets trained in two threads at once vs one after the other; a training step's peak memory.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/threads_and_memory.py

Overlap: wall time of training net T (200 SGD steps) in two threads at once,
over the time of the same two trainings one after the other (0.5 = perfect
overlap, 1.0 = none), median of 5 rounds. Memory: the peak of NumPy's
allocations (tracemalloc) during one net T / net W step after warm-up, beside
the parameters' own size.
"""
import threading
import time
import tracemalloc

import numpy as np

import fastnet
from fastnet.optim import SGD

SIZES = {"T": ([784, 100, 100, 100, 100, 10], 100), "W": ([784, 1024, 1024, 10], 512)}


def make(name, seed=0):
    sizes, n = SIZES[name]
    net = fastnet.MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], seed=seed)
    rng = np.random.default_rng(seed)
    return net, SGD(lr=0.01), rng.random((n, sizes[0])).astype(np.float32), rng.integers(0, 10, n)


def train(job, steps):
    net, opt, x, t = job
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))


def overlap(steps=200, rounds=5):
    ratios = []
    for _ in range(rounds):
        jobs = [make("T", s) for s in (1, 2)]
        start = time.perf_counter()
        for job in jobs:
            train(job, steps)
        serial = time.perf_counter() - start
        threads = [threading.Thread(target=train, args=(job, steps)) for job in jobs]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ratios.append((time.perf_counter() - start) / serial)
    return float(np.median(ratios))


def peak_step_memory(name):
    job = make(name)
    train(job, 3)
    tracemalloc.start()
    tracemalloc.reset_peak()
    train(job, 1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    params = sum(p.nbytes for p in job[0].params.values())
    return peak, params


def main():
    print(f"two net T trainings in two threads: {overlap():.2f} of the serial time")
    for name in SIZES:
        peak, params = peak_step_memory(name)
        print(f"net {name} step: peak {peak / 2**20:.2f} MiB of NumPy allocations "
              f"(parameters {params / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
