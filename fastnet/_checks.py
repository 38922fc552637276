"""Argument checks shared by the Python layer.

The dtype policy: float32 and float64 are computed natively. Data arrays of
an integer or boolean dtype (raw pixels, 0/1 masks) are cast once, here, to
the dtype of the parameters they meet; any other dtype (float16, complex,
object ...) and a float dtype different from the parameters' is a TypeError,
never a silent conversion. Arrays that are not C-contiguous (Fortran order,
strided views) are copied once into C order.
"""
import math
import numbers
import os
from pathlib import Path

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype, name="dtype"):
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise TypeError.

    ``dtype`` may be anything ``np.dtype`` reads as float32/float64
    (``np.float32``, ``'float64'``, ``'f4'``, a dtype object). ``None`` is
    rejected although ``np.dtype(None)`` is float64: a missing dtype is a
    mistake here, not a request for the default.
    """
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):
        # 'bogus' is a TypeError, some specs a ValueError, and np.dtype(',')
        # a SyntaxError from NumPy's parser of comma-separated field specs
        dt = None
    # None is excluded first: ``np.dtype('f8') == None`` is True, so ``None in
    # FLOAT_DTYPES`` would accept it.
    if dt is None or not any(dt == f for f in FLOAT_DTYPES):
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}")
    return dt


def as_array(name, x):
    """``np.asarray(x)``, with a ValueError naming ``name`` for ragged nested lists."""
    try:
        return np.asarray(x)
    except ValueError as err:  # "setting an array element with a sequence ..."
        raise ValueError(f"{name} must be an array or a nested list of equal-length rows: "
                         f"{err}") from None


def as_input(name, x, dtype):
    """Return ``x`` as a C-contiguous array of ``dtype`` following the dtype policy."""
    x = as_array(name, x)
    if x.dtype != dtype:
        if x.dtype.kind in "biu":
            x = x.astype(dtype)
        elif x.dtype.kind == "f" and x.dtype in FLOAT_DTYPES:
            raise TypeError(
                f"{name} has dtype {x.dtype}, but the parameters are {dtype}; "
                f"convert it with {name}.astype(np.{dtype}) or build the model with "
                f"dtype=np.{x.dtype}"
            )
        else:
            raise TypeError(
                f"{name} has dtype {x.dtype}; expected {dtype} (or an integer array, "
                f"which is cast to {dtype})"
            )
    # Not np.ascontiguousarray: it turns a 0-d array into 1-d, hiding it from shape checks.
    return np.asarray(x, order="C")


def as_path(name, value):
    """``Path(value)`` for a str or os.PathLike, else a TypeError naming ``name``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike; got {type(value).__name__} "
                        f"{value!r}")
    return Path(value)


def check_shape(name, x, shape):
    """Raise ValueError unless ``x.shape`` matches ``shape`` (None matches any size)."""
    ok = x.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, x.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}; got {x.shape}")


def check_batch(name, x):
    """Raise ValueError if ``x`` has no samples (its first axis is empty)."""
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample; got shape {x.shape}")


def as_labels(name, t, n, num_classes, dtype):
    """Return targets for a softmax over ``num_classes`` classes.

    Class indices (an integer array of shape ``(n,)`` with values in
    ``[0, num_classes)``) come back as C-contiguous int64; target rows (shape
    ``(n, num_classes)``, one-hot or any distribution, any real dtype) come
    back as C-contiguous ``dtype``. ``num_classes`` must be >= 1: a softmax
    over zero classes has no value (ValueError).
    """
    if num_classes < 1:
        raise ValueError(f"{name}: a softmax needs at least one class; the scores have "
                         f"{num_classes} columns")
    t = as_array(name, t)
    if t.ndim == 1:
        if t.dtype.kind not in "iu":
            raise TypeError(
                f"{name} given as class indices must be an integer array; got dtype {t.dtype}"
            )
        check_shape(name, t, (n,))
        labels = np.ascontiguousarray(t, dtype=np.int64)
        # One reduction: a negative index (or a uint64 beyond int64, wrapped) reads as
        # an unsigned value of 2^63 or more.
        if n and labels.view(np.uint64).max() >= num_classes:
            raise ValueError(
                f"{name} holds class indices outside [0, {num_classes}): "
                f"min {t.min()}, max {t.max()}"
            )
        return labels
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real array; got dtype {t.dtype}")
    check_shape(name, t, (n, num_classes))
    t = np.ascontiguousarray(t, dtype=dtype)
    if not np.isfinite(t).all():
        raise ValueError(f"{name} target rows must be finite; found NaN or inf")
    return t


def real_scalar(name, value, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a float after checking it is a finite real in the range.

    ``low``/``high`` bound the range (None: unbounded); ``*_open`` excludes the bound.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int (or Fraction) beyond the float range, e.g. 10**400
        text = repr(value)
        if len(text) > 40:
            text = f"{text[:12]}... ({len(text)} digits)"
        raise ValueError(f"{name} must be finite; got {text}, beyond the float range") from None
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {value!r}")
    return v


def one_of(name, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict or set
        ok = False
    if not ok:
        try:
            listed = sorted(choices)
        except TypeError:  # choices of mixed types (names and numbers) do not order
            listed = sorted(choices, key=repr)
        raise ValueError(f"{name} must be one of {listed}; got {value!r}")
    return value


def integer(name, value, low=None):
    """Return ``value`` as an int after checking it is an integer (not a bool) >= ``low``.

    ``2.5``, ``'3'`` and ``True`` are TypeErrors; an integer below ``low`` is a ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    v = int(value)
    if low is not None and v < low:
        word = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        raise ValueError(f"{name} must be {word}; got {value!r}")
    return v


def flag(name, value):
    """Return ``value`` as a bool after checking it is one (``bool`` or ``numpy.bool_``).

    ``0``, ``1``, ``'yes'`` and ``None`` are TypeErrors: a flag given a
    number or a string is usually an argument in the wrong place.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def positive_int(name, value):
    """Return ``value`` as an int after checking it is an integer >= 1."""
    return integer(name, value, low=1)


def make_rng(seed, name="seed"):
    """Return a ``numpy.random.Generator``: ``seed`` may be one, an int >= 0, or None.

    ``name`` is the argument's name in error messages (``seed``, ``rng``).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(integer(name, seed, low=0))
    raise TypeError(f"{name} must be None, an int or a numpy.random.Generator; got {seed!r}")
