"""What moves BN and dropout fwd+bwd at (512, 1024) float32 between runs (#10).

    python bench/bn_dropout_stalls.py alignment   # BN kernels, arrays on / off a cache line
    python bench/bn_dropout_stalls.py dropout     # one dropout layer: draw, forward, backward
    python bench/bn_dropout_stalls.py spin        # a 2-thread pass after the main thread ran alone
    python bench/bn_dropout_stalls.py faults      # page faults per call, fastnet vs torch

Each prints medians over interleaved blocks, the load average and, where the
machine is shared, the CPU time per call (what a busy machine distorts least).
Findings: bench/RESULTS.md, "BN and dropout at (512, 1024) (#10)".
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

from fastnet._kernels import threads
from fastnet._workspace import ALIGNMENT, LayerWorkspace, Workspace, aligned_empty
import fastnet.kernels as fk
from fastnet.layers import Dropout

SHAPE = (512, 1024)
DTYPE = np.float32


def _at_offset(a, offset):
    """A copy of ``a`` starting ``offset`` bytes past a cache line."""
    raw = aligned_empty(a.nbytes + ALIGNMENT, np.uint8)
    out = raw[offset:offset + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _per_call(fn, calls):
    """(wall, process CPU) seconds per call of ``fn`` over ``calls`` calls."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls


def alignment(rounds):
    """BN forward+backward on one thread with x, dout, out, dx at given byte offsets."""
    threads.set_parallel(num_threads=1)
    rng = np.random.default_rng(0)
    x0, g0 = rng.standard_normal(SHAPE).astype(DTYPE), rng.standard_normal(SHAPE).astype(DTYPE)
    d = SHAPE[1]
    gamma, beta = np.ones(d, DTYPE), np.zeros(d, DTYPE)
    stats = [np.empty(d, DTYPE) for _ in range(6)]
    steps = {}
    for offsets in [(0, 0, 0, 0), (16, 16, 16, 16), (16, 48, 32, 0)]:
        x, g, out, dx = (_at_offset(a, o) for a, o in zip((x0, g0, x0, x0), offsets))

        def step(x=x, g=g, out=out, dx=dx):
            mean, inv_std, rm, rv, dgamma, dbeta = stats
            fk.batchnorm_forward_train_(x, gamma, beta, 1e-5, out, mean, inv_std, rm, rv, 0.9, 1.0)
            fk.batchnorm_backward(g, x, gamma, mean, inv_std, dx, dgamma, dbeta)
        steps[offsets] = step
    _report("BN fwd+bwd, 1 thread, byte offsets of (x, dout, out, dx) past a cache line",
            steps, rounds, 100)


def dropout(rounds):
    """A dropout layer's training forward and backward, split into its three steps."""
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(SHAPE).astype(DTYPE), rng.standard_normal(SHAPE).astype(DTYPE)
    layer = Dropout(0.5, mode="inverted", rng=1)
    ws = LayerWorkspace(Workspace(), "dropout")
    layer._forward(x, ws, True)
    steps = {"draw (NumPy, 1 thread)": lambda: layer._draw(layer.mask),
             "forward pass": lambda: layer._apply(x, ws, True),
             "backward pass": lambda: layer._backward(g, ws, True)}
    times = {name: [] for name in steps}
    c0, t0 = time.process_time(), time.perf_counter()
    calls = 100 * rounds
    for _ in range(calls):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    wall, cpu = (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls
    print(f"dropout fwd+bwd {SHAPE}: {wall * 1e3:.3f} ms per call, CPU {cpu * 1e3:.3f} ms "
          f"(element-wise threads {threads.max_threads()}, load {os.getloadavg()[0]:.1f})")
    for name, ts in times.items():
        ts = np.array(ts) * 1e3
        print(f"  {name:24s} median {np.median(ts):.3f} ms, 90th percentile {np.percentile(ts, 90):.3f} ms")


def spin(rounds):
    """A tiny 2-thread pass after the main thread ran alone for ``gap`` us: fast while
    OpenMP's worker still spins, a wake-up (or a wait for the core) once it sleeps."""
    threads.set_parallel(min_size=0, num_threads=2)
    p, g = np.zeros(64, DTYPE), np.zeros(64, DTYPE)
    gaps = [0, 300, 640, 1000, 2000, 4000, 8000]
    samples = {gap: [] for gap in gaps}
    for _ in range(20 * rounds):
        for gap in gaps:
            end = time.perf_counter() + gap * 1e-6
            while time.perf_counter() < end:
                pass
            start = time.perf_counter()
            fk.sgd_update_(p, g, 0.0, 0.0)
            samples[gap].append(time.perf_counter() - start)
    print(f"2-thread pass over 64 elements after a busy gap (load {os.getloadavg()[0]:.1f}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')})")
    for gap, ts in samples.items():
        ts = np.array(ts) * 1e6
        print(f"  gap {gap:5d} us: median {np.median(ts):9.1f} us, 75th percentile "
              f"{np.percentile(ts, 75):9.1f} us")


def faults(rounds):
    """Minor page faults and time per call of the benchmark's BN and dropout cases."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cases_bn  # noqa: F401  (registers the cases)
    import harness
    for case in harness.CASES:
        if "512x1024" not in case.name or case.group not in ("batchnorm", "dropout"):
            continue
        fns = {name: factory() for name, factory in case.impls.items()}
        for fn in fns.values():
            fn()
        print(f"{case.id} (load {os.getloadavg()[0]:.1f})")
        for name, fn in fns.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            wall, cpu = _per_call(fn, 10 * rounds)
            flt = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (10 * rounds)
            print(f"  {name:10s} {flt:7.1f} faults per call, {wall * 1e3:.3f} ms, "
                  f"CPU {cpu * 1e3:.3f} ms")


def _report(title, steps, rounds, calls):
    results = {key: [] for key in steps}
    keys = list(steps)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            results[key].append(_per_call(steps[key], calls))
    print(f"{title} (load {os.getloadavg()[0]:.1f})")
    for key, v in results.items():
        wall, cpu = np.median(np.array(v), axis=0) * 1e3
        print(f"  {key}: median {wall:.3f} ms, CPU {cpu:.3f} ms per call")


MEASUREMENTS = {"alignment": alignment, "dropout": dropout, "spin": spin, "faults": faults}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=list(MEASUREMENTS))
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer; got {args.rounds}")
    MEASUREMENTS[args.what](args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
