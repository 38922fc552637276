"""Forward products split by rows (#10): an affine layer's forward with the split on and off.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/row_split.py [--sweep] [--rounds 11]

``steps``: net T (784-100x4-10, batch 100; also batch 32 and 256), its float64
twin, net T + BN with Adam, net T's ``predict`` and net W (784-1024-1024-10,
batch 512), the split on (``set_row_split`` at its default range) and off,
alternated round by round in one process; median us per call.

``--sweep``: ``fastnet.kernels.affine_forward`` (identity activation) over
n 32-384, d 32-784, m 32-512 (n * d * m <= 64M), float32 and float64, on and
off, median of 7 blocks each; prints one line per shape, then the geometric
mean gain of the shapes the rule splits (and, as a noise estimate, of the others,
which run the same code on and off) and the slowest split shapes.
"""
import argparse
import itertools
import math
import time

import numpy as np

import fastnet
import fastnet.kernels as fk
from fastnet._kernels import threads
from fastnet.optim import make_optimizer
from harness import block_seconds

ON = (threads.SPLIT_MIN, threads.SPLIT_MAX)
OFF = (0, 0)
T = [784, 100, 100, 100, 100, 10]


def _step(sizes, n, dtype, batchnorm=False, optimizer="sgd", predict=False):
    net = fastnet.MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1], seed=0,
                                      use_batchnorm=batchnorm, dtype=dtype)
    opt = make_optimizer(optimizer, lr=0.01)
    rng = np.random.default_rng(0)
    x = rng.random((n, sizes[0])).astype(dtype)
    t = rng.integers(0, sizes[-1], n)
    if predict:
        return lambda: net.predict(x)
    return lambda: opt.update(net.params, net.gradient(x, t))


def steps(rounds):
    cases = {
        "net T SGD step float32": (_step(T, 100, np.float32), 150),
        "net T SGD step float64": (_step(T, 100, np.float64), 100),
        "net T + BN Adam step float32": (_step(T, 100, np.float32, True, "adam"), 150),
        "net T predict float32": (_step(T, 100, np.float32, predict=True), 300),
        "net T SGD step float32, batch 32": (_step(T, 32, np.float32), 300),
        "net T SGD step float32, batch 256": (_step(T, 256, np.float32), 100),
        "net W SGD step float32": (_step([784, 1024, 1024, 10], 512, np.float32), 10),
    }
    times = {name: {"off": [], "on": []} for name in cases}
    for r in range(rounds):
        for mode in (("on", "off") if r % 2 else ("off", "on")):
            threads.set_row_split(*(ON if mode == "on" else OFF))
            for name, (run, reps) in cases.items():
                for _ in range(3):
                    run()
                time.sleep(0.05)
                times[name][mode].append(block_seconds(run, reps))
    threads.set_row_split(*ON)
    print(f"| work (median of {rounds} rounds) | split off | split on | gain |")
    print("|---|---|---|---|")
    for name, t in times.items():
        off, on = np.median(t["off"]), np.median(t["on"])
        print(f"| {name} | {off * 1e6:,.1f} us | {on * 1e6:,.1f} us | {off / on:.2f}x |")


def _median_time(run, reps):
    for _ in range(3):
        run()
    return float(np.median([block_seconds(run, reps) for _ in range(7)]))


def sweep():
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        for n, d, m in itertools.product((32, 64, 100, 128, 200, 256, 384),
                                         (32, 64, 100, 128, 256, 512, 784),
                                         (32, 50, 64, 100, 128, 200, 256, 512)):
            work = n * d * m
            if work > 64_000_000:
                continue
            x = rng.random((n, d)).astype(dtype)
            W = rng.random((d, m)).astype(dtype)
            b = np.zeros(m, dtype)
            out = np.empty((n, m), dtype)
            reps = max(3, 10_000_000 // work)
            took = {}
            for mode, setting in (("off", OFF), ("on", ON)):
                threads.set_row_split(*setting)
                took[mode] = _median_time(lambda: fk.affine_forward(x, W, b, out), reps)
            threads.set_row_split(*ON)
            gain = took["off"] / took["on"]
            split = threads.SPLIT_MIN <= work <= threads.SPLIT_MAX and n >= 32 and d >= 64
            rows.append((np.dtype(dtype).name, n, d, m, work, split, gain))
            print(f"{rows[-1][0]} {n}x{d}x{m} split={split} off {took['off'] * 1e6:.1f} us "
                  f"on {took['on'] * 1e6:.1f} us gain {gain:.2f}", flush=True)
    for split in (True, False):
        gains = [r[6] for r in rows if r[5] == split]
        if gains:
            mean = math.exp(sum(map(math.log, gains)) / len(gains))
            label = "split" if split else "outside the rule (the same code both times: noise)"
            print(f"{label}: {len(gains)} shapes, geometric mean "
                  f"{mean:.3f}x, {sum(g > 1.1 for g in gains)} faster by > 10%, "
                  f"{sum(g < 0.9 for g in gains)} slower by > 10%")
    worst = sorted((r for r in rows if r[5]), key=lambda r: r[6])[:5]
    print("slowest split shapes:", ", ".join(f"{r[0]} {r[1]}x{r[2]}x{r[3]} {r[6]:.2f}x"
                                             for r in worst))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    info = fastnet.build_info()
    print(f"OpenBLAS kernel {info['blas'].get('kernel')}, {info['threads']} threads, "
          f"split range {info['forward_split_range']}; "
          f"{time.strftime('%H:%M UTC', time.gmtime())}")
    if info["forward_split_range"] is None:
        print("nothing is split here (one thread, or OpenBLAS keeps its own pool)")
        return
    steps(args.rounds)
    if args.sweep:
        sweep()


if __name__ == "__main__":
    main()
