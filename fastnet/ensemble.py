"""Ensembles: average the class probabilities of several trained nets."""
import numpy as np


def softmax(logits):
    """Row-wise softmax of ``logits (N, C)``, shifted by each row's maximum for stability."""
    z = logits - np.max(logits, axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= np.sum(z, axis=1, keepdims=True)
    return z


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

    def member_probabilities(self, x):
        """Return each member's softmax output, shape ``(K, N, C)``, in the members' dtype."""
        probs = [softmax(np.asarray(net.predict(x))) for net in self.nets]
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
        t = np.asarray(t)
        if t.ndim == 2:
            t = np.argmax(t, axis=1)
        if t.shape != (probs.shape[0],):
            raise ValueError(f"t must have shape ({probs.shape[0]},) or ({probs.shape[0]}, "
                             f"{probs.shape[1]}); got {t.shape}")
        return float(np.mean(np.argmax(probs, axis=1) == t))
