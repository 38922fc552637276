"""The one-call optimizer update: parameters that tile one flat array are updated at once.

Each case runs the same optimizer twice on the same numbers: once on views of
one buffer (the one-call path) and once on separate copies (one kernel call
per array), and asks for the same bits. Which path ran is seen by counting
``_apply`` calls.
"""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import fastnet._kernels.threads as threads
from fastnet import MultiLayerNetExtend
from fastnet._kernels.optim import held_step, pack_scalars, tiling, unpack_scalars
from fastnet.optim import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, RMSprop
from numerics import DTYPES

ALL = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW]
CONVENTIONS = ["textbook", "torch"]


@pytest.fixture
def split_threads():
    """Every kernel call split in 3 chunks: the two paths' chunk bounds differ."""
    old = threads.set_parallel(min_size=1, num_threads=3)
    yield
    threads.set_parallel(*old)


def counted(opt):
    """Record the size of each kernel call ``opt`` makes."""
    calls = []
    apply = opt._apply

    def spy(p, g, t, state, c):
        calls.append(p.size)
        apply(p, g, t, state, c)

    opt._apply = spy
    return calls


def separate(arrays):
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


def fill_(grads, rng):
    """New random gradients, in place, so their layout stays."""
    for g in grads.values():
        g[...] = rng.standard_normal(g.shape)


def run_pair(flat, per_array, params, grads, rng, steps):
    """Update ``params`` with ``flat`` and separate copies with ``per_array``, ``steps``
    times, from the same random gradients (written into ``grads``, whose layout stays).

    Returns the copies.
    """
    copies = separate(params)
    for _ in range(steps):
        fill_(grads, rng)
        flat.update(params, grads)
        per_array.update(copies, separate(grads))
    return copies


def make(cls, convention, weight_decay):
    kwargs = {"lr": 0.05, "convention": convention}
    if weight_decay is not None:
        kwargs["weight_decay"] = weight_decay
    return cls(**kwargs)


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], strict=True, err_msg=k)


def assert_same_state(a, b):
    assert a.state.keys() == b.state.keys()
    for k in a.state:
        assert a.state[k]["step"] == b.state[k]["step"]
        for name in type(a)._state_names:
            np.testing.assert_array_equal(a.state[k][name], b.state[k][name], strict=True)


def views(buffer, layout):
    """``{key: view}`` of ``buffer`` for ``layout = [(key, offset, shape)]``, in that order."""
    out = {}
    for key, offset, shape in layout:
        out[key] = buffer[offset:offset + int(np.prod(shape))].reshape(shape)
    return out


def _net_and_grads(rng, dtype=np.float32):
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, dtype=dtype, seed=0)
    grads = net.gradient(rng.standard_normal((4, 6)).astype(dtype), rng.integers(0, 3, 4))
    return net, grads


def load_(arrays, values):
    for k, a in arrays.items():
        a[...] = values[k]


# ------------------------------------------------------------ equal results -----
@pytest.mark.parametrize("weight_decay", [None, 0.01], ids=["wd-default", "wd"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_net_params_flat_equals_per_array(cls, convention, dtype, weight_decay, split_threads,
                                          rng):
    # batch norm: the params dict lists every W, b before gamma, beta, not in buffer order
    net = MultiLayerNetExtend(13, [17, 9], 5, use_batchnorm=True, dtype=dtype, seed=0)
    offsets = tiling(list(net.params.values()), True)[2][2]
    assert list(offsets) != sorted(offsets)
    x = rng.standard_normal((8, 13)).astype(dtype)
    grads = net.gradient(x, rng.integers(0, 5, 8))
    flat, per_array = make(cls, convention, weight_decay), make(cls, convention, weight_decay)
    flat_calls, per_array_calls = counted(flat), counted(per_array)
    copies = run_pair(flat, per_array, net.params, grads, rng, 4)
    total = sum(p.size for p in net.params.values())
    assert flat_calls == [total] * 4
    assert len(per_array_calls) == 4 * len(copies)
    assert_same(net.params, copies)
    assert_same_state(flat, per_array)
    # net.params are still the layers' live arrays
    assert all(net.params[g] is layer.params[k] for g, (layer, k) in net._param_slots.items())


# Shuffled order, odd sizes (SIMD tails), an empty array and a 0-d one, a range
# that neither starts nor ends the buffer.
HAND_MADE = [("c", 43, (3, 11)), ("a", 4, (7,)), ("e", 11, (0, 4)), ("z", 3, ()),
             ("b", 11, (2, 16)), ("d", 76, (129,))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_hand_made_views_flat_equals_per_array(cls, convention, dtype, split_threads, rng):
    pbuf = rng.standard_normal(210).astype(dtype)
    gbuf = np.zeros((2, 120), dtype)  # a 2-D owner; the grads' range starts at element 11
    params = views(pbuf, HAND_MADE)
    grads = views(gbuf.reshape(-1)[8:], HAND_MADE)
    flat, per_array = make(cls, convention, 0.01), make(cls, convention, 0.01)
    flat_calls = counted(flat)
    copies = run_pair(flat, per_array, params, grads, rng, 3)
    assert flat_calls == [202] * 3  # elements 3:205 of the buffer
    assert_same(params, copies)
    assert_same_state(flat, per_array)


@pytest.fixture
def default_split():
    """A parallel threshold of 2^18 elements (the default was, until it became 2^16), on 2 threads."""
    old = threads.set_parallel(min_size=2 ** 18, num_threads=2)
    yield 2 ** 18
    threads.set_parallel(*old)


@pytest.mark.parametrize("cls", [SGD, Adam], ids=lambda c: c.__name__)
def test_large_group_default_split(cls, default_split, rng):
    """A net above the parallel threshold in total, below it array by array."""
    net = MultiLayerNetExtend(784, [300, 100], 10, dtype=np.float32, seed=1)
    total = sum(p.size for p in net.params.values())
    assert max(p.size for p in net.params.values()) < default_split <= total
    grads = net.gradient(rng.random((4, 784), dtype=np.float32), rng.integers(0, 10, 4))
    flat, per_array = cls(lr=0.01), cls(lr=0.01)
    calls = counted(flat)
    copies = run_pair(flat, per_array, net.params, grads, rng, 3)
    assert calls == [total] * 3
    assert_same(net.params, copies)
    assert_same_state(flat, per_array)


def test_reference_backend_takes_the_same_path(rng):
    net = MultiLayerNetExtend(6, [5], 3, dtype=np.float64, seed=0)
    grads = net.gradient(rng.standard_normal((4, 6)), rng.integers(0, 3, 4))
    flat, per_array = Adam(backend="reference"), Adam(backend="reference")
    calls = counted(flat)
    copies = run_pair(flat, per_array, net.params, grads, rng, 3)
    assert len(calls) == 3
    assert_same(net.params, copies)


def test_state_is_views_of_one_buffer_per_name(rng):
    net, grads = _net_and_grads(rng)
    opt = Adam()
    opt.update(net.params, grads)
    for name in ("m", "v"):
        arrays = [opt.state[k][name] for k in net.params]
        found = tiling(arrays, True)
        assert found is not None
        assert found[2][2:] == tiling(list(net.params.values()), True)[2][2:]
        assert all(a.base is found[0] for a in arrays)
        assert all(opt.state[k][name].shape == p.shape for k, p in net.params.items())
    assert not np.shares_memory(opt.state["W1"]["m"], opt.state["W1"]["v"])


# ---------------------------------------------------------------- fallbacks -----
def _tiled(buf, sizes):
    """Views of ``buf`` one after the other, keys a, b, ..."""
    out, at = {}, 0
    for key, size in zip("abcdef", sizes):
        out[key] = buf[at:at + size]
        at += size
    return out


# name -> (params from a buffer of 12 random float64, grads from another such buffer)
FALLBACKS = {
    "gap": (lambda b: {"a": b[:5], "b": b[6:]}, lambda g: _tiled(g, (5, 6))),
    "separate-and-view": (lambda b: {"a": b[:5].copy(), "b": b[5:]},
                          lambda g: _tiled(g, (5, 7))),
    "owner-not-C-contiguous": (lambda b: dict(zip("ab", np.asfortranarray(b.reshape(6, 2)).T)),
                               lambda g: _tiled(g, (6, 6))),
    "mixed-dtypes": (lambda b: {"a": b[:5], "b": b[5:].astype(np.float32)},
                     lambda g: {"a": g[:5], "b": g[5:].astype(np.float32)}),
    "scalar": (lambda b: {"a": b[:11], "s": float(b[11])},
               lambda g: {"a": g[:11], "s": float(g[11])}),
    "grads-other-layout": (lambda b: _tiled(b, (5, 7)), lambda g: {"a": g[7:], "b": g[:7]}),
    "grads-separate": (lambda b: _tiled(b, (5, 7)), lambda g: {"a": g[:5].copy(), "b": g[5:]}),
    "grads-strided": (lambda b: _tiled(b, (6, 6)),
                      lambda g: {"a": g.reshape(6, 2)[:, 0], "b": g.reshape(6, 2)[:, 1]}),
}


def _copy(v):
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else v


@pytest.mark.parametrize("case", list(FALLBACKS))
@pytest.mark.parametrize("cls", [SGD, Momentum, Adam], ids=lambda c: c.__name__)
def test_fallback_is_per_array_and_equal(cls, case, rng):
    make_params, make_grads = FALLBACKS[case]
    params = make_params(rng.standard_normal(12))
    copies = {k: _copy(v) for k, v in params.items()}
    opt, per_array = cls(lr=0.1), cls(lr=0.1)
    calls = counted(opt)
    for _ in range(3):
        grads = make_grads(rng.standard_normal(12))
        opt.update(params, grads)
        per_array.update(copies, {k: _copy(g) for k, g in grads.items()})
    assert len(calls) == 3 * len(params)
    assert_same(params, copies)
    assert_same_state(opt, per_array)


# -------------------------------------------------------------------- scalars -----
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_float64_scalars_are_one_call_and_equal_per_array(cls, convention, backend):
    """The textbook's optimizer-path script: Python floats (then the numpy.float64 the
    update leaves) are packed into one array per call; the same bits as 0-d arrays
    updated one by one, and the state is the per-array path's 0-d arrays."""
    params = {"x": -7.0, "y": 2.0, "z": 0.5}
    arrays = {k: np.array(v) for k, v in params.items()}
    opt = cls(lr=0.1, convention=convention, backend=backend)
    per_array = cls(lr=0.1, convention=convention, backend=backend)
    calls = counted(opt)
    for step in range(30):
        grads = {k: v / 10.0 + step for k, v in params.items()}  # floats, then numpy.float64
        opt.update(params, grads)
        per_array.update(arrays, {k: np.array(g) for k, g in grads.items()})
        assert all(type(v) is np.float64 for v in params.values())
    assert calls == [3] * 30
    assert_same({k: np.array(v) for k, v in params.items()}, arrays)
    assert_same_state(opt, per_array)
    resumed = cls(lr=0.1, convention=convention, backend=backend)
    resumed.load_state_dict(opt.state_dict())
    again = dict(params)
    for p, o in ((params, opt), (again, resumed)):
        o.update(p, {k: 0.25 for k in p})
    assert_same({k: np.array(v) for k, v in params.items()},
                {k: np.array(v) for k, v in again.items()})


@pytest.mark.parametrize("params, grads", [
    ({"x": 1.0, "y": np.float32(2.0)}, {"x": 0.5, "y": np.float32(0.5)}),  # float32: own dtype
    ({"x": 1.0, "y": 2}, {"x": 0.5, "y": 0.5}),  # an int parameter
    ({"x": 1.0, "y": 2.0}, {"x": 0.5, "y": np.array(0.5)}),  # a 0-d array gradient
], ids=["float32", "int", "0-d-grad"])
def test_other_scalars_stay_per_array(params, grads):
    expected = dict(params)
    opt = SGD(lr=0.5)
    calls = counted(opt)
    opt.update(params, grads)
    for k in expected:  # the textbook's arithmetic, in each parameter's own dtype
        dtype = getattr(params[k], "dtype", np.float64)
        expected[k] = dtype.type(expected[k]) - dtype.type(0.5) * dtype.type(0.5)
        assert params[k] == expected[k] and params[k].dtype == dtype
    assert calls == [1, 1]


@pytest.mark.parametrize("make_grads", [
    lambda b: {"a": b[:6], "b": b[6:12]},   # grads are the params themselves: element by element
    lambda b: {"a": b[3:9], "b": b[9:15]},  # overlapping the params shifted: not element-wise
], ids=["same-memory", "shifted"])
def test_grads_in_the_params_memory(make_grads):
    buf = np.linspace(1.0, 2.0, 15)
    params = {"a": buf[:6], "b": buf[6:12]}
    opt = SGD(lr=0.5)
    calls = counted(opt)
    opt.update(params, make_grads(buf))
    shifted = len(calls) == 2
    assert calls == ([6, 6] if shifted else [12])
    if not shifted:
        np.testing.assert_array_equal(buf[:12], np.linspace(1.0, 2.0, 15)[:12] * 0.5)


def test_subsets_of_a_net(rng):
    net = MultiLayerNetExtend(6, [5, 4], 3, seed=0)
    grads = net.gradient(rng.standard_normal((4, 6)).astype(np.float32), rng.integers(0, 3, 4))
    contiguous = ("W1", "b1", "W2")  # one range of the buffer
    gapped = ("W1", "W2")            # b1 lies between them
    for keys, n_calls in ((contiguous, 1), (gapped, 2)):
        opt, per_array = Adam(), Adam()
        calls = counted(opt)
        params = {k: net.params[k] for k in keys}
        copies = separate(params)
        sub = {k: grads[k] for k in keys}
        opt.update(params, sub)
        per_array.update(copies, separate(sub))
        assert len(calls) == n_calls, keys
        assert_same(params, copies)


def test_state_at_different_steps_stays_per_array(rng):
    net = MultiLayerNetExtend(6, [5], 3, seed=0)
    grads = net.gradient(rng.standard_normal((4, 6)).astype(np.float32), rng.integers(0, 3, 4))
    opt, per_array = Adam(), Adam()
    copies = separate(net.params)
    opt.update({"W1": net.params["W1"]}, {"W1": grads["W1"]})
    per_array.update({"W1": copies["W1"]}, {"W1": grads["W1"].copy()})
    calls = counted(opt)
    for _ in range(2):
        opt.update(net.params, grads)
        per_array.update(copies, separate(grads))
    assert len(calls) == 2 * len(net.params)
    assert opt.state["W1"]["step"] == 3 and opt.state["b1"]["step"] == 2
    assert_same(net.params, copies)
    assert_same_state(opt, per_array)


# ------------------------------------------------------- state moved or replaced -----
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_resume_from_state_dict_is_bit_identical_and_flat(cls, rng):
    net, grads = _net_and_grads(rng)
    steps = []
    for _ in range(6):
        fill_(grads, rng)
        steps.append(separate(grads))
    a = cls(lr=0.05, convention="torch")
    for g in steps[:3]:
        load_(grads, g)
        a.update(net.params, grads)
    sd = a.state_dict()
    for k, st in sd["state"].items():  # the format of before: a copy per key, its shape
        assert st["step"] == 3
        for name in cls._state_names:
            assert st[name].shape == net.params[k].shape
            assert not np.shares_memory(st[name], a.state[k][name])
    resumed, resumed_grads = _net_and_grads(rng)
    load_(resumed.params, net.params)
    b = cls()
    b.load_state_dict(sd)
    calls = counted(b)
    for g in steps[3:]:
        load_(grads, g)
        a.update(net.params, grads)
        load_(resumed_grads, g)
        b.update(resumed.params, resumed_grads)
    assert calls == [sum(p.size for p in net.params.values())] * 3
    assert_same(net.params, resumed.params)
    assert_same_state(a, b)
    for name in cls._state_names:
        assert tiling([b.state[k][name] for k in net.params], True) is not None


def test_replaced_state_is_taken_up(rng):
    net, grads = _net_and_grads(rng)
    opt, per_array = Momentum(lr=0.1), Momentum(lr=0.1)
    calls = counted(opt)
    copies = separate(net.params)
    for step in range(4):
        if step == 2:  # the user rebinds one state array, then resets the whole state
            for o in (opt, per_array):
                o.state["W2"]["velocity"] = o.state["W2"]["velocity"] * 3
        if step == 3:
            opt.state, per_array.state = {}, {}
        fill_(grads, rng)
        opt.update(net.params, grads)
        per_array.update(copies, separate(grads))
    assert len(calls) == 4
    assert opt.state["W1"]["step"] == 1
    assert_same(net.params, copies)
    assert_same_state(opt, per_array)


@pytest.mark.parametrize("other", [dict(hidden=[5, 7]), dict(dtype=np.float64)],
                         ids=["shape", "dtype"])
def test_state_of_another_net_is_an_error(other, rng):
    net, grads = _net_and_grads(rng)
    opt = Adam()
    opt.update(net.params, grads)
    dtype = other.get("dtype", np.float32)
    net2 = MultiLayerNetExtend(6, other.get("hidden", [5, 4]), 3, dtype=dtype, seed=0)
    grads2 = net2.gradient(rng.standard_normal((4, 6)).astype(dtype), rng.integers(0, 3, 4))
    before = separate(net2.params)
    with pytest.raises(ValueError, match=r"params\['\w+'\] is .*, but the optimizer's state"):
        opt.update(net2.params, grads2)
    assert_same(net2.params, before)


STATEFUL = [c for c in ALL if c._state_names]


def _two_nets(rng, flat):
    """Two nets of one shape and their gradients; ``flat=False``: their parameters as
    separate arrays (a dict net, updated per array)."""
    pairs = [_net_and_grads(rng) for _ in range(2)]
    if not flat:
        pairs = [(separate(net.params), separate(grads)) for net, grads in pairs]
        return [p for p, _ in pairs], [g for _, g in pairs]
    return [net.params for net, _ in pairs], [g for _, g in pairs], [net for net, _ in pairs]


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-array"])
@pytest.mark.parametrize("cls", STATEFUL, ids=lambda c: c.__name__)
def test_one_optimizer_refuses_a_second_live_net(cls, flat, rng):
    # The textbook keys state by name: a second net's update would use, and mix, the first
    # net's moments and step counts. Both nets alive: an error that changes nothing.
    (params_a, params_b), (grads_a, grads_b), *_ = _two_nets(rng, flat)
    opt = cls()
    opt.update(params_a, grads_a)
    state, before = opt.state_dict(), separate(params_b)
    with pytest.raises(ValueError, match=r"params\['W1'\] is not the array this \w+'s state "
                                         r"for 'W1' was made with.*its own optimizer"):
        opt.update(params_b, grads_b)
    assert_same(params_b, before)
    for key, st in state["state"].items():
        assert opt.state[key]["step"] == st["step"] == 1
        for name in cls._state_names:
            np.testing.assert_array_equal(opt.state[key][name], st[name])
    opt.update(params_a, grads_a)  # its own net still trains
    assert opt.state["W1"]["step"] == 2


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-array"])
def test_state_moves_to_new_arrays_once_loaded_or_the_old_are_gone(flat, rng):
    (params_a, params_b), (grads_a, grads_b), *nets = _two_nets(rng, flat)
    opt = Adam()
    opt.update(params_a, grads_a)
    opt.load_state_dict(opt.state_dict())  # on purpose: the next arrays take the state
    opt.update(params_b, grads_b)
    assert opt.state["W1"]["step"] == 2
    opt2 = Adam()
    opt2.update(params_b, grads_b)
    del params_b, nets  # the arrays opt2's state is for are gone (a net replaced)
    opt2.update(params_a, grads_a)
    assert opt2.state["W1"]["step"] == 2


def test_one_sgd_serves_several_nets(rng):
    # Stateless: the textbook's scripts share one SGD among nets (weight_init_compare.py).
    (params_a, params_b), (grads_a, grads_b), _ = _two_nets(rng, True)
    copies = [separate(params_a), separate(params_b)]
    shared = SGD(0.1)
    for params, grads, own in zip((params_a, params_b), (grads_a, grads_b), copies):
        shared.update(params, grads)
        SGD(0.1).update(own, separate(grads))
    assert_same(separate(params_a), copies[0])
    assert_same(separate(params_b), copies[1])


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("cls", STATEFUL, ids=lambda c: c.__name__)
def test_copied_optimizer_continues_as_the_original(cls, how, rng):
    # The kernels' module made copies fail (TypeError: cannot pickle 'module' object), and
    # a copied flat group would hold copies of the state views, no longer views of it.
    import pickle

    net, grads = _net_and_grads(rng)
    opt = cls(lr=0.05)
    opt.update(net.params, grads)
    twin = copy.deepcopy(net)
    clone = copy.deepcopy(opt) if how == "deepcopy" else pickle.loads(pickle.dumps(opt))
    assert_same_state(clone, opt)
    for _ in range(2):
        fill_(grads, rng)
        opt.update(net.params, grads)
        clone.update(twin.params, separate(grads))
    assert_same(separate(twin.params), separate(net.params))
    assert_same_state(clone, opt)
    for st, st2 in zip(opt.state.values(), clone.state.values()):
        for name in cls._state_names:
            assert not np.shares_memory(st[name], st2[name])
    assert opt.state["W1"]["step"] == 3


def test_assigned_backend_runs_its_kernels(monkeypatch, rng):
    # opt.backend = "reference" kept the compiled kernels (and took any name) silently.
    import fastnet.reference as reference

    calls = []
    kernel = reference.adam_update_
    monkeypatch.setattr(reference, "adam_update_", lambda *a: calls.append(1) or kernel(*a))
    net, grads = _net_and_grads(rng)
    opt = Adam()
    opt.update(net.params, grads)
    opt.backend = "reference"
    opt.update(net.params, grads)
    assert calls == [1] and opt.state["W1"]["step"] == 2
    with pytest.raises(ValueError, match="backend must be 'compiled' or 'reference'; got 'gpu'"):
        opt.backend = "gpu"
    assert opt.backend == "reference"


# ------------------------------------------------------------------- errors -----
BAD = {
    "dtype": lambda g: {**g, "b1": g["b1"].astype(np.float64)},
    "shape": lambda g: {**g, "W2": g["W2"].reshape(-1)},
    "missing-key": lambda g: {k: v for k, v in g.items() if k != "b2"},
    "extra-key": lambda g: {**g, "W9": g["W1"]},
    "not-an-array": lambda g: {**g, "gamma1": "gradient"},
    "list": lambda g: list(g.values()),
}


def _error(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("after_flat_step", [False, True], ids=["fresh", "after-a-step"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_grads_raise_as_before_and_change_nothing(case, after_flat_step, rng):
    net, grads = _net_and_grads(rng)
    opt, per_array = Adam(), Adam()
    copies = separate(net.params)
    if after_flat_step:
        opt.update(net.params, grads)
        per_array.update(copies, separate(grads))
    before, state_before = separate(net.params), copy.deepcopy(opt.state)
    fill_(grads, rng)
    got = _error(lambda: opt.update(net.params, BAD[case](grads)))
    assert got == _error(lambda: per_array.update(copies, BAD[case](separate(grads))))
    assert_same(net.params, before)
    assert opt.state.keys() == state_before.keys()
    for k, st in state_before.items():
        assert opt.state[k]["step"] == st["step"]
        for name in ("m", "v"):
            np.testing.assert_array_equal(opt.state[k][name], st[name])


def test_read_only_param_of_a_flat_net(rng):
    net, grads = _net_and_grads(rng)
    net.params["beta2"].flags.writeable = False
    before = separate(net.params)
    opt = SGD()
    with pytest.raises(ValueError, match=r"params\['beta2'\] is read-only"):
        opt.update(net.params, grads)
    assert_same(net.params, before)
    assert opt.state == {}


# --------------------------------------------------------------- tiling -----
def test_tiling_reads_layouts():
    buf = np.zeros((4, 5))
    flat = buf.reshape(-1)
    rng, address, layout = tiling([flat[9:12].reshape(3, 1), flat[2:9]], True)
    assert rng.shape == (10,) and rng.base is buf and address == buf.ctypes.data + 2 * 8
    assert layout == ("d", 10, (7, 0), ((3, 1), (7,)))
    rng[...] = 1
    assert flat[2:12].tolist() == [1] * 10 and flat[:2].tolist() + flat[12:].tolist() == [0] * 10
    one = np.zeros(6)
    assert tiling([one[3:], one[:3]], False)[0] is one  # all of a 1-D array: the array itself
    assert tiling([flat[:3], flat[4:6]], True) is None     # a gap
    assert tiling([flat[:3], flat[2:6]], True) is None     # an overlap
    assert tiling([flat[:3], flat[:3]], True) is None      # twice the same
    assert tiling([flat[:3], np.zeros(3)], True) is None   # two owners
    assert tiling([flat[:3], [0.0]], True) is None         # not an array
    assert tiling([], True) is None
    assert tiling([np.zeros(3, np.int64)], True) is None   # not float
    assert tiling([np.zeros(3, ">f8")], True) is None      # not native
    assert tiling([buf[:, 1]], True) is None               # not contiguous
    ro = np.zeros(3)
    ro.flags.writeable = False
    assert tiling([ro], True) is None and tiling([ro], False)[2] == ("d", 3, (0,), ((3,),))
    f32 = np.zeros(8, np.float32)
    assert tiling([f32[:2], f32[2:].view(np.float64)], True) is None  # two formats


def test_held_step_is_identity_of_dicts_and_arrays_and_one_int_step():
    m, v = [np.zeros(2) for _ in range(2)], [np.zeros(2) for _ in range(2)]
    stdicts = [{"step": 3, "m": m[0], "v": v[0]}, {"step": 3, "m": m[1], "v": v[1]}]
    views = [m[0], v[0], m[1], v[1]]  # key by key, name by name
    keys = ("a", "b")
    state = dict(zip(keys, stdicts))
    assert held_step(state, keys, stdicts, ("m", "v"), views) == 3
    assert held_step(dict(state), keys, stdicts, ("m", "v"), views) == 3  # the dicts count
    assert held_step({"a": {}, "b": {}}, keys, [{}, {}], (), []) is None  # equal, not the same
    assert held_step({**state, "b": dict(stdicts[1])}, keys, stdicts, ("m", "v"), views) is None
    assert held_step(state, keys[:1], stdicts, ("m", "v"), views) is None  # fewer keys
    assert held_step(state, ("a", "c"), stdicts, ("m", "v"), views) is None  # a key missing
    rebound = [stdicts[0], {**stdicts[1], "v": v[1].copy()}]  # an equal copy is not the view
    assert held_step(dict(zip(keys, rebound)), keys, rebound, ("m", "v"), views) is None
    deleted = [stdicts[0], {"step": 3, "m": m[1]}]
    assert held_step(dict(zip(keys, deleted)), keys, deleted, ("m", "v"), views) is None
    assert held_step(state, keys, stdicts, (), []) == 3  # no state arrays: the dicts only
    for steps in ((3, 4), (3, np.int64(3)), (3.0, 3.0), (True, True)):  # differ, or not ints
        sts = [{**st, "step": t} for st, t in zip(stdicts, steps)]
        assert held_step(dict(zip(keys, sts)), keys, sts, ("m", "v"), views) is None
    no_step = [stdicts[0], {"m": m[1], "v": v[1]}]
    assert held_step(dict(zip(keys, no_step)), keys, no_step, ("m", "v"), views) is None
    assert held_step(list(state.items()), keys, stdicts, ("m", "v"), views) is None  # not a dict


def test_pack_scalars_takes_dicts_of_float64_scalars_only():
    values, grads = np.zeros(2), np.zeros(2)
    assert pack_scalars({"x": -7.0, "y": np.float64(2.0)}, {"y": 0.5, "x": 1.5}, values, grads)
    assert values.tolist() == [-7.0, 2.0] and grads.tolist() == [1.5, 0.5]  # params' order
    for params, g in [({"x": 1.0, "y": np.float32(2.0)}, {"x": 0.5, "y": 0.5}),
                      ({"x": 1.0, "y": 2}, {"x": 0.5, "y": 0.5}),
                      ({"x": 1.0, "y": 2.0}, {"x": 0.5, "y": np.array(0.5)}),
                      ({"x": 1.0, "y": 2.0}, {"x": 0.5, "z": 0.5}),
                      ({"x": 1.0, "y": 2.0}, {"x": 0.5}),
                      ({}, {})]:
        assert not pack_scalars(params, g, np.zeros(len(params)), np.zeros(len(params)))
    assert not pack_scalars(OrderedDict(x=1.0, y=2.0), {"x": 0.5, "y": 0.5}, values, grads)
    with pytest.raises(ValueError, match="float64 array of 2"):
        pack_scalars({"x": 1.0, "y": 2.0}, {"x": 0.5, "y": 0.5}, np.zeros(3), grads)
    params = {"x": 1.0, "y": 2.0}
    unpack_scalars(params, ("x", "y"), np.array([0.25, -3.0]))
    assert params == {"x": 0.25, "y": -3.0} and all(type(v) is np.float64 for v in params.values())
