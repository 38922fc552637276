"""Learning-rate schedules: small objects that give a factor per step, composed with ``*``.

A schedule is a function of the step (or epoch) count ``t = 0, 1, 2, ...``
returning a factor; :class:`LRScheduler` sets ``optimizer.lr = base_lr *
schedule(t)`` each time its :meth:`~LRScheduler.step` is called (call it
once per iteration or once per epoch, as you choose). Schedules multiply::

    sched = LRScheduler(opt, LinearWarmup(5) * CosineDecay(100, delay=5))
    for epoch in range(105):
        train_one_epoch(opt)
        sched.step()

Factors are finite: a schedule that grows (``ExponentialDecay(2.0)``) stops
at the largest float, ``sys.float_info.max``, instead of raising
OverflowError after ~1,000 steps, and :class:`LRScheduler` clamps
``base_lr * factor`` the same way (an optimizer's ``lr`` must be finite).
The parameters then overflow on the next update, as the math says they
should: divergence is the caller's to see, not an exception.
"""
import math
import sys
from collections.abc import Mapping

from fastnet._checks import integer, real_scalar


def _count(name, value, low=1):
    return integer(name, value, low=low)


_MAX = sys.float_info.max


def _clamped_power(base, exponent):
    """``base ** exponent`` for ``base >= 0``, the largest float instead of an OverflowError."""
    try:
        return min(base ** exponent, _MAX)
    except OverflowError:
        return _MAX


class Schedule:
    """Base: ``schedule(t)`` is the factor at step ``t``; ``a * b`` multiplies factors."""

    def __call__(self, t):
        raise NotImplementedError

    def __mul__(self, other):
        if not isinstance(other, Schedule):
            return NotImplemented
        return Product(self, other)


class Product(Schedule):
    """The product of several schedules' factors."""

    def __init__(self, *schedules):
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"schedules[{i}] must be a Schedule (e.g. StepDecay(10)); "
                                f"got {s!r}")
        self.schedules = schedules

    def __call__(self, t):
        f = 1.0
        for s in self.schedules:
            f = min(f * s(t), _MAX)  # 0 * a clamped factor stays 0, never 0 * inf
        return f

    def __repr__(self):
        return " * ".join(map(repr, self.schedules))


class StepDecay(Schedule):
    """``gamma ** (t // step_size)``: multiply by ``gamma`` every ``step_size`` steps."""

    def __init__(self, step_size, gamma=0.1):
        self.step_size = _count("step_size", step_size)
        self.gamma = real_scalar("gamma", gamma, low=0)

    def __call__(self, t):
        return _clamped_power(self.gamma, t // self.step_size)

    def __repr__(self):
        return f"StepDecay({self.step_size}, gamma={self.gamma})"


class ExponentialDecay(Schedule):
    """``gamma ** t``."""

    def __init__(self, gamma):
        self.gamma = real_scalar("gamma", gamma, low=0)

    def __call__(self, t):
        return _clamped_power(self.gamma, t)

    def __repr__(self):
        return f"ExponentialDecay({self.gamma})"


class CosineDecay(Schedule):
    """Cosine annealing (Loshchilov & Hutter, 2017, arXiv:1608.03983), no restarts.

    ``1`` until ``delay``, then ``min_factor + (1 - min_factor) (1 + cos(pi s / total)) / 2``
    with ``s = t - delay`` clipped to ``[0, total]``; ``min_factor`` afterwards.
    """

    def __init__(self, total, min_factor=0.0, delay=0):
        self.total = _count("total", total)
        self.min_factor = real_scalar("min_factor", min_factor, low=0)
        self.delay = _count("delay", delay, low=0)

    def __call__(self, t):
        s = min(max(t - self.delay, 0), self.total)
        # s / total first: int / int is exact for any size, float / 10**400 an OverflowError
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * (s / self.total)))

    def __repr__(self):
        return f"CosineDecay({self.total}, min_factor={self.min_factor}, delay={self.delay})"


class LinearWarmup(Schedule):
    """Linear warm-up (Goyal et al., 2017, arXiv:1706.02677): from ``start_factor``
    at ``t = 0`` to 1 at ``t = steps``, then 1."""

    def __init__(self, steps, start_factor=0.0):
        self.steps = _count("steps", steps)
        self.start_factor = real_scalar("start_factor", start_factor, low=0, high=1)

    def __call__(self, t):
        if t >= self.steps:
            return 1.0
        return self.start_factor + (1 - self.start_factor) * (t / self.steps)  # int / int first

    def __repr__(self):
        return f"LinearWarmup({self.steps}, start_factor={self.start_factor})"


class LRScheduler:
    """Set ``optimizer.lr = base_lr * schedule(t)``; :meth:`step` advances ``t``.

    ``base_lr`` is the optimizer's ``lr`` when the scheduler is made; the
    factor for ``t = 0`` is applied at once. ``last_lr`` is the ``lr`` it
    set last.
    """

    def __init__(self, optimizer, schedule):
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule; got {schedule!r}")
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have an lr attribute (a fastnet optimizer); got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.schedule = schedule
        self.base_lr = optimizer.lr
        self.t = 0
        self._apply()

    def _apply(self):
        self.optimizer.lr = min(self.base_lr * self.schedule(self.t), _MAX)
        self.last_lr = self.optimizer.lr  # whether someone set lr since (trainer.LRSchedule)

    def step(self):
        """Advance one step (or epoch) and set the optimizer's ``lr``; returns it."""
        self.t += 1
        self._apply()
        return self.optimizer.lr

    def state_dict(self):
        return {"base_lr": self.base_lr, "t": self.t}

    def load_state_dict(self, state):
        """Restore ``base_lr`` and ``t`` from :meth:`state_dict` output; set the lr."""
        if not isinstance(state, Mapping) or not {"base_lr", "t"} <= state.keys():
            raise TypeError(f"state must be a dict with 'base_lr' and 't' (from "
                            f"LRScheduler.state_dict()); got {state!r}")
        base_lr = real_scalar("base_lr", state["base_lr"], low=0)
        self.t = _count("t", state["t"], low=0)
        self.base_lr = base_lr
        self._apply()
