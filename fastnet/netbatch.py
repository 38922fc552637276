"""``NetBatch``: k nets of one shape trained side by side, one call per step.

Each member is an ordinary :class:`~fastnet.net.Sequential` with its own
parameters, optimizer and random generators; the batch only drives them
together. Every per-member gradient (and, in :meth:`NetBatch.step`, update)
goes through :func:`_member_gradients`, the one place where the members'
passes run: all members in one compiled call spread over the threads
(:func:`fastnet._program.gradients_many`), which never changes what a member
computes: a member trained in the batch equals the same net trained alone on
the same batches.
"""
import contextlib
import numbers

import numpy as np

from fastnet._checks import flag, integer, positive_int
from fastnet._program import gradients_many, outputs_many
from fastnet.layers import Affine
from fastnet.net import Sequential, accuracy_of
from fastnet.optim import make_optimizer


def _member_gradients(nets, xs, ts, optimizers=None):
    """Gradients of every member: ``[net.gradient(x, t) for net, x, t in zip(...)]``,
    the members' compiled passes run in one call, spread over the threads;
    with ``optimizers``, each member's update too (in the same call where
    the optimizer is one of fastnet's own).

    ``xs[i]``, ``ts[i]`` are member i's checked inputs (the same arrays for
    every member when they share a batch; they are only read). Returns a list
    of grads dicts, each equal to ``nets[i].gradient(xs[i], ts[i])`` (see
    :func:`fastnet._program.gradients_many`: each member's matrix products
    run on one BLAS thread, which for some shapes rounds differently from
    OpenBLAS's multi-threaded GEMM); sets each net's ``last_loss`` and
    mutates what a training-mode pass mutates (batch norm running
    statistics, dropout generators).
    """
    return gradients_many(nets, xs, ts, optimizers, checked=True)


@contextlib.contextmanager
def _members_locked(nets):
    """Hold every member's lock (in one global order, so two batches sharing
    nets cannot deadlock): a member's workspace serves one pass at a time."""
    with contextlib.ExitStack() as stack:
        for net in sorted(nets, key=id):
            stack.enter_context(net._lock)
        yield


_NO_TARGETS = object()  # _inputs' default: no t (None given as t is a mistake)


def _per_member(values):
    """True when ``values`` holds one value per member (a list, tuple, range or 1-d array)."""
    return isinstance(values, (list, tuple, range)) or (
        isinstance(values, np.ndarray) and values.ndim == 1)


def _spread(name, value, k):
    """``value`` as a list of k: one value per member, or the same value k times.

    A per-member list of another length is a ValueError naming ``name`` and k.
    """
    if not _per_member(value):
        return [value] * k
    values = list(value)
    if len(values) != k:
        raise ValueError(f"{name} has {len(values)} values; the batch has k={k} members "
                         f"(give one value for all, or a list of {k})")
    return values


def _renamed(name, check, *args, **kwargs):
    """``check(*args, **kwargs)``, with an error's message prefixed by ``name`` (e.g. ``x[2]``)."""
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None


def _affine_shapes(net):
    return [(name, tuple(layer.params["W"].shape), tuple(layer.params["b"].shape))
            for name, layer in net.layers.items() if isinstance(layer, Affine)]


def _batch_from_state(nets, optimizers):
    return NetBatch([Sequential.from_state(s) for s in nets],
                    None if optimizers is None else [_optimizer_from_state(*o) for o in optimizers])


def _optimizer_from_state(state, backend):
    opt = make_optimizer(state["optimizer"], backend=backend, **state["hyperparameters"])
    opt.load_state_dict(state)
    return opt


class NetBatch:
    """k nets of one architecture, trained side by side.

    Parameters
    ----------
    nets : sequence of Sequential
        The members (used, not copied: ``batch[i]`` is ``nets[i]``). They
        must share ``input_shape``, ``output_shape``, ``dtype`` and the
        parameter shapes of their :class:`~fastnet.layers.Affine` layers;
        batch norm on or off, dropout ratio, activations and weight decay may
        differ. No layer, optimizer or random generator may belong to two
        members (each member's dropout draws from its own stream).
    optimizers : sequence of k optimizers, or None
        Member i's optimizer (anything with ``update(params, grads)``; a
        fastnet optimizer for :meth:`state_dict` and pickling). None: the
        batch computes gradients and losses but cannot :meth:`step`.

    Inputs
    ------
    Every method taking ``x`` (and ``t``) accepts either

    - a **shared batch**: ``x`` one array ``(N, *input_shape)`` (or any
      array the members accept) and ``t`` one label array ``(N,)`` or
      ``(N, C)``; every member sees the same samples; or
    - **per-member batches**: ``x`` a list or tuple of k arrays, or one array
      of shape ``(k, N, *input_shape)``, and ``t`` likewise (a list or tuple
      of k label arrays, or an array whose first axis has length k); member
      i sees ``x[i], t[i]``. The members' batch sizes may differ.

    Every input is checked before any member runs, so a bad ``x[3]`` leaves
    every member untouched; errors name the argument (``x``, ``t[2]`` ...).

    Attributes
    ----------
    nets : list of Sequential
    optimizers : list of optimizers, or None
    """

    def __init__(self, nets, optimizers=None):
        if isinstance(nets, (Sequential, str, bytes)) or not hasattr(nets, "__iter__"):
            raise TypeError(f"nets must be a sequence of fastnet.Sequential nets; got "
                            f"{type(nets).__name__}")
        nets = list(nets)
        if not nets:
            raise ValueError("nets must hold at least one net")
        for i, net in enumerate(nets):
            if not isinstance(net, Sequential):
                raise TypeError(f"nets[{i}] must be a fastnet.Sequential (or a builder of one, "
                                f"e.g. MultiLayerNet); got {type(net).__name__}")
        self._check_members(nets)
        self.nets = nets
        self.optimizers = None if optimizers is None else self._check_optimizers(optimizers)

    @staticmethod
    def _check_members(nets):
        first = nets[0]
        first_affine = _affine_shapes(first)
        owner = {}  # id of a layer or generator -> (member, layer name)
        for i, net in enumerate(nets):
            for what in ("input_shape", "output_shape", "dtype"):
                a, b = getattr(first, what), getattr(net, what)
                if a != b:
                    raise ValueError(f"members 0 and {i} differ in {what}: {a} and {b}; a "
                                     f"NetBatch holds nets of one shape")
            affine = _affine_shapes(net)
            if len(affine) != len(first_affine):
                raise ValueError(f"members 0 and {i} differ in their Affine layers: "
                                 f"{len(first_affine)} and {len(affine)}")
            for (name0, w0, b0), (name, w, b) in zip(first_affine, affine):
                if (w0, b0) != (w, b):
                    raise ValueError(f"members 0 and {i} differ in Affine layer shapes: "
                                     f"{name0!r} has W {w0}, b {b0} in member 0; {name!r} has "
                                     f"W {w}, b {b} in member {i}")
            for name, layer in net.layers.items():
                owned = [(layer, "layer")]
                rng = getattr(layer, "rng", None)  # a dropout layer's mask stream
                if isinstance(rng, np.random.Generator):
                    owned.append((rng, "random generator"))
                for obj, what in owned:
                    j, other = owner.setdefault(id(obj), (i, name))
                    if j != i:
                        raise ValueError(
                            f"members {j} and {i} share a {what} (layer {other!r} of member {j}, "
                            f"{name!r} of member {i}); give each member its own, so that it "
                            f"trains as it would alone")

    def _check_optimizers(self, optimizers):
        if isinstance(optimizers, (str, bytes)) or not hasattr(optimizers, "__iter__"):
            raise TypeError(f"optimizers must be a sequence of {len(self.nets)} optimizers (one "
                            f"per member) or None; got {type(optimizers).__name__}")
        optimizers = list(optimizers)
        if len(optimizers) != len(self.nets):
            raise ValueError(f"optimizers has {len(optimizers)} entries; the batch has "
                             f"k={len(self.nets)} members (one optimizer per member)")
        seen = {}
        for i, opt in enumerate(optimizers):
            if not callable(getattr(opt, "update", None)):
                raise TypeError(f"optimizers[{i}] must have update(params, grads); got "
                                f"{type(opt).__name__}")
            j = seen.setdefault(id(opt), i)
            if j != i:
                raise ValueError(f"optimizers[{j}] and optimizers[{i}] are the same object; each "
                                 f"member needs its own (an optimizer keeps per-parameter state)")
        return optimizers

    @classmethod
    def build(cls, k, make_net, optimizer="sgd", *, seed=None, **hyperparameters):
        """A batch of k members made by ``make_net``, each with its own optimizer.

        Parameters
        ----------
        k : int >= 1
        make_net : callable ``(i, seed) -> Sequential``
            Called once per member with its index and its seed; the index
            lets members differ where the shape rule allows (batch norm,
            dropout ratio, initial weight scale ...).
        optimizer : str or list of k str
            A name :func:`fastnet.optim.make_optimizer` takes (``'sgd'``,
            ``'adam'`` ...), for all members or per member.
        seed : None, int, or list of k seeds
            A list gives member i ``seed[i]`` as is (an int, a Generator or
            None). An int ``s`` gives member i the generator
            ``numpy.random.default_rng(numpy.random.SeedSequence(s, spawn_key=(i,)))``
            (independent streams; the same as ``SeedSequence(s).spawn(k)[i]``).
            None gives every member fresh entropy.
        **hyperparameters
            The optimizers' arguments (``lr``, ``weight_decay``, ``momentum``,
            ``convention``, ``backend`` ...): one value for all members, or a
            list (tuple, 1-d array) of k values, one per member.

        A per-member list whose length is not k is a ValueError naming the
        argument and k.

        Example::

            batch = NetBatch.build(4, lambda i, seed: MultiLayerNet(784, [50], 10, seed=seed),
                                   optimizer="adam", lr=[1e-3, 3e-3, 1e-2, 3e-2], seed=0)
        """
        k = positive_int("k", k)
        if not callable(make_net):
            raise TypeError(f"make_net must be a callable (i, seed) -> Sequential; got "
                            f"{type(make_net).__name__}")
        names = _spread("optimizer", optimizer, k)
        if seed is None or _per_member(seed):
            seeds = _spread("seed", seed, k)
        else:
            root = integer("seed", seed, low=0)
            seeds = [np.random.default_rng(np.random.SeedSequence(root, spawn_key=(i,)))
                     for i in range(k)]
        spread = {name: _spread(name, value, k) for name, value in hyperparameters.items()}
        optimizers = [_renamed(f"optimizer of member {i}", make_optimizer, names[i],
                               **{name: values[i] for name, values in spread.items()})
                      for i in range(k)]
        nets = []
        for i in range(k):
            net = make_net(i, seeds[i])
            if not isinstance(net, Sequential):
                raise TypeError(f"make_net({i}, seed) must return a fastnet.Sequential; got "
                                f"{type(net).__name__}")
            nets.append(net)
        return cls(nets, optimizers)

    # -- members ---------------------------------------------------------------------
    def __len__(self):
        return len(self.nets)

    def __iter__(self):
        return iter(self.nets)

    def __getitem__(self, index):
        """``batch[i]``: member i's net itself; ``batch[a:b]``: a NetBatch of those members
        (the same net and optimizer objects, not copies)."""
        k = len(self.nets)
        if isinstance(index, slice):
            nets = self.nets[index]
            if not nets:
                raise IndexError(f"the slice {index} selects no member of a batch of {k}")
            return NetBatch(nets, None if self.optimizers is None else self.optimizers[index])
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"a NetBatch index must be an integer or a slice; got {index!r}")
        if not -k <= index < k:
            raise IndexError(f"member index {index} is out of range for a batch of {k} "
                             f"(0 to {k - 1}, or -{k} to -1)")
        return self.nets[index]

    def __repr__(self):
        opts = (None if self.optimizers is None
                else [type(o).__name__ for o in self.optimizers])
        return (f"NetBatch(k={len(self.nets)}, input_shape={self.nets[0].input_shape}, "
                f"output_shape={self.nets[0].output_shape}, dtype={self.nets[0].dtype.name}, "
                f"optimizers={opts})")

    # -- inputs ----------------------------------------------------------------------
    def _inputs(self, x, t=_NO_TARGETS):
        """Check ``x`` (and ``t``) for every member: ``(xs, ts)``, lists of k arrays.

        A shared batch is checked once and appears k times; ``ts`` is None
        when no ``t`` is given (``predict``).
        """
        if t is None:  # (was "'NoneType' object is not iterable" from the members' loop)
            raise TypeError("t must be class indices (N,) or target rows (N, C), shared or "
                            "one per member; got None")
        if t is _NO_TARGETS:
            t = None
        nets, k = self.nets, len(self.nets)
        first = nets[0]
        stacked = (isinstance(x, np.ndarray) and x.ndim == len(first.input_shape) + 2
                   and x.shape[2:] == first.input_shape)
        if not (stacked or isinstance(x, (list, tuple))):
            x = first._check_x(x)
            for net in nets:  # each member's layers take x's shape (a set lookup once known)
                net._check_sample_shape(x)
            ts = None if t is None else [first._check_t(t, x.shape[0])] * k
            return [x] * k, ts
        self._check_count("x", x)
        xs = [_renamed(f"x[{i}]", net._check_x, xi) for i, (net, xi) in enumerate(zip(nets, x))]
        if t is None:
            return xs, None
        if not (isinstance(t, (list, tuple)) or (isinstance(t, np.ndarray) and t.ndim >= 2)):
            raise ValueError(f"t must hold one label array per member (a list of {k}, or an "
                             f"array whose first axis has length {k}) when x does; got "
                             f"{type(t).__name__}"
                             + (f" of shape {t.shape}" if isinstance(t, np.ndarray) else ""))
        self._check_count("t", t)
        ts = [_renamed(f"t[{i}]", net._check_t, ti, xi.shape[0])
              for i, (net, xi, ti) in enumerate(zip(nets, xs, t))]
        return xs, ts

    def _check_count(self, name, values):
        if len(values) != len(self.nets):
            raise ValueError(f"{name} holds {len(values)} per-member batches; the batch has "
                             f"k={len(self.nets)} members")

    # -- training --------------------------------------------------------------------
    def gradients(self, x, t):
        """Each member's backpropagated gradients of its training-mode loss.

        Returns a list of k dicts, ``grads[i]`` equal to
        ``batch[i].gradient(x_i, t_i)`` (new arrays, keyed like the member's
        ``params``). Mutates what a training pass mutates: each member's
        ``last_loss``, batch-norm running statistics and dropout generators.
        """
        xs, ts = self._inputs(x, t)
        with _members_locked(self.nets):
            return _member_gradients(self.nets, xs, ts)

    def step(self, x, t):
        """One training step of every member: gradients, then its optimizer's update.

        Returns a float64 array of k training losses (each member's loss on
        its batch before the update, the ``last_loss`` of its gradient pass).
        Member i's parameters are updated in place by ``optimizers[i]``, as
        ``optimizers[i].update(net.params, net.gradient(x_i, t_i))`` would.
        """
        if self.optimizers is None:
            raise RuntimeError("step needs an optimizer per member: build the batch with "
                               "NetBatch(nets, optimizers=[...]) or NetBatch.build(...)")
        xs, ts = self._inputs(x, t)
        with _members_locked(self.nets):
            _member_gradients(self.nets, xs, ts, self.optimizers)
            return np.array([net.last_loss for net in self.nets], dtype=np.float64)

    # -- evaluation ------------------------------------------------------------------
    def predict(self, x, train_flg=False):
        """Each member's logits: a list of k new arrays ``(N_i, C)``.

        In inference mode the members' compiled passes run in one call over
        the threads (:func:`fastnet._program.outputs_many`).
        """
        xs, _ = self._inputs(x)
        if flag("train_flg", train_flg):
            return [net.predict(xi, True) for net, xi in zip(self.nets, xs)]
        with _members_locked(self.nets):
            return [out.copy() for out in outputs_many(self.nets, xs)]

    def loss(self, x, t, train_flg=False):
        """Each member's loss (plus its penalties): a float64 array of k."""
        xs, ts = self._inputs(x, t)
        return np.array([net.loss(xi, ti, train_flg) for net, xi, ti in zip(self.nets, xs, ts)],
                        dtype=np.float64)

    def accuracy(self, x, t):
        """Each member's accuracy (inference mode): a float64 array of k, member i's
        equal to ``batch[i].accuracy(x_i, t_i)``.

        The members' compiled forward passes run in one call over the threads
        (:func:`fastnet._program.outputs_many`, each member's matrix products
        on one BLAS thread: for large inputs an output may differ from
        ``predict``'s by rounding, which can move an accuracy only where two
        classes' logits tie to the dtype's precision).
        """
        xs, ts = self._inputs(x, t)
        with _members_locked(self.nets):
            return np.array([accuracy_of(out, ti)
                             for out, ti in zip(outputs_many(self.nets, xs), ts)], dtype=np.float64)

    # -- state -----------------------------------------------------------------------
    def state_dict(self):
        """``{"nets": [...], "optimizers": [...] or None}``: each member's ``state_dict()``."""
        return {"nets": [net.state_dict() for net in self.nets],
                "optimizers": None if self.optimizers is None
                else [self._optimizer_state(i) for i in range(len(self.nets))]}

    def _optimizer_state(self, i):
        opt = self.optimizers[i]
        if not callable(getattr(opt, "state_dict", None)):
            raise TypeError(f"optimizers[{i}] ({type(opt).__name__}) has no state_dict(); "
                            f"saving a batch needs fastnet optimizers")
        return opt.state_dict()

    def load_state_dict(self, state):
        """Load each member's net (and optimizer) state from :meth:`state_dict` output.

        All or nothing: if any member's state is rejected (a ValueError or
        TypeError naming the member), every member is restored to its state
        before the call. ``state["optimizers"]`` None leaves the optimizers
        as they are.
        """
        k = len(self.nets)
        if not isinstance(state, dict) or "nets" not in state:
            raise TypeError("state must be a dict from NetBatch.state_dict(), with a 'nets' key")
        nets, opts = state["nets"], state.get("optimizers")
        if not isinstance(nets, (list, tuple)) or len(nets) != k:
            raise ValueError(f"state['nets'] must be a list of {k} net states (one per member); "
                             f"got {type(nets).__name__} of length "
                             f"{len(nets) if hasattr(nets, '__len__') else '?'}")
        if opts is not None:
            if self.optimizers is None:
                raise ValueError("state holds optimizer states, but this batch has no optimizers")
            if not isinstance(opts, (list, tuple)) or len(opts) != k:
                raise ValueError(f"state['optimizers'] must be None or a list of {k} optimizer "
                                 f"states; got {type(opts).__name__}")
        previous = self.state_dict()
        try:
            for i in range(k):
                _renamed(f"member {i}", self.nets[i].load_state_dict, nets[i])
                if opts is not None:
                    _renamed(f"optimizers[{i}]", self.optimizers[i].load_state_dict, opts[i])
        except (TypeError, ValueError):
            for i in range(k):
                self.nets[i].load_state_dict(previous["nets"][i])
                if previous["optimizers"] is not None:
                    self.optimizers[i].load_state_dict(previous["optimizers"][i])
            raise

    def __reduce__(self):
        opts = None
        if self.optimizers is not None:
            opts = [(self._optimizer_state(i), getattr(opt, "backend", "compiled"))
                    for i, opt in enumerate(self.optimizers)]
        return _batch_from_state, ([net.state_dict() for net in self.nets], opts)
