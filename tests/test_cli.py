"""The fastnet command and training on the shipped MNIST sample."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastnet import MultiLayerNet
from fastnet.cli import main
from fastnet.datasets import load_mnist
from fastnet.optim import SGD


def test_help_explains_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--dtype"):
        assert option in out


def test_train_command_reaches_stated_accuracy(tmp_path):
    """The default settings reach >= 0.93 test accuracy on the sample (issue #3)."""
    # An empty HOME and no FASTNET_DATA: the full set cannot be found, the sample is used.
    env = {k: v for k, v in os.environ.items() if k != "FASTNET_DATA"} | {"HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "fastnet", "train", "--quiet"],
                            capture_output=True, text=True, cwd="/", timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "offline sample" in result.stdout
    accuracy = float(result.stdout.split("final test accuracy:")[1].split()[0])
    assert accuracy >= 0.93


def test_bad_option_is_a_clear_error(capsys):
    assert main(["train", "--epochs", "1", "--batch-size", "0", "--quiet"]) == 2
    assert "mini_batch_size" in capsys.readouterr().err


def test_a_few_hundred_steps_on_the_sample():
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, sample=True)
    net = MultiLayerNet(784, [100, 100, 100, 100], 10, seed=0)
    opt = SGD(lr=0.1)
    rng = np.random.default_rng(0)
    first = net.loss(x_train[:1000], t_train[:1000])
    for _ in range(300):
        batch = rng.choice(len(x_train), 100, replace=False)
        opt.update(net.params, net.gradient(x_train[batch], t_train[batch]))
    assert net.loss(x_train[:1000], t_train[:1000]) < 0.3 * first
    assert net.accuracy(x_test, t_test) > 0.88
