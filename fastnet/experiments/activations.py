"""Activation histograms of a 5-layer net per activation x initial std (textbook 6.2.2).

A batch of 1,000 samples of N(0, 1) noise with 100 features goes through 5
fully connected layers of 100 units (zero bias, fastnet's fused
``Affine(..., activation=...)``) for each activation (sigmoid, tanh, ReLU)
and each initial weight scale: std 1, std 0.01, Xavier (the textbook's
N(0, 1/n), equal to Glorot's here since fan_in = fan_out) and He
(N(0, 2/n)). Writes ``activations_stats.csv`` (per layer: mean, std, min,
max, fraction of exact zeros, fraction saturated) and
``activations_hist.csv`` (histogram counts), and one PNG grid per activation
(rows: init, columns: layers) when matplotlib is installed. Mean, std, zeros,
saturation and histogram come from fastnet's diagnostics statistics
(:class:`fastnet.diagnostics.RunningStats`, one kernel call per layer) on
the chosen backend; the counts are exactly ``numpy.histogram``'s.
"""
import math
from pathlib import Path

import numpy as np

from fastnet._checks import make_rng, one_of
from fastnet._io import write_csv
from fastnet._workspace import LayerWorkspace, Workspace
from fastnet.diagnostics import NO_SATURATION, RunningStats
from fastnet.experiments._common import BACKENDS, format_table, pyplot, save_figure
from fastnet.init import get_initializer
from fastnet.layers import Affine

ACTIVATIONS = ("sigmoid", "tanh", "relu")
# label -> weight_init_std value (the textbook's names for Xavier and He)
INITS = {"std=1": 1.0, "std=0.01": 0.01, "Xavier": "xavier", "He": "he"}
# Histogram range per activation: the textbook's (0, 1); tanh's outputs span (-1, 1).
HIST_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1.0)}
BINS = 30
# A unit counts as saturated within 5% of its output range from an asymptote:
# sigmoid below 0.05 or above 0.95, tanh beyond +-0.9 (strictly; RunningStats
# counts values at or beyond its thresholds, so they are the next floats out).
SATURATION = {"sigmoid": (math.nextafter(0.05, -math.inf), math.nextafter(0.95, math.inf)),
              "tanh": (math.nextafter(-0.9, -math.inf), math.nextafter(0.9, math.inf))}

STATS_HEADER = ["activation", "init", "layer", "mean", "std", "min", "max",
                "frac_zero", "frac_saturated"]


def layer_stats(activation, a, backend="compiled"):
    """``(row values, histogram counts)`` for the activations ``a`` of one layer:
    mean, (population) std, min, max and the fractions of exact zeros and of
    saturated units (0 for ReLU), and the counts over ``BINS`` bins of the
    activation's ``HIST_RANGE``."""
    stats = RunningStats(BINS, HIST_RANGE[activation],
                         SATURATION.get(activation, NO_SATURATION), backend=backend)
    stats.add(a)
    d = stats.as_dict()
    return {
        "mean": float(d["mean"]), "std": float(d["std"]), "min": float(a.min()),
        "max": float(a.max()), "frac_zero": float(d["zero_fraction"]),
        "frac_saturated": float(d["saturated_fraction"]) if activation in SATURATION else 0.0,
    }, d["hist_counts"]


def run(out_dir=None, *, seed=0, quick=False, n_samples=1000, node_num=100, n_layers=5,
        dtype=np.float64, backend="compiled"):
    """Run the experiment; return ``{'stats': [row dicts], 'hist': {(act, init): counts},
    'bin_edges': {act: edges}}``. ``quick`` is accepted for the CLI: the full
    experiment already takes well under a second. ``backend``: 'compiled' or
    'reference' (the NumPy twin of the same math), for every ``Affine`` layer."""
    backend = one_of("backend", backend, BACKENDS)
    rng = make_rng(seed)
    x = rng.standard_normal((n_samples, node_num)).astype(dtype)
    bias = np.zeros(node_num, dtype)
    # The layers' forward passes as a net runs them (the layer protocol's _forward):
    # outputs in buffers reused from one weight scale to the next, nothing kept for a
    # backward pass that never comes (the checked forward() would copy x and y).
    store = Workspace()
    spaces = [LayerWorkspace(store, layer) for layer in range(n_layers)]
    stats, hist, edges = [], {}, {}
    for act in ACTIVATIONS:
        edges[act] = np.linspace(*HIST_RANGE[act], BINS + 1)  # RunningStats' edges
        layers = [Affine(np.empty((node_num, node_num), dtype), bias, activation=act,
                         backend=backend) for _ in range(n_layers)]
        for label, spec in INITS.items():
            init = get_initializer(spec)
            h = x
            counts = []
            for number, (layer, ws) in enumerate(zip(layers, spaces), 1):
                layer.W[...] = init((node_num, node_num), rng, dtype)
                h = layer._forward(h, ws, False)
                row, layer_counts = layer_stats(act, h, backend)
                counts.append(layer_counts)
                stats.append({"activation": act, "init": label, "layer": number, **row})
            hist[(act, label)] = np.array(counts)

    rows = [[r[k] for k in STATS_HEADER] for r in stats]
    print(format_table(STATS_HEADER, rows))
    if out_dir is not None:
        out = Path(out_dir)
        write_csv(out / "activations_stats.csv", STATS_HEADER, rows)
        hist_rows = [[act, label, layer + 1, float(edges[act][i]), float(edges[act][i + 1]),
                      int(c[layer, i])]
                     for (act, label), c in hist.items()
                     for layer in range(c.shape[0]) for i in range(BINS)]
        write_csv(out / "activations_hist.csv",
                  ["activation", "init", "layer", "bin_low", "bin_high", "count"], hist_rows)
        _plot(out, hist, edges, n_layers)
    return {"stats": stats, "hist": hist, "bin_edges": edges}


def _plot(out, hist, edges, n_layers):
    plt = pyplot()
    if plt is None:
        return
    for act in ACTIVATIONS:
        fig, axes = plt.subplots(len(INITS), n_layers, figsize=(3 * n_layers, 2.4 * len(INITS)),
                                 sharex=True, squeeze=False)
        for r, label in enumerate(INITS):
            counts = hist[(act, label)]
            for c in range(n_layers):
                ax = axes[r][c]
                e = edges[act]
                ax.bar(e[:-1], counts[c], width=np.diff(e), align="edge")
                if r == 0:
                    ax.set_title(f"{c + 1}-layer")
                if c == 0:
                    ax.set_ylabel(label)
        fig.suptitle(f"{act} activations per layer")
        save_figure(fig, out / f"activations_{act}.png")
