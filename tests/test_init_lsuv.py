"""LSUV gives unit pre-activation variance per layer; constant inits keep units symmetric."""
import numpy as np
import pytest

import fastnet.init as fi
from fastnet import MultiLayerNet
from fastnet.layers import Affine
from fastnet.optim import SGD


def _pre_activations(net, x):
    """Each Affine layer's x @ W + b, recomputed in NumPy from the net's own forward."""
    net.predict(x)
    return [layer.x @ layer.W + layer.b for layer in net.layers.values()
            if isinstance(layer, Affine)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("init", [0.01, "relu", 1.0])
def test_lsuv_unit_variance_every_layer(dtype, activation, init):
    rng = np.random.default_rng(0)
    net = MultiLayerNet(60, [50, 40, 30, 20], 10, activation, weight_init_std=init,
                        dtype=dtype, seed=1)
    x = (rng.standard_normal((256, 60)) * 3 + 1).astype(dtype)
    W_objects = [net.params[f"W{i}"] for i in range(1, 6)]
    tol = 0.05
    report = fi.lsuv(net, x, tol=tol, seed=2)
    assert [r["layer"] for r in report] == [f"Affine{i}" for i in range(1, 6)]
    for r, z in zip(report, _pre_activations(net, x)):
        assert r["converged"] and r["iterations"] >= 1
        assert abs(float(np.var(z, dtype=np.float64)) - 1) < tol
        assert abs(r["variance"] - 1) < tol
    for i, W in enumerate(W_objects, 1):
        assert net.params[f"W{i}"] is W and net.layers[f"Affine{i}"].W is W
    # orthogonal pre-init survives the scalar rescaling: W1 (60, 50) has W^T W = c I
    g = W_objects[0].astype(np.float64).T @ W_objects[0]
    np.testing.assert_allclose(g / g[0, 0], np.eye(50), atol=1e-4 if dtype == np.float32 else 1e-10)


def test_lsuv_with_bias_needs_several_iterations_and_reports_unconverged():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(40, [30], 5, dtype=np.float64, seed=0)
    net.params["b1"][:] = np.linspace(-0.5, 0.5, 30)  # per-unit biases do not scale with W
    x = rng.standard_normal((128, 40))
    report = fi.lsuv(net, x, tol=1e-6, max_iter=50, seed=0)
    assert report[0]["converged"] and report[0]["iterations"] >= 2
    net.params["b1"][:] = np.linspace(-0.5, 0.5, 30)
    report = fi.lsuv(net, x, tol=1e-6, max_iter=1, seed=0)
    assert not report[0]["converged"] and report[0]["iterations"] == 1


def test_lsuv_dead_layer_warns():
    net = MultiLayerNet(10, [8], 3, dtype=np.float64, seed=0)
    with pytest.warns(RuntimeWarning, match="variance 0"):
        report = fi.lsuv(net, np.zeros((16, 10)), seed=0)
    assert not report[0]["converged"]


@pytest.mark.parametrize("call,exc,match", [
    (lambda n, x: fi.lsuv(n, x, tol=0), ValueError, "tol must be > 0"),
    (lambda n, x: fi.lsuv(n, x, max_iter=0), ValueError, "max_iter must be a positive integer"),
    (lambda n, x: fi.lsuv(n, x[:1]), ValueError, "at least 2 samples"),
    (lambda n, x: fi.lsuv(object(), x), TypeError, "predict"),
    (lambda n, x: fi.lsuv(n, x.astype(np.float32)), TypeError, "dtype"),
    (lambda n, x: fi.lsuv(n, x[:, :5]), ValueError, "shape"),
])
def test_lsuv_bad_input(call, exc, match):
    net = MultiLayerNet(10, [8], 3, dtype=np.float64, seed=0)
    with pytest.raises(exc, match=match):
        call(net, np.random.default_rng(0).standard_normal((16, 10)))


# -- the symmetry problem ---------------------------------------------------------------

def _train(net, steps=30, lr=0.5):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, net.input_size))
    t = rng.integers(0, net.output_size, 64)
    opt = SGD(lr)
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))


def _unit_spread(W):
    """Largest difference between any unit's incoming weights (columns of W (fan_in, fan_out))."""
    return float(np.max(np.abs(W - W[:, :1])))


# (tanh and ReLU map 0 to 0, so all-zero weights there never move at all.)
@pytest.mark.parametrize("init,activation", [
    ("zeros", "sigmoid"), (fi.constant(0.3), "sigmoid"), (fi.constant(0.3), "tanh"),
    (fi.constant(0.1), "relu")])
def test_constant_init_keeps_units_identical(init, activation):
    net = MultiLayerNet(12, [9, 7], 4, activation, weight_init_std=init, dtype=np.float64, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    _train(net)
    for key in ("W1", "W2"):
        W = net.params[key]
        assert not np.allclose(W, before[key]), f"{key} did not train"
        assert _unit_spread(W) <= 1e-12 * max(1.0, np.abs(W).max()), key
    # the output layer's units do differ (their targets differ)
    assert _unit_spread(net.params["W3"]) > 1e-3


def test_random_init_breaks_symmetry():
    net = MultiLayerNet(12, [9, 7], 4, "sigmoid", weight_init_std="xavier", dtype=np.float64, seed=0)
    _train(net)
    assert _unit_spread(net.params["W1"]) > 1e-2 and _unit_spread(net.params["W2"]) > 1e-2


@pytest.mark.parametrize("use_batchnorm,use_dropout", [(False, False), (True, False), (True, True)])
def test_lsuv_on_multilayernet_extend(use_batchnorm, use_dropout):
    import fastnet

    Extend = getattr(fastnet, "MultiLayerNetExtend", None)
    if Extend is None:
        pytest.skip("MultiLayerNetExtend is not in this build")
    net = Extend(60, [50, 40, 30], 10, "relu", weight_init_std=0.01, dtype=np.float64,
                 use_batchnorm=use_batchnorm, use_dropout=use_dropout, seed=1)
    x = np.random.default_rng(0).standard_normal((256, 60)) * 3 + 1
    before = {k: v.copy() for k, v in net.params.items() if not k.startswith(("W", "b"))}
    report = fi.lsuv(net, x, tol=0.05, seed=2)
    assert len(report) == 4 and all(r["converged"] for r in report)
    for z in _pre_activations(net, x):
        assert abs(np.var(z) - 1) < 0.05
    for k, v in before.items():  # gamma/beta untouched
        np.testing.assert_array_equal(net.params[k], v)


def test_lsuv_failure_leaves_the_net_unchanged(monkeypatch):
    import fastnet.lsuv as lsuv_module

    net = MultiLayerNet(10, [8, 6], 3, dtype=np.float64, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    calls = {"n": 0}
    real = lsuv_module._layer_input

    def failing(net_, x, index):  # fail on the second layer, after the first was rescaled
        calls["n"] += 1
        if index > 0:
            raise FloatingPointError("simulated failure mid-way")
        return real(net_, x, index)

    monkeypatch.setattr(lsuv_module, "_layer_input", failing)
    with pytest.raises(FloatingPointError, match="mid-way"):
        fi.lsuv(net, np.random.default_rng(0).standard_normal((16, 10)), seed=0)
    assert calls["n"] >= 2
    for key, value in before.items():
        np.testing.assert_array_equal(net.params[key], value)
    # a bad batch is rejected before anything is touched
    with pytest.raises(TypeError, match="dtype"):
        fi.lsuv(net, np.zeros((16, 10), np.float32))
    for key, value in before.items():
        np.testing.assert_array_equal(net.params[key], value)
