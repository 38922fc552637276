"""Hypothesis settings and strategies shared by the property tests (tests/test_fuzz_*.py).

Every property test carries the ``fuzz`` marker and the settings :data:`FUZZ`:
a few examples each in the default ``pytest`` run, and >= 2,000 each with
``FASTNET_FUZZ=1`` (the profile ``fastnet-fuzz``), which CI runs as
``FASTNET_FUZZ=1 pytest -m fuzz``. No deadline: the machine is shared, and a
test must never pass or fail on speed.

``fastnet-fuzz`` is derandomized: every run draws the same 2,000 examples per
test, so CI's verdict depends on the code, not on the run's luck. To look
for new failures, ``FASTNET_FUZZ=explore`` draws fresh examples each run (it
found the subnormal softmax gradient and the overflowing orthogonal gain
that tests/numerics.py and tests/test_fuzz_init.py now allow for).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_COMMON = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
settings.register_profile("fastnet-quick", max_examples=12, **_COMMON)
settings.register_profile("fastnet-fuzz", max_examples=2000, derandomize=True, **_COMMON)
settings.register_profile("fastnet-explore", max_examples=2000, **_COMMON)
_MODE = os.environ.get("FASTNET_FUZZ", "")
PROFILE = ("fastnet-quick" if _MODE in ("", "0") else
           "fastnet-explore" if _MODE == "explore" else "fastnet-fuzz")
FUZZ = settings.get_profile(PROFILE)


def fuzz(test):
    """Mark a ``@given`` test as a property test and apply the profile's settings."""
    return pytest.mark.fuzz(FUZZ(test))


dtypes = st.sampled_from([np.float32, np.float64])
# Sizes: mostly tiny (0 and 1 included), sometimes a few blocks' worth.
sizes = st.one_of(st.integers(0, 4), st.integers(5, 40), st.sampled_from([255, 256, 257]))
positive_sizes = st.one_of(st.integers(1, 4), st.integers(5, 40), st.sampled_from([256, 257]))


@st.composite
def real_arrays(draw, dtype, shape, max_exp=None):
    """Finite arrays of ``dtype``: a seeded NumPy draw in a style hypothesis picks.

    Styles: Gaussian at a scale ``10^e`` (``|e| <= max_exp``, default 6 for
    float32 and 30 for float64), small integers (ties and exact zeros),
    a constant, and Gaussian with a large offset (cancellation).
    """
    if max_exp is None:
        max_exp = 6 if np.dtype(dtype) == np.float32 else 30
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    style = draw(st.sampled_from(["normal", "integers", "constant", "offset"]))
    scale = 10.0 ** draw(st.integers(-max_exp, max_exp))
    if style == "normal":
        x = rng.standard_normal(shape) * scale
    elif style == "integers":
        x = rng.integers(-3, 4, shape).astype(np.float64)
    elif style == "constant":
        x = np.full(shape, draw(st.sampled_from([0.0, 1.0, -2.5])) * scale)
    else:
        x = rng.standard_normal(shape) * scale + scale * 1e3
    return np.array(x, dtype=dtype)  # an ndarray even for shape ()


def frozen(*arrays):
    """Copies of ``arrays`` to check later that a call did not modify them."""
    return [a.copy() for a in arrays]


def assert_unchanged(originals, arrays, what="input"):
    for before, after in zip(originals, arrays):
        np.testing.assert_array_equal(after, before, err_msg=f"{what} was modified")
