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

from _activation cimport (BIAS_BACKWARD, BIAS_FORWARD, OK, elementwise,
                          raise_on_error)
from _blas cimport gemm, load_blas

load_blas()


cdef void _bias_grad(const floating[:, ::1] da, floating[::1] db) noexcept nogil:
    cdef Py_ssize_t i, j, m = da.shape[1]
    cdef const floating* row
    cdef floating* acc = &db[0]
    for j in range(m):
        acc[j] = 0
    for i in range(da.shape[0]):
        row = &da[i, 0]
        for j in range(m):
            acc[j] += row[j]


cdef void _weight_input_grads(const floating[:, ::1] da, const floating[:, ::1] x,
                              const floating[:, ::1] W, floating[:, ::1] dx,
                              bint want_dx, floating[:, ::1] dW,
                              double weight_decay) noexcept nogil:
    cdef int n = da.shape[0], m = da.shape[1], d = x.shape[1]
    cdef Py_ssize_t i, j
    cdef floating beta = 0
    if weight_decay != 0:
        # dW = lambda W + x.T @ da: seed dW with lambda W and let GEMM accumulate.
        for i in range(d):
            for j in range(m):
                dW[i, j] = <floating>weight_decay * W[i, j]
        beta = 1
    gemm(True, False, d, m, n, <floating>1, &x[0, 0], d, &da[0, 0], m,
         beta, &dW[0, 0], m)
    if want_dx:
        gemm(False, True, n, d, m, <floating>1, &da[0, 0], m, &W[0, 0], m,
             <floating>0, &dx[0, 0], d)


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
    cdef int n = x.shape[0], d = x.shape[1], m = W.shape[1]
    cdef floating* pre = NULL if preact is None else &preact[0, 0]
    cdef int status
    with nogil:
        # n = 0: only checks the code, so that nothing is written for a bad one
        status = elementwise(BIAS_FORWARD, activation, &out[0, 0], NULL, NULL, NULL,
                             &b[0], pre, NULL, 0, 0, <floating>param)
        if status == OK:
            gemm(False, False, n, m, d, <floating>1, &x[0, 0], d, &W[0, 0], m,
                 <floating>0, &out[0, 0], m)
            elementwise(BIAS_FORWARD, activation, &out[0, 0], NULL, NULL, NULL, &b[0],
                        pre, NULL, n, m, <floating>param)
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
    cdef bint want_dx = dx is not None
    with nogil:
        _bias_grad(dout, db)
        _weight_input_grads(dout, x, W, dx, want_dx, dW, weight_decay)


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
    cdef bint want_dx = dx is not None
    cdef const floating* a = NULL if preact is None else &preact[0, 0]
    cdef int status
    with nogil:
        status = elementwise(BIAS_BACKWARD, activation, &dout[0, 0], NULL, &y[0, 0], a,
                             NULL, NULL, &db[0], dout.shape[0], dout.shape[1],
                             <floating>param)
        if status == OK:
            _weight_input_grads(dout, x, W, dx, want_dx, dW, weight_decay)
    raise_on_error(status, activation, "preact")
