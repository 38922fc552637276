"""Weight initializers, gains and fans, and LSUV.

Layout
------
fastnet stores a fully connected weight ``W`` as ``(fan_in, fan_out)`` so that
``y = x @ W``. That is the **transpose of PyTorch's** ``nn.Linear.weight``
``(out, in)``: ``mode='fan_in'`` means the same thing here and in
``torch.nn.init`` (the number of inputs each output unit sums over), but it is
read from axis 0 here and from axis 1 there. Weights of three or more
dimensions follow the textbook's convolution filters ``(FN, C, *kernel)`` =
``(out_channels, in_channels, *kernel)``, the same as PyTorch:
``fan_in = C * prod(kernel)``, ``fan_out = FN * prod(kernel)``. See
:func:`compute_fans`.

Two ways to call an initializer
-------------------------------
* **Factories** (``zeros``, ``normal``, ``he_normal`` ...) take only the
  hyperparameters and return an :class:`Initializer`, a callable
  ``init(shape, rng=None, dtype=np.float32) -> new ndarray``. This is what a
  net's ``weight_init_std`` accepts. Call the factory even without
  arguments: ``he_normal()``, ``zeros()``; ``he_normal(mode='fan_out')``.
* **In-place twins** ending in ``_`` (``he_normal_``, ``zeros_`` ...) fill an
  existing float32/float64 array and return it:
  ``he_normal_(W, mode='fan_out', rng=0)``.

Randomness comes only from ``rng``: a ``numpy.random.Generator`` or an int
seed that makes one (None draws fresh OS entropy: not reproducible). Draws
are made in float64 and rounded to the requested dtype, so the same seed gives
the same weights (to rounding) in float32 and float64 nets.

Names accepted by :func:`get_initializer` (a net's ``weight_init_std``)
----------------------------------------------------------------------
=========================== ===============================================
'relu', 'he'                textbook He: N(0, 2/fan_in) (= ``he_normal()``)
'sigmoid', 'xavier'         **the textbook's "Xavier"**: N(0, 1/fan_in)
                            (= ``lecun_normal()``)
'glorot'                    true Glorot & Bengio: N(0, 2/(fan_in+fan_out))
                            (= ``xavier_normal()``)
'lecun'                     N(0, 1/fan_in) (= ``lecun_normal()``)
'orthogonal'                ``orthogonal()``
'zeros', 'ones'             constants (they reproduce the symmetry problem)
a factory's name            that factory with its defaults, e.g.
                            'he_uniform', 'xavier_uniform', 'trunc_normal'
float ``s >= 0``            N(0, s^2), the textbook's ``weight_init_std``
callable                    used as ``init(shape, rng, dtype)``
=========================== ===============================================

'xavier' vs 'glorot': the textbook calls std ``1/sqrt(n)`` with ``n`` the
previous layer's width "Xavier"; Glorot & Bengio (2010) average both fans,
std ``sqrt(2/(fan_in+fan_out))``. The two agree only for square layers. The
string 'xavier' keeps the textbook's meaning so textbook scripts reproduce;
the *functions* ``xavier_normal``/``xavier_uniform`` are Glorot's (as in
PyTorch), and so is the string 'xavier_normal'.
"""
import math
import numbers

import numpy as np

from fastnet._activation import REGISTRY as ACTIVATION_REGISTRY
from fastnet._checks import float_dtype, make_rng, one_of, real_scalar

__all__ = [
    "Initializer", "calculate_gain", "compute_fans", "get_initializer",
    "create_weight", "create_bias", "lsuv", "INITIALIZERS", "NAMES",
    "zeros", "ones", "constant", "normal", "uniform", "xavier_normal",
    "xavier_uniform", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform",
    "orthogonal", "trunc_normal",
    "zeros_", "ones_", "constant_", "normal_", "uniform_", "xavier_normal_",
    "xavier_uniform_", "glorot_normal_", "glorot_uniform_", "he_normal_", "he_uniform_",
    "kaiming_normal_", "kaiming_uniform_", "lecun_normal_", "lecun_uniform_",
    "orthogonal_", "trunc_normal_",
]


# -- gains and fans ----------------------------------------------------------------

# PyTorch's names (``torch.nn.init.calculate_gain``); the activation registry
# adds its own (elu, gelu, gelu_tanh, silu) and supplies the shared ones' gains.
_UNIT_GAIN = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
NONLINEARITIES = _UNIT_GAIN + ("tanh", "relu", "leaky_relu", "selu")
GAIN_NAMES = NONLINEARITIES + tuple(n for n in ACTIVATION_REGISTRY if n not in NONLINEARITIES)


def calculate_gain(nonlinearity, param=None):
    """Return the recommended gain for ``nonlinearity`` (PyTorch's table, extended).

    ================================ ==================================
    nonlinearity                     gain
    ================================ ==================================
    'linear', 'identity', 'conv*d',  1
    'conv_transpose*d', 'sigmoid'
    'tanh'                           5/3
    'relu'                           sqrt(2)
    'leaky_relu'                     sqrt(2 / (1 + param^2)), param =
                                     negative slope (default 0.01)
    'selu'                           3/4
    'elu', 'gelu', 'gelu_tanh',      1 / sqrt(E[f(z)^2]), z ~ N(0, 1);
    'silu'                           param = ELU's alpha (default 1):
                                     elu 1.2452, gelu 1.5335,
                                     gelu_tanh 1.5336, silu 1.6765
    ================================ ==================================

    The gain multiplies the std of the fan-based initializers so a layer
    keeps its input's variance through the nonlinearity (He et al. 2015,
    "Delving Deep into Rectifiers", for the ReLU family, whose table is the
    rule of the last row). PyTorch has no gain for elu, gelu, gelu_tanh and
    silu; fastnet applies the ReLU family's rule to them at unit
    pre-activation variance (``fastnet._activation.ActivationSpec.gain``).
    ``param`` is only accepted for 'leaky_relu' and 'elu'.

    Example: ``calculate_gain('leaky_relu', 0.2)`` -> 1.3868...
    """
    one_of("nonlinearity", nonlinearity, GAIN_NAMES)
    spec = ACTIVATION_REGISTRY.get(nonlinearity)
    if param is not None and (spec is None or spec.param_name is None):
        raise ValueError(
            f"param is only accepted for nonlinearity='leaky_relu' (negative slope) and "
            f"'elu' (alpha); got param={param!r} with nonlinearity={nonlinearity!r}"
        )
    if spec is not None:
        if param is not None:
            # any real, as PyTorch (the kernels' range check is not the gain's)
            param = real_scalar(f"param ({spec.param_name})", param)
        return spec.gain(param)
    return 0.75 if nonlinearity == "selu" else 1.0


def _check_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of positive ints; got {shape!r}") from None
    if not dims or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
                       for d in dims):
        raise ValueError(f"shape must be a non-empty tuple of positive ints; got {shape!r}")
    return tuple(int(d) for d in dims)


def compute_fans(shape, layout="fastnet"):
    """Return ``(fan_in, fan_out)`` of a weight of ``shape`` in fastnet's layout.

    * 2-D ``W (fan_in, fan_out)``: ``fan_in = shape[0]``, ``fan_out = shape[1]``.
      This is the transpose of PyTorch's ``(out, in)``: the numbers agree with
      ``torch.nn.init._calculate_fan_in_and_fan_out(W.T)``.
    * >= 3-D filters ``(FN, C, *kernel)`` (the textbook's and PyTorch's
      convolution layout): ``fan_in = C * prod(kernel)``,
      ``fan_out = FN * prod(kernel)``.

    Fewer than 2 dimensions (a bias) have no fans: ValueError.

    ``layout='torch'`` reads a 2-D shape as PyTorch's ``(out, in)`` instead:
    ``fan_in = shape[1]``, ``fan_out = shape[0]``, as
    ``torch.nn.init._calculate_fan_in_and_fan_out`` (for porting code that
    applies PyTorch initializers to ``x @ W`` weights).

    Example: ``compute_fans((784, 100))`` -> ``(784, 100)``;
    ``compute_fans((784, 100), layout='torch')`` -> ``(100, 784)``.
    """
    shape = _check_shape(shape)
    _check_layout(layout)
    if len(shape) < 2:
        raise ValueError(
            f"fan-based initializers need a weight of at least 2 dimensions "
            f"(W is (fan_in, fan_out)); got shape {shape}"
        )
    if len(shape) == 2:
        return (shape[1], shape[0]) if layout == "torch" else (shape[0], shape[1])
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _check_layout(layout):
    if layout not in ("fastnet", "torch"):
        raise ValueError(f"layout must be 'fastnet' (W is (fan_in, fan_out)) or 'torch' "
                         f"(W is (out, in)); got {layout!r}")
    return layout


def _check_mode(mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    return mode


# -- the initializer object ----------------------------------------------------------

class Initializer:
    """A configured initializer: ``init(shape, rng=None, dtype=np.float32) -> ndarray``.

    Made by the factories of this module (``he_normal(mode='fan_out')`` ...);
    ``repr`` shows the factory call. ``init.fill_(array, rng)`` fills an
    existing array in place (what the ``*_`` twins do).
    """

    __slots__ = ("name", "params", "_sample")

    def __init__(self, name, params, sample):
        self.name = name
        self.params = dict(params)
        self._sample = sample  # (shape, rng) -> float64 ndarray

    def __call__(self, shape, rng=None, dtype=np.float32):
        """Return a new C-contiguous array of ``shape`` and ``dtype`` (float32 or float64).

        Raises ValueError if a value does not fit ``dtype`` (e.g. ``normal(1e30)``
        in float32): an initializer never hands out inf or NaN.
        """
        shape = _check_shape(shape)
        dtype = float_dtype(dtype)
        values = self._sample(shape, make_rng(rng, "rng"))
        # order='C': a sampler may build a transposed view (orthogonal), and layers
        # take C-contiguous weights.
        with np.errstate(over="ignore"):  # reported below, with the initializer named
            values = values.astype(dtype, order="C", copy=False)
        if not np.isfinite(values).all():
            raise ValueError(f"{self!r} drew values beyond the {dtype} range for shape "
                             f"{shape}; reduce its scale")
        return values

    def fill_(self, array, rng=None):
        """Overwrite ``array`` (float32/float64, writeable) with fresh values; return it."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"array must be a numpy array; got {type(array).__name__}")
        float_dtype(array.dtype, "array.dtype")
        if not array.flags.writeable:
            raise ValueError("array must be writeable (it is filled in place)")
        array[...] = self(array.shape, rng, array.dtype)
        return array

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def _nonneg(name, value):
    return real_scalar(name, value, low=0)


def _uniform(rng, half_low, half_high, shape):
    """``U[2 half_low, 2 half_high)``. Drawn at half scale so the width never
    overflows (``uniform(-1e308, 1e308)``); doubling is exact."""
    return 2.0 * rng.uniform(half_low, half_high, shape)


# -- factories -----------------------------------------------------------------------

def zeros():
    """All zeros. ``W = 0``.

    Every unit of a layer then computes the same thing and receives the same
    gradient, so they never differ (the symmetry problem; textbook 6.2.1).
    Example: ``zeros()((3, 2))``.
    """
    return Initializer("zeros", {}, lambda shape, rng: np.zeros(shape))


def ones():
    """All ones. ``W = 1`` (symmetric like :func:`zeros`). Example: ``ones()((3, 2))``."""
    return Initializer("ones", {}, lambda shape, rng: np.ones(shape))


def constant(value):
    """Every entry equal to ``value``. Example: ``constant(0.1)((100,))`` for a bias."""
    value = real_scalar("value", value)
    return Initializer("constant", {"value": value}, lambda shape, rng: np.full(shape, value))


def normal(std=1.0, mean=0.0):
    """Gaussian ``W ~ N(mean, std^2)``: the textbook's float ``weight_init_std``.

    Example: ``normal(0.01)((784, 100), rng)`` (the textbook's default std).
    """
    std, mean = _nonneg("std", std), real_scalar("mean", mean)
    return Initializer("normal", {"std": std, "mean": mean},
                       lambda shape, rng: rng.standard_normal(shape) * std + mean)


def uniform(low=0.0, high=1.0):
    """Uniform ``W ~ U[low, high)``. Example: ``uniform(-0.1, 0.1)((50, 200), rng)``."""
    low, high = real_scalar("low", low), real_scalar("high", high)
    if not low < high:
        raise ValueError(f"uniform needs low < high; got low={low!r}, high={high!r}")
    return Initializer("uniform", {"low": low, "high": high},
                       lambda shape, rng: _uniform(rng, low / 2, high / 2, shape))


def _fan_normal(name, params, std_of):
    return Initializer(name, params,
                       lambda shape, rng: rng.standard_normal(shape) * std_of(shape))


def _fan_uniform(name, params, std_of):
    # U[-b, b] has variance b^2/3, so b = sqrt(3) * std.
    def sample(shape, rng):
        half = math.sqrt(3.0) / 2 * std_of(shape)
        return _uniform(rng, -half, half, shape)

    return Initializer(name, params, sample)


def _glorot_std(gain):
    gain = _nonneg("gain", gain)

    def std_of(shape):
        fan_in, fan_out = compute_fans(shape)
        return gain * math.sqrt(2.0 / (fan_in + fan_out))

    return gain, std_of


def xavier_normal(gain=1.0):
    """Glorot normal: ``W ~ N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Glorot & Bengio 2010, "Understanding the difficulty of training deep
    feedforward neural networks". Note the *string* 'xavier' means the
    textbook's N(0, 1/fan_in) instead (see the module docstring); this
    function matches ``torch.nn.init.xavier_normal_``. Fans of
    ``W (fan_in, fan_out)``, the transpose of PyTorch's layout.
    Example: ``xavier_normal(gain=calculate_gain('tanh'))((100, 50), rng)``.
    """
    gain, std_of = _glorot_std(gain)
    return _fan_normal("xavier_normal", {"gain": gain}, std_of)


def xavier_uniform(gain=1.0):
    """Glorot uniform: ``W ~ U[-b, b]``, ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Glorot & Bengio 2010 (their eq. 16 for gain 1). Fans of
    ``W (fan_in, fan_out)``, the transpose of PyTorch's layout; the result has
    the variance of :func:`xavier_normal`. Example: ``xavier_uniform()((100, 50), rng)``.
    """
    gain, std_of = _glorot_std(gain)
    return _fan_uniform("xavier_uniform", {"gain": gain}, std_of)


def _kaiming_std(a, mode, nonlinearity, layout):
    mode = _check_mode(mode)
    layout = _check_layout(layout)
    if nonlinearity == "leaky_relu":
        a = real_scalar("a", a)
        gain = calculate_gain("leaky_relu", a)
    else:
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or a != 0:
            raise ValueError(
                f"a (the negative slope) is only used with nonlinearity='leaky_relu'; "
                f"got a={a!r} with nonlinearity={nonlinearity!r}"
            )
        gain = calculate_gain(nonlinearity)

    def std_of(shape):
        fan_in, fan_out = compute_fans(shape, layout)
        return gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)

    params = {"a": a, "mode": mode, "nonlinearity": nonlinearity}
    if layout != "fastnet":
        params["layout"] = layout
    return params, std_of


def he_normal(a=0.0, mode="fan_in", nonlinearity="leaky_relu", layout="fastnet"):
    """He (Kaiming) normal: ``W ~ N(0, std^2)``, ``std = gain / sqrt(fan_mode)``.

    He et al. 2015, "Delving Deep into Rectifiers". ``gain`` is
    ``calculate_gain(nonlinearity, a)``; the defaults (leaky ReLU with slope
    ``a = 0``) give ``std = sqrt(2 / fan_in)``, the textbook's 'relu'/'he'.
    ``mode='fan_in'`` keeps the forward activations' variance,
    ``'fan_out'`` the backward gradients'. ``fan_in`` is ``W.shape[0]`` here
    (``W (fan_in, fan_out)``), ``weight.shape[1]`` in PyTorch: same meaning,
    transposed axis. ``layout='torch'`` reads the fans of a 2-D weight as
    PyTorch does (``fan_in = shape[1]``, see :func:`compute_fans`): the LSTM
    helper code's ``kaiming_normal_(w, mode='fan_in')`` on its
    ``w (D + H, 4H)`` draws ``std = sqrt(2 / (4H))``, which is
    ``create_weight((D + H, 4 * H), layout='torch')``.
    Example: ``he_normal(mode='fan_out')((784, 100), rng)``.
    """
    params, std_of = _kaiming_std(a, mode, nonlinearity, layout)
    return _fan_normal("he_normal", params, std_of)


def he_uniform(a=0.0, mode="fan_in", nonlinearity="leaky_relu", layout="fastnet"):
    """He (Kaiming) uniform: ``W ~ U[-b, b]``, ``b = gain * sqrt(3 / fan_mode)``.

    He et al. 2015; same variance as :func:`he_normal`. ``fan_in`` is
    ``W.shape[0]`` (``W (fan_in, fan_out)``, PyTorch's transpose;
    ``layout='torch'``: ``W.shape[1]``, as :func:`he_normal`).
    Example: ``he_uniform(nonlinearity='relu')((784, 100), rng)``.
    """
    params, std_of = _kaiming_std(a, mode, nonlinearity, layout)
    return _fan_uniform("he_uniform", params, std_of)


def _lecun_std(shape):
    return 1.0 / math.sqrt(compute_fans(shape)[0])


def lecun_normal():
    """LeCun normal: ``W ~ N(0, 1 / fan_in)``, the textbook's 'xavier'/'sigmoid'.

    LeCun, Bottou, Orr & Mueller 1998, "Efficient BackProp". ``fan_in`` is
    ``W.shape[0]`` (``W (fan_in, fan_out)``, PyTorch's transpose).
    Example: ``lecun_normal()((100, 100), rng)``.
    """
    return _fan_normal("lecun_normal", {}, _lecun_std)


def lecun_uniform():
    """LeCun uniform: ``W ~ U[-b, b]``, ``b = sqrt(3 / fan_in)`` (variance 1/fan_in).

    LeCun et al. 1998, "Efficient BackProp". ``fan_in`` is ``W.shape[0]``
    (PyTorch's transpose). Example: ``lecun_uniform()((100, 100), rng)``.
    """
    return _fan_uniform("lecun_uniform", {}, _lecun_std)


def orthogonal(gain=1.0):
    """(Semi-)orthogonal ``W = gain * Q``, Q from the QR decomposition of a Gaussian.

    Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear
    dynamics of learning in deep linear neural networks". For
    ``W (fan_in, fan_out)`` with ``fan_in >= fan_out`` the columns are
    orthonormal (``W.T @ W = gain^2 I``), otherwise the rows are
    (``W @ W.T = gain^2 I``). Weights of more than 2 dimensions are treated
    as ``(shape[0], prod(shape[1:]))``. The signs of R's diagonal are folded
    into Q so Q is uniformly (Haar) distributed.
    Example: ``orthogonal()((100, 100), rng)``.
    """
    gain = _nonneg("gain", gain)

    def sample(shape, rng):
        if len(shape) < 2:
            raise ValueError(f"orthogonal needs a weight of at least 2 dimensions; got shape {shape}")
        rows, cols = shape[0], math.prod(shape[1:])
        flat = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))  # a zero diagonal has probability 0
        if rows < cols:
            q = q.T
        return (gain * q).reshape(shape)

    return Initializer("orthogonal", {"gain": gain}, sample)


def trunc_normal(std=1.0, mean=0.0, a=-2.0, b=2.0):
    """Truncated normal: ``N(mean, std^2)`` conditioned on ``a <= W <= b``.

    ``a`` and ``b`` are absolute bounds, as in ``torch.nn.init.trunc_normal_``
    (not multiples of std: with ``std=0.02`` the default bounds +-2 cut
    nothing). Drawn by the inverse CDF: ``u ~ U[Phi(alpha), Phi(beta)]``,
    ``W = mean + std * Phi^-1(u)`` with ``alpha = (a - mean)/std``,
    ``beta = (b - mean)/std``, clipped to ``[a, b]`` against rounding. The
    CDF is taken in log space and an interval lying mostly above the mean is
    drawn as the mirror image of its reflection below it, so far tails are
    exact too (``Phi(9)`` rounds to 1, ``log Phi(-9)`` does not).
    Used by ViT/BERT-style inits. Example: ``trunc_normal(0.02, a=-0.04, b=0.04)((768, 768), rng)``.
    """
    std = real_scalar("std", std, low=0, low_open=True)
    mean, a, b = real_scalar("mean", mean), real_scalar("a", a), real_scalar("b", b)
    if not a < b:
        raise ValueError(f"trunc_normal needs a < b; got a={a!r}, b={b!r}")
    # SciPy costs ~100 ms to import; only this initializer needs it.
    from scipy.special import log_ndtr, ndtri_exp

    alpha, beta = (a - mean) / std, (b - mean) / std
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise ValueError(f"trunc_normal needs (a - mean) / std and (b - mean) / std within the "
                         f"float range; got a={a!r}, b={b!r}, mean={mean!r}, std={std!r}")
    # Sample z in [lo, hi] with lo + hi <= 0, mirrored if needed: the lower tail's
    # CDF values are tiny but exact, the upper tail's round to 1.
    sign = -1.0 if alpha + beta > 0 else 1.0
    lo, hi = (-beta, -alpha) if sign < 0 else (alpha, beta)
    log_hi = log_ndtr(hi)
    ratio = math.exp(log_ndtr(lo) - log_hi)  # Phi(lo) / Phi(hi), in [0, 1)

    def sample(shape, rng):
        u = rng.uniform(0.0, 1.0, shape)
        # Phi(z) = Phi(lo) + u (Phi(hi) - Phi(lo)) = Phi(hi) (u + (1 - u) ratio)
        with np.errstate(divide="ignore"):  # u = 0 with ratio = 0: z = -inf, clipped
            z = ndtri_exp(log_hi + np.log(u + (1.0 - u) * ratio))
        return np.clip(mean + std * (sign * z), a, b)

    return Initializer("trunc_normal", {"std": std, "mean": mean, "a": a, "b": b}, sample)


# PyTorch / Keras spellings of the same factories.
kaiming_normal = he_normal
kaiming_uniform = he_uniform
glorot_normal = xavier_normal
glorot_uniform = xavier_uniform

# Factory name -> factory (what create_weight's string names and get_initializer's
# factory names refer to).
INITIALIZERS = {f.__name__: f for f in (
    zeros, ones, constant, normal, uniform, xavier_normal, xavier_uniform, he_normal,
    he_uniform, lecun_normal, lecun_uniform, orthogonal, trunc_normal)}
INITIALIZERS.update(kaiming_normal=he_normal, kaiming_uniform=he_uniform,
                    glorot_normal=xavier_normal, glorot_uniform=xavier_uniform)


# -- in-place twins ----------------------------------------------------------------------

def _in_place(factory):
    def fill(array, *args, rng=None, **kwargs):
        return factory(*args, **kwargs).fill_(array, rng)

    fill.__name__ = fill.__qualname__ = factory.__name__ + "_"
    fill.__doc__ = (
        f"In-place twin of :func:`{factory.__name__}`: fill ``array`` and return it.\n\n"
        f"``{factory.__name__}_(array, *hyperparameters, rng=None)`` is\n"
        f"``{factory.__name__}(*hyperparameters).fill_(array, rng)``; ``array`` must be a\n"
        f"writeable float32/float64 ndarray (2-D weights are ``(fan_in, fan_out)``,\n"
        f"the transpose of PyTorch's layout).\n\n"
        + (factory.__doc__ or "")
    )
    fill.factory = factory
    return fill


zeros_ = _in_place(zeros)
ones_ = _in_place(ones)
constant_ = _in_place(constant)
normal_ = _in_place(normal)
uniform_ = _in_place(uniform)
xavier_normal_ = _in_place(xavier_normal)
xavier_uniform_ = _in_place(xavier_uniform)
he_normal_ = _in_place(he_normal)
he_uniform_ = _in_place(he_uniform)
lecun_normal_ = _in_place(lecun_normal)
lecun_uniform_ = _in_place(lecun_uniform)
orthogonal_ = _in_place(orthogonal)
trunc_normal_ = _in_place(trunc_normal)
kaiming_normal_ = he_normal_
kaiming_uniform_ = he_uniform_
glorot_normal_ = xavier_normal_
glorot_uniform_ = xavier_uniform_


# -- names, as a net's weight_init_std ------------------------------------------------

# Short names; every key of INITIALIZERS except 'constant' is accepted too (with
# its defaults). 'relu'/'he' and 'sigmoid'/'xavier' are the textbook's meanings.
NAMES = {
    "relu": lambda: he_normal(nonlinearity="relu"),
    "he": lambda: he_normal(nonlinearity="relu"),
    "sigmoid": lecun_normal,
    "xavier": lecun_normal,
    "glorot": xavier_normal,
    "lecun": lecun_normal,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
}
NAMES.update({k: f for k, f in INITIALIZERS.items() if k != "constant"})


def get_initializer(spec, name="weight_init_std"):
    """Turn a ``weight_init_std``-style value into an initializer ``(shape, rng, dtype)``.

    ``spec`` may be a name (see the table in the module docstring: 'relu'/'he'
    = N(0, 2/fan_in), 'sigmoid'/'xavier' = N(0, 1/fan_in) as in the textbook,
    'glorot', 'lecun', 'orthogonal', 'zeros', ..., or any factory name), a
    float std ``>= 0`` (N(0, std^2)), or a callable ``(shape, rng, dtype) ->
    ndarray`` such as ``he_normal(mode='fan_out')``. ``name`` is the argument
    name used in error messages.

    Example: ``get_initializer('he')((784, 100), np.random.default_rng(0), np.float32)``.
    """
    if isinstance(spec, Initializer):
        return spec
    if callable(spec):
        if spec in INITIALIZERS.values():
            raise TypeError(
                f"{name}={spec.__name__!r} is a factory: call it, e.g. {spec.__name__}(), "
                f"or pass the string {spec.__name__!r}"
            )
        if getattr(spec, "factory", None) is not None:
            raise TypeError(
                f"{name}={spec.__name__} fills an array in place; pass the factory "
                f"{spec.factory.__name__}() (it returns (shape, rng, dtype) -> array)"
            )
        return spec
    if isinstance(spec, str):
        key = spec.lower()
        if key not in NAMES:
            raise ValueError(
                f"{name} must be one of {sorted(NAMES)}, a float std >= 0 or a callable "
                f"(shape, rng, dtype) -> array; got {spec!r}"
            )
        return NAMES[key]()
    if isinstance(spec, bool) or not isinstance(spec, numbers.Real):
        raise TypeError(
            f"{name} must be a name ({', '.join(sorted(NAMES))}), a float std >= 0 or a "
            f"callable (shape, rng, dtype) -> array; got {spec!r}"
        )
    return normal(real_scalar(name, spec, low=0))


# -- create_weight / create_bias ------------------------------------------------------

def _create(what, shape, initializer, rng, dtype, kwargs, default, default_kwargs):
    # NaN, not np.empty: an in-place function that skips entries must not hand
    # out whatever the memory held; the check below catches it.
    array = np.full(_check_shape(shape), np.nan, float_dtype(dtype))
    if initializer is None:
        default(array, rng=rng, **{**default_kwargs, **kwargs})
    elif isinstance(initializer, str):
        if initializer not in INITIALIZERS:
            raise ValueError(f"{what} initializer must be one of {sorted(INITIALIZERS)}, "
                             f"an Initializer or an in-place function; got {initializer!r}")
        INITIALIZERS[initializer](**kwargs).fill_(array, rng)
    elif isinstance(initializer, Initializer):
        if kwargs:
            raise TypeError(f"an Initializer is already configured; got extra keyword "
                            f"arguments {sorted(kwargs)}")
        initializer.fill_(array, rng)
    elif callable(initializer):
        if initializer in INITIALIZERS.values():
            initializer(**kwargs).fill_(array, rng)
        else:
            returned = initializer(array, rng=rng, **kwargs)
            if returned is not None and returned is not array:
                raise TypeError(
                    f"{what} initializer {initializer!r} returned a new "
                    f"{type(returned).__name__}; an in-place function must fill the array it "
                    f"is given and return it (or None). For a function of the shape, wrap it "
                    f"in an Initializer or pass a factory such as he_normal()")
    else:
        raise TypeError(f"{what} initializer must be None, a name, an Initializer or an in-place "
                        f"function f(array, **kwargs, rng=...); got {initializer!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} initializer {initializer!r} left non-finite entries in the "
                         f"{array.dtype} {what} of shape {array.shape} (entries not filled, "
                         f"or values beyond the dtype's range)")
    return array


def create_weight(shape, initializer=None, *, rng=None, dtype=np.float32, **kwargs):
    """Return a new weight of ``shape``, He-normal (fan_in, ReLU) by default.

    Follows the LSTM helper code (``create_weight(shape)`` for an
    ``x @ W`` weight, e.g. ``create_weight((2 * H, 4 * H))`` for the stacked
    gates): with ``initializer=None`` this is
    ``he_normal_(W, mode='fan_in', nonlinearity='relu', rng=rng)``, and
    ``kwargs`` override those two. ``initializer`` may also be an in-place
    function called as ``initializer(W, rng=rng, **kwargs)`` (``xavier_uniform_``,
    your own), a factory or its name (``'orthogonal'``; configured by
    ``kwargs``), or a configured :class:`Initializer`. ``W`` is
    ``(fan_in, fan_out)``, the transpose of PyTorch's layout. The helper
    code itself draws with PyTorch's ``kaiming_normal_(w, mode='fan_in')``,
    which reads fan_in from ``w.shape[1]``; ``layout='torch'`` reproduces
    that: ``create_weight((D + H, 4 * H), layout='torch')`` has
    ``std = sqrt(2 / (4H))`` where the default has ``sqrt(2 / (D + H))``.

    Example: ``create_weight((784, 100), rng=0)``;
    ``create_weight((100, 400), xavier_uniform_, gain=1.0, rng=rng)``.
    """
    return _create("weight", shape, initializer, rng, dtype, kwargs, he_normal_,
                   {"mode": "fan_in", "nonlinearity": "relu"})


def create_bias(shape, initializer=None, *, rng=None, dtype=np.float32, **kwargs):
    """Return a new bias of ``shape``, the constant 0 by default.

    As in the LSTM helper code: ``initializer=None`` is ``constant_(b, 0.0)``;
    otherwise ``initializer`` is taken as in :func:`create_weight` (an
    in-place function, a factory or its name configured by ``kwargs``, or an
    :class:`Initializer`). Example: ``create_bias((4 * H,))``;
    ``create_bias((100,), 'constant', value=0.1)``.
    """
    return _create("bias", shape, initializer, rng, dtype, kwargs, constant_, {"value": 0.0})


# LSUV lives in its own module; it is part of this one's API.
from fastnet.lsuv import lsuv  # noqa: E402  (fastnet.lsuv needs orthogonal_ from above)
