"""Property tests: every compiled kernel equals its NumPy reference within the operation's
error bound, on shapes with 0 and 1 sizes, both dtypes, values over many scales.

Each bound is the worst case of the rounding-error analysis (tests/numerics.py:
``gamma``) for both backends, so a failure is a real disagreement, never noise.
Inputs the kernels declare ``const`` are checked unmodified. Activation and
affine kernels are left to their own test files while they are being rewritten.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnet.kernels as fk
import fastnet.reference as ref
from fuzzing import assert_unchanged, dtypes, frozen, fuzz, positive_sizes, real_arrays, sizes
from numerics import (
    assert_within, batchnorm_backward_bounds, batchnorm_train_bounds, gamma, gemm_bound,
    softmax_ce_bounds, tiny, unit_roundoff,
)


# -- GEMM -------------------------------------------------------------------------

@fuzz
@given(data=st.data(), dtype=dtypes, m=sizes, n=sizes, k=sizes,
       trans_a=st.booleans(), trans_b=st.booleans())
def test_gemm(data, dtype, m, n, k, trans_a, trans_b):
    # 10^+-12 (float32) keeps k |a||b| finite; the bound covers underflow too.
    e = 12 if np.dtype(dtype) == np.float32 else 100
    a = data.draw(real_arrays(dtype, (k, m) if trans_a else (m, k), e))
    b = data.draw(real_arrays(dtype, (n, k) if trans_b else (k, n), e))
    before = frozen(a, b)
    got, want = np.full((m, n), np.nan, dtype), np.full((m, n), np.nan, dtype)
    fk.gemm(a, b, got, trans_a, trans_b)
    ref.gemm(a, b, want, trans_a, trans_b)
    assert_unchanged(before, [a, b])
    bound = gemm_bound(a.T if trans_a else a, b.T if trans_b else b, dtype)
    assert_within(got, want, bound, "gemm")


# -- softmax cross-entropy --------------------------------------------------------------

@st.composite
def _logits_and_targets(draw, dtype):
    n, c = draw(positive_sizes), draw(positive_sizes)
    z = draw(real_arrays(dtype, (n, c), 3 if np.dtype(dtype) == np.float32 else 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # some -inf logits, never a whole row
        hole = rng.random((n, c)) < 0.3
        hole[np.arange(n), rng.integers(0, c, n)] = False
        z[hole] = -np.inf
    kind = draw(st.sampled_from(["onehot", "distribution", "any"]))
    labels = rng.integers(0, c, n)
    if kind == "onehot":
        t = np.eye(c)[labels]
    elif kind == "distribution":
        t = rng.dirichlet(np.ones(c), n) * (rng.random((n, c)) < 0.7)
    else:  # any real rows: the loss is still defined
        t = rng.standard_normal((n, c)) * (rng.random((n, c)) < 0.5)
    finite = np.isfinite(z)
    labels = np.where(finite[np.arange(n), labels], labels, np.argmax(finite, axis=1))
    t = np.where(finite, t, 0.0)  # a -inf logit only meets zero weight
    return z, labels.astype(np.int64), t.astype(dtype)


@fuzz
@given(data=st.data(), dtype=dtypes)
def test_softmax_cross_entropy(data, dtype):
    z, labels, t = data.draw(_logits_and_targets(dtype))
    before = frozen(z, labels, t)
    for kernel, target in [("softmax_cross_entropy", labels),
                           ("softmax_cross_entropy_onehot", t)]:
        got_dz, want_dz = np.empty_like(z), np.empty_like(z)
        got = getattr(fk, kernel)(z, target, got_dz)
        want = getattr(ref, kernel)(z, target, want_dz)
        tt = np.eye(z.shape[1], dtype=dtype)[labels] if target is labels else t
        loss_bound, dz_bound = softmax_ce_bounds(z, tt, want_dz, dtype)
        assert np.isfinite(want), "finite logits where the weight is not 0 give a finite loss"
        assert_within(got, want, loss_bound, kernel + " loss")
        assert_within(got_dz, want_dz, dz_bound, kernel + " dlogits")
    assert_unchanged(before, [z, labels, t])


@fuzz
@given(n=sizes, c=sizes, empty=st.sampled_from(["n", "c", "both"]), dtype=dtypes)
def test_softmax_empty_is_rejected_alike(n, c, empty, dtype):
    n, c = (0 if empty in ("n", "both") else n), (0 if empty in ("c", "both") else c)
    z = np.zeros((n, c), dtype)
    for ops in (fk, ref):
        with pytest.raises(ValueError, match="logits must have shape"):
            ops.softmax_cross_entropy_onehot(z, z.copy(), z.copy())
        with pytest.raises(ValueError, match="logits must have shape"):
            ops.softmax_cross_entropy(z, np.zeros(n, np.int64), z.copy())


# -- batch norm ---------------------------------------------------------------------------

@st.composite
def _batch(draw, dtype):
    n, d = draw(positive_sizes), draw(sizes)
    x = draw(real_arrays(dtype, (n, d)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gamma_ = rng.uniform(-2, 2, d).astype(dtype)
    beta = rng.standard_normal(d).astype(dtype)
    rm = rng.standard_normal(d).astype(dtype)
    rv = rng.uniform(0, 3, d).astype(dtype)
    eps = draw(st.sampled_from([1e-7, 1e-5, 1e-3]))
    momentum = draw(st.sampled_from([0.0, 0.1, 0.9, 1.0]))
    corr = draw(st.sampled_from([1.0, n / max(n - 1, 1)]))
    return x, gamma_, beta, rm, rv, eps, momentum, corr


def _bn_train(ops, x, gamma_, beta, rm, rv, eps, momentum, corr):
    n, d = x.shape
    out, mean, inv_std = (np.full_like(x, np.nan), np.full(d, np.nan, x.dtype),
                          np.full(d, np.nan, x.dtype))
    rm, rv = rm.copy(), rv.copy()
    ops.batchnorm_forward_train_(x, gamma_, beta, eps, out, mean, inv_std, rm, rv, momentum, corr)
    return out, mean, inv_std, rm, rv


@fuzz
@given(data=st.data(), dtype=dtypes)
def test_batchnorm_train_forward_and_backward(data, dtype):
    x, gamma_, beta, rm, rv, eps, momentum, corr = data.draw(_batch(dtype))
    n, d = x.shape
    before = frozen(x, gamma_, beta)
    got = _bn_train(fk, x, gamma_, beta, rm, rv, eps, momentum, corr)
    want = _bn_train(ref, x, gamma_, beta, rm, rv, eps, momentum, corr)
    assert_unchanged(before, [x, gamma_, beta])
    b = batchnorm_train_bounds(x, gamma_, want, eps, momentum, corr, rm, rv)
    for got_a, want_a, name in zip(got, want, ["out", "mean", "inv_std", "running_mean",
                                                "running_var"]):
        assert_within(got_a, want_a, b[name], name)

    # backward from the reference's statistics, so both see the same inputs
    g = data.draw(real_arrays(dtype, (n, d), 3))
    mean, inv_std = want[1], want[2]
    res = []
    for ops in (fk, ref):
        dx, dgamma, dbeta = np.full_like(x, np.nan), np.full(d, np.nan, dtype), np.full(d, np.nan, dtype)
        ops.batchnorm_backward(g, x, gamma_, mean, inv_std, dx, dgamma, dbeta)
        res.append((dx, dgamma, dbeta))
    b = batchnorm_backward_bounds(g, x, gamma_, mean, inv_std, res[1])
    for got_a, want_a, name in zip(res[0], res[1], ["dx", "dgamma", "dbeta"]):
        assert_within(got_a, want_a, b[name], name)


@fuzz
@given(data=st.data(), dtype=dtypes)
def test_batchnorm_infer(data, dtype):
    x, gamma_, beta, rm, rv, eps, _, _ = data.draw(_batch(dtype))
    u = unit_roundoff(dtype)
    before = frozen(x, gamma_, beta, rm, rv)
    got, want = np.full_like(x, np.nan), np.full_like(x, np.nan)
    fk.batchnorm_forward_infer(x, gamma_, beta, rm, rv, eps, got)
    ref.batchnorm_forward_infer(x, gamma_, beta, rm, rv, eps, want)
    assert_unchanged(before, [x, gamma_, beta, rm, rv])
    s = np.abs(gamma_.astype(np.float64)) / np.sqrt(rv.astype(np.float64) + eps)
    bound = 12 * u * (s * (np.abs(x.astype(np.float64)) + np.abs(rm)) + np.abs(beta)) + 4 * tiny(dtype)
    assert_within(got, want, bound, "infer out")


@fuzz
@given(d=sizes, dtype=dtypes)
def test_batchnorm_empty_batch_rejected_alike(d, dtype):
    z = np.zeros((0, d), dtype)
    v = np.zeros(d, dtype)
    for ops in (fk, ref):
        with pytest.raises(ValueError, match="x must hold at least one sample"):
            ops.batchnorm_forward_train_(z, v, v, 1e-5, z.copy(), v.copy(), v.copy(), v.copy(),
                                        v.copy(), 0.9, 1.0)


# -- dropout ------------------------------------------------------------------------------

@fuzz
@given(data=st.data(), dtype=dtypes, size=sizes,
       ratio=st.floats(0, 1), inverted=st.booleans())
def test_dropout(data, dtype, size, ratio, inverted):
    x = data.draw(real_arrays(dtype, (size,)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    uniforms = rng.random(size).astype(dtype)
    if size and data.draw(st.booleans()):  # a uniform equal to the ratio as the kernel sees it
        uniforms[0] = dtype(ratio)
    scale = 1 / (1 - ratio) if inverted and ratio < 1 else 1.0
    before = frozen(x)
    results = []
    for ops in (fk, ref):
        mask, out = uniforms.copy(), np.full_like(x, np.nan)
        ops.dropout_forward_(x, mask, ratio, scale, out)
        dout = x[::-1].copy()
        dx = np.full_like(x, np.nan)
        ops.dropout_backward(dout, mask, dx)
        scaled = np.full_like(x, np.nan)
        ops.dropout_scale(x, scale, scaled)
        results.append((mask, out, dx, scaled))
    assert_unchanged(before, [x])
    # one rounding each, in the same order: bit-identical
    for got, want, what in zip(results[0], results[1], ["mask", "out", "dx", "scaled"]):
        np.testing.assert_array_equal(got, want, err_msg=what)


# -- optimizer updates --------------------------------------------------------------------

# The update kernels take a pointer to element 0 (their callers skip empty arrays),
# so they are fuzzed from size 1: a bounds-checked build rejects size 0.
_hyper = dict(lr=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 10.0]),
              wd=st.sampled_from([0.0, 1e-4, 0.5]))


def _state(data, dtype, size, nonneg=False):
    s = data.draw(real_arrays(dtype, (size,), 3))
    return np.abs(s) if nonneg else s


@fuzz
@given(data=st.data(), dtype=dtypes, size=positive_sizes, **_hyper,
       kind=st.sampled_from(["sgd", "momentum", "nesterov"]), textbook=st.booleans(),
       mu=st.sampled_from([0.0, 0.5, 0.9, 0.999]))
def test_sgd_and_momentum_updates(data, dtype, size, lr, wd, kind, textbook, mu):
    u = unit_roundoff(dtype)
    p, g, v = (_state(data, dtype, size) for _ in range(3))
    before = frozen(g)
    res = []
    for ops in (fk, ref):
        pp, vv = p.copy(), v.copy()
        if kind == "sgd":
            ops.sgd_update_(pp, g, lr, wd)
        else:
            ops.momentum_update_(pp, g, vv, lr, mu, wd, kind == "nesterov", textbook)
        res.append((pp, vv))
    assert_unchanged(before, [g])
    a = lambda arr: np.abs(arr.astype(np.float64))  # noqa: E731
    # at most 8 roundings per element, each of a term no larger than these
    terms = (a(p) + a(res[1][0]) + (1 + lr) * (2 + mu) * (a(v) + a(res[1][1]) + a(g) + wd * a(p)))
    assert_within(res[0][0], res[1][0], 16 * u * terms + 4 * tiny(dtype), "param")
    assert_within(res[0][1], res[1][1], 16 * u * terms + 4 * tiny(dtype), "velocity")


@fuzz
@given(data=st.data(), dtype=dtypes, size=positive_sizes, **_hyper,
       decay=st.sampled_from([0.0, 0.9, 0.99, 1.0]), eps=st.sampled_from([1e-10, 1e-7, 1e-3]))
def test_rmsprop_and_adagrad_update(data, dtype, size, lr, wd, decay, eps):
    u = unit_roundoff(dtype)
    scale = 1.0 if decay == 1.0 else 1.0 - decay  # AdaGrad is decay 1, scale 1
    p, g = _state(data, dtype, size), _state(data, dtype, size)
    h = _state(data, dtype, size, nonneg=True)
    before = frozen(g)
    res = []
    for ops in (fk, ref):
        pp, hh = p.copy(), h.copy()
        ops.rmsprop_update_(pp, g, hh, lr, decay, scale, eps, wd)
        res.append((pp, hh))
    assert_unchanged(before, [g])
    a = lambda arr: np.abs(arr.astype(np.float64))  # noqa: E731
    geff = a(g) + wd * a(p)
    big_h = decay * a(h) + scale * geff ** 2
    d_h = 2 * 6 * u * big_h
    denom = np.sqrt(a(res[1][1])) + dtype(eps)
    step = lr * geff / denom
    # |sqrt(a) - sqrt(b)| <= sqrt(|a - b|); the quotient adds a few roundings
    d_step = lr * geff * np.sqrt(d_h) / denom ** 2 + 8 * u * (step + lr * geff * u / denom)
    assert_within(res[0][1], res[1][1], d_h + 4 * tiny(dtype), "h")
    assert_within(res[0][0], res[1][0], 2 * d_step + 4 * u * (a(p) + a(res[1][0])) + 4 * tiny(dtype),
                  "param")


@fuzz
@given(data=st.data(), dtype=dtypes, size=positive_sizes, **_hyper,
       beta1=st.sampled_from([0.0, 0.9]), beta2=st.sampled_from([0.0, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), t=st.integers(1, 50), torch=st.booleans(),
       decoupled=st.booleans())
def test_adam_update(data, dtype, size, lr, wd, beta1, beta2, eps, t, torch, decoupled):
    u = unit_roundoff(dtype)
    # the coefficients Adam/AdamW compute for the kernel, in both conventions
    if torch:
        step_size, inv_root = lr / (1 - beta1 ** t), 1 / math.sqrt(1 - beta2 ** t)
    else:
        step_size, inv_root = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t), 1.0
    coupled, shrink = (0.0, 1 - lr * wd) if decoupled else (wd, 1.0)
    p, g, m = (_state(data, dtype, size) for _ in range(3))
    v = _state(data, dtype, size, nonneg=True)
    before = frozen(g)
    res = []
    for ops in (fk, ref):
        pp, mm, vv = p.copy(), m.copy(), v.copy()
        ops.adam_update_(pp, g, mm, vv, step_size, beta1, beta2, eps, inv_root, coupled, shrink)
        res.append((pp, mm, vv))
    assert_unchanged(before, [g])
    a = lambda arr: np.abs(arr.astype(np.float64))  # noqa: E731
    geff = a(g) + coupled * a(p)
    d_m = 2 * 6 * u * (a(m) + geff)
    d_v = 2 * 6 * u * (a(v) + geff ** 2)
    denom = np.sqrt(a(res[1][2])) * inv_root + dtype(eps)
    m_new = a(res[1][1])
    step = step_size * m_new / denom
    d_step = (step_size * d_m / denom + step_size * m_new * inv_root * np.sqrt(d_v) / denom ** 2
              + 8 * u * step)
    assert_within(res[0][1], res[1][1], d_m + 4 * tiny(dtype), "m")
    assert_within(res[0][2], res[1][2], d_v + 4 * tiny(dtype), "v")
    assert_within(res[0][0], res[1][0],
                  2 * d_step + 6 * u * (a(p) + a(res[1][0])) + 4 * tiny(dtype), "param")


# -- running statistics ----------------------------------------------------------------------

@fuzz
@given(data=st.data(), dtype=dtypes, size=sizes, nbins=st.integers(1, 12),
       low=st.sampled_from([-3.0, -1.0, 0.0]), width=st.sampled_from([1.0, 2.0, 6.0]))
def test_accumulate_stats(data, dtype, size, nbins, low, width):
    x = data.draw(real_arrays(dtype, (size,), 1))
    edges = np.linspace(low, low + width, nbins + 1)
    before = frozen(x, edges)
    res = []
    for ops in (fk, ref):
        counts = np.zeros(nbins, np.int64)
        totals = np.array([3.0, 0.5, 2.0, 1.0, 0.0])  # a previous batch's statistics
        ops.accumulate_stats_(x, edges, counts, totals, low, low + width)
        res.append((counts, totals))
    assert_unchanged(before, [x, edges])
    np.testing.assert_array_equal(res[0][0], res[1][0], err_msg="histogram counts")
    got, want = res[0][1], res[1][1]
    np.testing.assert_array_equal(got[[0, 3, 4]], want[[0, 3, 4]], err_msg="count, zeros, saturated")
    x64 = x.astype(np.float64)
    big = np.abs(x64).max() if size else 0.0
    # the mean and M2 are double sums of size + 4 terms of size <= big (and big^2)
    g = gamma(size + 8, np.float64)
    assert_within(got[1], want[1], 2 * g * (big + 1), "mean")
    assert_within(got[2], want[2], 2 * g * (size * (big + 1) ** 2 + want[2]), "M2")
