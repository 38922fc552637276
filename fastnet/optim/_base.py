"""The optimizer base class: checked arguments, per-parameter state, one kernel call per
array, or one for all of them when they are views of one flat array."""
import functools
import gc
import math
import numbers
import weakref
from collections.abc import Mapping
from operator import itemgetter

import numpy as np

from fastnet._checks import FLOAT_DTYPES, integer, one_of, real_scalar
from fastnet._live import detached
from fastnet._kernels.optim import held_step, pack_scalars, tiling, unpack_scalars
from fastnet.kernels import get_backend

CONVENTIONS = ("textbook", "torch")


def check_convention(convention):
    return one_of("convention", convention, CONVENTIONS)


def _is_scalar(x):
    if type(x) is float:  # the common case, without the ABC check of numbers.Real
        return True
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
        _check_live(key, p)
        return p, False
    if _is_scalar(p):
        dtype = p.dtype if isinstance(p, np.floating) and p.dtype in FLOAT_DTYPES else np.float64
        return np.array(p, dtype=dtype), True
    raise TypeError(f"params[{key!r}] must be a numpy array or a real scalar; "
                    f"got {type(p).__name__}")


def _check_live(key, p):
    """Raise ValueError if ``p`` is an array a net copied a layer's parameter from."""
    what = detached(p)
    if what is not None:
        raise ValueError(
            f"params[{key!r}] is the array {what}: updating it would change nothing the net "
            f"computes with. Pass the net's own arrays, e.g. opt.update(net.params, grads)")


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
    for name, value in (("params", params), ("grads", grads)):
        if not _is_mapping(value):
            raise TypeError(f"{name} must be a dict (mapping) of arrays, as are params and "
                            f"grads; got {type(value).__name__}")
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


_get_step = itemgetter("step")
@functools.lru_cache(maxsize=64)
def _scalar_layout(n):
    """``tiling``'s layout of ``n`` float64 scalars packed in one array (made once per n)."""
    return ("d", n, tuple(range(n)), ((),) * n)


def _is_mapping(x):
    return isinstance(x, dict) or isinstance(x, Mapping)  # the first test saves an ABC check a step


def _memory_owner(a):
    """The array whose memory ``a`` shows (``a`` itself, or the base of a view)."""
    return a if a.base is None else a.base


def _address(a):
    return a.__array_interface__["data"][0]


def _weak(obj):
    """A weak reference to ``obj``, or None when it takes none (memory of a ``bytes``)."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return None


def _alive_after_collection(ref):
    """Whether the object of the weak reference ``ref`` outlives a garbage collection: a
    net that was replaced may wait in a reference cycle (its compiled passes point back
    at it) for the collector, and is gone all the same."""
    gc.collect()
    return ref() is not None


def _common_step(sts):
    """The step count every state dict of ``sts`` has, or None if they differ or lack one."""
    try:
        steps = set(map(_get_step, sts))
    except (KeyError, TypeError):  # no step, or an unhashable one
        return None
    return steps.pop() if len(steps) == 1 else None


class _FlatGroup:
    """The flat state of parameters that tile one flat range (see ``Optimizer.update``).

    ``keys`` (in the params dict's order) and ``layout`` (``tiling``'s:
    format, size, offsets, shapes) say which parameters it serves; ``state``
    holds one flat array per state name laid out like the parameters;
    ``stdicts`` are the per-key dicts of ``Optimizer.state`` made for it and
    ``views`` their arrays, key by key and name by name, each a view of
    ``state``: while all are still in place, ``state`` is the state.
    """

    __slots__ = ("keys", "layout", "state", "stdicts", "views", "user", "_names")

    def __init__(self, keys, layout, names, state, stdicts, views):
        self.keys, self.layout, self.state = keys, layout, state
        self.stdicts, self.views = stdicts, views
        # (weak reference to the array owning the parameters' memory, address of their
        # range): the parameters this state is for (Optimizer._check_group_user)
        self.user = None
        self._names = tuple(names)

    def held_step(self, state):
        """The step its keys' dicts are at while the optimizer's ``state`` holds
        them and they hold its views, else None.

        It runs every step: the identity tests run in C (``held_step``).
        """
        return held_step(state, self.keys, self.stdicts, self._names, self.views)


class Optimizer:
    """Base class: ``update(params, grads)`` runs one fused kernel call per array, or one in all.

    Subclasses name their per-parameter state arrays in ``_state_names``,
    their hyperparameters' checks in ``_checks`` (run on every assignment),
    and implement ``_coefficients()`` (what the kernel needs, once per update)
    and ``_apply(flat_param, flat_grad, step, flat_state, coefficients)``.

    ``state`` maps each parameter key to ``{'step': int, name: array, ...}``;
    arrays are made on first use with the parameter's shape and dtype.

    When the parameters are views that tile one flat range of one array
    (``fastnet.Sequential`` keeps them so), ``_apply`` is called once over
    the whole range: see :meth:`update`.
    """

    _flat = None  # the _FlatGroup of the latest one-call update
    _scalar_buffers = None  # _scalar_args's float64 arrays (parameters, gradients), layout

    _state_names = ()
    _hyperparameters = ("lr",)
    # attribute -> check(name, value) run on every assignment, so a bad value
    # is caught where it is set, not half-way through an update
    _checks = {"lr": lambda name, v: real_scalar(name, v, low=0),
               "convention": lambda name, v: check_convention(v)}

    def __init__(self, lr, *, convention="textbook", backend="compiled"):
        self.lr = lr
        self.convention = convention
        self.backend = backend  # sets _ops too (__setattr__)
        self.state = {}
        # key -> (its state dict, weak references to the parameter array and to the array
        # owning its memory, its address): the parameter that state is for (_check_user)
        self._users = {}

    def __setattr__(self, name, value):
        if name == "backend":  # the kernels follow (assigned alone, it was ignored)
            object.__setattr__(self, "_ops", get_backend(value))
        check = self._checks.get(name)
        object.__setattr__(self, name, value if check is None else check(name, value))

    def __getstate__(self):
        """For pickling and ``copy.deepcopy``: the settings and the state, not the kernels'
        module nor the flat group and parameter bindings, which the copy makes anew on its
        first update (its state arrays are its own, no longer views of one flat array)."""
        state = dict(self.__dict__)
        for name in ("_ops", "_flat", "_users", "_scalar_buffers"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.update(_ops=get_backend(self.backend), _users={})

    # -- which parameters the state is for ---------------------------------------
    # One optimizer keeps one state per parameter *name* (as the textbook's do). Updating the
    # arrays of a second net that is still alive with it would mix both nets' moments and
    # step counts silently, so a stateful optimizer remembers (weakly) the arrays its state is
    # for and refuses others while those live; once they are gone (a net replaced by its
    # reloaded copy) the state moves to the new arrays. State made or loaded afresh is for
    # whichever arrays come first. A stateless optimizer (SGD) serves any number of nets.
    def _check_user(self, key, st, arr):
        """Raise ValueError unless the parameter array ``arr`` may be updated with ``st``,
        the state of ``key``: it is the array that state was last used with (or shows the
        same memory), that array is gone, or ``st`` was made or loaded since."""
        bound = self._users.get(key)
        if bound is None or bound[0] is not st or bound[1]() is arr:
            return
        owner = bound[2]()
        if owner is None or (owner is _memory_owner(arr) and bound[3] == _address(arr)):
            return
        del owner
        if _alive_after_collection(bound[2]):
            raise ValueError(self._shared_message(key))

    def _bind_user(self, key, st, arr):
        """Record ``arr`` as the parameter ``st``, the state of ``key``, is for."""
        bound = self._users.get(key)
        if bound is not None and bound[0] is st and bound[1]() is arr:
            return
        owner = _weak(_memory_owner(arr))
        self._users[key] = None if owner is None else (st, weakref.ref(arr), owner, _address(arr))

    def _check_group_user(self, group, param, address):
        """:meth:`_check_user` for a flat group's parameters, the flat ``param`` at
        ``address``, checked on every one-call update (one identity test); rebinds the
        group to them when its parameters are gone."""
        owner = _memory_owner(param)
        user = group.user
        if user is not None:
            current = None if user[0] is None else user[0]()
            if current is owner and user[1] == address:
                return
            if current is not None:
                del current
                if _alive_after_collection(user[0]):
                    raise ValueError(self._shared_message(group.keys[0]))
        group.user = (_weak(owner), address)

    def _shared_message(self, key):
        name = type(self).__name__
        return (f"params[{key!r}] is not the array this {name}'s state for {key!r} was made "
                f"with, and that array (another net's?) is still alive: an optimizer keeps one "
                f"state ({', '.join(self._state_names)}) per parameter name, which two nets "
                f"would share and mix. Give each net its own optimizer (a new one, or "
                f"copy.deepcopy(opt)); to move this state to the new arrays on purpose, call "
                f"opt.load_state_dict(opt.state_dict()) first")

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

        One kernel call updates all the arrays when the parameters tile one
        flat range of one C-contiguous array in any order (no gap, no
        overlap, one dtype), the gradients tile one range of another array
        in the same layout, and every key's state is at the same step: a
        ``fastnet.Sequential``'s ``params`` and ``gradient()`` are made so.
        The state of such a group then lives in one flat array per state
        name, ``state[key][name]`` being views of it: made so on first use,
        or copied there once from separate arrays (after
        :meth:`load_state_dict`), so keep no reference to a state array
        across updates. The result is the same, bit for bit, as one call
        per array: the kernels are element-wise. Parameters and gradients
        that are all float64 scalars (Python floats or ``numpy.float64``)
        are packed into one array for one call likewise.

        State is kept per key, as in the textbook, so one optimizer with
        state (all but SGD) serves one net: updating another net's arrays
        under the same keys while the first net's are alive is a
        ValueError, where the textbook's would mix both nets' moments.
        Once those arrays are gone (the net replaced, e.g. by its reloaded
        copy), or after :meth:`load_state_dict`, the state serves the
        arrays it is next used with. SGD may serve several nets.
        """
        flat = self._scalar_args(params, grads)
        if flat is not None:
            self._update_flat(*flat)
            # numpy.float64 values, as the per-array path leaves them
            unpack_scalars(params, flat[2].keys, flat[0])
            return
        flat = self._flat_args(params, grads)
        if flat is not None:
            self._update_flat(*flat)
            return
        coeffs = self._coefficients()
        items = check_update_args(params, grads)
        states = [self._state_for(key, arr) for key, arr, _, _, _ in items]
        stateful = bool(self._state_names)
        if stateful:
            for (key, arr, _, _, is_scalar), st in zip(items, states):
                if st is not None and not is_scalar:
                    self._check_user(key, st, arr)
        for (key, arr, p, g, is_scalar), st in zip(items, states):
            if st is None:
                st = self.state[key] = {"step": 0}
                for name in self._state_names:
                    st[name] = np.zeros_like(arr)
            if stateful and not is_scalar:
                self._bind_user(key, st, arr)
            st["step"] += 1
            if p.size:  # an empty array has nothing to update (and no element to point at)
                self._apply(p, g, st["step"], [st[name].reshape(-1) for name in self._state_names],
                            coeffs)
            if is_scalar:
                params[key] = arr[()]

    def _update_flat(self, param, grad, group, step):
        """The one-call update (see :meth:`update`) of ``group``'s parameters, tiled by the
        flat ``param``, from the flat ``grad`` laid out alike: ``_apply`` once, then every
        key's step count set to ``step``. Mutates ``param``, the group's state and step counts."""
        if param.size:
            self._apply(param, grad, step, group.state, self._coefficients())
        for st in group.stdicts:
            st["step"] = step

    def _next_flat_step(self, group):
        """The step a one-call update of ``group`` takes now, or None.

        ``group`` is what :meth:`_flat_args` returned for parameters that are
        still the same arrays (the caller knows): the step is the one
        :meth:`_flat_args` would return, found without tiling them again.
        None, changing nothing, when ``group`` no longer holds this
        optimizer's state (``state`` replaced or loaded, a state array
        rebound, another group updated since) or its keys' steps differ.
        """
        if group is not self._flat:
            return None
        step = group.held_step(self.state)
        return None if step is None else step + 1

    def _flat_args(self, params, grads):
        """``(flat_param, flat_grad, group, step)`` for a one-call update, or None.

        Takes only what :func:`check_update_args` and ``_state_for`` pass
        (NumPy arrays, writable parameters, gradients of their shape and
        dtype, state of their shape and dtype); for anything else it returns
        None having changed nothing, and the per-array path's checks name
        the bad key. It makes or gathers the group's state (see
        :meth:`update`) only once every check has passed.
        """
        if not (_is_mapping(params) and _is_mapping(grads) and params.keys() == grads.keys()):
            return None
        keys = tuple(params)
        found = tiling(list(params.values()), True)
        if found is None:
            return None
        param, address, layout = found
        found = tiling(list(map(grads.__getitem__, keys)), False)
        if found is None or found[2] != layout:
            return None
        grad, grad_address, _ = found
        if grad_address != address and abs(grad_address - address) < param.nbytes:
            return None  # gradients overlapping the parameters, shifted: order would matter
        found = self._state_group(keys, layout, param, address, params)
        return None if found is None else (param, grad, *found)

    def _scalar_args(self, params, grads):
        """``(flat_param, flat_grad, group, step)`` for a one-call update of scalars, or None.

        When ``params`` and ``grads`` are dicts whose values are all float64
        scalars (Python floats or ``numpy.float64``: the textbook's
        optimizer-path script), ``flat_param`` and ``flat_grad`` are float64
        arrays of them in the params dict's order (the optimizer's own, reused
        from step to step), and their state is a flat group as for
        :meth:`_flat_args` (``state[key][name]`` are 0-d views of it). The
        caller writes ``flat_param``'s values back into ``params``. None,
        having changed nothing, for anything else.
        """
        if type(params) is not dict:
            return None
        n = len(params)
        buffers = self._scalar_buffers
        if buffers is None or buffers[0].size != n:
            buffers = self._scalar_buffers = (np.empty(n), np.empty(n), _scalar_layout(n))
        values, grad_values, layout = buffers
        if not pack_scalars(params, grads, values, grad_values):
            return None
        found = self._state_group(tuple(params), layout)
        return None if found is None else (values, grad_values, *found)

    def _state_group(self, keys, layout, param=None, address=None, params=None):
        """``(group, step)``: the flat state group of ``keys`` laid out as ``layout``
        (the latest one if it still holds their state, else made or gathered now,
        see :meth:`_gather_state`) and the step its update takes; or None when
        their state cannot be one group or their steps differ.

        ``param`` (at ``address``) and ``params`` (the mapping): the parameter
        arrays, checked against those the state is for (:meth:`_check_user`,
        a ValueError changing nothing); None for scalars, which are not.
        """
        checked = param is not None and bool(self._state_names)
        group = self._flat
        if group is not None and group.keys == keys and group.layout == layout:
            step = self._next_flat_step(group)
            if step is not None:
                if checked:
                    self._check_group_user(group, param, address)
                return group, step
        # Not held (or held at steps that differ, which gathering refuses too).
        sts = list(map(self.state.get, keys))
        if params is not None:
            for key in keys:
                _check_live(key, params[key])
        if checked:
            arrays = list(map(params.__getitem__, keys))
            # A state of another shape or dtype is that error first, as in the per-array path.
            for key, st, arr in zip(keys, [self._state_for(k, a) for k, a in zip(keys, arrays)],
                                    arrays):
                if st is not None:
                    self._check_user(key, st, arr)
        group = self._gather_state(keys, layout, sts)
        if group is None:
            return None
        if checked:
            for key, st, arr in zip(keys, group.stdicts, arrays):
                self._bind_user(key, st, arr)
            group.user = (_weak(_memory_owner(param)), address)
        self._flat = group
        return group, _common_step(group.stdicts) + 1  # gathered: at one step

    def _gather_state(self, keys, layout, sts):
        """A new :class:`_FlatGroup` for ``keys``, its state in flat arrays, or None.

        ``sts`` are the keys' current state dicts. None for all: zeros, at
        step 0. Arrays of the parameters' shapes and dtype at one step for
        all: copied into the flat arrays, which the dicts then hold views
        of. Anything else (some keys without state, other shapes, steps
        that differ): None, and the arrays stay as they are.
        """
        fmt, total, offsets, shapes = layout
        dtype = np.dtype(fmt)
        names = self._state_names
        fresh = all(st is None for st in sts)
        if not fresh:
            if any(not isinstance(st, Mapping) for st in sts):
                return None
            if _common_step(sts) is None:
                return None
            for st, shape in zip(sts, shapes):
                for name in names:
                    a = st.get(name)
                    if not (isinstance(a, np.ndarray) and a.shape == shape and a.dtype == dtype):
                        return None
        flat = [np.zeros(total, dtype) for _ in names]
        stdicts, views = [], []
        for key, st, offset, shape in zip(keys, sts, offsets, shapes):
            if fresh:
                st = self.state[key] = {"step": 0}
            for name, buffer in zip(names, flat):
                view = buffer[offset:offset + math.prod(shape)].reshape(shape)
                if not fresh:
                    np.copyto(view, st[name])
                st[name] = view
                views.append(view)
            stdicts.append(st)
        return _FlatGroup(keys, layout, names, flat, stdicts, views)

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
