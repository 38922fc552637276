"""One thread pool: OpenBLAS on fastnet's OpenMP threads, and element-wise kernels in parallel.

The BLAS callback is process-wide and set at import, so configurations other
than this process's run in subprocesses (from "/", so the installed package
is imported).
"""
import contextlib
import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from forking import assert_forked_child_passes

import fastnet
import fastnet._blas as fblas
import fastnet._kernels.threads as threads
import fastnet.kernels as fk
from fastnet._activation import activation_code


def _run(code, **env):
    import os
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("FASTNET_BLAS_THREADS", "OMP_DYNAMIC", "OMP_WAIT_POLICY")}
    full_env.update(env)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd="/", env=full_env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


pool_shared = pytest.mark.skipif(not fblas.share_thread_pool(),
                                 reason="NumPy's OpenBLAS has no threads callback (< 0.3.27)")

MATMUL = """
import hashlib, json, numpy as np, fastnet.kernels, fastnet._blas as fb
rng = np.random.default_rng(0)
out = {"shared": fb.share_thread_pool()}
for dtype in ("float32", "float64"):
    a = rng.standard_normal((384, 512)).astype(dtype)
    b = rng.standard_normal((512, 640)).astype(dtype)
    c = np.empty((384, 640), dtype)
    fastnet.kernels.gemm(a, b, c)
    out[dtype] = [hashlib.sha256((a @ b).tobytes()).hexdigest(),
                  hashlib.sha256(c.tobytes()).hexdigest(),
                  float(np.abs(c - a.astype(np.float64) @ b).max())]
print(json.dumps(out))
"""


@pool_shared
def test_matmul_same_bits_on_every_pool():
    """NumPy's and fastnet's GEMMs give the same bits on OpenBLAS's pool, on ours, and on
    the pthread fallback (taken when OpenMP may shrink a team: OMP_DYNAMIC=true)."""
    ours = _run(MATMUL)
    theirs = _run(MATMUL, FASTNET_BLAS_THREADS="openblas")
    fallback = _run(MATMUL, OMP_DYNAMIC="true")
    assert ours["shared"] and fallback["shared"] and not theirs["shared"]
    for dtype in ("float32", "float64"):
        assert ours[dtype][:2] == theirs[dtype][:2] == fallback[dtype][:2]
        assert ours[dtype][2] < (1e-3 if dtype == "float32" else 1e-11)


@pool_shared
def test_concurrent_matmuls_from_python_threads():
    """Two sections at once must not share OpenBLAS's per-job buffers (the callback serialises)."""
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal((300, 400)), rng.standard_normal((400, 500))) for _ in range(4)]
    expected = [a @ b for a, b in pairs]
    results = [None] * len(pairs)

    def work(i):
        for _ in range(5):
            results[i] = pairs[i][0] @ pairs[i][1]
    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(pairs))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_default_follows_the_pool():
    assert threads.get_parallel()[0] == threads.default_min_size(fblas.share_thread_pool())
    got = _run("import json, fastnet.kernels, fastnet._kernels.threads as t; "
               "print(json.dumps(t.get_parallel()))", FASTNET_BLAS_THREADS="openblas")
    assert got == [threads.SERIAL, 0]
    got = _run("import json, fastnet.kernels, fastnet._kernels.threads as t; "
               "print(json.dumps(t.get_parallel()))", FASTNET_BLAS_THREADS="openblas",
               OMP_WAIT_POLICY="passive")
    assert got == [threads.PARALLEL_MIN_SIZE, 0]


def test_parallel_settings_checked():
    with pytest.raises(ValueError, match="min_size"):
        threads.set_parallel(min_size=-1)
    with pytest.raises(ValueError, match="num_threads"):
        threads.set_parallel(num_threads=-2)


def _elementwise_digests(dtype, n_threads):
    """Every parallel element-wise kernel on fixed data, run with ``n_threads`` threads."""
    rng = np.random.default_rng(7)
    size = 100_003  # odd: the chunks end off the 16-element grid
    old = threads.set_parallel(min_size=1, num_threads=n_threads)
    try:
        p, g = (rng.standard_normal(size).astype(dtype) for _ in range(2))
        m, v, h, vel = (np.abs(rng.standard_normal(size)).astype(dtype) for _ in range(4))
        fk.sgd_update_(p, g, 0.1, 0.01)
        fk.momentum_update_(p, g, vel, 0.1, 0.9, 0.0, True, False)
        fk.rmsprop_update_(p, g, h, 0.01, 0.99, 0.01, 1e-8, 0.0)
        fk.adam_update_(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1.0, 0.01, 0.999)
        x = rng.standard_normal((64, 1000)).astype(dtype)  # 4 column blocks, the last short
        gamma, beta = rng.standard_normal(1000).astype(dtype), rng.standard_normal(1000).astype(dtype)
        out, dx = np.empty_like(x), np.empty_like(x)
        mean, inv_std, dgamma, dbeta = (np.empty(1000, dtype) for _ in range(4))
        rmean, rvar = np.zeros(1000, dtype), np.ones(1000, dtype)
        fk.batchnorm_forward_train_(x, gamma, beta, 1e-5, out, mean, inv_std, rmean, rvar, 0.9, 1.0)
        fk.batchnorm_backward(out, x, gamma, mean, inv_std, dx, dgamma, dbeta)
        infer = np.empty_like(x)
        fk.batchnorm_forward_infer(x, gamma, beta, rmean, rvar, 1e-5, infer)
        flat = x.ravel()
        mask = rng.random(flat.size).astype(dtype)
        dropped, back, scaled = (np.empty_like(flat) for _ in range(3))
        fk.dropout_forward_(flat, mask, 0.5, 2.0, dropped)
        fk.dropout_backward(flat, mask, back)
        fk.dropout_scale(flat, 0.5, scaled)
        lstm = _lstm_run(rng, dtype)
    finally:
        threads.set_parallel(*old)
    return _digest(p, m, v, h, vel, out, mean, inv_std, rmean, rvar, dx, dgamma, dbeta, infer,
                   mask, dropped, back, scaled, *lstm)


def _lstm_train(rng, dtype, steps, n, d, hid):
    """A training forward and backward on inputs up to +-60 (the gates saturate);
    returns every output."""
    draw = lambda *shape: (rng.standard_normal(shape) * 20).astype(dtype)  # noqa: E731
    x, h0, c0, dh = draw(steps, n, d), draw(n, hid), draw(n, hid), draw(steps, n, hid)
    W, b = draw(d + hid, 4 * hid) / 20, draw(4 * hid)
    gates, dgates = (np.empty((steps, n, 4 * hid), dtype) for _ in range(2))
    c, h = (np.empty((steps, n, hid), dtype) for _ in range(2))
    dx, dh0, dc0, dW, db = (np.empty_like(a) for a in (x, h0, c0, W, b))
    fk.lstm_forward(x, h0, c0, W, b, "ifgo", gates, c, h)
    fk.lstm_backward(dh, c0, x, h0, c0, W, "ifgo", gates, c, h, dgates, dx, dh0, dc0, dW, db)
    return gates, c, h, dgates, dx, dh0, dc0, dW, db


def _lstm_run(rng, dtype):
    """LSTM forward and backward whose step passes split by rows: 100 rows (the chunks
    end off the 16-row grid), inputs up to +-60 so gates saturate; whose whole-sequence
    products run in several uneven parts (4H = 280 columns in 4 column parts, 5,000
    rows in 4 row parts); and an inference pass of several row blocks; returns every
    output."""
    train = (_lstm_train(rng, dtype, 3, 100, 5, 7) + _lstm_train(rng, dtype, 2, 40, 3, 70)
             + _lstm_train(rng, dtype, 5, 1000, 3, 2))
    steps, d, hid = 3, 5, 7
    draw = lambda *shape: (rng.standard_normal(shape) * 20).astype(dtype)  # noqa: E731
    W, b = draw(d + hid, 4 * hid) / 20, draw(4 * hid)
    # the inference pass spreads blocks of rows over the threads: 6,000 rows are
    # 4 float32 / 6 float64 blocks at these sizes
    n = 6000
    xi, h0i, c0i = draw(steps, n, d), draw(n, hid), draw(n, hid)
    work = np.empty((n, 5 * hid + d), dtype)
    hi, c_n = np.empty((steps, n, hid), dtype), np.empty((n, hid), dtype)
    fk.lstm_infer(xi, h0i, c0i, W, b, "ifgo", work, hi, c_n)
    return (*train, hi, c_n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_bits_independent_of_thread_count(dtype):
    one = _elementwise_digests(dtype, 1)
    two = _elementwise_digests(dtype, 2)
    three = _elementwise_digests(dtype, 3)  # more threads than this machine's cores
    assert one == two == three
    assert _elementwise_digests(dtype, 2) == two  # and across runs


def test_elementwise_bits_same_in_a_fresh_process():
    code = ("import json, numpy as np, test_threads as t; "
            "print(json.dumps([t._elementwise_digests(np.float32, n) for n in (1, 2)]))")
    fresh = _run(code, PYTHONPATH=str(Path(__file__).parent))
    assert fresh == [_elementwise_digests(np.float32, 1), _elementwise_digests(np.float32, 2)]


FORK = """
import numpy as np, fastnet.kernels as fk
a = np.ones((600, 600))
p, g = np.ones(1 << 20), np.ones(1 << 20)
a @ a
fk.sgd_update_(p, g, 0.1, 0.0)  # both pools' workers exist before the fork


def child():
    b = a @ a
    fk.sgd_update_(p, g, 0.1, 0.0)
    return b[0, 0] == 600 and p[0] == 0.8
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_forked_child_runs_gemm_and_updates():
    """GNU OpenMP is not fork-safe: the child must not wait for the parent's pool threads."""
    assert_forked_child_passes(FORK)


# -- the gradient GEMMs side by side, and the one-thread window they run in ------------
def _openblas_threads():
    found = fblas._numpy_openblas()
    get = found[1].scipy_openblas_get_num_threads64_
    get.restype = __import__("ctypes").c_int
    return get()


numpy_openblas = pytest.mark.skipif(fblas._numpy_openblas() is None,
                                    reason="the kernels use SciPy's BLAS")


@numpy_openblas
def test_one_thread_windows_nest_and_overlap_across_threads():
    before = _openblas_threads()
    assert threads.blas_one_thread(True)
    assert threads.blas_one_thread(True)  # nested
    assert _openblas_threads() == 1
    threads.blas_one_thread(False)
    assert _openblas_threads() == 1  # the outer window is still open
    # Another thread's window opens and closes inside this one, then this one closes.
    worker = threading.Thread(target=lambda: [threads.blas_one_thread(True),
                                              threads.blas_one_thread(False)])
    worker.start()
    worker.join()
    assert _openblas_threads() == 1
    threads.blas_one_thread(False)
    assert _openblas_threads() == before


def _affine_backward(dtype, pair_max, shape):
    n, d, m = shape
    rng = np.random.default_rng(5)
    x, W = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, m)).astype(dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    dx, dW, db = np.empty((n, d), dtype), np.empty((d, m), dtype), np.empty(m, dtype)
    old = threads.set_pairing(pair_max)
    try:
        fk.affine_backward(dout, x, W, dx, dW, db, 0.01)
    finally:
        threads.set_pairing(old)
    return dx, dW, db, (x, W, dout)


@pool_shared
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(100, 100, 100), (100, 784, 100), (7, 33, 5)])
def test_paired_gradient_gemms_equal_one_after_the_other(dtype, shape, one_blas_thread):
    # With OpenBLAS on one thread either way, side by side is the same arithmetic.
    paired = _affine_backward(dtype, 1 << 40, shape)
    alone = _affine_backward(dtype, 0, shape)
    for a, b in zip(paired[:3], alone[:3]):
        np.testing.assert_array_equal(a, b, strict=True)
    x, W, dout = paired[3]
    np.testing.assert_allclose(paired[0], dout @ W.T, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(paired[1], x.T @ dout + 0.01 * W,
                               rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-3 if dtype == np.float32 else 1e-11)


@pool_shared
def test_pairing_leaves_openblas_threads_as_they_were():
    before = _openblas_threads()
    _affine_backward(np.float32, 1 << 40, (100, 100, 100))
    assert _openblas_threads() == before


def test_set_pairing_checks_and_returns_the_previous_bound():
    old = threads.set_pairing(12345)
    try:
        assert threads.set_pairing() == 12345
        with pytest.raises(ValueError, match="max_work"):
            threads.set_pairing(-1)
    finally:
        threads.set_pairing(old)
    assert threads.set_pairing() == old == threads.PAIR_MAX


@contextlib.contextmanager
def _row_split(on):
    """The row split on (its default range) or off within the block."""
    old = threads.set_row_split(*((threads.SPLIT_MIN, threads.SPLIT_MAX) if on else (0, 0)))
    try:
        yield
    finally:
        threads.set_row_split(*old)


def _affine_forward(dtype, x, W, b, activation, split):
    """``fk.affine_forward`` with the row split on (the default range) or off."""
    out, preact = np.empty((x.shape[0], W.shape[1]), dtype), np.empty((x.shape[0], W.shape[1]), dtype)
    with _row_split(split):
        fk.affine_forward(x, W, b, out, activation_code(activation), 0.0, preact)
    return out, preact


@pool_shared
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(100, 784, 100), (100, 100, 100), (33, 784, 64)])
@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_split_forward_is_its_row_blocks(dtype, shape, activation, one_blas_thread):
    # Each thread multiplies its block of rows on one BLAS thread and applies the bias and
    # activation to it: bit for bit the layer run on each block alone (OpenBLAS on one thread).
    n, d, m = shape
    assert threads.SPLIT_MIN <= n * d * m <= threads.SPLIT_MAX
    rng = np.random.default_rng(11)
    x, W = rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    out, preact = _affine_forward(dtype, x, W, b, activation, split=True)
    blocks = min(threads.max_threads(), n // 16)
    if blocks < 2:
        pytest.skip("one thread: nothing is split")
    for k in range(blocks):
        rows = slice(n * k // blocks, n * (k + 1) // blocks)
        alone = _affine_forward(dtype, np.ascontiguousarray(x[rows]), W, b, activation, split=False)
        np.testing.assert_array_equal(out[rows], alone[0], strict=True)
        np.testing.assert_array_equal(preact[rows], alone[1], strict=True)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(preact, x @ W + b, **tol)
    whole = _affine_forward(dtype, x, W, b, activation, split=False)
    np.testing.assert_allclose(out, whole[0], **tol)
    again = _affine_forward(dtype, x, W, b, activation, split=True)
    assert _digest(*again) == _digest(out, preact)


@pytest.mark.parametrize("shape", [(8, 256, 256), (31, 784, 64), (100, 32, 200)])
def test_forward_too_narrow_to_split_is_computed_whole(shape):
    # In the split's range of n * d * m, but under 32 rows or 64 inputs: one product.
    n, d, m = shape
    assert threads.SPLIT_MIN <= n * d * m <= threads.SPLIT_MAX
    rng = np.random.default_rng(12)
    x, W = rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((d, m)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    on = _affine_forward(np.float32, x, W, b, "elu", split=True)
    off = _affine_forward(np.float32, x, W, b, "elu", split=False)
    assert _digest(*on) == _digest(*off)
    np.testing.assert_allclose(on[1], x @ W + b, rtol=1e-4, atol=1e-3)


@pool_shared
def test_split_forward_leaves_openblas_threads_as_they_were():
    before = _openblas_threads()
    x = np.ones((100, 784), np.float32)
    _affine_forward(np.float32, x, np.ones((784, 100), np.float32), np.zeros(100, np.float32),
                    "relu", split=True)
    assert _openblas_threads() == before


def test_set_row_split_checks_and_returns_the_previous_range():
    old = threads.set_row_split(1000, 2000)
    try:
        assert threads.set_row_split() == (1000, 2000)
        for bad in ({"min_work": -1}, {"max_work": -5}):
            with pytest.raises(ValueError, match=next(iter(bad))):
                threads.set_row_split(**bad)
        assert threads.set_row_split(None, 0) == (1000, 2000)
        assert fastnet.build_info()["forward_split_range"] is None
    finally:
        threads.set_row_split(*old)
    assert threads.set_row_split() == old == (threads.SPLIT_MIN, threads.SPLIT_MAX)
    assert fastnet.build_info()["forward_split_range"] == (
        old if threads.pairs_gradient_gemms() else None)


@pool_shared
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_net_step_is_the_same_math_with_the_split(dtype):
    # The compiled step and predict go through the split core; on or off, a net's
    # loss, gradients and outputs agree to the dtype's rounding.
    from fastnet import MultiLayerNet
    rng = np.random.default_rng(13)
    x = rng.random((100, 784)).astype(dtype)
    t = rng.integers(0, 10, 100)
    results = {}
    for split in (True, False):
        with _row_split(split):
            net = MultiLayerNet(784, [100, 100], 10, activation="tanh", seed=3, dtype=dtype)
            grads = net.gradient(x, t)
            results[split] = (net.last_loss, {k: g.copy() for k, g in grads.items()},
                              net.predict(x))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    (loss_on, grads_on, out_on), (loss_off, grads_off, out_off) = results[True], results[False]
    np.testing.assert_allclose(loss_on, loss_off, **tol)
    assert grads_on.keys() == grads_off.keys()
    for key in grads_on:
        np.testing.assert_allclose(grads_on[key], grads_off[key], err_msg=key, **tol)
    np.testing.assert_allclose(out_on, out_off, **tol)


_SPLIT_STEP = """
import hashlib
import json
import numpy as np
from fastnet import MultiLayerNet
from fastnet._kernels import threads
rng = np.random.default_rng(17)
x = rng.random((100, 784)).astype(np.float32)
t = rng.integers(0, 10, 100)
net = MultiLayerNet(784, [100, 100], 10, seed=5)
grads = net.gradient(x, t)
h = hashlib.sha256()
for a in (*grads.values(), net.predict(x)):
    h.update(np.ascontiguousarray(a).tobytes())
result = [h.hexdigest(), threads.forward_split_range() is not None]
"""


@pool_shared
def test_a_split_net_step_has_the_same_bits_in_a_fresh_process():
    # With the same thread count a step is deterministic, split products included.
    here = {}
    exec(_SPLIT_STEP, here)
    fresh = _run(_SPLIT_STEP + "print(json.dumps(result))")
    assert fresh[1], "the fresh process should split net T's first layer"
    assert here["result"] == fresh


_STATS_PAIRS = """
import json
import numpy as np
from fastnet import MultiLayerNetExtend
from fastnet._kernels.program import STATS_WITH_NEXT
rng = np.random.default_rng(3)
x, t = rng.random((64, 30)).astype(np.float32), rng.integers(0, 5, 64)
fast, slow = (MultiLayerNetExtend(30, [40, 40], 5, seed=1) for _ in range(2))
slow._use_program = False
for net in (fast, slow):
    net.record_stats()
    for _ in range(2):
        net.gradient(x, t)
paired = any(code == STATS_WITH_NEXT for step in fast._programs.values()
             for _, code in step.program.kinds())
same = all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k]
           for i in fast.stats() for s in ("activations", "gradients")
           for a, b in [(fast.stats()[i][s], slow.stats()[i][s])] for k in a)
print(json.dumps([paired, same]))
"""


@pool_shared
@pytest.mark.parametrize("env", [{}, {"OMP_THREAD_LIMIT": "1"}, {"OMP_DYNAMIC": "true"}])
def test_statistics_pairs_run_both_ops_on_whatever_threads_openmp_gives(env):
    # A pair's region asks for two threads; given one (a thread limit, dynamic
    # threads), that thread runs both ops: the statistics stay the per-layer path's.
    assert _run(_STATS_PAIRS, **env) == [True, True]
