"""fastnet.init: distributions, gains and fans (vs torch), names, create_weight/bias, bad input."""
import math

import numpy as np
import pytest
from scipy import stats

import fastnet.init as fi

# (fan_in, fan_out) deliberately unequal, so a transposed fan rule shows.
FI, FO = 1500, 400
N = FI * FO


def _normal(std, mean=0.0):
    return stats.norm(mean, std)


def _uniform_pm(bound):
    return stats.uniform(-bound, 2 * bound)


# (initializer, frozen scipy distribution it must follow for W (FI, FO), support or None)
CASES = [
    ("normal", fi.normal(0.5, mean=0.2), _normal(0.5, 0.2), None),
    ("uniform", fi.uniform(-0.3, 0.7), stats.uniform(-0.3, 1.0), (-0.3, 0.7)),
    ("xavier_normal", fi.xavier_normal(gain=2.0), _normal(2 * math.sqrt(2 / (FI + FO))), None),
    ("xavier_uniform", fi.xavier_uniform(), _uniform_pm(math.sqrt(6 / (FI + FO))),
     (-math.sqrt(6 / (FI + FO)), math.sqrt(6 / (FI + FO)))),
    ("he_normal", fi.he_normal(), _normal(math.sqrt(2 / FI)), None),
    ("he_normal_fan_out", fi.he_normal(mode="fan_out"), _normal(math.sqrt(2 / FO)), None),
    ("he_normal_tanh", fi.he_normal(nonlinearity="tanh"), _normal(5 / 3 / math.sqrt(FI)), None),
    ("he_uniform_leaky", fi.he_uniform(a=0.2, mode="fan_out"),
     _uniform_pm(math.sqrt(3) * math.sqrt(2 / (1 + 0.04)) / math.sqrt(FO)), None),
    ("lecun_normal", fi.lecun_normal(), _normal(1 / math.sqrt(FI)), None),
    ("lecun_uniform", fi.lecun_uniform(), _uniform_pm(math.sqrt(3 / FI)),
     (-math.sqrt(3 / FI), math.sqrt(3 / FI))),
    ("trunc_normal", fi.trunc_normal(std=1.0, mean=0.5, a=-1.0, b=1.5),
     stats.truncnorm(-1.5, 1.0, loc=0.5, scale=1.0), (-1.0, 1.5)),
    ("trunc_normal_tail", fi.trunc_normal(std=0.1, a=0.25, b=0.5),
     stats.truncnorm(2.5, 5.0, loc=0.0, scale=0.1), (0.25, 0.5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label,init,dist,support", CASES, ids=[c[0] for c in CASES])
def test_moments_within_4_sigma(label, init, dist, support, dtype):
    w = init((FI, FO), np.random.default_rng(7), dtype)
    assert w.shape == (FI, FO) and w.dtype == dtype
    mean, var, kurt = (float(v) for v in dist.stats(moments="mvk"))
    mu4 = (kurt + 3.0) * var * var
    # Standard errors of the sample mean and of the sample variance.
    se_mean, se_var = math.sqrt(var / N), math.sqrt((mu4 - var * var) / N)
    x = w.astype(np.float64)
    assert abs(x.mean() - mean) < 4 * se_mean + 1e-7 * abs(mean)
    assert abs(x.var() - var) < 4 * se_var + 1e-6 * var
    if support is not None:
        lo, hi = support
        assert x.min() >= lo * (1 + 1e-6) - 1e-7 and x.max() <= hi * (1 + 1e-6) + 1e-7


@pytest.mark.parametrize("shape,check", [
    ((300, 100), "cols"), ((100, 300), "rows"), ((128, 128), "cols"), ((8, 3, 3, 3), "rows"),
])
@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_orthogonal(shape, check, gain):
    w = fi.orthogonal(gain)(shape, 3, np.float64)
    m = w.reshape(shape[0], -1)
    gram = m.T @ m if check == "cols" else m @ m.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(gram.shape[0]), atol=1e-12)


def test_orthogonal_float32_and_in_place():
    w = np.full((64, 32), 9.0, np.float32)
    out = fi.orthogonal_(w, rng=0)
    assert out is w
    np.testing.assert_allclose(w.T @ w, np.eye(32), atol=1e-5)


def test_constants():
    assert np.array_equal(fi.zeros()((3, 2)), np.zeros((3, 2), np.float32))
    assert np.array_equal(fi.ones()((4,), None, np.float64), np.ones(4))
    b = fi.constant(0.25)((5,), dtype=np.float64)
    assert b.dtype == np.float64 and np.all(b == 0.25)


@pytest.mark.parametrize("name", ["zeros", "ones", "normal", "uniform", "xavier_normal",
                                  "xavier_uniform", "he_normal", "he_uniform", "lecun_normal",
                                  "lecun_uniform", "orthogonal", "trunc_normal"])
def test_in_place_twin_matches_factory(name):
    factory, fill = getattr(fi, name), getattr(fi, name + "_")
    for dtype in (np.float32, np.float64):
        w = np.empty((30, 20), dtype)
        assert fill(w, rng=5) is w
        np.testing.assert_array_equal(w, factory()((30, 20), 5, dtype))


def test_in_place_fills_strided_view_and_constant_args():
    big = np.zeros((6, 8))
    fi.constant_(big[::2, 1::3], 3.0)
    assert big.sum() == 3.0 * 3 * 3 and big[0, 1] == 3.0 and big[1, 1] == 0.0
    w = np.empty((50, 40))
    fi.he_normal_(w, mode="fan_out", nonlinearity="relu", rng=1)
    np.testing.assert_array_equal(w, fi.he_normal(mode="fan_out", nonlinearity="relu")((50, 40), 1, np.float64))


def test_seed_reproducible_and_same_across_dtypes():
    a = fi.he_normal()((40, 30), 11, np.float64)
    b = fi.he_normal()((40, 30), np.random.default_rng(11), np.float32)
    np.testing.assert_array_equal(a.astype(np.float32), b)
    assert not np.array_equal(a, fi.he_normal()((40, 30), 12, np.float64))


def test_aliases_and_repr():
    assert fi.kaiming_normal is fi.he_normal and fi.kaiming_uniform_ is fi.he_uniform_
    assert fi.glorot_uniform is fi.xavier_uniform
    assert repr(fi.he_normal(mode="fan_out")) == "he_normal(a=0.0, mode='fan_out', nonlinearity='leaky_relu')"


# -- gains and fans -----------------------------------------------------------------

def test_gain_table_by_hand():
    assert fi.calculate_gain("identity") == 1.0
    assert fi.calculate_gain("sigmoid") == 1.0
    assert fi.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert fi.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert fi.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert fi.calculate_gain("selu") == 0.75


def test_fans_by_hand():
    assert fi.compute_fans((784, 100)) == (784, 100)
    assert fi.compute_fans((16, 3, 5, 5)) == (75, 400)
    assert fi.compute_fans((2, 4, 3)) == (12, 6)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is the oracle for gains and fans")


@pytest.mark.parametrize("nonlinearity,param", [
    (n, None) for n in fi.NONLINEARITIES if n != "identity"] + [
    ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", -0.5), ("leaky_relu", 3)])
def test_gain_matches_torch(torch, nonlinearity, param):
    assert fi.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


@pytest.mark.parametrize("shape", [(7, 3), (3, 7), (1, 1)])
def test_fans_are_torch_transposed_for_2d(torch, shape):
    t = torch.empty(shape[::-1])  # torch's Linear.weight is (out, in)
    assert fi.compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(t)


@pytest.mark.parametrize("shape", [(16, 3, 5, 5), (4, 6, 3), (2, 3, 2, 2, 2)])
def test_fans_match_torch_for_filters(torch, shape):
    assert fi.compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("name,kwargs", [
    ("kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"}),
    ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform", {"mode": "fan_in", "a": 0.3}),
    ("kaiming_uniform", {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("xavier_normal", {"gain": 1.5}),
    ("xavier_uniform", {}),
])
def test_variances_match_torch_after_transpose(torch, name, kwargs):
    fan_in, fan_out = 1200, 300
    t = torch.empty(fan_out, fan_in, dtype=torch.float64)  # (out, in)
    torch.manual_seed(0)
    getattr(torch.nn.init, name + "_")(t, **kwargs)
    ours = getattr(fi, name)(**kwargs)((fan_in, fan_out), 0, np.float64)  # (in, out)
    v_t, v_o = float(t.var(unbiased=False)), float(ours.var())
    # Each sample variance has relative s.e. <= sqrt(2/n) (normal; uniform is smaller).
    assert abs(v_t - v_o) < 4 * math.sqrt(2) * math.sqrt(2 / (fan_in * fan_out)) * v_o
    # and a transposed fan rule would be off by a factor of 4 here (or 1.6 for Glorot's sum)
    assert 0.9 < v_o / v_t < 1.1


# -- names: a net's weight_init_std -------------------------------------------------

def test_textbook_names_keep_their_numbers():
    shape = (784, 100)
    for names, scale in ((("relu", "he", "RELU"), 2.0), (("sigmoid", "xavier"), 1.0)):
        want = (np.random.default_rng(0).standard_normal(shape) * math.sqrt(scale / 784)).astype(np.float32)
        for name in names:
            np.testing.assert_array_equal(
                fi.get_initializer(name)(shape, np.random.default_rng(0), np.float32), want)


def test_float_std_is_textbook_normal():
    w = fi.get_initializer(0.01)((20, 10), np.random.default_rng(1), np.float64)
    np.testing.assert_array_equal(w, np.random.default_rng(1).standard_normal((20, 10)) * 0.01)
    assert np.all(fi.get_initializer(0)((3, 3), 0, np.float64) == 0)


def test_xavier_string_is_textbook_glorot_is_glorot():
    shape = (1000, 10)
    x = fi.get_initializer("xavier")(shape, 0, np.float64)
    g = fi.get_initializer("glorot")(shape, 0, np.float64)
    assert x.var() == pytest.approx(1 / 1000, rel=0.05)
    assert g.var() == pytest.approx(2 / 1010, rel=0.05)
    assert repr(fi.get_initializer("xavier_normal")) == "xavier_normal(gain=1.0)"


@pytest.mark.parametrize("name", sorted(fi.NAMES))
def test_every_name_makes_an_initializer(name):
    w = fi.get_initializer(name)((12, 8), 0, np.float32)
    assert w.shape == (12, 8) and w.dtype == np.float32 and np.isfinite(w).all()


def test_callables_and_initializers_pass_through():
    init = fi.he_normal(mode="fan_out")
    assert fi.get_initializer(init) is init

    def custom(shape, rng, dtype):
        return np.full(shape, 0.5, dtype)

    assert fi.get_initializer(custom) is custom


def test_net_accepts_new_names_and_initializers():
    from fastnet import MultiLayerNet

    for spec in ("glorot", "orthogonal", "lecun", fi.he_uniform(mode="fan_out"), 0.05):
        net = MultiLayerNet(30, [20, 10], 5, weight_init_std=spec, seed=0)
        assert net.params["W1"].shape == (30, 20)
    net = MultiLayerNet(30, [20], 5, weight_init_std="orthogonal", dtype=np.float64, seed=0)
    np.testing.assert_allclose(net.params["W1"].T @ net.params["W1"], np.eye(20), atol=1e-12)


# -- create_weight / create_bias ------------------------------------------------------

def test_create_weight_default_is_he_normal_fan_in_relu():
    w = fi.create_weight((800, 400), rng=0)
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, fi.he_normal(nonlinearity="relu")((800, 400), 0, np.float32))
    # the LSTM helper's call shape: stacked gates (2H, 4H)
    assert fi.create_weight([64, 128], rng=1, dtype=np.float64).shape == (64, 128)
    w = fi.create_weight((800, 400), mode="fan_out", rng=0, dtype=np.float64)
    assert w.var() == pytest.approx(2 / 400, rel=0.02)


def test_create_weight_other_initializers():
    w = fi.create_weight((50, 20), fi.xavier_uniform_, gain=2.0, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(w, fi.xavier_uniform(2.0)((50, 20), 0, np.float64))
    w = fi.create_weight((50, 20), "orthogonal", rng=0, dtype=np.float64)
    np.testing.assert_allclose(w.T @ w, np.eye(20), atol=1e-12)
    w = fi.create_weight((50, 20), fi.lecun_normal, rng=0)
    np.testing.assert_array_equal(w, fi.lecun_normal()((50, 20), 0, np.float32))
    w = fi.create_weight((5, 2), fi.constant(1.5))
    assert np.all(w == 1.5)

    def my_filler(array, rng=None, value=0.0):
        array[...] = value

    assert np.all(fi.create_weight((3, 3), my_filler, value=2.0) == 2.0)


def test_create_bias():
    b = fi.create_bias((400,))
    assert b.dtype == np.float32 and b.shape == (400,) and np.all(b == 0)
    assert np.all(fi.create_bias(7, "constant", value=0.1, dtype=np.float64) == 0.1)
    b = fi.create_bias((4, 5), fi.normal(0.1), rng=0, dtype=np.float64)
    np.testing.assert_array_equal(b, fi.normal(0.1)((4, 5), 0, np.float64))


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize("call,exc,match", [
    (lambda: fi.get_initializer("kaiming"), ValueError, "weight_init_std must be one of.*'glorot'"),
    (lambda: fi.get_initializer(-0.1), ValueError, "weight_init_std must be >= 0"),
    (lambda: fi.get_initializer(float("nan")), ValueError, "finite"),
    (lambda: fi.get_initializer(True), TypeError, "weight_init_std must be a name"),
    (lambda: fi.get_initializer(None, name="bias_init"), TypeError, "bias_init must be"),
    (lambda: fi.get_initializer(fi.he_normal), TypeError, "factory: call it"),
    (lambda: fi.get_initializer(fi.he_normal_), TypeError, "in place"),
    (lambda: fi.normal(-1.0), ValueError, "std must be >= 0"),
    (lambda: fi.uniform(1.0, 1.0), ValueError, "low < high"),
    (lambda: fi.trunc_normal(std=0.0), ValueError, "std must be > 0"),
    (lambda: fi.trunc_normal(a=1.0, b=-1.0), ValueError, "a < b"),
    (lambda: fi.constant("x"), TypeError, "value must be a real number"),
    (lambda: fi.xavier_normal(gain=-1), ValueError, "gain must be >= 0"),
    (lambda: fi.he_normal(a=0.1, nonlinearity="relu"), ValueError, "only used with nonlinearity='leaky_relu'"),
    (lambda: fi.he_normal(mode="fan_avg"), ValueError, "'fan_in' or 'fan_out'"),
    (lambda: fi.he_normal(nonlinearity="softmax"), ValueError, r"nonlinearity must be one of \[.*'relu'"),
    (lambda: fi.calculate_gain("softsign"), ValueError, "nonlinearity must be one of"),
    (lambda: fi.calculate_gain("gelu", 0.1), ValueError, "only accepted for nonlinearity=.leaky_relu."),
    (lambda: fi.calculate_gain("tanh", 0.1), ValueError, "only accepted for nonlinearity='leaky_relu'"),
    (lambda: fi.calculate_gain("leaky_relu", "0.1"), TypeError, "param"),
    (lambda: fi.compute_fans((5,)), ValueError, "at least 2 dimensions"),
    (lambda: fi.he_normal()((100,), 0), ValueError, "at least 2 dimensions"),
    (lambda: fi.orthogonal()((100,), 0), ValueError, "at least 2 dimensions"),
    (lambda: fi.normal()((0, 3), 0), ValueError, "shape must be a non-empty tuple of positive ints"),
    (lambda: fi.normal()((-2,), 0), ValueError, "positive ints"),
    (lambda: fi.normal()((2.5, 3), 0), ValueError, "positive ints"),
    (lambda: fi.normal()(None, 0), TypeError, "shape must be"),
    (lambda: fi.normal()((2, 3), "seed"), TypeError, "seed must be"),
    (lambda: fi.normal()((2, 3), 0, np.float16), TypeError, "dtype must be float32 or float64"),
    (lambda: fi.zeros_(np.zeros(3, np.int64)), TypeError, "array.dtype must be float32"),
    (lambda: fi.zeros_([0.0, 1.0]), TypeError, "numpy array"),
    (lambda: fi.create_weight((3, 3), "xavier"), ValueError, "weight initializer must be one of"),
    (lambda: fi.create_weight((3, 3), fi.he_normal(), mode="fan_out"), TypeError, "already configured"),
    (lambda: fi.create_weight((3, 3), 0.1), TypeError, "weight initializer must be None"),
    (lambda: fi.create_bias((3,), 0.1), TypeError, "bias initializer must be None"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_read_only_array_rejected():
    w = np.zeros((3, 3))
    w.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        fi.he_normal_(w)
