"""MNIST, loaded like the textbook's ``dataset/mnist.py``, plus an offline sample.

``load_mnist`` returns ``(x_train, t_train), (x_test, t_test)`` for

* the full set (60,000 training and 10,000 test images), found in the first
  directory holding all four official files among: the ``path`` argument,
  ``$FASTNET_DATA``, ``~/.cache/fastnet/mnist``; if none does, the missing files
  are downloaded into ``~/.cache/fastnet/mnist`` (md5-checked, atomic writes);
  if that fails too, ``MNISTNotFoundError`` says which files to put where;
* or, with ``sample=True``, the offline sample shipped inside fastnet: the
  official 10,000-image test set, split 8,000 train / 2,000 test.

``load_mnist_or_sample`` is for callers that want the full set when it is
already on disk and the sample otherwise, without touching the network.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, under the
Creative Commons Attribution-Share Alike 3.0 license (see
``fastnet/data/mnist/README.md``).
"""
import functools
import gzip
import hashlib
import math
import os
import urllib.parse
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path

import numpy as np

from fastnet._checks import as_path, flag, integer
from fastnet._io import atomic_open

__all__ = [
    "ChecksumError",
    "DownloadError",
    "MNISTNotFoundError",
    "MNIST_FILES",
    "download_files",
    "load_mnist",
    "load_mnist_or_sample",
    "read_idx",
    "read_mnist_files",
]

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

#: The four official files, as ``(filename, md5)``, in the order
#: train images, train labels, test images, test labels.
MNIST_FILES = (
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)
DEFAULT_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: Seconds per socket operation (connect, each read) when downloading.
DOWNLOAD_TIMEOUT = 5.0

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "mnist"
#: Seed of the fixed permutation that splits each class of the sample 80/20.
SAMPLE_SEED = 0
SAMPLE_TRAIN_FRACTION = 0.8


class MNISTNotFoundError(FileNotFoundError):
    """The full MNIST files are neither on disk nor downloadable.

    The message lists the files, the directories searched and the reason the
    download failed (or that it was not attempted), and mentions ``sample=True``.
    """


class DownloadError(OSError):
    """A file could not be fetched (network error, HTTP error, timeout, unwritable directory)."""


class ChecksumError(ValueError):
    """A downloaded file's md5 differs from the expected one; nothing was written."""


# --------------------------------------------------------------------------- IDX files

def read_idx(path, magic):
    """Read one IDX file of unsigned bytes, gzip-compressed or raw.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from its content, not its name.
    magic : int
        The expected magic number: ``IMAGES_MAGIC`` (2051, 3 dimensions) or
        ``LABELS_MAGIC`` (2049, 1 dimension). Its low byte is the number of
        dimensions, its third byte the element type, which must be 0x08
        (unsigned byte).

    Returns
    -------
    numpy.ndarray of uint8, read-only
        Shape as declared in the header, e.g. ``(N, 28, 28)`` or ``(N,)``.
        It views the decompressed bytes; copy it to modify it.

    Raises
    ------
    TypeError
        If ``path`` is not a str or os.PathLike, or ``magic`` not an int.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``magic`` is not an unsigned-byte IDX magic number; naming ``path``,
        if the gzip stream is corrupt or truncated, the file is shorter than
        its header, the magic number differs from ``magic``, a dimension is 0,
        or the byte count differs from what the header declares.
    """
    path = as_path("path", path)
    magic = integer("magic", magic, low=0)
    if magic >> 8 != 0x08:
        raise ValueError(f"magic must be an unsigned-byte IDX magic number 0x000008NN (NN the "
                         f"number of dimensions), e.g. {IMAGES_MAGIC} or {LABELS_MAGIC}; "
                         f"got {magic}")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip magic; a raw IDX file starts with two zero bytes
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file: {len(data)} bytes, too short for a magic number")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: not an IDX file of the expected kind: magic number "
                         f"{found} (0x{found:08x}), expected {magic} (0x{magic:08x})")
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header: {len(data)} bytes, expected {header}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if 0 in dims:
        raise ValueError(f"{path}: header declares shape {dims}, an empty data set; every "
                         f"dimension must be at least 1")
    # Python ints: three 32-bit dimensions can overflow int64 (and match by accident).
    expected = header + math.prod(dims)
    if len(data) != expected:
        raise ValueError(f"{path}: header declares shape {dims}, i.e. {expected} bytes, but the "
                         f"file holds {len(data)} bytes (truncated or corrupted)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_mnist_files(images_path, labels_path):
    """Read and cross-check one MNIST images file and its labels file.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        IDX files (gzip or raw) with magic numbers 2051 and 2049.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (N, 28, 28), read-only
    labels : numpy.ndarray of uint8, shape (N,), values 0..9, read-only

    Raises
    ------
    ValueError
        As ``read_idx``; also if images are not 28x28, if the two files hold
        different numbers of items, or if a label is outside 0..9. The message
        names the file(s).
    """
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
                         f"expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    if labels.size and labels.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    return images, labels


# --------------------------------------------------------------------------- download

def check_url(url):
    """Return the base URL ``url`` with a trailing ``/``; TypeError if it is not a str,
    ValueError if its scheme is not http, https or file."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str; got {type(url).__name__} {url!r}")
    base = url if url.endswith("/") else url + "/"
    if urllib.parse.urlsplit(base).scheme not in ("http", "https", "file"):
        raise ValueError(f"url must be an http, https or file URL, got {url!r}")
    return base


def download_files(files, dest_dir, url=DEFAULT_URL, timeout=DOWNLOAD_TIMEOUT):
    """Download ``files`` from ``url`` into ``dest_dir``, verifying each md5.

    Each file is streamed into a temporary file in ``dest_dir`` and renamed to
    its final name only once its md5 matches, so a failed or interrupted
    download never leaves a partial or wrong file under the final name. Files
    already fetched before a later one fails are kept (they were verified).

    Parameters
    ----------
    files : iterable of (str, str)
        ``(filename, md5 hex digest)`` pairs; each is fetched from
        ``url + filename``.
    dest_dir : str or os.PathLike
        Created if missing.
    url : str
        Base URL (``http``, ``https`` or ``file``); a trailing ``/`` is added if missing.
    timeout : float
        Seconds allowed for each socket operation (connect, each read).

    Returns
    -------
    list of pathlib.Path
        The downloaded files.

    Raises
    ------
    DownloadError
        On a network or HTTP error, a timeout, or an unwritable ``dest_dir``.
    ChecksumError
        If a file's md5 differs; nothing is left at its destination.
    ValueError
        If ``url`` has an unsupported scheme.
    """
    base = check_url(url)
    dest_dir = as_path("dest_dir", dest_dir)
    done = []
    for name, md5 in files:
        source = base + name
        dest = dest_dir / name
        try:
            with urllib.request.urlopen(source, timeout=timeout) as response, \
                    atomic_open(dest, "wb") as out:
                digest = hashlib.md5()
                while chunk := response.read(1 << 16):
                    digest.update(chunk)
                    out.write(chunk)
                if digest.hexdigest() != md5:
                    # Raised inside atomic_open, so the temporary file is removed.
                    raise ChecksumError(f"{source}: md5 {digest.hexdigest()} differs from the "
                                        f"expected {md5}; {dest} was not written")
        except (OSError, HTTPException) as exc:  # URLError, HTTPError, TimeoutError are OSErrors
            raise DownloadError(f"could not download {source} to {dest}: {exc}") from exc
        done.append(dest)
    return done


# --------------------------------------------------------------------------- lookup

def default_cache_dir():
    """Return ``~/.cache/fastnet/mnist``, where downloads go (``~`` from ``$HOME``)."""
    return Path.home() / ".cache" / "fastnet" / "mnist"


def _search_dirs(path):
    """The directories searched for the full set, in order, each with a label for messages."""
    dirs = []
    if path is not None:
        dirs.append((as_path("path", path), "path argument"))
    if os.environ.get("FASTNET_DATA"):
        dirs.append((Path(os.environ["FASTNET_DATA"]), "$FASTNET_DATA"))
    dirs.append((default_cache_dir(), "cache"))
    return dirs


def _find(directory, filename):
    """``directory/filename`` if it exists, else the same without ``.gz``, else None."""
    for candidate in (directory / filename, directory / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _locate(dirs):
    """Return the first directory's four file paths if it holds all of them, else None."""
    for directory, _ in dirs:
        found = [_find(directory, name) for name, _ in MNIST_FILES]
        if all(found):
            return found
    return None


def _not_found_message(dirs, reason):
    lines = ["MNIST training set not found. Searched, in order:"]
    for directory, label in dirs:
        missing = [name for name, _ in MNIST_FILES if not _find(directory, name)]
        lines.append(f"  {directory}  ({label}; missing {', '.join(missing)})")
    lines.append(reason)
    lines.append(f"Put these files (as distributed, or gunzipped without .gz) into "
                 f"{default_cache_dir()}, or into a directory named by $FASTNET_DATA "
                 f"or the path argument:")
    lines.extend(f"  {name}  (md5 {md5})" for name, md5 in MNIST_FILES)
    lines.append("Or call load_mnist(sample=True) for the offline sample shipped with fastnet "
                 "(8,000 train / 2,000 test images from the MNIST test set).")
    return "\n".join(lines)


def _find_or_download(path, download, url):
    """Return the four full-set file paths, downloading into the cache if allowed."""
    dirs = _search_dirs(path)
    found = _locate(dirs)
    if found:
        return found
    if not download:
        raise MNISTNotFoundError(_not_found_message(dirs, "Download not attempted (download=False)."))
    url = url or os.environ.get("FASTNET_MNIST_URL") or DEFAULT_URL
    cache = default_cache_dir()
    missing = [(name, md5) for name, md5 in MNIST_FILES if not _find(cache, name)]
    try:
        download_files(missing, cache, url)
    except (DownloadError, ChecksumError) as exc:
        raise MNISTNotFoundError(_not_found_message(dirs, f"Download failed: {exc}")) from exc
    return [_find(cache, name) for name, _ in MNIST_FILES]


# --------------------------------------------------------------------------- sample

def _split_indices(labels, seed=SAMPLE_SEED, train_fraction=SAMPLE_TRAIN_FRACTION):
    """Stratified split: per class, a fixed-seed permutation; the first ``round(0.8 n)`` train.

    One ``default_rng(seed)`` draws a permutation for each class in turn,
    0 to 9. Both index arrays are sorted, so each split keeps the file order.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(NUM_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_train = round(train_fraction * len(idx))
        train.append(idx[:n_train])
        test.append(idx[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _sample_raw():
    """The decoded, split sample as read-only uint8 arrays, decoded once per process."""
    images, labels = read_mnist_files(SAMPLE_DIR / MNIST_FILES[2][0], SAMPLE_DIR / MNIST_FILES[3][0])
    train, test = _split_indices(labels)
    arrays = (images[train], labels[train], images[test], labels[test])
    for a in arrays:
        a.flags.writeable = False
    return arrays


# --------------------------------------------------------------------------- public loaders

def _prepare(images, labels, normalize, flatten, one_hot_label):
    """New arrays in the textbook's formats; never views of ``images``/``labels``."""
    x = images.reshape(len(images), -1) if flatten else images.reshape(len(images), 1, *IMAGE_SHAPE)
    if normalize:
        x = x.astype(np.float32)
        x /= 255.0
    else:
        x = x.copy()
    if one_hot_label:
        t = np.eye(NUM_CLASSES, dtype=np.float32)[labels]
    else:
        t = labels.astype(np.int64)
    return x, t


def _check_flags(**flags):
    # Read as truth values, download='no' downloaded and one_hot_label='no' gave one-hot rows.
    for name, value in flags.items():
        flag(name, value)


def load_mnist(normalize=True, flatten=True, one_hot_label=False, path=None, sample=False,
               *, download=True, url=None):
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``, like the textbook.

    Parameters
    ----------
    normalize : bool
        If True, images are float32 in [0, 1] (pixel / 255); else uint8 in 0..255.
    flatten : bool
        If True, images have shape ``(N, 784)``; else ``(N, 1, 28, 28)``.
    one_hot_label : bool
        If True, labels are float32 one-hot rows of shape ``(N, 10)``; else
        int64 class indices of shape ``(N,)``.
    path : str or os.PathLike, optional
        A directory with the four files of ``MNIST_FILES`` (each ``.gz`` or
        gunzipped), searched first, before ``$FASTNET_DATA`` and then
        ``default_cache_dir()``. The first directory holding all four wins.
    sample : bool
        If True, use the offline sample instead of the full set: the official
        10,000-image test set shipped with fastnet, split 8,000 train / 2,000
        test, stratified by class. Each class is permuted by
        ``numpy.random.default_rng(SAMPLE_SEED)`` (one permutation per class,
        classes 0 to 9 in turn) and its first ``round(0.8 * n)`` images go to
        training; both splits then keep the original file order. ``path``,
        ``download`` and ``url`` are ignored.
    download : bool, keyword-only
        If the full set is not found, download the missing files into
        ``default_cache_dir()`` (md5-verified, atomic, ``DOWNLOAD_TIMEOUT``
        seconds per socket operation).
    url : str, keyword-only, optional
        Base URL to download from; default ``$FASTNET_MNIST_URL``, else ``DEFAULT_URL``.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuple of numpy.ndarray
        Full set: 60,000 and 10,000 items; sample: 8,000 and 2,000. Every call
        returns new, writable arrays; the sample's decoded bytes are cached
        in-process, read-only, and never handed out.

    Raises
    ------
    MNISTNotFoundError
        A ``FileNotFoundError``: the full set is neither found nor
        downloadable. The message lists the files, the directories searched,
        why the download failed, and mentions ``sample=True``.
    ValueError
        If a file found is not a valid MNIST IDX file (message names the file).
    """
    _check_flags(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                 sample=sample, download=download)
    if sample:
        x_train, t_train, x_test, t_test = _sample_raw()
    else:
        files = _find_or_download(path, download, url)
        x_train, t_train = read_mnist_files(files[0], files[1])
        x_test, t_test = read_mnist_files(files[2], files[3])
    return (_prepare(x_train, t_train, normalize, flatten, one_hot_label),
            _prepare(x_test, t_test, normalize, flatten, one_hot_label))


def load_mnist_or_sample(normalize=True, flatten=True, one_hot_label=False, path=None,
                         *, download=False, url=None):
    """Load the full MNIST set if it is on disk, else the offline sample.

    Parameters are those of ``load_mnist``; by default nothing is downloaded,
    so this is fast offline.

    Returns
    -------
    train : (x_train, t_train)
    test : (x_test, t_test)
    source : str
        What was loaded, for logs, e.g. ``"MNIST (60,000 train / 10,000 test)
        from /home/me/.cache/fastnet/mnist"`` or ``"offline sample (8,000 train /
        2,000 test from the MNIST test set)"``.

    Raises
    ------
    ValueError
        If full-set files are found but invalid (not silently replaced by the sample).
    """
    kw = {"normalize": normalize, "flatten": flatten, "one_hot_label": one_hot_label}
    _check_flags(download=download, **kw)
    try:
        files = _find_or_download(path, download, url)
    except MNISTNotFoundError:
        train, test = load_mnist(sample=True, **kw)
        return train, test, (f"offline sample ({len(train[0]):,} train / {len(test[0]):,} test "
                             f"from the MNIST test set)")
    train, test = load_mnist(path=files[0].parent, download=False, **kw)
    return train, test, (f"MNIST ({len(train[0]):,} train / {len(test[0]):,} test) "
                         f"from {files[0].parent}")
