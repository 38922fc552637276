"""LSTM: the helper functions ``lstm``/``stack_lstm``, the layers ``LSTMCell``,
``LSTM`` and ``LastStep``, and loading PyTorch's LSTM weights.

One step of an LSTM with input ``x (N, D)``, state ``h, c (N, H)`` and the
gate weight ``W (D + H, 4H)`` (fastnet's ``(fan_in, fan_out)`` layout)::

    z = [x, h] @ W + b                      (N, 4H), column blocks i, f, o, g
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
    c' = f * c + i * g;   h' = o * tanh(c')

The order of the four column blocks is ``gate_order``, a permutation of
'ifog' (the helper code's order, the default; PyTorch's is 'ifgo'). The
arithmetic runs in ``fastnet.kernels.lstm_forward``/``lstm_backward`` (or
their NumPy twins): whole sequences, the input projection of all steps as
one GEMM, no concatenation copy.
"""
import math

import numpy as np

from fastnet._checks import as_input, check_batch, float_dtype, make_rng, positive_int
from fastnet._workspace import FRESH, Workspace
from fastnet.kernels import lstm_forward
from fastnet.layers._base import Layer, live_entry

__all__ = ["LSTM", "LSTMCell", "LastStep", "load_torch_lstm_weights", "lstm", "stack_lstm"]

GATES = "ifog"


def check_gate_order(gate_order):
    """Return ``gate_order`` if it is a permutation of 'ifog', else raise ValueError."""
    if not isinstance(gate_order, str) or sorted(gate_order) != sorted(GATES):
        raise ValueError(f"gate_order must be a permutation of 'ifog' (the order of the "
                         f"column blocks of W, e.g. 'ifog' or PyTorch's 'ifgo'); got "
                         f"{gate_order!r}")
    return gate_order


def _check_state(name, state, n, hid, dtype, xname="x"):
    state = as_input(name, state, dtype)
    if state.shape != (n, hid):
        if state.ndim == 2 and state.shape[1] == hid:
            raise ValueError(f"{name} has batch size {state.shape[0]} but {xname} has {n}; "
                             f"{name} must have shape ({n}, {hid})")
        raise ValueError(f"{name} must have shape (N, hidden_size) = ({n}, {hid}); "
                         f"got {state.shape}")
    return state


def _check_gate_weight(name, w, input_size=None):
    """Return ``(w, hidden_size)`` for a gate weight ``(input_size + H, 4H)``."""
    if not isinstance(w, np.ndarray):
        raise TypeError(f"{name} must be a numpy array; got {type(w).__name__}")
    float_dtype(w.dtype, f"{name}.dtype")
    if w.ndim != 2 or w.shape[1] < 4 or w.shape[1] % 4:
        raise ValueError(f"{name} must have shape (input_size + hidden_size, 4 * hidden_size); "
                         f"got {w.shape}")
    hid = w.shape[1] // 4
    if input_size is not None and w.shape[0] != input_size + hid:
        raise ValueError(f"{name} must have shape (input_size + hidden_size, 4 * hidden_size) "
                         f"= ({input_size + hid}, {4 * hid}) for input_size {input_size}; "
                         f"got {w.shape}")
    return np.ascontiguousarray(w), hid


# -- the helper functions ------------------------------------------------------------------

def lstm(x, prev_c, prev_h, w):
    """One LSTM step: return ``(next_c, next_h)`` as new ``(N, H)`` arrays.

    ``z = concat([x, prev_h], axis=1) @ w`` with ``w (D + H, 4H)`` and no bias;
    the column blocks of ``z`` are the gates **in the order i, f, o, g**;
    ``next_c = i * g + f * prev_c``, ``next_h = o * tanh(next_c)``.

    Parameters
    ----------
    x : (N, D) array, w's dtype (integer arrays are cast)
    prev_c, prev_h : (N, H) arrays, w's dtype
    w : (D + H, 4H) float32 or float64 array

    Initialising ``w``: the helper code this follows uses PyTorch's
    ``kaiming_normal_(w, mode='fan_in')``, which on a 2-D tensor reads fan_in
    from the *second* axis (PyTorch stores ``(out, in)``), here ``4H``:
    ``std = sqrt(2 / (4H))``. fastnet's ``create_weight((D + H, 4H))`` reads
    fan_in from the first axis (``std = sqrt(2 / (D + H))``);
    ``create_weight(shape, layout='torch')`` reproduces PyTorch's draw
    distribution. Nothing is modified.
    """
    w, hid = _check_gate_weight("w", w)
    dtype = w.dtype
    x = as_input("x", x, dtype)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, input_size); got {x.shape}")
    check_batch("x", x)
    n, d = x.shape
    _check_gate_weight("w", w, d)
    prev_c = _check_state("prev_c", prev_c, n, hid, dtype)
    prev_h = _check_state("prev_h", prev_h, n, hid, dtype)
    gates = np.empty((1, n, 4 * hid), dtype)
    next_c, next_h = np.empty((1, n, hid), dtype), np.empty((1, n, hid), dtype)
    lstm_forward(x[None], prev_h, prev_c, w, None, GATES, gates, next_c, next_h)
    return next_c[0], next_h[0]


def stack_lstm(x, prev_c, prev_h, w):
    """One step of stacked LSTMs: return the lists ``(next_c, next_h)``.

    ``prev_c``, ``prev_h`` and ``w`` are equal-length lists, one entry per
    layer (as for :func:`lstm`); layer 0 takes ``x``, layer ``l`` takes layer
    ``l - 1``'s new h, so ``w[l]`` is ``(D_l + H_l, 4 H_l)`` with
    ``D_l = H_{l-1}``.
    """
    lists = {"prev_c": prev_c, "prev_h": prev_h, "w": w}
    for name, value in lists.items():
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list with one array per layer; "
                            f"got {type(value).__name__}")
    if not len(prev_c) == len(prev_h) == len(w) >= 1:
        raise ValueError(f"prev_c, prev_h and w must be non-empty lists of one length (one "
                         f"entry per layer); got lengths {len(prev_c)}, {len(prev_h)}, {len(w)}")
    next_c, next_h = [], []
    for layer, (c, h, wl) in enumerate(zip(prev_c, prev_h, w)):
        try:
            c, x = lstm(x, c, h, wl)
        except (TypeError, ValueError) as err:
            raise type(err)(f"layer {layer}: {err}") from None
        next_c.append(c)
        next_h.append(x)
    return next_c, next_h


# -- the layers ------------------------------------------------------------------------------

class _Stacked(Layer):
    """Stacked LSTM layers over (T, N, D) sequences; the arithmetic of LSTM and LSTMCell.

    Parameters ``W<s>`` ``(D_l + H, 4H)`` and ``b<s>`` ``(4H,)`` per layer,
    ``<s>`` from :meth:`_suffix`. After a backward, ``dh0``/``dc0``
    ``(num_layers, N, H)`` hold the gradients of the initial states.
    """

    _abstract = True

    def _build(self, input_size, hidden_size, num_layers, bias, gate_order, weight_init,
               bias_init, rng, dtype, backend):
        from fastnet.init import get_initializer, uniform

        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = hid = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False; got {bias!r}")
        self.bias = bool(bias)
        self.gate_order = check_gate_order(gate_order)
        dtype = float_dtype(dtype)
        rng = make_rng(rng)
        # PyTorch's default for nn.LSTM: every weight U(-1/sqrt(H), 1/sqrt(H)).
        w_init = get_initializer(uniform(-1 / math.sqrt(hid), 1 / math.sqrt(hid))
                                 if weight_init is None else weight_init, "weight_init")
        b_init = get_initializer(bias_init, "bias_init")
        params = {}
        for layer in range(self.num_layers):
            d = self.input_size if layer == 0 else hid
            s = self._suffix(layer)
            params["W" + s] = np.ascontiguousarray(w_init((d + hid, 4 * hid), rng, dtype))
            if self.bias:
                params["b" + s] = np.ascontiguousarray(b_init((4 * hid,), rng, dtype))
        self._setup(dtype, backend, params)
        # What backward reads (gates, states, inputs) is kept here, not in the
        # net's workspace: it must survive until backward.
        self._cache = Workspace(max_entries=8 * (3 * self.num_layers + 1))
        self._seq = None  # per-layer (x, h0, c0, gates, c, h) of the last forward
        self.dh0 = self.dc0 = None

    def _suffix(self, layer):
        raise NotImplementedError

    def _weights(self, layer):
        s = self._suffix(layer)
        return self.params["W" + s], self.params.get("b" + s)

    def _run(self, x, h0, c0, ws, y_name):
        """Forward over ``x (T, N, D)`` from states ``h0, c0 (L, N, H)`` (None: zeros).

        The top layer's h sequence goes to ``ws.get(y_name)``; returns it.
        """
        steps, n, _ = x.shape
        hid, dt, cache = self.hidden_size, self.dtype, self._cache
        if h0 is None or c0 is None:
            zeros = cache.get("zeros", (n, hid), dt)
            zeros[...] = 0
        seq = []
        for layer in range(self.num_layers):
            top = layer == self.num_layers - 1
            w, b = self._weights(layer)
            hl = zeros if h0 is None else h0[layer]
            cl = zeros if c0 is None else c0[layer]
            gates = cache.get(("gates", layer), (steps, n, 4 * hid), dt)
            c = cache.get(("c", layer), (steps, n, hid), dt)
            h = ws.get(y_name, (steps, n, hid), dt) if top else cache.get(("h", layer),
                                                                          (steps, n, hid), dt)
            self._ops.lstm_forward(x, hl, cl, w, b, self.gate_order, gates, c, h)
            seq.append((x, hl, cl, gates, c, h))
            x = h
        self._seq = seq
        return x

    def _run_backward(self, dy, dh_n, dc_n, ws, need_dx):
        """Backward for ``dy = dL/dh_t`` of the top layer ``(T, N, H)`` and
        ``dh_n, dc_n (L, N, H)`` the gradients of the final states (None: 0).

        Writes ``self.grads``, ``self.dh0``, ``self.dc0``; returns dx or None.
        """
        if self._seq is None:
            raise RuntimeError(f"{self.describe()}: backward needs a training-mode forward "
                               f"(train_flg=True); the inference forward (train_flg=False) "
                               f"keeps no gates")
        steps, n, hid = dy.shape
        dt = self.dtype
        dgates = ws.get("dgates", (steps, n, 4 * hid), dt)
        self.dh0 = ws.get("dh0", (self.num_layers, n, hid), dt)
        self.dc0 = ws.get("dc0", (self.num_layers, n, hid), dt)
        dh = dy
        for layer in range(self.num_layers - 1, -1, -1):
            x, h0, c0, gates, c, h = self._seq[layer]
            if dh_n is not None:
                if dh is dy:  # the caller's array is read only
                    dh = ws.get("dh_top", dy.shape, dt)
                    dh[...] = dy
                dh[-1] += dh_n[layer]
            if layer > 0:
                dx = ws.get(("dseq", layer % 2), (steps, n, hid), dt)
            else:
                dx = ws.get("dx", x.shape, dt) if need_dx else None
            s = self._suffix(layer)
            self._ops.lstm_backward(dh, None if dc_n is None else dc_n[layer], x, h0, c0,
                                    self.params["W" + s], self.gate_order, gates, c, h,
                                    dgates, dx, self.dh0[layer], self.dc0[layer],
                                    self.grads["W" + s], self.grads.get("b" + s))
            dh = dx
        return dh

    def _check_states(self, state, n, what):
        if state is None:
            return None, None
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{what} must be a pair (h, c) of arrays or None")
        shape = (self.num_layers, n, self.hidden_size)
        checked = []
        for name, s in zip("hc", state):
            s = as_input(f"{what} {name}", s, self.dtype)
            if self.num_layers == 1 and s.ndim == 2:
                s = s[None]
            if s.shape != shape:
                batch = "" if s.ndim != 3 or s.shape[1] == n else (
                    f" (its batch size {s.shape[1]} differs from x's {n})")
                raise ValueError(f"{what} {name} must have shape (num_layers, N, hidden_size) "
                                 f"= {shape}{batch}; got {s.shape}")
            checked.append(s)
        return checked

    def _config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "bias": self.bias, "gate_order": self.gate_order,
                "dtype": self.dtype.name, "backend": self.backend}


class LSTM(_Stacked):
    """``num_layers`` stacked LSTM layers over a sequence, with backpropagation through time.

    Parameters
    ----------
    input_size, hidden_size : int >= 1 (D and H)
    num_layers : int >= 1
        Layer ``l > 0`` takes layer ``l - 1``'s h sequence as its input.
    bias : bool
        With a bias ``b<l>`` ``(4H,)`` per layer (PyTorch's two biases are one here).
    gate_order : str, a permutation of 'ifog'
        The order of the column blocks of each ``W``.
    batch_first : bool
        False: ``x (T, N, D)`` -> ``y (T, N, H)`` (PyTorch's default). True:
        ``x (N, T, D)`` -> ``y (N, T, H)``, the layout of a
        :class:`fastnet.Sequential`, whose batch axis is axis 0: use
        ``batch_first=True`` there (e.g. ``[LSTM(28, 128, batch_first=True),
        LastStep(), Affine.create(128, 10)]``); a Sequential rejects a
        time-major layer rather than read its batch as time steps.
    weight_init : None or anything ``fastnet.init.get_initializer`` takes
        None: PyTorch's ``U(-1/sqrt(H), 1/sqrt(H))``.
    bias_init : as weight_init; default zeros.
    rng : seed or numpy.random.Generator; dtype : float32 or float64;
    backend : 'compiled' or 'reference'

    Parameters are ``params["W_l<l>"]`` ``(D_l + H, 4H)`` (``D_0 = D``,
    ``D_l = H``) and ``params["b_l<l>"]`` ``(4H,)``, gradients in ``grads``.
    ``forward(x)``/``backward(dy)`` start from zero states; the states are
    given and returned by :meth:`forward_states`/:meth:`backward_states`.
    ``forward(x, train_flg=False)`` (a net's ``predict`` and ``accuracy``) is
    the inference pass: the same output, ``h_n`` and ``c_n``, but it keeps no
    gates or states for backward (memory: O(N H) rather than O(T N H)), so a
    ``backward`` after it raises RuntimeError; ``forward_states`` always
    keeps them.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, gate_order=GATES,
                 batch_first=False, *, weight_init=None, bias_init="zeros", rng=None,
                 dtype=np.float32, backend="compiled"):
        if not isinstance(batch_first, (bool, np.bool_)):
            raise TypeError(f"batch_first must be True or False; got {batch_first!r}")
        self.batch_first = bool(batch_first)
        self.batch_axis = 0 if self.batch_first else 1
        self._build(input_size, hidden_size, num_layers, bias, gate_order, weight_init,
                    bias_init, rng, dtype, backend)
        # Time-major inputs and outputs are used as they are, so backward reads
        # them; batch-first ones are transposed into the layer's own buffers.
        self.keeps_input = self.keeps_output = not self.batch_first
        self.h_n = self.c_n = None

    def _suffix(self, layer):
        return f"_l{layer}"

    def config(self):
        return {**self._config(), "num_layers": self.num_layers,
                "batch_first": self.batch_first}

    def describe(self):
        return (f"LSTM {self.input_size} -> {self.hidden_size} x {self.num_layers} layers"
                f"{' (batch first)' if self.batch_first else ''}")

    def input_shape(self):
        return None

    def output_shape(self, input_shape):
        if input_shape is None:
            return None
        what = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if len(input_shape) != 2 or input_shape[1] != self.input_size:
            raise ValueError(f"must have shape {what} with input_size {self.input_size}; got "
                             f"per-sample shape {tuple(input_shape)}")
        if input_shape[0] == 0:  # no step or no sample: the kernels' reshapes and h_n need one
            raise ValueError(f"must have shape {what} with N >= 1 and T >= 1; got per-sample "
                             f"shape {tuple(input_shape)}")
        return (input_shape[0], self.hidden_size)

    def _forward(self, x, ws, train):
        if not train:
            return self._infer(x, ws)
        return self._forward_states(x, None, None, ws)

    def _infer(self, x, ws):
        """The inference forward from zero states (``train_flg=False``, a net's
        ``predict``/``accuracy``): the same y, ``h_n`` and ``c_n`` as the training
        forward (within the dtype's tolerance) from ``lstm_infer``, which keeps
        only the current step's state, no (T, N, 4H) gates; so no backward
        may follow (RuntimeError). Batch-first arrays are read and written
        through transposed views, not copied."""
        hid, dt = self.hidden_size, self.dtype
        n = self._batch(x)
        y = ws.get("y", x.shape[:2] + (hid,), dt)
        seq, out_top = (x.transpose(1, 0, 2), y.transpose(1, 0, 2)) if self.batch_first else (x, y)
        zeros = ws.get("zeros", (n, hid), dt)
        zeros[...] = 0
        self.c_n = np.empty((self.num_layers, n, hid), dt)
        last = []
        for layer in range(self.num_layers):
            w, b = self._weights(layer)
            d = seq.shape[2]
            # rows padded to whole cache lines (16 float32 / 8 float64)
            work = ws.get(("work", d), (n, -(-(5 * hid + d) // 16) * 16), dt)
            out = (out_top if layer == self.num_layers - 1
                   else ws.get(("h", layer % 2), seq.shape[:2] + (hid,), dt))
            self._ops.lstm_infer(seq, zeros, zeros, w, b, self.gate_order, work, out,
                                 self.c_n[layer])
            last.append(out[-1])
            seq = out
        self.h_n = np.stack(last)
        self._seq = None
        return y

    def _forward_states(self, x, h0, c0, ws):
        if self.batch_first:
            xt = self._cache.get("x_tnd", (x.shape[1], x.shape[0], x.shape[2]), self.dtype)
            np.copyto(xt, x.transpose(1, 0, 2))
            h = self._run(xt, h0, c0, self._cache, "h_top")
            y = ws.get("y", x.shape[:2] + (self.hidden_size,), self.dtype)
            np.copyto(y, h.transpose(1, 0, 2))
        else:
            y = self._run(x, h0, c0, ws, "y")
        self.h_n = np.stack([seq[5][-1] for seq in self._seq])
        self.c_n = np.stack([seq[4][-1] for seq in self._seq])
        return y

    def _backward(self, dout, ws, need_dx):
        return self._backward_states(dout, None, None, ws, need_dx)

    def _backward_states(self, dout, dh_n, dc_n, ws, need_dx):
        if not self.batch_first:
            return self._run_backward(dout, dh_n, dc_n, ws, need_dx)
        # The kernels read dL/dh_t row by row through strides: a C-contiguous batch-first
        # dout is passed as its time-major view, not copied.
        dy = dout.transpose(1, 0, 2)
        if not dout.flags.c_contiguous:
            dy = ws.get("dy_tnd", dy.shape, self.dtype)
            np.copyto(dy, dout.transpose(1, 0, 2))
        dxt = self._run_backward(dy, dh_n, dc_n, ws, need_dx)
        if dxt is None:
            return None
        dx = ws.get("dx_ntd", (dxt.shape[1], dxt.shape[0], dxt.shape[2]), self.dtype)
        np.copyto(dx, dxt.transpose(1, 0, 2))
        return dx

    def _batch(self, x):
        return x.shape[0] if self.batch_first else x.shape[1]

    def forward_states(self, x, state=None):
        """Return ``(y, (h_n, c_n))``, new arrays, starting from ``state``.

        ``state`` is ``(h0, c0)``, each ``(num_layers, N, H)`` (or ``(N, H)``
        with one layer), or None for zeros, as ``torch.nn.LSTM``.
        """
        x = self._check_x(x)
        if x.ndim != 3:
            raise ValueError(f"x must be 3-D; got shape {x.shape}")
        h0, c0 = self._check_states(state, self._batch(x), "state")
        y = self._forward_states(x, h0, c0, FRESH)
        self._shapes = (x.shape, y.shape, x.dtype)
        return y, (self.h_n, self.c_n)

    def backward_states(self, dy, dstate=None):
        """Return ``(dx, (dh0, dc0))`` for ``dy = dL/dy`` and ``dstate = (dL/dh_n, dL/dc_n)``
        (None: zero), after :meth:`forward_states` or ``forward``. Gradients land in ``grads``."""
        if self._shapes is None:
            raise RuntimeError("backward called before forward")
        x_shape, y_shape, dtype = self._shapes
        dy = as_input("dy", dy, dtype)
        if dy.shape != y_shape:
            raise ValueError(f"dy must have shape {y_shape} (the forward output's); "
                             f"got {dy.shape}")
        dh_n, dc_n = self._check_states(dstate, y_shape[0] if self.batch_first else y_shape[1],
                                        "dstate")
        self._renew_grads()
        dx = self._backward_states(dy, dh_n, dc_n, FRESH, True)
        return dx, (self.dh0, self.dc0)


class LSTMCell(_Stacked):
    """One LSTM step: ``(h', c') = cell(x, (h, c))``, with its backward.

    Parameters
    ----------
    input_size, hidden_size : int >= 1 (D and H)
    bias : bool
    gate_order : str, a permutation of 'ifog' (the column blocks of ``W``)
    weight_init, bias_init, rng, dtype, backend : as for :class:`LSTM`

    ``params["W"]`` ``(D + H, 4H)``, ``params["b"]`` ``(4H,)``.
    :meth:`step` and :meth:`step_backward` are the cell's API (``x (N, D)``,
    states ``(N, H)``); as a protocol layer (``forward``, in a net) the cell
    maps ``x (N, D)`` to ``h' (N, H)`` from zero states.
    """

    keeps_input = True

    def __init__(self, input_size, hidden_size, bias=True, gate_order=GATES, *,
                 weight_init=None, bias_init="zeros", rng=None, dtype=np.float32,
                 backend="compiled"):
        self._build(input_size, hidden_size, 1, bias, gate_order, weight_init, bias_init, rng,
                    dtype, backend)

    def _suffix(self, layer):
        return ""

    W = live_entry("params", "W")

    @property
    def dW(self):
        return self.grads["W"]

    @property
    def db(self):
        return self.grads.get("b")

    def config(self):
        return self._config()

    def describe(self):
        return f"LSTMCell {self.input_size} -> {self.hidden_size}"

    def input_shape(self):
        return (self.input_size,)

    def output_shape(self, input_shape):
        if input_shape is not None and tuple(input_shape) != (self.input_size,):
            raise ValueError(f"must have shape (N, {self.input_size}); got per-sample shape "
                             f"{tuple(input_shape)}")
        return (self.hidden_size,)

    def _forward(self, x, ws, train):
        return self._run(x[None], None, None, ws, "h")[0]

    def _backward(self, dout, ws, need_dx):
        dx = self._run_backward(dout[None], None, None, ws, need_dx)
        return None if dx is None else dx[0]

    def step(self, x, state=None):
        """Return ``(h', c')``, new ``(N, H)`` arrays, for ``x (N, D)`` and
        ``state = (h, c)`` (None: zeros), as ``torch.nn.LSTMCell``."""
        x = self._check_x(x)
        h, c = self._check_states(state, x.shape[0], "state")
        self._run(x[None], h, c, FRESH, "h")
        _, _, _, _, c_new, h_new = self._seq[0]
        self._shapes = (x.shape, h_new.shape[1:], x.dtype)
        return h_new[0], c_new[0].copy()  # c_new is the layer's cache

    def step_backward(self, dh, dc=None):
        """Return ``(dx, dh_prev, dc_prev)`` for ``dh = dL/dh'`` and ``dc = dL/dc'``
        (None: zero) ``(N, H)``; ``dW``/``db`` land in ``grads``."""
        if self._shapes is None:
            raise RuntimeError("backward called before forward")
        n = self._shapes[0][0]
        dh, dc = (None if a is None else _check_state(name, a, n, self.hidden_size, self.dtype)
                  for name, a in (("dh", dh), ("dc", dc)))
        if dh is None:
            raise TypeError("dh must be an (N, H) array")
        self._renew_grads()
        dx = self._run_backward(dh[None], None, None if dc is None else dc[None], FRESH, True)
        return dx[0], self.dh0[0], self.dc0[0]


class LastStep(Layer):
    """The last time step of a batch-first sequence: ``(N, T, F) -> (N, F)``.

    Put it after ``LSTM(..., batch_first=True)`` to classify a sequence by
    its final hidden state. Backward scatters ``dout`` into step ``T - 1``
    of a zero ``dx``.
    """

    def __init__(self, *, backend="compiled"):
        self._setup(None, backend)
        self._x_shape = None

    def config(self):
        return {"backend": self.backend}

    def output_shape(self, input_shape):
        if input_shape is None:
            return None
        if len(input_shape) != 2 or input_shape[0] < 1:  # (T = 0 has no last step)
            raise ValueError(f"must have shape (N, T, features) with T >= 1; got per-sample "
                             f"shape {tuple(input_shape)}")
        return (input_shape[1],)

    def _forward(self, x, ws, train):
        self._x_shape = x.shape
        y = ws.get("y", (x.shape[0], x.shape[2]), x.dtype)
        np.copyto(y, x[:, -1])
        return y

    def _backward(self, dout, ws, need_dx):
        if not need_dx:
            return None
        dx = ws.get("dx", self._x_shape, dout.dtype)
        dx[:, :-1] = 0
        dx[:, -1] = dout
        return dx


def load_torch_lstm_weights(module, layer=None):
    """Copy a ``torch.nn.LSTM``/``torch.nn.LSTMCell``'s parameters into fastnet's layout.

    PyTorch keeps per layer ``weight_ih (4H, D)``, ``weight_hh (4H, H)`` with
    row blocks in the gate order i, f, g, o, and two biases ``bias_ih``,
    ``bias_hh``. fastnet's ``W`` is ``[weight_ih.T; weight_hh.T]``
    ``(D + H, 4H)`` with its column blocks permuted to the layer's
    ``gate_order``, and ``b = bias_ih + bias_hh``.

    ``layer`` (an :class:`LSTM` or :class:`LSTMCell` of the same sizes) is
    filled in place; None builds one (``gate_order`` 'ifog', the module's
    dtype, ``batch_first`` as the module). Returns the layer. Modules with
    ``proj_size``, ``bidirectional`` or a nonzero ``dropout`` have no fastnet
    equivalent: ValueError.
    """
    import torch

    if isinstance(module, torch.nn.LSTMCell):
        cell = True
        num_layers, batch_first = 1, False
    elif isinstance(module, torch.nn.LSTM):
        cell = False
        if module.proj_size or module.bidirectional or module.dropout:
            raise ValueError("torch.nn.LSTM with proj_size, bidirectional or dropout has no "
                             "fastnet equivalent")
        num_layers, batch_first = module.num_layers, module.batch_first
    else:
        raise TypeError(f"module must be a torch.nn.LSTM or torch.nn.LSTMCell; got "
                        f"{type(module).__name__}")
    tensors = dict(module.named_parameters())
    suffix = "" if cell else "_l{}"
    w_ih = tensors["weight_ih" + suffix.format(0)]
    dtype = float_dtype(str(w_ih.dtype).replace("torch.", ""), "module dtype")
    has_bias = bool(module.bias)
    if layer is None:
        kwargs = dict(bias=has_bias, dtype=dtype)
        if cell:
            layer = LSTMCell(module.input_size, module.hidden_size, **kwargs)
        else:
            layer = LSTM(module.input_size, module.hidden_size, num_layers,
                         batch_first=batch_first, **kwargs)
    want = (LSTMCell if cell else LSTM)
    if (not isinstance(layer, want) or layer.input_size != module.input_size
            or layer.hidden_size != module.hidden_size or layer.num_layers != num_layers
            or layer.bias != has_bias):
        raise ValueError(f"layer must be a fastnet {want.__name__} with input_size "
                         f"{module.input_size}, hidden_size {module.hidden_size}, "
                         f"num_layers {num_layers}, bias {has_bias}; got {layer.describe()}")
    # the column block of fastnet's W holding each of torch's row blocks i, f, g, o
    to_torch = ["ifgo".index(gate) for gate in layer.gate_order]
    for index in range(num_layers):
        s = suffix.format(index)

        def blocks(name):
            value = tensors[name + s].detach().cpu().numpy().astype(np.float64)
            parts = np.split(value, 4, axis=0)
            return np.concatenate([parts[k] for k in to_torch], axis=0)

        w_fastnet, b_fastnet = layer._weights(index)
        w_fastnet[...] = np.concatenate([blocks("weight_ih").T, blocks("weight_hh").T])
        if has_bias:
            b_fastnet[...] = blocks("bias_ih") + blocks("bias_hh")
    return layer
