"""Benchmark cases and a fair, interleaved timer shared by pytest-benchmark and report.py.

A *case* is one workload (a kernel at a shape, a training step of a net)
with several *implementations* (fastnet, reference, torch, a GEMM floor).
Each implementation is a factory: calling it builds the inputs (untimed) and
returns the zero-argument callable that is timed.

Fairness rules (see README "Benchmarks"):
- every implementation of a case is timed in the same process, round by
  round, in rotating order, so drifts in machine load hit all of them alike;
- a pause of PAUSE seconds precedes each timed block, so worker threads
  spinning after one library's call (OpenBLAS, OpenMP, torch) have gone idle
  before the next library starts;
- thread counts are equal: torch is set to the same number of threads as
  OpenBLAS (all cores unless OPENBLAS_NUM_THREADS says otherwise).
"""
import importlib.util
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Callable, Dict

import numpy as np

PAUSE = 0.25
#: Environment variables that pin OpenBLAS's kernel choice (unset them to benchmark).
PINNED_OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CASES = []


@dataclass
class Case:
    group: str
    name: str
    impls: Dict[str, Callable[[], Callable[[], object]]] = field(default_factory=dict)
    # what each implementation's time is compared with in the report
    baseline: str = "reference"

    @property
    def id(self):
        return f"{self.group}[{self.name}]"


def add_case(group, name, impls, baseline="reference"):
    """Register a case; ``impls`` maps implementation name -> factory."""
    CASES.append(Case(group, name, dict(impls), baseline))


def blas_threads():
    """The thread count used for every library's BLAS/intra-op work."""
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def have_torch():
    """Whether torch is installed, found without importing it.

    Cases are registered with it (pytest collects them, the report's tests
    import them), so registering changes nothing process-wide:
    ``torch.set_num_threads`` also sets the OpenMP runtime's thread count,
    which torch may share with fastnet, and :func:`import_torch` is left to
    the factories, which run only when a benchmark does.
    """
    return importlib.util.find_spec("torch") is not None


def import_torch():
    """Return torch set to :func:`blas_threads` threads, or None if not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(blas_threads())
    return torch


def pause():
    """Let other libraries' worker threads go idle before a timed block."""
    time.sleep(PAUSE)


def with_torch(impls, **torch_factories):
    """``impls`` plus the given torch implementations when torch is importable."""
    if have_torch():
        impls.update({name.replace("_", " "): f for name, f in torch_factories.items()})
    return impls


def _calibrate(fn, min_block):
    """Number of calls whose total time reaches ``min_block`` seconds."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start >= min_block or n >= 1 << 20:
            return n
        n *= 2


def block_seconds(fn, n):
    """Seconds per call of ``fn`` over one block of ``n`` calls in a row."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def interleaved_medians(case, rounds=7, min_block=0.05, pause=PAUSE):
    """Median seconds per call of each implementation of ``case``.

    Returns ``{impl: (median, [per-round seconds per call])}``.
    """
    fns = {name: factory() for name, factory in case.impls.items()}
    for fn in fns.values():  # warm-up: first-touch pages, BLAS thread start
        fn()
    counts = {name: _calibrate(fn, min_block) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(pause)
            samples[name].append(block_seconds(fns[name], counts[name]))
    return {name: (float(np.median(s)), s) for name, s in samples.items()}


def machine_info():
    """Facts about the machine and libraries that a benchmark result depends on."""
    import scipy

    import fastnet

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "fastnet": fastnet.__version__,
        "BLAS threads (OpenBLAS, torch)": blas_threads(),
        "fastnet BLAS": fastnet.blas_info()["name"],
        "OpenBLAS kernel": fastnet.build_info()["blas"].get("kernel", "unknown"),
        "fastnet SIMD level": fastnet.build_info()["simd"],
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset"),
        # This machine's image pins these (GEMMs then run at ~60% of users' speed);
        # benchmarks are meant to run with both unset, as users run.
        **{name: os.environ.get(name, "unset") for name in PINNED_OPENBLAS},
    }
    torch = import_torch()
    info["torch"] = torch.__version__ if torch else "not installed"
    return info
