"""Data files shipped with fastnet (see ``fastnet/data/mnist/README.md``).

Nothing to import here: ``fastnet.datasets`` reads these files.
"""
