"""``lstm_forward`` compiled vs reference at the lstm experiment's sizes (T = 28, D = 28, H = 64).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python bench/lstm_forward.py --clock cpu
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/lstm_forward.py --clock wall

Each round times every implementation on the same inputs and preallocated
outputs (warm: the first call of each is untimed), in alternating order;
prints the median ms per call and the reference / compiled ratio. ``--clock
cpu`` (process CPU time) is the measure to use on a shared machine with one
thread; with more threads it also counts their waiting. ``--also MODULE``
adds another build's kernel module by import name (e.g. a previous build's
``fastnet._kernels.lstm`` compiled under another name, put on
``PYTHONPATH``) to the same rounds: one thread only; with two threads a
second build's module in the process made every call 10-30x slower
(bench/RESULTS.md, "LSTM forward on large batches (#10)"), so compare
multi-threaded builds in separate processes.
"""
import argparse
import importlib
import statistics
import time

import numpy as np

from fastnet import kernels, reference

STEPS, INPUT, HIDDEN = 28, 28, 64


def inputs(n, dtype, rng):
    """The arguments of ``lstm_forward`` for batch ``n``, minus the outputs."""
    x = rng.random((STEPS, n, INPUT)).astype(dtype)
    h0, c0 = np.zeros((n, HIDDEN), dtype), np.zeros((n, HIDDEN), dtype)
    W = (rng.standard_normal((INPUT + HIDDEN, 4 * HIDDEN)) * 0.3).astype(dtype)
    b = (rng.standard_normal(4 * HIDDEN) * 0.1).astype(dtype)
    return x, h0, c0, W, b, "ifog"


def outputs(n, dtype):
    return tuple(np.empty(shape, dtype) for shape in ((STEPS, n, 4 * HIDDEN),
                                                      (STEPS, n, HIDDEN), (STEPS, n, HIDDEN)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[100, 2000, 8000])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--also", nargs="*", default=[], help="more kernel modules to time")
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    impls = [("reference", reference), ("compiled", kernels)]
    impls += [(name, importlib.import_module(name)) for name in args.also]
    rng = np.random.default_rng(0)
    print(f"lstm_forward, T={STEPS}, D={INPUT}, H={HIDDEN}, {args.dtype}, median ms per call "
          f"({args.clock} time) of {args.rounds} rounds")
    for n in args.batches:
        given = inputs(n, args.dtype, rng)
        out = {name: outputs(n, args.dtype) for name, _ in impls}
        reps = max(1, 20000 // n)
        times = {name: [] for name, _ in impls}
        for r in range(args.rounds):
            for name, module in (impls if r % 2 == 0 else impls[::-1]):
                module.lstm_forward(*given, *out[name])
                start = clock()
                for _ in range(reps):
                    module.lstm_forward(*given, *out[name])
                times[name].append((clock() - start) / reps * 1e3)
        med = {name: statistics.median(t) for name, t in times.items()}
        cells = "  ".join(f"{name} {med[name]:.2f}" for name, _ in impls)
        ratios = "  ".join(f"reference/{name} {med['reference'] / med[name]:.2f}x"
                           for name, _ in impls[1:])
        print(f"N={n}: {cells}  |  {ratios}")


if __name__ == "__main__":
    main()
