"""Tight-loop timing of the textbook nets' training steps, for comparing two builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/step_loop.py LABEL

prints the median time per SGD step (7 rounds of 200 steps; 10 for net W) of
net T (784-100x4-10, batch 100), net W (784-1024-1024-10, batch 512) and net T
with batch norm, float32. Run it alternately with another build first on
PYTHONPATH (``PYTHONPATH=/path/to/old/site python bench/step_loop.py old``) to
compare builds in one sitting; bench/RESULTS.md quotes such a comparison.
"""
import sys

import numpy as np

import fastnet
from fastnet.optim import make_optimizer
from harness import block_seconds

NETS = (("T", [784, 100, 100, 100, 100, 10], 100, {}, 200),
        ("W", [784, 1024, 1024, 10], 512, {}, 10),
        ("T+BN", [784, 100, 100, 100, 100, 10], 100, {"use_batchnorm": True}, 200))


def main(label):
    results = []
    for name, sizes, n, kwargs, reps in NETS:
        net = fastnet.MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1], seed=0, **kwargs)
        opt = make_optimizer("sgd", lr=0.01)
        rng = np.random.default_rng(0)
        x = rng.random((n, sizes[0])).astype(np.float32)
        t = rng.integers(0, sizes[-1], n)
        for _ in range(3):
            opt.update(net.params, net.gradient(x, t))
        times = [block_seconds(lambda: opt.update(net.params, net.gradient(x, t)), reps)  # noqa: B023
                 for _ in range(7)]
        results.append(f"{name}={np.median(times) * 1e6:.0f}us")
    print(label, " ".join(results))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this build")
