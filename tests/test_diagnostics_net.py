"""Diagnostics recorded by the nets: equal to NumPy on the same activations, free when off."""
import numpy as np
import pytest

from fastnet import MultiLayerNet, MultiLayerNetExtend


def _data(rng, n=64, d=20, c=5):
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_activation_histograms_equal_numpy(rng, activation):
    x, t = _data(rng)
    net = MultiLayerNet(20, [16, 12], 5, activation=activation, dtype=np.float64, seed=0)
    with net.record_stats(bins=25):
        net.predict(x)
        expected = {i: net.layers[f"Affine{i}"].y.copy() for i in (1, 2)}
        net.predict(x[:10])
        expected = {i: np.concatenate([expected[i], net.layers[f"Affine{i}"].y])
                    for i in (1, 2)}
    stats = net.stats()
    assert sorted(stats) == [1, 2]
    for i, acts in expected.items():
        got = stats[i]["activations"]
        counts, edges = np.histogram(acts, bins=25, range=got["bin_edges"][[0, -1]])
        np.testing.assert_array_equal(got["hist_counts"], counts)
        np.testing.assert_allclose(got["bin_edges"], edges)
        assert got["count"] == acts.size
        np.testing.assert_allclose(got["mean"], acts.mean(), rtol=1e-12)
        np.testing.assert_allclose(got["std"], acts.std(), rtol=1e-10)
        assert got["zero_fraction"] == np.mean(acts == 0)
    if activation == "relu":
        assert stats[1]["activations"]["zero_fraction"] > 0.2  # about half of ReLUs are off


def test_gradient_statistics_match_hand_computation(rng):
    x, t = _data(rng)
    net = MultiLayerNet(20, [16, 12], 5, dtype=np.float64, seed=1)
    with net.record_stats(gradient_range=(-0.05, 0.05)):
        net.gradient(x, t)
    logits = net.predict(x)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(5)[t]) / len(x)
    dh2 = dlogits @ net.params["W3"].T  # gradient at hidden layer 2's activations
    got = net.stats()[2]["gradients"]
    np.testing.assert_allclose(got["mean"], dh2.mean(), rtol=1e-10)
    np.testing.assert_allclose(got["std"], dh2.std(), rtol=1e-10)
    np.testing.assert_array_equal(got["hist_counts"], np.histogram(dh2, bins=30, range=(-0.05, 0.05))[0])


def test_saturation_of_sigmoid_with_large_weights(rng):
    x = rng.standard_normal((200, 100)).astype(np.float32)
    fractions = {}
    for init in (1.0, "xavier"):
        net = MultiLayerNet(100, [100, 100], 5, activation="sigmoid", weight_init_std=init, seed=0)
        with net.record_stats():
            net.predict(x)
        fractions[init] = net.stats()[2]["activations"]["saturated_fraction"]
    assert fractions[1.0] > 0.4 and fractions["xavier"] < 0.05


def test_recording_changes_nothing(rng):
    x, t = _data(rng)
    x = x.astype(np.float32)
    plain = MultiLayerNetExtend(20, [16, 12], 5, use_batchnorm=True, seed=2)
    recorded = MultiLayerNetExtend(20, [16, 12], 5, use_batchnorm=True, seed=2)
    recorded.record_stats()
    g0, g1 = plain.gradient(x, t), recorded.gradient(x, t)
    for key in g0:
        np.testing.assert_array_equal(g0[key], g1[key])
    assert plain.loss(x, t) == recorded.loss(x, t)
    assert set(recorded.stats()) == {1, 2}


def test_off_stops_and_keeps_records(rng):
    x, t = _data(rng)
    net = MultiLayerNet(20, [8], 5, dtype=np.float64, seed=0)
    with pytest.raises(RuntimeError, match="record_stats"):
        net.stats()
    net.record_stats(True)
    net.predict(x)
    net.record_stats(False)
    net.predict(x)
    assert net.stats()[1]["activations"]["count"] == x.shape[0] * 8
    net.record_stats(True)  # starting again clears
    assert net.stats()[1]["activations"]["count"] == 0
