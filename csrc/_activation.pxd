# Element-wise activations, their derivatives and the loops that apply them,
# shared by the activation and affine kernels. This file is the compiled half
# of an activation's declaration; fastnet/_activation.py is the other half
# (codes, parameters, gains) and fastnet/reference/activations.py its NumPy twin.
#
# The derivative backprop(dy, y, a, kind, param) receives both the output y
# and the pre-activation a. Where the derivative is a function of y (identity,
# relu, sigmoid, tanh, leaky_relu, elu) the layers keep only y and `a` is never
# read; gelu, gelu_tanh and silu are not monotone and read `a`.
#
# The activation is a *type* (the fused type Activation) inside the loops, so
# each loop is compiled once per activation with the choice made at compile
# time. With the choice a run-time switch inside the loop, gcc neither
# vectorized the loops nor removed the branch of ReLU's mask, which
# mispredicts on random data: 5 ns per element instead of ~0.2 (measured on
# a 512 x 1024 backward). elementwise() below turns the run-time code into
# the type once per call: it is the only place that lists the codes.
#
# Precision: Cython writes an integer literal in a float expression as the
# double 1.0, so float32 expressions such as dy * (y * (1 - y)) are evaluated
# in double and rounded once. The backward formulas of relu, sigmoid and tanh
# and ReLU's forward are kept exactly as they were, so their results are
# bit-identical to earlier builds (tests/test_activations.py checks them
# against frozen formulas).
#
# exp and tanh: every activation that needs them uses the vectorisable
# vexp/vtanh of _vmath.pxd, so its loops run at the module's vector width.
# Sigmoid is 1 / (1 + vexp(-a)) in the data's own type (float32 lanes for
# float32) and tanh is vtanh: within 2.5 and 2 ulps of the exact values
# (tests/test_activations.py). They were libm's scalar calls, 2.5-11 ns per
# value, up to 10x NumPy's own vectorised tanh (bench/RESULTS.md).
#
# Adding an activation: an enum value, a tag type in the fused type, its
# lines in activate() and backprop() (and needs_input() if it reads a), and
# its branch in elementwise().

from cython cimport floating
from libc.math cimport erf, erff, expm1, expm1f

from _vmath cimport vexp, vtanh

cdef enum:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    LEAKY_RELU = 4
    ELU = 5
    GELU = 6
    GELU_TANH = 7
    SILU = 8

ctypedef struct Identity:
    char unused
ctypedef struct Relu:
    char unused
ctypedef struct Sigmoid:
    char unused
ctypedef struct Tanh:
    char unused
ctypedef struct LeakyRelu:
    char unused
ctypedef struct Elu:
    char unused
ctypedef struct Gelu:
    char unused
ctypedef struct GeluTanh:
    char unused
ctypedef struct Silu:
    char unused

ctypedef fused Activation:
    Identity
    Relu
    Sigmoid
    Tanh
    LeakyRelu
    Elu
    Gelu
    GeluTanh
    Silu

cdef inline floating _sigmoid(floating a) noexcept nogil:
    # the 1s in the data's type: a double literal would widen the float32 lanes
    cdef floating one = 1
    return one / (one + vexp(-a))


# GELU's constants as PyTorch writes them: 0.7071... = 1/sqrt(2), 0.3989... =
# 1/sqrt(2 pi), 0.7978... = sqrt(2/pi), kappa = 0.044715 (0.134145 = 3 kappa).

cdef inline floating _normal_cdf(floating a) noexcept nogil:
    if floating is float:
        return <floating>0.5 * (1 + erff(a * <floating>0.70710678118654752440))
    else:
        return 0.5 * (1 + erf(a * 0.70710678118654752440))


cdef inline floating _gelu_tanh_inner(floating a) noexcept nogil:
    return vtanh(<floating>0.79788456080286535588 * (a + <floating>0.044715 * (a * a * a)))


cdef inline bint needs_input(Activation kind) noexcept nogil:
    """Whether backprop() reads the pre-activation ``a``."""
    return Activation is Gelu or Activation is GeluTanh or Activation is Silu


cdef inline floating activate(floating a, Activation kind, floating param) noexcept nogil:
    """The activation of the pre-activation value ``a`` (``param``: slope or alpha)."""
    if Activation is Relu:
        # written so that NaN passes through, as in np.maximum(a, 0)
        return 0 if a <= 0 else a
    elif Activation is Sigmoid:
        return _sigmoid(a)
    elif Activation is Tanh:
        return vtanh(a)
    elif Activation is LeakyRelu:
        return a if a > 0 else a * param
    elif Activation is Elu:
        if floating is float:
            return a if a > 0 else param * expm1f(a)
        else:
            return a if a > 0 else param * expm1(a)
    elif Activation is Gelu:
        return a * _normal_cdf(a)
    elif Activation is GeluTanh:
        return <floating>0.5 * a * (1 + _gelu_tanh_inner(a))
    elif Activation is Silu:
        return a / (1 + vexp(-a))
    else:
        return a


cdef inline floating backprop(floating dy, floating y, floating a, Activation kind,
                              floating param) noexcept nogil:
    """``dy * act'(a)``, given the output ``y = act(a)`` and, if needs_input(), ``a``."""
    cdef floating s, t
    if Activation is Relu:
        # a select, as the textbook's mask (dout[x <= 0] = 0): the gradient is 0
        # where the unit is off, even for an infinite dy; it vectorizes as a blend
        return dy if y > 0 else 0
    elif Activation is Sigmoid:
        return dy * (y * (1 - y))
    elif Activation is Tanh:
        return dy * (1 - y * y)
    elif Activation is LeakyRelu:
        # y > 0 exactly where a > 0 for a slope >= 0 (the registry's bound)
        return dy if y > 0 else dy * param
    elif Activation is Elu:
        # for a <= 0, alpha exp(a) = y + alpha (alpha >= 0: y > 0 exactly where a > 0)
        return dy if y > 0 else dy * (y + param)
    elif Activation is Gelu:
        return dy * (_normal_cdf(a) + a * (<floating>0.39894228040143267794 * vexp(<floating>-0.5 * a * a)))
    elif Activation is GeluTanh:
        t = _gelu_tanh_inner(a)
        return dy * (<floating>0.5 * (1 + t)
                     + <floating>0.5 * a * (1 - t * t)
                     * (<floating>0.79788456080286535588 * (1 + <floating>0.134145 * a * a)))
    elif Activation is Silu:
        s = 1 / (1 + vexp(-a))
        return dy * (s * (1 + a * (1 - s)))
    else:
        return dy


# -- the element-wise passes ------------------------------------------------------
# One function runs every pass for one activation type; the kernels pick the
# pass with `op` (outside the loops) and the activation with elementwise().

cdef enum:
    FORWARD = 0        # out[k] = act(x[k]), k < n * m
    BACKWARD = 1       # out[k] = backprop(x[k], y[k], a[k]): x holds dy
    BIAS_FORWARD = 2   # out[i, j] = act(out[i, j] + b[j]); pre[i, j] = out + b if pre
    BIAS_BACKWARD = 3  # out[i, j] = backprop(out, y, a)[i, j]; db[j] = sum_i out[i, j]

cdef enum:
    OK = 0
    UNKNOWN_CODE = 1
    MISSING_INPUT = 2  # a backward pass of an activation that needs `a`, with a NULL


cdef inline int _passes(int op, floating* out, const floating* x, const floating* y,
                        const floating* a, const floating* b, floating* pre, floating* db,
                        Py_ssize_t n, Py_ssize_t m, floating param,
                        Activation kind) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef floating* keep
    cdef const floating* out_row
    cdef const floating* a_row
    if op == BACKWARD or op == BIAS_BACKWARD:
        if needs_input(kind):
            if a == NULL:
                return MISSING_INPUT
        else:
            a = y  # never read (backprop ignores it); any valid pointer
    if op == FORWARD:
        for i in range(n * m):
            out[i] = activate(x[i], kind, param)
    elif op == BACKWARD:
        for i in range(n * m):
            out[i] = backprop(x[i], y[i], a[i], kind, param)
    elif op == BIAS_FORWARD:
        for i in range(n):
            row = out + i * m
            if pre == NULL:
                for j in range(m):
                    row[j] = activate(row[j] + b[j], kind, param)
            else:
                # keep x @ W + b for backward while the row is in cache
                keep = pre + i * m
                for j in range(m):
                    keep[j] = row[j] + b[j]
                    row[j] = activate(keep[j], kind, param)
    elif op == BIAS_BACKWARD:
        # One pass: out (dL/dy) becomes d(pre-activation) and is summed into db.
        for j in range(m):
            db[j] = 0
        for i in range(n):
            row = out + i * m
            out_row = y + i * m
            a_row = a + i * m
            for j in range(m):
                row[j] = backprop(row[j], out_row[j], a_row[j], kind, param)
                db[j] += row[j]
    return OK


cdef inline int elementwise(int op, int code, floating* out, const floating* x,
                            const floating* y, const floating* a, const floating* b,
                            floating* pre, floating* db, Py_ssize_t n, Py_ssize_t m,
                            floating param) noexcept nogil:
    """Run pass ``op`` for activation ``code``; return OK, UNKNOWN_CODE or MISSING_INPUT.

    With ``n = 0`` no loop runs: the call only checks ``code`` and ``a``.
    """
    cdef Identity identity
    cdef Relu relu
    cdef Sigmoid sigmoid
    cdef Tanh tanh_
    cdef LeakyRelu leaky_relu
    cdef Elu elu
    cdef Gelu gelu
    cdef GeluTanh gelu_tanh
    cdef Silu silu
    if code == IDENTITY:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, identity)
    elif code == RELU:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, relu)
    elif code == SIGMOID:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, sigmoid)
    elif code == TANH:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, tanh_)
    elif code == LEAKY_RELU:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, leaky_relu)
    elif code == ELU:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, elu)
    elif code == GELU:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, gelu)
    elif code == GELU_TANH:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, gelu_tanh)
    elif code == SILU:
        return _passes(op, out, x, y, a, b, pre, db, n, m, param, silu)
    return UNKNOWN_CODE


cdef inline int raise_on_error(int status, int code, str input_name) except -1:
    """Turn elementwise()'s status into the ValueError a kernel raises (after nogil)."""
    if status == UNKNOWN_CODE:
        raise ValueError(f"activation code {code} is not compiled; use "
                         f"fastnet._activation.activation_code(name)")
    if status == MISSING_INPUT:
        raise ValueError(f"activation code {code} needs {input_name} (the pre-activation) "
                         f"for its derivative; got None")
    return 0
