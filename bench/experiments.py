"""End-to-end time of every ``fastnet experiment`` on the compiled kernels and on their NumPy twins.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/experiments.py
    python bench/experiments.py --rounds 1 --only batchnorm overfit --out /tmp/e.md
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python bench/experiments.py --only lstm --clock cpu

Each experiment's ``run(backend=...)`` (the command's default sizes, no
output files) runs once per round for ``backend='compiled'`` and
``backend='reference'``, in alternating order (one that takes under 0.2 s,
repeatedly for 0.2 s, its mean taken); the table gives the median
seconds and the ratio reference / compiled (> 1: fastnet is faster);
``--clock cpu`` times the process's CPU seconds instead of wall seconds,
the measure that survives a shared machine when run on one thread (with
more threads it also counts time spent waiting). Then
``fastnet train --quiet`` (its defaults, on whatever data it finds: the
packaged sample offline) is timed as a user runs it, in a fresh process.
Not part of the pytest benchmark suite: a run takes several minutes.
"""
import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import time

from fastnet import build_info
from fastnet.experiments import EXPERIMENTS, get_experiment

BACKENDS = ("compiled", "reference")


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


# An experiment faster than this is run again until this much time has passed, and
# the mean is taken: one run of optimizer-paths (~0.5 ms) is within the clock's jitter.
MIN_SECONDS = 0.2


def seconds_of(name, backend, seed, clock="wall"):
    """Seconds (``clock``: 'wall' or 'cpu') of one run of experiment ``name``
    (its printed table discarded): the mean of as many runs as fill ``MIN_SECONDS``."""
    module = get_experiment(name)
    now = CLOCKS[clock]
    runs = 0
    started = now()
    while True:
        with contextlib.redirect_stdout(io.StringIO()):
            module.run(seed=seed, backend=backend)
        runs += 1
        elapsed = now() - started
        if elapsed >= MIN_SECONDS:
            return elapsed / runs


def train_seconds():
    """Wall seconds of ``fastnet train --quiet`` in a new process (start-up included).

    ``-I`` keeps the current directory off ``sys.path``: run from the source
    tree, ``-m fastnet`` would otherwise import the uncompiled ``fastnet/``
    there instead of the installed package.
    """
    started = time.perf_counter()
    subprocess.run([sys.executable, "-I", "-m", "fastnet", "train", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _seconds(t):
    return f"{t:.2f} s" if t >= 0.1 else f"{t * 1e3:.2f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=None,
                        help="time these experiments only")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="time the experiments in wall or process CPU seconds")
    args = parser.parse_args(argv)
    names = args.only or list(EXPERIMENTS)
    times = {(name, b): [] for name in names for b in BACKENDS}
    for r in range(args.rounds):
        for name in names:
            for backend in (BACKENDS if r % 2 == 0 else BACKENDS[::-1]):
                times[name, backend].append(seconds_of(name, backend, seed=r, clock=args.clock))
                print(f"round {r + 1}: {name} {backend}: {times[name, backend][-1]:.2f} s",
                      file=sys.stderr)
    train = [train_seconds() for _ in range(args.rounds)]
    blas = build_info()["blas"]
    lines = [f"End-to-end experiments, median of {args.rounds} rounds, {args.clock} seconds "
             f"(default sizes; BLAS: "
             f"{blas['name']}, kernel {blas['kernel']}, {blas['num_threads']} threads; SIMD: "
             f"{build_info()['simd']})", "",
             "| experiment | compiled | reference | reference / compiled |", "|---|---|---|---|"]
    for name in names:
        fast = statistics.median(times[name, "compiled"])
        slow = statistics.median(times[name, "reference"])
        lines.append(f"| {name} | {_seconds(fast)} | {_seconds(slow)} | {slow / fast:.2f}x |")
    lines += ["", f"`fastnet train --quiet` (defaults, new process): "
                  f"{statistics.median(train):.1f} s (median of {args.rounds})"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
