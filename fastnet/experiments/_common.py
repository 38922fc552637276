"""Helpers shared by the experiments: smoothing, tables, optional plots."""
import io

import numpy as np

from fastnet._io import atomic_open


def smooth_curve(x, window_len=11, beta=2):
    """Smooth a loss curve with a normalised Kaiser window (the textbook's ``smooth_curve``).

    The ends are mirrored so the result has ``len(x)`` points (for
    ``len(x) >= window_len``; shorter curves are returned unchanged).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < window_len:
        return x.copy()
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, beta)
    y = np.convolve(w / w.sum(), s, mode="valid")
    half = window_len // 2
    return y[half:len(y) - half]


def format_table(header, rows):
    """Return ``rows`` under ``header`` as an aligned plain-text table."""
    cells = [[str(h) for h in header]] + [
        [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pyplot():
    """Return ``matplotlib.pyplot`` on a non-interactive backend, or None if not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path):
    """Save a matplotlib figure as PNG, atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    fig.clf()
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return path
