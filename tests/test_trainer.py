"""Trainer: learns a separable problem, is reproducible, and stops on NaN only when asked."""
import math

import numpy as np
import pytest

from fastnet import MultiLayerNet
from fastnet.optim import SGD
from fastnet.trainer import StopOnNaN, Trainer


def _blobs(seed, n=600, d=10, classes=3):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)) * 3
    t = rng.integers(0, classes, n)
    x = (centers[t] + rng.standard_normal((n, d))).astype(np.float32)
    return x[:500], t[:500], x[500:], t[500:]


def _trainer(seed=0, **kwargs):
    x, t, xt, tt = _blobs(seed)
    net = MultiLayerNet(10, [16], 3, seed=seed)
    args = dict(epochs=3, mini_batch_size=50, optimizer="sgd", optimizer_param={"lr": 0.1},
                verbose=False, seed=seed) | kwargs
    return Trainer(net, x, t, xt, tt, **args)


def test_learns_and_records_history():
    trainer = _trainer()
    acc = trainer.train()
    assert acc > 0.95
    assert len(trainer.train_loss_list) == trainer.max_iter == 30
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 3
    assert np.mean(trainer.train_loss_list[-5:]) < np.mean(trainer.train_loss_list[:5])


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
    trainer = _trainer(optimizer=SGD(lr=0.05), verbose=True, epochs=1)
    trainer.train()
    out = capsys.readouterr().out
    assert "epoch   1" in out and "test accuracy" in out


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


def test_bad_arguments():
    with pytest.raises(ValueError, match="mini_batch_size"):
        _trainer(mini_batch_size=0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _trainer(optimizer="lbfgs")
