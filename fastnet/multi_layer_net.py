"""The textbook's fully connected nets, built as a :class:`~fastnet.net.Sequential`.

:class:`MultiLayerNetExtend` (affine layers with optional batch
normalization, dropout and weight decay) builds the layers; everything else
is Sequential's. :class:`MultiLayerNet` is the same net with the extensions
off and the textbook's shorter signature. Each hidden block is::

    Affine+activation (fused) [-> Dropout]                  without batch norm
    Affine -> BatchNorm -> activation [-> Dropout]          with batch norm
"""
import numpy as np

from fastnet._activation import get_activation
from fastnet._checks import flag, float_dtype, make_rng, one_of, positive_int, real_scalar
from fastnet._live import LiveArrays
from fastnet.init import get_initializer
from fastnet.layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from fastnet.layers._base import setting
from fastnet.layers.activations import Activation
from fastnet.layers.dropout import MODES
from fastnet.net import Sequential


def _sizes(input_size, hidden_size_list, output_size):
    if isinstance(hidden_size_list, (str, bytes)) or not hasattr(hidden_size_list, "__iter__"):
        raise TypeError(f"hidden_size_list must be a list of positive integers; got "
                        f"{hidden_size_list!r}")
    sizes = [positive_int("input_size", input_size)]
    sizes += [positive_int(f"hidden_size_list[{i}]", s) for i, s in enumerate(hidden_size_list)]
    sizes.append(positive_int("output_size", output_size))
    return sizes


def _net_setting(name):
    return setting(name, "net", "its layers take it when it builds them")


class MultiLayerNetExtend(Sequential):
    """Fully connected net with optional weight decay, dropout and batch normalization.

    Textbook-compatible (``common/multi_layer_net_extend.py``): ``params``
    holds ``W1, b1, ..., W{L}, b{L}`` (``W`` stored ``(fan_in, fan_out)``)
    and, with batch norm, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}``, in
    that order; ``layers`` names them ``Affine1``, ``BatchNorm1``,
    ``Activation_function1``, ``Dropout1`` ...; ``predict(x, train_flg=False)``,
    ``loss(x, t, train_flg=False)``, ``accuracy``, ``gradient`` (a
    training-mode pass) and ``numerical_gradient`` behave like the textbook's.
    It is a :class:`~fastnet.net.Sequential`: state, diagnostics and
    everything else come from there.

    Parameters
    ----------
    input_size, output_size : int
    hidden_size_list : list of int
    activation : {'relu', 'sigmoid', 'tanh', 'identity', 'leaky_relu', 'elu', 'gelu', ...}
        Any name of the activation registry.
    weight_init_std : 'relu'/'he', 'sigmoid'/'xavier', float or callable
        See :func:`fastnet.init.get_initializer`.
    weight_decay_lambda : float
        L2 coefficient: the loss gains ``lambda/2 * sum ||W||^2`` and each
        ``dW`` gains ``lambda * W`` (fused into the affine backward).
    use_dropout : bool
        A :class:`~fastnet.layers.Dropout` after each hidden activation.
    dropout_ration : float in [0, 1)
        The dropout ratio (the textbook's spelling of the argument).
    use_batchnorm : bool
        A :class:`~fastnet.layers.BatchNormalization` (textbook convention)
        between each hidden affine layer and its activation.
    dtype : float32 (default) or float64
        The parameters' dtype; inputs must match it (integer inputs are cast).
    seed : int, numpy.random.Generator or None
        Source of the initial weights, then of the dropout masks.
    backend : {'compiled', 'reference'}
        'reference' runs the same net on :mod:`fastnet.reference` (NumPy).
    dropout_mode : {'textbook', 'inverted'}
        See :class:`~fastnet.layers.Dropout`.
    bias_init : initializer spec, default 'zeros'
        How the biases start: any value :func:`fastnet.init.get_initializer`
        takes (a name, a float std, a callable ``(shape, rng, dtype)``).
    activation_param : float or None
        The activation's parameter (leaky_relu's ``negative_slope``, elu's
        ``alpha``); None takes its default.
    """

    # Read-only: the net hands them to its layers when it builds them.
    activation = _net_setting("activation")
    activation_param = _net_setting("activation_param")
    weight_decay_lambda = _net_setting("weight_decay_lambda")
    use_dropout = _net_setting("use_dropout")
    use_batchnorm = _net_setting("use_batchnorm")
    dropout_ration = _net_setting("dropout_ration")
    dropout_mode = _net_setting("dropout_mode")

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, use_dropout=False,
                 dropout_ration=0.5, use_batchnorm=False, *, dtype=np.float32, seed=None,
                 backend="compiled", dropout_mode="textbook", bias_init="zeros",
                 activation_param=None):
        sizes = _sizes(input_size, hidden_size_list, output_size)
        get_activation(activation).check_param(activation_param)
        self.input_size, self.output_size = sizes[0], sizes[-1]
        self.hidden_size_list = list(sizes[1:-1])
        self.hidden_layer_num = len(self.hidden_size_list)
        self._settings = {
            "activation": activation, "activation_param": activation_param,
            "weight_decay_lambda": real_scalar("weight_decay_lambda", weight_decay_lambda,
                                               low=0),
            "use_dropout": flag("use_dropout", use_dropout),
            "use_batchnorm": flag("use_batchnorm", use_batchnorm),
            "dropout_ration": real_scalar("dropout_ration", dropout_ration, low=0, high=1,
                                          high_open=True),
            "dropout_mode": one_of("dropout_mode", dropout_mode, MODES)}
        self.backend = backend
        dtype = float_dtype(dtype)

        inits = {"W": ("weight_init_std", get_initializer(weight_init_std)),
                 "b": ("bias_init", get_initializer(bias_init, name="bias_init"))}
        rng = make_rng(seed)
        n_affine = len(sizes) - 1
        arrays = {}
        for i in range(1, n_affine + 1):
            for key, shape in (("W", (sizes[i - 1], sizes[i])), ("b", (sizes[i],))):
                arg, init = inits[key]
                value = np.ascontiguousarray(init(shape, rng, dtype))
                if value.shape != shape or value.dtype != dtype:
                    raise ValueError(f"{arg} returned {value.shape} {value.dtype} for "
                                     f"{key}{i}; expected {shape} {dtype}")
                arrays[f"{key}{i}"] = value

        layers, record = {}, []
        for i in range(1, n_affine + 1):
            hidden = i < n_affine
            fused = activation if hidden and not self.use_batchnorm else "identity"
            layers[f"Affine{i}"] = Affine(
                arrays[f"W{i}"], arrays[f"b{i}"], activation=fused,
                weight_decay=self.weight_decay_lambda, backend=backend,
                activation_param=activation_param if fused != "identity" else None)
            if not hidden:
                break
            if self.use_batchnorm:
                layers[f"BatchNorm{i}"] = BatchNormalization.create(sizes[i], dtype=dtype,
                                                                    backend=backend)
                if activation != "identity":
                    layers[f"Activation_function{i}"] = Activation(activation, activation_param,
                                                                   backend=backend)
            record.append(list(layers)[-1])
            if self.use_dropout:
                layers[f"Dropout{i}"] = Dropout(self.dropout_ration, mode=dropout_mode, rng=rng,
                                                backend=backend)
        super().__init__(layers, SoftmaxWithLoss(backend=backend), record=record)
        # The textbook's order: every W, b first, then every gamma, beta.
        order = [f"{k}{i}" for i in range(1, n_affine + 1) for k in ("W", "b")]
        order += [f"{k}{i}" for i in range(1, n_affine) for k in ("gamma", "beta")]
        self.params = LiveArrays({key: self.params[key] for key in order if key in self.params},
                                 "net.params")
        self.last_layer = self.loss_layer

    def _builder_args(self):
        return {"input_size": self.input_size, "hidden_size_list": self.hidden_size_list,
                "output_size": self.output_size, "activation": self.activation,
                "weight_decay_lambda": self.weight_decay_lambda, "use_dropout": self.use_dropout,
                "dropout_ration": self.dropout_ration, "use_batchnorm": self.use_batchnorm,
                "dtype": self.dtype.name, "backend": self.backend,
                "dropout_mode": self.dropout_mode, "activation_param": self.activation_param}

    def config(self):
        config = super().config()
        config["class"] = type(self).__name__
        config["args"] = self._builder_args()
        return config

    @classmethod
    def _from_builder_config(cls, config):
        # Zero weights: the values come from load_state_dict.
        return cls(**config["args"], weight_init_std=0.0)


class MultiLayerNet(MultiLayerNetExtend):
    """Fully connected net: (Affine + activation) x hidden layers, Affine, softmax loss.

    Textbook-compatible (``common/multi_layer_net.py``): ``params`` holds
    ``W1, b1, ..., W{L}, b{L}``; see :class:`MultiLayerNetExtend` (this is
    it without dropout and batch normalization) for the parameters.
    """

    def __init__(self, input_size, hidden_size_list, output_size, activation="relu",
                 weight_init_std="relu", weight_decay_lambda=0, *, dtype=np.float32,
                 seed=None, backend="compiled", bias_init="zeros", activation_param=None):
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda, dtype=dtype, seed=seed,
                         backend=backend, bias_init=bias_init,
                         activation_param=activation_param)

    def _builder_args(self):
        args = super()._builder_args()
        for key in ("use_dropout", "dropout_ration", "use_batchnorm", "dropout_mode"):
            del args[key]
        return args
