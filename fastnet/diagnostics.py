"""Per-layer statistics of activations and gradients, accumulated while a net trains.

A :class:`RunningStats` receives arrays batch after batch and keeps only
counts and moments (one kernel call per batch, ``accumulate_stats_``), never
copies of the data: mean, std, the fraction of exact zeros (dead ReLUs),
the fraction of saturated units and histogram counts over fixed bins.
"""
import contextlib
import math
import numbers

import numpy as np

from fastnet._activation import REGISTRY
from fastnet._checks import as_array, float_dtype, positive_int, real_scalar
from fastnet.kernels import get_backend

# Histogram ranges of each activation's outputs and what counts as saturated
# (e.g. a sigmoid output within 0.01 of 0 or 1), from the activation registry.
ACTIVATION_RANGES = {name: spec.hist_range for name, spec in REGISTRY.items()}
SATURATION = {name: spec.saturation for name, spec in REGISTRY.items()
              if spec.saturation is not None}
NO_SATURATION = (-math.inf, math.inf)


def _pair(name, value, finite):
    """``value`` as two floats ``(low, high)``; ``finite=False`` allows +-inf (never NaN)."""
    try:
        low, high = value
    except (TypeError, ValueError):  # not iterable, or not two values
        raise TypeError(f"{name} must be a pair (low, high) of numbers; got {value!r}") from None
    pair = []
    for which, v in (("low", low), ("high", high)):
        if finite:
            pair.append(real_scalar(f"{name} {which}", v))
        elif isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{name} {which} must be a number (or +-inf); got {v!r}")
        elif math.isnan(v):
            raise ValueError(f"{name} {which} must be a number or +-inf; got nan")
        else:
            pair.append(float(v))
    return tuple(pair)


class RunningStats:
    """Statistics of a stream of arrays over fixed histogram bins.

    Parameters
    ----------
    bins : int
        Number of equal-width bins over ``range``.
    range : (float, float)
        The histogram's edges; values outside are counted in the moments but
        not binned (as ``numpy.histogram``).
    saturation : (float, float)
        Values ``<= low`` or ``>= high`` count as saturated.
    """

    def __init__(self, bins=30, range=(0.0, 1.0), saturation=NO_SATURATION, *,
                 backend="compiled"):
        bins = positive_int("bins", bins)
        low, high = _pair("range", range, finite=True)
        if not low < high:
            raise ValueError(f"range must be (low, high) with low < high; got {range!r}")
        self.edges = np.linspace(low, high, bins + 1)
        self.counts = np.zeros(bins, np.int64)
        self._totals = np.zeros(5)
        self._saturation = _pair("saturation", saturation, finite=False)
        self._ops = get_backend(backend)

    def add(self, x):
        """Accumulate the float32/float64 array ``x`` (any shape; copied if not C-contiguous)."""
        x = as_array("x", x)
        float_dtype(x.dtype, "x.dtype")
        if not x.flags.c_contiguous:  # (a strided view flattens to a strided view)
            x = np.ascontiguousarray(x)
        self._ops.accumulate_stats_(x.reshape(-1), self.edges, self.counts, self._totals,
                                    *self._saturation)

    def as_dict(self):
        """The statistics so far as plain numbers and arrays."""
        n, mean, m2, zeros, saturated = self._totals
        return {
            "count": int(n),
            "mean": mean if n else math.nan,
            "std": math.sqrt(m2 / n) if n else math.nan,
            "zero_fraction": zeros / n if n else math.nan,
            "saturated_fraction": saturated / n if n else math.nan,
            "hist_counts": self.counts.copy(),
            "bin_edges": self.edges.copy(),
        }


class StatsRecorder:
    """The statistics a net records: for each recorded layer, its outputs and
    the gradients of the loss with respect to them.

    ``recorded`` lists ``(layer index, activation name)``; the name picks the
    default histogram range and what counts as saturated. The net calls
    :meth:`forward` after each layer's forward and :meth:`backward` with the
    gradient arriving at each layer.
    """

    def __init__(self, recorded, *, bins=30, activation_range=None,
                 gradient_range=(-0.01, 0.01), backend="compiled"):
        self._stats = {}
        # Named here: RunningStats would call either of them 'range'.
        if activation_range is not None:
            _pair("activation_range", activation_range, finite=True)
        _pair("gradient_range", gradient_range, finite=True)
        for index, activation in recorded:
            act_range = activation_range or ACTIVATION_RANGES[activation]
            saturation = SATURATION.get(activation, NO_SATURATION)
            self._stats[index] = (RunningStats(bins, act_range, saturation, backend=backend),
                                  RunningStats(bins, gradient_range, backend=backend))

    def forward(self, index, y):
        stats = self._stats.get(index)
        if stats is not None:
            stats[0].add(y)

    def backward(self, index, dout):
        stats = self._stats.get(index)
        if stats is not None:
            stats[1].add(dout)

    @contextlib.contextmanager
    def adding_through(self, kernels):
        """Within the block, every array added goes to ``kernels.accumulate_stats_``
        instead of the backend's (a compiled pass records those calls as ops)."""
        stats = [s for pair in self._stats.values() for s in pair]
        backends = [s._ops for s in stats]
        for s in stats:
            s._ops = kernels
        try:
            yield
        finally:
            for s, ops in zip(stats, backends):
                s._ops = ops

    def as_dict(self):
        """``{k: {"activations": {...}, "gradients": {...}}}``, k = 1, 2 ... in net order."""
        return {k: {"activations": a.as_dict(), "gradients": g.as_dict()}
                for k, (a, g) in enumerate((self._stats[i] for i in sorted(self._stats)), 1)}
