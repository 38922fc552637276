"""Batch-norm and dropout benchmark cases: the kernels, and full training steps with batch norm.

BN forward+backward in training mode at (100, 100) and (512, 1024): fastnet's
kernels vs the NumPy reference vs ``torch.nn.BatchNorm1d`` (forward and
autograd backward). Dropout forward+backward (mask drawn from a Generator in
both fastnet and the reference; torch draws with its own generator). Training
steps of net T and net W with batch norm after every hidden affine layer.

The optimizer of the net steps is Adam when ``fastnet.optim`` has it, else
SGD; the case name says which, and torch uses the same one.
"""
import numpy as np

import fastnet
import fastnet.kernels as fk
import fastnet.optim
import fastnet.reference as ref
from fastnet.layers import Dropout
from harness import add_case, import_torch

BN_SHAPES = [(100, 100), (512, 1024)]
DROPOUT_SHAPES = [(100, 100), (512, 1024)]
NETS = {"T": ([784, 100, 100, 100, 100, 10], 100), "W": ([784, 1024, 1024, 10], 512)}
OPTIMIZER = "Adam" if hasattr(fastnet.optim, "Adam") else "SGD"


def _rng():
    return np.random.default_rng(0)


def _bn(ops, n, d, dtype):
    def factory():
        rng = _rng()
        x = rng.standard_normal((n, d)).astype(dtype)
        g = rng.standard_normal((n, d)).astype(dtype)
        gamma, beta = np.ones(d, dtype), np.zeros(d, dtype)
        rm, rv = np.zeros(d, dtype), np.ones(d, dtype)
        out, dx = np.empty_like(x), np.empty_like(x)
        mean, inv_std, dgamma, dbeta = (np.empty(d, dtype) for _ in range(4))

        def step():
            ops.batchnorm_forward_train(x, gamma, beta, 1e-5, out, mean, inv_std, rm, rv, 0.9, 1.0)
            ops.batchnorm_backward(g, x, gamma, mean, inv_std, dx, dgamma, dbeta)
        return step
    return factory


def _torch_bn(n, d, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        bn = torch.nn.BatchNorm1d(d, dtype=getattr(torch, np.dtype(dtype).name))
        x = torch.from_numpy(rng.standard_normal((n, d)).astype(dtype)).requires_grad_(True)
        g = torch.from_numpy(rng.standard_normal((n, d)).astype(dtype))

        def step():
            x.grad = bn.weight.grad = bn.bias.grad = None
            bn(x).backward(g)
        return step
    return factory


def _dropout(backend, n, d, dtype):
    def factory():
        rng = _rng()
        x = rng.standard_normal((n, d)).astype(dtype)
        g = rng.standard_normal((n, d)).astype(dtype)
        layer = Dropout(0.5, mode="inverted", rng=1, backend=backend)
        out, dx = np.empty_like(x), np.empty_like(x)

        def step():
            layer._forward(x, out, True)
            layer._backward(g, dx)
        return step
    return factory


def _torch_dropout(n, d, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        x = torch.from_numpy(rng.standard_normal((n, d)).astype(dtype)).requires_grad_(True)
        g = torch.from_numpy(rng.standard_normal((n, d)).astype(dtype))
        drop = torch.nn.Dropout(0.5)

        def step():
            x.grad = None
            drop(x).backward(g)
        return step
    return factory


def _batch(sizes, n, dtype):
    rng = _rng()
    return rng.random((n, sizes[0]), dtype=np.float64).astype(dtype), rng.integers(0, sizes[-1], n)


def _fastnet_step(backend, sizes, n, dtype):
    def factory():
        net = fastnet.MultiLayerNetExtend(sizes[0], sizes[1:-1], sizes[-1], use_batchnorm=True,
                                          dtype=dtype, seed=0, backend=backend)
        opt = getattr(fastnet.optim, OPTIMIZER)(lr=0.001 if OPTIMIZER == "Adam" else 0.01,
                                                backend=backend)
        x, t = _batch(sizes, n, dtype)

        def step():
            opt.update(net.params, net.gradient(x, t))
        return step
    return factory


def _torch_step(sizes, n, dtype):
    def factory():
        torch = import_torch()
        torch.manual_seed(0)
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers += [torch.nn.BatchNorm1d(sizes[i + 1]), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))
        model.train()
        if OPTIMIZER == "Adam":
            opt = torch.optim.Adam(model.parameters(), lr=0.001)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = torch.nn.CrossEntropyLoss()
        x, t = _batch(sizes, n, dtype)
        x, t = torch.from_numpy(x), torch.from_numpy(t)

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), t).backward()
            opt.step()
        return step
    return factory


def _with_torch(impls, torch_factory):
    if import_torch() is not None:
        impls["torch"] = torch_factory
    return impls


for dtype in (np.float32,):
    tag = np.dtype(dtype).name
    for n, d in BN_SHAPES:
        add_case("batchnorm", f"fwd+bwd {n}x{d} {tag}", _with_torch(
            {"fastnet": _bn(fk, n, d, dtype), "reference": _bn(ref, n, d, dtype)},
            _torch_bn(n, d, dtype)))
    for n, d in DROPOUT_SHAPES:
        add_case("dropout", f"fwd+bwd {n}x{d} {tag}", _with_torch(
            {"fastnet": _dropout("compiled", n, d, dtype),
             "reference": _dropout("reference", n, d, dtype)},
            _torch_dropout(n, d, dtype)))
    for net_name, (sizes, n) in NETS.items():
        add_case("bn_step", f"net {net_name} + BN, {OPTIMIZER}, batch {n} {tag}", _with_torch(
            {"fastnet": _fastnet_step("compiled", sizes, n, dtype),
             "reference": _fastnet_step("reference", sizes, n, dtype)},
            _torch_step(sizes, n, dtype)))
