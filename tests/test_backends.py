"""fastnet.kernels and fastnet.reference export the same functions with the same signatures."""
import inspect

import fastnet.kernels as fk
import fastnet.reference as ref


def test_same_names():
    assert sorted(fk.__all__) == sorted(ref.__all__)
    for name in fk.__all__:
        assert callable(getattr(fk, name)) and callable(getattr(ref, name))


def test_same_signatures():
    for name in fk.__all__:
        kernel_params = list(inspect.signature(getattr(fk, name)).parameters)
        reference_params = list(inspect.signature(getattr(ref, name)).parameters)
        assert kernel_params == reference_params, name


def test_kernels_are_compiled():
    for name in fk.__all__:
        module = inspect.getmodule(getattr(fk, name)) or __import__(getattr(fk, name).__module__, fromlist=["_"])
        assert module.__name__.startswith("fastnet._kernels."), name
        assert module.__file__.endswith(".so"), module.__file__
