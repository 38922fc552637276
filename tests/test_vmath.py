"""Accuracy of the vectorisable exp/tanh/sqrt (csrc/_vmath.pxd) in ulps, against a wider reference.

Reference values are computed in a wider type (float64 for float32 results,
NumPy's long double for float64 where it is wider than double) and the error
is counted in units of the last place of the result's dtype (for subnormal
results, of the smallest subnormal). Runs on the SIMD variant in use
(tests/test_simd.py runs it on every variant).
"""
import numpy as np
import pytest

import fastnet._kernels.vmath as vm

WIDE = np.longdouble if np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant else None
# max ulps allowed, by function and dtype (the claims in _vmath.pxd)
MAX_ULPS = {("exp", np.float32): 1.5, ("exp", np.float64): 1.5,
            ("tanh", np.float32): 2, ("tanh", np.float64): 2,
            ("sqrt", np.float32): 0.5, ("sqrt", np.float64): 0.5}
RANGES = {
    # beyond both ends: overflow to inf and underflow through the subnormals to 0
    "exp": {np.float32: (-110.0, 95.0), np.float64: (-760.0, 720.0)},
    "tanh": {np.float32: (-20.0, 20.0), np.float64: (-40.0, 40.0)},
    "sqrt": {np.float32: (0.0, 1e30), np.float64: (0.0, 1e300)},
}


def _inputs(name, dtype):
    lo, hi = RANGES[name][dtype]
    rng = np.random.default_rng(0)
    dense = np.linspace(lo, hi, 400_001)
    spread = rng.uniform(lo, hi, 200_000)
    small = np.concatenate([-np.logspace(-40, 0.5, 20_000), np.logspace(-40, 0.5, 20_000)])
    x = np.concatenate([dense, spread, small]).astype(dtype)
    if name == "sqrt":
        x = np.abs(x)
    return x


def _reference(name, x):
    wide = WIDE if (x.dtype == np.float64 and WIDE is not None) else np.float64
    return getattr(np, name)(x.astype(wide))


def _ulps(got, ref, dtype):
    finfo = np.finfo(dtype)
    rounded = ref.astype(dtype)
    unit = np.maximum(np.spacing(np.abs(rounded)), finfo.smallest_subnormal).astype(ref.dtype)
    err = np.abs(got.astype(ref.dtype) - ref)
    both_inf = np.isinf(got) & np.isinf(rounded) & (np.sign(got) == np.sign(rounded))
    return np.where(both_inf, 0, err / unit)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "tanh", "sqrt"])
def test_ulps_against_wider_reference(name, dtype):
    x = _inputs(name, dtype)
    out = np.empty_like(x)
    getattr(vm, name)(x, out)
    ref = _reference(name, x)
    with np.errstate(over="ignore", invalid="ignore"):
        ulps = _ulps(out, ref, dtype)
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= MAX_ULPS[(name, dtype)], (
        f"{name}({x[worst]!r}) = {out[worst]!r}, reference {ref[worst]!r}: {ulps[worst]:.2f} ulps")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    finfo = np.finfo(dtype)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, finfo.max, -finfo.max,
                  finfo.smallest_subnormal], dtype)
    out = np.empty_like(x)
    vm.exp(x, out)
    np.testing.assert_array_equal(out, np.array([np.nan, np.inf, 0, 1, 1, np.inf, 0, 1], dtype))
    vm.tanh(x, out)
    np.testing.assert_array_equal(
        out, np.array([np.nan, 1, -1, 0, -0.0, 1, -1, finfo.smallest_subnormal], dtype))
    assert np.signbit(out[4])  # tanh(-0) = -0
    with np.errstate(invalid="ignore"):
        vm.sqrt(np.array([-1.0, np.inf, 0.0], dtype), out[:3])
    np.testing.assert_array_equal(out[:3], np.array([np.nan, np.inf, 0], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_limits(dtype):
    """The last finite result, the first overflow, and the tail of the subnormals."""
    finfo = np.finfo(dtype)
    ln_max = np.log(np.float64(finfo.max)) if dtype == np.float32 else np.log(finfo.max)
    x = np.array([np.nextafter(dtype(ln_max), dtype(0)), np.nextafter(dtype(ln_max), dtype(np.inf)),
                  np.log(np.float64(finfo.smallest_subnormal)) + 0.2,
                  np.log(np.float64(finfo.smallest_subnormal)) - 1], dtype)
    out = np.empty_like(x)
    vm.exp(x, out)
    assert np.isfinite(out[0]) and out[0] > finfo.max / 2
    assert out[1] == np.inf
    assert out[2] == finfo.smallest_subnormal
    assert out[3] == 0
