"""A net's whole pass (forward, loss, backward) as one compiled call.

A :class:`Program` is a list of ops, each one kernel call of the per-layer
path (an op kind, the data pointers of its arrays, its sizes and scalars),
recorded once by ``fastnet._program`` from the layers' own ``_forward`` and
``_backward`` and then run in one ``nogil`` call with no Python between
ops. The ops call the same inline cores as the kernel modules
(``_affine.pxd``, ``_activation.pxd``, ``_batchnorm.pxd``, ``_dropout.pxd``,
``_softmax_ce.pxd``), with the same arguments in the same order, so a
program's results are bit-identical to the per-layer path's.

Three arrays change from call to call: the input ``x``, the targets ``t``
and the new gradient buffer. The program is recorded against placeholder
arrays of the same shapes; every op pointer into a placeholder is kept as
an offset and pointed at the call's array when the program runs. Every
other array (parameters, workspace buffers, batch norm's statistics,
dropout's mask) is fixed: the program keeps a reference to each.

The checks are the caller's: ``fastnet.net.Sequential`` validates ``x`` and
``t`` once per call, and recording validates every op's activation code.
"""
cimport numpy as cnp
cimport openmp
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memset

from _activation cimport BACKWARD, FORWARD, elementwise, raise_on_error
from _affine cimport affine_activation_backward_core, affine_backward_core, affine_forward_core
from _batchnorm cimport (batchnorm_backward_core, batchnorm_forward_infer_core,
                         batchnorm_forward_train_core)
from _blas cimport load_blas
from _dropout cimport APPLY_MASK, MULTIPLY, SCALE, dropout_pass
from _optim cimport ADAM, MOMENTUM, NESTEROV, RMSPROP, SGD, TEXTBOOK, update_pass
from _parallel cimport load_parallel, serial_setting, side_by_side
from _softmax_ce cimport softmax_ce_indices, softmax_ce_rows
from _stats cimport fastnet_stats, load_stats

import numpy as np

cnp.import_array()
load_blas()
load_parallel()
load_stats()

# Op kinds, one per kernel entry of the per-layer path (fastnet.kernels),
# named as there. Each op's arrays, in order, are that entry's arrays
# (WRITES: which of them it writes).
cdef enum:
    AFFINE_FORWARD = 0              # x W b out preact
    AFFINE_BACKWARD = 1             # dout x W dx dW db
    AFFINE_ACTIVATION_BACKWARD = 2  # dout y preact x W dx dW db
    ACTIVATION_FORWARD = 3          # x out
    ACTIVATION_BACKWARD = 4         # dout y x dx
    BATCHNORM_FORWARD_TRAIN = 5     # x gamma beta out mean inv_std running_mean running_var
    BATCHNORM_FORWARD_INFER = 6     # x gamma beta running_mean running_var out
    BATCHNORM_BACKWARD = 7          # dout x gamma mean inv_std dx dgamma dbeta
    DROPOUT_FORWARD = 8             # x mask out
    DROPOUT_BACKWARD = 9            # dout mask dx
    DROPOUT_SCALE = 10              # x out
    SOFTMAX_CE_INDICES = 11         # logits labels dlogits
    SOFTMAX_CE_ROWS = 12            # logits t dlogits
    UPDATE = 13                     # param grad state state (an optimizer's; flat)
    STATS = 14                      # x edges counts totals scratch (diagnostics; d = bins)
    NUM_KINDS = 15

KINDS = {
    "affine_forward": AFFINE_FORWARD,
    "affine_backward": AFFINE_BACKWARD,
    "affine_activation_backward_": AFFINE_ACTIVATION_BACKWARD,
    "activation_forward": ACTIVATION_FORWARD,
    "activation_backward": ACTIVATION_BACKWARD,
    "batchnorm_forward_train_": BATCHNORM_FORWARD_TRAIN,
    "batchnorm_forward_infer": BATCHNORM_FORWARD_INFER,
    "batchnorm_backward": BATCHNORM_BACKWARD,
    "dropout_forward_": DROPOUT_FORWARD,
    "dropout_backward": DROPOUT_BACKWARD,
    "dropout_scale": DROPOUT_SCALE,
    "softmax_cross_entropy": SOFTMAX_CE_INDICES,
    "softmax_cross_entropy_onehot": SOFTMAX_CE_ROWS,
    "update": UPDATE,
    "accumulate_stats_": STATS,
}
# The slots of each kind's arrays that its op writes (the rest it only reads), from
# the cores' signatures: a recording may move an op that only reads an array past
# ops that do not write it (fastnet._program defers statistics ops this way).
WRITES = {
    AFFINE_FORWARD: (3, 4),
    AFFINE_BACKWARD: (3, 4, 5),
    AFFINE_ACTIVATION_BACKWARD: (0, 5, 6, 7),  # dout becomes the pre-activation's gradient
    ACTIVATION_FORWARD: (1,),
    ACTIVATION_BACKWARD: (3,),
    BATCHNORM_FORWARD_TRAIN: (3, 4, 5, 6, 7),
    BATCHNORM_FORWARD_INFER: (5,),
    BATCHNORM_BACKWARD: (5, 6, 7),
    DROPOUT_FORWARD: (1, 2),  # the uniform draws in mask become the mask
    DROPOUT_BACKWARD: (2,),
    DROPOUT_SCALE: (1,),
    SOFTMAX_CE_INDICES: (2,),
    SOFTMAX_CE_ROWS: (2,),
    UPDATE: (0, 2, 3),
    STATS: (2, 3, 4),
}
# A STATS op's ``code``: WITH_NEXT when it runs side by side with the op after it,
# also a STATS op (see _run_stats_pair); 0 alone.
cdef enum:
    WITH_NEXT = 1
STATS_WITH_NEXT = WITH_NEXT
# An UPDATE op's ``d``: which update (csrc/_optim.pxd), named as its kernel
# entry in fastnet.kernels; its ``code``: the flags; its scalars: the entry's.
UPDATES = {
    "sgd_update_": SGD,
    "momentum_update_": MOMENTUM,
    "rmsprop_update_": RMSPROP,
    "adam_update_": ADAM,
}
UPDATE_FLAGS = {"nesterov": NESTEROV, "textbook": TEXTBOOK}

# The run-time arrays an op pointer may refer to.
cdef enum:
    INPUT_X = 0
    INPUT_T = 1
    INPUT_GRADS = 2
    NUM_INPUTS = 3

cdef enum:
    MAX_ARRAYS = 8
    MAX_SCALARS = 7


cdef struct Op:
    int kind
    int code                 # activation code
    Py_ssize_t n, d, m       # sizes (rows; columns of the input; of the output)
    double s[MAX_SCALARS]    # scalars, as the kernel entry takes them
    void* p[MAX_ARRAYS]      # data pointers (NULL: None)


cdef struct Patch:
    int op
    int slot
    int input                # INPUT_X, INPUT_T or INPUT_GRADS
    Py_ssize_t offset        # bytes from the start of that input


cdef struct _Job:
    # One net of run_many: its pass, its optimizer's update (NULL, 0: none), its loss.
    Op* ops
    int count
    Op* update_ops
    int update_count
    bint double_precision
    double loss


cdef double _run_ops(Op* ops, int count, floating tag) noexcept nogil:
    """Run the ops in order; return the loss (0 without a loss op). ``tag``
    picks the dtype."""
    cdef int i = 0
    cdef Op* o
    cdef double loss = 0
    while i < count:
        o = &ops[i]
        if o.kind == AFFINE_FORWARD:
            affine_forward_core(<floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2],
                                <floating*>o.p[3], <floating*>o.p[4], o.n, o.d, o.m, o.code,
                                <floating>o.s[0])
        elif o.kind == AFFINE_BACKWARD:
            affine_backward_core(<floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2],
                                 <floating*>o.p[3], <floating*>o.p[4], <floating*>o.p[5],
                                 o.n, o.d, o.m, o.s[0])
        elif o.kind == AFFINE_ACTIVATION_BACKWARD:
            affine_activation_backward_core(
                <floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2], o.code,
                <floating>o.s[0], <floating*>o.p[3], <floating*>o.p[4], <floating*>o.p[5],
                <floating*>o.p[6], <floating*>o.p[7], o.n, o.d, o.m, o.s[1])
        elif o.kind == ACTIVATION_FORWARD:
            elementwise(FORWARD, o.code, <floating*>o.p[1], <floating*>o.p[0], NULL, NULL,
                        NULL, NULL, NULL, o.n, 1, <floating>o.s[0])
        elif o.kind == ACTIVATION_BACKWARD:
            elementwise(BACKWARD, o.code, <floating*>o.p[3], <floating*>o.p[0],
                        <floating*>o.p[1], <floating*>o.p[2], NULL, NULL, NULL, o.n, 1,
                        <floating>o.s[0])
        elif o.kind == BATCHNORM_FORWARD_TRAIN:
            batchnorm_forward_train_core(
                <floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2], o.s[0],
                <floating*>o.p[3], <floating*>o.p[4], <floating*>o.p[5], <floating*>o.p[6],
                <floating*>o.p[7], o.s[1], o.s[2], o.n, o.d)
        elif o.kind == BATCHNORM_FORWARD_INFER:
            batchnorm_forward_infer_core(
                <floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2], <floating*>o.p[3],
                <floating*>o.p[4], o.s[0], <floating*>o.p[5], o.n, o.d)
        elif o.kind == BATCHNORM_BACKWARD:
            batchnorm_backward_core(
                <floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2], <floating*>o.p[3],
                <floating*>o.p[4], <floating*>o.p[5], <floating*>o.p[6], <floating*>o.p[7],
                o.n, o.d)
        elif o.kind == DROPOUT_FORWARD:
            dropout_pass(APPLY_MASK, <floating*>o.p[0], <floating*>o.p[1], o.s[0], o.s[1],
                         <floating*>o.p[2], o.n)
        elif o.kind == DROPOUT_BACKWARD:
            dropout_pass(MULTIPLY, <floating*>o.p[0], <floating*>o.p[1], 0, 0,
                         <floating*>o.p[2], o.n)
        elif o.kind == DROPOUT_SCALE:
            dropout_pass(SCALE, <floating*>o.p[0], <floating*>NULL, 0, o.s[0],
                         <floating*>o.p[1], o.n)
        elif o.kind == SOFTMAX_CE_INDICES:
            loss = softmax_ce_indices(<floating*>o.p[0], <long long*>o.p[1],
                                      <floating*>o.p[2], o.n, o.m)
        elif o.kind == SOFTMAX_CE_ROWS:
            loss = softmax_ce_rows(<floating*>o.p[0], <floating*>o.p[1], <floating*>o.p[2],
                                   o.n, o.m)
        elif o.kind == STATS:
            if o.code == WITH_NEXT:
                _run_stats_pair(o, tag)
                i += 1
            else:
                _run_stats(o, tag)
        elif o.kind == UPDATE:
            update_pass(<int>o.d, o.code, <floating*>o.p[0], <floating*>o.p[1],
                        <floating*>o.p[2], <floating*>o.p[3], o.n, o.s)
        i += 1
    return loss


cdef inline void _run_stats(Op* o, floating tag) noexcept nogil:
    """A STATS op: accumulate_stats_ on its arrays."""
    if floating is float:
        fastnet_stats.single(<const float*>o.p[0], o.n, <const double*>o.p[1], <int>o.d,
                             <long long*>o.p[2], <double*>o.p[3], o.s[0], o.s[1],
                             <long long*>o.p[4])
    else:
        fastnet_stats.double_(<const double*>o.p[0], o.n, <const double*>o.p[1], <int>o.d,
                              <long long*>o.p[2], <double*>o.p[3], o.s[0], o.s[1],
                              <long long*>o.p[4])


cdef void _run_stats_pair(Op* ops, floating tag) noexcept nogil:
    """The STATS ops ``ops[0]`` and ``ops[1]``, side by side on two threads when
    ``side_by_side`` says so (_parallel.pxd), else one after the other.

    They share no array they write (each its own counts, totals and scratch,
    which the recording checked), and each is the same call either way, so
    the results do not depend on the threads. Two calls of ~2.7 us (net T's
    100 x 100 float32 layers, repeated) take ~3.3 us side by side, the region
    included; two of 2048 values 1.4 us against 1.7 one after the other.
    """
    cdef int k, step
    if not side_by_side():
        _run_stats(&ops[0], tag)
        _run_stats(&ops[1], tag)
        return
    # A bare region, not a prange: ~0.15 us less a pair. Each thread runs every
    # op from its number on, so all ops run with fewer threads than asked for.
    with parallel(num_threads=2):
        k = threadid()
        step = openmp.omp_get_num_threads()
        while k < 2:
            _run_stats(&ops[k], tag)
            k = k + step


cdef double _run_program(Op* ops, int count, bint double_precision) noexcept nogil:
    if double_precision:
        return _run_ops(ops, count, <double>0)
    return _run_ops(ops, count, <float>0)


cdef void _run_job(_Job* job) noexcept nogil:
    """One net of run_many: its pass (the loss kept in ``job``), then its update."""
    job.loss = _run_program(job.ops, job.count, job.double_precision)
    _run_program(job.update_ops, job.update_count, job.double_precision)


cdef inline char* _data(object array) except? NULL:
    return <char*>cnp.PyArray_DATA(<cnp.ndarray?>array)


cdef class Program:
    """Ops recorded against placeholder inputs, run on the call's inputs.

    Parameters
    ----------
    dtype : float32 or float64
        The dtype of every floating array of the ops.
    x, t, grads : ndarray or None
        The placeholders: arrays of the shapes the program will be run with,
        whose memory no op may use except through them.
    """

    cdef Op* ops
    cdef int count
    cdef Patch* patches
    cdef int npatches
    cdef bint double_precision
    cdef object _placeholders   # keeps their memory reserved
    cdef list _arrays           # every array an op points into
    cdef char* _start[NUM_INPUTS]
    cdef char* _end[NUM_INPUTS]

    def __cinit__(self, dtype, x, t, grads):
        cdef int k
        self.double_precision = np.dtype(dtype) == np.float64
        self._placeholders = (x, t, grads)
        self._arrays = []
        for k, array in enumerate(self._placeholders):
            if array is None or array.size == 0:
                self._start[k] = self._end[k] = NULL
            else:
                self._start[k] = _data(array)
                self._end[k] = self._start[k] + <Py_ssize_t>array.nbytes

    def __dealloc__(self):
        PyMem_Free(self.ops)
        PyMem_Free(self.patches)

    def __len__(self):
        return self.count

    def kinds(self):
        """Each op's ``(kind, code)``, in run order (what was recorded, for inspection)."""
        return [(self.ops[i].kind, self.ops[i].code) for i in range(self.count)]

    def add(self, int kind, arrays, Py_ssize_t n=0, Py_ssize_t d=0, Py_ssize_t m=0,
            int code=0, scalars=()):
        """Append an op: ``arrays`` (ndarrays or None, at most 8, C-contiguous),
        its sizes, activation ``code`` (an update's flags) and ``scalars`` (at most 7).

        ValueError for an unknown activation code, or for an activation
        backward whose derivative needs the pre-activation without it (as
        the kernel entries would raise), before anything is appended.
        """
        cdef Op op
        cdef int k, slot, status = 0
        cdef char* p
        cdef Patch* patch
        cdef double tag = 0
        if not 0 <= kind < NUM_KINDS or len(arrays) > MAX_ARRAYS or len(scalars) > MAX_SCALARS:
            raise ValueError(f"bad op: kind {kind}, {len(arrays)} arrays, "
                             f"{len(scalars)} scalars")
        memset(&op, 0, sizeof(Op))
        op.kind, op.code, op.n, op.d, op.m = kind, code, n, d, m
        for k, value in enumerate(scalars):
            op.s[k] = value
        for slot, array in enumerate(arrays):
            op.p[slot] = NULL if array is None else _data(array)
        # n = 0: elementwise() only checks the code and the pre-activation.
        if kind == AFFINE_FORWARD or kind == ACTIVATION_FORWARD:
            status = elementwise(FORWARD, code, &tag, &tag, NULL, NULL, &tag, NULL, NULL, 0, 0,
                                 <double>0)
        elif kind == AFFINE_ACTIVATION_BACKWARD or kind == ACTIVATION_BACKWARD:
            status = elementwise(BACKWARD, code, &tag, &tag, &tag,
                                 <double*>op.p[2], NULL, NULL, NULL, 0, 0, <double>0)
        raise_on_error(status, code, "preact" if kind == AFFINE_ACTIVATION_BACKWARD else "x")
        self._grow(self.count + 1, self.npatches + MAX_ARRAYS)
        for slot in range(MAX_ARRAYS):
            p = <char*>op.p[slot]
            for k in range(NUM_INPUTS):
                if p != NULL and self._start[k] <= p < self._end[k]:
                    patch = &self.patches[self.npatches]
                    patch.op, patch.slot, patch.input = self.count, slot, k
                    patch.offset = p - self._start[k]
                    self.npatches += 1
        self.ops[self.count] = op
        self.count += 1
        self._arrays.append(arrays)

    cdef _grow(self, int ops, int patches):
        cdef void* grown = PyMem_Realloc(self.ops, ops * sizeof(Op))
        if grown == NULL:
            raise MemoryError()
        self.ops = <Op*>grown
        grown = PyMem_Realloc(self.patches, patches * sizeof(Patch))
        if grown == NULL:
            raise MemoryError()
        self.patches = <Patch*>grown

    cdef void _point(self, x, t, grads) except *:
        # Every op pointer into a placeholder, pointed at the call's array.
        cdef char* base[NUM_INPUTS]
        cdef Patch* patch
        cdef int k
        base[INPUT_X] = _data(x)
        base[INPUT_T] = NULL if t is None else _data(t)
        base[INPUT_GRADS] = NULL if grads is None else _data(grads)
        for k in range(self.npatches):
            patch = &self.patches[k]
            self.ops[patch.op].p[patch.slot] = base[patch.input] + patch.offset

    def run(self, x, t=None, grads=None):
        """Run the ops on ``x`` (and ``t``, ``grads``); return the loss (0.0 without one).

        The arrays must have the placeholders' shapes and dtypes and be
        C-contiguous (the caller has checked them); ``grads`` is written.
        """
        cdef double loss
        self._point(x, t, grads)
        with nogil:
            loss = _run_program(self.ops, self.count, self.double_precision)
        return loss


def run_many(list programs, list xs, list ts, list grads, int num_threads, list updates=None):
    """Run ``programs[i]`` on ``xs[i]``, ``ts[i]``, ``grads[i]`` for every i, the
    programs spread over ``num_threads`` OpenMP threads; return the losses.

    ``updates[i]`` (a Program of UPDATE ops recorded against the arrays
    themselves, or None) runs right after ``programs[i]``, on the same
    thread: the optimizer's update of net i while its gradients are still in
    that core's cache.

    The programs must be distinct objects over disjoint arrays (apart from
    shared read-only inputs). A BLAS call inside runs on the thread that
    makes it when the caller has set BLAS to one thread. Where the
    element-wise kernels stay serial (``min_size`` "never": a child forked
    after OpenMP ran, whose new parallel regions would wait for threads that
    do not exist, or OpenBLAS keeping its own pool) the programs run one
    after the other.
    """
    cdef Py_ssize_t i, count = len(programs)
    cdef Program program
    cdef _Job* jobs
    if updates is not None and len(updates) != count:
        raise ValueError(f"updates has {len(updates)} entries for {count} programs")
    if serial_setting():
        num_threads = 1
    # One C array for the call's bookkeeping, not NumPy arrays and memoryviews: a
    # NetBatch step makes this call every step, with the GIL held and the other core idle.
    jobs = <_Job*>PyMem_Malloc(max(count, 1) * sizeof(_Job))
    if jobs == NULL:
        raise MemoryError()
    try:
        for i in range(count):
            program = programs[i]
            program._point(xs[i], ts[i], grads[i])
            jobs[i].ops, jobs[i].count = program.ops, program.count
            jobs[i].double_precision = program.double_precision
            jobs[i].update_ops, jobs[i].update_count = NULL, 0
            if updates is not None and updates[i] is not None:
                program = updates[i]
                if program.double_precision != jobs[i].double_precision:
                    raise ValueError(f"updates[{i}] is of another dtype than programs[{i}]")
                jobs[i].update_ops, jobs[i].update_count = program.ops, program.count
        if num_threads > 1 and count > 1:
            for i in prange(count, nogil=True, num_threads=min(num_threads, count),
                            schedule="dynamic"):
                _run_job(&jobs[i])
        else:  # no parallel region: opening one costs ~0.7 us even for one thread
            with nogil:
                for i in range(count):
                    _run_job(&jobs[i])
        return [jobs[i].loss for i in range(count)]
    finally:
        PyMem_Free(jobs)


def views(cnp.ndarray buffer, list specs):
    """Views into the 1-D C-contiguous ``buffer``, one per ``(offset, shape)`` of ``specs``
    (offset in elements; every view inside the buffer, checked by the caller).

    What ``buffer[offset:offset + size].reshape(shape)`` gives, made in C: a
    net makes one per parameter in every ``gradient()`` call.
    """
    cdef char* data = <char*>cnp.PyArray_DATA(buffer)
    cdef cnp.npy_intp dims[32]
    cdef Py_ssize_t itemsize = buffer.itemsize, k, nd
    cdef int typenum = cnp.PyArray_TYPE(buffer)
    cdef cnp.ndarray view
    out = []
    for offset, shape in specs:
        nd = len(shape)
        if nd > 32:
            raise ValueError(f"at most 32 dimensions; got shape {shape}")
        for k in range(nd):
            dims[k] = shape[k]
        view = cnp.PyArray_SimpleNewFromData(nd, dims, typenum,
                                             data + <Py_ssize_t>offset * itemsize)
        cnp.set_array_base(view, buffer)
        out.append(view)
    return out
