"""The data the batch-norm and overfitting experiments train on."""
import numpy as np


def load_data():
    """``((x_train, t_train), (x_test, t_test), source)`` from ``fastnet.datasets``.

    Until ``fastnet.datasets`` is part of the package this falls back to a
    synthetic, MNIST-shaped set (784 features in [0, 1], 10 classes) and says
    so in ``source``.
    """
    try:
        from fastnet.datasets import load_mnist_or_sample
    except ImportError:
        return _synthetic()
    return load_mnist_or_sample(normalize=True)


def _synthetic(n_train=8000, n_test=2000, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 784)) < 0.15

    def draw(n):
        t = rng.integers(0, 10, n)
        flips = rng.random((n, 784)) < 0.12
        x = np.logical_xor(prototypes[t], flips).astype(np.float32)
        return x, t

    return draw(n_train), draw(n_test), (
        f"synthetic MNIST-shaped data ({n_train:,} train / {n_test:,} test; "
        "fastnet.datasets is not available)")
