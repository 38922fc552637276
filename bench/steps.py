"""Training-step workloads shared by the step benchmarks: a fastnet net and its torch twin.

net T = 784-100-100-100-100-10 ReLU at batch 100 (the textbook's net);
net W = 784-1024-1024-10 ReLU at batch 512 (GEMM-dominated). A step is
``gradient`` + ``update`` on a fixed random batch; torch's is ``zero_grad``,
forward, cross-entropy, ``backward`` and ``step`` of the same architecture.
"""
import numpy as np

import fastnet
from fastnet.optim import make_optimizer
from harness import import_torch

NETS = {"T": ([784, 100, 100, 100, 100, 10], 100), "W": ([784, 1024, 1024, 10], 512)}
# the textbook's default learning rate of each optimizer the steps use
LR = {"sgd": 0.01, "adam": 0.001}


def batch(sizes, n, dtype):
    """A fixed batch: inputs uniform in [0, 1), labels uniform over the classes."""
    rng = np.random.default_rng(0)
    return (rng.random((n, sizes[0]), dtype=np.float64).astype(dtype),
            rng.integers(0, sizes[-1], n))


def fastnet_step(sizes, n, dtype, optimizer, *, backend="compiled", batchnorm=False,
                 record_stats=False):
    """Factory of one fastnet training step (``optimizer``: 'sgd' or 'adam')."""
    def factory():
        net = fastnet.MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1],
                                          use_batchnorm=batchnorm, dtype=dtype, seed=0,
                                          backend=backend)
        if record_stats:
            net.record_stats()
        opt = make_optimizer(optimizer, lr=LR[optimizer], backend=backend)
        x, t = batch(sizes, n, dtype)

        def step():
            opt.update(net.params, net.gradient(x, t))
        return step
    return factory


def torch_step(sizes, n, dtype, optimizer, *, batchnorm=False, **optimizer_options):
    """Factory of the same step in PyTorch eager mode (``torch.optim`` options passed on)."""
    def factory():
        torch = import_torch()
        torch.manual_seed(0)
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                if batchnorm:
                    layers.append(torch.nn.BatchNorm1d(sizes[i + 1]))
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name)).train()
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
        opt = cls(model.parameters(), lr=LR[optimizer], **optimizer_options)
        loss_fn = torch.nn.CrossEntropyLoss()
        x, t = (torch.from_numpy(a) for a in batch(sizes, n, dtype))

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), t).backward()
            opt.step()
        return step
    return factory
