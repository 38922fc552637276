"""The experiments that train nets side by side (#15): as one NetBatch, and one net at a time.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/netbatch_experiments.py
    python bench/netbatch_experiments.py --rounds 1 --only batchnorm

Each experiment's ``run()`` (the command's default sizes, no output files)
runs once per round as shipped, its nets trained as one ``NetBatch`` step
per mini-batch, and once with the batch's members run one by one: the one
function through which a NetBatch trains its members
(``fastnet.netbatch._member_gradients``) replaced by the loop a script
would write, ``optimizer.update(net.params, net.gradient(x, t))`` per net,
each net on every BLAS thread. Everything else (data, batches, evaluation,
output) is the same code, and so are the numbers (to the dtype's tolerance:
tests/test_experiments_netbatch.py). The two alternate in order; the table
gives median seconds and the ratio one-by-one / NetBatch (> 1: the batch is
faster).
"""
import argparse
import statistics
import sys

from experiments import seconds_of

import fastnet.netbatch
from fastnet import build_info

#: The experiments whose nets train as one NetBatch (hyperparam: only with batch_trials).
NAMES = ("batchnorm", "optimizer-compare", "init-compare", "overfit", "ensemble")
MODES = ("netbatch", "one by one")


def _one_by_one(nets, xs, ts, optimizers=None):
    grads = [net.gradient(x, t) for net, x, t in zip(nets, xs, ts)]
    if optimizers is not None:
        for net, opt, g in zip(nets, optimizers, grads):
            opt.update(net.params, g)
    return grads


def timed(name, mode, seed):
    """Seconds of one run of experiment ``name`` in ``mode``."""
    shipped = fastnet.netbatch._member_gradients
    if mode == "one by one":
        fastnet.netbatch._member_gradients = _one_by_one
    try:
        return seconds_of(name, "compiled", seed)
    finally:
        fastnet.netbatch._member_gradients = shipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=NAMES, default=None)
    args = parser.parse_args(argv)
    names = args.only or list(NAMES)
    times = {(name, mode): [] for name in names for mode in MODES}
    for r in range(args.rounds):
        for name in names:
            for mode in (MODES if r % 2 == 0 else MODES[::-1]):
                times[name, mode].append(timed(name, mode, seed=r))
                print(f"round {r + 1}: {name} {mode}: {times[name, mode][-1]:.2f} s",
                      file=sys.stderr)
    blas = build_info()["blas"]
    print(f"Experiments, NetBatch vs one net at a time, median of {args.rounds} rounds (default "
          f"sizes; BLAS: {blas['name']}, kernel {blas['kernel']}, {blas['num_threads']} threads; "
          f"SIMD: {build_info()['simd']})\n")
    print("| experiment | NetBatch | one by one | one by one / NetBatch |\n|---|---|---|---|")
    for name in names:
        batch = statistics.median(times[name, "netbatch"])
        alone = statistics.median(times[name, "one by one"])
        print(f"| {name} | {batch:.2f} s | {alone:.2f} s | {alone / batch:.2f}x |")


if __name__ == "__main__":
    main()
