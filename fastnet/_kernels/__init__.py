"""Compiled kernels, one module per concept, built from ``csrc/<name>.pyx``.

Kernels trust their arguments: shapes, dtypes and contiguity are checked by
the Python layer (``fastnet.layers``, ``fastnet.optim`` ...) before any call.
"""
