"""MultiLayerNetExtend: gradient checks with batch norm, weight decay and dropout; API; experiments."""
import numpy as np
import pytest

from fastnet import MultiLayerNet, MultiLayerNetExtend
from fastnet.gradient import numerical_gradient
from fastnet.layers import Dropout


def _batch(rng, n=6, d=5, c=4):
    return rng.random((n, d)), rng.integers(0, c, n)


def _rel_err(analytic, numeric):
    # A bias followed by batch norm has an exactly zero gradient (the mean
    # subtraction cancels it); there the central difference is rounding noise,
    # ~1e-10, so the error is measured against a floor of 1e-3.
    return np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-3)


@pytest.mark.parametrize("backend", ["compiled", "reference"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_gradient_check_batchnorm_weight_decay(rng, backend, activation):
    x, t = _batch(rng)
    net = MultiLayerNetExtend(5, [7, 6], 4, activation=activation, weight_init_std=0.5,
                              weight_decay_lambda=0.1, use_batchnorm=True, dtype=np.float64,
                              seed=1, backend=backend)
    for key in net.params:  # non-trivial gamma, beta, b
        if key[0] in "bg":
            net.params[key] += rng.uniform(-0.3, 0.3, net.params[key].shape)
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3", "gamma1", "beta1",
                                "gamma2", "beta2"]
    for key, p in net.params.items():
        numeric = numerical_gradient(lambda _: net.loss(x, t, train_flg=True), p, h=1e-6)
        assert _rel_err(grads[key], numeric) < 1e-6, key


@pytest.mark.parametrize("mode", ["textbook", "inverted"])
def test_gradient_check_dropout_fixed_mask(rng, mode):
    x, t = _batch(rng)
    net = MultiLayerNetExtend(5, [8, 8], 4, weight_init_std=0.5, weight_decay_lambda=0.05,
                              use_dropout=True, dropout_ration=0.3, use_batchnorm=True,
                              dtype=np.float64, seed=2, dropout_mode=mode)
    drops = [layer for layer in net.layers.values() if isinstance(layer, Dropout)]
    assert len(drops) == 2

    def reseed():  # the same masks on every pass
        for k, layer in enumerate(drops):
            layer.rng = np.random.default_rng(100 + k)

    reseed()
    grads = net.gradient(x, t)
    for key, p in net.params.items():
        def loss(_):
            reseed()
            return net.loss(x, t, train_flg=True)
        assert _rel_err(grads[key], numerical_gradient(loss, p, h=1e-6)) < 1e-6, key


def test_textbook_layer_names_and_fused_path():
    net = MultiLayerNetExtend(4, [3, 3], 2, use_batchnorm=True, use_dropout=True)
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Activation_function1", "Dropout1",
                                "Affine2", "BatchNorm2", "Activation_function2", "Dropout2",
                                "Affine3"]
    assert net.layers["Affine1"].activation == "identity"
    plain = MultiLayerNetExtend(4, [3, 3], 2, use_dropout=True)
    assert list(plain.layers) == ["Affine1", "Dropout1", "Affine2", "Dropout2", "Affine3"]
    assert plain.layers["Affine1"].activation == "relu"  # fused Affine + ReLU


def test_multilayernet_is_the_plain_extend_net(rng):
    x, t = _batch(rng, d=6, c=3)
    a = MultiLayerNet(6, [5, 4], 3, dtype=np.float64, seed=3)
    b = MultiLayerNetExtend(6, [5, 4], 3, dtype=np.float64, seed=3)
    assert list(a.layers) == ["Affine1", "Affine2", "Affine3"]
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    ga, gb = a.gradient(x, t), b.gradient(x, t)
    for key in ga:
        np.testing.assert_array_equal(ga[key], gb[key])
    np.testing.assert_array_equal(a.predict(x), b.predict(x, train_flg=False))


def test_train_and_inference_modes(rng):
    x, t = _batch(rng, n=20)
    net = MultiLayerNetExtend(5, [6], 4, use_batchnorm=True, use_dropout=True, dtype=np.float64,
                              seed=4)
    bn = net.layers["BatchNorm1"]
    before = bn.running_mean.copy()
    p1, p2 = net.predict(x), net.predict(x)
    np.testing.assert_array_equal(p1, p2)                 # inference is deterministic
    np.testing.assert_array_equal(bn.running_mean, before)  # ... and changes no statistics
    net.predict(x, train_flg=True)
    assert not np.array_equal(bn.running_mean, before)
    grads = net.gradient(x, t)
    assert all(g is not net.params[k] for k, g in grads.items())
    assert net.accuracy(x, t) == net.accuracy(x, t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(rng, dtype):
    x, t = _batch(rng)
    net = MultiLayerNetExtend(5, [4], 4, use_batchnorm=True, use_dropout=True, dtype=dtype, seed=0)
    assert all(p.dtype == dtype for p in net.params.values())
    assert all(g.dtype == dtype for g in net.gradient(x.astype(dtype), t).values())


def test_seed_reproduces_weights_and_masks(rng):
    x, t = _batch(rng)
    nets = [MultiLayerNetExtend(5, [6, 6], 4, use_dropout=True, dtype=np.float64, seed=9)
            for _ in range(2)]
    g = [n.gradient(x, t) for n in nets]
    for key in g[0]:
        np.testing.assert_array_equal(g[0][key], g[1][key])


class TestBadInput:
    def test_bad_dropout_ratio(self):
        with pytest.raises(ValueError, match="dropout_ration"):
            MultiLayerNetExtend(4, [3], 2, use_dropout=True, dropout_ration=1.0)

    def test_bad_weight_decay(self):
        with pytest.raises(ValueError, match="weight_decay_lambda"):
            MultiLayerNetExtend(4, [3], 2, weight_decay_lambda=-1)

    def test_batchnorm_batch_of_one_warns(self):
        net = MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, dtype=np.float64, seed=0)
        with pytest.warns(RuntimeWarning, match="batch of one"):
            grads = net.gradient(np.ones((1, 4)), [1])
        assert all(np.all(np.isfinite(g)) for g in grads.values())
        assert net.predict(np.ones((1, 4))).shape == (1, 2)

    def test_wrong_input(self):
        net = MultiLayerNetExtend(4, [3], 2, use_batchnorm=True)
        with pytest.raises(ValueError, match=r"x \(flattened\)"):
            net.predict(np.ones((2, 5), np.float32))
        with pytest.raises(TypeError, match="float64"):
            net.predict(np.ones((2, 4)))


# -- qualitative, on the MNIST sample --------------------------------------------

@pytest.fixture(scope="module")
def mnist_sample():
    datasets = pytest.importorskip("fastnet.datasets")
    return datasets.load_mnist(normalize=True, sample=True)


def test_batchnorm_trains_where_plain_does_not(mnist_sample):
    from fastnet.experiments.batchnorm import train_pair
    (x_train, t_train), _ = mnist_sample
    bn_acc, acc = train_pair(x_train[:1000], t_train[:1000], 0.01, epochs=8, seed=0)
    assert bn_acc[-1] > 0.6
    assert acc[-1] < 0.2


@pytest.mark.parametrize("name", ["batchnorm", "overfit"])
def test_experiments_quick(tmp_path, name):
    from fastnet.experiments import get_experiment
    result = get_experiment(name).run(tmp_path, quick=True)
    assert result["final"] and all(path.exists() for path in result["files"])


@pytest.mark.parametrize("name, value", [
    ("weight_decay_lambda", 0.1), ("dropout_ration", 0.2), ("use_dropout", True),
    ("use_batchnorm", True), ("activation", "tanh"), ("activation_param", 0.1),
    ("dropout_mode", "inverted"),
])
def test_construction_settings_are_read_only(name, value):
    """The net hands these to its layers when it builds them: assigning one later would
    change nothing (the textbook reads weight_decay_lambda in every loss), so it fails
    loudly and the net keeps its value and its loss."""
    net = MultiLayerNetExtend(4, [3], 2, use_dropout=True, seed=0)
    x, t = np.ones((2, 4), np.float32), np.array([0, 1])
    before, loss = getattr(net, name), net.loss(x, t)
    with pytest.raises(AttributeError, match=f"MultiLayerNetExtend.{name} is fixed when the "
                                             f"net is built .* build a new net with {name}="):
        setattr(net, name, value)
    assert getattr(net, name) == before and net.loss(x, t) == loss
