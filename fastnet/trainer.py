"""Mini-batch training with the textbook's ``Trainer`` API, plus validation, callbacks and history.

:class:`Trainer` takes the textbook's arguments (``common/trainer.py``) and
checks all of them before any work. On top of the textbook:

* ``validation_split`` (or ``validation_data``) holds out a stratified,
  seeded validation set; the test set is only ever reported, never used for
  a choice (early stopping and schedules see validation metrics only);
* callbacks: :class:`EarlyStopping`, :class:`LRSchedule` (the schedules of
  :mod:`fastnet.optim`), :class:`StopOnNaN` (divergence is not an error
  otherwise), or any callable ``cb(trainer, loss)`` called after each step;
* ``sampling='textbook'`` reproduces the textbook's batches (drawn with
  replacement) and its fractional "epochs" of ``train_size / batch_size``
  steps; the default ``'epoch'`` visits every sample once per epoch;
* the history (per-step losses; per-epoch losses, accuracies, validation
  metrics, learning rate and seconds) is saved as CSV or JSON
  (:meth:`Trainer.save_history`) and plotted (:meth:`Trainer.plot_history`,
  needs the ``plot`` extra).
"""
import json
import math
import sys
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fastnet._checks import as_array, flag, integer, make_rng, one_of, positive_int, real_scalar
from fastnet._io import atomic_open, write_csv
from fastnet.optim import LRScheduler, Optimizer, Schedule, make_optimizer

SAMPLING = ("epoch", "textbook")
#: Columns of the per-epoch history, in order (CSV header, JSON keys).
HISTORY_COLUMNS = ("epoch", "iteration", "train_loss", "train_acc", "test_acc", "val_loss",
                   "val_acc", "lr", "seconds")


class Callback:
    """Base class for training callbacks: override the hooks you need.

    ``on_step_end`` and ``on_epoch_end`` stop training by returning True
    (set ``trainer.stop_reason`` to say why). ``logs`` is the epoch's row of
    :attr:`Trainer.history` (keys :data:`HISTORY_COLUMNS`; ``val_*`` are
    None without validation data).
    """

    def on_train_begin(self, trainer):
        """Called once at the start of :meth:`Trainer.train`."""

    def on_step_end(self, trainer, loss):
        """Called after each parameter update with its loss; True stops training."""
        return False

    def on_epoch_end(self, trainer, logs):
        """Called after each epoch's evaluation; True stops training."""
        return False

    def on_train_end(self, trainer):
        """Called once when training ends, before the final test accuracy."""

    _run = None  # weak reference to the Trainer whose run a stateful callback's progress is

    def __getstate__(self):
        # A copy (pickle, copy.deepcopy, a copied Trainer's callbacks) holds the progress
        # as loaded state does: for the run that uses it next.
        state = dict(self.__dict__)
        state.pop("_run", None)
        return state

    def _claim_run(self, trainer):
        """Make this callback's progress ``trainer``'s; called by stateful callbacks in
        :meth:`on_train_begin`. Returns True for a fresh run (no step taken yet: the
        callback starts over).

        A resumed run (steps taken) goes on from the progress only if it is this
        Trainer's own, or was just loaded (``load_state_dict``) or never made:
        progress of another Trainer's run (a callback shared between trainers) is
        a ValueError, where it would silently steer this run (another net's best
        parameters restored into this one, another run's schedule step).
        """
        fresh = trainer.current_iter == 0
        if not fresh and self._run is not None and self._run() is not trainer:
            raise ValueError(
                f"this {type(self).__name__} holds the progress of another Trainer's run, and "
                f"this Trainer resumes its own (iteration {trainer.current_iter}): give each "
                f"Trainer its own {type(self).__name__} (a fresh run may reuse one: it starts "
                f"over), or load this run's saved state into it (Trainer.load_state_dict)")
        self._run = weakref.ref(trainer)
        return fresh


class _StepFunction(Callback):
    """A plain callable ``cb(trainer, loss)`` used as a step callback."""

    def __init__(self, fn):
        self.fn = fn

    def on_step_end(self, trainer, loss):
        return bool(self.fn(trainer, loss))


class StopOnNaN(Callback):
    """Stop training once the loss is NaN or infinite.

    Divergence is not an error in fastnet (the math carries on, as in
    NumPy); add this callback to stop instead.
    """

    def on_step_end(self, trainer, loss):
        if not math.isfinite(loss):
            trainer.stop_reason = f"loss became {loss} at iteration {trainer.current_iter}"
            return True
        return False


def _arrays(network):
    """The net's parameters and, for a fastnet net, its buffers, by name (distinct names)."""
    return {**network.params, **getattr(network, "buffers", {})}


def _copy_into(network, saved):
    """Copy ``saved`` (key -> array, as :func:`_arrays` gives) into the net's arrays, in
    place: its layers hold these very arrays."""
    arrays = _arrays(network)
    for key, value in saved.items():
        np.copyto(arrays[key], value)


class EarlyStopping(Callback):
    """Stop when a validation metric has not improved for ``patience`` epochs.

    An epoch improves on the best so far when ``val_loss < best - min_delta``
    (``monitor='val_loss'``) or ``val_acc > best + min_delta``
    (``monitor='val_acc'``); NaN never improves. After ``patience``
    epochs in a row without improvement training stops. With
    ``restore_best=True`` the parameters of the best epoch, and the net's
    buffers (batch norm's running statistics) when it has them, are copied
    back in place when training ends (stopped or not). The checkpoint
    :class:`SaveCheckpoint` writes then holds the restored parameters (the
    net to keep), and this callback's state the ones training stopped at: a
    run resumed from it goes on from those, as an unbroken run would.

    Needs validation data (``validation_split`` or ``validation_data`` of the
    Trainer): the test set is never used to choose.

    Attributes after training: ``best`` (the best value), ``best_epoch``
    (1-based), ``stopped_epoch`` (None if it did not stop), ``restored``.

    One instance may serve several Trainers one after the other (a fresh
    run starts it over); a Trainer resuming its run needs the instance that
    holds that run's progress (its own, or one its saved state was loaded
    into): another run's is a ValueError.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        self.monitor = one_of("monitor", monitor, ("val_loss", "val_acc"))
        self.patience = integer("patience", patience, low=0)
        self.min_delta = real_scalar("min_delta", min_delta, low=0)
        self.restore_best = flag("restore_best", restore_best)
        self._reset()

    def _reset(self):
        self.best = math.inf if self.monitor == "val_loss" else -math.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self.restored = False
        self._wait = 0
        self._best_params = None
        # The arrays as training left them, kept when the best ones are restored over them:
        # a run resumed from the checkpoint saved after that goes on from these.
        self._stopped_params = None

    def on_train_begin(self, trainer):
        if not trainer.has_validation:
            raise ValueError(f"EarlyStopping(monitor={self.monitor!r}) needs validation data: "
                             "give the Trainer validation_split=0.2 (or validation_data); "
                             "the test set is never used for choices")
        if self._claim_run(trainer):  # a fresh run; a resumed one keeps its own state
            self._reset()
        elif self._stopped_params is not None:
            # Resumed after a restore: continue from where training stopped (the optimizer's
            # state and the step count are that point's), as an unbroken run does.
            _copy_into(trainer.network, self._stopped_params)
            self._stopped_params = None
            self.restored = False

    def state_dict(self):
        """The progress so far (best value and epoch, epochs waited, best parameters, and
        the parameters training stopped at when the best ones were restored)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self._wait,
                "best_params": self._best_params, "stopped_params": self._stopped_params}

    def load_state_dict(self, state):
        self._run = None  # the progress of the run the next Trainer resumes
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self._wait = integer("wait", state["wait"], low=0)
        self._best_params = state["best_params"]
        self._stopped_params = state.get("stopped_params")  # checkpoints before it lack it

    def _improved(self, value):
        if self.monitor == "val_loss":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, logs):
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, logs["epoch"], 0
            if self.restore_best:
                self._best_params = {k: np.array(v, copy=True)
                                     for k, v in _arrays(trainer.network).items()}
            return False
        self._wait += 1
        if self._wait < self.patience:
            return False
        self.stopped_epoch = logs["epoch"]
        best = "none" if self.best_epoch is None else f"{self.best:.4g} at epoch {self.best_epoch}"
        trainer.stop_reason = (f"early stopping: {self.monitor} did not improve by more than "
                               f"{self.min_delta:g} for {self._wait} epoch(s) (best {best})")
        return True

    def on_train_end(self, trainer):
        if not self.restore_best or self._best_params is None:
            return
        self._stopped_params = {k: np.array(v, copy=True)
                                for k, v in _arrays(trainer.network).items()}
        _copy_into(trainer.network, self._best_params)
        self.restored = True
        if trainer.stop_reason and trainer.stop_reason.startswith("early stopping"):
            trainer.stop_reason += "; best parameters restored"


class LRSchedule(Callback):
    """Drive the optimizer's ``lr`` with a :class:`fastnet.optim.Schedule` during training.

    ``lr = base_lr * schedule(t)`` with ``base_lr`` the optimizer's ``lr`` at
    the start of training and ``t`` the number of epochs (``per='epoch'``)
    or parameter updates (``per='step'``) done so far; see
    :class:`fastnet.optim.LRScheduler`, which this wraps::

        Trainer(..., callbacks=[LRSchedule(LinearWarmup(2) * CosineDecay(18, delay=2))])

    A fresh run (a new Trainer) starts the schedule over; with the optimizer
    of this callback's previous run, from that run's ``base_lr`` (unless
    ``lr`` was set since): the schedule mutates the optimizer's ``lr``, so a
    new ``LRSchedule`` given an optimizer a schedule has decayed starts from
    the decayed rate. A resumed run (``train()`` again, or a loaded state)
    continues the schedule.
    """

    def __init__(self, schedule, per="epoch"):
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a fastnet.optim.Schedule (e.g. StepDecay(10)); "
                            f"got {schedule!r}")
        self.schedule = schedule
        self.per = one_of("per", per, ("epoch", "step"))
        self.scheduler = None
        self._loaded = None

    def on_train_begin(self, trainer):
        if not isinstance(getattr(trainer.optimizer, "lr", None), (int, float)):
            raise TypeError(f"LRSchedule needs an optimizer with a numeric lr attribute; "
                            f"got {type(trainer.optimizer).__name__}")
        previous = self.scheduler
        if self._claim_run(trainer) and self._loaded is None:
            # A fresh run starts over. The optimizer's lr is the one the previous run's
            # schedule left, unless set since: go back to that run's base_lr first.
            if (previous is not None and previous.optimizer is trainer.optimizer
                    and trainer.optimizer.lr == previous.last_lr):
                trainer.optimizer.lr = previous.base_lr
            self.scheduler = LRScheduler(trainer.optimizer, self.schedule)
        elif previous is None or previous.optimizer is not trainer.optimizer:
            self.scheduler = LRScheduler(trainer.optimizer, self.schedule)
            if self._loaded is not None:  # resuming: continue the schedule where it was
                self.scheduler.load_state_dict(self._loaded)
                self._loaded = None

    def state_dict(self):
        """``{'base_lr', 't'}`` of the schedule (None before training started)."""
        return None if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state):
        self._run = None  # the progress of the run the next Trainer resumes
        self._loaded = state

    def on_step_end(self, trainer, loss):
        if self.per == "step":
            self.scheduler.step()
        return False

    def on_epoch_end(self, trainer, logs):
        if self.per == "epoch":
            self.scheduler.step()
        return False


class SaveCheckpoint(Callback):
    """Save the net, the optimizer and the trainer's state with :func:`fastnet.save` every
    ``every`` epochs (and when training ends), replacing ``path`` atomically.

    A run killed at any moment leaves the last complete checkpoint; rebuild
    the Trainer as before (same data, seed and callbacks) with the
    checkpoint's net and optimizer, call :meth:`Trainer.load_state_dict` with
    its state and :meth:`Trainer.train` continues bit-identically::

        ckpt = fastnet.load_checkpoint(path)
        trainer = Trainer(ckpt.net, ..., optimizer=ckpt.optimizer, seed=0, callbacks=[...])
        trainer.load_state_dict(ckpt.state)
        trainer.train()
    """

    #: The Trainer calls this callback's hooks after the others', so that the saved state
    #: includes their updates for the epoch (a schedule's step, an early stop).
    runs_last = True

    def __init__(self, path, every=1):
        self.path = Path(path)
        self.every = positive_int("every", every)

    def _save(self, trainer):
        from fastnet.checkpoint import save

        save(self.path, trainer.network, trainer.optimizer, trainer=trainer)

    def on_epoch_end(self, trainer, logs):
        if trainer.current_epoch % self.every == 0:
            self._save(trainer)
        return False

    def on_train_end(self, trainer):
        self._save(trainer)


def _n_samples(name, x):
    shape = np.shape(x)
    if not shape:
        raise ValueError(f"{name} must be an array of samples (first axis); got a scalar")
    return shape[0]


def _check_pair(x_name, x, t_name, t, allow_empty=False):
    n, m = _n_samples(x_name, x), _n_samples(t_name, t)
    if n != m:
        raise ValueError(f"{x_name} and {t_name} must hold the same number of samples; "
                         f"got {n} and {m}")
    if n == 0 and not allow_empty:
        raise ValueError(f"{x_name} must hold at least one sample; got shape {np.shape(x)}")
    return n


def _class_indices(t):
    t = np.asarray(t)
    return t if t.ndim == 1 else np.argmax(t.reshape(len(t), -1), axis=1)


def stratified_split(t, fraction, rng):
    """Return ``(train_idx, val_idx)``: ``round(fraction * n_c)`` samples of each class to validation.

    Each class's indices are permuted by ``rng`` (classes in ascending
    order); both index arrays come back sorted, so each part keeps the
    original order. ``t``: class indices ``(N,)`` or target rows ``(N, C)``.
    """
    labels = _class_indices(t)
    train, val = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


class Trainer:
    """Train ``network`` on ``(x_train, t_train)``; track loss and accuracy per epoch.

    Parameters
    ----------
    network : object with ``params`` (dict of arrays), ``gradient(x, t)``,
        ``loss(x, t)`` and ``accuracy(x, t)``, like the textbook's nets.
    x_train, t_train, x_test, t_test : arrays with samples on the first axis
        (labels as class indices or one-hot rows). The test set is evaluated
        and reported, never used for a choice.
    epochs : int >= 0, default 20
        Passes over the training set (``sampling='epoch'``), or the
        textbook's epochs of ``train_size / mini_batch_size`` steps.
    mini_batch_size : int >= 1, default 100
    optimizer : str or optimizer object, default 'SGD'
        A name of :data:`fastnet.optim.OPTIMIZERS` (any case), built with
        ``optimizer_param``, or an object with ``update(params, grads)``.
    optimizer_param : dict, optional
        Keyword arguments for a named optimizer; default ``{'lr': 0.01}``
        (the textbook's). Not allowed with an optimizer object.
    evaluate_sample_num_per_epoch : int >= 1, optional
        Per-epoch train and test accuracy on only the first that many
        samples (the textbook's speed-up); validation always uses all.
    verbose : bool
        Print a line per epoch and the final test accuracy.
    seed : None, int or numpy.random.Generator, keyword-only
        Source of the validation split and of the batches.
    callbacks : sequence of :class:`Callback` or callables, optional
        A callable is called as ``cb(trainer, loss)`` after every step; one
        returning True stops training. ``None`` means none.
    progress : bool
        Draw a progress bar on stderr.
    validation_split : float in [0, 1), default 0
        Fraction of each class of the training set held out for validation
        (stratified, drawn from ``seed``); ``x_train``/``t_train`` then
        refer to the rest.
    validation_data : (x_val, t_val), optional
        An explicit validation set instead of ``validation_split``.
    sampling : {'epoch', 'textbook'}
        'epoch': each epoch visits the training set once in a fresh random
        order (``ceil(N / batch)`` steps, the last batch smaller).
        'textbook': as ``common/trainer.py``, each step draws ``batch``
        indices *with replacement*; an epoch is ``max(N / batch, 1)`` steps
        (a float), training runs ``int(epochs * that)`` steps, and metrics
        are taken after the steps whose index ``i`` (from 0) satisfies
        ``i % (N / batch) == 0``.

    The data arrays are kept, not copied (as the textbook's Trainer keeps
    them), except that ``validation_split`` copies the training and
    validation parts out of ``x_train``/``t_train`` at construction: change
    the data before building the Trainer, not after.

    Attributes after :meth:`train`: ``train_loss_list`` (per step),
    ``train_acc_list``, ``test_acc_list``, ``val_loss_list``,
    ``val_acc_list``, ``epoch_time_list`` (per epoch), ``history`` (per-epoch
    rows), ``final_test_acc``, ``stop_reason``. ``x_train``/``t_train`` are
    the arrays trained on (after any validation split).
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True, *, seed=None,
                 callbacks=(), progress=False, validation_split=0.0, validation_data=None,
                 sampling="epoch"):
        for attr in ("gradient", "loss", "accuracy"):
            if not callable(getattr(network, attr, None)):
                raise TypeError(f"network must have params, gradient(x, t), loss(x, t) and "
                                f"accuracy(x, t) like the textbook's nets; "
                                f"{type(network).__name__} has no {attr}()")
        if not isinstance(getattr(network, "params", None), Mapping):
            raise TypeError(f"network.params must be a dict of arrays; "
                            f"{type(network).__name__} has none")
        # Lists become arrays here: batches index them with index arrays (a list was
        # "only integer scalar arrays can be converted to a scalar index" at the first step).
        x_train, t_train, x_test, t_test = (as_array(name, v) for name, v in (
            ("x_train", x_train), ("t_train", t_train), ("x_test", x_test), ("t_test", t_test)))
        n = _check_pair("x_train", x_train, "t_train", t_train)
        _check_pair("x_test", x_test, "t_test", t_test)
        self.epochs = integer("epochs", epochs, low=0)
        self.batch_size = positive_int("mini_batch_size", mini_batch_size)
        self.optimizer = self._make_optimizer(optimizer, optimizer_param)
        if evaluate_sample_num_per_epoch is not None:
            evaluate_sample_num_per_epoch = positive_int("evaluate_sample_num_per_epoch",
                                                         evaluate_sample_num_per_epoch)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = flag("verbose", verbose)
        self.progress = flag("progress", progress)
        self.sampling = one_of("sampling", sampling, SAMPLING)
        self.callbacks = self._check_callbacks(callbacks)
        validation_split = real_scalar("validation_split", validation_split, low=0, high=1,
                                       high_open=True)
        self.rng = make_rng(seed)

        self.network = network
        self.x_test, self.t_test = x_test, t_test
        self.x_val = self.t_val = None
        self._val_idx = None
        if validation_data is not None and validation_split:
            raise ValueError("give validation_split or validation_data, not both")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (x_val, t_val)")
            x_val, t_val = (as_array(f"validation_data[{i}]", v)
                            for i, v in enumerate(validation_data))
            _check_pair("validation_data[0]", x_val, "validation_data[1]", t_val)
            self.x_val, self.t_val = x_val, t_val
        elif validation_split:
            train_idx, val_idx = stratified_split(t_train, validation_split, self.rng)
            if len(val_idx) == 0 or len(train_idx) == 0:
                raise ValueError(f"validation_split={validation_split:g} of {n} samples leaves "
                                 f"{len(train_idx)} for training and {len(val_idx)} for "
                                 "validation; both need at least one")
            self.x_val, self.t_val = x_train[val_idx], t_train[val_idx]
            self._val_idx = val_idx
            x_train, t_train = x_train[train_idx], t_train[train_idx]
            n = len(train_idx)
        self.x_train, self.t_train = x_train, t_train
        self.train_size = n
        if self.sampling == "epoch":
            self.iter_per_epoch = math.ceil(n / self.batch_size)
            self.max_iter = self.epochs * self.iter_per_epoch
        else:
            self.iter_per_epoch = max(n / self.batch_size, 1)
            self.max_iter = int(self.epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.stop_reason = None
        self.train_loss_list, self.train_acc_list, self.test_acc_list = [], [], []
        self.val_loss_list, self.val_acc_list, self.epoch_time_list = [], [], []
        self.history = []
        self.final_test_acc = None

    # -- argument checks -----------------------------------------------------
    @staticmethod
    def _make_optimizer(optimizer, optimizer_param):
        if optimizer_param is not None and not isinstance(optimizer_param, Mapping):
            raise TypeError(f"optimizer_param must be a dict of keyword arguments, e.g. "
                            f"{{'lr': 0.01}}; got {optimizer_param!r}")
        if isinstance(optimizer, str):
            return make_optimizer(optimizer, **(optimizer_param if optimizer_param is not None
                                                else {"lr": 0.01}))
        if not callable(getattr(optimizer, "update", None)):
            raise TypeError(f"optimizer must be a name ('sgd', 'adam', ...) or an object with "
                            f"update(params, grads); got {optimizer!r}")
        if optimizer_param is not None:
            raise ValueError("optimizer_param applies to an optimizer given by name; "
                             f"configure the {type(optimizer).__name__} object directly")
        return optimizer

    @staticmethod
    def _check_callbacks(callbacks):
        if callbacks is None:
            return []
        if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
            raise TypeError(f"callbacks must be a list of callbacks; got {callbacks!r}")
        out = []
        for i, cb in enumerate(callbacks):
            if isinstance(cb, Callback):
                out.append(cb)
            elif callable(cb):
                out.append(_StepFunction(cb))
            else:
                raise TypeError(f"callbacks[{i}] must be a fastnet.trainer.Callback or a "
                                f"callable cb(trainer, loss); got {cb!r}")
        return sorted(out, key=lambda cb: getattr(cb, "runs_last", False))  # stable

    @property
    def has_validation(self):
        """True when a validation set is held out (``validation_split`` or ``validation_data``)."""
        return self.x_val is not None

    # -- training --------------------------------------------------------------
    def _log(self, message):
        if self.verbose:
            print(message, flush=True)

    def train_step(self, batch):
        """One gradient step on the samples at indices ``batch``; returns the loss."""
        x, t = self.x_train[batch], self.t_train[batch]
        grads = self.network.gradient(x, t)
        self.optimizer.update(self.network.params, grads)
        # fastnet nets keep the loss their gradient pass computed; others recompute it.
        loss = getattr(self.network, "last_loss", None)
        if loss is None:
            loss = self.network.loss(x, t)
        loss = float(loss)
        self.train_loss_list.append(loss)
        self.current_iter += 1
        return loss

    def _batches(self):
        """Yield ``(batch indices, ends_epoch)`` for every step of the run."""
        n, b = self.train_size, self.batch_size
        if self.sampling == "epoch":
            for _ in range(self.current_epoch, self.epochs):
                order = self.rng.permutation(n)
                for i in range(self.iter_per_epoch):
                    yield order[i * b:(i + 1) * b], i + 1 == self.iter_per_epoch
        else:
            for i in range(self.current_iter, self.max_iter):
                yield self.rng.choice(n, b), i % self.iter_per_epoch == 0

    def _evaluate(self, epoch_losses, seconds):
        k = self.evaluate_sample_num_per_epoch
        x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
        if k is not None:
            x_tr, t_tr, x_te, t_te = x_tr[:k], t_tr[:k], x_te[:k], t_te[:k]
        row = dict.fromkeys(HISTORY_COLUMNS)
        row.update(epoch=self.current_epoch, iteration=self.current_iter,
                   train_loss=float(np.mean(epoch_losses)) if epoch_losses else None,
                   train_acc=float(self.network.accuracy(x_tr, t_tr)),
                   test_acc=float(self.network.accuracy(x_te, t_te)))
        if self.has_validation:
            row["val_loss"] = float(self.network.loss(self.x_val, self.t_val))
            row["val_acc"] = float(self.network.accuracy(self.x_val, self.t_val))
            self.val_loss_list.append(row["val_loss"])
            self.val_acc_list.append(row["val_acc"])
        lr = getattr(self.optimizer, "lr", None)
        row["lr"] = float(lr) if isinstance(lr, (int, float)) else None
        row["seconds"] = time.perf_counter() - seconds
        self.train_acc_list.append(row["train_acc"])
        self.test_acc_list.append(row["test_acc"])
        self.epoch_time_list.append(row["seconds"])
        self.history.append(row)
        return row

    def _epoch_line(self, row):
        parts = [f"epoch {row['epoch']}/{self.epochs}"]
        if row["train_loss"] is not None:
            parts.append(f"train loss {row['train_loss']:.4f}")
        parts += [f"train acc {row['train_acc']:.4f}", f"test acc {row['test_acc']:.4f}"]
        if row["val_loss"] is not None:
            parts += [f"val loss {row['val_loss']:.4f}", f"val acc {row['val_acc']:.4f}"]
        if row["lr"] is not None:
            parts.append(f"lr {row['lr']:.3g}")
        parts.append(f"{row['seconds']:.1f} s")
        return "  ".join(parts)

    def _draw_progress(self, step_in_epoch, loss, started):
        width = 30
        total = math.ceil(self.iter_per_epoch)
        done = min(int(width * step_in_epoch / total), width)
        sys.stderr.write(
            f"\repoch {self.current_epoch + 1}/{self.epochs} [{'#' * done}{'.' * (width - done)}] "
            f"step {step_in_epoch}/{total}  loss {loss:.4f}  "
            f"elapsed {time.perf_counter() - started:.1f} s")
        sys.stderr.flush()

    def train(self):
        """Run all epochs (or until a callback stops); return ``final_test_acc``.

        Mutates ``network.params`` (through the optimizer) and the
        optimizer's state; appends to the history lists.
        """
        for cb in self.callbacks:
            cb.on_train_begin(self)
        epoch_losses, epoch_started, step_in_epoch = [], time.perf_counter(), 0
        for batch, ends_epoch in self._batches():
            loss = self.train_step(batch)
            epoch_losses.append(loss)
            step_in_epoch += 1
            stop = any([cb.on_step_end(self, loss) for cb in self.callbacks])
            if self.progress:
                self._draw_progress(step_in_epoch, loss, epoch_started)
            if ends_epoch or stop:
                if self.progress:
                    sys.stderr.write("\n")
                self.current_epoch += 1
                row = self._evaluate(epoch_losses, epoch_started)
                self._log(self._epoch_line(row))
                stop = any([cb.on_epoch_end(self, row) for cb in self.callbacks]) or stop
                epoch_losses, epoch_started, step_in_epoch = [], time.perf_counter(), 0
            if stop:
                break
        for cb in self.callbacks:
            cb.on_train_end(self)
        if self.stop_reason:
            self._log(f"stopped: {self.stop_reason}")
        self.final_test_acc = float(self.network.accuracy(self.x_test, self.t_test))
        self._log(f"final test accuracy: {self.final_test_acc:.4f}")
        return self.final_test_acc

    # -- saving and resuming ---------------------------------------------------
    _LISTS = ("train_loss_list", "train_acc_list", "test_acc_list", "val_loss_list",
              "val_acc_list", "epoch_time_list")

    def state_dict(self):
        """The training progress, for :func:`fastnet.save` (``trainer=``).

        Epoch and iteration counts, the state of the batch generator, the
        history, the stop reason, the validation indices and each callback's
        ``state_dict()`` (None for callbacks without one). Nets and
        optimizers are saved by :func:`fastnet.save` itself.
        """
        return {"sampling": self.sampling, "epoch": self.current_epoch,
                "iteration": self.current_iter, "rng": self.rng.bit_generator.state,
                "history": [dict(row) for row in self.history],
                **{name: list(getattr(self, name)) for name in self._LISTS},
                "stop_reason": self.stop_reason, "validation_indices": self._val_idx,
                "callbacks": [cb.state_dict() if callable(getattr(cb, "state_dict", None))
                              else None for cb in self.callbacks]}

    def load_state_dict(self, state):
        """Continue from ``state`` (see :meth:`state_dict`); the next :meth:`train` resumes.

        The Trainer must be built as the saved one was: same data, sampling,
        validation split and callbacks (checked where possible), and with the
        saved optimizer (a fastnet optimizer with state, such as Adam, that
        has none after a run with steps is a ValueError).
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from Trainer.state_dict(); got "
                            f"{type(state).__name__}")
        missing = sorted(set(self.state_dict()) - set(state))
        if missing:
            raise ValueError(f"state lacks {missing}: it must be a dict from "
                             f"Trainer.state_dict()")
        one_of("state['sampling']", state["sampling"], (self.sampling,))
        saved_val = state["validation_indices"]
        if (saved_val is None) != (self._val_idx is None) or (
                saved_val is not None and not np.array_equal(saved_val, self._val_idx)):
            raise ValueError("the saved run used a different validation split: build the "
                             "Trainer with the same data, validation_split and seed")
        if len(state["callbacks"]) != len(self.callbacks):
            raise ValueError(f"the saved run had {len(state['callbacks'])} callbacks; this "
                             f"Trainer has {len(self.callbacks)}: pass the same callbacks")
        iteration = integer("state['iteration']", state["iteration"], low=0)
        opt = self.optimizer
        if iteration and isinstance(opt, Optimizer) and type(opt)._state_names and not opt.state:
            # A fresh optimizer (given by name) would go on with its moments reset: not the
            # run that was saved, which is what resuming promises.
            raise ValueError(
                f"the saved run took {iteration} steps, but this Trainer's {type(opt).__name__} "
                f"has no state ({', '.join(type(opt)._state_names)}): give the Trainer the "
                f"checkpoint's optimizer (optimizer=ckpt.optimizer), or start a new run "
                f"without load_state_dict")
        self.current_epoch = integer("state['epoch']", state["epoch"], low=0)
        self.current_iter = iteration
        self.rng.bit_generator.state = state["rng"]
        self.history = [dict(row) for row in state["history"]]
        for name in self._LISTS:
            setattr(self, name, list(state[name]))
        self.stop_reason = state["stop_reason"]
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            if cb_state is not None:
                cb.load_state_dict(cb_state)

    # -- history ---------------------------------------------------------------
    def save_history(self, path):
        """Write the history to ``path``, atomically; the suffix picks the format.

        ``.csv``: one row per epoch, columns :data:`HISTORY_COLUMNS` (empty
        cells where a value does not apply). ``.json``: ``{"epochs": [rows],
        "train_loss_list": [per-step losses], "final_test_acc", "stop_reason"}``
        with NaN and infinities written as ``null`` (JSON has no such numbers).
        Returns the path.
        """
        path = Path(path)
        suffix = one_of("history file suffix", path.suffix.lower(), (".csv", ".json"))
        if suffix == ".csv":
            rows = [["" if row[c] is None else row[c] for c in HISTORY_COLUMNS]
                    for row in self.history]
            return write_csv(path, HISTORY_COLUMNS, rows)
        doc = {"epochs": [{c: _finite_or_none(row[c]) for c in HISTORY_COLUMNS}
                          for row in self.history],
               "train_loss_list": [_finite_or_none(v) for v in self.train_loss_list],
               "final_test_acc": self.final_test_acc, "stop_reason": self.stop_reason}
        with atomic_open(path, "w") as f:
            json.dump(doc, f, indent=1, allow_nan=False)
            f.write("\n")
        return path

    def plot_history(self, path):
        """Save a PNG of the loss (per step, smoothed, and validation per epoch) and the
        accuracies per epoch; needs matplotlib (``pip install 'fastnet[plot]'``)."""
        from fastnet.experiments._common import pyplot, save_figure
        from fastnet.util import smooth_curve

        plt = pyplot()
        if plt is None:
            raise ImportError("plotting the history needs matplotlib: pip install 'fastnet[plot]'")
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
        steps = np.arange(1, len(self.train_loss_list) + 1)
        ax_loss.plot(steps, self.train_loss_list, color="0.75", lw=0.8, label="train loss (step)")
        ax_loss.plot(steps, smooth_curve(self.train_loss_list), color="tab:blue",
                     label="train loss (smoothed)")
        its = [row["iteration"] for row in self.history]
        if self.val_loss_list:
            ax_loss.plot(its, self.val_loss_list, "s--", color="tab:orange", label="val loss")
        ax_loss.set(xlabel="iteration", ylabel="loss")
        ax_loss.legend()
        epochs = [row["epoch"] for row in self.history]
        ax_acc.plot(epochs, self.train_acc_list, "o-", label="train")
        ax_acc.plot(epochs, self.test_acc_list, "s--", label="test")
        if self.val_acc_list:
            ax_acc.plot(epochs, self.val_acc_list, "^:", label="validation")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
        ax_acc.legend(loc="lower right")
        return save_figure(fig, Path(path))


def _finite_or_none(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None
