"""fastnet tune and fastnet experiment hyperparam: options, one-line errors, files, the textbook's result."""
import csv
import json

import pytest

from fastnet.cli import main


def _main(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exits
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


SMALL = ["--train-size", "150", "--hidden", "20", "--epochs", "2", "--n-trials", "3"]


def test_tune_writes_results(tmp_path, capsys):
    code, out, err = _main(["tune", *SMALL, "--space", "lr=log:1e-3:1", "--space",
                            "momentum=uniform:0.5:0.9", "--optimizer", "momentum",
                            "--seed", "4", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "3 trials; best val acc" in out and "momentum" in out
    with open(tmp_path / "tune.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["trial", "lr", "momentum"] and len(rows) == 4
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert doc["seed"] == 4 and len(doc["trials"]) == 3
    lrs = [float(r[1]) for r in rows[1:]]
    assert all(1e-3 <= lr < 1 for lr in lrs)


def test_tune_asha_min_epochs(capsys):
    code, out, err = _main(["tune", "--train-size", "150", "--hidden", "20", "--epochs", "9",
                            "--n-trials", "6", "--quiet", "--early-stopping", "asha",
                            "--min-epochs", "3", "--space", "lr=choice:0.3,1e-06"], capsys)
    assert code == 0, err
    assert "of 54 (" in out and "(0 saved" not in out


def test_tune_batch_trials_trains_groups(tmp_path, capsys):
    argv = ["tune", *SMALL, "--n-trials", "4", "--seed", "3", "--out", str(tmp_path)]
    code, _, err = _main([*argv, "--batch-trials", "2"], capsys)
    assert code == 0, err
    grouped = json.loads((tmp_path / "tune.json").read_text())
    code, _, err = _main(argv, capsys)
    assert code == 0, err
    single = json.loads((tmp_path / "tune.json").read_text())
    assert grouped["settings"]["batch_trials"] == 2 and single["settings"]["batch_trials"] == 1
    curves = [{r["trial"]: r["val_acc_curve"] for r in doc["trials"]} for doc in (grouped, single)]
    # the first of each group trains on its own batches, the second on the first's
    assert curves[0][0] == curves[1][0] and curves[0][2] == curves[1][2]


def test_tune_quiet_prints_one_line_and_is_seeded(capsys):
    code, out1, _ = _main(["tune", *SMALL, "--quiet", "--seed", "2"], capsys)
    code2, out2, _ = _main(["tune", *SMALL, "--quiet", "--seed", "2"], capsys)
    assert code == code2 == 0
    assert out1 == out2 and len(out1.splitlines()) == 1
    assert "lr=" in out1 and "weight_decay=" in out1  # the textbook's default space


@pytest.mark.parametrize("argv, flag, words", [
    (["--space", "lr=log:1e-2:1e-6"], "--space", "low < high"),
    (["--space", "lr=log:0:1"], "--space", "low must be > 0"),
    (["--space", "lr=exp:1:2"], "--space", "unknown kind"),
    (["--space", "lr"], "--space", "NAME=KIND:ARGS"),
    (["--space", "beta1=uniform:0.5:0.9"], "--space beta1", "sgd nets take"),
    (["--space", "lr=log:1e-3:1", "--space", "lr=log:1e-2:1"], "--space lr", "twice"),
    (["--n-trials", "0"], "--n-trials", "positive integer"),
    (["--epochs", "x"], "--epochs", "positive integer"),
    (["--n-jobs", "0"], "--n-jobs", "positive integer"),
    (["--batch-trials", "0"], "--batch-trials", "positive integer"),
    (["--batch-trials", "2.5"], "--batch-trials", "positive integer"),
    (["--validation-fraction", "1"], "--validation-fraction", "< 1"),
    (["--early-stopping", "median"], "--early-stopping", "invalid choice"),
])
def test_tune_user_errors_are_one_line(argv, flag, words, capsys):
    code, out, err = _main(["tune", *argv], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and flag in err and words in err
    assert "Traceback" not in err and out == ""


def test_tune_out_is_probed_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, out, err = _main(["tune", *SMALL, "--out", str(tmp_path / "file")], capsys)
    assert code == 2 and "--out" in err and "not a directory" in err and "trials" not in out


def test_hyperparam_experiment_top_lrs_lie_in_a_narrower_band(tmp_path):
    """The textbook's conclusion: good lrs cluster; the top trials' log10 lr band is narrower."""
    from fastnet.datasets import load_mnist
    from fastnet.experiments import get_experiment

    train, test = load_mnist(normalize=True, sample=True)
    # two worker processes: each gets one BLAS thread (fast on a shared machine)
    res = get_experiment("hyperparam").run(tmp_path, quick=True, n_jobs=2,
                                           data=(train, test, "sample"))
    low, median, high = res["lr_band"]  # of the top 3 of 30 trials
    assert high - low < 2.5  # the space spans 4 decades
    # at the large end: small lrs barely move a 6-layer net in 20 epochs
    assert low > -4.5 and median > -3.0
    result = res["result"]
    assert len(result.trials) == 30 and result.best["best_val_acc"] > 0.35
    assert res["csv"].exists() and res["json"].exists()
    if res["png"] is not None:
        assert res["png"].stat().st_size > 0
