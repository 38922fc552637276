"""Collect every ``bench/cases_*.py`` module and parametrize test_bench.py over its cases."""
import importlib
from pathlib import Path

import harness

for path in sorted(Path(__file__).parent.glob("cases_*.py")):
    importlib.import_module(path.stem)


def pytest_generate_tests(metafunc):
    if {"case", "impl"} <= set(metafunc.fixturenames):
        params = [(c, i) for c in harness.CASES for i in c.impls]
        metafunc.parametrize(("case", "impl"), params,
                             ids=[f"{c.id}-{i}" for c, i in params])


def pytest_sessionstart(session):
    # torch on the benchmarks' thread count before any case runs, as report.py sets it
    # (registering the cases above only checks that torch is installed).
    harness.import_torch()
