"""fastnet: a compiled, from-scratch neural-network engine for studying how nets learn well."""
from fastnet._blas import blas_info
from fastnet._info import build_info
from fastnet.net import MultiLayerNet, MultiLayerNetExtend

__version__ = "0.1.0"
__all__ = ["MultiLayerNet", "MultiLayerNetExtend", "__version__", "blas_info", "build_info"]
