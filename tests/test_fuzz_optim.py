"""Property tests of fastnet.optim: optimizers (both conventions, both backends) and
schedules. Any settings give an optimizer or a TypeError/ValueError naming the setting;
any params/grads give the reference backend's update or an error that names the entry
and leaves every array (and the optimizer's state) as it was; grads are never modified."""
import copy
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fastnet.optim import (
    CosineDecay, ExponentialDecay, LinearWarmup, LRScheduler, OPTIMIZERS, SGD, StepDecay,
)
from fuzzing import fuzz, real_arrays
from numerics import unit_roundoff

_numbers = st.one_of(st.floats(-2, 2), st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([10**400, 0, 1, True, "0.1", None, np.float32(0.5)]))
_SETTINGS = {"lr": _numbers, "momentum": _numbers, "decay_rate": _numbers, "beta1": _numbers,
             "beta2": _numbers, "eps": _numbers, "weight_decay": _numbers,
             "convention": st.sampled_from(["textbook", "torch", "keras", None]),
             "backend": st.sampled_from(["compiled", "reference", "gpu"])}


@fuzz
@given(data=st.data(), name=st.sampled_from(sorted(OPTIMIZERS)))
def test_settings(data, name):
    cls = OPTIMIZERS[name]
    allowed = set(cls._hyperparameters) | {"convention", "backend"}
    kwargs = {k: data.draw(v) for k, v in _SETTINGS.items() if k in allowed and data.draw(st.booleans())}
    try:
        opt = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(tuple(kwargs)), str(exc)
        return
    hyper = opt.hyperparameters()
    for k, v in kwargs.items():
        if k in hyper and v is not None:
            assert hyper[k] == float(v) if k != "convention" else hyper[k] == v
    # a checkpoint round-trips through a fresh optimizer
    fresh = cls()
    fresh.load_state_dict(opt.state_dict())
    assert fresh.hyperparameters() == hyper


@st.composite
def _entry(draw, good_dtype):
    """An array that is usually a valid parameter or gradient, sometimes not."""
    shape = draw(st.sampled_from([(3, 2), (3, 2), (0,), (1,), (5,), ()]))
    kind = draw(st.sampled_from(["good"] * 6 + ["dtype", "fortran", "reversed", "readonly",
                                                "shape", "scalar", "list"]))
    x = draw(real_arrays(good_dtype, shape, 2))
    if kind == "dtype":
        with np.errstate(over="ignore", invalid="ignore"):  # float16 / int of large values
            x = x.astype(draw(st.sampled_from([np.float16, np.int64, np.complex128, np.float32
                                               if good_dtype == np.float64 else np.float64])))
    elif kind == "fortran" and x.ndim == 2:
        x = np.asfortranarray(x)  # (3, 2): not C-contiguous
    elif kind == "reversed" and x.ndim:
        x = x[::-1]
    elif kind == "readonly":
        x.flags.writeable = False
    elif kind == "shape":
        x = np.zeros(x.shape + (2,), x.dtype)
    elif kind == "scalar":
        x = float(x.ravel()[0]) if x.size else 1.0
    elif kind == "list":
        x = x.tolist()
    return x


@fuzz
@given(data=st.data(), name=st.sampled_from(sorted(OPTIMIZERS)),
       convention=st.sampled_from(["textbook", "torch"]), dtype=st.sampled_from([np.float32, np.float64]),
       lr=st.sampled_from([0.0, 1e-3, 0.1]), wd=st.sampled_from([0.0, 0.01]))
def test_update(data, name, convention, dtype, lr, wd):
    cls = OPTIMIZERS[name]
    opts = [cls(lr=lr, weight_decay=wd, convention=convention, backend=b)
            for b in ("compiled", "reference")]
    keys = data.draw(st.lists(st.sampled_from(["W1", "b1", "W2"]), min_size=1, max_size=3, unique=True))
    params = {k: data.draw(_entry(dtype)) for k in keys}
    grads = {k: data.draw(_entry(dtype)) for k in keys}
    if data.draw(st.booleans()):  # keys that differ
        grads.pop(keys[0])
        grads["extra"] = np.zeros(2, dtype)
    for step in range(2):
        runs = []
        for opt in opts:
            p = {k: (v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v))
                 for k, v in params.items()}
            for k, v in params.items():  # keep read-only flags as the caller had them
                if isinstance(v, np.ndarray) and not v.flags.writeable:
                    p[k].flags.writeable = False
            p_before = {k: copy.deepcopy(v) for k, v in p.items()}
            g_before = copy.deepcopy(grads)
            state_before = copy.deepcopy(opt.state)
            try:
                opt.update(p, grads)
            except (TypeError, ValueError) as exc:
                msg = str(exc)
                assert msg.startswith(("params", "grads")), msg
                for k in p:  # nothing changed: everything is checked first
                    np.testing.assert_array_equal(np.asarray(p[k]), np.asarray(p_before[k]))
                assert opt.state.keys() == state_before.keys()
                runs.append(type(exc))
            else:
                runs.append(p)
            for k in grads:
                np.testing.assert_array_equal(np.asarray(grads[k]), np.asarray(g_before[k]))
        if not isinstance(runs[0], dict) or not isinstance(runs[1], dict):
            assert runs[0] == runs[1], "the backends disagree on whether the input is valid"
            return
        u = unit_roundoff(dtype)
        for k in params:
            got, want = np.asarray(runs[0][k], np.float64), np.asarray(runs[1][k], np.float64)
            old = np.asarray(params[k], np.float64)
            # one element-wise step of at most lr * 10 per element (Adam/RMSprop/AdaGrad
            # normalise the gradient), each backend a few roundings of these sizes
            bound = 64 * u * (np.abs(old) + np.abs(want) + 10 * lr + 1e-30)
            assert np.all(np.abs(got - want) <= bound), (k, got, want)
        # The next step updates copies of these: each optimizer's parameters from this
        # step must be gone by then (it refuses other arrays while those live).
        params = copy.deepcopy(runs[1])


# -- schedules --------------------------------------------------------------------------

_small = st.one_of(st.integers(-2, 300), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([None, "5", 2.5, 10**400]))
_factor = st.one_of(st.floats(0, 3), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([10**400, -1, "0.5", None]))
_schedules = st.one_of(
    st.builds(StepDecay, _small, _factor), st.builds(ExponentialDecay, _factor),
    st.builds(CosineDecay, _small, _factor, _small), st.builds(LinearWarmup, _small, _factor),
)


@fuzz
@given(data=st.data(), n=st.integers(1, 3), t=st.one_of(st.integers(0, 100), st.integers(0, 10**7)),
       lr=st.floats(0, 1e3))
def test_schedules(data, n, t, lr):
    try:
        parts = [data.draw(_schedules) for _ in range(n)]
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(("step_size", "gamma", "total", "min_factor", "delay", "steps",
                                    "start_factor")), str(exc)
        return
    sched = parts[0]
    for p in parts[1:]:
        sched = sched * p
    f = sched(t)
    assert isinstance(f, float) and 0 <= f <= sys.float_info.max
    opt = SGD(lr=lr)
    s = LRScheduler(opt, sched)
    s.load_state_dict({"base_lr": lr, "t": t})
    assert 0 <= s.step() <= sys.float_info.max  # never an OverflowError, inf or NaN


@fuzz
@given(state=st.one_of(st.none(), st.integers(), st.dictionaries(
    st.sampled_from(["base_lr", "t", "x"]), st.one_of(st.integers(-3, 10), st.floats(), st.text(max_size=2)))))
def test_scheduler_load_state_dict(state):
    opt = SGD(lr=0.1)
    s = LRScheduler(opt, ExponentialDecay(0.5))
    try:
        s.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(("state must be", "base_lr", "t must")), str(exc)
        assert (s.base_lr, s.t, opt.lr) == (0.1, 0, 0.1)
        return
    assert s.base_lr == float(state["base_lr"]) and s.t == state["t"]


_leaf = st.one_of(st.integers(-1, 3), st.none(), st.just(np.zeros(2)), st.just(np.zeros(2, np.int8)))
_per_param = st.dictionaries(st.sampled_from(["step", "m", "v", "h", "velocity"]), _leaf)
_inner = st.dictionaries(st.sampled_from(["W", "lr", "step"]), st.one_of(_leaf, _per_param))
_state_dicts = st.one_of(st.none(), st.integers(), st.dictionaries(
    st.sampled_from(["optimizer", "hyperparameters", "state"]),
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.sampled_from(sorted(OPTIMIZERS)),
              _inner)))


@fuzz
@given(name=st.sampled_from(sorted(OPTIMIZERS)), state=_state_dicts)
def test_optimizer_load_state_dict(name, state):
    opt = OPTIMIZERS[name]()
    before = opt.state_dict()
    try:
        opt.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(("state_dict", "state[", "lr", "step")), str(exc)
        after = opt.state_dict()
        assert after["hyperparameters"] == before["hyperparameters"] and after["state"] == {}
