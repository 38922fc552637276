"""Several nets' inference passes in one call (fastnet._program.outputs_many), and the
NetBatch evaluation built on it, equal each net's own predict/accuracy."""
import numpy as np
import pytest
from numerics import DTYPES, tol

from fastnet import MultiLayerNet, MultiLayerNetExtend
from fastnet._program import outputs_many
from fastnet.layers import Affine, Dropout
from fastnet.layers.lstm import LSTM, LastStep
from fastnet.net import Sequential
from fastnet.netbatch import NetBatch
from fastnet.optim import SGD

REGULARISED = dict(use_batchnorm=True, use_dropout=True, dropout_ration=0.3,
                   weight_decay_lambda=0.1)


def _trained(dtype, count=4, **kwargs):
    """``count`` nets of one shape whose weights and batch-norm statistics differ
    (a few SGD steps each), so that a mixed-up output would show."""
    rng = np.random.default_rng(1)
    nets = [MultiLayerNetExtend(6, [5, 4], 3, seed=s, dtype=dtype, **kwargs)
            for s in range(count)]
    for net in nets:
        opt = SGD(0.1)
        for _ in range(3):
            x = rng.standard_normal((8, 6)).astype(dtype)
            opt.update(net.params, net.gradient(x, rng.integers(0, 3, 8)))
    return nets


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, REGULARISED])
def test_outputs_many_equals_predict(dtype, kwargs):
    """Shared and per-net inputs of several batch sizes; small GEMMs, where
    OpenBLAS's one- and multi-threaded products agree bit for bit."""
    nets = _trained(dtype, **kwargs)
    rng = np.random.default_rng(2)
    for n, shared in ((7, True), (5, False), (7, True)):
        xs = [rng.standard_normal((n, 6)).astype(dtype) for _ in nets]
        if shared:
            xs = [xs[0]] * len(nets)
        before = [x.copy() for x in xs]
        got = outputs_many(nets, xs)
        want = [net.predict(x) for net, x in zip(nets, xs)]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, strict=True)
        for x, b in zip(xs, before):
            np.testing.assert_array_equal(x, b)  # the inputs are only read


@pytest.mark.parametrize("dtype", DTYPES)
def test_outputs_many_large_gemms_to_tolerance(dtype):
    """The overfit experiment's shapes: each net's GEMMs on one BLAS thread may
    round differently from predict's multi-threaded ones."""
    nets = [MultiLayerNet(784, [100, 100], 10, seed=s, dtype=dtype) for s in range(3)]
    x = np.random.default_rng(0).random((2000, 784)).astype(dtype)
    for got, net in zip(outputs_many(nets, [x] * 3), nets):
        np.testing.assert_allclose(got, net.predict(x), **tol(dtype))


def test_outputs_many_mixes_compiled_and_per_layer_nets_and_checks():
    lstm = Sequential([LSTM(6, 4, batch_first=True, rng=0), LastStep(), Affine.create(4, 3, rng=0)])
    plain = [MultiLayerNet(6, [5], 3, seed=s) for s in (1, 2)]
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 2, 6)).astype(np.float32),
          rng.standard_normal((5, 6)).astype(np.float32), rng.integers(-2, 3, (4, 6))]
    got = outputs_many([lstm, *plain], xs)
    for g, net, x in zip(got, [lstm, *plain], xs):
        np.testing.assert_array_equal(g, net.predict(x), strict=True)
    with pytest.raises(ValueError, match="one entry per net"):
        outputs_many(plain, xs)
    with pytest.raises(ValueError, match="appears twice"):
        outputs_many([plain[0], plain[0]], xs[1:])
    with pytest.raises(ValueError, match=r"^x "):
        outputs_many(plain, [xs[1], np.ones((5, 7), np.float32)])
    with pytest.raises(TypeError, match="x has dtype float64"):
        outputs_many(plain, [xs[1], np.ones((5, 6))])


def test_outputs_many_with_a_shared_layer_runs_one_after_the_other():
    drop = Dropout(0.5, rng=7)
    nets = [Sequential([Affine.create(4, 3, rng=s), drop, Affine.create(3, 2, rng=s)])
            for s in (0, 1)]
    x = np.linspace(-1, 1, 20, dtype=np.float32).reshape(5, 4)
    got = [g.copy() for g in outputs_many(nets, [x, x])]
    for g, net in zip(got, nets):
        np.testing.assert_array_equal(g, net.predict(x), strict=True)


def test_outputs_are_the_nets_buffers_until_their_next_pass():
    """Documented: not copies. predict copies them; a second call overwrites them."""
    nets = _trained(np.float64, count=2)
    x = np.ones((3, 6))
    first = outputs_many(nets, [x, x])
    kept = [f.copy() for f in first]
    outputs_many(nets, [2 * x, 2 * x])
    assert any(not np.array_equal(f, k) for f, k in zip(first, kept))


@pytest.mark.parametrize("dtype", DTYPES)
def test_netbatch_accuracy_and_predict_equal_each_member(dtype):
    """Labels as indices and as one-hot rows; a diverged member's NaN rows count as wrong."""
    nets = _trained(dtype, **REGULARISED)
    nets[3].params["W1"][...] = np.nan
    batch = NetBatch(nets)
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((9, 6)).astype(dtype), rng.integers(0, 3, 9)
    for labels in (t, np.eye(3, dtype=dtype)[t]):
        accs = batch.accuracy(x, labels)
        assert accs.dtype == np.float64
        assert accs.tolist() == [net.accuracy(x, labels) for net in nets]
    assert accs[3] == 0.0
    logits = batch.predict(x)
    for got, net in zip(logits, nets):
        np.testing.assert_array_equal(got, net.predict(x), strict=True)
    logits[0][...] = 7  # new arrays: writing one leaves the member's next pass alone
    np.testing.assert_array_equal(batch.predict(x)[0], nets[0].predict(x), strict=True)
