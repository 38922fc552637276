"""Stand-alone activation layers against the reference and finite differences."""
import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet._activation import ACTIVATIONS
from fastnet.gradient import numerical_gradient
from fastnet.layers import Relu, Sigmoid, Tanh
from numerics import DTYPES, tol

LAYERS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000, 4099])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_kernels_match_reference(rng, dtype, size, activation):
    x = (rng.standard_normal(size) * 5).astype(dtype)
    g = rng.standard_normal(size).astype(dtype)
    code = ACTIVATIONS[activation]
    y, y_ref = np.empty_like(x), np.empty_like(x)
    fk.activation_forward(x, y, code)
    ref.activation_forward(x, y_ref, code)
    np.testing.assert_allclose(y, y_ref, **tol(dtype))
    dx, dx_ref = np.empty_like(x), np.empty_like(x)
    fk.activation_backward(g, y, dx, code)
    ref.activation_backward(g, y_ref, dx_ref, code)
    np.testing.assert_allclose(dx, dx_ref, **tol(dtype))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_nan_and_inf_propagate_like_numpy(activation):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    y, y_ref = np.empty_like(x), np.empty_like(x)
    fk.activation_forward(x, y, ACTIVATIONS[activation])
    ref.activation_forward(x, y_ref, ACTIVATIONS[activation])
    np.testing.assert_array_equal(y, y_ref)
    assert np.isnan(y[0])


def test_relu_backward_masks_like_the_textbook():
    """Where the unit is off the gradient is 0, even for inf/NaN upstream (dout[mask] = 0)."""
    y = np.array([0.0, 0.0, 2.0, 3.0])
    dout = np.array([np.inf, np.nan, np.inf, 1.5])
    for ops in (fk, ref):
        dx = np.empty_like(y)
        ops.activation_backward(dout, y, dx, ACTIVATIONS["relu"])
        np.testing.assert_array_equal(dx, [0.0, 0.0, np.inf, 1.5])


def test_hand_worked_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(Relu().forward(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x), rtol=1e-15)
    relu = Relu()
    relu.forward(x)
    np.testing.assert_array_equal(relu.backward(np.full((1, 3), 2.0)), [[0.0, 0.0, 2.0]])


def test_sigmoid_saturates_without_nan():
    y = Sigmoid().forward(np.array([-1000.0, 1000.0], np.float32))
    np.testing.assert_array_equal(y, [0.0, 1.0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradient_check(rng, name):
    x = rng.standard_normal((3, 4)) + 0.05  # away from ReLU's kink at 0
    g = rng.standard_normal((3, 4))
    layer = LAYERS[name]()
    layer.forward(x)
    dx = layer.backward(g)
    numeric = numerical_gradient(lambda _: float(np.sum(g * LAYERS[name]().forward(x))), x, h=1e-6)
    assert np.abs(dx - numeric).max() / np.abs(numeric).max() < 1e-6


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
