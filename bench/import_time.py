"""Time ``import fastnet`` against ``import numpy`` in fresh interpreters.

    python bench/import_time.py            # 21 interleaved rounds
    python bench/import_time.py --rounds 41

Each round starts one interpreter per statement (``python -c "import X"``),
alternating which goes first, and measures the whole process's wall time, so
interpreter start-up is in both and cancels in the difference. Prints the
medians and the median of the per-round differences (the issue's target:
fastnet <= NumPy + 30 ms). Run it from outside the source tree so the
installed package is imported.
"""
import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS = {"numpy": "import numpy", "fastnet": "import fastnet"}


def _run(statement):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(argv)
    times = {name: [] for name in STATEMENTS}
    for r in range(args.rounds):
        order = list(STATEMENTS) if r % 2 == 0 else list(reversed(STATEMENTS))
        for name in order:
            times[name].append(_run(STATEMENTS[name]))
    for name, values in times.items():
        print(f"import {name}: median {statistics.median(values) * 1e3:.1f} ms")
    diffs = [f - n for f, n in zip(times["fastnet"], times["numpy"])]
    print(f"fastnet - numpy: median {statistics.median(diffs) * 1e3:.1f} ms "
          f"over {args.rounds} rounds")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, fastnet; print('scipy' in sys.modules)"],
        check=True, capture_output=True, text=True).stdout.strip()
    print(f"SciPy imported by 'import fastnet': {loaded}")


if __name__ == "__main__":
    main()
