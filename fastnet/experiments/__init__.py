"""The textbook's experiments, runnable from Python and as ``fastnet experiment NAME``.

Each experiment is a module with ``run(out_dir=None, *, seed=0, quick=False,
...) -> dict`` that returns its data (arrays and tables), writes CSV files
(and PNG plots when matplotlib is installed) into ``out_dir`` when given, and
prints a table. ``quick=True`` shrinks it to seconds, for tests and CI.
"""
import importlib

# CLI name -> module under fastnet.experiments
EXPERIMENTS = {}
EXPERIMENTS["activations"] = "activations"
EXPERIMENTS["init-compare"] = "init_compare"
EXPERIMENTS["batchnorm"] = "batchnorm"
EXPERIMENTS["overfit"] = "overfit"
EXPERIMENTS["optimizer-paths"] = "optimizer_paths"
EXPERIMENTS["optimizer-compare"] = "optimizer_compare"
EXPERIMENTS["lstm"] = "lstm"
EXPERIMENTS["ensemble"] = "ensemble"
EXPERIMENTS["hyperparam"] = "hyperparam"


def get_experiment(name):
    """Return the module of experiment ``name`` (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {sorted(EXPERIMENTS)}")
    return importlib.import_module(f"fastnet.experiments.{EXPERIMENTS[name]}")
