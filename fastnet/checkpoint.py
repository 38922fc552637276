"""Saving and loading nets, optimizers and training state: one ``.npz`` file, no pickles.

A checkpoint is a NumPy ``.npz`` archive holding every array (the net's
parameters and buffers, the optimizer's state arrays, any arrays of the
trainer's state) plus one entry ``__header__``: UTF-8 JSON with the format
version, the fastnet version, the net's configuration and extra state
(dropout generators), the optimizer's name, hyperparameters and step
counts, and the JSON-able part of the trainer's (or the caller's) state.

Loading reads with ``allow_pickle=False``: a file from a stranger cannot run
code. Saving writes a temporary file in the target's directory, fsyncs it
and renames it over the target, so a crash leaves the previous file intact.
"""
import json
import lzma
import zipfile
import zlib

import numpy as np

from fastnet._checks import as_path
from fastnet._io import atomic_open

FORMAT = "fastnet-checkpoint"
FORMAT_VERSION = 1
_HEADER = "__header__"


class CheckpointError(ValueError):
    """A file that is not a readable fastnet checkpoint (the message names it)."""


class Checkpoint:
    """What :func:`load_checkpoint` returns.

    Attributes
    ----------
    net : fastnet.Sequential (or a builder such as MultiLayerNet)
    optimizer : optimizer or None
        Rebuilt with the saved hyperparameters and state.
    state : dict or None
        The trainer's (or caller's) saved state: JSON-able values, with any
        arrays it held restored in place.
    header : dict
        The file's JSON header (versions included).
    """

    def __init__(self, net, optimizer, state, header):
        self.net, self.optimizer, self.state, self.header = net, optimizer, state, header

    def __repr__(self):
        return (f"Checkpoint(net={type(self.net).__name__}, optimizer="
                f"{type(self.optimizer).__name__ if self.optimizer else None}, "
                f"state={'yes' if self.state else None})")


def _split_arrays(prefix, tree, arrays):
    """Replace the arrays inside a JSON-able tree by ``{"__array__": key}`` and collect them."""
    if isinstance(tree, np.ndarray):
        key = prefix
        arrays[key] = tree
        return {"__array__": key}
    if isinstance(tree, dict):
        for k in tree:
            if not isinstance(k, str) or "/" in k:
                raise ValueError(f"state keys must be strings without '/'; got {k!r} in {prefix}")
        return {k: _split_arrays(f"{prefix}/{k}", v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split_arrays(f"{prefix}/{i}", v, arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join_arrays(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join_arrays(v, arrays) for v in tree]
    return tree


def save(path, net, optimizer=None, trainer=None, *, state=None):
    """Write ``net`` (and optionally an optimizer and training state) to one ``.npz`` file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write; it is replaced atomically (temp file, fsync, rename).
    net : fastnet.Sequential
    optimizer : fastnet optimizer or None
        Its hyperparameters and per-parameter state (e.g. Adam's moments).
    trainer : object with ``state_dict()`` or None
        A :class:`fastnet.trainer.Trainer` (epoch, iteration, random state, history).
    state : dict or None
        Your own JSON-able state (arrays allowed), e.g. a loop's random
        generator state and step; returned as ``Checkpoint.state``. Not
        together with ``trainer``.

    Returns the path written.
    """
    from fastnet import __version__
    from fastnet.net import Sequential

    path = as_path("path", path)
    if path.is_dir():  # (the rename onto it failed, naming the temporary file)
        raise IsADirectoryError(f"{path}: is a directory; give a file name such as "
                                f"{path / 'model.npz'}")
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a fastnet net (Sequential, MultiLayerNet ...); "
                        f"got {type(net).__name__}")
    if trainer is not None and state is not None:
        raise ValueError("give trainer= or state=, not both")
    if trainer is not None:
        if not callable(getattr(trainer, "state_dict", None)):
            raise TypeError(f"trainer must have a state_dict() method; got {type(trainer).__name__}")
        state = trainer.state_dict()
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"state must be a dict; got {type(state).__name__}")
    arrays = {}
    net_state = net.state_dict()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastnet_version": __version__,
        "net": {"config": net_state["config"], "extra": net_state["extra"],
                "params": _split_arrays("net/params", net_state["params"], arrays),
                "buffers": _split_arrays("net/buffers", net_state["buffers"], arrays)},
        "optimizer": None,
        "state": None if state is None else _split_arrays("state", state, arrays),
    }
    if optimizer is not None:
        if not callable(getattr(optimizer, "state_dict", None)):
            raise TypeError(f"optimizer must be a fastnet optimizer; got {type(optimizer).__name__}")
        header["optimizer"] = _split_arrays("optimizer", optimizer.state_dict(), arrays)
    try:
        text = json.dumps(header, allow_nan=True)
    except TypeError as err:
        raise TypeError(f"the state to save must be JSON-able (numbers, strings, lists, "
                        f"dicts, numpy arrays): {err}") from None
    arrays[_HEADER] = np.frombuffer(text.encode("utf-8"), np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _read(path):
    path = as_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic != b"PK":
        # np.load would return a .npy file's array, and read any other file as a pickle
        # (its message then suggests allow_pickle=True): a checkpoint is a zip archive.
        raise CheckpointError(f"{path}: not a readable .npz checkpoint: not a zip archive "
                              f"(an empty file or another kind of file, such as .npy)")
    # A damaged zip directory can claim any compression method, encryption or
    # zip version: zipfile then raises NotImplementedError or RuntimeError, and
    # stored bytes read as deflate/lzma can raise zlib.error or LZMAError.
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, NotImplementedError,
            RuntimeError, zlib.error, lzma.LZMAError) as err:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint (truncated or corrupted?): "
                              f"{err}") from None
    if _HEADER not in arrays:
        raise CheckpointError(f"{path}: not a fastnet checkpoint (no {_HEADER} entry)")
    raw = arrays.pop(_HEADER)
    if not isinstance(raw, np.ndarray):  # np.load gives a member that is no .npy as bytes
        raise CheckpointError(f"{path}: corrupted header: its {_HEADER} entry is not a .npy array")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: corrupted header: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fastnet checkpoint (format {header.get('format')!r})"
                              if isinstance(header, dict) else f"{path}: corrupted header")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        # (-1 and true were read as old formats)
        raise CheckpointError(f"{path}: corrupted header: format_version must be a positive "
                              f"integer; got {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written in checkpoint format {version!r} by fastnet "
                              f"{header.get('fastnet_version')}; this fastnet reads format "
                              f"{FORMAT_VERSION} and older: upgrade fastnet")
    return path, header, arrays


def load_checkpoint(path):
    """Read a file written by :func:`save`: the net, the optimizer and the state.

    Raises FileNotFoundError for a missing file and :class:`CheckpointError`
    (a ValueError naming the file and the problem) for a truncated,
    corrupted or newer-format file, or one whose arrays do not match its
    header.
    """
    from fastnet.net import Sequential
    from fastnet.optim import make_optimizer

    path, header, arrays = _read(path)
    try:
        net_header = header["net"]
        net_state = {"config": net_header["config"], "extra": net_header["extra"],
                     "params": _join_arrays(net_header["params"], arrays),
                     "buffers": _join_arrays(net_header["buffers"], arrays)}
        net = Sequential.from_state(net_state)
        optimizer = None
        if header["optimizer"] is not None:
            opt_state = _join_arrays(header["optimizer"], arrays)
            hyper = dict(opt_state["hyperparameters"])
            optimizer = make_optimizer(opt_state["optimizer"], **hyper)
            optimizer.load_state_dict(opt_state)
        state = None if header["state"] is None else _join_arrays(header["state"], arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its arrays do not match its header: "
                              f"{type(err).__name__}: {err}") from None
    return Checkpoint(net, optimizer, state, header)


def load(path):
    """Read the net saved in ``path`` by :func:`save` (see :func:`load_checkpoint` for the rest)."""
    return load_checkpoint(path).net
