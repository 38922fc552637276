"""Activation names and the integer codes the kernels take (see csrc/_activation.pxd)."""

ACTIVATIONS = {"identity": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


def activation_code(name):
    """Return the kernel code of activation ``name`` ('identity', 'relu', 'sigmoid', 'tanh')."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}; got {name!r}"
        ) from None
