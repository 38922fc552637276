"""pytest-benchmark view of every case: ``pytest bench/ --benchmark-only``.

For the interleaved, ratio-reporting run use ``python bench/report.py``.
"""
from harness import pause


def test_case(benchmark, case, impl):
    benchmark.group = case.id
    benchmark.name = impl
    fn = case.impls[impl]()
    fn()
    pause()
    benchmark.pedantic(fn, rounds=20, iterations=5, warmup_rounds=1)
