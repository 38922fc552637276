"""Property tests of fastnet._checks: any value gives the documented result or a
TypeError/ValueError whose message starts with the argument's name; inputs are never modified."""
import math
import numbers

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastnet._checks import (
    FLOAT_DTYPES, as_input, as_labels, check_shape, float_dtype, integer, make_rng, one_of,
    real_scalar,
)
from fuzzing import fuzz

# Anything a caller might pass where a number, a name or a dtype is expected.
anything = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-10**500, 10**500),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from([np.float16, np.float32, np.float64, np.int32, "float32", "f8", "bogus",
                     complex, object, np.dtype("f4"), np.bool_, np.float32(2.5), np.int64(-3),
                     np.nan, [1.0], (2,), {"a": 1}, b"f4", 1 + 2j]),
)


def _raises_naming(exc_info, name):
    assert isinstance(exc_info.value, (TypeError, ValueError))
    assert str(exc_info.value).startswith(name), str(exc_info.value)


@fuzz
@given(value=anything)
def test_float_dtype(value):
    try:
        dt = float_dtype(value, "the_dtype")
    except TypeError as exc:
        assert str(exc).startswith("the_dtype must be float32 or float64")
        return
    assert value is not None and dt in FLOAT_DTYPES and np.dtype(value) == dt


@fuzz
@given(value=anything, low=st.sampled_from([None, -1.0, 0.0, 2.0]),
       high=st.sampled_from([None, 0.0, 1.0, 1e300]), low_open=st.booleans(),
       high_open=st.booleans())
def test_real_scalar(value, low, high, low_open, high_open):
    try:
        v = real_scalar("lr", value, low, high, low_open, high_open)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith("lr must be"), str(exc)
        assert len(str(exc)) < 200
        return
    assert type(v) is float and math.isfinite(v) and v == float(value)
    assert isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    assert low is None or v > low or (v == low and not low_open)
    assert high is None or v < high or (v == high and not high_open)


@fuzz
@given(value=anything, low=st.sampled_from([None, 0, 1, 5]))
def test_integer(value, low):
    try:
        v = integer("count", value, low)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith("count must be"), str(exc)
        return
    assert type(v) is int and v == value and (low is None or v >= low)


@fuzz
@given(value=anything)
def test_one_of(value):
    choices = {"sgd", "adam", 3}
    try:
        assert one_of("optimizer", value, choices) is value
    except ValueError as exc:
        assert str(exc).startswith("optimizer must be one of"), str(exc)
        return
    assert value in choices


@fuzz
@given(value=anything)
def test_make_rng(value):
    try:
        g = make_rng(value)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith("seed must be"), str(exc)
        return
    assert isinstance(g, np.random.Generator)


_any_dtype = st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.int64, np.uint8,
                              np.bool_, np.complex64, object])


@st.composite
def _arrays_in_any_layout(draw):
    dtype = draw(_any_dtype)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if dtype is object:
        base = np.empty(shape, object)
        base[...] = 1.5
    else:
        base = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["c", "fortran", "reversed", "strided", "readonly"]))
    if layout == "fortran":
        base = np.asfortranarray(base)
    elif layout == "reversed" and base.ndim:
        base = base[::-1]
    elif layout == "strided" and base.ndim:
        base = np.repeat(base, 2, axis=0)[::2]
    elif layout == "readonly":
        base.flags.writeable = False
    return base


@fuzz
@given(x=_arrays_in_any_layout(), target=st.sampled_from([np.float32, np.float64]))
def test_as_input(x, target):
    target = np.dtype(target)
    before = x.copy()
    try:
        out = as_input("x", x, target)
    except TypeError as exc:
        assert str(exc).startswith("x has dtype"), str(exc)
        assert x.dtype.kind not in "biu" and x.dtype != target
        return
    finally:
        np.testing.assert_array_equal(x, before)
    assert out.dtype == target and out.flags.c_contiguous and out.shape == x.shape
    assert x.dtype.kind in "biu" or x.dtype == target
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, x.astype(target))


@fuzz
@given(x=_arrays_in_any_layout(),
       shape=st.lists(st.one_of(st.none(), st.integers(0, 5)), max_size=3).map(tuple))
def test_check_shape(x, shape):
    try:
        check_shape("W", x, shape)
    except ValueError as exc:
        assert str(exc).startswith("W must have shape"), str(exc)
        assert x.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, x.shape))
        return
    assert x.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, x.shape))


@fuzz
@given(t=_arrays_in_any_layout(), n=st.integers(0, 5), c=st.integers(0, 5),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_as_labels(t, n, c, dtype):
    before = t.copy()
    try:
        out = as_labels("t", t, n, c, np.dtype(dtype))
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith("t"), str(exc)
        return
    finally:
        np.testing.assert_array_equal(t, before)
    assert c >= 1 and out.flags.c_contiguous
    if out.ndim == 1:
        assert out.dtype == np.int64 and out.shape == (n,)
        assert n == 0 or (out.min() >= 0 and out.max() < c)
        np.testing.assert_array_equal(out, t)
    else:
        assert out.dtype == dtype and out.shape == (n, c) and np.isfinite(out).all()
        np.testing.assert_array_equal(out, t.astype(dtype))
