"""Sequential: layers mixed by hand, shape checks, naming, state, pickling, float64 numerical gradients."""
import copy
import json
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import fastnet
from fastnet import MultiLayerNet, MultiLayerNetExtend, Sequential
from fastnet.gradient import numerical_gradient
from fastnet.layers import (
    LAYERS,
    Activation,
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    SoftmaxWithLoss,
    Tanh,
)
from fastnet.optim import SGD


def _mixed(dtype=np.float64, backend="compiled", seed=0, ratio=0.2):
    rng = np.random.default_rng(seed)
    return Sequential([
        Affine.create(6, 8, weight_init=0.5, rng=rng, dtype=dtype, backend=backend),
        BatchNormalization.create(8, dtype=dtype, backend=backend),
        Tanh(backend=backend),
        Dropout(ratio, rng=rng, backend=backend),
        Affine.create(8, 4, weight_init=0.5, bias_init=0.1, rng=rng, dtype=dtype,
                      backend=backend),
    ])


def _data(n=10, d=6, c=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


def test_mixed_layers_names_and_live_params():
    net = _mixed()
    assert list(net.layers) == ["Affine1", "BatchNormalization1", "Tanh1", "Dropout1", "Affine2"]
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    assert list(net.buffers) == ["running_mean1", "running_var1"]
    assert net.params["W2"] is net.layers["Affine2"].W
    assert net.buffers["running_var1"] is net.layers["BatchNormalization1"].running_var
    assert net.input_shape == (6,) and net.output_shape == (4,)
    assert net.record == ["Tanh1"]


@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_mixed_layers_gradient_check_float64(backend):
    net = _mixed(backend=backend)
    x, t = _data()
    drop = net.layers["Dropout1"]

    def reseed():  # the same dropout mask on every pass
        drop.rng = np.random.default_rng(7)

    reseed()
    grads = net.gradient(x, t)
    assert list(grads) == list(net.params)
    for key, p in net.params.items():
        def loss(_):
            reseed()
            return net.loss(x, t, train_flg=True)
        numeric = numerical_gradient(loss, p, h=1e-6)
        err = np.abs(grads[key] - numeric).max() / max(np.abs(numeric).max(), 1e-3)
        assert err < 1e-6, key


def test_mixed_layers_train():
    net = _mixed(dtype=np.float32, ratio=0.1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    t = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    opt = SGD(lr=0.3)
    before = net.loss(x, t)
    for _ in range(200):
        opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < 0.5 * before
    assert net.accuracy(x, t) > 0.8


def test_unfused_activation_equals_fused():
    fused = MultiLayerNet(5, [7, 6], 3, "sigmoid", dtype=np.float64, seed=4)
    layers = []
    for i in (1, 2, 3):
        W, b = fused.params[f"W{i}"].copy(), fused.params[f"b{i}"].copy()
        layers.append(Affine(W, b))
        if i < 3:
            layers.append(Activation("sigmoid"))
    plain = Sequential(layers)
    x, t = _data(d=5, c=3)
    np.testing.assert_allclose(plain.predict(x), fused.predict(x), rtol=1e-14)
    g_plain, g_fused = plain.gradient(x, t), fused.gradient(x, t)
    for key in fused.params:
        np.testing.assert_allclose(g_plain[key], g_fused[key], rtol=1e-12, atol=1e-15)


def test_callers_arrays_untouched():
    net = Sequential([Relu(), Affine.create(4, 4, dtype=np.float64), Relu(),
                      Affine.create(4, 3, dtype=np.float64)])
    x = np.random.default_rng(0).standard_normal((5, 4))
    saved = x.copy()
    net.gradient(x, np.array([0, 1, 2, 0, 1]))
    net.predict(x)
    np.testing.assert_array_equal(x, saved)


@pytest.mark.parametrize("layers,match", [
    (lambda: [Affine.create(4, 5), BatchNormalization.create(6)],
     r"layer 'BatchNormalization1' \(BatchNormalization of 6 features\) cannot take the output "
     r"of layer 'Affine1' \(Affine 4 -> 5\) of shape \(N, 5\)"),
    (lambda: [Affine.create(4, 5), Relu(), Affine.create(3, 2)],
     r"layer 'Affine2' \(Affine 3 -> 2\) cannot take the output of layer 'Relu1'.*\(N, 5\)"),
])
def test_shapes_that_do_not_fit_are_rejected(layers, match):
    with pytest.raises(ValueError, match=match):
        Sequential(layers())


def test_bad_construction():
    a = Affine.create(3, 2)
    with pytest.raises(ValueError, match="appears twice"):
        Sequential([a, Relu(), a])
    with pytest.raises(TypeError, match="must be a fastnet layer"):
        Sequential([a, "relu"])
    with pytest.raises(TypeError, match="not a loss"):
        Sequential([a, SoftmaxWithLoss()])
    with pytest.raises(TypeError, match="loss must be"):
        Sequential([Affine.create(3, 2)], loss=Relu())
    with pytest.raises(TypeError, match="one dtype"):
        Sequential([Affine.create(3, 2), Affine.create(2, 2, dtype=np.float64)])
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential([])
    with pytest.raises(ValueError, match="output shape is unknown"):
        Sequential([Relu()])
    with pytest.raises(ValueError, match="record names layer 'Nope'"):
        Sequential([Affine.create(3, 2)], record=["Nope"])


def test_input_checked_against_the_chain():
    net = Sequential([Relu(), Affine.create(6, 2, dtype=np.float64)])
    assert net.predict(np.ones((3, 2, 3))).shape == (3, 2)  # flattened by the Affine
    with pytest.raises(ValueError, match=r"does not fit layer 'Affine1'"):
        net.predict(np.ones((3, 5)))


# -- state ----------------------------------------------------------------------------------

def _extend(seed=5, **kw):
    kw = dict(use_batchnorm=True, use_dropout=True, dropout_ration=0.3, dtype=np.float64,
              seed=seed) | kw
    return MultiLayerNetExtend(6, [8, 7], 4, "tanh", weight_init_std=0.4, **kw)


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["config"] == sb["config"]
    assert sa["extra"] == sb["extra"]
    for group in ("params", "buffers"):
        assert list(sa[group]) == list(sb[group])
        for key in sa[group]:
            np.testing.assert_array_equal(sa[group][key], sb[group][key])


def _train_a_little(net, steps=3):
    x, t = _data()
    x = x.astype(net.dtype)
    opt = SGD(0.1)
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))


@pytest.mark.parametrize("make", [_extend, _mixed,
                                  lambda: MultiLayerNet(6, [5], 4, seed=1, dtype=np.float32)])
@pytest.mark.parametrize("how", ["from_state", "pickle", "deepcopy"])
def test_round_trip_gives_an_equal_independent_net(make, how):
    net = make()
    _train_a_little(net)
    state = net.state_dict()
    json.dumps(state["config"]), json.dumps(state["extra"])  # plain data
    clone = {"from_state": lambda: Sequential.from_state(state),
             "pickle": lambda: pickle.loads(pickle.dumps(net)),
             "deepcopy": lambda: copy.deepcopy(net)}[how]()
    assert type(clone) is type(net)
    _assert_same_state(net, clone)
    x, t = _data()
    x = x.astype(net.dtype)
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    # the same dropout masks and batch statistics from here on
    np.testing.assert_array_equal(clone.predict(x, train_flg=True), net.predict(x, train_flg=True))
    gc, gn = clone.gradient(x, t), net.gradient(x, t)
    for key in gn:
        np.testing.assert_array_equal(gc[key], gn[key])
    # independent: changing the clone leaves the original alone
    first = next(iter(clone.params))
    clone.params[first] += 1
    assert not np.array_equal(clone.params[first], net.params[first])


def test_builder_attributes_survive_round_trip():
    net = pickle.loads(pickle.dumps(_extend()))
    assert isinstance(net, MultiLayerNetExtend)
    assert (net.hidden_size_list, net.activation, net.use_batchnorm, net.dropout_ration) == \
        ([8, 7], "tanh", True, 0.3)
    assert list(net.params)[:2] == ["W1", "b1"] and net.last_layer is net.loss_layer


def _broken_states(state):
    def edit(fn):
        s = copy.deepcopy(state)
        fn(s)
        return s
    yield "missing", edit(lambda s: s["params"].pop("W2")), ValueError, r"missing keys \['W2'\]"
    yield "extra", edit(lambda s: s["params"].__setitem__("W9", s["params"]["W1"])), \
        ValueError, r"unexpected keys \['W9'\]"
    yield "shape", edit(lambda s: s["params"].__setitem__("b1", np.zeros(3))), \
        ValueError, r"params\['b1'\] must have shape \(8,\)"
    yield "dtype", edit(lambda s: s["buffers"].__setitem__(
        "running_var1", s["buffers"]["running_var1"].astype(np.float32))), \
        ValueError, r"buffers\['running_var1'\] must have shape \(8,\) and dtype float64"
    yield "not an array", edit(lambda s: s["params"].__setitem__("W1", [[0.0]])), \
        TypeError, r"params\['W1'\] must be a numpy array"
    yield "params not a dict", edit(lambda s: s.__setitem__("params", [1])), TypeError, \
        "params must be a dict"
    yield "unknown layer", edit(lambda s: s["extra"].__setitem__("Nope", {})), ValueError, \
        "extra must map layer names"
    yield "bad rng", edit(lambda s: s["extra"]["Dropout2"].__setitem__("rng", {"x": 1})), \
        ValueError, "Dropout extra state 'rng'"


@pytest.mark.parametrize("case", range(8))
def test_load_state_dict_rejects_and_leaves_net_unchanged(case):
    net = _extend()
    _train_a_little(net)
    good = net.state_dict()
    other = _extend(seed=9)
    name, state, exc, match = list(_broken_states(good))[case]
    before = copy.deepcopy(other.state_dict())
    with pytest.raises(exc, match=match):
        other.load_state_dict(state)
    _assert_same_state_dicts(before, other.state_dict())
    other.load_state_dict(good)
    _assert_same_state(other, net)


@pytest.mark.parametrize("layer,value", [("Affine1", None), ("Affine1", []), ("Affine1", 5),
                                         ("Dropout1", None), ("Dropout1", 5), ("Dropout1", ["rng"])])
def test_extra_state_must_be_a_dict(layer, value):
    # found by tests/test_fuzz_nets.py: None or [] passed as a layer's (empty) extra
    # state, and 5 was a TypeError from sorted()/set() that named nothing
    net = _extend()
    before = copy.deepcopy(net.state_dict())
    state = net.state_dict()
    state["extra"][layer] = value
    with pytest.raises(ValueError, match="extra state.*got " + re.escape(repr(value))):
        net.load_state_dict(state)
    _assert_same_state_dicts(before, net.state_dict())


def _assert_same_state_dicts(sa, sb):
    assert sa["extra"] == sb["extra"]
    for group in ("params", "buffers"):
        for key in sa[group]:
            np.testing.assert_array_equal(sa[group][key], sb[group][key])


def test_load_state_keeps_array_identity():
    net, other = _extend(), _extend(seed=2)
    W1 = net.params["W1"]
    net.load_state_dict(other.state_dict())
    assert net.params["W1"] is W1 and net.layers["Affine1"].W is W1
    np.testing.assert_array_equal(W1, other.params["W1"])


def test_from_config_errors():
    with pytest.raises(ValueError, match="'class' key"):
        Sequential.from_config({"layers": []})
    with pytest.raises(ValueError, match="unknown net class 'Foo'"):
        Sequential.from_config({"class": "Foo"})
    with pytest.raises(ValueError, match="unknown layer type 'Conv'"):
        Sequential.from_config({"class": "Sequential", "layers": [
            {"name": "c", "config": {"type": "Conv", "config": {}}}], "loss": {},
            "input_shape": None, "dtype": "float32", "record": []})


@pytest.mark.parametrize("entry, error, match", [
    # a list as the type was "unhashable type: 'list'"
    ({"type": ["Affine"], "config": {}}, ValueError, r"unknown layer type \['Affine'\]"),
    # a list as the config was "cannot convert dictionary update sequence element #0"
    ({"type": "Affine", "config": [1]}, TypeError,
     "'config' of layer type 'Affine' must be a dict"),
    # an Affine config without its dtype (a hand-edited file) was a KeyError
    ({"type": "Affine", "config": {"input_size": 3}}, ValueError,
     r"an Affine configuration needs \['dtype', 'output_size'\]"),
])
def test_layer_from_config_errors(entry, error, match):
    from fastnet.layers._base import layer_from_config

    with pytest.raises(error, match=match):
        layer_from_config(entry)


@pytest.mark.parametrize("kind", ["Affine", "BatchNormalization", "Dropout", "Relu",
                                  "SoftmaxWithLoss"])
def test_every_layer_round_trips(kind):
    layer = {"Affine": lambda: Affine.create(3, 2, rng=0, activation="tanh", weight_decay=0.1),
             "BatchNormalization": lambda: BatchNormalization.create(3, convention="torch"),
             "Dropout": lambda: Dropout(0.25, "inverted", rng=3),
             "Relu": Relu, "SoftmaxWithLoss": SoftmaxWithLoss}[kind]()
    assert LAYERS[kind] is type(layer)
    clone = pickle.loads(pickle.dumps(layer))
    assert clone.config() == layer.config()
    for group in ("params", "buffers"):
        for key, value in getattr(layer, group).items():
            np.testing.assert_array_equal(getattr(clone, group)[key], value)
    assert clone.extra_state() == layer.extra_state()


# -- numerical gradients in float64 --------------------------------------------------------

def test_numerical_gradient_of_a_float32_net_is_float64_accurate():
    """The textbook's batch-norm gradient check: differences near 1e-7, not 1e-4."""
    rng = np.random.default_rng(0)
    x = rng.random((3, 20)).astype(np.float32)
    t = rng.integers(0, 10, 3)
    net = MultiLayerNetExtend(20, [15, 12], 10, use_batchnorm=True, weight_init_std=0.3, seed=2)
    running = {k: v.copy() for k, v in net.buffers.items()}
    numeric = net.numerical_gradient(x, t)
    for k, v in running.items():  # numerical_gradient leaves the net alone
        np.testing.assert_array_equal(net.buffers[k], v)
    backprop = net.gradient(x, t)
    shadow = MultiLayerNetExtend(20, [15, 12], 10, use_batchnorm=True, dtype=np.float64,
                                 weight_init_std=0.3, seed=2)
    shadow.load_state_dict({group: {k: v.astype(np.float64) for k, v in arrays.items()}
                            for group, arrays in (("params", net.params),
                                                  ("buffers", net.buffers))})
    exact = shadow.gradient(x.astype(np.float64), t)
    for key in net.params:
        assert numeric[key].dtype == np.float32
        # the float64 loss leaves only the central difference's own O(h^2) error ...
        assert np.abs(numeric[key] - exact[key]).mean() < 1e-6, key
        # ... so what remains against backprop is float32 rounding of backprop itself
        assert np.abs(numeric[key] - backprop[key]).mean() < 1e-6, key
    # what the float64 evaluation buys: the same differences taken on the float32 loss
    in_float32 = numerical_gradient(lambda _: net.loss(x, t, train_flg=True), net.params["W1"])
    assert np.abs(in_float32 - exact["W1"]).mean() > 30 * np.abs(numeric["W1"] - exact["W1"]).mean()


def test_submodules_after_import_fastnet(tmp_path):
    code = ("import fastnet; print(fastnet.optim.SGD.__name__, fastnet.init.he_normal.__name__, "
            "fastnet.layers.Affine.__name__, fastnet.datasets.load_mnist.__name__, "
            "fastnet.trainer.Trainer.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["SGD", "he_normal", "Affine", "load_mnist", "Trainer"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fastnet.nope  # noqa: B018


# -- activations from the registry -----------------------------------------------------------

def test_named_activation_layers_come_from_the_registry():
    from fastnet._activation import REGISTRY

    for spec in REGISTRY.values():
        cls = getattr(fastnet.layers, spec.class_name)
        assert LAYERS[spec.class_name] is cls and issubclass(cls, Activation)
        layer = cls()
        assert layer.activation == spec.name
        assert pickle.loads(pickle.dumps(layer)).config() == layer.config()
    leaky = fastnet.layers.LeakyRelu(negative_slope=0.2)
    np.testing.assert_allclose(leaky.forward(np.array([[-1.0, 2.0]])), [[-0.2, 2.0]])
    assert fastnet.layers.Elu(0.5).config() == {"backend": "compiled", "alpha": 0.5}
    with pytest.raises(TypeError, match=r"LeakyRelu\(\) takes only negative_slope= and backend="):
        fastnet.layers.LeakyRelu(slope=0.2)
    with pytest.raises(TypeError, match=r"Relu\(\) takes only backend="):
        fastnet.layers.Relu(0.1)
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        fastnet.layers.LeakyRelu(-1.0)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_activation_param_reaches_every_layer_and_round_trips(batchnorm):
    x, t = _data(d=5, c=3)
    nets = [MultiLayerNetExtend(5, [6, 4], 3, "leaky_relu", weight_init_std=0.5,
                                use_batchnorm=batchnorm, dtype=np.float64, seed=0,
                                activation_param=slope) for slope in (0.01, 0.3)]
    assert not np.allclose(nets[0].predict(x), nets[1].predict(x))
    clone = pickle.loads(pickle.dumps(nets[1]))
    np.testing.assert_array_equal(clone.predict(x), nets[1].predict(x))
    grads = nets[1].gradient(x, t)
    numeric = nets[1].numerical_gradient(x, t)
    for key in grads:
        np.testing.assert_allclose(grads[key], numeric[key], atol=1e-7)
    with pytest.raises(ValueError, match="takes no parameter"):
        MultiLayerNet(5, [6], 3, "relu", activation_param=0.1)


def test_time_major_layers_are_rejected_in_a_net():
    from fastnet.layers.lstm import LSTM, LastStep

    with pytest.raises(ValueError, match=r"takes its samples on axis 1.*batch_first=True"):
        Sequential([LSTM(3, 4), LastStep(), Affine.create(4, 2)])
    net = Sequential([LSTM(3, 4, batch_first=True), LastStep(), Affine.create(4, 2)])
    assert net.predict(np.zeros((5, 7, 3), np.float32)).shape == (5, 2)


# -- robustness of the textbook layer API --------------------------------------------------

@pytest.mark.parametrize("make", [lambda: Affine.create(3, 2, activation="tanh", rng=0,
                                                        dtype=np.float64),
                                  lambda: BatchNormalization.create(3, dtype=np.float64),
                                  lambda: Activation("silu"), lambda: Tanh()])
def test_changing_inputs_or_outputs_between_forward_and_backward_changes_nothing(make):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal(make().forward(x).shape)
    clean = make()
    clean.forward(x.copy())
    want = clean.backward(dout)
    layer = make()
    y = layer.forward(x)
    x += 5.0
    y *= -3.0
    np.testing.assert_array_equal(layer.backward(dout), want)
    for key in layer.grads:
        np.testing.assert_array_equal(layer.grads[key], clean.grads[key])


def test_zero_d_inputs_and_bad_flags():
    for layer in (Relu(), Dropout(0.5, rng=0), Affine.create(1, 1)):
        with pytest.raises(ValueError, match="at least one sample"):
            layer.forward(np.float32(3.0))
    with pytest.raises(TypeError, match="use_dropout must be True or False"):
        MultiLayerNetExtend(3, [2], 2, use_dropout="no")
    loss = SoftmaxWithLoss()
    loss.forward(np.zeros((2, 3)), [0, 1])
    with pytest.raises(TypeError, match="dout must be a real number"):
        loss.backward(None)


def test_nan_outputs_count_as_wrong():
    net = MultiLayerNet(2, [3], 2, dtype=np.float64, seed=0)
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    right = net.accuracy(x, net.predict(x).argmax(axis=1))
    assert right == 1.0
    net.params["W2"][0, 0] = np.nan
    assert net.accuracy(x, np.zeros(2, int)) == 0.0


def test_params_and_grads_are_views_into_one_buffer_each():
    net = _mixed()
    values = {k: v.copy() for k, v in net.params.items()}
    bases = {id(v.base) for v in net.params.values()}
    assert len(bases) == 1
    base = next(iter(net.params.values())).base
    assert base.flags.c_contiguous and base.size == sum(v.size for v in net.params.values())
    for key, v in net.params.items():
        np.testing.assert_array_equal(v, values[key])
    # the layers see the same arrays the net (and its optimizer) updates in place
    assert net.layers["Affine1"].params["W"] is net.params["W1"]
    x, t = _data()
    grads = net.gradient(x, t)
    assert len({id(g.base) for g in grads.values()}) == 1
    gbase = next(iter(grads.values())).base
    for key, g in grads.items():
        assert g.shape == net.params[key].shape
        offset = (g.__array_interface__["data"][0] - gbase.__array_interface__["data"][0])
        p_offset = (net.params[key].__array_interface__["data"][0]
                    - base.__array_interface__["data"][0])
        assert offset == p_offset
    again = net.gradient(x, t)
    assert next(iter(again.values())).base is not gbase  # a new buffer per call


@pytest.mark.parametrize("value", ["no", None, 1, 0.0])
def test_train_flg_and_record_stats_on_must_be_booleans(value):
    # Read as truth values, train_flg='no' (or 1) ran batch norm on batch statistics,
    # updating the running ones, and drew dropout masks; record_stats('no') recorded.
    net = _extend()
    x = np.zeros((4, net.input_shape[0]))
    before = net.state_dict()
    with pytest.raises(TypeError, match="train_flg must be True or False"):
        net.predict(x, value)
    with pytest.raises(TypeError, match="train_flg must be True or False"):
        net.loss(x, np.zeros(4, np.int64), value)
    with pytest.raises(TypeError, match="train_flg must be True or False"):
        Dropout(0.5, rng=0).forward(x, value)
    with pytest.raises(TypeError, match="on must be True or False"):
        net.record_stats(value)
    after = net.state_dict()
    for key in before["buffers"]:
        np.testing.assert_array_equal(after["buffers"][key], before["buffers"][key])
    assert net.predict(x, np.bool_(False)).shape == (4, net.output_shape[0])


@pytest.mark.parametrize("input_shape, error, match", [
    ("4", TypeError, "input_shape must be a tuple of positive ints"),  # was read as (4,)
    ((-4,), ValueError, r"input_shape\[0\] must be a positive integer"),  # was accepted
    ((4.0,), TypeError, r"input_shape\[0\] must be an integer"),
    (4, TypeError, "input_shape must be a tuple"),
])
def test_input_shape_must_be_a_tuple_of_positive_ints(input_shape, error, match):
    with pytest.raises(error, match=match):
        Sequential([Relu()], input_shape=input_shape, dtype=np.float32)


def test_a_net_whose_layer_was_built_into_a_later_net_refuses_to_run():
    # The later net's parameter buffer takes the layer's parameters; the first net's
    # params (and its optimizer's updates) no longer reached the layer, silently.
    shared = Affine.create(6, 4, rng=0)
    first = Sequential([shared, Affine.create(4, 3, rng=1)])
    later = Sequential([shared, Affine.create(4, 3, rng=2)])
    x, t = np.ones((2, 6), np.float32), np.array([0, 2])
    with pytest.raises(RuntimeError, match="layer 'Affine1' was built into another net"):
        first.gradient(x, t)
    later.params["W1"] -= later.gradient(x, t)["W1"]
    assert np.shares_memory(later.params["W1"], shared.params["W"])


def test_layers_of_a_net_that_is_gone_may_build_a_new_one():
    import gc
    layers = [Affine.create(6, 4, rng=0), Affine.create(4, 3, rng=1)]
    net = Sequential(layers)
    x = np.ones((2, 6), np.float32)
    expected = net.predict(x)
    del net
    gc.collect()
    np.testing.assert_array_equal(Sequential(layers).predict(x), expected)


@pytest.mark.parametrize("cls", [SGD, fastnet.optim.Adam], ids=lambda c: c.__name__)
def test_an_optimizer_given_the_arrays_a_net_copied_raises(cls):
    # The textbook builds its layers from a params dict and updates that dict. A net copies
    # the layers' arrays into its parameter buffer, so updating the dict trained nothing
    # (the loss stayed put, silently). Now a ValueError naming the entry and the fix.
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((6, 4)).astype(np.float32), "b1": np.zeros(4, np.float32),
              "W2": rng.standard_normal((4, 3)).astype(np.float32), "b2": np.zeros(3, np.float32)}
    net = Sequential([Affine(params["W1"], params["b1"], "relu"), Affine(params["W2"], params["b2"])])
    x, t = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)
    before, opt = {k: v.copy() for k, v in params.items()}, cls(lr=0.01)
    with pytest.raises(ValueError, match=re.escape(
            "params['W1'] is the array layer 'Affine1' was built with as 'W', which a net copied "
            "into its parameter buffer as net.params['W1']") + ".*opt.update\\(net.params, grads\\)"):
        opt.update(params, net.gradient(x, t))
    for key, value in params.items():
        np.testing.assert_array_equal(value, before[key])
    one = {"W2": params["W2"]}  # one array alone takes the one-call path
    with pytest.raises(ValueError, match=re.escape("params['W2'] is the array layer 'Affine2'")):
        opt.update(one, {"W2": np.ones_like(params["W2"])})
    loss = net.loss(x, t)
    opt.update(net.params, net.gradient(x, t))
    assert net.loss(x, t) < loss
    alone = Affine(params["W2"], params["b2"])  # a layer of its own computes with them again
    alone.forward(x[:, :4])
    alone.backward(np.ones((8, 3), np.float32))
    cls(lr=0.01).update({"W": params["W2"], "b": params["b2"]}, alone.grads)
    assert not np.array_equal(params["W2"], before["W2"])


def test_a_net_batch_member_whose_layer_a_later_net_took_refuses_a_shared_batch():
    # A shared batch is converted once (by member 0) and only shape-checked for the
    # others: the refusal must sit in that per-member check, not in the conversion.
    members = [MultiLayerNet(6, [4], 3, seed=s) for s in (0, 1)]
    batch = fastnet.NetBatch(members, optimizers=[SGD(lr=0.1), SGD(lr=0.1)])
    Sequential([members[1].layers["Affine1"], Affine.create(4, 3, rng=2)])
    with pytest.raises(RuntimeError, match="layer 'Affine1' was built into another net"):
        batch.step(np.ones((2, 6), np.float32), np.array([0, 2]))
