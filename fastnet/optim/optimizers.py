"""SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam and AdamW.

Each takes ``convention='textbook'`` (default: the formulas of the
textbook's ``common/optimizer.py``, operation for operation) or
``convention='torch'`` (the formulas, eps defaults and coupled
``weight_decay`` of ``torch.optim``); one kernel serves both through its
arguments. Notation: ``p`` parameter, ``g`` gradient (plus ``lambda p``
when ``weight_decay = lambda > 0``), ``t`` the parameter's step count.
"""
import math

from fastnet._checks import one_of, real_scalar
from fastnet.optim._base import Optimizer

# eps when not given: the textbook hard-codes 1e-7; torch's defaults differ per optimizer.
_EPS = {"textbook": {"AdaGrad": 1e-7, "RMSprop": 1e-7, "Adam": 1e-7, "AdamW": 1e-7},
        "torch": {"AdaGrad": 1e-10, "RMSprop": 1e-8, "Adam": 1e-8, "AdamW": 1e-8}}


def _unit(name, value):
    """A coefficient in [0, 1) (momentum, betas, decay rates)."""
    return real_scalar(name, value, low=0, high=1, high_open=True)


def _nonnegative(name, value):
    return real_scalar(name, value, low=0)


def _positive(name, value):
    return real_scalar(name, value, low=0, low_open=True)


_CHECKS = {**Optimizer._checks, "momentum": _unit, "decay_rate": _unit, "beta1": _unit,
           "beta2": _unit, "eps": _positive, "weight_decay": _nonnegative}


class SGD(Optimizer):
    """Stochastic gradient descent (Robbins & Monro, 1951): ``p <- p - lr g``.

    Parameters
    ----------
    lr : float >= 0, default 0.01
    weight_decay : float >= 0, default 0
        Coupled L2: ``g <- g + weight_decay * p`` (``torch.optim.SGD``'s).
    convention : {'textbook', 'torch'}
        Both give the same formula here; kept for a uniform interface.
    backend : {'compiled', 'reference'}
    """

    _hyperparameters = ("lr", "weight_decay")
    _checks = _CHECKS

    def __init__(self, lr=0.01, *, weight_decay=0.0, convention="textbook", backend="compiled"):
        super().__init__(lr, convention=convention, backend=backend)
        self.weight_decay = weight_decay

    def _apply(self, p, g, t, state, c):
        self._ops.sgd_update_(p, g, self.lr, self.weight_decay)


class Momentum(Optimizer):
    """SGD with momentum (Polyak, 1964; Rumelhart, Hinton & Williams, 1986).

    - textbook: ``v <- mu v - lr g;  p <- p + v``
    - torch (``torch.optim.SGD(momentum=mu)``, dampening 0):
      ``b <- mu b + g;  p <- p - lr b``

    The two agree while ``lr`` is constant (``v = -lr b``); they differ when
    a schedule changes ``lr``: the textbook's velocity remembers old rates.

    Parameters
    ----------
    lr : float >= 0, default 0.01
    momentum : float in [0, 1), default 0.9
    weight_decay : float >= 0, default 0 (coupled L2)
    convention : {'textbook', 'torch'}
    backend : {'compiled', 'reference'}

    State per parameter: ``velocity`` (``momentum_buffer`` in torch).
    """

    _state_names = ("velocity",)
    _hyperparameters = ("lr", "momentum", "weight_decay")
    _checks = _CHECKS
    _nesterov = False

    def __init__(self, lr=0.01, momentum=0.9, *, weight_decay=0.0, convention="textbook",
                 backend="compiled"):
        super().__init__(lr, convention=convention, backend=backend)
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _apply(self, p, g, t, state, c):
        self._ops.momentum_update_(p, g, state[0], self.lr, self.momentum, self.weight_decay,
                                   self._nesterov, self.convention == "textbook")


class Nesterov(Momentum):
    """Nesterov's accelerated gradient (Nesterov, 1983; Sutskever et al., 2013;
    the textbook's form from Bengio et al., 2012, arXiv:1212.0901).

    - textbook: ``v <- mu v - lr g;  p <- p + mu^2 v - (1 + mu) lr g``
    - torch (``torch.optim.SGD(momentum=mu, nesterov=True)``):
      ``b <- mu b + g;  p <- p - lr (g + mu b)``

    With constant ``lr`` (``v = -lr b``) torch's step is Bengio et al.'s
    ``p + mu^2 v_old - (1 + mu) lr g``; the textbook applies ``mu^2`` to the
    already updated velocity, ``p + mu^3 v_old - (1 + mu + mu^2) lr g``: a
    different method, not a reordering. Parameters as :class:`Momentum`.
    """

    _nesterov = True


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer, 2011).

    ``h <- h + g^2;  p <- p - lr g / (sqrt(h) + eps)``, in both conventions;
    eps defaults to 1e-7 (textbook) or 1e-10 (``torch.optim.Adagrad``).

    Parameters
    ----------
    lr : float >= 0, default 0.01
    eps : float > 0 or None (the convention's default)
    weight_decay : float >= 0, default 0 (coupled L2)
    convention : {'textbook', 'torch'}
    backend : {'compiled', 'reference'}

    State per parameter: ``h`` (torch's ``sum``).
    """

    _state_names = ("h",)
    _hyperparameters = ("lr", "eps", "weight_decay")
    _checks = _CHECKS

    def __init__(self, lr=0.01, *, eps=None, weight_decay=0.0, convention="textbook",
                 backend="compiled"):
        super().__init__(lr, convention=convention, backend=backend)
        self.eps = _EPS[self.convention][type(self).__name__] if eps is None else eps
        self.weight_decay = weight_decay

    def _coefficients(self):
        return 1.0, 1.0  # h <- 1 h + 1 g^2

    def _apply(self, p, g, t, state, c):
        self._ops.rmsprop_update_(p, g, state[0], self.lr, c[0], c[1], self.eps,
                                  self.weight_decay)


class RMSprop(AdaGrad):
    """RMSprop (Tieleman & Hinton, 2012, Coursera lecture 6.5).

    ``h <- rho h + (1 - rho) g^2;  p <- p - lr g / (sqrt(h) + eps)`` in both
    conventions; ``rho = decay_rate`` (torch's ``alpha``), eps defaults to
    1e-7 (textbook) or 1e-8 (``torch.optim.RMSprop``, without its
    ``momentum`` and ``centered`` options).

    Parameters
    ----------
    lr : float >= 0, default 0.01
    decay_rate : float in [0, 1), default 0.99
    eps, weight_decay, convention, backend : as :class:`AdaGrad`
    """

    _hyperparameters = ("lr", "decay_rate", "eps", "weight_decay")

    def __init__(self, lr=0.01, decay_rate=0.99, *, eps=None, weight_decay=0.0,
                 convention="textbook", backend="compiled"):
        self.decay_rate = decay_rate
        super().__init__(lr, eps=eps, weight_decay=weight_decay, convention=convention,
                         backend=backend)

    def _coefficients(self):
        return self.decay_rate, 1.0 - self.decay_rate


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, arXiv:1412.6980).

    ``m <- m + (1 - beta1)(g - m);  v <- v + (1 - beta2)(g^2 - v)``, then

    - textbook: ``p <- p - lr_t m / (sqrt(v) + eps)`` with
      ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)`` (the paper's
      "efficient" form; eps is added to the uncorrected root), eps 1e-7;
    - torch (``torch.optim.Adam``): ``p <- p - lr/(1 - beta1^t) m /
      (sqrt(v)/sqrt(1 - beta2^t) + eps)`` (eps added to the corrected
      root), eps 1e-8; ``weight_decay`` is coupled L2.

    Parameters
    ----------
    lr : float >= 0, default 0.001
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
    eps : float > 0 or None (the convention's default)
    weight_decay : float >= 0, default 0
    convention : {'textbook', 'torch'}
    backend : {'compiled', 'reference'}

    State per parameter: ``m``, ``v`` (torch's ``exp_avg``, ``exp_avg_sq``), ``step``.
    """

    _state_names = ("m", "v")
    _hyperparameters = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _checks = _CHECKS
    _decoupled = False

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, *, eps=None, weight_decay=0.0,
                 convention="textbook", backend="compiled"):
        super().__init__(lr, convention=convention, backend=backend)
        self.beta1, self.beta2 = beta1, beta2
        self.eps = _EPS[self.convention][type(self).__name__] if eps is None else eps
        self.weight_decay = weight_decay

    def _coefficients(self):
        # (coupled L2 coefficient, decoupled shrink factor)
        if self._decoupled:
            return 0.0, 1.0 - self.lr * self.weight_decay
        return self.weight_decay, 1.0

    def _apply(self, p, g, t, state, c):
        b1, b2, lr = self.beta1, self.beta2, self.lr
        if self.convention == "textbook":
            step_size = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
            inv_root = 1.0
        else:
            step_size = lr / (1 - b1 ** t)
            inv_root = 1.0 / (1 - b2 ** t) ** 0.5
        self._ops.adam_update_(p, g, state[0], state[1], step_size, b1, b2, self.eps, inv_root,
                               c[0], c[1])


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019, arXiv:1711.05101).

    ``p <- (1 - lr lambda) p`` before the Adam step, with ``lambda =
    weight_decay`` (default 0.01, as ``torch.optim.AdamW``); the decay never
    enters ``m`` or ``v``. Parameters as :class:`Adam`.
    """

    _decoupled = True

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, *, eps=None, weight_decay=0.01,
                 convention="textbook", backend="compiled"):
        super().__init__(lr, beta1, beta2, eps=eps, weight_decay=weight_decay,
                         convention=convention, backend=backend)


# Lower-case names accepted by make_optimizer and the Trainer.
OPTIMIZERS = {cls.__name__.lower(): cls
              for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW)}


def make_optimizer(name, **hyperparameters):
    """Return ``OPTIMIZERS[name.lower()](**hyperparameters)`` ('sgd', 'adam', ...)."""
    key = name.lower() if isinstance(name, str) else name
    return OPTIMIZERS[one_of("optimizer", key, OPTIMIZERS)](**hyperparameters)
