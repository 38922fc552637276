"""Choose the instruction-set variant of the element-wise kernel modules.

On x86-64 the wheel holds each element-wise kernel module three times
(setup.py): the baseline (SSE2) build, ``fastnet/_kernels/avx2/`` (x86-64-v3:
AVX2, FMA) and ``fastnet/_kernels/avx512/`` (x86-64-v4: AVX-512
F/CD/BW/DQ/VL). The best level the CPU (and the OS, which must save the wider
registers) supports is taken, as NumPy's own dispatch does; NumPy's feature
detection says which. ``FASTNET_SIMD=baseline|avx2|avx512`` forces one;
forcing a level the CPU lacks is an error, not a silent fallback. Other
platforms have the baseline only.

Loading is transparent: an import finder (installed by ``fastnet._kernels``)
loads ``fastnet._kernels.<name>`` from the chosen level's file, so every
import of a kernel module, wherever it happens, gets the same variant under
the same name.
"""
import importlib.machinery
import importlib.util
import os
import sys

_KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernels")

LEVELS = ("baseline", "avx2", "avx512")
# NumPy's names of the features each level's compiler flags assume.
_FEATURES = {
    "baseline": (),
    "avx2": ("AVX", "AVX2", "FMA3", "F16C", "BMI", "BMI2", "LZCNT", "MOVBE"),
    "avx512": ("AVX2", "FMA3", "AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL"),
}


def cpu_features():
    """NumPy's run-time CPU feature flags (name -> bool); empty off x86 or if unavailable."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy moved its private module; stay on the baseline
        return {}
    return dict(__cpu_features__)


def _variant_file(level, name):
    """Path of kernel module ``name`` built for ``level``, or None if it has no such build."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(_KERNELS, level, name + suffix)
        if os.path.exists(path):
            return path
    return None


def _built(level):
    """True if this installation holds the ``level`` variants."""
    return level == "baseline" or _variant_file(level, "optim") is not None


def supported_levels():
    """The levels both built into this installation and supported by this CPU, lowest first."""
    features = cpu_features()
    return [level for level in LEVELS
            if _built(level) and all(features.get(f, False) for f in _FEATURES[level])]


def _choose():
    supported = supported_levels()
    forced = os.environ.get("FASTNET_SIMD", "").strip().lower()
    if not forced:
        return supported[-1]
    if forced not in LEVELS:
        raise ValueError(f"FASTNET_SIMD must be one of {', '.join(LEVELS)}; got {forced!r}")
    if forced not in supported:
        if not _built(forced):
            why = "this installation has no such build (non-x86 or debug build)"
        else:
            missing = [f for f in _FEATURES[forced] if not cpu_features().get(f, False)]
            why = f"this CPU lacks {', '.join(missing)}"
        raise ValueError(f"FASTNET_SIMD={forced}: {why}; supported here: {', '.join(supported)}")
    return forced


LEVEL = _choose()


class _VariantFinder:
    """Meta-path finder: ``fastnet._kernels.<name>`` from the chosen level's build, if it has one."""

    prefix = "fastnet._kernels."

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if LEVEL == "baseline" or not fullname.startswith(cls.prefix):
            return None
        name = fullname[len(cls.prefix):]
        location = None if "." in name else _variant_file(LEVEL, name)
        if location is None:  # modules built once (gemm, threads) load as usual
            return None
        return importlib.util.spec_from_file_location(fullname, location)


def install_finder():
    """Put the variant finder before the default ones (once)."""
    if _VariantFinder not in sys.meta_path:
        sys.meta_path.insert(0, _VariantFinder)
