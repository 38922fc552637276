"""Affine (fully connected) layer kernels.

Forward: ``out = act(x @ W + b)`` with one GEMM and one fused pass for the
bias and the activation. Backward: the bias column-sum (with the activation's
derivative fused in when asked) and two GEMMs, ``dW = x.T @ da`` and
``dx = da @ W.T``.

All arrays are C-contiguous and share one dtype, float32 or float64; shapes
are ``x (N, D)``, ``W (D, M)``, ``b (M,)``, ``out (N, M)``. The caller
(``fastnet.layers.Affine``) validates them; these functions trust them.
"""
from cython cimport floating

from _activation cimport raise_on_error
from _affine cimport affine_activation_backward_core, affine_backward_core, affine_forward_core
from _blas cimport load_blas
from _parallel cimport load_parallel
from _shapes cimport check_dims

load_blas()
load_parallel()


cdef int _check_affine(const Py_ssize_t* x, const Py_ssize_t* W, const Py_ssize_t* b,
                       const Py_ssize_t* out) except -1:
    # The shapes of x (N, D) and W's column count M fix every other size.
    check_dims("W", W, 2, x[1], W[1])
    check_dims("b", b, 1, W[1])
    check_dims("out", out, 2, x[0], W[1])
    return 0


cdef int _check_affine_backward(const Py_ssize_t* dout, const Py_ssize_t* x,
                                const Py_ssize_t* W, const Py_ssize_t* dx,
                                const Py_ssize_t* dW, const Py_ssize_t* db) except -1:
    # As _check_affine; dx NULL when it is not computed.
    check_dims("W", W, 2, x[1], W[1])
    check_dims("dout", dout, 2, x[0], W[1])
    if dx != NULL:
        check_dims("dx", dx, 2, x[0], x[1])
    check_dims("dW", dW, 2, x[1], W[1])
    check_dims("db", db, 1, W[1])
    return 0


def affine_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                   const floating[::1] b, floating[:, ::1] out,
                   int activation=0, double param=0.0, floating[:, ::1] preact=None):
    """Write ``act(x @ W + b)`` into ``out``.

    Parameters
    ----------
    x : (N, D) float32 or float64, C-contiguous
    W : (D, M) same dtype
    b : (M,) same dtype
    out : (N, M) same dtype, overwritten
    activation : int
        Code from ``fastnet._activation.REGISTRY`` (0 identity).
    param : float
        The activation's parameter (leaky ReLU's slope, ELU's alpha).
    preact : (N, M) same dtype, or None
        If given, overwritten with the pre-activation ``x @ W + b`` (what the
        backward pass of an activation with ``needs_input`` reads), in the
        same pass as the activation.

    ValueError for an unknown activation code (before anything is written).
    """
    cdef floating* pre
    cdef int status
    _check_affine(x.shape, W.shape, b.shape, out.shape)
    if preact is not None:
        check_dims("preact", preact.shape, 2, x.shape[0], W.shape[1])
    pre = NULL if preact is None else &preact[0, 0]
    with nogil:
        status = affine_forward_core(&x[0, 0], &W[0, 0], &b[0], &out[0, 0], pre, x.shape[0],
                                     x.shape[1], W.shape[1], activation, <floating>param)
    raise_on_error(status, activation, "preact")


def affine_backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                    const floating[:, ::1] W, floating[:, ::1] dx,
                    floating[:, ::1] dW, floating[::1] db,
                    double weight_decay=0):
    """Gradients of ``out = x @ W + b`` given ``dout = dL/d out``.

    Writes ``dW = x.T @ dout + weight_decay * W`` (D, M), ``db = dout.sum(0)``
    (M,) and, unless ``dx`` is None, ``dx = dout @ W.T`` (N, D). ``dout`` is
    read only.
    """
    cdef floating* dx_data
    _check_affine_backward(dout.shape, x.shape, W.shape,
                           NULL if dx is None else &dx.shape[0], dW.shape, db.shape)
    dx_data = NULL if dx is None else &dx[0, 0]
    with nogil:
        affine_backward_core(&dout[0, 0], &x[0, 0], &W[0, 0], dx_data, &dW[0, 0], &db[0],
                             x.shape[0], x.shape[1], W.shape[1], weight_decay)


def affine_activation_backward_(floating[:, ::1] dout, const floating[:, ::1] y,
                                const floating[:, ::1] preact, int activation,
                                double param, const floating[:, ::1] x,
                                const floating[:, ::1] W, floating[:, ::1] dx,
                                floating[:, ::1] dW, floating[::1] db,
                                double weight_decay=0):
    """Gradients of ``y = act(a)``, ``a = x @ W + b``, given ``dout = dL/dy``.

    ``dout`` (N, M) is overwritten with ``dL/da = dout * act'(a)``; then as
    :func:`affine_backward`. ``y`` (N, M) is the forward output; ``preact``
    (N, M) the pre-activation ``a`` written by :func:`affine_forward`, read
    only by activations whose derivative needs it (the registry's
    ``needs_input``) and may be None for the others. ``param`` is the
    activation's parameter. ValueError, with nothing written, for an unknown
    code or a missing ``preact``.
    """
    cdef floating* dx_data
    cdef const floating* a
    cdef int status
    _check_affine_backward(dout.shape, x.shape, W.shape,
                           NULL if dx is None else &dx.shape[0], dW.shape, db.shape)
    check_dims("y", y.shape, 2, x.shape[0], W.shape[1])
    if preact is not None:
        check_dims("preact", preact.shape, 2, x.shape[0], W.shape[1])
    dx_data = NULL if dx is None else &dx[0, 0]
    a = NULL if preact is None else &preact[0, 0]
    with nogil:
        status = affine_activation_backward_core(
            &dout[0, 0], &y[0, 0], a, activation, <floating>param, &x[0, 0], &W[0, 0],
            dx_data, &dW[0, 0], &db[0], x.shape[0], x.shape[1], W.shape[1], weight_decay)
    raise_on_error(status, activation, "preact")
