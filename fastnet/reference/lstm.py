"""LSTM layer in NumPy (reference for csrc/lstm.pyx); same signatures.

``z_t = [x_t, h_{t-1}] @ W + b`` split into column blocks in ``gate_order``
(a permutation of 'ifog'); ``i, f, o = sigmoid(.)``, ``g = tanh(.)``,
``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``. Shapes: x (T, N, D),
h0/c0 (N, H), W (D + H, 4H), b (4H,) or None, gates (T, N, 4H), c/h (T, N, H).
"""
import numpy as np
from fastnet.reference._shapes import check_dims, check_gate_order


def _sigmoid_(a):
    """``a = 1 / (1 + exp(-a))`` in place.

    Not ``activations.activate_(a, 2)``: that negates in place, and NumPy
    2.4.6's float32 ``np.negative`` writing into a strided array (a gate
    block of an (N, 4H) row with H = 1) returns wrong values.
    """
    with np.errstate(over="ignore"):
        e = np.exp(-a)
    e += 1
    np.divide(1, e, out=a)


def _check_lstm(x, h0, c0, W, b, gate_order):
    """As csrc/lstm.pyx: x (T, N, D) and h0 (N, H) fix every other size; returns H."""
    _, n, d = x.shape
    hid = h0.shape[1]
    check_dims("h0", h0, n, hid)
    check_dims("c0", c0, n, hid)
    check_dims("W", W, d + hid, 4 * hid)
    if b is not None:
        check_dims("b", b, 4 * hid)
    check_gate_order(gate_order)
    return hid


def _blocks(a, gate_order):
    """Views of the last axis of ``a`` as the gates (i, f, o, g)."""
    hid = a.shape[-1] // 4
    return [a[..., gate_order.index(k) * hid:(gate_order.index(k) + 1) * hid] for k in "ifog"]


def _cell_(z, gate_order, c_prev, c_out, h_out):
    """One step of the cell from the pre-activations ``z (N, 4H)``: the gates
    activated in place in ``z``, ``c_out = f * c_prev + i * g`` (``c_out`` may
    be ``c_prev``) and ``h_out = o * tanh(c_out)``."""
    i, f, o, g = _blocks(z, gate_order)
    for block in (i, f, o):
        _sigmoid_(block)
    np.tanh(g, out=g)
    np.multiply(f, c_prev, out=c_out)
    c_out += i * g
    np.tanh(c_out, out=h_out)
    h_out *= o


def lstm_forward(x, h0, c0, W, b, gate_order, gates, c, h):
    """Write the activated gates, c_t and h_t of every step (see the module docstring)."""
    steps, n, d = x.shape
    hid = _check_lstm(x, h0, c0, W, b, gate_order)
    check_dims("gates", gates, steps, n, 4 * hid)
    check_dims("c", c, steps, n, hid)
    check_dims("h", h, steps, n, hid)
    np.matmul(x.reshape(steps * n, d), W[:d], out=gates.reshape(steps * n, -1))
    if b is not None:
        gates += b
    h_prev, c_prev = h0, c0
    for t in range(steps):
        z = gates[t]
        z += h_prev @ W[d:]
        _cell_(z, gate_order, c_prev, c[t], h[t])
        h_prev, c_prev = h[t], c[t]


def lstm_backward(dh, dc_last, x, h0, c0, W, gate_order, gates, c, h, dgates, dx, dh0,
                  dc0, dW, db):
    """Write dL/dz (``dgates``), ``dx`` (unless None), ``dh0``, ``dc0``, ``dW`` and
    ``db`` (unless None) given ``dh = dL/dh_t`` and ``dc_last = dL/dc_{T-1}`` (None: 0)."""
    steps, n, d = x.shape
    hid = _check_lstm(x, h0, c0, W, None, gate_order)
    per_step = {"dh": hid, "gates": 4 * hid, "c": hid, "h": hid, "dgates": 4 * hid, "dx": d}
    for name, array in (("dh", dh), ("gates", gates), ("c", c), ("h", h), ("dgates", dgates),
                        ("dx", dx)):
        if array is not None:
            check_dims(name, array, steps, n, per_step[name])
    for name, array in (("dc_last", dc_last), ("dh0", dh0), ("dc0", dc0)):
        if array is not None:
            check_dims(name, array, n, hid)
    check_dims("dW", dW, d + hid, 4 * hid)
    if db is not None:
        check_dims("db", db, 4 * hid)
    dh0[...] = 0
    dc0[...] = 0 if dc_last is None else dc_last
    for t in range(steps - 1, -1, -1):
        i, f, o, g = _blocks(gates[t], gate_order)
        di, df, do, dg = _blocks(dgates[t], gate_order)
        c_prev = c[t - 1] if t > 0 else c0
        tc = np.tanh(c[t])
        dht = dh[t] + dh0
        dct = dc0 + dht * o * (1 - tc * tc)
        di[...] = dct * g * i * (1 - i)
        df[...] = dct * c_prev * f * (1 - f)
        do[...] = dht * tc * o * (1 - o)
        dg[...] = dct * i * (1 - g * g)
        np.multiply(dct, f, out=dc0)
        np.matmul(dgates[t], W[d:].T, out=dh0)
    dz = dgates.reshape(steps * n, -1)
    h_prev = np.concatenate([h0[None], h[:-1]]).reshape(steps * n, -1)
    np.matmul(x.reshape(steps * n, d).T, dz, out=dW[:d])
    np.matmul(h_prev.T, dz, out=dW[d:])
    if db is not None:
        np.sum(dz, axis=0, out=db)
    if dx is not None:
        np.matmul(dz, W[:d].T, out=dx.reshape(steps * n, d))


def lstm_infer(x, h0, c0, W, b, gate_order, work, h, c_n):
    """Write h_t of every step into ``h`` and the last cell state into ``c_n``,
    keeping no gates (the forward of inference, no backward follows).

    ``x`` and ``h`` may be strided views (a batch-first array transposed);
    ``work (N, >= 5H + D)`` is scratch, its first N * 5H elements used as
    contiguous (N, 4H) z and (N, H) h_t. NumPy's matmul and ufuncs run
    fastest on contiguous operands (measured at N = 8,000, one thread:
    strided x, z and h_t took ~175 ms a call, contiguous ones ~150 ms), so a
    strided x is copied once and each h_t copied out.
    """
    steps, n, d = x.shape
    hid = _check_lstm(x, h0, c0, W, b, gate_order)
    if work.shape[0] != n or work.shape[1] < 5 * hid + d:
        raise ValueError(f"work must have shape ({n}, >= {5 * hid + d}); got {work.shape}")
    check_dims("h", h, steps, n, hid)
    check_dims("c_n", c_n, n, hid)
    x = np.ascontiguousarray(x)
    flat = work.reshape(-1)
    z = flat[:n * 4 * hid].reshape(n, 4 * hid)
    h_t = flat[n * 4 * hid:n * 5 * hid].reshape(n, hid)
    c_n[...] = c0
    h_t[...] = h0
    for t in range(steps):
        np.matmul(x[t], W[:d], out=z)
        z += h_t @ W[d:]
        if b is not None:
            z += b
        _cell_(z, gate_order, c_n, c_n, h_t)
        h[t] = h_t
