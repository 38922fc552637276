"""fastnet.Ensemble and the ensemble experiment."""
import csv

import numpy as np
import pytest

import fastnet
from fastnet import Ensemble, MultiLayerNet
from fastnet.experiments import get_experiment


class _Fixed:
    """A 'net' whose logits are given."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, dtype=np.float64)

    def predict(self, x):
        return self.logits[: len(x)]


def _softmax_by_hand(z):
    e = np.exp(np.asarray(z, dtype=np.float64))
    return e / e.sum(axis=1, keepdims=True)


def test_predict_averages_softmax_outputs():
    a = [[2.0, 0.0, -1.0], [0.0, 1000.0, 0.0]]  # a huge logit: no overflow
    b = [[0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]
    p = Ensemble([_Fixed(a), _Fixed(b)]).predict(np.zeros((2, 4)))
    expected = (_softmax_by_hand([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]) * [[1], [0]]
                + np.array([[0, 0, 0], [0, 1.0, 0]]) + _softmax_by_hand(b)) / 2
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_ensemble_corrects_members_that_err_on_different_samples():
    # three samples of class 0; each member is confidently right on two, mildly wrong on one
    right, wrong = [4.0, 0.0], [0.0, 1.0]
    members = [_Fixed([wrong if i == m else right for i in range(3)]) for m in range(3)]
    ens = Ensemble(members)
    x, t = np.zeros((3, 1)), np.zeros(3, dtype=int)
    accs, acc = ens.member_accuracies(x, t)
    assert accs == pytest.approx([2 / 3] * 3) and acc == 1.0
    assert ens.accuracy(x, np.eye(2)[t]) == 1.0  # one-hot targets
    assert len(ens) == 3


def test_single_member_is_the_net():
    net = MultiLayerNet(6, [5], 4, seed=0)
    x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    t = np.random.default_rng(1).integers(0, 4, 20)
    assert Ensemble([net]).accuracy(x, t) == net.accuracy(x, t)
    assert Ensemble([net]).predict(x).dtype == np.float32


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one net"):
        Ensemble([])
    with pytest.raises(TypeError, match="nets must be a sequence"):
        Ensemble(5)
    with pytest.raises(TypeError, match=r"nets\[1\] must have predict"):
        Ensemble([_Fixed([[0.0]]), object()])
    with pytest.raises(ValueError, match="outputs differ in shape"):
        Ensemble([_Fixed([[0.0, 1.0]]), _Fixed([[0.0, 1.0, 2.0]])]).predict(np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"t must have shape \(1,\)"):
        Ensemble([_Fixed([[0.0, 1.0]])]).accuracy(np.zeros((1, 1)), [0, 1])


# Targets are checked as a net's accuracy checks them; each of these was a silent number
# (class 5 of 3 is never the arg-max: 0.0; rows of width 4 gave their own arg-max).
@pytest.mark.parametrize("t, error, match", [
    ([0, 5], ValueError, r"t holds class indices outside \[0, 3\)"),
    ([0, -1], ValueError, r"t holds class indices outside \[0, 3\)"),
    ([0.0, 1.0], TypeError, "t given as class indices must be an integer array"),
    (np.eye(4)[[0, 1]], ValueError, r"t must have shape \(2, 3\)"),
    (np.full((2, 3), np.nan), ValueError, "t target rows must be finite"),
])
@pytest.mark.parametrize("method", ["accuracy", "member_accuracies"])
def test_accuracy_rejects_targets_a_net_rejects(method, t, error, match):
    ens = Ensemble([_Fixed([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])] * 2)
    with pytest.raises(error, match=match):
        getattr(ens, method)(np.zeros((2, 4)), t)


def test_accuracy_counts_a_nan_row_as_wrong_as_a_net_does():
    ens = Ensemble([_Fixed([[np.nan, 0.0], [0.0, 1.0]])])
    assert ens.accuracy(np.zeros((2, 4)), [0, 1]) == 0.5


@pytest.mark.parametrize("logits", ["abc", np.ones(2), np.ones((2, 3, 1)), np.ones((2, 3), int)])
def test_a_member_returning_no_logits_is_named(logits):
    member = type("Member", (), {"predict": lambda self, x: logits})()
    with pytest.raises(ValueError, match=r"nets\[1\]\.predict\(x\) must return logits of shape"):
        Ensemble([_Fixed([[0.0, 1.0, 2.0]] * 2), member]).predict(np.zeros((2, 4)))


def test_exported():
    assert fastnet.Ensemble is Ensemble


def test_experiment_ensemble_at_least_mean_member(tmp_path):
    result = get_experiment("ensemble").run(tmp_path, seed=0, quick=True)
    accs = result["member_acc"]
    assert len(accs) == 3 and len(set(accs)) > 1  # members differ: different seeds
    assert min(accs) > 0.85
    assert result["ensemble_acc"] >= result["mean_member_acc"]
    with open(tmp_path / "ensemble.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", "test accuracy"] and rows[-1][0] == "ensemble of 3"


# -- training the members together ------------------------------------------------------

def _data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 4, n)
    x = (np.eye(4, 6)[t] * 2 + rng.standard_normal((n, 6))).astype(np.float32)
    return x, t


def test_fit_equals_one_trainer_per_member():
    from fastnet.optim import Adam
    from fastnet.trainer import Trainer

    x, t = _data()
    members = [MultiLayerNet(6, [12, 8], 4, seed=s) for s in range(3)]
    alone = [MultiLayerNet(6, [12, 8], 4, seed=s) for s in range(3)]
    seeds = [np.random.default_rng(10 + s) for s in range(3)]
    losses = Ensemble(members).fit(x, t, epochs=3, batch_size=32,
                                   optimizer=[Adam(lr=0.01) for _ in range(3)], seed=seeds)
    assert losses.shape == (3 * 5, 3) and losses.dtype == np.float64  # ceil(150 / 32) steps
    for k, net in enumerate(alone):
        trainer = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=32,
                          optimizer=Adam(lr=0.01), verbose=False,
                          seed=np.random.default_rng(10 + k))
        trainer.train()
        np.testing.assert_array_equal(losses[:, k], trainer.train_loss_list)
        for key, value in net.params.items():
            np.testing.assert_array_equal(members[k].params[key], value, err_msg=key)


def test_fit_one_seed_gives_each_member_its_own_batch_order():
    x, t = _data()
    a = Ensemble([MultiLayerNet(6, [12], 4, seed=0) for _ in range(2)])
    losses = a.fit(x, t, epochs=1, batch_size=50, optimizer="sgd",
                   optimizer_param={"lr": 0.1}, seed=4)
    # same initial weights: only the batch orders differ
    assert not np.array_equal(losses[:, 0], losses[:, 1])
    b = Ensemble([MultiLayerNet(6, [12], 4, seed=0) for _ in range(2)])
    again = b.fit(x, t, epochs=1, batch_size=50, optimizer="sgd", optimizer_param={"lr": 0.1},
                  seed=4)
    np.testing.assert_array_equal(losses, again)


def test_fit_bad_arguments():
    from fastnet.optim import SGD

    x, t = _data()
    ens = Ensemble([MultiLayerNet(6, [12], 4, seed=s) for s in range(2)])
    with pytest.raises(ValueError, match="2 optimizers"):
        ens.fit(x, t, epochs=1, optimizer=[SGD()])
    with pytest.raises(ValueError, match="optimizer_param applies"):
        ens.fit(x, t, epochs=1, optimizer=[SGD(), SGD()], optimizer_param={"lr": 0.1})
    with pytest.raises(ValueError, match="one seed or 2"):
        ens.fit(x, t, epochs=1, seed=[1, 2, 3])
    with pytest.raises(ValueError, match="optimizer must be one of"):
        ens.fit(x, t, epochs=1, optimizer="nope")
    with pytest.raises(ValueError, match="same number of samples"):
        ens.fit(x, t[:-1], epochs=1)
    with pytest.raises(ValueError, match="epochs must be a non-negative"):
        ens.fit(x, t, epochs=-1)
