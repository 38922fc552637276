"""Batch normalization vs initial weight scale (the textbook's ch06 ``batch_norm_test``).

For each of 16 weight scales ``logspace(0, -4, 16)`` two 784-100x5-10 ReLU
nets start from the same weights, one with batch normalization, and take the
same SGD steps (lr 0.01, batch 100 drawn with replacement) on 1,000 training
samples for 20 epochs; the training accuracy is recorded once per epoch (10
steps), as the textbook does. Batch norm trains across the whole range of
scales; without it the net is stuck at chance for the small scales (the
signal vanishes through five layers) and at the largest. All the nets (two
per scale) see the same batches, so they train as one :class:`fastnet.NetBatch`:
one batched step per mini-batch, each net exactly as if trained alone.
"""
from pathlib import Path

import numpy as np

from fastnet._checks import one_of
from fastnet._io import write_csv
from fastnet.datasets import load_mnist_or_sample
from fastnet.experiments._common import BACKENDS, format_table, pyplot, save_figure
from fastnet.multi_layer_net import MultiLayerNetExtend
from fastnet.netbatch import NetBatch
from fastnet.optim import SGD


def train_sweep(x_train, t_train, weight_scales, *, epochs=20, hidden=(100,) * 5,
                batch_size=100, lr=0.01, seed=0, backend="compiled"):
    """Train, per weight scale, a net with and one without batch norm from the same weights.

    All ``2 * len(weight_scales)`` nets take the same SGD steps on the same
    batches (drawn with replacement from ``seed``), as one NetBatch. Returns
    ``(bn_train_acc, train_acc)``, each of shape ``(len(weight_scales),
    epochs)``: the training accuracy once per epoch of ``N // batch_size``
    steps, taken after an epoch's first step (the textbook's schedule).
    ``backend`` ('compiled' or 'reference') builds every net and optimizer.
    """
    scales = [float(w) for w in weight_scales]
    nets = [MultiLayerNetExtend(x_train.shape[1], list(hidden), 10, weight_init_std=w,
                                use_batchnorm=use_bn, seed=seed, backend=backend)
            for use_bn in (True, False) for w in scales]
    batch = NetBatch(nets, [SGD(lr=lr, backend=backend) for _ in nets])
    rng = np.random.default_rng(seed)
    train_size = x_train.shape[0]
    iter_per_epoch = max(train_size // batch_size, 1)
    curves = []
    for i in range(epochs * iter_per_epoch):
        idx = rng.choice(train_size, batch_size)
        batch.step(x_train[idx], t_train[idx])
        if i % iter_per_epoch == 0:
            curves.append(batch.accuracy(x_train, t_train))
    acc = np.array(curves, dtype=np.float64).reshape(epochs, 2, len(scales))
    return acc[:, 0].T.copy(), acc[:, 1].T.copy()


def train_pair(x_train, t_train, weight_scale, **kwargs):
    """:func:`train_sweep` at one weight scale: ``(bn_train_acc, train_acc)`` per epoch."""
    bn_acc, acc = train_sweep(x_train, t_train, [weight_scale], **kwargs)
    return bn_acc[0], acc[0]


def run(out_dir=None, *, seed=0, quick=False, epochs=None, train_size=None, num_scales=None,
        backend="compiled"):
    """Run the sweep; return a dict of the scales, both accuracy grids and the data source.

    ``quick`` shrinks it to 4 scales, 5 epochs and 300 samples (seconds).
    ``backend``: 'compiled' or 'reference' (the NumPy twin of the same math),
    for every net and optimizer.
    """
    backend = one_of("backend", backend, BACKENDS)
    epochs = epochs or (5 if quick else 20)
    train_size = train_size or (300 if quick else 1000)
    num_scales = num_scales or (4 if quick else 16)
    (x_train, t_train), _, source = load_mnist_or_sample(normalize=True)
    x_train, t_train = x_train[:train_size], t_train[:train_size]
    scales = np.logspace(0, -4, num=num_scales)
    bn_acc, acc = train_sweep(x_train, t_train, scales, epochs=epochs, seed=seed,
                              backend=backend)

    rows = [(k + 1, float(w), float(bn_acc[k, -1]), float(acc[k, -1])) for k, w in enumerate(scales)]
    header = ("#", "weight scale", "train acc with BN", "train acc without BN")
    print(f"batchnorm: {source}; {train_size} training samples, {epochs} epochs")
    print(format_table(header, rows))
    result = {"weight_scales": scales, "bn_train_acc": bn_acc, "train_acc": acc,
              "final": rows, "source": source}
    if out_dir is not None:
        out = Path(out_dir)
        write_csv(out / "batchnorm_curves.csv",
                  ("weight_scale", "epoch", "train_acc_batchnorm", "train_acc_plain"),
                  [(float(w), e, float(bn_acc[k, e]), float(acc[k, e]))
                   for k, w in enumerate(scales) for e in range(epochs)])
        write_csv(out / "batchnorm_final.csv", header, rows)
        result["files"] = [out / "batchnorm_curves.csv", out / "batchnorm_final.csv"]
        plt = pyplot()
        if plt is not None:
            result["files"].append(_plot(plt, scales, bn_acc, acc, out / "batchnorm.png"))
    return result


def _plot(plt, scales, bn_acc, acc, path):
    side = int(np.ceil(np.sqrt(len(scales))))
    fig, axes = plt.subplots(side, side, figsize=(3 * side, 2.4 * side), squeeze=False)
    epochs = np.arange(bn_acc.shape[1])
    for k, ax in enumerate(axes.flat):
        if k >= len(scales):
            ax.axis("off")
            continue
        ax.plot(epochs, bn_acc[k], label="Batch Normalization")
        ax.plot(epochs, acc[k], linestyle="--", label="without BatchNorm")
        ax.set_title(f"W: {scales[k]:.3g}", fontsize=9)
        ax.set_ylim(0, 1.0)
        if k % side:
            ax.set_yticks([])
        else:
            ax.set_ylabel("accuracy")
        if k < len(scales) - side:
            ax.set_xticks([])
        else:
            ax.set_xlabel("epochs")
    axes.flat[len(scales) - 1].legend(loc="lower right", fontsize=7)
    return save_figure(fig, path)
