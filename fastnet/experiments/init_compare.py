"""Training loss by weight init on MNIST: std 0.01 vs Xavier vs He vs LSUV (textbook 6.2.4).

A 784-100-100-100-100-10 ReLU ``MultiLayerNet`` per initializer, trained with
SGD (lr 0.01) on the same mini-batches of 128 (2,000 steps; ``quick``: 100),
all four as one :class:`fastnet.NetBatch` (one batched step per mini-batch).
"Xavier" and "He" are the textbook's ('sigmoid' = N(0, 1/n), 'relu' =
N(0, 2/n)); "LSUV" is :func:`fastnet.init.lsuv` on one training batch.
Writes ``init_compare_loss.csv`` (raw and smoothed loss per step) and
``init_compare_final.csv``, plus ``init_compare.png`` when matplotlib is
installed; prints the final table.
"""
from pathlib import Path

import numpy as np

from fastnet._checks import make_rng, one_of
from fastnet._io import write_csv
from fastnet.experiments._common import BACKENDS, curve_style, format_table, pyplot, save_figure
from fastnet.init import lsuv
from fastnet.multi_layer_net import MultiLayerNet
from fastnet.netbatch import NetBatch
from fastnet.optim import SGD
from fastnet.util import smooth_curve

# label -> weight_init_std; LSUV starts from any init (it re-initializes orthogonally).
INITS = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu", "LSUV": "relu"}
FINAL_HEADER = ["init", "final_loss_smoothed", "train_acc", "test_acc"]


def _load(quick):
    from fastnet.datasets import load_mnist_or_sample

    (x_train, t_train), (x_test, t_test), source = load_mnist_or_sample(normalize=True)
    if quick:
        x_train, t_train, x_test, t_test = x_train[:2000], t_train[:2000], x_test[:500], t_test[:500]
    return (x_train, t_train), (x_test, t_test), source


def run(out_dir=None, *, seed=0, quick=False, iterations=None, batch_size=128, lr=0.01,
        data=None, dtype=np.float32, backend="compiled"):
    """Run the comparison; return ``{'loss': {init: per-step losses}, 'final': [rows],
    'lsuv': lsuv report, 'source': data description}``.

    ``data`` may be ``((x_train, t_train), (x_test, t_test))`` to use instead of
    :func:`fastnet.datasets.load_mnist_or_sample` (t as class indices).
    ``backend``: 'compiled' or 'reference' (the NumPy twin of the same math),
    for every net and optimizer.
    """
    backend = one_of("backend", backend, BACKENDS)
    if data is None:
        (x_train, t_train), (x_test, t_test), source = _load(quick)
    else:
        (x_train, t_train), (x_test, t_test) = data
        source = "given arrays"
    x_train = np.asarray(x_train).reshape(len(x_train), -1).astype(dtype, copy=False)
    x_test = np.asarray(x_test).reshape(len(x_test), -1).astype(dtype, copy=False)
    if iterations is None:
        iterations = 100 if quick else 2000
    rng = make_rng(seed)
    input_size, n_classes = x_train.shape[1], 10
    nets = {label: MultiLayerNet(input_size, [100, 100, 100, 100], n_classes, "relu",
                                 weight_init_std=spec, dtype=dtype, seed=rng,
                                 backend=backend)
            for label, spec in INITS.items()}
    batches = [rng.choice(len(x_train), batch_size) for _ in range(iterations)]
    lsuv_report = lsuv(nets["LSUV"], x_train[batches[0]] if iterations else x_train[:batch_size],
                       seed=rng)
    batch = NetBatch(list(nets.values()), [SGD(lr, backend=backend) for _ in nets])
    per_step = np.empty((iterations, len(nets)))
    for i, idx in enumerate(batches):
        per_step[i] = batch.step(x_train[idx], t_train[idx])
        if (i + 1) % 500 == 0 or i + 1 == iterations:
            print(f"step {i + 1}: " + "  ".join(f"{k} {v:.4f}" for k, v in zip(nets, per_step[i])))
    losses = {label: per_step[:, k] for k, label in enumerate(nets)}

    smoothed = {label: smooth_curve(v) for label, v in losses.items()}
    train_acc, test_acc = batch.accuracy(x_train, t_train), batch.accuracy(x_test, t_test)
    final = [[label, float(smoothed[label][-1]) if iterations else float("nan"),
              float(train_acc[k]), float(test_acc[k])] for k, label in enumerate(nets)]
    print(f"data: {source}")
    print(format_table(FINAL_HEADER, final))
    if out_dir is not None:
        out = Path(out_dir)
        header = ["step"] + [f"{k}{s}" for k in nets for s in ("", "_smoothed")]
        rows = [[i + 1] + [float(a[i]) for k in nets for a in (losses[k], smoothed[k])]
                for i in range(iterations)]
        write_csv(out / "init_compare_loss.csv", header, rows)
        write_csv(out / "init_compare_final.csv", FINAL_HEADER, final)
        plt = pyplot()
        if plt is not None:
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for k, label in enumerate(nets):
                ax.plot(np.arange(1, iterations + 1), smoothed[label], label=label,
                        **curve_style(k, iterations))
            ax.set_xlabel("iterations")
            ax.set_ylabel("loss")
            ax.set_ylim(0, 2.5)
            ax.legend()
            save_figure(fig, out / "init_compare.png")
    return {"loss": losses, "final": final, "lsuv": lsuv_report, "source": source}
