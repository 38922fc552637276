"""Learning-rate schedules: factors by hand, composition, the scheduler setting opt.lr."""
import math
import sys

import numpy as np
import pytest

from fastnet.optim import (
    Adam,
    CosineDecay,
    ExponentialDecay,
    LinearWarmup,
    LRScheduler,
    Product,
    SGD,
    StepDecay,
)


def test_step_decay():
    s = StepDecay(3, gamma=0.5)
    assert [s(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]


def test_exponential_decay():
    s = ExponentialDecay(0.9)
    assert s(0) == 1 and s(2) == pytest.approx(0.81)


def test_cosine_decay_endpoints_and_midpoint():
    s = CosineDecay(10, min_factor=0.1)
    assert s(0) == pytest.approx(1.0)
    assert s(5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s(10) == pytest.approx(0.1) and s(50) == pytest.approx(0.1)
    delayed = CosineDecay(10, delay=4)
    assert delayed(3) == 1.0 and delayed(4) == 1.0 and delayed(9) == pytest.approx(0.5)


def test_linear_warmup():
    s = LinearWarmup(4, start_factor=0.2)
    assert [s(t) for t in range(6)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.0])


def test_composition_multiplies_factors():
    s = LinearWarmup(2) * CosineDecay(8, delay=2)
    assert s(0) == 0 and s(1) == pytest.approx(0.5) and s(2) == pytest.approx(1.0)
    assert s(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))


def test_scheduler_sets_optimizer_lr():
    opt = Adam(lr=0.1)
    sched = LRScheduler(opt, StepDecay(2, gamma=0.1))
    lrs = [opt.lr] + [sched.step() for _ in range(4)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    state = sched.state_dict()
    other = LRScheduler(SGD(lr=5.0), StepDecay(2, gamma=0.1))
    other.load_state_dict(state)
    assert other.optimizer.lr == pytest.approx(0.001)


def test_warmup_from_zero_gives_lr_zero_first():
    opt = SGD(lr=1.0)
    LRScheduler(opt, LinearWarmup(3))
    assert opt.lr == 0.0


@pytest.mark.parametrize("make,name", [
    (lambda: StepDecay(0), "step_size"),
    (lambda: StepDecay(2, gamma=-1), "gamma"),
    (lambda: ExponentialDecay(float("inf")), "gamma"),
    (lambda: CosineDecay(0), "total"),
    (lambda: CosineDecay(5, delay=-1), "delay"),
    (lambda: LinearWarmup(3, start_factor=2), "start_factor"),
    (lambda: LinearWarmup(2.5), "steps"),
    (lambda: ExponentialDecay(10**400), "gamma"),
])
def test_bad_schedule_arguments(make, name):
    # a value of the wrong type (2.5 steps) is a TypeError, one out of range a ValueError
    with pytest.raises((TypeError, ValueError), match=name):
        make()


def test_scheduler_needs_a_schedule():
    with pytest.raises(TypeError, match="schedule"):
        LRScheduler(SGD(), lambda t: 1.0)


def test_scheduler_needs_an_optimizer_with_an_lr():
    # was an AttributeError ('object' object has no attribute 'lr')
    with pytest.raises(TypeError, match="optimizer must have an lr attribute"):
        LRScheduler(object(), StepDecay(2))


def test_product_of_schedules_only():
    # Product(1, 2) was accepted and failed at its first call ('int' object is not callable)
    with pytest.raises(TypeError, match=r"schedules\[1\] must be a Schedule"):
        Product(StepDecay(2), 2)


def test_growing_schedule_clamps_to_the_largest_float_and_the_math_carries_on():
    # 2.0 ** 1100 is an OverflowError in Python; the lr stops at the largest float instead.
    opt = SGD(lr=0.5)
    sched = LRScheduler(opt, ExponentialDecay(2.0))
    for _ in range(1100):
        sched.step()
    assert opt.lr == 0.5 * sys.float_info.max  # base_lr * the clamped factor
    assert StepDecay(1, gamma=3.0)(1000) == sys.float_info.max
    # then the parameters overflow on the next update, as the math says
    opt.lr = sys.float_info.max
    p, g = {"W": np.ones(3)}, {"W": np.full(3, 2.0)}
    opt.update(p, g)
    assert np.all(np.isneginf(p["W"]))
    # a zero factor times a clamped one is 0, never 0 * inf = NaN
    assert (StepDecay(1, gamma=0.0) * ExponentialDecay(2.0))(2000) == 0.0
    assert (ExponentialDecay(2.0) * ExponentialDecay(2.0))(600) == sys.float_info.max
    # below the clamp nothing changes
    assert ExponentialDecay(2.0)(1000) == 2.0 ** 1000


def test_huge_step_counts_do_not_overflow():
    # float / 10**400 is an OverflowError; int / int is not
    assert CosineDecay(10**400)(5) == 1.0
    assert LinearWarmup(10**400)(5) == 0.0
    assert StepDecay(10**400, gamma=0.5)(10**6) == 1.0


@pytest.mark.parametrize("state,exc,match", [
    (None, TypeError, "state must be a dict with 'base_lr' and 't'"),
    ({"base_lr": 0.1}, TypeError, "state must be a dict"),
    ({"base_lr": -1.0, "t": 3}, ValueError, "base_lr"),
    ({"base_lr": 0.5, "t": -3}, ValueError, "t must be"),
])
def test_scheduler_load_state_dict_rejects_malformed_input_unchanged(state, exc, match):
    opt = SGD(lr=0.1)
    sched = LRScheduler(opt, ExponentialDecay(0.5))
    with pytest.raises(exc, match=match):
        sched.load_state_dict(state)
    assert (sched.base_lr, sched.t, opt.lr) == (0.1, 0, 0.1)
