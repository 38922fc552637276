"""Dropout in NumPy (reference for csrc/dropout.pyx); same signatures."""
import numpy as np
from fastnet.reference._shapes import check_dims


def dropout_forward_(x, mask, ratio, scale, out):
    """``mask`` holds uniforms on entry; becomes ``scale`` where ``u > ratio``, else 0; ``out = x * mask``."""
    check_dims("mask", mask, *x.shape)
    check_dims("out", out, *x.shape)
    kept = mask > ratio
    np.multiply(kept, mask.dtype.type(scale), out=mask)
    np.multiply(x, mask, out=out)


def dropout_backward(dout, mask, dx):
    """``dx = dout * mask``."""
    check_dims("mask", mask, *dout.shape)
    check_dims("dx", dx, *dout.shape)
    np.multiply(dout, mask, out=dx)


def dropout_scale(x, scale, out):
    """``out = scale * x``."""
    check_dims("out", out, *x.shape)
    np.multiply(x, x.dtype.type(scale), out=out)
