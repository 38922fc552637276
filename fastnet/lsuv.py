"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2015)."""
import math
import warnings

import numpy as np

from fastnet._checks import make_rng, positive_int, real_scalar
from fastnet.init import orthogonal_
from fastnet.layers import Affine
from fastnet.net import Sequential


class _Inputs:
    """A net observer keeping the input of one layer (the output of the one before)."""

    def __init__(self, index):
        self.index, self.value = index, None

    def forward(self, i, y):
        if i == self.index - 1:
            self.value = y.copy()

    def backward(self, i, dout):
        pass


def _layer_input(net, x, index):
    """The input of layer ``index`` in ``net.predict(x)``, read through the net's observer hook."""
    if index == 0:
        return x
    observer = _Inputs(index)
    previous, net._recorder = net._recorder, observer
    try:
        net._forward(x, False)
    finally:
        net._recorder = previous
    return observer.value


def lsuv(net, x_batch, tol=0.1, max_iter=10, seed=None):
    """Layer-sequential unit-variance init (Mishkin & Matas 2015, "All you need is a good init").

    1. Every :class:`~fastnet.layers.Affine` layer of the net gets an
       orthogonal ``W`` (in place: ``net.params`` sees it).
    2. In order, for each Affine layer: run the net in inference mode on
       ``x_batch``, take the variance ``v`` of the layer's pre-activation
       output ``z = x @ W + b`` over the whole batch, and scale
       ``W /= sqrt(v)``; repeat until ``|v - 1| < tol`` or ``max_iter``
       rescalings.

    Biases are left alone (with zero biases one rescaling is exact). Works on
    any :class:`fastnet.Sequential` (``MultiLayerNet``, ``MultiLayerNetExtend``
    with batch norm in between: inference mode leaves running statistics
    alone). The layer inputs are read through the net's observer hook, the
    same one its diagnostics use. If anything fails, the net's parameters
    are restored before the error propagates.

    Parameters
    ----------
    net : fastnet.Sequential
    x_batch : ndarray (N, ...), N >= 2, the net's dtype
    tol : float > 0
    max_iter : int >= 1
    seed : int, numpy.random.Generator or None
        Source of the orthogonal pre-init.

    Returns
    -------
    list of dict, one per Affine layer in order: ``layer`` (its name),
    ``iterations`` (rescalings made), ``variance`` (final output variance),
    ``converged`` (``|variance - 1| < tol``). A layer whose output variance is
    0 or not finite cannot be rescaled: it is reported unconverged with a warning.

    Example: ``report = lsuv(net, x_train[:256], seed=0)``.
    """
    tol = real_scalar("tol", tol, low=0, low_open=True)
    max_iter = positive_int("max_iter", max_iter)
    if not isinstance(net, Sequential):
        raise TypeError(f"net must be a fastnet.Sequential (a net with predict and layers, "
                        f"e.g. MultiLayerNet); got {type(net).__name__}")
    affines = [(i, name, layer) for i, (name, layer) in enumerate(net.layers.items())
               if isinstance(layer, Affine)]
    if not affines:
        raise ValueError("the net holds no fastnet.layers.Affine layer to initialize")
    x = np.asarray(x_batch)
    if x.ndim < 1 or x.shape[0] < 2:
        raise ValueError(f"x_batch must hold at least 2 samples to measure a variance; "
                         f"got shape {x.shape}")
    x = net._check_x(x)
    saved = {key: value.copy() for key, value in net.params.items()}
    try:
        return _lsuv(net, x, affines, tol, max_iter, seed)
    except BaseException:
        for key, value in saved.items():
            np.copyto(net.params[key], value)
        raise


def _lsuv(net, x, affines, tol, max_iter, seed):
    rng = make_rng(seed)
    for _, _, layer in affines:
        orthogonal_(layer.W, rng=rng)
    report = []
    for index, name, layer in affines:
        W, b = layer.params["W"], layer.params["b"]
        iterations = 0
        while True:
            h = _layer_input(net, x, index)
            z = h.reshape(h.shape[0], -1) @ W + b
            var = float(np.var(z, dtype=np.float64))
            if abs(var - 1.0) < tol or iterations == max_iter:
                break
            if not (math.isfinite(var) and var > 0):
                warnings.warn(f"LSUV: layer {name!r} has output variance {var}; "
                              f"cannot rescale it", RuntimeWarning, stacklevel=3)
                break
            W *= W.dtype.type(1.0 / math.sqrt(var))
            iterations += 1
        report.append({"layer": name, "iterations": iterations, "variance": var,
                       "converged": abs(var - 1.0) < tol})
    return report
