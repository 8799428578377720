"""Reduction kernels: every code against NumPy on (outer, n, inner) views, gradients against central differences
in float64 (ties kept apart for max/min/norm-inf), float32 against float64, skipped dx, top_k against a stable
sort, and bad shapes."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nbkeras.kernels.cpu import reduce as R
from tests.support.gradcheck import assert_f32_close, check_gradient, upstream_like
from tests.support.strategies import floats_array, seeds


def _lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.log(np.exp(x - m).sum(axis=axis)) + m.squeeze(axis)


REFERENCE = {
    R.SUM: np.sum, R.MEAN: np.mean, R.MAX: np.max, R.MIN: np.min, R.PROD: np.prod, R.VAR: np.var, R.STD: np.std,
    R.LOGSUMEXP: _lse, R.NORM2: lambda x, axis: np.sqrt((x * x).sum(axis=axis)),
    R.NORM1: lambda x, axis: np.abs(x).sum(axis=axis), R.NORMINF: lambda x, axis: np.abs(x).max(axis=axis),
}
NO_GRAD = {R.ARGMAX: np.argmax, R.ARGMIN: np.argmin, R.ANY: np.any, R.ALL: np.all}


def test_every_code_is_tested():
    assert set(REFERENCE) | set(NO_GRAD) == set(range(R.N_REDUCE))


def forward(code, x):
    out = np.empty((x.shape[0], x.shape[2]), x.dtype)
    R.reduce_forward(code, x, out)
    return out


@pytest.mark.parametrize("code", sorted(REFERENCE))
@given(data=st.data())
def test_forward_and_gradient(code, data):
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3)))
    x = data.draw(floats_array(shape, -2, 2, avoid=(0,) if code in (R.NORM1, R.NORMINF) else ()))
    if code in (R.MAX, R.MIN):
        assume(shape[1] < 2 or np.min(np.diff(np.sort(x, axis=1), axis=1)) > 0.02)
    if code == R.NORMINF:
        assume(shape[1] < 2 or np.min(np.diff(np.sort(np.abs(x), axis=1), axis=1)) > 0.02)
    if code in (R.STD, R.NORM2):
        assume(shape[1] > 1 and np.min(REFERENCE[code](x, axis=1)) > 0.05)
    x0 = x.copy()
    y = forward(code, x)
    np.testing.assert_allclose(y, REFERENCE[code](x, axis=1), rtol=1e-10, atol=1e-12)
    dy = upstream_like(y.shape, np.random.default_rng(data.draw(seeds())))
    dx = np.full_like(x, np.nan)
    R.reduce_backward(code, x, y, dy, dx)
    check_gradient(lambda v: forward(code, v), [x], dx, 0, dy)
    np.testing.assert_array_equal(x, x0)
    assert_f32_close(forward(code, x.astype(np.float32)), y)


def test_prod_gradient_with_a_zero():
    x = np.array([[[2.0], [0.0], [3.0]]])
    y = forward(R.PROD, x)
    dx = np.empty_like(x)
    R.reduce_backward(R.PROD, x, y, np.ones_like(y), dx)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 6.0, 0.0])


def test_max_gradient_is_shared_by_ties():
    x = np.array([[[1.0], [3.0], [3.0]]])
    y = forward(R.MAX, x)
    dx = np.empty_like(x)
    R.reduce_backward(R.MAX, x, y, np.ones_like(y), dx)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 0.5, 0.5])


@pytest.mark.parametrize("code", sorted(NO_GRAD))
def test_no_gradient_codes(code):
    x = np.array([[[0.0, 1.0], [2.0, 0.0], [2.0, -1.0]]])
    expected = NO_GRAD[code](x, axis=1).astype(np.float64)
    np.testing.assert_array_equal(forward(code, x), expected)
    dx = np.full_like(x, np.nan)
    R.reduce_backward(code, x, forward(code, x), np.ones((1, 2)), dx)
    np.testing.assert_array_equal(dx, 0.0)


def test_bad_shapes_raise_and_empty_dx_is_skipped():
    with pytest.raises(ValueError, match="reduce_forward"):
        R.reduce_forward(R.SUM, np.zeros((2, 3, 4)), np.zeros((2, 3)))
    R.reduce_backward(R.SUM, np.zeros((2, 3, 4)), np.zeros((2, 4)), np.zeros((2, 4)), np.empty((0, 0, 0)))


@given(st.integers(1, 4), st.integers(1, 6), seeds(), st.booleans())
def test_top_k_matches_a_stable_sort(rows, n, seed, ties):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(rows, n)).astype(np.float32) if ties else rng.normal(size=(rows, n)).astype(
        np.float32)
    k = rng.integers(1, n + 1)
    values, indices = np.empty((rows, k), np.float32), np.empty((rows, k), np.float32)
    R.top_k_forward(x, values, indices)
    order = np.argsort(-x, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(indices, order)
    np.testing.assert_array_equal(values, np.take_along_axis(x, order, axis=1))
    with pytest.raises(ValueError, match="top_k_forward"):
        R.top_k_forward(x, np.empty((rows, n + 1), np.float32), np.empty((rows, n + 1), np.float32))
