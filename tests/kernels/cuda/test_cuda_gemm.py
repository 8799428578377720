"""kernels/cuda/gemm.py against kernels/cpu/gemm.py (the tiled product and the naive one), every flag combination,
edges that are not multiples of the tile, alpha/beta, beta = 0 ignoring NaN, padded rows, and the checks."""

import numpy as np
import pytest
from nbkeras.kernels.cuda import gemm as cuda_gemm
from numba import cuda
from support.cuda_twin import arrays, check_twin

DTYPES = [np.float32, np.float64]
FLAGS = [(False, False), (False, True), (True, False), (True, True)]


def operands(rng, dtype, ta, tb, m, n, k):
    a_shape = (k, m) if ta else (m, k)
    b_shape = (n, k) if tb else (k, n)
    return arrays(rng, dtype, a_shape, b_shape, (m, n))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", FLAGS)
def test_tiled_gemm_matches_cpu(dtype, ta, tb):
    rng = np.random.default_rng(1)
    # (m, n, k): one partial tile; several tiles along every axis with ragged edges (k crosses two tile steps).
    for m, n, k, alpha, beta in [(5, 7, 3, 1.0, 0.0), (33, 35, 40, 0.5, 1.0), (3, 34, 65, -1.5, 0.25)]:
        a, b, c = operands(rng, dtype, ta, tb, m, n, k)
        check_twin("gemm.gemm", ta, tb, alpha, a, b, beta, c)


@pytest.mark.parametrize("name", ["gemm_numba", "gemm_blas"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_siblings_match_numpy(name, dtype):
    """Checked against NumPy, not check_twin: the CPU gemm_numba compiles for ~30 s per dtype."""
    rng = np.random.default_rng(2)
    a, b, c = operands(rng, dtype, False, True, 9, 6, 4)
    dc = cuda.to_device(c)
    getattr(cuda_gemm, name)(False, True, 2.0, cuda.to_device(a), cuda.to_device(b), 1.0, dc)
    np.testing.assert_allclose(dc.copy_to_host(), 2.0 * (a.astype(np.float64) @ b.T) + c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", FLAGS)
def test_naive_gemm_matches_numpy(dtype, ta, tb):
    rng = np.random.default_rng(3)
    for m, n, k, alpha, beta in [(5, 7, 3, 1.0, 0.0), (17, 18, 20, -0.5, 2.0)]:
        a, b, c = operands(rng, dtype, ta, tb, m, n, k)
        want = alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b)) + beta * c
        dc = cuda.to_device(c)
        cuda_gemm.gemm_naive(ta, tb, alpha, cuda.to_device(a), cuda.to_device(b), beta, dc)
        np.testing.assert_allclose(dc.copy_to_host(), want, rtol=2e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("fn", [cuda_gemm.gemm, cuda_gemm.gemm_naive])
def test_beta_zero_ignores_nan_and_alpha_zero_only_scales(fn):
    rng = np.random.default_rng(4)
    a, b = arrays(rng, np.float64, (4, 3), (3, 5))
    c = np.full((4, 5), np.nan)
    dc = cuda.to_device(c)
    fn(False, False, 1.0, cuda.to_device(a), cuda.to_device(b), 0.0, dc)
    np.testing.assert_allclose(dc.copy_to_host(), a @ b, rtol=1e-12)
    # alpha == 0: c = beta * c even when a holds NaN (the product is not formed, as BLAS); beta == 0 clears NaN.
    a_nan = np.full((4, 3), np.nan)
    c = rng.uniform(-1, 1, (4, 5))
    dc = cuda.to_device(c)
    fn(False, False, 0.0, cuda.to_device(a_nan), cuda.to_device(b), 0.5, dc)
    np.testing.assert_allclose(dc.copy_to_host(), 0.5 * c, rtol=1e-12)
    dc = cuda.to_device(np.full((4, 5), np.nan))
    fn(False, False, 0.0, cuda.to_device(a), cuda.to_device(b), 0.0, dc)
    assert np.all(dc.copy_to_host() == 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_reduction_and_empty_output(dtype):
    rng = np.random.default_rng(5)
    a, b, c = operands(rng, dtype, False, False, 4, 3, 0)
    check_twin("gemm.gemm", False, False, 1.0, a, b, 0.5, c)
    check_twin("gemm.gemm", False, False, 1.0, a, b, 0.0, c)
    a, b, c = operands(rng, dtype, True, False, 0, 3, 2)
    check_twin("gemm.gemm", True, False, 1.0, a, b, 0.0, c)


@pytest.mark.parametrize("fn", [cuda_gemm.gemm, cuda_gemm.gemm_naive])
def test_padded_rows_are_accepted(fn):
    """A row stride larger than the row (a column slice of a wider array) is part of the contract."""
    rng = np.random.default_rng(6)
    wide_a, wide_c = rng.uniform(-1, 1, (6, 9)), rng.uniform(-1, 1, (6, 8))
    b = rng.uniform(-1, 1, (4, 5))
    da, dc = cuda.to_device(wide_a), cuda.to_device(wide_c)
    fn(False, False, 1.0, da[:, :4], cuda.to_device(b), 1.0, dc[:, 2:7])
    want = wide_c.copy()
    want[:, 2:7] += wide_a[:, :4] @ b
    np.testing.assert_allclose(dc.copy_to_host(), want, rtol=1e-12)
    np.testing.assert_array_equal(da.copy_to_host(), wide_a)


def test_check_gemm_returns_k_and_matches_cpu():
    rng = np.random.default_rng(7)
    a, b, c = operands(rng, np.float64, True, False, 3, 4, 6)
    check_twin("gemm.check_gemm", True, False, a, b, c)
    assert cuda_gemm.check_gemm(True, False, cuda.to_device(a), cuda.to_device(b), cuda.to_device(c)) == 6


def test_bad_arguments_raise():
    d = cuda.to_device
    a, b, c = d(np.zeros((3, 4))), d(np.zeros((4, 5))), d(np.zeros((3, 5)))
    for fn in (cuda_gemm.gemm, cuda_gemm.gemm_naive, cuda_gemm.gemm_numba, cuda_gemm.gemm_blas):
        with pytest.raises(ValueError, match="shapes do not agree"):
            fn(True, False, 1.0, a, b, 0.0, c)
        with pytest.raises(ValueError, match="one dtype"):
            fn(False, False, 1.0, a, d(np.zeros((4, 5), np.float32)), 0.0, c)
        with pytest.raises(ValueError, match="unit stride"):
            fn(False, False, 1.0, d(np.zeros((3, 8)))[:, ::2], b, 0.0, c)
        big = d(np.zeros((3, 9)))
        with pytest.raises(ValueError, match="overlap"):
            fn(False, False, 1.0, big[:, :4], b, 0.0, big[:, 4:])
    with pytest.raises(ValueError, match="one dtype"):
        cuda_gemm.gemm(False, False, 1.0, d(np.zeros((3, 4), np.int64)), d(np.zeros((4, 5), np.int64)), 0.0,
                       d(np.zeros((3, 5), np.int64)))
