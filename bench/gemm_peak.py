"""How fast the BLAS fastnet calls multiplies matrices here: the bound on any training step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/gemm_peak.py [--rounds 9]

prints GFLOP/s (2 flops per multiply-add) of float32 GEMMs through
``fastnet.kernels.gemm`` on one BLAS thread and on all of them: a large
square product (1024^3, the machine's practical peak), then each net's step
GEMMs (its GEMM floor, as in bench/cases_core.py: forward ``h @ W``,
backward ``h.T @ da`` and, except the first layer, ``da @ W.T``), and what a
step time that is a given multiple faster than a reference would demand of
them. Median of ``rounds`` blocks of at least 0.2 s each.
"""
import argparse
import math

import numpy as np
from harness import block_seconds
from steps import NETS
from threadpoolctl import threadpool_limits

import fastnet
from fastnet.kernels import gemm


def _median_seconds(fn, rounds):
    fn()
    n = max(1, math.ceil(0.2 / block_seconds(fn, 1)))
    return float(np.median([block_seconds(fn, n) for _ in range(rounds)]))


def square(size):
    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    c = np.empty((size, size), np.float32)
    return (lambda: gemm(a, b, c)), size ** 3


def step_gemms(sizes, n):
    """The step's GEMMs as one callable, and their multiply-adds."""
    rng = np.random.default_rng(0)
    hs = [rng.random((n, s), dtype=np.float32) for s in sizes]
    Ws = [rng.random((a, b), dtype=np.float32) for a, b in zip(sizes, sizes[1:])]
    dWs = [np.empty_like(W) for W in Ws]
    dhs = [np.empty_like(h) for h in hs]

    def run():
        for i, W in enumerate(Ws):
            gemm(hs[i], W, hs[i + 1])
        for i in reversed(range(len(Ws))):
            gemm(hs[i], hs[i + 1], dWs[i], trans_a=True)
            if i:
                gemm(hs[i + 1], Ws[i], dhs[i], trans_b=True)
    macs = sum(n * a * b * (3 if i else 2) for i, (a, b) in enumerate(zip(sizes, sizes[1:])))
    return run, macs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    info = fastnet.build_info()
    cores = info["threads"]
    print(f"{info['blas']['name']}, kernel {info['blas']['kernel']}, {cores} cores")
    work = {"1024^3": square(1024)}
    work.update({f"net {name} step GEMMs": step_gemms(*NETS[name]) for name in NETS})
    for label, (fn, macs) in work.items():
        for threads in (1, cores):
            with threadpool_limits(limits=threads, user_api="blas"):
                seconds = _median_seconds(fn, args.rounds)
            gflops = 2 * macs / seconds / 1e9
            print(f"{label}, {threads} thread(s): {seconds * 1e3:.3f} ms, {gflops:.0f} GFLOP/s "
                  f"({gflops / threads:.0f} per thread), {macs / 1e6:,.0f}M multiply-adds")


if __name__ == "__main__":
    main()
