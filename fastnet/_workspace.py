"""Reusable scratch buffers, so a training step allocates nothing it can reuse."""
import numpy as np

#: Byte boundary of every workspace buffer and dropout mask: one cache line, one AVX-512
#: vector. malloc only promises 16: a (512, 1024) float32 array landed at 0, 16,
#: 32 or 48 bytes past a line from one process to the next, and at 16-48 the
#: batch-norm kernels ran ~30% slower (every 64-byte load split across two
#: lines; bench/RESULTS.md, "BN and dropout at (512, 1024)").
ALIGNMENT = 64


def aligned_empty(shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` whose first
    element sits on an ``ALIGNMENT``-byte boundary (a view into a slightly
    larger byte buffer)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


class Workspace:
    """Buffers keyed by (key, shape, dtype), kept for the most recent shapes.

    A net sees a few batch sizes (training batch, evaluation batch, last
    partial batch); keeping up to ``max_entries`` buffers covers them while a
    stream of ever-new sizes cannot grow memory without bound. Clearing when
    full is safe: layers keep their own references to what backward needs.
    """

    def __init__(self, max_entries=32):
        self._buffers = {}
        self._max_entries = max_entries

    def get(self, key, shape, dtype):
        """Return the buffer ``key`` of this shape and dtype (contents undefined)."""
        full_key = (key, shape, dtype)
        buf = self._buffers.get(full_key)
        if buf is None:
            if len(self._buffers) >= self._max_entries:
                self._buffers.clear()
            buf = self._buffers[full_key] = aligned_empty(shape, dtype)
        return buf


class LayerWorkspace:
    """One layer's view of a net's :class:`Workspace`, and what the layer may overwrite.

    ``get(name, shape, dtype)`` returns a buffer private to the layer and
    reused across passes. ``may_overwrite_x`` tells ``_forward`` it may write
    its output into its input (no one needs that input any more);
    ``may_overwrite_dout`` tells ``_backward`` the incoming gradient is
    scratch. The net sets both before each call.
    """

    __slots__ = ("_store", "_prefix", "may_overwrite_x", "may_overwrite_dout")

    def __init__(self, store, prefix):
        self._store, self._prefix = store, prefix
        self.may_overwrite_x = False
        self.may_overwrite_dout = False

    def get(self, name, shape, dtype):
        return self._store.get((self._prefix, name), shape, dtype)


class FreshWorkspace:
    """The workspace of the checked textbook API: every buffer is a new array
    and nothing the caller passed is overwritten."""

    may_overwrite_x = False
    may_overwrite_dout = False

    @staticmethod
    def get(name, shape, dtype):
        return aligned_empty(shape, dtype)


FRESH = FreshWorkspace()
