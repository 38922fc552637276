"""Optimizers: closed forms, kernels vs reference, textbook and PyTorch parity, state, bad input."""
import math

import numpy as np
import pytest

import fastnet._kernels.threads as threads
from fastnet.optim import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
)
from numerics import DTYPES, tol

ALL = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW]
CONVENTIONS = ["textbook", "torch"]

P0 = np.array([1.0, -2.0, 0.25])
G0 = np.array([0.5, 1.0, -4.0])


def run(opt, steps, dtype=np.float64, p0=P0, g0=G0):
    p = {"w": p0.astype(dtype)}
    for _ in range(steps):
        opt.update(p, {"w": g0.astype(dtype)})
    return p["w"]


# --------------------------------------------------------------------------
# Closed forms. With a constant gradient g every rule has a closed form in t;
# the expectations below are derived by hand, independently of the code.
# --------------------------------------------------------------------------
def _geometric(mu, t):
    """1 + mu + ... + mu^(t-1)."""
    return (1 - mu ** t) / (1 - mu)


def expected(name, convention, steps, lr, g=G0, p=P0, mu=0.9, rho=0.99, b1=0.9, b2=0.999,
             eps=None):
    total = np.zeros_like(p)
    for t in range(1, steps + 1):
        if name == "SGD":
            d = -lr * g
        elif name == "Momentum":  # both conventions: v_t = -lr g (1 + mu + ... + mu^(t-1))
            d = -lr * g * _geometric(mu, t)
        elif name == "Nesterov":
            if convention == "textbook":  # p += mu^2 v_t - (1 + mu) lr g
                d = mu * mu * (-lr * g * _geometric(mu, t)) - (1 + mu) * lr * g
            else:  # p -= lr (g + mu b_t), b_t = g (1 + ... + mu^(t-1))
                d = -lr * (g + mu * g * _geometric(mu, t))
        elif name == "AdaGrad":  # h_t = t g^2
            d = -lr * g / (math.sqrt(t) * np.abs(g) + eps)
        elif name == "RMSprop":  # h_t = (1 - rho^t) g^2
            d = -lr * g / (math.sqrt(1 - rho ** t) * np.abs(g) + eps)
        elif name in ("Adam", "AdamW"):  # m_t = (1 - b1^t) g, v_t = (1 - b2^t) g^2
            if convention == "textbook":  # eps added to the uncorrected root
                c2 = math.sqrt(1 - b2 ** t)
                d = -lr * c2 * g / (c2 * np.abs(g) + eps)
            else:  # eps added to the corrected root
                d = -lr * g / (np.abs(g) + eps)
        total = total + d
    return p + total


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_closed_form_constant_gradient(cls, convention, steps, dtype):
    kwargs = {"weight_decay": 0.0} if cls is AdamW else {}
    opt = cls(lr=0.1, convention=convention, **kwargs)
    got = run(opt, steps, dtype)
    want = expected(cls.__name__, convention, steps, 0.1, eps=getattr(opt, "eps", None))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, **tol(dtype))


def test_closed_form_eps_defaults():
    # the conventions differ in eps: textbook 1e-7, torch per optimizer
    assert AdaGrad().eps == 1e-7 and AdaGrad(convention="torch").eps == 1e-10
    assert RMSprop().eps == 1e-7 and RMSprop(convention="torch").eps == 1e-8
    assert Adam().eps == 1e-7 and Adam(convention="torch").eps == 1e-8
    assert AdamW(convention="torch").weight_decay == 0.01


def test_hand_worked_one_step_values():
    """Single steps worked out on paper: p = 1, g = 0.5, lr = 0.1."""
    one = lambda opt: float(run(opt, 1, p0=np.array([1.0]), g0=np.array([0.5]))[0])  # noqa: E731
    assert one(SGD(lr=0.1)) == pytest.approx(0.95, abs=1e-15)
    assert one(SGD(lr=0.1, weight_decay=0.2)) == pytest.approx(1 - 0.1 * 0.7, abs=1e-15)
    assert one(Momentum(lr=0.1)) == pytest.approx(0.95, abs=1e-15)
    # textbook Nesterov: v = -0.05; p = 1 + 0.81 (-0.05) - 1.9 * 0.1 * 0.5 = 0.8645
    assert one(Nesterov(lr=0.1)) == pytest.approx(0.8645, abs=1e-15)
    # torch Nesterov: b = 0.5; p = 1 - 0.1 (0.5 + 0.45) = 0.905
    assert one(Nesterov(lr=0.1, convention="torch")) == pytest.approx(0.905, abs=1e-15)
    # AdaGrad: h = 0.25; p = 1 - 0.05 / (0.5 + 1e-7)
    assert one(AdaGrad(lr=0.1)) == pytest.approx(1 - 0.05 / (0.5 + 1e-7), abs=1e-15)
    # RMSprop: h = 0.01 * 0.25; p = 1 - 0.05 / (0.05 + 1e-7)
    assert one(RMSprop(lr=0.1)) == pytest.approx(1 - 0.05 / (0.05 + 1e-7), abs=1e-15)
    # Adam textbook: m = 0.05, v = 0.00025, lr_t = 0.1 sqrt(0.001) / 0.1
    lr_t = 0.1 * math.sqrt(0.001) / 0.1
    assert one(Adam(lr=0.1)) == pytest.approx(1 - lr_t * 0.05 / (math.sqrt(0.00025) + 1e-7), abs=1e-15)
    # AdamW torch, lambda = 0.5: p = (1 - 0.05) - 0.1 / 0.1 * 0.05 / (sqrt(0.00025/0.001) + 1e-8)
    assert one(AdamW(lr=0.1, weight_decay=0.5, convention="torch")) == pytest.approx(
        0.95 - 0.05 / (0.5 + 1e-8), abs=1e-15)
    # Adam torch with coupled L2 0.5: g = 0.5 + 0.5 = 1; step = lr g/|g| (almost)
    assert one(Adam(lr=0.1, weight_decay=0.5, convention="torch")) == pytest.approx(
        1 - 0.1 * 1 / (1 + 1e-8), abs=1e-15)


# --------------------------------------------------------------------------
# Textbook parity: the textbook's update formulas, written out here.
# --------------------------------------------------------------------------
class TextbookFormulas:
    """The textbook's common/optimizer.py update rules, restated (our words, its math)."""

    def __init__(self, name, lr, mu=0.9, rho=0.99, b1=0.9, b2=0.999):
        self.name, self.lr, self.mu, self.rho, self.b1, self.b2 = name, lr, mu, rho, b1, b2
        self.s1, self.s2, self.it = None, None, 0

    def update(self, params, grads):
        if self.s1 is None:
            self.s1 = {k: np.zeros_like(v) for k, v in params.items()}
            self.s2 = {k: np.zeros_like(v) for k, v in params.items()}
        self.it += 1
        lr, mu = self.lr, self.mu
        for k in params:
            g = grads[k]
            if self.name == "SGD":
                params[k] -= lr * g
            elif self.name == "Momentum":
                self.s1[k] = mu * self.s1[k] - lr * g
                params[k] += self.s1[k]
            elif self.name == "Nesterov":
                self.s1[k] *= mu
                self.s1[k] -= lr * g
                params[k] += mu * mu * self.s1[k]
                params[k] -= (1 + mu) * lr * g
            elif self.name == "AdaGrad":
                self.s1[k] += g * g
                params[k] -= lr * g / (np.sqrt(self.s1[k]) + 1e-7)
            elif self.name == "RMSprop":
                self.s1[k] *= self.rho
                self.s1[k] += (1 - self.rho) * g * g
                params[k] -= lr * g / (np.sqrt(self.s1[k]) + 1e-7)
            elif self.name == "Adam":
                lr_t = lr * np.sqrt(1.0 - self.b2 ** self.it) / (1.0 - self.b1 ** self.it)
                self.s1[k] += (1 - self.b1) * (g - self.s1[k])
                self.s2[k] += (1 - self.b2) * (g ** 2 - self.s2[k])
                params[k] -= lr_t * self.s1[k] / (np.sqrt(self.s2[k]) + 1e-7)


TEXTBOOK = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@pytest.mark.parametrize("name", TEXTBOOK)
def test_textbook_parity_arrays(name, rng):
    ours, theirs = make_optimizer(name, lr=0.05), TextbookFormulas(name, 0.05)
    shapes = {"W1": (4, 3), "b1": (3,), "W2": (3, 2)}
    p_ours = {k: rng.standard_normal(s) for k, s in shapes.items()}
    p_theirs = {k: v.copy() for k, v in p_ours.items()}
    for _ in range(50):
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        ours.update(p_ours, grads)
        theirs.update(p_theirs, grads)
    for k in shapes:
        np.testing.assert_allclose(p_ours[k], p_theirs[k], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", TEXTBOOK)
def test_textbook_parity_python_scalars(name):
    """The textbook's optimizer-path script keeps x and y as Python floats in the dict."""
    ours, theirs = make_optimizer(name, lr=0.3), TextbookFormulas(name, 0.3)
    p_ours = {"x": -7.0, "y": 2.0}
    p_theirs = dict(p_ours)
    for _ in range(30):
        g_ours = {"x": p_ours["x"] / 10.0, "y": 2.0 * p_ours["y"]}
        g_theirs = {"x": p_theirs["x"] / 10.0, "y": 2.0 * p_theirs["y"]}
        ours.update(p_ours, g_ours)
        theirs.update(p_theirs, g_theirs)
        assert isinstance(p_ours["x"], float) and np.ndim(p_ours["x"]) == 0
    assert p_ours["x"] == pytest.approx(float(p_theirs["x"]), rel=1e-14, abs=1e-15)
    assert p_ours["y"] == pytest.approx(float(p_theirs["y"]), rel=1e-14, abs=1e-15)


def test_scalar_params_keep_float32():
    p = {"x": np.float32(1.0)}
    SGD(lr=0.5).update(p, {"x": 1.0})
    assert type(p["x"]) is np.float32 and p["x"] == 0.5


# --------------------------------------------------------------------------
# Kernels vs reference, 100 steps, dtype x shape
# --------------------------------------------------------------------------
CONFIGS = [
    (SGD, {}), (SGD, {"weight_decay": 0.1}),
    (Momentum, {}), (Momentum, {"convention": "torch", "weight_decay": 0.1}),
    (Nesterov, {}), (Nesterov, {"convention": "torch", "weight_decay": 0.1}),
    (AdaGrad, {}), (AdaGrad, {"convention": "torch", "weight_decay": 0.1}),
    (RMSprop, {}), (RMSprop, {"convention": "torch", "weight_decay": 0.1}),
    (Adam, {}), (Adam, {"convention": "torch", "weight_decay": 0.1}),
    (AdamW, {}), (AdamW, {"convention": "torch"}),
]
SHAPES = [(), (1,), (7,), (3, 5), (33,), (1001,), (17, 61)]


def _compare_backends(cls, kwargs, shape, dtype, steps, rng):
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    a, b = cls(lr=0.01, **kwargs), cls(lr=0.01, backend="reference", **kwargs)
    pa, pb = {"w": p0.copy()}, {"w": p0.copy()}
    for i in range(steps):
        a.update(pa, {"w": grads[i % 3]})
        b.update(pb, {"w": grads[i % 3]})
    np.testing.assert_allclose(pa["w"], pb["w"], **tol(dtype))
    for name in cls._state_names:
        np.testing.assert_allclose(a.state["w"][name], b.state["w"][name], **tol(dtype))
    assert pa["w"].dtype == dtype and a.state["w"]["step"] == steps


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls,kwargs", CONFIGS,
                         ids=[f"{c.__name__}-{k.get('convention', 'textbook')}" for c, k in CONFIGS])
def test_kernel_matches_reference(cls, kwargs, shape, dtype, rng):
    _compare_backends(cls, kwargs, shape, dtype, 100, rng)


@pytest.mark.parametrize("shape", [(33,), (1001,), (17, 61)], ids=str)
@pytest.mark.parametrize("cls,kwargs", CONFIGS[::2], ids=[c.__name__ for c, _ in CONFIGS[::2]])
def test_parallel_chunks_match_reference(cls, kwargs, shape, rng):
    """Force the OpenMP path on small odd sizes: chunk boundaries must cover every element once."""
    old = threads.set_parallel(min_size=1)
    try:
        _compare_backends(cls, kwargs, shape, np.float64, 10, rng)
    finally:
        threads.set_parallel(*old)


# one configuration per kernel (the reference is slow at this size)
MILLION = [CONFIGS[1], CONFIGS[5], CONFIGS[9], CONFIGS[11]]


@pytest.mark.parametrize("cls,kwargs", MILLION, ids=[c.__name__ for c, _ in MILLION])
def test_kernel_matches_reference_million(cls, kwargs, rng):
    _compare_backends(cls, kwargs, (10 ** 6,), np.float32, 100, rng)


# --------------------------------------------------------------------------
# PyTorch parity (float64, 100 steps, 1e-10 relative)
# --------------------------------------------------------------------------
def _torch_pairs(torch, wd):
    O = torch.optim
    return [
        (SGD(lr=0.05, weight_decay=wd, convention="torch"),
         lambda ps: O.SGD(ps, lr=0.05, weight_decay=wd)),
        (Momentum(lr=0.05, momentum=0.8, weight_decay=wd, convention="torch"),
         lambda ps: O.SGD(ps, lr=0.05, momentum=0.8, weight_decay=wd)),
        (Nesterov(lr=0.05, momentum=0.8, weight_decay=wd, convention="torch"),
         lambda ps: O.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=wd)),
        (AdaGrad(lr=0.05, weight_decay=wd, convention="torch"),
         lambda ps: O.Adagrad(ps, lr=0.05, weight_decay=wd)),
        (RMSprop(lr=0.01, decay_rate=0.9, weight_decay=wd, convention="torch"),
         lambda ps: O.RMSprop(ps, lr=0.01, alpha=0.9, weight_decay=wd)),
        (Adam(lr=0.01, beta1=0.8, beta2=0.99, weight_decay=wd, convention="torch"),
         lambda ps: O.Adam(ps, lr=0.01, betas=(0.8, 0.99), weight_decay=wd)),
        (AdamW(lr=0.01, weight_decay=wd, convention="torch"),
         lambda ps: O.AdamW(ps, lr=0.01, weight_decay=wd)),
    ]


@pytest.mark.parametrize("wd", [0.0, 0.1])
@pytest.mark.parametrize("index", range(7))
def test_torch_parity(index, wd, rng):
    torch = pytest.importorskip("torch", reason="PyTorch is the oracle for convention='torch'")
    ours, make = _torch_pairs(torch, wd)[index]
    shapes = {"W": (13, 7), "b": (7,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    topt = make(list(tparams.values()))
    for step in range(100):
        if step == 60:  # a schedule changes lr mid-run
            ours.lr *= 0.5
            for group in topt.param_groups:
                group["lr"] *= 0.5
        grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
        ours.update(params, grads)
        for k, t in tparams.items():
            t.grad = torch.from_numpy(grads[k].copy())
        topt.step()
    for k in shapes:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------
# state_dict / load_state_dict
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_restored_optimizer_continues_bit_identically(cls, rng):
    shapes = {"W": (5, 4), "b": (4,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(10)]
    a = cls(lr=0.02, convention="torch")
    for g in grads[:5]:
        a.update(params, g)
    saved_params = {k: v.copy() for k, v in params.items()}
    sd = a.state_dict()
    b = cls()
    b.load_state_dict(sd)
    assert b.hyperparameters() == a.hyperparameters()
    for g in grads[5:]:
        a.update(params, g)
        b.update(saved_params, g)
    for k in shapes:
        np.testing.assert_array_equal(params[k], saved_params[k])
    # the checkpoint holds copies, untouched by later updates
    for k, st in sd["state"].items():
        assert st["step"] == 5
        for name in cls._state_names:
            assert st[name] is not a.state[k][name]


def test_load_state_dict_rejects_mismatch():
    sd = Adam().state_dict()
    with pytest.raises(ValueError, match="Adam"):
        SGD().load_state_dict(sd)
    sd["hyperparameters"]["beta1"] = 1.5
    opt = Adam(beta1=0.5)
    with pytest.raises(ValueError, match="beta1"):
        opt.load_state_dict(sd)
    assert opt.beta1 == 0.5
    bad = Momentum().state_dict()
    bad["state"] = {"w": {"step": 1}}
    with pytest.raises(ValueError, match="velocity"):
        Momentum().load_state_dict(bad)
    with pytest.raises(TypeError):
        Momentum().load_state_dict([1, 2])


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs,name", [
    (SGD, {"lr": -0.1}, "lr"),
    (SGD, {"lr": float("nan")}, "lr"),
    (SGD, {"weight_decay": -1}, "weight_decay"),
    (Momentum, {"momentum": 1.0}, "momentum"),
    (Nesterov, {"momentum": -0.1}, "momentum"),
    (AdaGrad, {"eps": 0.0}, "eps"),
    (RMSprop, {"decay_rate": 1.0}, "decay_rate"),
    (Adam, {"beta1": 1.0}, "beta1"),
    (Adam, {"beta2": -0.5}, "beta2"),
    (AdamW, {"eps": -1e-8}, "eps"),
    (AdamW, {"weight_decay": -0.01}, "weight_decay"),
    (Adam, {"convention": "keras"}, "convention"),
    (Adam, {"backend": "gpu"}, "backend"),
])
def test_bad_hyperparameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


def test_bad_hyperparameter_types_and_assignment():
    with pytest.raises(TypeError, match="lr"):
        SGD(lr="0.1")
    with pytest.raises(TypeError, match="momentum"):
        Momentum(momentum=True)
    opt = Adam()
    with pytest.raises(ValueError, match=r"lr.*-1"):
        opt.lr = -1
    with pytest.raises(ValueError, match="beta2"):
        opt.beta2 = 1
    assert opt.lr == 0.001 and opt.beta2 == 0.999
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("lbfgs")


def _params():
    return {"W": np.ones((2, 3)), "b": np.zeros(3)}


@pytest.mark.parametrize("grads,exc,match", [
    ({"W": np.ones((2, 3))}, ValueError, "same keys"),
    ({"W": np.ones((2, 3)), "b": np.ones(3), "c": np.ones(1)}, ValueError, "same keys"),
    ({"W": np.ones((3, 2)), "b": np.ones(3)}, ValueError, r"grads\['W'\].*shape"),
    ({"W": np.ones((2, 3), np.float32), "b": np.ones(3)}, TypeError, r"grads\['W'\].*float32"),
    ({"W": np.ones((2, 3)), "b": "grad"}, TypeError, r"grads\['b'\]"),
    ({"W": np.ones((2, 3)), "b": 1.0}, ValueError, r"grads\['b'\] is a scalar"),
])
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_bad_grads_leave_everything_untouched(cls, grads, exc, match):
    opt, params = cls(lr=0.1), _params()
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(exc, match=match):
        opt.update(params, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert opt.state == {}


@pytest.mark.parametrize("params,exc,match", [
    ({"W": np.ones((2, 3), np.int64), "b": np.zeros(3)}, TypeError, r"params\['W'\].*int64"),
    ({"W": np.ones((3, 2)).T, "b": np.zeros(3)}, ValueError, "C-contiguous"),
    ({"W": "weights", "b": np.zeros(3)}, TypeError, r"params\['W'\]"),
])
def test_bad_params(params, exc, match):
    grads = {"W": np.ones((2, 3)), "b": np.ones(3)}
    with pytest.raises(exc, match=match):
        Adam().update(params, grads)


def test_read_only_param_and_non_dict():
    W = np.ones(3)
    W.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        SGD().update({"W": W}, {"W": np.ones(3)})
    with pytest.raises(TypeError, match="dict"):
        SGD().update([np.ones(3)], [np.ones(3)])


def test_state_shape_change_is_an_error_not_a_crash():
    opt = Adam()
    opt.update({"W": np.ones(3)}, {"W": np.ones(3)})
    with pytest.raises(ValueError, match=r"params\['W'\].*state"):
        opt.update({"W": np.ones(4)}, {"W": np.ones(4)})
    with pytest.raises(ValueError, match=r"params\['W'\].*state"):
        opt.update({"W": np.ones(3, np.float32)}, {"W": np.ones(3, np.float32)})


def test_divergence_propagates():
    p = {"w": np.array([1.0, 2.0])}
    Adam().update(p, {"w": np.array([np.nan, np.inf])})
    assert np.isnan(p["w"]).all()


def test_non_contiguous_grads_are_accepted(rng):
    g = rng.standard_normal((6, 4))
    a, b = {"W": np.ones((4, 6))}, {"W": np.ones((4, 6))}
    Adam().update(a, {"W": g.T})
    Adam().update(b, {"W": np.ascontiguousarray(g.T)})
    np.testing.assert_array_equal(a["W"], b["W"])


def test_registry():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
    assert isinstance(make_optimizer("Adam", lr=0.1), Adam)
    assert make_optimizer("SGD", lr=0.1).lr == 0.1
