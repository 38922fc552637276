"""Optimizers compared on MNIST (the textbook's figure 6-9): loss curves of a 5-layer ReLU net.

A 784-100-100-100-100-10 ReLU net (He initialisation) is trained with each
optimizer at its textbook default settings, from the same initial weights
and on the same mini-batches of 128, for ``iterations`` steps; the nets
train as one :class:`fastnet.NetBatch` (one batched step per mini-batch,
each member exactly as if trained alone). The loss curves are smoothed with
the textbook's ``smooth_curve``. Data: the full
MNIST set if it is on disk, else the offline sample
(:func:`fastnet.datasets.load_mnist_or_sample`).
"""
import time
from pathlib import Path

import numpy as np

from fastnet._checks import make_rng, one_of
from fastnet._io import write_csv
from fastnet.experiments._common import BACKENDS, curve_style, format_table, pyplot, save_figure
from fastnet.multi_layer_net import MultiLayerNet
from fastnet.netbatch import NetBatch
from fastnet.optim import make_optimizer
from fastnet.util import smooth_curve

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "AdamW")
HIDDEN = [100, 100, 100, 100]


def _load(data):
    if data is not None:
        return data
    from fastnet.datasets import load_mnist_or_sample
    return load_mnist_or_sample(normalize=True)


def run(out_dir=None, *, seed=0, quick=False, iterations=2000, batch_size=128,
        optimizers=OPTIMIZERS, data=None, backend="compiled"):
    """Train one net per optimizer; return losses, smoothed curves and a table.

    ``data``: ``((x_train, t_train), (x_test, t_test), source)`` to use instead of
    MNIST. ``quick`` runs 60 iterations. Writes ``optimizer_compare.csv`` (raw and
    smoothed loss per iteration) and ``optimizer_compare.png`` into ``out_dir``.
    ``backend``: 'compiled' or 'reference' (the NumPy twin of the same math),
    for every net and optimizer.
    """
    backend = one_of("backend", backend, BACKENDS)
    (x_train, t_train), (x_test, t_test), source = _load(data)
    if quick:
        iterations = min(iterations, 60)
    rng = make_rng(seed)
    init_seed = int(rng.integers(2 ** 31))
    batch = NetBatch([MultiLayerNet(x_train.shape[1], HIDDEN, 10, seed=init_seed, backend=backend)
                      for _ in optimizers],
                     [make_optimizer(name, backend=backend) for name in optimizers])
    per_step = np.empty((iterations, len(optimizers)))
    n = x_train.shape[0]
    print(f"data: {source}; {iterations} iterations, batch {batch_size}")
    start = time.perf_counter()
    for i in range(iterations):
        idx = rng.choice(n, min(batch_size, n), replace=False)
        per_step[i] = batch.step(x_train[idx], t_train[idx])
    seconds = time.perf_counter() - start
    losses = {name: per_step[:, k] for k, name in enumerate(optimizers)}
    smoothed = {name: smooth_curve(losses[name]) for name in optimizers}
    test_acc = batch.accuracy(x_test, t_test)
    rows = [[name, batch.optimizers[k].lr, float(smoothed[name][-1]), float(test_acc[k])]
            for k, name in enumerate(optimizers)]
    header = ["optimizer", "lr", "final smoothed loss", "test accuracy"]
    print(format_table(header, rows))
    print(f"{1e3 * seconds / max(iterations, 1):.3g} ms per step of all {len(optimizers)} nets")
    result = {"losses": losses, "smoothed": smoothed, "table": rows, "source": source,
              "seconds": seconds}
    if out_dir is not None:
        out = Path(out_dir)
        csv_header = ["iteration"] + [f"{name} loss" for name in optimizers] + [
            f"{name} smoothed" for name in optimizers]
        csv_rows = [[i] + [float(losses[k][i]) for k in optimizers]
                    + [float(smoothed[k][i]) for k in optimizers]
                    for i in range(iterations)]
        result["csv"] = write_csv(out / "optimizer_compare.csv", csv_header, csv_rows)
        plt = pyplot()
        if plt is not None:
            fig, ax = plt.subplots(figsize=(8, 5))
            for k, name in enumerate(optimizers):
                ax.plot(smoothed[name], label=name, **curve_style(k, iterations))
            # From 0 to above the untrained loss log(10) = 2.3, so every curve, SGD's slow
            # one too, stays in view; an early spike (RMSprop's first steps) is clipped
            # rather than squashing the rest.
            finals = [s[-1] for s in smoothed.values() if len(s) and np.isfinite(s[-1])]
            top = max([2.5] + [1.1 * v for v in finals])
            ax.set(xlabel="iterations", ylabel="loss (smoothed)", ylim=(0, top),
                   title=f"784-100x4-10 ReLU, batch {batch_size}: {source}")
            ax.legend()
            result["png"] = save_figure(fig, out / "optimizer_compare.png")
    return result
