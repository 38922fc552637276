"""Activation kernels against the reference, finite differences, PyTorch, exact values, frozen formulas.

Every activation of the registry runs through the same tests; those with a
parameter also run at values other than the default.
"""
import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet._activation import REGISTRY
from fastnet.gradient import numerical_gradient
from fastnet.layers import Relu, Sigmoid, Tanh
from numerics import DTYPES, tol

LAYERS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
BACKENDS = [fk, ref]

# (name, param): every activation at its default, and the parameters elsewhere.
CASES = [(name, None) for name in REGISTRY] + [
    ("leaky_relu", 0.0), ("leaky_relu", 0.3), ("leaky_relu", 1.5), ("elu", 0.0),
    ("elu", 0.5), ("elu", 2.0)]
CASE_IDS = [f"{n}-{p}" for n, p in CASES]


def _code_param(name, param):
    spec = REGISTRY[name]
    return spec.code, spec.check_param(param)


def _forward(ops, x, code, param):
    y = np.empty_like(x)
    ops.activation_forward(x, y, code, param)
    return y


def _backward(ops, g, y, x, code, param):
    dx = np.empty_like(g)
    ops.activation_backward(g, y, x, dx, code, param)
    return dx


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 2, 7, 1000, 4099])
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_kernels_match_reference(rng, dtype, size, name, param):
    code, p = _code_param(name, param)
    x = (rng.standard_normal(size) * 5).astype(dtype)
    g = rng.standard_normal(size).astype(dtype)
    y, y_ref = _forward(fk, x, code, p), _forward(ref, x, code, p)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    dx, dx_ref = _backward(fk, g, y, x, code, p), _backward(ref, g, y, x, code, p)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))
    # in place: out may be x's buffer, dx dout's
    xi, gi = x.copy(), g.copy()
    fk.activation_forward(xi, xi, code, p)
    fk.activation_backward(gi, y, x, gi, code, p)
    np.testing.assert_array_equal(xi, y)
    np.testing.assert_array_equal(gi, dx)


@pytest.mark.parametrize("ops", BACKENDS, ids=["compiled", "reference"])
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_input_is_read_only_when_needed(rng, ops, name, param):
    """Without ``needs_input`` the derivative comes from y alone: x may be None or anything."""
    code, p = _code_param(name, param)
    x = rng.standard_normal(50)
    g = rng.standard_normal(50)
    y = _forward(ops, x, code, p)
    dx = _backward(ops, g, y, x, code, p)
    if REGISTRY[name].needs_input:
        with pytest.raises(ValueError, match=f"activation code {code} needs x"):
            _backward(ops, g, y, None, code, p)
    else:
        np.testing.assert_array_equal(_backward(ops, g, y, None, code, p), dx)
        np.testing.assert_array_equal(_backward(ops, g, y, -x, code, p), dx)


@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_nan_and_inf_propagate_like_the_reference(name, param):
    code, p = _code_param(name, param)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-30, -1e-30])
    for dtype in DTYPES:
        xd = x.astype(dtype)
        with np.errstate(over="ignore"):
            y, y_ref = _forward(fk, xd, code, p), _forward(ref, xd, code, p)
        np.testing.assert_array_equal(y, y_ref)
        assert np.isnan(y[0])
        g = np.ones_like(xd)
        np.testing.assert_array_equal(_backward(fk, g, y, xd, code, p),
                                      _backward(ref, g, y, xd, code, p))


def test_relu_backward_masks_like_the_textbook():
    """Where the unit is off the gradient is 0, even for inf/NaN upstream (dout[mask] = 0)."""
    y = np.array([0.0, 0.0, 2.0, 3.0])
    dout = np.array([np.inf, np.nan, np.inf, 1.5])
    for ops in BACKENDS:
        dx = _backward(ops, dout, y, None, REGISTRY["relu"].code, 0.0)
        np.testing.assert_array_equal(dx, [0.0, 0.0, np.inf, 1.5])


def test_hand_worked_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(Relu().forward(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x), rtol=1e-15)
    relu = Relu()
    relu.forward(x)
    np.testing.assert_array_equal(relu.backward(np.full((1, 3), 2.0)), [[0.0, 0.0, 2.0]])
    # by hand: leaky_relu(-2; 0.1) = -0.2; elu(-2; 1) = e^-2 - 1, elu' = e^-2;
    # gelu(3) = 3 Phi(3) = 3 * 0.998650101968370; silu(3) = 3 / (1 + e^-3)
    flat = x.ravel()
    cases = [("leaky_relu", 0.1, [-0.2, 0.0, 3.0], [0.1, 0.1, 1.0]),
             ("elu", 1.0, [np.exp(-2) - 1, 0.0, 3.0], [np.exp(-2), 1.0, 1.0]),
             ("gelu", None, [-2 * 0.022750131948179, 0.0, 3 * 0.998650101968370], None),
             ("silu", None, [-2 / (1 + np.exp(2)), 0.0, 3 / (1 + np.exp(-3))],
              [None, 0.5, None])]
    for name, param, want_y, want_grad in cases:
        code, p = _code_param(name, param)
        for ops in BACKENDS:
            y = _forward(ops, flat, code, p)
            np.testing.assert_allclose(y, want_y, rtol=1e-13, atol=1e-15)
            if want_grad is not None:
                got = _backward(ops, np.ones(3), y, flat, code, p)
                for g, w in zip(got, want_grad):
                    if w is not None:
                        assert g == pytest.approx(w, rel=1e-13)


def test_sigmoid_saturates_without_nan():
    y = Sigmoid().forward(np.array([-1000.0, 1000.0], np.float32))
    np.testing.assert_array_equal(y, [0.0, 1.0])


# -- gradients: central differences in float64 --------------------------------------

# Values over the range, and near 0 where leaky_relu/elu/relu have their kink
# (|x| >= 1e-4 > h: the difference never straddles the kink).
_NEAR_ZERO = np.array([1e-4, -1e-4, 3e-3, -3e-3, 0.02, -0.02, 0.3, -0.3])


@pytest.mark.parametrize("ops", BACKENDS, ids=["compiled", "reference"])
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_gradient_check(rng, ops, name, param):
    code, p = _code_param(name, param)
    x = np.concatenate([rng.standard_normal(40) * 3, _NEAR_ZERO])
    g = rng.standard_normal(x.size)
    h = 1e-6
    # element-wise: the central difference of every element at once
    numeric = g * (_forward(ops, x + h, code, p) - _forward(ops, x - h, code, p)) / (2 * h)
    analytic = _backward(ops, g, _forward(ops, x, code, p), x, code, p)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradient_check(rng, name):
    x = rng.standard_normal((3, 4)) + 0.05  # away from ReLU's kink at 0
    g = rng.standard_normal((3, 4))
    layer = LAYERS[name]()
    layer.forward(x)
    dx = layer.backward(g)
    numeric = numerical_gradient(lambda _: float(np.sum(g * LAYERS[name]().forward(x))), x, h=1e-6)
    assert np.abs(dx - numeric).max() / np.abs(numeric).max() < 1e-6


# -- PyTorch parity ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="torch is the oracle for activation parity")


def _torch_fn(torch, name, param):
    F = torch.nn.functional
    return {
        "identity": lambda t: t * 1,
        "relu": F.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "leaky_relu": lambda t: F.leaky_relu(t, param),
        "elu": lambda t: F.elu(t, alpha=param),
        "gelu": lambda t: F.gelu(t, approximate="none"),
        "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "silu": F.silu,
    }[name]


def test_every_activation_has_a_torch_twin(torch):
    for name in REGISTRY:
        _torch_fn(torch, name, 0.0)  # a KeyError names an activation without one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_matches_torch(rng, torch, dtype, name, param):
    code, p = _code_param(name, param)
    x = np.concatenate([rng.standard_normal(500) * 4, _NEAR_ZERO, [0.0, -0.0, 12.0, -12.0, 30.0, -30.0]])
    x = x.astype(dtype)
    g = rng.standard_normal(x.size).astype(dtype)
    t = torch.tensor(x, requires_grad=True)
    out = _torch_fn(torch, name, p)(t)
    out.backward(torch.tensor(g))
    y = _forward(fk, x, code, p)
    np.testing.assert_allclose(y, out.detach().numpy(), **tol(dtype))
    np.testing.assert_allclose(_backward(fk, g, y, x, code, p), t.grad.numpy(), **tol(dtype))


# -- ReLU and the derivatives are bit-identical to frozen formulas; sigmoid and tanh
# within ulps of the exact values
# The formulas as the kernels have always computed them. Cython writes the
# literal 1 as 1.0, so in float32 the sigmoid/tanh derivatives are evaluated in
# double and rounded once. The sigmoid and tanh forwards use the vectorised
# vexp/vtanh (csrc/_vmath.pxd); they are compared with the exact value,
# computed in a wider type, in units of the last place of the result
# (measured: sigmoid 2.24, tanh 1.30). Where e^-a overflows (a below
# -88.7 in float32, -709.8 in float64) the sigmoid is 0, as the reference's
# 1 / (1 + exp(-a)) gives; the exact value there is below the smallest normal.

MAX_ULPS = {"sigmoid": 2.5, "tanh": 2}
WIDE = np.longdouble if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant else None


def _frozen_forward_relu(a):
    return np.where(a <= 0, a.dtype.type(0), a)


def _frozen_backward(name, dy, y):
    if name == "relu":
        return np.where(y > 0, dy, dy.dtype.type(0))
    d64, y64 = dy.astype(np.float64), y.astype(np.float64)
    if name == "sigmoid":
        return (d64 * (y64 * (1.0 - y64))).astype(dy.dtype)
    return (d64 * (1.0 - (y * y).astype(np.float64))).astype(dy.dtype)


def _exact(name, a):
    wide = np.float64 if a.dtype == np.float32 else WIDE
    w = a.astype(wide)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-w)) if name == "sigmoid" else np.tanh(w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_against_frozen_formula_and_exact_values(rng, dtype, name):
    code = REGISTRY[name].code
    x = np.concatenate([rng.standard_normal(20000) * 6, np.linspace(-800, 800, 40001),
                        [0.0, -0.0, 50.0, -50.0, 1e-30, -1e-30, 1e-45, -1e-45]]).astype(dtype)
    g = rng.standard_normal(x.size).astype(dtype)
    y = _forward(fk, x, code, 0.0)
    if name == "relu":
        assert y.tobytes() == _frozen_forward_relu(x).tobytes()
    elif dtype == np.float32 or WIDE is not None:
        exact = _exact(name, x)
        tiny = np.finfo(dtype).tiny
        normal = np.abs(exact) >= tiny
        unit = np.spacing(np.abs(exact[normal]).astype(dtype)).astype(exact.dtype)
        ulps = np.abs(y[normal].astype(exact.dtype) - exact[normal]) / unit
        worst = int(np.argmax(ulps))
        assert ulps[worst] <= MAX_ULPS[name], (
            f"{name}({x[normal][worst]!r}) = {y[normal][worst]!r}: {ulps[worst]:.2f} ulps")
        assert np.all(np.abs(y[~normal]) <= tiny)  # sigmoid's far left tail
    assert _backward(fk, g, y, None, code, 0.0).tobytes() == _frozen_backward(name, g, y).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_special_values(dtype, name):
    code = REGISTRY[name].code
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    want = {"sigmoid": [np.nan, 1, 0, 0.5, 0.5], "tanh": [np.nan, 1, -1, 0, -0.0]}[name]
    y = _forward(fk, x, code, 0.0)
    np.testing.assert_array_equal(y, np.array(want, dtype))
    assert np.signbit(y[4]) == (name == "tanh")  # tanh(-0) = -0


# -- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("ops", BACKENDS, ids=["compiled", "reference"])
@pytest.mark.parametrize("code", [-1, len(REGISTRY), 99])
def test_unknown_code_is_rejected(ops, code):
    x = np.ones(3)
    with pytest.raises(ValueError, match=f"activation code {code} is not compiled"):
        ops.activation_forward(x, np.empty(3), code)
    with pytest.raises(ValueError, match=f"activation code {code} is not compiled"):
        ops.activation_backward(x, x, x, np.empty(3), code)
    with pytest.raises(ValueError, match=f"activation code {code} is not compiled"):
        ops.activation_forward(np.ones(0), np.empty(0), code)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_and_shape_preserved(dtype):
    x = np.ones((2, 3, 4), dtype)
    for cls in LAYERS.values():
        layer = cls()
        y = layer.forward(x)
        assert y.dtype == dtype and y.shape == x.shape
        assert layer.backward(np.ones_like(x)).dtype == dtype


def test_bad_input():
    with pytest.raises(TypeError, match="float32 or float64"):
        Relu().forward(np.ones(3, int))
    layer = Relu()
    layer.forward(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2\)"):
        layer.backward(np.ones(4))
    with pytest.raises(RuntimeError):
        Tanh().backward(np.ones(2))


@pytest.mark.parametrize("layout", ["fortran", "strided"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_non_contiguous_inputs_are_copied(rng, layout, name):
    base = rng.standard_normal((6, 10))
    x = np.asfortranarray(base[:, :5]) if layout == "fortran" else base[:, ::2]
    saved = x.copy()
    layer = LAYERS[name]()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, LAYERS[name]().forward(saved))
    np.testing.assert_array_equal(x, saved)
    g = np.asfortranarray(rng.standard_normal(x.shape))
    np.testing.assert_array_equal(layer.backward(g), layer.backward(np.ascontiguousarray(g)))
