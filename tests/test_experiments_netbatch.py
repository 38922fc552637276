"""The experiments train their nets side by side as one NetBatch: same numbers as one by one.

Each test runs an experiment (or its training function) at a small size and
compares it with the per-net loop it replaced, written out here as the
oracle: every loss and accuracy must be bit-identical, since a NetBatch
member computes exactly what the net computes alone (with the same BLAS
thread count: see the ``one_blas_thread`` fixture).
"""
import numpy as np
import pytest

from fastnet._checks import make_rng
from fastnet.datasets import load_mnist
from fastnet.experiments import batchnorm, ensemble, init_compare, optimizer_compare, overfit
from fastnet.init import lsuv
from fastnet.multi_layer_net import MultiLayerNet, MultiLayerNetExtend
from fastnet.optim import SGD, make_optimizer
from fastnet.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def sample():
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, sample=True)
    return (x_train[:400], t_train[:400]), (x_test[:200], t_test[:200])


def test_optimizer_compare_equals_the_per_net_loop(sample):
    (x_train, t_train), (x_test, t_test) = sample
    names, iterations, seed = ("SGD", "Momentum", "Adam", "AdamW"), 12, 3
    res = optimizer_compare.run(None, seed=seed, iterations=iterations, batch_size=32,
                                optimizers=names, data=(*sample, "sample"))
    rng = make_rng(seed)
    init_seed = int(rng.integers(2 ** 31))
    nets = [MultiLayerNet(784, optimizer_compare.HIDDEN, 10, seed=init_seed) for _ in names]
    opts = [make_optimizer(name) for name in names]
    losses = np.empty((iterations, len(names)))
    for i in range(iterations):
        idx = rng.choice(len(x_train), 32, replace=False)
        for k, (net, opt) in enumerate(zip(nets, opts)):
            opt.update(net.params, net.gradient(x_train[idx], t_train[idx]))
            losses[i, k] = net.last_loss
    for k, name in enumerate(names):
        np.testing.assert_array_equal(res["losses"][name], losses[:, k])
        assert res["table"][k][3] == nets[k].accuracy(x_test, t_test)


def test_init_compare_equals_the_per_net_loop(sample):
    (x_train, t_train), test = sample
    res = init_compare.run(None, seed=1, iterations=10, batch_size=32, data=sample)
    rng = make_rng(1)
    nets = {label: MultiLayerNet(784, [100] * 4, 10, "relu", weight_init_std=spec,
                                 dtype=np.float32, seed=rng)
            for label, spec in init_compare.INITS.items()}
    batches = [rng.choice(len(x_train), 32) for _ in range(10)]
    lsuv(nets["LSUV"], x_train[batches[0]], seed=rng)
    opt = SGD(0.01)
    for i, idx in enumerate(batches):
        for label, net in nets.items():
            opt.update(net.params, net.gradient(x_train[idx], t_train[idx]))
            assert res["loss"][label][i] == net.last_loss, (label, i)
    for row, (label, net) in zip(res["final"], nets.items()):
        assert row[0] == label
        assert row[2:] == [net.accuracy(x_train, t_train), net.accuracy(*test)]


def test_batchnorm_sweep_equals_the_per_net_loop(sample):
    (x_train, t_train), _ = sample
    scales, epochs, seed = [1.0, 0.05, 1e-3], 3, 2
    bn_acc, acc = batchnorm.train_sweep(x_train, t_train, scales, epochs=epochs,
                                        hidden=(30,) * 3, seed=seed)
    assert bn_acc.shape == acc.shape == (len(scales), epochs)
    for k, w in enumerate(scales):
        # the textbook's loop: a pair of nets per scale, each pair on the same batches
        nets = [MultiLayerNetExtend(784, [30] * 3, 10, weight_init_std=w, use_batchnorm=bn,
                                    seed=seed) for bn in (True, False)]
        opt, rng, curves = SGD(lr=0.01), np.random.default_rng(seed), ([], [])
        per_epoch = len(x_train) // 100
        for i in range(epochs * per_epoch):
            idx = rng.choice(len(x_train), 100)
            for net in nets:
                opt.update(net.params, net.gradient(x_train[idx], t_train[idx]))
            if i % per_epoch == 0:
                for net, curve in zip(nets, curves):
                    curve.append(net.accuracy(x_train, t_train))
        np.testing.assert_array_equal(bn_acc[k], curves[0])
        np.testing.assert_array_equal(acc[k], curves[1])


def test_overfit_settings_equal_one_trainer_each(sample):
    (x_train, t_train), test = sample
    data = ((x_train[:200], t_train[:200]), test)
    curves = overfit.train_settings(data, overfit.SETTINGS, epochs=3, lr=0.05, seed=4,
                                    hidden=(40,) * 3, test_size=100)
    assert list(curves) == list(overfit.SETTINGS)
    for name, (lam, use_dropout) in overfit.SETTINGS.items():
        net = MultiLayerNetExtend(784, [40] * 3, 10, weight_decay_lambda=lam,
                                  use_dropout=use_dropout, dropout_ration=0.2, seed=4)
        trainer = Trainer(net, *data[0], test[0][:100], test[1][:100], epochs=3,
                          mini_batch_size=100, optimizer="sgd", optimizer_param={"lr": 0.05},
                          verbose=False, seed=4)
        trainer.train()
        np.testing.assert_array_equal(curves[name][0], trainer.train_acc_list, err_msg=name)
        np.testing.assert_array_equal(curves[name][1], trainer.test_acc_list, err_msg=name)


def test_ensemble_experiment_equals_one_trainer_per_member(sample):
    (x_train, t_train), (x_test, t_test) = sample
    res = ensemble.run(None, seed=5, k=3, epochs=2, hidden=(20,), data=(*sample, "sample"))
    streams = make_rng(5).spawn(6)
    for m in range(3):
        net = MultiLayerNet(784, [20], 10, seed=streams[2 * m])
        Trainer(net, x_train, t_train, x_test, t_test, epochs=2, mini_batch_size=100,
                optimizer="sgd", optimizer_param={"lr": 0.1}, verbose=False,
                seed=streams[2 * m + 1]).train()
        assert res["member_acc"][m] == net.accuracy(x_test, t_test)


def test_hyperparam_trains_groups_of_trials_on_their_first_trials_batches(sample):
    """By default the search trains its trials in groups of BATCH_TRIALS (one NetBatch
    each): every trial equals the same trial trained alone by a Trainer on the batch
    order of its group's first trial."""
    from fastnet import tune
    from fastnet.experiments import hyperparam

    n_trials, epochs, seed, k = 12, 2, 3, hyperparam.BATCH_TRIALS
    assert 1 < k < n_trials  # two groups, the second one smaller
    res = hyperparam.run(None, seed=seed, n_trials=n_trials, epochs=epochs, train_size=200,
                         hidden=(20, 20), data=(*sample, "sample"))
    result = res["result"]
    assert result.settings["batch_trials"] == k
    (x_train, t_train), _ = sample
    split = tune.split_validation(x_train[:200], t_train[:200], 0.2, seed)
    build = tune.MLP(784, [20, 20], 10, optimizer="sgd")
    records = {r["trial"]: r for r in result.trials}
    for number in (0, 1, k - 1, k, n_trials - 1):
        alone = tune.run_trial(build, records[number]["params"], number, seed, split,
                               epochs=epochs, batch_size=100, batches_of=number // k * k)
        for key in ("val_acc_curve", "train_acc_curve", "best_val_acc", "epochs_run"):
            assert records[number][key] == alone[key], (number, key)
