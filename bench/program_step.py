"""A net's pass as one compiled call (#10) and several nets at once (#15), timed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/program_step.py

prints median times (interleaved rounds) of

- the dispatch overhead: ``gradient()`` and ``loss()`` of a 2-2-2-2-2-2 ReLU
  net on 2 samples (kernels with no work to do), compiled pass against the
  per-layer path (``net._use_program = False``);
- net T (784-100x4-10, batch 100, float32): an SGD step, both paths;
- eight net T nets on one shared batch: ``fastnet._program.gradients_many``
  against eight ``gradient()`` calls.
"""
import functools

import numpy as np

from fastnet import MultiLayerNet
from fastnet._program import gradients_many
from fastnet.optim import make_optimizer
from harness import block_seconds

ROUNDS = 9


def _median_us(fn, reps):
    for _ in range(3):
        fn()
    return np.median([block_seconds(fn, reps) for _ in range(ROUNDS)]) * 1e6


def _pair(sizes):
    nets = []
    for use in (True, False):
        net = MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], seed=0)
        net._use_program = use
        nets.append(net)
    return nets


def main():
    rng = np.random.default_rng(0)
    rows = []
    tiny = [2] * 6
    x, t = rng.random((2, 2)).astype(np.float32), rng.integers(0, 2, 2)
    for what in ("gradient", "loss"):
        times = [_median_us(functools.partial(getattr(net, what), x, t), 2000)
                 for net in _pair(tiny)]
        rows.append((f"2-2-2-2-2-2 {what}()", *times))

    sizes = [784, 100, 100, 100, 100, 10]
    x, t = rng.random((100, 784)).astype(np.float32), rng.integers(0, 10, 100)
    steps = []
    for net in _pair(sizes):
        opt = make_optimizer("sgd", lr=0.01)
        steps.append(lambda net=net, opt=opt: opt.update(net.params, net.gradient(x, t)))
    rows.append(("net T SGD step", *[_median_us(step, 100) for step in steps]))

    nets = [MultiLayerNet(784, [100] * 4, 10, seed=s) for s in range(8)]
    many = _median_us(lambda: gradients_many(nets, [x] * 8, [t] * 8), 20)
    one_by_one = _median_us(lambda: [net.gradient(x, t) for net in nets], 20)
    rows.append(("8 x net T gradient, one batch", many, one_by_one))

    print(f"{'case':34s} {'compiled us':>12s} {'per-layer us':>13s} {'ratio':>6s}")
    for name, fast, slow in rows:
        print(f"{name:34s} {fast:12.1f} {slow:13.1f} {slow / fast:6.2f}")


if __name__ == "__main__":
    main()
