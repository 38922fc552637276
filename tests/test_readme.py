"""Every ```python block of README.md runs as written, in order, in one namespace."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 5


def test_readme_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the snippets write land here
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FASTNET_DATA", raising=False)
    namespace = {"__name__": "readme"}
    for i, block in enumerate(BLOCKS, 1):
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README python block {i} failed: {exc!r}\n{block}")
