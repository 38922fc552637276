"""Dropout (Srivastava et al. 2014, JMLR 15; the textbook cites arXiv:1207.0580)."""
import numpy as np

from fastnet._checks import as_input, check_batch, check_shape, float_dtype, make_rng, real_scalar
from fastnet.kernels import get_backend

MODES = ("textbook", "inverted")


class Dropout:
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
    mask, scale included (0 or the scale).
    """

    def __init__(self, dropout_ratio=0.5, mode="textbook", rng=None, *, backend="compiled"):
        self.dropout_ratio = real_scalar("dropout_ratio", dropout_ratio, low=0, high=1,
                                         high_open=True)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        self.mode = mode
        self.rng = make_rng(rng)
        self._ops = get_backend(backend)
        keep = 1.0 - self.dropout_ratio
        # (scale of kept units in training, scale at inference)
        self._train_scale, self._infer_scale = (1.0, keep) if mode == "textbook" else (1.0 / keep, 1.0)
        self.mask = None
        self._train = None  # whether the latest forward was in training

    # -- checked, allocating API (textbook) ------------------------------------
    def forward(self, x, train_flg=True):
        """Return the dropped-out ``x`` as a new array (same shape and dtype)."""
        x = np.asarray(x)
        float_dtype(x.dtype, "x.dtype")
        x = np.ascontiguousarray(x)
        check_batch("x", x)
        out = np.empty_like(x)
        result = self._forward(x, out, bool(train_flg))
        if result is x:  # inverted mode at inference passes x through
            np.copyto(out, x)
        return out

    def backward(self, dout):
        """Return ``dout`` through the latest forward's mask (or inference scale), as a new array."""
        if self._train is None:
            raise RuntimeError("backward called before forward")
        shape = self.mask.shape if self._train else self._infer_shape
        dtype = self.mask.dtype if self._train else self._infer_dtype
        dout = as_input("dout", dout, dtype)
        check_shape("dout", dout, shape)
        return self._backward(dout, np.empty_like(dout))

    # -- unchecked API for networks --------------------------------------------
    def _forward(self, x, out, train_flg):
        """Write the result into ``out`` (any C-contiguous shape); return it.

        In inverted mode at inference the result is ``x`` itself (no copy).
        """
        self._train = train_flg
        if not train_flg:
            self._infer_shape, self._infer_dtype = x.shape, x.dtype
            if self._infer_scale == 1.0:
                return x
            self._ops.dropout_scale(x.reshape(-1), self._infer_scale, out.reshape(-1))
            return out
        mask = self.mask
        if mask is None or mask.shape != x.shape or mask.dtype != x.dtype:
            mask = self.mask = np.empty_like(x)
        self.rng.random(out=mask.reshape(-1), dtype=mask.dtype)
        self._ops.dropout_forward_(x.reshape(-1), mask.reshape(-1), self.dropout_ratio,
                                   self._train_scale, out.reshape(-1))
        return out

    def _backward(self, dout, dx):
        """Write ``dout`` through the mask into ``dx`` (may be ``dout``); return ``dx``."""
        if self._train:
            self._ops.dropout_backward(dout.reshape(-1), self.mask.reshape(-1), dx.reshape(-1))
        elif self._infer_scale == 1.0:
            np.copyto(dx, dout)
        else:
            self._ops.dropout_scale(dout.reshape(-1), self._infer_scale, dx.reshape(-1))
        return dx
