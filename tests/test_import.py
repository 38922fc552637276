"""``import fastnet`` stays light: SciPy is imported only where it is used."""
import subprocess
import sys


def _modules_after(statement):
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    # cwd="/": the installed package, never the source tree.
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd="/")
    return set(out.stdout.split())


def test_import_fastnet_does_not_import_scipy():
    loaded = _modules_after("import fastnet, fastnet.kernels, fastnet.init, fastnet.optim")
    assert "fastnet.kernels" in loaded
    assert not any(name == "scipy" or name.startswith("scipy.") for name in loaded)


def test_trunc_normal_imports_scipy_when_called():
    loaded = _modules_after(
        "import numpy as np, fastnet.init as fi; "
        "fi.trunc_normal(0.02)((3, 4), np.random.default_rng(0))")
    assert "scipy.special" in loaded
