"""NetBatch (#15): k net-T-sized nets trained together vs one after another.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/netbatch.py [--ks 1,2,4,8,16,32]
        [--steps 10] [--rounds 5] [--first-layer-only] [--ceiling-only]

Net T is 784-100-100-100-100-10, batch 100, float32. For each k and optimizer
(SGD lr 0.01, Adam lr 0.001) the interleaved timer of bench/harness.py takes
the median over rounds of:

- ``NetBatch shared``: ``batch.step(x, t)``, every member on the same batch;
- ``NetBatch per-net``: ``batch.step(xs, ts)``, each member its own batch;
- ``fastnet sequential``: k separate runs, each net trained alone
  (``opt.update(net.params, net.gradient(x, t))``) for ``steps`` steps, then
  the next net;
- ``reference sequential``: the same with ``backend='reference'`` (NumPy)
  for the nets and optimizers.

Throughput is samples x nets per second (``100 * k * steps / time``).
Memory: NumPy allocations held by the batch after a warm-up step (parameters,
optimizer state, workspaces, gradients) and the peak during one more step
above that, by tracemalloc.

``first_layer`` measures the one-GEMM first layer the issue suggests for a
shared batch: 8 forward GEMMs ``x (100, 784) @ W1_i (784, 100)`` against one
``x @ [W1_1 .. W1_8] (784, 800)`` including the copy of the members' weights
into the concatenated array (they are separate C-contiguous arrays), and the
same for the weight gradients ``x.T @ dY_i`` (plus the copies in and out).

``ceiling`` bounds what any batch can reach on this machine: a member's
matrix products alone (the step's GEMM floor, as in bench/cases_core.py) with
NumPy's OpenBLAS held to one thread, as a member runs them inside the batch.
With every core running only those GEMMs, the throughput is at most
``cores * BATCH / floor``; the lines after it say what the issue's targets
(2x the sequential fastnet runs, 3.5x the reference's) would leave per member
for everything else.
"""
import argparse
import os
import time
import tracemalloc

import numpy as np
from harness import Case, interleaved_medians

import fastnet
from fastnet.kernels import gemm
from fastnet.optim import make_optimizer

SIZES, BATCH = [784, 100, 100, 100, 100, 10], 100
OPTIMIZERS = {"sgd": {"lr": 0.01}, "adam": {"lr": 0.001}}
POOL = 8  # distinct batches; per-net member i at step s takes pool[(i + s) % POOL]


def make_net(backend="compiled"):
    def make(i, seed):
        return fastnet.MultiLayerNet(SIZES[0], SIZES[1:-1], SIZES[-1], seed=seed, backend=backend)
    return make


def data(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.random((BATCH, SIZES[0])).astype(np.float32),
             rng.integers(0, SIZES[-1], BATCH)) for _ in range(POOL)]


def netbatch_factory(k, optimizer, steps, shared):
    def factory():
        batch = fastnet.NetBatch.build(k, make_net(), optimizer, seed=0,
                                       **OPTIMIZERS[optimizer])
        pool = data()
        if shared:
            inputs = [pool[s % POOL] for s in range(steps)]
        else:
            inputs = [([pool[(i + s) % POOL][0] for i in range(k)],
                       [pool[(i + s) % POOL][1] for i in range(k)]) for s in range(steps)]

        def run():
            for x, t in inputs:
                batch.step(x, t)
        return run
    return factory


def sequential_factory(k, optimizer, steps, backend):
    def factory():
        pool = data()
        runs = [(make_net(backend)(i, i),
                 make_optimizer(optimizer, backend=backend, **OPTIMIZERS[optimizer]))
                for i in range(k)]

        def run():
            for net, opt in runs:
                for s in range(steps):
                    x, t = pool[s % POOL]
                    opt.update(net.params, net.gradient(x, t))
        return run
    return factory


def memory(k, optimizer):
    """``(held, step_peak)`` bytes of NumPy allocations: after a warm-up step, and one step's
    peak above that."""
    tracemalloc.start()
    batch = fastnet.NetBatch.build(k, make_net(), optimizer, seed=0, **OPTIMIZERS[optimizer])
    x, t = data()[0]
    batch.step(x, t)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    batch.step(x, t)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return held, peak - held


def throughput(ks, steps, rounds):
    print("| k | optimizer | NetBatch shared | NetBatch per-net | fastnet sequential | "
          "reference sequential | shared / fastnet | shared / reference | "
          "per-net / fastnet | held MiB | step peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for k in ks:
        for optimizer in OPTIMIZERS:
            case = Case("netbatch", f"k={k} {optimizer}", {
                "shared": netbatch_factory(k, optimizer, steps, True),
                "per-net": netbatch_factory(k, optimizer, steps, False),
                "fastnet": sequential_factory(k, optimizer, steps, "compiled"),
                "reference": sequential_factory(k, optimizer, steps, "reference"),
            })
            medians = interleaved_medians(case, rounds=rounds, min_block=0.2)
            rate = {name: BATCH * k * steps / m for name, (m, _) in medians.items()}
            held, peak = memory(k, optimizer)
            rows.append((k, optimizer, rate))
            print(f"| {k} | {optimizer} | {rate['shared']:,.0f} | {rate['per-net']:,.0f} | "
                  f"{rate['fastnet']:,.0f} | {rate['reference']:,.0f} | "
                  f"{rate['shared'] / rate['fastnet']:.2f}x | "
                  f"{rate['shared'] / rate['reference']:.2f}x | "
                  f"{rate['per-net'] / rate['fastnet']:.2f}x | {held / 2**20:.1f} | "
                  f"{peak / 2**20:.2f} |", flush=True)
    return rows


def first_layer(k=8, rounds=9):
    rng = np.random.default_rng(0)
    d, h = SIZES[0], SIZES[1]
    x = rng.random((BATCH, d)).astype(np.float32)
    ws = [rng.standard_normal((d, h)).astype(np.float32) for _ in range(k)]
    douts = [rng.standard_normal((BATCH, h)).astype(np.float32) for _ in range(k)]
    outs = [np.empty((BATCH, h), np.float32) for _ in range(k)]
    dws = [np.empty((d, h), np.float32) for _ in range(k)]
    w_cat, out_cat = np.empty((d, k * h), np.float32), np.empty((BATCH, k * h), np.float32)
    dout_cat, dw_cat = np.empty((BATCH, k * h), np.float32), np.empty((d, k * h), np.float32)

    def separate_forward():
        for w, out in zip(ws, outs):
            gemm(x, w, out)

    def concatenated_forward():
        for i, w in enumerate(ws):
            w_cat[:, i * h:(i + 1) * h] = w
        gemm(x, w_cat, out_cat)

    def separate_weight_grads():
        for dout, dw in zip(douts, dws):
            gemm(x, dout, dw, trans_a=True)

    def concatenated_weight_grads():
        for i, dout in enumerate(douts):
            dout_cat[:, i * h:(i + 1) * h] = dout
        gemm(x, dout_cat, dw_cat, trans_a=True)
        for i, dw in enumerate(dws):
            dw[...] = dw_cat[:, i * h:(i + 1) * h]

    whole = sequential_factory(k, "sgd", 1, "compiled")
    case = Case("first layer", f"k={k}", {
        "separate forward": lambda: separate_forward,
        "concatenated forward": lambda: concatenated_forward,
        "separate dW": lambda: separate_weight_grads,
        "concatenated dW": lambda: concatenated_weight_grads,
        "whole SGD step of all k": whole,
    })
    medians = interleaved_medians(case, rounds=rounds)
    print(f"first layer of {k} net-T members on one batch, median of {rounds} rounds (ms):")
    for name, (m, samples) in medians.items():
        print(f"  {name:26s} {m * 1e3:7.3f}  (fastest round {min(samples) * 1e3:.3f})")


def one_thread_gemm_floor(rounds=9):
    """Median seconds of one net-T member's GEMMs on one BLAS thread, or None
    when fastnet runs on SciPy's BLAS (which it cannot hold to one thread)."""
    from fastnet._kernels.threads import blas_one_thread
    from cases_core import _gemm_floor
    if not blas_one_thread(True):
        return None
    try:
        case = Case("ceiling", "net T GEMMs, one thread",
                    {"floor": _gemm_floor(SIZES, BATCH, np.float32)})
        return interleaved_medians(case, rounds=rounds)["floor"][0]
    finally:
        blas_one_thread(False)


def ceiling(rounds=9):
    """Print the two-core ceiling of any batch of net-T members; return it
    (samples x nets per second) or None."""
    floor = one_thread_gemm_floor(rounds)
    if floor is None:
        print("ceiling: not measured (fastnet runs on SciPy's BLAS)")
        return None
    cores = fastnet.build_info()["threads"]
    top = cores * BATCH / floor
    print(f"ceiling: a member's GEMMs alone on one BLAS thread take {floor * 1e6:.1f} us "
          f"(median of {rounds} rounds), so {cores} cores running nothing else reach at most "
          f"{top:,.0f} samples x nets/s")
    return top


def against_ceiling(top, rate, k):
    """What the issue's targets ask of each member, given the ceiling ``top``."""
    if top is None:
        return
    per_member = 1e6 * fastnet.build_info()["threads"] * BATCH
    for name, factor in (("fastnet", 2.0), ("reference", 3.5)):
        need = factor * rate[name]
        print(f"  k={k}: {factor}x {name} sequential = {need:,.0f} samples x nets/s, "
              f"{need / top:.2f}x the ceiling; a member would have "
              f"{per_member / need - per_member / top:+.1f} us per step beyond its GEMMs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="1,2,4,8,16,32")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--first-layer-only", action="store_true")
    parser.add_argument("--ceiling-only", action="store_true")
    args = parser.parse_args()
    print(f"{fastnet.build_info()['blas']['name']}, {fastnet.build_info()['threads']} threads; "
          f"load average {os.getloadavg()[0]:.1f} at start ({time.strftime('%H:%M UTC', time.gmtime())})")
    top = ceiling()
    if args.ceiling_only:
        return
    first_layer()
    if not args.first_layer_only:
        rows = throughput([int(k) for k in args.ks.split(",")], args.steps, args.rounds)
        print("against the ceiling (shared batch):")
        for k, optimizer, rate in rows:
            print(f" {optimizer}:")
            against_ceiling(top, rate, k)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
