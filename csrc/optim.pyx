"""Optimizer update kernels: one in-place pass over a flat parameter array.

(Also ``tiling``, which tells the optimizer when all its parameters form one
flat array, so that one kernel call updates them all, ``held_step``,
which tells it that their flat state is still in place and at which step, and
``pack_scalars``/``unpack_scalars``, which move float scalar parameters in
and out of one such array.)

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
``fastnet._kernels.threads``). By default that happens from 2^16 elements
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
cimport numpy as cnp
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.ref cimport PyObject
from cython cimport floating
from libc.stdlib cimport free, malloc, qsort
from _parallel cimport load_parallel
from _shapes cimport check_dims
from _optim cimport ADAM, MOMENTUM, NESTEROV, RMSPROP, SGD, TEXTBOOK, update_pass

import numpy as np

cnp.import_array()
load_parallel()

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)


# ------------------------------------------------------------ one-buffer layout -----
cdef struct _Span:
    Py_ssize_t address  # of the first byte
    Py_ssize_t nbytes
    Py_ssize_t index    # in the caller's list


cdef int _by_address(const void* a, const void* b) noexcept nogil:
    cdef Py_ssize_t x = (<const _Span*>a).address, y = (<const _Span*>b).address
    return (x > y) - (x < y)


cdef int _float_type(object obj, bint writable):
    """``obj``'s NumPy type number (NPY_FLOAT or NPY_DOUBLE) if it is a C-contiguous
    native-order float32/float64 array (writable if asked), else -1. Read from the
    array struct: the buffer protocol took ~100 ns an array."""
    if not isinstance(obj, cnp.ndarray):
        return -1
    cdef cnp.ndarray a = <cnp.ndarray>obj
    cdef int t = cnp.PyArray_TYPE(a)
    if ((t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISNOTSWAPPED(a) or (writable and not cnp.PyArray_ISWRITEABLE(a))):
        return -1
    return t


cdef inline object _base_of(cnp.ndarray a):
    """The array owning ``a``'s memory as NumPy records it: ``a.base``, or ``a`` itself."""
    cdef PyObject* base = cnp.PyArray_BASE(a)
    return a if base == NULL else <object>base


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
    cdef Py_ssize_t nbytes
    cdef int dtype = -1
    cdef cnp.ndarray a, owner_array
    cdef bint one_d
    if n == 0:
        return None
    cdef _Span* spans = <_Span*>malloc(n * sizeof(_Span))
    if spans == NULL:
        raise MemoryError()
    try:
        owner = None
        shapes = []
        for i in range(n):
            obj = arrays[i]
            if _float_type(obj, writable) < 0:
                return None
            a = <cnp.ndarray>obj
            if dtype < 0:
                dtype, itemsize = cnp.PyArray_TYPE(a), cnp.PyArray_ITEMSIZE(a)
            elif cnp.PyArray_TYPE(a) != dtype:
                return None
            shapes.append(obj.shape)
            nbytes = cnp.PyArray_NBYTES(a)
            if nbytes:  # an empty array takes no memory: its address means nothing
                spans[m].address = <Py_ssize_t>cnp.PyArray_DATA(a)
                spans[m].nbytes = nbytes
                spans[m].index = i
                m += 1
                base = _base_of(a)
                if owner is None:
                    owner = base
                elif base is not owner:
                    return None
        if m == 0 or _float_type(owner, False) != dtype:
            return None
        owner_array = <cnp.ndarray>owner
        owner_start = <Py_ssize_t>cnp.PyArray_DATA(owner_array)
        owner_end = owner_start + cnp.PyArray_NBYTES(owner_array)
        one_d = cnp.PyArray_NDIM(owner_array) == 1
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
        return owner, spans[0].address, ("f" if dtype == cnp.NPY_FLOAT else "d", total,
                                         tuple(offsets), tuple(shapes))
    finally:
        free(spans)


def held_step(object state, tuple keys, list stdicts, tuple names, list views):
    """The step count of a flat state group's keys, while the optimizer's
    ``state`` still holds that group; else None.

    The optimizer's flat state group (``_FlatGroup.held_step`` in
    fastnet/optim/_base.py) asks this every step. It holds when ``state`` is
    a dict, ``state[keys[i]] is stdicts[i]`` for every i,
    ``stdicts[i][names[j]] is views[i * len(names) + j]`` for every i and j,
    and every ``stdicts[i]['step']`` is one and the same int, which is
    returned. Anything else (a dict replaced, an array rebound or deleted,
    steps that differ or are not ints): None. The lookups run in C: for
    Adam over net T's 10 parameters, 30 identity tests and 10 step counts
    that took ~2 us in Python, once per member and step in a NetBatch. Not
    a kernel: it reads no array, and serves both backends.
    """
    cdef Py_ssize_t i, j, n = len(stdicts), m = len(names)
    if type(state) is not dict or len(keys) != n or len(views) != n * m or n == 0:
        return None
    cdef dict states = <dict>state
    step = None
    for i in range(n):
        st = states.get(keys[i])
        if st is not stdicts[i]:
            return None
        for j in range(m):
            try:
                if st[names[j]] is not views[i * m + j]:
                    return None
            except KeyError:  # an array was deleted
                return None
        try:
            t = st["step"]
        except KeyError:
            return None
        if type(t) is not int or (step is not None and t != step):
            return None
        step = t
    return step


# ----------------------------------------------------- float64 scalars -----
cdef object _FLOAT64 = np.float64


cdef inline bint _is_float64_scalar(object x):
    return PyFloat_CheckExact(x) or type(x) is _FLOAT64


cdef double* _float64_data(cnp.ndarray a, Py_ssize_t n) except NULL:
    if (cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISWRITEABLE(a) or cnp.PyArray_SIZE(a) != n):
        raise ValueError(f"expected a writable C-contiguous float64 array of {n} elements")
    return <double*>cnp.PyArray_DATA(a)


def pack_scalars(object params, object grads, cnp.ndarray values, cnp.ndarray grad_values):
    """Copy float64 scalar parameters and gradients into two flat arrays.

    The optimizer's one-call update of scalars (``Optimizer._scalar_args``
    in fastnet/optim/_base.py: the textbook's optimizer-path script keeps x
    and y as Python floats) calls this every step: ~2 us of packing in
    Python. Not a kernel: it serves both backends.

    Parameters
    ----------
    params, grads : dict
        Exactly ``dict`` (anything else: False).
    values, grad_values : ndarray, float64, C-contiguous, writable, ``len(params)`` elements
        Written with ``params``' values in its order and ``grads``' values
        under the same keys.

    Returns
    -------
    bool
        Whether every value of both dicts is a Python float or
        ``numpy.float64`` and ``grads`` has exactly ``params``' keys (then
        both arrays are written; else what they hold means nothing).
    """
    if type(params) is not dict or type(grads) is not dict:
        return False
    cdef dict ps = <dict>params, gs = <dict>grads
    cdef Py_ssize_t n = len(ps), i = 0
    if n == 0 or len(gs) != n:
        return False
    cdef double* p = _float64_data(values, n)
    cdef double* g = _float64_data(grad_values, n)
    for key, x in ps.items():
        y = gs.get(key)
        if y is None or not (_is_float64_scalar(x) and _is_float64_scalar(y)):
            return False
        p[i] = PyFloat_AS_DOUBLE(x)  # numpy.float64 is a float subclass of the same layout
        g[i] = PyFloat_AS_DOUBLE(y)
        i += 1
    return True


def unpack_scalars(dict params, tuple keys, cnp.ndarray values):
    """Set ``params[keys[i]]`` to ``numpy.float64(values[i])`` for every i (the
    write-back of :func:`pack_scalars`'s parameters once updated).

    ``values``: float64, C-contiguous, ``len(keys)`` elements; ``keys`` are
    ``params``' own keys, so its size does not change.
    """
    cdef Py_ssize_t n = len(keys), i
    cdef double* p = _float64_data(values, n)
    cdef cnp.dtype descr = values.descr
    for i in range(n):
        params[keys[i]] = PyArray_Scalar(&p[i], descr, None)


# ---------------------------------------------------------------- SGD -----
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
    check_dims("grad", grad.shape, 1, param.shape[0])
    if param.shape[0] == 0:
        return
    cdef double a[2]
    a[0], a[1] = lr, weight_decay
    with nogil:
        update_pass(SGD, 0, &param[0], &grad[0], <floating*>NULL, <floating*>NULL,
                    param.shape[0], a)


# ----------------------------------------------------- Momentum, Nesterov -----
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
    check_dims("grad", grad.shape, 1, param.shape[0])
    check_dims("velocity", velocity.shape, 1, param.shape[0])
    if param.shape[0] == 0:
        return
    cdef double a[3]
    a[0], a[1], a[2] = lr, momentum, weight_decay
    cdef int flags = (NESTEROV if nesterov else 0) | (TEXTBOOK if textbook else 0)
    with nogil:
        update_pass(MOMENTUM, flags, &param[0], &grad[0], &velocity[0], <floating*>NULL,
                    param.shape[0], a)


# ------------------------------------------------------ AdaGrad, RMSprop -----
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
    check_dims("grad", grad.shape, 1, param.shape[0])
    check_dims("h", h.shape, 1, param.shape[0])
    if param.shape[0] == 0:
        return
    cdef double a[5]
    a[0], a[1], a[2], a[3], a[4] = lr, decay, scale, eps, weight_decay
    with nogil:
        update_pass(RMSPROP, 0, &param[0], &grad[0], &h[0], <floating*>NULL, param.shape[0], a)


# -------------------------------------------------------------- Adam(W) -----
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
    check_dims("grad", grad.shape, 1, param.shape[0])
    check_dims("m", m.shape, 1, param.shape[0])
    check_dims("v", v.shape, 1, param.shape[0])
    if param.shape[0] == 0:
        return
    cdef double a[7]
    a[0], a[1], a[2], a[3] = step_size, beta1, beta2, eps
    a[4], a[5], a[6] = inv_bias2_sqrt, weight_decay, shrink
    with nogil:
        update_pass(ADAM, 0, &param[0], &grad[0], &m[0], &v[0], param.shape[0], a)
