"""Buffers fastnet allocates start on a cache line (fastnet._workspace.ALIGNMENT), whatever
malloc returns: the batch-norm kernels ran ~30% slower on arrays 16-48 bytes past one."""
import numpy as np
import pytest

from fastnet import MultiLayerNetExtend
from fastnet._workspace import ALIGNMENT, FRESH, Workspace, aligned_empty
from fastnet.layers import BatchNormalization, Dropout


def _aligned(a):
    return a.ctypes.data % ALIGNMENT == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(512, 1024), (3, 5), 7, (2, 3, 4), (), (0, 3)])
def test_aligned_empty_is_an_ordinary_array_on_a_cache_line(shape, dtype):
    a = aligned_empty(shape, dtype)
    want = np.empty(shape, dtype)
    assert a.shape == want.shape and a.dtype == want.dtype
    assert a.flags.c_contiguous and a.flags.writeable
    assert a.size == 0 or _aligned(a)
    a[...] = 3  # the whole view is usable memory
    assert np.all(a == 3)


def test_aligned_empty_arrays_do_not_overlap():
    # Many small arrays: each view lies in its own buffer (the padding is never shared).
    arrays = [aligned_empty(5, np.float32) for _ in range(50)]
    for i, a in enumerate(arrays):
        a[...] = i
    assert all(np.all(a == i) for i, a in enumerate(arrays))
    assert all(_aligned(a) for a in arrays)


def test_workspace_buffers_are_aligned_and_reused():
    ws = Workspace()
    # Odd element counts: consecutive malloc results would not all sit on a line.
    bufs = [ws.get(("k", i), (i + 1, 3), np.float32) for i in range(20)]
    assert all(_aligned(b) for b in bufs)
    assert ws.get(("k", 4), (5, 3), np.float32) is bufs[4]
    assert all(_aligned(FRESH.get("out", (i + 1, 3), np.float64)) for i in range(20))


def test_layers_of_a_net_work_in_aligned_buffers():
    net = MultiLayerNetExtend(input_size=13, hidden_size_list=[11, 9], output_size=3,
                              use_batchnorm=True, use_dropout=True, dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((17, 13)).astype(np.float32)
    t = rng.integers(0, 3, 17)
    net.gradient(x, t)
    layers = list(net.layers.values())
    masks = [layer.mask for layer in layers if isinstance(layer, Dropout)]
    assert masks and all(_aligned(m) for m in masks)
    bn = [layer for layer in layers if isinstance(layer, BatchNormalization)]
    assert bn and all(_aligned(layer.x) for layer in bn)  # the previous layer's output buffer
