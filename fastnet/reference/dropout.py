"""Dropout in NumPy (reference for csrc/dropout.pyx); same signatures."""
import numpy as np


def dropout_forward_(x, mask, ratio, scale, out):
    """``mask`` holds uniforms on entry; becomes ``scale`` where ``u > ratio``, else 0; ``out = x * mask``."""
    kept = mask > ratio
    np.multiply(kept, mask.dtype.type(scale), out=mask)
    np.multiply(x, mask, out=out)


def dropout_backward(dout, mask, dx):
    """``dx = dout * mask``."""
    np.multiply(dout, mask, out=dx)


def dropout_scale(x, scale, out):
    """``out = scale * x``."""
    np.multiply(x, x.dtype.type(scale), out=out)
