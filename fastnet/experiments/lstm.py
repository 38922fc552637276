"""Sequence learning with an LSTM: MNIST read row by row (the LSTM issue's small task).

Each 28 x 28 image of the offline MNIST sample (8,000 training, 2,000 test
images) is a sequence of 28 rows of 28 pixels. An LSTM reads the rows in
order and an affine layer classifies its last hidden state::

    Sequential([LSTM(28, H, num_layers, batch_first=True), LastStep(), Affine(H, 10)])

trained with softmax cross-entropy, Adam and the textbook's ``Trainer``, for
1 and 2 stacked layers from the same seed. Records the loss per iteration,
train and test accuracy per epoch and the wall time of each model.
"""
import time
from pathlib import Path

import numpy as np

from fastnet._checks import one_of
from fastnet._io import write_csv
from fastnet.datasets import load_mnist
from fastnet.experiments._common import BACKENDS, format_table, pyplot, save_figure
from fastnet.util import smooth_curve
from fastnet.layers import LSTM, Affine, LastStep
from fastnet.net import Sequential
from fastnet.trainer import Trainer

ROWS = COLUMNS = 28


def load_rows(dtype=np.float32):
    """The MNIST sample as sequences: ``x (N, 28 steps, 28 pixels)`` in [0, 1], labels ``(N,)``."""
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=False, sample=True)
    as_rows = [x.reshape(len(x), ROWS, COLUMNS).astype(dtype) for x in (x_train, x_test)]
    return (as_rows[0], t_train), (as_rows[1], t_test)


def build_net(num_layers, hidden, *, seed=0, dtype=np.float32, backend="compiled"):
    """``LSTM(28, hidden, num_layers) -> last step -> Affine(hidden, 10)``, batch first.

    ``backend`` ('compiled' or 'reference') builds every layer (and so the loss).
    """
    rng = np.random.default_rng(seed)
    return Sequential([LSTM(COLUMNS, hidden, num_layers, batch_first=True, rng=rng, dtype=dtype,
                            backend=backend),
                       LastStep(backend=backend),
                       Affine.create(hidden, 10, weight_init="xavier", rng=rng, dtype=dtype,
                                     backend=backend)])


def train_model(data, num_layers, *, hidden, epochs, lr=0.01, batch_size=100, seed=0,
                backend="compiled"):
    """Train one model; return its curves, final test accuracy and wall time (seconds).

    ``backend`` ('compiled' or 'reference') builds the net and its Adam optimizer.
    """
    (x_train, t_train), (x_test, t_test) = data
    net = build_net(num_layers, hidden, seed=seed, backend=backend)
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs,
                      mini_batch_size=batch_size, optimizer="adam",
                      optimizer_param={"lr": lr, "backend": backend},
                      verbose=False, seed=seed)
    start = time.perf_counter()
    trainer.train()
    return {"loss": np.array(trainer.train_loss_list),
            "train_acc": np.array(trainer.train_acc_list),
            "test_acc": np.array(trainer.test_acc_list),
            "final_test_acc": trainer.final_test_acc, "seconds": time.perf_counter() - start}


def run(out_dir=None, *, seed=0, quick=False, epochs=None, hidden=None, layers=(1, 2),
        backend="compiled"):
    """Train an LSTM classifier of each depth in ``layers``; return their curves and a summary.

    Defaults: hidden size 64, 5 epochs (measured: test accuracy 0.953 with 1
    layer in 12 s, 0.952 with 2 layers in 24 s, one BLAS thread on a shared
    2-core machine); ``quick``: hidden 32, 1 epoch (0.73 for both, 2-3 s each).
    ``backend``: 'compiled' or 'reference' (the NumPy twin of the same math),
    for every layer and optimizer.
    """
    backend = one_of("backend", backend, BACKENDS)
    epochs = epochs or (1 if quick else 5)
    hidden = hidden or (32 if quick else 64)
    data = load_rows()
    results = {n: train_model(data, n, hidden=hidden, epochs=epochs, seed=seed, backend=backend)
               for n in layers}
    header = ("layers", "hidden", "epochs", "final train acc", "final test acc", "seconds")
    rows = [(n, hidden, epochs, float(r["train_acc"][-1]), float(r["final_test_acc"]),
             float(r["seconds"])) for n, r in results.items()]
    print(f"lstm: MNIST sample read row by row ({ROWS} steps of {COLUMNS} pixels), "
          f"{len(data[0][0])} training / {len(data[1][0])} test images, Adam")
    print(format_table(header, rows))
    result = {"models": results, "summary": rows}
    if out_dir is not None:
        out = Path(out_dir)
        write_csv(out / "lstm_epochs.csv", ("layers", "epoch", "train_acc", "test_acc"),
                  [(n, e + 1, float(r["train_acc"][e]), float(r["test_acc"][e]))
                   for n, r in results.items() for e in range(len(r["train_acc"]))])
        write_csv(out / "lstm_loss.csv", ("layers", "iteration", "loss"),
                  [(n, i + 1, float(v)) for n, r in results.items()
                   for i, v in enumerate(r["loss"])])
        write_csv(out / "lstm_summary.csv", header, rows)
        result["files"] = [out / "lstm_epochs.csv", out / "lstm_loss.csv", out / "lstm_summary.csv"]
        plt = pyplot()
        if plt is not None:
            result["files"].append(_plot(plt, results, out / "lstm.png"))
    return result


def _plot(plt, results, path):
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    for n, r in results.items():
        name = f"{n} layer{'s' if n > 1 else ''}"
        loss_ax.plot(np.arange(1, len(r["loss"]) + 1), smooth_curve(r["loss"]), label=name)
        epochs = np.arange(1, len(r["test_acc"]) + 1)
        acc_ax.plot(epochs, r["train_acc"], marker="o", label=f"{name}, train")
        acc_ax.plot(epochs, r["test_acc"], marker="s", linestyle="--", label=f"{name}, test")
    loss_ax.set_xlabel("iterations")
    loss_ax.set_ylabel("loss (smoothed)")
    loss_ax.legend()
    acc_ax.set_xlabel("epochs")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1)
    acc_ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)
