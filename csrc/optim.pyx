"""Optimizer update kernels: one in-place pass over a flat parameter array.

(Also ``tiling``, which tells the optimizer when all its parameters form one
flat array, so that one kernel call updates them all.)

Every kernel reads the parameter, its gradient and its state once and writes
the parameter and the state once, in place, with no temporaries. The
arrays are flat, C-contiguous, of one dtype (float32 or float64) and one
size; ``fastnet.optim`` checks them before calling. Scalars arrive as
double and are rounded once to the arrays' dtype, as NumPy does with a
Python float.

The same loop serves the textbook's formulas and PyTorch's: the conventions
differ only in coefficients and in a flag the Python layer passes.

Large arrays are split into one contiguous chunk per OpenMP thread
(``csrc/_parallel.pxd``; when and how many: ``set_parallel`` in
``fastnet._kernels.threads``). By default that happens from 2^18 elements
when OpenBLAS runs on fastnet's OpenMP threads (one pool, set up at import;
see csrc/threads.pyx). With two pools OpenMP's workers spin after each
parallel loop and fight OpenBLAS's threads for the cores, and a training
step got many times slower (measured on 2 cores, Adam: net T 0.73 ms serial
vs 10.6 ms parallel; net W 29 ms vs 57 ms). Each element's update is the
same arithmetic whatever the split, so results do not depend on the thread
count.

The square root is ``vsqrt`` (csrc/_vmath.pxd), vectorised: its arguments
are sums of squares, never negative.
"""
from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc, qsort
from numpy import ndarray as _ndarray
from _parallel cimport bound, chunks, load_parallel
from _vmath cimport vsqrt

load_parallel()
cdef type ndarray = _ndarray  # a C-level name: isinstance without a module-dict lookup


# ------------------------------------------------------------ one-buffer layout -----
cdef struct _Span:
    Py_ssize_t address  # of the first byte
    Py_ssize_t nbytes
    Py_ssize_t index    # in the caller's list


cdef int _by_address(const void* a, const void* b) noexcept nogil:
    cdef Py_ssize_t x = (<const _Span*>a).address, y = (<const _Span*>b).address
    return (x > y) - (x < y)


cdef bint _float_buffer(object obj, Py_buffer* view, int flags):
    """Acquire ``view`` of ``obj`` if it is a C-contiguous native float32/float64 buffer."""
    try:
        PyObject_GetBuffer(obj, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)
    except (BufferError, TypeError, ValueError):
        return False
    if view.format[0] in b"fd" and view.format[1] == 0:
        return True
    PyBuffer_Release(view)
    return False


def tiling(list arrays, bint writable):
    """Where ``arrays`` lie, if they tile one range of one array's memory.

    The optimizer's one-call update (``fastnet.optim.Optimizer.update``)
    asks this of the parameters and of the gradients every step, so the
    addresses come from each array's buffer, read in C (~50 ns an array),
    not from ``__array_interface__`` in Python (~750 ns). Not a kernel: it
    reads no element, and serves both backends.

    Parameters
    ----------
    arrays : list
        Candidate arrays, in the caller's order.
    writable : bool
        Whether every array must be writable.

    Returns
    -------
    ``(flat, address, layout)`` or None
        Not None when every entry is a C-contiguous NumPy array (writable
        if asked) of one native float dtype (float32 or float64), the
        non-empty ones (at least one) views of one C-contiguous array of
        that dtype (or that array itself) that together cover one range of
        its elements with no gap and no overlap, in any order. ``flat`` is
        that range as a 1-D array (the array itself if it is 1-D and all
        covered), ``address`` the address of its first byte, ``layout``
        ``(format, total, offsets, shapes)``: the buffer format (``'f'`` or
        ``'d'``), the elements covered, each array's element offset in
        ``flat`` (0 for an empty one) and its shape, in the order of
        ``arrays``. Two groups with equal layouts can be updated by one
        call over each ``flat``.
    """
    cdef Py_ssize_t n = len(arrays), m = 0, i, end, itemsize = 0, owner_start, owner_end
    cdef Py_buffer view
    cdef int flags = PyBUF_WRITABLE if writable else 0
    cdef char fmt = 0
    cdef bint same, empty, one_d
    if n == 0:
        return None
    cdef _Span* spans = <_Span*>malloc(n * sizeof(_Span))
    if spans == NULL:
        raise MemoryError()
    try:
        owner = None
        shapes = []
        for i in range(n):
            a = arrays[i]
            if not isinstance(a, ndarray) or not _float_buffer(a, &view, flags):
                return None
            if fmt == 0:
                fmt, itemsize = view.format[0], view.itemsize
            same = view.format[0] == fmt
            empty = view.len == 0  # takes no memory: its address means nothing
            if not empty:
                spans[m].address = <Py_ssize_t>view.buf
                spans[m].nbytes = view.len
                spans[m].index = i
                m += 1
            PyBuffer_Release(&view)
            if not same:
                return None
            shapes.append(a.shape)
            if not empty:
                base = a.base
                if base is None:
                    base = a
                if owner is None:
                    owner = base
                elif base is not owner:
                    return None
        if m == 0:
            return None
        if not isinstance(owner, ndarray) or not _float_buffer(owner, &view, 0):
            return None
        owner_start, owner_end = <Py_ssize_t>view.buf, <Py_ssize_t>view.buf + view.len
        same = view.format[0] == fmt
        one_d = view.ndim == 1
        PyBuffer_Release(&view)
        if not same:
            return None
        qsort(spans, m, sizeof(_Span), _by_address)
        end = spans[0].address
        if end < owner_start or (end - owner_start) % itemsize:
            return None
        for i in range(m):
            if spans[i].address != end:
                return None  # a gap or an overlap
            end += spans[i].nbytes
        if end > owner_end:
            return None
        offsets = [0] * n  # empty arrays: 0
        for i in range(m):
            offsets[spans[i].index] = (spans[i].address - spans[0].address) // itemsize
        start = (spans[0].address - owner_start) // itemsize
        total = (end - spans[0].address) // itemsize
        if not (one_d and spans[0].address == owner_start and end == owner_end):
            owner = owner.reshape(-1)[start:start + total]  # a view: owner is C-contiguous
        return owner, spans[0].address, (chr(fmt), total, tuple(offsets), tuple(shapes))
    finally:
        free(spans)


cdef inline Py_ssize_t _chunks(Py_ssize_t n) noexcept nogil:
    """Threads for an array of ``n`` elements: chunks of at least 16 elements."""
    return chunks(n, n // 16)


# ---------------------------------------------------------------- SGD -----
cdef inline void _sgd(floating* p, const floating* g, Py_ssize_t n,
                      floating lr, floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi
    for i in range(n):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        p[i] = p[i] - lr * gi


def sgd_update_(floating[::1] param, const floating[::1] grad, double lr,
                double weight_decay=0.0):
    """Gradient descent step, in place: ``param -= lr * (grad + weight_decay * param)``.

    Parameters
    ----------
    param : floating[::1], mutated
    grad : floating[::1], same size and dtype
    lr : float
    weight_decay : float
        Coupled L2 coefficient (0: the textbook's plain SGD).
    """
    cdef Py_ssize_t n = param.shape[0], nc = _chunks(n), c, lo
    if n == 0:
        return
    cdef floating* p = &param[0]
    cdef const floating* g = &grad[0]
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _sgd(p + lo, g + lo, bound(n, c + 1, nc) - lo, <floating>lr, <floating>weight_decay)


# ----------------------------------------------------- Momentum, Nesterov -----
cdef inline void _momentum(floating* p, const floating* g, floating* v, Py_ssize_t n,
                           floating lr, floating mu, floating wd, floating mu2,
                           floating lr1mu, bint nesterov, bint textbook) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, vi
    for i in range(n):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        if textbook:
            # v <- mu v - lr g;  p <- p + v,  or (Nesterov)  p <- p + mu^2 v - (1 + mu) lr g
            vi = mu * v[i] - lr * gi
            v[i] = vi
            if nesterov:
                p[i] = p[i] + mu2 * vi - lr1mu * gi
            else:
                p[i] = p[i] + vi
        else:
            # b <- mu b + g;  p <- p - lr b,  or (Nesterov)  p <- p - lr (g + mu b)
            vi = mu * v[i] + gi
            v[i] = vi
            if nesterov:
                p[i] = p[i] - lr * (gi + mu * vi)
            else:
                p[i] = p[i] - lr * vi


def momentum_update_(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                     double lr, double momentum, double weight_decay, bint nesterov,
                     bint textbook):
    """Momentum or Nesterov step, in place on ``param`` and ``velocity``.

    With ``g = grad + weight_decay * param`` and ``mu = momentum``:

    - ``textbook`` (velocity holds a step): ``v <- mu v - lr g``, then
      ``p <- p + v`` or, with ``nesterov``, ``p <- p + mu^2 v - (1 + mu) lr g``;
    - otherwise (PyTorch's SGD; velocity holds a gradient average):
      ``b <- mu b + g``, then ``p <- p - lr b`` or ``p <- p - lr (g + mu b)``.

    Parameters
    ----------
    param, velocity : floating[::1], mutated
    grad : floating[::1]
    lr, momentum, weight_decay : float
    nesterov, textbook : bool
    """
    cdef Py_ssize_t n = param.shape[0], nc = _chunks(n), c, lo
    if n == 0:
        return
    cdef floating* p = &param[0]
    cdef const floating* g = &grad[0]
    cdef floating* v = &velocity[0]
    # Python-side products, as the textbook's NumPy code rounds them.
    cdef double mu2 = momentum * momentum, lr1mu = (1 + momentum) * lr
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _momentum(p + lo, g + lo, v + lo, bound(n, c + 1, nc) - lo, <floating>lr,
                  <floating>momentum, <floating>weight_decay, <floating>mu2, <floating>lr1mu,
                  nesterov, textbook)


# ------------------------------------------------------ AdaGrad, RMSprop -----
cdef inline void _rmsprop(floating* p, const floating* g, floating* h, Py_ssize_t n,
                          floating lr, floating decay, floating scale, floating eps,
                          floating wd) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, hi
    for i in range(n):
        gi = g[i]
        if wd != 0:
            gi = gi + wd * p[i]
        hi = decay * h[i] + scale * gi * gi
        h[i] = hi
        p[i] = p[i] - lr * gi / (vsqrt(hi) + eps)


def rmsprop_update_(floating[::1] param, const floating[::1] grad, floating[::1] h,
                    double lr, double decay, double scale, double eps, double weight_decay):
    """RMSprop or AdaGrad step, in place on ``param`` and ``h``.

    With ``g = grad + weight_decay * param``:
    ``h <- decay h + scale g^2;  p <- p - lr g / (sqrt(h) + eps)``.
    RMSprop: ``decay = rho``, ``scale = 1 - rho``; AdaGrad: ``decay = scale = 1``.

    Parameters
    ----------
    param, h : floating[::1], mutated
    grad : floating[::1]
    lr, decay, scale, eps, weight_decay : float
    """
    cdef Py_ssize_t n = param.shape[0], nc = _chunks(n), c, lo
    if n == 0:
        return
    cdef floating* p = &param[0]
    cdef const floating* g = &grad[0]
    cdef floating* hp = &h[0]
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _rmsprop(p + lo, g + lo, hp + lo, bound(n, c + 1, nc) - lo, <floating>lr,
                 <floating>decay, <floating>scale, <floating>eps, <floating>weight_decay)


# -------------------------------------------------------------- Adam(W) -----
cdef inline void _adam(floating* p, const floating* g, floating* m, floating* v, Py_ssize_t n,
                       floating step_size, floating one_minus_beta1, floating one_minus_beta2,
                       floating eps, floating inv_bias2_sqrt, floating wd,
                       floating shrink) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating gi, pi, mi, vi
    for i in range(n):
        gi = g[i]
        pi = p[i]
        if wd != 0:
            gi = gi + wd * pi
        if shrink != 1:
            pi = pi * shrink
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = v[i] + one_minus_beta2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * mi / (vsqrt(vi) * inv_bias2_sqrt + eps)


def adam_update_(floating[::1] param, const floating[::1] grad, floating[::1] m,
                 floating[::1] v, double step_size, double beta1, double beta2, double eps,
                 double inv_bias2_sqrt, double weight_decay, double shrink):
    """Adam or AdamW step, in place on ``param``, ``m`` and ``v``.

    With ``g = grad + weight_decay * param`` (coupled L2) and ``p <- shrink p``
    (decoupled decay, AdamW: ``shrink = 1 - lr lambda``)::

        m <- m + (1 - beta1) (g - m)
        v <- v + (1 - beta2) (g^2 - v)
        p <- p - step_size m / (sqrt(v) inv_bias2_sqrt + eps)

    The textbook folds both bias corrections into ``step_size`` and passes
    ``inv_bias2_sqrt = 1``; PyTorch passes ``step_size = lr / (1 - beta1^t)``
    and ``inv_bias2_sqrt = 1 / sqrt(1 - beta2^t)``, so eps sits outside the
    corrected root.

    Parameters
    ----------
    param, m, v : floating[::1], mutated
    grad : floating[::1]
    step_size, beta1, beta2, eps, inv_bias2_sqrt, weight_decay, shrink : float
    """
    cdef Py_ssize_t n = param.shape[0], nc = _chunks(n), c, lo
    if n == 0:
        return
    cdef floating* p = &param[0]
    cdef const floating* g = &grad[0]
    cdef floating* mp = &m[0]
    cdef floating* vp = &v[0]
    for c in prange(nc, nogil=True, num_threads=nc, schedule="static", use_threads_if=nc > 1):
        lo = bound(n, c, nc)
        _adam(p + lo, g + lo, mp + lo, vp + lo, bound(n, c + 1, nc) - lo, <floating>step_size,
              <floating>(1.0 - beta1), <floating>(1.0 - beta2), <floating>eps,
              <floating>inv_bias2_sqrt, <floating>weight_decay, <floating>shrink)
