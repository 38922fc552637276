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

from _activation cimport (IDENTITY, RELU, SIGMOID, TANH, Activation, Identity, Relu,
                          Sigmoid, Tanh, activate, backprop)
from _blas cimport gemm, load_blas

load_blas()


# The element-wise passes walk rows through raw pointers and take the
# activation as a type (see _activation.pxd), so that gcc vectorizes them.

cdef void _bias_activation_rows(floating* out, const floating* b, Py_ssize_t n,
                                Py_ssize_t m, Activation kind) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating* row
    for i in range(n):
        row = out + i * m
        for j in range(m):
            row[j] = activate(row[j] + b[j], kind)


cdef void _activation_bias_grad_rows(floating* dout, const floating* y, Py_ssize_t n,
                                     Py_ssize_t m, floating* db,
                                     Activation kind) noexcept nogil:
    # One pass: dout becomes d(pre-activation) and is summed into db.
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef const floating* out
    for j in range(m):
        db[j] = 0
    for i in range(n):
        row = dout + i * m
        out = y + i * m
        for j in range(m):
            row[j] = backprop(row[j], out[j], kind)
            db[j] += row[j]


cdef void _bias_activation(floating[:, ::1] out, const floating[::1] b,
                           int activation) noexcept nogil:
    cdef Py_ssize_t n = out.shape[0], m = out.shape[1]
    cdef Identity identity
    cdef Relu relu
    cdef Sigmoid sigmoid
    cdef Tanh tanh_
    if activation == RELU:
        _bias_activation_rows(&out[0, 0], &b[0], n, m, relu)
    elif activation == SIGMOID:
        _bias_activation_rows(&out[0, 0], &b[0], n, m, sigmoid)
    elif activation == TANH:
        _bias_activation_rows(&out[0, 0], &b[0], n, m, tanh_)
    else:
        _bias_activation_rows(&out[0, 0], &b[0], n, m, identity)


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


cdef void _activation_bias_grad(floating[:, ::1] dout, const floating[:, ::1] y,
                                int activation, floating[::1] db) noexcept nogil:
    cdef Py_ssize_t n = dout.shape[0], m = dout.shape[1]
    cdef Identity identity
    cdef Relu relu
    cdef Sigmoid sigmoid
    cdef Tanh tanh_
    if activation == RELU:
        _activation_bias_grad_rows(&dout[0, 0], &y[0, 0], n, m, &db[0], relu)
    elif activation == SIGMOID:
        _activation_bias_grad_rows(&dout[0, 0], &y[0, 0], n, m, &db[0], sigmoid)
    elif activation == TANH:
        _activation_bias_grad_rows(&dout[0, 0], &y[0, 0], n, m, &db[0], tanh_)
    else:
        _activation_bias_grad_rows(&dout[0, 0], &y[0, 0], n, m, &db[0], identity)


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
                   int activation=IDENTITY):
    """Write ``act(x @ W + b)`` into ``out``.

    Parameters
    ----------
    x : (N, D) float32 or float64, C-contiguous
    W : (D, M) same dtype
    b : (M,) same dtype
    out : (N, M) same dtype, overwritten
    activation : int
        Code from ``fastnet._activation.ACTIVATIONS`` (0 identity, 1 relu,
        2 sigmoid, 3 tanh).
    """
    cdef int n = x.shape[0], d = x.shape[1], m = W.shape[1]
    with nogil:
        gemm(False, False, n, m, d, <floating>1, &x[0, 0], d, &W[0, 0], m,
             <floating>0, &out[0, 0], m)
        _bias_activation(out, b, activation)


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
                                int activation, const floating[:, ::1] x,
                                const floating[:, ::1] W, floating[:, ::1] dx,
                                floating[:, ::1] dW, floating[::1] db,
                                double weight_decay=0):
    """Gradients of ``y = act(x @ W + b)`` given ``dout = dL/dy``.

    ``dout`` (N, M) is overwritten with ``dL/d(x @ W + b) = dout * act'(y)``;
    then as :func:`affine_backward`. ``y`` (N, M) is the forward output.
    """
    cdef bint want_dx = dx is not None
    with nogil:
        _activation_bias_grad(dout, y, activation, db)
        _weight_input_grads(dout, x, W, dx, want_dx, dW, weight_decay)
