"""Property tests of fastnet.init: any factory, hyperparameters, shape, dtype and rng give
a finite C-contiguous array of that shape and dtype inside the factory's support, or a
TypeError/ValueError naming an argument; in-place twins never half-fill an array."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnet.init as fi
from fuzzing import fuzz

_numbers = st.one_of(st.floats(-1e3, 1e3), st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-10, 10), st.sampled_from([10**400, -10**400, 1e308, 0.0, True,
                                                            "0.1", None]))
_HYPER = {
    "zeros": {}, "ones": {}, "lecun_normal": {}, "lecun_uniform": {},
    "constant": {"value": _numbers},
    "normal": {"std": _numbers, "mean": _numbers},
    "uniform": {"low": _numbers, "high": _numbers},
    "xavier_normal": {"gain": _numbers}, "xavier_uniform": {"gain": _numbers},
    "orthogonal": {"gain": _numbers},
    "he_normal": {"a": _numbers, "mode": st.sampled_from(["fan_in", "fan_out", "avg", 1]),
                  "nonlinearity": st.sampled_from(["relu", "leaky_relu", "tanh", "gelu", None])},
    "trunc_normal": {"std": _numbers, "mean": _numbers, "a": _numbers, "b": _numbers},
}
_HYPER["he_uniform"] = _HYPER["he_normal"]
# words an error about each factory's arguments may start with
_NAMES = ("value", "std", "mean", "low", "high", "gain", "a ", "a (", "a must", "b ", "b must",
          "mode", "nonlinearity", "param", "uniform needs", "trunc_normal needs", "shape",
          "fan-based", "orthogonal needs", "rng", "dtype")

_shapes = st.one_of(st.lists(st.integers(1, 7), min_size=1, max_size=4).map(tuple),
                    st.sampled_from([(), (0, 3), (-1, 2), (2.5, 3), None, "3", 4, (True, 2)]))
_dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int32, None, "bogus", "f8"])
_rngs = st.one_of(st.integers(-5, 2**70), st.sampled_from([None, "seed", 1.5, True]))


@st.composite
def _factory_call(draw):
    name = draw(st.sampled_from(sorted(_HYPER)))
    # constant's value is required; everything else has a default to fall back on
    kwargs = {k: draw(v) for k, v in _HYPER[name].items() if k == "value" or draw(st.booleans())}
    return name, kwargs


def _support(name, kwargs, init):
    p = init.params
    if name == "uniform":
        return p["low"], p["high"]
    if name == "trunc_normal":
        return p["a"], p["b"]
    return None


@fuzz
@given(call=_factory_call(), shape=_shapes, dtype=_dtypes, rng=_rngs)
def test_factories(call, shape, dtype, rng):
    name, kwargs = call
    try:
        init = fi.INITIALIZERS[name](**kwargs)
        w = init(shape, rng=rng, dtype=dtype)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(_NAMES) or " drew values beyond " in str(exc), str(exc)
        return
    assert isinstance(w, np.ndarray) and w.dtype == np.dtype(dtype)
    assert w.shape == (shape if isinstance(shape, tuple) else (shape,))
    assert w.flags.c_contiguous and np.isfinite(w).all()
    support = _support(name, kwargs, init)
    if support is not None:
        lo, hi = support
        with np.errstate(over="ignore"):  # a bound beyond float32 is +-inf there
            assert w.min() >= np.dtype(dtype).type(lo) and w.max() <= np.dtype(dtype).type(hi)
    # W^T W = gain^2 I, checked where gain^2 and the products stay well inside float64
    # (CI's fuzzing drew gain = 1.34e154: gain^2 overflowed in the oracle, not in W)
    g = init.params.get("gain") if name == "orthogonal" else None
    if g is not None and w.ndim == 2 and g * g < 1e300:
        small = w if w.shape[0] >= w.shape[1] else w.T
        tol = 1e-4 if w.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(small.T.astype(np.float64) @ small, g * g * np.eye(small.shape[1]),
                                   atol=tol * max(1.0, g * g))


@fuzz
@given(call=_factory_call(), shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
       dtype=st.sampled_from([np.float32, np.float64]), layout=st.sampled_from(["c", "f", "view"]))
def test_in_place_twins_fill_everything_or_nothing(call, shape, dtype, layout):
    name, kwargs = call
    base = np.full(shape, 7.0, dtype)
    w = np.asfortranarray(base) if layout == "f" else (base[..., ::-1] if layout == "view" else base)
    before = w.copy()
    try:
        out = getattr(fi, name + "_")(w, rng=0, **kwargs)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(_NAMES) or " drew values beyond " in str(exc), str(exc)
        np.testing.assert_array_equal(w, before)  # a failed call leaves the array alone
        return
    assert out is w and np.isfinite(w).all()


@fuzz
@given(trunc=st.tuples(st.floats(-60, 60), st.floats(0.01, 30)), std=st.floats(0.01, 10),
       mean=st.floats(-10, 10))
def test_trunc_normal_stays_in_its_interval_anywhere(trunc, std, mean):
    a, width = trunc
    b = a + width
    w = fi.trunc_normal(std=std, mean=mean, a=a, b=b)((64,), rng=1, dtype=np.float64)
    assert w.min() >= a and w.max() <= b
    # the draw is not stuck at a bound unless the interval is far in a tail
    alpha, beta = (a - mean) / std, (b - mean) / std
    if -5 < alpha < 5 and beta - alpha > 1:
        assert np.unique(w).size > 32


def test_shapes_beyond_memory_are_a_memory_error_not_a_crash():
    # documented limit: an allocation of petabytes is NumPy's MemoryError
    with pytest.raises(MemoryError):
        fi.zeros()((10**8, 10**8))
