"""Optimizer update kernels: one in-place pass over a flat parameter array.

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
from cython cimport floating
from cython.parallel cimport prange
from _parallel cimport bound, chunks, load_parallel
from _vmath cimport vsqrt

load_parallel()


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
