"""Atomic file output: write a temporary file beside the target, then rename it.

A crash mid-write leaves either the old file or the new one, never a torn one;
the file and then its directory are synced, so the rename also survives a
power cut on a journalling file system.
The file gets the permissions an ordinary ``open(path, 'w')`` would give it
(``0o666`` less the umask), or keeps those of the file it replaces.
"""
import contextlib
import csv
import os
import tempfile
from pathlib import Path


def _umask():
    """The process's umask, read without changing it where Linux shows it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    # os.umask can only be read by setting it; set it straight back (another
    # thread creating a file in between would get 0o022).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path):
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _sync_directory(directory):
    """fsync ``directory``, which records a rename in it (where directories can be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, which cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file next to ``path``; on success rename it to ``path``.

    The temporary file (``mkstemp`` makes it 0600) is given the target's
    permissions before the rename; on any exception it is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), _target_mode(path))
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_directory(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(path, header, rows):
    """Write ``rows`` under ``header`` to the CSV file ``path``, atomically."""
    with atomic_open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)
