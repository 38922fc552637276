"""The textbook's ``common/util.py`` helpers that chapter 6 uses: ``smooth_curve`` and ``shuffle_dataset``.

A textbook script that does ``from common.util import smooth_curve,
shuffle_dataset`` runs unchanged with ``from fastnet.util import ...``.
"""
import numpy as np

from fastnet._checks import as_array, make_rng, positive_int, real_scalar


def smooth_curve(x, window_len=11, beta=2):
    """Smooth a loss curve with a normalised Kaiser window, as the textbook's ``smooth_curve``.

    ``y = convolve(w / sum(w), s)`` where ``w = numpy.kaiser(window_len, beta)``
    and ``s`` is ``x`` with ``window_len - 1`` points mirrored onto each end
    (without repeating the end point), so ``y`` has ``len(x)`` points. With
    the defaults the values equal the textbook's exactly.

    Parameters
    ----------
    x : array_like, shape (n,)
        The curve (e.g. the loss per iteration).
    window_len : odd int >= 1, default 11
    beta : float >= 0, default 2
        Kaiser window shape (0: rectangular window).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        A new array. A curve shorter than ``window_len`` is returned unchanged
        (as a float64 copy): the textbook's code returns a curve of a
        different length there, which cannot be plotted against ``x``.
    """
    window_len = positive_int("window_len", window_len)
    if window_len % 2 == 0:
        raise ValueError(f"window_len must be odd (the window is centred on each point); "
                         f"got {window_len}")
    beta = real_scalar("beta", beta, low=0)
    x = as_array("x", x)
    if x.dtype.kind not in "biuf":  # complex lost its imaginary part, None became NaN
        raise TypeError(f"x must be a curve of real numbers; got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be a 1-d curve; got shape {x.shape}")
    if x.size < window_len:
        return x.copy()
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, beta)
    y = np.convolve(w / w.sum(), s, mode="valid")
    half = window_len // 2
    return y[half:len(y) - half]


def shuffle_dataset(x, t, rng=None):
    """Return ``x`` and ``t`` reordered by one random permutation of their samples.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, ...)
        Samples along the first axis (any number of further axes; the
        textbook's handles 2-d and 4-d arrays).
    t : numpy.ndarray, shape (N,) or (N, classes)
        Labels, reordered with the same permutation.
    rng : None, int or numpy.random.Generator
        Source of the permutation. ``None`` (the default) draws it from
        NumPy's *global* random state with ``numpy.random.permutation``,
        exactly as the textbook does, so a script's ``np.random.seed(...)``
        governs it. Pass a seed or a ``Generator`` to keep global state out
        of it.

    Returns
    -------
    x, t : new arrays (fancy-indexed copies); the inputs are not modified.
    """
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"x and t must have a sample axis; got shapes {x.shape} and {t.shape}")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x and t must hold the same number of samples; got {x.shape[0]} "
                         f"and {t.shape[0]}")
    if rng is None:
        permutation = np.random.permutation(x.shape[0])
    else:
        permutation = make_rng(rng).permutation(x.shape[0])
    return x[permutation], t[permutation]
