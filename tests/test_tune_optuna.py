"""fastnet.tune.optuna_search and fastnet tune's Optuna options: samplers, pruners, shared storage."""
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from fastnet import tune
from fastnet.cli import main
from fastnet.tune import MLP, choice, loguniform, optuna_search

optuna = pytest.importorskip("optuna", reason="Optuna tests need the tune extra "
                                               "(pip install optuna)")


def blobs(n=240, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2.0, (classes, d))
    t = rng.integers(0, classes, n)
    return (centers[t] + rng.normal(0, 1.0, (n, d))).astype(np.float32), t


BUILD = MLP(8, [16], 3, optimizer="sgd")
SPACE = {"lr": loguniform(1e-4, 1.0), "weight_decay": loguniform(1e-8, 1e-4)}
#: a storage nothing listens on: port 1 refuses at once
UNREACHABLE = "postgresql://fastnet:secret@127.0.0.1:1/fastnet"


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_in_memory_study_is_seeded_and_sorted(sampler):
    x, t = blobs()
    a = optuna_search(BUILD, SPACE, x, t, n_trials=4, epochs=2, batch_size=32, seed=3,
                      sampler=sampler)
    b = optuna_search(BUILD, SPACE, x, t, n_trials=4, epochs=2, batch_size=32, seed=3,
                      sampler=sampler)
    assert len(a.trials) == 4 and sorted(r["trial"] for r in a.trials) == [0, 1, 2, 3]
    assert [r["params"] for r in a.trials] == [r["params"] for r in b.trials]
    assert [r["val_acc_curve"] for r in a.trials] == [r["val_acc_curve"] for r in b.trials]
    best = [r["best_val_acc"] for r in a.trials]
    assert best == sorted(best, reverse=True)
    assert a.study.best_value == a.best["best_val_acc"]
    for r in a.trials:
        assert 1e-4 <= r["params"]["lr"] < 1.0 and r["epochs_run"] == 2


def test_same_params_train_as_in_random_search():
    """An Optuna trial k trains exactly as trial k of random_search with the same params."""
    x, t = blobs()
    res = optuna_search(BUILD, {"lr": choice([0.1])}, x, t, n_trials=2, epochs=3,
                        batch_size=32, seed=9)
    ref = tune.random_search(BUILD, {"lr": choice([0.1])}, x, t, n_trials=2, epochs=3,
                             batch_size=32, seed=9)
    assert (sorted((r["trial"], r["val_acc_curve"]) for r in res.trials)
            == sorted((r["trial"], r["val_acc_curve"]) for r in ref.trials))


@pytest.mark.parametrize("pruner", ["halving", "median"])
def test_pruners_stop_a_hopeless_lr(pruner):
    x, t = blobs()
    res = optuna_search(BUILD, {"lr": choice([0.3, 1e-6])}, x, t, n_trials=14, epochs=9,
                        batch_size=32, seed=1, pruner=pruner)
    # pruning starts after a good trial (halving) or after 5 complete trials (Optuna's
    # MedianPruner(n_startup_trials=5))
    after = min(r["trial"] for r in res.trials if r["params"]["lr"] == 0.3)
    if pruner == "median":
        after = max(after, sorted(r["trial"] for r in res.trials if not r["stopped"])[4])
    hopeless = [r for r in res.trials if r["params"]["lr"] == 1e-6 and r["trial"] > after]
    assert hopeless and all(r["stopped"] and r["epochs_run"] < 9 for r in hopeless)
    assert res.epochs_saved > 0
    assert res.best["params"]["lr"] == 0.3


def test_unreachable_storage_fails_before_any_training():
    x, t = blobs()
    calls = []

    def build(params):
        calls.append(1)
        return BUILD(params)

    with pytest.raises(ValueError, match=r"storage postgresql://fastnet:\*\*\*@127.0.0.1:1/"
                                         r"fastnet: cannot open it") as info:
        optuna_search(build, SPACE, x, t, n_trials=2, epochs=1, storage=UNREACHABLE)
    assert "secret" not in str(info.value) and calls == []


def test_unreachable_storage_cli_one_line(capsys):
    code = main(["tune", "--storage", UNREACHABLE, "--study", "s", "--n-trials", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    # "(connection refused ...)", or ": no PostgreSQL driver is installed" without psycopg2
    assert err.startswith("fastnet: error: --storage postgresql://fastnet:***@127.0.0.1:1/"
                          "fastnet: cannot open it") and out == ""
    assert "secret" not in err


@pytest.mark.parametrize("argv, words", [
    (["--resume"], "--resume needs --storage"),
    (["--study", "s"], "--study names a study in a --storage"),
    (["--pruner", "median", "--early-stopping", "asha"], "--early-stopping is the built-in"),
    (["--sampler", "tpe", "--n-jobs", "2"], "--n-jobs is the built-in"),
    (["--storage", "nonsense"], "--storage nonsense: must be a database URL"),
])
def test_optuna_option_errors(argv, words, capsys):
    code = main(["tune", *argv])
    _, err = capsys.readouterr()
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


SMALL = ["--train-size", "150", "--hidden", "20", "--epochs", "2", "--quiet"]


def _tune_process(storage, study, n_trials, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FASTNET_DATA"} | {
        "HOME": str(tmp_path), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "fastnet", "tune", *SMALL, "--storage",
                             storage, "--study", study, "--resume", "--n-trials",
                             str(n_trials)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, env=env)


def _two_workers_share(storage, study, tmp_path):
    workers = [_tune_process(storage, study, 3, tmp_path) for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
        assert "trials; best val acc" in out
    # fastnet's own opening: picks the installed PostgreSQL driver for a postgresql:// URL
    loaded = optuna.load_study(study_name=study, storage=tune.open_storage(storage))
    numbers = [tr.number for tr in loaded.get_trials()]
    assert sorted(numbers) == list(range(6))  # 2 x 3, distinct
    assert all(tr.state.name == "COMPLETE" for tr in loaded.get_trials())
    assert len({tuple(sorted(tr.params.items())) for tr in loaded.get_trials()}) == 6


def test_two_processes_share_one_sqlite_study(tmp_path):
    _two_workers_share(f"sqlite:///{tmp_path / 'study.db'}", "shared", tmp_path)


def test_two_processes_share_one_postgresql_study(tmp_path):
    url = os.environ.get("FASTNET_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FASTNET_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server "
                    "and sets it)")
    pytest.importorskip("psycopg2", reason="PostgreSQL storage needs psycopg2-binary")
    study = f"shared-{os.getpid()}-{tmp_path.name}"
    _two_workers_share(url, study, tmp_path)
    optuna.delete_study(study_name=study, storage=tune.open_storage(url))


def test_sqlite_study_resumes_and_refuses_to_mix(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    base = ["tune", *SMALL, "--storage", storage, "--study", "s", "--n-trials", "2"]
    assert main(base) == 0
    code = main(base)  # again without --resume: refused, nothing trained
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--study s already exists" in err and "add --resume" in err
    assert main([*base, "--resume"]) == 0
    assert main([*base, "--resume", "--epochs", "3"]) != 0
    _, err = capsys.readouterr()
    assert "other settings: epochs 2 (now 3)" in err
    study = optuna.load_study(study_name="s", storage=storage)
    assert sorted(tr.number for tr in study.get_trials()) == [0, 1, 2, 3]
    # the seed is the study's: trials 0-1 of the first run and 2-3 of the resumed one
    # train with the seeds of their numbers, as one 4-trial study would
    assert study.user_attrs["fastnet_seed"] == 0


def _complete_trials(db):
    """Count the study's complete trials with a short read that holds no lock afterwards
    (a lingering Optuna session in this process would block the worker's commits)."""
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=60)) as con:
        try:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
        except sqlite3.OperationalError:  # the tables are not made yet
            return 0


def test_interrupted_sqlite_study_keeps_finished_trials_and_resumes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    worker = _tune_process(storage, "cut", 1000, tmp_path)
    try:
        deadline = time.monotonic() + 300
        done = 0
        while done < 2 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
            done = _complete_trials(tmp_path / "study.db")
        assert done >= 2, "the worker finished no trials"
    finally:
        # Ctrl-C, and again if need be, as a user would: Python drops a KeyboardInterrupt that
        # lands in a garbage-collector callback ("Exception ignored in ...")
        presses = 0
        while presses < 5:
            worker.send_signal(signal.SIGINT)
            presses += 1
            try:
                _, err = worker.communicate(timeout=60)
                break
            except subprocess.TimeoutExpired:
                continue
    assert "fastnet: interrupted" in err, err
    # 130 from fastnet's handler; a second press may land after it, during shutdown
    assert worker.returncode == 130 or (presses > 1 and worker.returncode == -signal.SIGINT)
    kept = [tr for tr in optuna.load_study(study_name="cut", storage=storage).get_trials()
            if tr.state.name == "COMPLETE"]
    assert len(kept) >= done
    resumed = _tune_process(storage, "cut", 2, tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    after = [tr for tr in optuna.load_study(study_name="cut", storage=storage).get_trials()
             if tr.state.name == "COMPLETE"]
    assert len(after) == len(kept) + 2
    assert {tr.number for tr in kept} < {tr.number for tr in after}


def test_grouped_trials_report_to_the_pruner_and_equal_trials_alone():
    x, t = blobs()
    kw = {"n_trials": 8, "epochs": 9, "batch_size": 32, "seed": 1, "pruner": "halving"}
    res = optuna_search(BUILD, {"lr": choice([0.3, 1e-6])}, x, t, batch_trials=4, **kw)
    assert res.settings["batch_trials"] == 4 and len(res.trials) == 8
    stopped = {r["trial"]: r["stopped"] for r in res.trials}
    assert any(stopped.values()) and res.epochs_saved > 0
    # a pruned member left its group while another of the same group trained on
    assert any({stopped[g * 4 + m] for m in range(4)} == {True, False} for g in range(2))
    data = tune.split_validation(x, t, 0.2, 1)
    for r in res.trials:
        # the same trial alone on its group's batches, stopped where the pruner stopped it
        alone = tune.run_trial(BUILD, r["params"], r["trial"], 1, data, epochs=9,
                               batch_size=32, batches_of=r["trial"] - r["trial"] % 4,
                               on_epoch=lambda epoch, v, n=r["epochs_run"]: n < 9 and epoch == n)
        assert alone["val_acc_curve"] == r["val_acc_curve"]
        assert alone["train_acc_curve"] == r["train_acc_curve"]
