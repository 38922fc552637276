"""Ensembles: average the class probabilities of several trained nets; train nets together.

:func:`train_together` trains the members of a :class:`fastnet.NetBatch`
epoch by epoch with one batched step per mini-batch, drawing batches as the
:class:`~fastnet.trainer.Trainer` does; :meth:`Ensemble.fit`, the
experiments and :func:`fastnet.tune.random_search` (``batch_trials``) use it.
"""
import math

import numpy as np

from fastnet._checks import as_labels, integer, make_rng, positive_int
from fastnet.net import accuracy_of
from fastnet.netbatch import NetBatch
from fastnet.trainer import Trainer, _check_pair


def softmax(logits):
    """Row-wise softmax of ``logits (N, C)``, shifted by each row's maximum for stability."""
    z = logits - np.max(logits, axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= np.sum(z, axis=1, keepdims=True)
    return z


def train_together(batch, x, t, *, epochs, batch_size=100, seed=None, on_epoch=None):
    """Train the members of ``batch`` for ``epochs`` epochs, one batched step per mini-batch.

    Batches are drawn as ``Trainer(..., sampling='epoch', seed=...)`` draws
    them: each epoch a fresh permutation of the ``N`` samples, cut into
    ``ceil(N / batch_size)`` batches (the last one smaller). A member
    therefore ends as the same net trained alone by a Trainer with the same
    seed and optimizer: bit-identical when the lone net's matrix products run
    as a member's do (whole, on one BLAS thread), else within the dtype's
    rounding.

    Parameters
    ----------
    batch : fastnet.NetBatch
        The members and their optimizers; its members' parameters and
        optimizer states are mutated.
    x, t : arrays, samples on the first axis
    epochs : int >= 0
    batch_size : int >= 1
    seed : None, int, Generator, or a sequence of ``len(batch)`` of them
        One source: every member trains on the same batches (one
        permutation per epoch). A sequence: member ``i`` draws its own order
        from ``seed[i]``.
    on_epoch : callable ``on_epoch(epoch, members, current) -> kept`` or None
        Called after each epoch (``epoch`` from 1) with the positions (in
        ``batch``) of the members still training and ``current``, the
        NetBatch of those members (to evaluate them); returns the positions
        that keep training, or None for all of them. A dropped member is no
        longer stepped; training ends early when none is left.

    Returns
    -------
    list of ``len(batch)`` lists of float
        Each member's loss per step it took.
    """
    epochs = integer("epochs", epochs, low=0)
    batch_size = positive_int("batch_size", batch_size)
    n = _check_pair("x", x, "t", t)
    members = list(range(len(batch)))
    shared = seed is None or isinstance(seed, (int, np.integer, np.random.Generator))
    if shared:
        rngs = [make_rng(seed)]
    else:
        rngs = [make_rng(s, f"seed[{i}]") for i, s in enumerate(seed)]
        if len(rngs) != len(batch):
            raise ValueError(f"seed must be one seed or {len(batch)} (one per member); "
                             f"got {len(rngs)}")
    losses = [[] for _ in members]
    steps = math.ceil(n / batch_size)
    for epoch in range(1, epochs + 1):
        orders = [rng.permutation(n) for rng in rngs]
        for i in range(steps):
            idx = [order[i * batch_size:(i + 1) * batch_size] for order in orders]
            if shared:
                step_losses = batch.step(x[idx[0]], t[idx[0]])
            else:
                step_losses = batch.step([x[j] for j in idx], [t[j] for j in idx])
            for m, loss in zip(members, step_losses):
                losses[m].append(float(loss))
        kept = None if on_epoch is None else on_epoch(epoch, list(members), batch)
        if kept is not None and list(kept) != members:
            keep = [members.index(m) for m in kept]
            if not keep:
                break
            batch = NetBatch([batch.nets[j] for j in keep], [batch.optimizers[j] for j in keep])
            if not shared:
                rngs = [rngs[j] for j in keep]
            members = [members[j] for j in keep]
    return losses


class Ensemble:
    """Average of the members' softmax outputs: ``p(x) = (1/K) sum_k softmax(net_k.predict(x))``.

    Parameters
    ----------
    nets : sequence of nets
        At least one; each has ``predict(x) -> logits (N, C)`` (inference
        mode) with the same number of classes ``C``. The nets are used, not
        copied.

    Averaging probabilities (not logits) never does worse than the mean
    member in log-loss (``-log`` is convex), and usually helps accuracy
    because members trained from different seeds err on different samples.
    """

    def __init__(self, nets):
        try:
            nets = list(nets)
        except TypeError:
            raise TypeError(f"nets must be a sequence of nets; got {nets!r}") from None
        if not nets:
            raise ValueError("nets must hold at least one net")
        for i, net in enumerate(nets):
            if not callable(getattr(net, "predict", None)):
                raise TypeError(f"nets[{i}] must have predict(x) returning logits; "
                                f"got {type(net).__name__}")
        self.nets = nets

    def __len__(self):
        return len(self.nets)

    def fit(self, x, t, *, epochs, batch_size=100, optimizer="sgd", optimizer_param=None,
            seed=None):
        """Train every member on ``(x, t)`` at once: one :class:`fastnet.NetBatch` step per batch.

        Each member draws its own batch order (members trained on different
        orders err on different samples, which is what an ensemble needs);
        member ``i`` ends as ``Trainer(net_i, x, t, ..., epochs=epochs,
        mini_batch_size=batch_size, optimizer=..., seed=seed[i]).train()``
        leaves it (bit-identical when that run's matrix products are whole and
        on one BLAS thread, as a member's are; else within the dtype's
        rounding). The members must be :class:`fastnet.Sequential`
        nets of the same shape (a NetBatch's rule); their parameters are
        trained in place.

        Parameters
        ----------
        x, t : arrays, samples on the first axis (``t`` class indices or one-hot rows)
        epochs : int >= 0
        batch_size : int >= 1
        optimizer : str or sequence of optimizers
            A name of :data:`fastnet.optim.OPTIMIZERS` (each member gets its own,
            built with ``optimizer_param``, default ``{'lr': 0.01}``), or one
            optimizer object per member.
        seed : None, int, Generator, or a sequence of one per member
            One seed is spawned into independent batch orders, one per member.

        Returns
        -------
        ndarray, shape ``(steps, K)``
            Each member's training loss per step (float64).
        """
        k = len(self.nets)
        if isinstance(optimizer, str):
            optimizers = [Trainer._make_optimizer(optimizer, optimizer_param) for _ in range(k)]
        else:
            if optimizer_param is not None:
                raise ValueError("optimizer_param applies to an optimizer given by name; "
                                 "configure the optimizer objects directly")
            optimizers = [Trainer._make_optimizer(o, None) for o in optimizer]
            if len(optimizers) != k:
                raise ValueError(f"optimizer must be a name or {k} optimizers (one per "
                                 f"member); got {len(optimizers)}")
        if seed is None or isinstance(seed, (int, np.integer, np.random.Generator)):
            seed = make_rng(seed).spawn(k)
        losses = train_together(NetBatch(self.nets, optimizers), x, t, epochs=epochs,
                                batch_size=batch_size, seed=seed)
        return np.array(losses, dtype=np.float64).T.reshape(-1, k)

    def member_probabilities(self, x):
        """Return each member's softmax output, shape ``(K, N, C)``, in the members' dtype."""
        probs = []
        for i, net in enumerate(self.nets):
            logits = np.asarray(net.predict(x))
            if logits.ndim != 2 or logits.dtype.kind != "f":
                raise ValueError(f"nets[{i}].predict(x) must return logits of shape (N, C), "
                                 f"floating point; got shape {logits.shape} of {logits.dtype}")
            probs.append(softmax(logits))
        shapes = {p.shape for p in probs}
        if len(shapes) != 1:
            raise ValueError(f"the members' outputs differ in shape: "
                             f"{[p.shape for p in probs]}; all need the same classes")
        return np.stack(probs)

    def predict(self, x):
        """Return the averaged class probabilities for ``x``, shape ``(N, C)``; rows sum to 1."""
        return self.member_probabilities(x).mean(axis=0)

    def accuracy(self, x, t):
        """Fraction of samples whose most probable averaged class is the target.

        ``t``: class indices ``(N,)`` or target rows ``(N, C)`` (arg-max taken).
        """
        return self._accuracy(self.predict(x), t)

    def member_accuracies(self, x, t):
        """Return ``(member accuracies list, ensemble accuracy)`` from one pass of each member."""
        probs = self.member_probabilities(x)
        return ([self._accuracy(p, t) for p in probs], self._accuracy(probs.mean(axis=0), t))

    @staticmethod
    def _accuracy(probs, t):
        # Checked as a net's accuracy checks them: a class index outside [0, C) or
        # target rows of another width were a silent 0 (or a share of argmax hits).
        t = as_labels("t", t, probs.shape[0], probs.shape[1], probs.dtype)
        return accuracy_of(probs, t)
