"""``LiveArrays``: the parameter and buffer mappings of nets and layers; the record of
arrays a net copied a layer's parameters from (``detach``)."""
import weakref

import numpy as np

#: id(array) -> (weak reference to it, what it was): arrays that were a layer's parameter
#: until a net copied them into its parameter buffer (see ``detach``).
_DETACHED = {}


def detach(array, what):
    """Record that ``array`` is no longer the live parameter ``what`` (text naming it):
    a net copied it into its parameter buffer, where the layer now computes.

    An optimizer given ``array`` then raises (``detached``): its updates would
    change nothing the net uses, so training would silently stand still (the
    textbook's pattern of building layers from a ``params`` dict of one's own,
    then updating that dict). The record goes when the array does.
    """
    key = id(array)

    def forget(ref):
        if _DETACHED.get(key, (None,))[0] is ref:  # not a later array at the same address
            del _DETACHED[key]

    try:
        _DETACHED[key] = (weakref.ref(array, forget), what)
    except TypeError:  # an array type without weak references: nothing to tell
        pass


def attach(array):
    """Forget ``detach``'s record of ``array``: a new layer computes with it again."""
    found = _DETACHED.get(id(array))
    if found is not None and found[0]() is array:
        del _DETACHED[id(array)]


def detached(array):
    """What ``array`` was (the text given to ``detach``), or None if it was never detached."""
    found = _DETACHED.get(id(array))
    return None if found is None or found[0]() is not array else found[1]


class LiveArrays(dict):
    """A net's or a layer's ``params`` or ``buffers``: the arrays its kernels compute with.

    Reading an entry gives the live array (an optimizer updates it in
    place). Assigning one, as in ``net.params["W1"] = W``, copies ``W`` into
    that array, so the net uses it (a rebound entry would otherwise be an
    array no kernel sees: a net's parameters are views into one buffer, and
    its compiled passes hold their addresses):
    ``W`` must have the entry's shape and a dtype that casts to the entry's
    within its kind (float64 -> float32 is fine, complex is not). Entries
    cannot be added or removed: the layers define them. ``dict(...)``,
    ``copy()``, ``pickle`` and ``copy.deepcopy`` give plain dicts.

    ``name`` (``"net.params"``, ``"Affine.params"`` ...) names the mapping in errors.
    """

    __slots__ = ("_name",)

    def __init__(self, arrays, name):
        super().__init__(arrays)
        self._name = name

    def rebind(self, key, array):
        """Make ``array`` the entry ``key`` itself (no copy): for the owner's own use."""
        dict.__setitem__(self, key, array)

    def __setitem__(self, key, value):
        live = self.get(key)
        if live is None:
            raise ValueError(f"{self._name} has no entry {key!r} (it has {', '.join(self)}): "
                             f"the layers define the entries")
        if value is live:  # ``params[k] -= d`` updates in place, then assigns the same array
            return
        value = np.asarray(value)
        if value.shape != live.shape:
            raise ValueError(f"{self._name}[{key!r}] must have shape {live.shape} (the "
                             f"layer's); got {value.shape}")
        if not np.can_cast(value.dtype, live.dtype, "same_kind"):
            raise TypeError(f"{self._name}[{key!r}] must be real numbers castable to "
                            f"{live.dtype}; got dtype {value.dtype}")
        np.copyto(live, value, casting="same_kind")

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def _fixed(self, *args, **kwargs):
        raise TypeError(f"{self._name} holds the arrays the kernels compute with: entries "
                        f"cannot be added or removed (assign an entry to change its values)")

    __delitem__ = pop = popitem = clear = setdefault = _fixed

    def __reduce__(self):
        return dict, (dict(self),)
