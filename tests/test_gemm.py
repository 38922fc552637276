"""The BLAS binding: gemm against NumPy for every transpose, through both BLAS paths."""
import json
import subprocess
import sys

import numpy as np
import pytest

import fastnet
import fastnet.kernels as fk
from numerics import DTYPES, assert_within, gemm_bound


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (3, 5, 7), (64, 33, 17), (100, 784, 100)])
def test_gemm_matches_numpy(rng, dtype, trans_a, trans_b, m, k, n):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    fk.gemm(a, b, out, trans_a, trans_b)
    op_a, op_b = (a.T if trans_a else a), (b.T if trans_b else b)
    expected = op_a.astype(np.float64) @ op_b
    # Zero-mean random data: errors grow like sqrt(k) times the terms' 2-norm
    # (numerics.random_sum_bound); the old blanket tolerance allowed 0.016 at k = 784.
    assert_within(out, expected, gemm_bound(op_a, op_b, dtype, random=True), "gemm")


def test_blas_info_names_the_library():
    info = fastnet.blas_info()
    assert info["name"] in ("NumPy's OpenBLAS", "SciPy's cython_blas")
    assert info["integers"] in ("64-bit", "32-bit")


def test_scipy_blas_path_gives_same_results(rng):
    """FASTNET_BLAS=scipy switches the kernels to SciPy's BLAS; results must not change."""
    code = (
        "import json, numpy as np, fastnet, fastnet.kernels as fk\n"
        "rng = np.random.default_rng(0)\n"
        "a = rng.standard_normal((37, 23)); b = rng.standard_normal((23, 11))\n"
        "out = np.empty((37, 11)); fk.gemm(a, b, out)\n"
        "print(json.dumps([fastnet.blas_info()['name'], float(np.abs(out - a @ b).max())]))\n"
    )
    env = {"FASTNET_BLAS": "scipy", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd="/", check=True)
    name, err = json.loads(result.stdout)
    assert name == "SciPy's cython_blas"
    assert err < 1e-12
