# Element-wise activations shared by the affine and activation kernels.
#
# Each derivative is written in terms of the activation's *output* y, which is
# what the layers keep for backward: relu' = [y > 0], sigmoid' = y (1 - y),
# tanh' = 1 - y^2. The codes match fastnet._activation.ACTIVATIONS.
#
# The activation is a *type* (the fused type Activation) inside the loops, so
# each loop is compiled once per activation with the choice made at compile
# time. With the choice a run-time switch inside the loop, gcc neither
# vectorized the loops nor removed the branch of ReLU's mask, which
# mispredicts on random data: 5 ns per element instead of ~0.2 (measured on
# a 512 x 1024 backward). A kernel turns the run-time code into the type once
# per call, with the tags below.

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf

cdef enum:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3

ctypedef struct Identity:
    char unused
ctypedef struct Relu:
    char unused
ctypedef struct Sigmoid:
    char unused
ctypedef struct Tanh:
    char unused

ctypedef fused Activation:
    Identity
    Relu
    Sigmoid
    Tanh


cdef inline floating activate(floating a, Activation kind) noexcept nogil:
    """The activation of the pre-activation value ``a``."""
    if Activation is Relu:
        # written so that NaN passes through, as in np.maximum(a, 0)
        return 0 if a <= 0 else a
    elif Activation is Sigmoid:
        if floating is float:
            return 1 / (1 + expf(-a))
        else:
            return 1 / (1 + exp(-a))
    elif Activation is Tanh:
        if floating is float:
            return tanhf(a)
        else:
            return tanh(a)
    else:
        return a


cdef inline floating backprop(floating dy, floating y, Activation kind) noexcept nogil:
    """``dy * act'(a)``, the derivative expressed through the output ``y = act(a)``."""
    if Activation is Relu:
        # a select, as the textbook's mask (dout[x <= 0] = 0): the gradient is 0
        # where the unit is off, even for an infinite dy; it vectorizes as a blend
        return dy if y > 0 else 0
    elif Activation is Sigmoid:
        return dy * (y * (1 - y))
    elif Activation is Tanh:
        return dy * (1 - y * y)
    else:
        return dy
