"""A check run in a child process forked after the parent's thread pools exist.

GNU OpenMP is not fork-safe: a child forked after the parent ran a parallel
region must not wait for pool threads that do not exist in it.
"""
import subprocess
import sys

_FORK = """
pid = os.fork()
if pid == 0:
    os._exit(0 if child() else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


def assert_forked_child_passes(setup):
    """Run ``setup`` (Python source that does the parent's work and defines
    ``child()``, the check returning True in the child), fork, and require
    the child to pass and exit within the timeout."""
    out = subprocess.run([sys.executable, "-c", "import os\n" + setup + _FORK],
                         capture_output=True, text=True, cwd="/", timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
