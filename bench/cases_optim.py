"""Optimizer benchmark cases: one update of every optimizer, and full Adam training steps.

Group ``optim_<name>``: one ``update`` at 10^4, 10^6 and 10^7 float32
parameters, held as one array or as the textbook net's ten arrays (the
shapes of 784-100-100-100-100-10's ``W1, b1, ..., W5, b5`` scaled to the
total). Implementations: fastnet (compiled), reference (NumPy), torch's
default (per-tensor loop), ``foreach=True`` and ``fused=True`` (where torch
has it on CPU), and a *bandwidth floor*: ``c = a + b`` over arrays sized so
that it moves the same bytes as the update (4 bytes per array access: SGD
3 accesses per element, Momentum/Nesterov/AdaGrad/RMSprop 5, Adam/AdamW 7;
``c = a + b`` counts 4: two reads, the read for ownership and the write of
``c``), using all cores, whichever of several ways is fastest in this run.
The report's "x vs bandwidth floor" is the fraction of that floor reached.

Group ``adam_step``: a full training step (gradient + Adam update) of net
T and net W, fastnet vs reference vs torch, plus fastnet with its update
forced onto one thread ("fastnet serial update") to show what the parallel
update saves next to the BLAS calls.

"fastnet" uses the library's default (arrays of 2^16 elements and more split
across the OpenMP threads that also run OpenBLAS; see csrc/threads.pyx);
"fastnet 1 thread" forces every update onto one thread.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import fastnet._kernels.threads as threads
from fastnet.optim import OPTIMIZERS
from harness import add_case, block_seconds, have_torch, import_torch, with_torch
from steps import NETS, fastnet_step, torch_step

SIZES = {"1e4": 10 ** 4, "1e6": 10 ** 6, "1e7": 10 ** 7}
NET_T = NETS["T"][0]
# name -> (torch class, torch kwargs, fastnet kwargs, array accesses per element, fused on CPU)
OPTIMS = {
    "SGD": ("SGD", {}, {}, 3, True),
    "Momentum": ("SGD", {"momentum": 0.9}, {}, 5, True),
    "Nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, {}, 5, True),
    "AdaGrad": ("Adagrad", {}, {}, 5, True),
    "RMSprop": ("RMSprop", {}, {}, 5, False),
    "Adam": ("Adam", {}, {}, 7, True),
    "AdamW": ("AdamW", {}, {}, 7, True),
}


def _shapes(total, layout):
    """One array of ``total`` elements, or net T's ten arrays scaled to ``total``."""
    if layout == "one array":
        return [(total,)]
    base = []
    for a, b in zip(NET_T, NET_T[1:]):
        base += [a * b, b]
    scale = total / sum(base)
    sizes = [max(1, round(s * scale)) for s in base]
    sizes[0] += total - sum(sizes)
    return [(s,) for s in sizes]


def _arrays(shapes):
    rng = np.random.default_rng(0)
    params = {f"p{i}": rng.standard_normal(s).astype(np.float32) for i, s in enumerate(shapes)}
    grads = {k: (0.01 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in params.items()}
    return params, grads


def _serial_factory(factory):
    """A factory whose callable runs with every element-wise kernel on one thread."""
    return lambda: _serial(factory())


def _serial(fn):
    """``fn`` run with the element-wise kernels forced onto one thread."""
    def call():
        old = threads.set_parallel(min_size=threads.SERIAL)
        try:
            fn()
        finally:
            threads.set_parallel(*old)
    return call


def _fastnet(name, shapes, backend, serial=False):
    def factory():
        params, grads = _arrays(shapes)
        opt = OPTIMS_CLS[name](lr=0.001, backend=backend)
        step = lambda: opt.update(params, grads)  # noqa: E731
        return _serial(step) if serial else step
    return factory


def _torch(name, shapes, mode):
    def factory():
        torch = import_torch()
        cls, kwargs, _, _, _ = OPTIMS[name]
        params, grads = _arrays(shapes)
        tensors = []
        for k, v in params.items():
            t = torch.from_numpy(v).requires_grad_()
            t.grad = torch.from_numpy(grads[k])
            tensors.append(t)
        extra = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[mode]
        opt = getattr(torch.optim, cls)(tensors, lr=0.001, **kwargs, **extra)
        return opt.step
    return factory


_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(os.cpu_count() or 1)
    return _POOL


def _bandwidth_floor(total, accesses):
    """``c = a + b`` moving ``4 * accesses * total`` bytes, fastest of several ways, all cores."""
    def factory():
        n = max(1, total * accesses // 4)
        a = np.ones(n, np.float32)
        b = np.ones(n, np.float32)
        c = np.empty(n, np.float32)
        candidates = {"numpy": lambda: np.add(a, b, out=c)}
        k = os.cpu_count() or 1
        if k > 1:
            bounds = [n * i // k for i in range(k + 1)]
            parts = [(a[lo:hi], b[lo:hi], c[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
            pool = _pool()

            def threaded():
                list(pool.map(lambda abc: np.add(abc[0], abc[1], out=abc[2]), parts))
            candidates["numpy threads"] = threaded
        torch = import_torch()
        if torch is not None:
            ta, tb, tc = (torch.from_numpy(x) for x in (a, b, c))
            candidates["torch"] = lambda: torch.add(ta, tb, out=tc)
        best, best_t = None, float("inf")
        for fn in candidates.values():
            fn()
            reps = max(1, int(2e8 // (16 * n)))
            times = [block_seconds(fn, reps) for _ in range(5)]
            if min(times) < best_t:
                best, best_t = fn, min(times)
        return best
    return factory


OPTIMS_CLS = {name: OPTIMIZERS[name.lower()] for name in OPTIMS}

_have_torch = have_torch()
for name, (_, _, _, accesses, fused) in OPTIMS.items():
    for size_tag, total in SIZES.items():
        for layout in ("one array", "ten arrays"):
            shapes = _shapes(total, layout)
            impls = {"fastnet": _fastnet(name, shapes, "compiled"),
                     "fastnet 1 thread": _fastnet(name, shapes, "compiled", serial=True),
                     "reference": _fastnet(name, shapes, "reference")}
            if _have_torch:
                impls["torch"] = _torch(name, shapes, "default")
                impls["torch foreach"] = _torch(name, shapes, "foreach")
                if fused:
                    impls["torch fused"] = _torch(name, shapes, "fused")
            impls["bandwidth floor"] = _bandwidth_floor(total, accesses)
            add_case(f"optim_{name}", f"{size_tag} float32 {layout}", impls)


# -------------------------------------------------------- Adam training steps -----
for net_name, (sizes, n) in NETS.items():
    impls = {"fastnet": fastnet_step(sizes, n, np.float32, "adam"),
             "fastnet serial update": _serial_factory(
                 fastnet_step(sizes, n, np.float32, "adam")),
             "reference": fastnet_step(sizes, n, np.float32, "adam", backend="reference")}
    add_case("adam_step", f"net {net_name} batch {n} float32", with_torch(
        impls, torch=torch_step(sizes, n, np.float32, "adam"),
        torch_fused=torch_step(sizes, n, np.float32, "adam", fused=True)))
