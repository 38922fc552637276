"""The optimizer-paths and optimizer-compare experiments."""
import math

import numpy as np
import pytest

from fastnet.experiments import EXPERIMENTS, get_experiment
from fastnet.experiments import optimizer_compare, optimizer_paths


def test_registered():
    assert get_experiment("optimizer-paths") is optimizer_paths
    assert get_experiment("optimizer-compare") is optimizer_compare
    assert EXPERIMENTS["optimizer-paths"] == "optimizer_paths"


@pytest.fixture(scope="module")
def paths_result(tmp_path_factory):
    return optimizer_paths.run(tmp_path_factory.mktemp("paths"))


def test_paths_end_closer_to_the_minimum(paths_result):
    start = math.hypot(*optimizer_paths.START)
    for name, path in paths_result["paths"].items():
        assert path.shape == (31, 2)
        np.testing.assert_array_equal(path[0], optimizer_paths.START)
        assert math.hypot(*path[-1]) < start, name
        assert optimizer_paths.f(*path[-1]) < optimizer_paths.f(*path[0]), name


def test_sgd_zig_zags(paths_result):
    y = paths_result["paths"]["SGD"][:, 1]
    assert np.sum(np.sign(y[1:]) != np.sign(y[:-1])) >= 5


def test_paths_equal_reference_backend(paths_result):
    ref = optimizer_paths.compute_paths(backend="reference")
    for name, path in paths_result["paths"].items():
        np.testing.assert_allclose(path, ref[name], rtol=1e-13, atol=1e-13)


def test_paths_first_sgd_step_by_hand(paths_result):
    # grad at (-7, 2) = (-0.7, 4); SGD lr 0.95 -> (-7 + 0.665, 2 - 3.8)
    np.testing.assert_allclose(paths_result["paths"]["SGD"][1], [-6.335, -1.8], rtol=1e-14)


def test_paths_csv(paths_result):
    text = paths_result["csv"].read_text().splitlines()
    assert text[0] == "optimizer,step,x,y"
    assert len(text) == 1 + 6 * 31


def _synthetic(rng, n=300):
    """Separable 784-dimensional data: class k lights up block k of the inputs."""
    t = rng.integers(0, 10, n)
    x = rng.random((n, 784)).astype(np.float32) * 0.2
    for k in range(10):
        x[t == k, k * 78:(k + 1) * 78] += 0.8
    return (x, t), (x[:100], t[:100]), "synthetic"


def test_compare_quick_on_synthetic_data(tmp_path, rng):
    res = optimizer_compare.run(tmp_path, quick=True, data=_synthetic(rng),
                                optimizers=("SGD", "Adam", "AdamW"))
    assert set(res["losses"]) == {"SGD", "Adam", "AdamW"}
    for name, losses in res["losses"].items():
        assert len(losses) == 60 and np.isfinite(losses).all()
        assert res["smoothed"][name].shape == losses.shape
    # Adam learns this easy task in 60 steps; the loss falls well below log(10)
    assert res["smoothed"]["Adam"][-1] < 0.5 * math.log(10)
    header = res["csv"].read_text().splitlines()[0]
    assert header.startswith("iteration,SGD loss")


def test_compare_is_reproducible(rng):
    data = _synthetic(rng, 200)
    a = optimizer_compare.run(None, quick=True, data=data, optimizers=("Momentum",), iterations=5)
    b = optimizer_compare.run(None, quick=True, data=data, optimizers=("Momentum",), iterations=5)
    np.testing.assert_array_equal(a["losses"]["Momentum"], b["losses"]["Momentum"])
