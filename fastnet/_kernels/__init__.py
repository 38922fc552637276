"""Compiled kernels, one module per concept, built from ``csrc/<name>.pyx``.

Kernels trust their arguments: shapes, dtypes and contiguity are checked by
the Python layer (``fastnet.layers``, ``fastnet.optim`` ...) before any call.
Element-wise modules load from the build for this CPU's vector width
(``fastnet._simd``).
"""
from fastnet._simd import install_finder

install_finder()
