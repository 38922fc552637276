"""Time every benchmark case, interleaved, and write bench/RESULTS.md.

    python bench/report.py                 # all cases -> bench/RESULTS.md
    python bench/report.py -k sgd_step     # cases whose id contains the text -> bench/RESULTS.partial.md
    python bench/report.py -k sgd_step --write   # ... replacing bench/RESULTS.md after all
    python bench/report.py --rounds 11 --out other.md

A filtered run (``-k``) never replaces bench/RESULTS.md with its partial
table unless ``--write`` (or ``--out``) says so.

For each case every implementation is timed round by round in rotating
order with a pause before each block (see harness.py); the table gives the
median time per call and each implementation's speed relative to the others
(a ratio > 1 means fastnet is faster).
"""
import argparse
import importlib
import os
import sys
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent


def _fmt_time(seconds):
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f} us"


def _row(case, medians):
    fast = medians.get("fastnet")
    cells = [case.name]
    for impl, (med, _) in medians.items():
        cells.append(f"{impl}: {_fmt_time(med)}")
    ratios = []
    if fast:
        for impl, (med, _) in medians.items():
            if impl == "fastnet":
                continue
            if impl == "gemm floor":
                ratios.append(f"{fast[0] / med:.2f}x its GEMM floor")
            else:
                ratios.append(f"{med / fast[0]:.2f}x vs {impl}")
    return cells, ratios


RESULTS = HERE / "RESULTS.md"
PARTIAL = HERE / "RESULTS.partial.md"


def output_path(k, out=None, write=False):
    """Where the table goes: ``out`` if given; RESULTS.md for a full run or with ``write``;
    RESULTS.partial.md for a filtered (``-k``) run."""
    if out:
        return Path(out)
    return PARTIAL if k and not write else RESULTS


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", default="", help="only cases whose id contains this text")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per implementation (default 7)")
    parser.add_argument("--out", default=None,
                        help="markdown file to write (default bench/RESULTS.md, or "
                             "bench/RESULTS.partial.md for a -k run)")
    parser.add_argument("--write", action="store_true",
                        help="let a -k run replace bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer; got {args.rounds}")

    for path in sorted(HERE.glob("cases_*.py")):
        importlib.import_module(path.stem)
    cases = [c for c in harness.CASES if args.k in c.id]
    if not cases:
        parser.error(f"-k {args.k!r} matches no case id; see pytest bench/ --collect-only -q")
    out = output_path(args.k, args.out, args.write)
    if out == PARTIAL:
        print(f"-k run: writing {out} (add --write to replace {RESULTS.name})", flush=True)
    command = "python bench/report.py" + (f" -k {args.k}" if args.k else "") + f" --rounds {args.rounds}"
    unset = [name for name in harness.PINNED_OPENBLAS if name not in os.environ]
    if unset:
        command = "env " + " ".join(f"-u {name}" for name in unset) + " " + command

    lines = ["# Benchmark results", "",
             f"Reproduce with `{command}` (after `pip install .[test]` and, for the torch "
             "column, `pip install torch==2.13.0`).", "",
             "Median time per call over interleaved rounds, a pause of "
             f"{harness.PAUSE} s before each timed block. Ratios: how many times faster fastnet "
             "is than each peer (> 1 is faster); for the GEMM floor, fastnet's time over the time "
             "of the same matrix products alone (1.00 = no overhead).", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in harness.machine_info().items()]
    group = None
    for case in cases:
        if case.group != group:
            group = case.group
            lines += ["", f"## {group}", "", "| case | times | fastnet relative |", "|---|---|---|"]
        medians = harness.interleaved_medians(case, rounds=args.rounds)
        cells, ratios = _row(case, medians)
        lines.append(f"| {cells[0]} | {'<br>'.join(cells[1:])} | {'<br>'.join(ratios)} |")
        print(case.id, "; ".join(cells[1:]), "|", "; ".join(ratios), flush=True)
    # Keep hand-written analysis below the marker when regenerating.
    marker = "<!-- analysis -->"
    tail = ""
    if out.exists() and marker in out.read_text():
        tail = out.read_text().split(marker, 1)[1]
    from fastnet._io import atomic_open
    with atomic_open(out, "w") as f:
        f.write("\n".join(lines) + "\n\n" + marker + tail)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the results file is written only at the end, atomically
        print("interrupted: nothing written", file=sys.stderr)
        sys.exit(130)
