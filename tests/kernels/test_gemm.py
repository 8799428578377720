"""gemm (the selected implementation) and gemm_numba (the fallback, called explicitly) against NumPy.

Both are checked over hypothesis-drawn shapes (1 and odd sizes included, all four transpose combinations, alpha
and beta), over fixed shapes that reach every pass of the numba GEMM (DOT, DOT on packed b^T, ROW, ROW on the
transposed product, packed b^T for short k, and the threaded versions), and for the errors the contract
promises. To keep compile time modest the numba GEMM sees C-contiguous float32 and float64 operands (its heavy
signatures) plus two non-contiguous layouts, all float32, in the rejection tests.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbkeras.kernels import policy
from nbkeras.kernels.cpu import gemm as G
from tests.support.gradcheck import assert_f32_close
from tests.support.strategies import seeds

GEMMS = {"gemm": G.gemm, "gemm_numba": G.gemm_numba}
# Under NUMBA_DISABLE_JIT the numba GEMM runs as Python loops (and threads are plain loops): skip the big shapes.
SLOW_IN_PYTHON = pytest.mark.skipif(policy.DISABLE_JIT, reason="a million multiply-adds in plain Python")
DTYPES = (np.float32, np.float64)


def operands(rng, m, n, k, ta, tb, dtype):
    a = rng.uniform(-1.0, 1.0, (k, m) if ta else (m, k)).astype(dtype)
    b = rng.uniform(-1.0, 1.0, (n, k) if tb else (k, n)).astype(dtype)
    c = rng.uniform(-1.0, 1.0, (m, n)).astype(dtype)
    return a, b, c


def reference(ta, tb, alpha, a, b, beta, c):
    """alpha op(a) op(b) + beta c in float64; beta == 0 ignores c."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    prod = alpha * ((a64.T if ta else a64) @ (b64.T if tb else b64))
    return prod if beta == 0 else prod + beta * c.astype(np.float64)


def assert_close(result, expected, k, dtype):
    """Rounding grows with the reduction length k (terms are in [-1, 1])."""
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(result, expected, rtol=0, atol=8 * eps * (k + 2))


def run_and_check(fn, rng, m, n, k, ta, tb, alpha, beta, dtype):
    a, b, c = operands(rng, m, n, k, ta, tb, dtype)
    a0, b0 = a.copy(), b.copy()
    expected = reference(ta, tb, alpha, a, b, beta, c)
    fn(ta, tb, alpha, a, b, beta, c)
    assert c.dtype == dtype
    assert_close(c, expected, k, dtype)
    np.testing.assert_array_equal(a, a0)  # inputs are not mutated
    np.testing.assert_array_equal(b, b0)


# ------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize("name", GEMMS)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 80), ta=st.booleans(), tb=st.booleans(),
       alpha=st.sampled_from([1.0, -0.5, 2.0, 0.0]), beta=st.sampled_from([0.0, 1.0, 0.5, -2.0]),
       dtype=st.sampled_from(DTYPES), seed=seeds())
def test_matches_numpy(name, m, n, k, ta, tb, alpha, beta, dtype, seed):
    run_and_check(GEMMS[name], np.random.default_rng(seed), m, n, k, ta, tb, alpha, beta, dtype)


# (m, n, k) per pass of gemm_numba; the last ones are large enough (m * n * k >= PARALLEL_MIN_WORK) to be threaded.
PASS_SHAPES = [
    (70, 40, 70),  # NN: DOT on packed b^T (m >= 64); NT: DOT; TN: ROW
    (33, 40, 70),  # NN: ROW (few rows)
    (70, 10, 70),  # NN: DOT on packed b^T (short rows); TN: ROW on the transposed product
    (9, 37, 10),   # NT: ROW on packed b^T (short k); edges of every block size
    (261, 40, 70),  # NN: DOT on b^T packed in one go (many rows); DOT across row blocks of a
    pytest.param(130, 100, 90, marks=SLOW_IN_PYTHON),  # threaded: slices of rows (of columns for packed DOT)
    pytest.param(8, 1030, 130, marks=SLOW_IN_PYTHON),  # threaded with few rows: ROW sliced by columns
    pytest.param(300, 60, 64, marks=SLOW_IN_PYTHON),  # threaded DOT on b^T packed in one go
]


@pytest.mark.parametrize("name", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("m,n,k", PASS_SHAPES)
def test_every_pass(name, m, n, k, ta, tb, dtype, rng):
    assert G.PARALLEL_MIN_WORK <= min(130 * 100 * 90, 8 * 1030 * 130, 300 * 60 * 64)
    run_and_check(GEMMS[name], rng, m, n, k, ta, tb, 1.5, 0.5, dtype)


@pytest.mark.parametrize("name", GEMMS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_float32_agrees_with_float64(name, ta, tb, rng):
    a, b, c = operands(rng, 37, 45, 200, ta, tb, np.float64)
    a, b, c = (x.astype(np.float32).astype(np.float64) for x in (a, b, c))
    c64, c32 = c.copy(), c.astype(np.float32)
    GEMMS[name](ta, tb, 0.7, a, b, 0.3, c64)
    GEMMS[name](ta, tb, 0.7, a.astype(np.float32), b.astype(np.float32), 0.3, c32)
    assert_f32_close(c32, c64)


@pytest.mark.parametrize("name", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_in_c(name, dtype, rng):
    a, b, _ = operands(rng, 6, 5, 7, False, False, dtype)
    c = np.full((6, 5), np.nan, dtype)
    GEMMS[name](False, False, 1.0, a, b, 0.0, c)
    assert_close(c, a.astype(np.float64) @ b, 7, dtype)


@pytest.mark.parametrize("name", GEMMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_reduction_only_scales_c(name, dtype, rng):
    a, b, c = operands(rng, 4, 3, 0, False, False, dtype)
    c0 = c.copy()
    GEMMS[name](False, False, 1.0, a, b, -2.0, c)
    np.testing.assert_array_equal(c, -2.0 * c0)
    c[:] = np.nan
    GEMMS[name](False, False, 1.0, a, b, 0.0, c)
    np.testing.assert_array_equal(c, 0.0)


@pytest.mark.parametrize("name", GEMMS)
def test_padded_rows_are_accepted(name, rng):
    """A row stride larger than the row is part of the contract (the numba GEMM copies such operands)."""
    big_a = rng.uniform(-1, 1, (9, 20)).astype(np.float32)
    big_b = rng.uniform(-1, 1, (7, 20)).astype(np.float32)
    big_c = np.full((9, 20), 7.0, np.float32)
    a, b, c = big_a[:, :7], big_b[:, :5], big_c[:, :5]
    GEMMS[name](False, False, 1.0, a, b, 0.0, c)
    assert_close(c, a.astype(np.float64) @ b, 7, np.float32)
    np.testing.assert_array_equal(big_c[:, 5:], 7.0)  # the padding is left alone


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("m,n,k", [(1, 37, 29), (23, 1, 31), (1, 1, 40), (1, 5, 1)])
@pytest.mark.parametrize("beta", [0.0, -0.5])
def test_one_row_or_column_products(m, n, k, ta, tb, beta, dtype, rng):
    """One output row or column goes through ?gemv with BLAS: every operand layout, on padded rows (so the
    vector's stride is the matrix's row stride when it is a column of a transposed operand)."""
    a0, b0, c0 = operands(rng, m, n, k, ta, tb, dtype)
    big = [np.full((x.shape[0], x.shape[1] + 4), 5.0, dtype) for x in (a0, b0, c0)]
    a, b, c = (g[:, :x.shape[1]] for g, x in zip(big, (a0, b0, c0)))
    a[...], b[...], c[...] = a0, b0, c0
    if beta == 0.0:
        c[...] = np.nan
    expected = reference(ta, tb, 1.5, a0, b0, beta, c0)
    G.gemm(ta, tb, 1.5, a, b, beta, c)
    assert_close(c, expected, k, dtype)
    np.testing.assert_array_equal(big[2][:, c.shape[1]:], 5.0)


# ------------------------------------------------------------------------------------------ errors


def _padded(rng, rows, cols):
    """A float32 (rows, cols) view with unit inner stride that is not C-contiguous (numba layout 'A')."""
    return rng.uniform(-1, 1, (rows, cols + 3)).astype(np.float32)[:, :cols]


STRIDE_MSG = "unit stride along their last axis"


@pytest.mark.parametrize("name", GEMMS)
def test_rejects_non_unit_inner_stride(name, rng):
    """All operands are non-C-contiguous views here, so each GEMM compiles one extra signature only."""
    fn = GEMMS[name]
    a, b, c = _padded(rng, 4, 6), _padded(rng, 6, 5), _padded(rng, 4, 5)
    strided_a = rng.uniform(-1, 1, (4, 12)).astype(np.float32)[:, ::2]
    strided_b = rng.uniform(-1, 1, (6, 10)).astype(np.float32)[:, ::2]
    strided_c = rng.uniform(-1, 1, (4, 10)).astype(np.float32)[:, ::2]
    a_view_t = _padded(rng, 6, 4).T  # a transposed view: must be passed as the array with trans_a=True
    for args in [(strided_a, b, c), (a, strided_b, c), (a, b, strided_c), (a_view_t, b, c)]:
        before = args[2].copy()
        with pytest.raises(ValueError, match=STRIDE_MSG):
            fn(False, False, 1.0, *args[:2], 0.0, args[2])
        np.testing.assert_array_equal(args[2], before)  # nothing written


@pytest.mark.parametrize("name", GEMMS)
def test_rejects_transposed_view_of_a_contiguous_array(name, rng):
    x = rng.uniform(-1, 1, (6, 4)).astype(np.float32)
    b = rng.uniform(-1, 1, (6, 5)).astype(np.float32)
    c = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match=STRIDE_MSG):
        GEMMS[name](False, False, 1.0, x.T, b, 0.0, c)


@pytest.mark.parametrize("name", GEMMS)
@pytest.mark.parametrize("ta,tb,a_shape,b_shape,c_shape", [
    (False, False, (4, 6), (5, 5), (4, 5)),  # k disagrees
    (False, False, (4, 6), (6, 5), (3, 5)),  # m disagrees
    (False, True, (4, 6), (6, 5), (4, 5)),   # op(b) is (5, 6)
    (True, False, (4, 6), (4, 5), (4, 5)),   # op(a) is (6, 4)
])
def test_rejects_inconsistent_shapes(name, ta, tb, a_shape, b_shape, c_shape):
    a, b, c = np.ones(a_shape, np.float32), np.ones(b_shape, np.float32), np.zeros(c_shape, np.float32)
    with pytest.raises(ValueError, match="shapes do not agree"):
        GEMMS[name](ta, tb, 1.0, a, b, 0.0, c)
    np.testing.assert_array_equal(c, 0.0)


@pytest.mark.parametrize("name", GEMMS)
def test_rejects_c_overlapping_an_operand(name):
    buf = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="must not overlap"):
        GEMMS[name](False, False, 1.0, buf, np.ones((4, 4), np.float32), 0.0, buf)


def test_rejects_mixed_dtypes():
    """Through check_gemm, the validation both GEMMs run first: a mixed-dtype call of gemm_numba itself would
    compile the whole numba GEMM once more (~10 s) just to raise."""
    a, b, c = np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), np.zeros((2, 2), np.float64)
    with pytest.raises(ValueError, match="one dtype"):
        G.check_gemm(False, False, a, b, c)
    with pytest.raises(ValueError, match="one dtype"):
        G.check_gemm(False, False, a.astype(np.int64), b, c.astype(np.float32))
    if G.gemm is not G.gemm_numba:
        with pytest.raises(ValueError, match="one dtype"):
            G.gemm(False, False, 1.0, a, b, 0.0, c)
