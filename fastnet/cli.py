"""The ``fastnet`` command: ``fastnet train`` and ``fastnet experiment NAME``."""
import argparse
import sys
import time

import numpy as np


def _train(args):
    from fastnet import MultiLayerNet
    from fastnet.datasets import load_mnist_or_sample
    from fastnet.trainer import Trainer

    (x_train, t_train), (x_test, t_test), source = load_mnist_or_sample(normalize=True)
    print(f"data: {source}")
    net = MultiLayerNet(784, [100, 100, 100, 100], 10, activation="relu",
                        weight_init_std="relu", dtype=np.dtype(args.dtype), seed=args.seed)
    trainer = Trainer(net, x_train.astype(args.dtype, copy=False), t_train,
                      x_test.astype(args.dtype, copy=False), t_test, epochs=args.epochs,
                      mini_batch_size=args.batch_size, optimizer=args.optimizer,
                      optimizer_param={"lr": args.lr}, seed=args.seed,
                      progress=sys.stderr.isatty() and not args.quiet, verbose=not args.quiet)
    started = time.perf_counter()
    acc = trainer.train()
    print(f"final test accuracy: {acc:.4f}  ({time.perf_counter() - started:.1f} s, "
          f"{trainer.current_iter} steps)")
    return 0


def _experiment(args):
    from fastnet.experiments import EXPERIMENTS, get_experiment

    if args.list or not args.name:
        for name in sorted(EXPERIMENTS):
            doc = (get_experiment(name).__doc__ or "").strip().splitlines()
            print(f"{name:20s} {doc[0] if doc else ''}")
        return 0
    get_experiment(args.name).run(out_dir=args.out, seed=args.seed, quick=args.quick)
    if args.out:
        print(f"results written to {args.out}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="train the textbook net 784-100-100-100-100-10 on MNIST",
        description="Train MultiLayerNet 784-100x4-10 (ReLU, He init) on MNIST: the full "
                    "set if found (see fastnet.datasets.load_mnist), otherwise the offline "
                    "sample shipped with fastnet; prints per-epoch accuracy and the final "
                    "test accuracy.")
    train.add_argument("--epochs", type=int, default=10, help="passes over the training set (default 10)")
    train.add_argument("--batch-size", type=int, default=100, help="mini-batch size (default 100)")
    train.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    train.add_argument("--optimizer", default="sgd", help="optimizer name (default sgd)")
    train.add_argument("--seed", type=int, default=0, help="seed for weights and batch order (default 0)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="parameter dtype (default float32)")
    train.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    train.set_defaults(func=_train)

    exp = sub.add_parser("experiment", help="run one of the textbook's experiments",
                         description="Run an experiment; without a name, list them.")
    exp.add_argument("name", nargs="?", help="experiment name (see --list)")
    exp.add_argument("--list", action="store_true", help="list the experiments")
    exp.add_argument("--out", default=None, help="directory for CSV files and plots")
    exp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    exp.add_argument("--quick", action="store_true", help="a small, fast version")
    exp.set_defaults(func=_experiment)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"fastnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
