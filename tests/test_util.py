"""fastnet.util: the textbook's smooth_curve and shuffle_dataset."""
import numpy as np
import pytest

from fastnet.util import shuffle_dataset, smooth_curve


def _windowed_average(x, window_len=11, beta=2):
    """The textbook's smoothing written as an explicit weighted moving average.

    Point i averages x[i-h .. i+h] (h = window_len // 2) with Kaiser weights.
    Beyond the start the curve is mirrored without repeating x[0] (numpy's
    'reflect'); beyond the end it is mirrored repeating x[-1] ('symmetric'):
    that is how the textbook's ``np.r_[x[w-1:0:-1], x, x[-1:-w:-1]]`` pads.
    """
    h = window_len // 2
    padded = np.concatenate([np.pad(x, (h, 0), mode="reflect")[:h], x,
                             np.pad(x, (0, h), mode="symmetric")[-h:]])
    w = np.kaiser(window_len, beta)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window_len)
    return windows @ (w / w.sum())


@pytest.mark.parametrize("n", [11, 12, 50, 2000])
def test_smooth_curve_is_the_kaiser_moving_average(rng, n):
    x = rng.standard_normal(n).cumsum()
    y = smooth_curve(x)
    assert y.shape == (n,) and y.dtype == np.float64
    np.testing.assert_allclose(y, _windowed_average(x), rtol=1e-12, atol=1e-12)


def test_smooth_curve_other_windows(rng):
    x = rng.random(40)
    np.testing.assert_allclose(smooth_curve(x, window_len=5, beta=0), _windowed_average(x, 5, 0),
                               rtol=1e-12)
    np.testing.assert_array_equal(smooth_curve(x, window_len=1), x)


def test_smooth_curve_keeps_constants_and_lines():
    np.testing.assert_allclose(smooth_curve(np.full(30, 2.5)), 2.5, rtol=1e-14)
    line = np.arange(30.0)
    # a symmetric window leaves a straight line unchanged away from the ends
    np.testing.assert_allclose(smooth_curve(line)[5:-5], line[5:-5], rtol=1e-13)


def test_smooth_curve_short_curve_unchanged():
    x = [3.0, 1.0, 2.0]
    y = smooth_curve(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x


@pytest.mark.parametrize("kwargs, error, match", [
    ({"window_len": 10}, ValueError, "window_len must be odd"),
    ({"window_len": 0}, ValueError, "window_len must be a positive integer"),
    ({"window_len": 2.0}, TypeError, "window_len must be an integer"),
    ({"beta": -1}, ValueError, "beta must be >= 0"),
])
def test_smooth_curve_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        smooth_curve(np.zeros(20), **kwargs)
    with pytest.raises(ValueError, match="1-d curve"):
        smooth_curve(np.zeros((4, 4)))


@pytest.mark.parametrize("shape", [(20, 3), (20,), (20, 1, 2, 2)])
def test_shuffle_dataset_keeps_pairs(shape):
    x = np.arange(np.prod(shape)).reshape(shape)
    t = np.arange(20)
    xs, ts = shuffle_dataset(x, t, rng=3)
    np.testing.assert_array_equal(xs, x[ts])  # sample i still carries label i
    perm = np.random.default_rng(3).permutation(20)
    np.testing.assert_array_equal(ts, perm)
    assert not np.array_equal(ts, t)
    np.testing.assert_array_equal(t, np.arange(20))  # inputs untouched


def test_shuffle_dataset_default_uses_numpy_global_state():
    state = np.random.get_state()
    try:
        np.random.seed(7)
        _, t1 = shuffle_dataset(np.zeros((15, 2)), np.arange(15))
        np.random.seed(7)
        expected = np.random.permutation(15)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(t1, expected)


def test_shuffle_dataset_generator_leaves_global_state_alone():
    state = np.random.get_state()
    shuffle_dataset(np.zeros((15, 2)), np.arange(15), rng=np.random.default_rng(0))
    after = np.random.get_state()
    assert state[1].tolist() == after[1].tolist() and state[2] == after[2]


def test_shuffle_dataset_bad_arguments():
    with pytest.raises(ValueError, match="same number of samples; got 5 and 4"):
        shuffle_dataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="sample axis"):
        shuffle_dataset(np.float64(1.0), np.zeros(1))
    with pytest.raises(TypeError, match="seed must be"):
        shuffle_dataset(np.zeros((5, 2)), np.zeros(5), rng="abc")


@pytest.mark.parametrize("x, error, match", [
    (["a", "b"], TypeError, "x must be a curve of real numbers; got dtype <U1"),  # was unnamed
    (np.ones(20, complex), TypeError, "x must be a curve of real numbers"),  # dropped imag
    (np.array([1.0, None] * 10), TypeError, "x must be a curve of real numbers"),  # None: NaN
])
def test_smooth_curve_takes_real_curves_only(x, error, match):
    with pytest.raises(error, match=match):
        smooth_curve(x)


def test_smooth_curve_takes_integers_and_lists():
    np.testing.assert_array_equal(smooth_curve([3] * 20), np.full(20, 3.0))


# -- fastnet.gradient.numerical_gradient, the textbook's checking helper ---------------------
@pytest.mark.parametrize("x, h, error, match", [
    # an integer x took x + h as x: every gradient was 0, silently
    (np.ones(3, np.int64), 1e-4, TypeError, "x.dtype must be float32 or float64"),
    ([1.0, 2.0], 1e-4, TypeError, "x must be a numpy array"),  # was an AttributeError
    (np.ones(3), 0, ValueError, "h must be > 0"),  # was a ZeroDivisionError
    (np.ones(3), float("nan"), ValueError, "h must be finite"),  # was a NaN gradient
    (np.frombuffer(np.ones(3).tobytes()), 1e-4, ValueError, "x must be writeable"),
])
def test_numerical_gradient_bad_arguments(x, h, error, match):
    from fastnet.gradient import numerical_gradient

    with pytest.raises(error, match=match):
        numerical_gradient(lambda v: float(np.sum(v * v)), x, h=h)


def test_numerical_gradient_of_a_square():
    from fastnet.gradient import numerical_gradient

    x = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v * v)), x), 2 * x,
                               rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored
