"""Core benchmark cases: affine and softmax-CE kernels, SGD training steps of nets T and W.

The steps (see steps.py) are also compared with their GEMM floor: the same
matrix products alone, through the BLAS the kernels call.
"""
import numpy as np

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet._activation import activation_code
from harness import add_case, import_torch, with_torch
from steps import NETS, fastnet_step, torch_step

AFFINE_SHAPES = [(100, 784, 100), (100, 100, 100), (512, 784, 1024), (512, 1024, 1024)]
SOFTMAX_SHAPES = [(100, 10), (512, 10)]
RELU = activation_code("relu")


def _rng():
    return np.random.default_rng(0)


def _affine_forward(ops, n, d, m, dtype):
    def factory():
        rng = _rng()
        x = rng.standard_normal((n, d)).astype(dtype)
        W = rng.standard_normal((d, m)).astype(dtype)
        b = rng.standard_normal(m).astype(dtype)
        out = np.empty((n, m), dtype)
        return lambda: ops.affine_forward(x, W, b, out, RELU)
    return factory


def _affine_backward(ops, n, d, m, dtype):
    def factory():
        rng = _rng()
        x = rng.standard_normal((n, d)).astype(dtype)
        W = rng.standard_normal((d, m)).astype(dtype)
        y = np.maximum(rng.standard_normal((n, m)), 0).astype(dtype)
        g = rng.standard_normal((n, m)).astype(dtype)
        dout = np.empty_like(g)
        dx, dW, db = np.empty_like(x), np.empty_like(W), np.empty(m, dtype)

        def step():
            np.copyto(dout, g)  # the fused backward overwrites dout
            ops.affine_activation_backward_(dout, y, None, RELU, 0.0, x, W, dx, dW, db)
        return step
    return factory


def _torch_affine_forward(n, d, m, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        x = torch.from_numpy(rng.standard_normal((n, d)).astype(dtype))
        W = torch.from_numpy(rng.standard_normal((m, d)).astype(dtype))
        b = torch.from_numpy(rng.standard_normal(m).astype(dtype))
        out = torch.empty((n, m), dtype=x.dtype)

        def step():
            torch.addmm(b, x, W.t(), out=out)
            torch.relu_(out)
        return step
    return factory


def _softmax_ce(ops, n, c, dtype):
    def factory():
        rng = _rng()
        z = rng.standard_normal((n, c)).astype(dtype)
        t = rng.integers(0, c, n)
        dz = np.empty_like(z)
        return lambda: ops.softmax_cross_entropy(z, t, dz)
    return factory


def _gemm_floor(sizes, n, dtype):
    """The step's matrix products alone, through fastnet's BLAS: forward
    ``h @ W``, backward ``h.T @ da`` and (except the first layer) ``da @ W.T``."""
    def factory():
        rng = _rng()
        hs = [rng.random((n, s)).astype(dtype) for s in sizes]
        Ws = [rng.random((a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
        dWs = [np.empty_like(W) for W in Ws]
        dhs = [np.empty_like(h) for h in hs]

        def step():
            for i, W in enumerate(Ws):
                fk.gemm(hs[i], W, hs[i + 1])
            for i in reversed(range(len(Ws))):
                fk.gemm(hs[i], hs[i + 1], dWs[i], trans_a=True)
                if i:
                    fk.gemm(hs[i + 1], Ws[i], dhs[i], trans_b=True)
        return step
    return factory


for dtype in (np.float32,):
    tag = np.dtype(dtype).name
    for n, d, m in AFFINE_SHAPES:
        add_case("affine_forward", f"{n}x{d}x{m} {tag}", with_torch(
            {"fastnet": _affine_forward(fk, n, d, m, dtype),
             "reference": _affine_forward(ref, n, d, m, dtype)},
            torch=_torch_affine_forward(n, d, m, dtype)))
        add_case("affine_backward", f"{n}x{d}x{m} {tag}",
                 {"fastnet": _affine_backward(fk, n, d, m, dtype),
                  "reference": _affine_backward(ref, n, d, m, dtype)})
    for n, c in SOFTMAX_SHAPES:
        add_case("softmax_ce", f"{n}x{c} {tag}",
                 {"fastnet": _softmax_ce(fk, n, c, dtype),
                  "reference": _softmax_ce(ref, n, c, dtype)})

for dtype in (np.float32, np.float64):
    tag = np.dtype(dtype).name
    for net_name, (sizes, n) in NETS.items():
        add_case("sgd_step", f"net {net_name} batch {n} {tag}", with_torch(
            {"fastnet": fastnet_step(sizes, n, dtype, "sgd"),
             "reference": fastnet_step(sizes, n, dtype, "sgd", backend="reference"),
             "gemm floor": _gemm_floor(sizes, n, dtype)},
            torch=torch_step(sizes, n, dtype, "sgd")))
