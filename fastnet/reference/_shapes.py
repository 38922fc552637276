"""The compiled entries' shape checks (csrc/_shapes.pxd), for their NumPy twins.

Given an argument of another size, NumPy broadcast a size-1 array, wrote
past the rows it should (a longer output), indexed out of range or raised an
error naming no argument; the twins raise the compiled entries' ValueError.
"""


def check_dims(name, array, *want):
    """Raise ValueError naming ``name`` unless ``array.shape`` is ``want``."""
    if array.shape != want:
        raise ValueError(f"{name} must have shape {want}; got {array.shape}")


def check_gate_order(gate_order):
    """Raise ValueError unless ``gate_order`` is a permutation of 'ifog'."""
    if not isinstance(gate_order, str) or sorted(gate_order) != ["f", "g", "i", "o"]:
        raise ValueError(f"gate_order must be a permutation of 'ifog'; got {gate_order!r}")
