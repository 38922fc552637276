"""LSTM benchmark cases: one cell step and a 2-layer sequence, forward + backward.

fastnet and the reference run the layers' unchecked protocol pair
(``_forward``/``_backward`` with a reused workspace, as in a net), from zero
states, computing the input gradient; torch runs ``nn.LSTMCell``/``nn.LSTM``
forward and autograd backward with the input requiring a gradient. Sizes are
the LSTM issue's: the cell step at batch 64, input 128, hidden 256; the
sequence with 2 layers over 28 steps at batch 64, input 28, hidden 128
(MNIST read row by row). The "gemm floor" runs the matrix products of the
same passes alone, through fastnet's BLAS: per layer the input projection of
all steps, one ``h @ Wh`` and one ``dz @ Wh.T`` per step, and the
whole-sequence ``dWx``, ``dWh`` and ``dx``.
"""
import numpy as np

import fastnet.kernels as fk
from fastnet._workspace import Workspace
from fastnet.layers import LSTM, LSTMCell
from harness import add_case, import_torch, with_torch

CELL = (64, 128, 256)            # batch, input, hidden
SEQUENCE = (28, 64, 28, 128, 2)  # steps, batch, input, hidden, layers


def _rng():
    return np.random.default_rng(0)


def _fastnet(make_layer, x_shape, backend, dtype):
    def factory():
        rng = _rng()
        layer = make_layer(backend, dtype)
        x = rng.standard_normal(x_shape).astype(dtype)
        dy = rng.standard_normal(x_shape[:-1] + (layer.hidden_size,)).astype(dtype)
        ws = Workspace()

        def step():
            layer._forward(x, ws, True)
            layer._backward(dy, ws, True)
        return step
    return factory


def _torch(make_module, x_shape, hidden, dtype):
    def factory():
        torch = import_torch()
        rng = _rng()
        module = make_module(torch, getattr(torch, np.dtype(dtype).name))
        x = torch.from_numpy(rng.standard_normal(x_shape).astype(dtype)).requires_grad_(True)
        dy = torch.from_numpy(rng.standard_normal(x_shape[:-1] + (hidden,)).astype(dtype))

        def step():
            x.grad = None
            module.zero_grad(set_to_none=True)
            out = module(x)
            (out[0] if isinstance(out, tuple) else out).backward(dy)
        return step
    return factory


def _gemm_floor(steps, n, sizes, hid, dtype):
    """The LSTM passes' matrix products for layers of input sizes ``sizes``."""
    def factory():
        rng = _rng()
        layers = []
        for d in sizes:
            x = rng.random((steps * n, d)).astype(dtype)
            h = rng.random((steps * n, hid)).astype(dtype)
            Wx, Wh = (rng.random((k, 4 * hid)).astype(dtype) for k in (d, hid))
            z = rng.random((steps * n, 4 * hid)).astype(dtype)
            layers.append((x, h, Wx, Wh, z, np.empty_like(Wx), np.empty_like(Wh),
                           np.empty_like(x), np.empty((n, hid), dtype)))

        def step():
            for x, h, Wx, Wh, z, dWx, dWh, dx, dh in layers:
                fk.gemm(x, Wx, z)
                for t in range(steps):
                    fk.gemm(h[t * n:(t + 1) * n], Wh, z[t * n:(t + 1) * n])
            for x, h, Wx, Wh, z, dWx, dWh, dx, dh in reversed(layers):
                for t in range(steps):
                    fk.gemm(z[t * n:(t + 1) * n], Wh, dh, trans_b=True)
                fk.gemm(x, z, dWx, trans_a=True)
                fk.gemm(h, z, dWh, trans_a=True)
                fk.gemm(z, Wx, dx, trans_b=True)
        return step
    return factory


def _cell(backend, dtype):
    n, d, hid = CELL
    return LSTMCell(d, hid, rng=0, dtype=dtype, backend=backend)


def _sequence(backend, dtype):
    steps, n, d, hid, layers = SEQUENCE
    return LSTM(d, hid, layers, rng=0, dtype=dtype, backend=backend)


for dtype in (np.float32,):
    tag = np.dtype(dtype).name
    n, d, hid = CELL
    add_case("lstm_cell_step", f"batch {n} input {d} hidden {hid} fwd+bwd {tag}", with_torch(
        {"fastnet": _fastnet(_cell, (n, d), "compiled", dtype),
         "reference": _fastnet(_cell, (n, d), "reference", dtype),
         "gemm floor": _gemm_floor(1, n, [d], hid, dtype)},
        torch=_torch(lambda torch, dt, d=d, hid=hid: torch.nn.LSTMCell(d, hid, dtype=dt),
                     (n, d), hid, dtype)))

    steps, n, d, hid, layers = SEQUENCE
    add_case("lstm_sequence",
             f"{layers} layers {steps} steps batch {n} input {d} hidden {hid} fwd+bwd {tag}",
             with_torch(
                 {"fastnet": _fastnet(_sequence, (steps, n, d), "compiled", dtype),
                  "reference": _fastnet(_sequence, (steps, n, d), "reference", dtype),
                  "gemm floor": _gemm_floor(steps, n, [d] + [hid] * (layers - 1), hid, dtype)},
                 torch=_torch(lambda torch, dt, d=d, hid=hid, layers=layers:
                              torch.nn.LSTM(d, hid, layers, dtype=dt),
                              (steps, n, d), hid, dtype)))
