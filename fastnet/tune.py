"""Hyperparameter search (the textbook's section 6.5): random search on a validation split.

A *space* maps names to distributions (:func:`loguniform`, :func:`uniform`,
:func:`choice`, :func:`intrange`, :func:`logintrange`). :func:`random_search`
draws ``n_trials`` points, builds a net and optimizer for each with the
user's ``build(params) -> (net, optimizer)``, trains it on the training data
less a validation split, and ranks the trials by validation accuracy. The
test set is never an argument: nothing here can look at it.

* The validation set is split off the training data once per study
  (stratified and shuffled by :func:`fastnet.trainer.stratified_split`, from
  the study seed); every trial sees the same split.
* Trial ``k``'s randomness (its parameters, initial weights and batch order)
  comes from ``numpy.random.SeedSequence(seed, spawn_key=(1, k))``, so a
  trial's result depends on the study seed and its number only, not on
  ``n_jobs`` or on the order trials finish.
* ``early_stopping='asha'``: asynchronous successive halving in epochs.
  Rungs sit at ``min_epochs * reduction_factor**r`` epochs; a trial reaching a
  rung continues only when its validation accuracy ranks in the top
  ``1/reduction_factor`` of the trials that reached that rung so far (fewer
  than ``ceil(n / reduction_factor)`` of those ``n`` strictly better; ties
  continue). "So far"
  means the trials with smaller numbers (waited for when they run in
  parallel), which keeps the decisions, and so the results, independent of
  ``n_jobs``.
* ``n_jobs > 1`` runs trials in worker processes (``spawn`` context) with
  ``cores // n_jobs`` BLAS/OpenMP threads each, so the cores are not
  oversubscribed. A worker that dies (the out-of-memory killer, a crash in
  ``build``) ends the search at once with a :class:`WorkerDiedError`.
* ``batch_trials=k`` trains trials ``0..k-1``, ``k..2k-1``, ... as groups:
  each group is one :class:`fastnet.NetBatch` (one batched step per
  mini-batch), every member with its own parameters, initial weights and
  optimizer, all on the batch order of the group's first trial. A group is
  one job of the ``n_jobs`` workers. Sharing the batch order removes the
  batch-order noise *between the trials of a group* (their difference is
  their hyperparameters and initial weights only), while trials of
  different groups still differ by it as before; so a trial's result
  depends on ``batch_trials`` (not on ``n_jobs``), and the trials of one
  group are not independent draws of that noise. An ASHA or pruner stop
  drops the member from its group.

:func:`optuna_search` runs the same objective in an Optuna study (samplers,
pruners, a SQLite or PostgreSQL storage shared by many processes or
machines); it needs the ``tune`` extra.
"""
import abc
import contextlib
import functools
import importlib
import inspect
import itertools
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from fastnet._checks import flag, float_dtype, integer, one_of, positive_int, real_scalar
from fastnet._io import atomic_open, write_csv
from fastnet.trainer import Callback, Trainer, _check_pair, stratified_split

#: Columns of the results table (CSV header) after ``trial`` and one column per space name.
RESULT_COLUMNS = ("best_val_acc", "final_val_acc", "train_acc", "epochs_run",
                  "stopped", "seconds")
#: Environment variables that size the BLAS/OpenMP thread pools of a worker process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS")


# -- distributions ----------------------------------------------------------------------

class Distribution(abc.ABC):
    """A one-dimensional search distribution; ``sample(rng)`` draws one value."""

    @abc.abstractmethod
    def sample(self, rng):
        """Draw one value with the ``numpy.random.Generator`` ``rng``."""

    @abc.abstractmethod
    def suggest(self, trial, name):
        """Draw the value of ``name`` through an Optuna ``trial`` (same distribution)."""


def _bounds(kind, low, high, *, log, integral):
    check = integer if integral else real_scalar
    low, high = check(f"{kind} low", low), check(f"{kind} high", high)
    if low >= high:
        raise ValueError(f"{kind}(low, high) needs low < high; got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise ValueError(f"{kind}(low, high) is on a log scale, so low must be > 0; "
                         f"got low={low!r}")
    return low, high


class _Range(Distribution):
    kind, log, integral = "", False, False

    def __init__(self, low, high):
        self.low, self.high = _bounds(self.kind, low, high, log=self.log, integral=self.integral)

    def __repr__(self):
        return f"{self.kind}({self.low!r}, {self.high!r})"

    def __eq__(self, other):
        return type(self) is type(other) and (self.low, self.high) == (other.low, other.high)

    def sample(self, rng):
        if not self.integral:
            if self.log:
                return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
            return float(rng.uniform(self.low, self.high))
        if self.log:
            # floor of a log-uniform draw on [low, high + 1): integer k gets log((k+1)/k) of the mass
            value = math.floor(np.exp(rng.uniform(np.log(self.low), np.log(self.high + 1))))
            return int(min(value, self.high))
        return int(rng.integers(self.low, self.high, endpoint=True))

    def suggest(self, trial, name):
        if self.integral:
            return trial.suggest_int(name, self.low, self.high, log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)


class loguniform(_Range):  # noqa: N801 -- named like scipy.stats.loguniform, used as a function
    """``low * (high/low)**U(0, 1)``: uniform in ``log`` on ``[low, high)``, ``0 < low < high``.

    The textbook's learning-rate space ``10**U(-6, -2)`` is ``loguniform(1e-6, 1e-2)``.
    """
    kind, log = "loguniform", True


class uniform(_Range):  # noqa: N801
    """Uniform on ``[low, high)``, ``low < high``."""
    kind = "uniform"


class intrange(_Range):  # noqa: N801
    """An integer uniform on ``{low, ..., high}`` (both ends included), ``low < high``."""
    kind, integral = "intrange", True


class logintrange(_Range):  # noqa: N801
    """An integer in ``{low, ..., high}``, ``0 < low < high``, uniform in log (e.g. layer widths)."""
    kind, log, integral = "logintrange", True, True


class choice(Distribution):  # noqa: N801
    """One of ``options`` (a non-empty sequence of distinct values), each equally likely."""

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__len__"):
            raise TypeError(f"choice(options) needs a list of values; got {options!r}")
        options = list(options)
        if not options:
            raise ValueError("choice(options) needs at least one option; got []")
        if len({repr(o) for o in options}) != len(options):
            raise ValueError(f"choice(options) has repeated options: {options!r}")
        self.options = options

    def __repr__(self):
        return f"choice({self.options!r})"

    def __eq__(self, other):
        return type(self) is type(other) and self.options == other.options

    def sample(self, rng):
        value = self.options[int(rng.integers(len(self.options)))]
        return value.item() if isinstance(value, np.generic) else value

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, self.options)


_SPEC_KINDS = {"log": loguniform, "uniform": uniform, "int": intrange, "logint": logintrange}


def parse_distribution(text):
    """Parse ``NAME=KIND:ARGS`` (the ``fastnet tune --space`` syntax) into ``(name, dist)``.

    Kinds: ``log:LOW:HIGH`` (:func:`loguniform`), ``uniform:LOW:HIGH``,
    ``int:LOW:HIGH``, ``logint:LOW:HIGH``, ``choice:A,B,...`` (numbers
    where they parse as numbers, else strings). Raises ValueError saying what
    was expected.
    """
    name, sep, spec = text.partition("=")
    kind, _, args = spec.partition(":")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ValueError(f"expected NAME=KIND:ARGS such as lr=log:1e-6:1e-2; got {text!r}")
    if kind == "choice":
        options = [_number_or_text(a) for a in args.split(",") if a != ""]
        return name, choice(options)
    if kind not in _SPEC_KINDS:
        raise ValueError(f"{name}: unknown kind {kind!r}; expected one of "
                         f"{', '.join(sorted([*_SPEC_KINDS, 'choice']))} (e.g. lr=log:1e-6:1e-2)")
    cls = _SPEC_KINDS[kind]
    parts = args.split(":")
    try:
        bounds = [(int if cls.integral else float)(p) for p in parts]
    except ValueError:
        bounds = None
    if bounds is None or len(bounds) != 2:
        raise ValueError(f"{name}: expected {kind}:LOW:HIGH with two "
                         f"{'integers' if cls.integral else 'numbers'}; got {spec!r}")
    try:
        return name, cls(*bounds)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _number_or_text(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def check_space(space):
    """Return ``space`` as a dict after checking it maps identifiers to distributions."""
    if not isinstance(space, dict) or not space:
        raise TypeError(f"space must be a non-empty dict {{name: distribution}}, e.g. "
                        f"{{'lr': loguniform(1e-6, 1e-2)}}; got {space!r}")
    for name, dist in space.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"space names must be identifiers such as 'lr'; got {name!r}")
        if not isinstance(dist, Distribution):
            raise TypeError(f"space[{name!r}] must be a distribution (loguniform(1e-6, 1e-2), "
                            f"uniform, choice, intrange, logintrange); got {dist!r}")
    return dict(space)


def sample_space(space, rng):
    """Draw one point ``{name: value}`` of ``space``, names in the space's order."""
    return {name: dist.sample(rng) for name, dist in space.items()}


# -- seeds ------------------------------------------------------------------------------

def trial_seeds(seed, number):
    """The trial's ``(params, weights, batches)`` seed sequences: from the study seed and ``number``."""
    return np.random.SeedSequence(seed, spawn_key=(1, number)).spawn(3)


def split_validation(x, t, fraction, seed):
    """Return ``(x_train, t_train, x_val, t_val)``: a stratified split seeded by the study seed.

    ``round(fraction * n_c)`` samples of each class go to validation
    (:func:`fastnet.trainer.stratified_split`); both parts keep the data's order.
    """
    fraction = real_scalar("validation_fraction", fraction, low=0, high=1, low_open=True,
                           high_open=True)
    n = _check_pair("x_train", x, "t_train", t)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    train_idx, val_idx = stratified_split(t, fraction, rng)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ValueError(f"validation_fraction={fraction:g} of {n} samples leaves "
                         f"{len(train_idx)} for training and {len(val_idx)} for validation; "
                         "both need at least one")
    return x[train_idx], t[train_idx], x[val_idx], t[val_idx]


# -- building ---------------------------------------------------------------------------

class _ReadTracker(dict):
    """A dict that remembers which keys were read: the up-front check of ``build``."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __iter__(self):
        # iteration, ** unpacking (which goes through keys() and [] for a subclass) read all
        self.read.update(super().keys())
        return super().__iter__()

    def items(self):
        self.read.update(super().keys())
        return super().items()

    def values(self):
        self.read.update(super().keys())
        return super().values()


def _takes_seed(build):
    try:
        return "seed" in inspect.signature(build).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _call_build(build, params, weights_seed):
    if _takes_seed(build):
        made = build(params, seed=int(weights_seed.generate_state(1)[0]))
    else:
        made = build(params)
    if not isinstance(made, tuple) or len(made) != 2:
        raise TypeError(f"build(params) must return (net, optimizer); got {made!r}")
    net, optimizer = made
    if not callable(getattr(optimizer, "update", None)):
        raise TypeError(f"build(params) must return (net, optimizer) with an optimizer that "
                        f"has update(params, grads); got {optimizer!r}")
    return net, optimizer


def probe_build(build, space, seed):
    """Build trial 0's net once, before any training: check the contract and the names.

    ``build`` is called with a dict that records which names it reads
    (``params[name]``, ``params.get(name)``, iteration or ``**params``); a
    space name it never reads is a ValueError, since it would be searched
    for nothing. ``build`` that takes a ``seed`` keyword gets an int seed for
    the initial weights. Returns the net built.
    """
    if not callable(build):
        raise TypeError(f"build must be a callable build(params) -> (net, optimizer); "
                        f"got {build!r}")
    params_seed, weights_seed, _ = trial_seeds(seed, 0)
    params = _ReadTracker(sample_space(space, np.random.default_rng(params_seed)))
    net, _ = _call_build(build, params, weights_seed)
    unused = [name for name in space if name not in params.read]
    if unused:
        raise ValueError(f"space name(s) {', '.join(map(repr, unused))} never read by build "
                         f"{getattr(build, '__name__', type(build).__name__)}(params); it "
                         f"reads {sorted(params.read) or 'nothing'}")
    return net


class MLP:
    """A picklable ``build`` for :func:`random_search`: a MultiLayerNetExtend and a named optimizer.

    Space names it reads: ``lr`` and the optimizer's other hyperparameters
    (``momentum``, ``beta1`` ...), ``weight_decay`` (the net's L2
    ``weight_decay_lambda``) and ``dropout`` (a dropout ratio; 0 means none).
    Any other name is a ValueError naming it. Defaults are the net's and
    the optimizer's. ``backend='reference'`` runs the NumPy twin (benchmarks).
    """

    NET_NAMES = ("weight_decay", "dropout")

    def __init__(self, input_size, hidden, output_size, *, optimizer="sgd", activation="relu",
                 weight_init_std="relu", use_batchnorm=False, backend="compiled",
                 dtype=np.float32):
        from fastnet._activation import get_activation
        from fastnet.init import get_initializer
        from fastnet.optim import OPTIMIZERS

        self.input_size = positive_int("input_size", input_size)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a list of positive ints; got {hidden!r}")
        self.hidden = [positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
        self.output_size = positive_int("output_size", output_size)
        self.optimizer = one_of("optimizer", optimizer.lower() if isinstance(optimizer, str)
                                else optimizer, OPTIMIZERS)
        # Checked here, not first when a trial builds its net (after the data split)
        get_activation(activation)
        get_initializer(weight_init_std)
        float_dtype(dtype)
        self.activation, self.weight_init_std = activation, weight_init_std
        self.use_batchnorm = flag("use_batchnorm", use_batchnorm)
        self.backend = one_of("backend", backend, ("compiled", "reference"))
        self.dtype = dtype
        # weight_decay is the net's L2 lambda only: optimizers take a weight_decay of their
        # own (torch's coupled decay), and passing it on too would decay the weights twice.
        self.optimizer_names = tuple(
            name for name in inspect.signature(OPTIMIZERS[self.optimizer]).parameters
            if name not in self.NET_NAMES)

    def __call__(self, params, seed=None):
        from fastnet.multi_layer_net import MultiLayerNetExtend
        from fastnet.optim import make_optimizer

        unknown = [k for k in params if k not in self.NET_NAMES + self.optimizer_names]
        if unknown:
            raise ValueError(f"space name(s) {', '.join(map(repr, unknown))} unknown to "
                             f"MLP(optimizer={self.optimizer!r}); it takes "
                             f"{', '.join(self.NET_NAMES + self.optimizer_names)}")
        dropout = params.get("dropout", 0.0)
        net = MultiLayerNetExtend(self.input_size, self.hidden, self.output_size,
                                  activation=self.activation,
                                  weight_init_std=self.weight_init_std,
                                  weight_decay_lambda=params.get("weight_decay", 0.0),
                                  use_dropout=dropout > 0, dropout_ration=dropout,
                                  use_batchnorm=self.use_batchnorm, dtype=self.dtype,
                                  seed=seed, backend=self.backend)
        optimizer = make_optimizer(self.optimizer, backend=self.backend,
                                   **{k: params[k] for k in self.optimizer_names if k in params})
        return net, optimizer


# -- early abandonment ------------------------------------------------------------------

def asha_rungs(epochs, min_epochs, reduction_factor):
    """Rung epochs ``min_epochs * reduction_factor**r`` below ``epochs`` (ascending)."""
    rungs, r = [], min_epochs
    while r < epochs:
        rungs.append(r)
        r *= reduction_factor
    return rungs


class _RungBoard:
    """The rung records of a study, shared by trials (a dict, or a Manager dict across processes).

    Keys ``('r', trial, epoch)`` hold a trial's validation accuracy at a rung;
    ``('d', trial)`` the epochs a finished trial ran.
    """

    def __init__(self, store, rungs, reduction_factor):
        self.store, self.rungs, self.eta = store, tuple(rungs), reduction_factor

    def keep_going(self, trial, epoch, value):
        """Record ``value`` at rung ``epoch``; True if it ranks in the top 1/eta so far."""
        self.store[("r", trial, epoch)] = value
        earlier = []
        for j in range(trial):
            # trials run in number order, so trial j started first and is never waiting on us
            while True:
                v = self.store.get(("r", j, epoch))
                if v is not None:
                    earlier.append(v)
                    break
                if ("d", j) in self.store:
                    break  # stopped before this rung
                time.sleep(0.005)
        better = sum(v > value for v in earlier)
        return better < math.ceil((len(earlier) + 1) / self.eta)

    def finish(self, trial, epochs_run):
        self.store[("d", trial)] = epochs_run


def _stop_reason(number, epoch, value, epochs, board, on_epoch):
    """Why trial ``number`` stops after ``epoch`` with validation accuracy ``value``, or None.

    ``on_epoch(epoch, value)`` returning True prunes it (Optuna); else at an
    ASHA rung before the last epoch the ``board`` decides.
    """
    if on_epoch is not None and on_epoch(epoch, value):
        return f"pruned at epoch {epoch}"
    if (board is not None and epoch in board.rungs and epoch < epochs
            and not board.keep_going(number, epoch, value)):
        return f"below the top 1/{board.eta} at rung {epoch}"
    return None


class _Report(Callback):
    """Per-epoch validation accuracy into the trial record; stops at a rung when told."""

    def __init__(self, number, board, on_epoch=None):
        self.number, self.board, self.on_epoch = number, board, on_epoch
        self.stopped_at = None

    def on_epoch_end(self, trainer, logs):
        # the Trainer evaluates its "test" set each epoch: the search gives it the validation split
        epoch = logs["epoch"]
        reason = _stop_reason(self.number, epoch, logs["test_acc"], trainer.epochs, self.board,
                              self.on_epoch)
        if reason is not None:
            trainer.stop_reason = reason
            self.stopped_at = epoch
        return reason is not None


def _record(number, params, val, train, stopped, seconds):
    """A trial's record (see :class:`SearchResult`) from its per-epoch accuracies."""
    val, train = [float(v) for v in val], [float(v) for v in train]
    return {"trial": number, "params": dict(params),
            "best_val_acc": max(val) if val else float("nan"),
            "final_val_acc": val[-1] if val else float("nan"),
            "train_acc": train[-1] if val else float("nan"),
            "epochs_run": len(val), "stopped": stopped, "seconds": seconds,
            "val_acc_curve": val, "train_acc_curve": train}


def run_trial(build, params, number, seed, data, *, epochs, batch_size, board=None,
              on_epoch=None, batches_of=None):
    """Train one trial; return its record (a dict; see :class:`SearchResult`).

    ``data`` is ``(x_train, t_train, x_val, t_val)``. ``on_epoch(epoch,
    val_acc)`` returning True stops the trial (Optuna pruners use it).
    ``batches_of``: the number of the trial whose batch order to train on
    (default ``number``). A trial of a group (``batch_trials``) trains on its
    group's first trial's batches; this reproduces it alone.
    Mutates nothing of the caller's but ``board``.
    """
    _, weights_seed, _ = trial_seeds(seed, number)
    batch_seed = trial_seeds(seed, number if batches_of is None else batches_of)[2]
    x_tr, t_tr, x_val, t_val = data
    started = time.perf_counter()
    report = _Report(number, board, on_epoch)
    try:
        net, optimizer = _call_build(build, params, weights_seed)
        # As the textbook's search does, the Trainer's evaluation set is the validation split
        # (never the test set): its per-epoch "test" accuracy is the validation accuracy.
        trainer = Trainer(net, x_tr, t_tr, x_val, t_val, epochs=epochs,
                          mini_batch_size=batch_size, optimizer=optimizer, verbose=False,
                          seed=np.random.default_rng(batch_seed), callbacks=[report])
        trainer.train()
    finally:
        if board is not None:
            board.finish(number, report.stopped_at or epochs)
    return _record(number, params, trainer.test_acc_list, trainer.train_acc_list,
                   report.stopped_at is not None, time.perf_counter() - started)


def _net_batch(nets, optimizers, numbers):
    from fastnet.netbatch import NetBatch

    try:
        return NetBatch(nets, optimizers)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"batch_trials trains each group of trials (here {numbers[0]} to "
                        f"{numbers[-1]}) as one fastnet.NetBatch, which needs fastnet nets of "
                        f"one shape (search the shape with batch_trials=1): {exc}") from None


def run_group(build, jobs, seed, data, *, epochs, batch_size, board=None, on_epoch=None):
    """Train the trials ``jobs`` (a list of ``(number, params)``) as one :class:`fastnet.NetBatch`.

    Every member trains on the batch order of the group's first trial
    (``trial_seeds(seed, jobs[0][0])``), with its own initial weights and
    optimizer: trial ``j``'s record equals ``run_trial(..., j, ...,
    batches_of=jobs[0][0])``'s but for ``seconds`` (here the group's wall
    time while the trial was in it). After each epoch the members still
    training are judged in number order as :func:`run_trial` judges one
    (``on_epoch(number, epoch, val_acc)`` returning True prunes it; an ASHA
    ``board`` may stop it at a rung); a stopped member leaves the group and
    is no longer trained. Returns the records in the order of ``jobs``.
    """
    from fastnet.ensemble import train_together

    numbers = [number for number, _ in jobs]
    x_tr, t_tr, x_val, t_val = data
    started = time.perf_counter()
    val_curves, train_curves = [[] for _ in jobs], [[] for _ in jobs]
    stopped, seconds = [False] * len(jobs), [None] * len(jobs)

    def judge(epoch, members, batch):
        val, train = batch.accuracy(x_val, t_val), batch.accuracy(x_tr, t_tr)
        kept = []
        for m, v, a in zip(members, val, train):
            val_curves[m].append(v)
            train_curves[m].append(a)
            prune = None if on_epoch is None else functools.partial(on_epoch, numbers[m])
            if _stop_reason(numbers[m], epoch, float(v), epochs, board, prune) is None:
                kept.append(m)
                continue
            stopped[m], seconds[m] = True, time.perf_counter() - started
            if board is not None:
                board.finish(numbers[m], epoch)
        return kept

    try:
        made = [_call_build(build, params, trial_seeds(seed, number)[1])
                for number, params in jobs]
        batch = _net_batch([net for net, _ in made], [opt for _, opt in made], numbers)
        train_together(batch, x_tr, t_tr, epochs=epochs, batch_size=batch_size,
                       seed=np.random.default_rng(trial_seeds(seed, numbers[0])[2]),
                       on_epoch=judge)
    finally:
        if board is not None:
            for m, number in enumerate(numbers):
                if not stopped[m]:
                    board.finish(number, epochs)
    ended = time.perf_counter() - started
    return [_record(number, params, val_curves[m], train_curves[m], stopped[m],
                    ended if seconds[m] is None else seconds[m])
            for m, (number, params) in enumerate(jobs)]


# -- worker processes -------------------------------------------------------------------

def _run_job(build, job, data, board, settings):
    """Run one job ``(group, seed, grouped)``: a list of records, in trial order.

    ``grouped`` False: ``group`` is one ``(number, params)``, trained alone by
    :func:`run_trial`; True: the group trains as one NetBatch (:func:`run_group`).
    """
    group, seed, grouped = job
    if grouped:
        return run_group(build, group, seed, data, board=board, **settings)
    (number, params), = group
    return [run_trial(build, params, number, seed, data, board=board, **settings)]


def _worker_main(conn, build, data, settings, store, rungs, eta):
    """A worker process: run each job received on ``conn``, send back what it gave.

    Replies ``(True, records)`` or ``(False, exception, traceback text)``. An
    exception that would not reach the parent intact (one that does not pickle,
    or whose class cannot be rebuilt from its args) is sent as a RuntimeError
    with its text. It runs until the parent terminates it or is gone.
    """
    board = None if store is None else _RungBoard(store, rungs, eta)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent was killed: nothing left to do
            return
        try:
            reply = (True, _run_job(build, job, data, board, settings))
        except Exception as exc:
            try:
                pickle.loads(pickle.dumps(exc))
            except Exception:
                exc = RuntimeError(f"{type(exc).__qualname__}: {exc}")
            reply = (False, exc, traceback.format_exc())
        conn.send(reply)


class _WorkerTraceback(Exception):
    """The traceback (text) of an exception a worker raised: shown as the exception's cause."""

    def __str__(self):
        return self.args[0]


class WorkerDiedError(RuntimeError):
    """A worker process of ``random_search(..., n_jobs > 1)`` ended while the search ran."""


def _trial_names(job):
    numbers = [number for number, _ in job[0]]
    if len(numbers) == 1:
        return f"trial {numbers[0]}"
    return f"trials {numbers[0]} to {numbers[-1]}"


def _worker_died(process, job):
    code = process.exitcode
    status = f"exit status {code}"
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):  # a number no Signals member has
            status += f", {signal.Signals(-code).name}"
    doing = f"while running {_trial_names(job)}" if job else "between trials"
    return WorkerDiedError(
        f"n_jobs > 1: worker process {process.pid} died ({status}) {doing}; the other "
        "workers were stopped. The out-of-memory killer sends SIGKILL (fewer n_jobs, a "
        "smaller net or batch use less memory); a crash, os._exit or sys.exit in build or a "
        "callback ends a worker too (n_jobs=1 runs the trials in this process)")


def _run_in_workers(ctx, n_jobs, jobs, args, collect):
    """Run ``jobs`` in ``n_jobs`` new processes; ``collect(records)`` each job's as it ends.

    ``args`` are :func:`_worker_main`'s after the connection. Each job is sent
    to a free worker in order, so job ``k`` starts after jobs ``0..k-1`` have
    (the rung board relies on it). The parent waits on the workers' replies
    and their process sentinels at once: a worker that dies (the
    out-of-memory killer, a signal, ``os._exit``) is a :class:`WorkerDiedError`
    naming it and its trials, at once (``multiprocessing.Pool`` started
    another and waited forever for the lost result). An exception raised in
    a job is raised here with the worker's traceback as its cause. However it
    ends (the last result, an error, Ctrl-C), every worker is terminated and
    joined.
    """
    workers = []

    def start():
        for _ in range(min(n_jobs, len(jobs))):
            conn, child = ctx.Pipe()
            process = ctx.Process(target=_worker_main, args=(child, *args), daemon=True,
                                  name=f"fastnet-tune-worker-{len(workers)}")
            workers.append((process, conn))
            process.start()
            child.close()  # the worker's end: the parent's reads EOF once the worker is gone

    running, sent, done = {}, 0, 0  # running: worker index -> its job
    try:
        _spawn_ignoring_ctrl_c(start)
        while done < len(jobs):
            for w, (_, conn) in enumerate(workers):
                if w in running or sent == len(jobs):
                    continue
                try:
                    conn.send(jobs[sent])
                except OSError:  # it died idle: wait() below sees it
                    continue
                running[w], sent = jobs[sent], sent + 1
            ready = multiprocessing.connection.wait(
                [conn for _, conn in workers] + [process.sentinel for process, _ in workers])
            for w, (process, conn) in enumerate(workers):
                if conn in ready:
                    try:
                        reply = conn.recv()
                    except (EOFError, OSError):  # it died, maybe while sending
                        reply = None
                    if reply is not None:
                        running.pop(w)
                        if not reply[0]:
                            raise reply[1] from _WorkerTraceback(reply[2])
                        done += 1
                        collect(reply[1])
                        continue
                if conn in ready or process.sentinel in ready:
                    process.join(timeout=10)  # its exit status, once the kernel has it
                    raise _worker_died(process, running.get(w))
    finally:
        started = [process for process, _ in workers if process.pid is not None]
        for process in started:
            process.terminate()
        for process in started:
            process.join(timeout=5)
            if process.exitcode is None:  # user code that catches SIGTERM
                process.kill()
                process.join()
        for _, conn in workers:
            conn.close()


def threads_per_job(n_jobs):
    """BLAS/OpenMP threads each of ``n_jobs`` workers gets: ``max(1, cores // n_jobs)``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // n_jobs)


def _spawn_ignoring_ctrl_c(start, *args):
    """``start(*args)``, which starts processes, with SIGINT ignored while it runs.

    A terminal's Ctrl-C signals the whole process group. A worker it interrupts
    while starting or training prints a traceback (and with
    ``multiprocessing.Pool``, one interrupted while sending a result died
    holding the pool's queue lock). A process started with SIGINT ignored
    keeps it ignored (Python puts its KeyboardInterrupt handler only over the
    default), so the parent alone stops, and its cleanup terminates the
    workers (:func:`_run_in_workers`). A Ctrl-C while ``start`` runs is lost
    (it spawns the processes; a Manager also waits for its server to start).
    """
    if threading.current_thread() is not threading.main_thread():
        return start(*args)  # signal handlers can be set from the main thread only
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start(*args)
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_can_start():
    """The probe :func:`_check_workers_start` runs in a new process: nothing to do."""


def _check_workers_start(ctx):
    """Start one process of ``ctx`` that does nothing and wait for it; RuntimeError if it fails.

    A spawned process first imports the script that started it. A script that
    calls the search at its top level (no ``if __name__ == '__main__':``)
    calls it again there, where starting processes is an error; the process
    dies. A worker would die the same way, but starting one writes its
    arguments (the data) to it, which fails or waits on the dead process
    (``multiprocessing.Pool`` waited forever when they were larger than a
    pipe's buffer). This probe has no arguments, so its failure is seen at
    once and explained.
    """
    probe = ctx.Process(target=_worker_can_start, name="fastnet-tune-probe")
    _spawn_ignoring_ctrl_c(probe.start)
    try:
        probe.join()
    finally:
        if probe.exitcode is None:  # interrupted while waiting
            probe.terminate()
            probe.join()
    if probe.exitcode != 0:
        raise RuntimeError(
            f"n_jobs > 1: a worker process could not start (exit status {probe.exitcode}). "
            "Each worker first imports the script that started the search, which must not "
            "start it again then: in a script, call it under \"if __name__ == '__main__':\" "
            "(the worker's own error is printed above)")


class _ChildThreads:
    """Set the thread variables while worker processes start (they read them as numpy loads)."""

    def __init__(self, n_jobs):
        self.value = str(threads_per_job(n_jobs))

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update(dict.fromkeys(THREAD_VARIABLES, self.value))

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the search -------------------------------------------------------------------------

class SearchResult:
    """The trials of a search, best first.

    ``trials``: list of dicts sorted by ``best_val_acc`` (descending; ties by
    trial number) with keys ``trial``, ``params`` ({name: value}),
    ``best_val_acc``, ``final_val_acc``, ``train_acc`` (last epoch),
    ``epochs_run``, ``stopped`` (abandoned early), ``seconds``,
    ``val_acc_curve`` and ``train_acc_curve`` (per epoch).
    ``epochs_budget`` = ``n_trials * epochs``; ``epochs_saved`` = budget less
    the epochs run.
    """

    def __init__(self, trials, space, *, seed, epochs, settings=None):
        self.trials = sorted(trials, key=lambda r: (-_sort_value(r["best_val_acc"]), r["trial"]))
        self.space, self.seed, self.epochs = space, seed, epochs
        self.settings = dict(settings or {})
        self.epochs_budget = epochs * len(trials)
        self.epochs_run = sum(r["epochs_run"] for r in trials)
        self.epochs_saved = self.epochs_budget - self.epochs_run

    @property
    def best(self):
        """The best trial's record."""
        return self.trials[0]

    def rows(self):
        """Table rows: trial number, the space's values, :data:`RESULT_COLUMNS`; best first."""
        return [[r["trial"], *(r["params"][n] for n in self.space), *(r[c] for c in RESULT_COLUMNS)]
                for r in self.trials]

    def header(self):
        """The table's column names (the CSV header)."""
        return ["trial", *self.space, *RESULT_COLUMNS]

    def table(self, top=None):
        """The ``top`` best rows (default all) as aligned text."""
        from fastnet.experiments._common import format_table

        if top is not None:  # ('3' was a TypeError about slice indices)
            top = positive_int("top", top)
        return format_table(self.header(), self.rows()[:top])

    def summary(self):
        """One line: trials, best validation accuracy and its params, epochs saved."""
        b = self.best
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in b["params"].items())
        return (f"{len(self.trials)} trials; best val acc {b['best_val_acc']:.4f} (trial "
                f"{b['trial']}: {params}); epochs run {self.epochs_run} of "
                f"{self.epochs_budget} ({self.epochs_saved} saved by early abandonment)")

    def save(self, path):
        """Write the results to ``path`` atomically: ``.csv`` (the table) or ``.json`` (all).

        JSON: ``{"seed", "epochs", "space" (reprs), "settings", "epochs_budget",
        "epochs_run", "epochs_saved", "trials": [records with curves]}``; NaN as null.
        """
        path = Path(path)
        suffix = one_of("results file suffix", path.suffix.lower(), (".csv", ".json"))
        if suffix == ".csv":
            return write_csv(path, self.header(), self.rows())
        doc = {"seed": self.seed, "epochs": self.epochs,
               "space": {k: repr(v) for k, v in self.space.items()},
               "settings": self.settings, "epochs_budget": self.epochs_budget,
               "epochs_run": self.epochs_run, "epochs_saved": self.epochs_saved,
               "trials": [_json_safe(r) for r in self.trials]}
        with atomic_open(path, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")
        return path

    def plot(self, path, top=20):
        """The textbook's figure: the ``top`` trials' validation (solid) and training (dashed)
        accuracy per epoch, best first, on a grid of 5 columns; needs matplotlib."""
        from fastnet.experiments._common import pyplot, save_figure

        plt = pyplot()
        if plt is None:
            return None
        shown = self.trials[:top]
        rows = max(1, math.ceil(len(shown) / 5))
        fig, axes = plt.subplots(rows, 5, figsize=(15, 2.6 * rows), sharey=True, squeeze=False,
                                 layout="constrained")
        for ax in axes.flat[len(shown):]:
            ax.axis("off")
        for k, (ax, r) in enumerate(zip(axes.flat, shown)):
            epochs = np.arange(1, r["epochs_run"] + 1)
            ax.plot(epochs, r["val_acc_curve"], "-", label="validation")
            ax.plot(epochs, r["train_acc_curve"], "--", label="train")
            ax.set_title(f"best-{k + 1} (trial {r['trial']})", fontsize=9)
            ax.text(0.98, 0.97, "\n".join(f"{n}={_fmt(v)}" for n, v in r["params"].items()),
                    transform=ax.transAxes, fontsize=7, va="top", ha="right")
            ax.set_ylim(0, 1)
            if k == 0:
                ax.legend(loc="center left", fontsize=7)  # the settings take the top right
        return save_figure(fig, Path(path))


def _sort_value(v):
    return -math.inf if v is None or math.isnan(v) else v


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _draw_progress(done, total, best, started):
    width = 30
    filled = int(width * done / total)
    sys.stderr.write(f"\rtrial {done}/{total} [{'#' * filled}{'.' * (width - filled)}] "
                     f"best val acc {best:.4f}  elapsed {time.perf_counter() - started:.1f} s")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def check_search_args(n_trials, validation_fraction, epochs, batch_size, seed, n_jobs,
                      early_stopping, min_epochs, reduction_factor, progress):
    """Validate the common search arguments; return them normalised (seed drawn if None)."""
    n_trials = positive_int("n_trials", n_trials)
    real_scalar("validation_fraction", validation_fraction, low=0, high=1, low_open=True,
                high_open=True)
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    else:
        seed = integer("seed", seed, low=0)  # SeedSequence takes non-negative ints only
    n_jobs = positive_int("n_jobs", n_jobs)
    if early_stopping is not None:
        one_of("early_stopping", early_stopping, ("asha",))
    min_epochs = positive_int("min_epochs", min_epochs)
    reduction_factor = integer("reduction_factor", reduction_factor, low=2)
    flag("progress", progress)
    return n_trials, epochs, batch_size, int(seed), n_jobs, min_epochs, reduction_factor


def random_search(build, space, x_train, t_train, n_trials=100, validation_fraction=0.2,
                  epochs=50, batch_size=100, *, seed=None, n_jobs=1, early_stopping=None,
                  min_epochs=1, reduction_factor=3, progress=False, batch_trials=1):
    """Random search: ``n_trials`` points of ``space``, each trained and scored on validation.

    Parameters
    ----------
    build : callable ``build(params) -> (net, optimizer)``
        ``params`` is ``{name: value}`` for the names of ``space``. If
        ``build`` has a ``seed`` parameter it is called ``build(params,
        seed=int)`` with the trial's seed for the initial weights. ``net``
        follows the textbook's protocol (``params``, ``gradient``, ``loss``,
        ``accuracy``); ``optimizer`` has ``update(params, grads)``. For
        ``n_jobs > 1`` it must be picklable (a module-level function or an
        object such as :class:`MLP`). Tried once before any training: a space
        name it does not read is a ValueError (:func:`probe_build`).
    space : dict {name: distribution}
    x_train, t_train : arrays, samples on the first axis
        The training data; ``validation_fraction`` of each class is held out
        for validation (stratified, from ``seed``), the rest is trained on.
    n_trials, epochs, batch_size : positive ints
    seed : None or int >= 0
        The study seed (drawn and recorded when None); trial ``k`` uses
        seeds derived from it and ``k`` (:func:`trial_seeds`).
    n_jobs : int >= 1
        Worker processes; the results do not depend on it. One that dies
        mid-search is a :class:`WorkerDiedError` (the others are stopped).
    batch_trials : int >= 1
        Trials trained together as one :class:`fastnet.NetBatch` (see the
        module docstring): all trials of a group see the same batches, those
        of its first trial, so grouped trials compare with less noise between
        them, groups with the same as before; results depend on it. Needs
        :class:`fastnet.Sequential` nets of one shape (a space searching the
        shape needs ``batch_trials=1``). ``seconds`` is then the group's wall
        time while the trial was in it.
    early_stopping : None or 'asha'
        Asynchronous successive halving at rungs ``min_epochs *
        reduction_factor**r`` < ``epochs`` (see the module docstring).
    progress : bool
        A progress bar over trials on stderr.

    Returns
    -------
    SearchResult
        Trials best first; ``epochs_saved`` by early abandonment.
    """
    space = check_space(space)
    n_trials, epochs, batch_size, seed, n_jobs, min_epochs, eta = check_search_args(
        n_trials, validation_fraction, epochs, batch_size, seed, n_jobs, early_stopping,
        min_epochs, reduction_factor, progress)
    data = split_validation(x_train, t_train, validation_fraction, seed)
    batch_trials = positive_int("batch_trials", batch_trials)
    net = probe_build(build, space, seed)
    if batch_trials > 1:
        _net_batch([net], None, [0])  # a net NetBatch cannot take fails before any training
    if n_jobs > 1:
        try:
            pickle.dumps(build)
        except Exception as exc:
            raise TypeError(f"n_jobs={n_jobs} runs trials in other processes, so build must be "
                            f"picklable (a module-level function or an object such as "
                            f"fastnet.tune.MLP); pickling it failed: {exc}") from None
    rungs = asha_rungs(epochs, min_epochs, eta) if early_stopping else []
    trials = [(k, sample_space(space, np.random.default_rng(trial_seeds(seed, k)[0])))
              for k in range(n_trials)]
    jobs = [(trials[k:k + batch_trials], seed, batch_trials > 1)
            for k in range(0, n_trials, batch_trials)]
    settings = {"epochs": epochs, "batch_size": batch_size}
    records, started = [], time.perf_counter()

    def collect(results):
        for record in results:
            records.append(record)
            if progress:
                _draw_progress(len(records), n_trials,
                               max(_sort_value(r["best_val_acc"]) for r in records), started)

    if n_jobs == 1:
        board = _RungBoard({}, rungs, eta) if early_stopping else None
        collect(itertools.chain.from_iterable(_run_job(build, job, data, board, settings)
                                              for job in jobs))
    else:
        ctx = multiprocessing.get_context("spawn")
        with _ChildThreads(n_jobs), contextlib.ExitStack() as processes:
            _check_workers_start(ctx)
            store = None
            if early_stopping:  # the rung board the workers share
                store = processes.enter_context(_spawn_ignoring_ctrl_c(ctx.Manager)).dict()
            _run_in_workers(ctx, n_jobs, jobs, (build, data, settings, store, rungs, eta),
                            collect)
    return SearchResult(records, space, seed=seed, epochs=epochs,
                        settings={**settings, "n_trials": n_trials,
                                  "validation_fraction": validation_fraction,
                                  "early_stopping": early_stopping, "min_epochs": min_epochs,
                                  "reduction_factor": eta, "rungs": rungs, "n_jobs": n_jobs,
                                  "batch_trials": batch_trials})


# -- Optuna: samplers, pruners, shared storage (the ``tune`` extra) -------------------------

SAMPLERS = ("random", "tpe")
PRUNERS = ("halving", "median")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("Optuna studies need optuna: pip install 'fastnet[tune]' "
                          "(or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def redact(url):
    """``url`` with any password replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


class StorageError(ValueError):
    """An Optuna storage URL that cannot be used: ``url`` (password hidden) and ``reason``."""

    def __init__(self, url, reason):
        self.url, self.reason = redact(url), reason
        super().__init__(f"storage {self.url}: {reason}")


#: What the loser of two processes creating Optuna's tables at once is told (SQLite, PostgreSQL).
_TABLE_RACE = ("already exists", "UNIQUE constraint failed", "duplicate key")


def _with_driver(url):
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 assumes psycopg 3)."""
    if not url.startswith("postgresql://"):
        return url
    for module, dialect in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return f"postgresql+{dialect}://" + url[len("postgresql://"):]
    raise StorageError(url, "cannot open it: no PostgreSQL driver is installed "
                            "(pip install psycopg2-binary)")


def open_storage(url):
    """Return an Optuna storage for ``url`` (None: in memory), connected and checked.

    ``sqlite:///study.db`` keeps a study on disk (stop and resume);
    ``postgresql://user:password@host:5432/db`` shares it between machines
    (through psycopg 3 or psycopg2, whichever is installed). Raises
    :class:`StorageError` (a ValueError naming the URL without its password)
    when it cannot be reached or used, so a search fails before any training.
    """
    optuna = _optuna()
    if url is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(url, str) or "://" not in url:
        raise StorageError(str(url), "must be a database URL such as sqlite:///study.db or "
                                     "postgresql://user:password@host/db")
    driver_url = _with_driver(url)
    for attempt in range(3):
        try:
            # RDBStorage connects and creates Optuna's tables here, so a bad URL fails now
            return optuna.storages.RDBStorage(driver_url, engine_kwargs=_engine_kwargs(url))
        except Exception as exc:  # SQLAlchemy's errors, a missing driver, a refused connection
            cause = exc.__cause__ or exc
            reason = " ".join(str(cause).split("\n")[0].split()) or type(cause).__name__
            # Workers started together race to create the tables; the loser sees them
            # half made (a table that already exists, a duplicate version row) and retries.
            if attempt < 2 and any(m in reason for m in _TABLE_RACE):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise StorageError(url, f"cannot open it ({reason})") from None


def _engine_kwargs(url):
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 10}}
    if url.startswith("sqlite"):
        # several worker processes on one file: wait for the lock rather than fail at once
        return {"connect_args": {"timeout": 20}}
    return {}


def _study_settings(space, seed, epochs, batch_size, validation_fraction, n_train):
    return {"fastnet_seed": seed, "epochs": epochs, "batch_size": batch_size,
            "validation_fraction": validation_fraction, "n_train": n_train,
            "space": {k: repr(v) for k, v in space.items()}}


def _record_from_trial(trial):
    attrs = trial.user_attrs
    val = attrs.get("val_acc_curve", [])
    return {"trial": trial.number, "params": dict(trial.params),
            "best_val_acc": max(val) if val else float("nan"),
            "final_val_acc": val[-1] if val else float("nan"),
            "train_acc": attrs.get("train_acc", float("nan")), "epochs_run": len(val),
            "stopped": trial.state.name == "PRUNED", "seconds": attrs.get("seconds", 0.0),
            "val_acc_curve": val, "train_acc_curve": attrs.get("train_acc_curve", [])}


def _caused_by_interrupt(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def optuna_search(build, space, x_train, t_train, n_trials=100, validation_fraction=0.2,
                  epochs=50, batch_size=100, *, seed=None, sampler="random", pruner=None,
                  min_epochs=1, reduction_factor=3, storage=None, study_name=None,
                  resume=False, progress=False, batch_trials=1):
    """The :func:`random_search` objective run by an Optuna study.

    Trial ``k`` trains exactly as trial ``k`` of :func:`random_search` would
    with the parameters Optuna suggests (same split, same weight and batch
    seeds), reporting its validation accuracy after each epoch to the pruner.

    Parameters (beyond :func:`random_search`'s)
    -------------------------------------------
    sampler : {'random', 'tpe'}
        ``optuna.samplers.RandomSampler`` (the textbook's search) or
        ``TPESampler`` (Bayesian refinement). Seeded from ``seed`` in memory;
        with a shared ``storage`` each process draws independently.
    pruner : None, 'halving' or 'median'
        ``SuccessiveHalvingPruner(min_resource=min_epochs,
        reduction_factor=reduction_factor)`` or ``MedianPruner(n_warmup_steps=min_epochs)``.
    storage : None or database URL
        None: in memory. ``sqlite:///study.db``: on disk, to stop and resume.
        ``postgresql://user:password@host/db``: one study for many machines.
        Checked before any training (:func:`open_storage`).
    study_name : str, optional (default 'fastnet' with a storage)
    resume : bool
        Continue the study (create it if missing). Without it an existing
        study of that name is a ValueError, so two searches do not mix by
        accident. A study keeps its seed (adopted when ``seed`` is None),
        epochs, batch size, validation fraction, training-set size and space:
        resuming with others is a ValueError.
    n_trials : int
        Trials *this call* runs; N processes sharing a storage run N x that.
    batch_trials : int >= 1
        Ask the study for this many trials at a time and train them as one
        :class:`fastnet.NetBatch` on the batches of the first (as
        :func:`random_search`'s ``batch_trials``; the same caveat on the
        comparison). Each member reports to the pruner after every epoch and
        leaves its group when pruned.

    Returns
    -------
    SearchResult
        Every finished or pruned trial of the study (from all processes),
        best first; its ``study`` attribute is the Optuna study.
    """
    optuna = _optuna()
    space = check_space(space)
    seed_given = seed is not None
    n_trials, epochs, batch_size, seed, _, min_epochs, eta = check_search_args(
        n_trials, validation_fraction, epochs, batch_size, seed, 1, None, min_epochs,
        reduction_factor, progress)
    batch_trials = positive_int("batch_trials", batch_trials)
    sampler = one_of("sampler", sampler, SAMPLERS)
    if pruner is not None:
        one_of("pruner", pruner, PRUNERS)
    resume = flag("resume", resume)
    if study_name is None:
        study_name = "fastnet" if storage is not None else None
    elif not isinstance(study_name, str) or not study_name:
        raise TypeError(f"study_name must be a non-empty string; got {study_name!r}")
    if resume and storage is None:
        raise ValueError("resume needs a storage (e.g. sqlite:///study.db): an in-memory "
                         "study ends with the process")
    store = open_storage(storage)
    split_validation(x_train, t_train, validation_fraction, seed)  # checks only
    net = probe_build(build, space, seed)
    if batch_trials > 1:
        _net_batch([net], None, [0])  # a net NetBatch cannot take fails before any training
    if storage is None:
        sampler_seed = int(np.random.SeedSequence(seed, spawn_key=(2,)).generate_state(1)[0])
    else:  # processes sharing a study must not all draw the same points
        sampler_seed = None
    samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}
    pruners = {None: optuna.pruners.NopPruner(),
               "halving": optuna.pruners.SuccessiveHalvingPruner(
                   min_resource=min_epochs, reduction_factor=eta),
               "median": optuna.pruners.MedianPruner(n_warmup_steps=min_epochs)}
    exists = study_name is not None and study_name in {
        s.study_name for s in store.get_all_studies()}
    if exists and not resume:
        raise ValueError(f"study {study_name!r} already exists in {redact(storage)}; pass "
                         "resume=True (--resume) to continue it, or choose another name")
    study = optuna.create_study(storage=store, study_name=study_name, direction="maximize",
                                sampler=samplers[sampler](seed=sampler_seed),
                                pruner=pruners[pruner], load_if_exists=resume)
    if resume and not seed_given and "fastnet_seed" in study.user_attrs:
        seed = study.user_attrs["fastnet_seed"]  # resuming a study continues its seed
    settings = _study_settings(space, seed, epochs, batch_size, validation_fraction,
                               len(x_train))
    data = split_validation(x_train, t_train, validation_fraction, seed)
    stored = {k: study.user_attrs.get(k) for k in settings}
    if all(v is None for v in stored.values()):
        for k, v in settings.items():
            study.set_user_attr(k, v)
    elif stored != settings:
        diff = ", ".join(f"{k} {stored[k]!r} (now {settings[k]!r})" for k in settings
                         if stored[k] != settings[k])
        raise ValueError(f"study {study_name!r} was started with other settings: {diff}; "
                         "give the same ones to resume it, or choose another study name")

    def objective(trial):
        params = {name: dist.suggest(trial, name) for name, dist in space.items()}

        def report(epoch, value):
            trial.report(value, epoch)
            return trial.should_prune()

        record = run_trial(build, params, trial.number, seed, data, epochs=epochs,
                           batch_size=batch_size, on_epoch=report)
        for key in ("val_acc_curve", "train_acc_curve", "train_acc", "seconds"):
            trial.set_user_attr(key, record[key])
        if record["stopped"]:
            raise optuna.TrialPruned(f"pruned at epoch {record['epochs_run']}")
        return record["best_val_acc"]

    def optimize_in_groups():
        """``study.optimize`` for groups: ask ``batch_trials``, train them together, tell."""
        done, started, best = 0, time.perf_counter(), -math.inf
        while done < n_trials and not presses:
            trials = [study.ask() for _ in range(min(batch_trials, n_trials - done))]
            by_number = {trial.number: trial for trial in trials}
            jobs = [(trial.number, {name: dist.suggest(trial, name)
                                    for name, dist in space.items()}) for trial in trials]

            def report(number, epoch, value, by_number=by_number):
                by_number[number].report(value, epoch)
                return by_number[number].should_prune()

            try:
                records = run_group(build, jobs, seed, data, epochs=epochs,
                                    batch_size=batch_size, on_epoch=report)
            except BaseException:
                for trial in trials:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            for trial, record in zip(trials, records):
                for key in ("val_acc_curve", "train_acc_curve", "train_acc", "seconds"):
                    trial.set_user_attr(key, record[key])
                if record["stopped"]:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(trial, record["best_val_acc"])
                best = max(best, _sort_value(record["best_val_acc"]))
            done += len(trials)
            if progress:
                _draw_progress(done, n_trials, best, started)

    presses = []

    def on_ctrl_c(signum, frame):
        # A KeyboardInterrupt raised wherever Python happens to be can land in a
        # garbage-collector callback of SQLAlchemy's and be dropped ("Exception ignored
        # in ..."); the first Ctrl-C therefore only asks the study to stop after the
        # running trial (recorded, never torn), a second one interrupts at once.
        presses.append(signum)
        if len(presses) > 1:
            raise KeyboardInterrupt
        with contextlib.suppress(RuntimeError):  # before optimize() has started
            study.stop()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_ctrl_c) if in_main_thread else None
    try:
        if batch_trials == 1:
            study.optimize(objective, n_trials=n_trials, show_progress_bar=progress)
        else:
            optimize_in_groups()
    except Exception as exc:
        # Optuna 5.0 turns a Ctrl-C that lands while it records a trial into an
        # UnboundLocalError raised while handling the KeyboardInterrupt: report the interrupt.
        if _caused_by_interrupt(exc):
            raise KeyboardInterrupt from exc
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)
    if presses:
        raise KeyboardInterrupt
    finished = [t for t in study.get_trials(deepcopy=False)
                if t.state.name in ("COMPLETE", "PRUNED")]
    result = SearchResult([_record_from_trial(t) for t in finished], space, seed=seed,
                          epochs=epochs, settings={**settings, "sampler": sampler,
                                                   "pruner": pruner, "study": study_name,
                                                   "storage": storage and redact(storage),
                                                   "batch_trials": batch_trials})
    result.study = study
    return result
