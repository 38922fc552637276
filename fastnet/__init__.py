"""fastnet: a compiled, from-scratch neural-network engine for studying how nets learn well."""
from fastnet._blas import blas_info
from fastnet.ensemble import Ensemble
from fastnet.net import MultiLayerNet, MultiLayerNetExtend

__version__ = "0.1.0"
__all__ = ["Ensemble", "MultiLayerNet", "MultiLayerNetExtend", "__version__", "blas_info"]
