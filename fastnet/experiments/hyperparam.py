"""Random search for lr and weight decay on a validation split (the textbook's section 6.5).

The textbook's setting: the first 500 training samples, of which 20 % (per
class) are held out for validation; a 784-100x6-10 ReLU net (He init)
trained by SGD, batch 100, for 50 epochs; 100 trials with lr ~ 10^U(-6, -2)
and weight decay ~ 10^U(-8, -4). The test set is not used. Prints the best
trials and the log10 lr band of the best tenth against the space's; writes
``hyperparam.csv`` (all trials, best first), ``hyperparam.json`` (with the
per-epoch curves) and ``hyperparam.png`` (the best 20 trials' validation
and training accuracy, 4x5). Data: the full MNIST set if on disk, else the
offline sample.

The trials train in groups of :data:`BATCH_TRIALS` (trials 0-9, 10-19, ...),
each group as one :class:`fastnet.NetBatch`: every trial keeps its own lr,
weight decay, initial weights and optimizer, but **the trials of a group
see the same batches** (those of its first trial), so their differences are
their hyperparameters and initial weights only (see
:func:`fastnet.tune.random_search`). It is still a random search of the
same log-scale space, ranked on the same validation split. Why groups: a
784-100x6-10 net on batches of 100 is too small for BLAS to use two
threads well; a group runs its nets side by side, one per thread.
``batch_trials=1`` trains every trial alone on its own batch order, as the
textbook does.
"""
from pathlib import Path

import numpy as np

from fastnet._checks import positive_int
from fastnet.experiments._common import format_table
from fastnet.tune import MLP, loguniform, random_search

#: The textbook's search space.
SPACE = {"lr": loguniform(1e-6, 1e-2), "weight_decay": loguniform(1e-8, 1e-4)}
#: Trials trained together as one NetBatch by default (see the module docstring).
BATCH_TRIALS = 10


def top_count(n_trials):
    """How many trials count as "the top": the best tenth, at least three."""
    return max(3, n_trials // 10)


def lr_band(result, top):
    """``(low, median, high)`` of log10(lr) over the ``top`` best trials."""
    logs = np.log10([r["params"]["lr"] for r in result.trials[:top]])
    return float(logs.min()), float(np.median(logs)), float(logs.max())


def run(out_dir=None, *, seed=0, quick=False, n_trials=None, epochs=None, train_size=500,
        hidden=(100,) * 6, n_jobs=1, early_stopping=None, data=None, backend="compiled",
        batch_trials=BATCH_TRIALS):
    """Run the search; ``quick``: 30 trials of 20 epochs.

    ``n_jobs``, ``early_stopping`` and ``batch_trials`` (groups of trials
    trained as one NetBatch on the same batches; 1: each trial alone) go to
    :func:`fastnet.tune.random_search`. ``backend``: 'compiled' or 'reference'
    (the NumPy twin of the same math), for every trial's net and optimizer.

    ``data``: ``((x_train, t_train), (x_test, t_test), source)`` instead of
    MNIST (the test part is ignored). Returns ``{'result': SearchResult,
    'lr_band': (low, median, high) of the top tenth's log10 lr, 'source', and the paths
    written}``.
    """
    n_trials = positive_int("n_trials", n_trials if n_trials is not None else
                            (30 if quick else 100))
    epochs = positive_int("epochs", epochs if epochs is not None else (20 if quick else 50))
    train_size = positive_int("train_size", train_size)
    if data is None:
        from fastnet.datasets import load_mnist_or_sample
        data = load_mnist_or_sample(normalize=True)
    (x_train, t_train), _, source = data
    x, t = x_train[:train_size], t_train[:train_size]
    build = MLP(x.shape[1], list(hidden), 10, optimizer="sgd", backend=backend)
    result = random_search(build, SPACE, x, t, n_trials=n_trials, validation_fraction=0.2,
                           epochs=epochs, batch_size=100, seed=seed, n_jobs=n_jobs,
                           early_stopping=early_stopping, batch_trials=batch_trials)
    top = top_count(n_trials)
    band = lr_band(result, top)
    print(f"hyperparam: {source}; first {len(x)} training samples (20 % validation), "
          f"{x.shape[1]}-{'-'.join(map(str, hidden))}-10, {n_trials} trials x {epochs} epochs"
          + (f", in groups of {batch_trials} on shared batches" if batch_trials > 1 else ""))
    print(format_table(result.header(), result.rows()[:20]))
    print(result.summary())
    print(f"top {top} trials' log10(lr) in [{band[0]:.2f}, {band[2]:.2f}], median {band[1]:.2f} "
          "(space [-6, -2], median -4)")
    out = {"result": result, "lr_band": band, "source": source}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out["csv"] = result.save(out_dir / "hyperparam.csv")
        out["json"] = result.save(out_dir / "hyperparam.json")
        out["png"] = result.plot(out_dir / "hyperparam.png", top=20)
    return out
