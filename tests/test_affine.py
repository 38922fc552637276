"""Affine kernels and the Affine layer against the NumPy reference and finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnet.kernels as fk
import fastnet.reference as ref
from numerics import DTYPES, tol
from fastnet._activation import REGISTRY
from fastnet.gradient import numerical_gradient
from fastnet.layers import Affine

SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (13, 17, 11), (100, 784, 100), (3, 10, 1031)]


def _data(rng, n, d, m, dtype):
    x = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((d, m)) / np.sqrt(d)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, W, b


# (name, param): every activation at its default, and the parameters elsewhere.
CASES = [(name, None) for name in REGISTRY] + [("leaky_relu", 0.2), ("elu", 0.5)]
CASE_IDS = [f"{n}-{p}" for n, p in CASES]


def _code_param(name, param):
    spec = REGISTRY[name]
    return spec.code, spec.check_param(param)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_forward_matches_reference(rng, dtype, shape, name, param):
    x, W, b = _data(rng, *shape, dtype)
    code, p = _code_param(name, param)
    n, m = shape[0], shape[2]
    results = []
    for ops in (fk, ref):
        out, preact = np.empty((n, m), dtype), np.empty((n, m), dtype)
        ops.affine_forward(x, W, b, out, code, p, preact)
        results.append((out, preact))
        without = np.empty((n, m), dtype)
        ops.affine_forward(x, W, b, without, code, p)
        np.testing.assert_array_equal(without, out)  # preact changes nothing else
    (out, preact), (expected, expected_preact) = results
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tol(dtype))
    np.testing.assert_allclose(preact, expected_preact, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
def test_fused_passes_equal_the_separate_kernels(rng, dtype, name, param):
    """Bias + activation fused into the affine kernels = identity affine, then the activation kernel."""
    x, W, b = _data(rng, 13, 17, 11, dtype)
    code, p = _code_param(name, param)
    a, out, preact = (np.empty((13, 11), dtype) for _ in range(3))
    fk.affine_forward(x, W, b, a, 0)
    fk.affine_forward(x, W, b, out, code, p, preact)
    np.testing.assert_array_equal(preact, a)
    y = np.empty_like(a)
    fk.activation_forward(a.ravel(), y.ravel(), code, p)
    np.testing.assert_array_equal(out, y)
    g = rng.standard_normal((13, 11)).astype(dtype)
    dout, dx, dW, db = g.copy(), np.empty_like(x), np.empty_like(W), np.empty_like(b)
    fk.affine_activation_backward_(dout, out, preact, code, p, x, W, dx, dW, db)
    da = np.empty_like(g)
    fk.activation_backward(g.ravel(), out.ravel(), preact.ravel(), da.ravel(), code, p)
    np.testing.assert_array_equal(dout, da)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, param", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_backward_matches_reference(rng, dtype, shape, name, param, weight_decay):
    n, d, m = shape
    x, W, b = _data(rng, n, d, m, dtype)
    code, p = _code_param(name, param)
    y, preact = np.empty((n, m), dtype), np.empty((n, m), dtype)
    ref.affine_forward(x, W, b, y, code, p, preact)
    g = rng.standard_normal((n, m)).astype(dtype)
    results = []
    for ops in (fk, ref):
        dout, dx, dW, db = g.copy(), np.empty_like(x), np.empty_like(W), np.empty_like(b)
        ops.affine_activation_backward_(dout, y, preact, code, p, x, W, dx, dW, db, weight_decay)
        results.append((dout, dx, dW, db))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_backward_needs_preact_exactly_when_the_registry_says(rng, ops, name):
    x, W, b = _data(rng, 6, 5, 4, np.float64)
    spec = REGISTRY[name]
    y, preact = np.empty((6, 4)), np.empty((6, 4))
    ops.affine_forward(x, W, b, y, spec.code, spec.default_param, preact)
    g = rng.standard_normal((6, 4))
    dout, dx, dW, db = g.copy(), np.empty_like(x), np.empty_like(W), np.empty_like(b)
    ops.affine_activation_backward_(dout, y, preact, spec.code, spec.default_param, x, W, dx, dW, db)
    without = g.copy()
    if spec.needs_input:
        with pytest.raises(ValueError, match=f"activation code {spec.code} needs preact"):
            ops.affine_activation_backward_(without, y, None, spec.code, spec.default_param,
                                            x, W, dx, dW, db)
        np.testing.assert_array_equal(without, g)  # nothing written
    else:
        ops.affine_activation_backward_(without, y, None, spec.code, spec.default_param,
                                        x, W, dx, dW, db)
        np.testing.assert_array_equal(without, dout)


@pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
def test_unknown_code_is_rejected_before_writing(rng, ops):
    x, W, b = _data(rng, 3, 4, 2, np.float64)
    out = np.full((3, 2), 7.0)
    with pytest.raises(ValueError, match="activation code 42 is not compiled"):
        ops.affine_forward(x, W, b, out, 42)
    np.testing.assert_array_equal(out, 7.0)
    dout, dx, dW, db = np.ones((3, 2)), np.empty_like(x), np.empty_like(W), np.empty(2)
    with pytest.raises(ValueError, match="activation code 42 is not compiled"):
        ops.affine_activation_backward_(dout, out, out, 42, 0.0, x, W, dx, dW, db)
    np.testing.assert_array_equal(dout, 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_without_dx_and_readonly_dout(rng, dtype):
    x, W, b = _data(rng, 6, 5, 4, dtype)
    dout = rng.standard_normal((6, 4)).astype(dtype)
    dout.flags.writeable = False
    dW, db = np.empty_like(W), np.empty_like(b)
    fk.affine_backward(dout, x, W, None, dW, db)
    np.testing.assert_allclose(dW, x.T @ dout, **tol(dtype))
    np.testing.assert_allclose(db, dout.sum(0), **tol(dtype))


def test_hand_worked_example():
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    W = np.array([[1.0, -1.0, 0.0], [2.0, 0.5, -3.0]])
    b = np.array([0.5, 0.0, 1.0])
    # x @ W + b = [[5.5, 0, -5], [0.5, 1.25, -0.5]]
    layer = Affine(W, b, activation="relu")
    np.testing.assert_array_equal(layer.forward(x), [[5.5, 0.0, 0.0], [0.5, 1.25, 0.0]])
    dx = layer.backward(np.ones((2, 3)))
    # relu' = [[1,0,0],[1,1,0]]; dx = da @ W.T, dW = x.T @ da, db = da.sum(0)
    np.testing.assert_allclose(dx, [[1.0, 2.0], [0.0, 2.5]])
    np.testing.assert_allclose(layer.dW, [[0.0, -1.0, 0.0], [2.5, 0.5, 0.0]])
    np.testing.assert_allclose(layer.db, [2.0, 1.0, 0.0])


@pytest.mark.parametrize("activation", sorted(REGISTRY))
def test_layer_gradient_check(rng, activation):
    x, W, b = _data(rng, 4, 5, 3, np.float64)
    b += 0.1  # keep ReLU inputs away from the kink
    layer = Affine(W, b, activation=activation, weight_decay=0.2)
    g = rng.standard_normal((4, 3))

    def objective(_):
        # L = sum(g * layer(x)) + weight_decay/2 ||W||^2
        return float(np.sum(g * layer.forward(x)) + 0.1 * np.sum(W * W))

    layer.forward(x)
    dx = layer.backward(g)
    for analytic, param in [(layer.dW, W), (layer.db, b), (dx, x)]:
        numeric = numerical_gradient(objective, param, h=1e-6)
        rel = np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12)
        assert rel < 1e-6


def test_layer_flattens_nd_input(rng):
    x = rng.standard_normal((2, 1, 3, 4))
    W, b = rng.standard_normal((12, 5)), np.zeros(5)
    layer = Affine(W, b)
    np.testing.assert_allclose(layer.forward(x), x.reshape(2, 12) @ W)
    assert layer.backward(np.ones((2, 5))).shape == x.shape


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_non_contiguous_inputs_are_copied(rng, layout):
    """The documented behaviour: non-C-contiguous data is copied once at the boundary."""
    W, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    base = rng.standard_normal((5, 12))
    x = np.asfortranarray(base[:, :6]) if layout == "fortran" else base[:, ::2]
    assert not x.flags.c_contiguous
    saved = x.copy()
    out = Affine(W, b).forward(x)
    np.testing.assert_allclose(out, saved @ W + b, **tol(np.float64))
    np.testing.assert_array_equal(x, saved)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20), d=st.integers(1, 20), m=st.integers(1, 20),
       dtype=st.sampled_from(DTYPES), fortran=st.booleans(), act=st.sampled_from(sorted(REGISTRY)))
def test_forward_property_any_shape_and_layout(n, d, m, dtype, fortran, act):
    rng = np.random.default_rng(n * 400 + d * 20 + m)
    x, W, b = _data(rng, n, d, m, dtype)
    if fortran:
        x = np.asfortranarray(x)
    y = Affine(W, b, activation=act).forward(x)
    expected = np.empty((n, m), dtype)
    spec = REGISTRY[act]
    ref.affine_forward(np.ascontiguousarray(x), W, b, expected, spec.code, spec.default_param)
    assert y.shape == (n, m) and y.dtype == dtype
    np.testing.assert_allclose(y, expected, **tol(dtype))


class TestBadInput:
    def setup_method(self):
        self.W = np.ones((3, 2), np.float32)
        self.b = np.zeros(2, np.float32)

    def test_wrong_width(self):
        with pytest.raises(ValueError, match=r"x \(flattened\) must have shape \(N, 3\)"):
            Affine(self.W, self.b).forward(np.ones((4, 5), np.float32))

    def test_dtype_mismatch(self):
        with pytest.raises(TypeError, match="x has dtype float64, but the parameters are float32"):
            Affine(self.W, self.b).forward(np.ones((4, 3)))

    def test_float16_rejected(self):
        with pytest.raises(TypeError, match="float16"):
            Affine(self.W, self.b).forward(np.ones((4, 3), np.float16))

    def test_integers_cast(self):
        y = Affine(self.W, self.b).forward(np.ones((4, 3), np.uint8))
        assert y.dtype == np.float32 and np.all(y == 3)

    def test_empty_batch(self):
        with pytest.raises(ValueError, match="at least one sample"):
            Affine(self.W, self.b).forward(np.ones((0, 3), np.float32))

    def test_bad_bias(self):
        with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
            Affine(self.W, np.zeros(3, np.float32))
        with pytest.raises(TypeError, match="b must have W's dtype"):
            Affine(self.W, np.zeros(2))

    def test_bad_activation(self):
        with pytest.raises(ValueError, match="activation must be one of"):
            Affine(self.W, self.b, activation="swish")

    def test_integer_weights(self):
        with pytest.raises(TypeError, match="float32 or float64"):
            Affine(np.ones((3, 2), int), np.zeros(2, int))

    def test_dout_shape(self):
        layer = Affine(self.W, self.b)
        layer.forward(np.ones((4, 3), np.float32))
        with pytest.raises(ValueError, match=r"dout must have shape \(4, 2\)"):
            layer.backward(np.ones((4, 3), np.float32))

    def test_backward_before_forward(self):
        with pytest.raises(RuntimeError):
            Affine(self.W, self.b).backward(np.ones((4, 2), np.float32))
