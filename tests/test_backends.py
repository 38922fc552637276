"""fastnet.kernels and fastnet.reference export the same functions with the same signatures."""
import inspect

import numpy as np
import pytest

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


# -- every kernel checks the sizes it reads and writes --------------------------------------
# The compiled cores take their sizes from one or two arguments and trust the rest: an
# array of another size was read or written past its end (a segfault, a corrupted heap, or
# numbers from beyond the array); the NumPy twins broadcast, indexed out of range or raised
# errors naming no argument. Each case is a valid call; each of the named arguments, given
# another first-axis size, must be the same ValueError naming it in both backends.
BACKENDS = pytest.mark.parametrize("ops", [fk, ref], ids=["compiled", "reference"])
N, D, M, H, T = 3, 4, 5, 2, 2


def _z(*shape):
    return np.zeros(shape, np.float64)


_KERNEL_CALLS = {
    "activation_forward": (lambda: dict(x=_z(N), out=_z(N), activation=1), ["out"]),
    "activation_backward": (lambda: dict(dout=_z(N), y=_z(N), x=_z(N), dx=_z(N), activation=1),
                            ["y", "x", "dx"]),
    "affine_forward": (lambda: dict(x=_z(N, D), W=_z(D, M), b=_z(M), out=_z(N, M),
                                    preact=_z(N, M)), ["W", "b", "out", "preact"]),
    "affine_backward": (lambda: dict(dout=_z(N, M), x=_z(N, D), W=_z(D, M), dx=_z(N, D),
                                     dW=_z(D, M), db=_z(M)), ["dout", "W", "dx", "dW", "db"]),
    "affine_activation_backward_": (
        lambda: dict(dout=_z(N, M), y=_z(N, M), preact=_z(N, M), activation=1, param=0.0,
                     x=_z(N, D), W=_z(D, M), dx=_z(N, D), dW=_z(D, M), db=_z(M)),
        ["dout", "y", "preact", "W", "dx", "dW", "db"]),
    "batchnorm_forward_train_": (
        lambda: dict(x=_z(N, D), gamma=_z(D), beta=_z(D), eps=1e-5, out=_z(N, D), mean=_z(D),
                     inv_std=_z(D), running_mean=_z(D), running_var=_z(D), momentum=0.9,
                     var_correction=1.0),
        ["gamma", "beta", "out", "mean", "inv_std", "running_mean", "running_var"]),
    "batchnorm_forward_infer": (
        lambda: dict(x=_z(N, D), gamma=_z(D), beta=_z(D), running_mean=_z(D),
                     running_var=_z(D), eps=1e-5, out=_z(N, D)),
        ["gamma", "beta", "running_mean", "running_var", "out"]),
    "batchnorm_backward": (
        lambda: dict(dout=_z(N, D), x=_z(N, D), gamma=_z(D), mean=_z(D), inv_std=_z(D),
                     dx=_z(N, D), dgamma=_z(D), dbeta=_z(D)),
        ["dout", "gamma", "mean", "inv_std", "dx", "dgamma", "dbeta"]),
    "dropout_forward_": (lambda: dict(x=_z(N), mask=_z(N), ratio=0.5, scale=1.0, out=_z(N)),
                         ["mask", "out"]),
    "dropout_backward": (lambda: dict(dout=_z(N), mask=_z(N), dx=_z(N)), ["mask", "dx"]),
    "dropout_scale": (lambda: dict(x=_z(N), scale=0.5, out=_z(N)), ["out"]),
    "gemm": (lambda: dict(a=_z(N, D), b=_z(D, M), out=_z(N, M)), ["b", "out"]),
    "lstm_forward": (
        lambda: dict(x=_z(T, N, D), h0=_z(N, H), c0=_z(N, H), W=_z(D + H, 4 * H), b=_z(4 * H),
                     gate_order="ifog", gates=_z(T, N, 4 * H), c=_z(T, N, H), h=_z(T, N, H)),
        ["h0", "c0", "W", "b", "gates", "c", "h"]),
    "lstm_backward": (
        lambda: dict(dh=_z(T, N, H), dc_last=_z(N, H), x=_z(T, N, D), h0=_z(N, H), c0=_z(N, H),
                     W=_z(D + H, 4 * H), gate_order="ifog", gates=_z(T, N, 4 * H),
                     c=_z(T, N, H), h=_z(T, N, H), dgates=_z(T, N, 4 * H), dx=_z(T, N, D),
                     dh0=_z(N, H), dc0=_z(N, H), dW=_z(D + H, 4 * H), db=_z(4 * H)),
        ["dh", "dc_last", "h0", "c0", "W", "gates", "c", "h", "dgates", "dx", "dh0", "dc0", "dW",
         "db"]),
    "lstm_infer": (
        lambda: dict(x=_z(T, N, D), h0=_z(N, H), c0=_z(N, H), W=_z(D + H, 4 * H), b=_z(4 * H),
                     gate_order="ifog", work=_z(N, 5 * H + D), h=_z(T, N, H), c_n=_z(N, H)),
        ["h0", "c0", "W", "b", "work", "h", "c_n"]),
    "sgd_update_": (lambda: dict(param=_z(N), grad=_z(N), lr=0.1), ["grad"]),
    "momentum_update_": (lambda: dict(param=_z(N), grad=_z(N), velocity=_z(N), lr=0.1,
                                      momentum=0.9, weight_decay=0.0, nesterov=False,
                                      textbook=True), ["grad", "velocity"]),
    "rmsprop_update_": (lambda: dict(param=_z(N), grad=_z(N), h=_z(N), lr=0.1, decay=0.9,
                                     scale=0.1, eps=1e-7, weight_decay=0.0), ["grad", "h"]),
    "adam_update_": (lambda: dict(param=_z(N), grad=_z(N), m=_z(N), v=_z(N), step_size=0.1,
                                  beta1=0.9, beta2=0.99, eps=1e-7, inv_bias2_sqrt=1.0,
                                  weight_decay=0.0, shrink=1.0), ["grad", "m", "v"]),
    "softmax_cross_entropy": (lambda: dict(logits=_z(N, M), labels=np.zeros(N, np.int64),
                                           dlogits=_z(N, M)), ["labels", "dlogits"]),
    "softmax_cross_entropy_onehot": (lambda: dict(logits=_z(N, M), t=_z(N, M), dlogits=_z(N, M)),
                                     ["t", "dlogits"]),
}


def test_kernel_call_table_covers_every_kernel():
    # accumulate_stats_ checked its sizes already (tests/test_diagnostics_stats.py)
    assert sorted(_KERNEL_CALLS) == sorted(set(fk.__all__) - {"accumulate_stats_"})


@BACKENDS
@pytest.mark.parametrize("kernel", sorted(_KERNEL_CALLS))
def test_kernel_accepts_its_valid_call(ops, kernel):
    make, _ = _KERNEL_CALLS[kernel]
    getattr(ops, kernel)(**make())


@pytest.mark.parametrize("kernel, arg", [(k, a) for k, (_, args) in sorted(_KERNEL_CALLS.items())
                                         for a in args])
@pytest.mark.parametrize("extra", [1000, -1])
@BACKENDS
def test_kernel_rejects_an_argument_of_another_size(ops, kernel, arg, extra):
    # The first axis of each named argument is fixed by the others; many more rows
    # than the call reads (an unchecked core left them alone) or one fewer (it wrote
    # past the end).
    make, _ = _KERNEL_CALLS[kernel]
    kwargs = make()
    good = kwargs[arg]
    kwargs[arg] = np.zeros((good.shape[0] + extra,) + good.shape[1:], good.dtype)
    with pytest.raises(ValueError, match=rf"^{arg}\b.* must have shape"):
        getattr(ops, kernel)(**kwargs)


@BACKENDS
@pytest.mark.parametrize("label", [-1, M, 2**40])
def test_softmax_cross_entropy_kernel_rejects_labels_outside_the_classes(ops, label):
    # The core indexes each row by its label: an outside label read past the row (or,
    # far outside, anywhere in memory).
    labels = np.array([0, label, 1], np.int64)
    with pytest.raises(ValueError, match=rf"labels must be class indices in \[0, {M}\); "
                                         rf"labels\[1\] is {label}"):
        ops.softmax_cross_entropy(_z(N, M), labels, _z(N, M))


@BACKENDS
@pytest.mark.parametrize("kernel", ["lstm_forward", "lstm_backward", "lstm_infer"])
@pytest.mark.parametrize("gate_order", ["ifo", "iffo", "abcd", None])
def test_lstm_kernels_reject_a_gate_order_that_is_not_a_permutation(ops, kernel, gate_order):
    kwargs = _KERNEL_CALLS[kernel][0]()
    kwargs["gate_order"] = gate_order
    with pytest.raises(ValueError, match="gate_order must be a permutation of 'ifog'"):
        getattr(ops, kernel)(**kwargs)
