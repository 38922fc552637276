"""Dropout kernels: apply a random keep-mask, and its backward.

The random numbers come from the caller (``fastnet.layers.Dropout`` draws
uniforms from a ``numpy.random.Generator`` into the mask buffer), so a seed
reproduces the mask exactly and the kernels hold no RNG state. Arrays are
flat, C-contiguous, of one dtype (float32 or float64) and one size; the
caller checks them. The loops are in csrc/_dropout.pxd.
"""
from cython cimport floating

from _dropout cimport APPLY_MASK, MULTIPLY, SCALE, dropout_pass
from _shapes cimport check_dims


def dropout_forward_(const floating[::1] x, floating[::1] mask, double ratio,
                     double scale, floating[::1] out):
    """Turn uniforms into a mask and apply it: one pass.

    On entry ``mask`` holds uniform draws ``u`` in [0, 1); it is overwritten
    with ``scale`` where ``u > ratio`` (kept) and 0 elsewhere, and
    ``out = x * mask``. ``scale`` is 1 for the textbook's dropout and
    ``1 / (1 - ratio)`` for inverted dropout. ``out`` may be ``x``.
    """
    check_dims("mask", mask.shape, 1, x.shape[0])
    check_dims("out", out.shape, 1, x.shape[0])
    if x.shape[0]:
        with nogil:
            dropout_pass(APPLY_MASK, &x[0], &mask[0], ratio, scale, &out[0], x.shape[0])


def dropout_backward(const floating[::1] dout, const floating[::1] mask,
                     floating[::1] dx):
    """``dx = dout * mask`` (the mask already carries the scale). ``dx`` may be ``dout``."""
    check_dims("mask", mask.shape, 1, dout.shape[0])
    check_dims("dx", dx.shape, 1, dout.shape[0])
    if dout.shape[0]:
        with nogil:
            dropout_pass(MULTIPLY, &dout[0], <floating*>&mask[0], 0, 0, &dx[0], dout.shape[0])


def dropout_scale(const floating[::1] x, double scale, floating[::1] out):
    """``out = scale * x``: the textbook's inference pass (scale ``1 - ratio``). ``out`` may be ``x``."""
    check_dims("out", out.shape, 1, x.shape[0])
    if x.shape[0]:
        with nogil:
            dropout_pass(SCALE, &x[0], <floating*>NULL, 0, scale, &out[0], x.shape[0])
