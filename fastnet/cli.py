"""The fastnet command: fastnet train, fastnet experiment NAME, fastnet tune, fastnet data.

Every user error is one line on stderr naming the option and the fix, with
exit status 2 and no traceback; Ctrl-C prints one line and exits with 130.
Output files are written atomically, so an interrupted run leaves none half
written. Options are checked (and output locations probed) before any work.
"""
import argparse
import inspect
import math
import numbers
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROG = "fastnet"
DESCRIPTION = ("A compiled, from-scratch neural-network engine that follows the textbook "
               "Deep Learning from Scratch. Commands: train (a net on MNIST), predict (classify "
               "digits with a saved net), experiment (the textbook's chapter-6 experiments), "
               "tune (hyperparameter search), data (download the full MNIST set).")


class UsageError(Exception):
    """A user error: printed as one line ``fastnet: error: ...``, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse prints the whole usage first)."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


# -- option types: each message says what was expected; argparse adds the flag --------

def _int_at_least(low, word):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected {word}; got {text!r}")
        return value
    return parse


def _real(low, high=None, *, low_open=False, high_open=False):
    lo = f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        # inf would pass the bounds and fail later, inside the library, without the flag's name
        ok = math.isfinite(value) and (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"expected a number {lo}{hi}; got {text!r}")
        return value
    return parse


def _hidden_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 100,100,100; got {text!r}")
    return sizes


def _weight_init(text):
    from fastnet.init import get_initializer

    try:
        spec = float(text)
    except ValueError:
        spec = text
    try:
        get_initializer(spec)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected an initializer name (he, xavier, glorot, lecun, orthogonal, ...) or a "
            f"std >= 0; got {text!r}") from None
    return spec


def _space_item(text):
    from fastnet.tune import parse_distribution

    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _url(text):
    from fastnet.datasets import check_url

    try:
        check_url(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an http://, https:// or file:// URL; got {text!r}") from None
    return text


_POSITIVE_INT = _int_at_least(1, "a positive integer")
_NON_NEGATIVE_INT = _int_at_least(0, "a non-negative integer")


def _default_lrs():
    """{optimizer name: the default lr of its class} (the textbook's defaults)."""
    from fastnet.optim import OPTIMIZERS

    return {name: inspect.signature(cls).parameters["lr"].default
            for name, cls in OPTIMIZERS.items()}


# -- output locations, probed before any work ------------------------------------

def _writable_dir(path, flag):
    """Create directory ``path`` if needed; raise UsageError unless it is a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a directory; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create it ({exc.strerror}); "
                         "give a directory you can write to") from None
    # os.access says yes to root everywhere, even on /sys or a read-only mount:
    # create (and remove) a file as the atomic writes will, before any work.
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".fastnet-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create a file in this directory "
                         f"({exc.strerror}); give a directory you can write to") from None
    return path


def _writable_file(path, flag, suffixes):
    """Check that ``path`` has one of ``suffixes`` and could be written (its directory made)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: expected a file name ending in "
                         f"{' or '.join(suffixes)}")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    _writable_dir(path.parent, flag)
    return path


def _need_matplotlib(flag):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{flag} needs matplotlib, which is not installed: "
                         "pip install 'fastnet[plot]' (or drop the option)") from None


# -- commands ------------------------------------------------------------------------

def _load_data(quiet):
    """The full MNIST set if on disk, else the sample; says why the sample is used."""
    from fastnet import datasets

    try:
        train, test = datasets.load_mnist(normalize=True, download=False)
        source = f"MNIST ({len(train[0]):,} train / {len(test[0]):,} test)"
    except datasets.MNISTNotFoundError:
        train, test = datasets.load_mnist(normalize=True, sample=True)
        source = (f"offline sample ({len(train[0]):,} train / {len(test[0]):,} test from the "
                  "MNIST test set)")
        if not quiet:
            print("note: using the offline sample because the full MNIST set is not on disk:",
                  file=sys.stderr)
            for directory, label in datasets._search_dirs(None):
                missing = [n for n, _ in datasets.MNIST_FILES if not datasets._find(directory, n)]
                print(f"  {directory} ({label}): missing {', '.join(missing)}", file=sys.stderr)
            print("  run 'fastnet data' to download it (md5-checked) into "
                  f"{datasets.default_cache_dir()}", file=sys.stderr)
    return train, test, source


def _load_checkpoint(path, flag):
    """``fastnet.load_checkpoint(path)`` with its errors as one-line usage errors naming ``flag``."""
    from fastnet.checkpoint import load_checkpoint

    try:
        return load_checkpoint(path)
    except (OSError, ValueError) as exc:  # missing, truncated, corrupted, newer format
        raise UsageError(f"{flag}: {' '.join(str(exc).split())}") from None


# The options of 'fastnet train' that build the net or choose the optimizer, and their
# defaults. Their parser default is None, so that a resumed run can tell those given from
# those left out: the net and optimizer then come from the checkpoint, and one given that
# differs from it would otherwise be ignored without a word.
_NET_OPTIONS = {"optimizer": "adam", "hidden": [100, 100, 100, 100], "activation": "relu",
                "batchnorm": False, "dropout": 0.0, "weight_decay": 0.0, "dtype": "float32"}


def _saved_options(net, optimizer):
    """The values of :data:`_NET_OPTIONS` that a checkpoint's net and optimizer have
    (only the optimizer's for a net the command did not build)."""
    from fastnet import MultiLayerNetExtend

    saved = {"optimizer": type(optimizer).__name__.lower()}
    if type(net) is MultiLayerNetExtend:
        saved.update(hidden=list(net.hidden_size_list), activation=net.activation,
                     batchnorm=net.use_batchnorm,
                     dropout=net.dropout_ration if net.use_dropout else 0.0,
                     weight_decay=net.weight_decay_lambda, dtype=net.dtype.name)
    return saved


def _as_typed(name, value):
    """``value`` of train option ``name`` as it is written on the command line."""
    return ",".join(map(str, value)) if name == "hidden" else value


def _check_resumed_options(path, resumed, given):
    """UsageError for an option in ``given`` that the resumed run's net or optimizer differs
    from (those come from the file)."""
    saved = _saved_options(resumed.net, resumed.optimizer)
    for name, value in given.items():
        flag = "--" + name.replace("_", "-")
        if name not in saved:
            raise UsageError(f"{flag} {_as_typed(name, value)}: the net in --resume {path} is a "
                             f"{type(resumed.net).__name__} that this command did not build; "
                             f"drop {flag} (the net comes from the file)")
        if saved[name] == value:
            continue
        if value is True:  # a switch such as --batchnorm
            given_as, has, fix = flag, "was trained without it", f"drop {flag}"
        else:
            was = _as_typed(name, saved[name])
            given_as, has, fix = (f"{flag} {_as_typed(name, value)}", f"has {flag} {was}",
                                  f"drop {flag} or give {was}")
        raise UsageError(f"{given_as}: the run in --resume {path} {has}, and its net and "
                         f"optimizer come from the file; {fix} (or start a new run without "
                         "--resume)")


def _train(args):
    from fastnet import MultiLayerNetExtend
    from fastnet.trainer import EarlyStopping, SaveCheckpoint, Trainer

    given = {name: getattr(args, name) for name in _NET_OPTIONS
             if getattr(args, name) is not None}
    for name, default in _NET_OPTIONS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)

    if args.early_stopping is not None and not args.validation_split:
        raise UsageError("--early-stopping needs validation data: add --validation-split 0.1 "
                         "(the test set is never used for choices)")
    if args.save:
        _writable_file(args.save, "--save", (".npz",))
    resumed = _load_checkpoint(args.resume, "--resume") if args.resume else None
    if resumed is not None and resumed.state is None:
        raise UsageError(f"--resume {args.resume}: holds a net but no training state; resume "
                         "from a file written by 'fastnet train --save'")
    if resumed is not None:
        _check_resumed_options(args.resume, resumed, given)
    done = resumed.state.get("epoch") if resumed is not None else None
    if isinstance(done, numbers.Integral) and done >= args.epochs:  # checked before the data load
        raise UsageError(f"--resume {args.resume}: that run has finished epoch {done} of "
                         f"--epochs {args.epochs}, so there is nothing to train; give a larger "
                         "--epochs to continue it")
    if args.history:
        _writable_file(args.history, "--history", (".csv", ".json"))
    if args.plot:
        _writable_file(args.plot, "--plot", (".png",))
        _need_matplotlib("--plot")
    lr = args.lr if args.lr is not None else _default_lrs()[args.optimizer]

    (x_train, t_train), (x_test, t_test), source = _load_data(args.quiet)
    if resumed is None:
        net = MultiLayerNetExtend(784, args.hidden, 10, activation=args.activation,
                                  weight_init_std=args.init, weight_decay_lambda=args.weight_decay,
                                  use_dropout=args.dropout > 0, dropout_ration=args.dropout,
                                  use_batchnorm=args.batchnorm, dtype=args.dtype, seed=args.seed)
        optimizer, optimizer_param = args.optimizer, {"lr": lr}
    else:  # the net and the optimizer (kind, lr, state) come from the checkpoint
        net, optimizer, optimizer_param = resumed.net, resumed.optimizer, None
        if args.lr is not None:
            optimizer.lr = args.lr
    dtype = net.dtype
    callbacks = []
    if args.early_stopping is not None:
        callbacks.append(EarlyStopping("val_loss", patience=args.early_stopping))
    if args.save or args.resume:  # every epoch, so that an interrupted run can resume
        callbacks.append(SaveCheckpoint(args.save or args.resume))
    try:
        trainer = Trainer(net, x_train.astype(dtype, copy=False), t_train,
                          x_test.astype(dtype, copy=False), t_test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer=optimizer,
                          optimizer_param=optimizer_param, seed=args.seed, callbacks=callbacks,
                          validation_split=args.validation_split,
                          progress=sys.stderr.isatty() and not args.quiet,
                          verbose=not args.quiet)
    except ValueError as exc:  # the options against this data set: a split leaving no sample
        raise UsageError(" ".join(str(exc).split())) from None
    if not args.quiet:
        print(f"data: {source}")
    if resumed is not None:
        try:
            trainer.load_state_dict(resumed.state)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"--resume {args.resume}: cannot continue that run with these "
                             f"options ({exc}); give the options it was started with") from None
        if not args.quiet:
            print(f"resuming {args.resume} after epoch {trainer.current_epoch} of {args.epochs} "
                  f"(net and optimizer from the file"
                  f"{'' if args.lr is None else f', lr set to {args.lr:g}'})")
    elif not args.quiet:
        layers = "-".join(map(str, [784, *args.hidden, 10]))
        print(f"net {layers} ({args.activation}, init {args.init}"
              f"{', batch norm' if args.batchnorm else ''}"
              f"{f', dropout {args.dropout:g}' if args.dropout else ''}"
              f"{f', weight decay {args.weight_decay:g}' if args.weight_decay else ''}); "
              f"{args.optimizer} lr {lr:g}; batch {args.batch_size}; {args.epochs} epochs"
              f"{f'; validation split {args.validation_split:g}' if args.validation_split else ''}")
    started = time.perf_counter()
    acc = trainer.train()  # prints the final accuracy unless quiet
    if args.quiet:
        print(f"final test accuracy: {acc:.4f}")
    else:
        print(f"{trainer.current_iter} steps in {time.perf_counter() - started:.1f} s")
    if args.history:
        trainer.save_history(args.history)
    if args.plot:
        trainer.plot_history(args.plot)
    for path in filter(None, (args.history, args.plot, args.save or args.resume)):
        if not args.quiet:
            print(f"wrote {path}")
    return 0


def _read_images(path):
    """Images from ``.npy``, an MNIST IDX file or a PNG/JPEG, as float32 ``(N, 784)`` in [0, 1]."""
    from fastnet.datasets import IMAGES_MAGIC, read_idx

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"FILE {path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg"):
        try:
            from PIL import Image
        except ImportError:
            raise UsageError(f"FILE {path}: reading {suffix} images needs Pillow, which is not "
                             "installed: pip install pillow (or give a .npy array)") from None
        try:
            with Image.open(path) as image:
                x = np.asarray(image.convert("L").resize((28, 28)), dtype=np.float32) / 255
        except OSError as exc:
            raise UsageError(f"FILE {path}: not a readable image ({exc})") from None
        if x.mean() > 0.5:  # dark digit on a light background: MNIST digits are light on dark
            x = 1 - x
        return x.reshape(1, -1)
    try:
        x = np.load(path, allow_pickle=False) if suffix == ".npy" else read_idx(path, IMAGES_MAGIC)
    except (OSError, ValueError) as exc:
        raise UsageError(f"FILE {path}: expected a .npy array, an MNIST IDX images file or a "
                         f"PNG/JPEG image ({' '.join(str(exc).split())})") from None
    if x.dtype.kind not in "uif" or x.size == 0 or x.size % 784:
        raise UsageError(f"FILE {path}: expected 28x28 images (N x 784 or N x 28 x 28 numbers); "
                         f"got shape {x.shape} of {x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():  # printed as class 0, probability nan
        raise UsageError(f"FILE {path}: holds NaN or infinite values; expected pixel values")
    x = x.reshape(-1, 784)
    return (x / 255 if x.dtype.kind in "ui" else x).astype(np.float32)


def _predict(args):
    from fastnet.ensemble import softmax

    net = _load_checkpoint(args.model, "MODEL").net
    x = _read_images(args.file).astype(net.dtype, copy=False)
    try:
        probs = softmax(np.asarray(net.predict(x), dtype=np.float64))
    except ValueError as exc:
        raise UsageError(f"FILE {args.file}: {exc}") from None
    classes = np.argmax(probs, axis=1)
    print("sample  class  probability")
    for i, (c, p) in enumerate(zip(classes, probs[np.arange(len(classes)), classes])):
        print(f"{i:6d}  {c:5d}  {p:11.4f}")
    return 0


def _experiment(args):
    from fastnet.experiments import EXPERIMENTS, get_experiment

    if args.list or not args.name:
        for name in sorted(EXPERIMENTS):
            doc = (get_experiment(name).__doc__ or "").strip().splitlines()
            print(f"{name:20s} {doc[0].replace('``', '') if doc else ''}")
        return 0
    out = _writable_dir(args.out, "--out") if args.out else None
    get_experiment(args.name).run(out_dir=out, seed=args.seed, quick=args.quick)
    if out is not None:
        print(f"results written to {out}")
    return 0


def _tune(args):
    from fastnet import tune

    space = dict(args.space or [])
    if len(space) != len(args.space or []):
        names = [name for name, _ in args.space]
        raise UsageError(f"--space {max(names, key=names.count)} is given twice; give each "
                         "name once")
    space = space or {"lr": tune.loguniform(1e-6, 1e-2),
                      "weight_decay": tune.loguniform(1e-8, 1e-4)}
    build = tune.MLP(784, args.hidden, 10, optimizer=args.optimizer)
    unknown = [n for n in space if n not in build.NET_NAMES + build.optimizer_names]
    if unknown:
        raise UsageError(f"--space {unknown[0]}: {args.optimizer} nets take "
                         f"{', '.join(build.NET_NAMES + build.optimizer_names)}")
    use_optuna = any(v is not None for v in (args.sampler, args.pruner, args.storage,
                                                args.study)) or args.resume
    if use_optuna:
        _check_optuna_options(args)
    out = _writable_dir(args.out, "--out") if args.out else None
    (x_train, t_train), _, source = _load_data(args.quiet)
    x, t = x_train[:args.train_size], t_train[:args.train_size]
    try:  # the options against this data set (as for train): exit 2, not a failure (1)
        tune.split_validation(x, t, args.validation_fraction, 0)  # sizes do not depend on seed
    except ValueError as exc:
        raise UsageError(" ".join(str(exc).split())) from None
    if not args.quiet:
        print(f"data: {source}; first {len(x)} training samples, "
              f"{args.validation_fraction:g} of each class for validation")
        print("space: " + ", ".join(f"{k}={v!r}" for k, v in space.items()))
    common = {"n_trials": args.n_trials, "validation_fraction": args.validation_fraction,
              "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "min_epochs": args.min_epochs, "batch_trials": args.batch_trials,
              "progress": sys.stderr.isatty() and not args.quiet}
    if use_optuna:
        result = tune.optuna_search(build, space, x, t, sampler=args.sampler or "random",
                                    pruner=args.pruner, storage=args.storage,
                                    study_name=args.study, resume=args.resume, **common)
    else:
        try:
            result = tune.random_search(build, space, x, t, n_jobs=args.n_jobs,
                                        early_stopping=args.early_stopping, **common)
        except tune.WorkerDiedError as exc:  # the machine's doing (out of memory), not a bug
            print(f"{PROG} tune: error: {exc}", file=sys.stderr)
            return 1
    if not args.quiet:
        print(result.table(top=args.top))
    print(result.summary())
    if out is not None:
        paths = [result.save(out / "tune.csv"), result.save(out / "tune.json"),
                 result.plot(out / "tune.png")]
        if not args.quiet:
            print("wrote " + ", ".join(str(p) for p in paths if p is not None))
    return 0


def _check_optuna_options(args):
    """Optuna options: compatible with each other, optuna installed, the storage reachable."""
    from fastnet import tune

    if args.early_stopping is not None:
        raise UsageError("--early-stopping is the built-in search's; with Optuna options use "
                         "--pruner halving (or median)")
    if args.n_jobs != 1:
        raise UsageError("--n-jobs is the built-in search's; with Optuna run several "
                         "'fastnet tune --storage URL --study NAME --resume' processes")
    if args.resume and args.storage is None:
        raise UsageError("--resume needs --storage (e.g. sqlite:///study.db): an in-memory "
                         "study ends with the process")
    if args.study is not None and args.storage is None:
        raise UsageError("--study names a study in a --storage; add --storage "
                         "sqlite:///study.db (or a postgresql:// URL)")
    try:
        tune._optuna()
    except ImportError as exc:
        raise UsageError(f"--sampler, --pruner, --storage, --study and --resume run an Optuna "
                         f"study: {exc}") from None
    if args.storage is not None:
        try:
            storage = tune.open_storage(args.storage)
        except tune.StorageError as exc:
            raise UsageError(f"--storage {exc.url}: {exc.reason}") from None
        name = args.study or "fastnet"
        if not args.resume and name in {s.study_name for s in storage.get_all_studies()}:
            raise UsageError(f"--study {name} already exists in {tune.redact(args.storage)}; "
                             "add --resume to continue it, or choose another name")


def _data(args):
    from fastnet import datasets

    directory = _writable_dir(args.dir or datasets.default_cache_dir(), "--dir")
    missing = [(n, md5) for n, md5 in datasets.MNIST_FILES if not datasets._find(directory, n)]
    if missing:
        url = args.url or os.environ.get("FASTNET_MNIST_URL") or datasets.DEFAULT_URL
        print(f"downloading {len(missing)} file(s) from {url} into {directory} ...", flush=True)
        try:
            datasets.download_files(missing, directory, url)
        except (datasets.DownloadError, datasets.ChecksumError) as exc:
            print(f"{PROG} data: error: {exc} (check the network or give --url)",
                  file=sys.stderr)
            return 1
        print(f"downloaded and md5-checked: {', '.join(n for n, _ in missing)}")
    print(f"MNIST (all four files) is in {directory}")
    searched = [d.resolve() for d, _ in datasets._search_dirs(None)]
    if directory.resolve() not in searched:
        print(f"fastnet looks in {', '.join(map(str, searched))}: "
              f"set FASTNET_DATA={directory} so that it finds this copy")
    return 0


def build_parser():
    from fastnet.experiments import EXPERIMENTS
    from fastnet.optim import OPTIMIZERS

    parser = _Parser(prog=PROG, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = sub.choices  # name -> its parser, which errors about its options name

    lrs = _default_lrs()
    train = sub.add_parser(
        "train", help="train a fully connected net on MNIST",
        description="Train a fully connected net (default 784-100-100-100-100-10, ReLU, He "
                    "init, Adam) on MNIST: the full set when it is on disk (see 'fastnet "
                    "data'), otherwise the offline sample shipped with fastnet. Prints a "
                    "line per epoch and the final test accuracy.")
    train.add_argument("--epochs", type=_POSITIVE_INT, default=10,
                       help="passes over the training set (default 10)")
    train.add_argument("--batch-size", type=_POSITIVE_INT, default=100,
                       help="mini-batch size (default 100)")
    train.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None,
                       help=f"update rule (default {_NET_OPTIONS['optimizer']}): "
                            + ", ".join(f"{n} (lr {lrs[n]:g})" for n in sorted(OPTIMIZERS)))
    train.add_argument("--lr", type=_real(0, low_open=True), default=None,
                       help="learning rate (default: the optimizer's, listed under --optimizer)")
    train.add_argument("--hidden", type=_hidden_sizes, default=None,
                       help="hidden layer sizes, comma-separated (default "
                            f"{_as_typed('hidden', _NET_OPTIONS['hidden'])})")
    train.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default=None,
                       help=f"hidden activation (default {_NET_OPTIONS['activation']})")
    train.add_argument("--init", type=_weight_init, default="he",
                       help="weight init: he, xavier, glorot, lecun, orthogonal, ... or a std "
                            "such as 0.01 (default he; a new run's, --resume keeps the saved "
                            "weights)")
    train.add_argument("--batchnorm", action="store_true", default=None,
                       help="batch normalization before each hidden activation")
    train.add_argument("--dropout", type=_real(0, 1, high_open=True), default=None,
                       metavar="RATIO", help="dropout ratio after each hidden layer (default 0: off)")
    train.add_argument("--weight-decay", type=_real(0), default=None, metavar="LAMBDA",
                       help="L2 weight decay lambda (default 0)")
    train.add_argument("--validation-split", type=_real(0, 1, high_open=True), default=0.0,
                       metavar="FRACTION",
                       help="hold out this fraction of each class for validation (default 0)")
    train.add_argument("--early-stopping", type=_NON_NEGATIVE_INT, default=None,
                       metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a lower validation loss and "
                            "restore the best weights (needs --validation-split)")
    train.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0,
                       help="seed for weights, validation split and batch order (default 0)")
    train.add_argument("--dtype", choices=["float32", "float64"], default=None,
                       help=f"parameter dtype (default {_NET_OPTIONS['dtype']})")
    train.add_argument("--history", default=None, metavar="PATH",
                       help="write the per-epoch history to PATH (.csv or .json)")
    train.add_argument("--plot", default=None, metavar="PATH",
                       help="plot loss and accuracy curves to PATH (.png; needs matplotlib)")
    train.add_argument("--save", default=None, metavar="PATH",
                       help="save the net, optimizer and training state to PATH (.npz) after "
                            "every epoch (see --resume)")
    train.add_argument("--resume", default=None, metavar="PATH",
                       help="continue the run saved in PATH by --save, up to --epochs; give the "
                            "same data options and --seed (the net and optimizer come from PATH: "
                            "a net or optimizer option that differs from it is an error; --lr "
                            "sets a new learning rate)")
    train.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    train.set_defaults(func=_train)

    predict = sub.add_parser("predict", help="classify digits with a saved net",
                             description="Print the most probable class and its probability "
                                         "for each image in FILE: a .npy array (N x 784 or N x "
                                         "28 x 28; integers are divided by 255, floats used as "
                                         "they are), an MNIST IDX images file, or a PNG/JPEG "
                                         "digit (needs Pillow; made grey, 28 x 28, scaled to "
                                         "[0, 1] and inverted if its background is light).")
    predict.add_argument("model", metavar="MODEL", help="a net saved by 'fastnet train --save'")
    predict.add_argument("file", metavar="FILE", help="the images to classify")
    predict.set_defaults(func=_predict)

    exp = sub.add_parser("experiment", help="run one of the textbook's experiments",
                         description="Run an experiment; without a name, list them.")
    exp.add_argument("name", nargs="?", choices=sorted(EXPERIMENTS), metavar="NAME",
                     help="experiment: " + ", ".join(sorted(EXPERIMENTS)))
    exp.add_argument("--list", action="store_true", help="list the experiments")
    exp.add_argument("--out", default=None, metavar="DIR",
                     help="directory for CSV files and PNG plots (created if needed)")
    exp.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0, help="random seed (default 0)")
    exp.add_argument("--quick", action="store_true",
                     help="a small version that takes seconds and still shows the effect")
    exp.set_defaults(func=_experiment)

    tn = sub.add_parser(
        "tune", help="random search for hyperparameters on a validation split",
        description="Random search (the textbook's section 6.5): each trial draws a point of "
                    "the space, trains a fully connected net on the training data less a "
                    "stratified validation split, and is ranked by validation accuracy; the "
                    "test set is not used. Default space: the textbook's, "
                    "--space lr=log:1e-6:1e-2 --space weight_decay=log:1e-8:1e-4.")
    tn.add_argument("--space", type=_space_item, action="append", metavar="NAME=KIND:ARGS",
                    help="a searched hyperparameter (repeat the option): NAME is lr, "
                         "weight_decay, dropout or another argument of the optimizer; KIND:ARGS "
                         "is log:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH, logint:LOW:HIGH or "
                         "choice:A,B,...")
    tn.add_argument("--n-trials", type=_POSITIVE_INT, default=100,
                    help="number of trials (default 100)")
    tn.add_argument("--epochs", type=_POSITIVE_INT, default=50,
                    help="epochs per trial (default 50)")
    tn.add_argument("--n-jobs", type=_POSITIVE_INT, default=1,
                    help="trials run in parallel processes (default 1); results do not depend "
                         "on it")
    tn.add_argument("--batch-trials", type=_POSITIVE_INT, default=1, metavar="K",
                    help="train trials in groups of K as one batched computation; the trials "
                         "of a group see the same batches, so they compare with less noise "
                         "between them, and results depend on K (default 1)")
    tn.add_argument("--seed", type=_NON_NEGATIVE_INT, default=0,
                    help="study seed: validation split and every trial (default 0)")
    tn.add_argument("--out", default=None, metavar="DIR",
                    help="directory for tune.csv, tune.json and tune.png (created if needed)")
    tn.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd",
                    help="update rule (default sgd, as the textbook)")
    tn.add_argument("--hidden", type=_hidden_sizes, default=[100] * 6,
                    help="hidden layer sizes, comma-separated (default 100,100,100,100,100,100)")
    tn.add_argument("--train-size", type=_POSITIVE_INT, default=500,
                    help="use the first N training samples (default 500, as the textbook)")
    tn.add_argument("--validation-fraction", type=_real(0, 1, low_open=True, high_open=True),
                    default=0.2, metavar="FRACTION",
                    help="fraction of each class held out for validation (default 0.2)")
    tn.add_argument("--batch-size", type=_POSITIVE_INT, default=100,
                    help="mini-batch size (default 100)")
    tn.add_argument("--early-stopping", choices=["asha"], default=None,
                    help="abandon trials early: asha (successive halving at epochs M, 3M, "
                         "9M, ... with M = --min-epochs)")
    tn.add_argument("--min-epochs", type=_POSITIVE_INT, default=1, metavar="M",
                    help="epochs before the first asha rung or pruning decision (default 1; "
                         "larger when the first epochs say little)")
    tn.add_argument("--sampler", choices=["random", "tpe"], default=None,
                    help="run the search as an Optuna study with this sampler (needs the "
                         "tune extra: pip install 'fastnet[tune]')")
    tn.add_argument("--pruner", choices=["halving", "median"], default=None,
                    help="Optuna pruner fed with each epoch's validation accuracy: "
                         "successive halving or median")
    tn.add_argument("--storage", default=None, metavar="URL",
                    help="Optuna storage: sqlite:///study.db to stop and resume, "
                         "postgresql://user:password@host/db to share one study between "
                         "machines (default: in memory)")
    tn.add_argument("--study", default=None, metavar="NAME",
                    help="study name in --storage (default fastnet)")
    tn.add_argument("--resume", action="store_true",
                    help="continue the study in --storage (create it if missing); every "
                         "machine sharing a study passes it")
    tn.add_argument("--top", type=_POSITIVE_INT, default=20,
                    help="rows of the printed table (default 20)")
    tn.add_argument("--quiet", action="store_true", help="print only the summary line")
    tn.set_defaults(func=_tune)

    data = sub.add_parser("data", help="download the full MNIST set (md5-checked)",
                          description="Download the four MNIST files into the cache "
                                      "(~/.cache/fastnet/mnist) or --dir, check their md5 "
                                      "sums, and say where they are. Files already there "
                                      "are kept.")
    data.add_argument("--dir", default=None, metavar="DIR",
                      help="directory to download into (default ~/.cache/fastnet/mnist)")
    data.add_argument("--url", default=None, type=_url,
                      help="base URL of the files (default $FASTNET_MNIST_URL or the public "
                           "mirror)")
    data.set_defaults(func=_data)
    return parser


def main(argv=None):
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:  # pointed at the help of the command given them, which lists its options
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        # The environment, not the options: an unreadable data file, a full disk ...
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except MemoryError as exc:
        # Sizes too large for this machine (--hidden 99999999999999): one line, not a traceback
        print(f"{PROG}: error: out of memory: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
