"""The optimizer base class: checked arguments, per-parameter state, one kernel call per array."""
import numbers
from collections.abc import Mapping

import numpy as np

from fastnet._checks import FLOAT_DTYPES, integer, one_of, real_scalar
from fastnet.kernels import get_backend

CONVENTIONS = ("textbook", "torch")


def check_convention(convention):
    return one_of("convention", convention, CONVENTIONS)


def _is_scalar(x):
    return (isinstance(x, (numbers.Real, np.floating, np.integer))
            and not isinstance(x, (bool, np.bool_)))


def _as_param(key, p):
    """Return ``(array, is_scalar)``: arrays are checked, scalars become 0-d arrays."""
    if isinstance(p, np.ndarray):
        if p.dtype not in FLOAT_DTYPES:
            raise TypeError(f"params[{key!r}] must be float32 or float64; got dtype {p.dtype}")
        if not p.flags.c_contiguous:
            raise ValueError(f"params[{key!r}] must be C-contiguous to be updated in place")
        if not p.flags.writeable:
            raise ValueError(f"params[{key!r}] is read-only; it cannot be updated in place")
        return p, False
    if _is_scalar(p):
        dtype = p.dtype if isinstance(p, np.floating) and p.dtype in FLOAT_DTYPES else np.float64
        return np.array(p, dtype=dtype), True
    raise TypeError(f"params[{key!r}] must be a numpy array or a real scalar; "
                    f"got {type(p).__name__}")


def _as_grad(key, g, p, p_is_scalar):
    if isinstance(g, np.ndarray):
        if g.dtype != p.dtype:
            raise TypeError(f"grads[{key!r}] has dtype {g.dtype}; params[{key!r}] is {p.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{key!r}] has shape {g.shape}; params[{key!r}] is {p.shape}")
        return np.ascontiguousarray(g).reshape(-1)
    if _is_scalar(g):
        if isinstance(g, np.floating) and g.dtype != p.dtype:
            raise TypeError(f"grads[{key!r}] has dtype {g.dtype}; params[{key!r}] is {p.dtype}")
        if not p_is_scalar and p.shape != ():
            raise ValueError(f"grads[{key!r}] is a scalar; params[{key!r}] has shape {p.shape}")
        return np.array(g, dtype=p.dtype).reshape(-1)
    raise TypeError(f"grads[{key!r}] must be a numpy array or a real scalar; "
                    f"got {type(g).__name__}")


def check_update_args(params, grads):
    """Check every ``params``/``grads`` pair before any update.

    Returns a list of ``(key, param_array, flat_param, flat_grad, is_scalar)``;
    raises TypeError/ValueError naming the first bad key, so a bad pair never
    leaves a partial update.
    """
    if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
        raise TypeError("params and grads must be dicts (mappings) of arrays; got "
                        f"{type(params).__name__} and {type(grads).__name__}")
    if params.keys() != grads.keys():
        raise ValueError(
            f"params and grads must have the same keys; params has {sorted(map(str, params))}, "
            f"grads has {sorted(map(str, grads))}"
        )
    out = []
    for key, p in params.items():
        arr, is_scalar = _as_param(key, p)
        out.append((key, arr, arr.reshape(-1), _as_grad(key, grads[key], arr, is_scalar), is_scalar))
    return out


class Optimizer:
    """Base class: ``update(params, grads)`` runs one fused kernel call per array.

    Subclasses name their per-parameter state arrays in ``_state_names``,
    their hyperparameters' checks in ``_checks`` (run on every assignment),
    and implement ``_coefficients()`` (what the kernel needs, once per update)
    and ``_apply(flat_param, flat_grad, step, flat_state, coefficients)``.

    ``state`` maps each parameter key to ``{'step': int, name: array, ...}``;
    arrays are made on first use with the parameter's shape and dtype.
    """

    _state_names = ()
    _hyperparameters = ("lr",)
    # attribute -> check(name, value) run on every assignment, so a bad value
    # is caught where it is set, not half-way through an update
    _checks = {"lr": lambda name, v: real_scalar(name, v, low=0),
               "convention": lambda name, v: check_convention(v)}

    def __init__(self, lr, *, convention="textbook", backend="compiled"):
        self.lr = lr
        self.convention = convention
        self.backend = backend
        self._ops = get_backend(backend)
        self.state = {}

    def __setattr__(self, name, value):
        check = self._checks.get(name)
        object.__setattr__(self, name, value if check is None else check(name, value))

    def _coefficients(self):
        return None

    def _state_for(self, key, arr):
        st = self.state.get(key)
        if st is None:
            return None
        first = st[self._state_names[0]] if self._state_names else None
        if first is not None and (first.shape != arr.shape or first.dtype != arr.dtype):
            raise ValueError(
                f"params[{key!r}] is {arr.shape} {arr.dtype}, but the optimizer's state for it "
                f"is {first.shape} {first.dtype}; use a new optimizer (or reset opt.state)"
            )
        return st

    def update(self, params, grads):
        """Update every entry of ``params`` in place from ``grads``.

        ``params`` and ``grads`` have the same keys; each pair has one shape
        and one dtype (float32 or float64). Arrays are mutated in place;
        scalar entries (Python or NumPy floats, as in the textbook's
        optimizer-path script) are replaced by the updated NumPy scalar.
        Everything is checked before the first array changes.
        """
        coeffs = self._coefficients()
        items = check_update_args(params, grads)
        states = [self._state_for(key, arr) for key, arr, _, _, _ in items]
        for (key, arr, p, g, is_scalar), st in zip(items, states):
            if st is None:
                st = self.state[key] = {"step": 0}
                for name in self._state_names:
                    st[name] = np.zeros_like(arr)
            st["step"] += 1
            if p.size:  # an empty array has nothing to update (and no element to point at)
                self._apply(p, g, st["step"], [st[name].reshape(-1) for name in self._state_names],
                            coeffs)
            if is_scalar:
                params[key] = arr[()]

    # -- checkpoints -----------------------------------------------------------
    def hyperparameters(self):
        """The settings as a dict of plain Python values."""
        out = {name: getattr(self, name) for name in self._hyperparameters}
        out["convention"] = self.convention
        return out

    def state_dict(self):
        """Return ``{'optimizer', 'hyperparameters', 'state'}`` with copies of the state arrays."""
        return {
            "optimizer": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "state": {key: {name: (v.copy() if isinstance(v, np.ndarray) else v)
                            for name, v in st.items()} for key, st in self.state.items()},
        }

    def load_state_dict(self, state_dict):
        """Restore settings and state from :meth:`state_dict` output (arrays are copied)."""
        if not isinstance(state_dict, Mapping) or "state" not in state_dict:
            raise TypeError("state_dict must be a dict made by Optimizer.state_dict()")
        name = state_dict.get("optimizer")
        if name != type(self).__name__:
            raise ValueError(f"state_dict is for optimizer {name!r}; this is {type(self).__name__}")
        hyper = state_dict.get("hyperparameters", {})
        if not isinstance(hyper, Mapping):
            raise TypeError(f"state_dict['hyperparameters'] must be a dict; got "
                            f"{type(hyper).__name__}")
        if not isinstance(state_dict["state"], Mapping):
            raise TypeError(f"state_dict['state'] must be a dict of per-parameter dicts; got "
                            f"{type(state_dict['state']).__name__}")
        hyper = dict(hyper)
        convention = check_convention(hyper.pop("convention", self.convention))
        unknown = set(hyper) - set(self._hyperparameters)
        if unknown:
            raise ValueError(f"state_dict has unknown hyperparameters {sorted(unknown)}")
        state = {}
        for key, st in state_dict["state"].items():
            if not isinstance(st, Mapping):
                raise TypeError(f"state[{key!r}] must be a dict; got {type(st).__name__}")
            new = {"step": integer(f"state[{key!r}]['step']", st.get("step"), low=0)}
            shapes = set()
            for sname in self._state_names:
                if sname not in st:
                    raise ValueError(f"state[{key!r}] lacks {sname!r}")
                a = np.asarray(st[sname])
                if a.dtype not in FLOAT_DTYPES:
                    raise TypeError(f"state[{key!r}][{sname!r}] must be float32 or float64; "
                                    f"got {a.dtype}")
                new[sname] = np.array(a, order="C", copy=True)
                shapes.add((a.shape, a.dtype))
            if len(shapes) > 1:
                raise ValueError(f"state[{key!r}] arrays differ in shape or dtype: {shapes}")
            state[key] = new
        checked = {h: (self._checks[h](h, v) if h in self._checks else v) for h, v in hyper.items()}
        for hname, value in checked.items():
            setattr(self, hname, value)
        self.convention = convention
        self.state = state

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"
