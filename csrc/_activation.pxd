# Element-wise activations shared by the affine and activation kernels.
#
# Each derivative is written in terms of the activation's *output* y, which is
# what the layers keep for backward: relu' = [y > 0], sigmoid' = y (1 - y),
# tanh' = 1 - y^2. The codes match fastnet._activation.ACTIVATIONS.

from cython cimport floating
from libc.math cimport exp, tanh

cdef enum:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3


cdef inline floating activate(floating a, int activation) noexcept nogil:
    """The activation of the pre-activation value ``a``."""
    if activation == RELU:
        # written so that NaN passes through, as in np.maximum(a, 0)
        return 0 if a <= 0 else a
    if activation == SIGMOID:
        return 1 / (1 + exp(-a))
    if activation == TANH:
        return tanh(a)
    return a


cdef inline floating activation_grad(floating y, int activation) noexcept nogil:
    """d activation / d a, expressed through the output ``y = activate(a)``."""
    if activation == RELU:
        return 1 if y > 0 else 0
    if activation == SIGMOID:
        return y * (1 - y)
    if activation == TANH:
        return 1 - y * y
    return 1
