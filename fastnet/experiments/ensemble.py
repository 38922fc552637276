"""An ensemble of nets trained from different seeds vs its members, on MNIST.

``k`` nets 784-100-100-10 (ReLU, He init) differ only in their seed (initial
weights and batch order); they are trained with SGD (lr 0.1, batch 100) all
at once by :meth:`fastnet.Ensemble.fit` (one NetBatch step per batch, each
member on its own batch order, exactly as a :class:`~fastnet.trainer.Trainer`
would train it alone), and the :class:`fastnet.Ensemble` averages their
softmax outputs. Reports each member's test accuracy, their mean, and the
ensemble's; writes ``ensemble.csv``. Data: the full MNIST set
if on disk, else the offline sample.
"""
from pathlib import Path

import numpy as np

from fastnet._checks import make_rng, one_of, positive_int
from fastnet._io import write_csv
from fastnet.ensemble import Ensemble
from fastnet.experiments._common import BACKENDS, format_table
from fastnet.multi_layer_net import MultiLayerNet

HEADER = ("model", "test accuracy")


def run(out_dir=None, *, seed=0, quick=False, k=None, epochs=None, hidden=(100, 100), lr=0.1,
        data=None, backend="compiled"):
    """Train ``k`` members (default 5; ``quick``: 3) for ``epochs`` (default 5; ``quick``: 2).

    ``data``: ``((x_train, t_train), (x_test, t_test), source)`` instead of MNIST.
    ``backend``: 'compiled' or 'reference' (the NumPy twin of the same math),
    for the members and their optimizers.
    Returns ``{'member_acc': [...], 'mean_member_acc', 'ensemble_acc', 'table', 'source'}``.
    """
    backend = one_of("backend", backend, BACKENDS)
    k = positive_int("k", k if k is not None else (3 if quick else 5))
    epochs = positive_int("epochs", epochs if epochs is not None else (2 if quick else 5))
    if data is None:
        from fastnet.datasets import load_mnist_or_sample
        data = load_mnist_or_sample(normalize=True)
    (x_train, t_train), (x_test, t_test), source = data
    streams = make_rng(seed).spawn(2 * k)
    ens = Ensemble([MultiLayerNet(x_train.shape[1], list(hidden), 10, seed=streams[2 * m],
                                  backend=backend)
                    for m in range(k)])
    # fit builds the optimizers by name, like Trainer: the backend goes with their settings
    ens.fit(x_train, t_train, epochs=epochs, batch_size=100, optimizer="sgd",
            optimizer_param={"lr": lr, "backend": backend}, seed=streams[1::2])
    member_acc, ensemble_acc = ens.member_accuracies(x_test, t_test)
    mean_acc = float(np.mean(member_acc))
    rows = [[f"member {m + 1}", acc] for m, acc in enumerate(member_acc)]
    rows += [["mean member", mean_acc], [f"ensemble of {k}", ensemble_acc]]
    print(f"ensemble: {source}; {k} members, {epochs} epochs each")
    print(format_table(HEADER, rows))
    result = {"member_acc": member_acc, "mean_member_acc": mean_acc,
              "ensemble_acc": ensemble_acc, "table": rows, "source": source}
    if out_dir is not None:
        result["csv"] = write_csv(Path(out_dir) / "ensemble.csv", HEADER, rows)
    return result
