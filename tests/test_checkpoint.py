"""fastnet.save / load: round trips, no pickles, one-line errors, atomic writes, bit-identical resume."""
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastnet
from fastnet.checkpoint import CheckpointError
from fastnet.optim import Adam, Momentum

SCRIPT = Path(__file__).parent / "scripts" / "resumable_training.py"


def _trained(steps=5, **kw):
    net = fastnet.MultiLayerNetExtend(6, [8, 7], 3, use_batchnorm=True, use_dropout=True,
                                      dropout_ration=0.2, seed=3, **kw)
    opt = Adam(lr=0.01)
    rng = np.random.default_rng(0)
    x = rng.random((20, 6)).astype(net.dtype)
    t = rng.integers(0, 3, 20)
    for _ in range(steps):
        opt.update(net.params, net.gradient(x, t))
    return net, opt, x, t


def test_round_trip_net_optimizer_state(tmp_path):
    net, opt, x, t = _trained()
    rng = np.random.default_rng(5)
    path = fastnet.save(tmp_path / "m.npz", net, opt,
                        state={"rng": rng.bit_generator.state, "step": 5,
                               "curve": np.arange(3.0), "nested": {"a": [1, 2.5, None]}})
    ckpt = fastnet.load_checkpoint(path)
    assert type(ckpt.net) is type(net)
    for key in net.params:
        np.testing.assert_array_equal(ckpt.net.params[key], net.params[key])
    for key in net.buffers:
        np.testing.assert_array_equal(ckpt.net.buffers[key], net.buffers[key])
    assert ckpt.state["step"] == 5 and ckpt.state["nested"] == {"a": [1, 2.5, None]}
    np.testing.assert_array_equal(ckpt.state["curve"], np.arange(3.0))
    restored = np.random.default_rng()
    restored.bit_generator.state = ckpt.state["rng"]
    assert restored.random() == rng.random()
    assert ckpt.header["format_version"] == 1 and ckpt.header["fastnet_version"] == fastnet.__version__
    # the same next step: parameters, optimizer moments and dropout masks all restored
    for a, o in ((net, opt), (ckpt.net, ckpt.optimizer)):
        o.update(a.params, a.gradient(x, t))
    for key in net.params:
        np.testing.assert_array_equal(ckpt.net.params[key], net.params[key])
    assert isinstance(fastnet.load(path), fastnet.MultiLayerNetExtend)


def test_float64_net_without_optimizer(tmp_path):
    net = fastnet.MultiLayerNet(4, [3], 2, dtype=np.float64, seed=0)
    ckpt = fastnet.load_checkpoint(fastnet.save(tmp_path / "n.npz", net))
    assert ckpt.optimizer is None and ckpt.state is None
    assert ckpt.net.dtype == np.float64
    np.testing.assert_array_equal(ckpt.net.params["W1"], net.params["W1"])


def _save_variant(tmp_path, edit):
    net, opt, _, _ = _trained(steps=1)
    path = fastnet.save(tmp_path / "m.npz", net, opt)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    return bad


def _header_edit(fn):
    def edit(arrays):
        header = json.loads(arrays["__header__"].tobytes())
        fn(header)
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    return edit


@pytest.mark.parametrize("edit,match", [
    (lambda a: a.pop("net/params/W2"), "do not match its header"),
    (lambda a: a.__setitem__("net/params/W2", np.zeros((2, 2), np.float32)),
     r"do not match its header.*W2"),
    (lambda a: a.pop("__header__"), "not a fastnet checkpoint"),
    (lambda a: a.__setitem__("__header__", np.frombuffer(b"{nope", np.uint8)), "corrupted header"),
    (_header_edit(lambda h: h.__setitem__("format_version", 99)), "format 99.*upgrade fastnet"),
    # read as old formats
    (_header_edit(lambda h: h.__setitem__("format_version", -1)),
     "corrupted header: format_version must be a positive integer; got -1"),
    (_header_edit(lambda h: h.__setitem__("format_version", True)),
     "corrupted header: format_version must be a positive integer; got True"),
    (_header_edit(lambda h: h.__setitem__("format_version", "1")),
     "corrupted header: format_version must be a positive integer; got '1'"),
    (_header_edit(lambda h: h.__setitem__("format", "other")), "not a fastnet checkpoint"),
    (_header_edit(lambda h: h["net"]["config"].__setitem__("class", "Bogus")),
     "unknown net class 'Bogus'"),
])
def test_damaged_files_give_one_line_errors(tmp_path, edit, match):
    bad = _save_variant(tmp_path, edit)
    with pytest.raises(CheckpointError, match=match) as info:
        fastnet.load(bad)
    message = str(info.value)
    assert message.startswith(str(bad)) and "\n" not in message


def test_a_header_entry_that_is_no_npy_array_is_a_checkpoint_error(tmp_path):
    # np.load gives an archive member without the .npy format as bytes: the header
    # was then an AttributeError ('bytes' object has no attribute 'tobytes')
    net, opt, _, _ = _trained(steps=1)
    path = fastnet.save(tmp_path / "m.npz", net, opt)
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            header = name == "__header__.npy"
            dst.writestr(name, b'{"format": "fastnet-checkpoint"}' if header else src.read(name))
    with pytest.raises(CheckpointError, match="corrupted header: its __header__ entry is not"):
        fastnet.load(bad)


def test_truncated_and_garbage_files(tmp_path):
    net, opt, _, _ = _trained(steps=1)
    path = fastnet.save(tmp_path / "m.npz", net, opt)
    data = path.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 5):
        cut = tmp_path / f"cut{size}.npz"
        cut.write_bytes(data[:size])
        with pytest.raises(CheckpointError, match=str(cut)):
            fastnet.load(cut)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        fastnet.load(tmp_path / "missing.npz")


def test_files_of_another_kind_say_so(tmp_path):
    # np.load returns a .npy file's array (which then failed with a TypeError) and
    # reads a text file as a pickle, suggesting allow_pickle=True: never advise that
    npy = tmp_path / "digits.npy"
    np.save(npy, np.zeros((2, 784)))
    text = tmp_path / "notes.npz"
    text.write_text("not a checkpoint")
    for path in (npy, text):
        with pytest.raises(CheckpointError, match="not a zip archive") as info:
            fastnet.load(path)
        assert str(info.value).startswith(str(path)) and "allow_pickle" not in str(info.value)


@pytest.mark.parametrize("offset,value", [
    (6, 64),    # version needed to extract 6.4: NotImplementedError
    (8, 1),     # flag bit 0, encrypted: RuntimeError
    (8, 32),    # flag bit 5, compressed patched data: NotImplementedError
    (10, 99),   # an unknown compression method: NotImplementedError
])
def test_damaged_zip_directory_is_a_checkpoint_error(tmp_path, offset, value):
    # found by tests/test_fuzz_nets.py: zipfile raises these for a damaged central
    # directory entry, and they escaped load() instead of a CheckpointError
    net, opt, _, _ = _trained(steps=1)
    data = bytearray(fastnet.save(tmp_path / "m.npz", net, opt).read_bytes())
    entry = data.index(b"PK\x01\x02")  # the first central directory entry
    data[entry + offset] = value
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="not a readable .npz checkpoint"):
        fastnet.load(bad)


def test_pickled_arrays_are_never_loaded(tmp_path):
    net, opt, _, _ = _trained(steps=1)
    bad = _save_variant(tmp_path, lambda a: a.__setitem__(
        "net/params/W1", np.array([object()], dtype=object)))
    with pytest.raises(CheckpointError, match="allow_pickle"):
        fastnet.load(bad)


def test_failed_save_keeps_the_previous_file(tmp_path):
    net, opt, _, _ = _trained(steps=1)
    path = fastnet.save(tmp_path / "m.npz", net, opt)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="JSON-able"):
        fastnet.save(path, net, opt, state={"oops": object()})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_bad_arguments(tmp_path):
    net = fastnet.MultiLayerNet(4, [3], 2, seed=0)
    with pytest.raises(TypeError, match="net must be a fastnet net"):
        fastnet.save(tmp_path / "x.npz", object())
    with pytest.raises(TypeError, match="optimizer must be"):
        fastnet.save(tmp_path / "x.npz", net, optimizer=3)
    with pytest.raises(TypeError, match="state must be a dict"):
        fastnet.save(tmp_path / "x.npz", net, state=[1])
    assert not (tmp_path / "x.npz").exists()
    # a path of another type was "expected str, bytes or os.PathLike object", naming nothing
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got NoneType"):
        fastnet.save(None, net)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got int"):
        fastnet.load(5)
    # a directory: the rename of the temporary file onto it failed, naming that file
    with pytest.raises(IsADirectoryError, match=f"{tmp_path}: is a directory"):
        fastnet.save(tmp_path, net)


def test_optimizer_kind_and_hyperparameters_restored(tmp_path):
    net = fastnet.MultiLayerNet(4, [3], 2, seed=0)
    opt = Momentum(lr=0.05, momentum=0.8)
    opt.update(net.params, net.gradient(np.ones((2, 4), np.float32), [0, 1]))
    ckpt = fastnet.load_checkpoint(fastnet.save(tmp_path / "m.npz", net, opt))
    assert type(ckpt.optimizer) is Momentum
    assert ckpt.optimizer.hyperparameters() == opt.hyperparameters()
    np.testing.assert_array_equal(ckpt.optimizer.state["W1"]["velocity"], opt.state["W1"]["velocity"])


def _run(args, **kw):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)],
                            stdout=subprocess.PIPE, text=True, **kw)


def test_resume_after_kill_is_bit_identical(tmp_path):
    steps = 120
    straight = _run([tmp_path / "a.npz", steps, tmp_path / "straight.npz"], cwd=tmp_path)
    assert straight.wait(timeout=120) == 0
    child = _run([tmp_path / "b.npz", steps, tmp_path / "resumed.npz"], cwd=tmp_path)
    for line in child.stdout:  # kill it once a few checkpoints are behind it
        if line.strip() == "saved 50":
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "resumed.npz").exists()
    resumed = _run([tmp_path / "b.npz", steps, tmp_path / "resumed.npz", "--resume"],
                   cwd=tmp_path)
    assert resumed.wait(timeout=120) == 0
    with np.load(tmp_path / "straight.npz") as a, np.load(tmp_path / "resumed.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
