"""The activation registry: consistent with the kernels, the reference, init and diagnostics."""
import math
import re

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

import fastnet.init as fi
import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet import MultiLayerNet, MultiLayerNetExtend
from fastnet._activation import (
    ACTIVATIONS,
    BY_CODE,
    REGISTRY,
    _unit_gaussian_gain,
    activation_code,
    get_activation,
)
from fastnet.diagnostics import ACTIVATION_RANGES, SATURATION
from fastnet.gradient import numerical_gradient
from fastnet.init import NAMES as INIT_NAMES

SPECS = list(REGISTRY.values())
IDS = list(REGISTRY)


def test_names_codes_and_classes_are_unique_and_dense():
    assert [s.code for s in SPECS] == list(range(len(SPECS)))
    assert ACTIVATIONS == {s.name: s.code for s in SPECS}
    assert BY_CODE == {s.code: s for s in SPECS}
    assert len({s.class_name for s in SPECS}) == len(SPECS)
    for s in SPECS:
        assert re.fullmatch(r"[A-Z][A-Za-z]*", s.class_name)
        assert "_" not in s.class_name and s.class_name.lower() == s.name.replace("_", "")


def test_the_documented_activations():
    assert sorted(REGISTRY) == sorted(["identity", "relu", "sigmoid", "tanh", "leaky_relu",
                                       "elu", "gelu", "gelu_tanh", "silu"])
    assert {s.name for s in SPECS if s.needs_input} == {"gelu", "gelu_tanh", "silu"}
    assert (REGISTRY["leaky_relu"].param_name, REGISTRY["leaky_relu"].default_param) == (
        "negative_slope", 0.01)
    assert (REGISTRY["elu"].param_name, REGISTRY["elu"].default_param) == ("alpha", 1.0)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_kernels_and_reference_accept_every_code(spec):
    x = np.linspace(-3, 3, 7)
    for ops in (fk, ref):
        y, dx = np.empty_like(x), np.empty_like(x)
        ops.activation_forward(x, y, spec.code, spec.default_param)
        ops.activation_backward(np.ones_like(x), y, x, dx, spec.code, spec.default_param)
        assert np.isfinite(y).all() and np.isfinite(dx).all()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_fields(spec):
    low, high = spec.hist_range
    assert low < high
    if spec.saturation is not None:
        lo, hi = spec.saturation
        assert low <= lo < hi <= high
    assert spec.default_init in INIT_NAMES
    assert spec.default_init == ("xavier" if spec.name in ("identity", "sigmoid", "tanh") else "he")
    assert spec.doc
    assert 0 < spec.gain() < 10 and math.isfinite(spec.gain())


def test_lookup_and_errors():
    assert get_activation("gelu") is REGISTRY["gelu"]
    assert activation_code("silu") == REGISTRY["silu"].code
    for bad in ("swish", "ReLU", None, ["relu"]):
        with pytest.raises(ValueError, match=r"activation must be one of \['elu', 'gelu'"):
            get_activation(bad)


def test_check_param():
    assert REGISTRY["leaky_relu"].check_param() == 0.01
    assert REGISTRY["elu"].check_param(0.5) == 0.5
    assert REGISTRY["relu"].check_param() == 0.0
    with pytest.raises(ValueError, match="'relu' takes no parameter"):
        REGISTRY["relu"].check_param(0.1)
    # the derivative is taken from the output, which needs a parameter >= 0
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        REGISTRY["leaky_relu"].check_param(-0.1)
    with pytest.raises(ValueError, match="alpha must be finite"):
        REGISTRY["elu"].check_param(math.inf)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        REGISTRY["elu"].check_param("1")


def test_diagnostics_read_the_registry():
    assert ACTIVATION_RANGES == {s.name: s.hist_range for s in SPECS}
    assert SATURATION == {s.name: s.saturation for s in SPECS if s.saturation is not None}
    assert SATURATION == {"sigmoid": (0.01, 0.99), "tanh": (-0.99, 0.99)}


# -- gains --------------------------------------------------------------------------------

def test_gains_of_the_pytorch_table():
    assert REGISTRY["identity"].gain() == 1.0
    assert REGISTRY["sigmoid"].gain() == 1.0
    assert REGISTRY["tanh"].gain() == 5.0 / 3.0
    assert REGISTRY["relu"].gain() == math.sqrt(2.0)
    assert REGISTRY["leaky_relu"].gain(0.2) == math.sqrt(2.0 / 1.04)
    assert REGISTRY["leaky_relu"].gain() == math.sqrt(2.0 / (1 + 0.01 ** 2))


@pytest.mark.parametrize("name, param", [("relu", 0.0), ("leaky_relu", 0.01),
                                         ("leaky_relu", 0.3), ("identity", 0.0)])
def test_the_rule_reproduces_the_relu_family_table(name, param):
    """1/sqrt(E[f(z)^2]) is He et al.'s rule: it gives the table's gains for ReLU and leaky ReLU."""
    spec = REGISTRY[name]
    assert _unit_gaussian_gain(spec, param) == pytest.approx(spec.gain(param), rel=1e-12)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0, 0.0])
def test_elu_gain_closed_form(alpha):
    # E[elu(z)^2] = 1/2 + alpha^2 (e^2 Phi(-2) - 2 e^(1/2) Phi(-1) + 1/2)
    second = 0.5 + alpha ** 2 * (math.e ** 2 * ndtr(-2) - 2 * math.exp(0.5) * ndtr(-1) + 0.5)
    assert REGISTRY["elu"].gain(alpha) == pytest.approx(1 / math.sqrt(second), rel=1e-12)


@pytest.mark.parametrize("name, f", [
    ("gelu", lambda z: z * ndtr(z)),
    ("gelu_tanh", lambda z: 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))),
    ("silu", lambda z: z / (1 + math.exp(-z)) if z > -700 else 0.0),  # exp(700) < inf
])
def test_smooth_gains_by_independent_quadrature(name, f):
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    second = sum(integrate.quad(lambda z: f(z) ** 2 * phi(z), lo, hi, epsabs=1e-14)[0]
                 for lo, hi in ((-np.inf, 0), (0, np.inf)))
    assert REGISTRY[name].gain() == pytest.approx(1 / math.sqrt(second), rel=1e-10)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.default_init == "he"])
def test_gain_keeps_unit_preactivation_variance_through_a_layer(name):
    """Unit-variance pre-activations -> f -> W ~ N(0, gain^2 / fan_in) -> unit variance again.

    Averaged over 12 independent layers (one layer's variance fluctuates by
    ~sqrt(2 / width) = 7%); without the gain the variance is E[f(z)^2] instead.
    """
    spec = REGISTRY[name]
    rng = np.random.default_rng(7)
    width = 400

    def mean_variance(gain):
        variances = []
        for _ in range(12):
            a = rng.standard_normal((200, width))
            h = np.empty_like(a)
            fk.activation_forward(a.ravel(), h.ravel(), spec.code, spec.default_param)
            W = rng.standard_normal((width, width)) * (gain / math.sqrt(width))
            variances.append((h @ W).var())
        return np.mean(variances)

    assert 0.93 < mean_variance(spec.gain()) < 1.07
    assert mean_variance(1.0) == pytest.approx(spec.gain() ** -2, rel=0.07)
    assert spec.gain() ** -2 < 0.7  # the second check tells a gain from no gain


def test_calculate_gain_reads_the_registry():
    for spec in SPECS:
        assert fi.calculate_gain(spec.name) == spec.gain()
    assert fi.calculate_gain("elu", 0.5) == REGISTRY["elu"].gain(0.5)
    assert fi.calculate_gain("leaky_relu", -0.5) == math.sqrt(2 / 1.25)  # any real, as PyTorch
    assert fi.calculate_gain("conv2d") == 1.0 and fi.calculate_gain("selu") == 0.75


def test_calculate_gain_docstring_table_is_current():
    for name in ("elu", "gelu", "gelu_tanh", "silu"):
        printed = re.search(rf"{name} (\d\.\d{{4}})", fi.calculate_gain.__doc__).group(1)
        assert float(printed) == round(fi.calculate_gain(name), 4), name


# -- the registry drives the net ----------------------------------------------------------

@pytest.mark.parametrize("name", IDS)
def test_net_with_each_activation_passes_the_gradient_check(rng, name):
    net = MultiLayerNet(6, [5, 4], 3, activation=name, weight_init_std=REGISTRY[name].default_init,
                        dtype=np.float64, seed=1)
    x = rng.standard_normal((4, 6))
    t = np.array([0, 2, 1, 2])
    analytic = net.gradient(x, t)
    numeric = net.numerical_gradient(x, t)
    for key in analytic:
        np.testing.assert_allclose(analytic[key], numeric[key], rtol=1e-5, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("backend", ["compiled", "reference"])
@pytest.mark.parametrize("name", [n for n in IDS if n != "identity"])
def test_batchnorm_net_with_each_activation_passes_the_gradient_check(rng, backend, name):
    """Affine -> BatchNorm -> stand-alone activation: the layer keeps x when its derivative needs it."""
    net = MultiLayerNetExtend(5, [7, 6], 4, activation=name, weight_init_std=0.5,
                              use_batchnorm=True, dtype=np.float64, seed=1, backend=backend)
    x = rng.standard_normal((6, 5))
    t = np.array([0, 1, 2, 3, 0, 1])
    grads = net.gradient(x, t)
    for key, p in net.params.items():
        numeric = numerical_gradient(lambda _: net.loss(x, t, train_flg=True), p, h=1e-6)
        # a bias before batch norm has an exactly zero gradient: measure against a floor
        err = np.abs(grads[key] - numeric).max() / max(np.abs(numeric).max(), 1e-3)
        assert err < 1e-6, key
