"""Optimizer paths on f(x, y) = x^2/20 + y^2 from (-7, 2), 30 steps (the textbook's figure 6-8).

The bowl is 20 times steeper in y than in x, so plain SGD zig-zags across
the valley while it crawls along it; momentum overshoots and swings back;
AdaGrad, RMSprop and Adam rescale each coordinate and head for the minimum
more directly. Learning rates are the textbook's (SGD 0.95, Momentum 0.1,
AdaGrad 1.5, Adam 0.3) plus Nesterov 0.1 (as Momentum) and RMSprop 0.1.
As in the textbook, ``x`` and ``y`` are plain Python floats in the params
dict; the optimizers rebind them.
"""
from pathlib import Path

import numpy as np

from fastnet._checks import one_of
from fastnet._io import write_csv
from fastnet.experiments._common import BACKENDS, format_table, pyplot, save_figure
from fastnet.optim import make_optimizer

START = (-7.0, 2.0)
STEPS = 30
LEARNING_RATES = {"SGD": 0.95, "Momentum": 0.1, "Nesterov": 0.1, "AdaGrad": 1.5,
                  "RMSprop": 0.1, "Adam": 0.3}


def f(x, y):
    """The textbook's test function ``x^2/20 + y^2`` (minimum 0 at the origin)."""
    return x ** 2 / 20.0 + y ** 2


def df(x, y):
    """Gradient of :func:`f`."""
    return x / 10.0, 2.0 * y


def compute_paths(steps=STEPS, *, backend="compiled", convention="textbook"):
    """Return ``{optimizer name: array (steps + 1, 2)}``: the start and each step's (x, y)."""
    paths = {}
    for name, lr in LEARNING_RATES.items():
        opt = make_optimizer(name, lr=lr, backend=backend, convention=convention)
        params = {"x": START[0], "y": START[1]}
        grads = {}
        path = [START]
        for _ in range(steps):
            grads["x"], grads["y"] = df(params["x"], params["y"])
            opt.update(params, grads)
            path.append((params["x"], params["y"]))
        paths[name] = np.array(path, dtype=np.float64)
    return paths


def _plot(paths, out_dir):
    plt = pyplot()
    if plt is None:
        return None
    x = np.arange(-10, 10, 0.01)
    y = np.arange(-5, 5, 0.01)
    X, Y = np.meshgrid(x, y)
    Z = f(X, Y)
    fig, axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
    for ax, (name, path) in zip(axes.ravel(), paths.items()):
        ax.contour(X, Y, Z, levels=np.linspace(0.5, 7, 8), colors="0.6", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "o-", color="tab:red", markersize=3)
        ax.plot(0, 0, "+", color="k", markersize=10)
        ax.set(xlim=(-10, 10), ylim=(-10, 10), xlabel="x", ylabel="y",
               title=f"{name} (lr={LEARNING_RATES[name]})")
    return save_figure(fig, Path(out_dir) / "optimizer_paths.png")


def run(out_dir=None, *, seed=0, quick=False, steps=STEPS, convention="textbook",
        backend="compiled"):
    """Compute the paths; write ``optimizer_paths.csv`` (and ``.png``) into ``out_dir``.

    ``seed`` and ``quick`` are accepted for the common interface: the
    experiment is deterministic and already takes milliseconds. ``backend``:
    'compiled' or 'reference' (the NumPy twin of the same math), for the optimizers.
    Returns ``{'paths': {name: (steps + 1, 2) array}, 'table': rows}``.
    """
    backend = one_of("backend", backend, BACKENDS)
    paths = compute_paths(steps, backend=backend, convention=convention)
    header = ["optimizer", "lr", "final x", "final y", "f(final)", "y sign changes"]
    rows = []
    for name, path in paths.items():
        sign_changes = int(np.sum(np.sign(path[1:, 1]) != np.sign(path[:-1, 1])))
        rows.append([name, LEARNING_RATES[name], float(path[-1, 0]), float(path[-1, 1]),
                     float(f(*path[-1])), sign_changes])
    print(f"f(x, y) = x^2/20 + y^2 from {START}, {steps} steps ({convention} formulas); "
          f"f(start) = {f(*START):.4g}")
    print(format_table(header, rows))
    result = {"paths": paths, "table": rows}
    if out_dir is not None:
        csv_rows = [[name, i, float(px), float(py)]
                    for name, path in paths.items() for i, (px, py) in enumerate(path)]
        result["csv"] = write_csv(Path(out_dir) / "optimizer_paths.csv",
                                  ["optimizer", "step", "x", "y"], csv_rows)
        result["png"] = _plot(paths, out_dir)
    return result
