"""Helpers shared by the experiments: tables, optional plots."""
import io
import sys

from fastnet._io import atomic_open

#: The experiments' ``backend=`` choices (those of :func:`fastnet.kernels.get_backend`):
#: the compiled kernels, or their plain-NumPy twins in :mod:`fastnet.reference`.
BACKENDS = ("compiled", "reference")


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
    """Return ``matplotlib.pyplot`` on a non-interactive backend, or None if not installed.

    Called when an experiment is about to draw its PNGs; without matplotlib
    it says on stderr that they are skipped and how to get them (stdout
    keeps the results).
    """
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so the PNG plots were skipped "
              "(pip install 'fastnet[plot]' to get them); the CSV files have the data",
              file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


#: One (marker, linestyle) per curve, so curves stay distinguishable in grey or when they overlap.
STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("x", "--"), ("*", "-."),
          ("P", ":")]


def curve_style(k, n_points):
    """Keyword arguments for the ``k``-th curve of ``n_points`` points: marker, linestyle, spacing."""
    marker, linestyle = STYLES[k % len(STYLES)]
    # markers staggered per curve so that overlapping curves still show each one's markers
    every = max(n_points // 10, 1)
    return {"marker": marker, "linestyle": linestyle, "markersize": 5,
            "markevery": (k * every // len(STYLES), every)}


def save_figure(fig, path):
    """Save a matplotlib figure as PNG, atomically, and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    fig.clf()
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    return path
