"""Overfitting and its cures (the textbook's ch06 ``overfit_weight_decay`` and ``overfit_dropout``).

A 784-100x6-10 ReLU net trained with SGD (lr 0.01, batch 100) on only 300
samples fits them almost perfectly while the test accuracy stays far lower.
Four settings from the same initial weights: no regularisation, weight decay
lambda = 0.1, dropout 0.2 (the textbook's dropout), and both. Each records
train and test accuracy per epoch; the summary gives the final train - test
gap and the gap averaged over all epochs (how far apart the two curves of
the textbook's figures run). The settings' nets see the same batches and
train as one :class:`fastnet.NetBatch`, each exactly as if trained alone.

``quick`` runs the textbook's three settings (not the combination) with
lr 0.05 instead of 0.01 for 80 epochs, testing on 500 samples: five times
the step for 40% of the epochs, so the unregularised net still fits its 300
samples perfectly and overfits (40 epochs at lr 0.01 do not get there),
and the regularised nets end with a smaller gap at a test accuracy well
above chance. (At lr 0.1 the weight-decay run oscillates.)
"""
from pathlib import Path

import numpy as np

from fastnet._checks import one_of
from fastnet._io import write_csv
from fastnet.datasets import load_mnist_or_sample
from fastnet.ensemble import train_together
from fastnet.experiments._common import BACKENDS, format_table, pyplot, save_figure
from fastnet.multi_layer_net import MultiLayerNetExtend
from fastnet.netbatch import NetBatch
from fastnet.optim import SGD

# name -> (weight_decay_lambda, use_dropout)
SETTINGS = {
    "none": (0.0, False),
    "weight decay 0.1": (0.1, False),
    "dropout 0.2": (0.0, True),
    "weight decay + dropout": (0.1, True),
}


def train_settings(data, settings, *, epochs, dropout_ratio=0.2, hidden=(100,) * 6, lr=0.01,
                   seed=0, test_size=None, backend="compiled"):
    """Train one net per setting, all as one NetBatch on the same batches.

    ``settings``: ``{name: (weight_decay_lambda, use_dropout)}``. Every net
    starts from the weights of ``seed`` and trains with SGD on batches of 100
    drawn as ``Trainer(..., seed=seed)`` draws them, so each ends as the
    Trainer would have trained it alone. Returns ``{name: (train_acc,
    test_acc)}``, arrays of one accuracy per epoch (on all training samples
    and the first ``test_size`` test samples). ``backend`` ('compiled' or
    'reference') builds every net and optimizer.
    """
    (x_train, t_train), (x_test, t_test) = data
    if test_size is not None:
        x_test, t_test = x_test[:test_size], t_test[:test_size]
    nets = [MultiLayerNetExtend(x_train.shape[1], list(hidden), 10, weight_decay_lambda=lam,
                                use_dropout=use_dropout, dropout_ration=dropout_ratio, seed=seed,
                                backend=backend)
            for lam, use_dropout in settings.values()]
    train_acc, test_acc = [], []

    def evaluate(epoch, members, batch):
        train_acc.append(batch.accuracy(x_train, t_train))
        test_acc.append(batch.accuracy(x_test, t_test))

    train_together(NetBatch(nets, [SGD(lr, backend=backend) for _ in nets]), x_train, t_train, epochs=epochs,
                   batch_size=100, seed=seed, on_epoch=evaluate)
    train_acc, test_acc = np.array(train_acc).T, np.array(test_acc).T
    return {name: (train_acc[k], test_acc[k]) for k, name in enumerate(settings)}


def run(out_dir=None, *, seed=0, quick=False, epochs=None, lr=None, train_size=300,
        backend="compiled"):
    """Run the four settings; return their curves, final accuracies and gaps.

    ``quick``: three settings, lr 0.05, 80 epochs, 500 test samples;
    otherwise all four, lr 0.01, 200 epochs, the whole test set.
    ``epochs``/``lr`` override. ``backend``: 'compiled' or 'reference' (the
    NumPy twin of the same math), for every net and optimizer.
    Returns ``{'curves': {setting: (train_acc, test_acc) arrays}, 'final':
    rows of (setting, final train acc, final test acc, gap, mean gap), 'source'}``.
    """
    backend = one_of("backend", backend, BACKENDS)
    epochs = epochs or (80 if quick else 200)
    lr = lr or (0.05 if quick else 0.01)
    (x_train, t_train), test, source = load_mnist_or_sample(normalize=True)
    data = ((x_train[:train_size], t_train[:train_size]), test)
    settings = {k: (lam, drop) for k, (lam, drop) in SETTINGS.items()
                if not (quick and lam and drop)}  # quick: the textbook's three
    curves = train_settings(data, settings, epochs=epochs, lr=lr, seed=seed,
                            test_size=500 if quick else None, backend=backend)
    rows = [(name, float(tr[-1]), float(te[-1]), float(tr[-1] - te[-1]), float(np.mean(tr - te)))
            for name, (tr, te) in curves.items()]
    header = ("setting", "final train acc", "final test acc", "gap", "mean gap")
    print(f"overfit: {source}; {train_size} training samples, {epochs} epochs, SGD lr {lr:g}")
    print(format_table(header, rows))
    result = {"curves": curves, "final": rows, "source": source}
    if out_dir is not None:
        out = Path(out_dir)
        write_csv(out / "overfit_curves.csv", ("setting", "epoch", "train_acc", "test_acc"),
                  [(name, e + 1, float(tr[e]), float(te[e]))
                   for name, (tr, te) in curves.items() for e in range(len(tr))])
        write_csv(out / "overfit_summary.csv", header, rows)
        result["files"] = [out / "overfit_curves.csv", out / "overfit_summary.csv"]
        plt = pyplot()
        if plt is not None:
            result["files"].append(_plot(plt, curves, out / "overfit.png"))
    return result


def _plot(plt, curves, path):
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
    for ax, (name, (tr, te)) in zip(axes.flat, curves.items()):
        x = np.arange(1, len(tr) + 1)
        ax.plot(x, tr, marker="o", markevery=max(len(x) // 10, 1), label="train")
        ax.plot(x, te, marker="s", markevery=max(len(x) // 10, 1), label="test")
        ax.set_title(f"{name}: gap {tr[-1] - te[-1]:.2f}", fontsize=10)
        ax.set_xlabel("epochs")
        ax.set_ylim(0, 1.0)
    axes.flat[0].set_ylabel("accuracy")
    axes.flat[0].legend(loc="lower right")
    return save_figure(fig, path)
