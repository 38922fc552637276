"""Weight initializers for the ``weight_init_std`` hook of the networks.

An initializer is any callable ``(shape, rng, dtype) -> ndarray`` where
``shape = (fan_in, fan_out)`` (fastnet stores ``W`` as ``(fan_in, fan_out)``),
``rng`` is a ``numpy.random.Generator`` and ``dtype`` float32 or float64.
"""
import math

import numpy as np

from fastnet._checks import real_scalar


def normal(std):
    """Initializer drawing from N(0, std^2). Example: ``normal(0.01)``."""
    std = real_scalar("std", std, low=0)

    def init(shape, rng, dtype):
        return (rng.standard_normal(shape) * std).astype(dtype, copy=False)

    return init


def textbook_scaled_normal(gain_squared):
    """N(0, gain_squared / fan_in): the textbook's 'relu' (2) and 'sigmoid' (1) scales."""

    def init(shape, rng, dtype):
        return normal(math.sqrt(gain_squared / shape[0]))(shape, rng, dtype)

    return init


# The textbook's weight_init_std strings: He, std sqrt(2/n), for ReLU;
# "Xavier" as the textbook defines it, std sqrt(1/n), for sigmoid/tanh.
_TEXTBOOK_NAMES = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "xavier": 1.0}


def get_initializer(weight_init_std):
    """Turn a ``weight_init_std`` value into an initializer.

    Accepts 'relu'/'he' (std sqrt(2/fan_in)), 'sigmoid'/'xavier' (std
    sqrt(1/fan_in)), a non-negative float std, or a callable
    ``(shape, rng, dtype) -> ndarray``.
    """
    if callable(weight_init_std):
        return weight_init_std
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key not in _TEXTBOOK_NAMES:
            raise ValueError(
                f"weight_init_std must be one of {sorted(_TEXTBOOK_NAMES)}, a float std "
                f"or a callable (shape, rng, dtype) -> array; got {weight_init_std!r}"
            )
        return textbook_scaled_normal(_TEXTBOOK_NAMES[key])
    return normal(real_scalar("weight_init_std", weight_init_std, low=0))
