"""MultiLayerNet: gradients, backends, dtypes, initialisation hooks and bad input."""
import numpy as np
import pytest

from fastnet import MultiLayerNet
from fastnet.optim import SGD
from numerics import DTYPES, tol


def _relative_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12)


def _batch(rng, n=6, d=8, c=4, dtype=np.float64):
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, c, n)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_gradient_check_whole_net(rng, activation, weight_decay):
    x, t = _batch(rng)
    net = MultiLayerNet(8, [7, 5, 6], 4, activation=activation, weight_decay_lambda=weight_decay,
                        dtype=np.float64, seed=3)
    for p in net.params.values():
        p += 0.05 * np.random.default_rng(9).standard_normal(p.shape)  # non-zero biases too
    analytic = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    assert analytic.keys() == numeric.keys() == net.params.keys()
    for key in net.params:
        assert _relative_error(analytic[key], numeric[key]) < 1e-6, key


def test_gradient_check_onehot_targets(rng):
    x, t = _batch(rng)
    net = MultiLayerNet(8, [5], 4, dtype=np.float64, seed=1, weight_decay_lambda=0.05)
    onehot = np.eye(4)[t]
    analytic = net.gradient(x, onehot)
    for key, value in net.numerical_gradient(x, onehot).items():
        assert _relative_error(analytic[key], value) < 1e-6, key
    np.testing.assert_allclose(net.loss(x, t), net.loss(x, onehot), rtol=1e-14)


def test_weight_decay_term(rng):
    x, t = _batch(rng)
    plain = MultiLayerNet(8, [5], 4, dtype=np.float64, seed=1)
    decayed = MultiLayerNet(8, [5], 4, dtype=np.float64, seed=1, weight_decay_lambda=0.3)
    penalty = 0.15 * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    np.testing.assert_allclose(decayed.loss(x, t), plain.loss(x, t) + penalty, rtol=1e-13)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g1["W1"], g0["W1"] + 0.3 * plain.params["W1"], rtol=1e-12)
    np.testing.assert_allclose(g1["b1"], g0["b1"], rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_compiled_matches_reference_backend(rng, dtype, activation):
    x, t = _batch(rng, n=33, d=20, c=10, dtype=dtype)
    nets = [MultiLayerNet(20, [16, 16], 10, activation=activation, dtype=dtype, seed=5,
                          weight_decay_lambda=0.01, backend=b) for b in ("compiled", "reference")]
    np.testing.assert_allclose(nets[0].loss(x, t), nets[1].loss(x, t), **tol(dtype))
    np.testing.assert_allclose(nets[0].predict(x), nets[1].predict(x), **tol(dtype))
    grads = [net.gradient(x, t) for net in nets]
    for key in grads[0]:
        np.testing.assert_allclose(grads[0][key], grads[1][key], **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved_end_to_end(rng, dtype):
    x, t = _batch(rng, dtype=dtype)
    net = MultiLayerNet(8, [5], 4, dtype=dtype, seed=0)
    assert all(p.dtype == dtype for p in net.params.values())
    assert net.predict(x).dtype == dtype
    assert all(g.dtype == dtype for g in net.gradient(x, t).values())
    SGD(lr=0.1).update(net.params, net.gradient(x, t))
    assert all(p.dtype == dtype for p in net.params.values())


def test_results_are_not_overwritten_by_later_calls(rng):
    net = MultiLayerNet(8, [5], 4, seed=0)
    x1, t1 = _batch(rng, dtype=np.float32)
    x2, t2 = _batch(rng, dtype=np.float32)
    y1, g1 = net.predict(x1), net.gradient(x1, t1)
    y1_saved, g1_saved = y1.copy(), {k: v.copy() for k, v in g1.items()}
    net.predict(x2)
    net.gradient(x2, t2)
    np.testing.assert_array_equal(y1, y1_saved)
    for key in g1:
        np.testing.assert_array_equal(g1[key], g1_saved[key])


def test_batch_size_changes_and_accuracy(rng):
    net = MultiLayerNet(8, [5], 4, dtype=np.float64, seed=0)
    for n in (1, 7, 3, 7):
        x, t = _batch(rng, n=n)
        y = net.predict(x)
        assert y.shape == (n, 4)
        assert net.accuracy(x, t) == np.mean(np.argmax(y, 1) == t)
        assert net.accuracy(x, np.eye(4)[t]) == net.accuracy(x, t)


def test_seed_reproduces_weights_and_init_options():
    a = MultiLayerNet(10, [20], 3, seed=7)
    b = MultiLayerNet(10, [20], 3, seed=7)
    c = MultiLayerNet(10, [20], 3, seed=8)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    big = MultiLayerNet(2000, [2000], 3, seed=0, dtype=np.float64)
    np.testing.assert_allclose(big.params["W1"].std(), np.sqrt(2 / 2000), rtol=0.01)
    sig = MultiLayerNet(2000, [2000], 3, seed=0, weight_init_std="xavier", dtype=np.float64)
    np.testing.assert_allclose(sig.params["W1"].std(), np.sqrt(1 / 2000), rtol=0.01)
    fixed = MultiLayerNet(2000, [2000], 3, seed=0, weight_init_std=0.01, dtype=np.float64)
    np.testing.assert_allclose(fixed.params["W1"].std(), 0.01, rtol=0.01)
    custom = MultiLayerNet(4, [3], 2, weight_init_std=lambda shape, rng, dtype: np.full(shape, 0.5, dtype))
    assert np.all(custom.params["W1"] == 0.5) and custom.params["W1"].shape == (4, 3)
    assert all(np.all(custom.params[k] == 0) for k in ("b1", "b2"))


def test_bias_init():
    import fastnet.init as fi

    net = MultiLayerNet(6, [5, 4], 3, seed=0, bias_init=fi.constant(0.1))
    assert all(np.all(net.params[f"b{i}"] == np.float32(0.1)) for i in (1, 2, 3))
    plain = MultiLayerNet(6, [5, 4], 3, seed=0)
    np.testing.assert_array_equal(net.params["W2"], plain.params["W2"])  # same weight draws
    with pytest.raises(ValueError, match="bias_init must be one of"):
        MultiLayerNet(6, [5], 3, bias_init="nope")
    with pytest.raises(ValueError, match=r"bias_init returned \(2,\)"):
        MultiLayerNet(6, [5], 3, bias_init=lambda shape, rng, dtype: np.zeros(2, dtype))


def test_textbook_script_shape(rng):
    """The issue's snippet: gradient + SGD update on a 784-100x4-10 net."""
    x = rng.random((100, 784), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    net = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100], output_size=10, seed=0)
    opt = SGD(lr=0.1)
    before = net.loss(x, t)
    for _ in range(20):
        opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < before


def test_divergence_propagates_without_error(rng):
    x, t = _batch(rng, dtype=np.float32)
    net = MultiLayerNet(8, [5], 4, seed=0)
    net.params["W1"][:] = np.inf
    loss = net.loss(x, t)
    assert not np.isfinite(loss)
    net.gradient(x, t)  # no exception: NaN/inf carry on


class TestBadInput:
    def setup_method(self):
        self.net = MultiLayerNet(8, [5], 4, seed=0)

    def test_wrong_width(self):
        with pytest.raises(ValueError, match=r"x \(flattened\) must have shape \(N, 8\)"):
            self.net.predict(np.ones((2, 9), np.float32))

    def test_dtype_mismatch(self):
        with pytest.raises(TypeError, match="x has dtype float64, but the parameters are float32"):
            self.net.loss(np.ones((2, 8)), np.array([0, 1]))

    def test_labels(self):
        x = np.ones((2, 8), np.float32)
        with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
            self.net.gradient(x, np.array([0, 4]))
        with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
            self.net.loss(x, np.array([0]))
        with pytest.raises(ValueError, match=r"t must have shape \(2, 4\)"):
            self.net.loss(x, np.ones((2, 3)))

    @pytest.mark.parametrize("kwargs, match", [
        (dict(input_size=0), "input_size must be a positive integer"),
        (dict(hidden_size_list=[5, -1]), r"hidden_size_list\[1\] must be a positive integer"),
        (dict(activation="softsign"), "activation must be one of"),
        (dict(weight_init_std="bogus"), "weight_init_std must be one of"),
        (dict(weight_init_std=-1.0), "must be >= 0"),
        (dict(weight_decay_lambda=float("nan")), "weight_decay_lambda must be finite"),
        (dict(weight_decay_lambda=-0.1), "weight_decay_lambda must be >= 0"),
        (dict(weight_init_std=lambda s, r, d: np.zeros((1, 1), d)), "expected"),
    ])
    def test_constructor(self, kwargs, match):
        args = dict(input_size=8, hidden_size_list=[5], output_size=4) | kwargs
        with pytest.raises(ValueError, match=match):
            MultiLayerNet(**args)

    def test_constructor_dtype(self):
        with pytest.raises(TypeError, match="dtype must be float32 or float64"):
            MultiLayerNet(8, [5], 4, dtype=np.float16)
        with pytest.raises(TypeError, match="seed must be"):
            MultiLayerNet(8, [5], 4, seed="abc")
        with pytest.raises(ValueError, match="backend must be"):
            MultiLayerNet(8, [5], 4, backend="gpu")


def test_assigning_a_parameter_sets_the_values_the_net_computes_with(rng):
    # A rebound entry was an array no layer saw: predictions and training ignored it.
    net = MultiLayerNet(20, [10], 3, seed=0)
    x = rng.random((5, 20)).astype(np.float32)
    live = net.params["W1"]
    net.params["W1"] = np.zeros((20, 10))  # float64 values into the float32 net
    assert net.params["W1"] is live and not live.any()
    h = np.zeros((5, 10), np.float32) + net.params["b1"]  # ReLU(0 + b1) with b1 = 0
    np.testing.assert_allclose(net.predict(x), np.maximum(h, 0) @ net.params["W2"]
                               + net.params["b2"], rtol=1e-6)
    net.params.update(b2=np.ones(3))
    assert np.array_equal(net.params["b2"], np.ones(3, np.float32))
    before = net.params["W2"]
    net.params["W2"] -= 1  # in place, as an optimizer does: the same array stays
    assert net.params["W2"] is before


@pytest.mark.parametrize("key, value, error, match", [
    ("W1", np.zeros((3, 3)), ValueError, r"must have shape \(20, 10\)"),
    ("W1", np.zeros((20, 10), complex), TypeError, "castable to float32"),
    ("W9", np.zeros(3), ValueError, "has no entry 'W9'"),
])
def test_assigning_a_parameter_checks_it(key, value, error, match):
    net = MultiLayerNet(20, [10], 3, seed=0)
    with pytest.raises(error, match=match):
        net.params[key] = value


def test_assigning_through_a_layer_sets_the_nets_parameter(rng):
    net = MultiLayerNet(20, [10], 3, seed=0)
    x = rng.random((5, 20)).astype(np.float32)
    net.predict(x)  # a compiled pass now holds the parameters' addresses
    net.layers["Affine2"].W = np.zeros((10, 3))  # the textbook's layer attribute
    net.layers["Affine2"].params["b"] = np.arange(3.0)
    assert not net.params["W2"].any() and list(net.params["b2"]) == [0, 1, 2]
    np.testing.assert_array_equal(net.predict(x), np.tile(np.arange(3, dtype=np.float32), (5, 1)))


def test_parameters_cannot_be_removed_and_copy_as_plain_dicts():
    import copy
    import pickle
    net = MultiLayerNet(20, [10], 3, seed=0)
    with pytest.raises(TypeError, match="cannot be added or removed"):
        del net.params["W1"]
    with pytest.raises(TypeError, match="cannot be added or removed"):
        net.params.pop("b1")
    for copied in (pickle.loads(pickle.dumps(net.params)), copy.deepcopy(net.params),
                   net.params.copy(), dict(net.params)):
        assert type(copied) is dict and list(copied) == list(net.params)
