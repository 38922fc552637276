"""SIMD variants: selection by CPU features, FASTNET_SIMD, and the kernel parity suite on each.

The parity suite (every kernel against ``fastnet.reference``, and the
accuracy of _vmath) runs once per level this CPU supports, each in its own
interpreter with ``FASTNET_SIMD`` set, since the level is chosen at import.
"""
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastnet
import fastnet._kernels.gemm
from fastnet import _simd

HERE = Path(__file__).resolve().parent
PARITY = ["test_activations.py", "test_affine.py", "test_batchnorm.py", "test_dropout.py",
          "test_optim.py", "test_softmax_ce.py", "test_diagnostics_stats.py", "test_backends.py",
          "test_threads.py", "test_vmath.py", "test_simd.py"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "FASTNET_SIMD"}
    env.update(extra)
    return env


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", env=_env(**env))


def test_level_in_use_is_the_best_supported_or_the_forced_one():
    info = fastnet.build_info()
    forced = os.environ.get("FASTNET_SIMD")
    assert info["simd"] == (forced or info["simd_supported"][-1])
    assert info["simd_supported"][0] == "baseline"
    folder = Path(fastnet._kernels.__file__).parent
    for name in ("optim", "batchnorm", "vmath"):
        module = importlib.import_module(f"fastnet._kernels.{name}")
        expected = folder if info["simd"] == "baseline" else folder / info["simd"]
        assert Path(module.__file__).parent == expected, module.__file__
    # modules built once serve every level
    assert Path(fastnet._kernels.gemm.__file__).parent == folder


def test_build_info_reports_blas_and_threads():
    info = fastnet.build_info()
    assert info["threads"] >= 1
    blas = info["blas"]
    if blas["name"] == "NumPy's OpenBLAS":
        assert blas["version"].startswith("OpenBLAS")
        assert blas["kernel"]
        assert blas["num_threads"] >= 1
    import fastnet._kernels.threads as threads
    old = threads.set_pairing(0)
    try:
        assert fastnet.build_info()["paired_gradient_gemms"] is False
    finally:
        threads.set_pairing(old)
    assert info["paired_gradient_gemms"] == (fastnet._blas.share_thread_pool()
                                             and info["threads"] >= 2)


def test_vexp_and_vtanh_are_inlined_in_every_module():
    # Out of line, vexp/vtanh are calls inside the element-wise loops, which
    # then run one value at a time (setup.py: --param=inline-unit-growth).
    # Cython names the fused functions __pyx_fuse_<i>__pyx_f_6_vmath_<name>;
    # a copy that was not inlined is a function symbol of that name (the
    # debug information names the inlined ones too, so the symbol table is read).
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("binutils' nm is not installed")
    modules = sorted(Path(fastnet._kernels.__file__).parent.rglob("*.so"))
    assert modules
    for path in modules:
        symbols = subprocess.run([nm, str(path)], capture_output=True, text=True).stdout
        if "__pyx_pymod_exec_" not in symbols:
            pytest.skip(f"{path.name} has no symbol table (stripped build)")
        outlined = [line for line in symbols.splitlines()
                    if "_vmath_vexp" in line or "_vmath_vtanh" in line]
        assert not outlined, f"{path}: {outlined}"


def test_unknown_level_is_an_error():
    result = _python("import fastnet.kernels", FASTNET_SIMD="sse9")
    assert result.returncode != 0
    assert "FASTNET_SIMD must be one of baseline, avx2, avx512; got 'sse9'" in result.stderr


def test_unsupported_level_is_an_error():
    missing = [level for level in _simd.LEVELS if level not in _simd.supported_levels()]
    if not missing:
        pytest.skip("this CPU and build support every level")
    result = _python("import fastnet.kernels", FASTNET_SIMD=missing[-1])
    assert result.returncode != 0
    assert f"FASTNET_SIMD={missing[-1]}:" in result.stderr
    assert "supported here: baseline" in result.stderr


@pytest.mark.skipif(os.environ.get("FASTNET_SIMD") is not None,
                    reason="already inside a per-level run")
@pytest.mark.parametrize("level", _simd.LEVELS)
def test_parity_suite_on_level(level):
    if level not in _simd.supported_levels():
        pytest.skip(f"{level} not supported by this CPU or build")
    if level == _simd.LEVEL:
        pytest.skip(f"{level} is the level this run already tests")
    root = HERE.parent
    # cwd "/": the installed package is imported, never the source tree.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-c", str(root / "pyproject.toml"), "--rootdir", str(root),
         *[str(HERE / name) for name in PARITY]],
        capture_output=True, text=True, cwd="/", env=_env(FASTNET_SIMD=level))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


DIGESTS = """
import hashlib, json, numpy as np, test_threads
import fastnet._kernels.vmath as vm
x = np.random.default_rng(3).uniform(-60, 60, 100_003)
h = hashlib.sha256()
for dtype in (np.float32, np.float64):
    h.update(test_threads._elementwise_digests(dtype, 2).encode())
    xd, out = x.astype(dtype), np.empty(x.size, dtype)
    for f in (vm.exp, vm.tanh):
        f(xd, out)
        h.update(out.tobytes())
print(json.dumps(h.hexdigest()))
"""


def test_every_level_gives_the_same_bits():
    """-ffp-contract=off: the FMA-capable builds round exactly as the baseline does."""
    digests = {}
    for level in _simd.supported_levels():
        result = _python(DIGESTS, FASTNET_SIMD=level, PYTHONPATH=str(HERE))
        assert result.returncode == 0, result.stderr
        digests[level] = result.stdout.strip()
    assert len(set(digests.values())) == 1, digests
