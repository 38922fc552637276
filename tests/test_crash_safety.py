"""A save killed at any moment (SIGKILL) leaves the previous checkpoint intact and loadable."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import fastnet

SCRIPT = Path(__file__).parent / "scripts" / "save_forever.py"


def test_sigkill_during_save_never_leaves_a_torn_file(tmp_path):
    path = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    steps_seen = []
    for _ in range(20):
        child = subprocess.Popen([sys.executable, str(SCRIPT), str(path)],
                                 stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside one of the next saves
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        ckpt = fastnet.load_checkpoint(path)  # never a CheckpointError: the rename is atomic
        step = ckpt.state["step"]
        for array in (*ckpt.net.params.values(), *ckpt.net.buffers.values()):
            assert np.all(array == step)  # one whole save, not a mix of two
        steps_seen.append(step)
        # only the target and, at most, the temporary file of the interrupted save
        others = [p.name for p in tmp_path.iterdir() if p != path]
        assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in others)
    assert max(steps_seen) > 1  # the kills did land after several saves
