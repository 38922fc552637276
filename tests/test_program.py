"""A net's pass in one compiled call (fastnet._program) equals the per-layer path bit for bit.

Each test builds two equal nets, one forced onto the per-layer path
(``net._use_program = False``), runs the same calls on both and compares
every result and every piece of state read afterwards with exact equality:
the program runs the kernels' own cores with the same arguments in the same
order, so any difference is a defect, not rounding.
"""
import inspect
import warnings

import numpy as np
import pytest
from forking import assert_forked_child_passes
from numerics import DTYPES

from fastnet import MultiLayerNet, MultiLayerNetExtend, kernels
from fastnet._activation import REGISTRY
from fastnet._program import GRADIENT, Plan, UpdatePlan
from fastnet.layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from fastnet.layers.activations import Activation, LeakyRelu, Relu
from fastnet.net import Sequential
from fastnet.optim import OPTIMIZERS, make_optimizer


def _pair(build):
    """(compiled net, per-layer net) from ``build()``, which must make equal nets."""
    fast, slow = build(), build()
    slow._use_program = False
    return fast, slow


def _state(net):
    """Everything a call may change that a user can read afterwards."""
    layers = {}
    for name, layer in list(net.layers.items()) + [("loss", net.loss_layer)]:
        layers[name] = {
            "grads": {k: v.copy() for k, v in layer.grads.items()},
            # what the latest pass cached (x, y, out, preact, dx, mask, batch statistics)
            "arrays": {k: v.copy() for k, v in vars(layer).items() if isinstance(v, np.ndarray)},
            "extra": layer.extra_state(),
        }
    return {"params": {k: v.copy() for k, v in net.params.items()},
            "buffers": {k: v.copy() for k, v in net.buffers.items()},
            "last_loss": net.last_loss, "loss_layer": getattr(net.loss_layer, "loss", None),
            "layers": layers}


def _assert_same(a, b, path="state"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for k, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{path}[{k}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b, err_msg=path, strict=True)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


def _grads_are_live(net, grads):
    """gradient() returns the layers' grads arrays, laid out in one new buffer."""
    for key, (layer, local) in net._param_slots.items():
        assert grads[key] is layer.grads[local]
    assert list(grads) == list(net.params)


def _data(net, n, rng, onehot=False, shape=None):
    x = rng.standard_normal((n,) + tuple(shape or net.input_shape)).astype(net.dtype)
    c = net.output_shape[-1]
    labels = rng.integers(0, c, n)
    return x, (np.eye(c, dtype=net.dtype)[labels] if onehot else labels)


def _exercise(build, batches=(8, 5, 8), onehot=False, shape=None, compiled=True):
    """Run every public pass on both nets with changing batch sizes, updating the
    parameters in between; compare results and state after every call."""
    fast, slow = _pair(build)
    rng = np.random.default_rng(1)
    opts = [make_optimizer("sgd", lr=0.1), make_optimizer("sgd", lr=0.1)]
    for n in batches:
        x, t = _data(fast, n, rng, onehot, shape)
        results = []
        for net, opt in zip((fast, slow), opts):
            out = {"grads": net.gradient(x, t)}
            _grads_are_live(net, out["grads"])
            out["after_gradient"] = _state(net)
            out["loss_eval"] = net.loss(x, t)
            out["loss_train"] = net.loss(x, t, train_flg=True)
            out["predict_eval"] = net.predict(x)
            out["predict_train"] = net.predict(x, train_flg=True)
            out["accuracy"] = net.accuracy(x, t)
            out["state"] = _state(net)
            opt.update(net.params, out["grads"])
            results.append(out)
        _assert_same(results[0], results[1])
    steps = list(fast._programs.values())
    assert steps and all((step is not None) is compiled for step in steps)
    assert slow._programs == {}
    return fast


def _textbook(**kwargs):
    defaults = dict(input_size=6, hidden_size_list=[5, 4, 3], output_size=3, seed=3)
    return lambda: MultiLayerNetExtend(**{**defaults, **kwargs})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("onehot", [False, True])
def test_multilayernet(dtype, onehot):
    _exercise(lambda: MultiLayerNet(6, [5, 4, 3], 3, seed=3, dtype=dtype), onehot=onehot)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [
    dict(weight_decay_lambda=0.1),
    dict(use_batchnorm=True),
    dict(use_dropout=True, dropout_ration=0.3),
    dict(use_dropout=True, dropout_mode="inverted"),
    dict(use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.05, activation="tanh"),
    dict(use_batchnorm=True, use_dropout=True, dropout_mode="inverted", activation="gelu"),
])
def test_multilayernet_extend(dtype, kwargs):
    _exercise(_textbook(dtype=dtype, **kwargs), onehot=bool(kwargs.get("use_dropout")))


@pytest.mark.parametrize("activation", sorted(REGISTRY))
def test_every_activation_fused_and_standalone(activation):
    """Fused into Affine (MultiLayerNet) and as a layer after batch norm, float32 and float64."""
    for dtype in DTYPES:
        _exercise(_textbook(activation=activation, dtype=dtype))
        _exercise(_textbook(activation=activation, dtype=dtype, use_batchnorm=True))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_sequential(dtype):
    """Stand-alone activations (in place and not), dropout both modes, batch norm in the
    middle and on a flattened input, torch convention, an Affine fed a 3-D input."""
    def build():
        rng = np.random.default_rng(0)
        return Sequential([
            Affine.create(12, 7, "leaky_relu", rng=rng, dtype=dtype, activation_param=0.2),
            Activation("silu"),
            Dropout(0.25, mode="inverted", rng=1),
            BatchNormalization.create(7, dtype=dtype, convention="torch"),
            Activation("elu", 0.5),
            Activation("tanh"),
            Affine.create(7, 6, weight_decay=0.01, rng=rng, dtype=dtype),
            Dropout(0.4, rng=2),
            BatchNormalization.create(6, dtype=dtype),
            Affine.create(6, 4, "sigmoid", rng=rng, dtype=dtype),
            Affine.create(4, 3, rng=rng, dtype=dtype),
        ], input_shape=(3, 4))
    _exercise(build, batches=(6, 9, 2, 6), shape=(3, 4))
    _exercise(build, batches=(5,), shape=(3, 4), onehot=True)


def test_batch_of_one_textbook_batchnorm():
    """One sample: batch norm warns once (as the per-layer path does) and both agree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _exercise(_textbook(use_batchnorm=True), batches=(1, 3, 1))


def test_torch_batchnorm_batch_of_one_is_the_same_error():
    fast, slow = _pair(lambda: Sequential([BatchNormalization.create(3, convention="torch")]))
    x, t = np.ones((1, 3), np.float32), np.array([0])
    messages = []
    for net in (fast, slow):
        with pytest.raises(ValueError) as err:
            net.gradient(x, t)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "more than one sample" in messages[0]


def test_errors_unchanged():
    fast, slow = _pair(lambda: MultiLayerNet(4, [3], 2, seed=0))
    for x, t in [(np.ones((2, 5), np.float32), [0, 1]), (np.ones((2, 4), np.float32), [0, 2]),
                 (np.ones((2, 4), np.float32), [0]), (np.ones((0, 4), np.float32), [])]:
        messages = []
        for net in (fast, slow):
            with pytest.raises(ValueError) as err:
                net.gradient(x, t)
            messages.append(str(err.value))
        assert messages[0] == messages[1]


def test_lstm_and_reference_nets_fall_back():
    from fastnet.layers.lstm import LSTM, LastStep

    def lstm_net():
        return Sequential([LSTM(3, 4, batch_first=True, rng=0), LastStep(),
                           Affine.create(4, 2, rng=0)])
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 7, 3)).astype(np.float32), rng.integers(0, 2, 5)
    fast, slow = _pair(lstm_net)
    _assert_same(fast.gradient(x, t), slow.gradient(x, t))
    assert list(fast._programs.values()) == [None]  # recorded as "per-layer", not retried
    _exercise(_textbook(backend="reference"), compiled=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, dict(activation="sigmoid", use_batchnorm=True,
                                             use_dropout=True, weight_decay_lambda=0.1)])
def test_diagnostics_recorded_inside_the_compiled_pass(dtype, kwargs):
    """While recording, the compiled passes add each recorded array's statistics in
    their one call: the same statistics, bit for bit, as the per-layer path's hooks,
    over gradient, loss and predict calls; after recording stops, nothing is added."""
    fast, slow = _pair(_textbook(dtype=dtype, **kwargs))
    rng = np.random.default_rng(0)
    for net in (fast, slow):
        net.record_stats(bins=7, gradient_range=(-0.05, 0.05))
    for n in (8, 5, 8):
        x, t = _data(fast, n, rng)
        for net in (fast, slow):
            net.gradient(x, t)
            net.loss(x, t, train_flg=True)
            net.predict(x)
    assert fast._programs and all(key[-1] is fast._recorder and step is not None
                                  for key, step in fast._programs.items())
    _assert_same(fast.stats(), slow.stats())
    recorded = fast.stats()
    for net in (fast, slow):
        net.record_stats(False)
        net.gradient(x, t)
    _assert_same(fast.stats(), recorded)
    assert all(key[-1] is None for key in fast._programs)


def _stats_kinds(step):
    """The statistics ops of a recorded pass, in run order: True for one that runs
    side by side with the next (a statistics op too), False for one alone."""
    from fastnet._kernels.program import KINDS, STATS_WITH_NEXT
    kinds = step.program.kinds()
    stats = KINDS["accumulate_stats_"]
    for k, (kind, code) in enumerate(kinds):
        if kind == stats and code == STATS_WITH_NEXT:
            assert kinds[k + 1] == (stats, 0), "a pair ends with a statistics op"
    return [code == STATS_WITH_NEXT for kind, code in kinds if kind == stats]


@pytest.fixture
def thread_count():
    """``set(n)``: the element-wise kernels' threads for the rest of the test."""
    from fastnet._kernels.threads import set_parallel
    old = set_parallel()

    def set_(n):
        set_parallel(num_threads=n)
    yield set_
    set_parallel(*old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs, predict_paired", [
    ({}, [True, False, False]),
    # at inference dropout scales the activations in place: each is added before
    (dict(activation="tanh", use_batchnorm=True, use_dropout=True), [False] * 3)])
def test_statistics_side_by_side_are_the_per_layer_paths_on_any_threads(
        dtype, kwargs, predict_paired, one_blas_thread, thread_count):
    """Layers of >= STATS_PAIR_MIN values: a gradient pass adds each hidden layer's
    activation statistics beside the gradient arriving at it, two ops side by side,
    and a loss pass its activations' two at a time. The statistics are the
    per-layer path's bit for bit, on one thread and on two (the nets' own
    arithmetic made thread-independent by ``one_blas_thread``: BLAS on one
    thread, products whole)."""
    from fastnet._program import STATS_PAIR_MIN
    build = _textbook(dtype=dtype, input_size=30, hidden_size_list=[48, 40, 48], output_size=5,
                      **kwargs)
    assert 64 * 40 >= STATS_PAIR_MIN
    recorded = []
    for threads in (1, 2):
        thread_count(threads)
        fast, slow = _pair(build)
        rng = np.random.default_rng(0)
        for net in (fast, slow):
            net.record_stats(bins=9, gradient_range=(-0.02, 0.02))
        for _ in range(3):
            x, t = _data(fast, 64, rng)
            for net in (fast, slow):
                net.gradient(x, t)
                net.loss(x, t, train_flg=True)
                net.predict(x)
        _assert_same(fast.stats(), slow.stats())
        recorded.append(fast.stats())
        paired = {key[1:3]: _stats_kinds(step) for key, step in fast._programs.items()}
        # three activations and three gradients: three pairs; three activations: a pair
        # and one alone
        assert paired == {(True, GRADIENT): [True, False] * 3,
                          (True, "loss"): [True, False, False],
                          (False, "forward"): predict_paired}
    _assert_same(recorded[0], recorded[1])


def test_statistics_of_an_array_overwritten_in_place_run_before_it_is():
    """The output of an affine layer without activation is overwritten by the ReLU
    layer after it (in place, the affine layer keeping no output): its statistics
    are added before the ReLU's op, not held back, and equal the per-layer path's
    (which would differ if they saw the ReLU's output: the histogram spans
    negative values)."""
    from fastnet._kernels.program import KINDS

    def build():
        return Sequential([Affine.create(30, 64, rng=0), Relu(), Affine.create(64, 5, rng=1)],
                          record=["Affine1", "Relu1"])
    fast, slow = _pair(build)
    rng = np.random.default_rng(0)
    for net in (fast, slow):
        net.record_stats(activation_range=(-2, 2))
    x, t = _data(fast, 64, rng)
    for net in (fast, slow):
        net.gradient(x, t)
        net.predict(x)
    _assert_same(fast.stats(), slow.stats())
    assert fast.stats()[1]["activations"]["zero_fraction"] == 0  # the affine output's
    for key, step in fast._programs.items():
        kinds = [kind for kind, _ in step.program.kinds()]
        relu = kinds.index(KINDS["activation_forward"])
        assert kinds[relu - 1] == KINDS["accumulate_stats_"], key


def test_two_statistics_of_one_recorder_in_a_pass_keep_their_order():
    """A statistics op writes its counts and totals: a second op into the same ones
    is added after the first (never beside it), so the moments merge in call order."""
    from fastnet._kernels import program as compiled
    from fastnet.diagnostics import RunningStats
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4096), rng.standard_normal(3000) + 5
    want, got = RunningStats(bins=6, range=(-3, 8)), RunningStats(bins=6, range=(-3, 8))
    want.add(a)
    want.add(b)
    program = compiled.Program(np.float64, None, None, None)
    plan = Plan(program, np.float64)
    got._ops = plan  # add() records into the plan, as StatsRecorder.adding_through makes it
    got.add(a)
    got.add(b)
    plan.finish()
    assert program.kinds() == [(compiled.KINDS["accumulate_stats_"], 0)] * 2
    program.run(np.empty(1))
    _assert_same(got.as_dict(), want.as_dict())


@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_pairs_run_one_after_the_other_inside_gradients_many(dtype, one_blas_thread):
    """Nets run at once (each pass on one thread of a parallel region) add their
    paired statistics one after the other: the same statistics as each net's own
    gradient()."""
    from fastnet._program import gradients_many

    def nets():
        return [_textbook(dtype=dtype, input_size=30, hidden_size_list=[64, 64], output_size=5,
                          seed=s)() for s in (1, 2)]
    fast, slow = nets(), nets()
    rng = np.random.default_rng(0)
    for net in fast + slow:
        net.record_stats()
    for _ in range(2):
        x, t = _data(fast[0], 64, rng)
        gradients_many(fast, [x, x], [t, t])
        for net in slow:
            net.gradient(x, t)
    assert all(any(_stats_kinds(step)) for net in fast for step in net._programs.values())
    for a, b in zip(fast, slow):
        _assert_same(a.stats(), b.stats())


def test_a_loss_layer_without_the_hook_falls_back():
    class PlainLoss(SoftmaxWithLoss):
        _compile_loss = SoftmaxWithLoss.__mro__[1]._compile_loss

    net = Sequential([Affine.create(3, 2, rng=0)], PlainLoss())
    net.gradient(np.ones((2, 3), np.float32), [0, 1])
    assert list(net._programs.values()) == [None]


def test_plan_records_the_kernels_calls():
    """Every op a layer or an optimizer may record is a kernel of fastnet.kernels with
    its signature."""
    from fastnet._kernels.program import KINDS, UPDATES
    for plan, names in ((Plan, set(KINDS) - {"update"}), (UpdatePlan, UPDATES)):
        for name in names:
            recorded = list(inspect.signature(getattr(plan, name)).parameters)[1:]
            assert recorded == list(inspect.signature(getattr(kernels, name)).parameters), name


def test_dropout_masks_and_generators_follow_the_per_layer_path():
    """Masks drawn before each compiled call are the per-layer path's, and a layer's
    ``mask`` is the array the latest call used."""
    fast, slow = _pair(_textbook(use_dropout=True))
    rng = np.random.default_rng(5)
    for n in (4, 7, 4):
        x, t = _data(fast, n, rng)
        for net in (fast, slow):
            net.gradient(x, t)
        for name in fast.layers:
            if name.startswith("Dropout"):
                a, b = fast.layers[name], slow.layers[name]
                np.testing.assert_array_equal(a.mask, b.mask, strict=True)
                assert a.mask.shape == x.shape[:1] + a.mask.shape[1:]
                assert a.rng.bit_generator.state == b.rng.bit_generator.state
    step = fast._programs[((4, 6), True, GRADIENT, 1, None)]
    assert len(step.before) == 3  # one draw per dropout layer, in layer order


def _many(dtype, count=4, **kwargs):
    return [MultiLayerNetExtend(6, [5, 4], 3, seed=s, dtype=dtype, **kwargs) for s in range(count)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, dict(use_batchnorm=True, use_dropout=True,
                                             weight_decay_lambda=0.1)])
def test_gradients_many_equals_gradient_per_net(dtype, kwargs):
    """Shared and separate batches; small GEMMs, where OpenBLAS's one- and
    multi-threaded products agree bit for bit."""
    from fastnet._program import gradients_many
    rng = np.random.default_rng(0)
    fast, slow = _many(dtype, **kwargs), _many(dtype, **kwargs)
    for shared in (True, False, True):
        xs = [rng.standard_normal((7, 6)).astype(dtype) for _ in fast]
        ts = [rng.integers(0, 3, 7) for _ in fast]
        if shared:
            xs, ts = [xs[0]] * len(fast), [ts[0]] * len(fast)
        got = gradients_many(fast, xs, ts)
        want = [net.gradient(x, t) for net, x, t in zip(slow, xs, ts)]
        _assert_same(got, want)
        for a, b in zip(fast, slow):
            _assert_same(_state(a), _state(b))
            _grads_are_live(a, got[fast.index(a)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_many_large_gemms_to_tolerance(dtype):
    """Net T's shapes: OpenBLAS's one-thread GEMM (used per net here) may round
    differently from its two-thread one (used by gradient()), so equal to the
    dtype's tolerance."""
    from numerics import tol

    from fastnet._program import gradients_many
    rng = np.random.default_rng(0)
    fast, slow = ([MultiLayerNet(784, [100, 100], 10, seed=s, dtype=dtype) for s in range(3)]
                  for _ in range(2))
    x, t = rng.random((100, 784)).astype(dtype), rng.integers(0, 10, 100)
    got = gradients_many(fast, [x] * 3, [t] * 3)
    want = [net.gradient(x, t) for net in slow]
    for g, w, a, b in zip(got, want, fast, slow):
        for key in w:
            np.testing.assert_allclose(g[key], w[key], **tol(dtype))
        np.testing.assert_allclose(a.last_loss, b.last_loss, **tol(dtype))


def test_gradients_many_mixes_compiled_and_per_layer_nets_and_checks():
    from fastnet._program import gradients_many
    from fastnet.layers.lstm import LSTM, LastStep
    lstm = [Sequential([LSTM(6, 4, batch_first=True, rng=s), LastStep(),
                        Affine.create(4, 3, rng=s)]) for s in (0, 0)]
    plain = [MultiLayerNet(6, [5], 3, seed=s) for s in (1, 1)]
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 2, 6)).astype(np.float32), rng.standard_normal((5, 6)).astype(np.float32)]
    t = rng.integers(0, 3, 5)
    got = gradients_many([lstm[0], plain[0]], xs, [t, t])
    _assert_same(got, [lstm[1].gradient(xs[0], t), plain[1].gradient(xs[1], t)])
    with pytest.raises(ValueError, match="one entry per net"):
        gradients_many(plain, xs, [t])
    with pytest.raises(ValueError, match="appears twice"):
        gradients_many([plain[0], plain[0]], xs[1:] * 2, [t, t])
    with pytest.raises(ValueError, match=r"t holds class indices outside"):
        gradients_many(plain, xs[1:] * 2, [t, t + 3])


def test_gradients_many_with_a_shared_layer_is_the_loop():
    from fastnet._program import gradients_many
    shared = [Dropout(0.5, rng=s) for s in (7, 7)]

    def nets(drop):
        return [Sequential([Affine.create(4, 3, rng=s), drop, Affine.create(3, 2, rng=s)])
                for s in (0, 1)]
    fast, slow = nets(shared[0]), nets(shared[1])
    x, t = np.ones((5, 4), np.float32), np.array([0, 1, 1, 0, 1])
    _assert_same(gradients_many(fast, [x, x], [t, t]), [net.gradient(x, t) for net in slow])
    np.testing.assert_array_equal(shared[0].mask, shared[1].mask)



class _CountingKernels:
    """A kernel namespace that counts the calls made through it from Python."""

    def __init__(self, kernels_):
        self.kernels, self.calls = kernels_, 0

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls += 1
            return getattr(self.kernels, name)(*args, **kwargs)
        return call


def _members(dtype=np.float32):
    return [MultiLayerNet(6, [5, 4], 3, activation=act, weight_decay_lambda=0.1 * s,
                          seed=s, dtype=dtype) for s, act in enumerate(("relu", "tanh", "sigmoid"))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("convention", ["textbook", "torch"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_gradients_many_runs_the_updates_inside_the_call(name, convention, dtype):
    """fastnet's optimizers update each net inside the compiled call, with no kernel call
    from Python, and the nets, losses and optimizer states are those of gradients then
    update, bit for bit (the loss's L2 penalty is that of the weights before the update)."""
    from fastnet._program import gradients_many
    fast, slow = _members(dtype), _members(dtype)
    make = [lambda: make_optimizer(name, lr=0.05, convention=convention) for _ in range(3)]
    fast_opts, slow_opts = [m() for m in make], [m() for m in make]
    for opt in fast_opts:
        opt._ops = _CountingKernels(opt._ops)
    rng = np.random.default_rng(1)
    for _ in range(3):
        xs = [rng.standard_normal((4, 6)).astype(dtype) for _ in range(3)]
        ts = [rng.integers(0, 3, 4) for _ in range(3)]
        got = gradients_many(fast, xs, ts, fast_opts)
        want = [net.gradient(x, t) for net, x, t in zip(slow, xs, ts)]
        for net, opt, g in zip(slow, slow_opts, want):
            opt.update(net.params, g)
        _assert_same(got, want)
        for a, b, p, q in zip(fast, slow, fast_opts, slow_opts):
            assert a.last_loss == b.last_loss
            _assert_same(a.params, b.params)
            _assert_same(p.state_dict(), q.state_dict())
    assert [opt._ops.calls for opt in fast_opts] == [0, 0, 0]


def test_gradients_many_runs_other_updates_after_the_call_in_order():
    """An optimizer that is not fastnet's own updates after the call; one whose update
    raises leaves the nets after it untouched, as the loop of updates would."""
    from fastnet._program import gradients_many
    from fastnet.optim import SGD, Momentum

    class Clipped(SGD):
        def update(self, params, grads):
            super().update(params, {k: np.clip(g, -0.01, 0.01) for k, g in grads.items()})

    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((4, 6)).astype(np.float32) for _ in range(3)]
    ts = [rng.integers(0, 3, 4) for _ in range(3)]
    fast, slow = _members(), _members()
    fast_opts = [Momentum(lr=0.1), Clipped(lr=0.1), Momentum(lr=0.1)]
    slow_opts = [Momentum(lr=0.1), Clipped(lr=0.1), Momentum(lr=0.1)]
    got = gradients_many(fast, xs, ts, fast_opts)
    want = [net.gradient(x, t) for net, x, t in zip(slow, xs, ts)]
    for net, opt, g in zip(slow, slow_opts, want):
        opt.update(net.params, g)
    _assert_same(got, want)
    for a, b in zip(fast, slow):
        _assert_same(a.params, b.params)

    fast = _members()
    before = [{k: v.copy() for k, v in net.params.items()} for net in fast]
    broken = Momentum(lr=0.1)
    broken.state = {"W1": {"step": 0, "velocity": np.zeros((2, 2), np.float32)}}
    opts = [Momentum(lr=0.1), broken, Momentum(lr=0.1)]
    with pytest.raises(ValueError, match=r"params\['W1'\] is \(6, 5\) float32, but the "
                                         r"optimizer's state for it is \(2, 2\)"):
        gradients_many(fast, xs, ts, opts)
    assert not np.array_equal(fast[0].params["W1"], before[0]["W1"])
    _assert_same(fast[1].params, before[1])
    _assert_same(fast[2].params, before[2])
    assert opts[2].state == {}

FORK = """
import numpy as np
from fastnet import MultiLayerNet
from fastnet._program import gradients_many
nets = [MultiLayerNet(784, [100], 10, seed=s) for s in range(4)]
x, t = np.ones((100, 784), np.float32), np.zeros(100, np.int64)
want = gradients_many(nets, [x] * 4, [t] * 4)  # the parent's OpenMP pool exists before the fork


def child():
    got = gradients_many(nets, [x] * 4, [t] * 4)
    return all(np.allclose(g["W1"], w["W1"]) for g, w in zip(got, want))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_gradients_many_in_a_forked_child():
    """GNU OpenMP is not fork-safe: in a child the nets run one after the other, not hang."""
    assert_forked_child_passes(FORK)


FORK_STATS = """
import numpy as np
from fastnet import MultiLayerNet
net = MultiLayerNet(784, [100, 100], 10, seed=0)
net.record_stats()
x, t = np.ones((100, 784), np.float32), np.zeros(100, np.int64)
net.gradient(x, t)  # statistics side by side: the parent's OpenMP pool exists before the fork
want = net.stats()


def child():
    net.gradient(x, t)
    got = net.stats()
    return all(got[k][s]["count"] == 2 * want[k][s]["count"] for k in want for s in want[k])
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_statistics_pairs_in_a_forked_child():
    """In a forked child the paired statistics ops run one after the other, not hang."""
    assert_forked_child_passes(FORK_STATS)


@pytest.mark.parametrize("make, name", [
    (lambda: Affine.create(3, 2, weight_decay=0.1, rng=0), "weight_decay"),
    (lambda: Affine.create(3, 2, "leaky_relu", activation_param=0.1, rng=0), "activation_param"),
    (lambda: Affine.create(3, 2, rng=0), "activation"),
    (lambda: Dropout(0.3, rng=0), "dropout_ratio"),
    (lambda: Dropout(0.3, rng=0), "mode"),
    (lambda: BatchNormalization.create(3), "eps"),
    (lambda: BatchNormalization.create(3), "momentum"),
    (lambda: BatchNormalization.create(3), "convention"),
    (lambda: Relu(), "activation"),
    (lambda: LeakyRelu(0.2), "param"),
])
def test_recorded_settings_are_read_only(make, name):
    """A compiled pass records these once: changing one later must fail loudly,
    not leave some passes on the old value."""
    layer = make()
    before = getattr(layer, name)
    with pytest.raises(AttributeError, match=f"{name} is fixed when the layer is built"):
        setattr(layer, name, before)
    assert getattr(layer, name) == before
    assert layer.config().get(name, before) == before
