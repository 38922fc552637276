"""Killed at any moment (SIGKILL), a save leaves the previous checkpoint intact and loadable,
and a download never leaves a partial file under its final name."""
import hashlib
import http.server
import signal
import subprocess
import sys
import threading
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


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``payload`` in 16 KiB chunks with a pause after each, so a kill lands mid-download."""

    payload = b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        try:
            for start in range(0, len(self.payload), 1 << 14):
                self.wfile.write(self.payload[start:start + (1 << 14)])
                self.wfile.flush()
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed

    def log_message(self, *args):
        pass


def test_sigkill_during_download_never_leaves_a_partial_file(tmp_path):
    payload = np.random.default_rng(0).bytes(1 << 20)  # 64 chunks: about 0.7 s to send
    digest = hashlib.md5(payload).hexdigest()
    handler = type("Handler", (_SlowHandler,), {"payload": payload})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    dest = tmp_path / "cache"
    code = ("import sys; from fastnet.datasets import download_files; print('go', flush=True); "
            "download_files([('data.gz', sys.argv[1])], sys.argv[2], sys.argv[3])")
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    rng = np.random.default_rng(1)
    try:
        for _ in range(20):
            child = subprocess.Popen([sys.executable, "-c", code, digest, str(dest), url],
                                     stdout=subprocess.PIPE, text=True, cwd=tmp_path)
            assert child.stdout.readline().strip() == "go"
            time.sleep(rng.uniform(0.05, 0.6))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            target = dest / "data.gz"
            # under its final name a file is only ever the whole, verified download
            assert not target.exists() or hashlib.md5(target.read_bytes()).hexdigest() == digest
            target.unlink(missing_ok=True)
            others = [p.name for p in dest.iterdir()] if dest.exists() else []
            assert all(name.startswith(".data.gz.") and name.endswith(".tmp") for name in others)
        done = subprocess.run([sys.executable, "-c", code, digest, str(dest), url],
                              cwd=tmp_path, capture_output=True, timeout=60)
        assert done.returncode == 0
        assert hashlib.md5((dest / "data.gz").read_bytes()).hexdigest() == digest
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
