"""Trials per minute of the textbook's hyperparameter search, fastnet vs reference nets.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/tune_throughput.py
    python bench/tune_throughput.py --trials 4 --epochs 5 --rounds 1 --out /tmp/t.md

The textbook's setting (section 6.5: the first 500 MNIST training samples, 20 %
validation, 784-100x6-10 ReLU, SGD, batch 100, lr ~ 10^U(-6,-2), weight decay ~
10^U(-8,-4)) scaled down to ``--trials`` trials of ``--epochs`` epochs, through
:func:`fastnet.tune.random_search` with ``tune.MLP(backend=...)`` for the
compiled kernels and for their NumPy twins (``backend='reference'``), at
``n_jobs`` 1 (in this process, with its BLAS threads) and 2 (two spawned
workers of ``cores // 2`` threads each, their start-up included). Each
configuration runs once per round, in rotating order; the table gives the
median trials per minute and the spread over rounds. Not part of the pytest
benchmark suite: a run takes minutes.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

from fastnet import blas_info, tune
from fastnet.datasets import load_mnist_or_sample
from fastnet.experiments.hyperparam import SPACE

CONFIGS = [("compiled", 1), ("reference", 1), ("compiled", 2), ("reference", 2)]


def one_run(data, backend, n_jobs, trials, epochs, seed):
    """Seconds for one search of ``trials`` trials."""
    x, t = data
    build = tune.MLP(784, [100] * 6, 10, optimizer="sgd", backend=backend)
    started = time.perf_counter()
    tune.random_search(build, SPACE, x, t, n_trials=trials, epochs=epochs, batch_size=100,
                       seed=seed, n_jobs=n_jobs)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args(argv)
    (x, t), _, source = load_mnist_or_sample(normalize=True)
    data = (x[:500], t[:500])
    per_config = {c: [] for c in CONFIGS}
    for r in range(args.rounds):
        order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
        for backend, n_jobs in order:
            seconds = one_run(data, backend, n_jobs, args.trials, args.epochs, seed=r)
            per_config[(backend, n_jobs)].append(args.trials / seconds * 60)
            print(f"round {r + 1}: {backend:9s} n_jobs={n_jobs}: "
                  f"{per_config[(backend, n_jobs)][-1]:.1f} trials/min", file=sys.stderr)
    lines = [f"Hyperparameter search throughput: {args.trials} trials x {args.epochs} epochs "
             f"of the textbook's setting ({source}; first 500 samples), median of "
             f"{args.rounds} rounds; BLAS: {blas_info()['name']}", "",
             "| nets | n_jobs | trials/min (median) | min - max |", "|---|---|---|---|"]
    for (backend, n_jobs), rates in per_config.items():
        lines.append(f"| {backend} | {n_jobs} | {statistics.median(rates):.1f} | "
                     f"{min(rates):.1f} - {max(rates):.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
