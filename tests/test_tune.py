"""fastnet.tune: distributions, the validation split, random search, ASHA, n_jobs, results."""
import csv
import json
import math
import os

import numpy as np
import pytest
from processes import alive
from scipy import stats

from fastnet import tune
from fastnet.tune import MLP, choice, intrange, loguniform, logintrange, random_search, uniform


def blobs(n=240, d=8, classes=3, seed=0):
    """Gaussian blobs: separable enough that a good lr learns in a few epochs, 1e-6 does not."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.0, (classes, d))
    t = rng.integers(0, classes, n)
    x = (centers[t] + rng.normal(0, 1.0, (n, d))).astype(np.float32)
    return x, t


BUILD = MLP(8, [16], 3, optimizer="sgd")


# -- distributions --------------------------------------------------------------------

def test_loguniform_is_uniform_in_log_space():
    rng = np.random.default_rng(1)
    draws = np.array([loguniform(1e-6, 1e-2).sample(rng) for _ in range(4000)])
    assert draws.min() >= 1e-6 and draws.max() < 1e-2
    u = (np.log10(draws) + 6) / 4
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # and clearly not uniform on the linear scale: most draws are far below the midpoint
    assert np.mean(draws < 0.5e-2) > 0.9


def test_uniform_and_integer_ranges():
    rng = np.random.default_rng(2)
    u = np.array([uniform(-1.0, 3.0).sample(rng) for _ in range(2000)])
    assert u.min() >= -1 and u.max() < 3 and stats.kstest((u + 1) / 4, "uniform").pvalue > 1e-3
    ints = [intrange(2, 4).sample(rng) for _ in range(600)]
    assert set(ints) == {2, 3, 4} and all(type(i) is int for i in ints)
    logints = np.array([logintrange(1, 1000).sample(rng) for _ in range(3000)])
    assert logints.min() >= 1 and logints.max() <= 1000
    # log-uniform: as many draws in [1, 31] as in [32, 1000] (each ~ half the log range)
    assert abs(np.mean(logints < 32) - 0.5) < 0.05
    picks = [choice(["a", 2, 0.5]).sample(rng) for _ in range(300)]
    assert set(picks) == {"a", 2, 0.5}


@pytest.mark.parametrize("make, message", [
    (lambda: loguniform(1e-2, 1e-6), "low < high"),
    (lambda: loguniform(0.1, 0.1), "low < high"),
    (lambda: loguniform(0, 1), "log scale, so low must be > 0"),
    (lambda: loguniform(-1, 1), "log scale"),
    (lambda: logintrange(0, 10), "log scale"),
    (lambda: uniform(1, 0), "low < high"),
    (lambda: intrange(3, 3), "low < high"),
    (lambda: choice([]), "at least one option"),
    (lambda: choice([1, 1]), "repeated"),
])
def test_bad_distributions_are_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_distribution_types():
    with pytest.raises(TypeError, match="intrange low must be an integer"):
        intrange(1.5, 3)
    with pytest.raises(TypeError, match="list of values"):
        choice("abc")
    with pytest.raises(TypeError, match="must be a distribution"):
        tune.check_space({"lr": 0.1})


@pytest.mark.parametrize("text, name, dist", [
    ("lr=log:1e-6:1e-2", "lr", loguniform(1e-6, 1e-2)),
    ("momentum=uniform:0.5:0.99", "momentum", uniform(0.5, 0.99)),
    ("width=int:10:100", "width", intrange(10, 100)),
    ("width=logint:10:1000", "width", logintrange(10, 1000)),
    ("act=choice:relu,tanh,2", "act", choice(["relu", "tanh", 2])),
])
def test_parse_distribution(text, name, dist):
    assert tune.parse_distribution(text) == (name, dist)


@pytest.mark.parametrize("text, message", [
    ("lr", "NAME=KIND:ARGS"),
    ("lr=exp:1:2", "unknown kind 'exp'"),
    ("lr=log:1e-2", "two numbers"),
    ("lr=log:a:b", "two numbers"),
    ("lr=log:1e-2:1e-6", "lr: loguniform.*low < high"),
    ("lr=log:0:1", "lr: loguniform.*low must be > 0"),
])
def test_parse_distribution_errors(text, message):
    with pytest.raises(ValueError, match=message):
        tune.parse_distribution(text)


# -- split and seeds -------------------------------------------------------------------

def test_validation_split_is_stratified_seeded_and_from_training_data_only():
    x, t = blobs()
    x_tr, t_tr, x_val, t_val = tune.split_validation(x, t, 0.25, seed=3)
    assert len(x_val) + len(x_tr) == len(x)
    for c in range(3):
        assert np.sum(t_val == c) == round(0.25 * np.sum(t == c))
    rows = {r.tobytes() for r in x_tr}
    assert not any(r.tobytes() in rows for r in x_val)
    again = tune.split_validation(x, t, 0.25, seed=3)
    assert np.array_equal(again[2], x_val)
    assert not np.array_equal(tune.split_validation(x, t, 0.25, seed=4)[2], x_val)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_validation_fraction_outside_0_1(fraction):
    x, t = blobs()
    with pytest.raises(ValueError, match="validation_fraction"):
        random_search(BUILD, {"lr": loguniform(1e-3, 1)}, x, t, n_trials=1, epochs=1,
                      validation_fraction=fraction, seed=0)


# -- the search ------------------------------------------------------------------------

def test_search_is_reproducible_and_sorted():
    x, t = blobs()
    space = {"lr": loguniform(1e-4, 1.0), "weight_decay": loguniform(1e-8, 1e-4)}
    a = random_search(BUILD, space, x, t, n_trials=5, epochs=3, batch_size=32, seed=7)
    b = random_search(BUILD, space, x, t, n_trials=5, epochs=3, batch_size=32, seed=7)
    c = random_search(BUILD, space, x, t, n_trials=5, epochs=3, batch_size=32, seed=8)
    assert a.trials == [dict(r, seconds=s["seconds"]) for r, s in zip(b.trials, a.trials)]
    assert [r["params"] for r in a.trials] != [r["params"] for r in c.trials]
    best = [r["best_val_acc"] for r in a.trials]
    assert best == sorted(best, reverse=True)
    for r in a.trials:
        assert r["epochs_run"] == 3 and len(r["val_acc_curve"]) == 3
        assert r["best_val_acc"] == max(r["val_acc_curve"])
        assert r["final_val_acc"] == r["val_acc_curve"][-1]
        assert set(r["params"]) == {"lr", "weight_decay"}
    assert a.epochs_saved == 0 and a.epochs_budget == 15


def test_trial_depends_on_seed_and_number_only():
    """Trial k of a 2-trial search equals trial k of a 4-trial search (same study seed)."""
    x, t = blobs()
    space = {"lr": loguniform(1e-3, 1.0)}
    small = random_search(BUILD, space, x, t, n_trials=2, epochs=2, batch_size=32, seed=5)
    big = random_search(BUILD, space, x, t, n_trials=4, epochs=2, batch_size=32, seed=5)
    by_number = {r["trial"]: r for r in big.trials}
    for r in small.trials:
        assert r["params"] == by_number[r["trial"]]["params"]
        assert r["val_acc_curve"] == by_number[r["trial"]]["val_acc_curve"]


def test_space_name_build_does_not_read_is_rejected_before_training():
    x, t = blobs()
    calls = []

    def build(params):  # reads lr only
        calls.append(1)
        return BUILD({"lr": params["lr"]})

    with pytest.raises(ValueError, match=r"'momentum' never read by build build\(params\)"):
        random_search(build, {"lr": loguniform(1e-3, 1), "momentum": uniform(0, 1)}, x, t,
                      n_trials=3, epochs=1, seed=0)
    assert len(calls) == 1  # the probe, no trial
    with pytest.raises(ValueError, match="'beta1' unknown to MLP.optimizer='sgd'"):
        random_search(BUILD, {"beta1": uniform(0.5, 0.9)}, x, t, n_trials=3, epochs=1, seed=0)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_weight_decay_is_the_nets_l2_once(optimizer):
    # The optimizers take a weight_decay of their own (coupled decay); MLP passed the
    # sampled value there too, so weights decayed twice and biases once.
    from fastnet import MultiLayerNetExtend
    from fastnet.optim import make_optimizer

    x, t = blobs(n=32)
    net, opt = MLP(8, [16], 3, optimizer=optimizer)({"lr": 0.1, "weight_decay": 0.05}, seed=3)
    ref = MultiLayerNetExtend(8, [16], 3, weight_decay_lambda=0.05, seed=3)
    ref_opt = make_optimizer(optimizer, lr=0.1)
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
        ref_opt.update(ref.params, ref.gradient(x, t))
    for name in ref.params:
        np.testing.assert_array_equal(net.params[name], ref.params[name], err_msg=name)


def test_build_contract_checked():
    x, t = blobs()
    with pytest.raises(TypeError, match="must return .net, optimizer."):
        random_search(lambda p: p["lr"], {"lr": loguniform(1e-3, 1)}, x, t, n_trials=1,
                      epochs=1, seed=0)
    with pytest.raises(TypeError, match="picklable"):
        random_search(lambda p: BUILD(p), {"lr": loguniform(1e-3, 1)}, x, t, n_trials=2,
                      epochs=1, seed=0, n_jobs=2)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_trials": 0}, ValueError, "n_trials"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"n_jobs": 0}, ValueError, "n_jobs"),
    ({"early_stopping": "hyperband"}, ValueError, "early_stopping"),
    ({"reduction_factor": 1}, ValueError, "reduction_factor"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
])
def test_bad_search_arguments(kwargs, error, message):
    x, t = blobs()
    args = {"n_trials": 2, "epochs": 1, "seed": 0, **kwargs}
    with pytest.raises(error, match=message):
        random_search(BUILD, {"lr": loguniform(1e-3, 1)}, x, t, **args)


# -- early abandonment -------------------------------------------------------------------

def test_asha_rungs():
    assert tune.asha_rungs(50, 1, 3) == [1, 3, 9, 27]
    assert tune.asha_rungs(9, 1, 3) == [1, 3]
    assert tune.asha_rungs(10, 2, 2) == [2, 4, 8]


def test_asha_stops_a_hopeless_lr_before_its_budget():
    x, t = blobs()
    space = {"lr": choice([0.3, 1e-6])}
    res = random_search(BUILD, space, x, t, n_trials=8, epochs=9, batch_size=32, seed=1,
                        early_stopping="asha")
    trials = sorted(res.trials, key=lambda r: r["trial"])
    first_good = min(r["trial"] for r in trials if r["params"]["lr"] == 0.3)
    hopeless = [r for r in trials if r["params"]["lr"] == 1e-6 and r["trial"] > first_good]
    assert hopeless, "the seeded case must draw lr=1e-6 after a good trial"
    assert all(r["epochs_run"] < 9 and r["stopped"] for r in hopeless)
    assert res.epochs_saved == res.epochs_budget - sum(r["epochs_run"] for r in trials) > 0
    assert "saved by early abandonment" in res.summary()


def test_asha_keeps_the_full_searchs_best():
    x, t = blobs(seed=2)
    space = {"lr": loguniform(1e-5, 1.0)}
    kw = {"n_trials": 10, "epochs": 9, "batch_size": 32, "seed": 11}
    full = random_search(BUILD, space, x, t, **kw)
    asha = random_search(BUILD, space, x, t, early_stopping="asha", **kw)
    assert asha.epochs_saved > 0
    assert asha.best["trial"] == full.best["trial"]
    assert asha.best["params"] == full.best["params"]
    assert asha.best["val_acc_curve"] == full.best["val_acc_curve"]


# -- parallel trials -------------------------------------------------------------------

def test_n_jobs_does_not_change_the_results():
    x, t = blobs()
    space = {"lr": loguniform(1e-6, 1.0), "weight_decay": loguniform(1e-8, 1e-4)}
    kw = {"n_trials": 6, "epochs": 4, "batch_size": 32, "seed": 3, "early_stopping": "asha",
          "min_epochs": 1, "reduction_factor": 2}
    one = random_search(BUILD, space, x, t, n_jobs=1, **kw)
    two = random_search(BUILD, space, x, t, n_jobs=2, **kw)

    def strip(res):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in res.trials]

    assert strip(one) == strip(two)
    assert one.epochs_run == two.epochs_run


def test_worker_thread_variables_are_set_while_workers_start_then_restored(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with tune._ChildThreads(2):
        for name in tune.THREAD_VARIABLES:
            assert os.environ[name] == str(tune.threads_per_job(2))
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OPENBLAS_NUM_THREADS" not in os.environ


def test_asha_rank_rule():
    """Continue when fewer than ceil(n / eta) of the n values at the rung are strictly better."""
    board = tune._RungBoard({}, [1], reduction_factor=3)
    assert board.keep_going(0, 1, 0.5)            # alone: continues
    assert not board.keep_going(1, 1, 0.4)        # 1 better of 2, ceil(2/3) = 1
    assert board.keep_going(2, 1, 0.5)            # a tie with the best continues
    assert not board.keep_going(3, 1, 0.45)       # 2 better of 4, ceil(4/3) = 2
    board.finish(4, 0)                            # trial 4 stopped before the rung
    assert board.keep_going(5, 1, 0.5)            # 0 better of 5 (trial 4 not counted)
    assert not board.keep_going(6, 1, 0.46)       # 3 better of 6, ceil(6/3) = 2
    assert board.store[("r", 6, 1)] == 0.46 and board.store[("d", 4)] == 0


def test_threads_per_job_never_oversubscribes():
    cores = tune.threads_per_job(1)
    for n_jobs in (1, 2, 3, 64):
        assert 1 <= tune.threads_per_job(n_jobs) * min(n_jobs, cores) <= cores


# -- results ---------------------------------------------------------------------------

def test_results_saved_as_csv_and_json(tmp_path, capsys):
    x, t = blobs()
    res = random_search(BUILD, {"lr": loguniform(1e-3, 1.0)}, x, t, n_trials=3, epochs=2,
                        batch_size=32, seed=0, progress=True)
    assert "trial 3/3" in capsys.readouterr().err
    res.save(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["trial", "lr", *tune.RESULT_COLUMNS]
    assert [float(r[1]) for r in rows[1:]] == [r["params"]["lr"] for r in res.trials]
    res.save(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["seed"] == 0 and doc["space"] == {"lr": "loguniform(0.001, 1.0)"}
    assert [d["val_acc_curve"] for d in doc["trials"]] == [r["val_acc_curve"] for r in res.trials]
    with pytest.raises(ValueError, match="results file suffix"):
        res.save(tmp_path / "r.txt")
    assert "best_val_acc" in res.table(top=2) and len(res.table(top=2).splitlines()) == 4
    with pytest.raises(TypeError, match="top must be an integer"):  # was about slice indices
        res.table(top="2")
    with pytest.raises(ValueError, match="top must be a positive integer"):  # was a header only
        res.table(top=0)
    assert math.isclose(res.best["best_val_acc"], max(r["best_val_acc"] for r in res.trials))


# -- trials in groups (batch_trials) -----------------------------------------------------

def _alone(res, kw, batch_trials, board=None):
    """Each trial of ``res`` trained alone on its group's first trial's batches, in number order."""
    x, t = blobs()
    data = tune.split_validation(x, t, 0.2, kw["seed"])
    out = []
    for r in sorted(res.trials, key=lambda r: r["trial"]):
        first = r["trial"] - r["trial"] % batch_trials
        out.append(tune.run_trial(BUILD, r["params"], r["trial"], kw["seed"], data,
                                  epochs=kw["epochs"], batch_size=kw["batch_size"], board=board,
                                  batches_of=first))
    return out


def _strip(records):
    return sorted(({k: v for k, v in r.items() if k != "seconds"} for r in records),
                  key=lambda r: r["trial"])


def test_grouped_trials_equal_the_same_trials_trained_alone_on_the_same_batches():
    x, t = blobs()
    space = {"lr": loguniform(1e-3, 1.0), "weight_decay": loguniform(1e-8, 1e-2)}
    kw = {"n_trials": 7, "epochs": 3, "batch_size": 32, "seed": 9}
    grouped = random_search(BUILD, space, x, t, batch_trials=3, **kw)  # groups of 3, 3, 1
    assert grouped.settings["batch_trials"] == 3
    assert _strip(grouped.trials) == _strip(_alone(grouped, kw, 3))
    # a group's first trial trains on its own batches: as in the search without groups
    single = {r["trial"]: r for r in _strip(random_search(BUILD, space, x, t, **kw).trials)}
    for r in _strip(grouped.trials):
        if r["trial"] % 3 == 0:
            assert r == single[r["trial"]]
        else:  # the others train on another batch order
            assert r["params"] == single[r["trial"]]["params"]


def test_asha_drops_members_from_their_group_as_alone():
    x, t = blobs()
    space = {"lr": choice([0.3, 1e-6])}
    kw = {"n_trials": 8, "epochs": 9, "batch_size": 32, "seed": 1}
    grouped = random_search(BUILD, space, x, t, batch_trials=4, early_stopping="asha", **kw)
    board = tune._RungBoard({}, tune.asha_rungs(9, 1, 3), 3)
    assert _strip(grouped.trials) == _strip(_alone(grouped, kw, 4, board))
    by_group = {}
    for r in grouped.trials:
        by_group.setdefault(r["trial"] // 4, set()).add(r["stopped"])
    # some member left its group early while another of the same group trained on
    assert any(flags == {True, False} for flags in by_group.values())
    assert grouped.epochs_saved > 0


def test_batch_trials_with_n_jobs():
    x, t = blobs()
    space = {"lr": loguniform(1e-6, 1.0)}
    kw = {"n_trials": 6, "epochs": 4, "batch_size": 32, "seed": 3, "early_stopping": "asha",
          "reduction_factor": 2, "batch_trials": 2}
    one = random_search(BUILD, space, x, t, n_jobs=1, **kw)
    two = random_search(BUILD, space, x, t, n_jobs=2, **kw)
    assert _strip(one.trials) == _strip(two.trials)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                          (True, TypeError)])
def test_bad_batch_trials(value, error):
    x, t = blobs()
    with pytest.raises(error, match="batch_trials must be"):
        random_search(BUILD, {"lr": loguniform(1e-3, 1)}, x, t, n_trials=2, epochs=1, seed=0,
                      batch_trials=value)


class _Textbookish:
    """A net with the textbook's protocol that is not a fastnet.Sequential."""

    def __init__(self):
        self.inner = BUILD({"lr": 0.1}, seed=0)[0]
        self.params = self.inner.params

    def gradient(self, x, t):
        return self.inner.gradient(x, t)

    def loss(self, x, t):
        return self.inner.loss(x, t)

    def accuracy(self, x, t):
        return self.inner.accuracy(x, t)


def test_batch_trials_needs_nets_a_netbatch_takes():
    x, t = blobs()
    calls = []

    def other(params):
        calls.append(1)
        return _Textbookish(), tune.MLP(8, [16], 3)({"lr": params["lr"]})[1]

    with pytest.raises(TypeError, match="batch_trials trains each group"):
        random_search(other, {"lr": loguniform(1e-3, 1)}, x, t, n_trials=4, epochs=1, seed=0,
                      batch_trials=2)
    assert len(calls) == 1  # refused after the probe, before any training

    def width(params, seed=None):  # searches the shape: groups cannot hold it
        return MLP(8, [params["width"]], 3)({"lr": 0.1}, seed=seed)

    with pytest.raises(ValueError, match="batch_trials trains each group.*batch_trials=1"):
        random_search(width, {"width": intrange(4, 40)}, x, t, n_trials=4, epochs=1, seed=0,
                      batch_trials=4)


_UNGUARDED_SCRIPT = """
import numpy as np
from fastnet import tune
rng = np.random.default_rng(0)
x, t = rng.random((60, 4)).astype(np.float32), np.arange(60) % 2
tune.random_search(tune.MLP(4, [3], 2), {"lr": tune.loguniform(1e-3, 1e-1)}, x, t,
                   n_trials=2, epochs=1, batch_size=10, seed=0, n_jobs=2)
print("searched")
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_a_main_guard_fails_at_once(tmp_path, guarded):
    """Workers import the calling script first; unguarded, it starts the search again there
    and the worker dies. The pool's start then waited forever (its arguments, larger than a
    pipe's buffer, still being written to the dead worker); now a probe process finds it."""
    import subprocess
    import sys
    import textwrap

    body = _UNGUARDED_SCRIPT
    if guarded:
        body = "if __name__ == '__main__':\n" + textwrap.indent(body, "    ")
    script = tmp_path / "search.py"
    script.write_text(body)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    if guarded:
        assert done.returncode == 0 and done.stdout.strip() == "searched", done.stderr
    else:
        assert done.returncode == 1 and "searched" not in done.stdout
        assert done.stderr.rstrip().splitlines()[-1].startswith(
            "RuntimeError: n_jobs > 1: a worker process could not start"), done.stderr
        assert "if __name__ == '__main__':" in done.stderr


_DYING_WORKER_SCRIPT = """
import multiprocessing, os, signal
import numpy as np
from fastnet import tune
from processes import children  # tests/ is on PYTHONPATH

DOOMED = int(tune.trial_seeds(0, 3)[1].generate_state(1)[0])  # trial 3's weights seed


def build(params, seed=None):
    if multiprocessing.parent_process() is not None:  # a worker (the parent probes build too)
        with open("workers.txt", "a") as f:
            f.write(f"{os.getpid()}\\n")
        if seed == DOOMED:
            IN_TRIAL_3
    return tune.MLP(4, [3], 2)(params, seed=seed)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x, t = rng.random((60, 4)).astype(np.float32), np.arange(60) % 2
    try:
        tune.random_search(build, {"lr": tune.loguniform(1e-3, 1e-1)}, x, t, n_trials=6,
                           epochs=2, batch_size=10, seed=0, n_jobs=2, **KWARGS)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
        print("worker traceback:", "in build" in str(exc.__cause__))
    # multiprocessing's resource tracker lives as long as the program: not the search's
    print([c for c in children() if "resource_tracker" not in c[2]])
"""


def _run_dying_worker_script(tmp_path, in_trial_3, kwargs):
    """Run the script above with ``in_trial_3`` done in trial 3's build: its output lines, the
    pids of the workers that built a trial, and those still there once it has ended (orphans).
    Fails on a timeout, killing what it started."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "search.py"
    script.write_text(_DYING_WORKER_SCRIPT.replace("IN_TRIAL_3", in_trial_3)
                      .replace("KWARGS", repr(kwargs)))
    tests = os.path.dirname(os.path.abspath(__file__))
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [
        tests, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
        workers = {int(p) for p in (tmp_path / "workers.txt").read_text().split()}
        orphans = [pid for pid in workers if alive(pid)]
    finally:  # whatever is left in the script's session goes (after a hang: all of it)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, err
    return out.splitlines(), workers, orphans


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="lists child processes through /proc")
@pytest.mark.parametrize("kwargs, trials", [
    ({}, "trial 3"),
    # the worker running trial 4 waits at rung 1 for trial 3, which never gets there
    ({"early_stopping": "asha"}, "trial 3"),
    ({"batch_trials": 2}, "trials 2 to 3"),
])
def test_a_worker_that_dies_mid_search_is_one_error_not_a_hang(tmp_path, kwargs, trials):
    """A worker killed in trial 3 (SIGKILL, as the out-of-memory killer sends): the pool
    started another and waited forever for trial 3's result. Now the search raises at once,
    naming the worker and its trials, and stops the other worker; no process is left."""
    import re

    (message, cause, left), workers, orphans = _run_dying_worker_script(
        tmp_path, "os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would",
        kwargs)
    dead = re.fullmatch(rf"WorkerDiedError: n_jobs > 1: worker process (\d+) died \(exit "
                        rf"status -9, SIGKILL\) while running {trials}; the other workers "
                        rf"were stopped\. .*", message)
    assert dead, message
    assert int(dead[1]) in workers
    assert left == "[]"  # no worker, Manager or zombie is a child of the search any more
    assert orphans == []  # nor left running once it has ended


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="lists child processes through /proc")
def test_an_error_in_a_worker_is_raised_with_its_traceback(tmp_path):
    (message, cause, left), _, orphans = _run_dying_worker_script(
        tmp_path, 'raise ValueError("trial 3 cannot be built")', {"early_stopping": "asha"})
    assert message == "ValueError: trial 3 cannot be built"
    assert cause == "worker traceback: True"
    assert left == "[]" and orphans == []


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(hidden=5), TypeError, "hidden must be a list of positive ints"),  # 'int' not iterable
    # these were accepted, and failed only when a trial built its net
    (dict(activation="bogus"), ValueError, "activation must be one of"),
    (dict(weight_init_std="bogus"), ValueError, "weight_init_std must be one of"),
    (dict(dtype="float16"), TypeError, "dtype must be float32 or float64"),
])
def test_mlp_checks_its_arguments_when_made(kwargs, error, match):
    args = dict(input_size=8, hidden=[16], output_size=3) | kwargs
    with pytest.raises(error, match=match):
        MLP(**args)
