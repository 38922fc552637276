"""The child processes of a process, read from /proc (Linux): for tests that none are left."""
import os
from pathlib import Path


def children(pid=None):
    """``[(pid, state, command line)]`` of the children of ``pid`` (default this process).

    ``state`` is the kernel's one-letter state (``Z``: a zombie nobody waited
    for); the command line's arguments are joined by spaces.
    """
    parent = os.getpid() if pid is None else pid
    found = []
    for child in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        state, ppid = stat.rpartition(")")[2].split()[:2]  # the name may hold spaces and ')'
        if int(ppid) == parent:
            found.append((int(child), state, cmdline.replace(b"\0", b" ").decode().strip()))
    return found


def alive(pid):
    """Whether process ``pid`` exists (a zombie does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
