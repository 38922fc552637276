"""Atomic writes: permissions like open(), nothing left behind on failure."""
import os

import pytest

from fastnet._io import atomic_open, write_csv


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_new_file_honours_the_umask(tmp_path, umask_027):
    path = write_csv(tmp_path / "a.csv", ["x"], [[1]])
    assert path.stat().st_mode & 0o777 == 0o640
    with open(tmp_path / "plain", "w"):
        pass
    assert (tmp_path / "plain").stat().st_mode & 0o777 == 0o640  # as open() does


def test_replaced_file_keeps_its_mode(tmp_path, umask_027):
    path = tmp_path / "a.txt"
    path.write_text("old")
    path.chmod(0o604)
    with atomic_open(path) as f:
        f.write("new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o604


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_the_file_then_its_directory_are_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = write_csv(tmp_path / "a.csv", ["x"], [[1]])
    # the temporary file's data before the rename, the directory's entry after it
    assert len(synced) == 2
    assert os.path.basename(synced[0]).startswith(".a.csv.")
    assert synced[1] == os.path.realpath(tmp_path) and path.read_text() == "x\n1\n"


def test_reading_the_umask_leaves_it_alone(umask_027, monkeypatch):
    from fastnet import _io
    calls = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o027)
    assert _io._umask() == 0o027
    if os.path.exists("/proc/self/status"):
        assert calls == []  # read, not set and reset, where Linux shows it
