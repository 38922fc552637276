"""The textbook's chapter-6 scripts run on fastnet with only their imports changed.

The scripts are not copied into fastnet: the test reads them from a checkout
of the textbook's repository (``git clone
https://github.com/oreilly-japan/deep-learning-from-scratch``) named by
``$FASTNET_TEXTBOOK``, and is skipped without one. Each ``ch06/*.py`` is run
in a subprocess after exactly these adaptations, applied to its syntax tree
(so comments are dropped, nothing else changes):

1. Imports: every ``from <textbook module> import ...`` is pointed at the
   fastnet module of :data:`IMPORT_MAP` (the README's import table). The
   textbook's ``from common.optimizer import *`` also leaked ``np`` (its
   module imports numpy and has no ``__all__``) and one script relies on
   that; fastnet.optim exports only its own names, so a star import of it is
   followed by an explicit ``import numpy as np``.
2. Size: the iteration counts in :data:`SHRINK` (loop bounds, epochs, trial
   counts) are replaced by small values where they are *assigned* — a
   module-level ``name = number``, a keyword argument ``name=number`` or a
   parameter default — so the scripts' logic is untouched. An override
   that matches no such number fails the test (the script changed).

Data: ``$FASTNET_DATA`` points at the offline sample written as the four
MNIST IDX files (8,000 train / 2,000 test), so the scripts' unchanged
``load_mnist(normalize=True)`` calls load it. Matplotlib runs on the Agg
backend (``plt.show()`` draws nothing).
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnet.datasets import IMAGES_MAGIC, LABELS_MAGIC, MNIST_FILES, load_mnist

TEXTBOOK = os.environ.get("FASTNET_TEXTBOOK")

#: textbook module -> fastnet module (also the README's import table)
IMPORT_MAP = {
    "dataset.mnist": "fastnet.datasets",
    "common.multi_layer_net": "fastnet",
    "common.multi_layer_net_extend": "fastnet",
    "common.optimizer": "fastnet.optim",
    "common.trainer": "fastnet.trainer",
    "common.util": "fastnet.util",
    "common.layers": "fastnet.layers",
    "common.gradient": "fastnet.gradient",
}

#: script -> {assigned name: small value}
SHRINK = {
    "batch_norm_gradient_check.py": {},
    "batch_norm_test.py": {"max_epochs": 2},
    "hyperparameter_optimization.py": {"optimization_trial": 2, "epocs": 2},
    "optimizer_compare_mnist.py": {"max_iterations": 30},
    "optimizer_compare_naive.py": {},
    "overfit_dropout.py": {"epochs": 3},
    "overfit_weight_decay.py": {"max_epochs": 3},
    "weight_init_activation_histogram.py": {},
    "weight_init_compare.py": {"max_iterations": 30},
}


class _Adapt(ast.NodeTransformer):
    def __init__(self, shrink):
        self.shrink = shrink
        self.hits = dict.fromkeys(shrink, 0)

    def _small(self, name, node):
        if name in self.shrink and isinstance(node, ast.Constant) and isinstance(node.value, int):
            self.hits[name] += 1
            return ast.copy_location(ast.Constant(self.shrink[name]), node)
        return node

    def visit_ImportFrom(self, node):
        if node.module not in IMPORT_MAP:
            return node
        new = ast.copy_location(ast.ImportFrom(IMPORT_MAP[node.module], node.names, 0), node)
        if node.module == "common.optimizer" and node.names[0].name == "*":
            return [new, ast.copy_location(ast.Import([ast.alias("numpy", "np")]), node)]
        return new

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            node.value = self._small(node.targets[0].id, node.value)
        return node

    def visit_keyword(self, node):
        self.generic_visit(node)
        node.value = self._small(node.arg, node.value)
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        args = node.args.args
        defaults = node.args.defaults
        for arg, k in zip(args[len(args) - len(defaults):], range(len(defaults))):
            defaults[k] = self._small(arg.arg, defaults[k])
        return node


def adapt(source, shrink):
    """Return the adapted script text; raise if an override matched nothing."""
    tree = ast.parse(source)
    adapter = _Adapt(shrink)
    tree = ast.fix_missing_locations(adapter.visit(tree))
    missing = [name for name, n in adapter.hits.items() if n == 0]
    if missing:
        raise AssertionError(f"no numeric assignment of {missing} found: the script changed")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("common",
                                                                                     "dataset"):
            raise AssertionError(f"textbook import without a fastnet module: {node.module}")
    return ast.unparse(tree)


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def sample_as_mnist(tmp_path_factory):
    """The offline sample written as the four (uncompressed) MNIST files."""
    directory = tmp_path_factory.mktemp("mnist")
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, flatten=False, sample=True)
    arrays = (x_train.reshape(-1, 28, 28), t_train, x_test.reshape(-1, 28, 28), t_test)
    for (name, _), array, magic in zip(MNIST_FILES, arrays,
                                       (IMAGES_MAGIC, LABELS_MAGIC) * 2):
        _write_idx(directory / name.removesuffix(".gz"), array, magic)
    return directory


def test_adapt_rewrites_only_imports_and_named_counts():
    source = ("from common.optimizer import *\nfrom dataset.mnist import load_mnist\n"
              "max_iterations = 2000\nbatch_size = 128\nt = Trainer(epochs=301, lr=0.1)\n"
              "def f(a, epocs=50):\n    return a\n")
    out = adapt(source, {"max_iterations": 3, "epochs": 2, "epocs": 1})
    assert [line for line in out.splitlines() if line] == [
        "from fastnet.optim import *", "import numpy as np", "from fastnet.datasets import load_mnist",
        "max_iterations = 3", "batch_size = 128", "t = Trainer(epochs=2, lr=0.1)",
        "def f(a, epocs=1):", "    return a"]
    with pytest.raises(AssertionError, match="script changed"):
        adapt(source, {"max_epochs": 2})
    with pytest.raises(AssertionError, match="without a fastnet module"):
        adapt("from common.functions import softmax\n", {})


def test_import_map_is_the_readme_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for textbook, ours in IMPORT_MAP.items():
        assert f"| `{textbook}` | `{ours}` |" in readme, textbook


@pytest.mark.skipif(not TEXTBOOK, reason="set FASTNET_TEXTBOOK to a checkout of "
                    "oreilly-japan/deep-learning-from-scratch to run its chapter-6 scripts")
@pytest.mark.parametrize("script", sorted(SHRINK))
def test_chapter6_script_runs(script, sample_as_mnist, tmp_path):
    pytest.importorskip("matplotlib")
    source = (Path(TEXTBOOK) / "ch06" / script).read_text(encoding="utf-8")
    adapted = tmp_path / script
    adapted.write_text(adapt(source, SHRINK[script]), encoding="utf-8")
    env = dict(os.environ, MPLBACKEND="Agg", FASTNET_DATA=str(sample_as_mnist),
               HOME=str(tmp_path), PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, str(adapted)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
