"""Reusable scratch buffers, so a training step allocates nothing it can reuse."""
import numpy as np


class Workspace:
    """Buffers keyed by (name, shape, dtype), kept for the most recent shapes.

    A net sees a few batch sizes (training batch, evaluation batch, last
    partial batch); keeping up to ``max_entries`` buffers covers them while a
    stream of ever-new sizes cannot grow memory without bound.
    """

    def __init__(self, max_entries=32):
        self._buffers = {}
        self._max_entries = max_entries

    def get(self, name, shape, dtype):
        """Return the buffer ``name`` of this shape and dtype (contents undefined)."""
        key = (name, shape, dtype)
        buf = self._buffers.get(key)
        if buf is None:
            if len(self._buffers) >= self._max_entries:
                self._buffers.clear()
            buf = self._buffers[key] = np.empty(shape, dtype)
        return buf
