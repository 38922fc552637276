"""Batch normalization: kernels vs reference, gradient checks, PyTorch parity, bad input."""
import warnings

import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from numerics import (
    DTYPES, assert_within, batchnorm_backward_bounds, batchnorm_train_bounds, gamma_random,
    unit_roundoff,
)
from fastnet.gradient import numerical_gradient
from fastnet.layers import BatchNormalization

TRAIN_SHAPES = [(2, 1), (3, 7), (100, 100), (512, 1024), (17, 257), (5, 513)]
INFER_SHAPES = [(1, 1), (1, 300), (2, 1), (100, 100), (31, 259)]


def _data(rng, n, d, dtype, offset=0.0):
    x = (rng.standard_normal((n, d)) * rng.uniform(0.5, 2, d) + offset).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    return x, gamma, beta


def _train_forward(ops, x, gamma, beta, rm, rv, momentum=0.9, corr=1.0, eps=1e-6):
    n, d = x.shape
    out, mean, inv_std = np.empty_like(x), np.empty(d, x.dtype), np.empty(d, x.dtype)
    rm, rv = rm.copy(), rv.copy()
    ops.batchnorm_forward_train_(x, gamma, beta, eps, out, mean, inv_std, rm, rv, momentum, corr)
    return out, mean, inv_std, rm, rv


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", TRAIN_SHAPES)
def test_train_forward_matches_reference(rng, dtype, shape):
    x, gamma, beta = _data(rng, *shape, dtype)
    rm, rv = rng.standard_normal(shape[1]).astype(dtype), rng.uniform(0.5, 2, shape[1]).astype(dtype)
    got = _train_forward(fk, x, gamma, beta, rm, rv, 0.8, 1.25)
    want = _train_forward(ref, x, gamma, beta, rm, rv, 0.8, 1.25)
    # bounds from the sums' rounding errors, growing like sqrt(N) on random data
    bounds = batchnorm_train_bounds(x, gamma, want, 1e-6, 0.8, 1.25, rm, rv, growth=gamma_random)
    for g, w, name in zip(got, want, ["out", "mean", "inv_std", "running_mean", "running_var"]):
        assert g.dtype == dtype
        assert_within(g, w, bounds[name], name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", INFER_SHAPES)
def test_infer_forward_matches_reference(rng, dtype, shape):
    x, gamma, beta = _data(rng, *shape, dtype)
    rm, rv = rng.standard_normal(shape[1]).astype(dtype), rng.uniform(0.5, 2, shape[1]).astype(dtype)
    got, want = np.empty_like(x), np.empty_like(x)
    fk.batchnorm_forward_infer(x, gamma, beta, rm, rv, 1e-5, got)
    ref.batchnorm_forward_infer(x, gamma, beta, rm, rv, 1e-5, want)
    # element-wise: a subtraction, a product, a sum and the scale's sqrt and quotient
    u = unit_roundoff(dtype)
    s = np.abs(gamma.astype(np.float64)) / np.sqrt(rv.astype(np.float64) + 1e-5)
    assert_within(got, want, 12 * u * (s * (np.abs(x.astype(np.float64)) + np.abs(rm)) + np.abs(beta)))
    fk.batchnorm_forward_infer(x, gamma, beta, rm, rv, 1e-5, x)  # in place
    np.testing.assert_array_equal(x, got)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", TRAIN_SHAPES)
def test_backward_matches_reference(rng, dtype, shape):
    x, gamma, beta = _data(rng, *shape, dtype)
    d = shape[1]
    _, mean, inv_std, _, _ = _train_forward(ref, x, gamma, beta, np.zeros(d, dtype), np.zeros(d, dtype))
    g = rng.standard_normal(shape).astype(dtype)
    results = []
    for ops in (fk, ref):
        dx, dgamma, dbeta = np.empty_like(x), np.empty(d, dtype), np.empty(d, dtype)
        ops.batchnorm_backward(g, x, gamma, mean, inv_std, dx, dgamma, dbeta)
        results.append((dx, dgamma, dbeta))
    # The sums over N rows; errors grow like sqrt(N) on random data. The old blanket
    # tolerance allowed 2.3e-3 in float32 dx at N=512, where 1e-6 was measured.
    bounds = batchnorm_backward_bounds(g, x, gamma, mean, inv_std, results[1], random=True)
    for got, want, name in zip(*results, ["dx", "dgamma", "dbeta"]):
        assert_within(got, want, bounds[name], name)
    inplace = g.copy()
    fk.batchnorm_backward(inplace, x, gamma, mean, inv_std, inplace, np.empty(d, dtype),
                          np.empty(d, dtype))
    np.testing.assert_array_equal(inplace, results[0][0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_cancellation_with_large_mean(rng, dtype):
    # E[x^2] - E[x]^2 would lose every digit of a variance of 1 around a mean of 1e4 in float32.
    x, gamma, beta = _data(rng, 64, 8, np.float64, offset=1e4)
    x = (x - 1e4).astype(dtype) + dtype(1e4)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-6)
    layer = BatchNormalization(np.ones(8, dtype), np.zeros(8, dtype))
    out = layer.forward(x, train_flg=True)
    # float32: a mean near 1e4 is stored to within half its spacing, 5e-4 (of one std).
    np.testing.assert_allclose(out, want, atol=1e-3 if dtype == np.float32 else 1e-9)
    if dtype == np.float32:
        # The formula the kernel avoids is far off on the same data.
        naive_var = np.mean(x * x, axis=0) - np.mean(x, axis=0) ** 2
        assert np.max(np.abs(naive_var - x64.var(0))) > 0.1


def test_hand_worked_example():
    # One feature, x = [1, 3]: mean 2, var 1, xhat = [-1, 1] (up to eps).
    layer = BatchNormalization(np.array([2.0]), np.array([0.5]), eps=1e-12)
    out = layer.forward(np.array([[1.0], [3.0]]))
    np.testing.assert_allclose(out, [[-1.5], [2.5]])
    np.testing.assert_allclose(layer.running_mean, [0.2])   # 0.9 * 0 + 0.1 * 2
    np.testing.assert_allclose(layer.running_var, [0.1])    # 0.9 * 0 + 0.1 * 1
    # dL/d out = [1, 0]: dbeta = 1, dgamma = -1, dx = 2 / 2 * (2 * [1, 0] - 1 + [-1, 1]) = [0, 0]
    dx = layer.backward(np.array([[1.0], [0.0]]))
    np.testing.assert_allclose(layer.dbeta, [1.0])
    np.testing.assert_allclose(layer.dgamma, [-1.0])
    np.testing.assert_allclose(dx, [[0.0], [0.0]], atol=1e-9)


@pytest.mark.parametrize("backend", ["compiled", "reference"])
@pytest.mark.parametrize("shape", [(4, 3), (7, 5), (3, 1)])
def test_gradient_check_train_mode(rng, backend, shape):
    x, gamma, beta = _data(rng, *shape, np.float64)
    g = rng.standard_normal(shape)
    layer = BatchNormalization(gamma, beta, backend=backend)

    def objective(_):
        return float(np.sum(g * layer.forward(x, train_flg=True)))

    layer.forward(x, train_flg=True)
    dx = layer.backward(g)
    dgamma, dbeta = layer.dgamma, layer.dbeta
    for analytic, param in [(dx, x), (dgamma, gamma), (dbeta, beta)]:
        numeric = numerical_gradient(objective, param, h=1e-6)
        rel = np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12)
        assert rel < 1e-6


def test_nd_input_is_flattened(rng):
    x = rng.standard_normal((4, 2, 3))
    layer = BatchNormalization(np.ones(6), np.zeros(6))
    out = layer.forward(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.reshape(4, 6).mean(0), 0, atol=1e-12)
    assert layer.backward(np.ones_like(x)).shape == x.shape


def test_inference_any_batch_and_deterministic(rng):
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    layer.forward(rng.standard_normal((10, 3)))
    x1 = rng.standard_normal((1, 3))
    a, b = layer.forward(x1, train_flg=False), layer.forward(x1, train_flg=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, (x1 - layer.running_mean) / np.sqrt(layer.running_var + 1e-6))


def test_textbook_batch_of_one_warns_once():
    layer = BatchNormalization(np.ones(2), np.array([0.5, -1.0]))
    with pytest.warns(RuntimeWarning, match="batch of one"):
        out = layer.forward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(out, [[0.5, -1.0]])  # xhat = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.forward(np.array([[1.0, 2.0]]))
    assert np.all(np.isfinite(layer.backward(np.ones((1, 2)))))


class TestTorchParity:
    """convention='torch' equals torch.nn.BatchNorm1d in float64 after 10 training steps."""

    @pytest.mark.parametrize("backend", ["compiled", "reference"])
    @pytest.mark.parametrize("shape", [(8, 5), (64, 33)])
    def test_ten_steps(self, rng, backend, shape):
        torch = pytest.importorskip("torch")
        n, d = shape
        gamma, beta = rng.uniform(0.5, 1.5, d), rng.standard_normal(d)
        layer = BatchNormalization(gamma.copy(), beta.copy(), convention="torch", backend=backend)
        bn = torch.nn.BatchNorm1d(d, dtype=torch.float64)
        with torch.no_grad():
            bn.weight.copy_(torch.from_numpy(gamma))
            bn.bias.copy_(torch.from_numpy(beta))
        bn.train()
        for step in range(10):
            x = rng.standard_normal((n, d)) * 3 + step
            g = rng.standard_normal((n, d))
            out = layer.forward(x, train_flg=True)
            dx = layer.backward(g)
            xt = torch.from_numpy(x).requires_grad_(True)
            bn.weight.grad = bn.bias.grad = None
            yt = bn(xt)
            yt.backward(torch.from_numpy(g))
            np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(layer.dgamma, bn.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(layer.dbeta, bn.bias.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(layer.running_mean, bn.running_mean.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(layer.running_var, bn.running_var.numpy(), rtol=1e-10, atol=1e-10)
        bn.eval()
        x = rng.standard_normal((3, d))
        np.testing.assert_allclose(layer.forward(x, train_flg=False),
                                   bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10)

    def test_batch_of_one_raises_like_torch(self):
        torch = pytest.importorskip("torch")
        with pytest.raises(ValueError):
            torch.nn.BatchNorm1d(3, dtype=torch.float64)(torch.ones(1, 3))
        layer = BatchNormalization(np.ones(3), np.zeros(3), convention="torch")
        with pytest.raises(ValueError, match="more than one sample"):
            layer.forward(np.ones((1, 3)), train_flg=True)
        assert layer.forward(np.ones((1, 3)), train_flg=False).shape == (1, 3)


class TestBadInput:
    def test_mismatched_gamma_beta(self):
        with pytest.raises(ValueError, match=r"beta must have shape \(3,\)"):
            BatchNormalization(np.ones(3), np.zeros(4))
        with pytest.raises(TypeError, match="beta must have gamma's dtype"):
            BatchNormalization(np.ones(3), np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="gamma must have shape"):
            BatchNormalization(np.ones((3, 1)), np.zeros((3, 1)))
        with pytest.raises(TypeError, match="gamma.dtype"):
            BatchNormalization(np.ones(3, int), np.zeros(3, int))

    def test_wrong_width(self):
        layer = BatchNormalization(np.ones(3), np.zeros(3))
        with pytest.raises(ValueError, match=r"x \(flattened\) must have shape \(N, 3\)"):
            layer.forward(np.ones((4, 5)))

    def test_dtype_mismatch_and_empty(self):
        layer = BatchNormalization(np.ones(3, np.float32), np.zeros(3, np.float32))
        with pytest.raises(TypeError, match="x has dtype float64"):
            layer.forward(np.ones((4, 3)))
        with pytest.raises(ValueError, match="at least one sample"):
            layer.forward(np.ones((0, 3), np.float32))

    def test_bad_settings(self):
        with pytest.raises(ValueError, match="convention"):
            BatchNormalization(np.ones(3), np.zeros(3), convention="keras")
        with pytest.raises(ValueError, match="momentum"):
            BatchNormalization(np.ones(3), np.zeros(3), momentum=1.5)
        with pytest.raises(ValueError, match="eps"):
            BatchNormalization(np.ones(3), np.zeros(3), eps=0)
        with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
            BatchNormalization(np.ones(3), np.zeros(3), running_mean=np.zeros(2))
        # a negative variance gave NaN outputs in inference, silently
        with pytest.raises(ValueError, match=r"running_var must be >= 0 \(a variance\); got min -1"):
            BatchNormalization(np.ones(3), np.zeros(3), running_var=np.array([1.0, -1.0, 0.0]))
        # a NaN one (a diverged run's) carries on, as the math does
        layer = BatchNormalization(np.ones(3), np.zeros(3), running_var=np.full(3, np.nan))
        assert np.isnan(layer.forward(np.ones((2, 3)), train_flg=False)).all()

    def test_load_state_dict_refuses_a_negative_running_var(self):
        import fastnet
        net = fastnet.MultiLayerNetExtend(4, [3], 2, use_batchnorm=True, seed=0)
        state = net.state_dict()
        key = "running_var1"
        before = {k: v.copy() for k, v in net.state_dict()["params"].items()}
        state["params"] = {k: v + 1 for k, v in state["params"].items()}
        state["buffers"][key] = np.array([1.0, -0.5, 0.0], np.float32)
        with pytest.raises(ValueError, match=rf"buffers\['{key}'\]: running_var must be >= 0"):
            net.load_state_dict(state)
        for k, v in net.params.items():  # nothing copied
            np.testing.assert_array_equal(v, before[k])
        state["buffers"][key] = np.full(3, np.nan, np.float32)  # a diverged run's: loaded, as trained
        net.load_state_dict(state)
        assert np.isnan(net.buffers[key]).all()

    def test_backward_before_train_forward(self):
        layer = BatchNormalization(np.ones(3), np.zeros(3))
        layer.forward(np.ones((2, 3)), train_flg=False)
        with pytest.raises(RuntimeError, match="train_flg=True"):
            layer.backward(np.ones((2, 3)))
        layer.forward(np.ones((2, 3)))
        with pytest.raises(ValueError, match="dout"):
            layer.backward(np.ones((3, 3)))


# -- huge activations and the reference's own float32 accuracy (issue 14) ------------

HUGE = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e200}


@pytest.mark.parametrize("backend", [fk, ref], ids=["compiled", "reference"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_huge_finite_activations_stay_finite(rng, backend, dtype, offset):
    # s2/n - shift^2 was inf - inf = NaN: the squares overflow long before the values do.
    # Columns 0-2 are huge (their variance overflows float32 too), column 3 ordinary.
    scale = HUGE[np.dtype(dtype)]
    n, d = 37, 4
    z = rng.standard_normal((n, d)) + offset  # the data in units of `scale`
    units = np.array([scale, scale, scale, 1.0])
    x = (z * units).astype(dtype)
    gamma, beta = rng.uniform(0.5, 1.5, d).astype(dtype), rng.standard_normal(d).astype(dtype)
    out, mean, inv_std, rm, rv = _train_forward(backend, x, gamma, beta, np.zeros(d, dtype),
                                                np.ones(d, dtype), momentum=0.5)
    # truth in float64 from the unscaled data (eps is negligible against the huge variances)
    zx = x.astype(np.float64) / units
    zc = zx - zx.mean(0)
    std = np.sqrt((zc ** 2).mean(0) + np.where(units == 1.0, 1e-6, 0.0))
    xhat = zc / std
    want = gamma.astype(np.float64) * xhat + beta
    assert np.isfinite(out).all() and np.isfinite(mean).all() and np.isfinite(inv_std).all()
    t = 64 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, want, rtol=t, atol=t * (1 + np.abs(want).max()))
    np.testing.assert_allclose(mean, zx.mean(0) * units, rtol=t, atol=t)
    np.testing.assert_allclose(inv_std[:3] * units[:3], 1 / std[:3], rtol=t)
    # the running variance is the true one: beyond float32 (1e60) it is inf, never NaN
    assert not np.isnan(rv).any()
    if dtype == np.float32:
        assert np.isinf(rv[:3]).all()

    g = rng.standard_normal((n, d)).astype(dtype)
    dx, dgamma, dbeta = np.empty_like(x), np.empty(d, dtype), np.empty(d, dtype)
    backend.batchnorm_backward(g, x, gamma, mean, inv_std, dx, dgamma, dbeta)
    g64 = g.astype(np.float64)
    want_dgamma = (g64 * xhat).sum(0)
    # dx in units of 1/scale: gamma/std/N (N g - sum g - xhat dgamma)
    want_dx = gamma / std / n * (n * g64 - g64.sum(0) - xhat * want_dgamma)
    np.testing.assert_allclose(dgamma, want_dgamma, rtol=t * n, atol=t * n)
    np.testing.assert_allclose(dx.astype(np.float64) * units, want_dx, rtol=t * n,
                               atol=t * n * np.abs(want_dx).max())


@pytest.mark.parametrize("backend", [fk, ref], ids=["compiled", "reference"])
def test_float32_large_mean_accuracy_of_both_backends(rng, backend):
    # The float32 reference lost the variance of 1 around a mean of 1e4 (single-precision
    # mean and squares); both backends must get xhat to the rounding of x itself.
    x64, gamma, beta = _data(rng, 512, 8, np.float64, offset=1e4)
    x = x64.astype(np.float32)
    xd = x.astype(np.float64)
    want = (xd - xd.mean(0)) / np.sqrt(xd.var(0) + 1e-6)
    one = np.ones(8, np.float32)
    out, mean, inv_std, _, _ = _train_forward(backend, x, one, 0 * one, 0 * one, one)
    # the mean of values spaced 1e-3 apart (ulp of 1e4) is exact to ~1e-3 * eps * log N; xhat
    # then carries the rounding of x - mean (ulp 1e-3) times inv_std (~1/std)
    np.testing.assert_allclose(mean, xd.mean(0), rtol=4 * np.finfo(np.float32).eps)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(xd.var(0) + 1e-6), rtol=1e-5)
    np.testing.assert_allclose(out, want, atol=2e-3 * np.abs(1 / inv_std).max() ** -1 + 1e-5)
