"""The activation registry: every fact about an activation, declared once.

Each :class:`ActivationSpec` names the integer code the compiled kernels take
(``csrc/_activation.pxd`` holds the matching enum, the element-wise math and
the dispatch), whether its derivative needs the pre-activation ``a`` or only
the output ``y = act(a)``, its parameter, its initialization gain, and what
diagnostics show of it. The kernels' dispatch, the NumPy reference
(``fastnet.reference.activations``), the layers, ``fastnet.init.calculate_gain``
and ``fastnet.diagnostics`` read this table.

Adding an activation: an entry here, its enum value, tag, formulas and ladder
branch in ``csrc/_activation.pxd``, its NumPy twin in
``fastnet/reference/activations.py``, and its tests.
"""
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from fastnet._checks import one_of, real_scalar


def _unit_gaussian_gain(spec, param):
    """``1 / sqrt(E[f(z)^2])`` for ``z ~ N(0, 1)``, by Gauss-Legendre quadrature.

    The ReLU family's gains (He et al. 2015, section 2.2) are this rule: a
    layer ``y = W f(x)`` with zero-mean weights of variance ``gain^2 / fan_in``
    has ``Var[y] = gain^2 E[f(x)^2]``, so the pre-activation variance stays 1
    when ``gain = 1 / sqrt(E[f(z)^2])``; ReLU gives ``E = 1/2``, ``gain =
    sqrt(2)``, leaky ReLU ``(1 + s^2)/2``. For ELU, GELU and SiLU, which are not
    positively homogeneous, the gain depends on the pre-activation's scale:
    it is taken at variance 1, the fixed point the rule aims at. (PyTorch
    publishes no gain for them; tanh's 5/3 and sigmoid's 1 are older
    heuristics, not this rule.) The integrand is split at 0, where the
    activations have their kink, and truncated at |z| = 12 (weight < 1e-31).
    """
    from fastnet.reference.activations import activation_forward  # reference imports us

    nodes, weights = np.polynomial.legendre.leggauss(200)
    z = np.concatenate([6.0 * (nodes - 1.0), 6.0 * (nodes + 1.0)])  # [-12, 0] and [0, 12]
    w = np.concatenate([weights, weights]) * 6.0
    f = np.empty_like(z)
    activation_forward(z, f, spec.code, param)
    second_moment = np.sum(w * f * f * np.exp(-0.5 * z * z)) / math.sqrt(2.0 * math.pi)
    return 1.0 / math.sqrt(second_moment)


@dataclass(frozen=True)
class ActivationSpec:
    """One element-wise activation ``y = f(a)``.

    Attributes
    ----------
    name : str
        The public name ('relu', 'gelu_tanh', ...).
    code : int
        The value of the enum in ``csrc/_activation.pxd`` that the kernels take.
    class_name : str
        The name of its layer class in ``fastnet.layers``.
    doc : str
        The formula and derivative, for the layer's docstring.
    needs_input : bool
        True when the derivative needs the pre-activation ``a`` (kept by the
        forward pass), False when it is a function of the output ``y`` alone.
    hist_range : (float, float)
        Histogram range of its outputs for diagnostics.
    saturation : (float, float) or None
        Outputs ``<= lo`` or ``>= hi`` count as saturated (None: never).
    default_init : str
        The ``weight_init_std`` name that suits it ('he' or 'xavier').
    param_name, default_param, param_low : str or None, float, float or None
        The name, default and smallest accepted value of its parameter (None,
        0.0, None for activations without one).
    gain_rule : callable ``(spec, param) -> float``
        The initialization gain (see :meth:`gain`).
    """

    name: str
    code: int
    class_name: str
    doc: str
    needs_input: bool
    hist_range: tuple
    saturation: Optional[tuple]
    default_init: str
    gain_rule: Callable = field(repr=False)
    param_name: Optional[str] = None
    default_param: float = 0.0
    param_low: Optional[float] = None

    def check_param(self, param=None):
        """Return the kernel's ``param``: the default for None, else the checked value.

        Raises ValueError for a parameter given to an activation without one,
        and TypeError/ValueError for a non-finite or out-of-range value.
        """
        if self.param_name is None:
            if param is not None:
                raise ValueError(f"activation {self.name!r} takes no parameter; got {param!r}")
            return 0.0
        if param is None:
            return self.default_param
        return real_scalar(self.param_name, param, low=self.param_low)

    def gain(self, param=None):
        """The std multiplier of fan-based initializers for this activation.

        identity/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu
        sqrt(2 / (1 + slope^2)) as PyTorch's ``calculate_gain``; elu, gelu,
        gelu_tanh and silu ``1 / sqrt(E[f(z)^2])``, z ~ N(0, 1) (see
        ``_unit_gaussian_gain``). ``param`` defaults to ``default_param``.
        """
        if param is None:
            param = self.default_param
        return float(self.gain_rule(self, float(param)))


def _constant(value):
    return lambda spec, param: value


_SPECS = (
    ActivationSpec("identity", code=0, class_name="Identity", doc="``y = x``; gradient 1.",
                   needs_input=False, hist_range=(-1.0, 1.0), saturation=None,
                   default_init="xavier", gain_rule=_constant(1.0)),
    ActivationSpec("relu", code=1, class_name="Relu",
                   doc="``max(x, 0)``; its gradient passes where the output is positive.",
                   needs_input=False, hist_range=(0.0, 1.0), saturation=None,
                   default_init="he", gain_rule=_constant(math.sqrt(2.0))),
    ActivationSpec("sigmoid", code=2, class_name="Sigmoid",
                   doc="``1 / (1 + exp(-x))``; gradient ``y (1 - y)``.",
                   needs_input=False, hist_range=(0.0, 1.0), saturation=(0.01, 0.99),
                   default_init="xavier", gain_rule=_constant(1.0)),
    ActivationSpec("tanh", code=3, class_name="Tanh", doc="``tanh(x)``; gradient ``1 - y^2``.",
                   needs_input=False, hist_range=(-1.0, 1.0), saturation=(-0.99, 0.99),
                   default_init="xavier", gain_rule=_constant(5.0 / 3.0)),
    # Leaky ReLU and ELU take their derivative from the output: with a
    # parameter >= 0, y > 0 exactly where x > 0, and ELU's y + alpha equals
    # alpha exp(x) for x <= 0 (PyTorch's in-place ELU backward does the same).
    ActivationSpec("leaky_relu", code=4, class_name="LeakyRelu",
                   doc="``x`` for ``x > 0``, else ``negative_slope * x``; gradient 1 or "
                       "``negative_slope``.",
                   needs_input=False, hist_range=(-0.5, 1.0), saturation=None,
                   default_init="he", gain_rule=lambda spec, s: math.sqrt(2.0 / (1.0 + s * s)),
                   param_name="negative_slope", default_param=0.01, param_low=0.0),
    ActivationSpec("elu", code=5, class_name="Elu",
                   doc="``x`` for ``x > 0``, else ``alpha (exp(x) - 1)``; gradient 1 or "
                       "``y + alpha``.",
                   needs_input=False, hist_range=(-1.0, 1.0), saturation=None,
                   default_init="he", gain_rule=_unit_gaussian_gain,
                   param_name="alpha", default_param=1.0, param_low=0.0),
    # GELU and SiLU are not monotone: their derivative needs x.
    ActivationSpec("gelu", code=6, class_name="Gelu",
                   doc="``x Phi(x)``, Phi the standard normal CDF (exact, with erf); "
                       "gradient ``Phi(x) + x phi(x)``.",
                   needs_input=True, hist_range=(-0.5, 1.0), saturation=None,
                   default_init="he", gain_rule=_unit_gaussian_gain),
    ActivationSpec("gelu_tanh", code=7, class_name="GeluTanh",
                   doc="``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``, GELU's tanh "
                       "approximation.",
                   needs_input=True, hist_range=(-0.5, 1.0), saturation=None,
                   default_init="he", gain_rule=_unit_gaussian_gain),
    ActivationSpec("silu", code=8, class_name="Silu",
                   doc="``x sigmoid(x)`` (swish); gradient ``s (1 + x (1 - s))``, "
                       "s = sigmoid(x).",
                   needs_input=True, hist_range=(-0.5, 1.0), saturation=None,
                   default_init="he", gain_rule=_unit_gaussian_gain),
)

#: name -> :class:`ActivationSpec`, in code order.
REGISTRY = {spec.name: spec for spec in _SPECS}
#: name -> kernel code.
ACTIVATIONS = {spec.name: spec.code for spec in _SPECS}
#: kernel code -> :class:`ActivationSpec`.
BY_CODE = {spec.code: spec for spec in _SPECS}


def get_activation(name):
    """Return the :class:`ActivationSpec` called ``name``; ValueError listing the choices."""
    return REGISTRY[one_of("activation", name, REGISTRY)]


def activation_code(name):
    """Return the kernel code of activation ``name`` (see ``REGISTRY``)."""
    return get_activation(name).code
