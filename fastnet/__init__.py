"""fastnet: a compiled, from-scratch neural-network engine for studying how nets learn well."""
import importlib

from fastnet._blas import blas_info
from fastnet._info import build_info
from fastnet.checkpoint import load, load_checkpoint, save
from fastnet.ensemble import Ensemble
from fastnet.layers.lstm import lstm, stack_lstm
from fastnet.multi_layer_net import MultiLayerNet, MultiLayerNetExtend
from fastnet.net import Sequential
from fastnet.netbatch import NetBatch

__version__ = "0.1.0"
__all__ = ["Ensemble", "MultiLayerNet", "MultiLayerNetExtend", "NetBatch", "Sequential",
           "__version__", "blas_info", "build_info", "load", "load_checkpoint", "lstm", "save",
           "stack_lstm"]

# Submodules a user reaches as attributes after ``import fastnet``, imported on first use.
_SUBMODULES = ("datasets", "diagnostics", "init", "kernels", "layers", "optim", "reference",
               "trainer", "tune", "util")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"fastnet.{name}")
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
