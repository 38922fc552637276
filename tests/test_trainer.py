"""Trainer: argument checks, sampling modes, validation split, callbacks, history files."""
import copy
import csv
import json
import math
import pickle

import numpy as np
import pytest

from fastnet import MultiLayerNet, MultiLayerNetExtend
from fastnet.optim import SGD, Schedule, StepDecay
from fastnet.trainer import (
    HISTORY_COLUMNS,
    Callback,
    EarlyStopping,
    LRSchedule,
    StopOnNaN,
    Trainer,
    stratified_split,
)


def _blobs(seed, n=600, d=10, classes=3):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)) * 3
    t = rng.integers(0, classes, n)
    x = (centers[t] + rng.standard_normal((n, d))).astype(np.float32)
    return x[:500], t[:500], x[500:], t[500:]


def _trainer(seed=0, data=None, net=None, **kwargs):
    x, t, xt, tt = data or _blobs(seed)
    net = net or MultiLayerNet(10, [16], 3, seed=seed)
    args = dict(epochs=3, mini_batch_size=50, optimizer="sgd", optimizer_param={"lr": 0.1},
                verbose=False, seed=seed) | kwargs
    return Trainer(net, x, t, xt, tt, **args)


def test_learns_and_records_history():
    trainer = _trainer()
    acc = trainer.train()
    assert acc > 0.95
    assert len(trainer.train_loss_list) == trainer.max_iter == 30
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3
    assert [row["epoch"] for row in trainer.history] == [1, 2, 3]
    assert [row["iteration"] for row in trainer.history] == [10, 20, 30]
    assert trainer.history[0]["train_loss"] == pytest.approx(np.mean(trainer.train_loss_list[:10]))
    assert np.mean(trainer.train_loss_list[-5:]) < np.mean(trainer.train_loss_list[:5])
    assert trainer.val_loss_list == [] and trainer.history[0]["val_loss"] is None


def test_reproducible_with_seed():
    a, b = _trainer(), _trainer()
    a.train()
    b.train()
    assert a.train_loss_list == b.train_loss_list


def test_recorded_loss_is_the_full_loss_before_the_update():
    x, t, xt, tt = _blobs(1)
    net = MultiLayerNet(10, [16], 3, seed=1, weight_decay_lambda=0.5)
    expected = net.loss(x[:50], t[:50])  # includes the L2 term
    trainer = Trainer(net, x, t, xt, tt, epochs=1, mini_batch_size=50, verbose=False)
    trainer.train_step(np.arange(50))
    assert math.isclose(trainer.train_loss_list[-1], expected, rel_tol=1e-6)


def test_optimizer_object_and_print(capsys):
    trainer = _trainer(optimizer=SGD(lr=0.05), optimizer_param=None, verbose=True, epochs=1)
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/1  train loss ")
    assert "train acc" in lines[0] and "test acc" in lines[0] and "lr 0.05" in lines[0]
    assert lines[-1].startswith("final test accuracy: ")
    assert sum("final test accuracy" in line for line in lines) == 1


class _Recorder(Trainer):
    """Records each batch's indices."""

    def train_step(self, batch):
        self.batches = getattr(self, "batches", []) + [np.array(batch)]
        return super().train_step(batch)


def test_epoch_sampling_visits_every_sample_once_per_epoch():
    x, t, xt, tt = _blobs(0)
    trainer = _Recorder(MultiLayerNet(10, [8], 3, seed=0), x[:230], t[:230], xt, tt, epochs=2,
                        mini_batch_size=100, verbose=False, seed=0)
    trainer.train()
    sizes = [len(b) for b in trainer.batches]
    assert sizes == [100, 100, 30] * 2
    for e in range(2):
        seen = np.concatenate(trainer.batches[3 * e:3 * e + 3])
        np.testing.assert_array_equal(np.sort(seen), np.arange(230))
    assert len(trainer.history) == 2


def test_textbook_sampling_matches_the_textbook_loop():
    """250 samples, batch 100: an epoch is 2.5 steps; 3 epochs = int(7.5) = 7 steps drawn
    with replacement; metrics after steps 0 and 5 (i % 2.5 == 0), as common/trainer.py."""
    x, t, xt, tt = _blobs(2)
    x, t = x[:250], t[:250]
    trainer = Trainer(MultiLayerNet(10, [8], 3, seed=2), x, t, xt, tt, epochs=3,
                      mini_batch_size=100, optimizer_param={"lr": 0.1}, verbose=False,
                      seed=5, sampling="textbook")
    trainer.train()
    assert trainer.iter_per_epoch == 2.5 and trainer.max_iter == 7
    assert [row["iteration"] for row in trainer.history] == [1, 6]

    net, opt, rng = MultiLayerNet(10, [8], 3, seed=2), SGD(lr=0.1), np.random.default_rng(5)
    losses, repeats = [], 0
    for _ in range(7):
        batch = rng.choice(250, 100)  # with replacement
        repeats += len(batch) - len(np.unique(batch))
        opt.update(net.params, net.gradient(x[batch], t[batch]))
        losses.append(float(net.last_loss))
    assert repeats > 0
    assert trainer.train_loss_list == losses


def test_stratified_split():
    t = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = stratified_split(t, 0.2, np.random.default_rng(0))
    assert np.bincount(t[val]).tolist() == [10, 6, 4]
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    assert np.all(np.diff(val) > 0)
    train2, val2 = stratified_split(np.eye(3)[t], 0.2, np.random.default_rng(0))  # one-hot rows
    np.testing.assert_array_equal(val, val2)
    _, val3 = stratified_split(t, 0.2, np.random.default_rng(1))
    assert not np.array_equal(val, val3)


def test_validation_split_holds_out_data_and_reports_it():
    x, t, xt, tt = _blobs(0)
    trainer = _trainer(validation_split=0.2)
    assert trainer.train_size == len(trainer.x_train) == 400 and len(trainer.x_val) == 100
    # the held-out rows are rows of x, not in the training part
    rows = {r.tobytes() for r in trainer.x_train}
    assert all(r.tobytes() not in rows for r in trainer.x_val)
    trainer.train()
    assert len(trainer.val_loss_list) == len(trainer.val_acc_list) == 3
    assert trainer.history[-1]["val_acc"] == trainer.val_acc_list[-1] > 0.9


class _Explode(Schedule):
    """lr factor 1 for two epochs, then huge: the validation loss blows up."""

    def __call__(self, t):
        return 1.0 if t < 2 else 1e4


class _Snapshots(Callback):
    def __init__(self):
        self.params = []

    def on_epoch_end(self, trainer, logs):
        self.params.append({k: v.copy() for k, v in trainer.network.params.items()})
        return False


def test_early_stopping_stops_and_restores_best_in_place():
    snaps = _Snapshots()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    trainer = _trainer(epochs=20, validation_split=0.2,
                       callbacks=[snaps, LRSchedule(_Explode()), stopper])
    params_before = {k: id(v) for k, v in trainer.network.params.items()}
    trainer.train()
    assert stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    assert len(trainer.history) == 4
    assert "early stopping: val_loss" in trainer.stop_reason and "restored" in trainer.stop_reason
    for key, value in trainer.network.params.items():
        assert id(value) == params_before[key]  # the same arrays, refilled
        np.testing.assert_array_equal(value, snaps.params[1][key])
    # the net itself computes with the restored arrays
    assert trainer.network.loss(trainer.x_val, trainer.t_val) == pytest.approx(
        trainer.history[1]["val_loss"], rel=1e-6)


def test_early_stopping_restores_batchnorm_running_statistics():
    class _Buffers(Callback):
        def __init__(self):
            self.buffers = []

        def on_epoch_end(self, trainer, logs):
            self.buffers.append({k: v.copy() for k, v in trainer.network.buffers.items()})
            return False

    snaps = _Buffers()
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    net = MultiLayerNetExtend(10, [16], 3, use_batchnorm=True, seed=0)
    trainer = _trainer(net=net, epochs=20, validation_split=0.2,
                       callbacks=[snaps, LRSchedule(_Explode()), stopper])
    trainer.train()
    assert stopper.best_epoch == 2 and len(snaps.buffers) > 2
    assert not np.array_equal(snaps.buffers[-1]["running_mean1"],
                              snaps.buffers[1]["running_mean1"])
    for key, value in net.buffers.items():
        np.testing.assert_array_equal(value, snaps.buffers[1][key])


def _fake_epochs(stopper, values, monitor):
    class _T:
        has_validation = True
        stop_reason = None
        current_iter = 0

        class network:  # noqa: N801
            params = {"w": np.zeros(1)}

    trainer = _T()
    stopper.on_train_begin(trainer)
    for epoch, v in enumerate(values, 1):
        trainer.network.params["w"][0] = epoch
        if stopper.on_epoch_end(trainer, {"epoch": epoch, monitor: v}):
            break
    stopper.on_train_end(trainer)
    return trainer


@pytest.mark.parametrize("monitor, values, patience, min_delta, best, stopped", [
    ("val_loss", [1.0, 0.9, 0.95, 0.93, 0.91, 0.5], 3, 0.0, 2, 5),
    ("val_loss", [1.0, 0.95, 0.92, 0.85], 2, 0.1, 1, 3),       # improvements < min_delta
    ("val_acc", [0.5, 0.7, 0.7, 0.6], 2, 0.0, 2, 4),           # equal is not better
    ("val_acc", [0.5, 0.6, 0.7], 0, 0.0, 3, None),             # never stopped
    ("val_loss", [1.0, float("nan"), 0.9], 0, 0.0, 1, 2),      # NaN never improves; patience 0
])
def test_early_stopping_rule(monitor, values, patience, min_delta, best, stopped):
    stopper = EarlyStopping(monitor, patience=patience, min_delta=min_delta)
    trainer = _fake_epochs(stopper, values, monitor)
    assert stopper.best_epoch == best and stopper.stopped_epoch == stopped
    assert trainer.network.params["w"][0] == best  # restored


def test_early_stopping_without_restore_keeps_last():
    stopper = EarlyStopping("val_loss", patience=1, restore_best=False)
    trainer = _fake_epochs(stopper, [1.0, 2.0], "val_loss")
    assert trainer.network.params["w"][0] == 2 and not stopper.restored


def test_early_stopping_needs_validation_data():
    trainer = _trainer(callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="needs validation data: give the Trainer validation_split"):
        trainer.train()


def test_test_set_never_steers_training():
    x, t, xt, tt = _blobs(3)
    runs = []
    for test_labels in (tt, np.random.default_rng(9).permutation(tt)):
        trainer = _trainer(data=(x, t, xt, test_labels), epochs=8, validation_split=0.2,
                           callbacks=[EarlyStopping("val_acc", patience=1)])
        trainer.train()
        runs.append(trainer)
    assert runs[0].train_loss_list == runs[1].train_loss_list
    assert runs[0].val_acc_list == runs[1].val_acc_list
    assert runs[0].test_acc_list != runs[1].test_acc_list


def test_lr_schedule_per_epoch_and_per_step():
    trainer = _trainer(callbacks=[LRSchedule(StepDecay(1, gamma=0.5))])
    trainer.train()
    assert [row["lr"] for row in trainer.history] == [0.1, 0.05, 0.025]
    trainer = _trainer(epochs=1, callbacks=[LRSchedule(StepDecay(2, gamma=0.5), per="step")])
    trainer.train()  # 10 steps -> factor 0.5 ** (10 // 2)
    assert trainer.optimizer.lr == pytest.approx(0.1 * 0.5 ** 5)
    with pytest.raises(TypeError, match="schedule must be a fastnet.optim.Schedule"):
        LRSchedule(0.5)
    with pytest.raises(ValueError, match="per must be one of"):
        LRSchedule(StepDecay(1), per="batch")


def test_lr_schedule_reused_by_a_fresh_run_starts_over():
    # The same callback and optimizer for a second net: the schedule went on from the first
    # run's last step (lr 0.1 * 0.5 ** 3 at the second run's first epoch).
    opt, schedule = SGD(0.1), LRSchedule(StepDecay(1, gamma=0.5))
    for seed in (0, 1):
        trainer = _trainer(seed, optimizer=opt, optimizer_param=None, callbacks=[schedule])
        trainer.train()
        assert [row["lr"] for row in trainer.history] == [0.1, 0.05, 0.025]
    opt.lr = 0.2  # set by the user since: the next fresh run starts from it
    trainer = _trainer(2, optimizer=opt, optimizer_param=None, callbacks=[schedule])
    trainer.train()
    assert [row["lr"] for row in trainer.history] == [0.2, 0.1, 0.05]
    trainer.epochs, trainer.max_iter = 4, 40  # the same run resumed: the schedule goes on
    trainer.train()
    assert [row["lr"] for row in trainer.history] == [0.2, 0.1, 0.05, 0.025]


@pytest.mark.parametrize("make", [lambda: EarlyStopping(patience=1),
                                  lambda: LRSchedule(StepDecay(1, gamma=0.5))],
                         ids=["EarlyStopping", "LRSchedule"])
def test_a_callback_holding_another_runs_progress_refuses_to_resume(make):
    # Trainer A resumed after B ran with the same EarlyStopping copied B's parameters into A's
    # net (the "parameters training stopped at"); an LRSchedule restarted A's schedule from
    # A's decayed lr. Now an error that changes nothing; each trainer's own callback works.
    data = _blobs(5)
    shared = make()
    first = _trainer(0, data=data, epochs=2, validation_split=0.2, callbacks=[shared])
    first.train()
    second = _trainer(1, data=data, epochs=2, validation_split=0.2, callbacks=[shared])
    second.train()  # a fresh run may reuse it: it starts over
    first.epochs, first.max_iter = 3, 3 * first.iter_per_epoch
    before = {k: v.copy() for k, v in first.network.params.items()}
    lr = first.optimizer.lr
    with pytest.raises(ValueError, match=f"this {type(shared).__name__} holds the progress of "
                                         "another Trainer's run"):
        first.train()
    assert first.optimizer.lr == lr and len(first.history) == 2
    for key, value in first.network.params.items():
        np.testing.assert_array_equal(value, before[key])
    own = make()
    own.load_state_dict(second.state_dict()["callbacks"][0])  # a loaded state is any run's
    second.callbacks = [own]
    second.epochs, second.max_iter = 3, 3 * second.iter_per_epoch
    second.train()
    assert len(second.history) == 3
    # A copied Trainer resumes with its callbacks' copies, which hold the progress as a
    # loaded state does (and pickle: no weak reference to a Trainer).
    clone = copy.deepcopy(second)
    clone.epochs, clone.max_iter = 4, 4 * clone.iter_per_epoch
    clone.train()
    assert len(clone.history) == 4 and len(second.history) == 3
    assert type(pickle.loads(pickle.dumps(own))) is type(own)


def test_divergence_carries_on_without_callback():
    trainer = _trainer(optimizer_param={"lr": 1e30}, epochs=2)
    trainer.train()
    assert trainer.current_iter == trainer.max_iter
    assert not all(np.isfinite(trainer.train_loss_list))


def test_stop_on_nan_callback():
    trainer = _trainer(optimizer_param={"lr": 1e30}, epochs=5, callbacks=[StopOnNaN()])
    trainer.train()
    assert trainer.current_iter < trainer.max_iter
    assert "loss became" in trainer.stop_reason
    assert not math.isfinite(trainer.train_loss_list[-1])
    assert len(trainer.history) == 1  # the partial epoch is still evaluated


def test_plain_callable_callback_stops():
    trainer = _trainer(callbacks=[lambda tr, loss: tr.current_iter == 4])
    trainer.train()
    assert trainer.current_iter == 4


def test_history_csv_and_json(tmp_path):
    trainer = _trainer(validation_split=0.2, optimizer_param={"lr": 1e30}, epochs=2)
    trainer.train()
    csv_path = trainer.save_history(tmp_path / "h.csv")
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(HISTORY_COLUMNS) and len(rows) == 2
    assert float(rows[1]["test_acc"]) == trainer.test_acc_list[1]
    doc = json.loads(trainer.save_history(tmp_path / "h.json").read_text())
    assert len(doc["train_loss_list"]) == trainer.max_iter
    assert None in doc["train_loss_list"]  # NaN/inf as null, strict JSON
    assert doc["final_test_acc"] == trainer.final_test_acc
    assert doc["epochs"][0]["val_acc"] == trainer.val_acc_list[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.csv", "h.json"]  # no temp files
    with pytest.raises(ValueError, match="history file suffix must be one of"):
        trainer.save_history(tmp_path / "h.txt")


def test_plot_history(tmp_path):
    pytest.importorskip("matplotlib")
    trainer = _trainer(validation_split=0.2)
    trainer.train()
    png = trainer.plot_history(tmp_path / "h.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": None}, TypeError, "epochs must be an integer; got None"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer; got 2.5"),
    ({"epochs": -1}, ValueError, "epochs must be a non-negative integer"),
    ({"mini_batch_size": 0}, ValueError, "mini_batch_size must be a positive integer"),
    ({"optimizer": None}, TypeError, "optimizer must be a name"),
    ({"optimizer": "lbfgs"}, ValueError, "optimizer must be one of"),
    ({"optimizer_param": [0.1]}, TypeError, "optimizer_param must be a dict"),
    ({"optimizer": SGD(), "optimizer_param": {"lr": 0.1}}, ValueError,
     "optimizer_param applies to an optimizer given by name"),
    ({"evaluate_sample_num_per_epoch": 0}, ValueError,
     "evaluate_sample_num_per_epoch must be a positive integer"),
    ({"callbacks": [5]}, TypeError, r"callbacks\[0\] must be a fastnet.trainer.Callback"),
    ({"callbacks": 5}, TypeError, "callbacks must be a list"),
    ({"verbose": "yes"}, TypeError, "verbose must be True or False"),
    ({"sampling": "random"}, ValueError, "sampling must be one of"),
    ({"validation_split": 1.0}, ValueError, "validation_split must be < 1"),
    ({"validation_split": "0.2"}, TypeError, "validation_split must be a real number"),
    ({"validation_split": 0.2, "validation_data": ([1], [1])}, ValueError, "not both"),
    ({"validation_data": ([1, 2], [1])}, ValueError,
     r"validation_data\[0\] and validation_data\[1\] must hold the same number"),
    ({"validation_split": 0.001}, ValueError, "leaves 500 for training and 0 for validation"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        _trainer(**kwargs)


def test_bad_data_and_network():
    x, t, xt, tt = _blobs(0)
    net = MultiLayerNet(10, [8], 3)
    with pytest.raises(ValueError, match="x_train and t_train must hold the same number of "
                                         "samples; got 500 and 499"):
        Trainer(net, x, t[:-1], xt, tt)
    with pytest.raises(ValueError, match="x_test and t_test must hold the same number"):
        Trainer(net, x, t, xt, tt[:3])
    with pytest.raises(ValueError, match="x_train must hold at least one sample"):
        Trainer(net, x[:0], t[:0], xt, tt)
    with pytest.raises(TypeError, match="seed must be None, an int or a numpy.random.Generator"):
        Trainer(net, x, t, xt, tt, seed="x")
    with pytest.raises(TypeError, match="network must have params, gradient"):
        Trainer(object(), x, t, xt, tt)


def test_callbacks_none_means_none():
    trainer = _trainer(callbacks=None, epochs=1)
    assert trainer.callbacks == []
    trainer.train()
    assert trainer.current_iter == 10


class _InterruptAt(Callback):
    """Raises KeyboardInterrupt after the given iteration (None: never), like Ctrl-C."""

    def __init__(self, iteration=None):
        self.iteration = iteration

    def on_step_end(self, trainer, loss):
        if trainer.current_iter == self.iteration:
            raise KeyboardInterrupt
        return False


@pytest.mark.parametrize("sampling", ["epoch", "textbook"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, sampling):
    from fastnet import load_checkpoint
    from fastnet.optim import Adam
    from fastnet.trainer import SaveCheckpoint

    data = _blobs(4)

    def run(path, interrupt=None, net=None, optimizer=None, state=None):
        callbacks = [SaveCheckpoint(path), LRSchedule(StepDecay(1, gamma=0.7)),
                     EarlyStopping("val_loss", patience=10), _InterruptAt(interrupt)]
        trainer = _trainer(data=data, net=net, epochs=4, validation_split=0.2,
                           optimizer=optimizer or Adam(lr=0.01), optimizer_param=None,
                           sampling=sampling, callbacks=callbacks, seed=3)
        if state is not None:
            trainer.load_state_dict(state)
        trainer.train()
        return trainer

    whole = run(tmp_path / "a.npz")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.npz", interrupt=2 * 8 + 3)  # killed in the third epoch
    ckpt = load_checkpoint(tmp_path / "b.npz")
    # epoch mode: 8 steps an epoch, 2 done; textbook mode: metrics after steps 1, 9, 17
    epochs_done = {"epoch": 2, "textbook": 3}[sampling]
    assert ckpt.state["epoch"] == len(ckpt.state["history"]) == epochs_done
    assert ckpt.state["callbacks"][0] == {"base_lr": 0.01, "t": epochs_done}  # SaveCheckpoint last
    resumed = run(tmp_path / "b.npz", net=ckpt.net, optimizer=ckpt.optimizer, state=ckpt.state)
    assert resumed.train_loss_list == whole.train_loss_list
    assert resumed.history[-1]["val_loss"] == whole.history[-1]["val_loss"]
    for key, value in whole.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[key], value)
    final = load_checkpoint(tmp_path / "b.npz")  # the last save, at the end of training
    assert final.state["epoch"] == 4
    for key, value in whole.network.params.items():
        np.testing.assert_array_equal(final.net.params[key], value)


def test_resume_after_the_best_was_restored_goes_on_from_where_training_stopped(tmp_path):
    """A run that ends with EarlyStopping's best parameters restored saves them in its last
    checkpoint (the net a user keeps and predicts with); resumed from that checkpoint with
    more epochs, training goes on from the parameters it stopped at, as the unbroken run
    does (it went on from the restored ones, which the optimizer's state does not match)."""
    from fastnet import load_checkpoint
    from fastnet.optim import Adam
    from fastnet.trainer import SaveCheckpoint

    data = _blobs(4)

    def run(path, epochs, net=None, optimizer=None, state=None, restore_best=True):
        stopper = EarlyStopping("val_loss", patience=10, restore_best=restore_best)
        trainer = _trainer(data=data, net=net, epochs=epochs, validation_split=0.2,
                           optimizer=optimizer or Adam(lr=0.01), optimizer_param=None,
                           sampling="textbook", callbacks=[SaveCheckpoint(path), stopper], seed=3)
        if state is not None:
            trainer.load_state_dict(state)
        trainer.train()
        return trainer, stopper

    whole, _ = run(tmp_path / "a.npz", 4)
    part, stopper = run(tmp_path / "b.npz", 2)
    ckpt = load_checkpoint(tmp_path / "b.npz")
    # textbook sampling: steps follow the last evaluation, so the restore moved the parameters
    stopped, _ = run(tmp_path / "c.npz", 2, restore_best=False)
    assert stopper.restored and any(not np.array_equal(value, stopped.network.params[key])
                                    for key, value in part.network.params.items())
    for key, value in part.network.params.items():
        np.testing.assert_array_equal(ckpt.net.params[key], value)
    resumed, _ = run(tmp_path / "b.npz", 4, net=ckpt.net, optimizer=ckpt.optimizer,
                     state=ckpt.state)
    assert resumed.train_loss_list == whole.train_loss_list
    for key, value in whole.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[key], value)


def test_resume_checks_the_trainer_matches(tmp_path):
    from fastnet import load_checkpoint, save

    trainer = _trainer(validation_split=0.2, epochs=1)
    trainer.train()
    save(tmp_path / "c.npz", trainer.network, trainer.optimizer, trainer=trainer)
    state = load_checkpoint(tmp_path / "c.npz").state
    with pytest.raises(ValueError, match="different validation split"):
        _trainer(validation_split=0.2, seed=1, data=_blobs(0)).load_state_dict(state)
    with pytest.raises(ValueError, match="saved run had 0 callbacks"):
        _trainer(validation_split=0.2, callbacks=[StopOnNaN()]).load_state_dict(state)
    with pytest.raises(ValueError, match="sampling"):
        _trainer(validation_split=0.2, sampling="textbook").load_state_dict(state)


def test_resume_with_a_fresh_stateful_optimizer_is_an_error(tmp_path):
    # optimizer="adam" by name on resume went on with Adam's moments and step counts reset:
    # silently not the run that was saved, which resuming promises to continue.
    from fastnet import load_checkpoint, save

    trainer = _trainer(epochs=1, optimizer="adam", optimizer_param={"lr": 0.01})
    trainer.train()
    save(tmp_path / "c.npz", trainer.network, trainer.optimizer, trainer=trainer)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    fresh = _trainer(epochs=2, net=ckpt.net, optimizer="adam", optimizer_param={"lr": 0.01})
    with pytest.raises(ValueError, match=r"the saved run took 10 steps, but this Trainer's "
                                         r"Adam has no state \(m, v\).*optimizer=ckpt.optimizer"):
        fresh.load_state_dict(ckpt.state)
    assert fresh.current_iter == 0 and fresh.history == []
    resumed = _trainer(epochs=2, net=ckpt.net, optimizer=ckpt.optimizer, optimizer_param=None)
    resumed.load_state_dict(ckpt.state)
    assert resumed.current_iter == 10
    sgd = _trainer(epochs=2, net=ckpt.net)  # SGD keeps nothing between steps
    sgd.load_state_dict(ckpt.state)
    assert sgd.current_iter == 10


@pytest.mark.parametrize("state, error, match", [
    (None, TypeError, "state must be a dict from Trainer.state_dict"),
    ([("epoch", 1)], TypeError, "state must be a dict from Trainer.state_dict"),
    ({"epoch": 1}, ValueError, r"state lacks \['callbacks', .*'sampling'"),
])
def test_load_state_dict_rejects_what_is_no_trainer_state(state, error, match):
    # a dict without 'sampling' was a KeyError, None a TypeError naming nothing
    trainer = _trainer(epochs=1)
    with pytest.raises(error, match=match):
        trainer.load_state_dict(state)
    assert trainer.current_epoch == 0


def test_lists_of_samples_are_arrays():
    # a list x_train (or t_train) was "only integer scalar arrays can be converted to a
    # scalar index" at the first batch; validation_data too
    x, t, xt, tt = (a.astype(np.float64) if a.dtype.kind == "f" else a for a in _blobs(0))

    def net():  # lists of floats are float64 arrays, as a net's predict reads them
        return MultiLayerNet(10, [16], 3, seed=0, dtype=np.float64)
    trainer = _trainer(data=(x.tolist(), t.tolist(), xt, tt.tolist()), net=net(), epochs=1,
                       validation_data=(xt.tolist(), tt.tolist()))
    trainer.train()
    reference = _trainer(data=(x, t, xt, tt), net=net(), epochs=1, validation_data=(xt, tt))
    reference.train()
    assert trainer.train_loss_list == reference.train_loss_list
