"""Property tests of the nets and their state: random small architectures,
compiled vs reference ``predict``/``loss``/``gradient``, the ``state_dict`` round
trip, ``load_state_dict`` of mutated states, and damaged checkpoint files.

The nets are float64 on unit-scale data, so a ReLU kink between the two
backends' rounding (a pre-activation within 1e-15 of 0) is practically never
met; the tolerance is a few hundred ulps of the largest value compared.
"""
import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnet
from fastnet import MultiLayerNetExtend, Sequential
from fastnet.checkpoint import CheckpointError
from fastnet.layers import NAMED, Affine, BatchNormalization, Dropout
from fuzzing import assert_unchanged, frozen, fuzz

ACTIVATIONS = sorted(spec().activation for spec in NAMED.values())


def _close(got, want, what):
    """Equal within 1e-10 relative to the largest magnitude (float64 nets)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.max(np.abs(want), initial=1.0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * scale, err_msg=what)


@st.composite
def architectures(draw):
    """A list of layer specs: ``("affine", size, activation)``, ``("bn",)``,
    ``("act", name)``, ``("dropout", ratio, mode)``, ending in an affine layer."""
    specs = []
    for _ in range(draw(st.integers(0, 3))):
        specs.append(("affine", draw(st.integers(1, 6)), draw(st.sampled_from(ACTIVATIONS))))
        for extra in draw(st.lists(st.sampled_from(["bn", "act", "dropout"]), max_size=2)):
            if extra == "bn":
                specs.append(("bn",))
            elif extra == "act":
                specs.append(("act", draw(st.sampled_from(ACTIVATIONS))))
            else:
                specs.append(("dropout", draw(st.sampled_from([0.0, 0.5])),
                              draw(st.sampled_from(["textbook", "inverted"]))))
    specs.append(("affine", draw(st.integers(1, 5)), "identity"))
    return specs


def build(specs, d, seed, backend="compiled"):
    """The Sequential net of ``specs`` over ``d`` inputs; ``seed`` fixes every array and mask."""
    rng = np.random.default_rng(seed)
    layers, size = [], d
    for spec in specs:
        if spec[0] == "affine":
            layers.append(Affine.create(size, spec[1], spec[2], rng=rng, dtype=np.float64,
                                        bias_init=0.1, backend=backend))
            size = spec[1]
        elif spec[0] == "bn":
            bn = BatchNormalization.create(size, dtype=np.float64, backend=backend)
            bn.gamma[...] = rng.uniform(0.5, 2, size)
            bn.beta[...] = rng.standard_normal(size)
            layers.append(bn)
        elif spec[0] == "act":
            layers.append(NAMED[[k for k, v in NAMED.items() if v().activation == spec[1]][0]](
                backend=backend))
        else:
            layers.append(Dropout(spec[1], spec[2], rng=int(rng.integers(2**32)), backend=backend))
    return Sequential(layers)


@st.composite
def nets(draw):
    """``(specs, d, seed, x, t)``: an architecture, its input size, a seed, a batch of
    ``N >= 2`` samples (batch norm trains on it) and labels or target rows."""
    specs, d = draw(architectures()), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(2, 8))
    x = rng.standard_normal((n, d))
    c = specs[-1][1]
    labels = rng.integers(0, c, n)
    t = np.eye(c)[labels] if draw(st.booleans()) else labels
    return specs, d, seed, x, t


@fuzz
@given(case=nets())
def test_sequential_compiled_equals_reference(case):
    specs, d, seed, x, t = case
    net, ref = build(specs, d, seed), build(specs, d, seed, "reference")
    before = frozen(x, t)
    _close(net.predict(x), ref.predict(x), "predict")
    _close(net.loss(x, t), ref.loss(x, t), "loss")
    got, want = net.gradient(x, t), ref.gradient(x, t)
    assert list(got) == list(want) == list(net.params)
    for key in got:
        _close(got[key], want[key], f"gradient[{key!r}]")
    for key in net.buffers:  # the running statistics the training pass moved
        _close(net.buffers[key], ref.buffers[key], f"buffers[{key!r}]")
    assert_unchanged(before, [x, t], "x or t")


@fuzz
@given(d=st.integers(1, 6), hidden=st.lists(st.integers(1, 6), max_size=3), c=st.integers(1, 5),
       activation=st.sampled_from(ACTIVATIONS), use_batchnorm=st.booleans(),
       use_dropout=st.booleans(), decay=st.sampled_from([0, 0.1]), seed=st.integers(0, 2**32 - 1))
def test_multilayer_net_extend(d, hidden, c, activation, use_batchnorm, use_dropout, decay, seed):
    kwargs = dict(activation=activation, use_batchnorm=use_batchnorm, use_dropout=use_dropout,
                  weight_decay_lambda=decay, dtype=np.float64, seed=seed)
    net = MultiLayerNetExtend(d, hidden, c, **kwargs)
    ref = MultiLayerNetExtend(d, hidden, c, backend="reference", **kwargs)
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal((4, d)), rng.integers(0, c, 4)
    _close(net.predict(x), ref.predict(x), "predict")
    _close(net.loss(x, t), ref.loss(x, t), "loss")
    got, want = net.gradient(x, t), ref.gradient(x, t)
    for key in want:
        _close(got[key], want[key], f"gradient[{key!r}]")
    # the round trip through the state keeps the builder's class and every value
    again = Sequential.from_state(net.state_dict())
    assert type(again) is MultiLayerNetExtend
    _assert_same_state(again.state_dict(), net.state_dict())


def _assert_same_state(got, want):
    assert got["config"] == want["config"]
    assert got["extra"] == want["extra"]
    for part in ("params", "buffers"):
        assert list(got[part]) == list(want[part]), part
        for key in want[part]:
            assert got[part][key].dtype == want[part][key].dtype
            np.testing.assert_array_equal(got[part][key], want[part][key], err_msg=key)


@fuzz
@given(case=nets(), train=st.booleans())
def test_state_round_trip(case, train):
    specs, d, seed, x, t = case
    net = build(specs, d, seed)
    if train:  # moved running statistics and dropout generators are state too
        net.gradient(x, t)
    state = net.state_dict()
    again = Sequential.from_state(copy.deepcopy(state))
    _assert_same_state(again.state_dict(), state)
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    if train:  # the same masks from here on
        a, b = again.gradient(x, t), net.gradient(x, t)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _mutations(state, net, rng):
    """Ways to break a valid state, each as ``(description, mutate(state))``."""
    keys = {part: list(state[part]) for part in ("params", "buffers")}
    dropouts = [name for name, layer in net.layers.items() if isinstance(layer, Dropout)]
    others = [name for name, layer in net.layers.items() if not isinstance(layer, Dropout)]

    def pick(part):
        return keys[part][rng.integers(len(keys[part]))]

    out = [("not a dict", lambda s: [s]), ("params not a dict", lambda s: {**s, "params": 3}),
           ("extra not a dict", lambda s: {**s, "extra": [1]}),
           ("extra for an unknown layer", lambda s: {**s, "extra": {"nope": {}}}),
           ("extra key", lambda s: {**s, "params": {**s["params"], "W99": np.zeros(2)}})]
    for part in ("params", "buffers"):
        if not keys[part]:
            continue
        out += [
            (f"{part} key dropped", lambda s, p=part, k=pick(part): {
                **s, p: {kk: v for kk, v in s[p].items() if kk != k}}),
            (f"{part} wrong shape", lambda s, p=part, k=pick(part): {
                **s, p: {**s[p], k: np.zeros(s[p][k].shape + (1,), s[p][k].dtype)}}),
            (f"{part} transposed", lambda s, p=part, k=pick(part): {
                **s, p: {**s[p], k: np.zeros(s[p][k].shape[::-1] + (2,), s[p][k].dtype)}}),
            (f"{part} wrong dtype", lambda s, p=part, k=pick(part), dt=rng.choice(
                ["float32", "int64", "complex128", "object", "bool"]): {
                **s, p: {**s[p], k: s[p][k].astype(dt)}}),
            (f"{part} a list", lambda s, p=part, k=pick(part): {
                **s, p: {**s[p], k: s[p][k].tolist()}}),
            (f"{part} None", lambda s, p=part, k=pick(part): {**s, p: {**s[p], k: None}}),
        ]
    junk = [5, "x", None, [1, 2], {"rng": 5}, {"rng": {"bit_generator": "PCG64"}},
            {"rng": {"bit_generator": "MT19937", "state": {}}}, {"other": 1}]
    for name in dropouts:
        for value in junk:
            out.append((f"extra[{name!r}] = {value!r}", lambda s, n=name, v=value: {
                **s, "extra": {**s["extra"], n: v}}))
    for name in others:
        for value in junk[:4]:
            out.append((f"extra[{name!r}] = {value!r}", lambda s, n=name, v=value: {
                **s, "extra": {**s["extra"], n: v}}))
    return out


@fuzz
@given(case=nets(), other_seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 2**32 - 1),
       count=st.integers(1, 3))
def test_load_state_dict_rejects_mutations(case, other_seed, pick, count):
    """A mutated state is a TypeError/ValueError and leaves the net as it was;
    the unmutated one (another net's, same architecture) loads and gives its values."""
    specs, d, seed, x, t = case
    net = build(specs, d, seed)
    net.gradient(x, t)
    donor = build(specs, d, other_seed)
    donor.gradient(x, t)
    valid = donor.state_dict()
    rng = np.random.default_rng(pick)
    options = _mutations(valid, net, rng)
    before = net.state_dict()
    state, done = copy.deepcopy(valid), []
    for i in rng.choice(len(options), count, replace=False):
        what, mutate = options[i]
        try:
            state = mutate(state)
        except (KeyError, TypeError, AttributeError):  # an earlier one broke what this one edits
            continue
        done.append(what)
    try:
        net.load_state_dict(state)
    except (TypeError, ValueError):
        pass
    else:
        pytest.fail(f"load_state_dict accepted a state with: {'; '.join(done)}")
    _assert_same_state(net.state_dict(), before)
    net.load_state_dict(valid)
    _assert_same_state(net.state_dict(), valid)


# -- checkpoint files --------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved net (with batch norm and dropout state) and its file's bytes."""
    net = MultiLayerNetExtend(3, [4], 2, use_batchnorm=True, use_dropout=True, seed=5,
                              dtype=np.float64)
    rng = np.random.default_rng(0)
    net.gradient(rng.standard_normal((6, 3)), rng.integers(0, 2, 6))
    path = tmp_path_factory.mktemp("ckpt") / "net.npz"
    fastnet.save(path, net)
    return net, path.read_bytes(), path.parent


@fuzz
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=0, max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_damaged_checkpoints(saved, edits, cut):
    """Random byte changes and truncation: CheckpointError, or a net equal to the saved one
    (a change the zip checksums prove harmless: a timestamp, a comment)."""
    net, blob, folder = saved
    data = bytearray(blob)
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    path = folder / "damaged.npz"
    path.write_bytes(bytes(data))
    try:
        loaded = fastnet.load(path)
    except (CheckpointError, FileNotFoundError):
        return
    _assert_same_state(loaded.state_dict(), net.state_dict())
