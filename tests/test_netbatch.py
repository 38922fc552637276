"""NetBatch: members train as they would alone; gradients; bad input; state."""
import pickle

import numpy as np
import pytest

from fastnet import MultiLayerNet, MultiLayerNetExtend, NetBatch, Sequential
from fastnet.layers import Affine
from fastnet._program import GRADIENT, compiled_pass
from fastnet.optim import OPTIMIZERS, SGD, Adam, make_optimizer
from fastnet.optim.schedules import ExponentialDecay, LRScheduler
from numerics import DTYPES

K, D, HIDDEN, C, N = 3, 12, [9, 7], 4, 10
LRS = [0.01, 0.03, 0.002]


def _make(kind, dtype=np.float32):
    """``make_net(i, seed)`` for NetBatch.build: members that differ where the shape rule allows."""
    def make_net(i, seed):
        if kind == "plain":
            return MultiLayerNet(D, HIDDEN, C, activation=("relu", "tanh", "sigmoid")[i % 3],
                                 weight_decay_lambda=0.01 * i, dtype=dtype, seed=seed)
        # batch norm on for members 1, 2 ...; dropout everywhere, a ratio per member
        return MultiLayerNetExtend(D, HIDDEN, C, use_batchnorm=i % 2 == 1, use_dropout=True,
                                   dropout_ration=0.1 + 0.1 * i, dtype=dtype, seed=seed)
    return make_net


def _member_seed(seed, i):
    # NetBatch.build's documented seeding for an int seed
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


def _batches(steps, k=K, dtype=np.float32, seed=0):
    """``steps`` lists of k (x, t) pairs: per-member batches, member i's at ``[step][i]``."""
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal((N, D)).astype(dtype), rng.integers(0, C, N))
             for _ in range(k)] for _ in range(steps)]


def _assert_same_net(a, b):
    for group in ("params", "buffers"):
        x, y = getattr(a, group), getattr(b, group)
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=f"{group}[{key!r}]")


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["plain", "bn_dropout"])
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per_member"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_member_equals_solo_training(optimizer, kind, shared, dtype):
    steps = _batches(4, dtype=dtype)
    batch = NetBatch.build(K, _make(kind, dtype), optimizer, lr=LRS,
                           weight_decay=[0.0, 1e-3, 0.0], seed=7)
    solo = [_make(kind, dtype)(i, _member_seed(7, i)) for i in range(K)]
    opts = [make_optimizer(optimizer, lr=LRS[i], weight_decay=[0.0, 1e-3, 0.0][i])
            for i in range(K)]
    for pairs in steps:
        if shared:
            pairs = [pairs[0]] * K
            losses = batch.step(*pairs[0])
        else:
            losses = batch.step([x for x, _ in pairs], [t for _, t in pairs])
        assert losses.dtype == np.float64 and losses.shape == (K,)
        for i, (net, opt, (x, t)) in enumerate(zip(solo, opts, pairs)):
            opt.update(net.params, net.gradient(x, t))
            assert losses[i] == net.last_loss
    for i in range(K):
        assert batch[i] is batch.nets[i]
        _assert_same_net(batch[i], solo[i])
        assert batch[i].state_dict()["extra"] == solo[i].state_dict()["extra"]  # dropout streams
        for key, st in opts[i].state.items():
            for name, value in st.items():
                np.testing.assert_array_equal(batch.optimizers[i].state[key][name], value)
    # the members moved apart: their own hyperparameters and streams were used
    assert not np.array_equal(batch[0].params["W2"], batch[1].params["W2"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_net_t_members_equal_solo_to_tolerance_at_the_default_threads(optimizer):
    """Members of net T's shapes: their GEMMs run on one BLAS thread each, which
    OpenBLAS rounds differently from its two-thread GEMM for 100x784x100, so
    members trained in the batch equal solo nets to float32's tolerance (and
    bit for bit on one thread: tests/test_experiments_netbatch.py)."""
    rng = np.random.default_rng(5)
    x = rng.random((100, 784), dtype=np.float32)
    t = rng.integers(0, 10, 100)
    sizes = ([100] * 4, 10)

    def make_net(i, seed):
        return MultiLayerNet(784, *sizes, seed=seed)

    batch = NetBatch.build(4, make_net, optimizer, seed=11)
    solo = [make_net(i, _member_seed(11, i)) for i in range(4)]
    opts = [make_optimizer(optimizer) for _ in range(4)]
    for _ in range(5):
        losses = batch.step(x, t)
        for i, (net, opt) in enumerate(zip(solo, opts)):
            opt.update(net.params, net.gradient(x, t))
            np.testing.assert_allclose(losses[i], net.last_loss, rtol=1e-5)
    for member, net in zip(batch, solo):
        for key, value in net.params.items():
            np.testing.assert_allclose(member.params[key], value, rtol=1e-4, atol=1e-6,
                                       err_msg=key)


def test_stacked_array_is_per_member():
    steps = _batches(1)[0]
    xs = np.stack([x for x, _ in steps])
    ts = np.stack([t for _, t in steps])
    a = NetBatch.build(K, _make("plain"), "sgd", lr=0.1, seed=1)
    b = NetBatch.build(K, _make("plain"), "sgd", lr=0.1, seed=1)
    np.testing.assert_array_equal(a.step(xs, ts), b.step(list(xs), list(ts)))
    for i in range(K):
        _assert_same_net(a[i], b[i])


def test_per_member_batch_sizes_may_differ():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((n, D)).astype(np.float32) for n in (4, 9, 1)]
    ts = [rng.integers(0, C, len(x)) for x in xs]
    batch = NetBatch.build(K, _make("plain"), "adam", seed=0)
    grads = batch.gradients(xs, ts)
    for net, g, x, t in zip(batch, grads, xs, ts):
        expected = net.gradient(x, t)
        for key in expected:
            np.testing.assert_array_equal(g[key], expected[key])


def test_gradient_check_float64_three_members():
    """Each member's backpropagated gradients against central differences."""
    rng = np.random.default_rng(11)
    nets = [MultiLayerNet(6, [5, 5], 3, activation="tanh", dtype=np.float64, seed=1,
                          weight_decay_lambda=0.05),
            MultiLayerNetExtend(6, [5, 5], 3, use_batchnorm=True, dtype=np.float64, seed=2),
            MultiLayerNet(6, [5, 5], 3, activation="sigmoid", dtype=np.float64, seed=3)]
    for net in nets:
        for p in net.params.values():
            p += 0.05 * rng.standard_normal(p.shape)  # non-zero biases, gamma != 1
    batch = NetBatch(nets)
    x = rng.standard_normal((5, 6))
    t = rng.integers(0, 3, 5)
    for xs, ts in ((x, t), ([x, 2 * x, -x], [t, t[::-1], t])):
        grads = batch.gradients(xs, ts)
        per_member = zip(xs, ts) if isinstance(xs, list) else [(x, t)] * 3
        for i, (net, g, (xi, ti)) in enumerate(zip(nets, grads, per_member)):
            numeric = net.numerical_gradient(xi, ti)
            assert g.keys() == numeric.keys() == net.params.keys()
            for key in g:
                # the floor: b1 before batch norm has a zero gradient, where the
                # central difference leaves rounding noise of ~1e-11
                err = np.abs(g[key] - numeric[key]).max() / max(
                    np.abs(g[key]).max(), np.abs(numeric[key]).max(), 1e-3)
                assert err < 1e-6, (i, key, err)


def test_predict_loss_accuracy_per_member():
    rng = np.random.default_rng(5)
    batch = NetBatch.build(K, _make("bn_dropout"), "sgd", lr=0.1, seed=3)
    x, t = rng.standard_normal((N, D)).astype(np.float32), rng.integers(0, C, N)
    for _ in range(3):
        batch.step(x, t)  # members' running statistics and weights now differ
    logits = batch.predict(x)
    losses, accs = batch.loss(x, t), batch.accuracy(x, t)
    assert losses.shape == accs.shape == (K,) and accs.dtype == np.float64
    for i, net in enumerate(batch):
        np.testing.assert_array_equal(logits[i], net.predict(x))
        assert losses[i] == net.loss(x, t)
        assert accs[i] == net.accuracy(x, t)
    assert len({float(v) for v in losses}) == K


def test_sequence_slicing_and_repr():
    batch = NetBatch.build(4, _make("plain"), ["sgd", "adam", "momentum", "adagrad"], seed=0)
    assert len(batch) == 4 and list(batch) == batch.nets
    assert batch[-1] is batch.nets[3]
    part = batch[1:3]
    assert isinstance(part, NetBatch) and part.nets == batch.nets[1:3]
    assert part.optimizers[0] is batch.optimizers[1]
    assert [type(o).__name__ for o in batch.optimizers] == ["SGD", "Adam", "Momentum", "AdaGrad"]
    assert "k=4" in repr(batch)


def test_int_seed_gives_independent_member_streams():
    batch = NetBatch.build(2, _make("plain"), seed=0)
    assert not np.array_equal(batch[0].params["W1"], batch[1].params["W1"])
    again = NetBatch.build(2, _make("plain"), seed=0)
    for a, b in zip(batch, again):
        _assert_same_net(a, b)
    listed = NetBatch.build(2, _make("plain"), seed=[5, 5])
    _assert_same_net(listed[0], listed[1])


# -- bad input -----------------------------------------------------------------------------
def _nets(k=K, **kwargs):
    return [MultiLayerNet(D, HIDDEN, C, seed=i, **kwargs) for i in range(k)]


class TestBadMembers:
    @pytest.mark.parametrize("other, match", [
        (MultiLayerNet(D + 1, HIDDEN, C, seed=0), "members 0 and 2 differ in input_shape"),
        (MultiLayerNet(D, HIDDEN, C + 1, seed=0), "members 0 and 2 differ in output_shape"),
        (MultiLayerNet(D, HIDDEN, C, dtype=np.float64, seed=0), "members 0 and 2 differ in dtype"),
        (MultiLayerNet(D, [9, 8], C, seed=0), r"Affine layer shapes: 'Affine2' has W \(9, 7\)"),
        (MultiLayerNet(D, [9, 7, 7], C, seed=0), "differ in their Affine layers: 3 and 4"),
    ])
    def test_different_shapes(self, other, match):
        with pytest.raises(ValueError, match=match):
            NetBatch(_nets(2) + [other])

    def test_allowed_differences(self):
        nets = [MultiLayerNet(D, HIDDEN, C, activation="tanh", weight_decay_lambda=0.1),
                MultiLayerNetExtend(D, HIDDEN, C, use_batchnorm=True, use_dropout=True)]
        assert len(NetBatch(nets)) == 2

    def test_not_nets(self):
        with pytest.raises(TypeError, match=r"nets\[1\] must be a fastnet.Sequential"):
            NetBatch([_nets(1)[0], "net"])
        with pytest.raises(TypeError, match="nets must be a sequence"):
            NetBatch(_nets(1)[0])
        with pytest.raises(ValueError, match="at least one net"):
            NetBatch([])

    def test_shared_layer_or_generator(self):
        net = _nets(1)[0]
        with pytest.raises(ValueError, match="members 0 and 1 share a layer"):
            NetBatch([net, net])
        affine = net.layers["Affine1"]
        twin = Sequential([affine, Affine.create(*HIDDEN), Affine.create(HIDDEN[1], C)])
        with pytest.raises(ValueError, match="share a layer"):
            NetBatch([net, twin])
        gen = np.random.default_rng(0)
        dropped = [MultiLayerNetExtend(D, HIDDEN, C, use_dropout=True, seed=gen) for _ in range(2)]
        with pytest.raises(ValueError, match="members 0 and 1 share a random generator"):
            NetBatch(dropped)

    def test_optimizers(self):
        with pytest.raises(ValueError, match="optimizers has 2 entries; the batch has k=3"):
            NetBatch(_nets(), [SGD(), SGD()])
        opt = Adam()
        with pytest.raises(ValueError, match=r"optimizers\[0\] and optimizers\[2\] are the same"):
            NetBatch(_nets(), [opt, Adam(), opt])
        with pytest.raises(TypeError, match=r"optimizers\[1\] must have update"):
            NetBatch(_nets(), [SGD(), "sgd", SGD()])
        with pytest.raises(TypeError, match="optimizers must be a sequence of 3"):
            NetBatch(_nets(), "sgd")
        with pytest.raises(RuntimeError, match="step needs an optimizer per member"):
            NetBatch(_nets()).step(np.zeros((2, D), np.float32), np.zeros(2, int))


class TestBuildArguments:
    @pytest.mark.parametrize("kwargs, match", [
        (dict(lr=[0.1, 0.2]), "lr has 2 values; the batch has k=3 members"),
        (dict(weight_decay=np.zeros(4)), "weight_decay has 4 values; the batch has k=3"),
        (dict(seed=[1, 2]), "seed has 2 values; the batch has k=3"),
        (dict(optimizer=["sgd"] * 4), "optimizer has 4 values; the batch has k=3"),
    ])
    def test_wrong_length(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            NetBatch.build(3, _make("plain"), **kwargs)

    def test_bad_values(self):
        with pytest.raises(ValueError, match="optimizer of member 1: lr must be >= 0"):
            NetBatch.build(3, _make("plain"), lr=[0.1, -1.0, 0.1])
        with pytest.raises(ValueError, match="optimizer must be one of"):
            NetBatch.build(3, _make("plain"), optimizer="bogus")
        with pytest.raises(ValueError, match="k must be a positive integer"):
            NetBatch.build(0, _make("plain"))
        with pytest.raises(TypeError, match="make_net must be a callable"):
            NetBatch.build(2, None)
        with pytest.raises(TypeError, match=r"make_net\(0, seed\) must return a fastnet"):
            NetBatch.build(2, lambda i, seed: None)
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            NetBatch.build(2, _make("plain"), seed=-1)


class TestBadIndex:
    def test_out_of_range(self):
        batch = NetBatch(_nets())
        for index in (3, -4, 10):
            with pytest.raises(IndexError, match=r"out of range for a batch of 3 \(0 to 2"):
                batch[index]
        with pytest.raises(TypeError, match="integer or a slice"):
            batch[1.0]
        with pytest.raises(IndexError, match="selects no member"):
            batch[3:]


class TestBadInputs:
    def setup_method(self):
        self.batch = NetBatch(_nets(), [SGD(lr=0.1) for _ in range(K)])
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((N, D)).astype(np.float32)
        self.t = rng.integers(0, C, N)

    def _untouched(self, call):
        before = [net.state_dict() for net in self.batch]
        call()
        for net, state in zip(self.batch, before):
            for key, value in state["params"].items():
                np.testing.assert_array_equal(net.params[key], value)

    def test_wrong_lengths(self):
        x, t = self.x, self.t
        with pytest.raises(ValueError, match="x holds 2 per-member batches; the batch has k=3"):
            self.batch.step([x, x], [t, t])
        with pytest.raises(ValueError, match="t holds 4 per-member batches; the batch has k=3"):
            self.batch.step([x] * 3, [t] * 4)
        with pytest.raises(ValueError, match="x holds 2 per-member"):
            self.batch.step(np.stack([x, x]), np.stack([t, t]))
        with pytest.raises(ValueError, match="t must hold one label array per member"):
            self.batch.step([x] * 3, t)

    def test_mixed_dtypes_name_the_member(self):
        x, t = self.x, self.t

        def bad_x():
            with pytest.raises(TypeError, match=r"x\[1\]: x has dtype float64"):
                self.batch.step([x, x.astype(np.float64), x], [t] * 3)
        self._untouched(bad_x)

        def bad_t():
            with pytest.raises(ValueError, match=r"t\[2\]: t must have shape \(10,\)"):
                self.batch.step([x] * 3, [t, t, t[:5]])
        self._untouched(bad_t)

    def test_shared_batch_errors_name_x_and_t(self):
        with pytest.raises(TypeError, match="x has dtype float64"):
            self.batch.step(self.x.astype(np.float64), self.t)
        with pytest.raises(ValueError, match="x must have shape|x of shape|x .*13"):
            self.batch.step(np.zeros((N, D + 1), np.float32), self.t)
        with pytest.raises(ValueError, match=r"t holds class indices outside \[0, 4\)"):
            self.batch.step(self.x, self.t + C)

    @pytest.mark.parametrize("method", ["step", "gradients", "loss", "accuracy"])
    def test_t_none_is_named(self, method):
        # was "'NoneType' object is not iterable", from the loop over the members
        with pytest.raises(TypeError, match="t must be class indices .* got None"):
            getattr(self.batch, method)(self.x, None)


# -- state -----------------------------------------------------------------------------------
def _train(batch, steps):
    for pairs in steps:
        batch.step([x for x, _ in pairs], [t for _, t in pairs])


def test_state_dict_round_trip():
    steps = _batches(5)
    batch = NetBatch.build(K, _make("bn_dropout"), "adam", lr=LRS, seed=2)
    _train(batch, steps[:2])
    state = batch.state_dict()
    assert len(state["nets"]) == len(state["optimizers"]) == K
    _train(batch, steps[2:])
    after = [net.state_dict() for net in batch]
    batch.load_state_dict(state)
    _train(batch, steps[2:])
    for net, expected in zip(batch, after):
        for key, value in expected["params"].items():
            np.testing.assert_array_equal(net.params[key], value)
    # into a fresh batch of other initial weights
    fresh = NetBatch.build(K, _make("bn_dropout"), "adam", lr=0.5, seed=99)
    fresh.load_state_dict(state)
    _train(fresh, steps[2:])
    for a, b in zip(fresh, batch):
        _assert_same_net(a, b)
    assert [o.lr for o in fresh.optimizers] == LRS


def test_load_state_dict_is_all_or_nothing():
    batch = NetBatch.build(K, _make("plain"), "momentum", seed=4)
    _train(batch, _batches(1))
    before = batch.state_dict()
    other = NetBatch.build(K, _make("plain"), "momentum", seed=5).state_dict()
    other["nets"][2]["params"]["W1"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="member 2: .*W1"):
        batch.load_state_dict(other)
    for net, state in zip(batch, before["nets"]):
        for key, value in state["params"].items():
            np.testing.assert_array_equal(net.params[key], value)
    with pytest.raises(ValueError, match="list of 3 net states"):
        batch.load_state_dict({"nets": before["nets"][:2], "optimizers": None})
    with pytest.raises(TypeError, match="'nets' key"):
        batch.load_state_dict([])


def test_pickle_round_trip_continues_identically():
    steps = _batches(4)
    batch = NetBatch.build(K, _make("bn_dropout"), ["sgd", "rmsprop", "adamw"], lr=LRS,
                           seed=6)
    _train(batch, steps[:2])
    copy = pickle.loads(pickle.dumps(batch))
    assert [type(o) for o in copy.optimizers] == [type(o) for o in batch.optimizers]
    assert [type(n) for n in copy] == [type(n) for n in batch]
    _train(batch, steps[2:])
    _train(copy, steps[2:])
    for a, b in zip(copy, batch):
        _assert_same_net(a, b)


# -- the update remembered across steps (fastnet._program._recorded_update) ------------
def _set_lr_by_schedule(opt, net, state):
    scheduler = state.setdefault(id(opt), LRScheduler(opt, ExponentialDecay(0.5)))
    scheduler.step()


def _load_older_state(opt, net, state):
    # the optimizer state of an earlier step, loaded into the live optimizer
    opt.load_state_dict(state.setdefault(("saved", id(opt)), opt.state_dict()))


def _reset_state(opt, net, state):
    opt.state = {}


def _rebind_a_state_array(opt, net, state):
    st = opt.state["W1"] = dict(opt.state["W1"])  # a new dict (SGD's holds only the step)
    for name in opt._state_names[:1]:
        st[name] = st[name] * 0.5


def _desynchronise_steps(opt, net, state):
    opt.state["b1"]["step"] += 3  # per-array updates from now on


def _update_alone_in_between(opt, net, state):
    x, t = state["extra_batch"]
    opt.update(net.params, net.gradient(x, t))


def _load_net_state(opt, net, state):
    # new values copied into the same parameter arrays
    net.load_state_dict(state.setdefault(("net", id(net)), net.state_dict()))


def _rebind_a_net_param(opt, net, state):
    # the optimizer updates what net.params holds (here no longer the layer's array)
    net.params["W2"] = net.params["W2"].copy()


def _change_hyperparameters(opt, net, state):
    opt.weight_decay = 0.02
    opt.convention = "torch" if opt.convention == "textbook" else "textbook"


CHANGES = [_set_lr_by_schedule, _load_older_state, _reset_state, _rebind_a_state_array,
           _desynchronise_steps, _update_alone_in_between, _load_net_state,
           _rebind_a_net_param, _change_hyperparameters]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.lstrip("_"))
def test_changes_between_steps_reach_the_remembered_update(optimizer, change):
    """A step after changing a member's optimizer (its lr, hyperparameters or
    state) or its net equals solo training with the same change: the update
    the batch remembers from step to step is checked against each of them."""
    steps = _batches(7)
    rng = np.random.default_rng(1)
    extra = (rng.standard_normal((N, D)).astype(np.float32), rng.integers(0, C, N))
    batch = NetBatch.build(K, _make("plain"), optimizer, lr=LRS, seed=3)
    solo = [_make("plain")(i, _member_seed(3, i)) for i in range(K)]
    opts = [make_optimizer(optimizer, lr=LRS[i]) for i in range(K)]
    mine, theirs = {"extra_batch": extra}, {"extra_batch": extra}
    for s, pairs in enumerate(steps):
        if s in (2, 3, 5):  # member 1 changes; members 0 and 2 train on
            if s != 3:
                change(batch.optimizers[1], batch[1], mine)
                change(opts[1], solo[1], theirs)
        batch.step([x for x, _ in pairs], [t for _, t in pairs])
        for net, opt, (x, t) in zip(solo, opts, pairs):
            opt.update(net.params, net.gradient(x, t))
        if s == 1:  # the update is remembered from the second step on
            x, t = pairs[0]
            assert compiled_pass(batch[0], x, t, True, GRADIENT).fused_update is not None
    for i in range(K):
        _assert_same_net(batch[i], solo[i])
        assert batch.optimizers[i].state.keys() == opts[i].state.keys()
        for key, st in opts[i].state.items():
            for name, value in st.items():
                np.testing.assert_array_equal(batch.optimizers[i].state[key][name], value,
                                              err_msg=f"member {i} {key} {name}")


def test_a_replaced_member_optimizer_is_used():
    steps = _batches(4)
    batch = NetBatch.build(K, _make("plain"), "adam", lr=LRS, seed=8)
    solo = [_make("plain")(i, _member_seed(8, i)) for i in range(K)]
    opts = [make_optimizer("adam", lr=LRS[i]) for i in range(K)]
    for s, pairs in enumerate(steps):
        if s == 2:
            batch.optimizers[0] = SGD(lr=0.05)
            opts[0] = SGD(lr=0.05)
        batch.step([x for x, _ in pairs], [t for _, t in pairs])
        for net, opt, (x, t) in zip(solo, opts, pairs):
            opt.update(net.params, net.gradient(x, t))
    for i in range(K):
        _assert_same_net(batch[i], solo[i])
