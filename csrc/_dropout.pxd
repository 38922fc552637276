# Dropout's nogil cores over raw pointers, shared by csrc/dropout.pyx (the
# checked entries) and csrc/program.pyx (a net's whole step in one call), so
# both run the same arithmetic. Arrays flat, C-contiguous, one dtype, n
# elements.
#
# One thread, whatever the size. A pass is one multiply per element streamed
# at ~130 GB/s from cache: 0.05 ms for 2^19 float32 on one core, 0.03 ms on
# two. Before every training pass the layer draws the uniforms on one thread
# (NumPy, ~10x the pass), while OpenMP's second thread spins; when any other
# process wants that core, the spinning thread is the one descheduled and the
# pass waits for it: median 23 ms instead of 0.05 ms with the 2 cores loaded
# ~5 deep, and the bimodal 0.7 / 1.6 ms dropout fwd+bwd of bench/RESULTS.md
# on a lightly shared machine ("BN and dropout at (512, 1024)"). The second
# thread could save at most ~5% of a dropout layer's time.

from cython cimport floating

cdef enum:
    APPLY_MASK = 0  # mask[i] = s if mask[i] > r else 0; out[i] = x[i] * mask[i]
    MULTIPLY = 1    # out[i] = x[i] * mask[i]
    SCALE = 2       # out[i] = x[i] * s


cdef inline void dropout_pass(int op, const floating* x, floating* mask, double ratio,
                              double scale, floating* out, Py_ssize_t n) noexcept nogil:
    """Run pass ``op`` over ``n`` elements (``mask`` is only read by MULTIPLY,
    unused by SCALE); ``out`` may be ``x``."""
    cdef Py_ssize_t i
    cdef floating r = <floating>ratio, s = <floating>scale
    if op == APPLY_MASK:
        for i in range(n):
            mask[i] = s if mask[i] > r else 0
            out[i] = x[i] * mask[i]
    elif op == MULTIPLY:
        for i in range(n):
            out[i] = x[i] * mask[i]
    else:
        for i in range(n):
            out[i] = x[i] * s
