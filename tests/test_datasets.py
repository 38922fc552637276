"""fastnet.datasets: the shipped sample, the IDX reader, the lookup order and real downloads."""
import functools
import gzip
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fastnet import datasets
from fastnet.datasets import (
    ChecksumError, DownloadError, MNISTNotFoundError, MNIST_FILES, download_files, load_mnist,
    load_mnist_or_sample, read_idx, read_mnist_files,
)

LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
SHIPPED = {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
           "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def idx_bytes(magic, array):
    """An IDX file of uint8 ``array`` with the given magic number (header dims = array.shape)."""
    array = np.asarray(array, dtype=np.uint8)
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return magic.to_bytes(4, "big") + dims + array.tobytes()


def write_mnist_dir(directory, n_train=6, n_test=4, seed=0):
    """Synthetic full-set files in ``directory``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(2051, images)))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(2049, labels)))
        arrays[prefix] = (images, labels)
    return arrays


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $FASTNET_DATA / $FASTNET_MNIST_URL, and a fresh empty home for the cache dir."""
    monkeypatch.delenv("FASTNET_DATA", raising=False)
    monkeypatch.delenv("FASTNET_MNIST_URL", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home / ".cache" / "fastnet" / "mnist"


# --------------------------------------------------------------------------- shipped sample

def test_shipped_files_have_the_official_md5():
    for name, digest in SHIPPED.items():
        assert md5(datasets.SAMPLE_DIR / name) == digest
    readme = (datasets.SAMPLE_DIR / "README.md").read_text()
    assert "Creative Commons Attribution-Share Alike 3.0" in readme and "LeCun" in readme
    for digest in SHIPPED.values():
        assert digest in readme


def test_sample_default_format():
    (x_train, t_train), (x_test, t_test) = load_mnist(sample=True)
    assert x_train.shape == (8000, 784) and x_test.shape == (2000, 784)
    assert x_train.dtype == x_test.dtype == np.float32
    assert t_train.shape == (8000,) and t_test.shape == (2000,)
    assert t_train.dtype == t_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(t_train)) == set(range(10))


@pytest.mark.parametrize("flatten, shape", [(True, (784,)), (False, (1, 28, 28))])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("one_hot", [True, False])
def test_sample_variants_agree(flatten, shape, normalize, one_hot):
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=normalize, flatten=flatten,
                                                      one_hot_label=one_hot, sample=True)
    (raw_x, raw_t), _ = load_mnist(normalize=False, flatten=True, sample=True)
    assert x_train.shape == (8000, *shape) and x_test.shape == (2000, *shape)
    if normalize:
        assert x_train.dtype == np.float32
        np.testing.assert_array_equal(x_train.reshape(8000, 784), raw_x.astype(np.float32) / 255)
    else:
        assert x_train.dtype == np.uint8 and x_train.max() == 255
        np.testing.assert_array_equal(x_train.reshape(8000, 784), raw_x)
    if one_hot:
        assert t_train.shape == (8000, 10) and t_train.dtype == np.float32
        assert np.all(t_train.sum(axis=1) == 1) and set(np.unique(t_train)) == {0.0, 1.0}
        np.testing.assert_array_equal(t_train.argmax(axis=1), raw_t)
    else:
        np.testing.assert_array_equal(t_train, raw_t)


def test_sample_is_the_test_set_split_80_20_per_class_without_overlap():
    images, labels = read_mnist_files(datasets.SAMPLE_DIR / "t10k-images-idx3-ubyte.gz",
                                      datasets.SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), LABEL_COUNTS)
    train, test = datasets._split_indices(labels)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(10000))
    n_train = np.bincount(labels[train], minlength=10)
    n_test = np.bincount(labels[test], minlength=10)
    np.testing.assert_array_equal(n_train + n_test, LABEL_COUNTS)
    np.testing.assert_array_equal(n_train, np.round(0.8 * np.array(LABEL_COUNTS)))
    # The loader returns exactly these images, in file order.
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=False, flatten=False, sample=True)
    np.testing.assert_array_equal(x_train[:, 0], images[train])
    np.testing.assert_array_equal(x_test[:, 0], images[test])
    np.testing.assert_array_equal(t_train, labels[train])
    np.testing.assert_array_equal(t_test, labels[test])
    np.testing.assert_array_equal(np.bincount(t_train, minlength=10) + np.bincount(t_test, minlength=10),
                                  LABEL_COUNTS)


def test_sample_split_is_pinned_and_in_file_order():
    # Pins the documented split (SAMPLE_SEED, one permutation per class, file order):
    # any change to it changes what every "sample" result in the project means.
    _, labels = read_mnist_files(datasets.SAMPLE_DIR / "t10k-images-idx3-ubyte.gz",
                                 datasets.SAMPLE_DIR / "t10k-labels-idx1-ubyte.gz")
    train, test = datasets._split_indices(labels)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    np.testing.assert_array_equal(test[:10], [10, 15, 23, 25, 27, 30, 32, 38, 39, 41])
    assert hashlib.md5(test.astype("<i8").tobytes()).hexdigest() == "19d8a4ea38a947d1d98bf456c02e4ac0"


def test_sample_train_and_test_share_no_image():
    (x_train, _), (x_test, _) = load_mnist(normalize=False, sample=True)
    train_images = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_images for row in x_test)


def test_split_depends_on_the_seed_only():
    labels = np.repeat(np.arange(10), 50)
    a = datasets._split_indices(labels, seed=0)
    b = datasets._split_indices(labels, seed=0)
    c = datasets._split_indices(labels, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_sample_is_deterministic_and_callers_cannot_corrupt_the_cache():
    (x1, t1), (xt1, tt1) = load_mnist(normalize=False, sample=True)
    expected = x1.copy(), t1.copy()
    x1[:] = 7
    t1[:] = 3
    (x2, t2), (xt2, tt2) = load_mnist(normalize=False, sample=True)
    np.testing.assert_array_equal(x2, expected[0])
    np.testing.assert_array_equal(t2, expected[1])
    np.testing.assert_array_equal(xt1, xt2)
    assert x2.flags.writeable and not np.shares_memory(x2, x1)
    assert not any(a.flags.writeable for a in datasets._sample_raw())  # the cache itself


def test_sample_loads_fast_once_cached():
    load_mnist(sample=True)
    start = time.perf_counter()
    load_mnist(sample=True)
    assert time.perf_counter() - start < 0.5


# --------------------------------------------------------------------------- IDX reader

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_raw_and_gzip(tmp_path, compress):
    images = np.arange(3 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(3, 28, 28)
    data = idx_bytes(2051, images)
    path = tmp_path / "x.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path, 2051)
    assert out.dtype == np.uint8 and out.shape == (3, 28, 28)
    np.testing.assert_array_equal(out, images)


def _bad_files():
    images = np.zeros((3, 28, 28), np.uint8)
    good = idx_bytes(2051, images)
    return {
        "bad magic": (idx_bytes(2049, np.zeros(5, np.uint8)), "magic number"),
        "html page": (b"<html><body>Not found</body></html>", "magic number"),
        "empty": (b"", "too short"),
        "truncated header": (good[:10], "truncated IDX header"),
        "truncated data": (good[:-100], "header declares"),
        "trailing bytes": (good + b"\0", "header declares"),
        "truncated gzip": (gzip.compress(good)[:-20], "gzip"),
        "corrupt gzip": (b"\x1f\x8b" + b"\xff" * 40, "gzip"),
        # (2^32 - 1)^3 bytes: an int64 product would wrap around
        "overflowing dimensions": (good[:4] + b"\xff" * 12 + good[16:], "header declares shape"),
        # a header declaring no images and nothing after it: an empty set
        "count 0": (good[:4] + bytes(4) + good[8:16], "empty data set"),
        "rows 0": (good[:8] + bytes(4) + good[12:16], "empty data set"),
    }


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_read_idx_rejects_bad_files_naming_them(tmp_path, case):
    data, words = _bad_files()[case]
    path = tmp_path / "bad-file.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=words) as info:
        read_idx(path, 2051)
    assert str(path) in str(info.value)


def test_read_idx_dimensions_are_not_wrapped_in_int64(tmp_path):
    # 2^21 * 2^21 * 2^22 = 2^64 bytes wraps to 0 in int64: the file is 16 bytes of header.
    path = tmp_path / "wrap"
    path.write_bytes((2051).to_bytes(4, "big") + (1 << 21).to_bytes(4, "big") * 2
                     + (1 << 22).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="header declares shape") as info:
        read_idx(path, 2051)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("call,exc,match", [
    (lambda p: read_idx(p, "2049"), TypeError, "magic must be an integer"),
    (lambda p: read_idx(p, 2049.0), TypeError, "magic must be an integer"),
    (lambda p: read_idx(p, 0x0D01), ValueError, "magic must be an unsigned-byte"),
    (lambda p: read_idx(p, -1), ValueError, "magic must be"),
    (lambda p: read_idx(123, 2049), TypeError, "path must be a str or os.PathLike; got int"),
    (lambda p: load_mnist(path=123, download=False), TypeError, "path must be a str"),
    (lambda p: download_files([], p, url=123), TypeError, "url must be a str"),
    (lambda p: download_files([], 1.5), TypeError, "dest_dir must be a str"),
    # flags read as truth values: download='no' downloaded, one_hot_label='no' gave rows
    (lambda p: load_mnist(sample=True, normalize="no"), TypeError, "normalize must be True"),
    (lambda p: load_mnist(sample=True, flatten=0), TypeError, "flatten must be True"),
    (lambda p: load_mnist(sample=True, one_hot_label="no"), TypeError, "one_hot_label must be"),
    (lambda p: load_mnist(sample="yes"), TypeError, "sample must be True or False"),
    (lambda p: load_mnist(path=p, download="no"), TypeError, "download must be True or False"),
    (lambda p: load_mnist_or_sample(path=p, download="no"), TypeError, "download must be True"),
])
def test_bad_arguments_name_themselves(tmp_path, call, exc, match):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(2049, np.zeros(3, np.uint8)))
    with pytest.raises(exc, match=match):
        call(path)


def test_read_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope", 2051)


def test_read_mnist_files_checks_counts_shape_and_labels(tmp_path):
    img, lbl = tmp_path / "img", tmp_path / "lbl"
    img.write_bytes(idx_bytes(2051, np.zeros((3, 28, 28))))
    lbl.write_bytes(idx_bytes(2049, [1, 2]))
    with pytest.raises(ValueError, match="3 images but .* 2 labels") as info:
        read_mnist_files(img, lbl)
    assert str(img) in str(info.value) and str(lbl) in str(info.value)

    lbl.write_bytes(idx_bytes(2049, [1, 2, 10]))
    with pytest.raises(ValueError, match="label 10 outside") as info:
        read_mnist_files(img, lbl)
    assert str(lbl) in str(info.value)

    img.write_bytes(idx_bytes(2051, np.zeros((3, 27, 28))))
    with pytest.raises(ValueError, match="27x28") as info:
        read_mnist_files(img, lbl)
    assert str(img) in str(info.value)


def test_load_mnist_reports_a_corrupt_full_set_file(isolated, tmp_path):
    d = tmp_path / "data"
    write_mnist_dir(d)
    bad = d / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(idx_bytes(2049, [0, 1, 2])))  # 3 labels for 6 images
    with pytest.raises(ValueError, match="6 images but .* 3 labels") as info:
        load_mnist(path=d, download=False)
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError):  # an invalid full set is reported, not replaced by the sample
        load_mnist_or_sample(path=d)


# --------------------------------------------------------------------------- lookup order

def test_full_set_from_path_argument_in_all_formats(isolated, tmp_path):
    arrays = write_mnist_dir(tmp_path / "data")
    (x_train, t_train), (x_test, t_test) = load_mnist(path=tmp_path / "data", download=False)
    assert x_train.shape == (6, 784) and x_test.shape == (4, 784) and x_train.dtype == np.float32
    np.testing.assert_array_equal(x_train, arrays["train"][0].reshape(6, 784) / np.float32(255))
    np.testing.assert_array_equal(t_test, arrays["t10k"][1])
    assert t_test.dtype == np.int64
    (x_train, t_train), _ = load_mnist(normalize=False, flatten=False, one_hot_label=True,
                                       path=str(tmp_path / "data"), download=False)
    assert x_train.shape == (6, 1, 28, 28) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(t_train.argmax(1), arrays["train"][1])


def test_gunzipped_files_are_found(isolated, tmp_path):
    d = tmp_path / "data"
    arrays = write_mnist_dir(d)
    for f in d.glob("*.gz"):
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    (x_train, _), _ = load_mnist(normalize=False, path=d, download=False)
    np.testing.assert_array_equal(x_train.reshape(6, 28, 28), arrays["train"][0])


def test_lookup_order_path_then_env_then_cache(isolated, tmp_path, monkeypatch):
    cache = isolated
    write_mnist_dir(cache, n_train=3)
    env_dir = tmp_path / "env"
    write_mnist_dir(env_dir, n_train=4)
    arg_dir = tmp_path / "arg"
    write_mnist_dir(arg_dir, n_train=5)

    def n_train(**kw):
        (x, _), _ = load_mnist(download=False, **kw)
        return len(x)

    assert n_train() == 3  # only the cache
    monkeypatch.setenv("FASTNET_DATA", str(env_dir))
    assert n_train() == 4  # $FASTNET_DATA before the cache
    assert n_train(path=arg_dir) == 5  # path before $FASTNET_DATA
    assert n_train(path=tmp_path / "empty") == 4  # an incomplete directory is skipped
    (arg_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    assert n_train(path=arg_dir) == 4
    _, _, source = load_mnist_or_sample(path=tmp_path / "empty")
    assert source == f"MNIST (4 train / 4 test) from {env_dir}"


def test_not_found_message_names_files_and_directories(isolated, tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "t10k-images-idx3-ubyte.gz").write_bytes(b"")  # one of four present
    monkeypatch.setenv("FASTNET_DATA", str(env_dir))
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(path=tmp_path / "arg", download=False)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    for name, digest in MNIST_FILES:
        assert name in msg and digest in msg
    for d in (tmp_path / "arg", env_dir, isolated):
        assert str(d) in msg
    assert "sample=True" in msg and "download=False" in msg
    env_line = next(line for line in msg.splitlines() if str(env_dir) in line)
    assert "t10k-labels" in env_line and "t10k-images" not in env_line


def test_or_sample_falls_back_without_touching_the_network(isolated, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist_or_sample tried the network")

    monkeypatch.setattr(datasets, "download_files", no_network)
    start = time.perf_counter()
    (x_train, t_train), (x_test, t_test), source = load_mnist_or_sample(normalize=False)
    assert time.perf_counter() - start < 2
    assert source == "offline sample (8,000 train / 2,000 test from the MNIST test set)"
    assert x_train.shape == (8000, 784) and x_train.dtype == np.uint8 and x_test.shape == (2000, 784)


def test_cache_dir_follows_home(isolated):
    assert datasets.default_cache_dir() == isolated


# --------------------------------------------------------------------------- real downloads

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """Serve a fresh directory over HTTP on 127.0.0.1; yields (directory, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/mnist"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _serve_shipped(root):
    (root / "mnist").mkdir()
    for name in SHIPPED:
        (root / "mnist" / name).write_bytes((datasets.SAMPLE_DIR / name).read_bytes())


def test_download_real_files(http_dir, tmp_path):
    root, url = http_dir
    _serve_shipped(root)
    dest = tmp_path / "dest" / "nested"
    got = download_files(SHIPPED.items(), dest, url)
    assert got == [dest / name for name in SHIPPED]
    for name, digest in SHIPPED.items():
        assert md5(dest / name) == digest
    assert sorted(p.name for p in dest.iterdir()) == sorted(SHIPPED)  # no temporary files left


def test_download_checksum_mismatch_leaves_nothing(http_dir, tmp_path):
    root, url = http_dir
    _serve_shipped(root)
    name = "t10k-labels-idx1-ubyte.gz"
    data = bytearray((root / "mnist" / name).read_bytes())
    data[100] ^= 0xFF
    (root / "mnist" / name).write_bytes(bytes(data))
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumError, match="md5") as info:
        download_files([(name, SHIPPED[name])], dest, url + "/")
    assert name in str(info.value) and SHIPPED[name] in str(info.value)
    assert list(dest.iterdir()) == []


def test_download_http_404_is_a_download_error(http_dir, tmp_path):
    _, url = http_dir
    with pytest.raises(DownloadError, match="404"):
        download_files([("missing.gz", "0" * 32)], tmp_path / "dest", url)
    assert not any((tmp_path / "dest").glob("*"))


def test_download_times_out_quickly(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        # Watchdog: if the timeout were ignored, closing the listener resets the pending
        # connection so the test fails instead of hanging.
        watchdog = threading.Timer(5, listener.close)
        watchdog.start()
        start = time.perf_counter()
        with pytest.raises(DownloadError, match="timed out"):
            download_files([("x.gz", "0" * 32)], tmp_path, url, timeout=0.3)
        assert time.perf_counter() - start < 3
        watchdog.cancel()


def test_download_rejects_unsupported_url(tmp_path):
    with pytest.raises(ValueError, match="ftp://x"):
        download_files([("x.gz", "0" * 32)], tmp_path, "ftp://x")


def test_load_mnist_downloads_missing_files_into_the_cache(isolated, http_dir, monkeypatch):
    root, url = http_dir
    served = root / "mnist"
    arrays = write_mnist_dir(served, n_train=7)
    files = [(name, md5(served / name)) for name, _ in MNIST_FILES]
    monkeypatch.setattr(datasets, "MNIST_FILES", tuple(files))
    monkeypatch.setenv("FASTNET_MNIST_URL", url)
    write_mnist_dir(isolated, n_train=7)
    (isolated / "train-images-idx3-ubyte.gz").unlink()  # only this one is missing
    (served / "train-labels-idx1-ubyte.gz").unlink()  # so this is never requested
    (x_train, t_train), _ = load_mnist(normalize=False)
    np.testing.assert_array_equal(x_train.reshape(7, 28, 28), arrays["train"][0])
    assert md5(isolated / "train-images-idx3-ubyte.gz") == files[0][1]


def test_load_mnist_unreachable_url_says_where_to_put_files(isolated):
    with socket.socket() as s:  # a port nothing listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist(url=f"http://127.0.0.1:{port}/")
    assert time.perf_counter() - start < 5
    msg = str(info.value)
    assert "Download failed" in msg and f"127.0.0.1:{port}" in msg
    assert str(isolated) in msg and "sample=True" in msg
    for name, _ in MNIST_FILES:
        assert name in msg
    assert not any(isolated.parent.glob("**/*.gz"))


def test_load_mnist_checksum_failure_is_reported_as_not_found(isolated, http_dir, monkeypatch):
    root, url = http_dir
    (root / "mnist").mkdir()
    for name, _ in MNIST_FILES:
        (root / "mnist" / name).write_bytes(b"not mnist")
    with pytest.raises(MNISTNotFoundError, match="md5") as info:
        load_mnist(url=url)
    assert isinstance(info.value.__cause__, ChecksumError)
    assert not isolated.exists() or list(isolated.iterdir()) == []
