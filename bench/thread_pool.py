"""Thread-pool configurations compared: which pool runs GEMMs, and whether element-wise kernels go parallel.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/thread_pool.py [--rounds 5] [--repeats 2]

Each configuration runs in its own interpreter (the BLAS callback is
process-wide and set at import), and the configurations alternate
``--repeats`` times. In each interpreter:

1. a NumPy matmul and a torch training step are timed *before* fastnet is
   imported;
2. fastnet is imported and its workloads timed (training steps, optimizer
   updates, batch norm);
3. the NumPy matmul and torch step are timed again, after the fastnet steps,
   to show whether using fastnet slowed the other libraries in the process.

Configurations: ``FASTNET_BLAS_THREADS=openblas`` keeps OpenBLAS's own
pthreads; otherwise OpenBLAS's parallel sections run on fastnet's OpenMP
threads. "serial"/"parallel" is the element-wise kernels' setting
(``set_parallel``). Prints two tables of medians per call: wall time (ms)
and the process's CPU time (ms, all threads: a thread spin-waiting for work
counts, so CPU time shows the pools' fight even when the machine is shared
and wall times are noisy).
"""
import time
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "OpenBLAS pool, element-wise serial": ({"FASTNET_BLAS_THREADS": "openblas"}, "serial"),
    "OpenBLAS pool, element-wise parallel": ({"FASTNET_BLAS_THREADS": "openblas"}, "parallel"),
    "one pool, element-wise serial": ({}, "serial"),
    "one pool, element-wise parallel": ({}, "parallel"),
}


def _child(mode, rounds):
    sys.path.insert(0, str(HERE))
    import numpy as np

    import harness
    torch = harness.import_torch()
    a = np.random.default_rng(0).random((512, 1024), dtype=np.float32)
    b = np.random.default_rng(1).random((1024, 1024), dtype=np.float32)
    s = np.random.default_rng(2).random((100, 100), dtype=np.float32)

    def others():
        impls = {"numpy matmul 512x1024x1024": lambda: lambda: a @ b,
                 "numpy matmul 100x100x100": lambda: lambda: s @ s}
        if torch is not None:
            from steps import NETS, torch_step
            impls["torch net T SGD step"] = torch_step(*NETS["T"], np.float32, "sgd")
        return impls

    def timed(impls, suffix):
        """{name: (median wall s, median CPU s) per call}, rounds interleaved as in harness."""
        fns = {name: factory() for name, factory in impls.items()}
        for fn in fns.values():
            fn()
        counts = {name: harness._calibrate(fn, 0.05) for name, fn in fns.items()}
        walls = {name: [] for name in fns}
        cpus = {name: [] for name in fns}
        names = list(fns)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                fn, n = fns[name], counts[name]
                time.sleep(harness.PAUSE)
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(n):
                    fn()
                walls[name].append((time.perf_counter() - w0) / n)
                cpus[name].append((time.process_time() - c0) / n)
        return {k + suffix: (statistics.median(walls[k]), statistics.median(cpus[k])) for k in fns}

    out = timed(others(), " (before fastnet)")
    import fastnet.kernels as fk  # noqa: F401  (installs the BLAS callback unless told not to)
    from fastnet._kernels import threads
    from steps import NETS, fastnet_step
    threads.set_parallel(min_size=threads.PARALLEL_MIN_SIZE if mode == "parallel"
                         else threads.SERIAL)
    rng = np.random.default_rng(0)

    def adam(n):
        def factory():
            p, g = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
            m, v = np.zeros_like(p), np.zeros_like(p)
            return lambda: fk.adam_update_(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1.0, 0.0, 1.0)
        return factory

    impls = {f"fastnet net {k} {o} step": fastnet_step(*NETS[k], np.float32, o)
             for k, o in (("T", "sgd"), ("T", "adam"), ("W", "adam"))}
    impls["fastnet net T BN Adam step"] = fastnet_step(*NETS["T"], np.float32, "adam",
                                                       batchnorm=True)
    impls["fastnet Adam 10^6"] = adam(10 ** 6)
    impls["fastnet Adam 10^7"] = adam(10 ** 7)
    out.update(timed(impls, ""))
    out.update(timed(others(), " (after fastnet)"))
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=["serial", "parallel"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.rounds)
    results = {name: [] for name in CONFIGS}
    for r in range(args.repeats):
        names = list(CONFIGS) if r % 2 == 0 else list(reversed(CONFIGS))
        for name in names:
            env_extra, mode = CONFIGS[name]
            env = {k: v for k, v in os.environ.items() if k != "FASTNET_BLAS_THREADS"}
            env.update(env_extra)
            run = subprocess.run([sys.executable, __file__, "--child", mode,
                                  "--rounds", str(args.rounds)],
                                 env=env, cwd="/", check=True, capture_output=True, text=True)
            results[name].append(json.loads(run.stdout.strip().splitlines()[-1]))
    workloads = list(results[next(iter(CONFIGS))][0])
    for column, title in ((0, "wall time"), (1, "CPU time, all threads")):
        print(f"\n| {title} (ms per call, median) | " + " | ".join(CONFIGS) + " |")
        print("|---" * (len(CONFIGS) + 1) + "|")
        for w in workloads:
            cells = [f"{statistics.median(run[w][column] for run in results[c]) * 1e3:.3f}"
                     for c in CONFIGS]
            print(f"| {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
