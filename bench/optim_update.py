"""Tight-loop timing of ``opt.update(net.params, grads)`` alone, for comparing two builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/optim_update.py LABEL

prints the median time per update (7 rounds of 2,000) with SGD and Adam of
the parameters of net T (784-100x4-10, float32, 10 arrays) and of a net of
2-2-2-2-2-2 (10 arrays of at most 4 elements: the Python overhead alone),
with gradients from one ``gradient()`` call, and of two Python floats (the
textbook's optimizer-path script, ``{"x": -7.0, "y": 2.0}``), on the compiled
kernels and on the reference backend. Run it alternately with another
build first on PYTHONPATH, as bench/step_loop.py.
"""
import functools
import sys

import numpy as np

import fastnet
from fastnet.optim import make_optimizer
from harness import block_seconds

NETS = (("T", [784, 100, 100, 100, 100, 10]), ("tiny", [2, 2, 2, 2, 2, 2]))


def main(label):
    results = []
    for name, sizes in NETS:
        for optimizer in ("sgd", "adam"):
            net = fastnet.MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1], seed=0)
            opt = make_optimizer(optimizer, lr=1e-4)
            rng = np.random.default_rng(0)
            grads = net.gradient(rng.random((100, sizes[0])).astype(np.float32),
                                 rng.integers(0, sizes[-1], 100))
            for _ in range(50):
                opt.update(net.params, grads)
            update = functools.partial(opt.update, net.params, grads)
            times = [block_seconds(update, 2000) for _ in range(7)]
            results.append(f"{name}/{optimizer}={np.median(times) * 1e6:.1f}us")
    for backend in ("compiled", "reference"):
        for optimizer in ("sgd", "adam"):
            opt = make_optimizer(optimizer, lr=1e-4, backend=backend)
            params, grads = {"x": -7.0, "y": 2.0}, {"x": -0.7, "y": 4.0}
            update = functools.partial(opt.update, params, grads)
            times = [block_seconds(update, 2000) for _ in range(7)]
            results.append(f"floats/{optimizer}/{backend}={np.median(times) * 1e6:.1f}us")
    print(label, " ".join(results))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this build")
