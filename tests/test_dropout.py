"""Dropout: kernels vs reference, seeded determinism, statistics of each mode, bad input."""
import numpy as np
import pytest

import fastnet.kernels as fk
import fastnet.reference as ref
from numerics import DTYPES
from fastnet.layers import Dropout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 10000])
@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_kernels_match_reference(rng, dtype, size, scale):
    x = rng.standard_normal(size).astype(dtype)
    u = rng.random(size).astype(dtype)
    results = []
    for ops in (fk, ref):
        mask, out = u.copy(), np.empty_like(x)
        ops.dropout_forward_(x, mask, 0.3, scale, out)
        dx = np.empty_like(x)
        ops.dropout_backward(x, mask, dx)
        inf = np.empty_like(x)
        ops.dropout_scale(x, 0.7, inf)
        results.append((mask, out, dx, inf))
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)
    mask = results[0][0]
    np.testing.assert_array_equal(mask, np.where(u > 0.3, dtype(scale), 0))


@pytest.mark.parametrize("mode", ["textbook", "inverted"])
def test_same_seed_same_mask(mode):
    x = np.ones((50, 40), np.float32)
    a = Dropout(0.4, mode, rng=7).forward(x)
    b = Dropout(0.4, mode, rng=np.random.default_rng(7)).forward(x)
    c = Dropout(0.4, mode, rng=8).forward(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("mode", ["textbook", "inverted"])
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_statistics(mode, ratio, backend):
    n = 200_000
    layer = Dropout(ratio, mode, rng=3, backend=backend)
    x = np.full((n // 100, 100), 2.0)
    out = layer.forward(x, train_flg=True)
    kept = np.count_nonzero(out) / n
    # Binomial(n, 1 - ratio): 5 standard deviations.
    sd = np.sqrt(ratio * (1 - ratio) / n)
    assert abs(kept - (1 - ratio)) <= 5 * sd + 1e-12
    scale = 1.0 if mode == "textbook" else 1 / (1 - ratio)
    assert set(np.unique(out)) <= {0.0, 2.0 * scale}
    inference = layer.forward(x, train_flg=False)
    # The training output's mean equals the inference output (both modes), within 5 sd.
    assert abs(out.mean() - inference.mean()) <= 5 * 2.0 * scale * sd + 1e-12
    expected_inference = 2.0 * (1 - ratio) if mode == "textbook" else 2.0
    np.testing.assert_allclose(inference, expected_inference)
    # backward passes the mask (training) or the inference scale
    layer.forward(x, train_flg=True)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), layer.mask)


def test_inference_is_deterministic_and_leaves_rng_alone():
    layer = Dropout(0.5, rng=1)
    x = np.arange(12.0).reshape(3, 4)
    state = layer.rng.bit_generator.state
    a, b = layer.forward(x, train_flg=False), layer.forward(x, train_flg=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, x * 0.5)
    assert layer.rng.bit_generator.state == state
    np.testing.assert_array_equal(layer.backward(np.ones((3, 4))), 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved(dtype):
    layer = Dropout(0.5, "inverted", rng=0)
    out = layer.forward(np.ones((4, 5), dtype))
    assert out.dtype == dtype and layer.mask.dtype == dtype
    assert layer.backward(np.ones((4, 5), dtype)).dtype == dtype


class TestBadInput:
    @pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan")])
    def test_ratio_out_of_range(self, ratio):
        with pytest.raises(ValueError, match="dropout_ratio"):
            Dropout(ratio)

    def test_bad_mode_and_rng(self):
        with pytest.raises(ValueError, match="mode"):
            Dropout(0.5, mode="gaussian")
        with pytest.raises(TypeError, match="seed"):
            Dropout(0.5, rng="abc")

    def test_bad_dtypes_and_shapes(self):
        with pytest.raises(TypeError, match="x.dtype"):
            Dropout(0.5).forward(np.ones(3, int))
        layer = Dropout(0.5, rng=0)
        layer.forward(np.ones((2, 3)))
        with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\)"):
            layer.backward(np.ones((3, 2)))
        with pytest.raises(RuntimeError):
            Dropout(0.5).backward(np.ones(3))


def test_inverted_inference_returns_a_new_array():
    x = np.arange(6.0).reshape(2, 3)
    y = Dropout(0.3, mode="inverted", rng=0).forward(x, train_flg=False)
    assert y is not x and not np.shares_memory(x, y)
    np.testing.assert_array_equal(y, x)
