"""Mini-batch training loop with the textbook ``Trainer`` API, plus opt-in callbacks."""
import math
import sys
import time

import numpy as np

from fastnet._checks import make_rng
from fastnet.optim import make_optimizer


class StopOnNaN:
    """Callback that stops training once the loss is NaN or infinite.

    Divergence is not an error in fastnet (the math carries on, as in NumPy);
    add this callback to stop early instead.
    """

    def __call__(self, trainer, loss):
        if not math.isfinite(loss):
            trainer.stop_reason = f"loss became {loss} at iteration {trainer.current_iter}"
            return True
        return False


class Trainer:
    """Train ``network`` on ``(x_train, t_train)`` and track accuracy per epoch.

    Textbook-compatible arguments. ``optimizer`` is a name ('sgd', ...) built
    with ``optimizer_param``, or an optimizer object. Each epoch visits the
    training set in a fresh random order drawn from ``seed``.
    ``evaluate_sample_num_per_epoch`` limits the per-epoch accuracy to the
    first that many samples. ``callbacks`` are called as ``cb(trainer, loss)``
    after every step; one returning True stops training. ``progress`` draws a
    progress bar on stderr.

    After :meth:`train`: ``train_loss_list`` (per step), ``train_acc_list`` and
    ``test_acc_list`` (per epoch), ``final_test_acc``.
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer="SGD", optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True, *, seed=None,
                 callbacks=(), progress=False):
        self.network = network
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = int(epochs)
        self.batch_size = int(mini_batch_size)
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and mini_batch_size >= 1; got {epochs}, {mini_batch_size}")
        if isinstance(optimizer, str):
            optimizer = make_optimizer(optimizer, **(optimizer_param or {"lr": 0.01}))
        self.optimizer = optimizer
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = verbose
        self.progress = progress
        self.callbacks = list(callbacks)
        self.rng = make_rng(seed)
        self.train_size = len(x_train)
        self.iter_per_epoch = max(math.ceil(self.train_size / self.batch_size), 1)
        self.max_iter = self.epochs * self.iter_per_epoch
        self.current_iter = 0
        self.current_epoch = 0
        self.stop_reason = None
        self.train_loss_list, self.train_acc_list, self.test_acc_list = [], [], []
        self.final_test_acc = None

    def _log(self, message):
        if self.verbose:
            print(message, flush=True)

    def _evaluate(self):
        n = self.evaluate_sample_num_per_epoch
        x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
        if n is not None:
            x_tr, t_tr, x_te, t_te = x_tr[:n], t_tr[:n], x_te[:n], t_te[:n]
        train_acc = self.network.accuracy(x_tr, t_tr)
        test_acc = self.network.accuracy(x_te, t_te)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        return train_acc, test_acc

    def train_step(self, batch):
        """One gradient step on the samples at indices ``batch``; returns the loss."""
        x, t = self.x_train[batch], self.t_train[batch]
        grads = self.network.gradient(x, t)
        self.optimizer.update(self.network.params, grads)
        # fastnet nets keep the loss their gradient pass computed; others recompute it.
        loss = getattr(self.network, "last_loss", None)
        if loss is None:
            loss = self.network.loss(x, t)
        self.train_loss_list.append(loss)
        self.current_iter += 1
        return loss

    def _draw_progress(self, i, loss, started):
        width = 30
        done = int(width * i / self.iter_per_epoch)
        sys.stderr.write(
            f"\repoch {self.current_epoch + 1}/{self.epochs} [{'#' * done}{'.' * (width - done)}] "
            f"{i}/{self.iter_per_epoch} loss {loss:.4f} {time.perf_counter() - started:.1f}s"
        )
        sys.stderr.flush()

    def train(self):
        """Run all epochs (or until a callback stops); return ``final_test_acc``."""
        started = time.perf_counter()
        for epoch in range(self.epochs):
            order = self.rng.permutation(self.train_size)
            for i in range(self.iter_per_epoch):
                loss = self.train_step(order[i * self.batch_size:(i + 1) * self.batch_size])
                if self.progress and (i % 10 == 0 or i + 1 == self.iter_per_epoch):
                    self._draw_progress(i + 1, loss, started)
                if any(cb(self, loss) for cb in self.callbacks):
                    break
            if self.progress:
                sys.stderr.write("\n")
            self.current_epoch = epoch + 1
            train_acc, test_acc = self._evaluate()
            self._log(f"epoch {epoch + 1:3d}  loss {np.mean(self.train_loss_list[-self.iter_per_epoch:]):.4f}  "
                      f"train acc {train_acc:.4f}  test acc {test_acc:.4f}")
            if self.stop_reason:
                self._log(f"stopped: {self.stop_reason}")
                break
        self.final_test_acc = self.network.accuracy(self.x_test, self.t_test)
        self._log(f"test accuracy {self.final_test_acc:.4f}")
        return self.final_test_acc
