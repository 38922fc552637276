"""The activations and init-compare experiments: the textbook's qualitative results."""
import csv

import numpy as np
import pytest

from fastnet.experiments import EXPERIMENTS, get_experiment


@pytest.fixture(scope="module")
def activations(tmp_path_factory):
    out = tmp_path_factory.mktemp("activations")
    result = get_experiment("activations").run(out, seed=0, quick=True)
    by = {}
    for row in result["stats"]:
        by.setdefault((row["activation"], row["init"]), []).append(row)
    return result, by, out


def test_registered():
    assert EXPERIMENTS["activations"] == "activations"
    assert EXPERIMENTS["init-compare"] == "init_compare"


def test_sigmoid_std1_saturates(activations):
    _, by, _ = activations
    for row in by[("sigmoid", "std=1")]:
        assert row["frac_saturated"] > 0.5  # most activations near 0 or 1
        assert row["std"] > 0.4


def test_sigmoid_std001_collapses_to_half(activations):
    _, by, _ = activations
    rows = by[("sigmoid", "std=0.01")]
    for row in rows:
        assert abs(row["mean"] - 0.5) < 0.01 and row["frac_saturated"] == 0
    assert all(r["std"] < 0.02 for r in rows[1:])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_xavier_spreads_sigmoid_and_tanh(activations, activation):
    _, by, _ = activations
    for row in by[(activation, "Xavier")]:
        assert row["std"] > (0.08 if activation == "sigmoid" else 0.25)
        assert row["frac_saturated"] < 0.15
    # ... unlike std 0.01 (collapsed) in every layer after the first
    small = by[(activation, "std=0.01")]
    assert all(s["std"] < x["std"] / 4 for s, x in zip(small[1:], by[(activation, "Xavier")][1:]))


def test_relu_he_keeps_std_while_small_std_shrinks(activations):
    _, by, _ = activations
    he = [r["std"] for r in by[("relu", "He")]]
    assert max(he) / min(he) < 1.5
    small = [r["std"] for r in by[("relu", "std=0.01")]]
    assert all(b < a * 0.2 for a, b in zip(small, small[1:]))
    xavier = [r["std"] for r in by[("relu", "Xavier")]]
    assert all(b < a for a, b in zip(xavier, xavier[1:]))  # the textbook's slow decay
    for row in by[("relu", "He")]:
        assert 0.4 < row["frac_zero"] < 0.6


def test_histograms_and_csv(activations):
    result, by, out = activations
    counts = result["hist"][("tanh", "He")]
    assert counts.shape == (5, 30) and counts.sum(axis=1).max() <= 1000 * 100
    assert counts.sum() == 5 * 1000 * 100  # tanh outputs all fall in (-1, 1)
    with open(out / "activations_stats.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 4 * 5
    assert float(rows[0]["std"]) == pytest.approx(by[("sigmoid", "std=1")][0]["std"])
    with open(out / "activations_hist.csv") as f:
        assert sum(1 for _ in f) == 1 + 3 * 4 * 5 * 30


@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_layer_stats_match_numpy(backend):
    # The saturation test is strict (sigmoid < 0.05 or > 0.95, |tanh| > 0.9), the
    # moments are NumPy's to rounding, the counts numpy.histogram's exactly.
    from fastnet.experiments.activations import BINS, HIST_RANGE, layer_stats
    rng = np.random.default_rng(3)
    for act, edge_values in (("sigmoid", [0.05, 0.95]), ("tanh", [-0.9, 0.9]), ("relu", [0.0])):
        low, high = HIST_RANGE[act]
        edges = np.array(edge_values * 6)[:6]
        a = np.concatenate([rng.uniform(low, high, 994), edges]).reshape(50, 20)
        if act == "relu":
            a = np.maximum(a, 0)
        row, counts = layer_stats(act, a, backend)
        np.testing.assert_array_equal(counts, np.histogram(a, np.linspace(low, high, BINS + 1))[0])
        saturated = {"sigmoid": (a < 0.05) | (a > 0.95), "tanh": np.abs(a) > 0.9,
                     "relu": np.zeros(a.shape, bool)}[act]
        assert row["frac_saturated"] == np.mean(saturated)
        assert row["frac_zero"] == np.mean(a == 0)
        assert (row["min"], row["max"]) == (a.min(), a.max())
        assert row["mean"] == pytest.approx(a.mean(), rel=1e-12, abs=1e-15)
        assert row["std"] == pytest.approx(a.std(), rel=1e-12)


@pytest.mark.parametrize("backend", ["compiled", "reference"])
def test_activations_are_the_textbook_chain(backend):
    # Every layer's statistics are those of h <- act(h @ W) in NumPy, W drawn per layer
    # in the experiment's order from the same seed (the textbook's script, zero bias).
    from fastnet.experiments.activations import ACTIVATIONS, INITS
    from fastnet.init import get_initializer
    result = get_experiment("activations").run(seed=4, n_samples=300, node_num=30,
                                               n_layers=3, backend=backend)
    functions = {"sigmoid": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh,
                 "relu": lambda a: np.maximum(a, 0)}
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 30))
    rows = iter(result["stats"])
    for act in ACTIVATIONS:
        for label, spec in INITS.items():
            h = x
            for layer in range(1, 4):
                h = functions[act](h @ get_initializer(spec)((30, 30), rng, np.float64))
                row = next(rows)
                assert (row["activation"], row["init"], row["layer"]) == (act, label, layer)
                assert row["mean"] == pytest.approx(h.mean(), rel=1e-9, abs=1e-12)
                assert row["std"] == pytest.approx(h.std(), rel=1e-9, abs=1e-12)
                assert row["max"] == pytest.approx(h.max(), rel=1e-9, abs=1e-12)
    assert next(rows, None) is None


def _synthetic_mnist(rng, centers, n):
    """Samples around given cluster centres (100 features, pixel-like range)."""
    t = rng.integers(0, len(centers), n)
    x = np.clip(centers[t] + 0.2 * rng.standard_normal((n, centers.shape[1])), 0, 1)
    return x.astype(np.float32), t


def test_init_compare_on_synthetic_data(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.uniform(0, 1, (10, 100))
    data = (_synthetic_mnist(rng, centers, 600), _synthetic_mnist(rng, centers, 200))
    result = get_experiment("init-compare").run(tmp_path, seed=0, iterations=80, data=data)
    loss = result["loss"]
    assert set(loss) == {"std=0.01", "Xavier", "He", "LSUV"}
    assert all(v.shape == (80,) for v in loss.values())
    # std 0.01 does not learn: its loss stays at log(10)
    assert abs(loss["std=0.01"][-20:].mean() - np.log(10)) < 0.05
    for label in ("He", "LSUV"):
        assert loss[label][-20:].mean() < 0.5 * np.log(10)
    assert all(r["converged"] for r in result["lsuv"])
    assert (tmp_path / "init_compare_loss.csv").exists()
    with open(tmp_path / "init_compare_final.csv") as f:
        final = list(csv.DictReader(f))
    assert [r["init"] for r in final] == ["std=0.01", "Xavier", "He", "LSUV"]
    assert all(float(r["test_acc"]) > 0.9 for r in final if r["init"] in ("He", "LSUV"))
