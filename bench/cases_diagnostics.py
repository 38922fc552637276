"""Cost of recording per-layer statistics: net T's SGD step with recording off and on."""
import numpy as np

import fastnet
from fastnet.optim import SGD
from harness import add_case


def _step(record):
    def factory():
        net = fastnet.MultiLayerNet(784, [100, 100, 100, 100], 10, seed=0)
        if record:
            net.record_stats()
        opt = SGD(lr=0.01)
        rng = np.random.default_rng(0)
        x, t = rng.random((100, 784), dtype=np.float32), rng.integers(0, 10, 100)

        def step():
            opt.update(net.params, net.gradient(x, t))
        return step
    return factory


add_case("diagnostics", "net T batch 100 float32 SGD step",
         {"fastnet": _step(False), "recording stats": _step(True)})
