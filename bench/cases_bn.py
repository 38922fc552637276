"""Batch-norm and dropout benchmark cases: the kernels, and full training steps with batch norm.

BN forward+backward in training mode at (100, 100) and (512, 1024): fastnet's
kernels vs the NumPy reference vs ``torch.nn.BatchNorm1d`` (forward and
autograd backward). Dropout forward+backward (mask drawn from a Generator in
both fastnet and the reference; torch draws with its own generator). Training
steps (steps.py) of net T and net W with batch norm after every hidden
affine layer, with Adam.

The kernels' arrays are 64-byte aligned, as the buffers of a net are
(``fastnet._workspace.aligned_empty``) and as torch's own tensors are: with
malloc's 16-byte alignment the (512, 1024) arrays started 0, 16, 32 or 48
bytes past a cache line from one process to the next, which moved fastnet's
BN time by ~30% between runs of the same build (bench/RESULTS.md, "BN
and dropout at (512, 1024)").
"""
import numpy as np

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet._workspace import LayerWorkspace, Workspace, aligned_empty
from fastnet.layers import Dropout
from harness import add_case, import_torch, with_torch
from steps import NETS, fastnet_step, torch_step

BN_SHAPES = [(100, 100), (512, 1024)]
DROPOUT_SHAPES = [(100, 100), (512, 1024)]


def _rng():
    return np.random.default_rng(0)


def _normal(rng, shape, dtype):
    """Standard normal draws in a 64-byte aligned array."""
    out = aligned_empty(shape, dtype)
    out[...] = rng.standard_normal(shape)
    return out


def _bn(ops, n, d, dtype):
    def factory():
        rng = _rng()
        x, g = _normal(rng, (n, d), dtype), _normal(rng, (n, d), dtype)
        gamma, beta = np.ones(d, dtype), np.zeros(d, dtype)
        rm, rv = np.zeros(d, dtype), np.ones(d, dtype)
        out, dx = aligned_empty((n, d), dtype), aligned_empty((n, d), dtype)
        mean, inv_std, dgamma, dbeta = (np.empty(d, dtype) for _ in range(4))

        def step():
            ops.batchnorm_forward_train_(x, gamma, beta, 1e-5, out, mean, inv_std, rm, rv, 0.9, 1.0)
            ops.batchnorm_backward(g, x, gamma, mean, inv_std, dx, dgamma, dbeta)
        return step
    return factory


def _torch_bn(n, d, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        bn = torch.nn.BatchNorm1d(d, dtype=getattr(torch, np.dtype(dtype).name))
        x = torch.from_numpy(_normal(rng, (n, d), dtype)).requires_grad_(True)
        g = torch.from_numpy(_normal(rng, (n, d), dtype))

        def step():
            x.grad = bn.weight.grad = bn.bias.grad = None
            bn(x).backward(g)
        return step
    return factory


def _dropout(backend, n, d, dtype):
    def factory():
        rng = _rng()
        x, g = _normal(rng, (n, d), dtype), _normal(rng, (n, d), dtype)
        layer = Dropout(0.5, mode="inverted", rng=1, backend=backend)
        ws = LayerWorkspace(Workspace(), "dropout")  # reused buffers, as inside a net

        def step():
            layer._forward(x, ws, True)
            layer._backward(g, ws, True)
        return step
    return factory


def _torch_dropout(n, d, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        x = torch.from_numpy(_normal(rng, (n, d), dtype)).requires_grad_(True)
        g = torch.from_numpy(_normal(rng, (n, d), dtype))
        drop = torch.nn.Dropout(0.5)

        def step():
            x.grad = None
            drop(x).backward(g)
        return step
    return factory


for dtype in (np.float32,):
    tag = np.dtype(dtype).name
    for n, d in BN_SHAPES:
        add_case("batchnorm", f"fwd+bwd {n}x{d} {tag}", with_torch(
            {"fastnet": _bn(fk, n, d, dtype), "reference": _bn(ref, n, d, dtype)},
            torch=_torch_bn(n, d, dtype)))
    for n, d in DROPOUT_SHAPES:
        add_case("dropout", f"fwd+bwd {n}x{d} {tag}", with_torch(
            {"fastnet": _dropout("compiled", n, d, dtype),
             "reference": _dropout("reference", n, d, dtype)},
            torch=_torch_dropout(n, d, dtype)))
    for net_name, (sizes, n) in NETS.items():
        add_case("bn_step", f"net {net_name} + BN, Adam, batch {n} {tag}", with_torch(
            {"fastnet": fastnet_step(sizes, n, dtype, "adam", batchnorm=True),
             "reference": fastnet_step(sizes, n, dtype, "adam", backend="reference",
                                       batchnorm=True)},
            torch=torch_step(sizes, n, dtype, "adam", batchnorm=True)))
