"""bench/report.py: a filtered run never overwrites bench/RESULTS.md unless asked."""
import os
import subprocess
import sys

import pytest
import report


def test_output_path():
    assert report.output_path("") == report.RESULTS
    assert report.output_path("sgd_step") == report.PARTIAL
    assert report.output_path("sgd_step", write=True) == report.RESULTS
    assert str(report.output_path("sgd_step", out="x.md")) == "x.md"
    assert report.PARTIAL.parent == report.RESULTS.parent and report.PARTIAL != report.RESULTS


def test_unmatched_filter_writes_nothing(capsys):
    before = report.RESULTS.read_bytes()
    with pytest.raises(SystemExit) as exc:
        report.main(["-k", "no-case-has-this-id"])
    assert exc.value.code == 2
    assert "matches no case id" in capsys.readouterr().err
    assert report.RESULTS.read_bytes() == before and not report.PARTIAL.exists()


def test_registering_the_cases_leaves_the_thread_counts_alone():
    """Importing the cases (pytest collects them; ``main`` imports them) must not set
    torch's thread count: torch may share the OpenMP runtime with fastnet, so
    ``torch.set_num_threads(1)`` under ``OPENBLAS_NUM_THREADS=1`` left fastnet on one
    thread for every test after (its forward split off)."""
    pytest.importorskip("torch")
    script = (
        "import importlib, pathlib, sys\n"
        "from fastnet._kernels import threads\n"
        "before = threads.max_threads(), threads.forward_split_range()\n"
        f"sys.path.insert(0, {str(report.HERE)!r})\n"
        f"for path in sorted(pathlib.Path({str(report.HERE)!r}).glob('cases_*.py')):\n"
        "    importlib.import_module(path.stem)\n"
        "after = threads.max_threads(), threads.forward_split_range()\n"
        "print(before, after)\n"
        "assert after == before, (before, after)\n"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    env.pop("OMP_NUM_THREADS", None)
    # -I: the installed fastnet, not ./fastnet when run from the source tree
    done = subprocess.run([sys.executable, "-I", "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
