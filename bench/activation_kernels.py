"""``activation_forward`` compiled vs reference: microseconds per call on 10^5 values.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 \\
        python bench/activation_kernels.py

For each activation and dtype, both backends write into the same
preallocated output (the reference's NumPy expressions still allocate their
temporaries), inputs N(0, 9); the median of ``--rounds`` timed calls after
one untimed call, and reference / compiled (> 1: fastnet is faster). To
compare two builds, run the command again with the other build first on
``PYTHONPATH``.
"""
import argparse
import statistics
import time

import numpy as np

from fastnet import kernels, reference
from fastnet._activation import REGISTRY

NAMES = ("sigmoid", "tanh", "silu", "gelu_tanh", "relu")


def per_call_us(ops, x, out, code, rounds):
    ops.activation_forward(x, out, code, 0.0)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        ops.activation_forward(x, out, code, 0.0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"activation_forward on {args.size} values, median us per call of {args.rounds}")
    print("| activation | dtype | compiled | reference | reference / compiled |")
    print("|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal(args.size) * 3).astype(dtype)
        out = np.empty_like(x)
        for name in NAMES:
            code = REGISTRY[name].code
            fast = per_call_us(kernels, x, out, code, args.rounds)
            slow = per_call_us(reference, x, out, code, args.rounds)
            print(f"| {name} | {np.dtype(dtype).name} | {fast:.1f} | {slow:.1f} | "
                  f"{slow / fast:.2f}x |")


if __name__ == "__main__":
    main()
