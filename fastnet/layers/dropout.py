"""Dropout (Srivastava et al. 2014, JMLR 15; the textbook cites arXiv:1207.0580)."""
import functools

from fastnet._checks import make_rng, one_of, real_scalar
from fastnet._workspace import aligned_empty
from fastnet.layers._base import Layer, setting

MODES = ("textbook", "inverted")


class Dropout(Layer):
    """Zero each activation with probability ``dropout_ratio`` during training.

    Parameters
    ----------
    dropout_ratio : float in [0, 1)
        Probability of dropping a unit.
    mode : {'textbook', 'inverted'}
        'textbook': training keeps units unscaled, inference multiplies by
        ``1 - dropout_ratio``. 'inverted': training scales kept units by
        ``1 / (1 - dropout_ratio)``, inference is the identity. Both have the
        same expected output in training as in inference.
    rng : numpy.random.Generator, int or None
        Source of the masks; a seed (or a fresh Generator from it) reproduces
        them exactly. No global random state is used.
    backend : {'compiled', 'reference'}

    A unit is kept when its uniform draw ``u`` in [0, 1) exceeds the ratio
    (as the textbook's ``rand > ratio``). ``mask`` holds the latest training
    mask, scale included (0 or the scale); the next training forward of the
    same shape overwrites it in place (copy it to keep it). The generator's state is part of
    the layer's state (``state_dict()["extra"]``), so a restored net draws
    the same masks as the original would have.
    """

    _recordable = True  # the draws are not: _compile makes them run before each call
    dropout_ratio = setting("dropout_ratio")
    mode = setting("mode")

    def __init__(self, dropout_ratio=0.5, mode="textbook", rng=None, *, backend="compiled"):
        self._settings = {"dropout_ratio": real_scalar("dropout_ratio", dropout_ratio, low=0,
                                                       high=1, high_open=True),
                          "mode": one_of("mode", mode, MODES)}
        self.rng = make_rng(rng)
        self._setup(None, backend)
        keep = 1.0 - self.dropout_ratio
        # (scale of kept units in training, scale at inference)
        self._train_scale, self._infer_scale = (1.0, keep) if mode == "textbook" else (1.0 / keep, 1.0)
        self.mask = None
        self._train = None  # whether the latest forward was in training

    def config(self):
        return {"dropout_ratio": self.dropout_ratio, "mode": self.mode, "backend": self.backend}

    def describe(self):
        return f"Dropout({self.dropout_ratio})"

    def extra_state(self):
        return {"rng": self.rng.bit_generator.state}

    def load_extra_state(self, state):
        if not isinstance(state, dict) or set(state) != {"rng"}:
            raise ValueError(f"Dropout extra state must be a dict holding 'rng'; "
                             f"got {state!r:.100}")
        try:
            self.rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"Dropout extra state 'rng' is not a state of "
                             f"{type(self.rng.bit_generator).__name__}: {err}") from None

    # -- the protocol --------------------------------------------------------------
    def _forward(self, x, ws, train):
        """Drop out ``x`` into x itself when allowed, else into a buffer.

        In inverted mode at inference the result is ``x`` itself (no copy).
        """
        if train:
            mask = self.mask
            if mask is None or mask.shape != x.shape or mask.dtype != x.dtype:
                mask = aligned_empty(x.shape, x.dtype)
            self._draw(mask)
        return self._apply(x, ws, train)

    def _draw(self, mask):
        """Make ``mask`` the layer's mask, filled with uniforms from its generator."""
        self.mask = mask
        self.rng.random(out=mask.reshape(-1), dtype=mask.dtype)

    def _apply(self, x, ws, train):
        """The forward once the mask is drawn: kernel calls only."""
        self._train = train
        if not train and self._infer_scale == 1.0:
            return x
        out = x if ws.may_overwrite_x else ws.get("out", x.shape, x.dtype)
        if not train:
            self._ops.dropout_scale(x.reshape(-1), self._infer_scale, out.reshape(-1))
            return out
        self._ops.dropout_forward_(x.reshape(-1), self.mask.reshape(-1), self.dropout_ratio,
                                   self._train_scale, out.reshape(-1))
        return out

    def _compile(self, plan, x, ws, train):
        """Trace ``_apply``; in training the program gets its own mask, which every
        run makes the layer's mask and fills from the generator before the
        compiled call (the per-layer path's draws, in the same order)."""
        if train:
            mask = aligned_empty(x.shape, x.dtype)
            plan.before_run(functools.partial(self._draw, mask))
            self.mask = mask
        return plan.trace(self, x, ws, train, forward=self._apply)

    def _backward(self, dout, ws, need_dx):
        """``dout`` through the latest forward's mask (or inference scale)."""
        if not self._train and self._infer_scale == 1.0:
            return dout
        dx = dout if ws.may_overwrite_dout else ws.get("dx", dout.shape, dout.dtype)
        if self._train:
            self._ops.dropout_backward(dout.reshape(-1), self.mask.reshape(-1), dx.reshape(-1))
        else:
            self._ops.dropout_scale(dout.reshape(-1), self._infer_scale, dx.reshape(-1))
        return dx
