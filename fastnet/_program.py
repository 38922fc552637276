"""A net's pass as one compiled call: recording the layers' kernel calls, and running them.

The per-layer path (``Sequential._forward``/``_loss``/``_backward``) calls
each layer's ``_forward``/``_backward`` from Python, and each of those calls
one or two kernels. For a net whose layers all support it, this module
records those kernel calls once per (input shape, train flag, passes,
target kind) into a :class:`fastnet._kernels.program.Program` and then runs
the whole pass in one ``nogil`` call: no Python between layers, no
per-kernel argument checks or memoryview acquisition. The ops run the
kernels' own inline cores with the same arguments in the same order, so the
results, the gradients and every piece of layer state read afterwards
(batch norm's running statistics, dropout's ``mask`` and generator,
``layer.grads``, the arrays a layer caches such as ``Affine.x``, the loss
layer's ``loss``, ``net.last_loss``) are exactly those of the per-layer
path. A layer's hyperparameters (weight decay, dropout ratio, ...) are read
when a pass is recorded, as its configuration: they are read-only
attributes (``fastnet.layers._base.setting``), so no pass can run with a
stale value; ``net._programs.clear()`` drops the recorded passes.

Recording: a layer's ``_compile(plan, x, ws, train)`` (see
:class:`fastnet.layers._base.Layer`) is given a :class:`Plan` that stands in
for the layer's kernel namespace (``plan.affine_forward(...)`` records the
call that ``fastnet.kernels.affine_forward(...)`` would make) and runs the
layer's ``_forward`` against it; arrays come from the net's workspace as
usual, and the call's input, targets and gradient buffer are placeholders
the program later points at the real arrays. Python work a step needs (a
dropout layer's uniform draws from its generator, the weight-decay terms of
the loss) runs before or after the compiled call, in layer order.

``net._use_program = False`` forces the per-layer path (tests compare the
two). While a net records diagnostics (``net.record_stats()``), its passes
are recorded with the statistics of each recorded array as ops of their own
(``accumulate_stats_``), run inside the call. Each such op only reads its
array, so it may run later than the per-layer path's hook, as long as no op
in between writes that array (or its counts and totals): :class:`Plan`
holds it back until an op would, then adds it together with another held
one, the two to run side by side on two threads (a layer's activations,
intact until its backward, beside the gradient arriving at it, which that
backward overwrites). Each statistic is the same call on the same values,
so the results are the per-layer path's bit for bit.
"""
import contextlib
import operator

import numpy as np

from fastnet._kernels import program as _compiled
from fastnet._kernels import stats as _stats
from fastnet._kernels import threads as _threads
from fastnet.layers._base import Layer
from fastnet.optim.optimizers import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop

FORWARD, LOSS, GRADIENT = "forward", "loss", "gradient"
#: Programs kept per net (input shapes x modes); the cache is cleared when full.
MAX_PROGRAMS = 8
#: Statistics ops over at least this many values each run two at a time, side by side
#: (csrc/program.pyx's _run_stats_pair); below, the parallel region (~0.5 us) would cost
#: about as much as the smaller call it hides (measured: two float32 calls of 1024 values
#: 1.06 us side by side against 1.20 one after the other; of 512, 0.94 against 0.97).
STATS_PAIR_MIN = 1024
_NOT_BUILT = object()


def _check_recordable(name, arrays, dtypes):
    """ValueError unless every array (None skipped) is C-contiguous of one of ``dtypes``:
    an op keeps only its arrays' data pointers."""
    for a in arrays:
        if a is not None and not (a.flags.c_contiguous and a.dtype in dtypes):
            raise ValueError(f"{name}: cannot record a {a.dtype} array of shape {a.shape} "
                             f"that is not C-contiguous {dtypes[0]}")


class Plan:
    """What a layer records its kernel calls into (see the module docstring).

    Attributes a layer's ``_compile`` may use: ``dtype``; ``before_run(f)``
    (``f()`` runs before every compiled call, in recording order);
    ``after_run(f)`` (``f(loss)`` after it, with the loss layer's loss);
    ``trace(layer, x, ws, train)`` (records ``layer._forward`` and returns
    ``(y, backward)``); ``record(layer, method, *args)`` (any method). Each
    kernel name of ``fastnet.kernels`` a layer calls (``affine_forward`` ...)
    records that call, with that signature. The recording ends with
    :meth:`finish`, which adds the statistics ops still held back.
    """

    def __init__(self, program, dtype):
        self._program = program
        self.dtype = dtype
        self.before, self.after = [], []
        self.state = {}
        # Statistics ops held back (see the module docstring), in recording order:
        # (arrays, the arrays they write, n, nbins, scalars).
        self._held = []

    def before_run(self, f):
        self.before.append(f)

    def after_run(self, f):
        self.after.append(f)

    def trace(self, layer, x, ws, train, forward=None):
        """Record ``(forward or layer._forward)(x, ws, train)`` with ``layer._ops`` set
        to this plan; return ``(y, backward)``, where ``backward(dout, ws, need_dx)``
        records ``layer._backward`` the same way and returns its dx."""
        y = self.record(layer, forward or layer._forward, x, ws, train)

        def backward(dout, ws_, need_dx):
            return self.record(layer, layer._backward, dout, ws_, need_dx)
        return y, backward

    def record(self, layer, method, *args):
        """Call ``method(*args)`` with ``layer._ops`` set to this plan; return its result.

        The attributes the call (re)binds on the layer (its cached input and
        output arrays ...) are kept in ``self.state``: every run binds them again.
        """
        before = dict(vars(layer))
        ops, layer._ops = layer._ops, self
        try:
            return method(*args)
        finally:
            layer._ops = ops
            for name, value in vars(layer).items():
                if name != "_ops" and (name not in before or before[name] is not value):
                    self.state[id(layer), name] = (layer, name, value)

    # -- the kernel namespace, recording ------------------------------------------
    def _add(self, name, arrays, n=0, d=0, m=0, code=0, scalars=()):
        _check_recordable(name, arrays, (self.dtype, np.int64))
        kind = _compiled.KINDS[name]
        self._release(arrays, _written(kind, arrays))
        self._program.add(kind, arrays, n, d, m, code, scalars)

    def _release(self, arrays, written):
        """Add the held statistics ops that an op over ``arrays``, writing
        ``written``, must not pass: those whose arrays it writes or that write
        one of its arrays. Each is added with a partner if one is held."""
        while True:
            k = next((k for k, held in enumerate(self._held)
                      if _overlap(written, held[0]) or _overlap(held[1], arrays)), None)
            if k is None:
                return
            due = self._held.pop(k)
            self._add_stats(due, self._held.pop() if self._paired(due) else None)

    def _paired(self, held):
        """Whether ``held`` has a partner: the latest other held op, both large enough."""
        return (held[2] >= STATS_PAIR_MIN and bool(self._held)
                and self._held[-1][2] >= STATS_PAIR_MIN)

    def _add_stats(self, held, partner=None):
        # A partner is held, so it writes nothing ``held`` touches and the reverse:
        # whichever of two ops was held later was checked against the earlier one.
        for op, code in ((held, 0 if partner is None else _compiled.STATS_WITH_NEXT),
                         (partner, 0)):
            if op is not None:
                arrays, _, n, nbins, scalars = op
                self._program.add(_compiled.KINDS["accumulate_stats_"], arrays, n, nbins, 0,
                                  code, scalars)

    def finish(self):
        """Add the statistics ops still held (two at a time); call once, after the last op."""
        while self._held:
            first = self._held.pop(0)
            self._add_stats(first, self._held.pop() if self._paired(first) else None)

    def affine_forward(self, x, W, b, out, activation=0, param=0.0, preact=None):
        self._add("affine_forward", (x, W, b, out, preact), x.shape[0], x.shape[1], W.shape[1],
                  activation, (param,))

    def affine_backward(self, dout, x, W, dx, dW, db, weight_decay=0):
        self._add("affine_backward", (dout, x, W, dx, dW, db), x.shape[0], x.shape[1],
                  W.shape[1], 0, (weight_decay,))

    def affine_activation_backward_(self, dout, y, preact, activation, param, x, W, dx, dW, db,
                                    weight_decay=0):
        self._add("affine_activation_backward_", (dout, y, preact, x, W, dx, dW, db),
                  x.shape[0], x.shape[1], W.shape[1], activation, (param, weight_decay))

    def activation_forward(self, x, out, activation, param=0.0):
        self._add("activation_forward", (x, out), x.shape[0], 0, 0, activation, (param,))

    def activation_backward(self, dout, y, x, dx, activation, param=0.0):
        self._add("activation_backward", (dout, y, x, dx), dout.shape[0], 0, 0, activation,
                  (param,))

    def batchnorm_forward_train_(self, x, gamma, beta, eps, out, mean, inv_std, running_mean,
                                 running_var, momentum, var_correction):
        self._add("batchnorm_forward_train_",
                  (x, gamma, beta, out, mean, inv_std, running_mean, running_var),
                  x.shape[0], x.shape[1], 0, 0, (eps, momentum, var_correction))

    def batchnorm_forward_infer(self, x, gamma, beta, running_mean, running_var, eps, out):
        self._add("batchnorm_forward_infer", (x, gamma, beta, running_mean, running_var, out),
                  x.shape[0], x.shape[1], 0, 0, (eps,))

    def batchnorm_backward(self, dout, x, gamma, mean, inv_std, dx, dgamma, dbeta):
        self._add("batchnorm_backward", (dout, x, gamma, mean, inv_std, dx, dgamma, dbeta),
                  x.shape[0], x.shape[1])

    def dropout_forward_(self, x, mask, ratio, scale, out):
        self._add("dropout_forward_", (x, mask, out), x.shape[0], 0, 0, 0, (ratio, scale))

    def dropout_backward(self, dout, mask, dx):
        self._add("dropout_backward", (dout, mask, dx), dout.shape[0])

    def dropout_scale(self, x, scale, out):
        self._add("dropout_scale", (x, out), x.shape[0], 0, 0, 0, (scale,))

    def softmax_cross_entropy(self, logits, labels, dlogits):
        self._add("softmax_cross_entropy", (logits, labels, dlogits), logits.shape[0], 0,
                  logits.shape[1])
        return float("nan")  # the loss is known when the program runs

    def accumulate_stats_(self, x, edges, counts, totals, saturated_below, saturated_above):
        nbins = edges.shape[0] - 1
        if not (x.dtype == self.dtype and x.ndim == 1 and x.flags.c_contiguous
                and edges.dtype == totals.dtype == np.float64 and counts.dtype == np.int64
                and counts.shape == (nbins,) and totals.shape == (5,) and nbins >= 1):
            raise ValueError("accumulate_stats_: cannot record these arrays")
        scratch = np.empty(_stats.stats_scratch_size(nbins), np.int64)
        kind = _compiled.KINDS["accumulate_stats_"]
        arrays = (x, edges, counts, totals, scratch)
        written = _written(kind, arrays)
        self._release(arrays, written)  # an op of the same statistics runs first
        self._held.append((arrays, written, x.shape[0], nbins,
                           (saturated_below, saturated_above)))

    def softmax_cross_entropy_onehot(self, logits, t, dlogits):
        self._add("softmax_cross_entropy_onehot", (logits, t, dlogits), logits.shape[0], 0,
                  logits.shape[1])
        return float("nan")


def _written(kind, arrays):
    """The arrays an op of ``kind`` over ``arrays`` writes (csrc/program.pyx's WRITES)."""
    return [arrays[k] for k in _compiled.WRITES[kind] if k < len(arrays) and arrays[k] is not None]


def _overlap(arrays, others):
    """Whether memory of one of ``arrays`` may be memory of one of ``others`` (None skipped):
    bounds only, so a held op is added early rather than late."""
    return any(o is not None and np.may_share_memory(a, o) for a in arrays for o in others)


class CompiledPass:
    """One recorded pass of a net; :meth:`run` it on checked inputs of its shapes."""

    __slots__ = ("net", "program", "before", "after", "penalties", "output", "grad_order",
                 "state", "input_views", "fused_update")

    def run(self, x, t=None, grads=None):
        """Run the pass; return the loss with every penalty (a forward-only pass: 0.0).

        Sets ``net.last_loss`` for passes with a loss.
        """
        self._prepare()
        return self._finish(x, self.program.run(x, t, grads), t is not None)

    def _prepare(self):
        for f in self.before:
            f()

    def _finish(self, x, loss, has_loss, penalties=None):
        """Bind the layers' state after a run; return the loss with the penalties
        (``penalties``: their values taken before the run, when it updated the
        parameters they are computed from)."""
        for layer, name, value in self.state:
            setattr(layer, name, value)
        for layer, name, shape in self.input_views:
            setattr(layer, name, x.reshape(shape))
        for f in self.after:
            f(loss)
        if has_loss:
            for value in (self._penalty_values() if penalties is None else penalties):
                loss += value
            self.net.last_loss = loss
        return loss

    def _penalty_values(self):
        return [penalty() for penalty in self.penalties]

    def gradient(self, x, t):
        """``net.gradient(x, t)`` for checked ``x`` and ``t``."""
        self.run(x, t, self.net._new_grads())
        return self.grads()

    def grads(self):
        """The layers' gradients as ``gradient()`` returns them (ordered like ``params``)."""
        return {key: layer_grads[local] for key, layer_grads, local in self.grad_order}


def compiled_pass(net, x, t, train, passes):
    """The net's :class:`CompiledPass` for this call, recorded on first use, or None
    when the per-layer path must run (a layer without the hook, a reference
    backend, ``net._use_program`` false, diagnostics recording)."""
    if not net._use_program:
        return None
    # The recorder is part of the key: its arrays are in the recorded ops.
    key = (x.shape, bool(train), passes, None if t is None else t.ndim, net._recorder)
    step = net._programs.get(key, _NOT_BUILT)
    if step is _NOT_BUILT:
        if len(net._programs) >= MAX_PROGRAMS:
            net._programs.clear()
        step = net._programs[key] = _record(net, x.shape, train, passes, t)
    return step


def _record(net, x_shape, train, passes, t):
    layers = list(net.layers.values()) + [net.loss_layer]
    if any(layer.backend != "compiled" for layer in layers):
        return None
    x = np.empty(x_shape, net.dtype)
    t_ph = None if passes == FORWARD else np.empty(t.shape, t.dtype)
    # The per-call gradient buffer's placeholder: layer.grads become views into it.
    grads = net._new_grads() if passes == GRADIENT else None
    program = _compiled.Program(net.dtype, x, t_ph, grads)
    plan = Plan(program, net.dtype)
    recorder = net._recorder
    with (contextlib.nullcontext() if recorder is None else recorder.adding_through(plan)):
        return _record_into(plan, net, x, t_ph, grads, passes, train, recorder)


def _record_into(plan, net, x, t_ph, grads, passes, train, recorder):

    # The forward, with Sequential._forward's rule of which outputs may be
    # written in place.
    h, protected, backwards = x, True, []
    for i, (layer, ws) in enumerate(net._slots):
        keeps_input = train and layer.keeps_input
        ws.may_overwrite_x = not (protected or keeps_input)
        traced = layer._compile(plan, h, ws, train)
        if traced is None:
            return None
        y, backward = traced
        if recorder is not None:
            recorder.forward(i, y)
        protected = (train and layer.keeps_output) or (y is h and (protected or keeps_input))
        backwards.append((backward, ws))
        h = y
    if passes == FORWARD:
        if np.shares_memory(h, x):
            return None  # the output is the input (inverted dropout at inference): nothing to run
    else:
        dout = net.loss_layer._compile_loss(plan, h, t_ph, net._loss_ws)
        if dout is None:
            return None
        if passes == GRADIENT:
            for i in range(len(backwards) - 1, -1, -1):
                if recorder is not None:
                    recorder.backward(i, dout)
                backward, ws = backwards[i]
                dout = backward(dout, ws, i > 0)
    plan.finish()
    step = CompiledPass()
    step.net, step.program, step.output = net, plan._program, h
    step.fused_update = None  # see _recorded_update
    step.before, step.after = plan.before, plan.after
    # The layers' attributes a per-layer pass would leave, bound again after
    # every run; views of the input placeholder become views of the call's x.
    step.state, step.input_views = [], []
    for layer, name, value in plan.state.values():
        if isinstance(value, np.ndarray) and np.may_share_memory(value, x):
            if not (value.size == x.size and _address(value) == _address(x)):
                return None  # a part of the input: not a view a reshape can remake
            step.input_views.append((layer, name, value.shape))
        elif isinstance(value, np.ndarray) and any(
                a is not None and np.may_share_memory(value, a) for a in (t_ph, grads)):
            return None
        else:
            step.state.append((layer, name, value))
    # Layers whose penalty is not Layer's constant 0 (adding 0.0 changes no bit).
    step.penalties = [layer.penalty for layer in net.layers.values()
                      if type(layer).penalty is not Layer.penalty]
    slots = net._param_slots
    step.grad_order = [(key, slots[key][0].grads, slots[key][1]) for key in net.params]
    return step


def _address(array):
    return array.__array_interface__["data"][0]


# -- several nets at once (issue #15) ---------------------------------------------------

def gradients_many(nets, xs, ts, optimizers=None, checked=False):
    """``[net.gradient(x, t) for net, x, t in zip(nets, xs, ts)]``, the nets run at once.

    ``xs`` and ``ts`` hold one entry per net; the same array object may be
    passed for every net (a shared batch). The compiled passes of all nets
    run in one nogil call, the nets spread over fastnet's OpenMP threads and
    each net's matrix products on one thread (NumPy's OpenBLAS is set to one
    thread for the call and restored after, process-wide: a GEMM another
    Python thread makes meanwhile also runs on one thread). A net that cannot
    be compiled runs its own ``gradient`` first; nets that share a layer object
    run one after the other as ``net.gradient``. Each net's ``last_loss``,
    layer state and returned gradients are those of ``net.gradient(x, t)``,
    except that OpenBLAS's one-thread GEMM may round differently from its
    multi-threaded one and from a product split by rows over threads (it
    does for some shapes: equal to the dtype's tolerance, not bit for bit,
    when ``net.gradient`` would use several threads).
    A single compiled net runs as ``net.gradient`` itself, on every BLAS thread.

    ``optimizers`` (one per net, or None): also run
    ``optimizers[i].update(nets[i].params, gradients_i)`` for every net. For
    a compiled net and one of fastnet's own optimizers on the compiled
    backend, the update's kernel runs inside the same call, right after that
    net's backward pass, on its thread (its Python part, the checks and the
    step count, runs before the call); any other update runs after the call.
    The results are the same as calling ``update`` afterwards.

    ``checked``: ``xs[i]`` and ``ts[i]`` are already ``nets[i]``'s checked
    inputs (``net._check_x``, ``net._check_t``; a caller that checked a
    shared batch once), so they are not checked again.

    Raises ValueError/TypeError as ``net.gradient`` does (naming x or t), or
    if the lengths differ or a net appears twice.
    """
    nets, xs, ts = list(nets), list(xs), list(ts)
    opts = [None] * len(nets) if optimizers is None else list(optimizers)
    if not (len(nets) == len(xs) == len(ts) == len(opts)):
        raise ValueError(f"nets, xs, ts (and optimizers) must have one entry per net; got "
                         f"{len(nets)}, {len(xs)}, {len(ts)}"
                         + ("" if optimizers is None else f", {len(opts)}"))
    if len({id(net) for net in nets}) != len(nets):
        raise ValueError("nets must be distinct objects (a net appears twice)")
    if _share_a_layer(nets):
        # Nets sharing a layer share its state (batch statistics, masks): one after the other.
        return [_updated(net, opt, net.gradient(x, t)) for net, opt, x, t in
                zip(nets, opts, xs, ts)]
    if not checked:
        xs, ts = _checked_inputs(nets, xs, ts)
    results = [None] * len(nets)
    batch = []
    for i, net in enumerate(nets):
        x, t = xs[i], ts[i]
        step = compiled_pass(net, x, t, True, GRADIENT)
        if step is None:
            results[i] = _updated(net, opts[i], net.gradient(x, t))
        else:
            batch.append((i, step))
    if len(batch) == 1:  # one net alone keeps every BLAS thread for its GEMMs
        i, step = batch[0]
        results[i] = _updated(step.net, opts[i], step.gradient(xs[i], ts[i]))
    elif batch:
        programs, bxs, bts, buffers, updates, penalties, late = [], [], [], [], [], [], []
        for i, step in batch:
            buffer = step.net._new_grads()
            results[i] = step.grads()
            update = None
            if opts[i] is not None and not late:  # once one is late, the rest keep the order
                try:
                    update = _recorded_update(opts[i], step, results[i], buffer)
                except (TypeError, ValueError):
                    pass  # its checks changed nothing: the update raises again after the call
            if opts[i] is not None and update is None:
                late.append(i)
            # The loss's penalties are those of the parameters before the update.
            penalties.append(None if update is None else step._penalty_values())
            step._prepare()
            programs.append(step.program)
            bxs.append(xs[i])
            bts.append(ts[i])
            buffers.append(buffer)
            updates.append(update)
        losses = _run_many(programs, bxs, bts, buffers, updates)
        for (_, step), x, loss, values in zip(batch, bxs, losses, penalties):
            step._finish(x, loss, True, values)
        for i in late:
            opts[i].update(nets[i].params, results[i])
    return results


def _share_a_layer(nets):
    """Whether a layer object belongs to two of ``nets``."""
    layers = [net.layers.values() for net in nets]
    return len(set().union(*layers)) != sum(map(len, layers))


def _checked_inputs(nets, xs, ts):
    """``(xs, ts)``, each net's inputs checked as ``net.gradient`` checks them.

    A shared batch is converted and checked once per dtype and class count;
    each net still checks that its layers take x's shape (cached by the net).
    """
    checked, memo = [], {}
    for net, x, t in zip(nets, xs, ts):
        key = (id(x), id(t), net.dtype, net.output_shape[-1])
        found = memo.get(key)
        if found is None:
            x = net._check_x(x)  # no copy of an array already of the net's dtype, C-contiguous
            found = memo[key] = (x, net._check_t(t, x.shape[0]))
        else:
            net._check_sample_shape(found[0])
        checked.append(found)
    return [x for x, _ in checked], [t for _, t in checked]


def _updated(net, optimizer, grads):
    if optimizer is not None:
        optimizer.update(net.params, grads)
    return grads


def _recorded_update(optimizer, step, grads, buffer):
    """``optimizer.update(step.net.params, grads)`` as a Program of UPDATE ops to run
    later, or None when the optimizer is not one of fastnet's own on the compiled backend.

    Everything but the kernel calls runs now: the checks, the state made on
    first use, the step count. ``grads`` (the views of ``buffer``, the flat
    gradient buffer of the net's ``_new_grads``) may hold anything yet: only
    the kernels read it.

    A one-call update (``Optimizer._flat_args``) is remembered in
    ``step.fused_update``: while the net's parameter arrays (keys and
    objects) are those it was found for and the optimizer still holds its
    flat state group (``Optimizer._next_flat_step``, checked every call: a
    replaced or loaded ``state``, a rebound state array, steps that differ,
    another optimizer all fail it), the next call skips finding the tiling
    of the parameters and gradients again; the kernel's scalars (learning
    rate, Adam's bias corrections ...) are computed anew every call.
    """
    if (optimizer is None or optimizer.__class__ not in _FUSABLE
            or optimizer.backend != "compiled"):
        return None
    net = step.net
    params = net.params
    program = _compiled.Program(net.dtype, None, None, None)
    kernels, optimizer._ops = optimizer._ops, UpdatePlan(program, net.dtype)
    try:
        memo = step.fused_update
        if memo is not None and memo[0] == tuple(params) and all(
                map(operator.is_, params.values(), memo[1])):
            # memo[3], the group, is the optimizer's own until another one is updated
            flat_step = optimizer._next_flat_step(memo[3])
            if flat_step is not None:
                optimizer._update_flat(memo[2], buffer, memo[3], flat_step)
                return program
        flat = optimizer._flat_args(params, grads)
        if flat is None:
            step.fused_update = None
            optimizer.update(params, grads)
        else:
            param, grad, group, flat_step = flat
            # The gradients tile their buffer whole, laid out like the parameters: the
            # next call's buffer (made alike) is its flat gradient as is.
            step.fused_update = ((tuple(params), tuple(params.values()), param, group)
                                 if grad is buffer else None)
            optimizer._update_flat(param, grad, group, flat_step)
    finally:
        optimizer._ops = kernels
    return program


#: fastnet's optimizer classes, whose ``update`` calls only the update kernels.
_FUSABLE = frozenset((SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW))


class UpdatePlan:
    """Stands in for an optimizer's kernel namespace: each update kernel call it
    makes becomes an UPDATE op of ``program`` (same arrays, same scalars)."""

    def __init__(self, program, dtype):
        self._program = program
        self.dtype = dtype

    def _add(self, name, arrays, scalars, flags=0):
        _check_recordable(name, arrays, (self.dtype,))
        self._program.add(_compiled.KINDS["update"], arrays, arrays[0].shape[0],
                          _compiled.UPDATES[name], 0, flags, scalars)

    def sgd_update_(self, param, grad, lr, weight_decay=0.0):
        self._add("sgd_update_", (param, grad), (lr, weight_decay))

    def momentum_update_(self, param, grad, velocity, lr, momentum, weight_decay, nesterov,
                         textbook):
        flags = _compiled.UPDATE_FLAGS
        self._add("momentum_update_", (param, grad, velocity), (lr, momentum, weight_decay),
                  (flags["nesterov"] if nesterov else 0) | (flags["textbook"] if textbook else 0))

    def rmsprop_update_(self, param, grad, h, lr, decay, scale, eps, weight_decay):
        self._add("rmsprop_update_", (param, grad, h), (lr, decay, scale, eps, weight_decay))

    def adam_update_(self, param, grad, m, v, step_size, beta1, beta2, eps, inv_bias2_sqrt,
                     weight_decay, shrink):
        self._add("adam_update_", (param, grad, m, v),
                  (step_size, beta1, beta2, eps, inv_bias2_sqrt, weight_decay, shrink))


def _run_many(programs, xs, ts, grads, updates=None):
    # NumPy's OpenBLAS on one thread for the call: each net's GEMMs run on its own thread.
    if not _threads.blas_one_thread(True):  # another BLAS: its threads are not ours to set
        return _compiled.run_many(programs, xs, ts, grads, 1, updates)
    try:
        return _compiled.run_many(programs, xs, ts, grads, _threads.max_threads(), updates)
    finally:
        _threads.blas_one_thread(False)


def outputs_many(nets, xs):
    """Each net's inference-mode output (its logits) for ``xs[i]``, the nets run at once.

    ``xs`` holds one input per net (the same array object may be passed for
    every net: a shared batch; it is only read). Returns a list of arrays
    ``(N_i, C)`` equal to ``nets[i].predict(xs[i])`` but *not copied*: each
    is the net's own output buffer, valid until that net's next pass (copy
    it to keep it). The compiled forward passes run in one nogil call as
    :func:`gradients_many` runs the training passes: the nets spread over
    the OpenMP threads, each net's matrix products on one BLAS thread (so
    equal to ``predict`` within the dtype's tolerance where OpenBLAS's
    multi-threaded GEMM or a product split by rows rounds differently, bit
    for bit otherwise). A net
    without a compiled pass runs its own per-layer forward; a single
    compiled net, or nets that share a layer object, run one after the other
    on every BLAS thread. Mutates what an inference pass mutates (the nets'
    workspaces and the attributes a forward pass binds on the layers).

    Raises ValueError/TypeError as ``predict`` does (naming x), or if the
    lengths differ or a net appears twice.
    """
    nets, xs = list(nets), list(xs)
    if len(nets) != len(xs):
        raise ValueError(f"nets and xs must have one entry per net; got {len(nets)} and "
                         f"{len(xs)}")
    if len({id(net) for net in nets}) != len(nets):
        raise ValueError("nets must be distinct objects (a net appears twice)")
    xs = [net._check_x(x) for net, x in zip(nets, xs)]
    steps = [compiled_pass(net, x, None, False, FORWARD) for net, x in zip(nets, xs)]
    batch = [i for i, step in enumerate(steps) if step is not None]
    if len(batch) > 1 and not _share_a_layer(nets):
        for i in batch:
            steps[i]._prepare()
        _run_many([steps[i].program for i in batch], [xs[i] for i in batch],
                  [None] * len(batch), [None] * len(batch))
        for i in batch:
            steps[i]._finish(xs[i], 0.0, False)
    else:
        for i in batch:
            steps[i].run(xs[i])
    return [net._forward(x, False) if step is None else step.output
            for net, x, step in zip(nets, xs, steps)]
