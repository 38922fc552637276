"""Optimizers with the textbook API: ``opt.update(params, grads)`` updates in place.

:mod:`fastnet.optim.optimizers` has the update rules (one compiled kernel
call per parameter array), :mod:`fastnet.optim.schedules` the learning-rate
schedules.
"""
from fastnet.optim._base import CONVENTIONS, Optimizer, check_update_args
from fastnet.optim.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    make_optimizer,
)
from fastnet.optim.schedules import (
    CosineDecay,
    ExponentialDecay,
    LinearWarmup,
    LRScheduler,
    Product,
    Schedule,
    StepDecay,
)

__all__ = [
    "CONVENTIONS", "OPTIMIZERS", "AdaGrad", "Adam", "AdamW", "CosineDecay",
    "ExponentialDecay", "LRScheduler", "LinearWarmup", "Momentum", "Nesterov",
    "Optimizer", "Product", "RMSprop", "SGD", "Schedule", "StepDecay",
    "check_update_args", "make_optimizer",
]
