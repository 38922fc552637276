"""Softmax cross-entropy kernels: stability, both label forms, reference, gradient."""
import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from fastnet.gradient import numerical_gradient
from fastnet.layers import SoftmaxWithLoss
from numerics import DTYPES, assert_within, softmax_ce_bounds, tol

SHAPES = [(1, 1), (1, 10), (7, 3), (100, 10), (512, 10), (3, 1001)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(rng, dtype, shape):
    n, c = shape
    z = (rng.standard_normal(shape) * 4).astype(dtype)
    labels = rng.integers(0, c, n)
    onehot = np.eye(c, dtype=dtype)[labels]
    for kernel, arg in [("softmax_cross_entropy", labels), ("softmax_cross_entropy_onehot", onehot)]:
        dz, dz_ref = np.empty_like(z), np.empty_like(z)
        loss = getattr(fk, kernel)(z, arg, dz)
        loss_ref = getattr(ref, kernel)(z, arg, dz_ref)
        assert isinstance(loss, float)
        # the bound from the rounding of each exp and the row totals (numerics.py)
        loss_bound, dz_bound = softmax_ce_bounds(z, onehot, dz_ref, dtype)
        assert_within(loss, loss_ref, loss_bound, "loss")
        assert_within(dz, dz_ref, dz_bound, "dlogits")


def test_hand_worked_example():
    z = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    # softmax rows: [1/4, 3/4], [1/2, 1/2]; labels 1 and 0
    layer = SoftmaxWithLoss()
    loss = layer.forward(z, np.array([1, 0]))
    np.testing.assert_allclose(loss, (np.log(4 / 3) + np.log(2)) / 2, rtol=1e-15)
    np.testing.assert_allclose(layer.backward(), [[0.125, -0.125], [-0.25, 0.25]], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(2.0), [[0.25, -0.25], [-0.5, 0.5]], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_stable_for_huge_logits(dtype):
    z = np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]], dtype)
    layer = SoftmaxWithLoss()
    loss = layer.forward(z, np.array([2, 1]))
    # row 0: the target's log-prob is -2000; row 1: log-prob 0
    np.testing.assert_allclose(loss, 1000.0, rtol=1e-6)
    assert np.isfinite(layer.backward()).all()


def test_soft_targets_and_onehot_agree(rng):
    z = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    np.testing.assert_allclose(a.forward(z, labels), b.forward(z, np.eye(4)[labels]), rtol=1e-14)
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-14)


def test_gradient_check(rng):
    z = rng.standard_normal((4, 5))
    t = rng.dirichlet(np.ones(5), 4)
    layer = SoftmaxWithLoss()
    layer.forward(z, t)
    numeric = numerical_gradient(lambda _: SoftmaxWithLoss().forward(z, t), z, h=1e-6)
    assert np.abs(layer.backward() - numeric).max() / np.abs(numeric).max() < 1e-6


def test_nan_logits_propagate():
    loss = SoftmaxWithLoss().forward(np.array([[np.nan, 0.0]]), np.array([0]))
    assert np.isnan(loss)


class TestBadInput:
    def test_label_out_of_range(self):
        with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 3]))
        with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([-1, 0]))

    def test_label_count(self):
        with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 1, 2]))

    def test_float_labels_as_indices(self):
        with pytest.raises(TypeError, match="integer array"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0.0, 1.0]))

    def test_onehot_shape_and_nan(self):
        with pytest.raises(ValueError, match=r"t must have shape \(2, 3\)"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.zeros((2, 4)))
        with pytest.raises(ValueError, match="finite"):
            SoftmaxWithLoss().forward(np.zeros((2, 3)), np.full((2, 3), np.nan))

    def test_logits_ndim(self):
        with pytest.raises(ValueError, match=r"x must have shape \(N, C\)"):
            SoftmaxWithLoss().forward(np.zeros(3), np.array([0]))

    def test_no_classes_blames_x(self):
        # found by tests/test_fuzz_layers.py: the message named t, whatever t was
        for t in (np.array([0]), np.zeros((1, 0))):
            with pytest.raises(ValueError, match=r"^x must have shape \(N, C\) with C >= 1"):
                SoftmaxWithLoss().forward(np.zeros((1, 0)), t)


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_non_contiguous_logits_are_copied(rng, layout):
    base = rng.standard_normal((7, 8))
    z = np.asfortranarray(base[:, :4]) if layout == "fortran" else base[:, ::2]
    t = rng.integers(0, 4, 7)
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(z, t) == b.forward(np.ascontiguousarray(z), t)
    np.testing.assert_array_equal(a.backward(), b.backward())


# -- backends agree on the edge cases (issue 14) --------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
def test_minus_inf_logit_with_zero_target_weight(ops, dtype):
    # 0 * (lse - (-inf)) is NaN; a class with zero weight contributes nothing.
    z = np.array([[-np.inf, 0.0, np.log(3.0)], [1.0, -np.inf, 1.0]], dtype)
    t = np.array([[0.0, 0.25, 0.75], [0.5, 0.0, 0.5]], dtype)
    dz = np.empty_like(z)
    loss = ops.softmax_cross_entropy_onehot(z, t, dz)
    # row 0: p = [0, 1/4, 3/4]; row 1: p = [1/2, 0, 1/2]
    want = (-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) + np.log(2.0)) / 2
    np.testing.assert_allclose(loss, want, **tol(dtype))
    np.testing.assert_allclose(dz, np.zeros_like(z), **tol(dtype))
    # as class indices: a -inf logit elsewhere in the row is fine, on the label it is inf
    dz = np.empty_like(z)
    np.testing.assert_allclose(ops.softmax_cross_entropy(z, np.array([2, 0]), dz),
                               (-np.log(0.75) + np.log(2.0)) / 2, **tol(dtype))
    assert ops.softmax_cross_entropy(z, np.array([0, 0]), dz) == np.inf


@pytest.mark.parametrize("shape", [(3, 0), (0, 3), (0, 0)])
@pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
def test_no_classes_or_no_samples_rejected_by_both_backends(ops, shape):
    # With C = 0 the kernel read past the row and returned 0.0; the reference raised
    # an unrelated error. Both now raise the same ValueError at the kernel entry.
    z, dz = np.zeros(shape), np.zeros(shape)
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) with N >= 1 and C >= 1"):
        ops.softmax_cross_entropy_onehot(z, np.zeros(shape), dz)
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) with N >= 1 and C >= 1"):
        ops.softmax_cross_entropy(z, np.zeros(shape[0], np.int64), dz)


def test_as_labels_rejects_zero_classes():
    from fastnet._checks import as_labels
    with pytest.raises(ValueError, match="t: a softmax needs at least one class"):
        as_labels("t", np.zeros((2, 0)), 2, 0, np.float64)


@pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
def test_gradient_is_the_loss_derivative_for_rows_not_summing_to_one(ops, rng):
    # (softmax - t) / N is the derivative only when each row sums to 1; the kernels
    # return softmax * t.sum(1) - t, which is it for any real rows (torch's autograd agrees).
    z = rng.standard_normal((4, 5))
    t = rng.standard_normal((4, 5)) * np.array([[0.0], [0.5], [2.0], [-1.0]]) + 0.1
    dz = np.empty_like(z)
    ops.softmax_cross_entropy_onehot(z, t, dz)

    def loss(_):
        return ops.softmax_cross_entropy_onehot(z, t, np.empty_like(z))

    numeric = numerical_gradient(loss, z, h=1e-6)
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)
