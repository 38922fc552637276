"""Every experiment runs on ``backend='reference'`` and gives the compiled run's numbers.

``bench/experiments.py`` times each ``fastnet experiment`` on both backends;
these tests make sure that comparison is honest. For each experiment, a small
run on each backend (same seed) must

- call only its own backend's kernels: every function of ``fastnet.kernels``
  and of ``fastnet.reference`` is wrapped to count its calls (and a compiled
  net's one-call pass counts as compiled), so a net, layer or optimizer left
  on the compiled default fails the reference run; and
- give the same results within the dtype's tolerance (``tests/numerics.py``):
  the reference is the NumPy twin of the same math, and the runs are a few
  steps long, too short for rounding differences to grow past it. Accuracies
  are multiples of ``1/N``, so they must be equal.
"""
import collections
import contextlib
import io

import numpy as np
import pytest
from numerics import tol

import fastnet.kernels
import fastnet.reference
from fastnet._kernels import program as program_kernels
from fastnet._program import CompiledPass
from fastnet.datasets import load_mnist
from fastnet.experiments import EXPERIMENTS, get_experiment

BACKENDS = {"compiled": fastnet.kernels, "reference": fastnet.reference}


@pytest.fixture(scope="module")
def data():
    """400 training and 200 test samples of the packaged MNIST sample."""
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, sample=True)
    return (x_train[:400], t_train[:400]), (x_test[:200], t_test[:200])


def curves(result, key):
    """``{setting: (train, test)}`` curves (overfit) as flat arrays per setting and split."""
    return {f"{name} {split}": c for name, pair in result[key].items()
            for split, c in zip(("train", "test"), pair)}


def trials(result):
    """The search's per-trial sampled params and accuracy curves, in trial order."""
    rows = sorted(result["result"].trials, key=lambda r: r["trial"])
    return {"lr": [r["params"]["lr"] for r in rows],
            "weight_decay": [r["params"]["weight_decay"] for r in rows],
            "val_acc": [r["val_acc_curve"] for r in rows],
            "train_acc": [r["train_acc_curve"] for r in rows]}


# name -> (run keyword arguments given data, the dtype computed in, the numbers to compare)
CASES = {
    "activations": (
        lambda d: {"n_samples": 200, "node_num": 40}, np.float64,
        lambda r: {"stats": [[v for k, v in row.items() if k not in ("activation", "init")]
                             for row in r["stats"]],
                   **{f"hist {k}": v for k, v in r["hist"].items()}}),
    "init-compare": (
        lambda d: {"iterations": 10, "batch_size": 32, "data": d, "dtype": np.float64},
        np.float64,
        lambda r: {**r["loss"], "final": [row[1:] for row in r["final"]],
                   "lsuv variance": [layer["variance"] for layer in r["lsuv"]]}),
    "batchnorm": (
        lambda d: {"epochs": 3, "train_size": 200, "num_scales": 3}, np.float32,
        lambda r: {"bn_train_acc": r["bn_train_acc"], "train_acc": r["train_acc"]}),
    "overfit": (
        lambda d: {"quick": True, "epochs": 3, "train_size": 200}, np.float32,
        lambda r: curves(r, "curves")),
    "optimizer-paths": (
        lambda d: {}, np.float64,
        lambda r: r["paths"]),
    "optimizer-compare": (
        lambda d: {"iterations": 8, "batch_size": 32, "data": (*d, "sample")}, np.float32,
        lambda r: {**r["losses"], "test acc": [row[3] for row in r["table"]]}),
    "lstm": (
        lambda d: {"quick": True, "epochs": 1, "hidden": 8}, np.float32,
        lambda r: {f"{n} layers {k}": m[k] for n, m in r["models"].items()
                   for k in ("loss", "train_acc", "test_acc")}),
    "ensemble": (
        lambda d: {"k": 2, "epochs": 1, "data": (*d, "sample")}, np.float32,
        lambda r: {"member_acc": r["member_acc"], "ensemble_acc": r["ensemble_acc"]}),
    "hyperparam": (
        lambda d: {"n_trials": 3, "epochs": 2, "train_size": 200, "hidden": (20, 20),
                   "data": (*d, "sample")}, np.float32,
        trials),
}


def test_every_experiment_has_a_case():
    assert sorted(CASES) == sorted(EXPERIMENTS)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Count the calls of every kernel of both backends: ``{backend: Counter(name -> calls)}``."""
    calls = {backend: collections.Counter() for backend in BACKENDS}

    def counting(function, counter, name):
        def wrapper(*args, **kwargs):
            counter[name] += 1
            return function(*args, **kwargs)
        return wrapper

    for backend, module in BACKENDS.items():
        for name in fastnet.kernels.__all__:
            monkeypatch.setattr(module, name, counting(getattr(module, name), calls[backend], name))
    # A compiled net's whole pass (and, for NetBatch members, their updates) runs the
    # compiled kernels' cores in one call, not through the functions above.
    for owner, name in ((CompiledPass, "run"), (program_kernels, "run_many")):
        monkeypatch.setattr(owner, name, counting(getattr(owner, name), calls["compiled"], name))
    return calls


@pytest.mark.parametrize("name", sorted(CASES))
def test_experiment_on_both_backends(name, data, kernel_calls):
    kwargs, dtype, numbers = CASES[name]
    results = {}
    for backend in BACKENDS:
        for counter in kernel_calls.values():
            counter.clear()
        # batchnorm's net without batch norm at weight scale 1 diverges to inf/NaN (as it
        # should); NumPy warns about it where the compiled kernels carry on silently
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(over="ignore",
                                                                    invalid="ignore"):
            results[backend] = numbers(get_experiment(name).run(seed=2, backend=backend,
                                                                **kwargs(data)))
        others = {b: dict(c) for b, c in kernel_calls.items() if b != backend and c}
        assert not others, f"{name} on backend={backend!r} called {others}"
        assert kernel_calls[backend], f"{name} on backend={backend!r} called no kernel"
    compiled, reference = results["compiled"], results["reference"]
    assert compiled.keys() == reference.keys()
    for key in compiled:
        np.testing.assert_allclose(np.asarray(compiled[key], dtype=np.float64),
                                   np.asarray(reference[key], dtype=np.float64),
                                   err_msg=f"{name}: {key}", **tol(dtype))


@pytest.mark.parametrize("name", sorted(CASES))
def test_experiment_rejects_an_unknown_backend(name):
    with pytest.raises(ValueError, match="backend must be one of"):
        get_experiment(name).run(backend="numpy")
